//! `diorite bench` end to end: the real binary on real files (and, as root, a loop device).

mod common;

use common::{bench, bench_in, data_file, json as json_of, tempdir};

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn diorite() -> Command {
    Command::new(env!("CARGO_BIN_EXE_diorite"))
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `diorite bench` (in `dir`) of a 4 KiB random-write verify job over `size` of `f`, JSON
/// output, plus `extra` (which names the verify kind).
fn verify_job(dir: &Path, f: &Path, size: &str, extra: &[&str]) -> Output {
    let (file, size) = (format!("--filename={}", s(f)), format!("--size={size}"));
    let base = [
        "--name=v",
        file.as_str(),
        size.as_str(),
        "--rw=randwrite",
        "--bs=4k",
        "--iodepth=4",
        "--output-format=json",
    ];
    let args: Vec<&str> = base.iter().chain(extra).copied().collect();
    bench_in(dir, &args)
}

#[test]
fn bad_input_is_one_clear_line_exit_1_and_nothing_written() {
    let dir = tempdir();
    let f = data_file(dir.path(), "f", 1 << 20, 0x11);
    let fname = format!("--filename={}", s(&f));
    let job = dir.path().join("bad.fio");
    std::fs::write(&job, "[global]\nrw=write\n[a]\nfilename=x\nfrobnicate=2\n").unwrap();
    let missing = format!("--filename={}", s(&dir.path().join("nope/x")));
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--rw=write".into(), fname.clone(), "--frobnicate=1".into()],
            "frobnicate",
        ),
        (
            vec!["--rw=write".into(), fname.clone(), "--bs=4q".into()],
            "bs=4q",
        ),
        (
            vec!["--rw=write".into(), fname.clone(), "--size=12x".into()],
            "size=12x",
        ),
        (
            vec![
                "--rw=write".into(),
                fname.clone(),
                "--direct=1".into(),
                "--bs=1000".into(),
            ],
            "alignment",
        ),
        (
            vec![
                "--rw=write".into(),
                fname.clone(),
                "--bs=2m".into(),
                "--size=1m".into(),
            ],
            "too small",
        ),
        (vec!["--rw=trim".into(), fname.clone()], "rw=trim"),
        (
            vec![
                "--rw=randrw".into(),
                fname.clone(),
                "--verify=crc32c".into(),
            ],
            "verify",
        ),
        (
            vec!["--rw=read".into(), fname.clone(), "--ioengine=spdk".into()],
            "ioengine=spdk",
        ),
        (vec!["--rw=read".into(), missing], "does not exist"),
        (vec![s(&job)], "frobnicate"),
        (vec![s(&dir.path().join("no-such.fio"))], "no-such.fio"),
    ];
    for (args, needle) in cases {
        let out = diorite().arg("bench").args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line expected: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: {err:?} should name {needle:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert!(
        std::fs::read(&f).unwrap().iter().all(|&b| b == 0x11),
        "nothing written"
    );
}

#[test]
fn json_output_has_fios_shape_and_units() {
    let sample: Value = serde_json::from_str(include_str!("data/fio-3.33-randrw.json")).unwrap();
    let dir = tempdir();
    let f = data_file(dir.path(), "f", 8 << 20, 0);
    let out = bench(&[
        "--name=mix",
        &format!("--filename={}", s(&f)),
        "--rw=randrw",
        "--rwmixread=70",
        "--bs=4k",
        "--iodepth=8",
        "--runtime=1",
        "--time_based",
        "--output-format=json",
    ]);
    let ours = json_of(&out);
    // Every field of fio's that we claim, with the same JSON type.
    fn same_shape(fio: &Value, ours: &Value, path: &str) {
        match (fio, ours) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in a {
                    let o = b.get(k).unwrap_or_else(|| panic!("missing {path}.{k}"));
                    same_shape(v, o, &format!("{path}.{k}"));
                }
            }
            (Value::Number(_), Value::Number(_)) | (Value::String(_), Value::String(_)) => {}
            (a, b) => panic!("{path}: fio has {a}, we have {b}"),
        }
    }
    for key in ["fio version", "timestamp", "timestamp_ms"] {
        same_shape(&sample[key], &ours[key], key);
    }
    let (fj, oj) = (&sample["jobs"][0], &ours["jobs"][0]);
    for key in [
        "jobname",
        "groupid",
        "error",
        "elapsed",
        "job_runtime",
        "usr_cpu",
        "sys_cpu",
        "ctx",
        "majf",
        "minf",
    ] {
        same_shape(&fj[key], &oj[key], key);
    }
    for dir in ["read", "write"] {
        for key in [
            "io_bytes",
            "io_kbytes",
            "bw_bytes",
            "bw",
            "iops",
            "runtime",
            "total_ios",
            "short_ios",
            "drop_ios",
            "slat_ns",
            "clat_ns",
            "lat_ns",
        ] {
            same_shape(&fj[dir][key], &oj[dir][key], &format!("{dir}.{key}"));
        }
    }
    same_shape(
        &fj["sync"]["total_ios"],
        &oj["sync"]["total_ios"],
        "sync.total_ios",
    );
    assert_eq!(oj["job options"]["rwmixread"], "70");
    // fio's units: bw KiB/s, runtime ms, latencies ns.
    let r = &oj["read"];
    let (kb, ms, bw) = (
        r["io_kbytes"].as_f64().unwrap(),
        r["runtime"].as_f64().unwrap(),
        r["bw"].as_f64().unwrap(),
    );
    assert!((900.0..=1100.0).contains(&ms), "runtime {ms} ms");
    assert!(
        (bw - kb / (ms / 1000.0)).abs() <= bw * 0.02 + 1.0,
        "bw {bw} vs {kb} KiB in {ms} ms"
    );
    let clat = &r["clat_ns"];
    assert!(clat["min"].as_u64().unwrap() <= clat["percentile"]["50.000000"].as_u64().unwrap());
    assert!(clat["percentile"]["50.000000"].as_u64().unwrap() <= clat["max"].as_u64().unwrap());
    assert!(r["lat_ns"]["mean"].as_f64().unwrap() >= clat["mean"].as_f64().unwrap());
    // The mix.
    let (rd, wr) = (
        r["total_ios"].as_f64().unwrap(),
        oj["write"]["total_ios"].as_f64().unwrap(),
    );
    let share = rd / (rd + wr);
    assert!((0.6..0.8).contains(&share), "rwmixread=70 gave {share}");
    // What fio lacks.
    assert!(ours["diorite"]["cpu_us_per_io"].as_f64().unwrap() > 0.0);
    assert!(oj["diorite"]["backend"].as_str().unwrap().len() > 2);
}

#[test]
fn json_plus_adds_histogram_bins() {
    let dir = tempdir();
    let f = data_file(dir.path(), "f", 1 << 20, 0);
    let out = bench(&[
        "--name=a",
        &format!("--filename={}", s(&f)),
        "--rw=randread",
        "--output-format=json+",
    ]);
    let v = json_of(&out);
    let read = &v["jobs"][0]["read"];
    let bins = read["clat_ns"]["bins"].as_object().expect("bins");
    let total: u64 = bins.values().map(|c| c.as_u64().unwrap()).sum();
    assert_eq!(total, read["total_ios"].as_u64().unwrap());
    assert_eq!(total, 256, "1 MiB of 4 KiB reads, each block once");
}

#[test]
fn job_files_groups_numjobs_and_group_reporting() {
    let dir = tempdir();
    let f = data_file(dir.path(), "f", 4 << 20, 0);
    let job = dir.path().join("j.fio");
    std::fs::write(
        &job,
        format!(
            "; two groups\n[global]\nfilename={}\nbs=4k\nioengine=threads\n\n[w]\nrw=write\niodepth=4\n\n[r]\nstonewall\nrw=randread\nnumjobs=2\nruntime=300ms\ntime_based\n",
            s(&f)
        ),
    )
    .unwrap();
    let v = json_of(&bench(&[&s(&job), "--output-format=json"]));
    let jobs = v["jobs"].as_array().unwrap();
    let ids: Vec<(String, u64)> = jobs
        .iter()
        .map(|j| {
            (
                j["jobname"].as_str().unwrap().to_string(),
                j["groupid"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ids, [("w".into(), 0), ("r".into(), 1), ("r".into(), 1)]);
    assert_eq!(jobs[0]["write"]["io_bytes"], 4 << 20);
    assert!(jobs[1]["read"]["total_ios"].as_u64().unwrap() > 0);
    let v = json_of(&bench(&[
        &s(&job),
        "--output-format=json",
        "--group_reporting",
    ]));
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[1]["diorite"]["jobs"], 2);
}

#[test]
fn verify_passes_catches_corruption_and_verify_only_rechecks() {
    let dir = tempdir();
    let f = dir.path().join("v");
    let base = [
        "--name=v".to_string(),
        format!("--filename={}", s(&f)),
        "--size=4m".into(),
        "--rw=randwrite".into(),
        "--bs=8k".into(),
        "--iodepth=8".into(),
        "--verify=crc32c".into(),
        "--output-format=json".into(),
    ];
    let args = |extra: &[&str]| -> Vec<String> {
        base.iter()
            .cloned()
            .chain(extra.iter().map(|x| x.to_string()))
            .collect()
    };
    let run = |a: Vec<String>| diorite().arg("bench").args(a).output().unwrap();
    let v = json_of(&run(args(&[])));
    assert_eq!(v["jobs"][0]["diorite"]["verify"]["blocks"], 512);
    assert_eq!(v["jobs"][0]["diorite"]["verify"]["errors"], 0);
    assert_eq!(v["jobs"][0]["write"]["io_bytes"], 4 << 20);
    // Re-checked later without writing.
    let before = std::fs::read(&f).unwrap();
    let v = json_of(&run(args(&["--verify_only"])));
    assert_eq!(v["jobs"][0]["diorite"]["verify"]["errors"], 0);
    assert_eq!(v["jobs"][0]["write"]["total_ios"], 0);
    assert_eq!(
        std::fs::read(&f).unwrap(),
        before,
        "verify_only writes nothing"
    );
    // Two corrupted blocks.
    let mut bytes = before;
    bytes[3 * 8192 + 100] ^= 0xff;
    bytes[300 * 8192 + 5000] ^= 0xff;
    std::fs::write(&f, &bytes).unwrap();
    let out = run(args(&["--verify_only"]));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("offset 24576") && err.contains("crc32c"),
        "{err}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["jobs"][0]["diorite"]["verify"]["errors"], 2);
    let out = run(args(&["--verify_only", "--verify_fatal"]));
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["jobs"][0]["diorite"]["verify"]["errors"], 1,
        "verify_fatal stops at the first"
    );
    // A different job (another seed) finds every block foreign.
    let out = run(args(&["--verify_only", "--randseed=7"]));
    assert_eq!(out.status.code(), Some(1));
}

/// Verify after many passes over the region (io_size = 8 x size): the expectations stay exact
/// when blocks are rewritten pass after pass, on every engine. The verify reads count as reads.
#[test]
fn verify_over_many_passes_on_every_engine() {
    let dir = tempdir();
    let f = dir.path().join("v");
    for engine in ["io_uring", "libaio", "threads", "psync"] {
        for rw in ["randwrite", "write"] {
            let out = bench(&[
                "--name=v",
                "--direct=1",
                &format!("--filename={}", s(&f)),
                "--size=256k",
                "--io_size=2m",
                &format!("--rw={rw}"),
                "--bsrange=4k-16k",
                "--iodepth=8",
                "--verify=crc32c",
                &format!("--ioengine={engine}"),
                "--output-format=json",
            ]);
            if out.status.code() == Some(1)
                && String::from_utf8_lossy(&out.stderr).contains("not available")
            {
                eprintln!("SKIPPED: {engine} is not available here");
                continue;
            }
            let v = json_of(&out);
            let j = &v["jobs"][0];
            assert_eq!(j["diorite"]["verify"]["errors"], 0, "{engine} {rw}: {j}");
            assert_eq!(j["diorite"]["verify"]["blocks"], 64);
            let written = j["write"]["io_bytes"].as_u64().unwrap();
            assert!(
                written > 2 * 256 * 1024,
                "{engine} {rw}: more than two passes ({written})"
            );
            // fio counts the verify phase's reads as reads.
            assert_eq!(j["read"]["io_bytes"], 256 * 1024, "{engine} {rw}");
            assert!(j["read"]["total_ios"].as_u64().unwrap() > 0);
        }
    }
}

/// fio's verify phase stops when the job's runtime is over: with `time_based`, the writes use
/// the whole runtime and the blocks are left unchecked — said, not failed (before: diorite
/// verified past the runtime).
#[test]
fn verify_phase_honours_runtime() {
    let dir = tempdir();
    let f = dir.path().join("v");
    let out = bench(&[
        "--name=v",
        "--direct=1",
        &format!("--filename={}", s(&f)),
        "--size=256k",
        "--rw=randwrite",
        "--iodepth=4",
        "--ioengine=io_uring",
        "--verify=crc32c",
        "--runtime=300ms",
        "--time_based",
        "--output-format=json",
    ]);
    let v = json_of(&out);
    let vr = &v["jobs"][0]["diorite"]["verify"];
    assert_eq!(vr["errors"], 0);
    assert!(vr["unchecked"].as_u64().unwrap() > 0, "{vr}");
}

#[test]
fn ctrl_c_stops_cleanly_and_still_reports() {
    let dir = tempdir();
    let f = data_file(dir.path(), "f", 4 << 20, 0);
    let child = diorite()
        .args(["bench", "--name=long", &format!("--filename={}", s(&f))])
        .args([
            "--rw=randread",
            "--iodepth=4",
            "--runtime=60",
            "--time_based",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "stopped long after Ctrl-C"
    );
    assert_eq!(out.status.code(), Some(130));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("read: IOPS=") && text.contains("interrupted"),
        "{text}"
    );
}

#[test]
fn latency_plot_is_an_svg() {
    let dir = tempdir();
    let f = data_file(dir.path(), "f", 1 << 20, 0);
    let svg = dir.path().join("lat.svg");
    let out = bench(&[
        "--name=a",
        &format!("--filename={}", s(&f)),
        "--rw=randrw",
        &format!("--latency-plot={}", s(&svg)),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("percentiles") && text.contains("a read"));
}

/// fio's periodic syncs and `end_fsync`: a sync due after every N writes is issued before the
/// next I/O, so none follows a job's last write (64 writes, fsync=16: 3 syncs); `end_fsync`
/// fsyncs every file once the job has drained — unless the last I/O was a sync — and those
/// syncs are neither counted nor timed (fio runs them outside its running state); one that
/// fails is the job's error. Side by side with fio when installed: the same counts.
#[test]
fn periodic_syncs_and_end_fsync_count_as_fios() {
    let dir = tempdir();
    let counts = |extra: &[&str], fio: bool| -> Option<(u64, u64, u64)> {
        let mut args = vec!["--name=e", "--size=256k", "--nrfiles=2", "--rw=write"];
        args.extend_from_slice(extra);
        args.push("--output-format=json");
        let out = if fio {
            common::fio_in(dir.path(), &args)?
        } else {
            bench_in(dir.path(), &args)
        };
        assert!(out.status.success(), "{extra:?}: {}", common::stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let j = &v["jobs"][0];
        for f in ["e.0.0", "e.0.1"] {
            std::fs::remove_file(dir.path().join(f)).unwrap();
        }
        Some((
            j["write"]["total_ios"].as_u64().unwrap(),
            j["sync"]["total_ios"].as_u64().unwrap(),
            j["sync"]["lat_ns"]["N"].as_u64().unwrap_or(0),
        ))
    };
    for (extra, want) in [
        (&["--fsync=16"][..], (64, 3, 3)),
        (&["--fsync=10"][..], (64, 6, 6)),
        (&["--fsync=1"][..], (64, 63, 63)),
        (&["--end_fsync=1"][..], (64, 0, 0)),
        (&["--fsync=16", "--end_fsync=1"][..], (64, 3, 3)),
    ] {
        assert_eq!(counts(extra, false), Some(want), "{extra:?}");
        if let Some(f) = counts(extra, true) {
            assert_eq!(f, want, "fio, {extra:?}");
        }
    }
    // The end syncs happen: one that fails is the job's error (the fault rule fails every
    // fsync; the job itself issues none) — also after a time-based run, as fio.
    let failing = |extra: &[&str]| {
        let base = ["--name=e", "--size=64k", "--rw=write", "--ioengine=threads"];
        bench_in(
            dir.path(),
            &[&base[..], extra, &["--inject=fsync:always:eio"]].concat(),
        )
    };
    for extra in [
        &["--end_fsync=1"][..],
        &["--runtime=300ms", "--time_based", "--end_fsync=1"],
    ] {
        let out = failing(extra);
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains("sync of"), "{extra:?}: {err}");
    }
    assert!(
        failing(&[]).status.success(),
        "without end_fsync no sync is issued"
    );
}

#[test]
fn syncs_rates_batches_block_sizes_and_several_files() {
    let dir = tempdir();
    let f = data_file(dir.path(), "f", 4 << 20, 0);
    let fname = format!("--filename={}", s(&f));
    // fsync every 4 writes.
    let v = json_of(&bench(&[
        "--name=s",
        &fname,
        "--rw=write",
        "--size=1m",
        "--fsync=4",
        "--iodepth=4",
        "--output-format=json",
    ]));
    assert_eq!(v["jobs"][0]["write"]["total_ios"], 256);
    // fio issues a due sync in place of the next I/O: none after the last write.
    assert_eq!(v["jobs"][0]["sync"]["total_ios"], 63);
    // rate_iops caps each job (an upper bound, not a speed target).
    let v = json_of(&bench(&[
        "--name=r",
        &fname,
        "--rw=randread",
        "--rate_iops=50",
        "--numjobs=2",
        "--runtime=1",
        "--time_based",
        "--iodepth=4",
        "--output-format=json",
    ]));
    for j in v["jobs"].as_array().unwrap() {
        let n = j["read"]["total_ios"].as_u64().unwrap();
        assert!((1..=60).contains(&n), "rate_iops=50 for 1 s gave {n}");
    }
    // Batched submission and completion.
    let v = json_of(&bench(&[
        "--name=b",
        &fname,
        "--rw=randread",
        "--iodepth=16",
        "--iodepth_batch_submit=8",
        "--iodepth_batch_complete_min=4",
        "--size=2m",
        "--output-format=json",
    ]));
    assert_eq!(v["jobs"][0]["read"]["total_ios"], 512);
    // bssplit: the mean size follows the weights.
    let v = json_of(&bench(&[
        "--name=z",
        &fname,
        "--rw=randread",
        "--bssplit=4k/50:64k/50",
        "--norandommap",
        "--io_size=8m",
        "--random_distribution=zipf:1.1",
        "--output-format=json",
    ]));
    let r = &v["jobs"][0]["read"];
    let mean = r["io_bytes"].as_f64().unwrap() / r["total_ios"].as_f64().unwrap();
    assert!((20_000.0..50_000.0).contains(&mean), "mean block {mean}");
    // Several files, ':'-separated, created at the size asked for; the size is divided.
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let v = json_of(&bench(&[
        "--name=m",
        &format!("--filename={}:{}", s(&a), s(&b)),
        "--rw=write",
        "--size=2m",
        "--output-format=json",
    ]));
    assert_eq!(v["jobs"][0]["write"]["io_bytes"], 2 << 20);
    assert_eq!(std::fs::metadata(&a).unwrap().len(), 1 << 20);
    assert_eq!(std::fs::metadata(&b).unwrap().len(), 1 << 20);
    // ramp_time is not measured.
    let v = json_of(&bench(&[
        "--name=p",
        &fname,
        "--rw=randread",
        "--ramp_time=1",
        "--runtime=500ms",
        "--time_based",
        "--output-format=json",
    ]));
    let ms = v["jobs"][0]["read"]["runtime"].as_u64().unwrap();
    assert!((400..1000).contains(&ms), "runtime after ramp: {ms} ms");
}

#[test]
fn help_and_the_default_job() {
    let out = bench(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--rwmixread",
        "--bssplit",
        "--verify_only",
        "--output_format",
        "--latency_plot",
    ] {
        assert!(help.contains(opt), "help lacks {opt}");
    }
    // Bare `diorite bench` (here with JSON output): the default job on its temp file.
    let v = json_of(&bench(&["--output-format=json"]));
    let j = &v["jobs"][0];
    assert_eq!(j["jobname"], "default");
    assert!(j["read"]["total_ios"].as_u64().unwrap() > 1000);
    let ms = j["read"]["runtime"].as_u64().unwrap();
    assert!((9_000..12_000).contains(&ms), "{ms}");
}

#[test]
fn a_block_device_too_small_for_the_job_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root for a loop device; CI runs as root");
        return;
    }
    let dir = tempdir();
    let img = data_file(dir.path(), "img", 1 << 20, 0);
    let out = Command::new("losetup")
        .args(["-f", "--show", "--direct-io=on"])
        .arg(&img)
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!("SKIPPED: losetup: {}", String::from_utf8_lossy(&out.stderr));
        return;
    }
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    struct Detach(String);
    impl Drop for Detach {
        fn drop(&mut self) {
            let _ = Command::new("losetup").args(["-d", &self.0]).status();
        }
    }
    let _d = Detach(dev.clone());
    let out = bench(&[
        "--name=big",
        &format!("--filename={dev}"),
        "--rw=write",
        "--size=2m",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("too small"));
    assert!(
        std::fs::read(&img).unwrap().iter().all(|&b| b == 0),
        "nothing written"
    );
    // The whole device is fine.
    let v = json_of(&bench(&[
        "--name=ok",
        &format!("--filename={dev}"),
        "--rw=write",
        "--output-format=json",
    ]));
    assert_eq!(v["jobs"][0]["write"]["io_bytes"], 1 << 20);
}

/// every job runs on a single-issuer context; io_uring's own options are honoured
/// (sqthread_poll, sqthread_poll_cpu) or refused before anything is touched (hipri on a device
/// without poll queues; any of them with another engine; sqthread_poll_cpu alone).
#[test]
fn io_uring_setups_are_honoured_or_refused_by_name() {
    let dir = tempdir();
    let f = data_file(dir.path(), "f", 4 << 20, 0x5a);
    let info = diorite().arg("info").arg(&f).output().unwrap();
    let io_uring = String::from_utf8_lossy(&info.stdout)
        .lines()
        .any(|l| l.split_whitespace().take(2).eq(["io_uring", "available"]));
    if !io_uring {
        eprintln!("SKIPPED: io_uring is not available here");
        return;
    }
    let fname = format!("--filename={}", s(&f));
    let job = |extra: &[&str]| {
        let mut a = vec![
            "--name=u",
            fname.as_str(),
            "--rw=randread",
            "--bs=4k",
            "--direct=1",
        ];
        a.extend_from_slice(&["--iodepth=8", "--ioengine=io_uring", "--runtime=1"]);
        a.extend_from_slice(&["--time_based", "--output-format=json"]);
        a.extend_from_slice(extra);
        bench(&a)
    };
    let report = |v: &Value| {
        v["jobs"][0]["diorite"]["backend_report"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let plain = json_of(&job(&[]));
    assert!(
        report(&plain).contains("single issuer, defer_taskrun, registered ring fd"),
        "{}",
        report(&plain)
    );
    let sq = json_of(&job(&["--sqthread_poll=1", "--sqthread_poll_cpu=0"]));
    assert!(
        report(&sq).contains("sqpoll (idle 1000 ms, cpu 0)"),
        "{}",
        report(&sq)
    );
    assert!(sq["jobs"][0]["read"]["total_ios"].as_u64().unwrap() > 0);
    let before = std::fs::read(&f).unwrap();
    for (extra, names) in [
        (vec!["--hipri=1"], "hipri"),
        (vec!["--sqthread_poll_cpu=0"], "sqthread_poll_cpu"),
    ] {
        let out = job(&extra);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(names), "{extra:?}: {err}");
    }
    for opt in ["--hipri=1", "--sqthread_poll=1"] {
        let out = bench(&[
            "--name=u",
            &fname,
            "--rw=read",
            "--ioengine=libaio",
            "--direct=1",
            opt,
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{opt}: {err}");
        assert!(
            err.contains(opt.trim_start_matches("--").split('=').next().unwrap()),
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read(&f).unwrap(),
        before,
        "a refused job touched the file"
    );
}

/// ioengine=null runs the engine on the null backend: no I/O, no file created or
/// laid out (fio's null engine), the full job's accounting.
#[test]
fn the_null_engine_touches_no_file() {
    let dir = tempdir();
    let out = diorite()
        .current_dir(dir.path())
        .args([
            "bench",
            "--name=n",
            "--size=64m",
            "--rw=randrw",
            "--ioengine=null",
            "--iodepth=16",
        ])
        .args(["--output-format=json"])
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["jobs"][0]["diorite"]["backend"], "null", "{v}");
    let j = &v["jobs"][0];
    let bytes = j["read"]["io_bytes"].as_u64().unwrap() + j["write"]["io_bytes"].as_u64().unwrap();
    assert_eq!(bytes, 64 << 20, "the whole size, as fio");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "null created {left:?}");
    // An existing file is named but never read or written.
    let f = data_file(dir.path(), "f", 1 << 20, 0x77);
    let json = json_of(&bench(&[
        "--name=n",
        &format!("--filename={}", s(&f)),
        "--rw=write",
        "--ioengine=null",
        "--output-format=json",
    ]));
    assert_eq!(json["jobs"][0]["write"]["io_bytes"].as_u64(), Some(1 << 20));
    assert_eq!(std::fs::read(&f).unwrap(), vec![0x77; 1 << 20]);
    // Fault injection needs an engine that moves data: refused by name at every depth (at
    // iodepth=1, where the null engine completes I/O in its queue call, it was ignored; above,
    // it ran the "null" job on the faulty backend with real I/O).
    for qd in ["1", "4"] {
        let out = bench(&[
            "--name=n",
            &format!("--filename={}", s(&f)),
            "--rw=read",
            "--ioengine=null",
            &format!("--iodepth={qd}"),
            "--inject=read:always:eio",
        ]);
        assert!(!out.status.success(), "iodepth={qd}: inject accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("inject") && err.contains("ioengine=null"),
            "{err}"
        );
        assert!(out.stdout.is_empty(), "iodepth={qd}: the job ran");
    }
    assert_eq!(std::fs::read(&f).unwrap(), vec![0x77; 1 << 20]);
}

/// `--inject` runs a job on the faulty backend; the injected error is the job's error,
/// with the operation, size and offset, and a bad rule is refused before anything runs.
#[test]
fn inject_runs_a_job_against_faults() {
    let dir = tempdir();
    let f = data_file(dir.path(), "f", 1 << 20, 0x33);
    let fname = format!("--filename={}", s(&f));
    let out = bench(&[
        "--name=i",
        &fname,
        "--rw=write",
        "--bs=4k",
        "--size=1m",
        "--ioengine=threads",
        "--iodepth=1",
        "--direct=1",
        "--inject=write:nth=5:eio",
        "--output-format=json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let j = &v["jobs"][0];
    assert_eq!(j["error"], 1, "{j}");
    assert_eq!(j["diorite"]["backend"], "faulty");
    let msg = j["diorite"]["error_message"].as_str().unwrap();
    assert!(
        msg.contains("offset 16384") && msg.contains("Input/output error"),
        "{msg}"
    );
    assert_eq!(
        j["write"]["total_ios"].as_u64(),
        Some(4),
        "the four writes before it"
    );
    let out = bench(&[
        "--name=i",
        &fname,
        "--ioengine=threads",
        "--inject=write:sometimes:eio",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("write:sometimes:eio"), "{err}");
    let out = bench(&["--name=i", &fname, "--inject=write:nth=1:eio"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("inject"),
        "psync has no context"
    );
    assert_eq!(
        std::fs::read(&f).unwrap()[16384..20480],
        vec![0x33; 4096][..],
        "the failed write wrote nothing"
    );
}

/// fio's continue_on_error / ignore_error, against injected faults: EIO (fio's non-fatal error)
/// lets a job continue with the error counted; other errnos only when ignore_error lists them;
/// total_err and first_error are reported as fio does, and the job's error stays 0.
#[test]
fn continue_on_error_and_ignore_error_behave_as_fio() {
    let dir = tempdir();
    let f = data_file(dir.path(), "f", 1 << 20, 0);
    let fname = format!("--filename={}", s(&f));
    let run = |extra: &[&str]| {
        let mut a = vec![
            "--name=c",
            fname.as_str(),
            "--rw=write",
            "--bs=4k",
            "--size=1m",
        ];
        a.extend_from_slice(&["--ioengine=threads", "--direct=1", "--output-format=json"]);
        a.extend_from_slice(extra);
        let out = bench(&a);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), v["jobs"][0].clone())
    };
    let (code, j) = run(&["--inject=write:every=10:eio", "--continue_on_error=write"]);
    assert_eq!((code, j["error"].as_i64()), (Some(0), Some(0)), "{j}");
    assert_eq!(j["total_err"].as_u64(), Some(25));
    assert_eq!(j["first_error"].as_i64(), Some(libc::EIO.into()));
    assert_eq!(
        j["write"]["total_ios"].as_u64(),
        Some(231),
        "256 issued, 25 failed"
    );
    // ENOSPC is not one of fio's non-fatal errors: the job stops, unless ignore_error lists it.
    let (code, j) = run(&[
        "--inject=write:every=10:enospc",
        "--continue_on_error=write",
    ]);
    assert_eq!((code, j["error"].as_i64()), (Some(1), Some(1)), "{j}");
    let (code, j) = run(&[
        "--inject=write:every=10:enospc",
        "--ignore_error=,ENOSPC:122",
    ]);
    assert_eq!((code, j["total_err"].as_u64()), (Some(0), Some(25)), "{j}");
    assert_eq!(j["first_error"].as_i64(), Some(libc::ENOSPC.into()));
    // Without either, no total_err field (as fio) and the first error ends the job.
    let (code, j) = run(&["--inject=write:nth=1:eio"]);
    assert_eq!(code, Some(1));
    assert!(j.get("total_err").is_none(), "{j}");
    // error_dump (default 1): each non-fatal error said as fio's io_u_log_error says it;
    // error_dump=0 keeps them quiet.
    let dumped = |extra: &[&str]| {
        let mut a = vec![
            "--name=c",
            fname.as_str(),
            "--rw=write",
            "--size=1m",
            "--ioengine=threads",
        ];
        a.extend_from_slice(&["--inject=write:every=10:eio", "--continue_on_error=write"]);
        a.extend_from_slice(extra);
        let out = bench(&a);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| {
                l.starts_with("diorite: io_u error on file ")
                    && l.contains(": Input/output error: write offset=")
            })
            .count()
    };
    assert_eq!(dumped(&[]), 25);
    assert_eq!(dumped(&["--error_dump=0"]), 0);
    let out = bench(&["--name=c", &fname, "--continue_on_error=sometimes"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("continue_on_error=sometimes"));
    let out = bench(&["--name=c", &fname, "--ignore_error=EWHAT"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("EWHAT"));
}

/// fio's checksum verify modes. Each writes and checks clean; a corrupted byte is
/// found and the report names the checksum; checking with another kind than the one written
/// finds every block foreign (the header records the kind); a block too small for the kind's
/// header and checksum is refused; meta/pattern are refused by name.
#[test]
fn every_checksum_verify_mode_writes_checks_and_catches() {
    let dir = tempdir();
    let f = dir.path().join("v");
    let run = |kind: &str, extra: &[&str]| {
        let verify = format!("--verify={kind}");
        verify_job(dir.path(), &f, "1m", &[&[verify.as_str()], extra].concat())
    };
    for kind in [
        "md5",
        "sha1",
        "sha256",
        "sha512",
        "sha3-224",
        "sha3-256",
        "sha3-384",
        "sha3-512",
        "crc64",
        "crc32",
        "crc32c-intel",
        "crc16",
        "crc7",
        "xxhash",
    ] {
        let v = json_of(&run(kind, &[]));
        let vr = &v["jobs"][0]["diorite"]["verify"];
        assert_eq!(
            (vr["blocks"].as_u64(), vr["errors"].as_u64()),
            (Some(256), Some(0)),
            "{kind}: {vr}"
        );
        let mut bytes = std::fs::read(&f).unwrap();
        bytes[7 * 4096 + 3000] ^= 0x01;
        std::fs::write(&f, &bytes).unwrap();
        let out = run(kind, &["--verify_only"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{kind}");
        let name = if kind == "crc32c-intel" {
            "crc32c"
        } else {
            kind
        };
        assert!(
            err.contains("offset 28672") && err.contains(name),
            "{kind}: {err}"
        );
    }
    // Written with sha256, checked as md5: every block says it is not md5.
    json_of(&run("sha256", &[]));
    let v: Value = serde_json::from_slice(&run("md5", &["--verify_only"]).stdout).unwrap();
    assert_eq!(
        v["jobs"][0]["diorite"]["verify"]["errors"].as_u64(),
        Some(256)
    );
    // verify=null writes and pretends to check.
    let v = json_of(&run("null", &[]));
    assert_eq!(
        v["jobs"][0]["diorite"]["verify"]["errors"].as_u64(),
        Some(0)
    );
    let out = run("sha512", &["--bs=64", "--size=64k", "--direct=0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 104 bytes"));
    let out = run("crc99", &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("verify=crc99"));
    // meta: header fields only; a flipped data byte passes, a flipped offset does not.
    json_of(&run("meta", &[]));
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[5 * 4096 + 2000] ^= 1;
    std::fs::write(&f, &bytes).unwrap();
    json_of(&run("meta", &["--verify_only"]));
    bytes[5 * 4096 + 8] ^= 1;
    std::fs::write(&f, &bytes).unwrap();
    assert_eq!(run("meta", &["--verify_only"]).status.code(), Some(1));
    // pattern: every byte is verify_pattern's, %o the block's offset.
    let out = run("pattern", &[]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("verify_pattern"),
        "pattern needs one"
    );
    json_of(&run("pattern", &["--verify_pattern=0xabcd%o"]));
    let bytes = std::fs::read(&f).unwrap();
    assert_eq!(&bytes[3 * 4096..3 * 4096 + 2], &[0xab, 0xcd]);
    assert_eq!(
        &bytes[3 * 4096 + 2..3 * 4096 + 10],
        &(3u64 * 4096).to_le_bytes()
    );
    // Without verify, verify_pattern is still the data written (as fio).
    let g = dir.path().join("w");
    json_of(&bench(&[
        "--name=w",
        &format!("--filename={}", s(&g)),
        "--size=64k",
        "--rw=write",
        "--verify_pattern=\"xy\"",
        "--output-format=json",
    ]));
    assert!(std::fs::read(&g).unwrap().chunks(2).all(|c| c == b"xy"));
}

/// fio's verify_interval, verify_offset, verify_header_seed, verify_write_sequence and
/// verify_dump: headers per interval, moved headers, fields left unchecked when asked, and the
/// bad block dumped as read and as expected.
#[test]
fn verify_layout_options_and_dumps() {
    let dir = tempdir();
    let f = dir.path().join("v");
    let run = |extra: &[&str]| {
        verify_job(
            dir.path(),
            &f,
            "256k",
            &[&["--verify=crc32c"], extra].concat(),
        )
    };
    // A header every 512 bytes: a corrupted chunk is found at its own offset.
    json_of(&run(&["--verify_interval=512"]));
    let mut bytes = std::fs::read(&f).unwrap();
    assert_eq!(
        &bytes[2 * 4096 + 3 * 512..][..4],
        b"DRTV",
        "a header starts each interval"
    );
    bytes[2 * 4096 + 3 * 512 + 300] ^= 1;
    std::fs::write(&f, &bytes).unwrap();
    let out = run(&["--verify_interval=512", "--verify_only"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("offset 9728"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The header moved to byte 1024 of each block, and back before checking.
    json_of(&run(&["--verify_offset=1024"]));
    let bytes = std::fs::read(&f).unwrap();
    assert_ne!(&bytes[..4], b"DRTV");
    assert_eq!(&bytes[1024..1028], b"DRTV");
    json_of(&run(&["--verify_offset=1024", "--verify_only"]));
    // Another seed: every block foreign, unless the header's seed is not checked.
    json_of(&run(&[]));
    assert_eq!(
        run(&["--verify_only", "--randseed=7"]).status.code(),
        Some(1)
    );
    json_of(&run(&[
        "--verify_only",
        "--randseed=7",
        "--verify_header_seed=0",
    ]));
    // A bad block dumped next to the run (fio's BASENAME.OFFSET.received / .expected).
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[5 * 4096 + 100] ^= 1;
    std::fs::write(&f, &bytes).unwrap();
    assert_eq!(
        run(&["--verify_only", "--verify_dump=1"]).status.code(),
        Some(1)
    );
    let received = std::fs::read(dir.path().join("v.20480.received")).unwrap();
    let expected = std::fs::read(dir.path().join("v.20480.expected")).unwrap();
    assert_eq!(received, bytes[5 * 4096..6 * 4096]);
    assert_eq!(
        received
            .iter()
            .zip(&expected)
            .filter(|(a, b)| a != b)
            .count(),
        1
    );
    // Layouts that cannot hold a header are refused before anything is written.
    let out = run(&["--verify_interval=3000"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("verify_interval"));
    let out = run(&["--verify_offset=4090"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("verify_offset"));
}

/// verify with a skewed distribution or norandommap, where blocks are rewritten
/// within a pass: the last writer of each block is what verify expects (a rewrite waits for a
/// write of the same block in flight), also when verify_only replays the job later.
#[test]
fn verify_keeps_the_last_writer_of_rewritten_blocks() {
    let dir = tempdir();
    let f = dir.path().join("v");
    for dist in [
        "--random_distribution=zipf:1.1",
        "--norandommap",
        "--random_distribution=normal:10",
    ] {
        let run = |extra: &[&str]| {
            let mut a = vec![
                "bench".to_string(),
                "--name=v".into(),
                format!("--filename={}", s(&f)),
                "--size=2m".into(),
                "--io_size=8m".into(),
                "--rw=randwrite".into(),
                "--bs=4k".into(),
                "--iodepth=16".into(),
                "--ioengine=threads".into(),
                "--direct=1".into(),
                "--verify=crc32c".into(),
                dist.into(),
                "--output-format=json".into(),
            ];
            a.extend(extra.iter().map(|x| x.to_string()));
            diorite().args(a).output().unwrap()
        };
        let v = json_of(&run(&[]));
        let vr = &v["jobs"][0]["diorite"]["verify"];
        assert!(
            vr["blocks"].as_u64().unwrap() > 0 && vr["errors"] == 0,
            "{dist}: {vr}"
        );
        assert_eq!(
            v["jobs"][0]["write"]["io_bytes"].as_u64(),
            Some(8 << 20),
            "{dist}: every write issued"
        );
        let v = json_of(&run(&["--verify_only"]));
        assert_eq!(
            v["jobs"][0]["diorite"]["verify"]["errors"], 0,
            "{dist}: replayed"
        );
        std::fs::remove_file(&f).unwrap();
    }
}

/// fio's verify_async: the blocks are checked on offload threads, with the same findings as
/// checking in the job thread.
#[test]
fn verify_async_finds_what_inline_verify_finds() {
    let dir = tempdir();
    let f = dir.path().join("v");
    let run = |extra: &[&str]| {
        verify_job(
            dir.path(),
            &f,
            "1m",
            &[&["--verify=sha256"], extra].concat(),
        )
    };
    let v = json_of(&run(&["--verify_async=3"]));
    assert_eq!(
        v["jobs"][0]["diorite"]["verify"]["blocks"].as_u64(),
        Some(256)
    );
    assert_eq!(
        v["jobs"][0]["diorite"]["verify"]["errors"].as_u64(),
        Some(0)
    );
    let mut bytes = std::fs::read(&f).unwrap();
    for b in [3usize, 100, 201] {
        bytes[b * 4096 + 777] ^= 0x40;
    }
    std::fs::write(&f, &bytes).unwrap();
    for extra in [
        &["--verify_only"][..],
        &["--verify_only", "--verify_async=2"][..],
    ] {
        let out = run(extra);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let vr = &v["jobs"][0]["diorite"]["verify"];
        assert_eq!(
            (vr["blocks"].as_u64(), vr["errors"].as_u64()),
            (Some(256), Some(3)),
            "{extra:?}: {vr}"
        );
    }
}

/// fio's verify_backlog / verify_backlog_batch: blocks are verified during the write phase,
/// every N written; a torn write (injected) is caught in the round after it, so with
/// verify_fatal the job stops there instead of after writing everything; every block is
/// verified once, by a round or by the final pass.
#[test]
fn verify_backlog_verifies_during_the_write_phase() {
    let dir = tempdir();
    let f = dir.path().join("v");
    let run = |extra: &[&str]| {
        let base = [
            "--verify=crc32c",
            "--ioengine=threads",
            "--iodepth=1",
            "--direct=1",
        ];
        let out = verify_job(dir.path(), &f, "1m", &[&base[..], extra].concat());
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), v["jobs"][0].clone())
    };
    let (code, j) = run(&["--verify_backlog=16", "--verify_backlog_batch=8"]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(
        j["diorite"]["verify"]["blocks"].as_u64(),
        Some(256),
        "each block once: {j}"
    );
    // A torn write leaves what was there: start from no file, so that is zeros, not a valid
    // block of the run before.
    let torn = ["--inject=write:nth=3:torn=0", "--verify_fatal=1"];
    std::fs::remove_file(&f).unwrap();
    let (code, j) = run(&[&torn[..], &["--verify_backlog=4"]].concat());
    assert_eq!(code, Some(1));
    assert_eq!(
        j["write"]["total_ios"].as_u64(),
        Some(4),
        "stopped at the first round: {j}"
    );
    assert_eq!(j["diorite"]["verify"]["errors"].as_u64(), Some(1));
    std::fs::remove_file(&f).unwrap();
    let (code, j) = run(&torn);
    assert_eq!(code, Some(1));
    assert_eq!(
        j["write"]["total_ios"].as_u64(),
        Some(256),
        "without a backlog, all is written first"
    );
    let out = verify_job(dir.path(), &f, "1m", &["--verify_backlog=4"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("give verify"));
    let out = verify_job(
        dir.path(),
        &f,
        "1m",
        &[
            "--verify=md5",
            "--verify_backlog=4",
            "--verify_backlog_batch=8",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("verify_backlog_batch=8"));
}

/// Crash-consistent verify: a write+verify job with fsync keeps its verify state as
/// it goes; killed with SIGKILL at 20 random moments, each time a verify_only run with
/// verify_state_load finds every write the state calls durable intact and reports the rest as
/// unknown, never as corruption — while verifying without the state does report corruption
/// (the blocks the job never reached). On a 4096-sector loop device.
#[test]
fn verify_state_survives_kill_9() {
    let dir = tempdir();
    let img = dir.path().join("img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(128 << 20)
        .unwrap();
    let Some(lo) = common::LoopDev::over(&img, 4096) else {
        return;
    };
    let dev = lo.dev.display().to_string();
    let job = [
        "bench".to_string(),
        "--name=c".into(),
        format!("--filename={dev}"),
        "--size=128m".into(),
        "--rw=randwrite".into(),
        "--bs=4k".into(),
        "--iodepth=8".into(),
        "--ioengine=io_uring".into(),
        "--direct=1".into(),
        "--fsync=8".into(),
        "--verify=crc32c".into(),
        // The device's cache flush at the start (BLKFLSBUF) is not what this test is about,
        // and it would take part of the budget of the SIGINT case below.
        "--invalidate=0".into(),
    ];
    let state = dir.path().join("local-c-0-verify.state");
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut killed = 0;
    for round in 0..20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let _ = std::fs::remove_file(&state);
        let mut child = diorite()
            .current_dir(dir.path())
            .args(&job)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The random moment is counted from the write phase's start (the state file appears
        // then): setup before it — the plan, fio's invalidate (BLKFLSBUF on the device) —
        // writes nothing and keeps no state, and its length is not the test's concern.
        let t0 = Instant::now();
        while !state.exists()
            && child.try_wait().unwrap().is_none()
            && t0.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(30 + x % 400));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.success() {
            assert!(
                !state.exists(),
                "round {round}: a finished job leaves no state"
            );
            continue;
        }
        killed += 1;
        assert!(state.exists(), "round {round}: the state survives the kill");
        let out = diorite()
            .current_dir(dir.path())
            .args(&job)
            .args([
                "--verify_only",
                "--verify_state_load=1",
                "--output-format=json",
            ])
            .output()
            .unwrap();
        let v = json_of(&out);
        let vr = &v["jobs"][0]["diorite"]["verify"];
        assert_eq!(vr["errors"].as_u64(), Some(0), "round {round}: {vr}");
        assert!(
            vr["blocks"].as_u64().unwrap() + vr["unknown"].as_u64().unwrap() > 0,
            "round {round}: {vr}"
        );
        if round % 5 == 0 {
            // Without the state, the blocks the job never reached look corrupt.
            let out = diorite()
                .current_dir(dir.path())
                .args(&job)
                .args(["--verify_only"])
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(1),
                "round {round}: verifying without the state"
            );
        }
    }
    assert!(
        killed >= 10,
        "only {killed} of 20 runs were killed mid-write"
    );
    // Without syncs, the state is saved when the job is stopped mid-write (fio's behaviour):
    // Ctrl-C, then verify what had completed.
    let _ = std::fs::remove_file(&state);
    let nosync: Vec<&String> = job.iter().filter(|a| !a.starts_with("--fsync")).collect();
    let child = diorite()
        .current_dir(dir.path())
        .args(&nosync)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait_with_output().unwrap().status;
    if status.code() == Some(130) {
        assert!(state.exists(), "a stopped verify job saves its state");
        let v = json_of(
            &diorite()
                .current_dir(dir.path())
                .args(&nosync)
                .args([
                    "--verify_only",
                    "--verify_state_load=1",
                    "--output-format=json",
                ])
                .output()
                .unwrap(),
        );
        assert_eq!(
            v["jobs"][0]["diorite"]["verify"]["errors"].as_u64(),
            Some(0),
            "{v}"
        );
    }
}

/// An error's causes are each printed once: `diorite info` on a file the user may not read
/// (as uid 65534, through setpriv) says "Permission denied" once, not once per cause level.
#[test]
fn an_unprivileged_error_names_its_cause_once() {
    if !common::is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("SKIPPED: needs root and setpriv to run as an unprivileged user");
        return;
    }
    let dir = tempdir();
    let f = data_file(dir.path(), "secret", 4096, 1);
    std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let dir_mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(dir.path(), dir_mode).unwrap();
    let bin = env!("CARGO_BIN_EXE_diorite");
    for args in [
        vec!["info".to_string(), s(&f)],
        vec![
            "bench".into(),
            "--name=x".into(),
            format!("--filename={}", s(&f)),
            "--size=4k".into(),
        ],
    ] {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", bin])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.matches("Permission denied").count(),
            1,
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
