#!/usr/bin/env python3
"""`make demo`: a scripted editor session against `seekd lsp`.

Opens examples/demo.py (copied into a temporary workspace) and types a new function the way a
user does in an editor: one character every --key-ms (150 ms, about 80 words a minute), each
keystroke a didChange followed by textDocument/inlineCompletion, the request still open from
the previous keystroke cancelled ($/cancelRequest, as VS Code does); Enter inserts the new line
with its indentation in one change (the editor's auto-indent); the user pauses (--pause-ms,
1500 ms) at the end of each line and at the start of the next, where the suggestion is read.
A suggestion that spells exactly what the user was about to type next on the line is accepted
(Tab: inserted in one change, seekd.accepted run).  Then the new function is deleted and its
first 40 characters typed again, which the cache answers.

For each answered request it prints the latency, where the answer came from (model with KV
reuse, the SQLite cache, typing through a shown suggestion) and the suggestion, or for an empty
answer why it is empty (emptyReason: "eos" = the model's first token ended the answer,
"post:<step>" = the post-processing step that removed it, e.g. post:syntax for the syntax
guard, post:cutLine for a single-line answer whose first line was empty) with the model's raw
text; then a summary.  --sync waits for every answer before the next keystroke instead (no
cancellation: every keystroke is answered, figures comparable between models).

It fails (exit 1) unless
  - most model answers are non-empty,
  - most non-empty suggestions leave the file parseable (no more syntax errors than without
    them, checked with seekd/parse) and the typed file parses cleanly, and
  - at least one suggestion came from the cache or from typing through.

Standard library only; LSP framing by hand.  Usage:
  tools/demo.py [--seekd build/release/seekd] [--model F.gguf] [--draft D.gguf] [--sync]
                [--quiet]
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
                    msg["_t"] = time.time()
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

    def poll(self, i):
        """The response to request i if it arrived (removed), else None."""
        with self.lock:
            return self.responses.pop(i, None)

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


def start_server(seekd, model, tmp, log, threads=0, draft=None):
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")
    env["XDG_CONFIG_HOME"] = os.path.join(tmp, "config")
    c = Client([seekd, "lsp", "--log-level", "warn"], env=env, log=log)
    opts = {}
    if model or draft:
        opts["models"] = {}
    if model:
        opts["models"]["completion"] = model
    if draft:
        opts["models"]["completionDraft"] = "" if draft == "none" else draft
    if threads:
        opts["threads"] = threads
    r = c.call("initialize", {"processId": os.getpid(), "rootUri": "file://" + tmp,
                              "capabilities": {"window": {"workDoneProgress": True}},
                              "initializationOptions": opts})
    c.notify("initialized", {})
    st = c.wait_notification(lambda n: n["method"] == "seekd/status" and
                             n["params"]["state"] in ("ready", "error"), timeout=300)
    return c, r, st


def script(code):
    """The user's actions for typing `code` at the end of a file, each with the offset in code
    where its text goes: ("key", ch, at) for a character, ("enter", "\n" + indentation, at) for
    Enter with the editor's auto-indent, ("pause", "", at) where the user stops to read the
    suggestion (the end of a line and the start of the next)."""
    acts = []
    at = 0
    for i, line in enumerate(code.split("\n")):
        if i > 0:
            ind = line[:len(line) - len(line.lstrip(" "))]
            if acts and acts[-1][0] == "key":
                acts.append(("pause", "", at))
            acts.append(("enter", "\n" + ind, at))
            at += 1 + len(ind)
            if line.strip():
                acts.append(("pause", "", at))
            line = line[len(ind):]
        for ch in line:
            acts.append(("key", ch, at))
            at += len(ch)
    return acts


class Session:
    """Runs a typing script against the server and collects one row per answered request."""

    def __init__(self, c, doc, uri, args):
        self.c, self.doc, self.uri, self.a = c, doc, uri, args
        self.rows = []
        self.open = []        # [(request id, row)] not answered yet
        self.cancelled = 0
        self.accepted = 0

    def request(self, off, typed, label):
        i = self.c.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": self.uri}, "position": self.doc.pos_of(off),
            "context": {"triggerKind": 2}})
        row = {"id": i, "typed": typed, "label": label, "t0": time.time(), "off": off,
               "text": self.doc.text}
        self.open.append((i, row))
        return row

    def settle(self, wait_s=0.0):
        """Collects the answers that arrived (waiting up to wait_s for the newest one)."""
        end = time.time() + wait_s
        while True:
            still = []
            for i, row in self.open:
                msg = self.c.poll(i)
                if msg is None:
                    still.append((i, row))
                else:
                    self.answered(row, msg)
            self.open = still
            if not self.open or time.time() >= end:
                return
            time.sleep(0.005)

    def answered(self, row, msg):
        res = msg.get("result")
        if "error" in msg or res is None:  # superseded or cancelled: never shown
            self.cancelled += 1
            return
        items = res.get("items") or []
        info = self.c.call("seekd/lastCompletion", {"id": row["id"]}).get("result") or {}
        row.update(ms=(msg["_t"] - row["t0"]) * 1000, items=items,
                   suggestion=items[0]["insertText"] if items else "",
                   source=info.get("source", "none"), info=info,
                   why=None if items else (info.get("emptyReason") or "?"))
        self.rows.append(row)
        if not self.a.quiet:
            self.print_row(row)

    def print_row(self, r):
        info = r["info"]
        src = r["source"]
        if src == "model" and info.get("kvReused"):
            how = "model (KV %d/%d)" % (info["kvReused"], info["promptTokens"])
        else:
            how = src
        if info.get("deadline"):
            how += " deadline"
        if src == "model":
            how += " g%s" % info.get("generated")
        if r["suggestion"]:
            shown = repr(r["suggestion"][:60])
        else:
            shown = "(empty: %s) raw %r" % (r["why"], info.get("raw", "")[:48])
        print("%-6s %-6s %7.1f ms  %-24s %s" % (r["label"], r["typed"], r["ms"], how, shown))

    def cancel_open(self):
        for i, _ in self.open:
            self.c.notify("$/cancelRequest", {"id": i})

    def accept(self, row, off, rest):
        """Tab on the shown suggestion when it is exactly what comes next on the line."""
        sug = row.get("suggestion") or ""
        line_rest = rest.split("\n", 1)[0]
        if len(sug) < 2 or "\n" in sug or not line_rest.startswith(sug):
            return 0
        rng = row["items"][0]["range"]
        if rng["start"] != rng["end"]:
            return 0
        self.doc.insert(sug, off, self.uri, self.c)
        cmd = row["items"][0].get("command")
        if cmd:
            self.c.call("workspace/executeCommand", {"command": cmd["command"],
                                                    "arguments": cmd.get("arguments", [])})
        self.accepted += 1
        if not self.a.quiet:
            print("%-6s %-6s accepted %r" % (row["label"], "Tab", sug))
        return len(sug)

    def type(self, off, code, label):
        """Types code at off following script(code); returns the end offset."""
        acts = script(code)
        done = ""  # what has been typed of code
        last = None
        for kind, text, at in acts:
            if at < len(done):
                continue  # already typed by an accepted suggestion
            if kind == "pause":
                if last is not None:
                    self.settle(self.a.pause_ms / 1000.0)
                    n = self.accept(last, off, code[len(done):])
                    if n:
                        done += code[len(done):len(done) + n]
                        off += n
                        last = self.request(off, "Tab", label)
                        self.settle(self.a.pause_ms / 1000.0)
                continue
            if last is not None and not self.a.sync:
                self.settle()
                self.cancel_open()
            self.doc.insert(text, off, self.uri, self.c)
            off += len(text)
            done += text
            typed = "Enter" if kind == "enter" else repr(text)
            last = self.request(off, typed, label)
            if self.a.sync:
                self.settle(120)
            else:
                time.sleep(self.a.key_ms / 1000.0)
                self.settle()
        self.settle(10)
        return off


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seekd", default=os.path.join(ROOT, "build", "release", "seekd"))
    ap.add_argument("--model", default=None, help="completion GGUF (default: the bundled one)")
    ap.add_argument("--draft", default=None,
                    help="draft GGUF (default: the bundled one; none: no speculative decoding)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="inference threads (0 = all CPUs)")
    ap.add_argument("--key-ms", type=float, default=150, help="time between keystrokes")
    ap.add_argument("--pause-ms", type=float, default=1500, help="pause at line ends")
    ap.add_argument("--sync", action="store_true",
                    help="wait for each answer before the next keystroke (no cancellation)")
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
        c, init, st = start_server(a.seekd, a.model, tmp, log, a.threads, a.draft)
        caps = init["result"]["capabilities"]
        assert "inlineCompletionProvider" in caps
        print("seekd: %s (%s)" % (st["params"]["state"] if st else "?",
                                  st["params"]["message"] if st else "no status"))
        if not st or st["params"]["state"] != "ready":
            print("demo: the completion model did not load; see %s" % log.name)
            c.close()
            return 1
        print("typing: %s" % ("one answer per keystroke (--sync)" if a.sync else
                              "a key every %.0f ms, %.0f ms pauses at line ends" % (
                                  a.key_ms, a.pause_ms)))
        c.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": text}})
        doc = Doc(text)
        # the cursor goes before the file's final newline (an editor's usual end of file)
        text = text.rstrip("\n") + "\n"
        doc.delete(0, len(doc.text), uri, c)
        doc.insert(text, 0, uri, c)
        start = len(text) - 1
        ses = Session(c, doc, uri, a)
        end = ses.type(start, NEW_CODE, "type")
        typed_ok = doc.text[start:end] == NEW_CODE
        # undo the new function, then type it again: the cache knows these positions
        doc.delete(start, end, uri, c)
        ses.type(start, NEW_CODE[:40], "retype")
        final_errors = syntax_errors(c, doc.text[:start] + NEW_CODE + doc.text[start + 40:])
        results = ses.rows

        model = [r for r in results if r["source"] in ("model", "none")]
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
        model_nonempty = sum(1 for r in model if r["suggestion"])

        def pct(xs, q):
            xs = sorted(xs)
            return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else 0

        print()
        print("answered %d requests (%d cancelled as the user typed on): model %d (non-empty "
              "%d), cache %d, typed-through %d; accepted %d" % (
                  len(results), ses.cancelled, len(model), model_nonempty,
                  sum(r["source"] in ("cache", "cacheTyped") for r in results),
                  sum(r["source"] == "typedThrough" for r in results), ses.accepted))
        for name, rows in (("all", results), ("model", model),
                           ("cache", [r for r in results if r["source"] in ("cache",
                                                                             "cacheTyped")]),
                           ("typed-through", [r for r in results
                                              if r["source"] == "typedThrough"])):
            if rows:
                lat = [r["ms"] for r in rows]
                print("latency %-13s p50 %7.1f ms  p95 %7.1f ms  (%d)" % (
                    name, pct(lat, 0.5), pct(lat, 0.95), len(rows)))
        kv = [r["info"] for r in model if r["info"].get("promptTokens")]
        if kv:
            print("KV reuse: %d of %d prompt tokens kept over %d model answers" % (
                sum(i.get("kvReused", 0) for i in kv), sum(i["promptTokens"] for i in kv),
                len(kv)))
        whys = {}
        for r in model:
            if not r["suggestion"]:
                whys[r["why"]] = whys.get(r["why"], 0) + 1
        print("empty model answers by reason: %s" % (", ".join(
            "%s %d" % kv for kv in sorted(whys.items(), key=lambda kv: -kv[1])) or "none"))
        print("non-empty suggestions keeping the file parseable: %d/%d; typed file errors: %d" % (
            keep_ok, len(nonempty), final_errors))
        status = c.call("seekd/status", {}).get("result")
        print("status: %s" % json.dumps(status))
        ok = True
        if not typed_ok:
            print("FAIL: the typed text differs from the script")
            ok = False
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
