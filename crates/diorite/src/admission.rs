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

use crate::sync::{AtomicU32, Ordering};
use crossbeam_utils::CachePadded;

/// Why [`Admission::admit`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `depth` requests are in flight.
    Full,
    /// Shutdown has begun.
    Shutdown,
}

/// Bit of `word` meaning "shutdown has begun"; the bits below it count admissions (at most
/// depth + the number of submitters backing out at once, far below 2^31).
const SHUT: u32 = 1 << 31;

/// The admission counter of one context. Invariants on the fields.
pub(crate) struct Admission {
    /// `SHUT | count`: admitted and not yet released, plus transient increments of submitters
    /// about to back out. Only read-modify-writes decide (see the module docs).
    word: CachePadded<AtomicU32>,
    depth: u32,
}

impl Admission {
    pub(crate) fn new(depth: u32) -> Admission {
        Admission {
            word: CachePadded::new(AtomicU32::new(0)),
            depth,
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
        if before >= self.depth {
            self.release();
            return Err(Refused::Full);
        }
        Ok(())
    }

    /// Releases one admission (a reaped request, or a submitter backing out). The request's tag
    /// must already be back.
    #[inline]
    pub(crate) fn release(&self) {
        // Release: pairs with the Acquire RMW in `admit` and the load in `in_flight`.
        self.word.fetch_sub(1, Ordering::Release);
    }

    /// Begins shutdown; `true` for the first call. Every request admitted before it is counted
    /// by [`Admission::in_flight`] until released.
    pub(crate) fn shut(&self) -> bool {
        // AcqRel: the RMW orders against every `admit` RMW on the same word (see the module
        // docs); Acquire also pairs with releases before it.
        self.word.fetch_or(SHUT, Ordering::AcqRel) & SHUT == 0
    }

    /// Admitted requests not yet released (plus submitters about to back out).
    pub(crate) fn in_flight(&self) -> u32 {
        // Acquire: pairs with the Release decrement in `release`: a count of zero means every
        // reaped request's completion handling is done.
        self.word.load(Ordering::Acquire) & !SHUT
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
