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

/// How late `nanosleep` wakes on this machine: the longest of ten 1 µs sleeps (fio's
/// `fio_time_init`; the kernel's timer slack, 50 µs by default, dominates). Measured once.
fn sleep_granularity() -> Duration {
    static G: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *G.get_or_init(|| {
        (0..10)
            .map(|_| {
                let t = Stamp::now();
                std::thread::sleep(Duration::from_micros(1));
                t.elapsed()
            })
            .max()
            .unwrap_or_default()
    })
}

/// Waits until `t` as fio's `usec_sleep` does: sleeps while more than the sleep granularity is
/// left (that much less, since the sleep overshoots by about it) and spins the rest, so a wait
/// of tens of microseconds — a rate's gap between I/Os — ends on time rather than a timer
/// slack late.
pub fn wait_until(t: Stamp) {
    let g = sleep_granularity();
    loop {
        let left = t.saturating_duration_since(Stamp::now());
        if left.is_zero() {
            return;
        }
        if left > g {
            std::thread::sleep(left - g);
        } else {
            std::hint::spin_loop();
        }
    }
}
