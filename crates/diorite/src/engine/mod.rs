//! The engine state of one context, shared by its submitters, reapers and backend: request
//! slots, tags, admission and the completion queue.
//!
//! Backends see a narrow part of it — [`Engine::begin`] (start a slot and read its request),
//! [`Engine::request`], [`Engine::is_running`] and [`Engine::complete`] (post its one
//! completion) — and nothing of the context. The context drives the rest: `queue` at submit,
//! `reap` and `sleep` in `get_events`, `cancel`, and the shutdown sweep.

pub(crate) mod admission;
pub(crate) mod completion;
pub(crate) mod slot;

use crate::direct::request::{Completion, Request, RequestId};
use crate::engine::admission::{Admission, Refused};
use crate::engine::completion::{CompletionQueue, Event, RES_CANCELED};
use crate::engine::slot::{Cancel, Release, Slot, Start};
use crate::error::{Error, ErrorKind, Result};
use crate::primitives::tags::TagSet;
use crate::sync::Ordering;

/// Slots, tags, admission and completions of one context. Invariants on the fields.
pub(crate) struct Engine {
    /// One per tag; the slot protocol (`slot.rs`) says who owns each.
    slots: Box<[Slot]>,
    /// Free slots. A tag is held from `queue` until `reap` put it back.
    tags: TagSet,
    /// Admitted requests; a tag goes back before its admission is released.
    admission: Admission,
    /// Posted completions on their way to reapers.
    cq: CompletionQueue,
    /// The completion fd (an eventfd) to signal for completions made in user space, or -1.
    /// Set once by `Context::completion_fd` (Release) before the fd is handed out; read by
    /// posters (Acquire) — a poster that misses it posted before the fd existed, and the
    /// first signal (written when the fd is made) covers that completion.
    notify_fd: crate::sync::AtomicI32,
}

// SAFETY: the `UnsafeCell`s in `slots` are accessed under the slot protocol (one owner at a
// time, handed over with Release/Acquire); everything else is Sync.
unsafe impl Sync for Engine {}
// SAFETY: as above; `Request` is Send.
unsafe impl Send for Engine {}

/// The tags (slots) of an engine admitting `depth` requests: the depth plus headroom of up to
/// 64 more (at most the depth again; never past [`MAX_DEPTH`]). Admission keeps at most
/// `depth` in flight, so at saturation at least the headroom's worth of tags is free or
/// waiting in the allocator's `cleared` masks: an allocation finds a free bit without
/// folding `cleared` back under the word's lock on nearly every call, and each fold returns a
/// batch — the batched clearing batches. Without headroom, a context kept full (a benchmark
/// at its depth) drained one tag per allocation (docs/benchmarks.md has the A/B).
///
/// [`MAX_DEPTH`]: crate::primitives::tags::MAX_DEPTH
pub(crate) fn tag_space(depth: u32) -> u32 {
    depth
        .saturating_add(depth.min(64))
        .min(crate::primitives::tags::MAX_DEPTH)
        .max(depth)
}

impl Engine {
    /// An engine for `depth` requests with a completion ring of `ring` events.
    pub(crate) fn new(depth: u32, ring: usize) -> Result<Engine> {
        const OP: &str = "Context::build";
        let tags = TagSet::new(tag_space(depth)).map_err(|_| {
            Error::new(ErrorKind::InvalidInput, OP).with_detail(format!(
                "depth {depth} is out of range (required: 1..={})",
                crate::primitives::tags::MAX_DEPTH
            ))
        })?;
        if ring == 0 || ring > depth as usize {
            return Err(Error::new(ErrorKind::InvalidInput, OP).with_detail(format!(
                "completion ring {ring} is out of range (required: 1..={depth}, the depth: a \
                 larger ring could never fill)"
            )));
        }
        let cq = CompletionQueue::new(ring, depth as usize)?;
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(tags.depth() as usize)
            .map_err(|_| Error::os(OP, libc::ENOMEM))?;
        slots.extend((0..tags.depth()).map(|_| Slot::new()));
        Ok(Engine {
            slots: slots.into_boxed_slice(),
            tags,
            admission: Admission::new(depth),
            cq,
            notify_fd: crate::sync::AtomicI32::new(-1),
        })
    }

    // ---- The backend's side ----

    /// Starts slot `tag` for the backend that was handed it: returns its request, or — when it
    /// was canceled while queued — posts its one `Canceled` completion and returns `None`.
    ///
    /// # Safety
    /// The caller is the backend that was handed `tag`, and does not use the returned reference
    /// after it posted the slot's completion (the reaper then takes the request).
    #[inline]
    pub(crate) unsafe fn begin(&self, tag: u32) -> Option<&Request> {
        let slot = &self.slots[tag as usize];
        match slot.start() {
            Start::Run => {
                // SAFETY: `start` made the slot RUNNING for the caller, its only user until it
                // posts the completion.
                Some(unsafe { slot.request() })
            }
            Start::Canceled => {
                self.complete(tag, RES_CANCELED);
                None
            }
        }
    }

    /// Whether slot `tag` holds generation `gen`'s request, issued and not yet completed.
    pub(crate) fn is_running(&self, tag: u32, gen: crate::engine::slot::Gen) -> bool {
        self.slots[tag as usize].is_running(gen)
    }

    /// Posts slot `tag`'s one completion: bytes, `-errno` or [`RES_CANCELED`]. Called exactly
    /// once per queued request, by the backend that started it (or found it canceled). A
    /// completion made in user space for the completion queue signals the completion fd, if
    /// there is one.
    #[inline]
    pub(crate) fn complete(&self, tag: u32, res: i64) {
        if self.complete_from_kernel(tag, res) {
            // Acquire: pairs with the Release store in `set_notify_fd`.
            let fd = self.notify_fd.load(Ordering::Acquire);
            if fd >= 0 {
                signal(fd);
            }
        }
    }

    /// [`Engine::complete`] for a completion the kernel reported (and so already signaled a
    /// registered completion fd). An async request's completion goes to its future's waker
    /// (`false`); any other is posted to the completion queue (`true`).
    #[inline]
    pub(crate) fn complete_from_kernel(&self, tag: u32, res: i64) -> bool {
        let slot = &self.slots[tag as usize];
        // SAFETY: we are the backend posting this slot's completion, before `done`.
        let extended = match unsafe { slot.finishing() } {
            Some(req) if req.extending => req
                .file
                .as_ref()
                .map(|f| (f.clone(), req.offset, req.bufs.total_len())),
            _ => None,
        };
        // The size moves only now that the data is written, in order; the completion waits
        // for this context's extending writes below it (`DirectFile::len`). The file handle is
        // cloned (on the extending path only): the reaper may take the request once it is
        // posted.
        let Some((file, offset, len)) = extended else {
            return self.post(tag, res);
        };
        let owner = self.owner();
        let mut posted = false;
        if file.end_extend(offset, len, res, owner, tag) {
            posted |= self.post(tag, res);
        }
        // Held completions this one released: the slot of each is still RUNNING, its
        // completion passed to us through the file's lock.
        while let Some((t, r)) = file.next_released(owner) {
            posted |= self.post(t, r);
        }
        posted
    }

    /// This engine's identity for the ordered-size protocol (`DirectFile::begin_extend`): its
    /// address, fixed while it is shared (it lives in an `Arc`).
    #[inline]
    fn owner(&self) -> usize {
        self as *const Engine as usize
    }

    /// Posts slot `tag`'s completion: to its future's waker (`false`) or the completion queue
    /// (`true`).
    #[inline]
    fn post(&self, tag: u32, res: i64) -> bool {
        let slot = &self.slots[tag as usize];
        if slot.is_async() {
            // SAFETY: we post this async slot's one completion and are done with its request.
            if unsafe { slot.done_async(res) } == Release::Free {
                // Its future is gone: the buffers are dropped here, now that the I/O is over.
                self.free_async(tag);
            }
            return false;
        }
        slot.done();
        self.cq.post(Event { tag, res });
        true
    }

    // ---- The context's side ----

    /// Admits `req`, takes a tag and parks the request in its slot (QUEUED). Returns the tag
    /// and the id, or the request with the reason it was refused. Never waits.
    #[inline]
    pub(crate) fn queue(
        &self,
        req: Request,
    ) -> std::result::Result<(u32, RequestId), (Error, Request)> {
        let (tag, req) = self.admit(req)?;
        // SAFETY: we hold `tag`.
        let gen = unsafe { self.slots[tag as usize].queue(req) };
        Ok((tag, RequestId::new(gen, tag)))
    }

    /// [`Engine::queue`] for an async request: its completion goes to `waker`'s future
    /// ([`Engine::poll_async`]), never to the completion queue.
    #[inline]
    pub(crate) fn queue_async(
        &self,
        req: Request,
        waker: &std::task::Waker,
    ) -> std::result::Result<(u32, RequestId), (Error, Request)> {
        let (tag, req) = self.admit(req)?;
        // SAFETY: we hold `tag`.
        let gen = unsafe { self.slots[tag as usize].queue_async(req, waker) };
        Ok((tag, RequestId::new(gen, tag)))
    }

    /// Admission and a tag for `req`.
    #[inline]
    fn admit(&self, mut req: Request) -> std::result::Result<(u32, Request), (Error, Request)> {
        match self.admission.admit() {
            Ok(()) => {}
            Err(Refused::Shutdown) => return Err((Error::new(ErrorKind::Shutdown, "submit"), req)),
            Err(Refused::Full) => return Err((Error::new(ErrorKind::QueueFull, "submit"), req)),
        }
        // Admitted requests never outnumber tags (admission.rs), so a free tag exists; a scan
        // misses it only while other threads move tags between words (their progress).
        let tag = loop {
            if let Some(t) = self.tags.try_get() {
                break t;
            }
            std::hint::spin_loop();
        };
        if let Err(e) = req.begin_extend(self.owner()) {
            self.release(tag);
            return Err((e, req));
        }
        Ok((tag, req))
    }

    /// The future of async request `id` polls it: its completion when it is there, else
    /// `None` with `waker` registered to be woken by it.
    ///
    /// # Safety
    /// The caller is the future `queue_async` returned `id` to, and has not had its completion
    /// nor called [`Engine::detach`].
    #[inline]
    pub(crate) unsafe fn poll_async(
        &self,
        id: RequestId,
        waker: &std::task::Waker,
    ) -> Option<Completion> {
        let slot = &self.slots[id.tag() as usize];
        // SAFETY: per the caller's contract, we are the slot's receiver.
        let res = unsafe { slot.poll_async(waker) }?;
        // SAFETY: `poll_async` returned the result: the completion is ours to claim.
        let (req, release) = unsafe { slot.claim() };
        let completion = completion_of(id, req, res);
        if release == Release::Free {
            self.free_async(id.tag());
        }
        Some(completion)
    }

    /// The future of async request `id` is dropped before its completion: the request (canceled
    /// by the caller first, where it can be) stays in its slot until the backend is done with
    /// it, and the last party out frees it.
    ///
    /// # Safety
    /// As [`Engine::poll_async`].
    pub(crate) unsafe fn detach(&self, id: RequestId) {
        let slot = &self.slots[id.tag() as usize];
        // SAFETY: per the caller's contract, we are the slot's receiver.
        if unsafe { slot.detach() } == Release::Free {
            self.free_async(id.tag());
        }
    }

    /// Frees an async slot both parties left, dropping what remains of its request.
    fn free_async(&self, tag: u32) {
        // SAFETY: the caller got `Release::Free`.
        let req = unsafe { self.slots[tag as usize].free_async() };
        drop(req);
        self.release(tag);
    }

    /// Async requests completed and not yet claimed by their futures (a snapshot).
    pub(crate) fn parked_async(&self) -> u32 {
        self.slots.iter().filter(|s| s.is_parked_async()).count() as u32
    }

    /// Puts a tag back, then its admission (so admitted requests never outnumber tags).
    #[inline]
    fn release(&self, tag: u32) {
        self.tags.put(tag);
        self.admission.release();
    }

    /// Cancels the request `id` if it is still queued.
    pub(crate) fn cancel(&self, id: RequestId) -> Cancel {
        match self.slots.get(id.tag() as usize) {
            Some(slot) => slot.cancel(id.generation()),
            None => Cancel::NotFound,
        }
    }

    /// Cancels every queued request (shutdown); calls `canceled(tag)` for each.
    pub(crate) fn cancel_all_queued(&self, mut canceled: impl FnMut(u32)) {
        for (tag, slot) in self.slots.iter().enumerate() {
            if slot.cancel_queued() {
                canceled(tag as u32);
            }
        }
    }

    /// Reaps up to `max` completions into `out`; each reaped slot and tag is free again.
    #[inline]
    pub(crate) fn reap(&self, max: usize, out: &mut Vec<Completion>) -> usize {
        self.cq.reap(max, |ev| out.push(self.finish(ev)))
    }

    /// Reaps one completion, if one is ready.
    #[inline]
    pub(crate) fn reap_one(&self) -> Option<Completion> {
        let mut got = None;
        self.cq.reap(1, |ev| got = Some(self.finish(ev)));
        got
    }

    /// Reaps and drops up to `max` completions (shutdown), returning their buffers.
    pub(crate) fn reap_discard(&self, max: usize) -> usize {
        self.cq.reap(max, |ev| drop(self.finish(ev)))
    }

    /// Turns a popped event into its completion and frees the slot, the tag and the admission.
    #[inline]
    fn finish(&self, ev: Event) -> Completion {
        let slot = &self.slots[ev.tag as usize];
        // SAFETY: we popped this slot's one event, so we own the DONE slot; the tag goes back
        // below.
        let (req, gen) = unsafe { slot.take() };
        let completion = completion_of(RequestId::new(gen, ev.tag), req, ev.res);
        self.release(ev.tag);
        completion
    }

    /// Signals the completion fd, if there is one (for completions the kernel did not signal).
    pub(crate) fn signal_notify(&self) {
        // Acquire: pairs with the Release store in `set_notify_fd`.
        let fd = self.notify_fd.load(Ordering::Acquire);
        if fd >= 0 {
            signal(fd);
        }
    }

    /// After a drain that moved kernel completions into the completion queue (`drained`) by a
    /// caller that leaves them there — the driver thread, a polling future, a blocking reaper
    /// that took only what it needed: if any are left and there is a completion fd, signal it.
    /// The kernel signaled the fd when they completed, but an event loop that read the fd and
    /// reaped before they were moved found nothing, and would wait for a signal that had
    /// already come (the completion fd's contract: a completion not yet reapable when the fd
    /// was read signals it again).
    #[inline]
    pub(crate) fn hand_over(&self, drained: bool) {
        if !drained {
            return;
        }
        // Acquire: pairs with the Release store in `set_notify_fd`. Usually -1: one load.
        let fd = self.notify_fd.load(Ordering::Acquire);
        if fd >= 0 && self.cq.ring_len() != (0, false) {
            signal(fd);
        }
    }

    /// Makes completions made in user space signal `fd` from now on.
    pub(crate) fn set_notify_fd(&self, fd: i32) {
        // Release: pairs with the Acquire load in `complete`.
        self.notify_fd.store(fd, Ordering::Release);
    }

    /// See [`CompletionQueue::set_one_thread`].
    pub(crate) fn set_one_thread(&mut self) {
        self.cq.set_one_thread();
    }

    pub(crate) fn cq(&self) -> &CompletionQueue {
        &self.cq
    }

    pub(crate) fn admission(&self) -> &Admission {
        &self.admission
    }

    /// How many tags (slots) there are: tags run `0..tags()`. More than the depth (see
    /// [`tag_space`]).
    pub(crate) fn tags(&self) -> u32 {
        self.tags.depth()
    }

    pub(crate) fn depth(&self) -> u32 {
        self.admission.depth()
    }
}

/// The completion of request `id` with result `res`.
#[inline]
fn completion_of(id: RequestId, req: Option<Request>, res: i64) -> Completion {
    match req {
        Some(req) => {
            let result = match res {
                n if n >= 0 => Ok(n as usize),
                RES_CANCELED => {
                    Err(Error::new(ErrorKind::Canceled, req.op.name()).at_offset(req.offset))
                }
                e => Err(Error::os(req.op.name(), (-e) as i32).at_offset(req.offset)),
            };
            Completion {
                id,
                user_data: req.user_data,
                op: req.op,
                result,
                bufs: req.bufs,
            }
        }
        // A DONE slot always holds its request; should the protocol ever break, report it
        // rather than abort.
        None => Completion {
            id,
            user_data: 0,
            op: crate::OpKind::Noop,
            result: Err(Error::new(ErrorKind::Os, "get_events")),
            bufs: crate::direct::request::Bufs::None,
        },
    }
}

/// Adds 1 to the eventfd `fd` (the completion fd, which the context keeps open while the
/// engine may signal it): it becomes readable.
pub(crate) fn signal(fd: i32) {
    crate::sys::eventfd_signal(fd);
}

#[cfg(all(test, not(diorite_loom)))]
mod tests {
    use super::*;
    use crate::primitives::tags::MAX_DEPTH;

    /// The headroom: up to 64 tags more than the depth, never more than the depth again, and
    /// never past the largest tag a backend can name (io_uring's `user_data` holds 16 bits).
    #[test]
    fn the_tag_space_adds_headroom_within_the_limits() {
        for (depth, tags) in [
            (1, 2),
            (32, 64),
            (33, 66),
            (64, 128),
            (100, 164),
            (MAX_DEPTH - 10, MAX_DEPTH),
            (MAX_DEPTH, MAX_DEPTH),
        ] {
            assert_eq!(tag_space(depth), tags, "depth {depth}");
        }
        // An engine kept full never runs out of tags: every tag of the space is used in turn.
        let e = Engine::new(4, 4).unwrap();
        assert_eq!((e.depth(), e.tags()), (4, 8));
        let mut seen = std::collections::BTreeSet::new();
        let mut held = std::collections::VecDeque::new();
        for _ in 0..64 {
            while held.len() < 4 {
                let t = e
                    .tags
                    .try_get()
                    .expect("a free tag while fewer than depth are held");
                seen.insert(t);
                held.push_back(t);
            }
            e.tags.put(held.pop_front().unwrap());
        }
        assert!(seen.iter().all(|&t| t < 8), "{seen:?}");
    }
}
