//! The state every handle of one channel points to, and the send/receive
//! protocols on it.
//!
//! Values travel through a [`Ring`]. A blocked sender waits on
//! `senders_waiting` for room, a blocked receiver on `receivers_waiting` for a
//! value; each side wakes the other *after* its ring operation is published
//! (see `waiters.rs` for why that loses no wake-up).
//!
//! Two rules keep wake-ups from being lost between waiters of the same side:
//!
//! - A wake-up means "something changed, look again": the woken thread retries
//!   its operation, and if someone else got there first it waits again.
//! - A thread that was woken but leaves holding a different value (or none)
//!   may have taken the one wake-up meant for someone else's value; so on its
//!   way out it wakes the next waiter if there is still something to take.
//!   This costs nothing on the fast path: only a thread that was woken does it.

use std::time::Instant;

use crate::error::{CapacityError, RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};
use crate::queue::Ring;
use crate::sync::{AtomicBool, AtomicUsize, CachePadded, Ordering};

use super::backoff::Backoff;
use super::waiters::Waiters;

/// Why a receive found nothing.
enum Nothing {
    /// Empty now; senders remain.
    Yet,
    /// Empty, and every sender is gone.
    Ever,
}

pub(super) struct Shared<T> {
    ring: Ring<T>,
    /// Receivers parked until a value arrives.
    receivers_waiting: CachePadded<Waiters>,
    /// Senders parked until room appears.
    senders_waiting: CachePadded<Waiters>,
    /// Live `Sender` handles.
    senders: AtomicUsize,
    /// Live `Receiver` handles.
    receivers: AtomicUsize,
    /// Set once either side has no handles left; never cleared.
    disconnected: AtomicBool,
    /// How many free slots a sender that found the channel full waits for
    /// while its back-off spins (see `ROOM_STRETCH_DIVISOR`).
    room_stretch: usize,
}

/// A sender that found the channel full retries, while its back-off spins,
/// only once `capacity / ROOM_STRETCH_DIVISOR` slots (at least one) are free.
///
/// A producer faster than its consumer keeps the ring full. Retrying as
/// soon as one slot is free puts the producer's write into the cache line
/// the consumer is reading and releasing right then, so the line crosses
/// between the two cores for every value and the consumer, the bottleneck,
/// slows down. Waiting for a stretch of room lets the consumer run ahead
/// over lines the producer has finished with, and then the producer fills a
/// stretch in one go. Below a capacity of 8 the stretch is one slot, which
/// is no wait at all. A sender woken from its parked wait tries any room
/// first: the wake-up was for it. The wait lasts only while the back-off
/// spins: once it yields, the sender may be sharing a CPU with a consumer,
/// and waiting for more than a slot then measured worse (two producers and
/// two consumers on two CPUs, docs/benchmarks.md); any room will do then,
/// and a sender never parks while there is room.
const ROOM_STRETCH_DIVISOR: usize = 4;

impl<T> Shared<T> {
    /// A channel with one sender and one receiver handle counted.
    pub(super) fn new(capacity: usize) -> Result<Self, CapacityError> {
        Ok(Self {
            ring: Ring::new(capacity)?,
            receivers_waiting: CachePadded::new(Waiters::new()),
            senders_waiting: CachePadded::new(Waiters::new()),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            disconnected: AtomicBool::new(false),
            room_stretch: (capacity / ROOM_STRETCH_DIVISOR).max(1),
        })
    }

    pub(super) fn len(&self) -> usize {
        self.ring.len()
    }

    pub(super) fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    pub(super) fn is_full(&self) -> bool {
        self.ring.is_full()
    }

    fn is_disconnected(&self) -> bool {
        // Acquire: pairs with the Release in `disconnect`, which the last
        // handle's drop makes after all of that side's operations; a receiver
        // that sees the flag therefore sees every value ever sent.
        self.disconnected.load(Ordering::Acquire)
    }

    // ---- handle counting -------------------------------------------------

    pub(super) fn add_sender(&self) {
        // Relaxed: the caller holds a sender already, so the count cannot be
        // zero and nothing is published by the increment.
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn add_receiver(&self) {
        // Relaxed: as in `add_sender`.
        self.receivers.fetch_add(1, Ordering::Relaxed);
    }

    /// Called by a dropped `Sender`; the last one disconnects.
    pub(super) fn remove_sender(&self) {
        // AcqRel: the last decrement must see every other sender's pushes
        // (they released with their own decrement) before it disconnects.
        if self.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.disconnect();
        }
    }

    /// Called by a dropped `Receiver`; the last one disconnects and drops the
    /// values nobody will receive.
    pub(super) fn remove_receiver(&self) {
        // AcqRel: as in `remove_sender`.
        if self.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.disconnect();
            // A send racing with this drop may still land a value after the
            // drain; the ring's own drop takes care of that one.
            while self.ring.pop().is_some() {}
        }
    }

    fn disconnect(&self) {
        // Release: see `is_disconnected`.
        self.disconnected.store(true, Ordering::Release);
        // Both wake-alls take the lock, so a thread registering later sees
        // the flag when it re-checks.
        self.receivers_waiting.wake_all();
        self.senders_waiting.wake_all();
    }

    // ---- sending ---------------------------------------------------------

    /// One push; wakes a receiver on success.
    #[inline]
    fn push(&self, value: T) -> Result<(), T> {
        self.ring.push(value)?;
        self.receivers_waiting.wake_one_after_claim();
        Ok(())
    }

    pub(super) fn try_send(&self, mut value: T) -> Result<(), TrySendError<T>> {
        let mut backoff = Backoff::new();
        loop {
            if self.is_disconnected() {
                return Err(TrySendError::Disconnected(value));
            }
            match self.push(value) {
                Ok(()) => return Ok(()),
                Err(back) => value = back,
            }
            // The ring refuses a push both when full and while a receiver is
            // still reading the slot the push needs; only the first is "full".
            if self.ring.is_full() || backoff.spun_out() {
                return Err(TrySendError::Full(value));
            }
            backoff.spin();
        }
    }

    /// Sends, parking while the channel is full, until `deadline` (or forever).
    pub(super) fn send_until(
        &self,
        mut value: T,
        deadline: Option<Instant>,
    ) -> Result<(), SendTimeoutError<T>> {
        let mut backoff = Backoff::new();
        let mut was_woken = false;
        // Set once a push found no room: from then on a retry while the
        // back-off spins waits for a stretch of room (`ROOM_STRETCH_DIVISOR`).
        // Cleared by a wake-up, so the first retry after it takes any room:
        // a slot was freed for us (another sender may still get it first).
        let mut wait_for_stretch = false;
        let result = loop {
            if self.is_disconnected() {
                break Err(SendTimeoutError::Disconnected(value));
            }
            if !wait_for_stretch
                || backoff.spun_out()
                || self.ring.has_room_ahead(self.room_stretch)
            {
                match self.push(value) {
                    Ok(()) => break Ok(()),
                    Err(back) => value = back,
                }
                wait_for_stretch = true;
            }
            if !backoff.is_done() {
                backoff.snooze();
                continue;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break Err(SendTimeoutError::Timeout(value));
            }
            let ticket = self.senders_waiting.register();
            // Re-check after registering: a receiver that freed a slot before
            // our registration was visible to it did not wake us.
            if self.is_disconnected() {
                was_woken |= self.senders_waiting.cancel(ticket);
                continue;
            }
            // While the ring is not full, a receiver has claimed a slot and
            // not yet freed it; it wakes nobody if it saw no waiter (see
            // `Waiters::wake_one_after_claim`), so retry until it is done.
            let mut in_flight = Backoff::new();
            let pushed = loop {
                match self.push(value) {
                    Ok(()) => break Ok(()),
                    Err(back) if self.ring.is_full() => break Err(back),
                    Err(back) => value = back,
                }
                in_flight.snooze();
            };
            match pushed {
                Ok(()) => {
                    was_woken |= self.senders_waiting.cancel(ticket);
                    break Ok(());
                }
                Err(back) => value = back,
            }
            if self.senders_waiting.wait(ticket, deadline) {
                was_woken = true;
                // The woken thread is likely to find room: spin a little
                // before parking again.
                backoff = Backoff::new();
                wait_for_stretch = false;
            }
        };
        if was_woken && !self.ring.is_full() {
            // We may have used up a wake-up meant for another sender's room.
            self.senders_waiting.wake_one();
        }
        result
    }

    // ---- receiving -------------------------------------------------------

    /// One pop; wakes a sender on success.
    #[inline]
    fn pop(&self) -> Option<T> {
        let value = self.ring.pop()?;
        self.senders_waiting.wake_one_after_claim();
        Some(value)
    }

    /// One pop; when nothing is there, also tells whether nothing ever will
    /// be. The pop after seeing the flag catches values sent just before the
    /// last sender left.
    fn take(&self) -> Result<T, Nothing> {
        if let Some(value) = self.pop() {
            return Ok(value);
        }
        if !self.is_disconnected() {
            return Err(Nothing::Yet);
        }
        self.pop().ok_or(Nothing::Ever)
    }

    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut backoff = Backoff::new();
        loop {
            match self.take() {
                Ok(value) => return Ok(value),
                Err(Nothing::Yet) => {}
                Err(Nothing::Ever) => return Err(TryRecvError::Disconnected),
            }
            // The ring reports nothing both when empty and while a sender is
            // still writing the next slot; only the first is "empty".
            if self.ring.is_empty() || backoff.spun_out() {
                return Err(TryRecvError::Empty);
            }
            backoff.spin();
        }
    }

    /// Receives, parking while the channel is empty, until `deadline` (or
    /// forever).
    pub(super) fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let mut backoff = Backoff::new();
        let mut was_woken = false;
        let result = loop {
            match self.take() {
                Ok(value) => break Ok(value),
                Err(Nothing::Yet) => {}
                Err(Nothing::Ever) => break Err(RecvTimeoutError::Disconnected),
            }
            if !backoff.is_done() {
                backoff.snooze();
                continue;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break Err(RecvTimeoutError::Timeout);
            }
            let ticket = self.receivers_waiting.register();
            // Re-check after registering: a sender that published before our
            // registration was visible to it did not wake us.
            // While the ring is not empty, a sender has claimed a slot and
            // may not have written it yet; it wakes nobody if it saw no
            // waiter (see `Waiters::wake_one_after_claim`), so retry until it
            // has published.
            let mut in_flight = Backoff::new();
            let popped = loop {
                if let Some(value) = self.pop() {
                    break Some(value);
                }
                if self.ring.is_empty() {
                    break None;
                }
                in_flight.snooze();
            };
            if let Some(value) = popped {
                was_woken |= self.receivers_waiting.cancel(ticket);
                break Ok(value);
            }
            if self.is_disconnected() {
                was_woken |= self.receivers_waiting.cancel(ticket);
                continue;
            }
            if self.receivers_waiting.wait(ticket, deadline) {
                was_woken = true;
                // The woken thread is likely to find a value: spin a little
                // before parking again.
                backoff = Backoff::new();
            }
        };
        if was_woken && !self.ring.is_empty() {
            // We may have used up a wake-up meant for another receiver's value.
            self.receivers_waiting.wake_one();
        }
        result
    }
}
