//! Reading the machine through hwloc 2.x (Cargo feature `hwloc`).

use hwlocality::bitmap::BitmapRef;
use hwlocality::cpu::cpuset::CpuSet;
use hwlocality::object::attributes::ObjectAttributes;
use hwlocality::object::types::ObjectType;
use hwlocality::object::TopologyObject;
use hwlocality::topology::builder::BuildFlags;

use super::{TopologyBuilder, TopologySource};
use crate::error::TopologyError;

/// Builds hwloc's view of this machine, keeping CPUs outside the process's
/// cgroup so that the result lists the same CPUs as sysfs does.
pub(super) fn read() -> Result<TopologyBuilder, TopologyError> {
    let hw = hwlocality::Topology::builder()
        .with_flags(BuildFlags::INCLUDE_DISALLOWED)
        .map_err(|e| TopologyError::Hwloc(e.to_string()))?
        .build()
        .map_err(|e| TopologyError::Hwloc(e.to_string()))?;

    let mut builder = TopologyBuilder::new();
    builder.source = TopologySource::Hwloc;

    let nodes: Vec<(usize, Vec<usize>, Option<u64>)> = hw
        .objects_with_type(ObjectType::NUMANode)
        .filter_map(|node| {
            let memory = match node.attributes() {
                Some(ObjectAttributes::NUMANode(attrs)) => attrs.local_memory().map(|m| m.get()),
                _ => None,
            };
            Some((node.os_index()?, cpus_of(node), memory))
        })
        .collect();
    let node_of = |cpu: usize| {
        nodes
            .iter()
            .find(|(_, cpus, _)| cpus.contains(&cpu))
            .map_or(0, |(id, _, _)| *id)
    };

    // A machine where hwloc filtered out Core objects: each PU is its own core.
    let core_type = if hw.objects_with_type(ObjectType::Core).len() > 0 {
        ObjectType::Core
    } else {
        ObjectType::PU
    };
    for core in hw.objects_with_type(core_type) {
        let cpus = cpus_of(core);
        let Some(&first) = cpus.first() else {
            continue;
        };
        let package = core
            .first_ancestor_with_type(ObjectType::Package)
            .and_then(TopologyObject::os_index)
            .unwrap_or(0);
        builder = builder.core(package, node_of(first), cpus);
    }
    if builder.described_cpus().is_empty() {
        return Err(TopologyError::Hwloc("hwloc reported no CPUs".to_owned()));
    }

    for (ty, level) in [(ObjectType::L2Cache, 2u8), (ObjectType::L3Cache, 3u8)] {
        for cache in hw.objects_with_type(ty) {
            let size = match cache.attributes() {
                Some(ObjectAttributes::Cache(attrs)) => attrs.size().map(|s| s.get()),
                _ => None,
            };
            let cpus = cpus_of(cache);
            if !cpus.is_empty() {
                builder = builder.cache(level, cpus, size);
            }
        }
    }

    for (id, _, memory) in &nodes {
        builder = builder.numa_node(*id, *memory);
    }
    let matrices = hw
        .distances_with_type(None, ObjectType::NUMANode)
        .map_err(|e| TopologyError::Hwloc(e.to_string()))?;
    if let Some(matrix) = matrices.first() {
        let ids: Vec<Option<usize>> = matrix
            .objects()
            .map(|o| o.and_then(TopologyObject::os_index))
            .collect();
        for ((from, to), distance) in matrix.enumerate_distances() {
            if let (Some(Some(a)), Some(Some(b))) = (ids.get(from), ids.get(to)) {
                let distance = u32::try_from(distance).unwrap_or(u32::MAX);
                builder = builder.distance_one_way(*a, *b, distance);
            }
        }
    }
    Ok(builder)
}

/// The OS CPU numbers in an object's cpuset (empty when it has none).
fn cpus_of(object: &TopologyObject) -> Vec<usize> {
    object
        .cpuset()
        .map(|set: BitmapRef<'_, CpuSet>| set.iter_set().map(usize::from).collect())
        .unwrap_or_default()
}
