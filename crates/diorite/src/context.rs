//! [`Context`]: the AIO context (seed 004, `fs/aio.c`).
//!
//! A request's life: `submit` validates it, takes a tag — the tag *is* the request's slot — parks
//! the request in the preallocated slot and hands the backend the tag. The backend performs the
//! I/O and posts an event `{tag, res}` to the completion [`Ring`] (or, when the ring is full, to
//! the overflow list, in order). `get_events` pops a batch, turns each slot into a
//! [`Completion`], returns the tag, and wakes nobody else: reapers sleep only until their `min_nr`
//! can be met.
//!
//! # Slot states
//! Each slot has one atomic word `generation << 32 | state`:
//! `FREE -> QUEUED` (submit) `-> RUNNING` (backend picked it up) `-> DONE` (event posted)
//! `-> FREE` with the next generation (reaped). `cancel` moves `QUEUED -> CANCELED`; the backend
//! then posts a `Canceled` event instead of issuing the I/O. A [`RequestId`] names slot and
//! generation, so a stale id never matches a later request in the same slot.
//!
//! # Lifetime
//! Backends hold the shared state through an `Arc`. `shutdown` (and `Drop`) stops new submits,
//! cancels what has not been issued, waits until every issued request has completed, reaps and
//! drops those completions (returning their buffers), and only then stops the backend. Nothing
//! is freed while a worker or the kernel may still touch it, and nothing is delivered afterwards.

use crate::backend::{self, Backend, BackendChoice, BackendKind, BackendStatus, Registration};
use crate::buf::BufPool;
use crate::dio;
use crate::error::{Error, ErrorKind, Result};
use crate::file::DirectFile;
use crate::request::{Completion, Request, RequestId};
use crate::ring::Ring;
use crate::sync::{
    fence, lock, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering,
    UnsafeCell,
};
use crate::tags::TagSet;
use crossbeam_utils::CachePadded;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const FREE: u32 = 0;
pub(crate) const QUEUED: u32 = 1;
pub(crate) const RUNNING: u32 = 2;
pub(crate) const CANCELED: u32 = 3;
pub(crate) const DONE: u32 = 4;

/// Event result meaning "canceled before it was issued".
const RES_CANCELED: i64 = i64::MIN;

fn pack(gen: u32, state: u32) -> u64 {
    (u64::from(gen) << 32) | u64::from(state)
}

fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

/// A completion on its way from a backend to `get_events`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    pub(crate) tag: u32,
    /// Bytes (>= 0), `-errno`, or [`RES_CANCELED`].
    pub(crate) res: i64,
}

pub(crate) struct Slot {
    /// `generation << 32 | state`; see the module docs.
    pub(crate) state: AtomicU64,
    /// The request. Written by `submit` while it holds the tag and the slot is FREE; read by the
    /// backend after it moved the slot to RUNNING (Acquire); taken by the reaper after it popped
    /// the slot's event (Acquire through the ring). Never two of these at once.
    pub(crate) req: UnsafeCell<Option<Request>>,
}

impl Slot {
    /// Moves QUEUED -> RUNNING. `false` when the request was canceled instead.
    pub(crate) fn start(&self) -> bool {
        // Acquire: pairs with the Release store in `submit`: the request written there is
        // visible to the backend that starts it.
        let cur = self.state.load(Ordering::Acquire);
        let (gen, state) = unpack(cur);
        state == QUEUED
            && self
                .state
                .compare_exchange(
                    cur,
                    pack(gen, RUNNING),
                    Ordering::Acquire,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    /// Whether the slot still holds generation `gen`'s request, issued and not yet completed.
    pub(crate) fn is_running(&self, gen: u32) -> bool {
        // Acquire: pairs with the Release stores of `submit` and `finish`.
        unpack(self.state.load(Ordering::Acquire)) == (gen, RUNNING)
    }

    /// The request in a slot the caller has started (RUNNING).
    ///
    /// # Safety
    /// The caller must have moved this slot to RUNNING with [`Slot::start`] and not yet posted
    /// its event: then no one else accesses the request.
    pub(crate) unsafe fn request(&self) -> &Request {
        // SAFETY: per the caller's contract, the slot is RUNNING and owned by the caller; submit
        // wrote `Some` before publishing QUEUED.
        self.req
            .with(|p| unsafe { (*p).as_ref().expect("running slot holds a request") })
    }
}

struct Waiting {
    /// Reapers sleeping (or about to) in `get_events`.
    reapers: usize,
    /// The smallest number of ready completions that satisfies one of them.
    need: usize,
}

pub(crate) struct Shared {
    pub(crate) tags: TagSet,
    pub(crate) slots: Box<[Slot]>,
    ring: Ring<Event>,
    /// Events that did not fit in the ring, oldest first. While it is non-empty every new event
    /// goes here too, so delivery keeps completion order.
    overflow: Mutex<VecDeque<Event>>,
    overflowing: AtomicBool,
    /// Submitted and not yet reaped. Incremented (SeqCst) before `submit` checks `shutdown`, so
    /// shutdown sees every request that got past the check.
    in_flight: CachePadded<AtomicU32>,
    shutdown: AtomicBool,
    /// Set when shutdown has reaped everything; wakes and releases every reaper.
    closed: AtomicBool,
    /// Reapers registered in `waiting` (mirrors `waiting.reapers` for the lock-free fast path).
    reapers: CachePadded<AtomicUsize>,
    waiting: Mutex<Waiting>,
    reaped: Condvar,
    pub(crate) backend: Backend,
}

// SAFETY: the `UnsafeCell`s in `slots` are accessed under the slot-state protocol documented on
// `Slot::req` (one owner at a time, handed over with Release/Acquire); everything else is Sync.
unsafe impl Sync for Shared {}
// SAFETY: as above; `Request` is Send.
unsafe impl Send for Shared {}

impl Shared {
    /// Posts the completion of slot `tag`: the slot becomes DONE, the event goes to the ring or
    /// the overflow list, and a reaper is woken when its `min_nr` can be met. Called exactly once
    /// per submitted request, by the backend.
    pub(crate) fn complete(&self, tag: u32, res: i64) {
        let slot = &self.slots[tag as usize];
        let (gen, _) = unpack(slot.state.load(Ordering::Relaxed));
        // Relaxed: the event's Release push below publishes the slot to the reaper; DONE only
        // tells `cancel` it is too late.
        slot.state.store(pack(gen, DONE), Ordering::Relaxed);
        let ev = Event { tag, res };
        // Acquire: pairs with the Release store in `flush_overflow` that empties the list.
        if self.overflowing.load(Ordering::Acquire) || self.ring.try_push(ev).is_err() {
            let mut list = lock(&self.overflow);
            list.push_back(ev);
            // Relaxed under the lock; readers that miss it find the event on their next reap.
            self.overflowing.store(true, Ordering::Relaxed);
        }
        // SeqCst fence: pairs with the fence in `wait_for` after a reaper registers: either we see
        // the reaper, or its re-check sees our event.
        fence(Ordering::SeqCst);
        if self.reapers.load(Ordering::Relaxed) > 0 {
            let w = lock(&self.waiting);
            if self.ready() >= w.need {
                self.reaped.notify_all();
            }
        }
    }

    /// A backend takes up slot `tag`: moves it QUEUED -> RUNNING and returns its request, or, when
    /// the request was canceled while queued, posts its one `Canceled` completion and returns
    /// `None` without touching the request.
    ///
    /// # Safety
    /// The caller must be the backend that was handed `tag`, and must not use the returned
    /// reference after it has posted the slot's completion (the reaper then takes the request).
    pub(crate) unsafe fn begin(&self, tag: u32) -> Option<&Request> {
        let slot = &self.slots[tag as usize];
        if !slot.start() {
            self.complete(tag, RES_CANCELED);
            return None;
        }
        // SAFETY: `start` made the slot RUNNING for the caller, who (per our contract) is its only
        // user until it posts the completion.
        Some(unsafe { slot.request() })
    }

    /// Completions ready to reap (a snapshot).
    fn ready(&self) -> usize {
        let mut n = self.ring.len();
        if self.overflowing.load(Ordering::Relaxed) {
            n += lock(&self.overflow).len();
        }
        n
    }

    /// Moves overflowed events into the ring while there is room.
    fn flush_overflow(&self) {
        if !self.overflowing.load(Ordering::Acquire) {
            return;
        }
        let mut list = lock(&self.overflow);
        while let Some(ev) = list.front().copied() {
            if self.ring.try_push(ev).is_err() {
                return;
            }
            list.pop_front();
        }
        // Release: pairs with the Acquire load in `complete`; producers go back to the ring
        // only after the list is empty, so order is kept.
        self.overflowing.store(false, Ordering::Release);
    }

    /// Reaps up to `max` completions into `out`.
    fn reap(&self, max: usize, out: &mut Vec<Completion>) -> usize {
        let mut got = 0;
        while got < max {
            let n = self
                .ring
                .pop_with(max - got, |ev| out.push(self.finish(ev)));
            got += n;
            if !self.overflowing.load(Ordering::Acquire) {
                break;
            }
            self.flush_overflow();
            if n == 0 && self.ring.is_empty() {
                break;
            }
        }
        got
    }

    /// Turns the event of a DONE slot into its completion and frees the slot and tag.
    fn finish(&self, ev: Event) -> Completion {
        let slot = &self.slots[ev.tag as usize];
        // SAFETY: we popped this slot's one event (Acquire through the ring, after the backend
        // finished with the request), so we are its only accessor until we free the tag below.
        let req = slot
            .req
            .with_mut(|p| unsafe { (*p).take() })
            .expect("completed slot holds a request");
        let (gen, _) = unpack(slot.state.load(Ordering::Relaxed));
        let id = RequestId::new(gen, ev.tag);
        let result = match ev.res {
            n if n >= 0 => Ok(n as usize),
            RES_CANCELED => {
                Err(Error::new(ErrorKind::Canceled, req.op.name()).at_offset(req.offset))
            }
            e => Err(Error::os(req.op.name(), (-e) as i32).at_offset(req.offset)),
        };
        let completion = Completion {
            id,
            user_data: req.user_data,
            op: req.op,
            result,
            bufs: req.bufs,
        };
        drop(req.file);
        // Release: pairs with the Acquire loads in `cancel` and the next `submit`'s exclusive use.
        slot.state
            .store(pack(gen.wrapping_add(1), FREE), Ordering::Release);
        // The tag goes back before the count drops, so `in_flight` never undercounts held tags:
        // `submit` relies on `in_flight <= depth` meaning a tag is free.
        self.tags.put(ev.tag);
        // Release: pairs with the SeqCst increment in `submit` that reads this count.
        self.in_flight.fetch_sub(1, Ordering::Release);
        completion
    }

    /// Sleeps until `need` completions are ready or `deadline` passes. `false` on timeout.
    fn wait_for(&self, need: usize, deadline: Option<Instant>) -> bool {
        let mut w = lock(&self.waiting);
        w.reapers += 1;
        w.need = w.need.min(need);
        // SeqCst (RMW + fence): pairs with the fence in `complete`.
        self.reapers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let mut ok = true;
        // Acquire: pairs with the Release store in `shutdown_inner`.
        while self.ready() < need && !self.closed.load(Ordering::Acquire) {
            match deadline {
                None => w = self.reaped.wait(w).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        ok = false;
                        break;
                    }
                    w = match self.reaped.wait_timeout(w, d - now) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    };
                }
            }
        }
        w.reapers -= 1;
        if w.reapers == 0 {
            w.need = usize::MAX;
        }
        self.reapers.fetch_sub(1, Ordering::Relaxed);
        ok
    }
}

/// How a [`Context`] is built. See [`Context::builder`].
#[derive(Clone, Debug)]
pub struct ContextBuilder {
    depth: u32,
    backend: BackendChoice,
    threads: usize,
    ring: Option<usize>,
    files: Vec<DirectFile>,
    pools: Vec<BufPool>,
}

impl ContextBuilder {
    /// The most requests in flight at once (1..=65536; default 128).
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

    /// Completion ring size (default: `depth`, which never overflows). A smaller ring saves memory;
    /// completions that do not fit wait on the overflow list, in order.
    pub fn completion_ring(&mut self, n: usize) -> &mut ContextBuilder {
        self.ring = Some(n);
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

    /// Builds the context, starting its backend.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a depth, thread count or ring size out of range;
    /// [`ErrorKind::Unsupported`] when the chosen backend is not available here (the error says
    /// why); [`ErrorKind::Os`] when starting the backend fails.
    pub fn build(&self) -> Result<Context> {
        const OP: &str = "Context::build";
        let tags = TagSet::new(self.depth).map_err(|_| {
            Error::new(ErrorKind::InvalidInput, OP).with_detail(format!(
                "depth {} is out of range (required: 1..={})",
                self.depth,
                crate::tags::MAX_DEPTH
            ))
        })?;
        if self.threads == 0 || self.threads > 1024 {
            return Err(Error::new(ErrorKind::InvalidInput, OP).with_detail(format!(
                "threads {} is out of range (required: 1..=1024)",
                self.threads
            )));
        }
        let ring = Ring::with_capacity(self.ring.unwrap_or(self.depth as usize))?;
        let register = backend::RegisterRequest {
            files: &self.files,
            pools: &self.pools,
        };
        let (backend, skipped) =
            backend::select(self.backend, self.depth, self.threads, &register)?;
        let slots = (0..self.depth)
            .map(|_| Slot {
                state: AtomicU64::new(pack(0, FREE)),
                req: UnsafeCell::new(None),
            })
            .collect();
        let shared = Arc::new(Shared {
            tags,
            slots,
            ring,
            overflow: Mutex::new(VecDeque::new()),
            overflowing: AtomicBool::new(false),
            in_flight: CachePadded::new(AtomicU32::new(0)),
            shutdown: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            reapers: CachePadded::new(AtomicUsize::new(0)),
            waiting: Mutex::new(Waiting {
                reapers: 0,
                need: usize::MAX,
            }),
            reaped: Condvar::new(),
            backend,
        });
        shared.backend.start(&shared)?;
        Ok(Context {
            shared,
            skipped,
            register_asked: !self.files.is_empty() || !self.pools.is_empty(),
            finished: false,
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
    shared: Arc<Shared>,
    skipped: Vec<BackendStatus>,
    /// Whether the builder asked for registered files or buffers.
    register_asked: bool,
    finished: bool,
}

impl Context {
    /// A builder with depth 128, [`BackendChoice::Auto`] and 4 pool threads.
    pub fn builder() -> ContextBuilder {
        ContextBuilder {
            depth: 128,
            backend: BackendChoice::Auto,
            threads: 4,
            ring: None,
            files: Vec::new(),
            pools: Vec::new(),
        }
    }

    /// Validates `req`, parks it in a free slot and hands it to the backend.
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
        let sh = &*self.shared;
        if let Err(error) = dio::validate(&req).and_then(|()| sh.backend.validate(&req)) {
            return Err(SubmitError {
                error,
                request: req,
            });
        }
        // SeqCst: pairs with the SeqCst store of `shutdown` and the wait in `shutdown_inner`:
        // either shutdown sees this request in flight, or we see shutdown and back out.
        sh.in_flight.fetch_add(1, Ordering::SeqCst);
        if sh.shutdown.load(Ordering::SeqCst) {
            sh.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(SubmitError {
                error: Error::new(ErrorKind::Shutdown, "submit"),
                request: req,
            });
        }
        // `in_flight` (incremented above, decremented only after a tag is put back) counts
        // every held tag, so at most `depth` means a tag is free for us. A scan of a multi-word
        // tag set can still miss it while tags move between words behind the scan: retry then.
        // QueueFull thus means exactly `depth` requests in flight.
        let admitted = sh.in_flight.load(Ordering::SeqCst) <= sh.tags.depth();
        let tag = loop {
            match sh.tags.try_get() {
                Some(tag) => break Some(tag),
                None if admitted => std::hint::spin_loop(),
                None => break None,
            }
        };
        let Some(tag) = tag else {
            sh.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(SubmitError {
                error: Error::new(ErrorKind::QueueFull, "submit").with_detail(format!(
                    "{} requests in flight (depth {})",
                    sh.tags.depth(),
                    sh.tags.depth()
                )),
                request: req,
            });
        };
        let slot = &sh.slots[tag as usize];
        // Relaxed: we own the tag; the slot was freed with a Release store that the tag
        // allocator's Acquire chain (put -> drain -> get) orders before us.
        let (gen, _) = unpack(slot.state.load(Ordering::Relaxed));
        // SAFETY: holding the tag makes us the slot's only accessor until we publish QUEUED.
        slot.req.with_mut(|p| unsafe { *p = Some(req) });
        // Release: pairs with the Acquire in `Slot::start` (backend) and `cancel`.
        slot.state.store(pack(gen, QUEUED), Ordering::Release);
        sh.backend.submit(sh, tag, kick);
        Ok(RequestId::new(gen, tag))
    }

    /// Submits requests from the front of `reqs` until one does not fit, removing the submitted
    /// ones; returns how many were submitted. The backend is kicked once for the whole batch.
    ///
    /// # Errors
    /// When the *first* request is refused, its error (the request stays in `reqs`). A refusal
    /// after at least one success ends the batch early with `Ok(n)`; the refused request is left
    /// at the front for the caller to retry or inspect.
    pub fn submit_batch(&self, reqs: &mut Vec<Request>) -> Result<usize> {
        let mut n = 0;
        let mut first_err = None;
        let mut rest = std::mem::take(reqs).into_iter();
        for req in rest.by_ref() {
            match self.submit_one(req, false) {
                Ok(_) => n += 1,
                Err(e) => {
                    reqs.push(e.request);
                    first_err = Some(e.error);
                    break;
                }
            }
        }
        reqs.extend(rest);
        if n > 0 {
            self.shared.backend.kick(&self.shared);
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
    /// itself, so one call may take as long as one I/O beyond its timeout.
    /// Equivalent to [`io_getevents(2)`](https://man7.org/linux/man-pages/man2/io_getevents.2.html).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] when `min_nr > max_nr`; [`ErrorKind::Shutdown`] when the
    /// context was closed (by another thread) and nothing is left to reap.
    pub fn get_events(
        &self,
        min_nr: usize,
        max_nr: usize,
        timeout: Option<Duration>,
        out: &mut Vec<Completion>,
    ) -> Result<usize> {
        if min_nr > max_nr {
            return Err(Error::new(ErrorKind::InvalidInput, "get_events")
                .with_detail(format!("min_nr {min_nr} is greater than max_nr {max_nr}")));
        }
        let sh = &*self.shared;
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut got = 0;
        loop {
            got += sh.reap(max_nr - got, out);
            if got >= min_nr || max_nr == 0 {
                return Ok(got);
            }
            if sh.closed.load(Ordering::Acquire) {
                return match got {
                    0 => Err(Error::new(ErrorKind::Shutdown, "get_events")),
                    n => Ok(n),
                };
            }
            if sh.backend.poll(sh) {
                continue;
            }
            // Spin briefly before sleeping: completions from pool workers usually follow within
            // microseconds. (Kernel backends deliver only when a reaper collects them: no spin.)
            let backoff = crossbeam_utils::Backoff::new();
            while !sh.backend.reaped_from_kernel()
                && !backoff.is_completed()
                && sh.ring.len() < min_nr - got
                && !sh.overflowing.load(Ordering::Relaxed)
            {
                backoff.snooze();
            }
            if sh.ring.len() >= min_nr - got {
                continue;
            }
            if sh.backend.wait(sh, min_nr - got, deadline) {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    got += sh.reap(max_nr - got, out);
                    return Ok(got);
                }
                continue;
            }
            // Kernel backends: another reaper waits in the kernel; wait here in short slices so
            // this one can take over the kernel wait when that reaper leaves.
            let slice = if sh.backend.reaped_from_kernel() {
                let s = Instant::now() + Duration::from_millis(1);
                Some(deadline.map_or(s, |d| d.min(s)))
            } else {
                deadline
            };
            if !sh.wait_for(min_nr - got, slice) && slice == deadline {
                got += sh.reap(max_nr - got, out);
                return Ok(got);
            }
        }
    }

    /// Cancels a request. A request not yet issued is canceled for sure: its completion (still
    /// delivered, exactly once) carries [`ErrorKind::Canceled`].
    ///
    /// # Errors
    /// [`ErrorKind::InProgress`] when the request is already running (it completes normally);
    /// [`ErrorKind::NotFound`] when the id is unknown, already completed or reaped.
    pub fn cancel(&self, id: RequestId) -> Result<()> {
        let sh = &*self.shared;
        let not_found = || {
            Error::new(ErrorKind::NotFound, "cancel")
                .with_detail(format!("no request in flight with id {:#x}", id.0))
        };
        let Some(slot) = sh.slots.get(id.tag() as usize) else {
            return Err(not_found());
        };
        // Acquire: pairs with the Release store in `submit`.
        let cur = slot.state.load(Ordering::Acquire);
        let (gen, state) = unpack(cur);
        if gen != id.generation() {
            return Err(not_found());
        }
        match state {
            QUEUED => match slot.state.compare_exchange(
                cur,
                pack(gen, CANCELED),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    sh.backend.canceled(sh, id.tag());
                    Ok(())
                }
                Err(now) if unpack(now) == (gen, RUNNING) => Err(in_progress()),
                Err(_) => Err(not_found()),
            },
            RUNNING => {
                sh.backend.cancel_running(sh, id.tag(), gen);
                Err(in_progress())
            }
            CANCELED => Ok(()),
            _ => Err(not_found()),
        }
    }

    /// Requests submitted and not yet reaped.
    pub fn in_flight(&self) -> u32 {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    /// The most requests in flight at once.
    pub fn depth(&self) -> u32 {
        self.shared.tags.depth()
    }

    /// The backend this context runs on.
    pub fn backend(&self) -> BackendKind {
        self.shared.backend.kind()
    }

    /// The backends `Auto` tried before the one it chose, with the reason each was skipped.
    pub fn skipped_backends(&self) -> &[BackendStatus] {
        &self.skipped
    }

    /// What the backend reports about its configuration (e.g. registered files or buffers).
    pub fn backend_report(&self) -> String {
        self.shared.backend.report()
    }

    /// What the context registered with the kernel (fixed files and buffers), how many I/Os
    /// used fixed buffers so far, and why anything asked for was not registered.
    pub fn registration(&self) -> Registration {
        self.shared.backend.registration(self.register_asked)
    }

    /// Stops the context: new submits fail with [`ErrorKind::Shutdown`], requests not yet issued
    /// are canceled, issued ones are waited for, and all their completions are discarded (their
    /// buffers freed). `Drop` does the same.
    ///
    /// # Errors
    /// [`ErrorKind::Os`] when the backend failed to stop cleanly (a worker panicked).
    pub fn shutdown(mut self) -> Result<()> {
        self.finished = true;
        shutdown_inner(&self.shared)
    }

    /// [`Context::shutdown`] for a context shared between threads (e.g. in an `Arc`): other
    /// threads' `submit` calls fail with [`ErrorKind::Shutdown`] from now on, and completions that
    /// they do not reap before this returns are discarded. Later calls return `Ok(())` at once.
    ///
    /// # Errors
    /// As [`Context::shutdown`].
    pub fn close(&self) -> Result<()> {
        shutdown_inner(&self.shared)
    }
}

fn in_progress() -> Error {
    Error::new(ErrorKind::InProgress, "cancel")
        .with_detail("the request is already running and will complete normally")
}

fn shutdown_inner(sh: &Arc<Shared>) -> Result<()> {
    // SeqCst: pairs with the SeqCst increment of `in_flight` in `submit`.
    if sh.shutdown.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    // Cancel everything not yet issued.
    for slot in sh.slots.iter() {
        let cur = slot.state.load(Ordering::Acquire);
        let (gen, state) = unpack(cur);
        if state == QUEUED
            && slot
                .state
                .compare_exchange(
                    cur,
                    pack(gen, CANCELED),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        {
            sh.backend.canceled(sh, slot_index(sh, slot));
        }
    }
    // Wait for every issued request, reaping (and dropping) completions as they come.
    let mut sink = Vec::new();
    loop {
        sink.clear();
        sh.reap(usize::MAX, &mut sink);
        if sh.in_flight.load(Ordering::SeqCst) == 0 {
            break;
        }
        if sh.backend.poll(sh) {
            continue;
        }
        let slice = Some(Instant::now() + Duration::from_millis(50));
        if !sh.backend.wait(sh, 1, slice) {
            sh.wait_for(1, slice);
        }
    }
    let stopped = sh.backend.stop(sh);
    {
        let _w = lock(&sh.waiting);
        // Release: pairs with the Acquire loads in `wait_for` and `get_events`.
        sh.closed.store(true, Ordering::Release);
        sh.reaped.notify_all();
    }
    stopped
}

fn slot_index(sh: &Shared, slot: &Slot) -> u32 {
    // The slot is an element of `sh.slots`; its index is its offset.
    ((slot as *const Slot as usize - sh.slots.as_ptr() as usize) / std::mem::size_of::<Slot>())
        as u32
}

impl Drop for Context {
    fn drop(&mut self) {
        if !self.finished {
            let _ = shutdown_inner(&self.shared);
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
