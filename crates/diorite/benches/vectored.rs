//! Vectored reads from registered memory: `READV_FIXED` (Linux 6.15+) against plain `READV`.
//! The same `LocalContext` loop (io_uring, registered file, QD32) reads 16 KiB at random
//! 16 KiB-aligned offsets as four 4 KiB buffers from a `BufPool`, once with the pool
//! registered (the kernel's registered pages: no pinning per I/O) and once without (the
//! kernel pins the four pages of every request and unpins them at completion). On a kernel
//! without the vectored fixed opcodes both go as `READV` and should measure the same.
//!
//! `cargo bench -p diorite --bench vectored` (root: zram; else a file in /var/tmp)

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

mod common;

use common::{kept_full, next_off, Blocking, Target, BS, QD};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use diorite::{AlignedBuf, BackendChoice, BufPool, Context, DirectFile, Request};
use std::time::Duration;

/// Buffers per request.
const VEC: usize = 4;

/// `n` vectored reads kept at QD32 (see `common::kept_full`); every buffer comes from and goes
/// back to `pool`.
fn readvs(ctx: &impl Blocking, f: &DirectFile, pool: &BufPool, n: u64) -> Duration {
    let span = BS * VEC as u64;
    let blocks = f.len() / span;
    let mut x = 1;
    let mut spare: Vec<Vec<AlignedBuf>> = (0..QD)
        .map(|_| (0..VEC).map(|_| pool.get().expect("pool buffer")).collect())
        .collect();
    kept_full(
        ctx,
        n,
        &mut spare,
        |bufs| Request::readv(f, next_off(&mut x, blocks) / BS * span, bufs),
        |mut c| {
            assert_eq!(c.result.as_ref().copied().unwrap(), span as usize);
            c.take_bufs()
        },
    )
}

fn bench(c: &mut Criterion) {
    let target = Target::new();
    let f = DirectFile::open(&target.path).expect("open");
    let mut g = c.benchmark_group(format!("readv_4x4k_qd32_{}", target.name));
    g.throughput(Throughput::Elements(1));
    for registered in [true, false] {
        let pool = BufPool::for_file(&f, QD * VEC, BS as usize).expect("pool");
        let mut b = Context::builder();
        b.depth(QD as u32)
            .backend(BackendChoice::IoUring)
            .register_file(&f);
        if registered {
            b.register_pool(&pool);
        }
        let Ok(ctx) = b.build_local() else {
            eprintln!("SKIPPED: io_uring is not available here");
            return;
        };
        let name = if registered {
            "registered"
        } else {
            "unregistered"
        };
        g.bench_function(name, |b| b.iter_custom(|n| readvs(&ctx, &f, &pool, n)));
        if registered {
            eprintln!("{name}: {:?}", ctx.registration());
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
