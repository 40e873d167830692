//! Why a job's issuing waits, and when the wait ends: fio's rate caps, flow holds and
//! latency-target drains ([`Hold`]), and the thinktime stalls between I/Os.

use crate::run::clock::Stamp;
use crate::run::control::Stop;
use crate::spec::Think;
use std::time::Duration;

/// Why issuing waits.
#[derive(Clone, Copy, Debug)]
pub enum Hold {
    /// fio's rate caps (io_u.c `rate_ddir`): over budget by `wait` when it was decided. With
    /// `io_submit_mode=offload` the job waits until `decided + wait`, reaping meanwhile; in
    /// fio's default `inline` mode it first drains what is in flight (`io_u_quiesce`) and then
    /// still sleeps the whole `wait` it computed before the drain — `drained` is when the
    /// drain ended — so a device slower than the pace gets pairs of I/Os, as fio's does.
    Rate {
        decided: Stamp,
        wait: Duration,
        drained: Option<Stamp>,
    },
    /// A flow hold (ahead of the job's share: `wait` is `flow_sleep`) or a latency-target
    /// drain (`wait` 0): drains what is in flight, always (as fio's `io_u_quiesce`), then
    /// sleeps `wait` from when the drain ended (`drained`).
    Drain {
        wait: Duration,
        drained: Option<Stamp>,
    },
}

/// A drain with no wait after it (the latency-target search's steps).
pub const DRAIN: Hold = Hold::Drain {
    wait: Duration::ZERO,
    drained: None,
};

impl Hold {
    /// When the hold ends (`None`: its drain has not ended yet).
    pub fn until(self, offload: bool) -> Option<Stamp> {
        match self {
            Hold::Rate { decided, wait, .. } if offload => Some(decided + wait),
            Hold::Rate { wait, drained, .. } | Hold::Drain { wait, drained } => {
                drained.map(|d| d + wait)
            }
        }
    }

    pub fn drains(self, offload: bool) -> bool {
        match self {
            Hold::Rate { .. } => !offload,
            Hold::Drain { .. } => true,
        }
    }
}

/// fio's test for a thinktime stall after an I/O was issued (backend.c `handle_thinktime`): with
/// `thinktime_iotime`, once that long plus `thinktime` has passed since the last stall (and,
/// unless `thinktime_blocks` was given too, only then); else once `thinktime_blocks` more I/Os
/// than at the last stall were counted. Returns when the check was made (the next stall's time
/// base), or `None`.
pub fn think_due_at(think: &Think, b: u64, last_b: u64, last_at: Stamp) -> Option<Stamp> {
    let now = Stamp::now();
    if !think.iotime.is_zero() {
        if now.duration_since(last_at) >= think.iotime + think.time {
            return Some(now);
        }
        if !think.blocks_set {
            return None;
        }
    }
    (b >= last_b + think.blocks).then_some(now)
}

/// A thinktime stall: spin `thinktime_spin`, then sleep the rest of `thinktime`; a stop or the
/// job's deadline cuts the sleep short.
pub fn think_stall(think: &Think, stop: Stop<'_>, deadline: Option<Stamp>) {
    let start = Stamp::now();
    let spin_end = start + think.spin.min(think.time);
    while Stamp::now() < spin_end {
        std::hint::spin_loop();
    }
    let mut end = start + think.time;
    if let Some(d) = deadline {
        end = end.min(d);
    }
    while !stop.any() {
        let left = end.saturating_duration_since(Stamp::now());
        if left.is_zero() {
            break;
        }
        crate::run::clock::wait_until(Stamp::now() + left.min(Duration::from_millis(50)));
    }
}
