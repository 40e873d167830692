//! 4 KiB random reads at QD32 through futures on tokio's current-thread runtime, against the
//! blocking `submit`/`get_events` loop on the same context, backend and device (the target: the
//! futures reach at least 90% of the blocking loop's IOPS). On zram (as root: made, filled
//! with incompressible data, and removed here) or else a file in /var/tmp; every backend.
//!
//! `cargo bench -p diorite --bench futures` (one backend: append e.g. `-- io_uring`)

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use diorite::{AlignedBuf, BackendChoice, Context, DirectFile, Reactor, SubmitBatching};
use futures::stream::{FuturesUnordered, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{next_off, reads, Target, BS, QD};

/// `n` reads kept at QD32 as futures in a `FuturesUnordered` on tokio's current-thread runtime.
fn futures_tokio(
    rt: &tokio::runtime::Runtime,
    ctx: &Context,
    f: &DirectFile,
    bufs: &mut Vec<AlignedBuf>,
    n: u64,
) -> Duration {
    let blocks = f.len() / BS;
    rt.block_on(async {
        let mut x = 1;
        let start = Instant::now();
        let mut set = FuturesUnordered::new();
        let mut submitted = 0;
        while submitted < n.min(QD as u64) {
            set.push(ctx.read(f, next_off(&mut x, blocks), bufs.pop().unwrap()));
            submitted += 1;
        }
        while let Some((r, b)) = set.next().await {
            assert_eq!(r.unwrap(), BS as usize);
            if submitted < n {
                set.push(ctx.read(f, next_off(&mut x, blocks), b));
                submitted += 1;
            } else {
                bufs.push(b);
            }
        }
        start.elapsed()
    })
}

/// `n` reads by 32 tasks spawned on tokio's current-thread runtime, each awaiting one read at
/// a time (QD32 without a `FuturesUnordered`, whose per-push allocation is then not measured).
fn tasks_tokio(
    rt: &tokio::runtime::Runtime,
    ctx: &Arc<Context>,
    f: &DirectFile,
    bufs: &mut Vec<AlignedBuf>,
    n: u64,
) -> Duration {
    let blocks = f.len() / BS;
    let per = n.div_ceil(QD as u64);
    let start = Instant::now();
    let handles: Vec<_> = (0..QD as u64)
        .map(|t| {
            let (ctx, f, mut buf) = (ctx.clone(), f.clone(), bufs.pop().unwrap());
            rt.spawn(async move {
                let mut x = t + 1;
                for _ in 0..per {
                    let (r, b) = ctx.read(&f, next_off(&mut x, blocks), buf).await;
                    assert_eq!(r.unwrap(), BS as usize);
                    buf = b;
                }
                buf
            })
        })
        .collect();
    rt.block_on(async {
        for h in handles {
            bufs.push(h.await.unwrap());
        }
    });
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let target = Target::new();
    let f = DirectFile::open(&target.path).expect("open");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let rt_io = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let mut g = c.benchmark_group(format!("qd32_4k_randread_{}", target.name));
    g.throughput(Throughput::Elements(1));
    for (name, backend) in [
        ("io_uring", BackendChoice::IoUring),
        ("aio", BackendChoice::Aio),
        ("threads", BackendChoice::Threads),
    ] {
        let Ok(ctx) = Context::builder()
            .depth(QD as u32)
            .backend(backend)
            .threads(QD)
            .build()
        else {
            continue;
        };
        let mut bufs = common::bufs(&f);
        g.bench_function(format!("{name}/blocking"), |b| {
            b.iter_custom(|n| reads(&ctx, &f, &mut bufs, n))
        });
        g.bench_function(format!("{name}/futures_tokio_current_thread"), |b| {
            b.iter_custom(|n| futures_tokio(&rt, &ctx, &f, &mut bufs, n))
        });
        if backend == BackendChoice::Threads {
            continue;
        }
        // The same futures, waiting in tokio's reactor instead of on the driver thread, under
        // each submission policy (the default batches to the task's yield); and, with the
        // default, as 32 tasks.
        for (suffix, batching) in [
            ("", SubmitBatching::Always),
            ("_unbatched", SubmitBatching::Never),
            ("_adaptive", SubmitBatching::Adaptive),
        ] {
            let ctx = Context::builder()
                .depth(QD as u32)
                .backend(backend)
                .reactor(Reactor::Tokio)
                .submit_batching(batching)
                .build()
                .unwrap();
            g.bench_function(
                format!("{name}/futures_tokio_current_thread_reactor{suffix}"),
                |b| b.iter_custom(|n| futures_tokio(&rt_io, &ctx, &f, &mut bufs, n)),
            );
            if batching == SubmitBatching::Always {
                let ctx = Arc::new(ctx);
                g.bench_function(format!("{name}/tasks_tokio_current_thread_reactor"), |b| {
                    b.iter_custom(|n| tasks_tokio(&rt_io, &ctx, &f, &mut bufs, n))
                });
            }
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench
}
criterion_main!(benches);
