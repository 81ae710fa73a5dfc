//! What every workload shares: the run settings, a completion counter, a
//! calibrated unit of CPU work, and the loop that alternates systems round
//! by round.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// Sizes and repetitions of one shoot-out run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Worker threads in every pool.
    pub threads: usize,
    /// Whether weftpool pins its workers one per core.
    pub pin: bool,
    /// weftpool's idle-spin window, if not its default.
    pub idle_spin: Option<Duration>,
    /// Rounds of the throughput workloads (each system once per round).
    pub rounds: usize,
    /// Tasks in the spawn workloads.
    pub spawn_tasks: usize,
    /// Argument of the recursive fib.
    pub fib: u64,
    /// Depth of the binary tree summed with `join`.
    pub tree_depth: u32,
    /// Latency samples per system, idle pool.
    pub idle_samples: usize,
    /// Latency samples per system, busy pool.
    pub busy_samples: usize,
    /// Pause between idle samples, long enough for every pool to fall asleep.
    pub idle_gap: Duration,
    /// Tasks in the batch-efficiency workload.
    pub batch_tasks: usize,
    /// Bursts per system in the burst-after-idle workload.
    pub bursts: usize,
    /// Rounds of the urgent-task workload.
    pub urgent_rounds: usize,
    /// Tasks queued ahead of the urgent one.
    pub backlog: usize,
    /// Messages per channel run.
    pub messages: usize,
    /// How long each idle pool is watched for CPU use.
    pub idle_window: Duration,
    /// Submissions in the overload workload.
    pub overload_tasks: usize,
}

impl Settings {
    /// The full sizes, the ones the published figures use.
    pub fn full(threads: usize, pin: bool) -> Self {
        Self {
            threads,
            pin,
            idle_spin: None,
            rounds: 7,
            spawn_tasks: 1_000_000,
            fib: 30,
            tree_depth: 20,
            idle_samples: 2_000,
            busy_samples: 20_000,
            idle_gap: Duration::from_millis(1),
            batch_tasks: 200_000,
            bursts: 350,
            urgent_rounds: 7,
            backlog: 10_000,
            messages: 1_000_000,
            idle_window: Duration::from_secs(1),
            overload_tasks: 20_000,
        }
    }

    /// Scaled down so the whole run takes well under a minute.
    pub fn quick(threads: usize, pin: bool) -> Self {
        Self {
            rounds: 3,
            spawn_tasks: 100_000,
            fib: 25,
            tree_depth: 16,
            idle_samples: 200,
            busy_samples: 1_000,
            batch_tasks: 20_000,
            bursts: 30,
            urgent_rounds: 3,
            backlog: 2_000,
            messages: 100_000,
            idle_window: Duration::from_millis(250),
            overload_tasks: 2_000,
            ..Self::full(threads, pin)
        }
    }
}

/// Counts tasks down to zero and wakes the one thread waiting for that.
///
/// Every system signals completion the same way, so the wake-up of the
/// waiting thread costs each of them the same.
#[derive(Debug)]
pub struct Countdown {
    remaining: AtomicUsize,
    waiter: Thread,
}

impl Countdown {
    /// A countdown from `n`, waited on by the calling thread. It lives for
    /// the rest of the program (a few bytes per run) so that `'static`
    /// tasks can hold a plain reference to it.
    pub fn leak(n: usize) -> &'static Countdown {
        Box::leak(Box::new(Countdown {
            remaining: AtomicUsize::new(n),
            waiter: thread::current(),
        }))
    }

    /// One task done.
    pub fn hit(&self) {
        // AcqRel: the last task's decrement carries every task's effects to
        // the waiter's Acquire load.
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.waiter.unpark();
        }
    }

    /// Parks until every task is done.
    pub fn wait(&self) {
        while self.remaining.load(Ordering::Acquire) != 0 {
            thread::park();
        }
    }

    /// Parks until every task is done or `timeout` passed; whether all
    /// finished.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.remaining.load(Ordering::Acquire) != 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            thread::park_timeout(deadline - now);
        }
        true
    }
}

/// A fixed amount of CPU work: a dependent chain of multiply-adds that the
/// optimiser cannot fold, sized once against the clock.
#[derive(Debug, Clone, Copy)]
pub struct Work {
    iters_per_us: f64,
}

impl Work {
    /// Measures how many iterations make a microsecond on this machine. The
    /// fastest of several tries is the one least disturbed by other load.
    pub fn calibrate() -> Self {
        const ITERS: u64 = 2_000_000;
        let best = (0..7)
            .map(|_| {
                let start = Instant::now();
                black_box(spin(ITERS));
                start.elapsed()
            })
            .min()
            .unwrap_or(Duration::from_millis(1));
        Self {
            iters_per_us: ITERS as f64 / (best.as_secs_f64() * 1e6).max(1e-9),
        }
    }

    /// Iterations that take about `us` microseconds.
    pub fn iters(&self, us: f64) -> u64 {
        (self.iters_per_us * us).round().max(1.0) as u64
    }
}

/// Runs `iters` iterations of the work loop.
#[inline(never)]
pub fn spin(iters: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..iters {
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
    }
    x
}

/// What one system produced over all rounds.
#[derive(Debug, Clone)]
pub struct Series {
    /// The system's name.
    pub system: &'static str,
    /// Every value measured, in round order.
    pub values: Vec<f64>,
}

impl Series {
    /// The median of the values.
    pub fn median(&self) -> f64 {
        percentile(&self.values, 50.0)
    }
}

/// A named measurement that runs one system once and returns what it
/// measured (one value, or many samples).
pub type Trial<'a> = (&'static str, Box<dyn FnMut() -> Vec<f64> + 'a>);

/// How the A/A twin of a system is named: the system's name and this.
pub const TWIN_SUFFIX: &str = " again";

/// Runs every trial once per round and collects each system's values; see
/// [`alternate_twice`].
pub fn alternate(rounds: usize, trials: &mut [Trial<'_>]) -> Vec<Series> {
    run_rounds(rounds, trials, None)
}

/// Like [`alternate`], with the trial named `subject` run a second time in
/// every round, in a place of its own in the order, and recorded as `twin`:
/// an A/A check. The twin is the same system measured the same way, so how
/// far its figure lands from the subject's shows how much the machine moves
/// a result within one run.
pub fn alternate_twice(
    rounds: usize,
    trials: &mut [Trial<'_>],
    subject: &str,
    twin: &'static str,
) -> Vec<Series> {
    let index = trials
        .iter()
        .position(|(system, _)| *system == subject)
        .expect("the twin's subject is one of the trials");
    run_rounds(rounds, trials, Some((index, twin)))
}

/// The rounds: each starts one place further along the order and every
/// second one walks it backwards, so that no system always goes first or
/// always follows the same neighbour (a pool whose threads are still
/// winding down when the next one starts does not always disturb the same
/// system).
fn run_rounds(
    rounds: usize,
    trials: &mut [Trial<'_>],
    twin: Option<(usize, &'static str)>,
) -> Vec<Series> {
    let mut series: Vec<Series> = trials
        .iter()
        .map(|(system, _)| *system)
        .chain(twin.map(|(_, name)| name))
        .map(|system| Series {
            system,
            values: Vec::new(),
        })
        .collect();
    let slots = series.len();
    for round in 0..rounds {
        for k in 0..slots {
            let step = if round % 2 == 0 { k } else { slots - 1 - k };
            let slot = (round + step) % slots;
            let trial = match twin {
                Some((subject, _)) if slot == trials.len() => subject,
                _ => slot,
            };
            let values = (trials[trial].1)();
            series[slot].values.extend(values);
        }
    }
    series
}

/// The `p`th percentile (0..=100) of `values`, by nearest rank; NaN when
/// there are none.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Milliseconds in `d`.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
