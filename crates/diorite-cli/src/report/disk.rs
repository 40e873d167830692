//! fio's "Disk stats": the block devices under the targets, from `/sys/block/<dev>/stat`
//! before and after the run, and `util` as fio computes it (the device's busy time over the
//! run's wall time).

use serde_json::{json, Value};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The sysfs `stat` fields fio reports.
#[derive(Clone, Copy, Debug, Default)]
struct Stat {
    ios: [u64; 2],
    merges: [u64; 2],
    ticks: [u64; 2],
    io_ticks: u64,
    in_queue: u64,
}

fn read_stat(dir: &Path) -> Option<Stat> {
    let text = std::fs::read_to_string(dir.join("stat")).ok()?;
    let f: Vec<u64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    (f.len() >= 11).then(|| Stat {
        ios: [f[0], f[4]],
        merges: [f[1], f[5]],
        ticks: [f[3], f[7]],
        io_ticks: f[9],
        in_queue: f[10],
    })
}

/// The sysfs directory of the whole disk holding `path` (the device itself for a block
/// device, the device of its filesystem for a file; a partition's parent disk).
fn disk_dir(path: &Path) -> Option<PathBuf> {
    let m = std::fs::metadata(path).ok()?;
    let dev = if m.file_type().is_block_device() {
        m.rdev()
    } else {
        m.dev()
    };
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let dir = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    if dir.join("partition").exists() {
        dir.parent().map(Path::to_path_buf)
    } else {
        Some(dir)
    }
}

/// A snapshot of the disks under a run's targets.
pub struct Disks {
    start: Instant,
    disks: Vec<(String, PathBuf, Stat)>,
}

impl Disks {
    /// Snapshots the disks under `paths` (each disk once; paths with no disk, e.g. on tmpfs,
    /// are left out).
    pub fn snapshot<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Disks {
        let mut disks: Vec<(String, PathBuf, Stat)> = Vec::new();
        for p in paths {
            let Some(dir) = disk_dir(p) else { continue };
            if disks.iter().any(|d| d.1 == dir) {
                continue;
            }
            let Some(st) = read_stat(&dir) else { continue };
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            disks.push((name, dir, st));
        }
        Disks {
            start: Instant::now(),
            disks,
        }
    }

    /// What changed on each disk since the snapshot, and the wall time since.
    pub fn deltas(&self) -> (Vec<DiskDelta>, Duration) {
        let wall = self.start.elapsed().max(Duration::from_millis(1));
        let mut out = Vec::new();
        for (name, dir, before) in &self.disks {
            let Some(now) = read_stat(dir) else { continue };
            let d = |a: u64, b: u64| a.saturating_sub(b);
            out.push(DiskDelta {
                name: name.clone(),
                ios: [d(now.ios[0], before.ios[0]), d(now.ios[1], before.ios[1])],
                merges: [
                    d(now.merges[0], before.merges[0]),
                    d(now.merges[1], before.merges[1]),
                ],
                ticks: [
                    d(now.ticks[0], before.ticks[0]),
                    d(now.ticks[1], before.ticks[1]),
                ],
                io_ticks: d(now.io_ticks, before.io_ticks),
                in_queue: d(now.in_queue, before.in_queue),
            });
        }
        (out, wall)
    }

    /// What changed since the snapshot: `(text lines, JSON disk_util array)`.
    pub fn report(&self) -> (String, Value) {
        let (deltas, wall) = self.deltas();
        report_of(&deltas, wall)
    }
}

/// Disk counters over `wall` as fio prints them: `(text lines, JSON disk_util array)`.
pub fn report_of(deltas: &[DiskDelta], wall: Duration) -> (String, Value) {
    {
        let wall = wall.max(Duration::from_millis(1));
        let mut text = String::new();
        let mut arr = Vec::new();
        for x in deltas {
            let (name, ios, merges, ticks, in_queue) =
                (&x.name, x.ios, x.merges, x.ticks, x.in_queue);
            let util = (x.io_ticks as f64 * 100.0 / wall.as_millis() as f64).min(100.0);
            text.push_str(&format!(
                "  {name}: ios={}/{}, merge={}/{}, ticks={}/{}, in_queue={in_queue}, util={util:.2}%\n",
                ios[0], ios[1], merges[0], merges[1], ticks[0], ticks[1]
            ));
            arr.push(json!({
                "name": name,
                "read_ios": ios[0],
                "write_ios": ios[1],
                "read_merges": merges[0],
                "write_merges": merges[1],
                "read_ticks": ticks[0],
                "write_ticks": ticks[1],
                "in_queue": in_queue,
                "util": util,
            }));
        }
        if !text.is_empty() {
            text = format!("\nDisk stats (read/write):\n{text}");
        }
        (text, Value::Array(arr))
    }
}

/// One disk's counters over a run (`/sys/block/<dev>/stat` differences).
#[derive(Clone, Debug)]
pub struct DiskDelta {
    pub name: String,
    pub ios: [u64; 2],
    pub merges: [u64; 2],
    pub ticks: [u64; 2],
    pub io_ticks: u64,
    pub in_queue: u64,
}
