//! The critical points of the continuous-time linear network (Taghvaei, Kim & Mehta 2017,
//! Proposition 2; ../shared/REFERENCE.md section 2): `A_t = e^{2t Om} C e^{-2t Om}` with
//! `Om = (C - C^T)/2`, where `C` solves the characteristic equation
//! `lambda C = F^T (R(sigma) - F) Sigma0`, `F = e^{2T Om} e^{T C^T}`, and
//! `R(sigma) = R + sigma dR`.

use nalgebra::{Complex, DMatrix, DVector};

use super::expm::{expm, FrechetPlan};
use crate::error::{Error, Result};

/// Row-major `vec C` (`c11, c12, ..., cnn`), the order of the study's columns.
pub fn vec_of(c: &DMatrix<f64>) -> DVector<f64> {
    DVector::from_iterator(c.len(), c.transpose().iter().copied())
}

/// The `n x n` matrix whose row-major vec is `v`.
pub fn mat_of(v: &[f64], n: usize) -> DMatrix<f64> {
    DMatrix::from_row_slice(n, n, v)
}

/// The Jacobian of the residual at `(C, lambda, sigma)`: `jc` (`n^2 x n^2`, row-major vec on
/// both sides), `jl = dG/dlambda = vec C`, `js = dG/dsigma = -vec(F^T dR Sigma0)` (zero without
/// `dR`), and the residual itself.
#[derive(Debug, Clone)]
pub struct Jacobian {
    pub jc: DMatrix<f64>,
    pub jl: DVector<f64>,
    pub js: DVector<f64>,
    pub g: DMatrix<f64>,
}

/// The pieces of `F` and of its derivative at one `C` (two Frechet plans).
struct Linearization {
    p1: FrechetPlan,
    p2: FrechetPlan,
    f: DMatrix<f64>,
}

/// A characteristic-equation problem: size `n`, horizon `t`, target `r` (plus `sigma dr`) and
/// input second moment `sigma0`.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub n: usize,
    pub t: f64,
    pub r: DMatrix<f64>,
    pub dr: Option<DMatrix<f64>>,
    pub sigma0: DMatrix<f64>,
}

impl Problem {
    /// A problem with `Sigma0 = I` and no `dR`.
    pub fn new(t: f64, r: DMatrix<f64>) -> Self {
        let n = r.nrows();
        Problem {
            n,
            t,
            r,
            dr: None,
            sigma0: DMatrix::identity(n, n),
        }
    }

    /// `R(sigma) = R + sigma dR` (`R` when there is no `dR`).
    pub fn r_at(&self, sigma: f64) -> DMatrix<f64> {
        match &self.dr {
            Some(dr) if sigma != 0.0 => &self.r + dr * sigma,
            _ => self.r.clone(),
        }
    }

    /// `Om = (C - C^T)/2`.
    pub fn omega(c: &DMatrix<f64>) -> DMatrix<f64> {
        (c - c.transpose()) * 0.5
    }

    /// `F = e^{2T Om} e^{T C^T}` (the end-to-end map `X_T` for `X_0 = I`).
    pub fn f_of(&self, c: &DMatrix<f64>) -> DMatrix<f64> {
        let om = Self::omega(c);
        expm(&(om * (2.0 * self.t))) * expm(&(c.transpose() * self.t))
    }

    /// The critical weight at time `t`: `A_t = e^{2t Om} C e^{-2t Om}`.
    pub fn a_at(&self, c: &DMatrix<f64>, t: f64) -> DMatrix<f64> {
        let om = Self::omega(c);
        let u = expm(&(&om * (2.0 * t)));
        &u * c * u.transpose()
    }

    /// `(J, reg, data)`: `reg = lambda T/2 tr(C^T C)` (the weight-decay term of `A_t`, whose
    /// Frobenius norm is constant in t), `data = 1/2 tr((F - R)^T (F - R) Sigma0)`, `J = reg +
    /// data` (without the noise term).
    pub fn cost(&self, c: &DMatrix<f64>, lambda: f64, sigma: f64) -> (f64, f64, f64) {
        let f = self.f_of(c);
        let d = &f - self.r_at(sigma);
        let reg = 0.5 * lambda * self.t * c.norm_squared();
        let data = 0.5 * (d.transpose() * &d * &self.sigma0).trace();
        (reg + data, reg, data)
    }

    fn linearize(&self, c: &DMatrix<f64>) -> Linearization {
        let om = Self::omega(c);
        let p1 = FrechetPlan::new(&(om * (2.0 * self.t)));
        let p2 = FrechetPlan::new(&(c.transpose() * self.t));
        let f = p1.exp() * p2.exp();
        Linearization { p1, p2, f }
    }

    /// `dF[E] = L(2T Om, T (E - E^T)) e^{T C^T} + e^{2T Om} L(T C^T, T E^T)`.
    fn df(&self, lin: &Linearization, e: &DMatrix<f64>) -> DMatrix<f64> {
        let et = e.transpose();
        let skew = (e - &et) * self.t;
        let mut out = lin.p1.exp() * lin.p2.apply(&(et * self.t));
        if skew.iter().any(|x| *x != 0.0) {
            out += lin.p1.apply(&skew) * lin.p2.exp();
        }
        out
    }

    /// `dG[E] = lambda E - dF^T (R - F) Sigma0 + F^T dF Sigma0`, given `(R - F) Sigma0`.
    fn dg(
        &self,
        lin: &Linearization,
        rfs: &DMatrix<f64>,
        lambda: f64,
        e: &DMatrix<f64>,
    ) -> DMatrix<f64> {
        let dfe = self.df(lin, e);
        e * lambda - dfe.transpose() * rfs + lin.f.transpose() * dfe * &self.sigma0
    }

    /// The directional derivative `dG/dC [E]` of the residual at `(C, lambda, sigma)`.
    pub fn jvp(&self, c: &DMatrix<f64>, lambda: f64, sigma: f64, e: &DMatrix<f64>) -> DMatrix<f64> {
        let lin = self.linearize(c);
        let rfs = (self.r_at(sigma) - &lin.f) * &self.sigma0;
        self.dg(&lin, &rfs, lambda, e)
    }

    /// The residual and its full Jacobian (analytic: Frechet derivatives of the exponential).
    pub fn jacobian(&self, c: &DMatrix<f64>, lambda: f64, sigma: f64) -> Jacobian {
        let n = self.n;
        let nn = n * n;
        let lin = self.linearize(c);
        let rfs = (self.r_at(sigma) - &lin.f) * &self.sigma0;
        let g = c * lambda - lin.f.transpose() * &rfs;
        let mut jc = DMatrix::<f64>::zeros(nn, nn);
        let mut e = DMatrix::<f64>::zeros(n, n);
        for i in 0..n {
            for j in 0..n {
                e[(i, j)] = 1.0;
                let d = self.dg(&lin, &rfs, lambda, &e);
                e[(i, j)] = 0.0;
                jc.column_mut(i * n + j).copy_from(&vec_of(&d));
            }
        }
        let jl = vec_of(c);
        let js = match &self.dr {
            Some(dr) => -vec_of(&(lin.f.transpose() * dr * &self.sigma0)),
            None => DVector::zeros(nn),
        };
        Jacobian { jc, jl, js, g }
    }

    /// Newton's method on the residual in `C` at fixed `(lambda, sigma)`, with a backtracking line
    /// search on `|G|_F`: `Some(C)` once `|G|_F <= tol`, `None` after `max_iter` iterations, at a
    /// singular Jacobian or a non-finite value.
    pub fn newton(
        &self,
        c0: &DMatrix<f64>,
        lambda: f64,
        sigma: f64,
        tol: f64,
        max_iter: usize,
    ) -> Option<DMatrix<f64>> {
        let n = self.n;
        let mut c = c0.clone();
        let mut g = self.residual(&c, lambda, sigma);
        let mut gn = g.norm();
        for _ in 0..=max_iter {
            if !gn.is_finite() {
                return None;
            }
            if gn <= tol {
                return Some(c);
            }
            let jac = self.jacobian(&c, lambda, sigma);
            let dx = jac.jc.lu().solve(&vec_of(&g))?;
            let dc = mat_of(dx.as_slice(), n);
            let mut t = 1.0;
            loop {
                let trial = &c - &dc * t;
                let gt = self.residual(&trial, lambda, sigma);
                let gtn = gt.norm();
                if gtn.is_finite() && (gtn < gn || t < 1.0 / 1024.0) {
                    c = trial;
                    g = gt;
                    gn = gtn;
                    break;
                }
                t *= 0.5;
            }
        }
        None
    }

    /// A solution near the guess `c0` at `(lambda, sigma)`: Newton from `c0`, and when that fails,
    /// a homotopy in the target. `c0` solves the equation exactly for the target
    /// `R_0 = F_0 + F_0^{-T} lambda c0 Sigma0^{-1}` (`F_0 = F(c0)`); the target is moved along
    /// `R_s = (1 - s) R_0 + s R(sigma)` from s = 0 to 1 with Newton at each s (steps of 1/8, halved
    /// on failure down to 1/4096). `None` when neither reaches `tol`.
    pub fn solve_from(
        &self,
        c0: &DMatrix<f64>,
        lambda: f64,
        sigma: f64,
        tol: f64,
    ) -> Option<DMatrix<f64>> {
        if let Some(c) = self.newton(c0, lambda, sigma, tol, 40) {
            return Some(c);
        }
        let f0 = self.f_of(c0);
        let f0it = f0.transpose().try_inverse()?;
        let s0i = self.sigma0.clone().try_inverse()?;
        let r0 = &f0 + f0it * c0 * lambda * s0i;
        let r1 = self.r_at(sigma);
        let mut sub = Problem {
            n: self.n,
            t: self.t,
            r: r0.clone(),
            dr: None,
            sigma0: self.sigma0.clone(),
        };
        let (mut s, mut ds, mut c) = (0.0f64, 0.125f64, c0.clone());
        while s < 1.0 {
            let next = (s + ds).min(1.0);
            sub.r = &r0 * (1.0 - next) + &r1 * next;
            match sub.newton(&c, lambda, 0.0, tol, 12) {
                Some(cn) => {
                    c = cn;
                    s = next;
                    ds = (ds * 1.5).min(0.25);
                }
                None => {
                    ds *= 0.5;
                    if ds < 1.0 / 4096.0 {
                        return None;
                    }
                }
            }
        }
        self.newton(&c, lambda, sigma, tol, 40)
    }

    /// The residual `lambda C - F^T (R(sigma) - F) Sigma0` of the characteristic equation.
    pub fn residual(&self, c: &DMatrix<f64>, lambda: f64, sigma: f64) -> DMatrix<f64> {
        let f = self.f_of(c);
        c * lambda - f.transpose() * (self.r_at(sigma) - &f) * &self.sigma0
    }
}

/// A real logarithm of `r` on sheet `sheet`: `V diag(log mu) V^{-1}` from the eigenvalues `mu`
/// and eigenvectors of `r`, where for every complex-conjugate pair the eigenvalue with positive
/// imaginary part takes `ln|mu| + i (arg mu + 2 pi sheet)` and its conjugate the conjugate
/// (every pair is moved by the same `2 pi sheet`; real positive eigenvalues keep their real
/// logarithm). Sheet 0 is the principal logarithm. Errors (named `field`) when `r` has a real
/// eigenvalue `<= 0`, is not diagonalizable, or the result fails the check `|e^L - r| <= 1e-8 |r|`.
pub fn logarithm_at(r: &DMatrix<f64>, sheet: i64, field: &str) -> Result<DMatrix<f64>> {
    let n = r.nrows();
    if r.iter().any(|x| !x.is_finite()) {
        return Err(Error::non_finite(
            field,
            "the matrix has a non-finite entry",
        ));
    }
    let scale = r.norm().max(f64::MIN_POSITIVE);
    let Some(mu) = crate::decomp::complex_eigenvalues(r) else {
        return Err(Error::range(
            field,
            "the eigenvalues of the matrix did not converge: no logarithm by eigenvectors",
        ));
    };
    let tol = 1e-10 * scale;
    // The eigenvalues, grouped (equal within tol), each group with its multiplicity.
    let mut groups: Vec<(Complex<f64>, usize)> = Vec::new();
    for &m in mu.iter() {
        if let Some(g) = groups.iter_mut().find(|g| (g.0 - m).norm() <= 1e3 * tol) {
            g.1 += 1;
        } else {
            groups.push((m, 1));
        }
    }
    let rc: DMatrix<Complex<f64>> = r.map(|x| Complex::new(x, 0.0));
    let mut v = DMatrix::<Complex<f64>>::zeros(n, n);
    let mut d = Vec::with_capacity(n);
    let mut col = 0;
    for &(m, mult) in &groups {
        if m.im.abs() <= 1e3 * tol && m.re <= 1e3 * tol {
            return Err(Error::range(
                field,
                format!(
                    "the matrix has the real eigenvalue {} <= 0: it has no real logarithm here",
                    crate::spec::num(m.re)
                ),
            ));
        }
        let shifted = &rc - DMatrix::<Complex<f64>>::identity(n, n) * m;
        let Some(svd) = crate::decomp::svd_complex(&shifted, false, true) else {
            return Err(Error::range(
                field,
                "eigenvectors failed (the SVD did not converge)",
            ));
        };
        let Some(vt) = svd.v_t else {
            return Err(Error::range(field, "eigenvectors failed"));
        };
        // singular values are sorted decreasingly: the last `mult` rows span the null space
        let sv = &svd.singular_values;
        if sv[n - mult] > 1e-6 * scale {
            return Err(Error::range(
                field,
                "the matrix is not diagonalizable (a defective eigenvalue): no logarithm by eigenvectors",
            ));
        }
        let real = m.im.abs() <= 1e3 * tol;
        let log = if real {
            Complex::new(libm::log(m.re), 0.0)
        } else {
            let shift = 2.0 * std::f64::consts::PI * sheet as f64;
            let ang = libm::atan2(m.im, m.re) + if m.im > 0.0 { shift } else { -shift };
            Complex::new(libm::log(libm::hypot(m.re, m.im)), ang)
        };
        for k in 0..mult {
            let row = vt.row(n - 1 - k);
            for i in 0..n {
                v[(i, col)] = row[i].conj();
            }
            d.push(log);
            col += 1;
        }
    }
    let Some(vinv) = v.clone().try_inverse() else {
        return Err(Error::range(
            field,
            "the matrix is not diagonalizable: singular eigenvector matrix",
        ));
    };
    let dm = DMatrix::<Complex<f64>>::from_diagonal(&DVector::from_vec(d));
    let l = &v * dm * vinv;
    let lr = l.map(|x| x.re);
    let imag = l.iter().map(|x| x.im.abs()).fold(0.0, f64::max);
    let back = (expm(&lr) - r).norm();
    if imag > 1e-8 * lr.norm().max(1.0) || back > 1e-8 * scale {
        return Err(Error::range(
            field,
            format!(
                "no accurate real logarithm on sheet {sheet} (imaginary part {imag:e}, |e^L - R| = {back:e}): R is ill-conditioned or defective"
            ),
        ));
    }
    Ok(lr)
}

/// [`logarithm_at`] with errors on the field `R`.
pub fn logarithm(r: &DMatrix<f64>, sheet: i64) -> Result<DMatrix<f64>> {
    logarithm_at(r, sheet, "R")
}
