//! A burst after an idle spell: the pool sleeps, then the submitter spawns a
//! burst of short tasks and keeps its CPU (it spins on the results) until all
//! ran. What it measures is whether the pool gets a worker onto a free CPU
//! while the submitter is still running: a worker woken onto the submitter's
//! own CPU runs only once the submitter blocks or is preempted.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{alternate, spin, Series, Settings, Trial, Work};
use crate::systems::{with_pool, Executors, Pool, Rayon, Threadpool, Weft};

/// Tasks in one burst.
pub const TASKS: usize = 64;
/// Microseconds of work in each task.
pub const TASK_US: f64 = 10.0;
/// The idle spell before each burst, long enough for every pool to sleep.
const IDLE: Duration = Duration::from_millis(3);

/// Burst times on `P`, in nanoseconds: from the first spawn until the
/// submitter, spinning, sees the last task done.
pub fn bursts<P: Pool>(settings: &Settings, count: usize, iters: u64) -> Vec<f64> {
    with_pool::<P, _>(settings, |pool| {
        let done: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            thread::sleep(IDLE);
            // Relaxed: every task of the previous burst has finished.
            done.store(0, Ordering::Relaxed);
            let start = Instant::now();
            for _ in 0..TASKS {
                pool.spawn(move || {
                    black_box(spin(iters));
                    // Release: pairs with the submitter's Acquire load.
                    done.fetch_add(1, Ordering::Release);
                });
            }
            while done.load(Ordering::Acquire) < TASKS {
                std::hint::spin_loop();
            }
            out.push(start.elapsed().as_nanos() as f64);
            pool.settle();
        }
        out
    })
}

/// Every pool, alternating in rounds; values in nanoseconds.
pub fn run(settings: &Settings, work: Work) -> Vec<Series> {
    let per_round = settings.bursts.div_ceil(settings.rounds);
    let iters = work.iters(TASK_US);
    let s = settings;
    let mut trials: Vec<Trial<'_>> = vec![
        (
            Weft::NAME,
            Box::new(move || bursts::<Weft>(s, per_round, iters)),
        ),
        (
            Rayon::NAME,
            Box::new(move || bursts::<Rayon>(s, per_round, iters)),
        ),
        (
            Executors::NAME,
            Box::new(move || bursts::<Executors>(s, per_round, iters)),
        ),
        (
            Threadpool::NAME,
            Box::new(move || bursts::<Threadpool>(s, per_round, iters)),
        ),
    ];
    alternate(settings.rounds, &mut trials)
}
