//! Tag get+put against a `Mutex<Vec<u32>>` free list and against the same sbitmap with immediate
//! (unbatched) clearing — batched clearing is claimed to remove about half the cost under threads.
//! `cargo bench -p diorite --bench tags`

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use diorite::tags::TagSet;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const DEPTH: u32 = 128;
/// Tags a thread holds at once before it frees them (like requests in flight).
const HELD: usize = 8;

trait Alloc: Send + Sync + 'static {
    fn get(&self) -> Option<u32>;
    fn put(&self, t: u32);
}

impl Alloc for TagSet {
    fn get(&self) -> Option<u32> {
        self.try_get()
    }
    fn put(&self, t: u32) {
        TagSet::put(self, t)
    }
}

struct FreeList(Mutex<Vec<u32>>);

impl Alloc for FreeList {
    fn get(&self) -> Option<u32> {
        self.0.lock().unwrap().pop()
    }
    fn put(&self, t: u32) {
        self.0.lock().unwrap().push(t)
    }
}

/// `threads` threads each do `iters` get+put pairs, holding up to `HELD` tags; total wall time.
fn run<A: Alloc>(a: Arc<A>, threads: usize, iters: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (a, barrier) = (a.clone(), barrier.clone());
            thread::spawn(move || {
                let mut held = Vec::with_capacity(HELD);
                barrier.wait();
                for _ in 0..iters {
                    if held.len() == HELD {
                        for t in held.drain(..) {
                            a.put(t);
                        }
                    }
                    held.push(black_box(a.get().expect("depth covers all held tags")));
                }
                for t in held {
                    a.put(t);
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    for threads in [1usize, 2] {
        let mut g = c.benchmark_group(format!("tags/{threads}thread"));
        // Each element is one get plus one put, per thread.
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_function("sbitmap batched", |b| {
            b.iter_custom(|iters| run(Arc::new(TagSet::new(DEPTH).unwrap()), threads, iters))
        });
        g.bench_function("sbitmap immediate", |b| {
            b.iter_custom(|iters| {
                run(
                    Arc::new(TagSet::immediate_clear(DEPTH).unwrap()),
                    threads,
                    iters,
                )
            })
        });
        g.bench_function("Mutex<Vec> free list", |b| {
            b.iter_custom(|iters| {
                run(
                    Arc::new(FreeList(Mutex::new((0..DEPTH).collect()))),
                    threads,
                    iters,
                )
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
