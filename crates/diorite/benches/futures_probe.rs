//! One long run of the futures bench's loops, for `perf stat` / `perf record` (criterion's
//! short, repeated runs hide which regime a run falls into). Prints microseconds per I/O and
//! IOPS. 4 KiB random reads at QD32 on zram (as root) or a file (`DIORITE_BENCH_TARGET=file`).
//!
//! ```sh
//! cargo bench -p diorite --bench futures_probe -- MODE N [BACKEND] [BATCHING]
//! #   MODE: blocking | thread (futures, driver thread) | reactor (futures, Reactor::Tokio)
//! #   N: reads; BACKEND: io_uring (default) | aio; BATCHING: always (default) | never | adaptive
//! perf stat -e context-switches,raw_syscalls:sys_enter \
//!   target/release/deps/futures_probe-* reactor 1000000
//! ```

// A bench target with its own main.
#![allow(missing_docs)]

use diorite::{BackendChoice, Context, DirectFile, Reactor, SubmitBatching};
use futures::stream::{FuturesUnordered, StreamExt};
use std::time::Instant;

mod common;
use common::{bufs, next_off, reads, Target, BS, QD};

fn main() {
    // `cargo bench` passes `--bench` first; the probe's own arguments follow.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let Some(mode) = args.first().cloned() else {
        eprintln!("usage: futures_probe MODE N [io_uring|aio] [always|never|adaptive]");
        return;
    };
    let n: u64 = args
        .get(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let backend = match args.get(2).map(String::as_str) {
        Some("aio") => BackendChoice::Aio,
        _ => BackendChoice::IoUring,
    };
    let batching = match args.get(3).map(String::as_str) {
        Some("never") => SubmitBatching::Never,
        Some("adaptive") => SubmitBatching::Adaptive,
        _ => SubmitBatching::Always,
    };
    let target = Target::new();
    let f = DirectFile::open(&target.path).expect("open");
    let mut bufs = bufs(&f);
    let ctx = Context::builder()
        .depth(QD as u32)
        .backend(backend)
        .reactor(if mode == "reactor" {
            Reactor::Tokio
        } else {
            Reactor::Thread
        })
        .submit_batching(batching)
        .build()
        .expect("context");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    let t = Instant::now();
    if mode == "blocking" {
        reads(&ctx, &f, &mut bufs, n);
    } else {
        let blocks = f.len() / BS;
        rt.block_on(async {
            let mut x = 1;
            let mut set = FuturesUnordered::new();
            let mut submitted = 0;
            while submitted < n.min(QD as u64) {
                set.push(ctx.read(&f, next_off(&mut x, blocks), bufs.pop().unwrap()));
                submitted += 1;
            }
            while let Some((r, b)) = set.next().await {
                assert_eq!(r.unwrap(), BS as usize);
                if submitted < n {
                    set.push(ctx.read(&f, next_off(&mut x, blocks), b));
                    submitted += 1;
                } else {
                    bufs.push(b);
                }
            }
        });
    }
    let e = t.elapsed();
    println!(
        "{mode}: {:.2} us/io, {:.0}k IOPS",
        e.as_secs_f64() * 1e6 / n as f64,
        n as f64 / e.as_secs_f64() / 1e3
    );
}
