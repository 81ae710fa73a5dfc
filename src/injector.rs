//! Lock-free priority injectors: one bounded [`Ring`] per [`Priority`] level,
//! and the anti-starvation rule that picks the level a take serves.
//!
//! # The rule
//!
//! A take serves the highest non-empty level, except that a lower level which
//! has been passed over too often is served first. Every take from level `h`
//! adds one to the "passed" count of each *non-empty* level below `h`; a level
//! whose count reaches the starvation limit `K` is served by the next take (the
//! highest such level first), and its count goes back to zero.
//!
//! So while Critical work arrives without pause, a waiting Background task runs
//! after at most about `K` Critical takes plus one take for each other aged level
//! above it: every level keeps making progress, and when only one level is in
//! use (the common case) a take never writes a counter at all. The default `K`
//! is [`DEFAULT_STARVATION_LIMIT`].
//!
//! Counters are shared by all takers and updated with single atomic operations;
//! under concurrency two takers may both see a level as aged and both serve it,
//! which only makes the lower level a little luckier, never starved.

use std::fmt;
use std::num::NonZeroUsize;

use crate::error::CapacityError;
use crate::queue::Ring;
use crate::sync::{AtomicUsize, CachePadded, Ordering};

/// How urgent a task is. Higher levels are taken first; see the module docs for
/// how lower levels are kept from starving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    /// Must run before anything else.
    Critical = 0,
    /// Ahead of ordinary work.
    High = 1,
    /// Ordinary work; the default.
    #[default]
    Normal = 2,
    /// Behind ordinary work.
    Low = 3,
    /// Runs when nothing else waits (but is never starved).
    Background = 4,
}

impl Priority {
    /// Every level, most urgent first.
    pub const ALL: [Priority; LEVELS] = [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Low,
        Priority::Background,
    ];

    /// The level's position in [`Priority::ALL`] (0 is the most urgent).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A short lower-case name, as used in metrics labels.
    pub const fn name(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
            Priority::Background => "background",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The number of priority levels.
pub const LEVELS: usize = 5;

/// Takes from higher levels a waiting lower level tolerates before it is served.
pub const DEFAULT_STARVATION_LIMIT: usize = 32;

/// Bounded lock-free multi-producer multi-consumer queues, one per priority.
///
/// ```
/// use std::num::NonZeroUsize;
/// use weftpool::injector::{Injector, Priority};
///
/// let inj = Injector::new(4, NonZeroUsize::new(2).unwrap()).unwrap();
/// inj.push(Priority::Background, "late").unwrap();
/// for _ in 0..3 {
///     inj.push(Priority::Critical, "urgent").unwrap();
/// }
/// // Two Critical takes pass the Background task over; the third take serves it.
/// assert_eq!(inj.pop(), Some("urgent"));
/// assert_eq!(inj.pop(), Some("urgent"));
/// assert_eq!(inj.pop(), Some("late"));
/// assert_eq!(inj.pop(), Some("urgent"));
/// ```
pub struct Injector<T> {
    levels: [Ring<T>; LEVELS],
    /// How many takes have passed over each level while it waited.
    passed: CachePadded<[AtomicUsize; LEVELS]>,
    starvation_limit: usize,
}

impl<T> Injector<T> {
    /// Creates an injector whose every level holds at most `capacity_per_level`
    /// tasks, with the given starvation limit.
    pub fn new(
        capacity_per_level: usize,
        starvation_limit: NonZeroUsize,
    ) -> Result<Self, CapacityError> {
        let ring = || Ring::new(capacity_per_level);
        Ok(Self {
            levels: [ring()?, ring()?, ring()?, ring()?, ring()?],
            passed: CachePadded::new(std::array::from_fn(|_| AtomicUsize::new(0))),
            starvation_limit: starvation_limit.get(),
        })
    }

    /// Enqueues `task` at `priority`, or hands it back when that level is full.
    #[inline]
    pub fn push(&self, priority: Priority, task: T) -> Result<(), T> {
        self.levels[priority.index()].push(task)
    }

    /// Takes the next task by the anti-starvation rule (see the module docs).
    pub fn pop(&self) -> Option<T> {
        if let Some(task) = self.pop_aged() {
            return Some(task);
        }
        for (level, ring) in self.levels.iter().enumerate() {
            if let Some(task) = ring.pop() {
                self.pass_over_below(level, 1);
                return Some(task);
            }
        }
        None
    }

    /// Like [`pop`](Self::pop), but from a level below `High` it takes up to
    /// `max` tasks at once: the first is returned, the rest go to `rest`
    /// oldest first. Urgent levels hand out one task per take, so urgent work
    /// spreads over all takers.
    pub fn pop_batch(&self, max: usize, mut rest: impl FnMut(T)) -> Option<T> {
        if let Some(task) = self.pop_aged() {
            return Some(task);
        }
        for (level, ring) in self.levels.iter().enumerate() {
            let (task, taken) = if level <= Priority::High.index() || max <= 1 {
                (ring.pop(), 1)
            } else {
                let mut first = None;
                let taken = ring.pop_batch(max, |t| match first {
                    None => first = Some(t),
                    Some(_) => rest(t),
                });
                (first, taken)
            };
            if let Some(task) = task {
                // The limit counts tasks, so a batch passes lower levels over
                // once per task in it.
                self.pass_over_below(level, taken);
                return Some(task);
            }
        }
        None
    }

    /// Whether a Critical or High task waits (a snapshot).
    #[inline]
    pub fn has_urgent(&self) -> bool {
        !self.levels[Priority::Critical.index()].is_empty()
            || !self.levels[Priority::High.index()].is_empty()
    }

    /// Serves the most urgent level that has waited past the limit, if any.
    #[inline]
    fn pop_aged(&self) -> Option<T> {
        // Level 0 is never passed over, so it never ages.
        for level in 1..LEVELS {
            // Relaxed: the counter is a scheduling heuristic; the task itself is
            // handed over by the ring's own Acquire/Release protocol.
            if self.passed[level].load(Ordering::Relaxed) >= self.starvation_limit {
                // Relaxed: as above, a reset only affects fairness, not safety.
                self.passed[level].store(0, Ordering::Relaxed);
                if let Some(task) = self.levels[level].pop() {
                    return Some(task);
                }
            }
        }
        None
    }

    /// Records that `tasks` taken from `served` passed over every waiting
    /// lower level.
    #[inline]
    fn pass_over_below(&self, served: usize, tasks: usize) {
        for level in served + 1..LEVELS {
            if !self.levels[level].is_empty() {
                // Relaxed: a fairness counter; see `pop_aged`.
                self.passed[level].fetch_add(tasks, Ordering::Relaxed);
            }
        }
    }

    /// Tasks waiting at all levels (a snapshot).
    pub fn len(&self) -> usize {
        self.levels.iter().map(Ring::len).sum()
    }

    /// Tasks waiting at one level (a snapshot).
    pub fn len_of(&self, priority: Priority) -> usize {
        self.levels[priority.index()].len()
    }

    /// Whether no level holds a task (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.levels.iter().all(Ring::is_empty)
    }

    /// The capacity of each level.
    pub fn capacity_per_level(&self) -> usize {
        self.levels[0].capacity()
    }

    /// The configured starvation limit.
    pub fn starvation_limit(&self) -> usize {
        self.starvation_limit
    }
}

impl<T> fmt::Debug for Injector<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let depths: Vec<usize> = self.levels.iter().map(Ring::len).collect();
        f.debug_struct("Injector")
            .field("depths", &depths)
            .field("starvation_limit", &self.starvation_limit)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn limit(k: usize) -> NonZeroUsize {
        NonZeroUsize::new(k).unwrap()
    }

    #[test]
    fn serves_highest_level_first_and_fifo_within_a_level() {
        let inj = Injector::new(8, limit(100)).unwrap();
        inj.push(Priority::Low, 30).unwrap();
        inj.push(Priority::Normal, 20).unwrap();
        inj.push(Priority::Normal, 21).unwrap();
        inj.push(Priority::Critical, 0).unwrap();
        inj.push(Priority::High, 10).unwrap();
        inj.push(Priority::Background, 40).unwrap();
        let order: Vec<i32> = std::iter::from_fn(|| inj.pop()).collect();
        assert_eq!(order, [0, 10, 20, 21, 30, 40]);
    }

    #[test]
    fn full_level_hands_task_back_and_others_still_accept() {
        let inj = Injector::new(1, limit(4)).unwrap();
        inj.push(Priority::High, 1).unwrap();
        assert_eq!(inj.push(Priority::High, 2), Err(2));
        assert!(inj.push(Priority::Low, 3).is_ok());
        assert_eq!(inj.len(), 2);
        assert_eq!(inj.len_of(Priority::High), 1);
    }

    #[test]
    fn zero_capacity_is_an_error() {
        assert_eq!(
            Injector::<u8>::new(0, limit(1)).unwrap_err(),
            CapacityError::Zero
        );
    }

    #[test]
    fn every_level_progresses_under_a_critical_flood() {
        const K: usize = 8;
        let inj = Injector::new(64, limit(K)).unwrap();
        inj.push(Priority::Background, "background").unwrap();
        inj.push(Priority::Low, "low").unwrap();
        inj.push(Priority::Normal, "normal").unwrap();
        let mut takes = 0;
        let mut served = Vec::new();
        // Keep the Critical level non-empty on every take: a flood without pause.
        while served.len() < 3 {
            while inj.len_of(Priority::Critical) < 2 {
                inj.push(Priority::Critical, "critical").unwrap();
            }
            let task = inj.pop().unwrap();
            takes += 1;
            if task != "critical" {
                served.push((task, takes));
            }
            assert!(takes < 10 * K, "a lower level starved: {served:?}");
        }
        assert_eq!(
            served.iter().map(|s| s.0).collect::<Vec<_>>(),
            ["normal", "low", "background"]
        );
        // Each waited about K takes, plus one for each aged level served before it.
        assert!(served[2].1 <= K + 3, "{served:?}");
    }

    #[test]
    fn single_level_use_never_touches_the_counters() {
        let inj = Injector::new(4, limit(1)).unwrap();
        for round in 0..10 {
            inj.push(Priority::Normal, round).unwrap();
            assert_eq!(inj.pop(), Some(round));
        }
        assert!(inj.passed.iter().all(|c| c.load(Ordering::Relaxed) == 0));
    }
}
