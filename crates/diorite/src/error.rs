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

/// The error type of every fallible diorite operation.
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    op: &'static str,
    location: Location,
    errno: Option<i32>,
    detail: Option<Cow<'static, str>>,
}

/// `std::result::Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A new error of `kind` raised by `op` (a short name such as `"submit"` or `"TagSet::new"`).
    pub fn new(kind: ErrorKind, op: &'static str) -> Error {
        Error {
            kind,
            op,
            location: Location::None,
            errno: None,
            detail: None,
        }
    }

    /// An error from the OS: `errno` as returned by a syscall (positive).
    pub fn os(op: &'static str, errno: i32) -> Error {
        Error {
            kind: ErrorKind::Os,
            op,
            location: Location::None,
            errno: Some(errno),
            detail: None,
        }
    }

    /// Converts a `std::io::Error` raised by `op`.
    pub fn from_io(op: &'static str, e: &io::Error) -> Error {
        match e.raw_os_error() {
            Some(errno) => Error::os(op, errno),
            None => Error::new(ErrorKind::Os, op).with_detail(e.to_string()),
        }
    }

    /// Adds the sentence that names the wrong value and what was required.
    pub fn with_detail(mut self, detail: impl Into<Cow<'static, str>>) -> Error {
        self.detail = Some(detail.into());
        self
    }

    /// Adds the file offset the error applies to.
    pub fn at_offset(mut self, offset: u64) -> Error {
        self.location = Location::Offset(offset);
        self
    }

    /// Adds the path the error applies to.
    pub fn at_path(mut self, path: &Path) -> Error {
        self.location = Location::Path(path.into());
        self
    }

    /// Adds an errno to an error of another kind (say, `OutOfRange` that the kernel reported as `ENOSPC`).
    pub fn with_errno(mut self, errno: i32) -> Error {
        self.errno = Some(errno);
        self
    }

    /// The category of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The operation that failed.
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// The OS error number, when the kernel reported the error.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.errno
    }

    /// The file offset the error applies to, when there is one.
    pub fn offset(&self) -> Option<u64> {
        match self.location {
            Location::Offset(o) => Some(o),
            _ => None,
        }
    }

    /// The path the error applies to, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match &self.location {
            Location::Path(p) => Some(p),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.op)?;
        match &self.detail {
            Some(d) => f.write_str(d)?,
            None => f.write_str(self.kind.describe())?,
        }
        match &self.location {
            Location::None => {}
            Location::Offset(o) => write!(f, " (at offset {o})")?,
            Location::Path(p) => write!(f, " ({})", p.display())?,
        }
        if let Some(errno) = self.errno {
            write!(f, ": {}", io::Error::from_raw_os_error(errno))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("op", &self.op)
            .field("location", &self.location)
            .field("errno", &self.errno)
            .field("detail", &self.detail)
            .finish()?;
        write!(f, " /* {self} */")
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.kind {
            ErrorKind::InvalidInput | ErrorKind::Misaligned => io::ErrorKind::InvalidInput,
            ErrorKind::OutOfRange => io::ErrorKind::InvalidInput,
            ErrorKind::Canceled => io::ErrorKind::Interrupted,
            ErrorKind::QueueFull => io::ErrorKind::WouldBlock,
            ErrorKind::Shutdown => io::ErrorKind::BrokenPipe,
            ErrorKind::Unsupported => io::ErrorKind::Unsupported,
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            ErrorKind::InProgress => io::ErrorKind::ResourceBusy,
            ErrorKind::TimedOut => io::ErrorKind::TimedOut,
            ErrorKind::Os => match e.errno {
                Some(errno) => return io::Error::from_raw_os_error(errno),
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
    fn converts_to_io_error_keeping_errno() {
        let io: io::Error = Error::os("read", libc::EIO).into();
        assert_eq!(io.raw_os_error(), Some(libc::EIO));
        let io: io::Error = Error::new(ErrorKind::QueueFull, "submit").into();
        assert_eq!(io.kind(), io::ErrorKind::WouldBlock);
    }
}
