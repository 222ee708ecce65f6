//! `sweep`: many runs of one base spec, over axes of spec paths and derived seeds, each reduced
//! to a row of kept values and a class; rows are streamed (`Study::take_records`), never kept.
//! Spec, row and reduction formats: docs/sweeps.md (and `spec.rs`).
//!
//! Units of work are runs. Natively a chunk of runs is spread over rayon (each run sequential
//! inside: the same bits as running it alone, see `par.rs`); on wasm they run one after another.
//! Rows come out in run order either way.

pub mod reduce;
pub mod spec;

use serde_json::{json, Map, Value};

use super::{Registration, StudyKind};
use crate::curvature::analyze::parse_query;
use crate::error::{Error, Result};
use crate::par::Parallelism;
use crate::session::{Session, Stop};
use crate::spec::field_in_message;
pub use spec::SweepSpec;
use spec::{KeepKind, Reduce, SettingTemplate};

pub const REGISTRATION: Registration = Registration {
    kind: "sweep",
    build,
};

fn build(spec: Value, buffers: super::Buffers) -> Result<Box<dyn StudyKind>> {
    let sweep = SweepSpec::parse(&spec, buffers)?;
    // A study of a sweep whose plan was given (its hash, from `sweepPlan`) skips building the
    // settings again (a worker pool creates one study per block); a hash of another sweep
    // (another spec or buffers) is an error.
    match &sweep.validated {
        None => validate(&sweep)?,
        Some(h) if *h == sweep.hash => {}
        Some(h) => {
            return Err(Error::spec(
                "validated",
                format!("{h:?} is not this sweep's hash ({}): give the hash sweepPlan returned for this spec and these buffers", sweep.hash),
            ))
        }
    }
    let (start, end) = sweep.range;
    Ok(Box::new(SweepStudy {
        pool: pool(sweep.threads)?,
        reduction: SettingReduction::new(&sweep),
        sweep,
        start,
        next: start,
        end,
        pending: Vec::new(),
    }))
}

#[cfg(feature = "parallel")]
type Pool = Option<rayon::ThreadPool>;
#[cfg(not(feature = "parallel"))]
type Pool = Option<()>;

/// A rayon pool of `threads` threads (0: rayon's global pool, every core). On wasm no pool of
/// its own (threads cannot be spawned from Rust there): the global pool the binding built, if
/// any ([`crate::par::rayon_ready`]), as `threads` is ignored by the single-threaded module.
fn pool(threads: u64) -> Result<Pool> {
    #[cfg(feature = "parallel")]
    {
        if threads == 0 || cfg!(target_family = "wasm") {
            return Ok(None);
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .build()
            .map(Some)
            .map_err(|e| Error::request("threads", format!("cannot start {threads} threads: {e}")))
    }
    #[cfg(not(feature = "parallel"))]
    {
        let _ = threads;
        Ok(None)
    }
}

struct SweepStudy {
    sweep: SweepSpec,
    #[cfg_attr(not(feature = "parallel"), allow(dead_code))]
    pool: Pool,
    start: u64,
    next: u64,
    end: u64,
    pending: Vec<String>,
    /// `records: "settings"`: the rows of the current setting being reduced.
    reduction: SettingReduction,
}

impl SweepStudy {
    /// `records: "settings"`: runs `first..first + n` reduced into their settings, a record per
    /// setting once its last run of the study's range is in.
    fn advance_settings(&mut self, first: u64, n: usize) {
        let sweep = &self.sweep;
        let one = |i: usize| run_outcome(sweep, first + i as u64, false).1;
        #[cfg(feature = "parallel")]
        let rows: Vec<RowSummary> = match &self.pool {
            Some(p) => p.install(|| Parallelism::Rayon.map(n, one)),
            None => Parallelism::Rayon.map(n, one),
        };
        #[cfg(not(feature = "parallel"))]
        let rows: Vec<RowSummary> = Parallelism::Sequential.map(n, one);
        for r in rows {
            if self.reduction.setting().is_some_and(|x| x != r.setting) {
                self.flush_setting();
            }
            self.reduction
                .push(r.setting, r.kept.into_iter(), r.class, r.stop);
        }
        if first + n as u64 == self.end {
            self.flush_setting();
        }
    }

    fn flush_setting(&mut self) {
        let done = std::mem::replace(&mut self.reduction, SettingReduction::new(&self.sweep));
        if let Some(v) = done.finish(&self.sweep) {
            self.pending.push(v.to_string());
        }
    }
}

impl StudyKind for SweepStudy {
    fn total(&self) -> u64 {
        self.end - self.start
    }
    fn done(&self) -> u64 {
        self.next - self.start
    }
    fn finished(&self) -> bool {
        self.next == self.end
    }
    fn advance(&mut self, max_units: u64) -> Result<()> {
        let n = max_units.min(self.end - self.next) as usize;
        if n == 0 {
            return Ok(());
        }
        let first = self.next;
        if self.sweep.settings_records {
            self.advance_settings(first, n);
            self.next += n as u64;
            return Ok(());
        }
        let sweep = &self.sweep;
        let one = |i: usize| run_row_text(sweep, first + i as u64).0;
        #[cfg(feature = "parallel")]
        let rows: Vec<String> = match &self.pool {
            Some(p) => p.install(|| Parallelism::Rayon.map(n, one)),
            None => Parallelism::Rayon.map(n, one),
        };
        #[cfg(not(feature = "parallel"))]
        let rows: Vec<String> = Parallelism::Sequential.map(n, one);
        self.pending.extend(rows);
        self.next += n as u64;
        Ok(())
    }
    fn column_names(&self) -> &[String] {
        &[]
    }
    fn column(&self, _index: usize) -> &[f64] {
        &[]
    }
    fn result(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("plan".into(), plan(&self.sweep));
        out.insert(
            "runs".into(),
            json!({"start": self.start, "end": self.end}),
        );
        if let Some(v) = self.reduction.finish(&self.sweep) {
            // `records: "settings"`: the reduction of the runs of a setting not yet complete
            // (a study stopped before its end).
            out.insert("partial".into(), v);
        }
        out
    }
    fn take_records(&mut self) -> Vec<String> {
        std::mem::take(&mut self.pending)
    }
}

/// The plan of a sweep: its size, axes, seed paths, kept values, classes and identity.
pub fn plan(s: &SweepSpec) -> Value {
    let axes: Vec<Value> = s
        .axes
        .iter()
        .map(|a| {
            json!({
                "paths": a.members.iter().map(|m| m.path.clone()).collect::<Vec<_>>(),
                "values": a.members.iter().map(|m| m.values.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut classes: Vec<&str> = s.classes.iter().map(|c| c.name.as_str()).collect();
    classes.push("other");
    json!({
        "runs": s.runs,
        "settings": s.settings,
        "seedsPerSetting": s.per_setting,
        "axes": axes,
        "seedPaths": s.seeds.as_ref().map_or(Vec::new(), |x| x.paths.iter().map(|(p, _)| p.clone()).collect()),
        "seedBase": s.seeds.as_ref().map_or(0, |x| x.base),
        "kept": s.keep.iter().map(|k| k.name.clone()).collect::<Vec<_>>(),
        "classes": classes,
        "quantiles": s.quantiles,
        "confidence": s.confidence,
        "hash": s.hash,
    })
}

/// The error of building a run of setting `setting`, named by its path in the sweep spec: an
/// axis value (`axes[1].values[2]`, `axes[0].range`), an axis path with a typo
/// (`axes[0].path`), or the base (`base.model.d1`, with the setting's values in the message).
fn setting_error(s: &SweepSpec, setting: u64, e: Error) -> Error {
    let inner = if e.field.is_empty() || e.field == "spec" {
        field_in_message(&e.message).unwrap_or_default()
    } else {
        e.field.clone()
    };
    let idx = s.indices(setting);
    for (a, &i) in s.axes.iter().zip(&idx) {
        for m in &a.members {
            let unknown_here = e.message.contains("unknown field `")
                && field_in_message(&e.message).is_some_and(|name| {
                    m.path == name
                        || m.path == inner
                        || m.path.strip_prefix(inner.as_str()) == Some(&format!(".{name}"))
                });
            if unknown_here {
                return Error::spec(
                    format!("{}.path", m.at),
                    format!("base.{}: {}", m.path, e.message),
                );
            }
            let rest = inner
                .strip_prefix(m.path.as_str())
                .filter(|r| r.is_empty() || r.starts_with('.') || r.starts_with('['));
            if let Some(rest) = rest {
                let value = &m.values[i];
                return if m.ranged {
                    Error::new(
                        e.code,
                        format!("{}.range", m.at),
                        format!("{} (value {i} of the range, {value}, as base.{inner})", e.message),
                    )
                } else {
                    Error::new(
                        e.code,
                        format!("{}.values[{i}]{rest}", m.at),
                        format!("{} (as base.{inner})", e.message),
                    )
                };
            }
        }
    }
    if let Some(seeds) = &s.seeds {
        if let Some(j) = seeds.paths.iter().position(|(p, _)| *p == inner) {
            return Error::new(e.code, format!("seeds.paths[{j}]"), e.message);
        }
    }
    let field = if inner.is_empty() {
        "base".to_string()
    } else {
        format!("base.{inner}")
    };
    let values = s.values(setting);
    if values.is_empty() {
        Error::new(e.code, field, e.message)
    } else {
        let v: Vec<String> = values.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        Error::new(
            e.code,
            field,
            format!("{} (in setting {setting}: {})", e.message, v.join(", ")),
        )
    }
}

/// The settings validation builds: the first setting, and for each axis each of its other values
/// with every other axis at its first value (sum, not product, of the axis lengths).
fn settings_to_check(s: &SweepSpec) -> Vec<u64> {
    let mut out = vec![0];
    let mut stride = 1u64;
    for a in s.axes.iter().rev() {
        out.extend((1..a.len).map(|j| j * stride));
        stride = stride.saturating_mul(a.len);
    }
    out.sort_unstable();
    out
}

/// Build the first setting, and each value of each axis once (in a setting with the other axes at
/// their first values), with its first seed, and check what the kept values name against its
/// columns: every error names its path in the sweep spec, before any run. A value that is valid
/// alone but not with another axis's value makes those runs' rows `stop: "error"`.
pub fn validate(s: &SweepSpec) -> Result<()> {
    for setting in settings_to_check(s) {
        let run = setting * s.per_setting;
        let spec = s.run_spec(run)?;
        let session = Session::from_value(spec, s.buffers.clone())
            .map_err(|e| setting_error(s, setting, e))?;
        let columns = session.column_names();
        let has = |c: &str| columns.iter().any(|x| x == c);
        let missing = |at: String, c: &str| {
            Error::spec(
                at,
                format!(
                    "the runs have no column {c:?}{} (columns: {})",
                    if s.settings > 1 { format!(" in setting {setting}") } else { String::new() },
                    columns.join(", ")
                ),
            )
        };
        for k in &s.keep {
            match &k.kind {
                KeepKind::Column { column, .. } | KeepKind::FirstAt { column, .. } => {
                    if !has(column) {
                        return Err(missing(format!("{}.column", k.at), column));
                    }
                }
                KeepKind::FirstStepWhere(p) | KeepKind::AllRowsWhere(p) => {
                    let mut names = Vec::new();
                    p.names(&mut names);
                    if let Some((c, at)) = names.into_iter().find(|(c, _)| !has(c)) {
                        return Err(missing(at.to_string(), c));
                    }
                }
                KeepKind::Curvature { query, .. } => {
                    let m = session.model();
                    let blocks: Vec<String> = m.blocks().iter().map(|b| b.name.clone()).collect();
                    parse_query(query, m.dim(), &blocks, m.family_queries()).map_err(|e| {
                        let rest = e.field.strip_prefix("query").unwrap_or("");
                        Error::new(e.code, format!("{}.curvature.query{rest}", k.at), e.message)
                    })?;
                }
            }
        }
        drop(session);
    }
    Ok(())
}

/// The task of run `run`: its place in the sweep, seeds, axis values, hash and concrete spec.
pub fn task(s: &SweepSpec, run: u64) -> Result<Value> {
    if run >= s.runs {
        return Err(Error::range(
            "run",
            format!("expected a run index below {} (the sweep's runs), got {run}", s.runs),
        ));
    }
    let spec = s.run_spec(run)?;
    let setting = run / s.per_setting;
    Ok(json!({
        "run": run,
        "setting": setting,
        "seedIndex": run % s.per_setting,
        "values": s.values(setting),
        "seeds": seeds_json(s, run),
        "specHash": spec::hash(&spec, &s.buffers),
        "spec": spec,
    }))
}

fn seeds_json(s: &SweepSpec, run: u64) -> Map<String, Value> {
    s.seeds_of(run)
        .into_iter()
        .map(|(p, x)| (p, Value::from(x)))
        .collect()
}

fn stop_name(stop: Option<Stop>) -> &'static str {
    match stop {
        Some(Stop::Diverged) => "diverged",
        Some(Stop::SolverFailed) => "solverFailed",
        _ => "finished",
    }
}

/// A number as JSON (NaN and infinities as null).
fn number(x: f64) -> Value {
    if x.is_finite() {
        Value::from(x)
    } else {
        Value::Null
    }
}

/// Run `run` to its end and reduce it to its row (never an error: a run that cannot be built is
/// a row with `stop: "error"`). The row as a JSON value: [`run_row_text`] parsed.
pub fn run_row(s: &SweepSpec, run: u64) -> Value {
    serde_json::from_str(&run_row_text(s, run).0).expect("a row is JSON")
}

/// What the reduction needs of a run's row ([`reduce_rows`] reads the same from its text).
#[derive(Debug, Clone)]
pub struct RowSummary {
    pub setting: u64,
    pub stop: &'static str,
    /// Index into the sweep's classes (`classes.len()`: `other`).
    pub class: usize,
    /// The kept values in `keep` order (NaN: null).
    pub kept: Vec<f64>,
}

/// JSON text of a number (NaN and infinities as null), as serde_json writes a `Value`.
fn push_number(out: &mut Vec<u8>, x: f64) {
    serde_json::to_writer(&mut *out, &x).expect("writing to memory");
}

fn push_str(out: &mut Vec<u8>, x: &str) {
    serde_json::to_writer(&mut *out, x).expect("writing to memory");
}

fn push_u64(out: &mut Vec<u8>, x: u64) {
    out.extend_from_slice(x.to_string().as_bytes());
}

/// The session of run `run` and its spec hash (`None` when its spec cannot be made), built from
/// the setting's templates when it has them, else from the run's spec: the same session, hash
/// and error either way (a template that fails builds the run from its spec for the error).
fn build_run(
    s: &SweepSpec,
    t: &SettingTemplate,
    run: u64,
    want_hash: bool,
) -> (Option<String>, Result<Session>) {
    let fast_hash = if want_hash { s.template_hash(t, run) } else { Some(String::new()) };
    if let (Some(hash), Some(st), Some(seeds)) = (fast_hash, &t.session, &s.seeds) {
        let values: Vec<u64> = t
            .seed_slots
            .iter()
            .map(|&j| spec::derive_seed(seeds.base, j as u64, run))
            .collect();
        if let Ok(session) = Session::from_template(st, &values) {
            return (Some(hash), Ok(session));
        }
    }
    match s.run_spec(run) {
        Err(e) => (None, Err(e)),
        Ok(spec) => {
            let hash = if want_hash { s.run_hash(run, &spec) } else { String::new() };
            (Some(hash), Session::from_value(spec, s.buffers.clone()))
        }
    }
}

/// Run `run` to its end: its row as JSON text (one line, keys in order, as serde_json writes the
/// row's object) and what the reduction needs of it.
pub fn run_row_text(s: &SweepSpec, run: u64) -> (String, RowSummary) {
    let (text, summary) = run_outcome(s, run, true);
    (text.expect("asked for"), summary)
}

/// Run `run` to its end and give only what the reduction needs of its row (a study with
/// `records: "settings"`: no spec hash, no text).
pub fn run_summary(s: &SweepSpec, run: u64) -> RowSummary {
    run_outcome(s, run, false).1
}

/// Run `run` to its end: its row's text when `text`, and what the reduction needs of it.
fn run_outcome(s: &SweepSpec, run: u64, text: bool) -> (Option<String>, RowSummary) {
    let setting = run / s.per_setting;
    let t = s.setting_template(setting);
    let (hash, built) = build_run(s, &t, run, text);
    let mut kept: Vec<f64> = vec![f64::NAN; s.keep.len()];
    let mut error: Option<String> = None;
    let (stop, step, loss, reason) = match built {
        Err(e) => {
            error = Some(serde_json::to_value(&e).unwrap_or(Value::Null).to_string());
            ("error", 0u64, f64::NAN, None)
        }
        Ok(mut session) => {
            session.set_parallelism(Parallelism::Sequential);
            let status = session.advance(u64::MAX);
            for (k, slot) in s.keep.iter().zip(kept.iter_mut()) {
                *slot = keep_value(&mut session, &k.kind);
            }
            (
                stop_name(status.stop),
                status.step,
                status.loss.unwrap_or(f64::NAN),
                status.reason,
            )
        }
    };
    let value = |name: &str| -> f64 {
        match name {
            "steps" => step as f64,
            "loss" => loss,
            _ => s
                .keep
                .iter()
                .position(|k| k.name == name)
                .map_or(f64::NAN, |i| kept[i]),
        }
    };
    let class = s
        .classes
        .iter()
        .position(|c| c.when.eval(&value, stop))
        .unwrap_or(s.classes.len());
    let summary = RowSummary {
        setting,
        stop,
        class,
        kept,
    };
    if !text {
        return (None, summary);
    }
    let kept = &summary.kept;
    let class_name = s.classes.get(class).map_or("other", |c| c.name.as_str());

    // The row's object, keys in sorted order (serde_json's maps are sorted): class, error, kept,
    // loss, reason, run, seedIndex, seeds, setting, specHash, steps, stop, values.
    let mut out: Vec<u8> = Vec::with_capacity(320);
    out.extend_from_slice(b"{\"class\":");
    push_str(&mut out, class_name);
    if let Some(e) = &error {
        out.extend_from_slice(b",\"error\":");
        out.extend_from_slice(e.as_bytes());
    }
    out.extend_from_slice(b",\"kept\":{");
    let mut order: Vec<usize> = (0..s.keep.len()).collect();
    order.sort_by(|&a, &b| s.keep[a].name.cmp(&s.keep[b].name));
    for (n, &i) in order.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        push_str(&mut out, &s.keep[i].name);
        out.push(b':');
        push_number(&mut out, kept[i]);
    }
    out.extend_from_slice(b"},\"loss\":");
    push_number(&mut out, loss);
    out.extend_from_slice(b",\"reason\":");
    match &reason {
        Some(r) => push_str(&mut out, r),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"run\":");
    push_u64(&mut out, run);
    out.extend_from_slice(b",\"seedIndex\":");
    push_u64(&mut out, run % s.per_setting);
    out.extend_from_slice(b",\"seeds\":{");
    let mut seeds = s.seeds_of(run);
    seeds.sort_by(|a, b| a.0.cmp(&b.0));
    for (n, (p, x)) in seeds.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        push_str(&mut out, p);
        out.push(b':');
        push_u64(&mut out, *x);
    }
    out.extend_from_slice(b"},\"setting\":");
    push_u64(&mut out, setting);
    if let Some(h) = &hash {
        out.extend_from_slice(b",\"specHash\":");
        push_str(&mut out, h);
    }
    out.extend_from_slice(b",\"steps\":");
    push_u64(&mut out, step);
    out.extend_from_slice(b",\"stop\":");
    push_str(&mut out, stop);
    out.extend_from_slice(b",\"values\":");
    out.extend_from_slice(t.values.as_bytes());
    out.push(b'}');
    (
        Some(String::from_utf8(out).expect("JSON text is UTF-8")),
        summary,
    )
}

/// One kept value of a finished run (NaN: never reached, or nothing to reduce).
fn keep_value(session: &mut Session, kind: &KeepKind) -> f64 {
    let col = |name: &str| -> Vec<f64> {
        session
            .column(name, 0)
            .map(|c| c.to_vec())
            .unwrap_or_default()
    };
    match kind {
        KeepKind::Column { column, reduce } => {
            let c = col(column);
            let mut finite = c.iter().copied().filter(|x| x.is_finite());
            match reduce {
                Reduce::Last => finite.next_back().unwrap_or(f64::NAN),
                Reduce::First => finite.next().unwrap_or(f64::NAN),
                Reduce::Min => finite.fold(f64::NAN, f64::min),
                Reduce::Max => finite.fold(f64::NAN, f64::max),
                Reduce::Mean => {
                    let (sum, n) = finite.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
                    if n == 0 {
                        f64::NAN
                    } else {
                        sum / n as f64
                    }
                }
            }
        }
        KeepKind::FirstAt { column, op, x } => {
            let (c, steps) = (col(column), col("step"));
            c.iter()
                .position(|&v| op.holds(v, *x))
                .map_or(f64::NAN, |i| steps[i])
        }
        KeepKind::FirstStepWhere(p) | KeepKind::AllRowsWhere(p) => {
            let names = session.column_names().to_vec();
            let cols: Vec<Vec<f64>> = names.iter().map(|n| col(n)).collect();
            let rows = cols.first().map_or(0, Vec::len);
            let steps = col("step");
            // Names resolved to column indices once, then each row's values looked up.
            let value_at = |i: usize, name: &str| -> f64 {
                names
                    .iter()
                    .position(|n| n == name)
                    .map_or(f64::NAN, |j| cols[j][i])
            };
            let holds = |i: usize| p.eval(&|name: &str| value_at(i, name), "");
            if let KeepKind::FirstStepWhere(_) = kind {
                (0..rows).find(|&i| holds(i)).map_or(f64::NAN, |i| steps[i])
            } else if (0..rows).all(holds) {
                1.0
            } else {
                0.0
            }
        }
        KeepKind::Curvature { query, pointer } => match session.hessian(query) {
            Ok(text) => serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|r| r.pointer(pointer).and_then(Value::as_f64))
                .unwrap_or(f64::NAN),
            Err(_) => f64::NAN,
        },
    }
}

/// The rows of one setting being reduced: what [`reduce_rows`] reads of each row.
#[derive(Debug, Default)]
pub struct SettingReduction {
    setting: Option<u64>,
    kept: Vec<Vec<f64>>,
    classes: Vec<u64>,
    stops: std::collections::BTreeMap<String, u64>,
    n: u64,
}

impl SettingReduction {
    fn new(s: &SweepSpec) -> SettingReduction {
        SettingReduction {
            setting: None,
            kept: vec![Vec::new(); s.keep.len()],
            classes: vec![0; s.classes.len() + 1],
            stops: Default::default(),
            n: 0,
        }
    }

    /// The setting of the rows held, if any.
    pub fn setting(&self) -> Option<u64> {
        self.setting
    }

    /// Add a row: its kept values in `keep` order (a non-finite value counts as missing, as the
    /// `null` of its text), class index (`classes.len()`: other) and stop.
    fn push(&mut self, setting: u64, kept: impl Iterator<Item = f64>, class: usize, stop: &str) {
        self.setting = Some(setting);
        self.n += 1;
        for (values, x) in self.kept.iter_mut().zip(kept) {
            values.push(if x.is_finite() { x } else { f64::NAN });
        }
        self.classes[class] += 1;
        *self.stops.entry(stop.to_string()).or_insert(0) += 1;
    }

    /// The reduction (`None` without rows).
    fn finish(&self, s: &SweepSpec) -> Option<Value> {
        let setting = self.setting?;
        let mut kept_json = Map::new();
        for (keep, values) in s.keep.iter().zip(&self.kept) {
            let st = reduce::stats(values, &s.quantiles);
            kept_json.insert(
                keep.name.clone(),
                json!({
                    "count": st.count,
                    "missing": st.missing,
                    "mean": number(st.mean),
                    "std": number(st.std),
                    "min": number(st.min),
                    "max": number(st.max),
                    "quantiles": st.quantiles.iter().map(|&(q, x)| json!([q, number(x)])).collect::<Vec<_>>(),
                }),
            );
        }
        let mut class_json = Map::new();
        let names = s.classes.iter().map(|c| c.name.as_str()).chain(["other"]);
        for (name, &k) in names.zip(&self.classes) {
            let (p, lo, hi) = reduce::wilson(k, self.n, s.confidence);
            class_json.insert(
                name.to_string(),
                json!({"count": k, "p": number(p), "lo": number(lo), "hi": number(hi)}),
            );
        }
        let stops: Map<String, Value> = self
            .stops
            .iter()
            .map(|(k, &c)| (k.clone(), Value::from(c)))
            .collect();
        Some(json!({
            "setting": setting,
            "values": s.values(setting),
            "runs": self.n,
            "stops": stops,
            "kept": kept_json,
            "classes": class_json,
        }))
    }
}

/// Reduce the rows of one setting (JSON Lines, every row of the same `setting`): statistics of
/// each kept value, counts of each stop, the probability of each class with its Wilson interval.
pub fn reduce_rows(s: &SweepSpec, rows_jsonl: &str) -> Result<Value> {
    let mut acc = SettingReduction::new(s);
    for (i, line) in rows_jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("rows[{i}]");
        let row: Value = serde_json::from_str(line)
            .map_err(|e| Error::request(&at, format!("invalid JSON: {e}")))?;
        let st = row
            .get("setting")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::request(format!("{at}.setting"), "missing or not a count"))?;
        if st >= s.settings {
            return Err(Error::request(format!("{at}.setting"), format!("setting {st} is not in this sweep ({} settings)", s.settings)));
        }
        match acc.setting {
            Some(x) if x != st => {
                return Err(Error::request(
                    format!("{at}.setting"),
                    format!("rows of one setting only: setting {st} after setting {x}"),
                ))
            }
            _ => {}
        }
        let k = row.get("kept").and_then(Value::as_object);
        let kept = s.keep.iter().map(|keep| {
            k.and_then(|m| m.get(&keep.name))
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN)
        });
        let class = row.get("class").and_then(Value::as_str).unwrap_or("");
        let ci = s
            .classes
            .iter()
            .position(|c| c.name == class)
            .unwrap_or(s.classes.len());
        if ci == s.classes.len() && class != "other" {
            return Err(Error::request(format!("{at}.class"), format!("no class {class:?} in this sweep")));
        }
        let stop = row.get("stop").and_then(Value::as_str).unwrap_or("unknown");
        acc.push(st, kept, ci, stop);
    }
    acc.finish(s)
        .ok_or_else(|| Error::request("rows", "no rows to reduce"))
}

fn parse_spec_text(spec_json: &str) -> Result<Value> {
    crate::spec::parse_text(spec_json, "spec")
}

/// `sweepPlan(spec, buffers)`: validate the whole sweep (every setting built once) and give its
/// plan as JSON.
pub fn plan_json(spec_json: &str, buffers: super::Buffers) -> Result<String> {
    let s = SweepSpec::parse(&parse_spec_text(spec_json)?, buffers)?;
    validate(&s)?;
    Ok(plan(&s).to_string())
}

/// `sweepTask(spec, buffers, run)`: the task of one run as JSON (the spec is checked, the
/// settings are not built).
pub fn task_json(spec_json: &str, buffers: super::Buffers, run: u64) -> Result<String> {
    let s = SweepSpec::parse(&parse_spec_text(spec_json)?, buffers)?;
    Ok(task(&s, run)?.to_string())
}

/// `sweepReduce(spec, rows)`: reduce one setting's rows (JSON Lines) to JSON. Only the spec's
/// structure is checked (no buffers needed, no setting built).
pub fn reduce_json(spec_json: &str, rows_jsonl: &str) -> Result<String> {
    let v = parse_spec_text(spec_json)?;
    let s = SweepSpec::parse(&v, super::Buffers::new())?;
    Ok(reduce_rows(&s, rows_jsonl)?.to_string())
}
