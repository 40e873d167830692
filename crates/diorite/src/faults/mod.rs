//! Fault injection: a backend that fails I/O on purpose, so users can test their error handling
//! (and the engine its own error paths) through the same API, deterministically.
//!
//! A [`Faults`] set is a list of [`Rule`]s: which operations a rule watches ([`Ops`]), when it
//! fires ([`When`]) and what it does ([`Fault`]). `ContextBuilder::faults(set)` builds a context
//! on the faulty backend: the thread pool, whose workers consult the rules before each request
//! (the first rule that fires decides). With no rule it is exactly the thread pool, and the
//! conformance suite runs against it. Rules are data: a builder, and a text form for command
//! lines (`diorite bench --inject`):
//!
//! ```text
//! write:nth=3:eio; read:range=0-65536:short=4096; fsync:always:drop; any:p=0.01:delay=2ms
//! ```
//!
//! Rule syntax: `OPS:WHEN:FAULT`, rules separated by `;`; every rule counts each request it
//! watches, and the first rule that fires decides. `OPS` is `any` or `+`-joined
//! `read`, `write`, `fsync` (fsync and fdatasync), `discard` (discard and write-zeroes).
//! `WHEN`: `always`, `nth=N` (the Nth request the rule watches, counting from 1), `every=N`,
//! `range=START-END` (requests touching bytes `[START, END)` of the file), `p=P` (probability,
//! from the set's seed). `FAULT`: `eio`, `enospc`, `eagain`, `etimedout`, `errno=N`, `short=N`
//! (only the first N bytes are transferred, and the completion says so), `torn=N` (a write: only
//! the first N bytes reach the file, but the completion reports all of them — what a power cut
//! mid-write leaves), `delay=DURATION` (`us`, `ms`, `s`), `stall` (holds the request until
//! [`Context::release_stalled`](crate::Context::release_stalled) or close), `drop` (a flush
//! reports success and does nothing), `reorder` (the completion is posted after that of a
//! request that finishes later). Byte counts of `short` and `torn` are rounded down to the
//! file's `offset_align`, as direct I/O requires; neither splits an atomic write
//! ([`Request::atomic`](crate::Request::atomic)), which is performed whole, as the kernel
//! never tears one.
//!
//! # Power-loss simulation
//! [`Recorder`] (given to `ContextBuilder::record`) records what the faulty backend issues;
//! [`CrashLog`] lists the states a power cut may leave and rebuilds each on a scratch file
//! ([`CrashState::materialise`]); [`CrashLog::explore`] runs a recovery check over them. The
//! model's rules and what it leaves out are on [`CrashLog`].

mod crash;
mod record;

pub use crash::{
    CheckResult, CrashFailure, CrashLog, CrashState, Explore, Explored, Fate, Image, States,
};
pub(crate) use record::Outcome;
pub use record::{Op, OpClass, Recorder};

use crate::direct::request::{OpKind, Request};
use crate::error::{Error, ErrorKind, Result};
use crate::sync::{AtomicU64, Ordering};
use std::fmt;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Which operations a rule watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ops {
    /// Reads.
    pub read: bool,
    /// Writes.
    pub write: bool,
    /// fsync and fdatasync.
    pub flush: bool,
    /// Discard and write-zeroes.
    pub discard: bool,
}

impl Ops {
    /// Every operation (noops are never faulted).
    pub const ANY: Ops = Ops {
        read: true,
        write: true,
        flush: true,
        discard: true,
    };

    fn watches(&self, op: OpKind) -> bool {
        match op {
            OpKind::Read => self.read,
            OpKind::Write => self.write,
            OpKind::Fsync | OpKind::Fdatasync => self.flush,
            OpKind::Discard | OpKind::WriteZeroes => self.discard,
            _ => false,
        }
    }
}

/// When a rule fires, among the requests it watches.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum When {
    /// Every time.
    Always,
    /// The Nth request (from 1), once.
    Nth(u64),
    /// Every Nth request.
    Every(u64),
    /// Requests touching bytes `[start, end)` of their file.
    Range {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// With this probability, from the set's seed (reproducible for the same order of requests).
    Chance(f64),
}

/// What a rule does to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Fails with this errno; nothing is transferred.
    Error(i32),
    /// Transfers only the first N bytes (rounded down to the file's offset alignment) and
    /// completes with that count: an honest partial result.
    Short(u64),
    /// A write of which only the first N bytes (rounded down as for `Short`) reach the file,
    /// completing with the full length as if all were written. Other operations run normally.
    Torn(u64),
    /// Waits this long, then performs the request.
    Delay(Duration),
    /// Holds the request (and the worker performing it) until `release_stalled` or close.
    Stall,
    /// A flush that reports success and does nothing. Other operations run normally.
    DropFlush,
    /// The request is performed, but its completion is posted after that of a request that
    /// finishes later (held until another running request's completion is posted; with nothing
    /// else running it is posted at once).
    Reorder,
}

/// One rule: which operations, when, what.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    /// The operations it watches.
    pub ops: Ops,
    /// When it fires.
    pub when: When,
    /// What it does.
    pub fault: Fault,
}

impl Rule {
    /// A rule, checked: `nth` and `every` count from 1 (0 would never fire, or divide by
    /// zero); a range is non-empty; a probability lies in `[0, 1]`; an errno is a positive
    /// errno below 4096 (the kernel's range: a larger or negative value would read as bytes
    /// transferred). The text form ([`Faults::parse`]) goes through the same checks.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming the part that is wrong.
    pub fn new(ops: Ops, when: When, fault: Fault) -> Result<Rule> {
        let bad = |what: String| {
            Err(Error::new(ErrorKind::InvalidInput, "Faults::rule").with_detail(what))
        };
        match when {
            When::Nth(0) | When::Every(0) => {
                return bad("WHEN nth=N or every=N needs N > 0 (they count from 1)".into())
            }
            When::Range { start, end } if start >= end => {
                return bad(format!("range {start}-{end}: START must be below END"))
            }
            When::Chance(p) if !(0.0..=1.0).contains(&p) => {
                return bad(format!("p={p}: a probability is in [0, 1]"))
            }
            _ => {}
        }
        if let Fault::Error(e) = fault {
            if !(1..MAX_ERRNO).contains(&e) {
                return bad(format!(
                    "errno {e}: an errno is a positive number below {MAX_ERRNO}"
                ));
            }
        }
        Ok(Rule { ops, when, fault })
    }
}

/// The kernel's errno range is `1..4096` (`MAX_ERRNO`): a completion result of `-e` for `e`
/// in it is an error, anything else a byte count.
const MAX_ERRNO: i32 = 4096;

/// A set of fault rules with the seed for `p=` rules. See the module docs.
///
/// ```
/// use diorite::faults::{Fault, Faults, Ops, When};
/// let f = Faults::new(7).rule(Ops { write: true, ..Ops::default() }, When::Nth(3), Fault::Error(libc::EIO))?;
/// assert_eq!(f.to_string(), "write:nth=3:eio");
/// assert_eq!(Faults::parse("write:nth=3:eio", 7)?, f);
/// # Ok::<(), diorite::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Faults {
    seed: u64,
    rules: Vec<Rule>,
}

impl Faults {
    /// An empty set with `seed` for probability rules.
    pub fn new(seed: u64) -> Faults {
        Faults {
            seed,
            rules: Vec::new(),
        }
    }

    /// Adds a rule (rules are consulted in order; the first that fires decides).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a rule that could never be applied as written, the same
    /// checks as the text form's ([`Rule::new`]).
    pub fn rule(mut self, ops: Ops, when: When, fault: Fault) -> Result<Faults> {
        self.rules.push(Rule::new(ops, when, fault)?);
        Ok(self)
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Parses the text form (module docs).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming the rule and the part that is wrong.
    pub fn parse(text: &str, seed: u64) -> Result<Faults> {
        let mut f = Faults::new(seed);
        for rule in text.split(';').map(str::trim).filter(|r| !r.is_empty()) {
            let bad = |what: &str| {
                Error::new(ErrorKind::InvalidInput, "Faults::parse")
                    .with_detail(format!("rule '{rule}': {what}"))
            };
            let parts: Vec<&str> = rule.split(':').map(str::trim).collect();
            let [ops, when, fault] = parts[..] else {
                return Err(bad("expected OPS:WHEN:FAULT"));
            };
            let mut o = Ops::default();
            for op in ops.split('+') {
                match op {
                    "any" => o = Ops::ANY,
                    "read" => o.read = true,
                    "write" => o.write = true,
                    "fsync" => o.flush = true,
                    "discard" => o.discard = true,
                    x => {
                        return Err(bad(&format!(
                            "unknown operation '{x}' (any, read, write, fsync, discard)"
                        )))
                    }
                }
            }
            let num = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| bad(&format!("'{v}' is not a number")))
            };
            let (key, val) = when.split_once('=').unwrap_or((when, ""));
            let w = match key {
                "always" => When::Always,
                "nth" => When::Nth(num(val)?),
                "every" => When::Every(num(val)?),
                "range" => {
                    let (a, b) = val
                        .split_once('-')
                        .ok_or_else(|| bad("range is START-END"))?;
                    let (start, end) = (num(a)?, num(b)?);
                    if start >= end {
                        return Err(bad("range START must be below END"));
                    }
                    When::Range { start, end }
                }
                "p" => When::Chance(
                    val.parse::<f64>()
                        .map_err(|_| bad("p is a probability in [0, 1]"))?,
                ),
                _ => {
                    return Err(bad(
                        "WHEN is always, nth=N, every=N (N > 0), range=A-B or p=P",
                    ))
                }
            };
            let (key, val) = fault.split_once('=').unwrap_or((fault, ""));
            let ft = match key {
                "eio" => Fault::Error(libc::EIO),
                "enospc" => Fault::Error(libc::ENOSPC),
                "eagain" => Fault::Error(libc::EAGAIN),
                "etimedout" => Fault::Error(libc::ETIMEDOUT),
                "errno" => Fault::Error(
                    val.parse::<i32>()
                        .map_err(|_| bad("errno is a positive number"))?,
                ),
                "short" => Fault::Short(num(val)?),
                "torn" => Fault::Torn(num(val)?),
                "delay" => Fault::Delay(parse_duration(val).ok_or_else(|| bad("delay is N us|ms|s"))?),
                "stall" => Fault::Stall,
                "drop" => Fault::DropFlush,
                "reorder" => Fault::Reorder,
                _ => {
                    return Err(bad(
                        "FAULT is eio, enospc, eagain, etimedout, errno=N, short=N, torn=N, delay=D, stall, drop or reorder",
                    ))
                }
            };
            let r = Rule::new(o, w, ft).map_err(|e| bad(&e.to_string()))?;
            f.rules.push(r);
        }
        Ok(f)
    }
}

/// A well-mixed, non-zero xorshift state from any seed (splitmix64).
fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) | 1
}

fn parse_duration(v: &str) -> Option<Duration> {
    let split = v.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = v.split_at(split);
    let n: u64 = n.parse().ok()?;
    match unit {
        "us" => Some(Duration::from_micros(n)),
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        _ => None,
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.rules.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let o = r.ops;
            if o == Ops::ANY {
                f.write_str("any")?;
            } else {
                let names = [
                    (o.read, "read"),
                    (o.write, "write"),
                    (o.flush, "fsync"),
                    (o.discard, "discard"),
                ];
                let on: Vec<&str> = names.iter().filter(|x| x.0).map(|x| x.1).collect();
                f.write_str(&on.join("+"))?;
            }
            match r.when {
                When::Always => f.write_str(":always")?,
                When::Nth(n) => write!(f, ":nth={n}")?,
                When::Every(n) => write!(f, ":every={n}")?,
                When::Range { start, end } => write!(f, ":range={start}-{end}")?,
                When::Chance(p) => write!(f, ":p={p}")?,
            }
            match r.fault {
                Fault::Error(e) => match e {
                    libc::EIO => f.write_str(":eio")?,
                    libc::ENOSPC => f.write_str(":enospc")?,
                    libc::EAGAIN => f.write_str(":eagain")?,
                    libc::ETIMEDOUT => f.write_str(":etimedout")?,
                    e => write!(f, ":errno={e}")?,
                },
                Fault::Short(n) => write!(f, ":short={n}")?,
                Fault::Torn(n) => write!(f, ":torn={n}")?,
                Fault::Delay(d) => write!(f, ":delay={}us", d.as_micros())?,
                Fault::Stall => f.write_str(":stall")?,
                Fault::DropFlush => f.write_str(":drop")?,
                Fault::Reorder => f.write_str(":reorder")?,
            }
        }
        Ok(())
    }
}

/// The rules at work in one context: per-rule counters, the random state, stalled requests.
pub(crate) struct FaultState {
    rules: Vec<Rule>,
    /// Requests each rule watched so far (for `nth` / `every`). Relaxed: counters; the order
    /// between workers is the order they took their requests, which is all a rule promises.
    seen: Vec<AtomicU64>,
    /// xorshift state for `p=` rules, under a lock so a seed gives one sequence.
    rng: Mutex<u64>,
    /// Stall generation and the closing flag; stalled workers wait for a change.
    stall: Mutex<(u64, bool)>,
    released: Condvar,
    /// Faults injected so far. Relaxed: a statistic.
    injected: AtomicU64,
    /// `reorder`: requests being performed, and completions held back. Invariant: a completion
    /// is held only while another request is running, and that request's `finish` posts it —
    /// both read and change under the `held` lock, so none is held forever.
    running: AtomicU64,
    held: Mutex<Vec<(u32, i64)>>,
    /// The power-loss simulator's recorder, when the context records (`record.rs`).
    pub(crate) recorder: Option<Recorder>,
}

impl FaultState {
    pub(crate) fn new(f: &Faults, recorder: Option<&Recorder>) -> FaultState {
        FaultState {
            recorder: recorder.cloned(),
            seen: f.rules.iter().map(|_| AtomicU64::new(0)).collect(),
            rules: f.rules.clone(),
            rng: Mutex::new(splitmix(f.seed)),
            stall: Mutex::new((0, false)),
            released: Condvar::new(),
            injected: AtomicU64::new(0),
            running: AtomicU64::new(0),
            held: Mutex::new(Vec::new()),
        }
    }

    /// A worker starts performing a request.
    pub(crate) fn begin(&self) {
        // Relaxed: read and decremented under `held`, whose lock orders them.
        self.running.fetch_add(1, Ordering::Relaxed);
    }

    /// A worker is done with slot `tag` (result `res`): `post` its completion, or hold it
    /// (`hold`, a reorder) while another request is running; then post what was held.
    pub(crate) fn finish(&self, tag: u32, res: i64, hold: bool, mut post: impl FnMut(u32, i64)) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let others = self.running.fetch_sub(1, Ordering::Relaxed) - 1;
        if hold && others > 0 {
            held.push((tag, res));
            return;
        }
        post(tag, res);
        for (t, r) in held.drain(..) {
            post(t, r);
        }
    }

    pub(crate) fn describe(&self) -> String {
        Faults {
            seed: 0,
            rules: self.rules.clone(),
        }
        .to_string()
    }

    /// The fault for `req`, if a rule fires. Every rule that watches the request counts it
    /// (so `nth=5` is the fifth request the rule watches, whatever other rules did); the first
    /// that fires decides.
    pub(crate) fn decide(&self, req: &Request) -> Option<Fault> {
        let mut chosen = None;
        for (i, r) in self.rules.iter().enumerate() {
            if !r.ops.watches(req.op) {
                continue;
            }
            let n = self.seen[i].fetch_add(1, Ordering::Relaxed) + 1;
            let fires = match r.when {
                When::Always => true,
                When::Nth(k) => n == k,
                When::Every(k) => n % k == 0,
                When::Range { start, end } => {
                    let len = req.len().max(1);
                    req.offset < end && req.offset.saturating_add(len) > start
                }
                When::Chance(p) => {
                    let mut x = self.rng.lock().unwrap_or_else(|e| e.into_inner());
                    *x ^= *x << 13;
                    *x ^= *x >> 7;
                    *x ^= *x << 17;
                    ((*x >> 11) as f64 / (1u64 << 53) as f64) < p
                }
            };
            if fires && chosen.is_none() {
                chosen = Some(r.fault);
            }
        }
        if chosen.is_some() {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        chosen
    }

    /// Blocks a stalled request until the next release or close.
    pub(crate) fn stall(&self) {
        let mut g = self.stall.lock().unwrap_or_else(|e| e.into_inner());
        let gen = g.0;
        while g.0 == gen && !g.1 {
            g = self.released.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Lets every stalled request go on; with `closing`, later stalls do not wait either.
    pub(crate) fn release(&self, closing: bool) {
        let mut g = self.stall.lock().unwrap_or_else(|e| e.into_inner());
        g.0 += 1;
        g.1 |= closing;
        self.released.notify_all();
    }

    pub(crate) fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }
}
