//! `JoinHandle`: the result of a spawned task, its cancellation, and waiting
//! for it from inside or outside the pool.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::error::TaskError;
use crate::sync::thread::{self, Thread};
use crate::sync::{Arc, AtomicU8, Mutex, Ordering, UnsafeCell};

use super::job::Runnable;
use super::registry::Registry;

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;
const CANCELLED: u8 = 3;
const TAKEN: u8 = 4;

/// Who to wake when the task finishes.
enum Waiter {
    Thread(Thread),
    Worker(Arc<Registry>, usize),
}

impl Waiter {
    fn wake(self) {
        match self {
            Waiter::Thread(t) => t.unpark(),
            Waiter::Worker(registry, index) => registry.sleep.wake_worker(index),
        }
    }
}

/// The shared state of one task and its handle.
pub(crate) struct TaskCell<T> {
    state: AtomicU8,
    result: UnsafeCell<Option<Result<T, TaskError>>>,
    waiter: Mutex<Option<Waiter>>,
}

// SAFETY: the result is written once by the runner before `state` becomes
// DONE (Release) and read once by the handle after seeing DONE (Acquire).
unsafe impl<T: Send> Sync for TaskCell<T> {}
// SAFETY: as above; `T` crosses threads, so it must be `Send`.
unsafe impl<T: Send> Send for TaskCell<T> {}

impl<T> TaskCell<T> {
    fn new() -> Self {
        Self {
            state: AtomicU8::new(QUEUED),
            result: UnsafeCell::new(None),
            waiter: Mutex::new(None),
        }
    }

    fn state(&self) -> u8 {
        // Acquire: pairs with the Release in `finish`, making the result visible.
        self.state.load(Ordering::Acquire)
    }

    fn is_finished(&self) -> bool {
        self.state() >= DONE
    }

    fn finish(&self, state: u8, result: Option<Result<T, TaskError>>) {
        if let Some(result) = result {
            self.result.with_mut(|r| {
                // SAFETY: only the runner writes, once, before publishing DONE.
                unsafe { *r = Some(result) }
            });
        }
        // Release: publishes the result to the handle's Acquire load.
        self.state.store(state, Ordering::Release);
        let waiter = self.waiter.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }

    /// Registers the caller to be woken; false if the task already finished.
    fn set_waiter(&self, waiter: Waiter) -> bool {
        let mut slot = self.waiter.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock that `finish` takes after its store: either
        // we see the final state here or `finish` sees our waiter.
        if self.is_finished() {
            return false;
        }
        *slot = Some(waiter);
        true
    }

    fn take_result(&self) -> Result<T, TaskError> {
        match self.state() {
            CANCELLED => Err(TaskError::Cancelled),
            TAKEN => Err(TaskError::AlreadyJoined),
            DONE => {
                // Relaxed: we are the only reader (the handle is not Clone).
                self.state.store(TAKEN, Ordering::Relaxed);
                self.result
                    .with_mut(|r| {
                        // SAFETY: DONE was observed with Acquire; the runner is
                        // finished with the cell and the handle is its only reader.
                        unsafe { (*r).take() }
                    })
                    .unwrap_or(Err(TaskError::AlreadyJoined))
            }
            _ => unreachable!("take_result before the task finished"),
        }
    }
}

/// The task a queue carries for `spawn_handle`: the closure and its cell.
pub(crate) struct HandleTask<F, T> {
    func: F,
    cell: CancelOnDrop<T>,
}

/// Marks the task cancelled if it is dropped without running (a timed-out
/// shutdown discards queued work).
struct CancelOnDrop<T>(Option<Arc<TaskCell<T>>>);

impl<T> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        if let Some(cell) = self.0.take() {
            // AcqRel: claims the task against a concurrent `cancel`.
            if cell
                .state
                .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                cell.finish(CANCELLED, None);
            }
        }
    }
}

impl<F, T> HandleTask<F, T> {
    /// The closure back, for a task no queue accepted.
    pub(crate) fn into_func(self) -> F {
        let HandleTask { func, mut cell } = self;
        cell.0 = None;
        func
    }
}

impl<F: FnOnce() -> T + Send, T: Send> Runnable for HandleTask<F, T> {
    fn run(self) -> bool {
        let HandleTask { func, mut cell } = self;
        let Some(cell) = cell.0.take() else {
            return false;
        };
        // AcqRel: wins the task against `cancel`; losing means it was cancelled.
        if cell
            .state
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        let result = panic::catch_unwind(AssertUnwindSafe(func)).map_err(TaskError::Panicked);
        cell.finish(DONE, Some(result));
        true
    }
}

/// Creates the queued task and the handle for it.
pub(crate) fn handle_task<F, T>(
    func: F,
    registry: Arc<Registry>,
) -> (HandleTask<F, T>, JoinHandle<T>) {
    let cell = Arc::new(TaskCell::new());
    (
        HandleTask {
            func,
            cell: CancelOnDrop(Some(cell.clone())),
        },
        JoinHandle { cell, registry },
    )
}

/// Owns the result of a task started with
/// [`ThreadPool::spawn_handle`](crate::ThreadPool::spawn_handle).
///
/// Dropping the handle detaches the task: it still runs.
///
/// ```
/// let pool = weftpool::ThreadPool::builder().threads(2).build().unwrap();
/// let handle = pool.spawn_handle(|| 6 * 7).unwrap();
/// assert_eq!(handle.join().unwrap(), 42);
///
/// let failing = pool.spawn_handle(|| -> u32 { panic!("boom") }).unwrap();
/// assert!(matches!(failing.join(), Err(weftpool::TaskError::Panicked(_))));
/// ```
pub struct JoinHandle<T> {
    cell: Arc<TaskCell<T>>,
    registry: Arc<Registry>,
}

impl<T> JoinHandle<T> {
    /// Whether the task has finished (run, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.cell.is_finished()
    }

    /// Stops the task if it has not started; true if it will never run.
    pub fn cancel(&self) -> bool {
        // AcqRel: claims the task against the runner's start.
        let won = self
            .cell
            .state
            .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            // Relaxed: a statistic.
            self.registry.cancelled.fetch_add(1, Ordering::Relaxed);
            self.cell.finish(CANCELLED, None);
        }
        won || self.cell.state() == CANCELLED
    }

    /// Waits for the task and returns its value. Called from one of the
    /// pool's workers, it runs other pool work while it waits.
    pub fn join(self) -> Result<T, TaskError> {
        self.wait(None);
        self.cell.take_result()
    }

    /// Waits at most `timeout`; on [`TaskError::TimedOut`] the handle stays
    /// valid and can be joined again.
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<T, TaskError> {
        if self.wait(Some(timeout)) {
            self.cell.take_result()
        } else {
            Err(TaskError::TimedOut(timeout))
        }
    }

    /// True once finished; false if the timeout passed first.
    fn wait(&self, timeout: Option<Duration>) -> bool {
        if self.cell.is_finished() {
            return true;
        }
        if timeout.is_none() {
            if let Some(worker) = self.registry.current_worker() {
                let waiter = || Waiter::Worker(self.registry.clone(), worker.index());
                worker.wait_until_with(
                    || self.cell.is_finished(),
                    || self.cell.set_waiter(waiter()),
                );
                return true;
            }
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        if !self.cell.set_waiter(Waiter::Thread(thread::current())) {
            return true;
        }
        while !self.cell.is_finished() {
            match deadline {
                None => thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        *self.cell.waiter.lock().unwrap_or_else(|e| e.into_inner()) = None;
                        return self.cell.is_finished();
                    }
                    thread::park_timeout(deadline - now);
                }
            }
        }
        true
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
