//! The owner's handle: push and pop at the bottom.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use super::shared::{distance, pack, unpack, Shared};
use super::Stealer;
use crate::sync::{fence, Arc, Ordering};

/// The owner's end of a deque: pushes and pops at the bottom, LIFO.
///
/// It can be sent to another thread but not shared: only one thread at a time
/// pushes and pops.
///
/// ```
/// let (worker, _stealer) = weftpool::deque::new(2).unwrap();
/// worker.push('a').unwrap();
/// worker.push('b').unwrap();
/// assert_eq!(worker.push('c'), Err('c')); // full: the value comes back
/// assert_eq!(worker.pop(), Some('b'));
/// assert_eq!(worker.pop(), Some('a'));
/// assert_eq!(worker.pop(), None);
/// ```
pub struct Worker<T> {
    shared: Arc<Shared<T>>,
    /// `Cell` is `Send` but not `Sync`: the owner protocol assumes one thread.
    _not_sync: PhantomData<Cell<()>>,
}

impl<T> Worker<T> {
    pub(super) fn new(shared: Arc<Shared<T>>) -> Self {
        Self {
            shared,
            _not_sync: PhantomData,
        }
    }

    pub(super) fn shared(&self) -> &Shared<T> {
        &self.shared
    }

    /// Slots `push` can fill right now; slots a thief (or the owner's
    /// [`take_oldest`](Self::take_oldest)) is still copying from do not count
    /// as free. Unlike `capacity() - len()`, which counts claimed slots as
    /// free as soon as they are claimed.
    pub(crate) fn free_room(&self) -> u32 {
        let shared = &*self.shared;
        // Relaxed: only this handle writes `tail`.
        let tail = shared.tail.load(Ordering::Relaxed);
        // Acquire: pairs with a thief's Release hand-back of its claim, so its
        // reads of those slots happen before we write them.
        let (steal, _) = unpack(shared.head.load(Ordering::Acquire));
        shared.capacity() - tail.wrapping_sub(steal)
    }

    /// Pushes `value` at the bottom, or hands it back when the deque is full.
    #[inline]
    pub fn push(&self, value: T) -> Result<(), T> {
        let shared = &*self.shared;
        // Relaxed: only this handle writes `tail`, so it reads its own store.
        let tail = shared.tail.load(Ordering::Relaxed);
        // Acquire: pairs with a thief's Release hand-back of its claim, so its
        // copy out of a slot happens before we overwrite that slot.
        let (steal, _) = unpack(shared.head.load(Ordering::Acquire));
        if tail.wrapping_sub(steal) >= shared.capacity() {
            return Err(value);
        }
        // SAFETY: we are the worker, and `tail - steal < capacity` means the
        // slot of `tail` is neither holding an item nor being read by a thief.
        unsafe { shared.write(tail, value) };
        // Release: publishes the slot's contents to thieves that Acquire-load
        // `tail`.
        shared.tail.store(tail.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Pops the most recently pushed item, or `None` when the deque is empty
    /// (or thieves took the last item first).
    #[inline]
    pub fn pop(&self) -> Option<T> {
        let shared = &*self.shared;
        // Relaxed: only this handle writes `tail`.
        let tail = shared.tail.load(Ordering::Relaxed);
        // Relaxed: a quick empty check. A stale `real` is only ever smaller
        // and sends us down the full path; `real == tail` means empty for sure.
        let (_, real) = unpack(shared.head.load(Ordering::Relaxed));
        if real == tail {
            return None;
        }
        let bottom = tail.wrapping_sub(1);
        // Release: a thief that reads this value may claim items below it, and
        // must see their slots' contents (later plain stores of ours do not
        // extend the Release of the `push` that published them).
        shared.tail.store(bottom, Ordering::Release);
        // SeqCst: orders the store above before the load of `head` below,
        // against the thieves' fence between their loads of `head` and `tail`.
        // Without it we and a thief could both take the item at `bottom`.
        fence(Ordering::SeqCst);
        // Relaxed: the fence orders it; the slot we read is one we wrote.
        let mut head = shared.head.load(Ordering::Relaxed);
        match distance(unpack(head).1, bottom) {
            n if n > 0 => {
                // Items remain above ours, so no thief can reach `bottom`.
                // SAFETY: we wrote this slot and the protocol gives it to us.
                return Some(unsafe { shared.read(bottom) });
            }
            n if n < 0 => {
                // Thieves emptied the deque meanwhile: `real == tail`.
                // Relaxed: the deque is empty at this value, so no thief reads
                // a slot on the strength of it.
                shared.tail.store(tail, Ordering::Relaxed);
                return None;
            }
            _ => {}
        }
        // One item left: race the thieves for it on `head`.
        let won = loop {
            let (steal, real) = unpack(head);
            if real != bottom {
                break false; // a thief claimed it
            }
            // Keep `steal` while a thief is still copying older items out.
            let next_steal = if steal == real {
                real.wrapping_add(1)
            } else {
                steal
            };
            // SeqCst: the owner's side of the last-item race (as in the paper).
            // Relaxed on failure: we look at the new head and decide again
            // (it may only be a thief handing back an older claim).
            match shared.head.compare_exchange(
                head,
                pack(next_steal, real.wrapping_add(1)),
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => break true,
                Err(actual) => head = actual,
            }
        };
        // Relaxed: either way the item is gone and `real == tail`: empty.
        shared.tail.store(tail, Ordering::Relaxed);
        // SAFETY: our CAS claimed `bottom`, which we wrote ourselves.
        won.then(|| unsafe { shared.read(bottom) })
    }

    /// Takes up to `max` of the oldest items from the top, as a thief would,
    /// and passes them to `sink` oldest first; returns how many. Gives up
    /// (returning 0) while a thief holds a claim.
    ///
    /// One claim covers the whole batch, where a thief must claim item by
    /// item: the owner is the only taker that does not CAS `head`, and while
    /// it is in here it is not popping. The slots stay claimed until `sink`
    /// has had every item (thieves get [`Steal::Retry`](super::Steal::Retry)
    /// meanwhile, and pushes see the claimed slots as taken), so `sink` should
    /// be short. If `sink` panics, the items it has not had yet are dropped
    /// and the claim is handed back.
    ///
    /// ```
    /// let (worker, _stealer) = weftpool::deque::new(8).unwrap();
    /// for i in 0..5 {
    ///     worker.push(i).unwrap();
    /// }
    /// let mut old = Vec::new();
    /// assert_eq!(worker.take_oldest(3, |i| old.push(i)), 3);
    /// assert_eq!(old, [0, 1, 2]);
    /// assert_eq!(worker.pop(), Some(4));
    /// ```
    pub fn take_oldest(&self, max: usize, mut sink: impl FnMut(T)) -> usize {
        let shared = &*self.shared;
        // Relaxed: only this handle writes `tail`.
        let tail = shared.tail.load(Ordering::Relaxed);
        // Relaxed: the CAS below fails on any other value, and the slots we
        // read are ones this thread wrote; nothing else is published to us.
        let head = shared.head.load(Ordering::Relaxed);
        let (steal, real) = unpack(head);
        let available = distance(real, tail);
        if steal != real || available <= 0 || max == 0 {
            return 0;
        }
        let count = (available as u32).min(u32::try_from(max).unwrap_or(u32::MAX));
        let end = real.wrapping_add(count);
        // Relaxed: the CAS only has to be atomic against the thieves' CASes
        // on `head` (no thief reads a slot below `end` after it), and it
        // publishes nothing; `steal` stays put, so neither our own pushes nor
        // a thief touch the claimed slots until the hand-back below.
        let claimed = pack(steal, end);
        if shared
            .head
            .compare_exchange(head, claimed, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return 0;
        }
        let mut claim = OwnClaim {
            shared,
            claimed,
            next: real,
            end,
        };
        while let Some(item) = claim.next_item() {
            sink(item);
        }
        count as usize
    }

    /// Number of items in the deque.
    pub fn len(&self) -> usize {
        // Relaxed on both: a count that publishes and consumes nothing.
        let tail = self.shared.tail.load(Ordering::Relaxed);
        let (_, real) = unpack(self.shared.head.load(Ordering::Relaxed));
        distance(real, tail).max(0) as usize
    }

    /// Whether the deque holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most items the deque can hold.
    pub fn capacity(&self) -> usize {
        self.shared.capacity() as usize
    }

    /// A new stealer of this deque.
    pub fn stealer(&self) -> Stealer<T> {
        Stealer::new(self.shared.clone())
    }
}

/// The owner's claim of `next..end` (see [`Worker::take_oldest`]): hands
/// the items out one by one and, when dropped, drops whatever was not handed
/// out and hands the slots back, also when the consumer panicked.
struct OwnClaim<'a, T> {
    shared: &'a Shared<T>,
    /// The head written by the claiming CAS.
    claimed: u64,
    next: u32,
    end: u32,
}

impl<T> OwnClaim<'_, T> {
    fn next_item(&mut self) -> Option<T> {
        if self.next == self.end {
            return None;
        }
        let pos = self.next;
        self.next = pos.wrapping_add(1);
        // SAFETY: `pos` lies in the claimed range, below the owner's `tail`:
        // it holds an item the owner pushed, ours alone until the hand-back
        // in `drop`, and `next` has moved past it, so it is read only once.
        Some(unsafe { self.shared.read(pos) })
    }
}

impl<T> Drop for OwnClaim<'_, T> {
    fn drop(&mut self) {
        // Loom's cell tracking cannot run while a failed model unwinds; leaking
        // there keeps the model's own failure the one reported.
        #[cfg(loom)]
        if crate::sync::thread::panicking() {
            return;
        }
        while let Some(item) = self.next_item() {
            drop(item);
        }
        self.shared.release_claim(self.claimed);
    }
}

impl<T> fmt::Debug for Worker<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}
