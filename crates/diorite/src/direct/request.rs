//! [`Request`]s, their [`Completion`]s and [`RequestId`]s.
//!
//! A request owns its buffers from construction until its completion hands them back; if
//! `submit` refuses it, the request comes back inside [`SubmitError`](crate::SubmitError).

use crate::direct::buf::AlignedBuf;
use crate::direct::file::DirectFile;
use crate::error::Result;
use crate::sys;
use std::fmt;

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpKind {
    /// Read into the buffers: equivalent to [`preadv2(2)`](https://man7.org/linux/man-pages/man2/preadv2.2.html).
    Read,
    /// Write the buffers: equivalent to [`pwritev2(2)`](https://man7.org/linux/man-pages/man2/pwritev2.2.html).
    Write,
    /// [`fsync(2)`](https://man7.org/linux/man-pages/man2/fsync.2.html).
    Fsync,
    /// [`fdatasync(2)`](https://man7.org/linux/man-pages/man2/fdatasync.2.html).
    Fdatasync,
    /// Does nothing; completes with `Ok(0)`. Measures the engine's own cost.
    Noop,
    /// Tells the device the range's data is no longer needed: `BLKDISCARD` on a block device
    /// (what reads return afterwards is the device's business), a punched hole on a regular file
    /// (`fallocate(PUNCH_HOLE | KEEP_SIZE)`: reads return zeroes). Completes with the range's
    /// length.
    Discard,
    /// Zeroes the range: `BLKZEROOUT` on a block device (the kernel writes zeroes where the
    /// device cannot), `fallocate(ZERO_RANGE | KEEP_SIZE)` on a regular file; with
    /// [`Request::unmap`], zeroing that may deallocate (`fallocate(PUNCH_HOLE | KEEP_SIZE)`:
    /// on a block device, only where the device can zero without writing). Reads return zeroes
    /// afterwards. Completes with the range's length.
    WriteZeroes,
}

impl OpKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Fsync => "fsync",
            OpKind::Fdatasync => "fdatasync",
            OpKind::Noop => "noop",
            OpKind::Discard => "discard",
            OpKind::WriteZeroes => "write_zeroes",
        }
    }
}

/// The memory a request transfers to or from.
pub(crate) enum Bufs {
    None,
    One(AlignedBuf),
    Many(Vec<AlignedBuf>),
    /// Caller-managed memory (`read_raw`/`write_raw`).
    Raw {
        ptr: *mut u8,
        len: usize,
    },
    /// A byte range without memory (discard, write-zeroes).
    Span(u64),
}

impl Bufs {
    /// Calls `f(address, length)` for each segment, in order.
    pub(crate) fn for_each_segment(&self, mut f: impl FnMut(usize, usize)) {
        match self {
            Bufs::None | Bufs::Span(_) => {}
            Bufs::One(b) => f(b.addr(), b.len()),
            Bufs::Many(v) => v.iter().for_each(|b| f(b.addr(), b.len())),
            Bufs::Raw { ptr, len } => f(*ptr as usize, *len),
        }
    }

    /// Segment `i` as `(address, length)`.
    pub(crate) fn segment(&self, i: usize) -> Option<(usize, usize)> {
        match (self, i) {
            (Bufs::One(b), 0) => Some((b.addr(), b.len())),
            (Bufs::Many(v), i) => v.get(i).map(|b| (b.addr(), b.len())),
            (Bufs::Raw { ptr, len }, 0) => Some((*ptr as usize, *len)),
            _ => None,
        }
    }

    pub(crate) fn total_len(&self) -> u64 {
        if let Bufs::Span(n) = self {
            return *n;
        }
        let mut n = 0u64;
        self.for_each_segment(|_, len| n = n.saturating_add(len as u64));
        n
    }

    fn into_vec(self) -> Vec<AlignedBuf> {
        match self {
            Bufs::One(b) => vec![b],
            Bufs::Many(v) => v,
            Bufs::None | Bufs::Raw { .. } | Bufs::Span(_) => Vec::new(),
        }
    }
}

/// One I/O to submit to a [`Context`](crate::Context).
///
/// # Examples
/// ```no_run
/// use diorite::{AlignedBuf, DirectFile, Request};
/// let file = DirectFile::open("/dev/loop0")?;
/// let buf = AlignedBuf::for_file(&file, 4096)?;
/// let req = Request::read(&file, 0, buf).with_user_data(42);
/// # Ok::<(), diorite::Error>(())
/// ```
pub struct Request {
    pub(crate) op: OpKind,
    pub(crate) file: Option<DirectFile>,
    pub(crate) offset: u64,
    pub(crate) bufs: Bufs,
    pub(crate) user_data: u64,
    pub(crate) dsync: bool,
    /// Write-zeroes may deallocate ([`Request::unmap`]).
    pub(crate) unmap: bool,
    /// Set at submit when this write extends its regular file: its completion must report to
    /// [`DirectFile::end_extend`] (ordered size updates).
    pub(crate) extending: bool,
    /// The I/O priority ([`Request::with_priority`]): class and level; `None` leaves the
    /// issuer's.
    pub(crate) prio: Option<(IoClass, u8)>,
    /// The priority hint ([`Request::with_priority_hint`]), 0 for none.
    pub(crate) prio_hint: u16,
    /// A torn-write-free write ([`Request::atomic`]): `RWF_ATOMIC`.
    pub(crate) atomic: bool,
}

/// An I/O priority class (Linux `ioprio`, see ioprio_set(2)): `RealTime` needs
/// `CAP_SYS_ADMIN` or `CAP_SYS_NICE` where the I/O is issued; what a class does is up to the
/// device's I/O scheduler (mq-deadline and bfq honour it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoClass {
    /// Served before the others (`IOPRIO_CLASS_RT`).
    RealTime = 1,
    /// The default class (`IOPRIO_CLASS_BE`).
    BestEffort = 2,
    /// Served when nothing else wants the device (`IOPRIO_CLASS_IDLE`).
    Idle = 3,
}

impl IoClass {
    /// The class of Linux's class number (1, 2, 3).
    pub fn from_number(n: u8) -> Option<IoClass> {
        match n {
            1 => Some(IoClass::RealTime),
            2 => Some(IoClass::BestEffort),
            3 => Some(IoClass::Idle),
            _ => None,
        }
    }
}

/// The kernel's encoding of a priority (`IOPRIO_PRIO_VALUE`: class << 13 | level).
pub(crate) fn ioprio_value(class: IoClass, level: u8, hint: u16) -> u16 {
    ((class as u16) << 13) | (hint << 3) | u16::from(level)
}

/// The largest priority hint: the kernel's 10 hint bits (`IOPRIO_HINT_NR_BITS`).
pub const MAX_PRIORITY_HINT: u16 = (1 << 10) - 1;

// SAFETY: every field is Send except the raw pointer of `Bufs::Raw`; the caller of `read_raw` /
// `write_raw` promised that the memory stays valid and unaliased until the completion, from
// whichever thread performs the I/O.
unsafe impl Send for Request {}

impl Request {
    fn new(op: OpKind, file: Option<&DirectFile>, offset: u64, bufs: Bufs) -> Request {
        Request {
            op,
            file: file.cloned(),
            offset,
            bufs,
            user_data: 0,
            dsync: false,
            unmap: false,
            extending: false,
            prio: None,
            prio_hint: 0,
            atomic: false,
        }
    }

    /// Registers this request as an extending write of `owner` (an engine's address, 0 for a
    /// one-shot call) when it is one (see [`DirectFile::begin_extend`]).
    pub(crate) fn begin_extend(&mut self, owner: usize) -> Result<()> {
        if let (OpKind::Write, Some(f)) = (self.op, &self.file) {
            self.extending = f.begin_extend(self.offset, self.bufs.total_len(), owner)?;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at `offset` into `buf`.
    pub fn read(file: &DirectFile, offset: u64, buf: AlignedBuf) -> Request {
        Request::new(OpKind::Read, Some(file), offset, Bufs::One(buf))
    }

    /// Writes `buf` at `offset`.
    pub fn write(file: &DirectFile, offset: u64, buf: AlignedBuf) -> Request {
        Request::new(OpKind::Write, Some(file), offset, Bufs::One(buf))
    }

    /// Reads into several buffers, in order, starting at `offset` (a vectored read).
    pub fn readv(file: &DirectFile, offset: u64, bufs: Vec<AlignedBuf>) -> Request {
        Request::new(OpKind::Read, Some(file), offset, Bufs::Many(bufs))
    }

    /// Writes several buffers, in order, starting at `offset` (a vectored write).
    pub fn writev(file: &DirectFile, offset: u64, bufs: Vec<AlignedBuf>) -> Request {
        Request::new(OpKind::Write, Some(file), offset, Bufs::Many(bufs))
    }

    /// Flushes the file's data and metadata.
    pub fn fsync(file: &DirectFile) -> Request {
        Request::new(OpKind::Fsync, Some(file), 0, Bufs::None)
    }

    /// Flushes the file's data (and the metadata needed to read it).
    pub fn fdatasync(file: &DirectFile) -> Request {
        Request::new(OpKind::Fdatasync, Some(file), 0, Bufs::None)
    }

    /// Discards `len` bytes at `offset` (see [`OpKind::Discard`]). The range must be aligned to
    /// the file's `offset_align` and lie within the file; a block device that takes no discards
    /// (`Geometry::discard_max_bytes` 0) refuses it with `Unsupported`.
    ///
    /// ```no_run
    /// # use diorite::{Context, DirectFile, Request};
    /// # let file = DirectFile::options().read(true).write(true).open("/dev/loop0")?;
    /// # let ctx = Context::builder().build()?;
    /// ctx.submit(Request::discard(&file, 0, 1 << 20)).map_err(|e| e.error)?;
    /// # Ok::<(), diorite::Error>(())
    /// ```
    pub fn discard(file: &DirectFile, offset: u64, len: u64) -> Request {
        Request::new(OpKind::Discard, Some(file), offset, Bufs::Span(len))
    }

    /// Zeroes `len` bytes at `offset` (see [`OpKind::WriteZeroes`]); the range rules are those
    /// of [`Request::discard`].
    pub fn write_zeroes(file: &DirectFile, offset: u64, len: u64) -> Request {
        Request::new(OpKind::WriteZeroes, Some(file), offset, Bufs::Span(len))
    }

    /// Lets a [`Request::write_zeroes`] deallocate the range (thin provisioning, punched holes)
    /// instead of keeping it allocated. A block device that cannot zero without writing
    /// (`Geometry::write_zeroes_max_bytes` 0) refuses it with `Unsupported`. Ignored for other
    /// operations.
    pub fn unmap(mut self) -> Request {
        self.unmap = true;
        self
    }

    /// A request that does nothing and completes with `Ok(0)`.
    pub fn noop() -> Request {
        Request::new(OpKind::Noop, None, 0, Bufs::None)
    }

    /// Reads `len` bytes at `offset` into memory the caller manages.
    ///
    /// # Safety
    /// `ptr` must be valid for writes of `len` bytes, and neither read nor written by anything else
    /// from the moment the request is submitted until its completion is returned by
    /// `get_events` (or until the context is shut down) — also when the request is canceled.
    /// If `submit` refuses the request, the memory is not touched.
    pub unsafe fn read_raw(file: &DirectFile, offset: u64, ptr: *mut u8, len: usize) -> Request {
        Request::new(OpKind::Read, Some(file), offset, Bufs::Raw { ptr, len })
    }

    /// Writes `len` bytes at `offset` from memory the caller manages.
    ///
    /// # Safety
    /// `ptr` must be valid for reads of `len` bytes and not written by anything else from the
    /// moment the request is submitted until its completion is returned by `get_events` (or until
    /// the context is shut down) — also when the request is canceled.
    pub unsafe fn write_raw(file: &DirectFile, offset: u64, ptr: *const u8, len: usize) -> Request {
        Request::new(
            OpKind::Write,
            Some(file),
            offset,
            Bufs::Raw {
                ptr: ptr as *mut u8,
                len,
            },
        )
    }

    /// Sets the value returned in the completion's `user_data`.
    pub fn with_user_data(mut self, user_data: u64) -> Request {
        self.user_data = user_data;
        self
    }

    /// Issues a read or write at this I/O priority: class and level (0, the highest, to 7).
    /// Carried as the io_uring SQE's `ioprio` and the AIO iocb's `aio_reqprio`
    /// (`IOCB_FLAG_IOPRIO`); the thread pool sets its worker's priority (`ioprio_set`) around
    /// the call and restores it. A level above 7 is refused at submit ([`ErrorKind::InvalidInput`],
    /// nothing issued); a class the issuer may not use completes with `EPERM`. Ignored for other
    /// operations.
    ///
    /// [`ErrorKind::InvalidInput`]: crate::ErrorKind::InvalidInput
    pub fn with_priority(mut self, class: IoClass, level: u8) -> Request {
        self.prio = Some((class, level));
        self
    }

    /// The priority given with [`Request::with_priority`].
    pub fn priority(&self) -> Option<(IoClass, u8)> {
        self.prio
    }

    /// Adds a hint to the priority given with [`Request::with_priority`] (Linux 6.10 and
    /// later: bits 3 to 12 of the `ioprio`, e.g. a command duration limit, 1 to 7, on a device
    /// with CDL; devices without a use for it ignore it). A hint above
    /// [`MAX_PRIORITY_HINT`] is refused at submit ([`ErrorKind::InvalidInput`]); without a
    /// priority it is not sent.
    ///
    /// [`ErrorKind::InvalidInput`]: crate::ErrorKind::InvalidInput
    pub fn with_priority_hint(mut self, hint: u16) -> Request {
        self.prio_hint = hint;
        self
    }

    /// Makes this write (or vectored write) atomic: after a crash or power cut the range holds
    /// all of it or none of it, never a mix of old and new (`RWF_ATOMIC`, Linux 6.11; through
    /// io_uring, AIO and the thread pool alike). It must fit the file's
    /// [`Geometry::atomic_write`](crate::Geometry::atomic_write) limits — a length that is a
    /// power of two within the unit limits, an offset that is a multiple of the length, at most
    /// `segments_max` buffers — else it is refused at submit naming the limit
    /// ([`ErrorKind::Unsupported`] where the file has no atomic writes, [`ErrorKind::Misaligned`]
    /// for the offset, [`ErrorKind::InvalidInput`] otherwise), and never issued as a plain
    /// write. Not bounced ([`Alignment::Bounce`](crate::Alignment::Bounce) refuses it when
    /// misaligned). Only for writes: any other operation is refused.
    ///
    /// [`ErrorKind::Unsupported`]: crate::ErrorKind::Unsupported
    /// [`ErrorKind::Misaligned`]: crate::ErrorKind::Misaligned
    /// [`ErrorKind::InvalidInput`]: crate::ErrorKind::InvalidInput
    pub fn atomic(mut self) -> Request {
        self.atomic = true;
        self
    }

    /// Whether [`Request::atomic`] was asked for.
    pub fn is_atomic(&self) -> bool {
        self.atomic
    }

    /// The hint given with [`Request::with_priority_hint`] (0: none).
    pub fn priority_hint(&self) -> u16 {
        self.prio_hint
    }

    /// Refuses a priority level the kernel does not have.
    pub(crate) fn check_priority(&self, op: &'static str) -> crate::Result<()> {
        if self.prio_hint > MAX_PRIORITY_HINT {
            return Err(
                crate::Error::new(crate::ErrorKind::InvalidInput, op).with_detail(format!(
                    "I/O priority hint {} is out of range: hints are 0 to {MAX_PRIORITY_HINT}",
                    self.prio_hint
                )),
            );
        }
        match self.prio {
            Some((class, level)) if level > 7 => {
                Err(
                    crate::Error::new(crate::ErrorKind::InvalidInput, op).with_detail(format!(
                "I/O priority level {level} (class {class:?}) is out of range: levels are 0 to 7"
            )),
                )
            }
            _ => Ok(()),
        }
    }

    /// The kernel's `ioprio` of a read or write (0: none given).
    pub(crate) fn ioprio(&self) -> u16 {
        match (self.op, self.prio) {
            (OpKind::Read | OpKind::Write, Some((c, l))) => ioprio_value(c, l, self.prio_hint),
            _ => 0,
        }
    }

    /// The `RWF_*` flags of a read or write: `RWF_DSYNC` and `RWF_ATOMIC` of a write as asked,
    /// and `RWF_DONTCACHE` on a handle opened uncached ([`OpenOptions::dontcache`]).
    ///
    /// [`OpenOptions::dontcache`]: crate::OpenOptions::dontcache
    pub(crate) fn rw_flags(&self) -> i32 {
        let write = self.op == OpKind::Write;
        let file = self.file.as_ref().map_or(0, |f| f.rw_flags());
        file | if write && self.dsync {
            sys::RWF_DSYNC
        } else {
            0
        } | if write && self.atomic {
            sys::RWF_ATOMIC
        } else {
            0
        }
    }

    /// Makes a write durable before it completes (`RWF_DSYNC`). Ignored for other operations.
    pub fn dsync(mut self) -> Request {
        self.dsync = true;
        self
    }

    /// The operation.
    pub fn op(&self) -> OpKind {
        self.op
    }

    /// The file offset.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The bytes to transfer, or the range's length for discard and write-zeroes (0 for fsync
    /// and noop).
    pub fn len(&self) -> u64 {
        self.bufs.total_len()
    }

    /// Whether the request transfers no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The caller's tag for this request.
    pub fn user_data(&self) -> u64 {
        self.user_data
    }

    /// Takes the request apart, giving back its buffers (empty for raw and buffer-less requests).
    pub fn into_bufs(self) -> Vec<AlignedBuf> {
        self.bufs.into_vec()
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("op", &self.op)
            .field("offset", &self.offset)
            .field("len", &self.len())
            .field("user_data", &self.user_data)
            .field("dsync", &self.dsync)
            .field("atomic", &self.atomic)
            .finish()
    }
}

/// Identifies a submitted request until its completion is reaped: the slot (tag, 16 bits) and
/// the slot's generation (48 bits), so a stale id does not match a later request in the same
/// slot — until that slot was reused 2^48 times (at 20 million reuses a second, more than any
/// backend completes, 163 days).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

// A tag fits the id's low 16 bits.
const _: () = assert!(crate::primitives::tags::MAX_DEPTH <= 1 << 16);

impl RequestId {
    pub(crate) fn new(gen: u64, tag: u32) -> RequestId {
        // Tags are below `tags::MAX_DEPTH` (2^16); generations are 48 bits (the slot's).
        RequestId((gen << 16) | u64::from(tag & 0xFFFF))
    }

    pub(crate) fn tag(self) -> u32 {
        (self.0 & 0xFFFF) as u32
    }

    pub(crate) fn generation(self) -> u64 {
        self.0 >> 16
    }

    /// The id as a number (for logs).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// The result of one request, delivered exactly once by `get_events`.
pub struct Completion {
    /// The id `submit` returned.
    pub id: RequestId,
    /// The request's `user_data`.
    pub user_data: u64,
    /// What the request did.
    pub op: OpKind,
    /// Bytes transferred (possibly fewer than requested: a short read at the end of the file,
    /// or the bytes completed before a failure part-way), or the error.
    pub result: Result<usize>,
    pub(crate) bufs: Bufs,
}

impl Completion {
    /// Takes the buffer of a single-buffer request (`read`, `write`) back. `None` for a vectored
    /// request (`readv`, `writev`) — its buffers stay in the completion for
    /// [`Completion::take_bufs`], so none is dropped unseen — and for requests without buffers.
    pub fn take_buf(&mut self) -> Option<AlignedBuf> {
        match std::mem::replace(&mut self.bufs, Bufs::None) {
            Bufs::One(b) => Some(b),
            other => {
                self.bufs = other;
                None
            }
        }
    }

    /// Takes all buffers back, in request order (one for `read`/`write`, every one for
    /// `readv`/`writev`).
    pub fn take_bufs(&mut self) -> Vec<AlignedBuf> {
        std::mem::replace(&mut self.bufs, Bufs::None).into_vec()
    }
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("id", &self.id)
            .field("user_data", &self.user_data)
            .field("op", &self.op)
            .field("result", &self.result)
            .finish()
    }
}
