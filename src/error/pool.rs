use std::any::Any;
use std::fmt;
use std::time::Duration;

use thiserror::Error;

use super::CapacityError;

/// Why [`ThreadPoolBuilder::build`](crate::ThreadPoolBuilder::build) refused.
#[derive(Debug, Error)]
pub enum BuildError {
    /// A pool needs at least one worker.
    #[error("a pool needs at least one thread, got 0")]
    ZeroThreads,
    /// More workers than the pool can index were requested.
    #[error("{requested} threads requested; at most {max} are supported")]
    TooManyThreads {
        /// What was asked for.
        requested: usize,
        /// The largest count accepted.
        max: usize,
    },
    /// The per-priority injector capacity is invalid.
    #[error("invalid queue_capacity: {0}")]
    QueueCapacity(#[source] CapacityError),
    /// The per-worker deque capacity is invalid.
    #[error("invalid deque_capacity: {0}")]
    DequeCapacity(#[source] CapacityError),
    /// A starvation limit of zero would invert the priorities.
    #[error("starvation_limit must be at least 1, got 0")]
    ZeroStarvationLimit,
    /// The requested stack size is too small to run anything.
    #[error("stack_size of {requested} bytes is below the minimum of {min}")]
    StackTooSmall {
        /// What was asked for.
        requested: usize,
        /// The smallest stack accepted.
        min: usize,
    },
    /// The pinning policy cannot be met on this machine.
    #[error("impossible pinning: {0}")]
    Placement(#[source] crate::error::PlacementError),
    /// The operating system refused to start a worker thread; the threads
    /// already started were stopped and joined.
    #[error("could not spawn worker thread {index}: {source}")]
    Spawn {
        /// The worker that failed to start.
        index: usize,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

/// A task the pool did not take; the closure is handed back inside.
#[derive(PartialEq, Eq, Error)]
pub enum SpawnError<F> {
    /// The injector for the task's priority was full and the overflow policy
    /// is [`Overflow::Reject`](crate::Overflow::Reject), or the call was a
    /// `try_spawn`.
    #[error("the pool's queue is full")]
    Full(F),
    /// The pool is shutting down or has shut down.
    #[error("the pool is shut down")]
    ShutDown(F),
}

impl<F> SpawnError<F> {
    /// The task that was not taken.
    pub fn into_inner(self) -> F {
        match self {
            SpawnError::Full(f) | SpawnError::ShutDown(f) => f,
        }
    }

    /// Whether the queue was full (as opposed to the pool being shut down).
    pub fn is_full(&self) -> bool {
        matches!(self, SpawnError::Full(_))
    }

    /// Applies `map` to the task inside, keeping the reason.
    pub fn map<G>(self, map: impl FnOnce(F) -> G) -> SpawnError<G> {
        match self {
            SpawnError::Full(f) => SpawnError::Full(map(f)),
            SpawnError::ShutDown(f) => SpawnError::ShutDown(map(f)),
        }
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Full(_) => f.write_str("Full(..)"),
            SpawnError::ShutDown(_) => f.write_str("ShutDown(..)"),
        }
    }
}

/// The error of [`ThreadPool::try_spawn`](crate::ThreadPool::try_spawn): the
/// same reasons as [`SpawnError`].
pub type TrySpawnError<F> = SpawnError<F>;

/// How a task behind a [`JoinHandle`](crate::JoinHandle) failed to produce a
/// value.
#[derive(Error)]
pub enum TaskError {
    /// The task panicked; the payload is what it panicked with.
    #[error("the task panicked: {}", panic_message(.0))]
    Panicked(Box<dyn Any + Send + 'static>),
    /// The task was cancelled before it started (by
    /// [`JoinHandle::cancel`](crate::JoinHandle::cancel) or a timed-out
    /// shutdown).
    #[error("the task was cancelled before it started")]
    Cancelled,
    /// `join_timeout` gave up waiting; the task may still finish, and the
    /// handle can be joined again.
    #[error("the task did not finish within {0:?}")]
    TimedOut(Duration),
    /// The result was already taken by an earlier `join_timeout`.
    #[error("the task's result was already taken")]
    AlreadyJoined,
}

impl TaskError {
    /// The panic payload, if the task panicked.
    pub fn into_panic(self) -> Option<Box<dyn Any + Send + 'static>> {
        match self {
            TaskError::Panicked(p) => Some(p),
            _ => None,
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked(p) => write!(f, "Panicked({:?})", panic_message(p)),
            TaskError::Cancelled => f.write_str("Cancelled"),
            TaskError::TimedOut(d) => write!(f, "TimedOut({d:?})"),
            TaskError::AlreadyJoined => f.write_str("AlreadyJoined"),
        }
    }
}

/// The text of a panic payload, when it is a string.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "<non-string panic payload>"
    }
}

/// Why a shutdown or broadcast could not proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ShutdownError {
    /// `shutdown` was called from one of the pool's own tasks: waiting for the
    /// pool to finish would wait for the caller itself.
    #[error("shutdown called from inside one of the pool's own tasks")]
    FromWorker,
    /// The pool is already shut down (for `broadcast`).
    #[error("the pool is shut down")]
    ShutDown,
}
