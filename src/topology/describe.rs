//! Describing a machine by parts. Every source (hwloc, sysfs, the flat
//! fallback) fills one of these, so they all produce a `Topology` the same way.

use std::collections::{BTreeMap, BTreeSet};

use super::{CacheInfo, CpuInfo, NumaNode, Topology, TopologySource, MAX_CPUS};
use crate::error::DescribeError;

/// NUMA distance of a node to itself, as in the ACPI SLIT.
const LOCAL_DISTANCE: u32 = 10;
/// Distance assumed between two nodes when none was given.
const REMOTE_DISTANCE: u32 = 20;
/// Distance [`TopologyBuilder::symmetric`] gives two nodes in one package.
const SAME_PACKAGE_DISTANCE: u32 = 12;
/// Distance [`TopologyBuilder::symmetric`] gives two nodes in different packages.
const OTHER_PACKAGE_DISTANCE: u32 = 21;

/// A regular machine: every package alike, every node alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineShape {
    /// Packages (sockets).
    pub packages: usize,
    /// NUMA nodes in each package.
    pub numa_nodes_per_package: usize,
    /// Physical cores in each NUMA node.
    pub cores_per_numa_node: usize,
    /// Hardware threads (SMT) in each core.
    pub threads_per_core: usize,
}

#[derive(Debug, Clone)]
struct CoreSpec {
    package: usize,
    node: usize,
    cpus: Vec<usize>,
}

/// Describes a machine part by part; [`build`](Self::build) checks it and
/// makes a [`Topology`] whose source is [`TopologySource::Described`].
///
/// Two sockets, each with two NUMA nodes of eight two-way SMT cores:
///
/// ```
/// use weftpool::topology::{MachineShape, Topology};
///
/// let topo = Topology::builder()
///     .symmetric(MachineShape {
///         packages: 2,
///         numa_nodes_per_package: 2,
///         cores_per_numa_node: 8,
///         threads_per_core: 2,
///     })
///     .build()
///     .unwrap();
/// assert_eq!(topo.allowed_cpus().len(), 64);
/// assert_eq!(topo.numa_nodes().len(), 4);
/// ```
///
/// An uneven machine, part by part:
///
/// ```
/// use weftpool::topology::Topology;
///
/// let topo = Topology::builder()
///     .core(0, 0, [0, 4])
///     .core(0, 0, [1, 5])
///     .core(0, 1, [2])
///     .cache(3, [0, 1, 4, 5], Some(8 << 20))
///     .distance(0, 1, 17)
///     .allowed_cpus([0, 1, 2])
///     .cpu_quota(1.5)
///     .build()
///     .unwrap();
/// assert_eq!(topo.cpu(5).unwrap().core, 1);
/// assert_eq!(topo.default_worker_count(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct TopologyBuilder {
    cores: Vec<CoreSpec>,
    caches: Vec<CacheInfo>,
    /// Nodes declared on their own, with their memory size if known.
    nodes: BTreeMap<usize, Option<u64>>,
    /// `(from, to) -> distance`; anything not here gets the defaults.
    distances: BTreeMap<(usize, usize), u32>,
    allowed: Option<Vec<usize>>,
    quota: Option<f64>,
    pinning_unavailable: Option<String>,
    /// A bad `symmetric` shape, reported by `build`.
    shape_error: Option<DescribeError>,
    pub(super) source: TopologySource,
    pub(super) notes: Vec<String>,
}

impl Default for TopologyBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TopologyBuilder {
    /// An empty description.
    pub fn new() -> Self {
        TopologyBuilder {
            cores: Vec::new(),
            caches: Vec::new(),
            nodes: BTreeMap::new(),
            distances: BTreeMap::new(),
            allowed: None,
            quota: None,
            pinning_unavailable: None,
            shape_error: None,
            source: TopologySource::Described,
            notes: Vec::new(),
        }
    }

    /// Adds a regular block of packages, numbered after anything already
    /// described.
    ///
    /// CPUs are numbered as Linux numbers most x86 machines: the first thread
    /// of every core, then the second thread of every core, and so on. Each
    /// core gets its own L2, each NUMA node one L3. NUMA distances are 10
    /// locally, 12 to another node of the same package and 21 across packages.
    pub fn symmetric(mut self, shape: MachineShape) -> Self {
        let zero = [
            (shape.packages, "packages"),
            (shape.numa_nodes_per_package, "NUMA nodes per package"),
            (shape.cores_per_numa_node, "cores per NUMA node"),
            (shape.threads_per_core, "threads per core"),
        ]
        .into_iter()
        .find(|(n, _)| *n == 0);
        if let Some((_, what)) = zero {
            self.shape_error
                .get_or_insert(DescribeError::ZeroInShape { what });
            return self;
        }
        let first_cpu = self.next_cpu();
        let first_node = self.next_node();
        let first_package = self.cores.iter().map(|c| c.package + 1).max().unwrap_or(0);
        let nodes = shape.packages * shape.numa_nodes_per_package;
        let total_cores = nodes * shape.cores_per_numa_node;

        for core in 0..total_cores {
            let node_in_block = core / shape.cores_per_numa_node;
            let cpus: Vec<usize> = (0..shape.threads_per_core)
                .map(|t| first_cpu + core + t * total_cores)
                .collect();
            self.caches.push(CacheInfo {
                level: 2,
                cpus: cpus.clone(),
                size_bytes: None,
            });
            self.cores.push(CoreSpec {
                package: first_package + node_in_block / shape.numa_nodes_per_package,
                node: first_node + node_in_block,
                cpus,
            });
        }
        for node_in_block in 0..nodes {
            let node = first_node + node_in_block;
            let l3: Vec<usize> = self
                .cores
                .iter()
                .filter(|c| c.node == node)
                .flat_map(|c| c.cpus.iter().copied())
                .collect();
            self.caches.push(CacheInfo {
                level: 3,
                cpus: l3,
                size_bytes: None,
            });
            for other_in_block in 0..nodes {
                let same_package = node_in_block / shape.numa_nodes_per_package
                    == other_in_block / shape.numa_nodes_per_package;
                let distance = match (node_in_block == other_in_block, same_package) {
                    (true, _) => LOCAL_DISTANCE,
                    (false, true) => SAME_PACKAGE_DISTANCE,
                    (false, false) => OTHER_PACKAGE_DISTANCE,
                };
                self.distances
                    .insert((node, first_node + other_in_block), distance);
            }
        }
        self
    }

    /// Adds one physical core with the given hardware threads.
    pub fn core(
        mut self,
        package: usize,
        numa_node: usize,
        cpus: impl IntoIterator<Item = usize>,
    ) -> Self {
        self.cores.push(CoreSpec {
            package,
            node: numa_node,
            cpus: cpus.into_iter().collect(),
        });
        self
    }

    /// Adds a cache of `level` shared by `cpus`. Naming the same cache twice
    /// (same level, same CPUs) is harmless.
    pub fn cache(
        mut self,
        level: u8,
        cpus: impl IntoIterator<Item = usize>,
        size_bytes: Option<u64>,
    ) -> Self {
        self.caches.push(CacheInfo {
            level,
            cpus: cpus.into_iter().collect(),
            size_bytes,
        });
        self
    }

    /// Declares a NUMA node and its memory size; needed only for a node
    /// without CPUs, or to record the size.
    pub fn numa_node(mut self, id: usize, memory_bytes: Option<u64>) -> Self {
        self.nodes.insert(id, memory_bytes);
        self
    }

    /// Sets the distance between two nodes, both ways. Unset pairs are 10 on
    /// the diagonal and 20 elsewhere.
    pub fn distance(mut self, a: usize, b: usize, distance: u32) -> Self {
        self.distances.insert((a, b), distance);
        self.distances.insert((b, a), distance);
        self
    }

    /// Sets the distance from one node to another only, for sources that read
    /// a full (possibly asymmetric) matrix.
    pub(super) fn distance_one_way(mut self, from: usize, to: usize, distance: u32) -> Self {
        self.distances.insert((from, to), distance);
        self
    }

    /// Restricts the process to these CPUs (as an affinity mask or `taskset`
    /// would). Default: every described CPU.
    pub fn allowed_cpus(mut self, cpus: impl IntoIterator<Item = usize>) -> Self {
        self.allowed = Some(cpus.into_iter().collect());
        self
    }

    /// Sets a cgroup CPU quota, in CPUs.
    pub fn cpu_quota(mut self, cpus: f64) -> Self {
        self.quota = Some(cpus);
        self
    }

    /// Marks the machine as one where threads cannot be pinned, and why.
    pub fn pinning_unavailable(mut self, reason: impl Into<String>) -> Self {
        self.pinning_unavailable = Some(reason.into());
        self
    }

    /// The CPUs described so far, sorted.
    pub fn described_cpus(&self) -> Vec<usize> {
        let mut cpus: Vec<usize> = self.cores.iter().flat_map(|c| c.cpus.clone()).collect();
        cpus.sort_unstable();
        cpus.dedup();
        cpus
    }

    /// Checks the description and makes the topology.
    pub fn build(self) -> Result<Topology, DescribeError> {
        if let Some(err) = self.shape_error {
            return Err(err);
        }
        if self.cores.is_empty() {
            return Err(DescribeError::NoCpus);
        }

        // cpu -> (core, package, node); the core is named by its lowest CPU.
        let mut placed: BTreeMap<usize, (usize, usize, usize)> = BTreeMap::new();
        for core in &self.cores {
            let Some(&name) = core.cpus.iter().min() else {
                return Err(DescribeError::EmptyCore {
                    package: core.package,
                    node: core.node,
                });
            };
            for &cpu in &core.cpus {
                if cpu >= MAX_CPUS {
                    return Err(DescribeError::CpuOutOfRange {
                        cpu,
                        max: MAX_CPUS - 1,
                    });
                }
                if placed
                    .insert(cpu, (name, core.package, core.node))
                    .is_some()
                {
                    return Err(DescribeError::CpuInTwoCores(cpu));
                }
            }
        }

        let caches = check_caches(self.caches, &placed)?;
        // (level, cpu) -> cache name
        let mut cache_of: BTreeMap<(u8, usize), usize> = BTreeMap::new();
        for cache in &caches {
            for &cpu in &cache.cpus {
                cache_of.insert((cache.level, cpu), cache.cpus[0]);
            }
        }

        let cpus: Vec<CpuInfo> = placed
            .iter()
            .map(|(&id, &(core, package, numa_node))| CpuInfo {
                id,
                core,
                package,
                numa_node,
                l2: cache_of.get(&(2, id)).copied(),
                l3: cache_of.get(&(3, id)).copied(),
            })
            .collect();

        let mut node_ids: BTreeSet<usize> = cpus.iter().map(|c| c.numa_node).collect();
        node_ids.extend(self.nodes.keys().copied());
        let nodes: Vec<NumaNode> = node_ids
            .iter()
            .map(|&id| NumaNode {
                id,
                cpus: cpus
                    .iter()
                    .filter(|c| c.numa_node == id)
                    .map(|c| c.id)
                    .collect(),
                memory_bytes: self.nodes.get(&id).copied().flatten(),
            })
            .collect();

        let mut distances = Vec::with_capacity(nodes.len() * nodes.len());
        for &(from, to) in self.distances.keys() {
            for node in [from, to] {
                if !node_ids.contains(&node) {
                    return Err(DescribeError::UnknownNode(node));
                }
            }
        }
        for from in &nodes {
            for to in &nodes {
                let default = if from.id == to.id {
                    LOCAL_DISTANCE
                } else {
                    REMOTE_DISTANCE
                };
                distances.push(*self.distances.get(&(from.id, to.id)).unwrap_or(&default));
            }
        }

        let allowed = match self.allowed {
            None => cpus.iter().map(|c| c.id).collect(),
            Some(mut list) => {
                list.sort_unstable();
                list.dedup();
                if list.is_empty() {
                    return Err(DescribeError::NoAllowedCpus);
                }
                if let Some(&cpu) = list.iter().find(|cpu| !placed.contains_key(cpu)) {
                    return Err(DescribeError::UnknownCpu {
                        cpu,
                        what: "the allowed set",
                    });
                }
                list
            }
        };

        if let Some(q) = self.quota {
            if !q.is_finite() || q <= 0.0 {
                return Err(DescribeError::InvalidQuota(q));
            }
        }

        Ok(Topology {
            source: self.source,
            cpus,
            caches,
            nodes,
            distances,
            allowed,
            quota: self.quota,
            pinning_unavailable: self.pinning_unavailable,
            notes: self.notes,
        })
    }

    fn next_cpu(&self) -> usize {
        self.cores
            .iter()
            .flat_map(|c| c.cpus.iter().map(|&cpu| cpu + 1))
            .max()
            .unwrap_or(0)
    }

    fn next_node(&self) -> usize {
        let from_cores = self.cores.iter().map(|c| c.node + 1).max().unwrap_or(0);
        let from_nodes = self.nodes.keys().map(|n| n + 1).max().unwrap_or(0);
        from_cores.max(from_nodes)
    }
}

/// Sorts and de-duplicates the caches and checks that each names known CPUs
/// and that no CPU sits in two caches of one level.
fn check_caches(
    mut caches: Vec<CacheInfo>,
    placed: &BTreeMap<usize, (usize, usize, usize)>,
) -> Result<Vec<CacheInfo>, DescribeError> {
    for cache in &mut caches {
        cache.cpus.sort_unstable();
        cache.cpus.dedup();
        if cache.level == 0 || cache.cpus.is_empty() {
            return Err(DescribeError::BadCache { level: cache.level });
        }
        if let Some(&cpu) = cache.cpus.iter().find(|cpu| !placed.contains_key(cpu)) {
            return Err(DescribeError::UnknownCpu {
                cpu,
                what: "a cache",
            });
        }
    }
    caches.sort_by(|a, b| (a.level, &a.cpus).cmp(&(b.level, &b.cpus)));
    // The same cache read from each of its CPUs: keep one, with a size if any had one.
    caches.dedup_by(|later, kept| {
        let same = later.level == kept.level && later.cpus == kept.cpus;
        if same && kept.size_bytes.is_none() {
            kept.size_bytes = later.size_bytes;
        }
        same
    });
    let mut seen: BTreeSet<(u8, usize)> = BTreeSet::new();
    for cache in &caches {
        for &cpu in &cache.cpus {
            if !seen.insert((cache.level, cpu)) {
                return Err(DescribeError::CpuInTwoCaches {
                    cpu,
                    level: cache.level,
                });
            }
        }
    }
    Ok(caches)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn shape(p: usize, n: usize, c: usize, t: usize) -> MachineShape {
        MachineShape {
            packages: p,
            numa_nodes_per_package: n,
            cores_per_numa_node: c,
            threads_per_core: t,
        }
    }

    #[test]
    fn symmetric_numbers_like_linux() {
        let topo = TopologyBuilder::new()
            .symmetric(shape(2, 2, 8, 2))
            .build()
            .unwrap();
        assert_eq!(topo.cpus().len(), 64);
        let cpu0 = topo.cpu(0).unwrap();
        let cpu32 = topo.cpu(32).unwrap();
        assert_eq!(cpu0.core, cpu32.core, "SMT siblings are n and n + cores");
        assert_eq!(cpu0.l2, Some(0));
        assert_eq!(topo.cpu(8).unwrap().numa_node, 1);
        assert_eq!(topo.cpu(16).unwrap().package, 1);
        assert_eq!(topo.numa_distance(0, 1), Some(12));
        assert_eq!(topo.numa_distance(0, 2), Some(21));
        assert_eq!(topo.numa_distance(3, 3), Some(10));
        assert_eq!(topo.cores().len(), 32);
        assert_eq!(topo.caches().iter().filter(|c| c.level == 3).count(), 4);
    }

    #[test]
    fn bad_descriptions_are_errors() {
        let b = TopologyBuilder::new;
        assert_eq!(b().build().unwrap_err(), DescribeError::NoCpus);
        assert!(matches!(
            b().symmetric(shape(1, 0, 1, 1)).build(),
            Err(DescribeError::ZeroInShape { .. })
        ));
        assert_eq!(
            b().core(0, 0, [0, 1]).core(0, 0, [1]).build().unwrap_err(),
            DescribeError::CpuInTwoCores(1)
        );
        assert!(matches!(
            b().core(0, 0, []).build(),
            Err(DescribeError::EmptyCore { .. })
        ));
        assert!(matches!(
            b().core(0, 0, [0]).cache(2, [0, 1], None).build(),
            Err(DescribeError::UnknownCpu { cpu: 1, .. })
        ));
        assert!(matches!(
            b().core(0, 0, [0])
                .core(0, 0, [1])
                .cache(2, [0, 1], None)
                .cache(2, [1], None)
                .build(),
            Err(DescribeError::CpuInTwoCaches { cpu: 1, level: 2 })
        ));
        assert_eq!(
            b().core(0, 0, [0]).distance(0, 5, 20).build().unwrap_err(),
            DescribeError::UnknownNode(5)
        );
        assert_eq!(
            b().core(0, 0, [0]).allowed_cpus([]).build().unwrap_err(),
            DescribeError::NoAllowedCpus
        );
        assert!(matches!(
            b().core(0, 0, [0]).allowed_cpus([3]).build(),
            Err(DescribeError::UnknownCpu { cpu: 3, .. })
        ));
        for q in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                b().core(0, 0, [0]).cpu_quota(q).build(),
                Err(DescribeError::InvalidQuota(_))
            ));
        }
    }

    #[test]
    fn repeated_caches_merge_and_memory_nodes_stay() {
        let topo = TopologyBuilder::new()
            .core(0, 0, [0])
            .core(0, 0, [1])
            .cache(3, [1, 0], None)
            .cache(3, [0, 1], Some(1 << 20))
            .numa_node(1, Some(1 << 30))
            .build()
            .unwrap();
        assert_eq!(topo.caches().len(), 1);
        assert_eq!(topo.caches()[0].size_bytes, Some(1 << 20));
        assert_eq!(topo.numa_node(1).unwrap().cpus, Vec::<usize>::new());
        assert_eq!(topo.numa_distance(0, 1), Some(20));
    }
}
