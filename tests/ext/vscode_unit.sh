#!/bin/sh
# The VS Code extension's own logic under node's test runner (compiles the TypeScript first).
set -eu
cd editors/vscode
[ -d node_modules ] || { echo "node_modules missing: run make deps"; exit 1; }
npx tsc -p . && node --test out/test/
