//! `broadcast`: run a closure once on every worker, results in worker order.
//!
//! Each worker has a small inbox it checks before the shared queues; the
//! caller puts one job in every inbox, wakes the sleepers, and waits for a
//! countdown to reach zero.

use std::panic::{self, AssertUnwindSafe};

use crate::error::ShutdownError;
use crate::sync::{thread, AtomicUsize, Mutex, Ordering};

use super::job::{Latch, MustRun, OwnedJob, Panic};
use super::latch::{LockLatch, WorkerLatch};
use super::registry::Registry;

struct Broadcast<'a, OP, R, L> {
    op: &'a OP,
    results: Vec<Mutex<Option<R>>>,
    remaining: AtomicUsize,
    panic: Mutex<Option<Panic>>,
    latch: L,
}

struct BroadcastPtr<'a, OP, R, L>(*const Broadcast<'a, OP, R, L>);

// SAFETY: the broadcast state is only shared (Sync parts: `&OP` with
// `OP: Sync`, mutexes, an atomic, a Sync latch) and outlives every job,
// because the caller waits for the countdown.
unsafe impl<OP: Sync, R: Send, L: Sync> Send for BroadcastPtr<'_, OP, R, L> {}

/// Counts the job done when dropped, after it ran (or panicked).
struct Countdown<'a, OP, R, L: Latch>(BroadcastPtr<'a, OP, R, L>);

impl<OP, R, L: Latch> Drop for Countdown<'_, OP, R, L> {
    fn drop(&mut self) {
        let this = self.0 .0;
        // SAFETY: alive until the count reaches zero; AcqRel so the waiter
        // sees every result written before each decrement.
        if unsafe { (*this).remaining.fetch_sub(1, Ordering::AcqRel) } == 1 {
            // SAFETY: `set` touches nothing after setting.
            unsafe { L::set(&(*this).latch) };
        }
    }
}

pub(crate) fn broadcast<OP, R>(registry: &Registry, op: OP) -> Result<Vec<R>, ShutdownError>
where
    OP: Fn(usize) -> R + Sync,
    R: Send,
{
    match registry.current_worker() {
        Some(worker) => run(
            registry,
            &op,
            WorkerLatch::new(worker.index(), &registry.sleep),
            |latch| worker.wait_until(latch),
        ),
        None => run(registry, &op, LockLatch::new(), |latch| latch.wait()),
    }
}

fn run<OP, R, L>(
    registry: &Registry,
    op: &OP,
    latch: L,
    wait: impl FnOnce(&L),
) -> Result<Vec<R>, ShutdownError>
where
    OP: Fn(usize) -> R + Sync,
    R: Send,
    L: Latch + Sync,
{
    let n = registry.num_workers();
    if !registry.begin_admission() {
        return Err(ShutdownError::ShutDown);
    }
    let state = Broadcast {
        op,
        results: (0..n).map(|_| Mutex::new(None)).collect(),
        remaining: AtomicUsize::new(n),
        panic: Mutex::new(None),
        latch,
    };
    // `wait` below keeps `state` alive until every job has counted down.
    let ptr: *const Broadcast<'_, OP, R, L> = &state;
    for index in 0..n {
        let countdown = Countdown(BroadcastPtr(ptr));
        let task = move || {
            let countdown = countdown;
            // SAFETY: alive until this job's countdown drops.
            let state = unsafe { &*countdown.0 .0 };
            match panic::catch_unwind(AssertUnwindSafe(|| (state.op)(index))) {
                Ok(r) => {
                    *state.results[index]
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = Some(r)
                }
                Err(p) => {
                    state
                        .panic
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(p);
                }
            }
        };
        // SAFETY: the job borrows `state` and `op`, which outlive it (we wait).
        let mut job = unsafe { OwnedJob::into_job_ref(MustRun(task)) };
        // The inbox only fills when many broadcasts overlap: wait for room.
        while let Err(back) = registry.inboxes[index].push(job) {
            job = back;
            registry.sleep.wake_all();
            thread::yield_now();
        }
    }
    registry.sleep.wake_all();
    registry.end_admission();
    wait(&state.latch);
    if let Some(p) = state.panic.lock().unwrap_or_else(|e| e.into_inner()).take() {
        panic::resume_unwind(p);
    }
    state
        .results
        .into_iter()
        .map(|r| r.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect::<Option<Vec<R>>>()
        .ok_or(ShutdownError::ShutDown)
}
