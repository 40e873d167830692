//! Uncached buffered I/O (`OpenOptions::dontcache`, `RWF_DONTCACHE`, Linux 6.14): reads and
//! writes through such a handle — on every backend that takes buffered files, and in one-shot
//! calls — leave none of their pages in the page cache, where plain buffered I/O leaves them
//! all; a filesystem or kernel that does not take the flag is refused at open, by name; a
//! direct handle asking for it is refused as contradictory.

mod common;

use diorite::{AlignedBuf, BackendChoice, DirectFile, ErrorKind, Request};
use std::path::Path;

#[test]
fn uncached_reads_and_writes_leave_nothing_in_the_page_cache() {
    let Some(fs) = common::Xfs::new(512 << 20) else {
        return;
    };
    const LEN: usize = 1 << 20;
    let p = fs.dir.join("u");
    let data: Vec<u8> = (0..LEN).map(|i| (i % 253) as u8).collect();
    std::fs::write(&p, &data).unwrap();
    let plain = DirectFile::options()
        .read(true)
        .write(true)
        .direct(false)
        .open(&p)
        .unwrap();
    let f = match DirectFile::options()
        .read(true)
        .write(true)
        .direct(false)
        .dontcache(true)
        .open(&p)
    {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            eprintln!("SKIPPED: no RWF_DONTCACHE on XFS here: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert!(f.is_dontcache() && !plain.is_dontcache());
    plain.sync_all().unwrap();
    // The control: plain buffered reads fill the cache.
    plain.drop_cache(0, 0).unwrap();
    let mut buf = vec![0u8; LEN];
    assert_eq!(plain.read_at(&mut buf, 0).unwrap(), LEN);
    assert_eq!(
        common::cached_pages(&p, LEN),
        LEN / 4096,
        "plain reads are cached"
    );
    // One-shot uncached read and write.
    plain.drop_cache(0, 0).unwrap();
    assert_eq!(f.read_at(&mut buf, 0).unwrap(), LEN);
    assert_eq!(buf, data);
    assert_eq!(
        common::cached_pages(&p, LEN),
        0,
        "an uncached read leaves no page"
    );
    assert_eq!(f.write_at(&buf, 0).unwrap(), LEN);
    assert_eq!(
        common::cached_pages_settled(&p, LEN),
        0,
        "an uncached write leaves no page"
    );
    // Through a context: io_uring and the thread pool (Linux AIO takes no buffered files).
    for backend in [BackendChoice::Threads, BackendChoice::IoUring] {
        if !common::backends().contains(&backend) {
            continue;
        }
        let ctx = common::ctx(backend, 8);
        let mut w = AlignedBuf::for_file(&f, 256 << 10).unwrap();
        w.fill(0x6b);
        assert_eq!(
            common::run_one(&ctx, Request::write(&f, 256 << 10, w)).unwrap(),
            256 << 10
        );
        assert_eq!(
            common::cached_pages_settled(&p, LEN),
            0,
            "{backend:?}: writes"
        );
        // The whole file: the kernel drops a read's pages once copied, best effort (pages it
        // cannot drop at once — readahead past the read still in flight — stay cached).
        let r = AlignedBuf::for_file(&f, LEN).unwrap();
        assert_eq!(common::run_one(&ctx, Request::read(&f, 0, r)).unwrap(), LEN);
        assert_eq!(common::cached_pages(&p, LEN), 0, "{backend:?}: reads");
        // The control, through the same backend: a plain handle's read is cached.
        let r = AlignedBuf::for_file(&plain, LEN).unwrap();
        assert_eq!(
            common::run_one(&ctx, Request::read(&plain, 0, r)).unwrap(),
            LEN
        );
        assert_eq!(
            common::cached_pages(&p, LEN),
            LEN / 4096,
            "{backend:?}: plain reads"
        );
        plain.drop_cache(0, 0).unwrap();
    }
    // The bytes are what was written.
    let back = std::fs::read(&p).unwrap();
    assert!(back[256 << 10..512 << 10].iter().all(|b| *b == 0x6b));
    assert_eq!(back[..256 << 10], data[..256 << 10]);
    // A write-only uncached handle is checked through a read-only descriptor.
    let wo = DirectFile::options()
        .write(true)
        .direct(false)
        .dontcache(true)
        .open(&p)
        .unwrap();
    assert!(wo.is_dontcache());
}

#[test]
fn uncached_io_is_refused_where_it_cannot_be_done() {
    let dir = common::tempdir();
    let p = dir.path().join("d");
    std::fs::write(&p, vec![1u8; 8192]).unwrap();
    // A direct handle bypasses the cache already: contradictory.
    let e = DirectFile::options()
        .read(true)
        .dontcache(true)
        .open(&p)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("direct(false)"), "{e}");
    // tmpfs keeps everything in the page cache: no uncached I/O there.
    let shm = Path::new("/dev/shm").join(format!("diorite-dontcache-{}", std::process::id()));
    std::fs::write(&shm, vec![1u8; 8192]).unwrap();
    let r = DirectFile::options()
        .read(true)
        .direct(false)
        .dontcache(true)
        .open(&shm);
    std::fs::remove_file(&shm).unwrap();
    match r {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            assert!(e.to_string().contains("RWF_DONTCACHE"), "{e}");
        }
        Ok(_) => eprintln!("SKIPPED: tmpfs takes RWF_DONTCACHE on this kernel"),
    }
}
