//! Mini-batch SGD: w <- w - eta grad F_B(w), batches B drawn without replacement from a seeded
//! shuffle of the samples per epoch. It never reads the full-batch gradient.

use super::{Objective, Setup, Step, StepResult};
use crate::error::{Error, Result};
use crate::linalg::axpy;
use crate::rng::Normal;
use crate::spec::{count, positive};

#[derive(Clone)]
pub struct Sgd {
    batch: usize,
    rng: Normal,
    /// The current epoch's order of the samples, and where the next batch starts in it.
    perm: Vec<usize>,
    pos: usize,
    /// The mini-batch gradient.
    g: Vec<f64>,
}

impl Sgd {
    pub fn new(batch_size: f64, seed: f64, s: &mut Setup) -> Result<Self> {
        let batch = positive("method.batchSize", batch_size)?;
        let m = s.samples().ok_or_else(|| {
            Error::range(
                "method.kind",
                "mini-batch SGD needs a loss averaged over samples (a network model)",
            )
        })?;
        if batch > m {
            return Err(Error::range(
                "method.batchSize",
                format!("expected at most the number of samples ({m}), got {batch}"),
            ));
        }
        let rng = Normal::new(count("method.seed", seed)?);
        Ok(Sgd {
            batch,
            rng,
            perm: (0..m).collect(),
            // An exhausted epoch: the first step shuffles.
            pos: m,
            g: s.vector(),
        })
    }
}

impl Step for Sgd {
    fn name(&self) -> &'static str {
        "sgd"
    }
    fn step(&mut self, f: &mut Objective, w: &mut [f64], _grad: &[f64], eta: f64) -> StepResult {
        let n = self.perm.len();
        if self.pos + self.batch > n {
            // New epoch: Fisher-Yates shuffle from the seeded stream.
            for i in (1..n).rev() {
                let j = ((self.rng.uniform_open() * (i + 1) as f64) as usize).min(i);
                self.perm.swap(i, j);
            }
            self.pos = 0;
        }
        let idx = &self.perm[self.pos..self.pos + self.batch];
        self.pos += self.batch;
        f.model.set_batch(Some(idx));
        f.eval(w, &mut self.g);
        f.model.set_batch(None);
        axpy(-eta, &self.g, w);
        Ok(eta)
    }
    fn reads_no_full_gradient(&self) -> bool {
        true
    }
}
