//! Test helpers shared by the library's and the CLI's test binaries, written once: a temporary
//! directory on a filesystem that takes `O_DIRECT`, the root check behind every loud skip, loop
//! and zram block devices made for one test and removed after it, and a guard that turns a
//! hang into a failure. Nothing here depends on diorite itself (its tests add what opens a
//! device as a `DirectFile`).

use std::path::PathBuf;
use std::process::Command;

/// A temp directory on a filesystem that supports O_DIRECT (/var/tmp, not a tmpfs /tmp), named
/// `PREFIX...`.
pub fn tempdir_named(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/var/tmp")
        .expect("tempdir")
}

/// Whether the tests run as root (some create devices, mounts or sysctl changes).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A loop device with direct I/O over a sparse image file (its own, or one the caller names),
/// detached on drop (and its own image removed).
pub struct LoopDev {
    /// The device node, e.g. `/dev/loop3`.
    pub dev: PathBuf,
    image: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl LoopDev {
    /// A loop device of `size` bytes with `sector`-byte logical blocks over a new sparse
    /// image, or `None` (with a loud message) when this is not possible here.
    pub fn new(size: u64, sector: u32) -> Option<LoopDev> {
        if !is_root() {
            eprintln!(
                "SKIPPED: loop-device tests need root (creating /dev/loopN); CI runs as root"
            );
            return None;
        }
        let dir = tempdir_named("diorite-loop");
        let img = dir.path().join("img");
        std::fs::File::create(&img)
            .and_then(|f| f.set_len(size))
            .expect("create image");
        LoopDev::attach(&img, sector).map(|mut l| {
            l._dir = Some(dir);
            l
        })
    }

    /// A loop device with `sector`-byte logical blocks over the existing image `img` (kept on
    /// drop), or `None` (with a loud message) when this is not possible here.
    pub fn over(img: &std::path::Path, sector: u32) -> Option<LoopDev> {
        if !is_root() {
            eprintln!("SKIPPED: needs root for a loop device; CI runs as root");
            return None;
        }
        LoopDev::attach(img, sector)
    }

    fn attach(img: &std::path::Path, sector: u32) -> Option<LoopDev> {
        let out = Command::new("losetup")
            .args([
                "-f",
                "--show",
                "--direct-io=on",
                "--sector-size",
                &sector.to_string(),
            ])
            .arg(img)
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
        Some(LoopDev {
            dev,
            image: img.to_owned(),
            _dir: None,
        })
    }

    /// The backing image file.
    pub fn image(&self) -> PathBuf {
        self.image.clone()
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

/// A zram block device made for one test (`/sys/class/zram-control/hot_add`), `size` bytes,
/// filled with `fill ^ (offset % 251)`; reset and removed on drop.
pub struct Zram {
    /// The device node, e.g. `/dev/zram1`.
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
}

impl Drop for Zram {
    fn drop(&mut self) {
        // An io_uring ring that registered the device closes asynchronously (the kernel's
        // teardown runs in a worker); until then reset / hot_remove fail with EBUSY: retry.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let _ = std::fs::write(format!("/sys/block/zram{}/reset", self.id), "1");
            if std::fs::write("/sys/class/zram-control/hot_remove", &self.id).is_ok()
                || std::time::Instant::now() > end
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// A reflink XFS (`mkfs.xfs -m reflink=1`; at least 300 MB) on a loop device over a sparse image, mounted at
/// a temporary directory: the filesystem that offers software atomic writes (Linux 6.16 and
/// later: `statx` reports 4096..1 MiB). Unmounted and detached on drop.
pub struct Xfs {
    /// The mount point.
    pub dir: PathBuf,
    _lo: LoopDev,
    _mnt: tempfile::TempDir,
}

impl Xfs {
    /// The filesystem, or `None` (with a loud message) without root, `mkfs.xfs` or XFS.
    pub fn new(size: u64) -> Option<Xfs> {
        if Command::new("mkfs.xfs").arg("-V").output().is_err() {
            eprintln!("SKIPPED: mkfs.xfs is not installed (xfsprogs); .ci/run installs it");
            return None;
        }
        let lo = LoopDev::new(size, 512)?;
        let ok = Command::new("mkfs.xfs")
            .args(["-q", "-f", "-m", "reflink=1"])
            .arg(&lo.dev)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: mkfs.xfs failed on {}", lo.dev.display());
            return None;
        }
        let mnt = tempdir_named("diorite-xfs");
        let ok = Command::new("mount")
            .arg(&lo.dev)
            .arg(mnt.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: mounting XFS failed (no XFS in this kernel?)");
            return None;
        }
        Some(Xfs {
            dir: mnt.path().to_owned(),
            _lo: lo,
            _mnt: mnt,
        })
    }
}

impl Drop for Xfs {
    fn drop(&mut self) {
        // A process that used io_uring on the filesystem may have exited with its ring's
        // teardown (and the files it registered) still pending in the kernel: the mount stays
        // busy for a moment. Retried for up to 10 s, then left with a loud message.
        for _ in 0..100 {
            let out = Command::new("umount").arg(&self.dir).output();
            if out.as_ref().is_ok_and(|o| o.status.success()) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprintln!(
            "LEAK: could not unmount {} (busy for 10 s)",
            self.dir.display()
        );
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

/// How many of the pages of `path`'s first `len` bytes are in the page cache (`mincore(2)`
/// over a read-only mapping).
pub fn cached_pages(path: &std::path::Path, len: usize) -> usize {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).expect("open for mincore");
    let page = 4096;
    // SAFETY: a shared read-only mapping of an open file, unmapped below; nothing reads it.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    assert_ne!(map, libc::MAP_FAILED, "mmap {}", path.display());
    let mut vec = vec![0u8; len.div_ceil(page)];
    // SAFETY: `map` is a mapping of `len` bytes; `vec` has one byte per page of it.
    let r = unsafe { libc::mincore(map, len, vec.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore");
    // SAFETY: the mapping made above, not used after this.
    unsafe { libc::munmap(map, len) };
    vec.iter().filter(|b| *b & 1 != 0).count()
}

/// [`cached_pages`] once it reaches 0, or after 5 s: an uncached write's pages leave the
/// cache when its writeback (started before the write returned) has finished.
pub fn cached_pages_settled(path: &std::path::Path, len: usize) -> usize {
    let t0 = std::time::Instant::now();
    loop {
        let n = cached_pages(path, len);
        if n == 0 || t0.elapsed() > std::time::Duration::from_secs(5) {
            return n;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
