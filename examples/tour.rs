//! A short tour of weftpool's API, printing what each step does.
//!
//! Run it with `cargo run --example tour`.

/// The tour needs real threads; a build with `--cfg loom` has nothing to show.
#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    use weftpool::{Overflow, Pinning, Priority, SpawnError, ThreadPool};

    // 1. Build a pool. Every knob is checked when `build` runs; bad values are
    //    errors, not panics.
    let pool = ThreadPool::builder()
        .threads(2)
        .pinning(Pinning::None)
        .thread_name(|i| format!("tour-{i}"))
        .queue_capacity(64)
        .overflow(Overflow::Block)
        .build()?;
    println!("built a pool of {} workers", pool.current_num_threads());
    match ThreadPool::builder().threads(0).build() {
        Err(e) => println!("a pool of 0 threads is refused: {e}"),
        Ok(_) => unreachable!("zero threads is invalid"),
    }

    // 2. Fire-and-forget tasks, at the default priority and at a chosen one.
    let counter = Arc::new(AtomicUsize::new(0));
    for _ in 0..1000 {
        let counter = counter.clone();
        pool.spawn(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        })?;
    }
    let (tx, rx) = mpsc::channel();
    pool.spawn_with(Priority::High, move || {
        tx.send(std::thread::current().name().map(str::to_owned))
            .unwrap();
    })?;
    println!(
        "spawned 1000 Normal tasks and one High task; the High one ran on {:?}",
        rx.recv()?.unwrap_or_default()
    );

    // 3. Many tasks with one wake-up decision.
    let batch = (0..100).map(|_| {
        let counter = counter.clone();
        move || {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    println!("spawn_batch spawned {} tasks", pool.spawn_batch(batch)?);

    // 4. A task with a result: spawn_handle, then join.
    let handle = pool.spawn_handle(|| (1..=10u64).product::<u64>())?;
    println!("spawn_handle: 10! = {}", handle.join()?);

    // 5. Fork-join: `join` runs two closures, potentially in parallel.
    fn fib(n: u64) -> u64 {
        if n < 2 {
            return n;
        }
        let (a, b) = weftpool::join(|| fib(n - 1), || fib(n - 2));
        a + b
    }
    println!("join: fib(20) = {}", pool.install(|| fib(20)));

    // 6. A scope: tasks may borrow from the caller's stack.
    let words = ["weft", "warp", "shuttle", "loom"];
    let mut lengths = [0usize; 4];
    pool.scope(|s| {
        for (word, len) in words.iter().zip(lengths.iter_mut()) {
            s.spawn(move |_| *len = word.len());
        }
    });
    println!("scope: lengths of {words:?} = {lengths:?}");

    // 7. install: run a closure on a worker and get its value back.
    let where_ = pool.install(weftpool::current_worker_index);
    println!("install: ran on worker {where_:?}");

    // 8. broadcast: once on every worker, results in worker order.
    let names = pool.broadcast(|i| format!("worker {i} is {:?}", std::thread::current().name()))?;
    for line in names {
        println!("broadcast: {line}");
    }

    // 9. A full queue with Overflow::Reject hands the task back.
    let strict = ThreadPool::builder()
        .threads(1)
        .pinning(Pinning::None)
        .queue_capacity(1)
        .overflow(Overflow::Reject)
        .build()?;
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    strict.spawn(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(10));
    })?;
    started_rx.recv()?;
    strict.spawn(|| println!("queued behind the busy worker"))?;
    match strict.spawn(|| println!("Reject: ...and the handed-back task ran on the caller")) {
        Err(SpawnError::Full(task)) => {
            println!("Reject: the queue was full, so the task came back");
            task();
        }
        Err(SpawnError::ShutDown(_)) => unreachable!("the pool is running"),
        Ok(()) => unreachable!("the queue holds one task"),
    }
    release_tx.send(())?;
    strict.shutdown()?;

    // 10. Metrics: a snapshot at any time, also as Prometheus text.
    let metrics = pool.metrics();
    println!(
        "metrics: {} tasks run so far, {} stolen, {} queued",
        metrics.executed(),
        metrics.stolen(),
        metrics.queued()
    );
    let prometheus = metrics.to_prometheus();
    println!("Prometheus text, first lines:");
    for line in prometheus.lines().take(4) {
        println!("    {line}");
    }

    // 11. Shut down: stop admission, run what was admitted, join the workers.
    let report = pool.shutdown()?;
    println!(
        "shutdown: {} tasks run, {} panicked, {} cancelled, timed out: {}, took {:?}",
        report.tasks_run,
        report.tasks_panicked,
        report.tasks_cancelled,
        report.timed_out,
        report.elapsed
    );
    println!(
        "the counter saw {} increments",
        counter.load(Ordering::Relaxed)
    );
    match pool.spawn(|| ()) {
        Err(SpawnError::ShutDown(_)) => println!("after shutdown, spawn hands the task back"),
        _ => unreachable!("the pool is shut down"),
    }
    Ok(())
}
