//! autobalance-node: the N-API binding of `autobalance-core` (napi-rs v3). Thin glue only:
//! convert JS values, call the core, map errors. The surface is the one in
//! docs/ARCHITECTURE.md ("The binding surface"), identical to crates/wasm except for
//! `advanceAsync` (sessions and studies) and `hessianAsync`, which run on the libuv thread pool.
//!
//! Errors: every core error becomes a JS `Error` whose message is `err.to_js_message()`
//! (`AUTOBALANCE_ERROR:{"code":..,"field":..,"message":..}`). Every entry point runs inside
//! `catch_unwind`; a panic becomes the same kind of error with code `internal`, and a session whose
//! state was being changed by the panicking call refuses further use (its mutex is poisoned).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use autobalance_core::curvature::{session_query, session_query_advance, QueryJob};
use autobalance_core::error::JS_ERROR_PREFIX;
use autobalance_core::study::{Study, StudyStatus};
use autobalance_core::{Error as CoreError, Session, Status};
use napi::bindgen_prelude::{
    AsyncTask, Float64Array, FromNapiValue, Object, TypeName, Unknown, ValidateNapiValue,
};
use napi::{sys, Env, JsValue, Task, ValueType};
use napi_derive::napi;

type Result<T> = napi::Result<T>;

/// The addon's allocator for its own (Rust) allocations: mimalloc, faster than the system's for
/// the many small allocations of a sweep's runs (docs/performance.md, "Table 5.1").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A core error as the JS error the TS layer parses.
fn js_error(err: CoreError) -> napi::Error {
    napi::Error::from_reason(err.to_js_message())
}

/// An error that is a bug in autobalance (a panic, a poisoned session), in the same format.
fn internal(message: &str) -> napi::Error {
    let message = serde_json::to_string(message).unwrap_or_else(|_| "\"internal error\"".into());
    napi::Error::from_reason(format!(
        r#"{JS_ERROR_PREFIX}{{"code":"internal","field":"","message":{message}}}"#
    ))
}

/// The machine's memory in bytes: physical memory, or the cgroup's limit when lower (a
/// container); `None` when unknown.
fn machine_memory() -> Option<u64> {
    #[cfg(unix)]
    let physical = {
        // SAFETY: sysconf has no preconditions.
        let (pages, size) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        (pages > 0 && size > 0).then(|| pages as u64 * size as u64)
    };
    #[cfg(not(unix))]
    let physical: Option<u64> = None;
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok());
    match (physical, cgroup) {
        (Some(p), Some(c)) => Some(p.min(c)),
        (p, c) => p.or(c),
    }
}

/// The memory limit of this process, set once before the first run or study: the environment
/// variable `AUTOBALANCE_MAX_BYTES` (a number of bytes) when set, else half of the machine's
/// memory ([`machine_memory`]), else the core's default. A run that would need more is refused
/// (`too_large`) before anything is allocated.
fn set_memory_limit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let from_env = std::env::var("AUTOBALANCE_MAX_BYTES")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 1.0)
            .map(|v| v as u64);
        if let Some(limit) = from_env.or_else(|| machine_memory().map(|m| m / 2)) {
            autobalance_core::build::set_max_bytes(limit);
        }
    });
}

/// The memory limit in force, in bytes (see `set_memory_limit`).
#[napi(catch_unwind)]
pub fn memory_limit() -> f64 {
    set_memory_limit();
    autobalance_core::build::max_bytes() as f64
}

/// Run `f`, turning a panic into an `internal` error so that no panic reaches JS.
fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    set_memory_limit();
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(internal(&format!(
            "internal error (a bug in autobalance): {what}"
        )))
    })
}

/// A count argument (`maxSteps`, `start`), validated by the core.
fn count(field: &str, x: f64) -> Result<u64> {
    autobalance_core::args::count_arg(field, x).map_err(js_error)
}

fn status_json(status: &Status) -> Result<String> {
    serde_json::to_string(status).map_err(|e| internal(&format!("status serialization: {e}")))
}

/// The bulk data of a run: `Record<string, Float64Array>` (or `undefined`/`null` for none),
/// copied into the core's `Vec<f64>`s. A value that is not a `Float64Array` is an
/// `invalid_request` error naming the buffer, with the same text as the wasm binding.
pub struct Buffers(HashMap<String, Vec<f64>>);

impl TypeName for Buffers {
    fn type_name() -> &'static str {
        "Record<string, Float64Array>"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for Buffers {}

impl FromNapiValue for Buffers {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        let unknown = unsafe { Unknown::from_napi_value(env, value)? };
        match unknown.get_type()? {
            ValueType::Undefined | ValueType::Null => return Ok(Buffers(HashMap::new())),
            ValueType::Object => {}
            _ => {
                return Err(js_error(CoreError::request(
                    "buffers",
                    "expected an object mapping spec paths to Float64Array",
                )))
            }
        }
        let obj = unsafe { Object::from_napi_value(env, value)? };
        let mut out = HashMap::new();
        for key in Object::keys(&obj)? {
            let not_f64 = || {
                js_error(CoreError::request(
                    key.clone(),
                    "expected a Float64Array (row-major data)",
                ))
            };
            let Some(item) = obj.get::<Unknown>(&key)? else {
                continue; // `undefined` values are skipped, as absent keys
            };
            if !item.is_typedarray()? {
                return Err(not_f64());
            }
            let array =
                unsafe { Float64Array::from_napi_value(env, item.raw()) }.map_err(|_| not_f64())?;
            out.insert(key, array.to_vec());
        }
        Ok(Buffers(out))
    }
}

/// A run of the core. JS name `NativeSession`.
#[napi]
pub struct NativeSession {
    inner: Arc<Mutex<Session>>,
    /// The curvature query advanced in chunks (`hessianStart` .. `hessianReport`).
    query: Arc<Mutex<Option<QueryJob>>>,
}

impl NativeSession {
    /// The session, for a synchronous call on the JS thread. Never blocks the event loop: while
    /// an `advanceAsync` chunk holds the session, other calls fail with `invalid_request`.
    fn lock(&self) -> Result<MutexGuard<'_, Session>> {
        try_lock(&self.inner, "session")
    }
}

/// `target` for a synchronous call on the JS thread, without blocking: `invalid_request` on
/// `what` while an async job holds it, `internal` once a panic poisoned it.
fn try_lock<'a, T>(target: &'a Mutex<T>, what: &str) -> Result<MutexGuard<'a, T>> {
    match target.try_lock() {
        Ok(s) => Ok(s),
        Err(TryLockError::WouldBlock) => Err(js_error(CoreError::request(
            what,
            format!("busy: an advanceAsync call on this {what} has not settled; await it first"),
        ))),
        Err(TryLockError::Poisoned(_)) => Err(poisoned(what)),
    }
}

fn poisoned(what: &str) -> napi::Error {
    internal(&format!(
        "this {what} is unusable after an earlier internal error"
    ))
}

/// The work of a [`PoolJob`] on its locked target.
type Job<T> = Box<dyn FnMut(&mut T) -> Result<String> + Send>;

/// One job on the libuv thread pool: `job` runs on the locked `target` (a session or a study)
/// and its JSON string is the promise's value; every error and panic is a rejection.
pub struct PoolJob<T: Send + 'static> {
    target: Arc<Mutex<T>>,
    what: &'static str,
    job: Job<T>,
}

impl<T: Send + 'static> PoolJob<T> {
    fn new(
        target: &Arc<Mutex<T>>,
        what: &'static str,
        job: impl FnMut(&mut T) -> Result<String> + Send + 'static,
    ) -> AsyncTask<Self> {
        AsyncTask::new(PoolJob {
            target: Arc::clone(target),
            what,
            job: Box::new(job),
        })
    }
}

impl<T: Send + 'static> Task for PoolJob<T> {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> Result<String> {
        guard(|| {
            let mut t = self.target.lock().map_err(|_| poisoned(self.what))?;
            (self.job)(&mut t)
        })
    }

    fn resolve(&mut self, _env: Env, output: String) -> Result<String> {
        Ok(output)
    }
}

#[napi]
impl NativeSession {
    /// Validate `spec` (JSON) and `buffers` and set up the run. Throws on invalid input.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        spec: String,
        #[napi(ts_arg_type = "Record<string, Float64Array>")] buffers: Buffers,
    ) -> Result<Self> {
        guard(|| {
            let session = Session::new(&spec, buffers.0).map_err(js_error)?;
            Ok(NativeSession {
                inner: Arc::new(Mutex::new(session)),
                query: Arc::new(Mutex::new(None)),
            })
        })
    }

    /// Take up to `maxSteps` steps on the JS thread; returns the `Status` JSON.
    #[napi(catch_unwind)]
    pub fn advance(&self, max_steps: f64) -> Result<String> {
        guard(|| {
            let max_steps = count("maxSteps", max_steps)?;
            let status = self.lock()?.advance(max_steps);
            status_json(&status)
        })
    }

    /// Take up to `maxSteps` steps on the libuv thread pool; resolves to the `Status` JSON.
    /// Every error (including an invalid `maxSteps`) is a rejection, never a synchronous throw.
    #[napi(catch_unwind, ts_return_type = "Promise<string>")]
    pub fn advance_async(&self, max_steps: f64) -> AsyncTask<PoolJob<Session>> {
        PoolJob::new(&self.inner, "session", move |s| {
            let max_steps = count("maxSteps", max_steps)?;
            status_json(&s.advance(max_steps))
        })
    }

    /// The `Status` JSON of the run.
    #[napi(catch_unwind)]
    pub fn status(&self) -> Result<String> {
        guard(|| status_json(&self.lock()?.status()))
    }

    /// Names of the recorded metric columns, in order.
    #[napi(catch_unwind)]
    pub fn column_names(&self) -> Result<Vec<String>> {
        guard(|| {
            let s = self.lock()?;
            Ok(s.column_names().iter().map(|c| c.to_string()).collect())
        })
    }

    /// The role of each recorded column, in the order of `columnNames` (`loss`, `norm`,
    /// `invariant`, `drift`, ...: see the core's `Role`).
    #[napi(catch_unwind)]
    pub fn column_roles(&self) -> Result<Vec<String>> {
        guard(|| {
            let s = self.lock()?;
            Ok(s.column_roles().iter().map(|c| c.to_string()).collect())
        })
    }

    /// Rows `start..` of a recorded column (a copy).
    #[napi(catch_unwind)]
    pub fn column(&self, name: String, start: f64) -> Result<Float64Array> {
        guard(|| {
            let start = usize::try_from(count("start", start)?).unwrap_or(usize::MAX);
            let s = self.lock()?;
            let col = s.column(&name, start).map_err(js_error)?;
            Ok(col.to_vec().into())
        })
    }

    /// A matrix of the run (`U`, `V`, `U0`, `V0`, `target`), row-major (a copy).
    #[napi(catch_unwind)]
    pub fn matrix(&self, name: String) -> Result<Float64Array> {
        guard(|| {
            let s = self.lock()?;
            let (_, _, data) = s.matrix(&name).map_err(js_error)?;
            Ok(data.to_vec().into())
        })
    }

    /// Names of the parameter blocks; `matrix(name + "_0")` is the initial value.
    #[napi(catch_unwind)]
    pub fn param_names(&self) -> Result<Vec<String>> {
        guard(|| Ok(self.lock()?.param_names()))
    }

    /// `[rows, cols]` of a matrix of the run.
    #[napi(catch_unwind)]
    pub fn matrix_shape(&self, name: String) -> Result<Vec<f64>> {
        guard(|| {
            let s = self.lock()?;
            let (rows, cols, _) = s.matrix(&name).map_err(js_error)?;
            Ok(vec![rows as f64, cols as f64])
        })
    }
}

#[napi]
impl NativeSession {
    /// A curvature query at the current point (JSON); returns the JSON report.
    #[napi(catch_unwind)]
    pub fn hessian(&self, query: String) -> Result<String> {
        guard(|| self.lock()?.hessian(&query).map_err(js_error))
    }

    /// The same on the libuv thread pool; every error is a rejection.
    #[napi(catch_unwind, ts_return_type = "Promise<string>")]
    pub fn hessian_async(&self, query: String) -> AsyncTask<PoolJob<Session>> {
        PoolJob::new(&self.inner, "session", move |s| {
            s.hessian(&query).map_err(js_error)
        })
    }

    /// Validate a curvature query at the current point and keep it, to be advanced in chunks
    /// (`hessianAdvance`); replaces an earlier one. Throws on an invalid query.
    #[napi(catch_unwind)]
    pub fn hessian_start(&self, query: String) -> Result<()> {
        guard(|| {
            let job = session_query(&mut *self.lock()?, &query).map_err(js_error)?;
            *try_lock(&self.query, "query")? = Some(job);
            Ok(())
        })
    }

    /// Up to `maxUnits` units of the started query (Lanczos steps, probes) on the JS thread;
    /// returns the `QueryStatus` JSON (`{"units","hvps","finished"}`).
    #[napi(catch_unwind)]
    pub fn hessian_advance(&self, max_units: f64) -> Result<String> {
        guard(|| {
            let units = count("maxUnits", max_units)?;
            let mut s = self.lock()?;
            let mut q = try_lock(&self.query, "query")?;
            query_advance(&mut s, &mut q, units)
        })
    }

    /// The same on the libuv thread pool; every error is a rejection.
    #[napi(catch_unwind, ts_return_type = "Promise<string>")]
    pub fn hessian_advance_async(&self, max_units: f64) -> AsyncTask<PoolJob<Session>> {
        let query = Arc::clone(&self.query);
        PoolJob::new(&self.inner, "session", move |s| {
            let units = count("maxUnits", max_units)?;
            let mut q = query.lock().map_err(|_| poisoned("query"))?;
            query_advance(s, &mut q, units)
        })
    }

    /// The JSON report of the started query once `hessianAdvance` said it finished.
    #[napi(catch_unwind)]
    pub fn hessian_report(&self) -> Result<String> {
        guard(|| {
            let q = try_lock(&self.query, "query")?;
            match q.as_ref().and_then(|j| j.report()) {
                Some(r) => Ok(r.to_string()),
                None => Err(js_error(CoreError::request(
                    "query",
                    "no finished query: call hessianStart, then hessianAdvance until finished",
                ))),
            }
        })
    }

    /// Drop the started query (its work so far is discarded).
    #[napi(catch_unwind)]
    pub fn hessian_cancel(&self) -> Result<()> {
        guard(|| {
            *try_lock(&self.query, "query")? = None;
            Ok(())
        })
    }
}

/// Advance the started query of a session; `invalid_request` when there is none.
fn query_advance(s: &mut Session, q: &mut Option<QueryJob>, units: u64) -> Result<String> {
    let Some(job) = q.as_mut() else {
        return Err(js_error(CoreError::request(
            "query",
            "no query started: call hessianStart first",
        )));
    };
    let st = session_query_advance(s, job, units).map_err(js_error)?;
    serde_json::to_string(&st).map_err(|e| internal(&format!("status serialization: {e}")))
}

/// Version of the core crate.
#[napi(catch_unwind)]
pub fn core_version() -> String {
    autobalance_core::VERSION.to_string()
}

/// JSON list of the paper presets.
#[napi(catch_unwind)]
pub fn preset_list() -> Result<String> {
    guard(|| Ok(autobalance_core::presets::list_json()))
}

/// JSON list of the registered model families with their example specs.
#[napi(catch_unwind)]
pub fn family_list() -> Result<String> {
    guard(|| Ok(autobalance_core::model::families_json()))
}

/// JSON spec of one preset.
#[napi(catch_unwind)]
pub fn preset_spec(name: String) -> Result<String> {
    guard(|| autobalance_core::presets::spec_json(&name).map_err(js_error))
}

/// `sweepPlan(spec, buffers)`: validate a sweep (every setting built once) and give its plan JSON.
#[napi(catch_unwind)]
pub fn sweep_plan(
    spec: String,
    #[napi(ts_arg_type = "Record<string, Float64Array>")] buffers: Buffers,
) -> Result<String> {
    guard(|| autobalance_core::study::sweep::plan_json(&spec, buffers.0).map_err(js_error))
}

/// `sweepTask(spec, buffers, run)`: one run of a sweep (place, seeds, values, hash, spec) as JSON.
#[napi(catch_unwind)]
pub fn sweep_task(
    spec: String,
    #[napi(ts_arg_type = "Record<string, Float64Array>")] buffers: Buffers,
    run: f64,
) -> Result<String> {
    guard(|| {
        let run = count("run", run)?;
        autobalance_core::study::sweep::task_json(&spec, buffers.0, run).map_err(js_error)
    })
}

/// `sweepReduce(spec, rows)`: reduce one setting's rows (JSON Lines) to its table row (JSON).
#[napi(catch_unwind)]
pub fn sweep_reduce(spec: String, rows: String) -> Result<String> {
    guard(|| autobalance_core::study::sweep::reduce_json(&spec, &rows).map_err(js_error))
}

fn study_status_json(status: &StudyStatus) -> Result<String> {
    serde_json::to_string(status).map_err(|e| internal(&format!("status serialization: {e}")))
}

/// A study of the core (docs/studies.md): a computation that is not one run, advanced in units of
/// work. JS name `NativeStudy`.
#[napi]
pub struct NativeStudy {
    inner: Arc<Mutex<Study>>,
}

impl NativeStudy {
    /// The study, for a synchronous call on the JS thread (never blocks; see `NativeSession`).
    fn lock(&self) -> Result<MutexGuard<'_, Study>> {
        try_lock(&self.inner, "study")
    }
}

#[napi]
impl NativeStudy {
    /// Validate `spec` (JSON with a `kind`) and `buffers` and set up the study. Throws on
    /// invalid input.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        spec: String,
        #[napi(ts_arg_type = "Record<string, Float64Array>")] buffers: Buffers,
    ) -> Result<Self> {
        guard(|| {
            let study = Study::new(&spec, buffers.0).map_err(js_error)?;
            Ok(NativeStudy {
                inner: Arc::new(Mutex::new(study)),
            })
        })
    }

    /// Do up to `maxUnits` units of work on the JS thread; returns the `StudyStatus` JSON.
    #[napi(catch_unwind)]
    pub fn advance(&self, max_units: f64) -> Result<String> {
        guard(|| {
            let max_units = count("maxUnits", max_units)?;
            let status = self.lock()?.advance(max_units).map_err(js_error)?;
            study_status_json(&status)
        })
    }

    /// Do up to `maxUnits` units of work on the libuv thread pool; resolves to the
    /// `StudyStatus` JSON. Every error is a rejection, never a synchronous throw.
    #[napi(catch_unwind, ts_return_type = "Promise<string>")]
    pub fn advance_async(&self, max_units: f64) -> AsyncTask<PoolJob<Study>> {
        PoolJob::new(&self.inner, "study", move |s| {
            let max_units = count("maxUnits", max_units)?;
            study_status_json(&s.advance(max_units).map_err(js_error)?)
        })
    }

    /// The `StudyStatus` JSON.
    #[napi(catch_unwind)]
    pub fn status(&self) -> Result<String> {
        guard(|| study_status_json(&self.lock()?.status()))
    }

    /// The JSON result so far (format per study kind, docs/studies.md).
    #[napi(catch_unwind)]
    pub fn result(&self) -> Result<String> {
        guard(|| Ok(self.lock()?.result_json()))
    }

    /// Names of the result columns, in order.
    #[napi(catch_unwind)]
    pub fn column_names(&self) -> Result<Vec<String>> {
        guard(|| Ok(self.lock()?.column_names().to_vec()))
    }

    /// The records finished since the last call (a sweep's rows), JSON Lines; "" when none.
    #[napi(catch_unwind)]
    pub fn take_records(&self) -> Result<String> {
        guard(|| Ok(self.lock()?.take_records()))
    }

    /// Rows `start..` of a result column (a copy).
    #[napi(catch_unwind)]
    pub fn column(&self, name: String, start: f64) -> Result<Float64Array> {
        guard(|| {
            let start = usize::try_from(count("start", start)?).unwrap_or(usize::MAX);
            let s = self.lock()?;
            let col = s.column(&name, start).map_err(js_error)?;
            Ok(col.to_vec().into())
        })
    }
}
