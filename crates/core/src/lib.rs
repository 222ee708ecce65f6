//! autobalance-core: the numerics of autobalance. No binding code and no I/O: the N-API and
//! WebAssembly crates call [`session::Session`] and map [`error::Error`] to JS errors.

// Index loops read like the formulas they implement.
#![allow(clippy::needless_range_loop)]

pub mod args;
pub mod build;
pub mod curvature;
pub mod decomp;
pub mod dynamics;
pub mod error;
pub mod linalg;
pub mod model;
pub mod par;
pub mod presets;
pub mod quadrature;
pub mod rng;
pub mod session;
pub mod spec;
pub mod study;
pub mod vecmath;

pub use error::{Error, ErrorCode, Result};
pub use model::{Column, Family, Model, Role, FAMILIES};
pub use session::{Session, Status, Stop};

/// Version of the core crate.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
