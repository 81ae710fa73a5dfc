//! The tasks of one `spawn_batch`, handed over in groups: up to
//! [`GROUP_TASKS`] closures in one allocation behind one job, rather than one
//! queue slot per task.
//!
//! A group travels as a [`Slice`]: the group and a run of its tasks. A worker
//! that runs a slice takes a *leaf* of tasks from its front and puts the
//! rest back as a new slice (on its deque, or in the injector for urgent
//! batches), where thieves can take it. It runs the leaf's tasks one after
//! another without going back to its queues, each with its own panic
//! boundary, but first publishes the leaf in its leaf slot (`leaf.rs`) and
//! claims each task from there: an idle sibling takes the tasks not yet
//! started, so a task that runs long or blocks holds back no other. A worker
//! that runs a slice another worker put on its deque (it stole it) first
//! splits it and leaves the back half on its own deque for the next thief: a
//! group spreads over the pool in a few steals, not one steal per task.
//!
//! Leaves start at one task for each batch and worker; after each leaf the
//! worker sizes the next from the time its tasks took: as many as fit in
//! [`LEAF_TIME`], up to [`LEAF_MAX`]. Microsecond tasks run a whole group
//! at a time, long ones one at a time.
//!
//! Why: with a queue slot per task, each worker of the batch workload spent
//! about 120 ns per task beyond the task itself (the slot crossing cores, a
//! shared claim per few tasks, a pop, the execution's bookkeeping; see
//! `docs/benchmarks.md`), and with a deque push and pop per task (a group
//! without leaves) no less. A leaf pays that once for up to a group's tasks,
//! and a claim from the leaf slot (a CAS on a line only its owner uses while
//! every worker is busy) per task.
//!
//! What a group changes for the queue bound: the injector counts a group as
//! one entry, so under `Overflow::Block` a batch can hold up to
//! `GROUP_TASKS` times the queue capacity in tasks, and the anti-starvation
//! rule counts a group as one take.

use std::mem::MaybeUninit;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};
#[cfg(not(loom))]
use std::time::{Duration, Instant};

use crate::injector::Priority;
use crate::sync::{AtomicUsize, Ordering, UnsafeCell};

use super::job::{JobRef, Outcome, OwnedJob, Runnable};
use super::leaf::Claim;
use super::registry::Registry;
use super::worker::WorkerThread;

/// The most tasks in one group. Small enough that a group is a fraction of
/// a millisecond of microsecond tasks (so the anti-starvation rule, which
/// counts groups, stays close to counting tasks), large enough that the
/// group's own cost (an allocation, an injector slot, a count of its slices)
/// is a few nanoseconds per task.
pub(crate) const GROUP_TASKS: usize = if cfg!(loom) { 3 } else { 64 };

// A leaf slot's word keeps a run's bounds in eight bits each.
const _: () = assert!(GROUP_TASKS <= u8::MAX as usize);

/// `Slice::owner` of a slice that no worker has put on a deque yet (worker
/// indexes are below `MAX_THREADS`, far below this).
const NO_OWNER: u16 = u16::MAX;

/// The most tasks a worker runs from a slice before it looks at its queues
/// again: a whole group.
const LEAF_MAX: usize = if cfg!(loom) { 2 } else { GROUP_TASKS };

/// The time a leaf aims at. Urgent work and a timed-out shutdown are checked
/// between a leaf's tasks, and idle siblings take its tasks not yet started
/// from the slot, so this bounds only how long the worker's own queues (its
/// deque, aged lower priority levels) wait: long enough that microsecond
/// tasks run a group per leaf (a leaf's own cost, a publication, updates of
/// the group's count, a wake-up check and the clock, is then paid once per
/// group; see `docs/benchmarks.md`), and still far under a millisecond.
#[cfg(not(loom))]
const LEAF_TIME: Duration = Duration::from_micros(80);

struct Group<F> {
    /// Slices of this group not yet dropped; the last one frees the group.
    slices: AtomicUsize,
    /// Which `spawn_batch` call the group came from.
    batch: u64,
    /// The batch's priority: slices put back go to the deque (Normal) or to
    /// the injector at this level, so urgent batches stay visible as such.
    priority: Priority,
    /// The pool whose queues carry the group: only its workers may put the
    /// group's slices on their deques.
    registry: *const Registry,
    /// Each slot is moved out once, by the one slice whose run covers it.
    tasks: Box<[UnsafeCell<MaybeUninit<F>>]>,
}

/// A run of a group's tasks, `start..end`; no two slices overlap.
pub(crate) struct Slice<F> {
    group: NonNull<Group<F>>,
    start: u16,
    end: u16,
    /// The worker that put this slice on its deque, or [`NO_OWNER`].
    owner: u16,
}

// SAFETY: a slice owns its tasks (moving it moves them) and shares with other
// slices only the group's count (an atomic) and read-only fields (the
// registry is only compared, or used through `&Registry`, which is `Sync`);
// `F: Send` lets the tasks move, and the group they live in may be freed by
// the last slice on any thread.
unsafe impl<F: Send> Send for Slice<F> {}

impl<F> Slice<F> {
    /// How many tasks the slice still holds.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.end - self.start)
    }

    fn group(&self) -> &Group<F> {
        // SAFETY: the group lives until its last slice is dropped, and this
        // one is not yet.
        unsafe { self.group.as_ref() }
    }

    /// Moves the first task out of the slice.
    fn take_first(&mut self) -> F {
        debug_assert!(self.start < self.end);
        let index = self.start;
        self.start += 1;
        // SAFETY: `index` was in this slice's run, which no other slice
        // covers, and `start` only grows, so it was not moved out before.
        unsafe { self.read_task(index) }
    }

    /// Moves task `index` out of the group.
    ///
    /// # Safety
    /// The caller owns task `index` (its slice's run, or a claim from a leaf
    /// slot), which was not moved out before.
    unsafe fn read_task(&self, index: u16) -> F {
        self.group().tasks[usize::from(index)].with_mut(|slot| {
            // SAFETY: by the contract, the slot still holds the task written
            // by `gather`, and this is its one move out.
            unsafe { (*slot).assume_init_read() }
        })
    }
}

impl<F: FnOnce() + Send + 'static> Slice<F> {
    /// A number for a new `spawn_batch` call on `registry`, for
    /// [`gather`](Self::gather): a worker's leaf size starts again at one for
    /// a new batch rather than carry over from one of shorter tasks.
    pub(crate) fn new_batch(registry: &Registry) -> u64 {
        // Relaxed: only a label; nothing is published through it.
        registry.batches.fetch_add(1, Ordering::Relaxed)
    }

    /// Moves up to [`GROUP_TASKS`] tasks from `tasks` into a new group of
    /// batch `batch` for `registry`; `None` once `tasks` is exhausted.
    pub(crate) fn gather(
        registry: &Registry,
        batch: u64,
        priority: Priority,
        tasks: &mut impl Iterator<Item = F>,
    ) -> Option<Self> {
        // Collected as plain values first: if the caller's iterator panics,
        // the tasks taken so far are dropped, not leaked.
        let taken: Vec<F> = tasks.take(GROUP_TASKS).collect();
        if taken.is_empty() {
            return None;
        }
        let tasks: Box<[UnsafeCell<MaybeUninit<F>>]> = taken
            .into_iter()
            .map(|task| UnsafeCell::new(MaybeUninit::new(task)))
            .collect();
        // At most GROUP_TASKS, far below u16::MAX.
        let end = tasks.len() as u16;
        let group = Box::new(Group {
            slices: AtomicUsize::new(1),
            batch,
            priority,
            registry,
            tasks,
        });
        Some(Self {
            group: NonNull::from(Box::leak(group)),
            start: 0,
            end,
            owner: NO_OWNER,
        })
    }

    /// The slice's tasks, in order, for a caller whose submission was
    /// refused: nothing ran.
    pub(crate) fn into_tasks(mut self) -> Vec<F> {
        let mut tasks = Vec::with_capacity(self.len());
        while self.start < self.end {
            tasks.push(self.take_first());
        }
        tasks
    }

    /// Splits off `at..end` as a slice of its own, owned by `owner`.
    fn split_off_at(&mut self, at: u16, owner: u16) -> Self {
        debug_assert!(self.start < at && at < self.end);
        // Relaxed: as for an `Arc` clone, the new slice reaches other threads
        // only through a queue, whose hand-over orders it after this count.
        self.group().slices.fetch_add(1, Ordering::Relaxed);
        let back = Self {
            group: self.group,
            start: at,
            end: self.end,
            owner,
        };
        self.end = at;
        back
    }

    /// Takes back `back`, split off this slice's end and refused by every
    /// queue.
    fn absorb(&mut self, mut back: Self) {
        debug_assert!(back.start == self.end);
        self.end = back.end;
        // Its tasks are ours again: `back` drops only its count (never the
        // last, as `self` holds one).
        back.start = back.end;
    }

    /// Puts `at..end` back where other workers can take it; when no queue has
    /// room, keeps it (the leaf then runs it too, rather than going deeper
    /// into nested runs).
    fn offer_from(&mut self, at: u16, worker: &WorkerThread) {
        let rest = self.split_off_at(at, worker.index() as u16);
        let priority = self.group().priority;
        // SAFETY: the tasks are 'static.
        let job = unsafe { OwnedJob::into_job_ref(rest) };
        if let Err(job) = worker.try_push(priority, job) {
            // SAFETY: made from a `Slice<F>` just above and refused unrun.
            self.absorb(unsafe { OwnedJob::<Self>::reclaim(job) });
        }
    }

    /// On a worker of the group's pool: a leaf of tasks from the front, the
    /// rest back on the deque first (and, if this slice was stolen, its back
    /// half before that, for the next thief).
    fn run_on(mut self, worker: &WorkerThread) {
        let me = worker.index() as u16;
        if self.owner != me && self.owner != NO_OWNER && self.len() > 1 {
            let mid = self.start + (self.end - self.start).div_ceil(2);
            self.offer_from(mid, worker);
        }
        let batch = self.group().batch;
        // One task, unpublished, while urgent work waits or the slot still
        // holds the rest of an interrupted leaf.
        let leaf = if worker.leaf_should_end() || !worker.leaf_slot().is_free() {
            1
        } else {
            worker.batch_leaf(batch)
        };
        let leaf = leaf.min(self.len());
        if self.len() > leaf {
            self.offer_from(self.start + leaf as u16, worker);
        }
        let clock = LeafClock::start();
        let ran = if self.len() > 1 {
            self.run_published(worker)
        } else {
            let task = self.take_first();
            worker.account(run_task(task));
            1
        };
        worker.set_batch_leaf(batch, clock.next_leaf(ran));
    }

    /// Runs this slice as a leaf published in the worker's leaf slot, where
    /// idle siblings can take the tasks not yet started (`leaf.rs`); returns
    /// how many tasks ran here. Leaves the rest in the slot if urgent work or
    /// a timed-out shutdown interrupts it: `pop_own` takes it back.
    fn run_published(&mut self, worker: &WorkerThread) -> usize {
        let slot = worker.leaf_slot();
        // The slot's own count on the group; whoever empties it inherits it.
        // Relaxed: as in `split_off_at`; the publication below orders it.
        self.group().slices.fetch_add(1, Ordering::Relaxed);
        let publication = slot.publish(
            self.group.as_ptr() as *mut (),
            slice_job::<F>,
            self.start,
            self.end,
        );
        // The tasks are the slot's now; `self` only keeps the group alive
        // while this thread reads from it.
        self.start = self.end;
        worker.announce_leaf();
        let mut ran = 0;
        // Tasks that returned normally, counted in one go at the end.
        let mut clean = 0;
        while ran == 0 || !worker.leaf_should_end() {
            let Claim::Task { index, last } = slot.claim(publication) else {
                break;
            };
            if last {
                // The slot's count, inherited by emptying it. Relaxed: never
                // the last one, as `self` holds another, whose drop (AcqRel)
                // orders this thread's reads of the group before the free.
                self.group().slices.fetch_sub(1, Ordering::Relaxed);
            }
            // SAFETY: the claim gave this thread task `index`.
            let task = unsafe { self.read_task(index) };
            match run_task(task) {
                Outcome::Ran => clean += 1,
                outcome => worker.account(outcome),
            }
            ran += 1;
        }
        worker.account_ran(clean);
        ran
    }

    /// Off the pool's workers: every task here, each panic to the pool's
    /// handler. (Nothing runs a slice there today: a refused group comes
    /// back to `spawn_batch` as tasks. This keeps such a run from putting
    /// the pool's tasks on another pool's deque.)
    fn run_all_here(mut self) {
        // SAFETY: a group runs only on a thread that holds its pool: one of
        // its workers, or a caller inside one of its methods.
        let registry = unsafe { &*self.group().registry };
        while self.start < self.end {
            registry.run_caught(self.take_first());
        }
    }
}

/// Runs one task, catching its panic.
fn run_task<F: FnOnce()>(task: F) -> Outcome {
    match panic::catch_unwind(AssertUnwindSafe(task)) {
        Ok(()) => Outcome::Ran,
        Err(panic) => Outcome::Panicked(panic),
    }
}

/// A job of tasks `start..end` of a group of `F`s, owned by worker `taker`
/// (the leaf slot's `TakeAsJob`).
///
/// # Safety
/// `group` is a live `Group<F>` on which the caller hands over one count,
/// and the caller owns tasks `start..end`, none moved out yet.
unsafe fn slice_job<F: FnOnce() + Send + 'static>(
    group: *mut (),
    start: u16,
    end: u16,
    taker: u16,
) -> JobRef {
    let slice = Slice::<F> {
        // SAFETY: by the contract, a live group's address, so not null.
        group: unsafe { NonNull::new_unchecked(group.cast::<Group<F>>()) },
        start,
        end,
        owner: taker,
    };
    // SAFETY: the tasks are 'static.
    unsafe { OwnedJob::into_job_ref(slice) }
}

/// Times a leaf and picks the next one's size from the time per task: as
/// many tasks as fit in [`LEAF_TIME`], from one to [`LEAF_MAX`], so short
/// tasks run a group at a time and long ones one at a time. Fixed under
/// loom, whose runs must not depend on the clock.
struct LeafClock {
    #[cfg(not(loom))]
    start: Instant,
}

impl LeafClock {
    fn start() -> Self {
        Self {
            #[cfg(not(loom))]
            start: Instant::now(),
        }
    }

    /// The next leaf's size, after `ran` tasks took the time since `start`.
    #[cfg(not(loom))]
    fn next_leaf(self, ran: usize) -> usize {
        let took = self.start.elapsed().as_nanos().max(1);
        let fit = LEAF_TIME.as_nanos() * ran.max(1) as u128 / took;
        fit.clamp(1, LEAF_MAX as u128) as usize
    }

    #[cfg(loom)]
    fn next_leaf(self, _ran: usize) -> usize {
        LEAF_MAX
    }
}

impl<F: FnOnce() + Send + 'static> Runnable for Slice<F> {
    /// False: the tasks were accounted for one by one.
    fn run(self) -> bool {
        let registry = self.group().registry;
        match WorkerThread::current().filter(|w| ptr::eq(w.registry(), registry)) {
            Some(worker) => self.run_on(worker),
            None => self.run_all_here(),
        }
        false
    }

    fn tasks(&self) -> usize {
        self.len()
    }
}

impl<F> Drop for Slice<F> {
    fn drop(&mut self) {
        // Tasks still here were cancelled (a timed-out shutdown): drop them,
        // each on its own, so one panicking destructor leaks no other task.
        while self.start < self.end {
            let task = self.take_first();
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(task)));
        }
        // SAFETY: this slice still counts in the group, so the group is alive.
        let group = unsafe { self.group.as_ref() };
        // AcqRel: as an `Arc` drop; every slice's reads of its slots happen
        // before the last one frees the group.
        if group.slices.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The free, as loom sees it: a write of every slot, which races
            // any read of a slice not ordered before this point.
            #[cfg(loom)]
            for slot in group.tasks.iter() {
                slot.with_mut(|_| ());
            }
            // SAFETY: that was the last slice: nothing else refers to the
            // group, which `gather` leaked from a box.
            drop(unsafe { Box::from_raw(self.group.as_ptr()) });
        }
    }
}
