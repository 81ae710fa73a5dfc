//! A worker's published leaf: the tasks of a batch it is running one after
//! another without going back to its queues, kept where any worker can take
//! the ones not yet started (see `group.rs` for leaves).
//!
//! One slot per worker. Its owner publishes a run of a group's tasks into the
//! empty slot, then claims them one at a time from the front with a CAS on
//! the slot's word; anyone (an idle sibling, or the owner itself after it
//! left the leaf for urgent work) may instead take everything left, in one
//! CAS that empties the slot. So a task that blocks holds back no other task
//! of its batch: the rest of its leaf is taken by whoever looks for work.
//!
//! The word holds a generation besides the run, so that a taker that read
//! the slot's group before its CAS cannot pair it with a later leaf that
//! happens to have the same bounds. The slot holds a count on the group
//! while it is not empty; whoever empties it (the owner's last claim, or a
//! taker) inherits that count.

use std::mem;
use std::ptr;

use crate::sync::{AtomicPtr, AtomicU64, Ordering};

use super::job::JobRef;

/// Makes a job of tasks `start..end` of a type-erased group, owned by
/// worker `taker`, inheriting one count on the group.
pub(crate) type TakeAsJob = unsafe fn(group: *mut (), start: u16, end: u16, taker: u16) -> JobRef;

/// Bits of the word that hold the generation.
const GENERATION_MASK: u64 = (1 << 48) - 1;

fn pack(generation: u64, start: u16, end: u16) -> u64 {
    debug_assert!(start <= end && end <= u8::MAX.into());
    (generation & GENERATION_MASK) << 16 | u64::from(start) << 8 | u64::from(end)
}

fn unpack(word: u64) -> (u64, u16, u16) {
    (word >> 16, (word >> 8 & 0xff) as u16, (word & 0xff) as u16)
}

/// A run of a group's tasks published by its owner; see the module docs.
pub(crate) struct LeafSlot {
    /// Generation (48 bits), start and end (8 bits each) of the run; empty
    /// when start == end.
    word: AtomicU64,
    /// The run's group, type-erased, and how to make a job of part of it:
    /// written by the owner while the slot is empty.
    group: AtomicPtr<()>,
    take_as_job: AtomicPtr<()>,
}

/// One publication in a slot, for its owner's claims.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generation(u64);

/// What the owner claimed from its slot.
pub(crate) enum Claim {
    /// Task `index` is the owner's to run.
    Task {
        index: u16,
        /// The claim emptied the slot: its count on the group is the owner's
        /// to drop.
        last: bool,
    },
    /// The slot is empty: every task was claimed or taken.
    Empty,
}

impl LeafSlot {
    pub(crate) fn new() -> Self {
        Self {
            word: AtomicU64::new(pack(0, 0, 0)),
            group: AtomicPtr::new(ptr::null_mut()),
            take_as_job: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Publishes tasks `start..end` of `group` (owner only, into an empty
    /// slot: see [`is_free`](Self::is_free)). The caller has added the
    /// slot's count on the group. Claims name the publication they are for.
    pub(crate) fn publish(
        &self,
        group: *mut (),
        take_as_job: TakeAsJob,
        start: u16,
        end: u16,
    ) -> Generation {
        // Acquire: a taker's emptying CAS then happens before the stores
        // below, so its earlier reads of `group` and `take_as_job` cannot
        // see this run's values.
        let (generation, old_start, old_end) = unpack(self.word.load(Ordering::Acquire));
        debug_assert_eq!(old_start, old_end, "publish into a full leaf slot");
        // Relaxed (both): published by the Release store of the word below.
        self.group.store(group, Ordering::Relaxed);
        self.take_as_job
            .store(take_as_job as *mut (), Ordering::Relaxed);
        let generation = generation.wrapping_add(1) & GENERATION_MASK;
        // Release: takers that Acquire-load the word see the two stores above
        // and the group's tasks. The owner's claims are RMWs, so they continue
        // this store's release sequence.
        self.word
            .store(pack(generation, start, end), Ordering::Release);
        Generation(generation)
    }

    /// Whether the owner may publish now: the slot is empty. (It may not be:
    /// a leaf left for urgent work keeps its rest here until the owner's
    /// `pop_own` takes it back, and the urgent work may be a batch too.)
    pub(crate) fn is_free(&self) -> bool {
        // Acquire: as in `publish`, which may follow.
        let (_, start, end) = unpack(self.word.load(Ordering::Acquire));
        start == end
    }

    /// Claims the first task of publication `publication` (owner only).
    /// `Empty` once it has no task left, and also once the slot holds a
    /// later publication: a task of the leaf may itself run batch work on
    /// this worker (waiting in a `join`, say), which takes the slot back and
    /// publishes its own leaf there.
    pub(crate) fn claim(&self, publication: Generation) -> Claim {
        // Relaxed: the CAS decides; a later `publish` does its own Acquire.
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            let (generation, start, end) = unpack(word);
            if start == end || generation != publication.0 {
                return Claim::Empty;
            }
            // Relaxed (both): the claim only needs to be atomic against
            // takers' CASes on this word; any RMW continues the release
            // sequence of the publication.
            match self.word.compare_exchange_weak(
                word,
                pack(generation, start + 1, end),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Claim::Task {
                        index: start,
                        last: start + 1 == end,
                    }
                }
                Err(now) => word = now,
            }
        }
    }

    /// Takes every task left, as a job owned by worker `taker`; `None` when
    /// the slot is empty.
    pub(crate) fn take(&self, taker: u16) -> Option<JobRef> {
        // Acquire: pairs with the publication (and the claims in its release
        // sequence), so `group` and `take_as_job` below are this run's.
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (generation, start, end) = unpack(word);
            if start == end {
                return None;
            }
            // Relaxed (both): ordered by the Acquire load of the word; the
            // CAS below checks that the run is still the one they belong to.
            let group = self.group.load(Ordering::Relaxed);
            let take_as_job = self.take_as_job.load(Ordering::Relaxed);
            // AcqRel on success: Release so that the owner, which Acquires
            // the word before its next publication, stores the next run's
            // group only after our reads above; Acquire as above. Acquire on
            // failure: the next attempt reads the fields again.
            match self.word.compare_exchange(
                word,
                pack(generation, end, end),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: `take_as_job` was stored from a `TakeAsJob` by
                    // the publication this word belongs to.
                    let take_as_job: TakeAsJob =
                        unsafe { mem::transmute::<*mut (), TakeAsJob>(take_as_job) };
                    // SAFETY: the CAS emptied the slot while it held
                    // `start..end` of `group`: those tasks and the slot's
                    // count on the group are now ours.
                    return Some(unsafe { take_as_job(group, start, end, taker) });
                }
                Err(now) => word = now,
            }
        }
    }

    /// Whether tasks wait in the slot. SeqCst: a parking worker's last look
    /// (see `Registry::has_shared_work`), against the owner's publication
    /// followed by a wake-up's SeqCst fence.
    pub(crate) fn has_tasks(&self) -> bool {
        let (_, start, end) = unpack(self.word.load(Ordering::SeqCst));
        start != end
    }
}
