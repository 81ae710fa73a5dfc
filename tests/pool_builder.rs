//! The builder: every validation error, the thread hooks, names, stack size,
//! custom topologies and the idle settings.
// Real threads and the free functions: not built under loom.
#![cfg(not(loom))]

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use support::{bounded, builder, eventually, HANG};
use weftpool::error::PlacementError;
use weftpool::topology::MachineShape;
use weftpool::{
    BuildError, CapacityError, Pinning, ThreadPool, Topology, MAX_THREADS, MIN_STACK_SIZE,
};

fn err(b: weftpool::ThreadPoolBuilder) -> BuildError {
    b.build().expect_err("the builder should refuse")
}

#[test]
fn zero_threads_is_refused() {
    let e = err(builder(0));
    assert!(matches!(e, BuildError::ZeroThreads), "{e:?}");
    assert_eq!(e.to_string(), "a pool needs at least one thread, got 0");
}

#[test]
fn too_many_threads_is_refused() {
    let e = err(builder(MAX_THREADS + 1));
    match e {
        BuildError::TooManyThreads { requested, max } => {
            assert_eq!((requested, max), (MAX_THREADS + 1, MAX_THREADS));
        }
        other => panic!("expected TooManyThreads, got {other:?}"),
    }
}

#[test]
fn invalid_queue_capacities_are_refused() {
    let e = err(builder(1).queue_capacity(0));
    assert!(
        matches!(e, BuildError::QueueCapacity(CapacityError::Zero)),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "invalid queue_capacity: capacity must be at least 1, got 0"
    );
    let e = err(builder(1).queue_capacity(usize::MAX));
    assert!(
        matches!(
            e,
            BuildError::QueueCapacity(CapacityError::TooLarge {
                requested: usize::MAX,
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn invalid_deque_capacities_are_refused() {
    let e = err(builder(1).deque_capacity(0));
    assert!(
        matches!(e, BuildError::DequeCapacity(CapacityError::Zero)),
        "{e:?}"
    );
    let e = err(builder(1).deque_capacity(3));
    assert!(
        matches!(
            e,
            BuildError::DequeCapacity(CapacityError::NotPowerOfTwo(3))
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "invalid deque_capacity: capacity must be a power of two, got 3"
    );
    let e = err(builder(1).deque_capacity(1000));
    assert!(
        matches!(
            e,
            BuildError::DequeCapacity(CapacityError::NotPowerOfTwo(1000))
        ),
        "{e:?}"
    );
}

#[test]
fn a_zero_starvation_limit_is_refused() {
    let e = err(builder(1).starvation_limit(0));
    assert!(matches!(e, BuildError::ZeroStarvationLimit), "{e:?}");
}

#[test]
fn a_tiny_stack_is_refused() {
    let e = err(builder(1).stack_size(1024));
    match e {
        BuildError::StackTooSmall { requested, min } => {
            assert_eq!((requested, min), (1024, MIN_STACK_SIZE));
        }
        other => panic!("expected StackTooSmall, got {other:?}"),
    }
    let e = err(builder(1).stack_size(MIN_STACK_SIZE - 1));
    assert!(matches!(e, BuildError::StackTooSmall { .. }), "{e:?}");
}

#[test]
fn impossible_placements_are_refused() {
    let e = err(ThreadPool::builder().pinning(Pinning::Cpus(vec![99999])));
    assert!(
        matches!(
            e,
            BuildError::Placement(PlacementError::CpuNotAllowed { cpu: 99999, .. })
        ),
        "{e:?}"
    );
    let e = err(ThreadPool::builder().pinning(Pinning::NumaNode(999)));
    assert!(
        matches!(
            e,
            BuildError::Placement(PlacementError::UnknownNumaNode { node: 999, .. })
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("impossible pinning: NUMA node 999"),
        "{e}"
    );
    let e = err(ThreadPool::builder()
        .threads(2)
        .pinning(Pinning::Cpus(vec![0])));
    assert!(
        matches!(
            e,
            BuildError::Placement(PlacementError::CpuCountMismatch {
                workers: 2,
                cpus: 1
            })
        ),
        "{e:?}"
    );
    let allowed = Topology::detect().allowed_cpus().to_vec();
    let e = err(ThreadPool::builder().pinning(Pinning::Cpus(vec![allowed[0], allowed[0]])));
    assert!(
        matches!(e, BuildError::Placement(PlacementError::DuplicateCpu(c)) if c == allowed[0]),
        "{e:?}"
    );
}

#[test]
fn a_refused_build_starts_no_thread() {
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let e = err(builder(2).deque_capacity(3).on_thread_start(move |_| {
        s.fetch_add(1, Ordering::SeqCst);
    }));
    assert!(matches!(e, BuildError::DequeCapacity(_)));
    thread::sleep(Duration::from_millis(20));
    assert_eq!(started.load(Ordering::SeqCst), 0);
}

#[test]
fn thread_names_and_hooks_are_called_once_per_worker() {
    bounded(|| {
        let starts = Arc::new(Mutex::new(BTreeMap::new()));
        let exits = Arc::new(Mutex::new(Vec::new()));
        let (s, e) = (starts.clone(), exits.clone());
        let pool = builder(3)
            .thread_name(|i| format!("hooked-{i}"))
            .on_thread_start(move |i| {
                let name = thread::current().name().map(str::to_owned);
                assert!(s.lock().unwrap().insert(i, name).is_none());
            })
            .on_thread_exit(move |i| {
                assert_eq!(weftpool::current_worker_index(), Some(i));
                e.lock().unwrap().push(i);
            })
            .build()
            .unwrap();
        assert!(eventually(HANG, || starts.lock().unwrap().len() == 3));
        let expected: BTreeMap<usize, Option<String>> =
            (0..3).map(|i| (i, Some(format!("hooked-{i}")))).collect();
        assert_eq!(*starts.lock().unwrap(), expected);
        assert!(exits.lock().unwrap().is_empty());
        pool.shutdown().unwrap();
        let mut exits = exits.lock().unwrap().clone();
        exits.sort();
        assert_eq!(exits, vec![0, 1, 2]);
    });
}

#[test]
fn default_thread_names_carry_the_index() {
    bounded(|| {
        let pool = builder(2).build().unwrap();
        let names = pool
            .broadcast(|_| thread::current().name().map(str::to_owned))
            .unwrap();
        assert_eq!(
            names,
            vec![Some("weftpool-0".to_owned()), Some("weftpool-1".to_owned())]
        );
    });
}

/// Recurses `depth` times with about 4 KiB of stack per frame.
fn deep(depth: usize) -> usize {
    let frame = std::hint::black_box([1u8; 4096]);
    if depth == 0 {
        return 0;
    }
    std::hint::black_box(deep(depth - 1)) + usize::from(frame[4095])
}

#[test]
fn a_large_stack_size_is_honoured() {
    bounded(|| {
        // About 24 MiB of recursion: far beyond a default 2 MiB thread stack.
        let pool = builder(1).stack_size(64 << 20).build().unwrap();
        let depth = pool.spawn_handle(|| deep(6000)).unwrap().join().unwrap();
        assert_eq!(depth, 6000);
    });
}

#[test]
fn the_smallest_stack_accepted_can_run_a_task() {
    bounded(|| {
        let pool = builder(1).stack_size(MIN_STACK_SIZE).build().unwrap();
        assert_eq!(pool.spawn_handle(|| 1 + 1).unwrap().join().unwrap(), 2);
        pool.shutdown().unwrap();
    });
}

#[test]
fn pinning_to_an_allowed_cpu_builds_one_worker_per_listed_cpu() {
    bounded(|| {
        let allowed = Topology::detect().allowed_cpus().to_vec();
        let pool = ThreadPool::builder()
            .pinning(Pinning::Cpus(vec![allowed[0]]))
            .build()
            .unwrap();
        assert_eq!(pool.current_num_threads(), 1);
        assert_eq!(pool.install(|| 7), 7);
    });
}

#[test]
fn a_described_topology_sets_the_default_worker_count() {
    bounded(|| {
        let topology = Topology::builder()
            .symmetric(MachineShape {
                packages: 1,
                numa_nodes_per_package: 1,
                cores_per_numa_node: 3,
                threads_per_core: 1,
            })
            .build()
            .unwrap();
        let pool = ThreadPool::builder()
            .topology(topology)
            .pinning(Pinning::None)
            .build()
            .unwrap();
        assert_eq!(pool.current_num_threads(), 3);
        assert_eq!(pool.broadcast(|i| i).unwrap(), vec![0, 1, 2]);
    });
}

#[test]
fn a_builder_can_be_cloned_and_built_twice() {
    bounded(|| {
        let b = builder(2).queue_capacity(64).starvation_limit(3);
        let text = format!("{b:?}");
        assert!(text.contains("queue_capacity: 64"), "{text}");
        let one = b.clone().build().unwrap();
        let two = b.build().unwrap();
        assert_eq!(one.install(|| 1) + two.install(|| 2), 3);
    });
}

#[test]
fn zero_idle_spin_and_never_sleep_both_run_everything() {
    bounded(|| {
        for b in [
            builder(2).idle_spin(Duration::ZERO),
            builder(2).never_sleep(),
        ] {
            let pool = b.build().unwrap();
            let count = Arc::new(AtomicUsize::new(0));
            for _ in 0..10_000 {
                let c = count.clone();
                pool.spawn(move || {
                    c.fetch_add(1, Ordering::Relaxed);
                })
                .unwrap();
            }
            let report = pool.shutdown().unwrap();
            assert_eq!(count.load(Ordering::Relaxed), 10_000);
            assert_eq!(report.tasks_run, 10_000);
        }
    });
}
