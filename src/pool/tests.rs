use std::cell::Cell;

use crate::error::BuildError;
use crate::topology::Pinning;
use crate::ThreadPool;

std::thread_local! {
    pub(super) static FAIL_SPAWN_AT: Cell<Option<usize>> = const { Cell::new(None) };
}

#[test]
fn failed_thread_spawn_stops_the_threads_already_started() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let exits = Arc::new(AtomicUsize::new(0));
    FAIL_SPAWN_AT.with(|f| f.set(Some(2)));
    let seen = exits.clone();
    let err = ThreadPool::builder()
        .threads(4)
        .pinning(Pinning::None)
        .on_thread_exit(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap_err();
    FAIL_SPAWN_AT.with(|f| f.set(None));
    assert!(matches!(err, BuildError::Spawn { index: 2, .. }), "{err}");
    // Workers 0 and 1 started, and were stopped and joined before `build` returned.
    assert_eq!(exits.load(Ordering::SeqCst), 2);
}
