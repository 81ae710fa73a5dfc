//! Batch efficiency: many tasks of about 1 µs each. The ideal time is the
//! same work done on one thread, divided by the worker count; efficiency is
//! ideal ÷ measured. A reference frames it: the tasks split evenly over
//! plain threads up front, each still counting down the shared completion
//! counter, which is what a pool with no dispatch cost at all would reach
//! on this machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::common::{alternate, ms, spin, Countdown, Series, Settings, Trial, Work};
use crate::forkjoin::SEQUENTIAL;
use crate::systems::{with_pool, Executors, Pool, Rayon, Threadpool, Weft};

/// Microseconds of work in each task.
pub const TASK_US: f64 = 1.0;
/// weftpool submitting with `spawn_batch`.
pub const WEFT_BATCH: &str = "weftpool spawn_batch";
/// weftpool submitting one `spawn` per task.
pub const WEFT_SINGLE: &str = "weftpool spawn";
/// The reference: the tasks divided among plain threads before they start.
pub const STATIC_SPLIT: &str = "static split";

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
pub fn static_split(settings: &Settings, n: usize, iters: u64) -> Duration {
    let threads = settings.threads.max(1);
    let done = Countdown::leak(n);
    let start = Instant::now();
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
    let elapsed = start.elapsed();
    for handle in handles {
        let _ = handle.join();
    }
    elapsed
}

/// `n` tasks spawned one by one on `P`, until the last one ran.
pub fn single<P: Pool>(settings: &Settings, n: usize, iters: u64) -> Duration {
    with_pool::<P, _>(settings, |pool| {
        let done = Countdown::leak(n);
        let start = Instant::now();
        for _ in 0..n {
            pool.spawn(move || {
                black_box(spin(iters));
                done.hit();
            });
        }
        done.wait();
        start.elapsed()
    })
}

/// `n` tasks handed to weftpool in one `spawn_batch`.
pub fn weft_batch(settings: &Settings, n: usize, iters: u64) -> Duration {
    with_pool::<Weft, _>(settings, |pool| {
        let done = Countdown::leak(n);
        let start = Instant::now();
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
        start.elapsed()
    })
}

/// Every way of running the batch, alternating; milliseconds.
pub fn run(settings: &Settings, work: Work) -> Vec<Series> {
    let n = settings.batch_tasks;
    let iters = work.iters(TASK_US);
    let s = settings;
    let mut trials: Vec<Trial<'_>> = vec![
        (SEQUENTIAL, Box::new(move || vec![ms(sequential(n, iters))])),
        (
            STATIC_SPLIT,
            Box::new(move || vec![ms(static_split(s, n, iters))]),
        ),
        (
            WEFT_BATCH,
            Box::new(move || vec![ms(weft_batch(s, n, iters))]),
        ),
        (
            WEFT_SINGLE,
            Box::new(move || vec![ms(single::<Weft>(s, n, iters))]),
        ),
        (
            Rayon::NAME,
            Box::new(move || vec![ms(single::<Rayon>(s, n, iters))]),
        ),
        (
            Executors::NAME,
            Box::new(move || vec![ms(single::<Executors>(s, n, iters))]),
        ),
        (
            Threadpool::NAME,
            Box::new(move || vec![ms(single::<Threadpool>(s, n, iters))]),
        ),
    ];
    alternate(settings.rounds, &mut trials)
}
