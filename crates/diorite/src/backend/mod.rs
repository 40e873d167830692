//! Backends: where requests meet the kernel. A closed set (io_uring, Linux AIO, a thread pool)
//! behind one interface, chosen per context and reported — never a silent fallback.
//!
//! The engine ([`crate::context`]) talks to a backend through the crate-private `Backend` enum: `submit` a slot's tag
//! (the request is in the slot, QUEUED), and the backend calls `Shared::complete(tag, res)` exactly
//! once per tag. Only the modules below this one touch the kernel's I/O ABI.

pub(crate) mod aio;
pub(crate) mod pieces;
pub(crate) mod threads;
pub(crate) mod uring;

use crate::context::Shared;
use crate::error::{Error, ErrorKind, Result};
use std::fmt;
use std::sync::Arc;

/// Which backend a context should use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum BackendChoice {
    /// The best available: io_uring, then Linux AIO, then the thread pool.
    #[default]
    Auto,
    /// io_uring.
    IoUring,
    /// Linux native AIO (`io_submit`).
    Aio,
    /// A pool of threads doing `preadv2`/`pwritev2`.
    Threads,
}

/// The backend a context runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendKind {
    /// io_uring.
    IoUring,
    /// Linux native AIO.
    Aio,
    /// The thread pool.
    Threads,
}

impl BackendKind {
    /// The name used on the command line (fio's engine names where they exist).
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::IoUring => "io_uring",
            BackendKind::Aio => "aio",
            BackendKind::Threads => "threads",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a backend can run on this machine, and why (not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendStatus {
    /// The backend.
    pub kind: BackendKind,
    /// Whether a context could use it.
    pub available: bool,
    /// Why it is or is not available.
    pub reason: String,
}

/// What a context registered with the kernel ahead of I/O: io_uring's fixed files and fixed
/// buffers (see [`ContextBuilder::register_file`](crate::ContextBuilder::register_file) and
/// [`ContextBuilder::register_pool`](crate::ContextBuilder::register_pool)).
///
/// Registration is an optimization, never a condition: when the kernel refuses it (typically
/// `ENOMEM` because pinning the buffers would exceed `RLIMIT_MEMLOCK`), the context runs
/// unregistered and `notes` says why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registration {
    /// Files in the fixed-file table; requests on them name the file by index.
    pub files: usize,
    /// Bytes of [`BufPool`](crate::BufPool) memory registered as fixed buffers; single-buffer
    /// reads and writes inside it use `READ_FIXED` / `WRITE_FIXED`.
    pub buffer_bytes: usize,
    /// I/O pieces issued so far with a fixed-buffer opcode.
    pub fixed_buffer_ios: u64,
    /// Why something asked for was not registered, or why registration does not apply.
    pub notes: Vec<String>,
}

/// What the builder asks a backend to register.
pub(crate) struct RegisterRequest<'a> {
    pub(crate) files: &'a [crate::DirectFile],
    pub(crate) pools: &'a [crate::BufPool],
}

/// Probes every backend on this machine, in `Auto`'s order of preference: io_uring (ring
/// creation, the opcodes used, timed waits), Linux AIO, the thread pool.
pub fn probe() -> Vec<BackendStatus> {
    let uring = uring::probe();
    vec![
        BackendStatus {
            kind: BackendKind::IoUring,
            available: uring.is_ok(),
            reason: uring.unwrap_or_else(|e| e),
        },
        {
            let aio = aio::probe();
            BackendStatus {
                kind: BackendKind::Aio,
                available: aio.is_ok(),
                reason: aio.unwrap_or_else(|e| e),
            }
        },
        BackendStatus {
            kind: BackendKind::Threads,
            available: true,
            reason: "always available".into(),
        },
    ]
}

/// The running backend of one context (a sealed set: enum dispatch, no vtable).
// One per context, inside its shared state: variant size does not matter, and boxing the larger
// variant would add a pointer chase to every submit.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Backend {
    Threads(threads::Pool),
    IoUring(uring::Uring),
    Aio(aio::Aio),
}

/// Builds the backend for `choice`; with `Auto`, also the statuses of the backends it skipped.
pub(crate) fn select(
    choice: BackendChoice,
    depth: u32,
    threads: usize,
    register: &RegisterRequest<'_>,
) -> Result<(Backend, Vec<BackendStatus>)> {
    let statuses = probe();
    let want = match choice {
        BackendChoice::Auto => None,
        BackendChoice::IoUring => Some(BackendKind::IoUring),
        BackendChoice::Aio => Some(BackendKind::Aio),
        BackendChoice::Threads => Some(BackendKind::Threads),
    };
    let mut skipped = Vec::new();
    for st in statuses {
        if want.is_some_and(|w| w != st.kind) {
            continue;
        }
        if !st.available {
            if want.is_some() {
                return Err(
                    Error::new(ErrorKind::Unsupported, "Context::build").with_detail(format!(
                        "backend {} is not available: {}",
                        st.kind, st.reason
                    )),
                );
            }
            skipped.push(st);
            continue;
        }
        let backend = match st.kind {
            BackendKind::Threads => Backend::Threads(threads::Pool::new(depth, threads)?),
            BackendKind::IoUring => Backend::IoUring(uring::Uring::new(depth, register)?),
            BackendKind::Aio => Backend::Aio(aio::Aio::new(depth)?),
        };
        return Ok((backend, skipped));
    }
    Err(Error::new(ErrorKind::Unsupported, "Context::build").with_detail("no backend is available"))
}

impl Backend {
    pub(crate) fn kind(&self) -> BackendKind {
        match self {
            Backend::Threads(_) => BackendKind::Threads,
            Backend::IoUring(_) => BackendKind::IoUring,
            Backend::Aio(_) => BackendKind::Aio,
        }
    }

    pub(crate) fn report(&self) -> String {
        match self {
            Backend::Threads(p) => p.report(),
            Backend::IoUring(u) => u.report(),
            Backend::Aio(a) => a.report(),
        }
    }

    /// What was registered with the kernel (io_uring only; other backends say so in `notes`
    /// when registration was asked for).
    pub(crate) fn registration(&self, asked: bool) -> Registration {
        match self {
            Backend::IoUring(u) => u.registration(),
            _ if asked => Registration {
                notes: vec![format!(
                    "the {} backend has no fixed files or buffers; it uses them as they are",
                    self.kind()
                )],
                ..Registration::default()
            },
            _ => Registration::default(),
        }
    }

    /// Backend-specific refusals at submit (nothing issued).
    pub(crate) fn validate(&self, req: &crate::request::Request) -> Result<()> {
        match self {
            Backend::Aio(a) => a.validate(req),
            _ => Ok(()),
        }
    }

    /// Starts worker threads or reapers; called once, after the shared state exists.
    pub(crate) fn start(&self, sh: &Arc<Shared>) -> Result<()> {
        match self {
            Backend::Threads(p) => p.start(sh),
            Backend::IoUring(_) | Backend::Aio(_) => Ok(()),
        }
    }

    /// Hands the backend slot `tag` (QUEUED). With `kick == false` the caller will call
    /// [`Backend::kick`] after a batch.
    pub(crate) fn submit(&self, sh: &Shared, tag: u32, kick: bool) {
        match self {
            Backend::Threads(p) => p.submit(sh, tag, kick),
            Backend::IoUring(u) => u.submit(sh, tag, kick),
            Backend::Aio(a) => a.submit(sh, tag),
        }
    }

    /// Makes the backend start on what was submitted without a kick.
    pub(crate) fn kick(&self, sh: &Shared) {
        match self {
            Backend::Threads(p) => p.kick(sh),
            Backend::IoUring(u) => u.kick(),
            // Each request was handed to io_submit at submit.
            Backend::Aio(_) => {}
        }
    }

    /// Lets a reaper that is about to wait make progress itself (reap a kernel queue, or run a
    /// queued job). `true` when it did something, so the reaper should look again.
    pub(crate) fn poll(&self, sh: &Shared) -> bool {
        match self {
            Backend::Threads(p) => p.poll(sh),
            Backend::IoUring(u) => u.poll(sh),
            Backend::Aio(a) => a.poll(sh),
        }
    }

    /// Lets one reaper wait inside the kernel for `need` completions (until `deadline`), reaping
    /// what arrives. `false` when the backend has no such wait or another reaper is in it: the
    /// caller then waits on the context (in short slices for kernel backends).
    pub(crate) fn wait(
        &self,
        sh: &Shared,
        need: usize,
        deadline: Option<std::time::Instant>,
    ) -> bool {
        match self {
            Backend::Threads(_) => false,
            Backend::IoUring(u) => u.wait(sh, need, deadline),
            Backend::Aio(a) => a.wait(sh, need, deadline),
        }
    }

    /// Whether completions arrive only when a reaper collects them from the kernel.
    pub(crate) fn reaped_from_kernel(&self) -> bool {
        matches!(self, Backend::IoUring(_) | Backend::Aio(_))
    }

    /// Slot `tag` was moved from QUEUED to CANCELED; the backend must still post its completion.
    pub(crate) fn canceled(&self, _sh: &Shared, _tag: u32) {
        match self {
            // The worker that pops the tag posts the Canceled completion.
            Backend::Threads(_) => {}
            // Requests are issued at submit; a slot is QUEUED only inside `submit`, which posts
            // the Canceled completion when `Slot::start` fails.
            Backend::IoUring(_) | Backend::Aio(_) => {}
        }
    }

    /// Asks the backend to cancel a RUNNING request. Never certain: the request's own
    /// completion says whether it was canceled (`Canceled`) or finished.
    pub(crate) fn cancel_running(&self, sh: &Shared, tag: u32, gen: u32) {
        match self {
            // A pool worker inside preadv2 cannot be interrupted safely.
            Backend::Threads(_) => {}
            Backend::IoUring(u) => u.cancel_running(sh, tag, gen),
            Backend::Aio(a) => a.cancel_running(sh, tag, gen),
        }
    }

    /// Stops the backend; every request has completed and been reaped.
    pub(crate) fn stop(&self, sh: &Shared) -> Result<()> {
        match self {
            Backend::Threads(p) => p.stop(sh),
            // The ring / AIO context is closed when the shared state is dropped; nothing is in
            // flight now.
            Backend::IoUring(_) | Backend::Aio(_) => Ok(()),
        }
    }
}
