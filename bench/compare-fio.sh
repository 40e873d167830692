#!/usr/bin/env bash
# Runs the same job through `diorite bench` and fio, side by side, and prints IOPS, p99 latency
# and CPU per I/O with the diorite/fio ratio.
#
#   bench/compare-fio.sh TARGET [RUNTIME_SECONDS] [RW] [BS]
#
# TARGET is a block device or file (reads only, unless RW is a write pattern: then it is
# overwritten), or the word `zram`: then /dev/zram0 is sized to 1 GiB, filled with compressible
# data, used, and reset afterwards (root). For io_uring both tools register the file and the
# buffers (diorite does by default; fio gets --registerfiles --fixedbufs). Both tools report
# fio's JSON; CPU per I/O is measured for both from outside (see with_cpu). Engine pairs:
# threads/psync always; io_uring/io_uring and aio/libaio when `diorite info` reports them. psync has no queue, so "iodepth N" for that pair means
# N fio jobs against N diorite pool threads at iodepth N.
set -euo pipefail
target=${1:?usage: bench/compare-fio.sh TARGET [RUNTIME] [RW] [BS]}
runtime=${2:-10}
rw=${3:-randread}
bs=${4:-4k}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$target" = zram ]; then
  [ -e /sys/block/zram0 ] || modprobe zram
  echo 1 >/sys/block/zram0/reset
  echo 1G >/sys/block/zram0/disksize
  trap 'echo 1 >/sys/block/zram0/reset' EXIT
  # Compressible, not all-zero (zram stores zero pages specially): a repeating text pattern.
  { yes 'diorite compare-fio zram fill pattern' || true; } | head -c $((1 << 30)) |
    dd of=/dev/zram0 bs=1M iflag=fullblock oflag=direct status=none
  target=/dev/zram0
fi
command -v fio >/dev/null || { echo "fio is not installed (apt-get install -y fio)" >&2; exit 1; }
cargo build -q --release --manifest-path "$here/Cargo.toml" -p diorite-cli
diorite="$here/target/release/diorite"

# Runs a command and appends "CPU_SECONDS x": the user+system time of the whole process tree
# (every thread, io_uring's io-wq workers included), measured the same way for both tools.
with_cpu() {
  python3 -c '
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stdout.write(r.stdout.decode())
print("\nCPU_SECONDS %.6f" % (u.ru_utime + u.ru_stime))
sys.exit(r.returncode)' "$@"
}

# Reads fio-shaped JSON followed by CPU_SECONDS; prints IOPS, p99 total latency (us) and CPU
# microseconds per I/O. fio's own usr_cpu/sys_cpu cover only its submitting thread
# (RUSAGE_THREAD) and miss io_uring io-wq workers, so the whole-process figure is used for both.
summarize() {
  python3 -c '
import json, sys
text = sys.stdin.read()
cpu = float(text.rsplit("CPU_SECONDS", 1)[1])
d = json.loads(text[text.index("{"):text.rindex("}") + 1]); j = d["jobs"][0]
r = j["read"] if j["read"]["io_bytes"] else j["write"]
ios = r["total_ios"] or 1
print("%.0f %.1f %.2f" % (r["iops"], r["lat_ns"]["percentile"]["99.000000"] / 1e3, cpu * 1e6 / ios))'
}

pairs=("threads psync")
avail=$("$diorite" info "$target" | awk '/^  [a-z_]+ +available/ {print $1}')
grep -qx io_uring <<<"$avail" && pairs=("io_uring io_uring" "${pairs[@]}")
grep -qx aio <<<"$avail" && pairs=("aio libaio" "${pairs[@]}")

printf '%-18s %6s %12s %12s %6s %10s %10s %9s %9s\n' pair depth "diorite IOPS" "fio IOPS" ratio "d p99 us" "f p99 us" "d us/IO" "f us/IO"
for pair in "${pairs[@]}"; do
  read -r dengine fengine <<<"$pair"
  for depth in 1 32; do
    # The same job for both tools, both reporting fio's JSON.
    job=(--name=cmp --filename="$target" --rw="$rw" --bs="$bs" --direct=1 --runtime="$runtime"
      --time_based --group_reporting --output-format=json)
    djob=(--iodepth="$depth" --ioengine="$dengine")
    fjob=(--iodepth="$depth" --numjobs=1 --ioengine="$fengine" --lat_percentiles=1)
    [ "$fengine" = io_uring ] && fjob+=(--registerfiles --fixedbufs)
    if [ "$fengine" = psync ]; then
      djob+=(--pool_threads="$depth")
      fjob=(--iodepth=1 --numjobs="$depth" --ioengine=psync --lat_percentiles=1)
    fi
    read -r diops dp99 dcpu < <(with_cpu "$diorite" bench "${job[@]}" "${djob[@]}" | summarize)
    read -r fiops fp99 fcpu < <(with_cpu fio "${job[@]}" "${fjob[@]}" | summarize)
    ratio=$(python3 -c "print('%.2f' % ($diops / max($fiops, 1)))")
    printf '%-18s %6s %12s %12s %6s %10s %10s %9s %9s\n' "$dengine/$fengine" "$depth" "$diops" "$fiops" "$ratio" "$dp99" "$fp99" "$dcpu" "$fcpu"
  done
done
