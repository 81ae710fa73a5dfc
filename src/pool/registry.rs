//! The state a pool's workers and its handles share, and the ways work enters.

use std::time::Duration;

use crate::deque::Stealer;
use crate::injector::{Injector, Priority};
use crate::metrics::{Counters, PoolMetrics, WorkerMetrics};
use crate::queue::Ring;
use crate::sleep::Sleep;
use crate::sync::thread::JoinHandle;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, CachePadded, Condvar, Mutex, Ordering};

use super::builder::{Overflow, PanicHandler, ThreadHook, ThreadNamer};
use super::job::{JobRef, Mode, Outcome, Panic};
use super::leaf::LeafSlot;
use super::worker::WorkerThread;

/// How long a blocked submitter sleeps before it looks for room again on its
/// own, in case room opened at its level while others kept the total high.
const BLOCKED_RECHECK: Duration = Duration::from_millis(1);

/// How many times a blocked submitter yields for a slot that a take has
/// claimed but not yet freed before it waits (and re-checks after
/// [`BLOCKED_RECHECK`]) instead: a taker descheduled mid-read must not keep
/// the submitter spinning. Unbounded under loom, where a timed wait never
/// times out.
#[cfg(not(loom))]
const CLAIMED_SLOT_YIELDS: u32 = 64;
#[cfg(loom)]
const CLAIMED_SLOT_YIELDS: u32 = u32::MAX;

/// The closing bit of `Registry::gate`.
const CLOSING: usize = 1;
/// One admission in `Registry::gate`.
const ADMISSION: usize = 2;

/// Capacity of each worker's broadcast inbox.
pub(crate) const INBOX_CAPACITY: usize = 64;

/// An admitted outside batch: when it ends (returns or unwinds), wakes
/// workers for what it pushed and ends the admission.
struct BatchAdmission<'a> {
    registry: &'a Registry,
    pushed: usize,
}

impl Drop for BatchAdmission<'_> {
    fn drop(&mut self) {
        self.registry.sleep.notify_many(self.pushed);
        self.registry.end_admission();
    }
}

/// Why the pool refused a job (the job itself is handed back beside this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Full,
    ShutDown,
}

pub(crate) struct Config {
    pub(crate) idle_spin: Duration,
    pub(crate) overflow: Overflow,
    pub(crate) thread_name: Option<ThreadNamer>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_thread_start: Option<ThreadHook>,
    pub(crate) on_thread_exit: Option<ThreadHook>,
    pub(crate) panic_handler: Option<PanicHandler>,
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) pin: Vec<Option<Vec<usize>>>,
}

pub(crate) struct Registry {
    pub(crate) injector: Injector<JobRef>,
    pub(crate) stealers: Box<[Stealer<JobRef>]>,
    pub(crate) inboxes: Box<[Ring<JobRef>]>,
    pub(crate) steal_orders: Box<[Box<[usize]>]>,
    pub(crate) sleep: Sleep,
    pub(crate) counters: Box<[CachePadded<Counters>]>,
    /// Per worker: a sibling found its deque empty and is still looking for
    /// work; raised by that sibling, lowered by it once it stops looking.
    pub(crate) share_requests: Box<[CachePadded<AtomicBool>]>,
    /// Per worker: the batch leaf it runs, whose tasks not yet started any
    /// worker may take (`leaf.rs`).
    pub(crate) leaves: Box<[CachePadded<LeafSlot>]>,
    pub(crate) config: Config,
    /// Bit 0: closing (no new outside work is admitted; set once). The rest:
    /// outside submissions between their check of bit 0 and their push, in
    /// units of [`ADMISSION`]. One word, so that admitting, closing and the
    /// workers' exit check are ordered by read-modify-writes on it alone.
    gate: CachePadded<AtomicUsize>,
    /// Set when a bounded shutdown ran out of time: queued jobs are dropped.
    pub(crate) aborting: AtomicBool,
    /// Workers resting at shutdown with nothing queued (and workers whose
    /// thread never started): they run nothing more unless a sibling's
    /// running task spawns work. All exit once every worker is counted here.
    pub(crate) resting: CachePadded<AtomicUsize>,
    /// Set by the worker whose rest found every worker resting and nothing
    /// queued: no task runs, so none can spawn more, and every worker exits.
    pub(crate) quiescent: AtomicBool,
    /// Outside submitters blocked on a full injector.
    blocked: CachePadded<AtomicUsize>,
    room: Mutex<()>,
    room_freed: Condvar,
    /// Workers whose thread has left its loop for good.
    exited: Mutex<usize>,
    all_exited: Condvar,
    pub(crate) threads: Mutex<Vec<Option<JoinHandle<()>>>>,
    pub(crate) cancelled: AtomicU64,
    /// `spawn_batch` calls so far (numbers each batch's groups).
    pub(crate) batches: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) handler_panics: AtomicU64,
}

impl Registry {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        injector: Injector<JobRef>,
        stealers: Vec<Stealer<JobRef>>,
        steal_orders: Vec<Vec<usize>>,
        config: Config,
    ) -> Self {
        let n = stealers.len();
        Self {
            injector,
            inboxes: (0..n)
                .map(|_| Ring::new(INBOX_CAPACITY).expect("inbox capacity is valid"))
                .collect(),
            stealers: stealers.into_boxed_slice(),
            steal_orders: steal_orders
                .into_iter()
                .map(Vec::into_boxed_slice)
                .collect(),
            sleep: Sleep::new(n),
            counters: (0..n)
                .map(|_| CachePadded::new(Counters::default()))
                .collect(),
            share_requests: (0..n)
                .map(|_| CachePadded::new(AtomicBool::new(false)))
                .collect(),
            leaves: (0..n).map(|_| CachePadded::new(LeafSlot::new())).collect(),
            config,
            gate: CachePadded::new(AtomicUsize::new(0)),
            aborting: AtomicBool::new(false),
            resting: CachePadded::new(AtomicUsize::new(0)),
            quiescent: AtomicBool::new(false),
            blocked: CachePadded::new(AtomicUsize::new(0)),
            room: Mutex::new(()),
            room_freed: Condvar::new(),
            exited: Mutex::new(0),
            all_exited: Condvar::new(),
            threads: Mutex::new(Vec::new()),
            cancelled: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            handler_panics: AtomicU64::new(0),
        }
    }

    pub(crate) fn num_workers(&self) -> usize {
        self.stealers.len()
    }

    /// Whether this registry is the pool of the worker running on this thread.
    pub(crate) fn current_worker(&self) -> Option<&WorkerThread> {
        WorkerThread::current().filter(|w| std::ptr::eq(w.registry(), self))
    }

    // ----- admission -----------------------------------------------------

    /// Admits one outside submission, or refuses if the pool is closing. A
    /// successful call must be paired with [`Registry::end_admission`].
    pub(crate) fn begin_admission(&self) -> bool {
        // SeqCst: with `close` and `drained_admissions`, every decision is an
        // RMW or a load of this one word, so they are totally ordered: either
        // this admission comes first (and the workers wait for it), or it
        // sees the closing bit and backs out.
        let prev = self.gate.fetch_add(ADMISSION, Ordering::SeqCst);
        if prev & CLOSING != 0 {
            self.end_admission();
            return false;
        }
        true
    }

    pub(crate) fn end_admission(&self) {
        // SeqCst: as in `begin_admission`; the last admission out of a closing
        // pool wakes the workers waiting for it to leave.
        let prev = self.gate.fetch_sub(ADMISSION, Ordering::SeqCst);
        if prev == ADMISSION | CLOSING {
            self.sleep.wake_all();
        }
    }

    /// True once no outside work can arrive any more: workers may exit when
    /// they also find nothing to run.
    pub(crate) fn drained_admissions(&self) -> bool {
        // SeqCst: see `begin_admission`. Reading the final decrement also
        // makes the admitted push visible (it was released by that RMW).
        self.gate.load(Ordering::SeqCst) == CLOSING
    }

    /// Submits a job from outside the pool (or from another pool's worker),
    /// applying `overflow` when its level is full. On refusal the job comes
    /// back unexecuted.
    pub(crate) fn inject(
        &self,
        priority: Priority,
        job: JobRef,
        overflow: Overflow,
    ) -> Result<(), (JobRef, Refusal)> {
        if !self.begin_admission() {
            return Err((job, Refusal::ShutDown));
        }
        let result = match self.injector.push(priority, job) {
            Ok(()) => {
                self.sleep.notify_one_after_ring_push();
                Ok(())
            }
            Err(job) => match overflow {
                Overflow::Reject => Err((job, Refusal::Full)),
                Overflow::CallerRuns => {
                    self.run_on_caller(job);
                    Ok(())
                }
                Overflow::Block => {
                    self.push_blocking(priority, job);
                    Ok(())
                }
            },
        };
        self.end_admission();
        result
    }

    /// Submits many jobs from outside with one wake-up decision. A full
    /// queue blocks the caller (`block`) or stops the batch: the job refused
    /// comes back with the reason; later jobs are not consumed from `jobs`.
    pub(crate) fn inject_batch(
        &self,
        priority: Priority,
        jobs: &mut dyn Iterator<Item = JobRef>,
        block: bool,
    ) -> Result<usize, (usize, JobRef, Refusal)> {
        if !self.begin_admission() {
            return match jobs.next() {
                Some(job) => Err((0, job, Refusal::ShutDown)),
                None => Ok(0),
            };
        }
        // `jobs` runs the caller's code: if it panics, the admission still
        // ends (else shutdown would wait for it for ever).
        let mut admitted = BatchAdmission {
            registry: self,
            pushed: 0,
        };
        for job in jobs {
            if let Err(job) = self.injector.push(priority, job) {
                if !block {
                    return Err((admitted.pushed, job, Refusal::Full));
                }
                // The queue is full of this batch: get everyone working first.
                self.sleep.notify_many(self.num_workers());
                self.push_blocking(priority, job);
            }
            admitted.pushed += 1;
        }
        Ok(admitted.pushed)
    }

    fn run_on_caller(&self, job: JobRef) {
        // SAFETY: the job was refused by every queue, so this is its one run.
        if let Outcome::Panicked(panic) = unsafe { job.execute(Mode::Run) } {
            self.handle_panic(panic);
        }
    }

    /// Waits for room at `priority`, then pushes. Workers wake us after a take
    /// from the injector when `blocked` is non-zero.
    pub(crate) fn push_blocking(&self, priority: Priority, mut job: JobRef) {
        let mut guard = self.room.lock().unwrap_or_else(|e| e.into_inner());
        // SeqCst: Dekker with `room_was_freed`, which takes a job (a SeqCst
        // claim of `head`) and then reads `blocked`; the SeqCst loads of
        // `len_of` below complete it, in the total order of SeqCst
        // operations. Loom, which treats SeqCst accesses as AcqRel, needs a
        // fence for that order (`model_sc_order`, nothing in real builds).
        self.blocked.fetch_add(1, Ordering::SeqCst);
        crate::sync::model_sc_order();
        let mut yields = 0;
        loop {
            match self.injector.push(priority, job) {
                Ok(()) => break,
                Err(back) => job = back,
            }
            // A take may have claimed a slot without seeing us registered;
            // it is then still reading the value out, and will not wake us.
            // The level's count, read after registering, shows that claim
            // (unless another submitter has filled the slot since, and then
            // every later take sees us): wait for the slot, not for a
            // wake-up. The lock is let go meanwhile, for takers that notify.
            if yields < CLAIMED_SLOT_YIELDS
                && self.injector.len_of(priority) < self.injector.capacity_per_level()
            {
                yields += 1;
                drop(guard);
                crate::sync::thread::yield_now();
                guard = self.room.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            yields = 0;
            // Make sure someone is draining the queue we wait on.
            self.sleep.notify_one();
            // The timeout bounds the wait when the room is at our level but
            // other levels keep the total above the wake-up mark (see
            // `room_was_freed`).
            guard = self
                .room_freed
                .wait_timeout(guard, BLOCKED_RECHECK)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        self.blocked.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
        self.sleep.notify_one();
    }

    /// Called by a worker after it took a job from the injector.
    #[inline]
    pub(crate) fn room_was_freed(&self) {
        // No fence: the take claimed its positions with a SeqCst CAS of the
        // ring's `head`, and `blocked` is read with SeqCst below. Against
        // `push_blocking`, which registers, then reads `head`
        // (through `len_of`), this is Dekker's pattern in the total order of
        // SeqCst operations: either that read sees the claim (and the
        // submitter waits for the slot instead of a wake-up) or this read
        // sees the registration. A fence here would wait, on every take, for
        // the slot's release store to reach a line the submitter may hold.
        // Hysteresis: blocked submitters are woken once the injectors are at
        // most half full, not after every take, so that a submitter refills
        // many slots per wake-up instead of trading a futex round trip for
        // each batch taken (every level is then below half, including the
        // one the submitter waits on).
        if self.blocked.load(Ordering::SeqCst) > 0
            && self.injector.len() <= self.injector.capacity_per_level() / 2
        {
            let _guard = self.room.lock().unwrap_or_else(|e| e.into_inner());
            self.room_freed.notify_all();
        }
    }

    // ----- running --------------------------------------------------------

    /// Runs `task` on the calling thread, its panic to the panic handler.
    pub(crate) fn run_caught(&self, task: impl FnOnce()) {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task)) {
            self.handle_panic(panic);
        }
    }

    /// Gives a fire-and-forget task's panic to the handler. Never unwinds: a
    /// panicking handler is counted, so that no pool frame (a `join` waiting
    /// for a stolen job, say) is ever left by a panic that is not its own.
    pub(crate) fn handle_panic(&self, panic: Panic) {
        if let Some(handler) = &self.config.panic_handler {
            let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(panic)));
            if let Err(second) = handled {
                // Relaxed: a statistic.
                self.handler_panics.fetch_add(1, Ordering::Relaxed);
                // Dropping a payload can panic too; contain that as well.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(second)));
            }
        }
    }

    /// Whether any queue holds work (a snapshot, for a worker's last look).
    pub(crate) fn has_shared_work(&self) -> bool {
        !self.injector.is_empty()
            || self.stealers.iter().any(|s| !s.is_empty())
            || self.inboxes.iter().any(|i| !i.is_empty())
            || self.leaves.iter().any(|l| l.has_tasks())
    }

    // ----- shutdown -------------------------------------------------------

    /// Stops admission and wakes every worker so that it drains and exits.
    pub(crate) fn close(&self) {
        // SeqCst: see `begin_admission`.
        self.gate.fetch_or(CLOSING, Ordering::SeqCst);
        self.sleep.wake_all();
        // Blocked submitters were admitted; they wait for room, which the
        // draining workers make.
    }

    /// Counts `count` workers whose threads never started as resting, so
    /// that the started ones can exit (a failed `build`).
    pub(crate) fn never_started(&self, count: usize) {
        // SeqCst: as every change of `resting` (see `WorkerThread::rest`).
        self.resting.fetch_add(count, Ordering::SeqCst);
    }

    pub(crate) fn worker_exited(&self) {
        let mut exited = self.exited.lock().unwrap_or_else(|e| e.into_inner());
        *exited += 1;
        self.all_exited.notify_all();
    }

    /// Waits until every worker exited, or `timeout` passed; returns how many
    /// have not exited.
    pub(crate) fn wait_exited(&self, timeout: Option<Duration>) -> usize {
        let n = self.num_workers();
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        let mut exited = self.exited.lock().unwrap_or_else(|e| e.into_inner());
        while *exited < n {
            match deadline {
                None => {
                    exited = self
                        .all_exited
                        .wait(exited)
                        .unwrap_or_else(|e| e.into_inner());
                }
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        break;
                    }
                    exited = self
                        .all_exited
                        .wait_timeout(exited, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        n - *exited
    }

    // ----- metrics --------------------------------------------------------

    pub(crate) fn metrics(&self) -> PoolMetrics {
        let workers = self
            .counters
            .iter()
            .zip(self.stealers.iter())
            .map(|(c, s)| WorkerMetrics::read(c, s.len()))
            .collect();
        PoolMetrics::new(
            workers,
            Priority::ALL.map(|p| self.injector.len_of(p)),
            self.cancelled.load(Ordering::Relaxed),
            self.sleep.sleeping(),
            self.restarts.load(Ordering::Relaxed),
            self.handler_panics.load(Ordering::Relaxed),
        )
    }
}
