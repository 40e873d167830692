//! The settled steady-state options; detecting steady state is [`crate::run::steady`]'s.

use std::time::Duration;

/// The settled options (`ss`/`steadystate`, `ss_dur`, `ss_ramp`, `ss_interval`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SsSpec {
    pub iops: bool,
    pub slope: bool,
    pub pct: bool,
    pub limit: f64,
    pub dur: Duration,
    pub ramp: Duration,
    pub interval: Duration,
}

impl SsSpec {
    /// fio's JSON `ss` string: `iops_slope:0.010000%`.
    pub fn name(&self) -> String {
        format!(
            "{}{}:{:.6}{}",
            if self.iops { "iops" } else { "bw" },
            if self.slope { "_slope" } else { "" },
            self.limit,
            if self.pct { "%" } else { "" }
        )
    }

    /// The window's number of intervals.
    pub fn window(&self) -> usize {
        (self.dur.as_millis() / self.interval.as_millis().max(1)).max(1) as usize
    }
}

/// The criterion of `steadystate=`: IOPS or bandwidth, deviation or slope, a value or a
/// percentage of the mean, and its limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SsCriterion {
    pub iops: bool,
    pub slope: bool,
    pub pct: bool,
    pub limit: f64,
}
