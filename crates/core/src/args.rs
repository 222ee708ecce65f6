//! Validation of the plain numeric arguments of binding calls (`advance(maxSteps)`,
//! `column(name, start)`), so both bindings refuse the same inputs with the same errors.

use crate::error::{Error, Result};

/// A JS number that must be a count: a non-negative integer; `Infinity` means no limit.
pub fn count_arg(field: &str, x: f64) -> Result<u64> {
    if x == f64::INFINITY {
        Ok(u64::MAX)
    } else if x.is_finite() && x >= 0.0 && x.fract() == 0.0 {
        Ok(x as u64)
    } else {
        Err(Error::request(
            field,
            format!("expected a non-negative integer, got {x}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(count_arg("n", 3.0), Ok(3));
        assert_eq!(count_arg("n", f64::INFINITY), Ok(u64::MAX));
        for bad in [-1.0, 2.5, f64::NAN, f64::NEG_INFINITY] {
            assert_eq!(count_arg("n", bad).unwrap_err().field, "n");
        }
    }
}
