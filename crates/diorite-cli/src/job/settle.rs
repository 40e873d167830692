//! The settle step: a job's options, once all are parsed, become the job a runner executes.
//! Every rule between options lives here, one function per concern, in the order they are
//! applied: [`settle`] runs as each job is parsed (what fio settles as it reads a job), and
//! [`check`] runs for the whole plan before anything is opened (what needs every option but
//! no target). A runner never sees a job that did not pass both.

use crate::job::Plan;
use crate::spec::value;
use crate::spec::*;
use anyhow::{anyhow, bail, Result};
use diorite::BackendChoice;
use std::time::Instant;

/// Everything checked before anything is opened, with every job settled: each job's options
/// together, and the jobs' relations (`wait_for`). Returns each job's waitee.
pub fn check(plan: &Plan) -> Result<Vec<Option<usize>>> {
    for j in &plan.jobs {
        verify_options(j)?;
        verify_modes(j)?;
        limits(j)?;
        not_supported(j)?;
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

/// A job that passed the settle step: what a [`Plan`] holds, so nothing after the parser can
/// take a job whose options were not settled. Read through `Deref`; the planner derives each
/// clone's own spec from it ([`Settled::to_spec`]).
#[derive(Clone, Debug)]
pub struct Settled(JobSpec);

impl std::ops::Deref for Settled {
    type Target = JobSpec;

    fn deref(&self) -> &JobSpec {
        &self.0
    }
}

impl Settled {
    /// A copy of the settled spec, for the planner to give a clone its files and offsets.
    pub fn to_spec(&self) -> JobSpec {
        self.0.clone()
    }

    /// The job's per-I/O logs go back to a remote client instead of into files here (the only
    /// change a front end makes to a settled job: no option depends on it).
    pub fn send_logs_to_client(&mut self) {
        self.0.logs.to_client = true;
    }
}

/// Settles job `j` after its options: each concern below, in order.
pub fn settle(mut j: JobSpec, warnings: &mut Vec<String>) -> Result<Settled> {
    engine_options(&j)?;
    do_verify(&mut j)?;
    rw_modifier(&mut j)?;
    blockalign(&mut j)?;
    filesize(&mut j)?;
    random(&j)?;
    zones(&mut j)?;
    cmdprio(&j)?;
    pacing(&j)?;
    steady(&mut j)?;
    file_lifecycle(&j)?;
    defaults(&mut j, warnings)?;
    Ok(Settled(j))
}

/// Options that belong to one kind of engine: io_uring's own (fio knows them only with
/// ioengine=io_uring), `inject` (an engine context), `sqthread_poll_cpu` (with sqthread_poll).
fn engine_options(j: &JobSpec) -> Result<()> {
    // io_uring's own options: fio knows them only with ioengine=io_uring.
    let uring = j.engine == IoEngine::Async(BackendChoice::IoUring);
    for (name, set) in [
        ("sqthread_poll", j.sqthread_poll),
        ("sqthread_poll_cpu", j.sqthread_poll_cpu.is_some()),
        ("hipri", j.hipri),
    ] {
        if set && !uring {
            bail!(
                "job {}: {name} is an io_uring option; this job's ioengine is not io_uring",
                j.name
            );
        }
    }
    // diorite's `pool_threads` sizes a thread pool: the threads engine's (posixaio's too),
    // auto's fallback, or the faulty backend an `inject` job runs on. Elsewhere it would be
    // accepted and ignored.
    if j.pool_threads.is_some()
        && j.inject.is_none()
        && !matches!(
            j.engine,
            IoEngine::Async(BackendChoice::Threads | BackendChoice::Auto)
        )
    {
        bail!(
            "job {}: pool_threads sizes the thread-pool engine's workers; this job's ioengine \
             has none (use ioengine=threads or posixaio)",
            j.name
        );
    }
    // fio's `uncached` belongs to its io_uring and pvsync2 engines.
    if j.uncached && !uring && !(j.engine == IoEngine::Sync && j.pvsync2) {
        bail!(
            "job {}: uncached is an option of fio's io_uring and pvsync2 engines; this job's \
             ioengine is neither",
            j.name
        );
    }
    if j.inject.is_some() && j.engine == IoEngine::Sync {
        bail!(
            "job {}: inject runs the job on the faulty backend, an engine context; \
             ioengine=psync/sync/pvsync has none (use threads, libaio or io_uring)",
            j.name
        );
    }
    if j.inject.is_some() && j.engine == IoEngine::Async(diorite::BackendChoice::Null) {
        bail!(
            "job {}: inject runs the job on the faulty backend, which moves real data; \
             ioengine=null moves none (use threads, libaio or io_uring)",
            j.name
        );
    }
    check_crash(j)?;
    if j.sqthread_poll_cpu.is_some() && !j.sqthread_poll {
        bail!(
            "job {}: sqthread_poll_cpu applies only with sqthread_poll=1 (fio ignores it otherwise)",
            j.name
        );
    }
    Ok(())
}

/// `do_verify=0` turns the verify phase off. A reading job with verify (fio checks each block
/// its reads bring back, written earlier by a verify job) is a read pass that checks every
/// block of its region once: diorite runs it as a `verify_only` pass, the region's blocks in
/// the job's order (`read_verify`), each block's write generation taken from its header
/// (fio checks no write sequence on reads).
fn do_verify(j: &mut JobSpec) -> Result<()> {
    if !j.do_verify {
        j.verify = false;
    }
    if (j.verify || j.verify_only) && matches!(j.rw, Rw::Read | Rw::RandRead) {
        let n = &j.name;
        if j.time_based || j.number_ios.is_some() || j.io_size.is_some() || j.loops > 1 {
            bail!(
                "job {n}: a reading job with verify checks its region once: time_based, \
                 number_ios, io_size and loops are not supported with it yet"
            );
        }
        if j.offsets.norandommap || !matches!(j.offsets.dist, Dist::Uniform) {
            bail!(
                "job {n}: a reading job with verify checks each block once: norandommap and \
                 random_distribution are not supported with it yet"
            );
        }
        j.read_verify = true;
        j.verify = true;
        j.verify_only = true;
        j.verification.verify_write_sequence = false;
    }
    Ok(())
}

/// fio's offset modifier (`rw=randread:8`, `rw=write:4k`): a size for sequential patterns, a
/// count for random ones.
fn rw_modifier(j: &mut JobSpec) -> Result<()> {
    // fio's offset modifier: a size for sequential patterns, a count for random ones.
    if let Some(m) = j.offsets.rw_modifier.take() {
        if j.rw.random() {
            j.offsets.rw_nr = value::eval(&m, value::Unit::Count)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    anyhow!(
                        "job {}: rw=...:{m}: a random pattern takes a count of I/Os",
                        j.name
                    )
                })?;
        } else {
            let (neg, mag) = m
                .strip_prefix('-')
                .map_or((false, m.as_str()), |r| (true, r));
            let v = value::size(mag, j.kb_base)
                .map_err(|e| anyhow!("job {}: rw=...:{m}: {e}", j.name))?;
            let unit = j.bs.unit();
            if v % unit != 0 {
                bail!(
                    "job {}: rw=...:{m}: the offset modifier must be a multiple of the block size \
                     unit ({unit} bytes)",
                    j.name
                );
            }
            let v =
                i64::try_from(v).map_err(|_| anyhow!("job {}: rw=...:{m}: too large", j.name))?;
            j.offsets.rw_add = if neg { -v } else { v };
        }
    }
    Ok(())
}

/// `blockalign`: a multiple of the block size unit; turns the random map off (as fio).
fn blockalign(j: &mut JobSpec) -> Result<()> {
    // fio: blockalign "is mutually exclusive with using a random map for files, so it will
    // turn off that option".
    if let Some(ba) = j.offsets.blockalign {
        let unit = j.bs.unit();
        if ba % unit != 0 {
            bail!(
                "job {}: blockalign={ba} is not a multiple of the block size unit ({unit} bytes): \
                 offsets finer than the job's blocks are not supported",
                j.name
            );
        }
        j.offsets.norandommap = true;
    }
    Ok(())
}

/// `filesize`: each file's size (a range: one draw per file), and `size` then only the
/// default `io_size`.
fn filesize(j: &mut JobSpec) -> Result<()> {
    // fio: with filesize, each file has that size (a range: one size per file in it, a whole
    // number of the smallest block), and size only sets the default io_size.
    if let Some((lo, hi)) = j.files.filesize {
        let files = j.file_count();
        if j.io_size.is_none() {
            j.io_size = j.size;
        }
        if hi > lo {
            // fio's get_rand_file_size: per file a draw in the range, a whole number of the
            // smallest block; seeded by the job (randseed, name).
            let mut rng = crate::rng::Rng::new(
                j.offsets.randseed
                    ^ j.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                    }),
            );
            let min = j.bs.min().max(1);
            let sizes: Vec<u64> = (0..files)
                .map(|_| {
                    let v = lo + rng.below(hi - lo + 1);
                    (v / min * min).max(lo)
                })
                .collect();
            let total = sizes
                .iter()
                .try_fold(0u64, |a, &b| a.checked_add(b))
                .ok_or_else(|| anyhow::anyhow!("job {}: filesize total overflows", j.name))?;
            j.size = Some(total);
            j.files.file_sizes = Some(sizes);
        } else {
            j.size = Some(lo.checked_mul(files).ok_or_else(|| {
                anyhow::anyhow!("job {}: filesize x {files} files overflows", j.name)
            })?);
        }
    }
    Ok(())
}

/// The random generator and `percentage_random` against what they cannot serve.
fn random(j: &JobSpec) -> Result<()> {
    if j.offsets.random_generator == RandomGen::Lfsr && j.offsets.dist != Dist::Uniform {
        bail!(
            "job {}: random_generator=lfsr visits each block once per pass; it cannot follow \
             random_distribution (give one or the other)",
            j.name
        );
    }
    if j.offsets.perc_rand != [100; 2] && (j.verify || j.verify_only) {
        bail!(
            "job {}: percentage_random below 100 with verify is not supported yet",
            j.name
        );
    }
    Ok(())
}

/// fio's zone modes: `strided` settled into a [`StridedZone`].
fn zones(j: &mut JobSpec) -> Result<()> {
    // fio 3.33's init.c: zonemode defaults to none, which refuses zonesize; strided needs
    // zonesize; zonerange defaults to zonesize.
    match (j.offsets.zonemode.as_deref(), j.offsets.zone_size) {
        (Some("strided"), Some(size)) => {
            let range = j.offsets.zone_range.unwrap_or(size);
            let unit = j.bs.unit();
            if size == 0
                || range < j.bs.max()
                || range % unit != 0
                || j.offsets.zone_skip % unit != 0
            {
                bail!(
                    "job {}: zonesize, zonerange and zoneskip must be multiples of the block size \
                     unit ({unit} bytes), and a zone must hold the largest block",
                    j.name
                );
            }
            if j.file_count() > 1 {
                bail!(
                    "job {}: zonemode=strided works on one file (fio quietly turns it off for \
                     more; diorite refuses)",
                    j.name
                );
            }
            if j.verify || j.verify_only {
                bail!(
                    "job {}: zonemode=strided with verify is not supported yet",
                    j.name
                );
            }
            j.offsets.zone = Some(StridedZone {
                size,
                range,
                skip: j.offsets.zone_skip,
            });
        }
        (Some("strided"), None) => {
            bail!(
                "job {}: zonemode=strided needs zonesize (as in fio)",
                j.name
            )
        }
        (None | Some("none"), Some(_)) => bail!(
            "job {}: zonemode=none (the default) and zonesize are not compatible (as in fio); \
             give zonemode=strided",
            j.name
        ),
        _ => {}
    }
    Ok(())
}

/// `cmdprio_*`: async engines only, percentage or bssplit.
fn cmdprio(j: &JobSpec) -> Result<()> {
    if j.placement.cmdprio.given() {
        if j.engine == IoEngine::Sync {
            bail!(
                "job {}: cmdprio_percentage / cmdprio_bssplit are options of fio's libaio and \
                 io_uring engines; this job's ioengine is synchronous",
                j.name
            );
        }
        if j.placement.cmdprio.perc != [0; 2]
            && (!j.placement.cmdprio.bssplit[0].is_empty()
                || !j.placement.cmdprio.bssplit[1].is_empty())
        {
            bail!(
                "job {}: cmdprio_percentage and cmdprio_bssplit are mutually exclusive (as in fio)",
                j.name
            );
        }
    }
    Ok(())
}

/// Pacing options that need another: `rate_process=poisson` a rate, the latency window
/// options a `latency_target`.
fn pacing(j: &JobSpec) -> Result<()> {
    if j.pacing.rate_poisson && j.pacing.rate == [None; 2] && j.pacing.rate_iops == [None; 2] {
        bail!(
            "job {}: rate_process=poisson paces rate or rate_iops, and this job has neither (fio \
             would ignore it)",
            j.name
        );
    }
    if j.pacing.latency_target.is_none()
        && (!j.pacing.latency_window.is_zero()
            || j.pacing.latency_percentile != 100.0
            || j.pacing.latency_run)
    {
        bail!(
            "job {}: latency_window / latency_percentile / latency_run apply to a \
             latency_target search, and this job has none (fio ignores them)",
            j.name
        );
    }
    Ok(())
}

/// Steady state: settled into an [`SsSpec`](crate::spec::steady::SsSpec) when `ss_dur` is given.
fn steady(j: &mut JobSpec) -> Result<()> {
    if j.pacing.ss_dur.is_zero() {
        if j.pacing.ss_crit_given || !j.pacing.ss_ramp.is_zero() {
            bail!(
                "job {}: steadystate / ss_ramp without ss_dur do nothing (fio ignores them); \
                 give ss_dur",
                j.name
            );
        }
    } else {
        let (iv, dur) = (
            j.pacing.ss_interval.as_millis(),
            j.pacing.ss_dur.as_millis(),
        );
        if iv == 0 || dur < iv || dur % iv != 0 {
            bail!(
                "job {}: ss_dur must be a whole number of ss_interval ({} ms)",
                j.name,
                iv
            );
        }
        let crate::spec::steady::SsCriterion {
            iops,
            slope,
            pct,
            limit,
        } = j.pacing.ss_crit;
        j.pacing.steady = Some(crate::spec::steady::SsSpec {
            iops,
            slope,
            pct,
            limit,
            dur: j.pacing.ss_dur,
            ramp: j.pacing.ss_ramp,
            interval: j.pacing.ss_interval,
        });
    }
    Ok(())
}

/// File life-cycle options against patterns they cannot serve (`unlink_each_loop`,
/// `create_on_open`, `fill_device`).
fn file_lifecycle(j: &JobSpec) -> Result<()> {
    if j.files.unlink_each_loop && (j.rw.reads() || j.rw.trims()) {
        bail!(
            "job {}: unlink_each_loop with a pattern that reads or trims is not supported yet \
             (each new file would need its layout)",
            j.name
        );
    }
    if j.files.create_on_open && (j.rw.reads() || j.rw.trims()) {
        bail!(
            "job {}: create_on_open with a pattern that reads or trims is refused: fio lays out \
             no data then and would read an empty new file",
            j.name
        );
    }
    if j.files.fill_device && j.rw.trims() {
        bail!(
            "job {}: fill_device with a trim pattern is not supported (it fills by writing)",
            j.name
        );
    }
    Ok(())
}

/// The last defaults: the data options for the pattern, `iodepth_batch_submit=0` is
/// `iodepth`, and `time_based` without a runtime is a warning (fio ignores it).
fn defaults(j: &mut JobSpec, warnings: &mut Vec<String>) -> Result<()> {
    j.data.settle(j.rw.reads(), j.verify || j.verify_only);
    working_set(j)?;
    // fio: iodepth_batch_submit=0 means "iodepth".
    if j.batch_submit == 0 {
        j.batch_submit = j.iodepth;
    }
    if j.time_based && j.runtime.is_none() {
        warnings.push(format!(
            "job {}: time_based without a runtime is ignored (as fio does)",
            j.name
        ));
        j.time_based = false;
    }
    if j.uncached && j.direct {
        warnings.push(format!(
            "job {}: uncached has no effect with direct=1 (as in fio: direct I/O bypasses the page cache already)",
            j.name
        ));
        j.uncached = false;
    }
    Ok(())
}

/// `verify`'s options: the pattern it can check, clones that would overwrite each other's
/// blocks, the interval, offset and header sizes.
fn verify_options(j: &JobSpec) -> Result<()> {
    let n = &j.name;
    if j.verify || j.verify_only {
        if !matches!(j.rw, Rw::Write | Rw::RandWrite | Rw::Read | Rw::RandRead) {
            bail!("job {n}: verify needs rw=write, randwrite (write and check) or read, randread (check what a verify job wrote)");
        }

        // Clones may verify when they cannot overwrite each other's blocks: each has its own
        // files, or offset_increment puts their regions apart.
        let files = j.file_count().max(1);
        let apart = j.files.filenames.is_empty()
            || matches!(j.offsets.offset_increment, Incr::Bytes(b)
                if j.size.is_some_and(|s| b >= s / files));
        if j.numjobs > 1 && !apart {
            bail!(
                "job {n}: verify with numjobs > 1 on shared files would have the clones overwrite \
                 each other's blocks (give each its own files, or an offset_increment of at \
                 least its region)"
            );
        }
        if j.numjobs > 1 && (j.fsync > 0 || j.fdatasync > 0) && j.verification.verify_state_save {
            bail!(
                "job {n}: verify_state_save with numjobs > 1 is not supported yet (the clones \
                 would share one state file); give verify_state_save=0"
            );
        }
        if j.verification.verify_kind == verify::Kind::Pattern
            && j.verification.verify_pattern.is_none()
        {
            bail!("job {n}: verify=pattern checks verify_pattern: give one");
        }
        if let (Some(every), Some(b)) = (
            j.verification.verify_backlog,
            j.verification.verify_backlog_batch,
        ) {
            if b > every {
                bail!(
                    "job {n}: verify_backlog_batch={b} is larger than verify_backlog={every} (fio \
                     then verifies some blocks more than once; diorite does not do that)"
                );
            }
        }
        let interval = j.verification.verify_interval.unwrap_or(j.bs.unit());
        if interval == 0 || j.bs.min() % interval != 0 || j.bs.unit() % interval != 0 {
            bail!(
                "job {n}: verify_interval={interval} must divide the block size evenly (as fio requires)"
            );
        }
        if let Some(o) = j.verification.verify_offset {
            let hl = j.verification.verify_kind.header_len() as u64;
            if o < hl || o + hl > interval {
                bail!(
                    "job {n}: verify_offset={o} must leave room for the {hl}-byte header before it \
                     and after it within each {interval}-byte block"
                );
            }
        }
        if interval < j.verification.verify_kind.header_len() as u64 {
            bail!(
                "job {n}: verify={} needs blocks (or verify_interval chunks) of at least {} bytes (its header and checksum)",
                j.verification.verify_kind.name(),
                j.verification.verify_kind.header_len()
            );
        }
        if j.bs.unit() < j.verification.verify_kind.header_len() as u64 {
            bail!(
                "job {n}: verify={} needs blocks of at least {} bytes (its header and checksum)",
                j.verification.verify_kind.name(),
                j.verification.verify_kind.header_len()
            );
        }
    }
    Ok(())
}

/// The verify modes that need another option: `verify_state_load`, `verify_backlog`,
/// `verify_only`.
fn verify_modes(j: &JobSpec) -> Result<()> {
    let n = &j.name;
    if j.verification.verify_state_load && !j.verify_only {
        bail!("job {n}: verify_state_load checks a saved state with verify_only: give verify_only");
    }
    if j.verification.verify_backlog.is_some() && !j.verify {
        bail!("job {n}: verify_backlog verifies during a verify job's write phase: give verify");
    }
    if j.verification.verify_backlog_batch.is_some() && j.verification.verify_backlog.is_none() {
        bail!("job {n}: verify_backlog_batch applies only with verify_backlog");
    }
    if j.verify_only {
        if j.files.filenames.is_empty() {
            bail!("job {n}: verify_only checks a target written earlier: give --filename");
        }
        if j.time_based {
            bail!("job {n}: verify_only replays a job that ended by size; remove time_based");
        }
        if !(j.offsets.randrepeat || j.offsets.randseed_set || j.offsets.allrandrepeat) {
            bail!("job {n}: verify_only needs a repeatable seed (randrepeat=1, randseed or allrandrepeat) to replay the same offsets");
        }
    }
    Ok(())
}

/// Values that fit one by one but not together: batch sizes, the region's end, the run's
/// length.
fn limits(j: &JobSpec) -> Result<()> {
    let n = &j.name;
    if let Some(max) = j.batch_complete_max {
        if max < j.batch_complete_min {
            bail!(
                "job {n}: iodepth_batch_complete_max={max} is smaller than \
                 iodepth_batch_complete_min={}",
                j.batch_complete_min
            );
        }
    }
    let end = j.offsets.offset.checked_add(j.size.unwrap_or(0));
    if end.is_none_or(|e| e > i64::MAX as u64) {
        bail!(
            "job {n}: offset={} + size={} is past the largest file offset ({})",
            j.offsets.offset,
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
    Ok(())
}

/// Combinations fio runs and diorite refuses (rather than run them differently), and
/// options that contradict each other.
fn not_supported(j: &JobSpec) -> Result<()> {
    let n = &j.name;
    if j.loops > 1 && j.verify && !j.read_verify {
        // Each loop writes and verifies; a saved verify state would describe one loop's writes
        // as if they were the job's.
        let syncs = j.fsync > 0 || j.fdatasync > 0;
        if (syncs && j.verification.verify_state_save) || j.verification.verify_state_load {
            bail!(
                "job {n}: loops with a verify state (verify_state_save with fsync, or \
                 verify_state_load) is not supported yet; give verify_state_save=0"
            );
        }
        if j.time_based {
            bail!("job {n}: loops with verify and time_based: each loop would write for the whole runtime");
        }
        if j.files.unlink_each_loop {
            bail!("job {n}: unlink_each_loop with verify is not supported yet");
        }
    }
    if j.loops > 1 && j.verify_only && !j.read_verify {
        bail!(
            "job {n}: verify_only with loops is not supported (it checks what the last loop left)"
        );
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
    if j.logs.write_hist_log.is_some() && j.logs.log_hist_msec == 0 {
        bail!("job {n}: write_hist_log needs log_hist_msec (without it fio writes an empty file)");
    }
    if j.rw.trims() && j.bs_trim {
        bail!("job {n}: a block size for trims (the third value of bs, bsrange or bssplit) is not supported yet");
    }
    if j.rw.trims() && j.pacing.trim_rate.any() {
        bail!(
            "job {n}: a rate for trims (the third value of rate, rate_iops, rate_min or \
             rate_iops_min) is not supported yet"
        );
    }
    if j.pacing.think.spin > j.pacing.think.time {
        bail!(
            "job {n}: thinktime_spin={}us is longer than thinktime={}us (the spin is part of the \
             thinktime)",
            j.pacing.think.spin.as_micros(),
            j.pacing.think.time.as_micros()
        );
    }
    Ok(())
}

/// fio's dedupe working set (`init.c` checks, `dedupe.c` size): with `dedupe_percentage`,
/// `size` given, one file, and room for the set's unique buffers beside the duplicates.
fn working_set(j: &mut JobSpec) -> Result<()> {
    let n = &j.name;
    let d = &j.data;
    if !d.ws_mode || d.dedupe_pct == 0 {
        return Ok(());
    }
    let Some(size) = j.size else {
        bail!(
            "job {n}: dedupe_mode=working_set needs size (the set is a percentage of it), as fio"
        );
    };
    if j.file_count() > 1 {
        bail!("job {n}: dedupe_mode=working_set supports one file per job, as fio");
    }
    if d.ws_pct + d.dedupe_pct > 100 {
        bail!(
            "job {n}: dedupe_percentage={} cannot be reached with dedupe_working_set_percentage={} \
             (the set's buffers are unique), as fio says",
            d.dedupe_pct,
            d.ws_pct
        );
    }
    let pages = size * u64::from(d.ws_pct) / 100 / j.bs_dirs()[1].min().max(1);
    if pages == 0 {
        bail!("job {n}: the dedupe working set holds no buffer (dedupe_working_set_percentage of size is below one block)");
    }
    j.data.working_set = Some(crate::spec::WorkingSet {
        pages,
        global: d.ws_global,
        run_seeds: None,
    });
    Ok(())
}

/// The most bytes a `crash` job may write: the record keeps a copy of each.
pub const CRASH_MAX_BYTES: u64 = 256 << 20;

/// diorite's `crash`: a bounded writing job on an engine context the recorder can see.
fn check_crash(j: &JobSpec) -> Result<()> {
    if j.crash.is_none() {
        return Ok(());
    }
    let why = if !j.rw.writes() {
        Some("the job does not write".to_string())
    } else if matches!(
        j.engine,
        IoEngine::Sync | IoEngine::Async(diorite::BackendChoice::Null)
    ) {
        Some(
            "the recorder runs on the faulty backend, an engine context: use ioengine=threads, \
             libaio or io_uring (the job then runs on the faulty backend)"
                .to_string(),
        )
    } else if j.files.unlink_each_loop {
        Some("unlink_each_loop makes new files each loop; the record follows one set".to_string())
    } else if j.time_based {
        Some("a time_based job writes without a bound; the record keeps every byte".to_string())
    } else {
        let bytes = j
            .io_size
            .or(j.size)
            .map(|s| s.saturating_mul(u64::from(j.loops.max(1))));
        match bytes {
            None => Some(format!(
                "give size= (or io_size=): the record keeps every byte written, at most {} MiB",
                CRASH_MAX_BYTES >> 20
            )),
            Some(b) if b > CRASH_MAX_BYTES => Some(format!(
                "it would write {b} bytes; the record keeps every byte, at most {} MiB",
                CRASH_MAX_BYTES >> 20
            )),
            _ => None,
        }
    };
    match why {
        Some(w) => bail!("job {}: crash: {w}", j.name),
        None => Ok(()),
    }
}
