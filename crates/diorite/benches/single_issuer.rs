//! Single-issuer contexts (`LocalContext`) beside shared ones: the same blocking
//! submit/get_events loop, 4 KiB random reads at QD32 on zram (root; else a file), on io_uring
//! (where the local context is `SINGLE_ISSUER | DEFER_TASKRUN` with a registered ring fd) and
//! Linux AIO; and the engine's own cost per request on the null backend (where a local context
//! skips the completion queue's sleep handshake).
//!
//! `cargo bench -p diorite --bench single_issuer`

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

mod common;

use common::{kept_full, reads, Blocking, Target, QD};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use diorite::{BackendChoice, Context, DirectFile, Request};
use std::time::Duration;

/// `n` noops kept at QD32 (the engine's cost per request, no device).
fn noops(ctx: &impl Blocking, n: u64) -> Duration {
    let mut spare = vec![(); QD];
    kept_full(ctx, n, &mut spare, |()| Request::noop(), |_| ())
}

fn bench(c: &mut Criterion) {
    let target = Target::new();
    let f = DirectFile::open(&target.path).expect("open");
    let mut g = c.benchmark_group(format!("single_issuer_qd32_4k_randread_{}", target.name));
    g.throughput(Throughput::Elements(1));
    for (name, backend) in [
        ("io_uring", BackendChoice::IoUring),
        ("aio", BackendChoice::Aio),
    ] {
        let mut b = Context::builder();
        b.depth(QD as u32).backend(backend).register_file(&f);
        let (Ok(shared), Ok(local)) = (b.build(), b.build_local()) else {
            continue;
        };
        let mut bufs = common::bufs(&f);
        g.bench_function(format!("{name}/shared"), |b| {
            b.iter_custom(|n| reads(&shared, &f, &mut bufs, n))
        });
        g.bench_function(format!("{name}/local"), |b| {
            b.iter_custom(|n| reads(&local, &f, &mut bufs, n))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("single_issuer_noop_qd32");
    g.throughput(Throughput::Elements(1));
    let mut b = Context::builder();
    b.depth(QD as u32).backend(BackendChoice::Null);
    let (shared, local) = (b.build().unwrap(), b.build_local().unwrap());
    g.bench_function("null/shared", |b| b.iter_custom(|n| noops(&shared, n)));
    g.bench_function("null/local", |b| b.iter_custom(|n| noops(&local, n)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench
}
criterion_main!(benches);
