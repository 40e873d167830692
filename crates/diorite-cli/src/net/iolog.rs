//! IOLOG: the per-I/O logs (`write_lat_log`, `write_bw_log`, `write_iops_log`,
//! `write_hist_log`) as fio's protocol carries them from a server to its client, which writes
//! each as `NAME.HOST` (client.c `fio_client_handle_iolog`).
//!
//! One command per log: `cmd_iolog_pdu` (sample count, job number, log type, compression,
//! `log_offset`, `log_prio`, histogram coarseness, the file name; version 120 adds
//! `log_issue_time` and `per_job_logs`), then the samples: fio's `struct io_sample` each,
//! followed by the file offset with `log_offset`, and for a histogram log by an
//! `io_u_plat_entry` (a list head, then 1856 bins). The samples are zlib-compressed when the
//! client's PROBE offered zlib (`compressed` 1); `compressed` 2 is a log fio compressed
//! itself (`log_compression`), stored as it came. The sample's direction field carries the
//! flags fio's `flush_samples` reads: offset, priority as a value, and (version 120) both
//! average and maximum, issue time.
//!
//! A histogram log is kept coarsened (`log_hist_coarseness`); each coarse sum is sent in the
//! first bin of its group and zeros in the rest, so the client's own coarsening (summing the
//! same groups) prints the same lines.

use super::layout::Layout;
use super::wire::{Pdu, Rd};
use crate::run::logs::{Entry, Finished, Kind, PLAT_NR};
use anyhow::{anyhow, bail, ensure, Result};
use std::io::{Read as _, Write as _};

/// iolog.h: the flags in a sample's direction field.
const OFFSET_BIT: u32 = 0x8000_0000;
const PRIO_BIT: u32 = 0x4000_0000;
const AVG_MAX_BIT: u32 = 0x2000_0000;
const ISSUE_TIME_BIT: u32 = 0x1000_0000;
const FLAG_BITS: u32 = OFFSET_BIT | PRIO_BIT | AVG_MAX_BIT | ISSUE_TIME_BIT;

/// `cmd_iolog_pdu.compressed`.
const XMIT_COMPRESSED: u32 = 1;
const STORE_COMPRESSED: u32 = 2;

/// The IOLOG payload of one finished log of job `thread_number`, zlib-compressed if `zlib`.
pub fn encode(l: &Layout, log: &Finished, thread_number: u32, zlib: bool) -> Vec<u8> {
    let i = &l.iolog;
    let hist = log.kind == Kind::Hist;
    let n = if hist {
        log.hist.len()
    } else {
        log.entries.len()
    };
    let mut head = Pdu::zeroed(i.size);
    head.u64(i.nr_samples, n as u64);
    head.u32(i.thread_number, thread_number);
    head.u32(i.log_type, log.kind as u32);
    head.u32(i.compressed, if zlib { XMIT_COMPRESSED } else { 0 });
    head.u32(i.log_offset, u32::from(log.offset));
    head.u32(i.log_prio, u32::from(log.prio));
    head.u32(i.log_hist_coarseness, log.coarse);
    head.str(i.name, i.name_size, &log.name);
    if let Some(at) = i.per_job_logs {
        head.u32(at, u32::from(!log.append));
    }
    let sample = i.sample + if log.offset { 8 } else { 0 };
    let flags = if log.offset { OFFSET_BIT } else { 0 } | if log.prio { PRIO_BIT } else { 0 };
    let one = if hist { sample + i.plat_entry } else { sample };
    let mut body = Pdu::zeroed(n * one);
    let put = |body: &mut Pdu, k: usize, (ms, val, dir, bs, off, prio): Entry| {
        let at = k * one;
        body.u64(at + i.s_time, ms);
        body.u64(at + i.s_data, val);
        body.u32(at + i.s_ddir, u32::from(dir) | flags);
        body.u16(at + i.s_priority, prio);
        body.u64(at + i.s_bs, bs);
        if log.offset {
            body.u64(at + i.sample, off);
        }
        at + sample
    };
    for (k, &e) in log.entries.iter().enumerate() {
        put(&mut body, k, e);
    }
    let stride = 1usize << log.coarse.min(16);
    for (k, (ms, dir, bs, bins)) in log.hist.iter().enumerate() {
        let at = put(&mut body, k, (*ms, 0, *dir, *bs, 0, 0)) + i.plat_entry_bins;
        for (g, sum) in bins.iter().enumerate() {
            body.u64(at + 8 * g * stride, *sum);
        }
    }
    let mut out = head.0;
    if zlib {
        let mut z = flate2::write::ZlibEncoder::new(out, flate2::Compression::default());
        // Writing into a Vec cannot fail.
        let _ = z.write_all(&body.0);
        out = z.finish().unwrap_or_default();
    } else {
        out.extend_from_slice(&body.0);
    }
    out
}

/// One log a host sent, as its client writes it.
#[derive(Debug)]
pub struct Received {
    /// The file name the server gave (without the client's `.HOST`).
    pub name: String,
    /// Appended to rather than written afresh (version 120's `per_job_logs=0`).
    pub append: bool,
    /// fio's text lines, or (`log_compression`) the bytes fio compressed, stored as they came.
    pub content: Vec<u8>,
}

/// Reads an IOLOG payload into the file its client writes, in fio's line format (iolog.c
/// `flush_samples`; client.c `client_flush_hist_samples`). The samples may take at most
/// `limit` bytes once inflated.
pub fn decode(l: &Layout, payload: &[u8], limit: usize) -> Result<Received> {
    let i = &l.iolog;
    let r = Rd(payload);
    let short = || anyhow!("an IOLOG command too short for protocol {}", l.version);
    let n = r.u64(i.nr_samples).ok_or_else(short)?;
    let kind = r.u32(i.log_type).ok_or_else(short)?;
    let compressed = r.u32(i.compressed).ok_or_else(short)?;
    let coarse = r.u32(i.log_hist_coarseness).ok_or_else(short)?;
    let name = r.str(i.name, i.name_size).ok_or_else(short)?;
    let append = match i.per_job_logs {
        Some(at) => r.u32(at).ok_or_else(short)? == 0,
        None => false,
    };
    let body = payload.get(i.size..).ok_or_else(short)?;
    if compressed == STORE_COMPRESSED {
        return Ok(Received {
            name,
            append,
            content: body.to_vec(),
        });
    }
    let kind = Kind::from_wire(kind).ok_or_else(|| anyhow!("IOLOG {name}: log type {kind}"))?;
    // Whether the compressed stream ended before its end (see below).
    let mut cut_short = false;
    let mut samples = match compressed {
        0 => body.to_vec(),
        XMIT_COMPRESSED => {
            // fio's server may end a histogram log's stream without its final block (its
            // client stops once the input is used up): what inflated is kept.
            let mut out = Vec::new();
            let read = flate2::read::ZlibDecoder::new(body)
                .take(limit as u64 + 1)
                .read_to_end(&mut out);
            match read {
                Err(e) if out.is_empty() => bail!("IOLOG {name}: inflating: {e}"),
                Err(_) => cut_short = true,
                Ok(_) => {}
            }
            out
        }
        c => bail!("IOLOG {name}: compression {c}"),
    };
    ensure!(
        samples.len() <= limit,
        "IOLOG {name}: more than the {limit} bytes of samples this client takes"
    );
    // A sample's size, as fio's client finds it: from the flags in the first sample's
    // direction (fio's servers leave the header's `log_offset` zero).
    let ddir = Rd(&samples).u32(i.s_ddir).unwrap_or(0);
    let extra = u32::from(ddir & OFFSET_BIT != 0) + u32::from(ddir & ISSUE_TIME_BIT != 0);
    let sample = i.sample + 8 * extra as usize;
    let one = if kind == Kind::Hist {
        sample + i.plat_entry
    } else {
        sample
    };
    let whole = usize::try_from(n).ok().and_then(|n| n.checked_mul(one));
    // fio's server loses the tail of a histogram stream it did not finish (seen here: the last
    // 38 bytes of the last sample's highest bins). Less than one sample missing from a stream
    // that ended early is taken as zeros — fio's client prints whatever its buffer held there.
    if let Some(w) = whole.filter(|w| {
        cut_short && kind == Kind::Hist && *w > samples.len() && *w - samples.len() < one
    }) {
        samples.resize(w, 0);
    }
    ensure!(
        whole.is_some_and(|w| w <= samples.len()),
        "IOLOG {name}: {} bytes of samples for {n} of {one} bytes",
        samples.len()
    );
    let samples = &samples[..whole.unwrap_or(0)];
    let mut text = Vec::new();
    for s in samples.chunks_exact(one) {
        write_sample(l, kind, coarse, s, &mut text);
    }
    Ok(Received {
        name,
        append,
        content: text,
    })
}

/// One sample's line, as fio's client prints it.
fn write_sample(l: &Layout, kind: Kind, coarse: u32, s: &[u8], out: &mut Vec<u8>) {
    let i = &l.iolog;
    let r = Rd(s);
    // Every field lies inside `s`, whose length is the sample's (checked by the caller).
    let g64 = |at: usize| r.u64(at).unwrap_or(0);
    let ddir = r.u32(i.s_ddir).unwrap_or(0);
    let (time, bs) = (g64(i.s_time), g64(i.s_bs));
    let dir = ddir & !FLAG_BITS;
    if kind == Kind::Hist {
        let bins = i.sample + 8 * usize::from(ddir & OFFSET_BIT != 0) + i.plat_entry_bins;
        let stride = 1usize << coarse.min(16);
        let _ = write!(out, "{time}, {dir}, {bs}");
        for g in (0..PLAT_NR).step_by(stride) {
            let sum: u64 = (g..(g + stride).min(PLAT_NR))
                .map(|b| g64(bins + 8 * b))
                .sum();
            let _ = write!(out, ", {sum}");
        }
        out.push(b'\n');
        return;
    }
    let _ = write!(out, "{time}, {}", g64(i.s_data) as i64);
    if ddir & AVG_MAX_BIT != 0 {
        let _ = write!(out, ", {}", g64(i.s_data + 8) as i64);
    }
    let _ = write!(out, ", {dir}, {bs}");
    let mut aux = i.sample;
    if ddir & OFFSET_BIT != 0 {
        let _ = write!(out, ", {}", g64(aux));
        aux += 8;
    }
    let prio = r.u16(i.s_priority).unwrap_or(0);
    if ddir & PRIO_BIT != 0 {
        let _ = write!(out, ", 0x{prio:04x}");
    } else {
        let _ = write!(out, ", {}", u8::from(prio >> 13 == 1));
    }
    if ddir & ISSUE_TIME_BIT != 0 {
        let _ = write!(out, ", {}", g64(aux));
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::layout::SUPPORTED;

    fn log(kind: Kind, offset: bool, prio: bool, coarse: u32) -> Finished {
        Finished {
            name: "j_lat.1.log".into(),
            kind,
            append: false,
            offset,
            prio,
            coarse,
            entries: if kind == Kind::Hist {
                Vec::new()
            } else {
                vec![
                    (3, 1200, 0, 4096, 8192, 0x4002),
                    (9, u64::MAX / 2, 1, 512, 0, 0),
                ]
            },
            hist: if kind == Kind::Hist {
                let g = PLAT_NR.div_ceil(1 << coarse);
                vec![
                    (5, 0, 4096, (0..g as u64).collect()),
                    (7, 1, 512, vec![1; g]),
                ]
            } else {
                Vec::new()
            },
        }
    }

    /// What a client writes from the wire is what `diorite bench` writes here, in every
    /// version, compressed or not, with and without offsets, priorities, coarsening.
    #[test]
    fn a_log_reads_back_as_the_lines_written_locally() {
        for l in SUPPORTED {
            for zlib in [false, true] {
                for (kind, offset, prio, coarse) in [
                    (Kind::Lat, false, false, 0),
                    (Kind::Clat, true, false, 0),
                    (Kind::Bw, true, true, 0),
                    (Kind::Hist, false, false, 0),
                    (Kind::Hist, true, false, 2),
                ] {
                    let f = log(kind, offset, prio, coarse);
                    let mut want = Vec::new();
                    f.write_lines(&mut want).unwrap();
                    let got = decode(l, &encode(l, &f, 1, zlib), 1 << 30).unwrap();
                    assert_eq!(got.name, f.name);
                    assert_eq!(
                        String::from_utf8(got.content).unwrap(),
                        String::from_utf8(want).unwrap(),
                        "v{} zlib {zlib} {kind:?} offset {offset} prio {prio} coarse {coarse}",
                        l.version
                    );
                }
            }
        }
    }

    /// A histogram stream that ends early, less than a sample short (as fio's server sends
    /// some): the missing tail is zeros; more than a sample short is refused.
    #[test]
    fn a_histogram_stream_cut_within_its_last_sample_is_kept() {
        let l = SUPPORTED[0];
        let mut f = log(Kind::Hist, false, false, 0);
        // The last sample's top bins are zero (as a latency histogram's are).
        let last = &mut f.hist.last_mut().unwrap().3;
        let g = last.len();
        last[g - 8..].fill(0);
        let i = &l.iolog;
        let one = i.sample + i.plat_entry;
        let raw = encode(l, &f, 1, false);
        // All but the last 38 bytes compressed, the stream left unfinished, as fio's server
        // leaves it.
        let n = raw.len();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&raw[i.size..n - 38]).unwrap();
        z.flush().unwrap();
        let cut = z.get_ref().clone();
        let mut payload = raw[..i.size].to_vec();
        payload[i.compressed] = XMIT_COMPRESSED as u8;
        payload.extend_from_slice(&cut);
        let got = decode(l, &payload, 1 << 30).unwrap();
        let mut want = Vec::new();
        f.write_lines(&mut want).unwrap();
        assert!(got.content == want, "the lines differ");
        // A whole sample missing: refused.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&raw[i.size..n - one - 38]).unwrap();
        z.flush().unwrap();
        let mut payload = raw[..i.size].to_vec();
        payload[i.compressed] = XMIT_COMPRESSED as u8;
        payload.extend_from_slice(z.get_ref());
        assert!(decode(l, &payload, 1 << 30).is_err());
    }

    /// A payload that lies about its samples is refused, never read past or inflated beyond
    /// the limit.
    #[test]
    fn lying_payloads_are_refused() {
        let l = SUPPORTED[0];
        let f = log(Kind::Lat, false, false, 0);
        let good = encode(l, &f, 1, true);
        assert!(decode(l, &good[..10], 1 << 20).is_err());
        let mut more = good.clone();
        more[l.iolog.nr_samples..l.iolog.nr_samples + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode(l, &more, 1 << 20).is_err());
        let mut three = good.clone();
        three[l.iolog.nr_samples] = 3;
        assert!(decode(l, &three, 1 << 20).is_err());
        assert!(decode(l, &good, 10).is_err());
        // A stream cut short: fewer samples than the header counts.
        let cut = &good[..l.iolog.size + (good.len() - l.iolog.size) / 2];
        assert!(decode(l, cut, 1 << 20).is_err());
        assert!(decode(l, &good[..l.iolog.size + 2], 1 << 20).is_err());
        let mut kind = good;
        kind[l.iolog.log_type] = 9;
        assert!(decode(l, &kind, 1 << 20).is_err());
    }
}
