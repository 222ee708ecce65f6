//! Dynamics: step-size schedules and gradient descent.

pub mod schedule;
