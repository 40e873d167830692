//! Discard and write-zeroes: the kernel calls behind [`OpKind::Discard`] and
//! [`OpKind::WriteZeroes`], shared by the backends.
//!
//! | request | block device | regular file |
//! |---|---|---|
//! | discard | `ioctl(BLKDISCARD)` | `fallocate(PUNCH_HOLE \| KEEP_SIZE)` |
//! | write-zeroes | `ioctl(BLKZEROOUT)` (the kernel writes zeroes where the device cannot) | `fallocate(ZERO_RANGE \| KEEP_SIZE)` |
//! | write-zeroes, `unmap` | `fallocate(PUNCH_HOLE \| KEEP_SIZE)` (zeroing without a written fallback) | `fallocate(PUNCH_HOLE \| KEEP_SIZE)` |
//!
//! A file's size never changes (`KEEP_SIZE`; validation keeps the range inside the file).
//! io_uring issues the `fallocate` rows (and `BLKZEROOUT`, which is `fallocate(ZERO_RANGE)` on a
//! block device) as `IORING_OP_FALLOCATE`, and a block-device discard as the block layer's
//! command (`BLOCK_URING_CMD_DISCARD`, 6.12+; from io-wq, since inline the kernel marks it
//! NOWAIT and devices without NOWAIT support fail it); the thread pool runs [`execute`] on a
//! worker; Linux AIO has no such commands and runs [`execute`] in the submitting thread.

use crate::direct::request::{OpKind, Request};
use crate::sys;

/// How a request is carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Space {
    /// `fallocate(fd, mode, offset, len)`.
    Fallocate(i32),
    /// `ioctl(fd, BLKDISCARD, [offset, len])`.
    BlkDiscard,
    /// `ioctl(fd, BLKZEROOUT, [offset, len])`.
    BlkZeroout,
}

/// The call for a discard or write-zeroes `req` (`None` for other operations).
pub(crate) fn plan(req: &Request) -> Option<Space> {
    let bdev = req.file.as_ref()?.geometry().is_block_device;
    let punch = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    Some(match (req.op, bdev, req.unmap) {
        (OpKind::Discard, true, _) => Space::BlkDiscard,
        (OpKind::Discard, false, _) => Space::Fallocate(punch),
        (OpKind::WriteZeroes, true, false) => Space::BlkZeroout,
        (OpKind::WriteZeroes, false, false) => {
            Space::Fallocate(libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE)
        }
        (OpKind::WriteZeroes, _, true) => Space::Fallocate(punch),
        _ => return None,
    })
}

/// Performs a discard or write-zeroes synchronously: the range's length, or `-errno`.
pub(crate) fn execute(req: &Request) -> i64 {
    let (Some(file), Some(how)) = (&req.file, plan(req)) else {
        return -i64::from(libc::EINVAL);
    };
    let fd = file.fd();
    let (off, len) = (req.offset, req.bufs.total_len());
    let r = match how {
        Space::Fallocate(mode) => sys::fallocate(fd, mode, off, len),
        Space::BlkDiscard => sys::blk_range(fd, sys::BLKDISCARD, off, len),
        Space::BlkZeroout => sys::blk_range(fd, sys::BLKZEROOUT, off, len),
    };
    match r {
        Ok(()) => len as i64,
        Err(e) => -i64::from(e),
    }
}
