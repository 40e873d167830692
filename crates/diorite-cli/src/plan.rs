//! Planning a run: each job expanded into its clones (`numjobs`) with their files, offsets and
//! start delays; every target checked against its geometry and the free space before anything
//! is created or written; then the files created and laid out, and each clone's handles
//! opened. Nothing here runs I/O of a job.

use crate::job::{self, Plan};
use crate::run::issuer::Target;
use crate::run::layout;
use crate::run::runner;
use crate::spec::{self, JobSpec};
use anyhow::{bail, Context as _, Result};
use diorite::DirectFile;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// The default target: a temp file, written once so reads hit allocated blocks. Removed when
/// dropped.
pub struct TempTarget {
    path: PathBuf,
}

impl Drop for TempTarget {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One job clone, ready to run.
pub struct Prepared {
    pub spec: JobSpec,
    pub name: String,
    /// The reporting group (a `stonewall` or `new_group` starts one).
    pub groupid: u32,
    /// The jobs that run together (a `stonewall` starts the next phase).
    pub phase: u32,
    /// The job (in the plan) this is a clone of, and the job it waits for (`wait_for`).
    pub job: usize,
    pub waits_for: Option<usize>,
    /// Set when another job's end ends this one (`exitall`); and once it started its I/O
    /// (past `wait_for`), for `exit_what=stonewall`, which ends only running jobs.
    pub terminate: AtomicBool,
    pub started: AtomicBool,
    pub seed: u64,
    pub targets: Vec<Target>,
    /// fio's `create_on_open`: the job's files (all of them, in order) to create and open when
    /// the job starts, and whether O_DIRECT.
    pub deferred: Option<(Vec<PathBuf>, bool)>,
}

/// A clone of a job before its files are opened.
struct JobClone {
    spec: JobSpec,
    name: String,
    groupid: u32,
    phase: u32,
    /// The job (in the plan) this is a clone of, and the clone's number in the run.
    job: usize,
    index: u32,
}

/// What a file is and must hold, from every clone that uses it.
struct Need {
    path: PathBuf,
    /// Regions `[start, end)` that reading jobs will read: laid out if not there yet.
    reads: Vec<(u64, u64)>,
    /// Regions only written, with the job's `fallocate`: reserved past the file's end.
    writes: Vec<(u64, u64, spec::Fallocate)>,
    exists: bool,
    /// Every job using the (missing) file has `create_on_open`: its job creates it.
    on_open: bool,
    /// A reading `fill_device` job lays it out until the filesystem is full.
    until_full: bool,
    /// What a layout writes: the first job's data that lays it out.
    data: Option<layout::LayoutData>,
    /// fio's `create_serialize`: made one after another (unless every job using it says 0).
    serialize: bool,
}

/// Plans the run: checks it (options, relations, targets, space), creates and lays out the
/// files, opens each clone's handles. The temp target, when a job has no file, lives as long
/// as the returned guard.
pub fn prepare(plan: &Plan) -> Result<(Vec<Prepared>, Option<TempTarget>)> {
    let waits = job::settle::check(plan)?;
    let clones = expand(plan)?;
    // Pass 1: what each file is and must hold; no side effects.
    let needs = needs(&clones)?;
    if plan.globals.readonly {
        read_only(&clones, &needs)?;
    }
    // Pass 2: check every target against its geometry before anything is created or written:
    // existing ones opened as they are, new ones through an unnamed temp file in their directory.
    check_targets(&clones, &needs)?;
    // Pass 3: plan the layouts, check the free space, then create and lay out.
    let plans = file_plans(&needs)?;
    layout::check_space(&plans)?;
    let (temp, temp_direct) = default_target(&clones)?;
    lay_out(&needs, &plans)?;
    // Pass 4: each clone opens its own handles.
    let out = open_clones(clones, &needs, temp.as_ref(), temp_direct, &waits)?;
    Ok((out, temp))
}

/// fio's `--readonly`: a job that writes or trims is refused (as fio's `fixup_options`), and so
/// is anything else that would change a file: creating or laying one out (where fio logs
/// "refusing extend" and goes on with a file too short), the default target (a temp file
/// diorite writes), `unlink`.
fn read_only(clones: &[JobClone], needs: &[Need]) -> Result<()> {
    for j in clones.iter().map(|c| &c.spec) {
        if j.rw.writes() || j.rw.trims() {
            bail!(
                "job {}: rw={} writes or trims, and --readonly refuses that; nothing was touched",
                j.name,
                format!("{:?}", j.rw).to_lowercase()
            );
        }
        if j.files.unlink || j.files.unlink_each_loop {
            bail!(
                "job {}: unlink deletes files, and --readonly refuses that",
                j.name
            );
        }
        if j.files.filenames.is_empty() && !j.is_null() {
            bail!(
                "job {}: no filename: the default target is a temp file diorite writes, and \
                 --readonly refuses that",
                j.name
            );
        }
    }
    for (n, p) in needs.iter().zip(&file_plans(needs)?) {
        if !n.exists || p.bytes() > 0 {
            bail!(
                "{}: the jobs would have to {} it ({} bytes), and --readonly refuses that",
                n.path.display(),
                if n.exists { "extend" } else { "create" },
                p.bytes()
            );
        }
    }
    Ok(())
}

/// Expands numjobs, with each clone's reporting group and phase, files, offsets and start
/// delay.
fn expand(plan: &Plan) -> Result<Vec<JobClone>> {
    let mut clones: Vec<JobClone> = Vec::new();
    for (i, (j, (group, phase))) in plan.jobs.iter().zip(groups(plan)).enumerate() {
        for k in 0..j.numjobs {
            let index = clones.len() as u32;
            let mut spec = j.to_spec();
            // fio's thread_number: 1 for the run's first job clone (per-job log names).
            spec.job_number = index + 1;
            // fio's `directory`, a `:`-separated list: a relative filename lives in the first;
            // a clone's own files in the clone's (clone k: directory k modulo their number).
            let dirs: Vec<PathBuf> = spec
                .files
                .directory
                .as_ref()
                .map(|d| {
                    d.to_string_lossy()
                        .split(':')
                        .filter(|s| !s.is_empty())
                        .map(PathBuf::from)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(dir) = dirs.first() {
                for f in &mut spec.files.filenames {
                    if f.is_relative() {
                        *f = dir.join(&*f);
                    }
                }
            }
            if spec.files.filenames.is_empty() && !plan.default_job {
                // fio's own files: `nrfiles` of them per clone, named by `filename_format`
                // (default `jobname.N.F`), in the clone's directory (or here), kept.
                let dir = dirs
                    .get(k as usize % dirs.len().max(1))
                    .cloned()
                    .unwrap_or_else(|| PathBuf::from("."));
                // fio names a job's own files after its job-file section, even when `name=`
                // renames the job.
                let stem = j.files.section.as_deref().unwrap_or(&j.name);
                spec.files.filenames = (0..spec.files.nrfiles)
                    .map(|i| dir.join(job::file_name(&spec, stem, k, i)))
                    .collect();
            }
            resolve_offsets(&mut spec, u64::from(k))?;
            if let Some(hi) = spec.startdelay_high.take() {
                // fio: with a range, each clone draws its delay (rand_between, from its seed).
                let lo = spec.startdelay;
                let span = (hi - lo).as_nanos() as u64;
                let mut x = runner::job_seed(&spec, index) ^ 0x7374_6172_7464_6c79;
                x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
                x ^= x >> 33;
                spec.startdelay = lo + Duration::from_nanos(x % (span + 1));
            }
            clones.push(JobClone {
                spec,
                name: j.name.clone(),
                groupid: group,
                phase,
                job: i,
                index,
            });
        }
    }
    // dedupe_global: each such clone's working set takes buffers from every clone of the
    // run in turn (fio's thread numbers), so it needs their seeds.
    let seeds: std::sync::Arc<[u64]> = clones
        .iter()
        .map(|c| runner::job_seed(&c.spec, c.index))
        .collect();
    for (i, c) in clones.iter_mut().enumerate() {
        if let Some(w) = c.spec.data.working_set.as_mut().filter(|w| w.global) {
            w.run_seeds = Some((seeds.clone(), i));
        }
    }
    Ok(clones)
}

fn needs(clones: &[JobClone]) -> Result<Vec<Need>> {
    let mut needs: Vec<Need> = Vec::new();
    // fio's null engine touches no file: null jobs create and lay out nothing (pass 4).
    for c in clones.iter().filter(|c| !c.spec.is_null()) {
        let (j, seed) = (&c.spec, runner::job_seed(&c.spec, c.index));
        for (fi, p) in j.files.filenames.iter().enumerate() {
            let meta = std::fs::metadata(p);
            let is_block = meta.as_ref().is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt;
                m.file_type().is_block_device()
            });
            let exists = meta.is_ok();
            if j.rw.trims() && !is_block {
                bail!(
                    "job {}: rw={} trims block devices only (as fio does); {} is not one",
                    j.name,
                    format!("{:?}", j.rw).to_lowercase(),
                    p.display()
                );
            }
            if !exists && !j.files.allow_file_create {
                bail!(
                    "job {}: {} does not exist, and allow_file_create=0 forbids creating it",
                    j.name,
                    p.display()
                );
            }
            if !exists && j.size.is_none() && !j.files.fill_device {
                bail!(
                    "job {}: {} does not exist; give size= to create it",
                    j.name,
                    p.display()
                );
            }
            if !exists && j.verify_only {
                bail!(
                    "job {}: verify_only: {} does not exist",
                    j.name,
                    p.display()
                );
            }
            if let Ok(m) = &meta {
                if !is_block && !m.is_file() {
                    bail!(
                        "job {}: {} is not a regular file or block device",
                        j.name,
                        p.display()
                    );
                }
            }
            // fio's fill_device for a reading job: the filesystem is filled first.
            let fill_len = (j.files.fill_device && j.file_size(fi).is_none() && !is_block)
                .then(|| -> Result<u64> {
                    let held = meta
                        .as_ref()
                        .map_or(0, |m| m.len())
                        .saturating_sub(j.offsets.offset);
                    Ok(held + layout::free_space(&layout::parent_dir(p))?.0)
                })
                .transpose()?;
            let region = j
                .file_size(fi)
                .or(fill_len)
                // fio's extend_file lays out for reads, and for writes with `overwrite`
                // (not for trims).
                .filter(|_| {
                    (j.rw.reads() || (j.files.overwrite && !j.rw.trims() && fill_len.is_none()))
                        && !is_block
                })
                .map(|s| (j.offsets.offset, j.offsets.offset + s));
            let unit = j.bs.unit().max(1);
            let written = j
                .file_size(fi)
                .filter(|_| j.rw.writes() && region.is_none() && !is_block)
                // fio reserves nothing for a job that fills the device.
                .filter(|_| !j.files.fill_device)
                .map(|s| {
                    (
                        j.offsets.offset,
                        j.offsets.offset + s / unit * unit,
                        j.files.fallocate,
                    )
                });
            match needs.iter_mut().find(|n| &n.path == p) {
                Some(n) => {
                    n.reads.extend(region);
                    n.writes.extend(written);
                    n.on_open &= j.files.create_on_open;
                    n.serialize |= j.files.create_serialize;
                    n.until_full |= fill_len.is_some() && j.rw.reads();
                    if n.data.is_none() && region.is_some() {
                        n.data = Some(layout::LayoutData::of(j, seed));
                    }
                }
                None => needs.push(Need {
                    path: p.clone(),
                    reads: region.into_iter().collect(),
                    writes: written.into_iter().collect(),
                    on_open: j.files.create_on_open && !exists,
                    serialize: j.files.create_serialize,
                    until_full: fill_len.is_some() && j.rw.reads(),
                    data: region.map(|_| layout::LayoutData::of(j, seed)),
                    exists,
                }),
            }
        }
    }
    Ok(needs)
}

/// Opens an existing target as job `j` does (`direct` as decided for it).
fn open_target(p: &Path, j: &JobSpec, direct: bool) -> Result<DirectFile> {
    DirectFile::options()
        .read(true)
        .write(j.rw.writes())
        .direct(direct)
        .dontcache(j.uncached && !direct)
        .sync(j.sync_io)
        .open(p)
        .with_context(|| format!("opening {}", p.display()))
}

fn check_targets(clones: &[JobClone], needs: &[Need]) -> Result<()> {
    for j in clones.iter().map(|c| &c.spec).filter(|j| !j.is_null()) {
        for (fi, p) in j.files.filenames.iter().enumerate() {
            let f = if needs.iter().any(|n| &n.path == p && n.exists) {
                open_target(p, j, j.direct)?
            } else {
                probe_new_file(p, j)?
            };
            region_of(j, &f, p, fi)?;
        }
    }
    Ok(())
}

fn file_plans(needs: &[Need]) -> Result<Vec<layout::FilePlan>> {
    let mut plans = Vec::new();
    for n in needs {
        let len = if n.exists {
            std::fs::metadata(&n.path)
                .with_context(|| format!("{}", n.path.display()))?
                .len()
        } else {
            0
        };
        let data = n
            .data
            .clone()
            .unwrap_or_else(|| layout::LayoutData::of(&JobSpec::default(), 0));
        let mut plan = layout::FilePlan::new(&n.path, len, n.reads.clone(), data);
        plan.until_full = n.until_full;
        plans.push(plan);
    }
    layout::check_space(&plans)?;
    Ok(plans)
}

/// The default target, when a job names no file: returns its guard and whether it is opened
/// with O_DIRECT.
fn default_target(clones: &[JobClone]) -> Result<(Option<TempTarget>, bool)> {
    let default_end = clones
        .iter()
        .map(|c| &c.spec)
        .filter(|j| j.files.filenames.is_empty())
        .map(|j| j.offsets.offset + j.size.unwrap_or(256 << 20))
        .max();
    let mut temp = None;
    let mut temp_direct = true;
    if let Some(end) = default_end {
        // The first temp directory whose filesystem takes O_DIRECT (a tmpfs /tmp does not);
        // buffered in $TMPDIR as the last resort, and the report says so.
        let name = format!("diorite-bench-{}.dat", std::process::id());
        let dirs = [std::env::temp_dir(), PathBuf::from("/var/tmp")];
        let mut made = None;
        for require_direct in [true, false] {
            for d in &dirs {
                let path = d.join(&name);
                let f = DirectFile::options()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .require_direct(require_direct)
                    .open(&path);
                if let Ok(f) = f {
                    made = Some((f, TempTarget { path }));
                    break;
                }
                let _ = std::fs::remove_file(d.join(&name));
            }
            if made.is_some() {
                break;
            }
        }
        let (f, guard) = made.with_context(|| {
            format!(
                "creating the default target {name} in {}",
                dirs[0].display()
            )
        })?;
        for j in clones
            .iter()
            .map(|c| &c.spec)
            .filter(|j| j.files.filenames.is_empty())
        {
            check_hipri(j, &f, &guard.path)?;
        }
        let first = clones
            .iter()
            .find(|c| c.spec.files.filenames.is_empty())
            .expect("a job without a file");
        let data = layout::LayoutData::of(&first.spec, runner::job_seed(&first.spec, first.index));
        let temp_plan = layout::FilePlan::new(&guard.path, 0, vec![(0, end)], data);
        layout::check_space(std::slice::from_ref(&temp_plan))?;
        temp_plan.apply()?;
        temp_direct = f.is_direct();
        temp = Some(guard);
    }
    Ok((temp, temp_direct))
}

/// Creates the files that do not exist (but those their job creates as it starts) and lays
/// them out.
/// fio's `create_serialize` (default 1): the files are made one after another; those whose
/// every job gives `create_serialize=0` are then made at once, one thread each (fio's jobs lay
/// out their own files in parallel then). Either way before any job starts.
fn lay_out(needs: &[Need], plans: &[layout::FilePlan]) -> Result<()> {
    let make = |n: &Need, plan: &layout::FilePlan| -> Result<()> {
        if !n.exists {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&n.path)
                .with_context(|| format!("creating {}", n.path.display()))?;
        }
        plan.apply()?;
        for &(start, end, mode) in &n.writes {
            layout::preallocate(&n.path, start, end, mode)?;
        }
        Ok(())
    };
    // create_on_open files are made by their jobs when they start.
    let todo = needs.iter().zip(plans).filter(|(n, _)| !n.on_open);
    let (parallel, serial): (Vec<_>, Vec<_>) = todo.partition(|(n, _)| !n.serialize);
    for (n, plan) in serial {
        make(n, plan)?;
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = parallel
            .iter()
            .map(|(n, plan)| s.spawn(move || make(n, plan)))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| anyhow::anyhow!("a layout thread panicked"))?
        })
    })
}

fn open_clones(
    clones: Vec<JobClone>,
    needs: &[Need],
    temp: Option<&TempTarget>,
    temp_direct: bool,
    waits: &[Option<usize>],
) -> Result<Vec<Prepared>> {
    let mut out = Vec::new();
    for JobClone {
        spec,
        name,
        groupid,
        phase,
        job,
        index,
    } in clones
    {
        let paths: Vec<PathBuf> = if spec.files.filenames.is_empty() {
            vec![temp.expect("default target made").path.clone()]
        } else {
            spec.files.filenames.clone()
        };
        let direct = spec.direct && (temp_direct || !spec.files.filenames.is_empty());
        let mut targets = Vec::new();
        let mut deferred = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            if needs.iter().any(|n| &n.path == p && n.on_open) {
                deferred.push(p.clone());
                continue;
            }
            let f = if spec.is_null() && !p.exists() {
                null_target(&spec, i)?
            } else {
                open_target(p, &spec, direct)?
            };
            let (base, len) = region_of(&spec, &f, p, i)?;
            targets.push(Target { file: f, base, len });
        }
        out.push(Prepared {
            seed: runner::job_seed(&spec, index),
            spec,
            name,
            groupid,
            phase,
            job,
            waits_for: waits[job],
            terminate: AtomicBool::new(false),
            started: AtomicBool::new(false),
            targets,
            deferred: (!deferred.is_empty()).then_some((deferred, direct)),
        });
    }
    Ok(out)
}

/// fio's `create_on_open`: the job creates and opens its files as it starts.
pub fn open_on_start(p: &Prepared) -> Result<Vec<Target>> {
    let Some((paths, direct)) = &p.deferred else {
        return Ok(Vec::new());
    };
    let mut targets = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let f = DirectFile::options()
            .read(true)
            .write(true)
            .create(true)
            .direct(*direct)
            .dontcache(p.spec.uncached && !*direct)
            .sync(p.spec.sync_io)
            .open(path)
            .with_context(|| format!("creating {} (create_on_open)", path.display()))?;
        let (base, len) = region_of(&p.spec, &f, path, i)?;
        targets.push(Target { file: f, base, len });
    }
    Ok(targets)
}

/// The geometry a file not yet created at `p` will have: an unnamed temp file (`O_TMPFILE`)
/// in the same directory, opened as the job will open it. Creates nothing visible.
fn probe_new_file(p: &Path, j: &JobSpec) -> Result<DirectFile> {
    use std::os::fd::AsRawFd;
    let dir = layout::parent_dir(p);
    let tmp = tempfile::tempfile_in(&dir)
        .with_context(|| format!("{}: cannot create files in {}", p.display(), dir.display()))?;
    DirectFile::options()
        .read(true)
        .write(true)
        .direct(j.direct)
        .dontcache(j.uncached && !j.direct)
        .open(format!("/proc/self/fd/{}", tmp.as_raw_fd()))
        .with_context(|| {
            format!(
                "{}: probing the filesystem of {}",
                p.display(),
                dir.display()
            )
        })
}

/// Each job's reporting group (a `stonewall` or `new_group` starts one) and phase (the jobs
/// that run together; a `stonewall` starts one), in order.
pub fn groups(plan: &Plan) -> Vec<(u32, u32)> {
    let (mut group, mut phase) = (0u32, 0u32);
    let mut v = Vec::with_capacity(plan.jobs.len());
    for (i, j) in plan.jobs.iter().enumerate() {
        if j.stonewall && i > 0 {
            group += 1;
            phase += 1;
        } else if j.new_group && i > 0 {
            group += 1;
        }
        v.push((group, phase));
    }
    v
}

/// fio's percentage forms and `offset_increment` (filesetup.c `get_start_offset`) for clone
/// `k` of its job: the offset is `offset` (or N% of the file) plus `k` increments (bytes, or
/// N% of the file), rounded up to the smallest block when a percentage is involved; `size=N%`
/// is N% of the file. A percentage needs one existing file to measure.
fn resolve_offsets(spec: &mut JobSpec, k: u64) -> Result<()> {
    let pct_incr = matches!(spec.offsets.offset_increment, spec::Incr::Pct(_));
    if spec.size_pct.is_none() && spec.offsets.offset_pct.is_none() && !pct_incr {
        if let spec::Incr::Bytes(b) = spec.offsets.offset_increment {
            spec.offsets.offset += k * b;
        }
        return Ok(());
    }
    let [p] = spec.files.filenames.as_slice() else {
        bail!(
            "job {}: size, offset or offset_increment as a percentage needs exactly one file \
             (several, or the default target, are not supported yet)",
            spec.name
        );
    };
    let len = DirectFile::options()
        .read(true)
        .require_direct(false)
        .open(p)
        .with_context(|| {
            format!(
                "job {}: a percentage of {}, which must exist to be measured",
                spec.name,
                p.display()
            )
        })?
        .len();
    let incr = match spec.offsets.offset_increment {
        spec::Incr::Bytes(b) => b,
        spec::Incr::Pct(q) => len * q / 100,
    };
    let base = spec
        .offsets
        .offset_pct
        .map_or(spec.offsets.offset, |q| len * q / 100);
    let mut off = base + k * incr;
    if spec.offsets.offset_pct.is_some() || pct_incr {
        let a = spec.bs.min().max(1);
        off = off.div_ceil(a) * a;
    }
    spec.offsets.offset = off;
    if let Some(q) = spec.size_pct {
        spec.size = Some(len * q / 100);
    }
    Ok(())
}

/// Whether `j` runs on the null engine (no I/O).
/// The target of a null job whose file does not exist (fio's null engine opens nothing): an
/// unlinked sparse file of the job's size in /var/tmp, never written, gone with the job.
fn null_target(j: &JobSpec, i: usize) -> Result<DirectFile> {
    let Some(size) = j.size else {
        bail!(
            "job {}: ioengine=null needs size= (there is no file to take it from)",
            j.name
        );
    };
    let path = std::env::temp_dir().join(format!(
        "diorite-null-{}-{}-{i}.dat",
        std::process::id(),
        j.name
    ));
    let made = std::fs::File::create(&path)
        .and_then(|f| f.set_len(j.offsets.offset + size))
        .with_context(|| format!("creating the null job's stand-in {}", path.display()));
    let f = made.and_then(|()| {
        DirectFile::options()
            .read(true)
            .write(true)
            .direct(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))
    });
    let _ = std::fs::remove_file(&path);
    f
}

/// `hipri` (IOPOLL) completes only on devices with poll queues: refused up front elsewhere,
/// where every I/O would be refused (fio would spin on interrupts instead).
fn check_hipri(j: &JobSpec, f: &DirectFile, p: &Path) -> Result<()> {
    if j.hipri && !f.geometry().polled {
        bail!(
            "job {}: hipri=1 polls for completions, but {} is on a device without poll queues \
             (sysfs queue/io_poll is 0)",
            j.name,
            p.display()
        );
    }
    Ok(())
}

/// fio's `atomic=1`: every write must be an atomic write the file takes (the engine's rules,
/// `Request::atomic`), checked before anything is written: the file offers atomic writes
/// (O_DIRECT), one write block size that is a power of two within the limits, and offsets that
/// are multiples of it.
fn check_atomic(j: &JobSpec, f: &DirectFile, p: &Path) -> Result<()> {
    if !j.atomic || !j.rw.writes() {
        return Ok(());
    }
    let n = &j.name;
    if j.engine == spec::IoEngine::Sync {
        bail!(
            "job {n}: atomic=1 with a synchronous engine (psync, sync, pvsync, pvsync2) is not \
             supported yet: use io_uring, libaio or threads"
        );
    }
    let Some(a) = f.geometry().atomic_write else {
        bail!(
            "job {n}: atomic=1: {} offers no atomic writes{} (statx STATX_WRITE_ATOMIC reports \
             none)",
            p.display(),
            if f.is_direct() {
                ""
            } else {
                " without O_DIRECT (direct=1)"
            }
        );
    };
    let spec::Bs::Fixed(bs) = j.bs_dirs()[1] else {
        bail!("job {n}: atomic=1 with several write block sizes is not supported yet");
    };
    if !bs.is_power_of_two() || bs < u64::from(a.unit_min) || bs > u64::from(a.unit_max) {
        bail!(
            "job {n}: atomic=1: bs={bs} is not a power of two from {} to {} bytes, the atomic \
             write limits of {}",
            a.unit_min,
            a.unit_max,
            p.display()
        );
    }
    let inc = match j.offsets.offset_increment {
        spec::Incr::Bytes(b) => b,
        _ => 0,
    };
    if j.offsets.offset % bs != 0
        || inc % bs != 0
        || j.offsets.blockalign.is_some_and(|b| b % bs != 0)
    {
        bail!("job {n}: atomic=1: offsets must be multiples of bs={bs} (offset, offset_increment, blockalign)");
    }
    Ok(())
}

/// The region `[base, base + len)` job `j` uses in file `f`, checked against the file.
fn region_of(j: &JobSpec, f: &DirectFile, p: &Path, fi: usize) -> Result<(u64, u64)> {
    check_hipri(j, f, p)?;
    check_atomic(j, f, p)?;
    let g = f.geometry();
    // A job that only reads needs only the read alignment (smaller on some filesystems).
    let align = u64::from(g.offset_align_for(!j.rw.writes()));
    let unit = j.bs.unit();
    if unit % align != 0 || j.bs.min() % align != 0 {
        bail!(
            "job {}: block size {} is not a multiple of {}'s offset alignment ({align} bytes)",
            j.name,
            unit,
            p.display()
        );
    }
    if j.offsets.offset % align != 0 {
        bail!(
            "job {}: offset={} is not a multiple of {}'s offset alignment ({align} bytes)",
            j.name,
            j.offsets.offset,
            p.display()
        );
    }
    let len = match j.file_size(fi) {
        Some(s) => s,
        // fill_device on a regular file: all the free space of its filesystem (fio's
        // get_fs_free_counts), beyond what the file holds past the offset.
        None if j.files.fill_device && !g.is_block_device => {
            let (free, _) = layout::free_space(&layout::parent_dir(p))?;
            f.len().saturating_sub(j.offsets.offset) + free
        }
        None => f.len().saturating_sub(j.offsets.offset),
    };
    let len = len / unit * unit;
    if g.is_block_device && j.offsets.offset + len > f.len() {
        bail!(
            "{} is too small for job {}: offset {} + size {} > {} bytes",
            p.display(),
            j.name,
            j.offsets.offset,
            len,
            f.len()
        );
    }
    if len < j.bs.max() {
        bail!(
            "{} is too small for job {}: region of {len} bytes at offset {} holds no {}-byte block",
            p.display(),
            j.name,
            j.offsets.offset,
            j.bs.max()
        );
    }
    Ok((j.offsets.offset, len))
}

/// Every path the run may create or write (before anything is created): each clone's files,
/// its log prefixes (as files of their directory), the verify state's and dumps' directory, the
/// latency plot, the output file. A server checks them against what its operator allowed.
pub fn written_paths(plan: &Plan) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = Vec::new();
    for c in expand(plan)? {
        let s = &c.spec;
        out.extend(s.files.filenames.iter().cloned());
        // Logs that go back to a client are not written here.
        for log in [
            &s.logs.write_lat_log,
            &s.logs.write_bw_log,
            &s.logs.write_iops_log,
            &s.logs.write_hist_log,
        ]
        .into_iter()
        .flatten()
        .filter(|_| !s.logs.to_client)
        {
            out.push(PathBuf::from(log));
        }
        // The verify state and verify_dump files go to aux_path, or the working directory.
        let v = &s.verification;
        if (s.verify || s.verify_only) && (v.verify_state_save || v.verify_dump) {
            out.push(
                v.aux_path
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join("verify.state"),
            );
        }
    }
    out.extend(plan.globals.latency_plot.iter().cloned());
    out.extend(plan.globals.output.iter().cloned());
    Ok(out)
}
