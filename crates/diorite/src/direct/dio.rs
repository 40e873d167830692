//! The O_DIRECT rules: validation before anything is issued, splitting at the device's largest
//! transfer, and the partial-result rule.
//!
//! - **Validation** checks the file offset and *every* segment — address against `mem_align`,
//!   length against `offset_align` (`read_offset_align` for reads: it may be smaller) — so a
//!   vectored request with a bad second segment is refused whole (a fast path that checks only
//!   the first iovec is a classic O_DIRECT bug).
//! - **Splitting**: a request larger than `max_transfer` (or with more than `IOV_MAX` segments)
//!   is issued as pieces and completes once.
//! - **Partial results**: the result is the bytes completed contiguously from the start before
//!   the first failure or short piece — never the requested size — or the error if nothing
//!   completed.

use crate::direct::file::DirectFile;
use crate::direct::request::{Bufs, OpKind, Request};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::{IoVec, IOV_MAX};

const OP: &str = "submit";

/// Checks `req` against its file's geometry and access mode. Nothing is issued on error.
pub(crate) fn validate(req: &Request) -> Result<()> {
    req.check_priority(OP)?;
    match (&req.file, req.op) {
        (Some(file), OpKind::Discard | OpKind::WriteZeroes) => {
            validate_space(file, req.op, req.offset, req.bufs.total_len(), req.unmap)?
        }
        (Some(file), _) => validate_io(file, req.op, req.offset, &req.bufs)?,
        (None, _) => {}
    }
    if req.atomic {
        validate_atomic(req)?;
    }
    Ok(())
}

/// An atomic write ([`Request::atomic`]) within its file's limits, or an error naming the limit
/// it breaks; it is then never issued (in particular never as a plain write).
fn validate_atomic(req: &Request) -> Result<()> {
    let err = |kind, detail: String| {
        Err(Error::new(kind, OP)
            .with_detail(detail)
            .at_offset(req.offset))
    };
    let (Some(file), OpKind::Write) = (&req.file, req.op) else {
        return err(
            ErrorKind::InvalidInput,
            format!("atomic() is for writes; this is a {}", req.op.name()),
        );
    };
    let path = file.path().display();
    let Some(a) = file.geometry().atomic_write else {
        return err(
            ErrorKind::Unsupported,
            format!(
                "{path} offers no atomic writes{} (statx STATX_WRITE_ATOMIC reports none)",
                if file.is_direct() {
                    ""
                } else {
                    " when not opened with O_DIRECT"
                }
            ),
        );
    };
    let len = req.bufs.total_len();
    if !len.is_power_of_two() || len < u64::from(a.unit_min) || len > u64::from(a.unit_max) {
        return err(
            ErrorKind::InvalidInput,
            format!(
                "an atomic write of {len} bytes: the length must be a power of two from \
                 atomic_write_unit_min {} to atomic_write_unit_max {} bytes on {path}",
                a.unit_min, a.unit_max
            ),
        );
    }
    if req.offset % len != 0 {
        return err(
            ErrorKind::Misaligned,
            format!(
                "an atomic write of {len} bytes at offset {}: the offset must be a multiple of \
                 its length",
                req.offset
            ),
        );
    }
    let mut segments = 0u32;
    req.bufs.for_each_segment(|_, _| segments += 1);
    if segments > a.segments_max {
        return err(
            ErrorKind::InvalidInput,
            format!(
                "an atomic write of {segments} buffers: at most atomic_write_segments_max {} on \
                 {path}",
                a.segments_max
            ),
        );
    }
    Ok(())
}

/// Discard and write-zeroes: an aligned, non-empty range inside a writable file, on a device
/// that can do it.
fn validate_space(file: &DirectFile, op: OpKind, offset: u64, len: u64, unmap: bool) -> Result<()> {
    let g = file.geometry();
    let path = file.path();
    let err =
        |kind, detail: String| Err(Error::new(kind, OP).with_detail(detail).at_offset(offset));
    if !file.is_writable() {
        return err(
            ErrorKind::InvalidInput,
            format!("{} is not open for writing", path.display()),
        );
    }
    if len == 0 {
        return err(ErrorKind::InvalidInput, format!("{} of 0 bytes", op.name()));
    }
    let align = u64::from(g.offset_align);
    if rem(offset, align) != 0 || rem(len, align) != 0 {
        return err(
            ErrorKind::Misaligned,
            format!(
                "{} of {len} bytes at {offset}: offset and length must be multiples of {align} \
                 bytes ({} requires {align})",
                op.name(),
                path.display()
            ),
        );
    }
    let end = offset.checked_add(len).filter(|e| *e <= file.len());
    if end.is_none() {
        return err(
            ErrorKind::OutOfRange,
            format!(
                "{} of {len} bytes at {offset} ends past the end of {} ({} bytes)",
                op.name(),
                path.display(),
                file.len()
            ),
        );
    }
    if g.is_block_device {
        if op == OpKind::Discard && g.discard_max_bytes == 0 {
            return err(
                ErrorKind::Unsupported,
                format!(
                    "{} takes no discards (sysfs queue/discard_max_bytes is 0)",
                    path.display()
                ),
            );
        }
        if op == OpKind::WriteZeroes && unmap && g.write_zeroes_max_bytes == 0 {
            return err(
                ErrorKind::Unsupported,
                format!(
                    "{} cannot zero without writing (sysfs queue/write_zeroes_max_bytes is 0), \
                     so an unmapping write-zeroes is not possible; drop unmap() to have the \
                     kernel write the zeroes",
                    path.display()
                ),
            );
        }
    }
    Ok(())
}

/// [`validate`] for the parts of a request (the one-shot calls check theirs without building
/// one).
pub(crate) fn validate_io(file: &DirectFile, op: OpKind, offset: u64, bufs: &Bufs) -> Result<()> {
    let g = file.geometry();
    let path = file.path();
    match op {
        OpKind::Noop | OpKind::Fsync | OpKind::Fdatasync => return Ok(()),
        OpKind::Discard | OpKind::WriteZeroes => {
            return validate_space(file, op, offset, bufs.total_len(), false)
        }
        OpKind::Read if !file.is_readable() => {
            return Err(Error::new(ErrorKind::InvalidInput, OP)
                .with_detail(format!("{} is not open for reading", path.display())))
        }
        OpKind::Write if !file.is_writable() => {
            return Err(Error::new(ErrorKind::InvalidInput, OP)
                .with_detail(format!("{} is not open for writing", path.display())))
        }
        _ => {}
    }
    if bufs.segment(0).is_none() {
        // A vectored request with no buffers would issue nothing and never complete.
        return Err(Error::new(ErrorKind::InvalidInput, OP)
            .with_detail(format!(
                "{} of no buffers (required: at least one non-empty buffer)",
                op.name()
            ))
            .at_offset(offset));
    }
    let off_align = u64::from(g.offset_align_for(op == OpKind::Read));
    if rem(offset, off_align) != 0 {
        return Err(Error::new(ErrorKind::Misaligned, OP)
            .with_detail(format!(
                "file offset {} is not a multiple of {} bytes ({} requires {})",
                offset,
                off_align,
                path.display(),
                off_align
            ))
            .at_offset(offset));
    }
    let mut bad: Option<Error> = None;
    let mut index = 0usize;
    bufs.for_each_segment(|addr, len| {
        if bad.is_none() {
            if rem(addr as u64, u64::from(g.mem_align)) != 0 {
                bad = Some(Error::new(ErrorKind::Misaligned, OP).with_detail(format!(
                    "segment {index}: buffer address {addr:#x} is not aligned to {} bytes ({} requires {})",
                    g.mem_align,
                    path.display(),
                    g.mem_align
                )));
            } else if rem(len as u64, off_align) != 0 || len == 0 {
                bad = Some(Error::new(ErrorKind::Misaligned, OP).with_detail(format!(
                    "segment {index}: length {len} is not a non-zero multiple of {} bytes ({} requires {})",
                    off_align,
                    path.display(),
                    off_align
                )));
            }
        }
        index += 1;
    });
    if let Some(e) = bad {
        return Err(e.at_offset(offset));
    }
    let len = bufs.total_len();
    let end = offset
        .checked_add(len)
        .filter(|e| *e <= i64::MAX as u64)
        .ok_or_else(|| {
            Error::new(ErrorKind::OutOfRange, OP)
                .with_detail(format!(
                    "offset {} + length {} overflows the file offset range",
                    offset, len
                ))
                .at_offset(offset)
        })?;
    if op == OpKind::Write && g.is_block_device && end > file.len() {
        return Err(Error::new(ErrorKind::OutOfRange, OP)
            .with_detail(format!(
                "write of {len} bytes at {} ends at {end}, past the end of {} ({} bytes)",
                offset,
                path.display(),
                file.len()
            ))
            .with_errno(libc::ENOSPC)
            .at_offset(offset));
    }
    Ok(())
}

/// `x % a`, as a mask when `a` is a power of two (every alignment a device reports is one; the
/// division is a measurable part of a one-shot call's cost).
#[inline]
fn rem(x: u64, a: u64) -> u64 {
    if a.is_power_of_two() {
        x & (a - 1)
    } else {
        x % a.max(1)
    }
}

/// Walks a request's segments as pieces of at most `max_transfer` bytes and `IOV_MAX` vectors.
pub(crate) struct Pieces<'a> {
    bufs: &'a Bufs,
    max: u64,
    /// Current segment and the bytes of it already covered.
    seg: usize,
    seg_done: usize,
    /// File offset of the next piece.
    offset: u64,
}

impl<'a> Pieces<'a> {
    pub(crate) fn new(bufs: &'a Bufs, offset: u64, max_transfer: u32) -> Pieces<'a> {
        Pieces {
            bufs,
            max: u64::from(max_transfer.max(1)),
            seg: 0,
            seg_done: 0,
            offset,
        }
    }

    /// Fills `iov` with the next piece; returns `(file offset, length)` or `None` when done.
    /// `iov` is cleared first and reused, so a warm caller does not allocate.
    pub(crate) fn next_into(&mut self, iov: &mut Vec<IoVec>) -> Option<(u64, usize)> {
        iov.clear();
        self.next_append(iov)
    }

    /// Like [`Pieces::next_into`], appending the piece's vectors after what `iov` holds.
    pub(crate) fn next_append(&mut self, iov: &mut Vec<IoVec>) -> Option<(u64, usize)> {
        let base = iov.len();
        let start = self.offset;
        let mut len: u64 = 0;
        while len < self.max && iov.len() - base < IOV_MAX {
            let Some((addr, seg_len)) = self.bufs.segment(self.seg) else {
                break;
            };
            let left = (seg_len - self.seg_done) as u64;
            let take = left.min(self.max - len);
            iov.push(IoVec {
                iov_base: (addr + self.seg_done) as *mut libc::c_void,
                iov_len: take as usize,
            });
            len += take;
            self.seg_done += take as usize;
            if self.seg_done == seg_len {
                self.seg += 1;
                self.seg_done = 0;
            }
        }
        if len == 0 {
            return None;
        }
        self.offset += len;
        Some((start, len as usize))
    }
}

/// Folds piece results, in issue order, into the request's one result.
#[derive(Debug, Default)]
pub(crate) struct Partial {
    done: usize,
    stopped: bool,
    error: Option<i32>,
}

impl Partial {
    /// Records the next piece (`wanted` bytes) that returned `res` (bytes or `Err(errno)`).
    /// Returns `false` once no later piece can count (a failure or a short piece).
    pub(crate) fn piece(&mut self, wanted: usize, res: std::result::Result<usize, i32>) -> bool {
        if self.stopped {
            return false;
        }
        match res {
            Ok(n) => {
                self.done += n.min(wanted);
                if n < wanted {
                    self.stopped = true;
                }
            }
            Err(e) => {
                self.error = Some(e);
                self.stopped = true;
            }
        }
        !self.stopped
    }

    /// Bytes completed contiguously from the start, or the first error when none were.
    pub(crate) fn result(&self) -> std::result::Result<usize, i32> {
        match (self.done, self.error) {
            (0, Some(e)) => Err(e),
            (n, _) => Ok(n),
        }
    }
}

#[cfg(all(test, not(diorite_loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn partial_rule() {
        let mut p = Partial::default();
        assert!(p.piece(4096, Ok(4096)));
        assert!(!p.piece(4096, Err(libc::EIO)));
        assert!(!p.piece(4096, Ok(4096)), "nothing after a failure counts");
        assert_eq!(p.result(), Ok(4096));
        let mut p = Partial::default();
        p.piece(512, Err(libc::EIO));
        assert_eq!(p.result(), Err(libc::EIO));
        let mut p = Partial::default();
        p.piece(4096, Ok(1024));
        assert!(
            !p.piece(4096, Ok(4096)),
            "nothing after a short piece counts"
        );
        assert_eq!(p.result(), Ok(1024));
    }

    proptest! {
        /// Pieces cover a multi-segment request exactly once, in order, each within
        /// max_transfer, and every vector lies inside its segment.
        #[test]
        fn pieces_cover_exactly(seg_blocks in prop::collection::vec(1usize..40, 1..30), max_blocks in 1u32..50, off_blocks in 0u64..1000) {
            let bs = 512usize;
            let bufs = Bufs::Many(seg_blocks.iter().map(|b| crate::AlignedBuf::new(b * bs, bs).unwrap()).collect());
            // The logical byte stream as (address) per byte offset, to compare against.
            let mut logical = Vec::new();
            bufs.for_each_segment(|addr, len| logical.extend((0..len).step_by(bs).map(|k| addr + k)));
            let mut p = Pieces::new(&bufs, off_blocks * bs as u64, max_blocks * bs as u32);
            let mut iov = Vec::new();
            let mut covered = 0usize;
            while let Some((off, len)) = p.next_into(&mut iov) {
                prop_assert_eq!(off, off_blocks * bs as u64 + covered as u64);
                prop_assert!(len <= (max_blocks as usize) * bs && len % bs == 0 && len > 0);
                prop_assert_eq!(iov.iter().map(|v| v.iov_len).sum::<usize>(), len);
                for v in &iov {
                    for k in (0..v.iov_len).step_by(bs) {
                        prop_assert_eq!(v.iov_base as usize + k, logical[covered / bs]);
                        covered += bs;
                    }
                }
            }
            prop_assert_eq!(covered, logical.len() * bs);
        }

        /// The partial result never exceeds the bytes of the pieces before the first failure.
        #[test]
        fn partial_is_contiguous_prefix(results in prop::collection::vec(prop_oneof![Just(None), (0usize..=8).prop_map(Some)], 1..20)) {
            let mut p = Partial::default();
            let mut expect = 0usize;
            let mut stopped = false;
            let mut first_err = None;
            for r in &results {
                let res = r.map(|blocks| blocks * 512).ok_or(libc::EIO);
                p.piece(4096, res);
                if !stopped {
                    match res { Ok(n) => { expect += n; stopped = n < 4096; } Err(e) => { first_err = Some(e); stopped = true; } }
                }
            }
            match p.result() {
                Ok(n) => prop_assert_eq!(n, expect),
                Err(e) => { prop_assert_eq!(expect, 0); prop_assert_eq!(Some(e), first_err); }
            }
        }
    }
}
