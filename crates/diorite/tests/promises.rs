//! The library's promises under the ways a user leans on them: each test names the
//! promise it covers, and each failed (crashed, hung or asserted) on the code before the fix.
//! Hangs are turned into failures by `common::within`.

mod common;

use common::OpenDirect;

use common::{backends, ctx, file_with, tempdir, within};
use diorite::{
    AlignCheck, AlignedBuf, BackendChoice, BackendKind, BufPool, Context, ErrorKind, Request,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn shared_ctx(b: BackendChoice, depth: u32) -> Arc<Context> {
    Arc::new(ctx(b, depth))
}

/// Zram advertises 512-byte memory alignment but rewrites whole pages around a
/// 512-aligned buffer. The geometry raises `mem_align` to the page size (and says why), buffers
/// from `for_file` are page-aligned, and a read loop through the safe API on every backend leaves
/// the heap intact (it aborted within a second before).
#[test]
fn zram_alignment_is_verified_and_reads_never_corrupt_the_heap() {
    let Some(z) = common::Zram::new(16 << 20, 0x5a) else {
        return;
    };
    let f = z.open();
    let g = *f.geometry();
    let page = 4096;
    assert!(
        g.mem_align >= page,
        "zram's advertised alignment must not be trusted: {g:?}"
    );
    assert!(
        matches!(g.align_check, AlignCheck::Raised { advertised } if advertised < page),
        "{:?}",
        g.align_check
    );
    assert!(g
        .align_check
        .to_string()
        .contains("wrote outside its buffer"));
    // A buffer at the advertised (untrustworthy) alignment is refused, handed back untouched.
    let mut raw = AlignedBuf::new(8192 + 512, 512).unwrap();
    let p = raw.as_ptr() as usize;
    let off = (512 + 4096 - p % 4096) % 4096;
    let at512 = raw[off..].as_mut_ptr();
    for b in backends() {
        let ctx = ctx(b, 8);
        // SAFETY: `raw` outlives the request, which is refused before anything is issued.
        let req = unsafe { Request::read_raw(&f, 0, at512, 4096) };
        let e = ctx.submit(req).unwrap_err();
        assert_eq!(e.error.kind(), ErrorKind::Misaligned, "{b:?}");
        // The safe API's loop: for_file buffers are page-aligned and the data is right.
        for i in 0..2000u64 {
            let buf = AlignedBuf::for_file(&f, 4096).unwrap();
            assert_eq!(buf.as_ptr() as usize % page as usize, 0);
            let at = (i * 7 % 4096) * 4096;
            ctx.submit(Request::read(&f, at, buf)).unwrap();
            let mut out = Vec::new();
            ctx.get_events(1, 1, Some(Duration::from_secs(10)), &mut out)
                .unwrap();
            let mut c = out.pop().unwrap();
            assert_eq!(c.result.as_ref().copied().unwrap(), 4096);
            let data = c.take_buf().unwrap();
            assert_eq!(data[1], 0x5a ^ ((at + 1) % 251) as u8, "{b:?} at {at}");
        }
    }
}

/// A reaper waiting in the kernel holds nothing a submitter
/// needs, and a completion reaches it: the submit returns at once and the reaper gets the event
/// (before: the submit blocked until the reaper's timeout, which then returned 0 events).
#[test]
fn a_waiting_reaper_never_blocks_submitters_and_sees_their_completions() {
    for b in backends() {
        let ctx = shared_ctx(b, 4);
        let reaper = {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                ctx.get_events(1, 1, Some(Duration::from_secs(20)), &mut out)
                    .unwrap()
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        let c2 = ctx.clone();
        within(10, "submit while a reaper waits", move || {
            c2.submit(Request::noop()).unwrap()
        });
        let got = within(10, "the waiting reaper", move || reaper.join().unwrap());
        assert_eq!(got, 1, "{b:?}: the waiting reaper must get the completion");
    }
}

/// `close()` releases reapers blocked in the kernel with no timeout, on every backend,
/// whatever the moment they entered their wait.
#[test]
fn close_releases_reapers_blocked_without_timeout() {
    for b in backends() {
        for round in 0..20u64 {
            let ctx = shared_ctx(b, 4);
            let reapers: Vec<_> = (0..2)
                .map(|_| {
                    let ctx = ctx.clone();
                    std::thread::spawn(move || {
                        let mut out = Vec::new();
                        ctx.get_events(1, 4, None, &mut out)
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_micros(round * round * 50));
            ctx.close().unwrap();
            for r in reapers {
                let res = within(10, "reaper after close", move || r.join().unwrap());
                assert_eq!(
                    res.unwrap_err().kind(),
                    ErrorKind::Shutdown,
                    "{b:?} round {round}"
                );
            }
        }
    }
}

/// A vectored request with no buffers is refused at validation on every backend (it
/// never completed on io_uring and AIO, and shutdown then waited forever).
#[test]
fn vectored_requests_without_buffers_are_refused() {
    let dir = tempdir();
    let f = file_with(dir.path(), "empty-vec", 1 << 16, 1);
    for b in backends() {
        let ctx = ctx(b, 4);
        for req in [
            Request::readv(&f, 0, vec![]),
            Request::writev(&f, 0, vec![]),
        ] {
            let e = ctx.submit(req).unwrap_err();
            assert_eq!(e.error.kind(), ErrorKind::InvalidInput, "{b:?}");
            assert!(e.error.to_string().contains("no buffers"), "{}", e.error);
        }
        assert_eq!(ctx.in_flight(), 0);
        within(10, "shutdown", move || ctx.shutdown().unwrap());
    }
}

/// `submit` never waits for another thread. At depth 1, thread A submits and reaps in a
/// loop (it is the only reaper); thread B only submits. Before, A could be admitted by a count
/// it read just before B took the one tag, and then spun in `submit` waiting for a reap that
/// only A itself would ever do.
#[test]
fn submit_never_spins_waiting_for_a_reaper() {
    for b in backends() {
        let ctx = shared_ctx(b, 1);
        let stop = Arc::new(AtomicBool::new(false));
        let pure_submitter = {
            let (ctx, stop) = (ctx.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    if let Err(e) = ctx.submit(Request::noop()) {
                        assert_eq!(e.error.kind(), ErrorKind::QueueFull);
                    }
                }
            })
        };
        let c = ctx.clone();
        let reaped = within(60, "submit-and-reap thread", move || {
            let mut out = Vec::new();
            let mut reaped = 0u64;
            for _ in 0..1_500_000 {
                if let Err(e) = c.submit(Request::noop()) {
                    assert_eq!(e.error.kind(), ErrorKind::QueueFull);
                }
                out.clear();
                reaped += c
                    .get_events(0, 1, Some(Duration::from_millis(1)), &mut out)
                    .unwrap() as u64;
            }
            reaped
        });
        stop.store(true, Ordering::Release);
        pure_submitter.join().unwrap();
        assert!(reaped > 0, "{b:?}");
        assert!(ctx.in_flight() <= 1);
    }
}

/// Every documented depth builds on io_uring (32,769..=65,536 failed with EINVAL), and
/// Auto falls back when a backend fails to start instead of failing.
#[test]
fn every_documented_depth_builds() {
    for b in backends() {
        for depth in [32768u32, 32769, 65536] {
            let ctx = Context::builder()
                .depth(depth)
                .backend(b)
                .threads(1)
                .build()
                .unwrap_or_else(|e| panic!("{b:?} depth {depth}: {e}"));
            ctx.submit(Request::noop()).unwrap();
            let mut out = Vec::new();
            assert_eq!(
                ctx.get_events(1, 1, Some(Duration::from_secs(10)), &mut out)
                    .unwrap(),
                1
            );
        }
    }
    let auto = Context::builder().depth(65536).threads(1).build().unwrap();
    assert_eq!(auto.depth(), 65536);
}

/// Sizes that cannot be allocated are typed errors, never an abort.
#[test]
fn impossible_allocations_are_errors_not_aborts() {
    let e = Context::builder()
        .depth(8)
        .completion_ring(1 << 31)
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = BufPool::new(1 << 31, 1 << 20, 4096).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Os | ErrorKind::InvalidInput),
        "{e}"
    );
    let e = AlignedBuf::new(1 << 62, 4096).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Os | ErrorKind::InvalidInput),
        "{e}"
    );
}

/// The file size advances only over written data, in order. Extending writes complete
/// out of order (several in flight on every backend); a concurrent reader that trusts `len()`
/// never sees a block that was not written yet (before: zeros past the written prefix).
#[test]
fn file_size_never_covers_data_still_in_flight() {
    for b in backends() {
        let dir = tempdir();
        let f = file_with(dir.path(), "extend", 0, 0);
        let bs = 4096usize;
        let blocks = 512u64;
        let ctx = shared_ctx(b, 16);
        let stop = Arc::new(AtomicBool::new(false));
        let bad = Arc::new(AtomicU64::new(u64::MAX));
        let reader = {
            let (f, stop, bad) = (f.clone(), stop.clone(), bad.clone());
            std::thread::spawn(move || {
                let rctx = common::ctx(BackendChoice::Threads, 4);
                let mut checks = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let len = f.len();
                    if len < bs as u64 {
                        continue;
                    }
                    let at = len - bs as u64;
                    let buf = AlignedBuf::for_file(&f, bs).unwrap();
                    rctx.submit(Request::read(&f, at, buf)).unwrap();
                    let mut out = Vec::new();
                    rctx.get_events(1, 1, Some(Duration::from_secs(10)), &mut out)
                        .unwrap();
                    let mut c = out.pop().unwrap();
                    let data = c.take_buf().unwrap();
                    // Every written block is filled with its block number + 1 (never 0).
                    if data[0] != ((at / bs as u64) % 250 + 1) as u8 {
                        bad.store(at, Ordering::Release);
                    }
                    checks += 1;
                }
                checks
            })
        };
        let mut next = 0u64;
        let mut out = Vec::new();
        while next < blocks {
            let mut batch = Vec::new();
            for _ in 0..16 {
                if next == blocks {
                    break;
                }
                let mut buf = AlignedBuf::for_file(&f, bs).unwrap();
                buf.fill((next % 250 + 1) as u8);
                batch.push(Request::write(&f, next * bs as u64, buf));
                next += 1;
            }
            let n = batch.len();
            assert_eq!(ctx.submit_batch(&mut batch).unwrap(), n);
            let mut got = 0;
            while got < n {
                out.clear();
                got += ctx
                    .get_events(1, 16, Some(Duration::from_secs(10)), &mut out)
                    .unwrap();
                assert!(out.iter().all(|c| c.result.is_ok()));
            }
        }
        stop.store(true, Ordering::Release);
        let checks = reader.join().unwrap();
        assert!(checks > 0);
        assert_eq!(
            bad.load(Ordering::Acquire),
            u64::MAX,
            "{b:?}: len() covered a block not yet written"
        );
        assert_eq!(f.len(), blocks * bs as u64);
    }
}

/// `take_buf` never drops the buffers of a vectored completion; `take_bufs` gives all.
#[test]
fn vectored_completions_give_every_buffer_back() {
    let dir = tempdir();
    let f = file_with(dir.path(), "vec", 1 << 16, 9);
    for b in backends() {
        let ctx = ctx(b, 4);
        let bufs = (0..3)
            .map(|_| AlignedBuf::for_file(&f, 4096).unwrap())
            .collect();
        ctx.submit(Request::readv(&f, 0, bufs)).unwrap();
        let mut out = Vec::new();
        ctx.get_events(1, 1, Some(Duration::from_secs(10)), &mut out)
            .unwrap();
        let mut c = out.pop().unwrap();
        assert!(c.take_buf().is_none(), "{b:?}: one buffer of three");
        let all = c.take_bufs();
        assert_eq!(all.len(), 3, "{b:?}");
        assert!(all.iter().all(|b| b.iter().all(|x| *x == 9)));
    }
}

/// A completion's result travels in registers, the completion itself stays small.
#[test]
fn hot_path_types_are_small() {
    assert_eq!(std::mem::size_of::<diorite::Error>(), 16);
    assert_eq!(std::mem::size_of::<diorite::Result<usize>>(), 16);
    assert!(
        std::mem::size_of::<diorite::Completion>() <= 80,
        "{}",
        std::mem::size_of::<diorite::Completion>()
    );
}

/// An error that goes through `?` into `io::Result` keeps its operation, offset and
/// errno (before: only "Input/output error" was left).
#[test]
fn io_error_conversion_keeps_context() {
    let dir = tempdir();
    let f = file_with(dir.path(), "ro", 1 << 16, 0);
    let ro = diorite::DirectFile::open(f.path()).unwrap();
    let ctx = ctx(BackendChoice::Threads, 2);
    // A write through a read-only handle: validation refuses it (not open for writing), a typed
    // error whose context survives the conversion.
    let buf = AlignedBuf::for_file(&f, 4096).unwrap();
    // SAFETY: `buf` outlives the request, which is refused before anything is issued.
    let req = unsafe { Request::write_raw(&ro, 4096, buf.as_ptr(), 4096) };
    let e = ctx.submit(req).unwrap_err().error;
    let io: std::io::Error = e.into();
    assert!(io.to_string().contains("submit"), "{io}");
    assert!(diorite::Error::from_io_ref(&io).is_some());
    let through = |r: diorite::Result<usize>| -> std::io::Result<usize> { Ok(r?) };
    let io = through(Err(diorite::Error::os("read", libc::EIO).at_offset(8192))).unwrap_err();
    assert!(
        io.to_string().contains("read") && io.to_string().contains("8192"),
        "{io}"
    );
    let src = std::error::Error::source(&io).unwrap();
    assert_eq!(
        src.downcast_ref::<std::io::Error>().unwrap().raw_os_error(),
        Some(libc::EIO)
    );
    assert_eq!(ctx.backend(), BackendKind::Threads);
}
