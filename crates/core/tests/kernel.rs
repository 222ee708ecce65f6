//! The quadrature (Gauss-Hermite, 2-D Gaussian expectations, arc-cosine closed forms) and the
//! `kernelRecursion` study: each recursion against Monte Carlo of wide random networks, the three
//! corrections of REFERENCE.md demonstrated (docs/kernel-recursions.md).

use autobalance_core::quadrature::{relu_relu, step_step, Activation, GaussHermite};

/// Trapezoid rule for E[f(z)] on [-L, L] with spacing h: spectrally accurate for smooth f
/// (an independent reference quadrature).
fn trapezoid(f: impl Fn(f64) -> f64, h: f64) -> f64 {
    let l = 40.0;
    let n = (2.0 * l / h) as i64;
    let mut s = 0.0;
    for k in -n / 2..=n / 2 {
        let z = k as f64 * h;
        s += f(z) * (-0.5 * z * z).exp();
    }
    s * h / (2.0 * std::f64::consts::PI).sqrt()
}

fn trapezoid2(f: impl Fn(f64, f64) -> f64, h: f64) -> f64 {
    let l = 18.0;
    let n = (2.0 * l / h) as i64;
    let mut s = 0.0;
    for k in -n / 2..=n / 2 {
        let x = k as f64 * h;
        for q in -n / 2..=n / 2 {
            let y = q as f64 * h;
            s += f(x, y) * (-0.5 * (x * x + y * y)).exp();
        }
    }
    s * h * h / (2.0 * std::f64::consts::PI)
}

#[test]
fn gauss_hermite_integrates_the_moments_exactly() {
    for n in [1usize, 2, 5, 10, 20, 40, 60, 100] {
        let g = GaussHermite::new(n).unwrap();
        let wsum: f64 = g.weights().iter().sum();
        assert!((wsum - 1.0).abs() < 1e-15);
        // E z^{2k} = (2k - 1)!!, exact for 2k <= 2n - 1 (relative error).
        let mut dfact = 1.0;
        for k in 1..=n.min(25) {
            if 2 * k > 2 * n - 1 {
                break;
            }
            dfact *= (2 * k - 1) as f64;
            let m = g.expect(|z| z.powi(2 * k as i32));
            assert!(
                (m / dfact - 1.0).abs() < 5e-14,
                "n {n} moment {} rel err {}",
                2 * k,
                m / dfact - 1.0
            );
            let odd = g.expect(|z| z.powi(2 * k as i32 - 1));
            let scale = g.expect(|z| z.abs().powi(2 * k as i32 - 1));
            assert!(odd.abs() < 1e-14 * scale, "odd moment {odd} scale {scale}");
        }
    }
    assert!(GaussHermite::new(0).is_err());
    assert!(GaussHermite::new(201).is_err());
}

#[test]
fn gauss_hermite_agrees_with_a_reference_quadrature_and_converges() {
    for act in [Activation::Softplus, Activation::Sigmoid, Activation::Tanh] {
        let reference = trapezoid(|z| act.sigma(z).powi(2), 0.02);
        let mut errs = Vec::new();
        for n in [5usize, 10, 20, 40, 60, 100, 150, 200] {
            let g = GaussHermite::new(n).unwrap();
            errs.push((act.second_moment(&g) - reference).abs());
        }
        // softplus and sigmoid (poles at +-i pi) reach 1e-14 with 60 nodes; tanh (poles at
        // +-i pi/2) needs about 150 (measured: 6e-9 at 60, 6e-12 at 100, 7e-15 at 150).
        let at = if act == Activation::Tanh { 6 } else { 4 };
        assert!(errs[at] < 1e-14, "{act:?}: err {errs:?}");
        assert!(
            errs[0] > errs[1] && errs[1] > errs[2] && errs[2] > errs[3],
            "{act:?} {errs:?}"
        );
    }
    // exp(z) has E = e^{1/2}.
    let g = GaussHermite::new(40).unwrap();
    assert!((g.expect(f64::exp) / 0.5f64.exp() - 1.0).abs() < 1e-14);
}

#[test]
fn expect2_has_the_gaussian_moments_and_matches_a_2d_reference() {
    let g = GaussHermite::new(40).unwrap();
    let (a, b, c) = (1.3, 0.7, -0.55);
    assert!((g.expect2(a, b, c, |u| u, |v| v) - c).abs() < 1e-14);
    let m22 = g.expect2(a, b, c, |u| u * u, |v| v * v);
    assert!((m22 - (a * b + 2.0 * c * c)).abs() < 1e-13, "{m22}");
    let e = g.expect2(a, b, c, f64::exp, f64::exp);
    assert!((e / (0.5 * (a + b + 2.0 * c)).exp() - 1.0).abs() < 1e-13);
    // Singular covariance (c^2 = ab): v = (c/sqrt a) z1 exactly.
    let s = g.expect2(1.0, 4.0, 2.0, |u| u, |v| v);
    assert!((s - 2.0).abs() < 1e-14);
    // Softplus against the 2-D trapezoid on (z1, z2).
    let sp = Activation::Softplus;
    let (su, mu, sv) = autobalance_core::quadrature::cholesky2(a, b, c);
    let r = trapezoid2(|x, y| sp.sigma(su * x) * sp.sigma(mu * x + sv * y), 0.05);
    let q = sp.expect_ss(&GaussHermite::new(60).unwrap(), a, b, c);
    assert!((q - r).abs() < 1e-13, "softplus 2-D: {q} vs {r}");
}

#[test]
fn relu_closed_forms_match_quadrature_of_the_kink_slowly_and_monte_carlo() {
    let (a, b, c) = (1.1, 0.8, 0.4);
    let (su, mu, sv) = autobalance_core::quadrature::cholesky2(a, b, c);
    // A fine trapezoid (second order across the kink) agrees to ~1e-6.
    let r = trapezoid2(|x, y| (su * x).max(0.0) * (mu * x + sv * y).max(0.0), 0.01);
    assert!(
        (relu_relu(a, b, c) - r).abs() < 1e-5,
        "{} vs {r}",
        relu_relu(a, b, c)
    );
    let s = trapezoid2(
        |x, y| {
            if su * x > 0.0 && mu * x + sv * y > 0.0 {
                1.0
            } else {
                0.0
            }
        },
        0.01,
    );
    assert!(
        (step_step(a, b, c) - s).abs() < 1e-2,
        "{} vs {s}",
        step_step(a, b, c)
    );
    // Gauss-Hermite converges badly on the kink: 60 nodes are still far from 1e-14.
    let gh = GaussHermite::new(60)
        .unwrap()
        .expect2(a, b, c, |u| u.max(0.0), |v| v.max(0.0));
    assert!((gh - relu_relu(a, b, c)).abs() > 1e-8);
    // Degenerate cases: th = 0 gives E relu(u)^2 = a/2; E 1{u>0} = 1/2.
    assert!((relu_relu(2.0, 2.0, 2.0) - 1.0).abs() < 1e-15);
    assert!((step_step(2.0, 2.0, 2.0) - 0.5).abs() < 1e-15);
    assert!((Activation::Relu.c_sigma(&GaussHermite::new(3).unwrap()) - 2.0).abs() == 0.0);
}

// ---------------------------------------------------------------- the kernelRecursion study

use autobalance_core::study::{Buffers, Study};
use serde_json::{json, Value};

fn run_study(spec: Value, buffers: Buffers) -> (Study, Value) {
    let mut s = Study::new(&spec.to_string(), buffers).unwrap();
    while !s.status().finished {
        s.advance(1000).unwrap();
    }
    let r: Value = serde_json::from_str(&s.result_json()).unwrap();
    (s, r)
}

/// Mean gap per width of the study's first finite depth, and the fitted exponent.
fn gaps(r: &Value) -> (Vec<f64>, f64) {
    let f = &r["finiteWidth"][0];
    let g: Vec<f64> = f["meanGapRel"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    (g, f["exponentRel"].as_f64().unwrap_or(f64::NAN))
}

/// Sphere data for the dense nets (n = 6 in d = 4) or the conv ResNet (n = 4, 2 channels x 4).
fn sphere(conv: bool) -> Value {
    if conv {
        json!({"kind": "sphere", "n": 4, "channels": 2, "length": 4, "seed": 3})
    } else {
        json!({"kind": "sphere", "n": 6, "d": 4, "seed": 3})
    }
}

/// Six points in R^4 with norms 0.3, 0.8, ..., 2.8 (the ResNet's K_ii then differ).
fn unequal_norms() -> Vec<f64> {
    let mut rng = autobalance_core::rng::Normal::new(11);
    let mut xs = Vec::new();
    for i in 0..6 {
        let scale = 0.3 + 0.5 * i as f64;
        let mut v = [0.0; 4];
        rng.fill(&mut v, 1.0);
        let nv = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        xs.extend(v.iter().map(|a| a / nv * scale));
    }
    xs
}

/// Runs the study at widths 256 and 1024 with 16 seeds: (mean relative gap per width, fitted
/// exponent of the single-network gap, relative gap of the 16-seed mean Gram at m = 1024).
fn monte_carlo(
    arch: &str,
    act: &str,
    variant: &str,
    depth: usize,
    explicit: bool,
) -> (Vec<f64>, f64, f64) {
    let data = if explicit {
        json!({"kind": "explicit", "n": 6, "d": 4})
    } else {
        sphere(arch == "convResnet")
    };
    let mut spec = json!({"kind": "kernelRecursion", "architecture": arch, "activation": act,
        "variant": variant, "depths": [depth], "data": data,
        "finiteWidth": {"widths": [256, 1024], "seeds": 16}});
    if arch != "fullyConnected" {
        spec["cRes"] = json!(0.9);
    }
    let mut b = Buffers::new();
    if explicit {
        b.insert("data.x".into(), unequal_norms());
    }
    let (_, r) = run_study(spec, b);
    let (g, e) = gaps(&r);
    let sm = r["finiteWidth"][0]["seedMeanGapRel"][1].as_f64().unwrap();
    (g, e, sm)
}

#[test]
fn every_recursion_agrees_with_wide_random_networks() {
    // The gap ||G - K||_2 / ||K||_2 of one network shrinks like m^{-1/2}; the Gram averaged over
    // 16 networks is within a few percent of K at m = 1024 (noise 1/sqrt(16 m), bias 1/m;
    // measured for the ResNet ReLU at H = 4: 0.042, 0.038, 0.014 at m = 256, 1024, 4096).
    for (arch, act, depth) in [
        ("fullyConnected", "softplus", 3),
        ("fullyConnected", "tanh", 2),
        ("fullyConnected", "relu", 3),
        ("resnet", "softplus", 4),
        ("resnet", "sigmoid", 3),
        ("resnet", "relu", 4),
        ("convResnet", "softplus", 3),
        ("convResnet", "relu", 3),
    ] {
        let (g, e, sm) = monte_carlo(arch, act, "corrected", depth, false);
        eprintln!("{arch} {act} H={depth}: gaps {g:?} exponent {e:.3} seed-mean gap {sm:.4}");
        assert!(g[1] < g[0], "{arch} {act}: gap did not shrink: {g:?}");
        assert!((-0.85..=-0.3).contains(&e), "{arch} {act}: exponent {e}");
        // A wrong kernel leaves the averaged Gram as far from K as one network is.
        assert!(
            sm < 0.05 && sm < 0.6 * g[1],
            "{arch} {act}: seed-mean gap {sm}"
        );
    }
}

#[test]
fn the_three_corrections_are_what_wide_networks_do() {
    // Fix 1 (fully connected, last step's covariance from K^(H-1)): ReLU at H = 2.
    // Fix 2 (ResNet, b_i pairs with sigma(v)): unequal norms, H = 4.
    // Fix 3 (conv ResNet: aggregation, un-aggregated skip, t^2): sphere, H = 3.
    for (arch, act, depth, explicit) in [
        ("fullyConnected", "relu", 2, false),
        ("resnet", "relu", 4, true),
        ("resnet", "softplus", 6, true),
        ("convResnet", "softplus", 3, false),
    ] {
        let (_, _, good) = monte_carlo(arch, act, "corrected", depth, explicit);
        let (g, _, bad) = monte_carlo(arch, act, "asPrinted", depth, explicit);
        eprintln!(
            "{arch} {act}: seed-mean gap corrected {good:.4}, as printed {bad:.4} (single {g:?})"
        );
        assert!(
            bad > 2.5 * good,
            "{arch} {act}: corrected {good} vs as printed {bad}"
        );
    }
}

#[test]
fn fix_two_matters_only_when_the_norms_differ() {
    // On the sphere every K_ii is equal and the printed pairing gives the same kernel.
    let mk = |variant: &str| {
        json!({"kind": "kernelRecursion", "architecture": "resnet", "activation": "softplus",
               "variant": variant, "depths": [2, 5], "cRes": 0.5, "data": sphere(false)})
    };
    let (_, a) = run_study(mk("corrected"), Buffers::new());
    let (_, b) = run_study(mk("asPrinted"), Buffers::new());
    for k in 0..2 {
        let (x, y) = (
            a["lambdaMin"][k].as_f64().unwrap(),
            b["lambdaMin"][k].as_f64().unwrap(),
        );
        assert!((x - y).abs() <= 1e-13 * x.abs(), "{x} vs {y}");
    }
}

#[test]
fn results_do_not_depend_on_the_chunking() {
    let spec = json!({"kind": "kernelRecursion", "architecture": "convResnet", "activation": "tanh",
        "depths": {"max": 3}, "quadrature": {"nodes": 30}, "data": sphere(true),
        "finiteWidth": {"widths": [16, 32], "seeds": 2}});
    let (a, ra) = run_study(spec.clone(), Buffers::new());
    let mut b = Study::new(&spec.to_string(), Buffers::new()).unwrap();
    while !b.status().finished {
        b.advance(1).unwrap();
    }
    let rb: Value = serde_json::from_str(&b.result_json()).unwrap();
    assert_eq!(ra["lambdaMin"], rb["lambdaMin"]);
    assert_eq!(ra["finiteWidth"], rb["finiteWidth"]);
    let bits = |s: &Study| -> Vec<u64> {
        s.column("gapNorm", 0)
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(a.status().total, a.status().done);
    assert_eq!(a.column("depth", 0).unwrap().len(), 3 + 4);
}

#[test]
fn kernels_are_positive_definite_and_the_resnet_scales_like_one_over_h_squared() {
    let spec = json!({"kind": "kernelRecursion", "architecture": "resnet", "activation": "softplus",
        "depths": [2, 4, 8, 16, 32], "cRes": 0.5, "data": {"kind": "sphere", "n": 8, "d": 5, "seed": 1}});
    let (s, r) = run_study(spec, Buffers::new());
    for v in r["lambdaMin"].as_array().unwrap() {
        assert!(v.as_f64().unwrap() > 0.0);
    }
    let e = r["depthExponent"].as_f64().unwrap();
    assert!((-2.3..=-1.7).contains(&e), "exponent {e}");
    let h2 = s.column("lambdaMinH2", 0).unwrap();
    assert!(h2.iter().all(|v| *v > 0.0));
}

fn err(spec: Value, buffers: Buffers) -> (String, String) {
    let e = Study::new(&spec.to_string(), buffers).unwrap_err();
    let j: Value = serde_json::from_str(&e.to_json()).unwrap();
    (
        j["code"].as_str().unwrap().to_string(),
        j["field"].as_str().unwrap().to_string(),
    )
}

#[test]
fn bad_specs_name_the_field() {
    let base = json!({"kind": "kernelRecursion", "architecture": "resnet", "activation": "softplus",
        "depths": [2], "data": {"kind": "sphere", "n": 4, "d": 3, "seed": 1}});
    let with = |path: &[&str], v: Value| {
        let mut s = base.clone();
        let mut cur = &mut s;
        for p in &path[..path.len() - 1] {
            cur = &mut cur[*p];
        }
        cur[path[path.len() - 1]] = v;
        s
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&["depths"], json!([2, 0])), "depths[1]"),
        (with(&["depths"], json!({"max": 2.5})), "depths.max"),
        (with(&["depths"], json!({"maxx": 2})), "depths.maxx"),
        (with(&["cRes"], json!(-1)), "cRes"),
        (with(&["patch"], json!(3)), "patch"),
        (with(&["activation"], json!("gelu")), "activation"),
        (with(&["architecture"], json!("mlp")), "architecture"),
        (with(&["data", "n"], json!(0)), "data.n"),
        (with(&["data", "channels"], json!(2)), "data.channels"),
        (
            with(&["quadrature"], json!({"nodes": 500})),
            "quadrature.nodes",
        ),
        (
            with(&["finiteWidth"], json!({"widths": [8, 0]})),
            "finiteWidth.widths[1]",
        ),
        (
            with(&["finiteWidth"], json!({"widths": [8], "depths": [3]})),
            "finiteWidth.depths[0]",
        ),
        (
            with(&["finiteWidth"], json!({"widths": [8], "seeds": 0})),
            "finiteWidth.seeds",
        ),
        (with(&["extra"], json!(1)), "extra"),
    ];
    for (spec, field) in cases {
        let (_, f) = err(spec.clone(), Buffers::new());
        assert_eq!(f, field, "{spec}");
    }
    // Conv: patch must be odd; d is not a conv field.
    let conv = json!({"kind": "kernelRecursion", "architecture": "convResnet", "activation": "relu",
        "depths": [2], "patch": 2, "data": {"kind": "sphere", "n": 4, "channels": 2, "length": 5}});
    assert_eq!(err(conv, Buffers::new()).1, "patch");
    // Explicit data: the buffer's length and entries.
    let ex = with(&["data"], json!({"kind": "explicit", "n": 2, "d": 3}));
    assert_eq!(err(ex.clone(), Buffers::new()).1, "data.x");
    let mut b = Buffers::new();
    b.insert("data.x".into(), vec![1.0; 5]);
    assert_eq!(err(ex.clone(), b).0, "shape_mismatch");
    let mut b = Buffers::new();
    b.insert("data.x".into(), vec![1.0, 0.0, f64::NAN, 1.0, 1.0, 1.0]);
    assert_eq!(err(ex, b).1, "data.x[2]");
}

#[test]
fn memory_is_checked_before_any_allocation() {
    // n^2 p^2 doubles per pixel Gram: n = 2000, p = 64 needs 4 x 131 GB.
    let spec = json!({"kind": "kernelRecursion", "architecture": "convResnet", "activation": "relu",
        "depths": [2], "data": {"kind": "sphere", "n": 2000, "channels": 1, "length": 64}});
    let (code, field) = err(spec, Buffers::new());
    assert_eq!((code.as_str(), field.as_str()), ("too_large", "data.n"));
    let spec = json!({"kind": "kernelRecursion", "architecture": "fullyConnected", "activation": "relu",
        "depths": [2], "data": {"kind": "sphere", "n": 4, "d": 3},
        "finiteWidth": {"widths": [8, 200000]}});
    let (code, field) = err(spec, Buffers::new());
    assert_eq!(
        (code.as_str(), field.as_str()),
        ("too_large", "finiteWidth.widths[1]")
    );
}

#[test]
fn the_ch3_preset_studies_validate() {
    let p: Value =
        serde_json::from_str(&autobalance_core::presets::spec_json("ch3Kernels").unwrap()).unwrap();
    let studies = p["studies"].as_array().unwrap();
    assert_eq!(studies.len(), 5);
    for s in studies {
        Study::new(&s["spec"].to_string(), Buffers::new()).unwrap();
    }
}
