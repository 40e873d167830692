//! `diorite info [PATH] [--json]`: the machine's capabilities and a file's geometry, each with
//! why it is or is not available — also when io_uring is refused (`kernel.io_uring_disabled=2`,
//! flipped machine-wide and restored, also on failure: one test in its own binary, and cargo
//! runs test binaries one at a time), for an unprivileged user, and for a path that is not there.

mod common;

use serde_json::Value;
use std::process::Command;

const SYSCTL: &str = "/proc/sys/kernel/io_uring_disabled";

struct Restore(String);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::write(SYSCTL, &self.0);
    }
}

fn info(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_diorite"))
        .arg("info")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(args: &[&str]) -> Value {
    let (code, out, err) = info(args);
    assert_eq!(code, Some(0), "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn info_reports_what_is_and_is_not_available_and_why() {
    let dir = common::tempdir();
    let f = dir.path().join("f");
    std::fs::write(&f, vec![0u8; 1 << 20]).unwrap();
    let fs = f.display().to_string();
    // The machine and a file: every key, with its type.
    let v = json(&["--json", &fs]);
    assert_eq!(v["diorite"], env!("CARGO_PKG_VERSION"));
    assert!(v["kernel"].as_str().is_some_and(|k| !k.is_empty()));
    let names: Vec<&str> = v["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["io_uring", "aio", "threads"]);
    assert!(v["backends"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["available"].is_boolean() && b["reason"].is_string()));
    let u = &v["io_uring"];
    if u["available"] == true {
        for op in [
            "READ",
            "WRITE",
            "READV",
            "WRITEV",
            "FSYNC",
            "NOP",
            "ASYNC_CANCEL",
        ] {
            assert_eq!(u["opcodes"][op], true, "{op}: the backend needs it");
        }
        assert!(u["features"]["EXT_ARG"].is_boolean());
        for flag in [
            "SQPOLL",
            "IOPOLL",
            "SINGLE_ISSUER",
            "DEFER_TASKRUN",
            "COOP_TASKRUN",
            "SUBMIT_ALL",
            "HYBRID_IOPOLL",
        ] {
            assert!(u["setup_flags"][flag]["available"].is_boolean(), "{flag}");
            assert!(u["setup_flags"][flag]["reason"].is_string(), "{flag}");
        }
        // Hybrid polling came with Linux 6.13: the raw setup probe must agree with the kernel.
        let (maj, min) = kernel_version();
        assert_eq!(
            u["setup_flags"]["HYBRID_IOPOLL"]["available"],
            (maj, min) >= (6, 13),
            "{}",
            u["setup_flags"]["HYBRID_IOPOLL"]["reason"]
        );
    }
    assert!(v["aio"]["aio_max_nr"].as_u64().is_some_and(|m| m > 0));
    let file = &v["file"];
    assert_eq!(file["path"], fs.as_str());
    assert_eq!(file["type"], "regular file");
    assert_eq!(file["size"], 1 << 20);
    for k in [
        "logical_block_size",
        "memory_alignment",
        "buffer_alignment",
        "offset_alignment",
        "read_offset_alignment",
        "max_transfer",
    ] {
        assert!(file[k].as_u64().is_some_and(|n| n > 0), "{k}: {file}");
    }
    assert!(file["read_offset_alignment"].as_u64() <= file["offset_alignment"].as_u64());
    assert!(file["poll_queues"].is_boolean() && file["dontcache"]["available"].is_boolean());
    // Text: the same facts, for people.
    let (code, text, _) = info(&[&fs]);
    assert_eq!(code, Some(0));
    for line in [
        "offset alignment:",
        "uncached buffered:",
        "backends:",
        "kernel:",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    // Without a path: the machine only.
    let v = json(&["--json"]);
    assert!(v.get("file").is_none() && v["backends"].is_array());
    // A path that is not there: an error naming it, nothing on standard output.
    let (code, out, err) = info(&["--json", "/nonexistent/diorite-info"]);
    assert_eq!(code, Some(1));
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("/nonexistent/diorite-info"), "{err}");
    // An unprivileged user (uid 65534) gets the same report, with its own answers.
    if common::is_root() && Command::new("setpriv").arg("--version").output().is_ok() {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_diorite"))
            .args(["info", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["backends"].as_array().unwrap().len() == 3);
    } else {
        eprintln!("SKIPPED (unprivileged part): needs root and setpriv");
    }
    // io_uring refused machine-wide: unavailable, and why; the rest still reported.
    if !common::is_root() {
        eprintln!("SKIPPED (io_uring_disabled part): needs root; CI runs as root");
        return;
    }
    let Ok(old) = std::fs::read_to_string(SYSCTL) else {
        eprintln!("SKIPPED (io_uring_disabled part): this kernel has no {SYSCTL}");
        return;
    };
    let _restore = Restore(old.trim().to_string());
    std::fs::write(SYSCTL, "2").expect("set kernel.io_uring_disabled=2");
    let v = json(&["--json", &fs]);
    assert_eq!(v["io_uring"]["available"], false, "{v}");
    let why = v["io_uring"]["reason"].as_str().unwrap();
    assert!(why.contains("io_uring_disabled=2"), "{why}");
    assert_eq!(v["backends"][0]["available"], false);
    assert_eq!(v["backends"][2]["available"], true);
    assert!(v["file"]["offset_alignment"].as_u64().is_some());
}

/// The running kernel's major and minor version (`uname -r`).
fn kernel_version() -> (u32, u32) {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut it = r.trim().split(|c: char| !c.is_ascii_digit());
    let num = |s: Option<&str>| s.and_then(|x| x.parse().ok()).unwrap_or(0);
    (num(it.next()), num(it.next()))
}
