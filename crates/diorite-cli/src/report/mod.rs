//! Reports: fio-style text, and fio's JSON shape (`json`, `json+` with histogram bins) for the
//! fields diorite measures, plus a `diorite` object for what fio lacks.

pub mod plot;
pub mod stats;

use crate::job::{Globals, OutputFormat};
use crate::report::stats::{DirStats, Lat, PERCENTILES};
use crate::run::runner::{JobResult, VerifyResult, SYNC};
use serde_json::{json, Map, Value};
use std::fmt::Write as _;
use std::time::Duration;

/// What one report entry covers: a job, or a group with `group_reporting`.
pub struct View<'a> {
    pub name: String,
    pub groupid: u32,
    pub results: Vec<&'a JobResult>,
    pub stats: [DirStats; 3],
    pub runtime: Duration,
    /// Per direction (read, write): the longest a member ran it.
    pub dir_runtime: [Duration; 2],
}

impl<'a> View<'a> {
    pub fn of(results: Vec<&'a JobResult>) -> View<'a> {
        let mut stats = [DirStats::new(), DirStats::new(), DirStats::new()];
        for r in &results {
            for (s, o) in stats.iter_mut().zip(&r.stats) {
                s.merge(o);
            }
        }
        View {
            name: results[0].name.clone(),
            groupid: results[0].groupid,
            runtime: results.iter().map(|r| r.runtime).max().unwrap_or_default(),
            dir_runtime: [0, 1].map(|d| {
                results
                    .iter()
                    .map(|r| r.dir_runtime[d])
                    .max()
                    .unwrap_or_default()
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

fn unit_for(max_ns: u64) -> (&'static str, f64) {
    if max_ns < 10_000 {
        ("nsec", 1.0)
    } else if max_ns < 10_000_000 {
        ("usec", 1e3)
    } else {
        ("msec", 1e6)
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
    let (u, div) = unit_for(l.max);
    let _ = writeln!(
        out,
        "    {label} ({u}): min={:.0}, max={:.0}, avg={:.2}, stdev={:.2}",
        l.min() as f64 / div,
        l.max as f64 / div,
        l.mean() / div,
        l.stddev() / div
    );
}

fn percentile_lines(out: &mut String, label: &str, l: &Lat) {
    let (u, div) = unit_for(l.max);
    let _ = writeln!(out, "    {label} percentiles ({u}):");
    for row in PERCENTILES.chunks(4) {
        let cells: Vec<String> = row
            .iter()
            .map(|p| format!("{:>6.2}th=[{:>6.0}]", p, l.percentile(*p) as f64 / div))
            .collect();
        let _ = writeln!(out, "     | {}", cells.join(", "));
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
        for (d, label) in [(0, "read"), (1, "write")] {
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
            // As fio: a series without samples (slat of a synchronous engine) is not printed.
            if s.slat.n > 0 {
                lat_line(&mut out, "slat", &s.slat);
            }
            lat_line(&mut out, "clat", &s.clat);
            lat_line(&mut out, " lat", &s.lat);
            percentile_lines(&mut out, "clat", &s.clat);
            if s.short_ios > 0 {
                let _ = writeln!(out, "    short I/Os: {}", s.short_ios);
            }
        }
        let sync = &v.stats[SYNC];
        if sync.ios > 0 {
            let _ = writeln!(out, "  sync: ios={}", sync.ios);
            lat_line(&mut out, "sync lat", &sync.lat);
        }
        let (usr, sys) = v.cpu_pct();
        let _ = writeln!(
            out,
            "  cpu          : usr={usr:.2}%, sys={sys:.2}% (job threads)"
        );
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
                "  verify       : {} blocks ({}) checked, {} bad{}",
                vr.blocks,
                human_bytes(vr.bytes),
                vr.errors,
                if vr.unchecked > 0 {
                    format!(
                        "; {} not checked: the runtime ran out (as in fio)",
                        vr.unchecked
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
        for (d, label) in [(0, "READ"), (1, "WRITE")] {
            let bytes: u64 = members.iter().map(|v| v.stats[d].bytes).sum();
            if bytes == 0 {
                continue;
            }
            let run_max = members.iter().map(|v| v.runtime).max().unwrap_or_default();
            let run_min = members.iter().map(|v| v.runtime).min().unwrap_or_default();
            let _ = writeln!(
                out,
                "  {label:>5}: bw={}, io={} ({:.1}MB), run={}-{}msec",
                human_rate(bytes as f64 / run_max.as_secs_f64().max(1e-9)),
                human_bytes(bytes),
                bytes as f64 / 1e6,
                run_min.as_millis(),
                run_max.as_millis()
            );
        }
    }
    out
}

fn lat_json(l: &Lat, bins: bool) -> Value {
    let mut pct = Map::new();
    for p in PERCENTILES {
        pct.insert(format!("{p:.6}"), json!(l.percentile(p)));
    }
    let mut m = Map::new();
    m.insert("min".into(), json!(l.min()));
    m.insert("max".into(), json!(l.max));
    m.insert("mean".into(), json!(l.mean()));
    m.insert("stddev".into(), json!(l.stddev()));
    m.insert("N".into(), json!(l.n));
    if l.n > 0 {
        m.insert("percentile".into(), Value::Object(pct));
    }
    if bins && l.n > 0 {
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

fn dir_json(s: &DirStats, secs: f64, runtime_ms: u128, plus: bool) -> Value {
    let runtime = if s.ios > 0 { runtime_ms } else { 0 };
    json!({
        "io_bytes": s.bytes,
        "io_kbytes": s.bytes / 1024,
        "bw_bytes": (s.bytes as f64 / secs) as u64,
        "bw": (s.bytes as f64 / 1024.0 / secs) as u64,
        "iops": s.ios as f64 / secs,
        "runtime": runtime,
        "total_ios": s.ios,
        "short_ios": s.short_ios,
        "drop_ios": 0,
        "slat_ns": lat_json(&s.slat, false),
        "clat_ns": lat_json(&s.clat, plus),
        "lat_ns": lat_json(&s.lat, false),
    })
}

/// fio's JSON shape (`json`; `json+` adds `bins` to `clat_ns`).
pub fn json(
    views: &[View<'_>],
    globals: &Globals,
    proc_cpu: &ProcessCpu,
    total_ios: u64,
    probe: Value,
) -> Value {
    let plus = globals.output_format == OutputFormat::JsonPlus;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let jobs: Vec<Value> = views
        .iter()
        .map(|v| {
            let secs = v.secs();
            let ms = v.runtime.as_millis();
            let (usr, sys) = v.cpu_pct();
            let r0 = v.results[0];
            let opts: Map<String, Value> = r0
                .spec
                .given
                .iter()
                .map(|(k, val)| (k.clone(), json!(val)))
                .collect();
            let verify = v.verify().map(|vr| {
                json!({"blocks": vr.blocks, "bytes": vr.bytes, "errors": vr.errors, "unchecked": vr.unchecked, "first": vr.first})
            });
            json!({
                "jobname": v.name,
                "groupid": v.groupid,
                "error": i32::from(v.error().is_some()),
                "eta": 0,
                "elapsed": v.runtime.as_secs(),
                "job options": opts,
                "read": dir_json(&v.stats[0], v.dir_secs(0), v.dir_runtime[0].as_millis(), plus),
                "write": dir_json(&v.stats[1], v.dir_secs(1), v.dir_runtime[1].as_millis(), plus),
                "trim": dir_json(&DirStats::new(), secs, ms, false),
                "sync": {
                    "total_ios": v.stats[SYNC].ios,
                    "lat_ns": lat_json(&v.stats[SYNC].lat, false),
                },
                "job_runtime": ms,
                "usr_cpu": usr,
                "sys_cpu": sys,
                "ctx": 0,
                "majf": 0,
                "minf": 0,
                "diorite": {
                    "jobs": v.results.len(),
                    "backend": r0.backend,
                    "backend_report": r0.backend_report,
                    "skipped_backends": r0.skipped,
                    "targets": r0.targets,
                    "verify": verify,
                    "error_message": v.error(),
                    "interrupted": v.results.iter().any(|r| r.interrupted),
                },
            })
        })
        .collect();
    let cpu = (proc_cpu.usr + proc_cpu.sys).as_secs_f64();
    json!({
        "fio version": concat!("diorite-", env!("CARGO_PKG_VERSION")),
        "timestamp": now.as_secs(),
        "timestamp_ms": now.as_millis() as u64,
        "time": "",
        "jobs": jobs,
        "disk_util": [],
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
