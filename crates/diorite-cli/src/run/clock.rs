//! The job threads' clock.

use std::time::Duration;

/// Per-I/O timestamps (submit, issue, completion) come from the TSC through `quanta`, as fio's
/// default `clocksource=cpu` on CPUs with an invariant TSC (quanta falls back to
/// `clock_gettime` elsewhere): a vDSO `clock_gettime` costs tens of nanoseconds in a VM, several
/// per I/O.
pub type Stamp = quanta::Instant;

/// A duration in nanoseconds, as the statistics record it.
#[inline]
pub fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}
