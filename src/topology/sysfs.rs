//! Reading the machine from Linux sysfs:
//!
//! - `devices/system/cpu/online` and `cpuN/topology/` for cores and packages,
//! - `cpuN/cache/indexM/{level,type,shared_cpu_list,size}` for caches,
//! - `devices/system/node/nodeN/{cpulist,distance,meminfo}` for NUMA nodes.
//!
//! The root is a parameter so tests can point it at a fake tree.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::{parse_cpu_list, parse_cpu_mask, CacheInfo, TopologyBuilder, TopologySource};
use crate::error::TopologyError;

/// Reads a sysfs tree (normally `/sys`) into a [`TopologyBuilder`].
///
/// ```no_run
/// use weftpool::topology::SysfsReader;
///
/// let topo = SysfsReader::new("/sys").read()?.build()?;
/// println!("{} CPUs", topo.cpus().len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SysfsReader {
    root: PathBuf,
}

/// What one CPU's `topology/` directory says.
struct CpuTopology {
    package: usize,
    /// The CPUs of its core, itself included.
    siblings: Vec<usize>,
}

impl SysfsReader {
    /// A reader for the sysfs tree at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SysfsReader { root: root.into() }
    }

    /// Reads every online CPU's core, package, caches and NUMA node. The
    /// result has no allowed set or quota yet: those belong to the process,
    /// not the machine.
    pub fn read(&self) -> Result<TopologyBuilder, TopologyError> {
        let cpu_dir = self.root.join("devices/system/cpu");
        let online = self.online_cpus(&cpu_dir)?;
        if online.is_empty() {
            return Err(TopologyError::Malformed {
                path: cpu_dir,
                reason: "no online CPUs found".to_owned(),
            });
        }
        let node_of = self.numa_nodes(&online)?;

        let mut builder = TopologyBuilder::new();
        builder.source = TopologySource::Sysfs;
        let mut cores: BTreeMap<usize, (usize, Vec<usize>)> = BTreeMap::new();
        for &cpu in &online {
            let here = cpu_dir.join(format!("cpu{cpu}"));
            let topo = read_cpu_topology(&here.join("topology"), cpu, &online)?;
            let name = topo.siblings[0];
            cores.entry(name).or_insert((topo.package, topo.siblings));
            for cache in read_caches(&here.join("cache"), &online)? {
                builder = builder.cache(cache.level, cache.cpus, cache.size_bytes);
            }
        }
        for (package, cpus) in cores.into_values() {
            let node = node_of.get(&cpus[0]).copied().unwrap_or(0);
            builder = builder.core(package, node, cpus);
        }

        for (node, memory) in self.memory_nodes()? {
            builder = builder.numa_node(node, memory);
        }
        for (from, to, distance) in self.distances()? {
            builder = builder.distance_one_way(from, to, distance);
        }
        Ok(builder)
    }

    fn online_cpus(&self, cpu_dir: &Path) -> Result<Vec<usize>, TopologyError> {
        let online_file = cpu_dir.join("online");
        if online_file.exists() {
            return read_list(&online_file);
        }
        // Without the `online` file every cpuN directory counts.
        let mut cpus: Vec<usize> = numbered_entries(cpu_dir, "cpu")?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        cpus.sort_unstable();
        Ok(cpus)
    }

    fn node_dir(&self) -> PathBuf {
        self.root.join("devices/system/node")
    }

    /// cpu -> node. Without a node directory (a kernel built without NUMA)
    /// every CPU is on node 0.
    fn numa_nodes(&self, online: &[usize]) -> Result<BTreeMap<usize, usize>, TopologyError> {
        let dir = self.node_dir();
        if !dir.is_dir() {
            return Ok(online.iter().map(|&cpu| (cpu, 0)).collect());
        }
        let mut node_of = BTreeMap::new();
        for (node, path) in numbered_entries(&dir, "node")? {
            for cpu in read_list(&path.join("cpulist"))? {
                if online.binary_search(&cpu).is_ok() {
                    node_of.insert(cpu, node);
                }
            }
        }
        if let Some(cpu) = online.iter().find(|cpu| !node_of.contains_key(cpu)) {
            return Err(TopologyError::Malformed {
                path: dir,
                reason: format!("online CPU {cpu} is in no NUMA node's cpulist"),
            });
        }
        Ok(node_of)
    }

    /// Every node directory, with or without CPUs.
    fn memory_nodes(&self) -> Result<Vec<(usize, Option<u64>)>, TopologyError> {
        let dir = self.node_dir();
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        Ok(numbered_entries(&dir, "node")?
            .into_iter()
            .map(|(node, path)| (node, read_node_memory(&path.join("meminfo"))))
            .collect())
    }

    /// `nodeN/distance` lists the distances from N to every node, in node order.
    fn distances(&self) -> Result<Vec<(usize, usize, u32)>, TopologyError> {
        let dir = self.node_dir();
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut nodes = numbered_entries(&dir, "node")?;
        nodes.sort_unstable_by_key(|(n, _)| *n);
        let ids: Vec<usize> = nodes.iter().map(|(n, _)| *n).collect();
        let mut found = Vec::new();
        for (from, path) in &nodes {
            let file = path.join("distance");
            let Ok(text) = fs::read_to_string(&file) else {
                continue; // Older kernels lack it; the defaults stand.
            };
            let row: Vec<u32> = text
                .split_whitespace()
                .map(|d| d.parse::<u32>())
                .collect::<Result<_, _>>()
                .map_err(|_| malformed(&file, format!("not a list of numbers: {text:?}")))?;
            if row.len() != ids.len() {
                return Err(malformed(
                    &file,
                    format!("{} distances for {} nodes", row.len(), ids.len()),
                ));
            }
            found.extend(ids.iter().zip(row).map(|(&to, d)| (*from, to, d)));
        }
        Ok(found)
    }
}

fn read_cpu_topology(
    dir: &Path,
    cpu: usize,
    online: &[usize],
) -> Result<CpuTopology, TopologyError> {
    let package_file = dir.join("physical_package_id");
    let package_text = read_text(&package_file)?;
    // Some platforms report -1 when the package is unknown; call it 0.
    let package = match package_text.trim().parse::<i64>() {
        Ok(p) => usize::try_from(p).unwrap_or(0),
        Err(_) => {
            return Err(malformed(
                &package_file,
                format!("not a package number: {package_text:?}"),
            ))
        }
    };

    let siblings_file = ["core_cpus_list", "thread_siblings_list"]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.exists());
    let mut siblings: Vec<usize> = match siblings_file {
        Some(file) => {
            let list = read_list(&file)?;
            if !list.contains(&cpu) {
                return Err(malformed(
                    &file,
                    format!("CPU {cpu} is missing from its own core's list"),
                ));
            }
            list
        }
        None => {
            return Err(malformed(
                dir,
                "no core_cpus_list or thread_siblings_list".into(),
            ))
        }
    };
    siblings.retain(|c| online.binary_search(c).is_ok());
    Ok(CpuTopology { package, siblings })
}

/// The data and unified caches of one CPU.
fn read_caches(dir: &Path, online: &[usize]) -> Result<Vec<CacheInfo>, TopologyError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut caches = Vec::new();
    for (_, index) in numbered_entries(dir, "index")? {
        let kind = read_text(&index.join("type"))?;
        if kind.trim() == "Instruction" {
            continue;
        }
        let level_file = index.join("level");
        let level_text = read_text(&level_file)?;
        let level = level_text
            .trim()
            .parse::<u8>()
            .map_err(|_| malformed(&level_file, format!("not a cache level: {level_text:?}")))?;
        let list_file = index.join("shared_cpu_list");
        let mut cpus = if list_file.exists() {
            read_list(&list_file)?
        } else {
            let map_file = index.join("shared_cpu_map");
            parse_cpu_mask(&read_text(&map_file)?).map_err(|source| TopologyError::CpuList {
                path: map_file,
                source,
            })?
        };
        cpus.retain(|c| online.binary_search(c).is_ok());
        if cpus.is_empty() {
            continue;
        }
        let size = fs::read_to_string(index.join("size"))
            .ok()
            .and_then(|s| parse_size(&s));
        caches.push(CacheInfo {
            level,
            cpus,
            size_bytes: size,
        });
    }
    Ok(caches)
}

/// `32K`, `1024K`, `16M` and plain bytes.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let n = digits.parse::<u64>().ok()?;
    let scale = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// `Node 0 MemTotal:  16384000 kB` from `nodeN/meminfo`; `None` if absent.
fn read_node_memory(path: &Path) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.contains("MemTotal:"))?;
    let mut words = line
        .split_whitespace()
        .skip_while(|w| *w != "MemTotal:")
        .skip(1);
    let kib = words.next()?.parse::<u64>().ok()?;
    kib.checked_mul(1024)
}

/// Entries `PREFIXN` of a directory whose suffix is a number: (N, path).
fn numbered_entries(dir: &Path, prefix: &str) -> Result<Vec<(usize, PathBuf)>, TopologyError> {
    let entries = fs::read_dir(dir).map_err(|source| TopologyError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = rest.parse::<usize>() {
                found.push((n, entry.path()));
            }
        }
    }
    found.sort_unstable_by_key(|(n, _)| *n);
    Ok(found)
}

fn read_text(path: &Path) -> Result<String, TopologyError> {
    fs::read_to_string(path).map_err(|source| TopologyError::Io {
        path: path.to_owned(),
        source,
    })
}

fn read_list(path: &Path) -> Result<Vec<usize>, TopologyError> {
    parse_cpu_list(&read_text(path)?).map_err(|source| TopologyError::CpuList {
        path: path.to_owned(),
        source,
    })
}

fn malformed(path: &Path, reason: String) -> TopologyError {
    TopologyError::Malformed {
        path: path.to_owned(),
        reason,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32K\n"), Some(32 << 10));
        assert_eq!(parse_size("16M"), Some(16 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("5Q"), None);
    }
}
