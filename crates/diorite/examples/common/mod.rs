//! What the examples share: the file to read, and the QD32 read loop that `tokio_qd32` and
//! `smol_qd32` run unchanged on two executors.

#![allow(dead_code)] // each example uses part of it

use diorite::{AlignedBuf, Context, DirectFile};
use futures::stream::{FuturesUnordered, StreamExt};

pub const BS: usize = 4096;

/// The file named on the command line, or a fresh temporary file of `size` bytes whose byte
/// `i` is `i % 251` (the guard removes it).
pub fn target(size: u64) -> std::io::Result<(Option<tempfile::TempDir>, std::path::PathBuf)> {
    if let Some(p) = std::env::args_os().nth(1) {
        return Ok((None, p.into()));
    }
    let dir = tempfile::Builder::new()
        .prefix("diorite-example")
        .tempdir_in("/var/tmp")?;
    let path = dir.path().join("data");
    std::fs::write(
        &path,
        (0..size).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    )?;
    Ok((Some(dir), path))
}

/// Reads the whole file as one future per 4 KiB block in a `FuturesUnordered`: at most the
/// context's depth in flight, the rest wait for a free slot (they do not fail). With `check`,
/// verifies the bytes of a file made by [`target`]. Returns `(bytes, reads)`.
pub async fn read_all(
    ctx: &Context,
    file: &DirectFile,
    check: bool,
) -> diorite::Result<(usize, u64)> {
    let mut reads = FuturesUnordered::new();
    for b in 0..file.len() / BS as u64 {
        let buf = AlignedBuf::for_file(file, BS)?;
        let read = ctx.read(file, b * BS as u64, buf);
        reads.push(async move { (b, read.await) });
    }
    let (mut bytes, mut n) = (0, 0);
    while let Some((b, (r, buf))) = reads.next().await {
        let got = r?;
        if check {
            let base = b * BS as u64;
            assert!(buf[..got]
                .iter()
                .enumerate()
                .all(|(i, &x)| x == ((base + i as u64) % 251) as u8));
        }
        bytes += got;
        n += 1;
    }
    Ok((bytes, n))
}
