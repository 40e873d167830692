//! The completion queue of a context: the lock-free [`Ring`] of completion events, the overflow
//! list behind it, and the protocol by which reapers sleep and are woken.
//!
//! # Posting and reaping
//! A backend posts each request's one event with [`CompletionQueue::post`]: into the ring, or —
//! when the ring is full (only a ring smaller than the context's depth can fill) — onto the
//! overflow list. While the list is non-empty every new event goes there too, so events are
//! delivered in the order they were posted. The list is preallocated for every event that can be
//! outstanding, so posting never allocates.
//!
//! # Sleeping without lost wake-ups
//! A reaper that found too few events registers in `waiting` (under its mutex: count, smallest
//! need), then — after a SeqCst fence — looks again before it sleeps. A poster pushes its event,
//! issues a SeqCst fence, and only then checks `reapers`. Either the poster sees the
//! registration (and takes the mutex to notify, which cannot slip between the reaper's last look
//! and its sleep, because the reaper holds the mutex across both), or the reaper's last look
//! sees the event. The same handshake serves [`CompletionQueue::wake_all`] (a kernel waiter
//! leaving, so another reaper can take its place) and [`CompletionQueue::close`].
//!
//! An async reaper (the [`Completions`](crate::future::Completions) stream) registers a waker
//! the same way ([`CompletionQueue::register_waker`]): it counts in `reapers` until a poster
//! (or `close`) takes its waker out and wakes it, once.

use crate::primitives::ring::Ring;
use crate::sync::{fence, lock, AtomicBool, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};
use crossbeam_utils::CachePadded;
use std::collections::VecDeque;
use std::task::Waker;
use std::time::Instant;

/// A completion on its way from a backend to a reaper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) tag: u32,
    /// Bytes (>= 0), `-errno`, or [`RES_CANCELED`].
    pub(crate) res: i64,
}

/// Event result meaning "canceled before it was issued".
pub(crate) const RES_CANCELED: i64 = i64::MIN;

struct Waiting {
    /// Reapers registered to sleep, and registered wakers.
    reapers: usize,
    /// The smallest number of ready events that satisfies one of them (`usize::MAX`: none; 1
    /// while a waker is registered).
    need: usize,
    /// Wakers of async reapers, each woken once by the first post (or close) after it
    /// registered; their capacity is kept, so registering allocates only while it grows.
    wakers: Vec<Waker>,
}

/// Ring + overflow list + reaper wake-ups. Invariants on the fields.
pub(crate) struct CompletionQueue {
    /// Events in posting order (while `overflowing` is false).
    ring: Ring<Event>,
    /// Events that did not fit in the ring, oldest first; capacity reserved for every event that
    /// can be outstanding (the context's depth), so pushing never allocates. Non-empty only
    /// while `overflowing` is set.
    overflow: Mutex<VecDeque<Event>>,
    /// Set (under the `overflow` lock) when an event went to the list; cleared by
    /// `flush_overflow` once the list is empty again (Release, pairs with the Acquire in `post`).
    overflowing: AtomicBool,
    /// Mirrors `waiting.reapers` for the posters' lock-free check. Incremented (SeqCst) by a
    /// reaper before its last look; read by posters after their SeqCst fence.
    reapers: CachePadded<AtomicUsize>,
    waiting: Mutex<Waiting>,
    wake: Condvar,
    /// Set once by `close` (Release); a closed queue wakes and releases every sleeper.
    closed: AtomicBool,
    /// One thread posts and reaps (see `set_one_thread`): `notify` has no one to wake.
    /// Invariant: set only before the queue is shared, never for a backend whose completions
    /// are posted by other threads (the thread pool) or for a context with futures.
    one_thread: bool,
}

impl CompletionQueue {
    /// A queue whose ring holds `ring` events, for at most `outstanding` events at once.
    pub(crate) fn new(ring: usize, outstanding: usize) -> crate::Result<CompletionQueue> {
        let ring = Ring::with_capacity(ring)?;
        let spill = outstanding.saturating_sub(ring.capacity());
        let mut list = VecDeque::new();
        list.try_reserve_exact(spill).map_err(|_| {
            crate::Error::os("Context::build", libc::ENOMEM).with_detail(format!(
                "cannot allocate an overflow list of {spill} events"
            ))
        })?;
        Ok(CompletionQueue {
            ring,
            overflow: Mutex::new(list),
            overflowing: AtomicBool::new(false),
            reapers: CachePadded::new(AtomicUsize::new(0)),
            waiting: Mutex::new(Waiting {
                reapers: 0,
                need: usize::MAX,
                wakers: Vec::new(),
            }),
            wake: Condvar::new(),
            closed: AtomicBool::new(false),
            one_thread: false,
        })
    }

    /// Declares that one thread does all the posting and reaping (a `LocalContext` whose
    /// backend completes in its caller: io_uring, Linux AIO, null). Set before the queue is
    /// shared.
    pub(crate) fn set_one_thread(&mut self) {
        self.one_thread = true;
    }

    /// Posts one event and wakes a reaper whose need it meets. Never blocks on another thread
    /// beyond a consumer finishing its read of the tail slot (`Ring::push_wait`); never
    /// allocates.
    #[inline]
    pub(crate) fn post(&self, ev: Event) {
        // Acquire: pairs with the Release store in `flush_overflow` that empties the list.
        if self.overflowing.load(Ordering::Acquire) || self.ring.push_wait(ev).is_err() {
            let mut list = lock(&self.overflow);
            list.push_back(ev);
            // Relaxed under the lock; a reaper that misses it finds the event on its next reap
            // (and `ready` counts the list only when set).
            self.overflowing.store(true, Ordering::Relaxed);
        }
        self.notify(false);
    }

    /// The poster's side of the sleep handshake (see the module docs). `all`: wake every
    /// sleeper whatever its need.
    #[inline]
    fn notify(&self, all: bool) {
        if self.one_thread {
            // The only reaper is the thread posting now: nobody sleeps, nobody is to be woken,
            // and the handshake's fence (a full barrier per completion) is not needed.
            return;
        }
        // SeqCst fence: pairs with the fence in `sleep` after a reaper registers: either we see
        // the reaper, or its last look sees our event (or our flag).
        fence(Ordering::SeqCst);
        if self.reapers.load(Ordering::Relaxed) > 0 {
            let mut w = lock(&self.waiting);
            if all || self.ready() >= w.need {
                self.wake.notify_all();
                Self::wake_wakers(&mut w, &self.reapers);
            }
        }
    }

    /// Wakes and unregisters every registered waker. Under the `waiting` lock.
    fn wake_wakers(w: &mut Waiting, reapers: &AtomicUsize) {
        let n = w.wakers.len();
        if n == 0 {
            return;
        }
        w.wakers.drain(..).for_each(Waker::wake);
        w.reapers -= n;
        if w.reapers == 0 {
            w.need = usize::MAX;
        }
        // Relaxed: under the mutex, as in `sleep`.
        reapers.fetch_sub(n, Ordering::Relaxed);
    }

    /// An async reaper found nothing to reap: registers `waker` to be woken by the next post
    /// (or close). Returns `true` when events (or the close) arrived meanwhile — the caller
    /// reaps again instead of waiting; the registration then only costs a spurious wake-up.
    pub(crate) fn register_waker(&self, waker: &Waker) -> bool {
        {
            let mut w = lock(&self.waiting);
            if !w.wakers.iter().any(|k| k.will_wake(waker)) {
                w.wakers.push(waker.clone());
                w.reapers += 1;
                w.need = 1;
                // SeqCst (RMW + fence below): pairs with the fence in `notify`, as in `sleep`.
                self.reapers.fetch_add(1, Ordering::SeqCst);
            }
        }
        fence(Ordering::SeqCst);
        self.ready() > 0 || self.is_closed()
    }

    /// Wakes every sleeping reaper, so one of them re-checks what it waits for (a backend's
    /// kernel wait became free).
    pub(crate) fn wake_all(&self) {
        self.notify(true);
    }

    /// Events ready to reap (a snapshot).
    pub(crate) fn ready(&self) -> usize {
        let mut n = self.ring.len();
        if self.overflowing.load(Ordering::Relaxed) {
            n += lock(&self.overflow).len();
        }
        n
    }

    /// Moves overflowed events into the ring while there is room.
    fn flush_overflow(&self) {
        if !self.overflowing.load(Ordering::Acquire) {
            return;
        }
        let mut list = lock(&self.overflow);
        while let Some(ev) = list.front().copied() {
            if self.ring.try_push(ev).is_err() {
                return;
            }
            list.pop_front();
        }
        // Release: pairs with the Acquire load in `post`; posters go back to the ring only
        // after the list is empty, so order is kept.
        self.overflowing.store(false, Ordering::Release);
    }

    /// Takes up to `max` events in posting order, handing each to `f`. Returns how many.
    #[inline]
    pub(crate) fn reap(&self, max: usize, mut f: impl FnMut(Event)) -> usize {
        let mut got = 0;
        while got < max {
            let n = self.ring.pop_with(max - got, &mut f);
            got += n;
            if !self.overflowing.load(Ordering::Acquire) {
                break;
            }
            self.flush_overflow();
            if n == 0 && self.ring.is_empty() {
                break;
            }
        }
        got
    }

    /// Sleeps until `need` events are ready, the queue is closed, `deadline` passes, or (when
    /// `until_free` is given) `until_free()` turns true — checked under the same handshake, so
    /// a [`CompletionQueue::wake_all`] after it turned true is never lost. Returns `false` on
    /// timeout.
    pub(crate) fn sleep(
        &self,
        need: usize,
        deadline: Option<Instant>,
        until_free: Option<&dyn Fn() -> bool>,
    ) -> bool {
        let mut w = lock(&self.waiting);
        w.reapers += 1;
        w.need = w.need.min(need);
        // SeqCst (RMW + fence): pairs with the fence in `notify`.
        self.reapers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let mut ok = true;
        // Acquire: pairs with the Release store in `close`.
        while self.ready() < need
            && !self.closed.load(Ordering::Acquire)
            && !until_free.is_some_and(|f| f())
        {
            match deadline {
                None => w = wait(&self.wake, w),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        ok = false;
                        break;
                    }
                    w = wait_timeout(&self.wake, w, d - now);
                }
            }
        }
        w.reapers -= 1;
        if w.reapers == 0 {
            w.need = usize::MAX;
        }
        // Relaxed: under the mutex; a poster that still sees the old count only takes the
        // mutex for nothing.
        self.reapers.fetch_sub(1, Ordering::Relaxed);
        ok
    }

    /// Closes the queue: every sleeper wakes and sees it closed.
    pub(crate) fn close(&self) {
        {
            let mut w = lock(&self.waiting);
            // Release: pairs with the Acquire loads in `sleep` and `is_closed`.
            self.closed.store(true, Ordering::Release);
            self.wake.notify_all();
            Self::wake_wakers(&mut w, &self.reapers);
        }
        // SeqCst fence: pairs with the fence in `KernelWait::try_enter`: the closer's next look
        // at the kernel wait sees a waiter that did not see `closed`.
        fence(Ordering::SeqCst);
    }

    /// Whether [`CompletionQueue::close`] ran.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: pairs with the Release store in `close`.
        self.closed.load(Ordering::Acquire)
    }

    /// Events in the ring (a snapshot without the overflow lock), and whether the list holds
    /// more: for a reaper's spin before it sleeps.
    #[inline]
    pub(crate) fn ring_len(&self) -> (usize, bool) {
        (self.ring.len(), self.overflowing.load(Ordering::Relaxed))
    }
}

fn wait<'a, T>(cv: &Condvar, g: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    #[cfg(diorite_loom)]
    {
        cv.wait(g).unwrap()
    }
    #[cfg(not(diorite_loom))]
    {
        cv.wait(g).unwrap_or_else(|p| p.into_inner())
    }
}

fn wait_timeout<'a, T>(
    cv: &Condvar,
    g: MutexGuard<'a, T>,
    d: std::time::Duration,
) -> MutexGuard<'a, T> {
    #[cfg(diorite_loom)]
    {
        cv.wait_timeout(g, d).unwrap().0
    }
    #[cfg(not(diorite_loom))]
    {
        match cv.wait_timeout(g, d) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        }
    }
}

#[cfg(all(test, diorite_loom))]
mod loom_models {
    //! The context's own protocols, driven by a fake backend: threads that post events as a
    //! backend would.
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// A completion racing a reaper that registers to sleep: the reaper always wakes (a lost
    /// wake-up would be a deadlock, which loom reports), and then finds the event.
    #[test]
    fn loom_completion_vs_sleeping_reaper() {
        loom::model(|| {
            let cq = Arc::new(CompletionQueue::new(2, 2).unwrap());
            let backend = {
                let cq = cq.clone();
                thread::spawn(move || cq.post(Event { tag: 1, res: 0 }))
            };
            let mut got = Vec::new();
            while cq.reap(1, |e| got.push(e)) == 0 {
                assert!(cq.sleep(1, None, None));
                // `ready` counts an event whose poster claimed its ring slot and is still
                // writing it: the reaper may wake a few instructions early and look again.
                thread::yield_now();
            }
            backend.join().unwrap();
            assert_eq!(got, [Event { tag: 1, res: 0 }]);
        });
    }

    /// A ring of 2 and three events from two posters: the overflow list keeps each poster's
    /// order and loses nothing, with a reaper running concurrently.
    #[test]
    fn loom_overflow_keeps_order_and_loses_nothing() {
        loom::model(|| {
            let cq = Arc::new(CompletionQueue::new(2, 3).unwrap());
            let a = {
                let cq = cq.clone();
                thread::spawn(move || {
                    cq.post(Event { tag: 0, res: 0 });
                    cq.post(Event { tag: 1, res: 0 });
                })
            };
            cq.post(Event { tag: 2, res: 0 });
            let mut got = Vec::new();
            cq.reap(1, |e| got.push(e.tag));
            a.join().unwrap();
            while cq.reap(3, |e| got.push(e.tag)) > 0 {}
            let mut sorted = got.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2], "lost or duplicated: {got:?}");
            let p0: Vec<_> = got.iter().filter(|t| **t < 2).collect();
            assert_eq!(p0, [&0, &1], "poster order broken: {got:?}");
        });
    }

    /// A completion racing an async reaper (the `Completions` stream) that registers its
    /// waker: it either finds the event on its re-check, or is woken.
    #[test]
    fn loom_completion_vs_registering_waker() {
        use std::task::{Wake, Waker};
        struct Flag(AtomicBool);
        impl Wake for Flag {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        loom::model(|| {
            let cq = Arc::new(CompletionQueue::new(2, 2).unwrap());
            let backend = {
                let cq = cq.clone();
                thread::spawn(move || cq.post(Event { tag: 1, res: 0 }))
            };
            let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            let waker = Waker::from(flag.clone());
            let mut got = Vec::new();
            while cq.reap(1, |e| got.push(e)) == 0 {
                if !cq.register_waker(&waker) {
                    while !flag.0.load(Ordering::SeqCst) {
                        thread::yield_now();
                    }
                }
                thread::yield_now();
            }
            backend.join().unwrap();
            assert_eq!(got, [Event { tag: 1, res: 0 }]);
        });
    }

    /// `close` releases a reaper asleep with no deadline.
    #[test]
    fn loom_close_releases_sleeping_reaper() {
        loom::model(|| {
            let cq = Arc::new(CompletionQueue::new(2, 2).unwrap());
            let reaper = {
                let cq = cq.clone();
                thread::spawn(move || cq.sleep(1, None, None))
            };
            cq.close();
            assert!(reaper.join().unwrap());
            assert!(cq.is_closed());
        });
    }

    /// A reaper sleeping because another holds the kernel wait is woken when that one leaves
    /// (`wake_all` after the flag is cleared): the hand-off of the kernel wait is never lost.
    #[test]
    fn loom_kernel_wait_handoff() {
        loom::model(|| {
            let cq = Arc::new(CompletionQueue::new(2, 2).unwrap());
            let busy = Arc::new(AtomicBool::new(true));
            let leaver = {
                let (cq, busy) = (cq.clone(), busy.clone());
                thread::spawn(move || {
                    // SeqCst: pairs with the SeqCst load in the sleeper's check.
                    busy.store(false, Ordering::SeqCst);
                    cq.wake_all();
                })
            };
            let free = || !busy.load(Ordering::SeqCst);
            assert!(cq.sleep(1, None, Some(&free)));
            leaver.join().unwrap();
        });
    }
}
