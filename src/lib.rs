//! weftpool: a lock-free, topology-aware thread-pool runtime without async.
//!
//! OS threads pinned by the machine's topology run a Chase-Lev work-stealing
//! scheduler fed by bounded per-priority injectors; bounded MPMC channels connect
//! pipeline stages. Every concurrent protocol is model-checked with loom: build
//! with `RUSTFLAGS="--cfg loom"` and the whole runtime runs on loom's primitives.
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub(crate) mod sleep;
pub(crate) mod sync;

pub mod channel;
pub mod deque;
pub mod error;
pub mod injector;
pub mod metrics;
mod pool;
pub mod queue;
pub mod topology;

pub use error::{BuildError, CapacityError, ShutdownError, SpawnError, TaskError, TrySpawnError};
pub use injector::Priority;
pub use metrics::{PoolMetrics, WorkerMetrics};
#[cfg(not(loom))]
pub use pool::{current_worker_index, join, scope, spawn, spawn_with};
pub use pool::{
    JoinHandle, Overflow, PanicHandler, Scope, ShutdownReport, ThreadHook, ThreadNamer, ThreadPool,
    ThreadPoolBuilder, DEFAULT_DEQUE_CAPACITY, DEFAULT_IDLE_SPIN, DEFAULT_QUEUE_CAPACITY,
    MAX_THREADS, MIN_STACK_SIZE,
};
pub use topology::{Pinning, PlacementPlan, Topology};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
