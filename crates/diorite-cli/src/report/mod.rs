//! Reports: fio-style text, and fio's JSON shape (`json`, `json+` with histogram bins) for the
//! fields diorite measures, plus a `diorite` object for what fio lacks.

pub mod disk;
pub mod json;
pub mod plot;
pub mod terse;
pub mod text;
pub mod units;

pub use json::json;
pub use terse::terse;
pub use text::text;

use crate::run::outcome::{Depths, JobResult, Samples, ThreadUsage, VerifyResult, DIRS, STATS};
use crate::stats::{DirStats, Lat};
use std::time::Duration;

/// The report's entries: one per job, or one per group with `group_reporting`.
pub fn views(results: &[JobResult], group_reporting: bool) -> Vec<View<'_>> {
    if group_reporting {
        let mut groups: Vec<u32> = results.iter().map(|r| r.groupid).collect();
        groups.dedup();
        groups
            .into_iter()
            .map(|g| View::of(results.iter().filter(|r| r.groupid == g).collect()))
            .collect()
    } else {
        results.iter().map(|r| View::of(vec![r])).collect()
    }
}

/// What one report entry covers: a job, or a group with `group_reporting`.
pub struct View<'a> {
    pub name: String,
    pub groupid: u32,
    pub results: Vec<&'a JobResult>,
    pub stats: [DirStats; STATS],
    pub runtime: Duration,
    /// Per direction (read, write): the longest a member ran it.
    pub dir_runtime: [Duration; DIRS],
    pub depths: Depths,
    /// Per direction: bandwidth (KiB/s) and IOPS samples, summed over members interval by
    /// interval (fio's group view).
    pub samples: Samples,
    pub usage: ThreadUsage,
    /// Per direction, the latency of each I/O priority (ioprio value), members merged.
    pub prio_lat: [Vec<(u16, Lat)>; 2],
}

impl<'a> View<'a> {
    /// fio's per-priority statistics of direction `d`: the priorities with samples, when there
    /// are two or more (`get_nr_prios_with_samples`).
    pub fn prios_with_samples(&self, d: usize) -> Vec<(u16, &Lat)> {
        let v: Vec<(u16, &Lat)> = self
            .prio_lat
            .get(d)
            .map(|v| {
                v.iter()
                    .filter(|x| x.1.n > 0)
                    .map(|x| (x.0, &x.1))
                    .collect()
            })
            .unwrap_or_default();
        if v.len() >= 2 {
            v
        } else {
            Vec::new()
        }
    }

    pub fn of(results: Vec<&'a JobResult>) -> View<'a> {
        let mut stats = std::array::from_fn(|_| DirStats::new());
        let mut prio_lat: [Vec<(u16, Lat)>; 2] = Default::default();
        for r in &results {
            for (s, o) in stats.iter_mut().zip(&r.stats) {
                s.merge(o);
            }
            for (mine, theirs) in prio_lat.iter_mut().zip(&r.prio_lat) {
                for (p, l) in theirs {
                    match mine.iter_mut().find(|x| x.0 == *p) {
                        Some(x) => x.1.merge(l),
                        None => mine.push((*p, l.clone())),
                    }
                }
            }
        }
        View {
            prio_lat,
            name: results[0].name.clone(),
            groupid: results[0].groupid,
            runtime: results.iter().map(|r| r.runtime).max().unwrap_or_default(),
            dir_runtime: [0, 1, 2].map(|d| {
                results
                    .iter()
                    .map(|r| r.dir_runtime[d])
                    .max()
                    .unwrap_or_default()
            }),
            depths: results.iter().fold(Depths::default(), |mut a, r| {
                a.merge(&r.depths);
                a
            }),
            samples: {
                let sum = |pick: &dyn Fn(&Samples) -> &[Vec<f64>; DIRS]| {
                    [0, 1, 2].map(|d| {
                        let n = results.iter().map(|r| pick(&r.samples)[d].len()).max();
                        (0..n.unwrap_or(0))
                            .map(|i| {
                                results
                                    .iter()
                                    .filter_map(|r| pick(&r.samples)[d].get(i))
                                    .sum()
                            })
                            .collect()
                    })
                };
                Samples {
                    bw: sum(&|s| &s.bw),
                    iops: sum(&|s| &s.iops),
                    summary: pooled_summaries(&results),
                }
            },
            usage: results
                .iter()
                .fold(ThreadUsage::default(), |a, r| ThreadUsage {
                    usr: a.usr + r.usage.usr,
                    sys: a.sys + r.usage.sys,
                    ctx: a.ctx + r.usage.ctx,
                    majf: a.majf + r.usage.majf,
                    minf: a.minf + r.usage.minf,
                }),
            results,
            stats,
        }
    }

    /// Direction `d`'s bandwidth (`iops` false) or IOPS series: from the samples, or the
    /// remote summaries a host sent.
    pub fn series_of(&self, iops: bool, d: usize) -> Option<crate::run::outcome::Series> {
        if let Some(s) = &self.samples.summary {
            return s[usize::from(iops)][d];
        }
        let xs = if iops {
            &self.samples.iops[d]
        } else {
            &self.samples.bw[d]
        };
        series(xs)
    }

    fn secs(&self) -> f64 {
        self.runtime.as_secs_f64().max(1e-9)
    }

    /// Seconds direction `d` (0 read, 1 write) ran.
    fn dir_secs(&self, d: usize) -> f64 {
        self.dir_runtime[d].as_secs_f64().max(1e-9)
    }

    /// Average per-job user and system CPU, percent of the runtime.
    fn cpu_pct(&self) -> (f64, f64) {
        let n = self.results.len() as f64;
        let usr: f64 = self.results.iter().map(|r| r.usr.as_secs_f64()).sum();
        let sys: f64 = self.results.iter().map(|r| r.sys.as_secs_f64()).sum();
        (usr / n / self.secs() * 100.0, sys / n / self.secs() * 100.0)
    }

    fn error(&self) -> Option<&str> {
        self.results.iter().find_map(|r| r.error.as_deref())
    }

    /// fio's `total_err` and `first_error` (0 when none), for jobs that continue on errors.
    pub fn continued_errors(&self) -> Option<(u64, i32)> {
        self.results[0].spec.continuing().then(|| {
            (
                self.results.iter().map(|r| r.total_err).sum(),
                self.results.iter().find_map(|r| r.first_error).unwrap_or(0),
            )
        })
    }

    fn verify(&self) -> Option<VerifyResult> {
        let mut any = false;
        let mut v = VerifyResult::default();
        for r in &self.results {
            if let Some(x) = &r.verify {
                any = true;
                v.blocks += x.blocks;
                v.bytes += x.bytes;
                v.errors += x.errors;
                v.unchecked += x.unchecked;
                v.unknown += x.unknown;
                v.first.extend(x.first.iter().cloned());
            }
        }
        any.then_some(v)
    }

    /// diorite's `crash` results of the view's jobs, summed.
    fn crash(&self) -> Option<crate::run::crash::CrashResult> {
        let mut all = self
            .results
            .iter()
            .filter_map(|r| r.crash.as_ref())
            .peekable();
        all.peek()?;
        let mut c = crate::run::crash::CrashResult::default();
        for x in all {
            c.states += x.states;
            c.systematic += x.systematic;
            c.checked += x.checked;
            c.lost_promised += x.lost_promised;
            c.states_failed += x.states_failed;
            c.lost_allowed += x.lost_allowed;
            c.first = c.first.or_else(|| x.first.clone());
            c.block = c.block.max(x.block);
        }
        Some(c)
    }
}

/// Process-wide figures: CPU of every thread (engine workers and kernel io-wq threads included).
pub struct ProcessCpu {
    pub usr: Duration,
    pub sys: Duration,
}

/// fio's latency-target report fields: target (ns), window (us), percentile, and the depth
/// the search settled on (the job's iodepth without a target).
pub fn latency_fields(v: &View<'_>) -> (u64, u64, f64, u32) {
    let r = v.results[0];
    let s = &r.spec;
    (
        s.pacing.latency_target.map_or(0, |t| t.as_nanos() as u64),
        s.pacing.latency_window.as_micros() as u64,
        s.pacing.latency_percentile,
        r.latency_depth.unwrap_or(s.iodepth),
    )
}

/// The members' remote summaries pooled (fio's `sum_stat`: min of mins, max of maxes, the
/// pooled mean and deviation), when every member has them.
fn pooled_summaries(
    results: &[&JobResult],
) -> Option<[[Option<crate::run::outcome::Series>; DIRS]; 2]> {
    let all: Vec<_> = results
        .iter()
        .map(|r| r.samples.summary.as_ref())
        .collect::<Option<Vec<_>>>()?;
    Some(std::array::from_fn(|k| {
        std::array::from_fn(|d| {
            all.iter().filter_map(|s| s[k][d]).reduce(
                |(lo1, hi1, m1, s1, n1), (lo2, hi2, m2, s2, n2)| {
                    let (a, b) = (n1 as f64, n2 as f64);
                    let n = a + b;
                    let mean = (a * m1 + b * m2) / n;
                    let ss = s1 * s1 * (a - 1.0).max(0.0)
                        + s2 * s2 * (b - 1.0).max(0.0)
                        + a * b / n * (m1 - m2) * (m1 - m2);
                    let dev = if n > 1.0 {
                        (ss / (n - 1.0)).sqrt()
                    } else {
                        0.0
                    };
                    (lo1.min(lo2), hi1.max(hi2), mean, dev, n1 + n2)
                },
            )
        })
    }))
}

/// min, max, mean, sample standard deviation and count of a sample series.
pub fn series(xs: &[f64]) -> Option<(f64, f64, f64, f64, usize)> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(0.0, f64::max);
    Some((min, max, mean, var.sqrt(), xs.len()))
}

/// A distribution's shares in percent (of its total).
pub fn shares(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    counts
        .iter()
        .map(|c| {
            if total == 0 {
                0.0
            } else {
                *c as f64 * 100.0 / total as f64
            }
        })
        .collect()
}

/// This view's bandwidth in direction `d` as a share of its group's (fio's `per=`).
pub fn bw_share(v: &View<'_>, views: &[View<'_>], d: usize) -> f64 {
    let bw = |x: &View<'_>| x.stats[d].bytes as f64 / x.dir_secs(d);
    let total: f64 = views
        .iter()
        .filter(|x| x.groupid == v.groupid)
        .map(bw)
        .sum();
    if total > 0.0 {
        bw(v) * 100.0 / total
    } else {
        0.0
    }
}

/// fio's latency bucket edges (the lower table in each unit), and the millisecond table's two
/// extra buckets (`2000`, `>=2000`).
pub const LAT_EDGES: [u64; 10] = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000];

pub const LAT_EDGES_MS: [u64; 12] = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000, 2000, u64::MAX];

/// Shares in percent of the samples falling in each bucket `(previous edge, edge]` (edges in
/// `scale` ns; `u64::MAX` is "everything left"), counting only samples above `*below` ns-count
/// and moving `*below` past the buckets taken.
pub fn bucket_shares(l: &Lat, scale: u64, edges: &[u64], below: &mut u64) -> Vec<f64> {
    let total = l.n.max(1) as f64;
    edges
        .iter()
        .map(|&e| {
            let upto = if e == u64::MAX {
                l.n
            } else {
                l.count_at_most(e.saturating_mul(scale))
            };
            let n = upto.saturating_sub(*below);
            *below = (*below).max(upto);
            n as f64 * 100.0 / total
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::text::{latency_buckets, percentile_lines};
    use super::units::{lat_unit, num2str};
    use super::*;

    fn lat_of(values: &[u64]) -> Lat {
        let mut l = Lat::new();
        for v in values {
            l.record(*v);
        }
        l
    }

    /// fio's unit rules (stat.c): usec only when min > 2 us, max > 99,999 ns and stdev > 1 us;
    /// msec only when min > 2 ms, max > 100 ms and stdev > 1 ms.
    #[test]
    fn latency_units_follow_fio() {
        assert_eq!(lat_unit(&lat_of(&[100, 200, 5_000])).0, "nsec");
        assert_eq!(
            lat_unit(&lat_of(&[69_000, 227_000, 433_000, 668_000])).0,
            "usec"
        );
        // Max below 100 us: fio stays in nsec.
        assert_eq!(lat_unit(&lat_of(&[3_000, 50_000, 90_000])).0, "nsec");
        assert_eq!(
            lat_unit(&lat_of(&[3_000_000, 150_000_000, 40_000_000])).0,
            "msec"
        );
        // A QD32 randread's clat (69 us .. 150 ms): usec, not msec with zeros.
        assert_eq!(lat_unit(&lat_of(&[69_000, 300_000, 150_000_000])).0, "usec");
        let mut out = String::new();
        percentile_lines(
            &mut out,
            "clat",
            &lat_of(&[227_000; 100]),
            &crate::spec::PERCENTILES,
        );
        assert!(out.contains("(usec)") && out.contains("[  227]"), "{out}");
        assert_eq!(num2str(150_000), "150000");
        assert_eq!(num2str(5_526_700), "5526k");
    }

    #[test]
    fn latency_buckets_add_up() {
        let mut out = String::new();
        latency_buckets(&mut out, &lat_of(&[1_500, 300_000, 300_000, 3_000_000]));
        assert!(out.contains("lat (usec)   : 2=25.00%, 500=50.00%"), "{out}");
        assert!(out.contains("lat (msec)   : 4=25.00%"), "{out}");
    }
}
