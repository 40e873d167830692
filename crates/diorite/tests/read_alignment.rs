//! Reads and writes each checked against their own offset alignment: a file whose reads may be
//! aligned more finely than its writes (`statx` `STATX_DIO_READ_ALIGN`, Linux 6.14) — a
//! reflinked file on XFS, where writes need filesystem blocks (copy on write) and reads only
//! sectors — takes sector-aligned reads on every backend and in one-shot calls, and refuses
//! sector-aligned writes before anything is issued.

mod common;

use diorite::{AlignedBuf, BackendChoice, DirectFile, ErrorKind, Request};
use std::time::Duration;

#[test]
fn a_reflinked_xfs_file_reads_by_sector_and_writes_by_block() {
    let Some(fs) = common::Xfs::new(512 << 20) else {
        return;
    };
    let (a, b) = (fs.dir.join("a"), fs.dir.join("b"));
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&a, &data).unwrap();
    std::fs::File::open(&a).unwrap().sync_all().unwrap();
    // A shared extent: writes to it are copies on write, by filesystem block.
    let ok = std::process::Command::new("cp")
        .args(["--reflink=always"])
        .arg(&a)
        .arg(&b)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cp --reflink=always on a reflink XFS");
    let f = DirectFile::options()
        .read(true)
        .write(true)
        .open(&b)
        .unwrap();
    let g = *f.geometry();
    if g.read_offset_align == g.offset_align {
        eprintln!(
            "SKIPPED: this kernel reports no smaller read alignment (STATX_DIO_READ_ALIGN, \
             Linux 6.14) for a reflinked XFS file: {g:?}"
        );
        return;
    }
    assert_eq!((g.read_offset_align, g.offset_align), (512, 4096), "{g:?}");
    assert_eq!(g.offset_align_for(true), 512);
    for backend in [
        BackendChoice::IoUring,
        BackendChoice::Aio,
        BackendChoice::Threads,
    ] {
        if !common::backends().contains(&backend) {
            continue;
        }
        let ctx = common::ctx(backend, 4);
        // A sector-aligned read, and a vectored one of sector-long segments.
        let buf = AlignedBuf::for_file(&f, 512).unwrap();
        let got = ctx.submit(Request::read(&f, 512 * 3, buf));
        assert!(got.is_ok(), "{backend:?}");
        let mut out = Vec::new();
        ctx.get_events(1, 1, Some(Duration::from_secs(20)), &mut out)
            .unwrap();
        let mut done = out.pop().unwrap();
        assert_eq!(done.result.as_ref().copied().unwrap(), 512, "{backend:?}");
        let back = done.take_buf().unwrap();
        assert_eq!(&back[..], &data[1536..2048], "{backend:?}: the bytes read");
        let segs = vec![
            AlignedBuf::for_file(&f, 512).unwrap(),
            AlignedBuf::for_file(&f, 1024).unwrap(),
        ];
        assert_eq!(
            common::run_one(&ctx, Request::readv(&f, 512, segs)).unwrap(),
            1536,
            "{backend:?}"
        );
        // A sector-aligned write is refused before anything is issued, naming the alignment.
        let mut w = AlignedBuf::for_file(&f, 512).unwrap();
        w.fill(9);
        let e = ctx.submit(Request::write(&f, 512, w)).unwrap_err();
        assert_eq!(e.error.kind(), ErrorKind::Misaligned, "{}", e.error);
        assert!(e.error.to_string().contains("4096"), "{}", e.error);
        assert_eq!(
            ctx.get_events(0, 4, Some(Duration::ZERO), &mut out)
                .unwrap(),
            0,
            "{backend:?}: nothing issued"
        );
        // A block-aligned write goes through (and unshares that block).
        let mut w = AlignedBuf::for_file(&f, 4096).unwrap();
        w.fill(9);
        assert_eq!(
            common::run_one(&ctx, Request::write(&f, 4096, w)).unwrap(),
            4096,
            "{backend:?}"
        );
    }
    // One-shot calls: the same two rules.
    let mut r = AlignedBuf::for_file(&f, 512).unwrap();
    assert_eq!(f.read_at(&mut r, 1 << 19).unwrap(), 512);
    assert_eq!(&r[..], &data[1 << 19..(1 << 19) + 512]);
    let e = f.write_at(&r, 512).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Misaligned, "{e}");
    // A read still refuses what breaks its own alignment.
    let e = f.read_at(&mut r, 100).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Misaligned, "{e}");
    // The original file's bytes are untouched by the writes to its copy.
    assert_eq!(std::fs::read(&a).unwrap(), data);
}
