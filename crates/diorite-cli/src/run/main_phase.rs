//! A job's main phase, turn by turn as fio's `do_io` runs it: tick the clocks (the ramp's end,
//! the stop conditions, the logs, the bandwidth samples, the status snapshot), run a due
//! `verify_backlog` round, settle a hold, issue what may be issued, flush, reap, and give the
//! verdicts that end a job early (latency target, rate floor).
//!
//! Everything the loop keeps between turns is a field of [`Phase`], grouped by concern; each
//! step of a turn is one method.

use crate::run::clock::{ns, Stamp};
use crate::run::control::{Progress, Stop};
use crate::run::hold::{think_due_at, think_stall, Hold, DRAIN};
use crate::run::issuer::{record_lat, IoSlot, Issuer};
use crate::run::outcome::{
    Depths, JobResult, Samples, ThreadUsage, VerifyResult, DIRS, SAMPLE, SYNC,
};
use crate::run::verify_phase::{merge_results, verify_blocks};
use crate::run::workload::{Dir, FileService, Generator, Io};
use crate::run::{flow, latency, logs, rate, state, verify};
use crate::spec::{ErrorType, JobSpec, Rw};
use crate::stats::{DirStats, Lat};
use anyhow::{anyhow, Result};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Periodic syncs (`fsync=N`, `fdatasync=N`): one is due every `every` writes; at most one is
/// in flight at a time, so the due ones wait in `owed`. And fio's `end_fsync`: once the phase
/// has drained without an error, an fsync of every file, unless the last I/O issued was a sync
/// (backend.c `should_fsync`).
struct Syncs {
    every: u32,
    since: u32,
    owed: u32,
    /// The last write made one due: it is owed once another I/O is queued (fio's `get_io_u`
    /// issues the sync in place of the next I/O, so none follows a job's last write).
    due: bool,
    /// The file of the last write that made one due.
    file: usize,
    /// The last I/O queued was a sync.
    last_was_sync: bool,
    /// `end_fsync`: `None` until the phase has drained, then the files still to sync.
    at_end: Option<Vec<usize>>,
}

/// `verify_backlog`: every `every` blocks written, writes stop; once they have all landed the
/// oldest `batch` written blocks are read back and checked, then writing goes on.
struct Backlog {
    every: Option<u64>,
    batch: usize,
    /// Written blocks (file, block) not yet verified, oldest first.
    blocks: VecDeque<(usize, u64)>,
    /// What the rounds found.
    found: VerifyResult,
}

/// fio's thinktime (backend.c `handle_thinktime`): read and write I/Os completed and issued,
/// the count at the last stall and when it was; a stall due (the count it was due at, and when
/// it was found) waits for everything in flight first.
struct Thinking {
    done_rw: u64,
    issued_rw: u64,
    last_b: u64,
    last_at: Stamp,
    due: Option<(u64, Stamp)>,
}

/// The measuring clocks: the ramp, the phase's start (reset at the ramp's end), the deadline,
/// the CPU use, the bandwidth/IOPS samples and the status snapshot's schedule.
struct Clocks {
    ramping: bool,
    ramp_end: Stamp,
    phase_start: Stamp,
    deadline: Option<Stamp>,
    last_done: Stamp,
    cpu0: ThreadUsage,
    /// Counts (I/Os, bytes) at the last sample, and when the next is due.
    next_sample: Stamp,
    at_sample: [(u64, u64); DIRS],
    samples: Samples,
    next_status: Option<Stamp>,
}

/// The main phase's state between turns of its loop.
struct Phase<'s> {
    spec: &'s JobSpec,
    stop: Stop<'s>,
    progress: &'s Progress,
    seed: u64,
    io_limit: u64,
    verify_writes: bool,
    /// fio: `iodepth_batch_complete_max` defaults to `iodepth_batch_complete_min`.
    max_reap: usize,
    trimwrite: bool,
    clocks: Clocks,
    stats: [DirStats; crate::run::outcome::STATS],
    /// Bytes and I/Os issued against `size`/`io_size` and `number_ios`.
    issued_bytes: u64,
    limited_ios: u64,
    /// Completed (bytes, I/Os) per direction, for the rate floor.
    rw_done: [(u64, u64); 2],
    rate: Option<rate::Rate>,
    hold: Option<Hold>,
    /// fio's latency_target search, and whether its final window's statistics reset is due.
    lat: Option<latency::LatTarget>,
    lat_reset: bool,
    syncs: Syncs,
    /// An I/O taken from its generator and held back (a hold, a drain): issued next, even
    /// when stopping — its blocks are in the generator's map, which must stay true.
    pending: Option<(usize, Io)>,
    stopping: bool,
    exhausted: bool,
    /// fio's `iodepth_low` (below `iodepth`): once the queue is full it drains to this depth
    /// before issuing again (`wait_for_completions` reaps while `cur_depth > iodepth_low`);
    /// `draining` while it does.
    low_water: Option<usize>,
    draining: bool,
    backlog: Backlog,
    /// `verify_state_save`: the durable writes, saved at each completed sync.
    tracker: Option<state::Tracker>,
    think: Thinking,
}

/// Runs the main phase of a job: issues and reaps until the job's size, `number_ios`, runtime,
/// a stop or an error ends it; fills `r` with what was measured.
pub fn main_phase(
    e: &mut Issuer<'_>,
    gens: &mut [Generator],
    (files, mut flow): (&mut FileService, Option<&mut flow::FlowJob<'_>>),
    r: &mut JobResult,
    (io_limit, seed): (u64, u64),
    progress: &Progress,
    stop: Stop<'_>,
) -> Result<()> {
    let spec = e.spec;
    let mut p = Phase::new(e, spec, (io_limit, seed), progress, stop)?;
    // A turn that reaped starts at its completion stamp (taken when the reap returned): one
    // clock read per turn fewer; a turn that did not reap reads the clock.
    let mut reaped_at: Option<Stamp> = None;
    loop {
        let now = reaped_at.take().unwrap_or_else(Stamp::now);
        p.restart_if_due(e, now);
        p.watch_stop(r, now);
        p.tick(e, r, now);
        if p.backlog_round(e, gens)? {
            continue;
        }
        let may_issue = p.may_issue();
        let wait_until = p.settle_hold(e, now);
        if (may_issue || p.pending.is_some()) && p.hold.is_none() {
            p.issue(e, gens, files, flow.as_deref_mut(), may_issue)?;
        }
        if r.error.is_none() {
            p.issue_owed_sync(e);
        }
        e.flush(&mut p.stats)?;
        if e.in_flight() == 0 {
            if p.idle(r, e.targets.len(), wait_until) {
                break;
            }
            continue;
        }
        let tc = p.reap(e, gens, r, now, wait_until)?;
        p.verdicts(r, tc);
        reaped_at = Some(tc);
    }
    p.finish(e, r)
}

impl<'s> Phase<'s> {
    fn new(
        e: &mut Issuer<'_>,
        spec: &'s JobSpec,
        (io_limit, seed): (u64, u64),
        progress: &'s Progress,
        stop: Stop<'s>,
    ) -> Result<Phase<'s>> {
        let verify_writes = spec.verify;
        let sync_every = if spec.fdatasync > 0 {
            spec.fdatasync
        } else {
            spec.fsync
        };
        let t_start = Stamp::now();
        // (An unlink_each_loop job's later loops go on with the first loop's logs.)
        if e.logs.is_none() {
            e.logs = logs::Logs::new(spec, t_start);
        }
        // verify_state_save: the limit lets two sync intervals and a queue depth of writes
        // past the last save.
        // (A job with loops saves none: settle refuses one that would need it.)
        let tracker = if verify_writes && spec.verification.verify_state_save && spec.loops <= 1 {
            let slack =
                (sync_every > 0).then(|| 2 * (u64::from(sync_every) + u64::from(spec.iodepth)));
            Some(state::Tracker::new(
                state::path(spec.verification.aux_path.as_deref(), &spec.name, 0),
                slack,
            )?)
        } else {
            None
        };
        Ok(Phase {
            spec,
            stop,
            progress,
            seed,
            io_limit,
            verify_writes,
            max_reap: spec
                .batch_complete_max
                .unwrap_or(spec.batch_complete_min)
                .max(1) as usize,
            trimwrite: matches!(spec.rw, Rw::TrimWrite | Rw::RandTrimWrite),
            clocks: Clocks {
                ramping: !spec.ramp_time.is_zero(),
                ramp_end: t_start + spec.ramp_time,
                phase_start: t_start,
                deadline: spec.runtime.map(|d| t_start + spec.ramp_time + d),
                last_done: t_start,
                cpu0: ThreadUsage::now(),
                next_sample: t_start + SAMPLE,
                at_sample: [(0, 0); DIRS],
                samples: Samples::default(),
                next_status: progress.status_every.map(|d| t_start + d),
            },
            stats: std::array::from_fn(|_| DirStats::new()),
            issued_bytes: 0,
            limited_ios: 0,
            rw_done: [(0, 0); 2],
            rate: rate::Rate::new(spec, t_start),
            hold: None,
            lat: spec.pacing.latency_target.map(|t| {
                latency::LatTarget::new(
                    t,
                    spec.pacing.latency_window,
                    spec.pacing.latency_percentile,
                    spec.pacing.latency_run,
                    spec.iodepth,
                )
            }),
            lat_reset: false,
            syncs: Syncs {
                every: sync_every,
                since: 0,
                owed: 0,
                due: false,
                file: 0,
                last_was_sync: false,
                at_end: None,
            },
            pending: None,
            stopping: false,
            exhausted: false,
            low_water: spec
                .iodepth_low
                .filter(|l| *l > 0 && *l < spec.iodepth)
                .map(|l| l as usize),
            draining: false,
            backlog: Backlog {
                every: spec.verification.verify_backlog.filter(|_| verify_writes),
                batch: spec
                    .verification
                    .verify_backlog_batch
                    .or(spec.verification.verify_backlog)
                    .unwrap_or(0) as usize,
                blocks: VecDeque::new(),
                found: VerifyResult::default(),
            },
            tracker,
            think: Thinking {
                done_rw: 0,
                issued_rw: 0,
                last_b: 0,
                last_at: t_start,
                due: None,
            },
        })
    }

    /// At the ramp's end, and when the latency-target search's final window starts (from an
    /// empty queue), the statistics start afresh.
    fn restart_if_due(&mut self, e: &mut Issuer<'_>, now: Stamp) {
        if e.in_flight() == 0 {
            if let Some(l) = self.lat.as_mut() {
                l.drained(self.think.done_rw);
            }
        }
        let final_run = self.lat_reset && e.in_flight() == 0;
        let c = &mut self.clocks;
        if !((c.ramping && now >= c.ramp_end) || final_run) {
            return;
        }
        c.ramping = false;
        self.lat_reset = false;
        self.stats = std::array::from_fn(|_| DirStats::new());
        for l in e.prio_lat.iter_mut().flatten() {
            *l = Lat::new();
        }
        c.cpu0 = ThreadUsage::now();
        e.depths = Depths::default();
        if let Some(l) = e.logs.as_mut() {
            l.restart(now);
        }
        c.samples = Samples::default();
        c.at_sample = [(0, 0); DIRS];
        c.next_sample = now + SAMPLE;
        c.phase_start = now;
    }

    /// A stop (Ctrl-C, exitall, a group's end) or the runtime's end starts stopping.
    fn watch_stop(&mut self, r: &mut JobResult, now: Stamp) {
        if self.stopping {
            return;
        }
        if self.stop.any() {
            self.stopping = true;
            if self.stop.interrupted() {
                r.interrupted = true;
            } else {
                r.terminated = true;
            }
        } else if self.clocks.deadline.is_some_and(|d| now >= d) {
            self.stopping = true;
        }
    }

    /// The logs' averaging intervals, the bandwidth/IOPS samples, the status snapshot.
    fn tick(&mut self, e: &mut Issuer<'_>, r: &JobResult, now: Stamp) {
        let stats = &self.stats;
        let c = &mut self.clocks;
        if let Some(l) = e.logs.as_mut() {
            // log_avg_msec: the bandwidth and IOPS intervals that have ended.
            l.tick(now, [0, 1].map(|d| (stats[d].bytes, stats[d].ios)));
        }
        if now >= c.next_sample {
            let secs = (now - (c.next_sample - SAMPLE)).as_secs_f64().max(1e-9);
            for (d, st) in stats.iter().enumerate().take(DIRS) {
                let (ios, bytes) = (st.ios, st.bytes);
                if ios > 0 {
                    c.samples.bw[d].push((bytes - c.at_sample[d].1) as f64 / 1024.0 / secs);
                    c.samples.iops[d].push((ios - c.at_sample[d].0) as f64 / secs);
                }
                c.at_sample[d] = (ios, bytes);
            }
            c.next_sample = now + SAMPLE;
        }
        if c.next_status.is_some_and(|t| now >= t) {
            let mut snap = r.clone();
            snap.stats = stats.clone();
            snap.runtime = now.duration_since(c.phase_start);
            snap.dir_runtime = [snap.runtime; DIRS];
            let u = ThreadUsage::now().since(&c.cpu0);
            (snap.usr, snap.sys, snap.usage) = (u.usr, u.sys, u);
            snap.depths = e.depths.clone();
            snap.samples = c.samples.clone();
            let status = &self.progress.status;
            *status.lock().unwrap_or_else(|p| p.into_inner()) = Some(snap);
            c.next_status = self.progress.status_every.map(|d| now + d);
        }
    }

    fn backlog_due(&self) -> bool {
        let b = &self.backlog;
        b.every.is_some_and(|n| b.blocks.len() as u64 >= n)
    }

    /// A due `verify_backlog` round, once everything written has landed. Returns whether one
    /// ran (the turn starts over).
    fn backlog_round(&mut self, e: &mut Issuer<'_>, gens: &mut [Generator]) -> Result<bool> {
        if !self.backlog_due() || self.stopping || e.in_flight() > 0 || self.pending.is_some() {
            return Ok(false);
        }
        let take = self.backlog.batch.min(self.backlog.blocks.len());
        let list: Vec<(usize, u64)> = self.backlog.blocks.drain(..take).collect();
        let found = verify_blocks(e, gens, self.seed, &list, &mut self.stats)?;
        if self.spec.verify_fatal && found.errors > 0 {
            self.stopping = true;
        }
        for &(f, b) in &list {
            gens[f].set_verified(b, true);
        }
        merge_results(&mut self.backlog.found, found);
        Ok(true)
    }

    /// Whether new I/O may be taken from the generators this turn.
    fn may_issue(&self) -> bool {
        !self.stopping && !self.exhausted && !self.backlog_due() && self.think.due.is_none()
    }

    /// Releases a hold that is over (or any hold when stopping); else says until when the
    /// turn may sleep (`None`: it waits for in-flight I/O to drain first, or there is no hold).
    fn settle_hold(&mut self, e: &Issuer<'_>, now: Stamp) -> Option<Stamp> {
        let offload = self.spec.pacing.submit_offload;
        let mut hold = self.hold?;
        let drain = hold.drains(offload);
        if let Hold::Rate {
            drained: d @ None, ..
        }
        | Hold::Drain {
            drained: d @ None, ..
        } = &mut hold
        {
            if drain && e.in_flight() == 0 {
                *d = Some(now);
                self.hold = Some(hold);
            }
        }
        let until = hold.until(offload);
        let drained = !drain || e.in_flight() == 0;
        if self.stopping || (drained && until.is_some_and(|t| now >= t)) {
            self.hold = None;
            None
        } else if drained {
            until
        } else {
            None
        }
    }

    /// Issues I/O while slots are free and nothing holds it back.
    fn issue(
        &mut self,
        e: &mut Issuer<'_>,
        gens: &mut [Generator],
        files: &mut FileService,
        mut flow: Option<&mut flow::FlowJob<'_>>,
        may_issue: bool,
    ) -> Result<()> {
        if let Some(low) = self.low_water {
            if self.draining && e.in_flight() > low {
                return Ok(());
            }
            self.draining = false;
        }
        while !e.free.is_empty() {
            if !may_issue && self.pending.is_none() {
                break;
            }
            // fio's queue_full with a latency target: at most the depth being tried.
            if self
                .lat
                .as_ref()
                .is_some_and(|l| e.in_flight() >= l.qd as usize)
            {
                break;
            }
            let Some((f, io)) = self.next_io(e, gens, files, flow.as_deref_mut(), may_issue) else {
                break;
            };
            self.fill_write(e, gens, f, &io);
            self.queue(e, f, &io)?;
            if self.think_due_after(&io) {
                break;
            }
        }
        // The queue is full: with iodepth_low, it drains before the next I/O.
        self.draining = self.low_water.is_some() && e.free.is_empty();
        Ok(())
    }

    /// The next I/O to issue — the one held back, or a new one from the file's generator —
    /// or `None` when it must wait (the job's size is reached, a hold or a drain began).
    fn next_io(
        &mut self,
        e: &Issuer<'_>,
        gens: &mut [Generator],
        files: &mut FileService,
        flow: Option<&mut flow::FlowJob<'_>>,
        may_issue: bool,
    ) -> Option<(usize, Io)> {
        // trimwrite: the write half of a trim+write pair is always issued, and only the trims
        // count toward size and number_ios (fio: io_size=64k trims 64k and writes the same
        // 64k).
        let rewrite = gens[files.file()].pending_rewrite();
        if may_issue
            && !rewrite
            && (self.issued_bytes >= self.io_limit
                || self.spec.number_ios.is_some_and(|n| self.limited_ios >= n))
        {
            self.exhausted = true;
            return None;
        }
        if self.pending.is_none() && self.tracker.as_ref().is_some_and(|t| !t.may_issue()) {
            return None; // past the saved state's limit: wait for the next sync to save
        }
        let (f, io) = match self.pending.take() {
            Some(p) => p,
            None => {
                let f = files.file();
                let mut hold = None;
                let io = match &self.rate {
                    Some(r) => gens[f].next_with(|d| {
                        let (d, h) = r.choose(d, Stamp::now());
                        hold = h;
                        d
                    }),
                    None => gens[f].next(),
                };
                // A trimwrite pair stays on its file: the write follows its trim.
                if !gens[f].pending_rewrite() {
                    files.after(io.len);
                }
                if let Some(t) = hold {
                    // Over budget: drain, wait, then issue this one.
                    let now = Stamp::now();
                    self.hold = Some(Hold::Rate {
                        decided: now,
                        wait: t.saturating_duration_since(now),
                        drained: None,
                    });
                    self.pending = Some((f, io));
                    return None;
                }
                (f, io)
            }
        };
        if !rewrite && flow.is_some_and(|fl| fl.exceeded()) {
            // fio's flow: ahead of the job's share (checked as the I/O is about to go, also
            // for one a rate wait held back); drain, wait flow_sleep, look again.
            self.pending = Some((f, io));
            self.hold = Some(Hold::Drain {
                wait: self.spec.pacing.flow_sleep,
                drained: None,
            });
            return None;
        }
        if io.new_pass && self.verify_writes && e.in_flight() > 0 {
            // A new pass may rewrite blocks still being written: drain first, so each block's
            // last write is the one verification expects.
            self.pending = Some((f, io));
            return None;
        }
        if io.dir == Dir::Write && self.verify_writes && gens[f].overlaps_in_flight(&io) {
            // A rewrite (skewed distribution, norandommap) of a block still being written waits
            // for that write: the last write issued is the last landed.
            self.pending = Some((f, io));
            return None;
        }
        Some((f, io))
    }

    /// What a write carries, written into the buffer of the slot it will take: verify headers
    /// and data, `verify_pattern`'s bytes, or the data options' per-write content.
    fn fill_write(&self, e: &mut Issuer<'_>, gens: &mut [Generator], f: usize, io: &Io) {
        if io.dir != Dir::Write {
            return;
        }
        let spec = self.spec;
        let slot = *e.free.last().expect("checked") as usize;
        let unit = gens[f].unit();
        if self.verify_writes {
            gens[f].set_in_flight(io.offset, io.len, true);
            for b in io.offset / unit..(io.offset + io.len) / unit {
                gens[f].set_verified(b, false);
            }
            let buf = &mut e.bufs[slot][..io.len as usize];
            for (i, block) in buf.chunks_mut(unit as usize).enumerate() {
                let b = io.offset / unit + i as u64;
                verify::fill_block(
                    spec,
                    block,
                    e.targets[f].base + b * unit,
                    b,
                    self.seed,
                    gens[f].generation_of(b),
                );
            }
            return;
        }
        let at = e.targets[f].base + io.offset;
        if let Some(p) = &spec.verification.verify_pattern {
            // fio's verify_pattern without verify: the data written is the pattern.
            let buf = &mut e.bufs[slot][..io.len as usize];
            for (i, block) in buf.chunks_mut(unit as usize).enumerate() {
                p.fill(block, at + i as u64 * unit);
            }
        } else if e.data.per_write() {
            let t = Stamp::now().duration_since(e.started);
            e.data
                .before_write(&mut e.bufs[slot][..io.len as usize], at, t);
        }
    }

    /// Queues `io` and counts it: toward the job's size, the rate, thinktime, and the
    /// periodic syncs (issuing one that is due); submits a full batch.
    fn queue(&mut self, e: &mut Issuer<'_>, f: usize, io: &Io) -> Result<()> {
        // A periodic sync made due by the last write goes out before this I/O (fio issues it
        // in place of the next I/O: none is issued after a job's last write).
        if self.syncs.due {
            self.syncs.due = false;
            self.syncs.owed += 1;
            self.issue_owed_sync(e);
        }
        let used = *e.free.last().expect("checked") as usize;
        e.queue_io(f, io);
        self.syncs.last_was_sync = false;
        if let (Some(t), Dir::Write) = (self.tracker.as_mut(), io.dir) {
            e.slots[used].seq = t.issued();
        }
        if !(self.trimwrite && io.dir == Dir::Write) {
            self.issued_bytes += io.len;
            self.limited_ios += 1;
        }
        if let Some(r) = self.rate.as_mut() {
            r.issued(io.dir, io.len);
        }
        if io.dir != Dir::Trim {
            self.think.issued_rw += 1;
        }
        if io.dir == Dir::Write {
            let s = &mut self.syncs;
            s.since += 1;
            if s.every > 0 && s.since >= s.every {
                s.due = true;
                s.since = 0;
                s.file = f;
            }
        }
        self.issue_owed_sync(e);
        if e.batch.len() >= self.spec.batch_submit as usize {
            e.flush(&mut self.stats)?;
        }
        Ok(())
    }

    /// Queues a sync that is due, unless one is in flight; then the `end_fsync` ones.
    fn issue_owed_sync(&mut self, e: &mut Issuer<'_>) {
        if e.sync_busy {
            return;
        }
        if self.syncs.owed > 0 {
            e.queue_sync(self.syncs.file, self.spec.fdatasync > 0);
            if let Some(t) = self.tracker.as_mut() {
                t.sync_issued();
            }
            self.syncs.owed -= 1;
            self.syncs.last_was_sync = true;
        } else if let Some(f) = self.syncs.at_end.as_mut().and_then(Vec::pop) {
            e.queue_sync(f, false);
        }
    }

    /// After an I/O is queued: whether a thinktime stall is now due (issuing stops; the stall
    /// begins once everything in flight has completed).
    fn think_due_after(&mut self, io: &Io) -> bool {
        let think = &self.spec.pacing.think;
        if think.time.is_zero() || io.dir == Dir::Trim {
            return false;
        }
        let t = &mut self.think;
        let b = if think.count_issued {
            t.issued_rw
        } else {
            t.done_rw
        };
        match think_due_at(think, b, t.last_b, t.last_at) {
            Some(due) => {
                t.due = Some((b, due));
                true
            }
            None => false,
        }
    }

    /// Nothing in flight: stall for thinktime if one is due, end the phase when it is over,
    /// else sleep until a hold ends. Returns whether the phase is over.
    fn idle(&mut self, r: &JobResult, files: usize, wait_until: Option<Stamp>) -> bool {
        if let Some((b, at)) = self.think.due.take() {
            // Everything issued has completed: think, then go on issuing.
            if !self.stopping {
                think_stall(&self.spec.pacing.think, self.stop, self.clocks.deadline);
            }
            (self.think.last_b, self.think.last_at) = (b, at);
            return false;
        }
        if (self.stopping || self.exhausted)
            && self.pending.is_none()
            && (self.syncs.owed == 0 || r.error.is_some())
        {
            let s = &mut self.syncs;
            if s.at_end.is_none()
                && self.spec.end_fsync
                && self.spec.rw.writes()
                && !s.last_was_sync
                && r.error.is_none()
            {
                // Drained: end_fsync's syncs go out one at a time, as fio's `fio_io_sync`.
                s.at_end = Some((0..files).rev().collect());
            }
            if s.at_end.as_ref().is_none_or(Vec::is_empty) {
                return true;
            }
            return false;
        }
        if let Some(t) = wait_until {
            // At most 50 ms at a time, so a stop is seen; on time to the microsecond, as fio.
            crate::run::clock::wait_until(t.min(Stamp::now() + Duration::from_millis(50)));
        }
        false
    }

    /// Reaps completions (at least `iodepth_batch_complete_min`, or one while a hold waits)
    /// and accounts each; returns the completion time.
    fn reap(
        &mut self,
        e: &mut Issuer<'_>,
        gens: &mut [Generator],
        r: &mut JobResult,
        now: Stamp,
        wait_until: Option<Stamp>,
    ) -> Result<Stamp> {
        let timeout = wait_until.map_or(Duration::from_millis(100), |t| {
            t.saturating_duration_since(now)
                .min(Duration::from_millis(50))
        });
        let min = if wait_until.is_some() {
            1
        } else {
            self.spec.batch_complete_min as usize
        };
        let tc = e.reap(min, self.max_reap, timeout)?;
        let mut counts = [(0u64, 0u64); DIRS];
        let mut done = std::mem::take(&mut e.done);
        for (s, result) in done.drain(..) {
            let slot = e.slots[s as usize];
            // end_fsync's syncs are not measured (fio runs them in its FSYNCING state, which
            // neither counts nor times I/O); a failed one is the job's error.
            let end_sync = slot.kind == SYNC && self.syncs.at_end.is_some();
            if !(end_sync && result.is_ok()) {
                self.count(e, r, &slot, &result, &mut counts);
            }
            if !end_sync {
                self.record(e, r, &slot, &result, tc);
            }
            self.release(e, gens, s, &slot, &result)?;
        }
        e.done = done;
        for (d, (ios, bytes)) in counts.iter().enumerate() {
            if *ios > 0 {
                // The job thread is the only writer: a load and a store, no locked
                // read-modify-write per reap. Relaxed: progress counters order nothing.
                let (i, b) = (&self.progress.ios[d], &self.progress.bytes[d]);
                i.store(i.load(Ordering::Relaxed) + ios, Ordering::Relaxed);
                b.store(b.load(Ordering::Relaxed) + bytes, Ordering::Relaxed);
            }
        }
        self.clocks.last_done = tc;
        Ok(tc)
    }

    /// A completion's bytes and I/Os, and its error's verdict: the end of a `fill_device`
    /// job, a non-fatal error fio goes on after (`continue_on_error`), or the job's error.
    fn count(
        &mut self,
        e: &Issuer<'_>,
        r: &mut JobResult,
        slot: &IoSlot,
        result: &diorite::Result<usize>,
        counts: &mut [(u64, u64); DIRS],
    ) {
        let spec = self.spec;
        if slot.kind == Dir::Read as usize || slot.kind == Dir::Write as usize {
            self.think.done_rw += 1;
            if let Ok(n) = result {
                self.rw_done[slot.kind].0 += *n as u64;
                self.rw_done[slot.kind].1 += 1;
            }
        }
        let st = &mut self.stats[slot.kind];
        match result {
            Ok(n) => {
                st.ios += 1;
                st.bytes += *n as u64;
                if slot.kind != SYNC && (*n as u64) < slot.len {
                    st.short_ios += 1;
                }
                if slot.kind != SYNC {
                    counts[slot.kind].0 += 1;
                    counts[slot.kind].1 += *n as u64;
                }
            }
            Err(err)
                if spec.files.fill_device
                    && slot.kind == Dir::Write as usize
                    && matches!(err.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) =>
            {
                // fio's fill_device: full is the end of the job, not an error.
                self.stopping = true;
            }
            Err(err)
                if err.raw_os_error().is_some_and(|errno| {
                    spec.continues_on(ErrorType::of(slot.kind == Dir::Read as usize, errno), errno)
                }) =>
            {
                // fio's non-fatal error: counted, and the job goes on; with error_dump (the
                // default) said as fio's `io_u_log_error` says it.
                r.total_err += 1;
                r.first_error = r.first_error.or(err.raw_os_error());
                if spec.error_dump {
                    let t = &e.targets[slot.file];
                    eprintln!(
                        "diorite: io_u error on file {}: {}: {} offset={}, buflen={}",
                        t.file.path().display(),
                        // strerror's words, without Rust's "(os error N)".
                        std::io::Error::from_raw_os_error(err.raw_os_error().unwrap_or(0))
                            .to_string()
                            .split(" (os error")
                            .next()
                            .unwrap_or_default(),
                        ["read", "write", "trim", "sync"][slot.kind],
                        t.base + slot.off,
                        slot.len
                    );
                }
            }
            Err(err) => {
                if r.error.is_none() {
                    let t = &e.targets[slot.file];
                    r.error = Some(match slot.kind {
                        SYNC => format!("sync of {} failed: {err}", t.file.path().display()),
                        k => format!(
                            "{} of {} bytes at offset {} of {} failed: {err}",
                            ["read", "write", "trim"][k],
                            slot.len,
                            t.base + slot.off,
                            t.file.path().display()
                        ),
                    });
                }
                self.stopping = true;
            }
        }
    }

    /// A completion's latencies: the statistics, per priority, the logs; `max_latency`
    /// and the latency-target search.
    fn record(
        &mut self,
        e: &mut Issuer<'_>,
        r: &mut JobResult,
        slot: &IoSlot,
        result: &diorite::Result<usize>,
        tc: Stamp,
    ) {
        let spec = self.spec;
        record_lat(spec, &mut self.stats[slot.kind], tc, slot.t0, slot.t1);
        if let Some(l) = e
            .prio_lat
            .get_mut(slot.kind)
            .and_then(|v| v.get_mut(slot.prio as usize))
        {
            // fio's clat_prio: clat, or lat with lat_percentiles.
            l.record(ns(tc.duration_since(if spec.measure.pcts.lat {
                slot.t0
            } else {
                slot.t1
            })));
        }
        if let (Some(l), 0 | 1, Ok(n)) = (e.logs.as_mut(), slot.kind, result) {
            l.completed(
                tc,
                ns(tc.duration_since(slot.t1)),
                ns(tc.duration_since(slot.t0)),
                slot.kind as u8,
                e.targets[slot.file].base + slot.off,
                *n as u64,
                slot.ioprio,
            );
        }
        if slot.kind != Dir::Read as usize && slot.kind != Dir::Write as usize {
            return;
        }
        let lat_ns = ns(tc.duration_since(slot.t0));
        if spec.pacing.max_latency.is_some_and(|m| lat_ns > ns(m)) && r.error.is_none() {
            // fio's lat_fatal.
            r.error = Some(format!(
                "latency of {lat_ns} nsec exceeds max_latency ({} nsec) (ETIMEDOUT)",
                ns(spec.pacing.max_latency.unwrap_or_default())
            ));
            self.stopping = true;
        }
        if let Some(l) = self.lat.as_mut().filter(|_| !self.clocks.ramping) {
            match l.completed(slot.t0, lat_ns, self.think.done_rw) {
                Ok(latency::Step::Drain) => self.hold = Some(DRAIN),
                Ok(_) => {}
                Err(msg) => {
                    r.error.get_or_insert(format!("{msg} (ETIMEDOUT)"));
                    self.stopping = true;
                }
            }
        }
    }

    /// A completed slot goes back: a sync frees the sync slot (and saves the verify state);
    /// a write leaves the in-flight map and joins the verify backlog; the slot is free.
    fn release(
        &mut self,
        e: &mut Issuer<'_>,
        gens: &mut [Generator],
        s: u32,
        slot: &IoSlot,
        result: &diorite::Result<usize>,
    ) -> Result<()> {
        if slot.kind == SYNC {
            e.sync_busy = false;
            if let Some(w) = e.crash.as_mut() {
                w.sync_done(result.is_ok());
            }
            if let (Some(t), true) = (self.tracker.as_mut(), result.is_ok()) {
                t.sync_completed()?;
            }
            return Ok(());
        }
        if slot.kind == Dir::Write as usize {
            if let (Some(t), true) = (self.tracker.as_mut(), result.is_ok()) {
                t.completed(slot.seq);
            }
            gens[slot.file].set_in_flight(slot.off, slot.len, false);
            if self.backlog.every.is_some() && result.is_ok() {
                let unit = gens[slot.file].unit();
                self.backlog.blocks.extend(
                    (slot.off / unit..(slot.off + slot.len) / unit).map(|b| (slot.file, b)),
                );
            }
        }
        e.free.push(s);
        Ok(())
    }

    /// After a reap: the latency-target search's window verdict, and the rate floor
    /// (`rate_min`, `rate_iops_min`: a cycle below it ends the job with an error).
    fn verdicts(&mut self, r: &mut JobResult, tc: Stamp) {
        if let (Some(l), false) = (self.lat.as_mut(), self.clocks.ramping || self.stopping) {
            match l.check(self.think.done_rw) {
                latency::Step::Nothing => {}
                latency::Step::Drain => self.hold = Some(DRAIN),
                latency::Step::FinalRun => {
                    self.hold = Some(DRAIN);
                    self.lat_reset = true;
                }
                latency::Step::Done => self.exhausted = true,
            }
        }
        if let (Some(rt), false) = (self.rate.as_mut(), self.stopping) {
            if let Some(msg) = rt.below_min(self.rw_done, tc) {
                r.error
                    .get_or_insert(format!("job {}: {msg}", self.spec.name));
                self.stopping = true;
            }
        }
    }

    /// The phase's results into `r`; the verify state kept or dropped.
    fn finish(self, e: &mut Issuer<'_>, r: &mut JobResult) -> Result<()> {
        let c = self.clocks;
        let usage = ThreadUsage::now().since(&c.cpu0);
        r.usr = usage.usr;
        r.sys = usage.sys;
        r.usage = usage;
        r.depths = std::mem::take(&mut e.depths);
        r.latency_depth = self.lat.as_ref().map(|l| l.qd);
        r.samples = c.samples;
        // A job that ends inside its ramp (its size done first): fio counts its I/Os, bytes
        // and runtime all the same — its ramp never ends, so they are never reset — but no
        // latency (fio's `should_account` is false in the ramp).
        r.runtime = c.last_done.max(c.phase_start).duration_since(c.phase_start);
        r.stats = self.stats;
        if c.ramping {
            for st in &mut r.stats {
                (st.slat, st.clat, st.lat) = (Lat::new(), Lat::new(), Lat::new());
            }
        }
        r.dir_runtime = [r.runtime; DIRS];
        if !c.ramping {
            // Per priority: (ioprio, latency) in the table's order.
            r.prio_lat = [0, 1].map(|d| {
                e.prios.table[d]
                    .iter()
                    .copied()
                    .zip(std::mem::take(&mut e.prio_lat[d]))
                    .collect()
            });
        }
        if self.backlog.every.is_some() {
            // What the backlog rounds found; the verify phase adds the rest.
            r.verify = Some(self.backlog.found);
        }
        if let Some(t) = self.tracker {
            // fio keeps the state only for a job that stopped during its write phase.
            if !r.interrupted && r.error.is_none() {
                t.finish();
            } else if let Err(err) = t.stopped() {
                r.error.get_or_insert(crate::errors::chain(err.as_ref()));
            }
        }
        match &r.error {
            Some(err) => Err(anyhow!("{err}")),
            None => Ok(()),
        }
    }
}
