//! A toy model family, kept as a test fixture: it shows that a family is one file (a `Model`
//! and a `Family`) plus one registry line (see `conformance.rs`), and it exercises every
//! default of the `Model` trait (the central-difference Hessian-vector product, no symmetry, no
//! samples, no family queries).
//!
//!   f(w) = 1/2 (w - c)^T A (w - c),   A = H diag(curvatures) H,   H = I - 2 u u^T / (u^T u),
//!
//! with u and c seeded (a Householder reflection keeps A symmetric with the given eigenvalues).

use autobalance_core::build::{zeroed, Budget, Buffers};
use autobalance_core::model::{Block, Built, Column, Family, Model, Role, RunInfo};
use autobalance_core::rng::Normal;
use autobalance_core::spec::{count, finite, from_value, positive};
use autobalance_core::{Error, Result};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Problem {
    model: ModelSpec,
    init: InitSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ModelSpec {
    #[allow(dead_code)]
    kind: String,
    curvatures: Vec<f64>,
    seed: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InitSpec {
    std: f64,
    seed: f64,
}

pub struct Quadratic {
    a: Vec<f64>,
    c: Vec<f64>,
    blocks: Vec<Block>,
    d: Vec<f64>,
}

impl Quadratic {
    /// The Hessian A (row-major n x n).
    pub fn hessian(&self) -> &[f64] {
        &self.a
    }
}

impl Model for Quadratic {
    fn dim(&self) -> usize {
        self.c.len()
    }
    fn blocks(&self) -> &[Block] {
        &self.blocks
    }
    fn loss_grad(&mut self, w: &[f64], grad: &mut [f64]) -> f64 {
        let n = w.len();
        for ((d, x), c) in self.d.iter_mut().zip(w).zip(&self.c) {
            *d = x - c;
        }
        let mut f = 0.0;
        for (i, gi) in grad.iter_mut().enumerate() {
            let g: f64 = (0..n).map(|j| self.a[i * n + j] * self.d[j]).sum();
            *gi = g;
            f += 0.5 * self.d[i] * g;
        }
        f
    }
    fn set_reference(&mut self, _w0: &[f64]) {}
    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("loss", Role::Loss),
            Column::new("distance", Role::Residual),
            Column::new("gradNorm", Role::GradNorm),
        ]
    }
    fn metrics(&mut self, w: &[f64], grad: &[f64], loss: f64, out: &mut Vec<f64>) {
        let dist: f64 = w.iter().zip(&self.c).map(|(a, b)| (a - b) * (a - b)).sum();
        let g: f64 = grad.iter().map(|x| x * x).sum();
        out.extend([loss, dist.sqrt(), g.sqrt()]);
    }
    fn matrix<'a>(
        &'a self,
        name: &str,
        w: &'a [f64],
        w0: &'a [f64],
    ) -> Result<(usize, usize, &'a [f64])> {
        let n = w.len();
        match name {
            "w" => Ok((n, 1, w)),
            "w_0" => Ok((n, 1, w0)),
            "center" => Ok((n, 1, &self.c)),
            "A" => Ok((n, n, &self.a)),
            _ => Err(Error::request(
                "matrix",
                format!("no matrix named {name:?}"),
            )),
        }
    }
}

pub struct QuadraticFamily;

impl Family for QuadraticFamily {
    fn kind(&self) -> &'static str {
        "quadratic"
    }
    fn fields(&self) -> &'static [&'static str] {
        &["init"]
    }
    fn build(
        &self,
        problem: Value,
        buffers: &mut Buffers,
        run: &RunInfo,
        budget: &mut Budget,
    ) -> Result<Built> {
        let p: Problem = from_value(problem, "", "spec")?;
        let n = p.model.curvatures.len();
        positive("model.curvatures.length", n as f64)?;
        for (i, &k) in p.model.curvatures.iter().enumerate() {
            finite(&format!("model.curvatures[{i}]"), k)?;
        }
        let seed = count("model.seed", p.model.seed)?;
        let std = finite("init.std", p.init.std)?;
        let init_seed = count("init.seed", p.init.seed)?;
        budget.reserve("model", &[(n, n), (n, run.per_param + 3)])?;
        budget.reserve("steps", &[(run.rows_max, run.other_columns + 3)])?;
        buffers.finish("the quadratic family takes no buffers")?;

        let mut rng = Normal::new(seed);
        let mut u = zeroed("model", n)?;
        rng.fill(&mut u, 1.0);
        let mut c = zeroed("model", n)?;
        rng.fill(&mut c, 1.0);
        let uu: f64 = u.iter().map(|x| x * x).sum();
        let h = |i: usize, j: usize| f64::from(u8::from(i == j)) - 2.0 * u[i] * u[j] / uu;
        let mut a = zeroed("model", n * n)?;
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n)
                    .map(|k| h(i, k) * p.model.curvatures[k] * h(k, j))
                    .sum();
            }
        }
        let mut w0 = zeroed("init", n)?;
        Normal::new(init_seed).fill(&mut w0, std);
        let model = Quadratic {
            a,
            c,
            blocks: vec![Block {
                name: "w".into(),
                offset: 0,
                rows: n,
                cols: 1,
            }],
            d: vec![0.0; n],
        };
        Ok(Built {
            model: Box::new(model),
            w0,
        })
    }
    fn examples(&self) -> Vec<(&'static str, Value)> {
        vec![(
            "quadratic",
            json!({
                "model": {"kind": "quadratic", "curvatures": [3.0, 1.0, 0.5, -0.2], "seed": 1},
                "init": {"std": 1.0, "seed": 2},
                "schedule": {"kind": "constant", "eta": 0.05},
                "steps": 40,
                "recordEvery": 5,
            }),
        )]
    }
}
