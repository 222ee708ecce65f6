//! The paper reproductions, one file per paper: for each preset, the runs to make (as specs),
//! what to plot, and what the paper reports beside which the results are shown. The TS layer
//! runs and renders them. A paper's file lists its presets in a `PRESETS` slice; [`all`] chains
//! the papers' slices (one line per paper).

use serde_json::{json, Value};

use crate::error::{Error, Result};

mod du_2019_ch2;
mod du_2019_ch3;
mod du_2019_ch3_deep;
mod du_2019_ch5;
mod du_2019_ch6;
mod du_2019_ch6_digits;
mod du_2019_ch7;
mod du_hu_lee_2018;
mod marcotte_2023;
mod taghvaei_2017;

pub use du_hu_lee_2018::{figure2_spec, FIGURE2_ETA, FIGURE2_STEPS};

/// One preset: its name, a one-line description, and the function that builds its JSON.
pub(crate) struct Preset {
    pub name: &'static str,
    pub description: &'static str,
    pub build: fn() -> Value,
}

/// Every preset, paper by paper.
fn all() -> impl Iterator<Item = &'static Preset> {
    du_hu_lee_2018::PRESETS
        .iter()
        .chain(du_2019_ch2::PRESETS.iter())
        .chain(du_2019_ch3::PRESETS.iter())
        .chain(du_2019_ch5::PRESETS.iter())
        .chain(du_2019_ch6::PRESETS.iter())
        .chain(du_2019_ch6_digits::PRESETS.iter())
        .chain(du_2019_ch7::PRESETS.iter())
        .chain(marcotte_2023::PRESETS.iter())
        .chain(taghvaei_2017::PRESETS.iter())
        .chain(du_2019_ch3_deep::PRESETS.iter())
}

/// `[{"name": .., "description": ..}, ..]`
pub fn list_json() -> String {
    let list: Vec<Value> = all()
        .map(|p| json!({"name": p.name, "description": p.description}))
        .collect();
    Value::Array(list).to_string()
}

/// `{"name", "description", "runs": [{"label", "spec"}], "plots": [..], "reference": [..]}`; a
/// sweep preset has `"runs": []`, the sweep spec in `"sweep"`, and `plots` over its reduced table.
pub fn spec_json(name: &str) -> Result<String> {
    let p = all().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = all().map(|p| p.name).collect();
        Error::request(
            "preset",
            format!("no preset named {name:?} (available: {})", names.join(", ")),
        )
    })?;
    let mut v = (p.build)();
    v["name"] = json!(p.name);
    v["description"] = json!(p.description);
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs whose `patches.kind` is `digits` (expanded from data/digits.csv by the TS layer in
    /// Node): the same spec with `data` patches of the shape the expansion gives (1797 images x
    /// k q^2 pixels; arbitrary values in [0, 1]), so that the rest of the spec is checked here.
    fn resolve_digits(spec: &Value) -> (Value, std::collections::HashMap<String, Vec<f64>>) {
        let mut spec = spec.clone();
        if spec["patches"]["kind"] != "digits" {
            return (spec, Default::default());
        }
        let cols =
            (spec["model"]["p"].as_f64().unwrap() * spec["model"]["k"].as_f64().unwrap()) as usize;
        let data: Vec<f64> = (0..1797 * cols).map(|i| (i % 17) as f64 / 16.0).collect();
        spec["patches"] = json!({"kind": "data", "z": {"rows": 1797, "cols": cols}});
        let mut m = std::collections::HashMap::new();
        m.insert("patches.z".to_string(), data);
        (spec, m)
    }

    #[test]
    fn every_preset_builds_valid_sessions() {
        let list: Value = serde_json::from_str(&list_json()).unwrap();
        for p in list.as_array().unwrap() {
            let spec: Value =
                serde_json::from_str(&spec_json(p["name"].as_str().unwrap()).unwrap()).unwrap();
            let runs = spec["runs"].as_array().unwrap();
            if let Some(sweep) = spec.get("sweep") {
                // The whole sweep is valid (every setting built once), and its plots and checks
                // name its axes, kept values and classes.
                assert!(runs.is_empty(), "a sweep preset has no runs");
                let plan: Value = serde_json::from_str(
                    &crate::study::sweep::plan_json(&sweep.to_string(), Default::default())
                        .unwrap(),
                )
                .unwrap();
                let paths: Vec<&str> = plan["axes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|a| a["paths"].as_array().unwrap())
                    .map(|p| p.as_str().unwrap())
                    .collect();
                let names = |k: &str| -> Vec<String> {
                    plan[k]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|n| n.as_str().unwrap().to_string())
                        .collect()
                };
                let (kept, classes) = (names("kept"), names("classes"));
                for plot in spec["plots"].as_array().unwrap() {
                    for axis in ["x", "y", "series"] {
                        if let Some(p) = plot[axis]["path"].as_str() {
                            assert!(paths.contains(&p), "plot axis {p} is not a sweep axis");
                        }
                    }
                    if let Some(c) = plot["value"]["class"].as_str() {
                        assert!(classes.contains(&c.to_string()), "plot class {c}");
                    }
                    if let Some(k) = plot["value"]["kept"].as_str() {
                        assert!(kept.contains(&k.to_string()), "plot kept {k}");
                    }
                }
                for r in spec["reference"].as_array().unwrap() {
                    for c in r["checks"].as_array().into_iter().flatten() {
                        for q in [&c["of"], &c["bound"], &c["to"]] {
                            let Some(kind) = q["sweep"].as_str() else {
                                continue;
                            };
                            let name = q["name"].as_str().unwrap().to_string();
                            match kind {
                                "class" | "chi2" => {
                                    assert!(classes.contains(&name), "check class {name}")
                                }
                                _ => assert!(kept.contains(&name), "check kept {name}"),
                            }
                            for p in q["where"].as_object().into_iter().flatten().map(|(p, _)| p) {
                                assert!(paths.contains(&p.as_str()), "check path {p}");
                            }
                        }
                    }
                }
            }
            for run in runs {
                let (spec, buffers) = resolve_digits(&run["spec"]);
                crate::Session::new(&spec.to_string(), buffers).unwrap();
            }
            for h in spec["hessian"].as_array().into_iter().flatten() {
                let run = &runs[h["run"].as_u64().unwrap() as usize];
                let mut s =
                    crate::Session::new(&run["spec"].to_string(), Default::default()).unwrap();
                s.hessian(&h["query"].to_string()).unwrap();
                assert!(["init", "final"].contains(&h["at"].as_str().unwrap()));
            }
        }
        assert!(spec_json("nope").is_err());
    }
}
