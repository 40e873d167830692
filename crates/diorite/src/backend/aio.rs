//! The Linux native AIO backend: raw `io_setup(2)`, `io_submit(2)`, `io_getevents(2)`,
//! `io_cancel(2)`, `io_destroy(2)`, with the kernel's `iocb` and `io_event` defined here and checked
//! against the ABI at compile time.
//!
//! - One AIO context per engine context; `aio_data` is `tag | piece << 16`.
//! - `PREADV`/`PWRITEV` (`PREAD`/`PWRITE` for one vector), `FSYNC`/`FDSYNC`, `aio_rw_flags` for
//!   `RWF_DSYNC`. Linux AIO has no working no-op, so `noop` completes at submit.
//! - A partial `io_submit` (fewer accepted than offered) resubmits the rest: on `EAGAIN` after
//!   reaping, and an iocb the kernel refuses outright completes its piece with that error.
//!   Nothing is dropped.
//! - Buffered (non-`O_DIRECT`) files make `io_submit` block in the caller: requests on them are
//!   refused with a recommendation to use the thread pool.
//! - `cancel` calls `io_cancel` for each piece; the completion (canceled or not) always arrives
//!   through the event ring, and the buffers stay in the slot until then.

use super::pieces::PieceTable;
use crate::context::Shared;
use crate::error::{Error, ErrorKind, Result};
use crate::request::{OpKind, Request};
use crate::sync::{lock, Mutex, UnsafeCell};
use crate::sys;
use std::mem::{offset_of, size_of};
use std::os::fd::AsRawFd;
use std::time::Instant;

const IOCB_CMD_PREAD: u16 = 0;
const IOCB_CMD_PWRITE: u16 = 1;
const IOCB_CMD_FSYNC: u16 = 2;
const IOCB_CMD_FDSYNC: u16 = 3;
const IOCB_CMD_PREADV: u16 = 7;
const IOCB_CMD_PWRITEV: u16 = 8;
const TAG_BITS: u32 = 16;

/// The kernel's `struct iocb` (include/uapi/linux/aio_abi.h), little-endian layout.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Iocb {
    aio_data: u64,
    aio_key: u32,
    aio_rw_flags: i32,
    aio_lio_opcode: u16,
    aio_reqprio: i16,
    aio_fildes: u32,
    aio_buf: u64,
    aio_nbytes: u64,
    aio_offset: i64,
    aio_reserved2: u64,
    aio_flags: u32,
    aio_resfd: u32,
}

/// The kernel's `struct io_event`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct IoEvent {
    data: u64,
    obj: u64,
    res: i64,
    res2: i64,
}

#[cfg(not(target_endian = "little"))]
compile_error!("the AIO iocb layout here is the little-endian one");

const _: () = {
    assert!(size_of::<Iocb>() == 64);
    assert!(offset_of!(Iocb, aio_data) == 0);
    assert!(offset_of!(Iocb, aio_key) == 8);
    assert!(offset_of!(Iocb, aio_rw_flags) == 12);
    assert!(offset_of!(Iocb, aio_lio_opcode) == 16);
    assert!(offset_of!(Iocb, aio_reqprio) == 18);
    assert!(offset_of!(Iocb, aio_fildes) == 20);
    assert!(offset_of!(Iocb, aio_buf) == 24);
    assert!(offset_of!(Iocb, aio_nbytes) == 32);
    assert!(offset_of!(Iocb, aio_offset) == 40);
    assert!(offset_of!(Iocb, aio_reserved2) == 48);
    assert!(offset_of!(Iocb, aio_flags) == 56);
    assert!(offset_of!(Iocb, aio_resfd) == 60);
    assert!(size_of::<IoEvent>() == 32);
    assert!(offset_of!(IoEvent, data) == 0);
    assert!(offset_of!(IoEvent, obj) == 8);
    assert!(offset_of!(IoEvent, res) == 16);
    assert!(offset_of!(IoEvent, res2) == 24);
};

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn io_setup(nr: u32) -> std::result::Result<u64, i32> {
    let mut ctx: u64 = 0;
    // SAFETY: io_setup writes one aio_context_t through the valid pointer.
    let r = unsafe { libc::syscall(libc::SYS_io_setup, nr as libc::c_long, &mut ctx as *mut u64) };
    if r < 0 {
        return Err(errno());
    }
    Ok(ctx)
}

fn io_destroy(ctx: u64) {
    // SAFETY: `ctx` came from io_setup and is destroyed once.
    unsafe { libc::syscall(libc::SYS_io_destroy, ctx) };
}

/// What the AIO probe reports: `io_setup` works, and the system-wide limits.
pub(crate) fn probe() -> std::result::Result<String, String> {
    let read = |n: &str| {
        std::fs::read_to_string(format!("/proc/sys/fs/{n}"))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let limits = format!(
        "fs.aio-nr {} of fs.aio-max-nr {}",
        read("aio-nr"),
        read("aio-max-nr")
    );
    match io_setup(1) {
        Ok(ctx) => {
            io_destroy(ctx);
            Ok(format!("io_setup works; {limits}"))
        }
        Err(libc::ENOSYS) => {
            Err("io_setup returned ENOSYS: blocked by seccomp or a kernel without AIO".into())
        }
        Err(libc::EAGAIN) => Err(format!(
            "io_setup returned EAGAIN: the system-wide AIO limit is reached ({limits})"
        )),
        Err(libc::EPERM) => Err("io_setup returned EPERM: refused by policy".into()),
        Err(e) => Err(format!(
            "io_setup failed: {}",
            std::io::Error::from_raw_os_error(e)
        )),
    }
}

pub(crate) struct Aio {
    ctx: u64,
    nr: u32,
    pieces: PieceTable,
    /// Per slot: the iocbs of its pieces. `io_cancel` needs the address that was submitted, so
    /// they live here until the request completes. Written by the submitter (slot RUNNING).
    iocbs: Box<[UnsafeCell<Vec<Iocb>>]>,
    /// One reaper at a time owns `events` (and may wait in `io_getevents`).
    reap: Mutex<Vec<IoEvent>>,
    /// Held while a slot's pieces and iocbs are written and submitted, and by `cancel_running`
    /// while it reads them: a cancel never reads a slot being (re)filled.
    submitting: Mutex<()>,
}

// SAFETY: the per-slot cells follow the slot protocol (the submitter writes before io_submit;
// io_cancel reads the address of a RUNNING slot's iocb); `events` is behind a mutex; the AIO
// context itself is thread-safe in the kernel.
unsafe impl Sync for Aio {}
// SAFETY: as above.
unsafe impl Send for Aio {}

impl Aio {
    pub(crate) fn new(depth: u32) -> Result<Aio> {
        let nr = (depth * 4).clamp(128, 65536);
        let ctx = io_setup(nr).map_err(|e| {
            let err = Error::os("io_setup", e);
            if e == libc::EAGAIN {
                err.with_detail("io_setup: the system-wide AIO limit fs.aio-max-nr is reached")
            } else {
                err
            }
        })?;
        Ok(Aio {
            ctx,
            nr,
            pieces: PieceTable::new(depth),
            iocbs: (0..depth).map(|_| UnsafeCell::new(Vec::new())).collect(),
            reap: Mutex::new(vec![IoEvent::default(); 256]),
            submitting: Mutex::new(()),
        })
    }

    pub(crate) fn report(&self) -> String {
        format!("linux aio: {} events, io_submit per request", self.nr)
    }

    /// Refuses what Linux AIO would do synchronously: I/O on a buffered file blocks `io_submit`.
    pub(crate) fn validate(&self, req: &Request) -> Result<()> {
        match &req.file {
            Some(f) if !f.is_direct() && matches!(req.op, OpKind::Read | OpKind::Write) => {
                Err(Error::new(ErrorKind::Unsupported, "submit").with_detail(format!(
                    "{} is not open with O_DIRECT: Linux AIO would block in io_submit; use the thread-pool backend for it",
                    f.path().display()
                )))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn submit(&self, sh: &Shared, tag: u32) {
        // SAFETY: we were handed `tag`; the request is not used after its completion is posted.
        let Some(req) = (unsafe { sh.begin(tag) }) else {
            return;
        };
        let _guard = lock(&self.submitting);
        // SAFETY: RUNNING for us, nothing issued yet.
        let (pieces, iov) = unsafe { self.pieces.layout(tag, req) };
        let Some(file) = &req.file else {
            // noop: Linux AIO has no working no-op command; complete now.
            self.pieces.done(sh, tag, 0, 0);
            return;
        };
        let fd = file.fd().as_raw_fd() as u32;
        // SAFETY: RUNNING for us; read only by io_cancel after io_submit accepted them.
        let iocbs = unsafe { &mut *self.iocbs[tag as usize].with_mut(|p| p) };
        iocbs.clear();
        let base = Iocb {
            aio_fildes: fd,
            ..Iocb::default()
        };
        match req.op {
            OpKind::Read | OpKind::Write => {
                let write = req.op == OpKind::Write;
                for (i, p) in pieces.iter().enumerate() {
                    let vecs = &iov[p.first as usize..p.end as usize];
                    let (op, buf, n) = match vecs {
                        [v] => (
                            if write {
                                IOCB_CMD_PWRITE
                            } else {
                                IOCB_CMD_PREAD
                            },
                            v.iov_base as u64,
                            v.iov_len as u64,
                        ),
                        vs => (
                            if write {
                                IOCB_CMD_PWRITEV
                            } else {
                                IOCB_CMD_PREADV
                            },
                            vs.as_ptr() as u64,
                            vs.len() as u64,
                        ),
                    };
                    iocbs.push(Iocb {
                        aio_data: u64::from(tag) | ((i as u64) << TAG_BITS),
                        aio_lio_opcode: op,
                        aio_rw_flags: if write && req.dsync {
                            sys::RWF_DSYNC
                        } else {
                            0
                        },
                        aio_buf: buf,
                        aio_nbytes: n,
                        aio_offset: (req.offset + p.start) as i64,
                        ..base
                    });
                }
            }
            op => iocbs.push(Iocb {
                aio_data: u64::from(tag),
                aio_lio_opcode: if op == OpKind::Fdatasync {
                    IOCB_CMD_FDSYNC
                } else {
                    IOCB_CMD_FSYNC
                },
                ..base
            }),
        }
        self.submit_all(sh, tag, iocbs);
    }

    /// `io_submit` until every iocb is accepted or failed; partial submits resubmit the rest.
    fn submit_all(&self, sh: &Shared, tag: u32, iocbs: &mut [Iocb]) {
        let mut next = 0;
        // Pointers to the iocbs, in chunks of 64 from the stack: no allocation.
        while next < iocbs.len() {
            let mut ptrs = [std::ptr::null_mut::<Iocb>(); 64];
            let n = (iocbs.len() - next).min(64);
            for (k, p) in ptrs.iter_mut().take(n).enumerate() {
                *p = &mut iocbs[next + k];
            }
            // SAFETY: `ptrs[..n]` point at initialized iocbs that stay in the slot until the
            // request completes; their buffers and iovecs live in the request's slot too.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_io_submit,
                    self.ctx,
                    n as libc::c_long,
                    ptrs.as_mut_ptr(),
                )
            };
            if r > 0 {
                next += r as usize;
                continue;
            }
            match if r == 0 { libc::EAGAIN } else { errno() } {
                libc::EAGAIN | libc::EINTR => {
                    // The AIO ring is full: collect completions, then resubmit the rest.
                    self.poll(sh);
                    std::thread::yield_now();
                }
                e => {
                    // The kernel refuses this iocb: its piece fails with that error.
                    let piece = (iocbs[next].aio_data >> TAG_BITS) as usize;
                    self.pieces.done(sh, tag, piece, -i64::from(e));
                    next += 1;
                }
            }
        }
    }

    /// Collects finished events without blocking. `true` when it reaped anything.
    pub(crate) fn poll(&self, sh: &Shared) -> bool {
        let Ok(mut events) = self.reap.try_lock() else {
            return false;
        };
        let mut any = false;
        loop {
            let n = self.getevents(
                &mut events,
                0,
                Some(libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                }),
            );
            self.deliver(sh, &events[..n]);
            any |= n > 0;
            if n < events.len() {
                return any;
            }
        }
    }

    fn getevents(&self, events: &mut [IoEvent], min: usize, ts: Option<libc::timespec>) -> usize {
        let mut ts = ts;
        let tsp = ts
            .as_mut()
            .map_or(std::ptr::null_mut(), |t| t as *mut libc::timespec);
        // SAFETY: `events` is valid for `events.len()` io_events; `tsp` is null or valid.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_getevents,
                self.ctx,
                min as libc::c_long,
                events.len() as libc::c_long,
                events.as_mut_ptr(),
                tsp,
            )
        };
        if r < 0 {
            0
        } else {
            r as usize
        }
    }

    fn deliver(&self, sh: &Shared, events: &[IoEvent]) {
        for ev in events {
            let (tag, piece) = (
                (ev.data & ((1 << TAG_BITS) - 1)) as u32,
                (ev.data >> TAG_BITS) as usize,
            );
            self.pieces.done(sh, tag, piece, ev.res);
        }
    }

    /// One reaper at a time waits in `io_getevents` for `need` completions or until `deadline`.
    pub(crate) fn wait(&self, sh: &Shared, need: usize, deadline: Option<Instant>) -> bool {
        let Ok(mut events) = self.reap.try_lock() else {
            return false;
        };
        let ts = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            libc::timespec {
                tv_sec: left.as_secs() as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            }
        });
        let need = need.min(events.len());
        let n = self.getevents(&mut events, need, ts);
        self.deliver(sh, &events[..n]);
        true
    }

    /// `io_cancel` for each piece of slot `tag`; whatever it returns, the completion arrives
    /// through the event ring.
    pub(crate) fn cancel_running(&self, sh: &Shared, tag: u32, gen: u32) {
        let _g = lock(&self.submitting);
        if !sh.slots[tag as usize].is_running(gen) {
            return;
        }
        // SAFETY: under `submitting` no submitter writes the slot's iocbs, and the slot still
        // holds generation `gen`'s issued request.
        let iocbs = unsafe { &mut *self.iocbs[tag as usize].with_mut(|p| p) };
        for cb in iocbs.iter_mut() {
            let mut ev = IoEvent::default();
            // SAFETY: `cb` is the submitted iocb's address; `ev` is a valid out-pointer.
            unsafe {
                libc::syscall(
                    libc::SYS_io_cancel,
                    self.ctx,
                    cb as *mut Iocb,
                    &mut ev as *mut IoEvent,
                )
            };
        }
    }
}

impl Drop for Aio {
    fn drop(&mut self) {
        // Every request has completed and been reaped before the shared state is dropped.
        let _g = lock(&self.reap);
        io_destroy(self.ctx);
    }
}
