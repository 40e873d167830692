//! fio's I/O priorities for one job (`engines/cmdprio.c`, backend.c): `prio`/`prioclass` give
//! every I/O the job's priority; `cmdprio_percentage` gives that share of I/Os the `cmdprio_class`
//! / `cmdprio` priority instead (per direction); `cmdprio_bssplit` does it per block size, each
//! entry with its own priority or the cmdprio one. Also the job's table of distinct priorities
//! per direction (index 0: the job's own), which the per-priority latency statistics (fio's
//! `clat_prio`) are kept by. Picking allocates nothing.

use super::workload::Dir;
use crate::rng::Rng;
use crate::spec::{CmdPrio, JobSpec, PrioSplit};
use diorite::IoClass;

/// A priority: class, level and hint (0: none).
pub type Prio = (IoClass, u8, u16);

/// fio's `ioprio_value` (class << 13 | hint << 3 | level; no class given is best effort), 0
/// for none.
pub fn value(p: Option<Prio>) -> u16 {
    p.map_or(0, |(c, l, h)| ((c as u16) << 13) | (h << 3) | u16::from(l))
}

/// A block size's `cmdprio_bssplit` entries: `(cumulative percent, priority)`.
type SizePrios = (u64, Vec<(u32, Prio)>);

/// How one job's I/Os get their priorities (see the module docs).
pub struct Prios {
    default: Option<Prio>,
    /// Per direction: the cmdprio share and priority, or the block-size split (sizes with
    /// their `(cumulative percent, priority)` entries).
    perc: [u32; 2],
    cmd: [Prio; 2],
    split: [Vec<SizePrios>; 2],
    rng: Rng,
    /// Per direction: the distinct priorities (ioprio values), the job's own first.
    pub table: [Vec<u16>; 2],
}

impl Prios {
    pub fn new(spec: &JobSpec, seed: u64) -> Prios {
        let default = spec.default_prio().map(|(c, l)| (c, l, 0));
        let c: &CmdPrio = &spec.placement.cmdprio;
        let cmd = [0, 1].map(|d| {
            (
                IoClass::from_number(c.class[d]).unwrap_or(IoClass::RealTime),
                c.level[d],
                0,
            )
        });
        let split = [0, 1].map(|d| {
            let mut out: Vec<SizePrios> = Vec::new();
            for &PrioSplit {
                bs,
                perc: pct,
                prio: p,
            } in &c.bssplit[d]
            {
                if pct == 0 {
                    continue;
                }
                let prio = p
                    .and_then(|(cl, l, h)| IoClass::from_number(cl).map(|cl| (cl, l, h)))
                    .unwrap_or(cmd[d]);
                match out.iter_mut().find(|e| e.0 == bs) {
                    Some(e) => {
                        let cum = e.1.last().map_or(0, |x| x.0) + pct;
                        e.1.push((cum, prio));
                    }
                    None => out.push((bs, vec![(pct, prio)])),
                }
            }
            out
        });
        let table = [0, 1].map(|d| {
            let mut t = vec![value(default)];
            let mut add = |p: Prio| {
                let v = value(Some(p));
                if !t.contains(&v) {
                    t.push(v);
                }
            };
            if c.perc[d] > 0 {
                add(cmd[d]);
            }
            for (_, entries) in &split[d] {
                for &(_, p) in entries {
                    add(p);
                }
            }
            t
        });
        Prios {
            default,
            perc: c.perc,
            cmd,
            split,
            rng: Rng::new(seed ^ 0x7072_696f_7374_6174),
            table,
        }
    }

    /// Whether any I/O may get a priority other than the job's own.
    pub fn mixed(&self) -> bool {
        self.table.iter().any(|t| t.len() > 1)
    }

    /// The priority of an I/O of `len` bytes in direction `dir`, and its index in the table.
    pub fn pick(&mut self, dir: Dir, len: u64) -> (Option<Prio>, u8) {
        let d = dir as usize;
        if d > 1 {
            return (self.default, 0);
        }
        // fio_cmdprio_set_ioprio: a draw in 0..100 below the share picks the cmdprio.
        let chosen = if !self.split[d].is_empty() {
            let entries = self.split[d].iter().find(|e| e.0 == len).map(|e| &e.1);
            match entries {
                Some(entries) => {
                    let r = self.rng.below(100) as u32;
                    entries.iter().find(|(cum, _)| r < *cum).map(|&(_, p)| p)
                }
                None => None,
            }
        } else if self.perc[d] > 0 && (self.rng.below(100) as u32) < self.perc[d] {
            Some(self.cmd[d])
        } else {
            None
        };
        match chosen {
            Some(p) => {
                let v = value(Some(p));
                let i = self.table[d].iter().position(|&x| x == v).unwrap_or(0);
                (Some(p), i as u8)
            }
            None => (self.default, 0),
        }
    }
}

/// fio's `ioprio_set` of the job (backend.c, before the engine starts): the job thread's own
/// I/O priority, which its synchronous I/O (psync) carries; the engine's requests carry it
/// explicitly (`Request::with_priority`).
pub fn set_thread(p: Option<Prio>) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let Some(p) = p else { return Ok(()) };
    // SAFETY: no memory arguments; IOPRIO_WHO_PROCESS (1) with who 0 is this thread.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            1,
            0,
            libc::c_long::from(value(Some(p))),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("ioprio_set (prioclass={}, prio={})", p.0 as u8, p.1));
    }
    Ok(())
}
