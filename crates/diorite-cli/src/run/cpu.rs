//! fio's CPU options for a job thread: `cpus_allowed` / `cpumask` (the thread's affinity, with
//! `cpus_allowed_policy=split` one CPU of the set per job), and `nice`. Applied by the job
//! thread to itself before its engine starts (so the engine's own threads inherit them), and
//! read back from the kernel for the report.

use anyhow::{Context as _, Result};

/// Sets the calling thread's memory policy (`set_mempolicy(2)`: mode and node mask; the
/// buffers the job allocates afterwards follow it) and reads it back.
pub fn apply_mem_policy((mode, mask): (i32, u64)) -> Result<(i32, u64)> {
    let m = [mask];
    let maxnode: libc::c_ulong = if mask == 0 { 0 } else { 65 };
    let ptr = if mask == 0 {
        std::ptr::null()
    } else {
        m.as_ptr()
    };
    // SAFETY: `ptr` is null or points to one u64 (64 node bits; maxnode 65 counts one past).
    if unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) } != 0 {
        return Err(std::io::Error::last_os_error()).context("set_mempolicy");
    }
    let (mut got_mode, mut got_mask) = (0i32, [0u64; 16]);
    // SAFETY: `got_mode` and a 1024-bit mask are valid out-pointers; flags 0 asks for this
    // thread's policy.
    let r = unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut got_mode,
            got_mask.as_mut_ptr(),
            1025 as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            0 as libc::c_ulong,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("get_mempolicy");
    }
    Ok((got_mode, got_mask[0]))
}

/// The CPUs job number `job_number` (1-based in the run) runs on: the set, or with `split`
/// its `(job_number - 1) mod n`-th CPU (fio's `fio_cpus_split`).
pub fn for_job(set: &[usize], split: bool, job_number: u32) -> Vec<usize> {
    if split && !set.is_empty() {
        vec![set[(job_number as usize).saturating_sub(1) % set.len()]]
    } else {
        set.to_vec()
    }
}

/// Sets the calling thread's affinity to `cpus` (if any) and nice value (if any); returns
/// what the kernel then reports: the affinity and the nice value.
pub fn apply(cpus: Option<&[usize]>, nice: Option<i32>) -> Result<(Vec<usize>, i32)> {
    // SAFETY: gettid has no arguments.
    let tid = unsafe { libc::gettid() };
    if let Some(cpus) = cpus {
        // SAFETY: an all-zero cpu_set_t is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for &c in cpus {
            // SAFETY: `c` is below the CPU count (checked at parse), within CPU_SETSIZE.
            unsafe { libc::CPU_SET(c, &mut set) };
        }
        // SAFETY: `set` is a valid cpu_set_t of the size passed.
        if unsafe { libc::sched_setaffinity(tid, std::mem::size_of_val(&set), &set) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("sched_setaffinity to CPUs {cpus:?}"));
        }
    }
    if let Some(n) = nice {
        // SAFETY: no memory arguments; PRIO_PROCESS with a thread id sets that thread's nice.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, n) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("setpriority (nice={n})"));
        }
    }
    // SAFETY: as above; `set` is a valid out-pointer of the size passed.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sched_getaffinity(tid, std::mem::size_of_val(&set), &mut set) } != 0 {
        return Err(std::io::Error::last_os_error()).context("sched_getaffinity");
    }
    let now: Vec<usize> = (0..crate::spec::cpu::cpus_here())
        // SAFETY: `c` is within CPU_SETSIZE (the configured CPU count).
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect();
    // getpriority may return -1 legitimately: errno decides (cleared first).
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = 0 };
    // SAFETY: no memory arguments.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) };
    // SAFETY: as above.
    if nice == -1 && unsafe { *libc::__errno_location() } != 0 {
        return Err(std::io::Error::last_os_error()).context("getpriority");
    }
    Ok((now, nice))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::cpu::{parse_list, parse_mask};

    #[test]
    fn lists_masks_and_split() {
        assert_eq!(parse_list("0").unwrap(), [0]);
        assert!(parse_list("0,999").is_err());
        assert!(parse_list("1-0").is_err());
        assert_eq!(parse_mask("0x1").unwrap(), [0]);
        assert_eq!(parse_mask("1").unwrap(), [0]);
        assert!(parse_mask("0").is_err());
        assert_eq!(for_job(&[0, 1], true, 1), [0]);
        assert_eq!(for_job(&[0, 1], true, 4), [1]);
        assert_eq!(for_job(&[0, 1], false, 4), [0, 1]);
    }
}
