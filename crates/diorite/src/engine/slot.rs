//! The request slot: one per tag, holding a submitted request from `submit` until its completion
//! is reaped, and the state machine that says who may touch it (the manner of tokio's
//! `runtime/task/state.rs`: one atomic word, every transition one method returning what happened).
//!
//! # States
//! The word is `generation << 16 | state`, the generation 48 bits wide (see [`GEN_BITS`]); it is
//! read and built only as a `Snapshot`, and every conditional transition is one call of
//! `Slot::transition` (a compare-exchange loop with its three orderings named at the call):
//!
//! ```text
//!   FREE --queue--> QUEUED --start--> RUNNING --done--> DONE --free--> FREE (generation + 1)
//!                     |                                  ^
//!                     +--cancel--> CANCELED --done-------+
//! ```
//!
//! - `queue`: by the submitter holding the slot's tag, after it wrote the request (Release).
//! - `start`: by the backend that was handed the tag; fails when `cancel` got there first, and
//!   the backend then posts a `Canceled` completion without touching the request.
//! - `cancel`: by anyone holding a [`RequestId`](crate::RequestId) of this generation, only from
//!   QUEUED; a RUNNING request can only be asked to stop (its completion says what happened).
//! - `done`: by the backend, when it posts the completion; from then on the reaper owns the slot.
//! - `free`: by the reaper, after it took the request out; the generation moves on, so a stale
//!   id never names the next request in the slot.
//!
//! # Async requests: completion to a waker
//! A request submitted through a future ([`crate::future`]) carries the `ASYNC` flag: its
//! completion goes to the future's waker, not to the completion queue, and the slot is freed by
//! whichever of the two parties — the *completer* (the backend posting the completion) and the
//! *receiver* (the future) — is done with it last. Flags beside the state:
//!
//! - `WAKER`: the `waker` cell holds the receiver's waker. While it is set the receiver only
//!   reads the cell and the completer may read it too; the receiver writes the cell only after
//!   clearing `WAKER` with a read-modify-write that found the slot not yet DONE (so the
//!   completer's DONE transition, later in the word's modification order, sees `WAKER` clear
//!   and never reads the cell).
//! - `RX_GONE`: the receiver took the completion (`claim`) or was dropped (`detach`).
//! - `TX_GONE`: the completer finished with the slot (after waking the receiver).
//!
//! The party whose read-modify-write finds the other's flag already set frees the slot
//! (`free_async`): it drops the waker and whatever the receiver did not take, and bumps the
//! generation. So a waker is never dropped while the completer may still be waking it, and a
//! dropped future's buffers stay in the slot until the backend is done with them (loom models
//! `loom_async_*` below).
//!
//! # Who owns the request
//! Exactly one party at a time, handed over by the transitions: the submitter (FREE, holding the
//! tag) → the backend (RUNNING, Acquire in `start`) → the reaper (after it popped the slot's
//! completion event, Acquire through the completion ring) → the next submitter (Release in
//! `free`, Acquire through the tag allocator).

use crate::direct::request::Request;
use crate::sync::{AtomicI64, AtomicU64, Ordering, UnsafeCell};
use std::task::Waker;

const FREE: u32 = 0;
const QUEUED: u32 = 1;
const RUNNING: u32 = 2;
const CANCELED: u32 = 3;
const DONE: u32 = 4;
/// The state bits of the low word; the bits above are flags.
const STATE: u32 = 0b111;
/// The completion goes to the slot's waker (an async request), not to the completion queue.
const ASYNC: u32 = 1 << 3;
/// The `waker` cell holds the receiver's waker (see the module docs).
const WAKER: u32 = 1 << 4;
/// The receiver is done with the slot: it claimed the completion or was dropped.
const RX_GONE: u32 = 1 << 5;
/// The completer is done with the slot: it posted the completion and woke the receiver.
const TX_GONE: u32 = 1 << 6;

/// Bits of a slot's generation. A [`RequestId`](crate::RequestId) carries it beside the 16-bit
/// tag, so a stale id could name a later request in its slot only after 2^48 reuses of that
/// slot: at 20 million reuses a second (more than any backend completes), 163 days.
pub(crate) const GEN_BITS: u32 = 48;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;
/// The state and flags live in the low 16 bits of the word.
const LOW_BITS: u32 = 64 - GEN_BITS;

/// A slot generation (`GEN_BITS` wide).
pub(crate) type Gen = u64;

/// One value of a slot's state word: generation, state and flags, read or about to be written
/// (the manner of tokio's `state.rs` `Snapshot`). Every transition computes its new word from
/// one of these; nothing else does arithmetic on the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Snapshot(u64);

impl Snapshot {
    fn new(gen: Gen, low: u32) -> Snapshot {
        Snapshot(((gen & GEN_MASK) << LOW_BITS) | u64::from(low))
    }

    fn gen(self) -> Gen {
        self.0 >> LOW_BITS
    }

    /// The state (FREE .. DONE), flags stripped.
    fn state(self) -> u32 {
        self.0 as u32 & STATE
    }

    /// The flags beside the state.
    fn flags(self) -> u32 {
        self.0 as u32 & ((1 << LOW_BITS) - 1) & !STATE
    }

    fn has(self, flag: u32) -> bool {
        self.flags() & flag != 0
    }

    /// This word with its state replaced, flags and generation kept.
    fn with_state(self, state: u32) -> Snapshot {
        Snapshot((self.0 & !u64::from(STATE)) | u64::from(state))
    }

    /// FREE, with the generation after this one (wrapping at `GEN_BITS`).
    fn freed(self) -> Snapshot {
        Snapshot::new(next(self.gen()), FREE)
    }
}

/// The generation after `gen`, wrapping at `GEN_BITS`.
fn next(gen: Gen) -> Gen {
    (gen + 1) & GEN_MASK
}

/// Who frees an async slot, as found by the read-modify-write that ended one party's part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Release {
    /// The other party is still at it and frees the slot when it is done.
    Kept,
    /// The other party was already done: the caller frees the slot with
    /// [`Slot::free_async`].
    Free,
}

/// What [`Slot::start`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// QUEUED -> RUNNING: the backend owns the request and must issue it.
    Run,
    /// The request was canceled while queued: post its `Canceled` completion, do not touch it.
    Canceled,
}

/// What [`Slot::cancel`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cancel {
    /// QUEUED -> CANCELED by this call: the backend will post a `Canceled` completion.
    Canceled,
    /// Already canceled by an earlier call.
    AlreadyCanceled,
    /// Issued and not yet completed: only the backend can try to stop it.
    Running,
    /// Not this generation, or not in flight (free, done, reaped).
    NotFound,
}

/// One request slot. Invariants on the fields.
pub(crate) struct Slot {
    /// `generation << 16 | state`; the transitions above are its only writers.
    state: AtomicU64,
    /// The request: `Some` from `queue` until the reaper's `take`. Accessed only by the party
    /// the state machine makes its owner (see the module docs).
    req: UnsafeCell<Option<Request>>,
    /// Async slots: the completion's result. Written by the completer before its DONE
    /// transition (Release), read by the receiver after it saw DONE (Acquire); Relaxed itself.
    res: AtomicI64,
    /// Async slots: the receiver's waker, under the `WAKER` protocol (module docs).
    waker: UnsafeCell<Option<Waker>>,
}

impl Slot {
    pub(crate) fn new() -> Slot {
        Slot {
            state: AtomicU64::new(Snapshot::new(0, FREE).0),
            req: UnsafeCell::new(None),
            res: AtomicI64::new(0),
            waker: UnsafeCell::new(None),
        }
    }

    fn load(&self, order: Ordering) -> Snapshot {
        Snapshot(self.state.load(order))
    }

    fn store(&self, to: Snapshot, order: Ordering) {
        self.state.store(to.0, order);
    }

    /// Sets `flag`; the word before.
    fn set(&self, flag: u32, order: Ordering) -> Snapshot {
        Snapshot(self.state.fetch_or(u64::from(flag), order))
    }

    /// Clears `flag`; the word before.
    fn clear(&self, flag: u32, order: Ordering) -> Snapshot {
        Snapshot(self.state.fetch_and(!u64::from(flag), order))
    }

    /// The compare-exchange loop every conditional transition is: reads the word (`load`),
    /// asks `to` for the next one, and installs it (`success`; a failed exchange reads with
    /// `failure` and asks again). `Ok(word before)` once installed, `Err(word)` when `to`
    /// declined it.
    fn transition(
        &self,
        (load, success, failure): (Ordering, Ordering, Ordering),
        mut to: impl FnMut(Snapshot) -> Option<Snapshot>,
    ) -> Result<Snapshot, Snapshot> {
        let mut cur = self.load(load);
        loop {
            let Some(new) = to(cur) else {
                return Err(cur);
            };
            match self
                .state
                .compare_exchange_weak(cur.0, new.0, success, failure)
            {
                Ok(prev) => return Ok(Snapshot(prev)),
                Err(now) => cur = Snapshot(now),
            }
        }
    }

    /// Parks `req` in this FREE slot and makes it QUEUED; returns the generation.
    ///
    /// # Safety
    /// The caller holds the slot's tag (so the slot is FREE and no one else accesses it).
    #[inline]
    pub(crate) unsafe fn queue(&self, req: Request) -> Gen {
        // Relaxed: we own the tag; the slot was freed with a Release store that the tag
        // allocator's Acquire chain (put -> drain -> get) orders before us.
        let gen = self.load(Ordering::Relaxed).gen();
        // SAFETY: holding the tag makes us the slot's only accessor until we publish QUEUED.
        self.req.with_mut(|p| unsafe { *p = Some(req) });
        // Release: pairs with the Acquire loads in `start` and `cancel`: the request written
        // above is visible to whoever sees QUEUED.
        self.store(Snapshot::new(gen, QUEUED), Ordering::Release);
        gen
    }

    /// Parks `req` in this FREE slot as an async request whose completion goes to `waker`;
    /// returns the generation.
    ///
    /// # Safety
    /// As [`Slot::queue`].
    #[inline]
    pub(crate) unsafe fn queue_async(&self, req: Request, waker: &Waker) -> Gen {
        // Relaxed: as in `queue`.
        let gen = self.load(Ordering::Relaxed).gen();
        // SAFETY: holding the tag makes us the slot's only accessor until we publish QUEUED.
        self.req.with_mut(|p| unsafe { *p = Some(req) });
        // SAFETY: as above; `free_async` left the cell empty.
        self.waker.with_mut(|p| unsafe { *p = Some(waker.clone()) });
        // Release: pairs with the Acquire loads in `start`, `cancel` and `poll_async`.
        self.store(
            Snapshot::new(gen, QUEUED | ASYNC | WAKER),
            Ordering::Release,
        );
        gen
    }

    /// QUEUED -> RUNNING, or [`Start::Canceled`] when a cancel came first.
    #[inline]
    pub(crate) fn start(&self) -> Start {
        // Acquire (load, both outcomes): pairs with the Release store in `queue`; the winner
        // reads the request next. A failed exchange is a cancel, or the receiver of an async
        // request moving its flags: look again.
        let orders = (Ordering::Acquire, Ordering::Acquire, Ordering::Acquire);
        match self.transition(orders, |cur| {
            (cur.state() == QUEUED).then(|| cur.with_state(RUNNING))
        }) {
            Ok(_) => Start::Run,
            Err(_) => Start::Canceled,
        }
    }

    /// Cancels generation `gen`'s request if it is still QUEUED.
    pub(crate) fn cancel(&self, gen: Gen) -> Cancel {
        // Acquire (load, failure): pairs with the Release store in `queue`. AcqRel (success):
        // orders the cancel against `start`'s compare-exchange on the same word.
        let orders = (Ordering::Acquire, Ordering::AcqRel, Ordering::Acquire);
        match self.transition(orders, |cur| {
            (cur.gen() == gen && cur.state() == QUEUED).then(|| cur.with_state(CANCELED))
        }) {
            Ok(_) => Cancel::Canceled,
            Err(cur) => match (cur.gen(), cur.state()) {
                (g, _) if g != gen => Cancel::NotFound,
                (_, RUNNING) => Cancel::Running,
                (_, CANCELED) => Cancel::AlreadyCanceled,
                _ => Cancel::NotFound,
            },
        }
    }

    /// Cancels whatever generation is QUEUED here (shutdown). `true` when this call did.
    pub(crate) fn cancel_queued(&self) -> bool {
        // Relaxed is enough for a first look; `cancel` re-checks with Acquire.
        let gen = self.load(Ordering::Relaxed).gen();
        self.cancel(gen) == Cancel::Canceled
    }

    /// Whether this slot's request is an async one (its completion goes to a waker). Only for
    /// the party that owns the slot (it saw QUEUED with Acquire, which published the flag).
    #[inline]
    pub(crate) fn is_async(&self) -> bool {
        // Relaxed: the caller's Acquire of the state already ordered the flag's Release store.
        self.load(Ordering::Relaxed).has(ASYNC)
    }

    /// Whether the slot holds a completed async request its receiver has not claimed yet (a
    /// snapshot, for shutdown's count of requests that are finished but not freed).
    pub(crate) fn is_parked_async(&self) -> bool {
        // Acquire: pairs with the AcqRel transitions of `done_async` and `claim`/`detach`.
        let w = self.load(Ordering::Acquire);
        w.state() == DONE && w.flags() & (ASYNC | RX_GONE) == ASYNC
    }

    /// Whether generation `gen`'s request is issued and not yet completed.
    pub(crate) fn is_running(&self, gen: Gen) -> bool {
        // Acquire: pairs with the Release store in `queue` and the Acquire CAS in `start`.
        let w = self.load(Ordering::Acquire);
        (w.gen(), w.state()) == (gen, RUNNING)
    }

    /// The request of a slot the caller started.
    ///
    /// # Safety
    /// The caller moved this slot to RUNNING with [`Slot::start`] and has not called
    /// [`Slot::done`]; then no one else accesses the request.
    #[inline]
    pub(crate) unsafe fn request(&self) -> &Request {
        // SAFETY: per the caller's contract the slot is RUNNING and the caller owns it; `queue`
        // wrote `Some` before publishing QUEUED.
        self.req
            .with(|p| unsafe { (*p).as_ref() })
            .unwrap_or_else(|| {
                unreachable!("a RUNNING slot holds its request (slot protocol broken)")
            })
    }

    /// The request of a slot whose completion the caller is about to post (RUNNING or CANCELED,
    /// `done` not yet called): for the completion's bookkeeping.
    ///
    /// # Safety
    /// The caller is the backend posting this slot's one completion, before [`Slot::done`].
    #[inline]
    pub(crate) unsafe fn finishing(&self) -> Option<&Request> {
        // SAFETY: until `done` the backend posting the completion owns the slot (RUNNING), or
        // the request is canceled and no one else reads it (CANCELED; the canceler only moved
        // the state).
        self.req.with(|p| unsafe { (*p).as_ref() })
    }

    /// RUNNING or CANCELED -> DONE: the completion event is about to be posted; the reaper that
    /// pops it owns the slot.
    #[inline]
    pub(crate) fn done(&self) {
        // Relaxed load: only the posting backend moves the slot out of RUNNING/CANCELED.
        let gen = self.load(Ordering::Relaxed).gen();
        // Relaxed: the completion event's Release push publishes the slot to the reaper; DONE
        // only tells `cancel` that it is too late.
        self.store(Snapshot::new(gen, DONE), Ordering::Relaxed);
    }

    /// Takes the request out of a DONE slot and frees it for the next generation. Returns the
    /// request and the generation it had.
    ///
    /// # Safety
    /// The caller popped this slot's completion event (Acquire through the completion ring), so
    /// it is the slot's only accessor; it must put the tag back afterwards.
    #[inline]
    pub(crate) unsafe fn take(&self) -> (Option<Request>, Gen) {
        // SAFETY: per the caller's contract we own the DONE slot.
        let req = self.req.with_mut(|p| unsafe { (*p).take() });
        // Relaxed: we own the slot.
        let cur = self.load(Ordering::Relaxed);
        // Release: pairs with the Acquire loads in `cancel` and, through the tag allocator, with
        // the next submitter's `queue`.
        self.store(cur.freed(), Ordering::Release);
        (req, cur.gen())
    }

    // ---- Async slots (see the module docs) ----

    /// The completer's side: RUNNING or CANCELED -> DONE with result `res`, wakes the receiver
    /// if it registered a waker and is still there, then leaves the slot (`TX_GONE`).
    ///
    /// # Safety
    /// The caller is the backend posting this async slot's one completion, after it is done
    /// with the request (so the receiver may take it the moment it sees DONE).
    pub(crate) unsafe fn done_async(&self, res: i64) -> Release {
        // Relaxed: published by the AcqRel transition below.
        self.res.store(res, Ordering::Relaxed);
        // Relaxed load and failure: only we move the state out of RUNNING/CANCELED; the
        // exchange decides. AcqRel (success): Release publishes `res` (and the backend's writes
        // into the buffers) to a receiver that sees DONE; Acquire orders our read of the waker
        // cell after the receiver's write of it (its `WAKER` set, earlier in the word's order).
        let orders = (Ordering::Relaxed, Ordering::AcqRel, Ordering::Relaxed);
        let Ok(prev) = self.transition(orders, |cur| Some(cur.with_state(DONE))) else {
            unreachable!("the DONE transition is never declined")
        };
        if prev.flags() & (WAKER | RX_GONE) == WAKER {
            self.waker.with(|w| {
                // SAFETY: `WAKER` was set at our DONE transition, so the receiver writes the
                // cell no more (it would first have to clear `WAKER` and find the slot not
                // DONE), and nobody frees the slot before our `TX_GONE` below: shared reads.
                if let Some(w) = unsafe { (*w).as_ref() } {
                    w.wake_by_ref();
                }
            });
        }
        // AcqRel: Release ends our reads of the cell before a receiver that sees TX_GONE frees
        // it; Acquire orders the receiver's last accesses before our free, when we free.
        if self.set(TX_GONE, Ordering::AcqRel).has(RX_GONE) {
            Release::Free
        } else {
            Release::Kept
        }
    }

    /// The receiver's side of a poll: `Some(res)` when the completion is there (then call
    /// [`Slot::claim`]), else `None` with `waker` registered to be woken by it.
    ///
    /// # Safety
    /// The caller is the receiver of this slot's async request (its future), which has neither
    /// claimed nor detached it.
    pub(crate) unsafe fn poll_async(&self, waker: &Waker) -> Option<i64> {
        // Acquire: pairs with the AcqRel DONE transition in `done_async`.
        let cur = self.load(Ordering::Acquire);
        if cur.state() == DONE {
            return Some(self.res.load(Ordering::Relaxed));
        }
        if cur.has(WAKER) {
            // SAFETY: `WAKER` is set: the completer may read the cell, nobody writes it.
            let same = self
                .waker
                .with(|w| unsafe { (*w).as_ref() }.is_some_and(|w| w.will_wake(waker)));
            if same {
                return None;
            }
            // AcqRel: Acquire pairs with `done_async`'s transition (a DONE found here
            // publishes `res`); Release is harmless.
            let prev = self.clear(WAKER, Ordering::AcqRel);
            if prev.state() == DONE {
                // The completer may be reading the cell: leave it alone.
                return Some(self.res.load(Ordering::Relaxed));
            }
        }
        // SAFETY: `WAKER` is clear and the slot was not DONE when we cleared it (or found it
        // clear): the completer's later DONE transition sees `WAKER` clear and does not read
        // the cell.
        self.waker.with_mut(|w| unsafe { *w = Some(waker.clone()) });
        // AcqRel: Release publishes the cell to the completer's Acquire DONE transition;
        // Acquire pairs with a DONE that came first.
        let prev = self.set(WAKER, Ordering::AcqRel);
        if prev.state() == DONE {
            // The completer did not see the waker; we see its result.
            return Some(self.res.load(Ordering::Relaxed));
        }
        None
    }

    /// The receiver takes the request of a DONE async slot and leaves it (`RX_GONE`).
    ///
    /// # Safety
    /// The caller is the receiver and [`Slot::poll_async`] returned `Some` to it.
    pub(crate) unsafe fn claim(&self) -> (Option<Request>, Release) {
        // SAFETY: DONE: the completer no longer touches the request, and the slot is not freed
        // before our `RX_GONE` below.
        let req = self.req.with_mut(|p| unsafe { (*p).take() });
        // AcqRel: Release ends our accesses before a completer that sees RX_GONE frees the
        // slot; Acquire orders the completer's last accesses before our free.
        let prev = self.set(RX_GONE, Ordering::AcqRel);
        (
            req,
            if prev.has(TX_GONE) {
                Release::Free
            } else {
                Release::Kept
            },
        )
    }

    /// The receiver leaves without claiming (its future was dropped). Cancel first: the
    /// request stays in the slot until the completer is done with it.
    ///
    /// # Safety
    /// The caller is the receiver of this slot's async request, which has neither claimed nor
    /// detached it.
    pub(crate) unsafe fn detach(&self) -> Release {
        // AcqRel: as in `claim`.
        let prev = self.set(RX_GONE, Ordering::AcqRel);
        if prev.has(TX_GONE) {
            Release::Free
        } else {
            Release::Kept
        }
    }

    /// Frees an async slot both parties left: drops the waker, takes what the receiver did not
    /// take, and moves to FREE with the next generation.
    ///
    /// # Safety
    /// The caller got [`Release::Free`] from `done_async`, `claim` or `detach`; it must put the
    /// tag back afterwards.
    pub(crate) unsafe fn free_async(&self) -> Option<Request> {
        // SAFETY: both parties left (their AcqRel flags ordered their accesses before ours).
        let waker = self.waker.with_mut(|p| unsafe { (*p).take() });
        drop(waker);
        // SAFETY: as above.
        let req = self.req.with_mut(|p| unsafe { (*p).take() });
        // Relaxed: we own the slot.
        let cur = self.load(Ordering::Relaxed);
        // Release: as in `take`.
        self.store(cur.freed(), Ordering::Release);
        req
    }
}

#[cfg(all(test, not(diorite_loom)))]
mod tests {
    use super::*;

    /// A slot at generation `gen`, QUEUED (its request is `None`: only the state is tested).
    fn queued_at(gen: Gen) -> Slot {
        let slot = Slot::new();
        slot.store(Snapshot::new(gen, QUEUED), Ordering::Relaxed);
        slot
    }

    /// A stale id does not name a later request across the old 32-bit wrap: a slot reused
    /// 2^32 times (generation g + 2^32) is not canceled by an id of generation g, which a
    /// 32-bit generation could not tell apart.
    #[test]
    fn a_stale_id_does_not_match_across_2_pow_32_reuses() {
        let g = 12345;
        let later = queued_at(g + (1 << 32));
        assert_eq!(later.cancel(g), Cancel::NotFound);
        assert_eq!(later.cancel(g + (1 << 32)), Cancel::Canceled);
        let id = crate::RequestId::new(g + (1 << 32), 65535);
        assert_eq!((id.generation(), id.tag()), (g + (1 << 32), 65535));
        assert_ne!(id, crate::RequestId::new(g, 65535));
    }

    /// The generation wraps at `GEN_BITS`, leaving the state and flags alone.
    #[test]
    fn the_generation_wraps_at_its_width() {
        assert_eq!(next(GEN_MASK), 0);
        let w = Snapshot::new(GEN_MASK, DONE | ASYNC | TX_GONE);
        assert_eq!((w.gen(), w.state()), (GEN_MASK, DONE));
        assert_eq!(w.flags(), ASYNC | TX_GONE);
        assert_eq!(crate::RequestId::new(GEN_MASK, 7).generation(), GEN_MASK);
    }
}

#[cfg(all(test, diorite_loom))]
mod loom_models {
    //! The async hand-off between the completer (a backend posting the completion) and the
    //! receiver (the future): no lost wake-up, no access to the waker cell or the request by
    //! two parties at once (loom's `UnsafeCell` checks that), and the slot freed exactly once.
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;
    use loom::thread;
    use std::task::{Wake, Waker};

    struct Flag(crate::sync::AtomicBool);

    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn flag() -> (std::sync::Arc<Flag>, Waker) {
        let f = std::sync::Arc::new(Flag(crate::sync::AtomicBool::new(false)));
        (f.clone(), Waker::from(f))
    }

    /// A slot holding a queued async request whose future registered `waker` at submit.
    fn queued(waker: &Waker) -> Arc<Slot> {
        let slot = Arc::new(Slot::new());
        // SAFETY: a fresh slot; we are its only user.
        unsafe { slot.queue_async(Request::noop(), waker) };
        slot
    }

    /// Frees the slot when `rel` says this party is the last out; counts frees and returns
    /// whether a request was still in it.
    fn free_if(slot: &Slot, rel: Release, frees: &AtomicUsize) -> Option<bool> {
        if rel != Release::Free {
            return None;
        }
        // SAFETY: the transition that returned `rel` said this party frees the slot.
        let req = unsafe { slot.free_async() };
        frees.fetch_add(1, Ordering::SeqCst);
        Some(req.is_some())
    }

    /// The backend's side: start, complete, and free if the future is gone.
    fn complete(slot: &Slot, frees: &AtomicUsize) {
        assert_eq!(slot.start(), Start::Run);
        // SAFETY: we started the slot and post its one completion.
        let rel = unsafe { slot.done_async(5) };
        assert_ne!(
            free_if(slot, rel, frees),
            Some(true),
            "the future claimed the request"
        );
    }

    /// A completion racing the future's first poll with a different waker than the one given
    /// at submit (so the poll replaces the waker): the future either finds the result, or is
    /// woken through the waker it registered last; the slot is freed once.
    #[test]
    fn loom_async_completion_vs_first_poll() {
        loom::model(|| {
            let (_old, w0) = flag();
            let slot = queued(&w0);
            let frees = Arc::new(AtomicUsize::new(0));
            let backend = {
                let (slot, frees) = (slot.clone(), frees.clone());
                thread::spawn(move || complete(&slot, &frees))
            };
            let (new, w1) = flag();
            // SAFETY: we are the receiver, neither claimed nor detached.
            let res = match unsafe { slot.poll_async(&w1) } {
                Some(r) => r,
                None => {
                    // Pending: the completion must wake the waker we registered.
                    while !new.0.load(Ordering::SeqCst) {
                        thread::yield_now();
                    }
                    // SAFETY: as above.
                    unsafe { slot.poll_async(&w1) }.expect("woken, but no completion")
                }
            };
            assert_eq!(res, 5);
            // SAFETY: `poll_async` returned the result.
            let (req, rel) = unsafe { slot.claim() };
            assert!(req.is_some());
            assert_ne!(free_if(&slot, rel, &frees), Some(true));
            backend.join().unwrap();
            assert_eq!(frees.load(Ordering::SeqCst), 1, "freed twice or never");
            let w = slot.load(Ordering::SeqCst);
            assert_eq!((w.gen(), w.state()), (1, FREE));
        });
    }

    /// A completion racing the future's drop (after one poll): the request stays in the slot
    /// until the completer is done, whoever leaves last frees it, exactly once, and the waker
    /// is never dropped while the completer may be waking it.
    #[test]
    fn loom_async_completion_vs_drop() {
        loom::model(|| {
            let (_f, w0) = flag();
            let slot = queued(&w0);
            let frees = Arc::new(AtomicUsize::new(0));
            let backend = {
                let (slot, frees) = (slot.clone(), frees.clone());
                thread::spawn(move || {
                    assert_eq!(slot.start(), Start::Run);
                    // SAFETY: we started the slot and post its one completion.
                    let rel = unsafe { slot.done_async(5) };
                    // The dropped future's request is freed with the slot.
                    assert_ne!(free_if(&slot, rel, &frees), Some(false));
                })
            };
            let (_g, w1) = flag();
            // SAFETY: we are the receiver, neither claimed nor detached.
            let polled = unsafe { slot.poll_async(&w1) };
            // SAFETY: as above; the future is dropped (a completed but unclaimed result is
            // dropped with the slot's request).
            let rel = unsafe { slot.detach() };
            assert_ne!(free_if(&slot, rel, &frees), Some(false));
            let _ = polled;
            backend.join().unwrap();
            assert_eq!(frees.load(Ordering::SeqCst), 1, "freed twice or never");
            let w = slot.load(Ordering::SeqCst);
            assert_eq!((w.gen(), w.state()), (1, FREE));
        });
    }

    /// A future dropped while its request is still queued: the cancel wins or the start does;
    /// either way exactly one completion, and the slot is freed once.
    #[test]
    fn loom_async_cancel_on_drop_vs_start() {
        loom::model(|| {
            let (_f, w0) = flag();
            let slot = queued(&w0);
            let frees = Arc::new(AtomicUsize::new(0));
            let backend = {
                let (slot, frees) = (slot.clone(), frees.clone());
                thread::spawn(move || {
                    let res = match slot.start() {
                        Start::Run => 5,
                        Start::Canceled => -125,
                    };
                    // SAFETY: we own the slot's completion either way.
                    let rel = unsafe { slot.done_async(res) };
                    free_if(&slot, rel, &frees);
                })
            };
            let _ = slot.cancel(0);
            // SAFETY: we are the receiver, neither claimed nor detached.
            let rel = unsafe { slot.detach() };
            free_if(&slot, rel, &frees);
            backend.join().unwrap();
            assert_eq!(frees.load(Ordering::SeqCst), 1);
            let w = slot.load(Ordering::SeqCst);
            assert_eq!((w.gen(), w.state()), (1, FREE));
        });
    }
}
