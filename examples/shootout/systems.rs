//! The pools under test behind one small interface, so a workload is written
//! once and run on each of them.

use std::cell::RefCell;
use std::num::NonZeroUsize;
use std::thread::JoinHandle;

use executors::Executor as _;

use crate::common::Settings;

/// A pool that runs `'static` closures submitted from any thread.
pub trait Pool: Sized {
    /// The name in tables and plots.
    const NAME: &'static str;

    /// Starts a pool with `settings.threads` workers.
    fn start(settings: &Settings) -> Self;

    /// Submits `f` at the normal priority.
    fn spawn<F: FnOnce() + Send + 'static>(&self, f: F);

    /// Submits `f` ahead of the normal work, if the pool can; by default it
    /// cannot.
    fn spawn_urgent<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.spawn(f);
    }

    /// Tidies up between measurements, outside the timed part.
    fn settle(&self) {}

    /// Stops the workers and waits for them.
    fn finish(self) {}

    /// Times the workers went to sleep so far, if the pool counts them.
    fn parks(&self) -> Option<u64> {
        None
    }
}

/// A weftpool built for the run's settings.
pub fn weft_builder(settings: &Settings) -> weftpool::ThreadPoolBuilder {
    let pinning = if settings.pin {
        weftpool::Pinning::Cores
    } else {
        weftpool::Pinning::None
    };
    let builder = weftpool::ThreadPool::builder()
        .threads(settings.threads)
        .pinning(pinning);
    match settings.idle_spin {
        Some(spin) => builder.idle_spin(spin),
        None => builder,
    }
}

/// weftpool measured a second time in every round of a workload with a
/// target: the A/A check (see `common::alternate_twice`); ends in
/// `common::TWIN_SUFFIX`.
pub const WEFT_AGAIN: &str = "weftpool again";

/// weftpool with its defaults (apart from the worker count and pinning).
pub struct Weft(pub weftpool::ThreadPool);

impl Pool for Weft {
    const NAME: &'static str = "weftpool";

    fn start(settings: &Settings) -> Self {
        Weft(
            weft_builder(settings)
                .build()
                .expect("weftpool refused the shoot-out's settings"),
        )
    }

    fn spawn<F: FnOnce() + Send + 'static>(&self, f: F) {
        if self.0.spawn(f).is_err() {
            panic!("weftpool refused a task under Overflow::Block");
        }
    }

    fn spawn_urgent<F: FnOnce() + Send + 'static>(&self, f: F) {
        if self.0.spawn_with(weftpool::Priority::High, f).is_err() {
            panic!("weftpool refused a task under Overflow::Block");
        }
    }

    fn finish(self) {
        let _ = self.0.shutdown();
    }

    fn parks(&self) -> Option<u64> {
        Some(self.0.metrics().workers.iter().map(|w| w.parks).sum())
    }
}

/// rayon's `ThreadPool::spawn`.
pub struct Rayon(pub rayon::ThreadPool);

impl Pool for Rayon {
    const NAME: &'static str = "rayon";

    fn start(settings: &Settings) -> Self {
        Rayon(
            rayon::ThreadPoolBuilder::new()
                .num_threads(settings.threads)
                .build()
                .expect("rayon could not start its pool"),
        )
    }

    fn spawn<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.0.spawn(f);
    }
}

/// The crossbeam work-stealing pool of `executors`.
pub struct Executors(
    pub  executors::crossbeam_workstealing_pool::ThreadPool<
        executors::parker::StaticParker<executors::parker::SmallThreadData>,
    >,
);

impl Pool for Executors {
    const NAME: &'static str = "executors";

    fn start(settings: &Settings) -> Self {
        Executors(executors::crossbeam_workstealing_pool::small_pool(
            settings.threads,
        ))
    }

    fn spawn<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.0.execute(f);
    }

    fn finish(self) {
        let _ = self.0.shutdown();
    }
}

/// The `threadpool` crate: one shared channel feeding the workers.
pub struct Threadpool(pub threadpool::ThreadPool);

impl Pool for Threadpool {
    const NAME: &'static str = "threadpool";

    fn start(settings: &Settings) -> Self {
        Threadpool(threadpool::ThreadPool::new(settings.threads))
    }

    fn spawn<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.0.execute(f);
    }

    fn finish(self) {
        self.0.join();
    }
}

/// No pool: a new `std::thread` per task.
pub struct StdThread(RefCell<Vec<JoinHandle<()>>>);

impl Pool for StdThread {
    const NAME: &'static str = "std";

    fn start(_: &Settings) -> Self {
        StdThread(RefCell::new(Vec::new()))
    }

    fn spawn<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.0.borrow_mut().push(std::thread::spawn(f));
    }

    fn settle(&self) {
        for h in self.0.borrow_mut().drain(..) {
            let _ = h.join();
        }
    }

    fn finish(self) {
        for h in self.0.into_inner() {
            let _ = h.join();
        }
    }
}

/// chili's heartbeat-scheduled pool; the calling thread is one of its
/// workers, so it starts one thread fewer.
pub fn chili_pool(settings: &Settings) -> chili::ThreadPool {
    chili::ThreadPool::with_config(chili::Config {
        thread_count: NonZeroUsize::new(settings.threads),
        ..chili::Config::default()
    })
}

/// Runs `body` with a freshly started pool of kind `P`, then finishes it.
pub fn with_pool<P: Pool, R>(settings: &Settings, body: impl FnOnce(&P) -> R) -> R {
    let pool = P::start(settings);
    let result = body(&pool);
    pool.finish();
    result
}
