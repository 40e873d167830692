//! fio's data written, and verify with job clones.
//! Every test runs the real binary; those that compare with fio skip that part when fio is
//! not installed. Each came with a fix and failed on the code before it.

mod common;

use common::{bench_in, job, json, tempdir};
use std::path::Path;

/// What a write job wrote: `(lz4-compressed size / size, distinct 4 KiB blocks)`.
fn written_data(path: &Path) -> (f64, usize) {
    let d = std::fs::read(path).unwrap();
    let packed = lz4_flex::block::compress(&d).len();
    let mut blocks: Vec<&[u8]> = d.chunks(4096).collect();
    blocks.sort_unstable();
    blocks.dedup();
    (packed as f64 / d.len() as f64, blocks.len())
}

/// `(options, lz4 ratio range, distinct blocks range)` of the 1024 4 KiB blocks a job leaves.
type Case = (&'static [&'static str], (f64, f64), (usize, usize));

/// Runs `base` + each case's options in `dir` (the file `f.dat`), checks the file's lz4 ratio
/// and distinct blocks against the case's ranges and, with fio installed, against fio's file
/// for the same options (within 3 points of ratio and 8% of the block count; the random draws
/// differ).
fn data_shapes_match(dir: &Path, base: &[&str], cases: &[Case]) {
    let f = dir.join("f.dat");
    for (extra, (rlo, rhi), (blo, bhi)) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        let _ = std::fs::remove_file(&f);
        let out = bench_in(dir, &args);
        assert!(out.status.success(), "{extra:?}: {}", common::stderr(&out));
        let (ratio, blocks) = written_data(&f);
        assert!(
            (*rlo..=*rhi).contains(&ratio),
            "{extra:?}: lz4 ratio {ratio:.3} not in {rlo}..{rhi}"
        );
        assert!(
            (*blo..=*bhi).contains(&blocks),
            "{extra:?}: {blocks} distinct blocks, not in {blo}..{bhi}"
        );
        std::fs::remove_file(&f).unwrap();
        let fio_args: Vec<&str> = args.iter().copied().chain(["--output=/dev/null"]).collect();
        if common::fio_in(dir, &fio_args).is_some() {
            let (fr, fb) = written_data(&f);
            assert!(
                (ratio - fr).abs() < 0.03,
                "{extra:?}: lz4 ratio {ratio:.3}, fio's {fr:.3}"
            );
            assert!(
                blocks.abs_diff(fb) <= fb / 12 + 1,
                "{extra:?}: {blocks} distinct blocks, fio's {fb}"
            );
        }
    }
}

/// fio's data options: the written data compresses and dedupes as
/// the options say — measured on the file with lz4 and by counting distinct blocks — and, when
/// fio is installed, as fio's own file for the same options does (within 3 points of ratio and
/// 8% of the block count; the random draws differ).
#[test]
fn buffer_options_shape_the_data_written_as_fios_do() {
    let dir = tempdir();
    let base = [
        "--name=w",
        "--filename=f.dat",
        "--rw=write",
        "--bs=4k",
        "--size=4m",
        "--direct=1",
        "--ioengine=psync",
    ];
    let cases: &[Case] = &[
        // fio's default: one random buffer, scrambled per write (offset and time in each
        // 512-byte block): every block distinct, yet mostly one repeated buffer.
        (&[], (0.0, 0.10), (1024, 1024)),
        // Without the scramble, the one buffer is written again and again.
        (&["--scramble_buffers=0"], (0.0, 0.01), (1, 1)),
        // refill: new random data for every write.
        (&["--refill_buffers"], (0.99, 1.01), (1024, 1024)),
        (
            &["--buffer_compress_percentage=60"],
            (0.38, 0.45),
            (1024, 1024),
        ),
        (
            &[
                "--buffer_compress_percentage=25",
                "--buffer_compress_chunk=4k",
            ],
            (0.72, 0.79),
            (1024, 1024),
        ),
        (&["--dedupe_percentage=50"], (0.40, 0.60), (430, 590)),
        (&["--dedupe_percentage=100"], (0.0, 0.01), (1, 1)),
        (&["--zero_buffers"], (0.0, 0.01), (1, 1)),
        (&["--buffer_compress_percentage=100"], (0.0, 0.01), (1, 1)),
    ];
    data_shapes_match(dir.path(), &base, cases);
    // Clones write their own data (each its own seed, as fio's jobs): no 4 KiB block of one
    // clone's file is in the other's (before: the same data, deduplicated to one copy).
    let d = tempdir();
    let out = job(d.path(), "c")
        .args(&["--rw=write", "--size=1m", "--numjobs=2", "--refill_buffers"])
        .run();
    assert!(out.status.success());
    let a = std::fs::read(d.path().join("c.0.0")).unwrap();
    let b = std::fs::read(d.path().join("c.1.0")).unwrap();
    let theirs: std::collections::HashSet<&[u8]> = b.chunks(4096).collect();
    assert!(
        a.chunks(4096).all(|blk| !theirs.contains(blk)),
        "clones share data"
    );
    // buffer_pattern: the pattern, repeated from each buffer's start; %o (a diorite extension)
    // the block's offset.
    let f = dir.path().join("f.dat");
    let _ = std::fs::remove_file(&f);
    let mut args = base.to_vec();
    args.push("--buffer_pattern=0xdeadbeef\"ok\"%o");
    assert!(bench_in(dir.path(), &args).status.success());
    let d = std::fs::read(&f).unwrap();
    for (i, b) in d.chunks(4096).enumerate() {
        let mut one = vec![0xde, 0xad, 0xbe, 0xef, b'o', b'k'];
        one.extend_from_slice(&(i as u64 * 4096).to_le_bytes());
        let want: Vec<u8> = one.iter().copied().cycle().take(4096).collect();
        assert_eq!(b, &want[..], "block {i}");
    }
}

/// The layout — the data a reading job (or a writing job with `overwrite`) finds in a new file
/// — is what fio's `extend_file` writes: the job's write buffers block by block, random by
/// default, else as its data options say (before: 0xa5 bytes, which compress to nothing).
/// Measured as above, and side by side with fio's layout when installed. A write job without
/// `overwrite` lays nothing out (its file is a hole until written), with it the whole region.
#[test]
fn layouts_hold_fios_data_and_overwrite_lays_out_for_writes() {
    let dir = tempdir();
    let base = [
        "--name=l",
        "--filename=f.dat",
        "--rw=read",
        "--bs=4k",
        "--size=4m",
    ];
    let cases: &[Case] = &[
        (&[], (0.99, 1.01), (1024, 1024)),
        (
            &["--buffer_compress_percentage=60"],
            (0.38, 0.45),
            (1024, 1024),
        ),
        (&["--dedupe_percentage=50"], (0.40, 0.60), (430, 590)),
        (&["--zero_buffers"], (0.0, 0.01), (1, 1)),
        (&["--bs=64k"], (0.99, 1.01), (1024, 1024)),
    ];
    data_shapes_match(dir.path(), &base, cases);
    let f = dir.path().join("f.dat");
    use std::os::unix::fs::MetadataExt;
    for (overwrite, allocated) in [("0", false), ("1", true)] {
        let w = [
            "--name=o",
            "--filename=f.dat",
            "--rw=randwrite",
            "--size=1m",
            "--number_ios=4",
        ];
        let o = format!("--overwrite={overwrite}");
        let args: Vec<&str> = w
            .iter()
            .copied()
            .chain([o.as_str(), "--fallocate=none"])
            .collect();
        let _ = std::fs::remove_file(&f);
        assert!(bench_in(dir.path(), &args).status.success());
        let m = std::fs::metadata(&f).unwrap();
        assert_eq!(
            m.blocks() * 512 >= 1 << 20,
            allocated,
            "overwrite={overwrite}: {m:?}"
        );
        if allocated {
            assert_eq!(m.len(), 1 << 20);
            assert!(written_data(&f).0 > 0.9, "the layout is random data");
        }
        std::fs::remove_file(&f).unwrap();
        if common::fio_in(dir.path(), &args).is_some() {
            let m = std::fs::metadata(&f).unwrap();
            assert_eq!(
                m.blocks() * 512 >= 1 << 20,
                allocated,
                "fio, overwrite={overwrite}"
            );
        }
    }
}

/// Verify with job clones (fio's examples use it): clones with their own files, or kept
/// apart on one file by `offset_increment`, each verify their own blocks; on one shared region
/// they would overwrite each other, and that is refused by name.
#[test]
fn verify_with_clones_that_cannot_overwrite_each_other() {
    let dir = tempdir();
    for extra in [&["--filename=f", "--offset_increment=1m"][..], &[][..]] {
        let mut a = vec![
            "--name=v",
            "--size=1m",
            "--numjobs=3",
            "--rw=randwrite",
            "--verify=crc32c",
            "--output-format=json",
        ];
        a.extend(extra);
        let out = bench_in(dir.path(), &a);
        assert!(out.status.success(), "{extra:?}: {}", common::stderr(&out));
        let v = json(&out);
        for k in 0..3 {
            let vr = &v["jobs"][k]["diorite"]["verify"];
            assert_eq!(
                (vr["blocks"].as_u64(), vr["errors"].as_u64()),
                (Some(256), Some(0))
            );
        }
    }
    let out = job(dir.path(), "v")
        .args(&[
            "--filename=g",
            "--size=1m",
            "--numjobs=2",
            "--rw=write",
            "--verify=md5",
        ])
        .run();
    assert!(common::stderr(&out).contains("numjobs > 1 on shared files"));
}

/// A reading job with verify (`rw=read` or `randread`, with or without `verify_only`) checks
/// what an earlier verify job wrote — every block of its region once, in its own order — and
/// reads nothing else: a clean region passes (also under `--readonly`), a corrupted block
/// fails the job naming its offset, and options that would read a block twice or not at all
/// are refused by name. fio the same with its own writer, when installed.
#[test]
fn a_reading_job_with_verify_checks_what_a_writer_left() {
    let dir = tempdir();
    let base = [
        "--name=w",
        "--filename=vf",
        "--size=256k",
        "--verify=crc32c",
    ];
    let run = |extra: &[&str]| bench_in(dir.path(), &[&base[..], extra].concat());
    assert!(run(&["--rw=randwrite"]).status.success());
    for extra in [
        &["--rw=read"][..],
        &["--rw=randread"],
        &["--rw=read", "--verify_only"],
        &["--rw=read", "--readonly"],
    ] {
        let out = run(extra);
        assert!(out.status.success(), "{extra:?}: {}", common::stderr(&out));
        let v = json(&run(&[extra, &["--output-format=json"]].concat()));
        assert_eq!(v["jobs"][0]["read"]["io_bytes"], 256 << 10, "{extra:?}");
        assert!(
            v["jobs"][0]["write"]["io_bytes"].as_u64().unwrap_or(0) == 0,
            "{extra:?}"
        );
    }
    let f = dir.path().join("vf");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[5 * 4096 + 77] ^= 0x10;
    std::fs::write(&f, &bytes).unwrap();
    let out = run(&["--rw=read"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("bad block at offset 20480"),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(
        std::fs::read(&f).unwrap(),
        bytes,
        "a verify pass writes nothing"
    );
    for (extra, want) in [
        (
            &["--rw=read", "--time_based", "--runtime=1"][..],
            "checks its region once",
        ),
        (&["--rw=randread", "--norandommap"], "each block once"),
        (&["--rw=randrw"], "verify needs rw=write"),
    ] {
        let out = run(extra);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        assert!(
            common::stderr(&out).contains(want),
            "{extra:?}: {}",
            common::stderr(&out)
        );
    }
    std::fs::remove_file(&f).unwrap();
    let fio_args = |rw: &str| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain([format!("--rw={rw}"), "--output=/dev/null".into()])
            .collect()
    };
    let fio = |rw: &str| {
        let a = fio_args(rw);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        common::fio_may_fail(dir.path(), &a).map(|o| o.status.success())
    };
    if fio("randwrite") == Some(true) {
        assert_eq!(
            fio("read"),
            Some(true),
            "fio's reader passes over fio's writer"
        );
        let mut bytes = std::fs::read(&f).unwrap();
        bytes[5 * 4096 + 77] ^= 0x10;
        std::fs::write(&f, &bytes).unwrap();
        assert_eq!(fio("read"), Some(false), "and fails on the corrupted block");
    }
}

/// Verify with `loops`: fio writes and verifies each loop in turn, so a 3-loop job writes and
/// reads its region three times and checks every block each time (192 block checks for 64
/// blocks); the write generation moves on each loop. Side by side with fio: the same bytes
/// written and read. A verify state over loops is refused by name.
#[test]
fn verify_with_loops_checks_after_every_loop() {
    let dir = tempdir();
    for rw in ["--rw=randwrite", "--rw=write"] {
        let args = [
            "--name=v",
            "--filename=vl",
            "--size=256k",
            rw,
            "--verify=crc32c",
            "--loops=3",
        ];
        let out = bench_in(dir.path(), &args);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("192 blocks (768.0KiB) checked with crc32c, 0 bad"),
            "{text}"
        );
        let v = json(&bench_in(
            dir.path(),
            &[&args[..], &["--output-format=json"]].concat(),
        ));
        let ours = (
            v["jobs"][0]["write"]["io_bytes"].clone(),
            v["jobs"][0]["read"]["io_bytes"].clone(),
        );
        let kib768 = serde_json::Value::from(768u64 << 10);
        assert_eq!(ours, (kib768.clone(), kib768));
        std::fs::remove_file(dir.path().join("vl")).unwrap();
        if let Some(f) =
            common::fio_in(dir.path(), &[&args[..], &["--output-format=json"]].concat())
        {
            let f: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
            assert_eq!(
                (
                    f["jobs"][0]["write"]["io_bytes"].clone(),
                    f["jobs"][0]["read"]["io_bytes"].clone()
                ),
                ours,
                "fio, {rw}"
            );
            std::fs::remove_file(dir.path().join("vl")).unwrap();
        }
    }
    let out = bench_in(
        dir.path(),
        &[
            "--name=v",
            "--filename=vl",
            "--size=64k",
            "--rw=write",
            "--verify=crc32c",
            "--loops=2",
            "--fsync=4",
        ],
    );
    assert!(
        common::stderr(&out).contains("loops with a verify state"),
        "{}",
        common::stderr(&out)
    );
}

/// `(distinct 4 KiB blocks, distinct contents written more than once)` of a file, and how
/// many of `a`'s blocks are also in `b`.
fn dedupe_shape(path: &Path) -> (usize, usize) {
    let d = std::fs::read(path).unwrap();
    let mut counts = std::collections::HashMap::new();
    for b in d.chunks(4096) {
        *counts.entry(b).or_insert(0u32) += 1;
    }
    (counts.len(), counts.values().filter(|&&n| n > 1).count())
}

fn shared_blocks(a: &Path, b: &Path) -> usize {
    let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    let theirs: std::collections::HashSet<&[u8]> = b.chunks(4096).collect();
    a.chunks(4096).filter(|x| theirs.contains(x)).count()
}

/// fio's `dedupe_mode=working_set`: a duplicate repeats one of the job's first unique buffers
/// (`dedupe_working_set_percentage` of its size), so the repeated contents are about the set's
/// 409 buffers where `repeat` spreads them over all ~1000; `dedupe_global` makes the clones'
/// sets out of each other's first buffers, so one clone's file holds about half of the
/// other's blocks (none without it). fio the same, when installed (within the draws' spread);
/// fio's refusals (no size, set + duplicates above 100%) too.
#[test]
fn dedupe_working_set_and_global_shape_duplicates_as_fios() {
    let dir = tempdir();
    let run = |extra: &[&str], fio: bool| -> Option<(usize, usize, usize)> {
        for f in ["d.0.0", "d.1.0"] {
            let _ = std::fs::remove_file(dir.path().join(f));
        }
        let mut a = vec![
            "--name=d",
            "--size=16m",
            "--rw=write",
            "--dedupe_percentage=50",
        ];
        a.extend_from_slice(extra);
        a.push("--output=/dev/null");
        if fio {
            common::fio_in(dir.path(), &a)?;
        } else {
            let out = bench_in(dir.path(), &a);
            assert!(out.status.success(), "{}", common::stderr(&out));
        }
        let (distinct, repeated) = dedupe_shape(&dir.path().join("d.0.0"));
        let b = dir.path().join("d.1.0");
        let shared = if b.exists() {
            shared_blocks(&dir.path().join("d.0.0"), &b)
        } else {
            0
        };
        Some((distinct, repeated, shared))
    };
    let ws = [
        "--dedupe_mode=working_set",
        "--dedupe_working_set_percentage=10",
    ];
    for fio in [false, true] {
        let Some((distinct, repeated, _)) = run(&["--dedupe_mode=repeat"], fio) else {
            continue;
        };
        assert!(
            (1900..2250).contains(&distinct) && repeated > 900,
            "fio={fio} repeat: {distinct} {repeated}"
        );
        let (distinct, repeated, _) = run(&ws, fio).unwrap();
        assert!(
            (1900..2250).contains(&distinct),
            "fio={fio} working set: {distinct}"
        );
        assert!(
            (380..=409).contains(&repeated),
            "fio={fio} working set: {repeated} repeated"
        );
        let two = [&ws[..], &["--numjobs=2"]].concat();
        assert_eq!(
            run(&two, fio).unwrap().2,
            0,
            "fio={fio}: apart without dedupe_global"
        );
        let shared = run(&[&two[..], &["--dedupe_global=1"]].concat(), fio)
            .unwrap()
            .2;
        assert!(
            (1700..2700).contains(&shared),
            "fio={fio}: {shared} blocks shared with dedupe_global"
        );
    }
    for (extra, want) in [
        (
            &["--filename=x", "--dedupe_mode=working_set"][..],
            "needs size",
        ),
        (
            &[
                "--size=1m",
                "--dedupe_mode=working_set",
                "--dedupe_working_set_percentage=60",
            ][..],
            "cannot be reached",
        ),
    ] {
        let mut a = vec!["--name=d", "--rw=write", "--dedupe_percentage=50"];
        a.extend_from_slice(extra);
        let out = bench_in(dir.path(), &a);
        assert!(
            common::stderr(&out).contains(want),
            "{extra:?}: {}",
            common::stderr(&out)
        );
    }
}

/// The null engine moves no data, and fio's verify pretends everything a null job reads back
/// verified (`FIO_FAKEIO`): a null job with a checksum verify — how fio scripts measure the
/// harness's own verify cost — succeeds, every block read back, at the synchronous depth 1 and
/// through the engine at depth 8. (Before, diorite reported every block bad and exited 1.)
#[test]
fn a_null_job_with_verify_pretends_as_fio_does() {
    let args = |depth: &str| {
        [
            "--name=n",
            "--ioengine=null",
            "--size=4m",
            "--bs=4k",
            "--rw=randwrite",
            "--verify=crc32c",
            &format!("--iodepth={depth}"),
            "--output-format=json",
        ]
        .map(String::from)
    };
    let dir = common::tempdir();
    // fio beside it, in its own directory: it saves a verify state file there.
    let fio_dir = common::tempdir();
    for qd in ["1", "8"] {
        let a = args(qd);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = common::bench_in(dir.path(), &a);
        assert!(
            out.status.success(),
            "iodepth={qd}: {}",
            common::stderr(&out)
        );
        let j = &common::json(&out)["jobs"][0];
        assert_eq!(j["error"], 0, "iodepth={qd}");
        assert_eq!(j["write"]["total_ios"], 1024, "iodepth={qd}");
        assert_eq!(
            j["read"]["total_ios"], 1024,
            "iodepth={qd}: the verify reads"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "a null job made a file"
        );
        if let Some(f) = common::fio_in(fio_dir.path(), &a) {
            assert_eq!(
                common::json(&f)["jobs"][0]["error"],
                0,
                "fio at iodepth={qd}"
            );
        }
    }
}
