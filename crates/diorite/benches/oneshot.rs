//! A one-shot 4 KiB O_DIRECT read (`diorite::read_at`: validation, the engine's rules, then
//! `preadv2` in the caller) against a plain `preadv2` loop on the same file and buffer, on a
//! file in /var/tmp and — as root — on zram. `cargo bench -p diorite --bench oneshot`
//!
//! The plain loop runs before *and* after the one-shot call (A B A): on this VM whichever
//! function runs second in a group measured 3-6% slower whatever it was, so compare
//! `diorite::read_at` with the mean of `preadv2` and `preadv2_again`.

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use diorite::{AlignedBuf, DirectFile};
use std::os::fd::{AsFd, AsRawFd};

fn targets() -> Vec<(String, std::path::PathBuf, Option<String>)> {
    let dir = std::path::PathBuf::from("/var/tmp");
    let file = dir.join(format!("diorite-oneshot-{}.dat", std::process::id()));
    std::fs::write(&file, vec![0x5a; 64 << 20]).expect("bench file");
    let mut v = vec![("file".to_string(), file, None)];
    // zram, made and removed here (root only).
    if let Ok(id) = std::fs::read_to_string("/sys/class/zram-control/hot_add") {
        let id = id.trim().to_string();
        let dev = std::path::PathBuf::from(format!("/dev/zram{id}"));
        if std::fs::write(
            format!("/sys/block/zram{id}/disksize"),
            (64u64 << 20).to_string(),
        )
        .is_ok()
            && std::fs::write(&dev, vec![0x5a; 64 << 20]).is_ok()
        {
            v.push(("zram".to_string(), dev, Some(id)));
        }
    }
    v
}

/// A plain `preadv2` loop over random 4 KiB blocks into `raw`.
fn plain_loop(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    fd: i32,
    raw: &mut AlignedBuf,
    blocks: u64,
) {
    let mut i = 0u64;
    g.bench_function(name, |b| {
        b.iter(|| {
            i = (i * 7 + 1) % blocks;
            let iov = libc::iovec {
                iov_base: raw.as_mut_ptr().cast(),
                iov_len: 4096,
            };
            // SAFETY: one vector over a live 4 KiB buffer; fd is open.
            let n = unsafe { libc::preadv2(fd, &iov, 1, (i * 4096) as libc::off_t, 0) };
            assert_eq!(n, 4096);
        })
    });
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("oneshot_4k_read");
    g.throughput(Throughput::Elements(1));
    let targets = targets();
    for (name, path, _) in &targets {
        let f = DirectFile::open(path).expect("open");
        let blocks = f.len() / 4096;
        let mut raw = AlignedBuf::for_file(&f, 4096).unwrap();
        let fd = f.as_fd().as_raw_fd();
        plain_loop(&mut g, &format!("{name}/preadv2"), fd, &mut raw, blocks);
        let mut buf = Some(raw);
        let mut i = 0u64;
        g.bench_function(format!("{name}/diorite::read_at"), |b| {
            b.iter(|| {
                i = (i * 7 + 1) % blocks;
                let (r, back) = diorite::read_at(&f, i * 4096, buf.take().unwrap());
                buf = Some(back);
                r.unwrap()
            })
        });
        let mut raw = buf.take().unwrap();
        plain_loop(
            &mut g,
            &format!("{name}/preadv2_again"),
            fd,
            &mut raw,
            blocks,
        );
    }
    g.finish();
    for (_, path, zram) in targets {
        match zram {
            Some(id) => {
                let _ = std::fs::write(format!("/sys/block/zram{id}/reset"), "1");
                let _ = std::fs::write("/sys/class/zram-control/hot_remove", id);
            }
            None => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
