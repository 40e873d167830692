//! fio's rate control, per direction (read, write): `rate` / `rate_iops` caps (io_u.c
//! `rate_ddir`, `usec_for_io`) and the `rate_min` / `rate_iops_min` floor (backend.c
//! `__check_min_rate`).
//!
//! - **Caps.** A direction's next I/O may go at `start + bytes issued / bytes per second`
//!   (`rate_iops` counts the smallest block size per I/O; `rate` wins where both are given).
//!   When the direction drawn for the next I/O is ahead of its budget, a mixed job switches to
//!   the other direction if that one is behind; else the job waits for the earlier of the two
//!   times — first draining everything in flight, as fio does in its default `inline` submit
//!   mode — and issues in that direction.
//! - **Floor.** After a 2 s settle period, every `rate_cycle` the bandwidth (or IOPS) completed
//!   in each direction since the last check must reach `rate_min` (`rate_iops_min`; `rate_min`
//!   wins where both are given), else the job ends with an error.

use crate::job::JobSpec;
use crate::run::workload::Dir;
use std::time::Duration;

type Stamp = quanta::Instant;

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
            spec.rate[d]
                .or(spec.rate_iops[d].map(|n| n.saturating_mul(bs)))
                .unwrap_or(0)
        });
        let min: [Option<(u64, bool)>; 2] = std::array::from_fn(|d| {
            spec.rate_min[d]
                .map(|b| (b, true))
                .or(spec.rate_iops_min[d].map(|n| (n, false)))
        });
        if bps == [0, 0] && min == [None, None] {
            return None;
        }
        let mixed = spec.rw.mixed();
        Some(Rate {
            bps,
            may_switch: [mixed && spec.rwmixread < 100, mixed && spec.rwmixread > 0],
            start,
            issued: [0, 0],
            min,
            cycle: spec.rate_cycle,
            last: [None, None],
        })
    }

    /// When direction `d` may issue next (`None`: no cap).
    fn next_time(&self, d: usize) -> Option<Stamp> {
        let bps = self.bps[d];
        (bps > 0).then(|| {
            self.start + Duration::from_micros(self.issued[d].saturating_mul(1_000_000) / bps)
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
        if dir != Dir::Trim {
            self.issued[dir as usize] += bytes;
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
