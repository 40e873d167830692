//! The null backend: every request completes at submit, in the submitting thread, with its full
//! length, and nothing touches a file, a buffer or the kernel — fio's `null` engine for this
//! engine. It measures what the engine itself costs per I/O (validation, tags, slots, the
//! completion ring, reaping) and lets users exercise their request/completion code without a
//! device. It never lies about a file: a write that would extend a regular file is refused
//! (nothing is written, so the file's size cannot grow).

use crate::direct::request::{OpKind, Request};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};

pub(crate) struct Null;

impl Null {
    pub(crate) fn report(&self) -> String {
        "null: requests complete at submit with their full length; no file or device is touched"
            .into()
    }

    pub(crate) fn validate(&self, req: &Request) -> Result<()> {
        match (&req.op, &req.file) {
            (OpKind::Write, Some(f))
                if !f.geometry().is_block_device
                    && req.offset.saturating_add(req.bufs.total_len()) > f.len() =>
            {
                Err(
                    Error::new(ErrorKind::Unsupported, "submit").with_detail(format!(
                    "the null backend writes nothing, so it cannot extend {} ({} bytes) with a \
                     write at {} of {} bytes",
                    f.path().display(),
                    f.len(),
                    req.offset,
                    req.bufs.total_len()
                )),
                )
            }
            _ => Ok(()),
        }
    }

    /// Completes slot `tag` at once.
    pub(crate) fn submit(&self, engine: &Engine, tag: u32) {
        // SAFETY: we were handed `tag`; the request is not used after its completion is posted.
        let Some(req) = (unsafe { engine.begin(tag) }) else {
            return;
        };
        let res = match req.op {
            OpKind::Read | OpKind::Write | OpKind::Discard | OpKind::WriteZeroes => {
                req.bufs.total_len() as i64
            }
            _ => 0,
        };
        engine.complete(tag, res);
    }
}
