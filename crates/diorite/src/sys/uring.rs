//! io_uring's kernel ABI beyond what the `io-uring` crate wraps (`include/uapi/linux/io_uring.h`):
//! the `io_uring_enter(2)` call with its flags and `EXT_ARG` argument, the registered-ring
//! table (`IORING_REGISTER_RING_FDS`), a setup probe for flags the crate cannot set, and the
//! block layer's discard command — with
//! compile-time size checks. The backend (`backend/uring.rs`) enters the kernel only here or
//! through that crate.

use std::os::fd::RawFd;

/// `io_uring_enter` flags (include/uapi/linux/io_uring.h).
pub(crate) const IORING_ENTER_GETEVENTS: u32 = 1 << 0;
pub(crate) const IORING_ENTER_SQ_WAKEUP: u32 = 1 << 1;
pub(crate) const IORING_ENTER_EXT_ARG: u32 = 1 << 3;
pub(crate) const IORING_ENTER_REGISTERED_RING: u32 = 1 << 4;
/// `io_uring_register` opcodes for the registered-ring table.
pub(crate) const IORING_REGISTER_RING_FDS: libc::c_uint = 20;
pub(crate) const IORING_UNREGISTER_RING_FDS: libc::c_uint = 21;
/// `BLOCK_URING_CMD_DISCARD` = `_IO(0x12, 0)` (include/uapi/linux/fs.h, 6.12+).
pub(crate) const BLOCK_URING_CMD_DISCARD: u32 = 0x1200;

/// `io_uring_setup` flags the `io-uring` crate's builder has no setter for.
pub(crate) const IORING_SETUP_IOPOLL: u32 = 1 << 0;
pub(crate) const IORING_SETUP_HYBRID_IOPOLL: u32 = 1 << 17;

/// `struct io_uring_params`: the fields a setup probe sets, then the kernel's answer (the
/// features and the two rings' offsets), unread here.
#[repr(C)]
pub(crate) struct SetupParams {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    offsets: [u32; 20],
}

/// Whether `io_uring_setup` takes `flags` for a ring of `entries`: builds one and closes it.
/// For capability reports, where the `io-uring` crate cannot express the flag.
pub(crate) fn setup_accepts(entries: u32, flags: u32) -> std::io::Result<()> {
    let mut p = SetupParams {
        sq_entries: 0,
        cq_entries: 0,
        flags,
        sq_thread_cpu: 0,
        sq_thread_idle: 0,
        features: 0,
        wq_fd: 0,
        resv: [0; 3],
        offsets: [0; 20],
    };
    // SAFETY: `p` is a valid, writable io_uring_params the kernel reads and fills in.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_io_uring_setup,
            entries,
            &mut p as *mut SetupParams,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is the new ring's descriptor, owned by nobody else; nothing is mapped.
    unsafe { libc::close(fd as RawFd) };
    Ok(())
}

/// `struct io_uring_rsrc_update` (include/uapi/linux/io_uring.h).
#[repr(C)]
pub(crate) struct RsrcUpdate {
    pub(crate) offset: u32,
    pub(crate) resv: u32,
    pub(crate) data: u64,
}

/// `struct io_uring_getevents_arg` (the EXT_ARG argument of `io_uring_enter`).
#[repr(C)]
pub(crate) struct GeteventsArg {
    pub(crate) sigmask: u64,
    pub(crate) sigmask_sz: u32,
    pub(crate) min_wait_usec: u32,
    pub(crate) ts: u64,
}

/// `struct __kernel_timespec`.
#[repr(C)]
pub(crate) struct KernelTimespec {
    pub(crate) tv_sec: i64,
    pub(crate) tv_nsec: i64,
}

const _: () = assert!(std::mem::size_of::<SetupParams>() == 120);
const _: () = assert!(std::mem::size_of::<RsrcUpdate>() == 16);
const _: () = assert!(std::mem::size_of::<GeteventsArg>() == 24);
const _: () = assert!(std::mem::size_of::<KernelTimespec>() == 16);

/// `io_uring_enter(2)` on ring `fd` (a registered index when `flags` has
/// `IORING_ENTER_REGISTERED_RING`): the entries the kernel took.
///
/// # Safety
/// `arg` is null or a valid `io_uring_getevents_arg` (with `IORING_ENTER_EXT_ARG`) that
/// outlives the call; SQEs up to the ring's published tail stay valid until their completion.
pub(crate) unsafe fn io_uring_enter(
    fd: RawFd,
    to_submit: u32,
    min: u32,
    flags: u32,
    arg: *const GeteventsArg,
) -> std::io::Result<usize> {
    let size = if arg.is_null() {
        0
    } else {
        std::mem::size_of::<GeteventsArg>()
    };
    // SAFETY: plain syscall; the caller vouches for `arg` and the SQEs.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_uring_enter,
            fd,
            to_submit,
            min,
            flags,
            arg,
            size,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Registers `fd` in the calling thread's registered-ring table; returns its index.
pub(crate) fn register_ring_fd(fd: RawFd) -> std::io::Result<RawFd> {
    let mut up = RsrcUpdate {
        offset: u32::MAX, // any free index
        resv: 0,
        data: fd as u64,
    };
    // SAFETY: `up` is a valid io_uring_rsrc_update for one entry, written back by the kernel.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            fd,
            IORING_REGISTER_RING_FDS,
            &mut up as *mut RsrcUpdate,
            1,
        )
    };
    match r {
        1 => Ok(up.offset as RawFd),
        r if r < 0 => Err(std::io::Error::last_os_error()),
        _ => Err(std::io::Error::from_raw_os_error(libc::EINVAL)),
    }
}

/// Removes entry `index` of the calling thread's registered-ring table (ring `fd`); errors are
/// ignored (the table goes with the thread anyway).
pub(crate) fn unregister_ring_fd(fd: RawFd, index: RawFd) {
    let mut up = RsrcUpdate {
        offset: index as u32,
        resv: 0,
        data: 0,
    };
    // SAFETY: `up` is a valid io_uring_rsrc_update for one entry.
    unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            fd,
            IORING_UNREGISTER_RING_FDS,
            &mut up as *mut RsrcUpdate,
            1,
        )
    };
}

#[cfg(all(test, not(diorite_loom)))]
mod tests {
    use super::*;

    /// The raw setup probe builds and closes a ring for flags the kernel takes, and reports
    /// the kernel's refusal for ones it does not (hybrid polling without IOPOLL is EINVAL on
    /// every kernel: before 6.13 an unknown flag, since then a flag that needs IOPOLL).
    #[test]
    fn the_setup_probe_reports_what_the_kernel_says() {
        if setup_accepts(8, 0).is_err() {
            eprintln!("SKIPPED: io_uring_setup is refused here");
            return;
        }
        let e = setup_accepts(8, IORING_SETUP_HYBRID_IOPOLL).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
        // Entries beyond the kernel's maximum without CLAMP: refused, nothing left open.
        let e = setup_accepts(1 << 20, 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
    }
}
