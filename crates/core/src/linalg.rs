//! Small dense helpers on row-major `f64` slices. Products go through `matrixmultiply` (the
//! kernel nalgebra itself uses), called with explicit strides so transposes cost nothing.

/// A row-major matrix view description: `rows x cols`, element (i, j) at `i * rs + j * cs`.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub rows: usize,
    pub cols: usize,
    pub rs: isize,
    pub cs: isize,
}

impl Layout {
    pub fn row_major(rows: usize, cols: usize) -> Self {
        Layout {
            rows,
            cols,
            rs: cols as isize,
            cs: 1,
        }
    }
    pub fn t(self) -> Self {
        Layout {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

#[allow(clippy::too_many_arguments)]
/// C = alpha A B + beta C. Shapes are checked with debug assertions only: callers are internal.
pub fn gemm(
    alpha: f64,
    a: &[f64],
    la: Layout,
    b: &[f64],
    lb: Layout,
    beta: f64,
    c: &mut [f64],
    lc: Layout,
) {
    debug_assert_eq!(la.cols, lb.rows);
    debug_assert_eq!(la.rows, lc.rows);
    debug_assert_eq!(lb.cols, lc.cols);
    if lc.rows == 0 || lc.cols == 0 {
        return;
    }
    if la.cols == 0 {
        for x in c.iter_mut() {
            *x *= beta;
        }
        return;
    }
    // SAFETY: the layouts describe regions inside the slices (checked in debug builds below).
    debug_assert!(fits(a.len(), la) && fits(b.len(), lb) && fits(c.len(), lc));
    unsafe {
        matrixmultiply::dgemm(
            lc.rows,
            la.cols,
            lc.cols,
            alpha,
            a.as_ptr(),
            la.rs,
            la.cs,
            b.as_ptr(),
            lb.rs,
            lb.cs,
            beta,
            c.as_mut_ptr(),
            lc.rs,
            lc.cs,
        );
    }
}

fn fits(len: usize, l: Layout) -> bool {
    if l.rows == 0 || l.cols == 0 {
        return true;
    }
    let last = (l.rows as isize - 1) * l.rs + (l.cols as isize - 1) * l.cs;
    last >= 0 && (last as usize) < len
}

/// Gram matrix A^T A of a row-major `n x r` matrix (r x r, row-major).
pub fn gram(a: &[f64], n: usize, r: usize, out: &mut [f64]) {
    let l = Layout::row_major(n, r);
    gemm(1.0, a, l.t(), a, l, 0.0, out, Layout::row_major(r, r));
}

/// Dot product with 8 independent partial sums (added in a fixed order, so the result is the
/// same on every target): a single running sum is one dependent add per element, ~4x slower.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ar.iter().zip(br).enumerate() {
        acc[l] += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

pub fn norm2(a: &[f64]) -> f64 {
    dot(a, a)
}

/// y += alpha x
pub fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

pub fn all_finite(a: &[f64]) -> bool {
    a.iter().all(|x| x.is_finite())
}
