#!/bin/sh
# The demo models' Python tokenizer (tools/bpe.py) and `seekd tokenize` must give identical ids
# on the held-out corpus files, the coder conformance strings and hostile strings.
# Skips (77) until `seekd tokenize` exists or when the committed model is absent.
set -u
BIN="${SEEKD_BIN:-build/seekd}"
MODEL=models/seekd-demo-target.Q8_0.gguf
[ -f "$MODEL" ] || { echo "SKIP: $MODEL absent"; exit 77; }
/usr/bin/python3 -c 'import numpy' 2>/dev/null || { echo "SKIP: /usr/bin/python3 lacks numpy"; exit 77; }
exec /usr/bin/python3 tools/bpe_match.py "$BIN" "$MODEL"
