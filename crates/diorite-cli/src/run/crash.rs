//! diorite's `crash=STATES`: the job's own durability claims, checked in simulated power cuts.
//!
//! The job runs on the faulty backend with the library's power-loss recorder
//! (`diorite::faults::Recorder`), which sees every write and flush the device got. The job
//! stamps its own claims as it runs ([`Watch`]): when it issues a sync (`fsync=N`,
//! `fdatasync=N`, `end_fsync`) and when that sync completes. After the job, [`check`] goes
//! through `STATES` crash states of the record and, in each, tests what the job's options
//! promise against the bytes the state leaves:
//! - a write that had completed when the job issued a sync of its file is promised once that
//!   sync completed; with `sync=dsync`/`sync=sync` (the file opened `O_DSYNC`/`O_SYNC`) every
//!   write is promised from its completion;
//! - a promised block must hold the bytes of the last promised write to it, or of a write
//!   issued after that one completed (which may have landed over it): otherwise it is **lost
//!   against a promise**;
//! - a block whose last completed write is not promised and is not there is **lost as
//!   allowed**: what fio's `verify_state` would report as corruption after a real power cut.
//!
//! With `atomic=1` the writes must reach the device as atomic writes (`RWF_ATOMIC`): a state
//! that tears one is a broken promise too (one per state). The check
//! compares the recorded writes' own bytes, so it needs neither verify headers nor a state
//! file; it reads and writes nothing on disk (the crash images are in memory).

use crate::spec::JobSpec;
use anyhow::Result;
use diorite::faults::{CrashLog, CrashState, Explore, Fate, Op, OpClass, Recorder};
use std::collections::BTreeMap;
use std::path::Path;

/// The job's side: the recorder, and the syncs the job issued, stamped as it issues and
/// completes them (acknowledgement key `2n`: sync `n` issued; `2n + 1`: it completed).
pub struct Watch {
    pub rec: Recorder,
    /// The target of each sync, by sync number.
    syncs: Vec<usize>,
    /// The sync in flight (the job has one at a time).
    pending: Option<u64>,
}

impl Watch {
    pub fn new() -> Watch {
        Watch {
            rec: Recorder::new(),
            syncs: Vec::new(),
            pending: None,
        }
    }

    /// The job issues a sync of target `file`.
    pub fn sync_issued(&mut self, file: usize) {
        let n = self.syncs.len() as u64;
        self.syncs.push(file);
        self.rec.acknowledge(2 * n);
        self.pending = Some(n);
    }

    /// The sync in flight completed (`ok`) or failed.
    pub fn sync_done(&mut self, ok: bool) {
        if let (Some(n), true) = (self.pending.take(), ok) {
            self.rec.acknowledge(2 * n + 1);
        }
    }
}

/// What the crash states showed.
#[derive(Clone, Debug, Default)]
pub struct CrashResult {
    /// The unit of the block counts: the file's direct-I/O block.
    pub block: u64,
    /// States checked, and how many of them were systematic.
    pub states: u64,
    pub systematic: u64,
    /// Block checks of promised writes, over all states.
    pub checked: u64,
    /// Blocks lost against a promise, and the states that had any.
    pub lost_promised: u64,
    pub states_failed: u64,
    /// Blocks whose completed, unpromised write was lost (allowed).
    pub lost_allowed: u64,
    /// The first state that lost a promised block, described.
    pub first: Option<String>,
}

/// Goes through `spec.crash` states of what `watch` recorded (seeded by the job's seed).
/// `files`: the job's targets, in the order its syncs name them.
pub fn check(spec: &JobSpec, files: &[&Path], watch: &Watch, seed: u64) -> Result<CrashResult> {
    let log = watch.rec.finish()?;
    let how = Explore::new(seed).states(u64::MAX);
    let all = log.states(&how)?;
    let systematic = all.systematic();
    // Half the states spread evenly over the systematic ones (so every part of the run has
    // crash points, not only its start), half sampled; all of them when there are few.
    let n = spec.crash.unwrap_or(0);
    let picks: Vec<u64> = if systematic <= n {
        (0..n).collect()
    } else {
        // From the first to the last (the end of the run, after end_fsync).
        let spread = n.div_ceil(2).max(2).min(n);
        (0..spread)
            .map(|k| k * (systematic - 1) / (spread - 1).max(1))
            .chain(systematic..systematic + (n - spread))
            .collect()
    };
    let states = picks.into_iter().filter_map(|i| all.get(i));
    let dsync = spec.sync_io != diorite::WriteSync::None;
    let syncs = sync_events(&log, &watch.syncs);
    let mut out = CrashResult::default();
    // Per target written: per block, the ops that touch it.
    let mut maps: Vec<(usize, BTreeMap<u64, Vec<usize>>)> = Vec::new();
    for st in states {
        out.states += 1;
        out.systematic += u64::from(st.name().1 < systematic);
        let lost_before = out.lost_promised;
        if spec.atomic {
            // atomic=1 promises that no write is torn: a state may tear only a write the
            // device did not get as atomic.
            if let Some((i, _)) = st.fates().iter().find(|(_, f)| matches!(f, Fate::Torn(_))) {
                out.lost_promised += 1;
                out.first.get_or_insert_with(|| {
                    format!("{st}\n  write #{i} is torn, which atomic=1 promised it would not be")
                });
            }
        }
        for (ti, path) in files.iter().enumerate() {
            let Ok(image) = st.image(path) else {
                continue; // nothing recorded on it
            };
            if !maps.iter().any(|f| f.0 == ti) {
                maps.push((ti, by_block(log.ops(), image.file, image.block)));
            }
            let (_, touching) = maps.iter().find(|f| f.0 == ti).expect("just added");
            out.block = image.block;
            let cutoff = promised_before(&syncs, ti, st.point());
            let promised = |op: &Op| {
                op.ok
                    && op
                        .completed
                        .is_some_and(|c| c < st.point() && (if dsync { true } else { c < cutoff }))
            };
            for (blk, bytes) in &image.blocks {
                let Some(ops) = touching.get(blk) else {
                    continue;
                };
                let at = *blk * image.block;
                let verdict =
                    block_verdict(log.ops(), ops, &st, &promised, (at, image.block), bytes);
                match verdict {
                    Verdict::Kept => out.checked += 1,
                    Verdict::LostPromised(i) => {
                        out.checked += 1;
                        out.lost_promised += 1;
                        out.first.get_or_insert_with(|| {
                            format!(
                                "{st}\n  bytes {at}..{} of {} do not hold write #{i} ({} bytes at {}), \
                                 which the job's options promised durable",
                                at + image.block,
                                path.display(),
                                log.ops()[i].len,
                                log.ops()[i].offset,
                            )
                        });
                    }
                    Verdict::LostAllowed => out.lost_allowed += 1,
                    Verdict::Unpromised => {}
                }
            }
        }
        out.states_failed += u64::from(out.lost_promised > lost_before);
    }
    Ok(out)
}

/// For each sync the job issued: (its target, the event it was issued at, the event it
/// completed at, if it did).
fn sync_events(log: &CrashLog, targets: &[usize]) -> Vec<(usize, u64, Option<u64>)> {
    let mut ev: Vec<(usize, u64, Option<u64>)> =
        targets.iter().map(|&t| (t, u64::MAX, None)).collect();
    for &(at, key) in log.acknowledgements() {
        if let Some(s) = ev.get_mut((key / 2) as usize) {
            if key % 2 == 0 {
                s.1 = at;
            } else {
                s.2 = Some(at);
            }
        }
    }
    ev
}

/// The writes of target `ti` that completed before this event are promised at a crash at
/// `point`: the latest issue of a sync of it that completed before the point (0: none).
fn promised_before(syncs: &[(usize, u64, Option<u64>)], ti: usize, point: u64) -> u64 {
    syncs
        .iter()
        .filter(|s| s.0 == ti && s.2.is_some_and(|d| d < point))
        .map(|s| s.1)
        .max()
        .unwrap_or(0)
}

/// Per block of file `fi`, the writes (and write-zeroes) that touch it, in issue order.
fn by_block(ops: &[Op], fi: usize, block: u64) -> BTreeMap<u64, Vec<usize>> {
    let mut m: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        if op.file != fi || op.class == OpClass::Flush || op.len == 0 {
            continue;
        }
        for b in op.offset / block..(op.offset + op.len).div_ceil(block) {
            m.entry(b).or_default().push(i);
        }
    }
    m
}

enum Verdict {
    /// The last promised write (or a later one) is there.
    Kept,
    /// Write `i`, promised, is not there.
    LostPromised(usize),
    /// The last completed write, not promised, is not there.
    LostAllowed,
    /// Nothing promised or completed to check.
    Unpromised,
}

/// Block `[at, at + len)` after the crash holds `bytes`: is the last promised write to it (or
/// one that lands after it) there, and if nothing is promised, the last completed one?
fn block_verdict(
    ops: &[Op],
    touching: &[usize],
    st: &CrashState<'_>,
    promised: &dyn Fn(&Op) -> bool,
    (at, len): (u64, u64),
    bytes: &[u8],
) -> Verdict {
    let p = st.point();
    let done = |i: usize| ops[i].completed.filter(|&c| c < p && ops[i].ok);
    let last_by = |pick: &dyn Fn(usize) -> bool| {
        touching
            .iter()
            .copied()
            .filter(|&i| pick(i))
            .max_by_key(|&i| done(i))
    };
    let holds = |i: usize| {
        let op = &ops[i];
        // Units are the file's block, and writes are aligned to it: whole blocks.
        match op.data() {
            Some(d) => d[(at - op.offset) as usize..(at - op.offset + len) as usize] == *bytes,
            None => bytes.iter().all(|&b| b == 0),
        }
    };
    // A write after `i` in the order writes land (completion order; in-flight ones last) may
    // have landed over it.
    let it_or_later = |i: usize| {
        let c = done(i).unwrap_or(u64::MAX);
        holds(i)
            || touching.iter().any(|&x| {
                x != i && ops[x].issued < p && done(x).is_none_or(|cx| cx > c) && holds(x)
            })
    };
    if let Some(w) = last_by(&|i| done(i).is_some() && promised(&ops[i])) {
        return if it_or_later(w) {
            Verdict::Kept
        } else {
            Verdict::LostPromised(w)
        };
    }
    match last_by(&|i| done(i).is_some()) {
        Some(w) if !it_or_later(w) => Verdict::LostAllowed,
        _ => Verdict::Unpromised,
    }
}
