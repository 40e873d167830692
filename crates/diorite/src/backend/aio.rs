//! The Linux native AIO backend: raw `io_setup(2)`, `io_submit(2)`, `io_getevents(2)`,
//! `io_cancel(2)`, `io_destroy(2)`, with the kernel's `iocb` and `io_event` defined here and checked
//! against the ABI at compile time.
//!
//! - One AIO context per engine context; `aio_data` is `tag | piece << 16`.
//! - `PREADV`/`PWRITEV` (`PREAD`/`PWRITE` for one vector), `FSYNC`/`FDSYNC`, `aio_rw_flags` for
//!   `RWF_DSYNC`. Linux AIO has no no-op command: the engine completes a `noop` at submit, in
//!   user space, and gets a reaper blocked in `io_getevents` out with a wake-up poll iocb
//!   (`IOCB_CMD_POLL`, 4.18+, on an eventfd that is always readable).
//! - A `submit_batch` collects the iocbs of every request and hands them to one `io_submit` at
//!   the kick; a single `submit` issues at once.
//! - A partial `io_submit` (fewer accepted than offered) resubmits the rest: on `EAGAIN` after
//!   reaping, and an iocb the kernel refuses outright completes its piece with that error —
//!   a completion made in user space, so a reaper blocked in `io_getevents` is woken with a
//!   wake-up poll iocb. Nothing is dropped.
//! - One reaper at a time waits in `io_getevents` (see `kwait.rs`); `close` and the cases above
//!   get it out with as many wake-up poll iocbs as it waits for.
//! - Buffered (non-`O_DIRECT`) files make `io_submit` block in the caller: requests on them are
//!   refused with a recommendation to use the thread pool.
//! - `cancel` calls `io_cancel` for each piece; the completion (canceled or not) always arrives
//!   through the event ring, and the buffers stay in the slot until then.
//! - Polling reads the kernel's event ring in user space (the context id *is* the ring's
//!   address; fio's `userspace_reap`), with no syscall, when its header has the known magic and
//!   no incompatible features; every consumer — user-space reap or `io_getevents` — holds the
//!   `reap` lock, so the ring's head has one writer at a time.

use super::kwait::KernelWait;
use super::pieces::PieceTable;
use super::Wait;
use crate::direct::request::{OpKind, Request};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::sync::{lock, Mutex, UnsafeCell};
use crate::sys;
use crate::sys::aio::*;
use std::mem::size_of;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

const TAG_BITS: u32 = 16;
/// `aio_data` of a wake-up poll iocb (never a request's: tags and pieces use the low 48 bits).
const WAKE: u64 = 1 << 63;

/// Whether this process runs under valgrind, whose `io_setup` wrapper records the ring as the
/// size asked for, not the (larger) size the kernel mapped: reading the ring in user space would
/// be reported as invalid reads, so `io_getevents` reaps instead.
fn under_valgrind() -> bool {
    std::env::var_os("LD_PRELOAD").is_some_and(|v| v.to_string_lossy().contains("vgpreload"))
}

/// An eventfd that is always readable (its counter is 1 and nobody reads it): the target of
/// the wake-up poll iocbs.
fn ready_fd() -> std::result::Result<OwnedFd, i32> {
    sys::eventfd(1)
}

/// A poll iocb on the always-ready eventfd: completes at once, through the event ring.
fn ready_poll(fd: &OwnedFd, data: u64) -> Iocb {
    Iocb {
        aio_data: data,
        aio_lio_opcode: IOCB_CMD_POLL,
        aio_fildes: fd.as_raw_fd() as u32,
        aio_buf: libc::POLLIN as u64,
        ..Iocb::default()
    }
}

/// What the AIO probe reports: `io_setup` and poll iocbs work, and the system-wide limits.
pub(crate) fn probe() -> std::result::Result<String, super::Refused> {
    use super::Refused;
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
    let ctx = match io_setup(1) {
        Ok(ctx) => ctx,
        Err(e) => {
            let why = match e {
                libc::ENOSYS => {
                    "io_setup returned ENOSYS: blocked by seccomp or a kernel without AIO".into()
                }
                libc::EAGAIN => format!(
                    "io_setup returned EAGAIN: the system-wide AIO limit is reached ({limits}; \
                     probed again at the next build)"
                ),
                libc::EPERM => "io_setup returned EPERM: refused by policy".into(),
                e => format!(
                    "io_setup failed: {} (probed again at the next build)",
                    std::io::Error::from_raw_os_error(e)
                ),
            };
            return Err(Refused::by_errno(e, why));
        }
    };
    let poll = ready_fd().and_then(|fd| {
        let mut cb = ready_poll(&fd, 0);
        // SAFETY: one valid iocb on the stack; the kernel copies it at submit.
        unsafe { io_submit(ctx, &mut [&mut cb as *mut Iocb]) }?;
        let mut ev = [IoEvent::default()];
        // SAFETY: one valid io_event; no timeout (the poll is ready at once).
        match unsafe { io_getevents(ctx, 1, &mut ev, std::ptr::null_mut()) } {
            Ok(1) => Ok(()),
            Ok(_) => Err(libc::EIO),
            Err(e) => Err(e),
        }
    });
    io_destroy(ctx);
    match poll {
        Ok(()) => Ok(format!("io_setup and poll iocbs work; {limits}")),
        // A descriptor or memory limit (the eventfd) passes; anything else is the kernel's.
        Err(e @ (libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EAGAIN)) => Err(Refused {
            reason: format!(
                "the poll iocb probe failed: {} (probed again at the next build)",
                std::io::Error::from_raw_os_error(e)
            ),
            lasting: false,
        }),
        Err(e) => Err(Refused::lasting(format!(
            "IOCB_CMD_POLL does not work here (needs Linux 4.18+): {}",
            std::io::Error::from_raw_os_error(e)
        ))),
    }
}

pub(crate) struct Aio {
    ctx: u64,
    nr: u32,
    pieces: PieceTable,
    /// Per slot: the iocbs of its pieces. `io_cancel` needs the address that was submitted, so
    /// they live here until the request completes. Written by the submitter (slot RUNNING)
    /// under `submitting`.
    iocbs: Box<[UnsafeCell<Vec<Iocb>>]>,
    /// One reaper at a time owns `events` (and may wait in `io_getevents`).
    reap: crate::primitives::drain::DrainLock<Vec<IoEvent>>,
    /// Iocbs laid out and not yet handed to `io_submit` (a batch before its kick). Held while a
    /// slot's pieces and iocbs are written and submitted, and by `cancel_running` while it reads
    /// them: a cancel never reads a slot being (re)filled.
    submitting: Mutex<Vec<*mut Iocb>>,
    /// Who waits in `io_getevents`.
    kwait: KernelWait,
    /// Always readable: the target of wake-up poll iocbs.
    ready: OwnedFd,
    /// The completion fd (`Context::completion_fd`) the kernel signals for each event, or -1.
    /// Set once (Release), read when iocbs are built (Acquire).
    resfd: crate::sync::AtomicI32,
    /// The completion fd came after iocbs may have been issued without it: `deliver` checks
    /// each event's iocb and signals the fd for those. Set once, never cleared (Relaxed: see
    /// `attach_eventfd`).
    stragglers: crate::sync::AtomicBool,
    /// The builder allowed buffered files (`ContextBuilder::allow_blocking_aio`): their I/O
    /// runs inside `io_submit`, which then blocks.
    buffered_ok: bool,
    /// The kernel's event ring can be read in user space (checked once at setup).
    user_ring: bool,
    /// iocbs `io_submit` accepted minus events delivered: what the kernel holds. Relaxed: an
    /// estimate for the deferred-kick policy (`reactor.rs`), ordering nothing.
    in_kernel: crate::sync::AtomicI64,
    /// Whether the last `io_submit`'s iocbs had all completed when it returned (zram: the
    /// read is done inside the call): then submitting early keeps no device busy. Relaxed: a
    /// hint for the same policy.
    inline: crate::sync::AtomicBool,
}

// SAFETY: the per-slot cells follow the slot protocol (the submitter writes before io_submit;
// io_cancel reads the address of a RUNNING slot's iocb); `events` and the pending pointers are
// behind mutexes (the pointers name iocbs in `iocbs`); the AIO context itself is thread-safe in
// the kernel.
unsafe impl Sync for Aio {}
// SAFETY: as above.
unsafe impl Send for Aio {}

impl Aio {
    /// An AIO context for `depth` requests in flight, with per-tag state for tags `0..tags`.
    pub(crate) fn new(depth: u32, tags: u32, buffered_ok: bool) -> Result<Aio> {
        // The kernel doubles `nr` and counts it against the system-wide fs.aio-max-nr (65536 by
        // default): twice the depth, at most 8192 events. Pieces beyond that wait in `flush`
        // (EAGAIN) until completions make room.
        let nr = (depth * 2).clamp(128, 8192);
        let ready = ready_fd().map_err(|e| Error::os("Context::build", e))?;
        let mut pending = Vec::new();
        pending
            .try_reserve(depth as usize)
            .map_err(|_| Error::os("Context::build", libc::ENOMEM))?;
        let mut iocbs = Vec::new();
        iocbs
            .try_reserve_exact(tags as usize)
            .map_err(|_| Error::os("Context::build", libc::ENOMEM))?;
        iocbs.extend((0..tags).map(|_| UnsafeCell::new(Vec::new())));
        let pieces = PieceTable::new(tags)?;
        let ctx = io_setup(nr).map_err(|e| {
            let err = Error::os("io_setup", e);
            if e == libc::EAGAIN {
                err.with_detail("io_setup: the system-wide AIO limit fs.aio-max-nr is reached")
            } else {
                err
            }
        })?;
        // SAFETY: `ctx` is the address of the ring the kernel mapped for this context; its
        // header is readable for the context's life.
        let user_ring = !under_valgrind()
            && unsafe {
                let ring = ctx as *const AioRing;
                std::ptr::read_volatile(&(*ring).magic) == AIO_RING_MAGIC
                    && std::ptr::read_volatile(&(*ring).incompat_features) == 0
                    && std::ptr::read_volatile(&(*ring).header_length) as usize
                        == size_of::<AioRing>()
            };
        Ok(Aio {
            ctx,
            nr,
            user_ring,
            in_kernel: crate::sync::AtomicI64::new(0),
            inline: crate::sync::AtomicBool::new(false),
            pieces,
            iocbs: iocbs.into_boxed_slice(),
            reap: crate::primitives::drain::DrainLock::new(vec![IoEvent::default(); 256]),
            submitting: Mutex::new(pending),
            kwait: KernelWait::default(),
            ready,
            resfd: crate::sync::AtomicI32::new(-1),
            stragglers: crate::sync::AtomicBool::new(false),
            buffered_ok,
        })
    }

    pub(crate) fn report(&self) -> String {
        format!(
            "linux aio: {} events, one io_submit per batch, {}",
            self.nr,
            if self.user_ring {
                "user-space reaping"
            } else {
                "reaping by io_getevents"
            }
        )
    }

    /// Refuses what Linux AIO would do synchronously: I/O on a buffered file blocks `io_submit`.
    pub(crate) fn validate(&self, req: &Request) -> Result<()> {
        match &req.file {
            Some(f)
                if !self.buffered_ok
                    && !f.is_direct()
                    && matches!(req.op, OpKind::Read | OpKind::Write) =>
            {
                Err(
                    Error::new(ErrorKind::Unsupported, "submit").with_detail(format!(
                    "{} is not open with O_DIRECT: Linux AIO would block in io_submit; use the \
                     thread-pool backend for it, or allow it with \
                     ContextBuilder::allow_blocking_aio",
                    f.path().display()
                )),
                )
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn submit(&self, engine: &Engine, tag: u32, kick: bool) {
        // SAFETY: we were handed `tag`; the request is not used after its completion is posted.
        let Some(req) = (unsafe { engine.begin(tag) }) else {
            return;
        };
        let mut pending = lock(&self.submitting);
        // SAFETY: RUNNING for us, nothing issued yet.
        let (pieces, iov) = unsafe { self.pieces.layout(tag, req) };
        // SAFETY: RUNNING for us; read only by io_cancel (under `submitting`) after io_submit
        // accepted them.
        let iocbs = unsafe { &mut *self.iocbs[tag as usize].with_mut(|p| p) };
        iocbs.clear();
        let Some(file) = &req.file else {
            // noop: Linux AIO has no no-op command, so the engine completes it here — and, as
            // for every completion made in user space, gets a reaper out of io_getevents.
            drop(pending);
            self.pieces.done(engine, tag, 0, 0, false);
            self.wake();
            return;
        };
        if matches!(req.op, OpKind::Discard | OpKind::WriteZeroes) {
            // Linux AIO has no discard or zeroing command: performed here, in the submitting
            // thread, and completed in user space like a noop.
            drop(pending);
            let res = crate::direct::space::execute(req);
            self.pieces.done(engine, tag, 0, res, false);
            self.wake();
            return;
        }
        // Acquire: pairs with the Release store in `attach_eventfd`.
        let resfd = self.resfd.load(crate::sync::Ordering::Acquire);
        let base = Iocb {
            aio_fildes: file.fd().as_raw_fd() as u32,
            // The kernel signals the completion fd for this event (IOCB_FLAG_RESFD).
            aio_flags: if resfd >= 0 { IOCB_FLAG_RESFD } else { 0 },
            aio_resfd: resfd.max(0) as u32,
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
                    let prio = req.ioprio();
                    iocbs.push(Iocb {
                        aio_data: u64::from(tag) | ((i as u64) << TAG_BITS),
                        aio_lio_opcode: op,
                        aio_reqprio: prio as i16,
                        aio_flags: base.aio_flags | if prio != 0 { IOCB_FLAG_IOPRIO } else { 0 },
                        aio_rw_flags: req.rw_flags(),
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
        self.issue(engine, &mut pending, iocbs, kick);
    }

    /// Queues a slot's iocbs for `io_submit`, and submits everything queued when `kick`.
    fn issue(&self, engine: &Engine, pending: &mut Vec<*mut Iocb>, iocbs: &mut [Iocb], kick: bool) {
        // Grows only past `depth` pieces in one batch (split requests); reused after that.
        pending.extend(iocbs.iter_mut().map(|cb| cb as *mut Iocb));
        if kick {
            self.flush(engine, pending);
        }
    }

    /// Hands every queued iocb of a batch to the kernel.
    pub(crate) fn kick(&self, engine: &Engine) {
        let mut pending = lock(&self.submitting);
        self.flush(engine, &mut pending);
    }

    /// `io_submit` until every queued iocb is accepted or failed; partial submits resubmit the
    /// rest. Caller holds `submitting`.
    fn flush(&self, engine: &Engine, pending: &mut Vec<*mut Iocb>) {
        let mut next = 0;
        let mut completed_here = false;
        let tail_before = self.ring_tail();
        while next < pending.len() {
            // SAFETY: every pointer names an initialized iocb in its slot's `iocbs`, which stays
            // put until the request completes; their buffers and iovecs live in the slot too.
            match unsafe { io_submit(self.ctx, &mut pending[next..]) } {
                Ok(n) if n > 0 => {
                    next += n;
                    // Relaxed: an estimate (see the field).
                    self.in_kernel
                        .fetch_add(n as i64, crate::sync::Ordering::Relaxed);
                }
                Ok(_) | Err(libc::EAGAIN) | Err(libc::EINTR) => {
                    // The AIO ring is full: collect completions, then resubmit the rest.
                    self.poll(engine);
                    std::thread::yield_now();
                }
                Err(e) => {
                    // The kernel refuses this iocb: its piece fails with that error.
                    // SAFETY: as above; only `aio_data` is read.
                    let data = unsafe { (*pending[next]).aio_data };
                    let (tag, piece) = ((data & 0xffff) as u32, (data >> TAG_BITS) as usize);
                    self.pieces.done(engine, tag, piece, -i64::from(e), false);
                    completed_here = true;
                    next += 1;
                }
            }
        }
        if let (Some((a, nr)), Some((b, _))) = (tail_before, self.ring_tail()) {
            let done = (b + nr - a) % nr.max(1);
            // Relaxed: a hint (see the field).
            self.inline.store(
                next > 0 && done as usize >= next,
                crate::sync::Ordering::Relaxed,
            );
        }
        pending.clear();
        if completed_here {
            // A completion made in user space: a reaper in io_getevents would not see it.
            self.wake();
        }
    }

    pub(crate) fn kernel_wait(&self) -> &KernelWait {
        &self.kwait
    }

    /// Has the kernel signal `fd` for every event from now on. Iocbs issued before carry no
    /// `IOCB_FLAG_RESFD`: from now on `deliver` looks for their events and signals `fd` for
    /// them itself (the caller makes sure someone delivers: `Context::completion_fd`).
    pub(crate) fn attach_eventfd(&self, fd: i32) {
        // Relaxed: `stragglers` is read by deliverers, who look at each event's own iocb; the
        // order against submitters is made by the caller (`Admission::in_flight_synced`).
        self.stragglers.store(true, crate::sync::Ordering::Relaxed);
        // Release: pairs with the Acquire load in `submit`; with the admission RMW of
        // `Context::completion_fd` it orders this store before every later-admitted iocb.
        self.resfd.store(fd, crate::sync::Ordering::Release);
    }

    /// Gets a reaper out of `io_getevents`: one wake-up poll iocb per event it waits for.
    pub(crate) fn wake(&self) {
        let mut n = self.kwait.need();
        while n > 0 {
            let k = n.min(64);
            let mut cbs = [ready_poll(&self.ready, WAKE); 64];
            let mut ptrs = [std::ptr::null_mut::<Iocb>(); 64];
            for (p, cb) in ptrs.iter_mut().zip(cbs.iter_mut()) {
                *p = cb;
            }
            // SAFETY: `k` valid iocbs on the stack; the kernel copies a poll iocb at submit and
            // keeps its address only as the event's `obj` (never dereferenced).
            match unsafe { io_submit(self.ctx, &mut ptrs[..k]) } {
                Ok(m) if m > 0 => n -= m,
                // The event ring is full: the waiter has events to read, so it is waking.
                _ => return,
            }
        }
    }

    /// Collects finished events without blocking — from the ring in user space when it can,
    /// with no syscall. `true` when it reaped anything.
    pub(crate) fn poll(&self, engine: &Engine) -> bool {
        // A caller that finds `reap` held has its holder drain once more (`drain.rs`).
        self.reap.drain(|events| self.poll_held(engine, events))
    }

    /// [`Aio::poll`]'s drain, with `reap` held.
    fn poll_held(&self, engine: &Engine, events: &mut [IoEvent]) -> bool {
        let mut any = false;
        loop {
            let n = if self.user_ring {
                // SAFETY: we hold `reap`, so no other consumer moves the ring's head.
                unsafe { self.reap_user(events) }
            } else {
                self.getevents(
                    events,
                    0,
                    Some(libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    }),
                )
            };
            self.deliver(engine, &events[..n]);
            any |= n > 0;
            if n < events.len() {
                return any;
            }
        }
    }

    /// About how many iocbs the kernel holds (accepted, event not yet delivered), and whether
    /// they complete inside `io_submit`.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn in_kernel(&self) -> (u64, bool) {
        // Relaxed: an estimate and a hint (see the fields).
        (
            self.in_kernel.load(crate::sync::Ordering::Relaxed).max(0) as u64,
            self.inline.load(crate::sync::Ordering::Relaxed),
        )
    }

    /// The completion ring's tail and size, when it is read in user space.
    fn ring_tail(&self) -> Option<(u32, u32)> {
        // The kernel's ring memory, read through std atomics (`from_ptr`): kernel ABI, not a
        // modelled protocol.
        use std::sync::atomic::{AtomicU32, Ordering};
        if !self.user_ring {
            return None;
        }
        let ring = self.ctx as *mut AioRing;
        // SAFETY: as in `reap_user`: the header is mapped for the context's life; `tail` is an
        // aligned u32 the kernel writes concurrently, so read atomically; `nr` is fixed.
        let (tail, nr) = unsafe {
            (
                AtomicU32::from_ptr(std::ptr::addr_of_mut!((*ring).tail)),
                std::ptr::read_volatile(std::ptr::addr_of!((*ring).nr)),
            )
        };
        // Relaxed: a hint; no event is read through it.
        Some((tail.load(Ordering::Relaxed), nr))
    }

    /// Whether `poll` costs no syscall.
    pub(crate) fn polls_in_user_space(&self) -> bool {
        self.user_ring
    }

    /// Copies finished events out of the kernel's ring and moves its head past them.
    ///
    /// # Safety
    /// The caller holds `reap` (every consumer of the ring does), and `user_ring` is set.
    unsafe fn reap_user(&self, events: &mut [IoEvent]) -> usize {
        // The kernel's ring memory, read through std atomics (`from_ptr`): kernel ABI, not a
        // modelled protocol.
        use std::sync::atomic::{AtomicU32, Ordering};
        let ring = self.ctx as *mut AioRing;
        // SAFETY: the ring header is mapped for the context's life; `head` and `tail` are
        // aligned u32s that the kernel accesses concurrently, so only atomically here.
        let (head_a, tail_a, nr) = unsafe {
            (
                AtomicU32::from_ptr(std::ptr::addr_of_mut!((*ring).head)),
                AtomicU32::from_ptr(std::ptr::addr_of_mut!((*ring).tail)),
                std::ptr::read_volatile(std::ptr::addr_of!((*ring).nr)),
            )
        };
        // Relaxed: only holders of `reap` write the head (we hold it).
        let mut head = head_a.load(Ordering::Relaxed);
        // Acquire: pairs with the kernel's smp_wmb between writing an event and publishing the
        // tail (aio_complete).
        let tail = tail_a.load(Ordering::Acquire);
        let mut n = 0;
        while head != tail && n < events.len() && head < nr {
            // SAFETY: `head < nr`: an event slot inside the mapped ring, published by `tail`.
            events[n] = unsafe {
                std::ptr::read_volatile(
                    (ring as *const u8)
                        .add(size_of::<AioRing>() + head as usize * size_of::<IoEvent>())
                        .cast::<IoEvent>(),
                )
            };
            head = (head + 1) % nr;
            n += 1;
        }
        if n > 0 {
            // Release: the event reads above happen before the kernel may reuse their slots.
            head_a.store(head, Ordering::Release);
        }
        n
    }

    fn getevents(&self, events: &mut [IoEvent], min: usize, ts: Option<libc::timespec>) -> usize {
        let mut ts = ts;
        let tsp = ts
            .as_mut()
            .map_or(std::ptr::null_mut(), |t| t as *mut libc::timespec);
        // SAFETY: `events` is valid for `events.len()` io_events; `tsp` is null or valid.
        unsafe { io_getevents(self.ctx, min, events, tsp) }.unwrap_or(0)
    }

    fn deliver(&self, engine: &Engine, events: &[IoEvent]) {
        let mut n = 0;
        // Events of iocbs issued before the completion fd existed signal nobody: signal it
        // here for them (only once a completion fd was attached late; see `attach_eventfd`).
        let look = self.stragglers.load(crate::sync::Ordering::Relaxed);
        let mut unsignaled = false;
        for ev in events {
            if ev.data & WAKE != 0 {
                continue;
            }
            if look {
                // SAFETY: `obj` is the address of the iocb in the slot's iocb list, which stays
                // in place until the slot's completion is posted (below, by `done`).
                let flags = unsafe { (*(ev.obj as *const Iocb)).aio_flags };
                unsignaled |= flags & IOCB_FLAG_RESFD == 0;
            }
            n += 1;
            let (tag, piece) = (
                (ev.data & ((1 << TAG_BITS) - 1)) as u32,
                (ev.data >> TAG_BITS) as usize,
            );
            self.pieces.done(engine, tag, piece, ev.res, true);
        }
        if n > 0 {
            // Relaxed: an estimate (see the field); one update per batch of events.
            self.in_kernel.fetch_sub(n, crate::sync::Ordering::Relaxed);
        }
        if unsignaled {
            engine.signal_notify();
        }
    }

    /// One reaper at a time waits in `io_getevents` for a completion or until `deadline`;
    /// [`Wait::Busy`] when another reaper is already there.
    pub(crate) fn wait(
        &self,
        engine: &Engine,
        _need: usize,
        deadline: Option<Instant>,
        driver: bool,
    ) -> Wait {
        let Some(mut held) = self.reap.try_hold() else {
            return Wait::Busy;
        };
        // One event is enough to return: a submitter whose `io_submit` got EAGAIN waits for
        // this reaper to collect events, so the reaper must not wait for requests that are
        // still queued behind that submitter. (It collects up to 256 events per call anyway.)
        let Some(kwait) = self.kwait.try_enter(1, engine.cq(), driver) else {
            if held.release() {
                self.poll(engine); // a poller asked meanwhile (`drain.rs`)
            }
            return Wait::Busy;
        };
        let ts = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            libc::timespec {
                tv_sec: left.as_secs() as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            }
        });
        let events = held.state();
        let n = self.getevents(events, 1, ts);
        self.deliver(engine, &events[..n]);
        drop(kwait);
        if held.release() {
            // A poller found `reap` held while we waited: drain for it (`drain.rs`).
            self.poll(engine);
        }
        Wait::Waited
    }

    /// `io_cancel` for each piece of slot `tag`; whatever it returns, the completion arrives
    /// through the event ring.
    pub(crate) fn cancel_running(&self, engine: &Engine, tag: u32, gen: crate::engine::slot::Gen) {
        let mut pending = lock(&self.submitting);
        if !engine.is_running(tag, gen) {
            return;
        }
        // Its iocbs may still wait for a deferred kick (`reactor.rs`): io_cancel finds only
        // submitted ones.
        self.flush(engine, &mut pending);
        if !engine.is_running(tag, gen) {
            return;
        }
        // SAFETY: under `submitting` no submitter writes the slot's iocbs, and the slot still
        // holds generation `gen`'s issued request.
        let iocbs = unsafe { &mut *self.iocbs[tag as usize].with_mut(|p| p) };
        for cb in iocbs.iter_mut() {
            // SAFETY: `cb` is the submitted iocb's address, in the slot until its event.
            unsafe { io_cancel(self.ctx, cb) };
        }
    }
}

impl Drop for Aio {
    fn drop(&mut self) {
        // Every request has completed and been reaped before the shared state is dropped.
        // (`&mut self`: no reaper is left.)
        io_destroy(self.ctx);
    }
}
