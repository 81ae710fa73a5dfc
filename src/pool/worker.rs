//! A worker thread: its loop, how it finds work, and how it waits without
//! blocking (join, JoinHandle) by running other work meanwhile.
//!
//! Search order: own deque (LIFO, hot in cache), own broadcast inbox, the
//! priority injectors (anti-starvation rule), then siblings' deques in the
//! topology's nearest-first order.

use std::cell::Cell;
use std::ptr;
use std::time::Instant;

use crate::deque::{self, Steal};
use crate::injector::Priority;
use crate::metrics::Counters;
use crate::sleep::Wake;
use crate::sync::{thread_local, Arc, AtomicBool, Ordering};

use super::job::{JobRef, Mode, Outcome};
use super::join::OpenJoins;
use super::latch::WorkerLatch;
use super::leaf::LeafSlot;
use super::registry::Registry;

/// A worker's first leaf of each batch (see `group.rs`): one task, as
/// nothing is known yet of how long the batch's tasks take. Two under loom,
/// so that the models cover a published leaf from the first slice on.
const FIRST_LEAF: usize = if cfg!(loom) { 2 } else { 1 };

/// The most tasks a worker takes from a non-urgent injector level at once.
const INJECT_BATCH: usize = 8;

/// One idle search round in this many also checks for shutdown.
const RARE_ROUNDS: u32 = 64;

/// How long an idle worker looks for work with pause hints only; after that
/// it stops counting as a searcher and yields its CPU between rounds (see
/// [`Spin`]).
const YIELD_AFTER: std::time::Duration = std::time::Duration::from_micros(20);

#[cfg(not(loom))]
thread_local! {
    static CURRENT: Cell<*const WorkerThread> = const { Cell::new(ptr::null()) };
}

// Loom's thread_local! takes no `const` initializer.
#[cfg(loom)]
thread_local! {
    static CURRENT: Cell<*const WorkerThread> = Cell::new(ptr::null());
}

/// How a worker's rest at shutdown ended (see `WorkerThread::rest`).
enum Rest {
    /// Every worker rests with nothing queued.
    Exit,
    /// Work may have appeared: look again, searching if woken as a searcher.
    Woken(Wake),
}

/// The state a worker thread keeps to itself.
pub(crate) struct WorkerThread {
    index: usize,
    deque: deque::Worker<JobRef>,
    registry: Arc<Registry>,
    open_joins: OpenJoins,
    /// This worker's entry in `registry.share_requests`, read on every join.
    share_request: *const AtomicBool,
    /// Whether this worker raised siblings' share requests while it looked
    /// for work; it lowers them as soon as it stops looking (it runs a job,
    /// its wait ends, or it exits).
    raised_requests: Cell<bool>,
    /// How many tasks to run from a batch's slice at once, and the batch it
    /// was measured on (see `group.rs`).
    batch_leaf: Cell<(u64, usize)>,
}

// SAFETY: a WorkerThread is moved to its thread once, before it runs; its raw
// pointer points into the registry it holds an `Arc` to, and its open-join
// list is empty then (see `OpenJoins`).
unsafe impl Send for WorkerThread {}

impl WorkerThread {
    pub(crate) fn new(index: usize, deque: deque::Worker<JobRef>, registry: Arc<Registry>) -> Self {
        let share_request: *const AtomicBool = &*registry.share_requests[index];
        Self {
            index,
            deque,
            registry,
            open_joins: OpenJoins::new(),
            share_request,
            raised_requests: Cell::new(false),
            batch_leaf: Cell::new((u64::MAX, FIRST_LEAF)),
        }
    }

    #[inline]
    pub(crate) fn open_joins(&self) -> &OpenJoins {
        &self.open_joins
    }

    /// Whether a sibling asked this worker to share work.
    #[inline]
    pub(crate) fn share_requested(&self) -> bool {
        // SAFETY: points into the registry, which `self.registry` keeps alive.
        let request = unsafe { &*self.share_request };
        // Relaxed: a hint; acting on it late only delays an offer.
        request.load(Ordering::Relaxed)
    }

    /// Lowers the share requests this worker raised while it looked for
    /// work, now that it stopped looking: a raised request makes the sibling
    /// track every join and offer one on each, which is only worth it while
    /// someone waits. (Another thief's request on the same sibling goes down
    /// too; it raises it again on its next empty steal.)
    #[inline]
    fn lower_share_requests(&self) {
        if self.raised_requests.get() {
            self.lower_raised_requests();
        }
    }

    #[cold]
    fn lower_raised_requests(&self) {
        self.raised_requests.set(false);
        let registry = &*self.registry;
        for &victim in registry.steal_orders[self.index].iter() {
            let request = &registry.share_requests[victim];
            // Relaxed: a hint (see `share_requested`). Read first, to keep
            // the line shared when there is nothing to lower.
            if request.load(Ordering::Relaxed) {
                request.store(false, Ordering::Relaxed);
            }
        }
    }

    /// How many tasks of batch `batch` to run at once: one for a batch not
    /// yet measured here.
    #[inline]
    pub(crate) fn batch_leaf(&self, batch: u64) -> usize {
        match self.batch_leaf.get() {
            (measured, leaf) if measured == batch => leaf,
            _ => FIRST_LEAF,
        }
    }

    #[inline]
    pub(crate) fn set_batch_leaf(&self, batch: u64, leaf: usize) {
        self.batch_leaf.set((batch, leaf));
    }

    /// Whether a leaf of a batch should stop before its next task (leaving
    /// the rest in the leaf slot, which `pop_own` takes back after): urgent
    /// work waits in the injector, or a timed-out shutdown is cancelling
    /// what is queued. (Idle siblings need no signal: they take the rest
    /// from the slot themselves.)
    #[inline]
    pub(crate) fn leaf_should_end(&self) -> bool {
        self.registry.injector.has_urgent()
            // Relaxed: a late view only runs one more task of the leaf.
            || self.registry.aborting.load(Ordering::Relaxed)
    }

    /// This worker's leaf slot (`leaf.rs`).
    #[inline]
    pub(crate) fn leaf_slot(&self) -> &LeafSlot {
        &self.registry.leaves[self.index]
    }

    /// Wakes a sleeper, if none searches, for the tasks of a leaf just
    /// published: if the task this worker runs first blocks, someone else
    /// must be awake to take the rest.
    #[inline]
    pub(crate) fn announce_leaf(&self) {
        self.registry.sleep.notify_one();
    }

    /// The worker running on this thread, if any.
    #[inline]
    pub(crate) fn current() -> Option<&'static WorkerThread> {
        let ptr = CURRENT.with(Cell::get);
        // SAFETY: CURRENT is non-null only while `run_thread` is executing on
        // this thread with the WorkerThread alive in its frame; anything that
        // can observe the pointer runs inside that frame.
        unsafe { ptr.as_ref() }
    }

    #[inline]
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    #[inline]
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn registry_arc(&self) -> &Arc<Registry> {
        &self.registry
    }

    fn counters(&self) -> &Counters {
        &self.registry.counters[self.index]
    }

    // ----- the thread -----------------------------------------------------

    /// The body of a worker thread: hooks, pinning, the loop, and restarts.
    pub(crate) fn run_thread(self) {
        let registry = self.registry.clone();
        let index = self.index;
        #[cfg(not(loom))]
        if let Some(cpus) = &registry.config.pin[index] {
            if crate::topology::pin_current_thread(cpus).is_err() {
                self.counters().bump(&self.counters().pin_failures);
            }
        }
        CURRENT.with(|c| c.set(&self));
        if let Some(hook) = &registry.config.on_thread_start {
            if let Err(panic) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(index)))
            {
                registry.handle_panic(panic);
            }
        }
        // A panic escaping the task boundary (a panicking panic handler) must
        // not lose the worker: it resumes its loop with the same deque.
        while std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.main_loop())).is_err() {
            // Relaxed: a statistic.
            registry.restarts.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(hook) = &registry.config.on_thread_exit {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(index)));
        }
        CURRENT.with(|c| c.set(ptr::null()));
        drop(self);
        registry.worker_exited();
    }

    fn main_loop(&self) {
        let mut searching = false;
        loop {
            if let Some(job) = self.find_work(&mut searching) {
                self.execute(job);
                continue;
            }
            if self.registry.drained_admissions() && !self.has_work() {
                self.leave_search(&mut searching);
                self.lower_share_requests();
                match self.rest() {
                    Rest::Exit => return,
                    Rest::Woken(wake) => {
                        searching = wake == Wake::Searching;
                        continue;
                    }
                }
            }
            self.counters().bump(&self.counters().parks);
            let wake = self.registry.sleep.park(self.index, searching, || {
                self.has_work() || self.registry.drained_admissions()
            });
            searching = wake == Wake::Searching;
        }
    }

    /// At shutdown, with nothing queued: a sibling may still be running a
    /// task that spawns more work and waits for it, so this worker exits only
    /// once every worker rests with nothing queued (no task runs, so none can
    /// spawn). Until then it sleeps, and it leaves the rest before it takes
    /// any work. An aborted shutdown does not end a rest: a sibling's task
    /// may still wait on a must-run job it spawns.
    fn rest(&self) -> Rest {
        let registry = &*self.registry;
        // SeqCst, though only the RMW chain is needed (AcqRel): each resting
        // worker found nothing queued after its own pushes, and took whatever
        // it took before its increment, so the increment that completes the
        // count reads all of that and the look below sees what is left.
        let resting = registry.resting.fetch_add(1, Ordering::SeqCst) + 1;
        if resting == registry.num_workers() && !self.has_work() {
            // SeqCst: a resting worker reads it in its last look, after
            // joining the sleepers under the lock that `wake_all` takes next,
            // or after that wake-up's notification.
            registry.quiescent.store(true, Ordering::SeqCst);
            registry.sleep.wake_all();
            return Rest::Exit;
        }
        // SeqCst: as the store above.
        let quiescent = || registry.quiescent.load(Ordering::SeqCst);
        // Park's last look returns at once if work or the end is already
        // there.
        self.counters().bump(&self.counters().parks);
        let wake = registry
            .sleep
            .park(self.index, false, || self.has_work() || quiescent());
        if quiescent() {
            if wake == Wake::Searching {
                // Counted as a searcher by its waker: undo that on the way out.
                self.stop_searching();
            }
            return Rest::Exit;
        }
        // SeqCst: as the increment.
        registry.resting.fetch_sub(1, Ordering::SeqCst);
        Rest::Woken(wake)
    }

    // ----- finding work ---------------------------------------------------

    /// Own deque first; then, searching (if allowed) for up to the idle-spin
    /// window, the shared queues.
    fn find_work(&self, searching: &mut bool) -> Option<JobRef> {
        if let Some(job) = self.pop_own() {
            // Urgent injected work comes through here too, possibly to a
            // worker woken as a searcher for it.
            self.leave_search(searching);
            return Some(job);
        }
        // Every idle worker looks for `idle_spin`; only the searchers count
        // as such, so that submitters still wake sleepers when none searches,
        // and a worker stops counting once it yields (see `Spin`). A worker
        // that is not searching yet takes its first look before it counts:
        // one back from a task with more queued, or woken not searching for
        // a single outside spawn, usually finds work at once, and then pays
        // neither the RMW that begins a search nor the one that ends it (both
        // on the line every outside spawn reads) in front of the task.
        let mut spin = Spin::new(self.registry.config.idle_spin);
        loop {
            if let Some(job) = self.find_shared_work() {
                self.leave_search(searching);
                return Some(job);
            }
            // The gate is read only now and then: a spinning worker that
            // reads it every round keeps its line shared, and every outside
            // submitter's admission RMW must then take it back (a cross-core
            // miss in front of each spawn). Shutdown is still seen within a
            // few microseconds, and at once by `main_loop` after the window.
            if !spin.again() || (spin.rare_round() && self.registry.drained_admissions()) {
                return None;
            }
            if !self.stop_searching_to_yield(&spin, searching) && !*searching {
                *searching = self.registry.sleep.try_begin_search();
            }
        }
    }

    /// Leaves the searching state, if in it (on finding work, or before
    /// yielding).
    fn leave_search(&self, searching: &mut bool) {
        if *searching {
            *searching = false;
            self.stop_searching();
        }
    }

    /// Once `spin` is about to yield, leaves the searching state (if in it)
    /// and returns true: a worker that yields may lose its CPU to another
    /// thread for a time slice, and submitters must not count on it then.
    fn stop_searching_to_yield(&self, spin: &Spin, searching: &mut bool) -> bool {
        if spin.yielding() {
            self.leave_search(searching);
        }
        spin.yielding()
    }

    /// Leaves the searching state, having found work or about to yield; the
    /// last searcher wakes another worker, as submitters skipped waking
    /// anyone while it searched.
    ///
    /// Only if work is left: ending the search (a SeqCst RMW) before the
    /// look means that a submitter which skipped waking anyone because we
    /// searched published work this look sees. The task just found is not
    /// delayed by a wake-up nobody needs.
    fn stop_searching(&self) {
        if self.registry.sleep.end_search() && self.has_work() {
            self.registry.sleep.notify_one();
        }
    }

    /// The own deque, unless urgent (Critical or High) work waits in the
    /// injector: that goes first, so urgent tasks overtake local backlogs at
    /// the next task boundary.
    #[inline]
    fn pop_own(&self) -> Option<JobRef> {
        if self.registry.injector.has_urgent() {
            if let Some(job) = self.take_injected() {
                return Some(job);
            }
        }
        // A leaf left unfinished for urgent work or a shutdown comes first:
        // it is older than anything on the deque.
        if let Some(job) = self.leaf_slot().take(self.index as u16) {
            self.counters().bump(&self.counters().local_pops);
            return Some(job);
        }
        let job = self.deque.pop()?;
        self.counters().bump(&self.counters().local_pops);
        Some(job)
    }

    fn find_shared_work(&self) -> Option<JobRef> {
        self.registry.inboxes[self.index]
            .pop()
            .or_else(|| self.take_injected())
            .or_else(|| self.steal())
    }

    /// Takes from the injectors: one urgent task, or a small batch of less
    /// urgent ones (the rest into the own deque, where siblings can steal
    /// them), so that a stream of outside spawns costs one claim per batch.
    fn take_injected(&self) -> Option<JobRef> {
        let registry = &*self.registry;
        // Room as `push` sees it: slots a thief is still copying from are
        // not free yet, even though `len` no longer counts them.
        let room = self.deque.free_room() as usize;
        let batch = INJECT_BATCH.min(room + 1);
        let mut rest = [None; INJECT_BATCH];
        let mut taken = 0;
        let job = registry.injector.pop_batch(batch, |job| {
            rest[taken] = Some(job);
            taken += 1;
        })?;
        // Newest first, so that the own deque's LIFO pops run them in
        // submission order.
        for job in rest[..taken].iter().rev().flatten() {
            if let Err(job) = self.deque.push(*job) {
                unreachable!("deque room was checked before the batch: {job:?}");
            }
        }
        self.counters().bump(&self.counters().injector_pops);
        registry.room_was_freed();
        Some(job)
    }

    fn steal(&self) -> Option<JobRef> {
        let registry = &*self.registry;
        // A few passes: `Retry` means a victim was busy, not empty.
        for _ in 0..4 {
            let mut retry = false;
            for &victim in registry.steal_orders[self.index].iter() {
                match registry.stealers[victim].steal_batch_and_pop(&self.deque) {
                    Steal::Success(job) => {
                        self.counters().bump(&self.counters().stolen);
                        return Some(job);
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {
                        // The victim may run a leaf of a batch: its tasks not
                        // yet started are ours to take.
                        if let Some(job) = registry.leaves[victim].take(self.index as u16) {
                            self.counters().bump(&self.counters().stolen);
                            return Some(job);
                        }
                        // The victim may be deep in joins it has not offered:
                        // ask it to share. Read first, to keep its line shared.
                        let request = &registry.share_requests[victim];
                        // Relaxed: a hint for the victim's next join.
                        if !request.load(Ordering::Relaxed) {
                            request.store(true, Ordering::Relaxed);
                        }
                        self.raised_requests.set(true);
                    }
                }
            }
            if !retry {
                return None;
            }
            crate::sync::spin_loop();
        }
        None
    }

    fn has_work(&self) -> bool {
        !self.deque.is_empty() || self.registry.has_shared_work()
    }

    // ----- running --------------------------------------------------------

    /// Runs one job taken from a queue and accounts for it. Never unwinds.
    pub(crate) fn execute(&self, job: JobRef) {
        self.lower_share_requests();
        // Relaxed: a late view only delays cancellation by one job.
        let mode = if self.registry.aborting.load(Ordering::Relaxed) {
            Mode::Cancel
        } else {
            Mode::Run
        };
        // SAFETY: every JobRef is executed exactly once: this one was taken
        // out of a queue by this thread, or no queue took it (`push`) and it
        // is run here instead.
        self.account(unsafe { job.execute(mode) });
    }

    /// Counts `tasks` that ran without a panic, at once: a leaf counts its
    /// tasks once at its end rather than one by one.
    pub(crate) fn account_ran(&self, tasks: usize) {
        let counters = self.counters();
        counters.add(&counters.executed, tasks as u64);
    }

    /// Counts what running a task did; hands its panic to the handler.
    pub(crate) fn account(&self, outcome: Outcome) {
        let counters = self.counters();
        match outcome {
            Outcome::Ran => counters.bump(&counters.executed),
            Outcome::Panicked(panic) => {
                counters.bump(&counters.executed);
                counters.bump(&counters.panicked);
                self.registry.handle_panic(panic);
            }
            Outcome::Cancelled(tasks) => {
                // Relaxed: a statistic.
                self.registry
                    .cancelled
                    .fetch_add(tasks as u64, Ordering::Relaxed);
            }
            // Counted by the handle that cancelled it, or by the batch slice
            // that ran it.
            Outcome::Skipped => {}
        }
    }

    /// Pushes a job spawned by a task running on this worker. Normal priority
    /// goes to the own deque (no shared write); other priorities go to the
    /// injector, so that every worker sees them. A worker never blocks on a
    /// full queue: if the queue has no room, it runs the job now.
    ///
    /// A full deque does not move work to the injector: its siblings are
    /// already stealing from that backlog, and the move put each task it
    /// moved through one more queue, paid for by the spawning worker, which
    /// is the one that limits such a stream (docs/benchmarks.md).
    pub(crate) fn push(&self, priority: Priority, job: JobRef) {
        if let Err(job) = self.push_to_first_choice(priority, job) {
            self.execute(job);
        }
    }

    /// Like `push`, but hands the job back instead of running it when no
    /// queue has room (`try_spawn`, `Overflow::Reject`): a Normal job the
    /// full deque refused tries the injector before it comes back.
    pub(crate) fn try_push(&self, priority: Priority, job: JobRef) -> Result<(), JobRef> {
        match self.push_to_first_choice(priority, job) {
            Err(job) if priority == Priority::Normal => {
                self.registry.injector.push(priority, job)?;
                self.registry.sleep.notify_one();
                Ok(())
            }
            queued => queued,
        }
    }

    /// The queue a spawn from this worker tries first: the own deque for
    /// Normal, the injector for the rest; wakes a sibling if it took the job.
    fn push_to_first_choice(&self, priority: Priority, job: JobRef) -> Result<(), JobRef> {
        let queued = if priority == Priority::Normal {
            self.deque.push(job)
        } else {
            self.registry.injector.push(priority, job)
        };
        if queued.is_ok() {
            self.registry.sleep.notify_one();
        }
        queued
    }

    // ----- waiting without blocking ------------------------------------------

    /// Offers a `join`'s `b` to thieves; false if the deque is full.
    pub(crate) fn push_for_join(&self, job: JobRef) -> bool {
        match self.deque.push(job) {
            Ok(()) => {
                self.registry.sleep.notify_one();
                true
            }
            Err(_) => false,
        }
    }

    /// Pops the own deque (for `join`'s pop-back).
    #[inline]
    pub(crate) fn pop_local(&self) -> Option<JobRef> {
        self.deque.pop()
    }

    /// Runs other work until `latch` is set; sleeps through the pool's sleep
    /// protocol when there is nothing to do.
    pub(crate) fn wait_until(&self, latch: &WorkerLatch) {
        self.wait_until_with(|| latch.probe(), || latch.prepare_sleep());
    }

    /// The general waiting loop: `done` says when to stop; `prepare_sleep`
    /// registers the wish to be woken and returns false if already done.
    pub(crate) fn wait_until_with(
        &self,
        done: impl Fn() -> bool,
        prepare_sleep: impl Fn() -> bool,
    ) {
        let mut searching = false;
        loop {
            if done() {
                break;
            }
            if let Some(job) = self.pop_own() {
                self.leave_search(&mut searching);
                self.execute(job);
                continue;
            }
            if !searching {
                searching = self.registry.sleep.try_begin_search();
            }
            let mut spin = Spin::new(self.registry.config.idle_spin);
            let mut found = None;
            while found.is_none() && !done() {
                found = self.find_shared_work();
                if found.is_none() {
                    if !spin.again() {
                        break;
                    }
                    self.stop_searching_to_yield(&spin, &mut searching);
                }
            }
            if let Some(job) = found {
                self.leave_search(&mut searching);
                self.execute(job);
                continue;
            }
            if done() || !prepare_sleep() {
                break;
            }
            self.counters().bump(&self.counters().parks);
            let wake = self
                .registry
                .sleep
                .park(self.index, searching, || done() || self.has_work());
            searching = wake == Wake::Searching;
        }
        if searching {
            self.stop_searching();
        }
        self.lower_share_requests();
    }
}

/// Bounds an idle search by time: spins with a pause hint, checking the clock
/// every few rounds; after [`YIELD_AFTER`] it yields the CPU every few rounds
/// instead. Unpinned workers and outside submitters share CPUs, and a worker
/// spinning for its whole window on the CPU of a submitter, the only source
/// of its work, kept that submitter off its CPU: external spawn parked and
/// woke both workers hundreds of times per million tasks, and a submitter
/// spawning a burst after an idle spell waited milliseconds for it. A
/// yielding worker stops counting as a searcher first (`find_work`): one that
/// lost its CPU for a time slice while submitters relied on it and woke
/// nobody was the reason this loop never yielded before.
///
/// A round pauses once: a pause costs tens of nanoseconds or more on current
/// x86 cores, and work published during a round waits for its end, so every
/// pause added to a round puts half of it in front of each task found by
/// spinning (rounds of up to four pauses measured slower; see
/// docs/benchmarks.md, "A searching worker pauses once per round").
struct Spin {
    window: std::time::Duration,
    start: Option<Instant>,
    rounds: u32,
    yielding: bool,
}

impl Spin {
    fn new(window: std::time::Duration) -> Self {
        Self {
            window,
            start: None,
            rounds: 0,
            yielding: false,
        }
    }

    /// Waits a little; false once the window is over.
    fn again(&mut self) -> bool {
        if cfg!(loom) {
            // No clock under loom: two more looks, then give up. The first
            // comes after the caller could begin a search (so the models
            // cover a worker's own search, which starts after its first
            // look); the second as a worker past `YIELD_AFTER` (so they
            // cover the search's hand-off before a yield).
            self.rounds += 1;
            self.yielding = self.rounds >= 2;
            return self.rounds < 3;
        }
        if self.window.is_zero() {
            return false;
        }
        self.rounds = self.rounds.wrapping_add(1);
        crate::sync::spin_loop();
        if self.rounds % 4 == 0 {
            let start = *self.start.get_or_insert_with(Instant::now);
            let spun = start.elapsed();
            if spun >= self.window {
                return false;
            }
            // Yield only from the check after the one that found the
            // search long: the caller ends its search in between.
            if self.yielding {
                crate::sync::thread::yield_now();
            }
            self.yielding = spun >= YIELD_AFTER;
        }
        true
    }

    /// Whether the search has gone on long enough to yield between rounds.
    fn yielding(&self) -> bool {
        self.yielding
    }

    /// True on one round in `RARE_ROUNDS`: for checks that may lag a little
    /// and whose reads would otherwise disturb other cores every round.
    /// Always under loom, whose searches last a few rounds: the models then
    /// cover the check.
    fn rare_round(&self) -> bool {
        cfg!(loom) || self.rounds % RARE_ROUNDS == 0
    }
}
