//! fio's terse (semicolon-separated) report, version 3.

use super::*;
use crate::stats::Lat;
use serde_json::Value;

/// fio's terse format, version 3 (HOWTO "Terse output"): one `;`-separated line per job or
/// group; latencies in usec; the disks under the targets at the end of each line.
pub fn terse(views: &[View<'_>], disks: &Value) -> String {
    let mut out = String::new();
    for v in views {
        let mut f: Vec<String> = vec![
            "3".into(),
            concat!("diorite-", env!("CARGO_PKG_VERSION")).into(),
            v.name.clone(),
            v.groupid.to_string(),
            i32::from(v.error().is_some()).to_string(),
        ];
        for d in 0..2 {
            let s = &v.stats[d];
            let secs = v.dir_secs(d);
            let active = s.ios > 0;
            let lat4 = |l: &Lat, f: &mut Vec<String>| {
                if l.n == 0 {
                    f.extend(["0", "0", "0.000000", "0.000000"].map(String::from));
                } else {
                    f.push((l.min() / 1000).to_string());
                    f.push((l.max / 1000).to_string());
                    f.push(format!("{:.6}", l.mean() / 1e3));
                    f.push(format!("{:.6}", l.stddev() / 1e3));
                }
            };
            f.push((s.bytes / 1024).to_string());
            f.push(if active {
                ((s.bytes as f64 / 1024.0 / secs) as u64).to_string()
            } else {
                "0".into()
            });
            f.push(if active {
                ((s.ios as f64 / secs) as u64).to_string()
            } else {
                "0".into()
            });
            f.push(if active {
                v.dir_runtime[d].as_millis().to_string()
            } else {
                "0".into()
            });
            lat4(&s.slat, &mut f);
            lat4(&s.clat, &mut f);
            // fio's terse percentiles: total latency's with lat_percentiles, else clat's with
            // clat_percentiles, else none; padded to 20 fields.
            let pc = &v.results[0].spec.measure.pcts;
            let (l, list) = if pc.lat {
                (&s.lat, &pc.list[..])
            } else if pc.clat {
                (&s.clat, &pc.list[..])
            } else {
                (&s.clat, &[][..])
            };
            for &p in list {
                let val = if active { l.percentile(p) / 1000 } else { 0 };
                f.push(format!("{p:.6}%={val}"));
            }
            for _ in list.len()..20 {
                f.push("0%=0".into());
            }
            lat4(&s.lat, &mut f);
            match v.series_of(false, d) {
                Some((min, max, mean, dev, _)) => {
                    f.push((min as u64).to_string());
                    f.push((max as u64).to_string());
                    f.push(format!("{:.6}%", bw_share(v, views, d)));
                    f.push(format!("{mean:.6}"));
                    f.push(format!("{dev:.6}"));
                }
                None => f.extend(["0", "0", "0.000000%", "0.000000", "0.000000"].map(String::from)),
            }
        }
        let (usr, sys) = v.cpu_pct();
        f.push(format!("{usr:.6}%"));
        f.push(format!("{sys:.6}%"));
        f.push(v.usage.ctx.to_string());
        f.push(v.usage.majf.to_string());
        f.push(v.usage.minf.to_string());
        for p in shares(&v.depths.depth) {
            f.push(format!("{p:.1}%"));
        }
        let mut clat = v.stats[0].clat.clone();
        clat.merge(&v.stats[1].clat);
        clat.merge(&v.stats[2].clat);
        let mut below = 0;
        for p in bucket_shares(&clat, 1_000, &LAT_EDGES, &mut below) {
            f.push(format!("{p:.2}%"));
        }
        for p in bucket_shares(&clat, 1_000_000, &LAT_EDGES_MS, &mut below) {
            f.push(format!("{p:.2}%"));
        }
        for d in disks.as_array().into_iter().flatten() {
            for k in [
                "name",
                "read_ios",
                "write_ios",
                "read_merges",
                "write_merges",
                "read_ticks",
                "write_ticks",
                "in_queue",
            ] {
                f.push(match &d[k] {
                    Value::String(s) => s.clone(),
                    x => x.to_string(),
                });
            }
            f.push(format!("{:.2}%", d["util"].as_f64().unwrap_or(0.0)));
        }
        if let Some(desc) = &v.results[0].spec.description {
            f.push(desc.clone());
        }
        out.push_str(&f.join(";"));
        out.push('\n');
    }
    out
}
