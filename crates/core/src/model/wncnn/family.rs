//! The weight-normalized CNN family's spec (`model`, `teacher`, `init`, `data`), validation,
//! memory budget, teacher, sample and initial point (docs/weight-norm-cnn.md).

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{Loss, Sample, Teacher, WeightNormCnn, COLUMNS};
use crate::build::{zeroed, Budget, Buffers};
use crate::error::{Error, Result};
use crate::linalg::{norm, norm2};
use crate::model::{Built, Family, ProblemTemplate, RunInfo};
use crate::rng::Normal;
use crate::spec::{count, finite, from_value, num, positive, positive_real};

/// The family's part of a run spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WncnnProblem {
    pub model: WncnnModelSpec,
    pub teacher: TeacherSpec,
    pub init: InitSpec,
    #[serde(default)]
    pub data: Option<DataSpec>,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WncnnModelSpec {
    /// `"weightNormCnn"`.
    pub kind: String,
    /// Number of patches (the second layer's width).
    pub k: f64,
    /// Patch size.
    pub p: f64,
    #[serde(default)]
    pub loss: LossSpec,
    /// End the run at the iterate where its outcome is decided (stop `finished`, that row the
    /// last): a sweep's runs then cost their deciding steps. Default false.
    #[serde(default)]
    pub stop_when_decided: Option<bool>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum LossSpec {
    #[default]
    Population,
    Empirical,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeacherSpec {
    /// ||w*|| (default 1 for `random`, the vector's own norm for `vector`).
    #[serde(default)]
    pub w_star_norm: Option<f64>,
    pub w_star: WStarSpec,
    pub a_star: AStarSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum WStarSpec {
    /// A direction uniform on the sphere (a normalized Gaussian vector from `seed`).
    Random { seed: f64 },
    /// The vector's direction (its norm unless `wStarNorm` is given).
    Vector { w: Vec<f64> },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum AStarSpec {
    /// a* = norm (sqrt(r / k) e + sqrt(1 - r / k) u): e = 1 / sqrt(k), u a seeded random unit
    /// vector orthogonal to 1; then (1^T a*)^2 / ||a*||^2 = r and ||a*|| = norm.
    Ratio {
        r: f64,
        #[serde(default = "one")]
        norm: f64,
        seed: f64,
    },
    /// a* itself.
    Vector { a: Vec<f64> },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum InitSpec {
    /// Theorem 5.4: v uniform on the sphere of radius `vNorm`, a uniform in the ball
    /// B(0, |1^T a*| ||w*|| / sqrt(k)) (radius ||a*|| ||w*|| / sqrt(k) when 1^T a* = 0); `signs`
    /// multiply (v, a).
    #[serde(rename_all = "camelCase")]
    Theorem54 {
        #[serde(default = "one")]
        v_norm: f64,
        seed: f64,
        /// `[s_v, s_a]` (each 1 or -1), or `"theorem54"`: after drawing, v flipped when
        /// v^T w* < 0 and a when a^T a* < 0 (the sign pair of Theorem 5.4 that starts in the
        /// global minimum's region).
        #[serde(default)]
        signs: Option<Value>,
    },
    /// The point itself.
    Point { v: Vec<f64>, a: Vec<f64> },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSpec {
    /// N, the number of samples (each k x p Gaussian patches).
    pub samples: f64,
    pub seed: f64,
}

type UnitKey = (usize, u64, bool);

thread_local! {
    /// The last few teacher directions built on this thread: a sweep builds the same teacher
    /// for every run of a setting (issue 14). A pure function of its key, so the same bits.
    static UNITS: std::cell::RefCell<Vec<(UnitKey, Option<Vec<f64>>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// [`random_unit_uncached`], remembered per thread for the last 8 keys.
fn random_unit(n: usize, seed: u64, center: bool) -> Option<Vec<f64>> {
    let key = (n, seed, center);
    if let Some(x) = UNITS.with(|c| {
        c.borrow()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, x)| x.clone())
    }) {
        return x;
    }
    let x = random_unit_uncached(n, seed, center);
    // Large vectors are not kept (they are cheap to draw next to what they are used for).
    if n <= 4096 {
        UNITS.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= 8 {
                c.remove(0);
            }
            c.push((key, x.clone()));
        });
    }
    x
}

/// A unit vector from a seeded Gaussian (uniform on the sphere); `center`: projected
/// orthogonally to 1 first. None when it vanishes (k = 1 with `center`).
pub fn random_unit_uncached(n: usize, seed: u64, center: bool) -> Option<Vec<f64>> {
    let mut rng = Normal::new(seed);
    let mut x = vec![0.0; n];
    rng.fill(&mut x, 1.0);
    if center {
        let m = x.iter().sum::<f64>() / n as f64;
        x.iter_mut().for_each(|v| *v -= m);
    }
    let nx = norm(&x);
    if nx.is_nan() || nx <= 0.0 || (n == 1 && center) {
        return None;
    }
    x.iter_mut().for_each(|v| *v /= nx);
    Some(x)
}

fn vector(field: &str, x: &[f64], len: usize, what: &str) -> Result<()> {
    if x.len() != len {
        return Err(Error::shape(
            field,
            format!("expected {len} numbers ({what}), got {}", x.len()),
        ));
    }
    for (j, &v) in x.iter().enumerate() {
        finite(&format!("{field}[{j}]"), v)?;
    }
    Ok(())
}

/// The weight-normalized CNN family.
pub struct WeightNormCnnFamily;

impl Family for WeightNormCnnFamily {
    fn kind(&self) -> &'static str {
        "weightNormCnn"
    }
    fn fields(&self) -> &'static [&'static str] {
        &["teacher", "init", "data"]
    }
    fn queries(&self) -> &'static [&'static str] {
        super::QUERIES
    }
    fn build(
        &self,
        problem: Value,
        buffers: &mut Buffers,
        run: &RunInfo,
        budget: &mut Budget,
    ) -> Result<Built> {
        let spec: WncnnProblem = from_value(problem, "", "spec")?;
        build_problem(&spec, buffers, run, budget, None)
    }

    fn examples(&self) -> Vec<(&'static str, Value)> {
        examples()
    }

    fn template(&self, problem: Value, seed_paths: &[&str]) -> Option<Box<dyn ProblemTemplate>> {
        let spec: WncnnProblem = from_value(problem, "", "spec").ok()?;
        let slots = seed_paths
            .iter()
            .map(|path| match *path {
                "init.seed" if matches!(spec.init, InitSpec::Theorem54 { .. }) => {
                    Some(SeedSlot::Init)
                }
                "teacher.wStar.seed" if matches!(spec.teacher.w_star, WStarSpec::Random { .. }) => {
                    Some(SeedSlot::WStar)
                }
                "teacher.aStar.seed" if matches!(spec.teacher.a_star, AStarSpec::Ratio { .. }) => {
                    Some(SeedSlot::AStar)
                }
                "data.seed" if spec.data.is_some() => Some(SeedSlot::Data),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        // The teacher is the same for every run unless a seed of the sweep draws it.
        let fixed_teacher = !slots
            .iter()
            .any(|s| matches!(s, SeedSlot::WStar | SeedSlot::AStar));
        Some(Box::new(WncnnTemplate {
            spec,
            slots,
            teacher: fixed_teacher.then(OnceLock::new),
        }))
    }
}

/// Where a seed goes in the typed problem ([`Family::template`]).
#[derive(Debug, Clone, Copy)]
enum SeedSlot {
    Init,
    WStar,
    AStar,
    Data,
}

/// The problem parsed once, its seeds set per run: `build` of the problem with those seeds (a
/// seed below 2^53, as every sweep seed, reads as the same `f64` from a JSON integer).
struct WncnnTemplate {
    spec: WncnnProblem,
    slots: Vec<SeedSlot>,
    /// The teacher's (u*, ||w*||, a*), made by the first run that gets that far and cloned by
    /// the others, when no seed slot draws it (`None`: every run makes its own).
    teacher: Option<OnceLock<TeacherParts>>,
}

/// The teacher as [`build_problem`] makes it: (u* = w* / ||w*||, ||w*||, a*).
type TeacherParts = (Vec<f64>, f64, Vec<f64>);

impl ProblemTemplate for WncnnTemplate {
    fn build(
        &self,
        seeds: &[u64],
        buffers: &mut Buffers,
        run: &RunInfo,
        budget: &mut Budget,
    ) -> Result<Built> {
        let mut spec = self.spec.clone();
        for (slot, &x) in self.slots.iter().zip(seeds) {
            let x = x as f64;
            match (
                slot,
                &mut spec.init,
                &mut spec.teacher.w_star,
                &mut spec.teacher.a_star,
                &mut spec.data,
            ) {
                (SeedSlot::Init, InitSpec::Theorem54 { seed, .. }, ..) => *seed = x,
                (SeedSlot::WStar, _, WStarSpec::Random { seed }, ..) => *seed = x,
                (SeedSlot::AStar, _, _, AStarSpec::Ratio { seed, .. }, _) => *seed = x,
                (SeedSlot::Data, .., Some(d)) => d.seed = x,
                _ => unreachable!("slots are made for this problem's variants"),
            }
        }
        build_problem(&spec, buffers, run, budget, self.teacher.as_ref())
    }
}

/// The teacher's (u*, ||w*||, a*) of a validated spec (deterministic: its seeds are the spec's).
fn teacher_parts(t: &TeacherSpec, p: usize, k: usize) -> Result<TeacherParts> {
    let kf = k as f64;
    let (u, s) = match &t.w_star {
        WStarSpec::Random { seed } => {
            let u = random_unit(p, *seed as u64, false).expect("a Gaussian vector is nonzero");
            (u, t.w_star_norm.unwrap_or(1.0))
        }
        WStarSpec::Vector { w } => {
            let nw = norm(w);
            let u: Vec<f64> = w.iter().map(|x| x / nw).collect();
            (u, t.w_star_norm.unwrap_or(nw))
        }
    };
    if !(s > 0.0 && s.is_finite()) {
        return Err(Error::range(
            "teacher.wStar.w",
            "expected a norm in (0, 1e100]",
        ));
    }
    let a_star: Vec<f64> = match &t.a_star {
        AStarSpec::Ratio { r, norm, seed } => {
            let c1 = libm::sqrt(r / kf) / libm::sqrt(kf);
            let c2 = libm::sqrt((1.0 - r / kf).max(0.0));
            let uo = if c2 > 0.0 {
                random_unit(k, *seed as u64, true)
            } else {
                None
            };
            (0..k)
                .map(|i| norm * (c1 + uo.as_ref().map_or(0.0, |u| c2 * u[i])))
                .collect()
        }
        AStarSpec::Vector { a } => a.clone(),
    };
    Ok((u, s, a_star))
}

/// [`Family::build`] of a parsed problem.
fn build_problem(
    spec: &WncnnProblem,
    buffers: &mut Buffers,
    run: &RunInfo,
    budget: &mut Budget,
    teacher_cache: Option<&OnceLock<TeacherParts>>,
) -> Result<Built> {
    {
        let m = &spec.model;
        let k = positive("model.k", m.k)?;
        let p = positive("model.p", m.p)?;
        let kf = k as f64;

        // The teacher.
        let t = &spec.teacher;
        if let Some(s) = t.w_star_norm {
            positive_real("teacher.wStarNorm", s)?;
        }
        match &t.w_star {
            WStarSpec::Random { seed } => {
                count("teacher.wStar.seed", *seed)?;
            }
            WStarSpec::Vector { w } => {
                vector("teacher.wStar.w", w, p, "model.p")?;
                let nw = norm(w);
                if nw == 0.0 {
                    return Err(Error::range(
                        "teacher.wStar.w",
                        "expected a nonzero vector (w* = 0 has no direction)",
                    ));
                }
                if !nw.is_finite() {
                    return Err(Error::range("teacher.wStar.w", "its norm overflows"));
                }
            }
        }
        match &t.a_star {
            AStarSpec::Ratio { r, norm, seed } => {
                finite("teacher.aStar.r", *r)?;
                if !(0.0..=kf).contains(r) {
                    return Err(Error::range(
                        "teacher.aStar.r",
                        format!(
                            "expected r = (1^T a*)^2 / ||a*||^2 in [0, k = {k}], got {}",
                            num(*r)
                        ),
                    ));
                }
                if k == 1 && *r != 1.0 {
                    return Err(Error::range(
                        "teacher.aStar.r",
                        format!(
                            "with k = 1, r = (1^T a*)^2 / ||a*||^2 is 1, got {}",
                            num(*r)
                        ),
                    ));
                }
                positive_real("teacher.aStar.norm", *norm)?;
                if *norm > 1e100 {
                    return Err(Error::range(
                        "teacher.aStar.norm",
                        format!("expected a number in (0, 1e100], got {}", num(*norm)),
                    ));
                }
                count("teacher.aStar.seed", *seed)?;
            }
            AStarSpec::Vector { a } => {
                vector("teacher.aStar.a", a, k, "model.k")?;
                let na = norm2(a);
                if na == 0.0 {
                    return Err(Error::range(
                        "teacher.aStar.a",
                        "expected a nonzero vector (a* = 0: the teacher is the zero function)",
                    ));
                }
                if !na.is_finite() || na.sqrt() > 1e100 {
                    return Err(Error::range("teacher.aStar.a", "expected ||a*|| <= 1e100"));
                }
            }
        }
        if let Some(s) = t.w_star_norm {
            if s > 1e100 {
                return Err(Error::range(
                    "teacher.wStarNorm",
                    format!("expected a number in (0, 1e100], got {}", num(s)),
                ));
            }
        }

        // The initial point.
        match &spec.init {
            InitSpec::Theorem54 {
                v_norm,
                seed,
                signs,
            } => {
                positive_real("init.vNorm", *v_norm)?;
                if *v_norm > 1e100 {
                    return Err(Error::range(
                        "init.vNorm",
                        format!("expected a number in (0, 1e100], got {}", num(*v_norm)),
                    ));
                }
                count("init.seed", *seed)?;
                if let Some(Value::String(name)) = signs {
                    if name != "theorem54" {
                        return Err(Error::spec(
                            "init.signs",
                            format!(
                                "unknown signs {name:?}: expected [s_v, s_a] (each 1 or -1) or \"theorem54\""
                            ),
                        ));
                    }
                } else if let Some(sg) = signs {
                    let Some(sg) = sg.as_array() else {
                        return Err(Error::spec(
                            "init.signs",
                            "expected [s_v, s_a] (each 1 or -1) or \"theorem54\"",
                        ));
                    };
                    let sg: Vec<f64> = sg
                        .iter()
                        .enumerate()
                        .map(|(j, x)| {
                            x.as_f64().ok_or_else(|| {
                                Error::spec(format!("init.signs[{j}]"), "expected a number")
                            })
                        })
                        .collect::<Result<_>>()?;
                    if sg.len() != 2 {
                        return Err(Error::shape(
                            "init.signs",
                            format!(
                                "expected 2 numbers (the signs of v and a), got {}",
                                sg.len()
                            ),
                        ));
                    }
                    for (j, &x) in sg.iter().enumerate() {
                        finite(&format!("init.signs[{j}]"), x)?;
                        if x != 1.0 && x != -1.0 {
                            return Err(Error::range(
                                format!("init.signs[{j}]"),
                                format!("expected 1 or -1, got {}", num(x)),
                            ));
                        }
                    }
                }
            }
            InitSpec::Point { v, a } => {
                vector("init.v", v, p, "model.p")?;
                vector("init.a", a, k, "model.k")?;
                if v.iter().all(|x| *x == 0.0) {
                    return Err(Error::range(
                        "init.v",
                        "expected a nonzero vector (w = v / ||v|| is undefined at v = 0)",
                    ));
                }
                if !norm(v).is_finite() {
                    return Err(Error::range("init.v", "its norm overflows"));
                }
            }
        }

        // The sample.
        let samples = match (m.loss, &spec.data) {
            (LossSpec::Population, None) => 0,
            (LossSpec::Population, Some(_)) => {
                return Err(Error::spec(
                    "data",
                    "only the empirical loss (model.loss = \"empirical\") takes data",
                ))
            }
            (LossSpec::Empirical, None) => {
                return Err(Error::spec(
                    "data",
                    "the empirical loss needs data: {\"samples\": N, \"seed\": q}",
                ))
            }
            (LossSpec::Empirical, Some(d)) => {
                let n = positive("data.samples", d.samples)?;
                count("data.seed", d.seed)?;
                n
            }
        };
        // Memory, in u64: the iterate and the method's vectors, the curvature tracker, the
        // model's vectors (teacher, a_sp, scratch), the sample (N k p + N, the batch indices) and
        // the recorded columns.
        let dim = (k + p) as u64;
        let (ku, pu, nu) = (k as u64, p as u64, samples as u64);
        budget.reserve(
            "model",
            &[
                (dim, run.per_param as u64 + 4),
                (run.curvature_doubles(dim), 1),
                (ku, 8),
                (pu, 8),
            ],
        )?;
        if samples > 0 {
            budget.reserve("data.samples", &[(nu * ku, pu), (nu, 2)])?;
        }
        budget.reserve(
            "steps",
            &[(run.rows_max, (run.other_columns + COLUMNS.len() + 1) as u64)],
        )?;
        buffers.finish("the weightNormCnn family takes no buffers")?;

        // Work starts here.
        let (u, s, a_star) = match teacher_cache.and_then(OnceLock::get) {
            Some(parts) => parts.clone(),
            None => {
                let parts = teacher_parts(t, p, k)?;
                if let Some(c) = teacher_cache {
                    let _ = c.set(parts.clone());
                }
                parts
            }
        };
        let teacher = Teacher::new(u, s, a_star);

        let mut x = zeroed("init", k + p)?;
        match &spec.init {
            InitSpec::Theorem54 {
                v_norm,
                seed,
                signs,
            } => {
                let theorem = matches!(signs, Some(Value::String(_)));
                let (sv, sa) = match signs.as_ref().and_then(Value::as_array) {
                    Some(g) => (
                        g[0].as_f64().expect("checked"),
                        g[1].as_f64().expect("checked"),
                    ),
                    None => (1.0, 1.0),
                };
                let mut rng = Normal::new(*seed as u64);
                let (v, a) = x.split_at_mut(p);
                // v: a normalized Gaussian vector times vNorm (uniform on the sphere).
                rng.fill(v, 1.0);
                let nv = norm(v);
                v.iter_mut().for_each(|x| *x *= sv * v_norm / nv);
                // a: direction uniform on the sphere, radius R U^(1/k) (uniform in the ball).
                let mut radius = teacher.sum_a.abs() * s / libm::sqrt(kf);
                if radius == 0.0 {
                    radius = libm::sqrt(teacher.a_sq) * s / libm::sqrt(kf);
                }
                rng.fill(a, 1.0);
                let na = norm(a);
                let rho = radius * libm::pow(rng.uniform_open(), 1.0 / kf);
                a.iter_mut().for_each(|x| *x *= sa * rho / na);
                if theorem {
                    // Theorem 5.4's pair: phi0 <= pi/2 and a0^T a* >= 0.
                    if crate::linalg::dot(v, &teacher.u) < 0.0 {
                        v.iter_mut().for_each(|x| *x = -*x);
                    }
                    if crate::linalg::dot(a, &teacher.a) < 0.0 {
                        a.iter_mut().for_each(|x| *x = -*x);
                    }
                }
            }
            InitSpec::Point { v, a } => {
                x[..p].copy_from_slice(v);
                x[p..].copy_from_slice(a);
            }
        }

        let loss = if samples > 0 {
            let d = spec.data.as_ref().expect("checked above");
            let mut rng = Normal::new(d.seed as u64);
            let mut z = zeroed("data.samples", samples * k * p)?;
            rng.fill(&mut z, 1.0);
            let mut y = zeroed("data.samples", samples)?;
            for (n, yn) in y.iter_mut().enumerate() {
                let zs = &z[n * k * p..(n + 1) * k * p];
                *yn = (0..k)
                    .map(|i| {
                        let h = crate::linalg::dot(&teacher.u, &zs[i * p..(i + 1) * p]);
                        if h > 0.0 {
                            teacher.b[i] * h
                        } else {
                            0.0
                        }
                    })
                    .sum();
            }
            Loss::Empirical(Sample::new(z, y))
        } else {
            Loss::Population
        };
        Ok(Built {
            model: Box::new(
                WeightNormCnn::new(k, p, teacher, loss)
                    .stop_when_decided(m.stop_when_decided.unwrap_or(false)),
            ),
            w0: x,
        })
    }
}

fn examples() -> Vec<(&'static str, Value)> {
    {
        vec![
            (
                "weightNormCnn-population",
                json!({
                    "model": {"kind": "weightNormCnn", "k": 6, "p": 4},
                    "teacher": {"wStar": {"kind": "random", "seed": 1},
                                "aStar": {"kind": "ratio", "r": 2, "seed": 2}},
                    "init": {"kind": "theorem54", "seed": 3},
                    "schedule": {"kind": "constant", "eta": 0.2},
                    "steps": 60,
                    "recordEvery": 5,
                }),
            ),
            (
                "weightNormCnn-point",
                json!({
                    "model": {"kind": "weightNormCnn", "k": 3, "p": 3},
                    "teacher": {"wStarNorm": 1.5, "wStar": {"kind": "vector", "w": [1, 0, 0]},
                                "aStar": {"kind": "vector", "a": [1, -0.5, 0.25]}},
                    "init": {"kind": "point", "v": [-0.6, 0.5, 0.3], "a": [0.2, 0.1, -0.3]},
                    "schedule": {"kind": "constant", "eta": 0.1},
                    "steps": 40,
                    "recordEvery": 4,
                }),
            ),
            (
                "weightNormCnn-empirical",
                json!({
                    "model": {"kind": "weightNormCnn", "k": 4, "p": 3, "loss": "empirical"},
                    "teacher": {"wStar": {"kind": "random", "seed": 4},
                                "aStar": {"kind": "ratio", "r": 1, "norm": 1, "seed": 5}},
                    "init": {"kind": "theorem54", "vNorm": 1, "seed": 6, "signs": [1, 1]},
                    "data": {"samples": 32, "seed": 7},
                    "schedule": {"kind": "constant", "eta": 0.1},
                    "steps": 40,
                    "recordEvery": 4,
                }),
            ),
        ]
    }
}
