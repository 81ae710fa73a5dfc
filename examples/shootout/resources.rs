//! What a pool costs when it has nothing to do (CPU time while idle) and
//! when it is offered far more than it can run (peak memory).

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{spin, Countdown, Settings, Work};
use crate::forkjoin::CHILI;
use crate::systems::{chili_pool, weft_builder, Executors, Pool, Rayon, Threadpool, Weft};

/// CPU time (user + system) used by the whole process so far, exited
/// threads included.
pub fn process_cpu_time() -> Duration {
    cpu_time(libc::RUSAGE_SELF)
}

/// CPU time (user + system) used by the calling thread so far.
pub fn thread_cpu_time() -> Duration {
    cpu_time(libc::RUSAGE_THREAD)
}

fn cpu_time(who: libc::c_int) -> Duration {
    // SAFETY: `getrusage` only writes the struct we hand it; all-zero is a
    // valid `rusage`.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(who, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// How long an idle pool may search before it is expected to sleep.
const SETTLE: Duration = Duration::from_millis(100);

/// CPU used per second of wall time, in % of one core, while the system
/// started by `start` sits idle and the calling thread sleeps.
pub fn idle_cpu<G>(window: Duration, start: impl FnOnce() -> G) -> f64 {
    let guard = start();
    thread::sleep(SETTLE);
    let cpu0 = process_cpu_time();
    let wall0 = Instant::now();
    thread::sleep(window);
    let cpu = process_cpu_time().saturating_sub(cpu0);
    let wall = wall0.elapsed();
    drop(guard);
    cpu.as_secs_f64() / wall.as_secs_f64() * 100.0
}

/// Starts `P`, runs a few tasks to wake every worker, and keeps it alive
/// until dropped.
pub struct Warm<P: Pool>(Option<P>);

impl<P: Pool> Warm<P> {
    /// A started pool that has just finished a burst of work.
    pub fn start(settings: &Settings) -> Self {
        let pool = P::start(settings);
        let done = Countdown::leak(1000);
        for _ in 0..1000 {
            pool.spawn(move || done.hit());
        }
        done.wait();
        Warm(Some(pool))
    }
}

impl<P: Pool> Drop for Warm<P> {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            pool.finish();
        }
    }
}

/// A chili pool after one fork-join.
fn warm_chili(settings: &Settings) -> chili::ThreadPool {
    let pool = chili_pool(settings);
    let mut scope = pool.scope();
    black_box(scope.join(|_| 1, |_| 2));
    drop(scope);
    pool
}

/// Idle CPU of every system, `rounds` times each, alternating; % of a core.
pub fn run_idle(settings: &Settings, rounds: usize) -> Vec<crate::common::Series> {
    let s = settings;
    let w = settings.idle_window;
    let mut trials: Vec<crate::common::Trial<'_>> = vec![
        (
            Weft::NAME,
            Box::new(move || vec![idle_cpu(w, || Warm::<Weft>::start(s))]),
        ),
        (
            Rayon::NAME,
            Box::new(move || vec![idle_cpu(w, || Warm::<Rayon>::start(s))]),
        ),
        (CHILI, Box::new(move || vec![idle_cpu(w, || warm_chili(s))])),
        (
            Executors::NAME,
            Box::new(move || vec![idle_cpu(w, || Warm::<Executors>::start(s))]),
        ),
        (
            Threadpool::NAME,
            Box::new(move || vec![idle_cpu(w, || Warm::<Threadpool>::start(s))]),
        ),
    ];
    crate::common::alternate(rounds, &mut trials)
}

/// A line of `/proc/self/status`, in kB.
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resets the peak-RSS mark to the current RSS; whether the kernel allowed
/// it. Freed heap is first returned to the system so that one run's
/// leftovers do not hide the next run's growth.
fn reset_peak() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases free heap pages.
    unsafe {
        libc::malloc_trim(0);
    }
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Bytes each overload task carries.
pub const PAYLOAD: usize = 4096;
/// Microseconds of work in each overload task.
pub const OVERLOAD_TASK_US: f64 = 200.0;
/// The weftpool injector capacity in the overload workload.
pub const OVERLOAD_QUEUE: usize = 1024;

/// What one overload run saw.
#[derive(Debug, Clone, Copy)]
pub struct Overload {
    /// Peak RSS above the RSS at the start, in MB.
    pub peak_growth_mb: f64,
    /// Tasks that ran.
    pub executed: usize,
    /// Tasks handed back by the pool.
    pub rejected: usize,
    /// Tasks neither run nor handed back.
    pub lost: usize,
    /// Time to submit every task.
    pub submit: Duration,
    /// Time until the last task ran.
    pub total: Duration,
}

/// How an overload run submits one task; `Err` hands it back.
type Submit<'a> = dyn FnMut(Box<dyn FnOnce() + Send>) -> Result<(), Box<dyn FnOnce() + Send>> + 'a;

/// Submits `n` tasks, each holding `PAYLOAD` bytes and running 200 µs, as
/// fast as `submit` takes them, and measures the peak memory.
fn overload_with(n: usize, work: Work, submit: &mut Submit<'_>) -> Overload {
    let iters = work.iters(OVERLOAD_TASK_US);
    let peak_resettable = reset_peak();
    let base = status_kb("VmRSS").unwrap_or(0);
    let done = Countdown::leak(n);
    let executed: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let mut rejected = 0;
    let start = Instant::now();
    for _ in 0..n {
        let payload = vec![1u8; PAYLOAD];
        let task: Box<dyn FnOnce() + Send> = Box::new(move || {
            black_box(payload.iter().map(|&b| u64::from(b)).sum::<u64>());
            black_box(spin(iters));
            // Relaxed: the countdown's AcqRel publishes it.
            executed.fetch_add(1, Ordering::Relaxed);
            done.hit();
        });
        if let Err(task) = submit(task) {
            drop(task);
            rejected += 1;
            done.hit();
        }
    }
    let submit_time = start.elapsed();
    // A task neither run nor handed back would hang this wait; it is
    // bounded so that such a loss is reported instead.
    done.wait_timeout(Duration::from_secs(60));
    let total = start.elapsed();
    let peak = if peak_resettable {
        status_kb("VmHWM").unwrap_or(0)
    } else {
        status_kb("VmRSS").unwrap_or(0)
    };
    let executed = executed.load(Ordering::Relaxed);
    Overload {
        peak_growth_mb: peak.saturating_sub(base) as f64 / 1024.0,
        executed,
        rejected,
        lost: n - executed - rejected,
        submit: submit_time,
        total,
    }
}

/// Overload on a weftpool with a small injector and the given policy.
pub fn overload_weft(settings: &Settings, work: Work, policy: weftpool::Overflow) -> Overload {
    let pool = weft_builder(settings)
        .queue_capacity(OVERLOAD_QUEUE)
        .overflow(policy)
        .build()
        .expect("weftpool refused the overload settings");
    let out = overload_with(settings.overload_tasks, work, &mut |task| {
        pool.spawn(task).map_err(|e| e.into_inner())
    });
    let _ = pool.shutdown();
    out
}

/// Overload on a pool with an unbounded queue.
pub fn overload_pool<P: Pool>(settings: &Settings, work: Work) -> Overload {
    let pool = P::start(settings);
    let out = overload_with(settings.overload_tasks, work, &mut |task| {
        pool.spawn(task);
        Ok(())
    });
    pool.finish();
    out
}

/// weftpool under Block.
pub const WEFT_BLOCK: &str = "weftpool Block";
/// weftpool under Reject.
pub const WEFT_REJECT: &str = "weftpool Reject";
/// Every system under overload with `n` submissions, once each.
pub fn run_overload(settings: &Settings, work: Work, n: usize) -> Vec<(&'static str, Overload)> {
    use weftpool::Overflow;
    let s = &Settings {
        overload_tasks: n,
        ..settings.clone()
    };
    vec![
        (WEFT_BLOCK, overload_weft(s, work, Overflow::Block)),
        (WEFT_REJECT, overload_weft(s, work, Overflow::Reject)),
        (Rayon::NAME, overload_pool::<Rayon>(s, work)),
        (Executors::NAME, overload_pool::<Executors>(s, work)),
        (Threadpool::NAME, overload_pool::<Threadpool>(s, work)),
    ]
}
