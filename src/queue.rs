//! Bounded lock-free MPMC ring with sequence-numbered slots (after Vyukov's
//! bounded MPMC queue).
//!
//! Producers and consumers each claim a position with one CAS on their own
//! cache-padded counter, then hand the slot over through the slot's sequence
//! number:
//!
//! | slot sequence | meaning for position `pos` (slot `pos % capacity`) |
//! | --- | --- |
//! | `2 * pos` | empty, ready for the producer of `pos` |
//! | `2 * pos + 1` | full, ready for the consumer of `pos` |
//! | `2 * (pos + capacity)` | emptied, ready for the producer of the next lap |
//!
//! Sequences step by two per position so that "full for `pos`" and "empty for
//! the next lap" differ even when the capacity is 1.
//!
//! Neither side ever waits for the other. A consumer that finds its slot not yet
//! published reports [`None`] (the producer is still writing and will signal
//! after it publishes); a producer that finds its slot not yet released reports
//! full and hands the value back. Both are momentary and only happen while the
//! other side is mid-operation; the layers above (injectors, channels) always
//! wake waiters *after* publishing, so no wake-up is lost.
//!
//! Positions are `usize` counters (sequences twice that); they would wrap after
//! 2^63 operations on a 64-bit target, which is out of reach, and comparisons use wrapping
//! differences regardless.

use std::fmt;
use std::mem::MaybeUninit;

use crate::error::CapacityError;
use crate::sync::{AtomicUsize, CachePadded, Ordering, UnsafeCell};

/// The largest capacity accepted: positions must stay far from wrapping into
/// each other's laps when compared as signed differences.
pub const MAX_CAPACITY: usize = isize::MAX as usize / 4;

struct Slot<T> {
    seq: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A bounded multi-producer multi-consumer FIFO ring.
///
/// ```
/// use weftpool::queue::Ring;
///
/// let ring = Ring::new(2).unwrap();
/// assert!(ring.push(1).is_ok());
/// assert!(ring.push(2).is_ok());
/// assert_eq!(ring.push(3), Err(3)); // full: the value comes back
/// assert_eq!(ring.pop(), Some(1));
/// assert_eq!(ring.len(), 1);
/// ```
pub struct Ring<T> {
    /// Next position to pop.
    head: CachePadded<AtomicUsize>,
    /// Next position to push.
    tail: CachePadded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    /// `capacity - 1` when the capacity is a power of two (index by mask), else 0.
    mask: usize,
}

// SAFETY: values move between threads through the ring, so `T: Send` is needed
// and enough; slots are handed over exclusively by the sequence protocol, so no
// two threads touch one value at once and `T: Sync` is not needed.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above; shared access only ever yields owned values.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// Creates a ring holding at most `capacity` values.
    ///
    /// Any capacity from 1 to [`MAX_CAPACITY`] works; a power of two indexes a
    /// little faster.
    pub fn new(capacity: usize) -> Result<Self, CapacityError> {
        CapacityError::check(capacity, MAX_CAPACITY)?;
        let slots = (0..capacity)
            .map(|i| Slot {
                seq: AtomicUsize::new(2 * i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        let mask = if capacity.is_power_of_two() {
            capacity - 1
        } else {
            0
        };
        Ok(Self {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            slots,
            mask,
        })
    }

    #[inline]
    fn slot(&self, pos: usize) -> &Slot<T> {
        let index = if self.mask != 0 || self.slots.len() == 1 {
            pos & self.mask
        } else {
            pos % self.slots.len()
        };
        &self.slots[index]
    }

    /// Appends `value`, or hands it back when the ring is full.
    pub fn push(&self, value: T) -> Result<(), T> {
        // Relaxed: only a hint where to start; the slot's sequence (Acquire
        // below) and the CAS decide ownership.
        let mut pos = self.tail.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(pos);
            // Acquire: pairs with the consumer's Release store of the sequence,
            // so its read of the previous value happens before our write.
            let seq = slot.seq.load(Ordering::Acquire);
            let diff = seq.wrapping_sub(pos.wrapping_mul(2)) as isize;
            if diff == 0 {
                // SeqCst on success: the claim is a producer's half of the
                // wake-up Dekker pairs (pool sleep, channel waiters). A waiter
                // that registers, then reads `tail` (SeqCst, `is_empty`),
                // either sees this claim or is seen by the producer's SeqCst
                // load after it, so producers need no fence (a locked CAS
                // costs the same on x86). The value itself is published by
                // the sequence store below. Relaxed on failure: nothing read.
                match self.tail.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        crate::sync::model_sc_order();
                        // SAFETY: winning the CAS for `pos` while the sequence
                        // says "empty for pos" gives this thread sole access to
                        // the slot until it publishes the new sequence.
                        slot.value.with_mut(|p| unsafe { (*p).write(value) });
                        // Release: publishes the value to the consumer of `pos`.
                        slot.seq
                            .store(pos.wrapping_mul(2).wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(current) => pos = current,
                }
            } else if diff < 0 {
                // The slot still holds the value from one lap ago: the ring is
                // full, or its consumer is mid-read. Either way, no room now.
                return Err(value);
            } else {
                // Another producer took `pos`; move on.
                pos = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Whether the `n`-th slot past the tail has been released for its next
    /// push (a hint, for a producer deciding when to retry). Consumers
    /// release slots in about the order they claim them, so this says
    /// roughly that `n` pushes in a row would find room; with one consumer,
    /// exactly that. It reads only that slot's sequence, not the consumers'
    /// counter, so polling it does not take the line consumers claim
    /// positions on. `n` is clamped to `1..=capacity`.
    pub(crate) fn has_room_ahead(&self, n: usize) -> bool {
        let n = n.clamp(1, self.slots.len());
        // Relaxed: a hint, like the sequence read below; `push` decides.
        let pos = self.tail.load(Ordering::Relaxed).wrapping_add(n - 1);
        // Relaxed: nothing is read on the strength of this load; a push that
        // follows the hint acquires the sequence itself.
        let seq = self.slot(pos).seq.load(Ordering::Relaxed);
        // Released for `pos` (or already for a later lap, when other
        // producers moved the tail on): not behind.
        seq.wrapping_sub(pos.wrapping_mul(2)) as isize >= 0
    }

    /// Removes the oldest value, or returns `None` when there is none ready.
    pub fn pop(&self) -> Option<T> {
        let cap = self.slots.len();
        // Relaxed: a hint; the slot's sequence and the CAS decide.
        let mut pos = self.head.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(pos);
            // Acquire: pairs with the producer's Release store, making its write
            // of the value visible before we read it.
            let seq = slot.seq.load(Ordering::Acquire);
            let diff = seq.wrapping_sub(pos.wrapping_mul(2).wrapping_add(1)) as isize;
            if diff == 0 {
                // SeqCst on success: as the tail claim in `push`, the head
                // claim is a consumer's half of the "room appeared" Dekker
                // pair with blocked channel senders and blocked pool
                // submitters, who re-read `head` (SeqCst) after registering.
                // The value is handed over by the sequences. Relaxed on
                // failure: nothing read.
                match self.head.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        crate::sync::model_sc_order();
                        // SAFETY: the sequence says "full for pos" and we won the
                        // CAS for `pos`: the value is initialised and ours alone.
                        let value = slot.value.with(|p| unsafe { (*p).assume_init_read() });
                        // Release: our read happens before the next lap's write.
                        slot.seq
                            .store(pos.wrapping_add(cap).wrapping_mul(2), Ordering::Release);
                        return Some(value);
                    }
                    Err(current) => pos = current,
                }
            } else if diff < 0 {
                // Not yet published: empty, or its producer is mid-write (and
                // will signal after publishing).
                return None;
            } else {
                pos = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Removes up to `max` of the oldest values with a single claim, passing
    /// them to `sink` oldest first; returns how many. Takes only values that
    /// are already published, so like [`pop`](Self::pop) it never waits.
    pub fn pop_batch(&self, max: usize, mut sink: impl FnMut(T)) -> usize {
        let cap = self.slots.len();
        let max = max.min(cap);
        // Relaxed: a hint; the sequences and the CAS decide.
        let mut pos = self.head.load(Ordering::Relaxed);
        loop {
            let mut ready = 0;
            while ready < max {
                let at = pos.wrapping_add(ready);
                // Acquire: as in `pop`, makes each producer's write visible.
                let seq = self.slot(at).seq.load(Ordering::Acquire);
                if seq != at.wrapping_mul(2).wrapping_add(1) {
                    break;
                }
                ready += 1;
            }
            if ready == 0 {
                let seq = self.slot(pos).seq.load(Ordering::Acquire);
                let diff = seq.wrapping_sub(pos.wrapping_mul(2).wrapping_add(1)) as isize;
                if diff < 0 {
                    return 0;
                }
                // Another consumer moved on; follow it.
                pos = self.head.load(Ordering::Relaxed);
                continue;
            }
            // Winning this CAS claims every position in pos..pos + ready:
            // each was seen published, and only a consumer that had moved
            // `head` past it could change it before we do. SeqCst on success,
            // as in `pop`: the claim is the taker's half of the "room
            // appeared" Dekker pair with blocked submitters, who re-read
            // `head` (SeqCst) after registering, so the taker needs no fence
            // before it reads whether anyone is blocked (a locked CAS costs
            // the same on x86; elsewhere a little more, still less than a
            // fence). Relaxed on failure: nothing read.
            match self.head.compare_exchange_weak(
                pos,
                pos.wrapping_add(ready),
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    crate::sync::model_sc_order();
                    for i in 0..ready {
                        let at = pos.wrapping_add(i);
                        let slot = self.slot(at);
                        // SAFETY: claimed by our CAS and published (seen above).
                        let value = slot.value.with(|p| unsafe { (*p).assume_init_read() });
                        // Release: our read happens before the next lap's write.
                        slot.seq
                            .store(at.wrapping_add(cap).wrapping_mul(2), Ordering::Release);
                        sink(value);
                    }
                    return ready;
                }
                Err(current) => pos = current,
            }
        }
    }

    /// How many values the ring holds (a snapshot; it may change at once).
    pub fn len(&self) -> usize {
        loop {
            // SeqCst pair: read a consistent (tail, head) pair by re-checking tail.
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            if self.tail.load(Ordering::SeqCst) == tail {
                let n = tail.wrapping_sub(head) as isize;
                return n.clamp(0, self.slots.len() as isize) as usize;
            }
        }
    }

    /// Whether the ring holds no values (a snapshot).
    pub fn is_empty(&self) -> bool {
        // SeqCst, head before tail: head never passes tail, so equal values
        // mean the ring was empty when tail was read; and a push ordered
        // before this read (the sleep protocol's last look) is seen.
        let head = self.head.load(Ordering::SeqCst);
        self.tail.load(Ordering::SeqCst) == head
    }

    /// Whether the ring is at capacity (a snapshot).
    pub fn is_full(&self) -> bool {
        self.len() == self.slots.len()
    }

    /// The most values the ring can hold.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // `&mut self`: no other thread can be inside push or pop, so every
        // claimed position has been published and the plain pop drains all.
        while self.pop().is_some() {}
    }
}

impl<T> fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;
    use std::sync::Arc as StdArc;

    #[test]
    fn rejects_bad_capacity() {
        assert_eq!(Ring::<u8>::new(0).unwrap_err(), CapacityError::Zero);
        assert!(matches!(
            Ring::<u8>::new(MAX_CAPACITY + 1),
            Err(CapacityError::TooLarge { .. })
        ));
    }

    #[test]
    fn fifo_and_wraparound_for_odd_and_even_capacities() {
        for cap in [1, 2, 3, 5, 8] {
            let ring = Ring::new(cap).unwrap();
            for lap in 0..4 {
                for i in 0..cap {
                    ring.push(lap * 100 + i).unwrap();
                }
                assert_eq!(ring.push(999), Err(999));
                assert!(ring.is_full());
                for i in 0..cap {
                    assert_eq!(ring.pop(), Some(lap * 100 + i));
                }
                assert_eq!(ring.pop(), None);
                assert!(ring.is_empty());
            }
        }
    }

    #[test]
    fn pop_batch_takes_the_oldest_in_order_across_the_wrap() {
        let ring = Ring::new(3).unwrap();
        let mut got = Vec::new();
        for round in 0..5 {
            for i in 0..3 {
                ring.push(round * 10 + i).unwrap();
            }
            assert_eq!(ring.pop_batch(2, |v| got.push(v)), 2);
            assert_eq!(ring.pop_batch(8, |v| got.push(v)), 1);
            assert_eq!(ring.pop_batch(8, |v| got.push(v)), 0);
        }
        let want: Vec<i32> = (0..5)
            .flat_map(|r| (0..3).map(move |i| r * 10 + i))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn room_ahead_counts_released_slots_across_laps() {
        for cap in [1, 5, 8] {
            let ring = Ring::new(cap).unwrap();
            assert!(ring.has_room_ahead(cap));
            assert!(ring.has_room_ahead(cap + 7), "clamped to the capacity");
            for lap in 0..3 {
                // Leave `free` slots; then one pop frees one more.
                let free = cap / 2;
                for i in 0..cap - free {
                    ring.push(lap * 10 + i).unwrap();
                }
                assert!(free == 0 || ring.has_room_ahead(free));
                assert!(!ring.has_room_ahead(free + 1));
                assert_eq!(ring.pop(), Some(lap * 10));
                assert!(ring.has_room_ahead(free + 1));
                assert!(free + 1 == cap || !ring.has_room_ahead(free + 2));
                while ring.push(0).is_ok() {}
                assert!(!ring.has_room_ahead(1));
                assert!(!ring.has_room_ahead(0), "clamped to one");
                while ring.pop().is_some() {}
                assert!(ring.has_room_ahead(cap));
            }
        }
    }

    #[test]
    fn drops_leftovers_exactly_once() {
        struct Counted(StdArc<StdAtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let drops = StdArc::new(StdAtomicUsize::new(0));
        let ring = Ring::new(4).unwrap();
        for _ in 0..3 {
            ring.push(Counted(drops.clone())).ok().unwrap();
        }
        drop(ring.pop());
        assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 1);
        drop(ring);
        assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[test]
    fn stress_every_item_exactly_once() {
        const PRODUCERS: usize = 4;
        const PER: usize = 50_000;
        let ring = StdArc::new(Ring::new(64).unwrap());
        let seen: StdArc<Vec<StdAtomicUsize>> = StdArc::new(
            (0..PRODUCERS * PER)
                .map(|_| StdAtomicUsize::new(0))
                .collect(),
        );
        let taken = StdArc::new(StdAtomicUsize::new(0));
        let mut threads = Vec::new();
        for p in 0..PRODUCERS {
            let ring = ring.clone();
            threads.push(std::thread::spawn(move || {
                for i in 0..PER {
                    let mut v = p * PER + i;
                    while let Err(back) = ring.push(v) {
                        v = back;
                        std::thread::yield_now();
                    }
                }
            }));
        }
        for _ in 0..3 {
            let (ring, seen, taken) = (ring.clone(), seen.clone(), taken.clone());
            threads.push(std::thread::spawn(move || {
                while taken.load(std::sync::atomic::Ordering::SeqCst) < PRODUCERS * PER {
                    match ring.pop() {
                        Some(v) => {
                            seen[v].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            taken.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        None => std::thread::yield_now(),
                    }
                }
            }));
        }
        for t in threads {
            t.join().unwrap();
        }
        assert!(seen
            .iter()
            .all(|c| c.load(std::sync::atomic::Ordering::SeqCst) == 1));
        assert!(ring.is_empty());
    }
}
