//! What every family's `build` uses: the named buffers of a spec ([`Buffers`]), the memory budget
//! ([`Budget`]) and checked allocation ([`zeroed`]). Validation names the full spec path of every
//! offending field.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::spec::{positive, MatrixRef};

/// The bulk data passed beside a spec, keyed by the spec path of the matrix reference
/// (`target.matrix`, `init.u0`, `model.layers[2].pattern`, ...). A family takes what its spec
/// references; whatever is left is an error ([`Buffers::finish`]).
#[derive(Debug, Default)]
pub struct Buffers(HashMap<String, Vec<f64>>);

impl From<HashMap<String, Vec<f64>>> for Buffers {
    fn from(m: HashMap<String, Vec<f64>>) -> Self {
        Buffers(m)
    }
}

impl Buffers {
    /// The `rows x cols` matrix referenced at spec path `name` (shape in the spec, data in the
    /// buffer of the same name), checked for shape and finiteness.
    pub fn matrix(
        &mut self,
        name: &str,
        shape: &MatrixRef,
        rows: usize,
        cols: usize,
    ) -> Result<Vec<f64>> {
        let r = positive(&format!("{name}.rows"), shape.rows)?;
        let c = positive(&format!("{name}.cols"), shape.cols)?;
        if r != rows || c != cols {
            return Err(Error::shape(
                name,
                format!("expected a {rows} x {cols} matrix, got {r} x {c}"),
            ));
        }
        let data = self.0.remove(name).ok_or_else(|| {
            Error::request(
                name,
                format!("the data of this {rows} x {cols} matrix was not passed"),
            )
        })?;
        if data.len() as u64 != rows as u64 * cols as u64 {
            return Err(Error::shape(
                name,
                format!(
                    "expected {} numbers ({rows} x {cols}, row-major), got {}",
                    rows as u64 * cols as u64,
                    data.len()
                ),
            ));
        }
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            return Err(Error::non_finite(
                name,
                format!("entry ({}, {}) is {}", i / cols, i % cols, data[i]),
            ));
        }
        Ok(data)
    }

    /// A flat buffer of `len` numbers named `name` (no shape in the spec); `what` describes it in
    /// errors.
    pub fn flat(&mut self, name: &str, len: usize, what: &str) -> Result<Vec<f64>> {
        let data = self
            .0
            .remove(name)
            .ok_or_else(|| Error::request(name, format!("expected {what}; it was not passed")))?;
        if data.len() != len {
            return Err(Error::shape(
                name,
                format!("expected {len} numbers ({what}), got {}", data.len()),
            ));
        }
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            return Err(Error::non_finite(name, format!("entry {i} is {}", data[i])));
        }
        Ok(data)
    }

    /// Every buffer was used: otherwise an error naming one left over (`hint` lists the buffers
    /// the family reads).
    pub fn finish(&self, hint: &str) -> Result<()> {
        match self.0.keys().min() {
            Some(name) => Err(Error::request(
                name.clone(),
                format!("this buffer is not used by the spec ({hint})"),
            )),
            None => Ok(()),
        }
    }
}

/// The default memory limit of a process when the binding sets none ([`set_max_bytes`]): 16 GiB
/// on 64-bit targets; on wasm32, 2 GiB of the 4 GiB heap: the rest is headroom for what is not
/// counted (queries, the allocator's fragmentation, the bindings' copies) and for one large block
/// to find a contiguous place (with 3 GiB, a 3.2 GB target passed and then failed to allocate).
#[cfg(target_pointer_width = "64")]
pub const DEFAULT_MAX_BYTES: u64 = 16 << 30;
#[cfg(not(target_pointer_width = "64"))]
pub const DEFAULT_MAX_BYTES: u64 = 2 << 30;
/// Kept for callers of the old constant: the default limit.
pub const MAX_BYTES: u64 = DEFAULT_MAX_BYTES;

/// The limit in force (0: [`DEFAULT_MAX_BYTES`]).
static LIMIT: AtomicU64 = AtomicU64::new(0);
/// Bytes held by live runs ([`Reservation`]s), counted against the limit of every new run.
static RESERVED: AtomicU64 = AtomicU64::new(0);

/// Set the memory limit of this process (the native binding derives it from the machine's
/// memory, or from `AUTOBALANCE_MAX_BYTES`); 0 restores [`DEFAULT_MAX_BYTES`]. On wasm32 the
/// limit is never above [`DEFAULT_MAX_BYTES`].
pub fn set_max_bytes(bytes: u64) {
    LIMIT.store(bytes.min(usize::MAX as u64 / 2), Ordering::Relaxed);
}

/// The memory limit in force, in bytes.
pub fn max_bytes() -> u64 {
    match LIMIT.load(Ordering::Relaxed) {
        0 => DEFAULT_MAX_BYTES,
        #[cfg(not(target_pointer_width = "64"))]
        n => n.min(DEFAULT_MAX_BYTES),
        #[cfg(target_pointer_width = "64")]
        n => n,
    }
}

/// Bytes reserved by the runs alive in this process.
pub fn reserved_bytes() -> u64 {
    RESERVED.load(Ordering::Relaxed)
}

/// Bytes held against the limit while a run is alive (released when dropped).
#[derive(Debug, Default)]
pub struct Reservation(u64);

impl Reservation {
    pub fn bytes(&self) -> u64 {
        self.0
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        RESERVED.fetch_sub(self.0, Ordering::Relaxed);
    }
}

/// A number of doubles: a size as the spec gives it (`usize`) or as computed in `u64` (the
/// same on every target, so that both backends agree on what is too large).
pub trait Doubles: Copy {
    fn n(self) -> u64;
}
impl Doubles for usize {
    fn n(self) -> u64 {
        self as u64
    }
}
impl Doubles for u64 {
    fn n(self) -> u64 {
        self
    }
}

/// The memory a run reserves before it allocates anything: every part is added (in exact
/// integer arithmetic, the same on every target), checked against the limit ([`max_bytes`])
/// less what the runs alive already hold, and an error names the spec field that asked for too
/// much. The message does not print the limit (it differs by machine and backend), so both
/// backends give the same text when both refuse.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    total: u128,
}

impl Budget {
    pub fn new() -> Self {
        Budget::default()
    }
    /// Bytes reserved so far.
    pub fn total(&self) -> u64 {
        self.total.min(u64::MAX as u128) as u64
    }
    /// Reserve `sum(a * b)` doubles for the spec field `field`.
    pub fn reserve<A: Doubles, B: Doubles>(
        &mut self,
        field: &str,
        parts: &[(A, B)],
    ) -> Result<u64> {
        self.total = self.fits(field, parts)?;
        Ok(self.total())
    }
    /// Check that `sum(a * b)` more doubles would fit, without reserving them (a part that is
    /// reserved later as a whole, such as one layer of a network).
    pub fn check<A: Doubles, B: Doubles>(&self, field: &str, parts: &[(A, B)]) -> Result<()> {
        self.fits(field, parts).map(|_| ())
    }
    /// Hold the bytes reserved against the limit of later runs, until the returned guard drops.
    /// Fails (`too_large`, naming `field`) when runs created in the meantime took the room.
    pub fn hold(&self, field: &str) -> Result<Reservation> {
        let bytes = self.total();
        let before = RESERVED.fetch_add(bytes, Ordering::Relaxed);
        let r = Reservation(bytes);
        if before as u128 + self.total > max_bytes() as u128 {
            return Err(too_large(field, self.total, before));
        }
        Ok(r)
    }
    fn fits<A: Doubles, B: Doubles>(&self, field: &str, parts: &[(A, B)]) -> Result<u128> {
        let mut total = self.total;
        for &(a, b) in parts {
            // Two u64 factors and 8 bytes fit in u128; the sum saturates far above any limit.
            total = total.saturating_add((a.n() as u128 * b.n() as u128).saturating_mul(8));
        }
        let held = reserved_bytes();
        if total.saturating_add(held as u128) > max_bytes() as u128 {
            return Err(too_large(field, total, held));
        }
        Ok(total)
    }
}

/// The `too_large` error; the bytes held by other runs are quoted only when they are why (the
/// problem alone fits), so that a problem too large by itself gets the same text everywhere.
fn too_large(field: &str, total: u128, held: u64) -> Error {
    let gib = |b: u128| b as f64 / (1u64 << 30) as f64;
    let held = if held > 0 && total <= max_bytes() as u128 {
        format!(
            " (besides {:.1} GiB held by other live runs)",
            gib(held as u128)
        )
    } else {
        String::new()
    };
    Error::too_large(
        field,
        format!(
            "this problem needs {:.1} GiB of memory (model, scratch space and recorded rows){held}, \
             above this backend's limit (AUTOBALANCE_MAX_BYTES, docs/api.md)",
            gib(total)
        ),
    )
}

/// `n` zeros, or a `too_large` error naming `field` when the allocation fails.
pub fn zeroed(field: &str, n: usize) -> Result<Vec<f64>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| Error::too_large(field, format!("could not allocate {n} numbers")))?;
    v.resize(n, 0.0);
    Ok(v)
}
