//! Graceful shutdown: stop admission, drain, join, report.
//!
//! `close` sets the closing flag (after which outside spawns are refused and
//! handed back) and wakes every worker. Work already admitted, including work
//! that admitted tasks spawn, still runs: a worker rests once closing is set,
//! no outside submission is between its check and its push, and it finds
//! nothing in any queue; all exit once every worker rests (a running task may
//! still spawn work that only a resting sibling can run while the task waits
//! for it). A bounded shutdown that runs out of time sets
//! `aborting`: workers then drop the jobs they take instead of running them
//! (join handles report `Cancelled`), and the report says what was left.

use std::time::{Duration, Instant};

use crate::error::ShutdownError;
use crate::sync::{Mutex, Ordering};

use super::registry::Registry;

/// What a shutdown did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Tasks the workers ran over the pool's life.
    pub tasks_run: u64,
    /// Fire-and-forget tasks that panicked over the pool's life.
    pub tasks_panicked: u64,
    /// Tasks cancelled before they started (by handles, or by a timeout).
    pub tasks_cancelled: u64,
    /// Whether the wait ended because the timeout passed.
    pub timed_out: bool,
    /// Queue entries still queued when the timeout passed; they are
    /// cancelled. One per task, except that a group of tasks from one
    /// `spawn_batch` counts once: `tasks_cancelled` counts its tasks.
    pub tasks_abandoned: usize,
    /// Workers that had not exited when the wait ended: those running a task,
    /// and their drained siblings, which rest until no task runs.
    pub threads_still_running: usize,
    /// How long the shutdown waited.
    pub elapsed: Duration,
}

pub(crate) fn shutdown(
    registry: &Registry,
    cache: &Mutex<Option<ShutdownReport>>,
    timeout: Option<Duration>,
) -> Result<ShutdownReport, ShutdownError> {
    if registry.current_worker().is_some() {
        return Err(ShutdownError::FromWorker);
    }
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(report) = &*cache {
        return Ok(report.clone());
    }
    let start = Instant::now();
    registry.close();
    let still_running = registry.wait_exited(timeout);
    let timed_out = still_running > 0;
    let mut abandoned = 0;
    let handles: Vec<_> = registry
        .threads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
        .collect();
    if timed_out {
        abandoned = registry.injector.len()
            + registry.stealers.iter().map(|s| s.len()).sum::<usize>()
            + registry.leaves.iter().filter(|l| l.has_tasks()).count();
        // SeqCst: seen by every worker's next take, in any order with the rest.
        registry.aborting.store(true, Ordering::SeqCst);
        registry.sleep.wake_all();
        // The remaining threads finish on their own; their handles are dropped
        // (detached) rather than joined.
    } else {
        for handle in handles.into_iter().flatten() {
            let _ = handle.join();
        }
    }
    let metrics = registry.metrics();
    let report = ShutdownReport {
        tasks_run: metrics.executed(),
        tasks_panicked: metrics.panicked(),
        tasks_cancelled: metrics.cancelled,
        timed_out,
        tasks_abandoned: abandoned,
        threads_still_running: still_running,
        elapsed: start.elapsed(),
    };
    *cache = Some(report.clone());
    Ok(report)
}
