#!/bin/bash
# seekd bench on a tiny random model, forced past the quiet-machine check (so the test runs on
# a busy machine too): every figure bench/bench_model.c and the notes read is printed (read
# bandwidth, pp, tg with its share of the bandwidth, k-token pass ratios up to k+1 = 9, the
# 9-token ratio, peak RSS) and the summary line carries them all; bad options are refused.
set -u
[ -x /usr/bin/python3 ] || exit 77
B=${SEEKD_BIN:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 tools/make_model.py "$T/t.gguf" -q --preset tiny --type Q4_0 --seed 1 || exit 1
fail() { echo "FAIL: $*"; exit 1; }
out=$(SEEKD_BENCH_BW_MB=64 "$B" bench --model "$T/t.gguf" -p 16 -n 4 --reps 2 --kmax 9 --force) \
  || fail "bench: $out"
for want in "read bandwidth probe: 64 MiB" "read bandwidth: " "pp16: " "tg4: " \
            "% of measured bandwidth" "k+1= 9" "pass over 9 tokens / one-token pass: " \
            "peak RSS: " "other processes used"; do
  echo "$out" | grep -qF "$want" || fail "missing '$want' in: $out"
done
echo "$out" | grep -qE '^summary: model=\S+ pp_n=16 pp=[0-9.]+ tg_n=4 tg=[0-9.]+ bw_gbs=[0-9.]+ wbytes=[0-9]+ tg_bw_pct=[0-9.]+ k9=[0-9.]+ rss_mib=[0-9.]+ valid=[01]$' \
  || fail "summary line: $out"
"$B" bench --model "$T/t.gguf" -p 0 --force >/dev/null 2>&1 && fail "-p 0 accepted"
"$B" bench --model "$T/t.gguf" --max-load -1 >/dev/null 2>&1 && fail "--max-load -1 accepted"
echo ok
