//! Loom models of the pool's runtime protocols: the sleep/wake handshake
//! between submitters and workers, `join` whose second half is stolen, waiting
//! on a `JoinHandle` from outside the pool, shutdown racing with spawns, and
//! panics caught at the task boundary.
//!
//! Under `--cfg loom` the whole pool runs on loom's primitives: its workers are
//! loom threads, so a wake-up that is lost leaves every thread blocked and loom
//! reports a deadlock. Each model keeps the pool tiny (one or two workers,
//! queues of two, one or two tasks) so that every interleaving within the
//! preemption bound is explored in well under a minute.
//!
//! Loom models `fence(SeqCst)` exactly but reads SeqCst loads and stores as
//! acquire/release, so a handshake passes here only if it holds under that
//! weaker reading: each Dekker pair in the pool has a SeqCst fence on both
//! sides, or lives in a single atomic word.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! weftpool-loom-tests --release --target-dir target/loom --test pool`
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Notify};
use loom::thread;
use weftpool::{SpawnError, TaskError, ThreadPool};

/// The preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set: without
/// one, a pool model would not finish.
const DEFAULT_PREEMPTIONS: usize = 2;

/// The bound for models with two workers. Two workers whose idle loops
/// (search, last look, park) overlap each other and the submitter give far
/// more interleavings than one: at a bound of 2 such a model runs for many
/// minutes, so these models stop at one preemption. The one-worker models,
/// which cover the same handshakes, keep the full bound.
const TWO_WORKER_PREEMPTIONS: usize = 1;

/// Loom's default of 1000 branches per execution is too few for a pool that
/// starts, runs a few tasks and shuts down; a spin that never ends still
/// exceeds this.
const MAX_BRANCHES: usize = 20_000;

/// Runs `model` under loom with the preemption bound from the environment.
fn explore(model: impl Fn() + Sync + Send + 'static) {
    explore_bounded(usize::MAX, model);
}

/// Runs `model` with the environment's preemption bound, but at most `max`.
fn explore_bounded(max: usize, model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    let bound = builder.preemption_bound.unwrap_or(DEFAULT_PREEMPTIONS);
    builder.preemption_bound = Some(bound.min(max));
    if std::env::var_os("LOOM_MAX_BRANCHES").is_none() {
        builder.max_branches = MAX_BRANCHES;
    }
    builder.check(model);
}

/// A pool with `threads` workers and queues of two, so that wrap-around and
/// full queues are within reach.
fn small_pool(threads: usize) -> ThreadPool {
    ThreadPool::builder()
        .threads(threads)
        .queue_capacity(2)
        .deque_capacity(2)
        .build()
        .expect("a small pool builds")
}

/// Two workers, queues of two, and deques of four: room for a batch's
/// group, the rest of a leaf and one stolen slice.
fn batch_pool() -> ThreadPool {
    ThreadPool::builder()
        .threads(2)
        .queue_capacity(2)
        .deque_capacity(4)
        .build()
        .expect("a small pool builds")
}

/// A task that counts its run in `counter`.
fn counting(counter: &Arc<AtomicUsize>) -> impl FnOnce() + Send + 'static {
    let counter = counter.clone();
    move || {
        counter.fetch_add(1, SeqCst);
    }
}

/// A scope on `pool` whose body spawns `tasks` tasks that each count their
/// run; checks that the scope returns only after all of them ran.
fn scope_of_counting_tasks(pool: &ThreadPool, tasks: usize) {
    let ran = AtomicUsize::new(0);
    pool.scope(|s| {
        for _ in 0..tasks {
            s.spawn(|_| {
                ran.fetch_add(1, SeqCst);
            });
        }
    });
    assert_eq!(ran.load(SeqCst), tasks);
}

/// The message of the panics the models raise on purpose.
const DELIBERATE: &str = "deliberate panic in a loom model";

/// Keeps the default panic report for everything except the models' own
/// deliberate panics, which would otherwise print once per explored
/// interleaving.
fn quiet_deliberate_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&DELIBERATE) {
            default(info);
        }
    }));
}

/// Sleep/wake: an outside spawn while the worker is searching, about to
/// sleep or asleep is run; shutdown then drains and joins the worker.
#[test]
fn spawn_while_the_worker_goes_to_sleep_runs() {
    explore(|| {
        let pool = small_pool(1);
        let ran = Arc::new(AtomicUsize::new(0));
        pool.spawn(counting(&ran)).unwrap();
        let report = pool.shutdown().unwrap();
        assert_eq!(ran.load(SeqCst), 1);
        assert_eq!(report.tasks_run, 1);
    });
}

/// As above with two workers: one spawn, whichever worker searches or sleeps.
#[test]
fn spawn_while_two_workers_go_to_sleep_runs() {
    explore_bounded(TWO_WORKER_PREEMPTIONS, || {
        let pool = small_pool(2);
        let ran = Arc::new(AtomicUsize::new(0));
        pool.spawn(counting(&ran)).unwrap();
        pool.shutdown().unwrap();
        assert_eq!(ran.load(SeqCst), 1);
    });
}

/// Sleep/wake with no shutdown to rescue a lost wake-up: the submitter blocks
/// on the task's handle, so if the worker is not woken every thread sleeps
/// and loom reports the deadlock. Two handles joined in turn, so the worker
/// goes to sleep again between them.
#[test]
fn spawn_handle_join_wakes_the_sleeping_worker() {
    explore(|| {
        let pool = small_pool(1);
        let first = pool.spawn_handle(|| 1).unwrap();
        assert_eq!(first.join().unwrap(), 1);
        let second = pool.spawn_handle(|| 2).unwrap();
        assert_eq!(second.join().unwrap(), 2);
    });
}

/// As above with two workers and one handle.
#[test]
fn spawn_handle_join_wakes_one_of_two_workers() {
    explore_bounded(TWO_WORKER_PREEMPTIONS, || {
        let pool = small_pool(2);
        let handle = pool.spawn_handle(|| 7).unwrap();
        assert_eq!(handle.join().unwrap(), 7);
    });
}

/// `join` on a worker: `b` waits in the worker's deque while `a` runs; the
/// other worker may steal it, and then the first waits on `b`'s latch
/// (running other work, or sleeping through the pool's sleep protocol until
/// the thief sets the latch and wakes it).
#[test]
fn join_whose_second_half_is_stolen() {
    explore_bounded(TWO_WORKER_PREEMPTIONS, || {
        let pool = small_pool(2);
        let runs = Arc::new(AtomicUsize::new(0));
        let (ra, rb) = pool.install(|| {
            pool.join(
                || {
                    runs.fetch_add(1, SeqCst);
                    pool.current_worker_index()
                },
                || {
                    runs.fetch_add(10, SeqCst);
                    pool.current_worker_index()
                },
            )
        });
        assert!(ra.is_some() && rb.is_some(), "both halves run on workers");
        assert_eq!(runs.load(SeqCst), 11, "each half runs once");
    });
}

/// `join` whose second half must be stolen: `a` waits until `b` has started,
/// so the other worker has to be woken for `b` (a lost wake-up deadlocks),
/// and `b` then waits until `a` is done, so the owner finds its deque empty
/// and waits on `b`'s latch, sleeping if it finds nothing to do. The thief
/// that sets the latch must wake it.
///
/// The two handshakes already force this path, so the model switches
/// threads only where one blocks (no preemptions): with preemptions on top
/// it runs for minutes.
#[test]
fn join_owner_sleeps_until_the_thief_sets_the_latch() {
    explore_bounded(0, || {
        let pool = small_pool(2);
        let (b_started, a_done) = (Notify::new(), Notify::new());
        let (ra, rb) = pool.install(|| {
            pool.join(
                || {
                    b_started.wait();
                    a_done.notify();
                    1
                },
                || {
                    b_started.notify();
                    a_done.wait();
                    2
                },
            )
        });
        assert_eq!((ra, rb), (1, 2));
    });
}

/// `join` with one worker: `b` is always popped back and run inline.
#[test]
fn join_on_one_worker_pops_its_second_half_back() {
    explore(|| {
        let pool = small_pool(1);
        assert_eq!(pool.install(|| pool.join(|| 1, || 2)), (1, 2));
    });
}

/// A task spawns a second task from its worker (into that worker's deque)
/// and then blocks until the second one ran, outside the pool's knowledge:
/// only the other worker can run it, so the spawn must wake that worker if
/// it sleeps. (The scope body runs on a worker, and its spawns take the
/// worker's own spawn path.)
#[test]
fn spawn_from_a_worker_wakes_a_sibling() {
    explore_bounded(TWO_WORKER_PREEMPTIONS, || {
        let pool = small_pool(2);
        let inner_ran = Notify::new();
        pool.scope(|s| {
            s.spawn(|_| inner_ran.notify());
            inner_ran.wait();
        });
    });
}

/// A task on a worker spawns one task more than its deque holds while the
/// sibling may be stealing: whichever spawn finds the deque full runs its
/// task on the spot, and every task runs exactly once before the scope ends.
#[test]
fn a_spawn_that_finds_the_deque_full_runs_its_task_at_once() {
    explore_bounded(TWO_WORKER_PREEMPTIONS, || {
        scope_of_counting_tasks(&small_pool(2), 3);
    });
}

/// A thread outside the pool (not the one that built it) spawns with a handle
/// and joins: it parks until the worker finishes the task and wakes it.
#[test]
fn spawn_handle_join_from_another_thread() {
    explore(|| {
        let pool = Arc::new(small_pool(1));
        let outsider = {
            let pool = pool.clone();
            thread::spawn(move || pool.spawn_handle(|| 5).unwrap().join())
        };
        assert_eq!(outsider.join().unwrap().unwrap(), 5);
    });
}

/// Shutdown racing with spawns from another thread: each task either runs or
/// comes back as `SpawnError::ShutDown`, never both, never neither, and
/// shutdown returns (the worker exits). A spawn admitted just before
/// `closing` is set is still drained.
#[test]
fn shutdown_races_spawns_from_another_thread() {
    explore(|| {
        let pool = Arc::new(small_pool(1));
        let ran = Arc::new(AtomicUsize::new(0));
        let spawner = {
            let (pool, ran) = (pool.clone(), ran.clone());
            thread::spawn(move || {
                (0..2)
                    .filter(|_| match pool.spawn(counting(&ran)) {
                        Ok(()) => false,
                        Err(SpawnError::ShutDown(_)) => true,
                        Err(SpawnError::Full(_)) => panic!("a queue of two cannot be full"),
                    })
                    .count()
            })
        };
        let report = pool.shutdown().unwrap();
        let handed_back = spawner.join().unwrap();
        assert_eq!(ran.load(SeqCst) + handed_back, 2, "lost or duplicated");
        assert_eq!(report.tasks_run as usize, ran.load(SeqCst));
        assert_eq!(report.threads_still_running, 0);
    });
}

/// A task spawns another and waits for it while the pool shuts down. The
/// spawning worker is blocked, so only its sibling can run the new task; the
/// sibling, which may already have found nothing queued, must not exit while
/// a task still runs. Without that, every thread ends up blocked and loom
/// reports the deadlock.
#[test]
fn a_task_may_wait_for_one_it_spawns_while_the_pool_shuts_down() {
    explore_bounded(TWO_WORKER_PREEMPTIONS, || {
        let pool = Arc::new(small_pool(2));
        // A (flag, wake-up) pair: loom's `Notify::wait` may wake spuriously.
        let inner_ran = Arc::new((AtomicUsize::new(0), Notify::new()));
        let (ran, inner_pool) = (inner_ran.clone(), pool.clone());
        pool.spawn(move || {
            let signal = ran.clone();
            // From a worker: onto its own deque, even once the pool closes.
            let spawned = inner_pool.spawn(move || {
                signal.0.store(1, SeqCst);
                signal.1.notify();
            });
            assert!(spawned.is_ok());
            while ran.0.load(SeqCst) == 0 {
                ran.1.wait();
            }
        })
        .unwrap_or_else(|_| panic!("an open pool takes a task"));
        let report = pool.shutdown().unwrap();
        assert_eq!(report.tasks_run, 2);
        assert_eq!(inner_ran.0.load(SeqCst), 1);
    });
}

/// As above with two workers and one spawn.
#[test]
fn shutdown_races_a_spawn_with_two_workers() {
    explore_bounded(TWO_WORKER_PREEMPTIONS, || {
        let pool = Arc::new(small_pool(2));
        let ran = Arc::new(AtomicUsize::new(0));
        let spawner = {
            let (pool, ran) = (pool.clone(), ran.clone());
            thread::spawn(move || pool.spawn(counting(&ran)).is_err())
        };
        pool.shutdown().unwrap();
        let handed_back = usize::from(spawner.join().unwrap());
        assert_eq!(ran.load(SeqCst) + handed_back, 1, "lost or duplicated");
    });
}

/// A fire-and-forget task panics: the worker survives (the pool has one) and
/// runs a later task; a panicking task with a handle reports `Panicked`.
#[test]
fn panicking_task_leaves_the_worker_running() {
    quiet_deliberate_panics();
    explore(|| {
        let pool = small_pool(1);
        pool.spawn(|| std::panic::panic_any(DELIBERATE)).unwrap();
        let failing = pool.spawn_handle(|| -> u32 { std::panic::panic_any(DELIBERATE) });
        match failing.unwrap().join() {
            Err(TaskError::Panicked(payload)) => {
                assert_eq!(payload.downcast_ref::<&str>(), Some(&DELIBERATE));
            }
            other => panic!("expected a panic, got {other:?}"),
        }
        let later = pool.spawn_handle(|| 3).unwrap();
        assert_eq!(later.join().unwrap(), 3);
        let report = pool.shutdown().unwrap();
        assert_eq!(report.tasks_panicked, 1);
    });
}

/// Backpressure: an outside submitter blocked on a full injector (one slot
/// per level) is woken once the worker has taken enough to leave the
/// injector at most half full, and every task runs. The wake-up is the only
/// way out: under loom a timed condvar wait never times out.
#[test]
fn blocked_submitter_is_woken_when_the_worker_makes_room() {
    explore(|| {
        let pool = ThreadPool::builder()
            .threads(1)
            .queue_capacity(1)
            .deque_capacity(2)
            .build()
            .expect("a small pool builds");
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            pool.spawn(counting(&ran)).unwrap();
        }
        pool.shutdown().unwrap();
        assert_eq!(ran.load(SeqCst), 3);
    });
}

/// Scope: the body takes its counts ahead in batches (two under loom); one
/// spawn leaves one count unused, which the body gives back when it returns,
/// racing the task's own decrement on the other worker. The scope returns
/// only after the task ran, whichever worker ran it.
#[test]
fn scope_waits_for_tasks_counted_in_batches() {
    explore_bounded(TWO_WORKER_PREEMPTIONS, || {
        let pool = small_pool(2);
        scope_of_counting_tasks(&pool, 1);
        pool.shutdown().unwrap();
    });
}

/// `spawn_batch` hands its tasks over as one group (three tasks under loom):
/// the worker that takes it publishes a leaf of two in its leaf slot and
/// leaves the rest on its deque, where the other worker may steal it (and
/// split it) or take the leaf's second task from the slot. Every task
/// runs exactly once, however the two workers share the group, and the
/// group is freed by whichever slice finishes last (loom reports a slot read
/// that races the free).
#[test]
fn batch_group_is_shared_by_two_workers_and_every_task_runs_once() {
    explore_bounded(TWO_WORKER_PREEMPTIONS, || {
        let pool = batch_pool();
        let ran = Arc::new(AtomicUsize::new(0));
        let tasks = (0..3).map(|i| {
            let ran = ran.clone();
            move || {
                ran.fetch_add(1 << (4 * i), SeqCst);
            }
        });
        assert_eq!(pool.spawn_batch(tasks).ok(), Some(3));
        let report = pool.shutdown().unwrap();
        assert_eq!(ran.load(SeqCst), 0x111, "each task once");
        assert_eq!(report.tasks_run, 3);
    });
}

/// A published leaf: the worker that takes the batch's group runs a leaf of
/// two tasks (the first leaf under loom), whose first task blocks until the
/// second has run. Only another worker taking the second task from the leaf
/// slot lets it finish: without that every thread ends up blocked and loom
/// reports the deadlock.
#[test]
fn a_task_of_a_leaf_may_wait_for_the_next_one() {
    explore_bounded(TWO_WORKER_PREEMPTIONS, || {
        let pool = batch_pool();
        // A (flag, wake-up) pair: loom's `Notify::wait` may wake spuriously.
        let second_ran = Arc::new((AtomicUsize::new(0), Notify::new()));
        let first_ran = Arc::new(AtomicUsize::new(0));
        let first = {
            let (second_ran, first_ran) = (second_ran.clone(), first_ran.clone());
            Box::new(move || {
                while second_ran.0.load(SeqCst) == 0 {
                    second_ran.1.wait();
                }
                first_ran.store(1, SeqCst);
            }) as Box<dyn FnOnce() + Send>
        };
        let second = {
            let second_ran = second_ran.clone();
            Box::new(move || {
                second_ran.0.store(1, SeqCst);
                second_ran.1.notify();
            }) as Box<dyn FnOnce() + Send>
        };
        assert_eq!(pool.spawn_batch([first, second]).ok(), Some(2));
        let report = pool.shutdown().unwrap();
        assert_eq!(report.tasks_run, 2);
        assert_eq!(first_ran.load(SeqCst), 1);
    });
}
