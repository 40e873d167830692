//! Opt-in unaligned I/O (`Alignment::Bounce`): misaligned reads and writes in
//! offset, length and buffer address go through a bounce buffer with exactly the bytes a
//! buffered read or write would move; writes read-modify-write their edge blocks without losing
//! a concurrent unaligned writer's bytes; the default still refuses them; what cannot be
//! bounced is refused with a typed error and changes nothing; the context counts bounces.
//! Every backend, on a regular file, 512- and 4096-byte-sector loop devices, and zram.

mod common;

use common::OpenDirect;

use diorite::{AlignedBuf, Alignment, BackendChoice, Context, DirectFile, ErrorKind, Request};
use std::sync::Arc;
use std::time::Duration;

fn bounce_ctx(backend: BackendChoice) -> Context {
    Context::builder()
        .depth(16)
        .backend(backend)
        .threads(2)
        .alignment(Alignment::Bounce)
        .build()
        .unwrap()
}

/// Submits `req`, reaps its completion: `(result, buffers)`.
fn run(ctx: &Context, req: Request) -> (diorite::Result<usize>, Vec<AlignedBuf>) {
    ctx.submit(req).map_err(|e| e.error).unwrap();
    let mut out = Vec::new();
    ctx.get_events(1, 1, Some(Duration::from_secs(20)), &mut out)
        .unwrap();
    let mut c = out.pop().unwrap();
    let bufs = c.take_bufs();
    (c.result, bufs)
}

/// The whole target, read aligned.
fn contents(f: &DirectFile) -> Vec<u8> {
    let (r, b) = diorite::read_at(f, 0, AlignedBuf::for_file(f, f.len() as usize).unwrap());
    assert_eq!(r.unwrap(), f.len() as usize);
    b.to_vec()
}

/// A small deterministic generator (tests must be reproducible).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Buffers for `len` bytes: one, or several of odd lengths (a vectored request).
fn odd_bufs(rng: &mut Rng, len: usize) -> Vec<AlignedBuf> {
    let mut v = Vec::new();
    let mut left = len;
    while left > 0 {
        let n = if rng.below(3) == 0 {
            left
        } else {
            (1 + rng.below(left as u64) as usize).min(left)
        };
        v.push(AlignedBuf::new(n, 1 << rng.below(4)).unwrap());
        left -= n;
    }
    v
}

/// Random misaligned reads and writes against a model of the target's bytes: every read returns
/// exactly the model's bytes (short at the end of a file), every write changes exactly its
/// range, and the counter counts them all. Aligned requests on the same context take the normal
/// path (not counted).
fn model_check(backend: BackendChoice, f: &DirectFile, what: &str) {
    let ctx = bounce_ctx(backend);
    let mut model = contents(f);
    let size = model.len() as u64;
    let bs = u64::from(f.geometry().offset_align);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ size);
    let mut bounced = 0;
    for i in 0..300u64 {
        let len = 1 + rng.below(3 * bs) as usize;
        let write = i % 2 == 1;
        // Writes end inside the file; reads may run past its end (a short result).
        let off = rng.below(size - if write { len as u64 } else { 1 });
        let mut bufs = odd_bufs(&mut rng, len);
        if write {
            let mut k = 0;
            for b in &mut bufs {
                for x in b.iter_mut() {
                    *x = (i as u8).wrapping_mul(31) ^ (k as u8);
                    k += 1;
                }
            }
        }
        let mem = u64::from(f.geometry().mem_align);
        let misaligned = off % bs != 0
            || bufs
                .iter()
                .any(|b| b.len() as u64 % bs != 0 || b.as_ptr() as u64 % mem != 0);
        bounced += u64::from(misaligned);
        let req = match (write, bufs.len()) {
            (false, 1) => Request::read(f, off, bufs.pop().unwrap()),
            (false, _) => Request::readv(f, off, bufs),
            (true, 1) => Request::write(f, off, bufs.pop().unwrap()),
            (true, _) => Request::writev(f, off, bufs),
        };
        let (r, back) = run(&ctx, req);
        let n = r.unwrap_or_else(|e| panic!("{what} {backend:?}: op {i} at {off}+{len}: {e}"));
        let expect = len.min((size - off) as usize);
        assert_eq!(n, expect, "{what} {backend:?}: op {i} at {off}+{len}");
        let got: Vec<u8> = back.iter().flat_map(|b| b.iter().copied()).collect();
        if write {
            model[off as usize..off as usize + len].copy_from_slice(&got);
        } else {
            assert_eq!(
                &got[..n],
                &model[off as usize..off as usize + n],
                "{what} {backend:?}: read {i} at {off}+{len} returned other bytes"
            );
        }
    }
    assert!(bounced > 250, "the generator made mostly aligned requests");
    assert_eq!(
        ctx.bounced(),
        bounced,
        "{what} {backend:?}: the bounce count"
    );
    assert_eq!(
        contents(f),
        model,
        "{what} {backend:?}: the target differs from the model"
    );
    // An aligned request on the same context is not bounced.
    let before = ctx.bounced();
    let (r, _) = run(
        &ctx,
        Request::read(f, 0, AlignedBuf::for_file(f, bs as usize).unwrap()),
    );
    assert_eq!(r.unwrap(), bs as usize);
    assert_eq!(ctx.bounced(), before, "an aligned read was bounced");
    ctx.shutdown().unwrap();
}

#[test]
fn misaligned_reads_and_writes_match_a_byte_model_on_every_backend_and_target() {
    let targets = common::targets();
    for backend in common::backends() {
        for t in &targets {
            model_check(backend, t.file(), &t.name());
        }
    }
    if let Some(z) = common::Zram::new(1 << 20, 0x5a) {
        let f = z.open();
        for backend in common::backends() {
            model_check(backend, &f, "zram");
        }
    }
}

/// A buffer whose address breaks `mem_align` (one byte into an allocation) is bounced too.
#[test]
fn a_misaligned_buffer_address_is_bounced() {
    let dir = common::tempdir();
    let f = common::file_with(dir.path(), "addr", 64 << 10, 0x11);
    for backend in common::backends() {
        let ctx = bounce_ctx(backend);
        let mut mem = vec![0u8; 4097];
        // SAFETY: `mem[1..]` is 4096 writable bytes, untouched until the completion is reaped.
        let req = unsafe { Request::read_raw(&f, 4096, mem[1..].as_mut_ptr(), 4096) };
        let (r, _) = run(&ctx, req);
        assert_eq!(r.unwrap(), 4096);
        assert!(mem[1..].iter().all(|&b| b == 0x11) && mem[0] == 0);
        assert_eq!(ctx.bounced(), 1);
        mem[1..].fill(0x22);
        // SAFETY: as above, read-only for the kernel.
        let req = unsafe { Request::write_raw(&f, 8192, mem[1..].as_ptr(), 4096) };
        let (r, _) = run(&ctx, req);
        assert_eq!(r.unwrap(), 4096);
        let all = contents(&f);
        assert!(all[8192..12288].iter().all(|&b| b == 0x22));
        assert!(all[4096..8192].iter().all(|&b| b == 0x11));
        assert!(all[12288..].iter().all(|&b| b == 0x11));
        std::fs::write(f.path(), vec![0x11u8; 64 << 10]).unwrap();
    }
}

/// Threads writing disjoint byte ranges of the *same* blocks at once, unaligned: the per-file
/// lock makes each read-modify-write whole, so no writer's bytes are lost. (Without it the
/// writers read the block, patch their part and write it back over each other.)
#[test]
fn concurrent_unaligned_writes_into_one_block_lose_nothing() {
    for backend in common::backends() {
        let dir = common::tempdir();
        let f = common::file_with(dir.path(), "shared", 16 << 10, 0);
        let ctx = Arc::new(bounce_ctx(backend));
        const WRITERS: usize = 8;
        const PART: usize = 100; // 8 x 100 bytes inside the first 4 KiB, unaligned
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (ctx, f) = (ctx.clone(), f.clone());
                std::thread::spawn(move || {
                    for round in 1..=40u8 {
                        let mut b = AlignedBuf::new(PART, 8).unwrap();
                        b.fill(round.wrapping_mul(WRITERS as u8) + w as u8);
                        let off = (w * PART + 3) as u64;
                        ctx.submit(Request::write(&f, off, b))
                            .map_err(|e| e.error)
                            .unwrap();
                        let mut out = Vec::new();
                        // Other writers' completions may arrive here: count, don't match.
                        ctx.get_events(1, 1, Some(Duration::from_secs(20)), &mut out)
                            .unwrap();
                        assert_eq!(out[0].result.as_ref().copied().unwrap(), PART);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let all = contents(&f);
        for w in 0..WRITERS {
            let want = 40u8.wrapping_mul(WRITERS as u8) + w as u8;
            let part = &all[w * PART + 3..(w + 1) * PART + 3];
            assert!(
                part.iter().all(|&b| b == want),
                "{backend:?}: writer {w}'s last bytes were lost (found {:?}...)",
                &part[..8]
            );
        }
        assert!(
            all[..3].iter().all(|&b| b == 0) && all[WRITERS * PART + 3..].iter().all(|&b| b == 0)
        );
        assert_eq!(ctx.bounced(), (WRITERS * 40) as u64);
    }
}

/// The default refuses misaligned requests; what bouncing cannot do is refused with a typed
/// error; neither changes a byte.
#[test]
fn strict_refuses_and_unbounceable_writes_are_refused_unchanged() {
    let dir = common::tempdir();
    // 10000 bytes: the last 4096-byte block is partial.
    let f = common::file_with(dir.path(), "odd", 10000, 0x33);
    let before = std::fs::read(f.path()).unwrap();
    for backend in common::backends() {
        let strict = common::ctx(backend, 4);
        let e = strict
            .submit(Request::write(&f, 7, AlignedBuf::new(10, 1).unwrap()))
            .unwrap_err();
        assert_eq!(e.error.kind(), ErrorKind::Misaligned);
        assert_eq!(strict.bounced(), 0);
        let ctx = bounce_ctx(backend);
        let bs = f.geometry().offset_align as u64;
        let whole = 10000 / bs * bs;
        // Ends past the last whole block (it would grow the file to a block boundary).
        for (off, len) in [(whole - 5, 10), (9990, 20), (10000, 1)] {
            let e = ctx
                .submit(Request::write(&f, off, AlignedBuf::new(len, 1).unwrap()))
                .unwrap_err();
            assert_eq!(
                e.error.kind(),
                ErrorKind::Unsupported,
                "{off}+{len}: {}",
                e.error
            );
            assert_eq!(e.request.len(), len as u64, "the request comes back");
        }
        // Not open for writing; nothing to transfer.
        let ro = DirectFile::open(f.path()).unwrap();
        let e = ctx
            .submit(Request::write(&ro, 3, AlignedBuf::new(10, 1).unwrap()))
            .unwrap_err();
        assert_eq!(e.error.kind(), ErrorKind::InvalidInput);
        let e = ctx.submit(Request::readv(&f, 3, Vec::new())).unwrap_err();
        assert_eq!(e.error.kind(), ErrorKind::InvalidInput);
        assert_eq!(ctx.bounced(), 0);
        assert_eq!(ctx.in_flight(), 0);
        // A read past the end is fine: short, as a buffered read.
        let (r, b) = run(
            &ctx,
            Request::read(&f, 9990, AlignedBuf::new(100, 1).unwrap()),
        );
        assert_eq!(r.unwrap(), 10);
        assert!(b[0][..10].iter().all(|&x| x == 0x33));
    }
    assert_eq!(
        std::fs::read(f.path()).unwrap(),
        before,
        "a refused request changed the file"
    );
}

/// Futures take the bounce path too (the completion goes to the future; the buffer comes back).
#[test]
fn futures_bounce_on_every_executor_path() {
    let dir = common::tempdir();
    let f = common::file_with(dir.path(), "fut", 64 << 10, 0x44);
    for backend in common::backends() {
        let ctx = bounce_ctx(backend);
        let (r, b) = futures::executor::block_on(ctx.read(&f, 5, AlignedBuf::new(300, 1).unwrap()));
        assert_eq!(r.unwrap(), 300);
        assert!(b.iter().all(|&x| x == 0x44));
        let mut w = AlignedBuf::new(300, 1).unwrap();
        w.fill(0x55);
        let (r, _) = futures::executor::block_on(ctx.write(&f, 4000, w));
        assert_eq!(r.unwrap(), 300);
        let all = contents(&f);
        assert!(all[4000..4300].iter().all(|&x| x == 0x55));
        assert!(all[3999] == 0x44 && all[4300] == 0x44);
        assert_eq!(ctx.bounced(), 2);
        std::fs::write(f.path(), vec![0x44u8; 64 << 10]).unwrap();
    }
}
