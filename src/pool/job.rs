//! Type-erased jobs: what deques and injectors carry.
//!
//! A [`JobRef`] is two words: a pointer to the job and the function that runs
//! (or discards) it. Heap jobs own a boxed closure; stack jobs live in the frame
//! of a `join` or `install` caller, which does not return before the job ran.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

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
    /// Dropped unrun because the pool was aborting.
    Cancelled,
    /// Nothing to do: the task had been cancelled through its handle.
    Skipped,
}

/// A pointer to a job and the function that executes it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JobRef {
    data: *const (),
    execute: unsafe fn(*const (), Mode) -> Outcome,
}

// SAFETY: a JobRef is only created for jobs whose contents are `Send` (heap
// jobs require `F: Send`; stack jobs require their closure and result to be
// `Send`), and each JobRef is executed exactly once, by one thread.
unsafe impl Send for JobRef {}

impl JobRef {
    /// Whether both refer to the same job (jobs live at distinct addresses).
    #[inline]
    pub(crate) fn is(&self, other: &JobRef) -> bool {
        std::ptr::eq(self.data, other.data)
    }

    /// Runs (or cancels) the job. Never unwinds: panics of the work are
    /// caught and returned (fire-and-forget) or stored for the waiter.
    ///
    /// # Safety
    /// Each `JobRef` must be executed exactly once, and the job it points to
    /// must still be alive.
    #[inline]
    pub(crate) unsafe fn execute(self, mode: Mode) -> Outcome {
        // SAFETY: forwarded to the caller's contract.
        unsafe { (self.execute)(self.data, mode) }
    }
}

/// Work a heap job can carry: a plain closure, or a closure with a handle.
pub(crate) trait Runnable: Send {
    /// Runs the work; false if there was nothing to run (cancelled earlier).
    fn run(self) -> bool;

    /// Whether a timed-out shutdown may drop this work unrun.
    const CANCELLABLE: bool = true;
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

/// A boxed task run at most once; it owns itself once enqueued.
pub(crate) struct HeapJob<F> {
    func: F,
}

impl<F: Runnable> HeapJob<F> {
    /// Boxes `func` and leaks it into a `JobRef`; [`HeapJob::reclaim`] undoes
    /// this for a job no queue accepted.
    ///
    /// # Safety
    /// Everything `func` borrows must outlive the job's execution (true for
    /// `'static` tasks; a scope waits for its tasks before its borrows end).
    pub(crate) unsafe fn into_job_ref(func: F) -> JobRef {
        let data = Box::into_raw(Box::new(HeapJob { func }));
        JobRef {
            data: data as *const (),
            execute: Self::execute,
        }
    }

    /// Takes back the task of a `JobRef` made by `into_job_ref` that was never
    /// executed.
    ///
    /// # Safety
    /// `job` must come from `HeapJob::<F>::into_job_ref` and must not have been
    /// executed or reclaimed.
    pub(crate) unsafe fn reclaim(job: JobRef) -> F {
        // SAFETY: by the contract, `data` is a live `Box<HeapJob<F>>` we own.
        unsafe { Box::from_raw(job.data as *mut HeapJob<F>) }.func
    }

    unsafe fn execute(data: *const (), mode: Mode) -> Outcome {
        // SAFETY: `data` came from `into_job_ref` and, by `JobRef::execute`'s
        // contract, is executed once: we own the box now.
        let job = unsafe { Box::from_raw(data as *mut HeapJob<F>) };
        if mode == Mode::Cancel && F::CANCELLABLE {
            // Dropping the work may itself panic (a user Drop impl).
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(job)));
            return Outcome::Cancelled;
        }
        match panic::catch_unwind(AssertUnwindSafe(move || job.func.run())) {
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
            data: self as *const Self as *const (),
            execute: Self::execute,
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
    unsafe fn execute(data: *const (), _mode: Mode) -> Outcome {
        // SAFETY: `data` points at a live StackJob: its owner waits for the
        // latch before leaving the frame.
        let this = unsafe { &*(data as *const Self) };
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
