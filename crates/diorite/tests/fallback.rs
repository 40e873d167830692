//! `BackendChoice::Auto` falls back loudly when io_uring is refused. Flips the machine-wide
//! sysctl `kernel.io_uring_disabled` (restored afterwards, also on failure), so it lives in its
//! own test binary: cargo runs test binaries one at a time.

mod common;

use diorite::{BackendChoice, BackendKind, Context, ErrorKind, Request};
use std::time::Duration;

const SYSCTL: &str = "/proc/sys/kernel/io_uring_disabled";

struct Restore(String);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::write(SYSCTL, &self.0);
    }
}

#[test]
fn auto_skips_a_disabled_io_uring_and_says_why() {
    if !common::is_root() {
        eprintln!("SKIPPED: needs root to set kernel.io_uring_disabled; CI runs as root");
        return;
    }
    let Ok(old) = std::fs::read_to_string(SYSCTL) else {
        eprintln!("SKIPPED: this kernel has no {SYSCTL}");
        return;
    };
    let _restore = Restore(old.trim().to_string());
    std::fs::write(SYSCTL, "2").expect("set kernel.io_uring_disabled=2");

    let probe = diorite::backend::probe();
    let uring = probe
        .iter()
        .find(|s| s.kind == BackendKind::IoUring)
        .unwrap();
    assert!(!uring.available);
    assert!(
        uring.reason.contains("EPERM") && uring.reason.contains("io_uring_disabled=2"),
        "{}",
        uring.reason
    );

    let ctx = Context::builder().depth(4).build().unwrap();
    assert_ne!(ctx.backend(), BackendKind::IoUring);
    let skipped = ctx.skipped_backends();
    assert!(
        skipped
            .iter()
            .any(|s| s.kind == BackendKind::IoUring && s.reason.contains("io_uring_disabled")),
        "the context must report why io_uring was skipped: {skipped:?}"
    );
    // The fallback works.
    ctx.submit(Request::noop()).unwrap();
    let mut out = Vec::new();
    assert_eq!(
        ctx.get_events(1, 1, Some(Duration::from_secs(5)), &mut out)
            .unwrap(),
        1
    );

    // Asking for io_uring explicitly is a clear error, not a silent fallback.
    let e = Context::builder()
        .backend(BackendChoice::IoUring)
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("io_uring_disabled"), "{e}");
}
