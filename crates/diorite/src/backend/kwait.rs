//! The kernel wait of the kernel backends (io_uring, Linux AIO): at most one reaper at a time
//! blocks in the kernel (`io_uring_enter(GETEVENTS)` / `io_getevents`) and delivers what arrives
//! to the context's completion queue; other reapers sleep on the queue until their need is met or
//! the kernel wait is free again.
//!
//! # Protocol
//! - `try_enter` claims the wait (compare-exchange on `busy`) and records the waiter's need.
//! - Leaving clears `busy` (SeqCst) and then calls [`CompletionQueue::wake_all`] (which fences):
//!   a reaper that registered to sleep with "until the kernel wait is free" either sees `busy`
//!   cleared in its last look, or is woken (the hand-off is never lost; loom model
//!   `loom_kernel_wait_handoff`).
//! - Nothing a submitter needs is held while a reaper is in the kernel.
//! - Whoever must get the waiter out (close, a completion made in user space, a reaper needing
//!   fewer events than the waiter) asks the backend to post [`KernelWait::need`] wake-up events
//!   through the kernel, which the backends skip when they deliver.

use crate::engine::completion::CompletionQueue;
use crate::sync::{fence, AtomicBool, AtomicUsize, Ordering};

/// Who is in the kernel wait, and for how many events. Invariants on the fields.
#[derive(Default)]
pub(crate) struct KernelWait {
    /// A reaper is in (or entering) the kernel wait. Set by `try_enter` (Acquire CAS), cleared
    /// by `Guard::drop` (SeqCst store, paired with the sleeper's SeqCst load in `is_free`).
    busy: AtomicBool,
    /// The events the waiter asked the kernel for (0 when none waits). Written by the waiter
    /// only; Relaxed: a hint for how many wake-ups get it out.
    need: AtomicUsize,
}

/// Held while a reaper is in the kernel wait; leaving hands the wait over.
pub(crate) struct Guard<'a> {
    kw: &'a KernelWait,
    cq: &'a CompletionQueue,
}

impl KernelWait {
    /// Claims the kernel wait for `need` events, or `None` when another reaper holds it. A
    /// reaper (`driver == false`) does not enter while the queue has events it could reap; the
    /// async driver (`driver.rs`) waits for the kernel whatever the queue holds.
    pub(crate) fn try_enter<'a>(
        &'a self,
        need: usize,
        cq: &'a CompletionQueue,
        driver: bool,
    ) -> Option<Guard<'a>> {
        // Acquire: pairs with the SeqCst clear in `Guard::drop` of the previous waiter.
        self.busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        self.need.store(need, Ordering::Relaxed);
        let guard = Guard { kw: self, cq };
        // SeqCst fence: pairs with the fence `close` issues after it set `closed`: either the
        // closer sees this waiter (and wakes it), or this waiter sees the queue closed and does
        // not enter the kernel.
        fence(Ordering::SeqCst);
        // The same fence pairs with the one a poster issues after it posted a completion made
        // in user space and before it reads `need` to decide whether to wake us: either it
        // sees us (and wakes us), or we see its completion here and do not block.
        if cq.is_closed() || (!driver && cq.ready() > 0) {
            return None;
        }
        Some(guard)
    }

    /// Whether no reaper holds the kernel wait.
    #[inline]
    pub(crate) fn is_free(&self) -> bool {
        // SeqCst: pairs with the SeqCst clear in `Guard::drop` (see the module docs).
        !self.busy.load(Ordering::SeqCst)
    }

    /// The events the current waiter waits for (0 when none). The caller has issued the SeqCst
    /// fence that pairs with the one in `try_enter` since it changed what a waiter must see:
    /// posting a completion (`CompletionQueue::post` fences) or closing the queue
    /// (`CompletionQueue::close` fences).
    #[inline]
    pub(crate) fn need(&self) -> usize {
        if self.is_free() {
            0
        } else {
            self.need.load(Ordering::Relaxed)
        }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.kw.need.store(0, Ordering::Relaxed);
        // SeqCst: pairs with the SeqCst load in `is_free` of a reaper registering to sleep.
        self.kw.busy.store(false, Ordering::SeqCst);
        self.cq.wake_all();
    }
}
