//! Reads a whole file at queue depth 32 from tokio's current-thread runtime: one future per
//! 4 KiB block in a `FuturesUnordered` (`common::read_all`), at most 32 in flight. Nothing
//! runtime-specific to start: `smol_qd32` runs the very same loop under smol.
//!
//! ```text
//! cargo run -p diorite --example tokio_qd32 [FILE]
//! ```
//! Without FILE it reads a temporary 4 MiB file it writes first, and checks every byte.

mod common;

use diorite::{Context, DirectFile};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (tmp, path) = common::target(4 << 20)?;
    let file = DirectFile::open(&path)?;
    let ctx = Context::builder().depth(32).build()?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let start = Instant::now();
    let (bytes, reads) = rt.block_on(common::read_all(&ctx, &file, tmp.is_some()))?;
    println!(
        "{reads} reads, {bytes} bytes in {:?} on {} (depth 32, tokio current-thread)",
        start.elapsed(),
        ctx.backend()
    );
    ctx.shutdown()?;
    Ok(())
}
