//! Futures over a [`Context`]: `ctx.read(&file, off, buf).await`, on any executor.
//!
//! A future submits its request on its first poll, as an *async* request: the slot carries the
//! future's waker and its completion goes to that waker, never to the completion queue — so a
//! context can serve futures and blocking `submit`/`get_events` users at once, and neither sees
//! the other's completions. The slot protocol (`slot.rs`, "Async requests") hands the waker
//! over and decides who frees the slot: the future when it takes the completion, or the backend
//! when the future was dropped first.
//!
//! - **Any executor.** Nothing runtime-specific: on the kernel backends a driver thread
//!   (`driver.rs`) collects completions while futures wait; the thread pool's workers complete
//!   requests themselves. Works under tokio (current-thread and multi-thread), smol /
//!   async-io, `futures::executor::block_on`, or a hand-written poll loop.
//! - **Dropping a future cancels its request** (dequeued if not yet issued, else io_uring
//!   `ASYNC_CANCEL` / `io_cancel`; a thread-pool worker already inside the syscall finishes).
//!   The request's buffers stay in its slot until the backend is done with them, and are
//!   dropped then; the completion is consumed inside the engine.
//! - **Backpressure.** At full depth a future waits for an admission (woken by the release
//!   that frees one), it does not fail with `QueueFull`.
//! - **The buffers always come back**, with the result, success or error — also when the
//!   request is refused before it is submitted (validation, shutdown).
//! - **Polled again after it completed**, a future does not panic: it resolves again, to an
//!   [`ErrorKind::InvalidInput`] error ("polled after it completed") with no buffers (a
//!   single-buffer future gives back an empty [`AlignedBuf`] of length 0). [`Completions`]
//!   keeps returning `None` after it ended.
//!
//! [`Completions`] is the other way in: a `Stream` (the `futures-core` trait) of the
//! completions of requests submitted with [`Context::submit`], for users who submit in bulk and
//! reap asynchronously.

use crate::context::Context;
use crate::direct::buf::AlignedBuf;
use crate::direct::file::DirectFile;
use crate::direct::request::{Bufs, Completion, Request, RequestId};
use crate::error::{Error, ErrorKind, Result};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

/// The future of [`Context::run`]: submits the request on its first poll and resolves to its
/// [`Completion`]. Dropping it before then cancels the request (see the [module
/// docs](crate::future)).
///
/// # Examples
/// ```
/// use diorite::{BackendChoice, Context, Request};
/// use std::future::Future;
/// use std::task::{Context as TaskCx, Poll};
/// let ctx = Context::builder().backend(BackendChoice::Threads).build()?;
/// let mut run = ctx.run(Request::noop());
/// assert!(run.id().is_none()); // nothing is submitted before the first poll
/// let waker = futures::task::noop_waker();
/// if let Poll::Pending = std::pin::Pin::new(&mut run).poll(&mut TaskCx::from_waker(&waker)) {
///     assert!(run.id().is_some()); // submitted, in flight
/// }
/// drop(run); // cancels it if it has not completed; the engine frees it when the backend is done
/// # Ok::<(), diorite::Error>(())
/// ```
#[must_use = "a future does nothing unless polled; dropping it cancels the request"]
pub struct Run<'a> {
    ctx: &'a Context,
    state: State,
}

enum State {
    /// Not submitted yet; `ticket` is its place in the queue for an admission, once it had to
    /// wait for one.
    Waiting { req: Request, ticket: Option<u64> },
    /// Submitted as async request `id`.
    InFlight(RequestId),
    /// The completion was returned.
    Done,
}

impl<'a> Run<'a> {
    pub(crate) fn new(ctx: &'a Context, req: Request) -> Run<'a> {
        Run {
            ctx,
            state: State::Waiting { req, ticket: None },
        }
    }

    /// The id of the submitted request (`None` before the first poll submitted it, while it
    /// waits for a slot, and after it completed): for [`Context::cancel`] from elsewhere.
    /// Example: see [`Run`].
    pub fn id(&self) -> Option<RequestId> {
        match self.state {
            State::InFlight(id) => Some(id),
            _ => None,
        }
    }
}

impl Future for Run<'_> {
    type Output = Completion;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Completion> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.state, State::Done) {
                State::Waiting {
                    mut req,
                    mut ticket,
                } => {
                    let mut queued = false;
                    loop {
                        match this.ctx.submit_async(req, cx.waker()) {
                            Ok(id) => {
                                if let Some(t) = ticket {
                                    this.ctx.leave_admission_queue(t);
                                }
                                this.state = State::InFlight(id);
                                break;
                            }
                            // Full: queue for an admission, then retry once — a release
                            // between the refusal and the queueing is seen by the retry
                            // (admission.rs).
                            Err((e, r)) if e.kind() == ErrorKind::QueueFull && !queued => {
                                this.ctx.wait_for_admission(&mut ticket, cx.waker());
                                queued = true;
                                req = r;
                            }
                            Err((e, r)) if e.kind() == ErrorKind::QueueFull => {
                                this.state = State::Waiting { req: r, ticket };
                                return Poll::Pending;
                            }
                            Err((e, r)) => {
                                if let Some(t) = ticket {
                                    this.ctx.leave_admission_queue(t);
                                }
                                return Poll::Ready(refused(e, r));
                            }
                        }
                    }
                }
                State::InFlight(id) => {
                    // SAFETY: we are the future `submit_async` returned `id` to, and have
                    // neither had its completion nor abandoned it (the state says so).
                    return match unsafe { this.ctx.poll_async(id, cx.waker()) } {
                        Some(c) => Poll::Ready(c),
                        None => {
                            this.state = State::InFlight(id);
                            Poll::Pending
                        }
                    };
                }
                State::Done => {
                    // Polled after it completed: the futures contract allows anything but UB;
                    // report it instead of panicking.
                    return Poll::Ready(refused(
                        Error::new(ErrorKind::InvalidInput, "poll")
                            .with_detail("the future was polled after it completed"),
                        Request::noop(),
                    ));
                }
            }
        }
    }
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Waiting {
                ticket: Some(t), ..
            } => self.ctx.leave_admission_queue(t),
            // SAFETY: as in `poll`; the state is now Done, so this happens once.
            State::InFlight(id) => unsafe { self.ctx.abandon(id) },
            _ => {}
        }
    }
}

impl fmt::Debug for Run<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Waiting { .. } => "waiting",
            State::InFlight(_) => "in flight",
            State::Done => "done",
        };
        f.debug_struct("Run").field("state", &state).finish()
    }
}

/// The completion of a request refused before it was submitted: the error, and the request's
/// buffers back. Its id names no slot.
fn refused(error: Error, req: Request) -> Completion {
    Completion {
        id: RequestId(u64::MAX),
        user_data: req.user_data,
        op: req.op,
        result: Err(error),
        bufs: req.bufs,
    }
}

/// The future of [`Context::read`], [`Context::write`], [`Context::readv`],
/// [`Context::writev`], [`Context::fsync`] and [`Context::fdatasync`]: a [`Run`] whose
/// completion is turned into `T` (the result, with the buffers back).
///
/// # Examples
/// ```
/// use diorite::{AlignedBuf, Context, DirectFile, Io};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("f");
/// # std::fs::write(&path, vec![1u8; 4096])?;
/// let file = DirectFile::open(&path)?;
/// let ctx = Context::builder().build()?;
/// let read: Io<'_, (diorite::Result<usize>, AlignedBuf)> =
///     ctx.read(&file, 0, AlignedBuf::for_file(&file, 4096)?);
/// let (n, _buf) = futures::executor::block_on(read);
/// assert_eq!(n?, 4096);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a future does nothing unless polled; dropping it cancels the request"]
pub struct Io<'a, T> {
    run: Run<'a>,
    map: fn(Completion) -> T,
}

impl<T> Io<'_, T> {
    /// The id of the submitted request, as [`Run::id`] (whose example shows it).
    pub fn id(&self) -> Option<RequestId> {
        self.run.id()
    }
}

impl<T> Future for Io<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<T> {
        let this = self.get_mut();
        Pin::new(&mut this.run).poll(cx).map(this.map)
    }
}

impl<T> fmt::Debug for Io<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.run.fmt(f)
    }
}

/// A single-buffer completion as `(result, buffer)`.
fn one(c: Completion) -> (Result<usize>, AlignedBuf) {
    match c.bufs {
        Bufs::One(b) => (c.result, b),
        // `read`/`write` requests hold exactly one buffer from construction to completion; the
        // only completion without it is the error of a future polled after it completed, which
        // gets an empty placeholder (no memory) next to that error.
        _ => (c.result, AlignedBuf::empty()),
    }
}

/// A vectored completion as `(result, buffers)`.
fn many(mut c: Completion) -> (Result<usize>, Vec<AlignedBuf>) {
    let bufs = c.take_bufs();
    (c.result, bufs)
}

fn unit(c: Completion) -> Result<()> {
    c.result.map(|_| ())
}

/// Futures: each submits on its first poll, completes through the future's waker, and cancels
/// its request when dropped early. See the [module docs](crate::future).
impl Context {
    /// Submits `req` when first polled and resolves to its [`Completion`] (which carries the
    /// buffers). The completion never shows up in [`Context::get_events`]. A request refused
    /// before submission (validation, shutdown) resolves at once to a completion with that
    /// error and the buffers; at full depth the future waits for a free slot.
    ///
    /// # Examples
    /// ```
    /// use diorite::{BackendChoice, Context, Request};
    /// let ctx = Context::builder().backend(BackendChoice::Threads).build()?;
    /// let c = futures::executor::block_on(ctx.run(Request::noop().with_user_data(7)));
    /// assert_eq!((c.user_data, c.result?), (7, 0));
    /// # Ok::<(), diorite::Error>(())
    /// ```
    pub fn run(&self, req: Request) -> Run<'_> {
        Run::new(self, req)
    }

    /// Reads `buf.len()` bytes at `offset` of `file`; resolves to the bytes read (fewer at the
    /// end of the file) or the error, with the buffer back either way.
    ///
    /// # Examples
    /// ```
    /// use diorite::{AlignedBuf, Context, DirectFile};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("f");
    /// # std::fs::write(&path, vec![7u8; 8192])?;
    /// let file = DirectFile::open(&path)?;
    /// let ctx = Context::builder().build()?;
    /// let buf = AlignedBuf::for_file(&file, 4096)?;
    /// let (n, buf) = futures::executor::block_on(ctx.read(&file, 4096, buf));
    /// assert_eq!(n?, 4096);
    /// assert!(buf.iter().all(|&b| b == 7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read(
        &self,
        file: &DirectFile,
        offset: u64,
        buf: AlignedBuf,
    ) -> Io<'_, (Result<usize>, AlignedBuf)> {
        self.io(Request::read(file, offset, buf), one)
    }

    /// Writes `buf` at `offset` of `file`; resolves to the bytes written or the error, with
    /// the buffer back.
    ///
    /// # Examples
    /// ```
    /// use diorite::{AlignedBuf, Context, DirectFile};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("f");
    /// let file = DirectFile::options().read(true).write(true).create(true).open(&path)?;
    /// let ctx = Context::builder().build()?;
    /// let mut buf = AlignedBuf::for_file(&file, 4096)?;
    /// buf.fill(1);
    /// let (n, _buf) = futures::executor::block_on(ctx.write(&file, 0, buf));
    /// assert_eq!(n?, 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(
        &self,
        file: &DirectFile,
        offset: u64,
        buf: AlignedBuf,
    ) -> Io<'_, (Result<usize>, AlignedBuf)> {
        self.io(Request::write(file, offset, buf), one)
    }

    /// A vectored [`Context::read`]: fills `bufs` in order from `offset`; every buffer comes
    /// back.
    ///
    /// # Examples
    /// ```no_run
    /// # use diorite::{AlignedBuf, Context, DirectFile};
    /// # let file = DirectFile::open("/dev/loop0")?;
    /// # let ctx = Context::builder().build()?;
    /// let bufs = vec![AlignedBuf::for_file(&file, 4096)?, AlignedBuf::for_file(&file, 4096)?];
    /// let (n, bufs) = futures::executor::block_on(ctx.readv(&file, 0, bufs));
    /// # Ok::<(), diorite::Error>(())
    /// ```
    pub fn readv(
        &self,
        file: &DirectFile,
        offset: u64,
        bufs: Vec<AlignedBuf>,
    ) -> Io<'_, (Result<usize>, Vec<AlignedBuf>)> {
        self.io(Request::readv(file, offset, bufs), many)
    }

    /// A vectored [`Context::write`]: writes `bufs` in order from `offset`; every buffer comes
    /// back.
    ///
    /// # Examples
    /// ```no_run
    /// # use diorite::{AlignedBuf, Context, DirectFile};
    /// # let file = DirectFile::options().write(true).open("/dev/loop0")?;
    /// # let ctx = Context::builder().build()?;
    /// let bufs = vec![AlignedBuf::for_file(&file, 4096)?];
    /// let (n, _bufs) = futures::executor::block_on(ctx.writev(&file, 0, bufs));
    /// # Ok::<(), diorite::Error>(())
    /// ```
    pub fn writev(
        &self,
        file: &DirectFile,
        offset: u64,
        bufs: Vec<AlignedBuf>,
    ) -> Io<'_, (Result<usize>, Vec<AlignedBuf>)> {
        self.io(Request::writev(file, offset, bufs), many)
    }

    /// Flushes `file`'s data and metadata.
    ///
    /// # Examples
    /// ```no_run
    /// # use diorite::{Context, DirectFile};
    /// # let file = DirectFile::options().write(true).open("/dev/loop0")?;
    /// # let ctx = Context::builder().build()?;
    /// futures::executor::block_on(ctx.fsync(&file))?;
    /// # Ok::<(), diorite::Error>(())
    /// ```
    pub fn fsync(&self, file: &DirectFile) -> Io<'_, Result<()>> {
        self.io(Request::fsync(file), unit)
    }

    /// Flushes `file`'s data (and the metadata needed to read it).
    ///
    /// # Examples
    /// ```no_run
    /// # use diorite::{Context, DirectFile};
    /// # let file = DirectFile::options().write(true).open("/dev/loop0")?;
    /// # let ctx = Context::builder().build()?;
    /// futures::executor::block_on(ctx.fdatasync(&file))?;
    /// # Ok::<(), diorite::Error>(())
    /// ```
    pub fn fdatasync(&self, file: &DirectFile) -> Io<'_, Result<()>> {
        self.io(Request::fdatasync(file), unit)
    }

    fn io<T>(&self, req: Request, map: fn(Completion) -> T) -> Io<'_, T> {
        Io {
            run: Run::new(self, req),
            map,
        }
    }

    /// A [`Stream`](futures_core::Stream) of the completions of requests submitted with
    /// [`Context::submit`] / [`Context::submit_batch`] — the asynchronous `get_events`. It ends
    /// (`None`) when the context is closed and nothing is left. Completions of futures never
    /// appear in it. Several streams (and blocking reapers) may share a context; each
    /// completion is delivered once, to one of them.
    ///
    /// # Examples
    /// ```
    /// use diorite::{BackendChoice, Context, Request};
    /// use futures::StreamExt;
    /// let ctx = Context::builder().backend(BackendChoice::Threads).build()?;
    /// let mut reqs: Vec<_> = (0..4).map(|i| Request::noop().with_user_data(i)).collect();
    /// assert_eq!(ctx.submit_batch(&mut reqs)?, 4);
    /// let done: Vec<_> = futures::executor::block_on(ctx.completions().take(4).collect());
    /// assert_eq!(done.len(), 4);
    /// # Ok::<(), diorite::Error>(())
    /// ```
    pub fn completions(&self) -> Completions<'_> {
        Completions { ctx: self }
    }
}

/// The stream of [`Context::completions`].
///
/// # Examples
/// ```
/// use diorite::{BackendChoice, Context, Request};
/// use futures::StreamExt;
/// let ctx = Context::builder().backend(BackendChoice::Threads).build()?;
/// ctx.submit(Request::noop().with_user_data(3)).map_err(|e| e.error)?;
/// let c = futures::executor::block_on(ctx.completions().next()).unwrap();
/// assert_eq!(c.user_data, 3);
/// # Ok::<(), diorite::Error>(())
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct Completions<'a> {
    ctx: &'a Context,
}

impl futures_core::Stream for Completions<'_> {
    type Item = Completion;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Option<Completion>> {
        self.ctx.poll_completion(cx.waker())
    }
}

impl fmt::Debug for Completions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completions").finish_non_exhaustive()
    }
}
