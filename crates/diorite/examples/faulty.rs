//! Testing your own error handling with the faulty backend: a tiny "store" that writes records
//! and must report which ones failed, run against injected faults — an EIO on the third write,
//! a torn fifth write (the completion says all of it was written), and a dropped flush.
//!
//! `cargo run -p diorite --example faulty [FILE]`

mod common;

use diorite::faults::Faults;
use diorite::{AlignedBuf, Context, DirectFile, Request};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_guard, path) = common::target(64 * 1024)?;
    let file = DirectFile::options().read(true).write(true).open(&path)?;
    let faults = Faults::parse("write:nth=3:eio; write:nth=5:torn=0; fsync:always:drop", 1)?;
    let ctx = Context::builder().depth(8).faults(faults).build()?;
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for record in 0..8u64 {
        let mut buf = AlignedBuf::for_file(&file, common::BS)?;
        buf.fill(b'a' + record as u8);
        ctx.submit(Request::write(&file, record * common::BS as u64, buf).with_user_data(record))
            .map_err(|e| e.error)?;
        ctx.get_events(1, 1, Some(Duration::from_secs(10)), &mut out)?;
        for c in out.drain(..) {
            match c.result {
                Ok(n) => println!(
                    "record {}: {n} bytes written (the engine says)",
                    c.user_data
                ),
                Err(e) => {
                    println!("record {}: failed: {e}", c.user_data);
                    failed.push(c.user_data);
                }
            }
        }
    }
    ctx.submit(Request::fsync(&file)).map_err(|e| e.error)?;
    ctx.get_events(1, 1, Some(Duration::from_secs(10)), &mut out)?;
    println!("fsync: {:?} (dropped: it did nothing)", out[0].result);
    assert_eq!(failed, [2], "the store must see the third write fail");
    // What reached the file: record 2 never did; record 4 was torn (nothing of it arrived) although
    // its completion said otherwise — what a verify pass after a crash must be ready for.
    let data = std::fs::read(&path)?;
    for record in 0..8usize {
        let on_disk = data[record * common::BS] == b'a' + record as u8;
        println!("record {record}: on disk {on_disk}");
        assert_eq!(on_disk, record != 2 && record != 4);
    }
    println!("{} faults injected", ctx.faults_injected());
    Ok(())
}
