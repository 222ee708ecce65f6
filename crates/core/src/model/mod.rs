//! Model families. Every model keeps its parameters in one flat `Vec<f64>` made of named blocks
//! (see [`Block`]), so that integrators, eigen-solvers and recorders work for every model.

pub mod mf;
mod mf_small;
mod simd;

/// A named block of the flat parameter vector: `rows x cols`, row-major, at `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub name: &'static str,
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

/// What every model provides to the dynamics.
pub trait Model {
    /// Number of parameters.
    fn dim(&self) -> usize;
    /// The blocks of the parameter vector, in order.
    fn blocks(&self) -> &[Block];
    /// Loss at `w`; writes the gradient into `grad` (same length as `w`).
    fn loss_grad(&mut self, w: &[f64], grad: &mut [f64]) -> f64;
}
