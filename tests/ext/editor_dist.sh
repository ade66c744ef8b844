#!/bin/sh
# Offline bundle: tools/dist.sh builds the tarball from this build variant, install.sh puts it in
# a temp prefix, and the installed seekd completes a sample file with networking off
# (unshare -n), finding its libraries in PREFIX/lib/seekd and its models in
# PREFIX/share/seekd/models (nothing from the source tree).
set -eu
ROOT=$(pwd)
OUT=${SEEKD_OUT:-$ROOT/build/release}
case "$OUT" in *asan*|*tsan*|*fuzz*) echo "skip: the bundle is built from plain builds only"; exit 77 ;; esac
[ -f models/seekd-demo-target.Q8_0.gguf ] || { echo "skip: bundled model missing"; exit 77; }
if unshare -n true 2>/dev/null; then NONET="unshare -n"
elif unshare -rn true 2>/dev/null; then NONET="unshare -rn"
else echo "skip: unshare -n not permitted here"; exit 77; fi
TMP=$(mktemp -d /tmp/seekd-dist-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
tools/dist.sh --out "$TMP/dist" --allow-missing-vsix "$OUT" >"$TMP/dist.log" 2>&1 || { cat "$TMP/dist.log"; exit 1; }
set -- "$TMP"/dist/seekd-*-linux-x86_64.tar.gz
[ -f "$1" ] || { echo "FAIL: no tarball"; ls -la "$TMP/dist"; exit 1; }
mkdir "$TMP/unpack"
tar -C "$TMP/unpack" -xzf "$1"
sh "$TMP"/unpack/seekd-*/install.sh --prefix "$TMP/prefix" >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; exit 1; }
rm -rf "$TMP/unpack" "$TMP/dist"
P=$TMP/prefix
for f in bin/seekd share/seekd/models/seekd-demo-target.Q8_0.gguf share/seekd/models/seekd-demo-draft.Q8_0.gguf \
         share/seekd/editors/nvim/lua/seekd/init.lua share/doc/seekd/licenses/grammars/tree-sitter-python-0.23.6.LICENSE; do
  [ -f "$P/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
# the bundled libraries are the ones used (rpath), for every library outside glibc
ldd "$P/bin/seekd" > "$TMP/ldd"
for lib in libuv libcjson libopenblas libsqlite3 libtree-sitter libgfortran; do
  grep -q "^[[:space:]]*$lib\.so[.0-9]* => $P/bin/\.\./lib/seekd/" "$TMP/ldd" || { echo "FAIL: $lib not from the bundle"; cat "$TMP/ldd"; exit 1; }
done
mkdir -p "$TMP/work" "$TMP/home"
cat > "$TMP/work/stack.c" <<'C'
#include <stdlib.h>

struct stack {
    int *items;
    int len, cap;
};

int stack_push(struct stack *s, int v)
{
    if (s->len == s->cap) {
        int cap = s->cap ? s->cap * 2 : 8;
        int *n = realloc(s->items, cap * sizeof *n);
        if (!n)
            return -1;
        s->items = n;
        s->cap = cap;
    }
    
C
cat > "$TMP/work/shapes.py" <<'PY'
import math


def area_of_circle(radius):
    """Area of a circle of the given radius."""
    return math.pi * radius * radius


def area_of_square(side):
    """Area of a square."""
    return 
PY
# Only the installed tree: empty environment, HOME/XDG in the temp dir, no network.  The demo
# model's post-processed output can be empty at a given position, so a few positions are tried;
# at least one must give a non-empty completion from the model.
n=0
for at in "shapes.py 11 12" "stack.c 19 5" "shapes.py 10 27"; do
  set -- $at
  out=$(cd "$TMP/work" && env -i PATH=/usr/bin:/bin HOME="$TMP/home" XDG_CACHE_HOME="$TMP/home/cache" \
        XDG_CONFIG_HOME="$TMP/home/config" $NONET "$P/bin/seekd" complete "$1" "$2" "$3" --json --no-cache 2>"$TMP/err") || {
    echo "FAIL: seekd complete $at exited $?"; cat "$TMP/err"; exit 1; }
  echo "$at: $out"
  if python3 - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
sys.exit(0 if r.get("completion", "").strip() and r.get("source") == "model" else 1)
PY
  then n=$((n + 1)); fi
done
[ $n -ge 1 ] || { echo "FAIL: no non-empty completion from the installed seekd"; exit 1; }
echo "$n non-empty completion(s) offline"
