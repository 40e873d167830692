#!/usr/bin/env bash
# A/B of two diorite builds (or two option sets) on the same job, in interleaved runs
# (A, B, A, B ...): per side the median and min-max of IOPS and of whole-process CPU per I/O,
# and io_uring enters per I/O (perf stat; needs perf). How the io_uring settings in the README
# were measured.
#
#   bench/ab.sh ROUNDS A B -- BENCH-ARGS...
#
# A and B are commands that take `bench BENCH-ARGS --output-format=json`: a binary
# (target/release/diorite copied aside before a change), or a wrapper script that adds an option
# (e.g. `exec /path/diorite "$@" --sqthread_poll=1`).
set -euo pipefail
rounds=$1 a=$2 b=$3
shift 3
[ "${1:-}" = -- ] && shift
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq 1 "$rounds"); do
  for side in A B; do
    bin=$a
    [ $side = B ] && bin=$b
    perf stat -x, -e syscalls:sys_enter_io_uring_enter -o "$out/stat" python3 -c '
import json, resource, subprocess, sys
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True, check=True)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
t = p.stdout
j = json.loads(t[t.index("{"):t.rindex("}") + 1])["jobs"][0]
r = j["read"] if j["read"]["io_bytes"] else j["write"]
print(r["iops"], (u.ru_utime + u.ru_stime) * 1e6 / r["total_ios"], r["total_ios"])' \
      "$bin" bench "$@" --output-format=json >"$out/run"
    echo "$side $(cat "$out/run") $(grep io_uring_enter "$out/stat" | cut -d, -f1)" >>"$out/all"
  done
done
python3 - "$out/all" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    side, iops, cpu, ios, enters = line.split()
    rows.setdefault(side, []).append((float(iops), float(cpu), float(enters) / float(ios)))
for side, rs in sorted(rows.items()):
    col = lambda i: [r[i] for r in rs]
    print(f"{side}: IOPS {statistics.median(col(0))/1e3:.0f}k [{min(col(0))/1e3:.0f}k-{max(col(0))/1e3:.0f}k]"
          f"  CPU {statistics.median(col(1)):.2f} us/IO [{min(col(1)):.2f}-{max(col(1)):.2f}]"
          f"  enters/IO {statistics.median(col(2)):.2f}")
PY
