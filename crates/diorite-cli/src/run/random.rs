//! fio's `random_generator`s for random offsets: `tausworthe` (L'Ecuyer's taus88, 32 bits;
//! fio's default, switched to the 64-bit one for regions of more than 2^32 blocks, as fio
//! does), `tausworthe64` (taus258) — both seeded as fio's `lib/rand.c` seeds them — and `lfsr`,
//! a maximal-length linear feedback shift register that visits every block of the region
//! exactly once per pass with no map (fio's `lib/lfsr.c`, its tap table).

/// L'Ecuyer's taus88 as fio's `__rand32`.
#[derive(Clone, Debug)]
pub struct Taus88([u32; 3]);

impl Taus88 {
    /// fio's `__init_rand32` (its `(2^31) + (2^17) + (2^7)` is C's XOR: 53).
    pub fn new(seed: u32) -> Taus88 {
        let lcg = |x: u32| x.wrapping_mul(69069) ^ seed;
        let at_least = |x: u32, m: u32| if x < m { x + m } else { x };
        let s1 = at_least(lcg(53), 1);
        let s2 = at_least(lcg(s1), 7);
        let s3 = at_least(lcg(s2), 15);
        let mut t = Taus88([s1, s2, s3]);
        for _ in 0..6 {
            t.next();
        }
        t
    }

    pub fn next(&mut self) -> u32 {
        let step = |s: u32, a: u32, b: u32, c: u32, d: u32| ((s & c) << d) ^ (((s << a) ^ s) >> b);
        let [s1, s2, s3] = &mut self.0;
        *s1 = step(*s1, 13, 19, 4_294_967_294, 12);
        *s2 = step(*s2, 2, 25, 4_294_967_288, 4);
        *s3 = step(*s3, 3, 11, 4_294_967_280, 17);
        *s1 ^ *s2 ^ *s3
    }
}

/// L'Ecuyer's taus258 as fio's `__rand64`.
#[derive(Clone, Debug)]
pub struct Taus258([u64; 5]);

impl Taus258 {
    /// fio's `__init_rand64`.
    pub fn new(seed: u64) -> Taus258 {
        let lcg = |x: u64| x.wrapping_mul(6_906_969_069) ^ seed;
        let at_least = |x: u64, m: u64| if x < m { x + m } else { x };
        let s1 = at_least(lcg(53), 1);
        let s2 = at_least(lcg(s1), 7);
        let s3 = at_least(lcg(s2), 15);
        let s4 = at_least(lcg(s3), 33);
        let s5 = at_least(lcg(s4), 49);
        let mut t = Taus258([s1, s2, s3, s4, s5]);
        for _ in 0..6 {
            t.next();
        }
        t
    }

    pub fn next(&mut self) -> u64 {
        let [s1, s2, s3, s4, s5] = &mut self.0;
        let x = ((*s1 << 1) ^ *s1) >> 53;
        *s1 = ((*s1 & 18_446_744_073_709_551_614) << 10) ^ x;
        let x = ((*s2 << 24) ^ *s2) >> 50;
        *s2 = ((*s2 & 18_446_744_073_709_551_104) << 5) ^ x;
        let x = ((*s3 << 3) ^ *s3) >> 23;
        *s3 = ((*s3 & 18_446_744_073_709_547_520) << 29) ^ x;
        let x = ((*s4 << 5) ^ *s4) >> 24;
        *s4 = ((*s4 & 18_446_744_073_709_420_544) << 23) ^ x;
        let x = ((*s5 << 3) ^ *s5) >> 33;
        *s5 = ((*s5 & 18_446_744_073_701_163_008) << 8) ^ x;
        *s1 ^ *s2 ^ *s3 ^ *s4 ^ *s5
    }
}

/// Tap positions of maximal-length LFSRs by width (fio's `lfsr_taps`, from the same published
/// table); index = bits.
const TAPS: [&[u8]; 64] = [
    &[],
    &[],
    &[],
    &[3, 2],
    &[4, 3],
    &[5, 3],
    &[6, 5],
    &[7, 6],
    &[8, 6, 5, 4],
    &[9, 5],
    &[10, 7],
    &[11, 9],
    &[12, 6, 4, 1],
    &[13, 4, 3, 1],
    &[14, 5, 3, 1],
    &[15, 14],
    &[16, 15, 13, 4],
    &[17, 14],
    &[18, 11],
    &[19, 6, 2, 1],
    &[20, 17],
    &[21, 19],
    &[22, 21],
    &[23, 18],
    &[24, 23, 22, 17],
    &[25, 22],
    &[26, 6, 2, 1],
    &[27, 5, 2, 1],
    &[28, 25],
    &[29, 27],
    &[30, 6, 4, 1],
    &[31, 28],
    &[32, 31, 29, 1],
    &[33, 20],
    &[34, 27, 2, 1],
    &[35, 33],
    &[36, 25],
    &[37, 5, 4, 3, 2, 1],
    &[38, 6, 5, 1],
    &[39, 35],
    &[40, 38, 21, 19],
    &[41, 38],
    &[42, 41, 20, 19],
    &[43, 42, 38, 37],
    &[44, 43, 18, 17],
    &[45, 44, 42, 41],
    &[46, 45, 26, 25],
    &[47, 42],
    &[48, 47, 21, 20],
    &[49, 40],
    &[50, 49, 24, 23],
    &[51, 50, 36, 35],
    &[52, 49],
    &[53, 52, 38, 37],
    &[54, 53, 18, 17],
    &[55, 31],
    &[56, 55, 35, 34],
    &[57, 50],
    &[58, 39],
    &[59, 58, 38, 37],
    &[60, 59],
    &[61, 60, 46, 45],
    &[62, 61, 6, 5],
    &[63, 62],
];

/// A Galois LFSR of the smallest width whose cycle (2^bits - 1 states) covers `n` numbers:
/// each state `s` stands for `s - 1`; states standing for `n` or more are skipped. So every
/// number below `n` comes exactly once per `n` draws, in a seeded, scrambled order.
#[derive(Clone, Debug)]
pub struct Lfsr {
    state: u64,
    mask: u64,
    n: u64,
}

impl Lfsr {
    pub fn new(n: u64, seed: u64) -> Lfsr {
        let n = n.max(1);
        let bits = (64 - n.leading_zeros()).max(3) as usize;
        let bits = if (1u64 << bits) - 1 < n {
            bits + 1
        } else {
            bits
        }
        .min(63);
        let mask = TAPS[bits].iter().fold(0u64, |m, &t| m | 1 << (t - 1));
        let period = (1u64 << bits) - 1;
        Lfsr {
            state: 1 + seed % period,
            mask,
            n,
        }
    }

    /// The next number below `n`.
    pub fn next(&mut self) -> u64 {
        loop {
            let lsb = self.state & 1;
            self.state >>= 1;
            if lsb == 1 {
                self.state ^= self.mask;
            }
            if self.state - 1 < self.n {
                return self.state - 1;
            }
        }
    }
}

/// The offset generator a job chose (`random_generator`), drawing uniformly in `0..n`.
#[derive(Clone, Debug)]
pub enum OffsetRng {
    Taus32(Taus88),
    Taus64(Taus258),
    Lfsr(Lfsr),
}

impl OffsetRng {
    /// For a region of `blocks` blocks: fio's tausworthe becomes tausworthe64 past 2^32
    /// blocks (fio: "Switching to tausworthe64").
    pub fn new(kind: crate::spec::RandomGen, blocks: u64, seed: u64) -> OffsetRng {
        use crate::spec::RandomGen;
        match kind {
            RandomGen::Tausworthe if blocks <= 1 << 32 => {
                OffsetRng::Taus32(Taus88::new(seed as u32 ^ (seed >> 32) as u32))
            }
            RandomGen::Tausworthe | RandomGen::Tausworthe64 => {
                OffsetRng::Taus64(Taus258::new(seed))
            }
            RandomGen::Lfsr => OffsetRng::Lfsr(Lfsr::new(blocks, seed)),
        }
    }

    /// Uniform in `0..n` as fio maps a draw (`r / (max + 1) * n`); the LFSR's next block.
    pub fn below(&mut self, n: u64) -> u64 {
        match self {
            OffsetRng::Taus32(t) => (u64::from(t.next()) * n) >> 32,
            OffsetRng::Taus64(t) => ((u128::from(t.next()) * u128::from(n)) >> 64) as u64,
            OffsetRng::Lfsr(l) => l.next() % n.max(1),
        }
    }

    /// Uniform in `[0, 1)` (for the skewed distributions).
    pub fn unit(&mut self) -> f64 {
        match self {
            OffsetRng::Taus32(t) => f64::from(t.next()) / (1u64 << 32) as f64,
            OffsetRng::Taus64(t) => (t.next() >> 11) as f64 / (1u64 << 53) as f64,
            OffsetRng::Lfsr(l) => l.next() as f64 / l.n as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every width up to 20 bits: the taps give the full cycle, so each number below `n`
    /// comes exactly once per `n` draws.
    #[test]
    fn lfsr_visits_every_number_once_per_cycle() {
        for n in [
            1u64,
            2,
            5,
            7,
            8,
            9,
            100,
            1000,
            4095,
            4096,
            4097,
            65_537,
            1 << 20,
        ] {
            let mut l = Lfsr::new(n, 12345);
            let mut seen = vec![false; n as usize];
            for _ in 0..n {
                let x = l.next() as usize;
                assert!(!seen[x], "n={n}: {x} twice");
                seen[x] = true;
            }
            assert!(seen.iter().all(|&s| s), "n={n}");
            // The next cycle starts over: the same order.
            let again: Vec<u64> = (0..n.min(16)).map(|_| l.next()).collect();
            let mut fresh = Lfsr::new(n, 12345);
            let first: Vec<u64> = (0..n.min(16)).map(|_| fresh.next()).collect();
            assert_eq!(again, first, "n={n}");
        }
    }

    #[test]
    fn tausworthe_draws_spread_over_the_range() {
        for kind in [
            crate::spec::RandomGen::Tausworthe,
            crate::spec::RandomGen::Tausworthe64,
        ] {
            let mut r = OffsetRng::new(kind, 1000, 7);
            let mut hits = [0u32; 10];
            for _ in 0..100_000 {
                hits[(r.below(1000) / 100) as usize] += 1;
            }
            assert!(
                hits.iter().all(|&h| (9_000..11_000).contains(&h)),
                "{hits:?}"
            );
        }
    }
}
