//! The io_uring backend (the `io-uring` crate).
//!
//! - One ring per context: SQ of `depth` entries (rounded), CQ of at least `2 * depth`. A request
//!   is issued at `submit` as one SQE per piece; SQE `user_data` is `tag | piece << 16`.
//! - A `submit_batch` pushes every SQE and enters the kernel once (the kick).
//! - `get_events` drains the CQ with no syscall when completions are there; otherwise one reaper
//!   waits in `io_uring_enter` with an `EXT_ARG` timeout while others wait on the context.
//! - Split requests: the slot's piece count is set before the first SQE is pushed, so an early
//!   piece cannot finish the request; pieces complete out of order and the result is the
//!   contiguous prefix (min over short or failed pieces of start + bytes done).
//! - `cancel` of an issued request submits `IORING_OP_ASYNC_CANCEL` for each piece; the request's
//!   buffers stay in its slot until its own completion arrives, whatever the cancel returns.
//! - CQ overflow: the kernel's NODROP feature keeps overflowed CQEs; every enter with GETEVENTS
//!   flushes them back, so nothing is lost.

use super::pieces::PieceTable;
use crate::context::Shared;
use crate::error::{Error, Result};
use crate::request::OpKind;
use crate::sync::{lock, Mutex};
use crate::sys;
use io_uring::{opcode, squeue, types, IoUring};
use std::os::fd::AsRawFd;
use std::time::Instant;

/// `user_data` bit marking an async-cancel SQE (its CQE is not a request's).
const CANCEL: u64 = 1 << 63;
/// `user_data` = tag (low bits) | piece index << TAG_BITS. Tags are < 65536.
const TAG_BITS: u32 = 16;

pub(crate) struct Uring {
    ring: IoUring,
    /// The SQ has one producer at a time.
    sq: Mutex<()>,
    /// The CQ has one consumer at a time.
    cq: Mutex<()>,
    /// One reaper at a time waits in the kernel.
    waiter: Mutex<()>,
    pieces: PieceTable,
    report: String,
}

// SAFETY: the ring's SQ and CQ are accessed only under `sq` / `cq` (the crate's `*_shared`
// accessors require exactly that); everything else is Sync.
unsafe impl Sync for Uring {}
// SAFETY: as above.
unsafe impl Send for Uring {}

impl Uring {
    pub(crate) fn new(depth: u32) -> Result<Uring> {
        let entries = depth.next_power_of_two().clamp(8, 4096);
        let ring = IoUring::builder()
            .setup_cqsize((2 * depth).next_power_of_two().max(2 * entries))
            .build(entries)
            .map_err(|e| Error::from_io("io_uring_setup", &e))?;
        let p = ring.params();
        let report = format!(
            "io_uring: sq {} cq {}, features{}{}; files and buffers unregistered",
            p.sq_entries(),
            p.cq_entries(),
            if p.is_feature_nodrop() { " nodrop" } else { "" },
            if p.is_feature_ext_arg() {
                " ext_arg"
            } else {
                ""
            },
        );
        Ok(Uring {
            ring,
            sq: Mutex::new(()),
            cq: Mutex::new(()),
            waiter: Mutex::new(()),
            pieces: PieceTable::new(depth),
            report,
        })
    }

    pub(crate) fn report(&self) -> String {
        self.report.clone()
    }

    /// Pushes `sqe`, flushing the SQ to the kernel first when it is full. Caller holds `sq`.
    fn push(&self, sqe: &squeue::Entry) {
        loop {
            // SAFETY: we hold the `sq` lock, so this is the only SQ handle.
            let mut sq = unsafe { self.ring.submission_shared() };
            // SAFETY: the SQE's buffers and iovecs live in the request's slot until its
            // completion (the owned-buffer model).
            if unsafe { sq.push(sqe) }.is_ok() {
                return;
            }
            drop(sq);
            // Full: hand what is there to the kernel and retry (EBUSY/EAGAIN: try again).
            if self.ring.submitter().submit().is_err() {
                std::thread::yield_now();
            }
        }
    }

    pub(crate) fn submit(&self, sh: &Shared, tag: u32, kick: bool) {
        // SAFETY: we were handed `tag`; the request is not used after its completion is posted.
        let Some(req) = (unsafe { sh.begin(tag) }) else {
            return;
        };
        let _guard = lock(&self.sq);
        // SAFETY: the slot is RUNNING for us and nothing of it is in the kernel yet.
        let (pieces, iov) = unsafe { self.pieces.layout(tag, req) };
        match (req.op, &req.file) {
            (OpKind::Read | OpKind::Write, Some(file)) => {
                let fd = types::Fd(file.fd().as_raw_fd());
                let write = req.op == OpKind::Write;
                let flags = if write && req.dsync {
                    sys::RWF_DSYNC
                } else {
                    0
                };
                for (i, p) in pieces.iter().enumerate() {
                    let off = req.offset + p.start;
                    let sqe = match (&iov[p.first as usize..p.end as usize], write) {
                        ([v], true) => {
                            opcode::Write::new(fd, v.iov_base as *const u8, v.iov_len as u32)
                                .offset(off)
                                .rw_flags(flags)
                                .build()
                        }
                        ([v], false) => {
                            opcode::Read::new(fd, v.iov_base as *mut u8, v.iov_len as u32)
                                .offset(off)
                                .build()
                        }
                        (vs, true) => opcode::Writev::new(fd, vs.as_ptr(), vs.len() as u32)
                            .offset(off)
                            .rw_flags(flags)
                            .build(),
                        (vs, false) => opcode::Readv::new(fd, vs.as_ptr(), vs.len() as u32)
                            .offset(off)
                            .build(),
                    };
                    self.push(&sqe.user_data(u64::from(tag) | ((i as u64) << TAG_BITS)));
                }
            }
            (op, file) => {
                let sqe = match (op, file) {
                    (OpKind::Fsync, Some(f)) => {
                        opcode::Fsync::new(types::Fd(f.fd().as_raw_fd())).build()
                    }
                    (OpKind::Fdatasync, Some(f)) => {
                        opcode::Fsync::new(types::Fd(f.fd().as_raw_fd()))
                            .flags(types::FsyncFlags::DATASYNC)
                            .build()
                    }
                    _ => opcode::Nop::new().build(),
                };
                self.push(&sqe.user_data(u64::from(tag)));
            }
        }
        if kick {
            let _ = self.ring.submitter().submit();
        }
    }

    pub(crate) fn kick(&self) {
        let _g = lock(&self.sq);
        let _ = self.ring.submitter().submit();
    }

    /// Drains the CQ into the context's completion ring, with no syscall. `true` when it reaped
    /// anything.
    pub(crate) fn poll(&self, sh: &Shared) -> bool {
        let Ok(_g) = self.cq.try_lock() else {
            return false;
        };
        let mut any = false;
        // SAFETY: we hold the `cq` lock, so this is the only CQ handle.
        let cq = unsafe { self.ring.completion_shared() };
        for cqe in cq {
            any = true;
            let ud = cqe.user_data();
            if ud & CANCEL != 0 {
                continue;
            }
            let (tag, piece) = (
                (ud & ((1 << TAG_BITS) - 1)) as u32,
                (ud >> TAG_BITS) as usize,
            );
            self.pieces.done(sh, tag, piece, i64::from(cqe.result()));
        }
        any
    }

    /// One reaper at a time waits in the kernel for `need` completions or until `deadline`
    /// (`IORING_ENTER_EXT_ARG`). `false` when another reaper is already waiting there.
    pub(crate) fn wait(&self, sh: &Shared, need: usize, deadline: Option<Instant>) -> bool {
        let Ok(_w) = self.waiter.try_lock() else {
            return false;
        };
        let ts;
        let args = match deadline {
            Some(d) => {
                ts = types::Timespec::from(d.saturating_duration_since(Instant::now()));
                types::SubmitArgs::new().timespec(&ts)
            }
            None => types::SubmitArgs::new(),
        };
        {
            let _g = lock(&self.sq);
            // ETIME (timeout) and EINTR are normal; anything else shows up as no progress.
            let _ = self
                .ring
                .submitter()
                .submit_with_args(need.min(u32::MAX as usize), &args);
        }
        self.poll(sh);
        true
    }

    /// Asks the kernel to cancel every piece of slot `tag`. The request's own completion still
    /// arrives, and its buffers stay in the slot until then.
    pub(crate) fn cancel_running(&self, sh: &Shared, tag: u32, gen: u32) {
        // Under `sq`, which every submitter holds while it lays out and issues a slot's pieces:
        // the piece list is stable, and the slot check below sees a reuse of the slot.
        let _g = lock(&self.sq);
        if !sh.slots[tag as usize].is_running(gen) {
            return;
        }
        for i in 0..self.pieces.count(tag) {
            let target = u64::from(tag) | ((i as u64) << TAG_BITS);
            self.push(
                &opcode::AsyncCancel::new(target)
                    .build()
                    .user_data(CANCEL | target),
            );
        }
        let _ = self.ring.submitter().submit();
    }
}

/// Probes io_uring: ring creation and the opcodes the backend uses.
pub(crate) fn probe() -> std::result::Result<String, String> {
    let ring = match IoUring::new(8) {
        Ok(r) => r,
        Err(e) => return Err(match e.raw_os_error() {
            Some(libc::ENOSYS) => {
                "io_uring_setup returned ENOSYS: blocked by seccomp or a kernel without io_uring"
                    .into()
            }
            Some(libc::EPERM) => format!(
                "io_uring_setup returned EPERM: disabled by sysctl kernel.io_uring_disabled={}",
                std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                    .unwrap_or_default()
                    .trim()
            ),
            Some(libc::ENOMEM) => {
                "io_uring_setup returned ENOMEM: the memlock limit is too low for the ring".into()
            }
            _ => format!("io_uring_setup failed: {e}"),
        }),
    };
    let mut probe = io_uring::Probe::new();
    if let Err(e) = ring.submitter().register_probe(&mut probe) {
        return Err(format!("IORING_REGISTER_PROBE failed: {e}"));
    }
    let needed = [
        ("READ", opcode::Read::CODE),
        ("WRITE", opcode::Write::CODE),
        ("READV", opcode::Readv::CODE),
        ("WRITEV", opcode::Writev::CODE),
        ("FSYNC", opcode::Fsync::CODE),
        ("NOP", opcode::Nop::CODE),
        ("ASYNC_CANCEL", opcode::AsyncCancel::CODE),
    ];
    let missing: Vec<&str> = needed
        .iter()
        .filter(|(_, c)| !probe.is_supported(*c))
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "kernel lacks io_uring opcodes: {}",
            missing.join(", ")
        ));
    }
    if !ring.params().is_feature_ext_arg() {
        return Err("kernel lacks IORING_FEAT_EXT_ARG (timed waits)".into());
    }
    Ok("io_uring_setup works; all opcodes used are supported".into())
}
