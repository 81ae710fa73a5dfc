//! Per-worker counters kept on each worker's own cache line, read by anyone
//! at any time without stopping the workers.
//!
//! Each counter has exactly one writer (its worker), which bumps it with a
//! plain load and store instead of a locked read-modify-write; readers see a
//! slightly stale but never torn value.

use std::fmt::Write as _;

use crate::injector::{Priority, LEVELS};
use crate::sync::{AtomicU64, Ordering};

/// The counters of one worker; one writer each.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) executed: AtomicU64,
    pub(crate) stolen: AtomicU64,
    pub(crate) local_pops: AtomicU64,
    pub(crate) injector_pops: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) pin_failures: AtomicU64,
}

impl Counters {
    /// Adds one to a counter of this worker; only the worker itself calls this.
    #[inline(always)]
    pub(crate) fn bump(&self, counter: &AtomicU64) {
        self.add(counter, 1);
    }

    /// Adds `n` to a counter of this worker; only the worker itself calls this.
    #[inline(always)]
    pub(crate) fn add(&self, counter: &AtomicU64, n: u64) {
        // Relaxed: single writer, and readers only need an eventually fresh,
        // untorn value; no other memory is published through a counter.
        counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
}

/// A snapshot of one worker's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerMetrics {
    /// Tasks this worker ran.
    pub executed: u64,
    /// Tasks it stole from siblings (each successful steal counts once, even
    /// when it moved a batch).
    pub stolen: u64,
    /// Entries it took from its own deque (a task, or a slice of a
    /// `spawn_batch` group).
    pub local_pops: u64,
    /// Entries it took from the priority injectors (a task, or a group of a
    /// `spawn_batch`).
    pub injector_pops: u64,
    /// Times it went to sleep.
    pub parks: u64,
    /// Fire-and-forget tasks that panicked on it.
    pub panicked: u64,
    /// Times pinning this worker's thread was refused by the system.
    pub pin_failures: u64,
    /// Entries in its deque right now (a task, or a slice of a
    /// `spawn_batch` group).
    pub deque_len: usize,
}

impl WorkerMetrics {
    pub(crate) fn read(c: &Counters, deque_len: usize) -> Self {
        // Relaxed: statistics; see the module docs.
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Self {
            executed: get(&c.executed),
            stolen: get(&c.stolen),
            local_pops: get(&c.local_pops),
            injector_pops: get(&c.injector_pops),
            parks: get(&c.parks),
            panicked: get(&c.panicked),
            pin_failures: get(&c.pin_failures),
            deque_len,
        }
    }
}

/// A per-worker Prometheus series: name, help text, and how to read it.
type Column = (&'static str, &'static str, fn(&WorkerMetrics) -> u64);

/// A snapshot of a pool's metrics: see [`ThreadPool::metrics`](crate::ThreadPool::metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolMetrics {
    /// One entry per worker, in worker order.
    pub workers: Vec<WorkerMetrics>,
    /// Entries waiting in each priority injector, most urgent first: one per
    /// task, except that a group of up to 64 tasks from one `spawn_batch`
    /// counts once.
    pub injector_depth: [usize; LEVELS],
    /// Tasks cancelled before they started.
    pub cancelled: u64,
    /// Workers asleep right now.
    pub sleeping: usize,
    /// Times a worker loop resumed after a panic escaped the task boundary.
    pub worker_restarts: u64,
    /// Times the panic handler itself panicked (contained; the worker goes on).
    pub handler_panics: u64,
}

impl PoolMetrics {
    pub(crate) fn new(
        workers: Vec<WorkerMetrics>,
        injector_depth: [usize; LEVELS],
        cancelled: u64,
        sleeping: usize,
        worker_restarts: u64,
        handler_panics: u64,
    ) -> Self {
        Self {
            workers,
            injector_depth,
            cancelled,
            sleeping,
            worker_restarts,
            handler_panics,
        }
    }

    /// Tasks run by all workers.
    pub fn executed(&self) -> u64 {
        self.workers.iter().map(|w| w.executed).sum()
    }

    /// Fire-and-forget tasks that panicked, over all workers.
    pub fn panicked(&self) -> u64 {
        self.workers.iter().map(|w| w.panicked).sum()
    }

    /// Tasks stolen between workers.
    pub fn stolen(&self) -> u64 {
        self.workers.iter().map(|w| w.stolen).sum()
    }

    /// Entries waiting in all injectors (see
    /// [`injector_depth`](Self::injector_depth)).
    pub fn queued(&self) -> usize {
        self.injector_depth.iter().sum()
    }

    /// The snapshot in Prometheus text exposition format.
    ///
    /// ```
    /// let pool = weftpool::ThreadPool::builder().threads(1).build().unwrap();
    /// let text = pool.metrics().to_prometheus();
    /// assert!(text.contains("weftpool_tasks_executed_total{worker=\"0\"}"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let per_worker: [Column; 6] = [
            ("tasks_executed_total", "Tasks run.", |w| w.executed),
            ("tasks_stolen_total", "Successful steals.", |w| w.stolen),
            ("local_pops_total", "Tasks taken from the own deque.", |w| {
                w.local_pops
            }),
            (
                "injector_pops_total",
                "Tasks taken from the injectors.",
                |w| w.injector_pops,
            ),
            ("parks_total", "Times a worker went to sleep.", |w| w.parks),
            (
                "tasks_panicked_total",
                "Fire-and-forget tasks that panicked.",
                |w| w.panicked,
            ),
        ];
        for (name, help, get) in per_worker {
            let _ = writeln!(
                out,
                "# HELP weftpool_{name} {help}\n# TYPE weftpool_{name} counter"
            );
            for (i, w) in self.workers.iter().enumerate() {
                let _ = writeln!(out, "weftpool_{name}{{worker=\"{i}\"}} {}", get(w));
            }
        }
        let _ = writeln!(out, "# HELP weftpool_deque_length Tasks in each worker's deque.\n# TYPE weftpool_deque_length gauge");
        for (i, w) in self.workers.iter().enumerate() {
            let _ = writeln!(
                out,
                "weftpool_deque_length{{worker=\"{i}\"}} {}",
                w.deque_len
            );
        }
        let _ = writeln!(out, "# HELP weftpool_injector_depth Entries waiting per priority (a spawn_batch group of up to 64 tasks counts once).\n# TYPE weftpool_injector_depth gauge");
        for p in Priority::ALL {
            let _ = writeln!(
                out,
                "weftpool_injector_depth{{priority=\"{}\"}} {}",
                p.name(),
                self.injector_depth[p.index()]
            );
        }
        let _ = writeln!(out, "# HELP weftpool_tasks_cancelled_total Tasks cancelled before they started.\n# TYPE weftpool_tasks_cancelled_total counter\nweftpool_tasks_cancelled_total {}", self.cancelled);
        let _ = writeln!(out, "# HELP weftpool_workers_sleeping Workers asleep.\n# TYPE weftpool_workers_sleeping gauge\nweftpool_workers_sleeping {}", self.sleeping);
        out
    }
}
