#!/bin/sh
# Replays every fuzz seed and every kept crash input through its fuzz target, built into the
# same variant as the tests (plain or sanitized).  A crash or sanitizer report fails the test.
set -eu
out=${SEEKD_OUT:?run through make test}
status=0
for src in tests/fuzz/fuzz_*.c; do
    [ -e "$src" ] || { echo "no fuzz targets yet"; exit 0; }
    name=$(basename "$src" .c); name=${name#fuzz_}
    bin=$out/fuzz-replay/fuzz_$name
    [ -x "$bin" ] || { echo "missing $bin"; status=1; continue; }
    "$bin" tests/fuzz/seeds/$name tests/fuzz/regress/$name || { echo "replay of $name failed"; status=1; }
done
exit $status
