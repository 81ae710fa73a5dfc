//! Which sleeping worker an outside spawn wakes: after a long idle spell, the
//! one on the submitter's CPU rather than the one that parked last.
#![cfg(not(loom))]

mod support;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::bounded;
use weftpool::topology::{current_cpu, pin_current_thread};
use weftpool::{Pinning, ThreadPool, Topology};

/// Waits until every worker of `pool` is asleep.
fn wait_until_all_sleep(pool: &ThreadPool, workers: usize) {
    let start = Instant::now();
    while pool.metrics().sleeping < workers {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "workers never slept"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn after_a_long_idle_spell_the_worker_on_the_submitters_cpu_runs_the_task() {
    bounded(|| {
        let allowed = Topology::detect().allowed_cpus().to_vec();
        let [here, there, ..] = allowed[..] else {
            eprintln!("skipped: needs two allowed CPUs");
            return;
        };
        if pin_current_thread(&[here]).is_err() || current_cpu() != Some(here) {
            eprintln!("skipped: this thread cannot be pinned, or cannot tell its CPU");
            return;
        }
        let pool = ThreadPool::builder()
            .pinning(Pinning::Cpus(vec![here, there]))
            .build()
            .unwrap();
        // Make the worker on `there` the last to park: it stays busy while
        // the one on `here` finishes at once.
        pool.broadcast(|_| {
            if current_cpu() == Some(there) {
                let until = Instant::now() + Duration::from_millis(5);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
            }
        })
        .unwrap();
        // Both workers have started (and pinned themselves) by now.
        if pool.metrics().workers.iter().any(|w| w.pin_failures > 0) {
            eprintln!("skipped: the workers could not be pinned");
            return;
        }
        wait_until_all_sleep(&pool, 2);
        // Idle for much longer than the long-sleep mark (200 µs).
        thread::sleep(Duration::from_millis(5));
        let (tx, rx) = mpsc::channel();
        pool.spawn(move || tx.send(current_cpu()).unwrap()).unwrap();
        let ran_on = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(
            ran_on,
            Some(here),
            "the latest sleeper (on CPU {there}) was woken instead of the one on the submitter's CPU {here}"
        );
    });
}
