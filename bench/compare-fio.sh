#!/usr/bin/env bash
# diorite bench against fio, a lean liburing loop and (with --fio-src) fio's t/io_uring, in
# interleaved rounds with medians and
# min-max per cell, whole-process CPU per I/O for every tool (bench/compare_fio.py has the
# details). As root: it makes (and removes) 1 GiB zram devices and a 4096-sector loop device.
#
#   bench/compare-fio.sh [TARGET...] [--rounds N] [--runtime S] [--rw RW] [--bs BS]
#                        [--depths 1,32] [--no-null] [--fio-src FIO_SOURCE_DIR]
#
# TARGET: zram (blocks half random), zram-fio (filled by fio: cheaper to decompress), loop4k
# (the default: all three) or a file/block device path (only read).
# Needs fio and, for the lean loop, liburing-dev (apt-get install -y fio liburing-dev).
set -euo pipefail
exec python3 "$(dirname "$0")/compare_fio.py" "$@"
