//! fio's flow and timing: loops, start delays, `wait_for` and groups, thinktime, rates,
//! `exitall`, flow, steady state, the latency target.
//! Every test runs the real binary; those that compare with fio skip that part when fio is
//! not installed. Each came with a fix and failed on the code before it.

mod common;

use common::{bench_in, data_file, direct_4k, job, json, tempdir};
use serde_json::Value;
use std::path::Path;

/// Every test of this file takes its turn: those whose verdict depends on time (a latency
/// search, paces, ratios of running jobs) starve each other's job threads beside each other on
/// a 2-core machine (CI saw the latency search settle at depth 6 where the device allows 4),
/// and the others' job threads did too (it settled at 3 once beside them).
static TIMED: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn timed() -> std::sync::MutexGuard<'static, ()> {
    TIMED.lock().unwrap_or_else(|e| e.into_inner())
}

/// A job file: a slow writer of a pattern over 64 blocks, and a reader that checks the
/// pattern (the same job with `verify_only`: it reads and checks, writes nothing), related by
/// `extra` (`wait_for=w`, `new_group`, nothing).
fn writer_then_reader(dir: &Path, extra: &str) -> Value {
    let f = data_file(dir, "data", 256 << 10, 0);
    let job = dir.join("j.fio");
    std::fs::write(
        &job,
        format!(
            "[global]\nfilename={}\nsize=256k\nbs=4k\nioengine=io_uring\ndirect=1\n\
             verify=pattern\nverify_pattern=0xa5\n\n\
             [w]\nrw=write\nrate_iops=200\ndo_verify=0\n\n\
             [r]\n{extra}\nrw=write\nverify_only=1\ncontinue_on_error=verify\n",
            f.display()
        ),
    )
    .unwrap();
    json(&bench_in(
        dir,
        &[job.to_str().unwrap(), "--output-format=json"],
    ))
}

/// `description`, `number_ios`, `loops` and `startdelay` as fio: the description in the text
/// (`Description  : [..]`), JSON (`desc`) and terse reports; the job stops after `number_ios`
/// I/Os; `loops` repeats the I/O amount; `startdelay` delays the start, not the runtime.
#[test]
fn description_number_ios_loops_and_startdelay() {
    let _turn = timed();
    let dir = tempdir();
    let base = ["--name=x", "--filename=f", "--size=1m", "--rw=read"];
    let run = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend(extra);
        let out = bench_in(dir.path(), &a);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(&["--description=nightly"]);
    assert!(text.contains("  Description  : [nightly]"), "{text}");
    let v: Value =
        serde_json::from_str(&run(&["--description=nightly", "--output-format=json"])).unwrap();
    assert_eq!(v["jobs"][0]["desc"], "nightly");
    let terse = run(&["--description=nightly", "--output-format=terse"]);
    assert!(terse.trim_end().ends_with(";nightly"), "{terse}");
    let v: Value =
        serde_json::from_str(&run(&["--number_ios=10", "--output-format=json"])).unwrap();
    assert_eq!(v["jobs"][0]["read"]["total_ios"], 10);
    let v: Value = serde_json::from_str(&run(&["--loops=3", "--output-format=json"])).unwrap();
    assert_eq!(v["jobs"][0]["read"]["io_bytes"], 3 << 20);
    let t0 = std::time::Instant::now();
    let v: Value = serde_json::from_str(&run(&[
        "--startdelay=400ms",
        "--number_ios=1",
        "--output-format=json",
    ]))
    .unwrap();
    assert!(t0.elapsed() >= std::time::Duration::from_millis(400));
    assert!(
        v["jobs"][0]["read"]["runtime"].as_u64().unwrap() < 400,
        "the delay is not runtime"
    );
    // A range: each clone draws its own delay in it (reported per job), the same each run
    // (randrepeat).
    let ranged = |_: ()| -> Vec<u64> {
        let v: Value = serde_json::from_str(&run(&[
            "--startdelay=10ms-300ms",
            "--numjobs=4",
            "--number_ios=1",
            "--output-format=json",
        ]))
        .unwrap();
        (0..4)
            .map(|k| v["jobs"][k]["diorite"]["startdelay_ms"].as_u64().unwrap())
            .collect()
    };
    let delays = ranged(());
    assert!(delays.iter().all(|d| (10..=300).contains(d)), "{delays:?}");
    let mut distinct = delays.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 1, "{delays:?}: one delay for every clone");
    assert_eq!(ranged(()), delays, "randrepeat: the same delays again");
    let out = job(dir.path(), "x")
        .args(&["--filename=f", "--size=1m", "--startdelay=2-1"])
        .run();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("startdelay=2-1"));
}

/// fio's `wait_for`: the reader starts only once the writer finished, so it finds every block
/// written; without it the two run at once and the reader finds the blocks not yet written
/// (the control shows the test can fail). Both stay in one reporting group.
#[test]
fn wait_for_starts_a_job_after_the_job_it_names() {
    let _turn = timed();
    let dir = tempdir();
    let v = writer_then_reader(dir.path(), "wait_for=w");
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs[1]["diorite"]["verify"]["errors"], 0, "{}", jobs[1]);
    assert_eq!(jobs[1]["diorite"]["verify"]["blocks"], 64);
    assert_eq!(
        (jobs[0]["groupid"].as_u64(), jobs[1]["groupid"].as_u64()),
        (Some(0), Some(0))
    );
    let v = writer_then_reader(dir.path(), "");
    assert!(
        v["jobs"][1]["diorite"]["verify"]["errors"]
            .as_u64()
            .unwrap()
            > 0,
        "the control: a reader running beside the slow writer sees unwritten blocks"
    );
}

/// fio's `new_group`: a new reporting group, but no waiting (unlike `stonewall`): the reader
/// runs beside the writer.
#[test]
fn new_group_reports_apart_without_waiting() {
    let _turn = timed();
    let dir = tempdir();
    let v = writer_then_reader(dir.path(), "new_group");
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(
        (jobs[0]["groupid"].as_u64(), jobs[1]["groupid"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(jobs[1]["diorite"]["verify"]["errors"].as_u64().unwrap() > 0);
    let v = writer_then_reader(dir.path(), "stonewall");
    assert_eq!(v["jobs"][1]["diorite"]["verify"]["errors"], 0);
    assert_eq!(v["jobs"][1]["groupid"], 1);
}

/// `wait_for` must name an earlier job with a unique name (fio's rules); refused before
/// anything is touched.
#[test]
fn wait_for_refuses_forward_and_ambiguous_names() {
    let _turn = timed();
    let dir = tempdir();
    for (text, want) in [
        ("[a]\nwait_for=b\n[b]\n", "no job named b before it"),
        (
            "[b]\n[b]\n[a]\nwait_for=b\n",
            "more than one job is named b",
        ),
        ("[a]\nwait_for=nobody\n", "no job named nobody"),
    ] {
        let job = dir.path().join("j.fio");
        std::fs::write(
            &job,
            format!("[global]\nfilename=never-made\nsize=64k\n{text}"),
        )
        .unwrap();
        let out = bench_in(dir.path(), &[job.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            common::stderr(&out).contains(want),
            "{}",
            common::stderr(&out)
        );
        assert!(!dir.path().join("never-made").exists());
    }
}

/// fio's `thinktime`: with `thinktime_blocks_type=issue` and `thinktime_blocks=2`, every second
/// I/O issued waits for those in flight and stalls, so the queue never holds more than 2 (the
/// control without thinktime fills the depth); the stalls add up (a lower bound: each one
/// sleeps at least `thinktime`).
#[test]
fn thinktime_stalls_and_caps_the_depth() {
    let _turn = timed();
    let dir = tempdir();
    let f = data_file(dir.path(), "data", 1 << 20, 1);
    let file = format!("--filename={}", f.display());
    let base = [
        "--name=t",
        &file,
        "--size=1m",
        "--rw=randread",
        "--iodepth=16",
    ];
    let run = |extra: &[&str]| json(&direct_4k(dir.path(), &base, extra));
    let deep = |v: &Value| -> f64 {
        ["4", "8", "16", "32", ">=64"]
            .iter()
            .map(|k| v["jobs"][0]["iodepth_level"][k].as_f64().unwrap_or(0.0))
            .sum()
    };
    let v = run(&[]);
    assert!(
        deep(&v) > 0.0,
        "the control fills the queue: {}",
        v["jobs"][0]["iodepth_level"]
    );
    let v = run(&[
        "--thinktime=2ms",
        "--thinktime_blocks=2",
        "--thinktime_blocks_type=issue",
    ]);
    assert_eq!(v["jobs"][0]["read"]["total_ios"], 256);
    assert_eq!(
        deep(&v),
        0.0,
        "depth above 2: {}",
        v["jobs"][0]["iodepth_level"]
    );
    // 256 I/Os, a stall of at least 2 ms after every second one.
    assert!(v["jobs"][0]["job_runtime"].as_u64().unwrap() >= 127 * 2);
    // Plain numbers are microseconds; the spin must fit in the thinktime.
    let out = job(dir.path(), "t")
        .args(&[
            "--filename=x",
            "--size=64k",
            "--thinktime=10",
            "--thinktime_spin=20",
        ])
        .run();
    assert!(common::stderr(&out).contains("thinktime_spin=20us is longer than thinktime=10us"));
}

/// fio's `rate` / `rate_iops` per direction (upper bounds only: never a speed target), a mixed
/// job switching to the direction under budget (io_u.c `rate_ddir`; the test fails without the
/// switch), and `rate_iops_min` ending a job that falls below it. (The drain before a rate wait
/// is fio's too, but not told apart here: at these rates the queue is empty by then anyway.)
#[test]
fn rates_cap_each_direction_drain_the_queue_and_enforce_a_floor() {
    let _turn = timed();
    let dir = tempdir();
    let f = data_file(dir.path(), "data", 4 << 20, 1);
    let file = format!("--filename={}", f.display());
    let base = [
        "--name=rt",
        &file,
        "--iodepth=8",
        "--runtime=1",
        "--time_based",
    ];
    let run = |extra: &[&str]| direct_4k(dir.path(), &base, extra);
    let bytes = |v: &Value, d: &str| v["jobs"][0][d]["io_bytes"].as_u64().unwrap();
    // 200 KiB/s of reads for 1 s: at most the budget plus the I/O that starts it.
    let v = json(&run(&["--rw=randread", "--rate=200k"]));
    assert!(bytes(&v, "read") <= 204800 + 4096, "{}", bytes(&v, "read"));
    // At 50 I/Os per second the queue never holds more than one.
    let lv = &v["jobs"][0]["iodepth_level"];
    assert_eq!(lv["1"].as_f64().unwrap(), 100.0, "{lv}");
    // Writes capped, reads not: a mixed job switches to reads while writes are over budget.
    let v = json(&run(&["--rw=randrw", "--rate=,40k"]));
    assert!(bytes(&v, "write") <= 40960 + 4096, "{}", bytes(&v, "write"));
    assert!(bytes(&v, "read") > 4 * bytes(&v, "write"), "{v}");
    // Both capped per direction (one value for both): each stays within its own budget.
    let v = json(&run(&["--rw=randrw", "--rate_iops=25"]));
    for d in ["read", "write"] {
        assert!(
            v["jobs"][0][d]["total_ios"].as_u64().unwrap() <= 26,
            "{d}: {v}"
        );
    }
    // A floor above the cap: after fio's 2 s settle period and one cycle, the job ends with
    // an error naming it.
    let out = run(&[
        "--rw=randread",
        "--rate_iops=20",
        "--rate_iops_min=100",
        "--rate_cycle=500",
        "--runtime=4",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("rate_iops_min=100 not met"),
        "{}",
        common::stderr(&out)
    );
    // A trim value changes nothing for a job that does not trim (as in fio); a trimming job
    // is refused by name.
    assert!(run(&["--rw=randread", "--rate=1m,1m,1m"]).status.success());
    let out = run(&["--rw=randtrim", "--rate=1m,1m,1m"]);
    assert!(
        common::stderr(&out).contains("a rate for trims"),
        "{}",
        common::stderr(&out)
    );
}

/// fio's `exitall` / `exit_what`: when the short job `a` ends, `exit_what=group` ends the
/// jobs of its reporting group (not those of another group), `all` every job — also one of a
/// later stonewall phase, which then ends as it starts. (Without exitall, `b` runs its 3 s.)
#[test]
fn exitall_ends_the_jobs_exit_what_names() {
    let _turn = timed();
    let dir = tempdir();
    std::fs::write(dir.path().join("data"), vec![1u8; 1 << 20]).unwrap();
    let run = |a_extra: &str, b_extra: &str, c: &str| {
        let job = dir.path().join("j.fio");
        std::fs::write(
            &job,
            format!(
                "[global]\nfilename=data\nsize=1m\nrw=randread\n\
                 [a]\nnumber_ios=10\nthinktime=10ms\n{a_extra}\n\
                 [b]\nruntime=3\ntime_based\n{b_extra}\n{c}"
            ),
        )
        .unwrap();
        let v = json(&bench_in(
            dir.path(),
            &[job.to_str().unwrap(), "--output-format=json"],
        ));
        let ms: Vec<u64> = v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["job_runtime"].as_u64().unwrap())
            .collect();
        ms
    };
    let ms = run("exitall", "", "");
    assert!(ms[1] < 2000, "b ends with a: {ms:?}");
    let ms = run("exitall", "new_group", "");
    assert!(ms[1] >= 2900, "b is in another group: {ms:?}");
    let ms = run(
        "exitall\nexit_what=all",
        "new_group",
        "[c]\nstonewall\nruntime=3\ntime_based\n",
    );
    assert!(
        ms[1] < 2000 && ms[2] < 2000,
        "all: b and the later c end: {ms:?}"
    );
    let ms = run("", "", "");
    assert!(
        ms[1] >= 2900,
        "the control: without exitall b runs on: {ms:?}"
    );
}

/// fio's `flow` (flow.c): readers in one `flow_id` keep their I/O counts in the ratio of their
/// weights; a job in another flow_id is not held back by them; a job capped by a rate holds
/// its flow partner to its own pace. Counted from the jobs' I/O logs over their first 800 ms,
/// while all of them run (a job whose partner has ended runs free, as in fio, and the ends
/// jitter by milliseconds).
#[test]
fn flow_weights_keep_jobs_in_ratio() {
    let _turn = timed();
    let dir = tempdir();
    let counts = |jobs: [&str; 3]| -> Vec<f64> {
        let job = |name: &str, extra: &str| {
            format!(
                "[{name}]\nfilename=f\nsize=4m\nrw=randread\nioengine=psync\ntime_based\n\
                 runtime=1\nflow_sleep=100\nwrite_iops_log=fl\n{extra}\n"
            )
        };
        let file = format!(
            "{}{}{}",
            job("a", jobs[0]),
            job("b", jobs[1]),
            job("c", jobs[2])
        );
        std::fs::write(dir.path().join("flow.fio"), file).unwrap();
        let out = bench_in(dir.path(), &["flow.fio"]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        (1..=3)
            .map(|k| {
                let log =
                    std::fs::read_to_string(dir.path().join(format!("fl_iops.{k}.log"))).unwrap();
                log.lines()
                    .filter(|l| l.split(", ").next().unwrap().parse::<u64>().unwrap() < 800)
                    .count() as f64
            })
            .collect()
    };
    let n = counts(["flow=1", "flow=3", "flow_id=7\nflow=1"]);
    let ratio = n[1] / n[0];
    assert!((2.6..3.4).contains(&ratio), "{n:?}");
    assert!(n[2] > n[0] * 1.5, "c is in another flow: {n:?}");
    // The control: without flow the two run free, about even — how even is the scheduler's
    // (three job threads on this machine's two cores, beside the other tests of this file:
    // 0.59 was seen in CI), so the bound only has to stay clear of the weighted case's ~3.
    let n = counts(["", "", ""]);
    let ratio = n[1] / n[0];
    assert!((0.4..2.2).contains(&ratio), "without flow: {n:?}");
    // b capped at 300 IOPS: a, at a third of b's weight, does about a third of b's I/Os.
    let n = counts(["flow=1", "flow=3\nrate_iops=300", "flow_id=7\nflow=1"]);
    let ratio = n[1] / n[0];
    assert!((2.4..3.6).contains(&ratio), "with b rate-capped: {n:?}");
}

/// fio's `rate_process=poisson` (backend.c `usec_for_io`): the gaps between I/Os are
/// exponential with the rate's mean (about a fifth within 3 ms of it), where `linear` paces
/// them evenly (nearly all within 3 ms); `io_submit_mode=offload`: a rate wait does not drain what is in flight, so on
/// a device taking 20 ms per I/O at 200 IOPS the queue stays 4 deep, where `inline` drains and
/// then catches up in bursts; poisson without a rate is refused.
#[test]
fn rate_process_and_offload_submission() {
    let _turn = timed();
    let dir = tempdir();
    let gaps = |process: &str| -> (f64, f64) {
        let p = format!("--rate_process={process}");
        let out = job(dir.path(), "o")
            .args(&[
                "--size=1m",
                "--rw=randread",
                "--ioengine=null",
                "--rate_iops=100",
                "--number_ios=200",
                &p,
                "--write_iops_log=pp",
            ])
            .run();
        assert!(out.status.success(), "{}", common::stderr(&out));
        let log = std::fs::read_to_string(dir.path().join("pp_iops.1.log")).unwrap();
        let t: Vec<f64> = log
            .lines()
            .map(|l| l.split(", ").next().unwrap().parse().unwrap())
            .collect();
        let g: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = g.iter().sum::<f64>() / g.len() as f64;
        // The share of gaps within 3 ms of the mean: robust against the few long stalls
        // (and the catch-up gaps after them) a loaded machine causes, which a coefficient of
        // variation is not (CI saw 0.35 for linear). Even gaps: nearly all; exponential gaps
        // of mean 10 ms: e^-1 * 2 sinh(0.3), about 0.22.
        let near = g.iter().filter(|x| (*x - mean).abs() <= 3.0).count() as f64 / g.len() as f64;
        (mean, near)
    };
    let (mean, near) = gaps("linear");
    assert!(
        (8.0..12.0).contains(&mean) && near > 0.6,
        "linear: mean gap {mean} ms, {near} within 3 ms"
    );
    let (mean, near) = gaps("poisson");
    assert!(
        (7.0..14.0).contains(&mean) && near < 0.45,
        "poisson: mean gap {mean} ms, {near} within 3 ms"
    );
    let depth4 = |mode: &str| -> f64 {
        let m = format!("--io_submit_mode={mode}");
        let v = job(dir.path(), "o")
            .args(&[
                "--filename=f",
                "--size=1m",
                "--rw=randread",
                "--ioengine=threads",
                "--iodepth=8",
                "--rate_iops=200",
                "--number_ios=60",
                "--inject=any:always:delay=20ms",
                &m,
            ])
            .json();
        v["jobs"][0]["iodepth_level"]["4"].as_f64().unwrap()
    };
    let (inline, offload) = (depth4("inline"), depth4("offload"));
    assert!(offload >= 70.0, "offload keeps 4 in flight: {offload}%");
    assert!(inline <= 55.0, "inline drains: {inline}%");
    let out = job(dir.path(), "o")
        .args(&["--filename=f", "--size=1m", "--rate_process=poisson"])
        .run();
    assert!(common::stderr(&out).contains("rate_process=poisson"));
}

/// fio's steady state: a job whose IOPS settle ends once the window of `ss_dur`
/// (sampled every `ss_interval`) meets the criterion, long before its runtime, and reports
/// fio's `steadystate` block (criterion string, data arrays of the window's length) and text
/// line; a criterion that cannot be met runs the whole runtime, `attained` 0; with
/// `group_reporting` a group is judged and ended as one; `ss` without `ss_dur` is refused.
/// With fio installed, fio's block has the same keys.
#[test]
fn steady_state_ends_jobs_once_attained() {
    let _turn = timed();
    let dir = tempdir();
    let base = [
        "--name=s",
        "--filename=f",
        "--size=4m",
        "--rw=randread",
        "--ioengine=psync",
        "--time_based",
        "--ss_dur=2",
        "--ss_interval=500ms",
        "--output-format=json",
    ];
    let run = |extra: &[&str]| -> Value {
        let mut a = base.to_vec();
        a.extend(extra);
        json(&bench_in(dir.path(), &a))
    };
    let v = run(&["--runtime=30", "--ss=iops:60%"]);
    let j = &v["jobs"][0];
    let ss = &j["steadystate"];
    assert_eq!(ss["attained"], 1, "{ss}");
    assert_eq!(ss["ss"], "iops:60.000000%");
    assert_eq!(ss["duration"], 2);
    assert_eq!(ss["data"]["iops"].as_array().unwrap().len(), 4);
    assert!(ss["criterion"].as_str().unwrap().ends_with('%'));
    assert!(
        j["read"]["runtime"].as_u64().unwrap() < 15_000,
        "ended early"
    );
    let v = run(&["--runtime=3", "--ss=bw_slope:0"]);
    let ss = &v["jobs"][0]["steadystate"];
    assert_eq!(ss["attained"], 0, "{ss}");
    assert!(v["jobs"][0]["read"]["runtime"].as_u64().unwrap() >= 2900);
    // A group judged as one: both clones end together, early.
    let v = run(&[
        "--runtime=30",
        "--ss=iops:60%",
        "--numjobs=2",
        "--group_reporting",
    ]);
    let j = &v["jobs"][0];
    assert_eq!(j["steadystate"]["attained"], 1);
    assert!(j["read"]["runtime"].as_u64().unwrap() < 15_000);
    let text = {
        let mut a = base.to_vec();
        a.retain(|x| *x != "--output-format=json");
        a.extend(["--runtime=30", "--ss=iops:60%"]);
        String::from_utf8(bench_in(dir.path(), &a).stdout).unwrap()
    };
    assert!(
        text.contains("  steadystate  : attained=yes, bw="),
        "{text}"
    );
    assert!(text.contains("iops mean dev="), "{text}");
    let out = job(dir.path(), "s")
        .args(&["--filename=f", "--ss=iops:5%"])
        .run();
    assert!(common::stderr(&out).contains("give ss_dur"));
    // fio's block has the same keys.
    let fa = [
        "--name=s",
        "--filename=f",
        "--size=4m",
        "--rw=randread",
        "--time_based",
        "--runtime=4",
        "--ss_dur=2",
        "--ss=iops:60%",
        "--output-format=json",
    ];
    if let Some(o) = common::fio_in(dir.path(), &fa) {
        let f: Value = serde_json::from_slice(&o.stdout).unwrap();
        let keys = |v: &Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.extend(v["data"].as_object().unwrap().keys().cloned());
            k.sort();
            k
        };
        let ours = run(&["--runtime=4", "--ss=iops:60%"]);
        assert_eq!(
            keys(&f["jobs"][0]["steadystate"]),
            keys(&ours["jobs"][0]["steadystate"])
        );
    }
}

/// fio's latency-target search (io_u.c `lat_target_*`): on a device whose latency grows with
/// the queue (one worker, 40 ms per I/O: depth d takes about d x 40 ms), a 180 ms target settles
/// at depth 4 (160 ms; 5 would take 200), the job runs one
/// last window there (statistics from it alone) and ends by itself; the report carries fio's
/// `latency   : target=…, window=…, percentile=…, depth=…` line and JSON fields;
/// `max_latency` ends a job whose I/O is slower with ETIMEDOUT; the search's other options
/// without a target are refused.
#[test]
fn latency_target_finds_the_deepest_queue_that_meets_it() {
    let _turn = timed();
    // One worker makes the latency at each depth certain, with 20 ms of margin either side of
    // the target: with two workers and a 25 ms target the answer depended on how the pool
    // spread the queue and on a 5 ms scheduling hiccup (it found depth 3 in 4 of 6 runs, on
    // the code before and after the runner's restructuring alike); with 20 ms I/Os and a 90 ms
    // target (10 ms of margin) a CI run beside the file's other tests found depth 3 once.
    let dir = tempdir();
    let args = [
        "--name=l",
        "--filename=f",
        "--size=4m",
        "--rw=randread",
        "--ioengine=threads",
        "--pool_threads=1",
        "--iodepth=32",
        "--inject=any:always:delay=40ms",
        "--latency_target=180ms",
        "--latency_window=200ms",
        "--time_based",
        "--runtime=30",
    ];
    let mut a = args.to_vec();
    a.push("--output-format=json,normal");
    let out = bench_in(dir.path(), &a);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("latency   : target=180000000, window=200000, percentile=100.00%, depth=4"),
        "{stdout}"
    );
    let v: Value = serde_json::from_str(&stdout[stdout.find('{').unwrap()..]).unwrap();
    let j = &v["jobs"][0];
    assert_eq!(j["latency_depth"], 4);
    assert_eq!(j["latency_target"], 180_000_000);
    assert!(
        j["read"]["runtime"].as_u64().unwrap() < 5_000,
        "ends by itself"
    );
    assert!(j["read"]["lat_ns"]["mean"].as_f64().unwrap() < 180e6);
    // max_latency: slower I/O ends the job.
    let out = job(dir.path(), "m")
        .args(&[
            "--filename=f",
            "--size=4m",
            "--ioengine=threads",
            "--inject=any:always:delay=10ms",
            "--max_latency=5ms",
        ])
        .run();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("max_latency"));
    let out = job(dir.path(), "m")
        .args(&["--filename=f", "--latency_window=1s"])
        .run();
    assert!(common::stderr(&out).contains("latency_target"));
}

/// fio's `iodepth_low`: once the queue is full (16) it drains to 4 before filling again, so
/// I/Os are submitted at depths 5..16 in turn — fio's depth histogram 25% in "4", 67% in "8",
/// 8% in "16" — where without it nearly every I/O finds the queue full, as with a mark of 0
/// or above iodepth. Side by side with fio when installed (the same libaio job on the same
/// file).
#[test]
fn iodepth_low_lets_a_full_queue_drain_before_refilling() {
    let _turn = timed();
    let dir = tempdir();
    common::data_file(dir.path(), "d", 16 << 20, 1);
    let levels = |low: &str, fio: bool| -> Option<[f64; 3]> {
        let args = [
            "--name=l",
            "--filename=d",
            "--size=16m",
            "--rw=randread",
            "--ioengine=libaio",
            "--direct=1",
            "--iodepth=16",
            low,
            "--output-format=json",
        ];
        let out = if fio {
            common::fio_in(dir.path(), &args)?
        } else {
            common::bench_in(dir.path(), &args)
        };
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let l = &v["jobs"][0]["iodepth_level"];
        Some(["4", "8", "16"].map(|k| l[k].as_f64().unwrap()))
    };
    for fio in [false, true] {
        let Some(full) = levels("--iodepth_low=16", fio) else {
            continue;
        };
        assert!(
            full[2] > 90.0,
            "fio={fio}: without a low mark the queue stays full: {full:?}"
        );
        let low = levels("--iodepth_low=4", fio).unwrap();
        assert!(
            (20.0..30.0).contains(&low[0]) && (60.0..72.0).contains(&low[1]) && low[2] < 12.0,
            "fio={fio}: drains to 4: {low:?}"
        );
        // The extremes: 0 and a mark above iodepth keep the queue full, as fio settles them.
        for extreme in ["--iodepth_low=0", "--iodepth_low=100"] {
            let l = levels(extreme, fio).unwrap();
            assert!(l[2] > 90.0, "fio={fio} {extreme}: {l:?}");
        }
    }
}

/// fio's `ramp_time` on a job bounded by size: when the size is done inside the ramp, the ramp
/// never ends, so nothing is reset — fio reports the job's I/Os, bytes and runtime, but no
/// latency (nothing is timed in the ramp); when the ramp ends part way, what came after it is
/// reported (1024 reads at 1000 IOPS, 500 ms ramp: about 524, with latencies). Before: 0
/// bytes in the first case. Side by side with fio.
#[test]
fn ramp_time_on_a_size_bounded_job_reports_as_fio() {
    let _turn = timed();
    let dir = tempdir();
    data_file(dir.path(), "rf", 4 << 20, 3);
    let run = |extra: &[&str], fio: bool| -> Option<(u64, u64, u64)> {
        let mut a = vec![
            "--name=r",
            "--filename=rf",
            "--size=4m",
            "--rw=read",
            "--output-format=json",
        ];
        a.extend_from_slice(extra);
        let out = if fio {
            common::fio_in(dir.path(), &a)?
        } else {
            bench_in(dir.path(), &a)
        };
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let r = &v["jobs"][0]["read"];
        Some((
            r["io_bytes"].as_u64().unwrap(),
            r["total_ios"].as_u64().unwrap(),
            r["clat_ns"]["N"].as_u64().unwrap(),
        ))
    };
    for fio in [false, true] {
        let Some(inside) = run(&["--ramp_time=1"], fio) else {
            continue;
        };
        assert_eq!(
            inside,
            (4 << 20, 1024, 0),
            "fio={fio}: done inside the ramp"
        );
        let (bytes, ios, n) = run(&["--ramp_time=500ms", "--rate_iops=1000"], fio).unwrap();
        assert!(
            (380..=650).contains(&ios) && n == ios && bytes == ios * 4096,
            "fio={fio}: after the ramp: {ios} {n}"
        );
    }
}

/// fio's rate wait (io_u.c `rate_ddir`, inline mode): ahead of the pace, the job drains what
/// is in flight and then still sleeps the whole gap it computed before the drain (fio's
/// `usec_sleep`, spun when shorter than `nanosleep` can do, so it ends on time). At 200 IOPS
/// on a device taking 20 ms per I/O that is a 25 ms cycle of 5 I/Os, submitted at depths
/// 1..5 — fio's histogram 20% "1", 40% "2", 40% "4" — where releasing as soon as the drain
/// ended (the code before) gave 4-I/O cycles (25/50/25).
#[test]
fn a_rate_wait_sleeps_its_gap_after_draining_as_fio() {
    let _turn = timed();
    let dir = tempdir();
    let v = job(dir.path(), "p")
        .args(&[
            "--size=1m",
            "--rw=randread",
            "--ioengine=threads",
            "--iodepth=16",
            "--rate_iops=200",
            "--number_ios=100",
            "--inject=any:always:delay=20ms",
        ])
        .json();
    let l = &v["jobs"][0]["iodepth_level"];
    let (one, two, four) = (
        l["1"].as_f64().unwrap(),
        l["2"].as_f64().unwrap(),
        l["4"].as_f64().unwrap(),
    );
    assert!(
        (14.0..28.0).contains(&one) && (32.0..48.0).contains(&two) && (32.0..50.0).contains(&four),
        "{l}"
    );
}
