//! [`DirectFile`]: a file or block device opened with `O_DIRECT`, and its [`Geometry`].
//!
//! The geometry is learned, never assumed: `statx(STATX_DIOALIGN)` first; for block
//! devices `BLKSSZGET` and sysfs `queue/` (`logical_block_size`, `dma_alignment`,
//! `max_sectors_kb`); for files without `STATX_DIOALIGN`, the holding device's sysfs queue; the page
//! size last. The device size comes from `BLKGETSIZE64`.

use crate::error::{Error, ErrorKind, Result};
use crate::sys;
use std::fmt;
use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The kernel's per-call transfer limit (`MAX_RW_COUNT = INT_MAX & PAGE_MASK`), used as
/// `max_transfer` when no device limit is known.
const MAX_RW_COUNT: u32 = i32::MAX as u32 & !4095;

/// Where the alignment requirements came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GeometrySource {
    /// `statx(2)` with `STATX_DIOALIGN`.
    Statx,
    /// `BLKSSZGET` and the device's sysfs `queue/` directory.
    BlockDevice,
    /// The sysfs queue of the device holding the file.
    HoldingDevice,
    /// The page size (no better information).
    PageSize,
    /// The file is not open with `O_DIRECT`; buffered I/O needs no alignment.
    Buffered,
}

/// Whether the device's advertised memory alignment was checked, and what came of it.
///
/// Some drivers advertise an alignment they do not honour: zram on Linux 6.x reports a 512-byte
/// `dma_alignment`, yet an O_DIRECT read into a buffer that is 512- but not page-aligned
/// rewrites whole pages around it. At open, a file whose advertised `mem_align` is below the page
/// size gets one guarded probe read: one block read at `mem_align` past a page boundary, inside
/// guard pages filled with a pattern. If the guards change (or the kernel refuses the read),
/// `mem_align` is raised to the page size. A regular file too short for the probe (a new,
/// empty file) is answered for by a scratch file (`O_TMPFILE`) in its directory, on the same
/// filesystem and device, so a new file gets the same verdict as one with data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlignCheck {
    /// No check needed: the alignment is already the page size or more, or the file is buffered.
    NotNeeded,
    /// The probe read honoured the advertised alignment.
    Verified,
    /// The probe read wrote outside its buffer (or was refused) at the advertised alignment
    /// `advertised`: `mem_align` was raised to the page size.
    Raised {
        /// What the device advertised.
        advertised: u32,
    },
    /// The alignment could not be checked (the file is shorter than one probe read and no
    /// scratch file could be made in its directory, or it cannot be read): `mem_align` was
    /// raised to the page size to be safe; `advertised` is what the device claimed.
    Unverified {
        /// What the device advertised.
        advertised: u32,
    },
}

impl std::fmt::Display for AlignCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AlignCheck::NotNeeded => f.write_str("no check needed (page size or more)"),
            AlignCheck::Verified => f.write_str("verified by a guarded probe read"),
            AlignCheck::Raised { advertised } => write!(
                f,
                "raised to the page size: the device advertises {advertised}, but a probe read at that alignment wrote outside its buffer"
            ),
            AlignCheck::Unverified { advertised } => write!(
                f,
                "raised to the page size: the device advertises {advertised}, which could not be verified (file too short or not readable)"
            ),
        }
    }
}

/// What direct I/O on a file requires and allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Geometry {
    /// The logical block size of the device (1 for buffered files).
    pub logical_block_size: u32,
    /// Required alignment of buffer addresses, in bytes: the minimum that validation enforces,
    /// after [`Geometry::align_check`].
    pub mem_align: u32,
    /// Required alignment of file offsets and segment lengths, in bytes (of writes, and of
    /// every request but reads).
    pub offset_align: u32,
    /// Required alignment of the file offsets and segment lengths of reads: `offset_align`,
    /// unless the kernel reports a smaller one for reads (`STATX_DIO_READ_ALIGN`, Linux 6.14;
    /// XFS with reflink: sectors for reads, filesystem blocks for writes). Divides
    /// `offset_align`.
    pub read_offset_align: u32,
    /// The largest transfer issued as one I/O; larger requests are split.
    pub max_transfer: u32,
    /// Whether the file is a block device.
    pub is_block_device: bool,
    /// Where the alignments came from.
    pub source: GeometrySource,
    /// Whether `mem_align` was verified, and what came of it.
    pub align_check: AlignCheck,
    /// Whether the device has poll queues (sysfs `queue/io_poll` is 1), so that completions can
    /// be polled for ([`ContextBuilder::iopoll`](crate::ContextBuilder::iopoll)).
    pub polled: bool,
    /// Block devices: the discard granularity in bytes (sysfs `queue/discard_granularity`;
    /// the device may ignore smaller or unaligned parts of a discard). 0 for regular files.
    pub discard_granularity: u32,
    /// Block devices: the largest single discard in bytes (sysfs `queue/discard_max_bytes`;
    /// 0: the device takes no discards, and [`Request::discard`](crate::Request::discard) is
    /// refused). 0 for regular files, where the filesystem decides (`fallocate`).
    pub discard_max_bytes: u64,
    /// Block devices: the largest single write-zeroes the device performs itself in bytes
    /// (sysfs `queue/write_zeroes_max_bytes`; 0: the kernel writes zeroes instead, and an
    /// [`unmap`](crate::Request::unmap) write-zeroes is refused). 0 for regular files.
    pub write_zeroes_max_bytes: u64,
    /// Torn-write-free writes ([`Request::atomic`](crate::Request::atomic)), when the file or
    /// device offers them with `O_DIRECT`: from `statx(STATX_WRITE_ATOMIC)`, or for a block
    /// device sysfs `queue/atomic_write_unit_{min,max}_bytes` (`None`: no atomic writes).
    pub atomic_write: Option<AtomicWrite>,
}

/// The limits of atomic writes on a file or device (see [`Geometry::atomic_write`]): a write
/// is atomic when its length is a power of two in `unit_min..=unit_max`, its offset a multiple
/// of its length, and it has at most `segments_max` buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtomicWrite {
    /// The smallest atomic write, in bytes.
    pub unit_min: u32,
    /// The largest atomic write, in bytes (at most the largest transfer).
    pub unit_max: u32,
    /// The most buffers (iovecs) one atomic write may have.
    pub segments_max: u32,
}

impl Geometry {
    /// The offset and length alignment of a read (`read_offset_align`) or of any other request
    /// (`offset_align`).
    pub fn offset_align_for(&self, read: bool) -> u32 {
        if read {
            self.read_offset_align
        } else {
            self.offset_align
        }
    }

    /// The alignment buffers are allocated with by default: `max(mem_align, page size)`
    /// (QEMU's "optimal memory alignment"), so a block-sized buffer never straddles two pages.
    pub fn buf_align(&self) -> u32 {
        self.mem_align.max(sys::page_size() as u32)
    }
}

pub(crate) struct FileInner {
    fd: OwnedFd,
    path: PathBuf,
    geometry: Geometry,
    direct: bool,
    /// `O_SYNC`/`O_DSYNC`, as opened.
    sync: WriteSync,
    writable: bool,
    readable: bool,
    /// `RWF_*` flags every read and write through the handle carries (`RWF_DONTCACHE`).
    rw_flags: i32,
    /// Device size (block devices, fixed), or the size of a regular file under the
    /// ordered-size protocol (`size.rs`).
    size: crate::direct::size::OrderedSize,
    /// Held by a bounced write from its edge-block reads to its write (`bounce.rs`), so two
    /// unaligned writes into one block never lose each other's bytes. One lock per file
    /// (device and inode) in the process, shared by every handle to it ([`bounce_lock_for`]).
    bounce: Arc<crate::sync::Mutex<()>>,
}

/// What names a file for the bounce lock: a block device by its device number (every node and
/// link to it), anything else by the device holding it and its inode.
type FileKey = (bool, (u32, u32), u64);

/// The bounce lock of the file `key`: the one every live handle to it in this process shares,
/// or a new one. The registry holds weak references; entries of files with no handle left are
/// dropped as new ones are added (at open, never on the I/O path).
fn bounce_lock_for(key: FileKey) -> Result<Arc<crate::sync::Mutex<()>>> {
    use std::collections::HashMap;
    use std::sync::Weak;
    type Registry = Mutex<HashMap<FileKey, Weak<crate::sync::Mutex<()>>>>;
    static LOCKS: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    let mut map = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(l) = map.get(&key).and_then(Weak::upgrade) {
        return Ok(l);
    }
    map.retain(|_, w| w.strong_count() > 0);
    map.try_reserve(1)
        .map_err(|_| Error::os("DirectFile::open", libc::ENOMEM))?;
    let l = Arc::new(crate::sync::Mutex::new(()));
    map.insert(key, Arc::downgrade(&l));
    Ok(l)
}

/// A file or block device opened for direct I/O. Cloning is cheap (an `Arc`); in-flight requests
/// hold a clone, so the descriptor stays open until the kernel is done with it.
#[derive(Clone)]
pub struct DirectFile {
    pub(crate) inner: Arc<FileInner>,
}

/// Options for opening a [`DirectFile`], like `std::fs::OpenOptions`.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    create: bool,
    truncate: bool,
    require_direct: bool,
    direct: bool,
    max_transfer: Option<u32>,
    sync: WriteSync,
    dontcache: bool,
}

/// How a write is made durable by the file's own flags (`open(2)`'s `O_SYNC`/`O_DSYNC`):
/// each completed write is then on stable storage as if followed by `fsync`/`fdatasync`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WriteSync {
    /// A write completes once the device has it; durability needs a flush (the default).
    #[default]
    None,
    /// `O_DSYNC`: a write completes once its data (and the metadata needed to read it back)
    /// is durable.
    Data,
    /// `O_SYNC`: a write completes once its data and all the file's metadata are durable.
    Full,
}

impl OpenOptions {
    /// Read-only, existing file, `O_DIRECT` required.
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: true,
            write: false,
            create: false,
            truncate: false,
            require_direct: true,
            direct: true,
            max_transfer: None,
            sync: WriteSync::None,
            dontcache: false,
        }
    }

    /// Opens with `O_DSYNC` or `O_SYNC` ([`WriteSync`]); the default is neither.
    pub fn sync(&mut self, v: WriteSync) -> &mut OpenOptions {
        self.sync = v;
        self
    }

    /// Open for reading.
    pub fn read(&mut self, v: bool) -> &mut OpenOptions {
        self.read = v;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, v: bool) -> &mut OpenOptions {
        self.write = v;
        self
    }

    /// Create the file if it does not exist (needs `write`).
    pub fn create(&mut self, v: bool) -> &mut OpenOptions {
        self.create = v;
        self
    }

    /// Truncate a regular file to 0 on open (needs `write`).
    pub fn truncate(&mut self, v: bool) -> &mut OpenOptions {
        self.truncate = v;
        self
    }

    /// Whether `O_DIRECT` is required (the default). When `false` and the filesystem refuses
    /// `O_DIRECT`, the file is opened buffered and [`DirectFile::is_direct`] says so.
    pub fn require_direct(&mut self, v: bool) -> &mut OpenOptions {
        self.require_direct = v;
        self
    }

    /// Whether to open with `O_DIRECT` at all (default `true`). `false` opens the file buffered,
    /// through the page cache, on purpose: no alignment applies ([`GeometrySource::Buffered`])
    /// and [`DirectFile::is_direct`] says so. Linux AIO refuses buffered files (its submit would
    /// block); io_uring and the thread pool take them.
    pub fn direct(&mut self, v: bool) -> &mut OpenOptions {
        self.direct = v;
        self
    }

    /// Uncached buffered I/O (`RWF_DONTCACHE`, Linux 6.14): every read and write through the
    /// handle goes through the page cache, but its pages leave the cache once the I/O is done
    /// (a write is written back at once) — buffered I/O that does not fill the cache. Needs
    /// [`OpenOptions::direct`]`(false)` (a direct handle bypasses the cache already). Checked
    /// at open with one 1-byte `preadv2` carrying the flag (through a read-only descriptor of
    /// the same path when the handle is write-only): a kernel or filesystem that does not take
    /// it gets [`ErrorKind::Unsupported`] then, not an error per I/O later.
    pub fn dontcache(&mut self, v: bool) -> &mut OpenOptions {
        self.dontcache = v;
        self
    }

    /// Caps the largest single transfer below what the device allows; larger requests are split.
    /// Must be a non-zero multiple of the file's offset alignment (checked at open).
    pub fn max_transfer(&mut self, bytes: u32) -> &mut OpenOptions {
        self.max_transfer = Some(bytes);
        self
    }

    /// Opens `path`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for contradictory options or a bad `max_transfer`;
    /// [`ErrorKind::Unsupported`] when `O_DIRECT` is required and refused, or the path is neither
    /// a regular file nor a block device; [`ErrorKind::Os`] for what `open(2)` and `statx(2)` report.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<DirectFile> {
        let path = path.as_ref();
        const OP: &str = "DirectFile::open";
        if !self.read && !self.write {
            return Err(Error::new(ErrorKind::InvalidInput, OP)
                .with_detail("neither read nor write requested")
                .at_path(path));
        }
        if (self.create || self.truncate) && !self.write {
            return Err(Error::new(ErrorKind::InvalidInput, OP)
                .with_detail("create/truncate need write access")
                .at_path(path));
        }
        if self.dontcache && self.direct {
            return Err(Error::new(ErrorKind::InvalidInput, OP)
                .with_detail("dontcache is for buffered handles: open with direct(false)")
                .at_path(path));
        }
        let mut flags = match (self.read, self.write) {
            (true, true) => libc::O_RDWR,
            (false, true) => libc::O_WRONLY,
            _ => libc::O_RDONLY,
        };
        if self.create {
            flags |= libc::O_CREAT;
        }
        if self.truncate {
            flags |= libc::O_TRUNC;
        }
        flags |= match self.sync {
            WriteSync::None => 0,
            WriteSync::Data => libc::O_DSYNC,
            WriteSync::Full => libc::O_SYNC,
        };
        let attempt = if self.direct {
            sys::open(path, flags | libc::O_DIRECT)
        } else {
            // Buffered on purpose: skip the O_DIRECT attempt.
            Err(0)
        };
        let (fd, direct) = match attempt {
            Err(0) => (
                sys::open(path, flags).map_err(|e| Error::os(OP, e).at_path(path))?,
                false,
            ),
            Ok(fd) => (fd, true),
            Err(libc::EINVAL) if !self.require_direct => (
                sys::open(path, flags).map_err(|e| Error::os(OP, e).at_path(path))?,
                false,
            ),
            Err(libc::EINVAL) => {
                return Err(Error::new(ErrorKind::Unsupported, OP)
                    .with_detail("the filesystem refuses O_DIRECT")
                    .with_errno(libc::EINVAL)
                    .at_path(path))
            }
            Err(e) => return Err(Error::os(OP, e).at_path(path)),
        };
        let st = sys::statx(fd.as_fd()).map_err(|e| Error::os(OP, e).at_path(path))?;
        if !st.is_block_device && !st.is_regular {
            return Err(Error::new(ErrorKind::Unsupported, OP)
                .with_detail("not a regular file or block device")
                .at_path(path));
        }
        let mut geometry = probe_geometry(fd.as_fd(), &st, direct).map_err(|e| e.at_path(path))?;
        let size = if st.is_block_device {
            sys::blk_size(fd.as_fd()).map_err(|e| Error::os(OP, e).at_path(path))?
        } else {
            st.size
        };
        if direct {
            check_mem_align(&mut geometry, path, fd.as_fd(), self.read, size);
        }
        if self.dontcache {
            check_dontcache(fd.as_fd(), path, self.read)?;
        }
        if let Some(cap) = self.max_transfer {
            if cap == 0 || cap % geometry.offset_align != 0 {
                return Err(Error::new(ErrorKind::InvalidInput, OP)
                    .with_detail(format!(
                        "max_transfer {cap} is not a non-zero multiple of the offset alignment {}",
                        geometry.offset_align
                    ))
                    .at_path(path));
            }
            geometry.max_transfer = geometry.max_transfer.min(cap);
        }
        Ok(DirectFile {
            inner: Arc::new(FileInner {
                fd,
                path: path.to_owned(),
                geometry,
                direct,
                sync: self.sync,
                writable: self.write,
                readable: self.read,
                rw_flags: if self.dontcache {
                    sys::RWF_DONTCACHE
                } else {
                    0
                },
                size: crate::direct::size::OrderedSize::new(size),
                bounce: bounce_lock_for((
                    st.is_block_device,
                    st.dev,
                    if st.is_block_device { 0 } else { st.ino },
                ))
                .map_err(|e| e.at_path(path))?,
            }),
        })
    }
}

/// Whether the kernel and the filesystem take `RWF_DONTCACHE` on this file: a 1-byte
/// `preadv2` with the flag (at offset 0; at the end of the file it reads nothing, after the
/// flag is checked). Through a read-only descriptor of `path` when `fd` cannot read.
fn check_dontcache(fd: BorrowedFd<'_>, path: &Path, readable: bool) -> Result<()> {
    const OP: &str = "DirectFile::open";
    let own;
    let fd = if readable {
        fd
    } else {
        own = sys::open(path, libc::O_RDONLY).map_err(|e| Error::os(OP, e).at_path(path))?;
        own.as_fd()
    };
    let mut byte = [0u8; 1];
    let iov = [sys::IoVec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    }];
    // SAFETY: the vector is `byte`, writable and live for the call.
    match unsafe { sys::prw(fd, false, &iov, 0, sys::RWF_DONTCACHE) } {
        Ok(_) => Ok(()),
        Err(e @ (libc::EOPNOTSUPP | libc::EINVAL)) => Err(Error::new(ErrorKind::Unsupported, OP)
            .with_detail(if e == libc::EINVAL {
                "this kernel does not know RWF_DONTCACHE (uncached buffered I/O, Linux 6.14)"
            } else {
                "this filesystem or device does not take RWF_DONTCACHE (uncached buffered I/O)"
            })
            .with_errno(e)
            .at_path(path)),
        Err(e) => Err(Error::os(OP, e).at_path(path)),
    }
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

fn sysfs_queue(dev: (u32, u32)) -> Option<PathBuf> {
    let base = PathBuf::from(format!("/sys/dev/block/{}:{}", dev.0, dev.1));
    let own = base.join("queue");
    if own.is_dir() {
        return Some(own);
    }
    // A partition: the queue belongs to the parent disk.
    let parent = base.join("..").join("queue");
    parent.is_dir().then_some(parent)
}

/// A number from the sysfs queue directory.
fn sysfs_num<T: std::str::FromStr>(queue: &Path, name: &str) -> Option<T> {
    fs::read_to_string(queue.join(name))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn sysfs_u64(queue: &Path, name: &str) -> Option<u64> {
    sysfs_num(queue, name)
}

fn sysfs_u32(queue: &Path, name: &str) -> Option<u32> {
    sysfs_num(queue, name)
}

fn probe_geometry(fd: BorrowedFd<'_>, st: &sys::Stat, direct: bool) -> Result<Geometry> {
    const OP: &str = "DirectFile::open";
    let queue = sysfs_queue(st.dev);
    let polled = queue.as_deref().and_then(|q| sysfs_u32(q, "io_poll")) == Some(1);
    // Discard limits: the device's own queue (a file's holding device does not decide them).
    let (discard_granularity, discard_max_bytes, write_zeroes_max_bytes) = match &queue {
        Some(q) if st.is_block_device => (
            sysfs_u32(q, "discard_granularity").unwrap_or(0),
            sysfs_u64(q, "discard_max_bytes").unwrap_or(0),
            sysfs_u64(q, "write_zeroes_max_bytes").unwrap_or(0),
        ),
        _ => (0, 0, 0),
    };
    let max_transfer = queue
        .as_deref()
        .and_then(|q| sysfs_u32(q, "max_sectors_kb"))
        .and_then(|kb| kb.checked_mul(1024))
        .unwrap_or(MAX_RW_COUNT)
        .min(MAX_RW_COUNT);
    if !direct {
        return Ok(Geometry {
            logical_block_size: 1,
            mem_align: 1,
            offset_align: 1,
            read_offset_align: 1,
            max_transfer: MAX_RW_COUNT,
            is_block_device: st.is_block_device,
            source: GeometrySource::Buffered,
            align_check: AlignCheck::NotNeeded,
            polled,
            discard_granularity,
            discard_max_bytes,
            write_zeroes_max_bytes,
            // RWF_ATOMIC needs O_DIRECT.
            atomic_write: None,
        });
    }
    let lbs = if st.is_block_device {
        Some(sys::blk_logical_block_size(fd).map_err(|e| Error::os(OP, e))?)
    } else {
        queue
            .as_deref()
            .and_then(|q| sysfs_u32(q, "logical_block_size"))
    };
    let (mem_align, offset_align, source) = match st.dio_align {
        Some((0, _)) | Some((_, 0)) => {
            return Err(Error::new(ErrorKind::Unsupported, OP)
                .with_detail("statx reports that direct I/O is not supported on this file"))
        }
        Some((m, o)) => (m, o, GeometrySource::Statx),
        None => match lbs {
            Some(lbs) => {
                // dma_alignment is a mask (alignment - 1); older kernels lack it: use the block size.
                let mem = queue
                    .as_deref()
                    .and_then(|q| sysfs_u32(q, "dma_alignment"))
                    .map_or(lbs, |m| m + 1);
                let src = if st.is_block_device {
                    GeometrySource::BlockDevice
                } else {
                    GeometrySource::HoldingDevice
                };
                (mem, lbs, src)
            }
            None => {
                let p = sys::page_size() as u32;
                (p, p, GeometrySource::PageSize)
            }
        },
    };
    let logical_block_size = lbs.unwrap_or(offset_align);
    // A transfer limit that is not a multiple of the offset alignment would split a request into
    // misaligned pieces.
    let max_transfer = (max_transfer / offset_align * offset_align).max(offset_align);
    // Atomic writes: what statx says; for a block device whose statx has none, its queue's
    // sysfs limits. Never more than one transfer (an atomic write is never split).
    let atomic_write = st
        .atomic
        .or_else(|| {
            let q = queue.as_deref().filter(|_| st.is_block_device)?;
            let (min, max) = (
                sysfs_u32(q, "atomic_write_unit_min_bytes")?,
                sysfs_u32(q, "atomic_write_unit_max_bytes")?,
            );
            (min > 0 && max >= min).then_some((min, max, 1))
        })
        .map(|(unit_min, unit_max, segments_max)| AtomicWrite {
            unit_min,
            unit_max: unit_max.min(max_transfer),
            segments_max: segments_max.max(1),
        })
        .filter(|a| a.unit_max >= a.unit_min);
    // A read alignment is taken only when it divides the write alignment (as the kernel's
    // alignments, powers of two, do): a request aligned for writes is then aligned for reads.
    let read_offset_align = st
        .dio_read_align
        .filter(|r| *r <= offset_align && offset_align % r == 0)
        .unwrap_or(offset_align);
    Ok(Geometry {
        logical_block_size,
        mem_align,
        offset_align,
        read_offset_align,
        max_transfer,
        is_block_device: st.is_block_device,
        source,
        align_check: AlignCheck::NotNeeded,
        polled,
        discard_granularity,
        discard_max_bytes,
        write_zeroes_max_bytes,
        atomic_write,
    })
}

/// Verifies an advertised `mem_align` below the page size with one guarded probe read (see
/// [`AlignCheck`]), raising it to the page size when it does not hold or cannot be checked.
fn check_mem_align(g: &mut Geometry, path: &Path, fd: BorrowedFd<'_>, readable: bool, size: u64) {
    let page = sys::page_size();
    let advertised = g.mem_align;
    if advertised as usize >= page {
        return;
    }
    let len = page.max(g.offset_align as usize);
    let verdict = if size < len as u64 {
        // Too short to read a block of it (a new file): a scratch file in the same directory,
        // on the same filesystem and device, answers for it.
        if g.is_block_device {
            None
        } else {
            probe_scratch(path, advertised as usize, len, page)
        }
    } else if readable {
        probe_read(fd, advertised as usize, len, page)
    } else {
        sys::open(path, libc::O_RDONLY | libc::O_DIRECT)
            .ok()
            .and_then(|ro| probe_read(ro.as_fd(), advertised as usize, len, page))
    };
    g.align_check = match verdict {
        Some(true) => AlignCheck::Verified,
        Some(false) => AlignCheck::Raised { advertised },
        None => AlignCheck::Unverified { advertised },
    };
    if g.align_check != AlignCheck::Verified {
        g.mem_align = page as u32;
    }
}

/// [`probe_read`] on an unnamed temporary file (`O_TMPFILE | O_DIRECT`) in `path`'s directory,
/// after writing one probe's worth of data to it from page-aligned memory. `None` when the
/// directory takes no such file (no write permission, no `O_TMPFILE` support, no space).
fn probe_scratch(path: &Path, align: usize, len: usize, page: usize) -> Option<bool> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = sys::open(dir, libc::O_TMPFILE | libc::O_RDWR | libc::O_DIRECT).ok()?;
    let layout = std::alloc::Layout::from_size_align(len, page).ok()?;
    // SAFETY: the layout has a non-zero size (`len` is at least a page).
    let data = unsafe { std::alloc::alloc_zeroed(layout) };
    if data.is_null() {
        return None;
    }
    let iov = [sys::IoVec {
        iov_base: data.cast(),
        iov_len: len,
    }];
    // SAFETY: the vector covers `data`, alive and unaliased for the call (the kernel only
    // reads it).
    let wrote = unsafe { sys::prw(tmp.as_fd(), true, &iov, 0, 0) };
    // SAFETY: allocated above with `layout`; the write has returned, nothing refers to it.
    unsafe { std::alloc::dealloc(data, layout) };
    match wrote {
        Ok(n) if n == len => probe_read(tmp.as_fd(), align, len, page),
        _ => None,
    }
}

/// Reads `len` bytes at offset 0 into a buffer `align` bytes past a page boundary, inside guard
/// pages holding a pattern. `Some(true)`: the read succeeded and left the guards alone;
/// `Some(false)`: it changed them, or the kernel refused the alignment (`EINVAL`); `None`: the
/// probe could not run (no memory, or another read error).
fn probe_read(fd: BorrowedFd<'_>, align: usize, len: usize, page: usize) -> Option<bool> {
    const GUARD: u8 = 0xA5;
    // Guard page, the read (which may spill into whole pages on both sides), guard page.
    let total = page + align + len + 2 * page;
    let layout = std::alloc::Layout::from_size_align(total.next_multiple_of(page), page).ok()?;
    // SAFETY: the layout has a non-zero size.
    let base = unsafe { std::alloc::alloc(layout) };
    if base.is_null() {
        return None;
    }
    // SAFETY: `base` is valid for `layout.size()` bytes and exclusively ours until dealloc.
    let mem = unsafe { std::slice::from_raw_parts_mut(base, layout.size()) };
    mem.fill(GUARD);
    let start = page + align;
    let iov = [sys::IoVec {
        iov_base: mem[start..].as_mut_ptr().cast(),
        iov_len: len,
    }];
    // SAFETY: the vector lies inside `mem` (start + len < total), which outlives the call. Bytes
    // the kernel may write outside it stay inside our allocation (a page or more each side).
    let r = unsafe { sys::prw(fd, false, &iov, 0, 0) };
    let verdict = match r {
        Ok(_) => Some(
            mem[..start].iter().all(|b| *b == GUARD)
                && mem[start + len..].iter().all(|b| *b == GUARD),
        ),
        Err(libc::EINVAL) => Some(false),
        Err(_) => None,
    };
    // SAFETY: allocated above with `layout`; the read has returned, nothing refers to it.
    unsafe { std::alloc::dealloc(base, layout) };
    verdict
}

impl DirectFile {
    /// Opens `path` read-only with `O_DIRECT`.
    ///
    /// # Errors
    /// As [`OpenOptions::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<DirectFile> {
        OpenOptions::new().open(path)
    }

    /// Options for opening a file (read-only by default).
    ///
    /// # Examples
    /// ```no_run
    /// use diorite::DirectFile;
    /// let f = DirectFile::options().read(true).write(true).create(true).open("/var/tmp/data")?;
    /// println!("{:?}", f.geometry());
    /// # Ok::<(), diorite::Error>(())
    /// ```
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// The file's direct-I/O geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.inner.geometry
    }

    /// The device size for a block device; for a regular file, its size as of open, advanced by
    /// extending writes (writes that end past it) under the ordered-size rules:
    ///
    /// 1. **Only over written data.** The size advances to the furthest end of a completed
    ///    extending write, but never past the start of an extending write still in flight: a
    ///    reader that trusts `len()` never reads bytes not yet written.
    /// 2. **Never over a failed write's hole.** An extending write that fails, is canceled or
    ///    completes short moves the size at most to its written end (`offset + bytes`); and no
    ///    extending write that was in flight beside it (or completed while it was) carries the
    ///    size past that point — their data stays outside `len()` (conservative: it was
    ///    written, but below it lies a range nobody wrote). Extending writes submitted after the
    ///    failure completed move the size as usual: a write past the end that leaves a hole is
    ///    the caller's decision, as with `pwrite(2)`.
    /// 3. **A delivered completion is covered.** A context delivers an extending write's
    ///    completion (to `get_events` or its future) only once every extending write it issued
    ///    below that write's end has completed; so, when those succeeded, `len()` covers the
    ///    write by the time its completion is seen, on every backend. The kernel's own file
    ///    size may run ahead (XFS moves it at each completion); `len()` does not. Limits: the
    ///    wait covers the writes of the same context — a write of another context (or a
    ///    one-shot call) below it still holds the size back (rule 1) but not the delivery.
    ///
    /// The size is the handle's own: another handle to the same file, or another process,
    /// keeps its own count (reopen to read the kernel's size).
    pub fn len(&self) -> u64 {
        self.inner.size.get()
    }

    /// Whether [`DirectFile::len`] is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the file is open with `O_DIRECT` (see [`OpenOptions::require_direct`]).
    pub fn is_direct(&self) -> bool {
        self.inner.direct
    }

    /// Whether the handle does uncached buffered I/O ([`OpenOptions::dontcache`]).
    pub fn is_dontcache(&self) -> bool {
        self.inner.rw_flags & sys::RWF_DONTCACHE != 0
    }

    /// The `RWF_*` flags every read and write through the handle carries.
    pub(crate) fn rw_flags(&self) -> i32 {
        self.inner.rw_flags
    }

    /// Whether each write is durable at completion (`O_DSYNC`/`O_SYNC`), as opened.
    pub fn write_sync(&self) -> WriteSync {
        self.inner.sync
    }

    /// Whether the file was opened for writing.
    pub fn is_writable(&self) -> bool {
        self.inner.writable
    }

    /// Whether the file was opened for reading.
    pub fn is_readable(&self) -> bool {
        self.inner.readable
    }

    /// The path the file was opened with.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The lock bounced writes to this file hold (`bounce.rs`).
    pub(crate) fn bounce_lock(&self) -> &crate::sync::Mutex<()> {
        &self.inner.bounce
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }

    /// Registers an extending write `[offset, offset + len)` about to be submitted by `owner`
    /// (an engine's address; 0 for a one-shot call): `Ok(true)` when it reaches past the current
    /// size of a regular file (then [`DirectFile::end_extend`] must follow once it completes),
    /// `Ok(false)` when it does not extend. The protocol: `size.rs`.
    pub(crate) fn begin_extend(&self, offset: u64, len: u64, owner: usize) -> Result<bool> {
        if self.inner.geometry.is_block_device {
            return Ok(false);
        }
        self.inner.size.begin(offset, len, owner)
    }

    /// An extending write registered by [`DirectFile::begin_extend`] completed with `res`:
    /// whether its completion (slot `tag` of `owner`) is delivered now, or held
    /// ([`OrderedSize::end`](crate::direct::size::OrderedSize::end)).
    pub(crate) fn end_extend(
        &self,
        offset: u64,
        len: u64,
        res: i64,
        owner: usize,
        tag: u32,
    ) -> bool {
        self.inner.size.end(offset, len, res, owner, tag)
    }

    /// A held completion of `owner` now free to be delivered
    /// ([`OrderedSize::next_released`](crate::direct::size::OrderedSize::next_released)).
    pub(crate) fn next_released(&self, owner: usize) -> Option<(u32, i64)> {
        self.inner.size.next_released(owner)
    }

    /// An identity for this open file, stable while any handle to it lives (io_uring's fixed-file
    /// table is keyed by it).
    pub(crate) fn identity(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// Whether two handles refer to the same open file.
    pub fn same_file(&self, other: &DirectFile) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl AsFd for DirectFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }
}

impl fmt::Debug for DirectFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectFile")
            .field("path", &self.inner.path)
            .field("direct", &self.inner.direct)
            .field("len", &self.len())
            .field("geometry", &self.inner.geometry)
            .finish()
    }
}
