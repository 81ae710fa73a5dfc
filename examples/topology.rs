//! Prints the machine as weftpool sees it and the default pool's placement.
//!
//! ```text
//! cargo run --example topology
//! cargo run --example topology --features hwloc
//! cargo run --example topology -- --synthetic   # a 2-socket, 4-node machine instead
//! ```

use weftpool::topology::{MachineShape, Pinning, PlacementPlan, Topology};

fn main() {
    let topo = if std::env::args().any(|a| a == "--synthetic") {
        synthetic()
    } else {
        Topology::detect()
    };
    print!("{topo}");
    println!();

    let workers = topo.default_worker_count();
    match PlacementPlan::new(&topo, workers, &Pinning::Cores) {
        Ok(plan) => print!("{plan}"),
        Err(err) => println!("no plan for {workers} workers: {err}"),
    }
}

/// Two sockets, two NUMA nodes each, two 2-thread cores per node, with a
/// cgroup quota of 5.5 CPUs.
fn synthetic() -> Topology {
    let shape = MachineShape {
        packages: 2,
        numa_nodes_per_package: 2,
        cores_per_numa_node: 2,
        threads_per_core: 2,
    };
    match Topology::builder().symmetric(shape).cpu_quota(5.5).build() {
        Ok(topo) => topo,
        Err(err) => {
            eprintln!("bad machine description: {err}");
            std::process::exit(1);
        }
    }
}
