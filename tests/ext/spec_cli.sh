#!/bin/bash
# seekd generate with --draft / --lookup: the greedy output equals plain generate's token for
# token; an incompatible draft is refused naming the difference; bench --draft reports
# acceptance and identical outputs.  Tiny random models from tools/make_model.py.
set -u
[ -x /usr/bin/python3 ] || exit 77
B=${SEEKD_BIN:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mk() { /usr/bin/python3 tools/make_model.py "$T/$1.gguf" -q --preset tiny "${@:2}" || exit 1; }
mk t --type Q8_0 --seed 1
mk d --type Q4_0 --seed 1 --n-layer 1
mk bad --type Q4_0 --seed 1 --n-vocab 600
fail() { echo "FAIL: $*"; exit 1; }
for p in "1,2,3,4,5,6,7" "9,8,7,9,8,7,9,8" "300"; do
  want=$("$B" generate --model "$T/t.gguf" --prompt-ids "$p" -n 48 --ids 2>/dev/null) || fail plain
  for opt in "--draft $T/d.gguf" "--lookup" "--draft $T/d.gguf --lookup --draft-max 6" \
             "--draft $T/d.gguf --no-adapt --draft-max 9 --p-min 0"; do
    # shellcheck disable=SC2086
    got=$("$B" generate --model "$T/t.gguf" $opt --prompt-ids "$p" -n 48 --ids 2>"$T/err") \
      || fail "$opt: $(cat "$T/err")"
    [ "$got" = "$want" ] || fail "$opt prompt $p: got '$got' want '$want'"
    grep -q "acceptance" "$T/err" || fail "$opt: no statistics"
  done
done
out=$("$B" generate --model "$T/t.gguf" --draft "$T/bad.gguf" --prompt-ids 1,2 -n 4 2>&1) \
  && fail "incompatible draft accepted"
echo "$out" | grep -q "bos_token_id differs" || fail "refusal message: $out"
out=$("$B" bench --model "$T/t.gguf" --draft "$T/t.gguf" -n 24 -p 32 --reps 1 --force \
      --draft-max 4 --no-adapt --p-min 0) || fail "bench: $out"
echo "$out" | grep -q "acceptance rate 1.000" || fail "draft = target acceptance: $out"
echo "$out" | grep -q "outputs identical" || fail "bench outputs: $out"
echo ok
