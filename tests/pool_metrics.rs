//! Metrics: counters that add up to the tasks run, the Prometheus text, and
//! idle workers that go to sleep.
// Real threads and the free functions: not built under loom.
#![cfg(not(loom))]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use support::{block_a_worker, bounded, builder, counting_task, eventually, pool, HANG};
use weftpool::{PoolMetrics, Priority};

/// The value of one Prometheus sample line, e.g. `name{worker="0"}`.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Tasks taken from a queue: the own deque, the injector (the first task of
/// each take; the rest of a batch is then popped from the own deque) or a
/// steal (likewise).
fn taken(m: &PoolMetrics) -> u64 {
    m.workers
        .iter()
        .map(|w| w.local_pops + w.injector_pops + w.stolen)
        .sum()
}

#[test]
fn external_spawns_are_each_taken_once() {
    bounded(|| {
        const N: usize = 20_000;
        let pool = pool(2);
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..N {
            pool.spawn(counting_task(&count)).unwrap();
        }
        pool.shutdown().unwrap();
        let m = pool.metrics();
        assert_eq!(m.executed(), N as u64);
        assert_eq!(taken(&m), N as u64, "{m:?}");
        let injector_pops: u64 = m.workers.iter().map(|w| w.injector_pops).sum();
        assert!(injector_pops > 0 && injector_pops <= N as u64);
        assert_eq!(m.panicked(), 0);
        assert_eq!(m.queued(), 0);
        assert_eq!(m.cancelled, 0);
        assert_eq!(m.worker_restarts, 0);
        assert_eq!(m.handler_panics, 0);
        for w in &m.workers {
            assert_eq!(w.pin_failures, 0);
            assert_eq!(w.deque_len, 0);
        }
    });
}

#[test]
fn urgent_external_spawns_are_each_taken_once() {
    bounded(|| {
        const N: usize = 5_000;
        let pool = pool(2);
        let count = Arc::new(AtomicUsize::new(0));
        for i in 0..N {
            let p = if i % 2 == 0 {
                Priority::Critical
            } else {
                Priority::High
            };
            pool.spawn_with(p, counting_task(&count)).unwrap();
        }
        pool.shutdown().unwrap();
        let m = pool.metrics();
        assert_eq!(m.executed(), N as u64);
        assert_eq!(taken(&m), N as u64, "{m:?}");
    });
}

#[test]
fn internal_spawns_are_each_taken_once() {
    bounded(|| {
        // Fewer tasks than the deque holds: nothing runs inline.
        const N: usize = 2_000;
        let pool = builder(2).deque_capacity(4096).build().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        pool.spawn(move || {
            for _ in 0..N {
                weftpool::spawn(counting_task(&c)).unwrap();
            }
        })
        .unwrap();
        pool.shutdown().unwrap();
        let m = pool.metrics();
        assert_eq!(count.load(Ordering::Relaxed), N);
        assert_eq!(m.executed(), N as u64 + 1);
        assert_eq!(taken(&m), m.executed(), "{m:?}");
    });
}

#[test]
fn queue_depths_are_reported_per_priority() {
    bounded(|| {
        let pool = pool(1);
        let gate = block_a_worker(&pool);
        for _ in 0..5 {
            pool.spawn(|| ()).unwrap();
        }
        for _ in 0..3 {
            pool.spawn_with(Priority::High, || ()).unwrap();
        }
        pool.spawn_with(Priority::Background, || ()).unwrap();
        let m = pool.metrics();
        assert_eq!(m.injector_depth, [0, 3, 5, 0, 1]);
        assert_eq!(m.queued(), 9);
        let text = m.to_prometheus();
        assert_eq!(
            sample(&text, "weftpool_injector_depth{priority=\"high\"}"),
            Some(3)
        );
        assert_eq!(
            sample(&text, "weftpool_injector_depth{priority=\"normal\"}"),
            Some(5)
        );
        assert_eq!(
            sample(&text, "weftpool_injector_depth{priority=\"background\"}"),
            Some(1)
        );
        gate.open();
        pool.shutdown().unwrap();
        assert_eq!(pool.metrics().queued(), 0);
        assert_eq!(pool.metrics().executed(), 10);
    });
}

#[test]
fn a_worker_deque_length_is_visible() {
    bounded(|| {
        let pool = pool(1);
        let (tx, rx) = mpsc::channel();
        let gate = support::Gate::new();
        let g = gate.clone();
        pool.spawn(move || {
            for _ in 0..7 {
                weftpool::spawn(|| ()).unwrap();
            }
            tx.send(()).unwrap();
            g.wait();
        })
        .unwrap();
        rx.recv_timeout(HANG).unwrap();
        assert_eq!(pool.metrics().workers[0].deque_len, 7);
        assert!(pool
            .metrics()
            .to_prometheus()
            .contains("weftpool_deque_length{worker=\"0\"} 7\n"));
        gate.open();
        pool.shutdown().unwrap();
        assert_eq!(pool.metrics().workers[0].deque_len, 0);
        assert_eq!(pool.metrics().executed(), 8);
    });
}

#[test]
fn prometheus_text_has_every_series_with_the_counted_values() {
    bounded(|| {
        let pool = pool(2);
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..500 {
            pool.spawn(counting_task(&count)).unwrap();
        }
        pool.shutdown().unwrap();
        let m: PoolMetrics = pool.metrics();
        let text = m.to_prometheus();
        for (name, kind) in [
            ("tasks_executed_total", "counter"),
            ("tasks_stolen_total", "counter"),
            ("local_pops_total", "counter"),
            ("injector_pops_total", "counter"),
            ("parks_total", "counter"),
            ("tasks_panicked_total", "counter"),
            ("deque_length", "gauge"),
            ("injector_depth", "gauge"),
            ("tasks_cancelled_total", "counter"),
            ("workers_sleeping", "gauge"),
        ] {
            assert!(
                text.contains(&format!("# HELP weftpool_{name} ")),
                "no HELP for {name}:\n{text}"
            );
            assert!(
                text.contains(&format!("# TYPE weftpool_{name} {kind}\n")),
                "no TYPE for {name}:\n{text}"
            );
        }
        let executed: u64 = (0..2)
            .map(|i| {
                sample(
                    &text,
                    &format!("weftpool_tasks_executed_total{{worker=\"{i}\"}}"),
                )
                .unwrap()
            })
            .sum();
        assert_eq!(executed, 500);
        for (i, w) in m.workers.iter().enumerate() {
            let parks = sample(&text, &format!("weftpool_parks_total{{worker=\"{i}\"}}"));
            assert_eq!(parks, Some(w.parks));
        }
        for p in Priority::ALL {
            let line = format!("weftpool_injector_depth{{priority=\"{}\"}}", p.name());
            assert_eq!(sample(&text, &line), Some(0), "{line}");
        }
        assert_eq!(sample(&text, "weftpool_tasks_cancelled_total"), Some(0));
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(series.starts_with("weftpool_"), "{line}");
            value
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("bad value in {line}"));
        }
    });
}

#[test]
fn an_idle_pool_goes_to_sleep_and_wakes_for_new_work() {
    bounded(|| {
        let pool = pool(2);
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..1000 {
            pool.spawn(counting_task(&count)).unwrap();
        }
        assert!(
            eventually(HANG, || pool.metrics().sleeping == 2),
            "idle workers did not sleep: {:?}",
            pool.metrics()
        );
        let parks_before: u64 = pool.metrics().workers.iter().map(|w| w.parks).sum();
        assert!(parks_before >= 2);
        assert!(pool
            .metrics()
            .to_prometheus()
            .contains("weftpool_workers_sleeping 2\n"));
        // A sleeping pool still takes work, and sleeps again after it.
        let (tx, rx) = mpsc::channel();
        pool.spawn(move || tx.send(weftpool::current_worker_index()).unwrap())
            .unwrap();
        assert!(rx.recv_timeout(HANG).unwrap().is_some());
        assert!(eventually(HANG, || pool.metrics().sleeping == 2));
        pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::Relaxed), 1000);
    });
}

#[test]
fn a_never_sleeping_pool_stays_awake() {
    bounded(|| {
        let pool = builder(2).never_sleep().build().unwrap();
        pool.install(|| ());
        thread::sleep(Duration::from_millis(100));
        let m = pool.metrics();
        assert_eq!(m.sleeping, 0);
        assert_eq!(m.workers.iter().map(|w| w.parks).sum::<u64>(), 0);
        pool.shutdown().unwrap();
    });
}

#[test]
fn sleeping_workers_are_woken_one_task_at_a_time_without_loss() {
    bounded(|| {
        // Let the pool fall asleep between every spawn: each spawn must wake
        // a worker (a lost wake-up would hang here).
        let pool = pool(2);
        for i in 0..30 {
            assert!(eventually(HANG, || pool.metrics().sleeping == 2));
            let (tx, rx) = mpsc::channel();
            pool.spawn(move || tx.send(i).unwrap()).unwrap();
            assert_eq!(rx.recv_timeout(HANG).unwrap(), i);
        }
    });
}
