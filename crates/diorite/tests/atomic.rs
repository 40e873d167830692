//! Atomic writes (`Request::atomic`, `RWF_ATOMIC`): the limits `statx(STATX_WRITE_ATOMIC)`
//! reports reach `Geometry::atomic_write`; a write within them reaches the kernel as an atomic
//! write on every backend — shown on a reflink XFS, whose software atomic writes are written
//! out of place (the range's physical blocks move, where a plain overwrite stays in place);
//! a write outside them, or on a file without atomic writes, is refused at submit naming the
//! limit, and nothing is issued; the fault rules never tear one.

mod common;

use diorite::{AlignedBuf, BackendChoice, Context, DirectFile, ErrorKind, Request};
use std::path::Path;
use std::time::Duration;

/// The physical offset of the extent holding logical byte 0 of `path` (`filefrag -v`), or
/// `None` without filefrag.
fn physical_of_first_block(path: &Path) -> Option<u64> {
    let out = std::process::Command::new("filefrag")
        .arg("-v")
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.trim_start().starts_with("0:"))?;
    let phys = line.split(':').nth(2)?.split("..").next()?.trim();
    phys.parse().ok()
}

fn write(f: &DirectFile, offset: u64, len: usize, fill: u8) -> Request {
    let mut b = AlignedBuf::for_file(f, len).unwrap();
    b.fill(fill);
    Request::write(f, offset, b)
}

fn refused(ctx: &Context, req: Request, kind: ErrorKind, says: &str) {
    let e = ctx.submit(req).unwrap_err();
    assert_eq!(e.error.kind(), kind, "{}", e.error);
    assert!(e.error.to_string().contains(says), "{}", e.error);
    let mut out = Vec::new();
    assert_eq!(
        ctx.get_events(0, 4, Some(Duration::ZERO), &mut out)
            .unwrap(),
        0,
        "nothing issued"
    );
}

#[test]
fn atomic_writes_reach_the_kernel_or_are_refused_by_their_limit() {
    let Some(fs) = common::Xfs::new(512 << 20) else {
        return;
    };
    let p = fs.dir.join("a");
    std::fs::write(&p, vec![7u8; 1 << 20]).unwrap();
    std::fs::File::open(&p).unwrap().sync_all().unwrap();
    let f = DirectFile::options().write(true).open(&p).unwrap();
    let a = f
        .geometry()
        .atomic_write
        .expect("a reflink XFS offers atomic writes");
    assert!(a.unit_min <= 4096 && a.unit_max >= 64 << 10, "{a:?}");
    for backend in [
        BackendChoice::IoUring,
        BackendChoice::Aio,
        BackendChoice::Threads,
    ] {
        if !common::backends().contains(&backend) {
            continue;
        }
        let ctx = common::ctx(backend, 4);
        // A plain overwrite stays where it is; an atomic one is written out of place.
        let before = physical_of_first_block(&p);
        assert_eq!(
            common::run_one(&ctx, write(&f, 0, 64 << 10, 1)).unwrap(),
            64 << 10
        );
        assert_eq!(
            physical_of_first_block(&p),
            before,
            "{backend:?}: a plain write in place"
        );
        assert_eq!(
            common::run_one(&ctx, write(&f, 0, 64 << 10, 2).atomic()).unwrap(),
            64 << 10,
            "{backend:?}"
        );
        if let (Some(b), Some(after)) = (before, physical_of_first_block(&p)) {
            assert_ne!(
                b, after,
                "{backend:?}: the atomic write went out of place (RWF_ATOMIC)"
            );
        }
        let mut back = AlignedBuf::for_file(&f, 64 << 10).unwrap();
        assert_eq!(f.read_at(&mut back, 0).unwrap(), 64 << 10);
        assert!(back.iter().all(|&x| x == 2), "{backend:?}: the data");
        assert_eq!(
            common::run_one(&ctx, write(&f, 0, a.unit_max as usize, 3).atomic()).unwrap(),
            a.unit_max as usize
        );
        // Outside the limits: refused at submit, by name.
        refused(
            &ctx,
            write(&f, 0, 6 << 10, 4).atomic(),
            ErrorKind::InvalidInput,
            "power of two",
        );
        refused(
            &ctx,
            write(&f, 4096, 8192, 4).atomic(),
            ErrorKind::Misaligned,
            "multiple of its length",
        );
        refused(
            &ctx,
            write(&f, 0, 2 * a.unit_max as usize, 4).atomic(),
            ErrorKind::InvalidInput,
            "atomic_write_unit_max",
        );
        if a.segments_max == 1 {
            let (b1, b2) = (
                AlignedBuf::for_file(&f, 4096).unwrap(),
                AlignedBuf::for_file(&f, 4096).unwrap(),
            );
            refused(
                &ctx,
                Request::writev(&f, 0, vec![b1, b2]).atomic(),
                ErrorKind::InvalidInput,
                "atomic_write_segments_max",
            );
        }
        let r = Request::read(&f, 0, AlignedBuf::for_file(&f, 4096).unwrap()).atomic();
        refused(&ctx, r, ErrorKind::InvalidInput, "for writes");
        ctx.close().unwrap();
    }
    // The fault rules never split an atomic write: short= and torn= leave it whole (a plain
    // write under the same rules is torn: 4 KiB of 64 reach the file).
    let ctx = Context::builder()
        .depth(4)
        .faults(diorite::faults::Faults::parse("write:always:torn=4096", 1).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        common::run_one(&ctx, write(&f, 0, 64 << 10, 5)).unwrap(),
        64 << 10
    );
    let mut back = AlignedBuf::for_file(&f, 64 << 10).unwrap();
    f.read_at(&mut back, 0).unwrap();
    assert_eq!(
        back.iter().filter(|&&x| x == 5).count(),
        4096,
        "the plain write was torn"
    );
    assert_eq!(
        common::run_one(&ctx, write(&f, 0, 64 << 10, 6).atomic()).unwrap(),
        64 << 10
    );
    f.read_at(&mut back, 0).unwrap();
    assert!(back.iter().all(|&x| x == 6), "the atomic write is whole");
    ctx.close().unwrap();
    // Buffered, the file has no atomic writes (RWF_ATOMIC needs O_DIRECT).
    let b = DirectFile::options()
        .write(true)
        .direct(false)
        .open(&p)
        .unwrap();
    assert!(b.geometry().atomic_write.is_none());
    let ctx = common::ctx(BackendChoice::Threads, 4);
    refused(
        &ctx,
        write(&b, 0, 4096, 1).atomic(),
        ErrorKind::Unsupported,
        "no atomic writes",
    );
}

/// A device or file without atomic writes (a plain loop device; the temp filesystem when it
/// has none) refuses them by name; a misaligned atomic write is never bounced.
#[test]
fn without_atomic_writes_they_are_refused() {
    if let Some(lo) = common::LoopDev::new(8 << 20, 512) {
        let f = DirectFile::options().write(true).open(&lo.dev).unwrap();
        assert!(
            f.geometry().atomic_write.is_none(),
            "a loop device has none"
        );
        for backend in common::backends() {
            let ctx = common::ctx(backend, 4);
            refused(
                &ctx,
                write(&f, 0, 4096, 1).atomic(),
                ErrorKind::Unsupported,
                "no atomic writes",
            );
            ctx.close().unwrap();
        }
    }
    let dir = common::tempdir();
    let f = common::file_with(dir.path(), "t", 1 << 20, 0);
    let ctx = Context::builder()
        .backend(BackendChoice::Threads)
        .alignment(diorite::Alignment::Bounce)
        .build()
        .unwrap();
    let mut b = AlignedBuf::new(100, 4096).unwrap();
    b.fill(1);
    let e = ctx.submit(Request::write(&f, 3, b).atomic()).unwrap_err();
    assert!(
        matches!(
            e.error.kind(),
            ErrorKind::Misaligned | ErrorKind::Unsupported
        ),
        "{}",
        e.error
    );
}
