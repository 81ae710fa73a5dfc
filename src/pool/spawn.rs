//! The spawn paths shared by `ThreadPool` and the free functions: from a
//! worker into its deque, from anywhere else into the injector, and the
//! closure handed back whenever the pool refuses.

use crate::error::SpawnError;
use crate::injector::Priority;
use crate::sync::Arc;

use super::builder::Overflow;
use super::group::Slice;
use super::handle::{handle_task, HandleTask, JoinHandle};
use super::job::{JobRef, OwnedJob, Runnable};
use super::registry::{Refusal, Registry};

fn refused<F>(why: Refusal, f: F) -> SpawnError<F> {
    match why {
        Refusal::Full => SpawnError::Full(f),
        Refusal::ShutDown => SpawnError::ShutDown(f),
    }
}

/// Enqueues `job`; on refusal returns it with the reason.
fn submit(
    registry: &Registry,
    priority: Priority,
    job: JobRef,
    overflow: Overflow,
) -> Result<(), (JobRef, Refusal)> {
    match registry.current_worker() {
        // A worker never blocks on its own pool: `push` runs the job inline
        // when its queue has no room. Only `Reject` hands it back.
        Some(worker) if overflow == Overflow::Reject => worker
            .try_push(priority, job)
            .map_err(|job| (job, Refusal::Full)),
        Some(worker) => {
            worker.push(priority, job);
            Ok(())
        }
        None => registry.inject(priority, job, overflow),
    }
}

fn submit_task<T: Runnable + 'static>(
    registry: &Registry,
    priority: Priority,
    task: T,
    overflow: Overflow,
) -> Result<(), SpawnError<T>> {
    // SAFETY: the task is 'static, so it borrows nothing that could end.
    let job = unsafe { OwnedJob::into_job_ref(task) };
    submit(registry, priority, job, overflow).map_err(|(job, why)| {
        // SAFETY: `job` was made above from a `OwnedJob<T>` and was refused,
        // so it was never executed.
        refused(why, unsafe { OwnedJob::<T>::reclaim(job) })
    })
}

pub(crate) fn spawn<F>(
    registry: &Registry,
    priority: Priority,
    f: F,
    overflow: Overflow,
) -> Result<(), SpawnError<F>>
where
    F: FnOnce() + Send + 'static,
{
    submit_task(registry, priority, f, overflow)
}

pub(crate) fn spawn_handle<F, T>(
    registry: &Arc<Registry>,
    priority: Priority,
    f: F,
) -> Result<JoinHandle<T>, SpawnError<F>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (task, handle) = handle_task(f, registry.clone());
    submit_task(registry, priority, task, registry.config.overflow)
        .map(|()| handle)
        .map_err(|e| e.map(HandleTask::into_func))
}

/// Spawns `tasks` in groups (see `group.rs`): into the own deque from a
/// worker, else into the injector with one admission per attempt.
///
/// `CallerRuns` from outside asks the injector to refuse instead, and runs
/// the refused group's tasks here before going on with the rest: so the
/// count returned says how many the pool took, as for single spawns.
pub(crate) fn spawn_batch<I, F>(
    registry: &Registry,
    priority: Priority,
    tasks: I,
) -> Result<usize, SpawnError<Vec<F>>>
where
    I: IntoIterator<Item = F>,
    F: FnOnce() + Send + 'static,
{
    let overflow = registry.config.overflow;
    let on_worker = registry.current_worker().is_some();
    let runs_refused_here = !on_worker && overflow == Overflow::CallerRuns;
    // Fused: a refusal after the last, partial group chains what is left.
    let mut tasks = tasks.into_iter().fuse();
    let batch = Slice::<F>::new_batch(registry);
    let mut spawned = 0;
    loop {
        let mut gathered = 0;
        let outcome = {
            let mut jobs = std::iter::from_fn(|| {
                let slice = Slice::gather(registry, batch, priority, &mut tasks)?;
                gathered += slice.len();
                // SAFETY: every task is 'static.
                Some(unsafe { OwnedJob::into_job_ref(slice) })
            });
            if on_worker {
                jobs.try_for_each(|job| submit(registry, priority, job, overflow))
            } else {
                registry
                    .inject_batch(priority, &mut jobs, overflow == Overflow::Block)
                    .map(drop)
                    .map_err(|(_, job, why)| (job, why))
            }
        };
        let (job, why) = match outcome {
            Ok(()) => return Ok(spawned + gathered),
            Err(refusal) => refusal,
        };
        // SAFETY: made from a `Slice<F>` above and refused unexecuted.
        let refused_tasks = unsafe { OwnedJob::<Slice<F>>::reclaim(job) }.into_tasks();
        spawned += gathered - refused_tasks.len();
        if !(runs_refused_here && why == Refusal::Full) {
            let rest = refused_tasks.into_iter().chain(tasks).collect();
            return Err(refused(why, rest));
        }
        for task in refused_tasks {
            registry.run_caught(task);
        }
    }
}
