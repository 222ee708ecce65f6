//! Parallelism as a runtime parameter. Every parallel loop of the core maps over a FIXED number
//! of chunks (set by the problem size, never by the thread count) and sums the partial results in
//! chunk order, so a run gives the same bits sequentially and on any number of threads. Native
//! builds (feature `parallel`) default to rayon; a sweep that runs many runs side by side sets
//! each run [`Parallelism::Sequential`] (`Session::set_parallelism`). Wasm is always sequential.

/// How the chunks of one evaluation are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parallelism {
    /// One after the other on the calling thread.
    Sequential,
    /// On rayon's global pool (falls back to sequential without the `parallel` feature).
    Rayon,
}

impl Default for Parallelism {
    /// Rayon where the core was built with it, sequential otherwise.
    fn default() -> Self {
        if cfg!(feature = "parallel") {
            Parallelism::Rayon
        } else {
            Parallelism::Sequential
        }
    }
}

/// Floating-point operations of one evaluation below which [`Parallelism::for_work`] runs it
/// sequentially: waking rayon's pool (and joining it) costs 5-70 us in these 2-core VMs, more
/// than a small evaluation itself. Measured with `examples/par_threshold.rs` (docs/performance.md,
/// "Tiny problems"). The chunks are the same either way, so the bits are too.
pub const SEQUENTIAL_BELOW_FLOPS: usize = 2_000_000;

impl Parallelism {
    /// This parallelism for a piece of work of `flops` floating-point operations: sequential
    /// below [`SEQUENTIAL_BELOW_FLOPS`], `self` otherwise.
    #[inline]
    pub fn for_work(self, flops: usize) -> Self {
        if flops < SEQUENTIAL_BELOW_FLOPS {
            Parallelism::Sequential
        } else {
            self
        }
    }

    /// `f(i, &mut items[i])` for every item.
    pub fn for_each<T: Send>(self, items: &mut [T], f: impl Fn(usize, &mut T) + Sync + Send) {
        match self {
            #[cfg(feature = "parallel")]
            Parallelism::Rayon => {
                use rayon::prelude::*;
                items.par_iter_mut().enumerate().for_each(|(i, t)| f(i, t));
            }
            _ => items.iter_mut().enumerate().for_each(|(i, t)| f(i, t)),
        }
    }

    /// `f(&mut a[i], &mut b[i * chunk..(i + 1) * chunk])` for every `i` (as many as both have),
    /// without allocating: for loops over fixed chunks that each own a slice of one output.
    pub fn for_each_zip<A: Send, B: Send>(
        self,
        a: &mut [A],
        b: &mut [B],
        chunk: usize,
        f: impl Fn(&mut A, &mut [B]) + Sync + Send,
    ) {
        match self {
            #[cfg(feature = "parallel")]
            Parallelism::Rayon => {
                use rayon::prelude::*;
                a.par_iter_mut()
                    .zip(b.par_chunks_mut(chunk))
                    .for_each(|(x, y)| f(x, y));
            }
            _ => a
                .iter_mut()
                .zip(b.chunks_mut(chunk))
                .for_each(|(x, y)| f(x, y)),
        }
    }

    /// `f(i, &mut b[i * chunk..(i + 1) * chunk])` for every chunk of `b` (the last may be
    /// shorter), without allocating.
    pub fn for_each_chunk<B: Send>(
        self,
        b: &mut [B],
        chunk: usize,
        f: impl Fn(usize, &mut [B]) + Sync + Send,
    ) {
        let chunk = chunk.max(1);
        match self {
            #[cfg(feature = "parallel")]
            Parallelism::Rayon => {
                use rayon::prelude::*;
                b.par_chunks_mut(chunk)
                    .enumerate()
                    .for_each(|(i, y)| f(i, y));
            }
            _ => b.chunks_mut(chunk).enumerate().for_each(|(i, y)| f(i, y)),
        }
    }

    /// `[f(0), .., f(n - 1)]`, in order.
    pub fn map<T: Send>(self, n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
        match self {
            #[cfg(feature = "parallel")]
            Parallelism::Rayon => {
                use rayon::prelude::*;
                (0..n).into_par_iter().map(f).collect()
            }
            _ => (0..n).map(f).collect(),
        }
    }
}
