//! Latches: one-shot "done" signals between a job's runner and its waiter.
//!
//! [`WorkerLatch`] is waited on by a pool worker, which keeps running other
//! work while it waits and sleeps only through the pool's sleep protocol, so a
//! waiting worker never blocks a thread the pool could use. [`LockLatch`] is
//! waited on by a thread outside the pool, which simply blocks.

use crate::sleep::Sleep;
use crate::sync::{AtomicU8, Condvar, Mutex, Ordering};

use super::job::Latch;

const UNSET: u8 = 0;
const SLEEPING: u8 = 1;
const SET: u8 = 2;

/// Set by whichever worker ran the job; waited on by the worker that owns it.
pub(crate) struct WorkerLatch {
    state: AtomicU8,
    owner: usize,
    sleep: *const Sleep,
}

// SAFETY: `sleep` points into the pool's shared registry, which outlives every
// job of the pool (each worker holds the registry while it runs jobs), and
// `Sleep` is itself Sync.
unsafe impl Sync for WorkerLatch {}
// SAFETY: as above.
unsafe impl Send for WorkerLatch {}

impl WorkerLatch {
    #[inline]
    pub(crate) fn new(owner: usize, sleep: &Sleep) -> Self {
        Self {
            state: AtomicU8::new(UNSET),
            owner,
            sleep,
        }
    }

    /// Whether the job is done.
    #[inline]
    pub(crate) fn probe(&self) -> bool {
        // Acquire: pairs with the runner's AcqRel swap, so the job's result
        // written before it is visible to the owner.
        self.state.load(Ordering::Acquire) == SET
    }

    /// Announces that the owner is about to sleep; false if already set.
    pub(crate) fn prepare_sleep(&self) -> bool {
        // SeqCst: the owner then registers as a sleeper; the runner's swap must
        // either see SLEEPING (and wake it) or happen before the owner's last
        // look at `probe`.
        match self
            .state
            .compare_exchange(UNSET, SLEEPING, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => true,
            Err(state) => state != SET,
        }
    }
}

impl Latch for WorkerLatch {
    unsafe fn set(this: *const Self) {
        // SAFETY: `this` is alive until the swap below makes SET visible.
        let (owner, sleep) = unsafe { ((*this).owner, (*this).sleep) };
        // SAFETY: as above; after the swap the owner may free the latch, so
        // nothing below touches `this`.
        let prev = unsafe { (*this).state.swap(SET, Ordering::SeqCst) };
        if prev == SLEEPING {
            // SAFETY: the registry owning `sleep` outlives this job (see the
            // Sync impl above).
            unsafe { (*sleep).wake_worker(owner) };
        }
    }
}

/// A latch a thread outside the pool blocks on.
pub(crate) struct LockLatch {
    done: Mutex<bool>,
    cond: Condvar,
}

impl LockLatch {
    pub(crate) fn new() -> Self {
        Self {
            done: Mutex::new(false),
            cond: Condvar::new(),
        }
    }

    /// Blocks until the latch is set.
    pub(crate) fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self.cond.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Latch for LockLatch {
    unsafe fn set(this: *const Self) {
        // SAFETY: the waiter cannot return before it re-acquires the lock we
        // hold here, so `this` is alive for this whole block.
        let this = unsafe { &*this };
        let mut done = this.done.lock().unwrap_or_else(|e| e.into_inner());
        *done = true;
        this.cond.notify_all();
    }
}
