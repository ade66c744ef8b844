#!/usr/bin/env python3
"""`seekd complete --workspace DIR --show-prompt` puts the cross-file context in the prompt:
a workspace with pkg/billing.py defining compute_total and main.py importing and calling it;
completing in main.py must show the definition headed by its path comment right after
BOS + fim_begin and before the current file's header, and must not without --workspace.
A file under an ignored folder (node_modules) defining the same name must not appear.
Then `seekd lsp` without a root: the prompt (promptTokens of seekd/lastCompletion) grows when
the defining file is opened (didOpen indexes the editor's text), shrinks back to the same size
when didChangeWatchedFiles deletes it, and grows again after a didChange of it (index / ring).
Exit 77 (skip) when the bundled demo model is absent.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.getcwd()
sys.path.insert(0, os.path.join(ROOT, "tools"))
from demo import Client  # noqa: E402
SEEKD = os.environ.get("SEEKD_BIN", os.path.join(ROOT, "build", "release", "seekd"))
MODEL = os.path.join(ROOT, "models", "seekd-demo-target.Q8_0.gguf")
BOS_FIM = "<｜begin▁of▁sentence｜><｜fim▁begin｜>"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(args, env):
    r = subprocess.run([SEEKD, "complete", "--model", MODEL, "--no-cache", "--show-prompt"] + args,
                       env=env, capture_output=True, timeout=120)
    if r.returncode != 0:
        fail("seekd complete %r: exit %d: %s" % (args, r.returncode, r.stderr.decode()[-400:]))
    out = r.stdout.decode()
    if "=== prompt" not in out:
        fail("no prompt shown: %r" % out[:300])
    return out.split("=== completion ===")[0]


def main():
    if not os.path.exists(MODEL):
        print("skip: bundled demo model absent")
        return 77
    tmp = tempfile.mkdtemp(prefix="seekd-xfile-")
    try:
        ws = os.path.join(tmp, "ws")
        os.makedirs(os.path.join(ws, "pkg"))
        os.makedirs(os.path.join(ws, "node_modules", "junk"))
        defn = "def compute_total(items):\n    return sum(i.price for i in items)\n"
        with open(os.path.join(ws, "pkg", "billing.py"), "w") as f:
            f.write("TAX = 0.2\n\n\n" + defn)
        with open(os.path.join(ws, "node_modules", "junk", "other.py"), "w") as f:
            f.write("def compute_total(items):\n    return 'IGNORED_COPY'\n")
        main_py = os.path.join(ws, "main.py")
        with open(main_py, "w") as f:
            f.write("from pkg.billing import compute_total\n\n\ndef report(items):\n"
                    "    total = compute_total(items)\n    return total\n")
        env = dict(os.environ)
        env["XDG_CONFIG_HOME"] = os.path.join(tmp, "config")
        env["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")
        # line 6 col 5: before "return total"
        p = run(["--workspace", ws, main_py, "6", "5"], env)
        snip = BOS_FIM + "# pkg/billing.py\n"
        i = p.find(snip)
        if i < 0:
            fail("no cross-file snippet headed by '# pkg/billing.py' after BOS+fim_begin:\n" + p)
        j = p.find(defn, i)
        h = p.find("# main.py\n")
        if j < 0 or h < 0 or not (i < j < h):
            fail("definition not between the snippet header and the file header:\n" + p)
        if "IGNORED_COPY" in p or "node_modules" in p:
            fail("ignored folder leaked into the prompt:\n" + p)
        if p.count("# main.py") != 1:
            fail("the current file appears as a snippet:\n" + p)
        # control: without --workspace no cross-file context
        q = run([main_py, "6", "5"], env)
        if "pkg/billing.py" in q or "sum(i.price" in q:
            fail("snippet without --workspace:\n" + q)
        # budgets.contextTokens 0 turns it off
        os.makedirs(os.path.join(tmp, "config", "seekd"))
        with open(os.path.join(tmp, "config", "seekd", "config.json"), "w") as f:
            f.write('{"budgets": {"contextTokens": 0}}')
        q = run(["--workspace", ws, main_py, "6", "5"], env)
        if "pkg/billing.py" in q:
            fail("snippet with budgets.contextTokens 0:\n" + q)
        os.remove(os.path.join(tmp, "config", "seekd", "config.json"))
        lsp_part(tmp, env)
        root_uri_part(tmp, env)
        full_sync_part(tmp, env)
        print("xfile wiring ok: snippet at %d, %d prompt bytes" % (i, len(p)))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def lsp_part(tmp, env):
    c = Client([SEEKD, "lsp"], env=env)
    settings = {"models": {"completion": MODEL}, "threads": 1, "budgets": {"maxTokens": 4},
                "cache": {"enable": False}}
    c.call("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {},
                          "initializationOptions": settings})
    c.notify("initialized", {})
    st = c.wait_notification(lambda n: n["method"] == "seekd/status" and
                             n["params"]["state"] in ("ready", "error"))
    if not st or st["params"]["state"] != "ready":
        fail("lsp: model not ready: %r" % st)
    d = os.path.join(tmp, "lspws")
    main_uri, bill_uri = "file://" + d + "/main.py", "file://" + d + "/billing.py"
    text = ("from billing import compute_total\n\n\ndef report(items):\n"
            "    total = compute_total(items)\n    return total\n")
    c.notify("textDocument/didOpen", {"textDocument": {"uri": main_uri, "languageId": "python",
                                                       "version": 1, "text": text}})

    def prompt_tokens():
        r = c.call("textDocument/inlineCompletion",
                   {"textDocument": {"uri": main_uri}, "position": {"line": 5, "character": 4},
                    "context": {"triggerKind": 1}})
        if "result" not in r:
            fail("lsp: inlineCompletion %r" % r)
        info = c.call("seekd/lastCompletion", None)["result"]
        if not info or info["source"] != "model":
            fail("lsp: lastCompletion %r" % info)
        return info["promptTokens"]

    def until(pred, what):
        # the index worker is asynchronous: poll (each poll is one completion)
        for _ in range(50):
            n = prompt_tokens()
            if pred(n):
                return n
            time.sleep(0.1)
        fail("lsp: %s (promptTokens %d)" % (what, n))

    base = prompt_tokens()
    bill = "def compute_total(items):\n    return sum(i.price for i in items)\n"
    c.notify("textDocument/didOpen", {"textDocument": {"uri": bill_uri, "languageId": "python",
                                                       "version": 1, "text": bill}})
    grown = until(lambda n: n > base, "didOpen of the defining file did not add a snippet")
    c.notify("workspace/didChangeWatchedFiles", {"changes": [{"uri": bill_uri, "type": 3}]})
    until(lambda n: n == base, "didChangeWatchedFiles deleted did not drop the snippet")
    c.notify("textDocument/didChange",
             {"textDocument": {"uri": bill_uri, "version": 2},
              "contentChanges": [{"range": {"start": {"line": 1, "character": 4},
                                            "end": {"line": 1, "character": 4}},
                                  "text": "x = 1\n    "}]})
    until(lambda n: n > base, "didChange of the defining file did not add context")
    code = c.close()
    if code != 0:
        fail("lsp: exit code %s" % code)
    print("lsp: promptTokens %d without, %d with the snippet" % (base, grown))


def root_uri_part(tmp, env):
    """A workspace folder whose name has a space, given as rootUri "file:///.../a%20b" (or as
    the first workspaceFolder): the index must walk "/.../a b", so the prompt is the one the
    same folder gets as a plain rootPath (its definitions in the prompt, main.py's header
    root-relative), and differs from the prompt with no root at all."""
    ws = os.path.join(tmp, "a b")
    os.makedirs(ws)
    with open(os.path.join(ws, "billing.py"), "w") as f:
        f.write("def compute_total(items):\n    return sum(i.price for i in items)\n")
    text = ("from billing import compute_total\n\n\ndef report(items):\n"
            "    total = compute_total(items)\n    return total\n")
    enc = "file://" + ws.replace("%", "%25").replace(" ", "%20")

    def tokens(init):
        c = Client([SEEKD, "lsp"], env=env)
        settings = {"models": {"completion": MODEL}, "threads": 1,
                    "budgets": {"maxTokens": 2}, "cache": {"enable": False}}
        c.call("initialize", dict(init, processId=os.getpid(), capabilities={},
                                  initializationOptions=settings))
        c.notify("initialized", {})
        st = c.wait_notification(lambda n: n["method"] == "seekd/status" and
                                 n["params"]["state"] in ("ready", "error"))
        if not st or st["params"]["state"] != "ready":
            fail("root: model not ready: %r" % st)
        uri = enc + "/main.py"
        c.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": text}})
        seen = []
        for _ in range(4):  # the walk is asynchronous (two small files: milliseconds)
            time.sleep(0.25)
            r = c.call("textDocument/inlineCompletion", {
                "textDocument": {"uri": uri}, "position": {"line": 5, "character": 4},
                "context": {"triggerKind": 1}})
            if "result" not in r:
                fail("root: inlineCompletion %r" % r)
            seen.append(c.call("seekd/lastCompletion", None)["result"]["promptTokens"])
        if c.close() != 0:
            fail("root: exit code")
        return seen[-1]

    plain = tokens({"rootUri": None, "rootPath": ws})
    none = tokens({"rootUri": None})
    if plain == none:
        fail("root: rootPath %r made no difference to the prompt (%d tokens)" % (ws, plain))
    for init in ({"rootUri": enc}, {"rootUri": None, "workspaceFolders": [
            {"uri": enc, "name": "a b"}]}):
        n = tokens(init)
        if n != plain:
            fail("root %r: promptTokens %d, %d with the plain rootPath, %d without a root" % (
                init, n, plain, none))
    print("root with a space: promptTokens %d (%d without a root)" % (plain, none))

def full_sync_part(tmp, env):
    """A client syncing whole texts (didChange without a range) feeds the recent-edits ring
    like one sending ranges: after a full-sync edit of another open file, the chunk around the
    edit is in the prompt of main.py (no workspace root; the other file defines nothing
    main.py uses, so only the ring can bring it in)."""
    c = Client([SEEKD, "lsp"], env=env)
    settings = {"models": {"completion": MODEL}, "threads": 1, "budgets": {"maxTokens": 2},
                "cache": {"enable": False}}
    c.call("initialize", {"processId": os.getpid(), "rootUri": None,
                          "capabilities": {"textDocument": {"synchronization": {}}},
                          "initializationOptions": settings})
    c.notify("initialized", {})
    st = c.wait_notification(lambda n: n["method"] == "seekd/status" and
                             n["params"]["state"] in ("ready", "error"))
    if not st or st["params"]["state"] != "ready":
        fail("full sync: model not ready: %r" % st)
    d = os.path.join(tmp, "fullsync")
    main_uri, notes_uri = "file://" + d + "/main.py", "file://" + d + "/notes.py"
    text = "def report(items):\n    total = len(items)\n    return total\n"
    notes = "LIMIT = 10\n\n\ndef unrelated(a):\n    return a\n"
    c.notify("textDocument/didOpen", {"textDocument": {"uri": main_uri, "languageId": "python",
                                                       "version": 1, "text": text}})
    c.notify("textDocument/didOpen", {"textDocument": {"uri": notes_uri, "languageId": "python",
                                                       "version": 1, "text": notes}})

    def prompt_tokens():
        time.sleep(0.2)
        r = c.call("textDocument/inlineCompletion",
                   {"textDocument": {"uri": main_uri}, "position": {"line": 2, "character": 4},
                    "context": {"triggerKind": 1}})
        if "result" not in r:
            fail("full sync: inlineCompletion %r" % r)
        return c.call("seekd/lastCompletion", None)["result"]["promptTokens"]

    base = prompt_tokens()
    notes2 = notes.replace("return a", "return a * LIMIT  # scaled")
    c.notify("textDocument/didChange", {"textDocument": {"uri": notes_uri, "version": 2},
                                        "contentChanges": [{"text": notes2}]})
    after = prompt_tokens()
    if after <= base:
        fail("full sync: the edit of notes.py did not reach the ring (promptTokens %d, %d before)"
             % (after, base))
    if c.close() != 0:
        fail("full sync: exit code")
    print("full sync: promptTokens %d before, %d after the edit" % (base, after))


if __name__ == "__main__":
    sys.exit(main())
