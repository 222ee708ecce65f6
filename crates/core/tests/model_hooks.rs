//! The session's optional model hooks (`Model::after_step`, `Model::gd_steps`,
//! `Model::undefined_reason`) on a toy family: f(w) = (a/2) ||w||^2 on the box |w_i| <= bound
//! (NaN outside), whose GD spans have the closed form w_n = (1 - eta a)^n w_0.

use std::collections::HashMap;

use autobalance_core::build::{Budget, Buffers};
use autobalance_core::model::{Block, Built, Column, Family, Model, Role, RunInfo};
use autobalance_core::{Result, Session};
use serde_json::{json, Value};

struct Decay {
    a: f64,
    bound: f64,
    span: bool,
    blocks: Vec<Block>,
    /// Every `t` that `after_step` saw, in order.
    seen: Vec<u64>,
    /// Calls of `gd_steps` and their `max`.
    asked: Vec<u64>,
    outside: Option<usize>,
}

impl Model for Decay {
    fn dim(&self) -> usize {
        self.blocks[0].rows
    }
    fn blocks(&self) -> &[Block] {
        &self.blocks
    }
    fn loss_grad(&mut self, w: &[f64], grad: &mut [f64]) -> f64 {
        self.outside = w.iter().position(|x| x.abs() > self.bound);
        if self.outside.is_some() {
            grad.fill(f64::NAN);
            return f64::NAN;
        }
        for (g, x) in grad.iter_mut().zip(w) {
            *g = self.a * x;
        }
        0.5 * self.a * w.iter().map(|x| x * x).sum::<f64>()
    }
    fn set_reference(&mut self, _w0: &[f64]) {}
    fn columns(&self) -> Vec<Column> {
        vec![Column::new("loss", Role::Loss)]
    }
    fn metrics(&mut self, _w: &[f64], _grad: &[f64], loss: f64, out: &mut Vec<f64>) {
        out.push(loss);
    }
    fn matrix<'a>(
        &'a self,
        _name: &str,
        w: &'a [f64],
        _w0: &'a [f64],
    ) -> Result<(usize, usize, &'a [f64])> {
        Ok((w.len(), 1, w))
    }
    fn after_step(&mut self, t: u64, _w: &[f64]) {
        self.seen.push(t);
    }
    fn gd_steps(&mut self, w: &mut [f64], eta: f64, max: u64) -> Option<u64> {
        if !self.span {
            return None;
        }
        self.asked.push(max);
        // Stop a span where it would leave the box: the step that leaves it is taken alone.
        let q = 1.0 - eta * self.a;
        let mut n = max;
        let top = w.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        if q.abs() > 1.0 && top > 0.0 {
            let inside = ((self.bound / top).ln() / q.abs().ln()).floor().max(1.0);
            n = n.min(inside as u64);
        }
        let f = q.powi(n as i32);
        for x in w.iter_mut() {
            *x *= f;
        }
        Some(n)
    }
    fn undefined_reason(&self) -> Option<String> {
        self.outside
            .map(|i| format!("x[{i}] left the box |x| <= {}", self.bound))
    }
}

struct DecayFamily;

impl Family for DecayFamily {
    fn kind(&self) -> &'static str {
        "decay"
    }
    fn fields(&self) -> &'static [&'static str] {
        &[]
    }
    fn build(
        &self,
        problem: Value,
        buffers: &mut Buffers,
        run: &RunInfo,
        budget: &mut Budget,
    ) -> Result<Built> {
        let m = &problem["model"];
        let a = m["a"].as_f64().unwrap();
        let span = m["span"].as_bool().unwrap();
        budget.reserve("steps", &[(run.rows_max, run.other_columns + 1)])?;
        buffers.finish("no buffers")?;
        Ok(Built {
            model: Box::new(Decay {
                a,
                bound: 2.0,
                span,
                blocks: vec![Block {
                    name: "w".into(),
                    offset: 0,
                    rows: 3,
                    cols: 1,
                }],
                seen: vec![],
                asked: vec![],
                outside: None,
            }),
            w0: vec![1.0, -0.5, 0.25],
        })
    }
    fn examples(&self) -> Vec<(&'static str, Value)> {
        vec![]
    }
}

fn session(a: f64, span: bool, extra: Value) -> Session {
    let mut spec = json!({
        "model": {"kind": "decay", "a": a, "span": span},
        "schedule": {"kind": "constant", "eta": 0.1},
        "steps": 1000,
        "recordEvery": 100,
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    Session::with_families(&[&DecayFamily], &spec.to_string(), HashMap::new()).unwrap()
}

fn decay(s: &Session) -> &Decay {
    s.model().downcast_ref::<Decay>().unwrap()
}

#[test]
fn spans_give_the_rows_of_single_steps() {
    let mut one = session(1.0, false, json!({}));
    one.advance(u64::MAX);
    let mut many = session(1.0, true, json!({}));
    many.advance(u64::MAX);
    assert_eq!(
        one.column("step", 0).unwrap(),
        many.column("step", 0).unwrap()
    );
    for name in ["loss", "time", "eta"] {
        let (a, b) = (one.column(name, 0).unwrap(), many.column(name, 0).unwrap());
        assert_eq!(a.len(), 11);
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(1e-300),
                "{name}: {x} vs {y}"
            );
        }
    }
    // Single steps: after_step saw every iterate; spans: one per recorded row.
    assert_eq!(decay(&one).seen, (1..=1000).collect::<Vec<_>>());
    assert_eq!(
        decay(&many).seen,
        (1..=10).map(|k| 100 * k).collect::<Vec<_>>()
    );
    assert!(decay(&one).asked.is_empty());
    assert_eq!(decay(&many).asked, vec![100; 10]);
}

#[test]
fn chunking_changes_nothing_and_never_cuts_a_span() {
    let mut whole = session(1.0, true, json!({}));
    whole.advance(u64::MAX);
    let mut chunked = session(1.0, true, json!({}));
    while !chunked.status().finished {
        chunked.advance(37);
    }
    // Spans end at recorded rows only, never at a chunk's end (their bits depend on their
    // length): the chunked run is the same bit for bit.
    assert_eq!(decay(&chunked).asked, vec![100; 10]);
    for name in ["step", "loss"] {
        assert_eq!(
            whole.column(name, 0).unwrap(),
            chunked.column(name, 0).unwrap()
        );
    }
}

#[test]
fn spans_are_only_asked_of_plain_gd() {
    for extra in [
        json!({"method": {"kind": "momentum", "beta": 0.5}}),
        json!({"weightDecay": 0.01}),
    ] {
        let mut s = session(1.0, true, extra);
        s.advance(u64::MAX);
        assert!(decay(&s).asked.is_empty());
        assert_eq!(decay(&s).seen.len(), 1000);
    }
    // A schedule that is not constant: one step at a time.
    let mut s = session(
        1.0,
        true,
        json!({"schedule": {"kind": "inversePower", "c": 0.1, "delta": 0.5}}),
    );
    s.advance(u64::MAX);
    assert_eq!(decay(&s).asked, vec![1; 1000]);
}

#[test]
fn a_point_outside_the_domain_stops_with_the_models_reason() {
    // a < 0: the iterate grows by 1.1 per step and leaves the box |x| <= 2 after 8 steps.
    for span in [false, true] {
        let mut s = session(-1.0, span, json!({}));
        let st = s.advance(u64::MAX);
        assert_eq!(st.stop.map(|x| format!("{x:?}")), Some("Diverged".into()));
        let reason = st.reason.unwrap();
        assert!(reason.contains("x[0] left the box"), "{reason}");
        assert!(reason.contains("the state kept is step 7"), "{reason}");
        assert_eq!(s.status().step, 7);
        assert!(s.params()[0].abs() <= 2.0);
        assert_eq!(*decay(&s).seen.last().unwrap(), 7);
        let time = s.column("time", 0).unwrap();
        assert!((time[time.len() - 1] - 0.7).abs() < 1e-12);
    }
}
