#!/usr/bin/env bash
# Runs the same job through `diorite bench` and fio, side by side, and prints IOPS, p99 latency
# and CPU per I/O with the diorite/fio ratio.
#
#   bench/compare-fio.sh TARGET [RUNTIME_SECONDS] [RW] [BS]
#
# TARGET is a block device or file (reads only, unless RW is a write pattern: then it is
# overwritten). Engine pairs: threads/psync now; io_uring/io_uring and aio/libaio are run when
# `diorite info` reports them available. psync has no queue, so "iodepth N" for that pair means
# N fio jobs against N diorite pool threads at iodepth N.
set -euo pipefail
target=${1:?usage: bench/compare-fio.sh TARGET [RUNTIME] [RW] [BS]}
runtime=${2:-10}
rw=${3:-randread}
bs=${4:-4k}
here=$(cd "$(dirname "$0")/.." && pwd)
command -v fio >/dev/null || { echo "fio is not installed (apt-get install -y fio)" >&2; exit 1; }
cargo build -q --release --manifest-path "$here/Cargo.toml" -p diorite-cli
diorite="$here/target/release/diorite"

pairs=("threads psync")
avail=$("$diorite" info "$target" | awk '/^  [a-z_]+ +available/ {print $1}')
grep -qx io_uring <<<"$avail" && pairs=("io_uring io_uring" "${pairs[@]}")
grep -qx aio <<<"$avail" && pairs=("aio libaio" "${pairs[@]}")

printf '%-18s %6s %12s %12s %6s %10s %10s %9s %9s\n' pair depth "diorite IOPS" "fio IOPS" ratio "d p99 us" "f p99 us" "d us/IO" "f us/IO"
for pair in "${pairs[@]}"; do
  read -r dengine fengine <<<"$pair"
  for depth in 1 32; do
    dthreads=()
    fjobs=(--iodepth="$depth" --numjobs=1)
    if [ "$fengine" = psync ]; then
      dthreads=(--threads "$depth")
      fjobs=(--iodepth=1 --numjobs="$depth")
    fi
    dout=$("$diorite" bench --filename "$target" --rw "$rw" --bs "$bs" --iodepth "$depth" \
      --runtime "$runtime" --ioengine "$dengine" "${dthreads[@]}")
    diops=$(awk '/^  iops:/ {print $2}' <<<"$dout")
    dp99=$(sed -n 's/.*p99=\([0-9.]*\).*/\1/p' <<<"$dout" | head -1)
    dcpu=$(sed -n 's/.*core, \([0-9.]*\) us per I\/O.*/\1/p' <<<"$dout")
    fout=$(fio --name=cmp --filename="$target" --rw="$rw" --bs="$bs" --direct=1 --ioengine="$fengine" \
      "${fjobs[@]}" --group_reporting --runtime="$runtime" --time_based --output-format=json 2>/dev/null)
    njobs=1
    [ "$fengine" = psync ] && njobs=$depth
    read -r fiops fp99 fcpu < <(NJOBS=$njobs python3 -c '
import json, os, sys
d = json.load(sys.stdin); j = d["jobs"][0]
r = j["read"] if j["read"]["io_bytes"] else j["write"]
ios = r["total_ios"] or 1
secs = r["runtime"] / 1000.0 or 1
# With group_reporting, usr_cpu/sys_cpu are per-job averages: scale to all jobs.
cpu_us = (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * secs * 1e6 * int(os.environ["NJOBS"])
print("%.0f %.1f %.2f" % (r["iops"], r["clat_ns"]["percentile"]["99.000000"] / 1e3, cpu_us / ios))
' <<<"$fout")
    ratio=$(python3 -c "print('%.2f' % ($diops / max($fiops, 1)))")
    printf '%-18s %6s %12s %12s %6s %10s %10s %9s %9s\n' "$dengine/$fengine" "$depth" "$diops" "$fiops" "$ratio" "$dp99" "$fp99" "$dcpu" "$fcpu"
  done
done
