//! fio's logs: names and line format, averaged and histogram logs, the verify phase, fio's
//! plot tools.
//! Every test runs the real binary; those that compare with fio skip that part when fio is
//! not installed. Each came with a fix and failed on the code before it.

mod common;

use common::{bench_in, job, json, tempdir};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// fio's per-I/O logs: names (`PREFIX_TYPE.N.log`, N counting job clones from 1;
/// `per_job_logs=0` drops N), one line per I/O in fio's format (`time, value, ddir, bytes, prio`,
/// with `log_offset` the offset before the priority). When fio is installed, fio writes the same
/// files with the same shape for the same job (fio 3.33's own fiologparser.py cannot read
/// either: it expects the older 4-column lines).
#[test]
fn logs_have_fios_names_and_line_format() {
    let dir = tempdir();
    std::fs::write(dir.path().join("data"), vec![1u8; 1 << 20]).unwrap();
    let args = [
        "--name=lg",
        "--filename=data",
        "--size=256k",
        "--rw=randrw",
        "--bs=4k",
        "--numjobs=2",
        "--write_lat_log=L",
        "--write_bw_log=B",
        "--write_iops_log=I",
        "--log_offset=1",
        "--ioengine=io_uring",
        "--iodepth=4",
    ];
    let mut a = args.to_vec();
    a.push("--output-format=json");
    let v = json(&bench_in(dir.path(), &a));
    let names = ["L_lat", "L_clat", "L_slat", "B_bw", "I_iops"];
    for (k, job) in v["jobs"].as_array().unwrap().iter().enumerate() {
        let ios = job["read"]["total_ios"].as_u64().unwrap()
            + job["write"]["total_ios"].as_u64().unwrap();
        for n in names {
            let text =
                std::fs::read_to_string(dir.path().join(format!("{n}.{}.log", k + 1))).unwrap();
            let lines: Vec<Vec<u64>> = text
                .lines()
                .map(|l| l.split(", ").map(|x| x.parse().unwrap()).collect())
                .collect();
            assert_eq!(lines.len() as u64, ios, "{n}.{}: one line per I/O", k + 1);
            for l in &lines {
                assert_eq!(
                    l.len(),
                    6,
                    "{n}: time, value, ddir, bs, offset, prio: {l:?}"
                );
                assert!(
                    l[2] <= 1 && l[3] == 4096 && l[4] % 4096 == 0 && l[4] < 1 << 20 && l[5] == 0
                );
                if n == "I_iops" {
                    assert_eq!(l[1], 1);
                }
            }
        }
    }
    // Without per-job numbers (the clones then share one file each, as in fio).
    let mut a = args.to_vec();
    // With disable_bw_measurement the bw log is made but stays empty (fio skips the samples).
    a.extend([
        "--per_job_logs=0",
        "--numjobs=2",
        "--disable_bw_measurement=1",
        "--output-format=json",
    ]);
    let v = json(&bench_in(dir.path(), &a));
    let len = |n: &str| std::fs::metadata(dir.path().join(n)).unwrap().len();
    assert!(len("L_clat.log") > 0);
    assert_eq!(len("B_bw.log"), 0);
    // Both clones appended to the shared log (fio opens it in append mode).
    let ios: u64 = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            j["read"]["total_ios"].as_u64().unwrap() + j["write"]["total_ios"].as_u64().unwrap()
        })
        .sum();
    let lines = std::fs::read_to_string(dir.path().join("I_iops.log"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines as u64, ios, "one line per I/O of both clones");
    // fio side by side, when installed: the same file names, the same line shape.
    let fio_dir = tempdir();
    std::fs::write(fio_dir.path().join("data"), vec![1u8; 1 << 20]).unwrap();
    let mut a = args.to_vec();
    a.push("--output=/dev/null");
    if common::fio_in(fio_dir.path(), &a).is_some() {
        for n in names {
            for k in 1..=2 {
                let ours =
                    std::fs::read_to_string(dir.path().join(format!("{n}.{k}.log"))).unwrap();
                let theirs =
                    std::fs::read_to_string(fio_dir.path().join(format!("{n}.{k}.log"))).unwrap();
                let shape = |t: &str| t.lines().next().map(|l| l.split(", ").count());
                assert_eq!(shape(&ours), shape(&theirs), "{n}.{k}.log");
            }
        }
    }
}

/// fio's averaged and histogram logs: with `log_avg_msec=200` each log has
/// one entry per 200 ms window and direction (times on the window grid, block size and
/// offset 0, the window's mean; `log_max_value=1` its largest), bandwidth in KiB/s and IOPS
/// per interval; `write_hist_log` with `log_hist_msec` writes fio's 1856 bins per line (fewer
/// with `log_hist_coarseness`), the windows' counts adding up to the I/Os; and fio's own
/// `fiologparser_hist.py` (from fio's documentation, when fio, numpy and pandas are here)
/// reads it.
#[test]
fn averaged_and_histogram_logs_as_fio_writes_them() {
    let dir = tempdir();
    let base = [
        "--name=g",
        "--filename=f",
        "--size=16m",
        "--rw=randread",
        "--ioengine=psync",
        "--time_based",
        "--runtime=1",
        "--output-format=json",
    ];
    let run = |extra: &[&str]| -> Value {
        let mut a = base.to_vec();
        a.extend(extra);
        let out = bench_in(dir.path(), &a);
        assert!(out.status.success(), "{}", common::stderr(&out));
        json(&out)
    };
    let lines = |name: &str| -> Vec<Vec<u64>> {
        std::fs::read_to_string(dir.path().join(name))
            .unwrap()
            .lines()
            .map(|l| l.split(", ").map(|x| x.trim().parse().unwrap()).collect())
            .collect()
    };
    let v = run(&[
        "--log_avg_msec=200",
        "--write_lat_log=a",
        "--write_bw_log=a",
        "--write_iops_log=a",
        "--log_offset=1",
    ]);
    let ios = v["jobs"][0]["read"]["total_ios"].as_u64().unwrap();
    // (psync has no submission step: its slat log stays empty, as fio's.)
    assert!(lines("a_slat.1.log").is_empty());
    for kind in ["lat", "clat", "bw", "iops"] {
        let l = lines(&format!("a_{kind}.1.log"));
        assert!((4..=6).contains(&l.len()), "{kind}: {} entries", l.len());
        for e in &l {
            assert_eq!(e.len(), 6, "{kind}: {e:?}");
            assert_eq!((e[2], e[3], e[4], e[5]), (0, 0, 0, 0), "{kind}: {e:?}");
            assert!(e[1] > 0, "{kind}: {e:?}");
        }
    }
    // IOPS per interval times the intervals: about the I/Os done.
    let iops: u64 = lines("a_iops.1.log").iter().map(|e| e[1] / 5).sum();
    assert!(iops > ios / 2 && iops < ios * 2, "{iops} vs {ios}");
    let mean = lines("a_clat.1.log")[1][1];
    run(&[
        "--log_avg_msec=200",
        "--log_max_value=1",
        "--write_lat_log=a",
    ]);
    let max = lines("a_clat.1.log")[1][1];
    assert!(
        max > mean,
        "a window's max ({max}) above a window's mean ({mean})"
    );
    // Histograms.
    let v = run(&["--write_hist_log=h", "--log_hist_msec=200"]);
    let ios = v["jobs"][0]["read"]["total_ios"].as_u64().unwrap();
    let h = lines("h_clat_hist.1.log");
    assert!((3..=5).contains(&h.len()), "{}", h.len());
    assert!(h.iter().all(|e| e.len() == 3 + 1856));
    let counted: u64 = h.iter().map(|e| e[3..].iter().sum::<u64>()).sum();
    assert!(counted <= ios && counted > ios / 2, "{counted} of {ios}");
    run(&[
        "--write_hist_log=c",
        "--log_hist_msec=200",
        "--log_hist_coarseness=2",
    ]);
    assert!(lines("c_clat_hist.1.log")
        .iter()
        .all(|e| e.len() == 3 + 464));
    let out = job(dir.path(), "g")
        .args(&["--filename=f", "--write_hist_log"])
        .run();
    assert!(common::stderr(&out).contains("log_hist_msec"));
    // fio's parser.
    let parser = dir.path().join("fiologparser_hist.py");
    let unpacked = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zcat /usr/share/doc/fio/fiologparser_hist.py.gz > {} && python3 -c 'import numpy, pandas'",
            parser.display()
        ))
        .status()
        .is_ok_and(|s| s.success());
    if !unpacked {
        eprintln!(
            "SKIPPED: fio's fiologparser_hist.py (fio's docs) with numpy and pandas is not here"
        );
        return;
    }
    let out = Command::new("python3")
        .arg(&parser)
        .arg(dir.path().join("h_clat_hist.1.log"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(", ").collect();
    assert_eq!(row[1].trim().parse::<u64>().unwrap(), counted, "{text}");
}

/// A verify job's logs carry its verify phase's reads too, as fio's do: 256 writes and 256
/// reads for a 1 MiB job of 4 KiB blocks (and fio's log for the same job, when installed).
#[test]
fn logs_include_the_verify_phase() {
    let dir = tempdir();
    let args = [
        "--name=v",
        "--filename=f",
        "--size=1m",
        "--rw=write",
        "--verify=crc32c",
        "--write_iops_log=vl",
        "--ioengine=libaio",
        "--direct=1",
    ];
    let count = |d: &Path| -> [usize; 2] {
        let log = std::fs::read_to_string(d.join("vl_iops.1.log")).unwrap();
        let mut c = [0; 2];
        for l in log.lines() {
            c[l.split(", ").nth(2).unwrap().parse::<usize>().unwrap()] += 1;
        }
        c
    };
    assert!(bench_in(dir.path(), &args).status.success());
    assert_eq!(count(dir.path()), [256, 256]);
    let fdir = tempdir();
    let mut fio_args = args.to_vec();
    fio_args.push("--output=/dev/null");
    if common::fio_in(fdir.path(), &fio_args).is_some() {
        assert_eq!(count(fdir.path()), [256, 256], "fio's");
    }
}

/// fio's `fio_generate_plots` (with gnuplot) draws its graphs from diorite's logs: one SVG per
/// log type, each plotting the job's log (skipped when fio_generate_plots or gnuplot is not
/// installed).
#[test]
fn fio_generate_plots_reads_the_logs() {
    let have = |c: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("fio_generate_plots") || !have("gnuplot") {
        eprintln!("SKIPPED: fio_generate_plots or gnuplot is not installed");
        return;
    }
    let dir = tempdir();
    let out = job(dir.path(), "p")
        .args(&[
            "--filename=f",
            "--size=4m",
            "--rw=randread",
            "--write_lat_log=p",
            "--write_bw_log=p",
            "--write_iops_log=p",
        ])
        .run();
    assert!(out.status.success());
    let st = Command::new("fio_generate_plots")
        .arg("t")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(st.status.success());
    for kind in ["lat", "clat", "bw", "iops"] {
        let svg = std::fs::read_to_string(dir.path().join(format!("t-{kind}.svg")))
            .unwrap_or_else(|e| panic!("t-{kind}.svg: {e}"));
        // fio_generate_plots titles each series by its log's name.
        assert!(
            svg.contains("Queue depth p.1"),
            "t-{kind}.svg has no series from p_{kind}.1.log"
        );
    }
}
