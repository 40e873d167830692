//! [`LocalContext`]: a context for one thread that submits and reaps.
//!
//! Most users of a direct-I/O engine have exactly that thread: every `diorite bench` job, every
//! thread-per-core program, any event loop. Knowing it lets io_uring skip what sharing costs:
//! `SINGLE_ISSUER | DEFER_TASKRUN` (completion task work runs when the thread asks for
//! completions, so a wait for `n` sleeps until `n` are ready, instead of being woken — and
//! interrupting — per completion), and a registered ring fd (no fd lookup per enter). The kernel
//! refuses the ring to any other thread (EEXIST), so the type refuses it first: `LocalContext`
//! is neither `Send` nor `Sync`, and it has no futures (a future's reaper may run elsewhere; use
//! a shared [`Context`] for those).

use crate::backend::{BackendKind, BackendStatus, Registration};
use crate::context::{Context, ContextBuilder, SubmitError};
use crate::direct::request::{Completion, Request, RequestId};
use crate::error::Result;
use std::marker::PhantomData;
use std::time::Duration;

/// A [`Context`] for the thread that built it: the same requests, completions, validation and
/// errors, with io_uring's single-issuer setup (see the module docs). Build one with
/// [`ContextBuilder::build_local`](crate::ContextBuilder::build_local); kernels before 6.1 get
/// the shared setup and [`backend_report`](LocalContext::backend_report) says so.
///
/// # Examples
/// ```
/// use diorite::{Context, Request};
/// use std::time::Duration;
/// let ctx = Context::builder().depth(8).build_local()?;
/// let id = ctx.submit(Request::noop().with_user_data(7)).map_err(|e| e.error)?;
/// let mut done = Vec::new();
/// ctx.get_events(1, 8, Some(Duration::from_secs(5)), &mut done)?;
/// assert_eq!((done[0].id, done[0].user_data), (id, 7));
/// # Ok::<(), diorite::Error>(())
/// ```
///
/// It cannot leave its thread:
/// ```compile_fail
/// let ctx = diorite::Context::builder().build_local().unwrap();
/// std::thread::spawn(move || drop(ctx));
/// ```
/// nor be shared with another:
/// ```compile_fail
/// let ctx = diorite::Context::builder().build_local().unwrap();
/// std::thread::scope(|s| { s.spawn(|| ctx.depth()); });
/// ```
pub struct LocalContext {
    ctx: Context,
    /// `!Send + !Sync`: the ring takes submissions and waits from its creating thread only.
    _one_thread: PhantomData<*const ()>,
}

impl ContextBuilder {
    /// Builds a [`LocalContext`]: the same engine for one thread that submits and reaps, with
    /// io_uring's single-issuer setup (see [`LocalContext`]). Other backends are built as by
    /// [`build`](ContextBuilder::build).
    ///
    /// # Errors
    /// As [`build`](ContextBuilder::build).
    pub fn build_local(&self) -> Result<LocalContext> {
        self.build_single_issuer().map(LocalContext::new)
    }
}

impl LocalContext {
    pub(crate) fn new(ctx: Context) -> LocalContext {
        LocalContext {
            ctx,
            _one_thread: PhantomData,
        }
    }

    /// As [`Context::submit`].
    ///
    /// # Errors
    /// As [`Context::submit`].
    #[inline]
    pub fn submit(&self, req: Request) -> std::result::Result<RequestId, SubmitError> {
        self.ctx.submit(req)
    }

    /// As [`Context::bounced`].
    pub fn bounced(&self) -> u64 {
        self.ctx.bounced()
    }

    /// As [`Context::submit_batch`].
    ///
    /// # Errors
    /// As [`Context::submit_batch`].
    #[inline]
    pub fn submit_batch(&self, reqs: &mut Vec<Request>) -> Result<usize> {
        self.ctx.submit_batch(reqs)
    }

    /// As [`Context::get_events`].
    ///
    /// # Errors
    /// As [`Context::get_events`].
    #[inline]
    pub fn get_events(
        &self,
        min_nr: usize,
        max_nr: usize,
        timeout: Option<Duration>,
        out: &mut Vec<Completion>,
    ) -> Result<usize> {
        self.ctx.get_events(min_nr, max_nr, timeout, out)
    }

    /// As [`Context::cancel`].
    ///
    /// # Errors
    /// As [`Context::cancel`].
    pub fn cancel(&self, id: RequestId) -> Result<()> {
        self.ctx.cancel(id)
    }

    /// As [`Context::completion_fd`]. With deferred task work the kernel signals the fd when
    /// a completion waits to be run; `get_events` (zero timeout) runs it and reaps.
    ///
    /// # Errors
    /// As [`Context::completion_fd`].
    pub fn completion_fd(&self) -> Result<std::os::fd::BorrowedFd<'_>> {
        self.ctx.completion_fd()
    }

    /// As [`Context::in_flight`].
    pub fn in_flight(&self) -> u32 {
        self.ctx.in_flight()
    }

    /// As [`Context::depth`].
    pub fn depth(&self) -> u32 {
        self.ctx.depth()
    }

    /// As [`Context::backend`].
    pub fn backend(&self) -> BackendKind {
        self.ctx.backend()
    }

    /// Whether the ring was set up for one issuer (`SINGLE_ISSUER | DEFER_TASKRUN`): `false` on
    /// other backends and on kernels that refused it.
    pub fn is_single_issuer(&self) -> bool {
        self.ctx.is_single_issuer()
    }

    /// As [`Context::skipped_backends`].
    pub fn skipped_backends(&self) -> &[BackendStatus] {
        self.ctx.skipped_backends()
    }

    /// As [`Context::backend_report`]; for io_uring it names the setup (`single issuer,
    /// defer_taskrun, registered ring fd`, or why not).
    pub fn backend_report(&self) -> String {
        self.ctx.backend_report()
    }

    /// As [`Context::registration`].
    pub fn registration(&self) -> Registration {
        self.ctx.registration()
    }

    /// As [`Context::close`].
    ///
    /// # Errors
    /// As [`Context::close`].
    pub fn close(&self) -> Result<()> {
        self.ctx.close()
    }

    /// As [`Context::shutdown`].
    ///
    /// # Errors
    /// As [`Context::shutdown`].
    pub fn shutdown(self) -> Result<()> {
        self.ctx.shutdown()
    }
}

impl std::fmt::Debug for LocalContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LocalContext").field(&self.ctx).finish()
    }
}
