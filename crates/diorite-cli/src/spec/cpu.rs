//! The values of fio's CPU and NUMA options (`cpus_allowed`, `cpumask`, `numa_cpu_nodes`,
//! `numa_mem_policy`), checked against the CPUs and nodes this machine has. Applying them is
//! [`crate::run::cpu`]'s.

use anyhow::{bail, Context as _, Result};

/// CPUs configured on this machine (`_SC_NPROCESSORS_CONF`).
pub fn cpus_here() -> usize {
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
