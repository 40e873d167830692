//! Thin typed wrappers over the Linux syscalls the engine uses outside the kernel backends:
//! `open(2)`, `statx(2)`, block-device ioctls, `preadv2(2)` / `pwritev2(2)`, `fsync(2)`.
//!
//! Everything above this module works with typed values; errno handling lives here.

pub(crate) mod aio;
pub(crate) mod uring;

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// An `errno` value (positive).
pub(crate) type Errno = i32;

fn errno() -> Errno {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `open(2)` with `flags | O_CLOEXEC` and mode 0o644.
pub(crate) fn open(path: &Path, flags: i32) -> Result<OwnedFd, Errno> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
    loop {
        // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
        let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, 0o644 as libc::c_uint) };
        if fd >= 0 {
            // SAFETY: `open` returned a new descriptor that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        match errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// What `statx(2)` tells the engine about an open file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stat {
    pub(crate) is_block_device: bool,
    pub(crate) is_regular: bool,
    pub(crate) size: u64,
    /// `STATX_DIOALIGN`: (memory alignment, offset alignment), when the kernel reported them
    /// (zero means "direct I/O not supported on this file").
    pub(crate) dio_align: Option<(u32, u32)>,
    /// `STATX_DIO_READ_ALIGN` (Linux 6.14): the offset alignment of direct reads when the
    /// kernel reported one (it may be smaller than the write alignment: XFS with reflink asks
    /// filesystem blocks of writes and sectors of reads).
    pub(crate) dio_read_align: Option<u32>,
    /// For a block device, its own major:minor; otherwise the device holding the file.
    pub(crate) dev: (u32, u32),
    /// The inode number (of the device node, for a block device).
    pub(crate) ino: u64,
    /// `STATX_WRITE_ATOMIC` with `STATX_ATTR_WRITE_ATOMIC`: (unit min, unit max, segments max)
    /// of torn-write-free direct writes, when the file (or device) has them.
    pub(crate) atomic: Option<(u32, u32, u32)>,
}

/// `statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_DIOALIGN | STATX_WRITE_ATOMIC |
/// STATX_DIO_READ_ALIGN)` (a kernel without the last three leaves their mask bits clear).
pub(crate) fn statx(fd: BorrowedFd<'_>) -> Result<Stat, Errno> {
    // SAFETY: `statx` is plain old data; all-zero is a valid value.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open for the duration of the call; the path is an empty C string and `st`
    // is a valid out-pointer.
    let r = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_BASIC_STATS
                | libc::STATX_DIOALIGN
                | libc::STATX_WRITE_ATOMIC
                | libc::STATX_DIO_READ_ALIGN,
            &mut st,
        )
    };
    if r != 0 {
        return Err(errno());
    }
    let fmt = u32::from(st.stx_mode) & libc::S_IFMT;
    let is_block_device = fmt == libc::S_IFBLK;
    Ok(Stat {
        is_block_device,
        is_regular: fmt == libc::S_IFREG,
        size: st.stx_size,
        dio_align: (st.stx_mask & libc::STATX_DIOALIGN != 0)
            .then_some((st.stx_dio_mem_align, st.stx_dio_offset_align)),
        dio_read_align: (st.stx_mask & libc::STATX_DIO_READ_ALIGN != 0
            && st.stx_dio_read_offset_align > 0)
            .then_some(st.stx_dio_read_offset_align),
        dev: if is_block_device {
            (st.stx_rdev_major, st.stx_rdev_minor)
        } else {
            (st.stx_dev_major, st.stx_dev_minor)
        },
        ino: st.stx_ino,
        atomic: (st.stx_mask & libc::STATX_WRITE_ATOMIC != 0
            && st.stx_attributes & libc::STATX_ATTR_WRITE_ATOMIC as u64 != 0
            && st.stx_atomic_write_unit_min > 0)
            .then_some((
                st.stx_atomic_write_unit_min,
                st.stx_atomic_write_unit_max,
                st.stx_atomic_write_segments_max,
            )),
    })
}

/// `_IOR(0x12, 114, size_t)`: the kernel's `BLKGETSIZE64` (not exported by libc).
const BLKGETSIZE64: libc::c_ulong =
    (2 << 30) | ((std::mem::size_of::<usize>() as libc::c_ulong) << 16) | (0x12 << 8) | 114;

/// `ioctl(BLKGETSIZE64)`: a block device's size in bytes.
pub(crate) fn blk_size(fd: BorrowedFd<'_>) -> Result<u64, Errno> {
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which is valid for that.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), BLKGETSIZE64 as _, &mut size as *mut u64) };
    if r != 0 {
        return Err(errno());
    }
    Ok(size)
}

/// `_IO(0x12, 97)`: the kernel's `BLKFLSBUF` (flush and drop a block device's buffer cache).
const BLKFLSBUF: libc::c_ulong = (0x12 << 8) | 97;

/// `ioctl(BLKFLSBUF)`: writes back and drops a block device's page cache (needs
/// `CAP_SYS_ADMIN`).
pub(crate) fn blk_flush_buffers(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: BLKFLSBUF takes no argument and touches no memory of ours.
    if unsafe { libc::ioctl(fd.as_raw_fd(), BLKFLSBUF as _, 0) } != 0 {
        return Err(errno());
    }
    Ok(())
}

/// `posix_fadvise(POSIX_FADV_DONTNEED)` over `[offset, offset + len)` (`len` 0: to the end).
pub(crate) fn fadvise_dontneed(fd: BorrowedFd<'_>, offset: u64, len: u64) -> Result<(), Errno> {
    let off = libc::off_t::try_from(offset).map_err(|_| libc::EINVAL)?;
    let len = libc::off_t::try_from(len).map_err(|_| libc::EINVAL)?;
    // SAFETY: fadvise passes no memory; the descriptor is borrowed for the call.
    match unsafe { libc::posix_fadvise(fd.as_raw_fd(), off, len, libc::POSIX_FADV_DONTNEED) } {
        0 => Ok(()),
        e => Err(e),
    }
}

/// `ioctl(BLKSSZGET)`: a block device's logical block size.
pub(crate) fn blk_logical_block_size(fd: BorrowedFd<'_>) -> Result<u32, Errno> {
    let mut size: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int through the pointer, which is valid for that.
    let r = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::BLKSSZGET as _,
            &mut size as *mut libc::c_int,
        )
    };
    if r != 0 {
        return Err(errno());
    }
    Ok(size as u32)
}

/// The system page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// `RWF_*` flags for `preadv2`/`pwritev2`.
pub(crate) const RWF_DSYNC: i32 = libc::RWF_DSYNC;
/// `RWF_ATOMIC` (Linux 6.11): the write is torn-write free (all or nothing after a crash).
pub(crate) const RWF_ATOMIC: i32 = libc::RWF_ATOMIC;
/// `RWF_DONTCACHE` (Linux 6.14): buffered I/O whose pages leave the page cache once done
/// (writes are written back at once).
pub(crate) const RWF_DONTCACHE: i32 = libc::RWF_DONTCACHE;

/// One I/O vector: `(address, length)` in the caller's memory.
pub(crate) type IoVec = libc::iovec;

/// `IOV_MAX` on Linux.
pub(crate) const IOV_MAX: usize = 1024;

/// `preadv2(2)` (`write == false`) or `pwritev2(2)`; returns bytes transferred.
///
/// # Safety
/// Every vector must describe memory valid for the transfer direction (writable for reads,
/// readable for writes) for the duration of the call.
#[inline]
pub(crate) unsafe fn prw(
    fd: BorrowedFd<'_>,
    write: bool,
    iov: &[IoVec],
    offset: u64,
    flags: i32,
) -> Result<usize, Errno> {
    loop {
        let (p, n, off) = (
            iov.as_ptr(),
            iov.len() as libc::c_int,
            offset as libc::off_t,
        );
        let r = if write {
            // SAFETY: the caller guarantees the vectors are readable; fd is open.
            unsafe { libc::pwritev2(fd.as_raw_fd(), p, n, off, flags) }
        } else {
            // SAFETY: the caller guarantees the vectors are writable; fd is open.
            unsafe { libc::preadv2(fd.as_raw_fd(), p, n, off, flags) }
        };
        if r >= 0 {
            return Ok(r as usize);
        }
        match errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// Runs `f` with the calling thread's I/O priority set to `ioprio` (`ioprio_set(2)`,
/// `IOPRIO_WHO_PROCESS` of this thread), then restores the one it had. `0` runs `f` as is.
/// `Err(errno)` when the priority cannot be set (`EPERM` for a class the thread may not use).
pub(crate) fn with_ioprio<T>(ioprio: u16, f: impl FnOnce() -> T) -> Result<T, Errno> {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    if ioprio == 0 {
        return Ok(f());
    }
    // SAFETY: ioprio_get/ioprio_set take no memory arguments; who 0 is the calling thread.
    let old = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
    if old < 0 {
        return Err(errno());
    }
    // SAFETY: as above.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0,
            libc::c_long::from(ioprio),
        )
    };
    if r < 0 {
        return Err(errno());
    }
    let out = f();
    // SAFETY: as above; restoring the value the thread had cannot need more privilege.
    unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, old) };
    Ok(out)
}

/// `fsync(2)` (`data_only == false`) or `fdatasync(2)`.
pub(crate) fn sync(fd: BorrowedFd<'_>, data_only: bool) -> Result<(), Errno> {
    loop {
        // SAFETY: fd is open; these calls have no memory arguments.
        let r = unsafe {
            if data_only {
                libc::fdatasync(fd.as_raw_fd())
            } else {
                libc::fsync(fd.as_raw_fd())
            }
        };
        if r == 0 {
            return Ok(());
        }
        match errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// The calling thread's id.
pub(crate) fn gettid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::gettid() }
}

static FORK_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times this process's line has forked since [`watch_forks`] was first called: 0 in
/// the process that called it, one more in each child (a `pthread_atfork` child handler). A
/// context built at generation `g` belongs to a process that still reads `g`; a child reads
/// more. Relaxed: the handler runs in the child's only thread, before `fork` returns there.
#[inline]
pub(crate) fn fork_generation() -> u64 {
    FORK_GENERATION.load(std::sync::atomic::Ordering::Relaxed)
}

/// Installs the fork counter's handler, once per process (contexts call it when built).
/// A fork through a raw `clone(2)` that bypasses the C library runs no handler and is not seen.
pub(crate) fn watch_forks() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    extern "C" fn forked() {
        // Async-signal-safe: one atomic add.
        FORK_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    INSTALL.call_once(|| {
        // SAFETY: registers a handler that only adds to an atomic; no memory arguments. On
        // failure (ENOMEM) forks go unseen: the check is blind, never unsafe.
        unsafe { libc::pthread_atfork(None, None, Some(forked)) };
    });
}

/// A non-blocking, close-on-exec eventfd with counter `init` (`eventfd(2)`).
pub(crate) fn eventfd(init: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: eventfd has no memory arguments.
    let fd = unsafe { libc::eventfd(init, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: eventfd returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds 1 to the eventfd `fd`: it becomes readable.
pub(crate) fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64; the caller keeps `fd` open. A full counter
    // (EAGAIN) already means "readable", so the result is ignored.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

/// `_IO(0x12, 119)` and `_IO(0x12, 127)` (include/uapi/linux/fs.h): discard and zero out a
/// byte range of a block device.
pub(crate) const BLKDISCARD: libc::c_ulong = 0x1277;
pub(crate) const BLKZEROOUT: libc::c_ulong = 0x127f;

/// `fallocate(2)` of `[off, off + len)` with `mode`.
pub(crate) fn fallocate(fd: BorrowedFd<'_>, mode: i32, off: u64, len: u64) -> Result<(), Errno> {
    // SAFETY: plain syscall on a descriptor the caller keeps open.
    let r = unsafe { libc::fallocate(fd.as_raw_fd(), mode, off as i64, len as i64) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// `ioctl(fd, cmd, [off, len])` for the block-device range commands (`BLKDISCARD`,
/// `BLKZEROOUT`).
pub(crate) fn blk_range(
    fd: BorrowedFd<'_>,
    cmd: libc::c_ulong,
    off: u64,
    len: u64,
) -> Result<(), Errno> {
    let range = [off, len];
    // SAFETY: the ioctl reads two u64 from `range`, which lives across the call; the caller
    // keeps `fd` open.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), cmd, range.as_ptr()) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// The running kernel's release (`uname(2)`'s `release`), or "unknown".
pub(crate) fn kernel_release() -> String {
    // SAFETY: `utsname` is plain old data; all-zero is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid out-pointer for the call.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "unknown".into();
    }
    // SAFETY: uname NUL-terminates `release` within its array.
    unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}
