//! Loom models of the bounded MPMC ring (`weftpool::queue::Ring`).
//!
//! Each model checks, over every interleaving within the preemption bound,
//! that every value pushed is taken exactly once (popped, batch-popped, or
//! handed back by a full `push`), and loom's cell tracking checks that no slot
//! is read while it is being written: a sequence published with too weak an
//! ordering shows up as a causality violation.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! weftpool-loom-tests --release --target-dir target/loom --test ring`
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use weftpool::queue::Ring;

/// The preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set.
const DEFAULT_PREEMPTIONS: usize = 2;

fn explore(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(DEFAULT_PREEMPTIONS);
    }
    builder.check(model);
}

/// Pushes `value`; returns it if the ring was full (it counts as seen).
fn push_or_back(ring: &Ring<u32>, value: u32) -> Option<u32> {
    ring.push(value).err()
}

fn drain(ring: &Ring<u32>) -> Vec<u32> {
    std::iter::from_fn(|| ring.pop()).collect()
}

fn sorted(mut values: Vec<u32>) -> Vec<u32> {
    values.sort_unstable();
    values
}

/// Two producers and two consumers on a ring of two: nothing lost, nothing
/// taken twice. The main thread is the second consumer, then drains the rest.
#[test]
fn two_producers_two_consumers() {
    explore(|| {
        let ring = Arc::new(Ring::new(2).unwrap());
        let producers: Vec<_> = [1, 2]
            .into_iter()
            .map(|value| {
                let ring = ring.clone();
                thread::spawn(move || push_or_back(&ring, value))
            })
            .collect();
        let consumer = {
            let ring = ring.clone();
            thread::spawn(move || ring.pop())
        };
        let mut seen: Vec<u32> = ring.pop().into_iter().collect();
        for producer in producers {
            seen.extend(producer.join().unwrap());
        }
        seen.extend(consumer.join().unwrap());
        seen.extend(drain(&ring));
        assert_eq!(sorted(seen), [1, 2], "lost or duplicated");
    });
}

/// Capacity one: a producer pushes three values, waiting for room each
/// time, while a consumer pops until it has all three. Every lap reuses the
/// one slot, so the "full for pos" and "empty for the next lap" sequences
/// must never be confused, and values come out in push order.
#[test]
fn capacity_one_wraps_around() {
    explore(|| {
        let ring = Arc::new(Ring::new(1).unwrap());
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || {
                for value in 1..=3 {
                    let mut value = value;
                    while let Err(back) = ring.push(value) {
                        value = back;
                        thread::yield_now();
                    }
                }
            })
        };
        let mut taken = Vec::new();
        while taken.len() < 3 {
            match ring.pop() {
                Some(value) => taken.push(value),
                None => thread::yield_now(),
            }
        }
        producer.join().unwrap();
        assert_eq!(taken, [1, 2, 3]);
        assert!(ring.is_empty());
    });
}

/// Capacity two, second lap: two values are pushed and popped up front, so
/// the concurrent pushes go into slots emptied one lap before, racing the
/// consumers of that lap.
#[test]
fn capacity_two_second_lap_with_two_producers() {
    explore(|| {
        let ring = Arc::new(Ring::new(2).unwrap());
        assert!(ring.push(10).is_ok() && ring.push(11).is_ok());
        let first = ring.pop();
        let producers: Vec<_> = [1, 2]
            .into_iter()
            .map(|value| {
                let ring = ring.clone();
                thread::spawn(move || push_or_back(&ring, value))
            })
            .collect();
        let consumer = {
            let ring = ring.clone();
            thread::spawn(move || (ring.pop(), ring.pop()))
        };
        let mut seen: Vec<u32> = first.into_iter().collect();
        for producer in producers {
            seen.extend(producer.join().unwrap());
        }
        let (a, b) = consumer.join().unwrap();
        seen.extend(a);
        seen.extend(b);
        seen.extend(drain(&ring));
        assert_eq!(sorted(seen), [1, 2, 10, 11], "lost or duplicated");
    });
}

/// A batch pop claims several positions with one CAS while a single pop and
/// a push race it.
#[test]
fn pop_batch_races_pop_and_push() {
    explore(|| {
        let ring = Arc::new(Ring::new(2).unwrap());
        assert!(ring.push(1).is_ok());
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || push_or_back(&ring, 2))
        };
        let single = {
            let ring = ring.clone();
            thread::spawn(move || ring.pop())
        };
        let mut seen = Vec::new();
        let n = ring.pop_batch(2, |v| seen.push(v));
        assert_eq!(n, seen.len());
        seen.extend(producer.join().unwrap());
        seen.extend(single.join().unwrap());
        seen.extend(drain(&ring));
        assert_eq!(sorted(seen), [1, 2], "lost or duplicated");
    });
}

/// A value that counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Values taken and values left in the ring when it is dropped are each
/// dropped exactly once.
#[test]
fn values_drop_exactly_once() {
    explore(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let ring = Arc::new(Ring::new(2).unwrap());
        let producer = {
            let (ring, drops) = (ring.clone(), drops.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    drop(ring.push(Counted(drops.clone())).err());
                }
            })
        };
        drop(ring.pop());
        producer.join().unwrap();
        drop(ring);
        assert_eq!(drops.load(SeqCst), 2);
    });
}
