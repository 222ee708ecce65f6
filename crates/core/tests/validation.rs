//! Validation (issue 10, "Backends that disagree, and input accepted silently" and "Crashes and
//! out-of-memory that pass validation"): every allocation is counted before it is made, every
//! integer field means the same on 64-bit targets and on wasm32, no null or non-finite number
//! becomes a default, errors name the full path, and echoed input is bounded.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::time::Instant;

use autobalance_core::error::{MAX_FIELD_CHARS, MAX_MESSAGE_CHARS};
use autobalance_core::{Error, ErrorCode, Session};
use serde_json::{json, Value};

/// Counts the live bytes and their peak per thread (the tests run sequentially within a thread:
/// the core's default parallelism without the `parallel` feature is sequential).
struct Counting;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn add(n: i64) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + n;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            add(l.size() as i64);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            add(l.size() as i64);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        add(-(l.size() as i64));
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            // The old and the new block coexist during a copy.
            add(new as i64);
            add(-(l.size() as i64));
        }
        q
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// The memory limit and the reservations are per process: the tests of this file run one at a
/// time (one of them lowers the limit, and live runs count against every other run).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn err(spec: &Value) -> Error {
    match Session::new(&spec.to_string(), HashMap::new()) {
        Ok(_) => panic!("accepted: {}", truncated(&spec.to_string())),
        Err(e) => e,
    }
}

fn err_text(text: &str) -> Error {
    match Session::new(text, HashMap::new()) {
        Ok(_) => panic!("accepted: {}", truncated(text)),
        Err(e) => e,
    }
}

fn truncated(s: &str) -> String {
    s.chars().take(300).collect()
}

fn assert_err(e: &Error, code: ErrorCode, field: &str) {
    assert_eq!((e.code, e.field.as_str()), (code, field), "{e:?}");
}

fn net(layers: Value, samples: u64, steps: u64) -> Value {
    let n = layers.as_array().unwrap().len();
    json!({
        "model": {"kind": "network", "inputDim": 1, "layers": layers},
        "data": {"kind": "generated", "samples": samples,
                 "targets": {"kind": "gaussian"}, "seed": 1},
        "init": {"kind": "gaussian", "variances": vec![0.1; n], "seed": 2},
        "schedule": {"kind": "constant", "eta": 0.01},
        "steps": steps
    })
}

fn mf() -> Value {
    json!({
        "model": {"kind": "matrixFactorization", "d1": 4, "d2": 3, "rank": 2},
        "target": {"kind": "random", "singularValues": [2.0, 1.0], "seed": 1},
        "init": {"kind": "gaussian", "stdU": 0.1, "stdV": 0.1, "seed": 2},
        "schedule": {"kind": "constant", "eta": 0.01},
        "steps": 10
    })
}

// ---- 1. Every byte counted: scratch and recorded rows ----

#[test]
fn wide_relu_network_is_too_large_before_allocating() {
    let _serial = serial();
    // 1 -> 100000 -> 1: the n_h x n_h invariant scratch alone was 80 GB (SIGABRT on native).
    let t = Instant::now();
    let spec = net(
        json!([{"width": 100000, "activation": "relu"}, {"width": 1}]),
        1_000_000,
        10,
    );
    let e = err(&spec);
    assert_eq!(e.code, ErrorCode::TooLarge, "{e:?}");
    assert!(t.elapsed().as_secs_f64() < 2.0, "{:?}", t.elapsed());
}

#[test]
fn wide_relu_network_that_fits_allocates_no_n_squared_scratch() {
    let _serial = serial();
    // The same width with few samples fits: no width^2 scratch for a ReLU pair.
    let spec = net(
        json!([{"width": 100000, "activation": "relu"}, {"width": 1}]),
        4,
        2,
    );
    let mut s = Session::new(&spec.to_string(), HashMap::new()).unwrap();
    assert!(s.reserved_bytes() < 1 << 30, "{}", s.reserved_bytes());
    s.advance(2);
}

#[test]
fn wide_linear_network_counts_its_matrix_invariant() {
    let _serial = serial();
    // 1 -> 100000 -> 1 linear: the n_h x n_h invariant (80 GB) is counted.
    let spec = net(json!([{"width": 100000}, {"width": 1}]), 4, 2);
    assert_err(&err(&spec), ErrorCode::TooLarge, "model");
}

#[test]
fn wide_teacher_is_too_large() {
    let _serial = serial();
    let mut spec = net(json!([{"width": 3}, {"width": 1}]), 100000, 2);
    spec["data"]["targets"] =
        json!({"kind": "teacher", "widths": [100000], "activation": "linear"});
    assert_err(&err(&spec), ErrorCode::TooLarge, "data.targets");
    spec["data"]["targets"] = json!({"kind": "teacher", "widths": [100000]});
    spec["data"]["samples"] = json!(1_000_000);
    let e = err(&spec);
    assert_eq!(e.code, ErrorCode::TooLarge, "{e:?}");
}

#[test]
fn huge_hidden_layer_is_too_large() {
    let _serial = serial();
    let mut spec = net(
        json!([{"width": 1_000_000, "activation": "relu"}, {"width": 1}]),
        10,
        2,
    );
    spec["model"]["inputDim"] = json!(500);
    assert_err(&err(&spec), ErrorCode::TooLarge, "model");
}

#[test]
fn deep_narrow_network_counts_its_real_columns() {
    let _serial = serial();
    // 3000 layers of width 1 record about 18,000 columns per row, not 64.
    let layers: Vec<Value> = (0..3000).map(|_| json!({"width": 1})).collect();
    let spec = net(Value::Array(layers), 4, 1_000_000);
    assert_err(&err(&spec), ErrorCode::TooLarge, "steps");
}

#[test]
fn curvature_basis_is_counted() {
    let _serial = serial();
    let mut spec = net(
        json!([{"width": 2000, "activation": "relu"}, {"width": 1}]),
        4,
        10,
    );
    spec["model"]["inputDim"] = json!(2000);
    spec["curvature"] = json!({"every": 1, "maxIter": 100000});
    let e = Session::new(&spec.to_string(), HashMap::new()).unwrap();
    // 4 M parameters: the Lanczos basis (64 MiB) is part of the reservation.
    assert!(e.reserved_bytes() > 64 << 20, "{}", e.reserved_bytes());
}

/// The bytes reserved bound what the run really allocates (construction, steps, curvature).
fn peak_within_reservation(spec: &Value, steps: u64) {
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let mut s = Session::new(&spec.to_string(), HashMap::new()).unwrap();
    let reserved = s.reserved_bytes() as i64;
    s.advance(steps);
    let peak = PEAK.with(|p| p.get()) - base;
    // 64 KiB of slack for names, small vectors and the JSON of reports.
    assert!(
        peak <= reserved + (64 << 10),
        "peak {peak} > reserved {reserved}: {spec}"
    );
}

#[test]
fn reservation_bounds_the_peak() {
    let _serial = serial();
    let mut a = net(
        json!([{"width": 40, "activation": "relu", "bias": true}, {"width": 30}, {"width": 2}]),
        300,
        50,
    );
    a["model"]["inputDim"] = json!(20);
    peak_within_reservation(&a, 50);
    a["curvature"] = json!({"every": 10});
    peak_within_reservation(&a, 50);
    a["method"] = json!({"kind": "implicitMidpoint", "maxIter": 5});
    peak_within_reservation(&a, 20);
    a["method"] = json!({"kind": "sgd", "batchSize": 32, "seed": 1});
    peak_within_reservation(&a, 20);
    let mut m = mf();
    m["model"] = json!({"kind": "matrixFactorization", "d1": 60, "d2": 50, "rank": 12});
    m["target"]["singularValues"] = json!(vec![1.0; 12]);
    m["curvature"] = json!({"every": 5});
    peak_within_reservation(&m, 30);
    m["method"] = json!({"kind": "rk4"});
    peak_within_reservation(&m, 30);
    // Many rows: the recorded columns grow by doubling.
    let mut r = mf();
    r["steps"] = json!(5000);
    peak_within_reservation(&r, 5000);
}

// ---- 2, 3. A limit from the machine, and runs alive held against it ----

#[test]
fn the_limit_is_settable_and_live_runs_are_held_against_it() {
    let _serial = serial();
    use autobalance_core::build::{max_bytes, set_max_bytes};
    let before = max_bytes();
    // A run of about 80 MiB (d1 = d2 = 3000: the target alone is 72 MB).
    let mut big = mf();
    big["model"] = json!({"kind": "matrixFactorization", "d1": 3000, "d2": 3000, "rank": 1});
    big["target"]["singularValues"] = json!([1.0]);
    let first = Session::new(&big.to_string(), HashMap::new()).unwrap();
    let need = first.reserved_bytes();
    set_max_bytes(need + need / 2);
    let e = err(&big);
    assert_eq!(e.code, ErrorCode::TooLarge, "{e:?}");
    assert!(e.message.contains("held by other live runs"), "{e:?}");
    drop(first);
    let again = Session::new(&big.to_string(), HashMap::new());
    set_max_bytes(need / 2);
    let e = err(&big);
    set_max_bytes(if before == autobalance_core::build::DEFAULT_MAX_BYTES {
        0
    } else {
        before
    });
    assert!(again.is_ok(), "{:?}", again.err());
    assert_err(&e, ErrorCode::TooLarge, "model");
}

// ---- 4. Integers mean the same on every target ----

#[test]
fn integer_bounds_are_the_same_everywhere() {
    let _serial = serial();
    // Counts up to 2^53: recordEvery 5e9 is fine (3 rows).
    let mut s = mf();
    s["recordEvery"] = json!(5e9);
    Session::new(&s.to_string(), HashMap::new()).unwrap();
    // steps 2^32 with recordEvery 1: 2^32 rows do not fit, on every target (was wrapped on wasm).
    let mut s = mf();
    s["steps"] = json!(4294967296u64);
    assert_err(&err(&s), ErrorCode::TooLarge, "steps");
    s["recordEvery"] = json!(4294967296u64);
    Session::new(&s.to_string(), HashMap::new()).unwrap();
    // steps above 2^53: out of range.
    s["steps"] = json!(1e17);
    let e = err(&s);
    assert_err(&e, ErrorCode::OutOfRange, "steps");
    assert_eq!(
        e.message,
        "expected an integer in 0..=9007199254740992, got 1e17"
    );
    // Sizes up to 2^32 - 1: out_of_range (not too_large) above, with the bound printed.
    let mut s = mf();
    s["model"]["d1"] = json!(5e9);
    let e = err(&s);
    assert_err(&e, ErrorCode::OutOfRange, "model.d1");
    assert_eq!(
        e.message,
        "expected an integer in 1..=4294967295, got 5000000000"
    );
    let mut n = net(json!([{"width": 3}, {"width": 1}]), 4, 2);
    n["model"]["layers"][0]["width"] = json!(4294967296u64);
    assert_err(&err(&n), ErrorCode::OutOfRange, "model.layers[0].width");
    // A size within the bound but too large for memory: too_large, on every target.
    n["model"]["layers"][0]["width"] = json!(4294967295u64);
    assert_eq!(err(&n).code, ErrorCode::TooLarge);
    // Padding 2^32 would wrap to 0 on wasm.
    let mut c = net(
        json!([{"type": "conv1d", "inChannels": 1, "outChannels": 1, "kernel": 1,
                            "padding": 4294967296u64}, {"width": 1}]),
        4,
        2,
    );
    assert_err(&err(&c), ErrorCode::OutOfRange, "model.layers[0].padding");
    c["model"]["layers"][0]["padding"] = json!(2147483648u64);
    assert_err(&err(&c), ErrorCode::OutOfRange, "model.layers[0].padding");
    // A fraction: out_of_range.
    let mut s = mf();
    s["steps"] = json!(2.5);
    assert_err(&err(&s), ErrorCode::OutOfRange, "steps");
}

// ---- 5. null never becomes a default ----

#[test]
fn null_is_an_error_naming_the_field() {
    let _serial = serial();
    let mut c = net(
        json!([{"type": "conv1d", "inChannels": 1, "outChannels": 1, "kernel": 1,
                            "stride": null}, {"width": 1}]),
        4,
        2,
    );
    let e = err(&c);
    assert_err(&e, ErrorCode::InvalidSpec, "model.layers[0].stride");
    assert!(e.message.contains("null"), "{e:?}");
    c["model"]["layers"][0]["stride"] = json!(1);
    c["model"]["layers"][0]["padding"] = Value::Null;
    assert_err(&err(&c), ErrorCode::InvalidSpec, "model.layers[0].padding");
    let mut n = net(json!([{"width": null}, {"width": 1}]), 4, 2);
    assert_err(&err(&n), ErrorCode::InvalidSpec, "model.layers[0].width");
    n["model"]["layers"][0]["width"] = json!(2);
    n["recordEvery"] = Value::Null;
    assert_err(&err(&n), ErrorCode::InvalidSpec, "recordEvery");
    // Queries: null is not the default.
    let mut s = Session::new(&mf().to_string(), HashMap::new()).unwrap();
    let e = s.hessian(r#"{"what": "eigs", "k": null}"#).unwrap_err();
    assert_err(&e, ErrorCode::InvalidSpec, "query.k");
    let e = s
        .hessian(r#"{"what": "density", "probes": null}"#)
        .unwrap_err();
    assert_err(&e, ErrorCode::InvalidSpec, "query.probes");
    // A non-finite number in a count: non_finite (from JSON text: out of f64's range).
    let text = mf().to_string().replace("\"steps\":10", "\"steps\":1e999");
    assert_err(&err_text(&text), ErrorCode::NonFinite, "spec");
}

// ---- 6. Full paths and what was expected ----

#[test]
fn type_errors_name_the_full_path() {
    let _serial = serial();
    let mut s = mf();
    s["schedule"]["eta"] = json!("x");
    let e = err(&s);
    assert_err(&e, ErrorCode::InvalidSpec, "schedule.eta");
    assert!(e.message.contains("expected f64"), "{e:?}");
    let mut s = mf();
    s["method"] = json!({"kind": "adam", "beta1": "fast"});
    assert_err(&err(&s), ErrorCode::InvalidSpec, "method.beta1");
    let mut s = mf();
    s.as_object_mut().unwrap().remove("steps");
    let e = err(&s);
    assert_err(&e, ErrorCode::InvalidSpec, "steps");
    let mut s = mf();
    s.as_object_mut().unwrap().remove("schedule");
    assert_err(&err(&s), ErrorCode::InvalidSpec, "schedule");
    let mut n = net(json!([{"width": 3}, {"width": 1}]), 4, 2);
    n["data"]["targets"] = json!({"kind": "teacher", "widths": [3, "wide"]});
    assert_err(&err(&n), ErrorCode::InvalidSpec, "data.targets.widths[1]");
}

// ---- 7. Deep nesting ----

#[test]
fn deep_nesting_is_invalid_spec() {
    let _serial = serial();
    let depth = 100_000;
    let text = format!(
        "{{\"model\": {}1{}}}",
        "{\"a\": ".repeat(depth),
        "}".repeat(depth)
    );
    let e = err_text(&text);
    assert_err(&e, ErrorCode::InvalidSpec, "spec");
    // Within serde_json's limit but deeper than a spec goes.
    let mut v = json!(1);
    for _ in 0..100 {
        v = json!([v]);
    }
    let mut s = mf();
    s["model"]["d1"] = v;
    let e = err(&s);
    assert_eq!(e.code, ErrorCode::InvalidSpec, "{e:?}");
}

// ---- 8. Bounded echo ----

#[test]
fn echoed_input_is_bounded() {
    let _serial = serial();
    let big = "x".repeat(20 << 20);
    let mut s = mf();
    s["model"]["kind"] = json!(big);
    let e = err(&s);
    assert_err(&e, ErrorCode::InvalidSpec, "model.kind");
    assert!(
        e.message.chars().count() <= MAX_MESSAGE_CHARS,
        "{}",
        e.message.len()
    );
    assert!(e.message.ends_with('\u{2026}'));
    let mut s = mf();
    s[big.as_str()] = json!(1);
    let e = err(&s);
    assert_eq!(e.code, ErrorCode::InvalidSpec);
    assert!(e.field.chars().count() <= MAX_FIELD_CHARS);
    assert!(e.message.chars().count() <= MAX_MESSAGE_CHARS);
    let mut s = mf();
    s["schedule"]["kind"] = json!(big);
    let e = err(&s);
    assert!(e.message.chars().count() <= MAX_MESSAGE_CHARS);
}

// ---- Paths inside variants tagged by `kind`, and generated starts that overflow ----

#[test]
fn errors_inside_tagged_variants_name_the_nested_field() {
    let _serial = serial();
    let base = json!({
        "model": {"kind": "network", "inputDim": 3,
                  "layers": [{"width": 4, "activation": "relu"}, {"width": 2}]},
        "data": {"kind": "generated", "samples": 5, "seed": 1,
                 "targets": {"kind": "teacher", "widths": [3, 2], "slope": 0.1}},
        "schedule": {"kind": "constant", "eta": 0.01},
        "steps": 3
    });
    let cases: [(&str, Value, &str); 7] = [
        (
            "/data/targets/slope",
            json!({"a": {"a": 1}}),
            "data.targets.slope",
        ),
        ("/data/samples", json!({}), "data.samples"),
        ("/data/inputs", json!({"a": {"a": 1}}), "data.inputs"),
        ("/data/targets/kind", json!({"a": 1}), "data.targets.kind"),
        ("/data/targets/bogus", json!(1), "data.targets.bogus"),
        ("/steps", json!({"a": {"a": 1}}), "steps"),
        ("/data/targets/kind", json!(5), "data.targets.kind"),
    ];
    for (ptr, value, field) in cases {
        let mut spec = base.clone();
        let (parent, key) = ptr.rsplit_once('/').unwrap();
        spec.pointer_mut(parent).unwrap()[key] = value;
        assert_err(&err(&spec), ErrorCode::InvalidSpec, field);
    }
    let mut spec = base.clone();
    spec["data"]["targets"]
        .as_object_mut()
        .unwrap()
        .remove("kind");
    assert_err(&err(&spec), ErrorCode::InvalidSpec, "data.targets.kind");
}

#[test]
fn a_generated_start_that_overflows_is_refused() {
    let _serial = serial();
    let mut spec = mf();
    spec["init"]["stdU"] = json!(1.7e308);
    let e = err(&spec);
    assert_err(&e, ErrorCode::NonFinite, "init");
    assert!(e.message.contains("block U"), "{e:?}");
}

#[test]
fn the_model_kind_is_checked_before_the_fields_it_gives_meaning_to() {
    let _serial = serial();
    let mut spec = mf();
    spec["model"]["kind"] = json!("bogus");
    spec["init"]["biases"] = json!([null]);
    let e = err(&spec);
    assert_err(&e, ErrorCode::InvalidSpec, "model.kind");
    assert!(e.message.contains("unknown model kind"), "{e:?}");
}
