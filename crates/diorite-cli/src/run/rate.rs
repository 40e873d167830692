//! fio's rate control, per direction (read, write): `rate` / `rate_iops` caps (io_u.c
//! `rate_ddir`, `usec_for_io`) and the `rate_min` / `rate_iops_min` floor (backend.c
//! `__check_min_rate`).
//!
//! - **Caps.** A direction's next I/O may go at `start + bytes issued / bytes per second`
//!   (`rate_iops` counts the smallest block size per I/O; `rate` wins where both are given).
//!   When the direction drawn for the next I/O is ahead of its budget, a mixed job switches to
//!   the other direction if that one is behind; else the job waits for the earlier of the two
//!   times — first draining everything in flight, as fio does in its default `inline` submit
//!   mode; with `io_submit_mode=offload` it keeps reaping instead, so I/Os go out at their
//!   times whatever the device's completions do — and issues in that direction.
//! - **`rate_process=poisson`** (backend.c `usec_for_io`): a direction's next time is its last
//!   plus an exponentially distributed gap of mean `1 / IOPS` (IOPS = the byte rate over the
//!   smallest block), instead of the fixed pace.
//! - **Floor.** After a 2 s settle period, every `rate_cycle` the bandwidth (or IOPS) completed
//!   in each direction since the last check must reach `rate_min` (`rate_iops_min`; `rate_min`
//!   wins where both are given), else the job ends with an error.

use crate::rng::Rng;
use crate::run::workload::Dir;
use crate::spec::JobSpec;
use std::time::Duration;

use crate::run::clock::Stamp;

/// One job's rate state. Invariants on the fields.
pub struct Rate {
    /// Bytes per second per direction (0: no cap).
    bps: [u64; 2],
    /// Whether a mixed job may switch to the other direction (its share of the mix is not 0).
    may_switch: [bool; 2],
    /// Where the budget is counted from.
    start: Stamp,
    /// Bytes issued per direction since `start`.
    issued: [u64; 2],
    /// `rate_process=poisson`: per direction, the draws and the next time (µs from `start`).
    poisson: Option<([Rng; 2], [f64; 2])>,
    /// The smallest block per direction (the poisson process's I/O size).
    min_bs: [u64; 2],
    /// The floor per direction: `(bytes per second, true)` or `(I/Os per second, false)`.
    min: [Option<(u64, bool)>; 2],
    cycle: Duration,
    /// Per direction: the completed `(bytes, I/Os)` and the time at the last floor check
    /// (`None` before the first, which sets the baseline after the settle period).
    last: [Option<(u64, u64, Stamp)>; 2],
}

const SETTLE: Duration = Duration::from_secs(2);

impl Rate {
    /// The job's rate state, or `None` when it has no rate option.
    pub fn new(spec: &JobSpec, start: Stamp) -> Option<Rate> {
        let bs = spec.bs.min();
        let bps: [u64; 2] = std::array::from_fn(|d| {
            spec.pacing.rate[d]
                .or(spec.pacing.rate_iops[d].map(|n| n.saturating_mul(bs)))
                .unwrap_or(0)
        });
        let min: [Option<(u64, bool)>; 2] = std::array::from_fn(|d| {
            spec.pacing.rate_min[d]
                .map(|b| (b, true))
                .or(spec.pacing.rate_iops_min[d].map(|n| (n, false)))
        });
        if bps == [0, 0] && min == [None, None] {
            return None;
        }
        let mixed = spec.rw.mixed();
        let dirs = spec.bs_dirs();
        Some(Rate {
            poisson: spec.pacing.rate_poisson.then(|| {
                (
                    [
                        Rng::new(spec.offsets.randseed ^ 0x706f_6973_736f_6e30),
                        Rng::new(spec.offsets.randseed ^ 0x706f_6973_736f_6e31),
                    ],
                    [0.0; 2],
                )
            }),
            min_bs: [dirs[0].min(), dirs[1].min()],
            bps,
            may_switch: [mixed && spec.rwmixread < 100, mixed && spec.rwmixread > 0],
            start,
            issued: [0, 0],
            min,
            cycle: spec.pacing.rate_cycle,
            last: [None, None],
        })
    }

    /// When direction `d` may issue next (`None`: no cap).
    fn next_time(&self, d: usize) -> Option<Stamp> {
        let bps = self.bps[d];
        (bps > 0).then(|| match &self.poisson {
            Some((_, at)) => self.start + Duration::from_micros(at[d] as u64),
            None => {
                self.start + Duration::from_micros(self.issued[d].saturating_mul(1_000_000) / bps)
            }
        })
    }

    /// fio's `rate_ddir` for direction `dir` drawn at `now`: the direction to issue in, and the
    /// time to wait for first (the caller drains the queue, then waits), if any.
    pub fn choose(&self, dir: Dir, now: Stamp) -> (Dir, Option<Stamp>) {
        let d = match dir {
            Dir::Read => 0,
            Dir::Write => 1,
            Dir::Trim => return (dir, None),
        };
        let o = 1 - d;
        let other = if o == 0 { Dir::Read } else { Dir::Write };
        let Some(t) = self.next_time(d).filter(|t| *t > now) else {
            return (dir, None);
        };
        if self.may_switch[o] {
            match self.next_time(o) {
                // The other direction is behind its budget (or has none): switch.
                None => return (other, None),
                Some(to) if to <= now => return (other, None),
                // Both ahead: wait for the earlier one, in its direction.
                Some(to) if to < t => return (other, Some(to)),
                Some(_) => {}
            }
        }
        (dir, Some(t))
    }

    /// Counts an issued I/O.
    pub fn issued(&mut self, dir: Dir, bytes: u64) {
        if dir == Dir::Trim {
            return;
        }
        let d = dir as usize;
        self.issued[d] += bytes;
        if let (Some((rng, at)), true) = (self.poisson.as_mut(), self.bps[d] > 0) {
            // fio: (1e6 / iops) * -ln(U), U uniform in (0, 1].
            let iops = (self.bps[d] / self.min_bs[d].max(1)).max(1);
            let u = 1.0 - (rng[d].next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            at[d] += (1_000_000 / iops) as f64 * -u.ln();
        }
    }

    /// fio's floor check at `now`, given the `(bytes, I/Os)` completed per direction so far:
    /// the error to end the job with, if a direction fell below its floor over the last cycle.
    pub fn below_min(&mut self, done: [(u64, u64); 2], now: Stamp) -> Option<String> {
        if now.duration_since(self.start) < SETTLE {
            return None;
        }
        for (d, &(b, n)) in done.iter().enumerate() {
            let Some((floor, bytes)) = self.min[d] else {
                continue;
            };
            // fio computes a rate only once a baseline with something done was taken.
            if let Some((lb, ln, at)) = self.last[d].filter(|l| l.0 != 0 || l.1 != 0) {
                let spent = now.duration_since(at);
                if spent < self.cycle || spent.is_zero() {
                    continue;
                }
                let ms = spent.as_millis().max(1) as u64;
                let got = if bytes {
                    (b - lb) * 1000 / ms
                } else {
                    (n - ln) * 1000 / ms
                };
                if got < floor {
                    return Some(if bytes {
                        format!("rate_min={floor}B/s not met, got {got}B/s")
                    } else {
                        format!("rate_iops_min={floor} not met, got {got} IOPS")
                    });
                }
            }
            self.last[d] = Some((b, n, now));
        }
        None
    }
}
