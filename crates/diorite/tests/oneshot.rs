//! One-shot synchronous calls (`DirectFile::read_at` / `write_at` / `sync_*`) and buffered
//! opens: the same rules as submitted requests, in the calling thread.

mod common;

use diorite::{AlignedBuf, DirectFile, ErrorKind, GeometrySource};

#[test]
fn read_at_and_write_at_follow_the_engines_rules() {
    for t in common::targets() {
        let f = t.file();
        let bs = f.geometry().offset_align as usize;
        let mut buf = AlignedBuf::for_file(f, 2 * bs).unwrap();
        buf.fill(0x5c);
        assert_eq!(f.write_at(&buf, bs as u64).unwrap(), 2 * bs, "{}", t.name());
        f.sync_data().unwrap();
        f.sync_all().unwrap();
        let mut back = AlignedBuf::for_file(f, 2 * bs).unwrap();
        assert_eq!(f.read_at(&mut back, bs as u64).unwrap(), 2 * bs);
        assert!(back.iter().all(|b| *b == 0x5c));
        // Misaligned offset and length are refused before anything is done.
        let e = f.read_at(&mut back, 1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Misaligned);
        let e = f.read_at(&mut back[..bs - 1], 0).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Misaligned);
        // A read across the end is short.
        let end = f.len();
        assert_eq!(f.read_at(&mut back, end - bs as u64).unwrap(), bs);
    }
}

#[test]
fn extending_one_shot_writes_move_the_size_and_buffered_opens_are_buffered() {
    let dir = common::tempdir();
    let p = dir.path().join("grow");
    let f = DirectFile::options()
        .read(true)
        .write(true)
        .create(true)
        .open(&p)
        .unwrap();
    let buf = AlignedBuf::for_file(&f, 8192).unwrap();
    assert_eq!(f.write_at(&buf, 0).unwrap(), 8192);
    assert_eq!(f.len(), 8192);
    let b = DirectFile::options()
        .read(true)
        .write(true)
        .direct(false)
        .open(&p)
        .unwrap();
    assert!(!b.is_direct());
    assert_eq!(b.geometry().source, GeometrySource::Buffered);
    // Buffered: any address, length and offset.
    let data = vec![7u8; 1001];
    assert_eq!(b.write_at(&data, 8192 + 3).unwrap(), 1001);
    assert_eq!(b.len(), 8192 + 3 + 1001);
    let flags = std::fs::read_to_string(format!(
        "/proc/self/fdinfo/{}",
        std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(&b))
    ))
    .unwrap();
    let flags = flags
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
        .unwrap();
    assert_eq!(flags & libc::O_DIRECT as u32, 0, "opened without O_DIRECT");
}

/// The context-free calls give the buffers back, success or error, with the engine's rules.
#[test]
fn free_one_shot_calls_give_the_buffers_back() {
    for t in common::targets() {
        let f = t.file();
        let bs = f.geometry().offset_align as usize;
        let mut buf = AlignedBuf::for_file(f, bs).unwrap();
        buf.fill(0x6d);
        let (n, buf) = diorite::write_at(f, 0, buf);
        assert_eq!(n.unwrap(), bs, "{}", t.name());
        let (n, back) = diorite::read_at(f, 0, AlignedBuf::for_file(f, bs).unwrap());
        assert_eq!(n.unwrap(), bs);
        assert!(back.iter().all(|b| *b == 0x6d));
        // Refused (misaligned offset): the buffer still comes back, untouched.
        let (e, again) = diorite::read_at(f, 1, buf);
        assert_eq!(e.unwrap_err().kind(), ErrorKind::Misaligned);
        assert!(again.iter().all(|b| *b == 0x6d));
        let bufs = vec![again, back];
        let (n, bufs) = diorite::writev_at(f, 0, bufs);
        assert_eq!((n.unwrap(), bufs.len()), (2 * bs, 2));
        let (n, bufs) = diorite::readv_at(f, 0, bufs);
        assert_eq!((n.unwrap(), bufs.len()), (2 * bs, 2));
        let (e, bufs) = diorite::readv_at(f, 0, Vec::new());
        assert_eq!(e.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert!(bufs.is_empty());
        diorite::fsync(f).unwrap();
        diorite::fdatasync(f).unwrap();
    }
}

/// `OpenOptions::sync` opens with `O_DSYNC` / `O_SYNC` (the kernel's own flags, read back from
/// `/proc/self/fdinfo`), and `drop_cache` drops a regular file's clean cached pages.
#[test]
fn write_sync_flags_and_drop_cache_reach_the_kernel() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let p = dir.path().join("s");
    std::fs::write(&p, vec![1u8; 1 << 20]).unwrap();
    let flags = |f: &DirectFile| -> u32 {
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", f.as_fd().as_raw_fd()))
            .unwrap();
        let line = info.lines().find(|l| l.starts_with("flags:")).unwrap();
        u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
    };
    use std::os::fd::AsFd;
    for (mode, want) in [
        (diorite::WriteSync::None, 0),
        (diorite::WriteSync::Data, libc::O_DSYNC as u32),
        (diorite::WriteSync::Full, libc::O_SYNC as u32),
    ] {
        let f = DirectFile::options()
            .write(true)
            .sync(mode)
            .require_direct(false)
            .open(&p)
            .unwrap();
        assert_eq!(flags(&f) & libc::O_SYNC as u32, want, "{mode:?}");
        assert_eq!(f.write_sync(), mode);
    }
    let f = DirectFile::options()
        .require_direct(false)
        .open(&p)
        .unwrap();
    f.drop_cache(0, 0).unwrap();
    let std_f = std::fs::File::open(&p).unwrap();
    std_f.sync_all().unwrap();
    let _ = std::fs::read(&p).unwrap();
    f.drop_cache(0, 0).unwrap();
    // SAFETY: a fresh read-only shared mapping, unmapped below; one byte per page.
    let resident = unsafe {
        let m = libc::mmap(
            std::ptr::null_mut(),
            1 << 20,
            libc::PROT_READ,
            libc::MAP_SHARED,
            std_f.as_raw_fd(),
            0,
        );
        let mut v = vec![0u8; 256];
        assert_eq!(libc::mincore(m, 1 << 20, v.as_mut_ptr()), 0);
        libc::munmap(m, 1 << 20);
        v.iter().filter(|b| **b & 1 == 1).count()
    };
    assert_eq!(resident, 0);
    assert!(
        f.drop_cache(u64::MAX, 1).is_err(),
        "an offset past off_t is refused"
    );
}
