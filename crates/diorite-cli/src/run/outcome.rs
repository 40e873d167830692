//! What running a job produces, per job: I/O and latency statistics per direction, the
//! verify findings, CPU use, queue depths, bandwidth/IOPS samples. The report prints these.

use crate::spec::JobSpec;
use crate::stats::{DirStats, Lat};
use std::time::Duration;

/// Index of the sync series in [`JobResult::stats`].
/// Directions with their own statistics: read, write, trim (fio's `ddir`s), indexed by `Dir`.
pub const DIRS: usize = 3;
/// Where syncs are counted, after the directions.
pub const SYNC: usize = 3;
/// Statistics slots: the directions and syncs.
pub const STATS: usize = 4;

/// What verification found.
#[derive(Clone, Debug, Default)]
pub struct VerifyResult {
    pub blocks: u64,
    pub bytes: u64,
    pub errors: u64,
    /// Blocks written but not checked because the job's runtime ran out (fio's verify phase
    /// stops at `runtime` too).
    pub unchecked: u64,
    /// `verify_state_load`: blocks a write not known durable may have touched (in flight when
    /// the job died): neither good nor bad.
    pub unknown: u64,
    /// The first mismatches, described.
    pub first: Vec<String>,
}

/// Everything one job measured.
#[derive(Clone)]
pub struct JobResult {
    pub name: String,
    pub groupid: u32,
    pub spec: JobSpec,
    /// Read, write, sync.
    pub stats: [DirStats; STATS],
    /// The measured phase (after ramp), up to the last completion.
    pub runtime: Duration,
    /// Per direction (read, write): how long it ran. The verify phase's reads count as reads
    /// (as in fio), over the verify phase's time.
    pub dir_runtime: [Duration; DIRS],
    pub usr: Duration,
    pub sys: Duration,
    pub backend: String,
    pub backend_report: String,
    pub skipped: Vec<String>,
    /// Each target: path, O_DIRECT or buffered, region.
    pub targets: Vec<String>,
    pub verify: Option<VerifyResult>,
    /// diorite's `crash`: what the simulated power cuts showed.
    pub crash: Option<crate::run::crash::CrashResult>,
    /// The per-I/O logs, when they go back to a client instead of into files here.
    pub logs: Vec<crate::run::logs::Finished>,
    /// The job thread's context switches and page faults over the measured phase.
    pub usage: ThreadUsage,
    pub depths: Depths,
    pub samples: Samples,
    pub error: Option<String>,
    pub interrupted: bool,
    /// Ended by another job's end (`exitall`).
    pub terminated: bool,
    /// fio's `total_err` / `first_error`: errors the job went on after (`continue_on_error`,
    /// `ignore_error`), verify errors included when it continues on those.
    pub total_err: u64,
    pub first_error: Option<i32>,
    /// The job thread's CPUs and nice value as the kernel reports them after `cpus_allowed`,
    /// `cpumask`, `nice` were applied.
    pub cpus: Vec<usize>,
    pub nice: i32,
    /// The job thread's memory policy as the kernel reports it (`numa_mem_policy`): mode and
    /// node mask.
    pub mem_policy: Option<(i32, u64)>,
    /// Per direction (read, write), the latency of each priority the job used, by ioprio value
    /// (fio's `clat_prio`; empty unless `cmdprio_*` mixed priorities).
    pub prio_lat: [Vec<(u16, Lat)>; 2],
    /// The queue depth the latency-target search settled on (fio's `latency_depth`).
    pub latency_depth: Option<u32>,
    /// fio's steady-state record of the job (or its group), when it has `ss_dur`.
    pub steady: Option<crate::run::steady::Steady>,
}

/// What `getrusage(RUSAGE_THREAD)` says about the calling thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadUsage {
    pub usr: Duration,
    pub sys: Duration,
    /// Voluntary + involuntary context switches.
    pub ctx: u64,
    pub majf: u64,
    pub minf: u64,
}

impl ThreadUsage {
    pub fn now() -> ThreadUsage {
        // SAFETY: an all-zero rusage is a valid value to be overwritten.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes one rusage through a valid pointer; RUSAGE_THREAD is valid
        // on Linux.
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        ThreadUsage {
            usr: tv(ru.ru_utime),
            sys: tv(ru.ru_stime),
            ctx: (ru.ru_nvcsw + ru.ru_nivcsw) as u64,
            majf: ru.ru_majflt as u64,
            minf: ru.ru_minflt as u64,
        }
    }

    /// `self - earlier`.
    pub fn since(&self, earlier: &ThreadUsage) -> ThreadUsage {
        ThreadUsage {
            usr: self.usr.saturating_sub(earlier.usr),
            sys: self.sys.saturating_sub(earlier.sys),
            ctx: self.ctx.saturating_sub(earlier.ctx),
            majf: self.majf.saturating_sub(earlier.majf),
            minf: self.minf.saturating_sub(earlier.minf),
        }
    }
}

/// fio's queue-depth distributions: `IO depths` (in flight when an I/O was submitted: 1, 2,
/// 4, 8, 16, 32, >=64), `submit` and `complete` (I/Os per submit or reap call: 0, 4, 8, 16,
/// 32, 64, >=64).
#[derive(Clone, Debug, Default)]
pub struct Depths {
    pub depth: [u64; 7],
    pub submit: [u64; 7],
    pub complete: [u64; 7],
}

impl Depths {
    /// fio's `io_u_mark_depth` buckets: labelled by their lower edge (1, 2-3, 4-7, 8-15,
    /// 16-31, 32-63, >=64).
    #[inline]
    pub fn depth_bucket(n: usize) -> usize {
        match n {
            0 | 1 => 0,
            2..=3 => 1,
            4..=7 => 2,
            8..=15 => 3,
            16..=31 => 4,
            32..=63 => 5,
            _ => 6,
        }
    }

    /// fio's `io_u_mark_submit`/`_complete` buckets: labelled by their upper edge (0, 1-4,
    /// 5-8, 9-16, 17-32, 33-64, >64), weighted by the I/Os in the call.
    #[inline]
    pub fn batch_bucket(n: usize) -> usize {
        match n {
            0 => 0,
            1..=4 => 1,
            5..=8 => 2,
            9..=16 => 3,
            17..=32 => 4,
            33..=64 => 5,
            _ => 6,
        }
    }

    pub fn merge(&mut self, o: &Depths) {
        for (a, b) in [
            (&mut self.depth, &o.depth),
            (&mut self.submit, &o.submit),
            (&mut self.complete, &o.complete),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }
}

/// Bandwidth (KiB/s) and IOPS samples per direction, one per `SAMPLE` interval (fio's
/// `log_avg_msec` default of 500 ms).
#[derive(Clone, Debug, Default)]
pub struct Samples {
    pub bw: [Vec<f64>; DIRS],
    pub iops: [Vec<f64>; DIRS],
    /// A remote host's summaries instead of samples (`[bw, iops][direction]`: min, max, mean,
    /// deviation, count), as fio's protocol carries them (`diorite bench --client`).
    pub summary: Option<[[Option<Series>; DIRS]; 2]>,
}

/// A sample series' min, max, mean, sample standard deviation and count.
pub type Series = (f64, f64, f64, f64, usize);

/// The sampling interval of [`Samples`].
pub const SAMPLE: Duration = Duration::from_millis(500);
