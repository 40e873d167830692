//! diorite's JSON report key by key against fio's: for jobs covering every option group, the
//! set of key paths must be fio's exactly (diorite's own `diorite` objects aside), so a missing
//! or an extra key fails here. Also what holds without fio: the per-direction sample fields
//! in every direction, "global options", and the text report's bandwidth unit.

mod common;

use common::{bench_in, tempdir};
use serde_json::Value;
use std::collections::BTreeSet;

/// Every key path of `v` (`/jobs[]/read/bw_min`), leaving out diorite's own `diorite` objects;
/// a json+ histogram's bins are keyed by latency, so they count as one `<bin>` key.
fn paths(v: &Value, at: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "diorite" {
                    continue;
                }
                let k = if at.ends_with("/bins") {
                    "<bin>"
                } else {
                    k.as_str()
                };
                let p = format!("{at}/{k}");
                out.insert(p.clone());
                paths(x, &p, out);
            }
        }
        Value::Array(xs) => {
            for x in xs {
                paths(x, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

/// fio's JSON from its standard output (fio may print notes before it).
fn fio_json(out: &std::process::Output) -> Value {
    let s = String::from_utf8_lossy(&out.stdout);
    let at = s.find("\n{").map_or(0, |i| i + 1);
    serde_json::from_str(&s[at..]).unwrap()
}

fn key_set(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    paths(v, "", &mut out);
    out
}

/// The jobs (fio command lines, JSON output first as fio needs it): plain and mixed patterns,
/// time-based runs with bandwidth samples, verify, percentiles of every series, json+, group
/// reporting, syncs, per-priority latency, steady state, logs, rates, thinktime with loops,
/// the latency target, an async engine, several command-line jobs with global options.
const JOBS: &[&[&str]] = &[
    &["--name=j", "--filename=jf", "--size=4m", "--rw=randrw"],
    &[
        "--name=j",
        "--filename=jf",
        "--size=4m",
        "--rw=randread",
        "--runtime=1200ms",
        "--time_based",
    ],
    &[
        "--name=j",
        "--filename=jv",
        "--size=1m",
        "--rw=write",
        "--verify=crc32c",
    ],
    &[
        "--name=j",
        "--filename=jf",
        "--size=4m",
        "--rw=read",
        "--lat_percentiles=1",
        "--slat_percentiles=1",
    ],
    &[
        "--name=j",
        "--filename=jf",
        "--size=4m",
        "--rw=read",
        "--numjobs=2",
        "--group_reporting",
    ],
    &[
        "--name=j",
        "--filename=jw",
        "--size=1m",
        "--rw=write",
        "--fsync=8",
    ],
    &[
        "--name=j",
        "--filename=jf",
        "--size=4m",
        "--rw=randread",
        "--ioengine=io_uring",
        "--direct=1",
        "--cmdprio_percentage=50",
    ],
    &[
        "--name=j",
        "--filename=jf",
        "--size=4m",
        "--rw=randread",
        "--runtime=2",
        "--time_based",
        "--ss=iops:10%",
        "--ss_dur=1",
        "--ss_ramp=0",
    ],
    &[
        "--name=j",
        "--filename=jf",
        "--size=4m",
        "--rw=read",
        "--write_lat_log=ll",
        "--write_bw_log=bb",
    ],
    &[
        "--name=j",
        "--filename=jf",
        "--size=1m",
        "--rw=read",
        "--rate_iops=1000",
    ],
    &[
        "--name=j",
        "--filename=jf",
        "--size=4m",
        "--rw=randrw",
        "--rwmixread=70",
        "--bssplit=4k/50:8k/50",
        "--random_distribution=zipf:1.1",
    ],
    &[
        "--name=j",
        "--filename=jf",
        "--size=1m",
        "--rw=read",
        "--thinktime=100",
        "--loops=2",
        "--number_ios=100",
    ],
    &[
        "--name=j",
        "--filename=jf",
        "--size=4m",
        "--rw=randread",
        "--ioengine=libaio",
        "--iodepth=16",
        "--direct=1",
        "--latency_target=1ms",
        "--latency_window=200ms",
        "--latency_percentile=90",
        "--runtime=1",
        "--time_based",
    ],
    &[
        "--rw=read",
        "--size=1m",
        "--name=a",
        "--filename=jf",
        "--name=b",
        "--filename=jf",
    ],
];

#[test]
fn the_json_report_has_fios_keys_for_every_option_group() {
    let dir = tempdir();
    common::data_file(dir.path(), "jf", 8 << 20, 5);
    for (i, job) in JOBS.iter().enumerate() {
        for plus in [false, true] {
            if plus && i > 0 {
                continue; // json+ once: it adds the histogram bins
            }
            let format = if plus {
                "--output-format=json+"
            } else {
                "--output-format=json"
            };
            let args: Vec<&str> = std::iter::once(format).chain(job.iter().copied()).collect();
            let out = bench_in(dir.path(), &args);
            assert!(out.status.success(), "{args:?}: {}", common::stderr(&out));
            let ours = key_set(&common::json(&out));
            // Without fio, the keys every consumer indexes are there in every direction.
            for d in ["read", "write", "trim"] {
                for k in common::SAMPLE_KEYS {
                    assert!(
                        ours.contains(&format!("/jobs[]/{d}/{k}")),
                        "{args:?}: no {d}/{k}"
                    );
                }
            }
            let Some(f) = common::fio_in(dir.path(), &args) else {
                continue;
            };
            let theirs = key_set(&fio_json(&f));
            let missing: Vec<_> = theirs.difference(&ours).collect();
            let extra: Vec<_> = ours.difference(&theirs).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{args:?}: fio's keys diorite lacks {missing:?}; diorite's extra keys {extra:?}"
            );
        }
    }
}

/// fio's "global options": options before the first `--name` on the command line, each job's
/// "job options" then its own only; options given without a value are not listed; with job
/// files, the command line's options and the `[global]` sections' are the global options and a
/// section's own lines its job options. "time" is the local time in ctime's words. fio the
/// same, when installed.
#[test]
fn global_and_job_options_are_listed_as_fio_lists_them() {
    let dir = tempdir();
    let v = common::json(&bench_in(
        dir.path(),
        &[
            "--output-format=json",
            "--bs=8k",
            "--size=64k",
            "--name=a",
            "--rw=read",
            "--time_based",
            "--runtime=50ms",
            "--name=b",
            "--rw=write",
        ],
    ));
    assert_eq!(
        v["global options"],
        serde_json::json!({"bs": "8k", "size": "64k"})
    );
    assert_eq!(
        v["jobs"][0]["job options"],
        serde_json::json!({"name": "a", "rw": "read", "runtime": "50ms"})
    );
    assert_eq!(
        v["jobs"][1]["job options"],
        serde_json::json!({"name": "b", "rw": "write"})
    );
    let time = v["time"].as_str().unwrap();
    assert!(
        time.len() >= 24 && time.split_whitespace().count() == 5,
        "{time}"
    );
    std::fs::write(
        dir.path().join("g.fio"),
        "[global]\nbs=8k\nsize=64k\n[c]\nrw=read\n",
    )
    .unwrap();
    let args = ["--output-format=json", "g.fio", "--iodepth=2"];
    let v = common::json(&bench_in(dir.path(), &args));
    assert_eq!(
        v["global options"],
        serde_json::json!({"iodepth": "2", "bs": "8k", "size": "64k"})
    );
    assert_eq!(
        v["jobs"][0]["job options"],
        serde_json::json!({"rw": "read"})
    );
    if let Some(f) = common::fio_in(dir.path(), &args) {
        let f = fio_json(&f);
        assert_eq!(f["global options"], v["global options"], "fio's");
        assert_eq!(
            f["jobs"][0]["job options"], v["jobs"][0]["job options"],
            "fio's"
        );
    }
    let cli = [
        "--output-format=json",
        "--bs=8k",
        "--name=a",
        "--rw=read",
        "--size=64k",
    ];
    if let Some(f) = common::fio_in(dir.path(), &cli) {
        let (f, v) = (fio_json(&f), common::json(&bench_in(dir.path(), &cli)));
        assert_eq!(
            (&f["global options"], &f["jobs"][0]["job options"]),
            (&v["global options"], &v["jobs"][0]["job options"]),
            "fio's"
        );
    }
}

/// The text report's bandwidth samples line, as fio's `show_ddir_status`: KiB/s, switched to
/// MiB/s once the mean passes 1024² KiB/s, whole-number minimum and maximum padded to 5.
#[test]
fn the_bw_line_switches_to_mib_for_large_bandwidths() {
    let dir = tempdir();
    let text = |bs: &str| {
        let out = bench_in(
            dir.path(),
            &[
                "--name=n",
                "--ioengine=null",
                "--size=1g",
                &format!("--bs={bs}"),
                "--rw=read",
                "--runtime=1200ms",
                "--time_based",
            ],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let big = text("1m");
    let line = big
        .lines()
        .find(|l| l.trim_start().starts_with("bw ("))
        .unwrap();
    assert!(line.starts_with("   bw (  MiB/s): min="), "{line}");
    let min = line
        .split("min=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert!(!min.contains('.'), "{line}");
    let rated = bench_in(
        dir.path(),
        &[
            "--name=r",
            "--ioengine=null",
            "--size=1g",
            "--bs=4k",
            "--rw=read",
            "--rate=2m",
            "--runtime=1200ms",
            "--time_based",
        ],
    );
    let small = String::from_utf8_lossy(&rated.stdout);
    let line = small
        .lines()
        .find(|l| l.trim_start().starts_with("bw ("))
        .unwrap();
    assert!(
        line.starts_with("   bw (  KiB/s): min= 20") || line.starts_with("   bw (  KiB/s): min= 1"),
        "{line}"
    );
}

/// fio's null engine is synchronous at `iodepth=1` (`FIO_SYNCIO`): each I/O completes in its
/// queue call, so the report has no submission latency and — the engine having a commit step
/// — no submit or complete batch distribution; from `iodepth=2` I/O is queued and committed
/// like any asynchronous engine's. diorite's null job reports the same, depth for depth, and
/// side by side with fio when it is installed. (Before, diorite's null job went through the
/// engine at every depth: slat samples at iodepth=1, where fio has none.)
#[test]
fn the_null_engine_is_synchronous_at_depth_one_as_in_fio() {
    let dir = tempdir();
    let args = |qd: &str| {
        [
            "--name=n",
            "--ioengine=null",
            "--size=1g",
            "--rw=randrw",
            "--bs=4k",
            "--fsync=7",
            "--number_ios=20000",
            &format!("--iodepth={qd}"),
            "--output-format=json",
        ]
        .map(String::from)
    };
    // (slat samples, any submit batch counted, any complete batch counted) per direction.
    let shape = |v: &Value| {
        let j = &v["jobs"][0];
        let counted = |k: &str| {
            j[k].as_object()
                .unwrap()
                .values()
                .any(|p| p.as_f64().unwrap() > 0.0)
        };
        (
            ["read", "write"].map(|d| j[d]["slat_ns"]["N"].as_u64().unwrap() > 0),
            counted("iodepth_submit"),
            counted("iodepth_complete"),
            j["read"]["total_ios"].as_u64().unwrap() + j["write"]["total_ios"].as_u64().unwrap(),
        )
    };
    for (qd, want) in [
        ("1", ([false, false], false, false)),
        ("2", ([true, true], true, true)),
    ] {
        let a = args(qd);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = bench_in(dir.path(), &a);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let (slat, submit, complete, ios) = shape(&common::json(&out));
        assert_eq!((slat, submit, complete), want, "iodepth={qd}");
        assert_eq!(ios, 20000, "iodepth={qd}");
        if let Some(f) = common::fio_in(dir.path(), &a) {
            let (fs, fsub, fcomp, _) = shape(&common::json(&f));
            assert_eq!((fs, fsub, fcomp), want, "fio at iodepth={qd}");
        }
    }
    // Nothing was created or written: a null job touches no file.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
