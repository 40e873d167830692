//! `diorite server`: fio's server side of its client/server protocol (version 97, fio 3.33;
//! version 120, fio 3.42), so `fio --client=HOST job.fio` runs the job here, through the same planner, runner and
//! statistics as `diorite bench`, and prints the results as fio's own servers' results.
//!
//! One connection is one session: PROBE is answered with this host; JOB (a job file) or
//! JOBLINE (command-line options) is parsed, checked — every path the job would create or
//! write must lie under an `--allow` prefix (default: the server's scratch directory, its
//! working directory) — and answered with START; RUN runs it (one run at a time per server:
//! a second client is told the server is busy), answering SEND_ETA meanwhile, then sends each
//! report entry's TS, each group's GS, STOP and QUIT. A client that quits or goes away stops
//! its job. Frames are read with a bounded payload; a bad frame gets a TEXT naming what was
//! wrong where that can be sent, then the connection closes; the server goes on serving.
//! The per-I/O logs go back to the client as IOLOG (zlib-compressed when its PROBE offers it)
//! and are not written here. What fio's client may send and this server does not do is
//! refused by name (TEXT, QUIT): LOAD_FILE, VTRIGGER, SENDFILE, UPDATE_JOB, EXIT.

use super::conn::Conn;
use super::frame::{self, op, Frame, FrameError};
use super::layout::{self, Layout};
use super::{wire, Addr};
use crate::job::{self, Plan};
use crate::report;
use crate::schedule::STOP;
use anyhow::{anyhow, bail, Context as _, Result};
use std::io;
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the server runs.
#[derive(Clone, Debug)]
pub struct Options {
    pub bind: Addr,
    /// Jobs may create and write only under these (canonical) directories.
    pub allow: Vec<PathBuf>,
    /// The most payload one command may carry (fio allows 2 GiB).
    pub max_payload: usize,
    /// A connection that sends nothing this long before its job runs is closed (while the
    /// job runs, only closing the connection ends the session).
    pub idle: Duration,
}

/// The sending half of a connection: whole commands, one at a time, in the session's
/// protocol version.
#[derive(Clone)]
struct Out {
    conn: Arc<Mutex<Conn>>,
    l: &'static Layout,
}

impl Out {
    fn send(&self, opcode: u16, tag: u64, payload: &[u8]) -> io::Result<()> {
        let mut c = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        frame::write(&mut *c, self.l.version, opcode, tag, payload)
    }
    /// An error line for the client's log, then QUIT (the client then ends the session).
    fn refuse(&self, why: &str) {
        let _ = self.send(
            op::TEXT,
            0,
            &wire::text(self.l, 1, &format!("diorite server: {why}\n")),
        );
        let _ = self.send(op::QUIT, 0, &[]);
    }
}

/// What every session shares: the options, and the one run at a time.
struct Shared {
    opts: Options,
    run: Mutex<()>,
    jobs: AtomicU64,
}

/// Listens and serves until the process ends. `ready` is told the address listened on.
pub fn serve(opts: Options, ready: impl FnOnce(&str)) -> Result<()> {
    let shared = Arc::new(Shared {
        opts: opts.clone(),
        run: Mutex::new(()),
        jobs: AtomicU64::new(0),
    });
    match &opts.bind {
        Addr::Tcp(a) => {
            let l = TcpListener::bind(a).with_context(|| format!("binding {}", opts.bind))?;
            let at = l.local_addr()?;
            ready(&Addr::Tcp(at).to_string());
            for c in l.incoming() {
                match c {
                    Ok(s) => spawn(&shared, Conn::Tcp(s)),
                    Err(e) => eprintln!("diorite server: accept: {e}"),
                }
            }
        }
        Addr::Unix(p) => {
            let l = UnixListener::bind(p).with_context(|| format!("binding {}", opts.bind))?;
            ready(&opts.bind.to_string());
            for c in l.incoming() {
                match c {
                    Ok(s) => spawn(&shared, Conn::Unix(s)),
                    Err(e) => eprintln!("diorite server: accept: {e}"),
                }
            }
        }
    }
    Ok(())
}

fn spawn(shared: &Arc<Shared>, conn: Conn) {
    let shared = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("diorite-session".into())
        .spawn(move || {
            if let Err(e) = session(&shared, conn) {
                eprintln!("diorite server: session: {e:#}");
            }
        });
    if let Err(e) = spawned {
        eprintln!("diorite server: cannot start a session thread: {e}");
    }
}

/// A session's job: the client's command-line options (fio's client sends its own flags, such
/// as `--output-format`, as a JOBLINE before the job file), then the plan once a job came.
#[derive(Default)]
struct Ready {
    head: Vec<String>,
    plan: Option<Plan>,
    /// Once RUN came: how many jobs, since when.
    started: Option<(u32, std::time::Instant)>,
    /// The client's PROBE offered zlib: the logs go compressed.
    zlib: bool,
}

fn session(shared: &Arc<Shared>, conn: Conn) -> Result<()> {
    conn.set_read_timeout(Some(shared.opts.idle))?;
    let writer = Arc::new(Mutex::new(conn.try_clone()?));
    let mut input = conn;
    // The first command's version decides the session's layouts.
    let first = match frame::read(&mut input, None, shared.opts.max_payload) {
        Ok(f) => f,
        Err(FrameError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
        Err(e) => {
            let out = Out {
                conn: writer,
                l: layout::SUPPORTED[0],
            };
            out.refuse(&e.to_string());
            return Err(anyhow!("{e}"));
        }
    };
    let Some(l) = layout::for_version(first.version) else {
        // Said in the client's own version, so it prints it (the text and quit commands are
        // the same in every version).
        let why = format!(
            "diorite server: this client speaks fio protocol {}; this server speaks {}\n",
            first.version,
            layout::supported_names()
        );
        let mut c = writer.lock().unwrap_or_else(|e| e.into_inner());
        let text = wire::text(layout::SUPPORTED[0], 1, &why);
        let _ = frame::write(&mut *c, first.version, op::TEXT, 0, &text);
        let _ = frame::write(&mut *c, first.version, op::QUIT, 0, &[]);
        return Err(anyhow!("{}", why.trim_end()));
    };
    let out = Out { conn: writer, l };
    let mut ready = Ready::default();
    let mut running: Option<std::thread::JoinHandle<()>> = None;
    let mut next = Some(first);
    let result = loop {
        let read = match next.take() {
            Some(f) => Ok(f),
            None => frame::read(&mut input, Some(l.version), shared.opts.max_payload),
        };
        let f = match read {
            Ok(f) => f,
            Err(FrameError::Io(e)) => {
                // The client went away (or stayed silent past the idle limit).
                break if matches!(e.kind(), io::ErrorKind::UnexpectedEof) {
                    Ok(())
                } else {
                    Err(anyhow!("connection: {e}"))
                };
            }
            Err(e) => {
                out.refuse(&e.to_string());
                break Err(anyhow!("{e}"));
            }
        };
        match handle(shared, &out, f, &mut ready, &mut running) {
            Ok(true) if running.is_some() => {
                // While its job runs a client may say nothing (fio's `--eta=never` asks for no
                // ETA): it leaves by closing the connection, not by silence.
                input.set_read_timeout(None)?;
            }
            Ok(true) => {}
            Ok(false) => break Ok(()),
            Err(e) => {
                out.refuse(&format!("{e:#}"));
                break Err(e);
            }
        }
    };
    if let Some(h) = running.take() {
        // A client that quits or goes away stops its job (fio's behaviour).
        if !h.is_finished() {
            STOP.store(true, Ordering::Relaxed);
        }
        let _ = h.join();
    }
    input.shutdown();
    result
}

/// One command. `Ok(false)` ends the session.
fn handle(
    shared: &Arc<Shared>,
    out: &Out,
    f: Frame,
    ready: &mut Ready,
    running: &mut Option<std::thread::JoinHandle<()>>,
) -> Result<bool> {
    match f.opcode {
        op::PROBE => {
            // fio's client offers zlib for the logs (`FIO_PROBE_FLAG_ZLIB`); taken when offered.
            ready.zlib = f.payload.first().is_some_and(|b| b & 1 != 0);
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
            let reply = wire::probe_reply(out.l, &hostname(), concat!("diorite-", env!("CARGO_PKG_VERSION")), cpus, ready.zlib);
            out.send(op::PROBE, f.tag, &reply)?;
        }
        op::JOB | op::JOBLINE => {
            if ready.plan.is_some() || running.is_some() {
                bail!("one job file or command line per session");
            }
            let n = shared.jobs.fetch_add(1, Ordering::Relaxed);
            // The job file's text is saved for the parser (which reads job files by name, and
            // their includes beside them) and removed once parsed.
            let mut saved: Option<PathBuf> = None;
            let args = if f.opcode == op::JOB {
                let text = wire::job_text(out.l, &f.payload).ok_or_else(|| anyhow!("JOB: malformed payload"))?;
                let path = PathBuf::from(format!("diorite-server-job-{}-{n}.fio", std::process::id()));
                std::fs::write(&path, text).context("saving the job file")?;
                saved = Some(path.clone());
                let mut a = ready.head.clone();
                a.push(path.display().to_string());
                a
            } else {
                let mut a = wire::command_line(out.l, &f.payload).ok_or_else(|| anyhow!("JOBLINE: malformed payload"))?;
                if a.first().is_some_and(|a0| !a0.starts_with('-')) {
                    a.remove(0); // the client's program name
                }
                a
            };
            if f.opcode == op::JOBLINE && !args.iter().any(|a| a.starts_with("--name")) {
                // The client's own flags, no job yet: kept for the job file (fio's server
                // answers with START for no jobs).
                job::parse_args(&args)?;
                ready.head = args;
                out.send(op::START, 0, &wire::start(out.l, 0, 0))?;
                return Ok(true);
            }
            let checked = check(&shared.opts, &args);
            if let Some(p) = saved {
                let _ = std::fs::remove_file(p);
            }
            let plan = checked?;
            // fio's server logs each job as it is added (the client prints them), in the normal
            // output format.
            let normal = plan.globals.formats.contains(&crate::spec::OutputFormat::Normal);
            for (j, (group, _)) in plan
                .jobs
                .iter()
                .zip(crate::plan::groups(&plan))
                .filter(|_| normal)
            {
                let mut line = wire::added_job(j, group);
                if j.numjobs > 1 {
                    line.push_str("...\n");
                }
                out.send(op::TEXT, 0, &wire::text(out.l, 0, &line))?;
            }
            // fio's server announces each job clone as it is added (ADD_JOB).
            let mut number = 0;
            for (j, (group, _)) in plan.jobs.iter().zip(crate::plan::groups(&plan)) {
                for _ in 0..j.numjobs {
                    number += 1;
                    out.send(op::ADD_JOB, 0, &wire::add_job(out.l, number, group))?;
                }
            }
            let jobs: u32 = plan.jobs.iter().map(|j| j.numjobs).sum();
            let outputs = stat_outputs(&plan);
            out.send(op::START, 0, &wire::start(out.l, jobs, outputs))?;
            ready.plan = Some(plan);
        }
        op::SEND_ETA => {
            let (n, secs) = match (&*running, ready.started) {
                (Some(h), Some((n, t0))) if !h.is_finished() => (n, t0.elapsed().as_secs()),
                _ => (0, 0),
            };
            out.send(op::ETA, f.tag, &wire::eta(out.l, n, secs))?;
        }
        op::RUN => {
            let Some(plan) = ready.plan.take() else {
                bail!("RUN before a job was sent");
            };
            let n = plan.jobs.iter().map(|j| j.numjobs).sum();
            ready.started = Some((n, std::time::Instant::now()));
            let (out, shared, zlib) = (out.clone(), shared.clone(), ready.zlib);
            *running = Some(std::thread::spawn(move || {
                // One run at a time: a second client is told, not queued behind an unknown wait.
                let Ok(_run) = shared.run.try_lock() else {
                    let _ = out.send(op::TEXT, 0, &wire::text(out.l, 1, "diorite server: busy with another client's job; try again later\n"));
                    let _ = out.send(op::STOP, 0, &wire::end(out.l, libc::EBUSY as u32, 0));
                    let _ = out.send(op::QUIT, 0, &[]);
                    return;
                };
                run(&plan, &out, zlib);
            }));
        }
        op::QUIT => return Ok(false),
        op::EXIT => {
            out.send(op::TEXT, 0, &wire::text(out.l, 1, "diorite server: EXIT is refused: a client does not stop this server\n"))?;
        }
        other => bail!(
            "{} is not supported by this server (it runs jobs from JOB or JOBLINE and reports them)",
            op::name(other)
        ),
    }
    Ok(true)
}

/// Parses and checks a job as `diorite bench` would (every option, every rule), then checks
/// every path it would create or write against the allowed prefixes.
fn check(opts: &Options, args: &[String]) -> Result<Plan> {
    let mut plan = job::parse_args(args)?;
    if plan.default_job {
        bail!("no job given: send a job file or options with --name");
    }
    if plan.globals.show.is_some() || plan.globals.parse_only {
        bail!("--cmdhelp, --enghelp, --version and --parse-only are local options");
    }
    job::settle::check(&plan)?;
    // The per-I/O logs go back to the client (IOLOG), as fio's server sends them: none is
    // written here.
    for j in &mut plan.jobs {
        j.send_logs_to_client();
    }
    let here = std::env::current_dir()?;
    for p in crate::plan::written_paths(&plan)? {
        let abs = normalize(&here.join(&p));
        let real = canonical_prefix(&abs);
        if !opts.allow.iter().any(|a| real.starts_with(a)) {
            bail!(
                "path {} is outside what this server allows ({}); nothing was created",
                p.display(),
                opts.allow
                    .iter()
                    .map(|a| a.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(plan)
}

/// `..` and `.` resolved lexically.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// The path with its longest existing prefix resolved through symbolic links (a link out of
/// an allowed directory does not count as inside it).
fn canonical_prefix(p: &Path) -> PathBuf {
    let mut head = p.to_path_buf();
    let mut tail = Vec::new();
    loop {
        if let Ok(c) = head.canonicalize() {
            let mut r = c;
            for t in tail.iter().rev() {
                r.push(t);
            }
            return r;
        }
        match (head.file_name().map(|n| n.to_owned()), head.parent()) {
            (Some(n), Some(parent)) => {
                tail.push(n);
                head = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// How many TS commands the run will send: one per job clone, or per group with
/// `group_reporting` (fio's `stat_number`).
fn stat_outputs(plan: &Plan) -> u32 {
    if plan.globals.group_reporting {
        let mut g: Vec<u32> = crate::plan::groups(plan).into_iter().map(|x| x.0).collect();
        g.dedup();
        g.len() as u32
    } else {
        plan.jobs.iter().map(|j| j.numjobs).sum()
    }
}

/// Runs the plan and sends what it measured: each job's logs (IOLOG), TS per report entry, GS
/// per group, STOP, QUIT.
fn run(plan: &Plan, out: &Out, zlib: bool) {
    STOP.store(false, Ordering::Relaxed);
    let _ = out.send(op::SERVER_START, 0, &[]);
    if plan
        .globals
        .formats
        .contains(&crate::spec::OutputFormat::Normal)
    {
        let n: u32 = plan.jobs.iter().map(|j| j.numjobs).sum();
        let s = if n == 1 { "" } else { "s" };
        let line = format!("Starting {n} thread{s}\n");
        let _ = out.send(op::TEXT, 0, &wire::text(out.l, 0, &line));
    }
    let (results, disks) = match crate::schedule::execute(plan) {
        Ok(r) => r,
        Err(e) => {
            let _ = out.send(
                op::TEXT,
                0,
                &wire::text(out.l, 1, &format!("diorite server: {e:#}\n")),
            );
            let _ = out.send(op::STOP, 0, &wire::end(out.l, 1, 0));
            let _ = out.send(op::QUIT, 0, &[]);
            return;
        }
    };
    for r in &results {
        for log in &r.logs {
            let payload = super::iolog::encode(out.l, log, r.spec.job_number, zlib);
            let _ = out.send(op::IOLOG, 0, &payload);
        }
    }
    let views = report::views(&results, plan.globals.group_reporting);
    // The options as given, for the client's JSON (fio sends them before the stats).
    for (k, val) in &plan.globals.global_options {
        let _ = out.send(op::JOB_OPT, 0, &wire::job_option(out.l, None, k, val));
    }
    for v in &views {
        let tn = v.results[0].spec.job_number;
        for (k, val) in &v.results[0].spec.given {
            let _ = out.send(
                op::JOB_OPT,
                0,
                &wire::job_option(out.l, Some(tn - 1), k, val),
            );
        }
        if out
            .send(op::TS, 0, &wire::thread_stats(out.l, v, &views, tn))
            .is_err()
        {
            return;
        }
    }
    let mut groups: Vec<u32> = views.iter().map(|v| v.groupid).collect();
    groups.dedup();
    for g in groups {
        let _ = out.send(op::GS, 0, &wire::group_stats(out.l, &views, g));
    }
    for r in results.iter().filter(|r| r.error.is_some()) {
        let _ = out.send(
            op::TEXT,
            0,
            &wire::text(
                out.l,
                1,
                &format!(
                    "diorite: job {}: {}\n",
                    r.name,
                    r.error.as_deref().unwrap_or("")
                ),
            ),
        );
    }
    let (deltas, wall) = disks.deltas();
    for d in &deltas {
        let _ = out.send(
            op::DU,
            0,
            &wire::disk_util(out.l, d, wall.as_millis() as u64),
        );
    }
    let failed = results.iter().any(|r| r.error.is_some());
    let _ = out.send(op::STOP, 0, &wire::end(out.l, u32::from(failed), 0));
    let _ = out.send(op::QUIT, 0, &[]);
}

fn hostname() -> String {
    let mut b = [0u8; 256];
    // SAFETY: `b` is a valid buffer of the length passed; gethostname NUL-terminates within it
    // or truncates (we stop at the first NUL or the end).
    let r = unsafe { libc::gethostname(b.as_mut_ptr().cast(), b.len()) };
    if r != 0 {
        return "localhost".into();
    }
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..n]).into_owned()
}
