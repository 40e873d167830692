//! The payloads of fio's protocol that a server sends and reads, byte for byte at the offsets
//! of the session's protocol version ([`Layout`], generated from that fio's headers), little
//! endian, doubles as fio encodes them (IEEE 754 bits). What a run measured reaches the
//! client as fio's `thread_stat` and `group_run_stats`, filled from the same [`View`]s the local
//! reports read.

use super::layout::Layout;
use crate::report::View;
use crate::run::logs::plat_idx;
use crate::stats::Lat;

/// A zeroed payload with typed little-endian stores at byte offsets.
pub struct Pdu(pub Vec<u8>);

impl Pdu {
    pub fn zeroed(n: usize) -> Pdu {
        Pdu(vec![0; n])
    }
    pub fn u16(&mut self, at: usize, v: u16) {
        self.0[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, at: usize, v: u32) {
        self.0[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, at: usize, v: u64) {
        self.0[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    /// fio's `fio_double_to_uint64`: the IEEE 754 bits.
    pub fn f64(&mut self, at: usize, v: f64) {
        self.u64(at, v.to_bits());
    }
    /// A NUL-terminated string in a field of `cap` bytes (cut to `cap - 1`).
    pub fn str(&mut self, at: usize, cap: usize, s: &str) {
        let b = s.as_bytes();
        let n = b.len().min(cap.saturating_sub(1));
        self.0[at..at + n].copy_from_slice(&b[..n]);
    }
}

/// `cmd_probe_reply_pdu`: who this server is. `os` 1 and `arch` 1 are fio's Linux and x86-64
/// (`os/os.h`, `arch/arch.h`), the only ones diorite runs on.
/// `zlib`: the client offered zlib and the logs will be sent compressed (`FIO_PROBE_FLAG_ZLIB`).
pub fn probe_reply(l: &Layout, hostname: &str, version: &str, cpus: u32, zlib: bool) -> Vec<u8> {
    let r = &l.probe;
    let mut p = Pdu::zeroed(r.size);
    p.str(r.hostname, r.bigendian - r.hostname, hostname);
    p.str(r.fio_version, r.os - r.fio_version, version);
    p.0[r.os] = 1;
    p.0[r.arch] = if cfg!(target_arch = "aarch64") { 13 } else { 1 };
    p.0[r.bpp] = std::mem::size_of::<usize>() as u8;
    p.u32(r.cpus, cpus);
    p.u64(r.flags, u64::from(zlib));
    p.0
}

/// `cmd_start_pdu`: how many jobs, and how many stat outputs will follow.
pub fn start(l: &Layout, jobs: u32, stat_outputs: u32) -> Vec<u8> {
    let mut p = Pdu::zeroed(l.pdu.start);
    p.u32(0, jobs);
    p.u32(4, stat_outputs);
    p.0
}

/// `cmd_end_pdu`: the run's exit value and signal.
pub fn end(l: &Layout, error: u32, signal: u32) -> Vec<u8> {
    let mut p = Pdu::zeroed(l.pdu.end);
    p.u32(0, error);
    p.u32(4, signal);
    p.0
}

/// `cmd_text_pdu`: a line for the client to print (level 0: info, 1: error).
pub fn text(l: &Layout, level: u32, s: &str) -> Vec<u8> {
    let t = &l.text;
    let mut p = Pdu::zeroed(t.size + s.len());
    p.u32(t.level, level);
    p.u32(t.buf_len, s.len() as u32);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    p.u64(t.log_sec, now.as_secs());
    p.u64(t.log_usec, u64::from(now.subsec_micros()));
    p.0[t.size..].copy_from_slice(s.as_bytes());
    p.0
}

/// `cmd_du_pdu`: one disk's counters over the run (no software-RAID members: `agg` zero).
pub fn disk_util(l: &Layout, d: &crate::report::disk::DiskDelta, wall_ms: u64) -> Vec<u8> {
    let u = &l.du;
    let mut p = Pdu::zeroed(u.size);
    p.str(u.name, l.k.du_name_size, &d.name);
    for i in 0..2 {
        p.u64(u.ios + 8 * i, d.ios[i]);
        p.u64(u.merges + 8 * i, d.merges[i]);
        p.u64(u.ticks + 8 * i, d.ticks[i]);
    }
    p.u64(u.io_ticks, d.io_ticks);
    p.u64(u.time_in_queue, d.in_queue);
    p.u64(u.msec, wall_ms);
    p.0
}

/// `cmd_add_job_pdu`: a job clone's number (from 1) and group. Its `thread_options_pack` is
/// left zero: fio's command-line client reads only the number and group from it (gfio, which
/// shows the options, is not supported).
pub fn add_job(l: &Layout, thread_number: u32, groupid: u32) -> Vec<u8> {
    let mut p = Pdu::zeroed(l.pdu.add_job);
    p.u32(0, thread_number);
    p.u32(4, groupid);
    p.0
}

/// `cmd_job_option`: one option of job `index` (or, `None`, of the global section) for the
/// client's JSON "job options" / "global options".
pub fn job_option(l: &Layout, index: Option<u32>, name: &str, value: &str) -> Vec<u8> {
    let (size, at_name, at_value) = (l.pdu.job_opt, l.pdu.job_opt_name, l.pdu.job_opt_value);
    let mut p = Pdu::zeroed(size);
    let (ncap, vcap) = (at_value - at_name, size - at_value);
    p.u16(0, u16::from(index.is_none()));
    p.u16(2, u16::from(name.len() >= ncap || value.len() >= vcap));
    p.u32(4, index.unwrap_or(0));
    p.str(at_name, ncap, name);
    p.str(at_value, vcap, value);
    p.0
}

/// `jobs_eta` while `running` jobs run (`elapsed` seconds in): the count and the time, no
/// estimate of the end (fio's `INT_MAX`: the client then prints no percentage); all zeros
/// when nothing runs — what fio's own server answers when it has no estimate.
pub fn eta(l: &Layout, running: u32, elapsed: u64) -> Vec<u8> {
    let e = &l.eta;
    let mut p = Pdu::zeroed(e.size);
    if running > 0 {
        p.u32(e.nr_running, running);
        p.u32(e.files_open, running);
        p.u64(e.elapsed_sec, elapsed);
        p.u64(e.eta_sec, i32::MAX as u64);
        p.u32(e.is_pow2, 1);
        p.u32(e.unit_base, 4);
        p.u32(e.sig_figs, 4);
    }
    p.0
}

/// A JOB payload (`cmd_job_pdu`): the job file's text.
pub fn job_text(l: &Layout, payload: &[u8]) -> Option<String> {
    let len = Rd(payload).u32(0)? as usize;
    let body = payload.get(l.pdu.job..l.pdu.job.checked_add(len)?)?;
    let body = body.split(|&b| b == 0).next().unwrap_or(body);
    String::from_utf8(body.to_vec()).ok()
}

/// A JOBLINE payload (`cmd_line_pdu`): the client's command-line arguments.
pub fn command_line(l: &Layout, payload: &[u8]) -> Option<Vec<String>> {
    let lines = Rd(payload).u16(0)? as usize;
    let mut at = l.pdu.line;
    let mut out = Vec::with_capacity(lines.min(4096));
    for _ in 0..lines {
        let len = Rd(payload).u16(at)? as usize;
        let text = payload.get(at + 2..at + 2 + len)?;
        let text = text.split(|&b| b == 0).next().unwrap_or(text);
        out.push(String::from_utf8(text.to_vec()).ok()?);
        at += 2 + len;
    }
    Some(out)
}

/// fio's `num2str` (lib/num2str.c), exactly: `num` times `base`, at most `maxlen` digits
/// (the point counted), in powers of 1024 (`pow2`) or 1000, with `unit` after the prefix.
pub fn num2str(mut num: u64, maxlen: usize, mut base: u64, pow2: bool, unit: &str) -> String {
    let prefixes: [&str; 7] = if pow2 {
        ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
    } else {
        ["", "k", "M", "G", "T", "P", "E"]
    };
    let thousand: u64 = if pow2 { 1024 } else { 1000 };
    let mut post = 0;
    while base > 1 {
        base /= thousand;
        post += 1;
    }
    let mut modulo: Option<u64> = None;
    let mut carry = false;
    while post < prefixes.len() {
        if num.to_string().len() <= maxlen {
            break;
        }
        let m = num % thousand;
        modulo = Some(m);
        num /= thousand;
        carry = m >= thousand / 2;
        post += 1;
    }
    if post >= prefixes.len() {
        post = 0;
    }
    let Some(m) = modulo else {
        return format!("{num}{}{unit}", prefixes[post]);
    };
    let digits = num.to_string().len();
    if maxlen.saturating_sub(digits) <= 1 {
        return format!("{}{}{unit}", num + u64::from(carry), prefixes[post]);
    }
    let frac = format!("{:.*}", maxlen - digits - 1, m as f64 / thousand as f64);
    if frac.starts_with('1') {
        num += 1;
    }
    format!("{num}.{}{}{unit}", &frac[2..], prefixes[post])
}

/// fio's line for a job as it is added (init.c `add_job`): name, group, pattern, block sizes
/// per direction, engine and depth.
pub fn added_job(spec: &crate::spec::JobSpec, groupid: u32) -> String {
    use crate::spec::Rw;
    let rw = match spec.rw {
        Rw::Read => "read",
        Rw::Write => "write",
        Rw::RandRead => "randread",
        Rw::RandWrite => "randwrite",
        Rw::ReadWrite => "rw",
        Rw::RandRw => "randrw",
        Rw::Trim => "trim",
        Rw::RandTrim => "randtrim",
        Rw::TrimWrite => "trimwrite",
        Rw::RandTrimWrite => "randtrimwrite",
    };
    let pow2 = spec.kb_base.is_power_of_two();
    let n = |v: u64| num2str(v, 4, 1, pow2, "B");
    let [r, w] = spec.bs_dirs();
    let t = &spec.bs;
    use crate::spec::IoEngine;
    use diorite::BackendChoice as B;
    let engine = match spec.engine {
        IoEngine::Sync => "psync",
        IoEngine::Async(B::IoUring) => "io_uring",
        IoEngine::Async(B::Aio) => "libaio",
        IoEngine::Async(B::Threads) if spec.posix_aio => "posixaio",
        IoEngine::Async(B::Threads) => "threads",
        IoEngine::Async(B::Null) => "null",
        IoEngine::Async(_) => "auto",
    };
    format!(
        "{}: (g={groupid}): rw={rw}, bs=(R) {}-{}, (W) {}-{}, (T) {}-{}, ioengine={engine}, iodepth={}\n",
        spec.name,
        n(r.min()),
        n(r.max()),
        n(w.min()),
        n(w.max()),
        n(t.min()),
        n(t.max()),
        spec.iodepth
    )
}

/// A series' `io_stat` (samples, min, max, mean, and `S`, the sum of squared differences from
/// the mean, from which fio computes the deviation).
fn io_stat(
    l: &Layout,
    p: &mut Pdu,
    at: usize,
    n: u64,
    (min, max, mean, dev): (f64, f64, f64, f64),
) {
    let i = &l.io_stat;
    if n == 0 {
        return;
    }
    p.u64(at + i.max_val, max as u64);
    p.u64(at + i.min_val, min as u64);
    p.u64(at + i.samples, n);
    p.f64(at + i.mean, mean);
    p.f64(at + i.s, dev * dev * (n.saturating_sub(1)) as f64);
}

fn lat_stat(l: &Layout, p: &mut Pdu, at: usize, s: &Lat) {
    io_stat(
        l,
        p,
        at,
        s.n,
        (s.min() as f64, s.max as f64, s.mean(), s.stddev()),
    );
}

/// A latency series' histogram in fio's 1856 buckets.
fn plat(l: &Layout, p: &mut Pdu, at: usize, s: &Lat) {
    for v in s.hist.iter_recorded() {
        let i = plat_idx(v.value_iterated_to()).min(l.k.plat_nr - 1);
        let slot = at + 8 * i;
        let old = u64::from_le_bytes(p.0[slot..slot + 8].try_into().expect("8 bytes"));
        p.u64(slot, old + v.count_at_value());
    }
}

/// fio's `percentile_precision`: the decimals its percentile list needs (at most 6).
fn precision(list: &[f64]) -> u64 {
    list.iter()
        .map(|&x| {
            (0..=6u32)
                .find(|&d| {
                    let s = x * 10f64.powi(d as i32);
                    (s - s.round()).abs() < 1e-6
                })
                .unwrap_or(6)
        })
        .max()
        .unwrap_or(0)
        .into()
}

/// Group `g`'s `group_run_stats` over the views (fio's per-group totals).
pub fn group_stats(l: &Layout, views: &[View<'_>], g: u32) -> Vec<u8> {
    let o = &l.gs;
    let mut p = Pdu::zeroed(o.size);
    let members: Vec<&View<'_>> = views.iter().filter(|v| v.groupid == g).collect();
    for d in 0..3 {
        let active: Vec<&&View<'_>> = members.iter().filter(|v| v.stats[d].bytes > 0).collect();
        if active.is_empty() {
            continue;
        }
        let ms = |v: &View<'_>| (v.dir_runtime[d].as_millis() as u64).max(1);
        let bytes: u64 = active.iter().map(|v| v.stats[d].bytes).sum();
        let max_run = active.iter().map(|v| ms(v)).max().unwrap_or(1);
        let min_run = active.iter().map(|v| ms(v)).min().unwrap_or(1);
        let bw = |v: &View<'_>| v.stats[d].bytes * 1000 / ms(v);
        p.u64(o.max_run + 8 * d, max_run);
        p.u64(o.min_run + 8 * d, min_run);
        p.u64(
            o.max_bw + 8 * d,
            active.iter().map(|v| bw(v)).max().unwrap_or(0),
        );
        p.u64(
            o.min_bw + 8 * d,
            active.iter().map(|v| bw(v)).min().unwrap_or(0),
        );
        p.u64(o.iobytes + 8 * d, bytes);
        p.u64(o.agg + 8 * d, bytes * 1000 / max_run);
    }
    let spec = &members.first().map(|v| &v.results[0].spec);
    p.u32(o.kb_base, spec.map_or(1024, |s| s.kb_base));
    p.u32(o.unit_base, 4); // bytes per second (fio's N2S_BYTEPERSEC)
    p.u32(o.sig_figs, 4);
    p.u32(o.groupid, g);
    p.0
}

/// `cmd_ts_pdu` for one report entry: its `thread_stat`, then its group's `group_run_stats`.
pub fn thread_stats(l: &Layout, v: &View<'_>, views: &[View<'_>], thread_number: u32) -> Vec<u8> {
    let (t, k) = (&l.ts, &l.k);
    let mut p = Pdu::zeroed(l.pdu.ts);
    let r0 = v.results[0];
    let spec = &r0.spec;
    p.str(t.name, k.jobname_size, &v.name);
    if let Some(e) = v.results.iter().find_map(|r| r.error.as_deref()) {
        p.str(t.verror, k.verror_size, e);
        p.u32(t.error, r0.first_error.unwrap_or(libc::EIO) as u32);
    }
    p.u32(t.thread_number, thread_number);
    p.u32(t.groupid, v.groupid);
    p.u32(t.pid, std::process::id());
    if let Some(d) = &spec.description {
        p.str(t.description, k.jobdesc_size, d);
    }
    p.u32(t.members, v.results.len() as u32);
    let io = l.io_stat.size;
    for d in 0..k.ddir_rwdir_cnt {
        let s = &v.stats[d];
        lat_stat(l, &mut p, t.clat_stat + io * d, &s.clat);
        lat_stat(l, &mut p, t.slat_stat + io * d, &s.slat);
        lat_stat(l, &mut p, t.lat_stat + io * d, &s.lat);
        for (at, iops) in [(t.bw_stat, false), (t.iops_stat, true)] {
            if let Some((min, max, mean, dev, n)) = v.series_of(iops, d) {
                io_stat(l, &mut p, at + io * d, n as u64, (min, max, mean, dev));
            }
        }
        for (s_i, lat) in [&s.slat, &s.clat, &s.lat].into_iter().enumerate() {
            let at = t.io_u_plat + 8 * k.plat_nr * (s_i * k.ddir_rwdir_cnt + d);
            plat(l, &mut p, at, lat);
        }
        p.u64(t.total_io_u + 8 * d, s.ios);
        p.u64(t.short_io_u + 8 * d, s.short_ios);
        p.u64(t.io_bytes + 8 * d, s.bytes);
        let run = if s.ios > 0 {
            v.dir_runtime[d].as_millis() as u64
        } else {
            0
        };
        p.u64(t.runtime + 8 * d, run);
    }
    let sync = &v.stats[crate::run::outcome::SYNC];
    lat_stat(l, &mut p, t.sync_stat, &sync.clat);
    plat(l, &mut p, t.io_u_sync_plat, &sync.clat);
    p.u64(t.total_io_u + 8 * 3, sync.ios);
    // fio keeps CPU time in milliseconds (`mtime_since_tv`).
    p.u64(t.usr_time, v.usage.usr.as_millis() as u64);
    p.u64(t.sys_time, v.usage.sys.as_millis() as u64);
    p.u64(t.ctx, v.usage.ctx);
    p.u64(t.minf, v.usage.minf);
    p.u64(t.majf, v.usage.majf);
    let pc = &spec.measure.pcts;
    p.u32(t.clat_percentiles, u32::from(pc.clat));
    p.u32(t.lat_percentiles, u32::from(pc.lat));
    p.u32(t.slat_percentiles, u32::from(pc.slat));
    p.u64(t.percentile_precision, precision(&pc.list));
    for (i, x) in pc.list.iter().take(k.list_max_len).enumerate() {
        // fio_fp64_t is a union with a long double: 16 bytes each on x86-64.
        p.f64(t.percentile_list + k.fp64 * i, *x);
    }
    for i in 0..k.map_nr {
        p.u64(t.io_u_map + 8 * i, v.depths.depth[i]);
        p.u64(t.io_u_submit + 8 * i, v.depths.submit[i]);
        p.u64(t.io_u_complete + 8 * i, v.depths.complete[i]);
    }
    latency_buckets(l, &mut p, v);
    let ios: u64 = v.stats.iter().map(|s| s.ios).sum();
    p.u64(t.total_submit, ios);
    p.u64(t.total_complete, ios);
    p.u64(t.total_run_time, v.runtime.as_millis() as u64);
    if let Some((n, first)) = v.continued_errors() {
        p.u16(t.continue_on_error, 1);
        p.u64(t.total_err_count, n);
        p.u32(t.first_error, first as u32);
    }
    p.u32(t.kb_base, spec.kb_base);
    p.u32(t.unit_base, 4);
    let (target, window, pct, depth) = crate::report::latency_fields(v);
    p.u32(t.latency_depth, depth);
    p.u64(t.latency_target, target);
    p.f64(t.latency_percentile, pct);
    p.u64(t.latency_window, window);
    p.u32(t.sig_figs, 4);
    if let Some((class, level)) = spec.default_prio() {
        p.u32(t.ioprio, (class as u32) << 13 | u32::from(level));
    }
    let gs = group_stats(l, views, v.groupid);
    p.0[l.pdu.ts_rs..l.pdu.ts_rs + gs.len()].copy_from_slice(&gs);
    clat_prios(l, &mut p, v);
    steady_state(l, &mut p, v);
    p.0
}

/// fio's steady-state fields (`FIO_SS_*` flags in `ss_state`) and its two rings after the TS:
/// the window's IOPS and bandwidth, oldest first.
fn steady_state(l: &Layout, p: &mut Pdu, v: &View<'_>) {
    const IOPS: u32 = 1;
    const SLOPE: u32 = 1 << 2;
    const ATTAINED: u32 = 1 << 3;
    const DATA: u32 = 1 << 5;
    const PCT: u32 = 1 << 6;
    const BUFFER_FULL: u32 = 1 << 7;
    let Some(st) = &v.results[0].steady else {
        return;
    };
    let t = &l.ts;
    let n = st.spec.window();
    let full = st.iops.len() >= n;
    let flag = |on: bool, f: u32| if on { f } else { 0 };
    let state = flag(st.spec.iops, IOPS)
        | flag(st.spec.slope, SLOPE)
        | flag(st.attained, ATTAINED)
        | flag(st.spec.pct, PCT)
        | flag(full, BUFFER_FULL)
        | DATA;
    p.u64(t.ss_dur, n as u64);
    p.u32(t.ss_state, state);
    // fio reads the ring from `head` when attained or not full, else from `head - 1`: with
    // the oldest sample at 0, that is head 0, or 1.
    p.u32(t.ss_head, u32::from(full && !st.attained));
    p.f64(t.ss_limit, st.spec.limit);
    p.f64(t.ss_slope, st.slope);
    p.f64(t.ss_deviation, st.deviation);
    p.f64(t.ss_criterion, st.criterion);
    for (field, ring) in [
        (t.ss_iops_data_offset, &st.iops),
        (t.ss_bw_data_offset, &st.bw),
    ] {
        let at = p.0.len();
        p.u64(field, at as u64);
        p.0.resize(at + 8 * n, 0);
        for (i, x) in ring.iter().take(n).enumerate() {
            p.u64(at + 8 * i, *x);
        }
    }
}

/// Per direction with two or more priorities that have samples (as the local reports show
/// them): a `clat_prio_stat` per priority after the TS, its offset and count in the TS.
fn clat_prios(l: &Layout, p: &mut Pdu, v: &View<'_>) {
    let (t, c) = (&l.ts, &l.prio);
    for d in 0..2 {
        let prios = v.prios_with_samples(d);
        if prios.is_empty() {
            continue;
        }
        let at = p.0.len();
        p.u64(t.clat_prio_offset + 8 * d, at as u64);
        p.u32(t.nr_clat_prio + 4 * d, prios.len() as u32);
        p.0.resize(at + c.size * prios.len(), 0);
        for (i, (ioprio, lat)) in prios.into_iter().enumerate() {
            let e = at + c.size * i;
            plat(l, p, e + c.io_u_plat, lat);
            lat_stat(l, p, e + c.clat_stat, lat);
            p.u32(e + c.ioprio, u32::from(ioprio));
        }
    }
}

/// fio's `io_u_lat_n/u/m`: I/Os per completion-latency bucket (every direction's clat, as the
/// local reports count them).
fn latency_buckets(l: &Layout, p: &mut Pdu, v: &View<'_>) {
    let t = &l.ts;
    let mut clat = v.stats[0].clat.clone();
    clat.merge(&v.stats[1].clat);
    clat.merge(&v.stats[2].clat);
    let mut below = 0u64;
    for (at, scale, edges) in [
        (t.io_u_lat_n, 1, &crate::report::LAT_EDGES[..]),
        (t.io_u_lat_u, 1_000, &crate::report::LAT_EDGES[..]),
        (t.io_u_lat_m, 1_000_000, &crate::report::LAT_EDGES_MS[..]),
    ] {
        for (i, &e) in edges.iter().enumerate() {
            let upto = if e == u64::MAX {
                clat.n
            } else {
                clat.count_at_most(e.saturating_mul(scale))
            };
            p.u64(at + 8 * i, upto.saturating_sub(below));
            below = below.max(upto);
        }
    }
}

/// Bounds-checked little-endian reads of a payload (`None` past its end).
pub(super) struct Rd<'a>(pub(super) &'a [u8]);

impl Rd<'_> {
    pub(super) fn u16(&self, at: usize) -> Option<u16> {
        Some(u16::from_le_bytes(self.0.get(at..at + 2)?.try_into().ok()?))
    }
    pub(super) fn u32(&self, at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(self.0.get(at..at + 4)?.try_into().ok()?))
    }
    pub(super) fn u64(&self, at: usize) -> Option<u64> {
        Some(u64::from_le_bytes(self.0.get(at..at + 8)?.try_into().ok()?))
    }
    pub(super) fn f64(&self, at: usize) -> Option<f64> {
        self.u64(at).map(f64::from_bits)
    }
    /// A NUL-terminated string in a field of `cap` bytes.
    pub(super) fn str(&self, at: usize, cap: usize) -> Option<String> {
        let b = self.0.get(at..at + cap)?;
        let n = b.iter().position(|&c| c == 0).unwrap_or(cap);
        Some(String::from_utf8_lossy(&b[..n]).into_owned())
    }
}

/// One latency series as a server sent it: `io_stat` (samples, min, max, mean, S) and its
/// histogram buckets (fio's 1856).
pub type RemoteLat = ((u64, u64, u64, f64, f64), Vec<u64>);

/// A `thread_stat` as a server sent it, the fields diorite reports.
#[derive(Debug)]
pub struct RemoteStats {
    pub name: String,
    pub verror: String,
    pub error: u32,
    pub groupid: u32,
    pub members: u32,
    /// `[direction][slat, clat, lat]`.
    pub lat: [[RemoteLat; 3]; 3],
    pub sync: RemoteLat,
    /// `[bw, iops][direction]`.
    pub series: [[Option<crate::run::outcome::Series>; 3]; 2],
    /// read, write, trim, sync.
    pub ios: [u64; 4],
    pub short: [u64; 3],
    pub bytes: [u64; 3],
    pub runtime_ms: [u64; 3],
    pub total_run_time_ms: u64,
    pub usr_ms: u64,
    pub sys_ms: u64,
    pub ctx: u64,
    pub minf: u64,
    pub majf: u64,
    /// clat, lat, slat percentiles on; the list.
    pub pcts: (bool, bool, bool, Vec<f64>),
    pub depth: [[u64; 7]; 3],
    pub kb_base: u32,
    /// depth, target (ns), percentile, window (us).
    pub latency: (u32, u64, f64, u64),
    pub continue_on_error: bool,
    pub total_err: u64,
    pub first_error: u32,
}

fn remote_io_stat(l: &Layout, r: &Rd<'_>, at: usize) -> Option<(u64, u64, u64, f64, f64)> {
    let i = &l.io_stat;
    Some((
        r.u64(at + i.samples)?,
        r.u64(at + i.min_val)?,
        r.u64(at + i.max_val)?,
        r.f64(at + i.mean)?,
        r.f64(at + i.s)?,
    ))
}

fn remote_plat(l: &Layout, r: &Rd<'_>, at: usize) -> Option<Vec<u64>> {
    (0..l.k.plat_nr).map(|i| r.u64(at + 8 * i)).collect()
}

/// A TS payload decoded (`None`: shorter than this version's `cmd_ts_pdu`).
pub fn decode_thread_stats(l: &Layout, payload: &[u8]) -> Option<RemoteStats> {
    if payload.len() < l.pdu.ts {
        return None;
    }
    let r = Rd(payload);
    let (t, k) = (&l.ts, &l.k);
    let io = l.io_stat.size;
    let lat_of = |d: usize, which: usize| -> Option<RemoteLat> {
        let stat_at = [t.slat_stat, t.clat_stat, t.lat_stat][which] + io * d;
        let plat_at = t.io_u_plat + 8 * k.plat_nr * (which * k.ddir_rwdir_cnt + d);
        Some((
            remote_io_stat(l, &r, stat_at)?,
            remote_plat(l, &r, plat_at)?,
        ))
    };
    let mut lat: [[RemoteLat; 3]; 3] = Default::default();
    for (d, dir) in lat.iter_mut().enumerate() {
        for (w, slot) in dir.iter_mut().enumerate() {
            *slot = lat_of(d, w)?;
        }
    }
    let series_of = |at: usize, d: usize| -> Option<Option<crate::run::outcome::Series>> {
        let (n, min, max, mean, s) = remote_io_stat(l, &r, at + io * d)?;
        Some((n > 0).then(|| {
            let dev = if n > 1 {
                (s / (n - 1) as f64).sqrt()
            } else {
                0.0
            };
            (min as f64, max as f64, mean, dev, n as usize)
        }))
    };
    let mut series = [[None; 3]; 2];
    for (k, at) in [t.bw_stat, t.iops_stat].into_iter().enumerate() {
        for (d, slot) in series[k].iter_mut().enumerate() {
            *slot = series_of(at, d)?;
        }
    }
    let arr3 =
        |at: usize| -> Option<[u64; 3]> { Some([r.u64(at)?, r.u64(at + 8)?, r.u64(at + 16)?]) };
    let arr7 = |at: usize| -> Option<[u64; 7]> {
        let v: Vec<u64> = (0..7).map(|i| r.u64(at + 8 * i)).collect::<Option<_>>()?;
        v.try_into().ok()
    };
    let list: Vec<f64> = (0..k.list_max_len)
        .map(|i| r.f64(t.percentile_list + k.fp64 * i))
        .collect::<Option<Vec<f64>>>()?
        .into_iter()
        .filter(|x| *x > 0.0)
        .collect();
    Some(RemoteStats {
        name: r.str(t.name, k.jobname_size)?,
        verror: r.str(t.verror, k.verror_size)?,
        error: r.u32(t.error)?,
        groupid: r.u32(t.groupid)?,
        members: r.u32(t.members)?,
        lat,
        sync: (
            remote_io_stat(l, &r, t.sync_stat)?,
            remote_plat(l, &r, t.io_u_sync_plat)?,
        ),
        series,
        ios: [
            r.u64(t.total_io_u)?,
            r.u64(t.total_io_u + 8)?,
            r.u64(t.total_io_u + 16)?,
            r.u64(t.total_io_u + 24)?,
        ],
        short: arr3(t.short_io_u)?,
        bytes: arr3(t.io_bytes)?,
        runtime_ms: arr3(t.runtime)?,
        total_run_time_ms: r.u64(t.total_run_time)?,
        usr_ms: r.u64(t.usr_time)?,
        sys_ms: r.u64(t.sys_time)?,
        ctx: r.u64(t.ctx)?,
        minf: r.u64(t.minf)?,
        majf: r.u64(t.majf)?,
        pcts: (
            r.u32(t.clat_percentiles)? != 0,
            r.u32(t.lat_percentiles)? != 0,
            r.u32(t.slat_percentiles)? != 0,
            list,
        ),
        depth: [
            arr7(t.io_u_map)?,
            arr7(t.io_u_submit)?,
            arr7(t.io_u_complete)?,
        ],
        kb_base: r.u32(t.kb_base)?,
        latency: (
            r.u32(t.latency_depth)?,
            r.u64(t.latency_target)?,
            r.f64(t.latency_percentile)?,
            r.u64(t.latency_window)?,
        ),
        continue_on_error: r.u16(t.continue_on_error)? != 0,
        total_err: r.u64(t.total_err_count)?,
        first_error: r.u32(t.first_error)?,
    })
}

/// A PROBE reply's host name and fio version.
pub fn decode_probe(l: &Layout, payload: &[u8]) -> Option<(String, String)> {
    let r = Rd(payload);
    let p = &l.probe;
    Some((
        r.str(p.hostname, p.bigendian - p.hostname)?,
        r.str(p.fio_version, p.os - p.fio_version)?,
    ))
}

/// A TEXT payload's line.
pub fn decode_text(l: &Layout, payload: &[u8]) -> Option<String> {
    let r = Rd(payload);
    let len = r.u32(l.text.buf_len)? as usize;
    let b = payload.get(l.text.size..l.text.size.checked_add(len)?)?;
    Some(String::from_utf8_lossy(b).into_owned())
}

/// A STOP payload's exit value.
pub fn decode_end(payload: &[u8]) -> Option<u32> {
    Rd(payload).u32(0)
}

/// A DU payload: one disk's counters and the wall time they cover (ms).
pub fn decode_disk_util(
    l: &Layout,
    payload: &[u8],
) -> Option<(crate::report::disk::DiskDelta, u64)> {
    let r = Rd(payload);
    let u = &l.du;
    Some((
        crate::report::disk::DiskDelta {
            name: r.str(u.name, l.k.du_name_size)?,
            ios: [r.u64(u.ios)?, r.u64(u.ios + 8)?],
            merges: [r.u64(u.merges)?, r.u64(u.merges + 8)?],
            ticks: [r.u64(u.ticks)?, r.u64(u.ticks + 8)?],
            io_ticks: r.u64(u.io_ticks)?,
            in_queue: r.u64(u.time_in_queue)?,
        },
        r.u64(u.msec)?,
    ))
}

/// A JOB_OPT payload: (global, job index, name, value).
pub fn decode_job_option(l: &Layout, payload: &[u8]) -> Option<(bool, u32, String, String)> {
    let r = Rd(payload);
    let p = &l.pdu;
    Some((
        r.u16(0)? != 0,
        r.u32(4)?,
        r.str(p.job_opt_name, p.job_opt_value - p.job_opt_name)?,
        r.str(p.job_opt_value, p.job_opt - p.job_opt_value)?,
    ))
}

/// A client's PROBE (`cmd_client_probe_pdu`): zlib offered for the logs
/// (`FIO_PROBE_FLAG_ZLIB`); the server's name as the client knows it.
pub fn client_probe(server: &str) -> Vec<u8> {
    let mut p = Pdu::zeroed(8 + 128);
    p.u64(0, 1);
    p.str(8, 128, server);
    p.0
}

/// A JOB payload (`cmd_job_pdu`) of a job file's text, from the command-line client (type 1).
pub fn job_payload(l: &Layout, text: &str) -> Vec<u8> {
    let mut p = Pdu::zeroed(l.pdu.job + text.len() + 1);
    p.u32(0, text.len() as u32 + 1);
    p.u32(4, 1);
    p.0[l.pdu.job..l.pdu.job + text.len()].copy_from_slice(text.as_bytes());
    p.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::layout::{for_version, SUPPORTED};

    #[test]
    fn plat_buckets_are_the_layouts() {
        // The per-I/O logs' bins (fio's plat_val_to_idx) are the TS histogram's.
        for l in SUPPORTED {
            assert_eq!(crate::run::logs::PLAT_NR, l.k.plat_nr);
            assert_eq!(plat_idx(u64::MAX), l.k.plat_nr - 1);
            assert_eq!((l.k.plat_bits, l.k.plat_val), (6, 64));
        }
    }

    #[test]
    fn job_payloads_are_read_within_their_bounds() {
        let l = for_version(97).unwrap();
        let mut p = vec![0u8; l.pdu.job];
        p[0..4].copy_from_slice(&5u32.to_le_bytes());
        p.extend_from_slice(b"[a]\n\0");
        assert_eq!(job_text(l, &p).as_deref(), Some("[a]\n"));
        // A length beyond the payload: refused, not read past.
        p[0..4].copy_from_slice(&500u32.to_le_bytes());
        assert_eq!(job_text(l, &p), None);
        p[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(job_text(l, &p), None);
        let mut line = vec![2, 0, 0, 0];
        for a in ["--name=x", "--rw=read"] {
            line.extend_from_slice(&((a.len() + 1) as u16).to_le_bytes());
            line.extend_from_slice(a.as_bytes());
            line.push(0);
        }
        assert_eq!(
            command_line(l, &line).unwrap(),
            vec!["--name=x", "--rw=read"]
        );
        line[0] = 3;
        assert_eq!(command_line(l, &line), None);
        assert_eq!(precision(&[1.0, 99.5, 99.95]), 2);
        // fio's num2str, as its job lines and reports print sizes.
        for (v, s) in [
            (4096, "4096B"),
            (65536, "64.0KiB"),
            (1 << 20, "1024KiB"),
            (1536, "1536B"),
            (10_000_000, "9766KiB"),
            (u64::MAX, "16.0EiB"),
        ] {
            assert_eq!(num2str(v, 4, 1, true, "B"), s, "{v}");
        }
        assert_eq!(num2str(1_500_000, 4, 1, false, "B/s"), "1500kB/s");
    }
}
