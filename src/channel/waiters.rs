//! A list of blocked threads waiting for one side of a channel, with a
//! lock-free "is anybody waiting?" check for the side that wakes them.
//!
//! The protocol is the classic store-buffering pair, closed with two SeqCst
//! fences:
//!
//! | waiter | waker |
//! | --- | --- |
//! | register: add itself, bump `count` | publish (push or pop on the ring) |
//! | `fence(SeqCst)` | `fence(SeqCst)` |
//! | re-check the ring, park if still no luck | read `count`; if non-zero, wake one |
//!
//! Whichever fence comes first in the single SeqCst order, the other side sees
//! the first side's write: either the waiter's re-check sees the publication,
//! or the waker sees the waiter registered. So a waiter never parks through a
//! publication it missed, and the waker pays only a fence and a load when
//! nobody waits.
//!
//! The channel's own wakers skip their fence: their publication is a ring
//! claim, a SeqCst CAS of the ring's `tail` (push) or `head` (pop), and they
//! read `count` with a SeqCst load. Either the waiter's fence follows that
//! claim in the SeqCst order, and its re-check, which reads `tail`/`head`,
//! sees the claim (the value may still be in flight: the waiter must then
//! not park, but retry), or the fence precedes the waker's load, which then
//! sees the registration ([`Waiters::wake_one_after_claim`]). This is what
//! makes a send cost no fence: the fence would wait for the slot's store to
//! reach a cache line the receiver holds.
//!
//! A waiter is woken by being taken off the list under the lock, so a waiter
//! that gives up (deadline) learns under the same lock whether a wake-up was
//! already spent on it, and can pass it on (see `Shared` in `shared.rs`).

use std::collections::VecDeque;
use std::time::Instant;

use crate::sync::{fence, Arc, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};

/// One blocked (or about to block) thread.
///
/// Each waiter sleeps on its own condition variable rather than in
/// `thread::park`: a wake-up then reaches exactly the thread it is meant for,
/// and a late one can never be mistaken by unrelated code for its own unpark.
struct Waiter {
    /// Set once a waker has taken this waiter off the list.
    woken: Mutex<bool>,
    bell: Condvar,
}

impl Waiter {
    fn wake(&self) {
        *lock(&self.woken) = true;
        self.bell.notify_one();
    }
}

/// Nothing panics while one of these locks is held, so a poisoned lock still
/// guards consistent data.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Proof of registration; hand it back to [`Waiters::wait`] or
/// [`Waiters::cancel`].
#[must_use = "a registration must end with `wait` or `cancel`"]
pub(super) struct Ticket(Arc<Waiter>);

/// Threads waiting for the same event ("a value arrived" or "room appeared").
pub(super) struct Waiters {
    /// How many waiters are on the list; read without the lock by wakers.
    count: AtomicUsize,
    /// FIFO, so the longest waiter is woken first.
    list: Mutex<VecDeque<Arc<Waiter>>>,
}

impl Waiters {
    pub(super) fn new() -> Self {
        Self {
            count: AtomicUsize::new(0),
            list: Mutex::new(VecDeque::new()),
        }
    }

    /// Puts the current thread on the list. The caller must re-check its
    /// condition after this returns and before [`Waiters::wait`].
    pub(super) fn register(&self) -> Ticket {
        let waiter = Arc::new(Waiter {
            woken: Mutex::new(false),
            bell: Condvar::new(),
        });
        {
            let mut list = lock(&self.list);
            list.push_back(waiter.clone());
            // Relaxed: the SeqCst fence below orders this store before the
            // caller's re-check; that fence is what wakers pair with.
            self.count.store(list.len(), Ordering::Relaxed);
        }
        fence(Ordering::SeqCst);
        Ticket(waiter)
    }

    /// Takes the current thread off the list without blocking. Returns
    /// whether a waker had already taken it off (a wake-up was spent on it).
    pub(super) fn cancel(&self, ticket: Ticket) -> bool {
        let mut list = lock(&self.list);
        match list.iter().position(|w| Arc::ptr_eq(w, &ticket.0)) {
            Some(index) => {
                list.remove(index);
                // Relaxed: a stale count only costs a waker a useless lock.
                self.count.store(list.len(), Ordering::Relaxed);
                false
            }
            None => true,
        }
    }

    /// Blocks until woken or until `deadline`. Returns whether a wake-up was
    /// spent on this thread (even one that raced with the deadline).
    pub(super) fn wait(&self, ticket: Ticket, deadline: Option<Instant>) -> bool {
        let waiter = &*ticket.0;
        // The waker sets the flag under this lock after publishing, so once we
        // see it we also see the publication.
        let mut woken = lock(&waiter.woken);
        while !*woken {
            woken = match deadline {
                None => waiter
                    .bell
                    .wait(woken)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        drop(woken);
                        return self.cancel(ticket);
                    }
                    waiter
                        .bell
                        .wait_timeout(woken, deadline - now)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
        }
        true
    }

    /// Like [`wake_one`](Self::wake_one), for a waker whose publication was
    /// a ring claim (a push's tail CAS, a pop's head CAS; both SeqCst). No
    /// fence: either the waiter's fence comes later in the SeqCst order, and
    /// its re-check reads the claimed `tail`/`head` (then it does not park,
    /// see `Shared`), or it comes earlier and this SeqCst load sees the
    /// registration. The fence in `wake_one` would make the waker wait for
    /// its slot store to leave the store buffer: a cross-core miss per send.
    #[inline]
    pub(super) fn wake_one_after_claim(&self) {
        if self.count.load(Ordering::SeqCst) != 0 {
            self.wake_one_slow();
        }
    }

    /// Wakes the longest waiter, if any. Call it right after publishing.
    #[inline]
    pub(super) fn wake_one(&self) {
        // Pairs with the fence in `register`: either that waiter's re-check
        // sees our publication, or we see its registration here.
        fence(Ordering::SeqCst);
        self.wake_one_after_claim();
    }

    #[cold]
    fn wake_one_slow(&self) {
        let waiter = {
            let mut list = lock(&self.list);
            let waiter = list.pop_front();
            // Relaxed: see `cancel`.
            self.count.store(list.len(), Ordering::Relaxed);
            waiter
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }

    /// Wakes every waiter (disconnection). Always takes the lock, so a thread
    /// that registers afterwards is ordered after the caller's earlier writes.
    pub(super) fn wake_all(&self) {
        let waiters = {
            let mut list = lock(&self.list);
            // Relaxed: see `cancel`.
            self.count.store(0, Ordering::Relaxed);
            std::mem::take(&mut *list)
        };
        for waiter in &waiters {
            waiter.wake();
        }
    }

    /// Whether any thread is registered (a snapshot, for tests).
    #[cfg(all(test, not(loom)))]
    pub(super) fn is_empty(&self) -> bool {
        self.count.load(Ordering::SeqCst) == 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wake_one_with_nobody_waiting_is_a_no_op() {
        let waiters = Waiters::new();
        waiters.wake_one();
        waiters.wake_all();
        assert!(waiters.is_empty());
    }

    #[test]
    fn cancel_reports_whether_a_wake_up_was_spent() {
        let waiters = Waiters::new();
        let ticket = waiters.register();
        assert!(!waiters.is_empty());
        assert!(!waiters.cancel(ticket));
        assert!(waiters.is_empty());

        let ticket = waiters.register();
        waiters.wake_one();
        assert!(waiters.is_empty());
        assert!(waiters.cancel(ticket));
    }

    #[test]
    fn wait_times_out_and_unregisters() {
        let waiters = Waiters::new();
        let ticket = waiters.register();
        let deadline = Instant::now() + Duration::from_millis(5);
        assert!(!waiters.wait(ticket, Some(deadline)));
        assert!(waiters.is_empty());
    }

    #[test]
    fn wakes_in_fifo_order() {
        let waiters = Waiters::new();
        let first = waiters.register();
        let second = waiters.register();
        waiters.wake_one();
        assert!(*lock(&first.0.woken));
        assert!(!*lock(&second.0.woken));
        assert!(waiters.wait(first, None));
        assert!(!waiters.cancel(second));
    }

    #[test]
    fn parked_thread_is_woken() {
        let waiters = std::sync::Arc::new(Waiters::new());
        let registered = std::sync::Arc::new(std::sync::Barrier::new(2));
        let (w, r) = (waiters.clone(), registered.clone());
        let parked = std::thread::spawn(move || {
            let ticket = w.register();
            r.wait();
            w.wait(ticket, None)
        });
        registered.wait();
        waiters.wake_one();
        assert!(parked.join().unwrap());
    }
}
