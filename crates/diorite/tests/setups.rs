//! io_uring setups: single-issuer `LocalContext`s, SQPOLL, IOPOLL — each doing real
//! I/O (or refusing it clearly) on files and block devices.

mod common;

use common::OpenDirect;

use common::{backends, targets, within, Zram};
use diorite::{
    AlignedBuf, BackendChoice, BackendKind, Completion, Context, DirectFile, ErrorKind, Request,
};
use std::collections::HashMap;
use std::time::Duration;

/// Writes then reads back `n` distinct 4 KiB blocks at QD `qd` through `submit`/`get_events`
/// (shared or local context alike), checking every completion arrives exactly once with its
/// data.
macro_rules! write_read_back {
    ($ctx:expr, $f:expr, $n:expr, $qd:expr) => {{
        let (ctx, f, n, qd): (_, &DirectFile, u64, usize) = ($ctx, $f, $n, $qd);
        let blocks = (f.len() / 4096).min(n);
        for write in [true, false] {
            let mut seen = HashMap::new();
            let mut next = 0u64;
            let mut done: Vec<Completion> = Vec::new();
            let mut out = Vec::new();
            while (seen.len() as u64) < blocks {
                while next < blocks && (ctx.in_flight() as usize) < qd {
                    let mut b = AlignedBuf::for_file(f, 4096).unwrap();
                    let req = if write {
                        b.fill((next % 251) as u8 ^ 0x5a);
                        Request::write(f, next * 4096, b)
                    } else {
                        Request::read(f, next * 4096, b)
                    };
                    ctx.submit(req.with_user_data(next))
                        .map_err(|e| e.error)
                        .unwrap();
                    next += 1;
                }
                ctx.get_events(1, qd, Some(Duration::from_secs(10)), &mut out)
                    .unwrap();
                done.append(&mut out);
                for mut c in done.drain(..) {
                    assert_eq!(
                        c.result.as_ref().copied().unwrap(),
                        4096,
                        "block {}",
                        c.user_data
                    );
                    let b = c.take_buf().unwrap();
                    if !write {
                        let want = (c.user_data % 251) as u8 ^ 0x5a;
                        assert!(b.iter().all(|&x| x == want), "block {} data", c.user_data);
                    }
                    assert!(
                        seen.insert(c.user_data, ()).is_none(),
                        "{} twice",
                        c.user_data
                    );
                }
            }
        }
    }};
}

/// A LocalContext does the same I/O as a shared one on every backend and target, and on
/// io_uring it really is single-issuer with a registered ring fd.
#[test]
fn a_local_context_reads_and_writes_on_every_backend() {
    let mut ts = targets();
    let zram = Zram::new(4 << 20, 0);
    let zf = zram.as_ref().map(Zram::open);
    for backend in backends() {
        for f in ts.iter_mut().map(|t| t.file().clone()).chain(zf.clone()) {
            let ctx = Context::builder()
                .depth(32)
                .backend(backend)
                .threads(2)
                .build_local()
                .unwrap();
            if ctx.backend() == BackendKind::IoUring {
                let r = ctx.backend_report();
                assert!(
                    ctx.is_single_issuer()
                        && r.contains("defer_taskrun")
                        && r.contains("registered ring fd"),
                    "{r}"
                );
            } else {
                assert!(!ctx.is_single_issuer());
            }
            write_read_back!(&ctx, &f, 256, 32);
            ctx.shutdown().unwrap();
        }
    }
}

/// The registered ring fd lives in the thread's table (16 entries): every LocalContext gives
/// its entry back when dropped, so a thread can build any number of them one after another.
#[test]
fn local_contexts_give_back_their_registered_ring_fd() {
    if !backends().contains(&BackendChoice::IoUring) {
        eprintln!("SKIPPED: io_uring is not available here");
        return;
    }
    for i in 0..40 {
        let ctx = Context::builder()
            .depth(4)
            .backend(BackendChoice::IoUring)
            .build_local()
            .unwrap();
        assert!(
            ctx.backend_report().contains("registered ring fd"),
            "context {i}: {}",
            ctx.backend_report()
        );
        ctx.submit(Request::noop()).map_err(|e| e.error).unwrap();
        let mut out = Vec::new();
        ctx.get_events(1, 1, Some(Duration::from_secs(5)), &mut out)
            .unwrap();
        assert_eq!(out.len(), 1);
    }
}

/// With deferred task work the completion fd still announces completions (the kernel signals
/// it when task work is queued), and a zero-timeout get_events runs the work and reaps.
#[test]
fn a_local_contexts_completion_fd_announces_completions() {
    let ts = targets();
    let f = ts[0].file();
    for backend in backends() {
        let ctx = Context::builder()
            .depth(8)
            .backend(backend)
            .threads(2)
            .build_local()
            .unwrap();
        let fd = {
            use std::os::fd::AsRawFd;
            ctx.completion_fd().unwrap().as_raw_fd()
        };
        let mut got = 0;
        let mut out = Vec::new();
        for round in 0..200u64 {
            ctx.submit(Request::read(
                f,
                (round % 64) * 4096,
                AlignedBuf::for_file(f, 4096).unwrap(),
            ))
            .map_err(|e| e.error)
            .unwrap();
            loop {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                let r = unsafe { libc::poll(&mut p, 1, 10_000) };
                assert!(
                    r == 1
                        || (r < 0
                            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)),
                    "{backend:?}: poll {r}"
                );
                let mut v = 0u64;
                // SAFETY: reads 8 bytes into `v` (the eventfd counter); EAGAIN is fine.
                unsafe { libc::read(fd, &mut v as *mut u64 as *mut libc::c_void, 8) };
                ctx.get_events(0, 8, Some(Duration::ZERO), &mut out)
                    .unwrap();
                if !out.is_empty() {
                    got += out.len();
                    out.clear();
                    break;
                }
            }
        }
        assert_eq!(got, 200, "{backend:?}");
    }
}

/// SQPOLL: a kernel thread takes the submissions; the I/O and its results are the same.
#[test]
fn an_sqpoll_context_does_the_same_io() {
    if !backends().contains(&BackendChoice::IoUring) {
        eprintln!("SKIPPED: io_uring is not available here");
        return;
    }
    let ts = targets();
    for t in &ts {
        let ctx = Context::builder().depth(16).sqpoll(20).build().unwrap();
        assert!(
            ctx.backend_report().contains("sqpoll (idle 20 ms)"),
            "{}",
            ctx.backend_report()
        );
        write_read_back!(&ctx, t.file(), 128, 16);
        // And with the poller asleep (idle 1 ms): the next submit must wake it.
        let ctx = Context::builder()
            .depth(4)
            .sqpoll(1)
            .sqpoll_cpu(0)
            .build_local()
            .unwrap();
        assert!(
            ctx.backend_report().contains("cpu 0"),
            "{}",
            ctx.backend_report()
        );
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(20));
            write_read_back!(&ctx, t.file(), 4, 4);
        }
    }
}

/// What cannot be had is refused at build with a typed error: an SQPOLL CPU that does not
/// exist, SQPOLL or IOPOLL on a backend other than io_uring.
#[test]
fn impossible_setups_are_refused_at_build() {
    if backends().contains(&BackendChoice::IoUring) {
        let e = Context::builder().sqpoll_cpu(100_000).build().unwrap_err();
        assert!(e.to_string().contains("sqpoll CPU"), "{e}");
    }
    for b in [BackendChoice::Aio, BackendChoice::Threads] {
        let e = Context::builder()
            .backend(b)
            .sqpoll(10)
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let e = Context::builder()
            .backend(b)
            .iopoll(true)
            .build_local()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }
}

/// IOPOLL on devices without poll queues (zram, loop devices and files here): every request
/// that could only complete by polling is refused at submit with `Unsupported` that says why,
/// nothing hangs, and a timed wait returns on time.
#[test]
fn iopoll_on_a_device_without_poll_queues_is_refused_never_a_hang() {
    if !backends().contains(&BackendChoice::IoUring) {
        eprintln!("SKIPPED: io_uring is not available here");
        return;
    }
    let ts = targets();
    let zram = Zram::new(1 << 20, 0);
    let mut files: Vec<DirectFile> = ts.iter().map(|t| t.file().clone()).collect();
    files.extend(zram.as_ref().map(Zram::open));
    within(60, "iopoll refusals", move || {
        for f in &files {
            assert!(
                !f.geometry().polled,
                "{} has poll queues here?",
                f.path().display()
            );
            let ctx = Context::builder().depth(8).iopoll(true).build().unwrap();
            assert!(ctx.backend_report().contains("iopoll"));
            let e = ctx
                .submit(Request::read(f, 0, AlignedBuf::for_file(f, 4096).unwrap()))
                .unwrap_err();
            assert_eq!(e.error.kind(), ErrorKind::Unsupported);
            assert!(e.error.to_string().contains("io_poll"), "{}", e.error);
            assert_eq!(e.request.into_bufs().len(), 1, "the buffer comes back");
            let e = ctx.submit(Request::fsync(f)).unwrap_err();
            assert_eq!(e.error.kind(), ErrorKind::Unsupported, "{}", e.error);
            assert_eq!(
                ctx.completion_fd().unwrap_err().kind(),
                ErrorKind::Unsupported
            );
            let mut out = Vec::new();
            let t = std::time::Instant::now();
            ctx.get_events(1, 1, Some(Duration::from_millis(50)), &mut out)
                .unwrap();
            assert!(out.is_empty() && t.elapsed() < Duration::from_secs(5));
            ctx.shutdown().unwrap();
        }
    });
}
