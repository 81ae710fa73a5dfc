//! Reading and writing CPU affinity masks as lists of CPU numbers.
//!
//! The kernel's mask can be larger than libc's fixed 1024-bit `cpu_set_t`, so
//! the Linux code passes its own word buffer and grows it when the kernel says
//! it is too small.

/// The CPUs this process may run on: the affinity mask of its main thread.
///
/// The main thread's mask (not the calling thread's) is read so that a pool
/// worker that has already pinned itself still sees the whole process; it
/// differs only when the program pins its own main thread. Outside Linux the
/// calling thread's mask is read through `core_affinity`.
///
/// ```
/// if let Ok(cpus) = weftpool::topology::process_affinity() {
///     assert!(!cpus.is_empty());
/// }
/// ```
pub fn process_affinity() -> Result<Vec<usize>, String> {
    imp::process_affinity()
}

#[cfg(target_os = "linux")]
pub(super) use imp::{set_thread_affinity, thread_affinity};

#[cfg(target_os = "linux")]
mod imp {
    use std::mem::size_of;

    use libc::{c_ulong, cpu_set_t, pid_t};

    use crate::topology::MAX_CPUS;

    const WORD_BITS: usize = c_ulong::BITS as usize;
    /// libc's `cpu_set_t` size; the kernel accepts any multiple of the word.
    const START_WORDS: usize = size_of::<cpu_set_t>() / size_of::<c_ulong>();

    pub(crate) fn process_affinity() -> Result<Vec<usize>, String> {
        // SAFETY: getpid has no preconditions and cannot fail.
        let pid = unsafe { libc::getpid() };
        match read_mask(pid) {
            // The main thread has exited (pthread_exit from main); fall back
            // to the calling thread's mask.
            Err(err) if err.raw_os_error() == Some(libc::ESRCH) => read_mask(0),
            other => other,
        }
        .map_err(|err| format!("sched_getaffinity failed: {err}"))
    }

    /// The calling thread's mask.
    pub(crate) fn thread_affinity() -> Result<Vec<usize>, std::io::Error> {
        read_mask(0)
    }

    /// Sets the calling thread's mask; every CPU must be below `MAX_CPUS`.
    pub(crate) fn set_thread_affinity(cpus: &[usize]) -> Result<(), std::io::Error> {
        let highest = cpus.iter().copied().max().unwrap_or(0);
        let words = (highest / WORD_BITS + 1).max(START_WORDS);
        let mut mask = vec![0 as c_ulong; words];
        for &cpu in cpus {
            mask[cpu / WORD_BITS] |= 1 << (cpu % WORD_BITS);
        }
        // SAFETY: `mask` is a live buffer of exactly `words` c_ulongs and we
        // pass its size in bytes; cpu_set_t is a plain array of c_ulong bits,
        // so a longer word array is the documented way to pass a large set.
        // pid 0 means the calling thread.
        let rc = unsafe {
            libc::sched_setaffinity(
                0,
                words * size_of::<c_ulong>(),
                mask.as_ptr().cast::<cpu_set_t>(),
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    fn read_mask(pid: pid_t) -> Result<Vec<usize>, std::io::Error> {
        let mut words = START_WORDS;
        loop {
            let mut mask = vec![0 as c_ulong; words];
            // SAFETY: `mask` is a live, writable buffer of `words` c_ulongs
            // and we pass its size in bytes, so the kernel writes inside it.
            let rc = unsafe {
                libc::sched_getaffinity(
                    pid,
                    words * size_of::<c_ulong>(),
                    mask.as_mut_ptr().cast::<cpu_set_t>(),
                )
            };
            if rc == 0 {
                return Ok(decode(&mask));
            }
            let err = std::io::Error::last_os_error();
            // EINVAL: the kernel's mask is larger than our buffer.
            if err.raw_os_error() == Some(libc::EINVAL) && words * WORD_BITS < MAX_CPUS {
                words *= 2;
                continue;
            }
            return Err(err);
        }
    }

    fn decode(mask: &[c_ulong]) -> Vec<usize> {
        let mut cpus = Vec::new();
        for (i, &word) in mask.iter().enumerate() {
            for bit in 0..WORD_BITS {
                if word & (1 << bit) != 0 {
                    cpus.push(i * WORD_BITS + bit);
                }
            }
        }
        cpus
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(crate) fn process_affinity() -> Result<Vec<usize>, String> {
        match core_affinity::get_core_ids() {
            Some(ids) if !ids.is_empty() => {
                let mut cpus: Vec<usize> = ids.into_iter().map(|c| c.id).collect();
                cpus.sort_unstable();
                Ok(cpus)
            }
            _ => Err("the CPU affinity mask cannot be read on this platform".to_owned()),
        }
    }
}
