//! The exact (log-scale) simulation of gradient descent on the octopus function
//! (`model.arithmetic: "logScale"`; docs/octopus.md, "Exact mode").
//!
//! Plain float64 GD cannot show the chapter's exponential escape times: a trailing coordinate
//! shrinks by |1 - 2 eta L| per step and reaches an exact 0 (or a stuck subnormal) after about a
//! thousand steps, long before its turn to grow. The engine keeps, per coordinate, its sign and
//! either
//! - its float value (`Val`: leading coordinates >= 2 tau and the active one in its spline
//!   phase tau < |x_i| < 2 tau), or
//! - ln|x_j| (`Log`: every coordinate with |x_j| <= tau, i.e. the active one in its quadratic
//!   phase and the trailing ones), which never underflows.
//!
//! **Spans.** With i the active index (the first |x_i| < 2 tau) in its quadratic phase
//! (|x_i| <= tau), every coordinate evolves multiplicatively and independently:
//! ln|x_i| grows by ln(1 + 2 eta gamma) per step, the trailing ln|x_j| (j > i) change by
//! ln|1 - 2 eta L| (the sign flips every step when 1 - 2 eta L < 0), and the leading deviations
//! |x_j| - 4 tau are multiplied by (1 - 2 eta L). Such a span is taken in closed form from its
//! first state (the anchor) and the number m of steps taken in it: the state after m steps is
//! a function of (anchor, m) only, so how a run is cut into calls (recorded rows, chunks) never
//! changes a bit. The span's last iteration is the largest m with exp(ln|x_i| + m ln(1 + 2 eta
//! gamma)) <= tau, found from logs and then checked (and moved) with that exact predicate, so the
//! crossing step is the same single step plain GD takes. In the minimum's region (every
//! |x_j| >= 2 tau) the span never ends. A span needs 0 < 2 eta L < 2 (|1 - 2 eta L| < 1: the
//! trailing coordinates cannot leave D inside it); for larger eta the engine takes single steps
//! (such runs leave D within a few steps).
//!
//! **Single steps** (the spline phases and every other case) evaluate the gradient of the
//! materialized point with [`Params::loss_grad`], the same function and bits the float model
//! uses: `Val` coordinates take plain GD's update `x + (-eta) g` (so leading coordinates and the
//! spline phase of the active one follow plain GD's arithmetic), `Log` coordinates add the log
//! of their factor: ln(1 + 2 eta gamma) (active, quadratic), ln|1 - 2 eta g2(|x_i|)| (x_{i+1} in
//! the spline phase of x_i: the y_{i+1}^2 coupling of y_i's gradient is read from the
//! materialized x_{i+1} = exp(l_{i+1}), which is 0 exactly when plain GD holds 0 there), and
//! ln|1 - 2 eta L| (trailing). After a step a `Val` with |x| <= tau becomes `Log` and a `Log`
//! with exp(l) > tau becomes `Val`, so `Log` coordinates are exactly those whose written value
//! is <= tau.
//!
//! **Underflow.** The first iteration at which a coordinate that was nonzero has
//! ln|x_j| < -1075 ln 2 (|x_j| < 2^-1075: a correctly rounded product holds 0 there). Plain GD
//! computes its subnormals with growing relative error: depending on L and eta it reaches 0 a
//! few steps from this iteration or sticks at 2^-1074 (tests/octopus_exact.rs measures both).
//! The engine writes 0 for such coordinates (`w`), but keeps their logs.
//!
//! **Escapes.** Saddle k (1-based) is left at the first iteration whose saddle index (1 + the
//! active index) exceeds k. Inside a span the saddle index is constant (the leading coordinates
//! approach 4 tau, the active one stays <= tau), so escapes happen in single steps and are
//! recorded there, exactly. A start already past saddle k records it at iteration 0.
//!
//! `advance` stops before a single step that would leave D unless it is the call's first step
//! (the session then keeps the last iterate in D), and takes at most [`SINGLE_STEPS_PER_CALL`]
//! single steps per call.

use super::pieces::{Params, Phase};

/// ln(2^-1075): below it a float64 product rounds to 0.
const LN_UNDERFLOW: f64 = -1075.0 * std::f64::consts::LN_2;

/// The most single (not closed-form) steps one `advance` call takes.
pub const SINGLE_STEPS_PER_CALL: u32 = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Coord {
    /// The float value of x_j (leading, or active in its spline phase).
    Val(f64),
    /// sign and ln|x_j| (|x_j| <= tau); l = -inf for an exact 0.
    Log { neg: bool, l: f64 },
}

impl Coord {
    fn of(x: f64, tau: f64) -> Coord {
        if x.abs() <= tau {
            Coord::Log {
                neg: x.is_sign_negative(),
                l: libm::log(x.abs()),
            }
        } else {
            Coord::Val(x)
        }
    }
    /// The float64 value written to `w`: 0 (signed) below 2^-1075.
    fn value(self) -> f64 {
        match self {
            Coord::Val(x) => x,
            Coord::Log { neg, l } => {
                let v = if l < LN_UNDERFLOW { 0.0 } else { libm::exp(l) };
                if neg {
                    -v
                } else {
                    v
                }
            }
        }
    }
    /// ln|x_j| (-inf for 0).
    fn ln_abs(self) -> f64 {
        match self {
            Coord::Val(x) => libm::log(x.abs()),
            Coord::Log { l, .. } => l,
        }
    }
    /// Back to the representation rule: `Log` exactly when the written value is <= tau.
    fn normalized(self, tau: f64) -> Coord {
        match self {
            Coord::Val(x) if x.abs() <= tau => Coord::of(x, tau),
            Coord::Log { .. } if self.value().abs() > tau => Coord::Val(self.value()),
            c => c,
        }
    }
}

/// ln|1 - q| (accurate near q = 0; -inf at q = 1).
fn ln_abs_one_minus(q: f64) -> f64 {
    if q < 1.0 {
        libm::log1p(-q)
    } else {
        libm::log(q - 1.0)
    }
}

/// A closed-form span: the state after `m` steps from the anchor (`Engine::base`).
#[derive(Debug, Clone)]
struct Span {
    eta: f64,
    /// The active index (0-based; d in the minimum's region).
    i: usize,
    m: u64,
    /// The span's last m (u64::MAX: never ends).
    end: u64,
    /// ln(1 + 2 eta gamma), ln|1 - 2 eta L|, 1 - 2 eta L.
    la: f64,
    lc: f64,
    c: f64,
    /// The iteration count at the anchor.
    t0: u64,
    /// The m at which the first trailing coordinate underflows (when none has before).
    uf: Option<u64>,
}

/// The exact engine: see the module documentation.
#[derive(Debug, Clone)]
pub struct Engine {
    p: Params,
    /// The state (the anchor while a span is open).
    base: Vec<Coord>,
    span: Option<Span>,
    t: u64,
    escapes: Vec<Option<u64>>,
    underflow: Option<u64>,
    /// The state before the last single step and its iteration (for [`Engine::rewind`]).
    prev: Option<(u64, Vec<Coord>)>,
    w: Vec<f64>,
    grad: Vec<f64>,
}

impl Engine {
    /// The engine at the initial point `x0` (in D; the family checks it), iteration 0.
    pub fn new(p: &Params, x0: &[f64]) -> Engine {
        let base: Vec<Coord> = x0.iter().map(|&x| Coord::of(x, p.tau)).collect();
        let i0 = p.region(x0).i;
        let escapes = (0..x0.len())
            .map(|k| if k < i0 { Some(0) } else { None })
            .collect();
        Engine {
            p: *p,
            base,
            span: None,
            t: 0,
            escapes,
            underflow: None,
            prev: None,
            w: x0.to_vec(),
            grad: vec![0.0; x0.len()],
        }
    }

    /// The iteration count (the index of the current iterate).
    pub fn iteration(&self) -> u64 {
        self.t
    }

    /// Escape iterations: entry k - 1 for saddle k (see the module documentation).
    pub fn escapes(&self) -> &[Option<u64>] {
        &self.escapes
    }

    /// The first iteration at which plain float64 GD would hold an exact 0 in a coordinate that
    /// was nonzero (|x_j| < 2^-1075).
    pub fn underflow_at(&self) -> Option<u64> {
        self.underflow
    }

    /// The 1-based saddle index: 1 + the first index with |x_i| < 2 tau (d + 1 when none).
    pub fn saddle(&self) -> usize {
        if let Some(sp) = &self.span {
            return sp.i + 1;
        }
        let two = 2.0 * self.p.tau;
        self.base
            .iter()
            .position(|c| match *c {
                Coord::Val(x) => x.abs() < two,
                Coord::Log { .. } => true,
            })
            .unwrap_or(self.base.len())
            + 1
    }

    /// log10 of the smallest |x_j| over j >= the saddle index (the coordinates that must still
    /// grow), from the log state (far below -308 when needed); -inf for an exact 0; NaN in the
    /// minimum's region (no such coordinate).
    pub fn log10_min_abs(&self, _p: &Params) -> f64 {
        let s = self.saddle() - 1;
        if s >= self.base.len() {
            return f64::NAN;
        }
        let m = (s..self.base.len())
            .map(|j| self.coord(j).ln_abs())
            .fold(f64::INFINITY, f64::min);
        m * std::f64::consts::LOG10_E
    }

    /// ln|x_j| for every coordinate (-inf for an exact 0).
    pub fn ln_abs(&self) -> Vec<f64> {
        (0..self.base.len())
            .map(|j| self.coord(j).ln_abs())
            .collect()
    }

    /// The signs of the coordinates (true: negative).
    pub fn negative(&self) -> Vec<bool> {
        (0..self.base.len())
            .map(|j| self.coord(j).value().is_sign_negative())
            .collect()
    }

    /// The current iterate as float64 (0 where |x_j| < 2^-1075).
    pub fn write(&self, w: &mut [f64]) {
        for (j, wj) in w.iter_mut().enumerate() {
            *wj = self.coord(j).value();
        }
    }

    /// Take between 1 and `max` GD iterations x <- x - eta grad f(x) (closed-form spans and single
    /// steps; fewer than `max` only before a step that leaves D or after
    /// [`SINGLE_STEPS_PER_CALL`] single steps), write the iterate to `w`, return the number taken
    /// (0 only when `max` is 0).
    pub fn advance(&mut self, p: &Params, w: &mut [f64], eta: f64, max: u64) -> u64 {
        let mut taken = 0u64;
        let mut single = 0u32;
        while taken < max {
            if let Some(sp) = &self.span {
                if sp.m == sp.end || sp.eta.to_bits() != eta.to_bits() {
                    self.settle();
                }
            }
            if self.span.is_none() {
                self.span = self.open_span(p, eta);
            }
            if let Some(sp) = &mut self.span {
                let k = (max - taken).min(sp.end - sp.m).min(u64::MAX - self.t);
                if k == 0 {
                    break;
                }
                sp.m += k;
                taken += k;
                self.t += k;
                if let (None, Some(u)) = (self.underflow, sp.uf) {
                    if u <= sp.m {
                        self.underflow = Some(sp.t0.saturating_add(u));
                    }
                }
                continue;
            }
            if single == SINGLE_STEPS_PER_CALL || !self.single_step(p, eta, taken == 0) {
                break;
            }
            single += 1;
            taken += 1;
        }
        self.write(w);
        taken
    }

    /// Go back to iteration `t` <= the current one, as the session does after a divergence
    /// (`Model::after_step` with a smaller t): possible inside the open span (its state is a
    /// function of its step count) and to the iterate before the last single step (a step that
    /// leaves D is always a call's only single step). Escapes and the underflow iteration after
    /// `t` are dropped. Returns false (and changes nothing) when the state at `t` is not kept.
    pub fn rewind(&mut self, t: u64) -> bool {
        if t > self.t {
            return false;
        }
        if t < self.t {
            match (&mut self.span, &mut self.prev) {
                (Some(sp), _) if sp.t0 <= t => sp.m = t - sp.t0,
                (None, Some((tp, _))) if *tp == t => {
                    let (_, base) = self.prev.take().expect("checked");
                    self.base = base;
                }
                _ => return false,
            }
            self.t = t;
        }
        for e in self.escapes.iter_mut() {
            if e.is_some_and(|v| v > t) {
                *e = None;
            }
        }
        if self.underflow.is_some_and(|v| v > t) {
            self.underflow = None;
        }
        true
    }

    /// Coordinate j now (the span's closed form when one is open).
    fn coord(&self, j: usize) -> Coord {
        let b = self.base[j];
        let sp = match &self.span {
            Some(sp) if sp.m > 0 => sp,
            _ => return b,
        };
        let m = sp.m as f64;
        match b {
            Coord::Val(x) => {
                // A leading coordinate: |x| - 4 tau is multiplied by c per step (exact
                // subtraction: |x| is in [2 tau, 6 tau]).
                let four = 4.0 * self.p.tau;
                let y = four + libm::pow(sp.c, m) * (x.abs() - four);
                Coord::Val(if x.is_sign_negative() { -y } else { y })
            }
            Coord::Log { neg, l } if j == sp.i => Coord::Log {
                neg,
                l: l + m * sp.la,
            },
            Coord::Log { neg, l } => Coord::Log {
                neg: neg ^ (sp.c < 0.0 && sp.m % 2 == 1),
                l: l + m * sp.lc,
            },
        }
    }

    /// Close the open span: its current state becomes the state.
    fn settle(&mut self) {
        // coord(j) reads only base[j] and the span: update in place.
        for j in 0..self.base.len() {
            self.base[j] = self.coord(j);
        }
        self.span = None;
    }

    /// A closed-form span from the current state, when the dynamics are purely multiplicative
    /// (active coordinate in its quadratic phase, or the minimum's region) and last >= 1 step.
    fn open_span(&mut self, p: &Params, eta: f64) -> Option<Span> {
        let x2 = 2.0 * eta * p.l;
        if !(eta > 0.0 && eta.is_finite() && x2 > 0.0 && x2 < 2.0) {
            return None;
        }
        let la = ln_abs_one_minus(-(2.0 * eta * p.gamma));
        if !(la > 0.0 && la.is_finite()) {
            return None;
        }
        let lc = ln_abs_one_minus(x2);
        let c = 1.0 - x2;
        for (j, wj) in self.w.iter_mut().enumerate() {
            *wj = self.base[j].value();
        }
        if p.violation(&self.w).is_some() {
            return None;
        }
        let r = p.region(&self.w);
        let (end, uf) = match r.phase {
            Phase::Spline => return None,
            Phase::Minimum => (u64::MAX, None),
            Phase::Quadratic => {
                let layout_ok = self.base.iter().enumerate().all(|(j, b)| {
                    matches!(
                        (j < r.i, b),
                        (true, Coord::Val(_)) | (false, Coord::Log { .. })
                    )
                });
                if !layout_ok {
                    return None;
                }
                let l0 = self.base[r.i].ln_abs();
                let end = last_at_most(l0, la, libm::log(p.tau), p.tau);
                if end == 0 {
                    return None;
                }
                let uf = if self.underflow.is_none() {
                    let lmin = self.base[r.i + 1..]
                        .iter()
                        .map(|b| b.ln_abs())
                        .filter(|l| l.is_finite())
                        .fold(f64::INFINITY, f64::min);
                    if lmin.is_finite() {
                        Some(first_below(lmin, lc))
                    } else {
                        None
                    }
                } else {
                    None
                };
                (end, uf)
            }
        };
        Some(Span {
            eta,
            i: r.i,
            m: 0,
            end,
            la,
            lc,
            c,
            t0: self.t,
            uf,
        })
    }

    /// One GD iteration from the current state (no span open). Returns false (and changes
    /// nothing) when the step would leave D and `first` is false.
    fn single_step(&mut self, p: &Params, eta: f64, first: bool) -> bool {
        let n = self.base.len();
        for (j, wj) in self.w.iter_mut().enumerate() {
            *wj = self.base[j].value();
        }
        let r = p.region(&self.w);
        p.loss_grad(&self.w, &mut self.grad);
        let la = ln_abs_one_minus(-(2.0 * eta * p.gamma));
        let x2 = 2.0 * eta * p.l;
        let (lc, cneg) = (ln_abs_one_minus(x2), x2 > 1.0);
        let mut next = Vec::with_capacity(n);
        for j in 0..n {
            let c = match self.base[j] {
                Coord::Val(x) => Coord::Val(x + (-eta) * self.grad[j]),
                Coord::Log { neg, l } => {
                    let (lf, flip) = if j == r.i && r.phase == Phase::Quadratic {
                        (la, false)
                    } else if j == r.i + 1 && r.phase == Phase::Spline {
                        let q = 2.0 * eta * p.g2(self.w[r.i].abs());
                        (ln_abs_one_minus(q), q > 1.0)
                    } else if j > r.i {
                        (lc, cneg)
                    } else {
                        // Not reached (Log coordinates are <= tau, so trailing or quadratic
                        // active); plain GD on the value keeps it correct anyway.
                        let x = self.w[j];
                        next.push(Coord::of(x + (-eta) * self.grad[j], p.tau));
                        continue;
                    };
                    Coord::Log {
                        neg: neg ^ flip,
                        l: l + lf,
                    }
                }
            };
            next.push(c.normalized(p.tau));
        }
        for (j, wj) in self.w.iter_mut().enumerate() {
            *wj = next[j].value();
        }
        if !first && p.violation(&self.w).is_some() {
            return false;
        }
        self.t += 1;
        if self.underflow.is_none()
            && (0..n)
                .any(|j| self.base[j].ln_abs() >= LN_UNDERFLOW && next[j].ln_abs() < LN_UNDERFLOW)
        {
            self.underflow = Some(self.t);
        }
        self.prev = Some((self.t - 1, std::mem::replace(&mut self.base, next)));
        let i = p.region(&self.w).i;
        for e in self.escapes.iter_mut().take(i) {
            if e.is_none() {
                *e = Some(self.t);
            }
        }
        true
    }
}

/// The largest m >= 0 with exp(l0 + m la) <= tau (la > 0; exp(l0) <= tau): the last iteration
/// of a quadratic phase. From logs, then moved with the exact predicate.
fn last_at_most(l0: f64, la: f64, ln_tau: f64, tau: f64) -> u64 {
    if l0 == f64::NEG_INFINITY {
        return u64::MAX;
    }
    let within = |m: u64| m == 0 || libm::exp(l0 + m as f64 * la) <= tau;
    let guess = ((ln_tau - l0) / la).floor();
    let mut m = if guess > 0.0 {
        (guess as u64).min(1 << 62)
    } else {
        0
    };
    while within(m + 1) {
        m += 1;
    }
    while !within(m) {
        m -= 1;
    }
    m
}

/// The first m >= 1 with l0 + m lc < ln(2^-1075) (lc < 0, l0 >= that bound).
fn first_below(l0: f64, lc: f64) -> u64 {
    let below = |m: u64| m >= 1 && l0 + m as f64 * lc < LN_UNDERFLOW;
    let guess = ((LN_UNDERFLOW - l0) / lc).floor();
    let mut m = if guess > 1.0 {
        (guess as u64).min(1 << 62)
    } else {
        1
    };
    while m > 1 && below(m - 1) {
        m -= 1;
    }
    while !below(m) {
        m += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Normal;

    fn uniform(seed: u64, d: usize) -> Vec<f64> {
        let mut r = Normal::new(seed);
        (0..d).map(|_| 2.0 * r.uniform_open() - 1.0).collect()
    }

    /// Plain float64 GD as the float model and the session take it: w += (-eta) grad.
    struct Plain {
        x: Vec<f64>,
        g: Vec<f64>,
        t: u64,
        escapes: Vec<Option<u64>>,
        zero_at: Option<u64>,
    }

    impl Plain {
        fn new(p: &Params, x0: &[f64]) -> Plain {
            let i0 = p.region(x0).i;
            Plain {
                x: x0.to_vec(),
                g: vec![0.0; x0.len()],
                t: 0,
                escapes: (0..x0.len())
                    .map(|k| if k < i0 { Some(0) } else { None })
                    .collect(),
                zero_at: None,
            }
        }
        fn step(&mut self, p: &Params, eta: f64) {
            p.loss_grad(&self.x, &mut self.g);
            let before: Vec<bool> = self.x.iter().map(|v| *v != 0.0).collect();
            for (x, g) in self.x.iter_mut().zip(&self.g) {
                *x += -eta * g;
            }
            self.t += 1;
            if self.zero_at.is_none() && self.x.iter().zip(&before).any(|(x, b)| *b && *x == 0.0) {
                self.zero_at = Some(self.t);
            }
            let i = p.region(&self.x).i;
            for e in self.escapes.iter_mut().take(i) {
                e.get_or_insert(self.t);
            }
        }
    }

    fn rel(a: f64, b: f64) -> f64 {
        if a == b {
            0.0
        } else {
            (a - b).abs() / a.abs().max(b.abs())
        }
    }

    /// Identical escapes and iterates within 1e-12 relative (coordinates in float64's normal
    /// range) for runs whose every escape comes before plain GD's first subnormal.
    #[test]
    fn agrees_with_plain_gd_before_underflow() {
        let mut runs = 0;
        let mut worst: f64 = 0.0;
        for d in 2..=5 {
            for l in [1.0, 1.5, 2.0, 3.0, 5.0] {
                let p = Params::new(d, l, 1.0, std::f64::consts::E);
                let eta = 1.0 / (4.0 * l);
                for seed in 0..6u64 {
                    let x0 = uniform(seed * 31 + d as u64, d);
                    let mut a = Plain::new(&p, &x0);
                    let mut e = Engine::new(&p, &x0);
                    let mut w = vec![0.0; d];
                    let mut clean = true;
                    let mut chunk = 1 + seed;
                    let mut run_worst: f64 = 0.0;
                    while a.escapes[d - 1].is_none() && a.t < 5000 {
                        let target = a.t + chunk;
                        while a.t < target {
                            a.step(&p, eta);
                            if a.x.iter().any(|v| *v != 0.0 && v.abs() < f64::MIN_POSITIVE) {
                                clean = false;
                            }
                        }
                        while e.iteration() < target {
                            let n = e.advance(&p, &mut w, eta, target - e.iteration());
                            assert!(n >= 1);
                        }
                        for j in 0..d {
                            if a.x[j].abs() >= f64::MIN_POSITIVE {
                                run_worst = run_worst.max(rel(a.x[j], w[j]));
                            }
                        }
                        chunk = (chunk * 7 + 3) % 23 + 1;
                    }
                    if !clean || a.escapes[d - 1].is_none() {
                        continue;
                    }
                    runs += 1;
                    worst = worst.max(run_worst);
                    assert_eq!(a.escapes, e.escapes(), "d {d} L {l} seed {seed}");
                    assert!(run_worst < 1e-12, "d {d} L {l} seed {seed}: {run_worst:e}");
                }
            }
        }
        eprintln!("agreeing runs: {runs}, worst relative difference {worst:e}");
        assert!(runs >= 40, "{runs}");
    }

    /// The state after n iterations does not depend on how they were cut into calls.
    #[test]
    fn chunking_changes_no_bit() {
        for (d, l) in [(5, 3.0), (8, 2.0), (4, 10.0)] {
            let p = Params::new(d, l, 1.0, std::f64::consts::E);
            let eta = 1.0 / (4.0 * l);
            let x0 = uniform(7, d);
            let mut whole = Engine::new(&p, &x0);
            let mut w1 = vec![0.0; d];
            let target = 3_000_000;
            while whole.iteration() < target {
                whole.advance(&p, &mut w1, eta, target - whole.iteration());
            }
            assert!(whole.escapes()[d - 1].is_some());
            let mut cut = Engine::new(&p, &x0);
            let mut w2 = vec![0.0; d];
            let mut k = 1u64;
            while cut.iteration() < target {
                let n = cut.advance(&p, &mut w2, eta, k.min(target - cut.iteration()));
                assert!(n >= 1);
                k = (k * 3 + 1) % 100_003 + 1;
            }
            assert_eq!(whole.iteration(), target);
            assert_eq!(w1, w2);
            assert_eq!(whole.ln_abs(), cut.ln_abs());
            assert_eq!(whole.escapes(), cut.escapes());
            assert_eq!(whole.underflow_at(), cut.underflow_at());
            // Rewinding inside the open span gives the state of a run that stopped there.
            let back = target - 5000;
            assert!(whole.rewind(back));
            let mut short = Engine::new(&p, &x0);
            while short.iteration() < back {
                short.advance(&p, &mut w2, eta, back - short.iteration());
            }
            whole.write(&mut w1);
            short.write(&mut w2);
            assert_eq!(w1, w2);
            assert_eq!(whole.escapes(), short.escapes());
        }
    }

    /// eta in (1/(2L), 1/L): the factors 1 - 2 eta L and 1 - 2 eta g2 are negative (signs flip);
    /// the engine still matches plain GD (escapes identical, iterates within 5e-11: the large-eta
    /// spline steps amplify rounding differences; measured up to 8.4e-12).
    #[test]
    fn negative_factors_flip_signs() {
        let mut runs = 0;
        let mut flips = 0;
        let mut overall: f64 = 0.0;
        for (d, l, el) in [(3, 1.0, 0.75), (4, 1.0, 0.6), (3, 2.0, 0.7), (4, 1.5, 0.9)] {
            let p = Params::new(d, l, 1.0, std::f64::consts::E);
            let eta = el / l;
            for seed in 0..8u64 {
                let x0 = uniform(seed + 100, d);
                let mut a = Plain::new(&p, &x0);
                let mut e = Engine::new(&p, &x0);
                let mut w = vec![0.0; d];
                let mut ok = true;
                let mut worst: f64 = 0.0;
                while a.escapes[d - 1].is_none() && a.t < 3000 {
                    let before = a.x.clone();
                    a.step(&p, eta);
                    if !p.in_domain(&a.x)
                        || a.x.iter().any(|v| *v != 0.0 && v.abs() < f64::MIN_POSITIVE)
                    {
                        ok = false;
                        break;
                    }
                    flips +=
                        a.x.iter()
                            .zip(&before)
                            .filter(|(x, b)| x.is_sign_negative() != b.is_sign_negative())
                            .count();
                    assert_eq!(e.advance(&p, &mut w, eta, 1), 1);
                    for j in 0..d {
                        worst = worst.max(rel(a.x[j], w[j]));
                    }
                }
                if !ok || a.escapes[d - 1].is_none() {
                    continue;
                }
                runs += 1;
                assert_eq!(a.escapes, e.escapes(), "d {d} L {l} eta L {el} seed {seed}");
                assert!(
                    worst < 5e-11,
                    "d {d} L {l} eta L {el} seed {seed}: {worst:e}"
                );
                overall = overall.max(worst);
                // The same run in closed-form spans ends at the same iterate.
                let mut f = Engine::new(&p, &x0);
                let mut wf = vec![0.0; d];
                while f.iteration() < a.t {
                    f.advance(&p, &mut wf, eta, a.t - f.iteration());
                }
                for j in 0..d {
                    assert!(rel(a.x[j], wf[j]) < 5e-11, "{} {}", a.x[j], wf[j]);
                }
            }
        }
        eprintln!("negative factors: {runs} runs, {flips} sign flips, worst relative difference {overall:e}");
        assert!(runs >= 10 && flips > 100, "runs {runs} flips {flips}");
    }

    /// The y_{i+1}^2 coupling in the spline phase of y_i changes no bit of plain GD's update
    /// once |x_{i+1}| <= 1e-8 (eta = 1/(4L)), about 500 binades before its square underflows
    /// (|x_{i+1}| < 2^-537.5, where exp(2 l) and z * z are 0): whether it is computed or not,
    /// both arithmetics give the same iterate. At |x_{i+1}| = 1e-6 it does change bits.
    #[test]
    fn coupling_invisible_long_before_it_underflows() {
        let mut visible = 0;
        for l in [1.0, 2.0, 3.0, 10.0] {
            let p = Params::new(3, l, 1.0, std::f64::consts::E);
            let eta = 1.0 / (4.0 * l);
            for k in 1..1000 {
                let y = p.tau * (1.0 + k as f64 / 1000.0);
                let plain = y + (-eta) * p.g1p(y);
                for z in [1e-8, 1e-20, 1e-200, 2f64.powi(-537)] {
                    assert_eq!(y + (-eta) * (p.g1p(y) + p.g2p(y) * z * z), plain);
                }
                assert!(libm::exp(2.0 * libm::log(2f64.powi(-538))) == 0.0);
                if y + (-eta) * (p.g1p(y) + p.g2p(y) * 1e-12) != plain {
                    visible += 1;
                }
            }
        }
        assert!(visible > 100, "{visible}");
    }

    /// Past 2 eta L >= 2 no span is taken; the run leaves D and `advance` stops before the step
    /// that leaves it (unless it is the call's first), at plain GD's step.
    #[test]
    fn leaving_d_stops_before_the_step() {
        let d = 4;
        let l = 1.0;
        let p = Params::new(d, l, 1.0, std::f64::consts::E);
        let eta = 1.3 / l;
        let x0 = [0.3, 0.2, -0.1, 0.05];
        let mut a = Plain::new(&p, &x0);
        while p.in_domain(&a.x) {
            a.step(&p, eta);
        }
        let mut e = Engine::new(&p, &x0);
        let mut w = vec![0.0; d];
        let n = e.advance(&p, &mut w, eta, 1000);
        assert_eq!(n, a.t - 1);
        assert!(p.in_domain(&w));
        let kept = w.clone();
        assert_eq!(e.advance(&p, &mut w, eta, 1000), 1);
        assert!(!p.in_domain(&w));
        for j in 0..d {
            assert!(rel(a.x[j], w[j]) < 1e-12);
        }
        // The session keeps the iterate before it.
        assert!(e.rewind(a.t - 1));
        assert_eq!(e.iteration(), a.t - 1);
        e.write(&mut w);
        assert_eq!(w, kept);
        assert!(!e.rewind(a.t - 2));
    }
}
