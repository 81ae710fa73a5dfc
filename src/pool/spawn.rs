//! The spawn paths shared by `ThreadPool` and the free functions: from a
//! worker into its deque, from anywhere else into the injector, and the
//! closure handed back whenever the pool refuses.

use crate::error::SpawnError;
use crate::injector::Priority;
use crate::sync::Arc;

use super::builder::Overflow;
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
        // when nothing has room. Only `Reject` hands it back.
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
    let mut tasks = tasks.into_iter();
    if registry.current_worker().is_some() {
        let mut spawned = 0;
        while let Some(f) = tasks.next() {
            if let Err(e) = spawn(registry, priority, f, overflow) {
                return Err(e.map(|first| std::iter::once(first).chain(tasks).collect()));
            }
            spawned += 1;
        }
        return Ok(spawned);
    }
    let outcome = {
        // SAFETY: every task is 'static.
        let mut jobs = tasks.by_ref().map(|f| unsafe { OwnedJob::into_job_ref(f) });
        registry.inject_batch(priority, &mut jobs, overflow)
    };
    outcome.map_err(|(_, job, why)| {
        // SAFETY: made from a `OwnedJob<F>` just above and refused unexecuted.
        let first = unsafe { OwnedJob::<F>::reclaim(job) };
        refused(why, std::iter::once(first).chain(tasks).collect())
    })
}
