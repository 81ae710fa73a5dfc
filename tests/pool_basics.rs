//! Spawning at volume with exact counts, `install`, `broadcast`, worker
//! indices, and the free functions on the global pool and inside a pool.
// Real threads and the free functions: not built under loom.
#![cfg(not(loom))]

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use support::{bounded, builder, counting_task, pool, HANG};
use weftpool::{Priority, ThreadPool};

#[test]
fn a_million_external_spawns_all_run_exactly_once() {
    bounded(|| {
        const N: usize = 1_000_000;
        let pool = pool(2);
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..N {
            pool.spawn(counting_task(&count)).unwrap();
        }
        let report = pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::Relaxed), N);
        assert_eq!(report.tasks_run, N as u64);
        assert_eq!(report.tasks_panicked, 0);
        assert_eq!(report.tasks_cancelled, 0);
        assert!(!report.timed_out);
    });
}

#[test]
fn a_million_internal_spawns_all_run_exactly_once() {
    bounded(|| {
        const N: usize = 1_000_000;
        let pool = pool(2);
        let count = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        let spawner_count = count.clone();
        pool.spawn(move || {
            for _ in 0..N {
                weftpool::spawn(counting_task(&spawner_count)).unwrap();
            }
            tx.send(()).unwrap();
        })
        .unwrap();
        rx.recv_timeout(HANG).unwrap();
        let report = pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::Relaxed), N);
        // The spawner itself is a task too.
        assert_eq!(report.tasks_run, N as u64 + 1);
    });
}

#[test]
fn spawn_batch_larger_than_the_queue_runs_every_task() {
    bounded(|| {
        const N: usize = 200_000;
        let pool = builder(2).queue_capacity(1024).build().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let spawned = pool
            .spawn_batch((0..N).map(|_| counting_task(&count)))
            .unwrap();
        assert_eq!(spawned, N);
        let high = pool
            .spawn_batch_with(Priority::High, (0..1000).map(|_| counting_task(&count)))
            .unwrap();
        assert_eq!(high, 1000);
        let report = pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::Relaxed), N + 1000);
        assert_eq!(report.tasks_run, (N + 1000) as u64);
    });
}

/// The first task of a batch runs alone (leaves start at one task for each
/// batch, even after a batch of short tasks grew them), so the rest stays
/// where the other worker can take it, even while it blocks.
#[test]
fn the_first_task_of_a_batch_can_wait_for_all_the_others() {
    bounded(|| {
        const N: usize = 2_000;
        let pool = builder(2).build().unwrap();
        let warm = Arc::new(AtomicUsize::new(0));
        pool.spawn_batch((0..20_000).map(|_| counting_task(&warm)))
            .unwrap();
        while warm.load(Ordering::SeqCst) < 20_000 {
            thread::yield_now();
        }
        let others = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        let waiter = {
            let others = others.clone();
            move || {
                while others.load(Ordering::SeqCst) < N - 1 {
                    thread::yield_now();
                }
                tx.send(()).unwrap();
            }
        };
        let rest = (1..N).map(|_| {
            let others = others.clone();
            move || {
                others.fetch_add(1, Ordering::SeqCst);
            }
        });
        let first: Box<dyn FnOnce() + Send> = Box::new(waiter);
        let tasks =
            std::iter::once(first).chain(rest.map(|t| Box::new(t) as Box<dyn FnOnce() + Send>));
        assert_eq!(pool.spawn_batch(tasks).unwrap(), N);
        rx.recv_timeout(HANG).unwrap();
        pool.shutdown().unwrap();
    });
}

/// Past the first leaf too: a task in the middle of a batch of short tasks
/// (run in leaves of several) may wait for the next task of the batch, which
/// the other worker takes from its leaf slot.
#[test]
fn a_task_in_a_leaf_can_wait_for_the_next_one() {
    bounded(|| {
        const N: usize = 4_000;
        const WAITER: usize = N / 2;
        let pool = builder(2).build().unwrap();
        let next_ran = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let tasks = (0..N).map(|i| {
            let (next_ran, done) = (next_ran.clone(), done.clone());
            move || {
                if i == WAITER {
                    while next_ran.load(Ordering::SeqCst) == 0 {
                        thread::yield_now();
                    }
                } else if i == WAITER + 1 {
                    next_ran.store(1, Ordering::SeqCst);
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        });
        assert_eq!(pool.spawn_batch(tasks).unwrap(), N);
        while done.load(Ordering::SeqCst) < N {
            thread::yield_now();
        }
        pool.shutdown().unwrap();
    });
}

/// Tasks of a leaf that wait in a `join` run other work meanwhile, batch
/// work included, which takes the leaf slot back and publishes leaves of its
/// own; a stream of urgent tasks interrupts leaves, leaving their rest in
/// the slot. Every task still runs exactly once.
#[test]
fn batch_tasks_that_join_under_urgent_work_run_exactly_once() {
    bounded(|| {
        const N: usize = 20_000;
        let pool = Arc::new(builder(2).build().unwrap());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let urgent = {
            let (pool, stop) = (pool.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    pool.spawn_with(Priority::High, || ()).unwrap();
                    thread::yield_now();
                }
            })
        };
        let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect());
        let tasks = (0..N).map(|i| {
            let (pool, runs) = (pool.clone(), runs.clone());
            move || {
                let spin = || (0..500).fold(0u64, |a, b| std::hint::black_box(a + b));
                pool.join(spin, spin);
                runs[i].fetch_add(1, Ordering::SeqCst);
            }
        });
        assert_eq!(pool.spawn_batch(tasks).unwrap(), N);
        while runs.iter().any(|r| r.load(Ordering::SeqCst) == 0) {
            thread::yield_now();
        }
        stop.store(true, Ordering::SeqCst);
        urgent.join().unwrap();
        pool.shutdown().unwrap();
        assert!(runs.iter().all(|r| r.load(Ordering::SeqCst) == 1));
    });
}

#[test]
fn spawn_batch_from_inside_a_worker_runs_every_task() {
    bounded(|| {
        const N: usize = 50_000;
        let pool = builder(2).deque_capacity(256).build().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let inner = count.clone();
        let (tx, rx) = mpsc::channel();
        let pool = Arc::new(pool);
        let inside = pool.clone();
        pool.spawn(move || {
            let n = inside
                .spawn_batch((0..N).map(|_| counting_task(&inner)))
                .unwrap();
            tx.send(n).unwrap();
        })
        .unwrap();
        assert_eq!(rx.recv_timeout(HANG).unwrap(), N);
        let report = pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::Relaxed), N);
        assert_eq!(report.tasks_run, N as u64 + 1);
    });
}

#[test]
fn spawns_from_many_threads_at_once_all_run() {
    bounded(|| {
        const THREADS: usize = 4;
        const EACH: usize = 50_000;
        let pool = builder(2).queue_capacity(512).build().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    for i in 0..EACH {
                        let priority = Priority::ALL[i % Priority::ALL.len()];
                        pool.spawn_with(priority, counting_task(&count)).unwrap();
                    }
                });
            }
        });
        let report = pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::Relaxed), THREADS * EACH);
        assert_eq!(report.tasks_run, (THREADS * EACH) as u64);
    });
}

#[test]
fn install_runs_on_a_worker_and_returns_its_value() {
    bounded(|| {
        let pool = pool(2);
        assert_eq!(pool.current_worker_index(), None);
        assert_eq!(weftpool::current_worker_index(), None);
        let (index, nested, value) = pool.install(|| {
            let index = weftpool::current_worker_index();
            // Installing again from a worker runs inline on the same worker.
            let nested = pool.install(weftpool::current_worker_index);
            (index, nested, 6 * 7)
        });
        assert!(matches!(index, Some(0 | 1)), "{index:?}");
        assert_eq!(nested, index);
        assert_eq!(value, 42);
        // `install` may borrow from the caller's stack.
        let data: Vec<u64> = (1..=100).collect();
        assert_eq!(pool.install(|| data.iter().sum::<u64>()), 5050);
    });
}

#[test]
fn current_worker_index_of_another_pool_is_none() {
    bounded(|| {
        let a = pool(1);
        let b = pool(1);
        let seen = a.install(|| (a.current_worker_index(), b.current_worker_index()));
        assert_eq!(seen, (Some(0), None));
        assert_eq!(a.current_num_threads(), 1);
        let three = pool(3);
        assert_eq!(three.current_num_threads(), 3);
    });
}

#[test]
fn broadcast_runs_once_on_every_worker_in_worker_order() {
    bounded(|| {
        let pool = builder(3)
            .thread_name(|i| format!("bcast-{i}"))
            .build()
            .unwrap();
        let names = pool
            .broadcast(|i| {
                (
                    i,
                    weftpool::current_worker_index(),
                    thread::current().name().map(str::to_owned),
                )
            })
            .unwrap();
        let expected: Vec<_> = (0..3)
            .map(|i| (i, Some(i), Some(format!("bcast-{i}"))))
            .collect();
        assert_eq!(names, expected);
    });
}

#[test]
fn broadcast_from_inside_a_worker_reaches_every_worker() {
    bounded(|| {
        let pool = pool(2);
        let seen = pool.install(|| pool.broadcast(|i| i * 10).unwrap());
        assert_eq!(seen, vec![0, 10]);
    });
}

#[test]
fn many_overlapping_broadcasts_all_complete() {
    bounded(|| {
        let pool = pool(2);
        let hits = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..200 {
                        let r = pool
                            .broadcast(|i| {
                                hits.fetch_add(1, Ordering::Relaxed);
                                i
                            })
                            .unwrap();
                        assert_eq!(r, vec![0, 1]);
                    }
                });
            }
        });
        assert_eq!(hits.load(Ordering::Relaxed), 4 * 200 * 2);
    });
}

#[test]
fn free_functions_use_the_global_pool_off_the_pools() {
    bounded(|| {
        let (a, b) = weftpool::join(|| thread::current().name().map(str::to_owned), || 2 + 2);
        let name = a.expect("global workers are named");
        assert!(name.starts_with("weftpool-global-"), "{name}");
        assert_eq!(b, 4);

        let mut parts = [0u32; 8];
        weftpool::scope(|s| {
            for (i, part) in parts.iter_mut().enumerate() {
                s.spawn(move |_| *part = i as u32 * 3);
            }
        });
        assert_eq!(parts, [0, 3, 6, 9, 12, 15, 18, 21]);

        let (tx, rx) = mpsc::channel();
        weftpool::spawn(move || {
            tx.send(thread::current().name().map(str::to_owned))
                .unwrap();
        })
        .unwrap();
        let name = rx.recv_timeout(HANG).unwrap().unwrap();
        assert!(name.starts_with("weftpool-global-"), "{name}");

        let (tx, rx) = mpsc::channel();
        weftpool::spawn_with(Priority::Critical, move || tx.send(7).unwrap()).unwrap();
        assert_eq!(rx.recv_timeout(HANG).unwrap(), 7);
    });
}

#[test]
fn free_functions_inside_a_pool_stay_in_that_pool() {
    bounded(|| {
        let pool = builder(2)
            .thread_name(|i| format!("mine-{i}"))
            .build()
            .unwrap();
        let names = Arc::new(Mutex::new(HashSet::new()));
        let record = |names: &Arc<Mutex<HashSet<String>>>| {
            let names = names.clone();
            move || {
                let name = thread::current().name().unwrap_or("?").to_owned();
                names.lock().unwrap().insert(name);
            }
        };
        pool.install(|| {
            let (a, b) = weftpool::join(record(&names), record(&names));
            let ((), ()) = (a, b);
            weftpool::scope(|s| {
                for _ in 0..16 {
                    let task = record(&names);
                    s.spawn(move |_| task());
                }
            });
            for _ in 0..16 {
                weftpool::spawn(record(&names)).unwrap();
            }
        });
        pool.shutdown().unwrap();
        let names = names.lock().unwrap();
        assert!(!names.is_empty());
        for name in names.iter() {
            assert!(name.starts_with("mine-"), "ran on {name}");
        }
    });
}

#[test]
fn a_pool_with_default_settings_works() {
    bounded(|| {
        // Every default but pinning: one worker per CPU the process may use.
        let pool = ThreadPool::builder()
            .pinning(weftpool::Pinning::None)
            .build()
            .unwrap();
        let expected = weftpool::Topology::detect().default_worker_count();
        assert_eq!(pool.current_num_threads(), expected);
        assert_eq!(pool.install(|| 1 + 1), 2);
        let report = pool.shutdown().unwrap();
        assert_eq!(report.tasks_run, 1);
    });
}
