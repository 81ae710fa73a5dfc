//! Shutdown: nothing admitted is lost, refused tasks come back, the report
//! adds up, timeouts cancel what is queued, and misuse is an error.
// Real threads and the free functions: not built under loom.
#![cfg(not(loom))]

mod support;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use support::{
    block_a_worker, bounded, builder, counting_task, eventually, gated_pool, pool,
    quiet_expected_panics, Gate, EXPECTED, HANG,
};
use weftpool::{Overflow, ShutdownError, SpawnError, TaskError};

#[test]
fn shutdown_while_threads_spawn_runs_or_hands_back_every_task() {
    bounded(|| {
        const SPAWNERS: usize = 4;
        let pool = Arc::new(
            builder(2)
                .queue_capacity(64)
                .overflow(Overflow::Block)
                .build()
                .unwrap(),
        );
        let ran = Arc::new(AtomicUsize::new(0));
        let spawners: Vec<_> = (0..SPAWNERS)
            .map(|_| {
                let (pool, ran) = (pool.clone(), ran.clone());
                thread::spawn(move || {
                    let (mut submitted, mut handed_back, mut refusals_in_a_row) = (0, 0, 0);
                    while refusals_in_a_row < 100 {
                        submitted += 1;
                        match pool.spawn(counting_task(&ran)) {
                            Ok(()) => refusals_in_a_row = 0,
                            Err(SpawnError::ShutDown(task)) => {
                                // The task came back whole: run it here.
                                task();
                                handed_back += 1;
                                refusals_in_a_row += 1;
                            }
                            Err(SpawnError::Full(_)) => panic!("Block never says Full"),
                        }
                    }
                    (submitted, handed_back)
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(30));
        let report = pool.shutdown().unwrap();
        let (mut submitted, mut handed_back) = (0, 0);
        for s in spawners {
            let (a, b) = s.join().unwrap();
            submitted += a;
            handed_back += b;
        }
        assert!(handed_back >= SPAWNERS * 100);
        assert_eq!(report.tasks_run + handed_back as u64, submitted as u64);
        assert_eq!(ran.load(Ordering::SeqCst), submitted);
        assert!(!report.timed_out);
        assert_eq!(report.threads_still_running, 0);
    });
}

#[test]
fn the_report_adds_up_after_a_clean_shutdown() {
    quiet_expected_panics();
    bounded(|| {
        let pool = pool(2);
        let count = Arc::new(AtomicUsize::new(0));
        for i in 0..1000 {
            if i % 10 == 0 {
                pool.spawn(|| panic!("{EXPECTED}: report")).unwrap();
            } else {
                pool.spawn(counting_task(&count)).unwrap();
            }
        }
        let report = pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 900);
        assert_eq!(report.tasks_run, 1000);
        assert_eq!(report.tasks_panicked, 100);
        assert_eq!(report.tasks_cancelled, 0);
        assert!(!report.timed_out);
        assert_eq!(report.tasks_abandoned, 0);
        assert_eq!(report.threads_still_running, 0);
    });
}

#[test]
fn a_second_shutdown_returns_the_same_report() {
    bounded(|| {
        let pool = pool(2);
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            pool.spawn(counting_task(&count)).unwrap();
        }
        let first = pool.shutdown().unwrap();
        let second = pool.shutdown().unwrap();
        let third = pool.shutdown_timeout(Duration::ZERO).unwrap();
        assert_eq!(first, second);
        assert_eq!(first, third);
        assert_eq!(first.tasks_run, 100);
    });
}

#[test]
fn shutdown_timeout_with_a_long_task_cancels_what_is_queued() {
    bounded(|| {
        let pool = pool(1);
        let gate = block_a_worker(&pool);
        let ran = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let ran = ran.clone();
                pool.spawn_handle(move || ran.fetch_add(1, Ordering::SeqCst))
                    .unwrap()
            })
            .collect();
        pool.spawn(counting_task(&ran)).unwrap();
        let report = pool.shutdown_timeout(Duration::from_millis(50)).unwrap();
        assert!(report.timed_out);
        assert_eq!(report.threads_still_running, 1);
        assert_eq!(report.tasks_abandoned, 4);
        assert!(report.elapsed >= Duration::from_millis(50));
        // Refused after the shutdown started.
        assert!(matches!(pool.spawn(|| ()), Err(SpawnError::ShutDown(_))));
        gate.open();
        for h in handles {
            assert!(matches!(h.join(), Err(TaskError::Cancelled)));
        }
        assert!(eventually(HANG, || pool.metrics().cancelled == 4));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        // The report was settled when the wait ended.
        assert_eq!(pool.shutdown().unwrap(), report);
    });
}

#[test]
fn shutdown_timeout_cancels_every_task_of_a_queued_batch() {
    bounded(|| {
        const N: usize = 1000;
        let pool = pool(1);
        let gate = block_a_worker(&pool);
        let ran = Arc::new(AtomicUsize::new(0));
        assert_eq!(
            pool.spawn_batch((0..N).map(|_| counting_task(&ran)))
                .unwrap(),
            N
        );
        let report = pool.shutdown_timeout(Duration::from_millis(20)).unwrap();
        assert!(report.timed_out);
        assert!(report.tasks_abandoned > 0);
        gate.open();
        // Every task is dropped unrun and counted, whatever the grouping.
        assert!(eventually(HANG, || pool.metrics().cancelled == N as u64));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn shutdown_timeout_that_is_long_enough_reports_no_timeout() {
    bounded(|| {
        let pool = pool(2);
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            pool.spawn(counting_task(&count)).unwrap();
        }
        let report = pool.shutdown_timeout(HANG).unwrap();
        assert!(!report.timed_out);
        assert_eq!(report.tasks_abandoned, 0);
        assert_eq!(report.threads_still_running, 0);
        assert_eq!(report.tasks_run, 100);
        assert_eq!(count.load(Ordering::SeqCst), 100);
    });
}

#[test]
fn a_queued_install_survives_a_timed_out_shutdown() {
    bounded(|| {
        let pool = Arc::new(pool(1));
        let gate = block_a_worker(&pool);
        let (tx, rx) = mpsc::channel();
        let p = pool.clone();
        let installer = thread::spawn(move || {
            let r = p.install(|| 5);
            tx.send(r).unwrap();
        });
        assert!(eventually(HANG, || pool.metrics().queued() == 1));
        let report = pool.shutdown_timeout(Duration::from_millis(20)).unwrap();
        assert!(report.timed_out);
        gate.open();
        // The caller of `install` waits on its own stack: it must get an
        // answer (its value, or a panic), never wait forever.
        let got = rx.recv_timeout(Duration::from_secs(10));
        assert_eq!(got, Ok(5));
        installer.join().unwrap();
    });
}

#[test]
fn scope_tasks_are_not_silently_skipped_by_a_timed_out_shutdown() {
    bounded(|| {
        let pool = Arc::new(pool(1));
        let gate = Gate::new();
        let (in_scope_tx, in_scope_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let (p, g) = (pool.clone(), gate.clone());
        let caller = thread::spawn(move || {
            let count = AtomicUsize::new(0);
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                p.scope(|s| {
                    for _ in 0..4 {
                        s.spawn(|_| {
                            count.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                    // The body holds the only worker: the tasks stay queued.
                    in_scope_tx.send(()).unwrap();
                    g.wait();
                })
            }));
            done_tx
                .send((outcome.is_ok(), count.load(Ordering::SeqCst)))
                .unwrap();
        });
        in_scope_rx.recv_timeout(HANG).unwrap();
        let report = pool.shutdown_timeout(Duration::from_millis(20)).unwrap();
        assert!(report.timed_out);
        gate.open();
        let (returned_normally, ran) = done_rx.recv_timeout(HANG).unwrap();
        caller.join().unwrap();
        // Either every task ran, or the scope says it did not finish.
        assert!(
            ran == 4 || !returned_normally,
            "scope returned normally with {ran} of 4 tasks run"
        );
    });
}

#[test]
fn shutdown_from_inside_a_task_is_an_error() {
    bounded(|| {
        let pool = Arc::new(pool(2));
        let (tx, rx) = mpsc::channel();
        let inside = pool.clone();
        pool.spawn(move || {
            tx.send((
                inside.shutdown(),
                inside.shutdown_timeout(Duration::from_millis(1)),
            ))
            .unwrap();
        })
        .unwrap();
        let (a, b) = rx.recv_timeout(HANG).unwrap();
        assert_eq!(a.unwrap_err(), ShutdownError::FromWorker);
        assert_eq!(b.unwrap_err(), ShutdownError::FromWorker);
        assert_eq!(
            ShutdownError::FromWorker.to_string(),
            "shutdown called from inside one of the pool's own tasks"
        );
        // The pool was not shut down by the refused call.
        assert_eq!(pool.install(|| 9), 9);
        let report = pool.shutdown().unwrap();
        assert!(!report.timed_out);
    });
}

#[test]
fn dropping_the_pool_runs_everything_already_admitted() {
    bounded(|| {
        const N: usize = 20_000;
        let exits = Arc::new(AtomicUsize::new(0));
        let e = exits.clone();
        let pool = builder(2)
            .on_thread_exit(move |_| {
                e.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..N {
            pool.spawn(counting_task(&count)).unwrap();
        }
        drop(pool);
        assert_eq!(count.load(Ordering::SeqCst), N);
        assert_eq!(exits.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn work_spawned_by_admitted_tasks_during_the_drain_still_runs() {
    bounded(|| {
        const DEPTH: usize = 1000;
        let pool = pool(2);
        let count = Arc::new(AtomicUsize::new(0));
        fn link(left: usize, count: Arc<AtomicUsize>) {
            count.fetch_add(1, Ordering::SeqCst);
            if left > 1 {
                weftpool::spawn(move || link(left - 1, count)).unwrap();
            }
        }
        let c = count.clone();
        pool.spawn(move || link(DEPTH, c)).unwrap();
        let report = pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), DEPTH);
        assert_eq!(report.tasks_run, DEPTH as u64);
    });
}

#[test]
fn a_submitter_blocked_on_a_full_queue_during_shutdown_gets_its_tasks_run() {
    bounded(|| {
        const N: usize = 40;
        let (pool, gate) = gated_pool(4, Overflow::Block);
        let count = Arc::new(AtomicUsize::new(0));
        let returned = Arc::new(AtomicUsize::new(0));
        let submitter = {
            let (pool, count, returned) = (pool.clone(), count.clone(), returned.clone());
            thread::spawn(move || {
                let mut refused = 0;
                for _ in 0..N {
                    match pool.spawn(counting_task(&count)) {
                        Ok(()) => {}
                        Err(SpawnError::ShutDown(task)) => {
                            task();
                            refused += 1;
                        }
                        Err(SpawnError::Full(_)) => panic!("Block never says Full"),
                    }
                    returned.fetch_add(1, Ordering::SeqCst);
                }
                refused
            })
        };
        assert!(eventually(HANG, || returned.load(Ordering::SeqCst) == 4));
        let shutter = {
            let pool = pool.clone();
            thread::spawn(move || pool.shutdown().unwrap())
        };
        thread::sleep(Duration::from_millis(30));
        gate.open();
        let report = shutter.join().unwrap();
        let refused = submitter.join().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), N);
        // The gate, plus every task the pool took rather than handed back.
        assert_eq!(report.tasks_run, (N - refused) as u64 + 1);
        assert!(refused < N - 4, "the blocked spawn itself was admitted");
    });
}

#[test]
fn after_shutdown_every_entry_point_refuses_or_runs_on_the_caller() {
    bounded(|| {
        let pool = pool(2);
        pool.shutdown().unwrap();
        let count = Arc::new(AtomicUsize::new(0));

        let task = match pool.spawn(counting_task(&count)) {
            Err(SpawnError::ShutDown(task)) => task,
            other => panic!("expected ShutDown, got {other:?}"),
        };
        task();
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert!(matches!(
            pool.try_spawn(|| ()),
            Err(SpawnError::ShutDown(_))
        ));
        let back = pool.spawn_handle(|| 4).unwrap_err();
        assert!(!back.is_full());
        assert_eq!(back.into_inner()(), 4);
        match pool.spawn_batch((0..5).map(|_| counting_task(&count))) {
            Err(SpawnError::ShutDown(rest)) => assert_eq!(rest.len(), 5),
            other => panic!("expected ShutDown, got {other:?}"),
        }
        assert_eq!(pool.broadcast(|i| i), Err(ShutdownError::ShutDown));

        // Blocking entry points run on the caller instead.
        let me = thread::current().id();
        assert_eq!(pool.install(|| thread::current().id()), me);
        assert_eq!(pool.join(|| 1, || 2), (1, 2));
        let hits = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..5 {
                s.spawn(|_| {
                    hits.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(hits.load(Ordering::SeqCst), 5);
    });
}

#[test]
fn dropping_the_last_handle_from_inside_a_task_does_not_hang() {
    bounded(|| {
        let exits = Arc::new(AtomicUsize::new(0));
        let e = exits.clone();
        let pool = Arc::new(
            builder(2)
                .on_thread_exit(move |_| {
                    e.fetch_add(1, Ordering::SeqCst);
                })
                .build()
                .unwrap(),
        );
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            pool.spawn(counting_task(&count)).unwrap();
        }
        let gate = Gate::new();
        let (g, last) = (gate.clone(), pool.clone());
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        pool.spawn(move || {
            g.wait();
            drop(last);
            d.store(true, Ordering::SeqCst);
        })
        .unwrap();
        drop(pool);
        gate.open();
        assert!(eventually(HANG, || dropped.load(Ordering::SeqCst)));
        assert!(eventually(HANG, || exits.load(Ordering::SeqCst) == 2));
        assert_eq!(count.load(Ordering::SeqCst), 100);
    });
}

#[test]
fn a_task_can_wait_for_one_it_spawns_while_the_pool_shuts_down() {
    bounded(|| {
        let pool = pool(2);
        let (closing_tx, closing_rx) = mpsc::channel::<()>();
        let (got_tx, got_rx) = mpsc::channel();
        pool.spawn(move || {
            // Spawn only once the shutdown has begun and the idle sibling has
            // found nothing queued.
            closing_rx.recv().unwrap();
            thread::sleep(Duration::from_millis(50));
            let (tx, rx) = mpsc::channel();
            weftpool::spawn(move || tx.send(7).unwrap()).unwrap();
            // This worker blocks here, so only the sibling can run the task.
            got_tx
                .send(rx.recv_timeout(Duration::from_secs(10)))
                .unwrap();
        })
        .unwrap();
        let waiter = thread::spawn(move || got_rx.recv().unwrap());
        closing_tx.send(()).unwrap();
        let report = pool.shutdown().unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(7));
        assert_eq!(report.tasks_run, 2);
        assert_eq!(report.threads_still_running, 0);
    });
}

#[test]
fn after_a_timed_out_shutdown_a_running_task_can_still_wait_on_its_scope() {
    bounded(|| {
        let pool = pool(2);
        let (started_tx, started_rx) = mpsc::channel();
        let (got_tx, got_rx) = mpsc::channel();
        let gate = Gate::new();
        let inside = gate.clone();
        pool.spawn(move || {
            started_tx.send(()).unwrap();
            inside.wait();
            weftpool::scope(|s| {
                let (tx, rx) = mpsc::channel();
                s.spawn(move |_| tx.send(7).unwrap());
                // Spawned last, so this worker runs it first; it waits for
                // the first scope task, which only the sibling can run.
                s.spawn(move |_| {
                    got_tx
                        .send(rx.recv_timeout(Duration::from_secs(10)))
                        .unwrap()
                });
            });
        })
        .unwrap();
        started_rx.recv_timeout(HANG).unwrap();
        let report = pool.shutdown_timeout(Duration::from_millis(20)).unwrap();
        assert!(report.timed_out);
        // Scope tasks must run even after the timeout: their scope waits.
        gate.open();
        assert_eq!(got_rx.recv().unwrap(), Ok(7));
    });
}
