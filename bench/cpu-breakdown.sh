#!/usr/bin/env bash
# Where the CPU time per I/O goes, for one run of diorite bench or fio (with
# --output-format=json): the run under `perf record`, its samples split into engine, bench
# harness, libc/vDSO, syscall entry, io_uring, AIO, block + driver, scheduler and other kernel
# time, each as a share and as microseconds of whole-process CPU per I/O
# (bench/cpu_breakdown.py has the bucket rules). Needs perf (apt-get install -y linux-perf).
#
#   bench/cpu-breakdown.sh target/release/diorite bench --name=x --filename=/dev/zram0 \
#       --rw=randread --direct=1 --iodepth=32 --ioengine=io_uring --runtime=5 --time_based \
#       --output-format=json
#   bench/cpu-breakdown.sh fio --name=x ... --output-format=json
set -euo pipefail
exec python3 "$(dirname "$0")/cpu_breakdown.py" "$@"
