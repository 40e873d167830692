//! `--verify=crc32c`: every block (the job's block unit) written carries a header — magic,
//! crc32c, offset, block number, job seed, generation — and pseudo-random data derived from
//! them. Checking a block recomputes the crc and compares every header field with what the job
//! expects there.

use crate::spec::verify::Part;
use crate::spec::verify::{Kind, Pattern, HEADER};
use std::fmt;

const MAGIC: u32 = u32::from_le_bytes(*b"DRTV");

/// One `crc` digest of width `$w` over several slices.
macro_rules! crc_all {
    ($w:ty, $alg:expr, $parts:expr) => {{
        let c = crc::Crc::<$w>::new($alg);
        let mut d = c.digest();
        for p in $parts {
            d.update(p);
        }
        d.finalize()
    }};
}

impl Kind {
    fn code(self) -> u8 {
        self as u8
    }

    /// The checksum of `parts`, in order, into `out` (`digest_len` bytes).
    fn digest(self, parts: &[&[u8]], out: &mut [u8]) {
        fn hash<D: sha2::Digest>(parts: &[&[u8]], out: &mut [u8]) {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            out.copy_from_slice(&d.finalize());
        }
        match self {
            Kind::Md5 => hash::<md5::Md5>(parts, out),
            Kind::Sha1 => hash::<sha1::Sha1>(parts, out),
            Kind::Sha256 => hash::<sha2::Sha256>(parts, out),
            Kind::Sha512 => hash::<sha2::Sha512>(parts, out),
            Kind::Sha3_224 => hash::<sha3::Sha3_224>(parts, out),
            Kind::Sha3_256 => hash::<sha3::Sha3_256>(parts, out),
            Kind::Sha3_384 => hash::<sha3::Sha3_384>(parts, out),
            Kind::Sha3_512 => hash::<sha3::Sha3_512>(parts, out),
            Kind::Crc64 => {
                out.copy_from_slice(&crc_all!(u64, &crc::CRC_64_ECMA_182, parts).to_le_bytes())
            }
            Kind::Crc32 => {
                out.copy_from_slice(&crc_all!(u32, &crc::CRC_32_ISO_HDLC, parts).to_le_bytes())
            }
            Kind::Crc16 => {
                out.copy_from_slice(&crc_all!(u16, &crc::CRC_16_ARC, parts).to_le_bytes())
            }
            Kind::Crc7 => out.copy_from_slice(&crc_all!(u8, &crc::CRC_7_MMC, parts).to_le_bytes()),
            Kind::Crc32c => {
                let c = parts.iter().fold(0, |c, p| crc32c::crc32c_append(c, p));
                out.copy_from_slice(&c.to_le_bytes());
            }
            Kind::Xxhash => {
                let mut h = xxhash_rust::xxh32::Xxh32::new(0);
                for p in parts {
                    h.update(p);
                }
                out.copy_from_slice(&h.digest().to_le_bytes());
            }
            Kind::Null | Kind::Meta | Kind::Pattern => {}
        }
    }
}

impl Pattern {
    /// Fills `out` with the pattern for the block at `offset`, repeated. Writes one copy in
    /// place, then doubles it: no allocation (this runs before every write).
    pub fn fill(&self, out: &mut [u8], offset: u64) {
        let off = offset.to_le_bytes();
        let mut n = 0;
        'one: for p in &self.0 {
            let bytes: &[u8] = match p {
                Part::Bytes(b) => b,
                Part::Offset => &off,
            };
            for &b in bytes {
                if n == out.len() {
                    break 'one;
                }
                out[n] = b;
                n += 1;
            }
        }
        let one = n;
        while n < out.len() && one > 0 {
            let k = n.min(out.len() - n);
            out.copy_within(..k, n);
            n += k;
        }
    }
}

/// What a block's header says (or should say).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub magic: u32,
    /// The checksum kind's code.
    pub kind: u8,
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
    /// The header a block of `len` bytes at `offset` (block `block_no`, written by pass
    /// `generation` of the job seeded `seed`) carries.
    fn expected(
        kind: Kind,
        offset: u64,
        block_no: u64,
        seed: u64,
        generation: u32,
        len: usize,
    ) -> Header {
        Header {
            magic: MAGIC,
            kind: kind.code(),
            offset,
            block: block_no,
            seed,
            generation,
            len: len as u32,
        }
    }

    fn read(b: &[u8]) -> Header {
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        Header {
            magic: u32_at(0),
            kind: b[4],
            offset: u64_at(8),
            block: u64_at(16),
            seed: u64_at(24),
            generation: u32_at(32),
            len: u32_at(36),
        }
    }

    fn write(&self, b: &mut [u8]) {
        b[0..4].copy_from_slice(&self.magic.to_le_bytes());
        b[4..8].copy_from_slice(&[self.kind, 0, 0, 0]);
        b[8..16].copy_from_slice(&self.offset.to_le_bytes());
        b[16..24].copy_from_slice(&self.block.to_le_bytes());
        b[24..32].copy_from_slice(&self.seed.to_le_bytes());
        b[32..36].copy_from_slice(&self.generation.to_le_bytes());
        b[36..40].copy_from_slice(&self.len.to_le_bytes());
    }
}

/// The block's checksum: over the header and the data, not the checksum's own bytes.
fn block_digest(kind: Kind, b: &[u8], out: &mut [u8]) {
    kind.digest(&[&b[..HEADER], &b[kind.header_len()..]], out);
}

/// The data after a verify header: fio's `verify_pattern`, or random data of which the
/// last `compress` percent of the chunk are zeros (fio's `buffer_compress_percentage`).
#[derive(Clone, Copy)]
pub enum Data<'a> {
    Pattern(&'a Pattern),
    Random { compress: u32 },
}

/// Fills `block` (one unit) for `offset`/`block_no`/`seed`/`generation`: header, checksum,
/// then data.
pub fn fill(
    block: &mut [u8],
    offset: u64,
    block_no: u64,
    seed: u64,
    generation: u32,
    kind: Kind,
    data: Data<'_>,
) {
    let (pattern, compress) = match data {
        Data::Pattern(p) => (Some(p), 0),
        Data::Random { compress } => (None, compress),
    };
    if kind == Kind::Pattern {
        pattern
            .expect("verify=pattern needs verify_pattern (checked with the job)")
            .fill(block, offset);
        return;
    }
    let start = kind.header_len();
    match pattern {
        Some(p) => p.fill(&mut block[start..], offset),
        None => {
            // fio's verify data (`__fill_buffer`): buffer_compress_percentage applies over the
            // whole chunk, the header then written over its start.
            let x = seed ^ offset.rotate_left(17) ^ u64::from(generation).rotate_left(41);
            let rand = (block.len() * (100 - compress.min(100)) as usize / 100).max(start);
            super::data::random(&mut block[start..rand], x);
            block[rand..].fill(0);
        }
    }
    let h = Header::expected(kind, offset, block_no, seed, generation, block.len());
    h.write(block);
    let mut d = [0u8; 64];
    let n = kind.digest_len();
    block_digest(kind, block, &mut d[..n]);
    block[HEADER..start].copy_from_slice(&d[..n]);
}

/// Fills one job block (`unit` bytes at `offset`) as the job's verify options say: every
/// `verify_interval` chunk (default: the whole block) gets its own header at its own offset,
/// and with `verify_offset` the header is swapped with the data at that offset of the chunk.
pub fn fill_block(
    spec: &crate::spec::JobSpec,
    block: &mut [u8],
    offset: u64,
    block_no: u64,
    seed: u64,
    generation: u32,
) {
    let interval = spec
        .verification
        .verify_interval
        .unwrap_or(block.len() as u64) as usize;
    for (i, chunk) in block.chunks_mut(interval).enumerate() {
        let at = offset + (i * interval) as u64;
        fill(
            chunk,
            at,
            block_no,
            seed,
            generation,
            spec.verification.verify_kind,
            match &spec.verification.verify_pattern {
                Some(p) => Data::Pattern(p),
                None => Data::Random {
                    compress: spec.data.compress_pct,
                },
            },
        );
        if let Some(o) = spec.verification.verify_offset {
            swap_header(chunk, spec.verification.verify_kind, o as usize);
        }
    }
}

/// Checks one job block read back (see [`fill_block`]); the first chunk that fails. The null
/// engine moves no data, and fio's verify pretends everything it reads back verified
/// (`FIO_FAKEIO`): so does this.
pub fn check_block(
    spec: &crate::spec::JobSpec,
    block: &[u8],
    offset: u64,
    block_no: u64,
    seed: u64,
    generation: u32,
) -> Result<(), Box<Mismatch>> {
    if spec.is_null() {
        return Ok(());
    }
    let interval = spec
        .verification
        .verify_interval
        .unwrap_or(block.len() as u64) as usize;
    let mut copy = Vec::new();
    for (i, chunk) in block.chunks(interval).enumerate() {
        let at = offset + (i * interval) as u64;
        let chunk = match spec.verification.verify_offset {
            Some(o) => {
                copy.clear();
                copy.extend_from_slice(chunk);
                swap_header(&mut copy, spec.verification.verify_kind, o as usize);
                &copy[..]
            }
            None => chunk,
        };
        check_with(chunk, at, block_no, seed, generation, spec)?;
    }
    Ok(())
}

/// Swaps the header (and checksum) with the bytes at `at` (fio's `verify_offset`; its own
/// inverse).
fn swap_header(chunk: &mut [u8], kind: Kind, at: usize) {
    let n = kind.header_len();
    if kind == Kind::Pattern || at < n || at + n > chunk.len() {
        return; // validated with the job: never here
    }
    let (head, rest) = chunk.split_at_mut(at);
    head[..n].swap_with_slice(&mut rest[..n]);
}

/// [`check`] with the job's `verify_header_seed` / `verify_write_sequence` choices: a field the
/// job does not check is taken as found.
fn check_with(
    chunk: &[u8],
    offset: u64,
    block_no: u64,
    seed: u64,
    generation: u32,
    spec: &crate::spec::JobSpec,
) -> Result<(), Box<Mismatch>> {
    let found = if chunk.len() >= HEADER && spec.verification.verify_kind != Kind::Pattern {
        Some(Header::read(chunk))
    } else {
        None
    };
    let seed = match found {
        Some(h) if !spec.verification.verify_header_seed => h.seed,
        _ => seed,
    };
    let generation = match found {
        Some(h) if !spec.verification.verify_write_sequence => h.generation,
        _ => generation,
    };
    check(
        chunk,
        offset,
        block_no,
        seed,
        generation,
        spec.verification.verify_kind,
        spec.verification.verify_pattern.as_ref(),
    )
}

/// fio's `verify_dump`: the block as read and as expected, as `BASENAME.OFFSET.received` and
/// `.expected` in `--aux-path` (default: the current directory). Returns the names written.
pub fn dump(
    spec: &crate::spec::JobSpec,
    target: &std::path::Path,
    received: &[u8],
    offset: u64,
    block_no: u64,
    seed: u64,
    generation: u32,
) -> std::io::Result<[String; 2]> {
    let base = target
        .file_name()
        .map_or_else(|| "target".into(), |n| n.to_string_lossy().into_owned());
    let mut expected = vec![0u8; received.len()];
    fill_block(spec, &mut expected, offset, block_no, seed, generation);
    let at = |ext: &str| {
        let file = format!("{base}.{offset}.{ext}");
        match &spec.verification.aux_path {
            Some(d) => d.join(file).display().to_string(),
            None => file,
        }
    };
    let names = [at("received"), at("expected")];
    std::fs::write(&names[0], received)?;
    std::fs::write(&names[1], &expected)?;
    Ok(names)
}

/// A block that did not check out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub kind: Kind,
    pub expected: Header,
    pub found: Header,
    pub digest_found: Vec<u8>,
    pub digest_computed: Vec<u8>,
    /// `pattern`: the first byte that differs (the digests then hold the bytes there).
    pub at: Option<usize>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (e, x) = (&self.expected, &self.found);
        if let Some(at) = self.at {
            return write!(
                f,
                "verify: bad block at offset {} (block {}): pattern differs at byte {at}: \
                 expected {}, found {}",
                e.offset,
                e.block,
                hex(&self.digest_computed),
                hex(&self.digest_found)
            );
        }
        write!(
            f,
            "verify: bad block at offset {} (block {}): expected offset={} block={} seed={:#x} \
             generation={}; found magic={:#x} kind={} offset={} block={} seed={:#x} generation={} \
             len={}; {} stored {}, computed {}",
            e.offset,
            e.block,
            e.offset,
            e.block,
            e.seed,
            e.generation,
            x.magic,
            x.kind,
            x.offset,
            x.block,
            x.seed,
            x.generation,
            x.len,
            self.kind.name(),
            hex(&self.digest_found),
            hex(&self.digest_computed)
        )
    }
}

/// Checks one block read back against what should be there (`Null`: nothing is checked).
pub fn check(
    block: &[u8],
    offset: u64,
    block_no: u64,
    seed: u64,
    generation: u32,
    kind: Kind,
    pattern: Option<&Pattern>,
) -> Result<(), Box<Mismatch>> {
    if kind == Kind::Null {
        return Ok(());
    }
    let expected = Header::expected(kind, offset, block_no, seed, generation, block.len());
    if kind == Kind::Pattern {
        let mut want = vec![0u8; block.len()];
        pattern
            .expect("checked with the job")
            .fill(&mut want, offset);
        return match block.iter().zip(&want).position(|(a, b)| a != b) {
            None => Ok(()),
            Some(i) => Err(Box::new(Mismatch {
                kind,
                expected,
                found: Header::read(&[0u8; HEADER]),
                digest_found: block[i..(i + 8).min(block.len())].to_vec(),
                digest_computed: want[i..(i + 8).min(block.len())].to_vec(),
                at: Some(i),
            })),
        };
    }
    let n = kind.digest_len();
    let found = Header::read(block);
    let mut computed = [0u8; 64];
    block_digest(kind, block, &mut computed[..n]);
    let stored = &block[HEADER..HEADER + n];
    if found == expected && stored == &computed[..n] {
        Ok(())
    } else {
        Err(Box::new(Mismatch {
            kind,
            expected,
            found,
            digest_found: stored.to_vec(),
            digest_computed: computed[..n].to_vec(),
            at: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_block_checks_and_any_change_is_caught() {
        let k = Kind::Crc32c;
        let mut b = vec![0u8; 4096];
        fill(&mut b, 8192, 2, 7, 1, k, Data::Random { compress: 0 });
        assert_eq!(check(&b, 8192, 2, 7, 1, k, None), Ok(()));
        // Wrong place, wrong job, wrong pass.
        assert!(check(&b, 4096, 1, 7, 1, k, None).is_err());
        assert!(check(&b, 8192, 2, 8, 1, k, None).is_err());
        let m = check(&b, 8192, 2, 7, 2, k, None).unwrap_err();
        assert_eq!((m.found.generation, m.expected.generation), (1, 2));
        assert!(m.to_string().contains("offset 8192"));
        // A flipped data bit.
        b[3000] ^= 1;
        let m = check(&b, 8192, 2, 7, 1, k, None).unwrap_err();
        assert_ne!(m.digest_found, m.digest_computed);
        // Zeros (never written).
        assert!(check(&[0u8; 512], 0, 0, 7, 0, k, None).is_err());
    }

    /// Every checksum kind: a filled block checks; a flipped bit anywhere (header field,
    /// checksum, data) is caught and named; the digests are the crates' (known vectors).
    #[test]
    fn every_kind_catches_every_kind_of_damage() {
        // Every kind that carries a checksum, by its names (the alias too).
        let mut kinds: Vec<&str> = Kind::ALL
            .iter()
            .filter(|(k, _)| !matches!(k, Kind::Null | Kind::Meta | Kind::Pattern))
            .map(|(_, n)| *n)
            .collect();
        kinds.push("crc32c-intel");
        assert_eq!(kinds.len(), 15);
        for name in kinds {
            let k = Kind::parse(name).unwrap();
            let mut b = vec![0u8; 4096];
            fill(&mut b, 4096, 1, 9, 3, k, Data::Random { compress: 0 });
            assert_eq!(check(&b, 4096, 1, 9, 3, k, None), Ok(()), "{name}");
            // One byte of each header field, of the checksum, and of the data.
            for (at, what) in [
                (0, "magic"),
                (4, "kind"),
                (8, "offset"),
                (16, "block"),
                (24, "seed"),
                (32, "generation"),
                (36, "len"),
                (HEADER, "checksum"),
                (4000, "data"),
            ] {
                let mut c = b.clone();
                c[at] ^= 0x10;
                let m = check(&c, 4096, 1, 9, 3, k, None).unwrap_err();
                let text = m.to_string();
                assert!(
                    text.contains(k.name()) && text.contains("offset 4096"),
                    "{name} {what}: {text}"
                );
                if at >= HEADER {
                    assert_ne!(m.digest_found, m.digest_computed, "{name} {what}");
                }
            }
        }
        // The null kind checks nothing, as fio's.
        assert_eq!(check(&[0u8; 512], 0, 0, 7, 0, Kind::Null, None), Ok(()));
        // meta checks the header only; pattern checks every byte against verify_pattern.
        let mut b = vec![0u8; 4096];
        fill(
            &mut b,
            4096,
            1,
            9,
            3,
            Kind::Meta,
            Data::Random { compress: 0 },
        );
        b[2000] ^= 1;
        assert_eq!(
            check(&b, 4096, 1, 9, 3, Kind::Meta, None),
            Ok(()),
            "meta ignores data"
        );
        b[8] ^= 1;
        assert!(
            check(&b, 4096, 1, 9, 3, Kind::Meta, None).is_err(),
            "meta checks the offset"
        );
        let pat = Pattern::parse("0xdeadbeef%o\"ab\"7").unwrap();
        let mut b = vec![0u8; 4096];
        fill(&mut b, 8192, 2, 9, 3, Kind::Pattern, Data::Pattern(&pat));
        assert_eq!(&b[..4], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(&b[4..12], &8192u64.to_le_bytes());
        assert_eq!(&b[12..15], b"ab\x07");
        assert_eq!(check(&b, 8192, 2, 9, 3, Kind::Pattern, Some(&pat)), Ok(()));
        assert!(
            check(&b, 4096, 1, 9, 3, Kind::Pattern, Some(&pat)).is_err(),
            "%o is per block"
        );
        b[100] ^= 1;
        let m = check(&b, 8192, 2, 9, 3, Kind::Pattern, Some(&pat)).unwrap_err();
        assert!(m.to_string().contains("byte 100"), "{m}");
        for bad in ["", "0x", "\"open", "xyz", "99999999999"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        // Known vectors: the crates compute the standard functions.
        let mut out = [0u8; 16];
        Kind::Md5.digest(&[b"abc"], &mut out);
        assert_eq!(hex(&out), "900150983cd24fb0d6963f7d28e17f72");
        let mut out = [0u8; 4];
        Kind::Crc32.digest(&[b"123456789"], &mut out);
        assert_eq!(u32::from_le_bytes(out), 0xcbf4_3926);
    }
}
