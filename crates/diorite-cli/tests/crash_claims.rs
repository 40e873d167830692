//! diorite's `crash=STATES`: a write job recorded on the faulty backend, and what its options
//! promise (`fsync=N`, `fdatasync=N`, `end_fsync`, `sync=dsync`) checked in simulated power
//! cuts — nothing lost against a promise on an honest device, every promise broken found when
//! the device drops its flushes, and the jobs the recorder cannot follow refused before anything
//! is written.

mod common;

use common::{job, stderr, tempdir};
use serde_json::Value;

fn crash_of(v: &Value) -> &Value {
    &v["jobs"][0]["diorite"]["crash"]
}

const BASE: &[&str] = &[
    "--size=2m",
    "--rw=randwrite",
    "--bs=4k",
    "--iodepth=8",
    "--ioengine=io_uring",
    "--direct=1",
    "--crash=40",
    "--output-format=json",
];

#[test]
fn fsync_promises_hold_and_unsynced_writes_are_lost_as_allowed() {
    let dir = tempdir();
    let v = job(dir.path(), "w").args(BASE).arg("--fsync=16").json();
    let c = crash_of(&v);
    assert_eq!(c["states"], 40, "{c}");
    assert_eq!(c["lost_promised"], 0, "{c}");
    assert!(
        c["checked"].as_u64().unwrap() > 0,
        "promised blocks were checked: {c}"
    );
    assert!(
        c["lost_allowed"].as_u64().unwrap() > 0,
        "unsynced writes may be lost: {c}"
    );
    assert!(v["jobs"][0]["diorite"]["backend_report"]
        .as_str()
        .unwrap()
        .contains("recording for crash states"));
    // fdatasync=N promises the same.
    let v = job(dir.path(), "d").args(BASE).arg("--fdatasync=8").json();
    assert_eq!(crash_of(&v)["lost_promised"], 0, "{}", crash_of(&v));
    assert!(crash_of(&v)["checked"].as_u64().unwrap() > 0);
}

#[test]
fn a_device_that_drops_flushes_breaks_the_promise_and_fails_the_run() {
    let dir = tempdir();
    let out = job(dir.path(), "w")
        .args(BASE)
        .args(&["--fsync=16", "--inject=fsync:always:drop"])
        .run();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = crash_of(&v);
    assert!(c["lost_promised"].as_u64().unwrap() > 0, "{c}");
    assert!(c["states_failed"].as_u64().unwrap() > 0, "{c}");
    let first = c["first"].as_str().unwrap();
    assert!(
        first.contains("crash state (seed") && first.contains("promised durable"),
        "{first}"
    );
    assert!(
        stderr(&out).contains("lost against a promise"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dsync_promises_every_completed_write_and_end_fsync_the_whole_job() {
    let dir = tempdir();
    let v = job(dir.path(), "s").args(BASE).arg("--sync=dsync").json();
    let c = crash_of(&v);
    assert_eq!(
        (c["lost_promised"].as_u64(), c["lost_allowed"].as_u64()),
        (Some(0), Some(0)),
        "{c}"
    );
    assert!(c["checked"].as_u64().unwrap() > 0, "{c}");
    // end_fsync alone promises everything once it completed: the last state checks all 4096
    // blocks of 512 bytes (or 512 of 4096 bytes, by the file's block).
    let v = job(dir.path(), "e").args(BASE).arg("--end_fsync=1").json();
    let c = crash_of(&v);
    assert_eq!(c["lost_promised"], 0, "{c}");
    assert_eq!(
        c["checked"].as_u64().unwrap() * c["block"].as_u64().unwrap(),
        2 << 20,
        "{c}"
    );
    // A job without crash= has no crash object in its JSON.
    let v = job(dir.path(), "plain")
        .args(&[
            "--size=1m",
            "--rw=write",
            "--ioengine=io_uring",
            "--direct=1",
        ])
        .arg("--output-format=json")
        .json();
    assert!(
        v["jobs"][0]["diorite"].get("crash").is_none(),
        "{}",
        v["jobs"][0]["diorite"]
    );
    // Without any sync nothing is promised: nothing to check, everything may be lost.
    let v = job(dir.path(), "n").args(BASE).json();
    let c = crash_of(&v);
    assert_eq!(c["checked"], 0, "{c}");
    assert!(c["lost_allowed"].as_u64().unwrap() > 0, "{c}");
}

#[test]
fn jobs_the_recorder_cannot_follow_are_refused_before_anything_is_written() {
    let dir = tempdir();
    for (extra, says) in [
        (&["--rw=randread"][..], "does not write"),
        (&["--ioengine=psync"][..], "engine context"),
        (&["--ioengine=null"][..], "engine context"),
        (&["--time_based", "--runtime=1"][..], "time_based"),
        (&["--size=512m"][..], "at most 256 MiB"),
        (
            &["--unlink_each_loop=1", "--loops=2"][..],
            "unlink_each_loop",
        ),
    ] {
        let f = dir.path().join("never");
        let out = job(dir.path(), "x").args(BASE).args(extra).file(&f).run();
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        let e = stderr(&out);
        assert!(e.contains("crash") && e.contains(says), "{extra:?}: {e}");
        assert!(!f.exists(), "{extra:?}: nothing created");
    }
    // No size: the record's bound is unknown.
    let f = common::data_file(dir.path(), "existing", 1 << 20, 7);
    let out = job(dir.path(), "x")
        .args(&[
            "--rw=write",
            "--ioengine=io_uring",
            "--direct=1",
            "--crash=5",
        ])
        .file(&f)
        .run();
    assert!(stderr(&out).contains("give size="), "{}", stderr(&out));
    assert!(
        std::fs::read(&f).unwrap().iter().all(|&b| b == 7),
        "nothing written"
    );
}

#[test]
fn atomic_writes_are_never_torn_in_any_state() {
    let Some(fs) = common::Xfs::new(512 << 20) else {
        return;
    };
    let f = fs.dir.join("a");
    std::fs::write(&f, vec![1u8; 2 << 20]).unwrap();
    // 16 KiB atomic writes: many units each, so a state could tear one if the device got it as
    // a plain write.
    let v = job(fs.dir.as_path(), "a")
        .args(BASE)
        .args(&["--bs=16k", "--atomic=1", "--fsync=8", "--crash=60"])
        .file(&f)
        .json();
    let c = crash_of(&v);
    assert_eq!(c["lost_promised"], 0, "{c}");
    assert!(c["checked"].as_u64().unwrap() > 0, "{c}");
}
