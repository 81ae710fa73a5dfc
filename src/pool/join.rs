//! `join(a, b)` on a worker: `b` waits in the own deque as a stack job (no
//! allocation) while `a` runs; then `b` is popped back and run inline, or, if
//! a sibling stole it, the worker runs other work until the thief is done.

use std::panic::{self, AssertUnwindSafe};

use super::job::StackJob;
use super::latch::WorkerLatch;
use super::worker::WorkerThread;

pub(crate) fn join_on_worker<A, B, RA, RB>(worker: &WorkerThread, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let job_b = StackJob::new(
        move |_stolen| b(),
        WorkerLatch::new(worker.index(), &worker.registry().sleep),
    );
    let b_ref = job_b.as_job_ref();
    if !worker.push_for_join(b_ref) {
        // Deque full: no parallelism here, but nothing is lost either.
        let ra = a();
        return (ra, job_b.run_inline());
    }
    // `b` borrows this frame: even if `a` panics, `b` must be finished or
    // taken back before the panic may leave.
    let ra = panic::catch_unwind(AssertUnwindSafe(a));
    while !job_b.latch.probe() {
        match worker.pop_local() {
            Some(job) if job.is(&b_ref) => {
                return match ra {
                    Ok(ra) => (ra, job_b.run_inline()),
                    Err(p) => panic::resume_unwind(p),
                };
            }
            Some(job) => worker.execute(job),
            None => {
                worker.wait_until(&job_b.latch);
                break;
            }
        }
    }
    match ra {
        Ok(ra) => (ra, job_b.into_result()),
        Err(p) => panic::resume_unwind(p),
    }
}
