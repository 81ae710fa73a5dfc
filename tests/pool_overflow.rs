//! Overflow policies on a full injector: `Block` (backpressure), `Reject`
//! (the task comes back), `CallerRuns`, and `try_spawn`, which never blocks;
//! and what a worker does when its own queues are full.
// Real threads and the free functions: not built under loom.
#![cfg(not(loom))]

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::{block_a_worker, bounded, builder, counting_task, eventually, gated_pool, HANG};
use weftpool::{Overflow, Priority, SpawnError};

const CAP: usize = 8;

/// One worker, `CAP` slots per level, `Overflow::Reject`.
fn reject_pool() -> weftpool::ThreadPool {
    builder(1)
        .queue_capacity(CAP)
        .overflow(Overflow::Reject)
        .build()
        .unwrap()
}

/// One worker whose deque and injector levels hold two tasks each.
fn two_slot_pool(overflow: Overflow) -> Arc<weftpool::ThreadPool> {
    Arc::new(
        builder(1)
            .deque_capacity(2)
            .queue_capacity(2)
            .overflow(overflow)
            .build()
            .unwrap(),
    )
}

#[test]
fn block_holds_the_submitter_until_there_is_room_and_runs_everything() {
    bounded(|| {
        const N: usize = 100;
        let (pool, gate) = gated_pool(CAP, Overflow::Block);
        let count = Arc::new(AtomicUsize::new(0));
        let returned = Arc::new(AtomicUsize::new(0));
        let submitter = {
            let (pool, count, returned) = (pool.clone(), count.clone(), returned.clone());
            thread::spawn(move || {
                for _ in 0..N {
                    pool.spawn(counting_task(&count)).unwrap();
                    returned.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        // The queue fills, then the submitter blocks on the next spawn.
        assert!(eventually(HANG, || returned.load(Ordering::SeqCst) == CAP));
        thread::sleep(Duration::from_millis(50));
        assert_eq!(returned.load(Ordering::SeqCst), CAP, "spawn did not block");
        assert_eq!(pool.metrics().injector_depth[Priority::Normal.index()], CAP);
        assert!(!submitter.is_finished());
        gate.open();
        submitter.join().unwrap();
        let report = pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), N);
        assert_eq!(report.tasks_run, N as u64 + 1);
    });
}

#[test]
fn block_with_many_submitters_on_a_tiny_queue_runs_everything() {
    bounded(|| {
        const THREADS: usize = 4;
        const EACH: usize = 20_000;
        let pool = builder(2)
            .queue_capacity(2)
            .overflow(Overflow::Block)
            .build()
            .unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        thread::scope(|s| {
            for t in 0..THREADS {
                let (pool, count) = (&pool, &count);
                s.spawn(move || {
                    let priority = if t % 2 == 0 {
                        Priority::Normal
                    } else {
                        Priority::Low
                    };
                    for _ in 0..EACH {
                        pool.spawn_with(priority, counting_task(count)).unwrap();
                    }
                });
            }
        });
        let report = pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), THREADS * EACH);
        assert_eq!(report.tasks_run, (THREADS * EACH) as u64);
    });
}

#[test]
fn block_spawn_batch_waits_for_room_and_spawns_all() {
    bounded(|| {
        // Far more than `CAP` injector entries even in groups of 64.
        const N: usize = 2000;
        let (pool, gate) = gated_pool(CAP, Overflow::Block);
        let count = Arc::new(AtomicUsize::new(0));
        let opener = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            gate.open();
        });
        let spawned = pool
            .spawn_batch((0..N).map(|_| counting_task(&count)))
            .unwrap();
        assert_eq!(spawned, N);
        opener.join().unwrap();
        pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), N);
    });
}

#[test]
fn reject_hands_the_task_back_and_it_is_still_callable() {
    bounded(|| {
        let pool = reject_pool();
        let gate = block_a_worker(&pool);
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..CAP {
            pool.spawn(counting_task(&count)).unwrap();
        }
        let err = pool.spawn(counting_task(&count)).unwrap_err();
        assert!(err.is_full());
        assert_eq!(err.to_string(), "the pool's queue is full");
        let task = match err {
            SpawnError::Full(f) => f,
            SpawnError::ShutDown(_) => panic!("expected Full"),
        };
        task();
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "the handed-back task ran here"
        );
        // Each level has its own room.
        pool.spawn_with(Priority::High, counting_task(&count))
            .unwrap();
        // spawn_handle hands its closure back too.
        let back = pool.spawn_handle(|| 5).unwrap_err();
        assert!(back.is_full());
        assert_eq!(back.into_inner()(), 5);
        gate.open();
        let report = pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), CAP + 2);
        assert_eq!(report.tasks_run, CAP as u64 + 2);
    });
}

#[test]
fn reject_spawn_batch_hands_back_the_rest_unspawned() {
    bounded(|| {
        let pool = reject_pool();
        let gate = block_a_worker(&pool);
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..CAP {
            pool.spawn(counting_task(&count)).unwrap();
        }
        // The queue is full: the whole batch comes back, in order.
        let order = Arc::new(Mutex::new(Vec::new()));
        let numbered = |i: usize| {
            let order = order.clone();
            move || order.lock().unwrap().push(i)
        };
        let rest = match pool.spawn_batch((0..20).map(numbered)) {
            Err(SpawnError::Full(rest)) => rest,
            other => panic!("expected Full, got {:?}", other.map_err(|e| e.to_string())),
        };
        assert_eq!(rest.len(), 20);
        for task in rest {
            task();
        }
        assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
        gate.open();
        pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), CAP);
    });
}

#[test]
fn reject_spawn_batch_larger_than_the_queue_returns_its_tail_in_order() {
    bounded(|| {
        // Far more than `CAP` injector entries even in groups of 64.
        const N: usize = 2000;
        let pool = reject_pool();
        let gate = block_a_worker(&pool);
        let ran = Arc::new(Mutex::new(Vec::new()));
        let numbered = |i: usize| {
            let ran = ran.clone();
            move || ran.lock().unwrap().push(i)
        };
        let rest = match pool.spawn_batch((0..N).map(numbered)) {
            Err(SpawnError::Full(rest)) => rest,
            other => panic!("expected Full, got {:?}", other.map_err(|e| e.to_string())),
        };
        assert!(!rest.is_empty() && rest.len() < N, "{} back", rest.len());
        gate.open();
        pool.shutdown().unwrap();
        let mut pool_ran = ran.lock().unwrap().clone();
        pool_ran.sort_unstable();
        let taken = N - rest.len();
        assert_eq!(
            pool_ran,
            (0..taken).collect::<Vec<_>>(),
            "the pool ran the head"
        );
        ran.lock().unwrap().clear();
        for task in rest {
            task();
        }
        assert_eq!(*ran.lock().unwrap(), (taken..N).collect::<Vec<_>>());
    });
}

#[test]
fn caller_runs_runs_the_task_on_the_calling_thread() {
    bounded(|| {
        let pool = builder(1)
            .queue_capacity(CAP)
            .overflow(Overflow::CallerRuns)
            .build()
            .unwrap();
        let gate = block_a_worker(&pool);
        let threads = Arc::new(Mutex::new(Vec::new()));
        let record = || {
            let threads = threads.clone();
            move || threads.lock().unwrap().push(thread::current().id())
        };
        for _ in 0..CAP {
            pool.spawn(record()).unwrap();
        }
        assert!(threads.lock().unwrap().is_empty());
        // The queue is full: these run here, now.
        pool.spawn(record()).unwrap();
        pool.spawn(record()).unwrap();
        let me = thread::current().id();
        assert_eq!(*threads.lock().unwrap(), vec![me, me]);
        // A batch overflows onto the caller too.
        assert_eq!(pool.spawn_batch((0..3).map(|_| record())).unwrap(), 0);
        assert_eq!(threads.lock().unwrap().len(), 5);
        gate.open();
        pool.shutdown().unwrap();
        let threads = threads.lock().unwrap();
        assert_eq!(threads.len(), CAP + 5);
        assert_eq!(threads.iter().filter(|&&t| t == me).count(), 5);
    });
}

#[test]
fn try_spawn_never_blocks_even_under_block() {
    bounded(|| {
        let pool = builder(1)
            .queue_capacity(CAP)
            .overflow(Overflow::Block)
            .build()
            .unwrap();
        let gate = block_a_worker(&pool);
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..CAP {
            pool.try_spawn(counting_task(&count)).unwrap();
        }
        let start = Instant::now();
        for _ in 0..1000 {
            let err = pool.try_spawn(counting_task(&count)).unwrap_err();
            assert!(err.is_full());
        }
        let err = pool
            .try_spawn_with(Priority::Normal, counting_task(&count))
            .unwrap_err();
        assert!(err.is_full());
        assert!(start.elapsed() < Duration::from_secs(10));
        pool.try_spawn_with(Priority::Low, counting_task(&count))
            .unwrap();
        gate.open();
        pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), CAP + 1);
    });
}

#[test]
fn try_spawn_from_a_worker_reports_full_when_deque_and_injector_are_full() {
    bounded(|| {
        let pool = two_slot_pool(Overflow::Block);
        let count = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        let (inside, c) = (pool.clone(), count.clone());
        pool.spawn(move || {
            let outcomes: Vec<bool> = (0..5)
                .map(|_| inside.try_spawn(counting_task(&c)).is_ok())
                .collect();
            tx.send(outcomes).unwrap();
        })
        .unwrap();
        // Two fit the deque, two the injector, the fifth comes back.
        assert_eq!(
            rx.recv_timeout(HANG).unwrap(),
            vec![true, true, true, true, false]
        );
        pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 4);
    });
}

#[test]
fn a_worker_never_blocks_on_full_queues_it_runs_the_task_instead() {
    bounded(|| {
        const N: usize = 1000;
        let pool = two_slot_pool(Overflow::Block);
        let count = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        let (inside, c) = (pool.clone(), count.clone());
        pool.spawn(move || {
            for i in 0..N {
                let priority = if i % 2 == 0 {
                    Priority::Normal
                } else {
                    Priority::High
                };
                inside.spawn_with(priority, counting_task(&c)).unwrap();
            }
            tx.send(()).unwrap();
        })
        .unwrap();
        rx.recv_timeout(HANG).unwrap();
        let report = pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), N);
        assert_eq!(report.tasks_run, N as u64 + 1);
    });
}

#[test]
fn a_full_deque_runs_the_next_task_on_the_spot_and_leaves_the_injector_alone() {
    bounded(|| {
        const N: usize = 10;
        const DEQUE: usize = 2;
        // One worker, so a task that runs while the spawning task is still in
        // its loop ran inside `spawn`. The injector has plenty of room.
        let pool = Arc::new(builder(1).deque_capacity(DEQUE).build().unwrap());
        let spawning = Arc::new(AtomicBool::new(false));
        let ran_inside_spawn = Arc::new(AtomicUsize::new(0));
        let count = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        let inside = pool.clone();
        let (flag, inline, c) = (spawning.clone(), ran_inside_spawn.clone(), count.clone());
        pool.spawn(move || {
            flag.store(true, Ordering::SeqCst);
            for _ in 0..N {
                let (flag, inline, c) = (flag.clone(), inline.clone(), c.clone());
                inside
                    .spawn(move || {
                        if flag.load(Ordering::SeqCst) {
                            inline.fetch_add(1, Ordering::SeqCst);
                        }
                        c.fetch_add(1, Ordering::SeqCst);
                    })
                    .unwrap();
            }
            flag.store(false, Ordering::SeqCst);
            tx.send(inside.metrics().injector_depth[Priority::Normal.index()])
                .unwrap();
        })
        .unwrap();
        assert_eq!(
            rx.recv_timeout(HANG).unwrap(),
            0,
            "work moved to the injector"
        );
        pool.shutdown().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), N);
        assert_eq!(ran_inside_spawn.load(Ordering::SeqCst), N - DEQUE);
    });
}

#[test]
fn reject_from_a_worker_hands_the_task_back() {
    bounded(|| {
        let pool = two_slot_pool(Overflow::Reject);
        let (tx, rx) = mpsc::channel();
        let inside = pool.clone();
        pool.spawn(move || {
            let full = (0..5)
                .map(|_| inside.spawn(|| ()))
                .filter(|r| matches!(r, Err(SpawnError::Full(_))))
                .count();
            tx.send(full).unwrap();
        })
        .unwrap();
        assert_eq!(rx.recv_timeout(HANG).unwrap(), 1);
    });
}

/// A capture whose drops are counted, padded to `N` bytes and aligned to
/// `align_of::<A>()`.
struct Capture<A: Copy, const N: usize> {
    drops: Arc<AtomicUsize>,
    bytes: [u8; N],
    _align: [A; 0],
}

impl<A: Copy, const N: usize> Drop for Capture<A, N> {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Clone, Copy)]
#[repr(align(32))]
struct Align32;

/// Closures of every size around the inline limit (three words), and an
/// over-aligned one: the handed-back closure has its captures intact, an
/// accepted one runs with them, and each capture is dropped exactly once.
fn closures_keep_their_captures<A: Copy + Send + 'static, const N: usize>() {
    bounded(|| {
        let pool = reject_pool();
        let drops = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = |fill: u8| {
            let capture = Capture::<A, N> {
                drops: drops.clone(),
                bytes: [fill; N],
                _align: [],
            };
            let seen = seen.clone();
            move || {
                let capture = capture;
                assert_eq!(
                    &capture as *const _ as usize % std::mem::align_of::<A>(),
                    0,
                    "capture misaligned"
                );
                seen.lock().unwrap().push(capture.bytes.to_vec());
            }
        };
        let gate = block_a_worker(&pool);
        for i in 0..CAP {
            pool.spawn(task(i as u8)).unwrap();
        }
        let back = match pool.spawn(task(0xAB)).unwrap_err() {
            SpawnError::Full(f) => f,
            SpawnError::ShutDown(_) => panic!("expected Full"),
        };
        back();
        assert_eq!(seen.lock().unwrap().as_slice(), &[vec![0xAB; N]]);
        gate.open();
        pool.shutdown().unwrap();
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        let mut want: Vec<Vec<u8>> = (0..CAP).map(|i| vec![i as u8; N]).collect();
        want.push(vec![0xAB; N]);
        want.sort();
        assert_eq!(seen, want);
        assert_eq!(drops.load(Ordering::SeqCst), CAP + 1);
    });
}

#[test]
fn closures_of_every_size_keep_their_captures() {
    // A capture is an Arc plus N bytes, plus the `seen` Arc in the closure:
    // the small ones travel inline in the queue, the others boxed.
    closures_keep_their_captures::<u8, 0>();
    closures_keep_their_captures::<u8, 1>();
    closures_keep_their_captures::<u64, 8>();
    closures_keep_their_captures::<u8, 9>();
    closures_keep_their_captures::<u8, 17>();
    closures_keep_their_captures::<u8, 64>();
    closures_keep_their_captures::<Align32, 0>();
    closures_keep_their_captures::<Align32, 32>();
}

/// Tasks cancelled by a timed-out shutdown drop their captures exactly once,
/// whether they travelled inline or boxed.
#[test]
fn cancelled_tasks_drop_their_captures_once() {
    bounded(|| {
        let pool = builder(1).queue_capacity(64).build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let gate = block_a_worker(&pool);
        for i in 0..16 {
            if i % 2 == 0 {
                let c = Capture::<u8, 0> {
                    drops: drops.clone(),
                    bytes: [],
                    _align: [],
                };
                pool.spawn(move || drop(c)).unwrap();
            } else {
                let c = Capture::<u8, 100> {
                    drops: drops.clone(),
                    bytes: [0; 100],
                    _align: [],
                };
                pool.spawn(move || drop(c)).unwrap();
            }
        }
        let opener = {
            let gate = gate.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                gate.open();
            })
        };
        let report = pool.shutdown_timeout(Duration::from_millis(1));
        opener.join().unwrap();
        drop(report);
        assert!(eventually(HANG, || drops.load(Ordering::SeqCst) == 16));
    });
}
