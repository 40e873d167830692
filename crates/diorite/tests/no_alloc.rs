//! "No heap allocation per request once warm, for single-buffer requests": a counting global
//! allocator watches real submit + reap cycles (reads, writes and noops on a regular file).

mod common;

use diorite::{BackendChoice, BufPool, Context, Request};
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
fn warm_single_buffer_requests_do_not_allocate() {
    for backend in common::backends() {
        check(backend);
    }
}

fn check(backend: BackendChoice) {
    ALLOCS.store(0, Ordering::SeqCst);
    let dir = common::tempdir();
    let f = common::file_with(dir.path(), "alloc", 1 << 20, 7);
    let bs = f.geometry().offset_align.max(4096) as usize;
    let ctx = Context::builder()
        .depth(16)
        .backend(backend)
        .threads(2)
        .build()
        .unwrap();
    let pool = BufPool::new(16, bs, f.geometry().mem_align as usize).unwrap();
    let mut out = Vec::with_capacity(16);
    let mut cycle = |i: u64| {
        for k in 0..8u64 {
            let off = ((i * 8 + k) % 64) * bs as u64;
            let buf = pool.get().unwrap();
            let req = match k % 3 {
                0 => Request::read(&f, off, buf),
                1 => Request::write(&f, off, buf),
                _ => {
                    drop(buf);
                    Request::noop()
                }
            };
            ctx.submit(req.with_user_data(k)).unwrap();
        }
        let mut got = 0;
        while got < 8 {
            out.clear();
            got += ctx
                .get_events(1, 16, Some(Duration::from_secs(10)), &mut out)
                .unwrap();
            for c in &out {
                assert!(c.result.is_ok(), "{:?}", c.result);
            }
        }
        out.clear(); // completions drop here, buffers return to the pool
    };
    for i in 0..50 {
        cycle(i); // warm up: thread-locals, worker vectors
    }
    COUNTING.store(true, Ordering::SeqCst);
    for i in 0..500 {
        cycle(i);
    }
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(
        ALLOCS.load(Ordering::SeqCst),
        0,
        "heap allocations on the warm request path ({backend:?})"
    );
}
