#!/usr/bin/env python3
"""End-to-end: `seekd lsp` with a tiny random-weight model (DeepSeek Coder vocabulary) driven by
a scripted client: capabilities, model loading with $/progress and seekd/status, inline
completions (invoked: several candidates; automatic), typing through, the cache, a cancellation
storm, the textDocument/completion fallback, statistics commands, configuration changes to a
missing model and back (window/showMessage, the server keeps serving), and explain (codeAction,
the missing-model message, streaming $/progress with the Markdown so far).

Exit 77 (skip) when ../shared/vocab or numpy is absent.  The
bundled demo model is not used here: this test wants a fast, deterministic model; `make demo`
covers the bundled one.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.getcwd()
sys.path.insert(0, os.path.join(ROOT, "tools"))
from demo import Client, Doc  # noqa: E402

SEEKD = os.environ.get("SEEKD_BIN", os.path.join(ROOT, "build", "release", "seekd"))
VOCAB = os.path.join(ROOT, "..", "shared", "vocab", "ggml-vocab-deepseek-coder.gguf")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def main():
    if not os.path.exists(VOCAB):
        print("skip: ../shared/vocab absent")
        return 77
    tmp = tempfile.mkdtemp(prefix="seekd-e2e-")
    model = os.path.join(tmp, "tiny.gguf")
    r = subprocess.run(["/usr/bin/python3", "tools/make_model.py", "--preset", "tiny", "--vocab",
                        VOCAB, "--type", "Q8_0", "--seed", "3", "-q", model])
    if r.returncode == 77:
        return 77
    check(r.returncode == 0, "make_model.py failed")
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")
    env["XDG_CONFIG_HOME"] = os.path.join(tmp, "config")
    log = open(os.path.join(tmp, "seekd.log"), "w")
    c = Client([SEEKD, "lsp", "--log-level", "info"], env=env, log=log)
    settings = {"models": {"completion": model}, "threads": 1, "contextSize": 1024,
                "budgets": {"maxTokens": 12}}
    init = c.call("initialize", {"processId": os.getpid(), "rootUri": "file://" + tmp,
                                 "capabilities": {"window": {"workDoneProgress": True}},
                                 "initializationOptions": settings})
    caps = init["result"]["capabilities"]
    check("inlineCompletionProvider" in caps, "no inlineCompletionProvider")
    cmds = caps["executeCommandProvider"]["commands"]
    check("seekd.accepted" in cmds and "seekd.explain" in cmds, "commands: %r" % cmds)
    c.notify("initialized", {})
    st = c.wait_notification(lambda n: n["method"] == "seekd/status" and
                             n["params"]["state"] in ("ready", "error"))
    check(st and st["params"]["state"] == "ready", "model not ready: %r" % st)
    with c.lock:
        creates = [q for q in c.requests if q["method"] == "window/workDoneProgress/create"]
    check(creates, "no window/workDoneProgress/create for the model load")
    tok = creates[0]["params"]["token"]
    end = c.wait_notification(lambda n: n["method"] == "$/progress" and
                              n["params"]["token"] == tok and
                              n["params"]["value"]["kind"] == "end", timeout=10)
    check(end, "no $/progress end for the model load")

    path = os.path.join(tmp, "shapes.py")
    uri = "file://" + path
    text = "def area(w, h):\n    return w * h\n\n\ndef perimeter(w, h):\n    "
    c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python",
                                                       "version": 1, "text": text}})
    doc = Doc(text)
    off = len(text)
    pos = doc.pos_of(off)

    def inline(kind=2, p=None):
        r = c.call("textDocument/inlineCompletion", {"textDocument": {"uri": uri},
                                                      "position": p or doc.pos_of(off),
                                                      "context": {"triggerKind": kind}})
        check("result" in r, "inlineCompletion error: %r" % r)
        return r["result"]["items"]

    items = inline(1)
    first_id = c.next_id
    check(1 <= len(items) <= 3, "invoked: %d items" % len(items))
    for it in items:
        check(it["insertText"], "empty candidate")
        rg = it["range"]
        check(rg["start"] == pos and rg["end"]["line"] == pos["line"], "range %r" % rg)
        check(it["command"]["command"] == "seekd.accepted", "item command")
    check(len(set(i["insertText"] for i in items)) == len(items), "duplicate candidates")

    items = inline(2)
    check(items, "automatic: no suggestion")
    s = items[0]["insertText"]
    info = items[0]["data"]["seekd"]
    check(info["source"] in ("model", "cache"), "source %r" % info)
    # seekd/lastCompletion {id}: that request's answer, with the model's raw text and stop
    rid = c.request("textDocument/inlineCompletion", {
        "textDocument": {"uri": uri}, "position": doc.pos_of(off), "context": {"triggerKind": 2}})
    check("result" in c.wait(rid), "inline by id")
    c.call("textDocument/inlineCompletion", {"textDocument": {"uri": uri}, "position": pos,
                                             "context": {"triggerKind": 1}})
    byid = c.call("seekd/lastCompletion", {"id": rid})["result"]
    check(byid and byid["requestId"] == rid and byid["text"] == s, "lastCompletion by id %r" % byid)
    check(c.call("seekd/lastCompletion", {"id": 10 ** 6})["result"] is None, "unknown id")
    first = c.call("seekd/lastCompletion", {"id": first_id})["result"]
    check(first and first["source"] == "model", "first answer %r" % first)
    if first:
        check(first["stop"] in ("eos", "maxTokens", "newline") and "raw" in first and
              isinstance(first["post"], list) and "emptyReason" not in first,
              "model answer data %r" % first)
    # typing through: the first character of the suggestion
    typed_items = None
    if len(s) >= 2:
        doc.insert(s[0], off, uri, c)
        off += 1
        items2 = inline(2)
        typed_items = (items, items2)
        check(items2 and items2[0]["data"]["seekd"]["source"] == "typedThrough",
              "typed-through: %r" % items2)
        check(items2[0]["insertText"] == s[1:], "typed-through text %r vs %r" % (
            items2[0]["insertText"], s[1:]))
        doc.delete(off - 1, off, uri, c)
        off -= 1
    # back at the first position: the cache
    items3 = inline(2)
    check(items3 and items3[0]["data"]["seekd"]["source"] in ("cache", "cacheTyped"),
          "cache: %r" % items3)
    check(items3[0]["insertText"] == s, "cache text")
    last = c.call("seekd/lastCompletion", {})["result"]
    check(last["source"] in ("cache", "cacheTyped"), "lastCompletion %r" % last)

    # cancellation storm: 20 keystrokes without waiting; the newest request wins
    ids = []
    for i in range(20):
        doc.insert("x", off, uri, c)
        off += 1
        ids.append(c.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": uri}, "position": doc.pos_of(off),
            "context": {"triggerKind": 2}}))
    answers = [c.wait(i) for i in ids]
    check("result" in answers[-1], "newest request not answered: %r" % answers[-1])
    cancelled = sum(1 for a in answers if a.get("error", {}).get("code") == -32800)
    check(cancelled >= 10, "only %d of 20 superseded requests were cancelled" % cancelled)
    for a in answers[:-1]:
        check("result" in a or a["error"]["code"] == -32800, "unexpected answer %r" % a)

    # completion fallback
    r = c.call("textDocument/completion", {"textDocument": {"uri": uri},
                                           "position": doc.pos_of(off)})
    check("result" in r and "items" in r["result"], "completion: %r" % r)
    for it in r["result"]["items"]:
        check(it["label"] and it["textEdit"]["newText"], "completion item %r" % it)

    # statistics
    c.notify("textDocument/didShowCompletion", {"item": items3[0]})
    c.notify("textDocument/didPartiallyAcceptCompletion", {"item": items3[0],
                                                            "acceptedLength": 1})
    a = c.call("workspace/executeCommand", items3[0]["command"])
    check("result" in a, "seekd.accepted: %r" % a)

    # dismissed: a shown suggestion superseded by another shown one without being accepted,
    # or named by seekd/didDismissCompletion; not one the user typed through
    def stats():
        inline(2)  # a completion job after the statistics jobs: they are written
        r = subprocess.run([SEEKD, "cache", "stats", "--json"], env=env, capture_output=True)
        check(r.returncode == 0, "cache stats: %r" % r.stderr)
        return json.loads(r.stdout)["completions"]

    s0 = stats()
    ids = {items[0]["command"]["arguments"][0]["id"], items3[0]["command"]["arguments"][0]["id"]}
    check(len(ids) == 2, "two answers with one id: %r" % ids)
    c.notify("textDocument/didShowCompletion", {"item": items[0]})
    c.notify("textDocument/didShowCompletion", {"item": items3[0]})   # items[0] dismissed
    c.notify("textDocument/didShowCompletion", {"item": items3[0]})   # redrawn: nothing
    c.notify("seekd/didDismissCompletion", {"item": items3[0]})       # dismissed
    c.notify("seekd/didDismissCompletion", {"item": items3[0]})       # already settled
    want = {"shown": 2, "dismissed": 2, "accepted": 0}
    if typed_items:
        a, b = typed_items[0][0], typed_items[1][0]
        check(b["command"]["arguments"][0].get("typedThrough"), "typedThrough argument %r" % b)
        c.notify("textDocument/didShowCompletion", {"item": a})
        c.notify("textDocument/didShowCompletion", {"item": b})  # typed through: not dismissed
        check("result" in c.call("workspace/executeCommand", b["command"]), "accept b")
        c.notify("seekd/didDismissCompletion", {"item": b})      # accepted already
        want = {"shown": 4, "dismissed": 2, "accepted": 1}
    s1 = stats()
    got = {k: s1[k] - s0[k] for k in want}
    check(got == want, "statistics moved by %r, want %r" % (got, want))
    print("statistics: %r (typing through: %s)" % (got, bool(typed_items)))

    def forget():
        with c.lock:
            c.notifications.clear()

    # configuration: a missing model is an error shown to the user; the server keeps serving
    forget()
    c.notify("workspace/didChangeConfiguration",
             {"settings": {"seekd": {"models": {"completion": "/nonexistent/m.gguf"}}}})
    m = c.wait_notification(lambda n: n["method"] == "window/showMessage" and
                            "/nonexistent/m.gguf" in n["params"]["message"])
    check(m and m["params"]["type"] == 1, "no error message for a missing model")
    st = c.wait_notification(lambda n: n["method"] == "seekd/status" and
                             n["params"]["state"] == "error")
    check(st, "status not error")
    check(inline(2) == [], "answers without a model")
    forget()
    c.notify("workspace/didChangeConfiguration",
             {"settings": {"seekd": {"models": {"completion": model}}}})
    st = c.wait_notification(lambda n: n["method"] == "seekd/status" and
                             n["params"]["state"] in ("ready", "error"))
    check(st and st["params"]["state"] == "ready", "reload: %r" % st)
    it = inline(1)
    check(it, "no suggestion after the reload: %r %r" % (st, c.call("seekd/lastCompletion", {})))

    # explain
    rng = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 16}}
    acts = c.call("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": rng,
                                              "context": {"diagnostics": []}})["result"]
    check(acts and acts[0]["command"]["command"] == "seekd.explain", "codeAction %r" % acts)
    r = c.call("workspace/executeCommand", acts[0]["command"])
    check("error" in r and "models.explain" in r["error"]["message"], "no-model explain %r" % r)
    forget()
    c.notify("workspace/didChangeConfiguration",
             {"settings": {"seekd": {"models": {"explain": model}}}})
    c.wait_notification(lambda n: n["method"] == "seekd/status" and
                        n["params"]["state"] == "ready")
    params = dict(acts[0]["command"])
    params["workDoneToken"] = "explain-1"
    r = c.call("workspace/executeCommand", params, timeout=300)
    check("result" in r and "markdown" in r["result"], "explain: %r" % r)
    md = r["result"]["markdown"]
    with c.lock:
        reps = [n["params"]["value"] for n in c.notifications
                if n["method"] == "$/progress" and n["params"]["token"] == "explain-1"]
    kinds = [v["kind"] for v in reps]
    check(kinds and kinds[0] == "begin" and kinds[-1] == "end", "explain progress %r" % kinds)
    prev = ""
    for v in reps:
        if v["kind"] == "report":
            check(md.startswith(v["message"]) and v["message"].startswith(prev), "stream order")
            prev = v["message"]
    code = c.close()
    check(code == 0, "exit code %s" % code)
    print("e2e ok: %d cancelled of 20, suggestion %r" % (cancelled, s[:40]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
