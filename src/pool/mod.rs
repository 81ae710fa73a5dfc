//! The runtime: a pool of pinned worker threads with work stealing,
//! priorities, backpressure, panic isolation and graceful shutdown.
//!
//! See `docs/pool.md` for the worker loop, the sleep protocol and shutdown.

mod broadcast;
mod builder;
mod group;
mod handle;
mod job;
mod join;
mod latch;
mod leaf;
mod registry;
mod scope;
mod shutdown;
mod spawn;
mod worker;

#[cfg(not(loom))]
mod global;

pub use builder::{
    Overflow, PanicHandler, ThreadHook, ThreadNamer, ThreadPoolBuilder, DEFAULT_DEQUE_CAPACITY,
    DEFAULT_IDLE_SPIN, DEFAULT_QUEUE_CAPACITY, MAX_THREADS, MIN_STACK_SIZE,
};
#[cfg(not(loom))]
pub use global::{current_worker_index, join, scope, spawn, spawn_with};
pub use handle::JoinHandle;
pub use scope::Scope;
pub use shutdown::ShutdownReport;

use std::fmt;
use std::time::Duration;

use crate::deque;
use crate::error::{BuildError, ShutdownError, SpawnError};
use crate::injector::{Injector, Priority};
use crate::metrics::PoolMetrics;
use crate::sync::{thread, Arc, Mutex};

use builder::Validated;
use job::StackJob;
use latch::LockLatch;
use registry::{Config, Registry};
use worker::WorkerThread;

/// A pool of worker threads.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use weftpool::{Priority, ThreadPool};
///
/// let pool = ThreadPool::builder().threads(2).build().unwrap();
/// let count = Arc::new(AtomicUsize::new(0));
/// for _ in 0..100 {
///     let count = count.clone();
///     pool.spawn(move || {
///         count.fetch_add(1, Ordering::Relaxed);
///     })
///     .unwrap();
/// }
/// pool.spawn_with(Priority::High, || {}).unwrap();
/// let (a, b) = pool.join(|| 1 + 1, || 2 + 2);
/// assert_eq!((a, b), (2, 4));
/// let report = pool.shutdown().unwrap();
/// assert_eq!(count.load(Ordering::Relaxed), 100);
/// assert!(report.tasks_run >= 101);
/// ```
pub struct ThreadPool {
    registry: Arc<Registry>,
    report: Mutex<Option<ShutdownReport>>,
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("threads", &self.registry.num_workers())
            .finish_non_exhaustive()
    }
}

impl ThreadPool {
    /// A builder with every default; see [`ThreadPoolBuilder`].
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::new()
    }

    /// A pool with every default.
    pub fn new() -> Result<ThreadPool, BuildError> {
        ThreadPoolBuilder::new().build()
    }

    fn start(builder: ThreadPoolBuilder, validated: Validated) -> Result<ThreadPool, BuildError> {
        let Validated {
            threads,
            plan,
            starvation_limit,
        } = validated;
        let (deques, stealers): (Vec<_>, Vec<_>) = (0..threads)
            .map(|_| deque::new(builder.deque_capacity).map_err(BuildError::DequeCapacity))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .unzip();
        let injector = Injector::new(builder.queue_capacity, starvation_limit)
            .map_err(BuildError::QueueCapacity)?;
        let config = Config {
            idle_spin: builder.idle_spin,
            overflow: builder.overflow,
            thread_name: builder.thread_name,
            stack_size: builder.stack_size,
            on_thread_start: builder.on_thread_start,
            on_thread_exit: builder.on_thread_exit,
            panic_handler: builder.panic_handler,
            pin: plan.workers().iter().map(|w| w.cpus.clone()).collect(),
        };
        let steal_orders = (0..threads).map(|i| plan.steal_order(i).to_vec()).collect();
        let registry = Arc::new(Registry::new(injector, stealers, steal_orders, config));
        let mut handles = Vec::with_capacity(threads);
        for (index, deque) in deques.into_iter().enumerate() {
            let name = match &registry.config.thread_name {
                Some(namer) => namer(index),
                None => format!("weftpool-{index}"),
            };
            let mut b = thread::Builder::new().name(name);
            if let Some(bytes) = registry.config.stack_size {
                b = b.stack_size(bytes);
            }
            let worker = WorkerThread::new(index, deque, registry.clone());
            match spawn_worker(b, worker, index) {
                Ok(handle) => handles.push(Some(handle)),
                Err(source) => {
                    // Stop the workers already started; nothing was admitted.
                    registry.never_started(threads - index);
                    registry.close();
                    for handle in handles.into_iter().flatten() {
                        let _ = handle.join();
                    }
                    return Err(BuildError::Spawn { index, source });
                }
            }
        }
        *registry.threads.lock().unwrap_or_else(|e| e.into_inner()) = handles;
        Ok(ThreadPool {
            registry,
            report: Mutex::new(None),
        })
    }

    /// The number of workers.
    pub fn current_num_threads(&self) -> usize {
        self.registry.num_workers()
    }

    /// The index of the worker running the caller, if it is one of this
    /// pool's workers.
    pub fn current_worker_index(&self) -> Option<usize> {
        self.registry.current_worker().map(WorkerThread::index)
    }

    /// Runs `f` on the pool at [`Priority::Normal`]. From outside the pool it
    /// enters the injector (a full injector applies the pool's [`Overflow`]
    /// policy); from one of the pool's workers it goes to that worker's deque.
    /// A task the pool cannot take comes back in the error.
    pub fn spawn<F>(&self, f: F) -> Result<(), SpawnError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        spawn::spawn(
            &self.registry,
            Priority::Normal,
            f,
            self.registry.config.overflow,
        )
    }

    /// Like [`spawn`](Self::spawn), at the given priority.
    pub fn spawn_with<F>(&self, priority: Priority, f: F) -> Result<(), SpawnError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        spawn::spawn(&self.registry, priority, f, self.registry.config.overflow)
    }

    /// Never blocks: a full queue hands `f` back as [`SpawnError::Full`],
    /// whatever the overflow policy.
    pub fn try_spawn<F>(&self, f: F) -> Result<(), SpawnError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        spawn::spawn(&self.registry, Priority::Normal, f, Overflow::Reject)
    }

    /// Like [`try_spawn`](Self::try_spawn), at the given priority.
    pub fn try_spawn_with<F>(&self, priority: Priority, f: F) -> Result<(), SpawnError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        spawn::spawn(&self.registry, priority, f, Overflow::Reject)
    }

    /// Spawns many tasks at [`Priority::Normal`], in groups of up to 64
    /// that each take one queue entry, with one admission for the whole
    /// batch. Returns how many the pool took; if it refuses a group, the
    /// error holds that group's tasks and every task after them, unspawned,
    /// in order.
    ///
    /// A worker runs short tasks of a batch several at a time (up to a
    /// group, about 80 µs together); idle workers can still take every task
    /// not yet started. See `docs/pool.md`, "Batches: groups and leaves".
    ///
    /// ```
    /// let pool = weftpool::ThreadPool::builder().threads(2).build().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let tasks = (0..10).map(|i| {
    ///     let tx = tx.clone();
    ///     move || tx.send(i).unwrap()
    /// });
    /// assert_eq!(pool.spawn_batch(tasks).unwrap(), 10);
    /// let mut got: Vec<i32> = rx.iter().take(10).collect();
    /// got.sort();
    /// assert_eq!(got, (0..10).collect::<Vec<_>>());
    /// ```
    pub fn spawn_batch<I, F>(&self, tasks: I) -> Result<usize, SpawnError<Vec<F>>>
    where
        I: IntoIterator<Item = F>,
        F: FnOnce() + Send + 'static,
    {
        spawn::spawn_batch(&self.registry, Priority::Normal, tasks)
    }

    /// Like [`spawn_batch`](Self::spawn_batch), at the given priority.
    pub fn spawn_batch_with<I, F>(
        &self,
        priority: Priority,
        tasks: I,
    ) -> Result<usize, SpawnError<Vec<F>>>
    where
        I: IntoIterator<Item = F>,
        F: FnOnce() + Send + 'static,
    {
        spawn::spawn_batch(&self.registry, priority, tasks)
    }

    /// Spawns `f` and returns a handle to its result; see [`JoinHandle`].
    pub fn spawn_handle<F, T>(&self, f: F) -> Result<JoinHandle<T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn::spawn_handle(&self.registry, Priority::Normal, f)
    }

    /// Like [`spawn_handle`](Self::spawn_handle), at the given priority.
    pub fn spawn_handle_with<F, T>(
        &self,
        priority: Priority,
        f: F,
    ) -> Result<JoinHandle<T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn::spawn_handle(&self.registry, priority, f)
    }

    /// Runs `op` on one of the pool's workers and returns its result (at
    /// once, on the caller, if the caller already is one of them). After
    /// shutdown, `op` runs on the calling thread: nothing is lost.
    pub fn install<OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce() -> R + Send,
        R: Send,
    {
        if self.registry.current_worker().is_some() {
            return op();
        }
        let job = StackJob::new(move |_| op(), LockLatch::new());
        match self
            .registry
            .inject(Priority::Normal, job.as_job_ref(), Overflow::Block)
        {
            Ok(()) => {
                job.latch.wait();
                job.into_result()
            }
            Err(_) => job.run_inline(),
        }
    }

    /// Runs `a` and `b`, potentially in parallel, and returns both results.
    /// On a worker, `b` is offered to thieves without allocating and `a` runs
    /// at once; a panic in either resumes after both finished.
    ///
    /// ```
    /// fn fib(pool: &weftpool::ThreadPool, n: u64) -> u64 {
    ///     if n < 2 {
    ///         return n;
    ///     }
    ///     let (a, b) = weftpool::join(|| fib(pool, n - 1), || fib(pool, n - 2));
    ///     a + b
    /// }
    /// let pool = weftpool::ThreadPool::builder().threads(2).build().unwrap();
    /// assert_eq!(pool.install(|| fib(&pool, 20)), 6765);
    /// ```
    pub fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        self.install(|| {
            let worker = WorkerThread::current();
            match worker {
                Some(worker) => join::join_on_worker(worker, a, b),
                // Shut down: `install` ran us on the caller.
                None => (a(), b()),
            }
        })
    }

    /// Creates a [`Scope`] whose tasks may borrow from the caller's stack;
    /// returns once the body and every task spawned in it finished.
    pub fn scope<'scope, OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce(&Scope<'scope>) -> R + Send,
        R: Send,
    {
        let registry = &self.registry;
        self.install(|| match registry.current_worker() {
            Some(worker) => scope::scope_on_worker(worker, op),
            None => {
                // Shut down: run the body and its tasks on this thread.
                scope::scope_detached(registry, op)
            }
        })
    }

    /// Runs `op` once on every worker, passing the worker index, and returns
    /// the results in worker order. Waiting for a worker busy with a long task
    /// waits for that task.
    ///
    /// ```
    /// let pool = weftpool::ThreadPool::builder().threads(2).build().unwrap();
    /// let seen = pool.broadcast(|_| weftpool::current_worker_index()).unwrap();
    /// assert_eq!(seen, vec![Some(0), Some(1)]);
    /// ```
    pub fn broadcast<OP, R>(&self, op: OP) -> Result<Vec<R>, ShutdownError>
    where
        OP: Fn(usize) -> R + Sync,
        R: Send,
    {
        broadcast::broadcast(&self.registry, op)
    }

    /// A snapshot of the pool's counters; see [`PoolMetrics`].
    pub fn metrics(&self) -> PoolMetrics {
        self.registry.metrics()
    }

    /// Stops admission, runs everything already admitted, joins every worker
    /// and reports what happened. Calling it again returns the same report.
    /// From one of the pool's own tasks it is an error, not a deadlock.
    pub fn shutdown(&self) -> Result<ShutdownReport, ShutdownError> {
        shutdown::shutdown(&self.registry, &self.report, None)
    }

    /// Like [`shutdown`](Self::shutdown), but waits at most `timeout`; what
    /// is still queued then is cancelled, and the report says what did not
    /// finish.
    pub fn shutdown_timeout(&self, timeout: Duration) -> Result<ShutdownReport, ShutdownError> {
        shutdown::shutdown(&self.registry, &self.report, Some(timeout))
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        if self.registry.current_worker().is_some() {
            // Dropped by one of its own tasks: waiting would wait for ourselves.
            self.registry.close();
            return;
        }
        let _ = self.shutdown();
    }
}

fn spawn_worker(
    builder: thread::Builder,
    worker: WorkerThread,
    _index: usize,
) -> std::io::Result<thread::JoinHandle<()>> {
    #[cfg(all(test, not(loom)))]
    if tests::FAIL_SPAWN_AT.with(|f| f.get()) == Some(_index) {
        return Err(std::io::Error::other("refused by test"));
    }
    builder.spawn(move || worker.run_thread())
}

#[cfg(all(test, not(loom)))]
mod tests;
