//! The crate's error types, one file per area, all made with `thiserror`.

mod capacity;

pub use capacity::CapacityError;
