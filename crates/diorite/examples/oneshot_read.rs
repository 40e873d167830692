//! One-shot read: no context, no runtime — validate, then one `preadv2` in the calling thread.
//!
//! ```text
//! cargo run -p diorite --example oneshot_read [FILE]
//! ```
//! Without FILE it reads a temporary file it writes first.

mod common;

use diorite::{AlignedBuf, DirectFile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_tmp, path) = common::target(1 << 20)?;
    let file = DirectFile::open(&path)?;
    let buf = AlignedBuf::for_file(&file, 4096)?;
    // The buffer comes back with the result, success or error.
    let (n, buf) = diorite::read_at(&file, 0, buf);
    let n = n?;
    println!(
        "read {n} bytes at offset 0 of {} (direct: {}): first bytes {:02x?}",
        path.display(),
        file.is_direct(),
        &buf[..8.min(n)]
    );
    Ok(())
}
