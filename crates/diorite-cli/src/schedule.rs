//! Scheduling a planned run: the phases one after another (a `stonewall` starts one), each
//! phase's jobs on their own threads started together, `wait_for` gates, `exitall`, shared
//! flows, and beside them the progress line, the status reports and the steady-state monitor.
//! Ctrl-C (SIGINT) stops every job, which drains and reports.

use crate::plan::{open_on_start, Prepared};
use crate::report::{self, ProcessCpu, View};
use crate::run::control::{Progress, Stop};
use crate::run::flow::Flow;
use crate::run::outcome::JobResult;
use crate::run::runner::{self, JobInput};
use crate::run::steady::Steady;
use crate::spec::{self, Globals, OutputFormat};
use anyhow::Result;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Set by the SIGINT handler; jobs stop submitting, drain, and report.
pub static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    // Async-signal-safe: one atomic store. Relaxed: jobs poll it; nothing else is published.
    STOP.store(true, Ordering::Relaxed);
}

pub fn install_sigint() {
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

pub fn process_cpu() -> (Duration, Duration) {
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage through a valid pointer; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(ru.ru_utime), tv(ru.ru_stime))
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
        let Some(spec) = p.spec.pacing.steady else {
            continue;
        };
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
                OutputFormat::Normal => text.push_str(&report::text(&views, Some((&cpu, ios)))),
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

/// Draws the progress line until `done`, from the jobs' counters: every `--eta-interval`,
/// and every `--eta-newline` also as a line of its own on standard error (kept, where the
/// bar redraws itself — also when standard error is not a terminal and the bar is hidden).
fn progress_line(
    progress: &[Progress],
    total: Option<Duration>,
    (every, newline): (Duration, Option<Duration>),
    done: &AtomicBool,
) {
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
    let mut next_line = newline.map(|n| start + n);
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(every);
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
                    crate::report::units::human_count((ios - last[d].0) as f64 / dt),
                    (bytes - last[d].1) as f64 / dt / (1 << 20) as f64
                ));
            }
            last[d] = (ios, bytes);
        }
        t_last = now;
        if let Some(at) = next_line.filter(|at| now >= *at) {
            let e = now.duration_since(start).as_secs();
            let line = format!(
                "{:02}:{:02}:{:02} {}",
                e / 3600,
                e / 60 % 60,
                e % 60,
                parts.join(" | ")
            );
            bar.suspend(|| eprintln!("{line}"));
            next_line = newline.map(|n| at + n);
        }
        bar.set_message(parts.join(" | "));
        if total.is_some() {
            bar.set_position(now.duration_since(start).as_millis() as u64);
        } else {
            bar.tick();
        }
    }
    bar.finish_and_clear();
}

/// What every job thread of a run shares: the gates of `wait_for` (clones of each job still
/// running; a waiter starts once its waitee's count is 0), `exitall`, and the flows.
struct Shared<'r> {
    prepared: &'r [Prepared],
    running: Mutex<Vec<u32>>,
    finished: Condvar,
    /// fio's exitall is global: any job giving it turns it on for every job's end.
    exitall: bool,
    /// fio's flows: one shared state per flow_id of the jobs with a flow weight.
    flows: Vec<(u32, Flow)>,
}

/// Runs the planned jobs, phase after phase; returns every clone's result, in order.
pub fn run(plan: &crate::job::Plan, prepared: &[Prepared]) -> Result<Vec<JobResult>> {
    let g = &plan.globals;
    let show_progress = match g.eta {
        spec::Eta::Always => true,
        spec::Eta::Never => false,
        spec::Eta::Auto => g.formats == [OutputFormat::Normal] && std::io::stderr().is_terminal(),
    };
    let nphases = prepared.iter().map(|p| p.phase).max().map_or(0, |g| g + 1);
    let mut running = vec![0u32; plan.jobs.len()];
    for p in prepared {
        running[p.job] += 1;
    }
    let mut flows: Vec<(u32, Flow)> = Vec::new();
    for p in prepared.iter().filter(|p| p.spec.pacing.flow > 0) {
        if !flows.iter().any(|f| f.0 == p.spec.pacing.flow_id) {
            flows.push((p.spec.pacing.flow_id, Flow::default()));
        }
    }
    let shared = Shared {
        prepared,
        running: Mutex::new(running),
        finished: Condvar::new(),
        exitall: prepared.iter().any(|p| p.spec.exitall),
        flows,
    };
    let mut results: Vec<JobResult> = Vec::new();
    for phase in 0..nphases {
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        results.extend(run_phase(phase, g, &shared, show_progress)?);
    }
    Ok(results)
}

/// One phase: its jobs on their own threads, started together, and the threads that watch
/// them (progress line, status reports, steady state).
fn run_phase(
    phase: u32,
    g: &Globals,
    shared: &Shared<'_>,
    show_progress: bool,
) -> Result<Vec<JobResult>> {
    let members: Vec<&Prepared> = shared
        .prepared
        .iter()
        .filter(|p| p.phase == phase)
        .collect();
    let progress: Vec<Progress> = members
        .iter()
        .map(|_| Progress {
            status_every: g.status_interval,
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
    std::thread::scope(|s| {
        let handles: Vec<_> = members
            .iter()
            .zip(&progress)
            .map(|(p, prog)| {
                let start = &start;
                std::thread::Builder::new()
                    .name(format!("job-{}", p.name))
                    .spawn_scoped(s, move || run_one(p, prog, start, shared))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        if show_progress {
            let (progress, done) = (&progress, &done);
            let every = (g.eta_interval, g.eta_newline);
            s.spawn(move || progress_line(progress, total, every, done));
        }
        if let Some(every) = g.status_interval {
            let (progress, done) = (&progress, &done);
            s.spawn(move || status_printer(progress, every, g, done));
        }
        let steady = members
            .iter()
            .any(|p| p.spec.pacing.steady.is_some())
            .then(|| {
                let (members, progress, done) = (&members, &progress, &done);
                let grouped = g.group_reporting;
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
    })
}

/// A job thread: waits at its `wait_for` gate, runs the job, then ends others (`exitall`),
/// unlinks its files (`unlink`) and opens the gates of its waiters.
fn run_one(p: &Prepared, prog: &Progress, start: &Barrier, shared: &Shared<'_>) -> JobResult {
    let (running, finished) = (&shared.running, &shared.finished);
    // wait_for: after the group's start, until the waitee's clones are done (or the run
    // stops).
    let gate = move || {
        if let Some(w) = p.waits_for {
            let mut r = running.lock().unwrap_or_else(|e| e.into_inner());
            while r[w] > 0 && !STOP.load(Ordering::Relaxed) && !p.terminate.load(Ordering::Relaxed)
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
    // create_on_open: the files are made now (an error is the job's).
    let opened = open_on_start(p);
    let targets = match &opened {
        Ok(t) if p.deferred.is_some() => t.as_slice(),
        _ => p.targets.as_slice(),
    };
    let setup = opened
        .as_ref()
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("{}", crate::errors::chain(e.as_ref())));
    let r = runner::run_job(JobInput {
        spec: &p.spec,
        name: p.name.clone(),
        groupid: p.groupid,
        seed: p.seed,
        targets,
        progress: prog,
        stop: Stop {
            run: &STOP,
            job: &p.terminate,
        },
        start,
        gate: &gate,
        flow: shared
            .flows
            .iter()
            .find(|f| p.spec.pacing.flow > 0 && f.0 == p.spec.pacing.flow_id)
            .map(|f| &f.1),
        setup,
    });
    if shared.exitall {
        end_others(shared.prepared, p);
    }
    // fio's unlink: the job's regular files go when it is done (another job still using one
    // keeps its open descriptor, as with fio).
    if p.spec.files.unlink && !p.spec.is_null() {
        for t in &p.targets {
            if !t.file.geometry().is_block_device {
                let _ = std::fs::remove_file(t.file.path());
            }
        }
    }
    running.lock().unwrap_or_else(|e| e.into_inner())[p.job] -= 1;
    finished.notify_all();
    r
}

/// Prepares the plan's targets and runs its jobs (what `diorite server` does with a client's
/// job): every job's result, and what the disks under the targets did meanwhile.
pub fn execute(plan: &crate::job::Plan) -> Result<(Vec<JobResult>, crate::report::disk::Disks)> {
    let (prepared, _temp) = crate::plan::prepare(plan)?;
    let disks = crate::report::disk::Disks::snapshot(
        prepared
            .iter()
            .flat_map(|p| p.targets.iter().map(|t| t.file.path())),
    );
    Ok((run(plan, &prepared)?, disks))
}
