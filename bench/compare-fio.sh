#!/usr/bin/env bash
# diorite bench against fio and a lean liburing loop, in interleaved rounds with medians and
# min-max per cell, whole-process CPU per I/O for every tool (bench/compare_fio.py has the
# details). As root: it makes (and removes) a 1 GiB zram device and a 4096-sector loop device.
#
#   bench/compare-fio.sh [TARGET...] [--rounds N] [--runtime S] [--rw RW] [--bs BS]
#                        [--depths 1,32] [--no-null]
#
# TARGET: zram, loop4k (the default: both) or a file/block device path (only read).
# Needs fio and, for the lean loop, liburing-dev (apt-get install -y fio liburing-dev).
set -euo pipefail
exec python3 "$(dirname "$0")/compare_fio.py" "$@"
