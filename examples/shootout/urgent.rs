//! Priority: how soon a task marked urgent starts when it is submitted
//! behind a backlog of ordinary tasks. A pool without priorities runs it
//! after the backlog.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::common::{alternate, spin, Countdown, Series, Settings, Trial, Work};
use crate::systems::{with_pool, Executors, Pool, Rayon, Threadpool, Weft};

/// Microseconds of work in each backlog task.
pub const BACKLOG_TASK_US: f64 = 10.0;

/// Dispatch latency of one urgent task behind `settings.backlog` tasks of
/// 10 µs, in nanoseconds.
pub fn urgent<P: Pool>(settings: &Settings, work: Work) -> f64 {
    let iters = work.iters(BACKLOG_TASK_US);
    with_pool::<P, _>(settings, |pool| {
        let done = Countdown::leak(settings.backlog + 1);
        for _ in 0..settings.backlog {
            pool.spawn(move || {
                std::hint::black_box(spin(iters));
                done.hit();
            });
        }
        let latency = Arc::new(AtomicU64::new(0));
        let l = latency.clone();
        let t0 = Instant::now();
        pool.spawn_urgent(move || {
            // Relaxed: the countdown's AcqRel publishes it to the waiter.
            l.store(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
            done.hit();
        });
        done.wait();
        latency.load(Ordering::Relaxed) as f64
    })
}

/// The urgent-task latency on every system, alternating; nanoseconds.
pub fn run(settings: &Settings, work: Work) -> Vec<Series> {
    let s = settings;
    let mut trials: Vec<Trial<'_>> = vec![
        (Weft::NAME, Box::new(move || vec![urgent::<Weft>(s, work)])),
        (
            Rayon::NAME,
            Box::new(move || vec![urgent::<Rayon>(s, work)]),
        ),
        (
            Executors::NAME,
            Box::new(move || vec![urgent::<Executors>(s, work)]),
        ),
        (
            Threadpool::NAME,
            Box::new(move || vec![urgent::<Threadpool>(s, work)]),
        ),
    ];
    alternate(settings.urgent_rounds, &mut trials)
}
