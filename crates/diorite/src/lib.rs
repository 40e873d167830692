//! diorite: an asynchronous direct-I/O engine for Linux.
//!
//! diorite rebuilds in user space the kernel's async direct-I/O path: AIO-style [`Context`]s with
//! a lock-free completion [`ring`], sbitmap [`tags`] as request slots, the O_DIRECT fast path with
//! full alignment validation and honest partial results, per-context buffer caches ([`BufPool`]),
//! ordered extending writes, and cancellation — over io_uring, Linux native AIO or a thread pool,
//! probed, chosen and reported ([`backend`]), with the same semantics on each.
//!
//! # Examples
//! ```no_run
//! use diorite::{AlignedBuf, BackendChoice, Context, DirectFile, Request};
//! use std::time::Duration;
//!
//! let file = DirectFile::options().read(true).write(true).open("/dev/loop0")?;
//! let ctx = Context::builder().depth(64).backend(BackendChoice::Threads).threads(2).build()?;
//! let buf = AlignedBuf::for_file(&file, 4096)?;
//! ctx.submit(Request::write(&file, 0, buf).with_user_data(7)).map_err(|e| e.error)?;
//! let mut done = Vec::new();
//! ctx.get_events(1, 16, Some(Duration::from_secs(1)), &mut done)?;
//! let mut c = done.pop().unwrap();
//! let _buf = c.take_buf().unwrap(); // the buffer comes back with the completion
//! assert_eq!(c.result?, 4096);
//! # Ok::<(), diorite::Error>(())
//! ```
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

// The layers, bottom up (docs/ARCHITECTURE.md): synchronisation primitives and the kernel ABI,
// the O_DIRECT model, the engine's internals, the backends, completion delivery, the context,
// the futures.
pub mod backend;
pub mod context;
pub(crate) mod delivery;
pub(crate) mod direct;
pub(crate) mod engine;
pub mod error;
pub mod faults;
pub mod future;
pub(crate) mod primitives;
pub(crate) mod sync;
pub(crate) mod sys;

// The public module paths, as they were before the layers had folders.
pub use context::local;
pub use direct::{bounce, buf, file, request};
pub use primitives::{ring, tags};

pub use backend::{BackendChoice, BackendKind, BackendStatus, Registration};
pub use bounce::Alignment;
pub use buf::{AlignedBuf, BufPool};
pub use context::{Context, ContextBuilder, SubmitError};
pub use delivery::reactor::{Reactor, SubmitBatching};
pub use direct::oneshot::{
    discard, fdatasync, fsync, read_at, readv_at, write_at, write_zeroes, writev_at,
};
pub use error::{Error, ErrorKind, Result};
pub use file::{
    AlignCheck, AtomicWrite, DirectFile, Geometry, GeometrySource, OpenOptions, WriteSync,
};
pub use future::{Completions, Io, Run};
pub use local::LocalContext;
pub use request::{Completion, IoClass, OpKind, Request, RequestId, MAX_PRIORITY_HINT};
