//! The sending handle.

use std::fmt;
use std::time::{Duration, Instant};

use crate::error::{SendError, SendTimeoutError, TrySendError};
use crate::sync::Arc;

use super::shared::Shared;

/// The sending side of a [`bounded`](super::bounded) channel.
///
/// Cloning makes another sender of the same channel. When the last sender is
/// dropped the channel disconnects: receivers drain what is left, then get a
/// disconnection error.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    pub(super) fn new(shared: Arc<Shared<T>>) -> Self {
        Self { shared }
    }

    /// Sends `value`, waiting while the channel is full.
    ///
    /// Fails, handing `value` back, once every receiver is gone.
    ///
    /// ```
    /// let (tx, rx) = weftpool::channel::bounded(1)?;
    /// tx.send("hello")?;
    /// drop(rx);
    /// assert_eq!(tx.send("again").unwrap_err().into_inner(), "again");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.shared
            .send_until(value, None)
            .map_err(|err| SendError(err.into_inner()))
    }

    /// Sends `value` if there is room now; otherwise hands it back.
    ///
    /// ```
    /// use weftpool::channel::{bounded, TrySendError};
    ///
    /// let (tx, _rx) = bounded(1)?;
    /// tx.try_send(1)?;
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.shared.try_send(value)
    }

    /// Sends `value`, waiting at most `timeout` for room; hands it back on
    /// timeout or disconnection.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weftpool::channel::{bounded, SendTimeoutError};
    ///
    /// let (tx, _rx) = bounded(1)?;
    /// tx.send(1)?;
    /// let err = tx.send_timeout(2, Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(err, SendTimeoutError::Timeout(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        // A timeout too long to represent is no timeout at all.
        self.shared
            .send_until(value, Instant::now().checked_add(timeout))
    }

    /// Sends `value`, waiting for room until `deadline`; hands it back on
    /// timeout or disconnection.
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.shared.send_until(value, Some(deadline))
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

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.add_sender();
        Self::new(self.shared.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.remove_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}
