//! The matrix exponential and its Frechet derivative, for the continuous-time linear family and
//! the characteristic equation of its critical points.
//!
//! [`expm`] is Higham's scaling and squaring with diagonal Pade approximants of degree 3, 5, 7, 9
//! or 13 (N. J. Higham, "The scaling and squaring method for the matrix exponential revisited",
//! SIAM J. Matrix Anal. Appl. 26(4), 2005, Algorithm 2.3): the degree is the smallest whose
//! backward-error bound theta_m covers the 1-norm, else degree 13 after scaling by 2^-s.
//!
//! [`expm_frechet`] returns `(e^A, L(A, E))`, the exponential and its Frechet derivative in the
//! direction `E` (`e^{A + tE} = e^A + t L(A, E) + O(t^2)`), computed by Al-Mohy and Higham's
//! simultaneous scaling and squaring ("Computing the Frechet derivative of the matrix
//! exponential", SIAM J. Matrix Anal. Appl. 30(4), 2009, Algorithm 6.4): the Pade numerator and
//! denominator are differentiated alongside, at about three times the cost of `expm` alone.
//! [`expm_frechet_block`] is the slower block-matrix form
//! `exp([[A, E], [0, A]]) = [[e^A, L(A, E)], [0, e^A]]`, kept as an independent check.
//!
//! The adjoint of `E -> L(A, E)` in the trace inner product is `E -> L(A^T, E)`.

use nalgebra::DMatrix;

/// theta_m of Higham (2005), Table 2.3, for m = 3, 5, 7, 9, 13.
const THETA: [f64; 5] = [
    1.495_585_217_958_292e-2,
    2.539_398_330_063_23e-1,
    9.504_178_996_162_932e-1,
    2.097_847_961_257_068,
    5.371_920_351_148_152,
];

const B3: [f64; 4] = [120.0, 60.0, 12.0, 1.0];
const B5: [f64; 6] = [30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0];
const B7: [f64; 8] = [
    17_297_280.0,
    8_648_640.0,
    1_995_840.0,
    277_200.0,
    25_200.0,
    1_512.0,
    56.0,
    1.0,
];
const B9: [f64; 10] = [
    17_643_225_600.0,
    8_821_612_800.0,
    2_075_673_600.0,
    302_702_400.0,
    30_270_240.0,
    2_162_160.0,
    110_880.0,
    3_960.0,
    90.0,
    1.0,
];
const B13: [f64; 14] = [
    64_764_752_532_480_000.0,
    32_382_376_266_240_000.0,
    7_771_770_303_897_600.0,
    1_187_353_796_428_800.0,
    129_060_195_264_000.0,
    10_559_470_521_600.0,
    670_442_572_800.0,
    33_522_128_640.0,
    1_323_241_920.0,
    40_840_800.0,
    960_960.0,
    16_380.0,
    182.0,
    1.0,
];

/// The 1-norm (largest column sum of absolute values).
pub fn norm1(a: &DMatrix<f64>) -> f64 {
    let mut best = 0.0f64;
    for j in 0..a.ncols() {
        let s: f64 = a.column(j).iter().map(|x| x.abs()).sum();
        if s.is_nan() {
            return f64::NAN;
        }
        best = best.max(s);
    }
    best
}

/// Which Pade degree (index into the tables) and how many squarings for a matrix of 1-norm `nrm`.
fn degree_and_scaling(nrm: f64) -> (usize, u32) {
    for (i, &th) in THETA[..4].iter().enumerate() {
        if nrm <= th {
            return (i, 0);
        }
    }
    if nrm <= THETA[4] || !nrm.is_finite() {
        return (4, 0);
    }
    let s = libm::ceil(libm::log2(nrm / THETA[4])).max(0.0);
    (4, s as u32)
}

/// `y += c x` (same shapes).
fn axpy(y: &mut DMatrix<f64>, c: f64, x: &DMatrix<f64>) {
    for (yi, xi) in y.iter_mut().zip(x.iter()) {
        *yi += c * xi;
    }
}

/// `c0 I + c1 M1 + c2 M2 + ...` for square matrices of the same size.
fn combo(n: usize, c0: f64, terms: &[(f64, &DMatrix<f64>)]) -> DMatrix<f64> {
    let mut out = DMatrix::<f64>::identity(n, n) * c0;
    for (c, m) in terms {
        axpy(&mut out, *c, m);
    }
    out
}

/// Pade numerator/denominator halves (U, V) with U odd and V even in A, for the degree index `m`,
/// given A and its even powers A2, A4, A6 (A4, A6 only where needed).
struct Powers {
    a: DMatrix<f64>,
    p: Vec<DMatrix<f64>>, // A^2, A^4, A^6, A^8 as needed
}

fn uv(m: usize, pw: &Powers) -> (DMatrix<f64>, DMatrix<f64>) {
    let n = pw.a.nrows();
    if m < 4 {
        let b: &[f64] = match m {
            0 => &B3,
            1 => &B5,
            2 => &B7,
            _ => &B9,
        };
        let deg = 2 * m + 3;
        // U = A (b1 I + b3 A2 + ...), V = b0 I + b2 A2 + ...
        let mut uo: Vec<(f64, &DMatrix<f64>)> = Vec::new();
        let mut ve: Vec<(f64, &DMatrix<f64>)> = Vec::new();
        for k in 1..=(deg / 2) {
            uo.push((b[2 * k + 1], &pw.p[k - 1]));
            ve.push((b[2 * k], &pw.p[k - 1]));
        }
        let u = &pw.a * combo(n, b[1], &uo);
        let v = combo(n, b[0], &ve);
        (u, v)
    } else {
        let b = &B13;
        let (a2, a4, a6) = (&pw.p[0], &pw.p[1], &pw.p[2]);
        let inner_u = a6 * (a6 * b[13] + a4 * b[11] + a2 * b[9]);
        let u = &pw.a
            * combo(
                n,
                b[1],
                &[(1.0, &inner_u), (b[7], a6), (b[5], a4), (b[3], a2)],
            );
        let inner_v = a6 * (a6 * b[12] + a4 * b[10] + a2 * b[8]);
        let v = combo(
            n,
            b[0],
            &[(1.0, &inner_v), (b[6], a6), (b[4], a4), (b[2], a2)],
        );
        (u, v)
    }
}

fn powers(a: DMatrix<f64>, m: usize) -> Powers {
    let count = match m {
        0 => 1,
        1 => 2,
        2 => 3,
        3 => 4,
        _ => 3,
    };
    let mut p = Vec::with_capacity(count);
    let a2 = &a * &a;
    p.push(a2);
    for k in 1..count {
        let next = &p[k - 1] * &p[0];
        p.push(next);
    }
    Powers { a, p }
}

/// Solve `(V - U) X = rhs` (the Pade denominator), falling back to NaN when it is singular
/// (only possible for non-finite input).
fn solve(q: &DMatrix<f64>, rhs: &DMatrix<f64>) -> DMatrix<f64> {
    let lu = q.clone().lu();
    match lu.solve(rhs) {
        Some(x) => x,
        None => DMatrix::from_element(rhs.nrows(), rhs.ncols(), f64::NAN),
    }
}

/// The matrix exponential `e^A` of a square matrix (Higham 2005 scaling and squaring, Pade 13).
/// Non-finite entries give a matrix of NaN.
pub fn expm(a: &DMatrix<f64>) -> DMatrix<f64> {
    let n = a.nrows();
    assert_eq!(n, a.ncols(), "expm: square matrix");
    if n == 0 {
        return DMatrix::zeros(0, 0);
    }
    let nrm = norm1(a);
    if !nrm.is_finite() {
        return DMatrix::from_element(n, n, f64::NAN);
    }
    let (m, s) = degree_and_scaling(nrm);
    let scaled = if s > 0 {
        a * 2f64.powi(-(s as i32))
    } else {
        a.clone()
    };
    let pw = powers(scaled, m);
    let (u, v) = uv(m, &pw);
    let mut x = solve(&(&v - &u), &(&v + &u));
    for _ in 0..s {
        x = &x * &x;
    }
    x
}

/// `(e^A, L(A, E))`: the exponential and its Frechet derivative in the direction `E`
/// (Al-Mohy and Higham 2009, Algorithm 6.4, with Higham 2005's degree selection on `A`).
pub fn expm_frechet(a: &DMatrix<f64>, e: &DMatrix<f64>) -> (DMatrix<f64>, DMatrix<f64>) {
    let plan = FrechetPlan::new(a);
    let l = plan.apply(e);
    (plan.exp().clone(), l)
}

/// Everything of Al-Mohy and Higham's algorithm that depends on `A` only, so that `L(A, E)` for
/// many directions `E` (a Jacobian) costs about a dozen products each instead of a full run.
pub struct FrechetPlan {
    n: usize,
    m: usize,
    s: u32,
    scale: f64,
    /// The scaled `A` and its even powers `A^2, A^4, ...` (as many as degree `m` needs).
    a: DMatrix<f64>,
    pw: Vec<DMatrix<f64>>,
    /// Degree 13: `W1, W = A6 W1 + W2, Z1` (Higham's notation); lower degrees: the odd and even
    /// polynomials `uo`, `ve` with `U = A uo`, `V = ve`.
    w1: DMatrix<f64>,
    w: DMatrix<f64>,
    z1: DMatrix<f64>,
    /// LU factors of `V - U`.
    q: nalgebra::LU<f64, nalgebra::Dyn, nalgebra::Dyn>,
    /// `r_0 = (V - U)^{-1} (V + U)` and its squares `r_1 .. r_s` (`r_s = e^A`).
    r: Vec<DMatrix<f64>>,
    ok: bool,
}

impl FrechetPlan {
    /// Prepare `A` (square).
    pub fn new(a: &DMatrix<f64>) -> FrechetPlan {
        let n = a.nrows();
        assert_eq!(n, a.ncols(), "FrechetPlan: square matrix");
        let nrm = norm1(a);
        let ok = nrm.is_finite();
        let (m, s) = if ok { degree_and_scaling(nrm) } else { (0, 0) };
        let scale = 2f64.powi(-(s as i32));
        let a = if ok { a * scale } else { DMatrix::zeros(n, n) };
        let id = DMatrix::<f64>::identity(n, n);
        let a2 = &a * &a;
        let (pw, w1, w, z1, u, v) = if m < 4 {
            let b = coefficients(m);
            let half = m + 1;
            let mut pw = vec![a2];
            for k in 1..half {
                let p = &pw[k - 1] * &pw[0];
                pw.push(p);
            }
            let mut uo = &id * b[1];
            let mut ve = &id * b[0];
            for k in 1..=half {
                axpy(&mut uo, b[2 * k + 1], &pw[k - 1]);
                axpy(&mut ve, b[2 * k], &pw[k - 1]);
            }
            let u = &a * &uo;
            (pw, uo, DMatrix::zeros(0, 0), ve.clone(), u, ve)
        } else {
            let b = &B13;
            let a4 = &a2 * &a2;
            let a6 = &a2 * &a4;
            let w1 = &a6 * b[13] + &a4 * b[11] + &a2 * b[9];
            let w2 = &a6 * b[7] + &a4 * b[5] + &a2 * b[3] + &id * b[1];
            let z1 = &a6 * b[12] + &a4 * b[10] + &a2 * b[8];
            let z2 = &a6 * b[6] + &a4 * b[4] + &a2 * b[2] + &id * b[0];
            let w = &a6 * &w1 + &w2;
            let u = &a * &w;
            let v = &a6 * &z1 + &z2;
            (vec![a2, a4, a6], w1, w, z1, u, v)
        };
        let q = (&v - &u).lu();
        let r0 = q.solve(&(&v + &u));
        let ok = ok && r0.is_some();
        let mut r = vec![r0.unwrap_or_else(|| DMatrix::from_element(n, n, f64::NAN))];
        for j in 0..s as usize {
            let next = &r[j] * &r[j];
            r.push(next);
        }
        if !ok {
            r = vec![DMatrix::from_element(n, n, f64::NAN)];
        }
        FrechetPlan {
            n,
            m,
            s,
            scale,
            a,
            pw,
            w1,
            w,
            z1,
            q,
            r,
            ok,
        }
    }

    /// `e^A`.
    pub fn exp(&self) -> &DMatrix<f64> {
        self.r.last().expect("at least r_0")
    }

    /// `L(A, E)`.
    pub fn apply(&self, e: &DMatrix<f64>) -> DMatrix<f64> {
        let n = self.n;
        assert_eq!(
            (e.nrows(), e.ncols()),
            (n, n),
            "FrechetPlan::apply: direction shape"
        );
        if !self.ok || e.iter().any(|x| !x.is_finite()) {
            return DMatrix::from_element(n, n, f64::NAN);
        }
        let e = e * self.scale;
        let a = &self.a;
        let a2 = &self.pw[0];
        let m2 = a * &e + &e * a;
        let (lu, lv) = if self.m < 4 {
            let b = coefficients(self.m);
            let half = self.m + 1;
            let mut dm = vec![m2];
            for k in 1..half {
                let d = &self.pw[k - 1] * &dm[0] + &dm[k - 1] * a2;
                dm.push(d);
            }
            let mut luo = DMatrix::<f64>::zeros(n, n);
            let mut lve = DMatrix::<f64>::zeros(n, n);
            for k in 1..=half {
                axpy(&mut luo, b[2 * k + 1], &dm[k - 1]);
                axpy(&mut lve, b[2 * k], &dm[k - 1]);
            }
            // self.w1 holds uo for these degrees
            let lu = &e * &self.w1 + a * &luo;
            (lu, lve)
        } else {
            let b = &B13;
            let (a4, a6) = (&self.pw[1], &self.pw[2]);
            let m4 = a2 * &m2 + &m2 * a2;
            let m6 = a4 * &m2 + &m4 * a2;
            let lw1 = &m6 * b[13] + &m4 * b[11] + &m2 * b[9];
            let lw2 = &m6 * b[7] + &m4 * b[5] + &m2 * b[3];
            let lz1 = &m6 * b[12] + &m4 * b[10] + &m2 * b[8];
            let lz2 = &m6 * b[6] + &m4 * b[4] + &m2 * b[2];
            let lw = a6 * &lw1 + &m6 * &self.w1 + &lw2;
            let lu = a * &lw + &e * &self.w;
            let lv = a6 * &lz1 + &m6 * &self.z1 + &lz2;
            (lu, lv)
        };
        let rhs = (&lu + &lv) + (&lu - &lv) * &self.r[0];
        let Some(mut l) = self.q.solve(&rhs) else {
            return DMatrix::from_element(n, n, f64::NAN);
        };
        for j in 0..self.s as usize {
            l = &self.r[j] * &l + &l * &self.r[j];
        }
        l
    }
}

fn coefficients(m: usize) -> &'static [f64] {
    match m {
        0 => &B3,
        1 => &B5,
        2 => &B7,
        3 => &B9,
        _ => &B13,
    }
}

/// `(e^A, L(A, E))` by the block trick `exp([[A, E], [0, A]]) = [[e^A, L], [0, e^A]]`, with `E`
/// scaled to the norm of `A` (L is linear in E). Slower than [`expm_frechet`]; an independent
/// check of it.
pub fn expm_frechet_block(a: &DMatrix<f64>, e: &DMatrix<f64>) -> (DMatrix<f64>, DMatrix<f64>) {
    let n = a.nrows();
    let ne = norm1(e);
    let na = norm1(a).max(1.0);
    let c = if ne > 0.0 && ne.is_finite() {
        na / ne
    } else {
        1.0
    };
    let mut big = DMatrix::<f64>::zeros(2 * n, 2 * n);
    big.view_mut((0, 0), (n, n)).copy_from(a);
    big.view_mut((n, n), (n, n)).copy_from(a);
    big.view_mut((0, n), (n, n)).copy_from(&(e * c));
    let x = expm(&big);
    let ea = x.view((0, 0), (n, n)).into_owned();
    let l = x.view((0, n), (n, n)).into_owned() / c;
    (ea, l)
}
