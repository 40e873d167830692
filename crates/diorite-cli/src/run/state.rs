//! Crash-consistent verify state: fio's `verify_state_save` / `verify_state_load`, made to
//! survive `kill -9`.
//!
//! A verifying write job with `fsync`/`fdatasync` numbers its writes in issue order (which is
//! the generator's order, so a later run can replay it). At each sync it issues, it takes a
//! snapshot of the writes completed so far — every write below a watermark plus the completed
//! ones above it; when that sync completes, those writes are durable, and the snapshot is
//! saved (temp file, `fdatasync`, rename: a kill at any moment leaves the old or the new state
//! whole). Each save also records a limit: the job issues no write numbered at or past it
//! until a later save raises it, so every write that may have reached the device is below the
//! saved limit. A `verify_only` run with `verify_state_load` replays the job up to the limit:
//! blocks whose last write is durable are checked, blocks that a write not known durable may
//! have touched are reported as unknown — not as corruption. When the write phase ends
//! normally the file is removed (fio keeps it only for a job that stopped mid-write).
//!
//! File: `local-JOBNAME-INDEX-verify.state` in the current directory (fio's name), text:
//! `diorite-verify-state 1`, `watermark=N`, `done=A,B,..`, `limit=L`.

use anyhow::{anyhow, bail, Context as _, Result};
use std::collections::{HashSet, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};

const MAGIC: &str = "diorite-verify-state 1";

/// fio's state file name for clone `index` of job `name`.
pub fn path(aux: Option<&std::path::Path>, name: &str, index: u32) -> PathBuf {
    let file = format!("local-{name}-{index}-verify.state");
    aux.map_or_else(|| PathBuf::from(&file), |d| d.join(&file))
}

/// The writer's side.
pub struct Tracker {
    path: PathBuf,
    /// Writes issued so far (the next write's number).
    next: u64,
    /// Every write below it completed.
    watermark: u64,
    /// Completion of writes `watermark..next`.
    window: VecDeque<bool>,
    /// The snapshot taken when the sync in flight was issued.
    at_sync: Option<(u64, Vec<u64>)>,
    /// Writes numbered at or past it wait for the next save; `None` for a job without syncs,
    /// which saves only when stopped mid-write (fio's behaviour).
    limit: Option<u64>,
    slack: u64,
}

impl Tracker {
    /// Starts tracking. With `slack` (a job with syncs), saves an empty state whose limit lets
    /// `slack` writes go, and saves again at each completed sync.
    pub fn new(path: PathBuf, slack: Option<u64>) -> Result<Tracker> {
        let t = Tracker {
            path,
            next: 0,
            watermark: 0,
            window: VecDeque::new(),
            at_sync: None,
            limit: slack,
            slack: slack.unwrap_or(0),
        };
        if let Some(l) = slack {
            t.save(0, &[], l)?;
        }
        Ok(t)
    }

    /// Whether the next write may be issued (below the saved limit).
    pub fn may_issue(&self) -> bool {
        self.limit.is_none_or(|l| self.next < l)
    }

    /// A write is issued: its number.
    pub fn issued(&mut self) -> u64 {
        self.window.push_back(false);
        self.next += 1;
        self.next - 1
    }

    /// Write `seq` completed (successfully).
    pub fn completed(&mut self, seq: u64) {
        if let Some(d) = seq
            .checked_sub(self.watermark)
            .and_then(|i| self.window.get_mut(i as usize))
        {
            *d = true;
        }
        while self.window.front() == Some(&true) {
            self.window.pop_front();
            self.watermark += 1;
        }
    }

    /// The completed writes at or above the watermark.
    fn completed_above(&self) -> Vec<u64> {
        self.window
            .iter()
            .enumerate()
            .filter(|(_, d)| **d)
            .map(|(i, _)| self.watermark + i as u64)
            .collect()
    }

    /// A sync is issued: what it will make durable.
    pub fn sync_issued(&mut self) {
        self.at_sync = Some((self.watermark, self.completed_above()));
    }

    /// The sync completed: its snapshot is durable; save it, and let `slack` more writes go.
    pub fn sync_completed(&mut self) -> Result<()> {
        if let (Some((w, done)), Some(_)) = (self.at_sync.take(), self.limit) {
            let limit = self.next + self.slack;
            self.save(w, &done, limit)?;
            self.limit = Some(limit);
        }
        Ok(())
    }

    /// The write phase ended normally: no state is needed.
    pub fn finish(self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// The job stopped mid-write (Ctrl-C, an error): saves every write completed so far — the
    /// process is gone, not the device's power — with nothing issued past them in flight.
    pub fn stopped(self) -> Result<()> {
        self.save(self.watermark, &self.completed_above(), self.next)
    }

    fn save(&self, watermark: u64, done: &[u64], limit: u64) -> Result<()> {
        let tmp = self.path.with_extension("state.tmp");
        let text = format!(
            "{MAGIC}\nwatermark={watermark}\ndone={}\nlimit={limit}\n",
            done.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("verify_state_save: creating {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_data()?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("verify_state_save: renaming to {}", self.path.display()))?;
        Ok(())
    }
}

/// A saved state, for the verifier.
pub struct State {
    watermark: u64,
    done: HashSet<u64>,
    /// Writes numbered at or past it were never issued.
    pub limit: u64,
}

impl State {
    pub fn load(path: &Path) -> Result<State> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("verify_state_load: reading {}", path.display()))?;
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            bail!(
                "verify_state_load: {} is not a diorite verify state",
                path.display()
            );
        }
        let mut field = |name: &str| -> Result<String> {
            let l = lines.next().unwrap_or("");
            l.strip_prefix(name)
                .and_then(|r| r.strip_prefix('='))
                .map(str::to_string)
                .ok_or_else(|| anyhow!("verify_state_load: {}: expected {name}=", path.display()))
        };
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| anyhow!("verify_state_load: bad number '{s}'"))
        };
        let watermark = num(&field("watermark")?)?;
        let done = field("done")?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(num)
            .collect::<Result<HashSet<u64>>>()?;
        let limit = num(&field("limit")?)?;
        Ok(State {
            watermark,
            done,
            limit,
        })
    }

    /// Whether write `seq` was durable when the state was saved.
    pub fn durable(&self, seq: u64) -> bool {
        seq < self.watermark || self.done.contains(&seq)
    }
}
