//! One-shot synchronous I/O on a [`DirectFile`], in the calling thread: no context, no queue,
//! no thread crossing: a call made and waited for
//! synchronously. The same rules as a submitted request — validation of the offset and every segment,
//! splitting at `max_transfer`, the contiguous-prefix partial result, ordered size updates of
//! extending writes — because it runs the same code: a request built over the caller's slice,
//! validated by `dio`, performed by the thread pool's `execute`, but on this thread.

use crate::direct::buf::AlignedBuf;
use crate::direct::dio;
use crate::direct::execute::execute;
use crate::direct::file::DirectFile;
use crate::direct::request::{Bufs, OpKind, Request};
use crate::error::{Error, Result};
use crate::sys;
use crate::sys::IoVec;

thread_local! {
    /// The vector list one-shot calls reuse, so a warm caller does not allocate.
    static IOV: std::cell::RefCell<Vec<IoVec>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn run(req: Request) -> Result<usize> {
    run_keep(req).0
}

/// The fast path of a single-buffer read or write: validated like a request, then one
/// `preadv2`/`pwritev2` here — no request, no file handle clone — unless the buffer is larger
/// than the device's largest transfer (then the general path splits it).
#[inline]
fn single(file: &DirectFile, op: OpKind, offset: u64, ptr: *mut u8, len: usize) -> Result<usize> {
    let bufs = Bufs::Raw { ptr, len };
    dio::validate_io(file, op, offset, &bufs)?;
    if len as u64 > u64::from(file.geometry().max_transfer) {
        // SAFETY: forwarded from the caller of `single` (a live, exclusively borrowed slice).
        let req = unsafe {
            if op == OpKind::Write {
                Request::write_raw(file, offset, ptr, len)
            } else {
                Request::read_raw(file, offset, ptr, len)
            }
        };
        return run(req);
    }
    let write = op == OpKind::Write;
    let extending = write && file.begin_extend(offset, len as u64, 0)?;
    let iov = [IoVec {
        iov_base: ptr.cast(),
        iov_len: len,
    }];
    // SAFETY: the vector is the caller's live slice (borrowed for this call: writable for a
    // read, readable for a write).
    let r = unsafe { sys::prw(file.fd(), write, &iov, offset, file.rw_flags()) };
    let res = match r {
        Ok(n) => n as i64,
        Err(e) => -i64::from(e),
    };
    if extending {
        file.end_extend(offset, len as u64, res, 0, 0);
    }
    match r {
        Ok(n) => Ok(n),
        Err(e) => Err(Error::os(op.name(), e).at_offset(offset)),
    }
}

/// Runs `req` in this thread and hands it back (with its buffers) beside the result.
fn run_keep(mut req: Request) -> (Result<usize>, Request) {
    if let Err(e) = dio::validate(&req).and_then(|()| req.begin_extend(0)) {
        return (Err(e), req);
    }
    let res = IOV.with(|iov| match iov.try_borrow_mut() {
        Ok(mut iov) => execute(&req, &mut iov),
        // Re-entered from a signal handler or a nested call: a private list.
        Err(_) => execute(&req, &mut Vec::new()),
    });
    if req.extending {
        if let Some(f) = &req.file {
            f.end_extend(req.offset, req.bufs.total_len(), res, 0, 0);
        }
        req.extending = false;
    }
    let r = match res {
        n if n >= 0 => Ok(n as usize),
        e => Err(Error::os(req.op.name(), (-e) as i32).at_offset(req.offset)),
    };
    (r, req)
}

impl DirectFile {
    /// Reads `buf.len()` bytes at `offset` into `buf`, in this thread; returns the bytes read
    /// (fewer at the end of the file). Equivalent to
    /// [`pread(2)`](https://man7.org/linux/man-pages/man2/pread.2.html) with the engine's rules.
    ///
    /// # Errors
    /// [`ErrorKind::Misaligned`](crate::ErrorKind::Misaligned) /
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) /
    /// [`ErrorKind::OutOfRange`](crate::ErrorKind::OutOfRange) from validation (nothing done),
    /// or the OS error with the operation and offset.
    ///
    /// # Examples
    /// ```no_run
    /// let f = diorite::DirectFile::open("/dev/loop0")?;
    /// let mut buf = diorite::AlignedBuf::for_file(&f, 4096)?;
    /// let n = f.read_at(&mut buf, 0)?;
    /// # Ok::<(), diorite::Error>(())
    /// ```
    #[inline]
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        single(self, OpKind::Read, offset, buf.as_mut_ptr(), buf.len())
    }

    /// Writes `buf` at `offset`, in this thread; returns the bytes written. Equivalent to
    /// [`pwrite(2)`](https://man7.org/linux/man-pages/man2/pwrite.2.html) with the engine's
    /// rules (an extending write moves [`DirectFile::len`] once it is done).
    ///
    /// # Errors
    /// As [`DirectFile::read_at`].
    pub fn write_at(&self, buf: &[u8], offset: u64) -> Result<usize> {
        // The engine only reads through the pointer of a write.
        single(
            self,
            OpKind::Write,
            offset,
            buf.as_ptr() as *mut u8,
            buf.len(),
        )
    }

    /// Flushes the file's data and metadata, in this thread
    /// ([`fsync(2)`](https://man7.org/linux/man-pages/man2/fsync.2.html)).
    ///
    /// # Errors
    /// The OS error.
    pub fn sync_all(&self) -> Result<()> {
        run(Request::fsync(self)).map(|_| ())
    }

    /// Flushes the file's data, in this thread
    /// ([`fdatasync(2)`](https://man7.org/linux/man-pages/man2/fdatasync.2.html)).
    ///
    /// # Errors
    /// The OS error.
    pub fn sync_data(&self) -> Result<()> {
        run(Request::fdatasync(self)).map(|_| ())
    }

    /// Drops the kernel's cached pages of `[offset, offset + len)` (`len` 0: to the end), so
    /// the next buffered read goes to the device — fio's `invalidate`: for a regular file
    /// `posix_fadvise(POSIX_FADV_DONTNEED)` (dirty pages are kept until written back); for a
    /// block device `ioctl(BLKFLSBUF)`, which writes back and drops the device's whole cache
    /// and needs `CAP_SYS_ADMIN`. With `O_DIRECT` nothing is read through the cache, but
    /// pages cached by buffered users of the file are dropped all the same.
    ///
    /// # Errors
    /// The OS error (`EACCES` for a block device without the capability).
    pub fn drop_cache(&self, offset: u64, len: u64) -> Result<()> {
        use std::os::fd::AsFd;
        const OP: &str = "DirectFile::drop_cache";
        let fd = self.as_fd();
        if self.geometry().is_block_device {
            crate::sys::blk_flush_buffers(fd)
        } else {
            crate::sys::fadvise_dontneed(fd, offset, len)
        }
        .map_err(|e| crate::Error::os(OP, e).at_path(self.path()))
    }
}

/// Reads `buf.len()` bytes at `offset` of `file` into `buf`, in the calling thread, and gives
/// the buffer back with the result — success or error. No [`Context`](crate::Context): the
/// engine's validation, splitting and partial-result rules, then `preadv2(2)` right here.
///
/// # Examples
/// ```no_run
/// let f = diorite::DirectFile::open("/dev/loop0")?;
/// let (n, buf) = diorite::read_at(&f, 0, diorite::AlignedBuf::for_file(&f, 4096)?);
/// println!("{} bytes: {:?}", n?, &buf[..16]);
/// # Ok::<(), diorite::Error>(())
/// ```
#[inline]
pub fn read_at(file: &DirectFile, offset: u64, mut buf: AlignedBuf) -> (Result<usize>, AlignedBuf) {
    let r = file.read_at(&mut buf, offset);
    (r, buf)
}

/// Writes `buf` at `offset` of `file` in the calling thread and gives the buffer back with the
/// result. An extending write moves [`DirectFile::len`] once it is done.
///
/// # Examples
/// ```no_run
/// let f = diorite::DirectFile::options().write(true).open("/dev/loop0")?;
/// let (n, _buf) = diorite::write_at(&f, 0, diorite::AlignedBuf::for_file(&f, 4096)?);
/// n?;
/// # Ok::<(), diorite::Error>(())
/// ```
pub fn write_at(file: &DirectFile, offset: u64, buf: AlignedBuf) -> (Result<usize>, AlignedBuf) {
    let r = file.write_at(&buf, offset);
    (r, buf)
}

/// A vectored [`read_at`]: fills `bufs` in order from `offset`; gives every buffer back.
///
/// # Examples
/// ```no_run
/// let f = diorite::DirectFile::open("/dev/loop0")?;
/// let bufs = vec![diorite::AlignedBuf::for_file(&f, 4096)?, diorite::AlignedBuf::for_file(&f, 4096)?];
/// let (n, bufs) = diorite::readv_at(&f, 0, bufs);
/// # Ok::<(), diorite::Error>(())
/// ```
pub fn readv_at(
    file: &DirectFile,
    offset: u64,
    bufs: Vec<AlignedBuf>,
) -> (Result<usize>, Vec<AlignedBuf>) {
    let (r, req) = run_keep(Request::readv(file, offset, bufs));
    (r, req.into_bufs())
}

/// A vectored [`write_at`]: writes `bufs` in order from `offset`; gives every buffer back.
///
/// # Examples
/// ```no_run
/// let f = diorite::DirectFile::options().write(true).open("/dev/loop0")?;
/// let (n, _bufs) = diorite::writev_at(&f, 0, vec![diorite::AlignedBuf::for_file(&f, 4096)?]);
/// # Ok::<(), diorite::Error>(())
/// ```
pub fn writev_at(
    file: &DirectFile,
    offset: u64,
    bufs: Vec<AlignedBuf>,
) -> (Result<usize>, Vec<AlignedBuf>) {
    let (r, req) = run_keep(Request::writev(file, offset, bufs));
    (r, req.into_bufs())
}

/// Flushes `file`'s data and metadata in the calling thread
/// ([`fsync(2)`](https://man7.org/linux/man-pages/man2/fsync.2.html)).
///
/// # Errors
/// The OS error.
pub fn fsync(file: &DirectFile) -> Result<()> {
    file.sync_all()
}

/// Flushes `file`'s data in the calling thread
/// ([`fdatasync(2)`](https://man7.org/linux/man-pages/man2/fdatasync.2.html)).
///
/// # Errors
/// The OS error.
pub fn fdatasync(file: &DirectFile) -> Result<()> {
    file.sync_data()
}

/// Discards `len` bytes at `offset` in the calling thread, as [`Request::discard`] (same
/// validation); returns the range's length.
///
/// # Errors
/// As [`Request::discard`]'s refusals and completion errors.
///
/// ```no_run
/// let f = diorite::DirectFile::options().read(true).write(true).open("/dev/loop0")?;
/// assert_eq!(diorite::discard(&f, 0, 1 << 20)?, 1 << 20);
/// # Ok::<(), diorite::Error>(())
/// ```
pub fn discard(file: &DirectFile, offset: u64, len: u64) -> Result<u64> {
    run_keep(Request::discard(file, offset, len))
        .0
        .map(|n| n as u64)
}

/// Zeroes `len` bytes at `offset` in the calling thread, as [`Request::write_zeroes`] (with
/// [`Request::unmap`] when `unmap`); returns the range's length.
///
/// # Errors
/// As [`Request::write_zeroes`]'s refusals and completion errors.
pub fn write_zeroes(file: &DirectFile, offset: u64, len: u64, unmap: bool) -> Result<u64> {
    let req = Request::write_zeroes(file, offset, len);
    let req = if unmap { req.unmap() } else { req };
    run_keep(req).0.map(|n| n as u64)
}
