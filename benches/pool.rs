//! Criterion benches for the pool beside its peers, for regression
//! tracking. They run the shoot-out's workloads (the same code, from
//! `examples/shootout/`) at the shoot-out's quick sizes, with few samples, so
//! that `cargo bench --bench pool` takes a few minutes.
//!
//! Latency benches measure at most a bounded number of samples per call and
//! scale the mean to the iterations criterion asked for: an idle sample costs
//! a millisecond of pause that criterion does not see, and letting it pick the
//! count from the latency alone would run for minutes.

#[cfg(not(loom))]
#[allow(dead_code)]
#[path = "../examples/shootout/batch.rs"]
mod batch;
#[cfg(not(loom))]
#[allow(dead_code)]
#[path = "../examples/shootout/channel.rs"]
mod channel;
#[cfg(not(loom))]
#[allow(dead_code)]
#[path = "../examples/shootout/common.rs"]
mod common;
#[cfg(not(loom))]
#[allow(dead_code)]
#[path = "../examples/shootout/forkjoin.rs"]
mod forkjoin;
#[cfg(not(loom))]
#[allow(dead_code)]
#[path = "../examples/shootout/latency.rs"]
mod latency;
#[cfg(not(loom))]
#[allow(dead_code)]
#[path = "../examples/shootout/resources.rs"]
mod resources;
#[cfg(not(loom))]
#[allow(dead_code)]
#[path = "../examples/shootout/spawn.rs"]
mod spawn;
#[cfg(not(loom))]
#[allow(dead_code)]
#[path = "../examples/shootout/systems.rs"]
mod systems;
#[cfg(not(loom))]
#[allow(dead_code)]
#[path = "../examples/shootout/urgent.rs"]
mod urgent;

/// The benches; they need real threads, so not under `--cfg loom`.
#[cfg(not(loom))]
mod suite {
    use std::time::{Duration, Instant};

    use criterion::measurement::WallTime;
    use criterion::{BenchmarkGroup, Criterion, SamplingMode};

    use crate::common::{Settings, Work};
    use crate::latency::{Pace, Split};
    use crate::systems::{Executors, Pool, Rayon, StdThread, Threadpool, Weft};
    use crate::{batch, channel, forkjoin, latency, resources, spawn, urgent};

    /// The shoot-out's quick sizes on every CPU.
    fn settings() -> Settings {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Settings::quick(threads, false)
    }

    /// A group with few samples and short windows.
    fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
        let mut g = c.benchmark_group(name);
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        g
    }

    /// Runs `once` `iters` times and adds up what it measured.
    fn total(iters: u64, mut once: impl FnMut() -> Duration) -> Duration {
        (0..iters).map(|_| once()).sum()
    }

    /// The mean of at most `cap` samples (in ns), scaled to `iters`.
    fn scaled(iters: u64, cap: u64, sample: impl FnOnce(usize) -> Vec<f64>) -> Duration {
        let n = iters.min(cap).max(1) as usize;
        let samples = sample(n);
        let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
        Duration::from_nanos((mean * iters as f64) as u64)
    }

    fn spawn_benches(c: &mut Criterion) {
        let s = &settings();
        let n = s.spawn_tasks;
        let mut g = group(c, "external_spawn");
        g.bench_function(Weft::NAME, |b| {
            b.iter_custom(|i| total(i, || spawn::external::<Weft>(s, n)))
        });
        g.bench_function(Rayon::NAME, |b| {
            b.iter_custom(|i| total(i, || spawn::external::<Rayon>(s, n)))
        });
        g.bench_function(Executors::NAME, |b| {
            b.iter_custom(|i| total(i, || spawn::external::<Executors>(s, n)))
        });
        g.bench_function(Threadpool::NAME, |b| {
            b.iter_custom(|i| total(i, || spawn::external::<Threadpool>(s, n)))
        });
        g.finish();

        let mut g = group(c, "internal_spawn");
        g.bench_function(Weft::NAME, |b| {
            b.iter_custom(|i| total(i, || spawn::internal_weft(s, n)))
        });
        g.bench_function(Rayon::NAME, |b| {
            b.iter_custom(|i| total(i, || spawn::internal_rayon(s, n)))
        });
        g.bench_function(Executors::NAME, |b| {
            b.iter_custom(|i| total(i, || spawn::internal_executors(s, n)))
        });
        g.bench_function(Threadpool::NAME, |b| {
            b.iter_custom(|i| total(i, || spawn::internal_threadpool(s, n)))
        });
        g.finish();
    }

    fn forkjoin_benches(c: &mut Criterion) {
        let s = &settings();
        let n = s.fib;
        let expect = forkjoin::fib_seq(n);
        let mut g = group(c, "fib");
        for system in forkjoin::SYSTEMS {
            g.bench_function(system, |b| {
                b.iter_custom(|i| total(i, || forkjoin::fib_on(system, s, n, expect)))
            });
        }
        g.finish();

        let tree = forkjoin::Node::tree(s.tree_depth);
        let expect = (1u64 << s.tree_depth) - 1;
        let mut g = group(c, "tree_sum");
        for system in forkjoin::SYSTEMS {
            g.bench_function(system, |b| {
                b.iter_custom(|i| total(i, || forkjoin::tree_on(system, s, &tree, expect)))
            });
        }
        g.finish();
    }

    fn latency_benches(c: &mut Criterion) {
        let s = &settings();
        // The split is the shoot-out's note; here it only collects idle samples.
        let split = &Split::default();
        let idle = Pace::Idle(s.idle_gap);
        let mut g = group(c, "idle_dispatch_latency");
        g.bench_function(Weft::NAME, |b| {
            b.iter_custom(|i| scaled(i, 50, |n| latency::pool_latency::<Weft>(s, n, idle, split)))
        });
        g.bench_function(Rayon::NAME, |b| {
            b.iter_custom(|i| scaled(i, 50, |n| latency::pool_latency::<Rayon>(s, n, idle, split)))
        });
        g.bench_function(Executors::NAME, |b| {
            b.iter_custom(|i| {
                scaled(i, 50, |n| {
                    latency::pool_latency::<Executors>(s, n, idle, split)
                })
            })
        });
        g.bench_function(Threadpool::NAME, |b| {
            b.iter_custom(|i| {
                scaled(i, 50, |n| {
                    latency::pool_latency::<Threadpool>(s, n, idle, split)
                })
            })
        });
        g.bench_function(StdThread::NAME, |b| {
            b.iter_custom(|i| {
                scaled(i, 50, |n| {
                    latency::pool_latency::<StdThread>(s, n, idle, split)
                })
            })
        });
        g.bench_function("park_unpark_floor", |b| {
            b.iter_custom(|i| scaled(i, 50, |n| latency::floor_latency(n, idle, false, split)))
        });
        g.finish();

        let busy = Pace::Busy;
        let mut g = group(c, "busy_dispatch_latency");
        g.bench_function(Weft::NAME, |b| {
            b.iter_custom(|i| {
                scaled(i, 2000, |n| {
                    latency::pool_latency::<Weft>(s, n, busy, split)
                })
            })
        });
        g.bench_function(Rayon::NAME, |b| {
            b.iter_custom(|i| {
                scaled(i, 2000, |n| {
                    latency::pool_latency::<Rayon>(s, n, busy, split)
                })
            })
        });
        g.bench_function(Executors::NAME, |b| {
            b.iter_custom(|i| {
                scaled(i, 2000, |n| {
                    latency::pool_latency::<Executors>(s, n, busy, split)
                })
            })
        });
        g.bench_function(Threadpool::NAME, |b| {
            b.iter_custom(|i| {
                scaled(i, 2000, |n| {
                    latency::pool_latency::<Threadpool>(s, n, busy, split)
                })
            })
        });
        g.bench_function("spin_floor", |b| {
            b.iter_custom(|i| scaled(i, 2000, |n| latency::floor_latency(n, busy, true, split)))
        });
        g.finish();
    }

    fn batch_benches(c: &mut Criterion, work: Work) {
        let s = &settings();
        let n = s.batch_tasks;
        let iters = work.iters(batch::TASK_US);
        let mut g = group(c, "batch_1us");
        g.bench_function(forkjoin::SEQUENTIAL, |b| {
            b.iter_custom(|i| total(i, || batch::sequential(n, iters)))
        });
        g.bench_function("weftpool_spawn_batch", |b| {
            b.iter_custom(|i| total(i, || batch::weft_batch(s, n, iters).wall))
        });
        g.bench_function("weftpool_spawn", |b| {
            b.iter_custom(|i| total(i, || batch::single::<Weft>(s, n, iters).wall))
        });
        g.bench_function(Rayon::NAME, |b| {
            b.iter_custom(|i| total(i, || batch::single::<Rayon>(s, n, iters).wall))
        });
        g.bench_function(Executors::NAME, |b| {
            b.iter_custom(|i| total(i, || batch::single::<Executors>(s, n, iters).wall))
        });
        g.bench_function(Threadpool::NAME, |b| {
            b.iter_custom(|i| total(i, || batch::single::<Threadpool>(s, n, iters).wall))
        });
        g.finish();
    }

    fn urgent_benches(c: &mut Criterion, work: Work) {
        let s = &settings();
        let mut g = group(c, "urgent_behind_backlog");
        let one = |i: u64, ns: f64| Duration::from_nanos((ns * i as f64) as u64);
        g.bench_function(Weft::NAME, |b| {
            b.iter_custom(|i| one(i, urgent::urgent::<Weft>(s, work)))
        });
        g.bench_function(Rayon::NAME, |b| {
            b.iter_custom(|i| one(i, urgent::urgent::<Rayon>(s, work)))
        });
        g.bench_function(Executors::NAME, |b| {
            b.iter_custom(|i| one(i, urgent::urgent::<Executors>(s, work)))
        });
        g.bench_function(Threadpool::NAME, |b| {
            b.iter_custom(|i| one(i, urgent::urgent::<Threadpool>(s, work)))
        });
        g.finish();
    }

    fn channel_benches(c: &mut Criterion, work: Work) {
        use channel::{throughput, throughput_std, Channel, Crossbeam, Flume, Weft};
        let m = settings().messages;
        let working = work.iters(channel::CONSUMER_WORK_US);
        let setups = [
            ("channel_1p1c", 1, 1, 0),
            ("channel_2p2c", 2, 2, 0),
            ("channel_1p1c_working_consumer", 1, 1, working),
        ];
        for (name, p, k, iters) in setups {
            let mut g = group(c, name);
            g.bench_function(Weft::NAME, |b| {
                b.iter_custom(|i| total(i, || throughput::<Weft>(p, k, m, iters)))
            });
            g.bench_function(Crossbeam::NAME, |b| {
                b.iter_custom(|i| total(i, || throughput::<Crossbeam>(p, k, m, iters)))
            });
            g.bench_function(Flume::NAME, |b| {
                b.iter_custom(|i| total(i, || throughput::<Flume>(p, k, m, iters)))
            });
            if k == 1 {
                g.bench_function("std", |b| {
                    b.iter_custom(|i| total(i, || throughput_std(p, m, iters)))
                });
            }
            g.finish();
        }
    }

    /// CPU time an idle pool uses per second, measured over a 200 ms window.
    fn idle_cpu_per_second<P: Pool>(s: &Settings) -> Duration {
        let percent = resources::idle_cpu(Duration::from_millis(200), || {
            resources::Warm::<P>::start(s)
        });
        Duration::from_secs_f64(percent / 100.0)
    }

    fn resource_benches(c: &mut Criterion, work: Work) {
        let s = &settings();
        // The "time" is CPU time used per second of idleness: bounded samples,
        // scaled like the latency benches (each takes 300 ms of wall time).
        let mut g = group(c, "idle_cpu_per_second");
        let scale = |i: u64, d: Duration| d * u32::try_from(i).unwrap_or(u32::MAX);
        g.bench_function(Weft::NAME, |b| {
            b.iter_custom(|i| scale(i, idle_cpu_per_second::<Weft>(s)))
        });
        g.bench_function(Rayon::NAME, |b| {
            b.iter_custom(|i| scale(i, idle_cpu_per_second::<Rayon>(s)))
        });
        g.bench_function(Executors::NAME, |b| {
            b.iter_custom(|i| scale(i, idle_cpu_per_second::<Executors>(s)))
        });
        g.bench_function(Threadpool::NAME, |b| {
            b.iter_custom(|i| scale(i, idle_cpu_per_second::<Threadpool>(s)))
        });
        g.finish();

        // Peak memory is the shoot-out's job; here the time to get through an
        // overload, which regresses if backpressure starts to stall.
        let mut g = group(c, "overload");
        let time = |o: resources::Overload| o.total;
        g.bench_function("weftpool_block", |b| {
            b.iter_custom(|i| {
                total(i, || {
                    time(resources::overload_weft(s, work, weftpool::Overflow::Block))
                })
            })
        });
        g.bench_function("weftpool_reject", |b| {
            b.iter_custom(|i| {
                total(i, || {
                    time(resources::overload_weft(
                        s,
                        work,
                        weftpool::Overflow::Reject,
                    ))
                })
            })
        });
        g.bench_function(Rayon::NAME, |b| {
            b.iter_custom(|i| total(i, || time(resources::overload_pool::<Rayon>(s, work))))
        });
        g.finish();
    }

    /// Every group, in the shoot-out's order.
    pub fn benches(c: &mut Criterion) {
        let started = Instant::now();
        let work = Work::calibrate();
        spawn_benches(c);
        forkjoin_benches(c);
        latency_benches(c);
        batch_benches(c, work);
        urgent_benches(c, work);
        channel_benches(c, work);
        resource_benches(c, work);
        eprintln!("pool benches took {:.0} s", started.elapsed().as_secs_f64());
    }
}

#[cfg(not(loom))]
criterion::criterion_group!(pool, suite::benches);
#[cfg(not(loom))]
criterion::criterion_main!(pool);

/// Nothing to measure under `--cfg loom`.
#[cfg(loom)]
fn main() {}
