//! The critical points of the continuous-time linear network (Taghvaei, Kim & Mehta 2017,
//! Proposition 2; ../shared/REFERENCE.md section 2): `A_t = e^{2t Om} C e^{-2t Om}` with
//! `Om = (C - C^T)/2`, where `C` solves the characteristic equation
//! `lambda C = F^T (R(sigma) - F) Sigma0`, `F = e^{2T Om} e^{T C^T}`, and
//! `R(sigma) = R + sigma dR`.

use nalgebra::DMatrix;

use super::expm::expm;

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

    /// The residual `lambda C - F^T (R(sigma) - F) Sigma0` of the characteristic equation.
    pub fn residual(&self, c: &DMatrix<f64>, lambda: f64, sigma: f64) -> DMatrix<f64> {
        let f = self.f_of(c);
        c * lambda - f.transpose() * (self.r_at(sigma) - &f) * &self.sigma0
    }
}
