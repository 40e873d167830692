//! Jobs as fio describes them: one option table shared by the command line and job files (fio's
//! INI format), and the validated [`JobSpec`] a runner executes.
//!
//! Option names are fio's; `-` and `_` are the same character (`--time-based` is
//! `--time_based`). An option this table does not know is an error naming it — never ignored.

use crate::size::{parse_size, parse_time};
use anyhow::{anyhow, bail, Context as _, Result};
use diorite::BackendChoice;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The I/O pattern (`rw=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names, reason = "fio's pattern names")]
pub enum Rw {
    Read,
    Write,
    RandRead,
    RandWrite,
    /// `rw` / `readwrite`: sequential, mixed.
    ReadWrite,
    RandRw,
}

impl Rw {
    fn parse(s: &str) -> Result<Rw> {
        Ok(match s {
            "read" => Rw::Read,
            "write" => Rw::Write,
            "randread" => Rw::RandRead,
            "randwrite" => Rw::RandWrite,
            "rw" | "readwrite" => Rw::ReadWrite,
            "randrw" => Rw::RandRw,
            _ => bail!(
                "rw={s}: unsupported pattern (supported: read, write, randread, randwrite, rw, \
                 readwrite, randrw)"
            ),
        })
    }
    pub fn reads(self) -> bool {
        !matches!(self, Rw::Write | Rw::RandWrite)
    }
    pub fn writes(self) -> bool {
        !matches!(self, Rw::Read | Rw::RandRead)
    }
    pub fn random(self) -> bool {
        matches!(self, Rw::RandRead | Rw::RandWrite | Rw::RandRw)
    }
    pub fn mixed(self) -> bool {
        matches!(self, Rw::ReadWrite | Rw::RandRw)
    }
}

/// Block sizes (`bs=`, `bsrange=`, `bssplit=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bs {
    Fixed(u64),
    /// Uniform over the multiples of `min` in `min..=max`.
    Range(u64, u64),
    /// `(size, weight)`, weights summing to 100.
    Split(Vec<(u64, u32)>),
}

impl Bs {
    pub fn min(&self) -> u64 {
        match self {
            Bs::Fixed(b) | Bs::Range(b, _) => *b,
            Bs::Split(v) => v.iter().map(|x| x.0).min().unwrap_or(0),
        }
    }
    pub fn max(&self) -> u64 {
        match self {
            Bs::Fixed(b) | Bs::Range(_, b) => *b,
            Bs::Split(v) => v.iter().map(|x| x.0).max().unwrap_or(0),
        }
    }
    /// The unit every length is a multiple of (offsets are multiples of it too).
    pub fn unit(&self) -> u64 {
        match self {
            Bs::Fixed(b) | Bs::Range(b, _) => *b,
            Bs::Split(v) => v.iter().fold(0, |g, x| gcd(g, x.0)),
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// `random_distribution=`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dist {
    Uniform,
    Zipf(f64),
    Pareto(f64),
    /// Standard deviation in percent of the region.
    Normal(f64),
}

impl Dist {
    fn parse(s: &str) -> Result<Dist> {
        let (kind, arg) = s.split_once(':').unwrap_or((s, ""));
        let num = |what: &str| -> Result<f64> {
            arg.parse::<f64>().map_err(|_| {
                anyhow!(
                    "random_distribution={s}: {kind} needs {what}, e.g. {kind}:{}",
                    match kind {
                        "zipf" => "1.2",
                        "pareto" => "0.2",
                        _ => "10",
                    }
                )
            })
        };
        Ok(match kind {
            "random" if arg.is_empty() => Dist::Uniform,
            "zipf" => {
                let t = num("a theta > 0, not 1")?;
                if t.is_nan() || t <= 0.0 || t == 1.0 {
                    bail!("random_distribution={s}: zipf theta must be > 0 and not 1");
                }
                Dist::Zipf(t)
            }
            "pareto" => {
                let h = num("a shape h in (0, 1)")?;
                if !(h > 0.0 && h < 1.0) {
                    bail!("random_distribution={s}: pareto h must be in (0, 1)");
                }
                Dist::Pareto(h)
            }
            "normal" => {
                let d = num("a deviation in percent (0, 100]")?;
                if !(d > 0.0 && d <= 100.0) {
                    bail!("random_distribution={s}: normal deviation must be in (0, 100] percent");
                }
                Dist::Normal(d)
            }
            _ => bail!(
                "random_distribution={s}: unsupported (supported: random, zipf:θ, pareto:h, normal:σ)"
            ),
        })
    }
}

/// `output-format=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Normal,
    Json,
    JsonPlus,
}

/// Options that apply to the whole run, not one job.
#[derive(Clone, Debug)]
pub struct Globals {
    pub output_format: OutputFormat,
    pub output: Option<PathBuf>,
    pub latency_plot: Option<PathBuf>,
    pub group_reporting: bool,
}

impl Default for Globals {
    fn default() -> Self {
        Globals {
            output_format: OutputFormat::Normal,
            output: None,
            latency_plot: None,
            group_reporting: false,
        }
    }
}

/// One job, as given (before targets are opened).
#[derive(Clone, Debug)]
pub struct JobSpec {
    pub name: String,
    pub filenames: Vec<PathBuf>,
    pub rw: Rw,
    pub rwmixread: u32,
    pub bs: Bs,
    pub iodepth: u32,
    pub batch_submit: u32,
    pub batch_complete_min: u32,
    pub batch_complete_max: Option<u32>,
    pub numjobs: u32,
    pub size: Option<u64>,
    pub offset: u64,
    pub io_size: Option<u64>,
    pub runtime: Option<Duration>,
    pub time_based: bool,
    pub ramp_time: Duration,
    pub engine: BackendChoice,
    pub direct: bool,
    pub fsync: u32,
    pub fdatasync: u32,
    pub randrepeat: bool,
    pub randseed: u64,
    pub dist: Dist,
    pub norandommap: bool,
    pub rate_iops: Option<u64>,
    pub verify: bool,
    pub verify_only: bool,
    pub verify_fatal: bool,
    pub stonewall: bool,
    pub pool_threads: Option<usize>,
    /// The options as given, for the report's "job options".
    pub given: Vec<(String, String)>,
}

impl Default for JobSpec {
    /// fio's defaults, except `direct=1` and `ioengine=auto` (diorite is a direct-I/O engine).
    fn default() -> Self {
        JobSpec {
            name: "job".into(),
            filenames: Vec::new(),
            rw: Rw::Read,
            rwmixread: 50,
            bs: Bs::Fixed(4096),
            iodepth: 1,
            batch_submit: 1,
            batch_complete_min: 1,
            batch_complete_max: None,
            numjobs: 1,
            size: None,
            offset: 0,
            io_size: None,
            runtime: None,
            time_based: false,
            ramp_time: Duration::ZERO,
            engine: BackendChoice::Auto,
            direct: true,
            fsync: 0,
            fdatasync: 0,
            randrepeat: true,
            randseed: 0x5eed_d10e,
            dist: Dist::Uniform,
            norandommap: false,
            rate_iops: None,
            verify: false,
            verify_only: false,
            verify_fatal: false,
            stonewall: false,
            pool_threads: None,
            given: Vec::new(),
        }
    }
}

/// What an option's value looks like.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// `--opt=value` or `--opt value`.
    Value,
    /// `--opt` (true) or `--opt=0|1`.
    Flag,
}

/// The option table: name, value kind, help. The setter is [`apply`].
const OPTIONS: &[(&str, Takes, &str)] = &[
    (
        "name",
        Takes::Value,
        "job name; on the command line, starts a new job",
    ),
    (
        "filename",
        Takes::Value,
        "target file(s) or block device(s), ':'-separated (default: a temp file)",
    ),
    (
        "rw",
        Takes::Value,
        "read, write, randread, randwrite, rw|readwrite, randrw (default read)",
    ),
    ("readwrite", Takes::Value, "same as rw"),
    (
        "rwmixread",
        Takes::Value,
        "percent of reads in a mixed workload (default 50)",
    ),
    (
        "rwmixwrite",
        Takes::Value,
        "percent of writes in a mixed workload",
    ),
    ("bs", Takes::Value, "block size (default 4k)"),
    ("blocksize", Takes::Value, "same as bs"),
    (
        "bsrange",
        Takes::Value,
        "block sizes min-max, e.g. 4k-64k (multiples of min)",
    ),
    (
        "bssplit",
        Takes::Value,
        "weighted block sizes, e.g. 4k/50:64k/40:1m/10",
    ),
    ("iodepth", Takes::Value, "requests in flight (default 1)"),
    (
        "iodepth_batch_submit",
        Takes::Value,
        "requests submitted per call (default 1)",
    ),
    (
        "iodepth_batch",
        Takes::Value,
        "same as iodepth_batch_submit",
    ),
    (
        "iodepth_batch_complete_min",
        Takes::Value,
        "completions to wait for per reap (default 1)",
    ),
    (
        "iodepth_batch_complete",
        Takes::Value,
        "same as iodepth_batch_complete_min",
    ),
    (
        "iodepth_batch_complete_max",
        Takes::Value,
        "completions taken per reap at most (default iodepth)",
    ),
    (
        "numjobs",
        Takes::Value,
        "clones of this job, each a thread with its own context (default 1)",
    ),
    (
        "size",
        Takes::Value,
        "bytes of the target(s) to use (default: the whole target; 256m for the temp file)",
    ),
    (
        "offset",
        Takes::Value,
        "start of the region in each file (default 0)",
    ),
    (
        "io_size",
        Takes::Value,
        "bytes to transfer before the job ends (default size)",
    ),
    ("io_limit", Takes::Value, "same as io_size"),
    (
        "runtime",
        Takes::Value,
        "stop after this long (10, 10s, 500ms, 1m)",
    ),
    (
        "time_based",
        Takes::Flag,
        "run for runtime even when size is done (wrap around)",
    ),
    ("ramp_time", Takes::Value, "run this long before measuring"),
    (
        "ioengine",
        Takes::Value,
        "auto, io_uring, libaio|aio, threads|psync|pvsync2 (default auto)",
    ),
    ("direct", Takes::Value, "1: O_DIRECT (default), 0: buffered"),
    ("fsync", Takes::Value, "fsync after every N writes"),
    ("fdatasync", Takes::Value, "fdatasync after every N writes"),
    (
        "randrepeat",
        Takes::Value,
        "1: the same random sequence every run (default), 0: seeded from the clock",
    ),
    ("randseed", Takes::Value, "seed of the random sequences"),
    (
        "random_distribution",
        Takes::Value,
        "random, zipf:θ, pareto:h, normal:σ% (default random)",
    ),
    (
        "norandommap",
        Takes::Flag,
        "random offsets may repeat within a pass",
    ),
    (
        "group_reporting",
        Takes::Flag,
        "report each group of jobs as one",
    ),
    ("thread", Takes::Flag, "accepted: jobs are always threads"),
    (
        "rate_iops",
        Takes::Value,
        "cap each job at this many I/Os per second",
    ),
    (
        "verify",
        Takes::Value,
        "crc32c: write blocks with headers and check them afterwards",
    ),
    (
        "do_verify",
        Takes::Value,
        "1 (default): run the verify phase after writing when verify is set",
    ),
    (
        "verify_only",
        Takes::Flag,
        "check a target written earlier by the same job; write nothing",
    ),
    (
        "verify_fatal",
        Takes::Flag,
        "stop at the first verify mismatch",
    ),
    (
        "stonewall",
        Takes::Flag,
        "wait for the jobs before this one; starts a new group",
    ),
    ("wait_for_previous", Takes::Flag, "same as stonewall"),
    (
        "output_format",
        Takes::Value,
        "normal (default), json, json+",
    ),
    ("output", Takes::Value, "write the report to this file"),
    (
        "latency_plot",
        Takes::Value,
        "write a latency histogram and percentile curve (SVG)",
    ),
    (
        "pool_threads",
        Takes::Value,
        "worker threads of the thread-pool backend (default: iodepth, at most 64)",
    ),
];

/// fio's engine names mapped to backends.
pub fn parse_engine(s: &str) -> Result<BackendChoice> {
    Ok(match s {
        "auto" => BackendChoice::Auto,
        "io_uring" | "uring" => BackendChoice::IoUring,
        "libaio" | "aio" => BackendChoice::Aio,
        "threads" | "psync" | "pvsync2" | "sync" => BackendChoice::Threads,
        _ => bail!(
            "ioengine={s}: unknown engine (supported: auto, io_uring, libaio|aio, threads|psync|pvsync2)"
        ),
    })
}

fn normalize(name: &str) -> String {
    name.trim().replace('-', "_").to_ascii_lowercase()
}

fn lookup(name: &str) -> Option<Takes> {
    OPTIONS.iter().find(|o| o.0 == name).map(|o| o.1)
}

fn parse_bool(name: &str, v: Option<&str>) -> Result<bool> {
    match v.map(str::trim) {
        None | Some("1") | Some("true") => Ok(true),
        Some("0") | Some("false") => Ok(false),
        Some(x) => bail!("{name}={x}: expected 0 or 1"),
    }
}

fn parse_u32(name: &str, v: &str, min: u32, max: u32) -> Result<u32> {
    let n: u32 = v
        .trim()
        .parse()
        .map_err(|_| anyhow!("{name}={v}: expected a whole number"))?;
    if n < min || n > max {
        bail!("{name}={v}: must be between {min} and {max}");
    }
    Ok(n)
}

fn parse_bs(name: &str, v: &str) -> Result<u64> {
    if v.contains(',') {
        bail!("{name}={v}: separate read,write block sizes are not supported; give one size");
    }
    let b = size_of(name, v)?;
    if b == 0 || b > 64 << 20 {
        bail!("{name}={v}: block size must be between 1 byte and 64 MiB");
    }
    Ok(b)
}

fn parse_bssplit(v: &str) -> Result<Bs> {
    let mut parts = Vec::new();
    for item in v.split(':') {
        let (size, pct) = item.split_once('/').unwrap_or((item, ""));
        let size = parse_bs("bssplit", size)?;
        let pct = if pct.is_empty() {
            None
        } else {
            Some(parse_u32("bssplit", pct, 0, 100)?)
        };
        parts.push((size, pct));
    }
    let given: u32 = parts.iter().filter_map(|p| p.1).sum();
    let open = parts.iter().filter(|p| p.1.is_none()).count() as u32;
    if given > 100 || (open == 0 && given != 100) {
        bail!("bssplit={v}: the percentages must add up to 100");
    }
    // Sizes without a percentage share what is left evenly (fio's rule); the first takes the
    // remainder of the division.
    let mut rest = 100 - given;
    let mut out = Vec::new();
    let mut first_open = true;
    for (size, pct) in parts {
        let w = match pct {
            Some(p) => p,
            None => {
                let share = (100 - given) / open;
                let w = if first_open {
                    rest - share * (open - 1)
                } else {
                    share
                };
                first_open = false;
                rest -= w.min(rest);
                w
            }
        };
        out.push((size, w));
    }
    Ok(Bs::Split(out))
}

/// A size option's value, the error naming the option.
fn size_of(name: &str, v: &str) -> Result<u64> {
    parse_size(v).with_context(|| format!("{name}={v}"))
}

/// A time option's value, the error naming the option.
fn time_of(name: &str, v: &str) -> Result<Duration> {
    parse_time(v).with_context(|| format!("{name}={v}"))
}

/// Applies option `name` (normalized) with `value` to `job` or `g`.
fn apply(job: &mut JobSpec, g: &mut Globals, name: &str, value: Option<&str>) -> Result<()> {
    let v = || -> Result<&str> {
        value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| anyhow!("option {name} needs a value ({name}=...)"))
    };
    match name {
        "name" => job.name = v()?.to_string(),
        "filename" => {
            job.filenames = v()?
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect()
        }
        "rw" | "readwrite" => job.rw = Rw::parse(v()?)?,
        "rwmixread" => job.rwmixread = parse_u32(name, v()?, 0, 100)?,
        "rwmixwrite" => job.rwmixread = 100 - parse_u32(name, v()?, 0, 100)?,
        "bs" | "blocksize" => job.bs = Bs::Fixed(parse_bs(name, v()?)?),
        "bsrange" => {
            let s = v()?;
            let (a, b) = s
                .split_once('-')
                .filter(|(a, b)| !a.trim().is_empty() && !b.trim().is_empty())
                .ok_or_else(|| anyhow!("bsrange={s}: expected min-max (two sizes), e.g. 4k-64k"))?;
            let (a, b) = (parse_bs(name, a)?, parse_bs(name, b)?);
            if a > b {
                bail!("bsrange={s}: min is larger than max");
            }
            job.bs = Bs::Range(a, b);
        }
        "bssplit" => job.bs = parse_bssplit(v()?)?,
        "iodepth" => job.iodepth = parse_u32(name, v()?, 1, 65535)?,
        "iodepth_batch_submit" | "iodepth_batch" => {
            job.batch_submit = parse_u32(name, v()?, 0, 65535)?.max(1)
        }
        "iodepth_batch_complete_min" | "iodepth_batch_complete" => {
            job.batch_complete_min = parse_u32(name, v()?, 0, 65535)?.max(1)
        }
        "iodepth_batch_complete_max" => {
            job.batch_complete_max = Some(parse_u32(name, v()?, 1, 65535)?)
        }
        "numjobs" => job.numjobs = parse_u32(name, v()?, 1, 1024)?,
        "size" => {
            let s = v()?;
            if s.ends_with('%') {
                bail!("size={s}: percentages are not supported; give a size");
            }
            job.size = Some(size_of(name, s)?)
        }
        "offset" => job.offset = size_of(name, v()?)?,
        "io_size" | "io_limit" => job.io_size = Some(size_of(name, v()?)?),
        "runtime" => job.runtime = Some(time_of(name, v()?)?),
        "time_based" => job.time_based = parse_bool(name, value)?,
        "ramp_time" => job.ramp_time = time_of(name, v()?)?,
        "ioengine" => job.engine = parse_engine(v()?)?,
        "direct" => job.direct = parse_bool(name, Some(v()?))?,
        "fsync" => job.fsync = parse_u32(name, v()?, 0, u32::MAX)?,
        "fdatasync" => job.fdatasync = parse_u32(name, v()?, 0, u32::MAX)?,
        "randrepeat" => job.randrepeat = parse_bool(name, Some(v()?))?,
        "randseed" => {
            job.randseed = v()?
                .parse()
                .map_err(|_| anyhow!("randseed={}: expected a number", v().unwrap_or("")))?
        }
        "random_distribution" => job.dist = Dist::parse(v()?)?,
        "norandommap" => job.norandommap = parse_bool(name, value)?,
        "group_reporting" => g.group_reporting = parse_bool(name, value)?,
        "thread" => {
            parse_bool(name, value)?;
        }
        "rate_iops" => job.rate_iops = Some(u64::from(parse_u32(name, v()?, 1, u32::MAX)?)),
        "verify" => {
            job.verify = match v()? {
                "crc32c" | "crc32c-intel" => true,
                "0" | "none" => false,
                x => bail!("verify={x}: unsupported (supported: crc32c)"),
            }
        }
        "do_verify" => {
            if !parse_bool(name, Some(v()?))? {
                job.verify = false;
            }
        }
        "verify_only" => job.verify_only = parse_bool(name, value)?,
        "verify_fatal" => job.verify_fatal = parse_bool(name, value)?,
        "stonewall" | "wait_for_previous" => job.stonewall = parse_bool(name, value)?,
        "output_format" => {
            g.output_format = match v()? {
                "normal" => OutputFormat::Normal,
                "json" => OutputFormat::Json,
                "json+" => OutputFormat::JsonPlus,
                x => bail!("output-format={x}: unsupported (supported: normal, json, json+)"),
            }
        }
        "output" => g.output = Some(PathBuf::from(v()?)),
        "latency_plot" => g.latency_plot = Some(PathBuf::from(v()?)),
        "pool_threads" => job.pool_threads = Some(parse_u32(name, v()?, 1, 1024)? as usize),
        _ => unreachable!("option {name} is in the table but has no setter"),
    }
    if !matches!(
        name,
        "output_format" | "output" | "latency_plot" | "group_reporting"
    ) {
        job.given.retain(|(k, _)| k != name);
        job.given
            .push((name.to_string(), value.unwrap_or("").trim().to_string()));
    }
    Ok(())
}

/// Sets one option by name, checking the name against the table.
fn set(job: &mut JobSpec, g: &mut Globals, raw: &str, value: Option<&str>) -> Result<()> {
    let name = normalize(raw);
    match lookup(&name) {
        Some(Takes::Flag) | Some(Takes::Value) => apply(job, g, &name, value),
        None => {
            bail!("unknown or unsupported option '{raw}' (diorite bench --help lists the options)")
        }
    }
}

/// The whole run: jobs in order (with their stonewall marks) and the global options.
#[derive(Debug)]
pub struct Plan {
    pub jobs: Vec<JobSpec>,
    pub globals: Globals,
    /// No job option was given at all: run the default demonstration job.
    pub default_job: bool,
}

/// The default job of a bare `diorite bench`: 4 KiB random reads at depth 32 for 10 s.
fn default_job() -> JobSpec {
    let mut j = JobSpec {
        name: "default".into(),
        rw: Rw::RandRead,
        iodepth: 32,
        runtime: Some(Duration::from_secs(10)),
        time_based: true,
        ..JobSpec::default()
    };
    j.given = vec![
        ("rw".into(), "randread".into()),
        ("bs".into(), "4k".into()),
        ("iodepth".into(), "32".into()),
        ("runtime".into(), "10".into()),
        ("time_based".into(), "".into()),
    ];
    j
}

/// Parses `diorite bench`'s arguments: job files (positional) and `--option[=value]`s in fio's
/// command-line style (options before the first `--name` are global; each `--name` starts a job).
/// With a job file, command-line options apply to every job in it, over the file's settings.
pub fn parse_args(args: &[String]) -> Result<Plan> {
    let mut globals = Globals::default();
    let mut template = JobSpec::default();
    let mut jobs: Vec<JobSpec> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    // Options given alongside a job file, replayed onto each of its jobs.
    let mut overrides: Vec<(String, Option<String>)> = Vec::new();
    let mut any_job_option = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let Some(opt) = a.strip_prefix("--") else {
            if a.starts_with('-') && a.len() > 1 {
                bail!("unknown option '{a}' (options are spelled --name=value)");
            }
            files.push(PathBuf::from(a));
            continue;
        };
        let (raw, inline) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (opt, None),
        };
        let name = normalize(raw);
        let takes = lookup(&name).ok_or_else(|| {
            anyhow!(
                "unknown or unsupported option '--{raw}' (diorite bench --help lists the options)"
            )
        })?;
        let value = match (takes, inline) {
            (_, Some(v)) => Some(v),
            (Takes::Flag, None) => None,
            (Takes::Value, None) => {
                let v = args
                    .get(i)
                    .ok_or_else(|| anyhow!("option --{raw} needs a value (--{raw}=...)"))?;
                i += 1;
                Some(v.clone())
            }
        };
        let global_only = matches!(
            name.as_str(),
            "output_format" | "output" | "latency_plot" | "group_reporting"
        );
        if !global_only {
            any_job_option = true;
        }
        if name == "name" {
            let mut j = template.clone();
            apply(&mut j, &mut globals, "name", value.as_deref())?;
            jobs.push(j);
        } else if let Some(j) = jobs.last_mut() {
            apply(j, &mut globals, &name, value.as_deref())?;
        } else {
            apply(&mut template, &mut globals, &name, value.as_deref())?;
            overrides.push((name, value));
        }
    }
    if !files.is_empty() {
        if !jobs.is_empty() {
            bail!("give jobs either in a job file or with --name on the command line, not both");
        }
        let mut all = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading job file {}", f.display()))?;
            let mut parsed = parse_jobfile(&text, f, &mut globals)?;
            for j in &mut parsed {
                for (k, v) in &overrides {
                    apply(j, &mut globals, k, v.as_deref())?;
                }
            }
            all.extend(parsed);
        }
        return Ok(Plan {
            jobs: all,
            globals,
            default_job: false,
        });
    }
    if jobs.is_empty() {
        if !any_job_option {
            return Ok(Plan {
                jobs: vec![default_job()],
                globals,
                default_job: true,
            });
        }
        jobs.push(template);
    }
    Ok(Plan {
        jobs,
        globals,
        default_job: false,
    })
}

/// Parses an fio job file: `[global]` sections set defaults for the jobs after them, every other
/// section is a job; `key=value` or a bare `key`; `;` and `#` start comments.
pub fn parse_jobfile(text: &str, path: &Path, globals: &mut Globals) -> Result<Vec<JobSpec>> {
    let mut template = JobSpec::default();
    let mut jobs: Vec<JobSpec> = Vec::new();
    // None: before any section; Some(None): in [global]; Some(Some(i)): in job i.
    let mut section: Option<Option<usize>> = None;
    for (n, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), n + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
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
            if name == "global" {
                section = Some(None);
            } else {
                let mut j = template.clone();
                apply(&mut j, globals, "name", Some(name))?;
                jobs.push(j);
                section = Some(Some(jobs.len() - 1));
            }
            continue;
        }
        let (k, v) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (line, None),
        };
        let target = match section {
            None => bail!(
                "{}: option {k:?} outside a section ([global] or [jobname])",
                at()
            ),
            Some(None) => &mut template,
            Some(Some(i)) => &mut jobs[i],
        };
        set(target, globals, k, v).with_context(at)?;
    }
    if jobs.is_empty() {
        bail!("{}: no job sections (only [global])", path.display());
    }
    Ok(jobs)
}

/// `diorite bench --help`: the option table.
pub fn help() -> String {
    let mut s = String::from(
        "Usage: diorite bench [JOBFILE...] [--option=value ...]\n\n\
         Runs fio-style jobs through the diorite engine. Without any job option, runs the default job\n\
         (4 KiB random reads, iodepth 32, 10 s) on a 256 MiB temp file. On the command line, options\n\
         before the first --name apply to every job; each --name starts a job. '-' and '_' are\n\
         interchangeable. Sizes take fio's suffixes (k, m, g, KiB, ...; base 2).\n\nOptions:\n",
    );
    for (name, takes, help) in OPTIONS {
        let spelled = match takes {
            Takes::Value => format!("--{name}=V"),
            Takes::Flag => format!("--{name}"),
        };
        s.push_str(&format!("  {spelled:<34} {help}\n"));
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
        assert!(parse_args(&args("--rw=trim")).is_err());
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
        assert_eq!(
            parse_bssplit("4k/50:64k/40:1m/10").unwrap(),
            Bs::Split(vec![(4096, 50), (65536, 40), (1 << 20, 10)])
        );
        assert_eq!(
            parse_bssplit("4k/40:8k:16k").unwrap(),
            Bs::Split(vec![(4096, 40), (8192, 30), (16384, 30)])
        );
        assert_eq!(Bs::Split(vec![(4096, 50), (6144, 50)]).unit(), 2048);
        assert_eq!(Dist::parse("zipf:1.2").unwrap(), Dist::Zipf(1.2));
        assert_eq!(Dist::parse("normal:5").unwrap(), Dist::Normal(5.0));
        assert!(Dist::parse("pareto:1.5").is_err());
    }
}
