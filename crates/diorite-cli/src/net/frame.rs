//! fio's network frames (`server.h` `struct fio_net_cmd`): a 24-byte little-endian header —
//! version, opcode, flags, tag, payload length, then the CRC-16 of the first 20 header bytes and
//! the CRC-16 of the payload — and at most 1 KiB of payload per frame; a longer payload goes in
//! fragments, each but the last flagged `MORE`, all with the same opcode.
//!
//! Reading is bounded: a fragment longer than 1 KiB, a reassembled payload longer than the
//! reader's limit, a bad CRC, a fragment with another opcode, a version this side does not
//! speak — each is a [`FrameError`], and nothing beyond the limit is ever allocated.

use std::io::{self, Read, Write};

/// Header bytes.
pub const HEADER: usize = 24;
/// The most payload one frame carries.
pub const MAX_FRAGMENT: usize = 1024;
/// Flag: more fragments of this payload follow.
pub const F_MORE: u32 = 1;
/// The header bytes the command CRC covers (all but the two CRCs).
const CRC_SPAN: usize = HEADER - 4;

/// fio's opcodes (`FIO_NET_CMD_*`), all of them: the server refuses by name those it does not
/// handle.
#[allow(dead_code)]
pub mod op {
    pub const QUIT: u16 = 1;
    pub const EXIT: u16 = 2;
    pub const JOB: u16 = 3;
    pub const JOBLINE: u16 = 4;
    pub const TEXT: u16 = 5;
    pub const TS: u16 = 6;
    pub const GS: u16 = 7;
    pub const SEND_ETA: u16 = 8;
    pub const ETA: u16 = 9;
    pub const PROBE: u16 = 10;
    pub const START: u16 = 11;
    pub const STOP: u16 = 12;
    pub const DU: u16 = 13;
    pub const SERVER_START: u16 = 14;
    pub const ADD_JOB: u16 = 15;
    pub const RUN: u16 = 16;
    pub const IOLOG: u16 = 17;
    pub const UPDATE_JOB: u16 = 18;
    pub const LOAD_FILE: u16 = 19;
    pub const VTRIGGER: u16 = 20;
    pub const SENDFILE: u16 = 21;
    pub const JOB_OPT: u16 = 22;

    /// fio's name of an opcode.
    pub fn name(op: u16) -> String {
        const NAMES: [&str; 23] = [
            "",
            "QUIT",
            "EXIT",
            "JOB",
            "JOBLINE",
            "TEXT",
            "TS",
            "GS",
            "SEND_ETA",
            "ETA",
            "PROBE",
            "START",
            "STOP",
            "DU",
            "SERVER_START",
            "ADD_JOB",
            "RUN",
            "IOLOG",
            "UPDATE_JOB",
            "LOAD_FILE",
            "VTRIGGER",
            "SENDFILE",
            "JOB_OPT",
        ];
        match NAMES.get(op as usize) {
            Some(n) if !n.is_empty() => (*n).to_string(),
            _ => format!("UNKNOWN/{op}"),
        }
    }
}

/// One command, its fragments joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub version: u16,
    pub opcode: u16,
    pub flags: u32,
    pub tag: u64,
    pub payload: Vec<u8>,
}

/// Why a frame was refused.
#[derive(Debug)]
pub enum FrameError {
    /// The connection failed or closed (`UnexpectedEof` when it closed mid-frame or before one).
    Io(io::Error),
    /// The header's CRC does not match.
    HeaderCrc { got: u16, want: u16 },
    /// A payload's CRC does not match.
    PayloadCrc { opcode: u16, got: u16, want: u16 },
    /// A protocol version this side does not speak.
    Version { got: u16, want: u16 },
    /// A fragment's payload longer than fio's 1 KiB.
    Fragment { len: u32 },
    /// The joined payload would exceed the reader's limit.
    TooLarge { limit: usize },
    /// A fragment of another command in the middle of one.
    Interleaved { first: u16, then: u16 },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "connection: {e}"),
            FrameError::HeaderCrc { got, want } => {
                write!(f, "bad command CRC (got {got:#06x}, computed {want:#06x})")
            }
            FrameError::PayloadCrc { opcode, got, want } => write!(
                f,
                "bad payload CRC on {} (got {got:#06x}, computed {want:#06x})",
                op::name(*opcode)
            ),
            FrameError::Version { got, want } => write!(
                f,
                "client/server version mismatch: the peer speaks fio protocol {got}, this \
                 server speaks {want}"
            ),
            FrameError::Fragment { len } => {
                write!(
                    f,
                    "fragment payload of {len} bytes (at most {MAX_FRAGMENT})"
                )
            }
            FrameError::TooLarge { limit } => {
                write!(
                    f,
                    "command payload beyond this server's limit of {limit} bytes"
                )
            }
            FrameError::Interleaved { first, then } => write!(
                f,
                "fragment of {} inside {}",
                op::name(*then),
                op::name(*first)
            ),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> FrameError {
        FrameError::Io(e)
    }
}

/// fio's CRC-16 (`crc/crc16.c`: polynomial 0x8005, reflected, initial 0).
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xa001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

fn header(version: u16, opcode: u16, flags: u32, tag: u64, payload: &[u8]) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0..2].copy_from_slice(&version.to_le_bytes());
    h[2..4].copy_from_slice(&opcode.to_le_bytes());
    h[4..8].copy_from_slice(&flags.to_le_bytes());
    h[8..16].copy_from_slice(&tag.to_le_bytes());
    h[16..20].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let c = crc16(&h[..CRC_SPAN]);
    h[20..22].copy_from_slice(&c.to_le_bytes());
    h[22..24].copy_from_slice(&crc16(payload).to_le_bytes());
    h
}

/// Writes one command, in 1 KiB fragments.
pub fn write(
    w: &mut impl Write,
    version: u16,
    opcode: u16,
    tag: u64,
    payload: &[u8],
) -> io::Result<()> {
    let mut chunks = payload.chunks(MAX_FRAGMENT).peekable();
    if chunks.peek().is_none() {
        return w.write_all(&header(version, opcode, 0, tag, &[]));
    }
    let mut buf = Vec::with_capacity(HEADER + MAX_FRAGMENT);
    while let Some(c) = chunks.next() {
        let flags = if chunks.peek().is_some() { F_MORE } else { 0 };
        buf.clear();
        buf.extend_from_slice(&header(version, opcode, flags, tag, c));
        buf.extend_from_slice(c);
        w.write_all(&buf)?;
    }
    w.flush()
}

/// Reads one command, joining its fragments; its payload at most `limit` bytes. With
/// `version`, a header with another version is refused after its CRC is checked (so the
/// caller can answer it); without, the first header's version is the command's, and every
/// fragment must carry it.
pub fn read(r: &mut impl Read, version: Option<u16>, limit: usize) -> Result<Frame, FrameError> {
    let mut out: Option<Frame> = None;
    loop {
        let mut h = [0u8; HEADER];
        r.read_exact(&mut h)?;
        let want = crc16(&h[..CRC_SPAN]);
        let got = u16::from_le_bytes([h[20], h[21]]);
        if got != want {
            return Err(FrameError::HeaderCrc { got, want });
        }
        let v = u16::from_le_bytes([h[0], h[1]]);
        let want = version.or(out.as_ref().map(|f| f.version));
        if let Some(want) = want.filter(|&w| w != v) {
            return Err(FrameError::Version { got: v, want });
        }
        let opcode = u16::from_le_bytes([h[2], h[3]]);
        let flags = u32::from_le_bytes(h[4..8].try_into().expect("4 bytes"));
        let tag = u64::from_le_bytes(h[8..16].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(h[16..20].try_into().expect("4 bytes"));
        let pdu_crc = u16::from_le_bytes([h[22], h[23]]);
        if len as usize > MAX_FRAGMENT {
            return Err(FrameError::Fragment { len });
        }
        let f = out.get_or_insert_with(|| Frame {
            version: v,
            opcode,
            flags: flags & !F_MORE,
            tag,
            payload: Vec::new(),
        });
        if f.opcode != opcode {
            return Err(FrameError::Interleaved {
                first: f.opcode,
                then: opcode,
            });
        }
        if f.payload.len() + len as usize > limit {
            return Err(FrameError::TooLarge { limit });
        }
        let at = f.payload.len();
        f.payload.resize(at + len as usize, 0);
        r.read_exact(&mut f.payload[at..])?;
        let c = crc16(&f.payload[at..]);
        if c != pdu_crc {
            return Err(FrameError::PayloadCrc {
                opcode,
                got: pdu_crc,
                want: c,
            });
        }
        if flags & F_MORE == 0 || len == 0 {
            return Ok(out.expect("set above"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_is_fios() {
        // fio's table-driven crc16 of "123456789" (CRC-16/ARC's check value).
        assert_eq!(crc16(b"123456789"), 0xbb3d);
        assert_eq!(crc16(b""), 0);
    }

    #[test]
    fn frames_round_trip_in_fragments() {
        for len in [0usize, 1, 1023, 1024, 1025, 5000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut wire = Vec::new();
            write(&mut wire, 97, op::TS, 42, &payload).unwrap();
            let frames = len.div_ceil(MAX_FRAGMENT).max(1);
            assert_eq!(wire.len(), frames * HEADER + len);
            let f = read(&mut &wire[..], Some(97), 1 << 20).unwrap();
            assert_eq!(
                (f.opcode, f.tag, f.flags, f.payload),
                (op::TS, 42, 0, payload)
            );
        }
    }

    #[test]
    fn bad_frames_are_refused_without_allocating_past_the_limit() {
        let mut wire = Vec::new();
        write(&mut wire, 97, op::JOB, 1, &[7u8; 3000]).unwrap();
        // Every byte of the first header flipped: the CRC (or, for the CRC bytes, the check)
        // refuses it.
        for i in 0..HEADER {
            let mut w = wire.clone();
            w[i] ^= 0x40;
            assert!(read(&mut &w[..], Some(97), 1 << 20).is_err(), "byte {i}");
        }
        let mut w = wire.clone();
        w[HEADER + 5] ^= 1;
        assert!(matches!(
            read(&mut &w[..], Some(97), 1 << 20),
            Err(FrameError::PayloadCrc { .. })
        ));
        assert!(matches!(
            read(&mut &wire[..], Some(97), 2048),
            Err(FrameError::TooLarge { limit: 2048 })
        ));
        assert!(matches!(
            read(&mut &wire[..], Some(98), 1 << 20),
            Err(FrameError::Version { got: 97, want: 98 })
        ));
        // Truncated: an end-of-file error, not a hang or a panic.
        assert!(matches!(
            read(&mut &wire[..100], Some(97), 1 << 20),
            Err(FrameError::Io(_))
        ));
        // A fragment longer than 1 KiB.
        let mut h = header(97, op::JOB, 0, 0, &[0u8; 2000]).to_vec();
        h.extend_from_slice(&[0u8; 2000]);
        assert!(matches!(
            read(&mut &h[..], Some(97), 1 << 20),
            Err(FrameError::Fragment { len: 2000 })
        ));
        // Another opcode in the middle of a fragmented command.
        let mut w = header(97, op::JOB, F_MORE, 0, &[1]).to_vec();
        w.push(1);
        w.extend_from_slice(&header(97, op::TEXT, 0, 0, &[2]));
        w.push(2);
        assert!(matches!(
            read(&mut &w[..], Some(97), 1 << 20),
            Err(FrameError::Interleaved { .. })
        ));
        // Without a version asked for, the first fragment's is the command's: a later fragment
        // of another version is refused; a whole command of any version is read.
        let mut w = header(120, op::JOB, F_MORE, 0, &[1]).to_vec();
        w.push(1);
        w.extend_from_slice(&header(97, op::JOB, 0, 0, &[2]));
        w.push(2);
        assert!(matches!(
            read(&mut &w[..], None, 1 << 20),
            Err(FrameError::Version { got: 97, want: 120 })
        ));
        let mut w = Vec::new();
        write(&mut w, 120, op::PROBE, 3, &[5u8; 1500]).unwrap();
        assert_eq!(read(&mut &w[..], None, 1 << 20).unwrap().version, 120);
    }
}
