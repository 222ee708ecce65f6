//! Sparse and shared weight layers (Du, Hu & Lee 2018, Theorem 2.3): a layer is given by its free
//! parameters v (length `params`) and a pattern g mapping each entry (i, j) of the dense
//! `rows x cols` matrix to a parameter: W[i, j] = v[g(i, j) - 1] if g(i, j) > 0, else 0.
//! Convolutions are such patterns; their biases are shared per output channel.

/// A weight-sharing pattern: `map[i * cols + j]` is 0 (structural zero) or 1 + parameter index.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub rows: usize,
    pub cols: usize,
    pub params: usize,
    pub map: Vec<u32>,
    /// Bias index of every output neuron (per output channel for convolutions).
    pub bias_map: Vec<u32>,
    /// Number of distinct biases.
    pub biases: usize,
}

impl Pattern {
    /// Dense W from the free parameters v.
    pub fn expand(&self, v: &[f64], dense: &mut [f64]) {
        for (d, &g) in dense.iter_mut().zip(&self.map) {
            *d = if g == 0 { 0.0 } else { v[g as usize - 1] };
        }
    }
    /// Gradient with respect to v from the gradient with respect to the dense W (added to `gv`).
    pub fn gather(&self, gdense: &[f64], gv: &mut [f64]) {
        for (&d, &g) in gdense.iter().zip(&self.map) {
            if g != 0 {
                gv[g as usize - 1] += d;
            }
        }
    }
}

/// Output length of a convolution along one axis, if at least one output fits.
pub fn conv_out(len: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    let padded = len + 2 * padding;
    if kernel == 0 || stride == 0 || padded < kernel {
        return None;
    }
    Some((padded - kernel) / stride + 1)
}

/// 2-D convolution (cross-correlation) pattern. Input laid out channel-major (c, y, x) with index
/// `(c * h + y) * w + x`; output likewise (o, y', x'). Parameters: kernel[o][c][ky][kx], index
/// `((o * in_c + c) * k + ky) * k + kx`. 1-D convolution is the case h = 1 with a 1 x k kernel.
#[allow(clippy::too_many_arguments)]
pub fn conv(
    in_c: usize,
    out_c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding_h: usize,
    padding_w: usize,
) -> Option<Pattern> {
    let oh = conv_out(h, kh, stride, padding_h)?;
    let ow = conv_out(w, kw, stride, padding_w)?;
    let rows = out_c * oh * ow;
    let cols = in_c * h * w;
    let mut map = vec![0u32; rows * cols];
    let mut bias_map = vec![0u32; rows];
    for o in 0..out_c {
        for y in 0..oh {
            for x in 0..ow {
                let i = (o * oh + y) * ow + x;
                bias_map[i] = o as u32;
                for c in 0..in_c {
                    for ky in 0..kh {
                        let iy = (y * stride + ky) as isize - padding_h as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix = (x * stride + kx) as isize - padding_w as isize;
                            if ix < 0 || ix >= w as isize {
                                continue;
                            }
                            let j = (c * h + iy as usize) * w + ix as usize;
                            let p = ((o * in_c + c) * kh + ky) * kw + kx;
                            map[i * cols + j] = p as u32 + 1;
                        }
                    }
                }
            }
        }
    }
    Some(Pattern {
        rows,
        cols,
        params: out_c * in_c * kh * kw,
        map,
        bias_map,
        biases: out_c,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv1d_pattern_is_a_banded_toeplitz_matrix() {
        // 1 channel, length 5, kernel 3, stride 1, padding 1: output length 5.
        let p = conv(1, 1, 1, 5, 1, 3, 1, 0, 1).unwrap();
        assert_eq!((p.rows, p.cols, p.params), (5, 5, 3));
        let row = |i: usize| p.map[i * 5..(i + 1) * 5].to_vec();
        assert_eq!(row(0), vec![2, 3, 0, 0, 0]);
        assert_eq!(row(2), vec![0, 1, 2, 3, 0]);
        assert_eq!(row(4), vec![0, 0, 0, 1, 2]);
        // stride 2, no padding: output length 2.
        let p = conv(1, 1, 1, 5, 1, 3, 2, 0, 0).unwrap();
        assert_eq!(p.rows, 2);
        assert_eq!(p.map[5..10].to_vec(), vec![0, 0, 1, 2, 3]);
        assert!(conv(1, 1, 1, 2, 1, 3, 1, 0, 0).is_none());
    }
}
