//! Opt-in unaligned I/O ([`Alignment::Bounce`]): reads and writes that break O_DIRECT's
//! alignment rules go through an aligned bounce buffer instead of being refused.
//!
//! - **Which requests.** With [`Alignment::Bounce`] on a context, a read or write whose file
//!   offset, total length, or any segment's address or length breaks the file's alignment
//!   ([`crate::Geometry`]: `offset_align`, `mem_align`) is *bounced*; every other request takes
//!   the normal path, untouched and at no extra cost. [`Alignment::Strict`], the default,
//!   refuses such requests with [`ErrorKind::Misaligned`] as always.
//! - **How.** The submitting call performs a bounced request itself, synchronously: it covers
//!   the request with whole blocks (`offset_align`), reads them into a fresh aligned buffer
//!   and copies the requested bytes out (a read), or reads the partial blocks at the edges,
//!   copies the caller's bytes in between and writes the whole blocks back (a write:
//!   read-modify-write). Then the request completes through the context like any other — the
//!   completion queue, or its future — with the same partial-result rule: the result is the
//!   bytes *of the request* done contiguously from its start, or the error if none were.
//! - **Serialized writes.** Bounced writes to one file hold that file's bounce lock from the
//!   edge reads to the write, so two unaligned writes into one block never lose each other's
//!   bytes. The lock is the file's, not the handle's: every [`DirectFile`] of this process
//!   open on the same file (same device and inode; a block device by its device number,
//!   through any node or link) shares it, whichever contexts submit. What it does not cover:
//!   - *other processes* writing the same file (nothing in user space can serialize them);
//!   - *aligned writes* on the normal path: one in flight to a bounced write's edge block at
//!     the same time can lose bytes *outside both ranges* (the bounced write rewrites the
//!     block it read earlier). Order such writes — wait for one's completion before
//!     submitting the other — as for any two writes to one block.
//! - **Not extending.** A bounced write must end inside the file's block-aligned size (a
//!   block device: inside the device): rewriting whole blocks past the end of a file would
//!   grow it to a block boundary. Such writes are refused with [`ErrorKind::Unsupported`];
//!   write the tail aligned, or buffered.
//! - **Cost.** One allocation of the covering size per request, one or two extra block reads
//!   per write, a copy of the data, and the submitting thread does the I/O (an async submit
//!   blocks its executor for that long). The context counts them
//!   ([`crate::Context::bounced`]) so a user sees how many took this path. Bounced requests do
//!   not go through the backend, so the fault-injection backend does not see them.

use crate::direct::buf::AlignedBuf;
use crate::direct::file::DirectFile;
use crate::direct::request::{Bufs, OpKind, Request};
use crate::error::{Error, ErrorKind, Result};
use crate::sys::{self, IoVec};

/// What a context does with reads and writes that break O_DIRECT's alignment rules (see the
/// [module docs](crate::direct::bounce)).
///
/// # Examples
/// ```
/// use diorite::{AlignedBuf, Alignment, Context, DirectFile, Request};
/// use std::time::Duration;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("data");
/// std::fs::write(&path, vec![7u8; 8192])?;
/// let f = DirectFile::options().read(true).write(true).open(&path)?;
/// let ctx = Context::builder().alignment(Alignment::Bounce).build()?;
/// // 100 bytes at offset 10: misaligned in offset and length, bounced.
/// ctx.submit(Request::read(&f, 10, AlignedBuf::new(100, 8)?)).map_err(|e| e.error)?;
/// let mut out = Vec::new();
/// ctx.get_events(1, 1, Some(Duration::from_secs(5)), &mut out)?;
/// let n = out[0].result.as_ref().map_err(|e| e.clone())?;
/// assert_eq!(*n, 100);
/// assert_eq!(ctx.bounced(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Alignment {
    /// Misaligned reads and writes are refused with [`ErrorKind::Misaligned`] (the default).
    #[default]
    Strict,
    /// Misaligned reads and writes go through an aligned bounce buffer, performed by the
    /// submitting call; writes read-modify-write their edge blocks under a per-file lock.
    Bounce,
}

const OP: &str = "submit";

/// Whether `req` is a read or write that breaks its file's alignment: the one test that sends
/// it down the bounce path.
pub(crate) fn misaligned(req: &Request) -> bool {
    let (Some(file), OpKind::Read | OpKind::Write) = (&req.file, req.op) else {
        return false;
    };
    let g = file.geometry();
    let read = req.op == OpKind::Read;
    let (off_align, mem_align) = (u64::from(g.offset_align_for(read)), u64::from(g.mem_align));
    let mut bad = req.offset % off_align != 0;
    req.bufs.for_each_segment(|addr, len| {
        bad |= addr as u64 % mem_align != 0 || len as u64 % off_align != 0;
    });
    bad
}

/// The checks a bounced request must pass — everything but alignment: access mode, a non-empty
/// transfer, the offset range, and (writes) an end inside the file's block-aligned size.
pub(crate) fn validate(req: &Request) -> Result<()> {
    req.check_priority(OP)?;
    if req.atomic {
        // Bouncing is a read-modify-write of the edge blocks: it cannot be atomic.
        return Err(Error::new(ErrorKind::Misaligned, OP).with_detail(
            "a misaligned atomic write cannot be bounced: an atomic write must be aligned",
        ));
    }
    let Some(file) = &req.file else {
        return Ok(());
    };
    let path = file.path().display();
    let err = |kind, detail: String| Err(Error::new(kind, OP).with_detail(detail));
    match req.op {
        OpKind::Read if !file.is_readable() => {
            return err(
                ErrorKind::InvalidInput,
                format!("{path} is not open for reading"),
            )
        }
        OpKind::Write if !file.is_writable() => {
            return err(
                ErrorKind::InvalidInput,
                format!("{path} is not open for writing"),
            )
        }
        _ => {}
    }
    let len = req.bufs.total_len();
    if len == 0 {
        return err(
            ErrorKind::InvalidInput,
            format!("{} of 0 bytes (required: at least one byte)", req.op.name()),
        );
    }
    let Some(end) = req
        .offset
        .checked_add(len)
        .filter(|e| *e <= i64::MAX as u64)
    else {
        return err(
            ErrorKind::OutOfRange,
            format!(
                "offset {} + length {len} overflows the file offset range",
                req.offset
            ),
        );
    };
    if req.op == OpKind::Write {
        let bs = u64::from(file.geometry().offset_align);
        let size = file.len() / bs * bs;
        if end > size {
            let (kind, errno) = if file.geometry().is_block_device {
                (ErrorKind::OutOfRange, libc::ENOSPC)
            } else {
                (ErrorKind::Unsupported, libc::EINVAL)
            };
            return Err(Error::new(kind, OP)
                .with_detail(format!(
                    "unaligned write of {len} bytes at {} ends at {end}, past the last whole \
                     {bs}-byte block of {path} (which ends at {size}); a bounced write \
                     rewrites whole blocks, so it must end inside them (write the tail \
                     aligned, or buffered)",
                    req.offset
                ))
                .with_errno(errno)
                .at_offset(req.offset));
        }
    }
    Ok(())
}

/// Performs bounced request `req` (validated by [`validate`]) in the calling thread; returns
/// its result as the engine encodes it: bytes of the request done, or `-errno`.
pub(crate) fn perform(req: &Request) -> i64 {
    let Some(file) = &req.file else {
        return 0;
    };
    let bs = u64::from(file.geometry().offset_align).max(1);
    let len = req.bufs.total_len();
    let start = req.offset / bs * bs;
    let end = (req.offset + len).div_ceil(bs) * bs;
    let head = (req.offset - start) as usize;
    let Ok(mut bounce) = usize::try_from(end - start)
        .map_err(|_| ())
        .and_then(|n| AlignedBuf::for_file(file, n).map_err(|_| ()))
    else {
        return -i64::from(libc::ENOMEM);
    };
    // The request's priority is the submitting thread's for the call, as on the thread pool.
    let result = sys::with_ioprio(req.ioprio(), || match req.op {
        OpKind::Read => read(file, start, &mut bounce, head, len as usize).inspect(|&n| {
            // SAFETY: the caller runs this request for its slot (RUNNING): its buffers are the
            // request's own, touched by nobody else until the completion is posted — exactly
            // as the kernel would write them.
            unsafe { scatter(&req.bufs, &bounce[head..head + n]) }
        }),
        OpKind::Write => {
            let _serial = crate::sync::lock(file.bounce_lock());
            write(file, req, start, &mut bounce, head, len as usize, req.dsync)
        }
        _ => Ok(0),
    })
    .and_then(|r| r);
    match result {
        Ok(n) => n as i64,
        Err(e) => -i64::from(e),
    }
}

/// Reads the covering blocks at `start` into `bounce`; returns how many bytes of the request
/// (which starts `head` bytes in, `len` long) arrived contiguously, or the error if none did.
fn read(
    file: &DirectFile,
    start: u64,
    bounce: &mut AlignedBuf,
    head: usize,
    len: usize,
) -> std::result::Result<usize, i32> {
    match transfer(file, false, start, bounce, 0, bounce.len(), 0) {
        (got, _) if got > head => Ok((got - head).min(len)),
        (_, Some(e)) => Err(e),
        _ => Ok(0),
    }
}

/// Read-modify-write: the partial edge blocks are read into `bounce`, the request's bytes
/// copied in between, the whole blocks written. Caller holds the file's bounce lock.
fn write(
    file: &DirectFile,
    req: &Request,
    start: u64,
    bounce: &mut AlignedBuf,
    head: usize,
    len: usize,
    dsync: bool,
) -> std::result::Result<usize, i32> {
    let bs = u64::from(file.geometry().offset_align).max(1) as usize;
    let span = bounce.len();
    let mut edges = Vec::with_capacity(2);
    if head != 0 {
        edges.push(0);
    }
    if (head + len) % bs != 0 && !(edges.first() == Some(&0) && span == bs) {
        edges.push(span - bs);
    }
    for at in edges {
        match transfer(file, false, start + at as u64, bounce, at, bs, 0) {
            (n, _) if n == bs => {}
            (_, Some(e)) => return Err(e),
            // Short: the block is not all there (the file shrank under us).
            _ => return Err(libc::EIO),
        }
    }
    gather(&req.bufs, &mut bounce[head..head + len]);
    let flags = if dsync { sys::RWF_DSYNC } else { 0 };
    match transfer(file, true, start, bounce, 0, span, flags) {
        (put, _) if put > head => Ok((put - head).min(len)),
        (_, Some(e)) => Err(e),
        _ => Ok(0),
    }
}

/// `len` bytes of `buf` from `at`, to or from the file at `offset`, continuing after short
/// transfers; returns the bytes moved and the error that stopped it, if one did.
fn transfer(
    file: &DirectFile,
    write: bool,
    offset: u64,
    buf: &mut AlignedBuf,
    at: usize,
    len: usize,
    flags: i32,
) -> (usize, Option<i32>) {
    let mut done = 0;
    while done < len {
        let iov = [IoVec {
            iov_base: buf[at + done..].as_mut_ptr().cast(),
            iov_len: len - done,
        }];
        // SAFETY: the vector lies inside `buf`, which we borrow mutably for the call.
        match unsafe { sys::prw(file.fd(), write, &iov, offset + done as u64, flags) } {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

/// Copies `from` into the request's segments, in order.
///
/// # Safety
/// The request's buffers may be written: its slot is running for the caller.
unsafe fn scatter(bufs: &Bufs, from: &[u8]) {
    let mut at = 0;
    bufs.for_each_segment(|addr, len| {
        let n = len.min(from.len() - at);
        // SAFETY: the segment is `len` bytes of the request's memory, writable by the caller's
        // contract, and cannot overlap the bounce buffer (a separate allocation).
        unsafe { std::ptr::copy_nonoverlapping(from[at..].as_ptr(), addr as *mut u8, n) };
        at += n;
    });
}

/// Copies the request's segments, in order, into `to`.
fn gather(bufs: &Bufs, to: &mut [u8]) {
    let mut at = 0;
    bufs.for_each_segment(|addr, len| {
        let n = len.min(to.len() - at);
        // SAFETY: the segment is `len` readable bytes owned by the request, which lives for the
        // call; the bounce buffer is a separate allocation.
        unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, to[at..].as_mut_ptr(), n) };
        at += n;
    });
}
