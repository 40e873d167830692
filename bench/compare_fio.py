#!/usr/bin/env python3
"""diorite bench against fio (and a lean liburing loop), measured honestly on a noisy machine.

Run through bench/compare-fio.sh (see there for the options). For every cell — a target, an
engine pair and a queue depth — the tools run in interleaved rounds (diorite, fio, lean,
diorite, fio, lean, ...), each run its own process. Per cell and tool it prints the median and
the min-max over the rounds of IOPS and of whole-process CPU per I/O: user + system time of the
tool and every thread it made (io_uring's io-wq workers and SQPOLL threads included), from
getrusage(RUSAGE_CHILDREN), the same way for every tool. fio's own usr_cpu/sys_cpu cover only
its submitting thread, so they are not used.

Targets (made here, removed on exit; root):
  zram    a zram device of 1 GiB (hot-added, so /dev/zram0 is left alone), every 4 KiB block
          half random and half a repeated pattern (50% compressible)
  zram-fio  the same device filled by fio (buffer_compress_percentage=50, refill_buffers):
          cheaper to decompress (about half the CPU per read), so the engine's own cost
          shows more; the targets must hold on both fills
  loop4k  a loop device with 4096-byte sectors and --direct-io=on over a 1 GiB file in
          /var/tmp filled the same way
  PATH    an existing file or block device (only read)
Rows: io_uring/io_uring (+ the lean loop, + fio's t/io_uring with --fio-src), aio/libaio,
psync/psync (QD1 only: the synchronous path), and once, device-free, null/null (diorite's
null backend against fio's null engine).

t/io_uring (fio's own io_uring benchmark, the upper reference): built from a fio source tree
given with --fio-src DIR (`apt-get source fio` with deb-src enabled, or a clone of fio's
repository; `./configure && make t/io_uring` is run there). Its knobs here: random reads,
O_DIRECT, fixed buffers and registered files on, polling off, submit and complete batches of a
quarter of the depth (at least 1), one thread. Its IOPS is the mean of its per-second lines.
"""
import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SIZE = 1 << 30


def fill(path):
    """Writes SIZE bytes, each 4 KiB block half random, half pattern, with O_DIRECT."""
    r = random.Random(1)
    pattern = b"diorite compare-fio fill pattern " * 63
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    try:
        import mmap

        chunk = 1 << 20
        buf = mmap.mmap(-1, chunk)
        for _ in range(SIZE // chunk):
            blocks = []
            for _ in range(chunk // 4096):
                blocks.append(r.randbytes(2048))
                blocks.append(pattern[:2048])
            buf.seek(0)
            buf.write(b"".join(blocks))
            os.write(fd, buf)
    finally:
        os.close(fd)


class Targets:
    def __init__(self):
        self.cleanup = []

    def _zram_dev(self):
        idx = open("/sys/class/zram-control/hot_add").read().strip()
        self.cleanup.append(lambda: (
            open(f"/sys/block/zram{idx}/reset", "w").write("1"),
            open("/sys/class/zram-control/hot_remove", "w").write(idx)))
        open(f"/sys/block/zram{idx}/disksize", "w").write(str(SIZE))
        return f"/dev/zram{idx}"

    def zram(self):
        dev = self._zram_dev()
        fill(dev)
        return dev

    def zram_fio(self):
        """A zram device filled by fio, 50% compressible, each buffer refilled."""
        dev = self._zram_dev()
        subprocess.run(["fio", "--name=fill", f"--filename={dev}", "--rw=write", "--bs=1m",
                        "--direct=1", f"--size={SIZE}", "--buffer_compress_percentage=50",
                        "--refill_buffers", "--output=/dev/null"], check=True)
        return dev

    def loop4k(self):
        img = f"/var/tmp/diorite-compare-{os.getpid()}.img"
        with open(img, "wb") as f:
            f.truncate(SIZE)
        self.cleanup.append(lambda: os.path.exists(img) and os.remove(img))
        dev = subprocess.run(["losetup", "-f", "--show", "--direct-io=on", "--sector-size", "4096", img],
                             check=True, capture_output=True, text=True).stdout.strip()
        self.cleanup.insert(0, lambda: subprocess.run(["losetup", "-d", dev]))
        fill(dev)
        return dev

    def close(self):
        for c in self.cleanup:
            try:
                c()
            except Exception as e:  # keep cleaning up
                print(f"cleanup: {e}", file=sys.stderr)


def run(cmd):
    """Runs cmd; returns (stdout, cpu seconds of the process tree)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p.stdout, cpu


def fio_json(out):
    d = json.loads(out[out.index("{"):out.rindex("}") + 1])
    j = d["jobs"][0]
    r = j["read"] if j["read"]["io_bytes"] else j["write"]
    return r["iops"], r["total_ios"] or 1


def job(target, rw, bs, runtime, depth):
    return ["--name=cmp", f"--filename={target}", f"--rw={rw}", f"--bs={bs}", "--direct=1",
            f"--runtime={runtime}", "--time_based", "--output-format=json", f"--iodepth={depth}"]


def measure(tool, engine, target, rw, bs, runtime, depth, bins):
    """One run: (IOPS, CPU us per I/O)."""
    if tool == "lean":
        out, cpu = run([bins["lean"], target, str(depth), str(runtime)])
        f = out.split()
        ios, iops = int(f[1]), float(f[5])
        return iops, cpu * 1e6 / max(ios, 1)
    if tool == "tio":
        batch = max(1, depth // 4)
        out, cpu = run([bins["tio"], f"-d{depth}", f"-s{batch}", f"-c{batch}", "-b4096", "-p0",
                        "-B1", "-F1", "-n1", "-O1", "-R1", f"-r{runtime}", target])
        per_sec = [tio_iops(l) for l in out.splitlines() if l.startswith("IOPS=")]
        iops = statistics.mean(per_sec) if per_sec else 0.0
        return iops, cpu * 1e6 / max(iops * runtime, 1)
    args = job(target, rw, bs, runtime, depth)
    if engine == "null":
        # fio's null engine needs a size and opens nothing; so does diorite's.
        args = [a for a in args if not a.startswith("--filename")] + ["--size=1g"]
    if tool == "diorite":
        out, cpu = run([bins["diorite"], "bench", *args, f"--ioengine={engine}"])
    else:
        extra = ["--registerfiles", "--fixedbufs"] if engine == "io_uring" else []
        out, cpu = run(["fio", *args, f"--ioengine={engine}", *extra])
    iops, ios = fio_json(out)
    return iops, cpu * 1e6 / ios


def tio_iops(line):
    """t/io_uring's "IOPS=1.74M, BW=..." as a number."""
    v = line.split(",")[0].split("=")[1]
    mult = {"K": 1e3, "M": 1e6, "G": 1e9}.get(v[-1], 1)
    return float(v.rstrip("KMG")) * mult


def build_tio(src, tmp):
    """fio's t/io_uring from the source tree `src` (configured and built there)."""
    if not os.path.exists(os.path.join(src, "config-host.h")):
        subprocess.run(["./configure", "--disable-native"], cwd=src, check=True,
                       capture_output=True)
    subprocess.run(["make", "-j2", "t/io_uring"], cwd=src, check=True, capture_output=True)
    dst = os.path.join(tmp, "t-io_uring")
    shutil.copy(os.path.join(src, "t", "io_uring"), dst)
    return dst


def cell_text(vals, fmt):
    med = statistics.median(vals)
    return f"{fmt(med)} [{fmt(min(vals))}-{fmt(max(vals))}]", med


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("targets", nargs="*", default=["zram", "zram-fio", "loop4k"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runtime", type=int, default=3)
    ap.add_argument("--rw", default="randread")
    ap.add_argument("--bs", default="4k")
    ap.add_argument("--depths", default="1,32")
    ap.add_argument("--no-null", action="store_true", help="skip the device-free null row")
    ap.add_argument("--fio-src", help="a fio source tree: builds and adds fio's t/io_uring")
    a = ap.parse_args()
    if not shutil.which("fio"):
        sys.exit("fio is not installed (apt-get install -y fio)")
    subprocess.run(["cargo", "build", "-q", "--release", "--manifest-path", f"{ROOT}/Cargo.toml",
                    "-p", "diorite-cli"], check=True)
    bins = {"diorite": f"{ROOT}/target/release/diorite"}
    tmp = tempfile.mkdtemp(prefix="diorite-compare")
    lean = os.path.join(tmp, "lean-uring")
    built = subprocess.run(["cc", "-O2", "-o", lean, f"{HERE}/lean-uring.c", "-luring"],
                           capture_output=True, text=True)
    if built.returncode == 0:
        bins["lean"] = lean
    else:
        print(f"note: the lean loop was not built (apt-get install -y liburing-dev):\n{built.stderr}",
              file=sys.stderr)
    if a.fio_src:
        bins["tio"] = build_tio(a.fio_src, tmp)
    depths = [int(x) for x in a.depths.split(",")]
    ts = Targets()
    try:
        cells = []  # (target label, path, diorite engine, fio engine, depth, with lean)
        for t in a.targets:
            path = {"zram": ts.zram, "zram-fio": ts.zram_fio, "loop4k": ts.loop4k}.get(t, lambda: t)()
            info = subprocess.run([bins["diorite"], "info", path], capture_output=True, text=True).stdout
            have = {l.split()[0] for l in info.splitlines()
                    if l.startswith("  ") and l.split()[1:2] == ["available"]}
            for d in depths:
                if "io_uring" in have:
                    cells.append((t, path, "io_uring", "io_uring", d, True))
                if "aio" in have:
                    cells.append((t, path, "libaio", "libaio", d, False))
                if d == 1:
                    cells.append((t, path, "psync", "psync", d, False))
        if not a.no_null:
            for d in depths:
                cells.append(("(none)", "", "null", "null", d, False))
        results = {i: {"diorite": [], "fio": [], "lean": [], "tio": []} for i in range(len(cells))}
        for rnd in range(a.rounds):
            print(f"round {rnd + 1}/{a.rounds}", file=sys.stderr)
            for i, (t, path, de, fe, d, uring) in enumerate(cells):
                refs = [r for r in ("lean", "tio") if uring and r in bins]
                tools = [("diorite", de), ("fio", fe)] + [(r, "io_uring") for r in refs]
                for tool, eng in tools:
                    results[i][tool].append(measure(tool, eng, path, a.rw, a.bs, a.runtime, d, bins))
        print(f"\n{a.rw} {a.bs}, {a.runtime} s runs, medians [min-max] of {a.rounds} interleaved rounds; "
              "CPU = whole-process user+sys per I/O\n")
        print("| target | engines | QD | diorite IOPS | fio IOPS | lean IOPS | t/io_uring IOPS "
              "| diorite/fio IOPS | diorite us/IO | fio us/IO | lean us/IO | t/io_uring us/IO "
              "| diorite/fio CPU | diorite/lean CPU | diorite/t-io_uring CPU |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        kfmt = lambda v: f"{v / 1e3:.0f}k"
        ufmt = lambda v: f"{v:.2f}"
        for i, (t, path, de, fe, d, _) in enumerate(cells):
            r = results[i]
            di, dim = cell_text([x[0] for x in r["diorite"]], kfmt)
            fi, fim = cell_text([x[0] for x in r["fio"]], kfmt)
            dc, dcm = cell_text([x[1] for x in r["diorite"]], ufmt)
            fc, fcm = cell_text([x[1] for x in r["fio"]], ufmt)
            ref = {}
            for tool in ("lean", "tio"):
                if r[tool]:
                    ri, _ = cell_text([x[0] for x in r[tool]], kfmt)
                    rc, rcm = cell_text([x[1] for x in r[tool]], ufmt)
                    ref[tool] = (ri, rc, f"{dcm / rcm:.2f}x")
                else:
                    ref[tool] = ("—", "—", "—")
            name = "psync/psync (sync path)" if de == "psync" else f"{de if de != 'libaio' else 'aio'}/{fe}"
            print(f"| {t} | {name} | {d} | {di} | {fi} | {ref['lean'][0]} | {ref['tio'][0]} "
                  f"| {dim / fim:.2f}x | {dc} | {fc} | {ref['lean'][1]} | {ref['tio'][1]} "
                  f"| {dcm / fcm:.2f}x | {ref['lean'][2]} | {ref['tio'][2]} |")
    finally:
        ts.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
