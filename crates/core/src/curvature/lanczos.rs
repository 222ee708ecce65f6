//! Matrix-free Lanczos with full reorthogonalization for extreme eigenpairs.
//!
//! - Start vector: the warm-start vectors (summed, each normalized) if given, else a seeded
//!   Gaussian vector ([`crate::rng::Normal`]).
//! - Every new Krylov vector is orthogonalized against the whole basis twice (classical
//!   Gram-Schmidt, "twice is enough"), so the basis stays orthonormal to working precision and
//!   no spurious copies of converged Ritz values appear.
//! - The Krylov space grows (one HVP per step) until the wanted Ritz pairs converge or
//!   `max_iter` steps were taken. When the Krylov space becomes invariant (beta ~ 0, e.g. at a
//!   point whose Hessian has few distinct eigenvalues) the iteration continues from a fresh
//!   seeded random vector orthogonal to the basis, so the space keeps growing and eigenvalues
//!   outside the first invariant subspace (including further copies of a multiple eigenvalue)
//!   can be found.
//! - The tridiagonal projection T is diagonalized with nalgebra; convergence is first judged by
//!   the cheap estimate |beta_m s_{m,i}| and then confirmed by the true residual
//!   ||H x - theta x||, computed with a real HVP for every returned pair. A pair is converged
//!   when that residual is <= tol * max(|lambda|_max estimate, tiny).
//!
//! Single-vector Krylov methods see one copy of each distinct eigenvalue before the space
//! becomes invariant; multiplicities are therefore only reliable from the dense solver.

use nalgebra::{DMatrix, SymmetricEigen};

use super::{normalize, LinOp, TINY};
use crate::linalg::{add_combination, axpy, combinations, dot, dots};
use crate::par::Parallelism;
use crate::rng::Normal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Smallest,
    Largest,
    Both,
}

#[derive(Debug, Clone)]
pub struct LanczosOptions {
    /// Number of eigenpairs wanted at each requested end.
    pub k: usize,
    pub which: Which,
    /// Relative residual tolerance.
    pub tol: f64,
    /// Maximum number of Lanczos steps (= HVPs of the iteration, and Krylov dimension).
    pub max_iter: usize,
    pub seed: u64,
    /// Optional warm-start vectors (e.g. eigenvectors from the previous point of a trajectory).
    pub warm: Vec<Vec<f64>>,
    /// Orthonormal vectors to deflate: the iteration runs in their orthogonal complement
    /// (e.g. the tangent space of a symmetry orbit, whose eigenvalues are known to be 0).
    pub deflate: Vec<Vec<f64>>,
}

impl Default for LanczosOptions {
    fn default() -> Self {
        LanczosOptions {
            k: 1,
            which: Which::Smallest,
            tol: 1e-8,
            max_iter: 1000,
            seed: 0,
            warm: Vec::new(),
            deflate: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EigPair {
    pub value: f64,
    /// ||H x - value x|| with a real HVP, x unit.
    pub residual: f64,
    pub converged: bool,
    pub vector: Vec<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct LanczosResult {
    /// Ascending (smallest first).
    pub smallest: Vec<EigPair>,
    /// Descending (largest first).
    pub largest: Vec<EigPair>,
    /// Lanczos steps taken (Krylov dimension).
    pub iterations: usize,
    /// Operator applications in total (steps + residual checks).
    pub hvps: usize,
    /// Times the Krylov space became invariant and was continued with a fresh vector.
    pub restarts: usize,
    /// Estimate of max |lambda| (largest |Ritz value|), the scale of the relative tolerance.
    pub scale: f64,
    pub all_converged: bool,
    /// [`VerifiedLanczos`] only: deflated verification solves run, further copies found by them,
    /// and whether the last one confirmed that nothing beyond the reported values was missed.
    pub verification_rounds: usize,
    pub copies_found: usize,
    pub multiplicity_verified: bool,
}

/// Ritz pairs (ascending) of the tridiagonal matrix (alpha, beta); NaN values if the solve fails.
pub(crate) fn tridiag_eig(alpha: &[f64], beta: &[f64]) -> (Vec<f64>, DMatrix<f64>) {
    let m = alpha.len();
    let mut t = DMatrix::<f64>::zeros(m, m);
    for i in 0..m {
        t[(i, i)] = alpha[i];
        if i + 1 < m {
            t[(i, i + 1)] = beta[i];
            t[(i + 1, i)] = beta[i];
        }
    }
    sym_eig(t)
}

/// One classical Gram-Schmidt pass, w -= Q (Q^T w), returning Q^T w: two blocked passes over
/// the basis ([`dots`], [`add_combination`]; parallel above a size threshold), with the bits of
/// `dot(q, w)` for every q followed by `axpy(-c, q, w)` for every q in turn.
fn cgs(basis: &[Vec<f64>], w: &mut [f64]) -> Vec<f64> {
    let par = Parallelism::default();
    let mut c = vec![0.0; basis.len()];
    dots(basis, w, &mut c, par);
    let neg: Vec<f64> = c.iter().map(|x| -x).collect();
    add_combination(basis, &neg, w, par);
    c
}

/// Orthogonalize `w` against the basis twice (CGS2).
pub(crate) fn reorth(basis: &[Vec<f64>], w: &mut [f64]) {
    cgs(basis, w);
    cgs(basis, w);
}

/// A fresh unit vector orthogonal to `basis` (seeded); `None` if the basis spans everything.
fn fresh(basis: &[Vec<f64>], n: usize, rng: &mut Normal) -> Option<Vec<f64>> {
    for _ in 0..3 {
        let mut x = vec![0.0; n];
        rng.fill(&mut x, 1.0);
        normalize(&mut x);
        reorth(basis, &mut x);
        if normalize(&mut x) > 1e-8 {
            return Some(x);
        }
    }
    None
}

/// Indices (into ascending Ritz values) of the wanted pairs.
fn wanted(m: usize, k: usize, which: Which) -> (Vec<usize>, Vec<usize>) {
    let k = k.min(m);
    let small: Vec<usize> = match which {
        Which::Smallest | Which::Both => (0..k).collect(),
        Which::Largest => Vec::new(),
    };
    let large: Vec<usize> = match which {
        Which::Largest | Which::Both => (0..k).map(|i| m - 1 - i).collect(),
        Which::Smallest => Vec::new(),
    };
    (small, large)
}

/// Eigenpairs wanted in all: k, or 2k for both ends.
fn wanted_count(opts: &LanczosOptions) -> usize {
    match opts.which {
        Which::Both => 2 * opts.k,
        _ => opts.k,
    }
}

/// Doubles the Krylov basis may hold (64 MiB) before [`lanczos`] switches to thick restarts.
/// A quarter of the 2^25 of before issue 17: Figure 2's Hessian (n = 111,000) keeps 75 vectors
/// instead of 302, with the same eigenvalues (8e-14), 431 HVPs instead of 448 and 40% less
/// memory (docs/performance.md "Lanczos basis budget").
pub const BASIS_BUDGET_DOUBLES: usize = 1 << 23;

/// The k smallest and/or largest eigenpairs of the symmetric operator `op`.
///
/// The basis is kept whole while `max_iter` vectors of length n fit in
/// [`BASIS_BUDGET_DOUBLES`]; beyond that the iteration restarts thickly (see [`lanczos_capped`]),
/// so memory stays bounded whatever `max_iter` is.
pub fn lanczos(op: &mut dyn LinOp, opts: &LanczosOptions) -> LanczosResult {
    let n = op.n().max(1);
    let k_total = wanted_count(opts);
    lanczos_capped(op, opts, basis_cap(n, k_total))
}

/// Basis vectors [`lanczos`] keeps for operators of dimension `n`: as many as fit in
/// [`BASIS_BUDGET_DOUBLES`], and never fewer than 4 per wanted pair + 40.
pub(crate) fn basis_cap(n: usize, k_total: usize) -> usize {
    (BASIS_BUDGET_DOUBLES / n.max(1)).max(4 * k_total + 40)
}

/// [`lanczos`] with at most `max_basis` basis vectors in memory. When `max_iter` exceeds it, the
/// thick-restart Lanczos method (Wu & Simon 2000) is used: full reorthogonalization within the
/// basis; when the basis is full, the Ritz vectors of the wanted end(s) (about half the basis)
/// are kept, the residual direction is appended, and the projection becomes diag(theta) bordered
/// by the couplings beta s_{m,i}, so the recurrence continues with no information about the kept
/// directions lost. `max_iter` then counts Lanczos steps over all restarts; `restarts` counts the
/// thick restarts (and continuations after an invariant subspace). The verification blocks of
/// the full-basis method (further copies of multiple eigenvalues) are not run.
pub fn lanczos_capped(
    op: &mut dyn LinOp,
    opts: &LanczosOptions,
    max_basis: usize,
) -> LanczosResult {
    let mut job = LanczosJob::new(op.n(), opts.clone(), max_basis);
    loop {
        if job.step(op) {
            return job.take();
        }
    }
}

/// Most verification rounds of [`VerifiedLanczos`] beyond the wanted count.
const MAX_EXTRA_ROUNDS: usize = 4;

enum VPhase {
    Main(LanczosJob),
    Verify(LanczosJob),
    Done,
}

/// Lanczos that does not miss copies of a multiple eigenvalue (issue 10). A single-vector Krylov
/// space sees one direction per cluster of (nearly) equal eigenvalues until it is large enough
/// to resolve them, so its wanted Ritz pairs can converge to -s1, -s2, -s3 when the three
/// smallest are -s1 three times. After the main solve converges, a deflated restart verifies it
/// (the locking / deflated restart of ARPACK and SLEPc): Lanczos again from a fresh seeded start,
/// in the orthogonal complement of every converged Ritz vector found so far (and of
/// `opts.deflate`), for one pair at each wanted end. If its converged extreme value lies beyond
/// the last reported one (by more than tol * scale), it was missed: it is inserted, the list is
/// cut to k, and another round follows. The answer is `all_converged` only when a round
/// confirmed the list; when the step budget (`max_iter`, shared by all rounds) runs out first,
/// `all_converged` and `multiplicity_verified` are false. (Like every Krylov method this is
/// probabilistic: an eigenvector orthogonal to the random start vectors stays unseen.)
pub struct VerifiedLanczos {
    opts: LanczosOptions,
    max_basis: usize,
    n: usize,
    phase: VPhase,
    best: LanczosResult,
    /// Converged Ritz vectors found so far (deflated by the next round).
    found: Vec<Vec<f64>>,
    steps: usize,
    hvps: usize,
    restarts: usize,
    rounds: usize,
    copies: usize,
}

impl VerifiedLanczos {
    pub fn new(n: usize, opts: LanczosOptions, max_basis: usize) -> VerifiedLanczos {
        let main = LanczosJob::new(n, opts.clone(), max_basis);
        VerifiedLanczos {
            opts,
            max_basis,
            n,
            phase: VPhase::Main(main),
            best: LanczosResult::default(),
            found: Vec::new(),
            steps: 0,
            hvps: 0,
            restarts: 0,
            rounds: 0,
            copies: 0,
        }
    }

    /// With the default basis cap of [`lanczos`].
    pub fn with_default_cap(n: usize, opts: LanczosOptions) -> VerifiedLanczos {
        let cap = basis_cap(n.max(1), wanted_count(&opts));
        VerifiedLanczos::new(n, opts, cap)
    }

    pub fn done(&self) -> bool {
        matches!(self.phase, VPhase::Done)
    }

    /// One Lanczos step of the current solve; true once the answer is final.
    pub fn step(&mut self, op: &mut dyn LinOp) -> bool {
        let finished = match &mut self.phase {
            VPhase::Done => return true,
            VPhase::Main(j) | VPhase::Verify(j) => j.step(op),
        };
        if !finished {
            return false;
        }
        let phase = std::mem::replace(&mut self.phase, VPhase::Done);
        match phase {
            VPhase::Main(mut j) => {
                let r = j.take();
                self.account(&r);
                self.found = r
                    .smallest
                    .iter()
                    .chain(&r.largest)
                    .map(|p| p.vector.clone())
                    .collect();
                let ok = r.all_converged;
                self.best = r;
                if ok {
                    self.next_round();
                }
            }
            VPhase::Verify(mut j) => {
                let v = j.take();
                self.account(&v);
                self.rounds += 1;
                if !v.all_converged {
                    // The budget ran out (or the solve failed): the list is not verified.
                    self.best.all_converged = false;
                } else {
                    let scale = self.best.scale.max(v.scale).max(TINY);
                    let thresh = self.opts.tol * scale;
                    let k = self.opts.k;
                    let mut missed = false;
                    if let (Some(p), Some(last)) = (v.smallest.first(), self.best.smallest.last()) {
                        if p.value < last.value - thresh {
                            self.found.push(p.vector.clone());
                            let list = &mut self.best.smallest;
                            let at = list.partition_point(|q| q.value <= p.value);
                            list.insert(at, p.clone());
                            list.truncate(k);
                            missed = true;
                        }
                    }
                    if let (Some(p), Some(last)) = (v.largest.first(), self.best.largest.last()) {
                        if p.value > last.value + thresh {
                            self.found.push(p.vector.clone());
                            let list = &mut self.best.largest;
                            let at = list.partition_point(|q| q.value >= p.value);
                            list.insert(at, p.clone());
                            list.truncate(k);
                            missed = true;
                        }
                    }
                    self.best.scale = scale;
                    if missed {
                        self.copies += 1;
                        self.next_round();
                    } else {
                        self.best.multiplicity_verified = true;
                    }
                }
            }
            VPhase::Done => {}
        }
        self.done()
    }

    fn account(&mut self, r: &LanczosResult) {
        self.steps += r.iterations;
        self.hvps += r.hvps;
        self.restarts += r.restarts;
    }

    /// Start the next deflated verification solve, or end: verified when the found vectors and
    /// `opts.deflate` span everything, unverified when the budget or the round limit is spent.
    fn next_round(&mut self) {
        let mut defl = deflated(&self.opts, self.n);
        defl.extend(self.found.iter().filter(|v| v.len() == self.n).cloned());
        if defl.len() >= self.n {
            self.best.multiplicity_verified = true;
            return;
        }
        let left = self.opts.max_iter.saturating_sub(self.steps);
        if left == 0 || self.rounds >= wanted_count(&self.opts) + MAX_EXTRA_ROUNDS {
            self.best.all_converged = false;
            return;
        }
        let vopts = LanczosOptions {
            k: 1,
            which: self.opts.which,
            tol: self.opts.tol,
            max_iter: left,
            seed: self.opts.seed.wrapping_add(1 + self.rounds as u64),
            warm: Vec::new(),
            deflate: defl,
        };
        self.phase = VPhase::Verify(LanczosJob::new(self.n, vopts, self.max_basis));
    }

    /// The answer (meaningful once [`VerifiedLanczos::done`]): the verified list, with the steps,
    /// products and restarts of every round.
    pub fn take(&mut self) -> LanczosResult {
        let mut r = std::mem::take(&mut self.best);
        r.iterations = self.steps;
        r.hvps = self.hvps;
        r.restarts = self.restarts;
        r.verification_rounds = self.rounds;
        r.copies_found = self.copies;
        r.all_converged = r.all_converged && r.multiplicity_verified;
        r
    }
}

/// [`VerifiedLanczos`] run to the end with the default basis cap.
pub fn lanczos_verified(op: &mut dyn LinOp, opts: &LanczosOptions) -> LanczosResult {
    let mut job = VerifiedLanczos::with_default_cap(op.n(), opts.clone());
    while !job.step(op) {}
    job.take()
}

enum Method {
    Full(Box<FullRun>),
    Thick(Box<ThickRun>),
}

enum JobState {
    Running(Method),
    Done(LanczosResult),
}

/// [`lanczos_capped`] advanced one step at a time: its state is kept between [`LanczosJob::step`]
/// calls (for queries that are chunked and can be cancelled), and running it to the end gives
/// the same bits as [`lanczos_capped`] (which is this loop).
pub struct LanczosJob {
    opts: LanczosOptions,
    state: JobState,
}

impl LanczosJob {
    /// A solve of an operator of dimension `n` with at most `max_basis` basis vectors.
    pub fn new(n: usize, opts: LanczosOptions, max_basis: usize) -> LanczosJob {
        let k_total = wanted_count(&opts);
        let max_basis = max_basis.max(2 * k_total + 4);
        let state = if opts.max_iter.min(n) <= max_basis {
            match FullRun::new(n, &opts) {
                Ok(r) => JobState::Running(Method::Full(Box::new(r))),
                Err(done) => JobState::Done(done),
            }
        } else {
            match ThickRun::new(n, &opts, max_basis) {
                Ok(r) => JobState::Running(Method::Thick(Box::new(r))),
                Err(done) => JobState::Done(done),
            }
        };
        LanczosJob { opts, state }
    }

    /// A solve with the default basis cap of [`lanczos`].
    pub fn with_default_cap(n: usize, opts: LanczosOptions) -> LanczosJob {
        let cap = basis_cap(n.max(1), wanted_count(&opts));
        LanczosJob::new(n, opts, cap)
    }

    /// One Lanczos step (one operator application; the residual checks of the answer when it is
    /// assembled). True once the solve is over.
    pub fn step(&mut self, op: &mut dyn LinOp) -> bool {
        let out = match &mut self.state {
            JobState::Done(_) => return true,
            JobState::Running(Method::Full(r)) => r.step(op, &self.opts),
            JobState::Running(Method::Thick(r)) => r.step(op, &self.opts),
        };
        match out {
            Some(res) => {
                self.state = JobState::Done(res);
                true
            }
            None => false,
        }
    }

    pub fn done(&self) -> bool {
        matches!(self.state, JobState::Done(_))
    }

    /// The answer (empty before the solve is over).
    pub fn take(&mut self) -> LanczosResult {
        match std::mem::replace(&mut self.state, JobState::Done(LanczosResult::default())) {
            JobState::Done(r) => r,
            JobState::Running(_) => LanczosResult::default(),
        }
    }
}

/// Ritz pairs (ascending) of a small dense symmetric matrix; NaN values if the solve fails.
fn sym_eig(t: DMatrix<f64>) -> (Vec<f64>, DMatrix<f64>) {
    let m = t.nrows();
    let e = match SymmetricEigen::try_new(t, f64::EPSILON, 1_000_000) {
        Some(e) => e,
        None => return (vec![f64::NAN; m], DMatrix::<f64>::identity(m, m)),
    };
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&a, &b| e.eigenvalues[a].total_cmp(&e.eigenvalues[b]));
    let vals = idx.iter().map(|&i| e.eigenvalues[i]).collect();
    let mut s = DMatrix::<f64>::zeros(m, m);
    for (k, &i) in idx.iter().enumerate() {
        s.column_mut(k).copy_from(&e.eigenvectors.column(i));
    }
    (vals, s)
}

/// Unit Ritz vector sum_l s[l, i] q_l and its true residual ||H x - (x^T H x) x||.
fn ritz_pair(
    op: &mut dyn LinOp,
    basis: &[Vec<f64>],
    s: &DMatrix<f64>,
    i: usize,
    thresh: f64,
) -> EigPair {
    let n = op.n();
    let mut x = vec![0.0; n];
    let col: Vec<f64> = (0..basis.len()).map(|l| s[(l, i)]).collect();
    add_combination(basis, &col, &mut x, Parallelism::default());
    normalize(&mut x);
    let mut hx = vec![0.0; n];
    op.apply(&x, &mut hx);
    let rq = dot(&x, &hx);
    let res = hx
        .iter()
        .zip(&x)
        .map(|(p, q)| (p - rq * q) * (p - rq * q))
        .sum::<f64>()
        .sqrt();
    EigPair {
        value: rq,
        residual: res,
        converged: res <= thresh,
        vector: x,
    }
}

/// The deflation vectors of the right length.
fn deflated(opts: &LanczosOptions, n: usize) -> Vec<Vec<f64>> {
    opts.deflate
        .iter()
        .filter(|d| d.len() == n)
        .cloned()
        .collect()
}

/// The start vector: the warm-start vectors (each normalized, summed), or a seeded random one,
/// orthogonal to `defl` and unit; `None` if `defl` spans everything.
fn start_vector(
    opts: &LanczosOptions,
    defl: &[Vec<f64>],
    n: usize,
    rng: &mut Normal,
) -> Option<Vec<f64>> {
    let mut q0 = vec![0.0; n];
    for wv in &opts.warm {
        if wv.len() == n {
            let nn = dot(wv, wv).sqrt();
            if nn > 0.0 && nn.is_finite() {
                axpy(1.0 / nn, wv, &mut q0);
            }
        }
    }
    reorth(defl, &mut q0);
    if normalize(&mut q0) <= 1e-8 {
        return fresh(defl, n, rng);
    }
    Some(q0)
}

/// The wanted Ritz pairs of the projection (theta, s) over `basis`, with true residuals.
fn wanted_pairs(
    op: &mut dyn LinOp,
    basis: &[Vec<f64>],
    s: &DMatrix<f64>,
    opts: &LanczosOptions,
    thresh: f64,
) -> (Vec<EigPair>, Vec<EigPair>) {
    let (ws, wl) = wanted(s.ncols(), opts.k, opts.which);
    let small = ws
        .iter()
        .map(|&i| ritz_pair(op, basis, s, i, thresh))
        .collect();
    let large = wl
        .iter()
        .map(|&i| ritz_pair(op, basis, s, i, thresh))
        .collect();
    (small, large)
}

/// The thick-restart method's state between steps (see [`lanczos_capped`]).
struct ThickRun {
    rng: Normal,
    k_total: usize,
    defl: Vec<Vec<f64>>,
    room: usize,
    max_steps: usize,
    m_max: usize,
    keep_total: usize,
    basis: Vec<Vec<f64>>,
    /// The projection Q^T H Q, filled column by column from the Gram-Schmidt coefficients.
    t: DMatrix<f64>,
    w: Vec<f64>,
    steps: usize,
    hvps: usize,
    restarts: usize,
    next_check: usize,
}

impl ThickRun {
    /// The state before the first step, or the (empty) answer when there is nothing to do.
    fn new(
        n: usize,
        opts: &LanczosOptions,
        max_basis: usize,
    ) -> std::result::Result<Self, LanczosResult> {
        let mut rng = Normal::new(opts.seed);
        let k_total = wanted_count(opts);
        let defl = deflated(opts, n);
        let room = n.saturating_sub(defl.len());
        if room == 0 {
            return Err(LanczosResult::default());
        }
        let max_steps = opts.max_iter.max(1);
        let m_max = max_basis.min(room).max(1);
        // Kept Ritz vectors at a restart: about half the basis, split between the wanted ends.
        let keep_total = (m_max / 2).max(k_total).min(m_max.saturating_sub(2));
        let Some(q0) = start_vector(opts, &defl, n, &mut rng) else {
            return Err(LanczosResult::default());
        };
        Ok(ThickRun {
            rng,
            k_total,
            defl,
            room,
            max_steps,
            m_max,
            keep_total,
            basis: vec![q0],
            t: DMatrix::<f64>::zeros(m_max, m_max),
            w: vec![0.0; n],
            steps: 0,
            hvps: 0,
            restarts: 0,
            next_check: k_total.max(1) + 1,
        })
    }

    fn unfinished(&self) -> LanczosResult {
        LanczosResult {
            iterations: self.steps,
            hvps: self.hvps,
            restarts: self.restarts,
            ..LanczosResult::default()
        }
    }

    /// One Lanczos step (one operator application, plus the residual checks when the answer is
    /// assembled); `Some` with the answer when the run is over.
    fn step(&mut self, op: &mut dyn LinOp, opts: &LanczosOptions) -> Option<LanczosResult> {
        let n = op.n();
        let (k_total, room, max_steps, m_max, keep_total) = (
            self.k_total,
            self.room,
            self.max_steps,
            self.m_max,
            self.keep_total,
        );
        let j = self.basis.len() - 1;
        op.apply(&self.basis[j], &mut self.w);
        self.hvps += 1;
        self.steps += 1;
        let (basis, t, w, defl) = (&mut self.basis, &mut self.t, &mut self.w, &self.defl);
        // Coefficients against the basis are column j of the projection. First the two
        // directions that carry the recurrence's large coefficients (q_j, q_{j-1}), then one
        // classical Gram-Schmidt pass over the deflated vectors and the whole basis (two blocked
        // passes over it), and a second one whenever the pass removed more than 1 - 1/sqrt(2)
        // of the norm (Kahan-Parlett "twice is enough", as in the full-basis method). The
        // coefficients of every pass add up in h.
        let mut h = vec![0.0; j + 1];
        for l in [Some(j), j.checked_sub(1)].into_iter().flatten() {
            let c = dot(&basis[l], w);
            h[l] += c;
            axpy(-c, &basis[l], w);
        }
        let mut b = dot(w, w).sqrt();
        for pass in 0..2 {
            cgs(defl, w);
            for (hl, c) in h.iter_mut().zip(cgs(basis, w)) {
                *hl += c;
            }
            let nb = dot(w, w).sqrt();
            let enough = nb >= std::f64::consts::FRAC_1_SQRT_2 * b;
            b = nb;
            if enough && pass == 0 {
                break;
            }
        }
        for (l, &hl) in h.iter().enumerate() {
            t[(l, j)] = hl;
            t[(j, l)] = hl;
        }
        let m = j + 1;
        if !(h[j].is_finite() && b.is_finite()) {
            return Some(self.unfinished());
        }
        let tm = t.view((0, 0), (m, m)).into_owned();
        let scale_now = tm.iter().map(|x| x.abs()).fold(0.0, f64::max) + b;
        let invariant = b <= 1e-10 * scale_now.max(TINY);
        let last = self.steps >= max_steps;
        let full = m >= m_max;
        if m >= self.next_check || last || full || invariant {
            self.next_check = m + (m / 8).max(4);
            let (theta, s) = sym_eig(tm);
            let scale = theta.iter().map(|x| x.abs()).fold(0.0, f64::max).max(TINY);
            let thresh = opts.tol * scale;
            let (ws, wl) = wanted(m, opts.k, opts.which);
            let enough = m >= k_total;
            let est_ok = ws
                .iter()
                .chain(&wl)
                .all(|&i| (b * s[(m - 1, i)]).abs() <= 0.5 * thresh);
            // An invariant space that fills the basis (or the whole space) is the answer.
            let exhausted = invariant && (m >= room || full);
            if (est_ok && enough) || last || exhausted {
                let (small, large) = wanted_pairs(op, basis, &s, opts, thresh);
                self.hvps += small.len() + large.len();
                let all = small.iter().chain(&large).all(|p| p.converged) && enough;
                if all || last || exhausted {
                    return Some(LanczosResult {
                        smallest: small,
                        largest: large,
                        iterations: self.steps,
                        hvps: self.hvps,
                        restarts: self.restarts,
                        scale,
                        all_converged: all,
                        ..LanczosResult::default()
                    });
                }
            }
            if full && !invariant {
                // Thick restart: keep the Ritz vectors of the wanted end(s), then the residual.
                let keep: Vec<usize> = match opts.which {
                    Which::Smallest => (0..keep_total).collect(),
                    Which::Largest => (m - keep_total..m).collect(),
                    Which::Both => {
                        let lo = keep_total.div_ceil(2);
                        let hi = keep_total - lo;
                        (0..lo).chain(m - hi..m).collect()
                    }
                };
                // The kept Ritz vectors Q s_i, all in one pass over the basis.
                let cols: Vec<Vec<f64>> = keep
                    .iter()
                    .map(|&i| s.column(i).iter().copied().collect())
                    .collect();
                let mut kept = vec![vec![0.0; n]; keep.len()];
                combinations(basis, &cols, &mut kept, Parallelism::default());
                t.fill(0.0);
                for (c, &i) in keep.iter().enumerate() {
                    t[(c, c)] = theta[i];
                    let coupling = b * s[(m - 1, i)];
                    t[(c, keep.len())] = coupling;
                    t[(keep.len(), c)] = coupling;
                }
                // Re-orthonormalize the kept vectors against each other (rounding), then append
                // the residual direction.
                let mut ortho: Vec<Vec<f64>> = Vec::with_capacity(kept.len() + 1);
                for mut y in kept {
                    reorth(&ortho, &mut y);
                    normalize(&mut y);
                    ortho.push(y);
                }
                let mut r: Vec<f64> = w.iter().map(|x| x / b).collect();
                reorth(defl, &mut r);
                reorth(&ortho, &mut r);
                normalize(&mut r);
                ortho.push(r);
                *basis = ortho;
                self.restarts += 1;
                self.next_check = self.basis.len() + 1;
                return None;
            }
        }
        let next = if invariant {
            // Invariant space: continue with a fresh vector orthogonal to everything seen; the
            // projection has no coupling to it.
            let mut known = defl.clone();
            known.extend(basis.iter().cloned());
            match fresh(&known, n, &mut self.rng) {
                Some(x) => {
                    self.restarts += 1;
                    x
                }
                None => return Some(self.unfinished()),
            }
        } else {
            t[(m, m - 1)] = b;
            t[(m - 1, m)] = b;
            w.iter().map(|x| x / b).collect()
        };
        self.basis.push(next);
        None
    }
}

/// The full-basis method's state between steps (every Krylov vector kept).
struct FullRun {
    rng: Normal,
    max_steps: usize,
    k_total: usize,
    hvps: usize,
    restarts: usize,
    defl: Vec<Vec<f64>>,
    basis: Vec<Vec<f64>>,
    alpha: Vec<f64>,
    beta: Vec<f64>,
    w: Vec<f64>,
    next_check: usize,
    verify_from: Option<usize>,
    force: bool,
}

impl FullRun {
    fn new(n: usize, opts: &LanczosOptions) -> std::result::Result<Self, LanczosResult> {
        let mut rng = Normal::new(opts.seed);
        let max_steps = opts.max_iter.min(n).max(1);
        let k_total = wanted_count(opts);
        let defl = deflated(opts, n);
        let Some(q0) = start_vector(opts, &defl, n, &mut rng) else {
            return Err(LanczosResult::default());
        };
        let max_steps = max_steps.min(n.saturating_sub(defl.len())).max(1);
        Ok(FullRun {
            rng,
            max_steps,
            k_total,
            hvps: 0,
            restarts: 0,
            defl,
            basis: vec![q0],
            alpha: Vec::new(),
            beta: Vec::new(),
            w: vec![0.0; n],
            next_check: k_total.max(1) + 1,
            verify_from: None,
            force: false,
        })
    }

    fn finish(&self, pairs: Option<(Vec<EigPair>, Vec<EigPair>, f64, bool)>) -> LanczosResult {
        let (smallest, largest, scale, all_converged) = pairs.unwrap_or_default();
        LanczosResult {
            smallest,
            largest,
            iterations: self.alpha.len(),
            hvps: self.hvps,
            restarts: self.restarts,
            scale,
            all_converged,
            ..LanczosResult::default()
        }
    }

    /// One Lanczos step; `Some` with the answer when the run is over.
    fn step(&mut self, op: &mut dyn LinOp, opts: &LanczosOptions) -> Option<LanczosResult> {
        let n = op.n();
        let (max_steps, k_total) = (self.max_steps, self.k_total);
        let j = self.alpha.len();
        op.apply(&self.basis[j], &mut self.w);
        self.hvps += 1;
        let (basis, alpha, beta, w, defl) = (
            &mut self.basis,
            &mut self.alpha,
            &mut self.beta,
            &mut self.w,
            &self.defl,
        );
        let a = dot(&basis[j], w);
        alpha.push(a);
        // Three-term recurrence, then full reorthogonalization against the deflated vectors
        // and the whole basis: one classical Gram-Schmidt pass, and a second one whenever the
        // pass removed more than 1 - 1/sqrt(2) of the norm (Kahan-Parlett "twice is enough").
        axpy(-a, &basis[j], w);
        if j > 0 {
            axpy(-beta[j - 1], &basis[j - 1], w);
        }
        let mut b = dot(w, w).sqrt();
        for pass in 0..2 {
            cgs(defl, w);
            cgs(basis, w);
            let nb = dot(w, w).sqrt();
            let enough = nb >= std::f64::consts::FRAC_1_SQRT_2 * b;
            b = nb;
            if enough && pass == 0 {
                break;
            }
        }
        let m = alpha.len();
        if !(a.is_finite() && b.is_finite()) {
            // Non-finite operator output: stop with nothing converged.
            return Some(self.finish(None));
        }
        let scale_now = alpha.iter().map(|x| x.abs()).fold(0.0, f64::max) + b;
        let invariant = b <= 1e-10 * scale_now.max(TINY);
        let last = m >= max_steps;
        if m >= self.next_check || last || (invariant && m >= k_total) {
            self.next_check = m + (m / 8).max(4);
            let (theta, s) = tridiag_eig(alpha, beta);
            let scale = theta.iter().map(|x| x.abs()).fold(0.0, f64::max).max(TINY);
            let thresh = opts.tol * scale;
            let (ws, wl) = wanted(m, opts.k, opts.which);
            let est_ok = ws
                .iter()
                .chain(&wl)
                .all(|&i| (b * s[(m - 1, i)]).abs() <= 0.5 * thresh);
            let enough = m >= k_total.min(n);
            // Verification blocks: once an invariant subspace was met (a sign of multiple
            // eigenvalues), converged answers are checked by one more Krylov block started in
            // the complement of everything seen. If its extreme Ritz value is among the wanted
            // ones it is a further copy, and another block follows; otherwise we stop once it
            // has converged.
            let est = |i: usize| (b * s[(m - 1, i)]).abs();
            let verify_from = self.verify_from;
            let in_block = |i: usize| match verify_from {
                Some(v0) => (v0..m).map(|l| s[(l, i)] * s[(l, i)]).sum::<f64>() > 0.5,
                None => false,
            };
            let mut block_ok = true;
            let mut copy_found = false;
            if verify_from.is_some() {
                let ends = [
                    (!ws.is_empty(), (0..m).find(|&i| in_block(i)), &ws),
                    (!wl.is_empty(), (0..m).rev().find(|&i| in_block(i)), &wl),
                ];
                for (active, ext, want) in ends {
                    if let (true, Some(i)) = (active, ext) {
                        if want.contains(&i) {
                            copy_found = true;
                        } else if est(i) > 0.5 * thresh {
                            block_ok = false;
                        }
                    }
                }
            }
            let verify = ((self.restarts > 0 || invariant) && verify_from.is_none()) || copy_found;
            if est_ok && enough && verify && !last {
                self.force = true;
            } else if (est_ok && enough && block_ok) || last {
                // Ritz vectors and true residuals.
                let (small, large) = wanted_pairs(op, &basis[..m], &s, opts, thresh);
                self.hvps += small.len() + large.len();
                let all = small.iter().chain(&large).all(|p| p.converged) && enough;
                if all || last {
                    return Some(self.finish(Some((small, large, scale, all))));
                }
            }
        }
        let next = if invariant || self.force {
            // New block: orthogonal to the deflated vectors, the basis and (for a forced
            // restart of a non-invariant space) the current residual, so that T stays the
            // exact projection Q^T H Q. (At an invariant space the residual is rounding noise:
            // excluding its direction would exclude a real one.)
            let mut known = defl.clone();
            known.extend(basis.iter().cloned());
            let push_w = self.force && !invariant && b > 0.0;
            if push_w {
                known.push(w.iter().map(|x| x / b).collect());
            }
            let was_forced = self.force;
            self.force = false;
            match fresh(&known, n, &mut self.rng) {
                Some(x) => {
                    if was_forced || self.verify_from.is_some() {
                        self.verify_from = Some(m);
                    }
                    self.restarts += 1;
                    self.beta.push(0.0);
                    x
                }
                // No room for a verification block: continue the recurrence (the space is
                // then complete at the next step, and the answer exact).
                None if push_w => {
                    self.beta.push(b);
                    self.w.iter().map(|x| x / b).collect()
                }
                None => return Some(self.finish(None)),
            }
        } else {
            beta.push(b);
            w.iter().map(|x| x / b).collect()
        };
        self.basis.push(next);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::curvature::test_ops::Diag;

    #[test]
    fn distinct_spectrum() {
        let mut op = Diag((0..200).map(|i| (i as f64 - 50.0) * 0.1).collect());
        let r = lanczos(
            &mut op,
            &LanczosOptions {
                k: 3,
                which: Which::Both,
                ..Default::default()
            },
        );
        assert!(r.all_converged);
        for (i, p) in r.smallest.iter().enumerate() {
            assert!(
                (p.value - (i as f64 - 50.0) * 0.1).abs() < 1e-9,
                "{}",
                p.value
            );
        }
        assert!((r.largest[0].value - 14.9).abs() < 1e-9);
    }

    #[test]
    fn repeated_eigenvalues_are_found_through_invariant_restarts() {
        // Three distinct eigenvalues, each 5 times: the Krylov space of one start vector is
        // 3-dimensional; restarts in the orthogonal complement find the other copies.
        let d: Vec<f64> = (0..15).map(|i| [-1.0, 0.0, 2.0][i % 3]).collect();
        let mut op = Diag(d);
        let r = lanczos(
            &mut op,
            &LanczosOptions {
                k: 5,
                which: Which::Smallest,
                ..Default::default()
            },
        );
        assert!(r.restarts >= 4, "{} restarts", r.restarts);
        assert_eq!(r.smallest.len(), 5);
        for p in &r.smallest {
            assert!((p.value + 1.0).abs() < 1e-12 && p.converged, "{p:?}");
        }
    }

    #[test]
    fn a_multiple_eigenvalue_that_leaves_one_dimension_is_found() {
        // 8 dimensions, 7 distinct eigenvalues: the first Krylov space is invariant after 7
        // steps and the verification block has exactly one direction left.
        for d in [
            vec![0.0, 0.0, 0.1, 0.2, 0.3, 1.0, 2.0, 4.0],
            vec![-1.0, 0.5, 0.5, 1.0, 2.0, 3.0, 4.0, 4.0],
        ] {
            let (lo, hi) = (d[0], d[7]);
            let mut op = Diag(d);
            for which in [Which::Both, Which::Smallest, Which::Largest] {
                let r = lanczos(
                    &mut op,
                    &LanczosOptions {
                        k: 1,
                        which,
                        ..Default::default()
                    },
                );
                assert!(r.all_converged, "{which:?}: {r:?}");
                if which != Which::Largest {
                    assert!((r.smallest[0].value - lo).abs() < 1e-12);
                }
                if which != Which::Smallest {
                    assert!((r.largest[0].value - hi).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn deflation_skips_the_deflated_directions() {
        let mut op = Diag(vec![0.0, 0.0, 1.0, 2.0, 3.0]);
        let e = |i: usize| {
            let mut v = vec![0.0; 5];
            v[i] = 1.0;
            v
        };
        let r = lanczos(
            &mut op,
            &LanczosOptions {
                k: 1,
                deflate: vec![e(0), e(1)],
                ..Default::default()
            },
        );
        assert!((r.smallest[0].value - 1.0).abs() < 1e-12);
    }

    /// A dense symmetric operator Q diag(d) Q^T with a seeded random orthogonal Q.
    struct Dense {
        a: DMatrix<f64>,
    }
    impl LinOp for Dense {
        fn n(&self) -> usize {
            self.a.nrows()
        }
        fn apply(&mut self, x: &[f64], y: &mut [f64]) {
            let n = self.a.nrows();
            for i in 0..n {
                y[i] = (0..n).map(|j| self.a[(i, j)] * x[j]).sum();
            }
        }
    }
    fn dense_op(d: &[f64], seed: u64) -> Dense {
        let n = d.len();
        let mut rng = Normal::new(seed);
        let mut g = vec![0.0; n * n];
        rng.fill(&mut g, 1.0);
        let q = DMatrix::from_row_slice(n, n, &g).qr().q();
        let a = &q * DMatrix::from_diagonal(&nalgebra::DVector::from_row_slice(d)) * q.transpose();
        Dense {
            a: (&a + a.transpose()) * 0.5,
        }
    }

    #[test]
    fn thick_restart_matches_the_full_basis_and_the_spectrum() {
        // 400 eigenvalues: a cluster near the bottom (-2, -1.99, -1.98), a gap, then the bulk.
        let mut d: Vec<f64> = (0..397).map(|i| -1.0 + 3.0 * i as f64 / 396.0).collect();
        d.extend([-2.0, -1.99, -1.98]);
        let mut sorted = d.clone();
        sorted.sort_by(f64::total_cmp);
        let mut op = dense_op(&d, 5);
        for which in [Which::Smallest, Which::Largest, Which::Both] {
            let opts = LanczosOptions {
                k: 3,
                which,
                tol: 1e-9,
                max_iter: 4000,
                ..Default::default()
            };
            let thick = lanczos_capped(&mut op, &opts, 30);
            assert!(thick.all_converged, "{which:?}: {} steps", thick.iterations);
            assert!(thick.restarts > 0, "{which:?}: never restarted");
            for (i, p) in thick.smallest.iter().enumerate() {
                assert!(
                    (p.value - sorted[i]).abs() < 1e-8,
                    "{which:?} {i}: {}",
                    p.value
                );
                assert!(p.residual <= 1e-9 * 2.0, "{}", p.residual);
            }
            for (i, p) in thick.largest.iter().enumerate() {
                assert!(
                    (p.value - sorted[399 - i]).abs() < 1e-8,
                    "{which:?} {i}: {}",
                    p.value
                );
            }
            // The full-basis method agrees.
            let full = lanczos(&mut op, &opts);
            for (a, b) in thick.smallest.iter().zip(&full.smallest) {
                assert!((a.value - b.value).abs() < 1e-8);
            }
            for (a, b) in thick.largest.iter().zip(&full.largest) {
                assert!((a.value - b.value).abs() < 1e-8);
            }
        }
    }

    #[test]
    fn thick_restart_honours_deflation_warm_starts_and_the_step_budget() {
        let d: Vec<f64> = (0..300).map(|i| (i as f64 - 20.0) * 0.05).collect();
        let mut op = Diag(d.clone());
        // Deflate the two smallest eigenvectors (e_0, e_1): the answer is then d[2].
        let e = |i: usize| {
            let mut v = vec![0.0; 300];
            v[i] = 1.0;
            v
        };
        let opts = LanczosOptions {
            k: 1,
            which: Which::Smallest,
            tol: 1e-10,
            max_iter: 3000,
            deflate: vec![e(0), e(1)],
            ..Default::default()
        };
        let r = lanczos_capped(&mut op, &opts, 16);
        assert!(r.all_converged);
        assert!(
            (r.smallest[0].value - d[2]).abs() < 1e-9,
            "{}",
            r.smallest[0].value
        );
        // A warm start at the answer converges at the first check.
        let warm = LanczosOptions {
            warm: vec![e(2)],
            ..opts.clone()
        };
        let w = lanczos_capped(&mut op, &warm, 16);
        assert!(
            w.all_converged && w.iterations < r.iterations,
            "{} vs {}",
            w.iterations,
            r.iterations
        );
        // A budget too small to converge returns unconverged pairs with their residuals.
        let tight = LanczosOptions {
            max_iter: 20,
            tol: 1e-14,
            ..opts
        };
        let t = lanczos_capped(&mut op, &tight, 8);
        assert_eq!(t.iterations, 20);
        assert!(!t.all_converged && !t.smallest[0].converged);
        assert!(t.smallest[0].residual > 0.0);
    }

    /// ||Q^T Q - I||_F of a basis.
    fn ortho_err(basis: &[Vec<f64>]) -> f64 {
        let mut s = 0.0;
        for (i, a) in basis.iter().enumerate() {
            for (j, b) in basis.iter().enumerate() {
                let e = dot(a, b) - if i == j { 1.0 } else { 0.0 };
                s += e * e;
            }
        }
        s.sqrt()
    }

    /// The basis of a running job.
    fn job_basis(job: &LanczosJob) -> Option<&[Vec<f64>]> {
        match &job.state {
            JobState::Running(Method::Full(r)) => Some(&r.basis),
            JobState::Running(Method::Thick(r)) => Some(&r.basis),
            JobState::Done(_) => None,
        }
    }

    #[test]
    fn the_basis_stays_orthonormal_on_a_hard_spectrum() {
        // Repeated eigenvalues (the Krylov space turns invariant and continues with fresh
        // vectors), a tight cluster (1e-10 apart, which a single-vector recurrence resolves only
        // late: the classic loss of orthogonality without reorthogonalization), a wide range.
        let mut d = vec![-3.0; 6];
        d.extend((0..20).map(|i| 0.5 + 1e-10 * i as f64));
        d.extend((0..250).map(|i| -1.0 + 2.0 * i as f64 / 249.0));
        d.extend([1e3; 4]);
        let n = d.len();
        let mut op = dense_op(&d, 11);
        for (cap, which) in [(n, Which::Both), (40, Which::Both), (24, Which::Smallest)] {
            let opts = LanczosOptions {
                k: 3,
                which,
                tol: 1e-13,
                max_iter: 600,
                ..Default::default()
            };
            let mut job = LanczosJob::new(n, opts, cap);
            let (mut worst, mut checks, mut steps) = (0.0f64, 0, 0);
            loop {
                if let Some(b) = job_basis(&job) {
                    if steps % 7 == 0 || b.len() >= cap.min(n) - 1 {
                        worst = worst.max(ortho_err(b));
                        checks += 1;
                    }
                }
                steps += 1;
                if job.step(&mut op) {
                    break;
                }
            }
            let r = job.take();
            assert!(
                checks >= 5 && r.iterations > 20,
                "{cap}: {checks} checks, {} steps",
                r.iterations
            );
            eprintln!(
                "cap {cap}: {} steps, {} restarts, max ||Q^T Q - I||_F {worst:.2e}",
                r.iterations, r.restarts
            );
            assert!(worst < 1e-13, "cap {cap}: ||Q^T Q - I||_F = {worst:.2e}");
        }
    }

    #[test]
    fn the_default_cap_keeps_the_basis_within_budget() {
        // Figure 2's network (111,000 parameters): 75 vectors, 64 MiB, instead of maxIter.
        assert_eq!(basis_cap(111_000, 2), 75);
        for n in [1_000, 100_000, 1_000_000, 10_000_000] {
            let cap = basis_cap(n, 2);
            assert!(cap * n <= BASIS_BUDGET_DOUBLES || cap == 48, "{n}: {cap}");
        }
        // Small problems keep the whole basis (the full method runs).
        assert!(basis_cap(5_000, 2) > 1000);
    }
}
