use std::path::PathBuf;

use thiserror::Error;

/// A CPU list (`0-3,8-11`) or CPU mask (`ff,00000003`) in the kernel's text
/// format could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CpuListError {
    /// Two commas in a row, or a comma at either end.
    #[error("cpu list {input:?}: item {item} is empty (stray comma?)")]
    EmptyItem {
        /// The whole text that was parsed.
        input: String,
        /// Zero-based position of the empty item.
        item: usize,
    },
    /// Something that is not a decimal CPU number.
    #[error("cpu list {input:?}: {token:?} is not a CPU number")]
    NotANumber {
        /// The whole text that was parsed.
        input: String,
        /// The offending piece.
        token: String,
    },
    /// A range whose end is below its start, such as `7-3`.
    #[error("cpu list {input:?}: range {start}-{end} runs backwards")]
    ReversedRange {
        /// The whole text that was parsed.
        input: String,
        /// First number of the range.
        start: usize,
        /// Last number of the range.
        end: usize,
    },
    /// A CPU number beyond what any supported machine has.
    #[error("cpu list {input:?}: CPU {cpu} is beyond the supported maximum of {max}")]
    TooLarge {
        /// The whole text that was parsed.
        input: String,
        /// The CPU number found.
        cpu: usize,
        /// The largest CPU number accepted.
        max: usize,
    },
    /// A mask word that is not one to eight hexadecimal digits.
    #[error("cpu mask {input:?}: {token:?} is not a 32-bit hexadecimal word")]
    BadMaskWord {
        /// The whole text that was parsed.
        input: String,
        /// The offending word.
        token: String,
    },
}

/// One source of machine layout (hwloc, sysfs) could not describe the machine.
/// [`Topology::detect`](crate::topology::Topology::detect) records it and
/// moves on to the next source.
#[derive(Debug, Error)]
pub enum TopologyError {
    /// A file that must exist could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file held a CPU list or mask that does not parse.
    #[error("{}: {source}", path.display())]
    CpuList {
        /// The file.
        path: PathBuf,
        /// Why the list did not parse.
        #[source]
        source: CpuListError,
    },
    /// A file held something other than what the kernel writes there.
    #[error("{}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The files parsed but describe an impossible machine.
    #[error("inconsistent machine description: {0}")]
    Inconsistent(#[from] DescribeError),
    /// The process may run on none of the CPUs this source knows about.
    #[error("none of the CPUs in the affinity mask ({mask}) are known to this source")]
    NoAllowedCpus {
        /// The affinity mask, as a CPU list.
        mask: String,
    },
    /// hwloc could not build its view of the machine.
    #[error("hwloc: {0}")]
    Hwloc(String),
}

/// A machine description given to
/// [`TopologyBuilder`](crate::topology::TopologyBuilder) is impossible.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DescribeError {
    /// No core was described.
    #[error("the machine has no CPUs; describe at least one core")]
    NoCpus,
    /// A [`MachineShape`](crate::topology::MachineShape) with a zero in it.
    #[error("machine shape has zero {what}; every count must be at least 1")]
    ZeroInShape {
        /// Which count was zero.
        what: &'static str,
    },
    /// A core with no hardware threads.
    #[error("a core in package {package}, NUMA node {node} has no CPUs")]
    EmptyCore {
        /// The core's package.
        package: usize,
        /// The core's NUMA node.
        node: usize,
    },
    /// The same CPU number was given to two cores.
    #[error("CPU {0} is described in two cores")]
    CpuInTwoCores(usize),
    /// A CPU number beyond the supported maximum.
    #[error("CPU {cpu} is beyond the supported maximum of {max}")]
    CpuOutOfRange {
        /// The CPU number.
        cpu: usize,
        /// The largest CPU number accepted.
        max: usize,
    },
    /// A cache or the allowed set names a CPU that no core has.
    #[error("{what} names CPU {cpu}, which no described core has")]
    UnknownCpu {
        /// The CPU number.
        cpu: usize,
        /// Where it was named.
        what: &'static str,
    },
    /// A cache with no CPUs, or of level 0.
    #[error("a level-{level} cache must have a level of at least 1 and at least one CPU")]
    BadCache {
        /// The cache level given.
        level: u8,
    },
    /// One CPU in two different caches of the same level.
    #[error("CPU {cpu} is in two different L{level} caches")]
    CpuInTwoCaches {
        /// The CPU number.
        cpu: usize,
        /// The cache level.
        level: u8,
    },
    /// A NUMA distance between nodes that were not described.
    #[error("NUMA distance names node {0}, which was not described")]
    UnknownNode(usize),
    /// The allowed set is empty.
    #[error("the allowed CPU set is empty; a process can always run somewhere")]
    NoAllowedCpus,
    /// A CPU quota that is not a positive, finite number of CPUs.
    #[error("CPU quota must be a positive, finite number of CPUs, got {0}")]
    InvalidQuota(f64),
}

/// A placement plan cannot give what was asked.
///
/// Explicit requests (`Pinning::Cpus`, `Pinning::NumaNode`) fail here instead
/// of being quietly weakened; only `Pinning::Cores` degrades (and says so).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlacementError {
    /// A pool needs at least one worker.
    #[error("a placement plan needs at least one worker, got 0")]
    NoWorkers,
    /// `Pinning::Cpus` with an empty list.
    #[error("Pinning::Cpus was given an empty CPU list")]
    EmptyCpuList,
    /// A CPU the process may not run on (or that does not exist).
    #[error("CPU {cpu} is not allowed to this process (allowed: {allowed})")]
    CpuNotAllowed {
        /// The CPU asked for.
        cpu: usize,
        /// The allowed CPUs, as a CPU list.
        allowed: String,
    },
    /// The same CPU twice in `Pinning::Cpus`.
    #[error("CPU {0} appears twice in Pinning::Cpus; give each worker its own CPU")]
    DuplicateCpu(usize),
    /// `Pinning::Cpus` lists a different number of CPUs than there are workers.
    #[error("Pinning::Cpus lists {cpus} CPUs but the pool has {workers} workers; give exactly one CPU per worker")]
    CpuCountMismatch {
        /// Number of workers.
        workers: usize,
        /// Number of CPUs listed.
        cpus: usize,
    },
    /// `Pinning::NumaNode` names a node the machine does not have.
    #[error("NUMA node {node} does not exist (nodes: {known})")]
    UnknownNumaNode {
        /// The node asked for.
        node: usize,
        /// The nodes that exist.
        known: String,
    },
    /// The node exists but the process may run on none of its CPUs.
    #[error("NUMA node {node} has no CPUs this process may run on")]
    NoAllowedCpusOnNode {
        /// The node asked for.
        node: usize,
    },
    /// Pinning was asked for explicitly, but threads cannot be pinned here.
    #[error("pinning is not available on this machine: {reason}")]
    PinningUnavailable {
        /// Why not.
        reason: String,
    },
}

/// The calling thread could not be pinned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PinError {
    /// No CPUs were given.
    #[error("cannot pin a thread to an empty CPU set")]
    EmptySet,
    /// A CPU number beyond the supported maximum.
    #[error("CPU {cpu} is beyond the supported maximum of {max}")]
    CpuOutOfRange {
        /// The CPU number.
        cpu: usize,
        /// The largest CPU number accepted.
        max: usize,
    },
    /// The operating system refused (CPU not allowed, or no permission).
    #[error("pinning to CPUs {cpus} was refused: {reason}")]
    Refused {
        /// The CPUs asked for, as a CPU list.
        cpus: String,
        /// What the operating system said.
        reason: String,
    },
    /// This platform cannot pin to the requested set.
    #[error("pinning is not supported here: {0}")]
    Unsupported(&'static str),
}
