//! `--verify=crc32c`: every block (the job's block unit) written carries a header — magic,
//! crc32c, offset, block number, job seed, generation — and pseudo-random data derived from
//! them. Checking a block recomputes the crc and compares every header field with what the job
//! expects there.

use std::fmt;

const MAGIC: u32 = u32::from_le_bytes(*b"DRTV");
/// Bytes of the header at the start of each block.
pub const HEADER: usize = 40;

/// What a block's header says (or should say).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub magic: u32,
    pub crc: u32,
    /// Byte offset in the file.
    pub offset: u64,
    /// Block number within the job's region.
    pub block: u64,
    pub seed: u64,
    /// The pass over the region that wrote it.
    pub generation: u32,
    /// The block's length.
    pub len: u32,
}

impl Header {
    fn read(b: &[u8]) -> Header {
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        Header {
            magic: u32_at(0),
            crc: u32_at(4),
            offset: u64_at(8),
            block: u64_at(16),
            seed: u64_at(24),
            generation: u32_at(32),
            len: u32_at(36),
        }
    }

    fn write(&self, b: &mut [u8]) {
        b[0..4].copy_from_slice(&self.magic.to_le_bytes());
        b[4..8].copy_from_slice(&self.crc.to_le_bytes());
        b[8..16].copy_from_slice(&self.offset.to_le_bytes());
        b[16..24].copy_from_slice(&self.block.to_le_bytes());
        b[24..32].copy_from_slice(&self.seed.to_le_bytes());
        b[32..36].copy_from_slice(&self.generation.to_le_bytes());
        b[36..40].copy_from_slice(&self.len.to_le_bytes());
    }
}

/// The crc32c of a block with its crc field taken as zero.
fn block_crc(b: &[u8]) -> u32 {
    let c = crc32c::crc32c(&b[..4]);
    let c = crc32c::crc32c_append(c, &[0; 4]);
    crc32c::crc32c_append(c, &b[8..])
}

/// Fills `block` (one unit) for `offset`/`block_no`/`seed`/`generation`: header, then data.
pub fn fill(block: &mut [u8], offset: u64, block_no: u64, seed: u64, generation: u32) {
    let mut x = seed ^ offset.rotate_left(17) ^ u64::from(generation).rotate_left(41) | 1;
    for chunk in block[HEADER..].chunks_mut(8) {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes = x.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    let mut h = Header {
        magic: MAGIC,
        crc: 0,
        offset,
        block: block_no,
        seed,
        generation,
        len: block.len() as u32,
    };
    h.write(block);
    h.crc = block_crc(block);
    h.write(block);
}

/// A block that did not check out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub expected: Header,
    pub found: Header,
    pub crc_found: u32,
    pub crc_computed: u32,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (e, x) = (&self.expected, &self.found);
        write!(
            f,
            "verify: bad block at offset {} (block {}): expected offset={} block={} seed={:#x} \
             generation={}; found magic={:#x} offset={} block={} seed={:#x} generation={} len={}; \
             crc32c stored {:#010x}, computed {:#010x}",
            e.offset,
            e.block,
            e.offset,
            e.block,
            e.seed,
            e.generation,
            x.magic,
            x.offset,
            x.block,
            x.seed,
            x.generation,
            x.len,
            self.crc_found,
            self.crc_computed
        )
    }
}

/// Checks one block read back against what should be there.
pub fn check(
    block: &[u8],
    offset: u64,
    block_no: u64,
    seed: u64,
    generation: u32,
) -> Result<(), Box<Mismatch>> {
    let found = Header::read(block);
    let computed = block_crc(block);
    let expected = Header {
        magic: MAGIC,
        crc: computed,
        offset,
        block: block_no,
        seed,
        generation,
        len: block.len() as u32,
    };
    if found == expected {
        Ok(())
    } else {
        Err(Box::new(Mismatch {
            expected,
            found,
            crc_found: found.crc,
            crc_computed: computed,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_block_checks_and_any_change_is_caught() {
        let mut b = vec![0u8; 4096];
        fill(&mut b, 8192, 2, 7, 1);
        assert_eq!(check(&b, 8192, 2, 7, 1), Ok(()));
        // Wrong place, wrong job, wrong pass.
        assert!(check(&b, 4096, 1, 7, 1).is_err());
        assert!(check(&b, 8192, 2, 8, 1).is_err());
        let m = check(&b, 8192, 2, 7, 2).unwrap_err();
        assert_eq!((m.found.generation, m.expected.generation), (1, 2));
        assert!(m.to_string().contains("offset 8192"));
        // A flipped data bit.
        b[3000] ^= 1;
        let m = check(&b, 8192, 2, 7, 1).unwrap_err();
        assert_ne!(m.crc_found, m.crc_computed);
        // Zeros (never written).
        assert!(check(&[0u8; 512], 0, 0, 7, 0).is_err());
    }
}
