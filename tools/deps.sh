#!/bin/sh
# Installs what seekd needs and a fresh Debian 12 lacks, from deps.txt: Debian packages with
# apt-get, npm packages with `npm pack` checked against their pinned integrity hashes.
# Idempotent and quiet when everything is present.  Usage: tools/deps.sh [--e2e] [BUILD_DIR]
# (--e2e adds the `e2e` lines: what `make test-e2e` needs beyond `make test`).
set -eu
kinds=deb
if [ "${1:-}" = "--e2e" ]; then kinds="deb|e2e"; shift; fi
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
list=$top/deps.txt
mkdir -p "$build/deps"
# One installer at a time (several makes may start at once).
if [ -z "${SEEKD_DEPS_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
    export SEEKD_DEPS_LOCKED=1
    [ "$kinds" = deb ] || set -- --e2e "$@"
    exec flock "$build/deps/.lock" "$0" "$@"
fi

# --- Debian packages ---------------------------------------------------------------------
missing=""
for p in $(awk -v k="^($kinds)$" '$1 ~ k { print $2 (NF > 2 ? ":" $3 : "") }' "$list"); do
    case "$p" in *:*) cmd=${p#*:}; p=${p%%:*}
        if command -v "$cmd" >/dev/null 2>&1; then continue; fi ;; esac
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "seekd deps: missing Debian packages:$missing" >&2
        echo "run:  sudo apt-get update && sudo apt-get install -y$missing" >&2
        exit 1
    fi
    echo "seekd deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends $missing >&2
fi

# --- npm packages ------------------------------------------------------------------------
# The integrity string is "sha512-" + base64(sha512(tarball)); compare it in hex using coreutils only.
verify() { # tarball integrity
    want=$(printf '%s' "${2#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
    have=$(sha512sum "$1" | cut -d' ' -f1)
    [ "$want" = "$have" ]
}
fetch() { # name version integrity -> prints the path of the verified tarball
    tgz=$build/deps/$1-$2.tgz
    if [ ! -f "$tgz" ] || ! verify "$tgz" "$3"; then
        tmp=$(mktemp -d)
        (cd "$tmp" && npm pack --silent "$1@$2" >/dev/null 2>&1) || {
            echo "seekd deps: npm pack $1@$2 failed" >&2; rm -rf "$tmp"; exit 1; }
        mv "$tmp"/*.tgz "$tgz"; rm -rf "$tmp"
        if ! verify "$tgz" "$3"; then
            echo "seekd deps: $1@$2 does not match its pinned integrity hash; refusing it" >&2
            rm -f "$tgz"; exit 1
        fi
    fi
    echo "$tgz"
}

grammars_changed=0
awk '$1 == "npm" { print $2, $3, $4, $5 }' "$list" | while read -r name ver integ kind; do
    stamp=$build/deps/$name-$ver.ok
    [ -f "$stamp" ] && continue
    tgz=$(fetch "$name" "$ver" "$integ")
    case "$kind" in
    grammar)
        dest=$build/grammars/$name
        rm -rf "$dest"; mkdir -p "$dest"
        tar -xzf "$tgz" -C "$dest" --strip-components=1
        for parser in $(find "$dest" -path '*/src/parser.c' -not -path '*/node_modules/*'); do
            abi=$(sed -n 's/^#define LANGUAGE_VERSION \([0-9]*\).*/\1/p' "$parser")
            case "$abi" in 13|14) ;; *)
                echo "seekd deps: $name@$ver $parser has ABI $abi; the runtime takes 13-14" >&2; exit 1 ;;
            esac
        done
        ;;
    node)
        dest=$build/node/node_modules/$name
        rm -rf "$dest"; mkdir -p "$dest"
        tar -xzf "$tgz" -C "$dest" --strip-components=1
        ;;
    *) echo "seekd deps: unknown kind '$kind' for $name" >&2; exit 1 ;;
    esac
    touch "$stamp"
done

# --- package-lock.json folders ---------------------------------------------------------------
for dir in $(awk '$1 == "lock" { print $2 }' "$list"); do
    stamp=$build/deps/lock-$(printf '%s' "$dir" | tr '/' '_').ok
    if [ ! -d "$top/$dir/node_modules" ] || [ ! -f "$stamp" ] || [ "$top/$dir/package-lock.json" -nt "$stamp" ]; then
        (cd "$top/$dir" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) || {
            echo "seekd deps: npm ci in $dir failed" >&2; exit 1; }
        touch "$stamp"
    fi
done

# --- compile the grammars into one static library ------------------------------------------
lib=$build/grammars/libgrammars.a
if [ ! -f "$lib" ] || [ -n "$(find "$build/deps" -name 'tree-sitter-*.ok' -newer "$lib")" ]; then
    objs=""
    for src in $(find "$build/grammars" -path '*/src/parser.c' -not -path '*/node_modules/*' -o \
                      -path '*/src/scanner.c' -not -path '*/node_modules/*' | sort); do
        obj=${src%.c}.o
        ${CC:-cc} -O2 -w -fPIC -std=c11 -I"$(dirname "$src")" -c "$src" -o "$obj"
        objs="$objs $obj"
    done
    rm -f "$lib"
    ar rcs "$lib" $objs
fi
exit 0
