//! Loom models of the priority injector (`weftpool::injector::Injector`).
//!
//! They check, over every interleaving within the preemption bound, that a
//! take serves the most urgent level it can see, that a lower level is served
//! within the starvation limit while urgent work keeps arriving from another
//! thread, and that nothing is lost or taken twice when takers race.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! weftpool-loom-tests --release --target-dir target/loom --test injector`
#![cfg(loom)]

use std::num::NonZeroUsize;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use weftpool::injector::Injector;
use weftpool::Priority;

/// The preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set.
const DEFAULT_PREEMPTIONS: usize = 2;

fn explore(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(DEFAULT_PREEMPTIONS);
    }
    builder.check(model);
}

fn injector(capacity: usize, starvation_limit: usize) -> Injector<(Priority, u32)> {
    Injector::new(capacity, NonZeroUsize::new(starvation_limit).unwrap()).unwrap()
}

/// A take that starts after a Critical push is known to be complete returns
/// that Critical task, not the Normal one queued before it; nothing is lost.
#[test]
fn take_serves_the_most_urgent_published_level() {
    explore(|| {
        let inj = Arc::new(injector(2, 8));
        inj.push(Priority::Normal, (Priority::Normal, 1)).unwrap();
        let published = Arc::new(AtomicBool::new(false));
        let pusher = {
            let (inj, published) = (inj.clone(), published.clone());
            thread::spawn(move || {
                inj.push(Priority::Critical, (Priority::Critical, 2))
                    .unwrap();
                // Release: the push happens before a take that sees the flag.
                published.store(true, Ordering::Release);
            })
        };
        let mut taken = Vec::new();
        // Takes that may run before the Critical task is published.
        if !published.load(Ordering::Acquire) {
            taken.extend(inj.pop());
        }
        if published.load(Ordering::Acquire) {
            let task = inj.pop();
            if !taken.contains(&(Priority::Critical, 2)) {
                assert_eq!(task, Some((Priority::Critical, 2)), "urgent task overtaken");
            }
            taken.extend(task);
        }
        pusher.join().unwrap();
        taken.extend(std::iter::from_fn(|| inj.pop()));
        taken.sort_unstable();
        assert_eq!(taken, [(Priority::Critical, 2), (Priority::Normal, 1)]);
    });
}

/// Anti-starvation under concurrency: a Background task is queued first,
/// then another thread keeps pushing Critical tasks while this one takes.
/// With a starvation limit of `K`, at most `K` Critical tasks are taken before
/// the Background one.
#[test]
fn background_is_served_within_the_starvation_limit() {
    const K: usize = 1;
    explore(|| {
        let inj = Arc::new(injector(4, K));
        inj.push(Priority::Background, (Priority::Background, 0))
            .unwrap();
        inj.push(Priority::Critical, (Priority::Critical, 1))
            .unwrap();
        inj.push(Priority::Critical, (Priority::Critical, 2))
            .unwrap();
        let pusher = {
            let inj = inj.clone();
            thread::spawn(move || {
                inj.push(Priority::Critical, (Priority::Critical, 3))
                    .unwrap();
            })
        };
        let mut critical_before = 0;
        loop {
            match inj.pop() {
                Some((Priority::Background, _)) => break,
                Some(_) => critical_before += 1,
                None => panic!("the Background task was lost"),
            }
        }
        pusher.join().unwrap();
        assert!(
            critical_before <= K,
            "Background waited behind {critical_before} Critical takes (limit {K})"
        );
    });
}

/// Two takers race over two levels while a third thread pushes: every task
/// is taken exactly once, and the aging counters shared by the takers never
/// make a take come back empty while a task is left that it could see.
#[test]
fn racing_takers_take_every_task_once() {
    explore(|| {
        let inj = Arc::new(injector(2, 1));
        inj.push(Priority::Low, (Priority::Low, 0)).unwrap();
        inj.push(Priority::High, (Priority::High, 1)).unwrap();
        let pusher = {
            let inj = inj.clone();
            thread::spawn(move || {
                inj.push(Priority::High, (Priority::High, 2)).unwrap();
            })
        };
        let taker = {
            let inj = inj.clone();
            thread::spawn(move || inj.pop())
        };
        let mut taken: Vec<_> = inj.pop().into_iter().collect();
        taken.extend(taker.join().unwrap());
        pusher.join().unwrap();
        taken.extend(std::iter::from_fn(|| inj.pop()));
        taken.sort_unstable();
        assert_eq!(
            taken,
            [(Priority::High, 1), (Priority::High, 2), (Priority::Low, 0)]
        );
    });
}

/// A batch take from a non-urgent level races a single take and a push:
/// nothing lost or duplicated.
#[test]
fn pop_batch_races_pop() {
    explore(|| {
        let inj = Arc::new(injector(4, 8));
        inj.push(Priority::Normal, (Priority::Normal, 0)).unwrap();
        inj.push(Priority::Normal, (Priority::Normal, 1)).unwrap();
        let pusher = {
            let inj = inj.clone();
            thread::spawn(move || {
                inj.push(Priority::Normal, (Priority::Normal, 2)).unwrap();
            })
        };
        let taker = {
            let inj = inj.clone();
            thread::spawn(move || inj.pop())
        };
        let mut taken = Vec::new();
        let mut rest = Vec::new();
        taken.extend(inj.pop_batch(3, |t| rest.push(t)));
        taken.extend(rest);
        taken.extend(taker.join().unwrap());
        pusher.join().unwrap();
        taken.extend(std::iter::from_fn(|| inj.pop()));
        taken.sort_unstable();
        let want: Vec<_> = (0..3).map(|i| (Priority::Normal, i)).collect();
        assert_eq!(taken, want);
    });
}
