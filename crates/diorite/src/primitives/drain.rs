//! Opportunistic draining that loses no drain: the completion queues of io_uring and Linux AIO
//! are drained by whoever gets there — a future polling its request, the tokio watcher woken by
//! the completion fd, a driver thread — under a lock taken with `try_lock`, so no one waits for
//! another's drain. A caller that finds the lock held used to return at once; but the holder
//! may have read the queue before a completion arrived, and the caller may be the one the
//! completion's wake-up was for (the watcher, which had just reset the completion fd): the
//! completion then sat in the queue with nobody told (a hang, 1 run in 30-100 of the
//! multi-thread tokio test on io_uring).
//!
//! # The protocol
//! One atomic word holds `BUSY` (a drainer owns the queue) and `AGAIN` (a drain was asked
//! for since the owner last looked); every step is a read-modify-write of it, so all callers'
//! steps are in one modification order (no store-buffering between a flag and a lock: a first
//! version with a flag beside a `Mutex::try_lock` had that hole, and the loom model found it).
//! - A caller announces itself: `fetch_or(AGAIN)`. If `BUSY` was set, the owner will find
//!   `AGAIN` when it tries to leave and drain again — after reading this announcement.
//! - Otherwise it takes ownership with a CAS that clears `AGAIN` and sets `BUSY`; its drain
//!   starts after every announcement the CAS read. If the CAS finds `BUSY` (another took over
//!   after reading this announcement) or `AGAIN` clear (another drained after reading it and
//!   left), the caller's drain is done by that other.
//! - The owner leaves with a CAS `BUSY -> 0`; finding `AGAIN`, it clears it (CAS) and drains
//!   once more.
//!
//! AcqRel on every step: each reads the latest value in the word's modification order and
//! synchronizes with the step that wrote it, so a drain sees every post made before an
//! announcement it read. The loom model below checks that every post is drained.

use crate::sync::{AtomicU32, Mutex, Ordering};

const BUSY: u32 = 1;
const AGAIN: u32 = 2;

/// A drain lock that keeps every drain request (see the module docs). Invariants on the fields.
pub(crate) struct DrainLock<T> {
    /// `BUSY` | `AGAIN` (see the module docs). Every access is an AcqRel read-modify-write
    /// (or an Acquire load before one), each the partner of the others.
    state: AtomicU32,
    /// The drainer's state (the reaper's event buffer, or nothing); locked only by the owner
    /// of `BUSY`, so never contended.
    data: Mutex<T>,
}

impl<T> DrainLock<T> {
    pub(crate) fn new(state: T) -> DrainLock<T> {
        DrainLock {
            state: AtomicU32::new(0),
            data: Mutex::new(state),
        }
    }

    /// Takes ownership if nobody has it (clearing `AGAIN`); `false` when another owner has
    /// it or has drained since (then that one's drain covers the caller's announcement).
    fn take(&self, announced: bool) -> bool {
        loop {
            // Acquire: the value the CAS below starts from (see the module docs).
            let cur = self.state.load(Ordering::Acquire);
            if cur & BUSY != 0 || (announced && cur & AGAIN == 0) {
                return false;
            }
            // AcqRel: see the module docs.
            if self
                .state
                .compare_exchange(cur, BUSY, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return true;
            }
        }
    }

    /// Leaves ownership; `true` when `AGAIN` was set meanwhile (it is cleared, ownership kept,
    /// and the owner drains once more).
    fn leave_or_again(&self) -> bool {
        // AcqRel: see the module docs.
        match self
            .state
            .compare_exchange(BUSY, 0, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => false,
            Err(_) => {
                // Only `AGAIN` can have been added: clear it, keep `BUSY`.
                self.state.fetch_and(!AGAIN, Ordering::AcqRel);
                true
            }
        }
    }

    /// Runs `drain` (which returns whether it found anything) now, or makes sure the current
    /// owner runs it once more after this call; whether this call's drains found anything.
    pub(crate) fn drain(&self, mut drain: impl FnMut(&mut T) -> bool) -> bool {
        // AcqRel: the announcement (see the module docs).
        if self.state.fetch_or(AGAIN, Ordering::AcqRel) & BUSY != 0 || !self.take(true) {
            return false;
        }
        let mut any = false;
        loop {
            any |= drain(&mut crate::sync::lock(&self.data));
            if !self.leave_or_again() {
                return any;
            }
        }
    }

    /// Ownership for a caller that must keep it across a blocking wait (an AIO reaper in
    /// `io_getevents`), or `None` when another has it. Announcements made meanwhile are
    /// reported by [`Held::release`]; the holder then drains for them.
    pub(crate) fn try_hold(&self) -> Option<Held<'_, T>> {
        if !self.take(false) {
            return None;
        }
        Some(Held {
            gate: self,
            g: Some(crate::sync::lock(&self.data)),
        })
    }
}

/// Ownership taken by [`DrainLock::try_hold`].
pub(crate) struct Held<'a, T> {
    gate: &'a DrainLock<T>,
    g: Option<crate::sync::MutexGuard<'a, T>>,
}

impl<T> Held<'_, T> {
    pub(crate) fn state(&mut self) -> &mut T {
        self.g.as_mut().expect("held until released")
    }

    /// Gives ownership up; `true` when a drain was asked for meanwhile (the caller then drains
    /// through [`DrainLock::drain`]).
    pub(crate) fn release(mut self) -> bool {
        drop(self.g.take());
        // AcqRel: see the module docs.
        self.gate.state.swap(0, Ordering::AcqRel) & AGAIN != 0
    }
}

impl<T> Drop for Held<'_, T> {
    fn drop(&mut self) {
        if self.g.take().is_some() {
            // Dropped without `release` (a panic): give ownership up.
            // AcqRel: see the module docs.
            self.gate.state.swap(0, Ordering::AcqRel);
        }
    }
}

#[cfg(all(test, diorite_loom))]
mod tests {
    use super::*;
    use crate::sync::AtomicUsize;
    use loom::sync::Arc;
    use loom::thread;

    /// Two threads each post one item to a queue and then ask for a drain, against each
    /// other's drains: every posted item must be drained by some drain (a lost drain leaves
    /// `drained < 2` with both threads done).
    #[test]
    fn loom_every_post_is_drained() {
        loom::model(|| {
            let posted = Arc::new(AtomicUsize::new(0));
            let gate = Arc::new(DrainLock::new(0usize));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (posted, gate) = (posted.clone(), gate.clone());
                    thread::spawn(move || {
                        // SeqCst: the test's own queue; what a CQE's publication is.
                        posted.fetch_add(1, Ordering::SeqCst);
                        gate.drain(|seen| {
                            let now = posted.load(Ordering::SeqCst);
                            let any = now > *seen;
                            *seen = now;
                            // The drain goes on after reading the queue (a preemption point):
                            // a post may land before the lock is released.
                            thread::yield_now();
                            any
                        });
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let g = crate::sync::lock(&gate.data);
            assert_eq!(*g, 2, "a post was never drained");
        });
    }
}
