//! The verify phase: after a job's writes, read back every block written and check it
//! (several checker threads when `verify_async` asks), and the `verify_backlog` rounds in the
//! middle of a write phase.

use crate::run::clock::{ns, Stamp};
use crate::run::control::Stop;
use crate::run::issuer::{record_lat, Issuer};
use crate::run::outcome::{VerifyResult, STATS};
use crate::run::verify;
use crate::run::workload::{Dir, Generator, Io};
use crate::spec::JobSpec;
use crate::stats::DirStats;
use anyhow::{anyhow, Context as _, Result};
use std::time::{Duration, Instant};

/// Reads back every block the job wrote and checks it. Returns the findings and whether a stop
/// was requested part-way.
pub fn verify_phase(
    e: &mut Issuer<'_>,
    gens: &[Generator],
    seed: u64,
    stop: Stop<'_>,
    deadline: Option<Instant>,
    stats: &mut [DirStats; STATS],
    known: Option<&[Vec<u8>]>,
) -> Result<(VerifyResult, bool)> {
    let mut v = VerifyResult::default();
    let mut out_of_time = false;
    let max_bs = e.bufs[0].len() as u64;
    let mut pool = match e.spec.verification.verify_async {
        0 => None,
        n => Some(VerifyPool::start(e.spec.clone(), seed, n)?),
    };
    let mut interrupted = false;
    // Expected generation of block b: written in the current pass, or in the previous one.
    if let Some(k) = known {
        v.unknown = k.iter().flatten().filter(|&&m| m == 2).count() as u64;
    }
    let mut stop_all = false;
    for (f, g) in gens.iter().enumerate() {
        // The blocks still to check: written, and not verified by the backlog since; with a
        // saved state, only those whose last write was durable.
        let expect = |g: &Generator, b: u64| -> Option<u32> {
            match known.map(|k| k[f][b as usize]) {
                Some(1) | None => g.expected_unverified(b),
                Some(_) => None,
            }
        };
        let unit = g.unit();
        let blocks = g.map().map_or(0, |m| m.blocks());
        let per_read = (max_bs / unit).max(1);
        let mut b = 0u64;
        loop {
            // Issue reads for runs of checkable blocks while slots are free, until the
            // job's runtime is over.
            if deadline.is_some_and(|d| Instant::now() >= d) {
                out_of_time = true;
            }
            while !stop_all && !out_of_time && b < blocks && !e.free.is_empty() {
                if expect(g, b).is_none() {
                    b += 1;
                    continue;
                }
                let mut n = 1;
                while n < per_read && b + n < blocks && expect(g, b + n).is_some() {
                    n += 1;
                }
                let io = Io {
                    dir: Dir::Read,
                    offset: b * unit,
                    len: n * unit,
                    new_pass: false,
                };
                e.queue_io(f, &io);
                e.flush(stats)?;
                b += n;
            }
            if e.in_flight() == 0 {
                if out_of_time {
                    v.unchecked += (b..blocks).filter(|&x| expect(g, x).is_some()).count() as u64;
                }
                break;
            }
            let tc = e.reap(1, e.bufs.len() + 1, Duration::from_millis(100))?;
            let done = std::mem::take(&mut e.done);
            for (s, result) in done.iter().cloned() {
                let s = s as usize;
                let job = verify_read_done(e, g, s, result, tc, stats)?;
                let buf = &e.bufs[s][..e.slots[s].len as usize];
                match &mut pool {
                    // verify_async: the block is copied to an offload thread; the slot is free
                    // for the next read at once.
                    Some(p) => {
                        let mut job = job;
                        job.data = p.spare.pop().unwrap_or_default();
                        job.data.clear();
                        job.data.extend_from_slice(buf);
                        p.send(job);
                    }
                    None => {
                        let r = check_blocks(
                            e.spec,
                            seed,
                            &job,
                            buf,
                            e.spec.verify_fatal && v.errors > 0,
                        );
                        merge(&mut v, r);
                    }
                }
                if let Some(p) = &mut pool {
                    p.collect(&mut v, false);
                }
                if e.spec.verify_fatal && v.errors > 0 {
                    stop_all = true;
                }
                e.free.push(s as u32);
            }
            e.done = done;
            e.done.clear();
            if stop.any() {
                stop_all = true;
                interrupted = true;
            }
        }
        if stop_all {
            break;
        }
    }
    if let Some(p) = pool.take() {
        p.finish(&mut v);
    }
    Ok((v, interrupted))
}

/// A verify read finished: its statistics (verify reads are reads, as fio counts them), its
/// failure (an error or a short read ends verification), and what to check.
fn verify_read_done(
    e: &mut Issuer<'_>,
    g: &Generator,
    s: usize,
    result: diorite::Result<usize>,
    tc: Stamp,
    stats: &mut [DirStats; STATS],
) -> Result<CheckJob> {
    let slot = e.slots[s];
    let st = &mut stats[Dir::Read as usize];
    record_lat(e.spec, st, tc, slot.t0, slot.t1);
    if let Ok(n) = &result {
        st.ios += 1;
        st.bytes += *n as u64;
        // The verify phase's reads are logged as reads, as fio logs them.
        if let Some(l) = e.logs.as_mut() {
            l.completed(
                tc,
                ns(tc.duration_since(slot.t1)),
                ns(tc.duration_since(slot.t0)),
                0,
                e.targets[slot.file].base + slot.off,
                *n as u64,
                slot.ioprio,
            );
        }
    }
    let t = &e.targets[slot.file];
    let n = result.with_context(|| {
        format!(
            "reading back {} bytes at offset {} of {}",
            slot.len,
            t.base + slot.off,
            t.file.path().display()
        )
    })?;
    if (n as u64) < slot.len {
        return Err(anyhow!(
            "short read back at offset {} of {}: {n} of {} bytes",
            t.base + slot.off,
            t.file.path().display(),
            slot.len
        ));
    }
    let unit = g.unit();
    let first_block = slot.off / unit;
    Ok(CheckJob {
        data: Vec::new(),
        unit,
        base: t.base,
        first_block,
        // Only checkable blocks are read (`expected` is Some for each).
        generations: (0..slot.len / unit)
            .map(|i| g.expected(first_block + i).unwrap_or(0))
            .collect(),
        path: t.file.path().to_path_buf(),
    })
}

/// The blocks of one verify read, to check (inline or on a `verify_async` thread).
struct CheckJob {
    data: Vec<u8>,
    unit: u64,
    base: u64,
    first_block: u64,
    generations: Vec<u32>,
    path: std::path::PathBuf,
}

/// What checking some blocks found.
#[derive(Default)]
struct Checked {
    blocks: u64,
    bytes: u64,
    errors: u64,
    messages: Vec<String>,
}

/// Checks every block of `job` (its data in `buf`); with `stopped` (verify_fatal after an
/// error), checks nothing.
fn check_blocks(spec: &JobSpec, seed: u64, job: &CheckJob, buf: &[u8], stopped: bool) -> Checked {
    let mut c = Checked::default();
    for (i, block) in buf.chunks(job.unit as usize).enumerate() {
        if stopped || (spec.verify_fatal && c.errors > 0) {
            break; // stop at the first mismatch, also in reads already in flight
        }
        let bno = job.first_block + i as u64;
        let generation = job.generations[i];
        let offset = job.base + bno * job.unit;
        c.blocks += 1;
        c.bytes += job.unit;
        if let Err(m) = verify::check_block(spec, block, offset, bno, seed, generation) {
            c.errors += 1;
            c.messages.push(format!("{} ({})", m, job.path.display()));
            if spec.verification.verify_dump {
                match verify::dump(spec, &job.path, block, offset, bno, seed, generation) {
                    Ok(names) => c
                        .messages
                        .push(format!("dumped to {} and {}", names[0], names[1])),
                    Err(err) => c.messages.push(format!("verify_dump failed: {err}")),
                }
            }
        }
    }
    c
}

/// Reads back and checks the blocks `list` (file, block) — verify_backlog's rounds.
pub fn verify_blocks(
    e: &mut Issuer<'_>,
    gens: &[Generator],
    seed: u64,
    list: &[(usize, u64)],
    stats: &mut [DirStats; STATS],
) -> Result<VerifyResult> {
    let mut v = VerifyResult::default();
    let mut next = 0;
    while next < list.len() || e.in_flight() > 0 {
        while next < list.len() && !e.free.is_empty() {
            let (f, b) = list[next];
            let unit = gens[f].unit();
            e.queue_io(
                f,
                &Io {
                    dir: Dir::Read,
                    offset: b * unit,
                    len: unit,
                    new_pass: false,
                },
            );
            e.flush(stats)?;
            next += 1;
        }
        let tc = e.reap(1, e.bufs.len() + 1, Duration::from_millis(100))?;
        let done = std::mem::take(&mut e.done);
        for (s, result) in done.iter().cloned() {
            let s = s as usize;
            let g = &gens[e.slots[s].file];
            let job = verify_read_done(e, g, s, result, tc, stats)?;
            let buf = &e.bufs[s][..e.slots[s].len as usize];
            merge(&mut v, check_blocks(e.spec, seed, &job, buf, false));
            e.free.push(s as u32);
        }
        e.done = done;
        e.done.clear();
    }
    Ok(v)
}

/// Adds one verify result to another.
pub fn merge_results(v: &mut VerifyResult, o: VerifyResult) {
    v.blocks += o.blocks;
    v.bytes += o.bytes;
    v.errors += o.errors;
    v.unchecked += o.unchecked;
    v.unknown += o.unknown;
    for m in o.first {
        if v.first.len() < 10 {
            v.first.push(m);
        }
    }
}

fn merge(v: &mut VerifyResult, c: Checked) {
    let found = VerifyResult {
        blocks: c.blocks,
        bytes: c.bytes,
        errors: c.errors,
        first: c.messages,
        ..VerifyResult::default()
    };
    merge_results(v, found);
}

/// fio's `verify_async`: threads that check the blocks read back, so the job thread keeps
/// reads in flight meanwhile. Data buffers go back to the job (`spare`) to be reused.
struct VerifyPool {
    jobs: Option<std::sync::mpsc::Sender<CheckJob>>,
    results: std::sync::mpsc::Receiver<(Checked, Vec<u8>)>,
    threads: Vec<std::thread::JoinHandle<()>>,
    spare: Vec<Vec<u8>>,
    /// Jobs sent and not yet collected.
    out: usize,
}

impl VerifyPool {
    fn start(spec: JobSpec, seed: u64, n: u32) -> Result<VerifyPool> {
        let (tx, rx) = std::sync::mpsc::channel::<CheckJob>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let (rtx, rrx) = std::sync::mpsc::channel();
        let spec = std::sync::Arc::new(spec);
        let threads = (0..n)
            .map(|i| -> Result<std::thread::JoinHandle<()>> {
                let (rx, rtx, spec) = (rx.clone(), rtx.clone(), spec.clone());
                std::thread::Builder::new()
                    .name(format!("diorite-verify-{i}"))
                    .spawn(move || loop {
                        let job = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                            Ok(j) => j,
                            Err(_) => return, // the job thread is done sending
                        };
                        let c = check_blocks(&spec, seed, &job, &job.data, false);
                        if rtx.send((c, job.data)).is_err() {
                            return;
                        }
                    })
                    .map_err(|e| anyhow!("starting verify_async thread {i}: {e}"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(VerifyPool {
            jobs: Some(tx),
            results: rrx,
            threads,
            spare: Vec::new(),
            out: 0,
        })
    }

    fn send(&mut self, job: CheckJob) {
        if let Some(tx) = &self.jobs {
            if tx.send(job).is_ok() {
                self.out += 1;
            }
        }
    }

    /// Takes in what the threads found (all of it, waiting, with `wait`).
    fn collect(&mut self, v: &mut VerifyResult, wait: bool) {
        while self.out > 0 {
            let got = if wait {
                self.results.recv().ok()
            } else {
                self.results.try_recv().ok()
            };
            let Some((c, buf)) = got else { break };
            self.out -= 1;
            merge(v, c);
            self.spare.push(buf);
        }
    }

    fn finish(mut self, v: &mut VerifyResult) {
        self.collect(v, true);
        drop(self.jobs.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
