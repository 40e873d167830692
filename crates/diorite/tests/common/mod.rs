//! Test targets: a regular file on the temp filesystem and real loop block devices.

#![allow(dead_code)] // each test binary uses a different subset

use diorite::{BackendChoice, Context, DirectFile};
use std::path::{Path, PathBuf};
use std::process::Command;

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

pub fn ctx(backend: BackendChoice, depth: u32) -> Context {
    Context::builder()
        .depth(depth)
        .backend(backend)
        .threads(2)
        .build()
        .expect("build context")
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A loop device over a sparse image file, detached and removed on drop.
pub struct LoopDev {
    pub dev: PathBuf,
    _dir: tempfile::TempDir,
}

impl LoopDev {
    /// A loop device of `size` bytes with `sector` byte logical blocks, or `None` (with a loud
    /// message) when this is not possible here.
    pub fn new(size: u64, sector: u32) -> Option<LoopDev> {
        if !is_root() {
            eprintln!(
                "SKIPPED: loop-device tests need root (creating /dev/loopN); CI runs as root"
            );
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("diorite-loop")
            .tempdir_in("/var/tmp")
            .ok()?;
        let img = dir.path().join("img");
        std::fs::File::create(&img)
            .and_then(|f| f.set_len(size))
            .expect("create image");
        let out = Command::new("losetup")
            .args([
                "-f",
                "--show",
                "--direct-io=on",
                "--sector-size",
                &sector.to_string(),
            ])
            .arg(&img)
            .output()
            .expect("run losetup");
        if !out.status.success() {
            eprintln!(
                "SKIPPED: losetup failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        let dev = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string());
        Some(LoopDev { dev, _dir: dir })
    }

    pub fn open(&self) -> DirectFile {
        DirectFile::options()
            .read(true)
            .write(true)
            .open(&self.dev)
            .expect("open loop device")
    }

    /// The backing image file.
    pub fn image(&self) -> PathBuf {
        self._dir.path().join("img")
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

/// A temp directory on a filesystem that supports O_DIRECT (/var/tmp, not a tmpfs /tmp).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("diorite-test")
        .tempdir_in("/var/tmp")
        .expect("tempdir")
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

/// A zram block device made for one test (`/sys/class/zram-control/hot_add`), `size` bytes,
/// filled with `fill`; reset and removed on drop.
pub struct Zram {
    pub dev: PathBuf,
    id: String,
}

impl Zram {
    /// A zram device, or `None` (with a loud message) when this is not possible here.
    pub fn new(size: u64, fill: u8) -> Option<Zram> {
        if !is_root() {
            eprintln!("SKIPPED: zram tests need root (hot_add); CI runs as root");
            return None;
        }
        let Ok(id) = std::fs::read_to_string("/sys/class/zram-control/hot_add") else {
            eprintln!("SKIPPED: no zram support (/sys/class/zram-control/hot_add)");
            return None;
        };
        let id = id.trim().to_string();
        let z = Zram {
            dev: PathBuf::from(format!("/dev/zram{id}")),
            id,
        };
        std::fs::write(
            format!("/sys/block/zram{}/disksize", z.id),
            size.to_string(),
        )
        .expect("set zram disksize");
        for _ in 0..100 {
            if z.dev.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let data: Vec<u8> = (0..size).map(|i| fill ^ (i % 251) as u8).collect();
        std::fs::write(&z.dev, data).expect("fill zram");
        Some(z)
    }

    pub fn open(&self) -> DirectFile {
        DirectFile::options()
            .read(true)
            .write(true)
            .open(&self.dev)
            .expect("open zram device")
    }
}

impl Drop for Zram {
    fn drop(&mut self) {
        let _ = std::fs::write(format!("/sys/block/zram{}/reset", self.id), "1");
        let _ = std::fs::write("/sys/class/zram-control/hot_remove", &self.id);
    }
}

/// Runs `f` on a thread and fails the test (instead of hanging it) when it has not returned
/// within `secs` seconds.
pub fn within<T: Send + 'static>(
    secs: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("{what}: no return within {secs} s (hang)"))
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
