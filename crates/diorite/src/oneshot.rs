//! One-shot synchronous I/O on a [`DirectFile`], in the calling thread: no context, no queue,
//! no thread crossing (seed 004: "trivial to just bang out a call and synchronously wait for
//! it"). The same rules as a submitted request — validation of the offset and every segment,
//! splitting at `max_transfer`, the contiguous-prefix partial result, ordered size updates of
//! extending writes — because it runs the same code: a request built over the caller's slice,
//! validated by `dio`, performed by the thread pool's `execute`, but on this thread.

use crate::backend::threads::execute;
use crate::dio;
use crate::error::{Error, Result};
use crate::file::DirectFile;
use crate::request::Request;
use crate::sys::IoVec;

thread_local! {
    /// The vector list one-shot calls reuse, so a warm caller does not allocate.
    static IOV: std::cell::RefCell<Vec<IoVec>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn run(mut req: Request) -> Result<usize> {
    dio::validate(&req)?;
    req.begin_extend()?;
    let res = IOV.with(|iov| match iov.try_borrow_mut() {
        Ok(mut iov) => execute(&req, &mut iov),
        // Re-entered from a signal handler or a nested call: a private list.
        Err(_) => execute(&req, &mut Vec::new()),
    });
    if req.extending {
        if let Some(f) = &req.file {
            f.end_extend(req.offset, req.bufs.total_len(), res);
        }
    }
    match res {
        n if n >= 0 => Ok(n as usize),
        e => Err(Error::os(req.op.name(), (-e) as i32).at_offset(req.offset)),
    }
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
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        // SAFETY: the request lives only inside this call, during which `buf` is borrowed
        // mutably and so valid and unaliased for its whole length.
        run(unsafe { Request::read_raw(self, offset, buf.as_mut_ptr(), buf.len()) })
    }

    /// Writes `buf` at `offset`, in this thread; returns the bytes written. Equivalent to
    /// [`pwrite(2)`](https://man7.org/linux/man-pages/man2/pwrite.2.html) with the engine's
    /// rules (an extending write moves [`DirectFile::len`] once it is done).
    ///
    /// # Errors
    /// As [`DirectFile::read_at`].
    pub fn write_at(&self, buf: &[u8], offset: u64) -> Result<usize> {
        // SAFETY: the request lives only inside this call, during which `buf` is borrowed and
        // so valid for reads of its whole length; the engine only reads it.
        run(unsafe { Request::write_raw(self, offset, buf.as_ptr(), buf.len()) })
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
}
