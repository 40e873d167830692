//! Piece accounting for the kernel backends. A request larger than `max_transfer` (or with more
//! than `IOV_MAX` segments) is issued as several kernel operations that complete in any order;
//! the request completes once, with the bytes done contiguously from its start before the first
//! short or failed piece (or that piece's error when it was the first) — the rule of
//! [`crate::direct::dio::Partial`], computed here from out-of-order completions with `fetch_min`.

use crate::direct::dio::Pieces;
use crate::direct::request::{OpKind, Request};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::sync::{AtomicI32, AtomicU32, AtomicU64};
use crate::sync::{Ordering, UnsafeCell};
use crate::sys::IoVec;

/// One piece of an issued request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Piece {
    /// Start relative to the request's offset.
    pub(crate) start: u64,
    /// Its vectors: `iov[first..end]` of the slot's vector list.
    pub(crate) first: u32,
    pub(crate) end: u32,
}

struct SlotPieces {
    /// The request's pieces and their vectors. Written by the submitter (slot RUNNING, nothing of
    /// it in the kernel yet); read by the reaper. Reused, so warm requests do not allocate.
    pieces: UnsafeCell<Vec<Piece>>,
    iov: UnsafeCell<Vec<IoVec>>,
    /// Byte length of the whole request.
    total: AtomicU64,
    /// Pieces not yet completed; set before the first piece is issued.
    left: AtomicU32,
    /// Min over short or failed pieces of `start + bytes done`; `u64::MAX` while none.
    prefix: AtomicU64,
    /// errno of the piece at start 0, if it failed.
    first_err: AtomicI32,
}

/// Per-slot piece state of one context's kernel backend.
pub(crate) struct PieceTable {
    slots: Box<[SlotPieces]>,
}

// SAFETY: the cells follow the slot protocol: one submitter writes them before issuing, the
// reaper reads them after the kernel reported a piece (a syscall orders the two).
unsafe impl Sync for PieceTable {}
// SAFETY: as above.
unsafe impl Send for PieceTable {}

impl PieceTable {
    pub(crate) fn new(depth: u32) -> Result<PieceTable> {
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(depth as usize)
            .map_err(|_| Error::os("Context::build", libc::ENOMEM))?;
        slots.extend((0..depth).map(|_| SlotPieces {
            pieces: UnsafeCell::new(Vec::new()),
            iov: UnsafeCell::new(Vec::new()),
            total: AtomicU64::new(0),
            left: AtomicU32::new(0),
            prefix: AtomicU64::new(u64::MAX),
            first_err: AtomicI32::new(0),
        }));
        Ok(PieceTable {
            slots: slots.into_boxed_slice(),
        })
    }

    /// Lays out `req` (in slot `tag`) as pieces and arms the completion count. Reads and writes
    /// get one piece per `max_transfer`; other operations one piece of length 0 (the returned
    /// piece list is then empty). Returns the pieces and their vectors.
    ///
    /// # Safety
    /// The caller has started slot `tag` (RUNNING) and issued nothing of it yet.
    pub(crate) unsafe fn layout(&self, tag: u32, req: &Request) -> (&[Piece], &[IoVec]) {
        let s = &self.slots[tag as usize];
        // SAFETY: per the caller's contract we are the slot's only accessor.
        let (pieces, iov) =
            unsafe { (&mut *s.pieces.with_mut(|p| p), &mut *s.iov.with_mut(|p| p)) };
        pieces.clear();
        iov.clear();
        let mut count = 1;
        if let (OpKind::Read | OpKind::Write, Some(file)) = (req.op, &req.file) {
            // Vectors first, all of them: `iov` must not reallocate once the kernel points into it.
            let mut walk = Pieces::new(&req.bufs, req.offset, file.geometry().max_transfer);
            loop {
                let first = iov.len() as u32;
                let Some((off, _)) = walk.next_append(iov) else {
                    break;
                };
                pieces.push(Piece {
                    start: off - req.offset,
                    first,
                    end: iov.len() as u32,
                });
            }
            count = pieces.len().max(1) as u32;
        }
        s.total.store(req.bufs.total_len(), Ordering::Relaxed);
        s.prefix.store(u64::MAX, Ordering::Relaxed);
        s.first_err.store(0, Ordering::Relaxed);
        // Relaxed: the syscall that issues the pieces orders these stores before any completion.
        s.left.store(count, Ordering::Relaxed);
        (pieces, iov)
    }

    /// How many kernel operations slot `tag`'s request was issued as.
    pub(crate) fn count(&self, tag: u32) -> usize {
        // SAFETY: only the length is read; the submitter wrote it before issuing.
        unsafe { (*self.slots[tag as usize].pieces.with(|p| p)).len().max(1) }
    }

    /// Records that piece `piece` of slot `tag` completed with `res` (bytes or `-errno`); the
    /// last piece completes the request through `engine`. `from_kernel`: the kernel reported
    /// it (and so already signaled a registered completion fd).
    pub(crate) fn done(
        &self,
        engine: &Engine,
        tag: u32,
        piece: usize,
        res: i64,
        from_kernel: bool,
    ) {
        let s = &self.slots[tag as usize];
        let total = s.total.load(Ordering::Relaxed);
        // SAFETY: written by the submitter before the piece was issued; only read here.
        let pieces = unsafe { &*s.pieces.with(|p| p) };
        let (start, wanted) = match pieces.get(piece) {
            Some(p) => (
                p.start,
                pieces.get(piece + 1).map_or(total, |n| n.start) - p.start,
            ),
            None => (0, 0), // noop, fsync
        };
        if res < 0 || (res as u64) < wanted {
            s.prefix
                .fetch_min(start + res.max(0) as u64, Ordering::Relaxed);
            if res < 0 && start == 0 {
                s.first_err.store((-res) as i32, Ordering::Relaxed);
            }
        }
        // AcqRel: the last piece sees every other piece's prefix/first_err updates.
        if s.left.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let result: i64 = match (
            s.prefix.load(Ordering::Relaxed),
            s.first_err.load(Ordering::Relaxed),
        ) {
            (u64::MAX, _) => total as i64,
            (0, e) if e != 0 => -i64::from(e),
            (n, _) => n as i64,
        };
        if from_kernel {
            let _posted = engine.complete_from_kernel(tag, result);
        } else {
            engine.complete(tag, result);
        }
    }
}
