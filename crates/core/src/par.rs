//! Parallelism as a runtime parameter. Every parallel loop of the core maps over a FIXED number
//! of chunks (set by the problem size, never by the thread count) and sums the partial results in
//! chunk order, so a run gives the same bits sequentially and on any number of threads. Native
//! builds (feature `parallel`) default to rayon; a sweep that runs many runs side by side sets
//! each run [`Parallelism::Sequential`] (`Session::set_parallelism`).
//!
//! Wasm: the single-threaded module (no `parallel` feature) is always sequential. The threaded
//! module (crates/wasm feature `threads`, which enables `parallel`) cannot let rayon build its
//! default global pool: `std::thread::spawn` is unsupported on wasm32, so rayon would fall back
//! to a one-thread pool on the calling thread and the real pool could never be installed. So on
//! wasm rayon stays off until the binding has built rayon's global pool on JS workers and called
//! [`set_rayon_ready`]; until then [`Parallelism::Rayon`] runs sequentially (same chunks, same
//! bits) and [`Parallelism::default`] is sequential. Natively the flag starts set and nothing
//! changes. (A flag here rather than a parallelism set by the binding on each session: the
//! curvature solvers, the kernel study and sweeps take `Parallelism::default()` or `Rayon`
//! themselves, so only a check in this module covers every path into rayon.)

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether rayon's global pool may be used: natively from the start (rayon builds it on first
/// use), on wasm only once the binding built it ([`set_rayon_ready`]).
static RAYON_READY: AtomicBool = AtomicBool::new(!cfg!(target_family = "wasm"));

/// Declare rayon's global pool built (or not): called by the wasm binding after
/// `ThreadPoolBuilder::build_global` succeeded on its JS workers. Without the `parallel`
/// feature it has no effect on any run.
pub fn set_rayon_ready(ready: bool) {
    RAYON_READY.store(ready, Ordering::Release);
}

/// Whether the core may run chunks on rayon's global pool (the `parallel` feature and a pool).
#[inline]
pub fn rayon_ready() -> bool {
    cfg!(feature = "parallel") && RAYON_READY.load(Ordering::Acquire)
}

/// How the chunks of one evaluation are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parallelism {
    /// One after the other on the calling thread.
    Sequential,
    /// On rayon's global pool (falls back to sequential without the `parallel` feature, and on
    /// wasm before the binding built the pool: [`rayon_ready`]).
    Rayon,
}

impl Default for Parallelism {
    /// Rayon where the core was built with it and its pool is available ([`rayon_ready`]),
    /// sequential otherwise.
    fn default() -> Self {
        if rayon_ready() {
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
            Parallelism::Rayon if rayon_ready() => {
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
            Parallelism::Rayon if rayon_ready() => {
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
            Parallelism::Rayon if rayon_ready() => {
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
            Parallelism::Rayon if rayon_ready() => {
                use rayon::prelude::*;
                (0..n).into_par_iter().map(f).collect()
            }
            _ => (0..n).map(f).collect(),
        }
    }
}
