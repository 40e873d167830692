//! `Reactor::Tokio`'s watchers let their context go: a closed context's watcher task ends
//! while its runtime lives on, and with it the last references to the ring (io_uring) or the
//! completion eventfd (Linux AIO). Its own test binary: it counts the process's open kernel
//! objects, which tests running beside it would change.

mod common;

use diorite::{AlignedBuf, BackendChoice, Context, DirectFile};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// This process's open descriptors whose link names `kind` (`anon_inode:[io_uring]`, ...),
/// each as its number and the kernel's identity of the file behind it (`fdinfo`'s inode and
/// eventfd id): a descriptor closed and its number reused shows as a different entry.
fn open_of(kind: &str) -> std::collections::BTreeSet<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            if std::fs::read_link(e.path()).ok()?.to_string_lossy() != kind {
                return None;
            }
            let n = e.file_name().to_string_lossy().into_owned();
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{n}")).ok()?;
            let id: Vec<&str> = info
                .lines()
                .filter(|l| l.starts_with("ino:") || l.starts_with("eventfd-id:"))
                .collect();
            Some(format!("{n} {}", id.join(" ")))
        })
        .collect()
}

/// What the kernel backends wait on in the runtime's reactor.
fn watched(backend: BackendChoice) -> &'static str {
    match backend {
        BackendChoice::IoUring => "anon_inode:[io_uring]",
        _ => "anon_inode:[eventfd]",
    }
}

/// Reads through futures on a current-thread runtime, then on a multi-thread one (a watcher
/// each), closes the context, and checks that while both runtimes still run, every
/// descriptor the context made (its ring or eventfd, the watchers' duplicates) is closed
/// within a few turns of them. The second runtime's watcher drains the completions of both
/// (they share the context's queue), so the first one's fd has nothing to report when its
/// runtime next looks: the close must reach it some other way.
#[test]
fn a_closed_context_lets_its_watchers_and_ring_go_while_the_runtimes_live() {
    for backend in common::backends() {
        if !matches!(backend, BackendChoice::IoUring | BackendChoice::Aio) {
            continue;
        }
        let kind = watched(backend);
        // The runtimes first: their own wakers are eventfds too.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let before = open_of(kind);
        let dir = common::tempdir();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 64 * 4096]).unwrap();
        let f = DirectFile::open(&path).unwrap();
        let ctx = Arc::new(
            Context::builder()
                .depth(8)
                .backend(backend)
                .reactor(diorite::Reactor::Tokio)
                .build()
                .unwrap(),
        );
        let read = |ctx: Arc<Context>, f: DirectFile| async move {
            for i in 0..32u64 {
                let buf = AlignedBuf::for_file(&f, 4096).unwrap();
                let (r, buf) = ctx.read(&f, i * 4096, buf).await;
                assert_eq!(r.unwrap(), 4096);
                assert!(buf.iter().all(|&b| b == 7));
            }
        };
        rt.block_on(read(ctx.clone(), f.clone()));
        mt.block_on(mt.spawn(read(ctx.clone(), f.clone()))).unwrap();
        assert!(
            open_of(kind).difference(&before).count() > 0,
            "{backend:?}: the context and its watchers hold no {kind}"
        );
        Arc::into_inner(ctx).unwrap().shutdown().unwrap();
        // Both runtimes keep running; their watchers must notice the close by themselves.
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            let nap = || async { tokio::time::sleep(Duration::from_millis(5)).await };
            rt.block_on(nap());
            mt.block_on(nap());
            let left: Vec<String> = open_of(kind).difference(&before).cloned().collect();
            if left.is_empty() {
                break;
            }
            assert!(
                Instant::now() < end,
                "{backend:?}: {kind} descriptors still open 5 s after the close ({left:?}): a \
                 watcher still holds the context"
            );
        }
    }
}
