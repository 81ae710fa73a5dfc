//! Pinning the calling thread, and asking where it runs.
//!
//! On Linux the mask is set with `sched_setaffinity` directly: it takes a set
//! of any size and reports the kernel's reason for a refusal. Elsewhere
//! `core_affinity` pins to a single CPU.

use super::{format_cpu_list, MAX_CPUS};
use crate::error::PinError;

/// Pins the calling thread to `cpus` (one CPU, or a set it may move within).
///
/// Fails with a clear error for an empty set, a CPU number out of range, or
/// when the operating system refuses (a CPU outside the process's allowed set,
/// or no permission to change affinity).
///
/// ```
/// use weftpool::topology::{pin_current_thread, Topology};
///
/// let topo = Topology::detect();
/// let first = topo.allowed_cpus()[0];
/// std::thread::spawn(move || {
///     // Pinning may be refused in some sandboxes; that is an error, not a panic.
///     let _ = pin_current_thread(&[first]);
/// })
/// .join()
/// .unwrap();
/// ```
pub fn pin_current_thread(cpus: &[usize]) -> Result<(), PinError> {
    if cpus.is_empty() {
        return Err(PinError::EmptySet);
    }
    if let Some(&cpu) = cpus.iter().find(|&&cpu| cpu >= MAX_CPUS) {
        return Err(PinError::CpuOutOfRange {
            cpu,
            max: MAX_CPUS - 1,
        });
    }
    imp::pin(cpus)
}

/// The CPU the calling thread is running on right now (it may move at any
/// moment unless pinned), or `None` where the platform cannot say.
pub fn current_cpu() -> Option<usize> {
    imp::current_cpu()
}

/// The CPUs the calling thread may run on (its own affinity mask).
pub fn current_thread_affinity() -> Result<Vec<usize>, PinError> {
    imp::current_thread_affinity()
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;
    use crate::topology::affinity;

    pub(super) fn pin(cpus: &[usize]) -> Result<(), PinError> {
        affinity::set_thread_affinity(cpus).map_err(|err| PinError::Refused {
            cpus: format_cpu_list(cpus),
            reason: match err.raw_os_error() {
                Some(libc::EINVAL) => {
                    "none of these CPUs is online and allowed to this process".to_owned()
                }
                Some(libc::EPERM) => "no permission to change this thread's affinity".to_owned(),
                _ => err.to_string(),
            },
        })
    }

    pub(super) fn current_cpu() -> Option<usize> {
        // SAFETY: sched_getcpu has no preconditions; it returns -1 on error.
        let cpu = unsafe { libc::sched_getcpu() };
        usize::try_from(cpu).ok()
    }

    pub(super) fn current_thread_affinity() -> Result<Vec<usize>, PinError> {
        affinity::thread_affinity().map_err(|err| PinError::Refused {
            cpus: String::new(),
            reason: format!("sched_getaffinity failed: {err}"),
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::*;

    pub(super) fn pin(cpus: &[usize]) -> Result<(), PinError> {
        let [cpu] = cpus else {
            return Err(PinError::Unsupported(
                "only single-CPU pinning is available on this platform",
            ));
        };
        if core_affinity::set_for_current(core_affinity::CoreId { id: *cpu }) {
            Ok(())
        } else {
            Err(PinError::Refused {
                cpus: format_cpu_list(cpus),
                reason: "the operating system refused".to_owned(),
            })
        }
    }

    pub(super) fn current_cpu() -> Option<usize> {
        None
    }

    pub(super) fn current_thread_affinity() -> Result<Vec<usize>, PinError> {
        Err(PinError::Unsupported(
            "reading a thread's affinity is only available on Linux",
        ))
    }
}
