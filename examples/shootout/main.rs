//! The shoot-out: every workload on weftpool and on each peer, in the same
//! process, alternating, several rounds; prints a table of medians with
//! weftpool's ratio to the best peer, and writes the figures as CSV and SVG.
//!
//! ```text
//! cargo run --release --example shootout                 # full run, figures to docs/img/
//! cargo run --release --example shootout -- --quick      # < 1 min, figures to target/shootout/
//! cargo run --release --example shootout -- --only latency,urgent
//! ```
//!
//! Options: `--quick` (smaller sizes), `--only a,b` (workloads: spawn,
//! forkjoin, latency, burst, batch, urgent, channel, idle, overload), `--pin`
//! (pin weftpool's workers one per core; default unpinned like its peers),
//! `--idle-spin-us N` (weftpool's idle-spin window instead of its default),
//! `--threads N` (workers per pool; default one per CPU),
//! `--out DIR` (where the CSV and SVG files go). Only a full run with every
//! workload and no other option writes to `docs/img/`.

#[cfg(not(loom))]
mod batch;
#[cfg(not(loom))]
mod burst;
#[cfg(not(loom))]
mod channel;
#[cfg(not(loom))]
mod common;
#[cfg(not(loom))]
mod forkjoin;
#[cfg(not(loom))]
mod latency;
#[cfg(not(loom))]
mod plot;
#[cfg(not(loom))]
mod report;
#[cfg(not(loom))]
mod resources;
#[cfg(not(loom))]
mod run;
#[cfg(not(loom))]
mod spawn;
#[cfg(not(loom))]
mod systems;
#[cfg(not(loom))]
mod urgent;

#[cfg(not(loom))]
fn main() {
    run::main();
}

/// The shoot-out needs real threads; a build with `--cfg loom` has nothing
/// to measure.
#[cfg(loom)]
fn main() {
    eprintln!("the shoot-out does not run under --cfg loom");
}
