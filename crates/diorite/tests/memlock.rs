//! Fixed buffers refused by the memlock limit: the io_uring context runs unregistered and says
//! why. Lowers this process's RLIMIT_MEMLOCK (and, as root, drops CAP_IPC_LOCK from the test
//! thread, since the capability bypasses the limit), so it lives in its own test binary.

mod common;

use common::backends;
use diorite::{BackendChoice, BufPool, Context, Request};
use std::time::Duration;

const CAP_IPC_LOCK: u32 = 14;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Drops CAP_IPC_LOCK from the calling thread's effective set (capabilities are per thread).
fn drop_ipc_lock() {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget with a v3 header writes two CapData structs, which `data` holds.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    assert_eq!(r, 0, "capget: {}", std::io::Error::last_os_error());
    data[0].effective &= !(1 << CAP_IPC_LOCK);
    // SAFETY: as above; capset reads the header and two CapData structs.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
    assert_eq!(r, 0, "capset: {}", std::io::Error::last_os_error());
}

#[test]
fn enomem_from_the_memlock_limit_runs_unregistered_and_says_so() {
    if !backends().contains(&BackendChoice::IoUring) {
        eprintln!("SKIPPED: io_uring is not available here");
        return;
    }
    // A 64 KiB limit cannot pin a 4 MiB pool.
    let lim = libc::rlimit {
        rlim_cur: 64 << 10,
        rlim_max: libc::RLIM_INFINITY,
    };
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid rlimit pointers.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut old), 0);
    }
    let lim = libc::rlimit {
        rlim_max: old.rlim_max,
        ..lim
    };
    // SAFETY: valid rlimit pointer; lowering the soft limit needs no privilege.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) }, 0);
    drop_ipc_lock();

    let dir = common::tempdir();
    let f = common::file_with(dir.path(), "f", 1 << 20, 0x77);
    let pool = BufPool::new(1024, 4096, 4096).unwrap();
    let ctx = Context::builder()
        .depth(8)
        .backend(BackendChoice::IoUring)
        .register_file(&f)
        .register_pool(&pool)
        .build()
        .expect("registration failure never fails the context");
    let reg = ctx.registration();
    assert_eq!(reg.buffer_bytes, 0, "{reg:?}");
    assert_eq!(reg.files, 1, "files need no pinned memory: {reg:?}");
    assert!(
        reg.notes
            .iter()
            .any(|n| n.contains("ENOMEM") && n.contains("RLIMIT_MEMLOCK")),
        "{reg:?}"
    );
    assert!(ctx.backend_report().contains("running unregistered"));

    // Unregistered I/O on pool buffers works.
    ctx.submit(Request::read(&f, 4096, pool.get().unwrap()))
        .map_err(|e| e.error)
        .unwrap();
    let mut out = Vec::new();
    ctx.get_events(1, 1, Some(Duration::from_secs(20)), &mut out)
        .unwrap();
    let mut c = out.pop().unwrap();
    assert_eq!(c.result.as_ref().ok(), Some(&4096));
    assert!(c.take_buf().unwrap().iter().all(|&x| x == 0x77));
    assert_eq!(ctx.registration().fixed_buffer_ios, 0);

    // SAFETY: valid rlimit pointer.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &old) };
}
