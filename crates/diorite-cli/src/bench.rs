//! `diorite bench`: one fio-style job through one engine context.

use crate::size::{parse_size, parse_time};
use anyhow::{bail, Context as _, Result};
use clap::Args;
use diorite::{BackendChoice, BufPool, Context, DirectFile, Request};
use hdrhistogram::Histogram;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options, spelled as fio spells them.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Target file or block device. Default: a 256 MiB file in the temp directory (removed after).
    #[arg(long)]
    filename: Option<PathBuf>,
    /// read, write, randread or randwrite.
    #[arg(long, default_value = "randread")]
    rw: String,
    /// Block size (fio suffixes: 4k, 128k, 1m).
    #[arg(long, default_value = "4k")]
    bs: String,
    /// Requests in flight.
    #[arg(long, default_value_t = 32)]
    iodepth: u32,
    /// How long to run (10, 10s, 500ms, 1m).
    #[arg(long, default_value = "10")]
    runtime: String,
    /// Bytes of the target to use (default: the whole device, or 256m for the default file).
    #[arg(long)]
    size: Option<String>,
    /// auto, io_uring, libaio (or aio), threads (or psync).
    #[arg(long, default_value = "auto")]
    ioengine: String,
    /// Use O_DIRECT (1, the default) or not (0).
    #[arg(long, default_value_t = 1)]
    direct: u8,
    /// Worker threads of the thread-pool backend (default: the iodepth, at most 64).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pattern {
    Read,
    Write,
    RandRead,
    RandWrite,
}

impl Pattern {
    fn parse(s: &str) -> Result<Pattern> {
        Ok(match s {
            "read" => Pattern::Read,
            "write" => Pattern::Write,
            "randread" => Pattern::RandRead,
            "randwrite" => Pattern::RandWrite,
            _ => {
                bail!("--rw={s}: unsupported pattern (supported: read, write, randread, randwrite)")
            }
        })
    }
    fn writes(self) -> bool {
        matches!(self, Pattern::Write | Pattern::RandWrite)
    }
    fn random(self) -> bool {
        matches!(self, Pattern::RandRead | Pattern::RandWrite)
    }
}

/// fio's engine names mapped to backends.
pub fn parse_engine(s: &str) -> Result<BackendChoice> {
    Ok(match s {
        "auto" => BackendChoice::Auto,
        "io_uring" | "uring" => BackendChoice::IoUring,
        "libaio" | "aio" => BackendChoice::Aio,
        "threads" | "psync" | "pvsync2" => BackendChoice::Threads,
        _ => bail!(
            "--ioengine={s}: unknown engine (supported: auto, io_uring, libaio/aio, threads/psync)"
        ),
    })
}

/// The default target: a file of `size` bytes in the temp directory, written once so reads hit
/// allocated blocks. Removed when dropped.
struct DefaultTarget {
    path: PathBuf,
}

impl Drop for DefaultTarget {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn make_default_target(size: u64, direct: bool) -> Result<(DirectFile, DefaultTarget)> {
    let path = std::env::temp_dir().join(format!("diorite-bench-{}.dat", std::process::id()));
    let guard = DefaultTarget { path: path.clone() };
    let file = DirectFile::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .require_direct(direct)
        .open(&path)
        .with_context(|| format!("creating the default target {}", path.display()))?;
    // Fill it through the engine, 1 MiB at a time, 8 in flight.
    let chunk = 1 << 20;
    let ctx = Context::builder()
        .depth(8)
        .backend(BackendChoice::Threads)
        .threads(2)
        .build()?;
    let pool = BufPool::new(8, chunk, file.geometry().mem_align.max(4096) as usize)?;
    let mut done = Vec::new();
    let mut off = 0u64;
    while off < size || ctx.in_flight() > 0 {
        while off < size {
            let Some(mut buf) = pool.get() else { break };
            buf.fill(0xa5);
            ctx.submit(Request::write(&file, off, buf))
                .map_err(|e| e.error)?;
            off += chunk as u64;
        }
        done.clear();
        ctx.get_events(1, 8, None, &mut done)?;
        for c in &done {
            c.result.clone().context("filling the default target")?;
        }
    }
    ctx.shutdown()?;
    Ok((file, guard))
}

/// A small, fast PRNG (splitmix64) for offsets; no per-I/O allocation or syscall.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn cpu_time() -> Duration {
    // SAFETY: getrusage writes one `rusage` through a valid pointer.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

pub fn run(args: &BenchArgs, out: &mut impl Write) -> Result<()> {
    let pattern = Pattern::parse(&args.rw)?;
    let bs = parse_size(&args.bs)?;
    if bs == 0 || bs > 64 << 20 {
        bail!(
            "--bs={}: block size must be between 1 byte and 64 MiB",
            args.bs
        );
    }
    let runtime = parse_time(&args.runtime)?;
    let engine = parse_engine(&args.ioengine)?;
    if args.iodepth == 0 || args.iodepth > 65536 {
        bail!("--iodepth={}: must be between 1 and 65536", args.iodepth);
    }
    if args.direct > 1 {
        bail!("--direct={}: must be 0 or 1", args.direct);
    }
    let want_size = args.size.as_deref().map(parse_size).transpose()?;
    let direct = args.direct == 1;

    let (file, _guard) = match &args.filename {
        Some(p) => {
            let f = DirectFile::options()
                .read(true)
                .write(pattern.writes())
                .require_direct(direct)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))?;
            (f, None)
        }
        None => {
            let (f, g) = make_default_target(want_size.unwrap_or(256 << 20), direct)?;
            (f, Some(g))
        }
    };
    let size = want_size
        .unwrap_or(file.len())
        .min(if file.geometry().is_block_device {
            file.len()
        } else {
            u64::MAX
        });
    let g = *file.geometry();
    if bs % u64::from(g.offset_align) != 0 {
        bail!(
            "--bs={}: not a multiple of {}'s offset alignment ({} bytes)",
            args.bs,
            file.path().display(),
            g.offset_align
        );
    }
    let blocks = size / bs;
    if blocks == 0 {
        bail!(
            "{} is too small for the job: size {size} bytes, block size {bs}",
            file.path().display()
        );
    }

    let threads = args.threads.unwrap_or(args.iodepth.min(64) as usize);
    let pool = BufPool::new(
        args.iodepth as usize,
        bs as usize,
        (g.mem_align as usize).max(4096),
    )?;
    // io_uring: fixed file and fixed buffers (fio's registerfiles + fixedbufs) when the kernel
    // lets us; the report says what was registered.
    let ctx = Context::builder()
        .depth(args.iodepth)
        .backend(engine)
        .threads(threads)
        .register_file(&file)
        .register_pool(&pool)
        .build()?;

    let mut lat = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut rng = SplitMix(0x5eed);
    let mut seq = 0u64;
    let mut done = Vec::with_capacity(args.iodepth as usize);
    let (mut ios, mut bytes) = (0u64, 0u64);
    let base = Instant::now();
    let cpu0 = cpu_time();
    let deadline = base + runtime;
    let mut stopping = false;
    loop {
        if !stopping {
            while let Some(buf) = pool.get() {
                let block = if pattern.random() {
                    rng.next() % blocks
                } else {
                    (seq % blocks, seq += 1).0
                };
                let off = block * bs;
                let t = base.elapsed().as_nanos() as u64;
                let req = if pattern.writes() {
                    Request::write(&file, off, buf)
                } else {
                    Request::read(&file, off, buf)
                };
                ctx.submit(req.with_user_data(t)).map_err(|e| e.error)?;
            }
        }
        if stopping && ctx.in_flight() == 0 {
            break;
        }
        done.clear();
        ctx.get_events(
            1,
            args.iodepth as usize,
            Some(Duration::from_secs(30)),
            &mut done,
        )?;
        let now = base.elapsed().as_nanos() as u64;
        for c in &done {
            let n = c
                .result
                .clone()
                .with_context(|| format!("I/O failed on {}", file.path().display()))?;
            ios += 1;
            bytes += n as u64;
            lat.saturating_record(now.saturating_sub(c.user_data).max(1));
        }
        // Completions drop here, returning their buffers to the pool.
        done.clear();
        if !stopping && Instant::now() >= deadline {
            stopping = true;
        }
    }
    let elapsed = base.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    let backend = ctx.backend();
    let skipped: Vec<String> = ctx
        .skipped_backends()
        .iter()
        .map(|s| format!("{}: {}", s.kind, s.reason))
        .collect();
    let report = ctx.backend_report();
    ctx.shutdown()?;

    let secs = elapsed.as_secs_f64();
    let iops = ios as f64 / secs;
    writeln!(
        out,
        "diorite bench: rw={} bs={} iodepth={} ioengine={} target={} ({} bytes, {})",
        args.rw,
        bs,
        args.iodepth,
        backend,
        file.path().display(),
        size,
        if file.is_direct() {
            "O_DIRECT"
        } else {
            "buffered"
        }
    )?;
    writeln!(out, "  backend:   {backend} ({report})")?;
    for s in &skipped {
        writeln!(out, "  skipped:   {s}")?;
    }
    writeln!(
        out,
        "  io:        {ios} requests, {bytes} bytes in {secs:.2} s"
    )?;
    writeln!(out, "  iops:      {iops:.0}")?;
    writeln!(
        out,
        "  bw:        {:.1} MiB/s",
        bytes as f64 / secs / (1 << 20) as f64
    )?;
    writeln!(
        out,
        "  lat (us):  mean={:.1} p50={:.1} p99={:.1} p99.9={:.1} max={:.1}",
        lat.mean() / 1e3,
        lat.value_at_quantile(0.5) as f64 / 1e3,
        lat.value_at_quantile(0.99) as f64 / 1e3,
        lat.value_at_quantile(0.999) as f64 / 1e3,
        lat.max() as f64 / 1e3
    )?;
    writeln!(
        out,
        "  cpu:       {:.1}% of one core, {:.2} us per I/O",
        cpu.as_secs_f64() / secs * 100.0,
        if ios > 0 {
            cpu.as_secs_f64() * 1e6 / ios as f64
        } else {
            0.0
        }
    )?;
    Ok(())
}
