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

use crate::context::{Shared, RES_CANCELED};
use crate::dio::Pieces;
use crate::error::{Error, Result};
use crate::request::{OpKind, Request};
use crate::sync::{lock, Mutex, Ordering, UnsafeCell};
use crate::sys::{self, IoVec};
use io_uring::{opcode, squeue, types, IoUring};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64};
use std::time::Instant;

/// `user_data` bit marking an async-cancel SQE (its CQE is not a request's).
const CANCEL: u64 = 1 << 63;
const TAG_BITS: u32 = 16;

/// One piece of an issued request.
#[derive(Clone, Copy)]
struct Piece {
    /// Start relative to the request's offset.
    start: u64,
    /// Its vectors: `iov[first..end]`.
    first: u32,
    end: u32,
}

/// Per-slot piece accounting for an issued request.
struct SlotIo {
    /// The request's pieces. Written by the submitter before the first SQE is pushed; read by the
    /// reaper. Reused, so warm requests do not allocate.
    pieces: UnsafeCell<Vec<Piece>>,
    /// iovecs of multi-segment pieces (kept until the request completes).
    iov: UnsafeCell<Vec<IoVec>>,
    /// Byte length of the whole request.
    total: AtomicU64,
    /// Pieces not yet completed.
    left: AtomicU32,
    /// Min over short or failed pieces of `start + bytes done`; `u64::MAX` while none.
    prefix: AtomicU64,
    /// errno of the piece at start 0, if it failed.
    first_err: AtomicI32,
}

pub(crate) struct Uring {
    ring: IoUring,
    /// The SQ has one producer at a time.
    sq: Mutex<()>,
    /// The CQ has one consumer at a time.
    cq: Mutex<()>,
    /// One reaper at a time waits in the kernel.
    waiter: Mutex<()>,
    slots: Box<[SlotIo]>,
    report: String,
}

// SAFETY: the ring's SQ and CQ are accessed only under `sq` / `cq`; `SlotIo` cells follow the
// slot ownership protocol (submitter writes before issuing, reaper reads after the CQE).
unsafe impl Sync for Uring {}
// SAFETY: as above.
unsafe impl Send for Uring {}

fn io_err(op: &'static str, e: &std::io::Error) -> Error {
    Error::from_io(op, e)
}

impl Uring {
    pub(crate) fn new(depth: u32) -> Result<Uring> {
        let entries = depth.next_power_of_two().clamp(8, 4096);
        let ring = IoUring::builder()
            .setup_cqsize((2 * depth).next_power_of_two().max(2 * entries))
            .build(entries)
            .map_err(|e| io_err("io_uring_setup", &e))?;
        let slots = (0..depth)
            .map(|_| SlotIo {
                pieces: UnsafeCell::new(Vec::new()),
                iov: UnsafeCell::new(Vec::new()),
                total: AtomicU64::new(0),
                left: AtomicU32::new(0),
                prefix: AtomicU64::new(u64::MAX),
                first_err: AtomicI32::new(0),
            })
            .collect();
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
            slots,
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
            // Full: hand what is there to the kernel and retry. EBUSY (CQ overflow backlog) or
            // EAGAIN: reap, then retry.
            if self.ring.submitter().submit().is_err() {
                std::thread::yield_now();
            }
        }
    }

    pub(crate) fn submit(&self, sh: &Shared, tag: u32, kick: bool) {
        let slot = &sh.slots[tag as usize];
        if !slot.start() {
            // Canceled between `submit` publishing it and here.
            sh.complete(tag, RES_CANCELED);
            return;
        }
        // SAFETY: `start` made the slot RUNNING for us; we only read the request.
        let req = unsafe { slot.request() };
        let io = &self.slots[tag as usize];
        let guard = lock(&self.sq);
        match req.op {
            OpKind::Read | OpKind::Write => self.push_rw(req, tag, io),
            op => {
                // SAFETY: the slot is RUNNING and ours; no piece of it is in the kernel yet.
                unsafe { (*io.pieces.with_mut(|p| p)).clear() };
                self.prepare(io, 0, 1);
                let sqe = match (op, &req.file) {
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
        drop(guard);
    }

    fn prepare(&self, io: &SlotIo, total: u64, pieces: u32) {
        io.total.store(total, Ordering::Relaxed);
        io.prefix.store(u64::MAX, Ordering::Relaxed);
        io.first_err.store(0, Ordering::Relaxed);
        // Relaxed: the kernel entry (a syscall) orders these stores before any CQE is reaped.
        io.left.store(pieces, Ordering::Relaxed);
    }

    fn push_rw(&self, req: &Request, tag: u32, io: &SlotIo) {
        let file = req.file.as_ref().expect("read/write requests have a file");
        let fd = types::Fd(file.fd().as_raw_fd());
        let write = req.op == OpKind::Write;
        let flags = if write && req.dsync {
            sys::RWF_DSYNC
        } else {
            0
        };
        // SAFETY: the slot is RUNNING and ours until the last piece's CQE; the reaper reads these
        // vectors only after that.
        let (pieces, iov) = unsafe {
            (
                &mut *io.pieces.with_mut(|p| p),
                &mut *io.iov.with_mut(|p| p),
            )
        };
        pieces.clear();
        iov.clear();
        // Lay out every piece's vectors first: `iov` must not reallocate once SQEs point into it.
        let mut walk = Pieces::new(&req.bufs, req.offset, file.geometry().max_transfer);
        loop {
            let first = iov.len() as u32;
            let Some((off, _)) = walk.next_append(iov) else {
                break;
            };
            pieces.push(Piece {
                start: off - req.offset,
                first,
                end: iov.len() as u32,
            });
        }
        self.prepare(io, req.bufs.total_len(), pieces.len() as u32);
        for (i, p) in pieces.iter().enumerate() {
            let ud = u64::from(tag) | ((i as u64) << TAG_BITS);
            let off = req.offset + p.start;
            let vecs = &iov[p.first as usize..p.end as usize];
            let sqe = match (vecs, write) {
                ([v], true) => opcode::Write::new(fd, v.iov_base as *const u8, v.iov_len as u32)
                    .offset(off)
                    .rw_flags(flags)
                    .build(),
                ([v], false) => opcode::Read::new(fd, v.iov_base as *mut u8, v.iov_len as u32)
                    .offset(off)
                    .build(),
                (vs, true) => opcode::Writev::new(fd, vs.as_ptr(), vs.len() as u32)
                    .offset(off)
                    .rw_flags(flags)
                    .build(),
                (vs, false) => opcode::Readv::new(fd, vs.as_ptr(), vs.len() as u32)
                    .offset(off)
                    .build(),
            };
            self.push(&sqe.user_data(ud));
        }
    }

    pub(crate) fn kick(&self) {
        let _g = lock(&self.sq);
        let _ = self.ring.submitter().submit();
    }

    /// Drains the CQ into the context's completion ring. `true` when it reaped anything.
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
            self.piece_done(
                sh,
                (ud & ((1 << TAG_BITS) - 1)) as u32,
                (ud >> TAG_BITS) as usize,
                cqe.result(),
            );
        }
        any
    }

    fn piece_done(&self, sh: &Shared, tag: u32, piece: usize, res: i32) {
        let io = &self.slots[tag as usize];
        let total = io.total.load(Ordering::Relaxed);
        // SAFETY: written by the submitter before the SQE was issued; only read here.
        let pieces = unsafe { &*io.pieces.with(|p| p) };
        let (start, wanted) = match pieces.get(piece) {
            Some(p) => (
                p.start,
                pieces.get(piece + 1).map_or(total, |n| n.start) - p.start,
            ),
            None => (0, 0), // noop / fsync
        };
        if res < 0 || (res as u64) < wanted {
            io.prefix
                .fetch_min(start + u64::from(res.max(0) as u32), Ordering::Relaxed);
            if res < 0 && start == 0 {
                io.first_err.store(-res, Ordering::Relaxed);
            }
        }
        // AcqRel: the last piece sees every other piece's prefix/first_err updates.
        if io.left.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let prefix = io.prefix.load(Ordering::Relaxed);
        let err = io.first_err.load(Ordering::Relaxed);
        let result: i64 = match (prefix, err) {
            (u64::MAX, _) => total as i64,
            (0, e) if e != 0 => -i64::from(e),
            (n, _) => n as i64,
        };
        let slot = &sh.slots[tag as usize];
        // SAFETY: the slot is RUNNING and this is its last piece: nobody else touches it.
        let req = unsafe { slot.request() };
        if let (OpKind::Write, Some(f), true) = (req.op, &req.file, result > 0) {
            f.advance_len(req.offset + result as u64);
        }
        sh.complete(tag, result);
    }

    /// One reaper waits in the kernel for `need` completions or until `deadline`. `false` when
    /// another reaper is already waiting there.
    pub(crate) fn wait(&self, sh: &Shared, need: usize, deadline: Option<Instant>) -> bool {
        let Ok(_w) = self.waiter.try_lock() else {
            return false;
        };
        let ts;
        let args = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                ts = types::Timespec::from(left);
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

    /// Asks the kernel to cancel every piece of slot `tag`. The completion still arrives.
    pub(crate) fn cancel_running(&self, tag: u32) {
        let io = &self.slots[tag as usize];
        // SAFETY: only the length is read; the submitter wrote it before issuing.
        let pieces = unsafe { &*io.pieces.with(|p| p) }.len().max(1);
        let _g = lock(&self.sq);
        for i in 0..pieces {
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
