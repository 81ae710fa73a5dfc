//! `join(a, b)` on a worker, with lazy offering of `b`.
//!
//! Rather than pushing every `b` into the deque, which costs a fence on both
//! the push and the pop-back, the worker keeps some of its open joins (the
//! *tracked* ones, each with `b` as a stack job in its frame: no allocation)
//! in a small local list and *offers* the oldest not-yet-offered one to
//! thieves when someone could use it: always for the outermost open join,
//! when a sibling is idle (searching or asleep), when a sibling that found
//! this worker's deque empty raised the worker's share request, and every
//! [`OFFER_EVERY`] joins regardless. While every worker is busy, nested joins
//! stay private and cost no atomic read-modify-write. The oldest open join
//! holds the biggest piece of work, as in heartbeat scheduling (Acar,
//! Charguéraud, Guatto, Rainey, Sieczkowski).
//!
//! Like rayon's, this `join` promises that `a` and `b` both run, not that
//! they run at the same time: a nested `a` must not wait for its own `b`
//! (with every other worker busy, `b` stays private until `a` returns).
//!
//! When `a` returns, a `b` that was never offered runs inline with no atomic
//! operation at all. An offered `b` is popped back if still there, or, if a
//! sibling stole it, the worker runs other work until the thief is done.
//!
//! Most joins are not tracked: below the worker's outermost
//! [`ALWAYS_TRACKED`] open joins, and while every sibling is busy and none
//! asked for work, only one join in [`TRACK_EVERY`] enters the list; the rest
//! are two plain calls (and a guard that runs `b` if `a` panics). A deep
//! recursion then pays a counter, a read of its own share-request flag and a
//! read of the sleep word per join instead of the bookkeeping (chili's `join`
//! skips its bookkeeping the same way, below its three outermost joins, in 63
//! joins of 64). The price: an untracked `b` can never be offered, not even
//! once a sibling goes idle later, so what a thief can get is the tracked
//! joins; a chain of joins made while every sibling is busy and none asked
//! for work stays with its worker until the list fills.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

use super::job::{JobRef, StackJob};
use super::latch::WorkerLatch;
use super::worker::WorkerThread;

/// Offer one open join to thieves every this many joins even without demand.
#[cfg(not(loom))]
pub(crate) const OFFER_EVERY: u32 = 128;
/// Under loom every join is offered, so that models explore stealing `b`.
#[cfg(loom)]
pub(crate) const OFFER_EVERY: u32 = 1;

/// Below the outermost open joins, one join in this many is tracked (can be
/// offered later) when no sibling asks for work. A divisor of
/// [`OFFER_EVERY`], so the periodic offer falls on a tracked join.
#[cfg(not(loom))]
const TRACK_EVERY: u32 = 64;
/// Under loom every join is tracked (the untracked path has no atomics).
#[cfg(loom)]
const TRACK_EVERY: u32 = 1;

/// The outermost this many open joins of a task are always tracked: they
/// hold the biggest pieces of work.
const ALWAYS_TRACKED: usize = 3;

/// How many nested open joins a worker tracks; deeper ones are offered at
/// once, the plain work-stealing way. Once the list is full, every deeper
/// join is tracked (so offered at once): a recursion that deep is a chain
/// more than a tree, and its `b`s are the only work a sibling can get.
const MAX_OPEN: usize = 64;

/// One open join, in the frame of its `join` call.
pub(crate) struct OpenJoin {
    job: JobRef,
    offered: Cell<bool>,
}

/// A worker's open joins, oldest first; only its own thread touches this
/// (the worker is moved to its thread while the list is still empty).
pub(crate) struct OpenJoins {
    frames: [Cell<*const OpenJoin>; MAX_OPEN],
    len: Cell<usize>,
    /// `frames[..offered]` have been offered (offers go oldest first, and
    /// frames close newest first, so the offered ones are always a prefix).
    offered: Cell<usize>,
    ticks: Cell<u32>,
}

impl OpenJoins {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            frames: std::array::from_fn(|_| Cell::new(std::ptr::null())),
            len: Cell::new(0),
            offered: Cell::new(0),
            ticks: Cell::new(0),
        }
    }

    #[inline]
    fn open(&self, join: &OpenJoin) -> bool {
        let len = self.len.get();
        if len == MAX_OPEN {
            return false;
        }
        self.frames[len].set(join);
        self.len.set(len + 1);
        true
    }

    #[inline]
    fn close(&self, join: &OpenJoin) {
        let len = self.len.get() - 1;
        debug_assert!(std::ptr::eq(self.frames[len].get(), join));
        self.len.set(len);
        self.offered.set(self.offered.get().min(len));
    }

    /// Counts a join; returns its number.
    #[inline]
    fn tick(&self) -> u32 {
        let ticks = self.ticks.get().wrapping_add(1);
        self.ticks.set(ticks);
        ticks
    }

    /// The oldest open join not yet offered, marked as offered.
    #[inline]
    fn take_oldest_unoffered(&self) -> Option<&OpenJoin> {
        let next = self.offered.get();
        if next == self.len.get() {
            return None;
        }
        // SAFETY: frames below `len` point at joins whose `join_on_worker`
        // frames are still on this thread's stack (they close in LIFO order).
        let join = unsafe { &*self.frames[next].get() };
        self.offered.set(next + 1);
        Some(join)
    }
}

/// Whether a join must enter the open-join list: near the top of the task,
/// below a full list, periodically, and whenever a sibling could use work
/// (it asked this worker, or it is searching or asleep), so that this
/// join's `b`, or an older tracked one, can be offered to it.
#[inline]
#[allow(clippy::modulo_one)] // TRACK_EVERY is 1 under loom
fn must_track(worker: &WorkerThread, joins: &OpenJoins, tick: u32) -> bool {
    let tracked = joins.len.get();
    tracked < ALWAYS_TRACKED
        || tick % TRACK_EVERY == 0
        || sibling_wants_work(worker)
        || tracked == MAX_OPEN
}

/// Whether a sibling could use work now: it asked this worker (share
/// request), or the sleep word shows a searcher or a sleeper.
#[inline]
fn sibling_wants_work(worker: &WorkerThread) -> bool {
    worker.share_requested() || !worker.registry().sleep.all_busy()
}

/// Always inlined into its callers (`join`, `ThreadPool::join`): a
/// recursion through `join` then compiles to one function per closure type
/// that calls itself, with the thread-local read of its worker in line. Left
/// to the compiler's choice, a caller in another crate built without
/// link-time optimisation got the reverse (`join` inlined here), and reached
/// the thread-local through a call at every level (docs/benchmarks.md,
/// "`join` is inlined into its caller").
#[inline(always)]
pub(crate) fn join_on_worker<A, B, RA, RB>(worker: &WorkerThread, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let joins = worker.open_joins();
    let tick = joins.tick();
    if must_track(worker, joins, tick) {
        join_tracked(worker, tick, a, b)
    } else {
        join_untracked(a, b)
    }
}

/// A join nobody can steal from: `a`, then `b`; `b` also runs if `a`
/// panics (as in a tracked join), and then `a`'s panic goes on.
#[inline]
fn join_untracked<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA,
    B: FnOnce() -> RB,
{
    let mut guard = RunOnUnwind(Some(b));
    let ra = a();
    let b = guard.0.take();
    // The guard is empty now; forgetting it keeps its drop off this path.
    std::mem::forget(guard);
    match b {
        Some(b) => (ra, b()),
        None => unreachable!("join's b was taken before a returned"),
    }
}

/// Runs an untracked join's `b` if dropped while still holding it (only
/// while `a` unwinds); a panic of `b` is dropped, `a`'s goes on.
struct RunOnUnwind<B: FnOnce() -> RB, RB>(Option<B>);

impl<B: FnOnce() -> RB, RB> Drop for RunOnUnwind<B, RB> {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            let _ = panic::catch_unwind(AssertUnwindSafe(b));
        }
    }
}

#[inline(never)]
fn join_tracked<A, B, RA, RB>(worker: &WorkerThread, tick: u32, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let job_b = StackJob::new(
        move |_stolen| b(),
        WorkerLatch::new(worker.index(), &worker.registry().sleep),
    );
    let open = OpenJoin {
        job: job_b.as_job_ref(),
        offered: Cell::new(false),
    };
    let tracked = worker.open_joins().open(&open);
    if !tracked {
        // Too deep to track: offer it right away, the plain work-stealing way.
        offer(worker, &open);
    }
    offer_if_due(worker, tick);
    // `b` borrows this frame: if `a` panics, the guard finishes `b` (runs it,
    // or waits for its thief) before the panic may leave. No cost otherwise.
    let guard = FinishOnUnwind {
        worker,
        open: &open,
        job_b: &job_b,
        tracked,
    };
    let ra = a();
    std::mem::forget(guard);
    if tracked {
        worker.open_joins().close(&open);
    }
    if !open.offered.get() {
        return (ra, job_b.run_inline());
    }
    if take_back_or_wait(worker, &open, &job_b) {
        return (ra, job_b.run_inline());
    }
    (ra, job_b.into_result())
}

/// After `a` returned: pops the offered `b` back (true: run it inline) or,
/// if a sibling stole it, runs other work until the thief is done (false).
fn take_back_or_wait<F, R>(
    worker: &WorkerThread,
    open: &OpenJoin,
    job_b: &StackJob<WorkerLatch, F, R>,
) -> bool
where
    F: FnOnce(bool) -> R + Send,
    R: Send,
{
    while !job_b.latch.probe() {
        match worker.pop_local() {
            Some(job) if job.is(&open.job) => return true,
            Some(job) => worker.execute(job),
            None => {
                worker.wait_until(&job_b.latch);
                return false;
            }
        }
    }
    false
}

/// Finishes `b` while a panic of `a` unwinds through `join`: `b` runs (or
/// its thief finishes) first, then `a`'s panic goes on; a panic of `b` is
/// dropped.
struct FinishOnUnwind<'a, F: FnOnce(bool) -> R + Send, R: Send> {
    worker: &'a WorkerThread,
    open: &'a OpenJoin,
    job_b: &'a StackJob<WorkerLatch, F, R>,
    tracked: bool,
}

impl<F: FnOnce(bool) -> R + Send, R: Send> Drop for FinishOnUnwind<'_, F, R> {
    fn drop(&mut self) {
        if self.tracked {
            self.worker.open_joins().close(self.open);
        }
        let run_here =
            !self.open.offered.get() || take_back_or_wait(self.worker, self.open, self.job_b);
        if run_here {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| self.job_b.run_inline()));
        }
    }
}

#[inline]
#[allow(clippy::modulo_one)] // OFFER_EVERY is 1 under loom
fn offer_if_due(worker: &WorkerThread, tick: u32) {
    let joins = worker.open_joins();
    // The outermost open join is always offered: a task's top-level `join`
    // is where coarse parallelism lives, and it makes `b` stealable even if
    // `a` never reaches another join.
    let outermost = joins.len.get() == 1;
    let due = outermost || tick % OFFER_EVERY == 0 || sibling_wants_work(worker);
    if due {
        if let Some(oldest) = joins.take_oldest_unoffered() {
            offer(worker, oldest);
        }
    }
}

/// Makes an open join's `b` stealable.
#[cold]
fn offer(worker: &WorkerThread, join: &OpenJoin) {
    if worker.push_for_join(join.job) {
        join.offered.set(true);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::super::worker::WorkerThread;
    use crate::topology::Pinning;
    use crate::ThreadPool;

    /// Spins (yielding) until `done` or a few seconds passed; whether done.
    fn wait_for(done: impl Fn() -> bool) -> bool {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > Duration::from_secs(5) {
                return false;
            }
            std::thread::yield_now();
        }
        true
    }

    const DEPTH: usize = 40;
    const SHARED: usize = 20;

    /// A chain: each level's `a` goes one deeper, its `b` is a leaf that
    /// counts itself. The innermost `a` lets the other worker go, then waits
    /// until `SHARED` leaves ran: the chain's worker is stuck there, so the
    /// other worker ran them, which it can only if they were offered.
    fn chain(depth: usize, gate: &AtomicBool, leaves: &AtomicUsize) -> bool {
        if depth == 0 {
            gate.store(true, Ordering::SeqCst);
            return wait_for(|| leaves.load(Ordering::SeqCst) >= SHARED);
        }
        let (shared, ()) = super::super::join(
            || chain(depth - 1, gate, leaves),
            || {
                leaves.fetch_add(1, Ordering::SeqCst);
            },
        );
        shared
    }

    #[test]
    fn a_share_request_makes_every_join_offer_while_the_sibling_is_busy() {
        let pool = ThreadPool::builder()
            .threads(2)
            .pinning(Pinning::None)
            .build()
            .unwrap();
        let (started, gate, leaves) = (
            AtomicBool::new(false),
            AtomicBool::new(false),
            AtomicUsize::new(0),
        );
        let shared = pool.scope(|s| {
            // Keep one worker busy while the other makes the chain, so that no
            // sibling is idle: only the share request makes joins tracked.
            s.spawn(|_| {
                started.store(true, Ordering::SeqCst);
                assert!(
                    wait_for(|| gate.load(Ordering::SeqCst)),
                    "the chain never opened the gate"
                );
            });
            assert!(wait_for(|| started.load(Ordering::SeqCst)));
            pool.install(|| {
                let worker = WorkerThread::current().expect("install runs on a worker");
                // As if the busy sibling had found this deque empty. Nobody
                // lowers it: the busy worker raised no requests itself.
                worker.registry().share_requests[worker.index()].store(true, Ordering::SeqCst);
                chain(DEPTH, &gate, &leaves)
            })
        });
        assert!(
            shared,
            "the sibling ran fewer than {SHARED} of {DEPTH} leaves"
        );
        assert_eq!(leaves.load(Ordering::SeqCst), DEPTH);
    }
}
