//! The thieves' handle: steal from the top.

use std::fmt;

use super::shared::{distance, pack, unpack, Shared};
use super::{Steal, Worker};
use crate::sync::{fence, Arc, Ordering};

/// A thief's end of a deque: takes the oldest items from the top, FIFO.
///
/// Cheap to clone and safe to share between threads.
///
/// ```
/// use weftpool::deque::{self, Steal};
///
/// let (victim, stealer) = deque::new(8).unwrap();
/// for i in 0..4 {
///     victim.push(i).unwrap();
/// }
/// let (mine, _) = deque::new(8).unwrap();
/// // Takes half of the victim's items: returns the oldest, moves the next one.
/// assert_eq!(stealer.steal_batch_and_pop(&mine), Steal::Success(0));
/// assert_eq!(mine.pop(), Some(1));
/// assert_eq!(stealer.steal(), Steal::Success(2));
/// ```
pub struct Stealer<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Stealer<T> {
    pub(super) fn new(shared: Arc<Shared<T>>) -> Self {
        Self { shared }
    }

    /// Reads both ends as a thief must before claiming: the packed head, then
    /// (after a fence) the tail. `None` when another thief holds a claim.
    #[inline]
    fn observe(&self) -> Option<(u64, u32)> {
        let shared = &*self.shared;
        // Acquire (the paper's load of top): makes the CAS that set this
        // `real` happen before our fence below, which the C11 proof needs;
        // under C++20 the two fences already order it.
        let head = shared.head.load(Ordering::Acquire);
        let (steal, real) = unpack(head);
        if steal != real {
            return None;
        }
        // SeqCst: pairs with the worker's fence in `pop` between its store of
        // `tail` and load of `head`; without it we and the worker could both
        // take the last item.
        fence(Ordering::SeqCst);
        // Acquire: pairs with the worker's Release stores of `tail`, making
        // the contents of the slots below it visible to us.
        let tail = shared.tail.load(Ordering::Acquire);
        Some((head, tail))
    }

    /// Claims the next position: CAS `head` from `current` to one step
    /// further, keeping `steal` so the worker does not reuse the slot yet.
    #[inline]
    fn claim_next(&self, current: u64) -> Option<u64> {
        let (steal, real) = unpack(current);
        let next = pack(steal, real.wrapping_add(1));
        // SeqCst: the thieves' side of the last-item race with `pop`.
        // Relaxed on failure: a lost race reads no slot.
        self.shared
            .head
            .compare_exchange(current, next, Ordering::SeqCst, Ordering::Relaxed)
            .ok()
            .map(|_| next)
    }

    /// Takes the oldest item.
    pub fn steal(&self) -> Steal<T> {
        let Some((head, tail)) = self.observe() else {
            return Steal::Retry;
        };
        let (_, real) = unpack(head);
        if distance(real, tail) <= 0 {
            return Steal::Empty;
        }
        let Some(claimed) = self.claim_next(head) else {
            return Steal::Retry;
        };
        // SAFETY: our CAS claimed `real`, which is below the `tail` we read
        // with Acquire, and the worker will not reuse the slot until we hand
        // it back.
        let value = unsafe { self.shared.read(real) };
        self.shared.release_claim(claimed);
        Steal::Success(value)
    }

    /// Takes about half of the items (rounding up, and no more than `dest`
    /// has room for plus one), moves all but the oldest into `dest` in their
    /// original order, and returns the oldest.
    ///
    /// `dest` is the calling thread's own worker; it may even be this
    /// stealer's own deque.
    pub fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
        // Computed first: only we push into `dest`, and its thieves can only
        // free more room, so everything we claim below will fit.
        let room = dest.free_room();
        let Some((head, tail)) = self.observe() else {
            return Steal::Retry;
        };
        let (_, start) = unpack(head);
        let available = distance(start, tail);
        if available <= 0 {
            return Steal::Empty;
        }
        let available = available as u32;
        let wanted = (available - available / 2).min(room + 1);
        let Some(mut claimed) = self.claim_next(head) else {
            return Steal::Retry;
        };
        let mut end = start.wrapping_add(1);
        while end.wrapping_sub(start) < wanted {
            // SeqCst: as in `observe`, each further claim needs its own fence
            // between our last CAS on `head` and the read of `tail`.
            fence(Ordering::SeqCst);
            // Acquire: as in `observe`.
            let tail = self.shared.tail.load(Ordering::Acquire);
            if distance(end, tail) <= 0 {
                break;
            }
            // A failure means the worker popped the next item: stop there.
            match self.claim_next(claimed) {
                Some(next) => claimed = next,
                None => break,
            }
            end = end.wrapping_add(1);
        }

        // SAFETY: our CAS claimed `start`, below a `tail` read with Acquire;
        // the slot stays ours until the hand-back below.
        let first = unsafe { self.shared.read(start) };
        let dest_shared = dest.shared();
        // Relaxed: we are `dest`'s owner (`&Worker` is only ever on its
        // owner's thread), so this reads our own last store.
        let dest_tail = dest_shared.tail.load(Ordering::Relaxed);
        let mut pos = start.wrapping_add(1);
        let mut dest_pos = dest_tail;
        while pos != end {
            // SAFETY: the read is of a position our CASes above claimed, each
            // below a `tail` read with Acquire and not reused until the
            // hand-back; the write is to `dest`, which we own, and at most
            // `room` items go in, room measured against `dest`'s `steal` head.
            unsafe { dest_shared.write(dest_pos, self.shared.read(pos)) };
            pos = pos.wrapping_add(1);
            dest_pos = dest_pos.wrapping_add(1);
        }
        self.shared.release_claim(claimed);
        if dest_pos != dest_tail {
            // Release: publishes the moved items to `dest`'s thieves.
            dest_shared.tail.store(dest_pos, Ordering::Release);
        }
        Steal::Success(first)
    }

    /// Number of items in the deque (a snapshot; it may change at once).
    pub fn len(&self) -> usize {
        self.shared.len()
    }

    /// Whether the deque holds no item (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for Stealer<T> {
    fn clone(&self) -> Self {
        Self::new(self.shared.clone())
    }
}

impl<T> fmt::Debug for Stealer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stealer").field("len", &self.len()).finish()
    }
}
