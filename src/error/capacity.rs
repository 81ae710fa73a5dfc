use thiserror::Error;

/// A bounded structure was asked for a capacity it cannot have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CapacityError {
    /// Zero slots were requested; every bounded structure here needs at least one.
    #[error("capacity must be at least 1, got 0")]
    Zero,
    /// The structure needs a power of two (the deque indexes with a mask).
    #[error("capacity must be a power of two, got {0}")]
    NotPowerOfTwo(usize),
    /// The capacity is larger than the structure can index.
    #[error("capacity {requested} exceeds the maximum of {max}")]
    TooLarge {
        /// What was asked for.
        requested: usize,
        /// The largest capacity accepted.
        max: usize,
    },
}

impl CapacityError {
    /// Accepts `capacity` if it is between 1 and `max`.
    pub(crate) fn check(capacity: usize, max: usize) -> Result<(), Self> {
        match capacity {
            0 => Err(Self::Zero),
            c if c > max => Err(Self::TooLarge { requested: c, max }),
            _ => Ok(()),
        }
    }
}
