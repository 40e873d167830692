#!/usr/bin/env python3
"""Does a new `diorite` binary print and write the same as an old one, apart from measured values?

    tools/same_output.py OLD_BINARY NEW_BINARY [--rounds N] [--only NAME]

The check behind "restructuring changes no output": run it with a release build of the
commit before and after.

Runs a fixed set of `diorite bench` jobs (JOBS below: every output format, the logs, verify,
seeded random offsets and data, pacing, several jobs and groups) with each binary in a fresh
directory, and compares, per job, stdout, stderr, the exit status, every file the job wrote
(logs, reports: as text; data files: by SHA-256).

Measured values (latencies, bandwidth, CPU, run times) differ from run to run, so each binary
runs N times (default 3): a number that is not the same in all runs of a binary is "measured"
and is masked at that position (so is whitespace, whose padding follows the numbers' widths);
everything else — the words, the layout, how many numbers there are,
and every number that did not move (I/O counts, bytes, offsets, data, errors, options echoed) —
must be identical in the new binary's output. Exits 1 and prints the first difference per job
when something differs.
"""
import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile

NULL = ["--ioengine=null"]
JOBS = {
    "normal-verify": ["--name=a", "--filename=f", "--size=1m", "--bs=4k", "--rw=randwrite",
                      "--randseed=7", "--verify=crc32c", "--do_verify=1", "--iodepth=4"],
    "json-mixed": ["--name=m", "--filename=f", "--size=2m", "--bs=4k", "--rw=randrw",
                   "--rwmixread=70", "--randseed=11", "--iodepth=8", "--output-format=json",
                   "--number_ios=300"],
    "json-plus": ["--name=p", "--filename=f", "--size=1m", "--bs=8k", "--rw=write",
                  "--output-format=json+"],
    "terse": ["--name=t", "--filename=f", "--size=1m", "--bs=4k", "--rw=randread",
              "--randseed=3", "--output-format=terse"],
    "terse-v5-two-jobs": ["--filename=f", "--size=1m", "--bs=4k", "--output-format=terse",
                          "--name=r", "--rw=read", "--name=w",
                          "--rw=write", "--stonewall"],
    "null-numbered": NULL + ["--name=n", "--size=64m", "--bs=4k", "--rw=randread",
                             "--iodepth=32", "--number_ios=20000", "--randseed=5"],
    "bssplit-zoned-patterns": ["--name=b", "--filename=f", "--size=4m",
                               "--bssplit=4k/50:8k/30:16k/20", "--rw=randwrite",
                               "--random_distribution=zoned:60/10:30/20:10/70",
                               "--randseed=9", "--buffer_pattern=0xdeadbeef",
                               "--number_ios=200", "--output-format=json"],
    "zipf-compress": ["--name=z", "--filename=f", "--size=4m", "--bs=4k", "--rw=randwrite",
                      "--random_distribution=zipf:1.2", "--randseed=13",
                      "--buffer_compress_percentage=50", "--refill_buffers",
                      "--number_ios=300"],
    "logs": ["--name=l", "--filename=f", "--size=1m", "--bs=4k", "--rw=randrw",
             "--randseed=17", "--write_bw_log=bw", "--write_lat_log=lat",
             "--write_iops_log=iops", "--log_avg_msec=0", "--per_job_logs=1"],
    "job-file": ["job.fio"],
    "offsets-increments": ["--name=o", "--filename=f", "--size=4m", "--bs=4k", "--rw=write:8k",
                           "--offset=1m", "--numjobs=2", "--offset_increment=1m",
                           "--io_size=256k", "--group_reporting", "--output-format=json"],
    "trim-verify-pattern": ["--name=v", "--filename=f", "--size=1m", "--bs=4k", "--rw=write",
                            "--verify=pattern", "--verify_pattern=0x5a5a", "--do_verify=1",
                            "--output-format=json"],
    "verify-md5-header": ["--name=h", "--filename=f", "--size=1m", "--bs=16k", "--rw=randwrite",
                          "--verify=md5", "--randseed=21", "--verify_interval=4k"],
    "rate-iops": NULL + ["--name=r", "--size=1m", "--bs=4k", "--rw=read", "--rate_iops=2000",
                         "--number_ios=100", "--output-format=json"],
    "thinktime-loops": ["--name=k", "--filename=f", "--size=256k", "--bs=4k", "--rw=randread",
                        "--randseed=23", "--loops=2", "--thinktime=10",
                        "--thinktime_blocks=8"],
    "nrfiles-layout": ["--name=d", "--directory=.", "--nrfiles=3", "--filesize=128k",
                       "--bs=4k", "--rw=randwrite", "--randseed=29", "--file_service_type=sequential",
                       "--output-format=json"],
    "minimal-default-size-error": ["--name=e", "--filename=f", "--rw=read"],
    "bad-option": ["--name=x", "--filename=f", "--size=1m", "--no_such_option=1"],
    "bad-value": ["--name=x", "--filename=f", "--size=1m", "--rw=sideways"],
    "bad-verify": ["--name=x", "--filename=f", "--size=1m", "--rw=write", "--verify=crc99"],
    "help": ["--help"],
    "cmdprio-json": ["--name=c", "--ioengine=io_uring", "--filename=f", "--size=1m",
                     "--rw=randread", "--randseed=43", "--iodepth=8", "--number_ios=400",
                     "--cmdprio_percentage=30", "--cmdprio_class=1", "--cmdprio=0",
                     "--output-format=json,normal"],
    "latency-target": NULL + ["--name=lt", "--size=64m", "--bs=4k", "--rw=randread",
                              "--iodepth=8", "--latency_target=5ms", "--latency_window=200ms",
                              "--latency_percentile=99", "--runtime=1", "--time_based",
                              "--output-format=json"],
    "info-backends": ["--output-format=json", "--name=q", "--ioengine=io_uring", "--filename=f",
                      "--size=1m", "--rw=randread", "--randseed=31", "--iodepth=16",
                      "--number_ios=100", "--iodepth_batch_submit=4"],
    "libaio-steadystate": ["--name=s", "--ioengine=libaio", "--filename=f", "--size=1m",
                           "--rw=randread", "--randseed=37", "--direct=1", "--time_based",
                           "--runtime=1", "--ss=iops:50%", "--ss_dur=1", "--ss_ramp=0",
                           "--output-format=json"],
}

# A number with the unit fio's formatting may glue to it (9570 and 9.5k, 1024KiB and 1.0MiB).
NUM = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?:[KMGTP]i?B|[kKMGTPmun](?![A-Za-z]))?")
# Wall-clock stamps, and counters of the process that follow the binary's own layout (page
# faults, context switches): masked before anything is compared.
CLOCK = [(re.compile(r'("timestamp(?:_ms)?": )\d+'), r"\1#"),
         (re.compile(r'("time": )"[^"]*"'), r"\1#"),
         (re.compile(r'("(?:minf|majf|ctx)": )\d+'), r"\1#"),
         (re.compile(r'\b((?:minf|majf|ctx)=)\d+'), r"\1#"),
         # terse: usr%;sys%;ctx;majf;minf
         (re.compile(r'(\d%;[\d.]+%;)\d+;\d+;\d+;'), r"\1#;#;#;")]


JOB_FILE = """[global]
filename=f
size=2m
bs=4k
randseed=41
[writer]
rw=randwrite
number_ios=100
verify=crc32c
[reader]
stonewall
rw=randread
number_ios=100
"""


def run(binary, args, workdir):
    open(os.path.join(workdir, "job.fio"), "w").write(JOB_FILE)
    p = subprocess.run([binary, "bench", *args], cwd=workdir, capture_output=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    outputs = {"exit": str(p.returncode),
               "stdout": p.stdout.decode(errors="replace"),
               "stderr": p.stderr.decode(errors="replace")}
    for dirpath, _, files in os.walk(workdir):
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, workdir)
            data = open(path, "rb").read()
            try:
                text = data.decode()
                if "\0" in text:
                    raise UnicodeDecodeError("utf-8", b"", 0, 1, "binary")
                outputs["file " + rel] = text
            except UnicodeDecodeError:
                outputs["hash " + rel] = hashlib.sha256(data).hexdigest()
    for k, v in outputs.items():
        for pat, rep in CLOCK:
            v = pat.sub(rep, v)
        outputs[k] = v
    return outputs


def tokens(text):
    out, pos = [], 0
    for m in NUM.finditer(text):
        out.append(("w", re.sub(r"\s+", "", text[pos:m.start()])))
        out.append(("n", m.group()))
        pos = m.end()
    out.append(("w", re.sub(r"\s+", "", text[pos:])))
    return out


def compare_tokens(olds, news, where):
    """Texts with one token layout per side. A position where every old run agrees and every
    new run agrees must hold the same token on both sides."""
    old_toks = [tokens(o) for o in olds]
    new_toks = [tokens(n) for n in news]
    if {len(t) for t in new_toks} != {len(old_toks[0])}:
        return f"{where}: layout differs\n--- old\n{olds[0][:1500]}\n--- new\n{news[0][:1500]}"
    for i in range(len(old_toks[0])):
        before = {o[i] for o in old_toks}
        after = {n[i] for n in new_toks}
        if len(before) == 1 and len(after) == 1 and before != after:
            ctx = " ".join(t[1] for t in new_toks[0][max(0, i - 8):i + 4])
            return f"{where}: old {before.pop()[1]!r}, new {after.pop()[1]!r} near {ctx!r}"
    return None


def compare_text(olds, news, key):
    layouts = {len(tokens(o)) for o in olds}
    if len(layouts) == 1 and len({len(tokens(n)) for n in news}) == 1:
        return compare_tokens(olds, news, key)
    # The layout moves (a unit switches from nsec to usec): line by line.
    lines = [o.splitlines() for o in olds]
    fresh = [n.splitlines() for n in news]
    if len({len(ls) for ls in lines}) == 1 and len({len(ls) for ls in fresh}) == 1:
        if len(fresh[0]) != len(lines[0]):
            return f"{key}: {len(lines[0])} lines before, {len(fresh[0])} now"
        for n in range(len(lines[0])):
            before = [ls[n] for ls in lines]
            after = [ls[n] for ls in fresh]
            if len({len(tokens(c)) for c in before + after}) == 1:
                diff = compare_tokens(before, after, f"{key} line {n + 1}")
                if diff:
                    return diff
        return None
    # Even the line count moves: a line every old run printed must be in some new run.
    common = set(lines[0]).intersection(*map(set, lines[1:]))
    missing = [ln for ln in lines[0] if ln in common and all(ln not in f for f in fresh)]
    return f"{key}: missing line {missing[0]!r}" if missing else None


def compare(old_runs, new_runs):
    """First difference between the new runs and the old runs, moving values masked; or None."""
    keys = set(old_runs[0])
    for new in new_runs:
        if set(new) != keys:
            return f"different outputs: old {sorted(keys)}, new {sorted(new)}"
    for key in sorted(keys):
        olds = [r[key] for r in old_runs]
        news = [r[key] for r in new_runs]
        if key.startswith("hash "):
            if len(set(olds)) == 1 and len(set(news)) == 1 and news[0] != olds[0]:
                return f"{key}: the data differs"
            continue
        diff = compare_text(olds, news, key)
        if diff:
            return diff
    return None


def run_once(binary, args):
    with tempfile.TemporaryDirectory(prefix="same-output-") as d:
        return run(binary, args, d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only")
    a = ap.parse_args()
    failed = 0
    for name, args in JOBS.items():
        if a.only and name != a.only:
            continue
        old, fresh = os.path.abspath(a.old), os.path.abspath(a.new)
        olds = [run_once(old, args) for _ in range(a.rounds)]
        news = [run_once(fresh, args) for _ in range(a.rounds)]
        diff = compare(olds, news)
        # A measured value can repeat by chance (a run time of 2 ms three times): before
        # calling a difference, let more runs of both show whether it moves.
        extra = 0
        while diff and extra < 8:
            olds.append(run_once(old, args))
            news.append(run_once(fresh, args))
            extra += 1
            diff = compare(olds, news)
        print(f"{'same' if diff is None else 'DIFFERENT'}: {name}")
        if diff:
            print("   ", diff)
            failed += 1
    print(f"{len([n for n in JOBS if not a.only or n == a.only]) - failed} same, {failed} different")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
