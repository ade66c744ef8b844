#!/usr/bin/python3
"""Compare tools/bpe.py with `seekd tokenize --model F --ids --no-bos` (text on stdin).

  bpe_match.py SEEKD_BIN MODEL.gguf
Inputs: every held-out file of the demo corpus (rebuilt from the installed packages into a temp
dir by tools/corpus.py, or tools/work/corpus when present), the conformance strings of
../shared/vocab/ggml-vocab-deepseek-coder.gguf.inp when present, and hostile strings (CR/LF mixes,
tabs, non-ASCII whitespace, CJK, combining marks, emoji, digit and symbol runs, the special-token
texts as plain text, which must NOT become special ids since they are CONTROL).
Exit 0 all equal, 1 on any mismatch (first ones printed), 77 when seekd tokenize or the model
is missing.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
import corpus  # noqa: E402

HOSTILE = [
    "", " ", "\n", "\r\n\r\n", "\t\tx\t", "a\u00a0b\u3000c\u2009d", "  \n  \n", "x" * 3000,
    "def f(x):\r\n\treturn x  # caf\u00e9 na\u00efve\n", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \ud55c\uad6d\uc5b4",
    "e\u0301\u0308 \U0001F600\U0001F468\u200d\U0001F469 \u0661\u0662\u0663 \u2164", "0123456789 3.14e-10 0xFF",
    "a+=b<<=c>>>d|=e^f~g`h$i", "''' \"\"\" ``` /* */ // <!-- -->",
    bpe.FIM_BEGIN_TEXT + "x" + bpe.FIM_HOLE_TEXT + "y" + bpe.FIM_END_TEXT + bpe.BOS_TEXT + bpe.EOS_TEXT,
    "\u00f5 \u00f7 \u00c1 <pad> <|EOT|>", "\x00\x01\x1b[0m\x7f", "\u2028\u2029\u0085end",
]


def seekd_ids(binary, model, text):
    r = subprocess.run([binary, "tokenize", "--model", model, "--ids", "--no-bos"],
                       input=text.encode("utf-8"), capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode(errors="replace")[:300])
    return [int(x) for x in r.stdout.split()]


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    binary, model = sys.argv[1], sys.argv[2]
    if not (os.access(binary, os.X_OK) and os.path.exists(model)):
        print("SKIP: no seekd binary or model")
        return 77
    probe = subprocess.run([binary, "tokenize", "--model", model, "--ids", "--no-bos"], input=b"x",
                           capture_output=True, timeout=60)
    if probe.returncode != 0:
        print("SKIP: seekd tokenize not available:", probe.stderr.decode(errors="replace")[:200])
        return 77
    tok = bpe.Tokenizer.from_gguf(model)
    cases = [("hostile %d" % i, t) for i, t in enumerate(HOSTILE)]
    inp = os.path.join(HERE, "..", "..", "shared", "vocab", "ggml-vocab-deepseek-coder.gguf.inp")
    if os.path.exists(inp):
        with open(inp, encoding="utf-8") as f:
            cases += [("vector %d" % i, t) for i, t in enumerate(f.read().split("\n__ggml_vocab_test__\n")[:-1])]
    cdir = os.path.join(HERE, "work", "corpus")
    with tempfile.TemporaryDirectory() as tmp:
        if not os.path.exists(os.path.join(cdir, "heldout.jsonl")):
            try:
                corpus.build(tmp)
                cdir = tmp
            except (OSError, subprocess.CalledProcessError, SystemExit) as e:
                print("note: corpus not rebuilt (%s); held-out files skipped" % e)
                cdir = None
        if cdir:
            cases += [(p, t) for p, t in corpus.iter_split(cdir, "heldout")]
    bad = 0
    n_tok = 0
    for name, text in cases:
        want = tok.encode(text)
        try:
            got = seekd_ids(binary, model, text)
        except RuntimeError as e:
            got = ["error: %s" % e]
        n_tok += len(want)
        if got != want:
            bad += 1
            if bad <= 5:
                k = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
                print("MISMATCH %s at token %d: python %s seekd %s" % (name, k, want[k:k + 8], got[k:k + 8]))
    print("%d/%d inputs identical (%d tokens)" % (len(cases) - bad, len(cases), n_tok))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
