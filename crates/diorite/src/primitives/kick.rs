//! The deferred-kick protocol: submitters that push work without a syscall ask one kicker
//! task to hand it to the kernel, and the kicker is woken at most once per batch.
//!
//! Used by the tokio watcher (`reactor.rs`): a future served by a runtime's watcher pushes its
//! SQE (iocb) and calls [`Kick::request`]; the watcher, polled as an ordinary task, calls
//! [`Kick::take`] and enters the kernel once for everything pushed meanwhile.
//!
//! # Why nothing is left unkicked
//! A submitter pushes, then sets `pending` (an AcqRel swap). The kicker registers its waker,
//! then clears `pending` (an AcqRel swap) and kicks when it was set. Either the kicker's clear
//! reads a set made after the push — it synchronizes with it, so its kick sees the push — or the
//! submitter's set reads the kicker's clear (or the initial state): it then synchronizes with
//! that clear, so it sees the waker registered before it and wakes it, and the kicker's next
//! poll kicks. A set that finds `pending` already set needs no wake: the kick that clears it is
//! still to come and reads this set or a later one. The loom model below checks this.

use crate::sync::{lock, AtomicBool, Mutex, Ordering};
use std::task::Waker;

/// One kicker's pending flag and waker. Invariants on the fields.
#[derive(Default)]
pub(crate) struct Kick {
    /// Whether pushed work waits for a kick. Set by [`Kick::request`] after a push (AcqRel
    /// swap); cleared by [`Kick::take`] before the kick (AcqRel swap). The two swaps are each
    /// other's partners.
    pending: AtomicBool,
    /// The kicker's waker, registered by [`Kick::take`] *before* it looks at `pending`; woken
    /// by the [`Kick::request`] that finds `pending` clear — once per batch, so the lock is
    /// not taken per request.
    waker: Mutex<Option<Waker>>,
}

impl Kick {
    /// After a push: make sure the kicker kicks. Wakes it only when no kick was pending.
    #[inline]
    pub(crate) fn request(&self) {
        // AcqRel: pairs with the swap in `take` (see the module docs).
        if !self.pending.swap(true, Ordering::AcqRel) {
            if let Some(w) = lock(&self.waker).as_ref() {
                w.wake_by_ref();
            }
        }
    }

    /// In the kicker, with its task's waker: whether a kick is due (it is then taken: the
    /// caller kicks).
    pub(crate) fn take(&self, waker: &Waker) -> bool {
        {
            let mut w = lock(&self.waker);
            if !w.as_ref().is_some_and(|w| w.will_wake(waker)) {
                *w = Some(waker.clone());
            }
        }
        // AcqRel: pairs with the swap in `request`.
        self.pending.swap(false, Ordering::AcqRel)
    }
}

#[cfg(all(test, diorite_loom))]
mod tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;
    use std::sync::atomic::{AtomicBool as StdBool, Ordering as StdOrdering};
    use std::task::Wake;

    struct Flag(StdBool);
    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, StdOrdering::SeqCst);
        }
    }

    /// Two submitters push and request while the kicker polls once; afterwards the kicker is
    /// polled again only while it was woken since its last poll (as a task is). Every push must
    /// have been kicked: a lost wake-up leaves `kicked < pushed`.
    #[test]
    fn loom_every_push_is_kicked() {
        loom::model(|| {
            let kick = Arc::new(Kick::default());
            // (pushed, kicked): the submission queue, and what the last kick handed over.
            let queue = Arc::new(Mutex::new((0usize, 0usize)));
            let subs: Vec<_> = (0..2)
                .map(|_| {
                    let (kick, queue) = (kick.clone(), queue.clone());
                    thread::spawn(move || {
                        lock(&queue).0 += 1;
                        kick.request();
                    })
                })
                .collect();
            let flag = std::sync::Arc::new(Flag(StdBool::new(false)));
            let waker = Waker::from(flag.clone());
            let poll = || {
                if kick.take(&waker) {
                    let mut q = lock(&queue);
                    q.1 = q.0;
                }
            };
            poll();
            for s in subs {
                s.join().unwrap();
            }
            while flag.0.swap(false, StdOrdering::SeqCst) {
                poll();
            }
            let q = lock(&queue);
            assert_eq!(q.1, q.0, "a push was never kicked");
        });
    }
}
