#!/usr/bin/env bash
# The Rust async I/O runtimes side by side (diorite's LocalContext loop and futures on tokio,
# tokio-uring, monoio, compio, glommio, tokio's spawn_blocking + pread): the same O_DIRECT 4 KiB
# random reads at QD1 and QD32 on zram and a file, interleaved rounds, medians and min-max of
# IOPS and whole-process CPU per I/O. bench/peers.py has the details; bench/peers/ is the
# workload, its own Cargo workspace (built here only). As root (zram); needs fio for the fill.
#
#   bench/peers.sh [--targets zram-fio,file] [--depths 1,32] [--rounds 5] [--runtime 3]
set -euo pipefail
exec python3 "$(dirname "$0")/peers.py" "$@"
