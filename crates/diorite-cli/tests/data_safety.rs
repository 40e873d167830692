//! `diorite bench` never touches what a job did not ask to touch (data safety first).
//! Each test checks the bytes outside the job's range before and after, and failed on the code
//! before the fix.

mod common;

use common::{bench, stderr, tempdir};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

fn file_of(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// A read job far past the end of a small file lays out only the 4 KiB it reads (a hole below
/// it), never the terabyte in between (before: 2.4 GB written before it was stopped).
#[test]
fn read_layout_is_bounded_to_the_jobs_range() {
    let dir = tempdir();
    let data: Vec<u8> = (0..8192u32).map(|i| (i % 251) as u8).collect();
    let f = file_of(dir.path(), "small", &data);
    let out = bench(&[
        "--name=x",
        &format!("--filename={}", f.display()),
        "--rw=read",
        "--offset=1t",
        "--size=4k",
        "--output-format=json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = std::fs::metadata(&f).unwrap();
    assert_eq!(meta.len(), (1u64 << 40) + 4096);
    assert!(
        meta.blocks() * 512 < 1 << 20,
        "only the job's 4 KiB may be written, {} bytes allocated",
        meta.blocks() * 512
    );
    let mut head = vec![0u8; 8192];
    use std::os::unix::fs::FileExt;
    std::fs::File::open(&f)
        .unwrap()
        .read_exact_at(&mut head, 0)
        .unwrap();
    assert_eq!(head, data, "the user's bytes are untouched");
}

/// A layout that cannot fit the filesystem is refused before a byte is written.
#[test]
fn layout_larger_than_the_free_space_is_refused_up_front() {
    let dir = tempdir();
    let f = dir.path().join("huge");
    let out = bench(&[
        "--name=x",
        &format!("--filename={}", f.display()),
        "--rw=read",
        "--size=1000t",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("free"), "{}", stderr(&out));
    assert!(!f.exists(), "nothing created");
}

/// Laying out an existing file whose size is not a multiple of 512 starts at its exact end
/// (before: at the end rounded down, overwriting the user's last 100 bytes).
#[test]
fn layout_never_writes_over_existing_bytes() {
    let dir = tempdir();
    let data: Vec<u8> = (0..1_000_100u32).map(|i| (i % 253) as u8).collect();
    let f = file_of(dir.path(), "odd", &data);
    let out = bench(&[
        "--name=x",
        &format!("--filename={}", f.display()),
        "--rw=read",
        "--size=2m",
        "--io_size=64k",
        "--output-format=json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = std::fs::read(&f).unwrap();
    assert_eq!(after.len(), 2 << 20);
    assert!(after[..data.len()] == data[..], "existing bytes changed");
}

/// A job refused for a bad option touches nothing: no file is created or laid out (before: the
/// target was created and filled, then the alignment check refused the job).
#[test]
fn jobs_are_validated_before_the_disk_is_touched() {
    let dir = tempdir();
    let f = dir.path().join("new");
    for bad in [
        vec!["--direct=1", "--bs=1000"],
        vec![
            "--iodepth=8",
            "--iodepth_batch_complete_min=4",
            "--iodepth_batch_complete_max=2",
        ],
        vec!["--runtime=18446744073709551615"],
        vec!["--ramp_time=18446744073709551615", "--runtime=1"],
        vec!["--offset=9223372036854775807"],
    ] {
        let mut args = vec![
            "--name=x".to_string(),
            format!("--filename={}", f.display()),
            "--rw=read".into(),
            "--size=1m".into(),
        ];
        args.extend(bad.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = bench(&args);
        assert_eq!(out.status.code(), Some(1), "{bad:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        assert!(!f.exists(), "{bad:?}: the target was created");
    }
    // A job file whose second job is bad: the first job's target is not created either.
    let job = dir.path().join("two.fio");
    let first = dir.path().join("first");
    std::fs::write(
        &job,
        format!(
            "[a]\nfilename={}\nrw=read\nsize=1m\n[b]\nfilename={}\nrw=read\nsize=1m\ndirect=1\nbs=1000\n",
            first.display(),
            f.display()
        ),
    )
    .unwrap();
    let out = bench(&[job.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!first.exists() && !f.exists());
}

/// `bsrange=-1` names what is wrong.
#[test]
fn bsrange_errors_say_what_is_expected() {
    let out = bench(&["--name=x", "--rw=read", "--size=1m", "--bsrange=-1"]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(e.contains("bsrange=-1") && e.contains("min-max"), "{e}");
}
