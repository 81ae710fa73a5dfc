//! Loom models of weftpool live in `tests/`; this crate exists only to hold them.
//!
//! Run them with `RUSTFLAGS="--cfg loom" cargo test -p weftpool-loom-tests --release`.
