//! `diorite server` against an unmodified `fio --client` (fio 3.33, protocol 97; skipped with a
//! message when fio is absent), and against raw frames: job files and command lines run and
//! reported as fio reports a server's results, several servers summed in "All clients", paths
//! outside what the operator allowed refused with nothing created, malformed frames and a
//! version mismatch answered and the server still serving, one run at a time, a client that
//! goes away stopping its job. Loopback and unix sockets only.

mod common;

use common::{fio_in, fio_may_fail, tempdir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `diorite server` child, killed when dropped; `addr` is what it listens on (fio syntax).
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_diorite"))
            .arg("server")
            .args(if extra.iter().any(|a| a.starts_with("--bind")) {
                &[][..]
            } else {
                &["--bind=ip:127.0.0.1,0"][..]
            })
            .args(extra)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("diorite server starts");
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server { child, addr }
    }

    fn port(&self) -> u16 {
        self.addr.rsplit(',').next().unwrap().parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An unmodified `fio --server` child on a free loopback port, killed when dropped.
struct FioServer {
    child: Child,
    addr: String,
}

impl FioServer {
    fn start(dir: &Path) -> FioServer {
        FioServer::start_binary(Path::new("fio"), dir)
    }

    fn start_binary(fio: &Path, dir: &Path) -> FioServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("ip:127.0.0.1,{port}");
        let child = Command::new(fio)
            .arg(format!("--server={addr}"))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "fio --server did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        FioServer { child, addr }
    }
}

impl Drop for FioServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const JOB: &str = "[global]\nsize=2m\nbs=4k\nioengine=io_uring\ndirect=1\n\
                   [w]\nrw=randwrite\nfilename=w.dat\n[r]\nstonewall\nrw=randread\nfilename=w.dat\n";

fn fio_available() -> bool {
    let ok = Command::new("fio").arg("--version").output().is_ok();
    if !ok {
        eprintln!("SKIPPED: fio is not installed (apt-get install fio)");
    }
    ok
}

/// `fio --client=ADDR` with a job file made of these options (fio's client sends job files;
/// options on its own command line are parsed locally, not sent).
fn run_job(dir: &Path, addr: &str, name: &str, opts: &[&str]) -> std::process::Output {
    let mut job = format!("[{name}]\n");
    for o in opts {
        job += o.trim_start_matches("--");
        job += "\n";
    }
    let file = format!("{name}.fio");
    std::fs::write(dir.join(&file), job).unwrap();
    let client = format!("--client={addr}");
    fio_may_fail(dir, &[&client, &file]).unwrap()
}

fn text(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn fio_client_runs_a_job_file_and_a_command_line_on_a_diorite_server() {
    if !fio_available() {
        return;
    }
    let (srv_dir, cli_dir) = (tempdir(), tempdir());
    let srv = Server::start(srv_dir.path(), &[]);
    std::fs::write(cli_dir.path().join("job.fio"), JOB).unwrap();
    let client = format!("--client={}", srv.addr);
    let out = fio_in(cli_dir.path(), &[&client, "job.fio"]).unwrap();
    let t = text(&out);
    for want in [
        "fio=diorite-",
        "<", // the server's lines, prefixed with its host name
        "w: (g=0): rw=randwrite, bs=(R) 4096B-4096B, (W) 4096B-4096B, (T) 4096B-4096B, ioengine=io_uring, iodepth=1",
        "Starting 2 threads",
        "w: (groupid=0, jobs=1): err= 0",
        "issued rwts: total=0,512,0,0",
        "r: (groupid=1, jobs=1): err= 0",
        "issued rwts: total=512,0,0,0",
        "clat percentiles (",
        "99.95th=[",
        "Run status group 0 (all jobs):",
        "WRITE: bw=",
        "io=2048KiB",
        "Run status group 1 (all jobs):",
    ] {
        assert!(t.contains(want), "{want:?} missing in:\n{t}");
    }
    // The job file the server saved for its parser is gone; the job's data file was made where
    // the server runs, not where the client does.
    let left: Vec<_> = std::fs::read_dir(srv_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["w.dat".to_string()],
        "nothing else left in the scratch directory"
    );
    assert_eq!(
        std::fs::metadata(srv_dir.path().join("w.dat"))
            .unwrap()
            .len(),
        2 << 20
    );
    assert!(!cli_dir.path().join("w.dat").exists());
    // JSON: fio's client renders it from the same stats, with the options as given.
    let out = fio_in(
        cli_dir.path(),
        &[&client, "job.fio", "--output-format=json"],
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let w = &v["client_stats"][0];
    assert_eq!(w["jobname"], "w");
    assert_eq!(w["write"]["io_bytes"], 2 << 20);
    assert_eq!(w["write"]["total_ios"], 512);
    assert!(
        w["write"]["clat_ns"]["percentile"]["99.000000"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(w["job options"]["rw"], "randwrite");
    assert_eq!(v["global options"]["ioengine"], "io_uring");
    // Terse: as many fields as the same client prints for fio's own server (compared in
    // `the_same_job_file_on_diorite_servers_and_fio_servers`): 121, without disk fields.
    let out = fio_in(
        cli_dir.path(),
        &[&client, "job.fio", "--output-format=terse"],
    )
    .unwrap();
    let remote = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = remote
        .lines()
        .find(|l| l.starts_with("3;"))
        .unwrap_or_else(|| panic!("{remote}"));
    assert_eq!(line.split(';').count(), 121, "{line}");
}

#[test]
fn all_clients_sums_four_diorite_servers_as_fio_sums_four_fio_servers() {
    if !fio_available() {
        return;
    }
    let dirs: Vec<_> = (0..4).map(|_| tempdir()).collect();
    let servers: Vec<Server> = dirs.iter().map(|d| Server::start(d.path(), &[])).collect();
    let cli = tempdir();
    std::fs::write(
        cli.path().join("job.fio"),
        "[global]\nsize=1m\nbs=4k\nioengine=libaio\ndirect=1\n[w]\nrw=write\nfilename=x.dat\nnumjobs=2\ngroup_reporting\n",
    )
    .unwrap();
    let hosts: Vec<String> = servers
        .iter()
        .map(|s| format!("--client={}", s.addr))
        .collect();
    let mut args: Vec<&str> = Vec::new();
    for h in &hosts {
        args.push(h);
        args.push("job.fio");
    }
    let out = fio_in(cli.path(), &args).unwrap();
    let t = text(&out);
    // Each host: one group report of both clones (2 x 256 writes); all clients: 4 hosts.
    assert_eq!(t.matches("issued rwts: total=0,512,0,0").count(), 4, "{t}");
    let all = t
        .split("All clients:")
        .nth(1)
        .unwrap_or_else(|| panic!("no All clients in:\n{t}"));
    assert!(all.contains("issued rwts: total=0,2048,0,0"), "{all}");
}

/// The key paths of a JSON value (arrays: their first element's).
fn key_paths(v: &serde_json::Value, at: &str, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{k}");
                out.insert(p.clone());
                key_paths(x, &p, out);
            }
        }
        serde_json::Value::Array(a) => {
            if let Some(x) = a.first() {
                key_paths(x, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_same_job_file_on_diorite_servers_and_fio_servers() {
    if !fio_available() {
        return;
    }
    // Several jobs and groups, numjobs, a verify job, a rate-limited job, a time-based job
    // and size-bounded ones.
    let job = "[global]\nsize=1m\nbs=4k\nioengine=libaio\ndirect=1\n\
               [a]\nrw=write\nfilename=a.dat\nnumjobs=2\n\
               [v]\nrw=write\nfilename=v.dat\nsize=512k\nverify=crc32c\n\
               [b]\nstonewall\nrw=randread\nfilename=a.dat\nbs=8k\n\
               [c]\nrw=randwrite\nfilename=c.dat\nrate_iops=2000\n\
               [t]\nstonewall\nrw=read\nfilename=a.dat\ntime_based\nruntime=1\n";
    let cli = tempdir();
    std::fs::write(cli.path().join("job.fio"), job).unwrap();
    let dirs: Vec<_> = (0..8).map(|_| tempdir()).collect();
    let ours: Vec<Server> = dirs[..4]
        .iter()
        .map(|d| Server::start(d.path(), &[]))
        .collect();
    let theirs: Vec<FioServer> = dirs[4..]
        .iter()
        .map(|d| FioServer::start(d.path()))
        .collect();
    let run = |addrs: Vec<&str>, format: &str| {
        let mut args: Vec<String> = Vec::new();
        for a in addrs {
            args.push(format!("--client={a}"));
            args.push("job.fio".into());
        }
        args.push(format!("--output-format={format}"));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = fio_in(cli.path(), &a).unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ours_addr: Vec<&str> = ours.iter().map(|s| s.addr.as_str()).collect();
    let theirs_addr: Vec<&str> = theirs.iter().map(|s| s.addr.as_str()).collect();
    // Normal: the same jobs, groups, directions, I/O counts per host, and All clients.
    let (a, b) = (
        run(ours_addr.clone(), "normal"),
        run(theirs_addr.clone(), "normal"),
    );
    // Each job's header and group, each size-bounded job's I/O counts (the time-based job `t`
    // moves what the device gives it), each group's status line.
    let pick = |t: &str| -> Vec<String> {
        let mut v = Vec::new();
        let mut job = String::new();
        // The ETA line ("Jobs: N (f=N)") ends in a carriage return before the next line.
        for l in t.lines().map(|l| l.rsplit('\r').next().unwrap_or(l)) {
            if l.contains("(groupid=") {
                job = l.split(':').next().unwrap_or("").trim().to_string();
                v.push(l.split(": err=").next().unwrap_or(l).trim().to_string());
            } else if l.contains("issued rwts") && job != "t" && job != "All clients" {
                v.push(format!("{job} {}", l.trim()));
            } else if l.contains("Run status group") {
                v.push(l.trim().to_string());
            }
        }
        v.sort();
        v
    };
    assert_eq!(pick(&a), pick(&b), "diorite:\n{a}\nfio:\n{b}");
    assert!(a.contains("All clients") && b.contains("All clients"));
    // JSON: the same keys.
    let (a, b) = (
        run(ours_addr.clone(), "json"),
        run(theirs_addr.clone(), "json"),
    );
    let (mut ka, mut kb) = (Default::default(), Default::default());
    key_paths(&serde_json::from_str(&a).unwrap(), "", &mut ka);
    key_paths(&serde_json::from_str(&b).unwrap(), "", &mut kb);
    let only_ours: Vec<_> = ka.difference(&kb).collect();
    let only_fio: Vec<_> = kb.difference(&ka).collect();
    assert!(
        only_ours.is_empty() && only_fio.is_empty(),
        "only diorite: {only_ours:?}\nonly fio: {only_fio:?}"
    );
    // Terse: the same lines, each with the same number of fields.
    let (a, b) = (run(ours_addr, "terse"), run(theirs_addr, "terse"));
    // (An ETA line may precede a terse line on the same output line.)
    let fields = |t: &str| -> Vec<usize> {
        let mut v: Vec<usize> = t
            .lines()
            .filter_map(|l| l.find("3;fio-").map(|at| l[at..].split(';').count()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(fields(&a), fields(&b), "diorite:\n{a}\nfio:\n{b}");
}

#[test]
fn a_path_outside_what_the_operator_allowed_is_refused_and_nothing_is_created() {
    if !fio_available() {
        return;
    }
    let (srv_dir, cli, outside) = (tempdir(), tempdir(), tempdir());
    let srv = Server::start(srv_dir.path(), &[]);
    let target = outside.path().join("victim.dat");
    let name = format!("filename={}", target.display());
    let out = run_job(cli.path(), &srv.addr, "x", &["rw=write", "size=1m", &name]);
    let t = text(&out);
    assert!(
        t.contains("outside what this server allows") && t.contains("victim.dat"),
        "{t}"
    );
    assert!(!target.exists(), "nothing created");
    // A relative path climbing out of the scratch directory, and a directory outside.
    for bad in [
        &["filename=../escape.dat"][..],
        &["filename=ok.dat", "directory=/tmp"][..],
    ] {
        let mut a = vec!["rw=write", "size=1m"];
        a.extend_from_slice(bad);
        let out = run_job(cli.path(), &srv.addr, "x", &a);
        assert!(
            text(&out).contains("outside what this server allows"),
            "{bad:?}: {}",
            text(&out)
        );
    }
    assert!(!srv_dir.path().join("ok.dat").exists());
    // fio's --remote-config (LOAD_FILE: the server reads a job file of its own): refused by name.
    let client = format!("--client={}", srv.addr);
    let out = fio_may_fail(cli.path(), &[&client, "--remote-config", "/etc/hostname"]).unwrap();
    assert!(
        text(&out).contains("LOAD_FILE is not supported"),
        "{}",
        text(&out)
    );
    assert!(!srv_dir.path().parent().unwrap().join("escape.dat").exists());
    // --allow opens a directory; the same job then runs.
    let srv2 = Server::start(
        srv_dir.path(),
        &[&format!("--allow={}", outside.path().display())],
    );
    let out = run_job(cli.path(), &srv2.addr, "x", &["rw=write", "size=1m", &name]);
    assert!(
        text(&out).contains("x: (groupid=0, jobs=1): err= 0"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::metadata(&target).unwrap().len(), 1 << 20);
}

/// One frame as fio writes it.
fn frame(version: u16, opcode: u16, tag: u64, payload: &[u8]) -> Vec<u8> {
    frame_flags(version, opcode, 0, tag, payload)
}

fn frame_flags(version: u16, opcode: u16, flags: u32, tag: u64, payload: &[u8]) -> Vec<u8> {
    fn crc16(d: &[u8]) -> u16 {
        let mut c = 0u16;
        for &b in d {
            c ^= u16::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xa001
                } else {
                    c >> 1
                };
            }
        }
        c
    }
    let mut h = Vec::new();
    h.extend_from_slice(&version.to_le_bytes());
    h.extend_from_slice(&opcode.to_le_bytes());
    h.extend_from_slice(&flags.to_le_bytes());
    h.extend_from_slice(&tag.to_le_bytes());
    h.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let c = crc16(&h);
    h.extend_from_slice(&c.to_le_bytes());
    h.extend_from_slice(&crc16(payload).to_le_bytes());
    h.extend_from_slice(payload);
    h
}

/// Everything the server sends until it closes (bounded by a timeout).
fn drain(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}

#[test]
fn bad_frames_get_an_answer_and_a_closed_connection_and_the_server_goes_on() {
    let dir = tempdir();
    let srv = Server::start(dir.path(), &["--max-payload=8192"]);
    let connect = || TcpStream::connect(("127.0.0.1", srv.port())).unwrap();
    // Version mismatch: a TEXT naming both versions, then QUIT.
    let mut s = connect();
    s.write_all(&frame(96, 10, 1, &[0u8; 136])).unwrap();
    let got = String::from_utf8_lossy(&drain(&mut s)).into_owned();
    assert!(
        got.contains("speaks fio protocol 96")
            && got.contains("speaks 97 (fio 3.33), 120 (fio 3.42)"),
        "{got}"
    );
    // Said in the client's version, so its client can print it.
    assert_eq!(
        u16::from_le_bytes(got.as_bytes()[0..2].try_into().unwrap()),
        96
    );
    // A version-120 client (fio 3.42) is answered in version 120.
    let mut s = connect();
    s.write_all(&frame(120, 10, 9, &[0u8; 136])).unwrap();
    let mut hdr = [0u8; 24];
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.read_exact(&mut hdr).unwrap();
    assert_eq!(u16::from_le_bytes([hdr[0], hdr[1]]), 120);
    assert_eq!(u16::from_le_bytes([hdr[2], hdr[3]]), 10, "a PROBE reply");
    drop(s);
    // A bad header CRC, a bad payload CRC, an unknown opcode, a payload past the limit, a
    // fragment sequence that never ends, garbage, a half-sent frame: each closes the connection.
    let mut bad_crc = frame(97, 10, 1, &[0u8; 136]);
    bad_crc[3] ^= 1;
    let mut bad_pdu = frame(97, 3, 1, b"xxxxxxxx");
    bad_pdu[30] ^= 1;
    // JOB fragments flagged MORE, past the 8 KiB limit.
    let more = frame_flags(97, 3, 1, 1, &[1u8; 1024]).repeat(20);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("header crc", bad_crc),
        ("payload crc", bad_pdu),
        ("unknown opcode", frame(97, 99, 1, &[])),
        ("endless fragments", more),
        ("garbage", vec![0xab; 4096]),
        ("half a header", frame(97, 10, 1, &[])[..10].to_vec()),
    ];
    for (what, bytes) in cases {
        let mut s = connect();
        let _ = s.write_all(&bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let t0 = Instant::now();
        let _ = drain(&mut s);
        assert!(
            t0.elapsed() < Duration::from_secs(9),
            "{what}: connection closed promptly"
        );
    }
    // Mutated frames, every field, for a bounded time: the server answers or closes, never
    // dies.
    let base = frame(97, 10, 7, &[0u8; 136]);
    let t0 = Instant::now();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    while t0.elapsed() < Duration::from_secs(3) {
        let mut f = base.clone();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = (x % f.len() as u64) as usize;
        f[at] ^= (x >> 32) as u8 | 1;
        let mut s = connect();
        let _ = s.write_all(&f);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = drain(&mut s);
    }
    // The command-line form (JOBLINE, as fio's client sends it for --remote-config and
    // scripted clients): parsed and answered with START (one job).
    let mut s = connect();
    let mut line = vec![4u8, 0, 0, 0];
    for a in ["fio", "--name=j", "--rw=write", "--size=64k"] {
        line.extend_from_slice(&((a.len() + 1) as u16).to_le_bytes());
        line.extend_from_slice(a.as_bytes());
        line.push(0);
    }
    s.write_all(&frame(97, 4, 0, &line)).unwrap();
    let mut hdr = [0u8; 24];
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    loop {
        s.read_exact(&mut hdr).unwrap();
        let len = u32::from_le_bytes(hdr[16..20].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).unwrap();
        match u16::from_le_bytes([hdr[2], hdr[3]]) {
            5 | 15 => continue, // TEXT: the job's line; ADD_JOB (in fragments)
            11 => {
                assert_eq!(
                    u32::from_le_bytes(body[0..4].try_into().unwrap()),
                    1,
                    "jobs"
                );
                break;
            }
            other => panic!("opcode {other}: {}", String::from_utf8_lossy(&body)),
        }
    }
    drop(s);
    // Still serving: a PROBE gets its answer.
    let mut s = connect();
    s.write_all(&frame(97, 10, 5, &[0u8; 136])).unwrap();
    let mut hdr = [0u8; 24];
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.read_exact(&mut hdr).unwrap();
    assert_eq!(u16::from_le_bytes([hdr[2], hdr[3]]), 10, "a PROBE reply");
    assert_eq!(
        u64::from_le_bytes(hdr[8..16].try_into().unwrap()),
        5,
        "its tag echoed"
    );
}

#[test]
fn one_run_at_a_time_and_a_client_that_goes_away_stops_its_job() {
    if !fio_available() {
        return;
    }
    let (srv_dir, cli) = (tempdir(), tempdir());
    let srv = Server::start(srv_dir.path(), &[]);
    std::fs::write(
        cli.path().join("long.fio"),
        "[long]\nrw=randread\nsize=4m\nfilename=l.dat\ntime_based\nruntime=30\n",
    )
    .unwrap();
    let mut first = Command::new("fio")
        .arg(format!("--client={}", srv.addr))
        .arg("long.fio")
        .current_dir(cli.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // A second client while the first runs: told the server is busy.
    let out = run_job(
        cli.path(),
        &srv.addr,
        "b",
        &["rw=read", "size=1m", "filename=b.dat"],
    );
    assert!(text(&out).contains("busy"), "{}", text(&out));
    // The first client goes away: its job stops, and the next client runs at once.
    first.kill().unwrap();
    let _ = first.wait();
    let t0 = Instant::now();
    loop {
        let out = run_job(
            cli.path(),
            &srv.addr,
            "c",
            &["rw=read", "size=1m", "filename=c.dat"],
        );
        if text(&out).contains("c: (groupid=0, jobs=1): err= 0") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "still busy: {}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_unix_socket_server() {
    if !fio_available() {
        return;
    }
    let (srv_dir, cli) = (tempdir(), tempdir());
    let sock = srv_dir.path().join("d.sock");
    let bind = format!("--bind=sock:{}", sock.display());
    let _srv = Server::start(srv_dir.path(), &[&bind]);
    let addr = format!("sock:{}", sock.display());
    let out = run_job(
        cli.path(),
        &addr,
        "u",
        &["rw=write", "size=1m", "filename=u.dat"],
    );
    assert!(
        text(&out).contains("u: (groupid=0, jobs=1): err= 0"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_server_killed_mid_run_is_reported_and_the_others_results_stand() {
    if !fio_available() {
        return;
    }
    let (out, _) = one_of_two_killed_mid_run(|dir, ca, cb| {
        fio_may_fail(dir, &[ca, "t.fio", cb, "t.fio"]).unwrap()
    });
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("disconnected"), "{t}");
    assert!(
        t.contains("t: (groupid=0, jobs=1): err= 0"),
        "the other host's results: {t}"
    );
}

/// Two servers run a 3 s job from `client(dir, --client=A, --client=B)`; A is killed (SIGKILL)
/// 1.5 s in. The client's output, and A's address.
fn one_of_two_killed_mid_run(
    client: impl FnOnce(&Path, &str, &str) -> std::process::Output + Send + 'static,
) -> (std::process::Output, String) {
    let (a_dir, b_dir, cli) = (tempdir(), tempdir(), tempdir());
    let mut a = Server::start(a_dir.path(), &[]);
    let b = Server::start(b_dir.path(), &[]);
    std::fs::write(
        cli.path().join("t.fio"),
        "[t]\nrw=randread\nsize=4m\nfilename=t.dat\ntime_based\nruntime=3\n",
    )
    .unwrap();
    let (ca, cb) = (
        format!("--client={}", a.addr),
        format!("--client={}", b.addr),
    );
    let run = std::thread::spawn({
        let dir = cli.path().to_path_buf();
        move || client(&dir, &ca, &cb)
    });
    std::thread::sleep(Duration::from_millis(1500));
    a.child.kill().unwrap(); // SIGKILL
    (run.join().unwrap(), a.addr.clone())
}

/// A newer fio's client (protocol 120, fio 3.42, built from its source: `DIORITE_FIO_NEW` names
/// the binary) drives a diorite server as fio 3.33's does.
#[test]
fn a_newer_fio_client_drives_a_diorite_server() {
    let Some(fio) = std::env::var_os("DIORITE_FIO_NEW") else {
        eprintln!(
            "SKIPPED: DIORITE_FIO_NEW is not set (a fio 3.42 binary built from source; \
             see docs/cli.md); version 120's layouts are checked by the unit tests"
        );
        return;
    };
    let (srv_dir, cli) = (tempdir(), tempdir());
    let srv = Server::start(srv_dir.path(), &[]);
    std::fs::write(cli.path().join("job.fio"), JOB).unwrap();
    for format in ["normal", "json"] {
        let out = Command::new(&fio)
            .arg(format!("--client={}", srv.addr))
            .arg("job.fio")
            .arg(format!("--output-format={format}"))
            .current_dir(cli.path())
            .output()
            .unwrap();
        let t = text(&out);
        assert!(out.status.success(), "{t}");
        if format == "normal" {
            assert!(
                t.contains("w: (groupid=0, jobs=1): err= 0")
                    && t.contains("issued rwts: total=0,512,0,0"),
                "{t}"
            );
            assert!(t.contains("Run status group 1 (all jobs):"), "{t}");
        } else {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["client_stats"][0]["write"]["total_ios"], 512, "{t}");
        }
    }
    // Its logs, in version 120's samples (two values each): as from fio 3.33's.
    let job = log_job(cli.path(), false);
    let out = Command::new(&fio)
        .arg(format!("--client={}", srv.addr))
        .arg(&job)
        .current_dir(cli.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    check_logs(cli.path(), "127.0.0.1", false, true);
    // And a fio 3.42 server's logs, through diorite's client.
    let fsrv_dir = tempdir();
    let fsrv = FioServer::start_binary(Path::new(&fio), fsrv_dir.path());
    let job = log_job(cli.path(), true);
    let out = diorite_bench(cli.path(), &[&format!("--client={}", fsrv.addr), &job]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("protocol 120"), "{}", text(&out));
    check_logs(cli.path(), &fsrv.addr, true, false);
}

#[test]
fn a_symlink_out_of_the_scratch_directory_a_silent_client_and_a_failing_job() {
    if !fio_available() {
        return;
    }
    let (srv_dir, cli, outside) = (tempdir(), tempdir(), tempdir());
    // A link inside the allowed directory that leads out of it does not make its target
    // allowed.
    std::os::unix::fs::symlink(outside.path(), srv_dir.path().join("link")).unwrap();
    let srv = Server::start(srv_dir.path(), &["--idle=1"]);
    let out = run_job(
        cli.path(),
        &srv.addr,
        "s",
        &["rw=write", "size=1m", "filename=link/s.dat"],
    );
    assert!(
        text(&out).contains("outside what this server allows"),
        "{}",
        text(&out)
    );
    assert!(!outside.path().join("s.dat").exists());
    // A client that connects and says nothing is closed after --idle.
    let mut s = TcpStream::connect(("127.0.0.1", srv.port())).unwrap();
    let t0 = Instant::now();
    let _ = drain(&mut s);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "closed after the idle limit"
    );
    // While a job runs, a client that asks for no ETA (fio --eta=never) says nothing for
    // longer than the idle limit: the job still runs to its end.
    std::fs::write(
        cli.path().join("q.fio"),
        "[q]\nrw=read\nsize=1m\nfilename=q.dat\ntime_based\nruntime=3\n",
    )
    .unwrap();
    let client = format!("--client={}", srv.addr);
    let out = fio_in(
        cli.path(),
        &[&client, "--eta=never", "q.fio", "--output-format=json"],
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ran = v["client_stats"][0]["read"]["runtime"].as_u64().unwrap();
    assert!(
        ran >= 2500,
        "the job ran its 3 s, not cut at the idle limit: {ran} ms"
    );
    // A job that fails on the server: its error in the client's report, and exit 1.
    let out = run_job(
        cli.path(),
        &srv.addr,
        "e",
        &[
            "rw=write",
            "size=1m",
            "filename=e.dat",
            "ioengine=io_uring",
            "inject=write:nth=3:eio",
        ],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("e: (groupid=0, jobs=1): err= 5"), "{t}");
}

/// A diorite server and a fio server side by side, and a client directory holding `file`
/// with `job` in it (the directories live as long as the returned guards).
fn side_by_side(
    file: &str,
    job: &str,
) -> (Server, FioServer, tempfile::TempDir, [tempfile::TempDir; 2]) {
    let dirs = [tempdir(), tempdir()];
    let ours = Server::start(dirs[0].path(), &[]);
    let theirs = FioServer::start(dirs[1].path());
    let cli = tempdir();
    std::fs::write(cli.path().join(file), job).unwrap();
    (ours, theirs, cli, dirs)
}

#[test]
fn per_priority_latencies_reach_the_client_as_from_a_fio_server() {
    if !fio_available() {
        return;
    }
    let (ours, theirs, cli, _dirs) = side_by_side(
        "p.fio",
        "[p]\nrw=randread\nsize=4m\nfilename=p.dat\nioengine=io_uring\ndirect=1\niodepth=8\ncmdprio_percentage=50\n",
    );
    let prio_lines = |addr: &str| -> Vec<String> {
        let out = fio_in(cli.path(), &[&format!("--client={addr}"), "p.fio"]).unwrap();
        let mut v: Vec<String> = text(&out)
            .lines()
            .filter(|l| l.contains("clat prio"))
            .map(|l| l.split(" (").next().unwrap_or(l).trim().to_string())
            .collect();
        v.sort();
        v
    };
    let (a, b) = (prio_lines(&ours.addr), prio_lines(&theirs.addr));
    assert_eq!(
        a.len(),
        4,
        "two priorities, each with its latency and percentiles: {a:?}"
    );
    assert_eq!(a, b);
}

#[test]
fn steady_state_reaches_the_client_as_from_a_fio_server() {
    if !fio_available() {
        return;
    }
    let (ours, theirs, cli, _dirs) = side_by_side(
        "s.fio",
        "[s]\nrw=randread\nsize=4m\nfilename=s.dat\nioengine=io_uring\ntime_based\nruntime=6\nss=iops:50%\nss_dur=3s\n",
    );
    let run = |addr: &str| -> (String, serde_json::Value) {
        let c = format!("--client={addr}");
        let normal = text(&fio_in(cli.path(), &[&c, "s.fio"]).unwrap());
        let out = fio_in(cli.path(), &[&c, "s.fio", "--output-format=json"]).unwrap();
        (normal, serde_json::from_slice(&out.stdout).unwrap())
    };
    let ((a, ja), (b, jb)) = (run(&ours.addr), run(&theirs.addr));
    for t in [&a, &b] {
        assert!(t.contains("steadystate  : attained="), "{t}");
    }
    let (sa, sb) = (
        &ja["client_stats"][0]["steadystate"],
        &jb["client_stats"][0]["steadystate"],
    );
    assert_eq!(sa["ss"], sb["ss"]);
    assert_eq!(sa["duration"], sb["duration"]);
    assert_eq!(sa["data"]["iops"].as_array().map(Vec::len), Some(3), "{sa}");
    assert_eq!(sb["data"]["iops"].as_array().map(Vec::len), Some(3), "{sb}");
    assert!(sa["data"]["iops_mean"].as_u64().unwrap() > 0, "{sa}");
}

fn diorite_bench(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_diorite"))
        .arg("bench")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn diorite_bench_client_drives_diorite_and_fio_servers() {
    if !fio_available() {
        return;
    }
    let dirs: Vec<_> = (0..4).map(|_| tempdir()).collect();
    let ours: Vec<Server> = dirs[..2]
        .iter()
        .map(|d| Server::start(d.path(), &[]))
        .collect();
    let theirs: Vec<FioServer> = dirs[2..]
        .iter()
        .map(|d| FioServer::start(d.path()))
        .collect();
    let cli = tempdir();
    std::fs::write(cli.path().join("job.fio"), JOB).unwrap();
    let addrs: Vec<String> = ours
        .iter()
        .map(|s| s.addr.clone())
        .chain(theirs.iter().map(|s| s.addr.clone()))
        .collect();
    let mut args: Vec<String> = Vec::new();
    for a in &addrs {
        args.push(format!("--client={a}"));
        args.push("job.fio".into());
    }
    let run = |format: &str| {
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        let f = format!("--output-format={format}");
        a.push(&f);
        let out = diorite_bench(cli.path(), &a);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Normal: every host's lines and jobs, then All clients (4 hosts x 512 reads and writes).
    let t = run("normal");
    for a in &addrs {
        assert!(t.contains(&format!("<{a}> hostname=")), "{a} in:\n{t}");
    }
    assert_eq!(t.matches("issued rwts: total=0,512,0,0").count(), 4, "{t}");
    assert_eq!(t.matches("issued rwts: total=512,0,0,0").count(), 4, "{t}");
    let all = t
        .split("All clients:")
        .nth(1)
        .unwrap_or_else(|| panic!("{t}"));
    assert!(all.contains("issued rwts: total=2048,2048,0,0"), "{all}");
    // The same I/O counts per host as fio's own client prints for the same servers.
    let mut fio_args: Vec<&str> = args.iter().map(String::as_str).collect();
    fio_args.push("--output-format=normal");
    let f = text(&fio_in(cli.path(), &fio_args).unwrap());
    let issued = |s: &str| -> Vec<String> {
        let mut v: Vec<String> = s
            .split("All clients")
            .next()
            .unwrap()
            .lines()
            .filter(|l| l.contains("issued rwts"))
            .map(|l| l.trim().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(issued(&t), issued(&f));
    // JSON: each host's jobs with its host name, then All clients.
    let v: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let stats = v["client_stats"].as_array().unwrap();
    assert_eq!(stats.len(), 9, "{v}");
    for a in &addrs {
        assert_eq!(
            stats.iter().filter(|j| j["hostname"] == a.as_str()).count(),
            2,
            "{a}"
        );
    }
    let last = stats.last().unwrap();
    assert_eq!(
        (
            last["jobname"].as_str(),
            last["write"]["total_ios"].as_u64()
        ),
        (Some("All clients"), Some(2048))
    );
    assert_eq!(stats[0]["job options"]["rw"], "randwrite");
    // Every key fio's own client gives a host's job is there too (diorite adds its own).
    let mut fio_json_args: Vec<&str> = args.iter().map(String::as_str).collect();
    fio_json_args.push("--output-format=json");
    let fj: serde_json::Value =
        serde_json::from_slice(&fio_in(cli.path(), &fio_json_args).unwrap().stdout).unwrap();
    let (mut ours_keys, mut fio_keys) = (Default::default(), Default::default());
    key_paths(&stats[0], "", &mut ours_keys);
    key_paths(&fj["client_stats"][0], "", &mut fio_keys);
    let missing: Vec<_> = fio_keys.difference(&ours_keys).collect();
    assert!(missing.is_empty(), "fio's keys missing: {missing:?}");
    // json+: every latency series with its histogram bins, rebuilt from fio's buckets.
    let v: serde_json::Value = serde_json::from_str(&run("json+")).unwrap();
    let bins = &v["client_stats"][0]["write"]["clat_ns"]["bins"];
    let counted: u64 = bins
        .as_object()
        .unwrap()
        .values()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(counted, 512, "{bins}");
    // Terse: a line per job per host, and All clients.
    let t = run("terse");
    assert_eq!(
        t.lines().filter(|l| l.starts_with("3;diorite-")).count(),
        9,
        "{t}"
    );
}

#[test]
fn diorite_bench_client_bad_input_and_an_unreachable_host() {
    let (cli, srv_dir) = (tempdir(), tempdir());
    std::fs::write(cli.path().join("job.fio"), JOB).unwrap();
    for (args, says) in [
        (&["--client=ip:127.0.0.1,1"][..], "no job file given"),
        (
            &["--client=ip:127.0.0.1,1", "missing.fio"][..],
            "reading missing.fio",
        ),
        (
            &["--client=ip:127.0.0.1,1", "job.fio", "--rw=read"][..],
            "--rw=read: with --client",
        ),
        (&["--client=ip:1.2.3.4,99999", "job.fio"][..], "port"),
        (
            &["--client=ip:127.0.0.1,1", "job.fio", "--output-format=xml"][..],
            "--output-format=xml",
        ),
        (
            &["--client=ip:127.0.0.1,1", "job.fio", "job.fio"][..],
            "one job file per host",
        ),
        (
            &["job.fio", "--client=ip:127.0.0.1,1"][..],
            "a job file for no host",
        ),
    ] {
        let out = diorite_bench(cli.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
    // A host nobody listens on: reported; the other host's results stand; exit 1.
    let srv = Server::start(srv_dir.path(), &[]);
    let good = format!("--client={}", srv.addr);
    let out = diorite_bench(
        cli.path(),
        &["--client=ip:127.0.0.1,1", "job.fio", &good, "job.fio"],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("client <ip:127.0.0.1,1>: connecting"), "{t}");
    assert!(t.contains("w: (groupid=0, jobs=1): err= 0"), "{t}");
    // A host list file: one address per line, comments skipped, the job file after it.
    let srv2_dir = tempdir();
    let srv2 = Server::start(srv2_dir.path(), &[]);
    let list = cli.path().join("hosts");
    std::fs::write(
        &list,
        format!("# the fleet\n{}\n\n{}\n", srv.addr, srv2.addr),
    )
    .unwrap();
    let out = diorite_bench(
        cli.path(),
        &[&format!("--client={}", list.display()), "job.fio"],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert_eq!(t.matches("issued rwts: total=0,512,0,0").count(), 2, "{t}");
}

#[test]
fn diorite_bench_client_reports_a_server_killed_mid_run() {
    let (out, a) =
        one_of_two_killed_mid_run(|dir, ca, cb| diorite_bench(dir, &[ca, "t.fio", cb, "t.fio"]));
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!("client <{a}>: disconnected before its results")),
        "{t}"
    );
    assert!(
        t.contains("t: (groupid=0, jobs=1): err= 0"),
        "the other host's results: {t}"
    );
}

#[test]
fn an_ipv6_loopback_server() {
    if !fio_available() {
        return;
    }
    let (srv_dir, cli) = (tempdir(), tempdir());
    let srv = Server::start(srv_dir.path(), &["--bind=ip6:::1,0"]);
    assert!(srv.addr.starts_with("ip6:::1,"), "{}", srv.addr);
    let out = run_job(
        cli.path(),
        &srv.addr,
        "u",
        &["rw=write", "size=1m", "filename=u.dat"],
    );
    assert!(
        text(&out).contains("u: (groupid=0, jobs=1): err= 0"),
        "{}",
        text(&out)
    );
}

/// The files a directory holds whose names contain `part`, sorted.
fn files_with(dir: &Path, part: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(part))
        .collect();
    v.sort();
    v
}

fn lines_of(p: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| l.split(", ").map(str::to_string).collect())
        .collect()
}

/// A job with every per-I/O log: the latency logs (an absolute prefix, outside what the
/// server allows: a server writes no log), bandwidth (named after the job), IOPS, and a
/// coarsened histogram; rate-limited so the histogram has windows.
fn log_job(cli: &Path, offset: bool) -> String {
    let lat = cli.join("lg");
    let job = format!(
        "[global]\nsize=1m\nbs=4k\nioengine=io_uring\ndirect=1\nfilename=l.dat\n\
         [job]\nrw=randwrite\nrate_iops=2500\nwrite_lat_log={}\nwrite_bw_log\n\
         write_iops_log=io\nwrite_hist_log=h\nlog_hist_msec=10\nlog_hist_coarseness=2\n\
         log_offset={}\n",
        lat.display(),
        u8::from(offset)
    );
    std::fs::write(cli.join("logs.fio"), job).unwrap();
    "logs.fio".into()
}

/// Every log of a 256-write job, as a client wrote it for `host`: the same names, the per-I/O
/// logs one line per write with fio's columns, the histogram 3 + 1856/4 columns. `windows`:
/// the histogram's windows count each write at most once (fio writes them so locally; fio
/// 3.33's server sends windows that grow: 29, 25, 54, 50, 79 ... latencies).
fn check_logs(cli: &Path, host: &str, offset: bool, windows: bool) {
    let names = files_with(cli, &format!(".log.{host}"));
    let want: Vec<String> = [
        "h_clat_hist.1.log",
        "io_iops.1.log",
        "job_bw.1.log",
        "lg_clat.1.log",
        "lg_lat.1.log",
        "lg_slat.1.log",
    ]
    .iter()
    .map(|n| format!("{n}.{host}"))
    .collect();
    assert_eq!(names, want, "{host}");
    let cols = if offset { 6 } else { 5 };
    for n in &names[1..] {
        let lines = lines_of(&cli.join(n));
        assert_eq!(lines.len(), 256, "{n}");
        assert!(
            lines
                .iter()
                .all(|l| l.len() == cols && l[2] == "1" && l[3] == "4096"),
            "{n}"
        );
        if n.starts_with("io_iops") {
            assert!(lines.iter().all(|l| l[1] == "1"), "{n}");
        }
        if offset {
            // Each write's offset, a 4 KiB multiple inside the 1 MiB file, each once.
            let mut offs: Vec<u64> = lines.iter().map(|l| l[4].parse().unwrap()).collect();
            offs.sort_unstable();
            offs.dedup();
            assert_eq!(offs.len(), 256, "{n}");
            assert!(offs.iter().all(|o| o % 4096 == 0 && *o < 1 << 20), "{n}");
        }
    }
    let hist = lines_of(&cli.join(&names[0]));
    assert!(!hist.is_empty(), "{host}: no histogram windows");
    assert!(hist.iter().all(|l| l.len() == 3 + 1856 / 4), "{host}");
    let counted: u64 = hist
        .iter()
        .flat_map(|l| &l[3..])
        .map(|v| v.parse::<u64>().unwrap())
        .sum();
    assert!(counted > 0, "{host}: an empty histogram");
    assert!(
        !windows || counted <= 256,
        "{host}: {counted} latencies in the histogram"
    );
}

#[test]
fn per_io_logs_come_back_to_the_client_as_from_a_fio_server() {
    if !fio_available() {
        return;
    }
    let (srv_dir, fsrv_dir, cli) = (tempdir(), tempdir(), tempdir());
    let srv = Server::start(srv_dir.path(), &[]);
    let fsrv = FioServer::start(fsrv_dir.path());
    let job = log_job(cli.path(), false);
    // fio's own client, against a diorite server and a fio server: the same files.
    for (addr, diorite) in [(&srv.addr, true), (&fsrv.addr, false)] {
        let out = fio_in(cli.path(), &[&format!("--client={addr}"), &job]).unwrap();
        assert!(text(&out).contains("err= 0"), "{}", text(&out));
        check_logs(cli.path(), "127.0.0.1", false, diorite);
        for f in files_with(cli.path(), ".log.") {
            std::fs::remove_file(cli.path().join(f)).unwrap();
        }
    }
    // A server writes no log of its own: its directory holds the job's data file only.
    assert_eq!(files_with(srv_dir.path(), ""), ["l.dat"]);
    // diorite's client, with offsets (fio's own client writes only the first 4/5 of such a
    // log: it sizes the samples without their offsets).
    let job = log_job(cli.path(), true);
    for (addr, diorite) in [(&srv.addr, true), (&fsrv.addr, false)] {
        let out = diorite_bench(cli.path(), &[&format!("--client={addr}"), &job]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        check_logs(cli.path(), addr, true, diorite);
    }
}

/// A server that answers PROBE, then sends one IOLOG named `name` and ends the run.
fn lying_server(name: &str) -> (String, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("ip:127.0.0.1,{}", l.local_addr().unwrap().port());
    let name = name.to_string();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let read_one = |s: &mut TcpStream| {
            let mut h = [0u8; 24];
            s.read_exact(&mut h).unwrap();
            let len = u32::from_le_bytes(h[16..20].try_into().unwrap()) as usize;
            let mut p = vec![0; len];
            s.read_exact(&mut p).unwrap();
            u16::from_le_bytes([h[2], h[3]])
        };
        assert_eq!(read_one(&mut s), 10, "PROBE");
        s.write_all(&frame(97, 10, 1, &[0; 512])).unwrap();
        // The IOLOG: fio 3.33's header (288 bytes), one uncompressed 32-byte lat sample.
        let mut p = vec![0u8; 288 + 32];
        p[0] = 1; // nr_samples
        p[8] = 1; // thread_number
        p[12] = 1; // log_type: lat
        p[32..32 + name.len()].copy_from_slice(name.as_bytes());
        p[288 + 8] = 42; // the latency
        p[288 + 24] = 16; // bs
        let _ = s.write_all(&frame_flags(97, 17, 0, 0, &p));
        let _ = s.write_all(&frame(97, 12, 0, &[0; 8])); // STOP
        let _ = s.write_all(&frame(97, 1, 0, &[])); // QUIT
        let _ = drain(&mut s);
    });
    (addr, t)
}

#[test]
fn a_log_the_job_did_not_ask_for_is_not_written() {
    let cli = tempdir();
    let inner = cli.path().join("in");
    std::fs::create_dir(&inner).unwrap();
    std::fs::write(
        inner.join("j.fio"),
        "[j]\nrw=read\nsize=1m\nwrite_lat_log=lg\n",
    )
    .unwrap();
    for name in [
        "../lg_lat.1.log",
        "evil_lat.1.log",
        "/tmp/lg_lat.1.log",
        "lg_x/../../y",
    ] {
        let (addr, t) = lying_server(name);
        let out = diorite_bench(&inner, &[&format!("--client={addr}"), "j.fio"]);
        t.join().unwrap();
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {t}");
        assert!(
            t.contains("which its job file does not ask for; not written"),
            "{name}: {t}"
        );
        assert_eq!(files_with(&inner, ".log"), Vec::<String>::new(), "{name}");
        assert_eq!(
            files_with(cli.path(), ".log"),
            Vec::<String>::new(),
            "{name}"
        );
    }
    // The name it asked for is written, as fio's client writes it.
    let (addr, t) = lying_server("lg_lat.1.log");
    let out = diorite_bench(&inner, &[&format!("--client={addr}"), "j.fio"]);
    t.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got = std::fs::read_to_string(inner.join(format!("lg_lat.1.log.{addr}"))).unwrap();
    assert_eq!(got, "0, 42, 0, 16, 0\n");
}

/// A client whose disk fills while it writes a host's logs: the error names the file and the
/// cause, the host's results still print, the exit code is 1. (A 64 KiB tmpfs, as root.)
#[test]
fn a_full_disk_under_the_clients_logs_is_reported_and_the_results_stand() {
    if !common::is_root() {
        eprintln!("SKIPPED: needs root to mount a small tmpfs; CI runs as root");
        return;
    }
    let (srv_dir, tiny) = (tempdir(), tempdir());
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(tiny.path())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mount a tmpfs");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(tiny.path());
    let srv = Server::start(srv_dir.path(), &[]);
    std::fs::write(
        tiny.path().join("j.fio"),
        "[j]\nrw=randwrite\nsize=4m\nbs=4k\nioengine=io_uring\ndirect=1\nfilename=j.dat\n\
         write_lat_log=lg\n",
    )
    .unwrap();
    let out = diorite_bench(tiny.path(), &[&format!("--client={}", srv.addr), "j.fio"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("No space left on device") && t.contains("lg_"),
        "{t}"
    );
    assert!(t.contains("j: (groupid=0, jobs=1): err= 0"), "{t}");
    assert!(t.contains("issued rwts: total=0,1024,0,0"), "{t}");
}
