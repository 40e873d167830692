//! Finding a storage engine's durability bugs with the power-loss simulator: a small
//! write-ahead log, written three ways, each run against a recorder and checked in every crash
//! state the simulator lists:
//!
//! - `Correct`: append a record, `fdatasync`, then acknowledge it. No state loses an
//!   acknowledged record.
//! - `AckBeforeFlush`: acknowledges a record as soon as its write completes, before the
//!   `fdatasync`. A crash between the two loses an acknowledged record.
//! - `InPlaceHeader`: after each append (and its flush), rewrites an 8 KiB header in place —
//!   the record count and a checksum — with a plain write. A crash while it is in the drive's
//!   cache can tear it (half new, half old): the checksum fails and recovery loses the whole log.
//!   (`AtomicHeader` does the same with an atomic write, where the file offers them: never torn.)
//!
//! `cargo run -p diorite --example crash_wal`

#![allow(dead_code)] // the crash test includes this file for its log

use diorite::faults::{CheckResult, Explore, Recorder};
use diorite::{AlignedBuf, Context, DirectFile, Request};
use std::path::Path;
use std::time::Duration;

/// Each record fills one 4 KiB block: magic, sequence number, payload length, checksum, payload.
pub const BLOCK: u64 = 4096;
/// The header the `*Header` modes keep: two blocks.
pub const HEADER: u64 = 2 * BLOCK;
const MAGIC: u32 = 0x5741_4c31; // "WAL1"

/// How the log makes a record durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Append, `fdatasync`, acknowledge.
    Correct,
    /// Append, acknowledge, `fdatasync`: the bug.
    AckBeforeFlush,
    /// Correct appends, then the header rewritten in place with a plain write: the bug.
    InPlaceHeader,
    /// The same header rewritten with an atomic write (where the file offers them).
    AtomicHeader,
}

/// The log, appending through a context.
pub struct Wal<'a> {
    ctx: &'a Context,
    file: DirectFile,
    mode: Mode,
    next: u64,
}

impl<'a> Wal<'a> {
    /// A new log at `path`, written through `ctx`.
    pub fn create(ctx: &'a Context, path: &Path, mode: Mode) -> diorite::Result<Wal<'a>> {
        let file = DirectFile::options()
            .read(true)
            .write(true)
            .create(true)
            .open(path)?;
        Ok(Wal {
            ctx,
            file,
            mode,
            next: 0,
        })
    }

    fn run(&self, req: Request) -> diorite::Result<usize> {
        self.ctx.submit(req).map_err(|e| e.error)?;
        let mut out = Vec::new();
        self.ctx
            .get_events(1, 1, Some(Duration::from_secs(10)), &mut out)?;
        out.pop().expect("one completion").result
    }

    /// Appends `payload`; calls `ack` with its sequence number when the log promises it is
    /// durable.
    pub fn append(&mut self, payload: &[u8], ack: impl Fn(u64)) -> diorite::Result<()> {
        let seq = self.next;
        let mut buf = AlignedBuf::for_file(&self.file, BLOCK as usize)?;
        buf.fill(0);
        encode_record(&mut buf, seq, payload);
        let base = if self.mode == Mode::Correct || self.mode == Mode::AckBeforeFlush {
            0
        } else {
            HEADER
        };
        self.run(Request::write(&self.file, base + seq * BLOCK, buf))?;
        if self.mode == Mode::AckBeforeFlush {
            ack(seq); // the bug: not durable yet
        }
        self.run(Request::fdatasync(&self.file))?;
        self.next += 1;
        if matches!(self.mode, Mode::InPlaceHeader | Mode::AtomicHeader) {
            let mut h = AlignedBuf::for_file(&self.file, HEADER as usize)?;
            h.fill(0x40 ^ self.next as u8);
            h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
            h[4..12].copy_from_slice(&self.next.to_le_bytes());
            let sum = checksum(&h[16..]) ^ checksum(&h[..12]);
            h[12..16].copy_from_slice(&sum.to_le_bytes());
            let mut w = Request::write(&self.file, 0, h);
            if self.mode == Mode::AtomicHeader {
                w = w.atomic();
            }
            self.run(w)?;
            self.run(Request::fdatasync(&self.file))?;
        }
        if self.mode != Mode::AckBeforeFlush {
            ack(seq);
        }
        Ok(())
    }
}

fn encode_record(b: &mut [u8], seq: u64, payload: &[u8]) {
    b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    b[4..12].copy_from_slice(&seq.to_le_bytes());
    b[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    b[20..20 + payload.len()].copy_from_slice(payload);
    let sum = checksum(&b[20..20 + payload.len()]) ^ checksum(&b[..16]);
    b[16..20].copy_from_slice(&sum.to_le_bytes());
}

/// FNV-1a, enough to tell a torn block.
fn checksum(b: &[u8]) -> u32 {
    b.iter().fold(0x811c_9dc5u32, |h, &x| {
        (h ^ u32::from(x)).wrapping_mul(0x0100_0193)
    })
}

/// What recovery finds in the log at `path`: the payloads of its valid records, in order.
pub fn recover(path: &Path, mode: Mode) -> Result<Vec<Vec<u8>>, String> {
    let file = DirectFile::open(path).map_err(|e| e.to_string())?;
    let mut buf = AlignedBuf::for_file(&file, HEADER as usize).map_err(|e| e.to_string())?;
    let mut limit = u64::MAX;
    let mut base = 0;
    if matches!(mode, Mode::InPlaceHeader | Mode::AtomicHeader) {
        base = HEADER;
        if file.len() < HEADER {
            return Ok(Vec::new()); // nothing written yet
        }
        file.read_at(&mut buf, 0).map_err(|e| e.to_string())?;
        let count = u64::from_le_bytes(buf[4..12].try_into().unwrap());
        let sum = u32::from_le_bytes(buf[12..16].try_into().unwrap());
        let fresh = buf[..16].iter().all(|&b| b == 0);
        if !fresh {
            if sum != checksum(&buf[16..]) ^ checksum(&buf[..12]) {
                return Err("header checksum mismatch: the log is unreadable".into());
            }
            limit = count;
        }
    }
    let mut out = Vec::new();
    let mut seq = 0;
    while seq < limit && base + (seq + 1) * BLOCK <= file.len() {
        let b = &mut buf[..BLOCK as usize];
        file.read_at(b, base + seq * BLOCK)
            .map_err(|e| e.to_string())?;
        let magic = u32::from_le_bytes(b[0..4].try_into().unwrap());
        let s = u64::from_le_bytes(b[4..12].try_into().unwrap());
        let len = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
        if magic != MAGIC || s != seq || len > BLOCK as usize - 20 {
            break;
        }
        let sum = u32::from_le_bytes(b[16..20].try_into().unwrap());
        if sum != checksum(&b[20..20 + len]) ^ checksum(&b[..16]) {
            break;
        }
        out.push(b[20..20 + len].to_vec());
        seq += 1;
    }
    Ok(out)
}

/// The payload of record `seq`.
pub fn payload(seq: u64) -> Vec<u8> {
    format!("record {seq}: {}", "x".repeat((seq % 50) as usize)).into_bytes()
}

/// Runs `records` appends in `mode` on `path` under a recorder, then checks up to `states`
/// crash states: every acknowledged record must be recovered, with its payload. Returns the
/// states checked, or the first failing state described.
pub fn simulate(path: &Path, mode: Mode, records: u64, states: u64) -> Result<u64, String> {
    let rec = Recorder::new();
    let ctx = Context::builder()
        .depth(4)
        .record(&rec)
        .build()
        .map_err(|e| e.to_string())?;
    let mut wal = Wal::create(&ctx, path, mode).map_err(|e| e.to_string())?;
    for seq in 0..records {
        wal.append(&payload(seq), |s| rec.acknowledge(s))
            .map_err(|e| e.to_string())?;
    }
    let log = rec.finish().map_err(|e| e.to_string())?;
    let scratch = path.with_extension("crashed");
    let explored = log.explore(&Explore::new(7).states(states), |state| -> CheckResult {
        state.materialise(path, &scratch)?;
        let got = recover(&scratch, mode)?;
        for seq in state.acknowledged() {
            match got.get(seq as usize) {
                Some(p) if *p == payload(seq) => {}
                Some(_) => return Err(format!("record {seq} recovered with other bytes").into()),
                None => return Err(format!("acknowledged record {seq} lost").into()),
            }
        }
        Ok(())
    });
    let _ = std::fs::remove_file(&scratch);
    explored.map(|e| e.states).map_err(|f| f.to_string())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::Builder::new()
        .prefix("diorite-crash-wal")
        .tempdir_in("/var/tmp")?;
    let n = simulate(&dir.path().join("correct"), Mode::Correct, 12, 2000)?;
    println!("correct log: no acknowledged record lost in {n} crash states");
    for mode in [Mode::AckBeforeFlush, Mode::InPlaceHeader] {
        match simulate(&dir.path().join(format!("{mode:?}")), mode, 12, 2000) {
            Ok(n) => return Err(format!("{mode:?}: no failing state in {n} states").into()),
            Err(found) => println!("{mode:?}: the simulator found\n{found}"),
        }
    }
    Ok(())
}
