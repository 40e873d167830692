//! The groups of a job's options, each a field of [`JobSpec`]: files, offsets,
//! pacing, verify, logs, what is measured, where the job runs. (`DataOpts` and the smaller
//! value types stay beside `JobSpec`.)

use super::*;
use std::path::PathBuf;
use std::time::Duration;

/// fio's per-I/O logs (`run/logs.rs`): the prefixes of `write_lat_log`, `write_bw_log`,
/// `write_iops_log`, `write_hist_log`, and how they are written.
#[derive(Clone, Debug)]
pub struct LogOpts {
    /// fio's `write_lat_log`, `write_bw_log`, `write_iops_log` (the prefix), `log_offset`,
    /// `log_prio`, `per_job_logs`, `log_avg_msec`.
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
    /// Not an option: the logs go back to a remote client (`diorite server`, as fio's server
    /// sends them) and no file is written here.
    pub to_client: bool,
}

impl Default for LogOpts {
    fn default() -> LogOpts {
        LogOpts {
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
            to_client: false,
        }
    }
}

/// fio's verify options beside `verify` itself: the checksum, the pattern, the layout of headers,
/// what is checked, the verify phase's threads, the backlog, the saved state.
#[derive(Clone, Debug)]
pub struct VerifyOpts {
    /// fio's `--aux-path`: where the verify state and `verify_dump` files go (default: the
    /// working directory).
    pub aux_path: Option<std::path::PathBuf>,
    /// fio's `verify=`: the checksum (with `verify`).
    pub verify_kind: crate::spec::verify::Kind,
    /// fio's `verify_pattern`.
    pub verify_pattern: Option<crate::spec::verify::Pattern>,
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
}

impl Default for VerifyOpts {
    fn default() -> VerifyOpts {
        VerifyOpts {
            verify_kind: crate::spec::verify::Kind::Crc32c,
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
            aux_path: None,
            verify_state_save: true,
            verify_state_load: false,
        }
    }
}

/// fio's pacing: rate caps and floors, thinktime, flows, the latency target and `max_latency`,
/// steady state.
#[derive(Clone, Debug)]
pub struct PacingOpts {
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
    pub ss_crit: crate::spec::steady::SsCriterion,
    pub ss_crit_given: bool,
    pub ss_dur: Duration,
    pub ss_ramp: Duration,
    pub ss_interval: Duration,
    pub steady: Option<crate::spec::steady::SsSpec>,
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
    pub trim_rate: TrimRates,
    /// fio's `thinktime` family.
    pub think: Think,
    /// fio's `flow_id`, `flow` (the job's weight; 0: not in a flow) and `flow_sleep`
    /// (`run/flow.rs`).
    pub flow_id: u32,
    pub flow: u64,
    pub flow_sleep: Duration,
}

impl Default for PacingOpts {
    fn default() -> PacingOpts {
        PacingOpts {
            rate: [None; 2],
            rate_iops: [None; 2],
            rate_min: [None; 2],
            rate_iops_min: [None; 2],
            rate_cycle: Duration::from_secs(1),
            rate_poisson: false,
            submit_offload: false,
            trim_rate: TrimRates::default(),
            ss_crit: crate::spec::steady::SsCriterion {
                iops: true,
                slope: true,
                pct: true,
                limit: 0.01,
            },
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
            think: Think::default(),
            flow_id: 0,
            flow: 0,
            flow_sleep: Duration::ZERO,
        }
    }
}

/// fio's files of a job: the targets named or made (how many, how named, how large), which one the
/// next I/O goes to, and their life-cycle (created, reserved, filled, unlinked).
#[derive(Clone, Debug)]
pub struct FileOpts {
    pub filenames: Vec<PathBuf>,
    /// fio's `filesize` (low, high): each file's size; `size` then only sets the default
    /// `io_size` (settled in `finish`).
    pub filesize: Option<(u64, u64)>,
    /// With a `filesize` range: each file's own size (fio's `get_rand_file_size`), settled in
    /// `finish`; `size` is then their sum.
    pub file_sizes: Option<Vec<u64>>,
    /// Where the jobs' own files go when no `filename` is given.
    pub directory: Option<PathBuf>,
    /// fio's `unlink`: delete the job's regular files when it is done (never a block device).
    pub unlink: bool,
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
    /// fio's `create_serialize` (default on): files laid out one after another.
    pub create_serialize: bool,
    /// fio's `overwrite`: a writing job's region is laid out (filled) before it starts, as a
    /// reading job's is, so its writes overwrite data; bytes the file already has are kept.
    pub overwrite: bool,
    /// fio's `unlink_each_loop`: after each of its `loops`, the job's files are deleted; the
    /// next loop runs on new ones (writing jobs).
    pub unlink_each_loop: bool,
    pub fallocate: Fallocate,
    /// The job file section the job came from: fio names a job's own files after it (`$jobname`),
    /// also when `name=` renames the job.
    pub section: Option<String>,
}

impl Default for FileOpts {
    fn default() -> FileOpts {
        FileOpts {
            filenames: Vec::new(),
            directory: None,
            filesize: None,
            file_sizes: None,
            nrfiles: 1,
            filename_format: None,
            file_service: (Service::RoundRobin, 1),
            openfiles: None,
            allow_file_create: true,
            fill_device: false,
            create_on_open: false,
            overwrite: false,
            create_serialize: true,
            unlink: false,
            unlink_each_loop: false,
            fallocate: Fallocate::Native,
            section: None,
        }
    }
}

/// Where and how a job runs: its I/O priority and per-I/O priorities (`prio`, `prioclass`,
/// `cmdprio_*`), its CPUs, nice value and NUMA memory policy.
#[derive(Clone, Debug, Default)]
pub struct PlacementOpts {
    /// fio's `prio` / `prioclass` (the job's I/O priority) and `cmdprio_*` (`run/prio.rs`).
    pub prio: Option<u8>,
    pub prioclass: Option<u8>,
    pub cmdprio: CmdPrio,
    /// fio's `cpus_allowed` / `cpumask` (the CPU set), `cpus_allowed_policy=split` (one CPU
    /// of it per job) and `nice` (`run/cpu.rs`).
    pub cpus: Option<Vec<usize>>,
    pub cpus_split: bool,
    pub nice: Option<i32>,
    /// fio's `numa_mem_policy`: the `set_mempolicy` mode and node mask (`run/cpu.rs`);
    /// `numa_cpu_nodes` sets `cpus`.
    pub mem_policy: Option<(i32, u64)>,
}

/// What is measured and reported: the latency series recorded (`disable_*`, `gtod_reduce`) and
/// their percentiles.
#[derive(Clone, Debug, Default)]
pub struct MeasureOpts {
    /// fio's `disable_lat`, `disable_clat`, `disable_slat`, `disable_bw_measurement` (all four:
    /// `gtod_reduce`): the latency series not recorded (not printed; JSON `N` 0);
    /// `disable_bw_measurement` leaves the per-I/O bandwidth log empty (fio's report keeps its
    /// bandwidth numbers).
    pub disable_lat: bool,
    pub disable_clat: bool,
    pub disable_slat: bool,
    pub disable_bw: bool,
    /// fio's `clat_percentiles` (default on), `lat_percentiles`, `slat_percentiles` (which
    /// series report percentiles) and `percentile_list`.
    pub pcts: Pcts,
}

/// Where a job's I/Os go: the region's start (`offset`, per clone `offset_increment`), the random
/// offsets (distribution, generator, seed, map, percentage random, alignment), fio's offset
/// modifiers and zones.
/// The seed of every job's random sequences when `randseed` is not given.
pub const DEFAULT_RANDSEED: u64 = 0x5eed_d10e;

#[derive(Clone, Debug)]
pub struct OffsetOpts {
    pub offset: u64,
    pub offset_pct: Option<u64>,
    pub offset_increment: Incr,
    pub randrepeat: bool,
    pub randseed: u64,
    /// `randseed` was given: the sequences follow it whatever `randrepeat` says (fio's
    /// `setup_random_seeds`).
    pub randseed_set: bool,
    /// fio's `allrandrepeat`: every sequence from one fixed seed, whatever `randrepeat` and
    /// `randseed` say (fio's `td_fill_rand_seeds` overwrites the seeds with `FIO_RANDSEED`).
    pub allrandrepeat: bool,
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
}

impl Default for OffsetOpts {
    fn default() -> OffsetOpts {
        OffsetOpts {
            offset: 0,
            offset_pct: None,
            offset_increment: Incr::Bytes(0),
            dist: Dist::Uniform,
            norandommap: false,
            rw_add: 0,
            rw_nr: 0,
            rw_identical: false,
            rw_modifier: None,
            blockalign: None,
            random_generator: RandomGen::Tausworthe,
            perc_rand: [100; 2],
            zone: None,
            zonemode: None,
            zone_size: None,
            zone_range: None,
            zone_skip: 0,
            randrepeat: true,
            randseed: DEFAULT_RANDSEED,
            randseed_set: false,
            allrandrepeat: false,
        }
    }
}
