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
    check(s, "cpus_allowed", parse_ranges("cpus_allowed", s)?)
}

/// A list of numbers as fio's option values write them: `0,5,8-15` (or `all`, given as
/// `all`'s meaning by the caller).
fn parse_ranges(name: &str, s: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let num = |x: &str| -> Result<usize> {
            x.trim()
                .parse()
                .with_context(|| format!("{name}={s}: {x:?} is not a number"))
        };
        let (a, b) = (num(a)?, num(b)?);
        if a > b {
            bail!("{name}={s}: range {a}-{b} runs backwards");
        }
        out.extend(a..=b);
    }
    if out.is_empty() {
        bail!("{name}={s}: nothing given");
    }
    Ok(out)
}

/// The NUMA nodes of this machine (`/sys/devices/system/node/nodeN`).
fn nodes_here() -> Vec<usize> {
    let mut v: Vec<usize> = std::fs::read_dir("/sys/devices/system/node")
        .map(|d| {
            d.filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_prefix("node")?
                    .parse()
                    .ok()
            })
            .collect()
        })
        .unwrap_or_else(|_| vec![0]);
    v.sort_unstable();
    v
}

/// fio's node lists (`0,2-3`, `all`), each node checked to exist here.
fn parse_nodes(name: &str, s: &str) -> Result<Vec<usize>> {
    let here = nodes_here();
    let nodes = if s.trim() == "all" {
        here.clone()
    } else {
        parse_ranges(name, s)?
    };
    if let Some(n) = nodes.iter().find(|n| !here.contains(n)) {
        bail!("{name}={s}: NUMA node {n} does not exist (this machine has nodes {here:?})");
    }
    Ok(nodes)
}

/// fio's `numa_cpu_nodes`: the CPUs of these NUMA nodes.
pub fn parse_numa_cpu_nodes(s: &str) -> Result<Vec<usize>> {
    let mut cpus = Vec::new();
    for n in parse_nodes("numa_cpu_nodes", s)? {
        let path = format!("/sys/devices/system/node/node{n}/cpulist");
        let list = std::fs::read_to_string(&path).with_context(|| path.clone())?;
        if !list.trim().is_empty() {
            cpus.extend(parse_ranges("cpulist", list.trim())?);
        }
    }
    check(s, "numa_cpu_nodes", cpus)
}

/// fio's `numa_mem_policy`: `MODE[:NODES]` with `default`, `local` (no nodes), `prefer` (one
/// node), `bind`, `interleave`; the `set_mempolicy(2)` mode and node mask.
pub fn parse_mem_policy(s: &str) -> Result<(i32, u64)> {
    const NAME: &str = "numa_mem_policy";
    let (mode, nodes) = s.split_once(':').unwrap_or((s, ""));
    let mask = |list: &str| -> Result<u64> {
        Ok(parse_nodes(NAME, list)?
            .iter()
            .filter(|&&n| n < 64)
            .fold(0, |m, &n| m | 1 << n))
    };
    Ok(match (mode.trim(), nodes.trim()) {
        ("default", "") => (0, 0),
        ("local", "") => (4, 0),
        ("prefer", n) if !n.is_empty() && parse_ranges(NAME, n)?.len() == 1 => (1, mask(n)?),
        ("bind", n) if !n.is_empty() => (2, mask(n)?),
        ("interleave", n) if !n.is_empty() => (3, mask(n)?),
        _ => bail!(
            "{NAME}={s}: expected default, local, prefer:NODE, bind:NODES or interleave:NODES"
        ),
    })
}

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
