//! Panics: caught at the task boundary, counted, handed to the panic handler
//! or the JoinHandle, and never losing a worker or a neighbouring task.
// Real threads and the free functions: not built under loom.
#![cfg(not(loom))]

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use support::{bounded, builder, eventually, pool, quiet_expected_panics, Gate, EXPECTED, HANG};
use weftpool::error::panic_message;
use weftpool::TaskError;

/// Two workers, and a panic handler that counts the payloads it gets.
fn pool_counting_panics() -> (weftpool::ThreadPool, Arc<AtomicUsize>) {
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let pool = builder(2)
        .panic_handler(move |_| {
            h.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .unwrap();
    (pool, handled)
}

#[test]
fn a_storm_of_panicking_tasks_loses_nothing() {
    quiet_expected_panics();
    bounded(|| {
        const N: usize = 30_000;
        let handled = Arc::new(AtomicUsize::new(0));
        let bad_payloads = Arc::new(AtomicUsize::new(0));
        let (h, b) = (handled.clone(), bad_payloads.clone());
        let pool = builder(2)
            .panic_handler(move |payload| {
                if !panic_message(&*payload).starts_with(EXPECTED) {
                    b.fetch_add(1, Ordering::Relaxed);
                }
                h.fetch_add(1, Ordering::Relaxed);
            })
            .build()
            .unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let mut expected_panics = 0;
        for i in 0..N {
            if i % 3 == 0 {
                expected_panics += 1;
                pool.spawn(move || panic!("{EXPECTED}: task {i}")).unwrap();
            } else {
                let ran = ran.clone();
                pool.spawn(move || {
                    ran.fetch_add(1, Ordering::Relaxed);
                })
                .unwrap();
            }
        }
        let report = pool.shutdown().unwrap();
        assert_eq!(handled.load(Ordering::Relaxed), expected_panics);
        assert_eq!(bad_payloads.load(Ordering::Relaxed), 0);
        assert_eq!(ran.load(Ordering::Relaxed), N - expected_panics);
        assert_eq!(pool.metrics().panicked(), expected_panics as u64);
        assert_eq!(report.tasks_panicked, expected_panics as u64);
        assert_eq!(report.tasks_run, N as u64);
        assert_eq!(pool.metrics().worker_restarts, 0);
    });
}

#[test]
fn panics_inside_the_pool_from_internal_spawns_are_all_counted() {
    quiet_expected_panics();
    bounded(|| {
        const N: usize = 20_000;
        let (pool, handled) = pool_counting_panics();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        pool.spawn(move || {
            for i in 0..N {
                if i % 2 == 0 {
                    weftpool::spawn(move || panic!("{EXPECTED}: inner {i}")).unwrap();
                } else {
                    let r = r.clone();
                    weftpool::spawn(move || {
                        r.fetch_add(1, Ordering::Relaxed);
                    })
                    .unwrap();
                }
            }
        })
        .unwrap();
        let report = pool.shutdown().unwrap();
        assert_eq!(handled.load(Ordering::Relaxed), N / 2);
        assert_eq!(ran.load(Ordering::Relaxed), N / 2);
        assert_eq!(report.tasks_panicked, (N / 2) as u64);
        assert_eq!(report.tasks_run, N as u64 + 1);
    });
}

#[test]
fn the_worker_thread_survives_a_panic() {
    quiet_expected_panics();
    bounded(|| {
        let pool = pool(1);
        let id_before = pool.install(|| thread::current().id());
        pool.spawn(|| panic!("{EXPECTED}: once")).unwrap();
        let (tx, rx) = mpsc::channel();
        pool.spawn(move || tx.send(thread::current().id()).unwrap())
            .unwrap();
        let id_after = rx.recv_timeout(HANG).unwrap();
        assert_eq!(id_before, id_after);
        assert!(eventually(HANG, || pool.metrics().panicked() == 1));
        assert_eq!(pool.metrics().worker_restarts, 0);
    });
}

#[test]
fn a_handle_task_panic_comes_back_with_its_payload() {
    quiet_expected_panics();
    bounded(|| {
        let pool = pool(2);
        let handle = pool
            .spawn_handle(|| -> u32 { panic!("{EXPECTED}: payload 17") })
            .unwrap();
        match handle.join() {
            Err(TaskError::Panicked(payload)) => {
                assert_eq!(panic_message(&*payload), format!("{EXPECTED}: payload 17"));
            }
            other => panic!("expected Panicked, got {other:?}"),
        }
        // A non-string payload comes back as is.
        let handle = pool
            .spawn_handle(|| std::panic::panic_any(1234u64))
            .unwrap();
        let payload = handle.join().unwrap_err().into_panic().unwrap();
        assert_eq!(payload.downcast_ref::<u64>(), Some(&1234));
        // The handle got the panic; the fire-and-forget counter did not.
        let report = pool.shutdown().unwrap();
        assert_eq!(report.tasks_panicked, 0);
        assert_eq!(report.tasks_run, 2);
    });
}

#[test]
fn a_panicking_panic_handler_does_not_lose_the_worker() {
    quiet_expected_panics();
    bounded(|| {
        const PANICS: u64 = 50;
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        let pool = builder(1)
            .panic_handler(move |_| {
                s.fetch_add(1, Ordering::SeqCst);
                panic!("{EXPECTED}: the handler itself");
            })
            .build()
            .unwrap();
        let id_before = pool.install(|| thread::current().id());
        let ran = Arc::new(AtomicUsize::new(0));
        for i in 0..PANICS {
            pool.spawn(move || panic!("{EXPECTED}: task {i}")).unwrap();
            let ran = ran.clone();
            pool.spawn(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        let id_after = pool.install(|| thread::current().id());
        assert_eq!(id_before, id_after);
        let report = pool.shutdown().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), PANICS as usize);
        assert_eq!(seen.load(Ordering::SeqCst), PANICS as usize);
        // Contained where it happened: counted, no loop restart.
        assert_eq!(pool.metrics().handler_panics, PANICS);
        assert_eq!(pool.metrics().worker_restarts, 0);
        assert_eq!(report.tasks_panicked, PANICS);
        assert_eq!(report.tasks_run, 2 * PANICS + 2);
    });
}

#[test]
fn a_panicking_start_hook_with_a_panicking_handler_keeps_the_worker() {
    quiet_expected_panics();
    bounded(|| {
        let pool = builder(1)
            .on_thread_start(|_| panic!("{EXPECTED}: start hook"))
            .panic_handler(|_| panic!("{EXPECTED}: handler"))
            .build()
            .unwrap();
        assert_eq!(pool.install(|| 3), 3);
        let report = pool.shutdown().unwrap();
        assert_eq!(report.threads_still_running, 0);
    });
}

#[test]
fn a_panicking_start_hook_is_handed_to_the_panic_handler() {
    quiet_expected_panics();
    bounded(|| {
        let messages = Arc::new(Mutex::new(Vec::new()));
        let m = messages.clone();
        let pool = builder(2)
            .on_thread_start(|i| panic!("{EXPECTED}: start {i}"))
            .panic_handler(move |p| m.lock().unwrap().push(panic_message(&*p).to_owned()))
            .build()
            .unwrap();
        assert_eq!(pool.install(|| 3), 3);
        pool.shutdown().unwrap();
        let mut messages = messages.lock().unwrap().clone();
        messages.sort();
        assert_eq!(
            messages,
            vec![
                format!("{EXPECTED}: start 0"),
                format!("{EXPECTED}: start 1")
            ]
        );
    });
}

#[test]
fn a_panic_in_install_resumes_on_the_caller() {
    quiet_expected_panics();
    bounded(|| {
        let pool = pool(2);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| panic!("{EXPECTED}: install"))
        }));
        let payload = caught.unwrap_err();
        assert_eq!(panic_message(&*payload), format!("{EXPECTED}: install"));
        // The pool is fine afterwards.
        assert_eq!(pool.install(|| 1), 1);
        assert_eq!(pool.metrics().worker_restarts, 0);
    });
}

#[test]
fn a_panic_in_broadcast_resumes_after_every_worker_ran() {
    quiet_expected_panics();
    bounded(|| {
        let pool = pool(2);
        let ran = AtomicUsize::new(0);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.broadcast(|i| {
                ran.fetch_add(1, Ordering::SeqCst);
                if i == 1 {
                    panic!("{EXPECTED}: broadcast on 1");
                }
                i
            })
        }));
        let payload = caught.unwrap_err();
        assert_eq!(
            panic_message(&*payload),
            format!("{EXPECTED}: broadcast on 1")
        );
        assert_eq!(ran.load(Ordering::SeqCst), 2);
        assert_eq!(pool.broadcast(|i| i).unwrap(), vec![0, 1]);
    });
}

#[test]
fn a_panicking_task_with_no_handler_is_counted_and_others_run() {
    quiet_expected_panics();
    bounded(|| {
        let pool = pool(2);
        let ran = Arc::new(AtomicBool::new(false));
        pool.spawn(|| panic!("{EXPECTED}: unhandled")).unwrap();
        let r = ran.clone();
        pool.spawn(move || r.store(true, Ordering::SeqCst)).unwrap();
        let report = pool.shutdown().unwrap();
        assert!(ran.load(Ordering::SeqCst));
        assert_eq!(report.tasks_panicked, 1);
        assert_eq!(report.tasks_run, 2);
    });
}

#[test]
fn a_panicking_handler_inside_a_join_wait_does_not_leave_join_early() {
    quiet_expected_panics();
    bounded(|| {
        let pool = Arc::new(
            builder(2)
                .panic_handler(|_| panic!("{EXPECTED}: handler"))
                .build()
                .unwrap(),
        );
        let b_done = Arc::new(AtomicBool::new(false));
        let b_done_when_join_left = Arc::new(Mutex::new(None));
        let gate_a = Gate::new();
        let (b_started_tx, b_started_rx) = mpsc::channel();
        struct LeaveCheck(Arc<AtomicBool>, Arc<Mutex<Option<bool>>>);
        impl Drop for LeaveCheck {
            fn drop(&mut self) {
                *self.1.lock().unwrap() = Some(self.0.load(Ordering::SeqCst));
            }
        }
        let (done, seen, ga) = (
            b_done.clone(),
            b_done_when_join_left.clone(),
            gate_a.clone(),
        );
        pool.spawn(move || {
            let _check = LeaveCheck(done.clone(), seen);
            weftpool::join(
                move || ga.wait(),
                move || {
                    b_started_tx.send(()).unwrap();
                    thread::sleep(Duration::from_millis(200));
                    done.store(true, Ordering::SeqCst);
                },
            );
        })
        .unwrap();
        // `b` was stolen by the other worker; give the joining worker a
        // panicking task to run while it waits for `b`.
        b_started_rx.recv_timeout(HANG).unwrap();
        pool.spawn(|| panic!("{EXPECTED}: task run during a join wait"))
            .unwrap();
        gate_a.open();
        assert!(eventually(HANG, || b_done_when_join_left
            .lock()
            .unwrap()
            .is_some()));
        assert_eq!(*b_done_when_join_left.lock().unwrap(), Some(true));
    });
}

#[test]
fn panics_inside_a_batch_lose_no_neighbouring_task() {
    quiet_expected_panics();
    bounded(|| {
        const N: usize = 5_000;
        let (pool, handled) = pool_counting_panics();
        let ran = Arc::new(AtomicUsize::new(0));
        // Panics at the start, middle and end of groups and leaves.
        let panics = |i: usize| i % 7 == 0 || i % 64 == 63;
        let tasks = (0..N).map(|i| {
            let ran = ran.clone();
            move || {
                if panics(i) {
                    panic!("{EXPECTED}: batch task {i}");
                }
                ran.fetch_add(1, Ordering::Relaxed);
            }
        });
        assert_eq!(pool.spawn_batch(tasks).unwrap(), N);
        let report = pool.shutdown().unwrap();
        let expected_panics = (0..N).filter(|&i| panics(i)).count();
        assert_eq!(ran.load(Ordering::Relaxed), N - expected_panics);
        assert_eq!(handled.load(Ordering::Relaxed), expected_panics);
        assert_eq!(report.tasks_panicked, expected_panics as u64);
        assert_eq!(report.tasks_run, N as u64);
    });
}
