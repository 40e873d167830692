//! `diorite bench`: fio-style jobs through the engine. Parses the jobs, checks everything that
//! can be checked before any byte is written, prepares the targets, runs each group of jobs
//! (one thread and one engine context per job, started together), and reports.

use crate::job::{self, Plan};
use crate::report::{self, ProcessCpu, View};
use crate::run::control::{Progress, Stop};
use crate::run::issuer::Target;
use crate::run::layout;
use crate::run::outcome::JobResult;
use crate::run::runner;
use crate::run::steady::Steady;
use crate::spec::{self, JobSpec, OutputFormat};
use anyhow::{bail, Context as _, Result};
use diorite::DirectFile;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Set by the SIGINT handler; jobs stop submitting, drain, and report.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    // Async-signal-safe: one atomic store. Relaxed: jobs poll it; nothing else is published.
    STOP.store(true, Ordering::Relaxed);
}

fn install_sigint() {
    // SAFETY: an all-zero sigaction is a valid starting value.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = on_sigint as *const () as usize;
    // Restart interrupted syscalls: the engine's waits are not disturbed, jobs poll STOP.
    sa.sa_flags = libc::SA_RESTART;
    // SAFETY: `sa` is initialized; the handler only stores to an atomic.
    unsafe {
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
}

fn process_cpu() -> (Duration, Duration) {
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage through a valid pointer; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

/// The default target: a temp file, written once so reads hit allocated blocks. Removed when
/// dropped.
struct TempTarget {
    path: PathBuf,
}

impl Drop for TempTarget {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One job clone, ready to run.
struct Prepared {
    spec: JobSpec,
    name: String,
    /// The reporting group (a `stonewall` or `new_group` starts one).
    groupid: u32,
    /// The jobs that run together (a `stonewall` starts the next phase).
    phase: u32,
    /// The job (in the plan) this is a clone of, and the job it waits for (`wait_for`).
    job: usize,
    waits_for: Option<usize>,
    /// Set when another job's end ends this one (`exitall`); and once it started its I/O
    /// (past `wait_for`), for `exit_what=stonewall`, which ends only running jobs.
    terminate: AtomicBool,
    started: AtomicBool,
    seed: u64,
    targets: Vec<Target>,
    /// fio's `create_on_open`: the job's files (all of them, in order) to create and open when
    /// the job starts, and whether O_DIRECT.
    deferred: Option<(Vec<PathBuf>, bool)>,
}

/// fio's `create_on_open`: the job creates and opens its files as it starts.
fn open_on_start(p: &Prepared) -> Result<Vec<Target>> {
    let Some((paths, direct)) = &p.deferred else {
        return Ok(Vec::new());
    };
    let mut targets = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let f = DirectFile::options()
            .read(true)
            .write(true)
            .create(true)
            .direct(*direct)
            .open(path)
            .with_context(|| format!("creating {} (create_on_open)", path.display()))?;
        let (base, len) = region_of(&p.spec, &f, path, i)?;
        targets.push(Target { file: f, base, len });
    }
    Ok(targets)
}

/// The geometry a file not yet created at `p` will have: an unnamed temp file (`O_TMPFILE`)
/// in the same directory, opened as the job will open it. Creates nothing visible.
fn probe_new_file(p: &Path, direct: bool) -> Result<DirectFile> {
    use std::os::fd::AsRawFd;
    let dir = layout::parent_dir(p);
    let tmp = tempfile::tempfile_in(&dir)
        .with_context(|| format!("{}: cannot create files in {}", p.display(), dir.display()))?;
    DirectFile::options()
        .read(true)
        .write(true)
        .direct(direct)
        .open(format!("/proc/self/fd/{}", tmp.as_raw_fd()))
        .with_context(|| {
            format!(
                "{}: probing the filesystem of {}",
                p.display(),
                dir.display()
            )
        })
}

/// Semantic checks that need no target.
fn check_spec(j: &JobSpec) -> Result<()> {
    let n = &j.name;
    if j.verify || j.verify_only {
        if !matches!(j.rw, spec::Rw::Write | spec::Rw::RandWrite) {
            bail!("job {n}: verify needs rw=write or rw=randwrite");
        }

        // Clones may verify when they cannot overwrite each other's blocks: each has its own
        // files, or offset_increment puts their regions apart.
        let files = j.file_count().max(1);
        let apart = j.filenames.is_empty()
            || matches!(j.offset_increment, spec::Incr::Bytes(b)
                if j.size.is_some_and(|s| b >= s / files));
        if j.numjobs > 1 && !apart {
            bail!(
                "job {n}: verify with numjobs > 1 on shared files would have the clones overwrite \
                 each other's blocks (give each its own files, or an offset_increment of at \
                 least its region)"
            );
        }
        if j.numjobs > 1 && (j.fsync > 0 || j.fdatasync > 0) && j.verify_state_save {
            bail!(
                "job {n}: verify_state_save with numjobs > 1 is not supported yet (the clones \
                 would share one state file); give verify_state_save=0"
            );
        }
        if j.verify_kind == crate::spec::verify::Kind::Pattern && j.verify_pattern.is_none() {
            bail!("job {n}: verify=pattern checks verify_pattern: give one");
        }
        if let (Some(every), Some(b)) = (j.verify_backlog, j.verify_backlog_batch) {
            if b > every {
                bail!(
                    "job {n}: verify_backlog_batch={b} is larger than verify_backlog={every} (fio \
                     then verifies some blocks more than once; diorite does not do that)"
                );
            }
        }
        let interval = j.verify_interval.unwrap_or(j.bs.unit());
        if interval == 0 || j.bs.min() % interval != 0 || j.bs.unit() % interval != 0 {
            bail!(
                "job {n}: verify_interval={interval} must divide the block size evenly (as fio requires)"
            );
        }
        if let Some(o) = j.verify_offset {
            let hl = j.verify_kind.header_len() as u64;
            if o < hl || o + hl > interval {
                bail!(
                    "job {n}: verify_offset={o} must leave room for the {hl}-byte header before it \
                     and after it within each {interval}-byte block"
                );
            }
        }
        if interval < j.verify_kind.header_len() as u64 {
            bail!(
                "job {n}: verify={} needs blocks (or verify_interval chunks) of at least {} bytes (its header and checksum)",
                j.verify_kind.name(),
                j.verify_kind.header_len()
            );
        }
        if j.bs.unit() < j.verify_kind.header_len() as u64 {
            bail!(
                "job {n}: verify={} needs blocks of at least {} bytes (its header and checksum)",
                j.verify_kind.name(),
                j.verify_kind.header_len()
            );
        }
    }
    if j.verify_state_load && !j.verify_only {
        bail!("job {n}: verify_state_load checks a saved state with verify_only: give verify_only");
    }
    if j.verify_backlog.is_some() && !j.verify {
        bail!("job {n}: verify_backlog verifies during a verify job's write phase: give verify");
    }
    if j.verify_backlog_batch.is_some() && j.verify_backlog.is_none() {
        bail!("job {n}: verify_backlog_batch applies only with verify_backlog");
    }
    if j.verify_only {
        if j.filenames.is_empty() {
            bail!("job {n}: verify_only checks a target written earlier: give --filename");
        }
        if j.time_based {
            bail!("job {n}: verify_only replays a job that ended by size; remove time_based");
        }
        if !j.randrepeat {
            bail!("job {n}: verify_only needs randrepeat=1 to replay the same offsets");
        }
    }
    if let Some(max) = j.batch_complete_max {
        if max < j.batch_complete_min {
            bail!(
                "job {n}: iodepth_batch_complete_max={max} is smaller than \
                 iodepth_batch_complete_min={}",
                j.batch_complete_min
            );
        }
    }
    let end = j.offset.checked_add(j.size.unwrap_or(0));
    if end.is_none_or(|e| e > i64::MAX as u64) {
        bail!(
            "job {n}: offset={} + size={} is past the largest file offset ({})",
            j.offset,
            j.size.unwrap_or(0),
            i64::MAX
        );
    }
    let run_for = j.runtime.unwrap_or_default().checked_add(j.ramp_time);
    if run_for.is_none_or(|d| Instant::now().checked_add(d).is_none()) {
        bail!(
            "job {n}: runtime={}s + ramp_time={}s is too long for the clock",
            j.runtime.unwrap_or_default().as_secs(),
            j.ramp_time.as_secs()
        );
    }
    if j.loops > 1 && (j.verify || j.verify_only) {
        bail!("job {n}: loops with verify is not supported (fio verifies after each loop)");
    }
    if j.batch_complete_min > j.iodepth {
        bail!(
            "job {n}: iodepth_batch_complete_min={} is larger than iodepth={}",
            j.batch_complete_min,
            j.iodepth
        );
    }
    if j.fsync > 0 && j.fdatasync > 0 {
        bail!("job {n}: give fsync or fdatasync, not both");
    }
    if j.write_hist_log.is_some() && j.log_hist_msec == 0 {
        bail!("job {n}: write_hist_log needs log_hist_msec (without it fio writes an empty file)");
    }
    if j.rw.trims() && j.bs_trim {
        bail!("job {n}: a block size for trims (the third value of bs, bsrange or bssplit) is not supported yet");
    }
    if j.rw.trims() && j.trim_rate.contains(&true) {
        bail!(
            "job {n}: a rate for trims (the third value of rate, rate_iops, rate_min or \
             rate_iops_min) is not supported yet"
        );
    }
    if j.think.spin > j.think.time {
        bail!(
            "job {n}: thinktime_spin={}us is longer than thinktime={}us (the spin is part of the \
             thinktime)",
            j.think.spin.as_micros(),
            j.think.time.as_micros()
        );
    }
    Ok(())
}

/// fio's `exitall` (backend.c `fio_terminate_threads`): job `p` ended; per its `exit_what`,
/// end the jobs of its reporting group, every job running now, or every job (those not yet
/// started end as soon as they start).
fn end_others(prepared: &[Prepared], p: &Prepared) {
    for q in prepared {
        let end = match p.spec.exit_what {
            spec::ExitWhat::Group => q.groupid == p.groupid,
            // Relaxed: a best-effort signal, polled between I/Os.
            spec::ExitWhat::Stonewall => q.started.load(Ordering::Relaxed),
            spec::ExitWhat::All => true,
        };
        if end {
            // Relaxed: polled between I/Os; orders nothing.
            q.terminate.store(true, Ordering::Relaxed);
        }
    }
}

/// fio's steady-state check (`steadystate_check`, `run/steady.rs`) over a phase's jobs: per
/// job, or per reporting group with `group_reporting`, every `ss_interval` the IOPS and
/// bandwidth completed since the last look; once attained, the job (group) is ended. Returns
/// each member's record (a group's on each of its members).
fn steady_monitor(
    members: &[&Prepared],
    progress: &[Progress],
    group_reporting: bool,
    done: &AtomicBool,
) -> Vec<Option<Steady>> {
    struct Unit {
        idx: Vec<usize>,
        steady: Steady,
        prev: (u64, u64),
        prev_at: Instant,
        next: Instant,
        ramp_over_at: Instant,
    }
    let t0 = Instant::now();
    let mut units: Vec<Unit> = Vec::new();
    for (i, p) in members.iter().enumerate() {
        let Some(spec) = p.spec.steady else { continue };
        if let Some(u) = units
            .iter_mut()
            .find(|u| group_reporting && members[u.idx[0]].groupid == p.groupid)
        {
            u.idx.push(i);
            continue;
        }
        units.push(Unit {
            idx: vec![i],
            steady: Steady::new(spec),
            prev: (0, 0),
            prev_at: t0,
            next: t0 + spec.interval,
            // fio: recording begins one second (here: one interval) after ss_ramp.
            ramp_over_at: if spec.ramp.is_zero() {
                t0
            } else {
                t0 + spec.ramp + spec.interval
            },
        });
    }
    // Relaxed: the flag ends this loop; the scope's join orders the rest.
    while !units.is_empty() && !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
        let now = Instant::now();
        for u in units
            .iter_mut()
            .filter(|u| !u.steady.attained && now >= u.next)
        {
            u.next += u.steady.spec.interval;
            let total = u.idx.iter().fold((0, 0), |(n, b), &i| {
                let p = &progress[i];
                // Relaxed: counters read for pacing, as the progress line reads them.
                let ios: u64 = p.ios.iter().map(|x| x.load(Ordering::Relaxed)).sum();
                let bytes: u64 = p.bytes.iter().map(|x| x.load(Ordering::Relaxed)).sum();
                (n + ios, b + bytes)
            });
            let ms = now.duration_since(u.prev_at).as_millis().max(1) as u64;
            let (dn, db) = (total.0 - u.prev.0, total.1 - u.prev.1);
            (u.prev, u.prev_at) = (total, now);
            if now >= u.ramp_over_at && u.steady.push(dn * 1000 / ms, db * 1000 / ms) {
                for &i in &u.idx {
                    // Relaxed: polled between I/Os; orders nothing.
                    members[i].terminate.store(true, Ordering::Relaxed);
                }
            }
        }
    }
    let mut out = vec![None; members.len()];
    for u in units {
        for &i in &u.idx {
            out[i] = Some(u.steady.clone());
        }
    }
    out
}

/// fio's percentage forms and `offset_increment` (filesetup.c `get_start_offset`) for clone
/// `k` of its job: the offset is `offset` (or N% of the file) plus `k` increments (bytes, or
/// N% of the file), rounded up to the smallest block when a percentage is involved; `size=N%`
/// is N% of the file. A percentage needs one existing file to measure.
fn resolve_offsets(spec: &mut JobSpec, k: u64) -> Result<()> {
    let pct_incr = matches!(spec.offset_increment, spec::Incr::Pct(_));
    if spec.size_pct.is_none() && spec.offset_pct.is_none() && !pct_incr {
        if let spec::Incr::Bytes(b) = spec.offset_increment {
            spec.offset += k * b;
        }
        return Ok(());
    }
    let [p] = spec.filenames.as_slice() else {
        bail!(
            "job {}: size, offset or offset_increment as a percentage needs exactly one file \
             (several, or the default target, are not supported yet)",
            spec.name
        );
    };
    let len = DirectFile::options()
        .read(true)
        .require_direct(false)
        .open(p)
        .with_context(|| {
            format!(
                "job {}: a percentage of {}, which must exist to be measured",
                spec.name,
                p.display()
            )
        })?
        .len();
    let incr = match spec.offset_increment {
        spec::Incr::Bytes(b) => b,
        spec::Incr::Pct(q) => len * q / 100,
    };
    let base = spec.offset_pct.map_or(spec.offset, |q| len * q / 100);
    let mut off = base + k * incr;
    if spec.offset_pct.is_some() || pct_incr {
        let a = spec.bs.min().max(1);
        off = off.div_ceil(a) * a;
    }
    spec.offset = off;
    if let Some(q) = spec.size_pct {
        spec.size = Some(len * q / 100);
    }
    Ok(())
}

/// Each job's reporting group (a `stonewall` or `new_group` starts one) and phase (the jobs
/// that run together; a `stonewall` starts one), in order.
fn groups(plan: &Plan) -> Vec<(u32, u32)> {
    let (mut group, mut phase) = (0u32, 0u32);
    let mut v = Vec::with_capacity(plan.jobs.len());
    for (i, j) in plan.jobs.iter().enumerate() {
        if j.stonewall && i > 0 {
            group += 1;
            phase += 1;
        } else if j.new_group && i > 0 {
            group += 1;
        }
        v.push((group, phase));
    }
    v
}

/// `--parse_only`: one line per job clone — name, group, phase (jobs that run together),
/// pattern, block size, depth, engine, what it waits for, and its limits.
fn parse_report(plan: &Plan) -> String {
    let mut s = String::new();
    for (j, (group, phase)) in plan.jobs.iter().zip(groups(plan)) {
        for k in 0..j.numjobs {
            s += &format!(
                "job {}.{k}: group={group} phase={phase} rw={:?} bs={:?} iodepth={} \
                 ioengine={:?} size={} number_ios={} loops={} wait_for={} thinktime={}us\n",
                j.name,
                j.rw,
                j.bs,
                j.iodepth,
                j.engine,
                j.size.map_or("-".into(), |v| v.to_string()),
                j.number_ios.map_or("-".into(), |v| v.to_string()),
                j.loops,
                j.wait_for.as_deref().unwrap_or("-"),
                j.think.time.as_micros(),
            );
        }
    }
    s
}

/// Everything checked before anything is opened: each job's options and the jobs' relations
/// (`wait_for`). Returns each job's waitee.
fn validate(plan: &Plan) -> Result<Vec<Option<usize>>> {
    for j in &plan.jobs {
        check_spec(j)?;
    }
    // fio's wait_for: the waitee is an earlier job with a name no other job has.
    let mut waits = Vec::new();
    for (i, j) in plan.jobs.iter().enumerate() {
        let Some(w) = &j.wait_for else {
            waits.push(None);
            continue;
        };
        let Some(k) = plan.jobs[..i].iter().position(|o| &o.name == w) else {
            bail!(
                "job {}: wait_for={w}: no job named {w} before it (fio: the waitee must be \
                 defined before the waiter)",
                j.name
            );
        };
        if plan.jobs.iter().filter(|o| &o.name == w).count() > 1 {
            bail!("job {}: wait_for={w}: more than one job is named {w} (fio: a waitee's name must be unique)", j.name);
        }
        waits.push(Some(k));
    }
    Ok(waits)
}

/// Opens (and, for regular files, creates or lays out) the targets of every job. Everything is
/// checked before anything is created or written.
fn prepare(plan: &Plan) -> Result<(Vec<Prepared>, Option<TempTarget>)> {
    let waits = validate(plan)?;
    // Expand numjobs, with each job's reporting group and phase.
    // (spec, name, (group, phase, job index), clone index)
    type JobClone = (JobSpec, String, (u32, u32, usize), u32);
    let mut clones: Vec<JobClone> = Vec::new();
    for (i, (j, (group, phase))) in plan.jobs.iter().zip(groups(plan)).enumerate() {
        for k in 0..j.numjobs {
            let index = clones.len() as u32;
            let mut spec = j.clone();
            // fio's thread_number: 1 for the run's first job clone (per-job log names).
            spec.job_number = index + 1;
            // fio's `directory`, a `:`-separated list: a relative filename lives in the first;
            // a clone's own files in the clone's (clone k: directory k modulo their number).
            let dirs: Vec<PathBuf> = spec
                .directory
                .as_ref()
                .map(|d| {
                    d.to_string_lossy()
                        .split(':')
                        .filter(|s| !s.is_empty())
                        .map(PathBuf::from)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(dir) = dirs.first() {
                for f in &mut spec.filenames {
                    if f.is_relative() {
                        *f = dir.join(&*f);
                    }
                }
            }
            if spec.filenames.is_empty() && !plan.default_job {
                // fio's own files: `nrfiles` of them per clone, named by `filename_format`
                // (default `jobname.N.F`), in the clone's directory (or here), kept.
                let dir = dirs
                    .get(k as usize % dirs.len().max(1))
                    .cloned()
                    .unwrap_or_else(|| PathBuf::from("."));
                spec.filenames = (0..spec.nrfiles)
                    .map(|i| dir.join(job::file_name(&spec, &j.name, k, i)))
                    .collect();
            }
            resolve_offsets(&mut spec, u64::from(k))?;
            if let Some(hi) = spec.startdelay_high.take() {
                // fio: with a range, each clone draws its delay (rand_between, from its seed).
                let lo = spec.startdelay;
                let span = (hi - lo).as_nanos() as u64;
                let mut x = runner::job_seed(&spec, index) ^ 0x7374_6172_7464_6c79;
                x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
                x ^= x >> 33;
                spec.startdelay = lo + Duration::from_nanos(x % (span + 1));
            }
            clones.push((spec, j.name.clone(), (group, phase, i), index));
        }
    }
    // Pass 1: what each file is and must hold; no side effects.
    struct Need {
        path: PathBuf,
        /// Regions `[start, end)` that reading jobs will read: laid out if not there yet.
        reads: Vec<(u64, u64)>,
        /// Regions only written, with the job's `fallocate`: reserved past the file's end.
        writes: Vec<(u64, u64, spec::Fallocate)>,
        exists: bool,
        /// Every job using the (missing) file has `create_on_open`: its job creates it.
        on_open: bool,
        /// A reading `fill_device` job lays it out until the filesystem is full.
        until_full: bool,
    }
    let mut needs: Vec<Need> = Vec::new();
    let default_end = clones
        .iter()
        .map(|c| &c.0)
        .filter(|j| j.filenames.is_empty())
        .map(|j| j.offset + j.size.unwrap_or(256 << 20))
        .max();
    // fio's null engine touches no file: null jobs create and lay out nothing (pass 4).
    for j in clones.iter().map(|c| &c.0).filter(|j| !is_null(j)) {
        for (fi, p) in j.filenames.iter().enumerate() {
            let meta = std::fs::metadata(p);
            let is_block = meta.as_ref().is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt;
                m.file_type().is_block_device()
            });
            let exists = meta.is_ok();
            if j.rw.trims() && !is_block {
                bail!(
                    "job {}: rw={} trims block devices only (as fio does); {} is not one",
                    j.name,
                    format!("{:?}", j.rw).to_lowercase(),
                    p.display()
                );
            }
            if !exists && !j.allow_file_create {
                bail!(
                    "job {}: {} does not exist, and allow_file_create=0 forbids creating it",
                    j.name,
                    p.display()
                );
            }
            if !exists && j.size.is_none() && !j.fill_device {
                bail!(
                    "job {}: {} does not exist; give size= to create it",
                    j.name,
                    p.display()
                );
            }
            if !exists && j.verify_only {
                bail!(
                    "job {}: verify_only: {} does not exist",
                    j.name,
                    p.display()
                );
            }
            if let Ok(m) = &meta {
                if !is_block && !m.is_file() {
                    bail!(
                        "job {}: {} is not a regular file or block device",
                        j.name,
                        p.display()
                    );
                }
            }
            // fio's fill_device for a reading job: the filesystem is filled first.
            let fill_len = (j.fill_device && j.file_size(fi).is_none() && !is_block)
                .then(|| -> Result<u64> {
                    let held = meta
                        .as_ref()
                        .map_or(0, |m| m.len())
                        .saturating_sub(j.offset);
                    Ok(held + layout::free_space(&layout::parent_dir(p))?.0)
                })
                .transpose()?;
            let region = j
                .file_size(fi)
                .or(fill_len)
                .filter(|_| j.rw.reads() && !is_block)
                .map(|s| (j.offset, j.offset + s));
            let unit = j.bs.unit().max(1);
            let written = j
                .file_size(fi)
                .filter(|_| j.rw.writes() && !j.rw.reads() && !is_block)
                // fio reserves nothing for a job that fills the device.
                .filter(|_| !j.fill_device)
                .map(|s| (j.offset, j.offset + s / unit * unit, j.fallocate));
            match needs.iter_mut().find(|n| &n.path == p) {
                Some(n) => {
                    n.reads.extend(region);
                    n.writes.extend(written);
                    n.on_open &= j.create_on_open;
                    n.until_full |= fill_len.is_some() && j.rw.reads();
                }
                None => needs.push(Need {
                    path: p.clone(),
                    reads: region.into_iter().collect(),
                    writes: written.into_iter().collect(),
                    on_open: j.create_on_open && !exists,
                    until_full: fill_len.is_some() && j.rw.reads(),
                    exists,
                }),
            }
        }
    }
    // Pass 2: check every target against its geometry before anything is created or written:
    // existing ones opened as they are, new ones through an unnamed temp file in their directory.
    let open = |p: &Path, write: bool, direct: bool| -> Result<DirectFile> {
        DirectFile::options()
            .read(true)
            .write(write)
            .direct(direct)
            .open(p)
            .with_context(|| format!("opening {}", p.display()))
    };
    for j in clones.iter().map(|c| &c.0).filter(|j| !is_null(j)) {
        for (fi, p) in j.filenames.iter().enumerate() {
            let f = if needs.iter().any(|n| &n.path == p && n.exists) {
                open(p, j.rw.writes(), j.direct)?
            } else {
                probe_new_file(p, j.direct)?
            };
            region_of(j, &f, p, fi)?;
        }
    }
    // Pass 3: plan the layouts, check the free space, then create and lay out.
    let mut plans = Vec::new();
    for n in &needs {
        let len = if n.exists {
            std::fs::metadata(&n.path)
                .with_context(|| format!("{}", n.path.display()))?
                .len()
        } else {
            0
        };
        let mut plan = layout::FilePlan::new(&n.path, len, n.reads.clone());
        plan.until_full = n.until_full;
        plans.push(plan);
    }
    layout::check_space(&plans)?;
    let mut temp = None;
    let mut temp_direct = true;
    if let Some(end) = default_end {
        // The first temp directory whose filesystem takes O_DIRECT (a tmpfs /tmp does not);
        // buffered in $TMPDIR as the last resort, and the report says so.
        let name = format!("diorite-bench-{}.dat", std::process::id());
        let dirs = [std::env::temp_dir(), PathBuf::from("/var/tmp")];
        let mut made = None;
        for require_direct in [true, false] {
            for d in &dirs {
                let path = d.join(&name);
                let f = DirectFile::options()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .require_direct(require_direct)
                    .open(&path);
                if let Ok(f) = f {
                    made = Some((f, TempTarget { path }));
                    break;
                }
                let _ = std::fs::remove_file(d.join(&name));
            }
            if made.is_some() {
                break;
            }
        }
        let (f, guard) = made.with_context(|| {
            format!(
                "creating the default target {name} in {}",
                dirs[0].display()
            )
        })?;
        for j in clones
            .iter()
            .map(|c| &c.0)
            .filter(|j| j.filenames.is_empty())
        {
            check_hipri(j, &f, &guard.path)?;
        }
        let temp_plan = layout::FilePlan::new(&guard.path, 0, vec![(0, end)]);
        layout::check_space(std::slice::from_ref(&temp_plan))?;
        temp_plan.apply()?;
        temp_direct = f.is_direct();
        temp = Some(guard);
    }
    for (n, plan) in needs.iter().zip(&plans) {
        if n.on_open {
            continue; // created by its job when it starts (fio's create_on_open)
        }
        if !n.exists {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&n.path)
                .with_context(|| format!("creating {}", n.path.display()))?;
        }
        plan.apply()?;
        for &(start, end, mode) in &n.writes {
            layout::preallocate(&n.path, start, end, mode)?;
        }
    }
    // Pass 4: each clone opens its own handles.
    let mut out = Vec::new();
    for (spec, name, (groupid, phase, job), index) in clones {
        let paths: Vec<PathBuf> = if spec.filenames.is_empty() {
            vec![temp.as_ref().expect("default target made").path.clone()]
        } else {
            spec.filenames.clone()
        };
        let direct = spec.direct && (temp_direct || !spec.filenames.is_empty());
        let mut targets = Vec::new();
        let mut deferred = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            if needs.iter().any(|n| &n.path == p && n.on_open) {
                deferred.push(p.clone());
                continue;
            }
            let f = if is_null(&spec) && !p.exists() {
                null_target(&spec, i)?
            } else {
                open(p, spec.rw.writes(), direct)?
            };
            let (base, len) = region_of(&spec, &f, p, i)?;
            targets.push(Target { file: f, base, len });
        }
        out.push(Prepared {
            seed: runner::job_seed(&spec, index),
            spec,
            name,
            groupid,
            phase,
            job,
            waits_for: waits[job],
            terminate: AtomicBool::new(false),
            started: AtomicBool::new(false),
            targets,
            deferred: (!deferred.is_empty()).then_some((deferred, direct)),
        });
    }
    Ok((out, temp))
}

/// The region `[base, base + len)` job `j` uses in file `f`, checked against the file.
/// Whether `j` runs on the null engine (no I/O).
fn is_null(j: &JobSpec) -> bool {
    j.engine == spec::IoEngine::Async(diorite::BackendChoice::Null)
}

/// The target of a null job whose file does not exist (fio's null engine opens nothing): an
/// unlinked sparse file of the job's size in /var/tmp, never written, gone with the job.
fn null_target(j: &JobSpec, i: usize) -> Result<DirectFile> {
    let Some(size) = j.size else {
        bail!(
            "job {}: ioengine=null needs size= (there is no file to take it from)",
            j.name
        );
    };
    let path = std::env::temp_dir().join(format!(
        "diorite-null-{}-{}-{i}.dat",
        std::process::id(),
        j.name
    ));
    let made = std::fs::File::create(&path)
        .and_then(|f| f.set_len(j.offset + size))
        .with_context(|| format!("creating the null job's stand-in {}", path.display()));
    let f = made.and_then(|()| {
        DirectFile::options()
            .read(true)
            .write(true)
            .direct(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))
    });
    let _ = std::fs::remove_file(&path);
    f
}

/// `hipri` (IOPOLL) completes only on devices with poll queues: refused up front elsewhere,
/// where every I/O would be refused (fio would spin on interrupts instead).
fn check_hipri(j: &JobSpec, f: &DirectFile, p: &Path) -> Result<()> {
    if j.hipri && !f.geometry().polled {
        bail!(
            "job {}: hipri=1 polls for completions, but {} is on a device without poll queues \
             (sysfs queue/io_poll is 0)",
            j.name,
            p.display()
        );
    }
    Ok(())
}

fn region_of(j: &JobSpec, f: &DirectFile, p: &Path, fi: usize) -> Result<(u64, u64)> {
    check_hipri(j, f, p)?;
    let g = f.geometry();
    let align = u64::from(g.offset_align);
    let unit = j.bs.unit();
    if unit % align != 0 || j.bs.min() % align != 0 {
        bail!(
            "job {}: block size {} is not a multiple of {}'s offset alignment ({align} bytes)",
            j.name,
            unit,
            p.display()
        );
    }
    if j.offset % align != 0 {
        bail!(
            "job {}: offset={} is not a multiple of {}'s offset alignment ({align} bytes)",
            j.name,
            j.offset,
            p.display()
        );
    }
    let len = match j.file_size(fi) {
        Some(s) => s,
        // fill_device on a regular file: all the free space of its filesystem (fio's
        // get_fs_free_counts), beyond what the file holds past the offset.
        None if j.fill_device && !g.is_block_device => {
            let (free, _) = layout::free_space(&layout::parent_dir(p))?;
            f.len().saturating_sub(j.offset) + free
        }
        None => f.len().saturating_sub(j.offset),
    };
    let len = len / unit * unit;
    if g.is_block_device && j.offset + len > f.len() {
        bail!(
            "{} is too small for job {}: offset {} + size {} > {} bytes",
            p.display(),
            j.name,
            j.offset,
            len,
            f.len()
        );
    }
    if len < j.bs.max() {
        bail!(
            "{} is too small for job {}: region of {len} bytes at offset {} holds no {}-byte block",
            p.display(),
            j.name,
            j.offset,
            j.bs.max()
        );
    }
    Ok((j.offset, len))
}

/// fio's `status-interval`: every interval, the full report of the group's jobs so far (from
/// the snapshots the jobs publish), in the run's formats, on stdout.
fn status_printer(
    progress: &[Progress],
    every: Duration,
    globals: &spec::Globals,
    done: &AtomicBool,
) {
    let mut next = Instant::now() + every;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
        if Instant::now() < next {
            continue;
        }
        next += every;
        let snaps: Vec<JobResult> = progress
            .iter()
            .filter_map(|p| p.status.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect();
        if snaps.len() < progress.len() {
            continue; // not every job has published yet
        }
        let views: Vec<View<'_>> = if globals.group_reporting {
            vec![View::of(snaps.iter().collect())]
        } else {
            snaps.iter().map(|r| View::of(vec![r])).collect()
        };
        let ios: u64 = snaps
            .iter()
            .map(|r| r.stats.iter().map(|s| s.ios).sum::<u64>())
            .sum();
        let (usr, sys) = process_cpu();
        let cpu = ProcessCpu { usr, sys };
        let mut text = String::new();
        for f in &globals.formats {
            match f {
                OutputFormat::Terse => {
                    text.push_str(&report::terse(&views, &serde_json::json!([])))
                }
                OutputFormat::Normal => text.push_str(&report::text(&views, &cpu, ios)),
                OutputFormat::Json | OutputFormat::JsonPlus => {
                    let none = serde_json::json!([]);
                    let v = report::json(&views, globals, &cpu, ios, none.clone(), none);
                    text.push_str(&serde_json::to_string_pretty(&v).unwrap_or_default());
                    text.push('\n');
                }
            }
        }
        // Where the final report goes (fio writes status to its --output file too).
        match &globals.output {
            Some(p) => {
                let _ = std::fs::OpenOptions::new()
                    .append(true)
                    .open(p)
                    .and_then(|mut f| f.write_all(text.as_bytes()));
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
        }
    }
}

/// Draws the progress line until `done`, from the jobs' counters.
fn progress_line(progress: &[Progress], total: Option<Duration>, done: &AtomicBool) {
    use indicatif::{ProgressBar, ProgressStyle};
    let bar = match total {
        Some(t) => ProgressBar::new(t.as_millis() as u64).with_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:20}] eta {eta} {wide_msg}")
                .expect("valid template")
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{elapsed_precise} {spinner} {wide_msg}")
                .expect("valid template"),
        ),
    };
    let start = Instant::now();
    let mut last = [(0u64, 0u64); 2];
    let mut t_last = start;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        let now = Instant::now();
        let dt = now.duration_since(t_last).as_secs_f64().max(1e-3);
        let mut parts = Vec::new();
        for (d, label) in [(0, "r"), (1, "w")] {
            let ios: u64 = progress
                .iter()
                .map(|p| p.ios[d].load(Ordering::Relaxed))
                .sum();
            let bytes: u64 = progress
                .iter()
                .map(|p| p.bytes[d].load(Ordering::Relaxed))
                .sum();
            if ios > 0 {
                parts.push(format!(
                    "{label} {} IOPS {:.1}MiB/s",
                    crate::report::human_count((ios - last[d].0) as f64 / dt),
                    (bytes - last[d].1) as f64 / dt / (1 << 20) as f64
                ));
            }
            last[d] = (ios, bytes);
        }
        t_last = now;
        bar.set_message(parts.join(" | "));
        if total.is_some() {
            bar.set_position(now.duration_since(start).as_millis() as u64);
        } else {
            bar.tick();
        }
    }
    bar.finish_and_clear();
}

/// Runs `diorite bench ARGS`. Returns the exit code: 0, 1 (a job failed or verify found bad
/// blocks), 130 (stopped by Ctrl-C).
pub fn run(args: &[String], out: &mut impl Write) -> Result<u8> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        write!(out, "{}", job::help())?;
        return Ok(0);
    }
    let plan = job::parse_args(args)?;
    for w in &plan.warnings {
        eprintln!("diorite: warning: {w}");
    }
    if plan.globals.parse_only {
        validate(&plan)?;
        write!(out, "{}", parse_report(&plan))?;
        return Ok(0);
    }
    install_sigint();
    let (prepared, _temp) = prepare(&plan)?;
    if let Some(p) = &plan.globals.output {
        // Created (emptied) once: status reports and the final report are appended.
        std::fs::write(p, b"").with_context(|| format!("writing {}", p.display()))?;
    }
    let show_progress = match plan.globals.eta {
        spec::Eta::Always => true,
        spec::Eta::Never => false,
        spec::Eta::Auto => {
            plan.globals.formats == [OutputFormat::Normal] && std::io::stderr().is_terminal()
        }
    };
    let mut results: Vec<JobResult> = Vec::new();
    let cpu0 = process_cpu();
    let disks = report::disk::Disks::snapshot(
        prepared
            .iter()
            .flat_map(|p| p.targets.iter().map(|t| t.file.path())),
    );
    let nphases = prepared.iter().map(|p| p.phase).max().map_or(0, |g| g + 1);
    // wait_for: clones of each job still running (a waiter starts once its waitee's is 0).
    let running = std::sync::Mutex::new({
        let mut v = vec![0u32; plan.jobs.len()];
        for p in &prepared {
            v[p.job] += 1;
        }
        v
    });
    let finished = std::sync::Condvar::new();
    // fio's exitall is global: any job giving it turns it on for every job's end.
    let exitall = prepared.iter().any(|p| p.spec.exitall);
    // fio's flows: one shared state per flow_id of the jobs with a flow weight.
    let mut flows: Vec<(u32, crate::run::flow::Flow)> = Vec::new();
    for p in prepared.iter().filter(|p| p.spec.flow > 0) {
        if !flows.iter().any(|f| f.0 == p.spec.flow_id) {
            flows.push((p.spec.flow_id, crate::run::flow::Flow::default()));
        }
    }
    let flows = &flows;
    let prepared = &prepared;
    for g in 0..nphases {
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        let members: Vec<&Prepared> = prepared.iter().filter(|p| p.phase == g).collect();
        let progress: Vec<Progress> = members
            .iter()
            .map(|_| Progress {
                status_every: plan.globals.status_interval,
                ..Progress::default()
            })
            .collect();
        let start = Barrier::new(members.len());
        let done = AtomicBool::new(false);
        let total = members
            .iter()
            .map(|p| p.spec.runtime.map(|r| r + p.spec.ramp_time))
            .max()
            .flatten();
        let group_results = std::thread::scope(|s| {
            let handles: Vec<_> = members
                .iter()
                .zip(&progress)
                .map(|(p, prog)| {
                    let (start, running, finished) = (&start, &running, &finished);
                    // wait_for: after the group's start, until the waitee's clones are done
                    // (or the run stops).
                    let gate = move || {
                        if let Some(w) = p.waits_for {
                            let mut r = running.lock().unwrap_or_else(|e| e.into_inner());
                            while r[w] > 0
                                && !STOP.load(Ordering::Relaxed)
                                && !p.terminate.load(Ordering::Relaxed)
                            {
                                r = finished
                                    .wait_timeout(r, Duration::from_millis(50))
                                    .unwrap_or_else(|e| e.into_inner())
                                    .0;
                            }
                        }
                        // Relaxed: read by other job threads' exitall, a best-effort signal.
                        p.started.store(true, Ordering::Relaxed);
                    };
                    std::thread::Builder::new()
                        .name(format!("job-{}", p.name))
                        .spawn_scoped(s, move || {
                            // create_on_open: the files are made now (an error is the job's).
                            let opened = open_on_start(p);
                            let targets = match &opened {
                                Ok(t) if p.deferred.is_some() => t.as_slice(),
                                _ => p.targets.as_slice(),
                            };
                            let setup = opened
                                .as_ref()
                                .map(|_| ())
                                .map_err(|e| anyhow::anyhow!("{e:#}"));
                            let r = runner::run_job(
                                &p.spec,
                                p.name.clone(),
                                p.groupid,
                                p.seed,
                                targets,
                                prog,
                                Stop {
                                    run: &STOP,
                                    job: &p.terminate,
                                },
                                start,
                                &gate,
                                flows
                                    .iter()
                                    .find(|f| p.spec.flow > 0 && f.0 == p.spec.flow_id)
                                    .map(|f| &f.1),
                                setup,
                            );
                            if exitall {
                                end_others(prepared, p);
                            }
                            // fio's unlink: the job's regular files go when it is done (another
                            // job still using one keeps its open descriptor, as with fio).
                            if p.spec.unlink && !is_null(&p.spec) {
                                for t in &p.targets {
                                    if !t.file.geometry().is_block_device {
                                        let _ = std::fs::remove_file(t.file.path());
                                    }
                                }
                            }
                            running.lock().unwrap_or_else(|e| e.into_inner())[p.job] -= 1;
                            finished.notify_all();
                            r
                        })
                })
                .collect::<std::io::Result<Vec<_>>>()?;
            if show_progress {
                let (progress, done) = (&progress, &done);
                s.spawn(move || progress_line(progress, total, done));
            }
            if let Some(every) = plan.globals.status_interval {
                let (progress, done, globals) = (&progress, &done, &plan.globals);
                s.spawn(move || status_printer(progress, every, globals, done));
            }
            let steady = members.iter().any(|p| p.spec.steady.is_some()).then(|| {
                let (members, progress, done) = (&members, &progress, &done);
                let grouped = plan.globals.group_reporting;
                s.spawn(move || steady_monitor(members, progress, grouped, done))
            });
            let mut rs = Vec::new();
            for h in handles {
                rs.push(
                    h.join()
                        .map_err(|_| anyhow::anyhow!("a job thread panicked"))?,
                );
            }
            // Relaxed: the scope's join orders everything the progress thread could need.
            done.store(true, Ordering::Relaxed);
            if let Some(h) = steady {
                let records = h
                    .join()
                    .map_err(|_| anyhow::anyhow!("the steady-state thread panicked"))?;
                for (r, st) in rs.iter_mut().zip(records) {
                    r.steady = st;
                }
            }
            anyhow::Ok(rs)
        })?;
        results.extend(group_results);
    }
    let cpu1 = process_cpu();
    let proc_cpu = ProcessCpu {
        usr: cpu1.0.saturating_sub(cpu0.0),
        sys: cpu1.1.saturating_sub(cpu0.1),
    };
    let (disk_text, disk_json) = disks.report();
    let total_ios: u64 = results
        .iter()
        .map(|r| r.stats.iter().map(|s| s.ios).sum::<u64>())
        .sum();

    let views: Vec<View<'_>> = if plan.globals.group_reporting {
        let mut groups: Vec<u32> = results.iter().map(|r| r.groupid).collect();
        groups.dedup();
        groups
            .into_iter()
            .map(|g| View::of(results.iter().filter(|r| r.groupid == g).collect()))
            .collect()
    } else {
        results.iter().map(|r| View::of(vec![r])).collect()
    };
    let mut text = String::new();
    // fio's order whatever the order given: terse lines, the normal report, then JSON.
    let mut formats = plan.globals.formats.clone();
    formats.sort_by_key(|f| match f {
        OutputFormat::Terse => 0,
        OutputFormat::Normal => 1,
        OutputFormat::Json | OutputFormat::JsonPlus => 2,
    });
    for format in &formats {
        match format {
            OutputFormat::Normal => {
                if plan.default_job {
                    text.push_str(
                        "diorite bench: default job (rw=randread bs=4k iodepth=32 runtime=10s, \
                         ioengine=auto, direct=1) on a 256 MiB temp file\n",
                    );
                }
                text.push_str(&report::text(&views, &proc_cpu, total_ios));
                text.push_str(&disk_text);
            }
            OutputFormat::Terse => text.push_str(&report::terse(&views, &disk_json)),
            OutputFormat::Json | OutputFormat::JsonPlus => {
                let probe: Vec<serde_json::Value> = diorite::backend::probe()
                    .into_iter()
                    .map(|s| serde_json::json!({"kind": s.kind.name(), "available": s.available, "reason": s.reason}))
                    .collect();
                let v = report::json(
                    &views,
                    &plan.globals,
                    &proc_cpu,
                    total_ios,
                    probe.into(),
                    disk_json.clone(),
                );
                text.push_str(&(serde_json::to_string_pretty(&v)? + "\n"));
            }
        }
    }
    match &plan.globals.output {
        Some(p) => std::fs::OpenOptions::new()
            .append(true)
            .open(p)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .with_context(|| format!("writing {}", p.display()))?,
        None => out.write_all(text.as_bytes())?,
    }
    if let Some(p) = &plan.globals.latency_plot {
        crate::report::plot::write(p, &views)?;
    }
    // Verify errors fail the run unless the job continues on them (continue_on_error=verify).
    let verify_failed = |r: &JobResult| {
        r.verify.as_ref().is_some_and(|v| v.errors > 0) && !r.spec.continues_on(2, libc::EILSEQ)
    };
    let failed = results
        .iter()
        .any(|r| r.error.is_some() || verify_failed(r));
    for r in &results {
        if let Some(e) = &r.error {
            eprintln!("diorite: job {}: {e}", r.name);
        }
        if let Some(v) = r.verify.as_ref().filter(|v| v.errors > 0) {
            eprintln!(
                "diorite: job {}: verify found {} bad blocks of {}; first: {}",
                r.name,
                v.errors,
                v.blocks,
                v.first.first().map_or("", String::as_str)
            );
        }
    }
    Ok(if failed {
        1
    } else if STOP.load(Ordering::Relaxed) {
        130
    } else {
        0
    })
}
