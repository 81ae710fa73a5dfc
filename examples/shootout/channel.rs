//! Bounded channel throughput: producers send `u64`s through a channel of
//! capacity 1024 to consumers, until every message arrived. Once with
//! consumers that only count, and once with a consumer that works a little
//! on each message, so that the producer outpaces it and the channel stays
//! near full: the backpressure a bounded channel is there for.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::common::{alternate_twice, ms, spin, Series, Settings, Trial, Work};
use crate::forkjoin::SEQUENTIAL;

/// The capacity of every channel.
pub const CAPACITY: usize = 1024;
/// Microseconds of work a working consumer spends on each message.
pub const CONSUMER_WORK_US: f64 = 0.05;

/// A bounded multi-producer multi-consumer channel of `u64`.
pub trait Channel {
    /// The name in tables and plots.
    const NAME: &'static str;
    /// The sending half.
    type Tx: Clone + Send;
    /// The receiving half.
    type Rx: Clone + Send;
    /// A channel holding at most `cap` messages.
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx);
    /// Sends, waiting for room.
    fn send(tx: &Self::Tx, v: u64);
    /// Receives, waiting for a message; `None` once every sender is gone.
    fn recv(rx: &Self::Rx) -> Option<u64>;
}

/// weftpool's channel.
pub struct Weft;

impl Channel for Weft {
    const NAME: &'static str = "weftpool";
    type Tx = weftpool::channel::Sender<u64>;
    type Rx = weftpool::channel::Receiver<u64>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        weftpool::channel::bounded(cap).expect("valid capacity")
    }
    fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).expect("a receiver is alive");
    }
    fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

/// crossbeam-channel.
pub struct Crossbeam;

impl Channel for Crossbeam {
    const NAME: &'static str = "crossbeam-channel";
    type Tx = crossbeam_channel::Sender<u64>;
    type Rx = crossbeam_channel::Receiver<u64>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(cap)
    }
    fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).expect("a receiver is alive");
    }
    fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

/// flume.
pub struct Flume;

impl Channel for Flume {
    const NAME: &'static str = "flume";
    type Tx = flume::Sender<u64>;
    type Rx = flume::Receiver<u64>;
    fn bounded(cap: usize) -> (Self::Tx, Self::Rx) {
        flume::bounded(cap)
    }
    fn send(tx: &Self::Tx, v: u64) {
        tx.send(v).expect("a receiver is alive");
    }
    fn recv(rx: &Self::Rx) -> Option<u64> {
        rx.recv().ok()
    }
}

/// What a consumer does with each message: nothing, or `iters` of work.
fn consume(iters: u64, value: u64) {
    if iters > 0 {
        black_box(spin(iters) ^ value);
    }
}

/// `messages` sent by `producers` threads and received by `consumers`
/// threads, each doing `iters` of work per message, from a common start
/// until the last message arrived.
pub fn throughput<C: Channel>(
    producers: usize,
    consumers: usize,
    messages: usize,
    iters: u64,
) -> Duration {
    let (tx, rx) = C::bounded(CAPACITY);
    let per_producer = messages / producers;
    transfer(
        producers,
        consumers,
        per_producer * producers,
        move |_| {
            let tx = tx.clone();
            move || {
                for i in 0..per_producer {
                    C::send(&tx, i as u64);
                }
            }
        },
        move |_| {
            let rx = rx.clone();
            move || {
                let mut got = 0usize;
                while let Some(value) = C::recv(&rx) {
                    consume(iters, value);
                    got += 1;
                }
                got
            }
        },
    )
}

/// std's `sync_channel`: its receiver cannot be shared, so one consumer.
pub fn throughput_std(producers: usize, messages: usize, iters: u64) -> Duration {
    let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(CAPACITY);
    let per_producer = messages / producers;
    let mut rx = Some(rx);
    transfer(
        producers,
        1,
        per_producer * producers,
        move |_| {
            let tx = tx.clone();
            move || {
                for i in 0..per_producer {
                    tx.send(i as u64).expect("the receiver is alive");
                }
            }
        },
        move |_| {
            let rx = rx.take().expect("one consumer");
            move || rx.iter().map(|value| consume(iters, value)).count()
        },
    )
}

/// Starts the threads, releases them together, and times until every
/// consumer saw the senders disconnect. The factories' captured halves are
/// dropped before the clock starts, so the channel closes when the last
/// producer finishes.
fn transfer<P, C, PF, CF>(
    producers: usize,
    consumers: usize,
    expect: usize,
    mut producer: PF,
    mut consumer: CF,
) -> Duration
where
    P: FnOnce() + Send,
    C: FnOnce() -> usize + Send,
    PF: FnMut(usize) -> P,
    CF: FnMut(usize) -> C,
{
    let start_line = Barrier::new(producers + consumers + 1);
    let producer_jobs: Vec<P> = (0..producers).map(&mut producer).collect();
    let consumer_jobs: Vec<C> = (0..consumers).map(&mut consumer).collect();
    drop((producer, consumer));
    std::thread::scope(|s| {
        let start_line = &start_line;
        for job in producer_jobs {
            s.spawn(move || {
                start_line.wait();
                job();
            });
        }
        let receivers: Vec<_> = consumer_jobs
            .into_iter()
            .map(|job| {
                s.spawn(move || {
                    start_line.wait();
                    job()
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        let received: usize = receivers
            .into_iter()
            .map(|h| h.join().expect("consumer panicked"))
            .sum();
        let elapsed = start.elapsed();
        assert_eq!(received, expect, "messages lost");
        elapsed
    })
}

/// Each channel's times for one producer/consumer setup; milliseconds.
pub struct Results {
    /// 1 producer, 1 consumer that only counts.
    pub one: Vec<Series>,
    /// 2 producers, 2 consumers that only count.
    pub two: Vec<Series>,
    /// 1 producer, 1 consumer working [`CONSUMER_WORK_US`] per message, and
    /// that work alone on one thread ([`SEQUENTIAL`]).
    pub one_working: Vec<Series>,
}

/// Every channel with `pairs` producers and `pairs` consumers, alternating,
/// consumers doing `iters` of work per message. std's receiver cannot be
/// shared, so it runs only with one consumer; with work, the work alone on
/// one thread runs beside them as the reference.
fn setup(settings: &Settings, pairs: usize, iters: u64) -> Vec<Series> {
    let m = settings.messages;
    let mut trials: Vec<Trial<'_>> = vec![
        (
            Weft::NAME,
            Box::new(move || vec![ms(throughput::<Weft>(pairs, pairs, m, iters))]),
        ),
        (
            Crossbeam::NAME,
            Box::new(move || vec![ms(throughput::<Crossbeam>(pairs, pairs, m, iters))]),
        ),
        (
            Flume::NAME,
            Box::new(move || vec![ms(throughput::<Flume>(pairs, pairs, m, iters))]),
        ),
    ];
    if pairs == 1 {
        trials.push((
            "std",
            Box::new(move || vec![ms(throughput_std(1, m, iters))]),
        ));
    }
    if iters > 0 {
        trials.push((
            SEQUENTIAL,
            Box::new(move || vec![ms(consumer_work_alone(m, iters))]),
        ));
    }
    alternate_twice(
        settings.rounds,
        &mut trials,
        Weft::NAME,
        crate::systems::WEFT_AGAIN,
    )
}

/// The consumer's work on `messages` values, on the calling thread, without
/// a channel: what the working consumer cannot go below.
fn consumer_work_alone(messages: usize, iters: u64) -> Duration {
    let start = Instant::now();
    for value in 0..messages as u64 {
        consume(iters, black_box(value));
    }
    start.elapsed()
}

/// 1 producer/1 consumer (idle and working consumer) and 2/2, every channel
/// alternating.
pub fn run(settings: &Settings, work: Work) -> Results {
    Results {
        one: setup(settings, 1, 0),
        two: setup(settings, 2, 0),
        one_working: setup(settings, 1, work.iters(CONSUMER_WORK_US)),
    }
}
