//! Ring throughput against crossbeam's `ArrayQueue` (the same algorithm without batch pops).
//! `cargo bench -p diorite --bench ring`

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use diorite::ring::Ring;
use std::hint::black_box;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const BATCH: usize = 32;

fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring/1thread");
    g.throughput(Throughput::Elements(BATCH as u64));
    let ring = Ring::<u64>::with_capacity(1024).unwrap();
    let mut out = Vec::with_capacity(BATCH);
    g.bench_function("diorite push x32 + pop_batch(32)", |b| {
        b.iter(|| {
            for i in 0..BATCH as u64 {
                ring.try_push(black_box(i)).unwrap();
            }
            out.clear();
            black_box(ring.pop_batch(&mut out, BATCH));
        })
    });
    let q = ArrayQueue::<u64>::new(1024);
    g.bench_function("ArrayQueue push x32 + pop x32", |b| {
        b.iter(|| {
            for i in 0..BATCH as u64 {
                q.push(black_box(i)).unwrap();
            }
            for _ in 0..BATCH {
                black_box(q.pop());
            }
        })
    });
    g.finish();
}

/// One producer thread and one consumer thread move `iters` items; returns the elapsed time.
fn two_threads<P, C>(iters: u64, push: P, mut pop: C) -> Duration
where
    P: Fn(u64) -> bool + Send + 'static,
    C: FnMut() -> usize,
{
    let start = Instant::now();
    let producer = thread::spawn(move || {
        for i in 0..iters {
            while !push(i) {
                std::hint::spin_loop();
            }
        }
    });
    let mut got = 0u64;
    while got < iters {
        got += pop() as u64;
    }
    producer.join().unwrap();
    start.elapsed()
}

fn cross_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring/2threads");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("diorite", "spsc"), |b| {
        b.iter_custom(|iters| {
            let ring = Arc::new(Ring::<u64>::with_capacity(1024).unwrap());
            let r2 = ring.clone();
            let mut out = Vec::with_capacity(BATCH);
            two_threads(
                iters,
                move |i| r2.try_push(i).is_ok(),
                move || {
                    out.clear();
                    ring.pop_batch(&mut out, BATCH)
                },
            )
        })
    });
    g.bench_function(BenchmarkId::new("ArrayQueue", "spsc"), |b| {
        b.iter_custom(|iters| {
            let q = Arc::new(ArrayQueue::<u64>::new(1024));
            let q2 = q.clone();
            two_threads(
                iters,
                move |i| q2.push(i).is_ok(),
                move || usize::from(q.pop().is_some()),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, single_thread, cross_thread);
criterion_main!(benches);
