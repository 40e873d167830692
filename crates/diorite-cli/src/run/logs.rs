//! fio's per-I/O logs: `write_lat_log` (`_lat`, `_clat`, `_slat`), `write_bw_log` (`_bw`),
//! `write_iops_log` (`_iops`), in fio's file names and line format (iolog.c `flush_samples`),
//! so fio's `fiologparser.py` and `fio_generate_plots` read them.
//!
//! - **Names**: `PREFIX_TYPE.N.log` (`per_job_logs=1`, the default; N is the job's number, 1
//!   for the first job clone of the run), written afresh; or `PREFIX_TYPE.log`, appended to by
//!   every job (fio opens a shared log in append mode); in the working directory; the prefix
//!   is the option's value.
//! - **Lines**: `time, value, direction, block size, priority` — time in ms since the job
//!   started, latencies in ns, bandwidth as fio computes it per I/O (bytes x 10^6 / clat in
//!   ns, i.e. KB/s), IOPS as 1 per I/O; direction 0 read, 1 write; with `log_offset=1` the
//!   I/O's file offset comes before the priority. The priority is 0 (diorite issues no
//!   priorities yet; fio writes whether it was a real-time class), as `0x0000` with
//!   `log_prio=1`.
//! - One entry per read or write I/O after `ramp_time` (as fio's stats), kept in memory and
//!   written when the job ends. `log_avg_msec` (averaged entries) is refused for now.

use crate::job::JobSpec;
use anyhow::{Context as _, Result};
use std::io::Write as _;

type Stamp = quanta::Instant;

/// One entry: ms since the job started, value, direction, block size, file offset, the I/O's
/// priority (ioprio value).
type Entry = (u64, u64, u8, u64, u64, u16);

/// The logs a job asked for, filled as it runs. Invariants on the fields.
pub struct Logs {
    /// When the job started (entry times count from it).
    start: Stamp,
    /// Per kind, `None` when not asked for: lat, clat, slat, bw, iops.
    lat: Option<Vec<Entry>>,
    clat: Option<Vec<Entry>>,
    slat: Option<Vec<Entry>>,
    bw: Option<Vec<Entry>>,
    iops: Option<Vec<Entry>>,
    /// `disable_bw_measurement` (or `gtod_reduce`): the bw log is made but stays empty, as
    /// fio's per-I/O bandwidth samples are skipped then.
    bw_off: bool,
}

impl Logs {
    /// The logs `spec` asks for, or `None` when it asks for none.
    pub fn new(spec: &JobSpec, start: Stamp) -> Option<Logs> {
        let lat = spec.write_lat_log.is_some();
        let on = |b: bool| b.then(Vec::new);
        (lat || spec.write_bw_log.is_some() || spec.write_iops_log.is_some()).then(|| Logs {
            start,
            lat: on(lat && !spec.disable_lat),
            clat: on(lat && !spec.disable_clat),
            slat: on(lat && !spec.disable_slat),
            bw: on(spec.write_bw_log.is_some()),
            iops: on(spec.write_iops_log.is_some()),
            bw_off: spec.disable_bw,
        })
    }

    /// Entries after the ramp only: the logs start over when it ends.
    pub fn restart(&mut self) {
        for v in [
            &mut self.lat,
            &mut self.clat,
            &mut self.slat,
            &mut self.bw,
            &mut self.iops,
        ]
        .into_iter()
        .flatten()
        {
            v.clear();
        }
    }

    fn ms(&self, t: Stamp) -> u64 {
        t.saturating_duration_since(self.start).as_millis() as u64
    }

    /// A read or write (`dir` 0 or 1) was submitted at `t1`, `slat_ns` after it was queued.
    pub fn submitted(
        &mut self,
        t1: Stamp,
        slat_ns: u64,
        (dir, bs, offset, prio): (u8, u64, u64, u16),
    ) {
        let ms = self.ms(t1);
        if let Some(v) = &mut self.slat {
            v.push((ms, slat_ns, dir, bs, offset, prio));
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
        let bs = bytes;
        if let Some(v) = &mut self.lat {
            v.push((ms, lat_ns, dir, bs, offset, prio));
        }
        if let Some(v) = &mut self.clat {
            v.push((ms, clat_ns, dir, bs, offset, prio));
        }
        if let (Some(v), false) = (&mut self.bw, self.bw_off) {
            // stat.c add_bw_sample: bytes * 10^6 / the completion time in ns.
            let rate = (bytes * 1_000_000).checked_div(clat_ns).unwrap_or(0);
            v.push((ms, rate, dir, bs, offset, prio));
        }
        if let Some(v) = &mut self.iops {
            v.push((ms, 1, dir, bs, offset, prio));
        }
    }

    /// Writes the files (fio's names and format). Returns their names.
    pub fn write(&self, spec: &JobSpec) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let lat_pre = spec.write_lat_log.as_deref().unwrap_or("");
        for (kind, prefix, entries) in [
            ("lat", lat_pre, &self.lat),
            ("clat", lat_pre, &self.clat),
            ("slat", lat_pre, &self.slat),
            ("bw", spec.write_bw_log.as_deref().unwrap_or(""), &self.bw),
            (
                "iops",
                spec.write_iops_log.as_deref().unwrap_or(""),
                &self.iops,
            ),
        ] {
            let Some(entries) = entries else { continue };
            // init.c make_log_name: the option's value, else the job's name.
            let prefix = if prefix.is_empty() {
                &spec.name
            } else {
                prefix
            };
            let name = if spec.per_job_logs {
                format!("{prefix}_{kind}.{}.log", spec.job_number)
            } else {
                format!("{prefix}_{kind}.log")
            };
            // iolog.c flush_log: a per-job log is written afresh; a shared one
            // (`per_job_logs=0`) is appended to, by every job clone (and by later runs).
            let file = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(spec.per_job_logs)
                .append(!spec.per_job_logs)
                .open(&name)
                .with_context(|| format!("creating {name}"))?;
            let mut out = std::io::BufWriter::new(file);
            for &(ms, value, dir, bs, offset, ioprio) in entries {
                // iolog.c: with log_prio the ioprio value in hex, else 1 for a real-time I/O.
                let prio = if spec.log_prio {
                    format!("0x{ioprio:04x}")
                } else {
                    u8::from(ioprio >> 13 == 1).to_string()
                };
                if spec.log_offset {
                    writeln!(out, "{ms}, {value}, {dir}, {bs}, {offset}, {prio}")?;
                } else {
                    writeln!(out, "{ms}, {value}, {dir}, {bs}, {prio}")?;
                }
            }
            out.flush().with_context(|| format!("writing {name}"))?;
            names.push(name);
        }
        Ok(names)
    }
}
