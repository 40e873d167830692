//! fio's offsets and patterns: trims, distributions, alignment, offset modifiers, random
//! generators, strided zones, block sizes per direction.
//! Every test runs the real binary; those that compare with fio skip that part when fio is
//! not installed. Each came with a fix and failed on the code before it.

mod common;

use common::{bench_in, blocks_written, job, tempdir};
use std::path::Path;

/// The offsets a job's I/Os went to, in issue order, from its `write_iops_log` with
/// `log_offset=1` (block numbers of `bs` bytes).
fn offsets_logged(dir: &Path, args: &[&str], bs: u64) -> Vec<u64> {
    let mut a = args.to_vec();
    a.extend(["--write_iops_log=trace", "--log_offset=1"]);
    let out = bench_in(dir, &a);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let log = std::fs::read_to_string(dir.join("trace_iops.1.log")).unwrap();
    std::fs::remove_file(dir.join("trace_iops.1.log")).unwrap();
    log.lines()
        .map(|l| l.split(", ").nth(4).unwrap().trim().parse::<u64>().unwrap() / bs)
        .collect()
}

/// fio's trim patterns. trim / randtrim discard the job's range (fio counts them in
/// its own `trim` section, text and JSON); trimwrite / randtrimwrite trim each range and write
/// the same range, `size` bytes of each; fio trims block devices only, so a regular file is
/// refused by name before anything is created.
#[test]
fn trim_patterns_discard_and_are_counted_as_fio_counts_them() {
    let dir = common::tempdir();
    let file = dir.path().join("plain");
    let out = common::bench(&[
        "--name=t",
        &format!("--filename={}", file.display()),
        "--size=1m",
        "--rw=trim",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("rw=trim") && err.contains("block devices only"),
        "{err}"
    );
    assert!(!file.exists(), "a refused trim job created its file");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: the trim runs need root for a loop device; CI runs as root");
        return;
    }
    let img = dir.path().join("img");
    std::fs::write(&img, vec![0x5a; 16 << 20]).unwrap();
    let Some(lo) = common::LoopDev::over(&img, 4096) else {
        return;
    };
    let dev = lo.dev.display().to_string();
    use std::os::unix::fs::MetadataExt;
    let allocated = || std::fs::metadata(&img).unwrap().blocks() * 512;
    let before = allocated();
    let run = |extra: &[&str]| {
        let mut a = vec![
            "--name=t",
            "--bs=64k",
            "--direct=1",
            "--iodepth=4",
            "--output-format=json",
        ];
        let f = format!("--filename={dev}");
        a.push(&f);
        a.extend_from_slice(extra);
        common::json(&common::bench(&a))["jobs"][0].clone()
    };
    let j = run(&["--rw=trim", "--size=8m", "--ioengine=io_uring"]);
    assert_eq!(j["trim"]["io_bytes"].as_u64(), Some(8 << 20), "{j}");
    assert_eq!(j["trim"]["total_ios"].as_u64(), Some(128));
    assert_eq!(
        (
            j["read"]["io_bytes"].as_u64(),
            j["write"]["io_bytes"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert!(
        j["trim"]["clat_ns"]["N"].as_u64() == Some(128),
        "trim latencies are recorded"
    );
    // The loop driver punched the trimmed range out of its backing file.
    assert!(
        before - allocated() >= 8 << 20,
        "{before} -> {}",
        allocated()
    );
    for (rw, engine) in [
        ("randtrim", "psync"),
        ("trimwrite", "libaio"),
        ("randtrimwrite", "threads"),
    ] {
        let j = run(&[
            &format!("--rw={rw}"),
            "--size=4m",
            "--offset=8m",
            &format!("--ioengine={engine}"),
        ]);
        assert_eq!(j["trim"]["io_bytes"].as_u64(), Some(4 << 20), "{rw}: {j}");
        let writes = if rw.ends_with("write") { 4 << 20 } else { 0 };
        assert_eq!(j["write"]["io_bytes"].as_u64(), Some(writes), "{rw}: {j}");
    }
}

/// fio's `random_distribution=zoned` / `zoned_abs`: writes land only in the zones that get
/// accesses, in proportion (seeded, so exact counts are reproducible; checked loosely).
#[test]
fn zoned_distributions_put_the_accesses_in_their_zones() {
    let dir = tempdir();
    let written = |dist: &str| {
        let d = format!("--random_distribution={dist}");
        let args = [
            "--size=4m",
            "--rw=randwrite",
            "--number_ios=400",
            "--norandommap",
            &d,
        ];
        blocks_written(dir.path(), 4 << 20, &args)
    };
    // All accesses in the first 10% of the 1024 blocks.
    let w = written("zoned:100/10:0/90");
    assert!(w.len() > 50 && w.iter().all(|b| *b < 103), "{w:?}");
    // The same by absolute size.
    assert_eq!(
        written("zoned_abs:100/64k:0/3m"),
        (0..16).collect::<Vec<_>>()
    );
    // Half the accesses in the first 5%: that zone is nearly full, the rest sparse.
    let w = written("zoned:50/5:50/");
    let hot = w.iter().filter(|b| **b < 51).count();
    let cold = w.len() - hot;
    assert!(hot > 45 && cold > 100 && cold < 250, "{hot} {cold}");
    // Refused by name: access percentages not adding up to 100.
    let args = [
        "--name=z",
        "--random_distribution=zoned:50/5:30/15",
        "--parse_only",
    ];
    let out = bench_in(dir.path(), &args);
    let err = common::stderr(&out);
    assert!(err.contains("add up to 80, not 100"), "{err}");
}

/// fio's `blockalign`: random offsets are multiples of it, whatever the block size.
#[test]
fn blockalign_aligns_random_offsets() {
    let dir = tempdir();
    let args = [
        "--size=4m",
        "--rw=randwrite",
        "--number_ios=200",
        "--blockalign=16k",
    ];
    let w = blocks_written(dir.path(), 4 << 20, &args);
    assert!(w.len() > 100, "{}", w.len());
    assert!(
        w.iter().all(|i| i % 4 == 0),
        "an offset not 16k-aligned: {w:?}"
    );
    // Finer than the job's blocks: refused by name.
    let out = job(dir.path(), "ba")
        .args(&["--bs=8k", "--blockalign=4k", "--parse_only"])
        .run();
    let err = common::stderr(&out);
    assert!(err.contains("blockalign=4096 is not a multiple"), "{err}");
}

/// fio's offset modifier, seen in which blocks of a zeroed file some writes touch: `write:4k`
/// leaves holes, `write:-8k` goes backwards from the end after the first block (fio's
/// get_next_seq_offset), `randwrite:4` takes a new random offset every 4th I/O with the ones
/// between following it (`rw_sequencer=sequential`) or repeating it (`identical`).
#[test]
fn offset_modifiers_leave_holes_go_backwards_and_group_random_ios() {
    let dir = tempdir();
    let small = |rw: &str| {
        let rw = format!("--rw={rw}");
        blocks_written(dir.path(), 1 << 20, &["--size=64k", "--number_ios=4", &rw])
    };
    assert_eq!(small("write:4k"), [0, 2, 4, 6]);
    // 16 blocks: 0, then from the end backwards (fio's wrap: the region's end plus -8k).
    assert_eq!(small("write:-8k"), [0, 12, 13, 14]);
    // 256 blocks: 0, 1, 2 (fio starts with the sequential ones), a random R, R+1..R+3, ...
    let rand = [
        "--size=1m",
        "--number_ios=8",
        "--rw=randwrite:4",
        "--norandommap",
    ];
    let seq = blocks_written(dir.path(), 1 << 20, &rand);
    assert!(seq.starts_with(&[0, 1, 2]) && seq.len() >= 6, "{seq:?}");
    let same = blocks_written(
        dir.path(),
        1 << 20,
        &[&rand[..], &["--rw_sequencer=identical"]].concat(),
    );
    assert!(same.len() <= 3 && same[0] == 0, "{same:?}");
    // With verify: the blocks a modifier's pattern wrote are checked, holes are not (a 2 MiB
    // region of 16 KiB blocks written every 128 KiB: 16 blocks, over 8 passes).
    for (rw, blocks) in [("write:112k", Some(16)), ("randwrite:4", None)] {
        let v = job(dir.path(), "v")
            .args(&[
                "--filename=vf",
                "--size=2m",
                "--bs=16k",
                &format!("--rw={rw}"),
                "--verify=crc32c",
                "--ioengine=libaio",
                "--direct=1",
            ])
            .json();
        let vr = &v["jobs"][0]["diorite"]["verify"];
        assert_eq!(vr["errors"], 0, "{rw}: {vr}");
        let n = vr["blocks"].as_u64().unwrap();
        assert!(blocks.map_or(n > 0, |b| n == b), "{rw}: {vr}");
        std::fs::remove_file(dir.path().join("vf")).unwrap();
    }
}

/// fio's `random_generator`: `lfsr` visits every block
/// exactly once per pass without a random map (here with `norandommap`: 2 passes of 256
/// blocks, each a permutation), where `tausworthe` without the map repeats blocks within a
/// pass; `lfsr` with a skewed distribution is refused by name.
#[test]
fn lfsr_visits_each_block_once_per_pass_without_a_map() {
    let dir = tempdir();
    let base = [
        "--name=r",
        "--filename=f",
        "--size=1m",
        "--io_size=2m",
        "--rw=randread",
        "--norandommap",
    ];
    let passes = |gen: &str| -> Vec<Vec<u64>> {
        let mut a = base.to_vec();
        let g = format!("--random_generator={gen}");
        a.push(&g);
        let offs = offsets_logged(dir.path(), &a, 4096);
        assert_eq!(offs.len(), 512, "{gen}");
        offs.chunks(256).map(|c| c.to_vec()).collect()
    };
    for pass in passes("lfsr") {
        let mut sorted = pass.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..256).collect::<Vec<u64>>(),
            "lfsr: a permutation"
        );
        assert_ne!(pass, sorted, "lfsr: not in order");
    }
    for gen in ["tausworthe", "tausworthe64"] {
        let pass = &passes(gen)[0];
        let mut sorted = pass.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert!(sorted.len() < 256, "{gen} without a map repeats blocks");
    }
    let out = job(dir.path(), "r")
        .args(&[
            "--filename=f",
            "--rw=randread",
            "--random_generator=lfsr",
            "--random_distribution=zipf:1.2",
        ])
        .run();
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stderr(&out).contains("random_generator=lfsr"));
}

/// fio's `percentage_random` (io_u.c `should_do_random`): of a random pattern's I/Os about
/// this share is random, the others continue right after the direction's last I/O (seen in
/// the trace: the share of I/Os that start where the one before ended); 0 is sequential.
#[test]
fn percentage_random_mixes_sequential_into_random_patterns() {
    let dir = tempdir();
    let follows = |perc: &str| -> f64 {
        let p = format!("--percentage_random={perc}");
        let offs = offsets_logged(
            dir.path(),
            &[
                "--name=r",
                "--filename=f",
                "--size=64m",
                "--number_ios=2000",
                "--rw=randread",
                &p,
            ],
            4096,
        );
        let seq = offs.windows(2).filter(|w| w[1] == w[0] + 1).count();
        seq as f64 / (offs.len() - 1) as f64
    };
    assert!(follows("100") < 0.01);
    assert!(follows("0") > 0.99);
    let f = follows("75");
    assert!((0.20..0.30).contains(&f), "{f}");
    let f = follows("50,100");
    assert!((0.45..0.55).contains(&f), "reads at 50%: {f}");
}

/// fio's `zonemode=strided` (io_u.c `setup_strided_zone_mode`), from an I/O trace: the
/// pattern stays in a zone of `zonerange` bytes until `zonesize` bytes were transferred (so a
/// zonesize above the range revisits the zone), then moves `zonerange + zoneskip` on; as in
/// fio 3.33, `zonesize` without `zonemode=strided` is refused, and strided needs a
/// `zonesize`. With fio installed, fio's trace for the same job is the same.
#[test]
fn strided_zones_move_through_the_region_as_fios_do() {
    let dir = tempdir();
    let base = [
        "--name=z",
        "--filename=f",
        "--size=1m",
        "--number_ios=12",
        "--rw=read",
        "--ioengine=psync",
    ];
    let cases: &[(&[&str], &[u64])] = &[
        (
            &["--zonemode=strided", "--zonesize=16k", "--zoneskip=48k"],
            &[0, 1, 2, 3, 16, 17, 18, 19, 32, 33, 34, 35],
        ),
        (
            &[
                "--zonemode=strided",
                "--zonesize=32k",
                "--zonerange=16k",
                "--zoneskip=16k",
            ],
            &[0, 1, 2, 3, 0, 1, 2, 3, 8, 9, 10, 11],
        ),
    ];
    for (extra, want) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        assert_eq!(offsets_logged(dir.path(), &args, 4096), *want, "{extra:?}");
        let mut a = args.clone();
        a.extend([
            "--write_iops_log=fio",
            "--log_offset=1",
            "--output=/dev/null",
        ]);
        if common::fio_in(dir.path(), &a).is_some() {
            let log = std::fs::read_to_string(dir.path().join("fio_iops.1.log")).unwrap();
            let theirs: Vec<u64> = log
                .lines()
                .map(|l| l.split(", ").nth(4).unwrap().trim().parse::<u64>().unwrap() / 4096)
                .collect();
            assert_eq!(theirs, *want, "fio {extra:?}");
        }
    }
    let out = job(dir.path(), "z")
        .args(&["--filename=f", "--zonemode=strided", "--size=1m"])
        .run();
    assert!(common::stderr(&out).contains("needs zonesize"));
    let out = job(dir.path(), "z")
        .args(&["--filename=f", "--zonesize=16k", "--size=1m"])
        .run();
    assert!(common::stderr(&out).contains("zonemode=none (the default) and zonesize"));
}

/// fio's per-direction block sizes: `bs=R,W`, `bsrange` and `bssplit` with a comma
/// give reads and writes their own sizes (an empty part leaves a direction's default), seen in
/// a mixed job's I/O log (direction and size of every I/O).
#[test]
fn block_sizes_per_direction() {
    let dir = tempdir();
    let sizes = |extra: &[&str]| -> [std::collections::BTreeSet<u64>; 2] {
        let mut a = vec![
            "--name=m",
            "--filename=f",
            "--size=4m",
            "--rw=randrw",
            // (With the random map, an I/O meeting a block already done is shortened, as
            // fio's mark_random_map does.)
            "--norandommap",
            "--number_ios=400",
            "--write_iops_log=bsd",
        ];
        a.extend(extra);
        let out = bench_in(dir.path(), &a);
        assert!(out.status.success(), "{extra:?}: {}", common::stderr(&out));
        let log = std::fs::read_to_string(dir.path().join("bsd_iops.1.log")).unwrap();
        let mut s: [std::collections::BTreeSet<u64>; 2] = Default::default();
        for l in log.lines() {
            let f: Vec<&str> = l.split(", ").collect();
            s[f[2].parse::<usize>().unwrap()].insert(f[3].parse().unwrap());
        }
        s
    };
    let set = |v: &[u64]| {
        v.iter()
            .copied()
            .collect::<std::collections::BTreeSet<u64>>()
    };
    assert_eq!(sizes(&["--bs=4k,16k"]), [set(&[4096]), set(&[16384])]);
    assert_eq!(sizes(&["--bs=,8k"]), [set(&[4096]), set(&[8192])]);
    assert_eq!(
        sizes(&["--bssplit=4k/50:8k/50,64k/100"]),
        [set(&[4096, 8192]), set(&[65536])]
    );
    assert_eq!(
        sizes(&["--bsrange=4k-4k,8k-16k"]),
        [set(&[4096]), set(&[8192, 16384])]
    );
}

/// fio's seeds: `randrepeat=0` draws new sequences each run — unless `randseed` is given,
/// which holds whatever randrepeat says; `allrandrepeat=1` takes one fixed seed for every
/// sequence, whatever randrepeat and randseed say (fio's `td_fill_rand_seeds`). Shown on the
/// bytes a random writer leaves (offsets and data); fio the same, when installed.
#[test]
fn randseed_and_allrandrepeat_fix_the_sequences_as_fios_do() {
    let dir = tempdir();
    let digest = |extra: &[&str], fio: bool| -> Option<Vec<u8>> {
        let f = dir.path().join("ar");
        let _ = std::fs::remove_file(&f);
        let mut args = vec![
            "--name=a",
            "--filename=ar",
            "--size=256k",
            "--rw=randwrite",
            "--refill_buffers",
        ];
        args.extend_from_slice(extra);
        if fio {
            args.push("--output=/dev/null");
            common::fio_in(dir.path(), &args)?;
        } else {
            let out = bench_in(dir.path(), &args);
            assert!(out.status.success(), "{}", common::stderr(&out));
        }
        Some(std::fs::read(&f).unwrap())
    };
    for fio in [false, true] {
        let same =
            |a: &[&str], b: &[&str]| -> Option<bool> { Some(digest(a, fio)? == digest(b, fio)?) };
        let Some(clock) = same(&["--randrepeat=0"], &["--randrepeat=0"]) else {
            continue;
        };
        assert!(!clock, "fio={fio}: randrepeat=0 draws new sequences");
        assert_eq!(
            same(
                &["--randrepeat=0", "--randseed=9"],
                &["--randrepeat=0", "--randseed=9"]
            ),
            Some(true),
            "fio={fio}"
        );
        assert_eq!(
            same(&["--randseed=9"], &["--randseed=10"]),
            Some(false),
            "fio={fio}"
        );
        let all = ["--randrepeat=0", "--allrandrepeat=1"];
        assert_eq!(same(&all, &all), Some(true), "fio={fio}");
        assert_eq!(
            same(
                &["--allrandrepeat=1", "--randseed=5"],
                &["--allrandrepeat=1", "--randseed=7"]
            ),
            Some(true),
            "fio={fio}: allrandrepeat ignores randseed"
        );
    }
}
