//! What every family's `build` uses: the named buffers of a spec ([`Buffers`]), the memory budget
//! ([`Budget`]) and checked allocation ([`zeroed`]). Validation names the full spec path of every
//! offending field.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::spec::{positive, MatrixRef};

/// Largest working set a problem may ask for, in bytes.
#[cfg(target_pointer_width = "64")]
pub const MAX_BYTES: u64 = 32 << 30;
#[cfg(not(target_pointer_width = "64"))]
pub const MAX_BYTES: u64 = 2 << 30;

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
        if data.len() != rows * cols {
            return Err(Error::shape(
                name,
                format!(
                    "expected {} numbers ({rows} x {cols}, row-major), got {}",
                    rows * cols,
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

/// The memory a run reserves before it allocates anything: every part is added, checked
/// against [`MAX_BYTES`], and an error names the spec field that asked for too much.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    total: u64,
}

impl Budget {
    pub fn new() -> Self {
        Budget::default()
    }
    /// Bytes reserved so far.
    pub fn total(&self) -> u64 {
        self.total
    }
    /// Reserve `sum(a * b)` doubles for the spec field `field`.
    pub fn reserve(&mut self, field: &str, parts: &[(usize, usize)]) -> Result<u64> {
        self.total = self.fits(field, parts)?;
        Ok(self.total)
    }
    /// Check that `sum(a * b)` more doubles would fit, without reserving them (a part that is
    /// reserved later as a whole, such as one layer of a network).
    pub fn check(&self, field: &str, parts: &[(usize, usize)]) -> Result<()> {
        self.fits(field, parts).map(|_| ())
    }
    fn fits(&self, field: &str, parts: &[(usize, usize)]) -> Result<u64> {
        let mut total = self.total;
        for &(a, b) in parts {
            let n = (a as u64)
                .checked_mul(b as u64)
                .and_then(|n| n.checked_mul(8))
                .and_then(|n| n.checked_add(total));
            total = n.ok_or_else(|| Error::too_large(field, "size overflows"))?;
        }
        if total > MAX_BYTES {
            return Err(Error::too_large(
                field,
                format!(
                    "this problem needs {:.1} GiB of memory, above the limit of {:.1} GiB",
                    total as f64 / (1u64 << 30) as f64,
                    MAX_BYTES as f64 / (1u64 << 30) as f64
                ),
            ));
        }
        Ok(total)
    }
}

/// `n` zeros, or a `too_large` error naming `field` when the allocation fails.
pub fn zeroed(field: &str, n: usize) -> Result<Vec<f64>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| Error::too_large(field, format!("could not allocate {n} numbers")))?;
    v.resize(n, 0.0);
    Ok(v)
}
