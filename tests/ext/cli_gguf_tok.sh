#!/bin/sh
# seekd info / tokenize / detokenize end to end on the DeepSeek Coder vocab: JSON fields, the
# facts-file worked example, a detokenize round trip, and a truncated file rejected with the
# byte offset and exit status 1.  Skips (77) without ../shared/vocab.
set -eu
bin=${SEEKD_BIN:?run through make test}
v=../shared/vocab/ggml-vocab-deepseek-coder.gguf
[ -f "$v" ] || { echo "../shared/vocab is absent"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

"$bin" info "$v" --json > "$tmp/info.json"
/usr/bin/python3 - "$tmp/info.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["tokenizer"]
assert d["architecture"] == "llama" and d["n_tensors"] == 0, d
assert (t["pre"], t["n_vocab"], t["bos"], t["eos"]) == ("deepseek-coder", 32256, 32013, 32014), t
assert (t["fim_pre"], t["fim_suf"], t["fim_mid"], t["eog"]) == (32016, 32015, 32017, [32014]), t
assert d["hparams"]["rope_freq_scale"] == 0.25 and d["hparams"]["n_ctx_train"] == 16384
PY
"$bin" info "$v" | grep -q '^  fim_pre         32016'

ids=$(printf 'def fib(n):\n    return n' | "$bin" tokenize --model "$v" --ids)
[ "$ids" = "32013 1551 12606 7 77 1772 185 315 967 291" ] || { echo "tokenize: $ids"; exit 1; }
printf 'x = "caf\303\251 \344\270\255" \360\237\230\200\n' > "$tmp/in.txt"
"$bin" tokenize --model "$v" --ids --no-bos < "$tmp/in.txt" | "$bin" detokenize --model "$v" > "$tmp/out.txt"
cmp "$tmp/in.txt" "$tmp/out.txt"
# Control tokens print only with --special.
[ "$(echo 32013 87 | "$bin" detokenize --model "$v")" = "x" ]
[ "$(echo 32013 87 | "$bin" detokenize --model "$v" --special)" = "<｜begin▁of▁sentence｜>x" ]
# Bad input: a bad id, and a truncated file.
if echo 99999 | "$bin" detokenize --model "$v" 2>/dev/null; then echo "bad id accepted"; exit 1; fi
head -c 5000 "$v" > "$tmp/cut.gguf"
if "$bin" info "$tmp/cut.gguf" 2> "$tmp/err.txt"; then echo "truncated file accepted"; exit 1; fi
grep -q 'offset [0-9]*: .*truncated\|offset [0-9]*: .*exceeds' "$tmp/err.txt" || { cat "$tmp/err.txt"; exit 1; }
echo "cli ok"
