//! Bounded channel throughput: weftpool's channel beside crossbeam-channel,
//! flume and `std::sync::mpsc::sync_channel`, all with capacity 1024, with one
//! producer and one consumer, then two and two, then one and one again with
//! a consumer that works a little on each value (`CONSUMER_WORK` dependent
//! multiply-adds), so that the producer outpaces it and waits for room.
//!
//! Each iteration moves `MESSAGES` values from the producers to the consumers
//! (each consumer takes an equal share, so no contestant depends on its
//! disconnection rules) and joins all threads. std's receiver cannot be
//! cloned, so its two consumers share it behind a mutex, which is how std
//! users fan out.
//!
//! Run: `cargo bench --bench channel`.

use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};

const CAPACITY: usize = 1024;
const MESSAGES: u64 = 100_000;
/// Multiply-adds a working consumer does per value.
const CONSUMER_WORK: u32 = 16;

/// What the benchmark needs from a channel.
trait Contestant {
    const NAME: &'static str;
    type Tx: Clone + Send + 'static;
    type Rx: Clone + Send + 'static;
    fn make() -> (Self::Tx, Self::Rx);
    fn send(tx: &Self::Tx, value: u64);
    fn recv(rx: &Self::Rx) -> u64;
}

struct Weftpool;

impl Contestant for Weftpool {
    const NAME: &'static str = "weftpool";
    type Tx = weftpool::channel::Sender<u64>;
    type Rx = weftpool::channel::Receiver<u64>;
    fn make() -> (Self::Tx, Self::Rx) {
        weftpool::channel::bounded(CAPACITY).unwrap()
    }
    fn send(tx: &Self::Tx, value: u64) {
        tx.send(value).unwrap();
    }
    fn recv(rx: &Self::Rx) -> u64 {
        rx.recv().unwrap()
    }
}

struct Crossbeam;

impl Contestant for Crossbeam {
    const NAME: &'static str = "crossbeam-channel";
    type Tx = crossbeam_channel::Sender<u64>;
    type Rx = crossbeam_channel::Receiver<u64>;
    fn make() -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(CAPACITY)
    }
    fn send(tx: &Self::Tx, value: u64) {
        tx.send(value).unwrap();
    }
    fn recv(rx: &Self::Rx) -> u64 {
        rx.recv().unwrap()
    }
}

struct Flume;

impl Contestant for Flume {
    const NAME: &'static str = "flume";
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn make() -> (Self::Tx, Self::Rx) {
        flume::bounded(CAPACITY)
    }
    fn send(tx: &Self::Tx, value: u64) {
        tx.send(value).unwrap();
    }
    fn recv(rx: &Self::Rx) -> u64 {
        rx.recv().unwrap()
    }
}

struct StdSync;

impl Contestant for StdSync {
    const NAME: &'static str = "std-sync_channel";
    type Tx = mpsc::SyncSender<u64>;
    type Rx = Arc<Mutex<mpsc::Receiver<u64>>>;
    fn make() -> (Self::Tx, Self::Rx) {
        let (tx, rx) = mpsc::sync_channel(CAPACITY);
        (tx, Arc::new(Mutex::new(rx)))
    }
    fn send(tx: &Self::Tx, value: u64) {
        tx.send(value).unwrap();
    }
    fn recv(rx: &Self::Rx) -> u64 {
        rx.lock().unwrap().recv().unwrap()
    }
}

/// What a consumer does with each value: `work` dependent multiply-adds.
fn consume(work: u32, value: u64) -> u64 {
    (0..work).fold(value, |x, i| {
        std::hint::black_box(
            x.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(u64::from(i)),
        )
    })
}

/// Moves `MESSAGES` values through a fresh channel with `pairs` producers
/// and `pairs` consumers, each consumer doing `work` per value; returns a
/// checksum so nothing is optimised away.
fn run<C: Contestant>(pairs: u64, work: u32) -> u64 {
    let (tx, rx) = C::make();
    let per_thread = MESSAGES / pairs;
    let producers: Vec<_> = (0..pairs)
        .map(|_| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..per_thread {
                    C::send(&tx, i);
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..pairs)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || {
                (0..per_thread)
                    .map(|_| consume(work, C::recv(&rx)))
                    .fold(0u64, u64::wrapping_add)
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    consumers
        .into_iter()
        .map(|c| c.join().unwrap())
        .fold(0u64, u64::wrapping_add)
}

fn contest<C: Contestant>(group: &mut BenchmarkGroup<'_, WallTime>, pairs: u64, work: u32) {
    group.bench_function(BenchmarkId::from_parameter(C::NAME), |b| {
        b.iter(|| run::<C>(pairs, work))
    });
}

fn channels(c: &mut Criterion) {
    let setups = [
        ("channel_bounded_1p1c", 1, 0),
        ("channel_bounded_2p2c", 2, 0),
        ("channel_bounded_1p1c_working_consumer", 1, CONSUMER_WORK),
    ];
    for (name, pairs, work) in setups {
        let mut group = c.benchmark_group(name);
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .throughput(Throughput::Elements(MESSAGES));
        contest::<Weftpool>(&mut group, pairs, work);
        contest::<Crossbeam>(&mut group, pairs, work);
        contest::<Flume>(&mut group, pairs, work);
        contest::<StdSync>(&mut group, pairs, work);
        group.finish();
    }
}

criterion_group!(benches, channels);
criterion_main!(benches);
