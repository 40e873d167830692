//! `diorite bench`: fio-style jobs through the engine. Parses the jobs ([`crate::job`]), plans
//! them — checking everything that can be checked before any byte is written, then preparing
//! the targets ([`crate::plan`]) — runs each phase of jobs ([`crate::schedule`]) and reports
//! ([`crate::report`]).

use crate::job::{self, Plan};
use crate::plan::{self, groups};
use crate::report::{self, ProcessCpu};
use crate::run::outcome::JobResult;
use crate::schedule::{self, STOP};
use crate::spec::{ErrorType, OutputFormat};
use anyhow::{Context as _, Result};
use std::io::Write;
use std::sync::atomic::Ordering;

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
                j.pacing.think.time.as_micros(),
            );
        }
    }
    s
}

/// Runs `diorite bench ARGS`. Returns the exit code: 0, 1 (a job failed or verify found bad
/// blocks), 130 (stopped by Ctrl-C).
pub fn run(args: &[String], out: &mut impl Write) -> Result<u8> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        write!(out, "{}", job::help())?;
        return Ok(0);
    }
    if crate::net::client::wanted(args) {
        let (hosts, formats) = crate::net::client::parse(args)?;
        return crate::net::client::run(&hosts, &formats, out);
    }
    let plan = job::parse_args(args)?;
    if let Some(show) = &plan.globals.show {
        write!(out, "{}", job::show(show)?)?;
        return Ok(0);
    }
    for w in &plan.warnings {
        eprintln!("diorite: warning: {w}");
    }
    if plan.globals.warnings_fatal && !plan.warnings.is_empty() {
        anyhow::bail!(
            "{} warning(s) and --warnings-fatal: nothing was run",
            plan.warnings.len()
        );
    }
    if plan.globals.parse_only {
        job::settle::check(&plan)?;
        write!(out, "{}", parse_report(&plan))?;
        return Ok(0);
    }
    schedule::install_sigint();
    let (prepared, _temp) = plan::prepare(&plan)?;
    if let Some(p) = &plan.globals.output {
        // Created (emptied) once: status reports and the final report are appended.
        std::fs::write(p, b"").with_context(|| format!("writing {}", p.display()))?;
    }
    let cpu0 = schedule::process_cpu();
    let disks = report::disk::Disks::snapshot(
        prepared
            .iter()
            .flat_map(|p| p.targets.iter().map(|t| t.file.path())),
    );
    let results = schedule::run(&plan, &prepared)?;
    let cpu1 = schedule::process_cpu();
    let proc_cpu = ProcessCpu {
        usr: cpu1.0.saturating_sub(cpu0.0),
        sys: cpu1.1.saturating_sub(cpu0.1),
    };
    let (disk_text, disk_json) = disks.report();
    let total_ios: u64 = results
        .iter()
        .map(|r| r.stats.iter().map(|s| s.ios).sum::<u64>())
        .sum();

    let views = report::views(&results, plan.globals.group_reporting);
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
                text.push_str(&report::text(&views, Some((&proc_cpu, total_ios))));
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
        r.verify.as_ref().is_some_and(|v| v.errors > 0)
            && !r.spec.continues_on(ErrorType::Verify, libc::EILSEQ)
    };
    // diorite's crash: a block lost against the job's own promise fails the run.
    let crash_failed = |r: &JobResult| r.crash.as_ref().is_some_and(|c| c.lost_promised > 0);
    let failed = results
        .iter()
        .any(|r| r.error.is_some() || verify_failed(r) || crash_failed(r));
    say_failures(&results);
    Ok(if failed {
        1
    } else if STOP.load(Ordering::Relaxed) {
        130
    } else {
        0
    })
}

/// Each job's error, broken crash promises and verify errors, on stderr.
fn say_failures(results: &[JobResult]) {
    for r in results {
        if let Some(e) = &r.error {
            eprintln!("diorite: job {}: {e}", r.name);
        }
        if let Some(c) = r.crash.as_ref().filter(|c| c.lost_promised > 0) {
            eprintln!(
                "diorite: job {}: crash: {} blocks lost against a promise in {} of {} states; first:\n{}",
                r.name,
                c.lost_promised,
                c.states_failed,
                c.states,
                c.first.as_deref().unwrap_or("")
            );
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
}
