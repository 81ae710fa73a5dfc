//! The state a deque's worker and stealers share: the two ends and the slots.

use std::mem::MaybeUninit;

use crate::sync::{AtomicU32, AtomicU64, CachePadded, Ordering, UnsafeCell};

/// Packs the `steal` and `real` heads into one word (`steal` high, `real` low).
#[inline]
pub(super) fn pack(steal: u32, real: u32) -> u64 {
    (u64::from(steal) << 32) | u64::from(real)
}

/// Splits a packed head into `(steal, real)`.
#[inline]
pub(super) fn unpack(head: u64) -> (u32, u32) {
    ((head >> 32) as u32, head as u32)
}

/// Signed distance from `from` to `to` on the wrapping `u32` positions.
#[inline]
pub(super) fn distance(from: u32, to: u32) -> i32 {
    to.wrapping_sub(from) as i32
}

/// Ends and slots of one deque (see the module docs for the protocol).
pub(super) struct Shared<T> {
    /// Thieves' end: `steal` and `real` packed by [`pack`].
    pub(super) head: CachePadded<AtomicU64>,
    /// Owner's end: the next position to push. Only the worker writes it.
    pub(super) tail: CachePadded<AtomicU32>,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: u32,
}

// SAFETY: items move between threads through the deque, so `T: Send` is
// needed and enough; the protocol gives each slot to one thread at a time, so
// no `&T` is ever shared and `T: Sync` is not needed.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above; shared access only ever yields owned items.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// Allocates the slots; `capacity` is a checked power of two that fits
    /// `u32`. Positions begin at `start` (0 but in tests of wrapping).
    pub(super) fn with_capacity(capacity: usize, start: u32) -> Self {
        debug_assert!(capacity.is_power_of_two() && capacity <= super::MAX_CAPACITY);
        let slots = (0..capacity)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect();
        Self {
            head: CachePadded::new(AtomicU64::new(pack(start, start))),
            tail: CachePadded::new(AtomicU32::new(start)),
            slots,
            mask: capacity as u32 - 1,
        }
    }

    /// The number of slots.
    #[inline]
    pub(super) fn capacity(&self) -> u32 {
        self.mask + 1
    }

    /// Moves `value` into the slot of `pos`.
    ///
    /// # Safety
    ///
    /// The caller is the worker, `pos` is `tail`, and `tail - steal` is below
    /// the capacity, so no thief is reading this slot and it holds no item.
    #[inline]
    pub(super) unsafe fn write(&self, pos: u32, value: T) {
        let slot = &self.slots[(pos & self.mask) as usize];
        // SAFETY: the caller guarantees exclusive access to an empty slot.
        slot.with_mut(|p| unsafe { (*p).write(value) });
    }

    /// Moves the item out of the slot of `pos`.
    ///
    /// # Safety
    ///
    /// The slot holds an item published to this thread, and this thread alone
    /// has claimed `pos` (a thief by CAS on `head`, the worker by the pop
    /// protocol); the slot counts as empty afterwards.
    #[inline]
    pub(super) unsafe fn read(&self, pos: u32) -> T {
        let slot = &self.slots[(pos & self.mask) as usize];
        // SAFETY: the caller guarantees the slot is initialised and ours.
        slot.with(|p| unsafe { (*p).assume_init_read() })
    }

    /// Number of items as seen by a thread other than the worker (a snapshot).
    pub(super) fn len(&self) -> usize {
        // Relaxed on both: a snapshot that publishes and consumes nothing.
        let (_, real) = unpack(self.head.load(Ordering::Relaxed));
        let tail = self.tail.load(Ordering::Relaxed);
        distance(real, tail).clamp(0, self.capacity() as i32) as usize
    }

    /// Hands the slots `steal..real` of a thief's claim back to the worker.
    ///
    /// `claimed` is the head the thief's last successful CAS wrote. Only the
    /// worker's pop of the last item may have moved `real` on since (other
    /// thieves back off while `steal != real`), so `steal` becomes whatever
    /// `real` is now.
    pub(super) fn release_claim(&self, claimed: u64) {
        let (start, _) = unpack(claimed);
        let mut current = claimed;
        loop {
            let (steal, real) = unpack(current);
            debug_assert_eq!(steal, start, "another thief released our claim");
            // Release: our reads of the claimed slots happen before the
            // worker's Acquire load of `head` in `push` that lets it reuse them.
            // Relaxed on failure: we only learn the new `real` and try again.
            match self.head.compare_exchange(
                current,
                pack(real, real),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Loom's cell tracking cannot run while a failed model unwinds; leaking
        // there keeps the model's own failure the one reported.
        #[cfg(loom)]
        if crate::sync::thread::panicking() {
            return;
        }
        // Relaxed on both: `&mut self` means the last handle is gone and the
        // reference count's drop synchronized with every other one.
        let (steal, real) = unpack(self.head.load(Ordering::Relaxed));
        let tail = self.tail.load(Ordering::Relaxed);
        debug_assert_eq!(steal, real, "a thief's claim outlived every handle");
        let mut pos = real;
        while pos != tail {
            // SAFETY: `real..tail` hold published, unclaimed items, and no
            // other handle exists, so each is dropped here exactly once.
            drop(unsafe { self.read(pos) });
            pos = pos.wrapping_add(1);
        }
    }
}
