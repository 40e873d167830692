//! fio's command-line-only options (init.c's `l_opts`): each honoured or refused by name with
//! its reason, and refused inside job files (fio reads them only on the command line).
//! Every test runs the real binary.

mod common;

use common::{bench_in, job, tempdir};

/// Every long option of fio 3.33's command line has an answer: the ones diorite honours run
/// (or print), the others are refused by name with a reason, exit status 1, nothing written.
#[test]
fn every_fio_command_line_option_is_honoured_or_refused_by_name() {
    let dir = tempdir();
    let refused = [
        "latency-log",
        "bandwidth-log",
        "debug=io",
        "inflate-log=x",
        "profile=tiobench",
        "showcmd",
        "server",
        "server-internal",
        "daemonize=p",
        "remote-config=x",
        "cpuclock-test",
        "crctest",
        "memcpytest",
        "idle-prof=system",
        "trigger-file=t",
        "trigger-timeout=1",
        "trigger=true",
        "trigger-remote=true",
        "merge-blktrace-only",
    ];
    for o in refused {
        let name = o.split('=').next().unwrap();
        let out = bench_in(
            dir.path(),
            &["--name=x", "--filename=f", "--size=4k", &format!("--{o}")],
        );
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{o}: {err}");
        assert!(
            err.contains(&format!(
                "fio's option '--{name}' is not supported by diorite: "
            )),
            "{o}: {err}"
        );
        assert!(!dir.path().join("f").exists(), "{o}");
    }
    // --client is client mode (tests/server.rs): job options on its command line are refused
    // by name, nothing is contacted or created.
    let out = bench_in(
        dir.path(),
        &["--name=x", "--filename=f", "--size=4k", "--client=h"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("--name=x: with --client"),
        "{}",
        common::stderr(&out)
    );
    assert!(!dir.path().join("f").exists());
    // In a job file: fio's job-option grammar has none of them.
    std::fs::write(dir.path().join("j.fio"), "[j]\nsize=4k\nreadonly\n").unwrap();
    let out = bench_in(dir.path(), &["j.fio"]);
    assert!(
        common::stderr(&out).contains("j.fio:3: readonly is a command-line option"),
        "{}",
        common::stderr(&out)
    );
    // Accepted with no effect, as fio 3.33 (max-jobs) or with nothing to size (alloc-size).
    let v = job(dir.path(), "n")
        .args(&["--size=64k", "--max-jobs=2", "--alloc-size=65536"])
        .json();
    assert_eq!(v["jobs"][0]["read"]["io_bytes"], 64 << 10);
    // terse-version: 3 is what diorite writes; fio's others are refused by name.
    let out = job(dir.path(), "n")
        .args(&["--size=64k", "--terse-version=3", "--minimal"])
        .run();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("3;"));
    let out = job(dir.path(), "n")
        .args(&["--size=64k", "--terse-version=4"])
        .run();
    assert!(common::stderr(&out).contains("terse_version=4: fio's value, not supported by diorite"));
    // append-terse: the terse line as well as the normal report.
    let out = job(dir.path(), "n")
        .args(&["--size=64k", "--append-terse"])
        .run();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("3;")) && text.contains("Run status group"),
        "{text}"
    );
}

/// `--version`, `--cmdhelp` and `--enghelp` print and run nothing.
#[test]
fn version_cmdhelp_and_enghelp_print_and_run_nothing() {
    let dir = tempdir();
    let print = |args: &[&str]| {
        let out = bench_in(dir.path(), args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            common::stderr(&out),
        )
    };
    let (code, v, _) = print(&["--version"]);
    assert_eq!(code, Some(0));
    assert!(v.starts_with("diorite ") && v.contains("fio-3.33"), "{v}");
    let (_, top, _) = {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_diorite"))
            .arg("--version")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            (),
        )
    };
    assert!(top.contains("fio-3.33"), "{top}");
    let (code, h, _) = print(&["--cmdhelp=blocksize"]);
    assert_eq!(code, Some(0));
    assert!(h.contains("bs:") && h.contains("default: 4k"), "{h}");
    let (_, h, _) = print(&["--cmdhelp=ioengine"]);
    assert!(h.contains("valid values") && h.contains("posixaio"), "{h}");
    let (_, all, _) = print(&["--cmdhelp=all"]);
    assert!(all.contains("rwmixread:") && all.contains("verify_backlog:"));
    assert_eq!(print(&["--cmdhelp"]).1, all, "alone, as fio: every option");
    let (code, _, err) = print(&["--cmdhelp=blocksise"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("did you mean"), "{err}");
    let (_, e, _) = print(&["--enghelp"]);
    assert!(
        e.starts_with("Available IO engines:") && e.contains("\tio_uring\n"),
        "{e}"
    );
    let (_, e, _) = print(&["--enghelp=aio"]);
    assert!(e.starts_with("libaio: "), "{e}");
    assert_eq!(print(&["--enghelp=mmap"]).0, Some(1));
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}

/// `--readonly`: reading jobs over existing data run; a job that writes or trims, one that
/// needs its file created or extended, the default target and `unlink` are refused before
/// anything is touched.
#[test]
fn readonly_runs_readers_and_refuses_everything_that_changes_a_file() {
    let dir = tempdir();
    let f = common::data_file(dir.path(), "d", 64 << 10, 7);
    let fname = format!("--filename={}", f.display());
    let before = std::fs::read(&f).unwrap();
    let v = job(dir.path(), "r")
        .args(&["--readonly", &fname, "--rw=randread", "--size=64k"])
        .json();
    assert_eq!(v["jobs"][0]["read"]["io_bytes"], 64 << 10);
    for (extra, want) in [
        (
            &[fname.as_str(), "--rw=write"][..],
            "rw=write writes or trims",
        ),
        (
            &[fname.as_str(), "--rw=randrw"][..],
            "rw=randrw writes or trims",
        ),
        (
            &[fname.as_str(), "--size=128k"][..],
            "would have to extend it",
        ),
        (
            &["--filename=new", "--size=4k"][..],
            "would have to create it",
        ),
        (&[fname.as_str(), "--unlink=1"][..], "unlink deletes files"),
        (
            &["--size=4k"][..],
            "r.0.0: the jobs would have to create it",
        ),
    ] {
        let out = job(dir.path(), "r").args(&["--readonly"]).args(extra).run();
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
        assert!(
            err.contains(want) && err.contains("--readonly"),
            "{extra:?}: {err}"
        );
    }
    // The default job (no job option) runs on a temp file diorite writes.
    let out = bench_in(dir.path(), &["--readonly"]);
    assert!(
        common::stderr(&out).contains("the default target"),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(std::fs::read(&f).unwrap(), before);
    assert!(!dir.path().join("new").exists());
    if let Some(out) = common::fio_may_fail(
        dir.path(),
        &["--name=r", "--readonly", &fname, "--rw=write", "--size=4k"],
    ) {
        assert!(!out.status.success(), "fio refuses a writer too");
    }
}

/// `--warnings-fatal`: a warning (here fio's "time_based without runtime") ends the run
/// before anything is written; without it the run goes on.
#[test]
fn warnings_fatal_stops_a_run_that_warns() {
    let dir = tempdir();
    let args = [
        "--name=w",
        "--filename=f",
        "--size=4k",
        "--rw=write",
        "--time_based",
    ];
    let out = bench_in(dir.path(), &[&args[..], &["--warnings-fatal"]].concat());
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("warning") && err.contains("--warnings-fatal"),
        "{err}"
    );
    assert!(!dir.path().join("f").exists());
    assert!(bench_in(dir.path(), &args).status.success());
}

/// `--aux-path=DIR`: the verify state and `verify_dump` files go there, as fio's.
#[test]
fn aux_path_holds_the_verify_dumps() {
    let dir = tempdir();
    let aux = dir.path().join("aux");
    std::fs::create_dir(&aux).unwrap();
    let base = [
        "--name=v",
        "--filename=v",
        "--size=64k",
        "--rw=write",
        "--verify=crc32c",
    ];
    assert!(bench_in(dir.path(), &base).status.success());
    let mut bytes = std::fs::read(dir.path().join("v")).unwrap();
    bytes[4096 + 100] ^= 1;
    std::fs::write(dir.path().join("v"), &bytes).unwrap();
    let a = format!("--aux-path={}", aux.display());
    let out = bench_in(
        dir.path(),
        &[&base[..], &["--verify_only", "--verify_dump=1", &a]].concat(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    assert_eq!(
        std::fs::read(aux.join("v.4096.received")).unwrap(),
        bytes[4096..8192]
    );
    assert!(aux.join("v.4096.expected").exists());
    assert!(!dir.path().join("v.4096.received").exists());
    // A directory that is not there is refused before the run, by name.
    let out = bench_in(
        dir.path(),
        &[&base[..], &["--aux-path=no/such/dir"]].concat(),
    );
    assert!(
        common::stderr(&out).contains("aux-path=no/such/dir: not a directory"),
        "{}",
        common::stderr(&out)
    );
}

/// `--eta-newline=T`: every T the progress line is also written as a line of its own (here
/// with `--eta=always` on a pipe, where the redrawn bar is hidden); `--eta-interval` below
/// fio's 250 ms minimum, and an eta-newline of 0, are refused.
#[test]
fn eta_newline_keeps_progress_lines() {
    let dir = tempdir();
    let out = job(dir.path(), "e")
        .args(&[
            "--size=1m",
            "--runtime=2",
            "--time_based",
            "--eta=always",
            "--eta-newline=500ms",
        ])
        .run();
    assert!(out.status.success());
    let lines = common::stderr(&out)
        .lines()
        .filter(|l| l.contains(" IOPS "))
        .count();
    assert!((2..=5).contains(&lines), "{}", common::stderr(&out));
    let out = job(dir.path(), "e")
        .args(&["--size=1m", "--eta-interval=100ms"])
        .run();
    assert!(common::stderr(&out).contains("at least 250ms"));
    let out = job(dir.path(), "e")
        .args(&["--size=1m", "--eta-newline=0"])
        .run();
    assert_eq!(out.status.code(), Some(1));
}

/// `ioengine=posixaio` runs as glibc's POSIX AIO does — a pool with one worker per file
/// descriptor — so at depth 8 on one file with 10 ms per I/O it completes about 100 I/Os a
/// second (fio: the same; glibc serializes a descriptor's requests), where the threads engine
/// runs all 8 at once; with 4 files, 4 at once.
#[test]
fn posixaio_runs_one_worker_per_file() {
    let dir = tempdir();
    let ios = |engine: &str, files: &str| -> u64 {
        let v = job(dir.path(), "p")
            .args(&[
                "--size=1m",
                "--rw=randread",
                &format!("--ioengine={engine}"),
                &format!("--nrfiles={files}"),
                "--iodepth=8",
                "--runtime=1",
                "--time_based",
                "--inject=any:always:delay=10ms",
            ])
            .json();
        v["jobs"][0]["read"]["total_ios"].as_u64().unwrap()
    };
    let one = ios("posixaio", "1");
    let four = ios("posixaio", "4");
    let pool = ios("threads", "1");
    assert!(one <= 110, "one worker: {one}");
    assert!(
        four > 2 * one && four <= 420,
        "four workers: {four} (one: {one})"
    );
    assert!(
        pool > 4 * one,
        "the threads engine runs the depth at once: {pool}"
    );
}

/// `diorite man [bench|info]` and `diorite completions SHELL` come from the option table:
/// every option of `diorite bench --help` is in the bench man page and in each shell's
/// completions, with its aliases; an unknown page is refused by name.
#[test]
fn man_pages_and_completions_cover_every_option() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_diorite"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            common::stderr(&out),
        )
    };
    let (_, help, _) = run(&["bench", "--help"]);
    let names: Vec<String> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .map(|l| l.split(['=', '[', ' ']).next().unwrap().to_string())
        .collect();
    assert!(names.len() > 150, "{}", names.len());
    let (code, man, _) = run(&["man", "bench"]);
    assert_eq!(code, Some(0));
    assert!(man.contains(".TH diorite-bench 1"));
    for n in &names {
        assert!(
            man.contains(&format!("\\fB\\-\\-{}\\fR", n.replace('-', "\\-"))),
            "man page lacks --{n}"
        );
    }
    assert!(man.contains("blocksize"), "aliases are listed");
    let (code, top, _) = run(&["man"]);
    assert_eq!(code, Some(0));
    assert!(top.contains(".TH diorite 1") && top.contains("fio-3.33"));
    for shell in ["bash", "zsh", "fish"] {
        let (code, c, _) = run(&["completions", shell]);
        assert_eq!(code, Some(0), "{shell}");
        for n in &names {
            assert!(c.contains(n.as_str()), "{shell} completions lack --{n}");
        }
    }
    let (code, _, err) = run(&["man", "nope"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no man page named nope"), "{err}");
}
