#!/usr/bin/env python3
"""Differential test of seekd's pre-tokenizer (hand-written matchers over generated Unicode
tables) against an independent implementation of llama.cpp's semantics on Python's `regex`
engine (llama-cpp-facts.md 3.2): regexes in list order, each run inside every current segment,
matches and gaps both kept; non-ASCII whitespace seen as \v; \s = [\t\n\v\f\r ]; $ = end of
segment.  Random strings mixing every character class the DeepSeek regexes care about.
Exit 77 (skip) without ../shared/vocab or the regex module (Debian python3-regex)."""
import os, random, subprocess, sys

try:
    import regex
except ImportError:
    print("python3-regex is not installed"); sys.exit(77)
SEEKD = os.environ.get("SEEKD_BIN", "build/release/seekd")
VOCABS = {"deepseek-coder": "../shared/vocab/ggml-vocab-deepseek-coder.gguf",
          "deepseek-llm": "../shared/vocab/ggml-vocab-deepseek-llm.gguf"}
if not all(os.path.exists(p) for p in VOCABS.values()):
    print("../shared/vocab is absent"); sys.exit(77)

WS = "[\\t\\n\\x0b\\f\\r ]"
USPACE = set([0x85, 0xA0, 0x1680] + list(range(0x2000, 0x200B)) + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000])
CJK = "[\\u4e00-\\u9fa5\\u0800-\\u4e00\\uac00-\\ud7ff]"
LLM_L = "[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]"
LLM_P = "[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]"
LISTS = {
    "deepseek-coder": ["[\\r\\n]", WS + "?\\p{L}+", WS + "?\\p{P}+", CJK + "+", "\\p{N}"],
    "deepseek-llm": ["[\\r\\n]", WS + "?" + LLM_L + "+", WS + "?" + LLM_P + "+", WS + "+\\Z",
                     CJK + "+", "\\p{N}+"],
}

def split(pre, text):
    # Both of llama.cpp's engines see non-ASCII whitespace as \v.
    t = "".join("\x0b" if ord(c) in USPACE else c for c in text)
    segs = [(0, len(t))] if t else []
    for pat in LISTS[pre]:
        rx = regex.compile(pat)
        out = []
        for a, b in segs:
            pos = a
            for m in rx.finditer(t[a:b]):
                s, e = a + m.start(), a + m.end()
                if s > pos:
                    out.append((pos, s))
                out.append((s, e))
                pos = e
            if pos < b:
                out.append((pos, b))
        segs = out
    return [b - a for a, b in segs]

POOL = (list("abcXYZ019 _-+=<>$^`|~!?.,;:'\"()[]{}#%&*/\\@") + [" ", " ", "  ", "\t", "\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c"] +
        list("\u00e9\u00c0\u00b5\u00df\u0430\u0416\u03bb\u03a9\u0301\u0308\u05d0\u0627\u0660\u0669\u0966\u00b2\u00bd\u2160\u2167\u3007\u4e00\u4e2d\u6587\u9fa5\u9fa6\u3042\u30ab\ud55c\uac00\ud7a3\u0800\u0e01\u1780\u17b6") +
        list("\u3000\u00a0\u2003\u2028\u2029\u202f\u205f\u1680\u0085\u200b\ufeff") +
        list("\uff01\uff0c\uff5e\uff21\uff41\uff11\u2018\u201c\u3001\u3002\u300c\u00ab\u00bf\u2014\u2026\u00a7") +
        list("\u20ac\u00a9\u2192\u2211\U0001f600\U0001f44d\u200d\ufffd\U00010400\U0001e900\u2102\u212a\ufb01") )

def main():
    rnd = random.Random(20261204)
    texts = []
    for _ in range(3000):
        n = rnd.randint(0, 24)
        texts.append("".join(rnd.choice(POOL) for _ in range(n)))
    bad = 0
    for pre, path in VOCABS.items():
        data = "\0".join(texts).encode("utf-8")
        res = subprocess.run([SEEKD, "tokenize", "--model", path, "--split"], input=data,
                             stdout=subprocess.PIPE, check=True)
        lines = res.stdout.decode().split("\n")
        for i, t in enumerate(texts):
            got = [int(x) for x in lines[i].split()]
            want = split(pre, t)
            if got != want:
                bad += 1
                if bad <= 10:
                    print("%s: %r\n  seekd  %s\n  python %s" % (pre, t, got, want))
    print("%d strings x 2 pre-tokenizers, %d mismatches" % (len(texts), bad))
    sys.exit(1 if bad else 0)

main()
