//! Options that were accepted and not honoured (issue 11): each now does what fio does. Each
//! test failed on the code before the fix.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn bench_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diorite"))
        .current_dir(dir)
        .arg("bench")
        .args(args)
        .output()
        .unwrap()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("diorite-fio")
        .tempdir_in("/var/tmp")
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

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

/// `direct=0` is buffered on every engine that takes buffered files; `direct=1` is O_DIRECT
/// (before: O_DIRECT either way).
#[test]
fn direct_zero_is_buffered_and_direct_one_is_o_direct() {
    let dir = tempdir();
    for engine in ["psync", "io_uring", "threads"] {
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
    // libaio on a buffered file would block in io_submit: refused, naming both options.
    let out = bench_in(
        dir.path(),
        &[
            "--name=d",
            "--filename=f",
            "--size=1m",
            "--ioengine=libaio",
            "--direct=0",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("libaio") && e.contains("direct=0"), "{e}");
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
