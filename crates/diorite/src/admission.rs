//! Admission: how many requests a context lets in, and the hand-shake with shutdown.
//!
//! `in_flight` counts admitted requests (submitted and not yet reaped). A submitter increments
//! it first; the value it gets back decides: below `depth` it is admitted, else it backs out with
//! `QueueFull` — at once, never waiting for anyone. Every admitted request then takes a tag, and
//! since a request's tag goes back before its count does, admitted requests never outnumber
//! tags: an admitted submitter always finds a free tag (it may have to rescan while other
//! threads move tags between words, which is their progress, not a wait for it).
//!
//! Shutdown sets `shutdown` and then reads `in_flight`; a submitter increments `in_flight` and
//! then reads `shutdown` (both SeqCst). Either shutdown sees the request counted — and waits for
//! it — or the submitter sees shutdown and backs out.

use crate::sync::{AtomicBool, AtomicU32, Ordering};
use crossbeam_utils::CachePadded;

/// Why [`Admission::admit`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `depth` requests are in flight.
    Full,
    /// Shutdown has begun.
    Shutdown,
}

/// The admission counter of one context. Invariants on the fields.
pub(crate) struct Admission {
    /// Admitted and not yet released, plus transient increments of submitters about to back
    /// out. SeqCst where it pairs with `shutdown`; see the module docs.
    in_flight: CachePadded<AtomicU32>,
    depth: u32,
    /// Set once by `shut` (SeqCst).
    shutdown: AtomicBool,
}

impl Admission {
    pub(crate) fn new(depth: u32) -> Admission {
        Admission {
            in_flight: CachePadded::new(AtomicU32::new(0)),
            depth,
            shutdown: AtomicBool::new(false),
        }
    }

    /// Admits one request, or says why not. Never waits.
    pub(crate) fn admit(&self) -> Result<(), Refused> {
        // SeqCst: pairs with the SeqCst swap of `shutdown` and the load in `in_flight()` that
        // shutdown waits on: either shutdown sees this request, or we see shutdown.
        let before = self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.shutdown.load(Ordering::SeqCst) {
            self.release();
            return Err(Refused::Shutdown);
        }
        if before >= self.depth {
            self.release();
            return Err(Refused::Full);
        }
        Ok(())
    }

    /// Releases one admission (a reaped request, or a submitter backing out). The request's tag
    /// must already be back.
    pub(crate) fn release(&self) {
        // Release: pairs with the SeqCst RMW in `admit`, which reads this count.
        self.in_flight.fetch_sub(1, Ordering::Release);
    }

    /// Begins shutdown; `true` for the first call.
    pub(crate) fn shut(&self) -> bool {
        // SeqCst: pairs with the SeqCst increment in `admit`.
        !self.shutdown.swap(true, Ordering::SeqCst)
    }

    /// Admitted requests not yet released (SeqCst for shutdown's wait; a snapshot otherwise).
    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub(crate) fn depth(&self) -> u32 {
        self.depth
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

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
}
