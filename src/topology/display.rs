//! Human-readable trees of a topology and a plan, for logs and examples.

use std::collections::BTreeMap;
use std::fmt;

use super::{format_cpu_list, CpuInfo, PlacementPlan, Topology};

/// A labelled node of a printed tree.
struct Tree {
    label: String,
    children: Vec<Tree>,
}

impl Tree {
    fn leaf(label: impl Into<String>) -> Tree {
        Tree {
            label: label.into(),
            children: Vec::new(),
        }
    }

    fn render(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.label)?;
        self.render_children(f, "")
    }

    fn render_children(&self, f: &mut fmt::Formatter<'_>, prefix: &str) -> fmt::Result {
        for (i, child) in self.children.iter().enumerate() {
            let last = i + 1 == self.children.len();
            let (branch, carry) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            writeln!(f, "{prefix}{branch}{}", child.label)?;
            child.render_children(f, &format!("{prefix}{carry}"))?;
        }
        Ok(())
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size {
            // Display only; the precision lost above 2^53 bytes is irrelevant.
            return format!("{:.1} {unit}", n as f64 / size as f64).replace(".0 ", " ");
        }
    }
    format!("{n} B")
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut root = Tree::leaf(format!("machine (source: {})", self.source()));
        root.children.push(Tree::leaf(format!(
            "allowed CPUs: {} ({} of {} online)",
            format_cpu_list(self.allowed_cpus()),
            self.allowed_cpus().len(),
            self.cpus().len()
        )));
        root.children.push(Tree::leaf(match self.cpu_quota() {
            Some(q) => format!("cgroup CPU quota: {q} CPUs"),
            None => "cgroup CPU quota: none".to_owned(),
        }));
        root.children.push(Tree::leaf(format!(
            "default worker count: {}",
            self.default_worker_count()
        )));
        if let Some(reason) = self.pinning_unavailable() {
            root.children
                .push(Tree::leaf(format!("pinning unavailable: {reason}")));
        }
        for package in self.packages() {
            root.children.push(self.package_tree(package));
        }
        for node in self.numa_nodes().iter().filter(|n| n.cpus.is_empty()) {
            let memory = node
                .memory_bytes
                .map_or(String::new(), |m| format!(", {}", bytes(m)));
            root.children.push(Tree::leaf(format!(
                "NUMA node {} (memory only{memory})",
                node.id
            )));
        }
        if self.numa_nodes().len() > 1 {
            let mut table = Tree::leaf("NUMA distances");
            for from in self.numa_nodes() {
                let row: Vec<String> = self
                    .numa_nodes()
                    .iter()
                    .filter_map(|to| self.numa_distance(from.id, to.id))
                    .map(|d| d.to_string())
                    .collect();
                table
                    .children
                    .push(Tree::leaf(format!("node {}: {}", from.id, row.join(" "))));
            }
            root.children.push(table);
        }
        if !self.notes().is_empty() {
            let mut notes = Tree::leaf("detection notes");
            notes
                .children
                .extend(self.notes().iter().map(|n| Tree::leaf(n.clone())));
            root.children.push(notes);
        }
        root.render(f)
    }
}

impl Topology {
    /// package -> NUMA node -> L3 -> L2 -> core, skipping unknown cache levels.
    fn package_tree(&self, package: usize) -> Tree {
        let cpus: Vec<&CpuInfo> = self
            .cpus()
            .iter()
            .filter(|c| c.package == package)
            .collect();
        let mut tree = Tree::leaf(format!("package {package}"));
        for (node, in_node) in group(&cpus, |c| Some(c.numa_node)) {
            let node = node.unwrap_or(0);
            let memory = self
                .numa_node(node)
                .and_then(|n| n.memory_bytes)
                .map_or(String::new(), |m| format!(", {}", bytes(m)));
            let mut node_tree = Tree::leaf(format!(
                "NUMA node {node} ({}{memory})",
                cpu_label(&ids(&in_node))
            ));
            node_tree.children = self.cache_trees(&in_node, 3);
            tree.children.push(node_tree);
        }
        tree
    }

    fn cache_trees(&self, cpus: &[&CpuInfo], level: u8) -> Vec<Tree> {
        if level < 2 {
            return group(cpus, |c| Some(c.core))
                .into_iter()
                .map(|(core, threads)| self.core_leaf(core.unwrap_or(0), &threads))
                .collect();
        }
        let key = |c: &CpuInfo| if level == 3 { c.l3 } else { c.l2 };
        let mut trees = Vec::new();
        for (cache, members) in group(cpus, key) {
            let mut children = self.cache_trees(&members, level - 1);
            let Some(first) = cache else {
                trees.extend(children);
                continue;
            };
            let size = self
                .caches()
                .iter()
                .find(|c| c.level == level && c.cpus.first() == Some(&first))
                .and_then(|c| c.size_bytes)
                .map_or(String::new(), |s| format!(" {}", bytes(s)));
            let one_core = members.iter().all(|c| c.core == members[0].core);
            match children.pop() {
                // A cache private to one core is shown on the core's line.
                Some(mut core) if one_core && children.is_empty() => {
                    core.label.push_str(&format!("; own L{level}{size}"));
                    trees.push(core);
                }
                last => {
                    children.extend(last);
                    trees.push(Tree {
                        label: format!("L{level}{size} ({})", cpu_label(&ids(&members))),
                        children,
                    });
                }
            }
        }
        trees
    }

    fn core_leaf(&self, core: usize, threads: &[&CpuInfo]) -> Tree {
        let all = ids(threads);
        let barred: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&c| !self.is_allowed(c))
            .collect();
        let mut label = format!("core {core}: {}", cpu_label(&all));
        if barred.len() == all.len() {
            label.push_str(" (not allowed)");
        } else if !barred.is_empty() {
            label.push_str(&format!(" (not allowed: {})", format_cpu_list(&barred)));
        }
        Tree::leaf(label)
    }
}

/// "CPU 3" or "CPUs 0-3,8".
fn cpu_label(cpus: &[usize]) -> String {
    match cpus {
        [one] => format!("CPU {one}"),
        _ => format!("CPUs {}", format_cpu_list(cpus)),
    }
}

fn ids(cpus: &[&CpuInfo]) -> Vec<usize> {
    cpus.iter().map(|c| c.id).collect()
}

/// Groups CPUs by a key, keeping groups in key order (`None` first).
fn group<'a>(
    cpus: &[&'a CpuInfo],
    key: impl Fn(&CpuInfo) -> Option<usize>,
) -> BTreeMap<Option<usize>, Vec<&'a CpuInfo>> {
    let mut groups: BTreeMap<Option<usize>, Vec<&CpuInfo>> = BTreeMap::new();
    for &cpu in cpus {
        groups.entry(key(cpu)).or_default().push(cpu);
    }
    groups
}

impl fmt::Display for PlacementPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.workers().len();
        let plural = if count == 1 { "" } else { "s" };
        let mut root = Tree::leaf(format!(
            "placement: {count} worker{plural}, Pinning::{:?}",
            self.pinning()
        ));
        if let Some(reason) = self.degraded() {
            root.children
                .push(Tree::leaf(format!("degraded: {reason}")));
        }
        for (i, worker) in self.workers().iter().enumerate() {
            let cpus = worker
                .cpus
                .as_deref()
                .map_or_else(|| "unpinned".to_owned(), cpu_label);
            let node = worker
                .numa_node
                .map_or(String::new(), |n| format!(", NUMA node {n}"));
            let order: Vec<String> = self.steal_order(i).iter().map(|v| v.to_string()).collect();
            let mut tree = Tree::leaf(format!("worker {i}: {cpus}{node}"));
            let victims = if order.is_empty() {
                "nobody".to_owned()
            } else {
                order.join(" ")
            };
            tree.children
                .push(Tree::leaf(format!("steals from: {victims}")));
            root.children.push(tree);
        }
        root.render(f)
    }
}
