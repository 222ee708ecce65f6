//! The threaded module's rayon pool on JS workers (feature `threads`): thin glue, no logic.
//!
//! The JS starter (packages/autobalance/src/wasm-threads-node.ts) does, on the calling thread:
//! `rx = threadPoolPrepare(n)`, then starts `n` workers that each instantiate this module on the
//! same shared memory (`initSync({ module, memory })`) and call `threadPoolWorker(rx)` (which
//! blocks for the life of the worker, running rayon's loop), then `threadPoolBuild(n)`: rayon's
//! GLOBAL pool (the core's `Parallelism::Rayon` uses it) whose spawn handler sends each rayon
//! thread down the channel the workers wait on. Only after that does the core use rayon
//! (`autobalance_core::par::set_rayon_ready`); before, every run is sequential (same bits).
//!
//! One channel per `threadPoolPrepare` call (its receiver's address goes to that pool's
//! workers): with one shared receiver a worker could take a thread meant for another pool (the
//! probe hung that way). rayon's global pool can be built once per module instance, so a second
//! `threadPoolBuild` fails with an error and its workers stay parked (the starter ends them).

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

use rayon::{ThreadBuilder, ThreadPoolBuilder};
use wasm_bindgen::prelude::*;

type Rx = Mutex<Receiver<ThreadBuilder>>;

/// The sender of the latest `threadPoolPrepare`, taken by `threadPoolBuild`.
static TX: Mutex<Option<SyncSender<ThreadBuilder>>> = Mutex::new(None);

/// Set up a pool of `n` threads: returns the address its workers pass to `threadPoolWorker`.
#[wasm_bindgen(js_name = "threadPoolPrepare")]
pub fn thread_pool_prepare(n: usize) -> usize {
    let (tx, rx) = sync_channel(n);
    *TX.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
    // Leaked: the receiver lives as long as the workers may read it (the module's life).
    Box::leak(Box::new(Mutex::new(rx))) as *const Rx as usize
}

/// A worker's entry: wait for a rayon thread of the pool `rx` and run it (never returns while
/// the pool lives). Called on a worker instance, never on the calling thread.
#[wasm_bindgen(js_name = "threadPoolWorker")]
pub fn thread_pool_worker(rx: usize) {
    // SAFETY: `rx` is an address returned by `threadPoolPrepare` (leaked, never freed).
    let rx = unsafe { &*(rx as *const Rx) };
    let thread = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
    if let Ok(thread) = thread {
        thread.run();
    }
}

/// Build rayon's global pool of `n` threads on the workers waiting in `threadPoolWorker`, then
/// let the core use it. Throws if no pool was prepared or rayon's global pool exists already.
#[wasm_bindgen(js_name = "threadPoolBuild")]
pub fn thread_pool_build(n: usize) -> Result<(), JsValue> {
    let tx = TX
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or_else(|| js_sys::Error::new("threadPoolBuild: call threadPoolPrepare first"))?;
    ThreadPoolBuilder::new()
        .num_threads(n)
        .spawn_handler(move |thread| {
            tx.send(thread)
                .map_err(|_| std::io::Error::other("the pool's channel is closed"))
        })
        .build_global()
        .map_err(|e| js_sys::Error::new(&format!("threadPoolBuild: {e}")))?;
    autobalance_core::par::set_rayon_ready(true);
    Ok(())
}

/// Threads of the pool the core uses: rayon's global pool once built, else 1 (sequential).
#[wasm_bindgen(js_name = "threadPoolSize")]
pub fn thread_pool_size() -> usize {
    if autobalance_core::par::rayon_ready() {
        rayon::current_num_threads()
    } else {
        1
    }
}
