//! The machine as this process sees it, and where each worker goes.
//!
//! [`Topology`] says which CPUs the process may run on, which core, package,
//! L2/L3 cache and NUMA node each CPU belongs to, how far NUMA nodes are from
//! each other, and how many CPUs' worth of time the process's cgroup grants.
//! [`Topology::detect`] tries hwloc (with the `hwloc` feature), then Linux
//! sysfs, then a flat count from the standard library; [`Topology::builder`]
//! describes a machine by hand.
//!
//! [`PlacementPlan`] turns a topology, a worker count and a [`Pinning`] policy
//! into one CPU set and NUMA node per worker, plus each worker's steal order:
//! the other workers, nearest first.
//!
//! Cores and caches are named by their lowest-numbered CPU, so the names are
//! the same whichever source read the machine.
//!
//! ```
//! use weftpool::topology::{Pinning, PlacementPlan, Topology};
//!
//! let topo = Topology::detect();
//! let plan = PlacementPlan::new(&topo, topo.default_worker_count(), &Pinning::Cores).unwrap();
//! assert_eq!(plan.workers().len(), topo.default_worker_count());
//! ```

mod affinity;
mod cgroup;
mod cpulist;
mod describe;
mod detect;
mod display;
mod fallback;
#[cfg(feature = "hwloc")]
mod hwloc;
mod pin;
mod plan;
mod steal;
mod sysfs;

pub use affinity::process_affinity;
pub use cgroup::{parse_cfs_quota, parse_cpu_max, CgroupReader};
pub use cpulist::{format_cpu_list, parse_cpu_list, parse_cpu_mask, MAX_CPUS};
pub use describe::{MachineShape, TopologyBuilder};
pub use detect::Detector;
pub use pin::{current_cpu, current_thread_affinity, pin_current_thread};
pub use plan::{Pinning, PlacementPlan, WorkerPlacement};
pub use sysfs::SysfsReader;

/// Where a [`Topology`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopologySource {
    /// hwloc 2.x, through `hwlocality` (Cargo feature `hwloc`).
    Hwloc,
    /// Linux sysfs under `/sys/devices/system`.
    Sysfs,
    /// Only a CPU count was known: every CPU is its own core on one node, with
    /// no caches.
    Flat,
    /// Built by hand with [`Topology::builder`].
    Described,
}

impl std::fmt::Display for TopologySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TopologySource::Hwloc => "hwloc",
            TopologySource::Sysfs => "sysfs",
            TopologySource::Flat => "flat fallback",
            TopologySource::Described => "described",
        })
    }
}

/// One logical CPU (hardware thread) and what it shares with others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuInfo {
    /// The operating system's CPU number.
    pub id: usize,
    /// The physical core, named by its lowest-numbered CPU.
    pub core: usize,
    /// The package (socket) number.
    pub package: usize,
    /// The NUMA node number.
    pub numa_node: usize,
    /// The L2 cache, named by its lowest-numbered CPU, if known.
    pub l2: Option<usize>,
    /// The L3 cache, named by its lowest-numbered CPU, if known.
    pub l3: Option<usize>,
}

/// A data or unified cache and the CPUs that share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheInfo {
    /// 1 for L1, 2 for L2, and so on.
    pub level: u8,
    /// The CPUs sharing it, sorted; the first one names the cache.
    pub cpus: Vec<usize>,
    /// Its size, if known.
    pub size_bytes: Option<u64>,
}

/// A NUMA node: a memory and the CPUs closest to it (none for a memory-only
/// node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumaNode {
    /// The operating system's node number.
    pub id: usize,
    /// Its CPUs, sorted; empty for a memory-only node.
    pub cpus: Vec<usize>,
    /// Its memory, if known.
    pub memory_bytes: Option<u64>,
}

/// The CPUs, cores, caches and NUMA nodes of a machine, and which of them this
/// process may use.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    source: TopologySource,
    /// Every online CPU, sorted by id.
    cpus: Vec<CpuInfo>,
    /// Sorted by level, then by first CPU.
    caches: Vec<CacheInfo>,
    /// Sorted by id.
    nodes: Vec<NumaNode>,
    /// Row-major `nodes.len()` squared matrix, rows and columns in `nodes` order.
    distances: Vec<u32>,
    /// Sorted, never empty.
    allowed: Vec<usize>,
    quota: Option<f64>,
    pinning_unavailable: Option<String>,
    notes: Vec<String>,
}

impl Topology {
    /// Reads this machine: hwloc (with the `hwloc` feature), then sysfs, then a
    /// flat CPU count. Never fails; [`source`](Self::source) says which source
    /// answered and [`notes`](Self::notes) why earlier ones did not.
    ///
    /// Call it before pinning any thread: the allowed set comes from the
    /// affinity mask of the process's main thread.
    pub fn detect() -> Topology {
        Detector::new().detect()
    }

    /// Starts describing a machine by hand.
    pub fn builder() -> TopologyBuilder {
        TopologyBuilder::new()
    }

    /// Which source described this machine.
    pub fn source(&self) -> TopologySource {
        self.source
    }

    /// The CPUs this process may run on, sorted; never empty.
    pub fn allowed_cpus(&self) -> &[usize] {
        &self.allowed
    }

    /// Whether the process may run on `cpu`.
    pub fn is_allowed(&self, cpu: usize) -> bool {
        self.allowed.binary_search(&cpu).is_ok()
    }

    /// The cgroup CPU quota in CPUs (`1.5` = one and a half CPUs' worth of
    /// time per period), or `None` when no limit is set.
    pub fn cpu_quota(&self) -> Option<f64> {
        self.quota
    }

    /// How many workers a pool should start by default: the allowed CPU
    /// count, lowered to the quota rounded up, and at least 1.
    pub fn default_worker_count(&self) -> usize {
        let by_cpus = self.allowed.len();
        let by_quota = match self.quota {
            // Float-to-int `as` saturates; the quota is positive and finite.
            Some(q) => q.ceil() as usize,
            None => usize::MAX,
        };
        by_cpus.min(by_quota).max(1)
    }

    /// Every online CPU, sorted by id, whether allowed or not.
    pub fn cpus(&self) -> &[CpuInfo] {
        &self.cpus
    }

    /// One CPU by number.
    pub fn cpu(&self, id: usize) -> Option<&CpuInfo> {
        self.cpus
            .binary_search_by_key(&id, |c| c.id)
            .ok()
            .map(|i| &self.cpus[i])
    }

    /// The known data and unified caches, sorted by level then first CPU.
    pub fn caches(&self) -> &[CacheInfo] {
        &self.caches
    }

    /// The NUMA nodes, sorted by id.
    pub fn numa_nodes(&self) -> &[NumaNode] {
        &self.nodes
    }

    /// One NUMA node by number.
    pub fn numa_node(&self, id: usize) -> Option<&NumaNode> {
        self.node_index(id).map(|i| &self.nodes[i])
    }

    /// The relative distance from node `from` to node `to` (10 = local, as in
    /// the ACPI SLIT), or `None` if either node does not exist.
    pub fn numa_distance(&self, from: usize, to: usize) -> Option<u32> {
        let (a, b) = (self.node_index(from)?, self.node_index(to)?);
        Some(self.distances[a * self.nodes.len() + b])
    }

    /// The physical cores, named by their lowest CPU, sorted.
    pub fn cores(&self) -> Vec<usize> {
        let mut cores: Vec<usize> = self.cpus.iter().map(|c| c.core).collect();
        cores.sort_unstable();
        cores.dedup();
        cores
    }

    /// The package numbers, sorted.
    pub fn packages(&self) -> Vec<usize> {
        let mut packages: Vec<usize> = self.cpus.iter().map(|c| c.package).collect();
        packages.sort_unstable();
        packages.dedup();
        packages
    }

    /// Why threads cannot be pinned here (for example the affinity mask could
    /// not be read), or `None` if they can.
    pub fn pinning_unavailable(&self) -> Option<&str> {
        self.pinning_unavailable.as_deref()
    }

    /// What detection noticed on the way: sources that were tried and failed,
    /// and a cgroup quota that could not be read.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    fn node_index(&self, id: usize) -> Option<usize> {
        self.nodes.binary_search_by_key(&id, |n| n.id).ok()
    }
}
