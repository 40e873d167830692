//! `diorite info [PATH] [--json]`: what this machine offers the engine — the backends, io_uring's
//! opcodes, features and setup flags, the system-wide AIO limit, each probed, with why it is or
//! is not available — and, given a file or device, its direct-I/O geometry: alignments (reads'
//! own where smaller), largest transfer, poll queues, discard and write-zeroes limits, atomic
//! writes, uncached buffered I/O. Text for people, one JSON object for scripts.

use anyhow::Result;
use diorite::backend::caps::{self, Capabilities};
use diorite::{DirectFile, Geometry};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::Path;

/// Runs the command.
pub fn run(path: Option<&Path>, as_json: bool, out: &mut impl Write) -> Result<()> {
    // The file first: a path that cannot be opened is an error before anything is printed.
    let file = match path {
        Some(p) => Some(File::probe(p)?),
        None => None,
    };
    let caps = caps::capabilities();
    if as_json {
        let mut v = machine_json(&caps);
        if let Some(f) = &file {
            v["file"] = f.json();
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        if let Some(f) = &file {
            f.text(out)?;
        }
        machine_text(&caps, out)?;
    }
    Ok(())
}

/// What a file or device is, as diorite opens it.
struct File {
    path: String,
    len: u64,
    direct: bool,
    g: Geometry,
    /// Whether a buffered handle to it takes `RWF_DONTCACHE`, and why (not).
    dontcache: (bool, String),
}

impl File {
    fn probe(p: &Path) -> Result<File> {
        let f = DirectFile::options().require_direct(false).open(p)?;
        let dontcache = match DirectFile::options().direct(false).dontcache(true).open(p) {
            Ok(_) => (true, "a 1-byte read with RWF_DONTCACHE works".to_string()),
            Err(e) => (false, e.to_string()),
        };
        Ok(File {
            path: p.display().to_string(),
            len: f.len(),
            direct: f.is_direct(),
            g: *f.geometry(),
            dontcache,
        })
    }

    fn json(&self) -> Value {
        let g = &self.g;
        let block = g.is_block_device;
        json!({
            "path": self.path,
            "type": if block { "block device" } else { "regular file" },
            "size": self.len,
            "direct": self.direct,
            "logical_block_size": g.logical_block_size,
            "memory_alignment": g.mem_align,
            "memory_alignment_check": g.align_check.to_string(),
            "buffer_alignment": g.buf_align(),
            "offset_alignment": g.offset_align,
            "read_offset_alignment": g.read_offset_align,
            "max_transfer": g.max_transfer,
            "poll_queues": g.polled,
            "discard": (block && g.discard_max_bytes > 0).then(|| json!({
                "granularity": g.discard_granularity,
                "max_bytes": g.discard_max_bytes,
            })),
            "write_zeroes_offload_max_bytes": block.then_some(g.write_zeroes_max_bytes),
            "atomic_write": g.atomic_write.map(|a| json!({
                "unit_min": a.unit_min,
                "unit_max": a.unit_max,
                "segments_max": a.segments_max,
            })),
            "dontcache": {"available": self.dontcache.0, "reason": self.dontcache.1},
            "geometry_source": format!("{:?}", g.source),
        })
    }

    fn text(&self, out: &mut impl Write) -> Result<()> {
        let g = &self.g;
        writeln!(out, "path:               {}", self.path)?;
        let kind = if g.is_block_device {
            "block device"
        } else {
            "regular file"
        };
        writeln!(out, "type:               {kind}")?;
        writeln!(out, "size:               {} bytes", self.len)?;
        let direct = if self.direct {
            "yes"
        } else {
            "no (the filesystem refuses it; buffered)"
        };
        writeln!(out, "O_DIRECT:           {direct}")?;
        writeln!(out, "logical block size: {}", g.logical_block_size)?;
        writeln!(
            out,
            "memory alignment:   {} (enforced minimum; {})",
            g.mem_align, g.align_check
        )?;
        writeln!(
            out,
            "buffer alignment:   {} (default for buffers)",
            g.buf_align()
        )?;
        writeln!(out, "offset alignment:   {}", g.offset_align)?;
        if g.read_offset_align != g.offset_align {
            writeln!(
                out,
                "read alignment:     {} (reads only; statx STATX_DIO_READ_ALIGN)",
                g.read_offset_align
            )?;
        }
        writeln!(out, "max transfer:       {} bytes", g.max_transfer)?;
        let polled = if g.polled { "yes" } else { "no" };
        writeln!(
            out,
            "poll queues:        {polled} (sysfs queue/io_poll; needed by hipri / iopoll)"
        )?;
        if g.is_block_device {
            let discard = if g.discard_max_bytes == 0 {
                "no".to_string()
            } else {
                format!(
                    "granularity {}, at most {} bytes per discard",
                    g.discard_granularity, g.discard_max_bytes
                )
            };
            writeln!(out, "discard:            {discard}")?;
            let zeroes = if g.write_zeroes_max_bytes == 0 {
                "written by the kernel (no device offload; unmap not possible)".to_string()
            } else {
                format!("offloaded, at most {} bytes", g.write_zeroes_max_bytes)
            };
            writeln!(out, "write zeroes:       {zeroes}")?;
        }
        match g.atomic_write {
            Some(a) => writeln!(
                out,
                "atomic writes:      {}..{} bytes (powers of two, offset a multiple of the length), at most {} buffers",
                a.unit_min, a.unit_max, a.segments_max
            )?,
            None => writeln!(out, "atomic writes:      no")?,
        }
        let dc = if self.dontcache.0 {
            "yes (buffered handles: OpenOptions::dontcache, fio's uncached)".to_string()
        } else {
            format!("no: {}", self.dontcache.1)
        };
        writeln!(out, "uncached buffered:  {dc}")?;
        writeln!(out, "geometry source:    {:?}", g.source)?;
        Ok(())
    }
}

fn machine_json(c: &Capabilities) -> Value {
    let flags = |v: &[(&str, bool)]| -> Value {
        Value::Object(
            v.iter()
                .map(|(n, b)| (n.to_string(), json!(b)))
                .collect::<Map<_, _>>(),
        )
    };
    let uring = match &c.uring {
        Ok(u) => json!({
            "available": true,
            "opcodes": flags(&u.opcodes),
            "features": flags(&u.features),
            "setup_flags": Value::Object(
                u.setup
                    .iter()
                    .map(|f| (f.name.to_string(), json!({"available": f.available, "reason": f.reason})))
                    .collect::<Map<_, _>>(),
            ),
        }),
        Err(why) => json!({"available": false, "reason": why}),
    };
    json!({
        "diorite": env!("CARGO_PKG_VERSION"),
        "kernel": c.kernel,
        "backends": c.backends.iter().map(|b| json!({
            "name": b.kind.name(),
            "available": b.available,
            "reason": b.reason,
        })).collect::<Vec<_>>(),
        "io_uring": uring,
        "aio": c.aio_nr.map(|(nr, max)| json!({"aio_nr": nr, "aio_max_nr": max})),
    })
}

fn machine_text(c: &Capabilities, out: &mut impl Write) -> Result<()> {
    writeln!(out, "kernel:             {}", c.kernel)?;
    writeln!(out, "backends:")?;
    for st in &c.backends {
        let state = if st.available {
            "available"
        } else {
            "unavailable"
        };
        writeln!(out, "  {:<9} {:<13} {}", st.kind.name(), state, st.reason)?;
    }
    if let Ok(u) = &c.uring {
        let list = |v: &[(&str, bool)], want: bool| {
            v.iter()
                .filter(|(_, b)| *b == want)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(" ")
        };
        writeln!(out, "io_uring opcodes:   {}", list(&u.opcodes, true))?;
        let missing = list(&u.opcodes, false);
        if !missing.is_empty() {
            writeln!(out, "  not supported:    {missing}")?;
        }
        writeln!(out, "io_uring features: {}", list(&u.features, true))?;
        writeln!(out, "io_uring setup flags:")?;
        for f in &u.setup {
            let state = if f.available { "yes" } else { "no" };
            writeln!(out, "  {:<14} {state:<4} {}", f.name, f.reason)?;
        }
    }
    Ok(())
}
