//! Runs one job on the calling thread with its own engine `LocalContext` (single issuer: the
//! job thread submits and reaps): places the thread, waits for the group's start, runs the
//! write phase ([`main_phase`](crate::run::main_phase): fio's batching, rate cap, ramp,
//! periodic syncs and stop conditions) once per loop, then the verify phase, then writes the
//! logs.
//!
//! Buffers: one `BufPool` of `iodepth` buffers of the largest block size, registered with the
//! context (io_uring fixed buffers) and held by the job for its whole life; in-flight slot `i`
//! uses buffer `i`, so an I/O of any size up to the largest is a raw request into that memory
//! ([`issuer`](crate::run::issuer)). Nothing is allocated per I/O.

use crate::run::clock::Stamp;
use crate::run::control::{Progress, Stop};
use crate::run::issuer::{Issuer, Target};
use crate::run::main_phase::main_phase;
use crate::run::outcome::{Depths, JobResult, Samples, ThreadUsage, DIRS};
use crate::run::verify_phase::{merge_results, verify_phase};
use crate::run::workload::{Dir, FileService, Generator};
use crate::run::{cpu, flow, logs, prio, state};
use crate::spec::{ErrorType, JobSpec};
use crate::stats::DirStats;
use anyhow::{Context as _, Result};
use diorite::DirectFile;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// The seed of clone `index` of a job.
pub fn job_seed(spec: &JobSpec, index: u32) -> u64 {
    let o = &spec.offsets;
    let base = if o.allrandrepeat {
        crate::spec::DEFAULT_RANDSEED
    } else if o.randrepeat || o.randseed_set {
        o.randseed
    } else {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    };
    base ^ u64::from(index + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// What a job thread is given to run its job.
pub struct JobInput<'a> {
    pub spec: &'a JobSpec,
    pub name: String,
    pub groupid: u32,
    pub seed: u64,
    pub targets: &'a [Target],
    pub progress: &'a Progress,
    pub stop: Stop<'a>,
    /// Where the jobs of a group wait for each other before they start.
    pub start: &'a Barrier,
    /// `wait_for`: returns once the job may start its I/O.
    pub gate: &'a dyn Fn(),
    /// The job's flow (`flow_id`), when it has a flow weight.
    pub flow: Option<&'a flow::Flow>,
    /// How what the job had to do before its engine (`create_on_open`) went.
    pub setup: Result<()>,
}

/// Runs one job. Waits at `start` (so jobs of a group start together) whether or not set-up
/// worked; errors end up in the result.
pub fn run_job(job: JobInput<'_>) -> JobResult {
    let JobInput {
        spec,
        name,
        groupid,
        seed,
        targets,
        progress,
        stop,
        start,
        gate,
        flow,
        setup,
    } = job;
    let mut r = fresh_result(spec, name, groupid, targets);
    // fio's CPU options, before the engine starts its threads (they inherit them).
    let placed = place_thread(spec, &mut r);
    if let Err(err) = setup {
        // What the job had to do before its engine (create_on_open) failed: it ends here,
        // after its group's start, with that error.
        start.wait();
        r.error = Some(crate::errors::chain(err.as_ref()));
        return r;
    }
    let max_bs = spec.bs.max() as usize;
    let engine = Issuer::new(spec, targets, max_bs, seed);
    // fio's flow: the job counts in its flow from before its group starts to its end — joined
    // before the start barrier, so no job of the flow runs alone while another is still
    // setting up (a job joining late found the first ahead by its whole head start).
    let mut flow = flow.map(|f| flow::FlowJob::join(f, spec.pacing.flow));
    start.wait();
    wait_to_start(spec, gate, stop);
    match placed {
        Ok((cpus, nice)) => (r.cpus, r.nice) = (cpus, nice),
        Err(err) => {
            r.error = Some(crate::errors::chain(err.as_ref()));
            return r;
        }
    }
    let mut e = match engine {
        Ok(e) => e,
        Err(err) => {
            r.error = Some(crate::errors::chain(err.as_ref()));
            return r;
        }
    };
    (r.backend, r.backend_report, r.skipped) = e.describe();
    let verifying = spec.verify || spec.verify_only;
    let shape = writer_shape(spec);
    let mut gens = generators(shape.as_ref().unwrap_or(spec), targets, verifying, seed);
    // fio's file_service_type: the same sequence of files for the run and its replays.
    let lens: Vec<u64> = targets.iter().map(|t| t.len).collect();
    let mut files = FileService::new(spec, lens, seed);
    // fio's unlink_each_loop: one pass of the job per loop, on new files each time.
    let apart = spec.files.unlink_each_loop && !spec.time_based;
    let io_limit = io_limit(spec, targets, apart);
    // The job's deadline (fio's `runtime`, after the ramp): the verify phase stops there too.
    let deadline = spec
        .runtime
        .and_then(|d| Instant::now().checked_add(spec.ramp_time + d));
    // verify_state_load: which blocks the saved state vouches for (1), and which a write not
    // known durable may have touched (2); 0: never written.
    let mut known: Option<Vec<Vec<u8>>> = None;
    let result = if spec.verify_only && spec.verification.verify_state_load {
        state::State::load(&state::path(
            spec.verification.aux_path.as_deref(),
            &spec.name,
            0,
        ))
        .map(|st| {
            known = Some(replay_state(&mut gens, &mut files, io_limit, &st));
        })
    } else if spec.verify_only {
        replay(&mut gens, &mut files, io_limit);
        Ok(())
    } else {
        let run = Writing {
            spec,
            targets,
            seed,
            progress,
            stop,
            deadline,
            io_limit,
        };
        if spec.invalidate {
            invalidate(spec, targets);
        }
        if spec.verify && spec.loops > 1 {
            run.verify_loops(&mut e, &mut gens, (&mut files, flow.as_mut()), &mut r)
        } else if apart {
            run.apart_loops(&mut e, &mut gens, (&mut files, flow.as_mut()), &mut r)
        } else {
            let pace = (&mut files, flow.as_mut());
            main_phase(
                &mut e,
                &mut gens,
                pace,
                &mut r,
                (io_limit, seed),
                progress,
                stop,
            )
        }
    };
    if let Err(err) = result {
        r.error = Some(crate::errors::chain(err.as_ref()));
    }
    if verifying && r.error.is_none() && !r.interrupted && !r.terminated {
        verify_now(spec, targets);
        verify_part(
            &mut e,
            &gens,
            (seed, stop, deadline),
            &mut r,
            known.as_deref(),
        );
    }
    if let Some(w) = e.crash.as_ref().filter(|_| r.error.is_none()) {
        // Once the job's I/O is done: nothing more is recorded.
        let files: Vec<&std::path::Path> = targets.iter().map(|t| t.file.path()).collect();
        match crate::run::crash::check(spec, &files, w, seed) {
            Ok(c) => r.crash = Some(c),
            Err(err) => r.error = Some(format!("crash: {}", crate::errors::chain(err.as_ref()))),
        }
    }
    if let Some(mut l) = e.logs.take() {
        l.finish(Stamp::now());
        let finished = l.into_finished(spec);
        if spec.logs.to_client {
            r.logs = finished;
        } else if let Err(err) = logs::write_files(&finished, "") {
            r.error.get_or_insert(crate::errors::chain(err.as_ref()));
        }
    }
    if let Err(err) = e.close() {
        r.error.get_or_insert(crate::errors::chain(&err));
    }
    r
}

/// A reading job with verify replays the writer its region had: the same order of blocks,
/// each once (`settle::do_verify`). The writer's spec, for such a job.
fn writer_shape(spec: &JobSpec) -> Option<JobSpec> {
    spec.read_verify.then(|| {
        let mut w = spec.clone();
        w.rw = if spec.rw == crate::spec::Rw::RandRead {
            crate::spec::Rw::RandWrite
        } else {
            crate::spec::Rw::Write
        };
        w
    })
}

/// How many bytes the job's write phase moves (`apart`: per `unlink_each_loop` pass).
fn io_limit(spec: &JobSpec, targets: &[Target], apart: bool) -> u64 {
    if spec.time_based {
        u64::MAX
    } else {
        // fio's `loops` repeats the job's I/O amount.
        spec.io_size
            .unwrap_or_else(|| targets.iter().map(|t| t.len).sum())
            .saturating_mul(if apart { 1 } else { u64::from(spec.loops) })
    }
}

/// The write phase of a job that loops: what every loop shares.
struct Writing<'a> {
    spec: &'a JobSpec,
    targets: &'a [Target],
    seed: u64,
    progress: &'a Progress,
    stop: Stop<'a>,
    deadline: Option<Instant>,
    io_limit: u64,
}

type Pace<'f, 'g> = (&'f mut FileService, Option<&'f mut flow::FlowJob<'g>>);

impl Writing<'_> {
    /// fio: a verify job writes and verifies each loop in turn (the last loop's verify is the
    /// one after the write phase).
    fn verify_loops(
        &self,
        e: &mut Issuer<'_>,
        gens: &mut [Generator],
        (files, mut flow): Pace<'_, '_>,
        r: &mut JobResult,
    ) -> Result<()> {
        let spec = self.spec;
        let per_loop = (self.io_limit / u64::from(spec.loops), self.seed);
        let mut res = Ok(());
        for i in 0..spec.loops {
            let before = (i > 0).then(|| r.clone());
            // What earlier loops' verify passes found (a backlog's round sets its own).
            let found = r.verify.take();
            let pace = (&mut *files, flow.as_deref_mut());
            res = main_phase(e, gens, pace, r, per_loop, self.progress, self.stop);
            if let Some(b) = before {
                add_loop(r, b);
            }
            match (r.verify.as_mut(), found) {
                (Some(v), Some(f)) => merge_results(v, f),
                (None, f) => r.verify = f,
                _ => {}
            }
            let last = i + 1 == spec.loops;
            if last || res.is_err() || r.error.is_some() || r.interrupted || r.terminated {
                break;
            }
            verify_now(spec, self.targets);
            verify_part(e, gens, (self.seed, self.stop, self.deadline), r, None);
            if r.error.is_some() || r.interrupted {
                break;
            }
        }
        res
    }

    /// fio's `unlink_each_loop`: before every loop after the first, the files are deleted and
    /// the loop runs on new ones (the last loop's stay).
    fn apart_loops(
        &self,
        e: &mut Issuer<'_>,
        gens: &mut [Generator],
        (files, mut flow): Pace<'_, '_>,
        r: &mut JobResult,
    ) -> Result<()> {
        let io = (self.io_limit, self.seed);
        let pace = (files, flow.as_deref_mut());
        let mut res = main_phase(e, gens, pace, r, io, self.progress, self.stop);
        for _ in 1..self.spec.loops {
            if res.is_err() || r.error.is_some() || r.interrupted || r.terminated {
                break;
            }
            let _ = e.close();
            let logs = &mut e.logs;
            res = unlink_files(self.targets).and_then(|()| {
                let ctl = (self.progress, self.stop, logs);
                next_loop(
                    self.spec,
                    self.targets,
                    self.seed,
                    r,
                    ctl,
                    flow.as_deref_mut(),
                )
            });
        }
        res
    }
}

/// A job's result before it runs: nothing measured yet, its targets described.
fn fresh_result(spec: &JobSpec, name: String, groupid: u32, targets: &[Target]) -> JobResult {
    JobResult {
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
        crash: None,
        logs: Vec::new(),
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
    }
}

/// fio's CPU options (`cpus_allowed`, `nice`), the job's I/O priority and `numa_mem_policy`
/// applied to the job thread; returns the CPUs and nice value the kernel then reports.
fn place_thread(spec: &JobSpec, r: &mut JobResult) -> Result<(Vec<usize>, i32)> {
    let cpus = spec
        .placement
        .cpus
        .as_ref()
        .map(|set| cpu::for_job(set, spec.placement.cpus_split, spec.job_number));
    cpu::apply(cpus.as_deref(), spec.placement.nice)
        .and_then(|placed| {
            prio::set_thread(spec.default_prio().map(|(c, l)| (c, l, 0))).map(|()| placed)
        })
        .and_then(|placed| {
            // fio's numa_mem_policy, before the engine allocates the job's buffers.
            r.mem_policy = spec
                .placement
                .mem_policy
                .map(cpu::apply_mem_policy)
                .transpose()?;
            Ok(placed)
        })
}

/// fio's `startdelay`: the job starts this long after its group starts (a stop cuts it short)
/// — and, with `wait_for`, not before the job it waits for has finished: the two conditions
/// are independent, as fio checks both against the run's start.
fn wait_to_start(spec: &JobSpec, gate: &dyn Fn(), stop: Stop<'_>) {
    let delay_end = Instant::now() + spec.startdelay;
    gate();
    while Instant::now() < delay_end && !stop.any() {
        std::thread::sleep(
            delay_end
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50)),
        );
    }
}

/// The verify phase after the writes: its findings join those of the backlog rounds.
fn verify_part(
    e: &mut Issuer<'_>,
    gens: &[Generator],
    (seed, stop, deadline): (u64, Stop<'_>, Option<Instant>),
    r: &mut JobResult,
    known: Option<&[Vec<u8>]>,
) {
    let t0 = Instant::now();
    let res = verify_phase(e, gens, seed, stop, deadline, &mut r.stats, known);
    let took = t0.elapsed();
    r.dir_runtime[Dir::Read as usize] += took;
    r.runtime += took;
    match res {
        Ok((mut v, interrupted)) => {
            if let Some(during) = r.verify.take() {
                merge_results(&mut v, during);
            }
            if v.errors > 0 && r.spec.continues_on(ErrorType::Verify, libc::EILSEQ) {
                // continue_on_error=verify: verify errors are counted, not fatal.
                r.total_err += v.errors;
                r.first_error = r.first_error.or(Some(libc::EILSEQ));
            }
            r.verify = Some(v);
            r.interrupted |= interrupted;
        }
        Err(err) => r.error = Some(format!("verify: {}", crate::errors::chain(err.as_ref()))),
    }
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
            .dontcache(t.file.is_dontcache())
            .sync(spec.sync_io)
            .open(path)
            .with_context(|| format!("unlink_each_loop: creating {}", path.display()))?;
        crate::run::layout::preallocate(path, t.base, t.base + t.len, spec.files.fallocate)?;
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
    if spec.invalidate {
        invalidate(spec, &targets);
    }
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

/// fio's do_verify before it reads: every file synced and its cache dropped, whatever
/// `invalidate` says, so the checks read the device (neither is measured).
fn verify_now(spec: &JobSpec, targets: &[Target]) {
    if spec.rw.writes() && !spec.is_null() {
        for t in targets {
            let _ = t.file.sync_all();
        }
    }
    invalidate(spec, targets);
}

/// fio's `invalidate` (on by default): each file's cached pages of the job's region are
/// dropped ([`DirectFile::drop_cache`]), so buffered reads go to the device. A failure (a
/// block device without `CAP_SYS_ADMIN`) is said and the job goes on, as fio: "cache flushing
/// isn't a fatal condition". The null engine touches no file.
fn invalidate(spec: &JobSpec, targets: &[Target]) {
    if spec.is_null() {
        return;
    }
    for t in targets {
        if let Err(e) = t.file.drop_cache(t.base, t.len) {
            eprintln!(
                "diorite: cache invalidation of {} failed: {e}",
                t.file.path().display()
            );
        }
    }
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
