//! `Context::completion_fd` in an epoll loop: one loop thread watches one
//! context per available backend, submits from the loop, reaps only when epoll says so, and
//! sees every one of 100,000 requests exactly once; idle, it does not spin.

mod common;

use diorite::{AlignedBuf, Context, Request};
use std::os::fd::AsRawFd;
use std::time::Duration;

fn thread_cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage through a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// `epoll_wait`, retrying on `EINTR`: with io_uring, the task work that posts completions of
/// this thread's requests interrupts a wait in this thread (as a signal would), and the wait
/// returns `EINTR` — an event loop must retry (the completion fd's docs say so).
fn epoll_wait(ep: i32, timeout_ms: i32) -> Vec<u64> {
    let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 8];
    loop {
        // SAFETY: `evs` is valid for 8 events.
        let n = unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), 8, timeout_ms) };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        assert!(n >= 0, "epoll_wait: {}", std::io::Error::last_os_error());
        return evs[..n as usize].iter().map(|e| e.u64).collect();
    }
}

#[test]
fn an_epoll_loop_over_every_backend_sees_each_completion_once() {
    const TOTAL: u64 = 100_000;
    const DEPTH: u32 = 32;
    let dir = common::tempdir();
    let f = common::file_with(dir.path(), "efd", 1 << 20, 0x42);
    let ctxs: Vec<Context> = common::backends()
        .into_iter()
        .map(|b| common::ctx(b, DEPTH))
        .collect();
    assert!(
        ctxs.len() >= 2,
        "at least the thread pool and one kernel backend"
    );
    // SAFETY: epoll_create1 has no memory arguments.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(ep >= 0);
    let fds: Vec<i32> = ctxs
        .iter()
        .map(|c| c.completion_fd().unwrap().as_raw_fd())
        .collect();
    for (i, fd) in fds.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: a valid epoll fd, a valid eventfd, a valid event.
        let r = unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, *fd, &mut ev) };
        assert_eq!(r, 0);
    }
    let mut seen = vec![false; TOTAL as usize];
    let (mut submitted, mut done) = (0u64, 0u64);
    let mut out = Vec::with_capacity(64);
    let bs = f.geometry().offset_align.max(4096) as usize;
    while done < TOTAL {
        // Submit from the loop thread while there is room.
        for c in &ctxs {
            while submitted < TOTAL && c.in_flight() < DEPTH {
                let req = if submitted % 4 == 0 {
                    let buf = AlignedBuf::for_file(&f, bs).unwrap();
                    Request::read(&f, (submitted % 64) * bs as u64, buf)
                } else {
                    Request::noop()
                };
                c.submit(req.with_user_data(submitted)).unwrap();
                submitted += 1;
            }
        }
        // Reap only what epoll reports.
        let ready = epoll_wait(ep, 10_000);
        assert!(
            !ready.is_empty(),
            "epoll timed out with {} in flight",
            submitted - done
        );
        for i in ready {
            let (c, fd) = (&ctxs[i as usize], fds[i as usize]);
            let mut n = [0u8; 8];
            // SAFETY: reads 8 bytes into a live buffer from the context's eventfd.
            unsafe { libc::read(fd, n.as_mut_ptr().cast(), 8) };
            loop {
                out.clear();
                let got = c.get_events(0, 64, Some(Duration::ZERO), &mut out).unwrap();
                if got == 0 {
                    break;
                }
                for comp in &out {
                    assert!(comp.result.is_ok(), "{:?}", comp.result);
                    let k = comp.user_data as usize;
                    assert!(!seen[k], "request {k} delivered twice");
                    seen[k] = true;
                    done += 1;
                }
            }
        }
    }
    assert!(seen.iter().all(|s| *s), "a request was never delivered");
    // Idle: nothing in flight, the loop sleeps in epoll and burns (almost) no CPU.
    for _ in 0..3 {
        for i in epoll_wait(ep, 0) {
            let mut n = [0u8; 8];
            // SAFETY: as above.
            unsafe { libc::read(fds[i as usize], n.as_mut_ptr().cast(), 8) };
        }
    }
    let cpu0 = thread_cpu();
    let woke = epoll_wait(ep, 300);
    let idle_cpu = thread_cpu() - cpu0;
    assert!(woke.is_empty(), "woken with nothing in flight: {woke:?}");
    assert!(
        idle_cpu < Duration::from_millis(20),
        "idle loop used {idle_cpu:?}"
    );
    // SAFETY: closing the epoll fd made above.
    unsafe { libc::close(ep) };
}
