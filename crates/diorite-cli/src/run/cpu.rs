//! fio's CPU options for a job thread: `cpus_allowed` / `cpumask` (the thread's affinity, with
//! `cpus_allowed_policy=split` one CPU of the set per job), and `nice`. Applied by the job
//! thread to itself before its engine starts (so the engine's own threads inherit them), and
//! read back from the kernel for the report.

use anyhow::{bail, Context as _, Result};

/// CPUs configured on this machine (`_SC_NPROCESSORS_CONF`).
fn cpus_here() -> usize {
    // SAFETY: sysconf has no memory arguments.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// fio's `cpus_allowed`: `0,5,8-15` (CPUs from 0); every CPU must exist here.
pub fn parse_list(s: &str) -> Result<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let num = |x: &str| -> Result<usize> {
            x.trim()
                .parse()
                .with_context(|| format!("cpus_allowed={s}: {x:?} is not a CPU number"))
        };
        let (a, b) = (num(a)?, num(b)?);
        if a > b {
            bail!("cpus_allowed={s}: range {a}-{b} runs backwards");
        }
        cpus.extend(a..=b);
    }
    check(s, "cpus_allowed", cpus)
}

/// fio's `cpumask`: a bit mask of CPUs (decimal or `0x` hex).
pub fn parse_mask(s: &str) -> Result<Vec<usize>> {
    let t = s.trim();
    let mask = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse(),
    }
    .with_context(|| format!("cpumask={s}: expected a bit mask (decimal or 0xHEX)"))?;
    check(
        s,
        "cpumask",
        (0..64).filter(|c| mask >> c & 1 == 1).collect(),
    )
}

fn check(s: &str, name: &str, mut cpus: Vec<usize>) -> Result<Vec<usize>> {
    cpus.sort_unstable();
    cpus.dedup();
    let here = cpus_here();
    if cpus.is_empty() {
        bail!("{name}={s}: no CPU given");
    }
    if let Some(c) = cpus.iter().find(|&&c| c >= here) {
        bail!("{name}={s}: CPU {c} does not exist (this machine has {here})");
    }
    Ok(cpus)
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
    let now: Vec<usize> = (0..cpus_here())
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
