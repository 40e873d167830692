//! The normal (human-readable) report, in fio's layout.

use super::units::*;
use super::*;
use crate::run::outcome::SYNC;
use crate::stats::Lat;
use std::fmt::Write as _;

pub fn lat_line(out: &mut String, label: &str, l: &Lat) {
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

/// fio's percentile block (stat.c `show_clat_percentiles`): the unit is chosen from the
/// smallest and largest percentile values (msec when > 2 ms and > 100 ms, usec when > 2 us
/// and > 99,999 ns), values divided down to whole units, four to a line.
pub fn percentile_lines(out: &mut String, label: &str, l: &Lat, list: &[f64]) {
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
pub fn latency_buckets(out: &mut String, l: &Lat) {
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

/// The fio-style text report.
pub fn text(views: &[View<'_>], proc_cpu: Option<(&ProcessCpu, u64)>) -> String {
    let mut out = String::new();
    for v in views {
        job(&mut out, v, views);
    }
    // This process's CPU (not for results a server sent).
    if let Some((proc_cpu, total_ios)) = proc_cpu {
        let cpu = (proc_cpu.usr + proc_cpu.sys).as_secs_f64();
        let _ = writeln!(
            out,
            "\nprocess cpu: usr={:.2}s sys={:.2}s, {:.2} us per I/O (every thread: job, engine workers, kernel io-wq)",
            proc_cpu.usr.as_secs_f64(),
            proc_cpu.sys.as_secs_f64(),
            if total_ios > 0 { cpu * 1e6 / total_ios as f64 } else { 0.0 }
        );
    }
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

/// One job's (or group's) entry: its directions, latency buckets, syncs and errors, then its
/// counts and notes.
fn job(out: &mut String, v: &View<'_>, views: &[View<'_>]) {
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
        direction(out, v, views, d, label);
    }
    let mut clat = v.stats[0].clat.clone();
    clat.merge(&v.stats[1].clat);
    clat.merge(&v.stats[2].clat);
    latency_buckets(out, &clat);
    let sync = &v.stats[SYNC];
    if sync.ios > 0 {
        let _ = writeln!(out, "  fsync/fdatasync/sync_file_range:");
        lat_line(out, "  sync", &sync.lat);
        let p = &v.results[0].spec.measure.pcts;
        if p.clat || p.lat {
            percentile_lines(out, "  sync", &sync.lat, &p.list);
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
    counts(out, v);
    notes(out, v);
}

/// One direction of an entry: rates, latencies (per priority too), percentiles, samples.
fn direction(out: &mut String, v: &View<'_>, views: &[View<'_>], d: usize, label: &str) {
    let s = &v.stats[d];
    if s.ios == 0 {
        return;
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
            lat_line(out, label, l);
        }
    }
    // fio: per-priority latency when two or more priorities have samples.
    let p = &v.results[0].spec.measure.pcts;
    let prios = v.prios_with_samples(d);
    let kind = if p.lat { "lat" } else { "clat" };
    for (ioprio, l) in &prios {
        lat_line(out, &format!("{kind} prio {}", prio_label(*ioprio)), l);
    }
    // fio's order: slat, clat, lat percentiles, each as the job asks.
    for (on, label, l) in [
        (p.slat, "slat", &s.slat),
        (p.clat, "clat", &s.clat),
        (p.lat, "lat", &s.lat),
    ] {
        if on && l.n > 0 {
            percentile_lines(out, label, l, &p.list);
        }
    }
    if p.clat || p.lat {
        let all = if p.lat { s.lat.n } else { s.clat.n }.max(1);
        for (ioprio, l) in &prios {
            let label = format!(
                "{kind} prio {} ({:.2}% of IOs)",
                prio_label(*ioprio),
                100.0 * l.n as f64 / all as f64
            );
            percentile_lines(out, &label, l, &p.list);
        }
    }
    if let Some((min, max, avg, dev, n)) = v.series_of(false, d) {
        // fio's show_ddir_status: KiB/s (kB/s when kb_base is not a power of 2), switched to
        // MiB/s once the mean passes kb_base², minimum and maximum as whole numbers.
        let kb = f64::from(v.results[0].spec.kb_base);
        let mut unit = if v.results[0].spec.kb_base.is_power_of_two() {
            "KiB"
        } else {
            "kB"
        };
        let (mut min, mut max, mut avg, mut dev) = (min.trunc(), max.trunc(), avg, dev);
        if avg > kb * kb {
            (min, max, avg, dev) = ((min / kb).trunc(), (max / kb).trunc(), avg / kb, dev / kb);
            unit = "MiB";
        }
        let _ = writeln!(
            out,
            "   bw ({unit:>5}/s): min={min:5}, max={max:5}, per={:3.2}%, avg={avg:5.2}, stdev={dev:5.2}, samples={n}",
            bw_share(v, views, d)
        );
    }
    if let Some((min, max, avg, dev, n)) = v.series_of(true, d) {
        let _ = writeln!(
            out,
            "   iops        : min={:5}, max={:5}, avg={avg:5.2}, stdev={dev:5.2}, samples={n}",
            min.trunc(),
            max.trunc()
        );
    }
    if s.short_ios > 0 {
        let _ = writeln!(out, "    short I/Os: {}", s.short_ios);
    }
}

/// An entry's CPU use, queue depths, issued counts and latency target.
fn counts(out: &mut String, v: &View<'_>) {
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
}

/// An entry's steady state, targets and backend, verify findings, error and interruption.
fn notes(out: &mut String, v: &View<'_>) {
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
            v.results[0].spec.verification.verify_kind.name(),
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
    if let Some(c) = v.crash() {
        let _ = writeln!(
            out,
            "  crash        : {} states ({} systematic): {} promised {}-byte blocks checked, {} \
             lost against a promise (in {} states); {} lost as allowed (completed, not yet \
             durable)",
            c.states,
            c.systematic,
            c.checked,
            c.block,
            c.lost_promised,
            c.states_failed,
            c.lost_allowed
        );
        if let Some(first) = &c.first {
            for line in first.lines() {
                let _ = writeln!(out, "    {line}");
            }
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

/// fio's `CLASS/LEVEL` of an ioprio value, with fio 3.36's `/HINT` when it has a hint.
fn prio_label(ioprio: u16) -> String {
    match (ioprio >> 3) & 0x3ff {
        0 => format!("{}/{}", ioprio >> 13, ioprio & 7),
        hint => format!("{}/{}/{hint}", ioprio >> 13, ioprio & 7),
    }
}
