//! Nested `join` and `scope`: fork-join recursion, deep chains, nested
//! scopes, stolen halves, and panics that wait for the other half.
// Real threads and the free functions: not built under loom.
#![cfg(not(loom))]

mod support;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use support::{bounded, builder, pool, quiet_expected_panics, EXPECTED};
use weftpool::error::panic_message;

fn fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = weftpool::join(|| fib(n - 1), || fib(n - 2));
    a + b
}

fn fib_serial(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib_serial(n - 1) + fib_serial(n - 2)
    }
}

#[test]
fn fib_with_join_is_exact() {
    bounded(|| {
        let pool = pool(2);
        assert_eq!(fib_serial(22), 17711);
        // Two workers over thousands of joins: the idle one must steal. One
        // run can end before it is even scheduled (other tests share the
        // CPUs), so allow many runs.
        for _ in 0..500 {
            assert_eq!(pool.install(|| fib(22)), 17711);
            if pool.metrics().stolen() > 0 {
                break;
            }
        }
        let stolen = pool.metrics().stolen();
        assert!(stolen > 0, "no steal in 500 runs of fib(22) on two workers");
    });
}

#[test]
fn fib_through_the_pool_method_is_exact() {
    bounded(|| {
        let pool = pool(2);
        fn pfib(pool: &weftpool::ThreadPool, n: u64) -> u64 {
            if n < 2 {
                return n;
            }
            let (a, b) = pool.join(|| pfib(pool, n - 1), || pfib(pool, n - 2));
            a + b
        }
        assert_eq!(pfib(&pool, 18), 2584);
    });
}

/// A chain of `depth` nested joins whose right halves are slow enough to be
/// stolen; returns the sum of the depths.
fn chain(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    let (rest, here) = weftpool::join(
        || chain(depth - 1),
        || {
            thread::sleep(Duration::from_micros(200));
            depth
        },
    );
    rest + here
}

#[test]
fn thirty_levels_of_join_with_stolen_halves() {
    bounded(|| {
        let pool = pool(2);
        assert_eq!(pool.install(|| chain(30)), (1..=30).sum::<u64>());
        // Run it from outside too (`join` enters through `install`).
        let (a, b) = pool.join(|| chain(20), || chain(25));
        assert_eq!((a, b), ((1..=20).sum(), (1..=25).sum()));
    });
}

#[test]
fn join_with_a_full_deque_runs_inline_and_is_exact() {
    bounded(|| {
        let pool = builder(2).deque_capacity(2).build().unwrap();
        assert_eq!(pool.install(|| fib(18)), 2584);
    });
}

#[test]
fn join_b_is_stolen_when_a_waits_for_it() {
    bounded(|| {
        let pool = pool(2);
        // Make `a` wait until `b` started: `b` can only start on the other
        // worker (the one running `a` is busy), so it was stolen.
        let started = AtomicBool::new(false);
        let (a_idx, b_idx) = pool.join(
            || {
                // Bounded: if `b` is never handed to the idle sibling, fail
                // (b then runs on this worker) rather than spin forever.
                wait_for(&started);
                weftpool::current_worker_index()
            },
            || {
                started.store(true, Ordering::SeqCst);
                weftpool::current_worker_index()
            },
        );
        assert!(a_idx.is_some() && b_idx.is_some());
        assert_ne!(a_idx, b_idx);
    });
}

#[test]
fn scopes_nested_ten_deep_run_every_task() {
    bounded(|| {
        let pool = pool(2);
        let count = AtomicUsize::new(0);
        fn level<'a>(s: &weftpool::Scope<'a>, depth: usize, count: &'a AtomicUsize) {
            count.fetch_add(1, Ordering::SeqCst);
            if depth == 0 {
                return;
            }
            for _ in 0..3 {
                s.spawn(move |_| {
                    count.fetch_add(1, Ordering::SeqCst);
                });
            }
            s.spawn(move |_| {
                weftpool::scope(|inner| level(inner, depth - 1, count));
            });
        }
        pool.scope(|s| level(s, 10, &count));
        // Each of the 10 levels above the bottom adds itself and 3 leaves,
        // and the bottom level adds itself.
        assert_eq!(count.load(Ordering::SeqCst), 10 * 4 + 1);
    });
}

#[test]
fn scope_tasks_borrow_from_the_stack_and_finish_before_it_returns() {
    bounded(|| {
        let pool = pool(2);
        let data: Vec<u64> = (1..=10_000).collect();
        let mut sums = [0u64; 10];
        pool.scope(|s| {
            for (chunk, sum) in data.chunks(1000).zip(sums.iter_mut()) {
                s.spawn(move |_| *sum = chunk.iter().sum());
            }
        });
        assert_eq!(sums.iter().sum::<u64>(), 50_005_000);
        // Tasks spawning more tasks into the same scope.
        let count = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..10 {
                s.spawn(|s| {
                    for _ in 0..10 {
                        s.spawn(|_| {
                            count.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                });
            }
        });
        assert_eq!(count.load(Ordering::SeqCst), 100);
    });
}

/// The body counts its spawns in batches taken ahead; whatever the batch
/// boundaries, the scope returns only after every task (and every task those
/// spawned, counted one by one) has finished.
#[test]
fn a_scope_waits_for_every_task_across_count_batches() {
    bounded(|| {
        let pool = pool(2);
        for spawns in [1usize, 63, 64, 65, 1000] {
            let done: Vec<AtomicBool> = (0..spawns).map(|_| AtomicBool::new(false)).collect();
            let children = AtomicUsize::new(0);
            pool.scope(|s| {
                for (i, flag) in done.iter().enumerate() {
                    let children = &children;
                    s.spawn(move |s| {
                        if i % 100 == 0 {
                            thread::sleep(Duration::from_millis(5));
                            s.spawn(move |_| {
                                thread::sleep(Duration::from_millis(5));
                                children.fetch_add(1, Ordering::SeqCst);
                            });
                        }
                        flag.store(true, Ordering::SeqCst);
                    });
                }
            });
            assert!(
                done.iter().all(|f| f.load(Ordering::SeqCst)),
                "{spawns} spawns"
            );
            assert_eq!(children.load(Ordering::SeqCst), spawns.div_ceil(100));
        }
    });
}

#[test]
fn join_and_scope_mixed_inside_each_other() {
    bounded(|| {
        let pool = pool(2);
        let total = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..4 {
                s.spawn(|_| {
                    let (a, b) = weftpool::join(
                        || fib(12),
                        || {
                            let inner = AtomicUsize::new(0);
                            weftpool::scope(|s2| {
                                for _ in 0..5 {
                                    s2.spawn(|_| {
                                        inner.fetch_add(1, Ordering::SeqCst);
                                    });
                                }
                            });
                            inner.load(Ordering::SeqCst) as u64
                        },
                    );
                    total.fetch_add((a + b) as usize, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(total.load(Ordering::SeqCst), 4 * (144 + 5));
    });
}

#[test]
fn a_panic_in_join_a_resumes_after_b_finished() {
    quiet_expected_panics();
    bounded(|| {
        let pool = pool(2);
        let b_done = AtomicBool::new(false);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.join(
                || -> () { panic!("{EXPECTED}: a") },
                || {
                    thread::sleep(Duration::from_millis(50));
                    b_done.store(true, Ordering::SeqCst);
                },
            )
        }));
        let payload = caught.unwrap_err();
        assert_eq!(panic_message(&*payload), format!("{EXPECTED}: a"));
        assert!(b_done.load(Ordering::SeqCst), "join left before b finished");
    });
}

#[test]
fn a_panic_deep_in_nested_joins_still_runs_every_b() {
    quiet_expected_panics();
    bounded(|| {
        // One worker, so no sibling asks for work: below the outermost few,
        // most joins take the untracked path. Every depth and every phase of
        // the tracking counter: each level's `b` must run before the panic
        // leaves that level.
        let pool = pool(1);
        fn nest(depth: usize, b_runs: &AtomicUsize) {
            if depth == 0 {
                panic!("{EXPECTED}: innermost a");
            }
            weftpool::join(
                || nest(depth - 1, b_runs),
                || {
                    b_runs.fetch_add(1, Ordering::SeqCst);
                },
            );
        }
        for depth in 1..80 {
            let b_runs = AtomicUsize::new(0);
            let caught =
                pool.install(|| panic::catch_unwind(AssertUnwindSafe(|| nest(depth, &b_runs))));
            let payload = caught.unwrap_err();
            assert_eq!(panic_message(&*payload), format!("{EXPECTED}: innermost a"));
            assert_eq!(b_runs.load(Ordering::SeqCst), depth, "depth {depth}");
        }
    });
}

/// `depth` joins deep on one worker (so below the outermost few, joins take
/// the untracked path), the innermost join runs `a` and `b`.
fn nested_join<RA, RB>(
    depth: usize,
    a: impl FnOnce() -> RA + Send,
    b: impl FnOnce() -> RB + Send,
) -> (RA, RB)
where
    RA: Send,
    RB: Send,
{
    if depth == 0 {
        return weftpool::join(a, b);
    }
    weftpool::join(|| nested_join(depth - 1, a, b), || ()).0
}

#[test]
fn a_panic_of_b_alone_deep_in_nested_joins_resumes_after_a_finished() {
    quiet_expected_panics();
    bounded(|| {
        let pool = pool(1);
        for depth in [0, 5, 40] {
            let a_done = AtomicBool::new(false);
            let caught = pool.install(|| {
                panic::catch_unwind(AssertUnwindSafe(|| {
                    nested_join(
                        depth,
                        || a_done.store(true, Ordering::SeqCst),
                        || -> () { panic!("{EXPECTED}: b") },
                    )
                }))
            });
            assert_eq!(
                panic_message(&*caught.unwrap_err()),
                format!("{EXPECTED}: b")
            );
            assert!(
                a_done.load(Ordering::SeqCst),
                "depth {depth}: a did not run"
            );
        }
    });
}

#[test]
fn when_both_halves_panic_deep_in_nested_joins_a_wins() {
    quiet_expected_panics();
    bounded(|| {
        let pool = pool(1);
        for depth in [0, 5, 40] {
            let caught = pool.install(|| {
                panic::catch_unwind(AssertUnwindSafe(|| {
                    nested_join(
                        depth,
                        || -> () { panic!("{EXPECTED}: a wins") },
                        || -> () { panic!("{EXPECTED}: b loses") },
                    )
                }))
            });
            assert_eq!(
                panic_message(&*caught.unwrap_err()),
                format!("{EXPECTED}: a wins"),
                "depth {depth}"
            );
        }
        assert_eq!(pool.install(|| fib(10)), 55);
    });
}

#[test]
fn a_panic_in_join_a_with_b_stolen_resumes_after_b_finished() {
    quiet_expected_panics();
    bounded(|| {
        let pool = pool(2);
        let b_started = AtomicBool::new(false);
        let b_done = AtomicBool::new(false);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.join(
                || -> () {
                    assert!(wait_for(&b_started), "b was not stolen");
                    panic!("{EXPECTED}: a after b started")
                },
                || {
                    b_started.store(true, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(50));
                    b_done.store(true, Ordering::SeqCst);
                },
            )
        }));
        let payload = caught.unwrap_err();
        assert_eq!(
            panic_message(&*payload),
            format!("{EXPECTED}: a after b started")
        );
        assert!(b_done.load(Ordering::SeqCst), "join left before b finished");
    });
}

#[test]
fn a_panic_in_join_b_resumes_with_its_payload_and_a_panic_wins() {
    quiet_expected_panics();
    bounded(|| {
        let pool = pool(2);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.join(|| 1, || -> u32 { panic!("{EXPECTED}: b") })
        }));
        assert_eq!(
            panic_message(&*caught.unwrap_err()),
            format!("{EXPECTED}: b")
        );
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.join(
                || -> u32 { panic!("{EXPECTED}: a wins") },
                || -> u32 { panic!("{EXPECTED}: b loses") },
            )
        }));
        assert_eq!(
            panic_message(&*caught.unwrap_err()),
            format!("{EXPECTED}: a wins")
        );
        // The pool still works, and no worker was restarted.
        assert_eq!(pool.install(|| fib(10)), 55);
        assert_eq!(pool.metrics().worker_restarts, 0);
    });
}

#[test]
fn a_panicking_scope_task_resumes_after_every_task_finished() {
    quiet_expected_panics();
    bounded(|| {
        let pool = pool(2);
        let slow_done = AtomicBool::new(false);
        let others = AtomicUsize::new(0);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.spawn(|_| {
                    thread::sleep(Duration::from_millis(50));
                    slow_done.store(true, Ordering::SeqCst);
                });
                s.spawn(|_| panic!("{EXPECTED}: scope task"));
                for _ in 0..20 {
                    s.spawn(|_| {
                        others.fetch_add(1, Ordering::SeqCst);
                    });
                }
            })
        }));
        assert_eq!(
            panic_message(&*caught.unwrap_err()),
            format!("{EXPECTED}: scope task")
        );
        assert!(slow_done.load(Ordering::SeqCst));
        assert_eq!(others.load(Ordering::SeqCst), 20);
    });
}

#[test]
fn a_panicking_scope_body_resumes_after_its_tasks_finished() {
    quiet_expected_panics();
    bounded(|| {
        let pool = pool(2);
        let done = AtomicBool::new(false);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.spawn(|_| {
                    thread::sleep(Duration::from_millis(50));
                    done.store(true, Ordering::SeqCst);
                });
                panic!("{EXPECTED}: scope body");
            })
        }));
        assert_eq!(
            panic_message(&*caught.unwrap_err()),
            format!("{EXPECTED}: scope body")
        );
        assert!(done.load(Ordering::SeqCst));
    });
}

#[test]
fn installing_into_another_pool_from_a_worker_works() {
    bounded(|| {
        let a = pool(1);
        let b = pool(1);
        let (x, y) = a.install(|| {
            let inner = b.install(|| (b.current_worker_index(), fib(10)));
            (a.current_worker_index(), inner)
        });
        assert_eq!(x, Some(0));
        assert_eq!(y, (Some(0), 55));
        // A scope on `b` from inside `a` runs its tasks on `b`.
        let count = AtomicUsize::new(0);
        a.install(|| {
            b.scope(|s| {
                for _ in 0..10 {
                    s.spawn(|_| {
                        assert_eq!(b.current_worker_index(), Some(0));
                        count.fetch_add(1, Ordering::SeqCst);
                    });
                }
            })
        });
        assert_eq!(count.load(Ordering::SeqCst), 10);
    });
}

/// Waits (up to a bound) for `flag`; true if it was set in time.
fn wait_for(flag: &AtomicBool) -> bool {
    let start = std::time::Instant::now();
    while !flag.load(Ordering::SeqCst) {
        if start.elapsed() > Duration::from_secs(2) {
            return false;
        }
        thread::yield_now();
    }
    true
}

/// Sets `mine`, then waits (up to a bound) for `other`: true if both ran at
/// the same time.
fn meet(mine: &AtomicBool, other: &AtomicBool) -> bool {
    mine.store(true, Ordering::SeqCst);
    wait_for(other)
}

#[test]
fn join_of_two_leaf_closures_runs_them_in_parallel() {
    bounded(|| {
        let pool = pool(2);
        for round in 0..10 {
            // Vary what the pool did just before: idle, a burst of joins, spawns.
            match round % 3 {
                0 => thread::sleep(Duration::from_millis(20)),
                1 => assert_eq!(pool.install(|| fib(15)), 610),
                _ => {
                    for _ in 0..100 {
                        pool.spawn(|| ()).unwrap();
                    }
                }
            }
            let (a_on, b_on) = (AtomicBool::new(false), AtomicBool::new(false));
            let (a, b) = pool.join(|| meet(&a_on, &b_on), || meet(&b_on, &a_on));
            assert!(a && b, "round {round}: a and b did not overlap ({a}, {b})");
        }
    });
}
