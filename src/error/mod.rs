//! The crate's error types, one file per area, all made with `thiserror`.

mod capacity;
mod channel;
mod pool;
mod topology;

pub use capacity::CapacityError;
pub use channel::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
pub use pool::{panic_message, BuildError, ShutdownError, SpawnError, TaskError, TrySpawnError};
pub use topology::{CpuListError, DescribeError, PinError, PlacementError, TopologyError};
