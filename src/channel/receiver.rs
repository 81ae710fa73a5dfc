//! The receiving handle.

use std::fmt;
use std::time::{Duration, Instant};

use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::sync::Arc;

use super::iter::{IntoIter, Iter, TryIter};
use super::shared::Shared;

/// The receiving side of a [`bounded`](super::bounded) channel.
///
/// Cloning makes another receiver of the same channel; each value goes to
/// exactly one receiver. When the last receiver is dropped the channel
/// disconnects: sends fail and hand their value back, and the values still in
/// the channel are dropped.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    pub(super) fn new(shared: Arc<Shared<T>>) -> Self {
        Self { shared }
    }

    /// Receives a value, waiting while the channel is empty.
    ///
    /// Once every sender is gone, the values left are still delivered; after
    /// them this fails with [`RecvError`].
    ///
    /// ```
    /// use weftpool::channel::{bounded, RecvError};
    ///
    /// let (tx, rx) = bounded(4)?;
    /// tx.send(7)?;
    /// drop(tx);
    /// assert_eq!(rx.recv(), Ok(7));
    /// assert_eq!(rx.recv(), Err(RecvError));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        self.shared.recv_until(None).map_err(|_| RecvError)
    }

    /// Receives a value if one is there now.
    ///
    /// ```
    /// use weftpool::channel::{bounded, TryRecvError};
    ///
    /// let (tx, rx) = bounded::<u8>(4)?;
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.shared.try_recv()
    }

    /// Receives a value, waiting at most `timeout` for one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weftpool::channel::{bounded, RecvTimeoutError};
    ///
    /// let (_tx, rx) = bounded::<u8>(4)?;
    /// assert_eq!(
    ///     rx.recv_timeout(Duration::from_millis(1)),
    ///     Err(RecvTimeoutError::Timeout)
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        // A timeout too long to represent is no timeout at all.
        self.shared.recv_until(Instant::now().checked_add(timeout))
    }

    /// Receives a value, waiting for one until `deadline`.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.shared.recv_until(Some(deadline))
    }

    /// A blocking iterator: yields values until the channel is empty and
    /// every sender is gone.
    ///
    /// ```
    /// let (tx, rx) = weftpool::channel::bounded(8)?;
    /// std::thread::spawn(move || {
    ///     for i in 0..20 {
    ///         tx.send(i).unwrap();
    ///     }
    /// });
    /// assert_eq!(rx.iter().sum::<i32>(), 190);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter::new(self)
    }

    /// An iterator over the values there now; it never waits.
    ///
    /// ```
    /// let (tx, rx) = weftpool::channel::bounded(8)?;
    /// tx.send(1)?;
    /// tx.send(2)?;
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter::new(self)
    }

    /// How many values are in the channel (a snapshot).
    pub fn len(&self) -> usize {
        self.shared.len()
    }

    /// Whether the channel holds no values (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.shared.is_empty()
    }

    /// Whether the channel is at capacity (a snapshot).
    pub fn is_full(&self) -> bool {
        self.shared.is_full()
    }

    /// The most values the channel holds.
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.add_receiver();
        Self::new(self.shared.clone())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.remove_receiver();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter::new(self)
    }
}
