#!/bin/bash
# Installs the e2e tools into build/e2e from tests/e2e/package.json (+ package-lock.json when
# present): code-server 4.100.3 (VS Code 1.100) on Node 20 and playwright-core.  Only the npm
# registry is contacted: @vscode/ripgrep's postinstall finds Debian's rg in its download cache
# (TMPDIR/vscode-ripgrep-cache-VERSION/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz), native
# modules build against Debian's node headers (npm_config_nodedir=/usr, libkrb5-dev for kerberos).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest=$root/build/e2e
stamp=$dest/.installed
want=$(cat "$root/tests/e2e/package.json" "$root/tests/e2e/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$dest/node_modules/.bin/code-server" ]; then
    exit 0
fi
command -v rg >/dev/null || { echo "e2e: ripgrep missing (deps.txt: deb ripgrep)" >&2; exit 1; }
mkdir -p "$dest/tmp"
cp "$root/tests/e2e/package.json" "$dest/"
[ -f "$root/tests/e2e/package-lock.json" ] && cp "$root/tests/e2e/package-lock.json" "$dest/"
# Debian's ripgrep where @vscode/ripgrep (1.15.x) looks before downloading
rgtmp=$(mktemp -d)
cp "$(command -v rg)" "$rgtmp/rg"
for v in 1.15.9 1.15.10 1.15.11 1.15.12 1.15.13 1.15.14; do
    mkdir -p "$dest/tmp/vscode-ripgrep-cache-$v"
    tar -C "$rgtmp" -czf "$dest/tmp/vscode-ripgrep-cache-$v/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" rg
done
rm -rf "$rgtmp"
cd "$dest"
export TMPDIR=$dest/tmp npm_config_nodedir=/usr npm_config_unsafe_perm=true
# prebuild-install (argon2, kerberos, ...) would fetch binaries from GitHub: build from source instead
export npm_config_build_from_source=true
# node-pty's post-install runs `npx node-gyp`; npx takes a global install before fetching one, so a
# private global prefix links npm's own bundled node-gyp
gyp=$(npm root -g)/npm/node_modules/node-gyp
[ -f "$gyp/bin/node-gyp.js" ] || { echo "e2e: npm's bundled node-gyp not found at $gyp" >&2; exit 1; }
mkdir -p "$dest/gprefix/lib/node_modules" "$dest/gprefix/bin"
ln -sfn "$gyp" "$dest/gprefix/lib/node_modules/node-gyp"
ln -sfn ../lib/node_modules/node-gyp/bin/node-gyp.js "$dest/gprefix/bin/node-gyp"
export npm_config_prefix=$dest/gprefix
# no telemetry/ad downloads from install scripts that honour these
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 ELECTRON_SKIP_BINARY_DOWNLOAD=1 VSCODE_SKIP_NODE_VERSION_CHECK=
if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --unsafe-perm
else
    npm install --no-audit --no-fund --unsafe-perm
    cp package-lock.json "$root/tests/e2e/package-lock.json"
fi
[ -x node_modules/.bin/code-server ] || { echo "e2e: code-server did not install" >&2; exit 1; }
cat "$root/tests/e2e/package.json" "$root/tests/e2e/package-lock.json" | sha256sum | cut -d' ' -f1 > "$stamp"
