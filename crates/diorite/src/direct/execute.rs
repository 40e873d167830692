//! Performing one request synchronously, in the calling thread: `preadv2(2)`/`pwritev2(2)` in
//! pieces no larger than the file's largest transfer (with the request's priority for the
//! call), `fsync(2)`/`fdatasync(2)`, and the space calls (`space.rs`), with the partial-result
//! rule. Shared by the thread pool's workers (`threads.rs`), the one-shot calls (`oneshot.rs`)
//! and the bounce path's callers; the kernel backends issue asynchronously instead.

use crate::direct::dio::{Partial, Pieces};
use crate::direct::request::{OpKind, Request};
use crate::sys::{self, IoVec};

/// Performs `req` synchronously; bytes or `-errno`.
pub(crate) fn execute(req: &Request, iov: &mut Vec<IoVec>) -> i64 {
    match req.op {
        OpKind::Read | OpKind::Write => {
            // The request's priority is this worker's for the call (`Request::with_priority`).
            sys::with_ioprio(req.ioprio(), || transfer(req, iov, u64::MAX))
                .unwrap_or_else(|e| -i64::from(e))
        }
        _ => execute_other(req),
    }
}

/// A read or write of at most `limit` bytes from the start of `req`; bytes or `-errno`.
pub(crate) fn transfer(req: &Request, iov: &mut Vec<IoVec>, limit: u64) -> i64 {
    let Some(file) = &req.file else { return 0 };
    let write = req.op == OpKind::Write;
    let flags = req.rw_flags();
    let mut pieces = Pieces::new(&req.bufs, req.offset, file.geometry().max_transfer);
    let mut partial = Partial::default();
    let mut done = 0u64;
    while let Some((off, len)) = pieces.next_into(iov) {
        if done >= limit {
            break;
        }
        let len = (len as u64).min(limit - done) as usize;
        cap(iov, len);
        // SAFETY: the vectors point into the request's buffers, which the request owns (or the
        // raw-request caller vouched for) until its completion is reaped, and the slot is
        // RUNNING for us alone.
        let r = unsafe { sys::prw(file.fd(), write, iov, off, flags) };
        if let Ok(n) = &r {
            done += *n as u64;
        }
        if !partial.piece(len, r) {
            break;
        }
    }
    match partial.result() {
        Ok(n) => n as i64,
        Err(e) => -i64::from(e),
    }
}

/// Shortens the vector list to `len` bytes.
fn cap(iov: &mut Vec<IoVec>, len: usize) {
    let mut left = len;
    let mut keep = 0;
    for v in iov.iter_mut() {
        if left == 0 {
            break;
        }
        v.iov_len = v.iov_len.min(left);
        left -= v.iov_len;
        keep += 1;
    }
    iov.truncate(keep);
}

/// Everything but reads and writes; `0` or the range's length, or `-errno`.
fn execute_other(req: &Request) -> i64 {
    let Some(file) = &req.file else { return 0 };
    let r = match req.op {
        OpKind::Discard | OpKind::WriteZeroes => return super::space::execute(req),
        OpKind::Fsync | OpKind::Fdatasync => {
            sys::sync(file.fd(), req.op == OpKind::Fdatasync).map(|()| 0)
        }
        _ => Ok(0),
    };
    match r {
        Ok(n) => n as i64,
        Err(e) => -i64::from(e),
    }
}
