//! fio's per-I/O logs: `write_lat_log` (`_lat`, `_clat`, `_slat`), `write_bw_log` (`_bw`),
//! `write_iops_log` (`_iops`), `write_hist_log` (`_clat_hist`), in fio's file names and line
//! format (iolog.c `flush_samples`, `flush_hist_samples`), so fio's `fiologparser.py`,
//! `fiologparser_hist.py` and `fio_generate_plots` read them.
//!
//! - **Names**: `PREFIX_TYPE.N.log` (`per_job_logs=1`, the default; N is the job's number, 1
//!   for the first job clone of the run), written afresh; or `PREFIX_TYPE.log`, appended to by
//!   every job (fio opens a shared log in append mode); in the working directory; the prefix
//!   is the option's value (alone: the job's name).
//! - **Lines**: `time, value, direction, block size, priority` — time in ms since the job
//!   started, latencies in ns, bandwidth as fio computes it per I/O (bytes x 10^6 / clat in
//!   ns, i.e. KB/s), IOPS as 1 per I/O; direction 0 read, 1 write; with `log_offset=1` the
//!   I/O's file offset comes before the priority. The priority column is 1 for a real-time
//!   I/O, else 0; the ioprio value (`0x4002`) with `log_prio=1`.
//! - **Averaged** (`log_avg_msec=N`, stat.c `add_log_sample`): per direction, one entry per
//!   window of N ms with samples — the mean (rounded; the largest with `log_max_value=1`) of
//!   the latencies completed in it, at the time the window closed, block size and offset 0;
//!   bandwidth (KiB/s) and IOPS are the rates of each N ms interval (stat.c `__add_samples`),
//!   with the block size when the job has one. A window still open at the end is written.
//! - **Histograms** (`write_hist_log` with `log_hist_msec=N`): every N ms, per direction, the
//!   completion latencies of the window in fio's 1856 log-linear bins (stat.c
//!   `plat_val_to_idx`), `log_hist_coarseness=C` summing 2^C bins: `time, direction, block
//!   size, bin0, …`.
//! - Entries after `ramp_time` only (as fio's stats), kept in memory (per I/O, or per window)
//!   and written when the job ends.

use crate::spec::JobSpec;
use anyhow::{Context as _, Result};
use std::io::Write as _;

use crate::run::clock::Stamp;

/// One entry: ms since the job started, value, direction, block size, file offset, the I/O's
/// priority (ioprio value).
pub type Entry = (u64, u64, u8, u64, u64, u16);

/// fio's histogram bins (stat.h: `FIO_IO_U_PLAT_BITS` 6, `FIO_IO_U_PLAT_GROUP_NR` 29).
const PLAT_BITS: u32 = 6;
pub const PLAT_NR: usize = 29 << PLAT_BITS;

/// fio's `plat_val_to_idx`: the bin of a latency in ns.
pub fn plat_idx(v: u64) -> usize {
    let msb = if v == 0 { 0 } else { 63 - v.leading_zeros() };
    if msb <= PLAT_BITS {
        return v as usize;
    }
    let error_bits = msb - PLAT_BITS;
    let base = ((error_bits + 1) << PLAT_BITS) as usize;
    let offset = ((v >> error_bits) & ((1 << PLAT_BITS) - 1)) as usize;
    (base + offset).min(PLAT_NR - 1)
}

/// fio's `plat_idx_to_val`: the value a bin stands for (the middle of its range).
pub fn plat_idx_to_val(idx: usize) -> u64 {
    let val = 1usize << PLAT_BITS;
    if idx < (val << 1) {
        return idx as u64;
    }
    let error_bits = (idx >> PLAT_BITS) as u32 - 1;
    let base = 1u64 << (error_bits + PLAT_BITS);
    let k = (idx % val) as f64;
    base + ((k + 0.5) * (1u64 << error_bits) as f64) as u64
}

/// One averaging window of one log and direction (`log_avg_msec`).
#[derive(Clone, Copy, Default)]
struct Window {
    sum: f64,
    n: u64,
    max: u64,
    /// Where the window started (ms since the job's start).
    last: u64,
}

/// One log of the job: its entries, and with `log_avg_msec` its windows per direction.
struct Log {
    entries: Vec<Entry>,
    win: [Window; 2],
}

impl Log {
    fn new() -> Log {
        Log {
            entries: Vec::new(),
            win: [Window::default(); 2],
        }
    }
}

/// The logs a job asked for, filled as it runs. Invariants on the fields.
pub struct Logs {
    /// When the job started (entry times count from it).
    start: Stamp,
    /// Per kind, `None` when not asked for: lat, clat, slat, bw, iops.
    lat: Option<Log>,
    clat: Option<Log>,
    slat: Option<Log>,
    bw: Option<Log>,
    iops: Option<Log>,
    /// `disable_bw_measurement` (or `gtod_reduce`): the bw log is made but stays empty, as
    /// fio's per-I/O bandwidth samples are skipped then.
    bw_off: bool,
    /// `log_avg_msec` (0: per I/O) and `log_max_value`.
    avg_ms: u64,
    log_max: bool,
    /// With averaging: the bandwidth/IOPS interval's start (ms) and the `(bytes, I/Os)` per
    /// direction at it.
    rate_at: (u64, [(u64, u64); 2]),
    /// `write_hist_log`: every `log_hist_msec`, per direction, the window's clat histogram
    /// (`(ms, direction, block size, bins)`); the running histogram and the window's start.
    hist: Option<Hist>,
}

struct Hist {
    every: u64,
    coarse: u32,
    entries: Vec<HistEntry>,
    bins: [Vec<u64>; 2],
    last: [Option<u64>; 2],
}

impl Logs {
    /// The logs `spec` asks for, or `None` when it asks for none.
    pub fn new(spec: &JobSpec, start: Stamp) -> Option<Logs> {
        let lat = spec.logs.write_lat_log.is_some();
        let on = |b: bool| b.then(Log::new);
        let hist = spec.logs.write_hist_log.is_some() && spec.logs.log_hist_msec > 0;
        let any =
            lat || spec.logs.write_bw_log.is_some() || spec.logs.write_iops_log.is_some() || hist;
        any.then(|| Logs {
            start,
            lat: on(lat && !spec.measure.disable_lat),
            clat: on(lat && !spec.measure.disable_clat),
            slat: on(lat && !spec.measure.disable_slat),
            bw: on(spec.logs.write_bw_log.is_some()),
            iops: on(spec.logs.write_iops_log.is_some()),
            bw_off: spec.measure.disable_bw,
            avg_ms: spec.logs.log_avg_msec,
            log_max: spec.logs.log_max_value,
            rate_at: (0, [(0, 0); 2]),
            hist: hist.then(|| Hist {
                every: spec.logs.log_hist_msec,
                coarse: spec.logs.log_hist_coarseness,
                entries: Vec::new(),
                bins: [vec![0; PLAT_NR], vec![0; PLAT_NR]],
                last: [None; 2],
            }),
        })
    }

    /// Entries after the ramp only: the logs start over when it ends (at `now`; times still
    /// count from the job's start).
    pub fn restart(&mut self, now: Stamp) {
        for l in [
            &mut self.lat,
            &mut self.clat,
            &mut self.slat,
            &mut self.bw,
            &mut self.iops,
        ]
        .into_iter()
        .flatten()
        {
            *l = Log::new();
        }
        self.rate_at = (self.ms(now), [(0, 0); 2]);
        if let Some(h) = &mut self.hist {
            h.entries.clear();
            h.bins.iter_mut().for_each(|b| b.fill(0));
            h.last = [None; 2];
        }
    }

    fn ms(&self, t: Stamp) -> u64 {
        t.saturating_duration_since(self.start).as_millis() as u64
    }

    /// fio's `add_log_sample`: the sample as an entry, or into its averaging window (which
    /// becomes an entry once `avg_ms` have passed since it started).
    fn add(
        log: &mut Log,
        (avg_ms, log_max): (u64, bool),
        ms: u64,
        value: u64,
        e: (u8, u64, u64, u16),
    ) {
        let (dir, bs, offset, prio) = e;
        if avg_ms == 0 {
            log.entries.push((ms, value, dir, bs, offset, prio));
            return;
        }
        let w = &mut log.win[usize::from(dir).min(1)];
        w.sum += value as f64;
        w.n += 1;
        w.max = w.max.max(value);
        if ms >= w.last + avg_ms {
            let v = if log_max {
                w.max
            } else {
                (w.sum / w.n as f64 + 0.5) as u64
            };
            log.entries.push((ms, v, dir, 0, 0, 0));
            *w = Window {
                last: ms - ms % avg_ms,
                ..Window::default()
            };
        }
    }

    /// A read or write (`dir` 0 or 1) was submitted at `t1`, `slat_ns` after it was queued.
    pub fn submitted(
        &mut self,
        t1: Stamp,
        slat_ns: u64,
        (dir, bs, offset, prio): (u8, u64, u64, u16),
    ) {
        let ms = self.ms(t1);
        let avg = (self.avg_ms, self.log_max);
        if let Some(l) = &mut self.slat {
            Self::add(l, avg, ms, slat_ns, (dir, bs, offset, prio));
        }
    }

    /// A read or write completed at `tc` with `bytes` (the block size column, as fio logs the
    /// bytes transferred), its clat and lat.
    #[allow(clippy::too_many_arguments)]
    pub fn completed(
        &mut self,
        tc: Stamp,
        clat_ns: u64,
        lat_ns: u64,
        dir: u8,
        offset: u64,
        bytes: u64,
        prio: u16,
    ) {
        let ms = self.ms(tc);
        let e = (dir, bytes, offset, prio);
        let avg = (self.avg_ms, self.log_max);
        if let Some(l) = &mut self.lat {
            Self::add(l, avg, ms, lat_ns, e);
        }
        if let Some(l) = &mut self.clat {
            Self::add(l, avg, ms, clat_ns, e);
        }
        if let Some(h) = &mut self.hist {
            let d = usize::from(dir).min(1);
            h.bins[d][plat_idx(clat_ns)] += 1;
            let last = *h.last[d].get_or_insert(ms);
            if ms - last >= h.every {
                // fio writes the window's histogram: the running one minus the last written.
                let stride = 1usize << h.coarse;
                let bins: Vec<u64> = h.bins[d].chunks(stride).map(|c| c.iter().sum()).collect();
                h.bins[d].fill(0);
                h.entries.push((ms, dir, bytes, bins));
                h.last[d] = Some(ms - (ms - last - h.every));
            }
        }
        if self.avg_ms > 0 {
            return; // bandwidth and IOPS come from `tick`'s intervals
        }
        if let (Some(l), false) = (&mut self.bw, self.bw_off) {
            // stat.c add_bw_sample: bytes * 10^6 / the completion time in ns.
            let rate = (bytes * 1_000_000).checked_div(clat_ns).unwrap_or(0);
            l.entries.push((ms, rate, dir, bytes, offset, prio));
        }
        if let Some(l) = &mut self.iops {
            l.entries.push((ms, 1, dir, bytes, offset, prio));
        }
    }

    /// With `log_avg_msec`: at `now`, given the `(bytes, I/Os)` completed per direction so far,
    /// the bandwidth and IOPS entries of every interval that has ended (stat.c
    /// `__add_samples`: KiB/s and I/Os per second over the interval, directions without I/O
    /// skipped).
    pub fn tick(&mut self, now: Stamp, done: [(u64, u64); 2]) {
        if self.avg_ms == 0 || (self.bw.is_none() && self.iops.is_none()) {
            return;
        }
        let ms = self.ms(now);
        let (at, prev) = self.rate_at;
        let spent = ms - at;
        if spent < self.avg_ms {
            return;
        }
        for d in 0..2 {
            let (db, dn) = (done[d].0 - prev[d].0, done[d].1 - prev[d].1);
            if db == 0 {
                continue;
            }
            // fio's averaged entries carry block size and offset 0.
            if let (Some(l), false) = (&mut self.bw, self.bw_off) {
                l.entries
                    .push((ms, db * 1000 / spent / 1024, d as u8, 0, 0, 0));
            }
            if let Some(l) = &mut self.iops {
                l.entries.push((ms, dn * 1000 / spent, d as u8, 0, 0, 0));
            }
        }
        self.rate_at = (ms, done);
    }

    /// fio's `finalize_logs`: the averaging windows still open become entries at `now`.
    pub fn finish(&mut self, now: Stamp) {
        if self.avg_ms == 0 {
            return;
        }
        let ms = self.ms(now);
        let log_max = self.log_max;
        for l in [&mut self.lat, &mut self.clat, &mut self.slat]
            .into_iter()
            .flatten()
        {
            for d in 0..2 {
                let w = l.win[d];
                if w.n > 0 {
                    let v = if log_max {
                        w.max
                    } else {
                        (w.sum / w.n as f64 + 0.5) as u64
                    };
                    l.entries.push((ms, v, d as u8, 0, 0, 0));
                    l.win[d] = Window::default();
                }
            }
        }
    }

    /// The finished logs, in fio's names, ready to be written here ([`write_files`]) or sent
    /// to a client.
    pub fn into_finished(self, spec: &JobSpec) -> Vec<Finished> {
        let l = &spec.logs;
        let lat = l.write_lat_log.as_deref().unwrap_or("");
        let bw = l.write_bw_log.as_deref().unwrap_or("");
        let iops = l.write_iops_log.as_deref().unwrap_or("");
        let mut out = Vec::new();
        for (kind, prefix, log) in [
            (Kind::Lat, lat, self.lat),
            (Kind::Clat, lat, self.clat),
            (Kind::Slat, lat, self.slat),
            (Kind::Bw, bw, self.bw),
            (Kind::Iops, iops, self.iops),
        ] {
            if let Some(log) = log {
                out.push(Finished::new(spec, prefix, kind, log.entries, Vec::new()));
            }
        }
        if let Some(h) = self.hist {
            let prefix = l.write_hist_log.as_deref().unwrap_or("");
            out.push(Finished::new(
                spec,
                prefix,
                Kind::Hist,
                Vec::new(),
                h.entries,
            ));
        }
        out
    }
}

/// Which log (iolog.h `IO_LOG_TYPE_*`: the numbers fio's protocol carries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Lat = 1,
    Clat = 2,
    Slat = 3,
    Bw = 4,
    Iops = 5,
    Hist = 6,
}

impl Kind {
    /// The kind fio's protocol numbers `n`.
    pub fn from_wire(n: u32) -> Option<Kind> {
        [
            Kind::Lat,
            Kind::Clat,
            Kind::Slat,
            Kind::Bw,
            Kind::Iops,
            Kind::Hist,
        ]
        .into_iter()
        .find(|k| *k as u32 == n)
    }

    /// The part of the file name after the prefix.
    fn suffix(self) -> &'static str {
        match self {
            Kind::Lat => "lat",
            Kind::Clat => "clat",
            Kind::Slat => "slat",
            Kind::Bw => "bw",
            Kind::Iops => "iops",
            Kind::Hist => "clat_hist",
        }
    }
}

/// One histogram entry: ms since the job started, direction, block size, and the window's
/// bins summed `2^coarse` at a time.
pub type HistEntry = (u64, u8, u64, Vec<u64>);

/// One log once the job has ended: what its file holds, however it is written.
#[derive(Clone, Debug)]
pub struct Finished {
    /// fio's file name (init.c `make_log_name`): `PREFIX_TYPE.N.log`, or `PREFIX_TYPE.log`
    /// shared by every job (then `append`).
    pub name: String,
    pub kind: Kind,
    pub append: bool,
    /// `log_offset`, `log_prio`, `log_hist_coarseness`.
    pub offset: bool,
    pub prio: bool,
    pub coarse: u32,
    /// The entries (every kind but `Hist`), or the histogram entries (`Hist`).
    pub entries: Vec<Entry>,
    pub hist: Vec<HistEntry>,
}

impl Finished {
    fn new(
        spec: &JobSpec,
        prefix: &str,
        kind: Kind,
        entries: Vec<Entry>,
        hist: Vec<HistEntry>,
    ) -> Finished {
        let prefix = if prefix.is_empty() {
            &spec.name
        } else {
            prefix
        };
        let l = &spec.logs;
        let name = if l.per_job_logs {
            format!("{prefix}_{}.{}.log", kind.suffix(), spec.job_number)
        } else {
            format!("{prefix}_{}.log", kind.suffix())
        };
        Finished {
            name,
            kind,
            append: !l.per_job_logs,
            offset: l.log_offset,
            prio: l.log_prio,
            coarse: l.log_hist_coarseness,
            entries,
            hist,
        }
    }

    /// fio's lines (iolog.c `flush_samples`, `flush_hist_samples`).
    pub fn write_lines(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        for &(ms, value, dir, bs, offset, ioprio) in &self.entries {
            // iolog.c: with log_prio the ioprio value in hex, else 1 for a real-time I/O.
            let prio = if self.prio {
                format!("0x{ioprio:04x}")
            } else {
                u8::from(ioprio >> 13 == 1).to_string()
            };
            if self.offset {
                writeln!(out, "{ms}, {value}, {dir}, {bs}, {offset}, {prio}")?;
            } else {
                writeln!(out, "{ms}, {value}, {dir}, {bs}, {prio}")?;
            }
        }
        for (ms, dir, bs, bins) in &self.hist {
            write!(out, "{ms}, {dir}, {bs}")?;
            for b in bins {
                write!(out, ", {b}")?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

/// Writes finished logs as fio does (iolog.c `flush_log`): each file at `name` plus `suffix`
/// (a client adds `.HOST`), written afresh, or appended to when shared by every job (and by
/// later runs). Returns the files' names.
pub fn write_files(logs: &[Finished], suffix: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for log in logs {
        let name = format!("{}{suffix}", log.name);
        let mut out = std::io::BufWriter::new(create(&name, log.append)?);
        log.write_lines(&mut out)
            .and_then(|()| out.flush())
            .with_context(|| format!("writing {name}"))?;
        names.push(name);
    }
    Ok(names)
}

/// A log file as fio opens one: written afresh, or (a log every job shares) appended to.
pub fn create(name: &str, append: bool) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(!append)
        .append(append)
        .open(name)
        .with_context(|| format!("creating {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fio's bins: exact below 128 ns, then 64 per power of two.
    #[test]
    fn plat_bins_are_fios() {
        assert_eq!(plat_idx(0), 0);
        assert_eq!(plat_idx(127), 127);
        assert_eq!(plat_idx(128), 128);
        assert_eq!(plat_idx(256), 192);
        assert_eq!(plat_idx(u64::MAX), PLAT_NR - 1);
    }
}
