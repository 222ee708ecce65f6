//! Model families. Every model keeps its parameters in one flat `Vec<f64>` made of named blocks
//! (see [`Block`]), so that integrators, eigen-solvers and recorders work for every model.

pub mod mf;
mod mf_small;
pub mod net;
pub mod pattern;
mod simd;

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

/// What every model provides to the dynamics and to the recorder.
pub trait Model {
    /// Number of parameters.
    fn dim(&self) -> usize;
    /// The blocks of the parameter vector, in order.
    fn blocks(&self) -> &[Block];
    /// Loss at `w`; writes the gradient into `grad` (same length as `w`).
    fn loss_grad(&mut self, w: &[f64], grad: &mut [f64]) -> f64;

    /// Remember the initial point: drifts of conserved quantities are measured from it.
    fn set_reference(&mut self, w0: &[f64]);
    /// Names of the model's metric columns, in order.
    fn metric_names(&self) -> Vec<String>;
    /// Append the metric values at `w`, whose loss and gradient (`loss`, `grad`) were the last
    /// ones computed by [`Model::loss_grad`], to `out` (one per name of `metric_names`).
    fn metrics(&mut self, w: &[f64], grad: &[f64], loss: f64, out: &mut Vec<f64>);
    /// A named matrix of the model at `w` (current) or `w0` (initial): `(rows, cols, data)`.
    fn matrix<'a>(
        &'a self,
        name: &str,
        w: &'a [f64],
        w0: &'a [f64],
    ) -> crate::Result<(usize, usize, &'a [f64])>;

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
}
