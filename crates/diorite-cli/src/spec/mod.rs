//! What a job is, settled: the [`JobSpec`] a runner executes and the value types its options
//! take. This layer depends on nothing else in the crate: the parser ([`crate::job`]) fills it,
//! the planner and the runners ([`crate::plan`], [`run`](mod@crate::run)) read it, the report
//! ([`crate::report`]) prints it.

pub mod cpu;
mod groups;
pub mod steady;
pub mod suggest;
pub mod value;
pub mod verify;

use anyhow::{anyhow, bail, Result};
use diorite::BackendChoice;
use std::path::PathBuf;
use std::time::Duration;

pub use groups::{
    FileOpts, LogOpts, MeasureOpts, OffsetOpts, PacingOpts, PlacementOpts, VerifyOpts,
    DEFAULT_RANDSEED,
};

/// fio's percentile list.
pub const PERCENTILES: [f64; 17] = [
    1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95,
    99.99,
];

/// How a job issues its I/O (`ioengine=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoEngine {
    /// Through an engine context on this backend, `iodepth` in flight.
    Async(BackendChoice),
    /// fio's synchronous engines (`psync`, `sync`, `pvsync`, `pvsync2`): the job thread itself
    /// calls `pread`/`pwrite`, one I/O at a time (queue depth 1, whatever `iodepth` says).
    Sync,
}

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
    /// Trims (discards), block devices only, as in fio.
    Trim,
    RandTrim,
    /// Trim a range, then write the same range (fio's `trimwrite` / `randtrimwrite`).
    TrimWrite,
    RandTrimWrite,
}

/// fio's error types (`td_error_type`), the index of `continue_on` and `ignore_error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    Read = 0,
    /// Writes, trims and syncs.
    Write = 1,
    /// EILSEQ: the data read back is not what was written.
    Verify = 2,
}

impl ErrorType {
    /// EILSEQ is a verify error; otherwise reads are reads and everything else (writes, trims,
    /// syncs) writes.
    pub fn of(read: bool, errno: i32) -> ErrorType {
        if errno == libc::EILSEQ {
            ErrorType::Verify
        } else if read {
            ErrorType::Read
        } else {
            ErrorType::Write
        }
    }
}

impl JobSpec {
    /// Whether the job runs on the null engine (no data moves; its file may not exist).
    pub fn is_null(&self) -> bool {
        self.engine == IoEngine::Async(diorite::BackendChoice::Null)
    }

    /// Whether fio would go on after `errno` of error type `etype` (`td_non_fatal_error`).
    pub fn continues_on(&self, etype: ErrorType, errno: i32) -> bool {
        let t = etype as usize;
        self.continue_on[t]
            && match &self.ignore_error[t] {
                Some(list) => list.contains(&errno),
                None => errno == libc::EIO || errno == libc::EILSEQ,
            }
    }

    /// Whether continue_on_error / ignore_error is on at all (fio then reports `total_err`
    /// and `first_error`).
    pub fn continuing(&self) -> bool {
        self.continue_on.iter().any(|&c| c)
    }
}

impl Rw {
    pub(crate) fn parse(s: &str) -> Result<Rw> {
        Ok(match s {
            "read" => Rw::Read,
            "write" => Rw::Write,
            "randread" => Rw::RandRead,
            "randwrite" => Rw::RandWrite,
            "rw" | "readwrite" => Rw::ReadWrite,
            "randrw" => Rw::RandRw,
            "trim" => Rw::Trim,
            "randtrim" => Rw::RandTrim,
            "trimwrite" => Rw::TrimWrite,
            "randtrimwrite" => Rw::RandTrimWrite,
            _ => {
                bail!(
                "rw={s}: unsupported pattern (supported: read, write, randread, randwrite, rw, \
                 readwrite, randrw, trim, randtrim, trimwrite, randtrimwrite){}",
                suggest::did_you_mean(
                    s,
                    [
                        "read", "write", "randread", "randwrite", "rw", "readwrite", "randrw",
                        "trim", "randtrim", "trimwrite", "randtrimwrite",
                    ]
                )
            )
            }
        })
    }
    pub fn reads(self) -> bool {
        matches!(self, Rw::Read | Rw::RandRead | Rw::ReadWrite | Rw::RandRw)
    }
    /// Whether the target must be open for writing (trims need it too).
    pub fn writes(self) -> bool {
        !matches!(self, Rw::Read | Rw::RandRead)
    }
    pub fn trims(self) -> bool {
        matches!(
            self,
            Rw::Trim | Rw::RandTrim | Rw::TrimWrite | Rw::RandTrimWrite
        )
    }
    pub fn random(self) -> bool {
        matches!(
            self,
            Rw::RandRead | Rw::RandWrite | Rw::RandRw | Rw::RandTrim | Rw::RandTrimWrite
        )
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
    /// The sizes this choice can produce at the extremes and the unit (for the envelope of
    /// several: see [`JobSpec::bs_dirs`]).
    fn corners(&self) -> Vec<u64> {
        match self {
            Bs::Fixed(b) => vec![*b],
            // bsrange picks multiples of min up to max.
            Bs::Range(a, b) => vec![*a, a * (b / a)],
            Bs::Split(v) => v.iter().map(|x| x.0).collect(),
        }
    }

    /// One `Bs` whose `min`, `max` and `unit` cover both directions' choices (never used to
    /// pick a size).
    pub fn envelope(dirs: &[Bs; 2]) -> Bs {
        if dirs[0] == dirs[1] {
            return dirs[0].clone();
        }
        let mut all: Vec<u64> = dirs.iter().flat_map(Bs::corners).collect();
        all.sort_unstable();
        all.dedup();
        let n = all.len() as u32;
        Bs::Split(all.into_iter().map(|b| (b, 100 / n)).collect())
    }

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
#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    Uniform,
    Zipf(f64),
    Pareto(f64),
    /// Standard deviation in percent of the region.
    Normal(f64),
    /// fio's `zoned` (`abs` false: zone sizes in percent of the region) and `zoned_abs` (sizes
    /// in bytes): `(access percent, size)` per zone, in order from the region's start.
    Zoned {
        zones: std::sync::Arc<[(u32, u64)]>,
        abs: bool,
    },
}

impl Dist {
    pub(crate) fn parse(s: &str) -> Result<Dist> {
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
            "zoned" | "zoned_abs" => Dist::parse_zoned(s, kind == "zoned_abs")?,
            _ => bail!(
                "random_distribution={s}: unsupported (supported: random, zipf:θ, pareto:h, \
                 normal:σ, zoned:A/S:..., zoned_abs:A/SIZE:...)"
            ),
        })
    }

    /// fio's zone list (options.c `zone_split_ddir`): `ACCESS/SIZE` items, `:`-separated (fio
    /// also takes `=` after the kind); access percentages must add up to 100, sizes (percent)
    /// to at most 100; a missing value shares what is left evenly. One list for every
    /// direction (per-direction lists are refused for now).
    fn parse_zoned(s: &str, abs: bool) -> Result<Dist> {
        let kind = if abs { "zoned_abs" } else { "zoned" };
        let list = s[kind.len()..].trim_start_matches([':', '=']);
        if list.contains(',') {
            bail!("random_distribution={s}: per-direction zone lists are not supported yet");
        }
        let mut items: Vec<(Option<u32>, Option<u64>)> = Vec::new();
        for item in list.split(':').filter(|i| !i.is_empty()) {
            let (a, z) = item.split_once('/').unwrap_or((item, ""));
            let a = (!a.is_empty())
                .then(|| a.parse::<u32>())
                .transpose()
                .map_err(|_| anyhow!("random_distribution={s}: {a:?} is not a percentage"))?;
            let z = if z.is_empty() {
                None
            } else if abs {
                Some(value::size(z, 1024).map_err(|e| anyhow!("random_distribution={s}: {e}"))?)
            } else {
                Some(
                    z.parse::<u64>().map_err(|_| {
                        anyhow!("random_distribution={s}: {z:?} is not a percentage")
                    })?,
                )
            };
            items.push((a, z));
        }
        if items.is_empty() || items.len() > 256 {
            bail!("random_distribution={s}: give 1 to 256 zones, ACCESS/SIZE:...");
        }
        let perc: u32 = items.iter().filter_map(|i| i.0).sum();
        let sperc: u64 = if abs {
            0
        } else {
            items.iter().filter_map(|i| i.1).sum()
        };
        if perc > 100 || sperc > 100 {
            bail!("random_distribution={s}: the percentages add up to more than 100");
        }
        let (pm, sm) = (
            items.iter().filter(|i| i.0.is_none()).count() as u32,
            items.iter().filter(|i| i.1.is_none()).count() as u64,
        );
        if perc < 100 && pm == 0 {
            bail!("random_distribution={s}: the access percentages add up to {perc}, not 100");
        }
        if abs && sm > 0 {
            bail!("random_distribution={s}: zoned_abs needs a size for every zone");
        }
        let zones: Vec<(u32, u64)> = items
            .into_iter()
            .map(|(a, z)| {
                (
                    a.unwrap_or((100 - perc) / pm.max(1)),
                    z.unwrap_or((100 - sperc) / sm.max(1)),
                )
            })
            .collect();
        Ok(Dist::Zoned {
            zones: zones.into(),
            abs,
        })
    }
}

/// One of `output-format=`'s comma-separated formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Normal,
    Terse,
    Json,
    JsonPlus,
}

/// `eta=`: when the progress line is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eta {
    /// On a terminal, with normal output (fio's `auto`).
    Auto,
    Always,
    Never,
}

/// Options that apply to the whole run, not one job.
#[derive(Clone, Debug)]
pub struct Globals {
    /// The report formats, written in this order (fio: `--output-format=json,normal`).
    pub formats: Vec<OutputFormat>,
    pub output: Option<PathBuf>,
    pub latency_plot: Option<PathBuf>,
    pub group_reporting: bool,
    pub eta: Eta,
    /// fio's `status-interval`: print the full status this often.
    pub status_interval: Option<Duration>,
    /// fio's `--parse-only`: check the jobs, print what would run, touch nothing.
    pub parse_only: bool,
    /// fio's `--section` (repeatable): run only these sections of the job files.
    pub sections: Vec<String>,
    /// fio's `--readonly`: writing and trimming jobs, and layouts, are refused.
    pub readonly: bool,
    /// fio's `--eta-interval` (how often the progress line is drawn) and `--eta-newline`
    /// (how often it is kept as a line of its own).
    pub eta_interval: Duration,
    pub eta_newline: Option<Duration>,
    /// fio's `--warnings-fatal`: a warning ends the run before it starts.
    pub warnings_fatal: bool,
    /// What to print instead of running: fio's `--version`, `--cmdhelp`, `--enghelp`.
    pub show: Option<Show>,
    /// fio's JSON "global options": the job options given on the command line before the first
    /// `--name` (each job's "job options" then lists only its own), as given.
    pub global_options: Vec<(String, String)>,
}

/// fio's informational command-line options: print, run nothing.
#[derive(Clone, Debug, PartialEq)]
pub enum Show {
    Version,
    /// `--cmdhelp=NAME` (an option, or `all`).
    Option(String),
    /// `--enghelp[=ENGINE]`.
    Engine(String),
}

impl Default for Globals {
    fn default() -> Self {
        Globals {
            formats: vec![OutputFormat::Normal],
            output: None,
            latency_plot: None,
            group_reporting: false,
            eta: Eta::Auto,
            status_interval: None,
            parse_only: false,
            sections: Vec::new(),
            readonly: false,
            eta_interval: Duration::from_millis(250),
            eta_newline: None,
            warnings_fatal: false,
            show: None,
            global_options: Vec::new(),
        }
    }
}

/// One job, as given (before targets are opened).
#[derive(Clone, Debug)]
pub struct JobSpec {
    pub name: String,
    pub rw: Rw,
    pub rwmixread: u32,
    /// The block sizes: `bs` the envelope of both directions (sizing, alignment, the unit of
    /// offsets), `bs_rw` what reads and writes pick from (fio's `bs=R,W`, `bsrange`,
    /// `bssplit` per direction); `bs_trim` whether a trim value was given (refused for trim
    /// jobs for now).
    pub bs: Bs,
    pub bs_rw: Option<[Bs; 2]>,
    pub bs_trim: bool,
    pub iodepth: u32,
    pub batch_submit: u32,
    pub batch_complete_min: u32,
    pub batch_complete_max: Option<u32>,
    pub numjobs: u32,
    pub size: Option<u64>,
    pub io_size: Option<u64>,
    /// fio's percentage forms: `size=N%`, `offset=N%` (of each file; resolved per clone when
    /// the files are known), and `offset_increment` (clone k starts k increments later).
    pub size_pct: Option<u64>,
    pub runtime: Option<Duration>,
    pub time_based: bool,
    pub ramp_time: Duration,
    pub engine: IoEngine,
    pub direct: bool,
    /// fio's `uncached` (io_uring, pvsync2): buffered I/O with `RWF_DONTCACHE` (pages leave
    /// the cache once done); as in fio, without effect when `direct=1`.
    pub uncached: bool,
    /// `ioengine=pvsync2`: the synchronous engine whose per-I/O flags fio exposes (`uncached`).
    pub pvsync2: bool,
    /// fio's `kb_base`: 1024 or 1000 (see [`value`]).
    pub kb_base: u32,
    pub thread: bool,
    /// fio's `description`: printed with the job's report, not parsed.
    pub description: Option<String>,
    /// fio's `number_ios`: the job ends once this many I/Os were issued (if nothing else ended
    /// it first).
    pub number_ios: Option<u64>,
    /// fio's `loops`: the job's I/O amount, repeated.
    pub loops: u32,
    /// fio's `startdelay`: the job starts this long after its group; with a range (up to
    /// `startdelay_high`), each clone picks its own delay in it (drawn in `plan.rs`).
    pub startdelay: Duration,
    pub startdelay_high: Option<Duration>,
    /// Register buffers (`fixedbufs`) and files (`registerfiles`) with io_uring.
    pub fixedbufs: bool,
    pub registerfiles: bool,
    /// io_uring's `sqthread_poll` (SQPOLL), `sqthread_poll_cpu` and `hipri` (IOPOLL).
    pub sqthread_poll: bool,
    pub sqthread_poll_cpu: Option<u32>,
    pub hipri: bool,
    pub fsync: u32,
    pub fdatasync: u32,
    /// fio's `end_fsync`: fsync every file when the phase has drained.
    pub end_fsync: bool,
    /// fio's `atomic`: every write torn-write free (`RWF_ATOMIC`).
    pub atomic: bool,
    /// fio's `error_dump` (default on): every non-fatal error is said as it happens.
    pub error_dump: bool,
    /// fio's `iodepth_low`: the depth a full queue drains to before it is filled again.
    pub iodepth_low: Option<u32>,
    /// fio's `invalidate` (default on): drop the files' cached pages before the job's I/O.
    pub invalidate: bool,
    /// fio's `sync` (`none`/`0`, `sync`/`1`, `dsync`): the files opened with `O_SYNC` or
    /// `O_DSYNC`.
    pub sync_io: diorite::WriteSync,
    pub verify: bool,
    pub do_verify: bool,
    pub verify_only: bool,
    /// A reading job with verify, run as a `verify_only` pass over its region (settled).
    pub read_verify: bool,
    pub verify_fatal: bool,
    pub stonewall: bool,
    /// fio's `new_group`: a new reporting group starts with this job (no waiting).
    pub new_group: bool,
    /// fio's `wait_for`: the job starts once every clone of this earlier job has finished.
    pub wait_for: Option<String>,
    /// fio's `exitall` (any job giving it turns it on for the run, as fio's global does) and
    /// `exit_what`: when a job ends, which others end with it.
    pub exitall: bool,
    pub exit_what: ExitWhat,
    /// The job's number in the run (1-based, clones counted), which per-job log names carry.
    pub job_number: u32,
    pub pool_threads: Option<usize>,
    /// `ioengine=posixaio`: the thread pool, sized as glibc's POSIX AIO runs (one worker per
    /// file descriptor, at most 20 — glibc's `aio_threads`).
    pub posix_aio: bool,
    /// diorite's `inject`: fault rules (the faulty backend).
    pub inject: Option<String>,
    /// diorite's `crash`: the job recorded, and its durability claims checked in this many
    /// simulated power cuts (`run/crash.rs`).
    pub crash: Option<u64>,
    /// fio's `continue_on_error` (read, write, verify bits) and `ignore_error` (per
    /// [`ErrorType`], the errnos to continue on; `None`: fio's non-fatal EIO and EILSEQ).
    pub continue_on: [bool; 3],
    pub ignore_error: [Option<Vec<i32>>; 3],
    /// fio's data options: what write buffers hold (`run/data.rs`).
    pub data: DataOpts,
    /// The options as given, for the report's "job options".
    pub given: Vec<(String, String)>,
    /// fio's per-I/O logs (`run/logs.rs`): the prefixes of `write_lat_log`, `write_bw_log`,
    /// `write_iops_log`, `write_hist_log`, and how they are written.
    pub logs: LogOpts,
    /// fio's verify options beside `verify` itself: the checksum, the pattern, the layout of
    /// headers, what is checked, the verify phase's threads, the backlog, the saved state.
    pub verification: VerifyOpts,
    /// fio's pacing: rate caps and floors, thinktime, flows, the latency target and `max_latency`,
    /// steady state.
    pub pacing: PacingOpts,
    /// fio's files of a job: the targets named or made (how many, how named, how large), which one
    /// the next I/O goes to, and their life-cycle (created, reserved, filled, unlinked).
    pub files: FileOpts,
    /// Where and how a job runs: its I/O priority and per-I/O priorities (`prio`, `prioclass`,
    /// `cmdprio_*`), its CPUs, nice value and NUMA memory policy.
    pub placement: PlacementOpts,
    /// What is measured and reported: the latency series recorded (`disable_*`, `gtod_reduce`) and
    /// their percentiles.
    pub measure: MeasureOpts,
    /// Where a job's I/Os go: the region's start (`offset`, per clone `offset_increment`), the
    /// random offsets (distribution, generator, seed, map, percentage random, alignment), fio's
    /// offset modifiers and zones.
    pub offsets: OffsetOpts,
}

/// fio's `buffer_compress_percentage`, `buffer_compress_chunk`, `dedupe_percentage`,
/// `buffer_pattern`, `refill_buffers`, `scramble_buffers`, `zero_buffers`. As given, then
/// settled in `finish` the way fio's `init.c` settles them (the `set_*` marks are fio's
/// `fio_option_is_set`; `compress_given` is its `TD_F_COMPRESS`).
#[derive(Clone, Debug, PartialEq)]
pub struct DataOpts {
    pub compress_pct: u32,
    pub compress_chunk: u64,
    pub dedupe_pct: u32,
    pub pattern: Option<crate::spec::verify::Pattern>,
    pub refill: bool,
    pub scramble: bool,
    pub zero: bool,
    pub set_refill: bool,
    pub set_scramble: bool,
    pub set_zero: bool,
    pub compress_given: bool,
    /// fio's `dedupe_mode=working_set`, `dedupe_working_set_percentage` (default 5) and
    /// `dedupe_global`, as given.
    pub ws_mode: bool,
    pub ws_pct: u32,
    pub ws_global: bool,
    /// Settled from them: a duplicate repeats one of the job's first unique buffers, drawn at
    /// random; `None`: the `repeat` mode.
    pub working_set: Option<WorkingSet>,
}

/// fio's dedupe working set (`dedupe.c`): see [`DataOpts::working_set`].
#[derive(Clone, Debug, PartialEq)]
pub struct WorkingSet {
    /// The number of buffers in the set: `dedupe_working_set_percentage` of `size`, in
    /// smallest writes.
    pub pages: u64,
    /// `dedupe_global`: the set is made of every job clone's first buffers in turn (the plan
    /// gives each such clone the run's clone seeds and its index among them).
    pub global: bool,
    pub run_seeds: Option<(std::sync::Arc<[u64]>, usize)>,
}

impl Default for DataOpts {
    fn default() -> DataOpts {
        DataOpts {
            compress_pct: 0,
            compress_chunk: 512,
            dedupe_pct: 0,
            pattern: None,
            refill: false,
            scramble: true,
            zero: false,
            set_refill: false,
            set_scramble: false,
            set_zero: false,
            compress_given: false,
            ws_mode: false,
            ws_pct: 5,
            ws_global: false,
            working_set: None,
        }
    }
}

impl DataOpts {
    /// fio's settling (`init.c` `fixup_options`, `setup_thread_data` flags and the option
    /// callbacks): compression 100 is zero buffers; a lower one, dedupe, verify and a pattern
    /// in a job that reads turn refilling on; scrambling is off with compression, dedupe,
    /// verify, a pattern, or zero buffers given.
    pub fn settle(&mut self, reads: bool, verify: bool) {
        if self.pattern.is_some() {
            if !self.set_refill {
                self.refill = self.compress_pct > 0 || reads;
            }
            if !self.set_scramble {
                self.scramble = false;
            }
            if !self.set_zero {
                self.zero = false;
            }
        }
        if self.compress_pct == 100 {
            self.zero = true;
            self.compress_pct = 0;
        } else if self.compress_pct > 0 && !self.set_refill {
            self.refill = true;
        }
        if self.dedupe_pct > 0 && !self.set_refill {
            self.refill = true;
        }
        if verify && !self.set_refill {
            self.refill = true;
        }
        let zero_given = self.zero && self.set_zero;
        self.scramble =
            self.scramble && (self.set_scramble || !zero_given) && !self.compress_given && !verify;
    }
}

/// Which latency series report percentiles, and at which percentiles (fio's defaults: clat
/// only, at 1 ... 99.99).
#[derive(Clone, Debug, PartialEq)]
pub struct Pcts {
    pub clat: bool,
    pub lat: bool,
    pub slat: bool,
    pub list: Vec<f64>,
}

impl Default for Pcts {
    fn default() -> Pcts {
        Pcts {
            clat: true,
            lat: false,
            slat: false,
            list: crate::spec::PERCENTILES.to_vec(),
        }
    }
}

/// fio's `cmdprio_percentage`, `cmdprio_class` (0: not given, the real-time class),
/// `cmdprio` and `cmdprio_bssplit` (`(block size, percent, (class, level) if given)` entries),
/// per direction (read, write).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CmdPrio {
    pub perc: [u32; 2],
    pub class: [u8; 2],
    pub level: [u8; 2],
    pub bssplit: [Vec<PrioSplit>; 2],
}

/// One `cmdprio_bssplit` entry: I/Os of block size `bs` get priority `prio` (class, level,
/// hint; `None`: `cmdprio_class`/`cmdprio`) `perc` percent of the time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrioSplit {
    pub bs: u64,
    pub perc: u32,
    pub prio: Option<(u8, u8, u16)>,
}

/// Whether a third (trim) value was given to `rate`, `rate_iops`, `rate_min`,
/// `rate_iops_min` — refused for trim patterns, not supported yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrimRates {
    pub rate: bool,
    pub rate_iops: bool,
    pub rate_min: bool,
    pub rate_iops_min: bool,
}

impl TrimRates {
    pub fn any(&self) -> bool {
        self.rate || self.rate_iops || self.rate_min || self.rate_iops_min
    }
}

impl CmdPrio {
    pub fn given(&self) -> bool {
        self.perc != [0; 2] || !self.bssplit[0].is_empty() || !self.bssplit[1].is_empty()
    }
}

/// A settled `zonemode=strided` (bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StridedZone {
    pub size: u64,
    pub range: u64,
    pub skip: u64,
}

/// fio's `random_generator` (`run/random.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RandomGen {
    Tausworthe,
    Tausworthe64,
    Lfsr,
}

/// fio's `file_service_type` kinds (`run/workload.rs` `FileService`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    RoundRobin,
    Sequential,
    Random,
}

/// fio's `fallocate`: how a writing job's new file space is reserved before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallocate {
    None,
    /// `native` / `posix` / `1`: `fallocate(2)` mode 0 (the size grows to the region's end).
    Native,
    /// `keep`: `FALLOC_FL_KEEP_SIZE` (blocks reserved, the size unchanged).
    Keep,
    /// `truncate`: `ftruncate` to the region's end (no blocks reserved).
    Truncate,
}

/// fio's `offset_increment`: bytes, or a percentage of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incr {
    Bytes(u64),
    Pct(u64),
}

/// fio's `exit_what` (backend.c `fio_terminate_threads`): with `exitall`, a job that ends
/// ends the jobs of its reporting group, every job running now, or every job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitWhat {
    Group,
    Stonewall,
    All,
}

/// fio's `thinktime`, `thinktime_spin`, `thinktime_blocks`, `thinktime_blocks_type`,
/// `thinktime_iotime` (backend.c `handle_thinktime`): after an I/O is issued, once
/// `blocks` more I/Os have completed (or been issued, with `count_issued`) since the last stall
/// — or, with `iotime`, once that much time plus `time` has passed since it — the job waits for
/// everything in flight, spins `spin`, then sleeps the rest of `time`.
#[derive(Clone, Debug, PartialEq)]
pub struct Think {
    pub time: Duration,
    pub spin: Duration,
    pub blocks: u64,
    /// Whether `thinktime_blocks` was given (with `iotime` alone, fio skips the count check).
    pub blocks_set: bool,
    pub count_issued: bool,
    pub iotime: Duration,
}

impl Default for Think {
    fn default() -> Think {
        Think {
            time: Duration::ZERO,
            spin: Duration::ZERO,
            blocks: 1,
            blocks_set: false,
            count_issued: false,
            iotime: Duration::ZERO,
        }
    }
}

impl Default for JobSpec {
    /// fio's defaults: `ioengine=psync`, `direct=0`, `iodepth=1`, `bs=4k`, `rw=read`.
    fn default() -> Self {
        JobSpec {
            name: "job".into(),
            rw: Rw::Read,
            rwmixread: 50,
            bs: Bs::Fixed(4096),
            bs_rw: None,
            bs_trim: false,
            iodepth: 1,
            batch_submit: 1,
            batch_complete_min: 1,
            batch_complete_max: None,
            numjobs: 1,
            size: None,
            io_size: None,
            size_pct: None,
            runtime: None,
            time_based: false,
            ramp_time: Duration::ZERO,
            engine: IoEngine::Sync,
            direct: false,
            kb_base: 1024,
            thread: false,
            description: None,
            number_ios: None,
            loops: 1,
            startdelay: Duration::ZERO,
            startdelay_high: None,
            fixedbufs: true,
            registerfiles: true,
            sqthread_poll: false,
            sqthread_poll_cpu: None,
            hipri: false,
            fsync: 0,
            fdatasync: 0,
            end_fsync: false,
            error_dump: true,
            atomic: false,
            iodepth_low: None,
            read_verify: false,
            invalidate: true,
            sync_io: diorite::WriteSync::None,
            // fio's default criterion: iops_slope:0.01%.
            verify: false,
            do_verify: true,
            verify_only: false,
            verify_fatal: false,
            stonewall: false,
            new_group: false,
            wait_for: None,
            exitall: false,
            exit_what: ExitWhat::Group,
            job_number: 1,
            pool_threads: None,
            posix_aio: false,
            uncached: false,
            pvsync2: false,
            inject: None,
            crash: None,
            continue_on: [false; 3],
            ignore_error: [None, None, None],
            data: DataOpts::default(),
            logs: LogOpts::default(),
            verification: VerifyOpts::default(),
            pacing: PacingOpts::default(),
            files: FileOpts::default(),
            placement: PlacementOpts::default(),
            measure: MeasureOpts::default(),
            offsets: OffsetOpts::default(),
            given: Vec::new(),
        }
    }
}

impl JobSpec {
    /// The job's own I/O priority (fio's `ioprio_value`: no class given is best effort).
    pub fn default_prio(&self) -> Option<(diorite::IoClass, u8)> {
        if self.placement.prio.is_none() && self.placement.prioclass.is_none() {
            return None;
        }
        let class = diorite::IoClass::from_number(self.placement.prioclass.unwrap_or(0))
            .unwrap_or(diorite::IoClass::BestEffort);
        Some((class, self.placement.prio.unwrap_or(0)))
    }

    /// What reads and writes pick their sizes from.
    pub fn bs_dirs(&self) -> [Bs; 2] {
        self.bs_rw
            .clone()
            .unwrap_or_else(|| [self.bs.clone(), self.bs.clone()])
    }

    /// Sets the block sizes per direction from fio's `READ[,WRITE[,TRIM]]` list, each part
    /// parsed by `one` (an empty part leaves its direction as it was).
    pub(crate) fn set_bs(
        &mut self,
        name: &str,
        v: &str,
        one: impl Fn(&str) -> Result<Bs>,
    ) -> Result<()> {
        let parts: Vec<&str> = v.split(',').map(str::trim).collect();
        let mut dirs = self.bs_dirs();
        match parts.as_slice() {
            [all] => {
                let b = one(all)?;
                dirs = [b.clone(), b];
            }
            [r, w, ..] if parts.len() <= 3 => {
                for (d, x) in [r, w].into_iter().enumerate() {
                    if !x.is_empty() {
                        dirs[d] = one(x)?;
                    }
                }
                if let Some(t) = parts.get(2).filter(|t| !t.is_empty()) {
                    one(t)?;
                    self.bs_trim = true;
                }
            }
            _ => bail!("{name}={v}: expected READ[,WRITE[,TRIM]]"),
        }
        self.bs = Bs::envelope(&dirs);
        self.bs_rw = (dirs[0] != dirs[1]).then_some(dirs);
        Ok(())
    }

    /// The bytes of file `i` the job uses: its `filesize` draw, else its share of `size`.
    pub fn file_size(&self, i: usize) -> Option<u64> {
        match &self.files.file_sizes {
            Some(v) => v.get(i).copied(),
            None => self.size.map(|s| s / self.file_count().max(1)),
        }
    }

    /// How many files each clone uses: the names given, else `nrfiles` of its own.
    pub fn file_count(&self) -> u64 {
        if self.files.filenames.is_empty() {
            u64::from(self.files.nrfiles)
        } else {
            self.files.filenames.len() as u64
        }
    }
}
