//! Per-request I/O priority (`Request::with_priority`): the priority reaches the
//! kernel on every backend — shown by the kernel's own permission check: in a thread without
//! `CAP_SYS_ADMIN` and `CAP_SYS_NICE`, a `RealTime` read completes with `EPERM` while a
//! `BestEffort` one and one without a priority succeed (with the capabilities, every class
//! succeeds); a level above 7, or a hint above 10 bits, is refused at submit and nothing is
//! issued; a hint within them reaches the kernel with the priority; the thread pool's
//! worker gets its own priority back after the call.

mod common;

use diorite::{AlignedBuf, BackendChoice, DirectFile, ErrorKind, IoClass, Request};
use std::time::Duration;

fn read(f: &DirectFile, prio: Option<(IoClass, u8)>) -> Request {
    let r = Request::read(f, 0, AlignedBuf::for_file(f, 4096).unwrap());
    match prio {
        Some((c, l)) => r.with_priority(c, l),
        None => r,
    }
}

fn ioprio_of_this_thread() -> i64 {
    // SAFETY: no memory arguments; IOPRIO_WHO_PROCESS (1) of this thread (0).
    unsafe { libc::syscall(libc::SYS_ioprio_get, 1, 0) }
}

#[test]
fn priorities_reach_the_kernel_on_every_backend() {
    if !common::is_root() {
        eprintln!("SKIPPED: needs root (capabilities to drop)");
        return;
    }
    let dir = common::tempdir();
    let f = common::file_with(dir.path(), "p", 1 << 20, 7);
    for backend in common::backends() {
        if backend == BackendChoice::Faulty {
            continue; // the thread pool's path, covered by Threads
        }
        // With the capabilities: every class.
        let ctx = common::ctx(backend, 4);
        for p in [
            None,
            Some((IoClass::RealTime, 0)),
            Some((IoClass::BestEffort, 7)),
            Some((IoClass::Idle, 0)),
        ] {
            assert_eq!(
                common::run_one(&ctx, read(&f, p)).unwrap(),
                4096,
                "{backend:?} {p:?}"
            );
        }
        // A priority hint (bits 3..12): the kernel takes it with the priority (its permission
        // check looks at the class); one past the 10 bits is refused at submit.
        let hinted = read(&f, Some((IoClass::BestEffort, 4))).with_priority_hint(3);
        assert_eq!(hinted.priority_hint(), 3);
        assert_eq!(
            common::run_one(&ctx, hinted).unwrap(),
            4096,
            "{backend:?} hint"
        );
        let hinted =
            read(&f, Some((IoClass::BestEffort, 4))).with_priority_hint(diorite::MAX_PRIORITY_HINT);
        assert_eq!(
            common::run_one(&ctx, hinted).unwrap(),
            4096,
            "{backend:?} max hint"
        );
        let e = ctx
            .submit(read(&f, Some((IoClass::BestEffort, 4))).with_priority_hint(1024))
            .unwrap_err();
        assert_eq!(
            e.error.kind(),
            ErrorKind::InvalidInput,
            "{backend:?} hint 1024"
        );
        // A level the kernel does not have: refused at submit, handed back, nothing issued.
        let e = ctx
            .submit(read(&f, Some((IoClass::BestEffort, 8))))
            .unwrap_err();
        assert_eq!(e.error.kind(), ErrorKind::InvalidInput, "{backend:?}");
        assert_eq!(e.request.priority(), Some((IoClass::BestEffort, 8)));
        let mut out = Vec::new();
        assert_eq!(
            ctx.get_events(0, 4, Some(Duration::ZERO), &mut out)
                .unwrap(),
            0
        );
        ctx.close().unwrap();
        // Without them (in a thread of its own, whose context and workers inherit that).
        let f2 = f.clone();
        std::thread::spawn(move || {
            common::drop_priority_caps();
            let ctx = common::ctx(backend, 4);
            let r = common::run_one(&ctx, read(&f2, Some((IoClass::RealTime, 0))));
            let e = r.expect_err("RealTime without CAP_SYS_ADMIN/CAP_SYS_NICE");
            assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{backend:?}: {e}");
            assert_eq!(
                common::run_one(&ctx, read(&f2, Some((IoClass::BestEffort, 3)))).unwrap(),
                4096
            );
            assert_eq!(common::run_one(&ctx, read(&f2, None)).unwrap(), 4096);
            ctx.close().unwrap();
        })
        .join()
        .unwrap();
    }
}

/// The thread pool sets its worker's priority for the call and restores it: a request without
/// a priority after one with shows the worker's own again (checked from the caller, whose
/// priority the pool never touches).
#[test]
fn the_pool_restores_its_workers_priority() {
    let dir = common::tempdir();
    let f = common::file_with(dir.path(), "p", 1 << 20, 7);
    let before = ioprio_of_this_thread();
    let ctx = common::ctx(BackendChoice::Threads, 4);
    for _ in 0..8 {
        assert_eq!(
            common::run_one(&ctx, read(&f, Some((IoClass::Idle, 0)))).unwrap(),
            4096
        );
        assert_eq!(common::run_one(&ctx, read(&f, None)).unwrap(), 4096);
    }
    assert_eq!(ioprio_of_this_thread(), before);
    ctx.close().unwrap();
}
