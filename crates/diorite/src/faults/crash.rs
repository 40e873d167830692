//! Crash states: what a power cut may leave of a recorded workload, enumerated, sampled,
//! replayed and rebuilt on a scratch file.
//!
//! The model and the order of the states are documented on [`CrashLog`].

use crate::error::{Error, ErrorKind, Result};
use crate::faults::record::{Op, OpClass, Recorder, Track};
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The record of a workload, from [`Recorder::finish`](crate::faults::Recorder::finish).
///
/// # The model
/// A [`CrashLog`] is the record of one workload (`record.rs`): every write, write-zeroes,
/// discard and flush, stamped with the events at which it was issued and completed. A crash
/// happens at a *point* `p`: the events before `p` happened, the rest never did. At `p`:
/// - **Durable** (always in the crash state): a write that completed before `p` and
///   - was durable at completion (`RWF_DSYNC`, a file opened `O_DSYNC`/`O_SYNC`), or
///   - completed before a successful flush (fsync or fdatasync) of its file was *issued*, and
///     that flush completed before `p`. A flush covers nothing issued or completed after it was
///     issued, and a flush a fault rule dropped covers nothing.
/// - **In the window** (each may be kept, dropped, or torn): every other write issued before
///   `p` — completed or still in flight, and also one that failed (a failed write may have
///   put any of its blocks). A torn write keeps a subset of its *units* (the file's
///   direct-I/O block, or a larger [`Explore::tear_unit`]); an atomic write (`RWF_ATOMIC`) is
///   never torn, only kept or dropped whole.
/// - Writes applied to one block land in completion order (in-flight ones after the completed
///   ones, in issue order), so a write never overwrites one that completed before it was issued.
///
/// Nothing the model allows goes beyond what a device with a volatile write cache may do.
/// What it does not model: filesystem metadata and directory entries (a created, renamed or
/// unlinked file is as it is after the workload; a file's size after a crash is its size when
/// recording began, grown to the end of the last write the state keeps); other orders of two
/// writes in flight together to the same block than completion order; writes made outside the
/// recorded context (other contexts, one-shot calls, buffered writes, other processes), which
/// count as durable; a discard that leaves the old data readable (it is modelled as zeroes).
///
/// # The states
/// [`CrashLog::states`] lists states in a fixed order. First the systematic ones, point by
/// point (only points where the durable set, the window or the acknowledgements changed): while
/// the window holds at most [`Explore::bound`] writes, every subset of it kept (the rest
/// dropped); beyond, all dropped, all kept, and each one dropped alone; then, for each write in
/// the window that can tear, the others kept and only its first half, or only its second half,
/// of units kept. Past the systematic states come sampled ones: a point at random, and each
/// write of its window kept, dropped or torn at random units, from the seed and the index. A
/// state is named by (seed, index): [`CrashLog::state`] rebuilds it exactly.
pub struct CrashLog {
    files: Vec<Track>,
    ops: Vec<Op>,
    /// (event, key) of each acknowledgement, in event order.
    acks: Vec<(u64, u64)>,
    events: u64,
    /// For each op, the event from which it is durable (`None`: never).
    durable_at: Vec<Option<u64>>,
    /// The crash points worth a state, ascending: after each event that changed the durable
    /// set, the window or the acknowledgements.
    points: Vec<u64>,
}

impl fmt::Debug for CrashLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrashLog")
            .field("files", &self.files())
            .field("ops", &self.ops.len())
            .field("events", &self.events)
            .field("points", &self.points.len())
            .finish()
    }
}

/// How to go through a log's crash states: the seed of the sampled ones, how many states at
/// most, the subset bound, the tear unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Explore {
    seed: u64,
    states: u64,
    bound: u32,
    tear_unit: Option<u64>,
}

impl Explore {
    /// At most 1,000 states, every subset of windows of up to 8 writes, tearing at each file's
    /// direct-I/O block.
    pub fn new(seed: u64) -> Explore {
        Explore {
            seed,
            states: 1000,
            bound: 8,
            tear_unit: None,
        }
    }

    /// At most `n` states.
    pub fn states(mut self, n: u64) -> Explore {
        self.states = n;
        self
    }

    /// Every subset of a window is a state while the window holds at most `n` writes (at
    /// most 16: 65,536 states a point).
    pub fn bound(mut self, n: u32) -> Explore {
        self.bound = n.min(16);
        self
    }

    /// Writes tear at multiples of `bytes` (a multiple of each written file's direct-I/O
    /// block; say a device's atomic unit, or the page of a database) instead of the block.
    pub fn tear_unit(mut self, bytes: u64) -> Explore {
        self.tear_unit = Some(bytes);
        self
    }

    /// The seed of the sampled states.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// What a crash state does with a write in its window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// All of it is there.
    Kept,
    /// None of it is there.
    Dropped,
    /// The units marked `true` (in order from its first byte) are there, the others not.
    Torn(Vec<bool>),
}

/// One crash state of a log; see the module docs.
#[derive(Clone)]
pub struct CrashState<'a> {
    log: &'a CrashLog,
    seed: u64,
    index: u64,
    point: u64,
    tear_unit: Option<u64>,
    /// The window's writes, in op order, with their fate.
    fates: Vec<(usize, Fate)>,
}

/// A file after a crash, where the record touched it ([`CrashState::image`]).
#[derive(Clone, Debug)]
pub struct Image {
    /// The file's index in [`CrashLog::files`].
    pub file: usize,
    /// The block size of `blocks` (the file's direct-I/O block).
    pub block: u64,
    /// Every block a recorded write touched, by block number: its bytes after the crash.
    pub blocks: BTreeMap<u64, Box<[u8]>>,
    /// The file's size after the crash (a block device's does not change).
    pub len: u64,
}

/// What [`CrashLog::explore`] went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Explored {
    /// States checked.
    pub states: u64,
    /// Of them, systematic ones (the rest were sampled).
    pub systematic: u64,
    /// How many systematic states the log has in all.
    pub systematic_total: u64,
}

/// The first crash state a check refused, or why exploring could not start.
#[derive(Debug)]
pub struct CrashFailure {
    /// The state's (seed, index), when a check failed.
    pub state: Option<(u64, u64)>,
    /// The state, described: its crash point and the writes it kept, tore and dropped.
    pub described: String,
    /// What the check said.
    pub message: String,
}

impl fmt::Display for CrashFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.described.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}\n  check: {}", self.described, self.message)
        }
    }
}

impl std::error::Error for CrashFailure {}

/// A recovery check's verdict on one state.
pub type CheckResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

impl Recorder {
    /// The record so far, as a log to enumerate crash states from. Recording goes on; call it
    /// once the workload is done (requests still running count as never completed).
    ///
    /// # Errors
    /// [`ErrorKind::Os`] when the old content of a block could not be read while recording
    /// (the record cannot rebuild that block).
    pub fn finish(&self) -> Result<CrashLog> {
        let (files, ops, acks, events) = self
            .snapshot()
            .map_err(|why| Error::new(ErrorKind::Os, "Recorder::finish").with_detail(why))?;
        Ok(CrashLog::new(files, ops, acks, events))
    }
}

impl CrashLog {
    fn new(files: Vec<Track>, ops: Vec<Op>, acks: Vec<(u64, u64)>, events: u64) -> CrashLog {
        let durable_at = durable_events(&ops);
        let mut log = CrashLog {
            files,
            ops,
            acks,
            events,
            durable_at,
            points: Vec::new(),
        };
        log.points = log.find_points();
        log
    }

    /// The recorded operations, in the order they were issued.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The paths of the files written, as opened (indexed by [`Op::file`]).
    pub fn files(&self) -> Vec<&Path> {
        self.files.iter().map(|t| t.path.as_path()).collect()
    }

    /// Events recorded (issues, completions, acknowledgements).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Every acknowledgement as (event, key), in event order.
    pub fn acknowledgements(&self) -> &[(u64, u64)] {
        &self.acks
    }

    /// The crash points that get systematic states.
    pub fn points(&self) -> &[u64] {
        &self.points
    }

    /// Whether op `i` is durable at a crash at `point`.
    pub fn durable(&self, i: usize, point: u64) -> bool {
        self.durable_at[i].is_some_and(|d| d < point)
    }

    /// The writes that may be kept, dropped or torn at a crash at `point`.
    pub fn window(&self, point: u64) -> Vec<usize> {
        (0..self.ops.len())
            .filter(|&i| {
                let op = &self.ops[i];
                op.class != OpClass::Flush
                    && op.len > 0
                    && op.issued < point
                    && !self.durable(i, point)
            })
            .collect()
    }

    /// After each event that issued a write, made one durable or acknowledged something.
    fn find_points(&self) -> Vec<u64> {
        let mut points: Vec<u64> = self
            .ops
            .iter()
            .filter(|o| o.class != OpClass::Flush && o.len > 0)
            .map(|o| o.issued + 1)
            .chain(self.durable_at.iter().flatten().map(|d| d + 1))
            .chain(self.acks.iter().map(|a| a.0 + 1))
            .collect();
        points.sort_unstable();
        points.dedup();
        points
    }

    /// The states in their order (see the module docs), at most `how.states` of them.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a tear unit that is not a multiple of a written file's
    /// direct-I/O block.
    pub fn states(&self, how: &Explore) -> Result<States<'_>> {
        if let Some(u) = how.tear_unit {
            if let Some(t) = self.files.iter().find(|t| u == 0 || u % t.block != 0) {
                return Err(
                    Error::new(ErrorKind::InvalidInput, "CrashLog::states").with_detail(format!(
                        "tear unit {u} is not a multiple of {}'s direct-I/O block {}",
                        t.path.display(),
                        t.block
                    )),
                );
            }
        }
        let mut starts = Vec::with_capacity(self.points.len());
        let mut total = 0u64;
        for &p in &self.points {
            starts.push(total);
            total += self.systematic_at(p, how);
        }
        Ok(States {
            log: self,
            how: *how,
            starts,
            total,
            next: 0,
        })
    }

    /// State `index` of the order `how` gives (its seed, tear unit and bound): the same state
    /// every time. `None` past the last one (a log whose windows are all empty has only its
    /// systematic states).
    pub fn state(&self, how: &Explore, index: u64) -> Result<Option<CrashState<'_>>> {
        let s = self.states(how)?;
        Ok(s.get(index))
    }

    /// Goes through the states in order, at most `how.states` of them, calling `check` on
    /// each; stops at the first it refuses.
    ///
    /// # Errors
    /// The first failing state, described (what it kept, tore and dropped), with the check's
    /// message; or why the states could not be listed.
    pub fn explore<F>(
        &self,
        how: &Explore,
        mut check: F,
    ) -> std::result::Result<Explored, CrashFailure>
    where
        F: FnMut(&CrashState<'_>) -> CheckResult,
    {
        let states = self.states(how).map_err(|e| CrashFailure {
            state: None,
            described: String::new(),
            message: e.to_string(),
        })?;
        let total = states.total;
        let mut done = Explored {
            states: 0,
            systematic: 0,
            systematic_total: total,
        };
        for st in states {
            if let Err(e) = check(&st) {
                return Err(CrashFailure {
                    state: Some((st.seed, st.index)),
                    described: st.to_string(),
                    message: e.to_string(),
                });
            }
            done.states += 1;
            done.systematic += u64::from(st.index < total);
        }
        Ok(done)
    }

    /// How many units write `i` has (for tearing).
    fn units(&self, i: usize, tear_unit: Option<u64>) -> u64 {
        let op = &self.ops[i];
        let u = self.unit(op.file, tear_unit);
        let end = op.offset + op.len;
        end.div_ceil(u) - op.offset / u
    }

    fn unit(&self, file: usize, tear_unit: Option<u64>) -> u64 {
        tear_unit.unwrap_or(self.files[file].block)
    }

    fn tearable(&self, i: usize, tear_unit: Option<u64>) -> bool {
        !self.ops[i].atomic && self.units(i, tear_unit) > 1
    }

    fn systematic_at(&self, point: u64, how: &Explore) -> u64 {
        let w = self.window(point);
        let subsets = whole_write_states(w.len() as u64, how.bound);
        let torn = w
            .iter()
            .filter(|&&i| self.tearable(i, how.tear_unit))
            .count() as u64;
        subsets + 2 * torn
    }

    /// The `k`-th systematic state at `point`.
    fn systematic(&self, how: &Explore, index: u64, point: u64, k: u64) -> CrashState<'_> {
        let w = self.window(point);
        let n = w.len() as u64;
        let subsets = whole_write_states(n, how.bound);
        let fates: Vec<(usize, Fate)> = if k < subsets {
            w.iter()
                .enumerate()
                .map(|(j, &i)| {
                    let kept = if n <= u64::from(how.bound) {
                        k >> j & 1 == 1
                    } else {
                        // 0: all dropped, 1: all kept, 2 + j: all kept but write j.
                        k == 1 || (k >= 2 && k - 2 != j as u64)
                    };
                    (i, if kept { Fate::Kept } else { Fate::Dropped })
                })
                .collect()
        } else {
            let t = (k - subsets) / 2;
            let second = (k - subsets) % 2 == 1;
            let torn = w
                .iter()
                .copied()
                .filter(|&i| self.tearable(i, how.tear_unit))
                .nth(t as usize)
                .unwrap_or(usize::MAX);
            w.iter()
                .map(|&i| {
                    if i != torn {
                        return (i, Fate::Kept);
                    }
                    let u = self.units(i, how.tear_unit);
                    let half = u / 2;
                    let mask = (0..u).map(|x| (x < half) != second).collect();
                    (i, Fate::Torn(mask))
                })
                .collect()
        };
        self.state_of(how, index, point, fates)
    }

    fn state_of(
        &self,
        how: &Explore,
        index: u64,
        point: u64,
        fates: Vec<(usize, Fate)>,
    ) -> CrashState<'_> {
        CrashState {
            log: self,
            seed: how.seed,
            index,
            point,
            tear_unit: how.tear_unit,
            fates,
        }
    }

    /// Sampled state `index` (past the systematic ones), from the seed and the index alone.
    fn sampled(&self, how: &Explore, index: u64) -> Option<CrashState<'_>> {
        let busy: Vec<u64> = self
            .points
            .iter()
            .copied()
            .filter(|&p| !self.window(p).is_empty())
            .collect();
        if busy.is_empty() {
            return None;
        }
        let mut rng = Mix(how.seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let point = busy[(rng.next() % busy.len() as u64) as usize];
        let fates = self
            .window(point)
            .into_iter()
            .map(|i| {
                let tearable = self.tearable(i, how.tear_unit);
                let fate = match rng.next() % if tearable { 3 } else { 2 } {
                    0 => Fate::Kept,
                    1 => Fate::Dropped,
                    _ => Fate::Torn(
                        (0..self.units(i, how.tear_unit))
                            .map(|_| rng.next() & 1 == 1)
                            .collect(),
                    ),
                };
                (i, fate)
            })
            .collect();
        Some(self.state_of(how, index, point, fates))
    }

    /// The index of the recorded file `path` names (the same file: device and inode, or a
    /// block device's number).
    fn file_of(&self, path: &Path) -> Result<usize> {
        const OP: &str = "CrashState::materialise";
        let key = key_of(path)?;
        self.files.iter().position(|t| t.key == key).ok_or_else(|| {
            Error::new(ErrorKind::InvalidInput, OP)
                .with_detail("no recorded write touched this file")
                .at_path(path)
        })
    }
}

/// The identity of the file at `path`, as the recorder keys files.
fn key_of(path: &Path) -> Result<crate::faults::record::FileKey> {
    const OP: &str = "CrashState::materialise";
    let f = File::open(path).map_err(|e| Error::from_io(OP, &e).at_path(path))?;
    let st = crate::sys::statx(f.as_fd())
        .map_err(|e| Error::from_io(OP, &std::io::Error::from_raw_os_error(e)).at_path(path))?;
    Ok((
        st.is_block_device,
        st.dev,
        if st.is_block_device { 0 } else { st.ino },
    ))
}

/// The states of a window of `n` writes that keep or drop them whole: every subset while `n`
/// is within the bound; beyond, all dropped, all kept, and each dropped alone.
fn whole_write_states(n: u64, bound: u32) -> u64 {
    if n <= u64::from(bound) {
        1 << n
    } else {
        n + 2
    }
}

/// For each op, the event from which it is durable: its completion when it was durable at
/// completion; otherwise the completion of the first successful flush of its file issued after
/// it completed.
fn durable_events(ops: &[Op]) -> Vec<Option<u64>> {
    // Per file, its successful flushes by issue event, with the earliest completion among
    // those issued at or after each.
    let mut flushes: BTreeMap<usize, Vec<(u64, u64)>> = BTreeMap::new();
    for f in ops.iter().filter(|f| f.class == OpClass::Flush && f.ok) {
        if let Some(c) = f.completed {
            flushes.entry(f.file).or_default().push((f.issued, c));
        }
    }
    for list in flushes.values_mut() {
        list.sort_unstable();
        for k in (0..list.len().saturating_sub(1)).rev() {
            list[k].1 = list[k].1.min(list[k + 1].1);
        }
    }
    ops.iter()
        .map(|op| {
            if op.class == OpClass::Flush || !op.ok {
                return None;
            }
            let done = op.completed?;
            if op.durable_at_completion {
                return Some(done);
            }
            let list = flushes.get(&op.file)?;
            let k = list.partition_point(|&(issued, _)| issued <= done);
            list.get(k).map(|&(_, c)| c)
        })
        .collect()
}

/// The states of one [`Explore`] order: an iterator, and random access by index.
pub struct States<'a> {
    log: &'a CrashLog,
    how: Explore,
    /// The index of each point's first systematic state.
    starts: Vec<u64>,
    total: u64,
    next: u64,
}

impl fmt::Debug for States<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("States")
            .field("how", &self.how)
            .field("systematic", &self.total)
            .field("next", &self.next)
            .finish()
    }
}

impl<'a> States<'a> {
    /// How many systematic states the log has (before the sampled ones).
    pub fn systematic(&self) -> u64 {
        self.total
    }

    /// State `index`, or `None` past the end.
    pub fn get(&self, index: u64) -> Option<CrashState<'a>> {
        if index >= self.how.states {
            return None;
        }
        if index < self.total {
            let at = self.starts.partition_point(|&s| s <= index) - 1;
            let p = self.log.points[at];
            return Some(
                self.log
                    .systematic(&self.how, index, p, index - self.starts[at]),
            );
        }
        self.log.sampled(&self.how, index)
    }
}

impl<'a> Iterator for States<'a> {
    type Item = CrashState<'a>;

    fn next(&mut self) -> Option<CrashState<'a>> {
        let s = self.get(self.next)?;
        self.next += 1;
        Some(s)
    }
}

impl CrashState<'_> {
    /// The state's seed and index: [`CrashLog::state`] with them rebuilds it.
    pub fn name(&self) -> (u64, u64) {
        (self.seed, self.index)
    }

    /// The crash point: the events before it happened.
    pub fn point(&self) -> u64 {
        self.point
    }

    /// The keys acknowledged ([`Recorder::acknowledge`](crate::faults::Recorder::acknowledge))
    /// before the crash, in order: what recovery must find.
    pub fn acknowledged(&self) -> Vec<u64> {
        self.log
            .acks
            .iter()
            .filter(|a| a.0 < self.point)
            .map(|a| a.1)
            .collect()
    }

    /// The ops durable at the crash.
    pub fn durable(&self) -> Vec<usize> {
        (0..self.log.ops.len())
            .filter(|&i| self.log.durable(i, self.point))
            .collect()
    }

    /// The window's writes and what the state does with each.
    pub fn fates(&self) -> &[(usize, Fate)] {
        &self.fates
    }

    /// Writes `source` (a file the workload wrote) as it would be after this crash to `dest`
    /// (a scratch file, created or replaced; or a block device at least as large): a copy of
    /// `source` as it is now, whose every block a recorded write touched is rebuilt from its
    /// old content and the writes the state applies. A regular `dest` gets the crash state's
    /// size. The source is only read; its blocks untouched by the record are copied as they are.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] when no recorded write touched `source`, or `dest` is
    /// `source` (by any name); the I/O errors of reading `source` and writing `dest`.
    pub fn materialise(&self, source: impl AsRef<Path>, dest: impl AsRef<Path>) -> Result<()> {
        let (source, dest) = (source.as_ref(), dest.as_ref());
        let fi = self.log.file_of(source)?;
        if dest.exists() && key_of(dest)? == self.log.files[fi].key {
            return Err(
                Error::new(ErrorKind::InvalidInput, "CrashState::materialise")
                    .with_detail("the destination is the source itself: it would be overwritten")
                    .at_path(dest),
            );
        }
        let mut src = File::open(source).map_err(|e| io_err(&e, source))?;
        let dest_is_device = std::fs::metadata(dest)
            .map(|m| std::os::unix::fs::FileTypeExt::is_block_device(&m.file_type()))
            .unwrap_or(false);
        let mut dst = OpenOptions::new()
            .write(true)
            .create(!dest_is_device)
            .truncate(!dest_is_device)
            .open(dest)
            .map_err(|e| io_err(&e, dest))?;
        std::io::copy(&mut src, &mut dst).map_err(|e| io_err(&e, dest))?;
        let (blocks, len) = self.blocks_of(fi);
        let b = self.log.files[fi].block;
        for (n, bytes) in &blocks {
            dst.write_all_at(bytes, n * b)
                .map_err(|e| io_err(&e, dest))?;
        }
        if !dest_is_device && !self.log.files[fi].block_device {
            dst.set_len(len).map_err(|e| io_err(&e, dest))?;
        }
        Ok(())
    }

    /// `source` after this crash, in memory, where the record touched it (nothing is read or
    /// written but `source`'s identity): what [`materialise`](CrashState::materialise) would
    /// write over the copy, for a check that needs no scratch file.
    ///
    /// # Errors
    /// As [`materialise`](CrashState::materialise) for `source`.
    pub fn image(&self, source: impl AsRef<Path>) -> Result<Image> {
        let fi = self.log.file_of(source.as_ref())?;
        let (blocks, len) = self.blocks_of(fi);
        Ok(Image {
            file: fi,
            block: self.log.files[fi].block,
            blocks,
            len,
        })
    }

    /// File `fi` after the crash, where the record touched it: every touched block's bytes
    /// (keyed by block number), and the file's size.
    fn blocks_of(&self, fi: usize) -> (BTreeMap<u64, Box<[u8]>>, u64) {
        let t = &self.log.files[fi];
        let mut blocks = t.original.clone();
        let mut len = t.base_len;
        let mut applied: Vec<(usize, Option<&Fate>)> = (0..self.log.ops.len())
            .filter(|&i| self.log.ops[i].file == fi && self.log.durable(i, self.point))
            .map(|i| (i, None))
            .collect();
        applied.extend(
            self.fates
                .iter()
                .filter(|(i, f)| self.log.ops[*i].file == fi && *f != Fate::Dropped)
                .map(|(i, f)| (*i, Some(f))),
        );
        let order = |i: usize| {
            let op = &self.log.ops[i];
            let done = op.completed.filter(|&c| c < self.point).unwrap_or(u64::MAX);
            (done, op.issued)
        };
        applied.sort_by_key(|&(i, _)| order(i));
        let u = self.log.unit(fi, self.tear_unit);
        for (i, fate) in applied {
            let op = &self.log.ops[i];
            let end = op.offset + op.len;
            let first = op.offset / u;
            for (k, n) in (first..end.div_ceil(u)).enumerate() {
                if let Some(Fate::Torn(mask)) = fate {
                    if !mask.get(k).copied().unwrap_or(false) {
                        continue;
                    }
                }
                let (lo, hi) = ((n * u).max(op.offset), ((n + 1) * u).min(end));
                put(&mut blocks, t.block, lo, hi, op);
                len = len.max(hi);
            }
        }
        (blocks, len)
    }
}

fn io_err(e: &std::io::Error, p: &Path) -> Error {
    Error::from_io("CrashState::materialise", e).at_path(p)
}

/// Writes bytes `[lo, hi)` of `op` (a write's data, or zeroes) into the block map.
fn put(blocks: &mut BTreeMap<u64, Box<[u8]>>, b: u64, lo: u64, hi: u64, op: &Op) {
    let mut at = lo;
    while at < hi {
        let n = at / b;
        let stop = ((n + 1) * b).min(hi);
        let block = blocks
            .entry(n)
            .or_insert_with(|| vec![0; b as usize].into_boxed_slice());
        let dst = &mut block[(at - n * b) as usize..(stop - n * b) as usize];
        match op.data() {
            Some(d) => {
                dst.copy_from_slice(&d[(at - op.offset) as usize..(stop - op.offset) as usize])
            }
            None => dst.fill(0),
        }
        at = stop;
    }
}

impl fmt::Display for CrashState<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let log = self.log;
        write!(
            f,
            "crash state (seed {}, index {}): crash after event {} of {}; {} ops durable",
            self.seed,
            self.index,
            self.point,
            log.events,
            self.durable().len()
        )?;
        let acks = self.acknowledged();
        if let Some(last) = acks.last() {
            write!(f, "; {} acknowledged (last: {last})", acks.len())?;
        }
        for (what, want) in [("kept", 0), ("torn", 1), ("dropped", 2)] {
            let list: Vec<String> = self
                .fates
                .iter()
                .filter(|(_, fate)| {
                    want == match fate {
                        Fate::Kept => 0,
                        Fate::Torn(_) => 1,
                        Fate::Dropped => 2,
                    }
                })
                .map(|(i, fate)| {
                    let mut s = describe(log, *i, self.point);
                    if let Fate::Torn(mask) = fate {
                        let kept: Vec<String> = mask
                            .iter()
                            .enumerate()
                            .filter(|(_, k)| **k)
                            .map(|(u, _)| u.to_string())
                            .collect();
                        s += &format!(" (units kept: [{}] of {})", kept.join(","), mask.len());
                    }
                    s
                })
                .collect();
            // The first eight of each: a failing state is read by a person.
            if list.len() > 8 {
                let more = list.len() - 8;
                write!(f, "\n  {what}: {}; and {more} more", list[..8].join("; "))?;
            } else if !list.is_empty() {
                write!(f, "\n  {what}: {}", list.join("; "))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for CrashState<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `#3 write 4096@8192 of wal (issued 5, completed 6)`, as of a crash at `point`.
fn describe(log: &CrashLog, i: usize, point: u64) -> String {
    let op = &log.ops[i];
    let what = match op.class {
        OpClass::Write if op.atomic => "atomic write",
        OpClass::Write => "write",
        OpClass::Zeroes => "zeroes",
        OpClass::Flush => "flush",
    };
    let name = log.files[op.file]
        .path
        .file_name()
        .map_or_else(PathBuf::new, PathBuf::from);
    let done = match op.completed {
        Some(c) if c < point && op.ok => format!("completed {c}"),
        Some(c) if c < point => format!("failed {c}"),
        _ => "in flight at the crash".into(),
    };
    format!(
        "#{i} {what} {}@{} of {} (issued {}, {done})",
        op.len,
        op.offset,
        name.display(),
        op.issued
    )
}

/// splitmix64: the sampled states' randomness.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
