//! The async driver: the thread that collects kernel completions for futures, so they run on any
//! executor without the user starting anything runtime-specific.
//!
//! The kernel backends (io_uring, Linux AIO) deliver a completion only when someone reaps it
//! from the kernel. A blocking user does that in `get_events`; a future cannot block. So the
//! first async request on a kernel-backend context starts one driver thread, which stays in the
//! kernel wait (`io_uring_enter(GETEVENTS)` / `io_getevents`, for one event at a time) and
//! delivers whatever arrives: an async request's completion straight to its future's waker
//! (`Slot::done_async`), any other to the completion queue. The thread-pool backend needs no
//! driver: its workers post completions themselves.
//!
//! Cost per I/O: none when the executor finds its completions first (a future that is polled
//! and not yet complete drains io_uring's completion queue itself, without a syscall); else one
//! wake-up of the driver per batch of completions and one `Waker::wake` per future, which for a
//! parked executor is one futex or eventfd write.
//!
//! While the driver holds the kernel wait, blocking reapers of the same context sleep on the
//! completion queue and the driver delivers for them (the kernel-wait hand-off, `kwait.rs`).
//! Shutdown closes the queue, gets the driver out of the kernel and joins it before the backend
//! stops.

use crate::backend::{Backend, Wait};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::sync::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The driver of one context: started on demand, joined at shutdown. Invariants on the fields.
#[derive(Default)]
pub(crate) struct Driver {
    /// Set (Release) once the thread runs; read (Acquire) by submitters' fast check.
    started: AtomicBool,
    /// The thread; taken and joined by `stop`. Starting and stopping hold this lock, so a
    /// start after the queue closed never spawns a thread that nobody joins.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Driver {
    /// Makes sure completions of a kernel backend reach futures: starts the driver thread if
    /// it is not running.
    ///
    /// # Errors
    /// [`ErrorKind::Shutdown`] once the context closed; [`ErrorKind::Os`] when the thread
    /// cannot be started.
    #[inline]
    pub(crate) fn ensure(&self, engine: &Arc<Engine>, backend: &Arc<Backend>) -> Result<()> {
        // Acquire: pairs with the Release store below.
        if !backend.reaped_from_kernel() || self.started.load(Ordering::Acquire) {
            return Ok(());
        }
        self.start(engine, backend)
    }

    #[cold]
    fn start(&self, engine: &Arc<Engine>, backend: &Arc<Backend>) -> Result<()> {
        let mut slot = self.thread.lock().unwrap_or_else(|p| p.into_inner());
        if self.started.load(Ordering::Acquire) {
            return Ok(());
        }
        if engine.cq().is_closed() {
            return Err(Error::new(ErrorKind::Shutdown, "submit"));
        }
        let (engine, backend) = (engine.clone(), backend.clone());
        let handle = std::thread::Builder::new()
            .name("diorite-driver".into())
            .spawn(move || run(&engine, &backend))
            .map_err(|e| Error::from_io("Context: start the async driver", &e))?;
        *slot = Some(handle);
        // Release: pairs with the Acquire loads above.
        self.started.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether the driver thread was started.
    pub(crate) fn is_started(&self) -> bool {
        // Acquire: pairs with the Release store in `start`.
        self.started.load(Ordering::Acquire)
    }

    /// Joins the driver. The completion queue is closed and the kernel waiter woken: the
    /// driver is on its way out.
    pub(crate) fn stop(&self) -> Result<()> {
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        match handle.map(JoinHandle::join) {
            Some(Err(_)) => Err(Error::new(ErrorKind::Os, "shutdown")
                .with_detail("the async driver thread panicked")),
            _ => Ok(()),
        }
    }
}

/// The driver thread: deliver kernel completions until the queue closes.
fn run(engine: &Engine, backend: &Backend) {
    let cq = engine.cq();
    while !cq.is_closed() {
        // What the driver moves into the completion queue is for the blocking reapers and the
        // completion fd's loop: `hand_over` tells the latter.
        if backend.poll(engine) {
            engine.hand_over(true);
            continue;
        }
        match backend.wait_as(engine, 1, None, true) {
            Wait::Waited => engine.hand_over(true),
            // A blocking reaper is in the kernel wait and delivers for everyone: sleep until it
            // leaves (or the queue closes).
            Wait::Busy => {
                let kw = backend.kernel_wait();
                let free = || kw.is_none_or(|k| k.is_free());
                cq.sleep(usize::MAX, None, Some(&free));
            }
            Wait::Unsupported => return,
        }
    }
}
