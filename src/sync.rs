//! The one place that names synchronization primitives.
//!
//! Under `--cfg loom` every atomic, lock, thread and cell here is loom's, so a
//! `loom::model` explores the interleavings of the whole runtime; otherwise they
//! are std's at zero cost. No other module may import `std::sync`,
//! `std::thread` or `std::cell::UnsafeCell` directly.

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

    /// Threads: spawn, park, yield.
    pub(crate) mod thread {
        /// How many threads can usefully run at once (no loom equivalent needed).
        pub(crate) use std::thread::available_parallelism;
        pub(crate) use std::thread::{
            current, park, park_timeout, yield_now, Builder, JoinHandle, Thread,
        };
    }

    /// A hint placed inside a busy-wait loop.
    #[inline(always)]
    pub(crate) fn spin_loop() {
        std::hint::spin_loop();
    }

    /// Nothing: see the loom version. A `SeqCst` RMW already has its place in
    /// the C11 total order of `SeqCst` operations.
    #[inline(always)]
    pub(crate) fn model_sc_order() {}

    /// `UnsafeCell` with loom's closure-based access API, so code is written once
    /// for both std and loom.
    #[derive(Debug)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T: ?Sized>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        /// Wraps a value.
        #[inline(always)]
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Unwraps the value.
        #[allow(dead_code)]
        #[inline(always)]
        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        /// Runs `f` with a shared raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with an exclusive raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    pub(crate) use crossbeam_utils::CachePadded;
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

    /// Threads: spawn, park, yield.
    pub(crate) mod thread {
        pub(crate) use loom::thread::{current, park, yield_now, Builder, JoinHandle, Thread};
        /// Reads the machine, not shared state, so loom's model is unaffected.
        pub(crate) use std::thread::available_parallelism;
        pub(crate) use std::thread::panicking;

        /// Loom has no clock: a timed park is a plain park, so a model must not
        /// rely on the timeout to make progress.
        pub(crate) fn park_timeout(_dur: std::time::Duration) {
            park();
        }
    }

    /// Inside loom a spin must yield, or the model would explore the spin forever.
    #[inline(always)]
    pub(crate) fn spin_loop() {
        loom::thread::yield_now();
    }

    /// A `SeqCst` fence, placed right after a `SeqCst` RMW that is one half
    /// of a Dekker pair without a fence of its own (a ring's claim of a
    /// position). Loom models `SeqCst` loads, stores and RMWs as `AcqRel`
    /// (its README, "Unsupported features") and would report lost wake-ups
    /// that cannot happen; it models `fence(SeqCst)` exactly. Right after the
    /// RMW, and before anything the RMW's thread publishes next, the fence
    /// orders no more than the RMW's own place in the `SeqCst` order does,
    /// so the model stays no stronger than the real program. Real builds
    /// compile this to nothing.
    #[inline(always)]
    pub(crate) fn model_sc_order() {
        loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
    }

    /// Loom does not model cache lines; padding would only slow the model down.
    #[derive(Debug, Default)]
    pub(crate) struct CachePadded<T>(T);

    impl<T> CachePadded<T> {
        /// Wraps a value.
        pub(crate) fn new(value: T) -> Self {
            Self(value)
        }
    }

    impl<T> std::ops::Deref for CachePadded<T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.0
        }
    }

    impl<T> std::ops::DerefMut for CachePadded<T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.0
        }
    }
}

#[allow(unused_imports)]
pub(crate) use imp::*;

/// Reference counting for immutable configuration (hooks, names) that no
/// protocol synchronizes on; loom's `Arc` cannot hold `dyn Fn`, and loom need
/// not see these.
pub(crate) use std::sync::Arc as ConfigArc;

#[cfg(not(loom))]
pub(crate) use std::thread_local;

#[cfg(loom)]
pub(crate) use loom::thread_local;
