//! Studies (issue 9, item 7): the `hessianGrid` study against sessions driven by hand (bit for
//! bit), chunking and cancellation, divergence, and validation with full field paths.

use std::collections::HashMap;

use autobalance_core::study::{kinds, Study};
use autobalance_core::{ErrorCode, Session};
use serde_json::{json, Value};

mod common;
use common::data;

fn mf_run(steps: u64) -> Value {
    json!({
        "model": {"kind": "matrixFactorization", "d1": 8, "d2": 6, "rank": 2},
        "target": {"kind": "random", "singularValues": [3.0, 1.5], "seed": 1},
        "init": {"kind": "gaussian", "stdU": 0.3, "stdV": 0.3, "seed": 2},
        "schedule": {"kind": "constant", "eta": 0.05},
        "steps": steps,
        "recordEvery": 10
    })
}

fn net_run(steps: u64) -> Value {
    json!({
        "model": {"kind": "network", "inputDim": 4,
                  "layers": [{"width": 5, "activation": "relu"}, {"width": 2}]},
        "data": {"kind": "generated", "samples": 30,
                 "targets": {"kind": "teacher", "widths": [3]}, "seed": 3},
        "init": {"kind": "gaussian", "variances": [0.3, 0.3], "seed": 4},
        "schedule": {"kind": "constant", "eta": 0.1},
        "method": {"kind": "momentum", "beta": 0.5},
        "steps": steps
    })
}

fn study(spec: &Value) -> Study {
    Study::new(&spec.to_string(), HashMap::new()).unwrap_or_else(|e| panic!("{e:?}"))
}

fn finish(s: &mut Study, chunk: u64) {
    let mut last = s.status();
    while !last.finished {
        let st = s.advance(chunk).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(st.done > last.done, "no progress: {st:?}");
        assert!(st.done <= st.total);
        last = st;
    }
    assert_eq!(last.done, last.total);
}

/// JSON read back with every bit (serde_json may be one unit in the last place off).
fn exact(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn result(s: &Study) -> Value {
    exact(&s.result_json())
}

fn col(s: &Study, name: &str) -> Vec<f64> {
    s.column(name, 0).unwrap().to_vec()
}

fn same_bits(a: f64, b: f64, what: &str) {
    assert_eq!(a.to_bits(), b.to_bits(), "{what}: {a} vs {b}");
}

/// What a session driven by hand gives at `steps`: (step, loss, report) per point.
fn by_hand(
    run: &Value,
    buffers: &HashMap<String, Vec<f64>>,
    steps: &[u64],
    query: &Value,
) -> Vec<(u64, Option<f64>, Value)> {
    let mut s = Session::new(&run.to_string(), buffers.clone()).unwrap();
    let mut out = Vec::new();
    for &t in steps {
        let now = s.status().step;
        let st = s.advance(t - now);
        assert_eq!(st.step, t);
        let report = s.hessian(&query.to_string()).unwrap();
        out.push((t, st.loss, exact(&report)));
    }
    out
}

/// The study's rows and points equal `expected` (per run, per point) bit for bit.
fn check_against(
    s: &Study,
    expected: &[Vec<(u64, Option<f64>, Value)>],
    pointers: &[(&str, &str)],
) {
    let r = result(s);
    let points = r["points"].as_array().unwrap();
    let (runs, steps, losses) = (col(s, "run"), col(s, "step"), col(s, "loss"));
    let mut row = 0;
    for (i, run) in expected.iter().enumerate() {
        for (step, loss, report) in run {
            assert_eq!(runs[row], i as f64);
            assert_eq!(steps[row], *step as f64);
            same_bits(losses[row], loss.unwrap(), "loss");
            for (name, pointer) in pointers {
                let want = report.pointer(pointer).unwrap().as_f64().unwrap();
                same_bits(col(s, name)[row], want, name);
            }
            let p = &points[row];
            assert_eq!(p["run"], json!(i));
            assert_eq!(p["step"], json!(step));
            assert_eq!(p["reached"], json!(true));
            // The whole report, as text: same digits means same bits.
            assert_eq!(p["report"].to_string(), report.to_string());
            row += 1;
        }
    }
    assert_eq!(row, points.len());
    assert_eq!(row, s.status().rows);
}

const EIGS: [(&str, &str); 4] = [
    ("lambdaMin", "/smallest/0/value"),
    ("lambdaMinResidual", "/smallest/0/residual"),
    ("lambdaMax", "/largest/0/value"),
    ("lambdaMaxResidual", "/largest/0/residual"),
];

#[test]
fn the_registry_lists_the_study_kinds() {
    assert_eq!(
        kinds(),
        vec![
            "hessianGrid",
            "conservationLaws",
            "sweep",
            "continuation",
            "kernelRecursion"
        ]
    );
}

#[test]
fn an_axis_of_matrix_factorization_runs_equals_sessions_driven_by_hand() {
    let query = json!({"what": "eigs", "which": "both", "method": "lanczos", "k": 2});
    let values = [0.0, 0.125, 0.5];
    let spec = json!({
        "kind": "hessianGrid",
        "run": mf_run(60),
        "query": query,
        "at": {"steps": [0, 5, 40]},
        "axis": {"path": "model.balanceWeight", "values": values},
        "columns": [{"name": "lambda2", "pointer": "/smallest/1/value"}]
    });
    let mut s = study(&spec);
    let st = s.status();
    assert_eq!(
        (st.done, st.total, st.rows, st.finished),
        (0, 3 * (40 + 3), 0, false)
    );
    assert_eq!(
        s.column_names(),
        [
            "run",
            "value",
            "step",
            "loss",
            "lambdaMin",
            "lambdaMinResidual",
            "lambdaMax",
            "lambdaMaxResidual",
            "lambda2"
        ]
    );
    finish(&mut s, u64::MAX);
    let expected: Vec<_> = values
        .iter()
        .map(|&w| {
            let mut run = mf_run(60);
            run["model"]["balanceWeight"] = json!(w);
            by_hand(&run, &HashMap::new(), &[0, 5, 40], &query)
        })
        .collect();
    let mut pointers = EIGS.to_vec();
    pointers.push(("lambda2", "/smallest/1/value"));
    check_against(&s, &expected, &pointers);
    assert_eq!(
        col(&s, "value"),
        [0.0, 0.0, 0.0, 0.125, 0.125, 0.125, 0.5, 0.5, 0.5]
    );
    let r = result(&s);
    assert_eq!(r["kind"], "hessianGrid");
    assert_eq!(
        r["axis"],
        json!({"path": "model.balanceWeight", "values": values})
    );
    assert_eq!(r["query"], query);
    assert_eq!(r["error"], Value::Null);
    assert_eq!(r["status"]["finished"], true);
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for run in runs {
        // Trained to the last sample only.
        assert_eq!(run["status"]["step"], 40);
        assert_eq!(run["status"]["steps"], 60);
        assert_eq!(run["samples"], json!([0, 5, 40]));
    }
    // The regularizer changes the spectrum.
    assert_ne!(col(&s, "lambdaMax")[2], col(&s, "lambdaMax")[5]);
}

#[test]
fn a_network_sampled_every_n_steps_equals_a_session_driven_by_hand_in_any_chunking() {
    let query = json!({"what": "classify", "method": "dense"});
    let spec = json!({
        "kind": "hessianGrid", "run": net_run(25), "query": query, "at": {"every": 10}
    });
    let expected = vec![by_hand(
        &net_run(25),
        &HashMap::new(),
        &[0, 10, 20, 25],
        &query,
    )];
    let classify = [
        ("lambdaMin", "/lambdaMin"),
        ("lambdaMax", "/lambdaMax"),
        ("gradNorm", "/gradNorm"),
        ("zeroCount", "/zeroCount"),
        ("negativeCount", "/negativeCount"),
    ];
    let mut reference = None;
    for chunk in [1, 3, 11, u64::MAX] {
        let mut s = study(&spec);
        assert_eq!(s.status().total, 25 + 4);
        assert!(!s.column_names().iter().any(|c| c == "value"));
        finish(&mut s, chunk);
        check_against(&s, &expected, &classify);
        let text = s.result_json();
        match &reference {
            None => reference = Some(text),
            Some(r) => assert_eq!(&text, r, "chunk {chunk}"),
        }
    }
}

#[test]
fn explicit_matrices_travel_as_run_buffers() {
    let (d1, d2, r) = (5, 4, 2);
    let mut run = mf_run(20);
    run["target"] = json!({"kind": "explicit", "matrix": {"rows": d1, "cols": d2}});
    run["init"] =
        json!({"kind": "explicit", "u0": {"rows": d1, "cols": r}, "v0": {"rows": d2, "cols": r}});
    run["model"] = json!({"kind": "matrixFactorization", "d1": d1, "d2": d2, "rank": r});
    let bufs: HashMap<String, Vec<f64>> = [
        ("target.matrix", data(d1 * d2, 1, 1.0)),
        ("init.u0", data(d1 * r, 2, 0.3)),
        ("init.v0", data(d2 * r, 3, 0.3)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let study_bufs = bufs
        .iter()
        .map(|(k, v)| (format!("run.{k}"), v.clone()))
        .collect();
    let query = json!({"what": "eigs", "which": "both"});
    let spec = json!({"kind": "hessianGrid", "run": run, "query": query,
                      "at": {"steps": [0, 20]}, "keepReports": true});
    let mut s = Study::new(&spec.to_string(), study_bufs).unwrap();
    finish(&mut s, 7);
    check_against(&s, &[by_hand(&run, &bufs, &[0, 20], &query)], &EIGS);
}

#[test]
fn the_default_sample_is_the_last_step_and_reports_can_be_left_out() {
    let spec = json!({"kind": "hessianGrid", "run": mf_run(30),
                      "query": {"what": "trace", "probes": 4}, "keepReports": false});
    let mut s = study(&spec);
    assert_eq!(
        s.column_names(),
        ["run", "step", "loss", "trace", "traceStdError"]
    );
    finish(&mut s, 8);
    assert_eq!(col(&s, "step"), [30.0]);
    let r = result(&s);
    let p = &r["points"][0];
    assert!(p.get("report").is_none());
    assert!(col(&s, "trace")[0].is_finite());
    assert_eq!(r["axis"], Value::Null);
}

#[test]
fn cancelling_between_chunks_keeps_the_points_so_far() {
    let spec = json!({"kind": "hessianGrid", "run": mf_run(200),
                      "query": {"what": "eigs", "which": "both"},
                      "at": {"every": 50},
                      "axis": {"path": "init.seed", "values": [5, 6]}});
    let mut s = study(&spec);
    assert_eq!(s.status().total, 2 * (200 + 5));
    let mut st = s.status();
    for _ in 0..4 {
        let before = st.done;
        st = s.advance(40).unwrap();
        assert!(st.done - before <= 40);
    }
    // 160 units: run 0 has queried at steps 0, 50, 100 and 150 and is at step 156.
    assert_eq!((st.done, st.rows, st.finished), (160, 4, false));
    let r = result(&s);
    assert_eq!(r["points"].as_array().unwrap().len(), 4);
    assert_eq!(r["runs"][0]["status"]["step"], 156);
    assert_eq!(r["runs"][1]["status"], Value::Null);
    assert_eq!(r["status"]["finished"], false);
    // advance(0) does nothing; the study can still be finished, with the same points as in one go.
    assert_eq!(s.advance(0).unwrap(), st);
    finish(&mut s, 1000);
    let mut once = study(&spec);
    finish(&mut once, u64::MAX);
    assert_eq!(s.result_json(), once.result_json());
    assert_eq!(
        col(&s, "step"),
        [0.0, 50.0, 100.0, 150.0, 200.0, 0.0, 50.0, 100.0, 150.0, 200.0]
    );
}

#[test]
fn points_after_a_divergence_are_not_reached() {
    let mut run = mf_run(100);
    run["schedule"]["eta"] = json!(3.0);
    let spec = json!({"kind": "hessianGrid", "run": run,
                      "query": {"what": "eigs", "which": "both"},
                      "at": {"steps": [0, 1, 90, 100]}});
    let mut s = study(&spec);
    finish(&mut s, 7);
    let r = result(&s);
    let status = &r["runs"][0]["status"];
    let diverged = status["divergedAt"].as_u64().expect("the run diverges");
    assert!((2..90).contains(&diverged), "{status}");
    let reached: Vec<bool> = r["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reached"].as_bool().unwrap())
        .collect();
    assert_eq!(reached, [true, true, false, false]);
    assert_eq!(col(&s, "step"), [0.0, 1.0, 90.0, 100.0]);
    assert!(col(&s, "loss")[1].is_finite());
    for name in ["loss", "lambdaMin", "lambdaMax"] {
        assert!(col(&s, name)[2..].iter().all(|x| x.is_nan()), "{name}");
    }
    assert!(r["points"][2]["report"].is_null());
}

#[test]
fn a_bad_query_stops_the_study_with_its_field() {
    let spec = json!({"kind": "hessianGrid", "run": mf_run(10),
                      "query": {"what": "eigs", "k": 0}, "at": {"steps": [3, 6]}});
    let mut s = study(&spec);
    let e = s.advance(100).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        (ErrorCode::OutOfRange, "query.k")
    );
    // Stopped: the same error again, and the result says so.
    assert_eq!(s.advance(100).unwrap_err(), e);
    assert_eq!(s.error(), Some(&e));
    let r = result(&s);
    assert_eq!(r["error"]["field"], "query.k");
    assert_eq!(r["status"]["done"], 3);
    assert_eq!(r["points"], json!([]));
    // An unknown query field too.
    let spec =
        json!({"kind": "hessianGrid", "run": mf_run(10), "query": {"what": "eigs", "kk": 1}});
    let e = study(&spec).advance(100).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        (ErrorCode::InvalidSpec, "query.kk")
    );
}

#[test]
fn invalid_studies_name_the_full_field_path() {
    let base = || json!({"kind": "hessianGrid", "run": mf_run(50), "query": {"what": "eigs"}});
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = base();
        f(&mut v);
        v
    };
    let cases: Vec<(String, ErrorCode, &str)> = vec![
        ("[1, 2]".into(), ErrorCode::InvalidSpec, "spec"),
        ("{".into(), ErrorCode::InvalidSpec, "spec"),
        (json!({"run": {}}).to_string(), ErrorCode::InvalidSpec, "kind"),
        (json!({"kind": 3}).to_string(), ErrorCode::InvalidSpec, "kind"),
        (json!({"kind": "sweeps"}).to_string(), ErrorCode::InvalidSpec, "kind"),
        (json!({"kind": "sweep"}).to_string(), ErrorCode::InvalidSpec, "base"),
        (json!({"kind": "hessianGrid", "query": {"what": "eigs"}}).to_string(), ErrorCode::InvalidSpec, "run"),
        (with(&|v| { v["extra"] = json!(1); }).to_string(), ErrorCode::InvalidSpec, "extra"),
        (with(&|v| { v["run"] = json!(3); }).to_string(), ErrorCode::InvalidSpec, "run"),
        (with(&|v| { v["query"] = json!("eigs"); }).to_string(), ErrorCode::InvalidSpec, "query"),
        (with(&|v| { v["keepReports"] = json!("yes"); }).to_string(), ErrorCode::InvalidSpec, "keepReports"),
        (with(&|v| { v["run"]["model"]["rank"] = json!(9); }).to_string(), ErrorCode::OutOfRange, "run.model.rank"),
        (with(&|v| { v["run"]["schedule"]["eta"] = json!(-1); }).to_string(), ErrorCode::OutOfRange, "run.schedule.eta"),
        (with(&|v| { v["run"]["stepz"] = json!(1); }).to_string(), ErrorCode::InvalidSpec, "run.stepz"),
        (with(&|v| { v["at"] = json!({}); }).to_string(), ErrorCode::InvalidSpec, "at"),
        (with(&|v| { v["at"] = json!({"steps": [1], "every": 2}); }).to_string(), ErrorCode::InvalidSpec, "at"),
        (with(&|v| { v["at"] = json!({"step": [1]}); }).to_string(), ErrorCode::InvalidSpec, "at.step"),
        (with(&|v| { v["at"] = json!({"steps": []}); }).to_string(), ErrorCode::OutOfRange, "at.steps"),
        (with(&|v| { v["at"] = json!({"steps": [0, 5, 5]}); }).to_string(), ErrorCode::OutOfRange, "at.steps[2]"),
        (with(&|v| { v["at"] = json!({"steps": [0, 51]}); }).to_string(), ErrorCode::OutOfRange, "at.steps[1]"),
        (with(&|v| { v["at"] = json!({"steps": [0, 1.5]}); }).to_string(), ErrorCode::OutOfRange, "at.steps[1]"),
        (with(&|v| { v["at"] = json!({"steps": [0, "1"]}); }).to_string(), ErrorCode::InvalidSpec, "at.steps[1]"),
        (with(&|v| { v["at"] = json!({"every": 0}); }).to_string(), ErrorCode::OutOfRange, "at.every"),
        (with(&|v| { v["axis"] = json!({"path": "model..d1", "values": [1]}); }).to_string(), ErrorCode::InvalidSpec, "axis.path"),
        (with(&|v| { v["axis"] = json!({"path": "modle.d1", "values": [1]}); }).to_string(), ErrorCode::InvalidSpec, "axis.path"),
        (with(&|v| { v["axis"] = json!({"path": "init.stdu", "values": [1]}); }).to_string(), ErrorCode::InvalidSpec, "axis.path"),
        (with(&|v| { v["axis"] = json!({"path": "stepz", "values": [1]}); }).to_string(), ErrorCode::InvalidSpec, "axis.path"),
        (with(&|v| { v["axis"] = json!({"path": "model.d1", "values": []}); }).to_string(), ErrorCode::OutOfRange, "axis.values"),
        (with(&|v| { v["axis"] = json!({"path": "model.d1"}); }).to_string(), ErrorCode::InvalidSpec, "axis.values"),
        (with(&|v| { v["axis"] = json!({"path": "init.stdU", "values": [0.1, -1]}); }).to_string(), ErrorCode::OutOfRange, "axis.values[1]"),
        (with(&|v| { v["axis"] = json!({"path": "init", "values": [{"kind": "gaussian", "stdU": 1, "stdV": 1, "seed": 0}, {"kind": "gaussian", "stdU": 1, "stdV": 1}]}); }).to_string(), ErrorCode::InvalidSpec, "axis.values[1].seed"),
        // An axis value that makes another field invalid: that field, with the value in the message.
        (with(&|v| { v["axis"] = json!({"path": "model.d2", "values": [6, 1]}); }).to_string(), ErrorCode::OutOfRange, "run.model.rank"),
        (with(&|v| { v["axis"] = json!({"path": "steps", "values": [50, 20]}); v["at"] = json!({"steps": [0, 30]}); }).to_string(), ErrorCode::OutOfRange, "at.steps[1]"),
        (with(&|v| { v["columns"] = json!([{"name": "lambdaMin", "pointer": "/x"}]); }).to_string(), ErrorCode::InvalidSpec, "columns[0].name"),
        (with(&|v| { v["columns"] = json!([{"name": "a", "pointer": "/x"}, {"name": "b", "pointer": "x"}]); }).to_string(), ErrorCode::InvalidSpec, "columns[1].pointer"),
        (with(&|v| { v["columns"] = json!([{"name": "a"}]); }).to_string(), ErrorCode::InvalidSpec, "columns[0].pointer"),
        (with(&|v| { v["run"]["steps"] = json!(1e12); v["run"]["recordEvery"] = json!(1e9); v["at"] = json!({"every": 1}); }).to_string(), ErrorCode::TooLarge, "at.every"),
    ];
    for (spec, code, field) in cases {
        let e = Study::new(&spec, HashMap::new()).unwrap_err();
        assert_eq!((e.code, e.field.as_str()), (code, field), "{spec}: {e:?}");
    }
    // The value of the axis that broke another field is named in the message.
    let spec = with(&|v| {
        v["axis"] = json!({"path": "model.d2", "values": [6, 1]});
    });
    let e = Study::new(&spec.to_string(), HashMap::new()).unwrap_err();
    assert!(
        e.message.contains("model.d2 = axis.values[1] = 1"),
        "{}",
        e.message
    );
    // Buffers: only under run., with the run's own names and checks.
    let bufs = |k: &str| HashMap::from([(k.to_string(), vec![1.0; 4])]);
    let e = Study::new(&base().to_string(), bufs("target.matrix")).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        (ErrorCode::InvalidRequest, "target.matrix")
    );
    let e = Study::new(&base().to_string(), bufs("run.init.u0")).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        (ErrorCode::InvalidRequest, "run.init.u0")
    );
    let mut spec = base();
    spec["run"]["target"] = json!({"kind": "explicit", "matrix": {"rows": 8, "cols": 6}});
    let e = Study::new(&spec.to_string(), bufs("run.target.matrix")).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        (ErrorCode::ShapeMismatch, "run.target.matrix")
    );
}

#[test]
fn unknown_columns_are_refused() {
    let s = study(&json!({"kind": "hessianGrid", "run": mf_run(5), "query": {"what": "eigs"}}));
    let e = s.column("nope", 0).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        (ErrorCode::InvalidRequest, "column")
    );
    assert_eq!(s.column("step", 10).unwrap(), &[] as &[f64]);
}
