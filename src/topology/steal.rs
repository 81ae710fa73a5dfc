//! Steal order: for each worker, the others nearest first.

use super::{Topology, WorkerPlacement};

/// What a worker is sure to share with another: each level is known only if
/// all the worker's CPUs agree on it (an unpinned worker knows nothing).
#[derive(Debug, Clone, Copy, Default)]
struct Location {
    core: Option<usize>,
    l2: Option<usize>,
    l3: Option<usize>,
    node: Option<usize>,
    package: Option<usize>,
}

/// How near a victim is, smaller first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Nearness {
    SameCore,
    SameL2,
    SameL3,
    SameNode,
    OtherNode,
    Unknown,
}

pub(super) fn steal_orders(topo: &Topology, workers: &[WorkerPlacement]) -> Vec<Vec<usize>> {
    let locations: Vec<Location> = workers.iter().map(|w| locate(topo, w)).collect();
    let n = workers.len();
    (0..n)
        .map(|thief| {
            let mut victims: Vec<usize> = (0..n).filter(|&v| v != thief).collect();
            victims.sort_by_key(|&victim| {
                let here = &locations[thief];
                let there = &locations[victim];
                let nearness = nearness(here, there);
                let distance = match (nearness, here.node, there.node) {
                    (Nearness::OtherNode, Some(a), Some(b)) => {
                        topo.numa_distance(a, b).unwrap_or(u32::MAX)
                    }
                    _ => 0,
                };
                let other_package = matches!(
                    (here.package, there.package),
                    (Some(a), Some(b)) if a != b
                );
                // Rotating equal victims by index spreads first choices: in a
                // group of equals, each thief starts at the next worker after
                // itself, so no one victim is everyone's first pick.
                let rotation = (victim + n - thief) % n;
                (nearness, distance, other_package, rotation)
            });
            victims
        })
        .collect()
}

fn nearness(a: &Location, b: &Location) -> Nearness {
    let same = |x: Option<usize>, y: Option<usize>| x.is_some() && x == y;
    if same(a.core, b.core) {
        Nearness::SameCore
    } else if same(a.l2, b.l2) {
        Nearness::SameL2
    } else if same(a.l3, b.l3) {
        Nearness::SameL3
    } else if same(a.node, b.node) {
        Nearness::SameNode
    } else if a.node.is_some() && b.node.is_some() {
        Nearness::OtherNode
    } else {
        Nearness::Unknown
    }
}

fn locate(topo: &Topology, worker: &WorkerPlacement) -> Location {
    let Some(cpus) = &worker.cpus else {
        return Location::default();
    };
    let infos: Vec<_> = cpus.iter().filter_map(|&c| topo.cpu(c)).collect();
    if infos.is_empty() {
        return Location::default();
    }
    Location {
        core: agreed(infos.iter().map(|c| Some(c.core))),
        l2: agreed(infos.iter().map(|c| c.l2)),
        l3: agreed(infos.iter().map(|c| c.l3)),
        node: worker
            .numa_node
            .or_else(|| agreed(infos.iter().map(|c| Some(c.numa_node)))),
        package: agreed(infos.iter().map(|c| Some(c.package))),
    }
}

/// The common value, if every item has the same one.
fn agreed(mut values: impl Iterator<Item = Option<usize>>) -> Option<usize> {
    let first = values.next()??;
    values.all(|v| v == Some(first)).then_some(first)
}
