//! The option table: one declarative entry per option — fio's name and aliases, the value type
//! (which decides how the value is parsed, with fio's rules), its help group, its default (as
//! it would be written; a test checks that giving it changes nothing), an example value that
//! must change the parsed job (the table walk test checks every entry), the help text, and the
//! setter that stores it in the job spec. `--help` is built from the entries. An option that is
//! not here is refused by name.

use crate::spec::value::{self, Unit};
use crate::spec::{Bs, Dist, Eta, Globals, Incr, IoEngine, JobSpec, OutputFormat, PrioSplit, Rw};
use anyhow::{anyhow, bail, Result};
use std::path::PathBuf;
use std::time::Duration;

/// How an option's value is written and parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// Text, parsed by the setter.
    Str,
    /// Text that may be left out (`write_bw_log` alone: the setter sees "").
    OptStr,
    /// A size with fio's suffixes per `kb_base`, arithmetic allowed.
    Size,
    /// A duration (plain numbers are seconds), arithmetic allowed.
    Time,
    /// A duration where plain numbers are microseconds (fio's `thinktime` family).
    TimeUs,
    /// A whole number in `min..=max`, arithmetic allowed.
    Int(u64, u64),
    /// `0` or `1`; alone, `1`.
    Bool,
    /// One of the listed values (the first list); the second lists fio's values diorite
    /// refuses. Errors and the table walk take the lists from here, so the setter sees only a
    /// listed value.
    Choice(&'static [&'static str], &'static [&'static str]),
}

/// A parsed value, as the setter receives it.
#[derive(Clone, Debug)]
pub enum Val {
    Str(String),
    Num(u64),
    Time(Duration),
    Bool(bool),
}

impl Val {
    fn str(&self) -> &str {
        match self {
            Val::Str(s) => s,
            _ => "",
        }
    }
    fn num(&self) -> u64 {
        match self {
            Val::Num(n) => *n,
            _ => 0,
        }
    }
    fn time(&self) -> Duration {
        match self {
            Val::Time(t) => *t,
            _ => Duration::ZERO,
        }
    }
    fn bool(&self) -> bool {
        matches!(self, Val::Bool(true))
    }
}

/// Where an option applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Job,
    /// The whole run (output, reporting): not part of any job.
    Global,
}

/// One option. See the module docs.
pub struct Opt {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub kind: ValueKind,
    pub scope: Scope,
    /// Where `--help` lists it.
    pub group: Group,
    /// The value the option has when it is not given, as it would be written (`""`: none, or
    /// one that depends on other options, said in the help). A test checks that giving it
    /// changes nothing.
    pub default: &'static str,
    pub help: &'static str,
    /// A value that changes the parsed job from the defaults (checked by the walk test).
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the table walk test"))]
    pub example: &'static str,
    pub set: fn(&mut JobSpec, &mut Globals, &Val) -> Result<()>,
}

impl ValueKind {
    /// Parses a raw value (already `${VAR}`-expanded) for option `name`.
    pub fn parse(self, name: &str, raw: Option<&str>, kb_base: u32) -> Result<Val> {
        let need = || {
            raw.map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| anyhow!("option {name} needs a value ({name}=...)"))
        };
        let ctx = |e: anyhow::Error| anyhow!("{name}={}: {e}", raw.unwrap_or(""));
        Ok(match self {
            ValueKind::Str => Val::Str(need()?.to_string()),
            ValueKind::OptStr => Val::Str(raw.unwrap_or("").trim().to_string()),
            ValueKind::Size => Val::Num(value::size(need()?, kb_base).map_err(ctx)?),
            ValueKind::Time => Val::Time(value::time(need()?).map_err(ctx)?),
            ValueKind::TimeUs => Val::Time(value::time_us(need()?).map_err(ctx)?),
            ValueKind::Int(min, max) => {
                let n = value::eval(need()?, Unit::Count).map_err(ctx)?;
                if n < min || n > max {
                    bail!("{name}={}: must be between {min} and {max}", need()?);
                }
                Val::Num(n)
            }
            ValueKind::Choice(values, refused) => {
                let x = need()?;
                if values.contains(&x) {
                    Val::Str(x.to_string())
                } else if refused.contains(&x) {
                    bail!(
                        "{name}={x}: fio's value, not supported by diorite (supported: {})",
                        values.join(", ")
                    )
                } else {
                    bail!(
                        "{name}={x}: expected one of: {}{}",
                        values.join(", "),
                        crate::spec::suggest::did_you_mean(x, values.iter().copied())
                    )
                }
            }
            ValueKind::Bool => Val::Bool(match raw.map(str::trim) {
                None | Some("") | Some("1") | Some("true") => true,
                Some("0") | Some("false") => false,
                Some(x) => bail!("{name}={x}: expected 0 or 1"),
            }),
        })
    }

    /// Whether the option may stand alone (`--time_based`).
    pub fn is_flag(self) -> bool {
        matches!(self, ValueKind::Bool | ValueKind::OptStr)
    }
}

/// fio's per-direction values `READ[,WRITE[,TRIM]]`: one value applies to every direction, an
/// empty one leaves its direction alone. The trim value is returned apart: it only matters to
/// a job that trims, which `job::settle` refuses for now.
fn per_dir(
    name: &str,
    v: &str,
    parse: impl Fn(&str) -> Result<u64>,
) -> Result<([Option<u64>; 2], bool)> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let one = |x: &str| -> Result<Option<u64>> {
        if x.is_empty() {
            return Ok(None);
        }
        let n = parse(x).map_err(|e| anyhow!("{name}={v}: {e}"))?;
        Ok((n > 0).then_some(n))
    };
    match parts.as_slice() {
        [all] => {
            let n = one(all)?;
            Ok(([n, n], n.is_some()))
        }
        [r, w] => Ok(([one(r)?, one(w)?], false)),
        [r, w, t] => Ok(([one(r)?, one(w)?], one(t)?.is_some())),
        _ => bail!("{name}={v}: expected READ[,WRITE[,TRIM]]"),
    }
}

/// A small number per direction (`R[,W]`; one value for both; an empty one leaves the
/// direction's default 0), each in `lo..=hi`.
fn per_dir_small(name: &str, v: &str, lo: u8, hi: u8) -> Result<[u8; 2]> {
    let one = |x: &str| -> Result<u8> {
        if x.trim().is_empty() {
            return Ok(0);
        }
        x.trim()
            .parse::<u8>()
            .ok()
            .filter(|n| (lo..=hi).contains(n))
            .ok_or_else(|| anyhow!("{name}={v}: {x:?} is not a whole number from {lo} to {hi}"))
    };
    match v.split(',').collect::<Vec<_>>().as_slice() {
        [all] => Ok([one(all)?; 2]),
        [r, w] => Ok([one(r)?, one(w)?]),
        _ => bail!("{name}={v}: expected READ[,WRITE]"),
    }
}

/// fio's `cmdprio_bssplit`: per direction (`,`), `BS/PERCENT[/CLASS/LEVEL[/HINT]]` entries (`:`),
/// the percentages of one direction adding up to at most 100.
fn parse_cmdprio_bssplit(v: &str, kb_base: u32) -> Result<[Vec<PrioSplit>; 2]> {
    let mut out: [Vec<PrioSplit>; 2] = Default::default();
    let dirs: Vec<&str> = v.split(',').collect();
    if dirs.len() > 2 {
        bail!("cmdprio_bssplit={v}: expected READ[,WRITE] lists");
    }
    for (d, list) in dirs.iter().enumerate() {
        let mut sum = 0;
        for e in list.split(':').filter(|e| !e.trim().is_empty()) {
            let f: Vec<&str> = e.split('/').map(str::trim).collect();
            let bad =
                || anyhow!("cmdprio_bssplit={v}: {e:?} is not BS/PERCENT[/CLASS/LEVEL[/HINT]]");
            let (bs, pct, prio) = match f.as_slice() {
                [bs, p] => (bs, p, None),
                [bs, p, c, l, hint @ ..] if hint.len() <= 1 => {
                    let c: u8 = c
                        .parse()
                        .ok()
                        .filter(|c| (1..=3).contains(c))
                        .ok_or_else(bad)?;
                    let l: u8 = l.parse().ok().filter(|l| *l <= 7).ok_or_else(bad)?;
                    // fio 3.36's fifth field: the priority hint (10 bits).
                    let h: u16 = match hint {
                        [h] => h
                            .parse()
                            .ok()
                            .filter(|h| *h <= diorite::MAX_PRIORITY_HINT)
                            .ok_or_else(bad)?,
                        _ => 0,
                    };
                    (bs, p, Some((c, l, h)))
                }
                _ => return Err(bad()),
            };
            let bs = value::size(bs, kb_base).map_err(|_| bad())?;
            let pct: u32 = pct.parse().ok().filter(|p| *p <= 100).ok_or_else(bad)?;
            sum += pct;
            out[d].push(PrioSplit {
                bs,
                perc: pct,
                prio,
            });
        }
        if sum > 100 {
            bail!("cmdprio_bssplit={v}: the percentages of a direction add up to more than 100");
        }
    }
    if dirs.len() == 1 {
        out[1] = out[0].clone();
    }
    Ok(out)
}

/// `N%` (1..=100) as fio's percentage forms of `size`, `offset`, `offset_increment`; `None`
/// for anything else.
fn pct(name: &str, v: &str) -> Result<Option<u64>> {
    let Some(n) = v.strip_suffix('%') else {
        return Ok(None);
    };
    match n.trim().parse::<u64>() {
        Ok(p) if (1..=100).contains(&p) => Ok(Some(p)),
        _ => bail!("{name}={v}: a percentage is a whole number from 1 to 100"),
    }
}

fn parse_bs(name: &str, v: &str, kb_base: u32) -> Result<u64> {
    let b = value::size(v, kb_base).map_err(|e| anyhow!("{name}={v}: {e}"))?;
    if b == 0 || b > 64 << 20 {
        bail!("{name}={v}: block size must be between 1 byte and 64 MiB");
    }
    Ok(b)
}

pub(super) fn parse_bssplit(v: &str, kb_base: u32) -> Result<Bs> {
    let mut parts = Vec::new();
    for item in v.split(':') {
        let (size, pct) = item.split_once('/').unwrap_or((item, ""));
        let size = parse_bs("bssplit", size, kb_base)?;
        let pct = if pct.is_empty() {
            None
        } else {
            let p: u32 = pct
                .trim()
                .parse()
                .map_err(|_| anyhow!("bssplit={v}: {pct:?} is not a percentage"))?;
            if p > 100 {
                bail!("bssplit={v}: {p} is more than 100 percent");
            }
            Some(p)
        };
        parts.push((size, pct));
    }
    let given: u32 = parts.iter().filter_map(|p| p.1).sum();
    let open = parts.iter().filter(|p| p.1.is_none()).count() as u32;
    if given > 100 || (open == 0 && given != 100) {
        bail!("bssplit={v}: the percentages must add up to 100");
    }
    // Sizes without a percentage share what is left evenly (fio's rule); the first takes the
    // remainder of the division.
    let mut rest = 100 - given;
    let mut out = Vec::new();
    let mut first_open = true;
    for (size, pct) in parts {
        let w = match pct {
            Some(p) => p,
            None => {
                let share = (100 - given) / open;
                let w = if first_open {
                    rest - share * (open - 1)
                } else {
                    share
                };
                first_open = false;
                rest -= w.min(rest);
                w
            }
        };
        out.push((size, w));
    }
    Ok(Bs::Split(out))
}

/// An errno by fio's spelling: a number or a symbol (`EIO`, `ENOSPC` ...).
fn parse_errno(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (n > 0).then_some(n);
    }
    Some(match s.trim_start_matches('-') {
        "EPERM" => libc::EPERM,
        "ENOENT" => libc::ENOENT,
        "EINTR" => libc::EINTR,
        "EIO" => libc::EIO,
        "ENXIO" => libc::ENXIO,
        "EBADF" => libc::EBADF,
        "EAGAIN" | "EWOULDBLOCK" => libc::EAGAIN,
        "ENOMEM" => libc::ENOMEM,
        "EACCES" => libc::EACCES,
        "EFAULT" => libc::EFAULT,
        "EBUSY" => libc::EBUSY,
        "EEXIST" => libc::EEXIST,
        "ENODEV" => libc::ENODEV,
        "EINVAL" => libc::EINVAL,
        "EFBIG" => libc::EFBIG,
        "ENOSPC" => libc::ENOSPC,
        "EROFS" => libc::EROFS,
        "ENODATA" => libc::ENODATA,
        "ETIMEDOUT" => libc::ETIMEDOUT,
        "EILSEQ" => libc::EILSEQ,
        "EOPNOTSUPP" => libc::EOPNOTSUPP,
        "EDQUOT" => libc::EDQUOT,
        "ECANCELED" => libc::ECANCELED,
        "EREMOTEIO" => libc::EREMOTEIO,
        "EMEDIUMTYPE" => libc::EMEDIUMTYPE,
        _ => return None,
    })
}

/// fio's engine names. The synchronous ones (`psync`, `sync`, `pvsync2`) run in the job thread
/// at queue depth 1, as in fio.
pub fn parse_engine(s: &str) -> Result<IoEngine> {
    use diorite::BackendChoice;
    Ok(match s {
        "auto" => IoEngine::Async(BackendChoice::Auto),
        "io_uring" | "uring" => IoEngine::Async(BackendChoice::IoUring),
        "libaio" | "aio" => IoEngine::Async(BackendChoice::Aio),
        // glibc's POSIX AIO is a thread pool doing pread/pwrite, one worker per file
        // descriptor at a time: diorite's pool, sized by the issuer (`JobSpec::posix_aio`).
        "threads" | "posixaio" => IoEngine::Async(BackendChoice::Threads),
        // fio's null engine: the whole engine, no device (diorite's null backend).
        "null" => IoEngine::Async(BackendChoice::Null),
        "psync" | "sync" | "pvsync" | "pvsync2" => IoEngine::Sync,
        _ => bail!(
            "ioengine={s}: unknown engine (supported: io_uring, libaio, psync, sync, pvsync, \
             pvsync2, threads, null, auto)"
        ),
    })
}

macro_rules! opt {
    ($name:literal, [$($alias:literal),*], $kind:expr, $scope:ident, $group:expr,
     $default:literal, $example:literal, $help:literal,
     |$j:ident, $g:ident, $v:ident| $body:expr) => {
        Opt {
            name: $name,
            aliases: &[$($alias),*],
            kind: $kind,
            scope: Scope::$scope,
            group: $group,
            default: $default,
            help: $help,
            example: $example,
            set: |$j, $g, $v| {
                let _ = (&$j, &$g, &$v);
                $body;
                Ok(())
            },
        }
    };
}

/// An option of fio's io_uring engine (`fixedbufs`, `registerfiles`): fio knows it only where
/// the engine in effect when it is read is io_uring ("Bad option" otherwise, as for
/// `ioengine=psync` then `fixedbufs=1`, or `fixedbufs=1` in a `[global]` section before any
/// engine); a later section switching to another engine keeps it, unused, as fio does.
/// diorite's `auto` (io_uring where the kernel has it) takes it too.
fn uring_engine_option(j: &JobSpec, name: &str) -> Result<()> {
    use diorite::BackendChoice::{Auto, IoUring};
    if !matches!(j.engine, IoEngine::Async(IoUring | Auto)) {
        bail!(
            "{name} is an option of fio's io_uring engine; the ioengine in effect where it is \
             given is not io_uring (set ioengine=io_uring before it)"
        );
    }
    Ok(())
}

/// `" (did you mean X?)"` for a mistyped option name: the nearest names and aliases, spelled
/// for the command line (`--X`) or for a job file.
pub fn nearest(name: &str, command_line: bool) -> String {
    let names = OPTIONS
        .iter()
        .flat_map(|o| std::iter::once(o.name).chain(o.aliases.iter().copied()));
    let s = crate::spec::suggest::did_you_mean(name, names);
    if command_line {
        s.replace("mean ", "mean --").replace(" or ", " or --")
    } else {
        s
    }
}

/// Every option `diorite bench` accepts.
pub static OPTIONS: &[Opt] =
    &[
        opt!(
            "name",
            [],
            ValueKind::Str,
            Job, Group::Job, "",
            "other",
            "job name; on the command line, starts a new job",
            |j, g, v| j.name = v.str().to_string()
        ),
        opt!(
            "rw",
            ["readwrite"],
            ValueKind::Str,
            Job, Group::Job, "read",
            "randwrite",
            "read, write, randread, randwrite, rw|readwrite, randrw, trims (default read); \
             PATTERN:MOD adds fio's offset modifier (sequential: bytes added to each next offset, \
             negative goes backwards; random: I/Os per random offset, see rw_sequencer)",
            |j, g, v| {
                let (p, m) = v.str().split_once(':').unwrap_or((v.str(), ""));
                j.rw = Rw::parse(p)?;
                j.offsets.rw_modifier = (!m.is_empty()).then(|| m.to_string());
            }
        ),
        opt!(
            "rwmixread",
            [],
            ValueKind::Int(0, 100),
            Job, Group::Job, "50",
            "70",
            "percent of reads in a mixed workload (default 50)",
            |j, g, v| j.rwmixread = v.num() as u32
        ),
        opt!(
            "rwmixwrite",
            [],
            ValueKind::Int(0, 100),
            Job, Group::Job, "50",
            "30",
            "percent of writes in a mixed workload",
            |j, g, v| j.rwmixread = 100 - v.num() as u32
        ),
        opt!(
            "bs",
            ["blocksize"],
            ValueKind::Str,
            Job, Group::Job, "4k",
            "8k",
            "block size (default 4k); per direction R[,W] (4k,64k: reads 4k, writes 64k)",
            |j, g, v| {
                let kb = j.kb_base;
                j.set_bs("bs", v.str(), |x| Ok(Bs::Fixed(parse_bs("bs", x, kb)?)))?
            }
        ),
        opt!(
            "bsrange",
            ["blocksize_range"],
            ValueKind::Str,
            Job, Group::Job, "",
            "4k-64k",
            "block sizes min-max, e.g. 4k-64k (multiples of min); per direction R[,W]",
            |j, g, v| {
                let kb = j.kb_base;
                j.set_bs("bsrange", v.str(), |s| {
                    let (a, b) = s
                        .split_once('-')
                        .filter(|(a, b)| !a.trim().is_empty() && !b.trim().is_empty())
                        .ok_or_else(|| {
                            anyhow!("bsrange={s}: expected min-max (two sizes), e.g. 4k-64k")
                        })?;
                    let (a, b) = (parse_bs("bsrange", a, kb)?, parse_bs("bsrange", b, kb)?);
                    if a > b {
                        bail!("bsrange={s}: min is larger than max");
                    }
                    Ok(Bs::Range(a, b))
                })?
            }
        ),
        opt!(
            "bssplit",
            [],
            ValueKind::Str,
            Job, Group::Job, "",
            "4k/50:64k/50",
            "weighted block sizes, e.g. 4k/50:64k/40:1m/10; per direction R[,W]",
            |j, g, v| {
                let kb = j.kb_base;
                j.set_bs("bssplit", v.str(), |x| parse_bssplit(x, kb))?
            }
        ),
        opt!(
            "iodepth",
            [],
            ValueKind::Int(1, 65535),
            Job, Group::Job, "1",
            "7",
            "requests in flight (default 1)",
            |j, g, v| j.iodepth = v.num() as u32
        ),
        opt!(
            "iodepth_batch_submit",
            ["iodepth_batch"],
            ValueKind::Int(0, 65535),
            Job, Group::Job, "1",
            "4",
            "requests submitted per call (default 1; 0: iodepth)",
            |j, g, v| j.batch_submit = v.num() as u32
        ),
        opt!(
            "iodepth_batch_complete_min",
            ["iodepth_batch_complete"],
            ValueKind::Int(0, 65535),
            Job, Group::Job, "1",
            "3",
            "completions to wait for per reap (default 1; 0: poll, never wait)",
            |j, g, v| j.batch_complete_min = v.num() as u32
        ),
        opt!(
            "iodepth_batch_complete_max",
            [],
            ValueKind::Int(1, 65535),
            Job, Group::Job, "",
            "5",
            "completions taken per reap at most (default iodepth)",
            |j, g, v| j.batch_complete_max = Some(v.num() as u32)
        ),
        opt!(
            "numjobs",
            [],
            ValueKind::Int(1, 1024),
            Job, Group::Job, "1",
            "3",
            "clones of this job, each a thread with its own context (default 1)",
            |j, g, v| j.numjobs = v.num() as u32
        ),
        opt!(
            "size",
            [],
            ValueKind::Str,
            Job, Group::Job, "",
            "64m",
            "bytes of the target(s) to use (default: the whole target), or N% of it (fio)",
            |j, g, v| {
                let s = v.str();
                match pct("size", s)? {
                    Some(p) => (j.size, j.size_pct) = (None, Some(p)),
                    None => {
                        j.size = Some(value::size(s, j.kb_base).map_err(|e| anyhow!("size={s}: {e}"))?);
                        j.size_pct = None;
                    }
                }
            }
        ),
        opt!(
            "io_size",
            ["io_limit"],
            ValueKind::Size,
            Job, Group::Job, "",
            "16m",
            "bytes to transfer before the job ends (default size)",
            |j, g, v| j.io_size = Some(v.num())
        ),
        opt!(
            "runtime",
            ["timeout"],
            ValueKind::Time,
            Job, Group::Job, "",
            "7",
            "stop after this long (10, 10s, 500ms, 1m)",
            |j, g, v| j.runtime = Some(v.time())
        ),
        opt!(
            "time_based",
            [],
            ValueKind::Bool,
            Job, Group::Job, "0",
            "1",
            "run for runtime even when size is done (wrap around)",
            |j, g, v| j.time_based = v.bool()
        ),
        opt!(
            "ramp_time",
            [],
            ValueKind::Time,
            Job, Group::Job, "0",
            "2",
            "run this long before measuring",
            |j, g, v| j.ramp_time = v.time()
        ),
        opt!(
            "ioengine",
            [],
            ValueKind::Choice(
                &[
                    "psync", "sync", "pvsync", "pvsync2", "io_uring", "uring", "libaio", "aio",
                    "threads", "posixaio", "null", "auto",
                ],
                // fio's other engines (its HOWTO's list), refused by name.
                &[
                    "solarisaio", "windowsaio", "mmap", "splice", "sg", "net",
                    "netsplice", "cpuio", "rdma", "falloc", "ftruncate", "e4defrag", "rados",
                    "rbd", "http", "gfapi", "gfapi_async", "libhdfs", "mtd", "dev-dax",
                    "external", "filecreate", "filestat", "filedelete", "dircreate", "dirstat",
                    "dirdelete", "libpmem", "ime_psync", "ime_psyncv", "ime_aio", "libzbc",
                    "nbd", "exec", "xnvme", "libblkio", "io_uring_cmd", "libcufile",
                ],
            ),
            Job, Group::Job, "psync",
            "io_uring",
            "psync (default; also sync, pvsync, pvsync2), io_uring, libaio, threads, posixaio (glibc's POSIX AIO as glibc runs it: one worker per file), null (no I/O), auto",
            |j, g, v| {
                j.engine = parse_engine(v.str())?;
                j.posix_aio = v.str() == "posixaio";
                j.pvsync2 = v.str() == "pvsync2";
            }
        ),
        opt!(
            "direct",
            [],
            ValueKind::Bool,
            Job, Group::Job, "0",
            "1",
            "1: O_DIRECT, 0: buffered (default 0, as in fio)",
            |j, g, v| j.direct = v.bool()
        ),
        opt!(
            "buffered",
            [],
            ValueKind::Bool,
            Job, Group::Job, "1",
            "0",
            "the opposite of direct (default 1)",
            |j, g, v| j.direct = !v.bool()
        ),
        opt!("kb_base", [], ValueKind::Int(1000, 1024), Job, Group::Job, "1024", "1000",
        "1024 (default): k, m are powers of 2 and KiB, MiB powers of 10; 1000: the other way round",
        |j, g, v| {
            if v.num() != 1000 && v.num() != 1024 {
                bail!("kb_base={}: must be 1000 or 1024", v.num());
            }
            j.kb_base = v.num() as u32
        }),
        opt!(
            "fsync",
            [],
            ValueKind::Int(0, u32::MAX as u64),
            Job, Group::Job, "0",
            "8",
            "fsync after every N writes",
            |j, g, v| j.fsync = v.num() as u32
        ),
        opt!(
            "fdatasync",
            [],
            ValueKind::Int(0, u32::MAX as u64),
            Job, Group::Job, "0",
            "8",
            "fdatasync after every N writes",
            |j, g, v| j.fdatasync = v.num() as u32
        ),
        opt!(
            "end_fsync",
            [],
            ValueKind::Bool,
            Job, Group::Job, "0",
            "1",
            "fsync every file of a writing job once its I/O has drained (each loop), unless the last I/O was a sync; counted with the syncs",
            |j, g, v| j.end_fsync = v.bool()
        ),
        opt!(
            "atomic",
            [],
            ValueKind::Bool,
            Job, Group::Job, "0",
            "1",
            "every write torn-write free (RWF_ATOMIC): refused before the run unless the file offers atomic writes (O_DIRECT) and bs fits their limits",
            |j, g, v| j.atomic = v.bool()
        ),
        opt!(
            "error_dump",
            [],
            ValueKind::Bool,
            Job, Group::Job, "1",
            "0",
            "say every error as it happens, also the non-fatal ones continue_on_error goes on after (0: only the job's fatal error)",
            |j, g, v| j.error_dump = v.bool()
        ),
        opt!(
            "iodepth_low",
            [],
            ValueKind::Int(0, 65535),
            Job, Group::Job, "",
            "4",
            "once the queue is full, let it drain to this depth before filling it again (default: iodepth, keep it full; 0 or above iodepth: the same)",
            |j, g, v| j.iodepth_low = Some(v.num() as u32)
        ),
        opt!(
            "invalidate",
            [],
            ValueKind::Bool,
            Job, Group::Job, "1",
            "0",
            "drop the files' cached pages of the job's region before its I/O (fadvise DONTNEED; a block device: BLKFLSBUF, root only), so buffered reads go to the device",
            |j, g, v| j.invalidate = v.bool()
        ),
        opt!(
            "sync",
            [],
            ValueKind::Choice(&["none", "0", "sync", "1", "dsync"], &[]),
            Job, Group::Job, "none",
            "dsync",
            "synchronous writes: none (0, the default), sync (1: the files opened O_SYNC) or dsync (O_DSYNC)",
            |j, g, v| j.sync_io = match v.str() {
                "sync" | "1" => diorite::WriteSync::Full,
                "dsync" => diorite::WriteSync::Data,
                _ => diorite::WriteSync::None,
            }
        ),
        opt!(
            "thread",
            ["threads"],
            ValueKind::Bool,
            Job, Group::Job, "0",
            "1",
            "run jobs as threads (diorite always does: a job is a thread with its own context)",
            |j, g, v| j.thread = v.bool()
        ),
        opt!(
            "fixedbufs",
            [],
            ValueKind::Bool,
            Job, Group::Job, "1",
            "0",
            "1 (default in diorite): register the job's buffers with io_uring; 0: plain buffers",
            |j, g, v| {
                uring_engine_option(j, "fixedbufs")?;
                j.fixedbufs = v.bool()
            }
        ),
        opt!(
            "registerfiles",
            [],
            ValueKind::Bool,
            Job, Group::Job, "1",
            "0",
            "1 (default in diorite): register the job's files with io_uring; 0: plain descriptors",
            |j, g, v| {
                uring_engine_option(j, "registerfiles")?;
                j.registerfiles = v.bool()
            }
        ),
        opt!(
            "sqthread_poll",
            [],
            ValueKind::Bool,
            Job, Group::Job, "0",
            "1",
            "io_uring: a kernel thread polls the submission queue (SQPOLL; sleeps after 1 s idle, as fio)",
            |j, g, v| j.sqthread_poll = v.bool()
        ),
        opt!(
            "sqthread_poll_cpu",
            [],
            ValueKind::Int(0, 65535),
            Job, Group::Job, "",
            "1",
            "io_uring with sqthread_poll=1: the CPU of the polling thread",
            |j, g, v| j.sqthread_poll_cpu = Some(v.num() as u32)
        ),
        opt!(
            "uncached",
            [],
            ValueKind::Int(0, i32::MAX as _),
            Job, Group::Job, "0",
            "1",
            "io_uring, pvsync2: buffered I/O whose pages leave the page cache once done (RWF_DONTCACHE, Linux 6.14, as fio 3.40 defines it; refused before the run where the kernel or filesystem does not take it); no effect with direct=1, as in fio",
            |j, g, v| j.uncached = v.num() != 0
        ),
        opt!(
            "hipri",
            [],
            ValueKind::Bool,
            Job, Group::Job, "0",
            "1",
            "io_uring: poll the device for completions (IOPOLL); needs a device with poll queues",
            |j, g, v| j.hipri = v.bool()
        ),
        opt!(
            "pool_threads",
            [],
            ValueKind::Int(1, 1024),
            Job, Group::Job, "",
            "3",
            "worker threads of the thread-pool engine (default: iodepth, at most 64; posixaio: the job's files, at most 20)",
            |j, g, v| j.pool_threads = Some(v.num() as usize)
        ),
        opt!(
            "inject",
            [],
            ValueKind::Str,
            Job, Group::Job, "",
            "write:nth=3:eio",
            "diorite: run on the faulty backend with these fault rules (see diorite::faults), seeded by randseed",
            |j, g, v| {
                // Parsed here, so a bad rule is refused with the job, before anything runs.
                diorite::faults::Faults::parse(v.str(), 0)?;
                j.inject = Some(v.str().to_string())
            }
        ),
        opt!(
            "crash",
            [],
            ValueKind::Int(1, 1_000_000),
            Job, Group::Job, "",
            "200",
            "diorite: record the job (faulty backend) and check in this many simulated power cuts that what fsync=N, fdatasync=N, end_fsync, sync=dsync promise survives",
            |j, g, v| j.crash = Some(v.num())
        ),
        opt!(
            "continue_on_error",
            [],
            ValueKind::Choice(&["none", "read", "write", "io", "verify", "all", "0", "1"], &[]),
            Job, Group::Job, "none",
            "io",
            "go on after EIO/EILSEQ (or ignore_error's list) of: none, read, write, io, verify, all (0, 1)",
            |j, g, v| {
                j.continue_on = match v.str() {
                    "none" | "0" => [false; 3],
                    "read" => [true, false, false],
                    "write" => [false, true, false],
                    "io" => [true, true, false],
                    "verify" => [false, false, true],
                    "all" | "1" => [true; 3],
                    s => anyhow::bail!(
                        "continue_on_error={s}: expected none, read, write, io, verify, all, 0 or 1"
                    ),
                }
            }
        ),
        opt!(
            "ignore_error",
            [],
            ValueKind::Str,
            Job, Group::Job, "",
            "EAGAIN,ENOSPC:122",
            "READ_LIST,WRITE_LIST,VERIFY_LIST of errnos (names or numbers, ':'-separated) to go on after",
            |j, g, v| {
                for (etype, list) in v.str().split(',').enumerate() {
                    if etype > 2 {
                        anyhow::bail!("ignore_error={}: at most three lists (read, write, verify)", v.str());
                    }
                    if list.is_empty() {
                        continue;
                    }
                    let errs = list
                        .split(':')
                        .map(|e| parse_errno(e).ok_or_else(|| anyhow::anyhow!("ignore_error: unknown error '{e}'")))
                        .collect::<Result<Vec<i32>>>()?;
                    // fio: a list for a type also turns continuing on for it.
                    j.ignore_error[etype] = Some(errs);
                    j.continue_on[etype] = true;
                }
            }
        ),
        opt!(
            "filename",
            [],
            ValueKind::Str,
            Job, Group::Files, "",
            "/dev/null",
            "target file(s) or block device(s), ':'-separated (default: nrfiles own files, named by filename_format, in directory)",
            |j, g, v| j.files.filenames = v
                .str()
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect()
        ),
        opt!("directory", [], ValueKind::Str, Job, Group::Files, "", "/var/tmp",
        "directory of the jobs' files when no filename is given (default: the working directory)",
        |j, g, v| j.files.directory = Some(PathBuf::from(v.str()))),
        opt!(
            "nrfiles",
            ["nr_files"],
            ValueKind::Int(1, 1 << 20),
            Job, Group::Files, "1",
            "4",
            "files per job clone when no filename is given (named by filename_format); size is \
             divided among them",
            |j, g, v| j.files.nrfiles = v.num() as u32
        ),
        opt!(
            "filesize",
            [],
            ValueKind::Str,
            Job, Group::Files, "",
            "8m",
            "each file's size (or LOW-HIGH: one size per file in that range); size then only \
             sets the default io_size (fio)",
            |j, g, v| {
                let s = v.str();
                let (lo, hi) = s.split_once(['-', ':']).unwrap_or((s, s));
                let size = |x: &str| {
                    value::size(x, j.kb_base).map_err(|e| anyhow!("filesize={s}: {e}"))
                };
                let (lo, hi) = (size(lo)?, size(hi)?);
                if lo == 0 || hi < lo {
                    bail!("filesize={s}: expected a size, or LOW-HIGH with 0 < LOW <= HIGH");
                }
                j.files.filesize = Some((lo, hi));
            }
        ),
        opt!(
            "filename_format",
            [],
            ValueKind::Str,
            Job, Group::Files, "",
            "$jobname.$filenum",
            "names of a job's own files: $jobname, $jobnum (the clone), $filenum, $clientuid \
             (empty: no client/server) (default $jobname.$jobnum.$filenum)",
            |j, g, v| j.files.filename_format = Some(v.str().to_string())
        ),
        opt!(
            "file_service_type",
            [],
            ValueKind::Str,
            Job, Group::Files, "roundrobin",
            "random:4",
            "which file the next I/O goes to: roundrobin (default), sequential (each file's \
             share in turn), random; :N switches every N I/Os",
            |j, g, v| {
                let s = v.str();
                let (k, n) = s.split_once(':').unwrap_or((s, "1"));
                let kind = match k {
                    "roundrobin" => super::Service::RoundRobin,
                    "sequential" => super::Service::Sequential,
                    "random" => super::Service::Random,
                    _ => bail!(
                        "file_service_type={s}: supported: roundrobin, sequential, random \
                         (with :N); zipf, pareto, normal and gauss are not"
                    ),
                };
                let n: u64 = n
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| anyhow!("file_service_type={s}: :N takes a count of I/Os"))?;
                j.files.file_service = (kind, n);
            }
        ),
        opt!(
            "openfiles",
            ["open_files"],
            ValueKind::Int(1, 1 << 20),
            Job, Group::Files, "",
            "8",
            "files served at a time (default: all): the first N, a done file's place going to \
             the next (descriptors stay open in diorite)",
            |j, g, v| j.files.openfiles = Some(v.num() as u32)
        ),
        opt!(
            "allow_file_create",
            [],
            ValueKind::Bool,
            Job, Group::Files, "1",
            "0",
            "1 (default): create missing files; 0: a missing file is an error",
            |j, g, v| j.files.allow_file_create = v.bool()
        ),
        opt!(
            "fallocate",
            [],
            ValueKind::Choice(&["native", "posix", "keep", "truncate", "none", "1", "0"], &[]),
            Job, Group::Files, "native",
            "none",
            "how a writing job's new file space is reserved: native (default), posix, keep \
             (size unchanged), truncate (ftruncate only), none; 1 is native, 0 none",
            |j, g, v| j.files.fallocate = match v.str() {
                "native" | "posix" | "1" => super::Fallocate::Native,
                "keep" => super::Fallocate::Keep,
                "truncate" => super::Fallocate::Truncate,
                "none" | "0" => super::Fallocate::None,
                s => bail!("fallocate={s}: expected none, native, posix, keep, truncate, 0 or 1"),
            }
        ),
        opt!(
            "fill_device",
            ["fill_fs"],
            ValueKind::Bool,
            Job, Group::Files, "0",
            "1",
            "write until the device or filesystem is full: ENOSPC/EDQUOT end the job without an \
             error; without size, the region is all the free space (a reader fills it first)",
            |j, g, v| j.files.fill_device = v.bool()
        ),
        opt!(
            "create_on_open",
            [],
            ValueKind::Bool,
            Job, Group::Files, "0",
            "1",
            "create a missing file when the job starts (opens it), not while the run is set up \
             (writing jobs)",
            |j, g, v| j.files.create_on_open = v.bool()
        ),
        opt!(
            "create_serialize",
            [],
            ValueKind::Bool,
            Job, Group::Files, "1",
            "0",
            "lay the files out one after another (0: a job's new files are laid out at the same time as the others', one thread each); always before any job starts",
            |j, g, v| j.files.create_serialize = v.bool()
        ),
        opt!(
            "overwrite",
            [],
            ValueKind::Bool,
            Job, Group::Files, "0",
            "1",
            "lay out a writing job's region before it starts (as for reads), so the writes \
             overwrite data; bytes the file already has are kept",
            |j, g, v| j.files.overwrite = v.bool()
        ),
        opt!(
            "unlink",
            [],
            ValueKind::Bool,
            Job, Group::Files, "0",
            "1",
            "delete the job's files when it is done (regular files, also ones that existed \
             before; never a block device), as fio does",
            |j, g, v| j.files.unlink = v.bool()
        ),
        opt!(
            "unlink_each_loop",
            [],
            ValueKind::Bool,
            Job, Group::Files, "0",
            "1",
            "delete the job's files after each of its loops; the next loop runs on new files \
             (writing jobs)",
            |j, g, v| j.files.unlink_each_loop = v.bool()
        ),
        opt!(
            "loops",
            [],
            ValueKind::Int(1, u32::MAX as u64),
            Job, Group::Timing, "1",
            "3",
            "repeat the job's I/O amount this many times (default 1)",
            |j, g, v| j.loops = v.num() as u32
        ),
        opt!(
            "number_ios",
            [],
            ValueKind::Int(1, u64::MAX),
            Job, Group::Timing, "",
            "1000",
            "end the job after this many I/Os, if nothing ends it first",
            |j, g, v| j.number_ios = Some(v.num())
        ),
        opt!(
            "startdelay",
            [],
            ValueKind::Str,
            Job, Group::Timing, "0",
            "500ms",
            "start the job this long after its group starts; LOW-HIGH: each clone picks a time \
             in the range (from its seed)",
            |j, g, v| {
                let s = v.str();
                let (lo, hi) = s.split_once('-').unwrap_or((s, s));
                let t = |x: &str| value::time(x).map_err(|e| anyhow!("startdelay={s}: {e}"));
                let (lo, hi) = (t(lo)?, t(hi)?);
                if hi < lo {
                    bail!("startdelay={s}: LOW is above HIGH");
                }
                j.startdelay = lo;
                j.startdelay_high = (hi > lo).then_some(hi);
            }
        ),
        opt!(
            "thinktime",
            [],
            ValueKind::TimeUs,
            Job, Group::Timing, "0",
            "100",
            "after every thinktime_blocks I/Os, wait for those in flight, then stall this long \
             (plain numbers: microseconds)",
            |j, g, v| j.pacing.think.time = v.time()
        ),
        opt!(
            "thinktime_spin",
            [],
            ValueKind::TimeUs,
            Job, Group::Timing, "0",
            "10",
            "spend this part of each thinktime spinning on the CPU (plain numbers: microseconds)",
            |j, g, v| j.pacing.think.spin = v.time()
        ),
        opt!(
            "thinktime_blocks",
            [],
            ValueKind::Int(1, u32::MAX as u64),
            Job, Group::Timing, "",
            "4",
            "how many I/Os between stalls (default 1; caps the queue depth, as in fio)",
            |j, g, v| {
                j.pacing.think.blocks = v.num();
                j.pacing.think.blocks_set = true;
            }
        ),
        opt!(
            "thinktime_blocks_type",
            [],
            ValueKind::Choice(&["complete", "issue"], &[]),
            Job, Group::Timing, "complete",
            "issue",
            "what thinktime_blocks counts: complete (default) or issue",
            |j, g, v| {
                j.pacing.think.count_issued = match v.str() {
                    "complete" => false,
                    "issue" => true,
                    s => bail!("thinktime_blocks_type={s}: expected complete or issue"),
                }
            }
        ),
        opt!(
            "thinktime_iotime",
            [],
            ValueKind::Time,
            Job, Group::Timing, "0",
            "1",
            "also stall after this much I/O time (plain numbers: seconds)",
            |j, g, v| j.pacing.think.iotime = v.time()
        ),
        opt!(
            "rate",
            [],
            ValueKind::Str,
            Job, Group::Timing, "",
            "1m",
            "cap the job's bandwidth in bytes/s, per direction: R[,W] (one value: both; empty: \
             no cap); as fio, an I/O over its direction's budget waits for the queue to drain",
            |j, g, v| (j.pacing.rate, j.pacing.trim_rate.rate) =
                per_dir("rate", v.str(), |x| value::size(x, j.kb_base))?
        ),
        opt!(
            "rate_iops",
            [],
            ValueKind::Str,
            Job, Group::Timing, "",
            "100",
            "cap the job's I/Os per second, per direction: R[,W] (as rate; with rate, rate wins)",
            |j, g, v| (j.pacing.rate_iops, j.pacing.trim_rate.rate_iops) =
                per_dir("rate_iops", v.str(), |x| value::eval(x, Unit::Count))?
        ),
        opt!(
            "rate_min",
            ["ratemin"],
            ValueKind::Str,
            Job, Group::Timing, "",
            "1k",
            "end the job with an error when a rate_cycle's bandwidth falls below this, bytes/s, \
             per direction R[,W]",
            |j, g, v| (j.pacing.rate_min, j.pacing.trim_rate.rate_min) =
                per_dir("rate_min", v.str(), |x| value::size(x, j.kb_base))?
        ),
        opt!(
            "rate_iops_min",
            [],
            ValueKind::Str,
            Job, Group::Timing, "",
            "1",
            "end the job with an error when a rate_cycle's IOPS fall below this, per direction R[,W]",
            |j, g, v| (j.pacing.rate_iops_min, j.pacing.trim_rate.rate_iops_min) =
                per_dir("rate_iops_min", v.str(), |x| value::eval(x, Unit::Count))?
        ),
        opt!(
            "rate_process",
            [],
            ValueKind::Choice(&["linear", "poisson"], &[]),
            Job, Group::Timing, "linear",
            "poisson",
            "how rate and rate_iops pace I/Os: linear (default, evenly) or poisson (exponential \
             gaps of the same mean)",
            |j, g, v| j.pacing.rate_poisson = match v.str() {
                "linear" => false,
                "poisson" => true,
                s => bail!("rate_process={s}: expected linear or poisson"),
            }
        ),
        opt!(
            "rate_cycle",
            ["ratecycle"],
            ValueKind::Int(1, u32::MAX as u64),
            Job, Group::Timing, "1000",
            "500",
            "the window of rate_min and rate_iops_min, in milliseconds (default 1000)",
            |j, g, v| j.pacing.rate_cycle = Duration::from_millis(v.num())
        ),
        opt!(
            "io_submit_mode",
            [],
            ValueKind::Choice(&["inline", "offload"], &[]),
            Job, Group::Timing, "inline",
            "offload",
            "inline (default): a rate wait first drains what is in flight; offload: I/Os go out \
             at their rate times whatever is still in flight (no coordinated omission)",
            |j, g, v| j.pacing.submit_offload = match v.str() {
                "inline" => false,
                "offload" => true,
                s => bail!("io_submit_mode={s}: expected inline or offload"),
            }
        ),
        opt!(
            "stonewall",
            ["wait_for_previous"],
            ValueKind::Bool,
            Job, Group::Timing, "0",
            "1",
            "wait for the jobs before this one; starts a new group",
            |j, g, v| j.stonewall = v.bool()
        ),
        opt!(
            "new_group",
            [],
            ValueKind::Bool,
            Job, Group::Timing, "0",
            "1",
            "start a new reporting group here, without waiting for the jobs before (fio)",
            |j, g, v| j.new_group = v.bool()
        ),
        opt!(
            "wait_for",
            [],
            ValueKind::Str,
            Job, Group::Timing, "",
            "other",
            "start only once every clone of the named earlier job has finished (fio)",
            |j, g, v| j.wait_for = Some(v.str().to_string())
        ),
        opt!(
            "exitall",
            [],
            ValueKind::Bool,
            Job, Group::Timing, "0",
            "1",
            "when a job ends, end others too (which: exit_what); given to any job, it holds for \
             the whole run, as in fio",
            |j, g, v| j.exitall = v.bool()
        ),
        opt!(
            "exit_what",
            [],
            ValueKind::Choice(&["group", "stonewall", "all"], &[]),
            Job, Group::Timing, "group",
            "all",
            "with exitall, a job's end ends: group (its reporting group, the default), stonewall \
             (every job running now), all (every job, also those not started)",
            |j, g, v| {
                j.exit_what = match v.str() {
                    "group" => super::ExitWhat::Group,
                    "stonewall" => super::ExitWhat::Stonewall,
                    "all" => super::ExitWhat::All,
                    s => bail!("exit_what={s}: expected group, stonewall or all"),
                }
            }
        ),
        opt!(
            "flow_id",
            [],
            ValueKind::Int(0, u32::MAX as u64),
            Job, Group::Timing, "0",
            "2",
            "the flow the job's flow weight counts in (default 0)",
            |j, g, v| j.pacing.flow_id = v.num() as u32
        ),
        opt!(
            "flow",
            [],
            ValueKind::Int(0, 1000),
            Job, Group::Timing, "0",
            "2",
            "the job's weight in its flow: jobs of a flow keep their I/O counts in the ratio of \
             their weights (0: not in a flow)",
            |j, g, v| j.pacing.flow = v.num()
        ),
        opt!(
            "flow_sleep",
            [],
            ValueKind::TimeUs,
            Job, Group::Timing, "0",
            "1000",
            "how long a job ahead of its flow share waits after draining (plain numbers: \
             microseconds)",
            |j, g, v| j.pacing.flow_sleep = v.time()
        ),
        opt!(
            "steadystate",
            ["ss"],
            ValueKind::Str,
            Job, Group::Timing, "",
            "bw:5%",
            "end the job (its group with group_reporting) once steady over ss_dur: iops or bw \
             (largest deviation from the mean), iops_slope or bw_slope (least-squares slope), \
             below LIMIT or LIMIT% of the mean (default iops_slope:0.01%)",
            |j, g, v| {
                let s = v.str();
                let (k, lim) = s
                    .split_once(':')
                    .ok_or_else(|| anyhow!("steadystate={s}: expected CRITERION:LIMIT[%]"))?;
                let (iops, slope) = match k {
                    "iops" => (true, false),
                    "iops_slope" => (true, true),
                    "bw" => (false, false),
                    "bw_slope" => (false, true),
                    _ => bail!("steadystate={s}: criterion iops, iops_slope, bw or bw_slope"),
                };
                let (num, pct) = match lim.trim().strip_suffix('%') {
                    Some(n) => (n, true),
                    None => (lim.trim(), false),
                };
                // fio reads an absolute bandwidth limit as a size (1m, 500k ...).
                let limit = match num.trim().parse::<f64>() {
                    Ok(x) if x >= 0.0 => x,
                    _ if !pct && !iops => value::size(num, j.kb_base)
                        .map_err(|e| anyhow!("steadystate={s}: {e}"))? as f64,
                    _ => bail!("steadystate={s}: {num:?} is not a limit"),
                };
                j.pacing.ss_crit = crate::spec::steady::SsCriterion {
                    iops,
                    slope,
                    pct,
                    limit,
                };
                j.pacing.ss_crit_given = true;
            }
        ),
        opt!(
            "steadystate_duration",
            ["ss_dur"],
            ValueKind::Time,
            Job, Group::Timing, "0",
            "30",
            "the steady-state window; 0 (default): no steady-state detection",
            |j, g, v| j.pacing.ss_dur = v.time()
        ),
        opt!(
            "steadystate_ramp_time",
            ["ss_ramp"],
            ValueKind::Time,
            Job, Group::Timing, "0",
            "5",
            "start recording steady-state data this long (plus one interval) after the job starts",
            |j, g, v| j.pacing.ss_ramp = v.time()
        ),
        opt!(
            "ss_interval",
            ["steadystate_check_interval"],
            ValueKind::Time,
            Job, Group::Timing, "1",
            "2",
            "the steady-state sampling interval (default 1 s; fio 3.33 has it fixed, later fio \
             takes it)",
            |j, g, v| j.pacing.ss_interval = v.time()
        ),
        opt!(
            "latency_target",
            [],
            ValueKind::TimeUs,
            Job, Group::Timing, "",
            "2ms",
            "find the deepest queue (up to iodepth) whose I/Os meet this latency, then run at it \
             (plain numbers: microseconds)",
            |j, g, v| j.pacing.latency_target = Some(v.time())
        ),
        opt!(
            "latency_window",
            [],
            ValueKind::TimeUs,
            Job, Group::Timing, "",
            "100ms",
            "how long each queue depth is tried (plain numbers: microseconds)",
            |j, g, v| j.pacing.latency_window = v.time()
        ),
        opt!(
            "latency_percentile",
            [],
            ValueKind::Str,
            Job, Group::Timing, "100",
            "99.9",
            "the percent of I/Os that must meet latency_target (default 100)",
            |j, g, v| {
                let s = v.str();
                j.pacing.latency_percentile = s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|p| *p > 0.0 && *p <= 100.0)
                    .ok_or_else(|| anyhow!("latency_percentile={s}: a percent in (0, 100]"))?;
            }
        ),
        opt!(
            "latency_run",
            [],
            ValueKind::Bool,
            Job, Group::Timing, "0",
            "1",
            "keep adjusting the depth for the whole run instead of ending at the one found",
            |j, g, v| j.pacing.latency_run = v.bool()
        ),
        opt!(
            "max_latency",
            [],
            ValueKind::TimeUs,
            Job, Group::Timing, "",
            "10ms",
            "a read or write slower than this ends the job with ETIMEDOUT (plain numbers: \
             microseconds)",
            |j, g, v| j.pacing.max_latency = Some(v.time())
        ),
        opt!(
            "offset",
            [],
            ValueKind::Str,
            Job, Group::Offsets, "0",
            "1m",
            "start of the region in each file (default 0), or N% of the file (aligned up to the \
             smallest block, as fio)",
            |j, g, v| {
                let s = v.str();
                match pct("offset", s)? {
                    Some(p) => (j.offsets.offset, j.offsets.offset_pct) = (0, Some(p)),
                    None => {
                        j.offsets.offset = value::size(s, j.kb_base).map_err(|e| anyhow!("offset={s}: {e}"))?;
                        j.offsets.offset_pct = None;
                    }
                }
            }
        ),
        opt!(
            "offset_increment",
            [],
            ValueKind::Str,
            Job, Group::Offsets, "0",
            "1m",
            "each numjobs clone starts this much (or N% of the file) after the one before (fio)",
            |j, g, v| {
                let s = v.str();
                j.offsets.offset_increment = match pct("offset_increment", s)? {
                    Some(p) => Incr::Pct(p),
                    None => Incr::Bytes(
                        value::size(s, j.kb_base).map_err(|e| anyhow!("offset_increment={s}: {e}"))?,
                    ),
                };
            }
        ),
        opt!(
            "rw_sequencer",
            [],
            ValueKind::Choice(&["sequential", "identical"], &[]),
            Job, Group::Offsets, "sequential",
            "identical",
            "with rw=RANDOM:N, what the N-1 I/Os after each random offset do: sequential \
             (continue after it, the default) or identical (repeat it)",
            |j, g, v| {
                j.offsets.rw_identical = match v.str() {
                    "sequential" => false,
                    "identical" => true,
                    s => bail!("rw_sequencer={s}: expected sequential or identical"),
                }
            }
        ),
        opt!(
            "blockalign",
            ["ba"],
            ValueKind::Str,
            Job, Group::Offsets, "",
            "8k",
            "random offsets are multiples of this (default: the block size); turns the random map \
             off, as in fio; one value for every direction",
            |j, g, v| {
                let s = v.str();
                let mut vals = s.split(',').map(str::trim).filter(|x| !x.is_empty());
                let first = vals.next().ok_or_else(|| anyhow!("blockalign={s}: give a size"))?;
                let ba = value::size(first, j.kb_base).map_err(|e| anyhow!("blockalign={s}: {e}"))?;
                for other in vals {
                    if value::size(other, j.kb_base).ok() != Some(ba) {
                        bail!("blockalign={s}: different alignments per direction are not supported yet");
                    }
                }
                if ba == 0 {
                    bail!("blockalign={s}: must be at least 1 byte");
                }
                j.offsets.blockalign = Some(ba);
            }
        ),
        opt!(
            "randrepeat",
            [],
            ValueKind::Bool,
            Job, Group::Offsets, "1",
            "0",
            "1: the same random sequence every run (default), 0: seeded from the clock (unless randseed is given)",
            |j, g, v| j.offsets.randrepeat = v.bool()
        ),
        opt!(
            "allrandrepeat",
            [],
            ValueKind::Bool,
            Job, Group::Offsets, "0",
            "1",
            "every random sequence from one fixed seed, whatever randrepeat and randseed say (as fio)",
            |j, g, v| j.offsets.allrandrepeat = v.bool()
        ),
        opt!(
            "randseed",
            [],
            ValueKind::Int(0, u64::MAX),
            Job, Group::Offsets, "",
            "42",
            "seed of the random sequences (given, it holds whatever randrepeat says, as fio)",
            |j, g, v| {
                j.offsets.randseed = v.num();
                j.offsets.randseed_set = true;
            }
        ),
        opt!(
            "random_distribution",
            [],
            ValueKind::Str,
            Job, Group::Offsets, "random",
            "zipf:1.2",
            "random, zipf:θ, pareto:h, normal:σ% (default random)",
            |j, g, v| j.offsets.dist = Dist::parse(v.str())?
        ),
        opt!(
            "random_generator",
            [],
            ValueKind::Choice(&["tausworthe", "tausworthe64", "lfsr"], &[]),
            Job, Group::Offsets, "tausworthe",
            "lfsr",
            "random offsets from: tausworthe (default; tausworthe64 past 2^32 blocks, as fio), \
             tausworthe64, lfsr (every block exactly once per pass, without a random map)",
            |j, g, v| j.offsets.random_generator = match v.str() {
                "tausworthe" => super::RandomGen::Tausworthe,
                "tausworthe64" => super::RandomGen::Tausworthe64,
                "lfsr" => super::RandomGen::Lfsr,
                s => bail!("random_generator={s}: expected tausworthe, tausworthe64 or lfsr"),
            }
        ),
        opt!(
            "percentage_random",
            [],
            ValueKind::Str,
            Job, Group::Offsets, "100",
            "50",
            "of a random pattern's I/Os, this percent are random, the rest continue after the \
             direction's last I/O; READ[,WRITE] (default 100)",
            |j, g, v| {
                let s = v.str();
                let one = |x: &str| -> Result<Option<u32>> {
                    if x.trim().is_empty() {
                        return Ok(None);
                    }
                    x.trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|p| *p <= 100)
                        .map(Some)
                        .ok_or_else(|| anyhow!("percentage_random={s}: {x:?} is not a percentage"))
                };
                let parts: Vec<&str> = s.split(',').collect();
                match parts.as_slice() {
                    [all] => {
                        let p = one(all)?.unwrap_or(100);
                        j.offsets.perc_rand = [p, p];
                    }
                    [r, w] | [r, w, _] => {
                        j.offsets.perc_rand = [one(r)?.unwrap_or(100), one(w)?.unwrap_or(100)];
                    }
                    _ => bail!("percentage_random={s}: expected READ[,WRITE[,TRIM]]"),
                }
                if let [_, _, t] = parts.as_slice() {
                    if one(t)?.is_some_and(|p| p < 100) {
                        bail!("percentage_random={s}: a trim value below 100 is not supported yet");
                    }
                }
            }
        ),
        opt!(
            "norandommap",
            [],
            ValueKind::Bool,
            Job, Group::Offsets, "0",
            "1",
            "random offsets may repeat within a pass",
            |j, g, v| j.offsets.norandommap = v.bool()
        ),
        opt!(
            "zonemode",
            [],
            ValueKind::Choice(&["none", "strided"], &["zbd"]),
            Job, Group::Offsets, "",
            "none",
            "none, or strided: the pattern runs in one zone of zonerange bytes until zonesize \
             bytes were transferred, then zonerange + zoneskip further on (zbd is not supported)",
            |j, g, v| j.offsets.zonemode = Some(match v.str() {
                s @ ("none" | "strided") => s.to_string(),
                s => bail!("zonemode={s}: supported: none, strided (zbd is not)"),
            })
        ),
        opt!(
            "zonesize",
            [],
            ValueKind::Size,
            Job, Group::Offsets, "",
            "1m",
            "strided zones: bytes transferred in a zone before the next (with zonemode=strided)",
            |j, g, v| j.offsets.zone_size = Some(v.num())
        ),
        opt!(
            "zonerange",
            [],
            ValueKind::Size,
            Job, Group::Offsets, "",
            "2m",
            "strided zones: a zone's length (default zonesize)",
            |j, g, v| j.offsets.zone_range = Some(v.num())
        ),
        opt!(
            "zoneskip",
            [],
            ValueKind::Size,
            Job, Group::Offsets, "0",
            "4m",
            "strided zones: bytes skipped after a zone",
            |j, g, v| j.offsets.zone_skip = v.num()
        ),
        opt!(
            "buffer_compress_percentage",
            [],
            ValueKind::Int(0, 100),
            Job, Group::Data, "",
            "60",
            "make written data about this compressible: each segment is 100-N% random data, then \
             zeros (or buffer_pattern); 100: zero_buffers (fio)",
            |j, g, v| {
                j.data.compress_pct = v.num() as u32;
                j.data.compress_given = true;
            }
        ),
        opt!(
            "buffer_compress_chunk",
            [],
            ValueKind::Size,
            Job, Group::Data, "512",
            "4k",
            "the segment of buffer_compress_percentage (default 512; at most the smallest block)",
            |j, g, v| j.data.compress_chunk = v.num()
        ),
        opt!(
            "refill_buffers",
            [],
            ValueKind::Bool,
            Job, Group::Data, "",
            "1",
            "new buffer contents before every write (default 0, but on with compression, \
             dedupe, verify)",
            |j, g, v| (j.data.refill, j.data.set_refill) = (v.bool(), true)
        ),
        opt!(
            "scramble_buffers",
            [],
            ValueKind::Bool,
            Job, Group::Data, "",
            "0",
            "before every write, patch each 512-byte block with its offset and the time \
             (default 1; off with compression, dedupe, verify or zero_buffers)",
            |j, g, v| (j.data.scramble, j.data.set_scramble) = (v.bool(), true)
        ),
        opt!(
            "zero_buffers",
            [],
            ValueKind::Bool,
            Job, Group::Data, "",
            "1",
            "write zeros",
            |j, g, v| (j.data.zero, j.data.set_zero) = (v.bool(), true)
        ),
        opt!(
            "buffer_pattern",
            [],
            ValueKind::Str,
            Job, Group::Data, "",
            "0xdeadbeef",
            "fill write buffers with this pattern, repeated: 0xHEX, decimals, \"strings\" (and \
             %o, the block's offset: a diorite extension; fio 3.33 takes no formats here)",
            |j, g, v| j.data.pattern = Some(
                crate::spec::verify::Pattern::parse(v.str())
                    .map_err(|e| anyhow!(e.replace("verify_pattern", "buffer_pattern")))?
            )
        ),
        opt!(
            "dedupe_percentage",
            [],
            ValueKind::Int(0, 100),
            Job, Group::Data, "",
            "30",
            "this percent of written buffers repeat earlier data (fio's dedupe_mode=repeat)",
            |j, g, v| {
                j.data.dedupe_pct = v.num() as u32;
                j.data.compress_given = true;
            }
        ),
        opt!(
            "dedupe_mode",
            [],
            ValueKind::Choice(&["repeat", "working_set"], &[]),
            Job, Group::Data, "repeat",
            "working_set",
            "how duplicates are made: repeat (the last unique buffer again) or working_set (one of the job's first unique buffers, drawn at random)",
            |j, g, v| j.data.ws_mode = v.str() == "working_set"
        ),
        opt!(
            "dedupe_working_set_percentage",
            [],
            ValueKind::Int(0, 100),
            Job, Group::Data, "5",
            "10",
            "with dedupe_mode=working_set: the set's size, in percent of the job's size",
            |j, g, v| j.data.ws_pct = v.num() as u32
        ),
        opt!(
            "dedupe_global",
            [],
            ValueKind::Bool,
            Job, Group::Data, "0",
            "1",
            "with dedupe_mode=working_set: the set is shared by the jobs that give this, made of each job's first buffers in turn",
            |j, g, v| j.data.ws_global = v.bool()
        ),
        opt!(
            "prio",
            [],
            ValueKind::Int(0, 7),
            Job, Group::Priorities, "",
            "3",
            "the job's I/O priority level, 0 (highest) to 7, in prioclass (default best effort)",
            |j, g, v| j.placement.prio = Some(v.num() as u8)
        ),
        opt!(
            "prioclass",
            [],
            ValueKind::Int(0, 3),
            Job, Group::Priorities, "",
            "3",
            "the job's I/O priority class: 1 real-time, 2 best effort, 3 idle",
            |j, g, v| j.placement.prioclass = Some(v.num() as u8)
        ),
        opt!(
            "cmdprio_percentage",
            [],
            ValueKind::Str,
            Job, Group::Priorities, "",
            "30",
            "this percent of I/Os (per direction R[,W]) get cmdprio_class/cmdprio instead of the \
             job's priority (async engines)",
            |j, g, v| j.placement.cmdprio.perc = per_dir_small("cmdprio_percentage", v.str(), 0, 100)?
                .map(|x| x as u32)
        ),
        opt!(
            "cmdprio_class",
            [],
            ValueKind::Str,
            Job, Group::Priorities, "",
            "2",
            "the class of cmdprio I/Os, per direction R[,W] (default 1, real-time)",
            |j, g, v| j.placement.cmdprio.class = per_dir_small("cmdprio_class", v.str(), 1, 3)?
        ),
        opt!(
            "cmdprio",
            [],
            ValueKind::Str,
            Job, Group::Priorities, "0",
            "3",
            "the level of cmdprio I/Os, per direction R[,W] (default 0)",
            |j, g, v| j.placement.cmdprio.level = per_dir_small("cmdprio", v.str(), 0, 7)?
        ),
        opt!(
            "cmdprio_bssplit",
            [],
            ValueKind::Str,
            Job, Group::Priorities, "",
            "64k/50:1m/10/3/0",
            "per block size, the percent of I/Os with a priority: BS/PERCENT[/CLASS/LEVEL[/HINT]]:...,\
             per direction (without CLASS/LEVEL: cmdprio_class/cmdprio; HINT: the priority hint, 0-1023)",
            |j, g, v| j.placement.cmdprio.bssplit = parse_cmdprio_bssplit(v.str(), j.kb_base)?
        ),
        opt!(
            "cpus_allowed",
            [],
            ValueKind::Str,
            Job, Group::Priorities, "",
            "0",
            "CPUs the job thread (and its engine's threads) may run on: 0,5,8-15",
            |j, g, v| j.placement.cpus = Some(crate::spec::cpu::parse_list(v.str())?)
        ),
        opt!(
            "cpumask",
            [],
            ValueKind::Str,
            Job, Group::Priorities, "",
            "0x1",
            "the same as a bit mask of CPUs (decimal or 0xHEX)",
            |j, g, v| j.placement.cpus = Some(crate::spec::cpu::parse_mask(v.str())?)
        ),
        opt!(
            "numa_cpu_nodes",
            [],
            ValueKind::Str,
            Job, Group::Priorities, "",
            "0",
            "run the job on the CPUs of these NUMA nodes: 0,2-3 or all",
            |j, g, v| j.placement.cpus = Some(crate::spec::cpu::parse_numa_cpu_nodes(v.str())?)
        ),
        opt!(
            "numa_mem_policy",
            [],
            ValueKind::Str,
            Job, Group::Priorities, "",
            "bind:0",
            "the job's memory policy (its buffers): default, local, prefer:NODE, bind:NODES, \
             interleave:NODES",
            |j, g, v| j.placement.mem_policy = Some(crate::spec::cpu::parse_mem_policy(v.str())?)
        ),
        opt!(
            "cpus_allowed_policy",
            [],
            ValueKind::Choice(&["shared", "split"], &[]),
            Job, Group::Priorities, "shared",
            "split",
            "shared (default: every job on the whole set) or split (each job one CPU of the set, \
             by its number in the run)",
            |j, g, v| j.placement.cpus_split = match v.str() {
                "shared" => false,
                "split" => true,
                s => bail!("cpus_allowed_policy={s}: expected shared or split"),
            }
        ),
        opt!(
            "nice",
            [],
            ValueKind::Str,
            Job, Group::Priorities, "",
            "5",
            "the job thread's nice value, -20 (first) to 19 (last)",
            |j, g, v| {
                let s = v.str();
                let n: i32 = s
                    .parse()
                    .ok()
                    .filter(|n| (-20..=19).contains(n))
                    .ok_or_else(|| anyhow!("nice={s}: expected a whole number from -20 to 19"))?;
                j.placement.nice = Some(n)
            }
        ),
        opt!(
            "description",
            [],
            ValueKind::Str,
            Job, Group::Priorities, "",
            "testing",
            "text printed with the job's report (fio: not parsed)",
            |j, g, v| j.description = Some(v.str().to_string())
        ),
        opt!(
            "gtod_reduce",
            [],
            ValueKind::Bool,
            Job, Group::Priorities, "0",
            "1",
            "disable_lat, disable_clat, disable_slat and disable_bw_measurement at once (fio)",
            |j, g, v| {
                if v.bool() {
                    (j.measure.disable_lat, j.measure.disable_clat, j.measure.disable_slat, j.measure.disable_bw) =
                        (true, true, true, true);
                }
            }
        ),
        opt!(
            "disable_lat",
            [],
            ValueKind::Bool,
            Job, Group::Priorities, "0",
            "1",
            "do not measure total latency (lat)",
            |j, g, v| j.measure.disable_lat = v.bool()
        ),
        opt!(
            "disable_clat",
            [],
            ValueKind::Bool,
            Job, Group::Priorities, "0",
            "1",
            "do not measure completion latency (clat, its percentiles)",
            |j, g, v| j.measure.disable_clat = v.bool()
        ),
        opt!(
            "disable_slat",
            [],
            ValueKind::Bool,
            Job, Group::Priorities, "0",
            "1",
            "do not measure submission latency (slat)",
            |j, g, v| j.measure.disable_slat = v.bool()
        ),
        opt!(
            "disable_bw_measurement",
            ["disable_bw"],
            ValueKind::Bool,
            Job, Group::Priorities, "0",
            "1",
            "no per-I/O bandwidth samples: write_bw_log's file stays empty (the report is unchanged, as in fio)",
            |j, g, v| j.measure.disable_bw = v.bool()
        ),
        opt!(
            "clat_percentiles",
            [],
            ValueKind::Bool,
            Job, Group::Priorities, "1",
            "0",
            "report completion-latency percentiles (default 1)",
            |j, g, v| j.measure.pcts.clat = v.bool()
        ),
        opt!(
            "lat_percentiles",
            [],
            ValueKind::Bool,
            Job, Group::Priorities, "0",
            "1",
            "report total-latency percentiles (default 0; terse then carries these)",
            |j, g, v| j.measure.pcts.lat = v.bool()
        ),
        opt!(
            "slat_percentiles",
            [],
            ValueKind::Bool,
            Job, Group::Priorities, "0",
            "1",
            "report submission-latency percentiles (default 0)",
            |j, g, v| j.measure.pcts.slat = v.bool()
        ),
        opt!(
            "percentile_list",
            [],
            ValueKind::Str,
            Job, Group::Priorities, "1:5:10:20:30:40:50:60:70:80:90:95:99:99.5:99.9:99.95:99.99",
            "50:99.9",
            "the percentiles reported, ':'-separated, at most 20 (default 1:5:10:20:30:40:50:60:70:\
             80:90:95:99:99.5:99.9:99.95:99.99)",
            |j, g, v| {
                let s = v.str();
                let mut list = s
                    .split(':')
                    .map(|x| {
                        x.trim()
                            .parse::<f64>()
                            .ok()
                            .filter(|p| *p > 0.0 && *p <= 100.0)
                            .ok_or_else(|| anyhow!("percentile_list={s}: {x:?} is not a percentile in (0, 100]"))
                    })
                    .collect::<Result<Vec<f64>>>()?;
                if list.len() > 20 {
                    bail!("percentile_list={s}: at most 20 percentiles (fio's limit)");
                }
                // fio sorts the list.
                list.sort_by(f64::total_cmp);
                j.measure.pcts.list = list;
            }
        ),
        opt!(
            "write_lat_log",
            [],
            ValueKind::OptStr,
            Job, Group::Logs, "",
            "lat",
            "log each I/O's lat, clat and slat to PREFIX_lat.N.log, PREFIX_clat.N.log, \
             PREFIX_slat.N.log (fio's names and format; alone, PREFIX is the job's name)",
            |j, g, v| j.logs.write_lat_log = Some(v.str().to_string())
        ),
        opt!(
            "write_bw_log",
            [],
            ValueKind::OptStr,
            Job, Group::Logs, "",
            "bw",
            "log each I/O's bandwidth to PREFIX_bw.N.log (fio's format; alone, PREFIX is the job's name)",
            |j, g, v| j.logs.write_bw_log = Some(v.str().to_string())
        ),
        opt!(
            "write_iops_log",
            [],
            ValueKind::OptStr,
            Job, Group::Logs, "",
            "iops",
            "log each I/O (value 1) to PREFIX_iops.N.log (fio's format; alone, PREFIX is the job's name)",
            |j, g, v| j.logs.write_iops_log = Some(v.str().to_string())
        ),
        opt!(
            "write_hist_log",
            [],
            ValueKind::OptStr,
            Job, Group::Logs, "",
            "hist",
            "log clat histograms (fio's bins) every log_hist_msec to PREFIX_clat_hist.N.log \
             (alone, PREFIX is the job's name)",
            |j, g, v| j.logs.write_hist_log = Some(v.str().to_string())
        ),
        opt!(
            "log_avg_msec",
            [],
            ValueKind::Int(0, u32::MAX as u64),
            Job, Group::Logs, "0",
            "500",
            "0 (default): one log entry per I/O; N: per direction, one entry per N ms (the mean \
             latency, or the interval's KiB/s and IOPS)",
            |j, g, v| j.logs.log_avg_msec = v.num()
        ),
        opt!(
            "log_hist_msec",
            [],
            ValueKind::Int(1, u32::MAX as u64),
            Job, Group::Logs, "",
            "1000",
            "how often write_hist_log writes a histogram, in ms",
            |j, g, v| j.logs.log_hist_msec = v.num()
        ),
        opt!(
            "log_hist_coarseness",
            [],
            ValueKind::Int(0, 6),
            Job, Group::Logs, "0",
            "2",
            "write_hist_log sums 2^N of fio's bins per column (default 0)",
            |j, g, v| j.logs.log_hist_coarseness = v.num() as u32
        ),
        opt!(
            "log_max_value",
            [],
            ValueKind::Bool,
            Job, Group::Logs, "0",
            "1",
            "with log_avg_msec, log each window's largest latency instead of its mean",
            |j, g, v| j.logs.log_max_value = v.bool()
        ),
        opt!(
            "log_offset",
            [],
            ValueKind::Bool,
            Job, Group::Logs, "0",
            "1",
            "add each I/O's file offset to the log lines",
            |j, g, v| j.logs.log_offset = v.bool()
        ),
        opt!(
            "log_prio",
            [],
            ValueKind::Bool,
            Job, Group::Logs, "0",
            "1",
            "log the I/O priority value (0x0000: diorite issues none yet) instead of 0/1",
            |j, g, v| j.logs.log_prio = v.bool()
        ),
        opt!(
            "per_job_logs",
            [],
            ValueKind::Bool,
            Job, Group::Logs, "1",
            "0",
            "name logs PREFIX_TYPE.N.log per job (1, the default) or PREFIX_TYPE.log (0)",
            |j, g, v| j.logs.per_job_logs = v.bool()
        ),
        opt!(
            "verify",
            [],
            ValueKind::Str,
            Job, Group::Verify, "",
            "crc32c",
            "write blocks with a header and checksum, check them afterwards: md5, sha1, sha256, sha512, sha3-224/256/384/512, crc64, crc32, crc32c(-intel), crc16, crc7, xxhash; meta (header only), pattern (verify_pattern only), null",
            |j, g, v| {
                match v.str() {
                    "0" | "none" => j.verify = false,
                    x => {
                        j.verification.verify_kind = crate::spec::verify::Kind::parse(x).ok_or_else(|| {
                            anyhow!(
                                "verify={x}: unknown (supported: {}){}",
                                crate::spec::verify::Kind::names(),
                                crate::spec::suggest::did_you_mean(
                                    x,
                                    crate::spec::verify::Kind::ALL.iter().map(|(_, n)| *n)
                                )
                            )
                        })?;
                        j.verify = true;
                    }
                }
            }
        ),
        opt!(
            "do_verify",
            [],
            ValueKind::Bool,
            Job, Group::Verify, "1",
            "0",
            "1 (default): run the verify phase after writing when verify is set",
            |j, g, v| j.do_verify = v.bool()
        ),
        opt!(
            "verify_only",
            [],
            ValueKind::Bool,
            Job, Group::Verify, "0",
            "1",
            "check a target written earlier by the same job; write nothing",
            |j, g, v| j.verify_only = v.bool()
        ),
        opt!(
            "verify_fatal",
            [],
            ValueKind::Bool,
            Job, Group::Verify, "0",
            "1",
            "stop at the first verify mismatch",
            |j, g, v| j.verify_fatal = v.bool()
        ),
        opt!(
            "verify_pattern",
            [],
            ValueKind::Str,
            Job, Group::Verify, "",
            "0xdeadbeef%o",
            "the data written and checked: 0xHEX, decimals, \"strings\", %o (the block's offset), repeated",
            |j, g, v| j.verification.verify_pattern = Some(crate::spec::verify::Pattern::parse(v.str()).map_err(|e| anyhow!(e))?)
        ),
        opt!(
            "verify_interval",
            [],
            ValueKind::Size,
            Job, Group::Verify, "",
            "512",
            "a verify header every this many bytes of a block (default: the block size)",
            |j, g, v| j.verification.verify_interval = Some(v.num())
        ),
        opt!(
            "verify_offset",
            [],
            ValueKind::Size,
            Job, Group::Verify, "",
            "1024",
            "swap the verify header with the data at this offset of each block (chunk)",
            |j, g, v| j.verification.verify_offset = Some(v.num())
        ),
        opt!(
            "verify_header_seed",
            [],
            ValueKind::Bool,
            Job, Group::Verify, "1",
            "0",
            "check the header's seed (default 1)",
            |j, g, v| j.verification.verify_header_seed = v.bool()
        ),
        opt!(
            "verify_write_sequence",
            [],
            ValueKind::Bool,
            Job, Group::Verify, "1",
            "0",
            "check the header's write sequence, the pass that wrote the block (default 1)",
            |j, g, v| j.verification.verify_write_sequence = v.bool()
        ),
        opt!(
            "verify_dump",
            [],
            ValueKind::Bool,
            Job, Group::Verify, "0",
            "1",
            "write each bad block as read and as expected to BASENAME.OFFSET.received/.expected",
            |j, g, v| j.verification.verify_dump = v.bool()
        ),
        opt!(
            "verify_async",
            [],
            ValueKind::Int(0, 1024),
            Job, Group::Verify, "0",
            "2",
            "check the blocks read back on this many threads (0: in the job thread)",
            |j, g, v| j.verification.verify_async = v.num() as u32
        ),
        opt!(
            "verify_backlog",
            [],
            ValueKind::Int(1, i64::MAX as u64),
            Job, Group::Verify, "",
            "16",
            "verify the written blocks every this many blocks written, during the write phase",
            |j, g, v| j.verification.verify_backlog = Some(v.num())
        ),
        opt!(
            "verify_backlog_batch",
            [],
            ValueKind::Int(1, i64::MAX as u64),
            Job, Group::Verify, "",
            "8",
            "with verify_backlog: how many of the oldest written blocks each round verifies (default: verify_backlog)",
            |j, g, v| j.verification.verify_backlog_batch = Some(v.num())
        ),
        opt!(
            "verify_state_save",
            [],
            ValueKind::Bool,
            Job, Group::Verify, "1",
            "0",
            "a verify job with fsync/fdatasync keeps local-JOB-0-verify.state of its durable writes (default 1; removed when the write phase ends)",
            |j, g, v| j.verification.verify_state_save = v.bool()
        ),
        opt!(
            "verify_state_load",
            [],
            ValueKind::Bool,
            Job, Group::Verify, "0",
            "1",
            "with verify_only: check what the saved state says was durable; the rest is unknown",
            |j, g, v| j.verification.verify_state_load = v.bool()
        ),
        opt!(
            "experimental_verify",
            [],
            ValueKind::Bool,
            Job, Group::Verify, "0",
            "1",
            "verify by replaying the job's I/O (diorite always does: the same blocks, the same expectations)",
            |j, g, v| j.verification.experimental_verify = v.bool()
        ),
        opt!(
            "group_reporting",
            [],
            ValueKind::Bool,
            Global, Group::Output, "0",
            "1",
            "report each group of jobs as one",
            |j, g, v| g.group_reporting = v.bool()
        ),
        opt!(
            "output_format",
            [],
            ValueKind::Str,
            Global, Group::Output, "normal",
            "json,normal",
            "normal (default), terse, json, json+, or several, comma-separated",
            |j, g, v| {
                let mut formats = Vec::new();
                for f in v.str().split(',').map(str::trim) {
                    let f = match f {
                        "normal" => OutputFormat::Normal,
                        "terse" => OutputFormat::Terse,
                        "json" => OutputFormat::Json,
                        "json+" => OutputFormat::JsonPlus,
                        x => bail!(
                            "output-format={x}: unsupported (supported: normal, terse, json, json+)"
                        ),
                    };
                    if !formats.contains(&f) {
                        formats.push(f);
                    }
                }
                g.formats = formats
            }
        ),
        opt!(
            "minimal",
            [],
            ValueKind::Bool,
            Global, Group::Output, "0",
            "1",
            "the same as output-format=terse",
            |j, g, v| if v.bool() {
                g.formats = vec![OutputFormat::Terse]
            }
        ),
        opt!(
            "status_interval",
            [],
            ValueKind::Time,
            Global, Group::Output, "",
            "1",
            "print the full status report this often while the jobs run",
            |j, g, v| g.status_interval = Some(v.time().max(Duration::from_millis(100)))
        ),
        opt!(
            "eta",
            [],
            ValueKind::Choice(&["auto", "always", "never"], &[]),
            Global, Group::Output, "auto",
            "never",
            "when to draw the progress line: auto (default: on a terminal), always, never",
            |j, g, v| g.eta = match v.str() {
                "auto" => Eta::Auto,
                "always" => Eta::Always,
                "never" => Eta::Never,
                x => bail!("eta={x}: expected auto, always or never"),
            }
        ),
        opt!(
            "output",
            [],
            ValueKind::Str,
            Global, Group::Output, "",
            "/dev/null",
            "write the report to this file",
            |j, g, v| g.output = Some(PathBuf::from(v.str()))
        ),
        opt!(
            "section",
            [],
            ValueKind::Str,
            Global, Group::Output, "",
            "w",
            "run only this section of the job files (repeatable; [global] sections always apply), as fio",
            |j, g, v| g.sections.push(v.str().to_string())
        ),
        opt!(
            "parse_only",
            [],
            ValueKind::Bool,
            Global, Group::Output, "0",
            "1",
            "check every job and print what would run (one line per job clone), touching nothing (fio's --parse-only)",
            |j, g, v| g.parse_only = v.bool()
        ),
        opt!(
            "latency_plot",
            [],
            ValueKind::Str,
            Global, Group::Output, "",
            "/dev/null",
            "write a latency histogram and percentile curve (SVG)",
            |j, g, v| g.latency_plot = Some(PathBuf::from(v.str()))
        ),
        opt!(
            "readonly",
            [],
            ValueKind::Bool,
            Global, Group::CommandLine, "0",
            "1",
            "refuse every job that writes or trims, and every layout: the run only reads (fio's safety switch)",
            |j, g, v| g.readonly = v.bool()
        ),
        opt!(
            "eta_interval",
            [],
            ValueKind::Time,
            Global, Group::CommandLine, "250ms",
            "1",
            "how often the progress line is redrawn (at least 250ms, as fio; fio's default is 1s)",
            |j, g, v| {
                if v.time() < Duration::from_millis(250) {
                    bail!("eta-interval: at least 250ms (as fio)");
                }
                g.eta_interval = v.time()
            }
        ),
        opt!(
            "eta_newline",
            [],
            ValueKind::Time,
            Global, Group::CommandLine, "",
            "5",
            "keep the progress line as a line of its own this often (a log of the run's progress)",
            |j, g, v| {
                if v.time().is_zero() {
                    bail!("eta-newline: the time must be above 0 (as fio)");
                }
                g.eta_newline = Some(v.time())
            }
        ),
        opt!(
            "warnings_fatal",
            [],
            ValueKind::Bool,
            Global, Group::CommandLine, "0",
            "1",
            "a warning about the jobs ends the run before anything is touched",
            |j, g, v| g.warnings_fatal = v.bool()
        ),
        opt!(
            "append_terse",
            [],
            ValueKind::Bool,
            Global, Group::CommandLine, "0",
            "1",
            "also print the terse report, after the others",
            |j, g, v| if v.bool() && !g.formats.contains(&OutputFormat::Terse) {
                g.formats.push(OutputFormat::Terse)
            }
        ),
        opt!(
            "terse_version",
            [],
            ValueKind::Choice(&["3"], &["2", "4", "5"]),
            Global, Group::CommandLine, "3",
            "3",
            "the terse format's version: 3 (fio's default; 2, 4 and 5 are refused)",
            |j, g, v| {}
        ),
        opt!(
            "aux_path",
            [],
            ValueKind::Str,
            Global, Group::CommandLine, "",
            "/tmp",
            "the directory of the verify state and verify_dump files (default: the working directory)",
            |j, g, v| {
                // Checked now: a verify dump or state into a missing directory would fail mid-run.
                if !std::path::Path::new(v.str()).is_dir() {
                    bail!("aux-path={}: not a directory", v.str());
                }
                j.verification.aux_path = Some(PathBuf::from(v.str()))
            }
        ),
        opt!(
            "max_jobs",
            [],
            ValueKind::Int(1, u32::MAX as u64),
            Global, Group::CommandLine, "",
            "4",
            "accepted with no effect, as fio 3.33 (\"we don't track/need this anymore\")",
            |j, g, v| {}
        ),
        opt!(
            "alloc_size",
            [],
            ValueKind::Int(1, u32::MAX as u64),
            Global, Group::CommandLine, "",
            "16384",
            "fio's shared-memory pool in KiB: diorite has no fixed pool (it allocates what the jobs need), so the value is checked and has nothing to size",
            |j, g, v| {}
        ),
        opt!(
            "version",
            [],
            ValueKind::Bool,
            Global, Group::CommandLine, "0",
            "1",
            "print diorite's version and the fio version whose options it follows; run nothing",
            |j, g, v| if v.bool() {
                g.show = Some(crate::spec::Show::Version)
            }
        ),
        opt!(
            "cmdhelp",
            [],
            ValueKind::OptStr,
            Global, Group::CommandLine, "",
            "bs",
            "print one option's help (alone, or =all: every option's); run nothing",
            |j, g, v| {
                let name = if v.str().is_empty() { "all" } else { v.str() };
                g.show = Some(crate::spec::Show::Option(name.to_string()))
            }
        ),
        opt!(
            "enghelp",
            [],
            ValueKind::OptStr,
            Global, Group::CommandLine, "",
            "io_uring",
            "list the I/O engines, or describe one; run nothing",
            |j, g, v| g.show = Some(crate::spec::Show::Engine(v.str().to_string()))
        ),
    ];

/// fio's options diorite refuses, each with its reason (an error names both; `docs/cli.md`
/// lists them). Options not here and not in [`OPTIONS`] are unknown to fio too.
pub const REFUSED: &[(&str, &str)] = &[
    (
        "latency_log",
        "fio 3.33 refuses it too (deprecated): use write_lat_log in the job",
    ),
    (
        "bandwidth_log",
        "aggregate bandwidth logs are not written: use write_bw_log in the job",
    ),
    ("debug", "fio's debug categories trace fio's own internals"),
    ("inflate_log", "diorite writes no compressed logs"),
    (
        "profile",
        "fio's built-in profiles (tiobench, act) are not included",
    ),
    (
        "showcmd",
        "turning a job file into a command line is not supported",
    ),
    (
        "server",
        "the server is its own command: diorite server --bind ADDR [--allow DIR]",
    ),
    (
        "server_internal",
        "the server is its own command: diorite server --bind ADDR [--allow DIR]",
    ),
    (
        "daemonize",
        "diorite server runs in the foreground (use your service manager)",
    ),
    (
        "client",
        "--client starts diorite bench's client mode: --client=ADDR JOBFILE, on the command line",
    ),
    (
        "remote_config",
        "the server would read a job file it holds; send the job file with --client=ADDR JOBFILE",
    ),
    ("cpuclock_test", "a self-test of fio's own clock"),
    ("crctest", "a speed test of fio's own checksum code"),
    ("memcpytest", "a speed test of fio's own memcpy"),
    ("idle_prof", "CPU idleness profiling is not supported"),
    (
        "trigger_file",
        "triggers (commands run on a condition) are not supported",
    ),
    (
        "trigger_timeout",
        "triggers (commands run on a condition) are not supported",
    ),
    (
        "trigger",
        "triggers (commands run on a condition) are not supported",
    ),
    (
        "trigger_remote",
        "triggers (commands run on a condition) are not supported",
    ),
    ("merge_blktrace_only", "blktrace replay is not supported"),
];

/// The reason diorite refuses fio's option `name` (normalized), if it is one of [`REFUSED`].
pub fn refused(name: &str) -> Option<&'static str> {
    REFUSED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| *why)
}

/// The help groups of `diorite bench --help`, in the order it prints them; each option names
/// its own (the table is kept in this order too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Job,
    Files,
    Timing,
    Offsets,
    Data,
    Priorities,
    Logs,
    Verify,
    Output,
    CommandLine,
}

impl Group {
    /// Every group, in the order of `--help`.
    pub const ALL: [Group; 10] = [
        Group::Job,
        Group::Files,
        Group::Timing,
        Group::Offsets,
        Group::Data,
        Group::Priorities,
        Group::Logs,
        Group::Verify,
        Group::Output,
        Group::CommandLine,
    ];

    /// The group's heading in `--help`.
    pub fn title(self) -> &'static str {
        match self {
            Group::Job => "Job, engine and I/O",
            Group::Files => "File sets",
            Group::Timing => "Flow and timing",
            Group::Offsets => "Offsets and patterns",
            Group::Data => "Data written",
            Group::Priorities => "Priorities, CPU, latency reporting",
            Group::Logs => "Logs",
            Group::Verify => "Verify",
            Group::Output => "Output (the whole run)",
            Group::CommandLine => "Command line only (fio's; not in job files)",
        }
    }
}

/// The option named `name` (normalized: `-` read as `_`, lower case), by name or alias.
pub fn lookup(name: &str) -> Option<&'static Opt> {
    OPTIONS
        .iter()
        .find(|o| o.name == name || o.aliases.contains(&name))
}
