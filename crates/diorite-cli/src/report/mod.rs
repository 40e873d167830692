//! Reports: fio-style text, and fio's JSON shape (`json`, `json+` with histogram bins) for the
//! fields diorite measures, plus a `diorite` object for what fio lacks.

pub mod disk;
pub mod plot;

use crate::run::outcome::{
    Depths, JobResult, Samples, ThreadUsage, VerifyResult, DIRS, STATS, SYNC,
};
use crate::spec::{Globals, OutputFormat};
use crate::stats::{DirStats, Lat};
use serde_json::{json, Map, Value};
use std::fmt::Write as _;
use std::time::Duration;

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
    fn continued_errors(&self) -> Option<(u64, i32)> {
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
}

/// Process-wide figures: CPU of every thread (engine workers and kernel io-wq threads included).
pub struct ProcessCpu {
    pub usr: Duration,
    pub sys: Duration,
}

/// fio's unit for a latency line (stat.c `display_lat`): msec only when min > 2 ms, max > 100
/// ms and stdev > 1 ms; usec only when min > 2 us, max > 99,999 ns and stdev > 1 us; else nsec.
fn lat_unit(l: &Lat) -> (&'static str, f64) {
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
fn num2str(mut v: u64) -> String {
    let mut unit = 0;
    while v >= 1_000_000 && unit < 3 {
        v /= 1000;
        unit += 1;
    }
    format!("{v}{}", ["", "k", "M", "G"][unit])
}

/// A rate in binary units only (`336MiB/s`), for fio's per-job range.
fn human_rate_mib(bytes_per_s: f64) -> String {
    let mib = bytes_per_s / (1 << 20) as f64;
    if mib >= 1.0 {
        format!("{mib:.1}MiB/s")
    } else {
        format!("{:.1}KiB/s", bytes_per_s / 1024.0)
    }
}

/// A rate in decimal units only (`352MB/s`).
fn human_rate_mb(bytes_per_s: f64) -> String {
    let mb = bytes_per_s / 1e6;
    if mb >= 1.0 {
        format!("{mb:.1}MB/s")
    } else {
        format!("{:.1}kB/s", bytes_per_s / 1e3)
    }
}

fn human_rate(bytes_per_s: f64) -> String {
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

fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.2}GiB", b / (1u64 << 30) as f64)
    } else if b >= (1u64 << 20) as f64 {
        format!("{:.1}MiB", b / (1u64 << 20) as f64)
    } else {
        format!("{:.1}KiB", b / 1024.0)
    }
}

fn lat_line(out: &mut String, label: &str, l: &Lat) {
    let (u, div) = lat_unit(l);
    let _ = writeln!(
        out,
        "    {label} ({u}): min={}, max={}, avg={:5.02}, stdev={:5.02}",
        num2str((l.min() as f64 / div) as u64),
        num2str((l.max as f64 / div) as u64),
        l.mean() / div,
        l.stddev() / div
    );
}

/// fio's latency-target report fields: target (ns), window (us), percentile, and the depth
/// the search settled on (the job's iodepth without a target).
fn latency_fields(v: &View<'_>) -> (u64, u64, f64, u32) {
    let r = v.results[0];
    let s = &r.spec;
    (
        s.latency_target.map_or(0, |t| t.as_nanos() as u64),
        s.latency_window.as_micros() as u64,
        s.latency_percentile,
        r.latency_depth.unwrap_or(s.iodepth),
    )
}

/// fio's percentile block (stat.c `show_clat_percentiles`): the unit is chosen from the
/// smallest and largest percentile values (msec when > 2 ms and > 100 ms, usec when > 2 us
/// and > 99,999 ns), values divided down to whole units, four to a line.
fn percentile_lines(out: &mut String, label: &str, l: &Lat, list: &[f64]) {
    if list.is_empty() {
        return;
    }
    let vals: Vec<u64> = list.iter().map(|p| l.percentile(*p)).collect();
    let (minv, maxv) = (vals[0], vals[vals.len() - 1]);
    let (u, div) = if minv > 2_000_000 && maxv > 99_999_999 {
        ("msec", 1_000_000)
    } else if minv > 2_000 && maxv > 99_999 {
        ("usec", 1_000)
    } else {
        ("nsec", 1)
    };
    let _ = write!(out, "    {label} percentiles ({u}):\n     |");
    for (i, (p, v)) in list.iter().zip(&vals).enumerate() {
        let last = i + 1 == vals.len();
        let _ = write!(
            out,
            " {p:5.2}th=[{:5}]{}",
            v / div,
            if last { "" } else { "," }
        );
        if last {
            out.push('\n');
        } else if (i + 1) % 4 == 0 {
            out.push_str("\n     |");
        }
    }
}

/// fio's latency distribution lines (stat.c `show_latencies`): the share of I/Os whose
/// completion latency falls at or below each bucket edge, in nsec, usec and msec.
fn latency_buckets(out: &mut String, l: &Lat) {
    const EDGES: [u64; 10] = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000];
    const MSEC: [u64; 12] = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000, 2000, u64::MAX];
    if l.n == 0 {
        return;
    }
    let total = l.n as f64;
    let mut below = 0u64; // I/Os counted in earlier buckets
    let mut line = |unit: &str, scale: u64, edges: &[u64], out: &mut String| {
        let mut cells = Vec::new();
        for (i, &e) in edges.iter().enumerate() {
            let upto = if e == u64::MAX {
                l.n
            } else {
                l.count_at_most(e.saturating_mul(scale))
            };
            let n = upto.saturating_sub(below);
            below = below.max(upto);
            if n == 0 {
                continue;
            }
            let pct = (n as f64 * 100.0 / total).max(0.01);
            let label = if e == u64::MAX {
                format!(">={}", edges[i - 1])
            } else {
                e.to_string()
            };
            cells.push(format!("{label}={pct:.2}%"));
        }
        if !cells.is_empty() {
            let _ = writeln!(out, "  lat ({unit})   : {}", cells.join(", "));
        }
    };
    line("nsec", 1, &EDGES, out);
    line("usec", 1_000, &EDGES, out);
    line("msec", 1_000_000, &MSEC, out);
}

/// min, max, mean, sample standard deviation and count of a sample series.
fn series(xs: &[f64]) -> Option<(f64, f64, f64, f64, usize)> {
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
fn shares(counts: &[u64]) -> Vec<f64> {
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
fn bw_share(v: &View<'_>, views: &[View<'_>], d: usize) -> f64 {
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

/// The fio-style text report.
pub fn text(views: &[View<'_>], proc_cpu: &ProcessCpu, total_ios: u64) -> String {
    let mut out = String::new();
    for v in views {
        let _ = writeln!(
            out,
            "{}: (groupid={}, jobs={}): err={:>2}: backend={}",
            v.name,
            v.groupid,
            v.results.len(),
            i32::from(v.error().is_some()),
            v.results[0].backend
        );
        if let Some(desc) = &v.results[0].spec.description {
            let _ = writeln!(out, "  Description  : [{desc}]");
        }
        for (d, label) in [(0, "read"), (1, "write"), (2, "trim")] {
            let s = &v.stats[d];
            if s.ios == 0 {
                continue;
            }
            let _ = writeln!(
                out,
                "  {label}: IOPS={}, BW={}({}/{}msec)",
                human_count(s.ios as f64 / v.dir_secs(d)),
                human_rate(s.bytes as f64 / v.dir_secs(d)),
                human_bytes(s.bytes),
                v.dir_runtime[d].as_millis()
            );
            // As fio: a series without samples (slat of a synchronous engine, anything the
            // job disabled) is not printed.
            for (label, l) in [("slat", &s.slat), ("clat", &s.clat), (" lat", &s.lat)] {
                if l.n > 0 {
                    lat_line(&mut out, label, l);
                }
            }
            // fio: per-priority latency when two or more priorities have samples.
            let p = &v.results[0].spec.pcts;
            let prios = v.prios_with_samples(d);
            let kind = if p.lat { "lat" } else { "clat" };
            for (ioprio, l) in &prios {
                lat_line(
                    &mut out,
                    &format!("{kind} prio {}/{}", ioprio >> 13, ioprio & 7),
                    l,
                );
            }
            // fio's order: slat, clat, lat percentiles, each as the job asks.
            for (on, label, l) in [
                (p.slat, "slat", &s.slat),
                (p.clat, "clat", &s.clat),
                (p.lat, "lat", &s.lat),
            ] {
                if on && l.n > 0 {
                    percentile_lines(&mut out, label, l, &p.list);
                }
            }
            if p.clat || p.lat {
                let all = if p.lat { s.lat.n } else { s.clat.n }.max(1);
                for (ioprio, l) in &prios {
                    let label = format!(
                        "{kind} prio {}/{} ({:.2}% of IOs)",
                        ioprio >> 13,
                        ioprio & 7,
                        100.0 * l.n as f64 / all as f64
                    );
                    percentile_lines(&mut out, &label, l, &p.list);
                }
            }
            if let Some((min, max, avg, dev, n)) = series(&v.samples.bw[d]) {
                let _ = writeln!(
                    out,
                    "   bw (  KiB/s): min={min:.0}, max={max:.0}, per={:.2}%, avg={avg:.2}, stdev={dev:.2}, samples={n}",
                    bw_share(v, views, d)
                );
            }
            if let Some((min, max, avg, dev, n)) = series(&v.samples.iops[d]) {
                let _ = writeln!(
                    out,
                    "   iops        : min={min:5.0}, max={max:5.0}, avg={avg:.2}, stdev={dev:.2}, samples={n}"
                );
            }
            if s.short_ios > 0 {
                let _ = writeln!(out, "    short I/Os: {}", s.short_ios);
            }
        }
        let mut clat = v.stats[0].clat.clone();
        clat.merge(&v.stats[1].clat);
        clat.merge(&v.stats[2].clat);
        latency_buckets(&mut out, &clat);
        let sync = &v.stats[SYNC];
        if sync.ios > 0 {
            let _ = writeln!(out, "  fsync/fdatasync/sync_file_range:");
            lat_line(&mut out, "  sync", &sync.lat);
            let p = &v.results[0].spec.pcts;
            if p.clat || p.lat {
                percentile_lines(&mut out, "  sync", &sync.lat, &p.list);
            }
        }
        if let Some((total, first)) = v.continued_errors() {
            let _ = writeln!(
                out,
                "  errors    : total={total}, first_error={first}/<{}>",
                std::io::Error::from_raw_os_error(first)
                    .to_string()
                    .split(" (os error")
                    .next()
                    .unwrap_or("")
            );
        }
        let (usr, sys) = v.cpu_pct();
        let _ = writeln!(
            out,
            "  cpu          : usr={usr:.2}%, sys={sys:.2}%, ctx={}, majf={}, minf={}",
            v.usage.ctx, v.usage.majf, v.usage.minf
        );
        let dist = |labels: &[&str], counts: &[u64]| -> String {
            labels
                .iter()
                .zip(shares(counts))
                .map(|(l, p)| format!("{l}={p:.1}%"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "  IO depths    : {}",
            dist(&["1", "2", "4", "8", "16", "32", ">=64"], &v.depths.depth)
        );
        let batch = ["0", "4", "8", "16", "32", "64", ">=64"];
        let _ = writeln!(out, "     submit    : {}", dist(&batch, &v.depths.submit));
        let _ = writeln!(out, "     complete  : {}", dist(&batch, &v.depths.complete));
        let _ = writeln!(
            out,
            "     issued rwts: total={},{},{},0 short={},{},{},0 dropped=0,0,0,0",
            v.stats[0].ios,
            v.stats[1].ios,
            v.stats[2].ios,
            v.stats[0].short_ios,
            v.stats[1].short_ios,
            v.stats[2].short_ios
        );
        {
            let (target, window, pct, depth) = latency_fields(v);
            let _ = writeln!(
                out,
                "     latency   : target={target}, window={window}, percentile={pct:.2}%, depth={depth}"
            );
        }
        if let Some(st) = &v.results[0].steady {
            // fio's show_ss_normal.
            let (bw, iops) = st.means();
            let sp = &st.spec;
            let _ = writeln!(
                out,
                "  steadystate  : attained={}, bw={}, iops={}, {}{}={:.3}{}",
                if st.attained { "yes" } else { "no" },
                human_rate(bw as f64),
                human_count(iops as f64),
                if sp.iops { "iops" } else { "bw" },
                if sp.slope { " slope" } else { " mean dev" },
                st.criterion,
                if sp.pct { "%" } else { "" }
            );
        }
        for r in v.results.iter().take(1) {
            for t in &r.targets {
                let _ = writeln!(out, "  target       : {t}");
            }
            let _ = writeln!(out, "  backend      : {} ({})", r.backend, r.backend_report);
            for s in &r.skipped {
                let _ = writeln!(out, "  skipped      : {s}");
            }
        }
        if let Some(vr) = v.verify() {
            let _ = writeln!(
                out,
                "  verify       : {} blocks ({}) checked with {}, {} bad{}",
                vr.blocks,
                human_bytes(vr.bytes),
                v.results[0].spec.verify_kind.name(),
                vr.errors,
                if vr.unchecked > 0 {
                    format!(
                        "; {} not checked: the runtime ran out (as in fio)",
                        vr.unchecked
                    )
                } else {
                    String::new()
                } + &if vr.unknown > 0 {
                    format!(
                        "; {} unknown: written when the job stopped, not known durable",
                        vr.unknown
                    )
                } else {
                    String::new()
                }
            );
            for m in &vr.first {
                let _ = writeln!(out, "    {m}");
            }
        }
        if let Some(e) = v.error() {
            let _ = writeln!(out, "  error        : {e}");
        }
        if v.results.iter().any(|r| r.interrupted) {
            let _ = writeln!(
                out,
                "  interrupted  : stopped by Ctrl-C; numbers cover the time run"
            );
        }
    }
    let cpu = (proc_cpu.usr + proc_cpu.sys).as_secs_f64();
    let _ = writeln!(
        out,
        "\nprocess cpu: usr={:.2}s sys={:.2}s, {:.2} us per I/O (every thread: job, engine workers, kernel io-wq)",
        proc_cpu.usr.as_secs_f64(),
        proc_cpu.sys.as_secs_f64(),
        if total_ios > 0 { cpu * 1e6 / total_ios as f64 } else { 0.0 }
    );
    let mut groups: Vec<u32> = views.iter().map(|v| v.groupid).collect();
    groups.dedup();
    for g in groups {
        let members: Vec<&View<'_>> = views.iter().filter(|v| v.groupid == g).collect();
        let _ = writeln!(out, "\nRun status group {g} (all jobs):");
        for (d, label) in [(0, "READ"), (1, "WRITE"), (2, "TRIM")] {
            let bytes: u64 = members.iter().map(|v| v.stats[d].bytes).sum();
            if bytes == 0 {
                continue;
            }
            let active: Vec<&&View<'_>> = members.iter().filter(|v| v.stats[d].bytes > 0).collect();
            let run_max = active
                .iter()
                .map(|v| v.dir_runtime[d])
                .max()
                .unwrap_or_default();
            let run_min = active
                .iter()
                .map(|v| v.dir_runtime[d])
                .min()
                .unwrap_or_default();
            let rates: Vec<f64> = active
                .iter()
                .map(|v| v.stats[d].bytes as f64 / v.dir_secs(d))
                .collect();
            let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = rates.iter().copied().fold(0.0, f64::max);
            let _ = writeln!(
                out,
                "  {label:>5}: bw={}, {}-{} ({}-{}), io={} ({:.1}MB), run={}-{}msec",
                human_rate(bytes as f64 / run_max.as_secs_f64().max(1e-9)),
                human_rate_mib(lo),
                human_rate_mib(hi),
                human_rate_mb(lo),
                human_rate_mb(hi),
                human_bytes(bytes),
                bytes as f64 / 1e6,
                run_min.as_millis(),
                run_max.as_millis()
            );
        }
    }
    out
}

/// One latency series in fio's JSON: percentiles (at `list`) only when the job asks for them,
/// and json+'s bins only with them (stat.c `add_ddir_lat_json`).
fn lat_json(l: &Lat, bins: bool, list: Option<&[f64]>) -> Value {
    let mut pct = Map::new();
    for &p in list.unwrap_or_default() {
        pct.insert(format!("{p:.6}"), json!(l.percentile(p)));
    }
    let mut m = Map::new();
    m.insert("min".into(), json!(l.min()));
    m.insert("max".into(), json!(l.max));
    m.insert("mean".into(), json!(l.mean()));
    m.insert("stddev".into(), json!(l.stddev()));
    m.insert("N".into(), json!(l.n));
    if l.n > 0 && list.is_some() {
        m.insert("percentile".into(), Value::Object(pct));
    }
    if bins && l.n > 0 && list.is_some() {
        let mut b = Map::new();
        for v in l.hist.iter_recorded() {
            b.insert(
                l.hist.highest_equivalent(v.value_iterated_to()).to_string(),
                json!(v.count_at_value()),
            );
        }
        m.insert("bins".into(), Value::Object(b));
    }
    Value::Object(m)
}

fn dir_json(
    s: &DirStats,
    secs: f64,
    runtime_ms: u128,
    (plus, p): (bool, &crate::spec::Pcts),
    bw: &[f64],
    iops: &[f64],
    agg_pct: f64,
) -> Value {
    let runtime = if s.ios > 0 { runtime_ms } else { 0 };
    let mut v = json!({
        "io_bytes": s.bytes,
        "io_kbytes": s.bytes / 1024,
        "bw_bytes": (s.bytes as f64 / secs) as u64,
        "bw": (s.bytes as f64 / 1024.0 / secs) as u64,
        "iops": s.ios as f64 / secs,
        "runtime": runtime,
        "total_ios": s.ios,
        "short_ios": s.short_ios,
        "drop_ios": 0,
        "slat_ns": lat_json(&s.slat, plus, p.slat.then_some(&p.list[..])),
        "clat_ns": lat_json(&s.clat, plus, p.clat.then_some(&p.list[..])),
        "lat_ns": lat_json(&s.lat, plus, p.lat.then_some(&p.list[..])),
    });
    // fio's sampled bandwidth and IOPS fields; absent when nothing was sampled (a run shorter
    // than one interval), never placeholder zeros.
    if let (Some(b), Some(i), Some(obj)) = (series(bw), series(iops), v.as_object_mut()) {
        obj.insert("bw_min".into(), json!(b.0 as u64));
        obj.insert("bw_max".into(), json!(b.1 as u64));
        obj.insert("bw_agg".into(), json!(agg_pct));
        obj.insert("bw_mean".into(), json!(b.2));
        obj.insert("bw_dev".into(), json!(b.3));
        obj.insert("bw_samples".into(), json!(b.4));
        obj.insert("iops_min".into(), json!(i.0 as u64));
        obj.insert("iops_max".into(), json!(i.1 as u64));
        obj.insert("iops_mean".into(), json!(i.2));
        obj.insert("iops_stddev".into(), json!(i.3));
        obj.insert("iops_samples".into(), json!(i.4));
    }
    v
}

/// fio's `iodepth_level` / `iodepth_submit` / `iodepth_complete` objects.
fn depth_json(labels: &[&str], counts: &[u64]) -> Value {
    let mut m = Map::new();
    for (l, p) in labels.iter().zip(shares(counts)) {
        m.insert((*l).to_string(), json!(p));
    }
    Value::Object(m)
}

/// fio's latency bucket edges (the lower table in each unit), and the millisecond table's two
/// extra buckets (`2000`, `>=2000`).
const LAT_EDGES: [u64; 10] = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000];
const LAT_EDGES_MS: [u64; 12] = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000, 2000, u64::MAX];

/// Shares in percent of the samples falling in each bucket `(previous edge, edge]` (edges in
/// `scale` ns; `u64::MAX` is "everything left"), counting only samples above `*below` ns-count
/// and moving `*below` past the buckets taken.
fn bucket_shares(l: &Lat, scale: u64, edges: &[u64], below: &mut u64) -> Vec<f64> {
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

/// fio's `latency_ns` / `latency_us` / `latency_ms`: the share of I/Os per completion-latency
/// bucket.
fn latency_json(l: &Lat) -> (Value, Value, Value) {
    let mut below = 0u64;
    let mut table = |scale: u64, edges: &[u64]| {
        let shares = bucket_shares(l, scale, edges, &mut below);
        let mut m = Map::new();
        for (e, p) in edges.iter().zip(shares) {
            let key = if *e == u64::MAX {
                ">=2000".to_string()
            } else {
                e.to_string()
            };
            m.insert(key, json!(p));
        }
        Value::Object(m)
    };
    let ns = table(1, &LAT_EDGES);
    let us = table(1_000, &LAT_EDGES);
    let ms = table(1_000_000, &LAT_EDGES_MS);
    (ns, us, ms)
}

/// fio's terse format, version 3 (HOWTO "Terse output"): one `;`-separated line per job or
/// group; latencies in usec; the disks under the targets at the end of each line.
pub fn terse(views: &[View<'_>], disks: &Value) -> String {
    let mut out = String::new();
    for v in views {
        let mut f: Vec<String> = vec![
            "3".into(),
            concat!("diorite-", env!("CARGO_PKG_VERSION")).into(),
            v.name.clone(),
            v.groupid.to_string(),
            i32::from(v.error().is_some()).to_string(),
        ];
        for d in 0..2 {
            let s = &v.stats[d];
            let secs = v.dir_secs(d);
            let active = s.ios > 0;
            let lat4 = |l: &Lat, f: &mut Vec<String>| {
                if l.n == 0 {
                    f.extend(["0", "0", "0.000000", "0.000000"].map(String::from));
                } else {
                    f.push((l.min() / 1000).to_string());
                    f.push((l.max / 1000).to_string());
                    f.push(format!("{:.6}", l.mean() / 1e3));
                    f.push(format!("{:.6}", l.stddev() / 1e3));
                }
            };
            f.push((s.bytes / 1024).to_string());
            f.push(if active {
                ((s.bytes as f64 / 1024.0 / secs) as u64).to_string()
            } else {
                "0".into()
            });
            f.push(if active {
                ((s.ios as f64 / secs) as u64).to_string()
            } else {
                "0".into()
            });
            f.push(if active {
                v.dir_runtime[d].as_millis().to_string()
            } else {
                "0".into()
            });
            lat4(&s.slat, &mut f);
            lat4(&s.clat, &mut f);
            // fio's terse percentiles: total latency's with lat_percentiles, else clat's with
            // clat_percentiles, else none; padded to 20 fields.
            let pc = &v.results[0].spec.pcts;
            let (l, list) = if pc.lat {
                (&s.lat, &pc.list[..])
            } else if pc.clat {
                (&s.clat, &pc.list[..])
            } else {
                (&s.clat, &[][..])
            };
            for &p in list {
                let val = if active { l.percentile(p) / 1000 } else { 0 };
                f.push(format!("{p:.6}%={val}"));
            }
            for _ in list.len()..20 {
                f.push("0%=0".into());
            }
            lat4(&s.lat, &mut f);
            match series(&v.samples.bw[d]) {
                Some((min, max, mean, dev, _)) => {
                    f.push((min as u64).to_string());
                    f.push((max as u64).to_string());
                    f.push(format!("{:.6}%", bw_share(v, views, d)));
                    f.push(format!("{mean:.6}"));
                    f.push(format!("{dev:.6}"));
                }
                None => f.extend(["0", "0", "0.000000%", "0.000000", "0.000000"].map(String::from)),
            }
        }
        let (usr, sys) = v.cpu_pct();
        f.push(format!("{usr:.6}%"));
        f.push(format!("{sys:.6}%"));
        f.push(v.usage.ctx.to_string());
        f.push(v.usage.majf.to_string());
        f.push(v.usage.minf.to_string());
        for p in shares(&v.depths.depth) {
            f.push(format!("{p:.1}%"));
        }
        let mut clat = v.stats[0].clat.clone();
        clat.merge(&v.stats[1].clat);
        clat.merge(&v.stats[2].clat);
        let mut below = 0;
        for p in bucket_shares(&clat, 1_000, &LAT_EDGES, &mut below) {
            f.push(format!("{p:.2}%"));
        }
        for p in bucket_shares(&clat, 1_000_000, &LAT_EDGES_MS, &mut below) {
            f.push(format!("{p:.2}%"));
        }
        for d in disks.as_array().into_iter().flatten() {
            for k in [
                "name",
                "read_ios",
                "write_ios",
                "read_merges",
                "write_merges",
                "read_ticks",
                "write_ticks",
                "in_queue",
            ] {
                f.push(match &d[k] {
                    Value::String(s) => s.clone(),
                    x => x.to_string(),
                });
            }
            f.push(format!("{:.2}%", d["util"].as_f64().unwrap_or(0.0)));
        }
        if let Some(desc) = &v.results[0].spec.description {
            f.push(desc.clone());
        }
        out.push_str(&f.join(";"));
        out.push('\n');
    }
    out
}

/// fio's JSON shape (`json`; `json+` adds `bins` to `clat_ns`).
pub fn json(
    views: &[View<'_>],
    globals: &Globals,
    proc_cpu: &ProcessCpu,
    total_ios: u64,
    probe: Value,
    disk_util: Value,
) -> Value {
    let plus = globals.formats.contains(&OutputFormat::JsonPlus);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let jobs: Vec<Value> = views
        .iter()
        .map(|v| {
            let (usr, sys) = v.cpu_pct();
            let r0 = v.results[0];
            let opts: Map<String, Value> = r0
                .spec
                .given
                .iter()
                .map(|(k, val)| (k.clone(), json!(val)))
                .collect();
            let mut clat = v.stats[0].clat.clone();
            clat.merge(&v.stats[1].clat);
            clat.merge(&v.stats[2].clat);
            let (lat_n, lat_u, lat_m) = latency_json(&clat);
            let pc = &r0.spec.pcts;
            let verify = v.verify().map(|vr| {
                json!({"kind": r0.spec.verify_kind.name(), "blocks": vr.blocks, "bytes": vr.bytes, "errors": vr.errors, "unchecked": vr.unchecked, "unknown": vr.unknown, "first": vr.first})
            });
            let mut job = json!({
                "jobname": v.name,
                "groupid": v.groupid,
                "error": i32::from(v.error().is_some()),
                "eta": 0,
                "elapsed": v.runtime.as_secs(),
                "job options": opts,
                "read": dir_json(&v.stats[0], v.dir_secs(0), v.dir_runtime[0].as_millis(), (plus, pc),
                    &v.samples.bw[0], &v.samples.iops[0], bw_share(v, views, 0)),
                "write": dir_json(&v.stats[1], v.dir_secs(1), v.dir_runtime[1].as_millis(), (plus, pc),
                    &v.samples.bw[1], &v.samples.iops[1], bw_share(v, views, 1)),
                "trim": dir_json(&v.stats[2], v.dir_secs(2), v.dir_runtime[2].as_millis(), (plus, pc),
                    &v.samples.bw[2], &v.samples.iops[2], bw_share(v, views, 2)),
                "sync": {
                    "total_ios": v.stats[SYNC].ios,
                    "lat_ns": lat_json(&v.stats[SYNC].lat, false,
                        (pc.clat || pc.lat).then_some(&pc.list[..])),
                },
                // fio sums the members' runtimes with group_reporting.
                "job_runtime": v.results.iter().map(|r| r.runtime.as_millis()).sum::<u128>(),
                "usr_cpu": usr,
                "sys_cpu": sys,
                "ctx": v.usage.ctx,
                "majf": v.usage.majf,
                "minf": v.usage.minf,
                "iodepth_level": depth_json(&["1", "2", "4", "8", "16", "32", ">=64"], &v.depths.depth),
                "iodepth_submit": depth_json(&["0", "4", "8", "16", "32", "64", ">=64"], &v.depths.submit),
                "iodepth_complete": depth_json(&["0", "4", "8", "16", "32", "64", ">=64"], &v.depths.complete),
                "latency_ns": lat_n,
                "latency_us": lat_u,
                "latency_ms": lat_m,
                "diorite": {
                    "jobs": v.results.len(),
                    "backend": r0.backend,
                    "backend_report": r0.backend_report,
                    "skipped_backends": r0.skipped,
                    "targets": r0.targets,
                    "startdelay_ms": r0.spec.startdelay.as_millis() as u64,
                    "cpus": r0.cpus,
                    "nice": r0.nice,
                    "mem_policy": r0.mem_policy.map(|(mode, mask)| json!({"mode": mode, "nodes": mask})),
                    "verify": verify,
                    "error_message": v.error(),
                    "interrupted": v.results.iter().any(|r| r.interrupted),
                },
            });
            // fio's per-priority latency (`prios`), when two or more priorities have samples.
            for (d, key) in [(0, "read"), (1, "write")] {
                let prios = v.prios_with_samples(d);
                if prios.is_empty() {
                    continue;
                }
                let name = if pc.lat { "lat_ns" } else { "clat_ns" };
                let list = (pc.clat || pc.lat).then_some(&pc.list[..]);
                let arr: Vec<Value> = prios
                    .iter()
                    .map(|(p, l)| {
                        let mut o = Map::new();
                        o.insert("prioclass".into(), json!(p >> 13));
                        o.insert("prio".into(), json!(p & 7));
                        o.insert(name.into(), lat_json(l, plus, list));
                        Value::Object(o)
                    })
                    .collect();
                if let Some(obj) = job[key].as_object_mut() {
                    obj.insert("prios".into(), Value::Array(arr));
                }
            }
            // fio's latency-target fields (target in ns, window in us, as fio reports them).
            if let Some(obj) = job.as_object_mut() {
                let (target, window, pct, depth) = latency_fields(v);
                obj.insert("latency_depth".into(), json!(depth));
                obj.insert("latency_target".into(), json!(target));
                obj.insert("latency_percentile".into(), json!(pct));
                obj.insert("latency_window".into(), json!(window));
            }
            // fio's steadystate block.
            if let (Some(st), Some(obj)) = (&v.results[0].steady, job.as_object_mut()) {
                let (bw, iops) = st.means();
                let n = st.spec.window();
                let pad = |d: &std::collections::VecDeque<u64>| -> Vec<u64> {
                    let mut v: Vec<u64> = d.iter().copied().collect();
                    v.resize(n, 0);
                    v
                };
                obj.insert(
                    "steadystate".into(),
                    json!({
                        "ss": st.spec.name(),
                        "duration": st.spec.dur.as_secs(),
                        "attained": u8::from(st.attained),
                        "criterion": format!("{:.6}{}", st.criterion, if st.spec.pct { "%" } else { "" }),
                        "max_deviation": st.deviation,
                        "slope": st.slope,
                        "data": {
                            "bw_mean": bw,
                            "iops_mean": iops,
                            "iops": pad(&st.iops),
                            "bw": pad(&st.bw),
                        },
                    }),
                );
            }
            // fio adds `desc` only for a job with a description.
            if let (Some(desc), Some(obj)) = (&r0.spec.description, job.as_object_mut()) {
                obj.insert("desc".into(), json!(desc));
            }
            // ... and `total_err` / `first_error` only for a job that continues on errors.
            if let (Some((total, first)), Some(obj)) = (v.continued_errors(), job.as_object_mut()) {
                obj.insert("total_err".into(), json!(total));
                obj.insert("first_error".into(), json!(first));
            }
            job
        })
        .collect();
    let cpu = (proc_cpu.usr + proc_cpu.sys).as_secs_f64();
    json!({
        "fio version": concat!("diorite-", env!("CARGO_PKG_VERSION")),
        "timestamp": now.as_secs(),
        "timestamp_ms": now.as_millis() as u64,
        "time": "",
        "jobs": jobs,
        "disk_util": disk_util,
        "diorite": {
            "version": env!("CARGO_PKG_VERSION"),
            "process_usr_cpu_s": proc_cpu.usr.as_secs_f64(),
            "process_sys_cpu_s": proc_cpu.sys.as_secs_f64(),
            "total_ios": total_ios,
            "cpu_us_per_io": if total_ios > 0 { cpu * 1e6 / total_ios as f64 } else { 0.0 },
            "backends": probe,
        },
    })
}

#[cfg(test)]
mod tests {
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
