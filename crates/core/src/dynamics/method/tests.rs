//! Every method of the registry on a small smooth model averaged over samples.

use super::{build, objective, Method, Setup, REGISTRY};
use crate::error::{Error, Result};
use crate::model::{Block, Column, Model};
use crate::spec::MethodSpec;

/// L(w) = mean over the batch of sum_i a_i / 2 (w_i - c_{s,i})^2, plus sum_i w_i^4 / 40.
struct Quartic {
    centers: Vec<Vec<f64>>,
    a: Vec<f64>,
    batch: Option<Vec<usize>>,
    blocks: Vec<Block>,
}

const DIM: usize = 5;

impl Quartic {
    fn new() -> Self {
        Quartic {
            centers: vec![
                vec![0.1, -0.2, 0.0, 0.3, 0.1],
                vec![-0.1, 0.2, 0.1, 0.0, -0.3],
                vec![0.2, 0.0, -0.1, -0.2, 0.2],
            ],
            a: vec![1.0, 1.5, 2.0, 2.5, 3.0],
            batch: None,
            blocks: vec![Block {
                name: "w".into(),
                offset: 0,
                rows: DIM,
                cols: 1,
            }],
        }
    }
}

impl Model for Quartic {
    fn dim(&self) -> usize {
        DIM
    }
    fn blocks(&self) -> &[Block] {
        &self.blocks
    }
    fn loss_grad(&mut self, w: &[f64], grad: &mut [f64]) -> f64 {
        let all: Vec<usize> = (0..self.centers.len()).collect();
        let batch = self.batch.as_ref().unwrap_or(&all);
        let m = batch.len() as f64;
        let mut loss = 0.0;
        for i in 0..DIM {
            let mut g = w[i] * w[i] * w[i] / 10.0;
            loss += w[i].powi(4) / 40.0;
            for &s in batch {
                let d = w[i] - self.centers[s][i];
                loss += 0.5 * self.a[i] * d * d / m;
                g += self.a[i] * d / m;
            }
            grad[i] = g;
        }
        loss
    }
    fn set_reference(&mut self, _w0: &[f64]) {}
    fn columns(&self) -> Vec<Column> {
        Vec::new()
    }
    fn metrics(&mut self, _w: &[f64], _grad: &[f64], _loss: f64, _out: &mut Vec<f64>) {}
    fn matrix<'a>(
        &'a self,
        name: &str,
        _w: &'a [f64],
        _w0: &'a [f64],
    ) -> Result<(usize, usize, &'a [f64])> {
        Err(Error::request(name, "no matrices"))
    }
    fn samples(&self) -> Option<usize> {
        Some(self.centers.len())
    }
    fn set_batch(&mut self, batch: Option<&[usize]>) {
        self.batch = batch.map(|b| b.to_vec());
    }
}

const WD: f64 = 0.01;

/// A run as the session drives it: the method, the iterate and grad F there.
#[derive(Clone)]
struct Run {
    method: Method,
    w: Vec<f64>,
    grad: Vec<f64>,
}

impl Run {
    fn new(spec: &MethodSpec, model: &mut Quartic) -> Run {
        let method = Method::from_spec(Some(spec), WD, DIM, model.samples()).unwrap();
        let w = vec![1.0, -0.8, 0.6, 0.9, -0.5];
        let mut grad = vec![0.0; DIM];
        objective(model, WD, &w, &mut grad);
        Run { method, w, grad }
    }
    /// `steps` steps of size `eta`; the bits of every iterate, step size, flow time and column.
    fn advance(&mut self, model: &mut Quartic, steps: usize, eta: f64) -> Vec<u64> {
        let mut bits = Vec::new();
        for _ in 0..steps {
            let h = self
                .method
                .step(model, &mut self.w, &self.grad, eta)
                .unwrap();
            if self.method.take_fsal(&mut self.grad).is_none() {
                objective(model, WD, &self.w, &mut self.grad);
            }
            let mut cols = Vec::new();
            self.method.columns(&mut cols);
            bits.extend(
                self.w
                    .iter()
                    .chain(&self.grad)
                    .chain(&cols)
                    .map(|x| x.to_bits()),
            );
            bits.extend([h, self.method.time, self.method.next_h(eta)].map(f64::to_bits));
        }
        bits
    }
}

fn full_loss(model: &mut Quartic, w: &[f64]) -> f64 {
    let mut g = vec![0.0; DIM];
    objective(model, 0.0, w, &mut g) + 0.5 * WD * w.iter().map(|x| x * x).sum::<f64>()
}

fn name(spec: &MethodSpec) -> &'static str {
    Method::from_spec(Some(spec), 0.0, DIM, Some(3))
        .unwrap()
        .name()
}

#[test]
fn the_registry_holds_every_method_kind_once() {
    // serde lists the kinds it accepts when it meets an unknown one.
    let e = serde_json::from_str::<MethodSpec>(r#"{"kind": "?"}"#)
        .err()
        .unwrap()
        .to_string();
    let list = e.split("expected one of ").nth(1).expect(&e);
    let mut kinds: Vec<&str> = list
        .split(", ")
        .map(|k| k.split('`').nth(1).unwrap())
        .collect();
    let mut names: Vec<&str> = REGISTRY.iter().map(name).collect();
    kinds.sort();
    names.sort();
    assert_eq!(names, kinds);
}

#[test]
fn a_small_step_reduces_the_objective() {
    for spec in REGISTRY {
        let mut model = Quartic::new();
        let mut run = Run::new(spec, &mut model);
        let before = full_loss(&mut model, &run.w);
        run.advance(&mut model, 1, 1e-3);
        let after = full_loss(&mut model, &run.w);
        assert!(after < before, "{}: {before} -> {after}", name(spec));
    }
}

#[test]
fn a_clone_continues_bit_for_bit() {
    for spec in REGISTRY {
        let mut model = Quartic::new();
        let mut run = Run::new(spec, &mut model);
        run.advance(&mut model, 7, 0.05);
        let mut copy = run.clone();
        let a = run.advance(&mut model, 9, 0.05);
        let b = copy.advance(&mut model, 9, 0.05);
        assert_eq!(a, b, "{}", name(spec));
        assert!(run.w.iter().all(|x| x.is_finite()), "{}", name(spec));
    }
}

#[test]
fn buffers_are_the_vectors_a_method_takes() {
    assert_eq!(Method::buffers(None), 0);
    for spec in REGISTRY {
        for dim in [1, DIM, 1000] {
            let mut setup = Setup {
                dim,
                samples: Some(3),
                vectors: 0,
            };
            build(Some(spec), &mut setup).unwrap();
            assert_eq!(setup.vectors, Method::buffers(Some(spec)), "{}", name(spec));
        }
    }
    // Invalid parameters do not change the count (the session budgets before validating).
    let bad = MethodSpec::Nesterov { beta: 2.0 };
    assert!(Method::from_spec(Some(&bad), 0.0, DIM, None).is_err());
    assert_eq!(
        Method::buffers(Some(&bad)),
        Method::buffers(Some(&MethodSpec::Nesterov { beta: 0.5 }))
    );
}

#[test]
fn queries_name_the_flows_and_the_lazy_methods() {
    let with = |q: fn(&Method) -> bool| -> Vec<&str> {
        REGISTRY
            .iter()
            .map(|s| Method::from_spec(Some(s), 0.0, DIM, Some(3)).unwrap())
            .filter(q)
            .map(|m| m.name())
            .collect()
    };
    assert_eq!(
        with(Method::is_flow),
        ["euler", "rk4", "dopri5", "implicitMidpoint"]
    );
    assert_eq!(with(Method::reads_no_full_gradient), ["nesterov", "sgd"]);
    assert_eq!(with(Method::needs_pattern_freeze), ["implicitMidpoint"]);
    assert_eq!(
        Method::from_spec(None, 0.0, DIM, None).unwrap().name(),
        "gd"
    );
}
