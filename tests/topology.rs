//! Topology discovery, placement plans and steal orders, checked on synthetic
//! machines, fake sysfs and cgroup trees, and (where allowed) real threads.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use weftpool::error::{CpuListError, DescribeError, PinError, PlacementError, TopologyError};
use weftpool::topology::{
    current_cpu, current_thread_affinity, format_cpu_list, parse_cpu_list, parse_cpu_mask,
    pin_current_thread, process_affinity, CgroupReader, Detector, MachineShape, Pinning,
    PlacementPlan, SysfsReader, Topology, TopologySource,
};

// ---------------------------------------------------------------------------
// Helpers

/// A directory under the system temp dir, removed when dropped.
struct TempTree(PathBuf);

impl TempTree {
    fn new(name: &str) -> TempTree {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "weftpool-topology-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempTree(dir)
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.0.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn remove(&self, relative: &str) {
        let path = self.0.join(relative);
        if path.is_dir() {
            fs::remove_dir_all(path).unwrap();
        } else {
            fs::remove_file(path).unwrap();
        }
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn shape(packages: usize, nodes: usize, cores: usize, threads: usize) -> MachineShape {
    MachineShape {
        packages,
        numa_nodes_per_package: nodes,
        cores_per_numa_node: cores,
        threads_per_core: threads,
    }
}

/// 2 sockets x 2 NUMA nodes x 8 cores x 2 SMT threads = 64 CPUs.
fn big_machine() -> Topology {
    Topology::builder()
        .symmetric(shape(2, 2, 8, 2))
        .build()
        .unwrap()
}

/// Package 0: node 0 with six 2-thread cores (CPUs 0-11, siblings n and n+6),
/// node 1 with two 1-thread cores (12, 13). Package 1: node 2 with four
/// 1-thread cores (14-17). Node 3 has memory and no CPUs.
fn asymmetric_machine() -> Topology {
    let mut b = Topology::builder();
    for core in 0..6 {
        b = b
            .core(0, 0, [core, core + 6])
            .cache(2, [core, core + 6], None);
    }
    b = b.cache(3, 0..12, Some(16 << 20));
    for cpu in 12..14 {
        b = b.core(0, 1, [cpu]).cache(2, [cpu], None);
    }
    b = b.cache(3, 12..14, None);
    for cpu in 14..18 {
        b = b.core(1, 2, [cpu]);
    }
    b = b.cache(3, 14..18, None).numa_node(3, Some(64 << 30));
    b = b
        .distance(0, 1, 11)
        .distance(0, 2, 30)
        .distance(1, 2, 30)
        .distance(0, 3, 40)
        .distance(1, 3, 40)
        .distance(2, 3, 15);
    b.build().unwrap()
}

fn pinned_cpu(plan: &PlacementPlan, worker: usize) -> usize {
    match plan.workers()[worker].cpus.as_deref() {
        Some([cpu]) => *cpu,
        other => panic!("worker {worker} should be on one CPU, is on {other:?}"),
    }
}

/// Per-node worker counts for the single-CPU workers of a plan.
fn per_node(topo: &Topology, plan: &PlacementPlan) -> BTreeMap<usize, usize> {
    let mut counts = BTreeMap::new();
    for w in 0..plan.workers().len() {
        *counts
            .entry(topo.cpu(pinned_cpu(plan, w)).unwrap().numa_node)
            .or_insert(0) += 1;
    }
    counts
}

/// Every steal order is a permutation of the other workers, and (with four or
/// more workers) no victim is every other worker's first choice. With three,
/// the layout itself can force it: two workers in one package pick each other
/// and the third, in the other package, must pick one of them.
fn check_steal_orders(plan: &PlacementPlan) -> BTreeMap<usize, usize> {
    let n = plan.workers().len();
    let mut first_choice_of: BTreeMap<usize, usize> = BTreeMap::new();
    for w in 0..n {
        let order = plan.steal_order(w);
        let mut sorted = order.to_vec();
        sorted.sort_unstable();
        let others: Vec<usize> = (0..n).filter(|&v| v != w).collect();
        assert_eq!(
            sorted, others,
            "worker {w}'s steal order is not a permutation"
        );
        if let Some(&first) = order.first() {
            *first_choice_of.entry(first).or_insert(0) += 1;
        }
    }
    if n >= 4 {
        let most = first_choice_of.values().copied().max().unwrap();
        assert!(
            most < n - 1,
            "one victim is everyone's first choice: {first_choice_of:?}"
        );
    }
    first_choice_of
}

// ---------------------------------------------------------------------------
// Parsers

#[test]
fn cpu_lists_and_masks_parse_and_reject_garbage() {
    assert_eq!(
        parse_cpu_list("0-3,8-11\n").unwrap(),
        vec![0, 1, 2, 3, 8, 9, 10, 11]
    );
    assert_eq!(parse_cpu_mask("ff,00000001").unwrap().len(), 9);
    assert_eq!(format_cpu_list(&[0, 1, 2, 5]), "0-2,5");
    for bad in ["0-", "x", "1,,2", "5-2", "0-99999999"] {
        let err = parse_cpu_list(bad).unwrap_err();
        assert!(
            err.to_string().contains(bad),
            "{err} should quote the input"
        );
    }
    assert!(matches!(
        parse_cpu_mask("zz"),
        Err(CpuListError::BadMaskWord { .. })
    ));
}

// ---------------------------------------------------------------------------
// Fake sysfs

/// Two packages, each one NUMA node of two 2-thread cores: cores (0,4) (1,5)
/// on node 0, (2,6) (3,7) on node 1. L1d/L1i/L2 per core, L3 per package.
fn fake_sysfs() -> TempTree {
    let t = TempTree::new("sysfs");
    t.write("devices/system/cpu/online", "0-7\n");
    for cpu in 0..8 {
        let core = cpu % 4;
        let package = core / 2;
        let siblings = format!("{core},{}", core + 4);
        let l3 = if package == 0 { "0-1,4-5" } else { "2-3,6-7" };
        let dir = format!("devices/system/cpu/cpu{cpu}");
        t.write(
            &format!("{dir}/topology/physical_package_id"),
            &format!("{package}\n"),
        );
        t.write(
            &format!("{dir}/topology/core_id"),
            &format!("{}\n", core % 2),
        );
        t.write(
            &format!("{dir}/topology/core_cpus_list"),
            &format!("{siblings}\n"),
        );
        for (index, level, kind, shared, size) in [
            (0, 1, "Data", siblings.as_str(), "32K"),
            (1, 1, "Instruction", siblings.as_str(), "32K"),
            (2, 2, "Unified", siblings.as_str(), "1024K"),
            (3, 3, "Unified", l3, "16384K"),
        ] {
            let cache = format!("{dir}/cache/index{index}");
            t.write(&format!("{cache}/level"), &format!("{level}\n"));
            t.write(&format!("{cache}/type"), &format!("{kind}\n"));
            t.write(&format!("{cache}/shared_cpu_list"), &format!("{shared}\n"));
            t.write(&format!("{cache}/size"), &format!("{size}\n"));
        }
    }
    t.write("devices/system/node/node0/cpulist", "0-1,4-5\n");
    t.write("devices/system/node/node1/cpulist", "2-3,6-7\n");
    t.write("devices/system/node/node0/distance", "10 21\n");
    t.write("devices/system/node/node1/distance", "21 10\n");
    t.write(
        "devices/system/node/node0/meminfo",
        "Node 0 MemTotal:       16777216 kB\nNode 0 MemFree: 1 kB\n",
    );
    t
}

fn detect_fake(sysfs: &Path, affinity: Vec<usize>) -> Topology {
    Detector::new()
        .hwloc(false)
        .sysfs_root(sysfs)
        .cgroup_root("/nonexistent-cgroup-root")
        .affinity(affinity)
        .detect()
}

#[test]
fn fake_sysfs_reads_cores_caches_and_nodes() {
    let sys = fake_sysfs();
    let topo = detect_fake(sys.path(), (0..8).collect());
    assert_eq!(
        topo.source(),
        TopologySource::Sysfs,
        "notes: {:?}",
        topo.notes()
    );
    assert_eq!(topo.allowed_cpus(), &[0, 1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(topo.cores(), vec![0, 1, 2, 3]);
    assert_eq!(topo.packages(), vec![0, 1]);
    let cpu6 = topo.cpu(6).unwrap();
    assert_eq!((cpu6.core, cpu6.package, cpu6.numa_node), (2, 1, 1));
    assert_eq!((cpu6.l2, cpu6.l3), (Some(2), Some(2)));
    assert_eq!(topo.numa_distance(0, 1), Some(21));
    assert_eq!(topo.numa_node(0).unwrap().memory_bytes, Some(16 << 30));
    // L1 data caches are kept, instruction caches are not.
    assert_eq!(topo.caches().iter().filter(|c| c.level == 1).count(), 4);
    let l3 = topo.caches().iter().find(|c| c.level == 3).unwrap();
    assert_eq!(
        (l3.cpus.as_slice(), l3.size_bytes),
        (&[0, 1, 4, 5][..], Some(16 << 20))
    );

    // The same machine described by hand gives the same layout.
    let described = Topology::builder()
        .core(0, 0, [0, 4])
        .core(0, 0, [1, 5])
        .core(1, 1, [2, 6])
        .core(1, 1, [3, 7])
        .cache(2, [0, 4], None)
        .cache(2, [1, 5], None)
        .cache(2, [2, 6], None)
        .cache(2, [3, 7], None)
        .cache(3, [0, 1, 4, 5], None)
        .cache(3, [2, 3, 6, 7], None)
        .distance(0, 1, 21)
        .build()
        .unwrap();
    assert_eq!(described.cpus(), topo.cpus());
    assert_eq!(described.numa_distance(1, 0), topo.numa_distance(1, 0));
    assert_eq!(described.source(), TopologySource::Described);
}

#[test]
fn sysfs_without_node_dir_or_online_file_still_reads() {
    let sys = fake_sysfs();
    sys.remove("devices/system/node");
    sys.remove("devices/system/cpu/online");
    let topo = detect_fake(sys.path(), vec![1, 2, 3]);
    assert_eq!(
        topo.source(),
        TopologySource::Sysfs,
        "notes: {:?}",
        topo.notes()
    );
    assert_eq!(topo.numa_nodes().len(), 1);
    assert_eq!(topo.allowed_cpus(), &[1, 2, 3]);
    assert_eq!(topo.cpus().len(), 8);
}

#[test]
fn thread_siblings_list_stands_in_for_core_cpus_list() {
    let sys = fake_sysfs();
    for cpu in 0..8 {
        let dir = format!("devices/system/cpu/cpu{cpu}/topology");
        sys.remove(&format!("{dir}/core_cpus_list"));
        let core = cpu % 4;
        sys.write(
            &format!("{dir}/thread_siblings_list"),
            &format!("{core},{}", core + 4),
        );
    }
    let topo = detect_fake(sys.path(), (0..8).collect());
    assert_eq!(topo.source(), TopologySource::Sysfs);
    assert_eq!(topo.cpu(5).unwrap().core, 1);
}

#[test]
fn malformed_sysfs_is_an_error_then_the_flat_fallback() {
    let cases: [(&str, &str, &str); 6] = [
        ("devices/system/node/node1/cpulist", "2-3,,6-7", "cpulist"),
        ("devices/system/cpu/online", "0-banana", "online"),
        (
            "devices/system/cpu/cpu3/topology/core_cpus_list",
            "7-3",
            "core_cpus_list",
        ),
        (
            "devices/system/cpu/cpu3/topology/physical_package_id",
            "socket",
            "physical_package_id",
        ),
        ("devices/system/cpu/cpu0/cache/index2/level", "two", "level"),
        ("devices/system/node/node0/distance", "10 21 30", "distance"),
    ];
    for (file, text, mention) in cases {
        let sys = fake_sysfs();
        sys.write(file, text);
        let err = SysfsReader::new(sys.path()).read().unwrap_err();
        assert!(err.to_string().contains(mention), "{file}: {err}");

        let topo = detect_fake(sys.path(), vec![0, 1]);
        assert_eq!(topo.source(), TopologySource::Flat, "{file}");
        assert_eq!(topo.allowed_cpus(), &[0, 1]);
        assert!(
            topo.notes()
                .iter()
                .any(|n| n.starts_with("sysfs:") && n.contains(mention)),
            "{file}: {:?}",
            topo.notes()
        );
    }
}

#[test]
fn missing_or_inconsistent_sysfs_files_are_errors() {
    let sys = fake_sysfs();
    sys.remove("devices/system/cpu/cpu2/topology");
    assert!(matches!(
        SysfsReader::new(sys.path()).read(),
        Err(TopologyError::Io { .. })
    ));

    let sys = fake_sysfs();
    sys.write("devices/system/node/node1/cpulist", "2-3,6");
    let err = SysfsReader::new(sys.path()).read().unwrap_err();
    assert!(
        err.to_string().contains("CPU 7 is in no NUMA node"),
        "{err}"
    );

    let sys = fake_sysfs();
    sys.write("devices/system/cpu/cpu1/topology/core_cpus_list", "0,4");
    let err = SysfsReader::new(sys.path()).read().unwrap_err();
    assert!(
        err.to_string().contains("missing from its own core"),
        "{err}"
    );

    // Caches that disagree with each other make an impossible machine.
    let sys = fake_sysfs();
    sys.write(
        "devices/system/cpu/cpu5/cache/index3/shared_cpu_list",
        "1-2,5",
    );
    let topo = detect_fake(sys.path(), vec![0]);
    assert_eq!(topo.source(), TopologySource::Flat);
    let err = SysfsReader::new(sys.path())
        .read()
        .unwrap()
        .build()
        .unwrap_err();
    assert!(
        matches!(err, DescribeError::CpuInTwoCaches { level: 3, .. }),
        "{err}"
    );

    assert!(SysfsReader::new("/nonexistent-sysfs").read().is_err());
}

#[test]
fn affinity_outside_the_known_cpus_moves_to_the_next_source() {
    let sys = fake_sysfs();
    let topo = detect_fake(sys.path(), vec![100, 101]);
    assert_eq!(topo.source(), TopologySource::Flat);
    assert_eq!(topo.allowed_cpus(), &[100, 101]);
    assert!(topo.notes().iter().any(|n| n.contains("none of the CPUs")));
}

#[test]
fn shared_cpu_map_stands_in_for_shared_cpu_list() {
    let sys = fake_sysfs();
    for cpu in 0..8 {
        let dir = format!("devices/system/cpu/cpu{cpu}/cache/index3");
        sys.remove(&format!("{dir}/shared_cpu_list"));
        let mask = if cpu % 4 < 2 { "33" } else { "cc" };
        sys.write(&format!("{dir}/shared_cpu_map"), mask);
    }
    let topo = detect_fake(sys.path(), (0..8).collect());
    assert_eq!(topo.source(), TopologySource::Sysfs, "{:?}", topo.notes());
    assert_eq!(topo.cpu(7).unwrap().l3, Some(2));
}

// ---------------------------------------------------------------------------
// Fake cgroups

fn cgroup_tree(proc_cgroup: &str, mountinfo: Option<&str>) -> TempTree {
    let t = TempTree::new("cgroup");
    t.write("proc/self/cgroup", proc_cgroup);
    if let Some(text) = mountinfo {
        t.write("proc/self/mountinfo", text);
    }
    t
}

#[test]
fn cgroup_v2_quota_takes_the_smallest_limit_up_the_tree() {
    let t = cgroup_tree(
        "0::/app/worker\n",
        Some("41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"),
    );
    t.write("sys/fs/cgroup/cgroup.controllers", "cpu\n");
    t.write("sys/fs/cgroup/app/cpu.max", "250000 100000\n");
    t.write("sys/fs/cgroup/app/worker/cpu.max", "max 100000\n");
    assert_eq!(CgroupReader::new(t.path()).cpu_quota().unwrap(), Some(2.5));

    t.write("sys/fs/cgroup/app/worker/cpu.max", "150000 100000\n");
    assert_eq!(CgroupReader::new(t.path()).cpu_quota().unwrap(), Some(1.5));

    let topo = Topology::builder()
        .symmetric(shape(1, 1, 4, 1))
        .cpu_quota(1.5)
        .build()
        .unwrap();
    assert_eq!(topo.default_worker_count(), 2);
}

#[test]
fn cgroup_v1_quota_with_a_host_path_inside_a_container() {
    // The container sees its own cgroup mounted at the hierarchy's root while
    // /proc/self/cgroup names the host's path.
    let t = cgroup_tree(
        "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n",
        Some(
            "32 31 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
        ),
    );
    t.write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "50000\n");
    t.write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    assert_eq!(CgroupReader::new(t.path()).cpu_quota().unwrap(), Some(0.5));
}

#[test]
fn cgroup_without_mountinfo_uses_the_usual_mounts() {
    let t = cgroup_tree("1:cpu:/\n", None);
    t.write("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n");
    t.write("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
    assert_eq!(CgroupReader::new(t.path()).cpu_quota().unwrap(), None);
    t.write("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "300000\n");
    assert_eq!(CgroupReader::new(t.path()).cpu_quota().unwrap(), Some(3.0));
    // No cgroup information at all: no limit.
    assert_eq!(
        CgroupReader::new("/nonexistent-root").cpu_quota().unwrap(),
        None
    );
}

#[test]
fn malformed_cpu_max_is_an_error_and_a_note() {
    let t = cgroup_tree(
        "0::/\n",
        Some("41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"),
    );
    t.write("sys/fs/cgroup/cpu.max", "lots of cpu\n");
    let err = CgroupReader::new(t.path()).cpu_quota().unwrap_err();
    assert!(err.to_string().contains("cpu.max"), "{err}");

    let topo = Detector::new()
        .hwloc(false)
        .sysfs_root("/nonexistent-sysfs")
        .cgroup_root(t.path())
        .affinity(vec![0, 1, 2, 3])
        .detect();
    assert_eq!(topo.cpu_quota(), None);
    assert_eq!(topo.default_worker_count(), 4);
    assert!(
        topo.notes().iter().any(|n| n.contains("cgroup")),
        "{:?}",
        topo.notes()
    );
}

#[test]
fn quota_lowers_the_default_worker_count_through_detection() {
    let sys = fake_sysfs();
    let t = cgroup_tree(
        "0::/\n",
        Some("41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"),
    );
    t.write("sys/fs/cgroup/cpu.max", "120000 100000\n");
    let topo = Detector::new()
        .hwloc(false)
        .sysfs_root(sys.path())
        .cgroup_root(t.path())
        .affinity((0..8).collect())
        .detect();
    assert_eq!(topo.cpu_quota(), Some(1.2));
    assert_eq!(topo.default_worker_count(), 2);
}

// ---------------------------------------------------------------------------
// Plans on the 64-CPU machine

#[test]
fn cores_spreads_over_nodes_and_packages_first() {
    let topo = big_machine();
    let plan = PlacementPlan::new(&topo, 4, &Pinning::Cores).unwrap();
    let nodes: Vec<usize> = (0..4)
        .map(|w| plan.workers()[w].numa_node.unwrap())
        .collect();
    assert_eq!(nodes, vec![0, 2, 1, 3], "packages alternate, then nodes");
    assert_eq!(plan.degraded(), None);

    for workers in 1..=32 {
        let plan = PlacementPlan::new(&topo, workers, &Pinning::Cores).unwrap();
        let counts = per_node(&topo, &plan);
        let (lo, hi) = (
            counts.values().min().unwrap(),
            counts.values().max().unwrap(),
        );
        let nodes_used = counts.len();
        assert!(
            hi - lo <= 1 && nodes_used == workers.min(4),
            "{workers}: {counts:?}"
        );
        let cores: BTreeSet<usize> = (0..workers)
            .map(|w| topo.cpu(pinned_cpu(&plan, w)).unwrap().core)
            .collect();
        assert_eq!(
            cores.len(),
            workers,
            "no SMT sibling before every core has a worker"
        );
    }
}

#[test]
fn cores_uses_smt_siblings_last_and_confines_extras_to_nodes() {
    let topo = big_machine();
    let plan = PlacementPlan::new(&topo, 33, &Pinning::Cores).unwrap();
    assert!((0..32).all(|w| pinned_cpu(&plan, w) < 32));
    assert!(
        pinned_cpu(&plan, 32) >= 32,
        "the 33rd worker takes a second thread"
    );

    let plan = PlacementPlan::new(&topo, 64, &Pinning::Cores).unwrap();
    let cpus: BTreeSet<usize> = (0..64).map(|w| pinned_cpu(&plan, w)).collect();
    assert_eq!(cpus.len(), 64);

    let plan = PlacementPlan::new(&topo, 70, &Pinning::Cores).unwrap();
    for w in 64..70 {
        let placement = &plan.workers()[w];
        let node = placement.numa_node.unwrap();
        assert_eq!(
            placement.cpus.as_ref().unwrap(),
            &topo.numa_node(node).unwrap().cpus
        );
    }
    check_steal_orders(&plan);
}

#[test]
fn steal_order_goes_core_then_cache_then_node_then_distance() {
    let topo = big_machine();
    let plan = PlacementPlan::new(&topo, 64, &Pinning::Cores).unwrap();
    for w in 0..64 {
        let me = topo.cpu(pinned_cpu(&plan, w)).unwrap();
        let order = plan.steal_order(w);
        let rank = |v: usize| {
            let other = topo.cpu(pinned_cpu(&plan, v)).unwrap();
            if other.core == me.core {
                (0, 0)
            } else if other.l3 == me.l3 {
                (2, 0)
            } else {
                (
                    4,
                    topo.numa_distance(me.numa_node, other.numa_node).unwrap(),
                )
            }
        };
        let ranks: Vec<_> = order.iter().map(|&v| rank(v)).collect();
        assert!(
            ranks.windows(2).all(|p| p[0] <= p[1]),
            "worker {w}: {ranks:?}"
        );
        assert_eq!(rank(order[0]), (0, 0), "the SMT sibling comes first");
        assert!(
            ranks[1..15].iter().all(|r| r.0 == 2),
            "the rest of the node's L3"
        );
        assert!(
            ranks[15..31].iter().all(|r| r.1 == 12),
            "the package's other node"
        );
        assert!(ranks[31..].iter().all(|r| r.1 == 21), "the other package");
    }
    let firsts = check_steal_orders(&plan);
    assert!(
        firsts.values().all(|&n| n == 1),
        "siblings pair off: {firsts:?}"
    );
}

#[test]
fn ties_rotate_so_first_choices_spread() {
    let topo = big_machine();
    for workers in 3..=64 {
        let plan = PlacementPlan::new(&topo, workers, &Pinning::Cores).unwrap();
        let firsts = check_steal_orders(&plan);
        let most = firsts.values().copied().max().unwrap();
        assert!(most <= 2, "{workers} workers: {firsts:?}");
    }
    // One worker per core: each node's workers form a ring of first choices.
    let plan = PlacementPlan::new(&topo, 32, &Pinning::Cores).unwrap();
    assert!(check_steal_orders(&plan).values().all(|&n| n == 1));

    // Unpinned workers know nothing about each other: plain rotation.
    let plan = PlacementPlan::new(&topo, 5, &Pinning::None).unwrap();
    assert_eq!(plan.steal_order(3), &[4, 0, 1, 2]);
    assert!(check_steal_orders(&plan).values().all(|&n| n == 1));
}

#[test]
fn explicit_cpus_and_nodes() {
    let topo = big_machine();
    let plan = PlacementPlan::new(&topo, 3, &Pinning::Cpus(vec![40, 3, 35])).unwrap();
    assert_eq!(
        (0..3).map(|w| pinned_cpu(&plan, w)).collect::<Vec<_>>(),
        vec![40, 3, 35]
    );
    assert_eq!(plan.workers()[0].numa_node, Some(1));
    // 3 and 35 are SMT siblings.
    assert_eq!(plan.steal_order(1)[0], 2);

    let plan = PlacementPlan::new(&topo, 20, &Pinning::NumaNode(2)).unwrap();
    let node2 = &topo.numa_node(2).unwrap().cpus;
    assert!(plan
        .workers()
        .iter()
        .all(|w| w.cpus.as_ref() == Some(node2) && w.numa_node == Some(2)));
    check_steal_orders(&plan);

    let plan = PlacementPlan::new(&topo, 3, &Pinning::None).unwrap();
    assert!(plan
        .workers()
        .iter()
        .all(|w| w.cpus.is_none() && w.numa_node.is_none()));
    assert_eq!(plan.steal_order(7), &[] as &[usize]);
}

// ---------------------------------------------------------------------------
// The asymmetric machine

#[test]
fn asymmetric_machine_plans() {
    let topo = asymmetric_machine();
    assert_eq!(topo.numa_node(3).unwrap().cpus, Vec::<usize>::new());
    assert_eq!(topo.cores().len(), 12);

    // Nodes 0 (package 0), 2 (package 1), 1 (package 0) in turn.
    let plan = PlacementPlan::new(&topo, 8, &Pinning::Cores).unwrap();
    assert_eq!(
        per_node(&topo, &plan),
        BTreeMap::from([(0, 3), (1, 2), (2, 3)])
    );

    // Twelve workers fill every core; node 2 fills up and the rest keep dealing.
    let plan = PlacementPlan::new(&topo, 12, &Pinning::Cores).unwrap();
    assert_eq!(
        per_node(&topo, &plan),
        BTreeMap::from([(0, 6), (1, 2), (2, 4)])
    );
    assert!((0..12).all(|w| pinned_cpu(&plan, w) < 6 || pinned_cpu(&plan, w) >= 12));
    let plan = PlacementPlan::new(&topo, 13, &Pinning::Cores).unwrap();
    assert_eq!(pinned_cpu(&plan, 12), 6, "only node 0 has second threads");
    check_steal_orders(&plan);

    // Node 1 (distance 11) is nearer to node 0 than node 2 (distance 30).
    let plan = PlacementPlan::new(&topo, 3, &Pinning::Cpus(vec![0, 14, 12])).unwrap();
    assert_eq!(plan.steal_order(0), &[2, 1]);
    assert_eq!(plan.steal_order(1), &[2, 0], "equal distances rotate");

    assert_eq!(
        PlacementPlan::new(&topo, 2, &Pinning::NumaNode(3)).unwrap_err(),
        PlacementError::NoAllowedCpusOnNode { node: 3 }
    );
    assert!(matches!(
        PlacementPlan::new(&topo, 2, &Pinning::NumaNode(9)),
        Err(PlacementError::UnknownNumaNode { node: 9, .. })
    ));
    for workers in 3..=30 {
        let plan = PlacementPlan::new(&topo, workers, &Pinning::Cores).unwrap();
        check_steal_orders(&plan);
    }
}

// ---------------------------------------------------------------------------
// A process restricted to a few CPUs

#[test]
fn restricted_process_plans_only_on_allowed_cpus() {
    // CPUs 0 and 32 share core 0; 1 is core 1; 40 is the second thread of
    // core 8 (node 1), whose first thread 8 is not allowed.
    let topo = Topology::builder()
        .symmetric(shape(2, 2, 8, 2))
        .allowed_cpus([32, 0, 1, 40])
        .build()
        .unwrap();
    assert_eq!(topo.allowed_cpus(), &[0, 1, 32, 40]);
    assert_eq!(topo.default_worker_count(), 4);

    let plan = PlacementPlan::new(&topo, 3, &Pinning::Cores).unwrap();
    assert_eq!(
        (0..3).map(|w| pinned_cpu(&plan, w)).collect::<Vec<_>>(),
        vec![0, 40, 1]
    );
    let plan = PlacementPlan::new(&topo, 4, &Pinning::Cores).unwrap();
    assert_eq!(pinned_cpu(&plan, 3), 32);
    assert_eq!(plan.steal_order(3)[0], 0, "its SMT sibling");
    let plan = PlacementPlan::new(&topo, 6, &Pinning::Cores).unwrap();
    assert_eq!(plan.workers()[4].cpus, Some(vec![0, 1, 32]));
    assert_eq!(plan.workers()[5].cpus, Some(vec![40]));

    let plan = PlacementPlan::new(&topo, 2, &Pinning::NumaNode(0)).unwrap();
    assert_eq!(plan.workers()[0].cpus, Some(vec![0, 1, 32]));

    let quota = Topology::builder()
        .symmetric(shape(2, 2, 8, 2))
        .allowed_cpus([32, 0, 1, 40])
        .cpu_quota(2.5)
        .build()
        .unwrap();
    assert_eq!(quota.default_worker_count(), 3);
    let tiny = Topology::builder()
        .symmetric(shape(1, 1, 4, 1))
        .cpu_quota(0.1)
        .build()
        .unwrap();
    assert_eq!(tiny.default_worker_count(), 1);
}

#[test]
fn requests_that_cannot_be_met_are_errors() {
    let topo = Topology::builder()
        .symmetric(shape(2, 2, 8, 2))
        .allowed_cpus([0, 1, 32, 40])
        .build()
        .unwrap();
    let plan = |workers, pinning| PlacementPlan::new(&topo, workers, &pinning);

    assert_eq!(
        plan(0, Pinning::Cores).unwrap_err(),
        PlacementError::NoWorkers
    );
    assert_eq!(
        plan(2, Pinning::Cpus(vec![])).unwrap_err(),
        PlacementError::EmptyCpuList
    );
    assert_eq!(
        plan(2, Pinning::Cpus(vec![0, 2])).unwrap_err(),
        PlacementError::CpuNotAllowed {
            cpu: 2,
            allowed: "0-1,32,40".to_owned()
        }
    );
    assert_eq!(
        plan(2, Pinning::Cpus(vec![0, 9999]))
            .unwrap_err()
            .to_string(),
        "CPU 9999 is not allowed to this process (allowed: 0-1,32,40)"
    );
    assert_eq!(
        plan(2, Pinning::Cpus(vec![1, 1])).unwrap_err(),
        PlacementError::DuplicateCpu(1)
    );
    assert_eq!(
        plan(5, Pinning::Cpus(vec![0, 1, 32, 40])).unwrap_err(),
        PlacementError::CpuCountMismatch {
            workers: 5,
            cpus: 4
        }
    );
    assert_eq!(
        plan(1, Pinning::Cpus(vec![0, 1])).unwrap_err(),
        PlacementError::CpuCountMismatch {
            workers: 1,
            cpus: 2
        }
    );
    assert_eq!(
        plan(2, Pinning::NumaNode(2)).unwrap_err(),
        PlacementError::NoAllowedCpusOnNode { node: 2 }
    );
    assert_eq!(
        plan(2, Pinning::NumaNode(4)).unwrap_err().to_string(),
        "NUMA node 4 does not exist (nodes: 0-3)"
    );
    // Cores never errors for many workers.
    assert_eq!(plan(100, Pinning::Cores).unwrap().workers().len(), 100);
}

#[test]
fn cores_degrades_where_pinning_is_unavailable_but_explicit_requests_fail() {
    let topo = Topology::builder()
        .symmetric(shape(1, 1, 4, 2))
        .pinning_unavailable("sched_getaffinity failed: EPERM")
        .build()
        .unwrap();
    let plan = PlacementPlan::new(&topo, 4, &Pinning::Cores).unwrap();
    assert!(plan.degraded().unwrap().contains("EPERM"));
    assert!(plan.workers().iter().all(|w| w.cpus.is_none()));
    assert!(matches!(
        PlacementPlan::new(&topo, 1, &Pinning::Cpus(vec![0])),
        Err(PlacementError::PinningUnavailable { .. })
    ));
    assert!(matches!(
        PlacementPlan::new(&topo, 1, &Pinning::NumaNode(0)),
        Err(PlacementError::PinningUnavailable { .. })
    ));
    assert_eq!(
        PlacementPlan::new(&topo, 2, &Pinning::None)
            .unwrap()
            .degraded(),
        None
    );

    // Only a flat count known: Cores degrades; explicit CPUs still work.
    let flat = Detector::new()
        .hwloc(false)
        .sysfs_root("/nonexistent-sysfs")
        .cgroup_root("/nonexistent-cgroup-root")
        .affinity(vec![0, 1, 2])
        .detect();
    assert_eq!(flat.source(), TopologySource::Flat);
    let plan = PlacementPlan::new(&flat, 3, &Pinning::Cores).unwrap();
    assert!(plan.degraded().unwrap().contains("flat"));
    assert!(PlacementPlan::new(&flat, 2, &Pinning::Cpus(vec![2, 0])).is_ok());
}

#[test]
fn plans_and_topologies_print_as_trees() {
    let topo = asymmetric_machine();
    let text = topo.to_string();
    assert!(text.starts_with("machine (source: described)"), "{text}");
    assert!(text.contains("NUMA node 3 (memory only, 64 GiB)"), "{text}");
    assert!(text.contains("L3 16 MiB (CPUs 0-11)"), "{text}");
    assert!(text.contains("core 0: CPUs 0,6"), "{text}");
    let plan = PlacementPlan::new(&topo, 3, &Pinning::Cores).unwrap();
    let text = plan.to_string();
    assert!(text.contains("worker 1: CPU 14, NUMA node 2"), "{text}");
    assert!(text.contains("steals from: 2 0"), "{text}");
}

// ---------------------------------------------------------------------------
// This machine

#[test]
fn detect_reads_this_machine() {
    let topo = Topology::detect();
    assert!(!topo.allowed_cpus().is_empty());
    let workers = topo.default_worker_count();
    assert!(workers >= 1 && workers <= topo.allowed_cpus().len());
    if cfg!(target_os = "linux") {
        let mask = process_affinity().unwrap();
        assert_eq!(topo.allowed_cpus(), mask.as_slice());
        let expected = if cfg!(feature = "hwloc") {
            TopologySource::Hwloc
        } else {
            TopologySource::Sysfs
        };
        assert_eq!(topo.source(), expected, "notes: {:?}", topo.notes());
    }
    let plan = PlacementPlan::new(&topo, workers, &Pinning::default()).unwrap();
    assert_eq!(plan.workers().len(), workers);
    check_steal_orders(&plan);
}

#[cfg(feature = "hwloc")]
#[test]
fn hwloc_and_sysfs_agree_on_this_machine() {
    let hwloc = Topology::detect();
    let sysfs = Detector::new().hwloc(false).detect();
    assert_eq!(hwloc.source(), TopologySource::Hwloc, "{:?}", hwloc.notes());
    assert_eq!(sysfs.source(), TopologySource::Sysfs, "{:?}", sysfs.notes());
    assert_eq!(hwloc.cpus(), sysfs.cpus());
    assert_eq!(hwloc.allowed_cpus(), sysfs.allowed_cpus());
    let node_cpus = |t: &Topology| -> Vec<(usize, Vec<usize>)> {
        t.numa_nodes()
            .iter()
            .map(|n| (n.id, n.cpus.clone()))
            .collect()
    };
    assert_eq!(node_cpus(&hwloc), node_cpus(&sysfs));
}

#[test]
fn pinning_a_real_thread() {
    assert_eq!(pin_current_thread(&[]), Err(PinError::EmptySet));
    assert!(matches!(
        pin_current_thread(&[usize::MAX]),
        Err(PinError::CpuOutOfRange { .. })
    ));

    let topo = Topology::detect();
    let target = *topo.allowed_cpus().last().unwrap();
    let all = topo.allowed_cpus().to_vec();
    std::thread::spawn(move || {
        if let Err(err) = pin_current_thread(&[target]) {
            println!("note: pinning refused on this machine, skipping: {err}");
            return;
        }
        if let Ok(mask) = current_thread_affinity() {
            assert_eq!(mask, vec![target]);
        }
        match current_cpu() {
            Some(cpu) => assert_eq!(cpu, target),
            None => println!("note: current_cpu() unsupported here"),
        }
        // Back to the whole allowed set.
        pin_current_thread(&all).unwrap();
        if let Ok(mask) = current_thread_affinity() {
            assert_eq!(mask, all);
        }
        // A CPU that does not exist is refused with a reason, not a panic.
        if cfg!(target_os = "linux") {
            let err = pin_current_thread(&[60_000]).unwrap_err();
            assert!(matches!(err, PinError::Refused { .. }), "{err}");
        }
    })
    .join()
    .unwrap();

    // Pinning a worker thread does not change what detection sees.
    let after = Topology::detect();
    assert_eq!(after.allowed_cpus(), topo.allowed_cpus());
}

#[test]
fn detection_from_a_pinned_thread_still_sees_the_process() {
    let before = Topology::detect();
    if before.allowed_cpus().len() < 2 {
        println!("note: only one CPU allowed; nothing to compare");
        return;
    }
    let first = before.allowed_cpus()[0];
    let seen = std::thread::spawn(move || {
        if pin_current_thread(&[first]).is_err() {
            return None;
        }
        Some(Topology::detect().allowed_cpus().to_vec())
    })
    .join()
    .unwrap();
    match seen {
        Some(cpus) => assert_eq!(cpus, before.allowed_cpus()),
        None => println!("note: pinning refused on this machine, skipping"),
    }
}
