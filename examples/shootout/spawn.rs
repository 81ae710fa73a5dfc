//! Spawn throughput: empty tasks that each bump a counter, submitted from
//! outside the pool (external) or by a task already running inside it
//! (internal).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use executors::Executor as _;

use crate::common::{alternate_twice, ms, Countdown, Series, Settings, Trial};
use crate::systems::{with_pool, Executors, Pool, Rayon, Threadpool, Weft, WEFT_AGAIN};

/// `n` tasks spawned from the calling (non-worker) thread, until the last
/// one ran.
pub fn external<P: Pool>(settings: &Settings, n: usize) -> Duration {
    with_pool::<P, _>(settings, |pool| {
        let done = Countdown::leak(n);
        let start = Instant::now();
        for _ in 0..n {
            pool.spawn(move || done.hit());
        }
        done.wait();
        start.elapsed()
    })
}

/// `n` tasks spawned into a weftpool scope by its body, which runs on a
/// worker.
pub fn internal_weft(settings: &Settings, n: usize) -> Duration {
    with_pool::<Weft, _>(settings, |pool| {
        let count = AtomicUsize::new(0);
        let start = Instant::now();
        pool.0.scope(|s| {
            for _ in 0..n {
                s.spawn(|_| {
                    // Relaxed: the scope's end synchronises the final count.
                    count.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        let elapsed = start.elapsed();
        assert_eq!(count.into_inner(), n, "weftpool lost scoped tasks");
        elapsed
    })
}

/// The same with a rayon scope.
pub fn internal_rayon(settings: &Settings, n: usize) -> Duration {
    with_pool::<Rayon, _>(settings, |pool| {
        let count = AtomicUsize::new(0);
        let start = Instant::now();
        pool.0.scope(|s| {
            for _ in 0..n {
                s.spawn(|_| {
                    // Relaxed: the scope's end synchronises the final count.
                    count.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        let elapsed = start.elapsed();
        assert_eq!(count.into_inner(), n, "rayon lost scoped tasks");
        elapsed
    })
}

/// `executors` has no scope: one task submits the rest from its worker,
/// which puts them on that worker's local queue.
pub fn internal_executors(settings: &Settings, n: usize) -> Duration {
    with_pool::<Executors, _>(settings, |pool| {
        let done = Countdown::leak(n);
        let inner = pool.0.clone();
        let start = Instant::now();
        pool.0.execute(move || {
            for _ in 0..n {
                inner.execute(move || done.hit());
            }
        });
        done.wait();
        start.elapsed()
    })
}

/// `threadpool` has one shared queue; a task submits the rest into it.
pub fn internal_threadpool(settings: &Settings, n: usize) -> Duration {
    with_pool::<Threadpool, _>(settings, |pool| {
        let done = Countdown::leak(n);
        let inner = pool.0.clone();
        let start = Instant::now();
        pool.0.execute(move || {
            for _ in 0..n {
                inner.execute(move || done.hit());
            }
        });
        done.wait();
        start.elapsed()
    })
}

/// Both spawn workloads, every system alternating; values in milliseconds.
pub fn run(settings: &Settings) -> (Vec<Series>, Vec<Series>) {
    let n = settings.spawn_tasks;
    let s = settings;
    let mut external_trials: Vec<Trial<'_>> = vec![
        (Weft::NAME, Box::new(|| vec![ms(external::<Weft>(s, n))])),
        (Rayon::NAME, Box::new(|| vec![ms(external::<Rayon>(s, n))])),
        (
            Executors::NAME,
            Box::new(|| vec![ms(external::<Executors>(s, n))]),
        ),
        (
            Threadpool::NAME,
            Box::new(|| vec![ms(external::<Threadpool>(s, n))]),
        ),
    ];
    let external = alternate_twice(
        settings.rounds,
        &mut external_trials,
        Weft::NAME,
        WEFT_AGAIN,
    );
    let mut internal_trials: Vec<Trial<'_>> = vec![
        (Weft::NAME, Box::new(|| vec![ms(internal_weft(s, n))])),
        (Rayon::NAME, Box::new(|| vec![ms(internal_rayon(s, n))])),
        (
            Executors::NAME,
            Box::new(|| vec![ms(internal_executors(s, n))]),
        ),
        (
            Threadpool::NAME,
            Box::new(|| vec![ms(internal_threadpool(s, n))]),
        ),
    ];
    let internal = alternate_twice(
        settings.rounds,
        &mut internal_trials,
        Weft::NAME,
        WEFT_AGAIN,
    );
    (external, internal)
}
