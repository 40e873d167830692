//! Engine cost per request: `noop` submit + reap through a context, one at a time and in
//! batches of 32. `cargo bench -p diorite --bench noop`

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use diorite::{BackendChoice, Context, Request};
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("noop");
    for backend in diorite::backend::probe()
        .into_iter()
        .filter(|s| s.available)
        .map(|s| s.kind)
    {
        let choice = match backend {
            diorite::BackendKind::IoUring => BackendChoice::IoUring,
            diorite::BackendKind::Aio => BackendChoice::Aio,
            _ => BackendChoice::Threads,
        };
        let ctx = Context::builder()
            .depth(64)
            .backend(choice)
            .threads(1)
            .build()
            .unwrap();
        let mut out = Vec::with_capacity(64);
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{backend}/submit+reap x1"), |b| {
            b.iter(|| {
                ctx.submit(Request::noop()).unwrap();
                out.clear();
                ctx.get_events(1, 1, Some(Duration::from_secs(5)), &mut out)
                    .unwrap();
            })
        });
        g.throughput(Throughput::Elements(32));
        let mut batch: Vec<Request> = Vec::with_capacity(32);
        g.bench_function(format!("{backend}/submit_batch+reap x32"), |b| {
            b.iter(|| {
                batch.extend((0..32).map(|_| Request::noop()));
                ctx.submit_batch(&mut batch).unwrap();
                out.clear();
                ctx.get_events(32, 32, Some(Duration::from_secs(5)), &mut out)
                    .unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
