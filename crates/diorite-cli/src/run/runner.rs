//! Runs one job on the calling thread with its own engine [`LocalContext`] (single issuer: the job thread submits and reaps): the submit/reap loop with
//! fio's batching, rate cap, ramp, periodic syncs and stop conditions, then the verify phase.
//!
//! Buffers: one `BufPool` of `iodepth` buffers of the largest block size, registered with the
//! context (io_uring fixed buffers) and held by the job for its whole life; in-flight slot `i`
//! uses buffer `i`, so an I/O of any size up to the largest is a raw request into that memory.
//! Nothing is allocated per I/O.

use crate::run::clock::{ns, Stamp};
use crate::run::control::{Progress, Stop};
use crate::run::issuer::{record_lat, Issuer, Target};
use crate::run::outcome::{
    Depths, JobResult, Samples, ThreadUsage, VerifyResult, DIRS, SAMPLE, SYNC,
};
use crate::run::verify_phase::{merge_results, verify_blocks, verify_phase};
use crate::run::workload::{Dir, FileService, Generator, Io};
use crate::run::{cpu, flow, latency, logs, prio, rate, state, verify};
use crate::spec::{JobSpec, Rw};
use crate::stats::{DirStats, Lat};
use anyhow::{anyhow, Context as _, Result};
use diorite::DirectFile;
use std::sync::atomic::Ordering;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// The seed of clone `index` of a job.
pub fn job_seed(spec: &JobSpec, index: u32) -> u64 {
    let base = if spec.randrepeat {
        spec.randseed
    } else {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    };
    base ^ u64::from(index + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Runs one job. Waits at `start` (so jobs of a group start together) whether or not set-up
/// worked; errors end up in the result.
#[allow(clippy::too_many_arguments)]
pub fn run_job(
    spec: &JobSpec,
    name: String,
    groupid: u32,
    seed: u64,
    targets: &[Target],
    progress: &Progress,
    stop: Stop<'_>,
    start: &Barrier,
    gate: &dyn Fn(),
    flow: Option<&flow::Flow>,
    setup: Result<()>,
) -> JobResult {
    let mut r = JobResult {
        name,
        groupid,
        spec: spec.clone(),
        stats: std::array::from_fn(|_| DirStats::new()),
        runtime: Duration::ZERO,
        dir_runtime: [Duration::ZERO; DIRS],
        usr: Duration::ZERO,
        sys: Duration::ZERO,
        backend: String::new(),
        backend_report: String::new(),
        skipped: Vec::new(),
        targets: targets
            .iter()
            .map(|t| {
                format!(
                    "{} ({}, bytes {}..{})",
                    t.file.path().display(),
                    if t.file.is_direct() {
                        "O_DIRECT"
                    } else {
                        "buffered"
                    },
                    t.base,
                    t.base + t.len
                )
            })
            .collect(),
        verify: None,
        usage: ThreadUsage::default(),
        depths: Depths::default(),
        samples: Samples::default(),
        error: None,
        total_err: 0,
        first_error: None,
        interrupted: false,
        terminated: false,
        cpus: Vec::new(),
        nice: 0,
        mem_policy: None,
        prio_lat: Default::default(),
        steady: None,
        latency_depth: None,
    };
    // fio's CPU options, before the engine starts its threads (they inherit them).
    let cpus = spec
        .cpus
        .as_ref()
        .map(|set| cpu::for_job(set, spec.cpus_split, spec.job_number));
    let placed = cpu::apply(cpus.as_deref(), spec.nice)
        .and_then(|placed| prio::set_thread(spec.default_prio()).map(|()| placed))
        .and_then(|placed| {
            // fio's numa_mem_policy, before the engine allocates the job's buffers.
            r.mem_policy = spec.mem_policy.map(cpu::apply_mem_policy).transpose()?;
            Ok(placed)
        });
    if let Err(err) = setup {
        // What the job had to do before its engine (create_on_open) failed: it ends here,
        // after its group's start, with that error.
        start.wait();
        r.error = Some(format!("{err:#}"));
        return r;
    }
    let max_bs = spec.bs.max() as usize;
    let engine = Issuer::new(spec, targets, max_bs, seed);
    // fio's flow: the job counts in its flow from before its group starts to its end — joined
    // before the start barrier, so no job of the flow runs alone while another is still
    // setting up (a job joining late found the first ahead by its whole head start).
    let mut flow = flow.map(|f| flow::FlowJob::join(f, spec.flow));
    start.wait();
    // fio's `startdelay`: the job starts this long after its group starts (a stop cuts it
    // short) — and, with `wait_for`, not before the job it waits for has finished: the two
    // conditions are independent, as fio checks both against the run's start.
    let delay_end = Instant::now() + spec.startdelay;
    gate();
    while Instant::now() < delay_end && !stop.any() {
        std::thread::sleep(
            delay_end
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50)),
        );
    }
    match placed {
        Ok((cpus, nice)) => (r.cpus, r.nice) = (cpus, nice),
        Err(err) => {
            r.error = Some(format!("{err:#}"));
            return r;
        }
    }
    let mut e = match engine {
        Ok(e) => e,
        Err(err) => {
            r.error = Some(format!("{err:#}"));
            return r;
        }
    };
    (r.backend, r.backend_report, r.skipped) = e.describe();
    let verifying = spec.verify || spec.verify_only;
    let mut gens = generators(spec, targets, verifying, seed);
    // fio's file_service_type: the same sequence of files for the run and its replays.
    let lens: Vec<u64> = targets.iter().map(|t| t.len).collect();
    let mut files = FileService::new(spec, lens, seed);
    // fio's unlink_each_loop: one pass of the job per loop, on new files each time.
    let apart = spec.unlink_each_loop && !spec.time_based;
    let io_limit = if spec.time_based {
        u64::MAX
    } else {
        // fio's `loops` repeats the job's I/O amount.
        spec.io_size
            .unwrap_or_else(|| targets.iter().map(|t| t.len).sum())
            .saturating_mul(if apart { 1 } else { u64::from(spec.loops) })
    };
    // The job's deadline (fio's `runtime`, after the ramp): the verify phase stops there too.
    let deadline = spec
        .runtime
        .and_then(|d| Instant::now().checked_add(spec.ramp_time + d));
    // verify_state_load: which blocks the saved state vouches for (1), and which a write not
    // known durable may have touched (2); 0: never written.
    let mut known: Option<Vec<Vec<u8>>> = None;
    let result = if spec.verify_only && spec.verify_state_load {
        state::State::load(&state::path(&spec.name, 0)).map(|st| {
            known = Some(replay_state(&mut gens, &mut files, io_limit, &st));
        })
    } else if spec.verify_only {
        replay(&mut gens, &mut files, io_limit);
        Ok(())
    } else {
        let io = (io_limit, seed);
        let pace = (&mut files, flow.as_mut());
        let first = main_phase(&mut e, &mut gens, pace, &mut r, io, progress, stop);
        if apart {
            // fio: before every loop after the first, the files are deleted and the loop runs
            // on new ones (the last loop's stay).
            let mut res = first;
            for _ in 1..spec.loops {
                if res.is_err() || r.error.is_some() || r.interrupted || r.terminated {
                    break;
                }
                let _ = e.close();
                let logs = &mut e.logs;
                res = unlink_files(targets).and_then(|()| {
                    let ctl = (progress, stop, logs);
                    next_loop(spec, targets, seed, &mut r, ctl, flow.as_mut())
                });
            }
            res
        } else {
            first
        }
    };
    if let Err(err) = result {
        r.error = Some(format!("{err:#}"));
    }
    if verifying && r.error.is_none() && !r.interrupted && !r.terminated {
        let t0 = Instant::now();
        let res = verify_phase(
            &mut e,
            &gens,
            seed,
            stop,
            deadline,
            &mut r.stats,
            known.as_deref(),
        );
        let took = t0.elapsed();
        r.dir_runtime[Dir::Read as usize] = took;
        r.runtime += took;
        match res {
            Ok((mut v, interrupted)) => {
                if let Some(during) = r.verify.take() {
                    merge_results(&mut v, during);
                }
                if v.errors > 0 && spec.continues_on(2, libc::EILSEQ) {
                    // continue_on_error=verify: verify errors are counted, not fatal.
                    r.total_err += v.errors;
                    r.first_error = r.first_error.or(Some(libc::EILSEQ));
                }
                r.verify = Some(v);
                r.interrupted |= interrupted;
            }
            Err(err) => r.error = Some(format!("verify: {err:#}")),
        }
    }
    if let Some(mut l) = e.logs.take() {
        l.finish(Stamp::now());
        if let Err(err) = l.write(spec) {
            r.error.get_or_insert(format!("{err:#}"));
        }
    }
    if let Err(err) = e.close() {
        r.error.get_or_insert(format!("{err:#}"));
    }
    r
}

/// The job's generators, one per file (each seeded apart from the job's seed).
fn generators(spec: &JobSpec, targets: &[Target], track: bool, seed: u64) -> Vec<Generator> {
    targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Generator::new(
                spec,
                track,
                t.len,
                seed ^ (i as u64).wrapping_mul(0xa076_1d64_78bd_642f),
            )
        })
        .collect()
}

/// fio's `unlink_each_loop`: deletes the job's regular files (never a block device).
fn unlink_files(targets: &[Target]) -> Result<()> {
    for t in targets
        .iter()
        .filter(|t| !t.file.geometry().is_block_device)
    {
        std::fs::remove_file(t.file.path())
            .with_context(|| format!("unlink_each_loop: deleting {}", t.file.path().display()))?;
    }
    Ok(())
}

/// One more loop of an `unlink_each_loop` job: its files made anew (created, reserved per
/// `fallocate`), a fresh engine and pattern over them, one pass; what it measured is added
/// to `r`.
fn next_loop(
    spec: &JobSpec,
    old: &[Target],
    seed: u64,
    r: &mut JobResult,
    (progress, stop, logs): (&Progress, Stop<'_>, &mut Option<logs::Logs>),
    flow: Option<&mut flow::FlowJob<'_>>,
) -> Result<()> {
    let mut targets = Vec::new();
    for t in old {
        let path = t.file.path();
        let f = DirectFile::options()
            .read(true)
            .write(true)
            .create(true)
            .direct(t.file.is_direct())
            .open(path)
            .with_context(|| format!("unlink_each_loop: creating {}", path.display()))?;
        crate::run::layout::preallocate(path, t.base, t.base + t.len, spec.fallocate)?;
        targets.push(Target {
            file: f,
            base: t.base,
            len: t.len,
        });
    }
    let mut e = Issuer::new(spec, &targets, spec.bs.max() as usize, seed)?;
    e.logs = logs.take();
    let mut gens = generators(spec, &targets, false, seed);
    let mut files = FileService::new(spec, targets.iter().map(|t| t.len).collect(), seed);
    let io_limit = spec
        .io_size
        .unwrap_or_else(|| targets.iter().map(|t| t.len).sum());
    let before = r.clone();
    let res = main_phase(
        &mut e,
        &mut gens,
        (&mut files, flow),
        r,
        (io_limit, seed),
        progress,
        stop,
    );
    let _ = e.close();
    *logs = e.logs.take();
    add_loop(r, before);
    res
}

/// Adds what earlier loops measured (`before`) to the loop `r` just ran.
fn add_loop(r: &mut JobResult, before: JobResult) {
    for (s, b) in r.stats.iter_mut().zip(&before.stats) {
        s.merge(b);
    }
    r.runtime += before.runtime;
    for (d, b) in r.dir_runtime.iter_mut().zip(before.dir_runtime) {
        *d += b;
    }
    r.usr += before.usr;
    r.sys += before.sys;
    r.usage.usr += before.usage.usr;
    r.usage.sys += before.usage.sys;
    r.usage.ctx += before.usage.ctx;
    r.usage.majf += before.usage.majf;
    r.usage.minf += before.usage.minf;
    r.depths.merge(&before.depths);
    for d in 0..DIRS {
        let mut bw = before.samples.bw[d].clone();
        bw.append(&mut r.samples.bw[d]);
        r.samples.bw[d] = bw;
        let mut iops = before.samples.iops[d].clone();
        iops.append(&mut r.samples.iops[d]);
        r.samples.iops[d] = iops;
    }
    for (mine, theirs) in r.prio_lat.iter_mut().zip(before.prio_lat) {
        for (p, l) in theirs {
            match mine.iter_mut().find(|x| x.0 == p) {
                Some(x) => x.1.merge(&l),
                None => mine.push((p, l)),
            }
        }
    }
    r.total_err += before.total_err;
    r.first_error = before.first_error.or(r.first_error);
}

/// `verify_only`: the write job's sequence again, without writing, to know which blocks it
/// wrote and in which pass.
fn replay(gens: &mut [Generator], files: &mut FileService, io_limit: u64) {
    let mut issued = 0u64;
    while issued < io_limit {
        let f = files.file();
        let len = gens[f].next().len;
        issued += len;
        files.after(len);
    }
}

/// `verify_only` with a saved state: the job's writes again, up to the state's limit, marking
/// each block 1 when its last write was durable and 2 when a write not known durable touched
/// it last.
fn replay_state(
    gens: &mut [Generator],
    files: &mut FileService,
    io_limit: u64,
    st: &state::State,
) -> Vec<Vec<u8>> {
    let mut known: Vec<Vec<u8>> = gens
        .iter()
        .map(|g| vec![0; g.map().map_or(0, |m| m.blocks()) as usize])
        .collect();
    let (mut issued, mut seq) = (0u64, 0u64);
    while issued < io_limit && seq < st.limit {
        let f = files.file();
        let io = gens[f].next();
        let unit = gens[f].unit();
        let mark = if st.durable(seq) { 1 } else { 2 };
        for b in io.offset / unit..(io.offset + io.len) / unit {
            known[f][b as usize] = mark;
        }
        issued += io.len;
        seq += 1;
        files.after(io.len);
    }
    known
}

/// fio's test for a thinktime stall after an I/O was issued (backend.c `handle_thinktime`): with
/// `thinktime_iotime`, once that long plus `thinktime` has passed since the last stall (and,
/// unless `thinktime_blocks` was given too, only then); else once `thinktime_blocks` more I/Os
/// than at the last stall were counted. Returns when the check was made (the next stall's time
/// base), or `None`.
fn think_due_at(think: &crate::spec::Think, b: u64, last_b: u64, last_at: Stamp) -> Option<Stamp> {
    let now = Stamp::now();
    if !think.iotime.is_zero() {
        if now.duration_since(last_at) >= think.iotime + think.time {
            return Some(now);
        }
        if !think.blocks_set {
            return None;
        }
    }
    (b >= last_b + think.blocks).then_some(now)
}

/// A thinktime stall: spin `thinktime_spin`, then sleep the rest of `thinktime`; a stop or the
/// job's deadline cuts the sleep short.
fn think_stall(think: &crate::spec::Think, stop: Stop<'_>, deadline: Option<Stamp>) {
    let start = Stamp::now();
    let spin_end = start + think.spin.min(think.time);
    while Stamp::now() < spin_end {
        std::hint::spin_loop();
    }
    let mut end = start + think.time;
    if let Some(d) = deadline {
        end = end.min(d);
    }
    while !stop.any() {
        let left = end.saturating_duration_since(Stamp::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

fn main_phase(
    e: &mut Issuer<'_>,
    gens: &mut [Generator],
    (files, mut flow): (&mut FileService, Option<&mut flow::FlowJob<'_>>),
    r: &mut JobResult,
    (io_limit, seed): (u64, u64),
    progress: &Progress,
    stop: Stop<'_>,
) -> Result<()> {
    let spec = e.spec;
    let verify_writes = spec.verify;
    let sync_every = if spec.fdatasync > 0 {
        spec.fdatasync
    } else {
        spec.fsync
    };
    // fio: iodepth_batch_complete_max defaults to iodepth_batch_complete_min.
    let max_reap = spec
        .batch_complete_max
        .unwrap_or(spec.batch_complete_min)
        .max(1) as usize;
    let t_start = Stamp::now();
    // (An unlink_each_loop job's later loops go on with the first loop's logs.)
    if e.logs.is_none() {
        e.logs = logs::Logs::new(spec, t_start);
    }
    let mut ramping = !spec.ramp_time.is_zero();
    let ramp_end = t_start + spec.ramp_time;
    let mut phase_start = t_start;
    let deadline = spec.runtime.map(|d| t_start + spec.ramp_time + d);
    let mut cpu0 = ThreadUsage::now();
    // bw/iops samples: counts at the last sample, and when it was taken.
    let mut next_sample = t_start + SAMPLE;
    let mut at_sample = [(0u64, 0u64); DIRS];
    let mut samples = Samples::default();
    let mut next_status = progress.status_every.map(|d| t_start + d);
    let mut stats = std::array::from_fn(|_| DirStats::new());
    let (mut issued_bytes, mut limited_ios) = (0u64, 0u64);
    // fio's rate, rate_iops, rate_min, rate_iops_min (`rate.rs`): a held I/O waits for the
    // queue to drain and this time; completed (bytes, I/Os) per direction for the floor.
    let mut rate = rate::Rate::new(spec, t_start);
    let mut rate_hold: Option<Stamp> = None;
    // Whether `rate_hold` is a flow hold (which always drains, as fio's io_u_quiesce).
    let mut flow_held = false;
    // fio's latency_target search, and its final window's pending statistics reset.
    let mut lat = spec.latency_target.map(|t| {
        latency::LatTarget::new(
            t,
            spec.latency_window,
            spec.latency_percentile,
            spec.latency_run,
            spec.iodepth,
        )
    });
    let mut lat_reset = false;
    let mut rw_done = [(0u64, 0u64); 2];
    let trimwrite = matches!(spec.rw, Rw::TrimWrite | Rw::RandTrimWrite);
    let mut writes_since_sync = 0u32;
    // Syncs due (one per `sync_every` writes) and not yet issued; one is in flight at a time.
    let (mut syncs_owed, mut sync_file) = (0u32, 0usize);
    let mut pending: Option<(usize, Io)> = None;
    let (mut stopping, mut exhausted) = (false, false);
    // verify_backlog: written blocks (file, block) not yet verified, oldest first, and what
    // verifying them during the write phase found.
    let backlog_every = spec.verify_backlog.filter(|_| verify_writes);
    let backlog_batch = spec
        .verify_backlog_batch
        .or(spec.verify_backlog)
        .unwrap_or(0) as usize;
    let mut backlog: std::collections::VecDeque<(usize, u64)> = std::collections::VecDeque::new();
    let mut backlog_found = VerifyResult::default();
    // verify_state_save: the durable writes, saved at each completed sync (`state.rs`); the
    // limit lets two sync intervals and a queue depth of writes past the last save.
    let mut tracker = if verify_writes && spec.verify_state_save {
        let slack = (sync_every > 0).then(|| 2 * (u64::from(sync_every) + u64::from(spec.iodepth)));
        Some(state::Tracker::new(state::path(&spec.name, 0), slack)?)
    } else {
        None
    };
    let mut last_done = t_start;
    // fio's thinktime (backend.c handle_thinktime): read and write I/Os completed and issued,
    // the count at the last stall and when it was; a stall due (the count it was due at, and
    // when it was found) waits for everything in flight first.
    let think = &spec.think;
    let (mut done_rw, mut issued_rw, mut last_think_b) = (0u64, 0u64, 0u64);
    let mut last_think_at = t_start;
    let mut think_due: Option<(u64, Stamp)> = None;
    loop {
        let now = Stamp::now();
        // The latency-target search's final window starts from an empty queue with its
        // statistics afresh, as the ramp's end does.
        let final_run = lat_reset && e.in_flight() == 0;
        if (ramping && now >= ramp_end) || final_run {
            ramping = false;
            lat_reset = false;
            stats = std::array::from_fn(|_| DirStats::new());
            for l in e.prio_lat.iter_mut().flatten() {
                *l = Lat::new();
            }
            cpu0 = ThreadUsage::now();
            e.depths = Depths::default();
            if let Some(l) = e.logs.as_mut() {
                l.restart(now);
            }
            samples = Samples::default();
            at_sample = [(0, 0); DIRS];
            next_sample = now + SAMPLE;
            phase_start = now;
        }
        if !stopping {
            if stop.any() {
                stopping = true;
                if stop.interrupted() {
                    r.interrupted = true;
                } else {
                    r.terminated = true;
                }
            } else if deadline.is_some_and(|d| now >= d) {
                stopping = true;
            }
        }
        if let Some(l) = e.logs.as_mut() {
            // log_avg_msec: the bandwidth and IOPS intervals that have ended.
            l.tick(now, [0, 1].map(|d| (stats[d].bytes, stats[d].ios)));
        }
        if now >= next_sample {
            let secs = (now - (next_sample - SAMPLE)).as_secs_f64().max(1e-9);
            for d in 0..DIRS {
                let (ios, bytes) = (stats[d].ios, stats[d].bytes);
                if ios > 0 {
                    samples.bw[d].push((bytes - at_sample[d].1) as f64 / 1024.0 / secs);
                    samples.iops[d].push((ios - at_sample[d].0) as f64 / secs);
                }
                at_sample[d] = (ios, bytes);
            }
            next_sample = now + SAMPLE;
        }
        if next_status.is_some_and(|t| now >= t) {
            let mut snap = r.clone();
            snap.stats = stats.clone();
            snap.runtime = now.duration_since(phase_start);
            snap.dir_runtime = [snap.runtime; DIRS];
            let u = ThreadUsage::now().since(&cpu0);
            (snap.usr, snap.sys, snap.usage) = (u.usr, u.sys, u);
            snap.depths = e.depths.clone();
            snap.samples = samples.clone();
            *progress.status.lock().unwrap_or_else(|p| p.into_inner()) = Some(snap);
            next_status = progress.status_every.map(|d| now + d);
        }
        let mut wait_until = None;
        // verify_backlog: every N blocks written, writes stop; once they have all landed, the
        // oldest `batch` written blocks are read back and checked, then writing goes on.
        let backlog_due = backlog_every.is_some_and(|n| backlog.len() as u64 >= n);
        if backlog_due && !stopping && e.in_flight() == 0 && pending.is_none() {
            let take = backlog_batch.min(backlog.len());
            let list: Vec<(usize, u64)> = backlog.drain(..take).collect();
            let found = verify_blocks(e, gens, seed, &list, &mut stats)?;
            if spec.verify_fatal && found.errors > 0 {
                stopping = true;
            }
            for &(f, b) in &list {
                gens[f].set_verified(b, true);
            }
            merge_results(&mut backlog_found, found);
            continue;
        }
        // A pass-starting I/O held back for draining was already taken from the generator (its
        // blocks are in the map): it is issued even when stopping, so the map stays true.
        let may_issue = !stopping && !exhausted && !backlog_due && think_due.is_none();
        if let Some(t) = rate_hold {
            // A rate wait: drain what is in flight, then wait for the budget (not past a stop);
            // with io_submit_mode=offload (and not for a flow hold), keep reaping while waiting.
            let drain = !spec.submit_offload || flow_held;
            if stopping || (now >= t && (!drain || e.in_flight() == 0)) {
                rate_hold = None;
                flow_held = false;
            } else if !drain || e.in_flight() == 0 {
                wait_until = Some(t);
            }
        }
        if (may_issue || pending.is_some()) && rate_hold.is_none() {
            while !e.free.is_empty() {
                if !may_issue && pending.is_none() {
                    break;
                }
                // fio's queue_full with a latency target: at most the depth being tried.
                if lat.as_ref().is_some_and(|l| e.in_flight() >= l.qd as usize) {
                    break;
                }
                // trimwrite: the write half of a trim+write pair is always issued, and only the
                // trims count toward size and number_ios (fio: io_size=64k trims 64k and writes
                // the same 64k).
                let rewrite = gens[files.file()].pending_rewrite();
                if may_issue
                    && !rewrite
                    && (issued_bytes >= io_limit
                        || spec.number_ios.is_some_and(|n| limited_ios >= n))
                {
                    exhausted = true;
                    break;
                }
                if pending.is_none() && tracker.as_ref().is_some_and(|t| !t.may_issue()) {
                    break; // past the saved state's limit: wait for the next sync to save
                }
                let (f, io) = match pending.take() {
                    Some(p) => p,
                    None => {
                        let f = files.file();
                        let mut hold = None;
                        let io = match &rate {
                            Some(r) => gens[f].next_with(|d| {
                                let (d, h) = r.choose(d, Stamp::now());
                                hold = h;
                                d
                            }),
                            None => gens[f].next(),
                        };
                        if hold.is_some() {
                            // Over budget: drain, wait, then issue this one.
                            rate_hold = hold;
                            if !gens[f].pending_rewrite() {
                                files.after(io.len);
                            }
                            pending = Some((f, io));
                            break;
                        }
                        // A trimwrite pair stays on its file: the write follows its trim.
                        if !gens[f].pending_rewrite() {
                            files.after(io.len);
                        }
                        (f, io)
                    }
                };
                if !rewrite && flow.as_mut().is_some_and(|fl| fl.exceeded()) {
                    // fio's flow: ahead of the job's share (checked as the I/O is about to go,
                    // also for one a rate wait held back); drain, wait flow_sleep, look again.
                    pending = Some((f, io));
                    rate_hold = Some(Stamp::now() + spec.flow_sleep);
                    flow_held = true;
                    break;
                }
                if io.new_pass && verify_writes && e.in_flight() > 0 {
                    // A new pass may rewrite blocks still being written: drain first, so each
                    // block's last write is the one verification expects.
                    pending = Some((f, io));
                    break;
                }
                if io.dir == Dir::Write && verify_writes && gens[f].overlaps_in_flight(&io) {
                    // A rewrite (skewed distribution, norandommap) of a block still being
                    // written waits for that write: the last write issued is the last landed.
                    pending = Some((f, io));
                    break;
                }
                if io.dir == Dir::Write && verify_writes {
                    gens[f].set_in_flight(io.offset, io.len, true);
                    let unit = gens[f].unit();
                    for b in io.offset / unit..(io.offset + io.len) / unit {
                        gens[f].set_verified(b, false);
                    }
                    let slot = *e.free.last().expect("checked") as usize;
                    let unit = gens[f].unit();
                    let buf = &mut e.bufs[slot][..io.len as usize];
                    for (i, block) in buf.chunks_mut(unit as usize).enumerate() {
                        let b = io.offset / unit + i as u64;
                        verify::fill_block(
                            spec,
                            block,
                            e.targets[f].base + b * unit,
                            b,
                            seed,
                            gens[f].generation_of(b),
                        );
                    }
                }
                if io.dir == Dir::Write && !verify_writes {
                    let slot = *e.free.last().expect("checked") as usize;
                    let at = e.targets[f].base + io.offset;
                    if let Some(p) = &spec.verify_pattern {
                        // fio's verify_pattern without verify: the data written is the pattern.
                        let unit = gens[f].unit();
                        let buf = &mut e.bufs[slot][..io.len as usize];
                        for (i, block) in buf.chunks_mut(unit as usize).enumerate() {
                            p.fill(block, at + i as u64 * unit);
                        }
                    } else if e.data.per_write() {
                        let t = Stamp::now().duration_since(e.started);
                        e.data
                            .before_write(&mut e.bufs[slot][..io.len as usize], at, t);
                    }
                }
                let used = *e.free.last().expect("checked") as usize;
                e.queue_io(f, &io);
                if let (Some(t), Dir::Write) = (tracker.as_mut(), io.dir) {
                    e.slots[used].seq = t.issued();
                }
                if !(trimwrite && io.dir == Dir::Write) {
                    issued_bytes += io.len;
                    limited_ios += 1;
                }
                if let Some(r) = rate.as_mut() {
                    r.issued(io.dir, io.len);
                }
                if io.dir != Dir::Trim {
                    issued_rw += 1;
                }
                if io.dir == Dir::Write {
                    writes_since_sync += 1;
                    if sync_every > 0 && writes_since_sync >= sync_every {
                        syncs_owed += 1;
                        writes_since_sync = 0;
                        sync_file = f;
                    }
                }
                if syncs_owed > 0 && !e.sync_busy {
                    e.queue_sync(sync_file);
                    if let Some(t) = tracker.as_mut() {
                        t.sync_issued();
                    }
                    syncs_owed -= 1;
                }
                if e.batch.len() >= spec.batch_submit as usize {
                    e.flush(&mut stats)?;
                }
                if !think.time.is_zero() && io.dir != Dir::Trim {
                    let b = if think.count_issued {
                        issued_rw
                    } else {
                        done_rw
                    };
                    if let Some(due) = think_due_at(think, b, last_think_b, last_think_at) {
                        think_due = Some((b, due));
                        break;
                    }
                }
            }
        }
        if syncs_owed > 0 && !e.sync_busy && r.error.is_none() {
            e.queue_sync(sync_file);
            if let Some(t) = tracker.as_mut() {
                t.sync_issued();
            }
            syncs_owed -= 1;
        }
        e.flush(&mut stats)?;
        if e.in_flight() == 0 {
            if let Some((b, at)) = think_due.take() {
                // Everything issued has completed: think, then go on issuing.
                if !stopping {
                    think_stall(think, stop, deadline);
                }
                (last_think_b, last_think_at) = (b, at);
                continue;
            }
            if (stopping || exhausted)
                && pending.is_none()
                && (syncs_owed == 0 || r.error.is_some())
            {
                break;
            }
            if let Some(t) = wait_until {
                std::thread::sleep(
                    t.saturating_duration_since(Stamp::now())
                        .min(Duration::from_millis(50)),
                );
            }
            continue;
        }
        let timeout = wait_until.map_or(Duration::from_millis(100), |t| {
            t.saturating_duration_since(now)
                .min(Duration::from_millis(50))
        });
        let min = if wait_until.is_some() {
            1
        } else {
            spec.batch_complete_min as usize
        };
        let tc = e.reap(min, max_reap, timeout)?;
        let mut counts = [(0u64, 0u64); DIRS];
        for (s, result) in e.done.drain(..) {
            let s = s as usize;
            let slot = e.slots[s];
            if slot.kind == Dir::Read as usize || slot.kind == Dir::Write as usize {
                done_rw += 1;
                if let Ok(n) = &result {
                    rw_done[slot.kind].0 += *n as u64;
                    rw_done[slot.kind].1 += 1;
                }
            }
            let st = &mut stats[slot.kind];
            match &result {
                Ok(n) => {
                    st.ios += 1;
                    st.bytes += *n as u64;
                    if slot.kind != SYNC && (*n as u64) < slot.len {
                        st.short_ios += 1;
                    }
                    if slot.kind != SYNC {
                        counts[slot.kind].0 += 1;
                        counts[slot.kind].1 += *n as u64;
                    }
                }
                Err(err)
                    if spec.fill_device
                        && slot.kind == Dir::Write as usize
                        && matches!(err.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) =>
                {
                    // fio's fill_device: full is the end of the job, not an error.
                    stopping = true;
                }
                Err(err)
                    if err.raw_os_error().is_some_and(|errno| {
                        spec.continues_on(
                            crate::spec::error_type(slot.kind == Dir::Read as usize, errno),
                            errno,
                        )
                    }) =>
                {
                    // fio's non-fatal error: counted, and the job goes on.
                    r.total_err += 1;
                    r.first_error = r.first_error.or(err.raw_os_error());
                }
                Err(err) => {
                    if r.error.is_none() {
                        let t = &e.targets[slot.file];
                        r.error = Some(match slot.kind {
                            SYNC => format!("sync of {} failed: {err}", t.file.path().display()),
                            k => format!(
                                "{} of {} bytes at offset {} of {} failed: {err}",
                                ["read", "write", "trim"][k],
                                slot.len,
                                t.base + slot.off,
                                t.file.path().display()
                            ),
                        });
                    }
                    stopping = true;
                }
            }
            record_lat(spec, st, tc, slot.t0, slot.t1);
            if let Some(l) = e
                .prio_lat
                .get_mut(slot.kind)
                .and_then(|v| v.get_mut(slot.prio as usize))
            {
                // fio's clat_prio: clat, or lat with lat_percentiles.
                l.record(ns(tc.duration_since(if spec.pcts.lat {
                    slot.t0
                } else {
                    slot.t1
                })));
            }
            if let (Some(l), 0 | 1, Ok(n)) = (e.logs.as_mut(), slot.kind, &result) {
                l.completed(
                    tc,
                    ns(tc.duration_since(slot.t1)),
                    ns(tc.duration_since(slot.t0)),
                    slot.kind as u8,
                    e.targets[slot.file].base + slot.off,
                    *n as u64,
                    slot.ioprio,
                );
            }
            if slot.kind == Dir::Read as usize || slot.kind == Dir::Write as usize {
                let lat_ns = ns(tc.duration_since(slot.t0));
                if spec.max_latency.is_some_and(|m| lat_ns > ns(m)) && r.error.is_none() {
                    // fio's lat_fatal.
                    r.error = Some(format!(
                        "latency of {lat_ns} nsec exceeds max_latency ({} nsec) (ETIMEDOUT)",
                        ns(spec.max_latency.unwrap_or_default())
                    ));
                    stopping = true;
                }
                if let Some(l) = lat.as_mut().filter(|_| !ramping) {
                    match l.completed(slot.t0, lat_ns, done_rw) {
                        Ok(latency::Step::Drain) => {
                            rate_hold = Some(Stamp::now());
                            flow_held = true;
                        }
                        Ok(_) => {}
                        Err(msg) => {
                            r.error.get_or_insert(format!("{msg} (ETIMEDOUT)"));
                            stopping = true;
                        }
                    }
                }
            }
            if slot.kind == SYNC {
                e.sync_busy = false;
                if let (Some(t), true) = (tracker.as_mut(), result.is_ok()) {
                    t.sync_completed()?;
                }
            } else {
                if slot.kind == Dir::Write as usize {
                    if let (Some(t), true) = (tracker.as_mut(), result.is_ok()) {
                        t.completed(slot.seq);
                    }
                    gens[slot.file].set_in_flight(slot.off, slot.len, false);
                    if backlog_every.is_some() && result.is_ok() {
                        let unit = gens[slot.file].unit();
                        backlog.extend(
                            (slot.off / unit..(slot.off + slot.len) / unit).map(|b| (slot.file, b)),
                        );
                    }
                }
                e.free.push(s as u32);
            }
        }
        for (d, (ios, bytes)) in counts.iter().enumerate() {
            if *ios > 0 {
                // The job thread is the only writer: a load and a store, no locked
                // read-modify-write per reap. Relaxed: progress counters order nothing.
                let (i, b) = (&progress.ios[d], &progress.bytes[d]);
                i.store(i.load(Ordering::Relaxed) + ios, Ordering::Relaxed);
                b.store(b.load(Ordering::Relaxed) + bytes, Ordering::Relaxed);
            }
        }
        last_done = tc;
        // fio's latency-target search: a window's verdict.
        if let (Some(l), false) = (lat.as_mut(), ramping || stopping) {
            match l.check(done_rw) {
                latency::Step::Nothing => {}
                latency::Step::Drain => {
                    rate_hold = Some(Stamp::now());
                    flow_held = true;
                }
                latency::Step::FinalRun => {
                    rate_hold = Some(Stamp::now());
                    flow_held = true;
                    lat_reset = true;
                }
                latency::Step::Done => exhausted = true,
            }
        }
        // fio's rate_min / rate_iops_min: a cycle below the floor ends the job with an error.
        if let (Some(rt), false) = (rate.as_mut(), stopping) {
            if let Some(msg) = rt.below_min(rw_done, tc) {
                r.error.get_or_insert(format!("job {}: {msg}", spec.name));
                stopping = true;
            }
        }
    }
    let usage = ThreadUsage::now().since(&cpu0);
    r.usr = usage.usr;
    r.sys = usage.sys;
    r.usage = usage;
    r.depths = std::mem::take(&mut e.depths);
    r.latency_depth = lat.as_ref().map(|l| l.qd);
    r.samples = samples;
    r.runtime = if ramping {
        Duration::ZERO
    } else {
        last_done.max(phase_start).duration_since(phase_start)
    };
    if ramping {
        stats = std::array::from_fn(|_| DirStats::new());
    }
    r.stats = stats;
    r.dir_runtime = [r.runtime; DIRS];
    if !ramping {
        // Per priority: (ioprio, latency) in the table's order.
        r.prio_lat = [0, 1].map(|d| {
            e.prios.table[d]
                .iter()
                .copied()
                .zip(std::mem::take(&mut e.prio_lat[d]))
                .collect()
        });
    }
    if backlog_every.is_some() {
        // What the backlog rounds found; the verify phase adds the rest.
        r.verify = Some(backlog_found);
    }
    if let Some(t) = tracker {
        // fio keeps the state only for a job that stopped during its write phase.
        if !r.interrupted && r.error.is_none() {
            t.finish();
        } else if let Err(err) = t.stopped() {
            r.error.get_or_insert(format!("{err:#}"));
        }
    }
    match &r.error {
        Some(err) => Err(anyhow!("{err}")),
        None => Ok(()),
    }
}
