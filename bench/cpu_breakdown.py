#!/usr/bin/env python3
"""Where the CPU time of one benchmark run goes, per I/O: run through bench/cpu-breakdown.sh.

Runs the command under `perf record` (every thread, kernel included; io_uring io-wq workers and
SQPOLL threads count), reads the I/O count from the command's fio-style JSON output (diorite
bench and fio with --output-format=json), and splits the samples into buckets:

  engine          diorite's library (validation, tags, slots, completion ring, backends)
  bench harness   diorite bench's job loop, statistics, clocks (or fio's own code)
  libc + vdso     libc and clock reads through the vDSO
  syscall entry   kernel entry/exit and syscall dispatch
  io_uring        the kernel's io_uring (submission, completion, task work, io-wq)
  aio             the kernel's Linux AIO
  block + driver  block layer, direct I/O, the device driver (zram decompression, loop)
  locks + irq     spinlocks (mostly wake-ups' runqueue locks) and interrupt entry
  scheduler       context switches, wake-ups, idle entry/exit
  kernel other    everything else in the kernel

and prints each as a share of the samples and as microseconds of CPU per I/O (the whole
process's user+system time, from getrusage, divided by the I/O count, split by the shares).
"""
import collections
import json
import os
import re
import resource
import subprocess
import sys
import tempfile

BUCKETS = [
    ("io_uring", re.compile(r"^(io_|__io_|io_uring|iou_|io_wq|io_worker|io_cq|io_sq|io_req|io_issue|io_submit_sqe|io_poll)")),
    ("aio", re.compile(r"^(aio_|__x64_sys_io_submit|__x64_sys_io_getevents|io_submit_one|lookup_ioctx|read_events|__do_sys_io_getevents|do_io_getevents|ioctx_)")),
    ("block + driver", re.compile(r"(bio|blk|zram|zs_|lzo|lz4|zstd|copy_page|iomap|__submit_bio|submit_bio|loop_|blkdev|dio|gup|pin_user|iov_iter|folio|kmem_cache|percpu_ref|copy_to_user|copy_user|rep_movs|memcpy)")),
    ("locks + irq", re.compile(r"(_raw_spin|queued_spin|pv_queued|native_queued|irq_enter|irq_exit|sysvec_)")),
    ("scheduler", re.compile(r"(schedule|switch|wake|try_to_wake|enqueue|dequeue|pick_next|idle|finish_task|update_curr|update_load|select_task|ttwu|futex|hrtimer|tick)")),
    ("syscall entry", re.compile(r"(entry_SYSCALL|syscall_|do_syscall|__x64_sys|syscall_exit|exit_to_user|fpregs|restore_fpregs|switch_fpu)")),
]


def bucket(dso, sym):
    kernel = dso.startswith("[kernel") or sym.startswith("[k]")
    if not kernel and dso == "lean-uring":
        return "bench harness"  # the reference loop's own code
    s = sym.split("] ", 1)[-1]
    if not kernel:
        if dso.startswith("[vdso") or dso.startswith("libc") or dso.startswith("ld-linux"):
            return "libc + vdso"
        if s.startswith("diorite::") and not re.match(r"diorite::(run|report|job|bench|main)", s):
            return "engine"
        if s.startswith("<diorite::") and not re.match(r"<diorite::(run|report|job)", s):
            return "engine"
        return "bench harness"
    for name, rx in BUCKETS:
        if rx.search(s):
            return name
    return "kernel other"


def main():
    cmd = sys.argv[1:]
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        sys.exit("usage: bench/cpu-breakdown.sh COMMAND... (diorite bench or fio, with --output-format=json)")
    tmp = tempfile.mkdtemp(prefix="diorite-cpu")
    data = os.path.join(tmp, "perf.data")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(["perf", "record", "-q", "-F", "4999", "-o", data, "--", *cmd],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = p.stdout
    ios = None
    try:
        d = json.loads(out[out.index("{"):out.rindex("}") + 1])
        ios = sum(j[k]["total_ios"] for j in d["jobs"] for k in ("read", "write"))
    except (ValueError, KeyError):
        m = re.match(r"ios (\d+) ", out)  # bench/lean-uring.c
        ios = int(m.group(1)) if m else None
    rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym",
                          "-g", "none", "--stdio", "--percent-limit", "0"],
                         capture_output=True, text=True).stdout
    shares = collections.Counter()
    for line in rep.splitlines():
        m = re.match(r"\s*([0-9.]+)%\s+(\S+)\s+(\[[.k]\] .*)$", line)
        if m:
            shares[bucket(m.group(2), m.group(3))] += float(m.group(1))
    total = sum(shares.values()) or 1
    print(f"{' '.join(cmd)}")
    print(f"CPU {cpu:.2f} s (user+sys, every thread)" + (f", {ios} I/Os, {cpu * 1e6 / ios:.2f} us per I/O" if ios else ""))
    print(f"{'bucket':16} {'share':>7} {'us/IO':>7}")
    for name in ["engine", "bench harness", "libc + vdso", "syscall entry", "io_uring", "aio",
                 "block + driver", "locks + irq", "scheduler", "kernel other"]:
        sh = shares.get(name, 0.0) / total
        per = f"{sh * cpu * 1e6 / ios:7.3f}" if ios else "      -"
        print(f"{name:16} {sh * 100:6.1f}% {per}")
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
