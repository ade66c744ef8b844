#!/usr/bin/python3
"""The engine's commands against the numpy reference (tools/reference.py) on tiny models:

  * `seekd generate --temp 0 --ids` reproduces the reference's greedy continuation token for
    token (the reference is fed its own previous choices; a step whose top-two gap is below
    1e-3 * rms(logits) would be a coin toss for any implementation, so the comparison stops
    there and says so: with the fixed seeds used here it does not happen);
  * seeded sampling is reproducible (same seed, same ids) and the seed matters;
  * `seekd perplexity` equals the perplexity computed from reference logits the way llama.cpp's
    perplexity tool does (tokens from `seekd tokenize`, chunks of n_ctx with BOS first, second
    half scored), to 1e-4 relative;
  * hostile model files (absurd hyperparameters, a missing tensor, a tensor of the wrong shape,
    a quantised norm, an unsupported rope scaling) are refused with a message, never a crash.
"""
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.getcwd()
sys.path.insert(0, os.path.join(ROOT, "tools"))
import gguf  # noqa: E402
import make_model  # noqa: E402
import reference  # noqa: E402

SEEKD = os.environ.get("SEEKD_BIN", os.path.join(ROOT, "build", "seekd"))
failures = []


def seekd(*args, stdin=None):
    r = subprocess.run([SEEKD] + list(args), input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("seekd %s failed (%d): %s" % (args[0], r.returncode, r.stderr.strip()))
    return r.stdout


def check(ok, what):
    print("%-4s %s" % ("ok" if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def test_greedy(tmp):
    path = os.path.join(tmp, "g.gguf")
    make_model.make(path, preset="tiny", type="F32", seed=7)
    model = reference.load(path)
    eos = int(model.kv["tokenizer.ggml.eos_token_id"])
    prompt = [int(t) for t in np.random.default_rng(3).integers(0, 500, 8)]
    n = 24
    out = seekd("generate", "--model", path, "--prompt-ids", ",".join(map(str, prompt)), "-n",
                str(n), "--ids", "--threads", "2")
    got = [int(t) for t in out.split()]
    seq = list(prompt)
    want = []
    tie = None
    for step in range(n):
        logits = reference.forward(model, seq, kv_f16=True, f64=True)[-1]
        srt = np.sort(logits)
        if srt[-1] - srt[-2] <= 1e-3 * float(np.sqrt(np.mean(logits ** 2))):
            tie = step
            break
        nxt = int(np.argmax(logits))
        if nxt == eos:
            break
        want.append(nxt)
        seq.append(nxt)
    m = len(want)
    check(got[:m] == want and (tie is not None or len(got) == m),
          "greedy generate = reference greedy (%d tokens%s)" %
          (m, "" if tie is None else ", near-tie at step %d" % tie))


def test_sampling_seeds(tmp):
    path = os.path.join(tmp, "s.gguf")
    make_model.make(path, preset="tiny", type="Q8_0", seed=8, init_scale=0.3)
    args = ["generate", "--model", path, "--prompt-ids", "1,2,3,4", "-n", "32", "--ids",
            "--temp", "1.0", "--top-k", "0", "--top-p", "1", "--min-p", "0"]
    a = seekd(*args, "--seed", "11")
    b = seekd(*args, "--seed", "11")
    c = seekd(*args, "--seed", "12")
    check(a == b and len(a.split()) > 0, "same seed, same sampled ids")
    check(a != c, "another seed, other sampled ids")


def test_perplexity(tmp):
    path = os.path.join(tmp, "p.gguf")
    make_model.make(path, preset="tiny", type="F32", seed=9)
    model = reference.load(path)
    text = ("def add(a, b):\n    return a + b\n\nclass Point:\n    def __init__(self, x, y):\n"
            "        self.x = x\n        self.y = y\n") * 3
    tf = os.path.join(tmp, "t.txt")
    with open(tf, "w") as f:
        f.write(text)
    ctx = 48
    out = seekd("perplexity", "--model", path, "--file", tf, "--ctx", str(ctx))
    mo = re.search(r"PPL = ([0-9.]+)", out)
    ids = [int(t) for t in seekd("tokenize", "--model", path, "--ids", stdin=text).split()]
    bos = int(model.kv["tokenizer.ggml.bos_token_id"])
    n_chunk = len(ids) // ctx
    nll, cnt = 0.0, 0
    for c in range(n_chunk):
        toks = ids[c * ctx:(c + 1) * ctx]
        toks[0] = bos
        lg = reference.forward(model, toks, kv_f16=True, f64=True)
        for p in range(ctx // 2, ctx - 1):
            row = lg[p]
            mx = row.max()
            nll += -(row[toks[p + 1]] - mx - math.log(np.exp(row - mx).sum()))
            cnt += 1
    want = math.exp(nll / cnt)
    got = float(mo.group(1)) if mo else float("nan")
    check(mo is not None and n_chunk >= 2 and abs(got - want) <= 1e-4 * want,
          "perplexity %.4f vs reference %.4f (%d chunks of %d)" % (got, want, n_chunk, ctx))
    # too little text is refused with a message
    with open(tf, "w") as f:
        f.write("tiny")
    r = subprocess.run([SEEKD, "perplexity", "--model", path, "--file", tf, "--ctx", str(ctx)],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "tokens" in r.stderr, "perplexity refuses a too-short text")


def rewrite(src, dst, kv_set=None, drop=(), tensors=None):
    kv, ts = gguf.read_gguf(src)
    w = gguf.GGUFWriter(dst)
    for k in kv:
        if kv_set and k in kv_set:
            continue
        w.add(k, kv[k], vtype=kv.types[k])
    for k, (v, t) in (kv_set or {}).items():
        w.add(k, v, vtype=t)
    for name in kv.tensor_order:
        if name in drop:
            continue
        if tensors and name in tensors:
            t, ne, raw = tensors[name]
        else:
            t, ne, raw = ts[name]
        w.add_tensor(name, bytes(raw), t, shape=tuple(ne))
    w.write()


def test_hostile(tmp):
    src = os.path.join(tmp, "h.gguf")
    make_model.make(src, preset="tiny", type="F32", seed=1)
    kv, ts = gguf.read_gguf(src)
    U32, STR = gguf.GGUF_TYPE_UINT32, gguf.GGUF_TYPE_STRING
    k_t, k_ne, k_raw = ts["blk.0.attn_k.weight"]
    n_t, n_ne, n_raw = ts["blk.0.attn_norm.weight"]
    f16_norm = np.frombuffer(bytes(n_raw), dtype="<f4").astype("<f2").tobytes()
    cases = [
        ("block_count 10^6", dict(kv_set={"llama.block_count": (1000000, U32)})),
        ("embedding_length 2^31", dict(kv_set={"llama.embedding_length": (1 << 31, U32)})),
        ("head_count_kv 3", dict(kv_set={"llama.attention.head_count_kv": (3, U32)})),
        ("feed_forward_length 2^30", dict(kv_set={"llama.feed_forward_length": (1 << 30, U32)})),
        ("rope scaling yarn", dict(kv_set={"llama.rope.scaling.type": ("yarn", STR)})),
        ("missing ffn_up", dict(drop={"blk.1.ffn_up.weight"})),
        ("attn_k with half the rows", dict(tensors={"blk.0.attn_k.weight": (
            k_t, (k_ne[0], k_ne[1] // 2), bytes(k_raw)[:len(k_raw) // 2])})),
        ("F16 attn_norm", dict(tensors={"blk.0.attn_norm.weight": (
            gguf.GGML_TYPE_BY_NAME["F16"], n_ne, f16_norm)})),
    ]
    for i, (what, kw) in enumerate(cases):
        dst = os.path.join(tmp, "hostile%d.gguf" % i)
        rewrite(src, dst, **kw)
        r = subprocess.run([SEEKD, "eval-logits", "--model", dst, "--tokens", "1,2,3", "--out",
                            os.path.join(tmp, "x.bin")], capture_output=True, text=True)
        check(r.returncode == 1 and dst in r.stderr,
              "hostile model refused (%s): %s" % (what, r.stderr.strip().splitlines()[-1:]))


def main():
    if not os.access(SEEKD, os.X_OK):
        print("no seekd binary at %s" % SEEKD)
        return 1
    tmp = tempfile.mkdtemp(prefix="seekd-cli-")
    try:
        test_greedy(tmp)
        test_sampling_seeds(tmp)
        test_perplexity(tmp)
        test_hostile(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("failed: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
