//! Bounded multi-producer multi-consumer channels.
//!
//! [`bounded`] makes a channel that holds at most `capacity` values, returning
//! a [`Sender`] and a [`Receiver`]. Both can be cloned and shared between
//! threads; each value sent is received exactly once, by one receiver, in the
//! order the sends completed.
//!
//! - **Blocking**: [`Sender::send`] waits while the channel is full and
//!   [`Receiver::recv`] while it is empty. A waiting thread spins briefly, then
//!   yields, then parks; it is woken as soon as its operation can go ahead, and
//!   never burns CPU while parked. When nobody waits, a send or receive takes
//!   no lock and makes no syscall. A sender that found the channel full
//!   retries, while it spins, only once a quarter of the capacity is free, so
//!   that a producer faster than its consumer fills the channel in stretches
//!   instead of fighting the consumer for each slot's cache line; after the
//!   spinning any free slot will do.
//! - **Non-blocking and timed**: `try_send`/`try_recv`, `send_timeout`/
//!   `recv_timeout` and `send_deadline`/`recv_deadline`. A send that fails
//!   always hands its value back inside the error.
//! - **Disconnection**: once every receiver is gone, sends fail (handing the
//!   value back) and the values left in the channel are dropped. Once every
//!   sender is gone, receivers still get the values left, then a
//!   disconnection error. Every value is dropped exactly once.
//! - **Capacity**: at least 1. A capacity of 0 (a rendezvous channel in some
//!   libraries) is refused with [`CapacityError::Zero`], as is one larger than
//!   [`crate::queue::MAX_CAPACITY`]; [`bounded`] never panics.
//!
//! ```
//! use weftpool::channel;
//!
//! let (tx, rx) = channel::bounded(16)?;
//! let producers: Vec<_> = (0..4)
//!     .map(|p| {
//!         let tx = tx.clone();
//!         std::thread::spawn(move || {
//!             for i in 0..100 {
//!                 tx.send(p * 100 + i).unwrap();
//!             }
//!         })
//!     })
//!     .collect();
//! drop(tx); // the iterator below ends when the producers' clones are gone
//! let mut received: Vec<i32> = rx.iter().collect();
//! for p in producers {
//!     p.join().unwrap();
//! }
//! received.sort_unstable();
//! assert_eq!(received, (0..400).collect::<Vec<_>>());
//! # Ok::<(), weftpool::CapacityError>(())
//! ```
//!
//! Values travel through a lock-free [`Ring`](crate::queue::Ring); only a
//! thread that has to wait takes a lock, to put itself on a wait list.

mod backoff;
mod iter;
mod receiver;
mod sender;
mod shared;
mod waiters;

#[cfg(all(test, not(loom)))]
mod tests;

pub use crate::error::{
    CapacityError, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError,
    TrySendError,
};
pub use iter::{IntoIter, Iter, TryIter};
pub use receiver::Receiver;
pub use sender::Sender;

use crate::sync::Arc;

use shared::Shared;

/// Creates a channel that holds at most `capacity` values.
///
/// Fails with [`CapacityError::Zero`] for a capacity of 0 and with
/// [`CapacityError::TooLarge`] above [`crate::queue::MAX_CAPACITY`].
///
/// ```
/// use weftpool::channel::{bounded, CapacityError};
///
/// let (tx, rx) = bounded(2)?;
/// tx.send('a')?;
/// assert_eq!(rx.recv()?, 'a');
/// assert_eq!(bounded::<char>(0).unwrap_err(), CapacityError::Zero);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn bounded<T>(capacity: usize) -> Result<(Sender<T>, Receiver<T>), CapacityError> {
    let shared = Arc::new(Shared::new(capacity)?);
    Ok((Sender::new(shared.clone()), Receiver::new(shared)))
}
