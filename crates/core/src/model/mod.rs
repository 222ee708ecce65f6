//! Model families: one folder each (`mf/`, `net/`), behind one [`Model`] trait (what a run, the
//! recorder and the curvature solvers need of a model) and one [`Family`] trait (how a spec
//! becomes a model and its initial point). [`FAMILIES`] is the registry: `model.kind` picks the
//! family. Adding a family is one folder (or file) implementing both traits and one line in
//! [`FAMILIES`]; see docs/ARCHITECTURE.md, "Adding a model family".
//!
//! Every model keeps its parameters in one flat `Vec<f64>` made of named blocks (see [`Block`]),
//! so that integrators, eigen-solvers and recorders work for every model.

use std::any::Any;

use serde::Serialize;
use serde_json::Value;

use crate::build::{Budget, Buffers};
use crate::curvature::Query;
use crate::error::{Error, Result};
use crate::spec::MethodSpec;

pub mod continuous;
pub mod convfilter;
pub mod deep;
pub mod mf;
pub mod net;
pub mod octopus;
pub mod wide;
pub mod wncnn;

/// The registered model families, in the order error messages list them.
pub static FAMILIES: &[&dyn Family] = &[
    &mf::MfFamily,
    &net::NetFamily,
    &octopus::OctopusFamily,
    &wncnn::WeightNormCnnFamily,
    &convfilter::ConvFilterFamily,
    &continuous::ContinuousFamily,
    &deep::DeepSmoothFamily,
    &wide::TwoLayerReluFamily,
];

/// The registered families as JSON, for the bindings and the TS conformance tests:
/// `[{"kind", "fields", "queries", "examples": [{"name", "spec"}]}]`.
pub fn families_json() -> String {
    let list: Vec<Value> = FAMILIES
        .iter()
        .map(|f| {
            let examples: Vec<Value> = f
                .examples()
                .into_iter()
                .map(|(name, spec)| serde_json::json!({"name": name, "spec": spec}))
                .collect();
            serde_json::json!({
                "kind": f.kind(),
                "fields": f.fields(),
                "queries": f.queries(),
                "examples": examples,
            })
        })
        .collect();
    Value::Array(list).to_string()
}

/// The family whose `kind` is `kind` in `families`.
pub fn family<'a>(families: &[&'a dyn Family], kind: &str) -> Option<&'a dyn Family> {
    families.iter().copied().find(|f| f.kind() == kind)
}

/// A named block of the flat parameter vector: `rows x cols`, row-major, at `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub name: String,
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
}

impl Block {
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// What a recorded column measures, so that reports and checks pick columns by role, never by
/// name patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// The iteration index (`step`).
    Step,
    /// The step size used from this row on (`eta`).
    StepSize,
    /// Flow time (sum of step sizes) of flow integrators.
    Time,
    /// The objective.
    Loss,
    /// A squared norm of (part of) the parameters.
    Norm,
    /// A ratio of norms.
    Ratio,
    /// A quantity conserved by gradient flow (its value).
    Invariant,
    /// The change of a conserved quantity since the start.
    Drift,
    /// A residual or data-fit norm.
    Residual,
    /// The gradient norm.
    GradNorm,
    /// A curvature sample (eigenvalue or its residual).
    Curvature,
    /// Statistics of the method (solver iterations, rejected steps).
    Solver,
    /// Anything else.
    Other,
}

impl Role {
    /// The role's name as the bindings and JSON give it (`loss`, `gradNorm`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Role::Step => "step",
            Role::StepSize => "stepSize",
            Role::Time => "time",
            Role::Loss => "loss",
            Role::Norm => "norm",
            Role::Ratio => "ratio",
            Role::Invariant => "invariant",
            Role::Drift => "drift",
            Role::Residual => "residual",
            Role::GradNorm => "gradNorm",
            Role::Curvature => "curvature",
            Role::Solver => "solver",
            Role::Other => "other",
        }
    }
}

/// A recorded column: its name and role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    pub role: Role,
}

impl Column {
    pub fn new(name: impl Into<String>, role: Role) -> Self {
        Column {
            name: name.into(),
            role,
        }
    }
}

/// Everything a run, the recorder and the curvature solvers need of a model. Required: layout,
/// loss and gradient, columns and their values, named matrices. Everything else has a default:
/// the Hessian-vector product defaults to central differences of the gradient (reported as not
/// exact; families with an exact product override [`Model::hvp`] and [`Model::hvp_exact`]), and
/// the optional capabilities (symmetry tangents, samples, pattern freezing, family queries)
/// default to "not available".
pub trait Model: Any + Send {
    /// Number of parameters.
    fn dim(&self) -> usize;
    /// The blocks of the parameter vector, in order.
    fn blocks(&self) -> &[Block];
    /// Loss at `w`; writes the gradient into `grad` (same length as `w`).
    fn loss_grad(&mut self, w: &[f64], grad: &mut [f64]) -> f64;

    /// `out = H(w) v`. Default: central differences of the gradient (see
    /// [`central_difference_hvp`]); [`Model::hvp_exact`] says which one a model has.
    fn hvp(&mut self, w: &[f64], v: &[f64], out: &mut [f64]) {
        central_difference_hvp(self, w, v, out)
    }
    /// True when [`Model::hvp`] is exact (hand-derived), false for the finite-difference default.
    fn hvp_exact(&self) -> bool {
        false
    }
    /// The Hessian-vector products of one query are over: drop what was kept for products at the
    /// same point (the next query may be at another point).
    fn end_queries(&mut self) {}

    /// Run the model's chunked loops sequentially or on rayon (same chunks, same bits).
    fn set_parallelism(&mut self, _par: crate::par::Parallelism) {}

    /// Remember the initial point: drifts of conserved quantities are measured from it.
    fn set_reference(&mut self, w0: &[f64]);
    /// The model's metric columns, in order, with their roles.
    fn columns(&self) -> Vec<Column>;
    /// Append the metric values at `w`, whose loss and gradient (`loss`, `grad`) were the last
    /// ones computed by [`Model::loss_grad`], to `out` (one per column of [`Model::columns`]).
    fn metrics(&mut self, w: &[f64], grad: &[f64], loss: f64, out: &mut Vec<f64>);
    /// A named matrix of the model at `w` (current) or `w0` (initial): `(rows, cols, data)`.
    fn matrix<'a>(
        &'a self,
        name: &str,
        w: &'a [f64],
        w0: &'a [f64],
    ) -> Result<(usize, usize, &'a [f64])>;

    /// Dimension of the orbit through `w` of the model's continuous symmetry group (directions in
    /// which the loss is exactly constant), or `None` if the model does not know it.
    fn symmetry_dim(&self, w: &[f64]) -> Option<usize> {
        self.symmetry_tangents(w).map(|t| t.len())
    }
    /// An orthonormal basis of the tangent space of that orbit at `w` (null vectors of the
    /// Hessian at a stationary point), or `None`. Lets Lanczos deflate the symmetry.
    fn symmetry_tangents(&self, _w: &[f64]) -> Option<Vec<Vec<f64>>> {
        None
    }

    /// Number of samples the loss averages over, when it is a sum over samples (mini-batches).
    fn samples(&self) -> Option<usize> {
        None
    }
    /// Restrict the next evaluations to the given samples (`None`: all samples).
    fn set_batch(&mut self, _batch: Option<&[usize]>) {}
    /// Make [`Model::freeze_pattern`] available (allocates the pattern store).
    fn enable_pattern_freeze(&mut self) {}
    /// Hold the activation pattern of piecewise-linear activations (phi'(z) per sample and
    /// neuron, from the last unfrozen evaluation) fixed in the next evaluations (`on`), or
    /// release it. The frozen model is smooth and has the same rescaling symmetries, hence the
    /// same conserved quantities. Returns whether the pattern is now frozen.
    fn freeze_pattern(&mut self, _on: bool) -> bool {
        false
    }

    /// Names of the family's own curvature queries (`what` values beside classify, eigs,
    /// density and trace), e.g. `lemma32` for matrix factorization.
    fn family_queries(&self) -> &'static [&'static str] {
        &[]
    }
    /// Answer the family query `what` (one of [`Model::family_queries`]) at `w`.
    fn family_query(&mut self, what: &str, _w: &[f64], _q: &Query) -> Result<Value> {
        Err(Error::request(
            "query.what",
            format!("this model has no query {what:?}"),
        ))
    }
    /// Rank and ||M*||_F for the Theorem 3.1 step-size schedule (matrix factorization).
    fn theorem31_scale(&self) -> Option<(usize, f64)> {
        None
    }

    /// Called by the session after every step (or span of steps, see [`Model::gd_steps`]) with
    /// the index `t` of the new iterate `w`: for models that record events along the trajectory
    /// (the octopus family's escape iterations). After a divergence the session keeps the
    /// previous iterate and calls this again with the smaller `t`: a model drops what it
    /// recorded after it.
    fn after_step(&mut self, _t: u64, _w: &[f64]) {}

    /// Plain gradient descent taken by the model itself, `w <- w - eta grad L(w)`, possibly many
    /// iterations at once in closed form (the octopus family's log-scale mode): returns the
    /// number `n` of iterations taken, `1 <= n <= max` (0 only when [`Model::finished_early`]
    /// then holds), with `w` the iterate after them, or
    /// `None` (the default) when the model does not step itself. The session asks only when the
    /// method is `gd` without weight decay; `max` ends at the next recorded row and at `steps`
    /// (never at a chunk's end, so that chunking changes no bits), and is 1 under a schedule
    /// that is not constant. A span must cost what its phases cost, not its length: one call
    /// may cover all of a run's steps.
    fn gd_steps(&mut self, _w: &mut [f64], _eta: f64, _max: u64) -> Option<u64> {
        None
    }

    /// True when the model asks to end the run at the current iterate (opt-in through the
    /// family's spec, e.g. weightNormCnn's `model.stopWhenDecided` once its outcome is decided).
    /// The session reads it at every iterate it reaches (after each step, or after each span of
    /// [`Model::gd_steps`]) and then ends the run there with stop `finished`, the iterate's row
    /// recorded; the bits up to it are those of the full run, and chunking changes nothing. A
    /// model that takes spans ends its span at the iterate that finishes it; it may then take 0
    /// iterations (the span's first iterate finished the run).
    fn finished_early(&self) -> bool {
        false
    }

    /// Why the loss is not defined at the point last evaluated, when [`Model::loss_grad`]
    /// returned NaN because the point is outside the model's domain (the session's stop reason
    /// says so instead of reporting a divergence).
    fn undefined_reason(&self) -> Option<String> {
        None
    }
}

impl dyn Model {
    /// The concrete model, when it is a `T` (family-specific access for tests and presets).
    pub fn downcast_ref<T: Model>(&self) -> Option<&T> {
        (self as &dyn Any).downcast_ref::<T>()
    }
    /// Evaluate on all samples with no frozen pattern (what curvature queries and the recorder
    /// expect; the methods restore this after every step).
    pub fn full_batch(&mut self) {
        self.set_batch(None);
        self.freeze_pattern(false);
    }
}

/// `out ~ H(w) v` by central differences of the gradient: `(g(w + h v) - g(w - h v)) / (2 h)`
/// with `h = eps^(1/3) (1 + ||w||) / ||v||`, truncation error O(h^2 ||D^3 f||).
pub fn central_difference_hvp<M: Model + ?Sized>(
    model: &mut M,
    w: &[f64],
    v: &[f64],
    out: &mut [f64],
) {
    let nv = crate::linalg::norm2(v).sqrt();
    if nv == 0.0 {
        out.fill(0.0);
        return;
    }
    let h = f64::EPSILON.cbrt() * (1.0 + crate::linalg::norm2(w).sqrt()) / nv;
    let n = w.len();
    let mut x: Vec<f64> = w.iter().zip(v).map(|(a, b)| a + h * b).collect();
    let mut gm = vec![0.0; n];
    model.loss_grad(&x, out);
    for ((xi, wi), vi) in x.iter_mut().zip(w).zip(v) {
        *xi = wi - h * vi;
    }
    model.loss_grad(&x, &mut gm);
    for (o, g) in out.iter_mut().zip(&gm) {
        *o = (*o - g) / (2.0 * h);
    }
}

/// What a family's `build` knows of the run around it, for its memory budget.
pub struct RunInfo<'a> {
    /// Row slots the run's columns may hold: 3 (steps / recordEvery + 2) (the columns grow by
    /// doubling, to less than twice the rows, and one is copied while it grows). In `u64`: the
    /// same on every target.
    pub rows_max: u64,
    /// Columns recorded besides the model's (step, eta, time, at most two of the method's, and
    /// the four curvature columns when `curvature` is on).
    pub other_columns: usize,
    /// Numbers per parameter the session and the method keep (iterate, initial point, previous
    /// iterate, gradient, and the method's buffers).
    pub per_param: usize,
    /// Lanczos steps per curvature sample along the run (`curvature.maxIter`), 0 without.
    pub curvature_iter: usize,
    /// The method spec (mini-batch size for SGD).
    pub method: Option<&'a MethodSpec>,
    /// The run's `weightDecay` (validated: finite, >= 0).
    pub weight_decay: f64,
}

impl RunInfo<'_> {
    /// Doubles the curvature tracker may hold for a model of `dim` parameters: the Lanczos basis
    /// (at most [`crate::curvature::lanczos::BASIS_BUDGET_DOUBLES`], or 48 vectors), the
    /// projected matrix and its eigenvectors (a few copies of basis^2), and a few vectors (warm
    /// starts, products, Ritz vectors). 0 without curvature tracking.
    pub fn curvature_doubles(&self, dim: u64) -> u64 {
        if self.curvature_iter == 0 {
            return 0;
        }
        let n = dim.max(1);
        let cap = (crate::curvature::lanczos::BASIS_BUDGET_DOUBLES as u64 / n).max(48);
        let basis = (self.curvature_iter as u64).min(n).min(cap);
        basis * n + 6 * basis * basis + 24 * n
    }
}

/// A built problem: the model and its initial point.
pub struct Built {
    pub model: Box<dyn Model>,
    pub w0: Vec<f64>,
}

/// A model family: how a spec's `model` (and the family's other top-level fields) becomes a
/// model and its initial point.
pub trait Family: Sync {
    /// The `model.kind` tag.
    fn kind(&self) -> &'static str;
    /// The top-level spec fields that belong to the family besides `model` (e.g. `target`,
    /// `init`); the run's own fields (`schedule`, `steps`, `method`, ...) are parsed by the session.
    fn fields(&self) -> &'static [&'static str];
    /// The family's own curvature queries (what its models' `Model::family_queries` answer), so
    /// that asking one of another family's models gets a clear error.
    fn queries(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether the Theorem 3.1 schedule applies (it needs [`Model::theorem31_scale`]).
    fn theorem31(&self) -> bool {
        false
    }
    /// Validate `problem` (an object holding `model` and the family's fields, at their spec
    /// paths), take the buffers it references, reserve in `budget` every byte the model will
    /// allocate (scratch and its recorded columns included), call `buffers.finish` and only then
    /// compute: the model and the initial point.
    fn build(
        &self,
        problem: Value,
        buffers: &mut Buffers,
        run: &RunInfo,
        budget: &mut Budget,
    ) -> Result<Built>;
    /// Small specs of this family (full run specs with `steps` and `schedule`), named, for the
    /// conformance suite: every registered family is run through the same checks with them.
    fn examples(&self) -> Vec<(&'static str, Value)>;
    /// Many runs whose problems differ only in seeds (a sweep's runs of one setting, issue 14):
    /// `problem` (as for [`Family::build`], with some values at `seed_paths`, spec paths such as
    /// `init.seed`) parsed and checked once, each run then built from its seeds by
    /// [`ProblemTemplate::build`], which must give what `build` gives for the problem with those
    /// seeds (the same model and initial point bits, the same errors). `None` (the default, and
    /// whenever the family cannot set a path or the problem does not parse): each run is built
    /// from its spec by `build`.
    fn template(&self, problem: Value, seed_paths: &[&str]) -> Option<Box<dyn ProblemTemplate>> {
        let _ = (problem, seed_paths);
        None
    }
}

/// A family's problem parsed once for runs that differ only in seeds ([`Family::template`]).
pub trait ProblemTemplate: Send + Sync {
    /// Build the run whose value at the `j`-th seed path is `seeds[j]`: as [`Family::build`] of
    /// the problem with those values.
    fn build(
        &self,
        seeds: &[u64],
        buffers: &mut Buffers,
        run: &RunInfo,
        budget: &mut Budget,
    ) -> Result<Built>;
}
