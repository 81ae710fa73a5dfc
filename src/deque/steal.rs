//! What a steal attempt found.

/// The outcome of [`Stealer::steal`](super::Stealer::steal) and
/// [`Stealer::steal_batch_and_pop`](super::Stealer::steal_batch_and_pop).
///
/// ```
/// use weftpool::deque::Steal;
///
/// assert_eq!(Steal::Success(7).success(), Some(7));
/// assert!(Steal::<u8>::Empty.is_empty());
/// assert!(Steal::<u8>::Retry.is_retry());
/// ```
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Steal<T> {
    /// The deque held no item.
    Empty,
    /// An item was taken.
    Success(T),
    /// Another thread got in the way (a competing thief, or the owner taking
    /// the last item); the deque may still hold items, so trying again is
    /// worthwhile.
    Retry,
}

impl<T> Steal<T> {
    /// Whether the deque was found empty.
    pub fn is_empty(&self) -> bool {
        matches!(self, Steal::Empty)
    }

    /// Whether an item was taken.
    pub fn is_success(&self) -> bool {
        matches!(self, Steal::Success(_))
    }

    /// Whether the attempt lost a race and may be repeated.
    pub fn is_retry(&self) -> bool {
        matches!(self, Steal::Retry)
    }

    /// The item taken, if any.
    pub fn success(self) -> Option<T> {
        match self {
            Steal::Success(value) => Some(value),
            Steal::Empty | Steal::Retry => None,
        }
    }

    /// Keeps a success; otherwise tries `f`, and reports [`Steal::Retry`] if
    /// either attempt asked for one and neither succeeded.
    ///
    /// Useful to scan several victims in one pass:
    ///
    /// ```
    /// use weftpool::deque::Steal;
    ///
    /// assert_eq!(Steal::Empty.or_else(|| Steal::Success(1)), Steal::Success(1));
    /// assert_eq!(Steal::<u8>::Retry.or_else(|| Steal::Empty), Steal::Retry);
    /// assert_eq!(Steal::<u8>::Empty.or_else(|| Steal::Empty), Steal::Empty);
    /// ```
    pub fn or_else(self, f: impl FnOnce() -> Steal<T>) -> Steal<T> {
        match self {
            Steal::Success(_) => self,
            Steal::Empty => f(),
            Steal::Retry => match f() {
                Steal::Empty => Steal::Retry,
                other => other,
            },
        }
    }
}
