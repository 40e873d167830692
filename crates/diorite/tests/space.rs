//! Discard and write-zeroes on every backend: a regular file (punched holes
//! show in its allocation), a 4096-sector loop device over a file (whose backing file shows the
//! holes), and zram; and the refusals.

mod common;

use common::OpenDirect;

use common::{backends, ctx, file_with, tempdir, LoopDev, Zram};
use diorite::{AlignedBuf, Completion, Context, DirectFile, ErrorKind, OpKind, Request};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

const MIB: u64 = 1 << 20;

fn run(ctx: &Context, req: Request) -> Completion {
    ctx.submit(req).map_err(|e| e.error).unwrap();
    let mut out = Vec::new();
    ctx.get_events(1, 1, Some(Duration::from_secs(30)), &mut out)
        .unwrap();
    out.pop().unwrap()
}

fn fill(ctx: &Context, f: &DirectFile, len: u64, byte: u8) {
    let mut b = AlignedBuf::for_file(f, len as usize).unwrap();
    b.fill(byte);
    let c = run(ctx, Request::write(f, 0, b));
    assert_eq!(c.result.unwrap(), len as usize);
}

fn read(ctx: &Context, f: &DirectFile, off: u64, len: u64) -> Vec<u8> {
    let mut c = run(
        ctx,
        Request::read(f, off, AlignedBuf::for_file(f, len as usize).unwrap()),
    );
    assert_eq!(c.result.as_ref().copied().unwrap(), len as usize);
    c.take_buf().unwrap().to_vec()
}

/// Bytes allocated to a file (st_blocks * 512).
fn allocated(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().blocks() * 512
}

/// Writes 4 MiB of 0xab, then discards [1 MiB, 2 MiB) and zeroes [2 MiB, 3 MiB) (with `unmap`
/// when asked), and checks every byte and the completions.
fn exercise(ctx: &Context, f: &DirectFile, unmap: bool, what: &str) {
    fill(ctx, f, 4 * MIB, 0xab);
    let c = run(ctx, Request::discard(f, MIB, MIB).with_user_data(1));
    assert_eq!((c.op, c.user_data), (OpKind::Discard, 1), "{what}");
    assert_eq!(
        c.result.unwrap(),
        MIB as usize,
        "{what}: discard completes with its length"
    );
    let mut z = Request::write_zeroes(f, 2 * MIB, MIB);
    if unmap {
        z = z.unmap();
    }
    let c = run(ctx, z);
    assert_eq!(c.op, OpKind::WriteZeroes);
    assert_eq!(
        c.result.unwrap(),
        MIB as usize,
        "{what}: write-zeroes completes with its length"
    );
    let back = read(ctx, f, 0, 4 * MIB);
    let (a, rest) = back.split_at(MIB as usize);
    let (discarded, rest) = rest.split_at(MIB as usize);
    let (zeroed, d) = rest.split_at(MIB as usize);
    assert!(
        a.iter().chain(d).all(|&x| x == 0xab),
        "{what}: bytes outside the ranges changed"
    );
    assert!(
        zeroed.iter().all(|&x| x == 0),
        "{what}: write-zeroes left data"
    );
    // A discarded range of a regular file, zram or a loop device over a file reads as zeroes
    // (punched hole / freed page); a real device may return anything.
    assert!(
        discarded.iter().all(|&x| x == 0),
        "{what}: discarded range not zero here"
    );
}

#[test]
fn discard_and_write_zeroes_on_a_file_punch_holes() {
    let dir = tempdir();
    for backend in backends() {
        for unmap in [false, true] {
            let p = dir.path().join(format!("f-{backend:?}-{unmap}"));
            let f = file_with(
                dir.path(),
                p.file_name().unwrap().to_str().unwrap(),
                4 << 20,
                0,
            );
            let ctx = ctx(backend, 8);
            let before = allocated(&p);
            exercise(
                &ctx,
                &f,
                unmap,
                &format!("file, {backend:?}, unmap {unmap}"),
            );
            assert_eq!(
                std::fs::metadata(&p).unwrap().len(),
                4 * MIB,
                "the size never changes"
            );
            // The discarded MiB is a hole now (and with unmap, the zeroed one too).
            let freed = before.saturating_sub(allocated(&p));
            let want = if unmap { 2 * MIB } else { MIB };
            assert!(
                freed >= want,
                "{backend:?} unmap {unmap}: {freed} bytes freed, want {want}"
            );
        }
    }
}

#[test]
fn discard_and_write_zeroes_on_block_devices() {
    let Some(lo) = LoopDev::new(4 * MIB, 4096) else {
        return;
    };
    let zram = Zram::new(4 * MIB, 0x11);
    for backend in backends() {
        for unmap in [false, true] {
            let f = lo.open();
            assert!(f.geometry().discard_max_bytes > 0 && f.geometry().discard_granularity > 0);
            let ctx = ctx(backend, 8);
            // Fill the image for real, so the discard has allocated blocks to give back.
            fill(&ctx, &f, 4 * MIB, 0xab);
            drop(run(&ctx, Request::fsync(&f)));
            let before = allocated(&lo.image());
            exercise(
                &ctx,
                &f,
                unmap,
                &format!("loop, {backend:?}, unmap {unmap}"),
            );
            drop(run(&ctx, Request::fsync(&f)));
            // The loop driver passes the discard to its backing file as a punched hole.
            let after = allocated(&lo.image());
            assert!(
                before.saturating_sub(after) >= MIB,
                "{backend:?}: backing file {before} -> {after} bytes allocated"
            );
            if let Some(z) = &zram {
                let f = z.open();
                exercise(
                    &ctx,
                    &f,
                    unmap,
                    &format!("zram, {backend:?}, unmap {unmap}"),
                );
            }
        }
    }
}

#[test]
fn bad_ranges_and_incapable_devices_are_refused_before_anything_is_issued() {
    let dir = tempdir();
    let f = file_with(dir.path(), "f", 1 << 20, 0x5a);
    let ro = DirectFile::open(dir.path().join("f")).unwrap();
    let ctx = ctx(backends()[0], 8);
    let refuse = |req: Request, kind: ErrorKind, says: &str| {
        let e = ctx.submit(req).unwrap_err();
        assert_eq!(e.error.kind(), kind, "{}", e.error);
        assert!(e.error.to_string().contains(says), "{}", e.error);
    };
    refuse(
        Request::discard(&f, 100, 4096),
        ErrorKind::Misaligned,
        "multiples",
    );
    refuse(
        Request::write_zeroes(&f, 0, 4097),
        ErrorKind::Misaligned,
        "multiples",
    );
    refuse(
        Request::discard(&f, 0, 0),
        ErrorKind::InvalidInput,
        "0 bytes",
    );
    refuse(
        Request::write_zeroes(&f, 1 << 20, 4096),
        ErrorKind::OutOfRange,
        "past the end",
    );
    refuse(
        Request::discard(&ro, 0, 4096),
        ErrorKind::InvalidInput,
        "not open for writing",
    );
    assert_eq!(
        std::fs::read(dir.path().join("f")).unwrap(),
        vec![0x5a; 1 << 20]
    );
    // A device that takes no discards: a loop device with discard switched off in sysfs.
    let Some(lo) = PrivateLoop::new(MIB) else {
        return;
    };
    std::fs::write(
        format!("/sys/block/loop{}/queue/discard_max_bytes", lo.n),
        "0",
    )
    .unwrap();
    let f = DirectFile::options()
        .read(true)
        .write(true)
        .open(&lo.dev)
        .unwrap();
    assert_eq!(f.geometry().discard_max_bytes, 0);
    refuse(
        Request::discard(&f, 0, 4096),
        ErrorKind::Unsupported,
        "takes no discards",
    );
    // Zeroing without a written fallback needs the device's own write-zeroes.
    if f.geometry().write_zeroes_max_bytes == 0 {
        refuse(
            Request::write_zeroes(&f, 0, 4096).unmap(),
            ErrorKind::Unsupported,
            "unmap",
        );
    }
}

/// A loop device of its own (`/dev/loop200`, made and removed through /dev/loop-control):
/// switching discard off in sysfs cannot be undone on a loop device (its discard granularity
/// drops to 0, and the limit then takes no other value), so the test must not leave it on one
/// that other tests pick with `losetup -f`.
struct PrivateLoop {
    n: u32,
    dev: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

const LOOP_CTL_ADD: libc::c_ulong = 0x4C80;
const LOOP_CTL_REMOVE: libc::c_ulong = 0x4C81;

impl PrivateLoop {
    fn new(size: u64) -> Option<PrivateLoop> {
        if !common::is_root() {
            eprintln!("SKIPPED: loop-device tests need root; CI runs as root");
            return None;
        }
        let n = 200;
        let ctl = std::fs::File::open("/dev/loop-control").ok()?;
        use std::os::fd::AsRawFd;
        // SAFETY: LOOP_CTL_ADD takes the device number by value. EEXIST (left over) is fine.
        unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_ADD, n as libc::c_long) };
        let dir = tempdir();
        let img = dir.path().join("img");
        std::fs::File::create(&img).unwrap().set_len(size).unwrap();
        let dev = std::path::PathBuf::from(format!("/dev/loop{n}"));
        let ok = std::process::Command::new("losetup")
            .args(["--direct-io=on", "--sector-size", "4096"])
            .arg(&dev)
            .arg(&img)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: losetup {} failed", dev.display());
            return None;
        }
        Some(PrivateLoop { n, dev, _dir: dir })
    }
}

impl Drop for PrivateLoop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup")
            .arg("-d")
            .arg(&self.dev)
            .status();
        if let Ok(ctl) = std::fs::File::open("/dev/loop-control") {
            use std::os::fd::AsRawFd;
            for _ in 0..50 {
                // SAFETY: LOOP_CTL_REMOVE takes the device number by value.
                if unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_REMOVE, self.n as libc::c_long) }
                    == 0
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
