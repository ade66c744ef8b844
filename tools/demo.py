#!/usr/bin/env python3
"""`make demo`: a scripted editor session against `seekd lsp`.

Opens examples/demo.py (copied into a temporary workspace), types a new function character by
character the way an editor reports it (didChange, then textDocument/inlineCompletion), and prints
for each request the suggestion, its latency and where it came from (model with KV reuse, the
SQLite cache, or typing through a shown suggestion).  Then it deletes the new function and types
it again, which the cache answers.

It fails (exit 1) unless
  - most model answers are non-empty,
  - most non-empty suggestions leave the file parseable (no more syntax errors than without
    them, checked with seekd/parse) and the typed file parses cleanly, and
  - at least one suggestion came from the cache or from typing through.

Standard library only; LSP framing by hand.  Usage:
  tools/demo.py [--seekd build/release/seekd] [--model F.gguf] [--quiet]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NEW_CODE = (
    "\n\n\ndef most_expensive(items):\n"
    "    \"\"\"The item with the highest price, or None for an empty list.\"\"\"\n"
    "    if not items:\n"
    "        return None\n"
    "    return max(items, key=lambda item: item[\"price\"])"
)


class Client:
    """A minimal LSP client over a subprocess's stdio."""

    def __init__(self, argv, env=None, log=None):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=log or subprocess.DEVNULL, env=env)
        self.next_id = 0
        self.lock = threading.Condition()
        self.responses = {}
        self.notifications = []
        self.requests = []
        self.closed = False
        self.t = threading.Thread(target=self._reader, daemon=True)
        self.t.start()

    def _reader(self):
        f = self.p.stdout
        while True:
            length = None
            while True:
                line = f.readline()
                if not line:
                    with self.lock:
                        self.closed = True
                        self.lock.notify_all()
                    return
                line = line.strip()
                if not line:
                    break
                k, _, v = line.decode().partition(":")
                if k.lower() == "content-length":
                    length = int(v)
            body = f.read(length)
            msg = json.loads(body)
            with self.lock:
                if "id" in msg and "method" in msg:
                    self.requests.append(msg)
                    self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
                elif "id" in msg:
                    self.responses[msg["id"]] = msg
                else:
                    self.notifications.append(msg)
                self.lock.notify_all()

    def send(self, msg):
        data = json.dumps(msg).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.p.stdin.flush()

    def request(self, method, params):
        self.next_id += 1
        i = self.next_id
        msg = {"jsonrpc": "2.0", "id": i, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return i

    def wait(self, i, timeout=120):
        end = time.time() + timeout
        with self.lock:
            while i not in self.responses:
                if self.closed or time.time() > end:
                    raise RuntimeError("no response to request %d" % i)
                self.lock.wait(0.5)
            return self.responses.pop(i)

    def call(self, method, params, timeout=120):
        return self.wait(self.request(method, params), timeout)

    def notify(self, method, params):
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def wait_notification(self, pred, timeout=120):
        end = time.time() + timeout
        with self.lock:
            while True:
                for n in self.notifications:
                    if pred(n):
                        self.notifications.remove(n)
                        return n
                if self.closed or time.time() > end:
                    return None
                self.lock.wait(0.5)

    def close(self):
        try:
            self.call("shutdown", None, timeout=30)
            self.notify("exit", None)
        except Exception:
            pass
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
        return self.p.returncode


def utf16_len(s):
    return len(s.encode("utf-16-le")) // 2


class Doc:
    """The editor's copy of the document, with LSP positions (utf-16)."""

    def __init__(self, text):
        self.text = text
        self.version = 1

    def pos_of(self, off):
        before = self.text[:off]
        line = before.count("\n")
        col = utf16_len(before[before.rfind("\n") + 1:])
        return {"line": line, "character": col}

    def insert(self, c, off, uri, client):
        p = self.pos_of(off)
        self.text = self.text[:off] + c + self.text[off:]
        self.version += 1
        client.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": self.version},
            "contentChanges": [{"range": {"start": p, "end": p}, "text": c}]})

    def delete(self, a, b, uri, client):
        pa, pb = self.pos_of(a), self.pos_of(b)
        self.text = self.text[:a] + self.text[b:]
        self.version += 1
        client.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": self.version},
            "contentChanges": [{"range": {"start": pa, "end": pb}, "text": ""}]})


def syntax_errors(client, text):
    r = client.call("seekd/parse", {"languageId": "python", "text": text})
    sexp = r.get("result", {}).get("sexp") or ""
    return sexp.count("(ERROR") + sexp.count("(MISSING")


def start_server(seekd, model, tmp, log, threads=0):
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")
    env["XDG_CONFIG_HOME"] = os.path.join(tmp, "config")
    c = Client([seekd, "lsp", "--log-level", "warn"], env=env, log=log)
    opts = {}
    if model:
        opts = {"models": {"completion": model}}
    if threads:
        opts["threads"] = threads
    r = c.call("initialize", {"processId": os.getpid(), "rootUri": "file://" + tmp,
                              "capabilities": {"window": {"workDoneProgress": True}},
                              "initializationOptions": opts})
    c.notify("initialized", {})
    st = c.wait_notification(lambda n: n["method"] == "seekd/status" and
                             n["params"]["state"] in ("ready", "error"), timeout=300)
    return c, r, st


def type_text(c, doc, uri, off, text, results, quiet, label):
    for ch in text:
        doc.insert(ch, off, uri, c)
        off += len(ch)
        t0 = time.time()
        r = c.call("textDocument/inlineCompletion", {
            "textDocument": {"uri": uri}, "position": doc.pos_of(off),
            "context": {"triggerKind": 2}})
        ms = (time.time() - t0) * 1000
        items = (r.get("result") or {}).get("items") or []
        sug = items[0]["insertText"] if items else ""
        info = items[0].get("data", {}).get("seekd", {}) if items else {}
        if not items:
            last = c.call("seekd/lastCompletion", {}).get("result") or {}
            info = last
        src = info.get("source", "none")
        if src == "model" and info.get("kvReused"):
            how = "model (KV reuse %d/%d)" % (info["kvReused"], info["promptTokens"])
        else:
            how = src
        how += " d" if info.get("deadline") else ""
        how += " e%s g%s" % (info.get("evaluated"), info.get("generated"))
        results.append({"typed": ch, "suggestion": sug, "source": src, "ms": ms, "off": off,
                        "items": items, "text": doc.text, "label": label})
        if not quiet:
            print("%-6s %-3r %7.1f ms  %-28s %r" % (label, ch, ms, how, sug[:60]))
    return off


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seekd", default=os.path.join(ROOT, "build", "release", "seekd"))
    ap.add_argument("--model", default=None, help="completion GGUF (default: the bundled one)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="inference threads (0 = all CPUs)")
    ap.add_argument("--no-quality", action="store_true",
                    help="skip the suggestion-quality checks (random-weight models)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="seekd-demo-")
    rc = 1
    try:
        src = os.path.join(ROOT, "examples", "demo.py")
        path = os.path.join(tmp, "demo.py")
        shutil.copy(src, path)
        text = open(path, encoding="utf-8").read()
        uri = "file://" + path
        log = open(os.path.join(tmp, "seekd.log"), "w")
        c, init, st = start_server(a.seekd, a.model, tmp, log, a.threads)
        caps = init["result"]["capabilities"]
        assert "inlineCompletionProvider" in caps
        print("seekd: %s (%s)" % (st["params"]["state"] if st else "?",
                                  st["params"]["message"] if st else "no status"))
        if not st or st["params"]["state"] != "ready":
            print("demo: the completion model did not load; see %s" % log.name)
            c.close()
            return 1
        c.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": text}})
        doc = Doc(text)
        results = []
        # the cursor goes before the file's final newline (an editor's usual end of file)
        text = text.rstrip("\n") + "\n"
        doc.delete(0, len(doc.text), uri, c)
        doc.insert(text, 0, uri, c)
        start = len(text) - 1
        end = type_text(c, doc, uri, start, NEW_CODE, results, a.quiet, "type")
        # undo the new function, then type it again: the cache knows these positions
        doc.delete(start, end, uri, c)
        type_text(c, doc, uri, start, NEW_CODE[:40], results, a.quiet, "retype")
        final_errors = syntax_errors(c, doc.text[:start] + NEW_CODE + doc.text[start + 40:])

        model = [r for r in results if r["source"] == "model" or r["source"] == "none"]
        nonempty = [r for r in results if r["suggestion"]]
        keep_ok = 0
        for r in nonempty:
            t = r["text"]
            o = r["off"]
            before = syntax_errors(c, t)
            rng = r["items"][0]["range"]
            rep = rng["end"]["character"] - rng["start"]["character"]
            after = syntax_errors(c, t[:o] + r["suggestion"] + t[o + rep:])
            keep_ok += after <= before
        served = [r for r in results if r["source"] in ("cache", "cacheTyped", "typedThrough")]
        lat = sorted(r["ms"] for r in results)
        p50 = lat[len(lat) // 2] if lat else 0
        p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))] if lat else 0
        model_nonempty = sum(1 for r in model if r["suggestion"])
        print()
        print("requests %d: model %d (non-empty %d), cache %d, typed-through %d" % (
            len(results), len(model), model_nonempty,
            sum(r["source"] in ("cache", "cacheTyped") for r in results),
            sum(r["source"] == "typedThrough" for r in results)))
        print("latency p50 %.1f ms, p95 %.1f ms" % (p50, p95))
        print("non-empty suggestions keeping the file parseable: %d/%d; typed file errors: %d" % (
            keep_ok, len(nonempty), final_errors))
        status = c.call("seekd/status", {}).get("result")
        print("status: %s" % json.dumps(status))
        ok = True
        if not served:
            print("FAIL: no suggestion came from the cache or typing through")
            ok = False
        if not a.no_quality:
            if not model or model_nonempty * 2 < len(model):
                print("FAIL: most model answers were empty")
                ok = False
            if not nonempty or keep_ok * 2 < len(nonempty) or final_errors:
                print("FAIL: suggestions break the syntax")
                ok = False
        code = c.close()
        if code != 0:
            print("FAIL: seekd exited with %s" % code)
            ok = False
        print("demo: %s" % ("ok" if ok else "FAILED"))
        rc = 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
