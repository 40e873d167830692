//! Who collects kernel completions for futures: the driver thread (`driver.rs`, the default,
//! runtime-free), or — with the `tokio` feature and [`Reactor::Tokio`] — the reactor of the
//! tokio runtime the futures run on.
//!
//! # Why a runtime's reactor
//! io_uring delivers a completion that finished outside the submitting thread (an io-wq worker,
//! an interrupt) as *task work* of the submitting thread: that thread is woken to post the CQE,
//! whoever waits for it. With the driver thread, a parked executor is therefore woken twice per
//! batch (once to run the task work, once by the driver's `Waker::wake`) and the driver once.
//! With the runtime's reactor, the executor sleeps in `epoll_wait` on an fd that turns
//! readable with completions: on io_uring the ring's own fd (the kernel wakes its pollers as
//! it posts a CQE), on Linux AIO the context's completion eventfd (`IOCB_FLAG_RESFD`). The
//! task-work wake-up posts the CQE, the fd turns readable in the same thread, and a watcher
//! task drains the completion queue into the futures' wakers — one wake-up per batch, as for
//! a blocking reaper. The ring fd needs no reset after a wake-up; an eventfd is read back to
//! zero, a system call per wake-up (measured: 2.5 system calls per read at depth 1 with the
//! eventfd on io_uring, 2.0 with the ring fd; docs/benchmarks.md).
//!
//! # The watcher
//! One task per tokio runtime that polls the context's futures (`tokio::spawn`ed on it), found
//! through a per-thread cache so the check at submit costs no lock. It waits for the fd
//! (`AsyncFd` on a duplicate of it), resets it if it is the eventfd, clears the readiness,
//! then drains (`Backend::poll`), until the context closes (shutdown wakes each watcher's task
//! through its kick, not through the fd: see [`TokioWatchers::stop`]). A completion posted
//! after the drain read the queue wakes the fd's pollers again: the readiness cleared before
//! the drain is set anew. A future submitted outside any tokio
//! runtime, or in one built without I/O (`enable_io`), is served by the driver thread instead.
//!
//! # When the runtime stops serving
//! The watcher is chosen when a future submits; the future may later be polled elsewhere, and
//! the runtime may go away (dropped: its watcher task is dropped too) or never run at all (a
//! thread that only `enter`ed it). A future must complete wherever it is polled, so:
//! - a watcher task on its way out (also dropped by its runtime's shutdown) kicks what its
//!   futures pushed;
//! - a rescue thread per context ([`Rescue`]) watches the watchers' progress: while requests
//!   are in flight and no watcher made a step for 5 ms, it kicks and collects completions
//!   itself, waking the futures wherever they are polled now (a stranded future completes
//!   within a few milliseconds instead of never).
//!
//! # Deferred kicks
//! A future served by a watcher pushes its SQE (iocb) without entering the kernel and asks the
//! watcher to kick (the protocol in `kick.rs`); the watcher, woken as an ordinary task of the same runtime, hands
//! everything pushed meanwhile to the kernel in one `io_uring_enter` / `io_submit` when it next
//! runs — on a current-thread runtime right after the submitting task yields, before the
//! runtime parks. A task that refills 32 slots in one poll pays one syscall, not 32, and one
//! io-wq wake-up batch. This was the step that took futures from 0.66x to parity with the
//! blocking loop on zram (docs/benchmarks.md, "Futures against the blocking loop"): with a syscall per
//! future, the executor's extra CPU made it lose its core to a second io-wq worker. The cost:
//! a submission waits for the submitting task to yield (a task that submits and then blocks
//! the thread without awaiting delays its own I/O — as it would delay everything else on that
//! runtime). Where a device completes in bursts, a batch also reaches it later than
//! one-by-one submissions would, and the device idles meanwhile (a virtio disk here: 0.72-0.80x
//! the blocking loop always batched, against 0.92-0.97x never). [`SubmitBatching::Adaptive`]
//! submits at once while the device may run short of work — the kernel holds fewer than half
//! the context's depth, and does not complete requests inside the submitting call (Linux AIO
//! on zram does: there early submission keeps nothing busy) — and batches otherwise; it is
//! not the default because on io_uring over zram it lands in a slow regime in some runs (a
//! second io-wq worker competing with the executor). Whatever must find a request issued kicks first:
//! a cancel (`io_cancel` finds only submitted iocbs), shutdown, and a watcher on its way out.

#[cfg(feature = "tokio")]
use crate::{backend::Backend, engine::Engine, primitives::kick::Kick};
#[cfg(feature = "tokio")]
use std::sync::Arc;

/// How completions of a kernel backend (io_uring, Linux AIO) reach the context's futures. The
/// thread-pool backend needs neither: its workers wake futures themselves.
///
/// # Examples
/// ```
/// use diorite::{Context, Reactor, Request};
/// // With the `tokio` feature: futures polled in a tokio runtime with I/O wait in its reactor.
/// let ctx = Context::builder().reactor(Reactor::Tokio).build()?;
/// let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
/// let c = rt.block_on(ctx.run(Request::noop()));
/// assert_eq!(c.result?, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reactor {
    /// A driver thread per context, started by its first future, waits in the kernel and wakes
    /// futures. Works with every executor; costs a thread hand-off per batch of completions.
    #[default]
    Thread,
    /// The reactor of the tokio runtime each future is polled on (feature `tokio`): the
    /// executor thread itself sleeps on the context's completion fd. Needs runtimes with I/O
    /// enabled (`enable_io`, `enable_all`, `#[tokio::main]`); a future polled outside one is
    /// served by the driver thread.
    #[cfg(feature = "tokio")]
    Tokio,
}

/// The tokio watchers of one context. Invariants on the fields.
/// With `Reactor::Tokio`: when a future's submission enters the kernel
/// ([`ContextBuilder::submit_batching`](crate::ContextBuilder::submit_batching)). Batching
/// saves a syscall per I/O where the CPU is the limit; it costs where the device would
/// otherwise idle while the batch is collected. Measured in docs/benchmarks.md ("Futures against the
/// blocking loop").
///
/// # Examples
/// ```
/// use diorite::{Context, Reactor, SubmitBatching};
/// let ctx = Context::builder()
///     .reactor(Reactor::Tokio)
///     .submit_batching(SubmitBatching::Never)
///     .build()?;
/// # Ok::<(), diorite::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubmitBatching {
    /// Always batched (the default): the runtime's watcher hands everything the tasks pushed
    /// to the kernel in one `io_uring_enter` / `io_submit`, after the submitting task yields.
    #[default]
    Always,
    /// Batched, unless the device may run short of work: the kernel holds fewer than half
    /// the context's depth and does not complete requests inside the submitting call. Best
    /// here on a device that completes in bursts (a virtio disk) and on Linux AIO; on io_uring
    /// over zram it falls into a slow regime in some runs (docs/benchmarks.md).
    Adaptive,
    /// Never batched: each submission enters the kernel at once (one syscall each).
    Never,
}

/// What a watcher waits on: a descriptor the context keeps open (the watcher duplicates it),
/// and whether it must be read back to zero after each wake-up (an eventfd).
#[cfg(feature = "tokio")]
pub(crate) struct WatchFd {
    pub(crate) fd: i32,
    pub(crate) reset: bool,
}

#[cfg(feature = "tokio")]
pub(crate) struct TokioWatchers {
    /// A process-unique id of the context, for the per-thread cache (an address could be
    /// reused by a later context).
    id: u64,
    /// `(runtime, watcher task)`, one per runtime that polled this context's futures. Under
    /// the lock only on a cache miss.
    tasks: std::sync::Mutex<Vec<Watcher>>,
    /// The rescue thread, started with the first watcher (see [`Rescue`]).
    rescue: std::sync::Mutex<Option<(Arc<Rescue>, std::thread::JoinHandle<()>)>>,
}

/// What keeps a future from being stranded by a runtime that stopped serving it: its runtime
/// was dropped (the watcher task with it), or it is polled on a thread that entered a
/// runtime nobody drives (`rt.enter()`), so its watcher never runs. A thread per context
/// that watches the watchers' progress: while requests are in flight and no watcher made a
/// step for one period, it kicks what was pushed and collects completions (waking the
/// futures, wherever they are polled now). A healthy watcher that simply waits for a slow
/// device costs it one cheap kick-and-poll per period; nothing on the I/O path.
#[cfg(feature = "tokio")]
pub(crate) struct Rescue {
    /// Steps made by any watcher of the context (Relaxed: a progress counter compared with
    /// itself by one reader).
    steps: crate::sync::AtomicU64,
    /// Set by `stop` (under the lock, with `cv`), so the thread's timed wait ends at once.
    stopped: std::sync::Mutex<bool>,
    cv: std::sync::Condvar,
}

#[cfg(feature = "tokio")]
impl Rescue {
    /// A period while requests are in flight, and one while the context is idle.
    const BUSY: std::time::Duration = std::time::Duration::from_millis(5);
    const IDLE: std::time::Duration = std::time::Duration::from_millis(50);

    fn run(&self, engine: &Engine, backend: &Backend) {
        use crate::sync::Ordering;
        let mut last = self.steps.load(Ordering::Relaxed);
        let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let period = if engine.admission().in_flight() > 0 {
                Rescue::BUSY
            } else {
                Rescue::IDLE
            };
            stopped = self
                .cv
                .wait_timeout(stopped, period)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            if *stopped || engine.cq().is_closed() {
                return;
            }
            let now = self.steps.load(Ordering::Relaxed);
            if now == last && engine.admission().in_flight() > 0 {
                backend.kick(engine);
                if backend.poll(engine) {
                    engine.hand_over(true);
                }
            }
            last = now;
        }
    }
}

/// One runtime's watcher task and its deferred kick.
#[cfg(feature = "tokio")]
struct Watcher {
    rt: tokio::runtime::Id,
    task: tokio::task::JoinHandle<()>,
    kick: Arc<Kick>,
}

#[cfg(feature = "tokio")]
thread_local! {
    /// The last `(context id, runtime id)` this thread checked: its watcher runs, with this
    /// kick.
    static WATCHED: std::cell::RefCell<Option<(u64, tokio::runtime::Id, Arc<Kick>)>> =
        const { std::cell::RefCell::new(None) };
}

#[cfg(feature = "tokio")]
impl TokioWatchers {
    pub(crate) fn new() -> TokioWatchers {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TokioWatchers {
            // Relaxed: only uniqueness matters.
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            tasks: std::sync::Mutex::new(Vec::new()),
            rescue: std::sync::Mutex::new(None),
        }
    }

    /// Wakes every watcher, so it sees the context closed and ends (dropping its references
    /// to the engine and the backend), and stops and joins the rescue thread (shutdown, after
    /// the completion queue closed, before the backend stops). The watchers are woken as
    /// tasks, not through their fd: with watchers on two runtimes, the one that drains the
    /// queue first leaves the other's fd unreadable by the time its runtime looks (epoll
    /// re-checks readiness before it reports), and that watcher would never wake.
    pub(crate) fn stop(&self) {
        for w in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            w.kick.request();
        }
        let taken = self.rescue.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((r, handle)) = taken {
            *r.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
            r.cv.notify_all();
            let _ = handle.join();
        }
    }

    /// The rescue thread's shared state, starting the thread on first use; `None` when the
    /// OS refuses a thread (the watchers then run without a safety net).
    fn rescue(&self, engine: &Arc<Engine>, backend: &Arc<Backend>) -> Option<Arc<Rescue>> {
        let mut slot = self.rescue.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((r, _)) = slot.as_ref() {
            return Some(r.clone());
        }
        let r = Arc::new(Rescue {
            steps: crate::sync::AtomicU64::new(0),
            stopped: std::sync::Mutex::new(false),
            cv: std::sync::Condvar::new(),
        });
        let (r2, engine, backend) = (r.clone(), engine.clone(), backend.clone());
        let handle = std::thread::Builder::new()
            .name("diorite-rescue".into())
            .spawn(move || r2.run(&engine, &backend))
            .ok()?;
        *slot = Some((r.clone(), handle));
        Some(r)
    }

    /// Makes sure a watcher serves the tokio runtime this thread runs in. `false` when there
    /// is none here (or it has no I/O driver): the caller falls back to the driver thread.
    /// `fd` names the fd to wait on (making the completion eventfd on first use).
    #[inline]
    pub(crate) fn ensure(
        &self,
        engine: &Arc<Engine>,
        backend: &Arc<Backend>,
        fd: impl FnOnce() -> crate::Result<WatchFd>,
    ) -> bool {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let rt = handle.id();
        if WATCHED.with_borrow(|w| matches!(w, Some((c, r, _)) if (*c, *r) == (self.id, rt))) {
            return true;
        }
        self.start(handle, engine, backend, fd)
    }

    /// After a submission pushed without a kick, on the thread where `ensure` just returned
    /// `true`: has this runtime's watcher kick. (Should the cache name another context — it
    /// cannot, nothing runs between the two calls — kicks at once.)
    #[inline]
    pub(crate) fn kick_later(&self, engine: &Engine, backend: &Backend, batching: SubmitBatching) {
        let now = match batching {
            SubmitBatching::Adaptive => backend.device_may_starve(engine.depth()),
            SubmitBatching::Always => false,
            SubmitBatching::Never => true,
        };
        if now {
            backend.kick(engine);
            return;
        }
        let deferred = WATCHED.with_borrow(|w| match w {
            Some((c, _, kick)) if *c == self.id => {
                kick.request();
                true
            }
            _ => false,
        });
        if !deferred {
            backend.kick(engine);
        }
    }

    #[cold]
    fn start(
        &self,
        handle: tokio::runtime::Handle,
        engine: &Arc<Engine>,
        backend: &Arc<Backend>,
        fd: impl FnOnce() -> crate::Result<WatchFd>,
    ) -> bool {
        use std::os::fd::{FromRawFd, OwnedFd};
        let rt = handle.id();
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|w| !w.task.is_finished());
        if !tasks.iter().any(|w| w.rt == rt) {
            if engine.cq().is_closed() {
                return false;
            }
            let Ok(WatchFd { fd: raw, reset }) = fd() else {
                return false;
            };
            // SAFETY: F_DUPFD_CLOEXEC on a descriptor the context keeps open has no memory
            // arguments.
            let dup = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, 0) };
            if dup < 0 {
                return false;
            }
            // SAFETY: `dup` is a new descriptor that nothing else owns.
            let owned = unsafe { OwnedFd::from_raw_fd(dup) };
            // Registering panics when the runtime was built without I/O (tokio offers no
            // way to ask first): that runtime's futures use the driver thread.
            let registered = {
                let _enter = handle.enter();
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    // SAFETY: an `OwnedFd` is a valid open descriptor, owned by the `AsyncFd`
                    // for its whole life, and always returns the same number.
                    unsafe {
                        tokio::io::unix::AsyncFd::register_with_interest(
                            owned,
                            tokio::io::Interest::READABLE,
                        )
                    }
                }))
            };
            let Ok(Ok(afd)) = registered else {
                return false;
            };
            let Some(rescue) = self.rescue(engine, backend) else {
                return false;
            };
            let (engine, backend) = (engine.clone(), backend.clone());
            let kick = Arc::new(Kick::default());
            tasks.push(Watcher {
                rt,
                task: handle.spawn(watch(afd, reset, engine, backend, kick.clone(), rescue)),
                kick,
            });
        }
        let Some(w) = tasks.iter().find(|w| w.rt == rt) else {
            return false;
        };
        WATCHED.set(Some((self.id, rt, w.kick.clone())));
        true
    }
}

/// The watcher: kick deferred submissions; wait for the fd, reset it (`reset`: an eventfd),
/// drain; until the context closes (kicking what is left, so nothing pushed stays
/// unsubmitted).
#[cfg(feature = "tokio")]
async fn watch(
    afd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    reset: bool,
    engine: Arc<Engine>,
    backend: Arc<Backend>,
    kick: Arc<Kick>,
    rescue: Arc<Rescue>,
) {
    use std::os::fd::AsRawFd;
    /// Dropped with the task — also when its runtime shuts down mid-wait: what its futures
    /// pushed goes to the kernel at once (the rescue thread collects the completions).
    struct OnExit<'a>(&'a Engine, &'a Backend);
    impl Drop for OnExit<'_> {
        fn drop(&mut self) {
            self.1.kick(self.0);
        }
    }
    let _exit = OnExit(&engine, &backend);
    loop {
        // Relaxed: a progress counter (see `Rescue::steps`).
        rescue.steps.fetch_add(1, crate::sync::Ordering::Relaxed);
        if engine.cq().is_closed() {
            backend.kick(&engine);
            return;
        }
        let ready = std::future::poll_fn(|cx| {
            if kick.take(cx.waker()) {
                backend.kick(&engine);
                // Woken by `TokioWatchers::stop`: the loop's check ends the watcher.
                if engine.cq().is_closed() {
                    return std::task::Poll::Ready(None);
                }
                // What the kick completed inside the submitting call (Linux AIO on zram reads
                // inside `io_submit`) is in the kernel's queue already: deliver it now, not a
                // round trip through the runtime's reactor later (the fd's readiness is only
                // learned at the reactor's next turn). No syscall: user-space queues only.
                if backend.polls_in_user_space() && backend.poll(&engine) {
                    hand_over(&engine, reset);
                    return std::task::Poll::Ready(None);
                }
            }
            afd.poll_read_ready(cx).map(Some)
        })
        .await;
        let mut guard = match ready {
            None => continue,
            Some(Ok(guard)) => guard,
            Some(Err(_)) => {
                backend.kick(&engine);
                return;
            }
        };
        if reset {
            let mut n = [0u8; 8];
            // SAFETY: reads 8 bytes into a live buffer from our (non-blocking) eventfd; EAGAIN
            // (already reset) is fine.
            unsafe { libc::read(afd.get_ref().as_raw_fd(), n.as_mut_ptr().cast(), 8) };
        }
        // Reset and clear before draining: a completion after the drain wakes the fd's
        // pollers again; one between the reset and `clear_ready` is already queued in epoll
        // (tokio clears only the readiness it handed out).
        guard.clear_ready();
        let drained = backend.poll(&engine);
        if drained {
            hand_over(&engine, reset);
        }
    }
}

/// After a watcher moved kernel completions into the context: blocking reapers' completions
/// among them wait in the completion queue, so a user's loop on the completion eventfd is
/// told (`Engine::hand_over`, the fd's contract) — unless the watcher's own fd is that
/// eventfd (Linux AIO): signalling it would only wake the watcher again, and again, while
/// the completions wait for their reaper.
#[cfg(feature = "tokio")]
fn hand_over(engine: &Engine, reset: bool) {
    if !reset {
        engine.hand_over(true);
    }
}
