//! fio's own example job files (their option sets, adapted only in filename, directory, size,
//! loops and runtime; in `tests/data/fio-examples/`): all 35 of fio 3.33's examples whose engines
//! are block or file engines (or null). Every one that uses only options diorite supports runs
//! with the jobs, groups and directions fio runs; the others are refused with an error naming
//! the option.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// What fio runs for an example: per job (clones expanded), its group and the directions it
/// moves data in ("r", "w" or "rw").
enum Expect {
    Runs(&'static [(u64, &'static str)]),
    Refused(&'static str),
}

const EXAMPLES: &[(&str, Expect)] = &[
    ("fio-rand-read.fio", Expect::Runs(&[(0, "r")])),
    ("fio-rand-write.fio", Expect::Runs(&[(0, "w")])),
    ("fio-seq-read.fio", Expect::Runs(&[(0, "r")])),
    ("fio-seq-write.fio", Expect::Runs(&[(0, "w")])),
    (
        "fio-rand-RW.fio",
        Expect::Runs(&[(0, "rw"), (0, "rw"), (0, "rw"), (0, "rw")]),
    ),
    (
        "fio-seq-RW.fio",
        Expect::Runs(&[(0, "rw"), (0, "rw"), (0, "rw"), (0, "rw")]),
    ),
    (
        "ssd-test.fio",
        Expect::Runs(&[(0, "r"), (1, "r"), (2, "w"), (3, "w")]),
    ),
    (
        "tiobench-example.fio",
        Expect::Runs(&[
            (0, "w"),
            (0, "w"),
            (0, "w"),
            (0, "w"),
            (1, "w"),
            (1, "w"),
            (1, "w"),
            (1, "w"),
            (2, "r"),
            (2, "r"),
            (2, "r"),
            (2, "r"),
            (3, "r"),
            (3, "r"),
            (3, "r"),
            (3, "r"),
        ]),
    ),
    (
        "aio-read.fio",
        Expect::Runs(&[(0, "r"), (0, "r"), (0, "r"), (0, "r")]),
    ),
    // The verify phase's reads are reads, as in fio.
    ("basic-verify.fio", Expect::Runs(&[(0, "rw")])),
    ("fsx.fio", Expect::Runs(&[(0, "rw")])),
    // rate, rate_min, startdelay: 32 clients, one group.
    ("1mbs_clients.fio", Expect::Runs(&[(0, "r"); 32])),
    // filesize, new_group and wait_for: four groups, each waiting for the one before; with
    // group_reporting, one entry per group.
    (
        "waitfor.fio",
        Expect::Runs(&[(0, "w"), (1, "r"), (2, "w"), (3, "r")]),
    ),
    ("iometer-file-access-server.fio", Expect::Runs(&[(0, "rw")])),
    // The null engine moves no data but counts it, as fio's does.
    ("zipf.fio", Expect::Runs(&[(0, "r")])),
    ("null.fio", Expect::Runs(&[(0, "r")])),
    ("rand-zones.fio", Expect::Runs(&[(0, "r")])),
    // bssplit down to 512 bytes, blockalign=4k, zoned: four clones reported as one group.
    ("jesd219.fio", Expect::Runs(&[(0, "rw")])),
    // rw=read:-8k: backwards.
    ("backwards-read.fio", Expect::Runs(&[(0, "r")])),
    // write_bw_log: per-I/O bandwidth logs for the four steady-state writers.
    ("ssd-steadystate.fio", Expect::Runs(&[(0, "w"), (1, "w")])),
    // exitall with exit_what=stonewall and =all: the fast jobs end with the slow ones.
    (
        "exitwhat.fio",
        Expect::Runs(&[(0, "r"), (1, "rw"), (2, "rw")]),
    ),
    // zonemode=strided (the zones larger than the adapted file: one zone, the file), and
    // write_bw_log without a prefix (the job's name).
    ("disk-zone-profile.fio", Expect::Runs(&[(0, "r")])),
    // Priorities: prioclass/prio, cmdprio_percentage, cmdprio_bssplit (per block size, with
    // their own classes), three stonewalled groups.
    ("cmdprio-percentage.fio", Expect::Runs(&[(0, "r")])),
    (
        "cmdprio-bssplit.fio",
        Expect::Runs(&[(0, "rw"), (1, "rw"), (2, "rw")]),
    ),
    // flow: two jobs kept at 1:8 I/Os, and a forward and a backward reader in step.
    ("flow.fio", Expect::Runs(&[(0, "w"), (0, "r")])),
    ("butterfly.fio", Expect::Runs(&[(0, "r"), (0, "r")])),
    // io_submit_mode=offload with rate_iops, linear and poisson.
    ("fixed-rate-submission.fio", Expect::Runs(&[(0, "r")])),
    ("poisson-rate-submission.fio", Expect::Runs(&[(0, "r")])),
    // Steady state (not attained in the adapted runtime), two groups reported as one each.
    ("steadystate.fio", Expect::Runs(&[(0, "w"), (1, "r")])),
    // latency_target's depth search with random_generator=lfsr.
    ("latency-profile.fio", Expect::Runs(&[(0, "r")])),
    // dedupe_mode=working_set with dedupe_global, two jobs of 100 MiB.
    ("dedupe-global.fio", Expect::Runs(&[(0, "w"), (0, "w")])),
    // Refused, each by the first option (in the file's order) diorite does not support yet;
    // the rest of fio's vocabulary.
    (
        "cross-stripe-verify.fio",
        Expect::Refused("verify with numjobs > 1 on shared files"),
    ),
    // enospc-pressure's verifier reads a file create_on_open makes empty (fio reads nothing).
    (
        "enospc-pressure.fio",
        Expect::Refused("create_on_open with a pattern that reads or trims"),
    ),
    // job2 names NUMA node 1, which this machine lacks (fio refuses it too).
    ("numa.fio", Expect::Refused("numa_cpu_nodes=0-1")),
    // Its verify phase reads the file its write phase (fill_device) makes: a file an earlier
    // phase creates is not supported yet.
    (
        "surface-scan.fio",
        Expect::Refused("datafile.tmp does not exist"),
    ),
];

/// Every example in the directory is in the table: a new one cannot slip through untested.
#[test]
fn every_committed_example_has_an_expectation() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fio-examples");
    for e in std::fs::read_dir(src).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(
            EXAMPLES.iter().any(|(f, _)| *f == name),
            "{name} has no expectation in EXAMPLES"
        );
    }
}

#[test]
fn fios_examples_run_as_fio_runs_them_or_are_refused_by_name() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fio-examples");
    for (file, expect) in EXAMPLES {
        let dir = tempfile::Builder::new()
            .prefix("diorite-example")
            .tempdir_in("/var/tmp")
            .unwrap();
        let job = dir.path().join(file);
        std::fs::copy(src.join(file), &job).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_diorite"))
            .current_dir(dir.path())
            .args(["bench", job.to_str().unwrap(), "--output-format=json"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        match expect {
            Expect::Refused(option) => {
                assert_eq!(out.status.code(), Some(1), "{file}: {stderr}");
                assert!(stderr.contains(option), "{file}: {stderr}");
                let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
                assert_eq!(left.len(), 1, "{file}: a refused job file creates nothing");
            }
            Expect::Runs(jobs) => {
                assert!(out.status.success(), "{file}: {stderr}");
                let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                let got: Vec<(u64, String)> = v["jobs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|j| {
                        let moved = |d: &str| j[d]["io_bytes"].as_u64().unwrap_or(0) > 0;
                        let dirs = match (moved("read"), moved("write")) {
                            (true, true) => "rw",
                            (true, false) => "r",
                            (false, true) => "w",
                            (false, false) => "-",
                        };
                        (j["groupid"].as_u64().unwrap(), dirs.to_string())
                    })
                    .collect();
                let want: Vec<(u64, String)> =
                    jobs.iter().map(|(g, d)| (*g, d.to_string())).collect();
                assert_eq!(got, want, "{file}");
            }
        }
    }
}

/// How closely a size-bounded example's I/O must match fio's own run of it.
enum Match {
    /// Per job and direction, the same I/Os and bytes (fixed block sizes, no timing).
    Exact,
    /// Per job, the same total I/Os and bytes; the read/write split is random (`rwmix`).
    Totals,
    /// Per job, the same bytes to within one largest block per clone (random block sizes:
    /// the last I/O crosses the size by a random amount, in both tools).
    Bytes(u64),
}

/// The size-bounded examples (no runtime, no timing-dependent ending) and how their I/O must
/// match fio's. (Not the two `io_submit_mode=offload` ones: fio 3.33 sometimes hangs on them
/// here — its offload mode "cannot reliably be used with async IO engines", says its HOWTO.)
const BOUNDED: &[(&str, Match)] = &[
    ("aio-read.fio", Match::Exact),
    ("backwards-read.fio", Match::Exact),
    ("basic-verify.fio", Match::Exact),
    ("butterfly.fio", Match::Exact),
    ("null.fio", Match::Exact),
    ("rand-zones.fio", Match::Exact),
    ("zipf.fio", Match::Exact),
    ("disk-zone-profile.fio", Match::Exact),
    ("cmdprio-percentage.fio", Match::Exact),
    ("fsx.fio", Match::Totals),
    ("iometer-file-access-server.fio", Match::Bytes(64 << 10)),
    ("jesd219.fio", Match::Bytes(4 * (64 << 10))),
];

/// A job's name, group, and per direction (I/Os, bytes).
type JobIo = (String, u64, [(u64, u64); 2]);

/// Per job: name, group, and per direction (I/Os, bytes), from either tool's JSON.
fn io_of(v: &Value) -> Vec<JobIo> {
    v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            let d = |k: &str| {
                (
                    j[k]["total_ios"].as_u64().unwrap(),
                    j[k]["io_bytes"].as_u64().unwrap(),
                )
            };
            (
                j["jobname"].as_str().unwrap().to_string(),
                j["groupid"].as_u64().unwrap(),
                [d("read"), d("write")],
            )
        })
        .collect()
}

/// For the examples bounded by size, number_ios or loops, diorite moves what fio moves: with
/// fixed block sizes exactly fio's I/O count and bytes per job and direction (the issue's
/// "exactly fio's count"); otherwise the totals, or the bytes to within one largest block.
/// Needs fio (skipped with a message without it).
#[test]
fn bounded_examples_move_what_fio_moves() {
    if Command::new("fio").arg("--version").output().is_err() {
        eprintln!("SKIPPED: fio is not installed; the examples were not run side by side");
        return;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fio-examples");
    for (file, how) in BOUNDED {
        let run = |fio: bool| -> Option<Value> {
            let dir = tempfile::Builder::new()
                .prefix("diorite-example")
                .tempdir_in("/var/tmp")
                .unwrap();
            std::fs::copy(src.join(file), dir.path().join(file)).unwrap();
            let out = if fio {
                // Bounded in time: a fio that hangs is fio's problem, reported and skipped.
                let out = Command::new("timeout")
                    .current_dir(dir.path())
                    .args(["120", "fio", file, "--output-format=json"])
                    .output()
                    .unwrap();
                if !out.status.success() {
                    eprintln!(
                        "SKIPPED: fio failed on {file}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    return None;
                }
                out
            } else {
                Command::new(env!("CARGO_BIN_EXE_diorite"))
                    .current_dir(dir.path())
                    .args(["bench", file, "--output-format=json"])
                    .output()
                    .unwrap()
            };
            assert!(
                out.status.success(),
                "{file} ({fio}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            Some(serde_json::from_str(&text[text.find('{').unwrap()..]).unwrap())
        };
        let Some(theirs) = run(true) else { continue };
        let (ours, theirs) = (io_of(&run(false).unwrap()), io_of(&theirs));
        assert_eq!(ours.len(), theirs.len(), "{file}: jobs");
        for (o, t) in ours.iter().zip(&theirs) {
            assert_eq!((&o.0, o.1), (&t.0, t.1), "{file}: job and group");
            let total = |x: &[(u64, u64); 2]| (x[0].0 + x[1].0, x[0].1 + x[1].1);
            match how {
                Match::Exact => assert_eq!(o.2, t.2, "{file}: job {}", o.0),
                Match::Totals => assert_eq!(total(&o.2), total(&t.2), "{file}: job {}", o.0),
                Match::Bytes(slack) => {
                    let (a, b) = (total(&o.2).1, total(&t.2).1);
                    assert!(
                        a.abs_diff(b) <= *slack,
                        "{file}: job {}: {a} vs fio's {b}",
                        o.0
                    );
                }
            }
        }
    }
}
