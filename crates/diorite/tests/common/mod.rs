//! Test targets: a regular file on the temp filesystem and real loop block devices (the
//! devices, the root check and the hang guard come from `diorite-test-support`).

#![allow(dead_code, unused_imports)] // each test binary uses a different subset

use diorite::{BackendChoice, Context, DirectFile};
pub use diorite_test_support::{
    cached_pages, cached_pages_settled, is_root, within, LoopDev, Xfs, Zram,
};
use std::path::Path;

/// Every backend this machine offers, as choices (the conformance suite runs against each).
/// `DIORITE_TEST_BACKENDS=threads,aio` narrows the list (e.g. under valgrind, which does not
/// follow io_uring's shared rings).
pub fn backends() -> Vec<BackendChoice> {
    let only = std::env::var("DIORITE_TEST_BACKENDS").ok();
    let wanted = |name: &str| {
        only.as_ref()
            .is_none_or(|o| o.split(',').any(|n| n == name))
    };
    let mut v: Vec<BackendChoice> = diorite::backend::probe()
        .into_iter()
        .filter(|s| s.available)
        .filter(|s| wanted(s.kind.name()))
        .map(|s| match s.kind {
            diorite::BackendKind::IoUring => BackendChoice::IoUring,
            diorite::BackendKind::Aio => BackendChoice::Aio,
            _ => BackendChoice::Threads,
        })
        .collect();
    // The faulty backend with no rules: the conformance suite holds it to the same semantics.
    if wanted("faulty") {
        v.push(BackendChoice::Faulty);
    }
    v
}

/// Submits `req` and reaps it (within 20 s): its result.
pub fn run_one(ctx: &Context, req: diorite::Request) -> diorite::Result<usize> {
    ctx.submit(req).map_err(|e| e.error)?;
    let mut out = Vec::new();
    ctx.get_events(1, 1, Some(std::time::Duration::from_secs(20)), &mut out)
        .expect("get_events");
    out.pop().expect("one completion").result
}

pub fn ctx(backend: BackendChoice, depth: u32) -> Context {
    Context::builder()
        .depth(depth)
        .backend(backend)
        .threads(2)
        .build()
        .expect("build context")
}

/// Opening the shared test devices as a [`DirectFile`] for direct read and write.
pub trait OpenDirect {
    fn open(&self) -> DirectFile;
}

impl OpenDirect for LoopDev {
    fn open(&self) -> DirectFile {
        open_rw(&self.dev)
    }
}

impl OpenDirect for Zram {
    fn open(&self) -> DirectFile {
        open_rw(&self.dev)
    }
}

fn open_rw(dev: &Path) -> DirectFile {
    DirectFile::options()
        .read(true)
        .write(true)
        .open(dev)
        .unwrap_or_else(|e| panic!("open {}: {e}", dev.display()))
}

/// A temp directory on a filesystem that supports O_DIRECT (/var/tmp, not a tmpfs /tmp).
pub fn tempdir() -> tempfile::TempDir {
    diorite_test_support::tempdir_named("diorite-test")
}

/// A regular file of `size` bytes filled with `fill`, opened for direct read/write.
pub fn file_with(dir: &Path, name: &str, size: usize, fill: u8) -> DirectFile {
    let p = dir.join(name);
    std::fs::write(&p, vec![fill; size]).expect("write test file");
    DirectFile::options()
        .read(true)
        .write(true)
        .open(&p)
        .expect("open test file")
}

/// Targets for a semantic test: a regular file and, as root, 512- and 4096-byte-sector loop
/// devices. Each comes with a guard to keep alive.
pub enum Target {
    File(tempfile::TempDir, DirectFile),
    Loop(LoopDev, DirectFile),
}

impl Target {
    pub fn file(&self) -> &DirectFile {
        match self {
            Target::File(_, f) | Target::Loop(_, f) => f,
        }
    }
    pub fn name(&self) -> String {
        match self {
            Target::File(_, _) => "regular file".into(),
            Target::Loop(_, f) => format!(
                "loop device ({}-byte sectors)",
                f.geometry().logical_block_size
            ),
        }
    }
}

/// A 1 MiB regular file (zeros) plus 1 MiB loop devices with 512 and 4096-byte sectors.
pub fn targets() -> Vec<Target> {
    let dir = tempdir();
    let f = file_with(dir.path(), "target", 1 << 20, 0);
    let mut v = vec![Target::File(dir, f)];
    for sector in [512, 4096] {
        if let Some(l) = LoopDev::new(1 << 20, sector) {
            let f = l.open();
            v.push(Target::Loop(l, f));
        }
    }
    v
}

/// Drops `CAP_SYS_ADMIN` and `CAP_SYS_NICE` from the calling thread's effective set
/// (capabilities are per thread; threads it starts inherit them).
pub fn drop_priority_caps() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: header and two data structs, as capget(2) wants for version 3.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) };
    assert_eq!(r, 0);
    d[0].effective &= !((1 << 21) | (1 << 23)); // CAP_SYS_ADMIN, CAP_SYS_NICE
                                                // SAFETY: as above.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()) };
    assert_eq!(r, 0);
}
