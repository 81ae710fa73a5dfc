//! The last source: only a CPU count, from the standard library.

use super::{Topology, TopologyBuilder, TopologySource};

/// Every CPU its own core, all on package 0 and NUMA node 0, no caches.
///
/// With the affinity mask known its CPUs are used; otherwise CPUs
/// `0..available_parallelism` stand in for CPUs whose numbers are unknown.
pub(super) fn flat(affinity: Option<&[usize]>) -> TopologyBuilder {
    let cpus: Vec<usize> = match affinity {
        Some(mask) if !mask.is_empty() => mask.to_vec(),
        _ => {
            let count = crate::sync::thread::available_parallelism().map_or(1, |n| n.get());
            (0..count).collect()
        }
    };
    let mut builder = TopologyBuilder::new();
    builder.source = TopologySource::Flat;
    for cpu in cpus {
        builder = builder.core(0, 0, [cpu]);
    }
    builder
}

/// One CPU, for when even the flat description could not be built; it
/// cannot fail, so `Topology::detect` always has an answer.
pub(super) fn single_cpu(quota: Option<f64>, notes: Vec<String>) -> Topology {
    Topology {
        source: TopologySource::Flat,
        cpus: vec![super::CpuInfo {
            id: 0,
            core: 0,
            package: 0,
            numa_node: 0,
            l2: None,
            l3: None,
        }],
        caches: Vec::new(),
        nodes: vec![super::NumaNode {
            id: 0,
            cpus: vec![0],
            memory_bytes: None,
        }],
        distances: vec![10],
        allowed: vec![0],
        quota: quota.filter(|q| q.is_finite() && *q > 0.0),
        pinning_unavailable: Some("the machine's CPUs could not be determined".to_owned()),
        notes,
    }
}
