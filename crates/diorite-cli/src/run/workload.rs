//! What a job does next: direction, block size and offset for each I/O, from a seeded PRNG,
//! with fio's random map (each block once per pass) and its skewed distributions. Deterministic
//! for a seed, so `verify_only` can replay a write job without writing.

use crate::rng::Rng;
use crate::run::random::OffsetRng;
use crate::spec::{Bs, Dist, JobSpec, Rw};

/// A bitmap of the region's blocks written (or visited) in the current pass, with a summary
/// level of full words so finding a free block stays cheap when the map is nearly full.
#[derive(Clone, Debug)]
pub struct BlockMap {
    blocks: u64,
    bits: Vec<u64>,
    /// Bit w set: `bits[w]` is full.
    full: Vec<u64>,
    set: u64,
    pass: u32,
}

impl BlockMap {
    pub fn new(blocks: u64) -> BlockMap {
        let words = blocks.div_ceil(64) as usize;
        let mut m = BlockMap {
            blocks,
            bits: vec![0; words],
            full: vec![0; words.div_ceil(64)],
            set: 0,
            pass: 0,
        };
        m.mask_tail();
        m
    }

    /// Marks the bits past the last block as taken so they are never found free.
    fn mask_tail(&mut self) {
        let rem = self.blocks % 64;
        if rem != 0 {
            let last = self.bits.len() - 1;
            self.bits[last] = !0u64 << rem;
            if self.bits[last] == !0 {
                self.full[last / 64] |= 1 << (last % 64);
            }
        }
    }

    pub fn blocks(&self) -> u64 {
        self.blocks
    }
    /// Passes completed (the generation of blocks written in the current pass).
    pub fn pass(&self) -> u32 {
        self.pass
    }
    pub fn is_full(&self) -> bool {
        self.set == self.blocks
    }
    pub fn is_set(&self, b: u64) -> bool {
        self.bits[(b / 64) as usize] & (1 << (b % 64)) != 0
    }
    pub fn set(&mut self, b: u64) {
        let w = (b / 64) as usize;
        let bit = 1u64 << (b % 64);
        if self.bits[w] & bit == 0 {
            self.bits[w] |= bit;
            self.set += 1;
            if self.bits[w] == !0 {
                self.full[w / 64] |= 1 << (w % 64);
            }
        }
    }
    /// Starts the next pass: every block free again.
    pub fn next_pass(&mut self) {
        self.bits.fill(0);
        self.full.fill(0);
        self.set = 0;
        self.pass += 1;
        self.mask_tail();
    }

    /// The first free block at or after `from`, wrapping; `None` when the map is full.
    pub fn next_free(&self, from: u64) -> Option<u64> {
        if self.is_full() {
            return None;
        }
        let words = self.bits.len();
        let w0 = (from / 64) as usize;
        // The starting word, from `from`'s bit on.
        let m = self.bits[w0] | ((1u64 << (from % 64)) - 1);
        if m != !0 {
            return Some(w0 as u64 * 64 + u64::from((!m).trailing_zeros()));
        }
        // Then the next non-full word after it, through the summary, wrapping around; the
        // starting word comes last (its bits before `from`).
        let mut w = w0 + 1;
        let mut scanned = 0;
        while scanned < words {
            if w >= words {
                w = 0;
            }
            let s = w / 64;
            let sm = self.full[s] | ((1u64 << (w % 64)) - 1);
            let word = if sm == !0 {
                words // the rest of this summary word is full
            } else {
                s * 64 + (!sm).trailing_zeros() as usize
            };
            if word < words {
                return Some(word as u64 * 64 + u64::from((!self.bits[word]).trailing_zeros()));
            }
            let next = ((s + 1) * 64).min(words);
            scanned += next - w;
            w = next;
        }
        None
    }

    /// How many consecutive free blocks start at `b`, up to `max`.
    pub fn free_run(&self, b: u64, max: u64) -> u64 {
        let mut n = 0;
        while n < max && b + n < self.blocks && !self.is_set(b + n) {
            n += 1;
        }
        n
    }
}

/// A skewed index generator over `0..n`.
#[derive(Clone, Debug)]
enum Skew {
    Uniform,
    /// Scrambled so hot blocks are spread over the region.
    Zipf(Zipf),
    Pareto {
        pow: f64,
    },
    /// Centered on the middle of the region, deviation in blocks.
    Normal {
        stddev: f64,
    },
    /// fio's zoned distributions: per zone, the cumulative access percentage it ends at, its
    /// first block and its length in blocks.
    Zoned(Vec<(u32, u64, u64)>),
}

/// Gray et al., "Quickly generating billion-record synthetic databases" (as fio does).
#[derive(Clone, Debug)]
struct Zipf {
    theta: f64,
    zetan: f64,
    eta: f64,
    alpha: f64,
    n: f64,
}

impl Zipf {
    fn new(theta: f64, n: u64) -> Zipf {
        let terms = n.min(ZIPF_MAX_TERMS);
        let zetan: f64 = (1..=terms).map(|i| 1.0 / (i as f64).powf(theta)).sum();
        let zeta2 = 1.0 + 0.5f64.powf(theta);
        let nf = n as f64;
        Zipf {
            theta,
            zetan,
            eta: (1.0 - (2.0 / nf).powf(1.0 - theta)) / (1.0 - zeta2 / zetan),
            alpha: 1.0 / (1.0 - theta),
            n: nf,
        }
    }

    /// The rank (0 = hottest) for a uniform `u` in [0, 1).
    fn rank(&self, u: f64, n: u64) -> u64 {
        let uz = u * self.zetan;
        if uz < 1.0 {
            0
        } else if uz < 1.0 + 0.5f64.powf(self.theta) {
            1
        } else {
            ((self.n * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64).min(n - 1)
        }
    }
}

/// fio caps the zeta sum at ten million terms.
const ZIPF_MAX_TERMS: u64 = 10_000_000;

fn scramble(v: u64, n: u64) -> u64 {
    v.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(31) % n
}

impl Skew {
    /// `unit`: the block size (for `zoned_abs`'s byte sizes).
    fn new(dist: Dist, n: u64, unit: u64) -> Skew {
        match dist {
            // io_u.c `__get_next_rand_offset_zoned`: zone i spans its size (percent of the
            // region, or bytes) after the zones before it.
            Dist::Zoned { zones, abs } => {
                let (mut acc, mut start) = (0u32, 0u64);
                let mut v = Vec::with_capacity(zones.len());
                for &(a, size) in zones.iter() {
                    acc += a;
                    let (first, len) = if abs {
                        (start / unit, size / unit)
                    } else {
                        (start * n / 100, n * size / 100)
                    };
                    start += size;
                    v.push((acc, first.min(n.saturating_sub(1)), len));
                }
                Skew::Zoned(v)
            }
            Dist::Uniform => Skew::Uniform,
            Dist::Zipf(theta) => Skew::Zipf(Zipf::new(theta, n)),
            Dist::Pareto(h) => Skew::Pareto {
                pow: h.ln() / (1.0 - h).ln(),
            },
            Dist::Normal(pct) => Skew::Normal {
                stddev: pct / 100.0 * n as f64,
            },
        }
    }

    fn pick(&self, rng: &mut OffsetRng, n: u64) -> u64 {
        match *self {
            Skew::Uniform => rng.below(n),
            Skew::Zipf(ref z) => scramble(z.rank(rng.unit(), n), n),
            Skew::Pareto { pow } => {
                let rank = (((n - 1) as f64) * rng.unit().powf(pow)) as u64;
                scramble(rank.min(n - 1), n)
            }
            Skew::Normal { stddev } => {
                // Box-Muller.
                let (u1, u2) = (rng.unit().max(f64::MIN_POSITIVE), rng.unit());
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let v = n as f64 / 2.0 + z * stddev;
                v.clamp(0.0, (n - 1) as f64) as u64
            }
            Skew::Zoned(ref zones) => {
                // A value in 1..=100 picks the zone; uniform within it.
                let v = rng.below(100) as u32 + 1;
                let &(_, first, len) = zones
                    .iter()
                    .find(|z| z.0 >= v)
                    .unwrap_or(&zones[zones.len() - 1]);
                (first + rng.below(len.max(1))).min(n - 1)
            }
        }
    }
}

/// Direction of an I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Read = 0,
    Write = 1,
    Trim = 2,
}

/// One I/O to issue: `offset` and `len` are relative to the region, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Io {
    pub dir: Dir,
    pub offset: u64,
    pub len: u64,
    /// This I/O begins a new pass over the region (the map was just reset, or a sequential
    /// cursor wrapped): a verifying writer drains in-flight writes first.
    pub new_pass: bool,
}

/// fio's strided zone state (blocks of the generator's unit; `size` in bytes).
#[derive(Clone, Copy, Debug)]
struct Zone {
    range: u64,
    size: u64,
    skip: u64,
    region: u64,
    base: u64,
    bytes: u64,
}

/// The per-file generator of one job.
#[derive(Clone, Debug)]
pub struct Generator {
    rw: Rw,
    rwmixread: u32,
    /// Block sizes per direction (read, write; trims take the read one); `unit` is their
    /// envelope's.
    bs: [Bs; 2],
    unit: u64,
    blocks: u64,
    /// fio's `blockalign`, in blocks: random offsets are multiples of it.
    align: u64,
    /// fio's offset modifier (`JobSpec::rw_add`, in blocks; `rw_nr`, `rw_identical`), and for
    /// a random pattern the I/Os left until the next random offset and the last I/O's
    /// `(block, blocks)`.
    add: i64,
    nr: u64,
    identical: bool,
    nr_left: u64,
    last: (u64, u64),
    skew: Skew,
    /// The random map (random patterns without norandommap and with a uniform distribution),
    /// or the written-blocks map of a sequential writer (for verify). None otherwise.
    map: Option<BlockMap>,
    /// Random patterns use the map to pick; sequential ones only record.
    pick_from_map: bool,
    seq: [u64; 3],
    /// trimwrite: the range just trimmed, to be written next (fio writes the blocks it trimmed).
    rewrite: Option<(u64, u64)>,
    /// A verifying writer whose blocks may be rewritten within a pass (a skewed distribution,
    /// norandommap): how many times each block was written (mod 256: the generation its data
    /// carries; fio keeps the last writer of a block), and which blocks have a write in
    /// flight (a rewrite waits for it, so the last write issued is the last on the device).
    counts: Option<Vec<u8>>,
    in_flight: Vec<u64>,
    /// `verify_backlog`: blocks already verified during the write phase and not rewritten
    /// since (the final verify skips them).
    verified: Vec<u64>,
    rng_off: OffsetRng,
    /// fio's strided zones: `blocks` is then one zone's, at `base` in the region.
    zone: Option<Zone>,
    /// fio's `percentage_random` per direction, its draws, and where each direction's last
    /// I/O ended (the sequential I/Os continue there).
    perc_rand: [u32; 3],
    rng_seq: Rng,
    last_end: [u64; 3],
    rng_dir: Rng,
    rng_bs: Rng,
}

impl Generator {
    /// A generator for `spec`'s pattern over a region of `len` bytes. `track` keeps the map
    /// even where picking does not need it (a verifying writer). `len` must hold at least one
    /// largest block.
    pub fn new(spec: &JobSpec, track: bool, len: u64, seed: u64) -> Generator {
        let (rw, bs, dist) = (spec.rw, spec.bs.clone(), spec.offsets.dist.clone());
        let unit = bs.unit();
        // fio's zonemode=strided: the pattern runs over one zone of zonerange bytes at a time.
        let zone = spec.offsets.zone.map(|z| Zone {
            range: (z.range / unit).clamp(1, len / unit),
            size: z.size,
            skip: z.skip / unit,
            region: len / unit,
            base: 0,
            bytes: 0,
        });
        let blocks = zone.map_or(len / unit, |z| z.range);
        // (A random pattern with an offset modifier does not pick from the map: its sequential
        // follow-ups would not respect it.)
        let pick_from_map = rw.random()
            && !spec.offsets.norandommap
            && dist == Dist::Uniform
            && spec.offsets.rw_nr <= 1
            && spec.offsets.random_generator != crate::spec::RandomGen::Lfsr;
        let mut seeds = Rng::new(seed);
        Generator {
            rw,
            rwmixread: spec.rwmixread,
            unit,
            blocks,
            align: spec.offsets.blockalign.map_or(1, |ba| (ba / unit).max(1)),
            add: spec.offsets.rw_add / unit as i64,
            nr: spec.offsets.rw_nr,
            identical: spec.offsets.rw_identical,
            nr_left: spec.offsets.rw_nr,
            last: (0, 0),
            skew: Skew::new(dist.clone(), (blocks - bs.max() / unit + 1).max(1), unit),
            bs: spec.bs_dirs(),
            map: (pick_from_map || track).then(|| BlockMap::new(blocks)),
            pick_from_map,
            seq: [0, 0, 0],
            rewrite: None,
            counts: (track && !pick_from_map && rw.random()).then(|| vec![0; blocks as usize]),
            in_flight: if track && !pick_from_map && rw.random() {
                vec![0; blocks.div_ceil(64) as usize]
            } else {
                Vec::new()
            },
            verified: if track && spec.verification.verify_backlog.is_some() {
                vec![0; blocks.div_ceil(64) as usize]
            } else {
                Vec::new()
            },
            rng_off: OffsetRng::new(spec.offsets.random_generator, blocks, seeds.next_u64()),
            perc_rand: [spec.offsets.perc_rand[0], spec.offsets.perc_rand[1], 100],
            zone,
            last_end: [0; 3],
            rng_dir: Rng::new(seeds.next_u64()),
            rng_bs: Rng::new(seeds.next_u64()),
            rng_seq: Rng::new(seeds.next_u64()),
        }
    }

    pub fn unit(&self) -> u64 {
        self.unit
    }
    /// The generation block `b`'s data carries: its write count (counting writers), else the
    /// map's pass.
    pub fn generation_of(&self, b: u64) -> u32 {
        match &self.counts {
            Some(c) => u32::from(c[b as usize]),
            None => self.map.as_ref().map_or(0, BlockMap::pass),
        }
    }

    /// Marks block `b` verified (`verify_backlog`), or, with `false`, rewritten since.
    pub fn set_verified(&mut self, b: u64, on: bool) {
        if let Some(w) = self.verified.get_mut((b / 64) as usize) {
            if on {
                *w |= 1 << (b % 64);
            } else {
                *w &= !(1 << (b % 64));
            }
        }
    }

    /// For the final verify: the generation block `b` must hold, or `None` if nothing was
    /// written there or the backlog verified it already.
    pub fn expected_unverified(&self, b: u64) -> Option<u32> {
        let done = self
            .verified
            .get((b / 64) as usize)
            .is_some_and(|w| w >> (b % 64) & 1 == 1);
        if done {
            None
        } else {
            self.expected(b)
        }
    }

    /// For verify: the generation block `b` must hold, or `None` if nothing was written there.
    pub fn expected(&self, b: u64) -> Option<u32> {
        let m = self.map.as_ref()?;
        if let Some(c) = &self.counts {
            return m.is_set(b).then(|| u32::from(c[b as usize]));
        }
        if m.is_set(b) {
            Some(m.pass())
        } else {
            m.pass().checked_sub(1)
        }
    }

    /// Whether any block of `io` has a write in flight (counting writers only).
    pub fn overlaps_in_flight(&self, io: &Io) -> bool {
        self.counts.is_some()
            && self
                .blocks_of(io)
                .any(|b| self.in_flight[(b / 64) as usize] >> (b % 64) & 1 == 1)
    }

    /// Marks (`true`) or clears the blocks of a write as in flight (counting writers only).
    pub fn set_in_flight(&mut self, offset: u64, len: u64, on: bool) {
        if self.counts.is_none() {
            return;
        }
        for b in offset / self.unit..(offset + len).div_ceil(self.unit) {
            let (w, bit) = ((b / 64) as usize, 1u64 << (b % 64));
            if on {
                self.in_flight[w] |= bit;
            } else {
                self.in_flight[w] &= !bit;
            }
        }
    }

    fn blocks_of(&self, io: &Io) -> std::ops::Range<u64> {
        io.offset / self.unit..(io.offset + io.len).div_ceil(self.unit)
    }

    /// Whether the next I/O is the write half of a trimwrite pair.
    pub fn pending_rewrite(&self) -> bool {
        self.rewrite.is_some()
    }
    pub fn map(&self) -> Option<&BlockMap> {
        self.map.as_ref()
    }

    fn pick_bs(&mut self, dir: Dir) -> u64 {
        match &self.bs[(dir as usize).min(1)] {
            Bs::Fixed(b) => *b,
            Bs::Range(min, max) => min * (1 + self.rng_bs.below(max / min)),
            Bs::Split(v) => {
                let mut r = self.rng_bs.below(100) as u32;
                for &(size, w) in v {
                    if r < w {
                        return size;
                    }
                    r -= w;
                }
                v.last().map_or(self.unit, |x| x.0)
            }
        }
    }

    /// The next I/O.
    pub fn next(&mut self) -> Io {
        self.next_with(|d| d)
    }

    /// [`Generator::next`], with `choose` deciding the direction drawn (fio's `rate_ddir` may
    /// switch a mixed job's direction) before the offset and size are picked.
    pub fn next_with(&mut self, choose: impl FnOnce(Dir) -> Dir) -> Io {
        if let Some((block, n)) = self.rewrite.take() {
            // trimwrite's second half: the same blocks, written (fio's DDIR_TRIM -> DDIR_WRITE).
            return Io {
                dir: Dir::Write,
                offset: block * self.unit,
                len: n * self.unit,
                new_pass: false,
            };
        }
        let dir = if self.rw.trims() {
            Dir::Trim
        } else if !self.rw.mixed() {
            if self.rw.writes() {
                Dir::Write
            } else {
                Dir::Read
            }
        } else if self.rng_dir.below(100) < u64::from(self.rwmixread) {
            Dir::Read
        } else {
            Dir::Write
        };
        let dir = choose(dir);
        let want = self.pick_bs(dir) / self.unit;
        let mut new_pass = false;
        // fio's percentage_random (io_u.c `should_do_random`): a random pattern's I/O is
        // random with this probability, else it continues after the direction's last I/O.
        let perc = u64::from(self.perc_rand[dir as usize]);
        let seq_instead = self.rw.random() && perc < 100 && self.rng_seq.below(100) >= perc;
        let (block, n) = if seq_instead {
            let b = self.last_end[dir as usize];
            let b = if b >= self.blocks { 0 } else { b };
            (b, want.min(self.blocks - b))
        } else if self.pick_from_map {
            let map = self.map.as_mut().expect("random map");
            if map.is_full() {
                map.next_pass();
                new_pass = true;
            }
            let r = self.rng_off.below(self.blocks);
            let b = map
                .next_free(r)
                .expect("a map that is not full has a free block");
            (b, map.free_run(b, want).max(1))
        } else if self.rw.random() && self.nr > 1 && {
            // fio (io_u.c): the counter runs down first; a random offset when it reaches 0.
            self.nr_left -= 1;
            self.nr_left > 0
        } {
            // rw_sequencer: after the last I/O, or the same offset again.
            let (lb, ln) = self.last;
            let b = if self.identical { lb } else { lb + ln };
            let b = if b + want > self.blocks { 0 } else { b };
            (b, want.min(self.blocks - b))
        } else if self.rw.random() {
            self.nr_left = self.nr;
            let b = self.skew.pick(&mut self.rng_off, self.blocks - want + 1);
            let b = b / self.align * self.align;
            (b, want)
        } else if self.add != 0 {
            // fio's get_next_seq_offset with a modifier: the next offset is the last I/O's end
            // plus the modifier (the first I/O at the start); past the region's end a hole
            // pattern wraps to its start, a backwards one to its end plus the modifier. (fio
            // wraps at the file's end; diorite never leaves the job's region.)
            let cur = &mut self.seq[dir as usize];
            let mut pos = *cur as i64;
            if pos != 0 {
                pos += self.add;
                if pos < 0 || pos >= self.blocks as i64 {
                    pos = if self.add > 0 {
                        0
                    } else {
                        (self.blocks as i64 + self.add).max(0)
                    };
                }
            }
            let b = (pos as u64).min(self.blocks - 1);
            let n = want.min(self.blocks - b);
            *cur = b + n;
            (b, n)
        } else {
            // A pass ends exactly at the region's end: the last I/O is shortened to the blocks
            // left, so every pass covers every block once (verify relies on it).
            let cur = &mut self.seq[dir as usize];
            if *cur >= self.blocks {
                *cur = 0;
                new_pass = true;
            }
            let b = *cur;
            let n = want.min(self.blocks - b);
            *cur += n;
            (b, n)
        };
        self.last = (block, n);
        self.last_end[dir as usize] = block + n;
        if let Some(map) = self.map.as_mut().filter(|_| !seq_instead) {
            // A tracking (sequential) map starts its next pass when the cursor wraps; a picking
            // map did so above.
            if new_pass && !self.pick_from_map {
                map.next_pass();
            }
            if dir == Dir::Write || self.pick_from_map {
                for i in 0..n {
                    map.set(block + i);
                }
            }
        }
        if let (Some(c), Dir::Write) = (self.counts.as_mut(), dir) {
            for i in block..block + n {
                c[i as usize] = c[i as usize].wrapping_add(1);
            }
        }
        if matches!(self.rw, Rw::TrimWrite | Rw::RandTrimWrite) {
            self.rewrite = Some((block, n));
        }
        let base = self.zone.map_or(0, |z| z.base);
        if let Some(z) = self.zone.as_mut() {
            // fio's `setup_strided_zone_mode`: after zonesize bytes, the next zone starts
            // zonerange + zoneskip further on (from the region's start again past its end —
            // fio wraps at the file's end; diorite never leaves the region); its pattern starts
            // afresh there.
            z.bytes += n * self.unit;
            if z.bytes >= z.size {
                z.bytes = 0;
                z.base += z.range + z.skip;
                if z.base + z.range > z.region {
                    z.base = 0;
                }
                self.seq = [0; 3];
                self.last_end = [0; 3];
                if let Some(m) = self.map.as_mut().filter(|_| self.pick_from_map) {
                    m.next_pass();
                }
            }
        }
        Io {
            dir,
            offset: (base + block) * self.unit,
            len: n * self.unit,
            new_pass,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(rw: Rw, mix: u32, bs: Bs, dist: Dist, norandommap: bool) -> JobSpec {
        let mut j = JobSpec {
            rw,
            rwmixread: mix,
            bs,
            ..JobSpec::default()
        };
        (j.offsets.dist, j.offsets.norandommap) = (dist, norandommap);
        j
    }

    fn gen(rw: Rw, bs: Bs, dist: Dist, norandommap: bool, len: u64) -> Generator {
        Generator::new(&spec(rw, 50, bs, dist, norandommap), false, len, 42)
    }

    proptest! {
        #[test]
        fn the_random_map_visits_each_block_once_per_pass(blocks in 1u64..3000, seed in any::<u64>()) {
            let mut g = Generator::new(&spec(Rw::RandWrite, 50, Bs::Fixed(4096), Dist::Uniform, false), false, blocks * 4096, seed);
            for pass in 0..2 {
                let mut seen = vec![false; blocks as usize];
                for i in 0..blocks {
                    let io = g.next();
                    prop_assert_eq!(io.new_pass, pass > 0 && i == 0);
                    let b = (io.offset / 4096) as usize;
                    prop_assert!(!seen[b], "block {} twice in pass {}", b, pass);
                    seen[b] = true;
                }
                prop_assert!(seen.iter().all(|x| *x));
            }
        }

        #[test]
        fn ios_stay_inside_the_region(len_blocks in 16u64..5000, seed in any::<u64>(), dist in 0..6u8) {
            let zoned = |abs: bool, zones: &[(u32, u64)]| Dist::Zoned { zones: zones.into(), abs };
            let dist = [
                Dist::Uniform,
                Dist::Zipf(1.1),
                Dist::Pareto(0.3),
                Dist::Normal(10.0),
                zoned(false, &[(50, 5), (30, 15), (20, 80)]),
                // Zones past the region's end are clamped into it.
                zoned(true, &[(60, 1 << 20), (40, 1 << 40)]),
            ][dist as usize]
                .clone();
            let bs = Bs::Split(vec![(4096, 50), (16384, 30), (65536, 20)]);
            let len = len_blocks * 4096 + 65536;
            let mut g = Generator::new(&spec(Rw::RandRw, 70, bs, dist, true), false, len, seed);
            for _ in 0..200 {
                let io = g.next();
                prop_assert!(io.offset % 4096 == 0 && io.len % 4096 == 0 && io.len > 0);
                prop_assert!(io.offset + io.len <= len, "{:?} past {}", io, len);
            }
        }
    }

    #[test]
    fn sequential_wraps_and_mixes_by_percentage() {
        let mut g = gen(Rw::Write, Bs::Fixed(4096), Dist::Uniform, false, 3 * 4096);
        let offs: Vec<_> = (0..4).map(|_| g.next().offset).collect();
        assert_eq!(offs, [0, 4096, 8192, 0]);
        // Variable sizes: the pass ends exactly at the end (the last I/O shortened).
        let mut g = gen(
            Rw::Write,
            Bs::Range(4096, 16384),
            Dist::Uniform,
            false,
            10 * 4096,
        );
        let mut end = 0;
        loop {
            let io = g.next();
            if io.new_pass {
                assert_eq!(io.offset, 0);
                break;
            }
            assert_eq!(io.offset, end);
            end += io.len;
        }
        assert_eq!(end, 10 * 4096);
        let mixed = spec(Rw::RandRw, 70, Bs::Fixed(4096), Dist::Uniform, false);
        let mut g = Generator::new(&mixed, false, 1 << 30, 1);
        let reads = (0..10_000).filter(|_| g.next().dir == Dir::Read).count();
        assert!((6500..7500).contains(&reads), "{reads}");
    }

    #[test]
    fn skewed_distributions_are_skewed() {
        let n = 10_000u64;
        for dist in [Dist::Zipf(1.2), Dist::Pareto(0.2)] {
            let mut g = gen(Rw::RandRead, Bs::Fixed(4096), dist.clone(), false, n * 4096);
            let mut counts = vec![0u32; n as usize];
            for _ in 0..100_000 {
                counts[(g.next().offset / 4096) as usize] += 1;
            }
            counts.sort_unstable_by(|a, b| b.cmp(a));
            let top: u32 = counts[..(n / 10) as usize].iter().sum();
            assert!(
                top > 50_000,
                "{dist:?}: hottest 10% got only {top} of 100000"
            );
        }
        let mut g = gen(
            Rw::RandRead,
            Bs::Fixed(4096),
            Dist::Normal(5.0),
            false,
            n * 4096,
        );
        let near = (0..10_000)
            .filter(|_| (g.next().offset / 4096).abs_diff(n / 2) < n / 10)
            .count();
        assert!(
            near > 9000,
            "normal:5 put only {near} of 10000 within 2 sigma"
        );
        let mut g = gen(Rw::RandRead, Bs::Fixed(4096), Dist::Uniform, true, n * 4096);
        let near = (0..10_000)
            .filter(|_| (g.next().offset / 4096).abs_diff(n / 2) < n / 10)
            .count();
        assert!((1500..2500).contains(&near), "uniform: {near}");
    }

    #[test]
    fn block_map_finds_free_blocks_across_words() {
        let mut m = BlockMap::new(200);
        for b in 0..200 {
            if b != 3 && b != 130 {
                m.set(b);
            }
        }
        assert_eq!(m.next_free(0), Some(3));
        assert_eq!(m.next_free(4), Some(130));
        assert_eq!(m.next_free(131), Some(3));
        m.set(3);
        m.set(130);
        assert!(m.is_full());
        assert_eq!(m.next_free(0), None);
        m.next_pass();
        assert_eq!((m.pass(), m.next_free(199)), (1, Some(199)));
        assert_eq!(m.free_run(190, 100), 10);
    }
}

/// fio's `file_service_type` (io_u.c `__get_next_file`) and `openfiles`: which of a job's
/// files the next I/O goes to. Each file takes its region's worth of I/O per pass and is then
/// *done* (fio closes it) until every file is; at most `openfiles` files are *open* at a time
/// (the first ones; a done file's place goes to the next not yet opened), and only open files
/// not done are picked. `roundrobin` (the default) moves to the next such file after every
/// `nr` I/Os, `random` picks one uniformly every `nr` I/Os, and `sequential` stays on a file
/// until it is done.
#[derive(Clone, Debug)]
pub struct FileService {
    kind: crate::spec::Service,
    nr: u64,
    cur: usize,
    /// I/Os left on `cur` before the next pick (round robin, random).
    left: u64,
    /// Per file: its region's length, the bytes issued to it in this pass, whether open.
    lens: Vec<u64>,
    issued: Vec<u64>,
    open: Vec<bool>,
    /// `openfiles`, and the next file to open when one is done.
    limit: usize,
    next_open: usize,
    rng: Rng,
}

impl FileService {
    /// The service over files whose regions are `lens` bytes long.
    pub fn new(spec: &JobSpec, lens: Vec<u64>, seed: u64) -> FileService {
        let (kind, nr) = spec.files.file_service;
        let n = lens.len();
        let limit = spec
            .files
            .openfiles
            .map_or(n, |o| o as usize)
            .clamp(1, n.max(1));
        let mut s = FileService {
            kind,
            nr: nr.max(1),
            cur: 0,
            left: nr.max(1) - 1,
            issued: vec![0; n],
            open: (0..n).map(|i| i < limit).collect(),
            limit,
            next_open: limit,
            lens,
            rng: Rng::new(seed ^ 0x6669_6c65_7365_7276),
        };
        if kind == crate::spec::Service::Random {
            s.cur = s.rng.below(limit as u64) as usize;
        }
        s
    }

    /// The file of the next I/O.
    pub fn file(&self) -> usize {
        self.cur
    }

    fn done(&self, f: usize) -> bool {
        self.issued[f] >= self.lens[f]
    }

    fn ready(&self, f: usize) -> bool {
        self.open[f] && !self.done(f)
    }

    /// After an I/O of `len` bytes on [`FileService::file`]: the file of the next one.
    pub fn after(&mut self, len: u64) {
        use crate::spec::Service;
        let n = self.lens.len();
        if n <= 1 {
            return;
        }
        self.issued[self.cur] += len;
        if self.done(self.cur) && self.open[self.cur] {
            // fio closes a done file; the next one not yet opened takes its place.
            self.open[self.cur] = false;
            if self.next_open < n {
                self.open[self.next_open] = true;
                self.next_open += 1;
            }
        }
        if (0..n).all(|f| self.done(f)) {
            // Every file is done: the next pass starts, with the first files open again.
            self.issued.fill(0);
            for (i, o) in self.open.iter_mut().enumerate() {
                *o = i < self.limit;
            }
            self.next_open = self.limit;
        }
        let stay = self.ready(self.cur)
            && match self.kind {
                Service::Sequential => true,
                _ if self.left > 0 => {
                    self.left -= 1;
                    true
                }
                _ => false,
            };
        if stay {
            return;
        }
        self.left = self.nr - 1;
        if self.kind == Service::Random {
            // Uniform among the open files not done (fio retries its pick until it finds one).
            loop {
                let f = self.rng.below(n as u64) as usize;
                if self.ready(f) {
                    self.cur = f;
                    return;
                }
            }
        }
        for step in 1..=n {
            let f = (self.cur + step) % n;
            if self.ready(f) {
                self.cur = f;
                return;
            }
        }
    }
}
