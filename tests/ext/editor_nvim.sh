#!/bin/sh
# Neovim end to end: headless nvim (Debian's 0.7.2) with editors/nvim on the runtimepath drives
# the real `seekd lsp` with the bundled demo models (tests/ext/editor_nvim.lua): ghost text as an
# extmark in the 'seekd' namespace after typing, dismissal on another key, accept with <Tab>
# (buffer = text + suggestion), plain <Tab> when nothing is shown; then the daemon's statistics
# (`seekd cache stats --json`) must count the shown and the accepted completion.
set -eu
command -v nvim >/dev/null || { echo "skip: nvim not installed (deps.txt: deb neovim)"; exit 77; }
ROOT=$(pwd)
SEEKD_BIN=${SEEKD_BIN:-$ROOT/build/release/seekd}
[ -f models/seekd-demo-target.Q8_0.gguf ] || { echo "skip: bundled model missing"; exit 77; }
TMP=$(mktemp -d /tmp/seekd-nvim-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/work" "$TMP/cache" "$TMP/config"
cat > "$TMP/work/shapes.py" <<'PY'
import math


def area_of_circle(radius):
    """Area of a circle of the given radius."""
    return math.pi * radius * radius


def area_of_square(side):
    """Area of a square."""
PY
export SEEKD_BIN XDG_CACHE_HOME="$TMP/cache" XDG_CONFIG_HOME="$TMP/config"
export SEEKD_NVIM_FILE="$TMP/work/shapes.py" SEEKD_NVIM_RESULT="$TMP/result" SEEKD_NVIM_LOG="$TMP/seekd.log"
cd "$TMP/work"
rc=0
timeout 90 nvim --headless -u NONE -i NONE -n \
  --cmd "set rtp^=$ROOT/editors/nvim" --cmd 'filetype on' \
  -c "luafile $ROOT/tests/ext/editor_nvim.lua" >"$TMP/nvim.out" 2>&1 </dev/null || rc=$?
cat "$TMP/result" 2>/dev/null || true
if [ $rc -ne 0 ]; then
  echo "FAIL: nvim exited $rc"; cat "$TMP/nvim.out"; echo "--- seekd log"; tail -30 "$TMP/seekd.log" 2>/dev/null
  exit 1
fi
stats=$("$SEEKD_BIN" cache stats --json --db "$TMP/cache/seekd/cache.db")
echo "$stats"
python3 - "$stats" <<'PY'
import json, sys
c = json.loads(sys.argv[1])["completions"]
bad = [k for k in ("shown", "accepted") if c[k] < 1]
if bad:
    print("FAIL: the daemon did not count", bad, "->", c); sys.exit(1)
PY
