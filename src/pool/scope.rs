//! `scope`: tasks that may borrow from the caller's stack, all finished
//! before the scope returns.

use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};

use crate::injector::Priority;
use crate::sync::{Arc, AtomicBool, AtomicUsize, CachePadded, Mutex, Ordering};

use super::builder::Overflow;
use super::job::{Latch, Mode, MustRun, Outcome, OwnedJob, Panic};
use super::latch::WorkerLatch;
use super::registry::Registry;
use super::worker::WorkerThread;

/// A scope in which tasks borrowing from the enclosing stack frame can be
/// spawned; see [`ThreadPool::scope`](crate::ThreadPool::scope).
///
/// ```
/// let pool = weftpool::ThreadPool::builder().threads(2).build().unwrap();
/// let mut parts = vec![0u64; 4];
/// pool.scope(|s| {
///     for (i, part) in parts.iter_mut().enumerate() {
///         s.spawn(move |_| *part = (i as u64 + 1) * 10);
///     }
/// });
/// assert_eq!(parts, [10, 20, 30, 40]);
/// ```
pub struct Scope<'scope> {
    registry: Arc<Registry>,
    /// Tasks not yet finished, plus one for the scope body, plus the counts
    /// the body's thread took ahead and has not used yet (`credits`).
    pending: CachePadded<AtomicUsize>,
    /// Counts already added to `pending` for tasks the body's thread has yet
    /// to spawn. Read and written by that thread only, while `body_running`:
    /// a worker that runs the tasks decrements `pending` one by one, and if
    /// the spawning worker incremented it one by one too, the line would
    /// cross between the two cores on every task.
    credits: AtomicUsize,
    /// Whether the body has not returned yet; the owner thread's only.
    body_running: AtomicBool,
    /// The worker the body runs on (`None`: a detached scope, whose body
    /// runs on a thread outside the pool).
    owner: Option<usize>,
    latch: WorkerLatch,
    panic: Mutex<Option<Panic>>,
    /// Invariant in `'scope`, like `std::thread::Scope`.
    _marker: PhantomData<&'scope mut &'scope ()>,
}

/// How many counts the body's thread takes ahead at once.
#[cfg(not(loom))]
const CREDIT_BATCH: usize = 64;
/// Small under loom, so that models cross a batch boundary.
#[cfg(loom)]
const CREDIT_BATCH: usize = 2;

/// Lets a task find its scope; the scope outlives all its tasks.
struct ScopePtr<'scope>(*const Scope<'scope>);

// SAFETY: `Scope` is Sync (atomics, a mutex, and a latch that is Sync), and the
// pointer stays valid until every task has called `task_done`.
unsafe impl Send for ScopePtr<'_> {}

/// Counts a task as done when dropped, after it ran (or panicked).
struct DoneGuard<'scope>(ScopePtr<'scope>);

impl Drop for DoneGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the scope waits for this call before it returns.
        unsafe { Scope::task_done(self.0 .0) };
    }
}

impl<'scope> Scope<'scope> {
    fn new(registry: &Arc<Registry>, owner: Option<usize>) -> Self {
        Self {
            registry: registry.clone(),
            pending: CachePadded::new(AtomicUsize::new(1)),
            credits: AtomicUsize::new(0),
            body_running: AtomicBool::new(true),
            owner,
            // A detached scope's latch is never slept on (see
            // `scope_detached`), so its owner index is never used.
            latch: WorkerLatch::new(owner.unwrap_or(0), &registry.sleep),
            panic: Mutex::new(None),
            _marker: PhantomData,
        }
    }

    /// Spawns a task that may borrow anything that outlives the scope. It
    /// runs on the pool; the scope returns only after it finished.
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce(&Scope<'scope>) + Send + 'scope,
    {
        let worker = self.registry.current_worker();
        self.count_task(worker.map(WorkerThread::index));
        let guard = DoneGuard(ScopePtr(self));
        let task = move || {
            let guard = guard;
            // SAFETY: the scope is alive until this task's guard drops.
            let scope = unsafe { &*guard.0 .0 };
            if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| f(scope))) {
                scope.record_panic(p);
            }
        };
        // SAFETY: the task borrows only what outlives 'scope, and the scope
        // does not return before the task's guard has dropped.
        let job = unsafe { OwnedJob::into_job_ref(MustRun(task)) };
        match worker {
            Some(worker) => worker.push(Priority::Normal, job),
            None => {
                if let Err((job, _)) = self.registry.inject(Priority::Normal, job, Overflow::Block)
                {
                    // The pool is shut down: run it here rather than lose it.
                    // SAFETY: refused by the pool, so this is its only run.
                    if let Outcome::Panicked(p) = unsafe { job.execute(Mode::Run) } {
                        self.record_panic(p);
                    }
                }
            }
        }
    }

    /// Counts one more unfinished task, spawned on worker `worker` (`None`:
    /// not a worker of this pool).
    fn count_task(&self, worker: Option<usize>) {
        // Relaxed (all three): `credits` and `body_running` are this thread's
        // alone; the `pending` increment is sequenced before the task is
        // published (with Release) by the queue, so its decrement cannot
        // come first.
        if worker.is_some() && worker == self.owner && self.body_running.load(Ordering::Relaxed) {
            match self.credits.load(Ordering::Relaxed) {
                0 => {
                    self.pending.fetch_add(CREDIT_BATCH, Ordering::Relaxed);
                    self.credits.store(CREDIT_BATCH - 1, Ordering::Relaxed);
                }
                left => self.credits.store(left - 1, Ordering::Relaxed),
            }
        } else {
            self.pending.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The body returned: gives back its own count and the credits it did
    /// not use. Called once, on the owner thread.
    fn body_done(&self) {
        // Relaxed: owner-only state (see `count_task`).
        self.body_running.store(false, Ordering::Relaxed);
        let unused = self.credits.load(Ordering::Relaxed);
        // SAFETY: the body's count and the unused credits are ours to give
        // back; the scope is alive (its caller waits for the latch).
        unsafe { Self::done(self, unused + 1) };
    }

    fn record_panic(&self, panic: Panic) {
        let mut slot = self.panic.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(panic);
    }

    /// # Safety
    /// `this` must be alive; after the last task is done it may be freed.
    unsafe fn task_done(this: *const Self) {
        // SAFETY: forwarded.
        unsafe { Self::done(this, 1) }
    }

    /// Takes `n` off the count; the call that takes it to zero sets the latch.
    ///
    /// # Safety
    /// As for `task_done`, and `n` counts this caller holds.
    unsafe fn done(this: *const Self, n: usize) {
        // SAFETY: alive until the count reaches zero, which is this call at
        // the earliest; AcqRel: the last decrement sees every task's effects.
        if unsafe { (*this).pending.fetch_sub(n, Ordering::AcqRel) } == n {
            // SAFETY: the latch's `set` touches nothing after setting.
            unsafe { WorkerLatch::set(&(*this).latch) };
        }
    }
}

/// Runs a scope on the current worker; its body's panic, or else the first
/// task panic, resumes after every task finished.
pub(crate) fn scope_on_worker<'scope, OP, R>(worker: &WorkerThread, op: OP) -> R
where
    OP: FnOnce(&Scope<'scope>) -> R,
{
    let scope = Scope::new(worker.registry_arc(), Some(worker.index()));
    let result = panic::catch_unwind(AssertUnwindSafe(|| op(&scope)));
    scope.body_done();
    worker.wait_until(&scope.latch);
    finish(scope, result)
}

/// A scope on a thread outside a shut-down pool: the pool refuses every
/// task, so each runs at once on the caller, and nothing is left to wait for.
pub(crate) fn scope_detached<'scope, OP, R>(registry: &Arc<Registry>, op: OP) -> R
where
    OP: FnOnce(&Scope<'scope>) -> R,
{
    // No worker owns it: every spawn counts one by one, and nobody sleeps on
    // the latch (we poll it below).
    let scope = Scope::new(registry, None);
    let result = panic::catch_unwind(AssertUnwindSafe(|| op(&scope)));
    scope.body_done();
    while !scope.latch.probe() {
        crate::sync::thread::yield_now();
    }
    finish(scope, result)
}

fn finish<R>(scope: Scope<'_>, result: std::thread::Result<R>) -> R {
    let task_panic = scope.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
    match (result, task_panic) {
        (Err(p), _) | (Ok(_), Some(p)) => panic::resume_unwind(p),
        (Ok(r), None) => r,
    }
}
