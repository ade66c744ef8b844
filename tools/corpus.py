#!/usr/bin/python3
"""Build the demo-model training corpus from code shipped in installed Debian packages.

Only packages whose /usr/share/doc/PKG/copyright names a permissive licence are used (checked at
build time against the expected licence text below), and for the JavaScript bundled with the
nodejs package each npm module's own package.json "license" must be MIT, ISC, BSD-2-Clause,
BSD-3-Clause or Apache-2.0. Files are deduplicated by content, must be valid UTF-8, 200 B..200 KB,
with no line over 1000 characters (drops minified/generated code) and no GPL/LGPL notice.

Held-out split by file: sha256("PKG:path") -> first 32 bits mod 100 < 5 is held out.
Output (tools/work/corpus/, gitignored): train.jsonl, heldout.jsonl ({"path","text"} per line)
and manifest.json (exact package names + versions, licences, file counts, sha256 of each file).
"""
import hashlib
import json
import os
import subprocess
import sys

# package -> (licence label, text that must appear in its copyright file)
PY_PACKAGES = {
    "libpython3.11-minimal": ("PSF-2.0", "PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2"),
    "libpython3.11-stdlib": ("PSF-2.0", "PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2"),
    "python3-numpy": ("BSD-3-Clause", "License: BSD-3-Clause"),
    "python3-click": ("BSD-3-Clause", "License: BSD-3-clause"),
    "python3-attr": ("MIT", "License: Expat"),
    "python3-six": ("MIT", "License: Expat"),
    "python3-toml": ("MIT", "License: Expat"),
    "python3-dateutil": ("BSD-3-Clause", "License: BSD-3-clause"),
    "python3-mpmath": ("BSD-3-Clause", "License: BSD-3-clause"),
    "python3-psutil": ("BSD-3-Clause", "License: BSD-3-clause"),
    "python3-typing-extensions": ("PSF-2.0", "License: PSF"),
    "python3-sortedcontainers": ("Apache-2.0", "License: Apache-2.0"),
    "python3-urllib3": ("MIT", "License: Expat"),
}
JS_PACKAGE = "nodejs"
JS_ROOT = "/usr/lib/node_modules/npm/node_modules"
JS_LICENCES = {"MIT", "ISC", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0"}
HELDOUT_PERCENT = 5


def pkg_version(pkg):
    return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], check=True,
                          capture_output=True, text=True).stdout.strip()


def pkg_files(pkg):
    out = subprocess.run(["dpkg-query", "-L", pkg], check=True, capture_output=True, text=True).stdout
    return sorted(p for p in out.splitlines() if os.path.isfile(p))


def is_heldout(key):
    h = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(h[:4], "big") % 100 < HELDOUT_PERCENT


def accept(data):
    if not (200 <= len(data) <= 200_000):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in text or max(len(l) for l in text.split("\n")) > 1000:
        return None
    head = text[:4000]
    if "GNU General Public" in head or "GNU Lesser" in head or "GPL" in head:
        return None
    return text


def js_licence(path):
    """licence of the npm module that contains path (nearest package.json with a name)."""
    d = os.path.dirname(path)
    while d.startswith(JS_ROOT + "/"):
        pj = os.path.join(d, "package.json")
        if os.path.isfile(pj):
            try:
                with open(pj, encoding="utf-8") as f:
                    j = json.load(f)
            except (OSError, ValueError):
                j = {}
            if "name" in j:
                lic = j.get("license")
                if isinstance(lic, dict):
                    lic = lic.get("type")
                return j["name"], j.get("version", "?"), lic
        d = os.path.dirname(d)
    return None, None, None


def build(outdir):
    os.makedirs(outdir, exist_ok=True)
    seen = set()
    files = {"train": [], "heldout": []}
    manifest = {"heldout_rule": f"sha256('PKG:path')[:4] big-endian % 100 < {HELDOUT_PERCENT}",
                "packages": [], "npm_modules": {}, "files": []}

    def add(pkg, path, text):
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest in seen:
            return
        seen.add(digest)
        split = "heldout" if is_heldout(pkg + ":" + path) else "train"
        files[split].append({"path": path, "text": text})
        manifest["files"].append([pkg, path, split, digest])

    for pkg, (lic, needle) in PY_PACKAGES.items():
        with open(f"/usr/share/doc/{pkg}/copyright", encoding="utf-8", errors="replace") as f:
            if needle not in f.read():
                sys.exit(f"corpus: {pkg}: copyright file lacks {needle!r}; refusing")
        n = 0
        for p in pkg_files(pkg):
            if not p.endswith(".py"):
                continue
            with open(p, "rb") as f:
                text = accept(f.read())
            if text is not None:
                add(pkg, p, text)
                n += 1
        manifest["packages"].append({"package": pkg, "version": pkg_version(pkg), "licence": lic,
                                     "files": n})
    n = 0
    for p in pkg_files(JS_PACKAGE):
        if not p.startswith(JS_ROOT + "/") or not p.endswith(".js") or p.endswith(".min.js"):
            continue
        name, ver, lic = js_licence(p)
        if lic not in JS_LICENCES:
            continue
        with open(p, "rb") as f:
            text = accept(f.read())
        if text is None:
            continue
        add(JS_PACKAGE, p, text)
        manifest["npm_modules"][name] = {"version": ver, "licence": lic}
        n += 1
    manifest["packages"].append({"package": JS_PACKAGE, "version": pkg_version(JS_PACKAGE),
                                 "licence": "per bundled npm module (npm_modules)", "files": n,
                                 "root": JS_ROOT})
    for split, lst in files.items():
        with open(os.path.join(outdir, split + ".jsonl"), "w", encoding="utf-8") as f:
            for r in lst:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        manifest[split + "_files"] = len(lst)
        manifest[split + "_bytes"] = sum(len(r["text"].encode()) for r in lst)
    with open(os.path.join(outdir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def iter_split(outdir, split):
    with open(os.path.join(outdir, split + ".jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            yield r["path"], r["text"]


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "tools/work/corpus"
    m = build(out)
    for p in m["packages"]:
        print(f"{p['package']} {p['version']} {p['licence']} files={p['files']}")
    print(f"npm modules: {len(m['npm_modules'])}; train {m['train_files']} files "
          f"{m['train_bytes']} B; heldout {m['heldout_files']} files {m['heldout_bytes']} B")
