//! Step-size schedules for gradient descent.

use crate::error::Result;
use crate::spec::{finite, positive_real, ScheduleSpec};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    Constant {
        eta: f64,
    },
    /// eta_t = c (t+1)^-(1/2+delta)
    InversePower {
        c: f64,
        delta: f64,
    },
    /// eta_t = scale / (t+1), scale = sqrt(eps/r) / (100 ||M*||_F^1.5)
    Harmonic {
        scale: f64,
    },
}

impl Schedule {
    /// Validate a schedule spec. `rank` and `target_norm` (||M*||_F) are needed by Theorem 3.1.
    pub fn from_spec(spec: &ScheduleSpec, rank: usize, target_norm: f64) -> Result<Self> {
        Ok(match *spec {
            ScheduleSpec::Constant { eta } => Schedule::Constant {
                eta: positive_real("schedule.eta", eta)?,
            },
            ScheduleSpec::InversePower { c, delta } => {
                let c = positive_real("schedule.c", c)?;
                let delta = finite("schedule.delta", delta)?;
                if !(delta > 0.0 && delta <= 0.5) {
                    return Err(crate::error::Error::range(
                        "schedule.delta",
                        format!("expected 0 < delta <= 1/2, got {delta}"),
                    ));
                }
                Schedule::InversePower { c, delta }
            }
            ScheduleSpec::Theorem31 { eps } => {
                let eps = positive_real("schedule.eps", eps)?;
                if target_norm <= 0.0 {
                    return Err(crate::error::Error::range(
                        "schedule",
                        "the Theorem 3.1 schedule needs a nonzero target (||M*||_F > 0)",
                    ));
                }
                Schedule::Harmonic {
                    scale: libm::sqrt(eps / rank as f64) / (100.0 * libm::pow(target_norm, 1.5)),
                }
            }
        })
    }

    /// True when every step has the same size.
    pub fn is_constant(&self) -> bool {
        matches!(self, Schedule::Constant { .. })
    }

    /// Step size used for the step from iterate t to t+1.
    pub fn eta(&self, t: u64) -> f64 {
        let tp1 = (t + 1) as f64;
        match *self {
            Schedule::Constant { eta } => eta,
            Schedule::InversePower { c, delta } => c * libm::pow(tp1, -(0.5 + delta)),
            Schedule::Harmonic { scale } => scale / tp1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_match_their_formulas() {
        let s = Schedule::from_spec(
            &ScheduleSpec::InversePower {
                c: 0.3,
                delta: 0.25,
            },
            2,
            1.0,
        )
        .unwrap();
        assert!((s.eta(0) - 0.3).abs() < 1e-15);
        assert!((s.eta(15) - 0.3 * 16f64.powf(-0.75)).abs() < 1e-15);
        let s = Schedule::from_spec(&ScheduleSpec::Theorem31 { eps: 0.04 }, 4, 4.0).unwrap();
        // sqrt(0.01) / (100 * 8) / (t+1)
        assert!((s.eta(9) - 0.1 / 800.0 / 10.0).abs() < 1e-18);
        assert!(
            Schedule::from_spec(&ScheduleSpec::InversePower { c: 1.0, delta: 0.6 }, 1, 1.0)
                .is_err()
        );
        assert!(Schedule::from_spec(&ScheduleSpec::Constant { eta: 0.0 }, 1, 1.0).is_err());
    }
}
