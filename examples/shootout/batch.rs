//! Batch efficiency: many tasks of about 1 µs each. The ideal time is the
//! same work done on one thread, divided by the worker count; efficiency is
//! ideal ÷ measured. A reference frames it: the tasks split evenly over
//! plain threads up front, each still counting down the shared completion
//! counter, which is what a pool with no dispatch cost at all would reach
//! on this machine.
//!
//! Each run also records where the CPU time went while it lasted: on the
//! submitting thread, and on every other thread of the process (the pool's
//! workers, or the static split's threads). The work itself is the same in
//! every run, so what the pool's threads use beyond the static split's is
//! the pool's own cost per task, and the submitter's time is taken from the
//! same two CPUs.

use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::common::{
    alternate_twice, ms, percentile, spin, Countdown, Series, Settings, Trial, Work, TWIN_SUFFIX,
};
use crate::forkjoin::SEQUENTIAL;
use crate::resources::{process_cpu_time, thread_cpu_time};
use crate::systems::{with_pool, Executors, Pool, Rayon, Threadpool, Weft};

/// Microseconds of work in each task.
pub const TASK_US: f64 = 1.0;
/// weftpool submitting with `spawn_batch`.
pub const WEFT_BATCH: &str = "weftpool spawn_batch";
/// weftpool submitting one `spawn` per task.
pub const WEFT_SINGLE: &str = "weftpool spawn";
/// `spawn_batch` measured a second time in every round (the A/A check);
/// ends in `common::TWIN_SUFFIX`.
pub const WEFT_BATCH_AGAIN: &str = "weftpool spawn_batch again";
/// The reference: the tasks divided among plain threads before they start.
pub const STATIC_SPLIT: &str = "static split";

/// What one run took: its wall time, and the CPU time used meanwhile by the
/// thread that submitted (or started) the work and by all other threads.
#[derive(Debug, Clone, Copy)]
pub struct Spent {
    /// From the first submission until the last task ran.
    pub wall: Duration,
    /// CPU time of the submitting thread over that span.
    pub submitter: Duration,
    /// CPU time of every other thread of the process over that span.
    pub others: Duration,
}

/// Clocks started together: wall time, the process's and this thread's CPU.
struct Meter {
    start: Instant,
    process: Duration,
    thread: Duration,
}

impl Meter {
    fn start() -> Self {
        Self {
            process: process_cpu_time(),
            thread: thread_cpu_time(),
            start: Instant::now(),
        }
    }

    fn stop(self) -> Spent {
        let wall = self.start.elapsed();
        let submitter = thread_cpu_time().saturating_sub(self.thread);
        let process = process_cpu_time().saturating_sub(self.process);
        Spent {
            wall,
            submitter,
            others: process.saturating_sub(submitter),
        }
    }
}

/// The work of `n` tasks on the calling thread.
pub fn sequential(n: usize, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        black_box(spin(iters));
    }
    start.elapsed()
}

/// `n` tasks divided evenly among `settings.threads` plain threads, each
/// task counting down the same shared counter as in the pools; timed from
/// before the threads start until the last task ran.
pub fn static_split(settings: &Settings, n: usize, iters: u64) -> Spent {
    let threads = settings.threads.max(1);
    let done = Countdown::leak(n);
    let meter = Meter::start();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let share = n / threads + usize::from(t < n % threads);
            std::thread::spawn(move || {
                for _ in 0..share {
                    black_box(spin(iters));
                    done.hit();
                }
            })
        })
        .collect();
    done.wait();
    let spent = meter.stop();
    for handle in handles {
        let _ = handle.join();
    }
    spent
}

/// `n` tasks spawned one by one on `P`, until the last one ran.
pub fn single<P: Pool>(settings: &Settings, n: usize, iters: u64) -> Spent {
    with_pool::<P, _>(settings, |pool| {
        let done = Countdown::leak(n);
        let meter = Meter::start();
        for _ in 0..n {
            pool.spawn(move || {
                black_box(spin(iters));
                done.hit();
            });
        }
        done.wait();
        meter.stop()
    })
}

/// `n` tasks handed to weftpool in one `spawn_batch`.
pub fn weft_batch(settings: &Settings, n: usize, iters: u64) -> Spent {
    with_pool::<Weft, _>(settings, |pool| {
        let done = Countdown::leak(n);
        let meter = Meter::start();
        let tasks = (0..n).map(|_| {
            move || {
                black_box(spin(iters));
                done.hit();
            }
        });
        let spawned = pool
            .0
            .spawn_batch(tasks)
            .unwrap_or_else(|_| panic!("weftpool refused a batch under Overflow::Block"));
        assert_eq!(spawned, n);
        done.wait();
        meter.stop()
    })
}

/// The median CPU time of one system's runs, in milliseconds.
#[derive(Debug, Clone)]
pub struct CpuUse {
    /// The system (or reference) that ran the batch.
    pub system: &'static str,
    /// The submitting thread.
    pub submitter: f64,
    /// Every other thread: the pool's workers, or the static split's threads.
    pub others: f64,
    /// The share of the run's wall time that its threads spent on the CPUs,
    /// all CPU time ÷ (wall time × worker count), in percent: what is
    /// missing was spent off every CPU (a thread waiting to be woken or
    /// scheduled, or the machine's host taking the CPU).
    pub busy: f64,
}

/// Every way of running the batch, alternating: wall times in milliseconds,
/// and where the CPU time went (all but the sequential reference).
pub fn run(settings: &Settings, work: Work) -> (Vec<Series>, Vec<CpuUse>) {
    let n = settings.batch_tasks;
    let iters = work.iters(TASK_US);
    let s = settings;
    let spent: RefCell<Vec<(&'static str, Spent)>> = RefCell::new(Vec::new());
    let record = |system: &'static str, run: Spent| {
        spent.borrow_mut().push((system, run));
        vec![ms(run.wall)]
    };
    let mut trials: Vec<Trial<'_>> = vec![
        (SEQUENTIAL, Box::new(move || vec![ms(sequential(n, iters))])),
        (
            STATIC_SPLIT,
            Box::new(move || record(STATIC_SPLIT, static_split(s, n, iters))),
        ),
        (
            WEFT_BATCH,
            Box::new(move || record(WEFT_BATCH, weft_batch(s, n, iters))),
        ),
        (
            WEFT_SINGLE,
            Box::new(move || record(WEFT_SINGLE, single::<Weft>(s, n, iters))),
        ),
        (
            Rayon::NAME,
            Box::new(move || record(Rayon::NAME, single::<Rayon>(s, n, iters))),
        ),
        (
            Executors::NAME,
            Box::new(move || record(Executors::NAME, single::<Executors>(s, n, iters))),
        ),
        (
            Threadpool::NAME,
            Box::new(move || record(Threadpool::NAME, single::<Threadpool>(s, n, iters))),
        ),
    ];
    let series = alternate_twice(settings.rounds, &mut trials, WEFT_BATCH, WEFT_BATCH_AGAIN);
    drop(trials);
    let spent = spent.into_inner();
    // Every system that recorded its runs, in the order of the trials (the
    // A/A twin's runs are recorded as its subject's).
    let cpu = series
        .iter()
        .map(|s| s.system)
        .filter(|&system| system != SEQUENTIAL && !system.ends_with(TWIN_SUFFIX))
        .map(|system| {
            let median = |part: &dyn Fn(&Spent) -> f64| {
                let values: Vec<f64> = spent
                    .iter()
                    .filter(|(s, _)| *s == system)
                    .map(|(_, run)| part(run))
                    .collect();
                percentile(&values, 50.0)
            };
            let threads = settings.threads.max(1) as f64;
            CpuUse {
                system,
                submitter: median(&|r| ms(r.submitter)),
                others: median(&|r| ms(r.others)),
                busy: median(&|r| {
                    (ms(r.submitter) + ms(r.others)) / (ms(r.wall) * threads) * 100.0
                }),
            }
        })
        .collect();
    (series, cpu)
}
