#!/bin/bash
# Offline bundle: one tarball an air-gapped machine installs without apt or npm.
#   tools/dist.sh [--out DIR] [--allow-missing-vsix] VARIANT_DIR     (make dist: build/release)
# Produces DIR/seekd-VERSION-linux-x86_64.tar.gz (default DIR build/dist) holding, under
# seekd-VERSION/ (itself a usable prefix):
#   bin/seekd            relinked from VARIANT_DIR's objects with DT_RPATH $ORIGIN/../lib/seekd
#                        (RPATH, not RUNPATH: it also covers libopenblas's own libgfortran)
#   lib/seekd/*.so.*     the shared libraries seekd needs beyond glibc/libgcc, copied from Debian
#                        (libcjson-dev ships no .a, so a fully static link is not possible; one
#                        rule for all five libraries keeps the bundle simple and auditable)
#   share/seekd/models/  the bundled demo models (found by the daemon as <prefix>/share/seekd/models)
#   share/seekd/editors/ seekd.vsix and the Neovim plugin (nvim/)
#   share/doc/seekd/     README, licences of the grammars (npm packages) and of the shipped libraries
#   install.sh           install.sh --prefix DIR
set -euo pipefail
out=build/dist
allow_missing_vsix=0
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --allow-missing-vsix) allow_missing_vsix=1; shift ;;
        -*) echo "dist.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
variant=${1:?usage: tools/dist.sh [--out DIR] [--allow-missing-vsix] VARIANT_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
for f in "$variant/obj/daemon/main.o" "$variant/libseekd.a" build/grammars/libgrammars.a \
         models/seekd-demo-target.Q8_0.gguf models/seekd-demo-draft.Q8_0.gguf; do
    [ -f "$f" ] || { echo "dist.sh: missing $f (run make first)" >&2; exit 1; }
done
vsix=editors/vscode/build/seekd.vsix
if [ ! -f "$vsix" ] && [ $allow_missing_vsix = 0 ]; then
    echo "dist.sh: missing $vsix (run make vsix)" >&2; exit 1
fi
version=$("$variant/seekd" --version | awk '{print $2}')
[ -n "$version" ] || { echo "dist.sh: no version from $variant/seekd" >&2; exit 1; }
name=seekd-$version-linux-x86_64
mkdir -p "$out"
stage=$(mktemp -d "$out/.stage-XXXXXX")
trap 'rm -rf "$stage"' EXIT
p=$stage/seekd-$version
mkdir -p "$p/bin" "$p/lib/seekd" "$p/share/seekd/models" "$p/share/seekd/editors" \
         "$p/share/doc/seekd/licenses/grammars" "$p/share/doc/seekd/licenses/libraries"

# the binary, linked as make links it plus an rpath to the bundled libraries
cc -O2 -pthread -o "$p/bin/seekd" "$variant/obj/daemon/main.o" "$variant/libseekd.a" \
   build/grammars/libgrammars.a -luv -lcjson -lopenblas -lsqlite3 -ltree-sitter -lm -lpthread \
   -Wl,-rpath,'$ORIGIN/../lib/seekd' -Wl,--disable-new-dtags

# every shared library outside the base system (glibc, libgcc_s, the loader), by soname
ldd "$p/bin/seekd" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r soname path; do
    case "$soname" in
        libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libgcc_s.so.*|ld-linux*) continue ;;
    esac
    cp -L "$path" "$p/lib/seekd/$soname"
    chmod 0644 "$p/lib/seekd/$soname"
    real=$(readlink -f "$path")
    pkg=$(dpkg -S "$real" 2>/dev/null | head -1 | cut -d: -f1 || true)
    if [ -n "$pkg" ] && [ -f "/usr/share/doc/$pkg/copyright" ]; then
        cp "/usr/share/doc/$pkg/copyright" "$p/share/doc/seekd/licenses/libraries/$pkg.copyright"
    fi
done
# the bundled binary must resolve everything from lib/seekd (checked here, not at the user's)
if LD_LIBRARY_PATH= ldd "$p/bin/seekd" | grep -q 'not found'; then
    echo "dist.sh: unresolved libraries" >&2; ldd "$p/bin/seekd" >&2; exit 1
fi

# grammars: each compiled-in npm package's licence
for g in build/grammars/*/; do
    g=${g%/}; n=$(basename "$g")
    lic=$(ls "$g"/LICENSE* "$g"/LICENCE* "$g"/COPYING* 2>/dev/null | head -1 || true)
    [ -n "$lic" ] || { echo "dist.sh: no licence file in $g" >&2; exit 1; }
    v=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$g/package.json" | head -1)
    cp "$lic" "$p/share/doc/seekd/licenses/grammars/$n-$v.LICENSE"
done

cp models/seekd-demo-target.Q8_0.gguf models/seekd-demo-draft.Q8_0.gguf "$p/share/seekd/models/"
[ -f models/README.md ] && cp models/README.md "$p/share/seekd/models/"
chmod 0644 "$p/share/seekd/models/"*
[ -f "$vsix" ] && cp "$vsix" "$p/share/seekd/editors/seekd.vsix"
cp -r editors/nvim "$p/share/seekd/editors/nvim"
cp README.md "$p/share/doc/seekd/README.md"
cp tools/dist_install.sh "$p/install.sh"
chmod 0755 "$p/install.sh" "$p/bin/seekd"

tar -C "$stage" --owner=0 --group=0 --numeric-owner --sort=name -czf "$out/$name.tar.gz.tmp" "seekd-$version"
mv "$out/$name.tar.gz.tmp" "$out/$name.tar.gz"
echo "$out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1))"
