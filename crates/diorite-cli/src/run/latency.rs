//! fio's latency-target search (io_u.c `lat_target_*`): with `latency_target`, the job looks
//! for the deepest queue whose I/Os meet the target. It starts at depth 1; every
//! `latency_window` it compares the share of I/Os (completed in the window) within the target
//! against `latency_percentile`: met, the depth doubles (or, once a failing depth is known,
//! bisects up towards it); missed, it bisects down (draining first). With
//! `latency_percentile=100` a single late I/O is a miss at once, and one at depth 1 ends the
//! job with an error. When the depth stops changing the job drains, starts its statistics
//! afresh, runs one more window at that depth and ends (`latency_run=1`: it keeps adjusting
//! until its runtime ends instead).

use std::time::Duration;

use crate::run::clock::Stamp;

/// What the loop must do after a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Drain what is in flight (a new depth applies from an empty queue).
    Drain,
    /// Drain, then start the statistics afresh: the final window at the found depth.
    FinalRun,
    /// The final window is over: the job is done.
    Done,
}

/// The search state of one job. Invariants: `1 <= low <= qd <= high`, `qd <= iodepth`.
pub struct LatTarget {
    target: u64,
    window: Duration,
    pct: f64,
    keep_running: bool,
    iodepth: u32,
    pub qd: u32,
    low: u32,
    high: u32,
    stable: u32,
    end_run: bool,
    /// The current window: its start, the I/Os done before it, and its late I/Os.
    since: Stamp,
    ios_at: u64,
    failed: u64,
    /// A drain was asked for (a ramp-down, the final run): the next window starts once the
    /// queue is empty ([`LatTarget::drained`]), as fio's `lat_new_cycle` after
    /// `io_u_quiesce` — a window that started before the drain would judge the new depth by
    /// the drain's completions and a few fast ones after it.
    draining: bool,
}

impl LatTarget {
    pub fn new(
        target: Duration,
        window: Duration,
        pct: f64,
        keep_running: bool,
        iodepth: u32,
    ) -> LatTarget {
        LatTarget {
            target: target.as_nanos() as u64,
            window,
            pct,
            keep_running,
            iodepth,
            qd: 1,
            low: 1,
            high: iodepth,
            stable: 0,
            end_run: false,
            since: Stamp::now(),
            ios_at: 0,
            failed: 0,
            draining: false,
        }
    }

    /// The queue is empty (`ios` I/Os done): a window waiting for the drain starts now.
    pub fn drained(&mut self, ios: u64) {
        if self.draining {
            self.draining = false;
            self.new_window(ios);
        }
    }

    fn new_window(&mut self, ios: u64) {
        self.since = Stamp::now();
        self.ios_at = ios;
        self.failed = 0;
    }

    /// fio's `__lat_target_failed`: bisect down. `false` when already at depth 1.
    fn ramp_down(&mut self, ios: u64) -> bool {
        if self.qd == 1 {
            return false;
        }
        self.high = self.qd;
        if self.qd == self.low {
            self.low -= 1;
        }
        self.qd = ((self.qd + self.low) / 2).max(1);
        self.stable = 0;
        self.new_window(ios);
        self.draining = true;
        true
    }

    /// A read or write issued at `issued` completed with total latency `lat_ns`, `ios` I/Os
    /// done so far. `Err` when the job must end: a late I/O at depth 1 with
    /// `latency_percentile=100`. An I/O issued before the current window (at an earlier
    /// depth) is not held against it — what fio's drain after a ramp-down is for.
    pub fn completed(&mut self, issued: Stamp, lat_ns: u64, ios: u64) -> Result<Step, String> {
        if lat_ns <= self.target || issued < self.since {
            return Ok(Step::Nothing);
        }
        if self.pct < 100.0 {
            self.failed += 1;
            return Ok(Step::Nothing);
        }
        if self.ramp_down(ios) {
            Ok(Step::Drain)
        } else {
            Err(format!(
                "latency of {lat_ns} nsec exceeds latency_target ({} nsec) at queue depth 1",
                self.target
            ))
        }
    }

    /// fio's `lat_target_check`, with `ios` I/Os done so far.
    pub fn check(&mut self, ios: u64) -> Step {
        if self.draining || self.since.elapsed() < self.window {
            return Step::Nothing;
        }
        let n = ios - self.ios_at;
        let ok = if n == 0 {
            1.0
        } else {
            (n - self.failed.min(n)) as f64 / n as f64
        };
        if ok * 100.0 < self.pct {
            return if self.ramp_down(ios) {
                Step::Drain
            } else {
                self.new_window(ios);
                Step::Nothing
            };
        }
        // fio's lat_target_success.
        let qd = self.qd;
        self.low = self.qd;
        if self.qd + 1 == self.high {
            self.stable += 1;
            if self.stable >= 3 {
                self.high += 1;
                self.stable = 0;
            }
        }
        self.qd = if self.high != self.iodepth {
            (self.qd + self.high) / 2
        } else {
            self.qd * 2
        }
        .min(self.iodepth);
        let step = if !self.keep_running && self.qd == qd {
            if self.end_run {
                Step::Done
            } else {
                self.end_run = true;
                Step::FinalRun
            }
        } else {
            Step::Nothing
        };
        self.new_window(ios);
        // The final run starts from an empty queue: its window too.
        self.draining = step == Step::FinalRun;
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device whose latency grows with the depth (10 ms per 2 in flight) against a 25 ms
    /// target: the search settles at the deepest depth that meets it.
    #[test]
    fn the_search_settles_on_the_deepest_depth_that_meets_the_target() {
        let mut t = LatTarget::new(Duration::from_millis(25), Duration::ZERO, 100.0, false, 64);
        let mut ios = 0;
        let mut last = Step::Nothing;
        for _ in 0..200 {
            let lat = u64::from(t.qd).div_ceil(2) * 10_000_000;
            ios += 1;
            if t.completed(Stamp::now(), lat, ios).unwrap() != Step::Nothing {
                t.drained(ios);
                continue;
            }
            last = t.check(ios);
            if last == Step::Done {
                break;
            }
            t.drained(ios);
        }
        assert_eq!(last, Step::Done);
        assert!(u64::from(t.qd).div_ceil(2) * 10 <= 25, "{}", t.qd);
        assert!(
            (u64::from(t.qd) + 1).div_ceil(2) * 10 > 25 || t.qd == 64,
            "{}",
            t.qd
        );
    }

    /// A window waits for the drain a ramp-down asks for: before the queue is empty no verdict
    /// is given, however long the drain takes (before, the window ran from the ramp-down and
    /// could pass on the drain's completions alone — CI saw a 90 ms target settle at depth 6
    /// on a device taking 20 ms per queued I/O, where 4 is the answer).
    #[test]
    fn a_window_starts_after_the_drain() {
        let mut t = LatTarget::new(Duration::from_millis(90), Duration::ZERO, 100.0, false, 8);
        t.qd = 8;
        t.low = 4;
        // A late I/O at depth 8: down to 6, draining.
        assert_eq!(
            t.completed(Stamp::now(), 160_000_000, 1).unwrap(),
            Step::Drain
        );
        assert_eq!(t.qd, 6);
        // The drain's completions (issued before) are not held against depth 6, and no window
        // verdict comes while it lasts.
        for ios in 2..10 {
            assert_eq!(
                t.completed(Stamp::now() - Duration::from_secs(1), 150_000_000, ios)
                    .unwrap(),
                Step::Nothing
            );
            assert_eq!(t.check(ios), Step::Nothing, "no verdict while draining");
        }
        assert_eq!(t.qd, 6);
        t.drained(10);
        // Now a late I/O at depth 6 counts.
        assert_eq!(
            t.completed(Stamp::now(), 120_000_000, 11).unwrap(),
            Step::Drain
        );
        assert_eq!(t.qd, 5);
    }
}
