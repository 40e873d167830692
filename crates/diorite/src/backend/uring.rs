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
//!   `READ_FIXED`/`WRITE_FIXED`, a vectored one whose buffers all lie in one registered region
//!   `READV_FIXED`/`WRITEV_FIXED` where the kernel has them (6.15+; `READV`/`WRITEV` before). If the kernel refuses (ENOMEM: pinning would exceed
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
//! - Single issuer (`LocalContext`, 6.1+): `SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG`. The
//!   kernel runs completion task work only when the one issuing thread enters with GETEVENTS, so
//!   a wait for `n` completions sleeps until `n` are ready instead of being woken per
//!   completion; and the ring fd is registered (`IORING_REGISTER_RING_FDS`, per thread), so no
//!   enter looks the fd up. Any other thread's enter would get EEXIST: `LocalContext` is `!Send`
//!   and `!Sync`. Kernels that refuse the flags get the shared setup, and the report says so.
//! - SQPOLL (opt-in): a kernel thread takes SQEs as they are published; a submit enters the
//!   kernel only to wake it (`SQ_NEED_WAKEUP`) or to run task work.
//! - IOPOLL (opt-in): completions are polled from the device by enters with GETEVENTS, so a
//!   waiting reaper spins (`enter(0, 0, GETEVENTS)` until its deadline) instead of sleeping.
//!   Only reads and writes on devices with poll queues (sysfs `queue/io_poll`) are accepted;
//!   anything else is refused at submit with `Unsupported`, never left to spin.

use super::kwait::KernelWait;
use super::pieces::PieceTable;
use super::{RegisterRequest, Registration, Wait};
use crate::direct::buf::BufPool;
use crate::direct::file::DirectFile;
use crate::direct::request::OpKind;
use crate::direct::space::{self, Space};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::sync::{lock, Mutex};
use crate::sync::{AtomicU64, Ordering};
use crate::sys;
use crate::sys::uring::*;
use io_uring::{opcode, squeue, types, IoUring};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

/// `user_data` bit marking an async-cancel SQE (its CQE is not a request's).
const CANCEL: u64 = 1 << 63;
/// `user_data` bit marking a wake-up NOP (posted to get a reaper out of the kernel wait).
const WAKE: u64 = 1 << 62;
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
    /// The kernel has `READV_FIXED` and `WRITEV_FIXED` (6.15): a vectored piece whose iovecs
    /// all lie in one registered buffer is issued with them (no page pinning per I/O).
    vectored: bool,
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

    /// The registered buffer holding every one of `vs`, if one does.
    fn buf_for_all(&self, vs: &[libc::iovec]) -> Option<u16> {
        let (first, rest) = vs.split_first()?;
        let i = self.buf(first.iov_base as usize, first.iov_len)?;
        let (start, n) = self.bufs[usize::from(i)];
        rest.iter()
            .all(|v| v.iov_base as usize >= start && v.iov_base as usize + v.iov_len <= start + n)
            .then_some(i)
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
                    let mut probe = io_uring::Probe::new();
                    fixed.vectored = ring.submitter().register_probe(&mut probe).is_ok()
                        && probe.is_supported(opcode::ReadvFixed::CODE)
                        && probe.is_supported(opcode::WritevFixed::CODE);
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
    cq: crate::primitives::drain::DrainLock<()>,
    /// One reaper at a time waits in the kernel, holding nothing else.
    kwait: KernelWait,
    pieces: PieceTable,
    /// Set up with TASKRUN_FLAG (with COOP_TASKRUN or DEFER_TASKRUN): the SQ flags say when
    /// completions wait as task work.
    taskrun: bool,
    /// Set up with SINGLE_ISSUER | DEFER_TASKRUN.
    single: bool,
    /// Set up with SQPOLL / IOPOLL.
    sqpoll: bool,
    iopoll: bool,
    /// What `io_uring_enter` gets: the ring fd, or (single issuer) its index in the calling
    /// thread's registered-ring table with `IORING_ENTER_REGISTERED_RING`.
    enter_fd: (RawFd, u32),
    /// The thread that registered the ring fd (its table holds the index), if one did.
    registered_by: Option<libc::pid_t>,
    fixed: Fixed,
    /// Pieces issued with a fixed-buffer opcode. Written only under `sq` (a load and a store, no
    /// read-modify-write); Relaxed: a statistic, it orders nothing.
    fixed_ios: AtomicU64,
    /// SQEs handed to the kernel minus CQEs reaped: what the kernel holds. Added to after an
    /// enter (under `sq`), subtracted from by the drain (under `cq`). Relaxed: an estimate for
    /// the deferred-kick policy (`reactor.rs`), ordering nothing.
    in_kernel: crate::sync::AtomicI64,
    report: String,
}

// SAFETY: the ring's SQ and CQ are accessed only under `sq` / `cq` (the crate's `*_shared`
// accessors require exactly that); everything else is Sync.
unsafe impl Sync for Uring {}
// SAFETY: as above.
unsafe impl Send for Uring {}

impl Uring {
    /// A ring for `depth` requests in flight, with per-tag state for tags `0..tags`.
    pub(crate) fn new(depth: u32, tags: u32, register: &RegisterRequest<'_>) -> Result<Uring> {
        // SQ: depth rounded up, 8..=4096 (a full SQ is flushed to the kernel, so it need not
        // hold every request). CQ: twice the depth, at most the kernel's maximum (65536): with
        // NODROP, CQEs past it wait in the kernel's overflow list, and CLAMP keeps every depth
        // up to 65536 valid.
        let entries = depth.next_power_of_two().clamp(8, 4096).min(MAX_SQ);
        let cq = (2 * depth).next_power_of_two().max(2 * entries).min(MAX_CQ);
        let want = register.uring;
        let submit_all = submit_all_supported();
        let base = || {
            let mut b = IoUring::builder();
            b.setup_cqsize(cq).setup_clamp();
            // SUBMIT_ALL (5.18): an entry the kernel refuses at submission (a priority the
            // thread may not use, a bad opcode field) completes with its error and the rest of
            // the batch is still submitted; without it the kernel stops there and leaves the
            // rest in the SQ, which `flush` then submits by entering again.
            if submit_all {
                b.setup_submit_all();
            }
            if let Some((idle, cpu)) = want.sqpoll {
                b.setup_sqpoll(idle);
                if let Some(cpu) = cpu {
                    b.setup_sqpoll_cpu(cpu);
                }
            }
            if want.iopoll {
                b.setup_iopoll();
            }
            b
        };
        let mut notes = Vec::new();
        // Task running, best first: single issuer with deferred task work (6.1+, when asked);
        // cooperative (5.19+: completions are not pushed into a running thread by an
        // inter-processor interrupt; it runs its task work at its next kernel entry or exit,
        // a sleeping thread is still woken); plain.
        let mut built = None;
        if want.sqpoll.is_some() {
            // The kernel refuses every task-run flag with SQPOLL (its thread runs the work); a
            // single issuer is still allowed.
            let mut b = base();
            if want.single_issuer {
                b.setup_single_issuer();
            }
            let r = b.build(entries).map_err(|e| setup_error(&e, want))?;
            built = Some((
                r,
                if want.single_issuer {
                    "single issuer, sqpoll task work"
                } else {
                    "sqpoll task work"
                },
                false,
            ));
        } else if want.single_issuer {
            match base()
                .setup_single_issuer()
                .setup_defer_taskrun()
                .setup_taskrun_flag()
                .build(entries)
            {
                Ok(r) => built = Some((r, "single issuer, defer_taskrun", true)),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => notes.push(
                    "the kernel refused SINGLE_ISSUER | DEFER_TASKRUN (EINVAL: older than 6.1); \
                     shared setup"
                        .to_string(),
                ),
                Err(e) => return Err(setup_error(&e, want)),
            }
        }
        let (ring, taskrun_mode, taskrun) = match built {
            Some(b) => b,
            None => match base()
                .setup_coop_taskrun()
                .setup_taskrun_flag()
                .build(entries)
            {
                Ok(r) => (r, "coop_taskrun", true),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => (
                    base().build(entries).map_err(|e| setup_error(&e, want))?,
                    "ipi taskrun",
                    false,
                ),
                Err(e) => return Err(setup_error(&e, want)),
            },
        };
        let single = taskrun_mode.starts_with("single");
        // A registered ring fd lives in the registering thread's table: only a ring that one
        // thread enters may use it.
        let (enter_fd, registered_by) = if single {
            match register_ring_fd(ring.as_raw_fd()) {
                Ok(i) => ((i, IORING_ENTER_REGISTERED_RING), Some(sys::gettid())),
                Err(e) => {
                    notes.push(format!("ring fd not registered ({e}); entering by fd"));
                    ((ring.as_raw_fd(), 0), None)
                }
            }
        } else {
            ((ring.as_raw_fd(), 0), None)
        };
        let fixed = Fixed::register(&ring, register);
        let p = ring.params();
        let mut report = format!(
            "io_uring: sq {} cq {}, {}{}{}{}, features{}{}; {} fixed files, {} bytes of fixed buffers",
            p.sq_entries(),
            p.cq_entries(),
            taskrun_mode,
            if registered_by.is_some() {
                ", registered ring fd"
            } else {
                ""
            },
            match want.sqpoll {
                Some((idle, Some(cpu))) => format!(", sqpoll (idle {idle} ms, cpu {cpu})"),
                Some((idle, None)) => format!(", sqpoll (idle {idle} ms)"),
                None => String::new(),
            },
            if want.iopoll { ", iopoll" } else { "" },
            if p.is_feature_nodrop() { " nodrop" } else { "" },
            if p.is_feature_ext_arg() {
                " ext_arg"
            } else {
                ""
            },
            fixed.files.len(),
            fixed.bufs.iter().map(|b| b.1).sum::<usize>(),
        );
        for n in notes.iter().chain(&fixed.notes) {
            report.push_str("; ");
            report.push_str(n);
        }
        Ok(Uring {
            ring,
            sq: Mutex::new(()),
            cq: crate::primitives::drain::DrainLock::new(()),
            kwait: KernelWait::default(),
            pieces: PieceTable::new(tags)?,
            taskrun,
            single,
            sqpoll: want.sqpoll.is_some(),
            iopoll: want.iopoll,
            enter_fd,
            registered_by,
            fixed,
            fixed_ios: AtomicU64::new(0),
            in_kernel: crate::sync::AtomicI64::new(0),
            report,
        })
    }

    /// Whether the ring was set up for one issuing thread (`SINGLE_ISSUER | DEFER_TASKRUN`).
    pub(crate) fn single_issuer(&self) -> bool {
        self.single
    }

    /// `io_uring_enter` on this ring (by registered index when there is one).
    ///
    /// # Safety
    /// `arg` is null or a valid `io_uring_getevents_arg` (with `IORING_ENTER_EXT_ARG`) that
    /// outlives the call; SQEs up to the published tail stay valid until their completion.
    unsafe fn enter(
        &self,
        to_submit: u32,
        min: u32,
        flags: u32,
        arg: *const GeteventsArg,
    ) -> std::io::Result<usize> {
        let (fd, extra) = self.enter_fd;
        // SAFETY: the caller vouches for `arg` and the SQEs.
        unsafe { io_uring_enter(fd, to_submit, min, flags | extra, arg) }
    }

    /// Hands the published SQEs to the kernel: one enter, with GETEVENTS when completions wait
    /// as task work or in the overflow list (or to poll, with IOPOLL); with SQPOLL, no enter at
    /// all unless the poller sleeps or task work waits. Caller holds `sq`.
    fn flush(&self) -> std::io::Result<usize> {
        let mut total = 0;
        loop {
            let (n, left) = self.flush_once()?;
            total += n;
            // A short count: the kernel stopped at an entry it refused (a kernel without
            // SUBMIT_ALL) and left the rest in the SQ. Every pushed entry must reach the
            // kernel, or its request never completes: enter again while that makes progress.
            // (With SQPOLL the poller takes the entries; `left` is 0 then.)
            if left == 0 || n == 0 {
                return Ok(total);
            }
        }
    }

    /// One enter for [`Uring::flush`]: the entries the kernel took, and how many it left in the
    /// SQ.
    fn flush_once(&self) -> std::io::Result<(usize, usize)> {
        let (len, need_wakeup, overflow, taskrun) = {
            // SAFETY: the caller holds the `sq` lock, so this is the only SQ handle.
            let sq = unsafe { self.ring.submission_shared() };
            // SeqCst: pairs with the SQPOLL thread's full barrier between setting
            // SQ_NEED_WAKEUP and its last look at the tail (the kernel's io_sqring_full
            // protocol): either it sees our tail (published when the previous handle dropped,
            // Release) or we see the flag. Without SQPOLL nobody reads the flag: no fence.
            if self.sqpoll {
                crate::sync::fence(Ordering::SeqCst);
            }
            (sq.len(), sq.need_wakeup(), sq.cq_overflow(), sq.taskrun())
        };
        let mut flags = 0;
        // A single-issuer ring's submit also runs its deferred task work (cheap when there is
        // none): completions are then in the CQ for the next reap, without an enter of its own
        // (measured on zram, QD32: 1.30 -> 1.15 enters per I/O).
        if self.iopoll || overflow || taskrun || (self.single && len > 0) {
            flags |= IORING_ENTER_GETEVENTS;
        }
        if self.sqpoll {
            if need_wakeup {
                flags |= IORING_ENTER_SQ_WAKEUP;
            } else if flags == 0 {
                return Ok((len, 0));
            }
        } else if len == 0 && flags == 0 {
            return Ok((0, 0));
        }
        // SAFETY: no EXT_ARG; the published SQEs' memory lives in their slots until completion.
        let n = unsafe { self.enter(len as u32, 0, flags, std::ptr::null()) }?;
        // Relaxed: an estimate (see the field).
        self.in_kernel.fetch_add(n as i64, Ordering::Relaxed);
        if self.sqpoll {
            return Ok((n, 0));
        }
        Ok((n, len.saturating_sub(n)))
    }

    /// Refusals this ring's setup requires (nothing issued): IOPOLL takes only reads and writes
    /// on devices with poll queues.
    pub(crate) fn validate(&self, req: &crate::direct::request::Request) -> Result<()> {
        if !self.iopoll {
            return Ok(());
        }
        let e = |d: String| Err(Error::new(ErrorKind::Unsupported, "submit").with_detail(d));
        match (&req.op, &req.file) {
            (OpKind::Read | OpKind::Write, Some(f)) if !f.geometry().polled => e(format!(
                "this context polls for completions (iopoll), but {} is on a device without \
                 poll queues (sysfs queue/io_poll is 0): nothing would ever complete by polling",
                f.path().display()
            )),
            (OpKind::Read | OpKind::Write, Some(f)) if !f.is_direct() => e(format!(
                "this context polls for completions (iopoll), which needs O_DIRECT; {} is buffered",
                f.path().display()
            )),
            (OpKind::Read | OpKind::Write, _) => Ok(()),
            (op, _) => e(format!(
                "this context polls for completions (iopoll), which the kernel allows only for \
                 reads and writes, not {op:?}"
            )),
        }
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
            if self.flush().is_err() {
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
                let flags = req.rw_flags();
                for (i, p) in pieces.iter().enumerate() {
                    let off = req.offset + p.start;
                    let vs = &iov[p.first as usize..p.end as usize];
                    // An atomic write goes from the user's buffer as it is: the kernel takes
                    // RWF_ATOMIC only over a plain user buffer (`generic_atomic_write_valid`
                    // refuses a registered buffer's bvec iterator with EINVAL).
                    let fixed_buf = match vs {
                        _ if req.atomic => None,
                        [v] => self.fixed.buf(v.iov_base as usize, v.iov_len),
                        vs if self.fixed.vectored => self.fixed.buf_for_all(vs),
                        _ => None,
                    };
                    let prio = req.ioprio();
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
                            .ioprio(prio)
                            .rw_flags(flags)
                            .build()
                        }
                        ([v], false, Some(bi)) => {
                            fixed_ios += 1;
                            opcode::ReadFixed::new(fd, v.iov_base as *mut u8, v.iov_len as u32, bi)
                                .offset(off)
                                .ioprio(prio)
                                .rw_flags(flags)
                                .build()
                        }
                        ([v], true, None) => {
                            opcode::Write::new(fd, v.iov_base as *const u8, v.iov_len as u32)
                                .offset(off)
                                .ioprio(prio)
                                .rw_flags(flags)
                                .build()
                        }
                        ([v], false, None) => {
                            opcode::Read::new(fd, v.iov_base as *mut u8, v.iov_len as u32)
                                .offset(off)
                                .ioprio(prio)
                                .rw_flags(flags)
                                .build()
                        }
                        (vs, true, Some(bi)) => {
                            fixed_ios += 1;
                            opcode::WritevFixed::new(fd, vs.as_ptr(), vs.len() as u32, bi)
                                .offset(off)
                                .ioprio(prio)
                                .rw_flags(flags)
                                .build()
                        }
                        (vs, false, Some(bi)) => {
                            fixed_ios += 1;
                            opcode::ReadvFixed::new(fd, vs.as_ptr(), vs.len() as u32, bi)
                                .offset(off)
                                .ioprio(prio)
                                .rw_flags(flags)
                                .build()
                        }
                        (vs, true, None) => opcode::Writev::new(fd, vs.as_ptr(), vs.len() as u32)
                            .offset(off)
                            .ioprio(prio)
                            .rw_flags(flags)
                            .build(),
                        (vs, false, None) => opcode::Readv::new(fd, vs.as_ptr(), vs.len() as u32)
                            .offset(off)
                            .ioprio(prio)
                            .rw_flags(flags)
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
                    (OpKind::Discard | OpKind::WriteZeroes, Some(f)) => {
                        let (fd, fdflags) = self.target(f);
                        let (off, len) = (req.offset, req.bufs.total_len());
                        match space::plan(req) {
                            Some(Space::BlkDiscard) => {
                                // The block layer's io_uring command (6.12+): start in `addr`,
                                // length in `addr3` (the first bytes of `cmd`). Issued from
                                // io-wq (IOSQE_ASYNC): tried inline, the kernel marks the bio
                                // NOWAIT, which devices without NOWAIT support (loop) fail with
                                // EOPNOTSUPP instead of EAGAIN.
                                let mut cmd = [0u8; 16];
                                cmd[..8].copy_from_slice(&len.to_ne_bytes());
                                opcode::UringCmd16::new(fd, BLOCK_URING_CMD_DISCARD)
                                    .addr(Some(off))
                                    .cmd(cmd)
                                    .build()
                                    .flags(fdflags | squeue::Flags::ASYNC)
                            }
                            // BLKZEROOUT is fallocate(ZERO_RANGE) on a block device (the kernel's
                            // blkdev_fallocate: zeroout without unmapping).
                            Some(Space::BlkZeroout) => opcode::Fallocate::new(fd, len)
                                .offset(off)
                                .mode(libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE)
                                .build()
                                .flags(fdflags),
                            Some(Space::Fallocate(mode)) => opcode::Fallocate::new(fd, len)
                                .offset(off)
                                .mode(mode)
                                .build()
                                .flags(fdflags),
                            None => opcode::Nop::new().build(),
                        }
                    }
                    _ => opcode::Nop::new().build(),
                };
                self.push(&sqe.user_data(u64::from(tag)));
            }
        }
        if kick {
            let _ = self.flush();
        }
    }

    pub(crate) fn kick(&self) {
        let _g = lock(&self.sq);
        let _ = self.flush();
    }

    /// Drains the CQ into the context's completion ring, with no syscall. `true` when it reaped
    /// anything.
    pub(crate) fn poll(&self, engine: &Engine) -> bool {
        // Whoever holds the CQ drains once more for a caller that found it held
        // (`drain.rs`): a completion that arrived after the holder read the queue is not left
        // with nobody told.
        self.cq.drain(|_| {
            let mut any = self.drain(engine);
            if !any && (self.taskrun || self.iopoll) {
                // Completions of this thread's requests may wait as task work
                // (IORING_SQ_TASKRUN), which an enter with GETEVENTS runs (`flush` adds it);
                // with IOPOLL, an enter with GETEVENTS polls the device. Skipped when a
                // submitter holds the SQ: it enters anyway.
                if let Ok(_s) = self.sq.try_lock() {
                    // SAFETY: we hold the `sq` lock, so this is the only SQ handle.
                    if self.iopoll || unsafe { self.ring.submission_shared() }.taskrun() {
                        let _ = self.flush();
                        any = self.drain(engine);
                    }
                }
            }
            any
        })
    }

    /// Moves every CQE into the context. Caller holds `cq`.
    fn drain(&self, engine: &Engine) -> bool {
        let mut any = false;
        let mut n = 0;
        // SAFETY: the caller holds the `cq` lock, so this is the only CQ handle.
        let cq = unsafe { self.ring.completion_shared() };
        for cqe in cq {
            any = true;
            n += 1;
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
        if n > 0 {
            // Relaxed: an estimate (see the field).
            self.in_kernel.fetch_sub(n, Ordering::Relaxed);
        }
        any
    }

    /// About how many SQEs the kernel holds (handed over, CQE not yet reaped).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn in_kernel(&self) -> u64 {
        // Relaxed: an estimate (see the field).
        self.in_kernel.load(Ordering::Relaxed).max(0) as u64
    }

    pub(crate) fn kernel_wait(&self) -> &KernelWait {
        &self.kwait
    }

    /// The ring's own fd, for a runtime's reactor to wait on (`reactor.rs`): it polls
    /// readable while the CQ holds entries, and the kernel wakes its pollers whenever it posts
    /// one, so nothing needs signalling or resetting (an eventfd costs a `read` per wake-up).
    /// `None` with IOPOLL, whose completions appear only when a reaper polls the device.
    #[cfg(feature = "tokio")]
    pub(crate) fn ring_fd(&self) -> Option<RawFd> {
        (!self.iopoll).then(|| self.ring.as_raw_fd())
    }

    /// Has the kernel signal `fd` for every CQE from now on (`IORING_REGISTER_EVENTFD`).
    pub(crate) fn attach_eventfd(&self, fd: i32) -> Result<()> {
        if self.iopoll {
            return Err(
                Error::new(ErrorKind::Unsupported, "completion_fd").with_detail(
                    "this context polls for completions (iopoll): they appear only when a reaper \
                 polls, so no fd could announce them",
                ),
            );
        }
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
        if self.iopoll {
            // The kernel's IOPOLL wait ignores timeouts: spin here, one polling pass per enter,
            // until something completes or the deadline passes. Never a hang.
            loop {
                if let Ok(_s) = self.sq.try_lock() {
                    let _ = self.flush();
                }
                if self.poll(engine) || deadline.is_some_and(|d| Instant::now() >= d) {
                    return Wait::Waited;
                }
                if engine.admission().in_flight() == 0 {
                    // Nothing can complete: no point burning the CPU until something is issued.
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
                std::hint::spin_loop();
            }
        }
        let ts = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            KernelTimespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            }
        });
        let arg = GeteventsArg {
            sigmask: 0,
            sigmask_sz: 0,
            min_wait_usec: 0,
            ts: ts.as_ref().map_or(0, |t| t as *const KernelTimespec as u64),
        };
        // SAFETY: to_submit is 0, so the kernel reads no SQE; `arg` (and `ts` it points to) is a
        // valid io_uring_getevents_arg that outlives the call. ETIME (timeout) and EINTR are
        // normal; any other error shows up as no progress and the caller loops on its deadline.
        let _ = unsafe {
            self.enter(
                0,
                need as u32,
                IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                &arg,
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
        let _ = self.flush();
    }

    /// Asks the kernel to cancel every piece of slot `tag`. The request's own completion still
    /// arrives, and its buffers stay in the slot until then.
    pub(crate) fn cancel_running(&self, engine: &Engine, tag: u32, gen: crate::engine::slot::Gen) {
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
        let _ = self.flush();
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        // The registered index lives in the registering thread's table; from any other thread it
        // would name another ring. A `LocalContext` is dropped where it was built.
        if self.registered_by == Some(sys::gettid()) {
            unregister_ring_fd(self.ring.as_raw_fd(), self.enter_fd.0);
        }
    }
}

/// Whether the kernel takes `IORING_SETUP_SUBMIT_ALL` (5.18+), learned with a small ring and
/// kept once known (a property of the kernel); a build that failed for another reason (a
/// descriptor or memlock limit) decides nothing and is tried again next time.
fn submit_all_supported() -> bool {
    // 0: not known yet; 1: supported; 2: refused. Relaxed: a cache of a fixed fact; racing
    // probes find the same answer.
    // A process-wide static (a const constructor): std's atomic, outside any modelled protocol.
    use std::sync::atomic::{AtomicU8, Ordering};
    static KNOWN: AtomicU8 = AtomicU8::new(0);
    match KNOWN.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    match IoUring::<squeue::Entry>::builder()
        .setup_submit_all()
        .build(2)
    {
        Ok(_) => {
            KNOWN.store(1, Ordering::Relaxed);
            true
        }
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            KNOWN.store(2, Ordering::Relaxed);
            false
        }
        // Unknown: ask for it; a kernel without it refuses the real setup with EINVAL, and the
        // next build probes again.
        Err(_) => true,
    }
}

/// A ring setup failure, saying which asked-for setup the kernel may have refused.
fn setup_error(e: &std::io::Error, want: super::UringSetup) -> Error {
    let mut err = Error::from_io("io_uring_setup", e);
    if e.raw_os_error() == Some(libc::EINVAL) && want.sqpoll.is_some_and(|s| s.1.is_some()) {
        err =
            err.with_detail("the kernel refused the setup: is the sqpoll CPU online and allowed?");
    }
    err
}

/// Probes io_uring: ring creation and the opcodes the backend uses.
pub(crate) fn probe() -> std::result::Result<String, super::Refused> {
    use super::Refused;
    let ring = match IoUring::new(8) {
        Ok(r) => r,
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(0);
            return Err(Refused::by_errno(
                errno,
                match errno {
                    libc::ENOSYS => "io_uring_setup returned ENOSYS: blocked by seccomp or a \
                                     kernel without io_uring"
                        .into(),
                    libc::EPERM => format!(
                        "io_uring_setup returned EPERM: disabled by sysctl \
                         kernel.io_uring_disabled={}",
                        std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                            .unwrap_or_default()
                            .trim()
                    ),
                    libc::ENOMEM => "io_uring_setup returned ENOMEM: the memlock limit is too \
                                     low for the ring (probed again at the next build)"
                        .into(),
                    _ => format!("io_uring_setup failed: {e} (probed again at the next build)"),
                },
            ));
        }
    };
    let mut probe = io_uring::Probe::new();
    if let Err(e) = ring.submitter().register_probe(&mut probe) {
        return Err(Refused::by_errno(
            e.raw_os_error().unwrap_or(0),
            format!("IORING_REGISTER_PROBE failed: {e}"),
        ));
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
        return Err(Refused::lasting(format!(
            "kernel lacks io_uring opcodes: {}",
            missing.join(", ")
        )));
    }
    if !ring.params().is_feature_ext_arg() {
        return Err(Refused::lasting(
            "kernel lacks IORING_FEAT_EXT_ARG (timed waits)".into(),
        ));
    }
    Ok("io_uring_setup works; all opcodes used are supported".into())
}

/// What this kernel's io_uring offers, each thing probed (see [`super::caps`]): opcodes from
/// `IORING_REGISTER_PROBE`, features from a ring's parameters, and each setup flag by building
/// a small ring with it. `Err`: no ring at all, and why.
pub(crate) fn capabilities() -> std::result::Result<super::caps::Uring, String> {
    use super::caps::{Feature, Uring};
    let ring = IoUring::new(8).map_err(|e| format!("io_uring_setup failed: {e}"))?;
    let mut probe = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| format!("IORING_REGISTER_PROBE failed: {e}"))?;
    let opcodes = [
        ("READ", opcode::Read::CODE),
        ("WRITE", opcode::Write::CODE),
        ("READV", opcode::Readv::CODE),
        ("WRITEV", opcode::Writev::CODE),
        ("READ_FIXED", opcode::ReadFixed::CODE),
        ("WRITE_FIXED", opcode::WriteFixed::CODE),
        ("READV_FIXED", opcode::ReadvFixed::CODE),
        ("WRITEV_FIXED", opcode::WritevFixed::CODE),
        ("FSYNC", opcode::Fsync::CODE),
        ("FALLOCATE", opcode::Fallocate::CODE),
        ("NOP", opcode::Nop::CODE),
        ("ASYNC_CANCEL", opcode::AsyncCancel::CODE),
    ]
    .into_iter()
    .map(|(n, c)| (n, probe.is_supported(c)))
    .collect();
    let p = ring.params();
    let features = vec![
        ("NODROP", p.is_feature_nodrop()),
        ("SUBMIT_STABLE", p.is_feature_submit_stable()),
        ("FAST_POLL", p.is_feature_fast_poll()),
        ("EXT_ARG", p.is_feature_ext_arg()),
        ("NATIVE_WORKERS", p.is_feature_native_workers()),
        ("MIN_TIMEOUT", p.is_feature_min_timeout()),
    ];
    let try_setup = |name: &'static str, b: &mut io_uring::Builder, note: &str| {
        let (available, reason) = match b.build(8) {
            Ok(_) => (true, format!("a ring with it builds{note}")),
            Err(e) => (false, format!("io_uring_setup refused it: {e}")),
        };
        Feature {
            name,
            available,
            reason,
        }
    };
    let setup = vec![
        try_setup("SQPOLL", IoUring::builder().setup_sqpoll(1000), ""),
        try_setup(
            "IOPOLL",
            IoUring::builder().setup_iopoll(),
            "; I/O completes only on a device with poll queues",
        ),
        try_setup(
            "SINGLE_ISSUER",
            IoUring::builder().setup_single_issuer(),
            "",
        ),
        try_setup(
            "DEFER_TASKRUN",
            IoUring::builder()
                .setup_single_issuer()
                .setup_defer_taskrun(),
            " (with SINGLE_ISSUER)",
        ),
        try_setup("COOP_TASKRUN", IoUring::builder().setup_coop_taskrun(), ""),
        try_setup("SUBMIT_ALL", IoUring::builder().setup_submit_all(), ""),
        // Hybrid polling (6.13): the kernel sleeps about half a request's expected time before
        // it polls. Probed with a raw setup: the `io-uring` crate (0.7) has no setter for it,
        // so diorite's IOPOLL option cannot use it yet.
        match setup_accepts(8, IORING_SETUP_IOPOLL | IORING_SETUP_HYBRID_IOPOLL) {
            Ok(()) => Feature {
                name: "HYBRID_IOPOLL",
                available: true,
                reason: "a ring with it builds (with IOPOLL); not used by diorite: the io-uring \
                         crate it builds rings with cannot set it"
                    .into(),
            },
            Err(e) => Feature {
                name: "HYBRID_IOPOLL",
                available: false,
                reason: format!("io_uring_setup refused it (with IOPOLL): {e}"),
            },
        },
    ];
    Ok(Uring {
        opcodes,
        features,
        setup,
    })
}
