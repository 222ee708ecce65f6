//! First-order methods and gradient-flow integrators, for every [`Model`].
//!
//! The objective is F(w) = L(w) + (weightDecay / 2) ||w||^2 (weight decay as an L2 term, so every
//! method, Adam included, sees the gradient grad L + weightDecay w). The flow is dw/dt = -grad F.
//! Every method takes one step from iterate t with the step size h = eta_t of the schedule
//! (Dormand-Prince: the first trial step; later steps are chosen by its error control).
//! The session holds F and grad F at the current iterate; a step may evaluate F elsewhere
//! (RK stages, the implicit solve) using the method's own vectors: nothing is allocated per step.
//!
//! One file per method: a struct with its parameters and its own named working vectors,
//! implementing [`Step`]. [`Method`] wraps one with the state every method shares (weight decay,
//! flow time); [`REGISTRY`] holds an example spec of every method, for tests that run over all
//! of them.

mod adam;
mod dopri5;
mod euler;
mod gd;
mod implicit_midpoint;
mod momentum;
mod nesterov;
mod pgd;
mod rk4;
mod sgd;
#[cfg(test)]
mod tests;

pub use adam::Adam;
pub use dopri5::Dopri5;
pub use euler::Euler;
pub use gd::Gd;
pub use implicit_midpoint::ImplicitMidpoint;
pub use momentum::Momentum;
pub use nesterov::Nesterov;
pub use pgd::PerturbedGd;
pub use rk4::Rk4;
pub use sgd::Sgd;

use crate::error::{Error, Result};
use crate::linalg::axpy;
use crate::model::Model;
use crate::spec::{finite, MethodSpec};

/// One method: its parameters and its typed state (working vectors, counters, random stream).
pub trait Step: StepClone + Send + Sync {
    /// The `method.kind` tag of the spec.
    fn name(&self) -> &'static str;
    /// Take one step from `w`, whose objective gradient is `grad`; `eta` is eta_t of the
    /// schedule. Returns the step size used, or why the step could not be taken (an implicit
    /// solve that did not converge, an error control that rejected every trial): `w` is then
    /// left unchanged and the session stops the run.
    fn step(&mut self, f: &mut Objective, w: &mut [f64], grad: &[f64], eta: f64) -> StepResult;
    /// The step size the next step from iterate t will use (eta_t unless the method chooses its
    /// own, as Dormand-Prince does).
    fn next_h(&self, eta_t: f64) -> f64 {
        eta_t
    }
    /// Names of the method's extra columns.
    fn column_names(&self) -> &'static [&'static str] {
        &[]
    }
    /// Their values after the last step, one per name.
    fn columns(&self, _out: &mut Vec<f64>) {}
    /// True when a step does not read the full-batch gradient of the current iterate: the session
    /// then evaluates the full loss and gradient only where it records a row or returns a status.
    fn reads_no_full_gradient(&self) -> bool {
        false
    }
    /// After a step: the loss at the new iterate, with grad F written to `grad`, when the method
    /// already evaluated them there; `None` otherwise (the session then evaluates).
    fn take_fsal(&mut self, _grad: &mut [f64]) -> Option<f64> {
        None
    }
    /// True when the method freezes activation patterns during a step (the model must enable
    /// [`Model::freeze_pattern`]).
    fn needs_pattern_freeze(&self) -> bool {
        false
    }
    /// True for integrators of the gradient flow, whose iterates are points at flow time `time`.
    fn is_flow(&self) -> bool {
        false
    }
    /// Residuals of the last implicit solve, one per iteration (empty for explicit methods).
    fn solve_trace(&self) -> &[f64] {
        &[]
    }
}

/// Why a step could not be taken. The iterate is left unchanged; the session stops the run with
/// the status `stop: "solverFailed"` and this reason.
#[derive(Debug, Clone, PartialEq)]
pub struct StepFailure {
    pub reason: String,
}

/// The step size used, or why the step failed.
pub type StepResult = std::result::Result<f64, StepFailure>;

/// Cloning a boxed [`Step`] (implemented for every `Step + Clone`).
pub trait StepClone {
    fn box_clone(&self) -> Box<dyn Step>;
}

impl<T: Step + Clone + 'static> StepClone for T {
    fn box_clone(&self) -> Box<dyn Step> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn Step> {
    fn clone(&self) -> Self {
        self.box_clone()
    }
}

/// The objective F of one model as a method evaluates it, and the model itself (for methods that
/// restrict it to a mini-batch or freeze its activation pattern).
pub struct Objective<'a> {
    pub model: &'a mut dyn Model,
    pub weight_decay: f64,
}

impl Objective<'_> {
    /// L(w); writes grad F into `grad`.
    pub fn eval(&mut self, w: &[f64], grad: &mut [f64]) -> f64 {
        objective(self.model, self.weight_decay, w, grad)
    }
}

/// What a method is built with: the sizes of the problem, and its working vectors. A method takes
/// every vector of one number per parameter through [`Setup::vector`], which counts them, so
/// [`Method::buffers`] is what the methods allocate, not a second table.
pub struct Setup {
    dim: usize,
    samples: Option<usize>,
    vectors: usize,
}

impl Setup {
    /// A zeroed working vector of one number per parameter.
    pub fn vector(&mut self) -> Vec<f64> {
        self.vectors += 1;
        vec![0.0; self.dim]
    }
    /// Number of samples the loss averages over, if it does.
    pub fn samples(&self) -> Option<usize> {
        self.samples
    }
}

/// An example spec of every method, one per `method.kind`.
pub const REGISTRY: &[MethodSpec] = &[
    MethodSpec::Gd {},
    MethodSpec::Momentum { beta: 0.9 },
    MethodSpec::Nesterov { beta: 0.9 },
    MethodSpec::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    },
    MethodSpec::Sgd {
        batch_size: 1.0,
        seed: 0.0,
    },
    MethodSpec::Euler {},
    MethodSpec::Rk4 {},
    MethodSpec::Dopri5 {
        rtol: 1e-6,
        atol: 1e-9,
    },
    MethodSpec::ImplicitMidpoint {
        tol: 1e-12,
        max_iter: 50.0,
    },
    MethodSpec::PerturbedGd {
        g_thres: 0.1,
        t_thres: 3.0,
        radius: 0.01,
        seed: 0.0,
    },
];

/// Validate a method spec (no spec: gradient descent) and build the method.
fn build(spec: Option<&MethodSpec>, s: &mut Setup) -> Result<Box<dyn Step>> {
    Ok(match spec {
        None | Some(MethodSpec::Gd {}) => Box::new(Gd),
        Some(MethodSpec::Momentum { beta }) => Box::new(Momentum::new(*beta, s)?),
        Some(MethodSpec::Nesterov { beta }) => Box::new(Nesterov::new(*beta, s)?),
        Some(MethodSpec::Adam { beta1, beta2, eps }) => {
            Box::new(Adam::new(*beta1, *beta2, *eps, s)?)
        }
        Some(MethodSpec::Sgd { batch_size, seed }) => Box::new(Sgd::new(*batch_size, *seed, s)?),
        Some(MethodSpec::Euler {}) => Box::new(Euler),
        Some(MethodSpec::Rk4 {}) => Box::new(Rk4::new(s)),
        Some(MethodSpec::Dopri5 { rtol, atol }) => Box::new(Dopri5::new(*rtol, *atol, s)?),
        Some(MethodSpec::ImplicitMidpoint { tol, max_iter }) => {
            Box::new(ImplicitMidpoint::new(*tol, *max_iter, s)?)
        }
        Some(MethodSpec::PerturbedGd {
            g_thres,
            t_thres,
            radius,
            seed,
        }) => Box::new(PerturbedGd::new(*g_thres, *t_thres, *radius, *seed, s)?),
    })
}

/// A method with the state every method shares.
#[derive(Clone)]
pub struct Method {
    inner: Box<dyn Step>,
    pub weight_decay: f64,
    /// Flow time (sum of step sizes).
    pub time: f64,
}

impl Method {
    /// Validate a method spec for a model of `dim` parameters and `samples` samples (if the loss
    /// is an average over samples).
    pub fn from_spec(
        spec: Option<&MethodSpec>,
        weight_decay: f64,
        dim: usize,
        samples: Option<usize>,
    ) -> Result<Method> {
        let wd = finite("weightDecay", weight_decay)?;
        if wd < 0.0 {
            return Err(Error::range(
                "weightDecay",
                format!("expected a value >= 0, got {wd}"),
            ));
        }
        let mut setup = Setup {
            dim,
            samples,
            vectors: 0,
        };
        Ok(Method {
            inner: build(spec, &mut setup)?,
            weight_decay: wd,
            time: 0.0,
        })
    }

    /// Numbers of working memory per parameter of a method of this kind (whatever its
    /// parameters, valid or not): the working vectors its example in [`REGISTRY`] takes.
    pub fn buffers(spec: Option<&MethodSpec>) -> usize {
        let example = match spec {
            None => &MethodSpec::Gd {},
            Some(spec) => REGISTRY
                .iter()
                .find(|e| std::mem::discriminant(*e) == std::mem::discriminant(spec))
                .expect("every method kind is in the registry"),
        };
        // Length-0 vectors; the examples are valid for a loss over one sample.
        let mut setup = Setup {
            dim: 0,
            samples: Some(1),
            vectors: 0,
        };
        build(Some(example), &mut setup).expect("the registry's examples are valid");
        setup.vectors
    }

    /// The `method.kind` tag.
    pub fn name(&self) -> &'static str {
        self.inner.name()
    }

    /// Names of the method's extra columns.
    pub fn column_names(&self) -> &'static [&'static str] {
        self.inner.column_names()
    }
    pub fn columns(&self, out: &mut Vec<f64>) {
        self.inner.columns(out)
    }

    /// True when a step does not read the full-batch gradient of the current iterate (SGD uses a
    /// minibatch gradient, Nesterov the gradient at its look-ahead point): the session then
    /// evaluates the full loss and gradient only where it records a row or returns a status.
    pub fn reads_no_full_gradient(&self) -> bool {
        self.inner.reads_no_full_gradient()
    }

    /// After a step: the loss at the new iterate, with its gradient (grad F) written to `grad`,
    /// when the method already evaluated them there (Dormand-Prince's last stage); `None`
    /// otherwise (the session then evaluates).
    pub fn take_fsal(&mut self, grad: &mut [f64]) -> Option<f64> {
        self.inner.take_fsal(grad)
    }

    /// True when the model must enable activation-pattern freezing (implicit midpoint).
    pub fn needs_pattern_freeze(&self) -> bool {
        self.inner.needs_pattern_freeze()
    }

    /// True for gradient-flow integrators (Euler, RK4, Dormand-Prince, implicit midpoint), whose
    /// iterates are points of the flow at [`Method::time`].
    pub fn is_flow(&self) -> bool {
        self.inner.is_flow()
    }

    /// The step size the next step from iterate t will use (eta_t; Dormand-Prince: its current
    /// trial step).
    pub fn next_h(&self, eta_t: f64) -> f64 {
        self.inner.next_h(eta_t)
    }

    /// Take one step from `w` (whose objective gradient is `grad`). `eta` is eta_t. Returns the
    /// step size used, or why the step failed (then `w` and the flow time are unchanged).
    pub fn step(
        &mut self,
        model: &mut dyn Model,
        w: &mut [f64],
        grad: &[f64],
        eta: f64,
    ) -> StepResult {
        let mut f = Objective {
            model,
            weight_decay: self.weight_decay,
        };
        let h = self.inner.step(&mut f, w, grad, eta)?;
        self.time += h;
        Ok(h)
    }

    /// Residuals of the last implicit solve, one per iteration (implicit midpoint: the defect
    /// h max_i |grad F(mid)_i - k_i| after each evaluation; empty for explicit methods).
    pub fn solve_trace(&self) -> &[f64] {
        self.inner.solve_trace()
    }
}

/// `x` if 0 <= x < 1.
fn unit_interval(field: &str, x: f64) -> Result<f64> {
    finite(field, x)?;
    if (0.0..1.0).contains(&x) {
        Ok(x)
    } else {
        Err(Error::range(
            field,
            format!("expected 0 <= {field} < 1, got {x}"),
        ))
    }
}

/// out = w + sum_k a_k x_k
fn lin(out: &mut [f64], w: &[f64], terms: &[(f64, &[f64])]) {
    out.copy_from_slice(w);
    for (a, x) in terms {
        axpy(*a, x, out);
    }
}

/// Model loss L(w); writes grad F = grad L + weightDecay w into `grad`.
pub fn objective(model: &mut dyn Model, weight_decay: f64, w: &[f64], grad: &mut [f64]) -> f64 {
    let loss = model.loss_grad(w, grad);
    if weight_decay != 0.0 {
        axpy(weight_decay, w, grad);
    }
    loss
}
