//! What the benches share: a target of 128 MiB of incompressible data (zram as root, else — or
//! with `DIORITE_BENCH_TARGET=file` — a file in /var/tmp; removed on drop) and random block
//! offsets.

#![allow(dead_code)] // each bench uses a part

use criterion::Criterion;
use diorite::SubmitError;
use diorite::{AlignedBuf, Completion, Context, DirectFile, LocalContext, Request, RequestId};
use std::time::{Duration, Instant};

pub const BS: u64 = 4096;
pub const QD: usize = 32;
pub const SIZE: u64 = 128 << 20;

/// A zram device (root) or a file, filled with incompressible bytes; removed on drop.
pub struct Target {
    pub name: &'static str,
    pub path: std::path::PathBuf,
    zram: Option<String>,
}

impl Target {
    pub fn new() -> Target {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let data: Vec<u8> = (0..SIZE)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        // DIORITE_BENCH_TARGET=file: a file on /var/tmp's filesystem even as root (a
        // device-bound target, where zram is CPU-bound).
        let want_file = std::env::var("DIORITE_BENCH_TARGET").as_deref() == Ok("file");
        if let Some(Ok(id)) =
            (!want_file).then(|| std::fs::read_to_string("/sys/class/zram-control/hot_add"))
        {
            let id = id.trim().to_string();
            let dev = std::path::PathBuf::from(format!("/dev/zram{id}"));
            if std::fs::write(format!("/sys/block/zram{id}/disksize"), SIZE.to_string()).is_ok()
                && std::fs::write(&dev, &data).is_ok()
            {
                return Target {
                    name: "zram",
                    path: dev,
                    zram: Some(id),
                };
            }
            let _ = std::fs::write("/sys/class/zram-control/hot_remove", &id);
        }
        let path = std::path::PathBuf::from(format!(
            "/var/tmp/diorite-bench-futures-{}.dat",
            std::process::id()
        ));
        std::fs::write(&path, &data).expect("bench file");
        Target {
            name: "file",
            path,
            zram: None,
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        match &self.zram {
            Some(id) => {
                // A ring that registered the device closes asynchronously (the kernel's
                // io_uring teardown runs in a worker): until it has, the device is open and
                // reset / hot_remove fail with EBUSY. Retry for a while.
                let end = Instant::now() + Duration::from_secs(10);
                loop {
                    let _ = std::fs::write(format!("/sys/block/zram{id}/reset"), "1");
                    if std::fs::write("/sys/class/zram-control/hot_remove", id).is_ok()
                        || Instant::now() > end
                    {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            None => {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// The next random block offset.
pub fn next_off(x: &mut u64, blocks: u64) -> u64 {
    *x = x
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*x >> 33) % blocks) * BS
}

/// The two context types' blocking API, for one loop over both.
pub trait Blocking {
    fn submit(&self, r: Request) -> Result<RequestId, SubmitError>;
    fn get_events(&self, min: usize, max: usize, out: &mut Vec<Completion>);
}

impl Blocking for Context {
    fn submit(&self, r: Request) -> Result<RequestId, SubmitError> {
        Context::submit(self, r)
    }
    fn get_events(&self, min: usize, max: usize, out: &mut Vec<Completion>) {
        Context::get_events(self, min, max, Some(Duration::from_secs(10)), out).unwrap();
    }
}

impl Blocking for LocalContext {
    fn submit(&self, r: Request) -> Result<RequestId, SubmitError> {
        LocalContext::submit(self, r)
    }
    fn get_events(&self, min: usize, max: usize, out: &mut Vec<Completion>) {
        LocalContext::get_events(self, min, max, Some(Duration::from_secs(10)), out).unwrap();
    }
}

/// `n` requests kept at QD32: submit one per completion, reap what is there (at least one).
/// `issue` makes a request from what `back` took out of a completion (its buffers); `spare`
/// holds what the first QD requests start from, and gets back what the last ones return.
pub fn kept_full<B>(
    ctx: &impl Blocking,
    n: u64,
    spare: &mut Vec<B>,
    mut issue: impl FnMut(B) -> Request,
    mut back: impl FnMut(Completion) -> B,
) -> Duration {
    let mut out = Vec::with_capacity(QD);
    let start = Instant::now();
    let mut submitted = 0;
    while submitted < n.min(QD as u64) {
        let b = spare.pop().expect("QD spares");
        ctx.submit(issue(b)).map_err(|e| e.error).unwrap();
        submitted += 1;
    }
    let mut done = 0;
    while done < n {
        ctx.get_events(1, QD, &mut out);
        for c in out.drain(..) {
            done += 1;
            let b = back(c);
            if submitted < n {
                ctx.submit(issue(b)).map_err(|e| e.error).unwrap();
                submitted += 1;
            } else {
                spare.push(b);
            }
        }
    }
    start.elapsed()
}

/// `n` reads of one block kept at QD32 (see [`kept_full`]), each checked for a full result.
pub fn reads(ctx: &impl Blocking, f: &DirectFile, bufs: &mut Vec<AlignedBuf>, n: u64) -> Duration {
    let blocks = f.len() / BS;
    let mut x = 1;
    kept_full(
        ctx,
        n,
        bufs,
        |b| Request::read(f, next_off(&mut x, blocks), b),
        |mut c| {
            assert_eq!(c.result.as_ref().copied().unwrap(), BS as usize);
            c.take_buf().unwrap()
        },
    )
}

/// Short criterion runs (10 samples of 3 s): these benches do real I/O.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// QD buffers of one block for `f`.
pub fn bufs(f: &DirectFile) -> Vec<AlignedBuf> {
    (0..QD)
        .map(|_| AlignedBuf::for_file(f, BS as usize).unwrap())
        .collect()
}
