//! [`Context`]: the AIO context (after the kernel's `fs/aio.c`).
//!
//! A request's life: `submit` validates it, is admitted (`admission.rs`), takes a tag — the tag
//! *is* the request's slot — parks the request in the slot (`slot.rs`) and hands the backend the
//! tag. The backend performs the I/O and posts the slot's one completion to the completion queue
//! (`completion.rs`). `get_events` reaps a batch, turns each slot into a [`Completion`], and
//! frees the slot, the tag and the admission; when there is not enough to reap, it lets the
//! backend make progress (`poll`), then waits — in the kernel (one reaper at a time, holding
//! nothing a submitter needs) or on the completion queue.
//!
//! # Lifetime
//! `shutdown` (and `Drop`, and `close`) stops admission, cancels what has not been issued, waits
//! until every issued request has completed, reaps and drops those completions (returning their
//! buffers), closes the completion queue (releasing every reaper, also one in the kernel) and
//! only then stops the backend. Nothing is freed while a worker or the kernel may still touch
//! it, and nothing is delivered afterwards.

pub mod local;

use crate::backend::{
    self, Backend, BackendChoice, BackendKind, BackendStatus, Registration, Wait,
};
use crate::delivery::driver::Driver;
#[cfg(feature = "tokio")]
use crate::delivery::reactor::WatchFd;
use crate::delivery::reactor::{Reactor, SubmitBatching};
use crate::direct::bounce::{self, Alignment};
use crate::direct::buf::BufPool;
use crate::direct::dio;
use crate::direct::file::DirectFile;
use crate::direct::request::{Completion, Request, RequestId};
use crate::engine::slot::Cancel;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a [`Context`] is built. See [`Context::builder`].
#[derive(Clone, Debug)]
pub struct ContextBuilder {
    depth: u32,
    backend: BackendChoice,
    threads: usize,
    ring: Option<usize>,
    files: Vec<DirectFile>,
    pools: Vec<BufPool>,
    blocking_aio: bool,
    reactor: Reactor,
    uring: backend::UringSetup,
    faults: Option<crate::faults::Faults>,
    recorder: Option<crate::faults::Recorder>,
    alignment: Alignment,
    batching: SubmitBatching,
}

impl ContextBuilder {
    /// The most requests in flight at once (1..=65536; default 128). io_uring rings are sized
    /// for it within the kernel's limits (SQ at most 4096 entries, CQ at most 65536 with
    /// overflowing completions kept by the kernel), so every depth in range is valid on every
    /// backend.
    pub fn depth(&mut self, depth: u32) -> &mut ContextBuilder {
        self.depth = depth;
        self
    }

    /// Which backend to use (default [`BackendChoice::Auto`]).
    pub fn backend(&mut self, choice: BackendChoice) -> &mut ContextBuilder {
        self.backend = choice;
        self
    }

    /// Worker threads of the thread-pool backend (default 4).
    pub fn threads(&mut self, n: usize) -> &mut ContextBuilder {
        self.threads = n;
        self
    }

    /// Completion ring size, `1..=depth` (default: `depth`, which never overflows). A smaller
    /// ring saves memory; completions that do not fit wait on the overflow list (preallocated,
    /// locked), in order.
    pub fn completion_ring(&mut self, n: usize) -> &mut ContextBuilder {
        self.ring = Some(n);
        self
    }

    /// Lets the Linux AIO backend take files not open with `O_DIRECT` (default `false`). The
    /// kernel performs buffered AIO inside `io_submit`, so `submit` then blocks for the I/O —
    /// what fio's `libaio` engine does with `direct=0`. Other backends ignore it.
    pub fn allow_blocking_aio(&mut self, v: bool) -> &mut ContextBuilder {
        self.blocking_aio = v;
        self
    }

    /// How completions of the kernel backends reach this context's futures (default
    /// [`Reactor::Thread`], which works with every executor). See [`Reactor`], whose example
    /// sets it.
    pub fn reactor(&mut self, reactor: Reactor) -> &mut ContextBuilder {
        self.reactor = reactor;
        self
    }

    /// What the context does with misaligned reads and writes: refuse them
    /// ([`Alignment::Strict`], the default) or bounce them ([`Alignment::Bounce`]; see
    /// [`crate::direct::bounce`] for the cost, and [`Alignment`] for an example).
    pub fn alignment(&mut self, alignment: Alignment) -> &mut ContextBuilder {
        self.alignment = alignment;
        self
    }

    /// With `Reactor::Tokio`: when a future's submission enters the kernel — batched with
    /// the others its task makes before it yields (the default), at once, or batched unless
    /// the device may run short of work. See [`SubmitBatching`]. No effect on other reactors.
    pub fn submit_batching(&mut self, batching: SubmitBatching) -> &mut ContextBuilder {
        self.batching = batching;
        self
    }

    /// Registers `file` with the kernel when the backend supports it (io_uring's fixed-file
    /// table): requests on it then skip the per-I/O file-table lookup. The context keeps the
    /// file open until it is dropped. Never a reason for `build` to fail: see
    /// [`Context::registration`].
    pub fn register_file(&mut self, file: &DirectFile) -> &mut ContextBuilder {
        self.files.push(file.clone());
        self
    }

    /// Registers `pool`'s memory with the kernel when the backend supports it (io_uring fixed
    /// buffers): single-buffer reads and writes on its buffers then skip the per-I/O page
    /// pinning. The context keeps the pool's memory alive until it is dropped. Pinning counts
    /// against `RLIMIT_MEMLOCK` (unless the process has `CAP_IPC_LOCK`); when the kernel refuses
    /// (`ENOMEM`) the context runs unregistered and [`Context::registration`] says why.
    pub fn register_pool(&mut self, pool: &BufPool) -> &mut ContextBuilder {
        self.pools.push(pool.clone());
        self
    }

    /// Has a kernel thread poll the io_uring submission queue (`IORING_SETUP_SQPOLL`, fio's
    /// `sqthread_poll`): submitting then costs no syscall while the thread is awake; it sleeps
    /// after `idle_ms` without work, and the next submit wakes it with one enter. The thread
    /// burns a CPU while awake. io_uring only: with [`BackendChoice::Auto`] the build fails
    /// rather than fall back to a backend without it.
    ///
    /// ```
    /// # fn main() -> diorite::Result<()> {
    /// let ctx = diorite::Context::builder().sqpoll(10).build()?;
    /// assert!(ctx.backend_report().contains("sqpoll"));
    /// # Ok(()) }
    /// ```
    pub fn sqpoll(&mut self, idle_ms: u32) -> &mut ContextBuilder {
        let cpu = self.uring.sqpoll.and_then(|s| s.1);
        self.uring.sqpoll = Some((idle_ms, cpu));
        self
    }

    /// Binds the SQPOLL thread to `cpu` (fio's `sqthread_poll_cpu`); implies [`sqpoll`] with
    /// a 1000 ms idle time unless that was set. A CPU that is offline or not allowed makes
    /// `build` fail with the kernel's `EINVAL`.
    ///
    /// [`sqpoll`]: ContextBuilder::sqpoll
    pub fn sqpoll_cpu(&mut self, cpu: u32) -> &mut ContextBuilder {
        let idle = self.uring.sqpoll.map_or(1000, |s| s.0);
        self.uring.sqpoll = Some((idle, Some(cpu)));
        self
    }

    /// Polls the device for completions instead of waiting for interrupts (`IORING_SETUP_IOPOLL`,
    /// fio's `hipri`): lowest latency on NVMe with poll queues, at the price of a reaper that
    /// spins. Only reads and writes on `O_DIRECT` files of devices with poll queues
    /// ([`Geometry::polled`](crate::Geometry::polled)) are accepted; anything else is refused at
    /// submit with [`ErrorKind::Unsupported`], because it would never complete by polling. No
    /// completion fd. io_uring only, as [`sqpoll`](ContextBuilder::sqpoll).
    pub fn iopoll(&mut self, on: bool) -> &mut ContextBuilder {
        self.uring.iopoll = on;
        self
    }

    /// Runs the context on the faulty backend ([`BackendChoice::Faulty`]: the thread pool with
    /// these fault rules; see [`crate::faults`]), whatever [`backend`](ContextBuilder::backend)
    /// said.
    ///
    /// ```
    /// use diorite::faults::Faults;
    /// let ctx = diorite::Context::builder().faults(Faults::parse("write:nth=2:eio", 1)?).build()?;
    /// assert_eq!(ctx.backend(), diorite::BackendKind::Faulty);
    /// # Ok::<(), diorite::Error>(())
    /// ```
    pub fn faults(&mut self, faults: crate::faults::Faults) -> &mut ContextBuilder {
        self.faults = Some(faults);
        self
    }

    /// Records what the context issues for the power-loss simulator ([`crate::faults`]'s
    /// [`Recorder`](crate::faults::Recorder)): every write, write-zeroes, discard and flush, with
    /// its bytes and its issue and completion events. The context runs on the faulty backend
    /// (the thread pool, with the fault rules given to [`faults`](ContextBuilder::faults), if
    /// any), which performs each request as one system call, so the record is in the order the
    /// kernel saw them. [`build`](ContextBuilder::build) refuses it with
    /// [`Alignment::Bounce`]: bounced writes do not go through the backend, so the record would
    /// miss them.
    pub fn record(&mut self, recorder: &crate::faults::Recorder) -> &mut ContextBuilder {
        self.recorder = Some(recorder.clone());
        self
    }

    /// [`build`](ContextBuilder::build) with io_uring's single-issuer setup: the context a
    /// `LocalContext` wraps (`ContextBuilder::build_local`, in `local.rs`).
    pub(crate) fn build_single_issuer(&self) -> Result<Context> {
        let mut b = self.clone();
        b.uring.single_issuer = true;
        b.build()
    }

    /// Builds the context, starting its backend.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a depth, thread count or ring size out of range;
    /// [`ErrorKind::Unsupported`] when the chosen backend is not available here (the error says
    /// why; `Auto` falls back instead, and [`Context::skipped_backends`] says why);
    /// [`ErrorKind::Os`] when starting the backend fails, including `ENOMEM` when memory for the
    /// context cannot be allocated (never an abort).
    pub fn build(&self) -> Result<Context> {
        const OP: &str = "Context::build";
        if self.threads == 0 || self.threads > 1024 {
            return Err(Error::new(ErrorKind::InvalidInput, OP).with_detail(format!(
                "threads {} is out of range (required: 1..=1024)",
                self.threads
            )));
        }
        if self.recorder.is_some() && self.alignment == Alignment::Bounce {
            return Err(Error::new(ErrorKind::InvalidInput, OP).with_detail(
                "a recorded context cannot bounce unaligned I/O: bounced writes bypass the \
                 backend, so the record would miss them (use Alignment::Strict)",
            ));
        }
        crate::sys::watch_forks();
        let born = crate::sys::fork_generation();
        let mut engine = Engine::new(self.depth, self.ring.unwrap_or(self.depth as usize))?;
        let register = backend::RegisterRequest {
            files: &self.files,
            pools: &self.pools,
            blocking_aio: self.blocking_aio,
            uring: self.uring,
            faults: self.faults.as_ref(),
            recorder: self.recorder.as_ref(),
        };
        // Fault rules and a recorder choose the faulty backend whatever `backend` said, in
        // either order of the builder calls.
        let choice = match (&self.faults, &self.recorder) {
            (None, None) => self.backend,
            _ => BackendChoice::Faulty,
        };
        let (backend, skipped) =
            backend::select(choice, self.depth, engine.tags(), self.threads, &register)?;
        if self.uring.single_issuer && backend.completes_in_caller() {
            // A LocalContext (no futures, one thread): every completion is posted by the
            // thread that reaps.
            engine.set_one_thread();
        }
        let engine = Arc::new(engine);
        backend.start(&engine)?;
        Ok(Context {
            engine,
            backend: Arc::new(backend),
            driver: Driver::default(),
            reactor: self.reactor,
            alignment: self.alignment,
            bounced: crate::sync::AtomicU64::new(0),
            batching: self.batching,
            #[cfg(feature = "tokio")]
            tokio: crate::delivery::reactor::TokioWatchers::new(),
            skipped,
            register_asked: !self.files.is_empty() || !self.pools.is_empty(),
            notify: std::sync::Mutex::new(None),
            finished: false,
            born,
        })
    }
}

/// The reason `submit` refused a request, with the request handed back unchanged.
pub struct SubmitError {
    /// Why it was refused.
    pub error: Error,
    /// The request, with its buffers.
    pub request: Request,
}

impl fmt::Debug for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitError")
            .field("error", &self.error)
            .field("request", &self.request)
            .finish()
    }
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for SubmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<SubmitError> for Error {
    fn from(e: SubmitError) -> Error {
        e.error
    }
}

/// An asynchronous direct-I/O context: submit requests, reap completions, from any threads.
///
/// # Examples
/// ```
/// use diorite::{BackendChoice, Context, Request};
/// use std::time::Duration;
/// let ctx = Context::builder().depth(8).backend(BackendChoice::Threads).build()?;
/// let id = ctx.submit(Request::noop().with_user_data(7)).map_err(|e| e.error)?;
/// let mut done = Vec::new();
/// ctx.get_events(1, 8, Some(Duration::from_secs(5)), &mut done)?;
/// assert_eq!((done[0].id, done[0].user_data), (id, 7));
/// ctx.shutdown()?;
/// # Ok::<(), diorite::Error>(())
/// ```
pub struct Context {
    /// Slots, tags, admission and completions; shared with the backend's workers.
    engine: Arc<Engine>,
    /// Shared with the async driver thread, which `shutdown` joins before the backend stops.
    backend: Arc<Backend>,
    /// Collects kernel completions for futures (started by the first one; `driver.rs`).
    driver: Driver,
    reactor: Reactor,
    /// [`Alignment::Bounce`]: misaligned reads and writes are performed by the submitting call
    /// through a bounce buffer (`bounce.rs`).
    alignment: Alignment,
    /// Requests bounced so far (Relaxed: a statistic, read alone).
    bounced: crate::sync::AtomicU64,
    /// With [`Reactor::Tokio`]: when futures' submissions wait for the watcher's kick
    /// (`reactor.rs`).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    batching: SubmitBatching,
    /// With [`Reactor::Tokio`]: the watcher task of each runtime (`reactor.rs`).
    #[cfg(feature = "tokio")]
    tokio: crate::delivery::reactor::TokioWatchers,
    skipped: Vec<BackendStatus>,
    /// Whether the builder asked for registered files or buffers.
    register_asked: bool,
    /// The completion fd, made on the first `completion_fd` call and never replaced.
    notify: std::sync::Mutex<Option<std::os::fd::OwnedFd>>,
    finished: bool,
    /// The fork generation of the process that built it (`sys::fork_generation`). In a forked
    /// child every call fails with [`ErrorKind::Forked`] before touching a queue: the io_uring
    /// rings are shared memory with the parent's kernel object (a child's entry would run in
    /// the parent, on the parent's addresses), AIO's ring and the pool's workers do not exist
    /// there. Dropped in a child, the context frees its copy of the memory and closes its
    /// descriptors without waiting for anything.
    born: u64,
}

impl Context {
    /// `Err(Forked)` in a process other than the one that built the context (see `born`).
    #[inline]
    fn owned(&self, op: &'static str) -> Result<()> {
        if crate::sys::fork_generation() == self.born {
            return Ok(());
        }
        Err(Error::new(ErrorKind::Forked, op).with_detail(
            "this context was built by the parent of this process; a forked child must build \
             its own",
        ))
    }

    /// A builder with depth 128, [`BackendChoice::Auto`] and 4 pool threads.
    pub fn builder() -> ContextBuilder {
        ContextBuilder {
            depth: 128,
            backend: BackendChoice::Auto,
            threads: 4,
            ring: None,
            files: Vec::new(),
            pools: Vec::new(),
            blocking_aio: false,
            reactor: Reactor::Thread,
            uring: backend::UringSetup::default(),
            faults: None,
            recorder: None,
            alignment: Alignment::Strict,
            batching: SubmitBatching::Always,
        }
    }

    /// Validates `req`, parks it in a free slot and hands it to the backend. Never waits for
    /// another thread: with `depth` requests in flight it returns `QueueFull` at once.
    ///
    /// # Errors
    /// The request comes back in [`SubmitError`] with: [`ErrorKind::Misaligned`],
    /// [`ErrorKind::OutOfRange`] or [`ErrorKind::InvalidInput`] from validation (nothing was
    /// issued); [`ErrorKind::QueueFull`] when `depth` requests are in flight;
    /// [`ErrorKind::Shutdown`] once shutdown has begun.
    pub fn submit(&self, req: Request) -> std::result::Result<RequestId, SubmitError> {
        self.submit_one(req, true)
    }

    fn submit_one(&self, req: Request, kick: bool) -> std::result::Result<RequestId, SubmitError> {
        if let Err(error) = self.owned("submit") {
            return Err(SubmitError {
                error,
                request: req,
            });
        }
        if self.alignment == Alignment::Bounce && bounce::misaligned(&req) {
            return self.submit_bounced(req, None);
        }
        if let Err(error) = dio::validate(&req).and_then(|()| self.backend.validate(&req)) {
            return Err(SubmitError {
                error,
                request: req,
            });
        }
        match self.engine.queue(req) {
            Ok((tag, id)) => {
                self.backend.submit(&self.engine, tag, kick);
                Ok(id)
            }
            Err((error, request)) => Err(SubmitError { error, request }),
        }
    }

    /// Submits requests from the front of `reqs` until one does not fit, removing the submitted
    /// ones; returns how many were submitted. The backend is kicked once for the whole batch
    /// (one `io_uring_enter` or one `io_submit`). `reqs` keeps its capacity: a caller that
    /// reuses it does not allocate per batch.
    ///
    /// # Errors
    /// When the *first* request is refused, its error (the request stays in `reqs`). A refusal
    /// after at least one success ends the batch early with `Ok(n)`; the refused request is left
    /// at the front for the caller to retry or inspect.
    pub fn submit_batch(&self, reqs: &mut Vec<Request>) -> Result<usize> {
        let mut n = 0;
        let mut first_err = None;
        for slot in reqs.iter_mut() {
            // A no-op placeholder holds the place of the request being submitted; it owns
            // nothing, so making and dropping it costs no allocation.
            let req = std::mem::replace(slot, Request::noop());
            match self.submit_one(req, false) {
                Ok(_) => n += 1,
                Err(e) => {
                    *slot = e.request;
                    first_err = Some(e.error);
                    break;
                }
            }
        }
        reqs.drain(..n);
        if n > 0 {
            self.backend.kick(&self.engine);
        }
        match (n, first_err) {
            (0, Some(e)) => Err(e),
            _ => Ok(n),
        }
    }

    /// Reaps completions into `out`: returns as soon as `min_nr` are available (taking up to
    /// `max_nr`), or when `timeout` passes with what it has, possibly fewer (`None`: no limit).
    ///
    /// On the thread-pool backend a caller that would otherwise wait performs queued requests
    /// itself, so one call may take as long as one I/O beyond its timeout. A waiting reaper
    /// never holds anything a submitter needs.
    /// Equivalent to [`io_getevents(2)`](https://man7.org/linux/man-pages/man2/io_getevents.2.html).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] when `min_nr > max_nr`; [`ErrorKind::Shutdown`] when the
    /// context was closed (by another thread) and nothing is left to reap — whatever `min_nr`,
    /// `max_nr` and `timeout` are, so a non-blocking event loop learns it too.
    pub fn get_events(
        &self,
        min_nr: usize,
        max_nr: usize,
        timeout: Option<Duration>,
        out: &mut Vec<Completion>,
    ) -> Result<usize> {
        self.owned("get_events")?;
        if min_nr > max_nr {
            return Err(Error::new(ErrorKind::InvalidInput, "get_events")
                .with_detail(format!("min_nr {min_nr} is greater than max_nr {max_nr}")));
        }
        let (engine, cq) = (&*self.engine, self.engine.cq());
        // Read the clock only when about to wait: a reap that finds its completions costs no
        // clock read (tens of nanoseconds in a VM). The few microseconds of reaping before it
        // count toward no timeout. A timeout too large for the clock is no limit.
        let mut deadline: Option<Option<Instant>> = None;
        let mut got = 0;
        let mut polled = false;
        // Whether this call moved kernel completions into the queue: those it leaves there
        // are announced on the completion fd as it returns (`Engine::hand_over`).
        let mut moved = false;
        let done = |got: usize, moved: bool| {
            engine.hand_over(moved);
            Ok(got)
        };
        loop {
            got += engine.reap(max_nr - got, out);
            if max_nr == 0 || (got >= min_nr && (got > 0 || polled)) {
                // A closed context with nothing left says so, also to a caller that does not
                // wait (an event loop's `get_events(0, n, Some(ZERO))`): it has no other way
                // to learn it.
                if got == 0 && cq.is_closed() {
                    return Err(Error::new(ErrorKind::Shutdown, "get_events"));
                }
                return done(got, moved);
            }
            if got >= min_nr {
                // `min_nr == 0` and nothing reaped yet: completions the kernel holds count as
                // available too; collect them once, without waiting.
                polled = true;
                moved |= self.backend.poll(engine);
                continue;
            }
            if cq.is_closed() {
                return match got {
                    0 => Err(Error::new(ErrorKind::Shutdown, "get_events")),
                    n => Ok(n),
                };
            }
            if self.backend.poll(engine) {
                moved = true;
                continue;
            }
            let need = min_nr - got;
            let deadline = *deadline
                .get_or_insert_with(|| timeout.and_then(|t| Instant::now().checked_add(t)));
            if !self.backend.reaped_from_kernel() {
                // Spin briefly before sleeping: completions from pool workers usually follow
                // within microseconds. (Kernel backends deliver only when a reaper collects
                // them: no spin.)
                let backoff = crate::sync::Backoff::new();
                while !backoff.is_completed() && cq.ring_len() == (0, false) {
                    backoff.snooze();
                }
                if cq.ring_len() != (0, false) {
                    continue;
                }
            }
            let slept = match self.backend.wait(engine, need, deadline) {
                Wait::Waited => {
                    moved = true;
                    deadline.is_none_or(|d| Instant::now() < d)
                }
                Wait::Unsupported => cq.sleep(need, deadline, None),
                Wait::Busy => {
                    let kw = self.backend.kernel_wait();
                    // The reaper in the kernel waits for more than we need: get it out, so it
                    // delivers what has arrived.
                    if kw.is_some_and(|k| k.need() > need) {
                        self.backend.wake_kernel_waiter();
                    }
                    let free = || kw.is_none_or(|k| k.is_free());
                    cq.sleep(need, deadline, Some(&free))
                }
            };
            if !slept {
                got += engine.reap(max_nr - got, out);
                return done(got, moved);
            }
        }
    }

    /// Cancels a request. A request not yet issued is canceled for sure: its completion (still
    /// delivered, exactly once) carries [`ErrorKind::Canceled`].
    ///
    /// # Errors
    /// [`ErrorKind::InProgress`] when the request is already running (it completes normally,
    /// or canceled if the kernel could still stop it);
    /// [`ErrorKind::NotFound`] when the id is unknown, already completed or reaped.
    pub fn cancel(&self, id: RequestId) -> Result<()> {
        self.owned("cancel")?;
        match self.engine.cancel(id) {
            Cancel::Canceled | Cancel::AlreadyCanceled => Ok(()),
            Cancel::Running => {
                self.backend
                    .cancel_running(&self.engine, id.tag(), id.generation());
                Err(Error::new(ErrorKind::InProgress, "cancel")
                    .with_detail("the request is already running and will complete normally"))
            }
            Cancel::NotFound => Err(Error::new(ErrorKind::NotFound, "cancel")
                .with_detail(format!("no request in flight with id {:#x}", id.0))),
        }
    }

    /// A file descriptor (an eventfd) that becomes readable when completions may be ready to
    /// reap — for an epoll loop, mio, or any reactor. Made on the first call; the same fd after.
    ///
    /// # Contract
    /// - The fd is *signaled*, not level-triggered on the queue: each completion (or batch of
    ///   them) adds to the eventfd's counter, and it stays readable until read. Read it
    ///   (8 bytes; it is non-blocking) to reset it, *then* reap with `get_events(0, n,
    ///   Some(Duration::ZERO), ..)` until that returns 0. A completion that arrives after the
    ///   read signals the fd again, so nothing is missed.
    /// - Wake-ups can be spurious (a cancel, an internal wake-up, a completion another thread
    ///   reaped first): reaping then simply finds nothing.
    /// - Shared with blocking reapers: `get_events` callers share one completion queue, each
    ///   completion reaped by exactly one of them. Whoever moves completions from the kernel
    ///   into the queue and leaves them there (a blocking reaper that took fewer, the driver
    ///   thread, a polling future) signals the fd, so the loop is told of them.
    /// - With `Reactor::Tokio` on Linux AIO the fd is the runtime watcher's (it reads it): do
    ///   not also wait on it in a loop of your own. On io_uring the watchers wait on the
    ///   ring's own fd and signal this one when they move blocking requests' completions, so
    ///   a loop of your own may run beside futures (futures' completions never reach
    ///   `get_events`).
    /// - The first call signals the fd once, so completions that were ready before it existed
    ///   are found too; requests still in flight then signal it when they complete, on every
    ///   backend (Linux AIO's iocbs issued before the call carry no fd: the driver thread is
    ///   started to collect them, and the engine signals the fd for them).
    /// - With io_uring, a wait in the submitting thread (`epoll_wait`, `poll`) may return
    ///   `EINTR`: completions of its requests that finished elsewhere are posted as task work
    ///   of that thread, which interrupts the wait as a signal would. Retry the wait.
    /// - Who signals: io_uring by `IORING_REGISTER_EVENTFD` (the kernel, per CQE); Linux AIO by
    ///   `IOCB_FLAG_RESFD` on every iocb issued after the call (the kernel, per event); the
    ///   thread pool and completions made in user space (no-ops on AIO, canceled requests) by
    ///   the engine, with one `write(2)` each.
    ///
    /// # Errors
    /// [`ErrorKind::Os`] when the eventfd cannot be made or registered.
    ///
    /// # Examples
    /// ```
    /// use diorite::{BackendChoice, Context, Request};
    /// use std::os::fd::AsRawFd;
    /// use std::time::Duration;
    /// let ctx = Context::builder().backend(BackendChoice::Threads).build()?;
    /// let fd = ctx.completion_fd()?.as_raw_fd();
    /// ctx.submit(Request::noop()).map_err(|e| e.error)?;
    /// let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    /// // SAFETY: one valid pollfd.
    /// assert_eq!(unsafe { libc::poll(&mut pfd, 1, 5000) }, 1);
    /// let mut n = [0u8; 8];
    /// // SAFETY: reads 8 bytes into a live buffer from the context's eventfd.
    /// unsafe { libc::read(fd, n.as_mut_ptr().cast(), 8) };
    /// let mut out = Vec::new();
    /// while ctx.get_events(0, 16, Some(Duration::ZERO), &mut out)? > 0 {}
    /// # Ok::<(), diorite::Error>(())
    /// ```
    pub fn completion_fd(&self) -> Result<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsRawFd;
        self.owned("completion_fd")?;
        let mut slot = self.notify.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let owned = crate::sys::eventfd(0).map_err(|e| Error::os("completion_fd", e))?;
            let fd = owned.as_raw_fd();
            self.backend.attach_eventfd(fd)?;
            self.engine.set_notify_fd(fd);
            // Requests already in flight may never signal the new fd (Linux AIO's iocbs carry
            // it from now on only): someone must collect them, and the backend signals the fd
            // for them (`aio.rs`, `deliver`). The driver thread does, when any are in flight;
            // the RMW read orders that count against the submitters (`in_flight_synced`).
            if self.backend.kind() == BackendKind::Aio
                && self.engine.admission().in_flight_synced() > 0
            {
                self.driver.ensure(&self.engine, &self.backend)?;
            }
            crate::engine::signal(fd);
            *slot = Some(owned);
        }
        let fd = slot.as_ref().map_or(-1, |f| f.as_raw_fd());
        // SAFETY: the OwnedFd lives in `self.notify` until the context is dropped and is never
        // replaced, so the descriptor stays open for the borrow's lifetime (tied to `&self`).
        Ok(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) })
    }

    /// Requests submitted and not yet reaped. An async request's slot is released by whichever
    /// of its future and the completing backend is done last, so for a moment after a future
    /// resolves (while the backend finishes waking it) it may still count here.
    pub fn in_flight(&self) -> u32 {
        self.engine.admission().in_flight()
    }

    /// The most requests in flight at once.
    pub fn depth(&self) -> u32 {
        self.engine.depth()
    }

    /// On the faulty backend, lets every request held by a `stall` rule go on (they complete as
    /// the next rules and the I/O say). Elsewhere nothing.
    pub fn release_stalled(&self) {
        if let Some(f) = self.backend.faults() {
            f.release(false);
        }
    }

    /// Reads and writes performed through a bounce buffer so far ([`Alignment::Bounce`]; 0
    /// under [`Alignment::Strict`]). Example: see [`Alignment`].
    pub fn bounced(&self) -> u64 {
        // Relaxed: a statistic.
        self.bounced.load(crate::sync::Ordering::Relaxed)
    }

    /// Faults injected so far (0 off the faulty backend).
    pub fn faults_injected(&self) -> u64 {
        self.backend.faults().map_or(0, |f| f.injected())
    }

    /// The backend this context runs on.
    pub fn backend(&self) -> BackendKind {
        self.backend.kind()
    }

    /// Whether this is an io_uring context set up for one issuing thread (only a
    /// [`LocalContext`](crate::LocalContext) is).
    pub(crate) fn is_single_issuer(&self) -> bool {
        self.backend.single_issuer()
    }

    /// How completions of a kernel backend reach this context's futures (as built).
    pub fn reactor(&self) -> Reactor {
        self.reactor
    }

    /// The backends `Auto` tried before the one it chose, with the reason each was skipped.
    pub fn skipped_backends(&self) -> &[BackendStatus] {
        &self.skipped
    }

    /// What the backend reports about its configuration (e.g. registered files or buffers).
    pub fn backend_report(&self) -> String {
        self.backend.report()
    }

    /// What the context registered with the kernel (fixed files and buffers), how many I/Os
    /// used fixed buffers so far, and why anything asked for was not registered.
    pub fn registration(&self) -> Registration {
        self.backend.registration(self.register_asked)
    }

    /// Stops the context: new submits fail with [`ErrorKind::Shutdown`], requests not yet issued
    /// are canceled, issued ones are waited for, and all their completions are discarded (their
    /// buffers freed). `Drop` does the same.
    ///
    /// # Errors
    /// [`ErrorKind::Os`] when the backend failed to stop cleanly (a worker panicked).
    pub fn shutdown(mut self) -> Result<()> {
        self.finished = true;
        self.shutdown_inner()
    }

    /// [`Context::shutdown`] for a context shared between threads (e.g. in an `Arc`): other
    /// threads' `submit` calls fail with [`ErrorKind::Shutdown`] from now on, completions that
    /// they do not reap before this returns are discarded, and reapers blocked in `get_events`
    /// (also inside the kernel, with no timeout) return [`ErrorKind::Shutdown`]. Later calls
    /// return `Ok(())` at once.
    ///
    /// # Errors
    /// As [`Context::shutdown`].
    pub fn close(&self) -> Result<()> {
        self.shutdown_inner()
    }

    fn shutdown_inner(&self) -> Result<()> {
        // In a forked child there is nothing to wait for: the requests in flight are the
        // parent's, and its queues are not ours to touch.
        self.owned("shutdown")?;
        let (engine, cq) = (&*self.engine, self.engine.cq());
        if !engine.admission().shut() {
            return Ok(());
        }
        // Cancel everything not yet issued; the backend posts each one's Canceled completion
        // when it picks the tag up (kernel backends issue at submit: nothing stays QUEUED).
        engine.cancel_all_queued(|_| {});
        // Submissions left for a tokio watcher's deferred kick go to the kernel now: the wait
        // below needs them issued.
        self.backend.kick(engine);
        // Stalled requests (the faulty backend) go on, or closing would wait for them forever.
        if let Some(f) = self.backend.faults() {
            f.release(true);
        }
        // Wait for every issued request, reaping (and dropping) completions as they come. An
        // async request is finished once completed: its future (alive, or the engine for a
        // dropped one) frees its slot. `in_flight` is read first: a future that frees its slot
        // between the two reads only makes the count look larger.
        while engine.admission().in_flight() > engine.parked_async() {
            if engine.reap_discard(usize::MAX) > 0 || self.backend.poll(engine) {
                continue;
            }
            // Async completions do not wake a sleeper on the completion queue: look often.
            let slice = Instant::now().checked_add(if self.driver.is_started() {
                Duration::from_millis(2)
            } else {
                Duration::from_millis(50)
            });
            match self.backend.wait(engine, 1, slice) {
                Wait::Waited => {}
                Wait::Unsupported => {
                    cq.sleep(1, slice, None);
                }
                Wait::Busy => {
                    let kw = self.backend.kernel_wait();
                    let free = || kw.is_none_or(|k| k.is_free());
                    cq.sleep(1, slice, Some(&free));
                }
            }
        }
        cq.close();
        // A reaper blocked in the kernel with no timeout (the driver among them) sees `closed`
        // only once it is out; a user's event loop when the completion fd turns readable; a
        // runtime's watcher when `tokio.stop` below wakes it.
        self.backend.wake_kernel_waiter();
        if let Some(fd) = self
            .notify
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            crate::engine::signal(std::os::fd::AsRawFd::as_raw_fd(fd));
        }
        let driver = self.driver.stop();
        #[cfg(feature = "tokio")]
        self.tokio.stop();
        self.backend.stop().and(driver)
    }

    // ---- For the futures (`future.rs`) ----

    /// Validates `req` and submits it as an async request whose completion goes to `waker`.
    pub(crate) fn submit_async(
        &self,
        req: Request,
        waker: &std::task::Waker,
    ) -> std::result::Result<RequestId, (Error, Request)> {
        if let Err(e) = self.owned("submit") {
            return Err((e, req));
        }
        if self.alignment == Alignment::Bounce && bounce::misaligned(&req) {
            return self
                .submit_bounced(req, Some(waker))
                .map_err(|e| (e.error, e.request));
        }
        if let Err(e) = dio::validate(&req).and_then(|()| self.backend.validate(&req)) {
            return Err((e, req));
        }
        let deferred = match self.ensure_reaper() {
            Err(e) => return Err((e, req)),
            Ok(watched) => watched,
        };
        let (tag, id) = self.engine.queue_async(req, waker)?;
        self.backend.submit(&self.engine, tag, !deferred);
        #[cfg(feature = "tokio")]
        if deferred {
            self.tokio
                .kick_later(&self.engine, &self.backend, self.batching);
        }
        Ok(id)
    }

    /// A misaligned read or write under [`Alignment::Bounce`]: validated (all but alignment),
    /// given a slot like any request (`waker`: an async one), performed here through a bounce
    /// buffer, and completed in user space — the backend never sees it.
    #[cold]
    fn submit_bounced(
        &self,
        req: Request,
        waker: Option<&std::task::Waker>,
    ) -> std::result::Result<RequestId, SubmitError> {
        if let Err(error) = bounce::validate(&req) {
            return Err(SubmitError {
                error,
                request: req,
            });
        }
        let queued = match waker {
            Some(w) => self.engine.queue_async(req, w),
            None => self.engine.queue(req),
        };
        let (tag, id) = queued.map_err(|(error, request)| SubmitError { error, request })?;
        // SAFETY: we hold `tag` as its backend would, and do not use the request after the
        // completion is posted.
        if let Some(req) = unsafe { self.engine.begin(tag) } {
            let res = if self.backend.kind() == BackendKind::Null {
                // The null backend touches no file: the request completes as any other does
                // there, with its full length, and nothing is read or written.
                req.bufs.total_len() as i64
            } else {
                // Relaxed: a statistic.
                self.bounced.fetch_add(1, crate::sync::Ordering::Relaxed);
                bounce::perform(req)
            };
            self.engine.complete(tag, res);
            // A completion made in user space: a reaper waiting inside the kernel would not
            // see it.
            if waker.is_none() {
                self.backend.wake_kernel_waiter();
            }
        }
        Ok(id)
    }

    /// Makes sure someone collects kernel completions for futures: the runtime's reactor
    /// ([`Reactor::Tokio`], when the caller runs in a tokio runtime with I/O) or the driver
    /// thread. Nothing for the thread pool, whose workers complete requests themselves.
    /// `true` when the runtime's watcher serves this thread: the submission may then be left
    /// for the watcher to kick (`TokioWatchers::kick_later`).
    #[inline]
    fn ensure_reaper(&self) -> Result<bool> {
        if !self.backend.reaped_from_kernel() {
            return Ok(false);
        }
        #[cfg(feature = "tokio")]
        if self.reactor == Reactor::Tokio
            && self.tokio.ensure(&self.engine, &self.backend, || {
                use std::os::fd::AsRawFd;
                match self.backend.watch_fd() {
                    Some(fd) => Ok(WatchFd { fd, reset: false }),
                    None => self.completion_fd().map(|f| WatchFd {
                        fd: f.as_raw_fd(),
                        reset: true,
                    }),
                }
            })
        {
            return Ok(true);
        }
        self.driver
            .ensure(&self.engine, &self.backend)
            .map(|()| false)
    }

    /// Polls async request `id`: its completion, or `None` with `waker` registered.
    ///
    /// # Safety
    /// As [`Engine::poll_async`].
    #[inline]
    pub(crate) unsafe fn poll_async(
        &self,
        id: RequestId,
        waker: &std::task::Waker,
    ) -> Option<Completion> {
        if let Err(e) = self.owned("poll") {
            // A future carried into a forked child: it resolves to the error. Its request and
            // buffers stay in the child's copy of the slot (the kernel and workers serve the
            // parent's), freed with the context.
            return Some(Completion {
                id,
                user_data: 0,
                op: crate::OpKind::Noop,
                result: Err(e),
                bufs: crate::direct::request::Bufs::None,
            });
        }
        // SAFETY: the caller's contract.
        if let Some(c) = unsafe { self.engine.poll_async(id, waker) } {
            return Some(c);
        }
        // Collect what the kernel has completed when that costs no syscall (io_uring's CQ,
        // Linux AIO's ring), which may be ours: an executor that keeps polling then does not
        // depend on the reactor's wake-up.
        if self.backend.polls_in_user_space() && self.backend.poll(&self.engine) {
            // Others' completions it moved stay in the queue: tell the completion fd's loop.
            self.engine.hand_over(true);
            // SAFETY: the caller's contract.
            return unsafe { self.engine.poll_async(id, waker) };
        }
        None
    }

    /// The future of async request `id` is dropped before its completion: cancel it where
    /// possible; its slot (and buffers) are freed once the backend is done with it.
    ///
    /// # Safety
    /// As [`Engine::detach`].
    pub(crate) unsafe fn abandon(&self, id: RequestId) {
        if self.owned("cancel").is_err() {
            // A forked child: nothing of the parent's queues is touched (see `born`).
            return;
        }
        if self.engine.cancel(id) == Cancel::Running {
            self.backend
                .cancel_running(&self.engine, id.tag(), id.generation());
        }
        // SAFETY: the caller's contract.
        unsafe { self.engine.detach(id) };
    }

    /// Queues `waker` for an admission (see `Admission::wait`).
    pub(crate) fn wait_for_admission(&self, ticket: &mut Option<u64>, waker: &std::task::Waker) {
        self.engine.admission().wait(ticket, waker);
    }

    /// Leaves the queue for an admission; a wake-up this waiter got and does not need goes on
    /// to the next one.
    pub(crate) fn leave_admission_queue(&self, ticket: u64) {
        let admission = self.engine.admission();
        if !admission.leave(ticket) {
            admission.wake_one();
        }
    }

    /// The [`Completions`](crate::future::Completions) stream's poll.
    pub(crate) fn poll_completion(
        &self,
        waker: &std::task::Waker,
    ) -> std::task::Poll<Option<Completion>> {
        use std::task::Poll;
        if self.owned("poll").is_err() {
            // A forked child: the stream ends (see `born`).
            return Poll::Ready(None);
        }
        let (engine, cq) = (&*self.engine, self.engine.cq());
        loop {
            if let Some(c) = engine.reap_one() {
                return Poll::Ready(Some(c));
            }
            if cq.is_closed() {
                return Poll::Ready(None);
            }
            if self.ensure_reaper().is_err() {
                // Only a context that is closing refuses a driver, or the OS a thread: the
                // stream ends rather than hang.
                return Poll::Ready(None);
            }
            if self.backend.polls_in_user_space() && self.backend.poll(engine) {
                continue;
            }
            if cq.register_waker(waker) {
                continue;
            }
            return Poll::Pending;
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.shutdown_inner();
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("backend", &self.backend())
            .field("depth", &self.depth())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}
