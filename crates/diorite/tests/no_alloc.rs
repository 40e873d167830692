//! "No heap allocation per request once warm": a counting global allocator watches real submit +
//! reap cycles on a regular file — single requests, batches, vectored requests, and completions
//! that overflow a small completion ring — on every backend.

mod common;

use diorite::{AlignedBuf, BackendChoice, BufPool, Context, Request};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn warm_requests_do_not_allocate() {
    for backend in common::backends() {
        for ring in [None, Some(2)] {
            check(backend, ring);
        }
        // In the same test: the counter is global, so checks must not overlap.
        check_futures(backend);
    }
}

/// Futures: twelve reads and writes kept in flight at depth 8 — so four always wait
/// for an admission — polled by a plain loop with a no-op waker; every seventh future is
/// dropped after its first poll (cancel, buffers kept until the backend is done). After
/// warm-up, not one heap allocation: not in the futures, the waker hand-off, the admission
/// queue, the driver thread or the backend.
fn check_futures(backend: BackendChoice) {
    use diorite::Io;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context as TaskCx, Poll};

    ALLOCS.store(0, Ordering::SeqCst);
    let dir = common::tempdir();
    let f = common::file_with(dir.path(), "alloc-async", 1 << 20, 7);
    let bs = f.geometry().offset_align.max(4096) as usize;
    let ctx = Context::builder()
        .depth(8)
        .backend(backend)
        .threads(2)
        .build()
        .unwrap();
    let pool = BufPool::for_file(&f, 48, bs).unwrap();
    let waker = futures::task::noop_waker();
    let mut cx = TaskCx::from_waker(&waker);
    type Fut<'a> = Io<'a, (diorite::Result<usize>, AlignedBuf)>;
    let mut live: Vec<Option<Fut<'_>>> = Vec::with_capacity(12);
    let mut n = 0u64;
    let make = |n: &mut u64, buf: AlignedBuf| -> Fut<'_> {
        *n += 1;
        let off = (*n % 64) * bs as u64;
        if *n % 2 == 0 {
            ctx.read(&f, off, buf)
        } else {
            ctx.write(&f, off, buf)
        }
    };
    let get = |pool: &BufPool| loop {
        // A dropped future's buffer comes back once the backend is done with it.
        if let Some(b) = pool.get() {
            break b;
        }
        std::thread::yield_now();
    };
    for _ in 0..12 {
        let b = get(&pool);
        live.push(Some(make(&mut n, b)));
    }
    let mut run = |rounds: u64, n: &mut u64| {
        let mut done = 0;
        while done < rounds {
            for slot in live.iter_mut() {
                let Some(fut) = slot.as_mut() else { continue };
                match Pin::new(fut).poll(&mut cx) {
                    Poll::Ready((r, buf)) => {
                        assert!(r.is_ok(), "{r:?}");
                        done += 1;
                        *slot = Some(make(n, buf));
                        if *n % 7 == 0 {
                            // Submitted (or queued for an admission) on this poll, then dropped.
                            let mut fresh = slot.take().unwrap();
                            let _ = Pin::new(&mut fresh).poll(&mut cx);
                            drop(fresh);
                            let b = get(&pool);
                            *slot = Some(make(n, b));
                        }
                    }
                    Poll::Pending => {}
                }
            }
        }
    };
    run(2000, &mut n); // warm up: the driver thread, the admission queue's capacity
    COUNTING.store(true, Ordering::SeqCst);
    run(6000, &mut n);
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(
        ALLOCS.load(Ordering::SeqCst),
        0,
        "heap allocations on the warm async path ({backend:?})"
    );
    drop(live);
}

/// One context per backend (and with a completion ring of 2, so completions go through the
/// overflow list): single-buffer reads, writes and noops one by one; the same in batches
/// through one reused `Vec`; vectored reads and writes whose buffer vectors circulate through
/// `take_bufs`. After warm-up, not one heap allocation.
fn check(backend: BackendChoice, ring: Option<usize>) {
    ALLOCS.store(0, Ordering::SeqCst);
    let dir = common::tempdir();
    let f = common::file_with(dir.path(), "alloc", 1 << 20, 7);
    let bs = f.geometry().offset_align.max(4096) as usize;
    let mut b = Context::builder();
    b.depth(16).backend(backend).threads(2);
    if let Some(r) = ring {
        b.completion_ring(r);
    }
    let ctx = b.build().unwrap();
    let pool = BufPool::for_file(&f, 48, bs).unwrap();
    let mut out = Vec::with_capacity(16);
    let mut batch: Vec<Request> = Vec::with_capacity(16);
    let mut vecs: Vec<Vec<AlignedBuf>> = (0..4).map(|_| Vec::with_capacity(2)).collect();
    let mut reap = |ctx: &Context, n: usize, vecs: &mut Vec<Vec<AlignedBuf>>| {
        let mut got = 0;
        while got < n {
            out.clear();
            got += ctx
                .get_events(1, 16, Some(Duration::from_secs(10)), &mut out)
                .unwrap();
            for c in out.iter_mut() {
                assert!(c.result.is_ok(), "{:?}", c.result);
                if c.user_data >= 100 {
                    // A vectored completion: its Vec comes back to be reused.
                    let mut v = c.take_bufs();
                    v.clear();
                    vecs.push(v);
                }
            }
        }
        out.clear(); // completions drop here, buffers return to the pool
    };
    let mut cycle = |i: u64| {
        let req = |k: u64| {
            let off = ((i * 8 + k) % 64) * bs as u64;
            let buf = pool.get().unwrap();
            match k % 3 {
                0 => Request::read(&f, off, buf),
                1 => Request::write(&f, off, buf),
                _ => {
                    drop(buf);
                    Request::noop()
                }
            }
        };
        // One by one.
        for k in 0..8u64 {
            ctx.submit(req(k).with_user_data(k)).unwrap();
        }
        reap(&ctx, 8, &mut vecs);
        // In a batch, through the same Vec every time.
        for k in 0..8u64 {
            batch.push(req(k).with_user_data(k));
        }
        assert_eq!(ctx.submit_batch(&mut batch).unwrap(), 8);
        assert!(batch.is_empty() && batch.capacity() >= 8);
        reap(&ctx, 8, &mut vecs);
        // Vectored, two segments each.
        for k in 0..4u64 {
            let mut v = vecs.pop().unwrap();
            v.push(pool.get().unwrap());
            v.push(pool.get().unwrap());
            let off = ((i * 4 + k) % 32) * 2 * bs as u64;
            let r = if k % 2 == 0 {
                Request::readv(&f, off, v)
            } else {
                Request::writev(&f, off, v)
            };
            ctx.submit(r.with_user_data(100 + k)).unwrap();
        }
        reap(&ctx, 4, &mut vecs);
    };
    // One-shot calls in this thread, with a buffer that goes round.
    let mut one = Some(pool.get().unwrap());
    let mut oneshot = |i: u64| {
        let off = (i % 64) * bs as u64;
        let (r, b) = diorite::read_at(&f, off, one.take().unwrap());
        r.unwrap();
        let (r, b) = diorite::write_at(&f, off, b);
        r.unwrap();
        one = Some(b);
    };
    for i in 0..50 {
        cycle(i); // warm up: thread-locals, worker vectors, piece tables
        oneshot(i);
    }
    COUNTING.store(true, Ordering::SeqCst);
    for i in 0..300 {
        cycle(i);
        oneshot(i);
    }
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(
        ALLOCS.load(Ordering::SeqCst),
        0,
        "heap allocations on the warm request path ({backend:?}, ring {ring:?})"
    );
}
