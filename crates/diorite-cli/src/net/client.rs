//! `diorite bench --client`: the client side of fio's protocol. Each host — a `diorite server`
//! or an unmodified `fio --server` — gets its job file, runs it, and sends back its results as
//! fio's `thread_stat`s; diorite prints every host and "All clients" through its own report
//! (normal, JSON, terse), as fio's client prints them through fio's.
//!
//! Command line, as fio's: `--client=ADDR JOBFILE [--client=ADDR JOBFILE ...]`, or
//! `--client=HOSTS_FILE JOBFILE` (one address per line, `#` comments); a host given without a
//! job file takes the last one given. `--output-format` applies to the whole run; other
//! options belong in the job files (they are refused here, by name).
//!
//! Logs: each `write_*_log` file a host sends (IOLOG) is written here as `NAME.HOST`, as fio's
//! client writes it, if its name is one the job file asks for.
//!
//! Versions: the client offers fio 3.33's protocol (97), then fio 3.42's (120), until a host
//! answers its PROBE (fio's servers close a connection of another version).

use super::conn::Conn;
use super::frame::{self, op};
use super::layout::{self, Layout};
use super::{wire, Addr};
use crate::report::{self, View};
use crate::run::outcome::{Depths, JobResult, Samples, ThreadUsage};
use crate::spec::{JobSpec, OutputFormat};
use crate::stats::{DirStats, Lat};
use anyhow::{anyhow, bail, Context as _, Result};
use std::io::Write;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::Duration;

/// One host: how it was named, where it is, its job file.
#[derive(Clone, Debug)]
pub struct Host {
    pub name: String,
    pub addr: Addr,
    pub job: PathBuf,
}

/// What came back from one host.
struct Ran {
    host: String,
    /// The host's TCP port (0 for a unix socket), as fio's JSON gives it.
    port: u16,
    lines: Vec<String>,
    results: Vec<JobResult>,
    disks: Vec<report::disk::DiskDelta>,
    wall_ms: u64,
    exit: u32,
    error: Option<String>,
}

impl Ran {
    /// Nothing yet from host `h`.
    fn new(h: &Host) -> Ran {
        Ran {
            host: h.name.clone(),
            port: port_of(&h.addr),
            lines: Vec::new(),
            results: Vec::new(),
            disks: Vec::new(),
            wall_ms: 0,
            exit: 0,
            error: None,
        }
    }
}

/// Whether the arguments ask for client mode.
pub fn wanted(args: &[String]) -> bool {
    args.iter()
        .any(|a| a == "--client" || a.starts_with("--client="))
}

/// The hosts and output formats of a `--client` command line.
pub fn parse(args: &[String]) -> Result<(Vec<Host>, Vec<OutputFormat>)> {
    let mut hosts: Vec<(String, Option<PathBuf>)> = Vec::new();
    let mut formats = vec![OutputFormat::Normal];
    let mut last_job: Option<PathBuf> = None;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix("--client=").or_else(|| {
            (a == "--client")
                .then(|| it.next().map(String::as_str))
                .flatten()
        }) {
            let p = PathBuf::from(v);
            if p.is_file() {
                let text = std::fs::read_to_string(&p)
                    .with_context(|| format!("--client={v}: reading the host list"))?;
                for line in text.lines().map(str::trim) {
                    if !line.is_empty() && !line.starts_with('#') {
                        hosts.push((line.to_string(), None));
                    }
                }
            } else {
                hosts.push((v.to_string(), None));
            }
        } else if let Some(f) = a.strip_prefix("--output-format=") {
            formats = f
                .split(',')
                .map(|x| match x {
                    "normal" => Ok(OutputFormat::Normal),
                    "terse" => Ok(OutputFormat::Terse),
                    "json" => Ok(OutputFormat::Json),
                    "json+" => Ok(OutputFormat::JsonPlus),
                    other => Err(anyhow!(
                        "--output-format={other}: normal, terse, json or json+"
                    )),
                })
                .collect::<Result<_>>()?;
        } else if a.starts_with('-') {
            bail!(
                "{a}: with --client only --output-format is taken here; job options belong in \
                 the job files sent to the hosts"
            );
        } else {
            let job = PathBuf::from(a);
            // fio: a job file belongs to the hosts named since the last job file.
            let waiting = hosts.iter().rev().take_while(|h| h.1.is_none()).count();
            if waiting == 0 {
                bail!(
                    "{a}: a job file for no host (one job file per host, after its --client; \
                     a host list file takes one for all its hosts)"
                );
            }
            let n = hosts.len();
            for h in &mut hosts[n - waiting..] {
                h.1 = Some(job.clone());
            }
            last_job = Some(job);
        }
    }
    if hosts.is_empty() {
        bail!("--client: no host given");
    }
    let hosts = hosts
        .into_iter()
        .map(|(name, job)| {
            let job = job
                .or_else(|| last_job.clone())
                .ok_or_else(|| anyhow!("--client={name}: no job file given"))?;
            Ok(Host {
                addr: resolve(&name)?,
                name,
                job,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((hosts, formats))
}

/// fio's address syntax, and host names (resolved) where fio takes them.
fn resolve(s: &str) -> Result<Addr> {
    if let Ok(a) = Addr::parse(s) {
        return Ok(a);
    }
    let rest = s
        .strip_prefix("ip:")
        .or(s.strip_prefix("ip6:"))
        .unwrap_or(s);
    let (host, port) = match rest.rsplit_once(',') {
        Some((h, p)) => (
            h,
            p.parse::<u16>().map_err(|_| anyhow!("{s}: bad port {p}"))?,
        ),
        None => (rest, layout::SUPPORTED[0].k.port as u16),
    };
    let a = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("--client={s}: resolving {host}"))?
        .next()
        .ok_or_else(|| anyhow!("--client={s}: {host} has no address"))?;
    Ok(Addr::Tcp(a))
}

/// The prefixes a job file's logs may have: each `write_*_log` value, and each section's name
/// (a log without a value is named after its job). A host's IOLOG is written only under one of
/// them, so a server cannot make this client write a file the job did not ask for.
fn log_prefixes(job: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in job.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push(name.trim().to_string());
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        let key = key.trim().replace('-', "_");
        if key.starts_with("write_") && key.ends_with("_log") && !value.trim().is_empty() {
            out.push(value.trim().to_string());
        }
    }
    out
}

/// Writes a log a host sent as fio's client does: `NAME.HOST` (relative names in the working
/// directory), afresh, or appended to for a log shared by every job. HOST is the host as given
/// (a `/` of a socket path as `_`). Returns the file's name.
fn save_log(l: &Layout, payload: &[u8], host: &str, prefixes: &[String]) -> Result<String> {
    let log = super::iolog::decode(l, payload, 1 << 30)?;
    let under = |p: &String| {
        log.name
            .strip_prefix(p.as_str())
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|rest| !rest.contains('/'))
    };
    let climbs = std::path::Path::new(&log.name)
        .components()
        .any(|c| c == std::path::Component::ParentDir);
    if climbs || !prefixes.iter().any(under) {
        bail!(
            "sent a log named {:?}, which its job file does not ask for; not written",
            log.name
        );
    }
    let name = format!("{}.{}", log.name, host.replace('/', "_"));
    let mut f = crate::run::logs::create(&name, log.append)?;
    f.write_all(&log.content)
        .with_context(|| format!("writing {name}"))?;
    Ok(name)
}

/// Runs every host's job and prints the results. Returns the exit code (1 when a host failed,
/// a job failed, or a host said it exited with an error).
pub fn run(hosts: &[Host], formats: &[OutputFormat], out: &mut impl Write) -> Result<u8> {
    // Every job file is read (and refused if missing) before any host is contacted.
    let jobs: Vec<String> = hosts
        .iter()
        .map(|h| {
            std::fs::read_to_string(&h.job).with_context(|| format!("reading {}", h.job.display()))
        })
        .collect::<Result<_>>()?;
    let ran: Vec<Ran> = std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .zip(&jobs)
            .map(|(h, job)| s.spawn(move || session(h, job)))
            .collect();
        handles
            .into_iter()
            .zip(hosts)
            .map(|(t, h)| {
                t.join().unwrap_or_else(|_| {
                    let mut r = Ran::new(h);
                    r.error = Some("the session thread failed".into());
                    r
                })
            })
            .collect()
    });
    let text = render(&ran, formats)?;
    out.write_all(text.as_bytes())?;
    for r in ran.iter().filter(|r| r.error.is_some()) {
        eprintln!(
            "diorite: client <{}>: {}",
            r.host,
            r.error.as_deref().unwrap_or("")
        );
    }
    let failed = ran
        .iter()
        .any(|r| r.error.is_some() || r.exit != 0 || r.results.iter().any(|j| j.error.is_some()));
    Ok(u8::from(failed))
}

/// Every host's results, in the formats asked for.
fn render(ran: &[Ran], formats: &[OutputFormat]) -> Result<String> {
    let per_host: Vec<(String, u16, Vec<View<'_>>, serde_json::Value)> = ran
        .iter()
        .map(|r| {
            let (_, du) = report::disk::report_of(&r.disks, Duration::from_millis(r.wall_ms));
            (r.host.clone(), r.port, report::views(&r.results, false), du)
        })
        .collect();
    // fio prints "All clients" when the hosts sent more than one report entry in all.
    let hosts = ran.iter().filter(|r| !r.results.is_empty()).count();
    let everyone: Vec<JobResult> = ran
        .iter()
        .flat_map(|r| r.results.iter().cloned())
        .map(|mut r| {
            r.backend = format!("{hosts} host(s)");
            r.backend_report = "all clients".into();
            r
        })
        .collect();
    let all = (everyone.len() > 1).then(|| {
        let mut v = View::of(everyone.iter().collect());
        v.name = "All clients".into();
        v
    });
    let mut text = String::new();
    for f in formats {
        match f {
            OutputFormat::Normal => {
                for (r, (host, _, views, _)) in ran.iter().zip(&per_host) {
                    for l in r.lines.iter().filter(|l| !l.trim().is_empty()) {
                        text.push_str(&format!("<{host}> {l}"));
                        if !l.ends_with('\n') {
                            text.push('\n');
                        }
                    }
                    text.push_str(&report::text(views, None));
                    let wall = Duration::from_millis(r.wall_ms);
                    text.push_str(&report::disk::report_of(&r.disks, wall).0);
                }
                if let Some(a) = &all {
                    text.push_str(&report::text(std::slice::from_ref(a), None));
                }
            }
            OutputFormat::Terse => {
                for (_, _, views, du) in &per_host {
                    text.push_str(&report::terse(views, du));
                }
                if let Some(a) = &all {
                    text.push_str(&report::terse(
                        std::slice::from_ref(a),
                        &serde_json::json!([]),
                    ));
                }
            }
            OutputFormat::Json | OutputFormat::JsonPlus => {
                // json+: each latency series with its histogram bins, rebuilt from fio's buckets.
                let plus = *f == OutputFormat::JsonPlus;
                let v = report::json::clients(&per_host, all.as_ref(), plus);
                text.push_str(&(serde_json::to_string_pretty(&v)? + "\n"));
            }
        }
    }
    Ok(text)
}

fn port_of(a: &Addr) -> u16 {
    match a {
        Addr::Tcp(s) => s.port(),
        Addr::Unix(_) => 0,
    }
}

/// One host: connect in a version it speaks, send the job, run it, collect what comes back.
fn session(h: &Host, job: &str) -> Ran {
    let mut ran = Ran::new(h);
    if let Err(e) = converse(h, job, &mut ran) {
        ran.error = Some(format!("{e:#}"));
    }
    ran
}

fn converse(h: &Host, job: &str, ran: &mut Ran) -> Result<()> {
    let (mut conn, l) = hello(h, ran)?;
    frame::write(&mut conn, l.version, op::JOB, 0, &wire::job_payload(l, job))?;
    frame::write(&mut conn, l.version, op::RUN, 0, &[])?;
    // A job may run for hours and say nothing: no read timeout; a host that goes away closes
    // the connection.
    conn.set_read_timeout(None)?;
    let started = std::time::Instant::now();
    // A job's options (JOB_OPT, for JSON "job options") come before its TS.
    let mut given: Vec<(String, String)> = Vec::new();
    let prefixes = log_prefixes(job);
    loop {
        let f = match frame::read(&mut conn, Some(l.version), 1 << 30) {
            Ok(f) => f,
            Err(frame::FrameError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                bail!("disconnected before its results")
            }
            Err(e) => return Err(e.into()),
        };
        match f.opcode {
            op::TEXT => ran.lines.extend(wire::decode_text(l, &f.payload)),
            op::TS => {
                let ts = wire::decode_thread_stats(l, &f.payload)
                    .ok_or_else(|| anyhow!("a TS command too short for protocol {}", l.version))?;
                let mut r = result_of(ts, &h.name);
                r.spec.given = std::mem::take(&mut given);
                ran.results.push(r);
            }
            op::JOB_OPT => {
                if let Some((false, _, k, v)) = wire::decode_job_option(l, &f.payload) {
                    given.push((k, v));
                }
            }
            op::DU => {
                if let Some((d, ms)) = wire::decode_disk_util(l, &f.payload) {
                    ran.wall_ms = ran.wall_ms.max(ms);
                    ran.disks.push(d);
                }
            }
            op::IOLOG => match save_log(l, &f.payload, &h.name, &prefixes) {
                Ok(_) => {}
                Err(e) => {
                    ran.error.get_or_insert(format!("{e:#}"));
                }
            },
            op::STOP => ran.exit = wire::decode_end(&f.payload).unwrap_or(1),
            op::QUIT => break,
            // START, SERVER_START, GS (the groups are summed here), ETA.
            _ => {}
        }
    }
    if ran.wall_ms == 0 {
        ran.wall_ms = started.elapsed().as_millis() as u64;
    }
    Ok(())
}

/// Connects and probes, in each supported version until the host answers.
fn hello(h: &Host, ran: &mut Ran) -> Result<(Conn, &'static Layout)> {
    let mut why = String::new();
    for l in layout::SUPPORTED {
        let mut conn = Conn::connect(&h.addr, Duration::from_secs(5))
            .with_context(|| format!("connecting to {}", h.addr))?;
        conn.set_read_timeout(Some(Duration::from_secs(10)))?;
        frame::write(
            &mut conn,
            l.version,
            op::PROBE,
            1,
            &wire::client_probe(&h.name),
        )?;
        match frame::read(&mut conn, Some(l.version), 1 << 20) {
            Ok(f) if f.opcode == op::PROBE => {
                if let Some((host, version)) = wire::decode_probe(l, &f.payload) {
                    ran.lines.push(format!(
                        "hostname={host}, fio={version}, protocol {}\n",
                        l.version
                    ));
                }
                return Ok((conn, l));
            }
            Ok(f) if f.opcode == op::TEXT => {
                why = wire::decode_text(l, &f.payload).unwrap_or_default();
            }
            Ok(f) => why = format!("answered {} to PROBE", op::name(f.opcode)),
            Err(e) => why = e.to_string(),
        }
    }
    bail!(
        "{} speaks none of this client's protocols ({}): {}",
        h.addr,
        layout::supported_names(),
        why.trim_end()
    )
}

/// A host's `thread_stat` as a job result the report reads.
fn result_of(ts: wire::RemoteStats, host: &str) -> JobResult {
    let lat = |((n, min, max, mean, s), buckets): &wire::RemoteLat| {
        Lat::from_summary(
            (*n, *min, *max, *mean, *s),
            buckets
                .iter()
                .enumerate()
                .map(|(i, c)| (crate::run::logs::plat_idx_to_val(i), *c)),
        )
    };
    let mut stats: [DirStats; 4] = std::array::from_fn(|_| DirStats::new());
    for (d, st) in stats.iter_mut().enumerate().take(3) {
        st.ios = ts.ios[d];
        st.bytes = ts.bytes[d];
        st.short_ios = ts.short[d];
        st.slat = lat(&ts.lat[d][0]);
        st.clat = lat(&ts.lat[d][1]);
        st.lat = lat(&ts.lat[d][2]);
    }
    stats[3].ios = ts.ios[3];
    stats[3].clat = lat(&ts.sync);
    let mut spec = JobSpec {
        name: ts.name.clone(),
        kb_base: ts.kb_base.max(1),
        ..JobSpec::default()
    };
    spec.measure.pcts.clat = ts.pcts.0;
    spec.measure.pcts.lat = ts.pcts.1;
    spec.measure.pcts.slat = ts.pcts.2;
    if !ts.pcts.3.is_empty() {
        spec.measure.pcts.list = ts.pcts.3.clone();
    }
    let (depth, target, pct, window) = ts.latency;
    if target > 0 {
        spec.pacing.latency_target = Some(Duration::from_nanos(target));
        spec.pacing.latency_window = Duration::from_micros(window);
        spec.pacing.latency_percentile = pct;
    }
    if ts.continue_on_error {
        spec.continue_on = [true; 3];
    }
    let ms = Duration::from_millis;
    JobResult {
        name: ts.name,
        groupid: ts.groupid,
        spec,
        stats,
        runtime: ms(ts.total_run_time_ms),
        dir_runtime: [
            ms(ts.runtime_ms[0]),
            ms(ts.runtime_ms[1]),
            ms(ts.runtime_ms[2]),
        ],
        usr: ms(ts.usr_ms),
        sys: ms(ts.sys_ms),
        backend: format!("remote {host}"),
        backend_report: format!("{} job(s) on {host}", ts.members.max(1)),
        skipped: Vec::new(),
        targets: Vec::new(),
        verify: None,
        crash: None,
        logs: Vec::new(),
        usage: ThreadUsage {
            usr: ms(ts.usr_ms),
            sys: ms(ts.sys_ms),
            ctx: ts.ctx,
            majf: ts.majf,
            minf: ts.minf,
        },
        depths: Depths {
            depth: ts.depth[0],
            submit: ts.depth[1],
            complete: ts.depth[2],
        },
        samples: Samples {
            summary: Some(ts.series),
            ..Samples::default()
        },
        error: (ts.error != 0).then(|| format!("error {} ({})", ts.error, ts.verror)),
        interrupted: false,
        terminated: false,
        total_err: ts.total_err,
        first_error: (ts.first_error != 0).then_some(ts.first_error as i32),
        cpus: Vec::new(),
        nice: 0,
        mem_policy: None,
        prio_lat: Default::default(),
        latency_depth: Some(depth),
        steady: None,
    }
}
