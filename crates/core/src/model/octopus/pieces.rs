//! The octopus function's pieces (Du 2019, thesis ch. 7; REFERENCE.md section 3 "Ch.7", with g1
//! a quartic and nu given): the spline pieces g1, g2 and their derivatives as functions of x, the
//! region of a point, the domain D, and the value, gradient and Hessian-vector product of
//! f(x) = f0(|x_1|, ..., |x_d|). Shared by the float model (`mod.rs`) and the exact engine
//! (`exact.rs`), so both step with the same arithmetic.
//!
//! With y = |x| and i the first (0-based) index with y_i < 2 tau (i = d when none):
//!   y_i <= tau (Quadratic):   f0 = sum_{j<i} L (y_j - 4 tau)^2 - gamma y_i^2 + sum_{j>i} L y_j^2 - i nu
//!   tau < y_i < 2 tau (Spline): f0 = sum_{j<i} L (y_j - 4 tau)^2 + g1(y_i) + g2(y_i) y_{i+1}^2
//!                                    + sum_{j>i+1} L y_j^2 - i nu   (no y_{i+1} term when i = d - 1)
//!   i = d (Minimum):          f0 = sum_j L (y_j - 4 tau)^2 - d nu
//! Domain D: the leading coordinates (j < i) are <= 6 tau, the trailing ones (j > i) <= tau (in
//! the Minimum region every coordinate is leading). f is C^2 across the joints (not C^3).

/// The octopus constants: dimension `d`, `l` = L, `gamma`, `tau`, and `nu` (the value drop from
/// one saddle to the next), `nu = 4 L tau^2 + (13/6) (L + gamma) tau^2 = 4 L tau^2 - g1(2 tau)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub d: usize,
    pub l: f64,
    pub gamma: f64,
    pub tau: f64,
    pub nu: f64,
}

/// nu = 4 L tau^2 + (13/6) (L + gamma) tau^2.
pub fn nu(l: f64, gamma: f64, tau: f64) -> f64 {
    4.0 * l * tau * tau + 13.0 / 6.0 * (l + gamma) * tau * tau
}

/// Which formula holds at a point: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// y_i <= tau: the active coordinate is in its concave quadratic piece -gamma y_i^2.
    Quadratic,
    /// tau < y_i < 2 tau: the active coordinate is in the spline pieces g1, g2.
    Spline,
    /// Every coordinate is >= 2 tau (i = d): the minimum's quadratic bowl.
    Minimum,
}

/// The region of a point: the active (0-based) index `i` (the first with |x_i| < 2 tau; `d` in
/// the minimum's region) and the phase. The 1-based `saddle` column is `i + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub i: usize,
    pub phase: Phase,
}

/// A coordinate out of the domain D: its 0-based index, its value, and whether it is a leading
/// coordinate (bound 6 tau) or a trailing one (bound tau).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Violation {
    pub j: usize,
    pub x: f64,
    pub leading: bool,
}

impl Violation {
    /// The sentence `Model::undefined_reason` gives (1-based coordinate index).
    pub fn describe(&self, p: &Params) -> String {
        if !self.x.is_finite() {
            format!(
                "x_{} = {} is not finite (outside the domain D)",
                self.j + 1,
                self.x
            )
        } else if self.leading {
            format!(
                "x_{} = {} left the domain D: a leading coordinate must satisfy |x_j| <= 6 tau = {}",
                self.j + 1,
                self.x,
                6.0 * p.tau
            )
        } else {
            format!(
                "x_{} = {} left the domain D: a trailing coordinate (after the first with |x_j| < 2 tau) must satisfy |x_j| <= tau = {}",
                self.j + 1,
                self.x,
                p.tau
            )
        }
    }
}

impl Params {
    /// The constants with nu from [`nu`]. The caller validates them (d >= 1, l, gamma, tau
    /// positive and finite).
    pub fn new(d: usize, l: f64, gamma: f64, tau: f64) -> Params {
        Params {
            d,
            l,
            gamma,
            tau,
            nu: nu(l, gamma, tau),
        }
    }

    /// g1(x) = -gamma tau^2 + int_tau^x p, p the cubic Hermite interpolant with p(tau) = -2 gamma
    /// tau, p'(tau) = -2 gamma, p(2 tau) = -4 L tau, p'(2 tau) = 2 L. With s = x - tau:
    /// g1 = -gamma tau^2 - 2 gamma tau s - gamma s^2 + (10 gamma - 14 L) s^3 / (3 tau)
    ///      + (10 L - 6 gamma) s^4 / (4 tau^2).
    pub fn g1(&self, x: f64) -> f64 {
        let (g, l, t) = (self.gamma, self.l, self.tau);
        let s = x - t;
        let a = (10.0 * g - 14.0 * l) / (3.0 * t);
        let b = (10.0 * l - 6.0 * g) / (4.0 * t * t);
        -g * t * t + s * (-2.0 * g * t + s * (-g + s * (a + s * b)))
    }
    /// g1'(x) = -2 gamma tau - 2 gamma s + 3 a s^2 + 4 b s^3.
    pub fn g1p(&self, x: f64) -> f64 {
        let (g, l, t) = (self.gamma, self.l, self.tau);
        let s = x - t;
        let a = (10.0 * g - 14.0 * l) / (3.0 * t);
        let b = (10.0 * l - 6.0 * g) / (4.0 * t * t);
        -2.0 * g * t + s * (-2.0 * g + s * (3.0 * a + s * 4.0 * b))
    }
    /// g1''(x) = -2 gamma + 6 a s + 12 b s^2.
    pub fn g1pp(&self, x: f64) -> f64 {
        let (g, l, t) = (self.gamma, self.l, self.tau);
        let s = x - t;
        let a = (10.0 * g - 14.0 * l) / (3.0 * t);
        let b = (10.0 * l - 6.0 * g) / (4.0 * t * t);
        -2.0 * g + s * (6.0 * a + s * 12.0 * b)
    }
    /// g2(x) = -gamma - (L + gamma) (10 u^3 + 15 u^4 + 6 u^5), u = (x - 2 tau) / tau: L at
    /// u = -1 (x = tau), -gamma at u = 0 (x = 2 tau), flat to second order at both ends.
    pub fn g2(&self, x: f64) -> f64 {
        let c = self.l + self.gamma;
        let u = (x - 2.0 * self.tau) / self.tau;
        -self.gamma - c * u * u * u * (10.0 + u * (15.0 + 6.0 * u))
    }
    /// g2'(x) = -(30 (L + gamma) / tau) u^2 (1 + u)^2.
    pub fn g2p(&self, x: f64) -> f64 {
        let c = self.l + self.gamma;
        let u = (x - 2.0 * self.tau) / self.tau;
        let v = u * (1.0 + u);
        -30.0 * c / self.tau * v * v
    }
    /// g2''(x) = -(60 (L + gamma) / tau^2) u (1 + u) (1 + 2 u).
    pub fn g2pp(&self, x: f64) -> f64 {
        let c = self.l + self.gamma;
        let u = (x - 2.0 * self.tau) / self.tau;
        -60.0 * c / (self.tau * self.tau) * u * (1.0 + u) * (1.0 + 2.0 * u)
    }

    /// The region of `x` (signs do not matter). NaN coordinates count as not < 2 tau; use
    /// [`Params::violation`] first.
    pub fn region(&self, x: &[f64]) -> Region {
        let two = 2.0 * self.tau;
        match x.iter().position(|v| v.abs() < two) {
            None => Region {
                i: x.len(),
                phase: Phase::Minimum,
            },
            Some(i) => Region {
                i,
                phase: if x[i].abs() <= self.tau {
                    Phase::Quadratic
                } else {
                    Phase::Spline
                },
            },
        }
    }

    /// The first coordinate of `x` outside the domain D (or not finite), if any.
    pub fn violation(&self, x: &[f64]) -> Option<Violation> {
        if let Some(j) = x.iter().position(|v| !v.is_finite()) {
            return Some(Violation {
                j,
                x: x[j],
                leading: false,
            });
        }
        let i = self.region(x).i;
        let (six, one) = (6.0 * self.tau, self.tau);
        for (j, &v) in x.iter().enumerate() {
            if j < i && v.abs() > six {
                return Some(Violation {
                    j,
                    x: v,
                    leading: true,
                });
            }
            if j > i && v.abs() > one {
                return Some(Violation {
                    j,
                    x: v,
                    leading: false,
                });
            }
        }
        None
    }

    /// True when `x` is in the domain D.
    pub fn in_domain(&self, x: &[f64]) -> bool {
        self.violation(x).is_none()
    }

    /// f(x) and its gradient (written to `grad`), `grad_j = sign(x_j) df0/dy_j (|x|)`. Outside D
    /// (see [`Params::violation`]) the value and every gradient entry are NaN: the function is not
    /// extended. The sums run in index order (the exact engine relies on the same bits).
    pub fn loss_grad(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        debug_assert_eq!(x.len(), grad.len());
        if self.violation(x).is_some() {
            grad.fill(f64::NAN);
            return f64::NAN;
        }
        let r = self.region(x);
        let (l, t) = (self.l, self.tau);
        let four = 4.0 * t;
        let mut f = 0.0;
        for j in 0..x.len() {
            let v = x[j];
            let y = v.abs();
            let s = if v.is_sign_negative() { -1.0 } else { 1.0 };
            if j < r.i {
                let e = y - four;
                f += l * e * e;
                grad[j] = s * (2.0 * l * e);
            } else if j == r.i {
                match r.phase {
                    Phase::Quadratic => {
                        f -= self.gamma * v * v;
                        grad[j] = -2.0 * self.gamma * v;
                    }
                    Phase::Spline => {
                        f += self.g1(y);
                        let mut gy = self.g1p(y);
                        if j + 1 < x.len() {
                            let z = x[j + 1];
                            f += self.g2(y) * z * z;
                            gy += self.g2p(y) * z * z;
                        }
                        grad[j] = s * gy;
                    }
                    Phase::Minimum => unreachable!("the minimum's region has no active index"),
                }
            } else if j == r.i + 1 && r.phase == Phase::Spline {
                grad[j] = 2.0 * self.g2(x[r.i].abs()) * v;
            } else {
                f += l * v * v;
                grad[j] = 2.0 * l * v;
            }
        }
        f - r.i as f64 * self.nu
    }

    /// `out = H(x) v` (exact). The Hessian is diagonal except, in the Spline phase, the
    /// coupling 2 g2'(y_i) y_{i+1} between i and i + 1 (times sign(x_i) sign(x_{i+1}) in x).
    /// NaN outside D.
    pub fn hvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        if self.violation(x).is_some() {
            out.fill(f64::NAN);
            return;
        }
        let r = self.region(x);
        let l2 = 2.0 * self.l;
        for j in 0..x.len() {
            out[j] = l2 * v[j];
        }
        match r.phase {
            Phase::Minimum => {}
            Phase::Quadratic => out[r.i] = -2.0 * self.gamma * v[r.i],
            Phase::Spline => {
                let i = r.i;
                let y = x[i].abs();
                let si = if x[i].is_sign_negative() { -1.0 } else { 1.0 };
                let mut hii = self.g1pp(y);
                if i + 1 < x.len() {
                    let z = x[i + 1];
                    hii += self.g2pp(y) * z * z;
                    // d^2 f / dx_i dx_{i+1} = s_i 2 g2'(y_i) x_{i+1}.
                    let c = si * 2.0 * self.g2p(y) * z;
                    out[i] = hii * v[i] + c * v[i + 1];
                    out[i + 1] = c * v[i] + 2.0 * self.g2(y) * v[i + 1];
                } else {
                    out[i] = hii * v[i];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<Params> {
        vec![
            Params::new(3, std::f64::consts::E, 1.0, std::f64::consts::E),
            Params::new(4, 2.0, 1.0, 1.0),
            Params::new(2, 7.5, 0.3, 0.8),
        ]
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn g1_hermite_conditions() {
        for p in params() {
            let (g, l, t) = (p.gamma, p.l, p.tau);
            assert!(close(p.g1(t), -g * t * t, 1e-15));
            assert!(close(p.g1p(t), -2.0 * g * t, 1e-15));
            assert!(close(p.g1pp(t), -2.0 * g, 1e-15));
            assert!(close(p.g1p(2.0 * t), -4.0 * l * t, 1e-14));
            assert!(close(p.g1pp(2.0 * t), 2.0 * l, 1e-14));
            // nu joins the value at 2 tau: g1(2 tau) = L (2 tau - 4 tau)^2 - nu.
            assert!(close(p.g1(2.0 * t), 4.0 * l * t * t - p.nu, 1e-14));
        }
    }

    #[test]
    fn g2_ends() {
        for p in params() {
            let (g, l, t) = (p.gamma, p.l, p.tau);
            assert!(close(p.g2(t), l, 1e-15));
            assert!(close(p.g2(2.0 * t), -g, 1e-15));
            for x in [t, 2.0 * t] {
                assert_eq!(p.g2p(x), 0.0);
                assert_eq!(p.g2pp(x), 0.0);
            }
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for p in params() {
            let t = p.tau;
            let h = 1e-5 * t;
            for k in 1..10 {
                let x = t + t * k as f64 / 10.0;
                let d1 = (p.g1(x + h) - p.g1(x - h)) / (2.0 * h);
                let d2 = (p.g1p(x + h) - p.g1p(x - h)) / (2.0 * h);
                let e1 = (p.g2(x + h) - p.g2(x - h)) / (2.0 * h);
                let e2 = (p.g2p(x + h) - p.g2p(x - h)) / (2.0 * h);
                let scale = p.l + p.gamma;
                assert!((d1 - p.g1p(x)).abs() < 1e-7 * scale * t, "g1' at {x}");
                assert!((d2 - p.g1pp(x)).abs() < 1e-7 * scale, "g1'' at {x}");
                assert!((e1 - p.g2p(x)).abs() < 1e-7 * scale / t, "g2' at {x}");
                assert!(
                    (e2 - p.g2pp(x)).abs() < 1e-7 * scale / (t * t),
                    "g2'' at {x}"
                );
            }
        }
    }

    #[test]
    fn regions_and_domain() {
        let p = Params::new(3, 2.0, 1.0, 1.0);
        let r = |x: &[f64]| p.region(x);
        assert_eq!(
            r(&[0.5, 0.1, 0.1]),
            Region {
                i: 0,
                phase: Phase::Quadratic
            }
        );
        assert_eq!(
            r(&[-1.0, 0.1, 0.1]),
            Region {
                i: 0,
                phase: Phase::Quadratic
            }
        );
        assert_eq!(
            r(&[1.5, 0.1, 0.1]),
            Region {
                i: 0,
                phase: Phase::Spline
            }
        );
        assert_eq!(
            r(&[-2.0, 1.999, 0.1]),
            Region {
                i: 1,
                phase: Phase::Spline
            }
        );
        assert_eq!(
            r(&[4.0, -5.0, 0.0]),
            Region {
                i: 2,
                phase: Phase::Quadratic
            }
        );
        assert_eq!(
            r(&[4.0, 5.0, 2.0]),
            Region {
                i: 3,
                phase: Phase::Minimum
            }
        );
        assert!(p.in_domain(&[6.0, 1.5, -1.0]));
        assert!(p.in_domain(&[6.0, -6.0, 6.0]));
        let v = p.violation(&[6.5, 1.5, 0.0]).unwrap();
        assert_eq!((v.j, v.leading), (0, true));
        let v = p.violation(&[3.0, 1.5, -1.01]).unwrap();
        assert_eq!((v.j, v.leading), (2, false));
        assert!(p.violation(&[3.0, 1.5, 1.0]).is_none());
        let v = p.violation(&[3.0, f64::NAN, 0.0]).unwrap();
        assert_eq!(v.j, 1);
        assert!(v.describe(&p).contains("x_2"));
        let mut g = [0.0; 3];
        assert!(p.loss_grad(&[1.0, 1.5, 0.0], &mut g).is_nan());
        assert!(g.iter().all(|v| v.is_nan()));
    }

    /// Value, gradient and Hessian agree (to rounding) on both sides of y_i = tau and y_i = 2 tau.
    #[test]
    fn c2_joins() {
        for p in params() {
            let t = p.tau;
            let n = p.d;
            for i in 0..n {
                for edge in [t, 2.0 * t] {
                    let mut x = vec![0.0; n];
                    for (j, xj) in x.iter_mut().enumerate() {
                        *xj = if j < i {
                            4.0 * t - 0.3 * t + 0.1 * t * j as f64
                        } else {
                            0.37 * t
                        };
                    }
                    let mut ga = vec![0.0; n];
                    let mut gb = vec![0.0; n];
                    let eps = 1e-9 * t;
                    x[i] = edge - eps;
                    let fa = p.loss_grad(&x, &mut ga);
                    let xa = x.clone();
                    x[i] = edge + eps;
                    let fb = p.loss_grad(&x, &mut gb);
                    let xb = x.clone();
                    let scale = (p.l + p.gamma) * t * t * n as f64;
                    assert!(
                        (fa - fb).abs() < 1e-7 * scale,
                        "value at {i} {edge}: {fa} {fb}"
                    );
                    for j in 0..n {
                        assert!(
                            (ga[j] - gb[j]).abs() < 1e-7 * scale / t,
                            "grad {j} at {i} {edge}"
                        );
                    }
                    for k in 0..n {
                        let mut e = vec![0.0; n];
                        e[k] = 1.0;
                        p.hvp(&xa, &e, &mut ga);
                        p.hvp(&xb, &e, &mut gb);
                        for j in 0..n {
                            assert!(
                                (ga[j] - gb[j]).abs() < 1e-6 * (p.l + p.gamma),
                                "H[{j},{k}] at {i} {edge}: {} {}",
                                ga[j],
                                gb[j]
                            );
                        }
                    }
                }
            }
        }
    }
}
