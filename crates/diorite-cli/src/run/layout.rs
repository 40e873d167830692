//! Laying out files for reading jobs: fill exactly the ranges the jobs will read that the file
//! does not hold yet — nothing below them (a hole, by `ftruncate`), nothing above them, and never
//! a byte the file already has. Planned first, checked against the filesystem's free space, and
//! only then written. The bytes are what fio's `extend_file` writes: the job's write buffers
//! (`fill_io_buffer` per block of its largest write size) — random unless the job's data
//! options say otherwise — so compressing or deduplicating storage holds what it would under fio.

use anyhow::{bail, Context as _, Result};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The layout of one regular file: ranges to fill, in order, each starting at or past the
/// file's length at that point (so existing bytes are never rewritten).
#[derive(Debug, Clone, PartialEq)]
pub struct FilePlan {
    pub path: PathBuf,
    /// `(from, to)`: bytes to write. A `from` past the file's length then leaves a hole below.
    pub fill: Vec<(u64, u64)>,
    /// fio's `fill_device` for a reading job: the layout fills the filesystem, and ENOSPC or
    /// EDQUOT end it without an error (the file then holds what fitted).
    pub until_full: bool,
    /// What the bytes are: the first job's data options, written in blocks of its largest
    /// write size.
    pub data: LayoutData,
}

/// The data a layout writes (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct LayoutData {
    pub opts: crate::spec::DataOpts,
    /// The block of each fill (fio: the largest write size), and the smallest write (the
    /// compression segment's bound).
    pub block: u64,
    pub min_write: u64,
    pub seed: u64,
}

impl LayoutData {
    pub fn of(j: &crate::spec::JobSpec, seed: u64) -> LayoutData {
        let w = &j.bs_dirs()[1];
        LayoutData {
            opts: j.data.clone(),
            block: w.max().max(1),
            min_write: w.min().max(1),
            seed: seed ^ 0x6c61_796f_7574,
        }
    }
}

impl FilePlan {
    /// Plans `path` (now `len` bytes long) so that every region `[start, end)` is backed by data.
    pub fn new(path: &Path, len: u64, mut regions: Vec<(u64, u64)>, data: LayoutData) -> FilePlan {
        regions.sort_unstable();
        let mut fill = Vec::new();
        let mut at = len;
        for (start, end) in regions {
            if end <= at {
                continue;
            }
            let from = start.max(at);
            fill.push((from, end));
            at = end;
        }
        FilePlan {
            path: path.to_owned(),
            fill,
            until_full: false,
            data,
        }
    }

    /// Bytes this plan writes.
    pub fn bytes(&self) -> u64 {
        self.fill.iter().map(|(a, b)| b - a).sum()
    }

    /// Writes the plan: buffered, at exact offsets (no alignment rounding, so a partial last
    /// block of the file is left as it is), then `fdatasync`.
    pub fn apply(&self) -> Result<()> {
        if self.fill.is_empty() {
            return Ok(());
        }
        let what = || format!("laying out {}", self.path.display());
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .with_context(what)?;
        let d = &self.data;
        let mut filler = crate::run::data::Filler::new(&d.opts, d.min_write, d.seed);
        // Whole fill blocks per write call, about 1 MiB at a time.
        let per_call = (((1 << 20) / d.block).max(1) * d.block) as usize;
        let mut chunk = vec![0u8; per_call];
        for &(from, to) in &self.fill {
            let len = f.metadata().with_context(what)?.len();
            if from < len {
                bail!(
                    "{}: refusing to overwrite existing bytes at {from} (the file is {len} bytes)",
                    what()
                );
            }
            if from > len {
                // A hole below the job's region: nothing is written there.
                f.set_len(from).with_context(what)?;
            }
            let mut off = from;
            while off < to {
                let n = (to - off).min(chunk.len() as u64) as usize;
                for (i, b) in chunk[..n].chunks_mut(d.block as usize).enumerate() {
                    filler.layout(b, off + (i as u64) * d.block);
                }
                match f.write_all_at(&chunk[..n], off) {
                    Err(e)
                        if self.until_full
                            && matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) =>
                    {
                        break; // full: what fitted is the file
                    }
                    r => r.with_context(what)?,
                }
                off += n as u64;
            }
        }
        f.sync_data().with_context(what)?;
        Ok(())
    }
}

/// fio's `fallocate` for a writing job's region `[start, end)` of a regular file: only the
/// part past the file's end is reserved (existing bytes are never touched, where fio would
/// recreate a file too small for a write job). `Native` is `fallocate(2)` mode 0 (the size
/// grows to `end`), `Keep` keeps the size, `Truncate` only sets the size.
pub fn preallocate(path: &Path, start: u64, end: u64, mode: crate::spec::Fallocate) -> Result<()> {
    use crate::spec::Fallocate;
    use std::os::fd::AsRawFd;
    let what = || format!("preallocating {} (fallocate)", path.display());
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(what)?;
    let from = start.max(f.metadata().with_context(what)?.len());
    if from >= end {
        return Ok(());
    }
    let flags = match mode {
        Fallocate::None => return Ok(()),
        Fallocate::Truncate => return f.set_len(end).with_context(what),
        Fallocate::Native => 0,
        Fallocate::Keep => libc::FALLOC_FL_KEEP_SIZE,
    };
    let (off, len) = (
        libc::off_t::try_from(from).with_context(what)?,
        libc::off_t::try_from(end - from).with_context(what)?,
    );
    // SAFETY: `f` is an open descriptor for the duration of the call; no memory is passed.
    if unsafe { libc::fallocate(f.as_raw_fd(), flags, off, len) } != 0 {
        let e = std::io::Error::last_os_error();
        if mode == Fallocate::Native {
            // fio's native mode goes on without a reservation when the call fails (filesystem
            // without fallocate, no space): the job's writes then meet the same condition.
            return Ok(());
        }
        return Err(e).with_context(what);
    }
    Ok(())
}

/// Free bytes for unprivileged writers on the filesystem holding `dir`, and its device.
pub fn free_space(dir: &Path) -> Result<(u64, u64)> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .with_context(|| format!("{}: path contains a NUL byte", dir.display()))?;
    // SAFETY: an all-zero statvfs is a valid value to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string; `st` is a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("statvfs {}", dir.display()));
    }
    let dev = std::fs::metadata(dir)
        .with_context(|| format!("{}", dir.display()))?
        .dev();
    Ok((st.f_bavail as u64 * st.f_frsize as u64, dev))
}

/// The directory a (possibly not yet existing) file lives in.
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Refuses, before anything is written, plans that do not fit their filesystems' free space.
pub fn check_space(plans: &[FilePlan]) -> Result<()> {
    let mut per_fs: Vec<(u64, u64, u64, PathBuf)> = Vec::new(); // (dev, need, free, dir)
    for p in plans.iter().filter(|p| p.bytes() > 0) {
        let dir = parent_dir(&p.path);
        let (free, dev) = free_space(&dir)?;
        match per_fs.iter_mut().find(|x| x.0 == dev) {
            Some(x) => x.1 += p.bytes(),
            None => per_fs.push((dev, p.bytes(), free, dir)),
        }
    }
    for (_, need, free, dir) in per_fs {
        if need > free {
            bail!(
                "laying out the job's files needs {need} bytes on the filesystem of {}, which has \
                 {free} bytes free; nothing was written",
                dir.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_fill_only_what_jobs_read_and_never_below_the_end() {
        let p = Path::new("f");
        // A job reading [1 TiB, 1 TiB + 4 KiB) of a 1 MiB file: one 4 KiB fill, hole below.
        let d = LayoutData::of(&crate::spec::JobSpec::default(), 1);
        let plan = FilePlan::new(p, 1 << 20, vec![(1 << 40, (1 << 40) + 4096)], d.clone());
        assert_eq!(plan.fill, [(1 << 40, (1 << 40) + 4096)]);
        assert_eq!(plan.bytes(), 4096);
        // An existing file of 1,000,100 bytes and a job over [0, 2 MiB): from the exact end.
        let plan = FilePlan::new(p, 1_000_100, vec![(0, 2 << 20)], d.clone());
        assert_eq!(plan.fill, [(1_000_100, 2 << 20)]);
        // Overlapping and covered regions.
        let plan = FilePlan::new(p, 4096, vec![(8192, 16384), (0, 4096), (12288, 20480)], d);
        assert_eq!(plan.fill, [(8192, 16384), (16384, 20480)]);
    }
}
