#!/usr/bin/python3
"""The C engine against the numpy reference (tools/reference.py) on the two bundled, trained
demo models (models/*.gguf), not only on random weights.

A FIM prompt (BOS fim_begin prefix fim_hole suffix fim_end, tokens from `seekd tokenize`) is
evaluated teacher-forced by `seekd eval-logits`, one token at a time and in batches of 32, and by reference.forward in float64 with the same fp16 KV rounding.  Bounds are the
whole-file 8-bit-activation bounds of tests/ext/engine_reference.py (the models are Q8_0
everywhere): max|diff| / rms(ref) <= 0.25, rms(diff) / rms(ref) <= 0.05, and the top token
agrees wherever the reference's top-two gap exceeds 2 * 0.25 * rms.  Batched and one-at-a-time
logits must be bit-identical (the batch-invariance contract).  Then `seekd generate` greedy
continues the prompt; the reference, fed those tokens, must rank every chosen token (and a final
EOS) within 4x the largest logit error measured on the prompt of its best, and at least 3/4 of
them must be its exact argmax (a closer race is a coin toss for any 8-bit implementation).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.getcwd()
sys.path.insert(0, os.path.join(ROOT, "tools"))
import reference  # noqa: E402

SEEKD = os.environ.get("SEEKD_BIN", os.path.join(ROOT, "build", "seekd"))
MODELS = [os.path.join(ROOT, "models", n) for n in
          ("seekd-demo-draft.Q8_0.gguf", "seekd-demo-target.Q8_0.gguf")]
Q8_BOUND = 0.25
Q8_RMS_BOUND = 0.05
PREFIX = ("import os\n\n\ndef read_lines(path):\n    \"\"\"Return the lines of a text file.\"\"\"\n"
          "    with open(path) as f:\n        ")
SUFFIX = "\n\n\ndef main():\n    for line in read_lines(os.environ['FILE']):\n        print(line)\n"
failures = []


def check(ok, what):
    print("%-4s %s" % ("ok" if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def seekd(*args, stdin=None):
    r = subprocess.run([SEEKD] + list(args), input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("seekd %s failed (%d): %s" % (args[0], r.returncode, r.stderr.strip()))
    return r.stdout


def prompt_ids(path):
    text = "<｜fim▁begin｜>" + PREFIX + "<｜fim▁hole｜>" + SUFFIX + "<｜fim▁end｜>"
    return [int(t) for t in seekd("tokenize", "--model", path, "--special", "--ids", stdin=text).split()]


def eval_c(path, ids, batch, out):
    seekd("eval-logits", "--model", path, "--tokens", ",".join(map(str, ids)), "--out", out,
          "--batch", str(batch), "--kv", "f16", "--threads", "2")
    return np.fromfile(out, dtype="<f4")


def one_model(path, tmp):
    name = os.path.basename(path)
    model = reference.load(path)
    ids = prompt_ids(path)
    bos = int(model.kv["tokenizer.ggml.bos_token_id"])
    check(ids[0] == bos and len(ids) > 40, "%s: FIM prompt of %d tokens starts with BOS" % (name, len(ids)))
    ref = np.asarray(reference.forward(model, ids, kv_f16=True, f64=True), dtype=np.float64)
    c1 = eval_c(path, ids, 1, os.path.join(tmp, "c1.bin")).reshape(ref.shape)
    cb = eval_c(path, ids, 32, os.path.join(tmp, "cb.bin")).reshape(ref.shape)
    check(np.array_equal(c1, cb), "%s: batches of 32 bit-identical to one at a time" % name)
    rms = float(np.sqrt(np.mean(ref ** 2)))
    d = c1.astype(np.float64) - ref
    err = float(np.abs(d).max()) / rms
    err_rms = float(np.sqrt(np.mean(d ** 2))) / rms
    srt = np.sort(ref, axis=1)
    decided = (srt[:, -1] - srt[:, -2]) > 2 * Q8_BOUND * rms
    bad = int(np.sum(decided & (np.argmax(c1, axis=1) != np.argmax(ref, axis=1))))
    check(err <= Q8_BOUND and err_rms <= Q8_RMS_BOUND and bad == 0,
          "%s: vs reference max %.3f (<= %.2f), rms %.4f (<= %.2f), logits rms %.2f, top-1 disagree %d/%d"
          % (name, err, Q8_BOUND, err_rms, Q8_RMS_BOUND, rms, bad, int(decided.sum())))
    # greedy continuation of the FIM prompt: the reference, fed the C engine's own choices, must
    # rank each chosen token within `tie` of its best, where tie = 4x the largest logit error
    # measured above (two logits each off by up to that much); most steps must be its exact argmax.
    tie = 4 * float(np.abs(d).max())
    n = 24
    out = seekd("generate", "--model", path, "--prompt-ids", ",".join(map(str, ids)), "-n", str(n),
                "--ids", "--threads", "2", "--temp", "0")
    got = [int(t) for t in out.split()]
    eos = int(model.kv["tokenizer.ggml.eos_token_id"])
    full = ids + got
    ref_all = np.asarray(reference.forward(model, full, kv_f16=True, f64=True), dtype=np.float64)
    chosen = got + ([eos] if len(got) < n else [])
    rows = ref_all[len(ids) - 1:len(ids) - 1 + len(chosen)]
    margin = [float(r.max() - r[t]) for r, t in zip(rows, chosen)]
    exact = sum(1 for m in margin if m == 0.0)
    check(len(chosen) > 0 and max(margin) <= tie and exact * 4 >= len(chosen) * 3,
          "%s: greedy generate (%d tokens%s) = reference argmax at %d/%d steps, worst margin %.3f (<= %.3f)"
          % (name, len(got), ", then EOS" if len(got) < n else "", exact, len(chosen), max(margin or [0]), tie))


def main():
    missing = [p for p in MODELS if not os.path.exists(p)]
    if missing:
        print("skip: bundled model missing: %s" % ", ".join(missing))
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        for p in MODELS:
            one_model(p, tmp)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
