//! Priorities: urgent outside work overtakes a backlog, and the
//! anti-starvation rule keeps lower levels moving under a constant stream.
// Real threads and the free functions: not built under loom.
#![cfg(not(loom))]

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use support::{block_a_worker, bounded, builder, eventually, HANG};
use weftpool::{Priority, ThreadPool};

type Log = Arc<Mutex<Vec<String>>>;

fn log_task(log: &Log, what: impl Into<String>) -> impl FnOnce() + Send + 'static {
    let (log, what) = (log.clone(), what.into());
    move || log.lock().unwrap().push(what)
}

fn one_worker(starvation_limit: usize) -> ThreadPool {
    builder(1)
        .starvation_limit(starvation_limit)
        .build()
        .unwrap()
}

#[test]
fn a_high_task_overtakes_a_normal_backlog() {
    bounded(|| {
        let pool = one_worker(1000);
        let gate = block_a_worker(&pool);
        let log = Log::default();
        for i in 0..100 {
            pool.spawn(log_task(&log, format!("normal {i}"))).unwrap();
        }
        pool.spawn_with(Priority::High, log_task(&log, "high"))
            .unwrap();
        assert_eq!(pool.metrics().injector_depth, [0, 1, 100, 0, 0]);
        gate.open();
        pool.shutdown().unwrap();
        let mut log = log.lock().unwrap().clone();
        assert_eq!(log[0], "high", "{log:?}");
        log.sort();
        let mut expected: Vec<String> = (0..100).map(|i| format!("normal {i}")).collect();
        expected.push("high".into());
        expected.sort();
        assert_eq!(log, expected);
    });
}

#[test]
fn a_high_task_overtakes_work_already_moved_to_the_worker() {
    bounded(|| {
        // The worker is busy with a task from the middle of a Normal backlog
        // when the High task arrives: it must run at the next task boundary.
        let pool = one_worker(1000);
        let log = Log::default();
        let gate = support::Gate::new();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (g, l) = (gate.clone(), log.clone());
        pool.spawn(move || {
            started_tx.send(()).unwrap();
            g.wait();
            l.lock().unwrap().push("first".into());
        })
        .unwrap();
        for i in 0..20 {
            pool.spawn(log_task(&log, format!("normal {i}"))).unwrap();
        }
        started_rx.recv_timeout(HANG).unwrap();
        pool.spawn_with(Priority::High, log_task(&log, "high"))
            .unwrap();
        gate.open();
        pool.shutdown().unwrap();
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 22);
        assert_eq!(log[..2], ["first".to_owned(), "high".to_owned()], "{log:?}");
    });
}

#[test]
fn outside_tasks_of_one_level_run_in_submission_order_on_one_worker() {
    bounded(|| {
        let pool = one_worker(1000);
        let gate = block_a_worker(&pool);
        let log = Log::default();
        for i in 0..40 {
            pool.spawn(log_task(&log, format!("normal {i}"))).unwrap();
        }
        gate.open();
        pool.shutdown().unwrap();
        let expected: Vec<String> = (0..40).map(|i| format!("normal {i}")).collect();
        assert_eq!(*log.lock().unwrap(), expected);
    });
}

#[test]
fn queued_levels_run_most_urgent_first() {
    bounded(|| {
        let pool = one_worker(1000);
        let gate = block_a_worker(&pool);
        let log = Log::default();
        for p in Priority::ALL.iter().rev() {
            for i in 0..3 {
                pool.spawn_with(*p, log_task(&log, format!("{} {i}", p.index())))
                    .unwrap();
            }
        }
        assert_eq!(pool.metrics().injector_depth, [3; 5]);
        assert_eq!(pool.metrics().queued(), 15);
        gate.open();
        pool.shutdown().unwrap();
        let log = log.lock().unwrap();
        let levels: Vec<u8> = log.iter().map(|s| s.as_bytes()[0] - b'0').collect();
        assert_eq!(
            levels,
            [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4],
            "{log:?}"
        );
    });
}

#[test]
fn a_low_task_is_served_after_exactly_the_starvation_limit_of_normal_takes() {
    bounded(|| {
        // Default limit: 32 Normal takes pass the Low task over, the 33rd
        // take serves it.
        let pool = builder(1).build().unwrap();
        let gate = block_a_worker(&pool);
        let log = Log::default();
        pool.spawn_with(Priority::Low, log_task(&log, "low"))
            .unwrap();
        for i in 0..100 {
            pool.spawn(log_task(&log, format!("normal {i}"))).unwrap();
        }
        gate.open();
        pool.shutdown().unwrap();
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 101);
        assert_eq!(log.iter().position(|s| s == "low"), Some(32));
    });
}

#[test]
fn background_is_served_after_the_configured_limit_under_a_critical_backlog() {
    bounded(|| {
        let pool = one_worker(4);
        let gate = block_a_worker(&pool);
        let log = Log::default();
        pool.spawn_with(Priority::Background, log_task(&log, "background"))
            .unwrap();
        for i in 0..50 {
            pool.spawn_with(Priority::Critical, log_task(&log, format!("critical {i}")))
                .unwrap();
        }
        gate.open();
        pool.shutdown().unwrap();
        let log = log.lock().unwrap();
        assert_eq!(log.iter().position(|s| s == "background"), Some(4));
    });
}

#[test]
fn background_still_progresses_under_a_continuous_critical_stream() {
    bounded(|| {
        const LIMIT: usize = 8;
        const CAP: usize = 1_000_000;
        let pool = Arc::new(one_worker(LIMIT));
        let stop = Arc::new(AtomicBool::new(false));
        let criticals = Arc::new(AtomicUsize::new(0));
        // A Critical task that respawns itself: the Critical level is never
        // empty, so only the anti-starvation rule lets anything else run.
        fn critical(pool: Arc<ThreadPool>, stop: Arc<AtomicBool>, n: Arc<AtomicUsize>) {
            if stop.load(Ordering::SeqCst) || n.fetch_add(1, Ordering::SeqCst) >= CAP {
                return;
            }
            let p = pool.clone();
            pool.spawn_with(Priority::Critical, move || critical(p, stop, n))
                .unwrap();
        }
        for _ in 0..2 {
            let (p, s, n) = (pool.clone(), stop.clone(), criticals.clone());
            pool.spawn_with(Priority::Critical, move || critical(p, s, n))
                .unwrap();
        }
        assert!(eventually(HANG, || criticals.load(Ordering::SeqCst) > 1000));
        let backgrounds = Arc::new(AtomicUsize::new(0));
        let longest_wait = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let (b, wait, n) = (backgrounds.clone(), longest_wait.clone(), criticals.clone());
            // Counted from this task's own spawn: the criticals that run
            // while the test thread is still spawning the others are not
            // this task's wait.
            let spawned_at = n.load(Ordering::SeqCst);
            pool.spawn_with(Priority::Background, move || {
                wait.fetch_max(n.load(Ordering::SeqCst) - spawned_at, Ordering::SeqCst);
                b.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        assert!(
            eventually(HANG, || backgrounds.load(Ordering::SeqCst) == 10),
            "background starved"
        );
        stop.store(true, Ordering::SeqCst);
        let during = longest_wait.load(Ordering::SeqCst);
        // Each Background task waits for at most LIMIT Critical takes per
        // Background task queued ahead of it (and itself).
        assert!(during <= 10 * (LIMIT + 1), "{during} criticals ran first");
        assert!(
            criticals.load(Ordering::SeqCst) < CAP,
            "the stream stopped early"
        );
        pool.shutdown().unwrap();
    });
}

#[test]
fn a_critical_spawn_from_a_worker_skips_the_queued_injector_backlog() {
    bounded(|| {
        let pool = Arc::new(one_worker(1000));
        let gate = block_a_worker(&pool);
        let log = Log::default();
        let inside = pool.clone();
        let l = log.clone();
        pool.spawn(move || {
            inside
                .spawn_with(Priority::Critical, log_task(&l, "critical"))
                .unwrap();
            l.lock().unwrap().push("spawner".into());
        })
        .unwrap();
        for i in 0..5 {
            pool.spawn_with(Priority::Low, log_task(&log, format!("low {i}")))
                .unwrap();
        }
        gate.open();
        pool.shutdown().unwrap();
        let log = log.lock().unwrap();
        assert_eq!(
            log[..2],
            ["spawner".to_owned(), "critical".to_owned()],
            "{log:?}"
        );
        assert_eq!(log.len(), 7);
    });
}

#[test]
fn a_worker_woken_for_an_urgent_task_does_not_keep_counting_as_a_searcher() {
    // A worker woken as a searcher for an urgent task takes it from the
    // injector before its deque. If it ran the task still counted as
    // searching, the next outside spawn would wake nobody (a searcher is
    // looking, as far as submitters know) and wait for the urgent task to
    // end; here the urgent task waits for that next task, so it would time
    // out instead. (Shutdown would wake the other worker: the verdict is
    // taken before it.)
    bounded(|| {
        for round in 0..5 {
            let pool = builder(2).build().unwrap();
            // Both workers asleep.
            assert!(eventually(HANG, || pool.metrics().sleeping == 2));
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let (verdict_tx, verdict_rx) = std::sync::mpsc::channel::<bool>();
            let urgent = move || {
                let met = rx.recv_timeout(std::time::Duration::from_secs(5)).is_ok();
                verdict_tx.send(met).unwrap();
            };
            // A batch wakes its sleepers as searchers.
            pool.spawn_batch_with(Priority::High, std::iter::once(urgent))
                .unwrap();
            // The urgent task's worker is busy from here on; this one needs
            // the other worker.
            pool.spawn(move || tx.send(()).unwrap()).unwrap();
            assert_eq!(
                verdict_rx.recv_timeout(HANG),
                Ok(true),
                "round {round}: the second task did not run while the urgent one waited"
            );
            pool.shutdown().unwrap();
        }
    });
}
