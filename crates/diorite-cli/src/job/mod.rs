//! Jobs as fio describes them: the option table ([`options`]) shared by the command line and
//! job files (fio's INI format), fio's value spellings ([`value`]), and the [`JobSpec`] a runner
//! executes.
//!
//! Option names are fio's; `-` and `_` are the same character (`--time-based` is
//! `--time_based`). An option the table does not know is an error naming it — never ignored.

pub mod options;
pub mod settle;

use crate::spec::*;
use anyhow::{anyhow, bail, Context as _, Result};
use diorite::BackendChoice;
use options::{lookup, Scope};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn normalize(name: &str) -> String {
    name.trim().replace('-', "_").to_ascii_lowercase()
}

/// The error for an option the table does not have: fio's options diorite refuses say why;
/// others get the nearest names. `dash` is how it was written on the command line ("" in a
/// job file).
fn unknown(raw: &str, name: &str, dash: &str) -> anyhow::Error {
    if let Some(why) = options::refused(name) {
        return anyhow!("fio's option '{dash}{raw}' is not supported by diorite: {why}");
    }
    anyhow!(
        "unknown or unsupported option '{dash}{raw}'{} (diorite bench --help lists the options)",
        options::nearest(name, !dash.is_empty())
    )
}

/// Applies option `raw` (any spelling) with `value` to `job` or `g`, after fio's `${VAR}` and
/// `$keyword` substitutions.
fn apply(job: &mut JobSpec, g: &mut Globals, raw: &str, value: Option<&str>) -> Result<()> {
    let name = normalize(raw);
    let opt = lookup(&name).ok_or_else(|| unknown(raw, &name, ""))?;
    let expanded = value.map(value::expand);
    let v = opt.kind.parse(opt.name, expanded.as_deref(), job.kb_base)?;
    (opt.set)(job, g, &v)?;
    if opt.scope == Scope::Job {
        job.given.retain(|(k, _)| k != opt.name);
        job.given.push((
            opt.name.to_string(),
            expanded.unwrap_or_default().trim().to_string(),
        ));
    }
    Ok(())
}

/// Applies a section's options in order, `kb_base` first (fio gives it priority, so sizes in
/// the same section read with it).
fn apply_all(job: &mut JobSpec, g: &mut Globals, opts: &[(String, Option<String>)]) -> Result<()> {
    for pass in [true, false] {
        for (k, v) in opts {
            if (normalize(k) == "kb_base") == pass {
                apply(job, g, k, v.as_deref())?;
            }
        }
    }
    Ok(())
}

/// The whole run: jobs in order (with their stonewall marks) and the global options.
#[derive(Debug)]
pub struct Plan {
    /// The jobs, settled ([`settle::settle`]).
    pub jobs: Vec<settle::Settled>,
    pub globals: Globals,
    /// No job option was given at all: run the default demonstration job.
    pub default_job: bool,
    /// What fio would warn about (printed to stderr before the run).
    pub warnings: Vec<String>,
}

/// The default job of a bare `diorite bench`: 4 KiB random reads at depth 32 for 10 s, through
/// the best engine diorite has, with O_DIRECT (the report's header says so).
fn default_job() -> JobSpec {
    let mut j = JobSpec {
        name: "default".into(),
        rw: Rw::RandRead,
        iodepth: 32,
        runtime: Some(Duration::from_secs(10)),
        time_based: true,
        engine: IoEngine::Async(BackendChoice::Auto),
        direct: true,
        ..JobSpec::default()
    };
    j.given = vec![
        ("rw".into(), "randread".into()),
        ("bs".into(), "4k".into()),
        ("iodepth".into(), "32".into()),
        ("runtime".into(), "10".into()),
        ("time_based".into(), "".into()),
        ("ioengine".into(), "auto".into()),
        ("direct".into(), "1".into()),
    ];
    j
}

/// One `--name[=value]` of the command line.
type Arg = (String, Option<String>);

/// Parses `diorite bench`'s arguments: job files (positional) and `--option[=value]`s in fio's
/// command-line style (options before the first `--name` are global; each `--name` starts a job).
/// With a job file, command-line options apply to every job in it, over the file's settings.
pub fn parse_args(args: &[String]) -> Result<Plan> {
    let mut globals = Globals::default();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut head: Vec<Arg> = Vec::new();
    let mut jobs_args: Vec<Vec<Arg>> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        // fio reads long options with one dash too (`-rw=read`, getopt_long_only); `-` alone
        // is a file name (standard input, in fio).
        let (dash, opt) = match a.strip_prefix("--") {
            Some(o) => ("--", o),
            None => match a.strip_prefix('-').filter(|o| !o.is_empty()) {
                Some(o) => ("-", o),
                None => {
                    files.push(PathBuf::from(a));
                    continue;
                }
            },
        };
        let (raw, inline) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (opt, None),
        };
        let o = lookup(&normalize(raw)).ok_or_else(|| unknown(raw, &normalize(raw), dash))?;
        let value = match inline {
            Some(v) => Some(v),
            None if o.kind.is_flag() => None,
            None => {
                let v = args
                    .get(i)
                    .ok_or_else(|| anyhow!("option --{raw} needs a value (--{raw}=...)"))?;
                i += 1;
                Some(v.clone())
            }
        };
        if o.name == "name" {
            jobs_args.push(vec![(raw.to_string(), value)]);
        } else if let Some(j) = jobs_args.last_mut() {
            j.push((raw.to_string(), value));
        } else {
            head.push((raw.to_string(), value));
        }
    }
    let mut warnings = Vec::new();
    let any_job_option = !jobs_args.is_empty()
        || head
            .iter()
            .any(|(k, _)| lookup(&normalize(k)).is_some_and(|o| o.scope == Scope::Job));
    let mut template = JobSpec::default();
    apply_all(&mut template, &mut globals, &head)?;
    if !files.is_empty() {
        if !jobs_args.is_empty() {
            bail!("give jobs either in a job file or with --name on the command line, not both");
        }
        let mut all = Vec::new();
        // fio parses the command line's options before the job files: they come first.
        globals.global_options = template.given.clone();
        if files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
            bail!("the job file '-' (standard input) can be given once");
        }
        for f in &files {
            // fio's `-`: the job file is standard input.
            let text = if f.as_os_str() == "-" {
                let mut t = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                    .context("reading the job file from standard input")?;
                t
            } else {
                std::fs::read_to_string(f)
                    .with_context(|| format!("reading job file {}", f.display()))?
            };
            for mut j in parse_jobfile(&text, f, &mut globals)? {
                // Command-line options apply to every job and are listed with the globals.
                let own = std::mem::take(&mut j.given);
                apply_all(&mut j, &mut globals, &head)?;
                j.given = own;
                all.push(settle::settle(j, &mut warnings)?);
            }
        }
        if all.is_empty() {
            bail!(
                "no job section named {} in the job files (--section)",
                globals.sections.join(" or ")
            );
        }
        return Ok(Plan {
            jobs: all,
            globals,
            default_job: false,
            warnings,
        });
    }
    if !any_job_option {
        return Ok(Plan {
            jobs: vec![settle::settle(default_job(), &mut Vec::new())?],
            globals,
            default_job: true,
            warnings,
        });
    }
    let mut jobs = Vec::new();
    if jobs_args.is_empty() {
        jobs.push(settle::settle(template.clone(), &mut warnings)?);
    }
    // fio's JSON: the options before the first --name are the run's "global options"; each
    // job's "job options" are its own.
    if !jobs_args.is_empty() {
        globals.global_options = template.given.clone();
    }
    for opts in &jobs_args {
        let mut j = template.clone();
        j.given.clear();
        apply_all(&mut j, &mut globals, opts)?;
        jobs.push(settle::settle(j, &mut warnings)?);
    }
    Ok(Plan {
        jobs,
        globals,
        default_job: false,
        warnings,
    })
}

/// How deep `include` may nest (fio has no limit and recurses until it runs out of stack or
/// file descriptors; a cycle is refused before that).
const INCLUDE_DEPTH: usize = 16;

/// One option line of a job file: where it was written (`file:line`), its key and value.
type Located = (String, String, Option<String>);

/// One section of a job file: its name (`None` for `[global]`) and option lines in order.
struct Section {
    name: Option<String>,
    opts: Vec<Located>,
}

/// fio's `include FILE` inside a section: the file's option lines join the section there, as
/// if written in its place. A relative name is tried as given (from the working directory)
/// and then next to the including file, as fio does; an included file may include others
/// (up to [`INCLUDE_DEPTH`] deep, never itself again) but holds no section headers. `via` is
/// the job file's include line, which every location in the included files names.
fn include(
    name: &str,
    from: &Path,
    via: &str,
    chain: &mut Vec<PathBuf>,
    into: &mut Vec<Located>,
) -> Result<()> {
    let mut file = PathBuf::from(name);
    if !file.exists() {
        if let Some(dir) = from.parent().filter(|d| !d.as_os_str().is_empty()) {
            file = dir.join(name);
        }
    }
    let key = file.canonicalize().unwrap_or_else(|_| file.clone());
    if chain.contains(&key) {
        bail!("{via}: include {name}: {} includes itself", file.display());
    }
    if chain.len() > INCLUDE_DEPTH {
        bail!("{via}: include {name}: includes nest more than {INCLUDE_DEPTH} deep");
    }
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("{via}: include {name}: reading {}", file.display()))?;
    chain.push(key);
    for (n, line) in text.lines().enumerate() {
        let at = format!("{}:{} (included from {via})", file.display(), n + 1);
        let line = value::strip_comment(line).trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            bail!("{at}: an included file holds options only, no section headers ({line})");
        }
        match include_name(line) {
            Some(inner) => include(inner, &file, via, chain, into)?,
            None => into.push(split_option(line, at)),
        }
    }
    chain.pop();
    Ok(())
}

/// The file name of an `include FILE` line.
fn include_name(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("include")?;
    rest.starts_with([' ', '\t'])
        .then(|| rest.trim())
        .filter(|f| !f.is_empty())
}

fn split_option(line: &str, at: String) -> Located {
    match line.split_once('=') {
        Some((k, v)) => (at, k.trim().to_string(), Some(v.trim().to_string())),
        None => (at, line.to_string(), None),
    }
}

/// Parses an fio job file: `[global]` sections set defaults for the jobs after them, every other
/// section is a job; `key=value` or a bare `key`; `;` and `#` start comments, also after a value;
/// `include FILE` inside a section reads FILE's options there ([`include()`]).
/// The jobs come back before fio's final settling ([`settle::settle`]), which the caller does after any
/// command-line overrides.
pub fn parse_jobfile(text: &str, path: &Path, globals: &mut Globals) -> Result<Vec<JobSpec>> {
    // Sections first, then options: `kb_base` applies to the whole section it is in.
    let mut sections: Vec<Section> = Vec::new();
    // fio's --section: only the named job sections are read at all (their options are not
    // parsed); [global] sections always apply.
    let sections_asked = globals.sections.clone();
    let wanted = |name: &str| sections_asked.is_empty() || sections_asked.iter().any(|s| s == name);
    let mut chain = vec![path.canonicalize().unwrap_or_else(|_| path.to_path_buf())];
    for (n, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), n + 1);
        let line = value::strip_comment(line).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| anyhow!("{}: unterminated section header {line:?}", at()))?
                .trim();
            if name.is_empty() {
                bail!("{}: empty section name", at());
            }
            sections.push(Section {
                name: (name != "global").then(|| name.to_string()),
                opts: Vec::new(),
            });
            continue;
        }
        let Some(sec) = sections.last_mut() else {
            bail!(
                "{}: option {line:?} outside a section ([global] or [jobname])",
                at()
            );
        };
        match include_name(line) {
            // A section --section leaves out is not read at all, its includes neither.
            Some(_) if !sec.name.as_deref().is_none_or(&wanted) => {}
            Some(file) => include(file, path, &at(), &mut chain, &mut sec.opts)?,
            None => sec.opts.push(split_option(line, at())),
        }
    }
    let mut template = JobSpec::default();
    let mut jobs: Vec<JobSpec> = Vec::new();
    let sections: Vec<&Section> = sections
        .iter()
        .filter(|s| s.name.as_deref().is_none_or(wanted))
        .collect();
    for sec in sections {
        let mut j = template.clone();
        if let Some(name) = &sec.name {
            apply(&mut j, globals, "name", Some(name))?;
            j.files.section = Some(name.clone());
        }
        // fio's JSON: a section's "job options" are its own lines; [global] sections' lines
        // are the run's "global options".
        j.given.clear();
        for pass in [true, false] {
            for (at, k, v) in &sec.opts {
                if lookup(&normalize(k)).is_some_and(|o| o.group == options::Group::CommandLine) {
                    bail!("{at}: {k} is a command-line option (fio reads it only there: --{k})");
                }
                if (normalize(k) == "kb_base") == pass {
                    apply(&mut j, globals, k, v.as_deref()).with_context(|| at.clone())?;
                }
            }
        }
        match sec.name {
            None => {
                globals.global_options.extend(j.given.iter().cloned());
                template = j;
            }
            Some(_) => jobs.push(j),
        }
    }
    if jobs.is_empty() && !globals.sections.is_empty() {
        return Ok(jobs); // this file has none of the sections asked for
    }
    if jobs.is_empty() {
        bail!("{}: no job sections (only [global])", path.display());
    }
    Ok(jobs)
}

/// fio's `make_filename`: the name of file `filenum` of clone `jobnum` of job `jobname`, from
/// `filename_format` (keywords matched without regard to case, as fio's `strcasestr`), by
/// default `$jobname.$jobnum.$filenum`. `$clientuid` is empty: there is no client/server mode.
pub fn file_name(j: &JobSpec, jobname: &str, jobnum: u32, filenum: u32) -> String {
    let Some(fmt) = &j.files.filename_format else {
        return format!("{jobname}.{jobnum}.{filenum}");
    };
    let mut out = String::new();
    let mut rest = fmt.as_str();
    'scan: while !rest.is_empty() {
        for (key, val) in [
            ("$jobname", jobname.to_string()),
            ("$jobnum", jobnum.to_string()),
            ("$filenum", filenum.to_string()),
            ("$clientuid", String::new()),
        ] {
            if rest.len() >= key.len()
                && rest.is_char_boundary(key.len())
                && rest[..key.len()].eq_ignore_ascii_case(key)
            {
                out.push_str(&val);
                rest = &rest[key.len()..];
                continue 'scan;
            }
        }
        let c = rest.chars().next().expect("not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The version line: diorite's, and the fio release whose options and reports it follows.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (fio-3.33 options and reports)");

/// fio's informational options (`--version`, `--cmdhelp`, `--enghelp`): the text to print.
pub fn show(what: &Show) -> Result<String> {
    let describe = |o: &options::Opt| {
        let mut s = format!("{:>20}: {}\n", o.name, o.help);
        if !o.aliases.is_empty() {
            s += &format!("{:>20}: {}\n", "alias", o.aliases.join(", "));
        }
        let default = if o.default.is_empty() {
            "no default"
        } else {
            o.default
        };
        s += &format!("{:>20}: {default}\n", "default");
        if let options::ValueKind::Choice(values, _) = o.kind {
            s += &format!("{:>20}: {}\n", "valid values", values.join(", "));
        }
        s
    };
    Ok(match what {
        Show::Version => format!("diorite {VERSION}\n"),
        Show::Option(name) if name == "all" => options::OPTIONS
            .iter()
            .map(describe)
            .collect::<Vec<_>>()
            .join("\n"),
        Show::Option(name) => {
            let n = normalize(name);
            describe(lookup(&n).ok_or_else(|| unknown(name, &n, ""))?)
        }
        Show::Engine(name) => {
            const ENGINES: &[(&str, &str)] = &[
                ("psync", "pread/pwrite on the job thread, one I/O at a time (also sync, pvsync, pvsync2)"),
                ("io_uring", "Linux io_uring, through diorite's engine context (also uring)"),
                ("libaio", "Linux native AIO (io_submit), through diorite's engine context (also aio)"),
                ("threads", "diorite's thread pool doing pread/pwrite (pool_threads workers)"),
                ("posixaio", "glibc's POSIX AIO, run as glibc runs it: one worker per file at a time, on diorite's thread pool"),
                ("null", "the whole engine with no device: every I/O completes at once"),
                ("auto", "the best engine this machine offers (io_uring, then libaio, then threads)"),
            ];
            if name.is_empty() {
                let mut s = String::from("Available IO engines:\n");
                for (e, _) in ENGINES {
                    s += &format!("\t{e}\n");
                }
                s
            } else {
                let e = parse_engine_name(name)?;
                let (n, d) = ENGINES.iter().find(|(n, _)| *n == e).expect("listed");
                format!("{n}: {d}\n")
            }
        }
    })
}

/// An engine name as `--enghelp` takes it: the listed names and their aliases.
fn parse_engine_name(name: &str) -> Result<&'static str> {
    Ok(match name {
        "psync" | "sync" | "pvsync" | "pvsync2" => "psync",
        "io_uring" | "uring" => "io_uring",
        "libaio" | "aio" => "libaio",
        "threads" => "threads",
        "posixaio" => "posixaio",
        "null" => "null",
        "auto" => "auto",
        x => bail!("--enghelp={x}: no such engine (diorite bench --enghelp lists them)"),
    })
}

/// `diorite bench --help`: the option table.
pub fn help() -> String {
    let mut s = String::from(
        "Usage: diorite bench [JOBFILE...] [--option=value ...]\n\n\
         Runs fio-style jobs through the diorite engine. Without any job option, runs the default job\n\
         (4 KiB random reads, iodepth 32, 10 s, best engine, O_DIRECT) on a 256 MiB temp file. A job\n\
         that sets options runs with fio's defaults (ioengine=psync, direct=0). On the command line,\n\
         options before the first --name apply to every job; each --name starts a job. '-' and '_'\n\
         are interchangeable. Sizes take fio's suffixes per kb_base (default: k, m, g powers of 2;\n\
         KiB, MiB powers of 10); numbers may use + - * / % ^ ( ), ${VAR}, $pagesize, $ncpus,\n\
         $mb_memory.\n\nOptions, grouped:\n",
    );
    for group in options::Group::ALL {
        s.push_str(&format!("\n{}:\n", group.title()));
        for o in options::OPTIONS.iter().filter(|o| o.group == group) {
            let spelled = match o.kind {
                options::ValueKind::Bool => format!("--{}[=0|1]", o.name),
                options::ValueKind::OptStr => format!("--{}[=V]", o.name),
                _ => format!("--{}=V", o.name),
            };
            s.push_str(&format!("  {spelled:<34} {}", o.help));
            // The default, unless the help already says it in its own words.
            if !o.default.is_empty() && !o.help.contains("default") {
                s.push_str(&format!(" [default: {}]", o.default));
            }
            if !o.aliases.is_empty() {
                s.push_str(&format!(" (also: {})", o.aliases.join(", ")));
            }
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn command_line_jobs_follow_fio() {
        let p = parse_args(&args(
            "--rw=randread --bs 8k --name=a --iodepth=4 --name=b --time-based --runtime=2s",
        ))
        .unwrap();
        assert_eq!(p.jobs.len(), 2);
        assert_eq!((p.jobs[0].name.as_str(), p.jobs[0].iodepth), ("a", 4));
        assert_eq!(p.jobs[1].bs, Bs::Fixed(8192));
        assert!(p.jobs[1].time_based && !p.jobs[0].time_based);
        assert_eq!(p.jobs[1].rw, Rw::RandRead);
        assert!(!p.default_job);
        assert!(parse_args(&[]).unwrap().default_job);
        assert!(
            parse_args(&args("--output-format=json"))
                .unwrap()
                .default_job
        );
    }

    #[test]
    fn unknown_options_and_bad_values_are_errors_naming_them() {
        let e = parse_args(&args("--rw=read --frobnicate=3")).unwrap_err();
        assert!(e.to_string().contains("frobnicate"), "{e}");
        let e = parse_args(&args("--bs=4q")).unwrap_err();
        assert!(format!("{e:#}").contains("bs=4q"), "{e:#}");
        assert!(parse_args(&args("--rw=trimread")).is_err());
        assert!(parse_args(&args("--iodepth")).is_err());
        assert!(parse_args(&args("--random_distribution=zipf:1")).is_err());
        assert!(parse_args(&args("--bssplit=4k/60:8k/60")).is_err());
    }

    #[test]
    fn job_files_with_global_sections_and_stonewall() {
        let text = "; comment\n[global]\nrw=randwrite\nbs=4k\n\n[a]\niodepth=8\n\n[b]\nstonewall\nrw=read\n# c\n[global]\nbs=8k\n[c]\n";
        let mut g = Globals::default();
        let jobs = parse_jobfile(text, Path::new("t.fio"), &mut g).unwrap();
        assert_eq!(jobs.len(), 3);
        assert_eq!((jobs[0].rw, jobs[0].iodepth), (Rw::RandWrite, 8));
        assert!(jobs[1].stonewall && jobs[1].rw == Rw::Read);
        assert_eq!(jobs[2].bs, Bs::Fixed(8192));
        let e = parse_jobfile("[a]\nbogus=1\n", Path::new("t.fio"), &mut g).unwrap_err();
        assert!(format!("{e:#}").contains("t.fio:2") && format!("{e:#}").contains("bogus"));
    }

    #[test]
    fn bssplit_and_distributions() {
        use options::parse_bssplit;
        assert_eq!(
            parse_bssplit("4k/50:64k/40:1m/10", 1024).unwrap(),
            Bs::Split(vec![(4096, 50), (65536, 40), (1 << 20, 10)])
        );
        assert_eq!(
            parse_bssplit("4k/40:8k:16k", 1024).unwrap(),
            Bs::Split(vec![(4096, 40), (8192, 30), (16384, 30)])
        );
        assert_eq!(Bs::Split(vec![(4096, 50), (6144, 50)]).unit(), 2048);
        assert_eq!(Dist::parse("zipf:1.2").unwrap(), Dist::Zipf(1.2));
        assert_eq!(Dist::parse("normal:5").unwrap(), Dist::Normal(5.0));
        assert!(Dist::parse("pareto:1.5").is_err());
    }

    /// A plan as the table tests compare it: its settled jobs (without the record of the
    /// options given) and its globals.
    fn view(p: &Plan) -> String {
        let mut jobs: Vec<JobSpec> = p.jobs.iter().map(|j| j.to_spec()).collect();
        for j in &mut jobs {
            j.given.clear();
        }
        format!("{jobs:?} {:?}", p.globals)
    }

    /// Options that exist only beside others (io_uring's own, fio's engine options).
    fn needs(name: &str) -> &'static str {
        match name {
            "sqthread_poll" | "hipri" | "fixedbufs" | "registerfiles" => " --ioengine=io_uring",
            "uncached" => " --ioengine=io_uring --direct=0",
            "sqthread_poll_cpu" => " --ioengine=io_uring --sqthread_poll=1",
            "inject" | "pool_threads" => " --ioengine=threads",
            "zonesize" => " --zonemode=strided --zonesize=64k",
            "cmdprio_percentage" | "cmdprio_bssplit" => " --ioengine=io_uring",
            "rate_process" => " --rate_iops=100",
            "fill_device" | "create_on_open" | "unlink_each_loop" => " --rw=write",
            "crash" => " --rw=write --size=1m --ioengine=threads",
            "steadystate" | "steadystate_ramp_time" | "ss_interval" => " --ss_dur=10",
            "latency_window" | "latency_percentile" | "latency_run" => " --latency_target=1ms",
            _ => "",
        }
    }

    /// A choice option takes every value its entry lists, refuses fio's values diorite does not
    /// support by saying so, and refuses anything else naming the option and the values.
    #[test]
    fn choice_options_take_their_listed_values_only() {
        let mut n = 0;
        for o in options::OPTIONS {
            let options::ValueKind::Choice(values, refused) = o.kind else {
                continue;
            };
            n += 1;
            let base = format!("--name=t --runtime=5{}", needs(o.name));
            for v in values {
                // Taken by the option (a rule between options may still refuse the job: not
                // the option's own error, which starts with `NAME=VALUE:`).
                let a = format!("{base} --{}={v}", o.name);
                if let Err(e) = parse_args(&args(&a)) {
                    let e = format!("{e:#}");
                    assert!(!e.contains(&format!("{}={v}:", o.name)), "{a}: {e}");
                }
            }
            for v in refused {
                let e = parse_args(&args(&format!("{base} --{}={v}", o.name))).unwrap_err();
                assert!(
                    format!("{e:#}").contains("not supported by diorite"),
                    "{e:#}"
                );
            }
            let e = parse_args(&args(&format!("{base} --{}=bogus", o.name))).unwrap_err();
            let e = format!("{e:#}");
            assert!(e.contains(o.name) && e.contains(values[0]), "{e}");
        }
        assert!(n >= 12);
    }

    /// The defaults the table states are the defaults: giving an option its stated default
    /// settles to the same job as leaving it out (so `--help` cannot drift from the code).
    #[test]
    fn every_stated_default_is_the_default() {
        let mut wrong = Vec::new();
        for o in options::OPTIONS.iter().filter(|o| !o.default.is_empty()) {
            let base = format!("--name=t --runtime=5{}", needs(o.name));
            let without = view(&parse_args(&args(&base)).unwrap());
            let a = format!("{base} --{}={}", o.name, o.default);
            let with = view(&parse_args(&args(&a)).unwrap_or_else(|e| panic!("{a}: {e:#}")));
            if with != without {
                wrong.push(o.name);
            }
        }
        assert!(
            wrong.is_empty(),
            "stated defaults that are not the default: {wrong:?}"
        );
        // A help text that names the default in its own words names this one.
        for o in options::OPTIONS.iter().filter(|o| !o.default.is_empty()) {
            if o.help.contains("default") {
                assert!(
                    o.help.contains(o.default),
                    "{}: help and default differ",
                    o.name
                );
            }
        }
    }

    /// The table walk: every accepted option, under every spelling, changes the parsed job (or
    /// the run's globals) with its example value — an option that is accepted but stored
    /// nowhere fails here.
    #[test]
    fn every_option_in_the_table_changes_the_parsed_job() {
        for o in options::OPTIONS {
            let base = view(
                &parse_args(&args(&format!("--name=t --runtime=5{}", needs(o.name)))).unwrap(),
            );
            for spelling in std::iter::once(o.name).chain(o.aliases.iter().copied()) {
                let a = if o.name == "name" {
                    format!("--runtime=5 --name={}", o.example)
                } else {
                    format!(
                        "--name=t --runtime=5{} --{spelling}={}",
                        needs(o.name),
                        o.example
                    )
                };
                let p = parse_args(&args(&a)).unwrap_or_else(|e| panic!("{a}: {e:#}"));
                // Options whose one supported value is fio's default (others are refused), and
                // two that fio itself ignores (max-jobs) or that size something diorite has
                // not (alloc-size: fio's shared-memory pool).
                if ["dedupe_mode", "terse_version", "max_jobs", "alloc_size"].contains(&o.name) {
                    continue;
                }
                assert_ne!(view(&p), base, "{a}: accepted but changed nothing");
            }
        }
    }

    /// `--help` lists every option once, in one of the groups.
    #[test]
    fn every_option_is_in_exactly_one_help_group() {
        // Each entry names its group; the table is kept in the order of `--help`, and every
        // group has options and a heading there.
        let pos = |g: options::Group| options::Group::ALL.iter().position(|x| *x == g);
        let groups: Vec<usize> = options::OPTIONS
            .iter()
            .map(|o| pos(o.group).unwrap())
            .collect();
        assert!(
            groups.windows(2).all(|w| w[0] <= w[1]),
            "table out of group order"
        );
        let h = help();
        for g in options::Group::ALL {
            assert!(
                options::OPTIONS.iter().any(|o| o.group == g),
                "{g:?} is empty"
            );
            assert!(h.contains(&format!("\n{}:\n", g.title())));
        }
        // Every option has one line in the help.
        for o in options::OPTIONS {
            let lines = h
                .lines()
                .filter(|l| {
                    let rest = l.strip_prefix(&format!("  --{}", o.name));
                    rest.is_some_and(|r| r.starts_with('=') || r.starts_with('['))
                })
                .count();
            assert_eq!(lines, 1, "{}", o.name);
        }
    }

    #[test]
    fn fio_defaults_and_spellings() {
        let p = parse_args(&args("--name=t --rw=read --size=1MiB")).unwrap();
        let j = &p.jobs[0];
        assert_eq!((j.engine, j.direct, j.iodepth), (IoEngine::Sync, false, 1));
        assert_eq!(
            j.size,
            Some(1_000_000),
            "fio reads 1MiB as 10^6 bytes by default"
        );
        let p = parse_args(&args("--name=t --kb_base=1000 --size=1MiB --bs=4k")).unwrap();
        assert_eq!((p.jobs[0].size, p.jobs[0].bs.min()), (Some(1 << 20), 4000));
        // kb_base applies to the whole section, wherever it stands.
        let p = parse_args(&args("--name=t --size=1k --kb_base=1000")).unwrap();
        assert_eq!(p.jobs[0].size, Some(1000));
        let p = parse_args(&args(
            "--name=t --timeout=3 --blocksize_range=4k-8k --threads",
        ))
        .unwrap();
        assert_eq!(p.jobs[0].runtime, Some(Duration::from_secs(3)));
        assert_eq!(p.jobs[0].bs, Bs::Range(4096, 8192));
        let p = parse_args(&args("--name=t --time_based")).unwrap();
        assert!(!p.jobs[0].time_based && p.warnings[0].contains("time_based"));
        let p = parse_args(&args(
            "--name=t --iodepth=8 --iodepth_batch_submit=0 --iodepth_batch_complete_min=0",
        ))
        .unwrap();
        assert_eq!(
            (p.jobs[0].batch_submit, p.jobs[0].batch_complete_min),
            (8, 0)
        );
        let p = parse_args(&args(
            "--name=t --ioengine=io_uring --fixedbufs=0 --registerfiles=0",
        ))
        .unwrap();
        assert!(!p.jobs[0].fixedbufs && !p.jobs[0].registerfiles);
        // io_uring's own options, as fio reads them: only where the engine in effect is
        // io_uring (or diorite's auto); before it, or with another engine, refused by name
        // (fio: "unrecognized option" / "Bad option"); a later section's other engine keeps them.
        for bad in [
            "--name=t --fixedbufs=1 --ioengine=io_uring",
            "--name=t --ioengine=libaio --registerfiles=0",
            "--name=t --ioengine=null --fixedbufs=1",
            "--fixedbufs=0 --name=t",
        ] {
            let e = format!("{:#}", parse_args(&args(bad)).unwrap_err());
            assert!(e.contains("io_uring engine"), "{bad}: {e}");
        }
        // pool_threads: only where a thread pool runs the job.
        for (line, ok) in [
            ("--name=t --ioengine=threads --pool_threads=3", true),
            ("--name=t --ioengine=posixaio --pool_threads=3", true),
            ("--name=t --ioengine=auto --pool_threads=3", true),
            (
                "--name=t --ioengine=libaio --inject=read:always:eio --pool_threads=3",
                true,
            ),
            ("--name=t --ioengine=io_uring --pool_threads=3", false),
            ("--name=t --ioengine=null --pool_threads=3", false),
            ("--name=t --pool_threads=3", false),
        ] {
            let r = parse_args(&args(line));
            assert_eq!(r.is_ok(), ok, "{line}: {:?}", r.err());
        }
        for good in [
            "--name=t --ioengine=auto --fixedbufs=0",
            "--ioengine=io_uring --fixedbufs=0 --name=t --ioengine=psync",
        ] {
            parse_args(&args(good)).unwrap_or_else(|e| panic!("{good}: {e:#}"));
        }
    }

    #[test]
    fn job_files_strip_inline_comments_and_expand_variables() {
        std::env::set_var("DIORITE_JOB_SIZE", "64m");
        let text = "[global]\nsize=${DIORITE_JOB_SIZE}\n[a]\nfilename=datafile.tmp\t; or use a full disk\nnumjobs=4 ; comment\nio_size=5*1024*1024*8/8\n";
        let mut g = Globals::default();
        let jobs = parse_jobfile(text, Path::new("t.fio"), &mut g).unwrap();
        assert_eq!(jobs[0].files.filenames, [PathBuf::from("datafile.tmp")]);
        assert_eq!(jobs[0].numjobs, 4);
        assert_eq!(jobs[0].size, Some(64 << 20));
        assert_eq!(jobs[0].io_size, Some(5 << 20));
    }

    /// The default demonstration job goes through the settle step like any other, and comes
    /// out as written (nothing in it needs settling, no warning).
    #[test]
    fn the_default_job_is_settled_as_written() {
        let j = default_job();
        let mut w = Vec::new();
        let s = settle::settle(j.clone(), &mut w).unwrap();
        assert_eq!(format!("{j:?}"), format!("{:?}", *s));
        assert!(w.is_empty());
    }
}
