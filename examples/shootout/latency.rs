//! Dispatch latency: the time from the call that submits a task to the
//! task's first instruction, on a pool that is asleep (a pause before each
//! sample) and on one kept busy (samples back to back). Two floors frame
//! it: waking a parked thread, and handing a flag to a spinning one.

use std::cell::RefCell;
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

/// How an idle sample's latency divides, per system: the submitting call
/// itself (the pool's `spawn`, the floor's `unpark`), which on a sleeping
/// pool includes the wake-up system call, and the rest, from that call's
/// return to the task's first instruction. Values in nanoseconds, one per
/// sample; weftpool's A/A twin records under weftpool's name.
#[derive(Default)]
pub struct Split {
    calls: RefCell<Vec<Series>>,
    rests: RefCell<Vec<Series>>,
}

impl Split {
    fn record(&self, system: &'static str, call: Vec<f64>, latency: &[f64]) {
        let rest = latency.iter().zip(&call).map(|(l, c)| l - c).collect();
        for (series, values) in [(&self.calls, call), (&self.rests, rest)] {
            let mut series = series.borrow_mut();
            match series.iter_mut().find(|s| s.system == system) {
                Some(s) => s.values.extend(values),
                None => series.push(Series { system, values }),
            }
        }
    }

    /// Per system, in first-recorded order: its name, the call's p50 and
    /// the rest's p50 in nanoseconds, and the share of samples (0–1) whose
    /// task started before the call returned: the woken thread took the
    /// submitter's CPU as the wake-up system call returned, rather than
    /// when the submitter went to sleep.
    pub fn medians(&self) -> Vec<(&'static str, f64, f64, f64)> {
        let calls = self.calls.borrow();
        let rests = self.rests.borrow();
        calls
            .iter()
            .zip(rests.iter())
            .map(|(c, r)| {
                let first = r.values.iter().filter(|&&rest| rest < 0.0).count();
                let share = first as f64 / r.values.len().max(1) as f64;
                (c.system, c.median(), r.median(), share)
            })
            .collect()
    }
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

/// Dispatch latencies of `samples` tasks on `P`, in nanoseconds; an idle
/// pace also records each sample's split in `split`.
pub fn pool_latency<P: Pool>(
    settings: &Settings,
    samples: usize,
    pace: Pace,
    split: &Split,
) -> Vec<f64> {
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
        let mut calls = Vec::new();
        for _ in 0..samples {
            let s = slot.clone();
            let t0 = Instant::now();
            pool.spawn(move || s.put(t0));
            if let Pace::Idle(gap) = pace {
                calls.push(t0.elapsed().as_nanos() as f64);
                thread::sleep(gap);
            }
            out.push(slot.take(pace) as f64);
            pool.settle();
        }
        if !calls.is_empty() {
            split.record(P::NAME, calls, &out);
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
/// (`spin` true) between samples, in nanoseconds; a parking thread at an
/// idle pace also records each sample's split in `split`.
pub fn floor_latency(samples: usize, pace: Pace, spin: bool, split: &Split) -> Vec<f64> {
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
    let mut calls = Vec::new();
    for i in 0..samples + 10 {
        let told = h.base.elapsed().as_nanos() as u64;
        // Relaxed: published by the Release store of `go` below.
        h.told_at.store(told, Ordering::Relaxed);
        h.go.store(true, Ordering::Release);
        if !spin {
            waiter.thread().unpark();
        }
        if let Pace::Idle(gap) = pace {
            let call = h.base.elapsed().as_nanos() as u64 - told;
            thread::sleep(gap);
            if i >= 10 && !spin {
                calls.push(call as f64);
            }
        }
        let ns = h.slot.take(pace);
        if i >= 10 {
            out.push(ns as f64);
        }
    }
    if !calls.is_empty() {
        split.record(PARK_FLOOR, calls, &out);
    }
    h.stop.store(true, Ordering::Relaxed);
    waiter.thread().unpark();
    let _ = waiter.join();
    out
}

/// Dispatch latency on every pool and the floor that fits the pace,
/// alternating in rounds; values in nanoseconds, all samples kept. An idle
/// pace also fills `split`.
pub fn run(settings: &Settings, pace: Pace, split: &Split) -> Vec<Series> {
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
            Box::new(move || pool_latency::<Weft>(s, per_round, pace, split)),
        ),
        (
            Rayon::NAME,
            Box::new(move || pool_latency::<Rayon>(s, per_round, pace, split)),
        ),
        (
            Executors::NAME,
            Box::new(move || pool_latency::<Executors>(s, per_round, pace, split)),
        ),
        (
            Threadpool::NAME,
            Box::new(move || pool_latency::<Threadpool>(s, per_round, pace, split)),
        ),
    ];
    match pace {
        // A new thread per task, and the floor for waking a sleeping
        // thread: both only make sense with pauses between samples.
        Pace::Idle(_) => {
            trials.push((
                StdThread::NAME,
                Box::new(move || pool_latency::<StdThread>(s, per_round, pace, split)),
            ));
            trials.push((
                PARK_FLOOR,
                Box::new(move || floor_latency(per_round, pace, false, split)),
            ));
        }
        // The floor for a thread that never stops looking.
        Pace::Busy => trials.push((
            SPIN_FLOOR,
            Box::new(move || floor_latency(per_round, pace, true, split)),
        )),
    }
    alternate_twice(rounds, &mut trials, Weft::NAME, WEFT_AGAIN)
}
