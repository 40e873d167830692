//! The sbitmap tag allocator (after the kernel's `lib/sbitmap.c`) and a sleeping [`TagQueue`].
//!
//! # What is public, and why
//! The engine uses [`TagSet`] (the default, per-thread hints) as its request slots. The rest is
//! public on purpose, as a reusable, tested component for users who allocate their own ids
//! (buffer indices, queue slots): [`TagQueue`], a `TagSet` whose allocators sleep until a tag is
//! freed (woken in batches) — the engine never sleeps on a tag, its admission guarantees one is
//! free; `TagSet::round_robin` (the kernel's `SBITMAP_ROUND_ROBIN`: tags handed out in order, for
//! devices that want it); and `TagSet::immediate_clear`, clearing without batching, kept as the
//! baseline the batched clearing is measured against (`benches/tags.rs`). All three are covered by
//! `tests/concurrency.rs` (a model-based proptest, the drain race, sleeping waiters) and the loom
//! models below.
//!
//! # Algorithm
//! Tags `0..depth` are bits in a few words, each word on its own cache line. A word's bit is set
//! while its tag is allocated *or* freed but not yet folded back.
//!
//! - **get**: start at a per-thread hint, take a relaxed snapshot of the word, pick a zero bit and
//!   claim it with `fetch_or(bit, Acquire)`; if someone else got it first, retry on the new value.
//!   When the snapshot has no zero bit, take the slow path: fold the word's `cleared` mask back into
//!   it (the *drain*) and retry; when there is nothing to drain, go to the next word.
//! - **put**: `cleared.fetch_or(bit, Release)` — nothing else. Frees are batched: one swap of
//!   `cleared` and one and-not on the word return up to 64 frees at once (64 atomic bit
//!   operations traded for two compare-exchanges). The free path takes no lock, so it can run on any thread,
//!   including one that holds whatever an allocator holds (the kernel's 2018 lockdep report was a
//!   free path that took the word's `swap_lock`).
//!
//! # The drain never makes a word look full while bits are in transit
//! The drain is two steps: `mask = cleared.swap(0)`, then `word &= !mask`. Between them the freed
//! bits are in neither place. In the kernel before commit 72d04bdcf3f7 (2024), an allocator that
//! looked at the word in that window saw it full with an empty `cleared`, concluded "no tag", and
//! went to sleep while the tags it needed were in flight — and the wakeups for those frees had
//! already been spent. Here every conclusion "this word is full" is taken **under the word's
//! `swap_lock`**, and the drain runs only under that same lock: an allocator whose fast path
//! found the word full takes the lock, re-reads the word, and only then swaps `cleared`. While it
//! holds the lock, no other drain is in transit, so "word full and `cleared` empty" is exact at the
//! moment of the swap (between the re-read and the swap the word can only gain bits, since only
//! drains clear bits). The lock is taken on the allocation slow path only; `put` never touches it.
//!
//! # Memory ordering
//! The previous owner's accesses happen before the next owner's through this chain: `put`'s
//! Release `fetch_or` on `cleared` → the drain's Acquire `swap` → the drain's Release `fetch_and`
//! on the word → the allocator's Acquire `fetch_or` on the word.

use crate::error::{Error, ErrorKind, Result};
use crate::sync::{fence, lock, AtomicU32, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering};
use crossbeam_utils::CachePadded;
use std::fmt;
use std::time::{Duration, Instant};

/// Largest supported depth.
pub const MAX_DEPTH: u32 = 65536;

/// Number of allocation hints; threads are spread over them (the kernel's per-CPU hint).
const HINTS: usize = 16;

struct Word {
    /// Bit `b` set: tag `base + b` is allocated, or freed and still in `cleared`. Bits are set by
    /// allocators (`fetch_or`, Acquire) and cleared only by drains under `swap_lock`.
    word: AtomicU64,
    /// Freed bits not yet folded back into `word`. Set by `put` (Release); emptied by the drain
    /// (`swap`, Acquire) under `swap_lock`.
    cleared: AtomicU64,
    /// The valid bits of this word (the last word may be partial).
    valid: u64,
    /// Serializes drains with the "word is full" conclusion of allocators. Never taken by `put`.
    swap_lock: Mutex<()>,
}

/// A fixed set of tags `0..depth` with lock-free allocation and batched, lock-free freeing.
///
/// # Examples
/// ```
/// use diorite::tags::TagSet;
/// let tags = TagSet::new(4)?;
/// let a = tags.try_get().unwrap();
/// let b = tags.try_get().unwrap();
/// assert_ne!(a, b);
/// tags.put(a);
/// assert_eq!(tags.in_use(), 1);
/// # Ok::<(), diorite::Error>(())
/// ```
pub struct TagSet {
    words: Box<[CachePadded<Word>]>,
    /// log2 of the bits per word.
    shift: u32,
    depth: u32,
    round_robin: bool,
    /// `false` only for the benchmark's immediate-clearing variant.
    batched: bool,
    /// Next tag to try, per hint slot. Relaxed everywhere: a hint is never trusted, only a start.
    hints: Box<[CachePadded<AtomicU32>]>,
}

impl TagSet {
    /// A tag set of `depth` tags.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] unless `1 <= depth <= 65536`.
    pub fn new(depth: u32) -> Result<TagSet> {
        TagSet::build(depth, false, true)
    }

    /// A tag set that hands tags out in strictly increasing order, wrapping at `depth`.
    ///
    /// Round-robin mode frees immediately (`put` clears the word's bit) instead of batching:
    /// a freed tag parked in `cleared` is invisible to the fast path, so after a wrap a batched set
    /// would skip it and hand out a higher tag first, breaking the strict order this mode exists for.
    ///
    /// # Errors
    /// As [`TagSet::new`].
    pub fn round_robin(depth: u32) -> Result<TagSet> {
        TagSet::build(depth, true, false)
    }

    /// A variant whose `put` clears the word's bit at once instead of batching through `cleared`;
    /// it exists so the benchmarks can measure what batched clearing buys.
    ///
    /// # Errors
    /// As [`TagSet::new`].
    #[doc(hidden)]
    pub fn immediate_clear(depth: u32) -> Result<TagSet> {
        TagSet::build(depth, false, false)
    }

    fn build(depth: u32, round_robin: bool, batched: bool) -> Result<TagSet> {
        if depth == 0 || depth > MAX_DEPTH {
            return Err(
                Error::new(ErrorKind::InvalidInput, "TagSet::new").with_detail(format!(
                    "depth {depth} is out of range (required: 1..={MAX_DEPTH})"
                )),
            );
        }
        // Like the kernel's sbitmap_calculate_shift: spread small depths over at least four
        // words (cache lines) so threads do not all contend on one, with 8..=64 bits per word.
        let per_word = depth.div_ceil(4).next_power_of_two().clamp(8, 64);
        let shift = per_word.trailing_zeros();
        let nwords = depth.div_ceil(per_word);
        let words = (0..nwords)
            .map(|w| {
                let bits = (depth - w * per_word).min(per_word);
                let valid = if bits == 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                };
                CachePadded::new(Word {
                    word: AtomicU64::new(0),
                    cleared: AtomicU64::new(0),
                    valid,
                    swap_lock: Mutex::new(()),
                })
            })
            .collect();
        let hints = (0..HINTS)
            .map(|i| {
                CachePadded::new(AtomicU32::new(if round_robin {
                    0
                } else {
                    (i as u32 * 7919) % depth
                }))
            })
            .collect();
        Ok(TagSet {
            words,
            shift,
            depth,
            round_robin,
            batched,
            hints,
        })
    }

    /// The number of tags.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Tags allocated and not yet freed (a snapshot): set bits minus freed-but-not-yet-cleared bits.
    pub fn in_use(&self) -> u32 {
        self.words
            .iter()
            .map(|w| {
                // Relaxed: a statistic. `cleared` is read first: a bit moving from `cleared` to
                // the word between the loads would otherwise be subtracted without being counted.
                let cleared = w.cleared.load(Ordering::Relaxed);
                let word = w.word.load(Ordering::Relaxed);
                (word & !cleared & w.valid).count_ones()
            })
            .sum()
    }

    /// Allocates a free tag, or returns `None` when it found every word full.
    ///
    /// Never reports "none" because of a freed tag in transit between `cleared` and the word
    /// (see the module docs). Like the kernel's sbitmap, the scan is not atomic across words:
    /// when other threads free and take tags concurrently, a word seen full may gain a free tag
    /// after the scan passed it, so `None` under contention means "every word was full when
    /// looked at". Callers that need an exact answer keep a count (as
    /// [`Context`](crate::Context) does with its in-flight counter); a single-word set (depth
    /// up to 8) is exact.
    pub fn try_get(&self) -> Option<u32> {
        let hint = &self.hints[if self.round_robin { 0 } else { hint_index() }];
        // Relaxed: a hint is only where to start looking.
        let mut start = hint.load(Ordering::Relaxed);
        if start >= self.depth {
            start = 0;
        }
        let tag = self.get_from(start)?;
        let next = if tag + 1 >= self.depth { 0 } else { tag + 1 };
        hint.store(next, Ordering::Relaxed);
        Some(tag)
    }

    fn get_from(&self, start: u32) -> Option<u32> {
        let nwords = self.words.len();
        let first = (start >> self.shift) as usize;
        let first_bit = start & ((1 << self.shift) - 1);
        for i in 0..=nwords {
            let w = (first + i) % nwords;
            let (from, wrap) = match i {
                // The hint word from the hint on; other modes may wrap within the word.
                0 => (first_bit, !self.round_robin),
                // Back at the hint word: round-robin now takes the bits below the hint.
                _ if i == nwords => {
                    if !self.round_robin || first_bit == 0 {
                        break;
                    }
                    (0, false)
                }
                _ => (0, false),
            };
            if let Some(b) = self.get_in_word(&self.words[w], from, wrap) {
                return Some(((w as u32) << self.shift) + b);
            }
        }
        None
    }

    fn get_in_word(&self, w: &Word, from: u32, wrap: bool) -> Option<u32> {
        loop {
            // Relaxed snapshot: only picks a candidate; the claim below is what counts.
            let snapshot = w.word.load(Ordering::Relaxed);
            match pick_zero(snapshot, w.valid, from, wrap) {
                Some(b) => {
                    let bit = 1u64 << b;
                    // Acquire: pairs with the Release `fetch_and` of the drain (and through it
                    // with the Release `fetch_or` in `put`): the previous owner is done with it.
                    if w.word.fetch_or(bit, Ordering::Acquire) & bit == 0 {
                        return Some(b);
                    }
                }
                None => {
                    if !self.drain(w, from, wrap) {
                        return None;
                    }
                }
            }
        }
    }

    /// The slow path: decide under `swap_lock` whether the word is really full. Returns `true`
    /// when the caller should retry the word (it has free bits now, or the drain freed some).
    fn drain(&self, w: &Word, from: u32, wrap: bool) -> bool {
        let _guard = lock(&w.swap_lock);
        // Under the lock no drain is in transit: every freed bit is in `cleared` or already back
        // in the word. Re-read the word: another drain may have finished just before we locked.
        if pick_zero(w.word.load(Ordering::Relaxed), w.valid, from, wrap).is_some() {
            return true;
        }
        // Acquire: pairs with the Release `fetch_or` in `put`: the freeing owner's accesses
        // happen before we republish the bits.
        let mask = w.cleared.swap(0, Ordering::Acquire);
        if mask == 0 {
            // Word full (it can only have gained bits since the load above) and nothing freed:
            // truly no tag in this word at this instant.
            return false;
        }
        // Release: pairs with the Acquire `fetch_or` in `get_in_word` of the next owner.
        w.word.fetch_and(!mask, Ordering::Release);
        true
    }

    /// Frees `tag`. Lock-free and safe from any thread.
    ///
    /// # Panics
    /// Debug builds panic on a double free or an out-of-range tag; release builds ignore an
    /// out-of-range tag rather than corrupt the set.
    pub fn put(&self, tag: u32) {
        if tag >= self.depth {
            debug_assert!(
                false,
                "TagSet::put: tag {tag} out of range (depth {})",
                self.depth
            );
            return;
        }
        let w = &self.words[(tag >> self.shift) as usize];
        let bit = 1u64 << (tag & ((1 << self.shift) - 1));
        debug_assert!(
            w.word.load(Ordering::Relaxed) & bit != 0,
            "TagSet::put: tag {tag} is not allocated (double free?)"
        );
        if self.batched {
            // Release: pairs with the Acquire `swap` in `drain`.
            let prev = w.cleared.fetch_or(bit, Ordering::Release);
            debug_assert!(prev & bit == 0, "TagSet::put: double free of tag {tag}");
        } else {
            // Release: pairs with the Acquire `fetch_or` in `get_in_word`.
            let prev = w.word.fetch_and(!bit, Ordering::Release);
            debug_assert!(prev & bit != 0, "TagSet::put: double free of tag {tag}");
        }
    }
}

impl fmt::Debug for TagSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TagSet")
            .field("depth", &self.depth)
            .field("in_use", &self.in_use())
            .field("round_robin", &self.round_robin)
            .finish()
    }
}

/// The lowest zero bit of `word` within `valid` at or above `from`; with `wrap`, any zero bit
/// when there is none above `from`.
fn pick_zero(word: u64, valid: u64, from: u32, wrap: bool) -> Option<u32> {
    let free = !word & valid;
    let above = free & (u64::MAX << from);
    if above != 0 {
        Some(above.trailing_zeros())
    } else if wrap && free != 0 {
        Some(free.trailing_zeros())
    } else {
        None
    }
}

#[cfg(not(diorite_loom))]
fn hint_index() -> usize {
    use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
    static NEXT: StdAtomicUsize = StdAtomicUsize::new(0);
    thread_local! {
        // Relaxed: any distinct-ish number will do.
        static SLOT: usize = NEXT.fetch_add(1, StdOrdering::Relaxed) % HINTS;
    }
    SLOT.with(|s| *s)
}

#[cfg(diorite_loom)]
fn hint_index() -> usize {
    0
}

/// A [`TagSet`] whose `get` can sleep until a tag is freed.
///
/// Frees wake sleepers in batches of `wake_batch = clamp(depth / 8, 1, 8)`, counted by one
/// counter for the whole queue (not per-waitqueue countdowns, whose interplay hung the kernel in
/// 2022). A waiter registers, retries, and only then sleeps; a freer fences before it reads the
/// number of waiters, so either the freer sees the waiter or the waiter's retry sees the free.
///
/// No wakeup is lost: a waiter sleeps only after a retry found all `depth` tags allocated, so at
/// least `depth` frees follow while it is registered, and they trigger at least
/// `floor(depth / wake_batch) >= 1` batch wakes.
pub struct TagQueue {
    tags: TagSet,
    wake_batch: u32,
    /// Registered waiters (about to sleep or sleeping). Incremented before the waiter's retry
    /// (SeqCst + fence), read by `put` after its fence.
    waiters: CachePadded<AtomicUsize>,
    /// Frees seen while waiters were registered since the last batch wake.
    pending: CachePadded<AtomicU32>,
    /// Wake generation; bumped under the mutex at each batch wake, so a waiter that snapshotted it
    /// before its retry never sleeps through a wake that happened after.
    generation: Mutex<u64>,
    cv: Condvar,
}

impl TagQueue {
    /// A queue of `depth` tags.
    ///
    /// # Errors
    /// As [`TagSet::new`].
    pub fn new(depth: u32) -> Result<TagQueue> {
        Ok(TagQueue {
            tags: TagSet::new(depth)?,
            wake_batch: (depth / 8).clamp(1, 8),
            waiters: CachePadded::new(AtomicUsize::new(0)),
            pending: CachePadded::new(AtomicU32::new(0)),
            generation: Mutex::new(0),
            cv: Condvar::new(),
        })
    }

    /// The tag set underneath.
    pub fn tags(&self) -> &TagSet {
        &self.tags
    }

    /// The number of frees that wake one batch of waiters.
    pub fn wake_batch(&self) -> u32 {
        self.wake_batch
    }

    /// Allocates a tag without sleeping.
    pub fn try_get(&self) -> Option<u32> {
        self.tags.try_get()
    }

    /// Allocates a tag, sleeping until one is freed or `timeout` passes (`None`: no limit).
    pub fn get(&self, timeout: Option<Duration>) -> Option<u32> {
        if let Some(t) = self.tags.try_get() {
            return Some(t);
        }
        let deadline = timeout.map(|d| Instant::now() + d);
        loop {
            let seen = *lock(&self.generation);
            // SeqCst + fence: pairs with the fence in `put` (a Dekker pair): either `put` sees
            // this registration, or our retry below sees its freed bit.
            self.waiters.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let got = self.tags.try_get();
            if got.is_none() {
                let mut g = lock(&self.generation);
                while *g == seen {
                    match deadline {
                        None => g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner()),
                        Some(d) => {
                            let now = Instant::now();
                            if now >= d {
                                break;
                            }
                            g = wait_timeout(&self.cv, g, d - now);
                        }
                    }
                }
            }
            // Relaxed: only a count; the wake protocol's ordering is carried by the fences above.
            self.waiters.fetch_sub(1, Ordering::Relaxed);
            if got.is_some() {
                return got;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return self.tags.try_get();
            }
        }
    }

    /// Frees `tag` and wakes a batch of waiters when `wake_batch` frees have accumulated.
    ///
    /// # Panics
    /// As [`TagSet::put`].
    pub fn put(&self, tag: u32) {
        self.tags.put(tag);
        // SeqCst fence: pairs with the fence in `get` after registration.
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::Relaxed) == 0 {
            return;
        }
        // AcqRel: the counter is shared by all freers; each batch is consumed exactly once by
        // the compare-exchange below.
        let mut cur = self.pending.fetch_add(1, Ordering::AcqRel) + 1;
        while cur >= self.wake_batch {
            match self.pending.compare_exchange(
                cur,
                cur - self.wake_batch,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let mut g = lock(&self.generation);
                    *g = g.wrapping_add(1);
                    drop(g);
                    for _ in 0..self.wake_batch {
                        self.cv.notify_one();
                    }
                    return;
                }
                Err(now) => cur = now,
            }
        }
    }
}

#[cfg(not(diorite_loom))]
fn wait_timeout<'a, T>(
    cv: &Condvar,
    g: crate::sync::MutexGuard<'a, T>,
    d: Duration,
) -> crate::sync::MutexGuard<'a, T> {
    match cv.wait_timeout(g, d) {
        Ok((g, _)) => g,
        Err(p) => p.into_inner().0,
    }
}

#[cfg(diorite_loom)]
fn wait_timeout<'a, T>(
    cv: &Condvar,
    g: crate::sync::MutexGuard<'a, T>,
    _d: Duration,
) -> crate::sync::MutexGuard<'a, T> {
    // loom has no clock: a timed wait is modelled as a wait that may also return spuriously.
    cv.wait(g).unwrap()
}

impl fmt::Debug for TagQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TagQueue")
            .field("tags", &self.tags)
            .field("wake_batch", &self.wake_batch)
            .field("waiters", &self.waiters.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(all(test, not(diorite_loom)))]
mod tests {
    use super::*;

    #[test]
    fn depth_limits() {
        assert_eq!(TagSet::new(0).unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(
            TagSet::new(MAX_DEPTH + 1).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            TagSet::round_robin(0).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            TagQueue::new(0).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(TagSet::new(MAX_DEPTH).unwrap().depth(), MAX_DEPTH);
    }

    #[test]
    fn hands_out_every_tag_once_then_none_for_odd_depths() {
        for depth in [1, 3, 7, 63, 64, 65, 100, 1000] {
            let t = TagSet::new(depth).unwrap();
            let mut seen = vec![false; depth as usize];
            for _ in 0..depth {
                let tag = t.try_get().unwrap();
                assert!(
                    !std::mem::replace(&mut seen[tag as usize], true),
                    "tag {tag} twice"
                );
            }
            assert_eq!(t.try_get(), None, "depth {depth}");
            assert_eq!(t.in_use(), depth);
            t.put(depth / 2);
            assert_eq!(t.in_use(), depth - 1);
            assert_eq!(
                t.try_get(),
                Some(depth / 2),
                "a freed tag in `cleared` must be found"
            );
        }
    }

    #[test]
    fn round_robin_is_increasing_and_wraps() {
        let t = TagSet::round_robin(10).unwrap();
        let a: Vec<_> = (0..4).map(|_| t.try_get().unwrap()).collect();
        assert_eq!(a, [0, 1, 2, 3]);
        t.put(0);
        t.put(1);
        assert_eq!(
            t.try_get(),
            Some(4),
            "round-robin must not reuse 0 before wrapping"
        );
        for expect in 5..10 {
            assert_eq!(t.try_get(), Some(expect));
        }
        assert_eq!(t.try_get(), Some(0), "wraps to the lowest free");
        assert_eq!(t.try_get(), Some(1));
        assert_eq!(t.try_get(), None);
    }

    #[test]
    fn immediate_clear_variant_behaves_the_same() {
        let t = TagSet::immediate_clear(5).unwrap();
        let tags: Vec<_> = (0..5).map(|_| t.try_get().unwrap()).collect();
        assert_eq!(t.try_get(), None);
        t.put(tags[2]);
        assert_eq!(t.try_get(), Some(tags[2]));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "double free")]
    fn debug_build_catches_double_free() {
        let t = TagSet::new(8).unwrap();
        let a = t.try_get().unwrap();
        t.put(a);
        t.put(a);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "out of range")]
    fn debug_build_catches_out_of_range() {
        TagSet::new(8).unwrap().put(8);
    }

    #[test]
    fn queue_get_times_out_when_all_held() {
        let q = TagQueue::new(1).unwrap();
        let t = q.get(None).unwrap();
        assert_eq!(q.get(Some(Duration::from_millis(20))), None);
        q.put(t);
        assert_eq!(q.get(Some(Duration::from_millis(20))), Some(t));
    }

    #[test]
    fn wake_batch_formula() {
        assert_eq!(TagQueue::new(1).unwrap().wake_batch(), 1);
        assert_eq!(TagQueue::new(16).unwrap().wake_batch(), 2);
        assert_eq!(TagQueue::new(1024).unwrap().wake_batch(), 8);
    }
}

#[cfg(all(test, diorite_loom))]
mod loom_models {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Arc;
    use loom::thread;

    /// Concurrent get/put never hands one tag to two owners.
    #[test]
    fn loom_tags_unique_owners() {
        loom::model(|| {
            let tags = Arc::new(TagSet::new(2).unwrap());
            let owned: Arc<[AtomicBool; 2]> =
                Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (tags, owned) = (tags.clone(), owned.clone());
                    thread::spawn(move || {
                        for _ in 0..2 {
                            if let Some(t) = tags.try_get() {
                                assert!(
                                    !owned[t as usize].swap(true, Ordering::Relaxed),
                                    "tag {t} has two owners"
                                );
                                owned[t as usize].store(false, Ordering::Relaxed);
                                tags.put(t);
                            }
                        }
                    })
                })
                .collect();
            // With two tags and two threads holding at most one each, a get never fails.
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(tags.in_use(), 0);
        });
    }

    /// Two allocators racing on a word whose tags are all freed but still in `cleared`: the one
    /// that drains must not make the other conclude "full" (the 72d04bdcf3f7 hang).
    #[test]
    fn loom_tags_drain_never_false_full() {
        loom::model(|| {
            let tags = Arc::new(TagSet::new(2).unwrap());
            let (a, b) = (tags.try_get().unwrap(), tags.try_get().unwrap());
            tags.put(a);
            tags.put(b);
            let t2 = tags.clone();
            let other = thread::spawn(move || t2.try_get());
            let mine = tags.try_get();
            let theirs = other.join().unwrap();
            assert!(
                mine.is_some() && theirs.is_some(),
                "false full: {mine:?} {theirs:?}"
            );
            assert_ne!(mine, theirs);
        });
    }

    /// A free racing an allocator that has just found the set full is either seen by that
    /// allocator or wakes it: the waiter always finishes.
    #[test]
    fn loom_tag_queue_no_lost_wakeup() {
        loom::model(|| {
            let q = Arc::new(TagQueue::new(1).unwrap());
            let held = q.try_get().unwrap();
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let q = q.clone();
                    thread::spawn(move || {
                        let t = q.get(None).unwrap();
                        q.put(t);
                    })
                })
                .collect();
            q.put(held);
            for w in waiters {
                w.join().unwrap();
            }
            assert_eq!(q.tags().in_use(), 0);
        });
    }
}
