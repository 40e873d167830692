//! fio's files and layout: file sizes, file sets, unlinking, filling a device, creating on open.
//! Every test runs the real binary; those that compare with fio skip that part when fio is
//! not installed. Each came with a fix and failed on the code before it.

mod common;

use common::{bench_in, blocks_written, job, json, tempdir};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The files of a run in `dir` (recursively, relative names) with their sizes and allocated
/// bytes, sorted.
fn files_in(dir: &Path) -> Vec<(String, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                todo.push(e.path());
            } else {
                let name = e.path().strip_prefix(dir).unwrap().display().to_string();
                out.push((name, m.len(), m.blocks() * 512));
            }
        }
    }
    out.sort();
    out
}

/// fio's `filesize`: the file gets that size, and `size` only sets how much I/O the job does
/// (the default `io_size`); a range picks one size in it, a whole number of blocks, the same
/// for the same seed.
#[test]
fn filesize_sizes_the_file_and_size_becomes_the_io_amount() {
    let dir = tempdir();
    let v = job(dir.path(), "fs")
        .args(&[
            "--filename=f",
            "--filesize=2m",
            "--size=8m",
            "--rw=write",
            "--bs=64k",
        ])
        .json();
    assert_eq!(
        std::fs::metadata(dir.path().join("f")).unwrap().len(),
        2 << 20
    );
    assert_eq!(
        v["jobs"][0]["write"]["io_bytes"],
        8 << 20,
        "four passes over the 2 MiB file"
    );
    let sized = |seed: &str| {
        let out = job(dir.path(), "r")
            .args(&[
                "--filesize=1m-3m",
                "--bs=4k",
                &format!("--randseed={seed}"),
                "--parse_only",
            ])
            .run();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let size: u64 = text
            .split("size=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        size
    };
    let a = sized("7");
    assert!((1 << 20..=3 << 20).contains(&a) && a % 4096 == 0, "{a}");
    assert_eq!(sized("7"), a, "the same seed, the same size");
    // A range with several files: each file its own size in the range (fio's
    // get_rand_file_size), whole blocks; the job writes them all.
    let d = tempdir();
    let v = json(
        &job(d.path(), "w")
            .args(&[
                "--rw=write",
                "--nrfiles=6",
                "--filesize=16k-64k",
                "--output-format=json",
            ])
            .run(),
    );
    let sizes: Vec<u64> = files_in(d.path()).iter().map(|f| f.1).collect();
    assert_eq!(sizes.len(), 6);
    assert!(
        sizes
            .iter()
            .all(|s| (16384..=65536).contains(s) && s % 4096 == 0),
        "{sizes:?}"
    );
    assert!(
        sizes.iter().any(|s| *s != sizes[0]),
        "one size for all: {sizes:?}"
    );
    assert_eq!(
        v["jobs"][0]["write"]["io_bytes"].as_u64().unwrap(),
        sizes.iter().sum::<u64>()
    );
}

/// fio's `unlink`: the job's files are deleted when it is done — ones it made and, as in fio,
/// ones that were there before.
#[test]
fn unlink_deletes_the_jobs_files_when_done() {
    let dir = tempdir();
    let made = dir.path().join("made");
    let old = dir.path().join("old");
    std::fs::write(&old, vec![7u8; 64 << 10]).unwrap();
    for (f, rw) in [(&made, "write"), (&old, "read")] {
        let file = format!("--filename={}", f.display());
        let rw = format!("--rw={rw}");
        let args = [
            "--name=u",
            &file,
            "--size=64k",
            &rw,
            "--unlink=1",
            "--output-format=json",
        ];
        let v = json(&bench_in(dir.path(), &args));
        assert!(v["jobs"][0]["job_runtime"].as_u64().is_some());
        assert!(!f.exists(), "{} is still there", f.display());
    }
    // Without unlink the file stays.
    let file = format!("--filename={}", made.display());
    job(dir.path(), "u")
        .args(&[&file, "--size=64k", "--rw=write"])
        .json();
    assert!(made.exists());
}

/// fio's file sets: `nrfiles` files per clone named by
/// `filename_format` in the clone's `directory` of a `:` list; `file_service_type` decides
/// which file each I/O goes to (seen in the bytes each file received, with `fallocate=none`
/// so a file's size is where its writes ended; `openfiles` limits the files served at a
/// time); `fallocate` reserves a writer's region; `allow_file_create=0` is refused, creating
/// nothing.
/// With fio installed, fio makes the same files with the same sizes.
#[test]
fn file_sets_name_place_serve_and_preallocate_files_as_fio_does() {
    let base = [
        "--name=w",
        "--rw=write",
        "--bs=4k",
        "--size=96k",
        "--nrfiles=3",
        "--ioengine=psync",
        "--fallocate=none",
    ];
    let k = |n: u64| n * 4096;
    let cases: &[(&[&str], &[u64])] = &[
        // 10 I/Os: sequential fills file 0's 8 blocks, then 2 in file 1.
        (
            &["--file_service_type=sequential", "--number_ios=10"],
            &[k(8), k(2), 0],
        ),
        // Round robin: 4, 3, 3.
        (&["--number_ios=10"], &[k(4), k(3), k(3)]),
        // Two I/Os per file before moving on: 2+2, 2+2, 2.
        (
            &["--file_service_type=roundrobin:2", "--number_ios=10"],
            &[k(4), k(4), k(2)],
        ),
        // The whole size: every file its share, whatever the service.
        (&["--file_service_type=random"], &[k(8), k(8), k(8)]),
        // openfiles: one file open at a time makes round robin go file by file; with two,
        // the third opens when the first is done.
        (&["--openfiles=1", "--number_ios=10"], &[k(8), k(2), 0]),
        (&["--openfiles=2", "--number_ios=20"], &[k(8), k(8), k(4)]),
    ];
    for (extra, sizes) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        let dir = tempdir();
        let out = bench_in(dir.path(), &args);
        assert!(out.status.success(), "{extra:?}: {}", common::stderr(&out));
        let got: Vec<(String, u64)> = files_in(dir.path())
            .into_iter()
            .map(|(n, s, _)| (n, s))
            .collect();
        let want: Vec<(String, u64)> = sizes
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("w.0.{i}"), *s))
            .collect();
        assert_eq!(got, want, "{extra:?}");
        let fdir = tempdir();
        let fio_args: Vec<&str> = args.iter().copied().chain(["--output=/dev/null"]).collect();
        if common::fio_in(fdir.path(), &fio_args).is_some() {
            let theirs: Vec<(String, u64)> = files_in(fdir.path())
                .into_iter()
                .map(|(n, s, _)| (n, s))
                .collect();
            assert_eq!(got, theirs, "{extra:?}: fio's files");
        }
    }
    // A random service switches files at random: not round robin's order (seen with :1 over
    // a few I/Os, as the first file's share).
    let dir = tempdir();
    let mut args = base.to_vec();
    args.extend(["--file_service_type=random", "--number_ios=12"]);
    assert!(bench_in(dir.path(), &args).status.success());
    let sizes: Vec<u64> = files_in(dir.path()).iter().map(|f| f.1).collect();
    assert_ne!(
        sizes,
        [k(4), k(4), k(4)],
        "random service is not round robin"
    );

    // Names and directories: clone k's files in directory k mod 2, named by the format
    // (keywords in any case; $clientuid is empty).
    let dir = tempdir();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    let dirs = format!("--directory={}:{}", a.display(), b.display());
    let out = job(dir.path(), "w")
        .args(&[
            "--rw=write",
            "--size=96k",
            "--nrfiles=3",
            "--numjobs=2",
            "--filename_format=$jobname-$JOBNUM-$filenum$clientuid.dat",
            &dirs,
        ])
        .run();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let names: Vec<String> = files_in(dir.path()).into_iter().map(|f| f.0).collect();
    assert_eq!(
        names,
        [
            "a/w-0-0.dat",
            "a/w-0-1.dat",
            "a/w-0-2.dat",
            "b/w-1-0.dat",
            "b/w-1-1.dat",
            "b/w-1-2.dat"
        ]
    );

    // fallocate: native reserves the region and sets the size; keep reserves without the
    // size; truncate sets the size without reserving.
    for (mode, size, reserved) in [
        ("native", true, true),
        ("keep", false, true),
        ("truncate", true, false),
    ] {
        let dir = tempdir();
        let out = job(dir.path(), "w")
            .args(&[
                "--rw=write",
                "--bs=4k",
                "--size=1m",
                "--number_ios=1",
                &format!("--fallocate={mode}"),
            ])
            .run();
        assert!(out.status.success(), "{mode}: {}", common::stderr(&out));
        let (_, len, blocks) = files_in(dir.path()).remove(0);
        assert_eq!(len == 1 << 20, size, "{mode}: size {len}");
        assert_eq!(
            blocks >= 1 << 20,
            reserved,
            "{mode}: {blocks} bytes allocated"
        );
    }

    // allow_file_create=0: a missing file is an error naming it, and nothing is created.
    let dir = tempdir();
    let mut args = base.to_vec();
    args.push("--allow_file_create=0");
    let out = bench_in(dir.path(), &args);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(err.contains("allow_file_create=0"), "{err}");
    assert!(files_in(dir.path()).is_empty(), "nothing created");
}

/// fio's `fill_device`: on a 4 MiB tmpfs, a writer asked for 8 MiB with
/// `fill_device=1` writes until the filesystem is full and ends without an error, where
/// without it ENOSPC is the job's error; without `size` the region is the free space; a reader
/// has the filesystem filled first and reads it all. Needs root (to mount the tmpfs).
#[test]
fn fill_device_writes_until_full_and_ends_cleanly() {
    if !common::is_root() {
        eprintln!("SKIPPED: needs root to mount a small tmpfs");
        return;
    }
    let dir = tempdir();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let m = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(m.success());
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&mnt);
    let run = |name: &str, extra: &[&str]| -> std::process::Output {
        let f = format!("--filename={}", mnt.join(name).display());
        let mut a = vec![
            "--name=f",
            f.as_str(),
            "--rw=write",
            "--bs=64k",
            "--output-format=json",
        ];
        a.extend(extra);
        bench_in(dir.path(), &a)
    };
    let out = run("a", &["--size=8m", "--fill_device=1"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v = json(&out);
    assert_eq!(v["jobs"][0]["write"]["io_bytes"], 4 << 20);
    assert_eq!(v["jobs"][0]["error"], 0);
    std::fs::remove_file(mnt.join("a")).unwrap();
    let out = run("b", &["--size=8m"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stderr(&out).contains("No space left on device"));
    std::fs::remove_file(mnt.join("b")).unwrap();
    let out = run("c", &["--fill_device=1"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(json(&out)["jobs"][0]["write"]["io_bytes"], 4 << 20);
    std::fs::remove_file(mnt.join("c")).unwrap();
    // A reading job: the filesystem is filled first, then read (fio: "the mount point will be
    // filled first then I/O started on the result").
    let out = run("d", &["--fill_device=1", "--rw=read"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(json(&out)["jobs"][0]["read"]["io_bytes"], 4 << 20);
    assert_eq!(std::fs::metadata(mnt.join("d")).unwrap().len(), 4 << 20);
    let out = run("e", &["--fill_device=1", "--rw=trim"]);
    assert!(common::stderr(&out).contains("fill_device"));
}

/// fio's `create_on_open`: a writer's missing file is created when the
/// job starts, not while the run is set up — behind a 1 s first phase, its creation time is
/// a second after the first phase's file's (without the option, both are made together).
#[test]
fn create_on_open_creates_the_file_when_the_job_starts() {
    let born = |on: &str| -> f64 {
        let dir = tempdir();
        let file = format!(
            "[a]\nfilename=a\nsize=1m\nrw=read\ntime_based\nruntime=1\n\n\
             [b]\nstonewall\nfilename=b\nsize=1m\nrw=write\ncreate_on_open={on}\n"
        );
        std::fs::write(dir.path().join("co.fio"), file).unwrap();
        let out = bench_in(dir.path(), &["co.fio"]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let t = |n: &str| {
            std::fs::metadata(dir.path().join(n))
                .unwrap()
                .created()
                .unwrap()
        };
        t("b")
            .duration_since(t("a"))
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let later = born("1");
    assert!(
        later >= 0.9,
        "created {later} s after the first phase's file"
    );
    let now = born("0");
    assert!(now < 0.5, "without create_on_open: {now} s");
    let out = bench_in(
        tempdir().path(),
        &[
            "--name=r",
            "--filename=x",
            "--size=1m",
            "--create_on_open=1",
        ],
    );
    assert!(common::stderr(&out).contains("create_on_open"));
}

/// fio's `size=N%`, `offset=N%` and `offset_increment` (filesetup.c `get_start_offset`): each
/// numjobs clone writes its own region, seen in the blocks of a zeroed file.
#[test]
fn percentages_and_offset_increment_place_each_clone() {
    let dir = tempdir();
    let run = |extra: &[&str]| -> (usize, usize) {
        let args = [&["--rw=write", "--numjobs=2"][..], extra].concat();
        let w = blocks_written(dir.path(), 1 << 20, &args);
        let (first, last) = (w[0], w[w.len() - 1]);
        assert_eq!(
            w.len(),
            last - first + 1,
            "a hole in the written range: {w:?}"
        );
        (first * 4096, (last + 1) * 4096)
    };
    // Bytes: clone 0 at 0, clone 1 64 KiB later.
    assert_eq!(
        run(&["--size=64k", "--offset_increment=64k"]),
        (0, 128 << 10)
    );
    // Half-way in, a quarter of the file each, the second 10% later (aligned up to 4 KiB).
    let second = (524288 + (1 << 20) / 10usize).div_ceil(4096) * 4096;
    assert_eq!(
        run(&["--size=25%", "--offset=50%", "--offset_increment=10%"]),
        (524288, second + 262144)
    );
    let out = job(dir.path(), "o")
        .args(&["--size=0%", "--parse_only"])
        .run();
    assert!(common::stderr(&out).contains("a whole number from 1 to 100"));
}

/// fio's `unlink_each_loop` (backend.c: before every loop after the first the files are
/// deleted, and the loop runs on new ones): a 512 KiB file of which the job writes the first
/// 256 KiB, twice — with the option, the second loop's new file has only the job's 256 KiB
/// (the old tail is gone with the old file); without, the file keeps its tail. Every loop's
/// I/O is counted. With fio installed, fio leaves the same file sizes.
#[test]
fn unlink_each_loop_runs_each_loop_on_new_files() {
    let size_after = |on: &str, fio: bool| -> Option<(u64, u64)> {
        let dir = tempdir();
        std::fs::write(dir.path().join("f"), vec![7u8; 512 << 10]).unwrap();
        let args = [
            "--name=u",
            "--filename=f",
            "--size=256k",
            "--rw=write",
            "--loops=2",
            &format!("--unlink_each_loop={on}"),
            "--output-format=json",
        ];
        let out = if fio {
            common::fio_in(dir.path(), &args)?
        } else {
            bench_in(dir.path(), &args)
        };
        assert!(out.status.success(), "{}", common::stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let bytes = v["jobs"][0]["write"]["io_bytes"].as_u64().unwrap();
        Some((
            std::fs::metadata(dir.path().join("f")).unwrap().len(),
            bytes,
        ))
    };
    assert_eq!(size_after("1", false), Some((256 << 10, 512 << 10)));
    // The job's log goes on over its loops: one line per I/O of every loop.
    let dir = tempdir();
    let out = job(dir.path(), "u")
        .args(&[
            "--filename=f",
            "--size=256k",
            "--rw=write",
            "--loops=3",
            "--unlink_each_loop=1",
            "--write_iops_log=ul",
        ])
        .run();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let log = std::fs::read_to_string(dir.path().join("ul_iops.1.log")).unwrap();
    assert_eq!(log.lines().count(), 3 * 64);
    assert_eq!(size_after("0", false), Some((512 << 10, 512 << 10)));
    // Side by side (fio_in says SKIPPED without fio).
    if let Some(theirs) = size_after("1", true) {
        assert_eq!(theirs, (256 << 10, 512 << 10), "fio's");
        assert_eq!(size_after("0", true), Some((512 << 10, 512 << 10)), "fio's");
    }
}

/// fio names a job's own data files after its job-file section, also when `name=` inside the
/// section renames the job (the report says the new name): `[sec]` with `name=other` writes
/// `sec.0.0`. Side by side with fio when installed.
#[test]
fn a_renamed_section_names_its_files_after_the_section() {
    let text = "[sec]\nname=other\nsize=64k\nrw=write\n";
    let dir = tempdir();
    std::fs::write(dir.path().join("j.fio"), text).unwrap();
    let v = json(&bench_in(dir.path(), &["j.fio", "--output-format=json"]));
    assert_eq!(v["jobs"][0]["jobname"], "other");
    assert!(dir.path().join("sec.0.0").exists());
    assert!(!dir.path().join("other.0.0").exists());
    let fdir = tempdir();
    std::fs::write(fdir.path().join("j.fio"), text).unwrap();
    if let Some(out) = common::fio_in(fdir.path(), &["j.fio", "--output-format=json"]) {
        let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(theirs["jobs"][0]["jobname"], "other");
        assert!(fdir.path().join("sec.0.0").exists(), "fio's file");
    }
    // `$jobname` in filename_format is the section too (fio 3.33 writes sec.x).
    let text = "[sec]\nname=other\nsize=64k\nrw=write\nfilename_format=$jobname.x\n";
    std::fs::write(dir.path().join("k.fio"), text).unwrap();
    json(&bench_in(dir.path(), &["k.fio", "--output-format=json"]));
    assert!(dir.path().join("sec.x").exists() && !dir.path().join("other.x").exists());
}

/// Pages of `path` in the page cache (mincore over a read-only mapping).
fn resident_pages(path: &std::path::Path) -> usize {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).unwrap();
    let len = f.metadata().unwrap().len() as usize;
    let page = 4096;
    // SAFETY: a fresh shared read-only mapping of an open file, unmapped below; mincore writes
    // one byte per page into `vec`, which has that many.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        let mut vec = vec![0u8; len.div_ceil(page)];
        assert_eq!(libc::mincore(p, len, vec.as_mut_ptr()), 0);
        libc::munmap(p, len);
        vec.iter().filter(|&&b| b & 1 == 1).count()
    }
}

/// fio's `invalidate` (on by default): before a job's I/O its files' cached pages are dropped,
/// so reads go to the device; `invalidate=0` leaves them. Shown with O_DIRECT reads (which do
/// not fill the cache) over a file whose clean pages are all cached; fio the same, when
/// installed. A block device without the privilege to flush (BLKFLSBUF) is said, not fatal.
#[test]
fn invalidate_drops_the_cached_pages_before_the_job() {
    let dir = tempdir();
    let f = dir.path().join("c");
    let cached = || {
        std::fs::write(&f, vec![7u8; 1 << 20]).unwrap();
        std::fs::File::open(&f).unwrap().sync_all().unwrap();
        let _ = std::fs::read(&f).unwrap();
        assert_eq!(resident_pages(&f), 256, "the file starts cached");
    };
    let args = |inv: &'static str| {
        [
            "--name=i",
            "--filename=c",
            "--rw=read",
            "--direct=1",
            "--size=1m",
            inv,
        ]
    };
    for (inv, want) in [("--invalidate=0", 256), ("--invalidate=1", 0)] {
        cached();
        let out = bench_in(dir.path(), &args(inv));
        assert!(out.status.success(), "{}", common::stderr(&out));
        assert_eq!(resident_pages(&f), want, "{inv}");
        cached();
        if common::fio_in(
            dir.path(),
            &[&args(inv)[..], &["--output=/dev/null"]].concat(),
        )
        .is_some()
        {
            assert_eq!(resident_pages(&f), want, "fio, {inv}");
        }
    }
}

/// The open flags (octal, from `/proc/PID/fdinfo`) of `pid`'s descriptors for `name`.
fn open_flags(pid: u32, name: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let target = std::fs::read_link(e.path()).unwrap_or_default();
        if target.file_name().is_some_and(|n| n == name) {
            let info = std::fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                e.file_name().to_string_lossy()
            ))
            .unwrap_or_default();
            if let Some(l) = info.lines().find(|l| l.starts_with("flags:")) {
                out.push(u32::from_str_radix(l.split_whitespace().nth(1).unwrap(), 8).unwrap());
            }
        }
    }
    out
}

/// fio's `sync`: `sync`/`1` opens the job's files `O_SYNC`, `dsync` `O_DSYNC`, `none`/`0`
/// neither — read from the running process's descriptors, and from fio's (`--thread`, so
/// its files are in its own process) when installed.
#[test]
fn sync_opens_the_files_o_sync_or_o_dsync() {
    let dir = tempdir();
    let watch = |fio: bool, value: &str| -> Option<u32> {
        let args = [
            "--name=s".to_string(),
            "--filename=sf".into(),
            "--size=1m".into(),
            "--rw=write".into(),
            "--runtime=700ms".into(),
            "--time_based".into(),
            "--thread".into(),
            format!("--sync={value}"),
            "--output=/dev/null".into(),
        ];
        let mut cmd = if fio {
            Command::new("fio").arg("--version").output().ok()?;
            Command::new("fio")
        } else {
            let mut c = Command::new(env!("CARGO_BIN_EXE_diorite"));
            c.arg("bench");
            c
        };
        let mut child = cmd.current_dir(dir.path()).args(&args).spawn().unwrap();
        let mut seen = Vec::new();
        for _ in 0..50 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            seen = open_flags(child.id(), "sf");
            if !seen.is_empty() {
                break;
            }
        }
        assert!(child.wait().unwrap().success());
        let _ = std::fs::remove_file(dir.path().join("sf"));
        assert!(!seen.is_empty(), "the job's file was not open");
        Some(seen.iter().fold(0, |a, f| a | (f & libc::O_SYNC as u32)))
    };
    for (value, want) in [
        ("none", 0),
        ("0", 0),
        ("sync", libc::O_SYNC as u32),
        ("1", libc::O_SYNC as u32),
        ("dsync", libc::O_DSYNC as u32),
    ] {
        assert_eq!(watch(false, value), Some(want), "sync={value}");
        if let Some(f) = watch(true, value) {
            assert_eq!(f, want, "fio, sync={value}");
        }
    }
}

/// fio's `create_serialize`: with 1 (the default) the files are laid out one after another,
/// with 0 at once (one thread each); either way every file is complete before the jobs read,
/// the same files as fio's.
#[test]
fn create_serialize_lays_files_out_in_turn_or_at_once() {
    let dir = tempdir();
    for cs in ["--create_serialize=1", "--create_serialize=0"] {
        for i in 0..4 {
            let _ = std::fs::remove_file(dir.path().join(format!("c.0.{i}")));
        }
        let v = job(dir.path(), "c")
            .args(&["--nrfiles=4", "--size=4m", "--rw=read", cs])
            .json();
        assert_eq!(v["jobs"][0]["read"]["io_bytes"], 4 << 20, "{cs}");
        for i in 0..4 {
            let f = dir.path().join(format!("c.0.{i}"));
            assert_eq!(std::fs::metadata(&f).unwrap().len(), 1 << 20, "{cs} {i}");
        }
    }
    if common::fio_in(
        dir.path(),
        &[
            "--name=c",
            "--nrfiles=4",
            "--size=4m",
            "--rw=read",
            "--create_serialize=0",
            "--output=/dev/null",
        ],
    )
    .is_some()
    {
        for i in 0..4 {
            assert_eq!(
                std::fs::metadata(dir.path().join(format!("c.0.{i}")))
                    .unwrap()
                    .len(),
                1 << 20
            );
        }
    }
}

/// `invalidate` on a block device needs the privilege to flush it (BLKFLSBUF): a user without
/// it gets fio's "cache invalidation ... failed" said once per file and the job runs on, as
/// fio goes on ("cache flushing isn't a fatal condition"); `invalidate=0` says nothing. Run as
/// uid 65534 (setpriv) on a loop device made readable to it.
#[test]
fn invalidate_without_the_privilege_to_flush_a_device_is_said_not_fatal() {
    if !common::is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("SKIPPED: needs root and setpriv to run as an unprivileged user");
        return;
    }
    let Some(lo) = common::LoopDev::new(8 << 20, 512) else {
        return;
    };
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&lo.dev, std::fs::Permissions::from_mode(0o666)).unwrap();
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let run = |inv: &str| {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                env!("CARGO_BIN_EXE_diorite"),
                "bench",
            ])
            .arg(format!("--filename={}", lo.dev.display()))
            .args([
                "--name=i",
                "--rw=read",
                "--size=1m",
                "--direct=1",
                inv,
                "--output-format=json",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run("--invalidate=1");
    let err = common::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("cache invalidation of").count(), 1, "{err}");
    assert!(
        err.contains("Permission denied") || err.contains("Operation not permitted"),
        "{err}"
    );
    assert_eq!(json(&out)["jobs"][0]["read"]["io_bytes"], 1 << 20);
    let out = run("--invalidate=0");
    assert!(out.status.success());
    assert!(!common::stderr(&out).contains("cache invalidation"));
}

/// fio's `atomic=1` (RWF_ATOMIC on every write): on a reflink XFS the job runs on every async
/// engine and its writes go out of place (XFS's software atomic writes move the blocks, a
/// plain overwrite does not); `diorite info` prints the limits. Refused before anything is
/// written: a block size outside the limits or not a power of two, several block sizes,
/// buffered I/O, a synchronous engine, and a file without atomic writes (a loop device), each
/// by name.
#[test]
fn atomic_writes_run_where_the_file_takes_them_and_are_refused_elsewhere() {
    let Some(fs) = common::Xfs::new(512 << 20) else {
        return;
    };
    let f = fs.dir.join("a");
    std::fs::write(&f, vec![1u8; 1 << 20]).unwrap();
    let info = Command::new(env!("CARGO_BIN_EXE_diorite"))
        .arg("info")
        .arg(&f)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains("atomic writes:      4096..1048576 bytes"),
        "{info}"
    );
    let physical = || -> String {
        let out = Command::new("filefrag")
            .arg("-v")
            .arg(&f)
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default();
        String::from_utf8_lossy(&out)
            .lines()
            .find(|l| l.trim_start().starts_with("0:"))
            .unwrap_or("")
            .to_string()
    };
    let fname = format!("--filename={}", f.display());
    let base = [
        "--name=a",
        fname.as_str(),
        "--size=1m",
        "--rw=randwrite",
        "--bs=64k",
        "--direct=1",
    ];
    for engine in ["io_uring", "libaio", "threads"] {
        let before = physical();
        let e = format!("--ioengine={engine}");
        let out = bench_in(
            fs.dir.as_path(),
            &[
                &base[..],
                &[e.as_str(), "--atomic=1", "--output-format=json"],
            ]
            .concat(),
        );
        assert!(out.status.success(), "{engine}: {}", common::stderr(&out));
        assert_eq!(json(&out)["jobs"][0]["write"]["io_bytes"], 1 << 20);
        assert_ne!(physical(), before, "{engine}: the writes went out of place");
    }
    let before = physical();
    assert!(bench_in(fs.dir.as_path(), &base).status.success());
    assert_eq!(physical(), before, "plain writes stay in place");
    for (extra, want) in [
        (
            &["--bs=2m", "--atomic=1"][..],
            "not a power of two from 4096 to 1048576",
        ),
        (&["--bs=12k", "--atomic=1"][..], "not a power of two"),
        (
            &["--bsrange=4k-64k", "--atomic=1"][..],
            "several write block sizes",
        ),
        (
            &["--direct=0", "--ioengine=threads", "--atomic=1"][..],
            "without O_DIRECT",
        ),
        (
            &["--ioengine=psync", "--atomic=1"][..],
            "synchronous engine",
        ),
    ] {
        // An async engine unless the case names one (the later option wins).
        let out = bench_in(
            fs.dir.as_path(),
            &[&base[..], &["--ioengine=libaio"], extra].concat(),
        );
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        assert!(
            common::stderr(&out).contains(want),
            "{extra:?}: {}",
            common::stderr(&out)
        );
    }
    if let Some(lo) = common::LoopDev::new(8 << 20, 512) {
        let dev = format!("--filename={}", lo.dev.display());
        let out = bench_in(
            fs.dir.as_path(),
            &[
                "--name=a",
                &dev,
                "--rw=write",
                "--size=1m",
                "--direct=1",
                "--ioengine=libaio",
                "--atomic=1",
            ],
        );
        assert!(
            common::stderr(&out).contains("offers no atomic writes"),
            "{}",
            common::stderr(&out)
        );
    }
}

/// A file whose reads align more finely than its writes (a reflinked file on XFS: `statx`
/// `STATX_DIO_READ_ALIGN`): `diorite info` shows both; a read job of 512-byte blocks runs, a
/// write job of 512-byte blocks is refused by name before anything is written.
#[test]
fn read_jobs_take_the_read_alignment_and_write_jobs_the_write_alignment() {
    let Some(fs) = common::Xfs::new(512 << 20) else {
        return;
    };
    let (a, b) = (fs.dir.join("a"), fs.dir.join("b"));
    std::fs::write(&a, vec![3u8; 1 << 20]).unwrap();
    let ok = Command::new("cp")
        .arg("--reflink=always")
        .arg(&a)
        .arg(&b)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok);
    let info = Command::new(env!("CARGO_BIN_EXE_diorite"))
        .arg("info")
        .arg(&b)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    if !info.contains("read alignment:     512") {
        eprintln!("SKIPPED: no STATX_DIO_READ_ALIGN from this kernel: {info}");
        return;
    }
    assert!(info.contains("offset alignment:   4096"), "{info}");
    let name = format!("--filename={}", b.display());
    let out = common::bench(&[
        "--name=r",
        &name,
        "--rw=randread",
        "--bs=512",
        "--size=1m",
        "--direct=1",
        "--ioengine=io_uring",
        "--number_ios=200",
    ]);
    let t =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("issued rwts: total=200,0,0,0"), "{t}");
    let before = std::fs::read(&b).unwrap();
    let out = common::bench(&[
        "--name=w",
        &name,
        "--rw=randwrite",
        "--bs=512",
        "--size=1m",
        "--direct=1",
        "--ioengine=io_uring",
    ]);
    let t = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("block size 512 is not a multiple") && t.contains("(4096 bytes)"),
        "{t}"
    );
    assert_eq!(std::fs::read(&b).unwrap(), before, "nothing written");
}

/// fio's `uncached` (io_uring, pvsync2): a buffered job leaves none of its file in the page
/// cache, where the same job without it leaves it all; other engines and a filesystem that
/// does not take RWF_DONTCACHE (tmpfs) are refused by name before anything is written; with
/// `direct=1` it has no effect, as in fio, and says so.
#[test]
fn uncached_jobs_leave_the_page_cache_as_they_found_it() {
    let Some(fs) = common::Xfs::new(512 << 20) else {
        return;
    };
    const LEN: usize = 8 << 20;
    let f = fs.dir.join("u.dat");
    std::fs::write(&f, vec![5u8; LEN]).unwrap();
    let name = format!("--filename={}", f.display());
    let drop_cache = || {
        let file = std::fs::File::open(&f).unwrap();
        file.sync_all().unwrap();
        // SAFETY: an open descriptor; advice only.
        let r = unsafe {
            libc::posix_fadvise(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                0,
                0,
                libc::POSIX_FADV_DONTNEED,
            )
        };
        assert_eq!(r, 0);
        assert_eq!(common::cached_pages(&f, LEN), 0);
    };
    let job = |engine: &str, rw: &str, uncached: &str| {
        let out = common::bench(&[
            "--name=u",
            &name,
            rw,
            "--bs=64k",
            "--size=8m",
            "--direct=0",
            engine,
            uncached,
        ]);
        let t = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code(), t)
    };
    for engine in ["--ioengine=io_uring", "--ioengine=pvsync2"] {
        // The control: the same read job, cached.
        drop_cache();
        let (code, t) = job(engine, "--rw=read", "--uncached=0");
        assert_eq!(code, Some(0), "{t}");
        assert_eq!(
            common::cached_pages(&f, LEN),
            LEN / 4096,
            "{engine}: cached"
        );
        drop_cache();
        let (code, t) = job(engine, "--rw=read", "--uncached=1");
        assert_eq!(code, Some(0), "{t}");
        assert!(t.contains("issued rwts: total=128,0,0,0"), "{t}");
        assert_eq!(common::cached_pages(&f, LEN), 0, "{engine}: uncached reads");
        let (code, t) = job(engine, "--rw=write", "--uncached=1");
        assert_eq!(code, Some(0), "{t}");
        assert_eq!(
            common::cached_pages_settled(&f, LEN),
            0,
            "{engine}: uncached writes"
        );
    }
    // Side by side with fio as it defines `uncached` (3.40 and later; the installed 3.33 sets
    // another bit): `DIORITE_FIO_NEW` names such a fio, built from source.
    match std::env::var_os("DIORITE_FIO_NEW") {
        Some(fio) => {
            for (uncached, want) in [("--uncached=0", LEN / 4096), ("--uncached=1", 0)] {
                drop_cache();
                let out = Command::new(&fio)
                    .args(["--name=u", &name, "--rw=read", "--bs=64k", "--size=8m"])
                    .args(["--direct=0", "--ioengine=io_uring", uncached])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert_eq!(common::cached_pages(&f, LEN), want, "fio {uncached}");
            }
        }
        None => eprintln!("SKIPPED (the side-by-side part): DIORITE_FIO_NEW is not set"),
    }
    // Engines fio gives no uncached: refused by name, nothing written.
    std::fs::write(&f, vec![5u8; LEN]).unwrap();
    for engine in [
        "--ioengine=libaio",
        "--ioengine=psync",
        "--ioengine=threads",
    ] {
        let (code, t) = job(engine, "--rw=write", "--uncached=1");
        assert_eq!(code, Some(1), "{engine}: {t}");
        assert!(
            t.contains("uncached is an option of fio's io_uring and pvsync2"),
            "{t}"
        );
    }
    assert!(
        std::fs::read(&f).unwrap().iter().all(|b| *b == 5),
        "nothing written"
    );
    // tmpfs keeps everything in the page cache: refused before the file is created.
    let shm = std::path::Path::new("/dev/shm").join(format!("diorite-u-{}", std::process::id()));
    let shm_name = format!("--filename={}", shm.display());
    let out = common::bench(&[
        "--name=u",
        &shm_name,
        "--rw=write",
        "--bs=64k",
        "--size=1m",
        "--direct=0",
        "--ioengine=io_uring",
        "--uncached=1",
    ]);
    let t = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        let _ = std::fs::remove_file(&shm);
        eprintln!("SKIPPED: tmpfs takes RWF_DONTCACHE on this kernel");
    } else {
        assert!(t.contains("does not take RWF_DONTCACHE"), "{t}");
        assert!(!shm.exists(), "nothing created");
    }
    // direct=1: no effect, as in fio, and a warning says so.
    let (code, t) = job("--ioengine=io_uring", "--rw=read", "--uncached=1");
    assert_eq!(code, Some(0), "{t}");
    let out = common::bench(&[
        "--name=u",
        &name,
        "--rw=read",
        "--bs=64k",
        "--size=8m",
        "--direct=1",
        "--ioengine=io_uring",
        "--uncached=1",
    ]);
    let t = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("uncached has no effect with direct=1"), "{t}");
}
