//! Free functions that use the pool of the calling worker, or a lazily built
//! global pool elsewhere (as rayon users expect).

use crate::error::SpawnError;
use crate::injector::Priority;
use crate::sync::OnceLock;
use crate::topology::Pinning;

use super::scope::{scope_on_worker, Scope};
use super::worker::WorkerThread;
use super::{join::join_on_worker, spawn as spawn_paths, ThreadPool, ThreadPoolBuilder};

/// The global pool, built on first use with the defaults (unpinned, since
/// it shares the machine with whatever else the program runs).
fn global() -> &'static ThreadPool {
    static GLOBAL: OnceLock<ThreadPool> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        ThreadPoolBuilder::new()
            .pinning(Pinning::None)
            .thread_name(|i| format!("weftpool-global-{i}"))
            .build()
            .or_else(|_| {
                // A restricted environment: fall back to a single worker.
                ThreadPoolBuilder::new()
                    .pinning(Pinning::None)
                    .threads(1)
                    .build()
            })
            .unwrap_or_else(|e| panic!("weftpool could not start its global pool: {e}"))
    })
}

/// Runs `a` and `b`, potentially in parallel, on the current worker's pool
/// (or the global pool); see [`ThreadPool::join`].
///
/// ```
/// let (a, b) = weftpool::join(|| "left", || "right");
/// assert_eq!((a, b), ("left", "right"));
/// ```
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    match WorkerThread::current() {
        Some(worker) => join_on_worker(worker, a, b),
        None => join_from_outside(a, b),
    }
}

/// `join` off the pool's threads; kept out of line so that the worker path,
/// taken by every nested join, stays a thread-local read and a jump.
#[cold]
#[inline(never)]
fn join_from_outside<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    global().join(a, b)
}

/// A scope on the current worker's pool (or the global pool); see
/// [`ThreadPool::scope`].
///
/// ```
/// let mut total = 0;
/// weftpool::scope(|s| s.spawn(|_| total += 1));
/// assert_eq!(total, 1);
/// ```
pub fn scope<'scope, OP, R>(op: OP) -> R
where
    OP: FnOnce(&Scope<'scope>) -> R + Send,
    R: Send,
{
    match WorkerThread::current() {
        Some(worker) => scope_on_worker(worker, op),
        None => global().scope(op),
    }
}

/// Spawns `f` on the current worker's pool (or the global pool) at
/// [`Priority::Normal`]; see [`ThreadPool::spawn`].
pub fn spawn<F>(f: F) -> Result<(), SpawnError<F>>
where
    F: FnOnce() + Send + 'static,
{
    spawn_with(Priority::Normal, f)
}

/// Like [`spawn`], at the given priority.
pub fn spawn_with<F>(priority: Priority, f: F) -> Result<(), SpawnError<F>>
where
    F: FnOnce() + Send + 'static,
{
    match WorkerThread::current() {
        Some(worker) => {
            let registry = worker.registry();
            spawn_paths::spawn(registry, priority, f, registry.config.overflow)
        }
        None => global().spawn_with(priority, f),
    }
}

/// The index of the worker running the caller in its pool, or `None` off
/// the pools.
pub fn current_worker_index() -> Option<usize> {
    WorkerThread::current().map(WorkerThread::index)
}
