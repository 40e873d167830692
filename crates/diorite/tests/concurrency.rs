//! Stress and property tests of the ring and the tag allocator with real threads.

use diorite::ring::Ring;
use diorite::tags::{TagQueue, TagSet};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// 2 producers and 2 consumers move 2 million values through a small ring, starting just below
/// the u32 wrap: every value is delivered exactly once and each producer's values in order.
#[test]
fn ring_exactly_once_under_four_threads() {
    const PER_PRODUCER: u64 = 1_000_000;
    let ring = Arc::new(Ring::<u64>::with_capacity_at(64, u32::MAX - 1000).unwrap());
    let producers: Vec<_> = (0..2u64)
        .map(|p| {
            let ring = ring.clone();
            thread::spawn(move || {
                for i in 0..PER_PRODUCER {
                    let mut v = (p << 32) | i;
                    while let Err(back) = ring.try_push(v) {
                        v = back;
                        std::hint::spin_loop();
                    }
                }
            })
        })
        .collect();
    let taken = Arc::new(AtomicU64::new(0));
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let (ring, taken) = (ring.clone(), taken.clone());
            thread::spawn(move || {
                let mut seen = vec![Vec::new(), Vec::new()];
                let mut batch = Vec::with_capacity(16);
                while taken.load(Ordering::Relaxed) < 2 * PER_PRODUCER {
                    batch.clear();
                    let n = ring.pop_batch(&mut batch, 16);
                    taken.fetch_add(n as u64, Ordering::Relaxed);
                    for v in &batch {
                        seen[(v >> 32) as usize].push(v & 0xffff_ffff);
                    }
                    if n == 0 {
                        std::hint::spin_loop();
                    }
                }
                seen
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut all = [Vec::new(), Vec::new()];
    for c in consumers {
        let seen = c.join().unwrap();
        for (p, vals) in seen.into_iter().enumerate() {
            assert!(
                vals.windows(2).all(|w| w[0] < w[1]),
                "producer {p}'s values out of order within a consumer"
            );
            all[p].extend(vals);
        }
    }
    for (p, mut vals) in all.into_iter().enumerate() {
        vals.sort_unstable();
        assert_eq!(
            vals.len() as u64,
            PER_PRODUCER,
            "producer {p}: lost or duplicated values"
        );
        assert!(
            vals.iter().copied().eq(0..PER_PRODUCER),
            "producer {p}: wrong values"
        );
    }
    assert!(ring.is_empty());
}

/// 4 threads get and put tags of a small set a million times; an ownership array catches any tag
/// handed to two owners at once.
#[test]
fn tags_unique_under_four_threads() {
    for round_robin in [false, true] {
        let depth = 37;
        let tags = Arc::new(
            if round_robin {
                TagSet::round_robin(depth)
            } else {
                TagSet::new(depth)
            }
            .unwrap(),
        );
        let owned: Arc<Vec<AtomicBool>> =
            Arc::new((0..depth).map(|_| AtomicBool::new(false)).collect());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (tags, owned) = (tags.clone(), owned.clone());
                thread::spawn(move || {
                    let mut held = Vec::new();
                    for i in 0..250_000u32 {
                        if let Some(t) = tags.try_get() {
                            assert!(
                                !owned[t as usize].swap(true, Ordering::AcqRel),
                                "tag {t} has two owners"
                            );
                            held.push(t);
                        }
                        // Hold up to 9 tags (4 threads x 9 = 36 < 37: a get can never fail
                        // for lack of tags... but it may when others hold theirs, which is fine).
                        if held.len() > 8 || i % 3 == 0 {
                            if let Some(t) = held.pop() {
                                owned[t as usize].store(false, Ordering::Release);
                                tags.put(t);
                            }
                        }
                    }
                    for t in held {
                        owned[t as usize].store(false, Ordering::Release);
                        tags.put(t);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(tags.in_use(), 0);
    }
}

/// The drain race in one word (the kernel's 2024 sbitmap hang): 4 threads each hold at most one of 8 tags
/// (a single word), freeing through `cleared` and draining concurrently; `try_get` must never
/// report "none" while at least 4 tags are free.
#[test]
fn tags_never_false_full_within_a_word() {
    let tags = Arc::new(TagSet::new(8).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let tags = tags.clone();
            thread::spawn(move || {
                for _ in 0..500_000 {
                    let t = tags
                        .try_get()
                        .expect("false full: at most 4 of 8 tags are held");
                    tags.put(t);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(tags.in_use(), 0);
}

/// Many more sleeping waiters than tags: all of them finish (no lost wakeup).
#[test]
fn tag_queue_many_waiters_all_finish() {
    for depth in [1u32, 4, 16, 64] {
        let q = Arc::new(TagQueue::new(depth).unwrap());
        let threads: Vec<_> = (0..32)
            .map(|i| {
                let q = q.clone();
                thread::spawn(move || {
                    for _ in 0..200 {
                        let t = q
                            .get(Some(Duration::from_secs(30)))
                            .expect("waiter starved: lost wakeup");
                        if i % 4 == 0 {
                            thread::yield_now();
                        }
                        q.put(t);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(q.tags().in_use(), 0);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Get,
    Put(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![Just(Op::Get), any::<usize>().prop_map(Op::Put)],
        0..400,
    )
}

proptest! {
    /// Any single-threaded sequence of gets and puts matches a model: a set of free tags.
    #[test]
    fn tags_match_a_free_set_model(depth in 1u32..200, round_robin: bool, ops in ops()) {
        let tags = if round_robin { TagSet::round_robin(depth) } else { TagSet::new(depth) }.unwrap();
        let mut free: BTreeSet<u32> = (0..depth).collect();
        let mut held: Vec<u32> = Vec::new();
        let mut last: Option<u32> = None;
        for op in ops {
            match op {
                Op::Get => match tags.try_get() {
                    Some(t) => {
                        if round_robin {
                            // Strictly the first free tag after the last one handed out, wrapping.
                            let from = last.map_or(0, |l| (l + 1) % depth);
                            let expect = free.range(from..).next().or_else(|| free.iter().next()).copied();
                            prop_assert_eq!(Some(t), expect, "round robin order (last {:?})", last);
                        }
                        prop_assert!(free.remove(&t), "tag {} handed out while not free", t);
                        last = Some(t);
                        held.push(t);
                    }
                    None => prop_assert!(free.is_empty(), "none while {} tags are free", free.len()),
                },
                Op::Put(i) if !held.is_empty() => {
                    let t = held.swap_remove(i % held.len());
                    tags.put(t);
                    free.insert(t);
                }
                Op::Put(_) => {}
            }
            prop_assert_eq!(tags.in_use(), depth - free.len() as u32);
        }
    }

    /// A ring matches a VecDeque model for any interleaving of pushes and batch pops.
    #[test]
    fn ring_matches_a_deque_model(cap in 1usize..40, start: u32, ops in prop::collection::vec(0usize..20, 0..300)) {
        let ring = Ring::<u32>::with_capacity_at(cap, start).unwrap();
        let mut model = std::collections::VecDeque::new();
        let mut next = 0u32;
        let mut out = Vec::new();
        for op in ops {
            if op < 12 {
                let r = ring.try_push(next);
                if model.len() < ring.capacity() {
                    prop_assert_eq!(r, Ok(()));
                    model.push_back(next);
                } else {
                    prop_assert_eq!(r, Err(next));
                }
                next += 1;
            } else {
                out.clear();
                let n = ring.pop_batch(&mut out, op - 12);
                let expect: Vec<u32> = (0..n.min(model.len())).map(|_| model.pop_front().unwrap()).collect();
                prop_assert_eq!(n, expect.len());
                prop_assert!(n == (op - 12).min(expect.len() + model.len()));
                prop_assert_eq!(&out, &expect);
            }
            prop_assert_eq!(ring.len(), model.len());
        }
    }
}

/// Regression: N tokens circulate through a ring of capacity N on 4 threads (the engine's job
/// ring and buffer pool do exactly this). `push_wait` must never fail: the ring is never
/// logically full, even when the slot the pusher lands on was claimed by a consumer that has not
/// yet released it (where `try_push` may hand the token back).
#[test]
fn ring_push_never_fails_when_logically_not_full() {
    let ring = Arc::new(Ring::<u32>::with_capacity(4).unwrap());
    for t in 0..4 {
        ring.try_push(t).unwrap();
    }
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let ring = ring.clone();
            thread::spawn(move || {
                for _ in 0..500_000 {
                    if let Some(t) = ring.try_pop() {
                        assert_eq!(
                            ring.push_wait(t),
                            Ok(()),
                            "push into a ring with room failed"
                        );
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut out = Vec::new();
    ring.pop_batch(&mut out, 8);
    out.sort_unstable();
    assert_eq!(out, [0, 1, 2, 3]);
}
