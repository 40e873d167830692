//! diorite: an asynchronous direct-I/O engine for Linux.
//!
//! diorite rebuilds in user space the kernel's async direct-I/O path: AIO-style contexts with a
//! lock-free completion [`ring`], sbitmap [`tags`] as request slots, the O_DIRECT fast path with full
//! alignment validation and honest partial results, per-context request and buffer caches, ordered
//! extending writes, and cancellation — over io_uring, Linux native AIO or a thread pool.
//!
//! See `ARCHITECTURE.md` in the design folder for how a request flows end to end.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod error;
pub mod ring;
pub(crate) mod sync;
pub mod tags;

pub use error::{Error, ErrorKind, Result};
