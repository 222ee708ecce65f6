//! The description of a run: the single contract both bindings accept.
//!
//! A spec is small JSON (camelCase fields); bulk numbers (explicit target, explicit initial
//! factors) travel beside it as named `f64` buffers whose name is the spec path of the matrix
//! reference, e.g. `target.matrix`, `init.u0`, `init.v0`. A matrix reference in the spec holds
//! only its shape (`{"rows": 3, "cols": 2}`); the buffer holds the row-major data.
//!
//! Numeric fields that must be integers (sizes, counts, seeds) are read as JSON numbers and
//! checked here, so that a negative or fractional value gets an error naming the field instead of
//! a generic type error.

use serde::Deserialize;

use crate::error::{Error, Result};

/// Shape of a matrix whose data is passed as a buffer named after its spec path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixRef {
    pub rows: f64,
    pub cols: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum ScheduleSpec {
    /// eta_t = eta.
    Constant { eta: f64 },
    /// eta_t = c (t+1)^-(1/2+delta), 0 < delta <= 1/2.
    InversePower { c: f64, delta: f64 },
    /// Theorem 3.1 of Du, Hu & Lee: eta_t = sqrt(eps/r) / (100 (t+1) ||M*||_F^1.5).
    Theorem31 { eps: f64 },
}

/// The run's own fields, common to every family (stage 1 of parsing a run spec; the family
/// parses `model` and its own fields, stage 2).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunSpec {
    pub schedule: ScheduleSpec,
    pub steps: f64,
    #[serde(default = "one")]
    pub record_every: f64,
    /// The dynamics; default gradient descent with `schedule`.
    #[serde(default)]
    pub method: Option<MethodSpec>,
    /// L2 weight decay lambda: the dynamics see grad L + lambda w.
    #[serde(default)]
    pub weight_decay: f64,
    /// Record lambda_min and lambda_max of the Hessian along the run.
    #[serde(default)]
    pub curvature: Option<CurvatureSpec>,
}

/// Curvature along a trajectory: lambda_min and lambda_max by warm-started Lanczos at every
/// recorded row whose step is a multiple of `every` (and at the last step).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CurvatureSpec {
    /// A multiple of `recordEvery`.
    pub every: f64,
    /// Relative residual tolerance of the Lanczos solves (default 1e-6).
    #[serde(default = "curv_tol")]
    pub tol: f64,
    /// Lanczos steps per sample (default 300).
    #[serde(default = "curv_iter")]
    pub max_iter: f64,
    /// Seed of the first start vector (default 0).
    #[serde(default)]
    pub seed: f64,
}

fn curv_tol() -> f64 {
    1e-6
}
fn curv_iter() -> f64 {
    300.0
}

/// First-order methods and gradient-flow integrators. Every method takes its step size h from
/// `schedule` (eta_t); Dormand-Prince uses eta_0 as its first trial step.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum MethodSpec {
    /// w <- w - eta grad
    Gd {},
    /// Heavy ball: v <- beta v + grad; w <- w - eta v.
    Momentum { beta: f64 },
    /// v <- beta v + grad(w - eta beta v); w <- w - eta v.
    Nesterov { beta: f64 },
    /// Adam with bias correction.
    Adam {
        #[serde(default = "beta1")]
        beta1: f64,
        #[serde(default = "beta2")]
        beta2: f64,
        #[serde(default = "adam_eps")]
        eps: f64,
    },
    /// Mini-batch SGD: batches drawn without replacement from a seeded shuffle per epoch.
    #[serde(rename_all = "camelCase")]
    Sgd { batch_size: f64, seed: f64 },
    /// Explicit Euler on dw/dt = -grad (the same iterates as GD).
    Euler {},
    /// Classical 4th-order Runge-Kutta.
    Rk4 {},
    /// Adaptive Dormand-Prince 5(4).
    Dopri5 {
        #[serde(default = "rtol")]
        rtol: f64,
        #[serde(default = "atol")]
        atol: f64,
    },
    /// Implicit midpoint w' = w - h grad((w + w')/2), solved by fixed-point iteration until
    /// the update is below tol (1 + max|w|) (max norm), at most maxIter evaluations.
    #[serde(rename_all = "camelCase")]
    ImplicitMidpoint {
        #[serde(default = "imp_tol")]
        tol: f64,
        #[serde(default = "imp_iter")]
        max_iter: f64,
    },
    /// Perturbed gradient descent (Algorithm 2 of Du's thesis, Jin et al. 2017): when
    /// ||grad F(x_t)|| <= gThres and more than tThres steps have passed since the last
    /// perturbation (t_noise = -tThres - 1 at the start), x_t += xi with xi uniform in the ball
    /// B(0, radius) (seeded), then a GD step from the perturbed point.
    #[serde(rename_all = "camelCase")]
    PerturbedGd {
        g_thres: f64,
        t_thres: f64,
        radius: f64,
        seed: f64,
    },
}

fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn adam_eps() -> f64 {
    1e-8
}
fn rtol() -> f64 {
    1e-6
}
fn atol() -> f64 {
    1e-9
}
fn imp_tol() -> f64 {
    1e-14
}
fn imp_iter() -> f64 {
    100.0
}

pub(crate) fn one() -> f64 {
    1.0
}

/// The top-level fields of [`RunSpec`].
pub const RUN_FIELDS: [&str; 6] = [
    "schedule",
    "steps",
    "recordEvery",
    "method",
    "weightDecay",
    "curvature",
];

/// Deepest nesting of arrays and objects a spec or query may have (serde_json's own recursion
/// limit, 128, refuses deeper JSON text before this is reached).
pub const MAX_DEPTH: usize = 64;

/// Deserialize `v`, naming the offending field on a type error, a missing or an unknown field:
/// the field is `prefix` followed by serde's path (`root` for the root itself). A `null`
/// anywhere is an error naming its path (`null` is never a value of a spec or query field; a
/// NaN or an infinity written by `JSON.stringify` becomes `null`), so that no numeric field
/// silently takes its default.
pub fn from_value<T: serde::de::DeserializeOwned>(
    v: serde_json::Value,
    prefix: &str,
    root: &str,
) -> Result<T> {
    check_value(&v, prefix, root)?;
    // The common case (valid input) without tracking paths or copying the input: the same
    // deserializer, so the same value; on an error, again with paths for the message.
    if let Ok(t) = T::deserialize(&v) {
        return Ok(t);
    }
    let copy = v.clone();
    serde_path_to_error::deserialize(v).map_err(|e| serde_error(e, &copy, prefix, root))
}

/// Deserialize JSON text like [`from_value`]. Text nested deeper than serde_json's recursion
/// limit (128) is refused (`invalid_spec` on `root`).
pub fn from_str<T: serde::de::DeserializeOwned>(json: &str, prefix: &str, root: &str) -> Result<T> {
    from_value(parse_text(json, root)?, prefix, root)
}

/// JSON text as a value, unchecked (no `null` or depth check yet: see [`check_value`]).
pub fn parse_text(json: &str, root: &str) -> Result<serde_json::Value> {
    serde_json::from_str(json).map_err(|e| {
        let msg = e.to_string();
        if msg.starts_with("number out of range") {
            Error::non_finite(root, format!("a number is out of the range of f64 ({msg})"))
        } else {
            Error::spec(root, format!("invalid JSON: {msg}"))
        }
    })
}

/// The path of a child in the core's notation.
fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// No `null` in `v`, and no deeper nesting than [`MAX_DEPTH`] (iterative: no recursion on input).
///
/// The common case (a valid value) is a walk without any path text (a sweep builds and checks
/// each of its runs' specs: issue 14); only when that walk finds a problem is the walk with
/// paths ([`check_value_paths`]) run, which names the first problem in its order.
pub fn check_value(v: &serde_json::Value, prefix: &str, root: &str) -> Result<()> {
    use serde_json::Value;
    let mut stack: Vec<(&Value, usize)> = vec![(v, 0)];
    while let Some((x, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return check_value_paths(v, prefix, root);
        }
        match x {
            Value::Null => return check_value_paths(v, prefix, root),
            Value::Array(a) => stack.extend(a.iter().map(|e| (e, depth + 1))),
            Value::Object(o) => stack.extend(o.values().map(|e| (e, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// [`check_value`] with the path of every node: the first problem in depth-first order (keys
/// sorted) is the error, named by its path.
fn check_value_paths(v: &serde_json::Value, prefix: &str, root: &str) -> Result<()> {
    use serde_json::Value;
    let name = |p: &str| {
        if p.is_empty() {
            root.to_string()
        } else {
            format!("{prefix}{p}")
        }
    };
    let mut stack: Vec<(&Value, String, usize)> = vec![(v, String::new(), 0)];
    while let Some((x, path, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(Error::spec(
                name(&path),
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        match x {
            Value::Null => {
                return Err(Error::spec(
                    name(&path),
                    "expected a value, got null (JSON.stringify writes NaN and +-Infinity as null)",
                ))
            }
            Value::Array(a) => {
                for (i, e) in a.iter().enumerate().rev() {
                    stack.push((e, format!("{path}[{i}]"), depth + 1));
                }
            }
            Value::Object(o) => {
                let mut kids: Vec<_> = o.iter().collect();
                kids.sort_by(|a, b| b.0.cmp(a.0));
                for (k, e) in kids {
                    stack.push((e, child_path(&path, k), depth + 1));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A value as serde names it in "invalid type: ..., expected ..." messages.
fn unexpected(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::String(s) => format!("string {s:?}"),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => format!("integer `{u}`"),
            (None, Some(i), _) => format!("integer `{i}`"),
            (_, _, Some(f)) => serde::de::Unexpected::Float(f).to_string(),
            _ => String::new(),
        },
        Value::Array(_) => "sequence".into(),
        Value::Object(_) => "map".into(),
    }
}

/// Inside a tagged enum serde loses the path: the one value below `at` (breadth first, its
/// path relative to `at`) that a type error (`invalid type: string "x", expected f64`) or an
/// unknown variant (`unknown variant `x``) names, if exactly one is.
fn find_unexpected(at: &serde_json::Value, msg: &str) -> Option<String> {
    if msg.starts_with("invalid value: map, expected map with a single key") {
        // A variant written as a one-key map (`{"leakyRelu": ..}`) given as some other map.
        return find_below(at, &|e| {
            e.as_object()
                .is_some_and(|o| o.len() != 1 && !o.contains_key("kind"))
        });
    }
    if let Some(rest) = msg
        .strip_prefix("invalid type: ")
        .or_else(|| msg.strip_prefix("invalid value: "))
    {
        let got = rest.split(", expected").next()?;
        if msg.contains("expected variant") {
            // A tag of the wrong type (`"kind": 5`): the object whose `kind` it is.
            let tagged =
                |e: &serde_json::Value| e.get("kind").is_some_and(|k| unexpected(k) == got);
            if let Some(p) = find_below(at, &tagged) {
                return Some(format!("{p}.kind"));
            }
        }
        // An object tagged by `kind` is where a map belongs (a variant), and so is a matrix's
        // shape `{rows, cols}` (its numbers travel in a buffer): never the culprit.
        let shape = |e: &serde_json::Value| {
            e.as_object()
                .is_some_and(|o| o.len() == 2 && o.contains_key("rows") && o.contains_key("cols"))
        };
        return find_below(at, &|e| {
            unexpected(e) == got && e.get("kind").is_none() && !shape(e)
        });
    }
    let rest = msg.strip_prefix("unknown variant `")?;
    let name = rest.split('`').next()?;
    // The variant is a string value (`"gaussian"`), or the one key of an object (serde reads
    // `{"a": ..}` as variant `a` of an enum written as a string or a one-key map).
    find_below(at, &|e| match e {
        serde_json::Value::String(s) => s == name,
        serde_json::Value::Object(o) => o.len() == 1 && o.contains_key(name),
        _ => false,
    })
}

/// The path (relative to `at`) of the one value below `at` for which `pred` holds, at the
/// shallowest depth where any does; None when none or several do.
fn find_below(at: &serde_json::Value, pred: &dyn Fn(&serde_json::Value) -> bool) -> Option<String> {
    use serde_json::Value;
    let mut found = Vec::new();
    let mut queue: std::collections::VecDeque<(&Value, String)> = [(at, String::new())].into();
    while let Some((x, path)) = queue.pop_front() {
        let kids: Vec<(&Value, String)> = match x {
            Value::Object(o) => o.iter().map(|(k, e)| (e, child_path(&path, k))).collect(),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, e)| (e, format!("{path}[{i}]")))
                .collect(),
            _ => continue,
        };
        for (e, p) in kids {
            if pred(e) {
                found.push(p.clone());
            }
            queue.push_back((e, p));
        }
        if !found.is_empty() {
            break;
        }
    }
    (found.len() == 1).then(|| found.remove(0))
}

fn serde_error(
    e: serde_path_to_error::Error<serde_json::Error>,
    input: &serde_json::Value,
    prefix: &str,
    root: &str,
) -> Error {
    let path = e.path().to_string();
    let msg = e.into_inner().to_string();
    // serde_path_to_error writes "." for the root and "?" where it lost track; inside variants
    // tagged by `kind` it stops at the variant. A missing or unknown field named in the message
    // is appended when the input shows that it belongs there (an object at that path that has it,
    // for an unknown field, or lacks it, for a missing one), so the error names the full path
    // (`target.bogus`, `init.seed`); a type error below the variant is found by its value
    // (`schedule.eta` for `"eta": "x"`); otherwise the path serde knows is given.
    let at_root = path == "." || path == "?";
    let base = if at_root { "" } else { path.as_str() };
    let here = lookup(input, base);
    // serde's path is exact unless it stopped at an object tagged by `kind` (a variant): only
    // there is the culprit searched below it.
    let tagged = here.is_some_and(|h| h.get("kind").is_some());
    let named = field_in_message(&msg).and_then(|n| {
        let unknown = msg.contains("unknown field `");
        let has = |o: &serde_json::Value| {
            o.as_object()
                .is_some_and(|o| o.contains_key(n.as_str()) == unknown)
        };
        if here.is_some_and(has) {
            return Some(n);
        }
        // A missing or unknown field of an object nested in the variant (`data.targets.kind`):
        // the one object below that shows it.
        let below = here.filter(|_| tagged).and_then(|h| find_below(h, &has))?;
        Some(format!("{below}.{n}"))
    });
    let named = named.or_else(|| {
        here.filter(|h| tagged && (h.is_object() || h.is_array()))
            .and_then(|h| find_unexpected(h, &msg))
    });
    let field = match (at_root, named) {
        (true, Some(n)) => format!("{prefix}{n}"),
        (true, None) => root.to_string(),
        (false, Some(n)) if n.starts_with('[') => format!("{prefix}{path}{n}"),
        (false, Some(n)) => format!("{prefix}{path}.{n}"),
        (false, None) => format!("{prefix}{path}"),
    };
    Error::spec(field, msg)
}

/// The value at a path written as serde_path_to_error writes it (`a.b[2].c`, `""` for the root).
fn lookup<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut cur = v;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        for idx in rest.split(']').filter(|x| !x.is_empty()) {
            cur = cur.get(idx.trim_start_matches('[').parse::<usize>().ok()?)?;
        }
    }
    Some(cur)
}

/// The field a serde message names (`missing field `x``, `unknown field `x``), if any.
pub(crate) fn field_in_message(msg: &str) -> Option<String> {
    ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| msg.find(p).map(|i| &msg[i + p.len()..]))
        .and_then(|rest| rest.split('`').next())
        .map(str::to_string)
}

/// Largest count (steps, recordEvery, seeds): 2^53, the largest integer an f64 (and a JS number)
/// holds exactly. The same bound on every target.
pub const MAX_COUNT: u64 = 1 << 53;
/// Largest size (dimensions, widths, samples, ranks, channels, kernels, batch sizes, iteration
/// caps): 2^32 - 1, so that a size means the same on 64-bit targets and on wasm32 (where `usize`
/// has 32 bits). Products of sizes are computed in 64 or 128 bits before the memory budget.
pub const MAX_SIZE: u64 = u32::MAX as u64;

/// `x` as it is echoed in messages: plain up to 1e16, in exponent form above (never hundreds of
/// digits), the same text on every target.
pub fn num(x: f64) -> String {
    if x.is_finite() && x.abs() >= 1e16 {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// An integer field in `lo..=hi`: `non_finite` for NaN or an infinity, `out_of_range` for a
/// fraction or a value outside the range, with the same message on every target.
fn integer(field: &str, x: f64, lo: u64, hi: u64) -> Result<u64> {
    if !x.is_finite() {
        return Err(Error::non_finite(
            field,
            format!("expected an integer in {lo}..={hi}, got {}", num(x)),
        ));
    }
    if x.fract() != 0.0 || x < lo as f64 || x > hi as f64 {
        return Err(Error::range(
            field,
            format!("expected an integer in {lo}..={hi}, got {}", num(x)),
        ));
    }
    Ok(x as u64)
}

/// A non-negative count (`steps`, `seed`, ...): an integer in `0..=2^53`.
pub fn count(field: &str, x: f64) -> Result<u64> {
    integer(field, x, 0, MAX_COUNT)
}

/// A positive count (`recordEvery`, `curvature.every`): an integer in `1..=2^53`.
pub fn positive_count(field: &str, x: f64) -> Result<u64> {
    integer(field, x, 1, MAX_COUNT)
}

/// A positive size (dimensions, rank, widths, iteration caps): an integer in `1..=2^32 - 1`.
pub fn positive(field: &str, x: f64) -> Result<usize> {
    Ok(integer(field, x, 1, MAX_SIZE)? as usize)
}

/// A size that may be 0 (padding): an integer in `0..=2^32 - 1`.
pub fn size0(field: &str, x: f64) -> Result<usize> {
    Ok(integer(field, x, 0, MAX_SIZE)? as usize)
}

/// A finite real field.
pub fn finite(field: &str, x: f64) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Error::non_finite(
            field,
            format!("expected a finite number, got {}", num(x)),
        ))
    }
}

/// A finite, strictly positive real field.
pub fn positive_real(field: &str, x: f64) -> Result<f64> {
    finite(field, x)?;
    if x > 0.0 {
        Ok(x)
    } else {
        Err(Error::range(
            field,
            format!("expected a number > 0, got {}", num(x)),
        ))
    }
}
