//! Reads a whole file at queue depth 32 from tokio's current-thread runtime: one future per
//! 4 KiB block in a `FuturesUnordered`, at most 32 in flight (the context's depth; the rest wait
//! for a free slot, they do not fail). Nothing runtime-specific to start: diorite's futures run
//! on any executor.
//!
//! ```text
//! cargo run -p diorite --example tokio_qd32 [FILE]
//! ```
//! Without FILE it reads a temporary 4 MiB file it writes first, and checks every byte.

use diorite::{AlignedBuf, Context, DirectFile};
use futures::stream::{FuturesUnordered, StreamExt};
use std::time::Instant;

const BS: usize = 4096;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (tmp, path) = target()?;
    let file = DirectFile::open(&path)?;
    let ctx = Context::builder().depth(32).build()?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let start = Instant::now();
    let (bytes, blocks) = rt.block_on(async {
        let mut reads = FuturesUnordered::new();
        for b in 0..file.len() / BS as u64 {
            let buf = AlignedBuf::for_file(&file, BS)?;
            let read = ctx.read(&file, b * BS as u64, buf);
            reads.push(async move { (b, read.await) });
        }
        let (mut bytes, mut blocks) = (0, 0);
        while let Some((b, (n, buf))) = reads.next().await {
            let n = n?;
            if tmp.is_some() {
                // Our own file: byte i of the file is (i % 251).
                let base = b * BS as u64;
                assert!(buf[..n]
                    .iter()
                    .enumerate()
                    .all(|(i, &x)| x == ((base + i as u64) % 251) as u8));
            }
            bytes += n;
            blocks += 1;
        }
        Ok::<_, diorite::Error>((bytes, blocks))
    })?;
    println!(
        "{blocks} reads, {bytes} bytes in {:?} on {} (depth 32, tokio current-thread)",
        start.elapsed(),
        ctx.backend()
    );
    ctx.shutdown()?;
    Ok(())
}

fn target() -> std::io::Result<(Option<tempfile::TempDir>, std::path::PathBuf)> {
    if let Some(p) = std::env::args_os().nth(1) {
        return Ok((None, p.into()));
    }
    let dir = tempfile::Builder::new()
        .prefix("diorite-example")
        .tempdir_in("/var/tmp")?;
    let path = dir.path().join("data");
    std::fs::write(
        &path,
        (0..4u64 << 20).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    )?;
    Ok((Some(dir), path))
}
