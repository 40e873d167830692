//! The request slot: one per tag, holding a submitted request from `submit` until its completion
//! is reaped, and the state machine that says who may touch it (the manner of tokio's
//! `runtime/task/state.rs`: one atomic word, every transition one method returning what happened).
//!
//! # States
//! The word is `generation << 32 | state`:
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
//! # Who owns the request
//! Exactly one party at a time, handed over by the transitions: the submitter (FREE, holding the
//! tag) → the backend (RUNNING, Acquire in `start`) → the reaper (after it popped the slot's
//! completion event, Acquire through the completion ring) → the next submitter (Release in
//! `free`, Acquire through the tag allocator).

use crate::request::Request;
use crate::sync::{AtomicU64, Ordering, UnsafeCell};

const FREE: u32 = 0;
const QUEUED: u32 = 1;
const RUNNING: u32 = 2;
const CANCELED: u32 = 3;
const DONE: u32 = 4;

fn pack(gen: u32, state: u32) -> u64 {
    (u64::from(gen) << 32) | u64::from(state)
}

fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
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
    /// `generation << 32 | state`; the transitions above are its only writers.
    state: AtomicU64,
    /// The request: `Some` from `queue` until the reaper's `take`. Accessed only by the party
    /// the state machine makes its owner (see the module docs).
    req: UnsafeCell<Option<Request>>,
}

impl Slot {
    pub(crate) fn new() -> Slot {
        Slot {
            state: AtomicU64::new(pack(0, FREE)),
            req: UnsafeCell::new(None),
        }
    }

    /// Parks `req` in this FREE slot and makes it QUEUED; returns the generation.
    ///
    /// # Safety
    /// The caller holds the slot's tag (so the slot is FREE and no one else accesses it).
    #[inline]
    pub(crate) unsafe fn queue(&self, req: Request) -> u32 {
        // Relaxed: we own the tag; the slot was freed with a Release store that the tag
        // allocator's Acquire chain (put -> drain -> get) orders before us.
        let (gen, _) = unpack(self.state.load(Ordering::Relaxed));
        // SAFETY: holding the tag makes us the slot's only accessor until we publish QUEUED.
        self.req.with_mut(|p| unsafe { *p = Some(req) });
        // Release: pairs with the Acquire loads in `start` and `cancel`: the request written
        // above is visible to whoever sees QUEUED.
        self.state.store(pack(gen, QUEUED), Ordering::Release);
        gen
    }

    /// QUEUED -> RUNNING, or [`Start::Canceled`] when a cancel came first.
    #[inline]
    pub(crate) fn start(&self) -> Start {
        // Acquire: pairs with the Release store in `queue`.
        let cur = self.state.load(Ordering::Acquire);
        let (gen, state) = unpack(cur);
        if state != QUEUED {
            return Start::Canceled;
        }
        // Acquire (both): the winner reads the request next; pairs with `queue`'s Release.
        match self.state.compare_exchange(
            cur,
            pack(gen, RUNNING),
            Ordering::Acquire,
            Ordering::Acquire,
        ) {
            Ok(_) => Start::Run,
            // The only other transition out of QUEUED is `cancel`.
            Err(_) => Start::Canceled,
        }
    }

    /// Cancels generation `gen`'s request if it is still QUEUED.
    pub(crate) fn cancel(&self, gen: u32) -> Cancel {
        // Acquire: pairs with the Release store in `queue`.
        let cur = self.state.load(Ordering::Acquire);
        match unpack(cur) {
            (g, _) if g != gen => Cancel::NotFound,
            (_, QUEUED) => {
                // AcqRel: orders the cancel against `start`'s compare-exchange on the same word.
                match self.state.compare_exchange(
                    cur,
                    pack(gen, CANCELED),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => Cancel::Canceled,
                    Err(now) if unpack(now) == (gen, RUNNING) => Cancel::Running,
                    Err(now) if unpack(now) == (gen, CANCELED) => Cancel::AlreadyCanceled,
                    Err(_) => Cancel::NotFound,
                }
            }
            (_, RUNNING) => Cancel::Running,
            (_, CANCELED) => Cancel::AlreadyCanceled,
            _ => Cancel::NotFound,
        }
    }

    /// Cancels whatever generation is QUEUED here (shutdown). `true` when this call did.
    pub(crate) fn cancel_queued(&self) -> bool {
        // Relaxed is enough for a first look; `cancel` re-checks with Acquire.
        let (gen, _) = unpack(self.state.load(Ordering::Relaxed));
        self.cancel(gen) == Cancel::Canceled
    }

    /// Whether generation `gen`'s request is issued and not yet completed.
    pub(crate) fn is_running(&self, gen: u32) -> bool {
        // Acquire: pairs with the Release store in `queue` and the Acquire CAS in `start`.
        unpack(self.state.load(Ordering::Acquire)) == (gen, RUNNING)
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
        let (gen, _) = unpack(self.state.load(Ordering::Relaxed));
        // Relaxed: the completion event's Release push publishes the slot to the reaper; DONE
        // only tells `cancel` that it is too late.
        self.state.store(pack(gen, DONE), Ordering::Relaxed);
    }

    /// Takes the request out of a DONE slot and frees it for the next generation. Returns the
    /// request and the generation it had.
    ///
    /// # Safety
    /// The caller popped this slot's completion event (Acquire through the completion ring), so
    /// it is the slot's only accessor; it must put the tag back afterwards.
    #[inline]
    pub(crate) unsafe fn take(&self) -> (Option<Request>, u32) {
        // SAFETY: per the caller's contract we own the DONE slot.
        let req = self.req.with_mut(|p| unsafe { (*p).take() });
        // Relaxed: we own the slot.
        let (gen, _) = unpack(self.state.load(Ordering::Relaxed));
        // Release: pairs with the Acquire loads in `cancel` and, through the tag allocator, with
        // the next submitter's `queue`.
        self.state
            .store(pack(gen.wrapping_add(1), FREE), Ordering::Release);
        (req, gen)
    }
}
