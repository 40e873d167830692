//! Backends: where requests meet the kernel. A closed set (io_uring, Linux AIO, a thread pool)
//! behind one interface, chosen per context and reported — never a silent fallback.
//!
//! The context talks to a backend through the crate-private `Backend` enum: `submit` a slot's tag
//! (the request is in the slot, QUEUED). The backend sees only the engine's narrow interface
//! (`engine.rs`): it starts the slot (`Engine::begin`, which hands it the request or posts the
//! `Canceled` completion), performs the I/O, and posts the slot's one completion with
//! `Engine::complete`. Only the modules below this one touch the kernel's I/O ABI.

pub(crate) mod aio;
pub mod caps;
pub(crate) mod kwait;
pub(crate) mod null;
pub(crate) mod pieces;
pub(crate) mod threads;
pub(crate) mod uring;

use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use std::fmt;
use std::sync::{Arc, OnceLock};

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
    /// No I/O at all: every request completes at submit with its full length (fio's `null`
    /// engine), for measuring the engine's own cost. Never chosen by `Auto`.
    Null,
    /// The thread pool with fault injection ([`crate::faults`]): the rules given to
    /// `ContextBuilder::faults` (none: the thread pool itself). Never chosen by `Auto`.
    Faulty,
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
    /// The null backend ([`BackendChoice::Null`]).
    Null,
    /// The faulty backend ([`BackendChoice::Faulty`]).
    Faulty,
}

impl BackendKind {
    /// The name used on the command line (fio's engine names where they exist).
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::IoUring => "io_uring",
            BackendKind::Aio => "aio",
            BackendKind::Threads => "threads",
            BackendKind::Null => "null",
            BackendKind::Faulty => "faulty",
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

/// How an io_uring ring is set up (the builder's `build_local`, `sqpoll`, `iopoll`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UringSetup {
    /// One thread submits and reaps (`LocalContext`): `SINGLE_ISSUER | DEFER_TASKRUN` and a
    /// registered ring fd.
    pub(crate) single_issuer: bool,
    /// A kernel thread polls the SQ (`SQPOLL`): its idle time in ms before it sleeps, and the
    /// CPU it is bound to.
    pub(crate) sqpoll: Option<(u32, Option<u32>)>,
    /// Completions are polled from the device (`IOPOLL`).
    pub(crate) iopoll: bool,
}

impl UringSetup {
    /// Whether only io_uring can give what is asked.
    pub(crate) fn needs_uring(&self) -> bool {
        self.sqpoll.is_some() || self.iopoll
    }
}

/// What the builder asks a backend to register and set up.
pub(crate) struct RegisterRequest<'a> {
    pub(crate) files: &'a [crate::DirectFile],
    pub(crate) pools: &'a [crate::BufPool],
    /// Linux AIO may take buffered files (its submit then blocks).
    pub(crate) blocking_aio: bool,
    pub(crate) uring: UringSetup,
    /// The faulty backend's rules.
    pub(crate) faults: Option<&'a crate::faults::Faults>,
    /// The power-loss simulator's recorder (faulty backend only).
    pub(crate) recorder: Option<&'a crate::faults::Recorder>,
}

/// Why a probe found a backend unavailable, and whether that lasts: a kernel without the
/// backend, a sysctl or seccomp policy, a missing opcode last for the process; a descriptor,
/// memory or `fs.aio-max-nr` limit may be lifted, and is probed again at the next build.
pub(crate) struct Refused {
    pub(crate) reason: String,
    pub(crate) lasting: bool,
}

impl Refused {
    /// A refusal by errno `e`: lasting for `ENOSYS` (no such syscall, or seccomp) and `EPERM`
    /// (a policy), passing for anything else (a limit that may be lifted).
    pub(crate) fn by_errno(e: i32, reason: String) -> Refused {
        Refused {
            reason,
            lasting: matches!(e, libc::ENOSYS | libc::EPERM),
        }
    }

    /// A refusal that lasts: the kernel lacks what the backend needs.
    pub(crate) fn lasting(reason: String) -> Refused {
        Refused {
            reason,
            lasting: true,
        }
    }
}

/// Whether one backend is available here: a success or a lasting refusal is kept for the
/// process; a passing one is probed again next time (`Context::build` probes only the backends
/// it may use).
static URING: OnceLock<BackendStatus> = OnceLock::new();
static AIO: OnceLock<BackendStatus> = OnceLock::new();

fn status(kind: BackendKind) -> BackendStatus {
    let cached = |cell: &OnceLock<BackendStatus>,
                  probe: fn() -> std::result::Result<String, Refused>| {
        if let Some(s) = cell.get() {
            return s.clone();
        }
        let (st, keep) = match probe() {
            Ok(reason) => (
                BackendStatus {
                    kind,
                    available: true,
                    reason,
                },
                true,
            ),
            Err(r) => (
                BackendStatus {
                    kind,
                    available: false,
                    reason: r.reason,
                },
                r.lasting,
            ),
        };
        if keep {
            cell.get_or_init(|| st).clone()
        } else {
            st
        }
    };
    match kind {
        BackendKind::IoUring => cached(&URING, uring::probe),
        BackendKind::Aio => cached(&AIO, aio::probe),
        BackendKind::Threads | BackendKind::Null | BackendKind::Faulty => BackendStatus {
            kind,
            available: true,
            reason: "always available".into(),
        },
    }
}

/// Probes every backend on this machine, in `Auto`'s order of preference: io_uring (ring
/// creation, the opcodes used, timed waits), Linux AIO (`io_setup`, poll iocbs), the thread
/// pool. What a probe finds is kept for the process when it lasts (available; or a kernel,
/// policy or opcode that refuses it); a refusal by a limit that may be lifted (`EMFILE`,
/// `ENOMEM` from the memlock limit, `EAGAIN` from `fs.aio-max-nr`) is probed again next time.
pub fn probe() -> Vec<BackendStatus> {
    [BackendKind::IoUring, BackendKind::Aio, BackendKind::Threads]
        .into_iter()
        .map(status)
        .collect()
}

/// The running backend of one context (a sealed set: enum dispatch, no vtable).
// One per context, owned by it: variant size does not matter, and boxing the larger variant
// would add a pointer chase to every submit.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Backend {
    Threads(threads::Pool),
    IoUring(uring::Uring),
    Aio(aio::Aio),
    Null(null::Null),
}

/// What [`Backend::wait`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Waited in the kernel and delivered what arrived.
    Waited,
    /// Another reaper is in the kernel wait: sleep on the completion queue until it leaves.
    Busy,
    /// The backend has no kernel wait (the thread pool): sleep on the completion queue.
    Unsupported,
}

/// Builds the backend for `choice`; with `Auto`, also the statuses of the backends it skipped
/// (not available here, or failed to start, each with the reason).
pub(crate) fn select(
    choice: BackendChoice,
    depth: u32,
    tags: u32,
    threads: usize,
    register: &RegisterRequest<'_>,
) -> Result<(Backend, Vec<BackendStatus>)> {
    if register.uring.needs_uring()
        && !matches!(choice, BackendChoice::Auto | BackendChoice::IoUring)
    {
        return Err(
            Error::new(ErrorKind::InvalidInput, "Context::build").with_detail(format!(
                "sqpoll and iopoll are io_uring setups; the {choice:?} backend has neither"
            )),
        );
    }
    let kinds: &[BackendKind] = match choice {
        // SQPOLL / IOPOLL: io_uring or nothing (a silent fallback would drop what was asked).
        BackendChoice::Auto if register.uring.needs_uring() => &[BackendKind::IoUring],
        BackendChoice::Auto => &[BackendKind::IoUring, BackendKind::Aio, BackendKind::Threads],
        BackendChoice::IoUring => &[BackendKind::IoUring],
        BackendChoice::Aio => &[BackendKind::Aio],
        BackendChoice::Threads => &[BackendKind::Threads],
        BackendChoice::Null => &[BackendKind::Null],
        BackendChoice::Faulty => &[BackendKind::Faulty],
    };
    let auto = choice == BackendChoice::Auto && !register.uring.needs_uring();
    let mut skipped = Vec::new();
    for &kind in kinds {
        let st = status(kind);
        if !st.available {
            if !auto {
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
        let built = match kind {
            BackendKind::Threads => threads::Pool::new(depth, threads, None).map(Backend::Threads),
            BackendKind::Faulty => {
                let rules = crate::faults::FaultState::new(
                    register.faults.unwrap_or(&Default::default()),
                    register.recorder,
                );
                threads::Pool::new(depth, threads, Some(rules)).map(Backend::Threads)
            }
            BackendKind::IoUring => uring::Uring::new(depth, tags, register).map(Backend::IoUring),
            BackendKind::Aio => aio::Aio::new(depth, tags, register.blocking_aio).map(Backend::Aio),
            BackendKind::Null => Ok(Backend::Null(null::Null)),
        };
        match built {
            Ok(b) => return Ok((b, skipped)),
            Err(e) if auto && kind != BackendKind::Threads => skipped.push(BackendStatus {
                kind,
                available: false,
                reason: format!("available, but starting it failed: {e}"),
            }),
            Err(e) => return Err(e),
        }
    }
    Err(Error::new(ErrorKind::Unsupported, "Context::build").with_detail("no backend is available"))
}

impl Backend {
    pub(crate) fn kind(&self) -> BackendKind {
        match self {
            Backend::Threads(p) if p.faults().is_some() => BackendKind::Faulty,
            Backend::Threads(_) => BackendKind::Threads,
            Backend::IoUring(_) => BackendKind::IoUring,
            Backend::Aio(_) => BackendKind::Aio,
            Backend::Null(_) => BackendKind::Null,
        }
    }

    pub(crate) fn report(&self) -> String {
        match self {
            Backend::Threads(p) => p.report(),
            Backend::IoUring(u) => u.report(),
            Backend::Aio(a) => a.report(),
            Backend::Null(n) => n.report(),
        }
    }

    /// Whether completions are posted only by threads calling into the context (submit,
    /// get_events): everything but the thread pool, whose workers post.
    pub(crate) fn completes_in_caller(&self) -> bool {
        !matches!(self, Backend::Threads(_))
    }

    /// Whether the ring takes one issuing thread (io_uring `SINGLE_ISSUER | DEFER_TASKRUN`).
    pub(crate) fn single_issuer(&self) -> bool {
        matches!(self, Backend::IoUring(u) if u.single_issuer())
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
    pub(crate) fn validate(&self, req: &crate::direct::request::Request) -> Result<()> {
        match self {
            Backend::Aio(a) => a.validate(req),
            Backend::IoUring(u) => u.validate(req),
            Backend::Null(n) => n.validate(req),
            _ => Ok(()),
        }
    }

    /// Starts worker threads; called once, after the engine exists.
    pub(crate) fn start(&self, engine: &Arc<Engine>) -> Result<()> {
        match self {
            Backend::Threads(p) => p.start(engine),
            Backend::IoUring(_) | Backend::Aio(_) | Backend::Null(_) => Ok(()),
        }
    }

    /// Hands the backend slot `tag` (QUEUED). With `kick == false` the caller will call
    /// [`Backend::kick`] after a batch.
    pub(crate) fn submit(&self, engine: &Engine, tag: u32, kick: bool) {
        match self {
            Backend::Threads(p) => p.submit(tag, kick),
            Backend::IoUring(u) => u.submit(engine, tag, kick),
            Backend::Aio(a) => a.submit(engine, tag, kick),
            Backend::Null(n) => n.submit(engine, tag),
        }
    }

    /// Whether a submission left for a deferred kick could leave the device short of work:
    /// the kernel holds fewer than half of `depth` requests (pieces), and they complete
    /// asynchronously (not inside the submitting call). The deferred-kick policy of
    /// `reactor.rs` then kicks at once.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn device_may_starve(&self, depth: u32) -> bool {
        let half = u64::from(depth / 2);
        match self {
            Backend::IoUring(u) => u.in_kernel() < half,
            Backend::Aio(a) => {
                let (held, inline) = a.in_kernel();
                held < half && !inline
            }
            Backend::Threads(_) | Backend::Null(_) => false,
        }
    }

    /// Makes the backend start on what was submitted without a kick.
    pub(crate) fn kick(&self, engine: &Engine) {
        match self {
            Backend::Threads(p) => p.kick(),
            Backend::IoUring(u) => u.kick(),
            Backend::Aio(a) => a.kick(engine),
            Backend::Null(_) => {}
        }
    }

    /// Lets a reaper that is about to wait make progress itself (reap a kernel queue, or run a
    /// queued job). `true` when it did something, so the reaper should look again.
    pub(crate) fn poll(&self, engine: &Engine) -> bool {
        match self {
            Backend::Threads(p) => p.poll(engine),
            Backend::IoUring(u) => u.poll(engine),
            Backend::Aio(a) => a.poll(engine),
            Backend::Null(_) => false,
        }
    }

    /// Lets one reaper wait inside the kernel for `need` completions (until `deadline`),
    /// delivering what arrives. Holds nothing a submitter needs while it waits.
    pub(crate) fn wait(
        &self,
        engine: &Engine,
        need: usize,
        deadline: Option<std::time::Instant>,
    ) -> Wait {
        self.wait_as(engine, need, deadline, false)
    }

    /// [`Backend::wait`] for the async driver, which waits for the kernel even while the
    /// completion queue holds events (they are the blocking reapers' to take).
    pub(crate) fn wait_as(
        &self,
        engine: &Engine,
        need: usize,
        deadline: Option<std::time::Instant>,
        driver: bool,
    ) -> Wait {
        match self {
            Backend::Threads(_) | Backend::Null(_) => Wait::Unsupported,
            Backend::IoUring(u) => u.wait(engine, need, deadline, driver),
            Backend::Aio(a) => a.wait(engine, need, deadline, driver),
        }
    }

    /// The kernel wait, for backends that have one.
    pub(crate) fn kernel_wait(&self) -> Option<&kwait::KernelWait> {
        match self {
            Backend::Threads(_) | Backend::Null(_) => None,
            Backend::IoUring(u) => Some(u.kernel_wait()),
            Backend::Aio(a) => Some(a.kernel_wait()),
        }
    }

    /// Gets a reaper out of the kernel wait, if one is in it: posts as many wake-up events
    /// through the kernel as it waits for (they are never delivered as completions).
    pub(crate) fn wake_kernel_waiter(&self) {
        match self {
            Backend::Threads(_) | Backend::Null(_) => {}
            Backend::IoUring(u) => u.wake(),
            Backend::Aio(a) => a.wake(),
        }
    }

    /// An fd of the backend's own that a runtime's reactor can wait on for completions,
    /// with no reset after a wake-up (io_uring's ring fd); `None` where only the context's
    /// completion eventfd announces them.
    #[cfg(feature = "tokio")]
    pub(crate) fn watch_fd(&self) -> Option<i32> {
        match self {
            Backend::IoUring(u) => u.ring_fd(),
            Backend::Aio(_) | Backend::Threads(_) | Backend::Null(_) => None,
        }
    }

    /// Has the kernel signal the context's completion fd for the completions it reports
    /// (io_uring: `IORING_REGISTER_EVENTFD`; AIO: `IOCB_FLAG_RESFD` on every iocb). The
    /// thread pool's completions are signaled by the engine.
    pub(crate) fn attach_eventfd(&self, fd: i32) -> Result<()> {
        match self {
            Backend::Threads(_) | Backend::Null(_) => Ok(()),
            Backend::IoUring(u) => u.attach_eventfd(fd),
            Backend::Aio(a) => {
                a.attach_eventfd(fd);
                Ok(())
            }
        }
    }

    /// Whether [`Backend::poll`] costs no syscall (io_uring's completion queue, or Linux AIO's
    /// event ring read in user space): a future that is not yet complete may poll.
    pub(crate) fn polls_in_user_space(&self) -> bool {
        match self {
            Backend::IoUring(_) => true,
            Backend::Aio(a) => a.polls_in_user_space(),
            Backend::Threads(_) | Backend::Null(_) => false,
        }
    }

    /// Whether completions arrive only when a reaper collects them from the kernel (then a
    /// reaper does not spin before it sleeps).
    pub(crate) fn reaped_from_kernel(&self) -> bool {
        matches!(self, Backend::IoUring(_) | Backend::Aio(_))
    }

    /// Asks the backend to cancel a RUNNING request. Never certain: the request's own
    /// completion says whether it was canceled (`Canceled`) or finished.
    pub(crate) fn cancel_running(&self, engine: &Engine, tag: u32, gen: crate::engine::slot::Gen) {
        match self {
            // A pool worker inside preadv2 cannot be interrupted safely; a null request is
            // never running when a cancel comes.
            Backend::Threads(_) | Backend::Null(_) => {}
            Backend::IoUring(u) => u.cancel_running(engine, tag, gen),
            Backend::Aio(a) => a.cancel_running(engine, tag, gen),
        }
    }

    /// The faulty backend's rules at work.
    pub(crate) fn faults(&self) -> Option<&crate::faults::FaultState> {
        match self {
            Backend::Threads(p) => p.faults(),
            _ => None,
        }
    }

    /// Stops the backend; every request has completed and been reaped.
    pub(crate) fn stop(&self) -> Result<()> {
        match self {
            Backend::Threads(p) => p.stop(),
            // The ring / AIO context is closed when the backend is dropped; nothing is in
            // flight now.
            Backend::IoUring(_) | Backend::Aio(_) | Backend::Null(_) => Ok(()),
        }
    }
}

#[cfg(all(test, not(diorite_loom)))]
mod tests {
    use super::*;
    use crate::Context;

    /// A named backend probes nothing else, and a probe's lasting answer is kept for the
    /// process (before, every build probed io_uring and AIO: 37-73 ms each time).
    #[test]
    fn builds_probe_only_what_they_use_and_only_once() {
        for _ in 0..3 {
            Context::builder()
                .backend(BackendChoice::Threads)
                .build()
                .unwrap();
        }
        assert!(URING.get().is_none() && AIO.get().is_none());
        let aio = Context::builder().backend(BackendChoice::Aio).build();
        assert!(URING.get().is_none(), "building AIO probed io_uring");
        let first = AIO.get().cloned();
        assert!(first.is_some());
        drop(aio);
        let _ = Context::builder().backend(BackendChoice::Aio).build();
        assert_eq!(AIO.get().cloned(), first);
    }
}
