//! The power-loss simulator's recorder: what a context on the faulty backend issued to the
//! device, in the order the device saw it.
//!
//! A [`Recorder`] given to [`ContextBuilder::record`](crate::ContextBuilder::record) sees
//! every request the context's workers perform. For each write, write-zeroes, discard and
//! flush it keeps one [`Op`]: its file, range and (for a write) a copy of its bytes taken
//! before the device got them, and two stamps from one event clock — when it was issued (the
//! worker started it) and when it completed. Before the first write to a block of a file is
//! issued, the block's previous content is read and kept, so a crash state can be rebuilt from
//! the file as it is afterwards. [`Recorder::acknowledge`] stamps what the code under test
//! promised its own callers at that moment. [`Recorder::finish`] (in `crash.rs`) turns all of it into a
//! [`CrashLog`](crate::faults::CrashLog), whose crash states `crash.rs` enumerates.

use crate::direct::file::WriteSync;
use crate::direct::request::{Bufs, OpKind, Request};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Records what a context issued, for crash states. Clones share one record.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use diorite::faults::Recorder;
/// let rec = Recorder::new();
/// let ctx = diorite::Context::builder().record(&rec).build()?;
/// assert_eq!(ctx.backend(), diorite::BackendKind::Faulty);
/// rec.acknowledge(1);
/// let log = rec.finish()?;
/// assert_eq!(log.ops().len(), 0);
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Recorder {
    log: Arc<Mutex<Log>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let log = self.lock();
        f.debug_struct("Recorder")
            .field("ops", &log.ops.len())
            .field("events", &log.clock)
            .finish()
    }
}

/// Everything recorded so far. Invariant: every stamp is below `clock`, and each stamp is
/// given once (the clock moves under this lock).
#[derive(Default)]
struct Log {
    clock: u64,
    files: Vec<Track>,
    ops: Vec<Op>,
    acks: Vec<(u64, u64)>,
    /// The first thing that went wrong while recording (reading a block's old content); the
    /// record is then incomplete and `finish` says so.
    broken: Option<String>,
}

/// A file the recorder saw written, identified as the bounce lock identifies it (block
/// device: its device number; otherwise device and inode).
pub(crate) struct Track {
    pub(crate) key: FileKey,
    pub(crate) path: PathBuf,
    /// The file's size when the recorder first saw a write to it.
    pub(crate) base_len: u64,
    /// Its direct-I/O block (`offset_align`): the unit of the old-content copy, and the
    /// smallest unit a write tears at.
    pub(crate) block: u64,
    pub(crate) block_device: bool,
    /// The content of every block some recorded write touched, as it was before the first
    /// of them was issued (past the end of the file: zeroes). Keyed by block number.
    pub(crate) original: BTreeMap<u64, Box<[u8]>>,
    /// A plain (not `O_DIRECT`) read-only descriptor of the file, for the old content.
    reader: Option<File>,
}

/// A record's files, ops, (event, key) acknowledgements and event count.
pub(crate) type Snapshot = (Vec<Track>, Vec<Op>, Vec<(u64, u64)>, u64);

/// (block device, device major:minor, inode or 0 for a block device).
pub(crate) type FileKey = (bool, (u32, u32), u64);

/// What an operation did to the bytes of its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpClass {
    /// A write of the recorded bytes.
    Write,
    /// Write-zeroes or discard: the range reads as zeroes (a discard is modelled as what a
    /// punched hole reads as).
    Zeroes,
    /// fsync or fdatasync.
    Flush,
}

/// One recorded operation.
#[derive(Clone, Debug)]
pub struct Op {
    /// Index into [`CrashLog::files`](crate::faults::CrashLog::files).
    pub file: usize,
    /// What it does.
    pub class: OpClass,
    /// First byte (0 for a flush).
    pub offset: u64,
    /// Bytes that may have reached the file from `offset` (the request's length, or less when
    /// it completed short or a fault rule tore it; 0 for a flush).
    pub len: u64,
    /// Issued with `RWF_ATOMIC`: never torn.
    pub atomic: bool,
    /// Durable once it completes (`RWF_DSYNC`, or a file opened `O_DSYNC`/`O_SYNC`).
    pub durable_at_completion: bool,
    /// The event at which a worker issued it.
    pub issued: u64,
    /// The event at which it completed, if it did.
    pub completed: Option<u64>,
    /// It completed without an error (for a flush: and was not dropped by a fault rule).
    pub ok: bool,
    /// A write's bytes, as they were when it was issued.
    pub(crate) data: Option<Arc<[u8]>>,
}

impl Op {
    /// A write's bytes as it issued them (`None` for the other classes).
    pub fn data(&self) -> Option<&[u8]> {
        self.data.as_deref().map(|d| &d[..self.len as usize])
    }
}

/// What performing a request did, as the faulty backend knows it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome {
    pub(crate) res: i64,
    /// Bytes from the request's start that may have reached the file (`u64::MAX`: unknown,
    /// any of them).
    pub(crate) landed: u64,
    /// A flush that really flushed (a `drop` rule makes one that did nothing).
    pub(crate) flushed: bool,
}

impl Recorder {
    /// An empty record.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stamps a promise the code under test made to its callers now (a record acknowledged,
    /// a transaction committed), under a key of the caller's choosing. A crash state lists the
    /// keys stamped before its crash ([`CrashState::acknowledged`](crate::faults::CrashState::acknowledged)):
    /// what recovery must find.
    pub fn acknowledge(&self, key: u64) {
        let mut log = self.lock();
        let at = log.tick();
        log.acks.push((at, key));
    }

    /// Events recorded so far (issues, completions and acknowledgements).
    pub fn events(&self) -> u64 {
        self.lock().clock
    }

    /// What was recorded so far, for [`Recorder::finish`] (in `crash.rs`): the files, the
    /// ops, the acknowledgements and the event count; or why the record is incomplete.
    pub(crate) fn snapshot(&self) -> std::result::Result<Snapshot, String> {
        let log = self.lock();
        if let Some(why) = &log.broken {
            return Err(why.clone());
        }
        let files = log
            .files
            .iter()
            .map(|t| Track {
                key: t.key,
                path: t.path.clone(),
                base_len: t.base_len,
                block: t.block,
                block_device: t.block_device,
                original: t.original.clone(),
                reader: None,
            })
            .collect();
        Ok((files, log.ops.clone(), log.acks.clone(), log.clock))
    }

    /// A worker is about to perform `req`: records it if it changes bytes or flushes, copying
    /// a write's bytes and the old content of the blocks it touches. Returns the op's index.
    pub(crate) fn issue(&self, req: &Request) -> Option<usize> {
        let class = match req.op {
            OpKind::Write => OpClass::Write,
            OpKind::Discard | OpKind::WriteZeroes => OpClass::Zeroes,
            OpKind::Fsync | OpKind::Fdatasync => OpClass::Flush,
            _ => return None,
        };
        let file = req.file.as_ref()?;
        let mut log = self.lock();
        let fi = log.track(file);
        let len = if class == OpClass::Flush {
            0
        } else {
            req.len()
        };
        if class != OpClass::Flush {
            log.keep_original(fi, req.offset, len);
        }
        let data = (class == OpClass::Write).then(|| copy_bytes(&req.bufs, len));
        let at = log.tick();
        log.ops.push(Op {
            file: fi,
            class,
            offset: if class == OpClass::Flush {
                0
            } else {
                req.offset
            },
            len,
            atomic: req.atomic,
            durable_at_completion: class == OpClass::Write
                && (req.dsync || file.write_sync() != WriteSync::None),
            issued: at,
            completed: None,
            ok: false,
            data,
        });
        Some(log.ops.len() - 1)
    }

    /// Op `id` completed as `out` says.
    pub(crate) fn complete(&self, id: usize, out: Outcome) {
        let mut log = self.lock();
        let at = log.tick();
        let op = &mut log.ops[id];
        op.completed = Some(at);
        op.ok = out.res >= 0 && (op.class != OpClass::Flush || out.flushed);
        op.len = op.len.min(out.landed);
        if op.class == OpClass::Write && out.res >= 0 {
            // A short write put its first `res` bytes at most.
            op.len = op.len.min(out.res as u64);
        }
    }
}

impl Log {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock - 1
    }

    /// The index of `file`'s track, made at its first sight.
    fn track(&mut self, file: &crate::DirectFile) -> usize {
        let st = crate::sys::statx(file.as_fd()).ok();
        let key: FileKey = st.map_or((false, (0, 0), file.identity() as u64), |s| {
            (
                s.is_block_device,
                s.dev,
                if s.is_block_device { 0 } else { s.ino },
            )
        });
        if let Some(i) = self.files.iter().position(|t| t.key == key) {
            return i;
        }
        // A second, buffered descriptor on the same open file: reads need no alignment.
        let reader = File::open(format!("/proc/self/fd/{}", file.as_fd().as_raw_fd()));
        if let Err(e) = &reader {
            self.broken.get_or_insert(format!(
                "{}: cannot open it to read old content: {e}",
                file.path().display()
            ));
        }
        self.files.push(Track {
            key,
            path: file.path().to_owned(),
            base_len: file.len(),
            block: u64::from(file.geometry().offset_align.max(1)),
            block_device: file.geometry().is_block_device,
            original: BTreeMap::new(),
            reader: reader.ok(),
        });
        self.files.len() - 1
    }

    /// Reads the old content of every block of `[offset, offset + len)` not read before.
    fn keep_original(&mut self, fi: usize, offset: u64, len: u64) {
        let t = &mut self.files[fi];
        let b = t.block;
        let (first, end) = (offset / b, offset.saturating_add(len).div_ceil(b));
        let mut failed = None;
        for n in first..end {
            if t.original.contains_key(&n) {
                continue;
            }
            let mut buf = vec![0u8; b as usize].into_boxed_slice();
            if let Some(r) = &t.reader {
                if let Err(e) = read_full(r, &mut buf, n * b) {
                    failed = Some(format!(
                        "{}: reading the old content of bytes {}..{}: {e}",
                        t.path.display(),
                        n * b,
                        (n + 1) * b
                    ));
                }
            }
            t.original.insert(n, buf);
        }
        if let Some(why) = failed {
            self.broken.get_or_insert(why);
        }
    }
}

/// Reads as much of `buf` as the file has at `at` (the rest stays zero: past its end).
fn read_full(f: &File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], at + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A copy of the first `len` bytes of a write's buffers.
fn copy_bytes(bufs: &Bufs, len: u64) -> Arc<[u8]> {
    let mut out = Vec::with_capacity(len as usize);
    bufs.for_each_segment(|addr, n| {
        // SAFETY: the segments are the request's memory, valid and not written by the engine
        // while the request is RUNNING for the worker that calls this (the raw-request caller
        // vouched for its memory until the completion is reaped).
        out.extend_from_slice(unsafe { std::slice::from_raw_parts(addr as *const u8, n) });
    });
    out.truncate(len as usize);
    out.into()
}
