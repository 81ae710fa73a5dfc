//! Unit tests and bounded stress tests on real threads.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc as StdArc;
use std::thread;

use super::*;

/// An item that counts its drops.
#[derive(Debug)]
struct Counted(StdArc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn rejects_bad_capacities() {
    assert_eq!(new::<u8>(0).unwrap_err(), CapacityError::Zero);
    assert_eq!(new::<u8>(3).unwrap_err(), CapacityError::NotPowerOfTwo(3));
    assert_eq!(new::<u8>(12).unwrap_err(), CapacityError::NotPowerOfTwo(12));
    assert_eq!(
        new::<u8>(MAX_CAPACITY * 2).unwrap_err(),
        CapacityError::TooLarge {
            requested: MAX_CAPACITY * 2,
            max: MAX_CAPACITY
        }
    );
    assert!(matches!(
        new::<u8>(usize::MAX),
        Err(CapacityError::TooLarge { .. })
    ));
    for cap in [1, 2, 64, 1024] {
        let (worker, _) = new::<u8>(cap).unwrap();
        assert_eq!(worker.capacity(), cap);
    }
}

#[test]
fn handles_are_send_and_stealers_sync() {
    fn send<X: Send>() {}
    fn sync<X: Sync>() {}
    send::<Worker<String>>();
    send::<Stealer<String>>();
    sync::<Stealer<String>>();
}

#[test]
fn pop_is_lifo_and_steal_is_fifo() {
    let (worker, stealer) = new(8).unwrap();
    for i in 0..6 {
        worker.push(i).unwrap();
    }
    assert_eq!(worker.pop(), Some(5));
    assert_eq!(stealer.steal(), Steal::Success(0));
    assert_eq!(worker.pop(), Some(4));
    assert_eq!(stealer.steal(), Steal::Success(1));
    assert_eq!(worker.len(), 2);
    assert_eq!(stealer.len(), 2);
    assert_eq!(stealer.steal(), Steal::Success(2));
    assert_eq!(worker.pop(), Some(3));
    assert_eq!(worker.pop(), None);
    assert_eq!(stealer.steal(), Steal::Empty);
    assert!(worker.is_empty() && stealer.is_empty());
}

#[test]
fn full_push_hands_the_value_back() {
    let (worker, stealer) = new(4).unwrap();
    for i in 0..4 {
        worker.push(i).unwrap();
    }
    assert_eq!(worker.push(9), Err(9));
    assert_eq!(worker.len(), 4);
    assert_eq!(stealer.steal(), Steal::Success(0));
    worker.push(4).unwrap();
    assert_eq!(worker.push(10), Err(10));
    let drained: Vec<_> = std::iter::from_fn(|| worker.pop()).collect();
    assert_eq!(drained, [4, 3, 2, 1]);
}

#[test]
fn capacity_one_holds_one_item() {
    let (worker, stealer) = new(1).unwrap();
    worker.push('a').unwrap();
    assert_eq!(worker.push('b'), Err('b'));
    assert_eq!(stealer.steal(), Steal::Success('a'));
    worker.push('c').unwrap();
    assert_eq!(worker.pop(), Some('c'));
    assert_eq!(worker.pop(), None);
}

#[test]
fn positions_wrap_around_u32() {
    let (worker, stealer) = with_positions_from::<u32>(4, u32::MAX - 5);
    let mut next = 0;
    let mut expect_steal = 0;
    for _ in 0..8 {
        for _ in 0..3 {
            worker.push(next).unwrap();
            next += 1;
        }
        assert_eq!(worker.len(), 3);
        assert_eq!(stealer.steal(), Steal::Success(expect_steal));
        assert_eq!(worker.pop(), Some(next - 1));
        assert_eq!(worker.pop(), Some(next - 2));
        assert_eq!(worker.pop(), None);
        expect_steal = next;
    }
}

#[test]
fn steal_batch_takes_half_rounding_up() {
    for (items, taken) in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (8, 4)] {
        let (victim, stealer) = new(8).unwrap();
        for i in 0..items {
            victim.push(i).unwrap();
        }
        let (mine, _) = new(8).unwrap();
        assert_eq!(stealer.steal_batch_and_pop(&mine), Steal::Success(0));
        assert_eq!(mine.len(), taken - 1, "{items} items");
        assert_eq!(victim.len(), items - taken, "{items} items");
        // Moved in their original order: the newest of the batch pops first.
        let moved: Vec<_> = std::iter::from_fn(|| mine.pop()).collect();
        assert_eq!(moved, (1..taken).rev().collect::<Vec<_>>());
        let left: Vec<_> = std::iter::from_fn(|| victim.pop()).collect();
        assert_eq!(left, (taken..items).rev().collect::<Vec<_>>());
    }
}

#[test]
fn steal_batch_is_bounded_by_dest_room() {
    let (victim, stealer) = new(16).unwrap();
    for i in 0..16 {
        victim.push(i).unwrap();
    }
    let (mine, mine_stealer) = new(4).unwrap();
    mine.push(100).unwrap();
    mine.push(101).unwrap();
    // Two free slots: one item returned plus two moved.
    assert_eq!(stealer.steal_batch_and_pop(&mine), Steal::Success(0));
    assert_eq!(mine.len(), 4);
    assert_eq!(victim.len(), 13);
    // Full: exactly one item, returned.
    assert_eq!(stealer.steal_batch_and_pop(&mine), Steal::Success(3));
    assert_eq!(mine.len(), 4);
    assert_eq!(victim.len(), 12);
    // The moved items sit above the old ones: thieves of `mine` see them last.
    assert_eq!(mine_stealer.steal(), Steal::Success(100));
    assert_eq!(mine.pop(), Some(2));
    assert_eq!(mine.pop(), Some(1));
}

#[test]
fn steal_batch_from_empty_is_empty_and_leaves_dest_alone() {
    let (_victim, stealer) = new::<u8>(4).unwrap();
    let (mine, _) = new(4).unwrap();
    mine.push(7).unwrap();
    assert_eq!(stealer.steal_batch_and_pop(&mine), Steal::Empty);
    assert_eq!(mine.len(), 1);
}

#[test]
fn steal_batch_into_its_own_deque() {
    let (worker, stealer) = new(8).unwrap();
    for i in 0..6 {
        worker.push(i).unwrap();
    }
    // Takes 0..3, returns 0, re-pushes 1 and 2 on top of 3..6.
    assert_eq!(stealer.steal_batch_and_pop(&worker), Steal::Success(0));
    let all: Vec<_> = std::iter::from_fn(|| worker.pop()).collect();
    assert_eq!(all, [2, 1, 5, 4, 3]);
}

#[test]
fn take_oldest_moves_the_oldest_and_keeps_their_slots_until_done() {
    let (worker, stealer) = new::<u32>(4).unwrap();
    for i in 1..=3 {
        worker.push(i).unwrap();
    }
    let mut seen = Vec::new();
    let mut refused = Vec::new();
    let moved = worker.take_oldest(2, |item| {
        seen.push(item);
        if item == 1 {
            // Slot of item 2 is claimed but not yet read: with the claim
            // held, the deque is full after one more push.
            assert_eq!(worker.push(4), Ok(()));
            assert_eq!(worker.free_room(), 0, "claimed slots are not free");
            refused.extend(worker.push(5).err());
            assert_eq!(stealer.steal(), Steal::Retry, "a thief waits for the claim");
        }
    });
    assert_eq!(moved, 2);
    assert_eq!(seen, [1, 2]);
    assert_eq!(refused, [5]);
    assert_eq!(worker.pop(), Some(4));
    assert_eq!(stealer.steal(), Steal::Success(3));
    assert_eq!(
        worker.take_oldest(8, |_| unreachable!("nothing is left")),
        0
    );
    assert!(worker.is_empty());
}

#[test]
fn a_panicking_take_oldest_sink_drops_the_rest_and_hands_the_claim_back() {
    let drops = StdArc::new(AtomicUsize::new(0));
    let (worker, stealer) = new::<Counted>(8).unwrap();
    for _ in 0..4 {
        worker.push(Counted(drops.clone())).unwrap();
    }
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        worker.take_oldest(3, |item| {
            drop(item);
            panic!("the sink fails on its first item");
        })
    }));
    assert!(panicked.is_err());
    // The item handed to the sink and the two it never had are dropped once.
    assert_eq!(drops.load(SeqCst), 3);
    assert_eq!(worker.free_room(), 7, "the claimed slots are free again");
    assert!(
        matches!(stealer.steal(), Steal::Success(_)),
        "thieves are not shut out"
    );
    assert_eq!(drops.load(SeqCst), 4);
    assert!(worker.is_empty());
}

#[test]
fn take_oldest_takes_no_more_than_asked_or_held() {
    let (worker, _stealer) = new::<u32>(8).unwrap();
    for i in 0..3 {
        worker.push(i).unwrap();
    }
    let mut seen = Vec::new();
    assert_eq!(worker.take_oldest(0, |i| seen.push(i)), 0);
    assert_eq!(worker.take_oldest(5, |i| seen.push(i)), 3);
    assert_eq!(seen, [0, 1, 2]);
    assert_eq!(worker.pop(), None);
}

#[test]
fn steal_outcome_helpers() {
    assert!(Steal::<u8>::Empty.is_empty());
    assert!(Steal::Success(1).is_success());
    assert!(Steal::<u8>::Retry.is_retry());
    assert_eq!(Steal::Success(1).success(), Some(1));
    assert_eq!(Steal::<u8>::Retry.success(), None);
    assert_eq!(
        Steal::Success(1).or_else(|| Steal::Success(2)),
        Steal::Success(1)
    );
    assert_eq!(
        Steal::Retry.or_else(|| Steal::Success(2)),
        Steal::Success(2)
    );
}

#[test]
fn leftovers_drop_exactly_once_when_the_last_handle_goes() {
    for worker_last in [false, true] {
        let drops = StdArc::new(AtomicUsize::new(0));
        let (worker, stealer) = new(8).unwrap();
        for _ in 0..6 {
            worker.push(Counted(drops.clone())).unwrap();
        }
        drop(worker.pop());
        drop(stealer.steal());
        let (mine, _) = new(8).unwrap();
        drop(stealer.steal_batch_and_pop(&mine));
        assert_eq!(drops.load(SeqCst), 3);
        let extra = stealer.clone();
        if worker_last {
            drop(stealer);
            drop(extra);
            assert_eq!(drops.load(SeqCst), 3);
            drop(worker);
        } else {
            drop(worker);
            drop(stealer);
            assert_eq!(drops.load(SeqCst), 3);
            drop(extra);
        }
        assert_eq!(drops.load(SeqCst), 5);
        drop(mine);
        assert_eq!(drops.load(SeqCst), 6);
    }
}

#[test]
fn a_refused_push_does_not_drop_the_value() {
    let drops = StdArc::new(AtomicUsize::new(0));
    let (worker, _) = new(1).unwrap();
    worker.push(Counted(drops.clone())).unwrap();
    let back = worker.push(Counted(drops.clone())).unwrap_err();
    assert_eq!(drops.load(SeqCst), 0);
    drop(back);
    drop(worker);
    assert_eq!(drops.load(SeqCst), 2);
}

/// Marks `item` seen, failing on a second sighting.
fn see(seen: &[AtomicBool], taken: &AtomicUsize, item: usize) {
    assert!(!seen[item].swap(true, SeqCst), "item {item} taken twice");
    taken.fetch_add(1, SeqCst);
}

#[test]
fn stress_owner_against_stealing_thieves() {
    const ITEMS: usize = 200_000;
    let (worker, stealer) = new::<usize>(64).unwrap();
    let seen: StdArc<Vec<AtomicBool>> =
        StdArc::new((0..ITEMS).map(|_| AtomicBool::new(false)).collect());
    let taken = StdArc::new(AtomicUsize::new(0));

    let mut thieves = Vec::new();
    for thief in 0..3 {
        let (stealer, seen, taken) = (stealer.clone(), seen.clone(), taken.clone());
        thieves.push(thread::spawn(move || {
            let (mine, _) = new::<usize>(16).unwrap();
            while taken.load(SeqCst) < ITEMS {
                let got = if thief == 0 {
                    stealer.steal_batch_and_pop(&mine)
                } else {
                    stealer.steal()
                };
                match got {
                    Steal::Success(item) => see(&seen, &taken, item),
                    Steal::Retry => {}
                    Steal::Empty => thread::yield_now(),
                }
                while let Some(item) = mine.pop() {
                    see(&seen, &taken, item);
                }
            }
        }));
    }

    // Rounds: fill the deque, let the thieves drain it (to half, or to the
    // last item every other round, popping ourselves if they are slow), then
    // push-one-pop-one so `pop` races the thieves near the top.
    let mut next = 0;
    let mut round = 0;
    while next < ITEMS {
        while next < ITEMS && worker.push(next).is_ok() {
            next += 1;
        }
        let target = if round % 2 == 0 {
            worker.capacity() / 2
        } else {
            1
        };
        let mut spins = 0;
        while worker.len() > target {
            spins += 1;
            if spins < 1000 {
                thread::yield_now();
            } else if let Some(mine) = worker.pop() {
                see(&seen, &taken, mine);
                spins = 0;
            }
        }
        for _ in 0..8 {
            if next < ITEMS && worker.push(next).is_ok() {
                next += 1;
            }
            if let Some(mine) = worker.pop() {
                see(&seen, &taken, mine);
            }
        }
        round += 1;
    }
    while let Some(mine) = worker.pop() {
        see(&seen, &taken, mine);
    }
    for thief in thieves {
        thief.join().unwrap();
    }
    assert_eq!(taken.load(SeqCst), ITEMS);
    assert!(seen.iter().all(|s| s.load(SeqCst)));
    assert!(stealer.is_empty());
}

#[test]
fn stress_everyone_batch_steals_from_everyone() {
    const ITEMS: usize = 100_000;
    const THREADS: usize = 3;
    let seen: StdArc<Vec<AtomicBool>> =
        StdArc::new((0..ITEMS).map(|_| AtomicBool::new(false)).collect());
    let taken = StdArc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    let mut stealers = Vec::new();
    for _ in 0..THREADS {
        let (worker, stealer) = new::<usize>(32).unwrap();
        workers.push(worker);
        stealers.push(stealer);
    }
    let stealers = StdArc::new(stealers);

    let mut threads = Vec::new();
    for (me, worker) in workers.into_iter().enumerate() {
        let (stealers, seen, taken) = (stealers.clone(), seen.clone(), taken.clone());
        threads.push(thread::spawn(move || {
            let mut next = 0;
            let mut victim = me;
            while taken.load(SeqCst) < ITEMS {
                // Thread 0 produces; a full deque makes it run its own work.
                if me == 0 && next < ITEMS {
                    match worker.push(next) {
                        Ok(()) => next += 1,
                        Err(_) => {
                            if let Some(item) = worker.pop() {
                                see(&seen, &taken, item);
                            }
                        }
                    }
                    if next % 4 != 0 {
                        continue;
                    }
                }
                if let Some(item) = worker.pop() {
                    see(&seen, &taken, item);
                    continue;
                }
                victim = (victim + 1) % THREADS;
                if victim == me {
                    continue;
                }
                match stealers[victim].steal_batch_and_pop(&worker) {
                    Steal::Success(item) => see(&seen, &taken, item),
                    Steal::Retry => {}
                    Steal::Empty => thread::yield_now(),
                }
            }
            assert!(worker.is_empty());
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    assert!(seen.iter().all(|s| s.load(SeqCst)));
}
