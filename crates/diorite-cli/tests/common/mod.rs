//! Helpers shared by the CLI's test binaries: running the real `diorite` binary; devices, the
//! root check and the hang guard come from `diorite-test-support`.

#![allow(dead_code, unused_imports)] // each test binary uses a different subset

pub use diorite_test_support::{
    cached_pages, cached_pages_settled, is_root, within, LoopDev, Xfs, Zram,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `diorite bench ARGS` in the current directory.
pub fn bench(args: &[&str]) -> Output {
    bench_in(Path::new("."), args)
}

/// `diorite bench ARGS` with `dir` as the working directory.
pub fn bench_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diorite"))
        .current_dir(dir)
        .arg("bench")
        .args(args)
        .output()
        .unwrap()
}

/// A `diorite bench` command line being built, to run in a directory:
/// `job(dir, "w").args(&["--rw=write", "--size=1m"]).json()`.
pub struct Job<'a> {
    dir: &'a Path,
    args: Vec<String>,
}

/// A job named `name` (`--name=NAME`), run in `dir`.
pub fn job<'a>(dir: &'a Path, name: &str) -> Job<'a> {
    Job {
        dir,
        args: vec![format!("--name={name}")],
    }
}

impl Job<'_> {
    /// One more argument (`--option=value`).
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    /// More arguments.
    pub fn args(mut self, more: &[&str]) -> Self {
        self.args.extend(more.iter().map(|a| a.to_string()));
        self
    }

    /// `--filename=PATH`.
    pub fn file(self, path: &Path) -> Self {
        let a = format!("--filename={}", path.display());
        self.arg(a)
    }

    /// Runs it as built.
    pub fn run(&self) -> Output {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        bench_in(self.dir, &args)
    }

    /// Runs it with `--output-format=json`; the run must succeed; its report.
    pub fn json(&self) -> Value {
        let mut args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        args.push("--output-format=json");
        json(&bench_in(self.dir, &args))
    }
}

/// A file `name` in `dir` holding `len` bytes of `byte`.
pub fn data_file(dir: &Path, name: &str, len: usize, byte: u8) -> PathBuf {
    let f = dir.join(name);
    std::fs::write(&f, vec![byte; len]).unwrap();
    f
}

/// A temp directory on a filesystem that takes O_DIRECT (/var/tmp, not a tmpfs /tmp).
pub fn tempdir() -> tempfile::TempDir {
    diorite_test_support::tempdir_named("diorite-cli")
}

/// The JSON report of a run that must have succeeded.
pub fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `diorite bench` in `dir` with `base` and `extra`: 4 KiB O_DIRECT I/O through io_uring, JSON.
pub fn direct_4k(dir: &Path, base: &[&str], extra: &[&str]) -> std::process::Output {
    let fixed = [
        "--bs=4k",
        "--ioengine=io_uring",
        "--direct=1",
        "--output-format=json",
    ];
    let args: Vec<&str> = base.iter().chain(&fixed).chain(extra).copied().collect();
    bench_in(dir, &args)
}

/// Which 4 KiB blocks of a zeroed file of `size` bytes a 4 KiB O_DIRECT job writes (its
/// data is a nonzero pattern), with `args`.
pub fn blocks_written(dir: &Path, size: usize, args: &[&str]) -> Vec<usize> {
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

/// Runs fio in `dir` with `args` for a side-by-side check: `None`, with a loud SKIPPED, when
/// fio is not installed (the check is then not made); a fio that is installed and fails fails
/// the test — a side-by-side check never passes by not running.
pub fn fio_in(dir: &Path, args: &[&str]) -> Option<Output> {
    let out = fio_may_fail(dir, args)?;
    assert!(
        out.status.success(),
        "fio {args:?}: exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out)
}

/// [`fio_in`] for a run that is expected to fail: its output whatever its status.
pub fn fio_may_fail(dir: &Path, args: &[&str]) -> Option<Output> {
    if Command::new("fio").arg("--version").output().is_err() {
        eprintln!("SKIPPED: fio is not installed; the side-by-side check did not run");
        return None;
    }
    Some(
        Command::new("fio")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap(),
    )
}

/// `diorite bench ARGS` in `dir` with `input` on standard input (a job file given as `-`).
pub fn bench_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_diorite"))
        .current_dir(dir)
        .arg("bench")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// fio's sampled bandwidth and IOPS fields, which its JSON has in every direction.
pub const SAMPLE_KEYS: [&str; 11] = [
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
];
