//! A bad-input and race sweep through the public API : on a regular
//! file, 512- and 4096-byte-sector loop devices and zram, on every backend. Whatever is thrown
//! at the engine, it answers with a typed error or a completion — exactly once per submitted
//! request — and never panics, hangs or corrupts memory.

mod common;

use common::OpenDirect;

use common::{backends, within, Target};
use diorite::{AlignedBuf, BackendChoice, Context, DirectFile, ErrorKind, Request, RequestId};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// xorshift64*: a tiny deterministic generator, seeded per run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A target's name and file, with the guard that keeps the device alive.
type Named = (String, DirectFile, Option<Target>, Option<common::Zram>);

fn all_targets() -> Vec<Named> {
    let mut v: Vec<_> = common::targets()
        .into_iter()
        .map(|t| (t.name(), t.file().clone(), Some(t), None))
        .collect();
    if let Some(z) = common::Zram::new(4 << 20, 0x33) {
        let f = z.open();
        v.push(("zram".into(), f, None, Some(z)));
    }
    v
}

/// A request chosen at random, mostly invalid in some way; `raw` is memory the raw requests
/// point into (it outlives every request).
fn random_request(rng: &mut Rng, f: &DirectFile, raw: &mut [u8]) -> Request {
    let g = f.geometry();
    let size = f.len().max(1);
    let bs = g.offset_align as u64;
    let off = match rng.below(6) {
        0 => rng.below(size / bs) * bs,     // aligned, inside
        1 => rng.below(size),               // likely misaligned
        2 => size - size % bs,              // at the end
        3 => u64::MAX - rng.below(4096),    // overflow
        4 => (i64::MAX as u64) & !(bs - 1), // huge but aligned
        _ => size + rng.below(4) * bs,      // past the end
    };
    let len = match rng.below(4) {
        0 => bs as usize,
        1 => (rng.below(4) + 1) as usize * bs as usize,
        2 => rng.below(3 * bs) as usize + 1, // likely misaligned
        _ => 4096,
    };
    match rng.below(8) {
        0 => Request::read(f, off, AlignedBuf::for_file(f, len).unwrap()),
        1 => Request::write(f, off, AlignedBuf::for_file(f, len).unwrap()),
        2 => {
            let n = rng.below(4) as usize;
            let bufs = (0..n)
                .map(|_| AlignedBuf::new(len, 1 << rng.below(13)).unwrap())
                .collect();
            if rng.below(2) == 0 {
                Request::readv(f, off, bufs)
            } else {
                Request::writev(f, off, bufs)
            }
        }
        3 => {
            // Raw memory at an arbitrary address inside `raw`, maybe misaligned.
            let at = rng.below((raw.len() - len.min(raw.len())) as u64) as usize;
            let n = len.min(raw.len() - at);
            // SAFETY: `raw` outlives every request of the sweep (contexts are shut down
            // before it is dropped), and each raw request is the only one using `raw` while in
            // flight: requests over it are reaped before the next is made (depth-1 context).
            unsafe { Request::read_raw(f, off, raw[at..].as_mut_ptr(), n) }
        }
        4 => Request::fsync(f),
        5 => Request::fdatasync(f),
        6 => Request::noop(),
        _ => Request::read(f, off, AlignedBuf::for_file(f, len).unwrap()).dsync(),
    }
}

#[test]
fn bad_input_is_a_typed_error_or_an_honest_completion() {
    for (name, f, t, z) in all_targets() {
        let mut raw = vec![0u8; 64 << 10];
        for b in backends() {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
            let ctx = common::ctx(b, 1);
            for _ in 0..400 {
                let req = random_request(&mut rng, &f, &mut raw);
                let (off, len) = (req.offset(), req.len());
                match ctx.submit(req) {
                    Err(e) => {
                        assert!(
                            matches!(
                                e.error.kind(),
                                ErrorKind::Misaligned
                                    | ErrorKind::OutOfRange
                                    | ErrorKind::InvalidInput
                                    | ErrorKind::Unsupported
                            ),
                            "{name} {b:?}: {}",
                            e.error
                        );
                        assert_eq!(ctx.in_flight(), 0);
                    }
                    Ok(id) => {
                        let mut out = Vec::new();
                        let n = ctx
                            .get_events(1, 4, Some(Duration::from_secs(10)), &mut out)
                            .unwrap();
                        assert_eq!(n, 1, "{name} {b:?}: exactly one completion");
                        assert_eq!(out[0].id, id);
                        if let Ok(done) = out[0].result {
                            assert!(done as u64 <= len, "{name} {b:?}: {done} of {len} at {off}");
                        }
                    }
                }
            }
            // Misuse of the context itself.
            let mut out = Vec::new();
            assert_eq!(
                ctx.get_events(2, 1, None, &mut out).unwrap_err().kind(),
                ErrorKind::InvalidInput
            );
            let id = ctx.submit(Request::noop()).unwrap();
            ctx.get_events(1, 1, Some(Duration::from_secs(10)), &mut out)
                .unwrap();
            assert_eq!(ctx.cancel(id).unwrap_err().kind(), ErrorKind::NotFound);
            ctx.close().unwrap();
            ctx.close().unwrap();
            assert_eq!(
                ctx.submit(Request::noop()).unwrap_err().error.kind(),
                ErrorKind::Shutdown
            );
        }
        // The device goes only once nothing has it open.
        drop(f);
        drop((t, z));
    }
    for depth in [0u32, 65537, u32::MAX] {
        let e = Context::builder().depth(depth).build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }
    let e = Context::builder().threads(0).build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = Context::builder().completion_ring(0).build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

/// Submitters, reapers and cancelers race each other and a `close` at a random moment. Every
/// admitted request is delivered at most once, and everything submitted before the close is
/// delivered or discarded by it; every thread returns.
#[test]
fn racing_submit_reap_cancel_and_close_lose_nothing_and_hang_nowhere() {
    for (name, f, t, z) in all_targets() {
        for b in backends() {
            for round in 0..6u64 {
                race(&name, &f, b, round);
            }
        }
        // The device goes only once nothing has it open.
        drop(f);
        drop((t, z));
    }
}

fn race(name: &str, f: &DirectFile, b: BackendChoice, round: u64) {
    let ctx = Arc::new(common::ctx(b, 8));
    let submitted = Arc::new(Mutex::new(HashSet::<RequestId>::new()));
    let delivered = Arc::new(Mutex::new(Vec::<RequestId>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..2u64 {
        let (ctx, f, submitted, stop) = (ctx.clone(), f.clone(), submitted.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut rng = Rng(round * 31 + t + 1);
            let bs = f.geometry().offset_align as u64;
            let blocks = (f.len() / bs).min(256);
            while !stop.load(Ordering::Relaxed) {
                let off = rng.below(blocks) * bs;
                let buf = AlignedBuf::for_file(&f, bs as usize).unwrap();
                let req = match rng.below(3) {
                    0 => Request::read(&f, off, buf),
                    1 => Request::write(&f, off, buf),
                    _ => Request::noop(),
                };
                match ctx.submit(req) {
                    Ok(id) => {
                        submitted.lock().unwrap().insert(id);
                        if rng.below(4) == 0 {
                            let _ = ctx.cancel(id);
                        }
                    }
                    Err(e) => {
                        assert!(
                            matches!(e.error.kind(), ErrorKind::QueueFull | ErrorKind::Shutdown),
                            "{}",
                            e.error
                        );
                        if e.error.kind() == ErrorKind::Shutdown {
                            return;
                        }
                    }
                }
            }
        }));
    }
    for t in 0..2u64 {
        let (ctx, delivered) = (ctx.clone(), delivered.clone());
        threads.push(std::thread::spawn(move || {
            let mut out = Vec::new();
            loop {
                out.clear();
                let timeout = (t == 0).then_some(Duration::from_millis(5));
                match ctx.get_events(1, 4, timeout, &mut out) {
                    Ok(_) => delivered.lock().unwrap().extend(out.iter().map(|c| c.id)),
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::Shutdown);
                        return;
                    }
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(20 + round * 7));
    stop.store(true, Ordering::Relaxed);
    ctx.close().unwrap();
    let what = format!("{name} {b:?} round {round}");
    within(20, &what.clone(), move || {
        for t in threads {
            t.join().unwrap();
        }
    });
    let delivered = delivered.lock().unwrap();
    let unique: HashSet<_> = delivered.iter().copied().collect();
    assert_eq!(
        unique.len(),
        delivered.len(),
        "{what}: a completion delivered twice"
    );
    let submitted = submitted.lock().unwrap();
    assert!(
        unique.is_subset(&submitted),
        "{what}: a completion for a request never submitted"
    );
    assert_eq!(ctx.in_flight(), 0, "{what}");
}
