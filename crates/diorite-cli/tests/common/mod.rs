//! Helpers shared by the CLI's test binaries: running the real `diorite` binary.

#![allow(dead_code)] // each test binary uses a different subset

use serde_json::Value;
use std::path::Path;
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

/// A temp directory on a filesystem that takes O_DIRECT (/var/tmp, not a tmpfs /tmp).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("diorite-cli")
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// The JSON report of a run that must have succeeded.
pub fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A loop device with 4096-byte sectors and direct I/O over the image `img`, detached on drop;
/// `None` when not root (a loud SKIPPED) — CI runs as root.
pub struct Loop4k {
    pub dev: String,
}

impl Loop4k {
    pub fn new(img: &Path) -> Option<Loop4k> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: needs root for a loop device; CI runs as root");
            return None;
        }
        let out = Command::new("losetup")
            .args(["-f", "--show", "--direct-io=on", "--sector-size", "4096"])
            .arg(img)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Loop4k {
            dev: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        })
    }
}

impl Drop for Loop4k {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

/// Whether the tests run as root (some create devices or mounts).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
