//! Trying the sources in order: hwloc, sysfs, flat.

use std::path::PathBuf;

use super::{fallback, format_cpu_list, Topology, TopologyBuilder};
use crate::error::TopologyError;

/// Reads the machine, with every input replaceable so that tests can point
/// it at fake trees. [`Topology::detect`] is `Detector::new().detect()`.
///
/// ```
/// use weftpool::topology::{Detector, TopologySource};
///
/// // A sysfs root that does not exist: the flat fallback answers.
/// let topo = Detector::new()
///     .hwloc(false)
///     .sysfs_root("/nonexistent")
///     .affinity(vec![0, 1, 2])
///     .detect();
/// assert_eq!(topo.source(), TopologySource::Flat);
/// assert_eq!(topo.allowed_cpus(), &[0, 1, 2]);
/// assert!(!topo.notes().is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct Detector {
    sysfs_root: PathBuf,
    cgroup_root: PathBuf,
    use_hwloc: bool,
    affinity: Option<Vec<usize>>,
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new()
    }
}

impl Detector {
    /// Reads this machine: `/sys`, cgroups under `/`, hwloc when built with
    /// the `hwloc` feature, and the process's real affinity mask.
    pub fn new() -> Self {
        Detector {
            sysfs_root: PathBuf::from("/sys"),
            cgroup_root: PathBuf::from("/"),
            use_hwloc: true,
            affinity: None,
        }
    }

    /// Reads sysfs from `root` instead of `/sys`.
    pub fn sysfs_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.sysfs_root = root.into();
        self
    }

    /// Reads `proc/self/cgroup`, `proc/self/mountinfo` and the cgroup mounts
    /// under `root` instead of `/`.
    pub fn cgroup_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.cgroup_root = root.into();
        self
    }

    /// Whether to try hwloc first (it is only there with the `hwloc` feature).
    pub fn hwloc(mut self, enabled: bool) -> Self {
        self.use_hwloc = enabled;
        self
    }

    /// Uses `cpus` as the process's affinity mask instead of asking the kernel.
    pub fn affinity(mut self, cpus: Vec<usize>) -> Self {
        self.affinity = Some(cpus);
        self
    }

    /// Tries hwloc, sysfs and the flat fallback in turn; never fails.
    pub fn detect(&self) -> Topology {
        let mut notes = Vec::new();
        let affinity = match &self.affinity {
            Some(cpus) => Ok(cpus.clone()),
            None => super::process_affinity(),
        };
        let quota = match super::CgroupReader::new(&self.cgroup_root).cpu_quota() {
            Ok(q) => q,
            Err(err) => {
                notes.push(format!("cgroup CPU quota not read: {err}"));
                None
            }
        };

        if self.use_hwloc {
            match read_hwloc() {
                Some(Ok(builder)) => match finish(builder, &affinity, quota, &notes) {
                    Ok(topo) => return topo,
                    Err(err) => notes.push(format!("hwloc: {err}")),
                },
                Some(Err(err)) => notes.push(err.to_string()),
                None => notes.push("hwloc: not built in (Cargo feature `hwloc`)".to_owned()),
            }
        }

        match super::SysfsReader::new(&self.sysfs_root).read() {
            Ok(builder) => match finish(builder, &affinity, quota, &notes) {
                Ok(topo) => return topo,
                Err(err) => notes.push(format!("sysfs: {err}")),
            },
            Err(err) => notes.push(format!("sysfs: {err}")),
        }

        let mask = affinity.as_ref().ok().map(Vec::as_slice);
        match finish(fallback::flat(mask), &affinity, quota, &notes) {
            Ok(topo) => topo,
            Err(err) => {
                notes.push(format!("flat fallback: {err}"));
                fallback::single_cpu(quota, notes)
            }
        }
    }
}

#[cfg(feature = "hwloc")]
fn read_hwloc() -> Option<Result<TopologyBuilder, TopologyError>> {
    Some(super::hwloc::read())
}

#[cfg(not(feature = "hwloc"))]
fn read_hwloc() -> Option<Result<TopologyBuilder, TopologyError>> {
    None
}

/// Adds what belongs to the process (allowed CPUs, quota, whether pinning
/// works) to a machine description and builds it.
fn finish(
    mut builder: TopologyBuilder,
    affinity: &Result<Vec<usize>, String>,
    quota: Option<f64>,
    notes: &[String],
) -> Result<Topology, TopologyError> {
    match affinity {
        Ok(mask) => {
            let known = builder.described_cpus();
            let allowed: Vec<usize> = mask
                .iter()
                .copied()
                .filter(|cpu| known.binary_search(cpu).is_ok())
                .collect();
            if allowed.is_empty() {
                return Err(TopologyError::NoAllowedCpus {
                    mask: format_cpu_list(mask),
                });
            }
            builder = builder.allowed_cpus(allowed);
        }
        Err(reason) => {
            builder = builder.pinning_unavailable(format!("affinity mask unknown: {reason}"));
        }
    }
    if let Some(q) = quota {
        builder = builder.cpu_quota(q);
    }
    builder.notes = notes.to_vec();
    Ok(builder.build()?)
}
