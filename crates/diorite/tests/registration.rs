//! io_uring fixed files and fixed buffers: asked for on the builder, used for the I/O they
//! cover, reported, and harmless on backends that have no such thing.

mod common;

use common::{backends, targets};
use diorite::{AlignedBuf, BackendChoice, BufPool, Context, DirectFile, Request};
use std::time::Duration;

const T: Option<Duration> = Some(Duration::from_secs(20));

fn run(ctx: &Context, req: Request) -> diorite::Completion {
    ctx.submit(req).map_err(|e| e.error).unwrap();
    let mut out = Vec::new();
    assert_eq!(ctx.get_events(1, 1, T, &mut out).unwrap(), 1);
    out.pop().unwrap()
}

fn pooled(pool: &BufPool, fill: u8) -> AlignedBuf {
    let mut b = pool.get().expect("a free pool buffer");
    b.fill(fill);
    b
}

#[test]
fn registered_files_and_pool_buffers_carry_the_io() {
    if !backends().contains(&BackendChoice::IoUring) {
        eprintln!("SKIPPED: io_uring is not available here");
        return;
    }
    for t in targets() {
        let f = t.file();
        let bs = f.geometry().offset_align as usize;
        let pool = BufPool::new(4, 2 * bs, f.geometry().mem_align as usize).unwrap();
        let ctx = Context::builder()
            .depth(8)
            .backend(BackendChoice::IoUring)
            .register_file(f)
            .register_file(f) // the same file twice is registered once
            .register_pool(&pool)
            .build()
            .unwrap();
        let reg = ctx.registration();
        assert_eq!(reg.files, 1, "{}: {reg:?}", t.name());
        assert_eq!(reg.buffer_bytes, pool.region().1, "{}: {reg:?}", t.name());
        assert!(reg.notes.is_empty(), "{reg:?}");
        assert!(ctx.backend_report().contains("1 fixed files"));

        // Fixed file + fixed buffer: write, then read back into another pool buffer.
        let c = run(&ctx, Request::write(f, bs as u64, pooled(&pool, 0x3c)));
        assert_eq!(c.result.unwrap(), 2 * bs);
        let mut c = run(&ctx, Request::read(f, bs as u64, pooled(&pool, 0)));
        assert_eq!(c.result.as_ref().ok(), Some(&(2 * bs)));
        assert!(c.take_buf().unwrap().iter().all(|&x| x == 0x3c));
        assert_eq!(ctx.registration().fixed_buffer_ios, 2);

        // A buffer outside the pool on the registered file: plain opcodes, same data.
        let mut c = run(
            &ctx,
            Request::read(f, bs as u64, AlignedBuf::for_file(f, bs).unwrap()),
        );
        assert_eq!(c.result.as_ref().ok(), Some(&bs));
        assert!(c.take_buf().unwrap().iter().all(|&x| x == 0x3c));
        assert_eq!(ctx.registration().fixed_buffer_ios, 2);

        // Vectored requests of pool buffers, fsync and fdatasync on the fixed file.
        let c = run(
            &ctx,
            Request::writev(f, 0, vec![pooled(&pool, 1), pooled(&pool, 2)]),
        );
        assert_eq!(c.result.unwrap(), 4 * bs);
        assert_eq!(run(&ctx, Request::fsync(f)).result.unwrap(), 0);
        assert_eq!(run(&ctx, Request::fdatasync(f)).result.unwrap(), 0);
        let mut c = run(&ctx, Request::read(f, 0, pooled(&pool, 0)));
        let b = c.take_buf().unwrap();
        assert!(b.iter().all(|&x| x == 1), "{}", t.name());

        // The context keeps the registered file and pool alive: dropping ours changes nothing.
        drop(pool);
        assert_eq!(run(&ctx, Request::fsync(f)).result.unwrap(), 0);
        drop(b);
        ctx.shutdown().unwrap();
    }
}

#[test]
fn a_file_that_is_not_registered_still_works_beside_registered_ones() {
    if !backends().contains(&BackendChoice::IoUring) {
        eprintln!("SKIPPED: io_uring is not available here");
        return;
    }
    let dir = common::tempdir();
    let a = common::file_with(dir.path(), "a", 1 << 16, 0xa1);
    let b = common::file_with(dir.path(), "b", 1 << 16, 0xb2);
    let ctx = Context::builder()
        .depth(4)
        .backend(BackendChoice::IoUring)
        .register_file(&a)
        .build()
        .unwrap();
    for (f, want) in [(&a, 0xa1), (&b, 0xb2)] {
        let mut c = run(
            &ctx,
            Request::read(f, 4096, AlignedBuf::for_file(f, 4096).unwrap()),
        );
        assert_eq!(c.result.as_ref().ok(), Some(&4096));
        assert!(c.take_buf().unwrap().iter().all(|&x| x == want));
    }
    // A file opened after the context, whose descriptor may reuse a closed one's number, is
    // never confused with a registered file.
    let p = dir.path().join("c");
    std::fs::write(&p, vec![0xc3u8; 1 << 16]).unwrap();
    let c_file = DirectFile::options().read(true).open(&p).unwrap();
    let mut c = run(
        &ctx,
        Request::read(&c_file, 0, AlignedBuf::for_file(&c_file, 4096).unwrap()),
    );
    assert!(c.take_buf().unwrap().iter().all(|&x| x == 0xc3));
}

#[test]
fn other_backends_say_registration_does_not_apply() {
    let dir = common::tempdir();
    let f = common::file_with(dir.path(), "f", 1 << 16, 0);
    let pool = BufPool::new(2, 4096, 4096).unwrap();
    for b in backends() {
        if b == BackendChoice::IoUring {
            continue;
        }
        let ctx = Context::builder()
            .depth(4)
            .backend(b)
            .threads(1)
            .register_file(&f)
            .register_pool(&pool)
            .build()
            .unwrap();
        let reg = ctx.registration();
        assert_eq!((reg.files, reg.buffer_bytes), (0, 0));
        assert!(reg.notes[0].contains("no fixed files"), "{reg:?}");
        let c = run(&ctx, Request::read(&f, 0, pool.get().unwrap()));
        assert_eq!(c.result.unwrap(), 4096);
        // Not asked: nothing to say.
        let plain = common::ctx(b, 2);
        assert_eq!(plain.registration(), diorite::Registration::default());
    }
}

/// Vectored requests over registered memory: iovecs that all lie in one registered region go
/// as `READV_FIXED`/`WRITEV_FIXED` where the kernel has them (counted in `fixed_buffer_ios`),
/// anything else as plain `READV`/`WRITEV` — the same bytes either way, on every target: a
/// mix of pool and other memory, buffers from two registered pools (two regions), and a
/// vectored read that runs past the end of a file (the honest prefix).
#[test]
fn vectored_requests_over_one_registered_region_use_the_fixed_vectored_opcodes() {
    if !backends().contains(&BackendChoice::IoUring) {
        eprintln!("SKIPPED: io_uring is not available here");
        return;
    }
    let caps = diorite::backend::caps::capabilities();
    let has = |op: &str| {
        caps.uring
            .as_ref()
            .is_ok_and(|u| u.opcodes.iter().any(|&(n, ok)| n == op && ok))
    };
    let vectored = has("READV_FIXED") && has("WRITEV_FIXED");
    if !vectored {
        eprintln!("NOTE: no READV_FIXED/WRITEV_FIXED here (Linux < 6.15): plain opcodes only");
    }
    let per = u64::from(vectored);
    for t in targets() {
        let f = t.file();
        let bs = f.geometry().offset_align as usize;
        let align = f.geometry().mem_align as usize;
        let (pool, other) = (
            BufPool::new(6, bs, align).unwrap(),
            BufPool::new(2, bs, align).unwrap(),
        );
        let ctx = Context::builder()
            .depth(8)
            .backend(BackendChoice::IoUring)
            .register_file(f)
            .register_pool(&pool)
            .register_pool(&other)
            .build()
            .unwrap();
        let ios = || ctx.registration().fixed_buffer_ios;
        let name = t.name();

        // Three pool buffers out, three back in: one fixed vectored I/O each way.
        let bufs = vec![pooled(&pool, 1), pooled(&pool, 2), pooled(&pool, 3)];
        assert_eq!(
            run(&ctx, Request::writev(f, 0, bufs)).result.unwrap(),
            3 * bs
        );
        assert_eq!(ios(), per, "{name}");
        let bufs = vec![pooled(&pool, 0), pooled(&pool, 0), pooled(&pool, 0)];
        let mut c = run(&ctx, Request::readv(f, 0, bufs));
        assert_eq!(c.result.as_ref().ok(), Some(&(3 * bs)), "{name}");
        for (i, b) in c.take_bufs().into_iter().enumerate() {
            assert!(b.iter().all(|&x| x == i as u8 + 1), "{name}: buffer {i}");
        }
        assert_eq!(ios(), 2 * per, "{name}");

        // Pool memory beside unregistered memory, and two registered regions: plain readv.
        for (label, bufs) in [
            (
                "pool + unregistered",
                vec![pooled(&pool, 0), AlignedBuf::new(bs, align).unwrap()],
            ),
            ("two pools", vec![pooled(&pool, 0), pooled(&other, 0)]),
        ] {
            let mut c = run(&ctx, Request::readv(f, bs as u64, bufs));
            assert_eq!(c.result.as_ref().ok(), Some(&(2 * bs)), "{name}: {label}");
            let got = c.take_bufs();
            assert!(got[0].iter().all(|&x| x == 2), "{name}: {label}");
            assert!(got[1].iter().all(|&x| x == 3), "{name}: {label}");
            assert_eq!(ios(), 2 * per, "{name}: {label} went fixed");
        }

        // Past the end (the 1 MiB target): the bytes that exist, in the first buffer.
        let end: u64 = 1 << 20;
        let bufs = vec![pooled(&pool, 9), pooled(&pool, 9)];
        let mut c = run(&ctx, Request::readv(f, end - bs as u64, bufs));
        assert_eq!(c.result.as_ref().ok(), Some(&bs), "{name}: past the end");
        assert!(c.take_bufs()[0].iter().all(|&x| x == 0), "{name}");
        assert_eq!(ios(), 3 * per, "{name}");
        ctx.shutdown().unwrap();
    }
}
