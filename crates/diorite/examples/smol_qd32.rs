//! Reads a whole file at queue depth 32 under smol (async-io's reactor): the same loop as
//! `tokio_qd32` (`common::read_all`), unchanged — diorite's futures run on any executor.
//!
//! ```text
//! cargo run -p diorite --example smol_qd32 [FILE]
//! ```
//! Without FILE it reads a temporary 4 MiB file it writes first, and checks every byte.

mod common;

use diorite::{Context, DirectFile};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (tmp, path) = common::target(4 << 20)?;
    let file = DirectFile::open(&path)?;
    let ctx = Context::builder().depth(32).build()?;
    let start = Instant::now();
    let (bytes, reads) = smol::block_on(common::read_all(&ctx, &file, tmp.is_some()))?;
    println!(
        "{reads} reads, {bytes} bytes in {:?} on {} (depth 32, smol)",
        start.elapsed(),
        ctx.backend()
    );
    ctx.shutdown()?;
    Ok(())
}
