//! Helpers shared by the pool integration tests: bounded waits and gates.
#![allow(dead_code)]

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

use weftpool::{Overflow, Pinning, ThreadPool, ThreadPoolBuilder};

/// How long any single test body may run before it counts as hung.
pub const HANG: Duration = Duration::from_secs(60);

/// Runs `body` on its own thread and fails the test if it has not finished
/// within [`HANG`], so a lost wake-up fails instead of hanging CI. A panic in
/// the body is resumed here.
pub fn bounded<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    bounded_for(HANG, body)
}

/// Like [`bounded`], with an explicit limit.
pub fn bounded_for<T: Send + 'static>(
    limit: Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done_tx, done_rx) = mpsc::channel();
    let body = thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let out = body();
            let _ = done_tx.send(());
            out
        })
        .expect("spawn the test body");
    match done_rx.recv_timeout(limit) {
        Ok(()) | Err(RecvTimeoutError::Disconnected) => match body.join() {
            Ok(out) => out,
            Err(payload) => panic::resume_unwind(payload),
        },
        Err(RecvTimeoutError::Timeout) => panic!("the test body hung for {limit:?}"),
    }
}

/// A builder for an unpinned pool of `threads` workers.
pub fn builder(threads: usize) -> ThreadPoolBuilder {
    ThreadPool::builder()
        .threads(threads)
        .pinning(Pinning::None)
}

/// An unpinned pool of `threads` workers.
pub fn pool(threads: usize) -> ThreadPool {
    builder(threads).build().expect("build the pool")
}

/// A one-shot gate: tasks block in [`Gate::wait`] until [`Gate::open`].
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    /// Blocks until the gate opens (at most [`HANG`]; then panics).
    pub fn wait(&self) {
        let (lock, cond) = &*self.0;
        let (open, timeout) = cond
            .wait_timeout_while(lock.lock().unwrap(), HANG, |open| !*open)
            .unwrap();
        assert!(*open && !timeout.timed_out(), "gate never opened");
    }
}

/// Occupies the only worker of `pool` (or one of its workers) until the
/// returned gate opens; returns once the worker is inside the gate.
pub fn block_a_worker(pool: &ThreadPool) -> Gate {
    let gate = Gate::new();
    let (started_tx, started_rx) = mpsc::channel();
    let inside = gate.clone();
    pool.spawn(move || {
        started_tx.send(()).unwrap();
        inside.wait();
    })
    .unwrap();
    started_rx
        .recv_timeout(HANG)
        .expect("the gate task never started");
    gate
}

/// Polls `cond` every millisecond until it holds or `limit` passes; returns
/// whether it held.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// The marker that test panics carry, so the hook can keep them quiet.
pub const EXPECTED: &str = "expected test panic";

/// Silences panics whose message starts with [`EXPECTED`]; every other panic
/// (a failed assertion) is still printed.
pub fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("");
            if !msg.starts_with(EXPECTED) {
                default(info);
            }
        }));
    });
}

/// A task that adds one to `count`.
pub fn counting_task(count: &Arc<AtomicUsize>) -> impl FnOnce() + Send + 'static {
    let count = count.clone();
    move || {
        count.fetch_add(1, Ordering::SeqCst);
    }
}

/// One worker held busy by a gate task, `capacity` slots per level and the
/// given overflow policy: the next submissions fill the injector.
pub fn gated_pool(capacity: usize, overflow: Overflow) -> (Arc<ThreadPool>, Gate) {
    let pool = Arc::new(
        builder(1)
            .queue_capacity(capacity)
            .overflow(overflow)
            .build()
            .unwrap(),
    );
    let gate = block_a_worker(&pool);
    (pool, gate)
}
