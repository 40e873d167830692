//! fio's jobs, engines, sizes and reports, as `diorite bench` reads and prints them.
//! Every test runs the real binary; those that compare with fio skip that part when fio is
//! not installed. Each came with a fix and failed on the code before it.

mod common;

use common::{bench_in, data_file, direct_4k, job, json, tempdir};
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
    let v = job(dir.path(), "d")
        .args(&["--filename=f", "--size=1m", "--rw=read"])
        .json();
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
            let v = job(dir.path(), "d")
                .args(&[
                    "--filename=f",
                    "--size=1m",
                    "--rw=randread",
                    &format!("--ioengine={engine}"),
                    &format!("--direct={direct}"),
                ])
                .json();
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
        let v = job(dir.path(), "s")
            .args(&[
                "--filename=f",
                "--size=1m",
                "--rw=randread",
                "--iodepth=32",
                &format!("--ioengine={engine}"),
            ])
            .json();
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
        let v = job(dir.path(), "k")
            .args(&[
                "--filename=f",
                &format!("--kb_base={base}"),
                &format!("--size={size}"),
                "--bs=1000",
                "--rw=read",
            ])
            .json();
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
    let out = job(dir.path(), "seq")
        .args(&[
            "--numjobs=4",
            "--size=256k",
            "--rw=write",
            "--output-format=json",
        ])
        .run();
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
    job(dir.path(), "r")
        .args(&["--directory=sub", "--size=64k", "--rw=read"])
        .json();
    assert!(sub.join("r.0.0").exists());
    // A relative filename lives in `directory` too, as in fio.
    job(dir.path(), "n")
        .args(&[
            "--directory=sub",
            "--filename=named.dat",
            "--size=64k",
            "--rw=read",
        ])
        .json();
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
    for f in common::SAMPLE_KEYS {
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
    let out = job(dir.path(), "s")
        .args(&[
            "--filename=f",
            "--size=8m",
            "--rw=randread",
            "--runtime=1200ms",
            "--time_based",
            "--status-interval=300ms",
            "--eta=never",
        ])
        .run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.matches("s: (groupid=0").count() >= 3, "{text}");
    // With --output, status reports and the final report all go to the file, as in fio.
    let out = job(dir.path(), "s")
        .args(&[
            "--filename=f",
            "--size=8m",
            "--rw=randread",
            "--runtime=800ms",
            "--time_based",
            "--status-interval=300ms",
            "--eta=never",
            "--output=report.txt",
        ])
        .run();
    assert!(out.status.success() && out.stdout.is_empty());
    let file = std::fs::read_to_string(dir.path().join("report.txt")).unwrap();
    assert!(file.matches("s: (groupid=0").count() >= 2, "{file}");
    assert!(file.contains("Run status group 0"));
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

/// fio's `gtod_reduce` and `disable_*`: a disabled latency series is not recorded (JSON `N` 0,
/// no percentiles) nor printed; the others still are.
#[test]
fn disabled_latencies_are_neither_recorded_nor_printed() {
    let dir = tempdir();
    let f = data_file(dir.path(), "data", 1 << 20, 1);
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
    let v = job(dir.path(), "p")
        .args(&["--filename=f", "--size=256k"])
        .json();
    assert_eq!(keys(&v, "clat_ns").map(|k| k.len()), Some(17));
    assert_eq!(keys(&v, "lat_ns"), None);
    assert_eq!(keys(&v, "slat_ns"), None);
    // fio side by side.
    let mut a = args.to_vec();
    a.push("--output-format=json");
    if let Some(o) = common::fio_in(dir.path(), &a) {
        let f: Value = serde_json::from_slice(&o.stdout).unwrap();
        for s in ["slat_ns", "clat_ns", "lat_ns"] {
            assert_eq!(keys(&f, s), keys(&ours, s), "{s}");
        }
    }
}

/// fio reads long options with one dash too (`-rw=read`: getopt_long_only), as scripts write
/// them; a mistyped option or value is refused naming it, with the nearest spellings (on the
/// command line as `--X`, in a job file as `X`), and nothing is written.
#[test]
fn single_dash_options_and_suggestions_for_typos() {
    let dir = tempdir();
    let run = |args: &[&str]| bench_in(dir.path(), args);
    let one = run(&[
        "-name=s",
        "-filename=f",
        "-size=64k",
        "-rw=write",
        "-bs=4k",
        "-output-format=json",
    ]);
    let two = run(&[
        "--name=s",
        "--filename=g",
        "--size=64k",
        "--rw=write",
        "--bs=4k",
        "--output-format=json",
    ]);
    let io = |o: &std::process::Output| json(o)["jobs"][0]["write"]["io_bytes"].as_u64();
    assert_eq!(io(&one), Some(64 << 10));
    assert_eq!(io(&one), io(&two));
    for (args, want) in [
        (
            &["--filname=x"][..],
            "'--filname' (did you mean --filename?)",
        ),
        (&["-iodpeth=4"][..], "'-iodpeth' (did you mean --iodepth?)"),
        (
            &["--name=t", "--filename=h", "--size=64k", "--rw=raed"][..],
            "(did you mean read?)",
        ),
        (
            &["--name=t", "--eta=nevr"][..],
            "expected one of: auto, always, never (did you mean never?)",
        ),
        (
            &["--name=t", "--filename=h", "--size=64k", "--verify=crc32cc"][..],
            "(did you mean crc32c?)",
        ),
        (
            &["--name=t", "--ioengine=mmap"][..],
            "ioengine=mmap: fio's value, not supported by diorite",
        ),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = common::stderr(&out);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    std::fs::write(dir.path().join("j.fio"), "[t]\nfilname=x\nsize=64k\n").unwrap();
    let err = common::stderr(&run(&["j.fio"]));
    assert!(err.contains("'filname' (did you mean filename?)"), "{err}");
    assert!(!dir.path().join("h").exists() && !dir.path().join("x").exists());
}

/// fio's `--section=NAME` (repeatable) runs only those sections of a job file — `[global]`
/// still applies, a skipped section's options are not even read — and `-` reads the job file
/// from standard input. Side by side with fio when installed: the same jobs run.
#[test]
fn section_selects_jobs_and_a_job_file_comes_from_stdin() {
    let dir = tempdir();
    let text = "[global]\nsize=64k\nrw=write\nbs=4k\n\
                [a]\nfilename=fa\n\
                [b]\nfilename=fb\n\
                [c]\nno_such_option=1\n";
    std::fs::write(dir.path().join("j.fio"), text).unwrap();
    let names = |v: &Value| -> Vec<String> {
        v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["jobname"].as_str().unwrap().to_string())
            .collect()
    };
    let ours = |args: &[&str]| json(&bench_in(dir.path(), args));
    let b = ours(&["--section=b", "j.fio", "--output-format=json"]);
    assert_eq!(names(&b), ["b"]);
    assert_eq!(b["jobs"][0]["write"]["io_bytes"], 64 << 10);
    let ab = ours(&[
        "--section=a",
        "--section=b",
        "j.fio",
        "--output-format=json",
    ]);
    assert_eq!(names(&ab), ["a", "b"]);
    // Without --section every section is read, and c's option is refused by name.
    let all = bench_in(dir.path(), &["j.fio"]);
    assert_eq!(all.status.code(), Some(1));
    assert!(common::stderr(&all).contains("no_such_option"));
    let none = bench_in(dir.path(), &["--section=zzz", "j.fio"]);
    assert!(
        common::stderr(&none).contains("no job section named zzz"),
        "{}",
        common::stderr(&none)
    );
    // `-`: the job file on standard input.
    let out = common::bench_stdin(
        dir.path(),
        &["--section=a", "-", "--output-format=json"],
        text.as_bytes(),
    );
    assert_eq!(names(&json(&out)), ["a"]);
    if let Some(f) = common::fio_in(
        dir.path(),
        &[
            "--section=a",
            "--section=b",
            "j.fio",
            "--output-format=json",
        ],
    ) {
        let v: Value = serde_json::from_slice(&f.stdout).unwrap();
        assert_eq!(names(&v), names(&ab), "fio's jobs");
    }
}

/// fio's `include FILE` inside a section: the file's options join the section where the line
/// is (later lines override them), a relative name is found next to the including file, an
/// included file may include another; a section header in an included file, a file that
/// includes itself and a missing file are refused naming the file and line, before anything
/// is written, and so are includes nested more than 16 deep. Side by side with fio when installed: the same jobs move the same bytes.
#[test]
fn include_reads_a_files_options_into_the_section() {
    let dir = tempdir();
    let sub = dir.path().join("inc");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(
        sub.join("common.fio"),
        "; shared\nbs=4k\nrw=write\ninclude size.fio\n",
    )
    .unwrap();
    std::fs::write(sub.join("size.fio"), "size=64k # the size\n").unwrap();
    std::fs::write(
        sub.join("j.fio"),
        "[global]\ninclude common.fio\n[a]\nfilename=fa\n[b]\ninclude size.fio\nsize=32k\nfilename=fb\n",
    )
    .unwrap();
    let bytes = |v: &Value| -> Vec<u64> {
        v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["write"]["io_bytes"].as_u64().unwrap())
            .collect()
    };
    let ours = json(&bench_in(
        dir.path(),
        &["inc/j.fio", "--output-format=json"],
    ));
    assert_eq!(bytes(&ours), [64 << 10, 32 << 10]);
    if let Some(f) = common::fio_in(dir.path(), &["inc/j.fio", "--output-format=json"]) {
        let v: Value = serde_json::from_slice(&f.stdout).unwrap();
        assert_eq!(bytes(&v), bytes(&ours), "fio's bytes");
    }
    for (inc, body, want) in [
        (
            "bad.fio",
            "bs=4k\n[x]\n",
            "holds options only, no section headers",
        ),
        ("self.fio", "include self.fio\n", "includes itself"),
        ("none.fio", "", "reading"),
        (
            "opt.fio",
            "bs=4k\nfrobnicate=1\n",
            "opt.fio:2 (included from",
        ),
    ] {
        if inc != "none.fio" {
            std::fs::write(sub.join(inc), body).unwrap();
        }
        let name = format!("k-{inc}");
        std::fs::write(
            sub.join(&name),
            format!("[k]\nfilename=fk\nsize=4k\nrw=write\ninclude {inc}\n"),
        )
        .unwrap();
        let out = bench_in(dir.path(), &[&format!("inc/{name}")]);
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{inc}: {err}");
        assert!(err.contains(want), "{inc}: {err}");
        assert!(
            err.contains(&format!("{name}:5")),
            "{inc}: names the include line: {err}"
        );
        assert!(!dir.path().join("fk").exists());
    }
    // From standard input, a relative include is found from the working directory (there
    // is no including file's directory).
    let out = common::bench_stdin(
        &sub,
        &["-", "--output-format=json"],
        b"[s]\nfilename=fs\nrw=write\ninclude size.fio\n",
    );
    assert_eq!(
        json(&out)["jobs"][0]["write"]["io_bytes"],
        64 << 10,
        "{}",
        common::stderr(&out)
    );
    // A chain of includes 17 deep (no cycle) is refused; 15 deep is read.
    for n in 0..17 {
        std::fs::write(
            sub.join(format!("d{n}.fio")),
            format!("include d{}.fio\n", n + 1),
        )
        .unwrap();
    }
    std::fs::write(sub.join("d17.fio"), "bs=4k\n").unwrap();
    for (first, ok) in [(2, true), (0, false)] {
        std::fs::write(
            sub.join("deep.fio"),
            format!("[k]\nfilename=fk\nsize=4k\nrw=write\ninclude d{first}.fio\n"),
        )
        .unwrap();
        let out = bench_in(dir.path(), &["inc/deep.fio", "--parse-only"]);
        assert_eq!(out.status.success(), ok, "{}", common::stderr(&out));
        if !ok {
            assert!(common::stderr(&out).contains("nest more than 16 deep"));
        }
    }
}
