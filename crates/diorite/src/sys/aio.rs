//! Linux native AIO's kernel ABI (`include/uapi/linux/aio_abi.h`, `fs/aio.c`): the `iocb`,
//! `io_event` and event-ring header layouts, with compile-time size and offset checks, and the
//! raw `io_setup(2)`, `io_destroy(2)`, `io_submit(2)`, `io_getevents(2)` and `io_cancel(2)`
//! calls. The backend (`backend/aio.rs`) uses nothing of the kernel but this.

use std::mem::{offset_of, size_of};

pub(crate) const IOCB_CMD_PREAD: u16 = 0;
pub(crate) const IOCB_CMD_PWRITE: u16 = 1;
pub(crate) const IOCB_CMD_FSYNC: u16 = 2;
pub(crate) const IOCB_CMD_FDSYNC: u16 = 3;
pub(crate) const IOCB_CMD_POLL: u16 = 5;
pub(crate) const IOCB_CMD_PREADV: u16 = 7;
pub(crate) const IOCB_CMD_PWRITEV: u16 = 8;
/// `aio_flags` bit: signal the eventfd in `aio_resfd` when the iocb completes.
pub(crate) const IOCB_FLAG_RESFD: u32 = 1;
/// `aio_flags` bit: `aio_reqprio` carries the iocb's I/O priority.
pub(crate) const IOCB_FLAG_IOPRIO: u32 = 1 << 1;

/// The kernel's `struct iocb` (include/uapi/linux/aio_abi.h), little-endian layout.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Iocb {
    pub(crate) aio_data: u64,
    pub(crate) aio_key: u32,
    pub(crate) aio_rw_flags: i32,
    pub(crate) aio_lio_opcode: u16,
    pub(crate) aio_reqprio: i16,
    pub(crate) aio_fildes: u32,
    pub(crate) aio_buf: u64,
    pub(crate) aio_nbytes: u64,
    pub(crate) aio_offset: i64,
    pub(crate) aio_reserved2: u64,
    pub(crate) aio_flags: u32,
    pub(crate) aio_resfd: u32,
}

/// The kernel's `struct io_event`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct IoEvent {
    pub(crate) data: u64,
    pub(crate) obj: u64,
    pub(crate) res: i64,
    pub(crate) res2: i64,
}

#[cfg(not(target_endian = "little"))]
compile_error!("the AIO iocb layout here is the little-endian one");

/// The header of the kernel's AIO event ring (`struct aio_ring`, fs/aio.c), mapped at the
/// context id's address and followed by `nr` `io_event`s.
#[repr(C)]
pub(crate) struct AioRing {
    pub(crate) id: u32,
    pub(crate) nr: u32,
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) magic: u32,
    pub(crate) compat_features: u32,
    pub(crate) incompat_features: u32,
    pub(crate) header_length: u32,
}

pub(crate) const AIO_RING_MAGIC: u32 = 0xa10a_10a1;

const _: () = {
    assert!(size_of::<Iocb>() == 64);
    assert!(offset_of!(Iocb, aio_data) == 0);
    assert!(offset_of!(Iocb, aio_key) == 8);
    assert!(offset_of!(Iocb, aio_rw_flags) == 12);
    assert!(offset_of!(Iocb, aio_lio_opcode) == 16);
    assert!(offset_of!(Iocb, aio_reqprio) == 18);
    assert!(offset_of!(Iocb, aio_fildes) == 20);
    assert!(offset_of!(Iocb, aio_buf) == 24);
    assert!(offset_of!(Iocb, aio_nbytes) == 32);
    assert!(offset_of!(Iocb, aio_offset) == 40);
    assert!(offset_of!(Iocb, aio_reserved2) == 48);
    assert!(offset_of!(Iocb, aio_flags) == 56);
    assert!(offset_of!(Iocb, aio_resfd) == 60);
    assert!(size_of::<IoEvent>() == 32);
    assert!(offset_of!(IoEvent, data) == 0);
    assert!(offset_of!(IoEvent, obj) == 8);
    assert!(offset_of!(IoEvent, res) == 16);
    assert!(offset_of!(IoEvent, res2) == 24);
};

pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

pub(crate) fn io_setup(nr: u32) -> std::result::Result<u64, i32> {
    let mut ctx: u64 = 0;
    // SAFETY: io_setup writes one aio_context_t through the valid pointer.
    let r = unsafe { libc::syscall(libc::SYS_io_setup, nr as libc::c_long, &mut ctx as *mut u64) };
    if r < 0 {
        return Err(errno());
    }
    Ok(ctx)
}

pub(crate) fn io_destroy(ctx: u64) {
    // SAFETY: `ctx` came from io_setup and is destroyed once.
    unsafe { libc::syscall(libc::SYS_io_destroy, ctx) };
}

/// `io_submit(2)` of `iocbs`: how many the kernel took, or the errno.
///
/// # Safety
/// Every pointer names a valid iocb whose buffers stay valid until its event is reaped.
pub(crate) unsafe fn io_submit(
    ctx: u64,
    iocbs: &mut [*mut Iocb],
) -> std::result::Result<usize, i32> {
    // SAFETY: per the caller's contract.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_submit,
            ctx,
            iocbs.len() as libc::c_long,
            iocbs.as_mut_ptr(),
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as usize)
    }
}

/// `io_getevents(2)`: waits for at least `min` events (up to `events.len()`) until `timeout`
/// (null: no limit); how many arrived, or the errno.
///
/// # Safety
/// `timeout` is null or points to a valid `timespec` for the call.
pub(crate) unsafe fn io_getevents(
    ctx: u64,
    min: usize,
    events: &mut [IoEvent],
    timeout: *mut libc::timespec,
) -> std::result::Result<usize, i32> {
    // SAFETY: `events` is valid for its length; the caller vouches for `timeout`.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_getevents,
            ctx,
            min as libc::c_long,
            events.len() as libc::c_long,
            events.as_mut_ptr(),
            timeout,
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as usize)
    }
}

/// `io_cancel(2)` of the submitted iocb `cb` (its event, if canceled, still arrives through
/// the ring; the result is ignored: a request that cannot be canceled completes normally).
///
/// # Safety
/// `cb` is the address an iocb was submitted with, and stays valid until its event.
pub(crate) unsafe fn io_cancel(ctx: u64, cb: *mut Iocb) {
    let mut ev = IoEvent::default();
    // SAFETY: `cb` per the caller; `ev` is a valid out-pointer.
    unsafe { libc::syscall(libc::SYS_io_cancel, ctx, cb, &mut ev as *mut IoEvent) };
}
