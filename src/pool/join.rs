//! `join(a, b)` on a worker, with lazy offering of `b`.
//!
//! `b` lives in the caller's frame as a stack job (no allocation). Rather than
//! pushing every `b` into the deque, which costs a fence on both the push and
//! the pop-back, the worker keeps its open joins in a small local list and
//! *offers* the oldest not-yet-offered one to thieves only when there is
//! demand: a sibling that found this worker's deque empty while searching
//! raises the worker's share request, and every [`OFFER_EVERY`] joins the
//! worker offers one anyway so that sleeping siblings get woken when there is
//! work for them. The oldest open join holds the biggest piece of work, as in
//! heartbeat scheduling (Acar, Charguéraud, Guatto, Rainey, Sieczkowski).
//!
//! When `a` returns, a `b` that was never offered runs inline with no atomic
//! operation at all. An offered `b` is popped back if still there, or, if a
//! sibling stole it, the worker runs other work until the thief is done.

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

/// How many nested open joins a worker tracks; deeper ones are not offered
/// (the outer ones, which hold more work, are).
const MAX_OPEN: usize = 64;

/// One open join, in the frame of its `join` call.
pub(crate) struct OpenJoin {
    job: JobRef,
    offered: Cell<bool>,
}

/// A worker's open joins, oldest first; only its own thread touches this.
pub(crate) struct OpenJoins {
    frames: [Cell<*const OpenJoin>; MAX_OPEN],
    len: Cell<usize>,
    /// `frames[..offered]` have been offered (offers go oldest first, and
    /// frames close newest first, so the offered ones are always a prefix).
    offered: Cell<usize>,
    ticks: Cell<u32>,
}

// SAFETY: the list is only ever used by the thread that owns its worker; it
// is moved to that thread once, while still empty, before any join opens.
unsafe impl Send for OpenJoins {}

impl OpenJoins {
    pub(crate) fn new() -> Self {
        Self {
            frames: std::array::from_fn(|_| Cell::new(std::ptr::null())),
            len: Cell::new(0),
            offered: Cell::new(0),
            ticks: Cell::new(0),
        }
    }

    fn open(&self, join: &OpenJoin) -> bool {
        let len = self.len.get();
        if len == MAX_OPEN {
            return false;
        }
        self.frames[len].set(join);
        self.len.set(len + 1);
        true
    }

    fn close(&self, join: &OpenJoin) {
        let len = self.len.get() - 1;
        debug_assert!(std::ptr::eq(self.frames[len].get(), join));
        self.len.set(len);
        self.offered.set(self.offered.get().min(len));
    }

    /// Whether this join should offer work now (a tick or a request).
    #[inline]
    fn due(&self, requested: bool) -> bool {
        let ticks = self.ticks.get().wrapping_add(1);
        self.ticks.set(ticks);
        requested || ticks % OFFER_EVERY == 0
    }

    /// The oldest open join not yet offered, marked as offered.
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

pub(crate) fn join_on_worker<A, B, RA, RB>(worker: &WorkerThread, a: A, b: B) -> (RA, RB)
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
    offer_if_due(worker);
    // `b` borrows this frame: even if `a` panics, `b` must be finished or
    // taken back before the panic may leave.
    let ra = panic::catch_unwind(AssertUnwindSafe(a));
    if tracked {
        worker.open_joins().close(&open);
    }
    if !open.offered.get() {
        return finish_inline(ra, job_b);
    }
    while !job_b.latch.probe() {
        match worker.pop_local() {
            Some(job) if job.is(&open.job) => return finish_inline(ra, job_b),
            Some(job) => worker.execute(job),
            None => {
                worker.wait_until(&job_b.latch);
                break;
            }
        }
    }
    match ra {
        Ok(ra) => (ra, job_b.into_result()),
        Err(p) => panic::resume_unwind(p),
    }
}

/// Runs `b` on the caller; if `a` panicked, `b` still runs first and then
/// `a`'s panic goes on (a panic of `b` is then dropped).
fn finish_inline<L, F, RA, RB>(ra: std::thread::Result<RA>, job_b: StackJob<L, F, RB>) -> (RA, RB)
where
    L: super::job::Latch,
    F: FnOnce(bool) -> RB + Send,
    RB: Send,
{
    match ra {
        Ok(ra) => (ra, job_b.run_inline()),
        Err(p) => {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| job_b.run_inline()));
            panic::resume_unwind(p)
        }
    }
}

#[inline]
fn offer_if_due(worker: &WorkerThread) {
    let joins = worker.open_joins();
    if joins.due(worker.share_requested()) {
        if let Some(oldest) = joins.take_oldest_unoffered() {
            offer(worker, oldest);
        }
    }
}

/// Makes an open join's `b` stealable.
fn offer(worker: &WorkerThread, join: &OpenJoin) {
    if worker.push_for_join(join.job) {
        join.offered.set(true);
        worker.clear_share_request();
    }
}
