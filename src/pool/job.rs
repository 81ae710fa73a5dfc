//! Type-erased jobs: what deques and injectors carry.
//!
//! A [`JobRef`] is five words: the function that runs (or discards) the job
//! and its payload. The payload is either the job's address (boxed closures
//! too large to carry, and stack jobs, which live in the frame of a `join` or
//! `install` caller that does not return before the job ran) or the closure
//! itself, when it fits in three words: most spawned closures capture a
//! reference or two and a small value (an `Arc` and an `Instant`, say), and
//! carrying them inline saves an allocation on the submitting thread, a
//! cross-thread free on the worker (where the allocator's shared arena made
//! both contend) and the box's cache line crossing to the worker's core.

use std::any::Any;
use std::mem::{self, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;

use crate::sync::UnsafeCell;

/// What to do with a job taken from a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Run it.
    Run,
    /// Drop it unrun (a timed-out shutdown).
    Cancel,
}

/// A panic payload that escaped a fire-and-forget job.
pub(crate) type Panic = Box<dyn Any + Send + 'static>;

/// What executing a job did.
pub(crate) enum Outcome {
    /// The work ran to completion.
    Ran,
    /// The work ran and panicked; the payload is for the panic handler.
    Panicked(Panic),
    /// Dropped unrun because the pool was aborting: this many tasks.
    Cancelled(usize),
    /// Nothing for the worker to count: the task had been cancelled through
    /// its handle, or the work (a batch's slice) counted its tasks itself.
    Skipped,
}

/// Closures up to this many words (and at most word-aligned) travel inline.
const INLINE_WORDS: usize = 3;

/// What a [`JobRef`] carries besides its function.
#[derive(Clone, Copy)]
pub(crate) struct Payload {
    /// The job's address; null for an inline job.
    addr: *const (),
    /// An inline job's closure (uninitialised otherwise).
    inline: [MaybeUninit<usize>; INLINE_WORDS],
}

impl Payload {
    fn at(addr: *const ()) -> Self {
        Self {
            addr,
            inline: [MaybeUninit::uninit(); INLINE_WORDS],
        }
    }
}

/// A job and the function that executes it.
#[derive(Clone, Copy)]
pub(crate) struct JobRef {
    execute: unsafe fn(Payload, Mode) -> Outcome,
    payload: Payload,
}

// SAFETY: a JobRef is only created for jobs whose contents are `Send` (owned
// jobs require `F: Send`; stack jobs require their closure and result to be
// `Send`), and each JobRef is executed exactly once, by one thread.
unsafe impl Send for JobRef {}

impl std::fmt::Debug for JobRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRef")
            .field("addr", &self.payload.addr)
            .finish_non_exhaustive()
    }
}

impl JobRef {
    /// Whether both refer to the same job in memory (stack and boxed jobs
    /// live at distinct addresses; inline jobs have none and match nothing).
    #[inline]
    pub(crate) fn is(&self, other: &JobRef) -> bool {
        !self.payload.addr.is_null() && ptr::eq(self.payload.addr, other.payload.addr)
    }

    /// Runs (or cancels) the job. Never unwinds: panics of the work are
    /// caught and returned (fire-and-forget) or stored for the waiter.
    ///
    /// # Safety
    /// Each `JobRef` must be executed exactly once (copies included), and the
    /// job it points to, if any, must still be alive.
    #[inline]
    pub(crate) unsafe fn execute(self, mode: Mode) -> Outcome {
        // SAFETY: forwarded to the caller's contract.
        unsafe { (self.execute)(self.payload, mode) }
    }
}

/// Work an owned job can carry: a plain closure, or a closure with a handle.
pub(crate) trait Runnable: Send {
    /// Runs the work; false if there is nothing for the worker to count:
    /// nothing ran (cancelled earlier through a handle), or the work counted
    /// its tasks itself (a batch's slice).
    fn run(self) -> bool;

    /// Whether a timed-out shutdown may drop this work unrun.
    const CANCELLABLE: bool = true;

    /// How many tasks this work holds (a group of a batch holds several).
    fn tasks(&self) -> usize {
        1
    }
}

impl<F: FnOnce() + Send> Runnable for F {
    #[inline]
    fn run(self) -> bool {
        self();
        true
    }
}

/// Work that a waiting caller depends on (scope and broadcast tasks): it runs
/// even while a timed-out shutdown discards everything else, because its
/// caller is blocked on it and it may borrow the caller's frame.
pub(crate) struct MustRun<F>(pub(crate) F);

impl<F: FnOnce() + Send> Runnable for MustRun<F> {
    #[inline]
    fn run(self) -> bool {
        (self.0)();
        true
    }

    const CANCELLABLE: bool = false;
}

/// A task that owns its closure: carried inline in its `JobRef` when small
/// enough, boxed otherwise. Run or cancelled at most once.
pub(crate) struct OwnedJob<F> {
    func: F,
}

impl<F: Runnable> OwnedJob<F> {
    /// Whether `F` travels inside the `JobRef` rather than in a box.
    const INLINE: bool = mem::size_of::<F>() <= mem::size_of::<[usize; INLINE_WORDS]>()
        && mem::align_of::<F>() <= mem::align_of::<usize>();

    /// Moves `func` into a `JobRef`; [`OwnedJob::reclaim`] undoes this for a
    /// job no queue accepted.
    ///
    /// # Safety
    /// Everything `func` borrows must outlive the job's execution (true for
    /// `'static` tasks; a scope waits for its tasks before its borrows end).
    #[inline]
    pub(crate) unsafe fn into_job_ref(func: F) -> JobRef {
        if Self::INLINE {
            let mut payload = Payload::at(ptr::null());
            // SAFETY: `INLINE` checked that `F` fits the words and needs no
            // stricter alignment than they have.
            unsafe { ptr::write(payload.inline.as_mut_ptr() as *mut F, func) };
            JobRef {
                execute: Self::execute,
                payload,
            }
        } else {
            let addr = Box::into_raw(Box::new(OwnedJob { func }));
            JobRef {
                execute: Self::execute,
                payload: Payload::at(addr as *const ()),
            }
        }
    }

    /// Takes back the closure of a `JobRef` made by `into_job_ref` that was
    /// never executed.
    ///
    /// # Safety
    /// `job` must come from `OwnedJob::<F>::into_job_ref` and must not have
    /// been executed or reclaimed (copies included).
    pub(crate) unsafe fn reclaim(job: JobRef) -> F {
        // SAFETY: by the contract, the payload holds a live `F` we own.
        unsafe { Self::take(job.payload) }
    }

    /// Moves the closure out of a payload made by `into_job_ref`.
    ///
    /// # Safety
    /// As for `reclaim`: the payload's closure is live and owned by the caller.
    #[inline]
    unsafe fn take(payload: Payload) -> F {
        if Self::INLINE {
            // SAFETY: `into_job_ref` wrote an `F` at the start of the words,
            // and this is its one move out.
            unsafe { ptr::read(payload.inline.as_ptr() as *const F) }
        } else {
            // SAFETY: `addr` is the leaked box, reclaimed once.
            unsafe { Box::from_raw(payload.addr as *mut OwnedJob<F>) }.func
        }
    }

    unsafe fn execute(payload: Payload, mode: Mode) -> Outcome {
        // SAFETY: by `JobRef::execute`'s contract this is the one execution.
        let func = unsafe { Self::take(payload) };
        if mode == Mode::Cancel && F::CANCELLABLE {
            let tasks = func.tasks();
            // Dropping the work may itself panic (a user Drop impl).
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(func)));
            return Outcome::Cancelled(tasks);
        }
        match panic::catch_unwind(AssertUnwindSafe(move || func.run())) {
            Ok(true) => Outcome::Ran,
            Ok(false) => Outcome::Skipped,
            Err(p) => Outcome::Panicked(p),
        }
    }
}

/// Something a stack job signals when it is done.
pub(crate) trait Latch {
    /// Marks the latch set and wakes its waiter.
    ///
    /// # Safety
    /// After this returns (or from the moment the store is visible) the latch
    /// may be freed by its waiter: implementations must not touch `this`
    /// after the store that sets them.
    unsafe fn set(this: *const Self);
}

/// The outcome of a stack job.
pub(crate) enum JobResult<R> {
    None,
    Ok(R),
    Panic(Panic),
}

/// A job in the frame of a thread that waits for it (`join`, `install`).
pub(crate) struct StackJob<L, F, R> {
    pub(crate) latch: L,
    func: UnsafeCell<Option<F>>,
    result: UnsafeCell<JobResult<R>>,
}

impl<L: Latch, F: FnOnce(bool) -> R + Send, R: Send> StackJob<L, F, R> {
    #[inline]
    pub(crate) fn new(func: F, latch: L) -> Self {
        Self {
            latch,
            func: UnsafeCell::new(Some(func)),
            result: UnsafeCell::new(JobResult::None),
        }
    }

    /// A reference for a queue. The job must stay in place until its latch is
    /// set or it was taken back and run inline.
    #[inline]
    pub(crate) fn as_job_ref(&self) -> JobRef {
        JobRef {
            execute: Self::execute,
            payload: Payload::at(self as *const Self as *const ()),
        }
    }

    /// Runs the closure on the owner's thread (the job was never taken by
    /// anyone else, or was popped back).
    #[inline]
    pub(crate) fn run_inline(&self) -> R {
        let func = self.func.with_mut(|f| {
            // SAFETY: only the owner is left with access: the job was never
            // offered, or the owner popped it back.
            unsafe { (*f).take() }
        });
        match func {
            Some(func) => func(false),
            None => unreachable!("a stack job popped back was already taken"),
        }
    }

    /// The result, once the latch is set; resumes a panic of the job.
    pub(crate) fn into_result(self) -> R {
        match self.result.with_mut(|r| {
            // SAFETY: the latch is set, so the runner finished writing and
            // will not touch the job again.
            unsafe { std::mem::replace(&mut *r, JobResult::None) }
        }) {
            JobResult::Ok(r) => r,
            JobResult::Panic(p) => panic::resume_unwind(p),
            JobResult::None => unreachable!("stack job finished without a result"),
        }
    }

    /// Stack jobs always run, whatever the mode: their owner is blocked on
    /// them and they live in its frame.
    unsafe fn execute(payload: Payload, _mode: Mode) -> Outcome {
        // SAFETY: `addr` points at a live StackJob: its owner waits for the
        // latch before leaving the frame.
        let this = unsafe { &*(payload.addr as *const Self) };
        let func = this.func.with_mut(|f| {
            // SAFETY: this JobRef is executed once; the owner no longer
            // touches `func` once the job is in a queue and was stolen.
            unsafe { (*f).take() }
        });
        let func = func.expect("a stack job ran twice");
        let result = match panic::catch_unwind(AssertUnwindSafe(|| func(true))) {
            Ok(r) => JobResult::Ok(r),
            Err(p) => JobResult::Panic(p),
        };
        this.result.with_mut(|r| {
            // SAFETY: only the runner writes the result, before setting the latch.
            unsafe { *r = result }
        });
        // SAFETY: the last use of `this`.
        unsafe { L::set(&this.latch) };
        Outcome::Ran
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[repr(align(16))]
    struct Aligned16(#[allow(dead_code)] u8);

    fn inline<F: Runnable>(_: &F) -> bool {
        OwnedJob::<F>::INLINE
    }

    #[test]
    fn a_job_ref_is_five_words() {
        assert_eq!(mem::size_of::<JobRef>(), 5 * mem::size_of::<usize>());
    }

    #[test]
    fn closures_up_to_three_words_and_word_alignment_travel_inline() {
        let (a, b, c, d) = (1usize, 2usize, 3usize, 4usize);
        assert!(inline(&|| ()));
        assert!(inline(&move || {
            std::hint::black_box(a);
        }));
        assert!(inline(&move || {
            std::hint::black_box((a, b));
        }));
        assert!(inline(&move || {
            std::hint::black_box((a, b, c));
        }));
        let stamp = std::time::Instant::now();
        let shared = std::sync::Arc::new(());
        assert!(inline(&move || {
            std::hint::black_box((&shared, stamp));
        }));
        assert!(!inline(&move || {
            std::hint::black_box((a, b, c, d));
        }));
        let aligned = Aligned16(0);
        assert!(!inline(&move || {
            std::hint::black_box(&aligned);
        }));
    }

    #[test]
    fn inline_and_boxed_jobs_run_and_reclaim_their_captures() {
        let small = std::sync::Arc::new(7u8);
        let big = [5u64; 4];
        fn reclaim_of<F: Runnable>(_: &F) -> unsafe fn(JobRef) -> F {
            OwnedJob::<F>::reclaim
        }
        let s = small.clone();
        let task = move || drop(s);
        let reclaim = reclaim_of(&task);
        // SAFETY: 'static captures; the job is reclaimed, never executed.
        let job = unsafe { OwnedJob::into_job_ref(task) };
        assert!(job.payload.addr.is_null(), "a one-word closure goes inline");
        assert_eq!(std::sync::Arc::strong_count(&small), 2);
        // SAFETY: made just above, never executed.
        let f = unsafe { reclaim(job) };
        drop(f);
        assert_eq!(std::sync::Arc::strong_count(&small), 1);
        let sum = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let out = sum.clone();
        // SAFETY: 'static captures; executed once below.
        let job = unsafe {
            OwnedJob::into_job_ref(move || {
                out.fetch_add(big.iter().sum::<u64>(), std::sync::atomic::Ordering::SeqCst);
            })
        };
        assert!(!job.payload.addr.is_null(), "a five-word closure is boxed");
        // SAFETY: the one execution of this job.
        assert!(matches!(unsafe { job.execute(Mode::Run) }, Outcome::Ran));
        assert_eq!(sum.load(std::sync::atomic::Ordering::SeqCst), 20);
    }
}
