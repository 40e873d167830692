//! The values of `verify=` and `verify_pattern=`. Computing and checking them is
//! [`crate::run::verify`]'s.

/// Bytes of the fixed header at the start of each block; the checksum follows it.
pub const HEADER: usize = 40;

/// fio's `verify=` checksums, from well-kept crates (RustCrypto, `crc`, `crc32c`,
/// `xxhash-rust`). `Null` writes the same headers and checks nothing (fio: "only pretend").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kind {
    Md5,
    Sha1,
    Sha256,
    Sha512,
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
    Crc64,
    Crc32,
    #[default]
    Crc32c,
    Crc16,
    Crc7,
    Xxhash,
    Null,
    /// fio's `meta`: the header's fields are checked, the data is not.
    Meta,
    /// fio's `pattern`: no header; every byte must be `verify_pattern`'s.
    Pattern,
}

impl Kind {
    /// Every kind with fio's name for it: the one list the parser, the names in reports and
    /// errors, and the tests use.
    pub const ALL: [(Kind, &'static str); 17] = [
        (Kind::Md5, "md5"),
        (Kind::Sha1, "sha1"),
        (Kind::Sha256, "sha256"),
        (Kind::Sha512, "sha512"),
        (Kind::Sha3_224, "sha3-224"),
        (Kind::Sha3_256, "sha3-256"),
        (Kind::Sha3_384, "sha3-384"),
        (Kind::Sha3_512, "sha3-512"),
        (Kind::Crc64, "crc64"),
        (Kind::Crc32, "crc32"),
        (Kind::Crc32c, "crc32c"),
        (Kind::Crc16, "crc16"),
        (Kind::Crc7, "crc7"),
        (Kind::Xxhash, "xxhash"),
        (Kind::Meta, "meta"),
        (Kind::Pattern, "pattern"),
        (Kind::Null, "null"),
    ];

    /// fio's name (`crc32c-intel` is crc32c: the crate uses the CPU's instruction).
    pub fn parse(s: &str) -> Option<Kind> {
        let s = if s == "crc32c-intel" { "crc32c" } else { s };
        Kind::ALL.iter().find(|(_, n)| *n == s).map(|(k, _)| *k)
    }

    pub fn name(self) -> &'static str {
        Kind::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("", |(_, n)| n)
    }

    /// The names `verify=` takes, for errors: `md5, sha1, …, crc32c, crc32c-intel, …`.
    pub fn names() -> String {
        let mut v: Vec<&str> = Vec::new();
        for (k, n) in Kind::ALL {
            v.push(n);
            if k == Kind::Crc32c {
                v.push("crc32c-intel");
            }
        }
        v.join(", ")
    }

    /// Bytes of the checksum stored after the header.
    pub fn digest_len(self) -> usize {
        match self {
            Kind::Md5 => 16,
            Kind::Sha1 => 20,
            Kind::Sha256 | Kind::Sha3_256 => 32,
            Kind::Sha512 | Kind::Sha3_512 => 64,
            Kind::Sha3_224 => 28,
            Kind::Sha3_384 => 48,
            Kind::Crc64 => 8,
            Kind::Crc32 | Kind::Crc32c | Kind::Xxhash => 4,
            Kind::Crc16 => 2,
            Kind::Crc7 => 1,
            Kind::Null | Kind::Meta | Kind::Pattern => 0,
        }
    }

    /// The header and checksum of a block: the smallest block verify can use.
    pub fn header_len(self) -> usize {
        if self == Kind::Pattern {
            return 1;
        }
        HEADER + self.digest_len()
    }
}

/// fio's `verify_pattern`: hex (`0xdeadbeef`, bytes in the order written), decimal numbers
/// (their bytes, little-endian, as few as they need), quoted strings and `%o` (the block's
/// offset, 8 bytes little-endian), one after another; repeated over the data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern(pub(crate) Vec<Part>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Bytes(Vec<u8>),
    Offset,
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern, String> {
        let mut parts = Vec::new();
        let mut rest = s.trim();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("%o") {
                parts.push(Part::Offset);
                rest = r;
            } else if let Some(r) = rest.strip_prefix('"') {
                let end = r
                    .find('"')
                    .ok_or_else(|| format!("verify_pattern={s}: unterminated string"))?;
                parts.push(Part::Bytes(r.as_bytes()[..end].to_vec()));
                rest = &r[end + 1..];
            } else if let Some(r) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
                let end = r.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(r.len());
                let hex = &r[..end];
                if hex.is_empty() {
                    return Err(format!("verify_pattern={s}: 0x without hex digits"));
                }
                let hex = if hex.len() % 2 == 1 {
                    format!("0{hex}")
                } else {
                    hex.to_string()
                };
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digits"))
                    .collect();
                parts.push(Part::Bytes(bytes));
                rest = &r[end..];
            } else if rest.starts_with(|c: char| c.is_ascii_digit()) {
                let end = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                let n: u32 = rest[..end]
                    .parse()
                    .map_err(|_| format!("verify_pattern={s}: a decimal is at most 32 bits"))?;
                let bytes = n.to_le_bytes();
                let width = (4 - n.leading_zeros() as usize / 8).max(1);
                parts.push(Part::Bytes(bytes[..width].to_vec()));
                rest = &rest[end..];
            } else {
                return Err(format!(
                    "verify_pattern={s}: expected 0xHEX, a decimal number, \"string\" or %o at '{rest}'"
                ));
            }
        }
        if parts.is_empty() {
            return Err("verify_pattern is empty".into());
        }
        Ok(Pattern(parts))
    }

    /// Whether the pattern carries `%o` (its bytes depend on where it is written).
    pub fn has_offset(&self) -> bool {
        self.0.iter().any(|p| matches!(p, Part::Offset))
    }
}
