//! Laying out files for reading jobs: fill exactly the ranges the jobs will read that the file
//! does not hold yet — nothing below them (a hole, by `ftruncate`), nothing above them, and never
//! a byte the file already has. Planned first, checked against the filesystem's free space, and
//! only then written.

use anyhow::{bail, Context as _, Result};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The layout of one regular file: ranges to fill, in order, each starting at or past the
/// file's length at that point (so existing bytes are never rewritten).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePlan {
    pub path: PathBuf,
    /// `(from, to)`: bytes to write. A `from` past the file's length then leaves a hole below.
    pub fill: Vec<(u64, u64)>,
    /// fio's `fill_device` for a reading job: the layout fills the filesystem, and ENOSPC or
    /// EDQUOT end it without an error (the file then holds what fitted).
    pub until_full: bool,
}

impl FilePlan {
    /// Plans `path` (now `len` bytes long) so that every region `[start, end)` is backed by data.
    pub fn new(path: &Path, len: u64, mut regions: Vec<(u64, u64)>) -> FilePlan {
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
        let chunk = vec![0xa5u8; 1 << 20];
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
        let plan = FilePlan::new(p, 1 << 20, vec![(1 << 40, (1 << 40) + 4096)]);
        assert_eq!(plan.fill, [(1 << 40, (1 << 40) + 4096)]);
        assert_eq!(plan.bytes(), 4096);
        // An existing file of 1,000,100 bytes and a job over [0, 2 MiB): from the exact end.
        let plan = FilePlan::new(p, 1_000_100, vec![(0, 2 << 20)]);
        assert_eq!(plan.fill, [(1_000_100, 2 << 20)]);
        // Overlapping and covered regions.
        let plan = FilePlan::new(p, 4096, vec![(8192, 16384), (0, 4096), (12288, 20480)]);
        assert_eq!(plan.fill, [(8192, 16384), (16384, 20480)]);
    }
}
