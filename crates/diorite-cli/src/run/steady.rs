//! fio's steady-state detection (`steadystate.c`): every `ss_interval` (1 s in fio 3.33) after
//! `ss_ramp` plus one interval, the IOPS and bandwidth (per second) of a job — or, with
//! `group_reporting`, of its reporting group — are recorded over a window of `ss_dur`; once
//! the window is full, the criterion is computed each time: the largest deviation from the
//! window's mean (`iops`, `bw`) or the least-squares slope (`iops_slope`, `bw_slope`), as a
//! value or (`%`) relative to the mean. Below the limit, steady state is attained and the
//! job (the group) ends, as fio's `fio_mark_td_terminate` ends it.

use crate::spec::steady::SsSpec;
use std::collections::VecDeque;

/// A job's (or group's) steady-state record and outcome.
#[derive(Clone, Debug)]
pub struct Steady {
    pub spec: SsSpec,
    pub attained: bool,
    /// The last criterion computed, the deviation and slope behind it.
    pub criterion: f64,
    pub deviation: f64,
    pub slope: f64,
    /// The window's samples, oldest first (per second).
    pub iops: VecDeque<u64>,
    pub bw: VecDeque<u64>,
}

impl Steady {
    pub fn new(spec: SsSpec) -> Steady {
        Steady {
            spec,
            attained: false,
            criterion: 0.0,
            deviation: 0.0,
            slope: 0.0,
            iops: VecDeque::with_capacity(spec.window() + 1),
            bw: VecDeque::with_capacity(spec.window() + 1),
        }
    }

    /// Records one interval's IOPS and bandwidth (bytes/s); whether steady state is attained.
    pub fn push(&mut self, iops: u64, bw: u64) -> bool {
        let n = self.spec.window();
        self.iops.push_back(iops);
        self.bw.push_back(bw);
        if self.iops.len() > n {
            self.iops.pop_front();
            self.bw.pop_front();
        }
        if self.iops.len() < n {
            return false;
        }
        let ys: Vec<f64> = if self.spec.iops {
            self.iops.iter().map(|&x| x as f64).collect()
        } else {
            self.bw.iter().map(|&x| x as f64).collect()
        };
        let nf = n as f64;
        let mean = ys.iter().sum::<f64>() / nf;
        if self.spec.slope {
            // Least squares over x = 0 .. n-1 (fio assumes evenly spaced samples too).
            let sum_x = nf * (nf - 1.0) / 2.0;
            let sum_x2 = (nf - 1.0) * nf * (2.0 * nf - 1.0) / 6.0;
            let sum_xy: f64 = ys.iter().enumerate().map(|(i, y)| i as f64 * y).sum();
            let sum_y: f64 = ys.iter().sum();
            let den = sum_x2 - sum_x * sum_x / nf;
            self.slope = if den == 0.0 {
                0.0
            } else {
                (sum_xy - sum_x * sum_y / nf) / den
            };
            self.criterion = if self.spec.pct {
                100.0 * self.slope / mean
            } else {
                self.slope
            };
            self.attained = self.criterion.abs() < self.spec.limit;
        } else {
            self.deviation = ys.iter().map(|y| (y - mean).abs()).fold(0.0, f64::max);
            self.criterion = if self.spec.pct {
                100.0 * self.deviation / mean
            } else {
                self.deviation
            };
            self.attained = self.criterion < self.spec.limit;
        }
        self.attained
    }

    /// fio's `steadystate_bw_mean` / `_iops_mean`: the window's sum over its length.
    pub fn means(&self) -> (u64, u64) {
        let n = self.spec.window() as u64;
        (
            self.bw.iter().sum::<u64>() / n,
            self.iops.iter().sum::<u64>() / n,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec(iops: bool, slope: bool, pct: bool, limit: f64) -> SsSpec {
        SsSpec {
            iops,
            slope,
            pct,
            limit,
            dur: Duration::from_secs(4),
            ramp: Duration::ZERO,
            interval: Duration::from_secs(1),
        }
    }

    #[test]
    fn deviation_and_slope_criteria() {
        let mut s = Steady::new(spec(true, false, true, 10.0));
        for v in [100, 200, 100, 104, 96, 100] {
            s.push(v, 0);
        }
        assert!(s.attained, "last four within 4% of their mean");
        assert!((s.criterion - 4.0).abs() < 1e-9, "{}", s.criterion);
        let mut s = Steady::new(spec(false, true, false, 5.0));
        for v in [0, 10, 20, 30] {
            assert!(!s.push(0, v));
        }
        assert!((s.slope - 10.0).abs() < 1e-9);
        for _ in 0..4 {
            s.push(0, 30);
        }
        assert!(s.attained && s.slope.abs() < 1e-9);
    }
}
