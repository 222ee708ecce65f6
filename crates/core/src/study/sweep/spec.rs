//! The sweep spec: parsed and checked with the full path of every field (`axes[1].values[3]`,
//! `keep[2].firstStepWhere.all[0].of`), then expanded into runs: run index -> setting and seed
//! index -> the concrete run spec.

use serde_json::{Map, Value};

use super::super::path::{parse_path, set_path, Seg};
use super::super::Buffers;
use crate::error::{Error, Result};
use crate::session::{Session, SessionTemplate};
use crate::spec::{count, finite, num, positive_count, MAX_COUNT};

/// One axis: one member, or the members of a `zip` group, each with its path and values (all of
/// the same length).
#[derive(Debug, Clone)]
pub struct Axis {
    /// (path text, segments, values, spec path of the values: `axes[0]` or `axes[0].zip[1]`).
    pub members: Vec<Member>,
    pub len: u64,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub path: String,
    pub segs: Vec<Seg>,
    pub values: Vec<Value>,
    /// Where the member is in the sweep spec (`axes[0]`, `axes[2].zip[1]`).
    pub at: String,
    /// True when the values come from a `range` (errors then name `<at>.range`).
    pub ranged: bool,
}

/// Seeds derived per run: `count` runs per setting, one stream per path.
#[derive(Debug, Clone)]
pub struct Seeds {
    pub count: u64,
    pub base: u64,
    pub paths: Vec<(String, Vec<Seg>)>,
}

/// Comparison operators of a predicate term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub fn holds(self, x: f64, y: f64) -> bool {
        match self {
            Op::Lt => x < y,
            Op::Le => x <= y,
            Op::Gt => x > y,
            Op::Ge => x >= y,
        }
    }
}

/// A predicate over named numbers (a row's columns, or a run's kept values).
#[derive(Debug, Clone)]
pub enum Pred {
    /// `{"of": name, "le": x, ...}`: every comparison holds (NaN satisfies none). `at` is the
    /// spec path of the `of` field.
    Cmp {
        of: String,
        at: String,
        ops: Vec<(Op, f64)>,
    },
    All(Vec<Pred>),
    Any(Vec<Pred>),
    Not(Box<Pred>),
    /// `{"stop": "diverged"}` (class predicates only).
    Stop(String),
}

impl Pred {
    /// Every `of` name with its spec path.
    pub fn names<'a>(&'a self, out: &mut Vec<(&'a str, &'a str)>) {
        match self {
            Pred::Cmp { of, at, .. } => out.push((of, at)),
            Pred::All(ps) | Pred::Any(ps) => ps.iter().for_each(|p| p.names(out)),
            Pred::Not(p) => p.names(out),
            Pred::Stop(_) => {}
        }
    }

    /// Evaluate with `value(name)` giving the number (NaN when unknown) and `stop` the run's stop.
    pub fn eval(&self, value: &dyn Fn(&str) -> f64, stop: &str) -> bool {
        match self {
            Pred::Cmp { of, ops, .. } => {
                let x = value(of);
                ops.iter().all(|&(op, y)| op.holds(x, y))
            }
            Pred::All(ps) => ps.iter().all(|p| p.eval(value, stop)),
            Pred::Any(ps) => ps.iter().any(|p| p.eval(value, stop)),
            Pred::Not(p) => !p.eval(value, stop),
            Pred::Stop(s) => s == stop,
        }
    }
}

/// How a recorded column is reduced to one number per run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reduce {
    Last,
    First,
    Min,
    Max,
    Mean,
}

/// What one kept value is.
#[derive(Debug, Clone)]
pub enum KeepKind {
    Column { column: String, reduce: Reduce },
    /// The step of the first recorded row with `column op x`.
    FirstAt { column: String, op: Op, x: f64 },
    FirstStepWhere(Pred),
    AllRowsWhere(Pred),
    Curvature { query: String, pointer: String },
}

#[derive(Debug, Clone)]
pub struct Keep {
    pub name: String,
    pub kind: KeepKind,
    /// The spec path of this entry (`keep[2]`).
    pub at: String,
}

#[derive(Debug, Clone)]
pub struct Class {
    pub name: String,
    pub when: Pred,
}

/// The fields of a class predicate that are not kept values.
pub const RUN_VALUES: [&str; 2] = ["steps", "loss"];
/// What a run's `stop` can be.
pub const STOPS: [&str; 4] = ["finished", "diverged", "solverFailed", "error"];

/// A parsed sweep.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    /// The base run spec (an object).
    pub base: Value,
    /// The run's buffers (names without `base.`).
    pub buffers: Buffers,
    pub axes: Vec<Axis>,
    pub seeds: Option<Seeds>,
    pub keep: Vec<Keep>,
    pub classes: Vec<Class>,
    pub quantiles: Vec<f64>,
    pub confidence: f64,
    pub settings: u64,
    pub per_setting: u64,
    pub runs: u64,
    /// `runs: {start, end}` of a study (default all).
    pub range: (u64, u64),
    /// `threads` of a study (0: all cores).
    pub threads: u64,
    /// `validated` of a study: the hash `sweepPlan` gave for this sweep (its settings need not be
    /// built again), if given.
    pub validated: Option<String>,
    /// `records: "settings"` of a study: its records are the reductions of its settings (as
    /// `sweepReduce` of their rows gives them), not the runs' rows.
    pub settings_records: bool,
    /// The sweep's identity (spec without `kind`, `runs`, `threads`; and the buffers).
    pub hash: String,
    /// Per-setting templates of the runs' spec hashes ([`SweepSpec::run_hash`]).
    pub templates: TemplateCache,
}

/// Most threads a sweep study may ask for.
pub const MAX_THREADS: u64 = 1024;

/// Most values an axis may have (a `range`'s `count`, or `values`).
pub const MAX_AXIS_VALUES: u64 = 1 << 16;

/// The fields of a sweep spec.
const FIELDS: [&str; 11] = [
    "kind", "base", "axes", "seeds", "keep", "classes", "reduce", "runs", "threads", "validated",
    "records",
];

/// An object's fields with unknown ones refused (naming them) and typed getters.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    at: String,
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, at: &str, what: &str, fields: &[&str]) -> Result<Obj<'a>> {
        let Value::Object(map) = v else {
            return Err(Error::spec(
                if at.is_empty() { "spec" } else { at },
                format!("expected {what} (an object), got {}", type_name(v)),
            ));
        };
        for k in map.keys() {
            if !fields.contains(&k.as_str()) {
                let known: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
                return Err(Error::spec(
                    join(at, k),
                    format!("unknown field `{k}` in {what}, expected one of {}", known.join(", ")),
                ));
            }
        }
        Ok(Obj {
            map,
            at: at.to_string(),
        })
    }
    fn path(&self, key: &str) -> String {
        join(&self.at, key)
    }
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }
    fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }
    fn number(&self, key: &str) -> Result<Option<f64>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(v) => Err(Error::spec(
                self.path(key),
                format!("expected a number, got {}", type_name(v)),
            )),
        }
    }
    fn string(&self, key: &str) -> Result<Option<&'a str>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(Error::spec(
                self.path(key),
                format!("expected a string, got {}", type_name(v)),
            )),
        }
    }
    fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(Error::spec(
                self.path(key),
                format!("expected an array, got {}", type_name(v)),
            )),
        }
    }
}

/// A name of a kept value or class: letters, digits and `_`, starting with a letter.
fn name(v: Option<&str>, at: &str) -> Result<String> {
    let Some(n) = v else {
        return Err(Error::spec(at, "missing field `name`"));
    };
    let ok = n.len() <= 64
        && n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(Error::spec(
            at,
            format!("expected a name of letters, digits and _ starting with a letter (at most 64), got {n:?}"),
        ));
    }
    Ok(n.to_string())
}

const OPS: [(&str, Op); 4] = [("lt", Op::Lt), ("le", Op::Le), ("gt", Op::Gt), ("ge", Op::Ge)];

/// A predicate; `stop` terms are allowed in class predicates only.
fn pred(v: &Value, at: &str, classes: bool) -> Result<Pred> {
    let Value::Object(m) = v else {
        return Err(Error::spec(
            at,
            format!("expected a predicate (an object), got {}", type_name(v)),
        ));
    };
    let list = |key: &str| -> Result<Vec<Pred>> {
        let Some(Value::Array(a)) = m.get(key) else {
            return Err(Error::spec(join(at, key), "expected an array of predicates"));
        };
        if a.is_empty() {
            return Err(Error::spec(join(at, key), "expected at least one predicate"));
        }
        a.iter()
            .enumerate()
            .map(|(i, p)| pred(p, &format!("{}[{i}]", join(at, key)), classes))
            .collect()
    };
    let one_key = |key: &str| -> Result<()> {
        if m.len() != 1 {
            let other = m.keys().find(|k| *k != key).cloned().unwrap_or_default();
            return Err(Error::spec(
                join(at, &other),
                format!("unknown field `{other}` beside `{key}` (a predicate is one of `of` with comparisons, `all`, `any`, `not`{})", if classes { ", `stop`" } else { "" }),
            ));
        }
        Ok(())
    };
    if m.contains_key("all") {
        one_key("all")?;
        return Ok(Pred::All(list("all")?));
    }
    if m.contains_key("any") {
        one_key("any")?;
        return Ok(Pred::Any(list("any")?));
    }
    if let Some(p) = m.get("not") {
        one_key("not")?;
        return Ok(Pred::Not(Box::new(pred(p, &join(at, "not"), classes)?)));
    }
    if let Some(s) = m.get("stop") {
        one_key("stop")?;
        if !classes {
            return Err(Error::spec(
                join(at, "stop"),
                "a row predicate cannot test the run's stop (only class predicates can)",
            ));
        }
        return match s {
            Value::String(s) if STOPS.contains(&s.as_str()) => Ok(Pred::Stop(s.clone())),
            _ => Err(Error::spec(
                join(at, "stop"),
                format!("expected one of {}, got {s}", STOPS.join(", ")),
            )),
        };
    }
    let o = Obj::new(v, at, "a predicate", &["of", "lt", "le", "gt", "ge"])?;
    let Some(of) = o.string("of")? else {
        return Err(Error::spec(
            at,
            format!("expected a predicate: `of` with comparisons (lt, le, gt, ge), `all`, `any`, `not`{}", if classes { " or `stop`" } else { "" }),
        ));
    };
    let mut ops = Vec::new();
    for (key, op) in OPS {
        if let Some(x) = o.number(key)? {
            ops.push((op, finite(&o.path(key), x)?));
        }
    }
    if ops.is_empty() {
        return Err(Error::spec(
            at,
            "expected at least one comparison: lt, le, gt or ge",
        ));
    }
    Ok(Pred::Cmp {
        of: of.to_string(),
        at: o.path("of"),
        ops,
    })
}

fn keep(v: &Value, at: &str) -> Result<Keep> {
    let o = Obj::new(
        v,
        at,
        "a kept value",
        &[
            "name",
            "column",
            "reduce",
            "firstAtOrBelow",
            "firstAtOrAbove",
            "firstStepWhere",
            "allRowsWhere",
            "curvature",
        ],
    )?;
    let name = name(o.string("name")?, &o.path("name"))?;
    let kinds: Vec<&str> = ["reduce", "firstAtOrBelow", "firstAtOrAbove", "firstStepWhere", "allRowsWhere", "curvature"]
        .into_iter()
        .filter(|k| o.has(k))
        .collect();
    if kinds.len() != 1 {
        return Err(Error::spec(
            at,
            format!(
                "expected exactly one of `reduce` (with `column`), `firstAtOrBelow`, `firstAtOrAbove` (with `column`), `firstStepWhere`, `allRowsWhere`, `curvature`; got {}",
                if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") }
            ),
        ));
    }
    let column = o.string("column")?;
    let needs_column = matches!(kinds[0], "reduce" | "firstAtOrBelow" | "firstAtOrAbove");
    if needs_column && column.is_none() {
        return Err(Error::spec(at, format!("missing field `column` (needed by `{}`)", kinds[0])));
    }
    if !needs_column && column.is_some() {
        return Err(Error::spec(o.path("column"), format!("`column` is not used with `{}`", kinds[0])));
    }
    let column = column.unwrap_or_default().to_string();
    let kind = match kinds[0] {
        "reduce" => {
            let r = match o.string("reduce")?.unwrap_or_default() {
                "last" => Reduce::Last,
                "first" => Reduce::First,
                "min" => Reduce::Min,
                "max" => Reduce::Max,
                "mean" => Reduce::Mean,
                other => {
                    return Err(Error::spec(
                        o.path("reduce"),
                        format!("expected one of last, first, min, max, mean, got {other:?}"),
                    ))
                }
            };
            KeepKind::Column { column, reduce: r }
        }
        k @ ("firstAtOrBelow" | "firstAtOrAbove") => {
            let x = o.number(k)?.unwrap_or(f64::NAN);
            let x = finite(&o.path(k), x)?;
            let op = if k == "firstAtOrBelow" { Op::Le } else { Op::Ge };
            KeepKind::FirstAt { column, op, x }
        }
        "firstStepWhere" => {
            KeepKind::FirstStepWhere(pred(o.get("firstStepWhere").unwrap_or(&Value::Null), &o.path("firstStepWhere"), false)?)
        }
        "allRowsWhere" => {
            KeepKind::AllRowsWhere(pred(o.get("allRowsWhere").unwrap_or(&Value::Null), &o.path("allRowsWhere"), false)?)
        }
        _ => {
            let c_at = o.path("curvature");
            let c = Obj::new(o.get("curvature").unwrap_or(&Value::Null), &c_at, "a curvature value", &["query", "pointer"])?;
            let Some(q) = c.get("query") else {
                return Err(Error::spec(c_at, "missing field `query`"));
            };
            if !q.is_object() {
                return Err(Error::spec(c.path("query"), "expected a curvature query (an object, docs/curvature.md)"));
            }
            let Some(pointer) = c.string("pointer")? else {
                return Err(Error::spec(c_at, "missing field `pointer`"));
            };
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(Error::spec(c.path("pointer"), format!("expected an RFC 6901 JSON pointer such as /smallest/0/value, got {pointer:?}")));
            }
            KeepKind::Curvature {
                query: q.to_string(),
                pointer: pointer.to_string(),
            }
        }
    };
    Ok(Keep {
        name,
        kind,
        at: at.to_string(),
    })
}

/// `count` points from `from` to `to` inclusive, linear or logarithmic; the ends exact.
fn range(v: &Value, at: &str) -> Result<Vec<Value>> {
    let o = Obj::new(v, at, "a range", &["from", "to", "count", "scale"])?;
    let get = |k: &str| -> Result<f64> {
        let x = o.number(k)?.ok_or_else(|| Error::spec(at, format!("missing field `{k}`")))?;
        finite(&o.path(k), x)
    };
    let (from, to) = (get("from")?, get("to")?);
    let n = positive_count(&o.path("count"), o.number("count")?.ok_or_else(|| Error::spec(at, "missing field `count`"))?)?;
    if n > MAX_AXIS_VALUES {
        return Err(Error::range(o.path("count"), format!("expected at most {MAX_AXIS_VALUES} points, got {n}")));
    }
    let log = match o.string("scale")?.unwrap_or("linear") {
        "linear" => false,
        "log" => true,
        other => return Err(Error::spec(o.path("scale"), format!("expected linear or log, got {other:?}"))),
    };
    if log && !(from > 0.0 && to > 0.0) {
        return Err(Error::range(
            at,
            format!("a log range needs from > 0 and to > 0, got from = {}, to = {}", num(from), num(to)),
        ));
    }
    let mut out = Vec::with_capacity(n as usize);
    for k in 0..n {
        let x = if k == 0 {
            from
        } else if k + 1 == n {
            to
        } else {
            let t = k as f64 / (n - 1) as f64;
            if log {
                libm::exp(libm::log(from) + t * (libm::log(to) - libm::log(from)))
            } else {
                from + t * (to - from)
            }
        };
        out.push(Value::from(x));
    }
    Ok(out)
}

fn member(v: &Value, at: &str) -> Result<Member> {
    let o = Obj::new(v, at, "an axis", &["path", "values", "range"])?;
    let Some(path) = o.string("path")? else {
        return Err(Error::spec(at, "missing field `path`"));
    };
    let segs = parse_path(path, &o.path("path"))?;
    let (values, ranged) = match (o.array("values")?, o.get("range")) {
        (Some(vs), None) => {
            if vs.is_empty() {
                return Err(Error::spec(o.path("values"), "expected at least one value"));
            }
            if vs.len() as u64 > MAX_AXIS_VALUES {
                return Err(Error::range(o.path("values"), format!("expected at most {MAX_AXIS_VALUES} values, got {}", vs.len())));
            }
            (vs.clone(), false)
        }
        (None, Some(r)) => (range(r, &o.path("range"))?, true),
        (Some(_), Some(_)) => return Err(Error::spec(o.path("range"), "give `values` or `range`, not both")),
        (None, None) => return Err(Error::spec(at, "missing field `values` (or `range`)")),
    };
    Ok(Member {
        path: path.to_string(),
        segs,
        values,
        at: at.to_string(),
        ranged,
    })
}

fn axis(v: &Value, at: &str) -> Result<Axis> {
    if let Some(Value::Array(zip)) = v.get("zip") {
        Obj::new(v, at, "a zip group", &["zip"])?;
        if zip.len() < 2 {
            return Err(Error::spec(format!("{at}.zip"), "expected at least two axes to zip"));
        }
        let members: Vec<Member> = zip
            .iter()
            .enumerate()
            .map(|(i, m)| member(m, &format!("{at}.zip[{i}]")))
            .collect::<Result<_>>()?;
        let len = members[0].values.len();
        if let Some(m) = members.iter().find(|m| m.values.len() != len) {
            return Err(Error::shape(
                m.at.clone(),
                format!("zipped axes need the same number of values: {} has {len}, this one {}", members[0].at, m.values.len()),
            ));
        }
        return Ok(Axis { members, len: len as u64 });
    }
    if v.get("zip").is_some() {
        return Err(Error::spec(format!("{at}.zip"), "expected an array of axes"));
    }
    let m = member(v, at)?;
    let len = m.values.len() as u64;
    Ok(Axis { members: vec![m], len })
}

/// True when `spec` has a value at `segs`.
fn has_path(spec: &Value, segs: &[Seg]) -> bool {
    let mut at = spec;
    for seg in segs {
        let next = match (seg, at) {
            (Seg::Key(k), Value::Object(m)) => m.get(k),
            (Seg::Index(i), Value::Array(a)) => a.get(*i),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return false,
        }
    }
    true
}

/// Every field named `seed` in `v` (numbers), as spec paths in sorted order.
fn seed_paths(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = join(at, k);
                if k == "seed" && x.is_number() {
                    out.push(p);
                } else {
                    seed_paths(x, &p, out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                seed_paths(x, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// FNV-1a, 64 bits.
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Fnv {
    pub fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    pub fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= x as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// FNV-1a fed as an `io::Write` (JSON text hashed as it is written, never allocated).
struct FnvWriter<'a>(&'a mut Fnv);

impl std::io::Write for FnvWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.bytes(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The hash of a spec (canonical JSON: serde_json's sorted keys, shortest round-trip numbers)
/// and its buffers (sorted names, then each value's bits, little-endian).
pub fn hash(spec: &Value, buffers: &Buffers) -> String {
    let mut h = Fnv::new();
    // The same bytes as `spec.to_string()` (Value's Display is `to_writer`), without the text.
    serde_json::to_writer(FnvWriter(&mut h), spec).expect("a JSON value serializes");
    hash_buffers(&mut h, buffers);
    h.hex()
}

fn hash_buffers(h: &mut Fnv, buffers: &Buffers) {
    let mut names: Vec<&String> = buffers.keys().collect();
    names.sort();
    for n in names {
        h.bytes(&[0]);
        h.bytes(n.as_bytes());
        h.bytes(&[0]);
        let data = &buffers[n];
        h.bytes(&(data.len() as u64).to_le_bytes());
        for x in data {
            h.bytes(&x.to_bits().to_le_bytes());
        }
    }
}

/// The canonical JSON text of a setting's run specs with holes where the seeds go: `pieces[0]`,
/// seed of path `slots[0]`, `pieces[1]`, ... A run's spec hash is then its text hashed piece by
/// piece, the seeds written as JSON integers, with no spec built or serialized (issue 14).
#[derive(Debug)]
pub struct HashTemplate {
    pieces: Vec<String>,
    slots: Vec<usize>,
}

/// A JSON string no spec holds (control characters and a marker), standing for seed `j`.
fn seed_marker(j: usize) -> Value {
    Value::String(format!("\u{1}\u{2}autobalance sweep seed {j}\u{2}\u{1}"))
}

/// What the runs of one setting share, made once per setting (issue 14).
#[derive(Debug)]
pub struct SettingTemplate {
    /// The runs' spec hashes ([`HashTemplate`]), or `None`: each run's spec is hashed.
    pub hash: Option<HashTemplate>,
    /// The runs' sessions built from their seeds ([`Session::template`]), or `None`: each run's
    /// session is built from its spec.
    pub session: Option<SessionTemplate>,
    /// The seed paths the session template sets, as indices into `seeds.paths` (those set in
    /// this setting's spec).
    pub seed_slots: Vec<usize>,
    /// The setting's axis values as JSON text (a row's `values`).
    pub values: String,
}

/// The templates of the settings in use (a few at a time: runs come in setting order).
#[derive(Debug, Default)]
pub struct TemplateCache(std::sync::Mutex<Vec<(u64, std::sync::Arc<SettingTemplate>)>>);

impl Clone for TemplateCache {
    fn clone(&self) -> Self {
        TemplateCache::default()
    }
}

/// Settings whose templates are kept at once (the oldest is dropped beyond).
const TEMPLATES_KEPT: usize = 16;

/// SplitMix64's output function.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of run `run` at the `j`-th seed path: 53 bits, exact in a JS number.
pub fn derive_seed(base: u64, j: u64, run: u64) -> u64 {
    let stream = splitmix64(base.wrapping_add((j + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    splitmix64(stream ^ run) >> 11
}

impl SweepSpec {
    /// Parse and check a sweep spec (not the settings' run specs: [`super::validate`] builds them).
    /// `buffers` are named by sweep spec path (`base.target.matrix`).
    pub fn parse(spec: &Value, buffers: Buffers) -> Result<SweepSpec> {
        crate::spec::check_value(spec, "", "spec")?;
        let o = Obj::new(spec, "", "a sweep spec", &FIELDS)?;
        if let Some(k) = o.string("kind")? {
            if k != "sweep" {
                return Err(Error::spec("kind", format!("expected \"sweep\", got {k:?}")));
            }
        }
        let base = o.get("base").ok_or_else(|| Error::spec("base", "missing field `base` (the run spec every run starts from)"))?;
        if !base.is_object() {
            return Err(Error::spec("base", format!("expected a run spec (an object), got {}", type_name(base))));
        }
        let mut run_buffers = Buffers::new();
        for (n, data) in buffers {
            match n.strip_prefix("base.") {
                Some(inner) if !inner.is_empty() => {
                    run_buffers.insert(inner.to_string(), data);
                }
                _ => {
                    return Err(Error::request(
                        n,
                        "this buffer is not used by the sweep (a sweep takes its base run's buffers, named base.<path>, e.g. base.target.matrix)",
                    ))
                }
            }
        }

        let mut axes = Vec::new();
        for (i, a) in o.array("axes")?.into_iter().flatten().enumerate() {
            axes.push(axis(a, &format!("axes[{i}]"))?);
        }
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for m in axes.iter().flat_map(|a| &a.members) {
            if let Some((_, at)) = seen.iter().find(|(p, _)| *p == m.path) {
                return Err(Error::spec(format!("{}.path", m.at), format!("the path {} is already swept by {at}", m.path)));
            }
            seen.push((&m.path, &m.at));
        }

        let seeds = match o.get("seeds") {
            None => None,
            Some(v) => {
                let s = Obj::new(v, "seeds", "the seeds", &["count", "base", "paths"])?;
                let count_ = positive_count(&s.path("count"), s.number("count")?.unwrap_or(1.0))?;
                let base_seed = count(&s.path("base"), s.number("base")?.unwrap_or(0.0))?;
                let mut paths = Vec::new();
                match s.array("paths")? {
                    Some(list) => {
                        for (i, p) in list.iter().enumerate() {
                            let at = format!("seeds.paths[{i}]");
                            let Value::String(p) = p else {
                                return Err(Error::spec(at, "expected a spec path (a string)"));
                            };
                            // `path?`: set only in runs whose spec has the field (a seed of
                            // one method or family among several on an axis).
                            let body = p.strip_suffix('?').unwrap_or(p);
                            paths.push((p.clone(), parse_path(body, &at)?));
                        }
                        if paths.is_empty() {
                            return Err(Error::spec("seeds.paths", "expected at least one seed path"));
                        }
                    }
                    None => {
                        let mut found = Vec::new();
                        seed_paths(base, "", &mut found);
                        found.sort();
                        if found.is_empty() {
                            return Err(Error::spec(
                                "seeds.paths",
                                "the base run has no field named seed: give the seed paths (e.g. [\"init.seed\"])",
                            ));
                        }
                        for p in found {
                            let segs = parse_path(&p, "seeds.paths")?;
                            paths.push((p, segs));
                        }
                    }
                }
                let bare = |p: &str| p.strip_suffix('?').unwrap_or(p).to_string();
                for (i, (p, _)) in paths.iter().enumerate() {
                    let p = &bare(p);
                    if let Some((_, at)) = seen.iter().find(|(q, _)| q == p) {
                        return Err(Error::spec(format!("seeds.paths[{i}]"), format!("the path {p} is swept by {at}: a path is an axis or a seed, not both")));
                    }
                    if paths[..i].iter().any(|(q, _)| bare(q) == *p) {
                        return Err(Error::spec(format!("seeds.paths[{i}]"), format!("the path {p} is listed twice")));
                    }
                }
                Some(Seeds {
                    count: count_,
                    base: base_seed,
                    paths,
                })
            }
        };

        let mut keeps: Vec<Keep> = Vec::new();
        for (i, k) in o.array("keep")?.into_iter().flatten().enumerate() {
            let k = keep(k, &format!("keep[{i}]"))?;
            if keeps.iter().any(|x| x.name == k.name) || RUN_VALUES.contains(&k.name.as_str()) {
                return Err(Error::spec(format!("keep[{i}].name"), format!("the name {:?} is taken (kept names are unique and not steps or loss)", k.name)));
            }
            keeps.push(k);
        }
        let mut classes: Vec<Class> = Vec::new();
        for (i, c) in o.array("classes")?.into_iter().flatten().enumerate() {
            let at = format!("classes[{i}]");
            let co = Obj::new(c, &at, "a class", &["name", "when"])?;
            let n = name(co.string("name")?, &co.path("name"))?;
            if n == "other" || classes.iter().any(|x| x.name == n) {
                return Err(Error::spec(co.path("name"), format!("the class name {n:?} is taken (unique, and `other` is the class of runs no predicate holds for)")));
            }
            let when = pred(co.get("when").ok_or_else(|| Error::spec(&at, "missing field `when`"))?, &co.path("when"), true)?;
            let mut names = Vec::new();
            when.names(&mut names);
            for (of, p) in names {
                if !RUN_VALUES.contains(&of) && !keeps.iter().any(|k| k.name == of) {
                    let mut known: Vec<&str> = RUN_VALUES.to_vec();
                    known.extend(keeps.iter().map(|k| k.name.as_str()));
                    return Err(Error::spec(p, format!("no kept value named {of:?}: a class predicate tests one of {}", known.join(", "))));
                }
            }
            classes.push(Class { name: n, when });
        }

        let (mut quantiles, mut confidence) = (vec![0.1, 0.25, 0.5, 0.75, 0.9], 0.95);
        if let Some(r) = o.get("reduce") {
            let ro = Obj::new(r, "reduce", "the reductions", &["quantiles", "confidence"])?;
            if let Some(qs) = ro.array("quantiles")? {
                quantiles.clear();
                for (i, q) in qs.iter().enumerate() {
                    let at = format!("reduce.quantiles[{i}]");
                    let q = q.as_f64().ok_or_else(|| Error::spec(&at, "expected a number"))?;
                    if !(0.0..=1.0).contains(&q) {
                        return Err(Error::range(at, format!("expected 0 <= q <= 1, got {}", num(q))));
                    }
                    quantiles.push(q);
                }
            }
            if let Some(c) = ro.number("confidence")? {
                if !(c > 0.0 && c < 1.0) {
                    return Err(Error::range("reduce.confidence", format!("expected 0 < confidence < 1, got {}", num(c))));
                }
                confidence = c;
            }
        }

        let mut settings: u128 = 1;
        for a in &axes {
            settings *= a.len as u128;
            settings = settings.min(u128::from(u64::MAX));
        }
        let per_setting = seeds.as_ref().map_or(1, |s| s.count);
        let total = settings * per_setting as u128;
        if total > MAX_COUNT as u128 {
            return Err(Error::range("axes", format!("the sweep has {total} runs (settings x seeds.count), more than 2^53")));
        }
        let runs = total as u64;

        let range_ = match o.get("runs") {
            None => (0, runs),
            Some(v) => {
                let r = Obj::new(v, "runs", "a range of run indices", &["start", "end"])?;
                let start = count("runs.start", r.number("start")?.unwrap_or(0.0))?;
                let end = count("runs.end", r.number("end")?.unwrap_or(runs as f64))?;
                if start > end || end > runs {
                    return Err(Error::range("runs", format!("expected 0 <= start <= end <= {runs} (the sweep's runs), got start = {start}, end = {end}")));
                }
                (start, end)
            }
        };
        let threads = match o.number("threads")? {
            None => 0,
            Some(t) => {
                let t = crate::spec::size0("threads", t)? as u64;
                if t > MAX_THREADS {
                    return Err(Error::range(
                        "threads",
                        format!("expected at most {MAX_THREADS} threads (0: every core), got {t}"),
                    ));
                }
                t
            }
        };

        let validated = o.string("validated")?.map(str::to_string);
        let settings_records = match o.string("records")? {
            None | Some("rows") => false,
            Some("settings") => true,
            Some(r) => {
                return Err(Error::spec(
                    "records",
                    format!("expected \"rows\" or \"settings\", got {r:?}"),
                ))
            }
        };
        let mut identity = spec.clone();
        if let Value::Object(m) = &mut identity {
            for k in ["kind", "runs", "threads", "validated", "records"] {
                m.remove(k);
            }
        }
        let hash = hash(&identity, &run_buffers);
        Ok(SweepSpec {
            base: base.clone(),
            buffers: run_buffers,
            axes,
            seeds,
            keep: keeps,
            classes,
            quantiles,
            confidence,
            settings: settings as u64,
            per_setting,
            runs,
            range: range_,
            threads,
            validated,
            settings_records,
            hash,
            templates: TemplateCache::default(),
        })
    }

    /// The index of each axis's value in setting `s` (first axis most significant).
    pub fn indices(&self, mut s: u64) -> Vec<usize> {
        let mut out = vec![0; self.axes.len()];
        for (k, a) in self.axes.iter().enumerate().rev() {
            out[k] = (s % a.len) as usize;
            s /= a.len;
        }
        out
    }

    /// The axis values of setting `s`, by path.
    pub fn values(&self, s: u64) -> Map<String, Value> {
        let mut out = Map::new();
        for (a, i) in self.axes.iter().zip(self.indices(s)) {
            for m in &a.members {
                out.insert(m.path.clone(), m.values[i].clone());
            }
        }
        out
    }

    /// The seeds of run `run`, by path (empty without `seeds`).
    pub fn seeds_of(&self, run: u64) -> Vec<(String, u64)> {
        self.seeds.as_ref().map_or(Vec::new(), |s| {
            s.paths
                .iter()
                .enumerate()
                .map(|(j, (p, _))| (p.clone(), derive_seed(s.base, j as u64, run)))
                .collect()
        })
    }

    /// The template of setting `setting`'s spec hashes: its run spec with a marker at each seed
    /// path that is set, serialized and cut at the markers. `None` when the setting cannot be
    /// built or the text is not as expected (then [`SweepSpec::run_hash`] hashes the spec).
    fn hash_template(&self, setting: u64) -> Option<HashTemplate> {
        let seeds = self.seeds.as_ref()?;
        let spec = self.spec_with(setting, seed_marker).ok()?;
        let text = spec.to_string();
        let markers: Vec<String> = (0..seeds.paths.len())
            .map(|j| seed_marker(j).to_string())
            .collect();
        let (mut pieces, mut slots) = (Vec::new(), Vec::new());
        let mut rest = text.as_str();
        loop {
            let next = markers
                .iter()
                .enumerate()
                .filter_map(|(j, m)| rest.find(m.as_str()).map(|at| (at, j)))
                .min();
            match next {
                None => break,
                Some((at, j)) => {
                    if slots.contains(&j) {
                        return None;
                    }
                    pieces.push(rest[..at].to_string());
                    slots.push(j);
                    rest = &rest[at + markers[j].len()..];
                }
            }
        }
        pieces.push(rest.to_string());
        let t = HashTemplate { pieces, slots };
        // Checked once on the setting's first run against the spec's own text (a marker's text
        // inside a user's string would cut the text at the wrong place): any difference, and
        // the setting's hashes are computed from its specs.
        let first = setting * self.per_setting;
        let spec = self.run_spec(first).ok()?;
        (self.hash_with(&t, first) == hash(&spec, &self.buffers)).then_some(t)
    }

    fn hash_with(&self, t: &HashTemplate, run: u64) -> String {
        let base = self.seeds.as_ref().map_or(0, |s| s.base);
        let mut h = Fnv::new();
        for (piece, &j) in t.pieces.iter().zip(&t.slots) {
            h.bytes(piece.as_bytes());
            // A JSON integer: the digits serde_json writes for `Value::from(seed)`.
            h.bytes(derive_seed(base, j as u64, run).to_string().as_bytes());
        }
        h.bytes(t.pieces[t.slots.len()].as_bytes());
        hash_buffers(&mut h, &self.buffers);
        h.hex()
    }

    /// The hash of run `run`'s spec `spec` (`spec` is `run_spec(run)`): the same as
    /// [`hash`]`(spec, buffers)`, from the setting's template when it has one.
    pub fn run_hash(&self, run: u64, spec: &Value) -> String {
        match &self.setting_template(run / self.per_setting).hash {
            Some(t) => self.hash_with(t, run),
            None => hash(spec, &self.buffers),
        }
    }

    /// The hash of run `run`'s spec from its setting's template, if it has one.
    pub fn template_hash(&self, t: &SettingTemplate, run: u64) -> Option<String> {
        t.hash.as_ref().map(|h| self.hash_with(h, run))
    }

    /// What the runs of setting `setting` share (made on first use, kept for the last few
    /// settings).
    pub fn setting_template(&self, setting: u64) -> std::sync::Arc<SettingTemplate> {
        let mut cache = self.templates.0.lock().unwrap_or_else(|e| e.into_inner());
        match cache.iter().find(|(s, _)| *s == setting) {
            Some((_, t)) => t.clone(),
            None => {
                // Made under the lock: the other threads want the same setting.
                let t = std::sync::Arc::new(self.make_setting_template(setting));
                if cache.len() >= TEMPLATES_KEPT {
                    cache.remove(0);
                }
                cache.push((setting, t.clone()));
                t
            }
        }
    }

    fn make_setting_template(&self, setting: u64) -> SettingTemplate {
        let values = Value::Object(self.values(setting)).to_string();
        let hash = self.hash_template(setting);
        let (mut session, mut seed_slots) = (None, Vec::new());
        if let Some(seeds) = &self.seeds {
            let first = setting * self.per_setting;
            if let Ok(spec) = self.run_spec(first) {
                let mut paths = Vec::new();
                for (j, (p, segs)) in seeds.paths.iter().enumerate() {
                    if p.ends_with('?') && !has_path(&spec, segs) {
                        continue;
                    }
                    seed_slots.push(j);
                    paths.push(p.trim_end_matches('?'));
                }
                session = Session::template(spec, self.buffers.clone(), &paths);
            }
        }
        SettingTemplate {
            hash,
            session,
            seed_slots,
            values,
        }
    }

    /// The concrete run spec of run `run` (< `runs`).
    pub fn run_spec(&self, run: u64) -> Result<Value> {
        let setting = run / self.per_setting;
        self.spec_with(setting, |j| {
            let s = self.seeds.as_ref().expect("seed paths come from `seeds`");
            Value::from(derive_seed(s.base, j as u64, run))
        })
    }

    /// Setting `setting`'s run spec with `seed(j)` at the `j`-th seed path (where it is set).
    fn spec_with(&self, setting: u64, seed: impl Fn(usize) -> Value) -> Result<Value> {
        let mut spec = self.base.clone();
        for (a, i) in self.axes.iter().zip(self.indices(setting)) {
            for m in &a.members {
                set_path(&mut spec, &m.segs, m.values[i].clone(), &format!("{}.path", m.at), "base")?;
            }
        }
        if let Some(s) = &self.seeds {
            for (j, (p, segs)) in s.paths.iter().enumerate() {
                if p.ends_with('?') && !has_path(&spec, segs) {
                    continue;
                }
                set_path(&mut spec, segs, seed(j), &format!("seeds.paths[{j}]"), "base")?;
            }
        }
        Ok(spec)
    }
}
