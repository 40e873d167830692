//! Futures over a `Context` , on every backend: reads and writes under
//! several executors, buffers back on every error, cancellation when a future is dropped at each
//! of its await points (and nothing freed early or leaked), backpressure at full depth, sharing
//! one context with blocking users, and the completion stream.

mod common;

use diorite::{AlignedBuf, BackendChoice, BufPool, Context, DirectFile, ErrorKind, Request};
use futures::stream::{FuturesUnordered, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};
use std::time::{Duration, Instant};

const BS: usize = 4096;

/// The byte at offset `o` of a patterned file.
fn byte_at(o: u64) -> u8 {
    ((o / BS as u64) as u8) ^ (o % 251) as u8
}

/// A file of `blocks` 4 KiB blocks whose bytes follow `byte_at`.
fn patterned(dir: &std::path::Path, blocks: usize) -> DirectFile {
    let p = dir.join("pattern");
    let data: Vec<u8> = (0..(blocks * BS) as u64).map(byte_at).collect();
    std::fs::write(&p, data).unwrap();
    DirectFile::options()
        .read(true)
        .write(true)
        .open(&p)
        .unwrap()
}

fn check_block(buf: &[u8], block: u64) {
    let base = block * BS as u64;
    for (i, b) in buf.iter().enumerate() {
        assert_eq!(*b, byte_at(base + i as u64), "block {block} byte {i}");
    }
}

fn ctx(backend: BackendChoice, depth: u32) -> Context {
    common::ctx(backend, depth)
}

/// Reads every block of a 256-block file at QD32 through `FuturesUnordered` (more futures than
/// depth: the rest wait for admissions) and checks each block's bytes.
async fn read_all(ctx: &Context, f: &DirectFile, blocks: u64) {
    let mut set = FuturesUnordered::new();
    for b in 0..blocks {
        let buf = AlignedBuf::for_file(f, BS).unwrap();
        set.push(async move {
            let (r, buf) = ctx.read(f, b * BS as u64, buf).await;
            (b, r, buf)
        });
    }
    let mut seen = 0;
    while let Some((b, r, buf)) = set.next().await {
        assert_eq!(r.unwrap(), BS, "block {b}");
        check_block(&buf, b);
        seen += 1;
    }
    assert_eq!(seen, blocks);
}

/// `tasks` tokio tasks (spawned on the current runtime), each reading `per` blocks one at a
/// time and checking them.
async fn spawned_readers(ctx: &Arc<Context>, f: &DirectFile, tasks: u64, per: u64) {
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (ctx, f) = (ctx.clone(), f.clone());
            tokio::spawn(async move {
                for i in 0..per {
                    let b = (t * per + i) % 256;
                    let buf = AlignedBuf::for_file(&f, BS).unwrap();
                    let (n, buf) = ctx.read(&f, b * BS as u64, buf).await;
                    assert_eq!(n.unwrap(), BS);
                    check_block(&buf, b);
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
}

#[test]
fn reads_and_writes_on_every_executor() {
    for backend in common::backends() {
        let dir = common::tempdir();
        let f = patterned(dir.path(), 256);
        let ctx = Arc::new(ctx(backend, 32));

        // futures' own executor: write, read back, vectored, flushes.
        futures::executor::block_on(async {
            let mut w = AlignedBuf::for_file(&f, BS).unwrap();
            w.fill(0xab);
            let (n, w) = ctx.write(&f, 3 * BS as u64, w).await;
            assert_eq!(n.unwrap(), BS);
            assert_eq!(w.len(), BS);
            let (n, r) = ctx
                .read(&f, 3 * BS as u64, AlignedBuf::for_file(&f, BS).unwrap())
                .await;
            assert_eq!(n.unwrap(), BS);
            assert!(r.iter().all(|&b| b == 0xab));
            // Put the pattern back with a vectored write of two blocks.
            let mut v = vec![
                AlignedBuf::for_file(&f, BS).unwrap(),
                AlignedBuf::for_file(&f, BS).unwrap(),
            ];
            for (k, b) in v.iter_mut().enumerate() {
                let base = (3 + k as u64) * BS as u64;
                for (i, x) in b.iter_mut().enumerate() {
                    *x = byte_at(base + i as u64);
                }
            }
            let (n, v) = ctx.writev(&f, 3 * BS as u64, v).await;
            assert_eq!((n.unwrap(), v.len()), (2 * BS, 2));
            let (n, v) = ctx.readv(&f, 2 * BS as u64, v).await;
            assert_eq!(n.unwrap(), 2 * BS);
            check_block(&v[0], 2);
            check_block(&v[1], 3);
            ctx.fsync(&f).await.unwrap();
            ctx.fdatasync(&f).await.unwrap();
            let c = ctx.run(Request::noop().with_user_data(9)).await;
            assert_eq!((c.user_data, c.result.unwrap()), (9, 0));
        });

        // tokio, current-thread.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(read_all(&ctx, &f, 256));

        // tokio, multi-thread: tasks spawned on two workers share the context.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(spawned_readers(&ctx, &f, 16, 16));
        drop(rt);

        // smol (async-io's reactor, async-executor).
        smol::block_on(read_all(&ctx, &f, 256));

        // A slot is released by whichever of the future and the completing backend is last
        // out: for a moment after a future resolves, the backend may still be waking it.
        settle(&ctx, &format!("{backend:?}: slots left behind"));
        // Async completions never show up in get_events.
        let mut out = Vec::new();
        assert_eq!(
            ctx.get_events(0, 64, Some(Duration::ZERO), &mut out)
                .unwrap(),
            0
        );
        Arc::into_inner(ctx).unwrap().shutdown().unwrap();
    }
}

#[test]
fn buffers_come_back_with_every_error() {
    for backend in common::backends() {
        let dir = common::tempdir();
        let f = patterned(dir.path(), 4);
        let ro = DirectFile::open(dir.path().join("pattern")).unwrap();
        let ctx = ctx(backend, 4);
        futures::executor::block_on(async {
            // Misaligned offset: refused before submission, buffer back.
            let (r, b) = ctx
                .read(&f, 100, AlignedBuf::for_file(&f, BS).unwrap())
                .await;
            assert_eq!(r.unwrap_err().kind(), ErrorKind::Misaligned);
            assert_eq!(b.len(), BS);
            // Past the end of the file: a short (empty) read, buffer back.
            let (r, b) = ctx
                .read(&f, 4 * BS as u64, AlignedBuf::for_file(&f, BS).unwrap())
                .await;
            assert_eq!(r.unwrap(), 0);
            assert_eq!(b.len(), BS);
            // A write on a read-only file.
            let (r, b) = ctx
                .write(&ro, 0, AlignedBuf::for_file(&f, BS).unwrap())
                .await;
            assert!(r.is_err());
            assert_eq!(b.len(), BS);
            // Vectored with no buffers.
            let (r, v) = ctx.readv(&f, 0, Vec::new()).await;
            assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
            assert!(v.is_empty());
        });
        ctx.close().unwrap();
        futures::executor::block_on(async {
            let (r, b) = ctx.read(&f, 0, AlignedBuf::for_file(&f, BS).unwrap()).await;
            assert_eq!(r.unwrap_err().kind(), ErrorKind::Shutdown);
            assert_eq!(b.len(), BS);
        });
    }
}

/// Polls `fut` up to `polls` times with a no-op waker, then drops it.
fn poll_then_drop<F: Future + Unpin>(mut fut: F, polls: usize) -> Option<F::Output> {
    let waker = futures::task::noop_waker();
    let mut cx = TaskCx::from_waker(&waker);
    for _ in 0..polls {
        if let Poll::Ready(v) = Pin::new(&mut fut).poll(&mut cx) {
            return Some(v);
        }
        std::thread::yield_now();
    }
    None
}

/// One look at the pool for [`pool_get`] / [`pool_get_async`]: a buffer, or `None` — failing
/// the test once `start` is 20 s ago (buffers of dropped futures come back once the backend is
/// done with them; a leak exhausts the pool).
fn pool_look(pool: &BufPool, start: Instant) -> Option<AlignedBuf> {
    let b = pool.get();
    assert!(
        b.is_some() || start.elapsed() < Duration::from_secs(20),
        "the pool stays empty: buffers of dropped futures leaked"
    );
    b
}

/// A pool buffer, waiting (bounded) for one to come back.
fn pool_get(pool: &BufPool) -> AlignedBuf {
    let start = Instant::now();
    loop {
        if let Some(b) = pool_look(pool, start) {
            return b;
        }
        std::thread::yield_now();
    }
}

/// [`pool_get`] inside a runtime: yields while it waits, so the runtime's watcher
/// (`Reactor::Tokio`) can reap the completions that give the buffers back.
async fn pool_get_async(pool: &BufPool) -> AlignedBuf {
    let start = Instant::now();
    loop {
        if let Some(b) = pool_look(pool, start) {
            return b;
        }
        tokio::task::yield_now().await;
    }
}

fn settle(ctx: &Context, what: &str) {
    let start = Instant::now();
    while ctx.in_flight() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: {} requests never released",
            ctx.in_flight()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn dropping_a_future_cancels_it_and_frees_its_buffers_once_the_kernel_is_done() {
    for backend in common::backends() {
        let dir = common::tempdir();
        let f = patterned(dir.path(), 64);
        let ctx = Arc::new(ctx(backend, 8));
        let pool = BufPool::for_file(&f, 64, BS).unwrap();
        // Load from a blocking user on the same context, meanwhile.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let load = {
            let (ctx, f, stop) = (ctx.clone(), f.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let b = AlignedBuf::for_file(&f, BS).unwrap();
                    if ctx
                        .submit(Request::read(&f, (n % 64) * BS as u64, b))
                        .is_ok()
                    {
                        n += 1;
                    }
                    ctx.get_events(0, 8, Some(Duration::ZERO), &mut out)
                        .unwrap();
                    for c in out.drain(..) {
                        assert!(
                            c.result.is_ok() || c.result.unwrap_err().kind() == ErrorKind::Canceled
                        );
                    }
                }
                while ctx.in_flight() > 0 {
                    let _ = ctx.get_events(0, 8, Some(Duration::from_millis(1)), &mut out);
                    out.clear();
                }
                n
            })
        };
        let mut completed = 0;
        // Drop points: before the first poll (0 polls), after submitting or while waiting for
        // an admission (1), in flight or completed and not claimed (3); most of those polled
        // 400 times complete, and their data proves no dropped request's late write landed in
        // a reused buffer.
        // DIORITE_DROP_ROUNDS scales it down for valgrind.
        let rounds = std::env::var("DIORITE_DROP_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4000usize);
        for i in 0..rounds {
            // Several at once so some wait for admissions (depth 8).
            let futs: Vec<_> = (0..12)
                .map(|k| {
                    let b = pool_get(&pool);
                    ctx.read(&f, (((i + k) % 64) * BS) as u64, b)
                })
                .collect();
            for (k, fut) in futs.into_iter().enumerate() {
                if let Some((r, buf)) = poll_then_drop(fut, [0, 1, 3, 400][(i + k) % 4]) {
                    let n = r.unwrap();
                    assert_eq!(n, BS);
                    check_block(&buf, ((i + k) % 64) as u64);
                    completed += 1;
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let blocking = load.join().unwrap();
        settle(&ctx, &format!("{backend:?}"));
        assert_eq!(
            pool.available(),
            pool.capacity(),
            "{backend:?}: buffers of dropped futures were leaked"
        );
        eprintln!("{backend:?}: {completed} completed, {blocking} blocking reads alongside");
        // Dropped in tokio: timeouts racing completions.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            for i in 0..(rounds / 8) as u64 {
                let b = pool_get(&pool);
                let fut = ctx.read(&f, (i % 64) * BS as u64, b);
                let _ = tokio::time::timeout(Duration::from_micros(i % 50), fut).await;
            }
        });
        settle(&ctx, &format!("{backend:?} under tokio"));
        assert_eq!(pool.available(), pool.capacity());
        Arc::into_inner(ctx).unwrap().shutdown().unwrap();
    }
}

#[test]
fn a_future_at_full_depth_waits_for_a_slot() {
    for backend in common::backends() {
        let ctx = Arc::new(ctx(backend, 2));
        // Blocking submitters keep the context full too.
        let ctx2 = ctx.clone();
        let blocking = std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut done = 0;
            while done < 2000 {
                if ctx2.submit(Request::noop()).is_ok() {
                    done += 1;
                }
                ctx2.get_events(0, 2, Some(Duration::ZERO), &mut out)
                    .unwrap();
                out.clear();
            }
            while ctx2.in_flight() > 0 {
                ctx2.get_events(0, 2, Some(Duration::from_millis(1)), &mut out)
                    .unwrap();
                out.clear();
            }
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ok = rt.block_on(async {
            let mut set: FuturesUnordered<_> = (0..500u64)
                .map(|i| ctx.run(Request::noop().with_user_data(i)))
                .collect();
            let mut seen = vec![false; 500];
            while let Some(c) = set.next().await {
                c.result.unwrap_or_else(|e| panic!("{backend:?}: {e}"));
                assert!(!std::mem::replace(&mut seen[c.user_data as usize], true));
            }
            seen.iter().all(|s| *s)
        });
        assert!(ok);
        blocking.join().unwrap();
    }
}

#[test]
fn async_and_blocking_users_share_a_context_and_never_see_each_others_completions() {
    for backend in common::backends() {
        let ctx = Arc::new(ctx(backend, 16));
        let ctx2 = ctx.clone();
        let blocking = std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut got = Vec::new();
            let mut sent = 0u64;
            while got.len() < 3000 {
                if sent < 3000
                    && ctx2
                        .submit(Request::noop().with_user_data(1_000_000 + sent))
                        .is_ok()
                {
                    sent += 1;
                }
                ctx2.get_events(0, 16, Some(Duration::from_micros(100)), &mut out)
                    .unwrap();
                got.extend(out.drain(..).map(|c| c.user_data));
            }
            got
        });
        let futs = futures::executor::block_on(async {
            let mut set: FuturesUnordered<_> = (0..3000u64)
                .map(|i| ctx.run(Request::noop().with_user_data(i)))
                .collect();
            let mut got = Vec::new();
            while let Some(c) = set.next().await {
                got.push(c.user_data);
            }
            got
        });
        let mut blocking = blocking.join().unwrap();
        blocking.sort_unstable();
        assert_eq!(blocking, (1_000_000..1_003_000).collect::<Vec<_>>());
        let mut futs = futs;
        futs.sort_unstable();
        assert_eq!(futs, (0..3000).collect::<Vec<_>>());
    }
}

#[test]
fn the_completion_stream_delivers_submitted_requests_once_and_ends_at_close() {
    for backend in common::backends() {
        let dir = common::tempdir();
        let f = patterned(dir.path(), 64);
        let ctx = Arc::new(ctx(backend, 64));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut seen = vec![false; 640];
        rt.block_on(async {
            let mut stream = ctx.completions();
            for round in 0..10u64 {
                let mut reqs: Vec<_> = (0..64u64)
                    .map(|i| {
                        let b = AlignedBuf::for_file(&f, BS).unwrap();
                        Request::read(&f, i * BS as u64, b).with_user_data(round * 64 + i)
                    })
                    .collect();
                assert_eq!(ctx.submit_batch(&mut reqs).unwrap(), 64);
                for _ in 0..64 {
                    let mut c = stream.next().await.unwrap();
                    assert_eq!(c.result.as_ref().copied().unwrap(), BS);
                    check_block(&c.take_buf().unwrap(), c.user_data % 64);
                    assert!(!std::mem::replace(&mut seen[c.user_data as usize], true));
                }
            }
        });
        assert!(seen.iter().all(|s| *s));
        // A stream waiting when the context closes ends.
        let closer = {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                ctx.close().unwrap();
            })
        };
        let end = rt.block_on(async { ctx.completions().next().await });
        assert!(end.is_none());
        closer.join().unwrap();
    }
}

#[test]
fn close_completes_issued_futures_and_refuses_waiting_ones() {
    for backend in common::backends() {
        let dir = common::tempdir();
        let f = patterned(dir.path(), 16);
        // Leaked so the futures' borrow outlives the closing thread's.
        let ctx: &'static Context = Box::leak(Box::new(ctx(backend, 4)));
        let waker = futures::task::noop_waker();
        let mut cx = TaskCx::from_waker(&waker);
        let mut futs: Vec<_> = (0..16u64)
            .map(|i| {
                let b = AlignedBuf::for_file(&f, BS).unwrap();
                ctx.read(&f, i * BS as u64, b)
            })
            .collect();
        let mut results: Vec<Option<_>> = futs
            .iter_mut()
            .map(|fut| match Pin::new(fut).poll(&mut cx) {
                Poll::Ready(v) => Some(v),
                Poll::Pending => None,
            })
            .collect();
        // Submitted (in flight, or completed within its first poll) or still waiting for a slot.
        let waiting: Vec<bool> = futs
            .iter()
            .zip(&results)
            .map(|(f, r)| r.is_none() && f.id().is_none())
            .collect();
        common::within(20, "close with futures pending", move || {
            ctx.close().unwrap()
        });
        for (i, fut) in futs.iter_mut().enumerate() {
            if results[i].is_none() {
                match Pin::new(fut).poll(&mut cx) {
                    Poll::Ready(v) => results[i] = Some(v),
                    Poll::Pending => panic!("{backend:?}: future {i} still pending after close"),
                }
            }
        }
        let (mut ok, mut refused, mut canceled) = (0, 0, 0);
        for (i, r) in results.into_iter().enumerate() {
            let (r, buf) = r.unwrap();
            assert_eq!(buf.len(), BS);
            if waiting[i] {
                assert_eq!(
                    r.as_ref().map_err(|e| e.kind()).unwrap_err(),
                    ErrorKind::Shutdown,
                    "{backend:?}: future {i} waited for a slot at close"
                );
            }
            match r {
                Ok(n) => {
                    assert_eq!(n, BS);
                    check_block(&buf, i as u64);
                    ok += 1;
                }
                Err(e) if e.kind() == ErrorKind::Shutdown => refused += 1,
                // Submitted but not yet issued (a pool worker had not picked it up): shutdown
                // cancels it.
                Err(e) if e.kind() == ErrorKind::Canceled => canceled += 1,
                Err(e) => panic!("{backend:?}: {e}"),
            }
        }
        // At least four were admitted (depth 4; one that completed within its first poll freed
        // its slot for the next) and finish; those waiting for a slot are refused.
        assert!(
            ok + canceled >= 4 && refused == waiting.iter().filter(|w| **w).count(),
            "{backend:?}: {ok} ok, {canceled} canceled, {refused} refused"
        );
        assert_eq!(ok + canceled + refused, 16);
        drop(futs);
        assert_eq!(ctx.in_flight(), 0);
    }
}

#[test]
fn dropping_a_queued_future_keeps_its_request_from_running() {
    // One pool worker, busy with a long durable write: a future submitted behind it and dropped
    // is dequeued, so its write never reaches the file.
    let dir = common::tempdir();
    let f = common::file_with(dir.path(), "cancel", 40 << 20, 0);
    let ctx = Context::builder()
        .backend(BackendChoice::Threads)
        .threads(1)
        .depth(4)
        .build()
        .unwrap();
    let mut big = AlignedBuf::for_file(&f, 32 << 20).unwrap();
    big.fill(1);
    let hog = ctx.submit(Request::write(&f, 0, big).dsync()).unwrap();
    let mut small = AlignedBuf::for_file(&f, BS).unwrap();
    small.fill(0xee);
    let fut = ctx.write(&f, 36 << 20, small);
    assert!(poll_then_drop(fut, 1).is_none());
    let mut out = Vec::new();
    ctx.get_events(1, 1, Some(Duration::from_secs(30)), &mut out)
        .unwrap();
    assert_eq!(out[0].id, hog);
    settle(&ctx, "threads");
    let (n, back) = diorite::read_at(&f, 36 << 20, AlignedBuf::for_file(&f, BS).unwrap());
    assert_eq!(n.unwrap(), BS);
    assert!(
        back.iter().all(|&b| b == 0),
        "a dropped future's write ran anyway"
    );
}

/// `Reactor::Tokio`: futures wait in the runtime's reactor (current-thread and multi-thread
/// runtimes with I/O); outside tokio, or in a runtime built without I/O, the driver thread
/// serves them instead — the same results everywhere, and drops still cancel and free.
#[test]
fn the_tokio_reactor_serves_futures_and_falls_back_where_it_cannot() {
    // Every batching policy.
    use diorite::SubmitBatching as B;
    for (backend, batch) in common::backends()
        .into_iter()
        .flat_map(|b| [(b, B::Adaptive), (b, B::Always), (b, B::Never)])
    {
        let dir = common::tempdir();
        let f = patterned(dir.path(), 256);
        let ctx = Arc::new(
            Context::builder()
                .depth(32)
                .backend(backend)
                .threads(2)
                .reactor(diorite::Reactor::Tokio)
                .submit_batching(batch)
                .build()
                .unwrap(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(read_all(&ctx, &f, 256));
        let mt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        mt.block_on(spawned_readers(&ctx, &f, 8, 32));
        // Timeouts racing completions under the reactor.
        rt.block_on(async {
            for i in 0..300u64 {
                let b = AlignedBuf::for_file(&f, BS).unwrap();
                let fut = ctx.read(&f, (i % 256) * BS as u64, b);
                let _ = tokio::time::timeout(Duration::from_micros(i % 40), fut).await;
            }
        });
        settle(&ctx, &format!("{backend:?} reactor"));
        // Not in tokio: the driver thread.
        futures::executor::block_on(read_all(&ctx, &f, 64));
        // A runtime without I/O (tokio panics when asked to register; the engine catches that
        // and uses the driver thread).
        let no_io = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        no_io.block_on(read_all(&ctx, &f, 64));
        // Both runtimes gone, the context still serves futures.
        drop((rt, mt, no_io));
        smol::block_on(read_all(&ctx, &f, 64));
        Arc::into_inner(ctx).unwrap().shutdown().unwrap();
    }
}

/// `Reactor::Tokio` defers the kick of a future's submission to the runtime's watcher (one
/// enter or `io_submit` per batch). A future dropped, or a context closed, before the watcher
/// ran must still find its request issued: the cancel hands the queue to the kernel first (on
/// Linux AIO, `io_cancel` finds only submitted iocbs), and so does the close, which waits for
/// every issued request — without that kick it would wait forever.
#[test]
fn deferred_submissions_survive_drops_and_close_before_the_watcher_runs() {
    for backend in common::backends() {
        let dir = common::tempdir();
        let f = patterned(dir.path(), 64);
        let ctx = Arc::new(
            Context::builder()
                .depth(16)
                .backend(backend)
                .threads(2)
                .reactor(diorite::Reactor::Tokio)
                // Every submission waits for the watcher's kick (`Adaptive` would kick at once
                // while the device is short of work, as it is here).
                .submit_batching(diorite::SubmitBatching::Always)
                .build()
                .unwrap(),
        );
        let pool = BufPool::for_file(&f, 16, BS).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // Start the watcher.
            read_all(&ctx, &f, 4).await;
            // Polled once (submitted, kick deferred), dropped before this task yields: the
            // watcher has not run in between.
            for round in 0..200u64 {
                let mut futs = Vec::new();
                for i in 0..16u64 {
                    let buf = pool_get_async(&pool).await;
                    futs.push(ctx.read(&f, ((round + i) % 64) * BS as u64, buf));
                }
                for fut in futs {
                    // Usually still pending; a full submission queue flushes on push, and a
                    // read may then complete within the poll: either way it must come back.
                    let _ = poll_then_drop(fut, 1);
                }
            }
            // Polled once, then the context closes under them, still in this task.
            let mut futs = Vec::new();
            for i in 0..8u64 {
                let buf = pool_get_async(&pool).await;
                futs.push(Box::pin(ctx.read(&f, i * BS as u64, buf)));
            }
            let waker = futures::task::noop_waker();
            for fut in &mut futs {
                let _ = fut.as_mut().poll(&mut TaskCx::from_waker(&waker));
            }
            ctx.close().unwrap();
            for (i, fut) in futs.into_iter().enumerate() {
                let (r, buf) = fut.await;
                match r {
                    Ok(n) => {
                        assert_eq!(n, BS);
                        check_block(&buf, i as u64);
                    }
                    // Not yet issued when the close came (the thread pool's queue): canceled.
                    Err(e) => assert!(
                        matches!(e.kind(), ErrorKind::Shutdown | ErrorKind::Canceled),
                        "{backend:?}: {e}"
                    ),
                }
            }
        });
        settle(&ctx, &format!("{backend:?} deferred"));
        // Every buffer came back to the pool: none leaked, none still held by the kernel.
        let all: Vec<_> = (0..16).map(|_| pool_get(&pool)).collect();
        assert_eq!(all.len(), 16);
    }
}

/// `Reactor::Tokio` on io_uring waits on the ring's own fd, so the completion eventfd is free
/// for a user's event loop: futures on a tokio runtime in one thread and an epoll loop on
/// `completion_fd` in another (blocking `submit`, `get_events` only when epoll says so) share
/// one context; each side sees its own completions, each exactly once, and neither waits
/// forever for a wake-up the other took.
#[test]
fn tokio_futures_and_an_epoll_loop_share_one_io_uring_context() {
    if !common::backends().contains(&BackendChoice::IoUring) {
        eprintln!("SKIPPED: io_uring is not available here");
        return;
    }
    let dir = common::tempdir();
    let f = patterned(dir.path(), 256);
    let ctx = Arc::new(
        Context::builder()
            .depth(32)
            .backend(BackendChoice::IoUring)
            .reactor(diorite::Reactor::Tokio)
            .build()
            .unwrap(),
    );
    let fd = {
        use std::os::fd::AsRawFd;
        ctx.completion_fd().unwrap().as_raw_fd()
    };
    let (c2, f2) = (ctx.clone(), f.clone());
    let looped = std::thread::spawn(move || {
        const TOTAL: u64 = 4000;
        // SAFETY: epoll_create1 has no memory arguments.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 0,
        };
        // SAFETY: a valid epoll fd, the context's eventfd, a valid event.
        let added = unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) };
        assert_eq!(added, 0);
        let mut seen = vec![false; TOTAL as usize];
        let (mut submitted, mut done) = (0u64, 0u64);
        let mut out = Vec::new();
        while done < TOTAL {
            while submitted < TOTAL && submitted - done < 8 {
                let b = submitted % 256;
                let buf = AlignedBuf::for_file(&f2, BS).unwrap();
                let req = Request::read(&f2, b * BS as u64, buf).with_user_data(submitted);
                match c2.submit(req) {
                    Ok(_) => submitted += 1,
                    // The futures hold the rest of the depth: reap, then try again.
                    Err(e) if e.error.kind() == ErrorKind::QueueFull => break,
                    Err(e) => panic!("{}", e.error),
                }
            }
            if submitted == done {
                // The futures held the whole depth: nothing of ours to wait for yet.
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 1];
            // SAFETY: `evs` is valid for one event.
            let n = unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), 1, 10_000) };
            let eintr =
                n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR);
            assert!(
                n > 0 || eintr,
                "epoll: nothing for 10 s with {} in flight",
                submitted - done
            );
            let mut cnt = [0u8; 8];
            // SAFETY: reads 8 bytes into a live buffer from the context's eventfd.
            unsafe { libc::read(fd, cnt.as_mut_ptr().cast(), 8) };
            loop {
                out.clear();
                if c2
                    .get_events(0, 64, Some(Duration::ZERO), &mut out)
                    .unwrap()
                    == 0
                {
                    break;
                }
                for mut c in out.drain(..) {
                    let k = c.user_data as usize;
                    assert!(
                        !std::mem::replace(&mut seen[k], true),
                        "{k} delivered twice"
                    );
                    assert_eq!(c.result.as_ref().ok(), Some(&BS));
                    check_block(&c.take_buf().unwrap(), k as u64 % 256);
                    done += 1;
                }
            }
        }
        // SAFETY: closing the epoll fd made above.
        unsafe { libc::close(ep) };
        done
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..8 {
            read_all(&ctx, &f, 256).await;
        }
    });
    assert_eq!(looped.join().unwrap(), 4000);
    settle(&ctx, "tokio + epoll");
    drop(rt);
    Arc::into_inner(ctx).unwrap().shutdown().unwrap();
}
