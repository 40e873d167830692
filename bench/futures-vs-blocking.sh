#!/usr/bin/env bash
# Futures on tokio's current-thread runtime against the blocking submit/get_events loop:
# 4 KiB random reads at QD32 on zram (as root; else a file in /var/tmp), every backend.
# Runs the criterion bench `futures` ROUNDS times (default 5), so the variants interleave
# (blocking, futures, blocking, futures ...), and prints per variant the median IOPS with the
# min-max over the rounds, and its ratio to the blocking loop of the same backend.
#
#   bench/futures-vs-blocking.sh [ROUNDS] [FILTER]   (FILTER: a criterion filter, e.g. io_uring)
set -euo pipefail
rounds=${1:-5}
filter=${2:-}
cd "$(dirname "$0")/.."
out=$(mktemp -d)
rm -rf target/criterion/qd32_4k_randread_*
trap 'rm -rf "$out"' EXIT
for r in $(seq 1 "$rounds"); do
  cargo bench -q -p diorite --bench futures -- $filter >/dev/null 2>&1
  for est in target/criterion/qd32_4k_randread_*/*/new/estimates.json; do
    group=$(basename "$(dirname "$(dirname "$(dirname "$est")")")")
    name=$(basename "$(dirname "$(dirname "$est")")")
    # The median time per iteration (one read), in ns.
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"])' "$est" \
      >>"$out/$group,$name"
  done
done
python3 - "$out" <<'PY'
import os, statistics, sys
d = sys.argv[1]
rows = {}
for f in sorted(os.listdir(d)):
    group, name = f.split(",")
    rows[(group, name)] = [1e9 / float(x) for x in open(os.path.join(d, f)).read().split()]
for (group, name), iops in sorted(rows.items()):
    backend = next(b for b in ("io_uring", "aio", "threads") if name.startswith(b + "_"))
    base = rows.get((group, backend + "_blocking"))
    med = statistics.median(iops)
    ratio = med / statistics.median(base) if base else float("nan")
    print(f"{group:28} {name:44} {med/1e3:6.0f}k IOPS [{min(iops)/1e3:4.0f}k-{max(iops)/1e3:4.0f}k]  {ratio:4.2f}x blocking")
PY
