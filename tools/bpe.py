#!/usr/bin/python3
"""Byte-level BPE for seekd's demo models: deepseek-coder pre-tokenizer + trainer + encoder.

Contract: `Tokenizer.encode(text)` returns exactly the ids that llama.cpp (and `seekd tokenize
--ids --no-bos`) produce for `text` with add_special = false, parse_special = false, given the
vocabulary written by tools/export.py (tokenizer.ggml.pre = "deepseek-coder").

Pre-tokenizer semantics (docs/llama-cpp-facts.md 3.2): the regexes
  [\\r\\n]   \\s?\\p{L}+   \\s?\\p{P}+   [CJK ranges]+   \\p{N}
are applied in list order; each runs inside every current segment and both the matches and the
gaps between them become segments (HF "Isolated"). Categories are those of llama.cpp's collapsed
byte string: ASCII from a fixed table (P = !"#%&'()*,-./:;?@[\\]_{} , S = $+<=>^`| , L = A-Za-z,
N = 0-9, \\s = space \\t \\n \\v \\f \\r), non-ASCII whitespace (U+0085, U+00A0, U+1680,
U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) counts as \\s, other non-ASCII code points
by unicodedata.category's first letter (Python's Unicode tables; llama.cpp uses "latest", so code
points assigned after Python's Unicode version may differ). Segments are then byte-encoded with
the GPT-2 byte-to-unicode map and merged by rank: the lowest-rank adjacent pair is merged first,
leftmost among equal ranks, one merge at a time (llama.cpp's priority-queue order).

Text must be a Python str (valid Unicode). Special tokens are never matched inside text (they are
CONTROL and we tokenize with parse_special = false).
"""
import collections
import json
import re
import sys
import unicodedata

# DeepSeek Coder's special token texts (U+FF5C FULLWIDTH VERTICAL LINE, U+2581 LOWER ONE EIGHTH BLOCK)
BOS_TEXT = "<\uff5cbegin\u2581of\u2581sentence\uff5c>"
EOS_TEXT = "<\uff5cend\u2581of\u2581sentence\uff5c>"
FIM_HOLE_TEXT = "<\uff5cfim\u2581hole\uff5c>"
FIM_BEGIN_TEXT = "<\uff5cfim\u2581begin\uff5c>"
FIM_END_TEXT = "<\uff5cfim\u2581end\uff5c>"
SPECIALS = [BOS_TEXT, EOS_TEXT, FIM_HOLE_TEXT, FIM_BEGIN_TEXT, FIM_END_TEXT]

TOKEN_NORMAL = 1
TOKEN_CONTROL = 3

_NONASCII_WS = {0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000} | set(range(0x2000, 0x200B))
_CAT_BYTE = {"N": "\xd1", "L": "\xd2", "P": "\xd3", "M": "\xd4", "S": "\xd5"}

_S = r"[ \t\n\x0b\x0c\r]"
_L = r"[\xd2A-Za-z]"
_P = r"[\xd3!\"#%&'()*,\-./:;?@\[\\\]_{}]"
_N = r"[\xd10-9]"
# (pattern, runs on the 'collapsed' string or on the 'wide' code-point string)
_REGEXES = [
    (re.compile(r"[\r\n]"), "c"),
    (re.compile(_S + "?" + _L + "+"), "c"),
    (re.compile(_S + "?" + _P + "+"), "c"),
    (re.compile("[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"), "w"),
    (re.compile(_N), "c"),
]


def bytes_to_unicode():
    """GPT-2 map: byte value -> printable code point (docs 3.3)."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out = {}
    n = 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(0x100 + n)
            n += 1
    return out


BYTE_ENC = bytes_to_unicode()
BYTE_DEC = {v: k for k, v in BYTE_ENC.items()}


def _collapse_char(ch):
    cp = ord(ch)
    if cp < 0x80:
        return ch
    if cp in _NONASCII_WS:
        return "\x0b"
    return _CAT_BYTE.get(unicodedata.category(ch)[0], "\xd0")


_collapse_cache = {}


def collapse(text):
    out = []
    for ch in text:
        c = _collapse_cache.get(ch)
        if c is None:
            c = _collapse_char(ch)
            _collapse_cache[ch] = c
        out.append(c)
    return "".join(out)


def pretokenize(text):
    """Split text into pre-tokenizer segments (list of str), llama.cpp deepseek-coder rules."""
    if not text:
        return []
    col = collapse(text)
    if col == text:
        wide = text
    else:
        wide = "".join("\x0b" if ord(ch) in _NONASCII_WS else ch for ch in text)
    segs = [(0, len(text))]
    for rx, which in _REGEXES:
        s = col if which == "c" else wide
        nxt = []
        for a, b in segs:
            pos = a
            for m in rx.finditer(s, a, b):
                if m.start() > pos:
                    nxt.append((pos, m.start()))
                nxt.append((m.start(), m.end()))
                pos = m.end()
            if pos < b:
                nxt.append((pos, b))
        segs = nxt
    return [text[a:b] for a, b in segs]


def byte_encode(seg):
    return "".join(BYTE_ENC[b] for b in seg.encode("utf-8"))


class Tokenizer:
    def __init__(self, tokens, merges, types):
        self.tokens = tokens
        self.types = types
        self.merges = merges
        self.tok2id = {t: i for i, t in enumerate(tokens) if types[i] == TOKEN_NORMAL}
        self.ranks = {}
        for i, m in enumerate(merges):
            k = m.index(" ", 1)
            self.ranks[(m[:k], m[k + 1:])] = i
        self.special = {t: i for i, t in enumerate(tokens) if types[i] == TOKEN_CONTROL}
        self.bos = self.special[BOS_TEXT]
        self.eos = self.special[EOS_TEXT]
        self.fim_hole = self.special[FIM_HOLE_TEXT]
        self.fim_begin = self.special[FIM_BEGIN_TEXT]
        self.fim_end = self.special[FIM_END_TEXT]
        self._cache = {}

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        return cls(d["tokens"], d["merges"], d["types"])

    @classmethod
    def from_gguf(cls, path):
        """Tokenizer from a GGUF's tokenizer.* metadata (needs numpy via tools/gguf.py, not torch)."""
        sys.path.insert(0, __file__.rsplit("/", 1)[0])
        import gguf
        kv, _ = gguf.read_gguf(path)
        return cls(list(kv["tokenizer.ggml.tokens"]), list(kv["tokenizer.ggml.merges"]),
                   list(kv["tokenizer.ggml.token_type"]))

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"tokens": self.tokens, "merges": self.merges, "types": self.types}, f,
                      ensure_ascii=False)

    def bpe(self, seg):
        """Byte-encoded segment -> list of ids (merge lowest rank first, leftmost on ties)."""
        ids = self._cache.get(seg)
        if ids is not None:
            return ids
        syms = list(seg)
        ranks = self.ranks
        while len(syms) > 1:
            best = None
            bi = -1
            for i in range(len(syms) - 1):
                r = ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best):
                    best = r
                    bi = i
            if best is None:
                break
            syms[bi:bi + 2] = [syms[bi] + syms[bi + 1]]
        ids = []
        for s in syms:
            t = self.tok2id.get(s)
            if t is not None:
                ids.append(t)
            else:  # unreachable with a complete merges table; llama.cpp falls back to single bytes
                ids.extend(self.tok2id[c] for c in s if c in self.tok2id)
        if len(self._cache) < 500000:
            self._cache[seg] = ids
        return ids

    def encode(self, text):
        out = []
        for seg in pretokenize(text):
            out.extend(self.bpe(byte_encode(seg)))
        return out

    def decode(self, ids, special=False):
        bs = bytearray()
        for i in ids:
            if self.types[i] == TOKEN_CONTROL:
                if special:
                    bs += self.tokens[i].encode("utf-8")
                continue
            bs += bytes(BYTE_DEC[c] for c in self.tokens[i])
        return bs.decode("utf-8", errors="replace")


def train(texts, n_vocab):
    """Train merges so that 256 bytes + merges + 5 specials == n_vocab. Deterministic:
    the most frequent pair wins, ties broken by the smaller (left, right) string pair."""
    n_merges = n_vocab - 256 - len(SPECIALS)
    counts = collections.Counter()
    for t in texts:
        counts.update(byte_encode(s) for s in pretokenize(t))
    words = []
    wcount = []
    for w, c in sorted(counts.items()):
        words.append(list(w))
        wcount.append(c)
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for wi, w in enumerate(words):
        c = wcount[wi]
        for i in range(len(w) - 1):
            p = (w[i], w[i + 1])
            pairs[p] += c
            where[p].add(wi)
    merges = []
    import heapq
    heap = [(-c, p) for p, c in pairs.items()]
    heapq.heapify(heap)
    while len(merges) < n_merges and heap:
        negc, p = heapq.heappop(heap)
        if pairs.get(p, 0) != -negc:
            if pairs.get(p, 0) > 0:
                heapq.heappush(heap, (-pairs[p], p))
            continue
        if -negc <= 0:
            break
        merges.append(p)
        a, b = p
        ab = a + b
        changed = set()
        for wi in sorted(where.pop(p, ())):
            w = words[wi]
            c = wcount[wi]
            # remove old pairs of this word
            for i in range(len(w) - 1):
                q = (w[i], w[i + 1])
                pairs[q] -= c
                changed.add(q)
            nw = []
            i = 0
            while i < len(w):
                if i < len(w) - 1 and w[i] == a and w[i + 1] == b:
                    nw.append(ab)
                    i += 2
                else:
                    nw.append(w[i])
                    i += 1
            words[wi] = nw
            for i in range(len(nw) - 1):
                q = (nw[i], nw[i + 1])
                pairs[q] += c
                where[q].add(wi)
                changed.add(q)
        pairs.pop(p, None)
        for q in changed:
            if q != p and pairs.get(q, 0) > 0:
                heapq.heappush(heap, (-pairs[q], q))
    tokens = [BYTE_ENC[b] for b in range(256)] + [a + b for a, b in merges] + SPECIALS
    types = [TOKEN_NORMAL] * (len(tokens) - len(SPECIALS)) + [TOKEN_CONTROL] * len(SPECIALS)
    return Tokenizer(tokens, [a + " " + b for a, b in merges], types)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train on the corpus train split")
    t.add_argument("--corpus", default="tools/work/corpus")
    t.add_argument("--vocab", type=int, default=4096)
    t.add_argument("--out", default="tools/work/tokenizer.json")
    e = sub.add_parser("encode", help="print ids for a file (no BOS)")
    e.add_argument("--tok", default="tools/work/tokenizer.json")
    e.add_argument("file")
    a = ap.parse_args(argv)
    if a.cmd == "train":
        sys.path.insert(0, __file__.rsplit("/", 1)[0])
        import corpus
        texts = [txt for _, txt in corpus.iter_split(a.corpus, "train")]
        tok = train(texts, a.vocab)
        tok.save(a.out)
        nbytes = sum(len(x.encode()) for x in texts)
        ntok = sum(len(tok.encode(x)) for x in texts[::10])
        nb10 = sum(len(x.encode()) for x in texts[::10])
        print(f"vocab {len(tok.tokens)} merges {len(tok.merges)} train bytes {nbytes} "
              f"bytes/token {nb10 / max(ntok, 1):.3f}")
    else:
        with open(a.file, "rb") as f:
            text = f.read().decode("utf-8")
        tok = Tokenizer.load(a.tok)
        print(" ".join(str(i) for i in tok.encode(text)))


if __name__ == "__main__":
    main(sys.argv[1:])
