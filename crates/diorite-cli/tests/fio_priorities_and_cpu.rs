//! fio's I/O priorities and CPU placement.
//! Every test runs the real binary; those that compare with fio skip that part when fio is
//! not installed. Each came with a fix and failed on the code before it.

mod common;

use common::{bench_in, job, json, tempdir};
use serde_json::Value;
use std::path::Path;

/// The priority column of a job's clat log (`log_prio=1`: the ioprio value): count per value.
fn prios_logged(dir: &Path, args: &[&str]) -> std::collections::BTreeMap<String, usize> {
    let mut a = args.to_vec();
    a.extend(["--write_lat_log=pr", "--log_prio=1", "--output-format=json"]);
    let out = bench_in(dir, &a);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let log = std::fs::read_to_string(dir.join("pr_clat.1.log")).unwrap();
    let mut m = std::collections::BTreeMap::new();
    for l in log.lines() {
        *m.entry(l.rsplit(", ").next().unwrap().to_string())
            .or_insert(0) += 1;
    }
    m
}

/// fio's CPU options: the job thread's affinity and nice value, as the kernel
/// reports them from inside the job (`diorite.cpus`, `diorite.nice`): `cpus_allowed` and
/// `cpumask` set the CPUs, `cpus_allowed_policy=split` gives each job one CPU of the set by its
/// number in the run, `nice` the nice value; a CPU this machine lacks is refused by name.
#[test]
fn cpu_options_place_the_job_threads() {
    let dir = tempdir();
    let run = |extra: &[&str]| -> Vec<(Vec<u64>, i64)> {
        let mut a = vec![
            "--name=c",
            "--filename=f",
            "--size=64k",
            "--numjobs=2",
            "--output-format=json",
        ];
        a.extend(extra);
        let v = json(&bench_in(dir.path(), &a));
        (0..2)
            .map(|k| {
                let d = &v["jobs"][k]["diorite"];
                let cpus = d["cpus"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_u64().unwrap())
                    .collect();
                (cpus, d["nice"].as_i64().unwrap())
            })
            .collect()
    };
    let all: Vec<u64> = run(&[])[0].0.clone();
    assert!(all.len() >= 2, "this test needs two CPUs: {all:?}");
    assert_eq!(run(&["--cpus_allowed=1"]), [(vec![1], 0), (vec![1], 0)]);
    assert_eq!(run(&["--cpumask=0x1"]), [(vec![0], 0), (vec![0], 0)]);
    assert_eq!(
        run(&["--cpus_allowed=0-1", "--cpus_allowed_policy=split"]),
        [(vec![0], 0), (vec![1], 0)]
    );
    assert_eq!(run(&["--nice=7"]), [(all.clone(), 7), (all, 7)]);
    // NUMA: node 0's CPUs (all of them on a one-node machine), and the memory policy the
    // kernel reports for the job thread.
    let node0: Vec<u64> = std::fs::read_to_string("/sys/devices/system/node/node0/cpulist")
        .map(|l| {
            l.trim()
                .split(',')
                .flat_map(|p| {
                    let (a, b) = p.split_once('-').unwrap_or((p, p));
                    a.parse::<u64>().unwrap()..=b.parse::<u64>().unwrap()
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(run(&["--numa_cpu_nodes=0"])[0].0, node0);
    let v = job(dir.path(), "c")
        .args(&["--filename=f", "--size=64k", "--numa_mem_policy=bind:0"])
        .json();
    assert_eq!(
        v["jobs"][0]["diorite"]["mem_policy"]["mode"], 2,
        "MPOL_BIND"
    );
    assert_eq!(v["jobs"][0]["diorite"]["mem_policy"]["nodes"], 1);
    for bad in [
        "--cpus_allowed=4096",
        "--nice=40",
        "--cpumask=0",
        "--numa_cpu_nodes=63",
        "--numa_mem_policy=bind:63",
    ] {
        let out = job(dir.path(), "c")
            .args(&["--filename=g", "--size=64k", bad])
            .run();
        assert_eq!(out.status.code(), Some(1), "{bad}");
        let name = bad.trim_start_matches("--").split('=').next().unwrap();
        assert!(
            common::stderr(&out).contains(name),
            "{bad}: {}",
            common::stderr(&out)
        );
        assert!(!dir.path().join("g").exists(), "{bad}: nothing created");
    }
}

/// fio's priorities: `prio`/`prioclass` give every I/O the job's priority,
/// `cmdprio_percentage` that share of I/Os the `cmdprio_class`/`cmdprio` one (seen per I/O in
/// the log's priority column, on each engine), `cmdprio_bssplit` per block size; the report has
/// fio's per-priority latency (`clat prio C/L` lines and the JSON `prios` array, whose counts
/// add up to the I/Os); cmdprio on a synchronous engine and both cmdprio forms at once are
/// refused by name. With fio installed, fio reports the same priorities for the same job.
#[test]
fn priorities_per_io_and_their_latency() {
    let dir = tempdir();
    let base = [
        "--name=p",
        "--filename=f",
        "--size=8m",
        "--rw=randread",
        "--direct=1",
        "--iodepth=8",
        "--number_ios=1000",
    ];
    for engine in ["io_uring", "libaio", "threads"] {
        let e = format!("--ioengine={engine}");
        let mut a = base.to_vec();
        a.extend([
            e.as_str(),
            "--prio=2",
            "--cmdprio_percentage=30",
            "--cmdprio_class=3",
        ]);
        let m = prios_logged(dir.path(), &a);
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["0x4002", "0x6000"],
            "{engine}"
        );
        let idle = m["0x6000"];
        assert!(
            (220..=380).contains(&idle),
            "{engine}: {idle} of 1000 at 3/0"
        );
    }
    // The report: per-priority lines and JSON entries.
    let mut a = base.to_vec();
    a.extend([
        "--ioengine=io_uring",
        "--prio=2",
        "--cmdprio_percentage=30",
        "--cmdprio_class=3",
    ]);
    let text = String::from_utf8(bench_in(dir.path(), &a).stdout).unwrap();
    assert!(text.contains("    clat prio 2/2 ("), "{text}");
    assert!(text.contains("    clat prio 3/0 ("), "{text}");
    assert!(text.contains("% of IOs) percentiles"), "{text}");
    a.push("--output-format=json");
    let v = json(&bench_in(dir.path(), &a));
    let prios = v["jobs"][0]["read"]["prios"].as_array().unwrap();
    let got: Vec<(u64, u64)> = prios
        .iter()
        .map(|p| {
            (
                p["prioclass"].as_u64().unwrap(),
                p["prio"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [(2, 2), (3, 0)]);
    let n: u64 = prios
        .iter()
        .map(|p| p["clat_ns"]["N"].as_u64().unwrap())
        .sum();
    assert_eq!(n, 1000);
    if let Some(o) = common::fio_in(dir.path(), &a) {
        let f: Value = serde_json::from_slice(&o.stdout).unwrap();
        let theirs: Vec<(u64, u64)> = f["jobs"][0]["read"]["prios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["prioclass"].as_u64().unwrap(),
                    p["prio"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, theirs, "fio's priorities");
    }
    // cmdprio_bssplit: 4k reads all real-time 0; 8k writes half at the cmdprio (real-time 0 by
    // default), half at none.
    let m = prios_logged(
        dir.path(),
        &[
            "--name=p",
            "--filename=f",
            "--size=8m",
            "--rw=randrw",
            "--bs=4k,8k",
            "--direct=1",
            "--ioengine=io_uring",
            "--number_ios=1000",
            "--cmdprio_bssplit=4k/100/1/0,8k/50",
        ],
    );
    assert_eq!(m.keys().collect::<Vec<_>>(), ["0x0000", "0x2000"], "{m:?}");
    assert!((600..=850).contains(&m["0x2000"]), "{m:?}");
    // The five-field form (fio 3.36): a priority hint too, in bits 3..12 of the ioprio each
    // request carries — best effort 4 with hint 3 is 0x401c — and in the report.
    let five = [
        "--name=p",
        "--filename=f",
        "--size=8m",
        "--rw=randread",
        "--direct=1",
        "--ioengine=io_uring",
        "--number_ios=400",
        "--cmdprio_bssplit=4k/50/2/4/3",
    ];
    let m = prios_logged(dir.path(), &five);
    assert_eq!(m.keys().collect::<Vec<_>>(), ["0x0000", "0x401c"], "{m:?}");
    let v = common::json(&bench_in(
        dir.path(),
        &[&five[..], &["--output-format=json"]].concat(),
    ));
    let prios = v["jobs"][0]["read"]["prios"].as_array().unwrap();
    assert!(
        prios
            .iter()
            .any(|p| p["prioclass"] == 2 && p["prio"] == 4 && p["priohint"] == 3),
        "{prios:?}"
    );
    let text = String::from_utf8_lossy(&bench_in(dir.path(), &five).stdout).into_owned();
    assert!(text.contains("clat prio 2/4/3"), "{text}");
    let out = bench_in(
        dir.path(),
        &[&five[..7], &["--cmdprio_bssplit=4k/50/2/4/1024"]].concat(),
    );
    assert!(
        common::stderr(&out).contains("BS/PERCENT[/CLASS/LEVEL[/HINT]]"),
        "{}",
        common::stderr(&out)
    );
    // Without log_prio the column says whether the I/O was real-time.
    let mut a = base.to_vec();
    a.extend([
        "--ioengine=io_uring",
        "--cmdprio_percentage=50",
        "--write_lat_log=rt",
    ]);
    assert!(bench_in(dir.path(), &a).status.success());
    let log = std::fs::read_to_string(dir.path().join("rt_clat.1.log")).unwrap();
    let cols: std::collections::BTreeSet<&str> = log
        .lines()
        .map(|l| l.rsplit(", ").next().unwrap())
        .collect();
    assert_eq!(cols.into_iter().collect::<Vec<_>>(), ["0", "1"]);
    // Refusals.
    for (extra, says) in [
        (
            &["--ioengine=psync", "--cmdprio_percentage=10"][..],
            "cmdprio",
        ),
        (
            &[
                "--ioengine=io_uring",
                "--cmdprio_percentage=10",
                "--cmdprio_bssplit=4k/10",
            ][..],
            "mutually exclusive",
        ),
        (&["--ioengine=io_uring", "--prio=9"][..], "prio=9"),
    ] {
        let mut a = base.to_vec();
        a.extend(extra);
        let out = bench_in(dir.path(), &a);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        assert!(
            common::stderr(&out).contains(says),
            "{}",
            common::stderr(&out)
        );
    }
}
