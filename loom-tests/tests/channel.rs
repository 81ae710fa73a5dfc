//! Loom models of the bounded channel (`weftpool::channel`).
//!
//! Each model checks, over every interleaving within the preemption bound,
//! that every value is received exactly once or handed back, that every value
//! is dropped exactly once, and that no thread waits forever: a lost wake-up
//! leaves a thread parked with nobody to unpark it, which loom reports as a
//! deadlock.
//!
//! Loom has no clock (a timed park is a plain park), so the models use the
//! blocking and `try_` operations only.
//!
//! Models with three threads that can meet a value in flight (a slot claimed
//! but not yet written or freed, which a registered waiter spins on rather
//! than parks on) run at preemption bound 1: at 2 each takes longer than CI's
//! budget. Every model also allows up to `MAX_BRANCHES` branches per
//! execution, for those spins.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! weftpool-loom-tests --release --target-dir target/loom --test channel`
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use loom::thread;
use weftpool::channel::{bounded, RecvError, TryRecvError, TrySendError};

/// Runs `model` with at most `bound` preemptions (fewer if
/// `LOOM_MAX_PREEMPTIONS` says so).
fn model_with_bound(bound: usize, model: impl Fn() + Send + Sync + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(bound, |env| env.min(bound)));
    if std::env::var_os("LOOM_MAX_BRANCHES").is_none() {
        builder.max_branches = MAX_BRANCHES;
    }
    builder.check(model);
}

/// Runs `model` with the environment's preemption bound.
fn model(model: impl Fn() + Send + Sync + 'static) {
    model_with_bound(usize::MAX, model);
}

/// Branches one execution may take: a waiter spinning on a value in flight
/// adds a few per round until the other thread is scheduled.
const MAX_BRANCHES: usize = 20_000;

/// A value that counts its drops in a counter shared by the model.
struct Counted {
    id: usize,
    drops: std::sync::Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

fn counted(id: usize, drops: &std::sync::Arc<AtomicUsize>) -> Counted {
    Counted {
        id,
        drops: drops.clone(),
    }
}

/// A full buffer makes the sender park until the receiver takes a value, and
/// an empty one makes the receiver park until the sender publishes.
#[test]
fn blocking_send_recv_through_a_full_buffer() {
    model(|| {
        let (tx, rx) = bounded(1).unwrap();
        let sender = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
        });
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        sender.join().unwrap();
    });
}

/// A receiver blocked on an empty channel is woken by the last sender's drop,
/// after receiving what was sent before it.
#[test]
fn disconnect_wakes_blocked_receivers() {
    model_with_bound(1, || {
        let (tx, rx) = bounded::<u8>(1).unwrap();
        let rx2 = rx.clone();
        let first = thread::spawn(move || rx.iter().count());
        let second = thread::spawn(move || {
            let received = rx2.iter().count();
            assert_eq!(rx2.recv(), Err(RecvError));
            received
        });
        tx.send(7).unwrap();
        drop(tx);
        let received = first.join().unwrap() + second.join().unwrap();
        assert_eq!(received, 1);
    });
}

/// Senders blocked on a full channel are woken by the last receiver's drop;
/// each send either got in before the drop or hands its value back, and every
/// value is dropped exactly once.
#[test]
fn disconnect_wakes_blocked_senders() {
    model(|| {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded(1).unwrap();
        tx.send(counted(0, &drops)).unwrap();
        let senders: Vec<_> = (1..=2)
            .map(|id| {
                let (tx, drops) = (tx.clone(), drops.clone());
                thread::spawn(move || match tx.send(counted(id, &drops)) {
                    Ok(()) => None,
                    Err(err) => Some(err.into_inner().id),
                })
            })
            .collect();
        drop(tx);
        drop(rx);
        for (id, sender) in (1..=2).zip(senders) {
            let handed_back = sender.join().unwrap();
            assert!(handed_back.is_none() || handed_back == Some(id));
        }
        assert_eq!(drops.load(SeqCst), 3);
    });
}

/// The last receiver leaves after one value while the sender is blocked on
/// the second: the sender is woken, the second value is handed back or
/// dropped with the channel, and every value is dropped exactly once.
#[test]
fn disconnect_races_with_blocked_send() {
    model(|| {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded(1).unwrap();
        let receiver = thread::spawn(move || rx.recv().map(|value: Counted| value.id));
        tx.send(counted(0, &drops)).unwrap();
        let second = tx.send(counted(1, &drops));
        let second = second.map_err(|err| err.into_inner().id);
        assert!(matches!(second, Ok(()) | Err(1)));
        assert_eq!(receiver.join().unwrap(), Ok(0));
        drop(tx);
        assert_eq!(drops.load(SeqCst), 2);
    });
}

/// Two receivers wait on one sender: each value wakes a receiver, and a
/// receiver that was woken but took the other value passes the wake-up on.
#[test]
fn two_receivers_share_one_sender() {
    model_with_bound(1, || {
        let (tx, rx) = bounded(1).unwrap();
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || rx.recv().unwrap())
            })
            .collect();
        drop(rx);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        let sum: i32 = receivers.into_iter().map(|r| r.join().unwrap()).sum();
        assert_eq!(sum, 3);
    });
}

/// Two senders wait on a full buffer for one receiver: each value taken wakes
/// a sender, and a sender that was woken but found the room taken waits again
/// without stranding the other.
#[test]
fn two_senders_share_one_receiver() {
    model_with_bound(1, || {
        let (tx, rx) = bounded(1).unwrap();
        tx.send(0).unwrap();
        let senders: Vec<_> = (1..=2)
            .map(|value| {
                let tx = tx.clone();
                thread::spawn(move || tx.send(value).unwrap())
            })
            .collect();
        drop(tx);
        let sum: i32 = (0..3).map(|_| rx.recv().unwrap()).sum();
        for s in senders {
            s.join().unwrap();
        }
        assert_eq!(sum, 3);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}

/// Two producers and two consumers through a one-slot buffer: each value is
/// received exactly once, and no thread is left waiting.
///
/// Four threads at two preemptions take loom about ten minutes, so this model
/// runs at one; the three-thread models above cover each side's races at two.
#[test]
fn two_producers_two_consumers() {
    model_with_bound(1, || {
        let (tx, rx) = bounded(1).unwrap();
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let tx = tx.clone();
                thread::spawn(move || tx.send(p).unwrap())
            })
            .collect();
        drop(tx);
        let other = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv().unwrap())
        };
        let mine = rx.recv().unwrap();
        let theirs = other.join().unwrap();
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(mine + theirs, 1);
        assert_ne!(mine, theirs);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}

/// `try_send` and `try_recv` never wait, and hand back what they cannot take.
#[test]
fn try_operations_lose_nothing() {
    model(|| {
        let (tx, rx) = bounded(1).unwrap();
        let sender = thread::spawn(move || {
            let mut refused = 0;
            for value in [1, 2] {
                match tx.try_send(value) {
                    Ok(()) => {}
                    Err(TrySendError::Full(back)) => refused += back,
                    Err(TrySendError::Disconnected(_)) => unreachable!(),
                }
            }
            refused
        });
        let mut received = 0;
        for _ in 0..2 {
            match rx.try_recv() {
                Ok(value) => received += value,
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => break,
            }
        }
        let refused = sender.join().unwrap();
        let left: i32 = rx.try_iter().sum();
        assert_eq!(received + refused + left, 3);
    });
}

/// A sender that found the channel full waits for a stretch of room (a
/// quarter of the capacity) only while it spins: one value taken by a
/// receiver that then waits for the sender must still let the send through.
/// A sender that kept waiting for the stretch until it parked would park
/// after the receiver's only wake-up chance had passed: a deadlock here.
#[test]
fn one_free_slot_lets_a_blocked_sender_through() {
    model(|| {
        // Capacity 8: the stretch is 2 slots, so one slot is not enough for
        // the spinning sender.
        let (tx, rx) = bounded(8).unwrap();
        for i in 0..8 {
            tx.send(i).unwrap();
        }
        let sender = thread::spawn(move || tx.send(8));
        assert_eq!(rx.recv(), Ok(0));
        assert_eq!(sender.join().unwrap(), Ok(()));
        assert_eq!(
            rx.try_iter().collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>()
        );
    });
}
