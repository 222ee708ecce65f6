//! Continuous-time linear networks (Taghvaei, Kim & Mehta 2017): `dX/dt = A_t X` on `[0, T]`.
//! `expm` is the matrix exponential and its Frechet derivative; `critical` the characteristic
//! equation of the critical points, its Jacobian, Newton's method and the matrix logarithms.

pub mod critical;
pub mod expm;
