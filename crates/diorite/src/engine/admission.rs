//! Admission: how many requests a context lets in, and the hand-shake with shutdown.
//!
//! `in_flight` counts admitted requests (submitted and not yet reaped). A submitter increments
//! it first; the value it gets back decides: below `depth` it is admitted, else it backs out with
//! `QueueFull` — at once, never waiting for anyone. Every admitted request then takes a tag, and
//! since a request's tag goes back before its count does, admitted requests never outnumber
//! tags: an admitted submitter always finds a free tag (it may have to rescan while other
//! threads move tags between words, which is their progress, not a wait for it).
//!
//! Shutdown is a bit in the same word: `shut` sets it with one read-modify-write, `admit`
//! increments with one. The word's modification order puts one before the other: either the
//! increment came first (shutdown's RMW returns a count that includes it, and shutdown waits
//! for it) or the bit came first (the submitter's RMW returns it set, and it backs out). No
//! fence, no second location.
//!
//! # Async submitters wait for an admission
//! A future whose request finds the context full does not fail: it queues its waker on
//! `waiters` and sets the `WAITERS` bit in the same word, then retries. A release that finds the
//! bit set and leaves an admission free wakes the oldest waiter. Both the registration and the
//! release are read-modify-writes of the one word, so either the release sees the bit, or the
//! waiter's retry (after its registration in the word's order) sees the freed count — no lost
//! wake-up (loom model `loom_async_waiter_never_misses_a_free`). A waiter that was woken but is
//! dropped, or that got in without needing the wake, passes the wake on.

use crate::sync::{lock, AtomicU32, Mutex, Ordering};
use crossbeam_utils::CachePadded;
use std::collections::VecDeque;
use std::task::Waker;

/// Why [`Admission::admit`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `depth` requests are in flight.
    Full,
    /// Shutdown has begun.
    Shutdown,
}

/// Bit of `word` meaning "shutdown has begun"; the bits below `WAITERS` count admissions (at
/// most depth + the number of submitters backing out at once, far below 2^30).
const SHUT: u32 = 1 << 31;
/// Bit of `word` meaning "`waiters` is not empty"; set and cleared under the `waiters` lock.
const WAITERS: u32 = 1 << 30;
const COUNT: u32 = WAITERS - 1;

/// The admission counter of one context. Invariants on the fields.
pub(crate) struct Admission {
    /// `SHUT | WAITERS | count`: admitted and not yet released, plus transient increments of
    /// submitters about to back out. Only read-modify-writes decide (see the module docs).
    word: CachePadded<AtomicU32>,
    depth: u32,
    /// Async submitters waiting for an admission, oldest first, each with its ticket. Non-empty
    /// exactly while `WAITERS` is set (both change under this lock). Its capacity grows to the
    /// most waiters ever at once and is then reused: waiting allocates only while it grows.
    waiters: Mutex<Waiters>,
}

/// The queue of async submitters waiting for an admission.
struct Waiters {
    /// `(ticket, waker)`, oldest first.
    list: VecDeque<(u64, Waker)>,
    /// The last ticket handed out.
    last: u64,
}

impl Admission {
    pub(crate) fn new(depth: u32) -> Admission {
        Admission {
            word: CachePadded::new(AtomicU32::new(0)),
            depth,
            waiters: Mutex::new(Waiters {
                list: VecDeque::new(),
                last: 0,
            }),
        }
    }

    /// Admits one request, or says why not. Never waits.
    #[inline]
    pub(crate) fn admit(&self) -> Result<(), Refused> {
        // Acquire: pairs with the Release decrement in `release`, so a slot and tag freed by
        // a reaper are seen freed by the submitter its release admitted. The RMW reads the
        // latest value, so the verdict is exact.
        let before = self.word.fetch_add(1, Ordering::Acquire);
        if before & SHUT != 0 {
            self.release();
            return Err(Refused::Shutdown);
        }
        if before & COUNT >= self.depth {
            self.release();
            return Err(Refused::Full);
        }
        Ok(())
    }

    /// Releases one admission (a reaped request, or a submitter backing out). The request's tag
    /// must already be back. Wakes a waiting async submitter when this leaves an admission
    /// free (a back-out that leaves none free wakes nobody, so full-depth retries never make a
    /// wake-up storm).
    #[inline]
    pub(crate) fn release(&self) {
        // Release: pairs with the Acquire RMW in `admit` and the load in `in_flight`; the RMW
        // also orders this release against a waiter's registration (module docs).
        let before = self.word.fetch_sub(1, Ordering::Release);
        if before & WAITERS != 0 && (before & COUNT) <= self.depth {
            self.wake_one();
        }
    }

    /// Queues an async submitter's `waker` to be woken when an admission may be free (under
    /// `ticket`, made on its first call and kept by the caller; a later call with the same
    /// ticket only updates the waker). The caller then retries [`Admission::admit`].
    pub(crate) fn wait(&self, ticket: &mut Option<u64>, waker: &Waker) {
        let mut w = lock(&self.waiters);
        if let Some(t) = *ticket {
            if let Some(e) = w.list.iter_mut().find(|e| e.0 == t) {
                if !e.1.will_wake(waker) {
                    e.1 = waker.clone();
                }
                return;
            }
        }
        w.last = w.last.wrapping_add(1);
        let t = w.last;
        *ticket = Some(t);
        w.list.push_back((t, waker.clone()));
        // AcqRel: a read-modify-write of the admission word, ordered against every release
        // (module docs).
        self.word.fetch_or(WAITERS, Ordering::AcqRel);
    }

    /// Takes `ticket` off the queue. `false` when it was no longer there: a release woke it, and
    /// if the caller does not use that wake-up (it got in anyway, or gives up), it passes it on
    /// with [`Admission::wake_one`].
    pub(crate) fn leave(&self, ticket: u64) -> bool {
        let mut w = lock(&self.waiters);
        let Some(i) = w.list.iter().position(|e| e.0 == ticket) else {
            return false;
        };
        drop(w.list.remove(i));
        if w.list.is_empty() {
            // AcqRel: as in `wait`.
            self.word.fetch_and(!WAITERS, Ordering::AcqRel);
        }
        true
    }

    /// Wakes the oldest waiting async submitter, if any.
    pub(crate) fn wake_one(&self) {
        let mut w = lock(&self.waiters);
        let first = w.list.pop_front();
        if w.list.is_empty() {
            // AcqRel: as in `wait`.
            self.word.fetch_and(!WAITERS, Ordering::AcqRel);
        }
        drop(w);
        if let Some((_, waker)) = first {
            waker.wake();
        }
    }

    /// Wakes every waiting async submitter (shutdown: they find it and fail).
    fn wake_all(&self) {
        let mut w = lock(&self.waiters);
        let all = std::mem::take(&mut w.list);
        // AcqRel: as in `wait`.
        self.word.fetch_and(!WAITERS, Ordering::AcqRel);
        drop(w);
        all.into_iter().for_each(|(_, waker)| waker.wake());
    }

    /// Begins shutdown; `true` for the first call. Every request admitted before it is counted
    /// by [`Admission::in_flight`] until released; waiting async submitters are woken (and
    /// refused).
    pub(crate) fn shut(&self) -> bool {
        // AcqRel: the RMW orders against every `admit` RMW on the same word (see the module
        // docs); Acquire also pairs with releases before it.
        let first = self.word.fetch_or(SHUT, Ordering::AcqRel) & SHUT == 0;
        if first {
            self.wake_all();
        }
        first
    }

    /// Admitted requests not yet released (plus submitters about to back out).
    pub(crate) fn in_flight(&self) -> u32 {
        // Acquire: pairs with the Release decrement in `release`: a count of zero means every
        // reaped request's completion handling is done.
        self.word.load(Ordering::Acquire) & COUNT
    }

    /// [`Admission::in_flight`] read with a read-modify-write (AcqRel): either it counts an
    /// `admit` that is earlier in the word's modification order, or that `admit` (Acquire)
    /// reads from it and so sees everything the caller wrote before (the late completion fd
    /// of `Context::completion_fd` relies on it). Not for the I/O path.
    pub(crate) fn in_flight_synced(&self) -> u32 {
        self.word.fetch_add(0, Ordering::AcqRel) & COUNT
    }

    pub(crate) fn depth(&self) -> u32 {
        self.depth
    }
}

#[cfg(all(test, diorite_loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// The late completion fd (`Context::completion_fd`): the attacher publishes the fd
    /// (Release store), then reads the count with `in_flight_synced`; a submitter is admitted
    /// (Acquire RMW), then reads the fd (Acquire). Either the attacher counts the submitter
    /// (and starts the driver for it) or the submitter issues with the fd: never neither.
    #[test]
    fn loom_late_notify_fd_counts_or_is_seen() {
        loom::model(|| {
            let a = Arc::new(Admission::new(4));
            let fd = Arc::new(crate::sync::AtomicI32::new(-1));
            let t = {
                let (a, fd) = (a.clone(), fd.clone());
                thread::spawn(move || {
                    a.admit().unwrap();
                    fd.load(Ordering::Acquire)
                })
            };
            fd.store(7, Ordering::Release);
            let counted = a.in_flight_synced();
            let seen = t.join().unwrap();
            assert!(
                counted > 0 || seen == 7,
                "a submitter neither counted nor issued with the fd"
            );
        });
    }

    /// Two submitters at depth 1: exactly one is admitted, the other gets `Full` at once (no
    /// wait), and shutdown racing a submitter either sees it counted or refuses it.
    #[test]
    fn loom_admission_full_and_shutdown() {
        loom::model(|| {
            let a = Arc::new(Admission::new(1));
            let t = {
                let a = a.clone();
                thread::spawn(move || a.admit())
            };
            let mine = a.admit();
            let theirs = t.join().unwrap();
            let admitted = [mine, theirs].iter().filter(|r| r.is_ok()).count();
            assert_eq!(admitted, 1, "{mine:?} {theirs:?}");
            assert_eq!(a.in_flight(), 1);
        });
        loom::model(|| {
            let a = Arc::new(Admission::new(4));
            let t = {
                let a = a.clone();
                thread::spawn(move || a.admit())
            };
            a.shut();
            let seen = a.in_flight();
            match t.join().unwrap() {
                // Admitted after shutdown began is impossible; admitted before means shutdown
                // must have counted it (it is never released here).
                Ok(()) => assert!(seen >= 1, "shutdown missed an admitted request"),
                Err(r) => assert_eq!(r, Refused::Shutdown),
            }
        });
    }

    /// An async submitter at full depth racing the release of the one admission: it either gets
    /// in on its retry, or is woken (a lost wake-up would leave `woken` false with the
    /// admission free, which the assertion catches).
    #[test]
    fn loom_async_waiter_never_misses_a_free() {
        use std::sync::atomic::{AtomicBool as StdBool, Ordering as StdOrdering};
        use std::task::{Wake, Waker};
        struct Flag(StdBool);
        impl Wake for Flag {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.store(true, StdOrdering::SeqCst);
            }
        }
        loom::model(|| {
            let a = Arc::new(Admission::new(1));
            a.admit().unwrap();
            let releaser = {
                let a = a.clone();
                thread::spawn(move || a.release())
            };
            let flag = std::sync::Arc::new(Flag(StdBool::new(false)));
            let waker = Waker::from(flag.clone());
            let mut ticket = None;
            let got_in = match a.admit() {
                Ok(()) => true,
                Err(_) => {
                    a.wait(&mut ticket, &waker);
                    a.admit().is_ok()
                }
            };
            releaser.join().unwrap();
            if got_in {
                if let Some(t) = ticket {
                    if !a.leave(t) {
                        a.wake_one();
                    }
                }
            } else {
                assert!(
                    flag.0.load(StdOrdering::SeqCst),
                    "lost wake-up: free, but not woken"
                );
                assert!(a.admit().is_ok());
            }
        });
    }
}
