//! Behaviour and stress tests of the channel on real threads.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// Long enough for a parked thread to really park on a slow machine; tests
/// never depend on it being exact.
const SETTLE: Duration = Duration::from_millis(50);

/// Counts its drops, so tests can check every value is dropped exactly once.
struct Counted {
    drops: Arc<AtomicUsize>,
}

impl Counted {
    fn new(drops: &Arc<AtomicUsize>) -> Self {
        Self {
            drops: drops.clone(),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

#[test]
fn handles_are_send_sync_and_clone_for_send_values() {
    fn assert_traits<X: Send + Sync + Clone>() {}
    assert_traits::<Sender<std::cell::Cell<u8>>>();
    assert_traits::<Receiver<std::cell::Cell<u8>>>();
}

#[test]
fn capacity_is_checked_without_panicking() {
    assert_eq!(bounded::<u8>(0).unwrap_err(), CapacityError::Zero);
    assert!(matches!(
        bounded::<u8>(usize::MAX),
        Err(CapacityError::TooLarge { .. })
    ));
    let (tx, rx) = bounded::<u8>(3).unwrap();
    assert_eq!((tx.capacity(), rx.capacity()), (3, 3));
}

#[test]
fn len_empty_full_and_fifo() {
    let (tx, rx) = bounded(2).unwrap();
    assert!(tx.is_empty() && rx.is_empty() && !rx.is_full());
    tx.send(1).unwrap();
    assert_eq!((tx.len(), rx.len()), (1, 1));
    tx.try_send(2).unwrap();
    assert!(tx.is_full() && rx.is_full());
    assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(format!("{tx:?} {rx:?}").contains("capacity: 2"));
}

#[test]
fn send_fails_with_the_value_once_receivers_are_gone() {
    let (tx, rx) = bounded(4).unwrap();
    let rx2 = rx.clone();
    drop(rx);
    tx.send(1).unwrap(); // one receiver left
    drop(rx2);
    assert_eq!(tx.send(2), Err(SendError(2)));
    assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)));
    assert_eq!(
        tx.send_timeout(4, SETTLE),
        Err(SendTimeoutError::Disconnected(4))
    );
}

#[test]
fn recv_drains_then_reports_disconnection() {
    let (tx, rx) = bounded(4).unwrap();
    let tx2 = tx.clone();
    tx.send(1).unwrap();
    tx2.send(2).unwrap();
    drop(tx);
    assert_eq!(rx.recv(), Ok(1)); // one sender left
    drop(tx2);
    assert_eq!(rx.recv_timeout(SETTLE), Ok(2));
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(rx.recv_timeout(SETTLE), Err(RecvTimeoutError::Disconnected));
}

#[test]
fn blocked_receivers_wake_on_disconnection() {
    let (tx, rx) = bounded::<u8>(1).unwrap();
    let waiting: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || rx.recv())
        })
        .collect();
    thread::sleep(SETTLE);
    drop(tx);
    for w in waiting {
        assert_eq!(w.join().unwrap(), Err(RecvError));
    }
}

#[test]
fn blocked_senders_wake_on_disconnection_and_get_their_value_back() {
    let (tx, rx) = bounded(1).unwrap();
    tx.send(0).unwrap();
    let waiting: Vec<_> = (1..=3)
        .map(|i| {
            let tx = tx.clone();
            thread::spawn(move || tx.send(i))
        })
        .collect();
    thread::sleep(SETTLE);
    drop(rx);
    let mut back: Vec<_> = waiting
        .into_iter()
        .map(|w| w.join().unwrap().unwrap_err().into_inner())
        .collect();
    back.sort_unstable();
    assert_eq!(back, [1, 2, 3]);
}

#[test]
fn blocked_sender_resumes_when_room_appears() {
    let (tx, rx) = bounded(1).unwrap();
    tx.send(1).unwrap();
    let sender = thread::spawn(move || tx.send(2));
    thread::sleep(SETTLE);
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(sender.join().unwrap(), Ok(()));
}

#[test]
fn blocked_sender_takes_a_single_free_slot_of_a_large_channel() {
    // A sender that found the channel full waits for a stretch of room only
    // while it spins; one free slot must still let it through, whenever it
    // appears: soon after the send started, or once the sender has parked.
    // (Which phase of its wait the sender is in is up to the scheduler.)
    for pause in [Duration::from_micros(2), SETTLE] {
        let (tx, rx) = bounded(64).unwrap();
        for i in 0..64 {
            tx.send(i).unwrap();
        }
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let started = Arc::new(Barrier::new(2));
        let sender = thread::spawn({
            let started = started.clone();
            move || {
                started.wait();
                let sent = tx.send(64);
                done_tx.send(()).unwrap();
                sent
            }
        });
        started.wait();
        let until = Instant::now() + pause;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        assert_eq!(rx.recv(), Ok(0));
        assert_eq!(
            done_rx.recv_timeout(Duration::from_secs(10)),
            Ok(()),
            "the sender stayed blocked with room for its value"
        );
        assert_eq!(sender.join().unwrap(), Ok(()));
        assert_eq!(
            rx.try_iter().collect::<Vec<_>>(),
            (1..=64).collect::<Vec<_>>()
        );
    }
}

#[test]
fn send_timeout_hands_the_value_back() {
    let (tx, rx) = bounded(1).unwrap();
    tx.send(1).unwrap();
    let started = Instant::now();
    let err = tx.send_timeout(2, Duration::from_millis(20)).unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.into_inner(), 2);
    assert!(started.elapsed() >= Duration::from_millis(20));
    let past = Instant::now() - Duration::from_millis(1);
    assert_eq!(tx.send_deadline(3, past), Err(SendTimeoutError::Timeout(3)));
    assert_eq!(rx.recv(), Ok(1));
    // Room again: an elapsed deadline still sends when it needs no waiting.
    assert_eq!(tx.send_deadline(4, past), Ok(()));
}

#[test]
fn recv_timeout_times_out_then_still_receives() {
    let (tx, rx) = bounded(1).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(20)),
        Err(RecvTimeoutError::Timeout)
    );
    let past = Instant::now() - Duration::from_millis(1);
    assert_eq!(rx.recv_deadline(past), Err(RecvTimeoutError::Timeout));
    let sender = thread::spawn(move || {
        thread::sleep(SETTLE);
        tx.send(5)
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(60)), Ok(5));
    sender.join().unwrap().unwrap();
}

#[test]
fn huge_timeouts_mean_no_timeout() {
    let (tx, rx) = bounded(1).unwrap();
    tx.send_timeout(1, Duration::MAX).unwrap();
    assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1));
}

#[test]
fn many_timed_waiters_lose_no_value() {
    // Waiters that time out race with wake-ups: a wake-up spent on one that
    // then gives up must reach another waiter.
    let (tx, rx) = bounded(4).unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let receivers: Vec<_> = (0..3)
        .map(|_| {
            let (rx, received) = (rx.clone(), received.clone());
            thread::spawn(move || loop {
                match rx.recv_timeout(Duration::from_micros(50)) {
                    Ok(_) => {
                        received.fetch_add(1, SeqCst);
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            })
        })
        .collect();
    for i in 0..20_000u32 {
        let mut value = i;
        loop {
            match tx.send_timeout(value, Duration::from_micros(50)) {
                Ok(()) => break,
                Err(err) => value = err.into_inner(),
            }
        }
    }
    drop(tx);
    for r in receivers {
        r.join().unwrap();
    }
    assert_eq!(received.load(SeqCst), 20_000);
}

#[test]
fn leftovers_drop_exactly_once_when_the_last_receiver_goes() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bounded(8).unwrap();
    for _ in 0..5 {
        tx.send(Counted::new(&drops)).ok().unwrap();
    }
    drop(rx.recv().unwrap());
    assert_eq!(drops.load(SeqCst), 1);
    drop(rx);
    assert_eq!(drops.load(SeqCst), 5);
    let back = tx.send(Counted::new(&drops)).unwrap_err().into_inner();
    assert_eq!(drops.load(SeqCst), 5);
    drop(back);
    drop(tx);
    assert_eq!(drops.load(SeqCst), 6);
}

#[test]
fn leftovers_drop_exactly_once_when_senders_go_last() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bounded(8).unwrap();
    for _ in 0..3 {
        tx.send(Counted::new(&drops)).ok().unwrap();
    }
    drop(tx);
    assert_eq!(drops.load(SeqCst), 0);
    drop(rx);
    assert_eq!(drops.load(SeqCst), 3);
}

/// Every value sent by `producers` threads arrives exactly once at one of
/// `consumers` threads.
fn exactly_once(capacity: usize, producers: usize, consumers: usize, per_producer: usize) {
    let total = producers * per_producer;
    let (tx, rx) = bounded(capacity).unwrap();
    let seen: Arc<Vec<AtomicUsize>> = Arc::new((0..total).map(|_| AtomicUsize::new(0)).collect());
    let start = Arc::new(Barrier::new(producers + consumers));
    let mut threads = Vec::new();
    for p in 0..producers {
        let (tx, start) = (tx.clone(), start.clone());
        threads.push(thread::spawn(move || {
            start.wait();
            for i in 0..per_producer {
                tx.send(p * per_producer + i).unwrap();
            }
        }));
    }
    drop(tx);
    for _ in 0..consumers {
        let (rx, seen, start) = (rx.clone(), seen.clone(), start.clone());
        threads.push(thread::spawn(move || {
            start.wait();
            let mut last_from = vec![None; producers];
            for value in rx.iter() {
                seen[value].fetch_add(1, SeqCst);
                // One consumer sees each producer's values in order.
                let from = value / per_producer;
                assert!(last_from[from] < Some(value));
                last_from[from] = Some(value);
            }
        }));
    }
    drop(rx);
    for t in threads {
        t.join().unwrap();
    }
    assert!(seen.iter().all(|count| count.load(SeqCst) == 1));
}

#[test]
fn stress_four_producers_three_consumers() {
    exactly_once(64, 4, 3, 50_000);
}

#[test]
fn stress_capacity_one_forces_parking() {
    exactly_once(1, 2, 2, 20_000);
}

#[test]
fn stress_odd_capacity_single_pair() {
    exactly_once(3, 1, 1, 100_000);
}

#[test]
fn stress_try_operations_exactly_once() {
    const PER: usize = 50_000;
    let (tx, rx) = bounded(16).unwrap();
    let seen: Arc<Vec<AtomicUsize>> = Arc::new((0..2 * PER).map(|_| AtomicUsize::new(0)).collect());
    let mut threads = Vec::new();
    for p in 0..2 {
        let tx = tx.clone();
        threads.push(thread::spawn(move || {
            for i in 0..PER {
                let mut value = p * PER + i;
                loop {
                    match tx.try_send(value) {
                        Ok(()) => break,
                        Err(TrySendError::Full(back)) => {
                            value = back;
                            thread::yield_now();
                        }
                        Err(TrySendError::Disconnected(_)) => unreachable!(),
                    }
                }
            }
        }));
    }
    drop(tx);
    for _ in 0..2 {
        let (rx, seen) = (rx.clone(), seen.clone());
        threads.push(thread::spawn(move || loop {
            match rx.try_recv() {
                Ok(value) => {
                    seen[value].fetch_add(1, SeqCst);
                }
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Disconnected) => return,
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    assert!(seen.iter().all(|count| count.load(SeqCst) == 1));
}

#[test]
fn stress_values_in_flight_drop_exactly_once_on_disconnect() {
    let drops = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bounded(4).unwrap();
    let senders: Vec<_> = (0..3)
        .map(|_| {
            let (tx, drops, sent) = (tx.clone(), drops.clone(), sent.clone());
            thread::spawn(move || loop {
                match tx.send(Counted::new(&drops)) {
                    Ok(()) => {
                        sent.fetch_add(1, SeqCst);
                    }
                    Err(back) => {
                        // A refused value comes back to us; count it as sent
                        // so the total below balances once it drops here.
                        sent.fetch_add(1, SeqCst);
                        drop(back);
                        return;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    for _ in 0..1_000 {
        drop(rx.recv().unwrap());
    }
    drop(rx);
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(drops.load(SeqCst), sent.load(SeqCst));
}
