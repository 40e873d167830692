//! A backend refused by a limit that is later lifted becomes available again; only lasting
//! refusals are kept for the process. Runs in its own test binary (a fresh process whose
//! probes have not run yet; it lowers this process's descriptor limit and, as root, the
//! machine-wide `fs.aio-max-nr`, restored afterwards, also on failure).

mod common;

use diorite::{BackendChoice, BackendKind, Context, ErrorKind};

/// Lowers `RLIMIT_NOFILE` until no descriptor is free; restores it (and closes what it opened
/// to fill the gaps) on drop.
struct NoFreeFds {
    old: libc::rlimit,
    filler: Vec<std::fs::File>,
}

impl NoFreeFds {
    fn new() -> NoFreeFds {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid out-pointer.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
        let highest = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
            .max()
            .unwrap();
        let low = libc::rlimit {
            rlim_cur: highest + 1,
            rlim_max: old.rlim_max,
        };
        // SAFETY: a valid rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
        let mut filler = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            filler.push(f);
        }
        NoFreeFds { old, filler }
    }
}

impl Drop for NoFreeFds {
    fn drop(&mut self) {
        self.filler.clear();
        // SAFETY: a valid rlimit (the one read at the start).
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.old) };
    }
}

struct AioMaxNr(String);

impl Drop for AioMaxNr {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/fs/aio-max-nr", &self.0);
    }
}

fn build(b: BackendChoice) -> diorite::Result<Context> {
    Context::builder().backend(b).depth(8).threads(1).build()
}

#[test]
fn a_backend_refused_by_a_lifted_limit_is_probed_again() {
    // Nothing has probed yet in this process: the first probes run with no descriptor free.
    let refused = {
        let _full = NoFreeFds::new();
        let r = build(BackendChoice::IoUring).map(|c| c.backend());
        let auto = build(BackendChoice::Auto).unwrap();
        assert_ne!(auto.backend(), BackendKind::IoUring);
        assert_ne!(
            auto.backend(),
            BackendKind::Aio,
            "AIO's poll probe needs an eventfd"
        );
        r
    };
    match refused {
        Err(e) if e.to_string().contains("Too many open files") => {
            let ctx = build(BackendChoice::IoUring)
                .expect("io_uring is available again once descriptors are free");
            assert_eq!(ctx.backend(), BackendKind::IoUring);
            assert_eq!(
                build(BackendChoice::Auto).unwrap().backend(),
                BackendKind::IoUring
            );
        }
        other => eprintln!("SKIPPED (io_uring part): io_uring is not available here: {other:?}"),
    }
    // AIO refused by a full fs.aio-max-nr (its descriptor-limited probe above decided
    // nothing): the refusal passes with the limit.
    if !common::is_root() {
        eprintln!("SKIPPED (aio part): needs root to set fs.aio-max-nr; CI runs as root");
        return;
    }
    let read = |n: &str| {
        std::fs::read_to_string(format!("/proc/sys/fs/{n}"))
            .unwrap()
            .trim()
            .to_string()
    };
    {
        let _restore = AioMaxNr(read("aio-max-nr"));
        std::fs::write("/proc/sys/fs/aio-max-nr", read("aio-nr")).unwrap();
        let e = build(BackendChoice::Aio).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("EAGAIN"), "{e}");
    }
    let ctx = build(BackendChoice::Aio).expect("AIO is available again once the limit is lifted");
    assert_eq!(ctx.backend(), BackendKind::Aio);
}
