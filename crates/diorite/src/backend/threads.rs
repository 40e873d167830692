//! The thread-pool backend: workers take tags from a lock-free job ring and perform the I/O with
//! `preadv2(2)`/`pwritev2(2)`/`fsync(2)`. Idle workers park on a condition variable; a submit
//! takes the park lock only when a worker is idle (the wakeup the design needs).

use crate::direct::execute::{execute, transfer};
use crate::direct::request::{OpKind, Request};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::faults::{Fault, FaultState, Outcome};
use crate::primitives::ring::Ring;
use crate::sync::{fence, lock, AtomicUsize, Condvar, Mutex, Ordering};
use crate::sys::IoVec;
use crossbeam_utils::CachePadded;
use std::sync::Arc;
use std::thread::JoinHandle;

pub(crate) struct Pool {
    threads: usize,
    /// The faulty backend: rules consulted before each request (`faults.rs`).
    faults: Option<Arc<FaultState>>,
    /// The queue the workers share (also held by each worker).
    jobs: Arc<Jobs>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

/// Tags waiting for a worker, and the workers' parking protocol. Invariants on the fields.
struct Jobs {
    /// Tags waiting for a worker. Capacity >= depth and every tag is pushed at most once while
    /// queued, so `push_wait` (exact "full" verdict) never fails.
    ring: Ring<u32>,
    /// Workers parked or about to park. Incremented (SeqCst + fence) before a worker's last look
    /// at `ring`; read by submitters after their fence.
    idle: CachePadded<AtomicUsize>,
    /// `true` once the pool is stopping. Guarded by the mutex so parking and stopping are ordered.
    park: Mutex<bool>,
    cv: Condvar,
}

impl Pool {
    pub(crate) fn new(depth: u32, threads: usize, faults: Option<FaultState>) -> Result<Pool> {
        Ok(Pool {
            threads,
            faults: faults.map(Arc::new),
            jobs: Arc::new(Jobs {
                ring: Ring::with_capacity(depth as usize)?,
                idle: CachePadded::new(AtomicUsize::new(0)),
                park: Mutex::new(false),
                cv: Condvar::new(),
            }),
            handles: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn report(&self) -> String {
        match &self.faults {
            Some(f) => {
                let rules = f.describe();
                format!(
                    "{} worker threads, preadv2/pwritev2, {}{}",
                    self.threads,
                    if rules.is_empty() {
                        "no fault rules".to_string()
                    } else {
                        format!("injecting faults: {rules}")
                    },
                    if f.recorder.is_some() {
                        ", recording for crash states"
                    } else {
                        ""
                    }
                )
            }
            None => format!("{} worker threads, preadv2/pwritev2", self.threads),
        }
    }

    /// The fault rules, on the faulty backend.
    pub(crate) fn faults(&self) -> Option<&FaultState> {
        self.faults.as_deref()
    }

    pub(crate) fn start(&self, engine: &Arc<Engine>) -> Result<()> {
        let mut handles = lock(&self.handles);
        for i in 0..self.threads {
            let (engine, jobs, faults) = (engine.clone(), self.jobs.clone(), self.faults.clone());
            let h = std::thread::Builder::new()
                .name(format!("diorite-io-{i}"))
                .spawn(move || worker(&engine, &jobs, faults.as_deref()))
                .map_err(|e| Error::from_io("Context::build", &e))?;
            handles.push(h);
        }
        Ok(())
    }

    pub(crate) fn submit(&self, tag: u32, kick: bool) {
        // The ring has room for every tag, and the pusher owns `tag`: this cannot fail.
        let r = self.jobs.ring.push_wait(tag);
        debug_assert!(r.is_ok(), "job ring overflow (engine invariant broken)");
        if kick {
            self.jobs.wake(false);
        }
    }

    /// Caller-runs: a reaper about to wait performs one queued job itself, saving two thread
    /// handoffs (a cheap synchronous path). `false` when no job was queued.
    pub(crate) fn poll(&self, engine: &Engine) -> bool {
        // Not on the faulty backend: a stalled or delayed request would hold the reaper, which
        // may be the very thread that is to release it.
        if self.faults.is_some() {
            return false;
        }
        let Some(tag) = self.jobs.ring.try_pop() else {
            return false;
        };
        thread_local! {
            static IOV: std::cell::RefCell<Vec<IoVec>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        IOV.with(|iov| run(engine, tag, &mut iov.borrow_mut(), self.faults.as_deref()));
        true
    }

    pub(crate) fn kick(&self) {
        self.jobs.wake(true);
    }

    pub(crate) fn stop(&self) -> Result<()> {
        if let Some(f) = &self.faults {
            f.release(true);
        }
        *lock(&self.jobs.park) = true;
        self.jobs.cv.notify_all();
        let handles = std::mem::take(&mut *lock(&self.handles));
        let mut panicked = 0;
        for h in handles {
            if h.join().is_err() {
                panicked += 1;
            }
        }
        if panicked > 0 {
            return Err(Error::new(ErrorKind::Os, "Context::shutdown")
                .with_detail(format!("{panicked} worker thread(s) panicked")));
        }
        Ok(())
    }
}

impl Jobs {
    fn wake(&self, all: bool) {
        // SeqCst fence: pairs with the fence in `worker` after it registers as idle: either we
        // see it idle, or its last look at `ring` sees our push.
        fence(Ordering::SeqCst);
        if self.idle.load(Ordering::Relaxed) > 0 {
            let _g = lock(&self.park);
            if all {
                self.cv.notify_all();
            } else {
                self.cv.notify_one();
            }
        }
    }
}

fn worker(engine: &Engine, p: &Jobs, faults: Option<&FaultState>) {
    let mut iov: Vec<IoVec> = Vec::with_capacity(16);
    loop {
        if let Some(tag) = p.ring.try_pop() {
            run(engine, tag, &mut iov, faults);
            continue;
        }
        // Spin briefly before parking: a submitter usually follows within microseconds, and a
        // futex wake costs more than that. Bounded by `Backoff::is_completed` (a few microseconds).
        let backoff = crate::sync::Backoff::new();
        while !backoff.is_completed() && p.ring.is_empty() {
            backoff.snooze();
        }
        if !p.ring.is_empty() {
            continue;
        }
        let mut stop = lock(&p.park);
        if *stop {
            return;
        }
        // SeqCst (RMW + fence): pairs with the fence in `Jobs::wake`.
        p.idle.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if p.ring.is_empty() {
            stop = p.cv.wait(stop).unwrap_or_else(|e| e.into_inner());
        }
        p.idle.fetch_sub(1, Ordering::Relaxed);
        if *stop && p.ring.is_empty() {
            return;
        }
    }
}

fn run(engine: &Engine, tag: u32, iov: &mut Vec<IoVec>, faults: Option<&FaultState>) {
    // SAFETY: we were handed `tag`; the request is not used after its completion is posted.
    let Some(req) = (unsafe { engine.begin(tag) }) else {
        return;
    };
    // A panic while performing a request (a bug: nothing here panics by design) must not leave
    // it without its completion, nor the pool without a worker: the request completes with EIO
    // and the worker goes on. The request's memory is untouched by unwinding (it lives in its
    // slot), so nothing is observed half-changed.
    let caught = |r: std::thread::Result<(i64, bool)>| r.unwrap_or((-i64::from(libc::EIO), false));
    let caught_out = |r: std::thread::Result<(Outcome, bool)>| {
        r.unwrap_or((
            Outcome {
                res: -i64::from(libc::EIO),
                landed: u64::MAX,
                flushed: false,
            },
            false,
        ))
    };
    let Some(f) = faults else {
        let (res, _) = caught(std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            || (execute(req, iov), false),
        )));
        engine.complete(tag, res);
        return;
    };
    f.begin();
    let (out, hold) = caught_out(std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || faulty(req, iov, f),
    )));
    f.finish(tag, out.res, hold, |t, r| engine.complete(t, r));
}

/// Performs `req` as the first fault rule that fires says (or plainly), recording it when the
/// context records: what it did, and whether its completion is to be held back (`reorder`).
fn faulty(req: &Request, iov: &mut Vec<IoVec>, f: &FaultState) -> (Outcome, bool) {
    let fault = f.decide(req);
    // Recorded as issued before a stall or delay: they stand for a slow device, which has
    // the request (a flush issued meanwhile does not cover it).
    let id = f.recorder.as_ref().and_then(|r| r.issue(req));
    match fault {
        Some(Fault::Stall) => f.stall(),
        Some(Fault::Delay(d)) => std::thread::sleep(d),
        _ => {}
    }
    let out = perform(req, iov, fault);
    if let (Some(r), Some(id)) = (&f.recorder, id) {
        r.complete(id, out);
    }
    (out, fault == Some(Fault::Reorder))
}

/// Performs `req` under `fault`: its result, and how much of it may have reached the file.
fn perform(req: &Request, iov: &mut Vec<IoVec>, fault: Option<Fault>) -> Outcome {
    let res = perform_inner(req, iov, fault);
    let rw = matches!(req.op, OpKind::Read | OpKind::Write);
    let landed = match fault {
        Some(Fault::Error(_)) => 0,
        Some(Fault::Torn(n) | Fault::Short(n)) if rw && !req.atomic => {
            (n / offset_align(req) * offset_align(req)).min(req.len())
        }
        // A kernel error may have put any part of the request.
        _ if res < 0 => u64::MAX,
        _ => req.len(),
    };
    Outcome {
        res,
        landed,
        flushed: fault != Some(Fault::DropFlush),
    }
}

/// The unit direct I/O moves for `req` (reads may have a smaller one than writes).
fn offset_align(req: &Request) -> u64 {
    let read = req.op == OpKind::Read;
    req.file
        .as_ref()
        .map_or(1, |f| u64::from(f.geometry().offset_align_for(read).max(1)))
}

/// Performs `req` under `fault`: bytes or `-errno`.
fn perform_inner(req: &Request, iov: &mut Vec<IoVec>, fault: Option<Fault>) -> i64 {
    let rw = matches!(req.op, OpKind::Read | OpKind::Write);
    // Direct I/O moves whole aligned units: a prefix is rounded down to them.
    let align = |n: u64| {
        let a = offset_align(req);
        n / a * a
    };
    match fault {
        None => execute(req, iov),
        Some(Fault::Error(e)) => -i64::from(e),
        Some(Fault::DropFlush) if matches!(req.op, OpKind::Fsync | OpKind::Fdatasync) => 0,
        // An atomic write is never split: short= and torn= leave it whole, as the kernel would.
        Some(Fault::Short(_) | Fault::Torn(_)) if req.atomic => execute(req, iov),
        Some(Fault::Short(n)) if rw => transfer(req, iov, align(n)),
        Some(Fault::Torn(n)) if req.op == OpKind::Write => match transfer(req, iov, align(n)) {
            r if r < 0 => r,
            _ => req.len() as i64,
        },
        Some(_) => execute(req, iov),
    }
}
