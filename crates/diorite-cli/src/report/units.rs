//! fio's units in reports: latency units by magnitude, counts with k/m suffixes, rates and
//! sizes in powers of 2 and of 10.

use crate::stats::Lat;

/// fio's unit for a latency line (stat.c `display_lat`): msec only when min > 2 ms, max > 100
/// ms and stdev > 1 ms; usec only when min > 2 us, max > 99,999 ns and stdev > 1 us; else nsec.
pub fn lat_unit(l: &Lat) -> (&'static str, f64) {
    let (min, max, dev) = (l.min(), l.max, l.stddev());
    if min > 2_000_000 && max > 99_999_999 && dev > 1e6 {
        ("msec", 1e6)
    } else if min > 2_000 && max > 99_999 && dev > 1e3 {
        ("usec", 1e3)
    } else {
        ("nsec", 1.0)
    }
}

/// fio's `num2str(v, 6, 1, 0, N2S_NONE)`: at most 6 digits, scaled by 1000 with k, M, G.
pub fn num2str(mut v: u64) -> String {
    let mut unit = 0;
    while v >= 1_000_000 && unit < 3 {
        v /= 1000;
        unit += 1;
    }
    format!("{v}{}", ["", "k", "M", "G"][unit])
}

/// A rate in binary units only (`336MiB/s`), for fio's per-job range.
pub fn human_rate_mib(bytes_per_s: f64) -> String {
    let mib = bytes_per_s / (1 << 20) as f64;
    if mib >= 1.0 {
        format!("{mib:.1}MiB/s")
    } else {
        format!("{:.1}KiB/s", bytes_per_s / 1024.0)
    }
}

/// A rate in decimal units only (`352MB/s`).
pub fn human_rate_mb(bytes_per_s: f64) -> String {
    let mb = bytes_per_s / 1e6;
    if mb >= 1.0 {
        format!("{mb:.1}MB/s")
    } else {
        format!("{:.1}kB/s", bytes_per_s / 1e3)
    }
}

pub fn human_rate(bytes_per_s: f64) -> String {
    let mib = bytes_per_s / (1 << 20) as f64;
    let mb = bytes_per_s / 1e6;
    if mib >= 1.0 {
        format!("{mib:.1}MiB/s ({mb:.1}MB/s)")
    } else {
        format!(
            "{:.1}KiB/s ({:.1}kB/s)",
            bytes_per_s / 1024.0,
            bytes_per_s / 1e3
        )
    }
}

pub fn human_count(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

pub fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.2}GiB", b / (1u64 << 30) as f64)
    } else if b >= (1u64 << 20) as f64 {
        format!("{:.1}MiB", b / (1u64 << 20) as f64)
    } else {
        format!("{:.1}KiB", b / 1024.0)
    }
}
