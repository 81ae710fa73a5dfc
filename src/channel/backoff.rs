//! How long a channel operation keeps trying before it parks.
//!
//! Parking costs two syscalls (park and the waker's unpark), so a blocked
//! operation first spins a little (the other side is often mid-operation on
//! another core), then yields its time slice a few times (the other side may
//! be waiting for this core), and only then parks.

use crate::sync::{spin_loop, thread};

/// Rounds of spinning, each twice as long as the one before.
#[cfg(not(loom))]
const SPIN_ROUNDS: u32 = 6;
/// Rounds of yielding after the spinning.
#[cfg(not(loom))]
const YIELD_ROUNDS: u32 = 4;

// Under loom every spin is a yield and every yield multiplies the interleavings
// to explore; one round each keeps the code path covered and the models small.
#[cfg(loom)]
const SPIN_ROUNDS: u32 = 1;
#[cfg(loom)]
const YIELD_ROUNDS: u32 = 0;

/// A bounded spin-then-yield schedule.
pub(super) struct Backoff {
    round: u32,
}

impl Backoff {
    pub(super) fn new() -> Self {
        Self { round: 0 }
    }

    /// Busy-waits briefly; for waits that end as soon as another thread
    /// finishes an operation it is already inside.
    pub(super) fn spin(&mut self) {
        for _ in 0..1u32 << self.round.min(SPIN_ROUNDS) {
            spin_loop();
        }
        self.round += 1;
    }

    /// Whether [`Backoff::spin`] has run its course.
    pub(super) fn spun_out(&self) -> bool {
        self.round >= SPIN_ROUNDS
    }

    /// Spins, or once spinning has run its course, yields the time slice.
    pub(super) fn snooze(&mut self) {
        if self.round < SPIN_ROUNDS {
            self.spin();
        } else {
            thread::yield_now();
            self.round += 1;
        }
    }

    /// Whether it is time to park.
    pub(super) fn is_done(&self) -> bool {
        self.round >= SPIN_ROUNDS + YIELD_ROUNDS
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn spins_then_yields_then_is_done() {
        let mut backoff = Backoff::new();
        let mut rounds = 0;
        while !backoff.is_done() {
            assert_eq!(backoff.spun_out(), rounds >= SPIN_ROUNDS);
            backoff.snooze();
            rounds += 1;
        }
        assert_eq!(rounds, SPIN_ROUNDS + YIELD_ROUNDS);
    }
}
