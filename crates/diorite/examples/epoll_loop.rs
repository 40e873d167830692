//! An epoll event loop over `Context::completion_fd`: the loop submits reads, sleeps in
//! `epoll_wait` (alongside whatever else it watches), and reaps only when the fd says
//! completions are ready — the integration point for mio, a hand-written reactor, or a C event
//! loop.
//!
//! ```text
//! cargo run -p diorite --example epoll_loop [FILE]
//! ```
//! Without FILE it reads a temporary 4 MiB file it writes first.

mod common;

use diorite::{AlignedBuf, Context, DirectFile, Request};
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::BS;
const DEPTH: u32 = 32;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_tmp, path) = common::target(4 << 20)?;
    let file = DirectFile::open(&path)?;
    let ctx = Context::builder().depth(DEPTH).build()?;
    let fd = ctx.completion_fd()?.as_raw_fd();

    // SAFETY: epoll_create1 has no memory arguments.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 1,
    };
    // SAFETY: a valid epoll fd, the context's eventfd (open while `ctx` lives), a valid event.
    if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }

    let blocks = file.len() / BS as u64;
    let (mut next, mut done, mut bytes) = (0u64, 0u64, 0usize);
    let mut out = Vec::with_capacity(DEPTH as usize);
    let mut spare: Vec<AlignedBuf> = Vec::new();
    while done < blocks {
        // Keep the queue full.
        while next < blocks && ctx.in_flight() < DEPTH {
            let buf = match spare.pop() {
                Some(b) => b,
                None => AlignedBuf::for_file(&file, BS)?,
            };
            ctx.submit(Request::read(&file, next * BS as u64, buf).with_user_data(next))
                .map_err(|e| e.error)?;
            next += 1;
        }
        // Sleep until the completion fd is readable (or anything else this loop watches).
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 4];
        // SAFETY: `evs` is valid for 4 events.
        let n = unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), 4, 10_000) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        if n == 0 {
            return Err("no completion within 10 s".into());
        }
        // The contract: read the eventfd to reset it, *then* reap until nothing is left.
        let mut counter = [0u8; 8];
        // SAFETY: reads 8 bytes into a live buffer from the (non-blocking) eventfd.
        unsafe { libc::read(fd, counter.as_mut_ptr().cast(), 8) };
        while ctx.get_events(0, DEPTH as usize, Some(Duration::ZERO), &mut out)? > 0 {
            for mut c in out.drain(..) {
                spare.extend(c.take_buf());
                bytes += c.result?;
                done += 1;
            }
        }
    }
    // SAFETY: closing the epoll fd made above.
    unsafe { libc::close(ep) };
    println!(
        "{done} reads, {bytes} bytes through an epoll loop on {} (depth {DEPTH})",
        ctx.backend()
    );
    ctx.shutdown()?;
    Ok(())
}
