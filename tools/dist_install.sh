#!/bin/sh
# seekd offline installer (shipped as install.sh at the top of the dist tarball).
#   ./install.sh --prefix DIR      (default /usr/local)
# Installs DIR/bin/seekd, DIR/lib/seekd/ (its shared libraries, found through the binary's
# rpath), DIR/share/seekd/models/ (where seekd looks for its default models),
# DIR/share/seekd/editors/ (seekd.vsix, the Neovim plugin) and DIR/share/doc/seekd/.
# Needs nothing from the network.
set -eu
prefix=/usr/local
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
here=$(cd "$(dirname "$0")" && pwd)
umask 022
for d in bin lib/seekd share/seekd/models share/seekd/editors share/doc/seekd; do
    mkdir -p "$prefix/$d"
done
cp "$here/bin/seekd" "$prefix/bin/seekd.new" && mv "$prefix/bin/seekd.new" "$prefix/bin/seekd"
cp "$here"/lib/seekd/* "$prefix/lib/seekd/"
cp "$here"/share/seekd/models/* "$prefix/share/seekd/models/"
rm -rf "$prefix/share/seekd/editors/nvim"
cp -r "$here"/share/seekd/editors/* "$prefix/share/seekd/editors/"
cp -r "$here"/share/doc/seekd/* "$prefix/share/doc/seekd/"
"$prefix/bin/seekd" --version >/dev/null || { echo "install.sh: $prefix/bin/seekd does not run" >&2; exit 1; }
echo "seekd installed in $prefix"
echo "  binary:  $prefix/bin/seekd"
echo "  models:  $prefix/share/seekd/models"
echo "  VS Code: code --install-extension $prefix/share/seekd/editors/seekd.vsix"
echo "  Neovim:  set runtimepath^=$prefix/share/seekd/editors/nvim, then lua require('seekd').setup({ cmd = { '$prefix/bin/seekd', 'lsp' } })"
