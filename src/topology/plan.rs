//! Which worker runs where.

use std::collections::BTreeMap;

use super::{format_cpu_list, steal, Topology, TopologySource};
use crate::error::PlacementError;

/// How a pool's workers are placed on CPUs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Pinning {
    /// No pinning: the operating system moves workers freely.
    None,
    /// One worker per physical core, dealt across NUMA nodes in turn (and
    /// across packages before a second node of the same package); a second
    /// hardware thread of a core is used only once every allowed core has a
    /// worker. Workers beyond the allowed CPUs are each confined to a whole
    /// NUMA node's allowed CPUs, dealt the same way. Degrades to unpinned,
    /// and says so in [`PlacementPlan::degraded`], where pinning is not
    /// possible or only the flat fallback described the machine.
    #[default]
    Cores,
    /// Worker `i` on CPU `list[i]`: exactly one distinct, allowed CPU per
    /// worker.
    Cpus(Vec<usize>),
    /// Every worker confined to this NUMA node's allowed CPUs (the operating
    /// system balances them within the node).
    NumaNode(usize),
}

/// Where one worker goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPlacement {
    /// The CPUs the worker is pinned to, or `None` to leave it unpinned.
    pub cpus: Option<Vec<usize>>,
    /// The NUMA node the worker's CPUs belong to, when they are all on one.
    pub numa_node: Option<usize>,
}

impl WorkerPlacement {
    const UNPINNED: WorkerPlacement = WorkerPlacement {
        cpus: None,
        numa_node: None,
    };
}

/// One placement per worker, and each worker's steal order.
///
/// ```
/// use weftpool::topology::{MachineShape, Pinning, PlacementPlan, Topology};
///
/// let topo = Topology::builder()
///     .symmetric(MachineShape {
///         packages: 1,
///         numa_nodes_per_package: 1,
///         cores_per_numa_node: 4,
///         threads_per_core: 2,
///     })
///     .build()
///     .unwrap();
/// let plan = PlacementPlan::new(&topo, 5, &Pinning::Cores).unwrap();
/// // Four cores first, then the first core's second thread.
/// let cpus: Vec<_> = plan.workers().iter().map(|w| w.cpus.clone().unwrap()).collect();
/// assert_eq!(cpus, vec![vec![0], vec![1], vec![2], vec![3], vec![4]]);
/// // Worker 4 shares a core with worker 0, so it steals from it first.
/// assert_eq!(plan.steal_order(4)[0], 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementPlan {
    pinning: Pinning,
    workers: Vec<WorkerPlacement>,
    steal_orders: Vec<Vec<usize>>,
    degraded: Option<String>,
}

impl PlacementPlan {
    /// Plans `workers` workers on `topo` under `pinning`.
    ///
    /// Explicit requests that cannot be met are errors: zero workers, an empty
    /// or duplicated CPU list, a CPU the process may not use, a list whose
    /// length differs from the worker count, a node that does not exist or has
    /// no allowed CPU, and any explicit pinning where pinning is unavailable.
    pub fn new(
        topo: &Topology,
        workers: usize,
        pinning: &Pinning,
    ) -> Result<PlacementPlan, PlacementError> {
        if workers == 0 {
            return Err(PlacementError::NoWorkers);
        }
        let mut degraded = None;
        let placements = match pinning {
            Pinning::None => vec![WorkerPlacement::UNPINNED; workers],
            Pinning::Cores => match cores_unavailable(topo) {
                Some(reason) => {
                    degraded = Some(format!("Pinning::Cores left workers unpinned: {reason}"));
                    vec![WorkerPlacement::UNPINNED; workers]
                }
                None => by_cores(topo, workers),
            },
            Pinning::Cpus(list) => by_cpus(topo, workers, list)?,
            Pinning::NumaNode(node) => by_node(topo, workers, *node)?,
        };
        let steal_orders = steal::steal_orders(topo, &placements);
        Ok(PlacementPlan {
            pinning: pinning.clone(),
            workers: placements,
            steal_orders,
            degraded,
        })
    }

    /// One placement per worker, in worker order.
    pub fn workers(&self) -> &[WorkerPlacement] {
        &self.workers
    }

    /// The policy this plan was made with.
    pub fn pinning(&self) -> &Pinning {
        &self.pinning
    }

    /// The other workers, nearest to `worker` first: same core, same L2, same
    /// L3, same NUMA node, then by NUMA distance. Ties are rotated by worker
    /// index, so no single victim is everyone's first choice. Empty for a
    /// worker index outside the plan.
    pub fn steal_order(&self, worker: usize) -> &[usize] {
        self.steal_orders.get(worker).map_or(&[], Vec::as_slice)
    }

    /// Why `Pinning::Cores` could not pin (the plan is then unpinned), or
    /// `None` when the plan is what was asked.
    pub fn degraded(&self) -> Option<&str> {
        self.degraded.as_deref()
    }
}

fn cores_unavailable(topo: &Topology) -> Option<String> {
    if let Some(reason) = topo.pinning_unavailable() {
        return Some(reason.to_owned());
    }
    (topo.source() == TopologySource::Flat)
        .then(|| "only a flat CPU count is known (no cores, caches or NUMA nodes)".to_owned())
}

fn explicit_pinning_check(topo: &Topology) -> Result<(), PlacementError> {
    match topo.pinning_unavailable() {
        Some(reason) => Err(PlacementError::PinningUnavailable {
            reason: reason.to_owned(),
        }),
        None => Ok(()),
    }
}

fn by_cpus(
    topo: &Topology,
    workers: usize,
    list: &[usize],
) -> Result<Vec<WorkerPlacement>, PlacementError> {
    if list.is_empty() {
        return Err(PlacementError::EmptyCpuList);
    }
    explicit_pinning_check(topo)?;
    let mut seen = Vec::with_capacity(list.len());
    for &cpu in list {
        if !topo.is_allowed(cpu) {
            return Err(PlacementError::CpuNotAllowed {
                cpu,
                allowed: format_cpu_list(topo.allowed_cpus()),
            });
        }
        if seen.contains(&cpu) {
            return Err(PlacementError::DuplicateCpu(cpu));
        }
        seen.push(cpu);
    }
    if list.len() != workers {
        return Err(PlacementError::CpuCountMismatch {
            workers,
            cpus: list.len(),
        });
    }
    Ok(list.iter().map(|&cpu| single(topo, cpu)).collect())
}

fn by_node(
    topo: &Topology,
    workers: usize,
    node: usize,
) -> Result<Vec<WorkerPlacement>, PlacementError> {
    explicit_pinning_check(topo)?;
    let Some(info) = topo.numa_node(node) else {
        let ids: Vec<usize> = topo.numa_nodes().iter().map(|n| n.id).collect();
        return Err(PlacementError::UnknownNumaNode {
            node,
            known: format_cpu_list(&ids),
        });
    };
    let cpus: Vec<usize> = info
        .cpus
        .iter()
        .copied()
        .filter(|&c| topo.is_allowed(c))
        .collect();
    if cpus.is_empty() {
        return Err(PlacementError::NoAllowedCpusOnNode { node });
    }
    Ok(vec![
        WorkerPlacement {
            cpus: Some(cpus),
            numa_node: Some(node),
        };
        workers
    ])
}

fn single(topo: &Topology, cpu: usize) -> WorkerPlacement {
    WorkerPlacement {
        cpus: Some(vec![cpu]),
        numa_node: topo.cpu(cpu).map(|c| c.numa_node),
    }
}

/// Allowed CPUs grouped by node, then core: node -> core -> threads.
type NodeCores = BTreeMap<usize, BTreeMap<usize, Vec<usize>>>;

fn by_cores(topo: &Topology, workers: usize) -> Vec<WorkerPlacement> {
    let mut by_node: NodeCores = BTreeMap::new();
    for cpu in topo.allowed_cpus().iter().filter_map(|&c| topo.cpu(c)) {
        by_node
            .entry(cpu.numa_node)
            .or_default()
            .entry(cpu.core)
            .or_default()
            .push(cpu.id);
    }
    let nodes = dealing_order(topo, &by_node);
    let sequence = deal_cpus(&by_node, &nodes);

    (0..workers)
        .map(|w| match sequence.get(w) {
            Some(&cpu) => single(topo, cpu),
            None => {
                // More workers than CPUs: confine each extra to a node rather
                // than stacking two pinned workers on one CPU.
                let node = nodes[(w - sequence.len()) % nodes.len()];
                let cpus = by_node[&node]
                    .values()
                    .flatten()
                    .copied()
                    .collect::<Vec<_>>();
                WorkerPlacement {
                    cpus: Some(sorted(cpus)),
                    numa_node: Some(node),
                }
            }
        })
        .collect()
}

/// Nodes with allowed CPUs, ordered so that dealing round-robin visits every
/// package before a second node of any package: by (rank of the node within
/// its package, package, node).
fn dealing_order(topo: &Topology, by_node: &NodeCores) -> Vec<usize> {
    let package_of = |node: usize| {
        by_node[&node]
            .values()
            .flatten()
            .find_map(|&cpu| topo.cpu(cpu))
            .map_or(0, |c| c.package)
    };
    let mut rank_in_package: BTreeMap<usize, usize> = BTreeMap::new();
    let mut keyed: Vec<(usize, usize, usize)> = by_node
        .keys()
        .map(|&node| {
            let package = package_of(node);
            let rank = rank_in_package.entry(package).or_insert(0);
            *rank += 1;
            (*rank, package, node)
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, _, node)| node).collect()
}

/// Every allowed CPU in the order workers take them: first thread of each
/// core dealt across nodes, then second threads, and so on.
fn deal_cpus(by_node: &NodeCores, nodes: &[usize]) -> Vec<usize> {
    let max_threads = by_node
        .values()
        .flat_map(|cores| cores.values().map(Vec::len))
        .max()
        .unwrap_or(0);
    let mut sequence = Vec::new();
    for thread in 0..max_threads {
        let mut hands: Vec<std::vec::IntoIter<usize>> = nodes
            .iter()
            .map(|node| {
                let cpus: Vec<usize> = by_node[node]
                    .values()
                    .filter_map(|threads| threads.get(thread).copied())
                    .collect();
                cpus.into_iter()
            })
            .collect();
        loop {
            let before = sequence.len();
            sequence.extend(hands.iter_mut().filter_map(Iterator::next));
            if sequence.len() == before {
                break;
            }
        }
    }
    sequence
}

fn sorted(mut cpus: Vec<usize>) -> Vec<usize> {
    cpus.sort_unstable();
    cpus
}
