//! Dynamics: step-size schedules and gradient descent.

pub mod method;
pub mod schedule;
