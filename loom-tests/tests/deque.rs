//! Loom models of the bounded Chase-Lev deque (`weftpool::deque`).
//!
//! Each model checks, over every interleaving within the preemption bound,
//! that every item is taken exactly once (popped, stolen, moved by a batch, or
//! handed back by a full `push`), and loom's cell tracking checks that no
//! slot is read while it is written.
//!
//! Loom's partial-order reduction remembers one last access per atomic, so a
//! thread's own load can hide another thread's earlier load of the same word
//! from its race check, and some orders would never be tried. Two habits keep
//! the models honest: the owner pushes *after* the thieves start (its stores
//! are what the reduction sees), and each model runs twice, once with the
//! owner yielding first so that thieves-first orders are the starting point.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! weftpool-loom-tests --release --target-dir target/loom --test deque`
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use weftpool::deque::{self, Steal, Stealer, Worker};

/// Who goes first once the thieves are spawned.
#[derive(Clone, Copy)]
enum Start {
    /// The owner carries on at once (loom's default order).
    Owner,
    /// The owner yields, so the thieves run first.
    Thieves,
}

impl Start {
    /// Called by the owner right after spawning its thieves.
    fn go(self) {
        if let Start::Thieves = self {
            thread::yield_now();
        }
    }
}

/// Runs `model` under loom once for each [`Start`].
fn explore(model: impl Fn(Start) + Send + Sync + 'static) {
    let model = std::sync::Arc::new(model);
    for start in [Start::Owner, Start::Thieves] {
        let model = model.clone();
        loom::model(move || model(start));
    }
}

/// Steals once, repeating only while the deque asks for a retry.
fn steal_one<T>(stealer: &Stealer<T>) -> Option<T> {
    loop {
        match stealer.steal() {
            Steal::Success(value) => return Some(value),
            Steal::Empty => return None,
            Steal::Retry => thread::yield_now(),
        }
    }
}

/// Batch-steals once into `dest` (repeating only on `Retry`); returns the item
/// handed back, if any.
fn steal_batch_once<T>(stealer: &Stealer<T>, dest: &Worker<T>) -> Option<T> {
    loop {
        match stealer.steal_batch_and_pop(dest) {
            Steal::Success(value) => return Some(value),
            Steal::Empty => return None,
            Steal::Retry => thread::yield_now(),
        }
    }
}

/// Pushes `items`, collecting any that a full deque hands back.
fn push_all(worker: &Worker<u32>, items: impl IntoIterator<Item = u32>) -> Vec<u32> {
    items
        .into_iter()
        .filter_map(|item| worker.push(item).err())
        .collect()
}

fn drain<T>(worker: &Worker<T>) -> impl Iterator<Item = T> + '_ {
    std::iter::from_fn(|| worker.pop())
}

fn sorted(mut items: Vec<u32>) -> Vec<u32> {
    items.sort_unstable();
    items
}

/// The owner pops twice while two thieves each steal: the last-item race
/// between `pop` and `steal`, two thieves racing for one claim, and `pop`
/// meeting a claim still being copied out.
#[test]
fn push_pop_races_two_stealers() {
    explore(|start| {
        let (worker, stealer) = deque::new::<u32>(4).unwrap();
        worker.push(1).unwrap();
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let stealer = stealer.clone();
                thread::spawn(move || steal_one(&stealer))
            })
            .collect();
        start.go();
        worker.push(2).unwrap();
        let first = worker.pop();
        let second = worker.pop();
        // Nothing is pushed after the first pop: if it found the deque empty,
        // so must the second.
        assert!(
            first.is_some() || second.is_none(),
            "pop gave up on an item"
        );
        let mut seen: Vec<u32> = first.into_iter().chain(second).collect();
        for thief in thieves {
            seen.extend(thief.join().unwrap());
        }
        assert_eq!(sorted(seen), [1, 2]);
        assert!(worker.is_empty());
    });
}

/// A batch steal (moving items into the thief's own deque) races the owner
/// pushing, popping the items the batch wants, and pushing again.
#[test]
fn steal_batch_races_pop() {
    explore(|start| {
        let (worker, stealer) = deque::new::<u32>(4).unwrap();
        assert!(push_all(&worker, [1, 2]).is_empty());
        let thief = thread::spawn(move || {
            let (mine, _) = deque::new::<u32>(4).unwrap();
            let mut seen: Vec<u32> = steal_batch_once(&stealer, &mine).into_iter().collect();
            seen.extend(drain(&mine));
            seen
        });
        start.go();
        let mut seen = push_all(&worker, [3]);
        seen.extend(worker.pop());
        seen.extend(worker.pop());
        seen.extend(push_all(&worker, [4]));
        seen.extend(worker.pop());
        seen.extend(thief.join().unwrap());
        seen.extend(drain(&worker));
        assert_eq!(sorted(seen), [1, 2, 3, 4]);
    });
}

/// The owner moves its two oldest items out with one claim while a thief
/// steals and the owner's sink pushes one more item; then the owner pops the
/// rest.
#[test]
fn take_oldest_races_a_thief() {
    explore(|start| {
        let (worker, stealer) = deque::new::<u32>(4).unwrap();
        worker.push(1).unwrap();
        let thief = thread::spawn(move || steal_one(&stealer));
        start.go();
        assert!(push_all(&worker, [2, 3]).is_empty());
        let mut seen = Vec::new();
        let mut refill = Some(4);
        let moved = worker.take_oldest(2, |item| {
            seen.push(item);
            seen.extend(push_all(&worker, refill.take()));
        });
        assert!(moved <= 2);
        // Nothing moved (the thief held a claim, or won the race): push it now.
        seen.extend(push_all(&worker, refill.take()));
        seen.extend(drain(&worker));
        seen.extend(thief.join().unwrap());
        assert_eq!(sorted(seen), [1, 2, 3, 4]);
    });
}

/// A capacity-2 buffer: two thieves steal while the owner pushes four items
/// (wrapping around into the slots the thieves free) and pops. A full push
/// hands its value back, which counts as seen.
#[test]
fn wrap_around_small_buffer_with_concurrent_steals() {
    explore(|start| {
        let (worker, stealer) = deque::new::<u32>(2).unwrap();
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let stealer = stealer.clone();
                thread::spawn(move || steal_one(&stealer))
            })
            .collect();
        start.go();
        let mut seen = push_all(&worker, [1, 2, 3, 4]);
        seen.extend(worker.pop());
        for thief in thieves {
            seen.extend(thief.join().unwrap());
        }
        seen.extend(drain(&worker));
        assert_eq!(sorted(seen), [1, 2, 3, 4]);
    });
}

/// A full capacity-2 buffer: two thieves steal while the owner pushes into
/// the slots they hand back. A slot must not be refilled while a thief is
/// still copying out of it.
#[test]
fn owner_refills_slots_as_thieves_free_them() {
    explore(|start| {
        let (worker, stealer) = deque::new::<u32>(2).unwrap();
        assert!(push_all(&worker, [1, 2]).is_empty());
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let stealer = stealer.clone();
                thread::spawn(move || steal_one(&stealer))
            })
            .collect();
        start.go();
        let mut seen = push_all(&worker, [3, 4]);
        for thief in thieves {
            seen.extend(thief.join().unwrap());
        }
        seen.extend(drain(&worker));
        assert_eq!(sorted(seen), [1, 2, 3, 4]);
    });
}

/// A batch steal writes into the caller's own deque while another thread
/// steals from that deque: the batch must leave alone the slot that thief is
/// still copying from, and publish what it moves.
#[test]
fn steal_batch_into_a_deque_being_stolen_from() {
    explore(|start| {
        let (victim, victim_stealer) = deque::new::<u32>(8).unwrap();
        let (mine, mine_stealer) = deque::new::<u32>(2).unwrap();
        assert!(push_all(&victim, [1, 2, 3, 4, 5, 6]).is_empty());
        mine.push(10).unwrap();
        let other = thread::spawn(move || {
            let mut seen: Vec<u32> = steal_one(&mine_stealer).into_iter().collect();
            seen.extend(steal_one(&mine_stealer));
            seen
        });
        start.go();
        let mut seen: Vec<u32> = steal_batch_once(&victim_stealer, &mine)
            .into_iter()
            .collect();
        seen.extend(other.join().unwrap());
        seen.extend(drain(&mine));
        seen.extend(drain(&victim));
        assert_eq!(sorted(seen), [1, 2, 3, 4, 5, 6, 10]);
    });
}

/// An item that counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Items taken and items left behind are each dropped exactly once, whichever
/// handle goes last.
#[test]
fn items_drop_exactly_once() {
    explore(|start| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (worker, stealer) = deque::new::<Counted>(4).unwrap();
        assert!(worker.push(Counted(drops.clone())).is_ok());
        let thief = thread::spawn(move || {
            drop(steal_one(&stealer));
            drop(stealer);
        });
        start.go();
        for _ in 0..2 {
            assert!(worker.push(Counted(drops.clone())).is_ok());
        }
        drop(worker.pop());
        // At least one item is still inside when the owner lets go.
        drop(worker);
        thief.join().unwrap();
        assert_eq!(drops.load(SeqCst), 3);
    });
}
