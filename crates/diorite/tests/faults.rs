//! The faulty backend: each kind of fault does what it says, deterministically,
//! with the engine's usual semantics around it (exactly-once completions, partial results, the
//! overflow list, cancel and shutdown while a request is stalled).

mod common;

use common::OpenDirect;

use common::{file_with, tempdir, within};
use diorite::faults::{Fault, Faults, Ops, When};
use diorite::{AlignedBuf, BackendKind, Completion, Context, DirectFile, ErrorKind, Request};
use std::time::Duration;

const B: usize = 4096;

fn faulty(rules: &str, seed: u64, depth: u32) -> Context {
    Context::builder()
        .depth(depth)
        .threads(2)
        .faults(Faults::parse(rules, seed).unwrap())
        .build()
        .unwrap()
}

fn wait_one(ctx: &Context) -> Completion {
    let mut out = Vec::new();
    ctx.get_events(1, 1, Some(Duration::from_secs(30)), &mut out)
        .unwrap();
    out.pop().unwrap()
}

fn block(byte: u8, f: &DirectFile, len: usize) -> AlignedBuf {
    let mut b = AlignedBuf::for_file(f, len).unwrap();
    b.fill(byte);
    b
}

#[test]
fn the_text_form_round_trips_and_bad_rules_are_named() {
    let text = "write:nth=3:eio; read+fsync:range=0-65536:short=4096; fsync:always:drop; any:p=0.25:delay=2000us; discard:every=2:stall; write:always:torn=512; read:always:errno=5; write:every=4:reorder";
    let f = Faults::parse(text, 9).unwrap();
    assert_eq!(f.rules().len(), 8);
    assert_eq!(f.rules()[0].fault, Fault::Error(libc::EIO));
    assert_eq!(
        f.rules()[1].when,
        When::Range {
            start: 0,
            end: 65536
        }
    );
    assert_eq!(Faults::parse(&f.to_string(), 9).unwrap(), f);
    let built = Faults::new(9)
        .rule(
            Ops {
                write: true,
                ..Ops::default()
            },
            When::Nth(3),
            Fault::Error(libc::EIO),
        )
        .unwrap();
    assert_eq!(built.to_string(), "write:nth=3:eio");
    for (bad, says) in [
        ("write:nth=3", "OPS:WHEN:FAULT"),
        ("scribble:always:eio", "scribble"),
        ("write:nth=0:eio", "WHEN"),
        ("write:range=9-3:eio", "below"),
        ("write:p=2:eio", "probability"),
        ("write:always:explode", "FAULT"),
        ("write:always:delay=3 weeks", "delay"),
    ] {
        let e = Faults::parse(bad, 1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains(says), "{bad}: {e}");
    }
}

#[test]
fn errors_hit_the_chosen_request_and_nothing_is_written() {
    let dir = tempdir();
    let f = file_with(dir.path(), "f", 8 * B, 0x11);
    let ctx = faulty("write:nth=3:eio; any:range=24576-28672:enospc", 1, 4);
    assert_eq!(ctx.backend(), BackendKind::Faulty);
    assert!(
        ctx.backend_report().contains("write:nth=3:eio"),
        "{}",
        ctx.backend_report()
    );
    for i in 0..5u64 {
        ctx.submit(Request::write(&f, i * B as u64, block(0xaa, &f, B)).with_user_data(i))
            .map_err(|e| e.error)
            .unwrap();
        let c = wait_one(&ctx);
        match i {
            2 => assert_eq!(
                c.result.unwrap_err().raw_os_error(),
                Some(libc::EIO),
                "the third write"
            ),
            _ => assert_eq!(c.result.unwrap(), B, "write {i}"),
        }
    }
    // Block 6 is in the ENOSPC range: a read there fails too.
    ctx.submit(Request::read(
        &f,
        6 * B as u64,
        AlignedBuf::for_file(&f, B).unwrap(),
    ))
    .map_err(|e| e.error)
    .unwrap();
    assert_eq!(
        wait_one(&ctx).result.unwrap_err().raw_os_error(),
        Some(libc::ENOSPC)
    );
    let data = std::fs::read(dir.path().join("f")).unwrap();
    for (i, b) in data.chunks(B).enumerate() {
        let want = if i < 5 && i != 2 { 0xaa } else { 0x11 };
        assert!(b.iter().all(|&x| x == want), "block {i}");
    }
    assert_eq!(ctx.faults_injected(), 2);
}

#[test]
fn short_transfers_are_honest_partial_results_and_torn_writes_are_not() {
    let dir = tempdir();
    let f = file_with(dir.path(), "f", 8 * B, 0x11);
    // A vectored read cut after 6000 bytes: rounded down to one block, reported as such.
    let ctx = faulty("read:always:short=6000; write:always:torn=4096", 1, 4);
    let bufs: Vec<_> = (0..4).map(|_| block(0, &f, B)).collect();
    ctx.submit(Request::readv(&f, 0, bufs))
        .map_err(|e| e.error)
        .unwrap();
    let mut c = wait_one(&ctx);
    // Rounded down to the file's offset alignment (512 on ext4, 4096 elsewhere).
    let align = f.geometry().offset_align as usize;
    let prefix = 6000 / align * align;
    assert_eq!(
        c.result.as_ref().copied().unwrap(),
        prefix,
        "the prefix that was read"
    );
    let bytes: Vec<u8> = c.take_bufs().iter().flat_map(|b| b.to_vec()).collect();
    assert!(bytes[..prefix].iter().all(|&x| x == 0x11));
    assert!(
        bytes[prefix..].iter().all(|&x| x == 0),
        "nothing past the prefix"
    );
    // A torn write: the completion claims 16 KiB, the file got 4 KiB.
    ctx.submit(Request::write(&f, 0, block(0xaa, &f, 4 * B)))
        .map_err(|e| e.error)
        .unwrap();
    assert_eq!(wait_one(&ctx).result.unwrap(), 4 * B);
    let data = std::fs::read(dir.path().join("f")).unwrap();
    assert!(data[..B].iter().all(|&x| x == 0xaa));
    assert!(
        data[B..].iter().all(|&x| x == 0x11),
        "the torn tail never reached the file"
    );
}

#[test]
fn dropped_flushes_and_delays_complete_normally() {
    let dir = tempdir();
    let f = file_with(dir.path(), "f", 2 * B, 0);
    let ctx = faulty("fsync:always:drop; write:always:delay=1ms", 1, 4);
    ctx.submit(Request::write(&f, 0, block(1, &f, B)))
        .map_err(|e| e.error)
        .unwrap();
    assert_eq!(wait_one(&ctx).result.unwrap(), B);
    ctx.submit(Request::fsync(&f)).map_err(|e| e.error).unwrap();
    assert_eq!(wait_one(&ctx).result.unwrap(), 0);
    assert_eq!(ctx.faults_injected(), 2);
}

#[test]
fn a_stalled_request_waits_for_release_and_cancel_and_shutdown_handle_it() {
    let dir = tempdir();
    let f = file_with(dir.path(), "f", 4 * B, 0);
    let g = f.clone();
    within(60, "stall", move || {
        let ctx = faulty("write:always:stall", 1, 4);
        let id = ctx
            .submit(Request::write(&g, 0, block(7, &g, B)))
            .map_err(|e| e.error)
            .unwrap();
        let mut out = Vec::new();
        ctx.get_events(1, 1, Some(Duration::from_millis(100)), &mut out)
            .unwrap();
        assert!(out.is_empty(), "a stalled write completed");
        // Taken by a worker (the rule fired): running, so not cancelable; it completes
        // normally once released.
        while ctx.faults_injected() < 1 {
            std::thread::yield_now();
        }
        assert_eq!(ctx.cancel(id).unwrap_err().kind(), ErrorKind::InProgress);
        ctx.release_stalled();
        assert_eq!(wait_one(&ctx).result.unwrap(), B);
        // Shutdown with a stalled request in flight: close releases it, nothing hangs.
        ctx.submit(Request::write(&g, B as u64, block(8, &g, B)))
            .map_err(|e| e.error)
            .unwrap();
        while ctx.faults_injected() < 2 {
            std::thread::yield_now();
        }
        ctx.shutdown().unwrap();
    });
    let data = std::fs::read(dir.path().join("f")).unwrap();
    assert!(data[..B].iter().all(|&x| x == 7) && data[B..2 * B].iter().all(|&x| x == 8));
}

#[test]
fn probability_rules_are_reproducible_from_the_seed() {
    let dir = tempdir();
    let f = file_with(dir.path(), "f", 64 * B, 3);
    let failures = |seed: u64| -> Vec<u64> {
        let ctx = faulty("read:p=0.3:eio", seed, 1);
        let mut failed = Vec::new();
        for i in 0..200u64 {
            ctx.submit(Request::read(
                &f,
                (i % 64) * B as u64,
                AlignedBuf::for_file(&f, B).unwrap(),
            ))
            .map_err(|e| e.error)
            .unwrap();
            if wait_one(&ctx).result.is_err() {
                failed.push(i);
            }
        }
        failed
    };
    let (a, b, c) = (failures(42), failures(42), failures(43));
    assert_eq!(a, b, "the same seed fails the same requests");
    assert_ne!(a, c, "another seed, other requests");
    assert!((30..90).contains(&a.len()), "{} of 200 at p=0.3", a.len());
}

#[test]
fn faulted_completions_go_through_the_overflow_list_exactly_once_and_in_order() {
    let dir = tempdir();
    let f = file_with(dir.path(), "f", 16 * B, 0);
    // A completion ring of 1 slot: most completions wait on the overflow list.
    let ctx = Context::builder()
        .depth(16)
        .threads(1)
        .completion_ring(1)
        .faults(Faults::parse("read:every=2:eio", 1).unwrap())
        .build()
        .unwrap();
    let mut reqs: Vec<Request> = (0..16u64)
        .map(|i| {
            Request::read(&f, i * B as u64, AlignedBuf::for_file(&f, B).unwrap()).with_user_data(i)
        })
        .collect();
    ctx.submit_batch(&mut reqs).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut out = Vec::new();
    while out.len() < 16 {
        ctx.get_events(1, 16, Some(Duration::from_secs(10)), &mut out)
            .unwrap();
    }
    let ok = out.iter().filter(|c| c.result.is_ok()).count();
    assert_eq!(ok, 8, "every second request failed");
    let mut seen: Vec<u64> = out.iter().map(|c| c.user_data).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..16).collect::<Vec<_>>(), "each exactly once");
}

#[test]
fn a_reordered_completion_comes_after_a_later_one_and_is_never_lost() {
    let dir = tempdir();
    let f = file_with(dir.path(), "f", 4 * B, 5);
    let g = f.clone();
    within(60, "reorder", move || {
        let ctx = faulty("read:always:stall; write:always:reorder", 1, 4);
        // Alone, a reordered completion is posted at once (nothing could come after it).
        ctx.submit(Request::write(&g, 0, block(6, &g, B)).with_user_data(9))
            .map_err(|e| e.error)
            .unwrap();
        assert_eq!(wait_one(&ctx).user_data, 9);
        // A stalled read is running; the write finishes first but is held back.
        ctx.submit(
            Request::read(&g, B as u64, AlignedBuf::for_file(&g, B).unwrap()).with_user_data(1),
        )
        .map_err(|e| e.error)
        .unwrap();
        while ctx.faults_injected() < 2 {
            std::thread::yield_now();
        }
        ctx.submit(Request::write(&g, 2 * B as u64, block(7, &g, B)).with_user_data(2))
            .map_err(|e| e.error)
            .unwrap();
        while ctx.faults_injected() < 3 {
            std::thread::yield_now();
        }
        let mut out = Vec::new();
        ctx.get_events(1, 2, Some(Duration::from_millis(100)), &mut out)
            .unwrap();
        assert!(out.is_empty(), "the write's completion was not held");
        ctx.release_stalled();
        while out.len() < 2 {
            ctx.get_events(1, 2, Some(Duration::from_secs(10)), &mut out)
                .unwrap();
        }
        let order: Vec<u64> = out.iter().map(|c| c.user_data).collect();
        assert_eq!(
            order,
            [1, 2],
            "the held write completes after the read that finished later"
        );
        assert!(out.iter().all(|c| c.result.is_ok()));
    });
}

/// A request split into pieces (a loop device capped at 4 KiB per I/O) cut short part-way: the
/// result is the contiguous prefix across the pieces, and the buffers past it are untouched.
#[test]
fn a_split_request_cut_short_reports_the_prefix_across_its_pieces() {
    let Some(lo) = common::LoopDev::new(1 << 20, 4096) else {
        return;
    };
    let name = lo.dev.file_name().unwrap().to_str().unwrap().to_string();
    let knob = format!("/sys/block/{name}/queue/max_sectors_kb");
    // The limit outlives the attachment: put it back before the device is detached.
    struct Restore(String, String);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = std::fs::write(&self.0, &self.1);
        }
    }
    let _restore = Restore(
        knob.clone(),
        std::fs::read_to_string(&knob).unwrap().trim().to_string(),
    );
    std::fs::write(&knob, "4").unwrap();
    let f = lo.open();
    assert_eq!(
        f.geometry().max_transfer,
        4096,
        "the request below is split in four"
    );
    let ctx = faulty("read:always:short=10000", 1, 4);
    let plain = Context::builder().depth(4).build().unwrap();
    plain
        .submit(Request::write(&f, 0, block(0x42, &f, 4 * B)))
        .map_err(|e| e.error)
        .unwrap();
    assert_eq!(wait_one(&plain).result.unwrap(), 4 * B);
    ctx.submit(Request::read(&f, 0, block(0, &f, 4 * B)))
        .map_err(|e| e.error)
        .unwrap();
    let mut c = wait_one(&ctx);
    assert_eq!(
        c.result.as_ref().copied().unwrap(),
        2 * B,
        "10000 bytes rounded down to 4 KiB units"
    );
    let b = c.take_buf().unwrap();
    assert!(b[..2 * B].iter().all(|&x| x == 0x42) && b[2 * B..].iter().all(|&x| x == 0));
}
