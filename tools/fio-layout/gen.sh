#!/bin/sh
# Prints the Rust layout module of fio's client/server structs for the fio source tree $1
# (configured: ./configure has been run there). See gen.c.
set -e
src=$(cd "$1" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -std=gnu99 -D_GNU_SOURCE -D_LARGEFILE_SOURCE -D_FILE_OFFSET_BITS=64 \
  -include "$src/config-host.h" -I "$src" "$(dirname "$0")/gen.c" -o "$out/gen"
"$out/gen"
