#!/bin/bash
# VS Code end to end (make test-e2e): code-server 4.100.3 with seekd.vsix installed into a fresh
# user-data-dir and extensions-dir, served on 127.0.0.1 (auth none), driven by Debian's headless
# Chromium through playwright-core (drive.js): open a Python file, type, wait for the ghost text,
# Tab, save, check the file.  Artifacts in build/e2e/: screenshot.png, code-server.log, seekd.log.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
SEEKD_BIN=${SEEKD_BIN:-$root/build/release/seekd}
vsix=editors/vscode/build/seekd.vsix
[ -f "$vsix" ] || { echo "e2e: $vsix missing (make vsix)"; exit 1; }
[ -x /usr/bin/chromium ] || { echo "e2e: /usr/bin/chromium missing (deps.txt: deb chromium)"; exit 1; }
t0=$(date +%s)
tests/e2e/install.sh
t1=$(date +%s)
e2e=$root/build/e2e
cs=$e2e/node_modules/.bin/code-server
run=$(mktemp -d "$e2e/run-XXXXXX")
cs_pid=
cleanup() {
    [ -n "$cs_pid" ] && kill "$cs_pid" 2>/dev/null && wait "$cs_pid" 2>/dev/null || true
    rm -rf "$run"
}
trap cleanup EXIT
mkdir -p "$run/user/User" "$run/ext" "$run/ws" "$run/cache" "$run/config" "$run/home"
export HOME=$run/home XDG_CACHE_HOME=$run/cache XDG_CONFIG_HOME=$run/config XDG_DATA_HOME=$run/home/.local/share
cat > "$run/user/User/settings.json" <<JSON
{
  "seekd.serverPath": "$SEEKD_BIN",
  "seekd.threads": 1,
  "editor.inlineSuggest.enabled": true,
  "editor.quickSuggestions": { "other": false, "comments": false, "strings": false },
  "editor.suggestOnTriggerCharacters": false,
  "editor.wordBasedSuggestions": "off",
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.enableExperiments": false,
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "security.workspace.trust.enabled": false,
  "files.autoSave": "off",
  "git.enabled": false,
  "git.openRepositoryInParentFolders": "never"
}
JSON
cat > "$run/ws/shapes.py" <<'PY'
import math


def area_of_circle(radius):
    """Area of a circle of the given radius."""
    return math.pi * radius * radius


def area_of_square(side):
    """Area of a square."""
    
PY
common=(--user-data-dir "$run/user" --extensions-dir "$run/ext")
"$cs" "${common[@]}" --install-extension "$root/$vsix" > "$run/install.log" 2>&1 || { cat "$run/install.log"; exit 1; }
ls "$run/ext" | grep -q seekd || { echo "e2e: the extension did not install"; cat "$run/install.log"; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$cs" "${common[@]}" --bind-addr "127.0.0.1:$port" --auth none --disable-telemetry --disable-update-check \
      --disable-workspace-trust --disable-getting-started-override --disable-file-downloads \
      --log info "$run/ws" > "$e2e/code-server.log" 2>&1 &
cs_pid=$!
for _ in $(seq 1 120); do
    python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null && break
    kill -0 "$cs_pid" 2>/dev/null || { echo "e2e: code-server died"; cat "$e2e/code-server.log"; exit 1; }
    sleep 0.5
done
t2=$(date +%s)
rc=0
(cd "$e2e" && NODE_PATH=$e2e/node_modules node "$root/tests/e2e/drive.js" "http://127.0.0.1:$port/?folder=$run/ws" "$run/ws/shapes.py" \
    "$e2e/screenshot.png" "$run/chromium-profile") || rc=$?
t3=$(date +%s)
# the daemon saw the suggestion shown (didShowCompletion) and accepted (seekd.accepted on Tab)
if [ $rc -eq 0 ]; then
    kill "$cs_pid" 2>/dev/null; wait "$cs_pid" 2>/dev/null || true; cs_pid=
    stats=$("$SEEKD_BIN" cache stats --json --db "$run/cache/seekd/cache.db") || rc=1
    echo "$stats"
    python3 - "$stats" <<'PY' || rc=1
import json, sys
c = json.loads(sys.argv[1])["completions"]
bad = [k for k in ("shown", "accepted") if c[k] < 1]
if bad:
    print("FAIL: the daemon did not count", bad, "->", c); sys.exit(1)
PY
fi
find "$run/user/logs" -name '*seekd*' -exec cp {} "$e2e/" \; 2>/dev/null || true
echo "e2e timings: install $((t1 - t0))s, code-server up $((t2 - t1))s, browser test $((t3 - t2))s, total $((t3 - t0))s"
echo "screenshot: build/e2e/screenshot.png"
if [ $rc -ne 0 ]; then
    echo "--- code-server.log (tail)"; tail -20 "$e2e/code-server.log"
fi
exit $rc
