//! The ordered size of a regular file: the size a [`DirectFile`](crate::DirectFile) reports
//! advances only over data that was written, in order, and an extending write's completion is
//! delivered only once the size can cover it. The rules a user sees are stated on
//! [`DirectFile::len`](crate::DirectFile::len); the protocol and its invariants are here.
//!
//! - `begin` registers an extending write at submit (before it is issued), `end` at its
//!   completion (before the completion is posted), both under one lock per file: the
//!   extending path takes it twice, every other request never.
//! - The published size moves with `fetch_max` under the lock (Release), read lock-free by
//!   `get` (Acquire): a size seen is backed by completed writes.
//! - A completion `end` holds back is parked here and handed back by `next_released` to the
//!   completer of the write below it, which posts it in the same pass: the slot stays RUNNING
//!   meanwhile, owned by whoever takes it out under the lock.

use crate::error::{Error, Result};
use crate::sync::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A file's size under the ordered-size protocol. Invariants on the fields.
pub(crate) struct OrderedSize {
    /// The published size: only ever grows; moved only under `extending`'s lock.
    size: AtomicU64,
    /// Extending writes in flight, how far completed ones reached, held completions.
    extending: Mutex<Extending>,
}

/// The ordered-size bookkeeping of a regular file: the size advances only over data that was
/// written, in order, and an extending write's completion is delivered only once the size can
/// cover it. The rules are stated on [`DirectFile::len`](crate::DirectFile::len); the fields' invariants
/// here.
#[derive(Default)]
struct Extending {
    /// Each extending write submitted and not yet completed.
    in_flight: Vec<InFlight>,
    /// The furthest end reached by a completed extending write, lowered to the written end of a
    /// failed or short one (so a write that completed beside it cannot carry the size over its
    /// hole). Never below the published size.
    reached: u64,
    /// Completions of extending writes held back while an extending write of the same context
    /// below their end is in flight; released, lowest end first, by the completion that leaves
    /// none below them. A held completion never holds another back (no cycle).
    held: Vec<Held>,
}

/// An extending write in flight.
struct InFlight {
    start: u64,
    end: u64,
    /// Who delivers its completion: the engine's address, or 0 for a one-shot call.
    owner: usize,
    /// The furthest its completion may carry the size: lowered to the written end of a failed
    /// or short extending write that was in flight beside it.
    cap: u64,
}

/// A completed extending write whose completion waits for the writes below it.
struct Held {
    end: u64,
    owner: usize,
    tag: u32,
    res: i64,
}

impl OrderedSize {
    /// A size of `size` bytes with nothing in flight.
    pub(crate) fn new(size: u64) -> OrderedSize {
        OrderedSize {
            size: AtomicU64::new(size),
            extending: Mutex::new(Extending::default()),
        }
    }

    /// The published size.
    #[inline]
    pub(crate) fn get(&self) -> u64 {
        // Acquire: pairs with the Release `fetch_max` in `end`: a size seen here is backed by
        // completed writes.
        self.size.load(Ordering::Acquire)
    }

    /// Registers a write `[offset, offset + len)` about to be submitted by `owner` (an
    /// engine's address; 0 for a one-shot call): `Ok(true)` when it reaches past the size (an
    /// extending write: [`OrderedSize::end`] must follow once it completes), `Ok(false)` when it
    /// does not extend.
    pub(crate) fn begin(&self, offset: u64, len: u64, owner: usize) -> Result<bool> {
        let end = offset.saturating_add(len);
        if len == 0 || end <= self.get() {
            return Ok(false);
        }
        let mut x = self.extending();
        // Room for its entry now, and for its completion should it be held: neither push
        // below can fail.
        let could_hold = x.in_flight.len() + 1;
        x.in_flight
            .try_reserve(1)
            .and_then(|()| x.held.try_reserve(could_hold))
            .map_err(|_| Error::os("submit", libc::ENOMEM))?;
        x.in_flight.push(InFlight {
            start: offset,
            end,
            owner,
            cap: u64::MAX,
        });
        Ok(true)
    }

    /// An extending write registered by [`OrderedSize::begin`] completed with `res` (bytes, or
    /// negative when it failed or was canceled). Moves the size (the rules on
    /// [`DirectFile::len`](crate::DirectFile::len)) and says whether its completion (slot `tag`
    /// of `owner`) is to be delivered now (`true`), or is held until the extending writes of the
    /// same owner below its end have completed (`false`; [`OrderedSize::next_released`] hands
    /// it back then).
    pub(crate) fn end(&self, offset: u64, len: u64, res: i64, owner: usize, tag: u32) -> bool {
        let end = offset.saturating_add(len);
        let mut x = self.extending();
        let cap = match x
            .in_flight
            .iter()
            .position(|w| (w.start, w.end, w.owner) == (offset, end, owner))
        {
            Some(i) => x.in_flight.swap_remove(i).cap,
            None => u64::MAX,
        };
        let written = offset.saturating_add(res.max(0) as u64).min(end);
        if written == end {
            x.reached = x.reached.max(end.min(cap));
        } else {
            // Failed, short or canceled: the size never moves past `written` on the strength of
            // any write that was in flight beside it (nor of one that completed beside it, which
            // `reached` may already count); writes submitted after this point are new decisions
            // and move it as usual.
            x.reached = x.reached.max(written.min(cap)).min(written.max(self.get()));
            for w in x.in_flight.iter_mut().filter(|w| w.end > written) {
                w.cap = w.cap.min(written);
            }
        }
        let floor = x
            .in_flight
            .iter()
            .map(|w| w.start)
            .min()
            .unwrap_or(u64::MAX);
        // Release: pairs with the Acquire load in `get`. Under the lock, so sizes never step
        // back past a concurrent advance.
        self.size.fetch_max(x.reached.min(floor), Ordering::Release);
        let below = |x: &Extending, end: u64| {
            x.in_flight
                .iter()
                .any(|w| w.owner == owner && w.start < end)
        };
        if owner == 0 || !below(&x, end) {
            return true;
        }
        x.held.push(Held {
            end,
            owner,
            tag,
            res,
        });
        false
    }

    /// A held completion of `owner` that may now be delivered (no extending write of `owner`
    /// below its end is in flight), lowest end first: `(tag, res)`. Called by the completer of
    /// an extending write after it delivered its own, until `None`.
    pub(crate) fn next_released(&self, owner: usize) -> Option<(u32, i64)> {
        let mut x = self.extending();
        let floor = x
            .in_flight
            .iter()
            .filter(|w| w.owner == owner)
            .map(|w| w.start)
            .min()
            .unwrap_or(u64::MAX);
        let i = x
            .held
            .iter()
            .enumerate()
            .filter(|(_, h)| h.owner == owner && h.end <= floor)
            .min_by_key(|(_, h)| h.end)
            .map(|(i, _)| i)?;
        let h = x.held.swap_remove(i);
        Some((h.tag, h.res))
    }

    fn extending(&self) -> std::sync::MutexGuard<'_, Extending> {
        self.extending.lock().unwrap_or_else(|p| p.into_inner())
    }
}
