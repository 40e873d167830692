//! The library's one error type.
//!
//! An [`Error`] carries an [`ErrorKind`], the operation that failed, the file offset or path where it
//! applies, the OS errno when the kernel said no, and (for validation errors) a sentence naming the
//! value that was wrong and what was required. Errors built on the I/O path (a completion's result)
//! carry no sentence and therefore never allocate.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::Path;
use std::sync::OnceLock;

/// What went wrong, as a category callers can match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument was out of its allowed range or otherwise malformed.
    InvalidInput,
    /// A buffer address, length or file offset does not meet the file's alignment.
    Misaligned,
    /// The request lies (partly) outside the device, or a counter would overflow.
    OutOfRange,
    /// The request was canceled before it completed.
    Canceled,
    /// The context has `depth` requests in flight; the request was handed back.
    QueueFull,
    /// The context is shutting down or shut down.
    Shutdown,
    /// The operation or configuration is not supported here (by this backend, file or kernel).
    Unsupported,
    /// The request id is unknown: never issued, already completed, or already reaped.
    NotFound,
    /// `cancel` lost the race: the request is already running in the kernel or a worker and will
    /// complete normally.
    InProgress,
    /// A wait ran out of time.
    TimedOut,
    /// The operating system returned an error; see [`Error::raw_os_error`].
    Os,
    /// The context was built by another process: this one is a `fork(2)` of it. A context's
    /// queues, rings and workers belong to the process that built it; a child builds its own.
    Forked,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::Misaligned => "misaligned",
            ErrorKind::OutOfRange => "out of range",
            ErrorKind::Canceled => "canceled",
            ErrorKind::QueueFull => "queue full",
            ErrorKind::Shutdown => "context is shut down",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::NotFound => "no such request",
            ErrorKind::InProgress => "request already in progress",
            ErrorKind::TimedOut => "timed out",
            ErrorKind::Os => "os error",
            ErrorKind::Forked => "context belongs to the parent process (used after fork)",
        }
    }
}

/// Where an error applies.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Location {
    None,
    Offset(u64),
    Path(Box<Path>),
}

/// Operation names an [`Error`] can carry inline (without allocating): the I/O operations and
/// the engine's own calls. Any other name moves the error to its boxed form.
const INLINE_OPS: [&str; 12] = [
    "read",
    "write",
    "fsync",
    "fdatasync",
    "noop",
    "submit",
    "get_events",
    "cancel",
    "Context::build",
    "Context::shutdown",
    "DirectFile::open",
    "AlignedBuf::new",
];

/// "No offset" in the inline form (offsets past `i64::MAX` are never valid file offsets, so
/// an error at such an offset takes the boxed form).
const NO_OFFSET: u64 = u64::MAX;

/// The inline form: what a completion's error needs, in 16 bytes, never allocated. The boxed
/// form holds the cold parts (a sentence, a path, an operation name not in [`INLINE_OPS`]).
#[derive(Clone)]
enum Repr {
    Inline {
        /// File offset, or [`NO_OFFSET`].
        offset: u64,
        /// errno, or 0 for none.
        errno: i32,
        kind: ErrorKind,
        /// Index into [`INLINE_OPS`].
        op: u8,
    },
    Boxed(Box<Cold>),
}

#[derive(Clone)]
struct Cold {
    kind: ErrorKind,
    op: &'static str,
    location: Location,
    errno: Option<i32>,
    detail: Option<Cow<'static, str>>,
}

/// The error type of every fallible diorite operation.
///
/// 16 bytes: a `Result<usize, Error>` is returned in two registers. Errors made on the I/O path
/// (a completion's `EIO`, `Canceled`) never allocate; errors with a sentence or a path keep those
/// in a box.
///
/// Converting into [`std::io::Error`] keeps everything: the `io::Error`'s `Display` is this
/// error's (operation, offset, errno text), its `kind()` follows the errno, [`source`]
/// (`std::error::Error::source`) reaches the OS error, and
/// `io_err.get_ref().and_then(|e| e.downcast_ref::<diorite::Error>())` gives this error back.
///
/// [`source`]: std::error::Error::source
#[derive(Clone)]
pub struct Error(Repr);

/// `std::result::Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

fn inline_op(op: &'static str) -> Option<u8> {
    INLINE_OPS
        .iter()
        .position(|o| std::ptr::eq(*o, op) || *o == op)
        .map(|i| i as u8)
}

impl Error {
    /// A new error of `kind` raised by `op` (a short name such as `"submit"` or `"TagSet::new"`).
    pub fn new(kind: ErrorKind, op: &'static str) -> Error {
        match inline_op(op) {
            Some(op) => Error(Repr::Inline {
                offset: NO_OFFSET,
                errno: 0,
                kind,
                op,
            }),
            None => Error(Repr::Boxed(Box::new(Cold {
                kind,
                op,
                location: Location::None,
                errno: None,
                detail: None,
            }))),
        }
    }

    /// An error from the OS: `errno` as returned by a syscall (positive). Its kind is
    /// [`ErrorKind::Os`], or [`ErrorKind::Unsupported`] for `EOPNOTSUPP`.
    pub fn os(op: &'static str, errno: i32) -> Error {
        // "Operation not supported" is what `Unsupported` means (a filesystem without the
        // fallocate mode a discard needs, a device without a command); the errno stays.
        let kind = if errno == libc::EOPNOTSUPP {
            ErrorKind::Unsupported
        } else {
            ErrorKind::Os
        };
        Error::new(kind, op).with_errno(errno)
    }

    /// Converts a `std::io::Error` raised by `op`.
    pub fn from_io(op: &'static str, e: &io::Error) -> Error {
        match e.raw_os_error() {
            Some(errno) => Error::os(op, errno),
            None => Error::new(ErrorKind::Os, op).with_detail(e.to_string()),
        }
    }

    /// The boxed form (moving an inline error there).
    fn cold(&mut self) -> &mut Cold {
        if let Repr::Inline {
            offset,
            errno,
            kind,
            op,
        } = self.0
        {
            self.0 = Repr::Boxed(Box::new(Cold {
                kind,
                op: INLINE_OPS[op as usize],
                location: if offset == NO_OFFSET {
                    Location::None
                } else {
                    Location::Offset(offset)
                },
                errno: (errno != 0).then_some(errno),
                detail: None,
            }));
        }
        match &mut self.0 {
            Repr::Boxed(c) => c,
            Repr::Inline { .. } => unreachable!("moved to the boxed form above"),
        }
    }

    /// Adds the sentence that names the wrong value and what was required.
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Error {
        self.cold().detail = Some(detail.into());
        self
    }

    /// Adds the file offset the error applies to.
    pub fn at_offset(mut self, at: u64) -> Error {
        match &mut self.0 {
            Repr::Inline { offset, .. } if at != NO_OFFSET => *offset = at,
            _ => self.cold().location = Location::Offset(at),
        }
        self
    }

    /// Adds the path the error applies to.
    pub fn at_path(mut self, path: &Path) -> Error {
        self.cold().location = Location::Path(path.into());
        self
    }

    /// Adds an errno to an error of another kind (say, `OutOfRange` that the kernel reported as `ENOSPC`).
    pub fn with_errno(mut self, e: i32) -> Error {
        match &mut self.0 {
            Repr::Inline { errno, .. } if e != 0 => *errno = e,
            _ => self.cold().errno = Some(e),
        }
        self
    }

    /// The category of the error.
    pub fn kind(&self) -> ErrorKind {
        match &self.0 {
            Repr::Inline { kind, .. } => *kind,
            Repr::Boxed(c) => c.kind,
        }
    }

    /// The operation that failed.
    pub fn op(&self) -> &'static str {
        match &self.0 {
            Repr::Inline { op, .. } => INLINE_OPS[*op as usize],
            Repr::Boxed(c) => c.op,
        }
    }

    /// The OS error number, when the kernel reported the error.
    pub fn raw_os_error(&self) -> Option<i32> {
        match &self.0 {
            Repr::Inline { errno, .. } => (*errno != 0).then_some(*errno),
            Repr::Boxed(c) => c.errno,
        }
    }

    /// The file offset the error applies to, when there is one.
    pub fn offset(&self) -> Option<u64> {
        match &self.0 {
            Repr::Inline { offset, .. } => (*offset != NO_OFFSET).then_some(*offset),
            Repr::Boxed(c) => match c.location {
                Location::Offset(o) => Some(o),
                _ => None,
            },
        }
    }

    /// The path the error applies to, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match &self.0 {
            Repr::Boxed(c) => match &c.location {
                Location::Path(p) => Some(p),
                _ => None,
            },
            Repr::Inline { .. } => None,
        }
    }

    /// The sentence naming the wrong value and what was required, when there is one.
    pub fn detail(&self) -> Option<&str> {
        match &self.0 {
            Repr::Boxed(c) => c.detail.as_deref(),
            Repr::Inline { .. } => None,
        }
    }

    /// The `diorite::Error` inside an `io::Error` made from one (by `?` or `into()`).
    pub fn from_io_ref(e: &io::Error) -> Option<&Error> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
    }
}

/// The OS error for `errno`, as a `'static` value [`Error::source`] can return: one table per
/// process, built on first use (an `io::Error` for an errno holds no allocation itself).
fn os_source(errno: i32) -> Option<&'static io::Error> {
    const MAX_ERRNO: i32 = 4096;
    static TABLE: OnceLock<Vec<io::Error>> = OnceLock::new();
    if !(1..MAX_ERRNO).contains(&errno) {
        return None;
    }
    let table = TABLE.get_or_init(|| (0..MAX_ERRNO).map(io::Error::from_raw_os_error).collect());
    table.get(errno as usize)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.op())?;
        match self.detail() {
            Some(d) => f.write_str(d)?,
            None => f.write_str(self.kind().describe())?,
        }
        if let Some(o) = self.offset() {
            write!(f, " (at offset {o})")?;
        }
        if let Some(p) = self.path() {
            write!(f, " ({})", p.display())?;
        }
        if let Some(errno) = self.raw_os_error() {
            write!(f, ": {}", io::Error::from_raw_os_error(errno))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind())
            .field("op", &self.op())
            .field("offset", &self.offset())
            .field("path", &self.path())
            .field("errno", &self.raw_os_error())
            .field("detail", &self.detail())
            .finish()?;
        write!(f, " /* {self} */")
    }
}

impl std::error::Error for Error {
    /// The OS error when the kernel reported one.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.raw_os_error()
            .and_then(os_source)
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<Error> for io::Error {
    /// Wraps the error whole: the operation, offset and path stay in the message, the errno
    /// decides `kind()` and stays reachable through `source()` and [`Error::from_io_ref`].
    fn from(e: Error) -> io::Error {
        let kind = match e.kind() {
            ErrorKind::InvalidInput | ErrorKind::Misaligned => io::ErrorKind::InvalidInput,
            ErrorKind::OutOfRange => io::ErrorKind::InvalidInput,
            ErrorKind::Canceled => io::ErrorKind::Interrupted,
            ErrorKind::QueueFull => io::ErrorKind::WouldBlock,
            ErrorKind::Shutdown => io::ErrorKind::BrokenPipe,
            ErrorKind::Unsupported => io::ErrorKind::Unsupported,
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            ErrorKind::InProgress => io::ErrorKind::ResourceBusy,
            ErrorKind::TimedOut => io::ErrorKind::TimedOut,
            ErrorKind::Forked => io::ErrorKind::Unsupported,
            ErrorKind::Os => match e.raw_os_error() {
                Some(errno) => io::Error::from_raw_os_error(errno).kind(),
                None => io::ErrorKind::Other,
            },
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_op_detail_location_and_errno() {
        let e = Error::new(ErrorKind::Misaligned, "submit")
            .with_detail("buffer address 0x1001 is not aligned to 512 bytes")
            .at_offset(4096)
            .with_errno(libc::EINVAL);
        let s = e.to_string();
        assert!(
            s.starts_with(
                "submit: buffer address 0x1001 is not aligned to 512 bytes (at offset 4096)"
            ),
            "{s}"
        );
        assert!(s.contains("Invalid argument"), "{s}");
        assert_eq!(e.kind(), ErrorKind::Misaligned);
        assert_eq!(e.offset(), Some(4096));
    }

    #[test]
    fn eopnotsupp_is_unsupported_and_keeps_its_errno() {
        let e = Error::os("discard", libc::EOPNOTSUPP);
        assert_eq!(
            (e.kind(), e.raw_os_error()),
            (ErrorKind::Unsupported, Some(libc::EOPNOTSUPP))
        );
        assert_eq!(Error::os("read", libc::EIO).kind(), ErrorKind::Os);
    }

    #[test]
    fn converts_to_io_error_keeping_context_and_errno() {
        let e = Error::os("read", libc::EIO).at_offset(4096);
        let io: io::Error = e.into();
        // The message keeps the operation and offset.
        assert_eq!(
            io.to_string(),
            "read: os error (at offset 4096): Input/output error (os error 5)"
        );
        assert_eq!(io.kind(), io::Error::from_raw_os_error(libc::EIO).kind());
        // The errno is reachable through the source chain and by downcasting.
        let src = std::error::Error::source(&io).expect("source");
        let os = src.downcast_ref::<io::Error>().expect("an io::Error");
        assert_eq!(os.raw_os_error(), Some(libc::EIO));
        let back = Error::from_io_ref(&io).expect("the diorite error inside");
        assert_eq!(
            (back.op(), back.offset(), back.raw_os_error()),
            ("read", Some(4096), Some(libc::EIO))
        );
        let io: io::Error = Error::os("write", libc::ENOSPC).into();
        assert_eq!(io.kind(), io::ErrorKind::StorageFull);
        let io: io::Error = Error::new(ErrorKind::QueueFull, "submit").into();
        assert_eq!(io.kind(), io::ErrorKind::WouldBlock);
        assert!(std::error::Error::source(&Error::new(ErrorKind::Canceled, "read")).is_none());
    }

    #[test]
    fn result_travels_in_two_registers() {
        assert_eq!(std::mem::size_of::<Error>(), 16);
        assert_eq!(std::mem::size_of::<Result<usize>>(), 16);
        assert_eq!(std::mem::size_of::<Result<()>>(), 16);
        // The I/O path's errors are inline; a sentence or a path moves to the box and back out.
        let e = Error::os("read", libc::EIO).at_offset(512);
        assert!(matches!(e.0, Repr::Inline { .. }));
        let e = e.with_detail("why");
        assert_eq!(
            (e.op(), e.offset(), e.raw_os_error(), e.detail()),
            ("read", Some(512), Some(libc::EIO), Some("why"))
        );
        let e = Error::new(ErrorKind::InvalidInput, "Custom::op").at_offset(u64::MAX);
        assert_eq!((e.op(), e.offset()), ("Custom::op", Some(u64::MAX)));
    }
}
