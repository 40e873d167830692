//! One-shot read: no context, no runtime — validate, then one `preadv2` in the calling thread.
//!
//! ```text
//! cargo run -p diorite --example oneshot_read [FILE]
//! ```
//! Without FILE it reads a temporary file it writes first.

use diorite::{AlignedBuf, DirectFile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_tmp, path) = target()?;
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

/// The file named on the command line, or a fresh 1 MiB temporary file.
fn target() -> std::io::Result<(Option<tempfile::TempDir>, std::path::PathBuf)> {
    if let Some(p) = std::env::args_os().nth(1) {
        return Ok((None, p.into()));
    }
    let dir = tempfile::Builder::new()
        .prefix("diorite-example")
        .tempdir_in("/var/tmp")?;
    let path = dir.path().join("data");
    std::fs::write(&path, (0..1u32 << 20).map(|i| i as u8).collect::<Vec<_>>())?;
    Ok((Some(dir), path))
}
