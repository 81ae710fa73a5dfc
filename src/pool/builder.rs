//! `ThreadPoolBuilder`: every knob of a pool, validated in one place.

use std::any::Any;
use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::error::BuildError;
use crate::injector::DEFAULT_STARVATION_LIMIT;
use crate::sync::ConfigArc;
use crate::topology::{Pinning, PlacementPlan, Topology};

use super::ThreadPool;

/// What `spawn` does when the injector of the task's priority is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Wait for room (backpressure). The default.
    #[default]
    Block,
    /// Hand the task back: `Err(SpawnError::Full(task))`.
    Reject,
    /// Run the task on the calling thread, now.
    CallerRuns,
}

/// A hook called with a worker's index.
pub type ThreadHook = ConfigArc<dyn Fn(usize) + Send + Sync + 'static>;
/// Receives the panic payload of a fire-and-forget task.
pub type PanicHandler = ConfigArc<dyn Fn(Box<dyn Any + Send>) + Send + Sync + 'static>;
/// Names worker threads by index.
pub type ThreadNamer = ConfigArc<dyn Fn(usize) -> String + Send + Sync + 'static>;

/// Default injector capacity per priority level.
pub const DEFAULT_QUEUE_CAPACITY: usize = 16 * 1024;
/// Default capacity of each worker's deque.
pub const DEFAULT_DEQUE_CAPACITY: usize = 32 * 1024;
/// Default time an idle worker searches for work before it sleeps.
pub const DEFAULT_IDLE_SPIN: Duration = Duration::from_micros(50);
/// The smallest worker stack accepted.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// The largest worker count accepted.
pub const MAX_THREADS: usize = 4096;

/// Configures and builds a [`ThreadPool`].
///
/// ```
/// use std::time::Duration;
/// use weftpool::{Overflow, Pinning, ThreadPool};
///
/// let pool = ThreadPool::builder()
///     .threads(2)
///     .pinning(Pinning::None)
///     .idle_spin(Duration::from_micros(20))
///     .queue_capacity(1024)
///     .overflow(Overflow::Reject)
///     .build()
///     .unwrap();
/// assert_eq!(pool.current_num_threads(), 2);
///
/// let err = ThreadPool::builder().threads(0).build().unwrap_err();
/// assert_eq!(err.to_string(), "a pool needs at least one thread, got 0");
/// ```
#[derive(Clone)]
pub struct ThreadPoolBuilder {
    pub(crate) threads: Option<usize>,
    pub(crate) pinning: Pinning,
    pub(crate) topology: Option<Topology>,
    pub(crate) thread_name: Option<ThreadNamer>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) idle_spin: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) deque_capacity: usize,
    pub(crate) overflow: Overflow,
    pub(crate) starvation_limit: usize,
    pub(crate) on_thread_start: Option<ThreadHook>,
    pub(crate) on_thread_exit: Option<ThreadHook>,
    pub(crate) panic_handler: Option<PanicHandler>,
}

impl Default for ThreadPoolBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("threads", &self.threads)
            .field("pinning", &self.pinning)
            .field("stack_size", &self.stack_size)
            .field("idle_spin", &self.idle_spin)
            .field("queue_capacity", &self.queue_capacity)
            .field("deque_capacity", &self.deque_capacity)
            .field("overflow", &self.overflow)
            .field("starvation_limit", &self.starvation_limit)
            .finish_non_exhaustive()
    }
}

impl ThreadPoolBuilder {
    /// A builder with every default: one worker per CPU the process may use
    /// (cgroup quota respected), pinned one per core, `Overflow::Block`.
    pub fn new() -> Self {
        Self {
            threads: None,
            pinning: Pinning::Cores,
            topology: None,
            thread_name: None,
            stack_size: None,
            idle_spin: DEFAULT_IDLE_SPIN,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            deque_capacity: DEFAULT_DEQUE_CAPACITY,
            overflow: Overflow::Block,
            starvation_limit: DEFAULT_STARVATION_LIMIT,
            on_thread_start: None,
            on_thread_exit: None,
            panic_handler: None,
        }
    }

    /// The number of workers (default: the CPUs the process may use).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n);
        self
    }

    /// Where workers run (default [`Pinning::Cores`]).
    pub fn pinning(mut self, pinning: Pinning) -> Self {
        self.pinning = pinning;
        self
    }

    /// Plans placement on this topology instead of the detected one.
    pub fn topology(mut self, topology: Topology) -> Self {
        self.topology = Some(topology);
        self
    }

    /// Names worker threads (default `weftpool-{index}`).
    pub fn thread_name(mut self, name: impl Fn(usize) -> String + Send + Sync + 'static) -> Self {
        self.thread_name = Some(ConfigArc::new(name));
        self
    }

    /// The stack size of each worker thread, in bytes.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// How long an idle worker keeps searching before it sleeps (default
    /// 50 µs). `Duration::MAX` means never sleep (see [`never_sleep`](Self::never_sleep)).
    pub fn idle_spin(mut self, spin: Duration) -> Self {
        self.idle_spin = spin;
        self
    }

    /// Idle workers never sleep: lowest latency, one busy core per worker.
    /// For dedicated, isolated cores only.
    pub fn never_sleep(self) -> Self {
        self.idle_spin(Duration::MAX)
    }

    /// How many entries each priority level's injector holds (default
    /// 16384): one per task, except that `spawn_batch` submits groups of up
    /// to 64 tasks as one entry each.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n;
        self
    }

    /// How many tasks each worker's deque holds; a power of two (default
    /// 32768: 1.25 MiB per worker on 64-bit targets, at five words per
    /// task). A task spawned on a worker whose deque is full runs at once,
    /// on that worker: the default leaves room for large bursts.
    pub fn deque_capacity(mut self, n: usize) -> Self {
        self.deque_capacity = n;
        self
    }

    /// What a full injector does to `spawn` (default [`Overflow::Block`]).
    pub fn overflow(mut self, policy: Overflow) -> Self {
        self.overflow = policy;
        self
    }

    /// Takes from higher priorities a waiting lower priority tolerates before
    /// it is served (default 32; see [`crate::injector`]).
    pub fn starvation_limit(mut self, k: usize) -> Self {
        self.starvation_limit = k;
        self
    }

    /// Called on each worker thread when it starts, with its index.
    pub fn on_thread_start(mut self, hook: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.on_thread_start = Some(ConfigArc::new(hook));
        self
    }

    /// Called on each worker thread just before it exits, with its index.
    pub fn on_thread_exit(mut self, hook: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.on_thread_exit = Some(ConfigArc::new(hook));
        self
    }

    /// Receives the panics of fire-and-forget tasks (default: counted in the
    /// metrics; the panic itself was already reported by the panic hook).
    pub fn panic_handler(
        mut self,
        handler: impl Fn(Box<dyn Any + Send>) + Send + Sync + 'static,
    ) -> Self {
        self.panic_handler = Some(ConfigArc::new(handler));
        self
    }

    /// Checks every parameter, plans placement and starts the workers.
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        let validated = self.validate()?;
        ThreadPool::start(self, validated)
    }

    pub(crate) fn validate(&self) -> Result<Validated, BuildError> {
        if self.threads == Some(0) {
            return Err(BuildError::ZeroThreads);
        }
        if let Some(n) = self.threads.filter(|&n| n > MAX_THREADS) {
            return Err(BuildError::TooManyThreads {
                requested: n,
                max: MAX_THREADS,
            });
        }
        crate::queue::Ring::<()>::new(self.queue_capacity).map_err(BuildError::QueueCapacity)?;
        if self.deque_capacity == 0 {
            return Err(BuildError::DequeCapacity(crate::CapacityError::Zero));
        }
        if !self.deque_capacity.is_power_of_two() {
            return Err(BuildError::DequeCapacity(
                crate::CapacityError::NotPowerOfTwo(self.deque_capacity),
            ));
        }
        let starvation_limit =
            NonZeroUsize::new(self.starvation_limit).ok_or(BuildError::ZeroStarvationLimit)?;
        if let Some(bytes) = self.stack_size.filter(|&b| b < MIN_STACK_SIZE) {
            return Err(BuildError::StackTooSmall {
                requested: bytes,
                min: MIN_STACK_SIZE,
            });
        }
        let plan = self.plan()?;
        Ok(Validated {
            threads: plan.workers().len(),
            plan,
            starvation_limit,
        })
    }

    #[cfg(not(loom))]
    fn plan(&self) -> Result<PlacementPlan, BuildError> {
        let topology = match &self.topology {
            Some(t) => t.clone(),
            None => Topology::detect(),
        };
        let threads = match (self.threads, &self.pinning) {
            (Some(n), _) => n,
            (None, Pinning::Cpus(list)) if !list.is_empty() => list.len(),
            (None, _) => topology.default_worker_count(),
        };
        PlacementPlan::new(&topology, threads, &self.pinning).map_err(BuildError::Placement)
    }

    /// Under loom there is no machine to read: a flat, unpinned plan.
    #[cfg(loom)]
    fn plan(&self) -> Result<PlacementPlan, BuildError> {
        let threads = self.threads.unwrap_or(2);
        let topology = match &self.topology {
            Some(t) => t.clone(),
            None => Topology::builder()
                .symmetric(crate::topology::MachineShape {
                    packages: 1,
                    numa_nodes_per_package: 1,
                    cores_per_numa_node: threads,
                    threads_per_core: 1,
                })
                .build()
                .expect("a flat machine is always valid"),
        };
        PlacementPlan::new(&topology, threads, &Pinning::None).map_err(BuildError::Placement)
    }
}

/// What validation settled: the plan and derived values.
pub(crate) struct Validated {
    pub(crate) threads: usize,
    pub(crate) plan: PlacementPlan,
    pub(crate) starvation_limit: NonZeroUsize,
}
