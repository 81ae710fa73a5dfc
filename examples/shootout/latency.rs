//! Dispatch latency: the time from the call that submits a task to the
//! task's first instruction, on a pool that is asleep (a pause before each
//! sample) and on one kept busy (samples back to back). Two floors frame
//! it: waking a parked thread, and handing a flag to a spinning one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{alternate_twice, Series, Settings, Trial};
use crate::systems::{with_pool, Executors, Pool, Rayon, StdThread, Threadpool, Weft, WEFT_AGAIN};

/// The floor set by `thread::park`/`unpark`.
pub const PARK_FLOOR: &str = "park/unpark floor";
/// The floor set by a thread spinning on a flag.
pub const SPIN_FLOOR: &str = "spin floor";

/// Whether the pool rests between samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// A pause before every sample: the workers are asleep.
    Idle(Duration),
    /// Samples back to back: the workers are awake.
    Busy,
}

/// A latency written by the task that measured it; 0 means "not yet".
#[derive(Default)]
struct Slot(AtomicU64);

impl Slot {
    fn put(&self, since: Instant) {
        let ns = since.elapsed().as_nanos() as u64;
        // Release: the waiting thread's Acquire load then sees the value.
        self.0.store(ns.max(1), Ordering::Release);
    }

    /// Waits for the value and clears the slot. An idle sample has
    /// normally arrived during the pause; a busy one is spun for, but only
    /// briefly before yielding, so that on a machine with more runnable
    /// threads than cores the waiter does not keep the task off a core.
    fn take(&self, pace: Pace) -> u64 {
        let spin_for = match pace {
            Pace::Busy => Duration::from_micros(20),
            Pace::Idle(_) => Duration::ZERO,
        };
        let start = Instant::now();
        let mut spinning = true;
        loop {
            // Acquire: pairs with `put`. Loading (not swapping) while
            // waiting keeps the cache line shared until the task writes it.
            let ns = self.0.load(Ordering::Acquire);
            if ns != 0 {
                // Relaxed: the next sample's task is submitted after this.
                self.0.store(0, Ordering::Relaxed);
                return ns;
            }
            if spinning {
                for _ in 0..32 {
                    std::hint::spin_loop();
                }
                spinning = start.elapsed() < spin_for;
            } else {
                thread::yield_now();
            }
        }
    }
}

/// Dispatch latencies of `samples` tasks on `P`, in nanoseconds.
pub fn pool_latency<P: Pool>(settings: &Settings, samples: usize, pace: Pace) -> Vec<f64> {
    with_pool::<P, _>(settings, |pool| {
        let slot = Arc::new(Slot::default());
        // Warm up: threads started, first allocations done.
        for _ in 0..10 {
            let s = slot.clone();
            let t0 = Instant::now();
            pool.spawn(move || s.put(t0));
            slot.take(Pace::Busy);
            pool.settle();
        }
        let parks_before = pool.parks();
        let mut out = Vec::with_capacity(samples);
        for _ in 0..samples {
            let s = slot.clone();
            let t0 = Instant::now();
            pool.spawn(move || s.put(t0));
            if let Pace::Idle(gap) = pace {
                thread::sleep(gap);
            }
            out.push(slot.take(pace) as f64);
            pool.settle();
        }
        if let (Some(before), Some(after)) = (parks_before, pool.parks()) {
            eprintln!(
                "           {}: workers slept {} times in {samples} {} samples",
                P::NAME,
                after - before,
                if pace == Pace::Busy { "busy" } else { "idle" }
            );
        }
        out
    })
}

/// A thread that, once told to, measures the hand-off from the teller.
struct Handoff {
    go: AtomicBool,
    stop: AtomicBool,
    /// When the teller told, in nanoseconds since `base`.
    told_at: AtomicU64,
    base: Instant,
    slot: Slot,
}

/// The hand-off latency to a thread that parks (`spin` false) or spins
/// (`spin` true) between samples, in nanoseconds.
pub fn floor_latency(samples: usize, pace: Pace, spin: bool) -> Vec<f64> {
    let h = Arc::new(Handoff {
        go: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        told_at: AtomicU64::new(0),
        base: Instant::now(),
        slot: Slot::default(),
    });
    let hw = h.clone();
    let waiter = thread::spawn(move || loop {
        // Acquire: pairs with the teller's Release store of `go`, which
        // follows its store of `told_at`.
        while !hw.go.load(Ordering::Acquire) {
            if hw.stop.load(Ordering::Relaxed) {
                return;
            }
            if spin {
                std::hint::spin_loop();
            } else {
                thread::park();
            }
        }
        let now = hw.base.elapsed().as_nanos() as u64;
        hw.go.store(false, Ordering::Relaxed);
        let told = hw.told_at.load(Ordering::Relaxed);
        // Release: pairs with `take`.
        hw.slot
            .0
            .store(now.saturating_sub(told).max(1), Ordering::Release);
    });
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples + 10 {
        // Relaxed: published by the Release store of `go` below.
        h.told_at
            .store(h.base.elapsed().as_nanos() as u64, Ordering::Relaxed);
        h.go.store(true, Ordering::Release);
        if !spin {
            waiter.thread().unpark();
        }
        if let Pace::Idle(gap) = pace {
            thread::sleep(gap);
        }
        let ns = h.slot.take(pace);
        if i >= 10 {
            out.push(ns as f64);
        }
    }
    h.stop.store(true, Ordering::Relaxed);
    waiter.thread().unpark();
    let _ = waiter.join();
    out
}

/// Dispatch latency on every pool and the floor that fits the pace,
/// alternating in rounds; values in nanoseconds, all samples kept.
pub fn run(settings: &Settings, pace: Pace) -> Vec<Series> {
    let total = match pace {
        Pace::Idle(_) => settings.idle_samples,
        Pace::Busy => settings.busy_samples,
    };
    let rounds = 4;
    let per_round = total.div_ceil(rounds);
    let s = settings;
    let mut trials: Vec<Trial<'_>> = vec![
        (
            Weft::NAME,
            Box::new(move || pool_latency::<Weft>(s, per_round, pace)),
        ),
        (
            Rayon::NAME,
            Box::new(move || pool_latency::<Rayon>(s, per_round, pace)),
        ),
        (
            Executors::NAME,
            Box::new(move || pool_latency::<Executors>(s, per_round, pace)),
        ),
        (
            Threadpool::NAME,
            Box::new(move || pool_latency::<Threadpool>(s, per_round, pace)),
        ),
    ];
    match pace {
        // A new thread per task, and the floor for waking a sleeping
        // thread: both only make sense with pauses between samples.
        Pace::Idle(_) => {
            trials.push((
                StdThread::NAME,
                Box::new(move || pool_latency::<StdThread>(s, per_round, pace)),
            ));
            trials.push((
                PARK_FLOOR,
                Box::new(move || floor_latency(per_round, pace, false)),
            ));
        }
        // The floor for a thread that never stops looking.
        Pace::Busy => trials.push((
            SPIN_FLOOR,
            Box::new(move || floor_latency(per_round, pace, true)),
        )),
    }
    alternate_twice(rounds, &mut trials, Weft::NAME, WEFT_AGAIN)
}
