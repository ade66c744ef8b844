#!/usr/bin/python3
"""Check tools/bpe.py's pre-tokenizer + BPE against llama.cpp's conformance vectors.

Loads the real DeepSeek Coder vocab GGUF (../shared/vocab), encodes every test string of the
.inp file with add_special = parse_special = false and compares with the .out ids. USER_DEFINED
tokens (which llama.cpp matches inside raw text) are split out first, longest first, as 3.4 says.
Exit 0 when all match, 1 otherwise, 77 when the vocab files are absent.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import gguf  # noqa: E402


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "../shared/vocab/ggml-vocab-deepseek-coder.gguf"
    if not os.path.exists(base):
        print("SKIP: no", base)
        return 77
    kv, _ = gguf.read_gguf(base)
    tokens = kv["tokenizer.ggml.tokens"]
    types = kv["tokenizer.ggml.token_type"]
    merges = kv["tokenizer.ggml.merges"]
    # our Tokenizer looks up NORMAL tokens; the coder vocab's byte tokens are all NORMAL (type 1)
    tok = bpe.Tokenizer.__new__(bpe.Tokenizer)
    tok.tokens, tok.types, tok.merges = tokens, types, merges
    tok.tok2id = {t: i for i, t in enumerate(tokens) if types[i] == 1}
    tok.ranks = {}
    for i, m in enumerate(merges):
        k = m.index(" ", 1)
        tok.ranks[(m[:k], m[k + 1:])] = i
    tok._cache = {}
    user = sorted([(t, i) for i, t in enumerate(tokens) if types[i] == 4], key=lambda x: -len(x[0]))

    def enc(text):
        frags = [text]
        for t, i in user:
            nxt = []
            for fr in frags:
                if isinstance(fr, int):
                    nxt.append(fr)
                    continue
                parts = fr.split(t)
                for j, p in enumerate(parts):
                    if j:
                        nxt.append(i)
                    if p:
                        nxt.append(p)
            frags = nxt
        out = []
        for fr in frags:
            out.extend([fr] if isinstance(fr, int) else tok.encode(fr))
        return out

    with open(base + ".inp", encoding="utf-8") as f:
        inp = f.read().split("\n__ggml_vocab_test__\n")[:-1]
    with open(base + ".out", encoding="utf-8") as f:
        out = [[int(x) for x in l.split()] for l in f.read().split("\n")[:len(inp)]]
    bad = 0
    for text, want in zip(inp, out):
        got = enc(text)
        if got != want:
            bad += 1
            print("MISMATCH", repr(text)[:60], "want", want[:12], "got", got[:12])
    print(f"{len(inp) - bad}/{len(inp)} vectors match")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
