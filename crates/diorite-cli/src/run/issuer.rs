//! A job's memory and I/O path: its buffers, in-flight slots and the context (or the job
//! thread itself, for fio's synchronous engines) that carries its I/O.

use crate::run::clock::{ns, Stamp};
use crate::run::outcome::{Depths, STATS, SYNC};
use crate::run::workload::{Dir, Io};
use crate::run::{data, logs, prio};
use crate::spec::{IoEngine, JobSpec};
use crate::stats::{DirStats, Lat};
use anyhow::Result;
use diorite::DirectFile;
use diorite::{AlignedBuf, BufPool, Completion, Context, LocalContext, Request};
use std::time::Duration;

/// One file of a job: the region `[base, base + len)` it works in.
pub struct Target {
    pub file: DirectFile,
    pub base: u64,
    pub len: u64,
}

#[derive(Clone, Copy)]
pub struct IoSlot {
    pub t0: Stamp,
    pub t1: Stamp,
    /// Where its statistics go: a direction (`Dir as usize`: 0 read, 1 write, 2 trim) or
    /// [`SYNC`] (3).
    pub kind: usize,
    pub file: usize,
    pub off: u64,
    pub len: u64,
    /// A write's number for the verify state (`state.rs`).
    pub seq: u64,
    /// The I/O's priority: its index in the job's priority table and its ioprio value.
    pub prio: u8,
    pub ioprio: u16,
}

impl IoSlot {
    /// A read, write or trim of `io` in `file`, issued at `t0` (submitted then too, until
    /// `flush` says otherwise).
    #[inline]
    fn io(t0: Stamp, file: usize, io: &Io, (prio, ioprio): (u8, u16)) -> IoSlot {
        IoSlot {
            t0,
            t1: t0,
            kind: io.dir as usize,
            file,
            off: io.offset,
            len: io.len,
            seq: 0,
            prio,
            ioprio,
        }
    }

    /// A sync of `file`, issued at `t0`.
    fn sync(t0: Stamp, file: usize) -> IoSlot {
        IoSlot {
            t0,
            t1: t0,
            kind: SYNC,
            file,
            off: 0,
            len: 0,
            seq: 0,
            prio: 0,
            ioprio: 0,
        }
    }
}

/// How the job's I/O is issued: through an engine context, or in the job thread itself.
#[allow(
    clippy::large_enum_variant,
    reason = "one per job, never moved on the I/O path"
)]
pub enum IoPath {
    Ctx(LocalContext),
    /// fio's synchronous engines: each I/O is performed when queued (queue depth 1); its
    /// result waits here, with its completion time, until the next reap.
    Sync(Vec<(u32, diorite::Result<usize>, Stamp)>),
    /// fio's null engine at iodepth=1: as `Sync`, but no I/O is made (each completes with its
    /// length when queued).
    NullSync(Vec<(u32, diorite::Result<usize>, Stamp)>),
}

/// The job's memory and I/O path. `bufs` is declared before `io`, so the context is dropped
/// (shutting down and waiting for every in-flight request) before the memory.
pub struct Issuer<'a> {
    pub spec: &'a JobSpec,
    pub targets: &'a [Target],
    pub _pool: BufPool,
    pub bufs: Vec<AlignedBuf>,
    pub io: IoPath,
    pub slots: Vec<IoSlot>,
    pub free: Vec<u32>,
    pub batch: Vec<Request>,
    pub batch_slots: Vec<u32>,
    /// Reaped completions: slot and result.
    pub done: Vec<(u32, diorite::Result<usize>)>,
    pub reaped: Vec<Completion>,
    pub sync_busy: bool,
    /// diorite's `crash`: the recorder and the job's sync stamps.
    pub crash: Option<crate::run::crash::Watch>,
    pub depths: Depths,
    /// fio's per-I/O logs, when the job asked for any (`logs.rs`).
    pub logs: Option<logs::Logs>,
    /// What writes carry (`data.rs`), and the engine's start (the scramble's clock).
    pub data: data::Filler,
    pub started: Stamp,
    /// Which priority each I/O gets (`prio.rs`), and per direction the latency of each
    /// priority in its table (fio's `clat_prio`), kept when priorities are mixed.
    pub prios: prio::Prios,
    pub prio_lat: [Vec<Lat>; 2],
}

impl<'a> Issuer<'a> {
    pub fn new(
        spec: &'a JobSpec,
        targets: &'a [Target],
        max_bs: usize,
        seed: u64,
    ) -> Result<Issuer<'a>> {
        let align = targets
            .iter()
            .map(|t| t.file.geometry().buf_align() as usize)
            .max()
            .unwrap_or(4096);
        // Synchronous engines keep one I/O in flight, whatever iodepth says (as in fio).
        // fio's null engine at iodepth=1 is one too (`FIO_SYNCIO`): each I/O completes in
        // its queue call, with no submission step (no slat) and no engine round trip.
        let null_sync = spec.is_null() && spec.iodepth == 1;
        let depth = match spec.engine {
            IoEngine::Sync => 1,
            IoEngine::Async(_) => spec.iodepth as usize,
        };
        let pool = BufPool::new(depth, max_bs, align)?;
        let mut bufs: Vec<AlignedBuf> = (0..depth)
            .map(|_| pool.get().expect("a fresh pool has every buffer"))
            .collect();
        // fio's first fill of a writer's buffers (`data.rs`: random by default).
        // The clone's own seed: clones write different data, as fio's jobs do (each its own
        // buffer seed), so storage that deduplicates sees no copies between them.
        let mut data = data::Filler::new(&spec.data, spec.bs_dirs()[1].min(), seed);
        if spec.rw.writes() {
            for b in &mut bufs {
                data.init(b);
            }
        }
        let crash = spec.crash.map(|_| crate::run::crash::Watch::new());
        let io = match spec.engine {
            IoEngine::Sync => IoPath::Sync(Vec::with_capacity(2)),
            IoEngine::Async(_) if null_sync => IoPath::NullSync(Vec::with_capacity(2)),
            IoEngine::Async(backend) => {
                let mut builder = Context::builder();
                builder
                    .depth(spec.iodepth + 1) // + the sync slot
                    .backend(backend)
                    .threads(spec.pool_threads.unwrap_or(if spec.posix_aio {
                        targets.len().clamp(1, 20)
                    } else {
                        depth.min(64)
                    }))
                    // fio's libaio with direct=0: buffered AIO, which blocks in io_submit.
                    .allow_blocking_aio(!spec.direct);
                if spec.sqthread_poll {
                    // fio leaves sq_thread_idle at 0: the kernel's default, one second.
                    builder.sqpoll(1000);
                    if let Some(cpu) = spec.sqthread_poll_cpu {
                        builder.sqpoll_cpu(cpu);
                    }
                }
                builder.iopoll(spec.hipri);
                if let Some(w) = &crash {
                    builder.record(&w.rec);
                }
                if let Some(rules) = &spec.inject {
                    // Validated at parse time; the job's seed makes `p=` rules reproducible.
                    builder.faults(diorite::faults::Faults::parse(
                        rules,
                        spec.offsets.randseed,
                    )?);
                }
                if spec.fixedbufs {
                    builder.register_pool(&pool);
                }
                if spec.registerfiles {
                    for t in targets {
                        builder.register_file(&t.file);
                    }
                }
                IoPath::Ctx(builder.build_local()?)
            }
        };
        let now = Stamp::now();
        let prios = prio::Prios::new(spec, spec.offsets.randseed ^ u64::from(spec.job_number));
        let blank = IoSlot::sync(now, 0);
        Ok(Issuer {
            spec,
            targets,
            _pool: pool,
            bufs,
            io,
            slots: vec![blank; depth + 1],
            free: (0..depth as u32).rev().collect(),
            batch: Vec::with_capacity(spec.batch_submit as usize + 1),
            batch_slots: Vec::with_capacity(spec.batch_submit as usize + 1),
            done: Vec::with_capacity(depth + 1),
            reaped: Vec::with_capacity(depth + 1),
            sync_busy: false,
            crash,
            depths: Depths::default(),
            logs: None,
            data,
            started: Stamp::now(),
            prio_lat: [0, 1].map(|d| {
                if prios.mixed() {
                    prios.table[d].iter().map(|_| Lat::new()).collect()
                } else {
                    Vec::new()
                }
            }),
            prios,
        })
    }

    /// The engine's name for the report, the backend's report, and why backends were skipped.
    pub fn describe(&self) -> (String, String, Vec<String>) {
        match &self.io {
            IoPath::Ctx(ctx) => (
                ctx.backend().to_string(),
                ctx.backend_report(),
                ctx.skipped_backends()
                    .iter()
                    .map(|s| format!("{}: {}", s.kind, s.reason))
                    .collect(),
            ),
            IoPath::Sync(_) => (
                "psync".into(),
                "synchronous: pread/pwrite in the job thread, queue depth 1".into(),
                Vec::new(),
            ),
            IoPath::NullSync(_) => (
                "null".into(),
                "null at iodepth=1: each I/O completes when queued, as fio's null engine".into(),
                Vec::new(),
            ),
        }
    }

    pub fn close(&self) -> diorite::Result<()> {
        match &self.io {
            IoPath::Ctx(ctx) => ctx.close(),
            IoPath::Sync(_) | IoPath::NullSync(_) => Ok(()),
        }
    }

    #[inline]
    pub fn in_flight(&self) -> usize {
        self.bufs.len() - self.free.len() + usize::from(self.sync_busy)
    }

    /// Queues a data I/O in a free slot (the caller checked there is one).
    #[inline]
    pub fn queue_io(&mut self, file: usize, io: &Io) {
        let slot = self.free.pop().expect("caller checked a free slot");
        let t = &self.targets[file];
        let off = t.base + io.offset;
        let len = io.len as usize;
        let (prio, prio_index) = self.prios.pick(io.dir, io.len);
        let ioprio = prio::value(prio);
        if let IoPath::Sync(done) | IoPath::NullSync(done) = &mut self.io {
            let t0 = Stamp::now();
            let buf = &mut self.bufs[slot as usize][..len];
            let res = match io.dir {
                _ if self.spec.is_null() => Ok(len),
                Dir::Write => t.file.write_at(buf, off),
                Dir::Read => t.file.read_at(buf, off),
                // fio's psync trims with BLKDISCARD in the job thread; so does this.
                Dir::Trim => diorite::discard(&t.file, off, io.len).map(|n| n as usize),
            };
            done.push((slot, res, Stamp::now()));
            self.depths.depth[0] += 1;
            // fio counts a synchronous engine's submission and completion batches only when
            // the engine has no commit step: psync has none, the null engine has one, so at
            // iodepth=1 fio's null job shows no submit or complete distribution at all.
            if matches!(self.io, IoPath::Sync(_)) {
                self.depths.submit[1] += 1;
            }
            // No submission step: clat is the whole call.
            self.slots[slot as usize] = IoSlot::io(t0, file, io, (prio_index, ioprio));
            return;
        }
        let ptr = self.bufs[slot as usize].as_mut_ptr();
        let req = match io.dir {
            // SAFETY: `ptr` is buffer `slot` of the job's pool, at least `len` (<= the largest
            // block) bytes; the job owns it in `bufs`, which outlives the context (field order),
            // and touches it again only after this slot's completion is reaped.
            Dir::Write => unsafe { Request::write_raw(&t.file, off, ptr, len) },
            // SAFETY: as above.
            Dir::Read => unsafe { Request::read_raw(&t.file, off, ptr, len) },
            Dir::Trim => Request::discard(&t.file, off, io.len),
        };
        let req = match prio {
            Some((class, level, hint)) => req.with_priority(class, level).with_priority_hint(hint),
            None => req,
        };
        // fio's atomic=1: every write torn-write free (RWF_ATOMIC; the plan checked the limits).
        let req = if self.spec.atomic && io.dir == Dir::Write {
            req.atomic()
        } else {
            req
        };
        let t0 = Stamp::now();
        // t1 is set by `flush`.
        self.slots[slot as usize] = IoSlot::io(t0, file, io, (prio_index, ioprio));
        self.batch.push(req.with_user_data(u64::from(slot)));
        self.batch_slots.push(slot);
        self.depths.depth[Depths::depth_bucket(self.in_flight())] += 1;
    }

    /// Queues a sync of `file`: fdatasync when `data` (the job's `fdatasync=N`), else fsync.
    #[inline]
    pub fn queue_sync(&mut self, file: usize, data: bool) {
        let t = &self.targets[file];
        if let IoPath::Sync(done) | IoPath::NullSync(done) = &mut self.io {
            let slot = self.bufs.len() as u32;
            let t0 = Stamp::now();
            let res = if self.spec.is_null() {
                Ok(())
            } else if data {
                t.file.sync_data()
            } else {
                t.file.sync_all()
            };
            done.push((slot, res.map(|()| 0), Stamp::now()));
            self.slots[slot as usize] = IoSlot::sync(t0, file);
            self.sync_busy = true;
            return;
        }
        let req = if data {
            Request::fdatasync(&t.file)
        } else {
            Request::fsync(&t.file)
        };
        if let Some(w) = &mut self.crash {
            w.sync_issued(file);
        }
        let slot = self.bufs.len() as u32;
        let t0 = Stamp::now();
        // t1 is set by `flush`.
        self.slots[slot as usize] = IoSlot::sync(t0, file);
        self.sync_busy = true;
        self.batch.push(req.with_user_data(u64::from(slot)));
        self.batch_slots.push(slot);
    }

    /// Submits the queued batch (one call) and records submission latency.
    #[inline]
    pub fn flush(&mut self, stats: &mut [DirStats; STATS]) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let IoPath::Ctx(ctx) = &self.io else {
            return Ok(()); // synchronous I/O has no batch
        };
        self.depths.submit[Depths::batch_bucket(self.batch.len())] += self.batch.len() as u64;
        if self.batch.len() == 1 {
            let req = self.batch.pop().expect("one request");
            ctx.submit(req).map_err(|e| e.error)?;
        } else {
            while !self.batch.is_empty() {
                ctx.submit_batch(&mut self.batch)?;
            }
        }
        let t1 = Stamp::now();
        let slat = !self.spec.measure.disable_slat;
        for &s in &self.batch_slots {
            let slot = &mut self.slots[s as usize];
            slot.t1 = t1;
            if slat {
                let ns = t1.duration_since(slot.t0).as_nanos() as u64;
                stats[slot.kind].slat.record(ns);
                if let (Some(l), 0 | 1) = (self.logs.as_mut(), slot.kind) {
                    let off = self.targets[slot.file].base + slot.off;
                    l.submitted(t1, ns, (slot.kind as u8, slot.len, off, slot.ioprio));
                }
            }
        }
        self.batch_slots.clear();
        Ok(())
    }

    /// Waits for at least `min` completions (bounded by `timeout`) and takes up to `max`.
    #[inline]
    pub fn reap(&mut self, min: usize, max: usize, timeout: Duration) -> Result<Stamp> {
        self.done.clear();
        let in_flight = self.in_flight();
        match &mut self.io {
            IoPath::Ctx(ctx) => {
                self.reaped.clear();
                ctx.get_events(min.min(in_flight), max, Some(timeout), &mut self.reaped)?;
                self.done.extend(
                    self.reaped
                        .drain(..)
                        .map(|c| (c.user_data as u32, c.result)),
                );
                let n = self.done.len();
                self.depths.complete[Depths::batch_bucket(n)] += n as u64;
                Ok(Stamp::now())
            }
            IoPath::Sync(done) => Ok(take_sync(done, &mut self.done, Some(&mut self.depths))),
            // As in `queue_io`: no batch counts for the null engine.
            IoPath::NullSync(done) => Ok(take_sync(done, &mut self.done, None)),
        }
    }
}

/// Moves what synchronous I/O completed into `out`, counting the batch in `depths` if given;
/// the stamp of the last completion.
#[inline]
fn take_sync(
    done: &mut Vec<(u32, diorite::Result<usize>, Stamp)>,
    out: &mut Vec<(u32, diorite::Result<usize>)>,
    depths: Option<&mut Depths>,
) -> Stamp {
    let at = done.last().map_or_else(Stamp::now, |d| d.2);
    out.extend(done.drain(..).map(|(s, r, _)| (s, r)));
    if let Some(d) = depths {
        let n = out.len();
        d.complete[Depths::batch_bucket(n)] += n as u64;
    }
    at
}

/// Records a completion's clat and lat, unless the job disabled them (`disable_clat`,
/// `disable_lat`, `gtod_reduce`).
#[inline]
pub fn record_lat(spec: &JobSpec, st: &mut DirStats, tc: Stamp, t0: Stamp, t1: Stamp) {
    if !spec.measure.disable_clat {
        st.clat.record(ns(tc.duration_since(t1)));
    }
    if !spec.measure.disable_lat {
        st.lat.record(ns(tc.duration_since(t0)));
    }
}
