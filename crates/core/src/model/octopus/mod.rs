//! The octopus family (`model.kind = "octopus"`; Du 2019, thesis ch. 7): a chain of d strict
//! saddles that gradient descent escapes one after the other, each slower than the last. The
//! function is in `pieces.rs` (shared with the exact engine); this file is the model (value,
//! gradient, exact Hessian-vector product, the region and escape columns, the domain, the
//! `stationaryPoints` query); `family.rs` is the spec and the build. docs/octopus.md.

pub mod exact;
pub mod family;
pub mod pieces;

use serde_json::{json, Value};

use crate::curvature::Query;
use crate::error::Result;
use crate::model::{Block, Column, Model, Role};
use exact::Engine;
use pieces::{Params, Phase, Violation};

pub use family::OctopusFamily;

/// The family's curvature queries.
pub const QUERIES: &[&str] = &["stationaryPoints"];

/// Largest dimension d (every step touches the d escape columns; documented in docs/octopus.md).
pub const MAX_D: usize = 4096;

/// 2^-1074, the smallest positive (subnormal) float64.
const SMALLEST_SUBNORMAL: f64 = f64::from_bits(1);

/// The columns before the d escape columns, in order.
pub const FIXED_COLUMNS: &[(&str, Role)] = &[
    ("loss", Role::Loss),
    ("gradNorm", Role::GradNorm),
    ("saddle", Role::Other),
    ("log10MinAbs", Role::Other),
    ("underflowAt", Role::Other),
];

/// How the iterates are carried: plain float64, or the exact engine (log scale for the
/// coordinates in the purely multiplicative phases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arithmetic {
    Float,
    LogScale,
}

/// The octopus model: f(x) = f0(|x_1|, ..., |x_d|), one parameter block `x` (d x 1).
pub struct Octopus {
    p: Params,
    arithmetic: Arithmetic,
    blocks: Vec<Block>,
    /// escapes[k - 1]: the first iteration at which the saddle index exceeded k.
    escapes: Vec<Option<u64>>,
    /// Float mode: the first iteration at which a coordinate that had been larger was 0 or
    /// +-2^-1074 (see [`Octopus::track`]).
    underflow_at: Option<u64>,
    /// The first iteration at which |x_j| > 2^-1074 (`u64::MAX`: not yet).
    big_since: Vec<u64>,
    /// The iteration last tracked (a smaller one means the session went back: after a
    /// divergence, or to replay lazy steps).
    last_t: Option<u64>,
    /// Why the point of the last `loss_grad` is outside D (None when it was inside).
    violation: Option<Violation>,
    /// The exact engine (logScale mode; created from the initial point by `set_reference`): it
    /// takes the GD steps (`gd_steps`) and answers saddle, log10MinAbs, underflowAt, escapes.
    engine: Option<Engine>,
}

impl Octopus {
    pub fn new(p: Params, arithmetic: Arithmetic) -> Octopus {
        Octopus {
            p,
            arithmetic,
            blocks: vec![Block {
                name: "x".into(),
                offset: 0,
                rows: p.d,
                cols: 1,
            }],
            escapes: vec![None; p.d],
            underflow_at: None,
            big_since: vec![u64::MAX; p.d],
            last_t: None,
            violation: None,
            engine: None,
        }
    }

    /// The constants.
    pub fn params(&self) -> &Params {
        &self.p
    }
    /// The arithmetic of the run.
    pub fn arithmetic(&self) -> Arithmetic {
        self.arithmetic
    }
    /// The 1-based saddle index of `x`: the first i with |x_i| < 2 tau, d + 1 when none.
    pub fn saddle(&self, x: &[f64]) -> usize {
        self.p.region(x).i + 1
    }
    /// escapes[k - 1]: the iteration at which saddle k's region was left (None until then).
    pub fn escapes(&self) -> &[Option<u64>] {
        match &self.engine {
            Some(e) => e.escapes(),
            None => &self.escapes,
        }
    }
    /// Float mode: the first iteration at which a coordinate that had been larger was 0 or
    /// +-2^-1074; logScale mode: the engine's (the first with |x_j| < 2^-1075).
    pub fn underflow_at(&self) -> Option<u64> {
        match &self.engine {
            Some(e) => e.underflow_at(),
            None => self.underflow_at,
        }
    }
    /// The exact engine (logScale mode).
    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }
    /// log10 of min |x_j| over j >= the active index (the coordinates that must still grow);
    /// -Infinity when one is exactly 0, NaN in the minimum's region (no such coordinate).
    pub fn log10_min_abs(&self, x: &[f64]) -> f64 {
        let i = self.p.region(x).i;
        if i >= x.len() {
            return f64::NAN;
        }
        let m = x[i..].iter().fold(f64::INFINITY, |m, v| m.min(v.abs()));
        libm::log10(m)
    }

    /// Track the escapes and the first underflow at iterate `t` (float mode; called after every
    /// step). Underflow: a coordinate that had been larger in magnitude is 0 or +-2^-1074, the
    /// smallest subnormal. From there float64 GD cannot follow the true iterate: with
    /// 2 eta max(L, gamma) <= 1/2 (eta = 1/(4L), gamma <= L) the update eta g of a coordinate
    /// +-2^-1074 rounds to 0, so it never moves again (shrinking or growing), and with larger
    /// steps it becomes 0. Going back to an earlier `t` (the session keeps the state before a divergence, or
    /// replays lazy steps) first drops what was recorded at iterations >= `t`. Points outside D
    /// are not tracked (the session stops the run there and goes back).
    pub fn track(&mut self, t: u64, w: &[f64]) {
        if self.last_t.is_some_and(|last| t <= last) {
            for e in self.escapes.iter_mut() {
                if e.is_some_and(|s| s >= t) {
                    *e = None;
                }
            }
            if self.underflow_at.is_some_and(|s| s >= t) {
                self.underflow_at = None;
            }
            for s in self.big_since.iter_mut() {
                if *s >= t {
                    *s = u64::MAX;
                }
            }
        }
        self.last_t = Some(t);
        if !self.p.in_domain(w) {
            return;
        }
        let saddle = self.saddle(w);
        // Saddle k (1-based) is left when the index exceeds k: escapes[0..saddle - 1].
        for e in self.escapes.iter_mut().take(saddle - 1) {
            if e.is_none() {
                *e = Some(t);
            }
        }
        for (since, &x) in self.big_since.iter_mut().zip(w) {
            if x.abs() > SMALLEST_SUBNORMAL {
                *since = (*since).min(t);
            } else if *since < t && self.underflow_at.is_none() {
                self.underflow_at = Some(t);
            }
        }
    }

    /// The `stationaryPoints` query: saddles k = 1..d, the minimum, nu, and the current point's
    /// saddle index and domain membership.
    pub fn stationary_points(&mut self, w: &[f64]) -> Value {
        let p = self.p;
        let d = p.d;
        let four = 4.0 * p.tau;
        let copies = |n: usize| -> Value {
            if n <= 53 {
                json!((1u64 << n) as f64)
            } else {
                Value::Null
            }
        };
        let point = |k: usize| -> Value {
            if d <= 32 {
                json!((0..d)
                    .map(|j| if j < k { four } else { 0.0 })
                    .collect::<Vec<_>>())
            } else {
                Value::Null
            }
        };
        let saddles: Vec<Value> = (1..=d)
            .map(|k| {
                let mut eig = vec![json!({"value": -2.0 * p.gamma, "multiplicity": 1})];
                if d > 1 {
                    eig.insert(0, json!({"value": 2.0 * p.l, "multiplicity": d - 1}));
                }
                json!({
                    "k": k,
                    "leading": k - 1,
                    "leadingValue": four,
                    "point": point(k - 1),
                    "value": -((k - 1) as f64) * p.nu,
                    "hessianEigenvalues": eig,
                    "mirrorCopies": copies(k - 1),
                    "mirrorCopiesLog2": k - 1,
                })
            })
            .collect();
        let mut g = vec![0.0; w.len()];
        let value = p.loss_grad(w, &mut g);
        let violation = p.violation(w);
        let region = p.region(w);
        json!({
            "what": "stationaryPoints",
            "d": d, "L": p.l, "gamma": p.gamma, "tau": p.tau, "nu": p.nu,
            "saddles": saddles,
            "minimum": {
                "leading": d,
                "leadingValue": four,
                "point": point(d),
                "value": -(d as f64) * p.nu,
                "hessianEigenvalues": [{"value": 2.0 * p.l, "multiplicity": d}],
                "mirrorCopies": copies(d),
                "mirrorCopiesLog2": d,
            },
            "current": {
                "saddle": region.i + 1,
                "phase": match region.phase {
                    Phase::Quadratic => "quadratic",
                    Phase::Spline => "spline",
                    Phase::Minimum => "minimum",
                },
                "inDomain": violation.is_none(),
                "undefinedReason": violation.map(|v| v.describe(&p)),
                "value": if value.is_finite() { json!(value) } else { Value::Null },
            },
        })
    }

    /// The d + 5 column names, in order.
    pub fn column_names(d: usize) -> Vec<String> {
        FIXED_COLUMNS
            .iter()
            .map(|(n, _)| n.to_string())
            .chain((1..=d).map(|k| format!("escape{k}")))
            .collect()
    }
}

impl Model for Octopus {
    fn dim(&self) -> usize {
        self.p.d
    }
    fn blocks(&self) -> &[Block] {
        &self.blocks
    }
    fn loss_grad(&mut self, w: &[f64], grad: &mut [f64]) -> f64 {
        let f = self.p.loss_grad(w, grad);
        self.violation = if f.is_nan() {
            self.p.violation(w)
        } else {
            None
        };
        f
    }
    fn hvp(&mut self, w: &[f64], v: &[f64], out: &mut [f64]) {
        self.p.hvp(w, v, out)
    }
    fn hvp_exact(&self) -> bool {
        true
    }
    fn set_reference(&mut self, w0: &[f64]) {
        if self.arithmetic == Arithmetic::LogScale {
            self.engine = Some(Engine::new(&self.p, w0));
        }
        self.escapes.fill(None);
        self.underflow_at = None;
        self.big_since.fill(u64::MAX);
        self.last_t = None;
        self.track(0, w0);
    }
    fn columns(&self) -> Vec<Column> {
        FIXED_COLUMNS
            .iter()
            .map(|(n, r)| Column::new(*n, *r))
            .chain((1..=self.p.d).map(|k| Column::new(format!("escape{k}"), Role::Other)))
            .collect()
    }
    fn metrics(&mut self, w: &[f64], grad: &[f64], loss: f64, out: &mut Vec<f64>) {
        out.push(loss);
        out.push(crate::linalg::norm(grad));
        let (saddle, lm) = match &self.engine {
            Some(e) => (e.saddle(), e.log10_min_abs(&self.p)),
            None => (self.saddle(w), self.log10_min_abs(w)),
        };
        out.push(saddle as f64);
        out.push(lm);
        out.push(self.underflow_at().map_or(f64::NAN, |t| t as f64));
        out.extend(
            self.escapes()
                .iter()
                .map(|e| e.map_or(f64::NAN, |t| t as f64)),
        );
    }
    fn matrix<'a>(
        &'a self,
        name: &str,
        w: &'a [f64],
        w0: &'a [f64],
    ) -> Result<(usize, usize, &'a [f64])> {
        match name {
            "x" => Ok((self.p.d, 1, w)),
            "x0" | "x_0" => Ok((self.p.d, 1, w0)),
            _ => Err(crate::Error::request(
                "matrix",
                format!("no matrix named {name:?} (expected x or x0)"),
            )),
        }
    }
    fn family_queries(&self) -> &'static [&'static str] {
        QUERIES
    }
    fn after_step(&mut self, t: u64, w: &[f64]) {
        match &mut self.engine {
            // The engine tracks its own steps; a smaller t is the session going back (after a
            // divergence it keeps the iterate before the step that left D).
            Some(e) => {
                if t < e.iteration() && !e.rewind(t) {
                    // Not kept (cannot happen on the session's paths): restart from w.
                    *e = Engine::new(&self.p, w);
                }
            }
            None => self.track(t, w),
        }
    }
    fn gd_steps(&mut self, w: &mut [f64], eta: f64, max: u64) -> Option<u64> {
        let p = self.p;
        // One call: the engine stops early before a step that leaves D (the session then keeps
        // the last iterate in D) or after its cap of single steps; the session calls again.
        self.engine
            .as_mut()
            .map(|e| e.advance(&p, w, eta, max).max(1))
    }
    fn undefined_reason(&self) -> Option<String> {
        // Which coordinate of the point of the last `loss_grad` is outside D, if it was.
        self.violation.map(|v| v.describe(&self.p))
    }
    fn family_query(&mut self, what: &str, w: &[f64], _q: &Query) -> Result<Value> {
        debug_assert_eq!(what, "stationaryPoints");
        Ok(self.stationary_points(w))
    }
}
