//! Options that were accepted and not honoured: each now does what fio does. Each
//! test failed on the code before the fix.

mod common;

use common::{bench_in, json, tempdir};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn diorite_of(v: &Value, job: usize) -> &Value {
    &v["jobs"][job]["diorite"]
}

/// fio's defaults: a job that names neither runs `ioengine=psync` and `direct=0` — buffered,
/// in the job thread (before: O_DIRECT through io_uring).
#[test]
fn a_job_without_engine_or_direct_runs_as_fio_runs_it() {
    let dir = tempdir();
    let v = json(&bench_in(
        dir.path(),
        &[
            "--name=d",
            "--filename=f",
            "--size=1m",
            "--rw=read",
            "--output-format=json",
        ],
    ));
    let d = diorite_of(&v, 0);
    assert_eq!(d["backend"], "psync", "{d}");
    assert!(
        d["targets"][0].as_str().unwrap().contains("buffered"),
        "{d}"
    );
}

/// `direct=0` is buffered on every engine; `direct=1` is O_DIRECT (before: O_DIRECT either
/// way).
#[test]
fn direct_zero_is_buffered_and_direct_one_is_o_direct() {
    let dir = tempdir();
    // libaio with direct=0 is buffered AIO, which blocks in io_submit — as in fio.
    for engine in ["psync", "io_uring", "threads", "libaio"] {
        for (direct, want) in [("0", "buffered"), ("1", "O_DIRECT")] {
            let v = json(&bench_in(
                dir.path(),
                &[
                    "--name=d",
                    "--filename=f",
                    "--size=1m",
                    "--rw=randread",
                    &format!("--ioengine={engine}"),
                    &format!("--direct={direct}"),
                    "--output-format=json",
                ],
            ));
            let t = diorite_of(&v, 0)["targets"][0]
                .as_str()
                .unwrap()
                .to_string();
            assert!(t.contains(want), "{engine} direct={direct}: {t}");
        }
    }
}

/// The synchronous engines keep one I/O in flight whatever iodepth says, in the job thread
/// (before: `psync` with iodepth=32 kept 32 in flight on a thread pool).
#[test]
fn sync_engines_run_at_depth_one_in_the_job_thread() {
    let dir = tempdir();
    for engine in ["psync", "sync", "pvsync", "pvsync2"] {
        let v = json(&bench_in(
            dir.path(),
            &[
                "--name=s",
                "--filename=f",
                "--size=1m",
                "--rw=randread",
                "--iodepth=32",
                &format!("--ioengine={engine}"),
                "--output-format=json",
            ],
        ));
        let d = diorite_of(&v, 0);
        assert_eq!(d["backend"], "psync", "{engine}: {d}");
        assert!(
            d["backend_report"]
                .as_str()
                .unwrap_or_default()
                .contains("queue depth 1"),
            "{engine}: {d}"
        );
        assert_eq!(v["jobs"][0]["read"]["total_ios"], 256, "{engine}");
    }
}

/// fio's size suffixes: with the default kb_base=1024, `1MiB` is 1,000,000 bytes and `1m`
/// 1,048,576; `kb_base=1000` turns that round (before: both were 1,048,576).
#[test]
fn size_suffixes_follow_kb_base() {
    let dir = tempdir();
    for (size, base, want) in [
        ("1MiB", "1024", 1_000_000u64),
        ("1m", "1024", 1 << 20),
        ("1MiB", "1000", 1 << 20),
        ("1m", "1000", 1_000_000),
    ] {
        let v = json(&bench_in(
            dir.path(),
            &[
                "--name=k",
                "--filename=f",
                &format!("--kb_base={base}"),
                &format!("--size={size}"),
                "--bs=1000",
                "--rw=read",
                "--output-format=json",
            ],
        ));
        assert_eq!(
            v["jobs"][0]["read"]["io_bytes"].as_u64().unwrap() / 1000 * 1000,
            want / 1000 * 1000,
            "size={size} kb_base={base}"
        );
    }
}

/// `numjobs=4` without a filename: each clone gets its own file `jobname.N.0` in the working
/// directory (or `directory=`), and the files stay (before: one shared temp file, deleted).
#[test]
fn clones_without_a_filename_get_their_own_kept_files() {
    let dir = tempdir();
    let out = bench_in(
        dir.path(),
        &[
            "--name=seq",
            "--numjobs=4",
            "--size=256k",
            "--rw=write",
            "--output-format=json",
        ],
    );
    json(&out);
    for k in 0..4 {
        let p = dir.path().join(format!("seq.{k}.0"));
        assert_eq!(
            std::fs::metadata(&p).unwrap().len(),
            256 << 10,
            "{}",
            p.display()
        );
    }
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    json(&bench_in(
        dir.path(),
        &[
            "--name=r",
            "--directory=sub",
            "--size=64k",
            "--rw=read",
            "--output-format=json",
        ],
    ));
    assert!(sub.join("r.0.0").exists());
    // A relative filename lives in `directory` too, as in fio.
    json(&bench_in(
        dir.path(),
        &[
            "--name=n",
            "--directory=sub",
            "--filename=named.dat",
            "--size=64k",
            "--rw=read",
            "--output-format=json",
        ],
    ));
    assert!(sub.join("named.dat").exists() && !dir.path().join("named.dat").exists());
}

/// Job files: inline comments are stripped, `${VAR}` and `$keyword`s expand, arithmetic is
/// evaluated, and fio's aliases are accepted (before: a file literally named
/// `datafile.tmp\t; or use a full disk`, and `numjobs=4 ; comment` refused).
#[test]
fn job_files_read_as_fio_reads_them() {
    let dir = tempdir();
    let job = dir.path().join("j.fio");
    std::fs::write(
        &job,
        "[global]\nsize=${DIORITE_T_SIZE}\t; from the environment\nrw=read\n\n\
         [a]\nfilename=datafile.tmp\t; or use a full disk\nnumjobs=2 ; two\n\
         io_size=2*64*1024\ntimeout=10\nblocksize_range=4k-8k\nthreads\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_diorite"))
        .current_dir(dir.path())
        .env("DIORITE_T_SIZE", "256k")
        .args(["bench", job.to_str().unwrap(), "--output-format=json"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["jobs"].as_array().unwrap().len(), 2);
    assert_eq!(
        std::fs::metadata(dir.path().join("datafile.tmp"))
            .unwrap()
            .len(),
        256 << 10
    );
    // io_size=2*64*1024 evaluated: 128 KiB, the last block of 4k-8k may reach past it.
    let bytes = v["jobs"][0]["read"]["io_bytes"].as_u64().unwrap();
    assert!((128 << 10..(128 + 8) << 10).contains(&bytes), "{bytes}");
}

/// The text report of a randread QD32 job has fio's sections, and the JSON fio's fields for
/// them, with measured values.
#[test]
fn the_report_has_fios_sections_and_fields() {
    let dir = tempdir();
    let common = [
        "--name=r",
        "--filename=f",
        "--size=64m",
        "--rw=randread",
        "--iodepth=32",
        "--ioengine=io_uring",
        "--direct=1",
        "--runtime=1200ms",
        "--time_based",
    ];
    let out = bench_in(dir.path(), &common);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for section in [
        "  read: IOPS=",
        "    clat (",
        "    clat percentiles (",
        "   bw (  KiB/s): min=",
        "   iops        : min=",
        "  lat (",
        "  cpu          : usr=",
        ", ctx=",
        "  IO depths    : 1=",
        "     submit    : 0=",
        "     complete  : 0=",
        "     issued rwts: total=",
        "Run status group 0 (all jobs):",
        "Disk stats (read/write):",
    ] {
        assert!(text.contains(section), "missing {section:?} in:\n{text}");
    }
    assert!(
        text.contains(", 32=") && text.contains("depth=32"),
        "{text}"
    );
    let mut args: Vec<&str> = common.to_vec();
    args.push("--output-format=json");
    let v = json(&bench_in(dir.path(), &args));
    let j = &v["jobs"][0];
    for f in [
        "bw_min",
        "bw_max",
        "bw_agg",
        "bw_mean",
        "bw_dev",
        "bw_samples",
        "iops_min",
        "iops_max",
        "iops_mean",
        "iops_stddev",
        "iops_samples",
    ] {
        assert!(j["read"][f].is_number(), "read.{f}: {}", j["read"]);
    }
    assert!(j["read"]["bw_samples"].as_u64().unwrap() >= 2);
    for f in [
        "iodepth_level",
        "iodepth_submit",
        "iodepth_complete",
        "latency_ns",
        "latency_us",
        "latency_ms",
    ] {
        assert!(j[f].is_object(), "{f}");
    }
    let depth32 = j["iodepth_level"]["32"].as_f64().unwrap();
    assert!(depth32 > 50.0, "{}", j["iodepth_level"]);
    assert!(
        j["ctx"].as_u64().unwrap() > 0,
        "ctx is measured, not a placeholder"
    );
    assert!(j["minf"].is_u64());
    // Disk stats need a block device under the file (not so on tmpfs or overlay).
    let dev = std::os::unix::fs::MetadataExt::dev(&std::fs::metadata(dir.path()).unwrap());
    let sysfs = format!("/sys/dev/block/{}:{}", libc::major(dev), libc::minor(dev));
    if Path::new(&sysfs).exists() {
        assert!(
            !v["disk_util"].as_array().unwrap().is_empty(),
            "{}",
            v["disk_util"]
        );
        assert!(v["disk_util"][0]["util"].is_number());
    }
}

/// `--output-format=terse` writes fio's terse v3 line (130 fields with one disk; the same
/// numbers as the JSON), combined formats come in fio's order, `--minimal` is terse, and
/// `--eta=never` draws no progress line.
#[test]
fn terse_and_combined_output_formats() {
    let dir = tempdir();
    let base = [
        "--name=t",
        "--filename=f",
        "--size=8m",
        "--rw=randread",
        "--io_size=4m",
        "--eta=never",
    ];
    let run = |fmt: &str| {
        let mut a: Vec<&str> = base.to_vec();
        a.push(fmt);
        let out = bench_in(dir.path(), &a);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let terse = run("--output-format=terse");
    let f: Vec<&str> = terse.trim_end().split(';').collect();
    assert_eq!(f[0], "3", "{terse}");
    assert_eq!((f[2], f[3], f[4]), ("t", "0", "0"));
    assert!(
        f.len() >= 121 && (f.len() - 121) % 9 == 0,
        "{} fields",
        f.len()
    );
    assert_eq!(f[5], "4096", "read KiB");
    assert!(f[17].starts_with("1.000000%="), "{}", f[17]);
    assert_eq!(f[34], "0%=0");
    assert!(
        f[87].ends_with('%') && f[92].ends_with('%'),
        "cpu and depths"
    );
    let minimal = run("--minimal");
    assert_eq!(minimal.trim_end().split(';').count(), f.len());
    // Combined formats, in fio's order (terse, normal, json) whatever the order given.
    let both = run("--output-format=json,normal");
    let normal_at = both.find("t: (groupid=0").expect("normal report");
    let json_at = both.find("\n{").expect("json report");
    assert!(normal_at < json_at, "{both}");
    let v: Value = serde_json::from_str(&both[json_at..]).unwrap();
    assert_eq!(v["jobs"][0]["jobname"], "t");
    let both = run("--output-format=normal,terse");
    assert!(both.starts_with("3;diorite-"), "{both}");
    assert!(both.contains("Run status group 0"));
}

/// `--status-interval` prints the full report while the jobs run, as fio does (here every
/// 300 ms over a 1.2 s job: the final report and at least two status reports).
#[test]
fn status_interval_prints_the_report_while_running() {
    let dir = tempdir();
    let out = bench_in(
        dir.path(),
        &[
            "--name=s",
            "--filename=f",
            "--size=8m",
            "--rw=randread",
            "--runtime=1200ms",
            "--time_based",
            "--status-interval=300ms",
            "--eta=never",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.matches("s: (groupid=0").count() >= 3, "{text}");
    // With --output, status reports and the final report all go to the file, as in fio.
    let out = bench_in(
        dir.path(),
        &[
            "--name=s",
            "--filename=f",
            "--size=8m",
            "--rw=randread",
            "--runtime=800ms",
            "--time_based",
            "--status-interval=300ms",
            "--eta=never",
            "--output=report.txt",
        ],
    );
    assert!(out.status.success() && out.stdout.is_empty());
    let file = std::fs::read_to_string(dir.path().join("report.txt")).unwrap();
    assert!(file.matches("s: (groupid=0").count() >= 2, "{file}");
    assert!(file.contains("Run status group 0"));
}

/// `description`, `number_ios`, `loops` and `startdelay` as fio: the description in the text
/// (`Description  : [..]`), JSON (`desc`) and terse reports; the job stops after `number_ios`
/// I/Os; `loops` repeats the I/O amount; `startdelay` delays the start, not the runtime.
#[test]
fn description_number_ios_loops_and_startdelay() {
    let dir = tempdir();
    let base = ["--name=x", "--filename=f", "--size=1m", "--rw=read"];
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend(extra);
        let out = bench_in(dir.path(), &a);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(&["--description=nightly"]);
    assert!(text.contains("  Description  : [nightly]"), "{text}");
    let v: Value =
        serde_json::from_str(&run(&["--description=nightly", "--output-format=json"])).unwrap();
    assert_eq!(v["jobs"][0]["desc"], "nightly");
    let terse = run(&["--description=nightly", "--output-format=terse"]);
    assert!(terse.trim_end().ends_with(";nightly"), "{terse}");
    let v: Value =
        serde_json::from_str(&run(&["--number_ios=10", "--output-format=json"])).unwrap();
    assert_eq!(v["jobs"][0]["read"]["total_ios"], 10);
    let v: Value = serde_json::from_str(&run(&["--loops=3", "--output-format=json"])).unwrap();
    assert_eq!(v["jobs"][0]["read"]["io_bytes"], 3 << 20);
    let t0 = std::time::Instant::now();
    let v: Value = serde_json::from_str(&run(&[
        "--startdelay=400ms",
        "--number_ios=1",
        "--output-format=json",
    ]))
    .unwrap();
    assert!(t0.elapsed() >= std::time::Duration::from_millis(400));
    assert!(
        v["jobs"][0]["read"]["runtime"].as_u64().unwrap() < 400,
        "the delay is not runtime"
    );
    // A range: each clone draws its own delay in it (reported per job), the same each run
    // (randrepeat).
    let ranged = |_: ()| -> Vec<u64> {
        let v: Value = serde_json::from_str(&run(&[
            "--startdelay=10ms-300ms",
            "--numjobs=4",
            "--number_ios=1",
            "--output-format=json",
        ]))
        .unwrap();
        (0..4)
            .map(|k| v["jobs"][k]["diorite"]["startdelay_ms"].as_u64().unwrap())
            .collect()
    };
    let delays = ranged(());
    assert!(delays.iter().all(|d| (10..=300).contains(d)), "{delays:?}");
    let mut distinct = delays.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 1, "{delays:?}: one delay for every clone");
    assert_eq!(ranged(()), delays, "randrepeat: the same delays again");
    let out = bench_in(
        dir.path(),
        &["--name=x", "--filename=f", "--size=1m", "--startdelay=2-1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("startdelay=2-1"));
}

/// Issue 14: fio's trim patterns. trim / randtrim discard the job's range (fio counts them in
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

/// A job file: a slow writer of a pattern over 64 blocks, and a reader that checks the
/// pattern (the same job with `verify_only`: it reads and checks, writes nothing), related by
/// `extra` (`wait_for=w`, `new_group`, nothing).
fn writer_then_reader(dir: &Path, extra: &str) -> Value {
    let f = dir.join("data");
    std::fs::write(&f, vec![0u8; 256 << 10]).unwrap();
    let job = dir.join("j.fio");
    std::fs::write(
        &job,
        format!(
            "[global]\nfilename={}\nsize=256k\nbs=4k\nioengine=io_uring\ndirect=1\n\
             verify=pattern\nverify_pattern=0xa5\n\n\
             [w]\nrw=write\nrate_iops=200\ndo_verify=0\n\n\
             [r]\n{extra}\nrw=write\nverify_only=1\ncontinue_on_error=verify\n",
            f.display()
        ),
    )
    .unwrap();
    json(&bench_in(
        dir,
        &[job.to_str().unwrap(), "--output-format=json"],
    ))
}

/// fio's `wait_for`: the reader starts only once the writer finished, so it finds every block
/// written; without it the two run at once and the reader finds the blocks not yet written
/// (the control shows the test can fail). Both stay in one reporting group.
#[test]
fn wait_for_starts_a_job_after_the_job_it_names() {
    let dir = tempdir();
    let v = writer_then_reader(dir.path(), "wait_for=w");
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs[1]["diorite"]["verify"]["errors"], 0, "{}", jobs[1]);
    assert_eq!(jobs[1]["diorite"]["verify"]["blocks"], 64);
    assert_eq!(
        (jobs[0]["groupid"].as_u64(), jobs[1]["groupid"].as_u64()),
        (Some(0), Some(0))
    );
    let v = writer_then_reader(dir.path(), "");
    assert!(
        v["jobs"][1]["diorite"]["verify"]["errors"]
            .as_u64()
            .unwrap()
            > 0,
        "the control: a reader running beside the slow writer sees unwritten blocks"
    );
}

/// fio's `new_group`: a new reporting group, but no waiting (unlike `stonewall`): the reader
/// runs beside the writer.
#[test]
fn new_group_reports_apart_without_waiting() {
    let dir = tempdir();
    let v = writer_then_reader(dir.path(), "new_group");
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(
        (jobs[0]["groupid"].as_u64(), jobs[1]["groupid"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(jobs[1]["diorite"]["verify"]["errors"].as_u64().unwrap() > 0);
    let v = writer_then_reader(dir.path(), "stonewall");
    assert_eq!(v["jobs"][1]["diorite"]["verify"]["errors"], 0);
    assert_eq!(v["jobs"][1]["groupid"], 1);
}

/// `wait_for` must name an earlier job with a unique name (fio's rules); refused before
/// anything is touched.
#[test]
fn wait_for_refuses_forward_and_ambiguous_names() {
    let dir = tempdir();
    for (text, want) in [
        ("[a]\nwait_for=b\n[b]\n", "no job named b before it"),
        (
            "[b]\n[b]\n[a]\nwait_for=b\n",
            "more than one job is named b",
        ),
        ("[a]\nwait_for=nobody\n", "no job named nobody"),
    ] {
        let job = dir.path().join("j.fio");
        std::fs::write(
            &job,
            format!("[global]\nfilename=never-made\nsize=64k\n{text}"),
        )
        .unwrap();
        let out = bench_in(dir.path(), &[job.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            common::stderr(&out).contains(want),
            "{}",
            common::stderr(&out)
        );
        assert!(!dir.path().join("never-made").exists());
    }
}

/// `diorite bench` in `dir` with `base` and `extra`: 4 KiB O_DIRECT I/O through io_uring, JSON.
fn direct_4k(dir: &Path, base: &[&str], extra: &[&str]) -> std::process::Output {
    let fixed = [
        "--bs=4k",
        "--ioengine=io_uring",
        "--direct=1",
        "--output-format=json",
    ];
    let args: Vec<&str> = base.iter().chain(&fixed).chain(extra).copied().collect();
    bench_in(dir, &args)
}

/// fio's `thinktime`: with `thinktime_blocks_type=issue` and `thinktime_blocks=2`, every second
/// I/O issued waits for those in flight and stalls, so the queue never holds more than 2 (the
/// control without thinktime fills the depth); the stalls add up (a lower bound: each one
/// sleeps at least `thinktime`).
#[test]
fn thinktime_stalls_and_caps_the_depth() {
    let dir = tempdir();
    let f = dir.path().join("data");
    std::fs::write(&f, vec![1u8; 1 << 20]).unwrap();
    let file = format!("--filename={}", f.display());
    let base = [
        "--name=t",
        &file,
        "--size=1m",
        "--rw=randread",
        "--iodepth=16",
    ];
    let run = |extra: &[&str]| json(&direct_4k(dir.path(), &base, extra));
    let deep = |v: &Value| -> f64 {
        ["4", "8", "16", "32", ">=64"]
            .iter()
            .map(|k| v["jobs"][0]["iodepth_level"][k].as_f64().unwrap_or(0.0))
            .sum()
    };
    let v = run(&[]);
    assert!(
        deep(&v) > 0.0,
        "the control fills the queue: {}",
        v["jobs"][0]["iodepth_level"]
    );
    let v = run(&[
        "--thinktime=2ms",
        "--thinktime_blocks=2",
        "--thinktime_blocks_type=issue",
    ]);
    assert_eq!(v["jobs"][0]["read"]["total_ios"], 256);
    assert_eq!(
        deep(&v),
        0.0,
        "depth above 2: {}",
        v["jobs"][0]["iodepth_level"]
    );
    // 256 I/Os, a stall of at least 2 ms after every second one.
    assert!(v["jobs"][0]["job_runtime"].as_u64().unwrap() >= 127 * 2);
    // Plain numbers are microseconds; the spin must fit in the thinktime.
    let out = bench_in(
        dir.path(),
        &[
            "--name=t",
            "--filename=x",
            "--size=64k",
            "--thinktime=10",
            "--thinktime_spin=20",
        ],
    );
    assert!(common::stderr(&out).contains("thinktime_spin=20us is longer than thinktime=10us"));
}

/// `--parse_only` checks every job and prints what would run, one line per clone, touching
/// nothing.
#[test]
fn parse_only_prints_the_jobs_and_touches_nothing() {
    let dir = tempdir();
    let job = dir.path().join("j.fio");
    std::fs::write(
        &job,
        "[global]\nfilename=not-created\nsize=1m\n[a]\nrw=write\nnumjobs=2\n[b]\nnew_group\nrw=randread\nbs=8k\n[c]\nstonewall\nwait_for=b\nthinktime=5\n",
    )
    .unwrap();
    let out = bench_in(dir.path(), &[job.to_str().unwrap(), "--parse_only"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("job a.0: group=0 phase=0 rw=Write"));
    assert!(lines[1].starts_with("job a.1: group=0 phase=0"));
    assert!(lines[2].starts_with("job b.0: group=1 phase=0 rw=RandRead bs=Fixed(8192)"));
    assert!(lines[3].contains("group=2 phase=1") && lines[3].contains("wait_for=b thinktime=5us"));
    assert!(!dir.path().join("not-created").exists());
}

/// fio's `filesize`: the file gets that size, and `size` only sets how much I/O the job does
/// (the default `io_size`); a range picks one size in it, a whole number of blocks, the same
/// for the same seed.
#[test]
fn filesize_sizes_the_file_and_size_becomes_the_io_amount() {
    let dir = tempdir();
    let v = json(&bench_in(
        dir.path(),
        &[
            "--name=fs",
            "--filename=f",
            "--filesize=2m",
            "--size=8m",
            "--rw=write",
            "--bs=64k",
            "--output-format=json",
        ],
    ));
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
        let out = bench_in(
            dir.path(),
            &[
                "--name=r",
                "--filesize=1m-3m",
                "--bs=4k",
                &format!("--randseed={seed}"),
                "--parse_only",
            ],
        );
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
    let v = json(&bench_in(
        d.path(),
        &[
            "--name=w",
            "--rw=write",
            "--nrfiles=6",
            "--filesize=16k-64k",
            "--output-format=json",
        ],
    ));
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

/// fio's `rate` / `rate_iops` per direction (upper bounds only: never a speed target), a mixed
/// job switching to the direction under budget (io_u.c `rate_ddir`; the test fails without the
/// switch), and `rate_iops_min` ending a job that falls below it. (The drain before a rate wait
/// is fio's too, but not told apart here: at these rates the queue is empty by then anyway.)
#[test]
fn rates_cap_each_direction_drain_the_queue_and_enforce_a_floor() {
    let dir = tempdir();
    let f = dir.path().join("data");
    std::fs::write(&f, vec![1u8; 4 << 20]).unwrap();
    let file = format!("--filename={}", f.display());
    let base = [
        "--name=rt",
        &file,
        "--iodepth=8",
        "--runtime=1",
        "--time_based",
    ];
    let run = |extra: &[&str]| direct_4k(dir.path(), &base, extra);
    let bytes = |v: &Value, d: &str| v["jobs"][0][d]["io_bytes"].as_u64().unwrap();
    // 200 KiB/s of reads for 1 s: at most the budget plus the I/O that starts it.
    let v = json(&run(&["--rw=randread", "--rate=200k"]));
    assert!(bytes(&v, "read") <= 204800 + 4096, "{}", bytes(&v, "read"));
    // At 50 I/Os per second the queue never holds more than one.
    let lv = &v["jobs"][0]["iodepth_level"];
    assert_eq!(lv["1"].as_f64().unwrap(), 100.0, "{lv}");
    // Writes capped, reads not: a mixed job switches to reads while writes are over budget.
    let v = json(&run(&["--rw=randrw", "--rate=,40k"]));
    assert!(bytes(&v, "write") <= 40960 + 4096, "{}", bytes(&v, "write"));
    assert!(bytes(&v, "read") > 4 * bytes(&v, "write"), "{v}");
    // Both capped per direction (one value for both): each stays within its own budget.
    let v = json(&run(&["--rw=randrw", "--rate_iops=25"]));
    for d in ["read", "write"] {
        assert!(
            v["jobs"][0][d]["total_ios"].as_u64().unwrap() <= 26,
            "{d}: {v}"
        );
    }
    // A floor above the cap: after fio's 2 s settle period and one cycle, the job ends with
    // an error naming it.
    let out = run(&[
        "--rw=randread",
        "--rate_iops=20",
        "--rate_iops_min=100",
        "--rate_cycle=500",
        "--runtime=4",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("rate_iops_min=100 not met"),
        "{}",
        common::stderr(&out)
    );
    // A trim value changes nothing for a job that does not trim (as in fio); a trimming job
    // is refused by name.
    assert!(run(&["--rw=randread", "--rate=1m,1m,1m"]).status.success());
    let out = run(&["--rw=randtrim", "--rate=1m,1m,1m"]);
    assert!(
        common::stderr(&out).contains("a rate for trims"),
        "{}",
        common::stderr(&out)
    );
}

/// fio's `gtod_reduce` and `disable_*`: a disabled latency series is not recorded (JSON `N` 0,
/// no percentiles) nor printed; the others still are.
#[test]
fn disabled_latencies_are_neither_recorded_nor_printed() {
    let dir = tempdir();
    let f = dir.path().join("data");
    std::fs::write(&f, vec![1u8; 1 << 20]).unwrap();
    let file = format!("--filename={}", f.display());
    let base = [
        "--name=g",
        &file,
        "--size=1m",
        "--rw=randread",
        "--iodepth=4",
    ];
    let n = |v: &Value, k: &str| v["jobs"][0]["read"][k]["N"].as_u64().unwrap();
    let v = json(&direct_4k(dir.path(), &base, &["--gtod_reduce=1"]));
    assert_eq!(
        (n(&v, "slat_ns"), n(&v, "clat_ns"), n(&v, "lat_ns")),
        (0, 0, 0)
    );
    assert!(v["jobs"][0]["read"]["clat_ns"].get("percentile").is_none());
    assert_eq!(v["jobs"][0]["read"]["total_ios"], 256);
    let v = json(&direct_4k(dir.path(), &base, &["--disable_lat=1"]));
    assert_eq!((n(&v, "clat_ns"), n(&v, "lat_ns")), (256, 0));
    let out = direct_4k(
        dir.path(),
        &base,
        &["--disable_clat=1", "--output-format=normal"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("clat (") && !text.contains("clat percentiles"),
        "{text}"
    );
    assert!(text.contains(" lat (") && text.contains("slat ("), "{text}");
}

/// fio's `exitall` / `exit_what`: when the short job `a` ends, `exit_what=group` ends the
/// jobs of its reporting group (not those of another group), `all` every job — also one of a
/// later stonewall phase, which then ends as it starts. (Without exitall, `b` runs its 3 s.)
#[test]
fn exitall_ends_the_jobs_exit_what_names() {
    let dir = tempdir();
    std::fs::write(dir.path().join("data"), vec![1u8; 1 << 20]).unwrap();
    let run = |a_extra: &str, b_extra: &str, c: &str| {
        let job = dir.path().join("j.fio");
        std::fs::write(
            &job,
            format!(
                "[global]\nfilename=data\nsize=1m\nrw=randread\n\
                 [a]\nnumber_ios=10\nthinktime=10ms\n{a_extra}\n\
                 [b]\nruntime=3\ntime_based\n{b_extra}\n{c}"
            ),
        )
        .unwrap();
        let v = json(&bench_in(
            dir.path(),
            &[job.to_str().unwrap(), "--output-format=json"],
        ));
        let ms: Vec<u64> = v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["job_runtime"].as_u64().unwrap())
            .collect();
        ms
    };
    let ms = run("exitall", "", "");
    assert!(ms[1] < 2000, "b ends with a: {ms:?}");
    let ms = run("exitall", "new_group", "");
    assert!(ms[1] >= 2900, "b is in another group: {ms:?}");
    let ms = run(
        "exitall\nexit_what=all",
        "new_group",
        "[c]\nstonewall\nruntime=3\ntime_based\n",
    );
    assert!(
        ms[1] < 2000 && ms[2] < 2000,
        "all: b and the later c end: {ms:?}"
    );
    let ms = run("", "", "");
    assert!(
        ms[1] >= 2900,
        "the control: without exitall b runs on: {ms:?}"
    );
}

/// Which 4 KiB blocks of a zeroed file of `size` bytes a 4 KiB O_DIRECT job writes (its
/// data is a nonzero pattern), with `args`.
fn blocks_written(dir: &Path, size: usize, args: &[&str]) -> Vec<usize> {
    let f = dir.join("data");
    std::fs::write(&f, vec![0u8; size]).unwrap();
    let file = format!("--filename={}", f.display());
    let base = ["--name=w", &file, "--verify_pattern=0xff"];
    json(&direct_4k(dir, &base, args));
    std::fs::read(&f)
        .unwrap()
        .chunks(4096)
        .enumerate()
        .filter(|(_, b)| b[0] != 0)
        .map(|(i, _)| i)
        .collect()
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
    let out = bench_in(
        dir.path(),
        &["--name=ba", "--bs=8k", "--blockalign=4k", "--parse_only"],
    );
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
        let v = json(&bench_in(
            dir.path(),
            &[
                "--name=v",
                "--filename=vf",
                "--size=2m",
                "--bs=16k",
                &format!("--rw={rw}"),
                "--verify=crc32c",
                "--ioengine=libaio",
                "--direct=1",
                "--output-format=json",
            ],
        ));
        let vr = &v["jobs"][0]["diorite"]["verify"];
        assert_eq!(vr["errors"], 0, "{rw}: {vr}");
        let n = vr["blocks"].as_u64().unwrap();
        assert!(blocks.map_or(n > 0, |b| n == b), "{rw}: {vr}");
        std::fs::remove_file(dir.path().join("vf")).unwrap();
    }
}

/// fio's per-I/O logs: names (`PREFIX_TYPE.N.log`, N counting job clones from 1;
/// `per_job_logs=0` drops N), one line per I/O in fio's format (`time, value, ddir, bytes, prio`,
/// with `log_offset` the offset before the priority). When fio is installed, fio writes the same
/// files with the same shape for the same job (fio 3.33's own fiologparser.py cannot read
/// either: it expects the older 4-column lines).
#[test]
fn logs_have_fios_names_and_line_format() {
    let dir = tempdir();
    std::fs::write(dir.path().join("data"), vec![1u8; 1 << 20]).unwrap();
    let args = [
        "--name=lg",
        "--filename=data",
        "--size=256k",
        "--rw=randrw",
        "--bs=4k",
        "--numjobs=2",
        "--write_lat_log=L",
        "--write_bw_log=B",
        "--write_iops_log=I",
        "--log_offset=1",
        "--ioengine=io_uring",
        "--iodepth=4",
    ];
    let mut a = args.to_vec();
    a.push("--output-format=json");
    let v = json(&bench_in(dir.path(), &a));
    let names = ["L_lat", "L_clat", "L_slat", "B_bw", "I_iops"];
    for (k, job) in v["jobs"].as_array().unwrap().iter().enumerate() {
        let ios = job["read"]["total_ios"].as_u64().unwrap()
            + job["write"]["total_ios"].as_u64().unwrap();
        for n in names {
            let text =
                std::fs::read_to_string(dir.path().join(format!("{n}.{}.log", k + 1))).unwrap();
            let lines: Vec<Vec<u64>> = text
                .lines()
                .map(|l| l.split(", ").map(|x| x.parse().unwrap()).collect())
                .collect();
            assert_eq!(lines.len() as u64, ios, "{n}.{}: one line per I/O", k + 1);
            for l in &lines {
                assert_eq!(
                    l.len(),
                    6,
                    "{n}: time, value, ddir, bs, offset, prio: {l:?}"
                );
                assert!(
                    l[2] <= 1 && l[3] == 4096 && l[4] % 4096 == 0 && l[4] < 1 << 20 && l[5] == 0
                );
                if n == "I_iops" {
                    assert_eq!(l[1], 1);
                }
            }
        }
    }
    // Without per-job numbers (the clones then share one file each, as in fio).
    let mut a = args.to_vec();
    // With disable_bw_measurement the bw log is made but stays empty (fio skips the samples).
    a.extend([
        "--per_job_logs=0",
        "--numjobs=2",
        "--disable_bw_measurement=1",
        "--output-format=json",
    ]);
    let v = json(&bench_in(dir.path(), &a));
    let len = |n: &str| std::fs::metadata(dir.path().join(n)).unwrap().len();
    assert!(len("L_clat.log") > 0);
    assert_eq!(len("B_bw.log"), 0);
    // Both clones appended to the shared log (fio opens it in append mode).
    let ios: u64 = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            j["read"]["total_ios"].as_u64().unwrap() + j["write"]["total_ios"].as_u64().unwrap()
        })
        .sum();
    let lines = std::fs::read_to_string(dir.path().join("I_iops.log"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines as u64, ios, "one line per I/O of both clones");
    // fio side by side, when installed: the same file names, the same line shape.
    let fio_dir = tempdir();
    std::fs::write(fio_dir.path().join("data"), vec![1u8; 1 << 20]).unwrap();
    let mut a = args.to_vec();
    a.push("--output=/dev/null");
    match Command::new("fio")
        .current_dir(fio_dir.path())
        .args(&a)
        .status()
    {
        Ok(s) if s.success() => {
            for n in names {
                for k in 1..=2 {
                    let ours =
                        std::fs::read_to_string(dir.path().join(format!("{n}.{k}.log"))).unwrap();
                    let theirs =
                        std::fs::read_to_string(fio_dir.path().join(format!("{n}.{k}.log")))
                            .unwrap();
                    let shape = |t: &str| t.lines().next().map(|l| l.split(", ").count());
                    assert_eq!(shape(&ours), shape(&theirs), "{n}.{k}.log");
                }
            }
        }
        _ => eprintln!("SKIPPED: fio is not installed; the side-by-side log check did not run"),
    }
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
    let out = bench_in(dir.path(), &["--name=o", "--size=0%", "--parse_only"]);
    assert!(common::stderr(&out).contains("a whole number from 1 to 100"));
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
    json(&bench_in(
        dir.path(),
        &[
            "--name=u",
            &file,
            "--size=64k",
            "--rw=write",
            "--output-format=json",
        ],
    ));
    assert!(made.exists());
}

/// What a write job wrote: `(lz4-compressed size / size, distinct 4 KiB blocks)`.
fn written_data(path: &Path) -> (f64, usize) {
    let d = std::fs::read(path).unwrap();
    let packed = lz4_flex::block::compress(&d).len();
    let mut blocks: Vec<&[u8]> = d.chunks(4096).collect();
    blocks.sort_unstable();
    blocks.dedup();
    (packed as f64 / d.len() as f64, blocks.len())
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
    // (options, lz4 ratio range, distinct blocks range) of the 1024 blocks written.
    type Case = (&'static [&'static str], (f64, f64), (usize, usize));
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
    let fio = Command::new("fio").arg("--version").output().is_ok();
    if !fio {
        eprintln!("SKIPPED: fio is not installed; the side-by-side data check did not run");
    }
    for (extra, (rlo, rhi), (blo, bhi)) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        let f = dir.path().join("f.dat");
        let _ = std::fs::remove_file(&f);
        let out = bench_in(dir.path(), &args);
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
        if fio {
            std::fs::remove_file(&f).unwrap();
            let st = Command::new("fio")
                .current_dir(dir.path())
                .args(&args)
                .arg("--output=/dev/null")
                .status()
                .unwrap();
            assert!(st.success(), "fio {extra:?}");
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
    // Clones write their own data (each its own seed, as fio's jobs): no 4 KiB block of one
    // clone's file is in the other's (before: the same data, deduplicated to one copy).
    let d = tempdir();
    let out = bench_in(
        d.path(),
        &[
            "--name=c",
            "--rw=write",
            "--size=1m",
            "--numjobs=2",
            "--refill_buffers",
        ],
    );
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
    let fio = Command::new("fio").arg("--version").output().is_ok();
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
        if fio {
            let fdir = tempdir();
            let st = Command::new("fio")
                .current_dir(fdir.path())
                .args(&args)
                .arg("--output=/dev/null")
                .status()
                .unwrap();
            assert!(st.success());
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
    let out = bench_in(
        dir.path(),
        &[
            "--name=w",
            "--rw=write",
            "--size=96k",
            "--nrfiles=3",
            "--numjobs=2",
            "--filename_format=$jobname-$JOBNUM-$filenum$clientuid.dat",
            &dirs,
        ],
    );
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
        let out = bench_in(
            dir.path(),
            &[
                "--name=w",
                "--rw=write",
                "--bs=4k",
                "--size=1m",
                "--number_ios=1",
                &format!("--fallocate={mode}"),
            ],
        );
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

/// fio's CPU options: the job thread's affinity and nice value, as the kernel
/// reports them from inside the job (`diorite.cpus`, `diorite.nice`): `cpus_allowed` and
/// `cpumask` set the CPUs, `cpus_allowed_policy=split` gives each job one CPU of the set by its
/// number in the run, `nice` the nice value; a CPU this machine lacks is refused by name.
#[test]
fn cpu_options_place_the_job_threads() {
    let dir = tempdir();
    let run = |extra: &[&str]| -> Vec<(Vec<u64>, i64)> {
        let mut a = vec![
            "--name=c",
            "--filename=f",
            "--size=64k",
            "--numjobs=2",
            "--output-format=json",
        ];
        a.extend(extra);
        let v = json(&bench_in(dir.path(), &a));
        (0..2)
            .map(|k| {
                let d = &v["jobs"][k]["diorite"];
                let cpus = d["cpus"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_u64().unwrap())
                    .collect();
                (cpus, d["nice"].as_i64().unwrap())
            })
            .collect()
    };
    let all: Vec<u64> = run(&[])[0].0.clone();
    assert!(all.len() >= 2, "this test needs two CPUs: {all:?}");
    assert_eq!(run(&["--cpus_allowed=1"]), [(vec![1], 0), (vec![1], 0)]);
    assert_eq!(run(&["--cpumask=0x1"]), [(vec![0], 0), (vec![0], 0)]);
    assert_eq!(
        run(&["--cpus_allowed=0-1", "--cpus_allowed_policy=split"]),
        [(vec![0], 0), (vec![1], 0)]
    );
    assert_eq!(run(&["--nice=7"]), [(all.clone(), 7), (all, 7)]);
    // NUMA: node 0's CPUs (all of them on a one-node machine), and the memory policy the
    // kernel reports for the job thread.
    let node0: Vec<u64> = std::fs::read_to_string("/sys/devices/system/node/node0/cpulist")
        .map(|l| {
            l.trim()
                .split(',')
                .flat_map(|p| {
                    let (a, b) = p.split_once('-').unwrap_or((p, p));
                    a.parse::<u64>().unwrap()..=b.parse::<u64>().unwrap()
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(run(&["--numa_cpu_nodes=0"])[0].0, node0);
    let v = json(&bench_in(
        dir.path(),
        &[
            "--name=c",
            "--filename=f",
            "--size=64k",
            "--numa_mem_policy=bind:0",
            "--output-format=json",
        ],
    ));
    assert_eq!(
        v["jobs"][0]["diorite"]["mem_policy"]["mode"], 2,
        "MPOL_BIND"
    );
    assert_eq!(v["jobs"][0]["diorite"]["mem_policy"]["nodes"], 1);
    for bad in [
        "--cpus_allowed=4096",
        "--nice=40",
        "--cpumask=0",
        "--numa_cpu_nodes=63",
        "--numa_mem_policy=bind:63",
    ] {
        let out = bench_in(dir.path(), &["--name=c", "--filename=g", "--size=64k", bad]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        let name = bad.trim_start_matches("--").split('=').next().unwrap();
        assert!(
            common::stderr(&out).contains(name),
            "{bad}: {}",
            common::stderr(&out)
        );
        assert!(!dir.path().join("g").exists(), "{bad}: nothing created");
    }
}

/// fio's percentile options: `clat_percentiles` (on by default),
/// `lat_percentiles`, `slat_percentiles` decide which series carry percentiles — in the text
/// report, the JSON (`*_ns.percentile`, only those) and terse (total latency's when asked,
/// else clat's) — and `percentile_list` which percentiles. With fio installed, fio's JSON has
/// percentiles in the same series at the same keys.
#[test]
fn percentile_options_choose_the_series_and_the_percentiles() {
    let dir = tempdir();
    let args = [
        "--name=p",
        "--filename=f",
        "--size=256k",
        "--ioengine=libaio",
        "--direct=1",
        "--clat_percentiles=0",
        "--lat_percentiles=1",
        "--slat_percentiles=1",
        "--percentile_list=99.9:50",
    ];
    let keys = |v: &Value, series: &str| -> Option<Vec<String>> {
        v["jobs"][0]["read"][series]["percentile"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
    };
    let mut a = args.to_vec();
    a.push("--output-format=json");
    let ours = json(&bench_in(dir.path(), &a));
    let want = Some(vec!["50.000000".to_string(), "99.900000".to_string()]);
    assert_eq!(keys(&ours, "slat_ns"), want);
    assert_eq!(keys(&ours, "clat_ns"), None);
    assert_eq!(keys(&ours, "lat_ns"), want);
    let text = String::from_utf8(bench_in(dir.path(), &args).stdout).unwrap();
    assert!(text.contains("    slat percentiles ("), "{text}");
    assert!(text.contains("    lat percentiles ("), "{text}");
    assert!(!text.contains("clat percentiles"), "{text}");
    assert!(text.contains(" 99.90th=["), "{text}");
    let mut a = args.to_vec();
    a.push("--output-format=terse");
    let terse = String::from_utf8(bench_in(dir.path(), &a).stdout).unwrap();
    assert!(terse.contains(";50.000000%="), "{terse}");
    // The defaults: clat only.
    let v = json(&bench_in(
        dir.path(),
        &[
            "--name=p",
            "--filename=f",
            "--size=256k",
            "--output-format=json",
        ],
    ));
    assert_eq!(keys(&v, "clat_ns").map(|k| k.len()), Some(17));
    assert_eq!(keys(&v, "lat_ns"), None);
    assert_eq!(keys(&v, "slat_ns"), None);
    // fio side by side.
    let mut a = args.to_vec();
    a.push("--output-format=json");
    match Command::new("fio")
        .current_dir(dir.path())
        .args(&a)
        .output()
    {
        Ok(o) if o.status.success() => {
            let f: Value = serde_json::from_slice(&o.stdout).unwrap();
            for s in ["slat_ns", "clat_ns", "lat_ns"] {
                assert_eq!(keys(&f, s), keys(&ours, s), "{s}");
            }
        }
        _ => eprintln!("SKIPPED: fio is not installed; the side-by-side check did not run"),
    }
}

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
    let out = bench_in(
        dir.path(),
        &[
            "--name=r",
            "--filename=f",
            "--rw=randread",
            "--random_generator=lfsr",
            "--random_distribution=zipf:1.2",
        ],
    );
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
    let fio = Command::new("fio").arg("--version").output().is_ok();
    for (extra, want) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        assert_eq!(offsets_logged(dir.path(), &args, 4096), *want, "{extra:?}");
        if fio {
            let mut a = args.clone();
            a.extend([
                "--write_iops_log=fio",
                "--log_offset=1",
                "--output=/dev/null",
            ]);
            let st = Command::new("fio")
                .current_dir(dir.path())
                .args(&a)
                .status()
                .unwrap();
            assert!(st.success());
            let log = std::fs::read_to_string(dir.path().join("fio_iops.1.log")).unwrap();
            let theirs: Vec<u64> = log
                .lines()
                .map(|l| l.split(", ").nth(4).unwrap().trim().parse::<u64>().unwrap() / 4096)
                .collect();
            assert_eq!(theirs, *want, "fio {extra:?}");
        }
    }
    let out = bench_in(
        dir.path(),
        &[
            "--name=z",
            "--filename=f",
            "--zonemode=strided",
            "--size=1m",
        ],
    );
    assert!(common::stderr(&out).contains("needs zonesize"));
    let out = bench_in(
        dir.path(),
        &["--name=z", "--filename=f", "--zonesize=16k", "--size=1m"],
    );
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

/// The priority column of a job's clat log (`log_prio=1`: the ioprio value): count per value.
fn prios_logged(dir: &Path, args: &[&str]) -> std::collections::BTreeMap<String, usize> {
    let mut a = args.to_vec();
    a.extend(["--write_lat_log=pr", "--log_prio=1", "--output-format=json"]);
    let out = bench_in(dir, &a);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let log = std::fs::read_to_string(dir.join("pr_clat.1.log")).unwrap();
    let mut m = std::collections::BTreeMap::new();
    for l in log.lines() {
        *m.entry(l.rsplit(", ").next().unwrap().to_string())
            .or_insert(0) += 1;
    }
    m
}

/// fio's priorities: `prio`/`prioclass` give every I/O the job's priority,
/// `cmdprio_percentage` that share of I/Os the `cmdprio_class`/`cmdprio` one (seen per I/O in
/// the log's priority column, on each engine), `cmdprio_bssplit` per block size; the report has
/// fio's per-priority latency (`clat prio C/L` lines and the JSON `prios` array, whose counts
/// add up to the I/Os); cmdprio on a synchronous engine and both cmdprio forms at once are
/// refused by name. With fio installed, fio reports the same priorities for the same job.
#[test]
fn priorities_per_io_and_their_latency() {
    let dir = tempdir();
    let base = [
        "--name=p",
        "--filename=f",
        "--size=8m",
        "--rw=randread",
        "--direct=1",
        "--iodepth=8",
        "--number_ios=1000",
    ];
    for engine in ["io_uring", "libaio", "threads"] {
        let e = format!("--ioengine={engine}");
        let mut a = base.to_vec();
        a.extend([
            e.as_str(),
            "--prio=2",
            "--cmdprio_percentage=30",
            "--cmdprio_class=3",
        ]);
        let m = prios_logged(dir.path(), &a);
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["0x4002", "0x6000"],
            "{engine}"
        );
        let idle = m["0x6000"];
        assert!(
            (220..=380).contains(&idle),
            "{engine}: {idle} of 1000 at 3/0"
        );
    }
    // The report: per-priority lines and JSON entries.
    let mut a = base.to_vec();
    a.extend([
        "--ioengine=io_uring",
        "--prio=2",
        "--cmdprio_percentage=30",
        "--cmdprio_class=3",
    ]);
    let text = String::from_utf8(bench_in(dir.path(), &a).stdout).unwrap();
    assert!(text.contains("    clat prio 2/2 ("), "{text}");
    assert!(text.contains("    clat prio 3/0 ("), "{text}");
    assert!(text.contains("% of IOs) percentiles"), "{text}");
    a.push("--output-format=json");
    let v = json(&bench_in(dir.path(), &a));
    let prios = v["jobs"][0]["read"]["prios"].as_array().unwrap();
    let got: Vec<(u64, u64)> = prios
        .iter()
        .map(|p| {
            (
                p["prioclass"].as_u64().unwrap(),
                p["prio"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [(2, 2), (3, 0)]);
    let n: u64 = prios
        .iter()
        .map(|p| p["clat_ns"]["N"].as_u64().unwrap())
        .sum();
    assert_eq!(n, 1000);
    match Command::new("fio")
        .current_dir(dir.path())
        .args(&a)
        .output()
    {
        Ok(o) if o.status.success() => {
            let f: Value = serde_json::from_slice(&o.stdout).unwrap();
            let theirs: Vec<(u64, u64)> = f["jobs"][0]["read"]["prios"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["prioclass"].as_u64().unwrap(),
                        p["prio"].as_u64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(got, theirs, "fio's priorities");
        }
        _ => eprintln!("SKIPPED: fio is not installed; the side-by-side check did not run"),
    }
    // cmdprio_bssplit: 4k reads all real-time 0; 8k writes half at the cmdprio (real-time 0 by
    // default), half at none.
    let m = prios_logged(
        dir.path(),
        &[
            "--name=p",
            "--filename=f",
            "--size=8m",
            "--rw=randrw",
            "--bs=4k,8k",
            "--direct=1",
            "--ioengine=io_uring",
            "--number_ios=1000",
            "--cmdprio_bssplit=4k/100/1/0,8k/50",
        ],
    );
    assert_eq!(m.keys().collect::<Vec<_>>(), ["0x0000", "0x2000"], "{m:?}");
    assert!((600..=850).contains(&m["0x2000"]), "{m:?}");
    // Without log_prio the column says whether the I/O was real-time.
    let mut a = base.to_vec();
    a.extend([
        "--ioengine=io_uring",
        "--cmdprio_percentage=50",
        "--write_lat_log=rt",
    ]);
    assert!(bench_in(dir.path(), &a).status.success());
    let log = std::fs::read_to_string(dir.path().join("rt_clat.1.log")).unwrap();
    let cols: std::collections::BTreeSet<&str> = log
        .lines()
        .map(|l| l.rsplit(", ").next().unwrap())
        .collect();
    assert_eq!(cols.into_iter().collect::<Vec<_>>(), ["0", "1"]);
    // Refusals.
    for (extra, says) in [
        (
            &["--ioengine=psync", "--cmdprio_percentage=10"][..],
            "cmdprio",
        ),
        (
            &[
                "--ioengine=io_uring",
                "--cmdprio_percentage=10",
                "--cmdprio_bssplit=4k/10",
            ][..],
            "mutually exclusive",
        ),
        (&["--ioengine=io_uring", "--prio=9"][..], "prio=9"),
    ] {
        let mut a = base.to_vec();
        a.extend(extra);
        let out = bench_in(dir.path(), &a);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        assert!(
            common::stderr(&out).contains(says),
            "{}",
            common::stderr(&out)
        );
    }
}

/// fio's `flow` (flow.c): readers in one `flow_id` keep their I/O counts in the ratio of their
/// weights; a job in another flow_id is not held back by them; a job capped by a rate holds
/// its flow partner to its own pace. Counted from the jobs' I/O logs over their first 800 ms,
/// while all of them run (a job whose partner has ended runs free, as in fio, and the ends
/// jitter by milliseconds).
#[test]
fn flow_weights_keep_jobs_in_ratio() {
    let dir = tempdir();
    let counts = |jobs: [&str; 3]| -> Vec<f64> {
        let job = |name: &str, extra: &str| {
            format!(
                "[{name}]\nfilename=f\nsize=4m\nrw=randread\nioengine=psync\ntime_based\n\
                 runtime=1\nflow_sleep=100\nwrite_iops_log=fl\n{extra}\n"
            )
        };
        let file = format!(
            "{}{}{}",
            job("a", jobs[0]),
            job("b", jobs[1]),
            job("c", jobs[2])
        );
        std::fs::write(dir.path().join("flow.fio"), file).unwrap();
        let out = bench_in(dir.path(), &["flow.fio"]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        (1..=3)
            .map(|k| {
                let log =
                    std::fs::read_to_string(dir.path().join(format!("fl_iops.{k}.log"))).unwrap();
                log.lines()
                    .filter(|l| l.split(", ").next().unwrap().parse::<u64>().unwrap() < 800)
                    .count() as f64
            })
            .collect()
    };
    let n = counts(["flow=1", "flow=3", "flow_id=7\nflow=1"]);
    let ratio = n[1] / n[0];
    assert!((2.6..3.4).contains(&ratio), "{n:?}");
    assert!(n[2] > n[0] * 1.5, "c is in another flow: {n:?}");
    let n = counts(["", "", ""]);
    let ratio = n[1] / n[0];
    assert!((0.6..1.6).contains(&ratio), "without flow: {n:?}");
    // b capped at 300 IOPS: a, at a third of b's weight, does about a third of b's I/Os.
    let n = counts(["flow=1", "flow=3\nrate_iops=300", "flow_id=7\nflow=1"]);
    let ratio = n[1] / n[0];
    assert!((2.4..3.6).contains(&ratio), "with b rate-capped: {n:?}");
}

/// fio's `rate_process=poisson` (backend.c `usec_for_io`): the gaps between I/Os are
/// exponential with the rate's mean (coefficient of variation near 1), where `linear` paces
/// them evenly; `io_submit_mode=offload`: a rate wait does not drain what is in flight, so on
/// a device taking 20 ms per I/O at 200 IOPS the queue stays 4 deep, where `inline` drains and
/// then catches up in bursts; poisson without a rate is refused.
#[test]
fn rate_process_and_offload_submission() {
    let dir = tempdir();
    let gaps = |process: &str| -> (f64, f64) {
        let p = format!("--rate_process={process}");
        let out = bench_in(
            dir.path(),
            &[
                "--name=o",
                "--size=1m",
                "--rw=randread",
                "--ioengine=null",
                "--rate_iops=100",
                "--number_ios=200",
                &p,
                "--write_iops_log=pp",
            ],
        );
        assert!(out.status.success(), "{}", common::stderr(&out));
        let log = std::fs::read_to_string(dir.path().join("pp_iops.1.log")).unwrap();
        let t: Vec<f64> = log
            .lines()
            .map(|l| l.split(", ").next().unwrap().parse().unwrap())
            .collect();
        let g: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = g.iter().sum::<f64>() / g.len() as f64;
        let var = g.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / g.len() as f64;
        (mean, var.sqrt() / mean)
    };
    let (mean, cv) = gaps("linear");
    assert!(
        (8.0..12.0).contains(&mean) && cv < 0.3,
        "linear: {mean} {cv}"
    );
    let (mean, cv) = gaps("poisson");
    assert!(
        (7.0..14.0).contains(&mean) && cv > 0.6,
        "poisson: {mean} {cv}"
    );
    let depth4 = |mode: &str| -> f64 {
        let m = format!("--io_submit_mode={mode}");
        let v = json(&bench_in(
            dir.path(),
            &[
                "--name=o",
                "--filename=f",
                "--size=1m",
                "--rw=randread",
                "--ioengine=threads",
                "--iodepth=8",
                "--rate_iops=200",
                "--number_ios=60",
                "--inject=any:always:delay=20ms",
                &m,
                "--output-format=json",
            ],
        ));
        v["jobs"][0]["iodepth_level"]["4"].as_f64().unwrap()
    };
    let (inline, offload) = (depth4("inline"), depth4("offload"));
    assert!(offload >= 70.0, "offload keeps 4 in flight: {offload}%");
    assert!(inline <= 55.0, "inline drains: {inline}%");
    let out = bench_in(
        dir.path(),
        &[
            "--name=o",
            "--filename=f",
            "--size=1m",
            "--rate_process=poisson",
        ],
    );
    assert!(common::stderr(&out).contains("rate_process=poisson"));
}

/// fio's steady state: a job whose IOPS settle ends once the window of `ss_dur`
/// (sampled every `ss_interval`) meets the criterion, long before its runtime, and reports
/// fio's `steadystate` block (criterion string, data arrays of the window's length) and text
/// line; a criterion that cannot be met runs the whole runtime, `attained` 0; with
/// `group_reporting` a group is judged and ended as one; `ss` without `ss_dur` is refused.
/// With fio installed, fio's block has the same keys.
#[test]
fn steady_state_ends_jobs_once_attained() {
    let dir = tempdir();
    let base = [
        "--name=s",
        "--filename=f",
        "--size=4m",
        "--rw=randread",
        "--ioengine=psync",
        "--time_based",
        "--ss_dur=2",
        "--ss_interval=500ms",
        "--output-format=json",
    ];
    let run = |extra: &[&str]| -> Value {
        let mut a = base.to_vec();
        a.extend(extra);
        json(&bench_in(dir.path(), &a))
    };
    let v = run(&["--runtime=30", "--ss=iops:60%"]);
    let j = &v["jobs"][0];
    let ss = &j["steadystate"];
    assert_eq!(ss["attained"], 1, "{ss}");
    assert_eq!(ss["ss"], "iops:60.000000%");
    assert_eq!(ss["duration"], 2);
    assert_eq!(ss["data"]["iops"].as_array().unwrap().len(), 4);
    assert!(ss["criterion"].as_str().unwrap().ends_with('%'));
    assert!(
        j["read"]["runtime"].as_u64().unwrap() < 15_000,
        "ended early"
    );
    let v = run(&["--runtime=3", "--ss=bw_slope:0"]);
    let ss = &v["jobs"][0]["steadystate"];
    assert_eq!(ss["attained"], 0, "{ss}");
    assert!(v["jobs"][0]["read"]["runtime"].as_u64().unwrap() >= 2900);
    // A group judged as one: both clones end together, early.
    let v = run(&[
        "--runtime=30",
        "--ss=iops:60%",
        "--numjobs=2",
        "--group_reporting",
    ]);
    let j = &v["jobs"][0];
    assert_eq!(j["steadystate"]["attained"], 1);
    assert!(j["read"]["runtime"].as_u64().unwrap() < 15_000);
    let text = {
        let mut a = base.to_vec();
        a.retain(|x| *x != "--output-format=json");
        a.extend(["--runtime=30", "--ss=iops:60%"]);
        String::from_utf8(bench_in(dir.path(), &a).stdout).unwrap()
    };
    assert!(
        text.contains("  steadystate  : attained=yes, bw="),
        "{text}"
    );
    assert!(text.contains("iops mean dev="), "{text}");
    let out = bench_in(dir.path(), &["--name=s", "--filename=f", "--ss=iops:5%"]);
    assert!(common::stderr(&out).contains("give ss_dur"));
    // fio's block has the same keys.
    let fa = [
        "--name=s",
        "--filename=f",
        "--size=4m",
        "--rw=randread",
        "--time_based",
        "--runtime=4",
        "--ss_dur=2",
        "--ss=iops:60%",
        "--output-format=json",
    ];
    match Command::new("fio")
        .current_dir(dir.path())
        .args(fa)
        .output()
    {
        Ok(o) if o.status.success() => {
            let f: Value = serde_json::from_slice(&o.stdout).unwrap();
            let keys = |v: &Value| -> Vec<String> {
                let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
                k.extend(v["data"].as_object().unwrap().keys().cloned());
                k.sort();
                k
            };
            let ours = run(&["--runtime=4", "--ss=iops:60%"]);
            assert_eq!(
                keys(&f["jobs"][0]["steadystate"]),
                keys(&ours["jobs"][0]["steadystate"])
            );
        }
        _ => eprintln!("SKIPPED: fio is not installed; the side-by-side check did not run"),
    }
}

/// fio's latency-target search (io_u.c `lat_target_*`): on a device whose latency grows with
/// the queue (two workers, 10 ms per I/O), a 25 ms target settles at depth 4, the job runs one
/// last window there (statistics from it alone) and ends by itself; the report carries fio's
/// `latency   : target=…, window=…, percentile=…, depth=…` line and JSON fields;
/// `max_latency` ends a job whose I/O is slower with ETIMEDOUT; the search's other options
/// without a target are refused.
#[test]
fn latency_target_finds_the_deepest_queue_that_meets_it() {
    let dir = tempdir();
    let args = [
        "--name=l",
        "--filename=f",
        "--size=4m",
        "--rw=randread",
        "--ioengine=threads",
        "--pool_threads=2",
        "--iodepth=32",
        "--inject=any:always:delay=10ms",
        "--latency_target=25ms",
        "--latency_window=200ms",
        "--time_based",
        "--runtime=30",
    ];
    let mut a = args.to_vec();
    a.push("--output-format=json,normal");
    let out = bench_in(dir.path(), &a);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("latency   : target=25000000, window=200000, percentile=100.00%, depth=4"),
        "{stdout}"
    );
    let v: Value = serde_json::from_str(&stdout[stdout.find('{').unwrap()..]).unwrap();
    let j = &v["jobs"][0];
    assert_eq!(j["latency_depth"], 4);
    assert_eq!(j["latency_target"], 25_000_000);
    assert!(
        j["read"]["runtime"].as_u64().unwrap() < 5_000,
        "ends by itself"
    );
    assert!(j["read"]["lat_ns"]["mean"].as_f64().unwrap() < 25e6);
    // max_latency: slower I/O ends the job.
    let out = bench_in(
        dir.path(),
        &[
            "--name=m",
            "--filename=f",
            "--size=4m",
            "--ioengine=threads",
            "--inject=any:always:delay=10ms",
            "--max_latency=5ms",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("max_latency"));
    let out = bench_in(
        dir.path(),
        &["--name=m", "--filename=f", "--latency_window=1s"],
    );
    assert!(common::stderr(&out).contains("latency_target"));
}

/// fio's averaged and histogram logs: with `log_avg_msec=200` each log has
/// one entry per 200 ms window and direction (times on the window grid, block size and
/// offset 0, the window's mean; `log_max_value=1` its largest), bandwidth in KiB/s and IOPS
/// per interval; `write_hist_log` with `log_hist_msec` writes fio's 1856 bins per line (fewer
/// with `log_hist_coarseness`), the windows' counts adding up to the I/Os; and fio's own
/// `fiologparser_hist.py` (from fio's documentation, when fio, numpy and pandas are here)
/// reads it.
#[test]
fn averaged_and_histogram_logs_as_fio_writes_them() {
    let dir = tempdir();
    let base = [
        "--name=g",
        "--filename=f",
        "--size=16m",
        "--rw=randread",
        "--ioengine=psync",
        "--time_based",
        "--runtime=1",
        "--output-format=json",
    ];
    let run = |extra: &[&str]| -> Value {
        let mut a = base.to_vec();
        a.extend(extra);
        let out = bench_in(dir.path(), &a);
        assert!(out.status.success(), "{}", common::stderr(&out));
        json(&out)
    };
    let lines = |name: &str| -> Vec<Vec<u64>> {
        std::fs::read_to_string(dir.path().join(name))
            .unwrap()
            .lines()
            .map(|l| l.split(", ").map(|x| x.trim().parse().unwrap()).collect())
            .collect()
    };
    let v = run(&[
        "--log_avg_msec=200",
        "--write_lat_log=a",
        "--write_bw_log=a",
        "--write_iops_log=a",
        "--log_offset=1",
    ]);
    let ios = v["jobs"][0]["read"]["total_ios"].as_u64().unwrap();
    // (psync has no submission step: its slat log stays empty, as fio's.)
    assert!(lines("a_slat.1.log").is_empty());
    for kind in ["lat", "clat", "bw", "iops"] {
        let l = lines(&format!("a_{kind}.1.log"));
        assert!((4..=6).contains(&l.len()), "{kind}: {} entries", l.len());
        for e in &l {
            assert_eq!(e.len(), 6, "{kind}: {e:?}");
            assert_eq!((e[2], e[3], e[4], e[5]), (0, 0, 0, 0), "{kind}: {e:?}");
            assert!(e[1] > 0, "{kind}: {e:?}");
        }
    }
    // IOPS per interval times the intervals: about the I/Os done.
    let iops: u64 = lines("a_iops.1.log").iter().map(|e| e[1] / 5).sum();
    assert!(iops > ios / 2 && iops < ios * 2, "{iops} vs {ios}");
    let mean = lines("a_clat.1.log")[1][1];
    run(&[
        "--log_avg_msec=200",
        "--log_max_value=1",
        "--write_lat_log=a",
    ]);
    let max = lines("a_clat.1.log")[1][1];
    assert!(
        max > mean,
        "a window's max ({max}) above a window's mean ({mean})"
    );
    // Histograms.
    let v = run(&["--write_hist_log=h", "--log_hist_msec=200"]);
    let ios = v["jobs"][0]["read"]["total_ios"].as_u64().unwrap();
    let h = lines("h_clat_hist.1.log");
    assert!((3..=5).contains(&h.len()), "{}", h.len());
    assert!(h.iter().all(|e| e.len() == 3 + 1856));
    let counted: u64 = h.iter().map(|e| e[3..].iter().sum::<u64>()).sum();
    assert!(counted <= ios && counted > ios / 2, "{counted} of {ios}");
    run(&[
        "--write_hist_log=c",
        "--log_hist_msec=200",
        "--log_hist_coarseness=2",
    ]);
    assert!(lines("c_clat_hist.1.log")
        .iter()
        .all(|e| e.len() == 3 + 464));
    let out = bench_in(
        dir.path(),
        &["--name=g", "--filename=f", "--write_hist_log"],
    );
    assert!(common::stderr(&out).contains("log_hist_msec"));
    // fio's parser.
    let parser = dir.path().join("fiologparser_hist.py");
    let unpacked = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zcat /usr/share/doc/fio/fiologparser_hist.py.gz > {} && python3 -c 'import numpy, pandas'",
            parser.display()
        ))
        .status()
        .is_ok_and(|s| s.success());
    if !unpacked {
        eprintln!(
            "SKIPPED: fio's fiologparser_hist.py (fio's docs) with numpy and pandas is not here"
        );
        return;
    }
    let out = Command::new("python3")
        .arg(&parser)
        .arg(dir.path().join("h_clat_hist.1.log"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(", ").collect();
    assert_eq!(row[1].trim().parse::<u64>().unwrap(), counted, "{text}");
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

/// A verify job's logs carry its verify phase's reads too, as fio's do: 256 writes and 256
/// reads for a 1 MiB job of 4 KiB blocks (and fio's log for the same job, when installed).
#[test]
fn logs_include_the_verify_phase() {
    let dir = tempdir();
    let args = [
        "--name=v",
        "--filename=f",
        "--size=1m",
        "--rw=write",
        "--verify=crc32c",
        "--write_iops_log=vl",
        "--ioengine=libaio",
        "--direct=1",
    ];
    let count = |d: &Path| -> [usize; 2] {
        let log = std::fs::read_to_string(d.join("vl_iops.1.log")).unwrap();
        let mut c = [0; 2];
        for l in log.lines() {
            c[l.split(", ").nth(2).unwrap().parse::<usize>().unwrap()] += 1;
        }
        c
    };
    assert!(bench_in(dir.path(), &args).status.success());
    assert_eq!(count(dir.path()), [256, 256]);
    let fdir = tempdir();
    match Command::new("fio")
        .current_dir(fdir.path())
        .args(args)
        .arg("--output=/dev/null")
        .status()
    {
        Ok(s) if s.success() => assert_eq!(count(fdir.path()), [256, 256], "fio's"),
        _ => eprintln!("SKIPPED: fio is not installed; the side-by-side check did not run"),
    }
}

/// fio's `fio_generate_plots` (with gnuplot) draws its graphs from diorite's logs: one SVG per
/// log type, each plotting the job's log (skipped when fio_generate_plots or gnuplot is not
/// installed).
#[test]
fn fio_generate_plots_reads_the_logs() {
    let have = |c: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("fio_generate_plots") || !have("gnuplot") {
        eprintln!("SKIPPED: fio_generate_plots or gnuplot is not installed");
        return;
    }
    let dir = tempdir();
    let out = bench_in(
        dir.path(),
        &[
            "--name=p",
            "--filename=f",
            "--size=4m",
            "--rw=randread",
            "--write_lat_log=p",
            "--write_bw_log=p",
            "--write_iops_log=p",
        ],
    );
    assert!(out.status.success());
    let st = Command::new("fio_generate_plots")
        .arg("t")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(st.status.success());
    for kind in ["lat", "clat", "bw", "iops"] {
        let svg = std::fs::read_to_string(dir.path().join(format!("t-{kind}.svg")))
            .unwrap_or_else(|e| panic!("t-{kind}.svg: {e}"));
        // fio_generate_plots titles each series by its log's name.
        assert!(
            svg.contains("Queue depth p.1"),
            "t-{kind}.svg has no series from p_{kind}.1.log"
        );
    }
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
            Command::new("fio")
                .current_dir(dir.path())
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())?
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
    let out = bench_in(
        dir.path(),
        &[
            "--name=u",
            "--filename=f",
            "--size=256k",
            "--rw=write",
            "--loops=3",
            "--unlink_each_loop=1",
            "--write_iops_log=ul",
        ],
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let log = std::fs::read_to_string(dir.path().join("ul_iops.1.log")).unwrap();
    assert_eq!(log.lines().count(), 3 * 64);
    assert_eq!(size_after("0", false), Some((512 << 10, 512 << 10)));
    match size_after("1", true) {
        Some(theirs) => {
            assert_eq!(theirs, (256 << 10, 512 << 10), "fio's");
            assert_eq!(size_after("0", true), Some((512 << 10, 512 << 10)), "fio's");
        }
        None => eprintln!("SKIPPED: fio is not installed; the side-by-side check did not run"),
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
    let out = bench_in(
        dir.path(),
        &[
            "--name=v",
            "--filename=g",
            "--size=1m",
            "--numjobs=2",
            "--rw=write",
            "--verify=md5",
        ],
    );
    assert!(common::stderr(&out).contains("numjobs > 1 on shared files"));
}
