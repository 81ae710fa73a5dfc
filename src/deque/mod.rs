//! Bounded Chase-Lev work-stealing deque.
//!
//! One [`Worker`] owns the deque: it pushes and pops at the *bottom* (LIFO,
//! hot in cache). Any number of [`Stealer`]s take from the *top* (FIFO, the
//! oldest and usually biggest pieces of work). The buffer is allocated once by
//! [`new`] and never grows, so nothing is allocated afterwards and no memory
//! reclamation is needed.
//!
//! ```
//! use weftpool::deque::{self, Steal};
//!
//! let (worker, stealer) = deque::new(4).unwrap();
//! worker.push(1).unwrap();
//! worker.push(2).unwrap();
//! worker.push(3).unwrap();
//! assert_eq!(stealer.steal(), Steal::Success(1)); // oldest from the top
//! assert_eq!(worker.pop(), Some(3)); // newest from the bottom
//! assert_eq!(worker.len(), 1);
//! ```
//!
//! # The protocol
//!
//! Positions are `u32` counters compared by wrapping difference; slot
//! `pos & (capacity - 1)` holds position `pos`. Two words are shared:
//!
//! * `tail`: the next position the owner pushes to. Only the owner writes it.
//! * `head`: two positions packed into one `u64`, so thieves change both with
//!   one CAS:
//!   - `real`: the oldest position not yet claimed. Items live in
//!     `real..tail`.
//!   - `steal`: the oldest position whose slot may still be read by a thief.
//!     It equals `real` except while one thief is copying its claimed items
//!     `steal..real` out of their slots.
//!
//! The owner pops exactly as in the C11 Chase-Lev deque of Lê, Pop, Cohen and
//! Zappa Nardelli (PPoPP 2013): lower `tail`, a `SeqCst` fence, read `real`;
//! only when one item is left does it race the thieves with a CAS on `head`.
//! A thief claims one position at a time as in that paper (read `head`, a
//! `SeqCst` fence, read `tail`, CAS `real` one step forward), so the same
//! store-fence-load argument keeps the owner and a thief from both taking an
//! item.
//!
//! # Why a second head
//!
//! The classic thief reads the slot *before* its CAS on the top index and
//! discards the copy if the CAS fails. With a fixed ring that read can race a
//! write: once other thieves have moved the top on, the owner sees free room
//! and reuses that very slot while the slow thief is still reading it. That is
//! a data race on non-atomic memory, undefined behaviour for a generic `T`.
//!
//! Here a thief reads a slot only *after* its CAS has claimed the position,
//! and the owner measures free room against `steal`, not `real`: a claimed
//! slot is not reused until the thief has copied its item out and handed the
//! slot back by setting `steal = real` (a `Release` CAS that the owner's
//! `Acquire` load of `head` in `push` pairs with). So a slot is never read
//! while it may be written. The cost falls on thieves only: while one thief is
//! copying, others get [`Steal::Retry`], and a steal takes a second CAS. The
//! owner's `push` and `pop` stay as cheap as the classic ones.
//!
//! The owner may still pop the last item while a thief is copying older ones;
//! its CAS then moves only `real`, and the thief's hand-back sets `steal` to
//! whatever `real` has become.
//!
//! # Batches
//!
//! [`Stealer::steal_batch_and_pop`] claims up to half of the items, one
//! position per CAS with a fresh fence and read of `tail` before each, because
//! a single CAS over several positions could include an item the owner is
//! popping without a CAS at that moment. It copies them all out under one
//! claim and hands the slots back once.
//!
//! The owner itself may take its oldest items the same way
//! ([`Worker::take_oldest`]), with one CAS for the whole batch: the only
//! taker that does not CAS is the owner, and it is not popping meanwhile.
//! The claim keeps `steal` in place until the items are out, so the owner
//! may push while it handles them without overwriting a slot not yet read.
//!
//! # Dropping
//!
//! The buffer is shared by the worker and its stealers; when the last handle
//! goes, the items still in it are dropped, each exactly once.
//!
//! # Verification
//!
//! The loom models in `loom-tests/tests/deque.rs` race the owner against one
//! or two thieves (pop against steal, batches against pop, a capacity-2 ring
//! refilled while thieves copy out of it, batches into a deque that is itself
//! being robbed, the owner's batch take racing a thief, drops). They fail,
//! by a lost or duplicated item or a slot read while written, when a fence,
//! a Release/Acquire pair on `tail`, the hand-back pair on `head`, a room
//! check, or the owner's batch claim (a plain store instead of the CAS) is
//! weakened.

mod shared;
mod steal;
mod stealer;
mod worker;

#[cfg(all(test, not(loom)))]
mod tests;

pub use steal::Steal;
pub use stealer::Stealer;
pub use worker::Worker;

use crate::error::CapacityError;
use crate::sync::Arc;
use shared::Shared;

/// The largest capacity accepted: `u32` positions compared by signed
/// difference need the capacity well below 2^31.
pub const MAX_CAPACITY: usize = 1 << 30;

/// Creates a deque holding at most `capacity` items and returns its owner
/// handle and a first stealer (more come from [`Worker::stealer`] or
/// [`Stealer::clone`]).
///
/// `capacity` must be a power of two from 1 to [`MAX_CAPACITY`]; the whole
/// buffer is allocated here and never again.
///
/// ```
/// use weftpool::deque;
/// use weftpool::CapacityError;
///
/// assert!(deque::new::<u64>(256).is_ok());
/// assert_eq!(deque::new::<u64>(0).unwrap_err(), CapacityError::Zero);
/// assert_eq!(deque::new::<u64>(3).unwrap_err(), CapacityError::NotPowerOfTwo(3));
/// ```
pub fn new<T>(capacity: usize) -> Result<(Worker<T>, Stealer<T>), CapacityError> {
    CapacityError::check(capacity, MAX_CAPACITY)?;
    if !capacity.is_power_of_two() {
        return Err(CapacityError::NotPowerOfTwo(capacity));
    }
    Ok(with_positions_from(capacity, 0))
}

/// Builds a deque with a checked capacity whose positions begin at `start`.
fn with_positions_from<T>(capacity: usize, start: u32) -> (Worker<T>, Stealer<T>) {
    let shared = Arc::new(Shared::with_capacity(capacity, start));
    let stealer = Stealer::new(shared.clone());
    (Worker::new(shared), stealer)
}
