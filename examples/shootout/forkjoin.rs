//! Fork-join overhead: recursive `join` with no sequential cutoff, so almost
//! all the time is the cost of `join` itself. Two shapes: fib (uneven
//! halves) and the sum of a full binary tree (chili's benchmark).

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::common::{alternate, alternate_twice, ms, Series, Settings, Trial};
use crate::systems::{chili_pool, with_pool, Pool, Rayon, Weft, WEFT_AGAIN};

/// The name of the single-threaded reference.
pub const SEQUENTIAL: &str = "sequential";
/// The name of chili in tables.
pub const CHILI: &str = "chili";
/// The tree sum on one thread visiting each right subtree before the left:
/// the tree is allocated left subtree first, so this order walks memory the
/// other way, and the difference shows how much of a tree-sum time is the
/// order of visits rather than parallelism or `join`.
pub const SEQUENTIAL_RIGHT_FIRST: &str = "sequential, right subtree first";

/// fib on one thread, the reference for the overhead.
pub fn fib_seq(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    fib_seq(n - 1) + fib_seq(n - 2)
}

fn fib_weft(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = weftpool::join(|| fib_weft(n - 1), || fib_weft(n - 2));
    a + b
}

fn fib_rayon(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = rayon::join(|| fib_rayon(n - 1), || fib_rayon(n - 2));
    a + b
}

fn fib_chili(s: &mut chili::Scope<'_>, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = s.join(|s| fib_chili(s, n - 1), |s| fib_chili(s, n - 2));
    a + b
}

/// A node of a full binary tree.
pub struct Node {
    val: u64,
    left: Option<Box<Node>>,
    right: Option<Box<Node>>,
}

impl Node {
    /// A full tree of `depth` levels, every value 1.
    pub fn tree(depth: u32) -> Node {
        let child = || (depth > 1).then(|| Box::new(Node::tree(depth - 1)));
        Node {
            val: 1,
            left: child(),
            right: child(),
        }
    }
}

fn sum_seq(node: &Node) -> u64 {
    node.val + node.left.as_deref().map_or(0, sum_seq) + node.right.as_deref().map_or(0, sum_seq)
}

fn sum_seq_right_first(node: &Node) -> u64 {
    let right = node.right.as_deref().map_or(0, sum_seq_right_first);
    node.val + node.left.as_deref().map_or(0, sum_seq_right_first) + right
}

fn sum_weft(node: &Node) -> u64 {
    let (l, r) = weftpool::join(
        || node.left.as_deref().map_or(0, sum_weft),
        || node.right.as_deref().map_or(0, sum_weft),
    );
    node.val + l + r
}

fn sum_rayon(node: &Node) -> u64 {
    let (l, r) = rayon::join(
        || node.left.as_deref().map_or(0, sum_rayon),
        || node.right.as_deref().map_or(0, sum_rayon),
    );
    node.val + l + r
}

fn sum_chili(s: &mut chili::Scope<'_>, node: &Node) -> u64 {
    let (l, r) = s.join(
        |s| node.left.as_deref().map_or(0, |n| sum_chili(s, n)),
        |s| node.right.as_deref().map_or(0, |n| sum_chili(s, n)),
    );
    node.val + l + r
}

fn timed(f: impl FnOnce() -> u64, expect: u64) -> Duration {
    let start = Instant::now();
    let got = f();
    let elapsed = start.elapsed();
    assert_eq!(got, expect, "wrong result");
    elapsed
}

/// fib(n) on each system.
pub fn fib_on(system: &str, settings: &Settings, n: u64, expect: u64) -> Duration {
    match system {
        SEQUENTIAL => timed(|| fib_seq(black_box(n)), expect),
        Weft::NAME => with_pool::<Weft, _>(settings, |p| {
            timed(|| p.0.install(|| fib_weft(black_box(n))), expect)
        }),
        Rayon::NAME => with_pool::<Rayon, _>(settings, |p| {
            timed(|| p.0.install(|| fib_rayon(black_box(n))), expect)
        }),
        CHILI => {
            let pool = chili_pool(settings);
            let mut scope = pool.scope();
            timed(|| fib_chili(&mut scope, black_box(n)), expect)
        }
        other => unreachable!("no fib for {other}"),
    }
}

/// The tree sum on each system.
pub fn tree_on(system: &str, settings: &Settings, tree: &Node, expect: u64) -> Duration {
    match system {
        SEQUENTIAL => timed(|| sum_seq(black_box(tree)), expect),
        SEQUENTIAL_RIGHT_FIRST => timed(|| sum_seq_right_first(black_box(tree)), expect),
        Weft::NAME => with_pool::<Weft, _>(settings, |p| {
            timed(|| p.0.install(|| sum_weft(tree)), expect)
        }),
        Rayon::NAME => with_pool::<Rayon, _>(settings, |p| {
            timed(|| p.0.install(|| sum_rayon(tree)), expect)
        }),
        CHILI => {
            let pool = chili_pool(settings);
            let mut scope = pool.scope();
            timed(|| sum_chili(&mut scope, tree), expect)
        }
        other => unreachable!("no tree sum for {other}"),
    }
}

/// The systems that have a `join`, and the sequential reference.
pub const SYSTEMS: [&str; 4] = [Weft::NAME, Rayon::NAME, CHILI, SEQUENTIAL];

/// fib and the tree sum, every system alternating (the tree sum also one
/// thread visiting right subtrees first); values in milliseconds.
pub fn run(settings: &Settings) -> (Vec<Series>, Vec<Series>) {
    let n = settings.fib;
    let fib_expect = fib_seq(n);
    let mut fib_trials: Vec<Trial<'_>> = SYSTEMS
        .iter()
        .map(|&sys| -> Trial<'_> {
            (
                sys,
                Box::new(move || vec![ms(fib_on(sys, settings, n, fib_expect))]),
            )
        })
        .collect();
    let fib = alternate_twice(settings.rounds, &mut fib_trials, Weft::NAME, WEFT_AGAIN);

    let tree = Node::tree(settings.tree_depth);
    let tree_expect = (1u64 << settings.tree_depth) - 1;
    let tree = &tree;
    let mut tree_trials: Vec<Trial<'_>> = SYSTEMS
        .iter()
        .chain([&SEQUENTIAL_RIGHT_FIRST])
        .map(|&sys| -> Trial<'_> {
            (
                sys,
                Box::new(move || vec![ms(tree_on(sys, settings, tree, tree_expect))]),
            )
        })
        .collect();
    let sums = alternate(settings.rounds, &mut tree_trials);
    (fib, sums)
}
