//! Errors of the bounded channel ([`crate::channel`]).
//!
//! They mirror crossbeam-channel's: every error of a send carries the value
//! back, so nothing is dropped behind the caller's back. `Debug` never needs
//! `T: Debug` and `Display` never needs `T: Display`, so `unwrap()` and `?` work
//! for any message type.

use std::fmt;

use thiserror::Error;

/// [`Sender::send`](crate::channel::Sender::send) failed because every
/// receiver is gone; the value comes back inside.
#[derive(PartialEq, Eq, Clone, Copy, Error)]
#[error("sending on a disconnected channel")]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The value that could not be sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

/// [`Sender::try_send`](crate::channel::Sender::try_send) could not send now;
/// the value comes back inside.
#[derive(PartialEq, Eq, Clone, Copy, Error)]
pub enum TrySendError<T> {
    /// The channel is full.
    #[error("sending on a full channel")]
    Full(T),
    /// Every receiver is gone.
    #[error("sending on a disconnected channel")]
    Disconnected(T),
}

impl<T> TrySendError<T> {
    /// The value that could not be sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(value) | Self::Disconnected(value) => value,
        }
    }

    /// Whether the send failed because the channel was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the send failed because every receiver is gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Self::Disconnected(_))
    }
}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(err: SendError<T>) -> Self {
        Self::Disconnected(err.0)
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

/// [`Sender::send_timeout`](crate::channel::Sender::send_timeout) (or
/// `send_deadline`) could not send in time; the value comes back inside.
#[derive(PartialEq, Eq, Clone, Copy, Error)]
pub enum SendTimeoutError<T> {
    /// The channel stayed full until the deadline.
    #[error("timed out waiting on send operation")]
    Timeout(T),
    /// Every receiver is gone.
    #[error("sending on a disconnected channel")]
    Disconnected(T),
}

impl<T> SendTimeoutError<T> {
    /// The value that could not be sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::Timeout(value) | Self::Disconnected(value) => value,
        }
    }

    /// Whether the send failed because the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }

    /// Whether the send failed because every receiver is gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Self::Disconnected(_))
    }
}

impl<T> From<SendError<T>> for SendTimeoutError<T> {
    fn from(err: SendError<T>) -> Self {
        Self::Disconnected(err.0)
    }
}

impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(_) => f.write_str("Timeout(..)"),
            Self::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

/// [`Receiver::recv`](crate::channel::Receiver::recv) failed because the
/// channel is empty and every sender is gone.
#[derive(PartialEq, Eq, Clone, Copy, Debug, Error)]
#[error("receiving on an empty and disconnected channel")]
pub struct RecvError;

/// [`Receiver::try_recv`](crate::channel::Receiver::try_recv) found nothing to
/// receive.
#[derive(PartialEq, Eq, Clone, Copy, Debug, Error)]
pub enum TryRecvError {
    /// The channel is empty, but senders remain.
    #[error("receiving on an empty channel")]
    Empty,
    /// The channel is empty and every sender is gone.
    #[error("receiving on an empty and disconnected channel")]
    Disconnected,
}

impl TryRecvError {
    /// Whether the channel was merely empty.
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }

    /// Whether the channel was empty and every sender gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Self::Disconnected)
    }
}

impl From<RecvError> for TryRecvError {
    fn from(_: RecvError) -> Self {
        Self::Disconnected
    }
}

/// [`Receiver::recv_timeout`](crate::channel::Receiver::recv_timeout) (or
/// `recv_deadline`) received nothing in time.
#[derive(PartialEq, Eq, Clone, Copy, Debug, Error)]
pub enum RecvTimeoutError {
    /// The channel stayed empty until the deadline.
    #[error("timed out waiting on receive operation")]
    Timeout,
    /// The channel is empty and every sender is gone.
    #[error("receiving on an empty and disconnected channel")]
    Disconnected,
}

impl RecvTimeoutError {
    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout)
    }

    /// Whether the channel was empty and every sender gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Self::Disconnected)
    }
}

impl From<RecvError> for RecvTimeoutError {
    fn from(_: RecvError) -> Self {
        Self::Disconnected
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A message type with neither `Debug` nor `Display`.
    #[derive(PartialEq, Eq)]
    struct Opaque(u8);

    #[test]
    fn messages_match_crossbeam_and_need_no_bounds_on_t() {
        assert_eq!(
            SendError(Opaque(1)).to_string(),
            "sending on a disconnected channel"
        );
        assert_eq!(
            TrySendError::Full(Opaque(1)).to_string(),
            "sending on a full channel"
        );
        assert_eq!(
            SendTimeoutError::Timeout(Opaque(1)).to_string(),
            "timed out waiting on send operation"
        );
        assert_eq!(format!("{:?}", TrySendError::Full(Opaque(1))), "Full(..)");
        assert_eq!(
            TryRecvError::Empty.to_string(),
            "receiving on an empty channel"
        );
        assert_eq!(
            RecvTimeoutError::Disconnected.to_string(),
            "receiving on an empty and disconnected channel"
        );
    }

    #[test]
    fn values_come_back() {
        assert!(SendError(Opaque(1)).into_inner() == Opaque(1));
        assert!(TrySendError::Disconnected(Opaque(2)).into_inner() == Opaque(2));
        assert!(SendTimeoutError::Timeout(Opaque(3)).into_inner() == Opaque(3));
        let err: TrySendError<u8> = SendError(4).into();
        assert!(err.is_disconnected() && !err.is_full());
        let err: SendTimeoutError<u8> = SendError(5).into();
        assert!(err.is_disconnected() && !err.is_timeout());
    }

    #[test]
    fn usable_as_boxed_std_errors() {
        fn boxed(
            err: impl std::error::Error + Send + Sync + 'static,
        ) -> Box<dyn std::error::Error> {
            Box::new(err)
        }
        assert!(boxed(SendError(Opaque(1)))
            .to_string()
            .contains("disconnected"));
        assert!(boxed(RecvError).to_string().contains("disconnected"));
        let err: TryRecvError = RecvError.into();
        assert!(err.is_disconnected());
        let err: RecvTimeoutError = RecvError.into();
        assert!(err.is_disconnected() && !err.is_timeout());
    }
}
