//! Jobs as fio describes them: the option table ([`options`]) shared by the command line and
//! job files (fio's INI format), fio's value spellings ([`value`]), and the [`JobSpec`] a runner
//! executes.
//!
//! Option names are fio's; `-` and `_` are the same character (`--time-based` is
//! `--time_based`). An option the table does not know is an error naming it — never ignored.

pub mod options;
pub mod value;

use anyhow::{anyhow, bail, Context as _, Result};
use diorite::BackendChoice;
use options::{lookup, Scope};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a job issues its I/O (`ioengine=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
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

/// fio's error types (`td_error_type`): EILSEQ is a verify error; otherwise reads are reads
/// and everything else (writes, trims, syncs) writes.
pub fn error_type(read: bool, errno: i32) -> usize {
    if errno == libc::EILSEQ {
        2
    } else if read {
        0
    } else {
        1
    }
}

impl JobSpec {
    /// Whether fio would go on after `errno` of error type `etype` (`td_non_fatal_error`).
    pub fn continues_on(&self, etype: usize, errno: i32) -> bool {
        self.continue_on[etype]
            && match &self.ignore_error[etype] {
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
            _ => bail!(
                "rw={s}: unsupported pattern (supported: read, write, randread, randwrite, rw, \
                 readwrite, randrw, trim, randtrim, trimwrite, randtrimwrite)"
            ),
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
    pub offset: u64,
    pub io_size: Option<u64>,
    /// fio's percentage forms: `size=N%`, `offset=N%` (of each file; resolved per clone when
    /// the files are known), and `offset_increment` (clone k starts k increments later).
    pub size_pct: Option<u64>,
    pub offset_pct: Option<u64>,
    pub offset_increment: Incr,
    /// fio's `filesize` (low, high): each file's size; `size` then only sets the default
    /// `io_size` (settled in `finish`).
    pub filesize: Option<(u64, u64)>,
    /// With a `filesize` range: each file's own size (fio's `get_rand_file_size`), settled in
    /// `finish`; `size` is then their sum.
    pub file_sizes: Option<Vec<u64>>,
    pub runtime: Option<Duration>,
    pub time_based: bool,
    pub ramp_time: Duration,
    pub engine: Engine,
    pub direct: bool,
    /// fio's `kb_base`: 1024 or 1000 (see [`value`]).
    pub kb_base: u32,
    /// Where the jobs' own files go when no `filename` is given.
    pub directory: Option<PathBuf>,
    pub thread: bool,
    /// fio's `description`: printed with the job's report, not parsed.
    pub description: Option<String>,
    /// fio's `number_ios`: the job ends once this many I/Os were issued (if nothing else ended
    /// it first).
    pub number_ios: Option<u64>,
    /// fio's `loops`: the job's I/O amount, repeated.
    pub loops: u32,
    /// fio's `startdelay`: the job starts this long after its group; with a range (up to
    /// `startdelay_high`), each clone picks its own delay in it (settled in `bench.rs`).
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
    pub randrepeat: bool,
    pub randseed: u64,
    pub dist: Dist,
    pub norandommap: bool,
    /// fio's offset modifier (`rw=read:-8k`, `rw=randread:8`): for a sequential pattern, bytes
    /// added to each next offset (holes, or backwards); for a random one, how many I/Os share
    /// one random offset (`rw_sequencer`: sequential after it, or identical).
    pub rw_add: i64,
    pub rw_nr: u64,
    pub rw_identical: bool,
    /// The raw offset modifier of `rw=PATTERN:MOD`, settled in `finish`.
    pub rw_modifier: Option<String>,
    /// fio's `blockalign`: random offsets are multiples of this (default: the block size);
    /// giving it turns the random map off, as in fio.
    pub blockalign: Option<u64>,
    /// fio's `rate` / `rate_iops` (bytes/s, I/Os per second), per direction (read, write);
    /// `rate` wins where both are given.
    pub rate: [Option<u64>; 2],
    pub rate_iops: [Option<u64>; 2],
    /// fio's `rate_min` / `rate_iops_min` per direction, checked every `rate_cycle`.
    pub rate_min: [Option<u64>; 2],
    pub rate_iops_min: [Option<u64>; 2],
    pub rate_cycle: Duration,
    /// fio's `rate_process=poisson` (`rate.rs`) and `io_submit_mode=offload` (a rate wait does
    /// not drain what is in flight).
    pub rate_poisson: bool,
    pub submit_offload: bool,
    /// fio's `steadystate` (criterion: iops or bw, slope or deviation, % or absolute, limit),
    /// `ss_dur` (0: off), `ss_ramp`, `ss_interval`; settled into `steady` (`run/steady.rs`).
    pub ss_crit: (bool, bool, bool, f64),
    pub ss_crit_given: bool,
    pub ss_dur: Duration,
    pub ss_ramp: Duration,
    pub ss_interval: Duration,
    pub steady: Option<crate::run::steady::SsSpec>,
    /// fio's latency-target search (`run/latency.rs`): `latency_target`, `latency_window`,
    /// `latency_percentile`, `latency_run`; and `max_latency` (a read or write slower than
    /// this ends the job with ETIMEDOUT).
    pub latency_target: Option<Duration>,
    pub latency_window: Duration,
    pub latency_percentile: f64,
    pub latency_run: bool,
    pub max_latency: Option<Duration>,
    /// Whether `rate`, `rate_iops`, `rate_min`, `rate_iops_min` gave a trim value (refused for
    /// a job that trims; no effect on one that does not, as in fio).
    pub trim_rate: [bool; 4],
    pub verify: bool,
    pub do_verify: bool,
    pub verify_only: bool,
    pub verify_fatal: bool,
    pub stonewall: bool,
    /// fio's `new_group`: a new reporting group starts with this job (no waiting).
    pub new_group: bool,
    /// fio's `wait_for`: the job starts once every clone of this earlier job has finished.
    pub wait_for: Option<String>,
    /// fio's `exitall` (any job giving it turns it on for the run, as fio's global does) and
    /// `exit_what`: when a job ends, which others end with it.
    pub exitall: bool,
    /// fio's `unlink`: delete the job's regular files when it is done (never a block device).
    pub unlink: bool,
    pub exit_what: ExitWhat,
    /// fio's `thinktime` family.
    pub think: Think,
    /// fio's `disable_lat`, `disable_clat`, `disable_slat`, `disable_bw_measurement` (all four:
    /// `gtod_reduce`): the latency series not recorded (not printed; JSON `N` 0);
    /// `disable_bw_measurement` leaves the per-I/O bandwidth log empty (fio's report keeps its
    /// bandwidth numbers).
    pub disable_lat: bool,
    pub disable_clat: bool,
    pub disable_slat: bool,
    pub disable_bw: bool,
    /// fio's `write_lat_log`, `write_bw_log`, `write_iops_log` (the prefix), `log_offset`,
    /// `log_prio`, `per_job_logs`, `log_avg_msec` (`run/logs.rs`); and the job's number in the
    /// run (1-based, clones counted), which per-job log names carry.
    pub write_lat_log: Option<String>,
    pub write_bw_log: Option<String>,
    pub write_iops_log: Option<String>,
    pub log_offset: bool,
    pub log_prio: bool,
    pub per_job_logs: bool,
    pub log_avg_msec: u64,
    /// fio's `log_max_value`, `write_hist_log`, `log_hist_msec`, `log_hist_coarseness`.
    pub log_max_value: bool,
    pub write_hist_log: Option<String>,
    pub log_hist_msec: u64,
    pub log_hist_coarseness: u32,
    pub job_number: u32,
    pub pool_threads: Option<usize>,
    /// fio's `verify=`: the checksum (with `verify`).
    pub verify_kind: crate::run::verify::Kind,
    /// fio's `verify_pattern`.
    pub verify_pattern: Option<crate::run::verify::Pattern>,
    /// fio's `verify_interval`, `verify_offset`, `verify_header_seed`, `verify_write_sequence`,
    /// `verify_dump`, `experimental_verify`.
    pub verify_interval: Option<u64>,
    pub verify_offset: Option<u64>,
    pub verify_header_seed: bool,
    pub verify_write_sequence: bool,
    pub verify_dump: bool,
    pub experimental_verify: bool,
    /// fio's `verify_async`: threads that check the blocks read back (0: the job thread).
    pub verify_async: u32,
    /// fio's `verify_backlog` / `verify_backlog_batch`: verify the oldest written blocks every
    /// this many writes, this many at a time.
    pub verify_backlog: Option<u64>,
    pub verify_backlog_batch: Option<u64>,
    /// fio's `verify_state_save` (default 1) / `verify_state_load`.
    pub verify_state_save: bool,
    pub verify_state_load: bool,
    /// diorite's `inject`: fault rules (the faulty backend).
    pub inject: Option<String>,
    /// fio's `continue_on_error` (read, write, verify bits) and `ignore_error` (per type, the
    /// errnos to continue on; `None`: fio's non-fatal EIO and EILSEQ).
    pub continue_on: [bool; 3],
    pub ignore_error: [Option<Vec<i32>>; 3],
    /// fio's `clat_percentiles` (default on), `lat_percentiles`, `slat_percentiles` (which
    /// series report percentiles) and `percentile_list`.
    pub pcts: Pcts,
    /// fio's `prio` / `prioclass` (the job's I/O priority) and `cmdprio_*` (`run/prio.rs`).
    pub prio: Option<u8>,
    pub prioclass: Option<u8>,
    /// fio's `flow_id`, `flow` (the job's weight; 0: not in a flow) and `flow_sleep`
    /// (`run/flow.rs`).
    pub flow_id: u32,
    pub flow: u64,
    pub flow_sleep: Duration,
    pub cmdprio: CmdPrio,
    /// fio's `random_generator` (random offsets; lfsr: each block once per pass, no map) and
    /// `percentage_random` (per direction: the share of I/Os at a random offset, the rest
    /// sequential).
    pub random_generator: RandomGen,
    pub perc_rand: [u32; 2],
    /// fio's `zonemode=strided` with `zonesize` (bytes per zone visit), `zonerange` (a zone's
    /// length; default zonesize) and `zoneskip` (the gap after a zone); settled in `finish`.
    pub zone: Option<StridedZone>,
    pub zonemode: Option<String>,
    pub zone_size: Option<u64>,
    pub zone_range: Option<u64>,
    pub zone_skip: u64,
    /// fio's `cpus_allowed` / `cpumask` (the CPU set), `cpus_allowed_policy=split` (one CPU
    /// of it per job) and `nice` (`run/cpu.rs`).
    pub cpus: Option<Vec<usize>>,
    pub cpus_split: bool,
    pub nice: Option<i32>,
    /// fio's `numa_mem_policy`: the `set_mempolicy` mode and node mask (`run/cpu.rs`);
    /// `numa_cpu_nodes` sets `cpus`.
    pub mem_policy: Option<(i32, u64)>,
    /// fio's data options: what write buffers hold (`run/data.rs`).
    pub data: DataOpts,
    /// fio's file set: `nrfiles` (files per clone when no `filename` is given),
    /// `filename_format` (their names), `file_service_type` (which file the next I/O goes to,
    /// and after how many I/Os), `openfiles` (at most this many open: only "all" is supported),
    /// `allow_file_create`, `fallocate` (how new space for a writing job is reserved).
    pub nrfiles: u32,
    pub filename_format: Option<String>,
    pub file_service: (Service, u64),
    pub openfiles: Option<u32>,
    pub allow_file_create: bool,
    /// fio's `fill_device` / `fill_fs`: write until the device or filesystem is full (ENOSPC or
    /// EDQUOT end the job without an error); without `size`, the region is the free space.
    pub fill_device: bool,
    /// fio's `create_on_open`: a missing file is created when the job opens it (at its start),
    /// not while the run is set up (writing jobs).
    pub create_on_open: bool,
    /// fio's `unlink_each_loop`: after each of its `loops`, the job's files are deleted; the
    /// next loop runs on new ones (writing jobs).
    pub unlink_each_loop: bool,
    pub fallocate: Fallocate,
    /// The options as given, for the report's "job options".
    pub given: Vec<(String, String)>,
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
    pub pattern: Option<crate::run::verify::Pattern>,
    pub refill: bool,
    pub scramble: bool,
    pub zero: bool,
    pub set_refill: bool,
    pub set_scramble: bool,
    pub set_zero: bool,
    pub compress_given: bool,
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
        }
    }
}

impl DataOpts {
    /// fio's settling (`init.c` `fixup_options`, `setup_thread_data` flags and the option
    /// callbacks): compression 100 is zero buffers; a lower one, dedupe, verify and a pattern
    /// in a job that reads turn refilling on; scrambling is off with compression, dedupe,
    /// verify, a pattern, or zero buffers given.
    fn settle(&mut self, reads: bool, verify: bool) {
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
            list: crate::report::stats::PERCENTILES.to_vec(),
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

/// One `cmdprio_bssplit` entry: block size, percent, and `(class, level)` if given.
pub type PrioSplit = (u64, u32, Option<(u8, u8)>);

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
            filenames: Vec::new(),
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
            offset: 0,
            io_size: None,
            size_pct: None,
            offset_pct: None,
            offset_increment: Incr::Bytes(0),
            filesize: None,
            file_sizes: None,
            runtime: None,
            time_based: false,
            ramp_time: Duration::ZERO,
            engine: Engine::Sync,
            direct: false,
            kb_base: 1024,
            directory: None,
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
            randrepeat: true,
            randseed: 0x5eed_d10e,
            dist: Dist::Uniform,
            norandommap: false,
            rw_add: 0,
            rw_nr: 0,
            rw_identical: false,
            blockalign: None,
            rw_modifier: None,
            rate: [None; 2],
            rate_iops: [None; 2],
            rate_min: [None; 2],
            rate_iops_min: [None; 2],
            rate_cycle: Duration::from_secs(1),
            rate_poisson: false,
            submit_offload: false,
            // fio's default criterion: iops_slope:0.01%.
            ss_crit: (true, true, true, 0.01),
            ss_crit_given: false,
            ss_dur: Duration::ZERO,
            ss_ramp: Duration::ZERO,
            ss_interval: Duration::from_secs(1),
            steady: None,
            latency_target: None,
            latency_window: Duration::ZERO,
            latency_percentile: 100.0,
            latency_run: false,
            max_latency: None,
            trim_rate: [false; 4],
            verify: false,
            do_verify: true,
            verify_only: false,
            verify_fatal: false,
            stonewall: false,
            new_group: false,
            wait_for: None,
            exitall: false,
            unlink: false,
            exit_what: ExitWhat::Group,
            think: Think::default(),
            disable_lat: false,
            disable_clat: false,
            disable_slat: false,
            disable_bw: false,
            write_lat_log: None,
            write_bw_log: None,
            write_iops_log: None,
            log_offset: false,
            log_prio: false,
            per_job_logs: true,
            log_avg_msec: 0,
            log_max_value: false,
            write_hist_log: None,
            log_hist_msec: 0,
            log_hist_coarseness: 0,
            job_number: 1,
            pool_threads: None,
            verify_kind: crate::run::verify::Kind::Crc32c,
            verify_pattern: None,
            verify_interval: None,
            verify_offset: None,
            verify_header_seed: true,
            verify_write_sequence: true,
            verify_dump: false,
            experimental_verify: false,
            verify_async: 0,
            verify_backlog: None,
            verify_backlog_batch: None,
            verify_state_save: true,
            verify_state_load: false,
            inject: None,
            continue_on: [false; 3],
            ignore_error: [None, None, None],
            data: DataOpts::default(),
            nrfiles: 1,
            random_generator: RandomGen::Tausworthe,
            prio: None,
            prioclass: None,
            flow_id: 0,
            flow: 0,
            flow_sleep: Duration::ZERO,
            cmdprio: CmdPrio::default(),
            perc_rand: [100; 2],
            zone: None,
            zonemode: None,
            zone_size: None,
            zone_range: None,
            zone_skip: 0,
            pcts: Pcts::default(),
            cpus: None,
            cpus_split: false,
            nice: None,
            mem_policy: None,
            filename_format: None,
            file_service: (Service::RoundRobin, 1),
            openfiles: None,
            allow_file_create: true,
            fill_device: false,
            create_on_open: false,
            unlink_each_loop: false,
            fallocate: Fallocate::Native,
            given: Vec::new(),
        }
    }
}

fn normalize(name: &str) -> String {
    name.trim().replace('-', "_").to_ascii_lowercase()
}

/// Applies option `raw` (any spelling) with `value` to `job` or `g`, after fio's `${VAR}` and
/// `$keyword` substitutions.
fn apply(job: &mut JobSpec, g: &mut Globals, raw: &str, value: Option<&str>) -> Result<()> {
    let name = normalize(raw);
    let opt = lookup(&name).ok_or_else(|| {
        anyhow!("unknown or unsupported option '{raw}' (diorite bench --help lists the options)")
    })?;
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

/// What fio settles after a job's options: `do_verify=0` turns the verify phase off,
/// `iodepth_batch_submit=0` becomes `iodepth`, and
/// `time_based` without a runtime is a warning (fio ignores it), not an error.
fn finish(mut j: JobSpec, warnings: &mut Vec<String>) -> Result<JobSpec> {
    // io_uring's own options: fio knows them only with ioengine=io_uring.
    let uring = j.engine == Engine::Async(BackendChoice::IoUring);
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
    if j.inject.is_some() && j.engine == Engine::Sync {
        bail!(
            "job {}: inject runs the job on the faulty backend, an engine context; \
             ioengine=psync/sync/pvsync has none (use threads, libaio or io_uring)",
            j.name
        );
    }
    if j.sqthread_poll_cpu.is_some() && !j.sqthread_poll {
        bail!(
            "job {}: sqthread_poll_cpu applies only with sqthread_poll=1 (fio ignores it otherwise)",
            j.name
        );
    }
    if !j.do_verify {
        j.verify = false;
    }
    // fio's offset modifier: a size for sequential patterns, a count for random ones.
    if let Some(m) = j.rw_modifier.take() {
        if j.rw.random() {
            j.rw_nr = value::eval(&m, value::Unit::Count)
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
            j.rw_add = if neg { -v } else { v };
        }
    }
    // fio: blockalign "is mutually exclusive with using a random map for files, so it will
    // turn off that option".
    if let Some(ba) = j.blockalign {
        let unit = j.bs.unit();
        if ba % unit != 0 {
            bail!(
                "job {}: blockalign={ba} is not a multiple of the block size unit ({unit} bytes): \
                 offsets finer than the job's blocks are not supported",
                j.name
            );
        }
        j.norandommap = true;
    }
    // fio: with filesize, each file has that size (a range: one size per file in it, a whole
    // number of the smallest block), and size only sets the default io_size.
    if let Some((lo, hi)) = j.filesize {
        let files = j.file_count();
        if j.io_size.is_none() {
            j.io_size = j.size;
        }
        if hi > lo {
            // fio's get_rand_file_size: per file a draw in the range, a whole number of the
            // smallest block; seeded by the job (randseed, name).
            let mut rng = crate::run::workload::Rng::new(
                j.randseed
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
            j.file_sizes = Some(sizes);
        } else {
            j.size = Some(lo.checked_mul(files).ok_or_else(|| {
                anyhow::anyhow!("job {}: filesize x {files} files overflows", j.name)
            })?);
        }
    }
    if j.random_generator == RandomGen::Lfsr && j.dist != Dist::Uniform {
        bail!(
            "job {}: random_generator=lfsr visits each block once per pass; it cannot follow \
             random_distribution (give one or the other)",
            j.name
        );
    }
    if j.perc_rand != [100; 2] && (j.verify || j.verify_only) {
        bail!(
            "job {}: percentage_random below 100 with verify is not supported yet",
            j.name
        );
    }
    // fio 3.33's init.c: zonemode defaults to none, which refuses zonesize; strided needs
    // zonesize; zonerange defaults to zonesize.
    match (j.zonemode.as_deref(), j.zone_size) {
        (Some("strided"), Some(size)) => {
            let range = j.zone_range.unwrap_or(size);
            let unit = j.bs.unit();
            if size == 0 || range < j.bs.max() || range % unit != 0 || j.zone_skip % unit != 0 {
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
            j.zone = Some(StridedZone {
                size,
                range,
                skip: j.zone_skip,
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
    if j.cmdprio.given() {
        if j.engine == Engine::Sync {
            bail!(
                "job {}: cmdprio_percentage / cmdprio_bssplit are options of fio's libaio and \
                 io_uring engines; this job's ioengine is synchronous",
                j.name
            );
        }
        if j.cmdprio.perc != [0; 2]
            && (!j.cmdprio.bssplit[0].is_empty() || !j.cmdprio.bssplit[1].is_empty())
        {
            bail!(
                "job {}: cmdprio_percentage and cmdprio_bssplit are mutually exclusive (as in fio)",
                j.name
            );
        }
    }
    if j.rate_poisson && j.rate == [None; 2] && j.rate_iops == [None; 2] {
        bail!(
            "job {}: rate_process=poisson paces rate or rate_iops, and this job has neither (fio \
             would ignore it)",
            j.name
        );
    }
    if j.latency_target.is_none()
        && (!j.latency_window.is_zero() || j.latency_percentile != 100.0 || j.latency_run)
    {
        bail!(
            "job {}: latency_window / latency_percentile / latency_run apply to a \
             latency_target search, and this job has none (fio ignores them)",
            j.name
        );
    }
    if j.ss_dur.is_zero() {
        if j.ss_crit_given || !j.ss_ramp.is_zero() {
            bail!(
                "job {}: steadystate / ss_ramp without ss_dur do nothing (fio ignores them); \
                 give ss_dur",
                j.name
            );
        }
    } else {
        let (iv, dur) = (j.ss_interval.as_millis(), j.ss_dur.as_millis());
        if iv == 0 || dur < iv || dur % iv != 0 {
            bail!(
                "job {}: ss_dur must be a whole number of ss_interval ({} ms)",
                j.name,
                iv
            );
        }
        let (iops, slope, pct, limit) = j.ss_crit;
        j.steady = Some(crate::run::steady::SsSpec {
            iops,
            slope,
            pct,
            limit,
            dur: j.ss_dur,
            ramp: j.ss_ramp,
            interval: j.ss_interval,
        });
    }
    if j.unlink_each_loop && (j.rw.reads() || j.rw.trims()) {
        bail!(
            "job {}: unlink_each_loop with a pattern that reads or trims is not supported yet \
             (each new file would need its layout)",
            j.name
        );
    }
    if j.create_on_open && (j.rw.reads() || j.rw.trims()) {
        bail!(
            "job {}: create_on_open with a pattern that reads or trims is refused: fio lays out \
             no data then and would read an empty new file",
            j.name
        );
    }
    if j.fill_device && j.rw.trims() {
        bail!(
            "job {}: fill_device with a trim pattern is not supported (it fills by writing)",
            j.name
        );
    }
    j.data.settle(j.rw.reads(), j.verify || j.verify_only);
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
    Ok(j)
}

/// The whole run: jobs in order (with their stonewall marks) and the global options.
#[derive(Debug)]
pub struct Plan {
    pub jobs: Vec<JobSpec>,
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
        engine: Engine::Async(BackendChoice::Auto),
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
        let o = lookup(&normalize(raw)).ok_or_else(|| {
            anyhow!(
                "unknown or unsupported option '--{raw}' (diorite bench --help lists the options)"
            )
        })?;
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
        for f in &files {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading job file {}", f.display()))?;
            for mut j in parse_jobfile(&text, f, &mut globals)? {
                apply_all(&mut j, &mut globals, &head)?;
                all.push(finish(j, &mut warnings)?);
            }
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
            jobs: vec![default_job()],
            globals,
            default_job: true,
            warnings,
        });
    }
    let mut jobs = Vec::new();
    if jobs_args.is_empty() {
        jobs.push(finish(template.clone(), &mut warnings)?);
    }
    for opts in &jobs_args {
        let mut j = template.clone();
        apply_all(&mut j, &mut globals, opts)?;
        jobs.push(finish(j, &mut warnings)?);
    }
    Ok(Plan {
        jobs,
        globals,
        default_job: false,
        warnings,
    })
}

/// Parses an fio job file: `[global]` sections set defaults for the jobs after them, every other
/// section is a job; `key=value` or a bare `key`; `;` and `#` start comments, also after a value.
/// The jobs come back before fio's final settling ([`finish`]), which the caller does after any
/// command-line overrides.
pub fn parse_jobfile(text: &str, path: &Path, globals: &mut Globals) -> Result<Vec<JobSpec>> {
    // Sections first, then options: `kb_base` applies to the whole section it is in.
    struct Section {
        name: Option<String>,
        opts: Vec<(usize, String, Option<String>)>,
    }
    let mut sections: Vec<Section> = Vec::new();
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
        let (k, v) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().to_string())),
            None => (line, None),
        };
        let Some(sec) = sections.last_mut() else {
            bail!(
                "{}: option {k:?} outside a section ([global] or [jobname])",
                at()
            );
        };
        sec.opts.push((n + 1, k.to_string(), v));
    }
    let mut template = JobSpec::default();
    let mut jobs: Vec<JobSpec> = Vec::new();
    for sec in &sections {
        let mut j = template.clone();
        if let Some(name) = &sec.name {
            apply(&mut j, globals, "name", Some(name))?;
        }
        for pass in [true, false] {
            for (line, k, v) in &sec.opts {
                if (normalize(k) == "kb_base") == pass {
                    apply(&mut j, globals, k, v.as_deref())
                        .with_context(|| format!("{}:{line}", path.display()))?;
                }
            }
        }
        match sec.name {
            None => template = j,
            Some(_) => jobs.push(j),
        }
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
    let Some(fmt) = &j.filename_format else {
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

impl JobSpec {
    /// The job's own I/O priority (fio's `ioprio_value`: no class given is best effort).
    pub fn default_prio(&self) -> Option<(diorite::IoClass, u8)> {
        if self.prio.is_none() && self.prioclass.is_none() {
            return None;
        }
        let class = diorite::IoClass::from_number(self.prioclass.unwrap_or(0))
            .unwrap_or(diorite::IoClass::BestEffort);
        Some((class, self.prio.unwrap_or(0)))
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
        match &self.file_sizes {
            Some(v) => v.get(i).copied(),
            None => self.size.map(|s| s / self.file_count().max(1)),
        }
    }

    /// How many files each clone uses: the names given, else `nrfiles` of its own.
    pub fn file_count(&self) -> u64 {
        if self.filenames.is_empty() {
            u64::from(self.nrfiles)
        } else {
            self.filenames.len() as u64
        }
    }
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
    for (group, names) in options::GROUPS {
        s.push_str(&format!("\n{group}:\n"));
        for o in names.iter().filter_map(|n| lookup(n)) {
            let spelled = match o.kind {
                options::Kind::Bool => format!("--{}[=0|1]", o.name),
                options::Kind::OptStr => format!("--{}[=V]", o.name),
                _ => format!("--{}=V", o.name),
            };
            s.push_str(&format!("  {spelled:<34} {}", o.help));
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

    /// The table walk: every accepted option, under every spelling, changes the parsed job (or
    /// the run's globals) with its example value — an option that is accepted but stored
    /// nowhere fails here.
    #[test]
    fn every_option_in_the_table_changes_the_parsed_job() {
        let view = |p: &Plan| {
            let mut jobs = p.jobs.clone();
            for j in &mut jobs {
                j.given.clear();
            }
            format!("{jobs:?} {:?}", p.globals)
        };
        // Options that exist only beside others (io_uring's own, fio's engine options).
        let needs = |name: &str| match name {
            "sqthread_poll" | "hipri" => " --ioengine=io_uring",
            "sqthread_poll_cpu" => " --ioengine=io_uring --sqthread_poll=1",
            "inject" => " --ioengine=threads",
            "zonesize" => " --zonemode=strided --zonesize=64k",
            "cmdprio_percentage" | "cmdprio_bssplit" => " --ioengine=io_uring",
            "rate_process" => " --rate_iops=100",
            "fill_device" | "create_on_open" | "unlink_each_loop" => " --rw=write",
            "steadystate" | "steadystate_ramp_time" | "ss_interval" => " --ss_dur=10",
            "latency_window" | "latency_percentile" | "latency_run" => " --latency_target=1ms",
            _ => "",
        };
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
                // Options whose one supported value is fio's default (others are refused).
                if ["dedupe_mode"].contains(&o.name) {
                    continue;
                }
                assert_ne!(view(&p), base, "{a}: accepted but changed nothing");
            }
        }
    }

    /// `--help` lists every option once, in one of the groups.
    #[test]
    fn every_option_is_in_exactly_one_help_group() {
        for o in options::OPTIONS {
            let n = options::GROUPS
                .iter()
                .filter(|(_, names)| names.contains(&o.name))
                .count();
            assert_eq!(n, 1, "{} is in {n} groups", o.name);
        }
        let listed: usize = options::GROUPS.iter().map(|g| g.1.len()).sum();
        assert_eq!(
            listed,
            options::OPTIONS.len(),
            "a group names an option that does not exist"
        );
        let h = help();
        for (g, _) in options::GROUPS {
            assert!(h.contains(&format!("\n{g}:\n")));
        }
    }

    #[test]
    fn fio_defaults_and_spellings() {
        let p = parse_args(&args("--name=t --rw=read --size=1MiB")).unwrap();
        let j = &p.jobs[0];
        assert_eq!((j.engine, j.direct, j.iodepth), (Engine::Sync, false, 1));
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
        let p = parse_args(&args("--name=t --fixedbufs=0 --registerfiles=0")).unwrap();
        assert!(!p.jobs[0].fixedbufs && !p.jobs[0].registerfiles);
    }

    #[test]
    fn job_files_strip_inline_comments_and_expand_variables() {
        std::env::set_var("DIORITE_JOB_SIZE", "64m");
        let text = "[global]\nsize=${DIORITE_JOB_SIZE}\n[a]\nfilename=datafile.tmp\t; or use a full disk\nnumjobs=4 ; comment\nio_size=5*1024*1024*8/8\n";
        let mut g = Globals::default();
        let jobs = parse_jobfile(text, Path::new("t.fio"), &mut g).unwrap();
        assert_eq!(jobs[0].filenames, [PathBuf::from("datafile.tmp")]);
        assert_eq!(jobs[0].numjobs, 4);
        assert_eq!(jobs[0].size, Some(64 << 20));
        assert_eq!(jobs[0].io_size, Some(5 << 20));
    }
}
