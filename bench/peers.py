#!/usr/bin/env python3
"""The Rust async I/O runtimes side by side: the same O_DIRECT 4 KiB random-read workload
written idiomatically for each (bench/peers/src/main.rs), in interleaved rounds (every peer
once per round, in turn), medians and min-max of IOPS and of whole-process CPU per I/O
(user + system of the process and every thread it made, from getrusage(RUSAGE_CHILDREN)).

  bench/peers.sh [--targets zram-fio,file] [--depths 1,32] [--rounds 5] [--runtime 3]
                 [--peers diorite-local,diorite-tokio,tokio-uring,monoio,compio,glommio,tokio-blocking]
                 (also diorite-tokio-adaptive, diorite-tokio-never: the other SubmitBatching policies)

Targets (made here, removed on exit; root): zram-fio, a 1 GiB zram device filled by fio
(50% compressible, refilled buffers); zram, the same filled half random per 4 KiB block; file,
a 1 GiB file in /var/tmp filled by fio (its reads reach the machine's disk). The peers crate is
its own workspace, built here (never by the default build).
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare_fio  # noqa: E402  (the targets and the fill)

PEERS = ["diorite-local", "diorite-tokio", "tokio-uring", "monoio", "compio", "glommio",
         "tokio-blocking"]
NOTES = {
    "diorite-local": "LocalContext loop (single issuer, DEFER_TASKRUN), registered file, io_uring",
    "diorite-tokio": "futures, one task per slot, tokio current-thread, Reactor::Tokio, io_uring",
    # Not in the default list: the same with the other submission policies (--peers ...).
    "diorite-tokio-adaptive": "diorite-tokio with SubmitBatching::Adaptive",
    "diorite-tokio-never": "diorite-tokio with SubmitBatching::Never (each submission enters)",
    "tokio-uring": "File::read_at, one task per slot; no registered file or fixed buffers",
    "monoio": "IoUringDriver, File::read_at, one task per slot",
    "compio": "io_uring driver, AsyncReadAt::read_at, one task per slot",
    "glommio": "DmaFile::read_at_aligned (a buffer from glommio's pool per read)",
    "tokio-blocking": "spawn_blocking + pread on the multi-thread runtime (blocking pool)",
}


def file_target(cleanup):
    path = f"/var/tmp/diorite-peers-{os.getpid()}.img"
    cleanup.append(lambda: os.path.exists(path) and os.remove(path))
    subprocess.run(["fio", "--name=fill", f"--filename={path}", "--rw=write", "--bs=1m",
                    "--direct=1", f"--size={compare_fio.SIZE}", "--buffer_compress_percentage=50",
                    "--refill_buffers", "--output=/dev/null"], check=True)
    return path


def measure(binary, peer, target, qd, runtime):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([binary, peer, target, str(qd), str(runtime)], capture_output=True,
                       text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        return None, p.stderr.strip().splitlines()[-1:] or ["failed"]
    kv = dict(x.split("=") for x in p.stdout.split())
    ios, secs = int(kv["ios"]), float(kv["seconds"])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return (ios / secs, cpu * 1e6 / max(ios, 1)), None


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default="zram-fio,file")
    ap.add_argument("--depths", default="1,32")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runtime", type=int, default=3)
    ap.add_argument("--peers", default=",".join(PEERS))
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "-q", "--release", "--manifest-path",
                    f"{HERE}/peers/Cargo.toml"], check=True)
    binary = f"{HERE}/peers/target/release/diorite-peers"
    peers = a.peers.split(",")
    depths = [int(d) for d in a.depths.split(",")]
    ts = compare_fio.Targets()
    try:
        targets = []
        for t in a.targets.split(","):
            make = {"zram": ts.zram, "zram-fio": ts.zram_fio,
                    "file": lambda: file_target(ts.cleanup)}.get(t, lambda: t)
            targets.append((t, make()))
        cells = [(t, path, d) for t, path in targets for d in depths]
        res = {(c, p): [] for c in range(len(cells)) for p in peers}
        failed = {}
        for rnd in range(a.rounds):
            print(f"round {rnd + 1}/{a.rounds}", file=sys.stderr)
            for c, (t, path, d) in enumerate(cells):
                for p in peers:
                    m, why = measure(binary, p, path, d, a.runtime)
                    if m:
                        res[(c, p)].append(m)
                    else:
                        failed[(c, p)] = why
        print(f"\n4 KiB random reads, O_DIRECT, {a.runtime} s runs, medians [min-max] of "
              f"{a.rounds} interleaved rounds; CPU = whole-process user+sys per I/O\n")
        print("| target | QD | peer | IOPS | CPU us/IO | IOPS vs diorite-local | CPU vs diorite-local |")
        print("|---|---|---|---|---|---|---|")
        for c, (t, _, d) in enumerate(cells):
            base = res.get((c, "diorite-local")) or []
            bi = statistics.median(x[0] for x in base) if base else None
            bc = statistics.median(x[1] for x in base) if base else None
            for p in peers:
                v = res[(c, p)]
                if not v:
                    print(f"| {t} | {d} | {p} | failed: {failed.get((c, p))} | | | |")
                    continue
                i = [x[0] for x in v]
                u = [x[1] for x in v]
                mi, mu = statistics.median(i), statistics.median(u)
                ri = f"{mi / bi:.2f}x" if bi else "—"
                ru = f"{mu / bc:.2f}x" if bc else "—"
                print(f"| {t} | {d} | {p} | {mi / 1e3:.0f}k [{min(i) / 1e3:.0f}k-{max(i) / 1e3:.0f}k] "
                      f"| {mu:.2f} [{min(u):.2f}-{max(u):.2f}] | {ri} | {ru} |")
        print("\nHow each peer does it:")
        for p in peers:
            print(f"- {p}: {NOTES.get(p, '')}")
    finally:
        ts.close()


if __name__ == "__main__":
    main()
