//! Marcotte, Gribonval & Peyre, "Abide by the law and follow the flow: conservation laws for
//! gradient flows" (NeurIPS 2023): how many independent conservation laws an architecture has,
//! against the laws of Du, Hu & Lee's Theorems 2.1-2.3. A preset of `conservationLaws` studies
//! (docs/conservation.md), one per architecture: the rows of the `table` test of
//! `tests/conservation.rs` whose counts take milliseconds (no 10- or 14-wide nets).
//!
//! Marks: where Marcotte et al. prove the count (two-layer linear nets and U V^T: r (r + 1) / 2 on
//! the full-rank set; two-layer ReLU nets: one per hidden neuron, where every neuron is active for
//! some data), the count found is compared with it (agrees / DISAGREES). Elsewhere the row checks
//! that the theorems' laws explain every law found; when they do not, the row is a *finding*
//! ("finds more than the theorems"), not a failure. Every row also checks that the theorems' laws
//! are conserved (their gradients outside the Lie algebra) and requires a clear rank gap.

use serde_json::{json, Value};

use super::Preset;

pub(super) const PRESETS: &[Preset] = &[Preset {
    name: "conservationLaws",
    description: "conservation laws: complete? Marcotte, Gribonval & Peyre (NeurIPS 2023): \
                  independent conservation laws of gradient flow counted numerically (Lie \
                  algebra of the gradient fields) for two-layer linear and ReLU nets, biases, \
                  leaky ReLU, deep linear and ReLU nets, conv nets and U V^T, against the laws \
                  of Du, Hu & Lee's Theorems 2.1-2.3",
    build: conservation_laws,
}];

/// Random points per architecture (the initial point and 5 random ones).
const POINTS: u64 = 6;
/// Smallest rank gap for a count to be judged (docs/conservation.md: under ~1e3 not trusted).
const MIN_GAP: f64 = 1e3;
/// Largest component of a theorem's law gradient inside the Lie algebra (0 up to rounding when
/// the law is conserved; the study's rank tolerance).
const MAX_IN_SPAN: f64 = 1e-8;

fn net(input: usize, layers: Value) -> Value {
    let n = layers.as_array().map_or(0, |l| l.len());
    json!({
        "model": {"kind": "network", "inputDim": input, "layers": layers},
        "data": {"kind": "generated", "samples": 4, "inputs": "gaussian",
                 "targets": {"kind": "teacher", "widths": [2]}, "seed": 3},
        "init": {"kind": "gaussian", "variances": vec![0.5; n], "seed": 1},
        "schedule": {"kind": "constant", "eta": 0.01},
        "steps": 1
    })
}

fn mf(d1: usize, d2: usize, r: usize) -> Value {
    json!({
        "model": {"kind": "matrixFactorization", "d1": d1, "d2": d2, "rank": r},
        "target": {"kind": "random", "singularValues": vec![1.0; r], "seed": 3},
        "init": {"kind": "gaussian", "stdU": 0.7, "stdV": 0.7, "seed": 5},
        "schedule": {"kind": "constant", "eta": 0.01},
        "steps": 1
    })
}

/// What a theorem proves for a row.
enum Proven {
    /// Two-layer linear (or U V^T) with hidden width r: r (r + 1) / 2 laws.
    Linear(usize),
    /// Two-layer ReLU with r hidden neurons: r laws.
    Relu(usize),
    /// Nothing: compare with the theorems' laws.
    No,
}

fn q(study: usize, field: &str) -> Value {
    json!({"study": study, "field": field})
}

fn col(study: usize, column: &str, reduce: &str) -> Value {
    json!({"study": study, "column": column, "reduce": reduce})
}

fn conservation_laws() -> Value {
    let relu = |w: usize| json!({"width": w, "activation": "relu"});
    let lin = |w: usize| json!({"width": w});
    let leaky = |w: usize| json!({"width": w, "activation": "leakyRelu", "slope": 0.2});
    let conv = |out: usize| json!({"type": "conv1d", "inChannels": 1, "outChannels": out, "kernel": 3, "activation": "relu"});
    use Proven::*;
    let rows: Vec<(&str, Value, Proven)> = vec![
        ("linear 3-2-3", net(3, json!([lin(2), lin(3)])), Linear(2)),
        ("linear 4-2-3", net(4, json!([lin(2), lin(3)])), Linear(2)),
        ("linear 5-3-4", net(5, json!([lin(3), lin(4)])), Linear(3)),
        ("linear 2-4-3", net(2, json!([lin(4), lin(3)])), Linear(4)),
        ("U V^T 4x3, r = 2", mf(4, 3, 2), Linear(2)),
        ("relu 3-2-2", net(3, json!([relu(2), lin(2)])), Relu(2)),
        ("relu 4-3-3", net(4, json!([relu(3), lin(3)])), Relu(3)),
        ("relu 2-5-2", net(2, json!([relu(5), lin(2)])), Relu(5)),
        (
            "relu+bias 3-2-2",
            net(
                3,
                json!([{"width": 2, "activation": "relu", "bias": true}, {"width": 2, "bias": true}]),
            ),
            No,
        ),
        (
            "linear+bias 3-2-3",
            net(
                3,
                json!([{"width": 2, "bias": true}, {"width": 3, "bias": true}]),
            ),
            No,
        ),
        ("leaky 3-2-2", net(3, json!([leaky(2), lin(2)])), No),
        (
            "linear 2-2-2-2",
            net(2, json!([lin(2), lin(2), lin(2)])),
            No,
        ),
        (
            "linear 3-4-4-4-3",
            net(3, json!([lin(4), lin(4), lin(4), lin(3)])),
            No,
        ),
        (
            "relu 2-2-2-2",
            net(2, json!([relu(2), relu(2), lin(2)])),
            No,
        ),
        (
            "relu 3-3-3-2",
            net(3, json!([relu(3), relu(3), lin(2)])),
            No,
        ),
        (
            "conv1d 1x6 k3 relu -> 2",
            net(6, json!([conv(1), lin(2)])),
            No,
        ),
        (
            "conv1d 2ch k3 relu -> 2",
            net(6, json!([conv(2), lin(2)])),
            No,
        ),
    ];
    let mut studies = Vec::new();
    let mut reference = Vec::new();
    for (i, (label, run, proven)) in rows.into_iter().enumerate() {
        studies.push(json!({
            "label": label,
            "spec": {"kind": "conservationLaws", "run": run, "points": POINTS, "seed": 7,
                     "keepComplement": false}
        }));
        let mut checks = vec![
            json!({"kind": "requires", "of": q(i, "gap"), "atLeast": MIN_GAP,
                   "why": "the rank is decided with a clear gap"}),
            json!({"kind": "atMost", "of": col(i, "knownInSpan", "max"), "bound": MAX_IN_SPAN}),
        ];
        let (claim, paper) = match proven {
            Linear(r) => {
                let n = r * (r + 1) / 2;
                checks.push(
                    json!({"kind": "near", "of": q(i, "laws"), "to": {"value": n}, "absTol": 0}),
                );
                (
                    format!("{label}: exactly r (r + 1) / 2 = {n} laws (r = {r})"),
                    "Marcotte et al. (2023) prove it for two-layer linear nets and U V^T on the \
                     set where [U; V] has rank r: the entries of U^T U - V^T V (Du, Hu & Lee \
                     Theorem 2.2), and no other"
                        .to_string(),
                )
            }
            Relu(r) => {
                checks.insert(
                    1,
                    json!({"kind": "requires", "of": col(i, "inactiveNeurons", "min"), "atMost": 0,
                           "why": "a point where every hidden neuron is active for some input (the theorem's condition)"}),
                );
                checks.push(
                    json!({"kind": "near", "of": q(i, "laws"), "to": {"value": r}, "absTol": 0}),
                );
                (
                    format!("{label}: exactly one law per hidden neuron ({r})"),
                    "Marcotte et al. (2023) prove it for two-layer ReLU nets where every neuron \
                     is active for some data: ||u_j||^2 - ||v_j||^2 (Du, Hu & Lee Theorem 2.1), \
                     and no other"
                        .to_string(),
                )
            }
            No => {
                checks.push(
                    json!({"kind": "near", "of": col(i, "knownExplained", "max"),
                                   "to": q(i, "laws"), "absTol": 0,
                                   "finding": "finds more than the theorems"}),
                );
                (
                    format!("{label}: are the theorems' laws all the laws?"),
                    "no theorem gives the count: Du, Hu & Lee's Theorems 2.1-2.3 give laws \
                     (per layer, per neuron, per matrix entry); the count is new ground"
                        .to_string(),
                )
            }
        };
        reference.push(json!({
            "claim": claim,
            "paper": paper,
            "check": "the generic count (D minus the largest rank over the points), with a rank \
                      gap of at least 1e3; the theorems' laws conserved (their largest component \
                      in the Lie algebra <= 1e-8); where no theorem gives the count, whether the \
                      theorems' laws span every law found (otherwise a finding, not a failure)",
            "checks": checks,
            "study": i,
        }));
    }
    json!({
        "runs": [],
        "plots": [
            {"title": "laws found", "column": "laws found"},
            {"title": "laws explained by Theorems 2.1-2.3", "column": "explained by the theorems"},
            {"title": "rank gap (smallest over the points)", "column": "rank gap", "logY": true}
        ],
        "studies": studies,
        "studyTable": [
            {"title": "D", "of": {"field": "dim"}},
            {"title": "theorems' laws", "of": {"column": "knownLaws", "reduce": "max"}},
            {"title": "explained by the theorems", "of": {"column": "knownExplained", "reduce": "max"}},
            {"title": "laws found", "of": {"field": "laws"}},
            {"title": "rank gap", "of": {"field": "gap"}},
            {"title": "points agree", "of": {"field": "consistent"}},
            {"title": "points", "of": {"field": "status.rows"}}
        ],
        "reference": reference
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::Study;

    /// Every study of the preset is valid, every check names a study of it.
    #[test]
    fn studies_are_valid() {
        let v = conservation_laws();
        let studies = v["studies"].as_array().unwrap();
        for s in studies {
            Study::new(&s["spec"].to_string(), Default::default()).unwrap();
        }
        for r in v["reference"].as_array().unwrap() {
            for c in r["checks"].as_array().unwrap() {
                for k in ["of", "to"] {
                    if let Some(i) = c[k]["study"].as_u64() {
                        assert!((i as usize) < studies.len());
                    }
                }
            }
        }
    }
}
