//! The power-loss simulator (`diorite::faults::{Recorder, CrashLog}`): workloads recorded on
//! real files, every state checked against an independent byte model of what a device with a
//! volatile cache may leave (built here from the recorded operations and the model's rules,
//! not from the simulator's code), the durable-point rules one by one, replay by name, the
//! write-ahead log example's bugs found and its correct form passing, and bad input refused.

mod common;

#[allow(clippy::all)]
#[path = "../examples/crash_wal.rs"]
mod wal;

use diorite::faults::{CheckResult, CrashLog, Explore, Fate, Faults, OpClass, Recorder};
use diorite::{AlignedBuf, Alignment, Context, DirectFile, ErrorKind, Request, WriteSync};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const B: u64 = 4096;

fn write(f: &DirectFile, offset: u64, len: u64, fill: u8) -> Request {
    let mut b = AlignedBuf::for_file(f, len as usize).unwrap();
    b.fill(fill);
    Request::write(f, offset, b)
}

/// Submits `reqs` together, then reaps them all (they are in flight together).
fn batch(ctx: &Context, reqs: Vec<Request>) {
    let n = reqs.len();
    for r in reqs {
        ctx.submit(r).map_err(|e| e.error).unwrap();
    }
    let mut out = Vec::new();
    while out.len() < n {
        ctx.get_events(1, n, Some(Duration::from_secs(10)), &mut out)
            .unwrap();
    }
}

/// A file of `blocks` blocks whose block `i` is filled with `0x80 + i`.
fn file(dir: &Path, name: &str, blocks: u64) -> (std::path::PathBuf, DirectFile) {
    let p = dir.join(name);
    let data: Vec<u8> = (0..blocks * B).map(|i| 0x80 + (i / B) as u8).collect();
    std::fs::write(&p, data).unwrap();
    let f = DirectFile::options()
        .read(true)
        .write(true)
        .open(&p)
        .unwrap();
    (p, f)
}

fn recorded(rec: &Recorder, faults: Option<&str>) -> Context {
    let mut b = Context::builder();
    b.depth(16).threads(4).record(rec);
    if let Some(f) = faults {
        b.faults(Faults::parse(f, 1).unwrap());
    }
    b.build().unwrap()
}

/// The independent byte model: the values unit `blk` (of `u` bytes, the file's direct-I/O
/// block: what a device writes whole) may hold after a crash at
/// `point`, from the ops' public record alone: durable writes (completed before the point, and
/// durable at completion or completed before a successful flush of the file that was issued
/// after it and completed before the point) are always applied; every other write issued
/// before the point may be applied or not; applied writes land in completion order, in-flight
/// ones after in issue order.
fn allowed(log: &CrashLog, original: &[u8], point: u64, blk: u64, u: u64) -> BTreeSet<Vec<u8>> {
    let ops = log.ops();
    let durable = |i: usize| {
        let op = &ops[i];
        let Some(c) = op.completed.filter(|&c| c < point && op.ok) else {
            return false;
        };
        op.durable_at_completion
            || ops.iter().any(|f| {
                f.class == OpClass::Flush
                    && f.ok
                    && f.file == op.file
                    && f.issued > c
                    && f.completed.is_some_and(|fc| fc < point)
            })
    };
    let mut touching: Vec<usize> = (0..ops.len())
        .filter(|&i| {
            let o = &ops[i];
            o.class != OpClass::Flush
                && o.issued < point
                && o.len > 0
                && o.offset < (blk + 1) * u
                && o.offset + o.len > blk * u
        })
        .collect();
    touching.sort_by_key(|&i| {
        let c = ops[i].completed.filter(|&c| c < point).unwrap_or(u64::MAX);
        (c, ops[i].issued)
    });
    let free: Vec<usize> = touching.iter().copied().filter(|&i| !durable(i)).collect();
    assert!(free.len() <= 12, "keep the scenarios small");
    let mut out = BTreeSet::new();
    for mask in 0u32..(1 << free.len()) {
        let mut v = original[(blk * u) as usize..((blk + 1) * u) as usize].to_vec();
        for &i in &touching {
            let j = free.iter().position(|&x| x == i);
            if j.is_some_and(|j| mask >> j & 1 == 0) {
                continue;
            }
            let o = &ops[i];
            let (lo, hi) = (o.offset.max(blk * u), (o.offset + o.len).min((blk + 1) * u));
            for at in lo..hi {
                v[(at - blk * u) as usize] = o.data().map_or(0, |d| d[(at - o.offset) as usize]);
            }
        }
        out.insert(v);
    }
    out
}

#[test]
fn every_state_is_one_the_byte_model_allows_and_the_model_is_reached() {
    let dir = common::tempdir();
    let (p, f) = file(dir.path(), "data", 8);
    let original = std::fs::read(&p).unwrap();
    let rec = Recorder::new();
    let ctx = recorded(&rec, None);
    // Writes in flight together (overlapping), a flush, writes after it (one durable at
    // completion), a write-zeroes, an overwrite of a flushed block, a multi-block write.
    batch(
        &ctx,
        vec![
            write(&f, 0, B, 1),
            write(&f, B, 2 * B, 2),
            write(&f, 2 * B, B, 3),
        ],
    );
    batch(&ctx, vec![Request::fdatasync(&f)]);
    batch(
        &ctx,
        vec![write(&f, 0, B, 4), write(&f, 3 * B, B, 5).dsync()],
    );
    batch(
        &ctx,
        vec![
            Request::write_zeroes(&f, 4 * B, B),
            write(&f, 5 * B, 3 * B, 6),
        ],
    );
    batch(&ctx, vec![write(&f, B, B, 7)]);
    let log = rec.finish().unwrap();
    assert_eq!(log.ops().len(), 9, "{:?}", log.ops());
    let scratch = dir.path().join("crashed");
    let u = u64::from(f.geometry().offset_align);
    let last = *log.points().last().unwrap();
    let mut seen_torn = false;
    let mut images_at_end = BTreeSet::new();
    let explored = log
        .explore(&Explore::new(3).states(3000), |st| -> CheckResult {
            st.materialise(&p, &scratch)?;
            let got = std::fs::read(&scratch)?;
            assert_eq!(
                got.len() as u64,
                8 * B,
                "the size is the file's: nothing extended it"
            );
            for blk in 0..8 * B / u {
                let here = &got[(blk * u) as usize..((blk + 1) * u) as usize];
                let ok = allowed(&log, &original, st.point(), blk, u);
                if !ok.contains(here) {
                    return Err(
                        format!("unit {blk} holds a value no device could leave:\n{st}").into(),
                    );
                }
            }
            seen_torn |= st.fates().iter().any(|(_, f)| matches!(f, Fate::Torn(_)));
            if st.point() == last {
                images_at_end.insert(got);
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(
        explored.states, 3000,
        "sampled states follow the systematic ones"
    );
    assert!(explored.systematic_total > 50, "{explored:?}");
    assert!(seen_torn, "some state tears a multi-block write");
    // At the last point every block's allowed values combine: the states reach each whole-write
    // combination the model allows there (the window is within the subset bound).
    let w = log.window(last);
    assert!(!w.is_empty() && w.len() <= 8, "{w:?}");
    let combos = 1usize << w.len();
    assert!(
        images_at_end.len() >= combos,
        "{} images, {combos} subsets",
        images_at_end.len()
    );
}

#[test]
fn a_flush_covers_what_completed_before_it_was_issued_and_nothing_else() {
    let dir = common::tempdir();
    let (p, f) = file(dir.path(), "data", 4);
    let rec = Recorder::new();
    // The second write stalls: it is in flight when the flush is issued, and completes while
    // the (slow) flush runs — after the flush was issued, before it completed.
    let ctx = recorded(&rec, Some("write:nth=2:stall; fsync:always:delay=300ms"));
    batch(&ctx, vec![write(&f, 0, B, 1)]);
    ctx.submit(write(&f, B, B, 2)).map_err(|e| e.error).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    ctx.submit(Request::fsync(&f)).map_err(|e| e.error).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    ctx.release_stalled();
    let mut out = Vec::new();
    while out.len() < 2 {
        ctx.get_events(1, 2, Some(Duration::from_secs(10)), &mut out)
            .unwrap();
    }
    let log = rec.finish().unwrap();
    let end = log.events();
    let ops = log.ops();
    let first = ops
        .iter()
        .position(|o| o.offset == 0 && o.class == OpClass::Write)
        .unwrap();
    let stalled = ops.iter().position(|o| o.offset == B).unwrap();
    let flush = ops.iter().position(|o| o.class == OpClass::Flush).unwrap();
    assert!(ops[stalled].issued < ops[flush].issued);
    assert!(ops[stalled].completed.unwrap() > ops[flush].issued);
    assert!(ops[stalled].completed < ops[flush].completed);
    assert!(
        log.durable(first, end),
        "completed before the flush was issued"
    );
    assert!(
        !log.durable(stalled, end),
        "in flight when the flush was issued"
    );
    assert!(
        !log.durable(first, ops[flush].completed.unwrap()),
        "not before the flush completed"
    );
    // Some state keeps the stalled write, some drops it; none drops the first.
    let scratch = dir.path().join("crashed");
    let last = *log.points().last().unwrap();
    let mut kinds = BTreeSet::new();
    log.explore(&Explore::new(1).states(200), |st| -> CheckResult {
        st.materialise(&p, &scratch)?;
        let got = std::fs::read(&scratch)?;
        if st.point() == last {
            assert_eq!(got[0], 1, "{st}");
            kinds.insert(got[B as usize]);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        kinds,
        BTreeSet::from([0x81, 2]),
        "dropped (old content) and kept"
    );
}

#[test]
fn durable_at_completion_dropped_flushes_and_torn_writes_are_recorded_as_they_happened() {
    let dir = common::tempdir();
    let (_, f) = file(dir.path(), "data", 4);
    // O_DSYNC file: every write durable at completion.
    let sync = DirectFile::options()
        .read(true)
        .write(true)
        .sync(WriteSync::Data)
        .open(dir.path().join("data"))
        .unwrap();
    let rec = Recorder::new();
    let ctx = recorded(&rec, Some("fsync:always:drop; write:nth=3:torn=4096"));
    batch(&ctx, vec![write(&sync, 0, B, 1)]);
    batch(&ctx, vec![write(&f, B, B, 2), Request::fsync(&f)]);
    batch(&ctx, vec![write(&f, 2 * B, 2 * B, 3)]);
    batch(&ctx, vec![Request::fdatasync(&f)]);
    let log = rec.finish().unwrap();
    let ops = log.ops();
    let end = log.events();
    assert!(ops[0].durable_at_completion && log.durable(0, end));
    // Both flushes were dropped by the rule: nothing else is durable.
    assert!(ops
        .iter()
        .filter(|o| o.class == OpClass::Flush)
        .all(|o| !o.ok));
    assert!((1..ops.len()).all(|i| !log.durable(i, end)));
    // The torn write reached the file with its first 4 KiB only.
    let torn = ops.iter().find(|o| o.offset == 2 * B).unwrap();
    assert_eq!((torn.len, torn.data().unwrap().len()), (B, B as usize));
    // Through a second handle, the same file: one track.
    assert_eq!(log.files().len(), 1);
}

#[test]
fn a_flush_through_another_handle_or_context_covers_the_file() {
    let dir = common::tempdir();
    let (p, f) = file(dir.path(), "data", 2);
    let g = DirectFile::options()
        .read(true)
        .write(true)
        .open(&p)
        .unwrap();
    let rec = Recorder::new();
    let ctx = recorded(&rec, None);
    batch(&ctx, vec![write(&f, 0, B, 1)]);
    batch(&ctx, vec![Request::fsync(&g)]);
    // A second context sharing the recorder: its flush covers the first one's writes too
    // (a flush is the file's, whoever issued the writes).
    let other = recorded(&rec, None);
    batch(&ctx, vec![write(&f, B, B, 2)]);
    batch(&other, vec![Request::fdatasync(&g)]);
    let log = rec.finish().unwrap();
    assert_eq!(log.ops().len(), 4);
    assert!(log.durable(0, log.events()));
    assert!(log.durable(2, log.events()));
}

#[test]
fn a_state_is_rebuilt_exactly_from_its_seed_and_index() {
    let dir = common::tempdir();
    let (p, f) = file(dir.path(), "data", 8);
    let rec = Recorder::new();
    let ctx = recorded(&rec, None);
    for k in 0..6u64 {
        batch(
            &ctx,
            vec![write(&f, k * B, 2 * B, k as u8 + 1), write(&f, 7 * B, B, 9)],
        );
        if k % 3 == 2 {
            batch(&ctx, vec![Request::fdatasync(&f)]);
        }
    }
    let log = rec.finish().unwrap();
    let how = Explore::new(42).states(400).bound(3);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let all: Vec<_> = log.states(&how).unwrap().collect();
    assert_eq!(all.len(), 400);
    for st in all.iter().step_by(37) {
        let again = log.state(&how, st.name().1).unwrap().unwrap();
        assert_eq!(again.fates(), st.fates());
        assert_eq!(again.point(), st.point());
        st.materialise(&p, &a).unwrap();
        again.materialise(&p, &b).unwrap();
        let bytes = std::fs::read(&a).unwrap();
        assert_eq!(bytes, std::fs::read(&b).unwrap());
        // The in-memory image is what materialise wrote over the copy.
        let img = st.image(&p).unwrap();
        assert_eq!(img.len, bytes.len() as u64);
        for (n, blk) in &img.blocks {
            let at = (n * img.block) as usize;
            assert_eq!(&bytes[at..at + blk.len()], &blk[..], "block {n}");
        }
    }
    // Past the systematic states, another seed gives other states.
    let sys = log.states(&how).unwrap().systematic();
    assert!(sys < 400, "{sys}");
    let other = Explore::new(43).states(400).bound(3);
    let differ = (sys..400).filter(|&i| {
        let x = log.state(&how, i).unwrap().unwrap();
        let y = log.state(&other, i).unwrap().unwrap();
        x.fates() != y.fates() || x.point() != y.point()
    });
    assert!(differ.count() > 0);
    assert!(log.state(&how, 400).unwrap().is_none(), "past the bound");
}

#[test]
fn the_simulator_finds_each_wal_bug_and_nothing_in_the_correct_log() {
    let dir = common::tempdir();
    let n = wal::simulate(&dir.path().join("ok"), wal::Mode::Correct, 16, 3000)
        .expect("the correct log loses nothing");
    assert_eq!(n, 3000);
    for mode in [wal::Mode::AckBeforeFlush, wal::Mode::InPlaceHeader] {
        // Found within the first 50 states (the systematic ones come first).
        let found = wal::simulate(&dir.path().join(format!("{mode:?}")), mode, 16, 50)
            .expect_err("the bug is found");
        let index: u64 = found
            .split("index ")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .and_then(|s| s.parse().ok())
            .unwrap();
        assert!(index < 50, "{found}");
    }
}

#[test]
fn an_atomic_header_is_never_torn() {
    let Some(fs) = common::Xfs::new(512 << 20) else {
        return;
    };
    let n = wal::simulate(&fs.dir.join("atomic"), wal::Mode::AtomicHeader, 12, 2000)
        .expect("an atomic header write is never torn");
    assert_eq!(n, 2000);
    let found = wal::simulate(&fs.dir.join("plain"), wal::Mode::InPlaceHeader, 12, 2000)
        .expect_err("the plain one tears");
    assert!(found.contains("torn"), "{found}");
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let dir = common::tempdir();
    let rec = Recorder::new();
    let e = Context::builder()
        .record(&rec)
        .alignment(Alignment::Bounce)
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("bounce"), "{e}");

    let (p, f) = file(dir.path(), "data", 2);
    let ctx = recorded(&rec, None);
    batch(&ctx, vec![write(&f, 0, B, 1)]);
    let log = rec.finish().unwrap();
    // A tear unit that is not a multiple of the file's block.
    let block = u64::from(f.geometry().offset_align);
    let bad = log
        .states(&Explore::new(1).tear_unit(block + 1))
        .unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidInput, "{bad}");
    let failure = log
        .explore(&Explore::new(1).tear_unit(0), |_| Ok(()))
        .unwrap_err();
    assert!(
        failure.state.is_none() && failure.message.contains("tear unit"),
        "{failure}"
    );
    // A file the record never saw written.
    let other = dir.path().join("other");
    std::fs::write(&other, [0u8; 4096]).unwrap();
    let st = log.states(&Explore::new(1)).unwrap().next().unwrap();
    let e = st.materialise(&other, dir.path().join("x")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(!dir.path().join("x").exists(), "nothing created");
    // The source is never written: not as the destination either (by any name).
    let before = std::fs::read(&p).unwrap();
    let link = dir.path().join("link");
    std::fs::hard_link(&p, &link).unwrap();
    let st = log.states(&Explore::new(1)).unwrap().next().unwrap();
    for dest in [&p, &link] {
        let e = st.materialise(&p, dest).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }
    assert_eq!(std::fs::read(&p).unwrap(), before);
    for st in log.states(&Explore::new(1).states(20)).unwrap() {
        st.materialise(&p, dir.path().join("y")).unwrap();
    }
    assert_eq!(std::fs::read(&p).unwrap(), before);
    // An empty record has one state per acknowledgement point and materialises nothing.
    let empty = Recorder::new();
    empty.acknowledge(9);
    let log = empty.finish().unwrap();
    let states: Vec<_> = log.states(&Explore::new(1)).unwrap().collect();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].acknowledged(), vec![9]);
}

#[test]
fn several_threads_recording_into_one_context() {
    let dir = common::tempdir();
    let (p, f) = file(dir.path(), "data", 64);
    let rec = Recorder::new();
    let ctx = Context::builder().depth(64).record(&rec).build().unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (ctx, f, rec) = (&ctx, &f, &rec);
            s.spawn(move || {
                for k in 0..16u64 {
                    let blk = t * 16 + k;
                    ctx.submit(write(f, blk * B, B, blk as u8).with_user_data(blk))
                        .map_err(|e| e.error)
                        .unwrap();
                    rec.acknowledge(blk);
                }
            });
        }
    });
    let mut out = Vec::new();
    while out.len() < 64 {
        ctx.get_events(1, 64, Some(Duration::from_secs(10)), &mut out)
            .unwrap();
    }
    batch(&ctx, vec![Request::fsync(&f)]);
    let log = rec.finish().unwrap();
    assert_eq!(
        log.ops()
            .iter()
            .filter(|o| o.class == OpClass::Write)
            .count(),
        64
    );
    let end = log.events();
    assert!(
        (0..log.ops().len()).all(|i| log.ops()[i].class == OpClass::Flush || log.durable(i, end))
    );
    let st = log.state(&Explore::new(1), 0).unwrap().unwrap();
    let last = log.points().last().copied().unwrap();
    let scratch = dir.path().join("c");
    let at_end = log
        .states(&Explore::new(1).states(100_000))
        .unwrap()
        .find(|s| s.point() == last)
        .unwrap();
    at_end.materialise(&p, &scratch).unwrap();
    let got = std::fs::read(&scratch).unwrap();
    assert!((0..64u64).all(|b| got[(b * B) as usize] == b as u8));
    assert_eq!(st.point(), log.points()[0]);
}

#[test]
fn a_recorded_block_device_and_a_device_as_scratch() {
    // Record on a loop device (4096-byte sectors: writes tear at 4 KiB), materialise each state
    // onto a second loop device and onto a regular file: the same bytes.
    let (Some(src), Some(dst)) = (
        common::LoopDev::new(64 * B, 4096),
        common::LoopDev::new(64 * B, 4096),
    ) else {
        return;
    };
    let f = DirectFile::options()
        .read(true)
        .write(true)
        .open(&src.dev)
        .unwrap();
    assert_eq!(f.geometry().offset_align, 4096);
    let rec = Recorder::new();
    let ctx = recorded(&rec, None);
    batch(&ctx, vec![write(&f, 0, 2 * B, 1), write(&f, 8 * B, B, 2)]);
    batch(&ctx, vec![Request::fsync(&f)]);
    batch(&ctx, vec![write(&f, B, 3 * B, 3)]);
    let log = rec.finish().unwrap();
    let dir = common::tempdir();
    let as_file = dir.path().join("crashed");
    let mut torn = 0;
    for st in log.states(&Explore::new(5).states(60)).unwrap() {
        st.materialise(&src.dev, &dst.dev).unwrap();
        st.materialise(&src.dev, &as_file).unwrap();
        let a = std::fs::read(&as_file).unwrap();
        let mut b = vec![0u8; a.len()];
        std::os::unix::fs::FileExt::read_exact_at(
            &std::fs::File::open(&dst.dev).unwrap(),
            &mut b,
            0,
        )
        .unwrap();
        assert_eq!(a.len() as u64, 64 * B, "a device's size does not move");
        assert!(a == b, "{st}");
        torn += st
            .fates()
            .iter()
            .filter(|(_, f)| matches!(f, Fate::Torn(m) if m.len() == 3))
            .count();
    }
    assert!(torn > 0, "the 12 KiB write tears at 4 KiB units");
}
