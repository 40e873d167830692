//! What a write job's buffers hold: fio's data options (`io_u.c` `fill_io_buffer`,
//! `small_content_scramble`, `get_buf_state`; `lib/rand.c` `__fill_random_buf_percentage`),
//! so storage that compresses or deduplicates (zram) sees the data fio would write.
//!
//! - Default: random data, written into each buffer once, and before every write the 512-byte
//!   blocks are *scrambled* (`scramble_buffers=1`): the block's offset into one of its first
//!   eight 64-byte lines (chosen by the time and offset), the issue time into bytes 48..64.
//! - `refill_buffers`: new data before every write (on by default with a compression
//!   percentage below 100, with `dedupe_percentage`, and with `buffer_pattern` in a job that
//!   reads, as fio settles it).
//! - `buffer_compress_percentage=P`: each segment of `min(smallest block, buffer_compress_chunk)`
//!   bytes is `100-P` percent random data followed by zeros (or the `buffer_pattern`); 100 is
//!   `zero_buffers`.
//! - `dedupe_percentage=D`: each buffer is, with probability D percent, a copy of the data the
//!   next unique buffer gets (fio's `repeat` mode: the random state is replayed, not advanced),
//!   or with `dedupe_mode=working_set` of one of the job's first unique buffers drawn at random
//!   (fio's `dedupe.c`; with `dedupe_global` the set takes its buffers from every job clone in
//!   turn, each clone's first ones, so clones duplicate each other's data).
//! - `buffer_pattern`: the pattern repeated from the buffer's start; `zero_buffers`: zeros.
//!
//! Nothing here allocates: every fill writes into the engine's buffers in place.

use crate::rng::Rng;
use crate::spec::verify::Pattern;
use crate::spec::{DataOpts, WorkingSet};

/// The settled data options of one job and its random state (see the module docs).
pub struct Filler {
    opts: DataOpts,
    /// The smallest write: the compression segment is `min(min_write, compress_chunk)`.
    min_write: u64,
    /// The unique-data stream: each segment takes its seed from here.
    stream: Rng,
    /// Draws whether a buffer is a duplicate (`dedupe_percentage`).
    dedupe: Rng,
    /// `dedupe_mode=working_set`: where the set's buffers start, and the draw of one.
    ws: Option<Ws>,
}

/// A dedupe working set: entry `i` is the unique stream of clone `(own + i / per_clone) mod
/// clones` from its start, `i mod per_clone` buffers on (without `dedupe_global`: one clone,
/// the job's own, and `per_clone` is the whole set) — fio's `init_dedupe_working_set_seeds`.
/// Nothing is stored per entry: the stream's state moves by a constant per draw.
struct Ws {
    pages: u64,
    /// Stream draws per smallest write.
    per_page: u64,
    starts: Vec<Rng>,
    own: usize,
    per_clone: u64,
    pick: Rng,
}

impl Ws {
    fn entry(&self, i: u64) -> Rng {
        let n = self.starts.len() as u64;
        let clone = (self.own as u64 + i / self.per_clone) % n;
        self.starts[clone as usize].advanced((i % self.per_clone) * self.per_page)
    }
}

/// A clone's unique-data stream and its dedupe draw, from its seed.
fn streams(seed: u64) -> (Rng, Rng) {
    let mut seeds = Rng::new(seed ^ 0x6275_6666_6572_7321);
    (Rng::new(seeds.next_u64()), Rng::new(seeds.next_u64()))
}

impl Filler {
    pub fn new(opts: &DataOpts, min_write: u64, seed: u64) -> Filler {
        let (stream, dedupe) = streams(seed);
        let min_write = min_write.max(1);
        let ws = opts.working_set.as_ref().map(|w: &WorkingSet| {
            let seg = match opts.compress_chunk {
                0 => min_write,
                c => min_write.min(c),
            };
            let (starts, own) = match &w.run_seeds {
                Some((seeds, own)) if w.global => {
                    (seeds.iter().map(|s| streams(*s).0).collect(), *own)
                }
                _ => (vec![stream.clone()], 0),
            };
            Ws {
                pages: w.pages.max(1),
                per_page: min_write.div_ceil(seg),
                per_clone: (w.pages / starts.len() as u64).max(1),
                starts,
                own,
                pick: Rng::new(seed ^ 0x7773_6574),
            }
        });
        Filler {
            opts: opts.clone(),
            min_write,
            stream,
            dedupe,
            ws,
        }
    }

    /// Whether writes rewrite the buffer (refill) or patch it (scramble, `%o` patterns).
    pub fn per_write(&self) -> bool {
        self.opts.refill || self.opts.scramble || self.pattern_has_offset()
    }

    fn pattern_has_offset(&self) -> bool {
        self.opts.pattern.as_ref().is_some_and(Pattern::has_offset)
    }

    /// fio's first fill of a writer's buffer (`init_io_u`): what `refill` would write.
    pub fn init(&mut self, buf: &mut [u8]) {
        self.fill(buf, 0);
    }

    /// One block of a file's layout at `offset` (fio's `extend_file`: `fill_io_buffer` for
    /// every block, without scrambling).
    pub fn layout(&mut self, buf: &mut [u8], offset: u64) {
        self.fill(buf, offset);
    }

    /// Before a write of `buf` (its whole length) at file offset `offset`, issued `t` after
    /// the job started: refill, or scramble (fio's `get_io_u`).
    pub fn before_write(&mut self, buf: &mut [u8], offset: u64, t: std::time::Duration) {
        if self.opts.refill || self.pattern_has_offset() {
            self.fill(buf, offset);
        } else if self.opts.scramble {
            scramble(buf, offset, t);
        }
    }

    /// fio's `fill_io_buffer`.
    fn fill(&mut self, buf: &mut [u8], offset: u64) {
        let o = &self.opts;
        if o.compress_pct > 0 || o.dedupe_pct > 0 {
            // A whole buffer is a duplicate or not (fio: "Buffers are either entirely
            // dedupe-able or not"): a duplicate replays the stream without advancing it (at
            // 100 percent, fio restores the state after every buffer: all buffers are one).
            let dup = o.dedupe_pct == 100
                || (o.dedupe_pct > 0 && self.dedupe.below(100) < u64::from(o.dedupe_pct));
            let mut replay = match &mut self.ws {
                // fio's get_buf_state: 100 percent is one buffer in either mode.
                Some(ws) if dup && o.dedupe_pct < 100 => {
                    let i = ws.pick.below(ws.pages);
                    ws.entry(i)
                }
                _ => self.stream.clone(),
            };
            let rs = if dup { &mut replay } else { &mut self.stream };
            let seg = match o.compress_chunk {
                0 => self.min_write,
                c => self.min_write.min(c),
            } as usize;
            let mut at = offset;
            for chunk in buf.chunks_mut(seg) {
                let seed = rs.next_u64();
                fill_percentage(chunk, o.compress_pct, seed, o.pattern.as_ref(), at);
                at += chunk.len() as u64;
            }
        } else if let Some(p) = &o.pattern {
            p.fill(buf, offset);
        } else if o.zero {
            buf.fill(0);
        } else {
            random(buf, self.stream.next_u64());
        }
    }
}

/// Random bytes from `seed` (xorshift64: not fio's generator, the same entropy).
pub fn random(buf: &mut [u8], seed: u64) {
    let mut x = seed | 1;
    for chunk in buf.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

/// fio's `__fill_random_buf_percentage` over one segment: the first `100 - pct` percent
/// random, the rest zeros or the pattern (100: all of it).
pub fn fill_percentage(buf: &mut [u8], pct: u32, seed: u64, pattern: Option<&Pattern>, at: u64) {
    let rand = buf.len() * (100 - pct.min(100)) as usize / 100;
    let (r, rest) = buf.split_at_mut(rand);
    random(r, seed);
    match pattern {
        Some(p) => p.fill(rest, at),
        None => rest.fill(0),
    }
}

/// fio's `small_content_scramble`: for every whole 512-byte block, its offset at the start of
/// one of its first eight 64-byte lines (`(nsec ^ offset) & 7`), and the time (seconds,
/// nanoseconds) at bytes 48..64.
pub fn scramble(buf: &mut [u8], offset: u64, t: std::time::Duration) {
    let (sec, nsec) = (t.as_secs(), u64::from(t.subsec_nanos()));
    let line = ((nsec ^ offset) & 7) as usize * 64;
    for (i, b) in buf.chunks_exact_mut(512).enumerate() {
        let boff = offset + i as u64 * 512;
        b[line..line + 8].copy_from_slice(&boff.to_ne_bytes());
        b[48..56].copy_from_slice(&sec.to_ne_bytes());
        b[56..64].copy_from_slice(&nsec.to_ne_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> DataOpts {
        DataOpts {
            scramble: false,
            ..DataOpts::default()
        }
    }

    #[test]
    fn compression_leaves_the_segment_tail_zero() {
        let mut f = Filler::new(
            &DataOpts {
                compress_pct: 75,
                compress_chunk: 512,
                refill: true,
                ..opts()
            },
            4096,
            1,
        );
        let mut b = vec![0xffu8; 4096];
        f.init(&mut b);
        for seg in b.chunks(512) {
            assert!(seg[128..].iter().all(|&x| x == 0));
            assert!(seg[..128].iter().filter(|&&x| x == 0).count() < 8);
        }
    }

    #[test]
    fn full_dedupe_writes_one_buffer_and_none_writes_distinct_ones() {
        let mut all = Filler::new(
            &DataOpts {
                dedupe_pct: 100,
                refill: true,
                ..opts()
            },
            4096,
            1,
        );
        let (mut a, mut b) = (vec![0u8; 4096], vec![0u8; 4096]);
        all.init(&mut a);
        all.before_write(&mut b, 4096, Default::default());
        assert_eq!(a, b);
        let mut none = Filler::new(
            &DataOpts {
                refill: true,
                ..opts()
            },
            4096,
            1,
        );
        none.init(&mut a);
        none.before_write(&mut b, 4096, Default::default());
        assert_ne!(a, b);
    }

    #[test]
    fn scramble_patches_offset_and_time_into_every_512_byte_block() {
        let mut b = vec![0u8; 1024];
        scramble(&mut b, 8192, std::time::Duration::new(3, 5));
        let line = ((5 ^ 8192) & 7) * 64;
        for (i, blk) in b.chunks(512).enumerate() {
            let at = u64::from_ne_bytes(blk[line..line + 8].try_into().unwrap());
            assert_eq!(at, 8192 + 512 * i as u64);
            assert_eq!(u64::from_ne_bytes(blk[48..56].try_into().unwrap()), 3);
            assert_eq!(u64::from_ne_bytes(blk[56..64].try_into().unwrap()), 5);
        }
    }
}
