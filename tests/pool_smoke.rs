//! A quick end-to-end pass over the pool API.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use weftpool::{Pinning, ThreadPool};

#[test]
fn smoke() {
    let pool = ThreadPool::builder()
        .threads(2)
        .pinning(Pinning::None)
        .build()
        .unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    for _ in 0..10_000 {
        let n = n.clone();
        pool.spawn(move || {
            n.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    }
    fn fib(n: u64) -> u64 {
        if n < 2 {
            return n;
        }
        let (a, b) = weftpool::join(|| fib(n - 1), || fib(n - 2));
        a + b
    }
    assert_eq!(pool.install(|| fib(20)), 6765);
    let h = pool.spawn_handle(|| 5).unwrap();
    assert_eq!(h.join().unwrap(), 5);
    let r = pool.broadcast(|i| i * 10).unwrap();
    assert_eq!(r, vec![0, 10]);
    let mut v = vec![0; 100];
    pool.scope(|s| {
        for (i, x) in v.iter_mut().enumerate() {
            s.spawn(move |_| *x = i);
        }
    });
    assert_eq!(v[99], 99);
    let rep = pool.shutdown().unwrap();
    assert_eq!(n.load(Ordering::Relaxed), 10_000);
    println!("{rep:?}");
}
