//! The exact Hessian-vector product of the deep smooth networks: Pearlmutter's R-operator
//! (forward-over-reverse). With R{.} = d/de at (theta + e v), v = (V_1..V_H, V_a):
//!
//! forward:  R P_h = phi(R X_{h-1}) (R X_0 = 0),  R Z_h = P_h V_h^T + R P_h W_h^T,
//!           R X_h = [skip] R X_{h-1} + alpha_h sigma'(Z_h) o R Z_h,
//!           R u_i = sum_{r,l} (V_a X_H + a R X_H)[(i,l), r];
//! backward: G_H = e a, R G_H = (R u) a + e V_a (e = u - y),  (Hv)_a = sum_i R e_i X_H + e_i R X_H,
//!           dZ_h = alpha_h G_h o sigma'(Z_h),
//!           R dZ_h = alpha_h (R G_h o sigma'(Z_h) + G_h o sigma''(Z_h) o R Z_h),
//!           (Hv)_{W_h} = R dZ_h^T P_h + dZ_h^T R P_h,
//!           G_{h-1} = [skip] G_h + phi^*(dZ_h W_h),
//!           R G_{h-1} = [skip] R G_h + phi^*(R dZ_h W_h + dZ_h V_h)
//!
//! (phi^*: the adjoint of the patch map). sigma'' enters through R dZ_h: the product is exact
//! for the smooth activations (for ReLU it is the Hessian away from the kinks).

use super::{back_w, col2im_add, forward, grad_w, im2col, mul_wt, Chunk, DeepNet, Shape};

/// The product's buffers of one chunk.
pub(crate) struct RBufs {
    rz: Vec<Vec<f64>>,
    rx: Vec<Vec<f64>>,
    rp: Vec<f64>,
    rg: Vec<f64>,
    rg2: Vec<f64>,
    rdz: Vec<f64>,
    rdp: Vec<f64>,
    ru: Vec<f64>,
    pub hv: Vec<f64>,
}

impl RBufs {
    fn new(s: &Shape, len: usize) -> RBufs {
        let rows = len * s.p;
        let m = s.width;
        let qc = s.q * s.max_c();
        RBufs {
            rz: (0..s.depth).map(|_| vec![0.0; rows * m]).collect(),
            rx: (0..s.depth).map(|_| vec![0.0; rows * m]).collect(),
            rp: vec![0.0; if s.q > 1 { rows * qc } else { 0 }],
            rg: vec![0.0; rows * s.max_c()],
            rg2: vec![0.0; rows * s.max_c()],
            rdz: vec![0.0; rows * m],
            rdp: vec![0.0; rows * qc],
            ru: vec![0.0; len],
            hv: vec![0.0; s.dim],
        }
    }
    /// Doubles of one chunk's buffers (u64, for the budget).
    pub(crate) fn doubles(
        depth: u128,
        m: u128,
        maxc: u128,
        p: u128,
        q: u128,
        cap: u128,
        dim: u128,
    ) -> u128 {
        let rows = cap * p;
        let qc = q * maxc;
        let rp = if q > 1 { rows * qc } else { 0 };
        2 * depth * rows * m + rp + 2 * rows * maxc + rows * m + rows * qc + cap + dim
    }
}

/// H v of one chunk into `c.r.hv` (`v` the direction, same layout as `w`).
fn hvp_chunk(s: &Shape, w: &[f64], v: &[f64], x0: &[f64], y: &[f64], c: &mut Chunk) {
    forward(s, w, x0, c);
    let rows = c.len * s.p;
    let (m, p, q) = (s.width, s.p, s.q);
    let a = &w[s.a_off..s.a_off + m * p];
    let va = &v[s.a_off..s.a_off + m * p];
    let Chunk {
        z,
        x,
        pbuf,
        g,
        g2,
        dz,
        dp,
        u,
        r,
        ..
    } = c;
    let RBufs {
        rz,
        rx,
        rp,
        rg,
        rg2,
        rdz,
        rdp,
        ru,
        hv,
    } = r.as_mut().expect("allocated by hvp");
    hv.fill(0.0);
    // R-forward.
    for (h, l) in s.layers.iter().enumerate() {
        let k = q * l.cin;
        let input: &[f64] = if h == 0 { x0 } else { &x[h - 1] };
        let pm: &[f64] = if q == 1 {
            &input[..rows * k]
        } else {
            im2col(input, rows, l.cin, p, q, &mut pbuf[..rows * k]);
            &pbuf[..rows * k]
        };
        let (rbelow, rhere) = rx.split_at_mut(h);
        let rzh = &mut rz[h][..rows * m];
        let vh = &v[l.off..l.off + m * k];
        mul_wt(pm, rows, k, vh, m, rzh);
        if h > 0 {
            let rin = &rbelow[h - 1][..rows * l.cin];
            let rpm: &[f64] = if q == 1 {
                rin
            } else {
                im2col(rin, rows, l.cin, p, q, &mut rp[..rows * k]);
                &rp[..rows * k]
            };
            // rz += rP W^T
            crate::linalg::gemm(
                1.0,
                rpm,
                crate::linalg::Layout::row_major(rows, k),
                s.weights(w, h),
                crate::linalg::Layout::row_major(m, k).t(),
                1.0,
                rzh,
                crate::linalg::Layout::row_major(rows, m),
            );
        }
        let zh = &z[h][..rows * m];
        let rxh = &mut rhere[0][..rows * m];
        for ((o, zi), rzi) in rxh.iter_mut().zip(zh).zip(rzh.iter()) {
            *o = l.alpha * s.act.d1(*zi) * rzi;
        }
        if l.skip {
            for (o, b) in rxh.iter_mut().zip(&rbelow[h - 1][..rows * m]) {
                *o += b;
            }
        }
    }
    let xh = &x[s.depth - 1];
    let rxh = &rx[s.depth - 1];
    for i in 0..c.len {
        let mut t = 0.0;
        for l in 0..p {
            let row = (i * p + l) * m;
            for r in 0..m {
                t += va[r * p + l] * xh[row + r] + a[r * p + l] * rxh[row + r];
            }
        }
        ru[i] = t;
    }
    // Backward with its R-pass.
    let ha = &mut hv[s.a_off..s.a_off + m * p];
    for i in 0..c.len {
        let e = u[i] - y[i];
        let re = ru[i];
        for l in 0..p {
            let row = (i * p + l) * m;
            for r in 0..m {
                let ai = r * p + l;
                ha[ai] += re * xh[row + r] + e * rxh[row + r];
                g[row + r] = e * a[ai];
                rg[row + r] = re * a[ai] + e * va[ai];
            }
        }
    }
    let mut cur = std::mem::take(g);
    let mut nxt = std::mem::take(g2);
    let mut rcur = std::mem::take(rg);
    let mut rnxt = std::mem::take(rg2);
    for h in (0..s.depth).rev() {
        let l = &s.layers[h];
        let k = q * l.cin;
        let zh = &z[h][..rows * m];
        let rzh = &rz[h][..rows * m];
        let dzh = &mut dz[..rows * m];
        let rdzh = &mut rdz[..rows * m];
        for i in 0..rows * m {
            let (d1, d2) = (s.act.d1(zh[i]), s.act.d2(zh[i]));
            dzh[i] = l.alpha * cur[i] * d1;
            rdzh[i] = l.alpha * (rcur[i] * d1 + cur[i] * d2 * rzh[i]);
        }
        let input: &[f64] = if h == 0 { x0 } else { &x[h - 1] };
        let pm: &[f64] = if q == 1 {
            &input[..rows * k]
        } else {
            im2col(input, rows, l.cin, p, q, &mut pbuf[..rows * k]);
            &pbuf[..rows * k]
        };
        let hw = &mut hv[l.off..l.off + m * k];
        grad_w(rdzh, rows, m, pm, k, 0.0, hw);
        if h > 0 {
            let rin = &rx[h - 1][..rows * l.cin];
            let rpm: &[f64] = if q == 1 {
                rin
            } else {
                im2col(rin, rows, l.cin, p, q, &mut rp[..rows * k]);
                &rp[..rows * k]
            };
            grad_w(dzh, rows, m, rpm, k, 1.0, hw);
            let wh = s.weights(w, h);
            let vh = &v[l.off..l.off + m * k];
            let nx = &mut nxt[..rows * l.cin];
            let rnx = &mut rnxt[..rows * l.cin];
            if q == 1 {
                back_w(dzh, rows, m, wh, k, 0.0, nx);
                back_w(rdzh, rows, m, wh, k, 0.0, rnx);
                back_w(dzh, rows, m, vh, k, 1.0, rnx);
            } else {
                let dph = &mut dp[..rows * k];
                back_w(dzh, rows, m, wh, k, 0.0, dph);
                nx.fill(0.0);
                col2im_add(dph, rows, l.cin, p, q, nx);
                let rdph = &mut rdp[..rows * k];
                back_w(rdzh, rows, m, wh, k, 0.0, rdph);
                back_w(dzh, rows, m, vh, k, 1.0, rdph);
                rnx.fill(0.0);
                col2im_add(rdph, rows, l.cin, p, q, rnx);
            }
            if l.skip {
                for (a, b) in nx.iter_mut().zip(&cur[..rows * l.cin]) {
                    *a += b;
                }
                for (a, b) in rnx.iter_mut().zip(&rcur[..rows * l.cin]) {
                    *a += b;
                }
            }
            std::mem::swap(&mut cur, &mut nxt);
            std::mem::swap(&mut rcur, &mut rnxt);
        }
    }
    *g = cur;
    *g2 = nxt;
    *rg = rcur;
    *rg2 = rnxt;
}

/// `out = H(w) v`, exact, summed over the chunks in order.
pub(crate) fn hvp(net: &mut DeepNet, w: &[f64], v: &[f64], out: &mut [f64]) {
    let mut chunks = std::mem::take(&mut net.chunks);
    let (s, x, y) = (&net.shape, &net.x, &net.y);
    let rd = s.p * s.d;
    for c in chunks.iter_mut() {
        if c.r.is_none() {
            c.r = Some(RBufs::new(s, c.len));
        }
    }
    net.par.for_each(&mut chunks, |_, c| {
        let x0 = &x[c.start * rd..(c.start + c.len) * rd];
        let yc = &y[c.start..c.start + c.len];
        hvp_chunk(s, w, v, x0, yc, c);
    });
    out.fill(0.0);
    for c in &chunks {
        for (o, h) in out.iter_mut().zip(&c.r.as_ref().expect("allocated").hv) {
            *o += h;
        }
    }
    net.chunks = chunks;
}
