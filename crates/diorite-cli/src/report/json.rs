//! fio's JSON report (`json`, and `json+` with histogram bins) for the fields diorite
//! measures, plus a `diorite` object for what fio lacks.

use super::*;
use crate::run::outcome::SYNC;
use crate::spec::{Globals, OutputFormat};
use crate::stats::{DirStats, Lat};
use serde_json::{json, Map, Value};

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
    (bw, iops): (
        Option<crate::run::outcome::Series>,
        Option<crate::run::outcome::Series>,
    ),
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
    // fio's sampled bandwidth and IOPS fields, in every direction: zeros when nothing was
    // sampled (an idle direction, a run shorter than one interval), as fio writes them — tools
    // index them unconditionally.
    let none = (0.0, 0.0, 0.0, 0.0, 0);
    let (b, i) = match (bw, iops) {
        (Some(b), Some(i)) => (b, i),
        _ => (none, none),
    };
    let agg_pct = if b.4 == 0 { 0.0 } else { agg_pct };
    if let Some(obj) = v.as_object_mut() {
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
    let jobs: Vec<Value> = views.iter().map(|v| job(v, views, plus)).collect();
    let cpu = (proc_cpu.usr + proc_cpu.sys).as_secs_f64();
    let mut top = json!({
        "fio version": concat!("diorite-", env!("CARGO_PKG_VERSION")),
        "timestamp": now.as_secs(),
        "timestamp_ms": now.as_millis() as u64,
        "time": ctime(now.as_secs()),
    });
    let global = given_json(&globals.global_options);
    if !global.is_empty() {
        top["global options"] = Value::Object(global);
    }
    let rest = json!({
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
    });
    if let (Some(t), Value::Object(r)) = (top.as_object_mut(), rest) {
        t.extend(r);
    }
    top
}

/// fio's client JSON: every host's jobs in `client_stats` (each with its `hostname` and
/// `port`), "All clients" last when there is one, and every host's disks.
pub fn clients(
    hosts: &[(String, u16, Vec<View<'_>>, Value)],
    all: Option<&View<'_>>,
    plus: bool,
) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut stats = Vec::new();
    let mut disks = Vec::new();
    for (host, port, views, du) in hosts {
        for v in views {
            let mut j = job(v, views, plus);
            j["hostname"] = json!(host);
            j["port"] = json!(port);
            stats.push(j);
        }
        if let Value::Array(d) = du {
            disks.extend(d.iter().cloned());
        }
    }
    if let Some(a) = all {
        stats.push(job(a, std::slice::from_ref(a), plus));
    }
    json!({
        "fio version": concat!("diorite-", env!("CARGO_PKG_VERSION")),
        "timestamp": now.as_secs(),
        "timestamp_ms": now.as_millis() as u64,
        "time": ctime(now.as_secs()),
        "client_stats": stats,
        "disk_util": disks,
    })
}

/// Options as given, for "job options" / "global options": fio lists those given with a value
/// (a bare `--time_based` or `norandommap` is left out).
fn given_json(given: &[(String, String)]) -> Map<String, Value> {
    given
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect()
}

/// fio's "time": the local time as `ctime(3)` writes it, without its newline
/// (`Sat Dec  5 08:01:16 2026`).
fn ctime(secs: u64) -> String {
    let t = libc::time_t::try_from(secs).unwrap_or(0);
    let mut buf = [0 as libc::c_char; 32];
    // SAFETY: `t` is a valid time_t for the call; ctime_r writes at most 26 bytes (its
    // documented maximum) into `buf`, which holds 32, and returns NULL on failure.
    let p = unsafe { libc::ctime_r(&t, buf.as_mut_ptr()) };
    if p.is_null() {
        return String::new();
    }
    // SAFETY: on success ctime_r wrote a NUL-terminated string into `buf`.
    let s = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    s.to_string_lossy().trim_end().to_string()
}

/// One job's (or group's) entry.
fn job(v: &View<'_>, views: &[View<'_>], plus: bool) -> Value {
    let (usr, sys) = v.cpu_pct();
    let r0 = v.results[0];
    let opts = given_json(&r0.spec.given);
    let mut clat = v.stats[0].clat.clone();
    clat.merge(&v.stats[1].clat);
    clat.merge(&v.stats[2].clat);
    let (lat_n, lat_u, lat_m) = latency_json(&clat);
    let pc = &r0.spec.measure.pcts;
    let verify = v.verify().map(|vr| {
        json!({"kind": r0.spec.verification.verify_kind.name(), "blocks": vr.blocks, "bytes": vr.bytes, "errors": vr.errors, "unchecked": vr.unchecked, "unknown": vr.unknown, "first": vr.first})
    });
    let crash = v.crash().map(|c| {
        json!({"states": c.states, "systematic": c.systematic, "block": c.block, "checked": c.checked,
            "lost_promised": c.lost_promised, "states_failed": c.states_failed,
            "lost_allowed": c.lost_allowed, "first": c.first})
    });
    let mut job = json!({
        "jobname": v.name,
        "groupid": v.groupid,
        "error": i32::from(v.error().is_some()),
        "eta": 0,
        "elapsed": v.runtime.as_secs(),
        "job options": opts,
        "read": dir_json(&v.stats[0], v.dir_secs(0), v.dir_runtime[0].as_millis(), (plus, pc),
            (v.series_of(false, 0), v.series_of(true, 0)), bw_share(v, views, 0)),
        "write": dir_json(&v.stats[1], v.dir_secs(1), v.dir_runtime[1].as_millis(), (plus, pc),
            (v.series_of(false, 1), v.series_of(true, 1)), bw_share(v, views, 1)),
        "trim": dir_json(&v.stats[2], v.dir_secs(2), v.dir_runtime[2].as_millis(), (plus, pc),
            (v.series_of(false, 2), v.series_of(true, 2)), bw_share(v, views, 2)),
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
    // diorite's crash results, only for a job that asked for them.
    if let Some(c) = crash {
        job["diorite"]["crash"] = c;
    }
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
                // fio 3.36 and later: the hint (written when there is one).
                if (p >> 3) & 0x3ff != 0 {
                    o.insert("priohint".into(), json!((p >> 3) & 0x3ff));
                }
                o.insert(name.into(), lat_json(l, plus, list));
                Value::Object(o)
            })
            .collect();
        if let Some(obj) = job[key].as_object_mut() {
            obj.insert("prios".into(), Value::Array(arr));
        }
    }
    extras(&mut job, v);
    job
}

/// The fields fio adds to an entry when they apply: the latency target's, the steady state's,
/// a description, the errors a job continued on.
fn extras(job: &mut Value, v: &View<'_>) {
    let r0 = v.results[0];
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
}
