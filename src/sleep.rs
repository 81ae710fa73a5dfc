//! How idle workers go to sleep and how new work wakes exactly one of them.
//!
//! One atomic word counts the workers that are *awake* (not parked) and, among
//! them, the ones *searching* for work. The rules:
//!
//! - A submitter publishes its task, then (after a `SeqCst` fence) reads the
//!   word: if a worker is searching, or every worker is awake, it does nothing;
//!   otherwise it wakes one sleeper, which starts out searching (but see
//!   [`pick_near`] for one that does not). A push into
//!   an injector needs no fence: its SeqCst claim of the ring's tail and the
//!   SeqCst load of the word are ordered by the SeqCst total order, and the
//!   last look below reads that tail ([`Sleep::notify_one_after_ring_push`]).
//! - The sleeper woken is the one that parked last (its caches are the
//!   warmest), except for a single outside spawn, which picks by CPU
//!   ([`pick_near`]): after an idle spell a sleeper on the submitter's own
//!   CPU, woken not searching; otherwise preferably one on another CPU.
//! - At most half of the workers search at once ([`Sleep::try_begin_search`]).
//! - A searcher that finds work stops searching; if it was the last searcher
//!   and some worker sleeps, it wakes one when work is left, since where
//!   there was one task there may be more.
//! - A worker going to sleep first registers in the sleeper list and leaves the
//!   awake count (both under the list's lock), *then* checks every queue once
//!   more. Against a submitter that pushes, fences, then reads the word, this
//!   is Dekker's pattern: either the submitter sees the worker leaving (and
//!   wakes it from the list) or the worker's last look sees the task.
//!
//! The lock is only taken on the slow paths: going to sleep and waking a
//! sleeper. A submitter whose pool is busy pays one load (plus a fence when
//! it pushed into a deque).

use crate::sync::thread::{self, Thread};
use crate::sync::{fence, AtomicU8, AtomicUsize, CachePadded, Mutex, Ordering};
use std::time::{Duration, Instant};

const SEARCHING_ONE: usize = 1;
const AWAKE_ONE: usize = 1 << 16;
const COUNT_MASK: usize = AWAKE_ONE - 1;

/// The most workers the packed word can count.
pub(crate) const MAX_WORKERS: usize = COUNT_MASK;

/// Why a parked worker woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Woken by new work: the worker counts as searching.
    Searching,
    /// Woken for another reason (a latch it waits on, shutdown, its own last
    /// look found something), or by an outside spawn onto the spawning
    /// thread's CPU after an idle spell ([`pick_near`]): not searching.
    Plain,
}

/// How long the latest sleeper must have slept for an outside spawn to count
/// as the end of an idle spell (see [`pick_near`]). A CPU idle that long has
/// usually gone into a deep idle state or, in a virtual machine, been handed
/// back to the host (KVM polls a halted vCPU for at most 200 µs by default,
/// `halt_poll_ns`); a thread woken there starts tens of microseconds later,
/// while the submitter's CPU is awake.
const LONG_SLEEP: Duration = Duration::from_micros(200);

const NOT_NOTIFIED: u8 = 0;
const NOTIFIED_SEARCHING: u8 = 1;
const NOTIFIED_PLAIN: u8 = 2;

struct Sleeper {
    index: usize,
    thread: Thread,
    parked: Whereabouts,
}

/// The CPU a thread ran on (if the platform says) and when it was there.
#[derive(Debug, Clone, Copy)]
struct Whereabouts {
    cpu: Option<usize>,
    at: Instant,
}

impl Whereabouts {
    fn here() -> Self {
        Self {
            cpu: current_cpu(),
            at: Instant::now(),
        }
    }
}

/// The calling thread's CPU, if the platform says. Under loom, never: every
/// choice is then the latest sleeper's, and the models cover the protocol,
/// which does not depend on who is woken.
fn current_cpu() -> Option<usize> {
    #[cfg(loom)]
    return None;
    #[cfg(not(loom))]
    return crate::topology::current_cpu();
}

/// The sleeper to wake for a submitter on `cpu`, by its position in parking
/// order, and whether it is to wake *not* searching. After an idle spell
/// (the latest sleeper has slept for [`LONG_SLEEP`], by `now`) the
/// submitter's CPU is the one awake: the latest sleeper there, which runs
/// when the submitter blocks or is preempted, and so must not count as a
/// searcher that later spawns rely on. Otherwise the other CPUs are awake and
/// the submitter's is taken by the submitter: the latest sleeper elsewhere.
/// Failing either, the latest sleeper. Measured with the shoot-out's idle
/// dispatch and burst workloads (docs/benchmarks.md).
fn pick_near(
    sleepers: &[Sleeper],
    cpu: usize,
    now: impl FnOnce() -> Instant,
) -> Option<(usize, bool)> {
    let latest = sleepers.len().checked_sub(1)?;
    let on_cpu = |s: &Sleeper| s.parked.cpu == Some(cpu);
    let idle_spell = now().saturating_duration_since(sleepers[latest].parked.at) >= LONG_SLEEP;
    let pos = if idle_spell {
        sleepers.iter().rposition(on_cpu)
    } else {
        sleepers.iter().rposition(|s| !on_cpu(s))
    };
    let pos = pos.unwrap_or(latest);
    Some((pos, idle_spell && on_cpu(&sleepers[pos])))
}

pub(crate) struct Sleep {
    /// Awake workers in the high half, searching workers in the low half.
    state: CachePadded<AtomicUsize>,
    sleepers: Mutex<Vec<Sleeper>>,
    /// Per worker: why it was woken, set by the waker before it unparks.
    notified: Box<[CachePadded<AtomicU8>]>,
    workers: usize,
}

impl Sleep {
    pub(crate) fn new(workers: usize) -> Self {
        debug_assert!(workers <= MAX_WORKERS);
        Self {
            state: CachePadded::new(AtomicUsize::new(workers * AWAKE_ONE)),
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            notified: (0..workers)
                .map(|_| CachePadded::new(AtomicU8::new(NOT_NOTIFIED)))
                .collect(),
            workers,
        }
    }

    fn searching(state: usize) -> usize {
        state & COUNT_MASK
    }

    fn awake(state: usize) -> usize {
        state >> 16
    }

    /// Lets a worker start searching unless half of them already are.
    pub(crate) fn try_begin_search(&self) -> bool {
        // Relaxed: the count only throttles searching; no data hangs on it.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if 2 * Self::searching(state) >= self.workers.max(2) {
                return false;
            }
            // SeqCst: a submitter that reads the word after its fence must see
            // this searcher, since it relies on it instead of waking anyone.
            match self.state.compare_exchange_weak(
                state,
                state + SEARCHING_ONE,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// Ends a search (it found work, or the worker is about to yield); true
    /// if this was the last searcher and some worker sleeps, in which case
    /// the caller wakes one if work is left.
    ///
    /// With every worker awake there is nobody to wake: a worker that parks
    /// later leaves the awake count after this RMW and then looks at every
    /// queue, so the work submitters left to us is seen. Answering false then
    /// spares the caller its look at the queues (cache lines the submitters
    /// just wrote) before it runs the task it found.
    pub(crate) fn end_search(&self) -> bool {
        // SeqCst: part of the Dekker pair with submitters (see the module docs).
        let prev = self.state.fetch_sub(SEARCHING_ONE, Ordering::SeqCst);
        debug_assert!(Self::searching(prev) > 0);
        Self::searching(prev) == 1 && Self::awake(prev) < self.workers
    }

    /// Called by a submitter after publishing work: wakes one sleeper unless a
    /// worker is searching or every worker is awake.
    #[inline]
    pub(crate) fn notify_one(&self) {
        // SeqCst fence: orders the caller's publication of work before the read
        // of the word (Dekker with `park`'s leave-then-look).
        fence(Ordering::SeqCst);
        if self.someone_will_look() {
            return;
        }
        self.wake_sleepers(1, None);
    }

    /// Like [`notify_one`](Self::notify_one), for work an outside submitter
    /// published by a ring push: the push's SeqCst claim of the ring's tail
    /// and the SeqCst load here are ordered by the total order of SeqCst
    /// operations, against the parker's SeqCst leave and its SeqCst read of
    /// the tail in the last look, so the fence (which waits for the slot's
    /// store to leave the store buffer: a cross-core miss per spawn) is not
    /// needed. The sleeper is chosen by CPU ([`pick_near`]).
    #[inline]
    pub(crate) fn notify_one_after_ring_push(&self) {
        if self.someone_will_look() {
            return;
        }
        self.wake_sleepers(1, current_cpu());
    }

    /// Whether new work needs no wake-up: a worker searches, or none sleeps.
    #[inline]
    fn someone_will_look(&self) -> bool {
        let state = self.state.load(Ordering::SeqCst);
        Self::searching(state) > 0 || Self::awake(state) == self.workers
    }

    /// Wakes up to `count` sleepers for a batch of new work (one decision).
    pub(crate) fn notify_many(&self, count: usize) {
        fence(Ordering::SeqCst);
        let state = self.state.load(Ordering::SeqCst);
        if Self::awake(state) == self.workers || count == 0 {
            return;
        }
        let idle_searchers = Self::searching(state);
        if count <= idle_searchers {
            return;
        }
        self.wake_sleepers(count - idle_searchers, None);
    }

    /// Wakes up to `count` sleepers, the latest first, or, for a caller on
    /// `near_cpu`, the ones [`pick_near`] chooses.
    fn wake_sleepers(&self, count: usize, near_cpu: Option<usize>) {
        // The first apart: a single wake-up (the usual case) allocates nothing.
        let mut first = None;
        let mut rest = Vec::new();
        {
            let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
            for _ in 0..count {
                // Re-check under the lock: a worker may have started searching
                // since the first look, and then it will find the work.
                if count == 1 && Self::searching(self.state.load(Ordering::SeqCst)) > 0 {
                    break;
                }
                let pick = match near_cpu {
                    None => sleepers.len().checked_sub(1).map(|latest| (latest, false)),
                    Some(cpu) => pick_near(&sleepers, cpu, Instant::now),
                };
                let Some((pos, near)) = pick else { break };
                let sleeper = sleepers.remove(pos);
                // A worker woken near the caller runs only once the caller
                // blocks or is preempted: later submitters must not count on
                // it as a searcher (and wake nobody while the caller keeps
                // spawning, a burst after an idle spell), so it wakes plain.
                let (why, joins) = if near {
                    (NOTIFIED_PLAIN, AWAKE_ONE)
                } else {
                    (NOTIFIED_SEARCHING, AWAKE_ONE + SEARCHING_ONE)
                };
                // SeqCst: the woken worker counts as awake (and searching)
                // before anyone else reads the word.
                self.state.fetch_add(joins, Ordering::SeqCst);
                match first {
                    None => first = Some((sleeper, why)),
                    Some(_) => rest.push((sleeper, why)),
                }
            }
        }
        for (sleeper, why) in first.into_iter().chain(rest) {
            self.unpark(sleeper, why);
        }
    }

    /// Wakes one particular worker if it is asleep (it waits on a latch that
    /// was just set). A worker not in the list is awake or about to look again.
    pub(crate) fn wake_worker(&self, index: usize) {
        let sleeper = {
            let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
            let Some(pos) = sleepers.iter().position(|s| s.index == index) else {
                return;
            };
            // SeqCst: as in `wake_sleepers`.
            self.state.fetch_add(AWAKE_ONE, Ordering::SeqCst);
            // `remove`, not `swap_remove`: the list stays in parking order.
            sleepers.remove(pos)
        };
        self.unpark(sleeper, NOTIFIED_PLAIN);
    }

    /// Wakes every sleeper (shutdown).
    pub(crate) fn wake_all(&self) {
        let all: Vec<Sleeper> = {
            let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
            // SeqCst: as in `wake_sleepers`.
            self.state
                .fetch_add(AWAKE_ONE * sleepers.len(), Ordering::SeqCst);
            sleepers.drain(..).collect()
        };
        for sleeper in all {
            self.unpark(sleeper, NOTIFIED_PLAIN);
        }
    }

    fn unpark(&self, sleeper: Sleeper, why: u8) {
        // Release: the worker's Acquire swap sees everything done before
        // waking it. A swap, not a store: as an RMW it stays ordered after
        // the worker's own earlier swap (and loom models exactly that).
        self.notified[sleeper.index].swap(why, Ordering::Release);
        sleeper.thread.unpark();
    }

    /// Puts worker `index` to sleep until it is woken. `last_look` runs after
    /// the worker has left the awake count and must return true if there is
    /// anything to do (work in any queue, a latch set, shutdown); then the
    /// worker does not sleep.
    pub(crate) fn park(&self, index: usize, searching: bool, last_look: impl Fn() -> bool) -> Wake {
        let parked = Whereabouts::here();
        {
            let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
            sleepers.push(Sleeper {
                index,
                thread: thread::current(),
                parked,
            });
            let leave = AWAKE_ONE + if searching { SEARCHING_ONE } else { 0 };
            // SeqCst: the leaving half of the Dekker pair (see the module docs).
            self.state.fetch_sub(leave, Ordering::SeqCst);
        }
        // SeqCst fence: the last look's loads (some of them Relaxed inside the
        // queues) must not move before leaving the awake count.
        fence(Ordering::SeqCst);
        if last_look() {
            let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(pos) = sleepers.iter().position(|s| s.index == index) {
                sleepers.remove(pos);
                // SeqCst: rejoin the awake count before anyone reads it again.
                self.state.fetch_add(AWAKE_ONE, Ordering::SeqCst);
                drop(sleepers);
                // The work seen may still be mid-publication (a ring slot
                // claimed but not yet written): give its producer a moment
                // rather than spinning hot through find-park-look.
                crate::sync::spin_loop();
                return Wake::Plain;
            }
            // Someone took us off the list and is about to unpark us: take
            // that notification below, so it is not left for a later park.
        }
        loop {
            // Acquire: pairs with the waker's Release store in `unpark`.
            match self.notified[index].swap(NOT_NOTIFIED, Ordering::Acquire) {
                NOT_NOTIFIED => thread::park(),
                NOTIFIED_SEARCHING => return Wake::Searching,
                _ => return Wake::Plain,
            }
        }
    }

    /// Whether every worker is awake and none is searching: nobody would take
    /// offered work right now (a hint for `join`'s lazy offering).
    #[inline]
    pub(crate) fn all_busy(&self) -> bool {
        // Relaxed: a hint; a stale answer only delays or hastens one offer.
        self.state.load(Ordering::Relaxed) == self.workers * AWAKE_ONE
    }

    /// How many workers are parked (a snapshot, for metrics and tests).
    pub(crate) fn sleeping(&self) -> usize {
        self.workers - Self::awake(self.state.load(Ordering::SeqCst))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn sleeper(index: usize, cpu: Option<usize>, at: Instant) -> Sleeper {
        Sleeper {
            index,
            thread: thread::current(),
            parked: Whereabouts { cpu, at },
        }
    }

    fn picked(sleepers: &[Sleeper], cpu: usize, at: Instant) -> Option<(usize, bool)> {
        pick_near(sleepers, cpu, || at).map(|(pos, near)| (sleepers[pos].index, near))
    }

    #[test]
    fn after_a_short_sleep_the_latest_sleeper_on_another_cpu_is_woken() {
        let t0 = Instant::now();
        let list = [
            sleeper(0, Some(2), t0),
            sleeper(1, Some(3), t0),
            sleeper(2, Some(1), t0),
        ];
        // The latest sleeps on the caller's CPU 1, which the caller keeps
        // busy; the other CPUs were awake a moment ago.
        let soon = t0 + LONG_SLEEP / 2;
        assert_eq!(picked(&list, 1, soon), Some((1, false)));
        // All of them on the caller's CPU: the latest, still searching.
        let all_here = [sleeper(0, Some(1), t0), sleeper(1, Some(1), t0)];
        assert_eq!(picked(&all_here, 1, soon), Some((1, false)));
    }

    #[test]
    fn after_a_long_sleep_the_latest_on_the_callers_cpu_is_woken_near() {
        let t0 = Instant::now();
        let list = [
            sleeper(0, Some(1), t0),
            sleeper(1, Some(1), t0),
            sleeper(2, Some(2), t0),
        ];
        let later = t0 + LONG_SLEEP;
        assert_eq!(picked(&list, 1, later), Some((1, true)));
        // The latest is on the caller's CPU: it is the one.
        assert_eq!(picked(&list, 2, later), Some((2, true)));
    }

    #[test]
    fn after_a_long_idle_spell_the_sleeper_woken_near_the_caller_does_not_count_as_searching() {
        let sleep = Sleep::new(3);
        let long_ago = Instant::now() - 2 * LONG_SLEEP;
        {
            let mut list = sleep.sleepers.lock().unwrap();
            list.push(sleeper(0, Some(1), long_ago));
            list.push(sleeper(1, Some(2), long_ago));
        }
        sleep.state.store(AWAKE_ONE, Ordering::SeqCst);
        // The caller is on CPU 1: worker 0 wakes there, plain.
        sleep.wake_sleepers(1, Some(1));
        let state = sleep.state.load(Ordering::SeqCst);
        assert_eq!((Sleep::awake(state), Sleep::searching(state)), (2, 0));
        assert_eq!(sleep.notified[0].load(Ordering::SeqCst), NOTIFIED_PLAIN);
        // Nobody searches, so the next spawn wakes the other one, searching.
        sleep.wake_sleepers(1, Some(1));
        let state = sleep.state.load(Ordering::SeqCst);
        assert_eq!((Sleep::awake(state), Sleep::searching(state)), (3, 1));
        assert_eq!(sleep.notified[1].load(Ordering::SeqCst), NOTIFIED_SEARCHING);
    }

    #[test]
    fn without_a_sleeper_on_the_callers_cpu_the_latest_is_woken() {
        let t0 = Instant::now();
        let list = [sleeper(0, Some(1), t0), sleeper(1, None, t0)];
        let later = t0 + 10 * LONG_SLEEP;
        assert_eq!(picked(&list, 3, later), Some((1, false)));
        assert_eq!(picked(&[], 1, later), None);
    }
}
