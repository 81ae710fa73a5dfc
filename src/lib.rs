//! weftpool: a lock-free, topology-aware thread-pool runtime without async.
//!
//! OS threads pinned by the machine's topology run a Chase-Lev work-stealing
//! scheduler fed by bounded per-priority injectors; bounded MPMC channels connect
//! pipeline stages. Every concurrent protocol is model-checked with loom: build
//! with `RUSTFLAGS="--cfg loom"` and the whole runtime runs on loom's primitives.
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub(crate) mod sync;

pub mod error;
pub mod queue;

pub use error::CapacityError;
