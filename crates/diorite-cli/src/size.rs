//! fio's size and time spellings.

use anyhow::{bail, Result};
use std::time::Duration;

/// Parses a size with fio's suffixes, base 2 by default: `4k`, `4K`, `4KiB`, `1m`, `2g`, `512`.
/// `kb`/`KB` are also base 2 (fio's default `kb_base=1024`).
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    if num.is_empty() {
        bail!(
            "invalid size {s:?}: expected a number with an optional suffix (k, m, g, t, KiB, ...)"
        );
    }
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid size {s:?}: number too large"))?;
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => bail!(
            "invalid size {s:?}: unknown suffix {suffix:?} (use k, m, g, t, or KiB, MiB, ...)"
        ),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| anyhow::anyhow!("invalid size {s:?}: too large"))
}

/// Parses a duration in fio's spelling: seconds by default, or with `ms`, `s`, `m`, `h`.
pub fn parse_time(s: &str) -> Result<Duration> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        anyhow::anyhow!("invalid time {s:?}: expected a number with an optional unit")
    })?;
    let secs = |mult: u64| {
        n.checked_mul(mult)
            .map(Duration::from_secs)
            .ok_or_else(|| anyhow::anyhow!("invalid time {s:?}: too large"))
    };
    Ok(match suffix {
        "" | "s" => secs(1)?,
        "ms" => Duration::from_millis(n),
        "us" => Duration::from_micros(n),
        "m" => secs(60)?,
        "h" => secs(3600)?,
        _ => bail!("invalid time {s:?}: unknown unit {suffix:?} (use ms, s, m, h)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("256m").unwrap(), 256 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert!(parse_size("k").is_err());
        assert!(parse_size("4x").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("16777216t").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_time("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_time("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_time("fast").is_err());
    }
}
