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
//! - Registration (optional, asked for on the builder): files go into the fixed-file table and
//!   `BufPool` memory is registered as fixed buffers. A piece on a registered file names it by
//!   index (`IOSQE_FIXED_FILE`); a single-buffer piece inside a registered region uses
//!   `READ_FIXED`/`WRITE_FIXED`. If the kernel refuses (ENOMEM: pinning would exceed
//!   `RLIMIT_MEMLOCK`), the ring runs unregistered and the report says why.
//! - Cooperative task running (`COOP_TASKRUN` + `TASKRUN_FLAG`, 5.19+, plain setup before):
//!   a completion that needs task work does not interrupt the submitting thread with an IPI;
//!   the thread runs it at its next kernel entry or exit, a sleeping thread is woken. `poll`
//!   enters the kernel once when the SQ flags say task work is pending. Measured on zram (which
//!   punts reads to io-wq): CPU per I/O 15.5 -> 11.9 us at depth 32. The cost: a thread busy in
//!   user space delays the completions of its own requests up to its next syscall or timer
//!   tick, for reapers on other threads.
//! - CQ overflow: the kernel's NODROP feature keeps overflowed CQEs; every enter with GETEVENTS
//!   flushes them back, so nothing is lost.

use super::kwait::KernelWait;
use super::pieces::PieceTable;
use super::{RegisterRequest, Registration, Wait};
use crate::buf::BufPool;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::file::DirectFile;
use crate::request::OpKind;
use crate::sync::{lock, Mutex};
use crate::sys;
use io_uring::{opcode, squeue, types, IoUring};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// `user_data` bit marking an async-cancel SQE (its CQE is not a request's).
const CANCEL: u64 = 1 << 63;
/// `user_data` bit marking a wake-up NOP (posted to get a reaper out of the kernel wait).
const WAKE: u64 = 1 << 62;
/// `io_uring_enter` flags (include/uapi/linux/io_uring.h).
const IORING_ENTER_GETEVENTS: u32 = 1 << 0;
const IORING_ENTER_EXT_ARG: u32 = 1 << 3;
/// The kernel's largest SQ (`IORING_MAX_ENTRIES`) and CQ (`IORING_MAX_CQ_ENTRIES`).
const MAX_SQ: u32 = 32768;
const MAX_CQ: u32 = 2 * MAX_SQ;
/// `user_data` = tag (low bits) | piece index << TAG_BITS. Tags are < 65536.
const TAG_BITS: u32 = 16;
/// The kernel's largest single fixed buffer (`SZ_1G`); bigger pool regions are registered in
/// chunks of this size.
const MAX_FIXED_BUF: usize = 1 << 30;

/// The ring's registered files and buffers, and what keeps them valid.
#[derive(Default)]
struct Fixed {
    /// `(DirectFile::identity, index in the fixed-file table)`. The handles in `_files` keep each
    /// identity unique for the ring's life.
    files: Vec<(usize, u32)>,
    /// Registered buffers as `(start address, length)`; the position is the buffer index.
    bufs: Vec<(usize, usize)>,
    _files: Vec<DirectFile>,
    /// Keeps the registered memory allocated while the ring may name it.
    _pools: Vec<BufPool>,
    notes: Vec<String>,
}

impl Fixed {
    fn file(&self, f: &DirectFile) -> Option<u32> {
        let id = f.identity();
        self.files.iter().find(|(i, _)| *i == id).map(|(_, x)| *x)
    }

    fn buf(&self, addr: usize, len: usize) -> Option<u16> {
        self.bufs
            .iter()
            .position(|&(start, n)| addr >= start && addr + len <= start + n)
            .map(|i| i as u16)
    }

    /// Registers what `req` asks for; failures become notes, never errors.
    fn register(ring: &IoUring, req: &RegisterRequest<'_>) -> Fixed {
        let mut fixed = Fixed::default();
        let mut files: Vec<DirectFile> = Vec::new();
        for f in req.files {
            if !files.iter().any(|g| g.same_file(f)) {
                files.push(f.clone());
            }
        }
        if !files.is_empty() {
            let fds: Vec<RawFd> = files.iter().map(|f| f.fd().as_raw_fd()).collect();
            match ring.submitter().register_files(&fds) {
                Ok(()) => {
                    fixed.files = files
                        .iter()
                        .enumerate()
                        .map(|(i, f)| (f.identity(), i as u32))
                        .collect();
                    fixed._files = files;
                }
                Err(e) => fixed.notes.push(format!(
                    "fixed files not registered ({}); using plain descriptors",
                    describe(&e)
                )),
            }
        }
        if !req.pools.is_empty() {
            let mut iov = Vec::new();
            for p in req.pools {
                let (base, len) = p.region();
                let mut off = 0;
                while off < len {
                    let n = (len - off).min(MAX_FIXED_BUF);
                    iov.push(libc::iovec {
                        iov_base: (base as usize + off) as *mut libc::c_void,
                        iov_len: n,
                    });
                    off += n;
                }
            }
            let bytes: usize = iov.iter().map(|v| v.iov_len).sum();
            let result = if iov.len() > usize::from(u16::MAX) {
                Err(std::io::Error::from_raw_os_error(libc::EINVAL))
            } else {
                // SAFETY: every iovec lies inside a pool allocation that `_pools` keeps alive for
                // the ring's life (the ring is dropped first: see `Uring`'s field order).
                unsafe { ring.submitter().register_buffers(&iov) }
            };
            match result {
                Ok(()) => {
                    fixed.bufs = iov
                        .iter()
                        .map(|v| (v.iov_base as usize, v.iov_len))
                        .collect();
                    fixed._pools = req.pools.to_vec();
                }
                Err(e) => fixed.notes.push(format!(
                    "fixed buffers not registered ({}{}); running unregistered",
                    describe(&e),
                    if e.raw_os_error() == Some(libc::ENOMEM) {
                        format!(
                            ": pinning {bytes} bytes exceeds the memlock limit (RLIMIT_MEMLOCK {})",
                            memlock_limit()
                        )
                    } else {
                        String::new()
                    }
                )),
            }
        }
        fixed
    }
}

fn describe(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let name = match n {
                libc::ENOMEM => "ENOMEM",
                libc::EPERM => "EPERM",
                libc::EINVAL => "EINVAL",
                libc::EFAULT => "EFAULT",
                libc::EMFILE => "EMFILE",
                libc::EBUSY => "EBUSY",
                _ => "errno",
            };
            format!("{name}: {e}")
        }
        None => e.to_string(),
    }
}

/// The soft `RLIMIT_MEMLOCK`, for reports.
fn memlock_limit() -> String {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) } != 0 {
        return "unknown".into();
    }
    if r.rlim_cur == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        format!("{} bytes", r.rlim_cur)
    }
}

pub(crate) struct Uring {
    /// Declared first so it is dropped (closing the ring) before `fixed` releases the registered
    /// files and memory.
    ring: IoUring,
    /// The SQ has one producer at a time.
    sq: Mutex<()>,
    /// The CQ has one consumer at a time.
    cq: Mutex<()>,
    /// One reaper at a time waits in the kernel, holding nothing else.
    kwait: KernelWait,
    pieces: PieceTable,
    /// Set up with COOP_TASKRUN + TASKRUN_FLAG.
    coop: bool,
    fixed: Fixed,
    /// Pieces issued with a fixed-buffer opcode. Written only under `sq` (a load and a store, no
    /// read-modify-write); Relaxed: a statistic, it orders nothing.
    fixed_ios: AtomicU64,
    report: String,
}

// SAFETY: the ring's SQ and CQ are accessed only under `sq` / `cq` (the crate's `*_shared`
// accessors require exactly that); everything else is Sync.
unsafe impl Sync for Uring {}
// SAFETY: as above.
unsafe impl Send for Uring {}

impl Uring {
    pub(crate) fn new(depth: u32, register: &RegisterRequest<'_>) -> Result<Uring> {
        // SQ: depth rounded up, 8..=4096 (a full SQ is flushed to the kernel, so it need not
        // hold every request). CQ: twice the depth, at most the kernel's maximum (65536): with
        // NODROP, CQEs past it wait in the kernel's overflow list, and CLAMP keeps every depth
        // up to 65536 valid.
        let entries = depth.next_power_of_two().clamp(8, 4096).min(MAX_SQ);
        let cq = (2 * depth).next_power_of_two().max(2 * entries).min(MAX_CQ);
        // Cooperative task running (5.19+): completions are not pushed into a running thread
        // by an inter-processor interrupt; a thread runs its task work at its next kernel
        // entry or exit (a sleeping thread is still woken). Kernels without it: plain setup.
        let (ring, coop) = match IoUring::builder()
            .setup_cqsize(cq)
            .setup_clamp()
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .build(entries)
        {
            Ok(r) => (r, true),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => (
                IoUring::builder()
                    .setup_cqsize(cq)
                    .setup_clamp()
                    .build(entries)
                    .map_err(|e| Error::from_io("io_uring_setup", &e))?,
                false,
            ),
            Err(e) => return Err(Error::from_io("io_uring_setup", &e)),
        };
        let fixed = Fixed::register(&ring, register);
        let p = ring.params();
        let mut report = format!(
            "io_uring: sq {} cq {}, {}, features{}{}; {} fixed files, {} bytes of fixed buffers",
            p.sq_entries(),
            p.cq_entries(),
            if coop { "coop_taskrun" } else { "ipi taskrun" },
            if p.is_feature_nodrop() { " nodrop" } else { "" },
            if p.is_feature_ext_arg() {
                " ext_arg"
            } else {
                ""
            },
            fixed.files.len(),
            fixed.bufs.iter().map(|b| b.1).sum::<usize>(),
        );
        for n in &fixed.notes {
            report.push_str("; ");
            report.push_str(n);
        }
        Ok(Uring {
            ring,
            sq: Mutex::new(()),
            cq: Mutex::new(()),
            kwait: KernelWait::default(),
            pieces: PieceTable::new(depth)?,
            coop,
            fixed,
            fixed_ios: AtomicU64::new(0),
            report,
        })
    }

    pub(crate) fn report(&self) -> String {
        self.report.clone()
    }

    pub(crate) fn registration(&self) -> Registration {
        Registration {
            files: self.fixed.files.len(),
            buffer_bytes: self.fixed.bufs.iter().map(|b| b.1).sum(),
            fixed_buffer_ios: self.fixed_ios.load(Ordering::Relaxed),
            notes: self.fixed.notes.clone(),
        }
    }

    /// The SQE `fd` field and flags for `file`: its fixed-file index when registered.
    fn target(&self, file: &DirectFile) -> (types::Fd, squeue::Flags) {
        match self.fixed.file(file) {
            Some(i) => (types::Fd(i as RawFd), squeue::Flags::FIXED_FILE),
            None => (types::Fd(file.fd().as_raw_fd()), squeue::Flags::empty()),
        }
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

    pub(crate) fn submit(&self, engine: &Engine, tag: u32, kick: bool) {
        // SAFETY: we were handed `tag`; the request is not used after its completion is posted.
        let Some(req) = (unsafe { engine.begin(tag) }) else {
            return;
        };
        let _guard = lock(&self.sq);
        // SAFETY: the slot is RUNNING for us and nothing of it is in the kernel yet.
        let (pieces, iov) = unsafe { self.pieces.layout(tag, req) };
        match (req.op, &req.file) {
            (OpKind::Read | OpKind::Write, Some(file)) => {
                let (fd, fdflags) = self.target(file);
                let mut fixed_ios = 0;
                let write = req.op == OpKind::Write;
                let flags = if write && req.dsync {
                    sys::RWF_DSYNC
                } else {
                    0
                };
                for (i, p) in pieces.iter().enumerate() {
                    let off = req.offset + p.start;
                    let vs = &iov[p.first as usize..p.end as usize];
                    let fixed_buf = match vs {
                        [v] => self.fixed.buf(v.iov_base as usize, v.iov_len),
                        _ => None,
                    };
                    let sqe = match (vs, write, fixed_buf) {
                        ([v], true, Some(bi)) => {
                            fixed_ios += 1;
                            opcode::WriteFixed::new(
                                fd,
                                v.iov_base as *const u8,
                                v.iov_len as u32,
                                bi,
                            )
                            .offset(off)
                            .rw_flags(flags)
                            .build()
                        }
                        ([v], false, Some(bi)) => {
                            fixed_ios += 1;
                            opcode::ReadFixed::new(fd, v.iov_base as *mut u8, v.iov_len as u32, bi)
                                .offset(off)
                                .build()
                        }
                        ([v], true, None) => {
                            opcode::Write::new(fd, v.iov_base as *const u8, v.iov_len as u32)
                                .offset(off)
                                .rw_flags(flags)
                                .build()
                        }
                        ([v], false, None) => {
                            opcode::Read::new(fd, v.iov_base as *mut u8, v.iov_len as u32)
                                .offset(off)
                                .build()
                        }
                        (vs, true, _) => opcode::Writev::new(fd, vs.as_ptr(), vs.len() as u32)
                            .offset(off)
                            .rw_flags(flags)
                            .build(),
                        (vs, false, _) => opcode::Readv::new(fd, vs.as_ptr(), vs.len() as u32)
                            .offset(off)
                            .build(),
                    };
                    self.push(
                        &sqe.flags(fdflags)
                            .user_data(u64::from(tag) | ((i as u64) << TAG_BITS)),
                    );
                }
                if fixed_ios > 0 {
                    // Only submitters (holding `sq`) write it: no lost update.
                    let n = self.fixed_ios.load(Ordering::Relaxed);
                    self.fixed_ios.store(n + fixed_ios, Ordering::Relaxed);
                }
            }
            (op, file) => {
                let sqe = match (op, file) {
                    (OpKind::Fsync, Some(f)) => {
                        let (fd, fdflags) = self.target(f);
                        opcode::Fsync::new(fd).build().flags(fdflags)
                    }
                    (OpKind::Fdatasync, Some(f)) => {
                        let (fd, fdflags) = self.target(f);
                        opcode::Fsync::new(fd)
                            .flags(types::FsyncFlags::DATASYNC)
                            .build()
                            .flags(fdflags)
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
    pub(crate) fn poll(&self, engine: &Engine) -> bool {
        let Ok(_g) = self.cq.try_lock() else {
            return false;
        };
        let mut any = self.drain(engine);
        if !any && self.coop {
            // Completions of this thread's requests may wait as task work (IORING_SQ_TASKRUN):
            // any enter runs it. Skipped when a submitter holds the SQ: it enters anyway.
            if let Ok(_s) = self.sq.try_lock() {
                // SAFETY: we hold the `sq` lock, so this is the only SQ handle.
                if unsafe { self.ring.submission_shared() }.taskrun() {
                    let _ = self.ring.submitter().submit();
                    any = self.drain(engine);
                }
            }
        }
        any
    }

    /// Moves every CQE into the context. Caller holds `cq`.
    fn drain(&self, engine: &Engine) -> bool {
        let mut any = false;
        // SAFETY: the caller holds the `cq` lock, so this is the only CQ handle.
        let cq = unsafe { self.ring.completion_shared() };
        for cqe in cq {
            any = true;
            let ud = cqe.user_data();
            if ud & (CANCEL | WAKE) != 0 {
                continue;
            }
            let (tag, piece) = (
                (ud & ((1 << TAG_BITS) - 1)) as u32,
                (ud >> TAG_BITS) as usize,
            );
            self.pieces
                .done(engine, tag, piece, i64::from(cqe.result()), true);
        }
        any
    }

    pub(crate) fn kernel_wait(&self) -> &KernelWait {
        &self.kwait
    }

    /// Has the kernel signal `fd` for every CQE from now on (`IORING_REGISTER_EVENTFD`).
    pub(crate) fn attach_eventfd(&self, fd: i32) -> Result<()> {
        self.ring
            .submitter()
            .register_eventfd(fd)
            .map_err(|e| Error::from_io("completion_fd", &e))
    }

    /// One reaper at a time waits in `io_uring_enter(GETEVENTS | EXT_ARG)` for `need`
    /// completions or until `deadline`, holding no lock: submitters go on submitting, and
    /// `wake` gets it out. [`Wait::Busy`] when another reaper is already waiting there.
    pub(crate) fn wait(
        &self,
        engine: &Engine,
        need: usize,
        deadline: Option<Instant>,
        driver: bool,
    ) -> Wait {
        // Wait for no more than can be in flight; the reaper loops for the rest.
        let need = need.clamp(1, engine.depth() as usize);
        let Some(_guard) = self.kwait.try_enter(need, engine.cq(), driver) else {
            return Wait::Busy;
        };
        let ts;
        let args = match deadline {
            Some(d) => {
                ts = types::Timespec::from(d.saturating_duration_since(Instant::now()));
                types::SubmitArgs::new().timespec(&ts)
            }
            None => types::SubmitArgs::new(),
        };
        // SAFETY: to_submit is 0, so the kernel reads no SQE; `args` is a valid
        // io_uring_getevents_arg (EXT_ARG) that outlives the call. ETIME (timeout) and EINTR are
        // normal; any other error shows up as no progress and the caller loops on its deadline.
        let _ = unsafe {
            self.ring.submitter().enter(
                0,
                need as u32,
                IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                Some(&args),
            )
        };
        self.poll(engine);
        Wait::Waited
    }

    /// Gets a reaper out of the kernel wait: one wake-up NOP per event it waits for.
    pub(crate) fn wake(&self) {
        let n = self.kwait.need();
        if n == 0 {
            return;
        }
        let _g = lock(&self.sq);
        for _ in 0..n {
            self.push(&opcode::Nop::new().build().user_data(WAKE));
        }
        let _ = self.ring.submitter().submit();
    }

    /// Asks the kernel to cancel every piece of slot `tag`. The request's own completion still
    /// arrives, and its buffers stay in the slot until then.
    pub(crate) fn cancel_running(&self, engine: &Engine, tag: u32, gen: u32) {
        // Under `sq`, which every submitter holds while it lays out and issues a slot's pieces:
        // the piece list is stable, and the slot check below sees a reuse of the slot.
        let _g = lock(&self.sq);
        if !engine.is_running(tag, gen) {
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
