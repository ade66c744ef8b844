#!/usr/bin/python3
"""Self-test of the Python tools the C engine is tested against (tools/gguf.py, quants.py,
make_model.py, reference.py).  Run from the repo root (make test does); exit 0 = pass.

Checks: GGUF writer -> reader round trip for every value type and tensor type, a file built
byte by byte from the documented layout, byte-exact rewrite of the vocab GGUFs, hostile inputs
(every truncation, bad headers) raise GGUFError; quantise -> dequantise error within each type's
bound; vectorised dequantisation equal bit for bit to a per-element transliteration of the block
layouts in llama-cpp-facts.md 2.1-2.2 and to hand-built blocks; make_model's type mixing and
metadata; reference.py: finite logits, causality, position-shift invariance (RoPE depends on
relative positions only), adjacent-pair RoPE, GQA head mapping, tied output, f32 vs f64."""
import os
import struct
import sys
import tempfile
import time
import traceback

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy is not installed for %s" % sys.executable)
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import gguf  # noqa: E402
import make_model  # noqa: E402
import quants as Q  # noqa: E402
import reference as R  # noqa: E402

TMP = tempfile.mkdtemp(prefix="seekd-tools-")
VOCAB = os.path.join(ROOT, "..", "shared", "vocab")
failures = []
tests = []


def test(fn):
    tests.append(fn)
    return fn


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def f16(v):
    return np.float32(np.float16(v))


# ===================================================================== GGUF

@test
def gguf_roundtrip():
    p = os.path.join(TMP, "rt.gguf")
    rng = np.random.default_rng(1)
    for align in (32, 64, 8):
        w = gguf.GGUFWriter(p, alignment=align)
        vals = [
            ("s", "héllo ✓", None, gguf.GGUF_TYPE_STRING), ("e", "", None, gguf.GGUF_TYPE_STRING),
            ("b", True, None, gguf.GGUF_TYPE_BOOL), ("b0", False, None, gguf.GGUF_TYPE_BOOL),
            ("u", 7, None, gguf.GGUF_TYPE_UINT32), ("neg", -5, None, gguf.GGUF_TYPE_INT32),
            ("big", 2**40, None, gguf.GGUF_TYPE_UINT64), ("f", 0.25, None, gguf.GGUF_TYPE_FLOAT32),
            ("u8", 255, gguf.GGUF_TYPE_UINT8, 0), ("i8", -128, gguf.GGUF_TYPE_INT8, 1),
            ("u16", 65535, gguf.GGUF_TYPE_UINT16, 2), ("i16", -32768, gguf.GGUF_TYPE_INT16, 3),
            ("i64", -2**62, gguf.GGUF_TYPE_INT64, 11), ("f64", 0.1, gguf.GGUF_TYPE_FLOAT64, 12),
            ("as", ["a", "", "Ġb c"], None, ("array", 8)), ("ai", [1, -2, 3], None, ("array", 5)),
            ("af", [0.5, 1.5], None, ("array", 6)), ("ab", [True, False], None, ("array", 7)),
            ("ae", [], ("array", gguf.GGUF_TYPE_UINT8), ("array", 0)),
            ("au64", [2**63], ("array", gguf.GGUF_TYPE_UINT64), ("array", 10)),
            ("anp", np.arange(5, dtype=np.int16), None, ("array", 3)),
        ]
        for k, v, vt, _ in vals:
            w.add("t." + k, v, vt)
        arrays = {}
        shapes = [(256, 3), (512,), (256, 2, 2), (256, 1, 2, 1), (32, 5)]
        for t in Q.TYPES:
            if t in (Q.Q8_1, Q.Q8_K):
                continue
            blck = Q.BLOCK[t][1]
            for si, sh in enumerate(shapes):
                if sh[0] % blck:
                    continue
                x = rng.standard_normal(int(np.prod(sh))).astype(np.float32)
                name = "x.%s.%d" % (Q.BLOCK[t][0], si)
                arrays[name] = (t, sh, Q.quantize(x, t).tobytes())
                if si == 0:
                    w.add_tensor(name, x.reshape(tuple(reversed(sh))), t)        # shape inferred
                elif si == 1:
                    w.add_tensor(name, arrays[name][2], t, shape=sh)             # raw bytes
                else:
                    rows = x.reshape(-1, sh[0])           # streamed a row at a time
                    w.add_tensor(name, lambda rows=rows: iter(rows), t, shape=sh)
        w.write()
        check(oct(os.stat(p).st_mode & 0o777) == "0o600", "file mode not 0600")
        kv, tens = gguf.read_gguf(p)
        for k, v, vt, want_t in vals:
            got = kv["t." + k]
            want = list(v) if isinstance(v, np.ndarray) else v
            if isinstance(want, float) and kv.types["t." + k] == 6:
                want = float(np.float32(want))
            check(got == want, "kv %s: %r != %r" % (k, got, want))
            check(kv.types["t." + k] == want_t, "kv %s type %r != %r" % (k, kv.types["t." + k], want_t))
        check((align == 32) == ("general.alignment" not in kv), "general.alignment presence")
        check(kv.alignment == align and kv.data_offset % align == 0, "alignment/data offset")
        raw = open(p, "rb").read()
        ends = []
        for name, (t, sh, data) in arrays.items():
            tt, ne, mv = tens[name]
            check(tt == t and ne == sh and bytes(mv) == data, "tensor %s differs" % name)
        # consecutive padded offsets and zero padding, checked on the raw bytes
        pos = kv.data_offset
        for name in kv.tensor_order:
            t, ne, mv = tens[name]
            n = len(mv)
            check(raw[pos:pos + n] == bytes(mv), "tensor %s not at its padded offset" % name)
            pad = (n + align - 1) // align * align
            check(raw[pos + n:pos + pad] == b"\0" * (pad - n), "padding not zero after %s" % name)
            pos += pad
            ends.append(pos)
        check(len(raw) == ends[-1], "file length %d != end of last padded tensor %d" % (len(raw), ends[-1]))


@test
def gguf_hand_built():
    """A file laid out by hand from facts 1.1/1.2 reads back, and the writer produces it exactly."""
    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b
    hdr = b"GGUF" + struct.pack("<Iqq", 3, 2, 3)
    hdr += s("general.architecture") + struct.pack("<i", 8) + s("llama")
    hdr += s("a.arr") + struct.pack("<iiQ", 9, 5, 3) + struct.pack("<3i", -1, 0, 7)
    hdr += s("a.b") + struct.pack("<i", 7) + b"\x01"
    hdr += s("w") + struct.pack("<I", 2) + struct.pack("<2q", 32, 1) + struct.pack("<iQ", 2, 0)
    hdr += s("n") + struct.pack("<I", 1) + struct.pack("<q", 3) + struct.pack("<iQ", 0, 32)
    data_off = (len(hdr) + 31) // 32 * 32
    blk = struct.pack("<e", 0.5) + bytes(range(16))
    f32 = struct.pack("<3f", 1.0, -2.0, 3.5)
    raw = hdr + b"\0" * (data_off - len(hdr)) + blk + b"\0" * 14 + f32 + b"\0" * 20
    p = os.path.join(TMP, "hand.gguf")
    open(p, "wb").write(raw)
    kv, t = gguf.read_gguf(p)
    check(kv["general.architecture"] == "llama" and kv["a.arr"] == [-1, 0, 7] and kv["a.b"] is True, "kv")
    check(t["w"][0] == 2 and t["w"][1] == (32, 1) and bytes(t["w"][2]) == blk, "tensor w")
    check(np.array_equal(Q.dequantize(t["n"][2], 0), [1.0, -2.0, 3.5]), "tensor n")
    y = Q.dequantize(t["w"][2], 2)
    want = [((j & 0xF) - 8) * 0.5 for j in range(16)] + [((j >> 4) - 8) * 0.5 for j in range(16)]
    check(np.array_equal(y, np.float32(want)), "Q4_0 hand block: %s" % y)
    p2 = os.path.join(TMP, "hand2.gguf")
    w = gguf.GGUFWriter(p2)
    w.add("general.architecture", "llama")
    w.add("a.arr", [-1, 0, 7])
    w.add("a.b", True)
    w.add_tensor("w", blk, gguf.GGML_TYPE_Q4_0, shape=(32, 1))
    w.add_tensor("n", np.float32([1.0, -2.0, 3.5]), gguf.GGML_TYPE_F32)
    w.write()
    check(open(p2, "rb").read() == raw, "writer output differs from the hand-built file")


@test
def gguf_vocab_rewrite():
    for f in ("ggml-vocab-deepseek-coder.gguf", "ggml-vocab-deepseek-llm.gguf"):
        src = os.path.join(VOCAB, f)
        if not os.path.exists(src):
            print("  (skip %s: absent)" % f)
            continue
        kv, t = gguf.read_gguf(src)
        check(len(t) == 0 and kv.data_offset == 1156096 or "llm" in f, "coder vocab data offset")
        w = gguf.GGUFWriter(os.path.join(TMP, f))
        for k in kv:
            w.add(k, kv[k], kv.types[k])
        w.write()
        check(open(src, "rb").read() == open(os.path.join(TMP, f), "rb").read(), "%s not byte-identical" % f)


@test
def gguf_hostile():
    p = os.path.join(TMP, "small.gguf")
    w = gguf.GGUFWriter(p)
    w.add("k", "v")
    w.add("arr", [1, 2])
    w.add("sarr", ["x", "yz"])
    w.add_tensor("t", np.zeros((2, 32), np.float32), gguf.GGML_TYPE_Q8_0)
    w.write()
    good = open(p, "rb").read()
    bad = os.path.join(TMP, "bad.gguf")

    def expect_error(data, what):
        open(bad, "wb").write(data)
        try:
            gguf.read_gguf(bad)
        except gguf.GGUFError:
            return
        except Exception as e:  # any other exception is a reader bug
            raise AssertionError("%s: %s: %s" % (what, type(e).__name__, e))
        raise AssertionError("%s: accepted" % what)

    # every truncation that cuts into the header or the 68 bytes of tensor data (the file
    # ends with 28 bytes of padding after them)
    for n in range(len(good) - 28):
        expect_error(good[:n], "truncated at %d" % n)
    expect_error(b"GGUX" + good[4:], "bad magic")
    for v in (1, 4, 0xFFFFFFFF):
        expect_error(good[:4] + struct.pack("<I", v) + good[8:], "version %d" % v)
    expect_error(good[:8] + struct.pack("<q", -1) + good[16:], "negative tensor count")
    expect_error(good[:16] + struct.pack("<q", 2**40) + good[24:], "huge kv count")
    # string length beyond the file
    expect_error(good[:24] + struct.pack("<Q", 2**62) + good[32:], "huge key length")
    # duplicate key: the first kv pair twice
    kv1 = good[24:24 + 8 + 1 + 4 + 8 + 1]
    dup = b"GGUF" + struct.pack("<Iqq", 3, 0, 2) + kv1 + kv1
    expect_error(dup, "duplicate key")
    nested = b"GGUF" + struct.pack("<Iqq", 3, 0, 1) + struct.pack("<Q", 1) + b"a" + struct.pack("<iiQ", 9, 9, 1)
    expect_error(nested, "nested array")
    badtype = b"GGUF" + struct.pack("<Iqq", 3, 0, 1) + struct.pack("<Q", 1) + b"a" + struct.pack("<i", 13)
    expect_error(badtype, "bad value type")
    huge_arr = b"GGUF" + struct.pack("<Iqq", 3, 0, 1) + struct.pack("<Q", 1) + b"a" + struct.pack("<iiQ", 9, 4, 2**61)
    expect_error(huge_arr, "huge array")
    huge_sarr = b"GGUF" + struct.pack("<Iqq", 3, 0, 1) + struct.pack("<Q", 1) + b"a" + struct.pack("<iiQ", 9, 8, 2**61)
    expect_error(huge_sarr, "huge string array")
    align = b"GGUF" + struct.pack("<Iqq", 3, 0, 1) + struct.pack("<Q", 17) + b"general.alignment" + struct.pack("<iI", 4, 24)
    expect_error(align, "alignment not a power of two")
    align2 = b"GGUF" + struct.pack("<Iqq", 3, 0, 1) + struct.pack("<Q", 17) + b"general.alignment" + struct.pack("<ii", 5, 32)
    expect_error(align2, "alignment not UINT32")

    def tensor_file(name=b"t", n_dims=2, ne=(32, 2), t=8, off=0, data=68 + 28):
        h = b"GGUF" + struct.pack("<Iqq", 3, 1, 0) + struct.pack("<Q", len(name)) + name
        h += struct.pack("<I", n_dims) + struct.pack("<%dq" % len(ne), *ne) + struct.pack("<iQ", t, off)
        h += b"\0" * ((len(h) + 31) // 32 * 32 - len(h))
        return h + b"\0" * data
    open(bad, "wb").write(tensor_file())
    gguf.read_gguf(bad)   # the baseline is valid
    expect_error(tensor_file(off=32), "tensor offset not consecutive")
    expect_error(tensor_file(n_dims=5, ne=(32, 2, 1, 1, 1)), "5 dims")
    expect_error(tensor_file(ne=(33, 2)), "ne0 not a multiple of the block")
    expect_error(tensor_file(ne=(32, -2)), "negative dim")
    expect_error(tensor_file(ne=(32, 2**61)), "huge tensor")
    expect_error(tensor_file(t=4), "removed type id")
    expect_error(tensor_file(t=16), "IQ type")
    expect_error(tensor_file(name=b"n" * 64), "name too long")
    expect_error(tensor_file(data=40), "data beyond the end")
    # writer refuses bad requests
    w = gguf.GGUFWriter(os.path.join(TMP, "w.gguf"))
    for fn, what in ((lambda: w.add("x", 1) or w.add("x", 2), "duplicate key"),
                     (lambda: w.add("y", 300, gguf.GGUF_TYPE_UINT8), "out of range"),
                     (lambda: w.add("z", [[1]], None), "nested list"),
                     (lambda: w.add_tensor("n" * 64, np.zeros(32, np.float32), 0), "long name"),
                     (lambda: w.add_tensor("q", np.zeros(33, np.float32), gguf.GGML_TYPE_Q4_0), "block"),
                     (lambda: w.add_tensor("r", b"\0" * 17, gguf.GGML_TYPE_Q4_0, shape=(32,)), "raw size")):
        try:
            fn()
        except (gguf.GGUFError, ValueError):
            continue
        raise AssertionError("writer accepted: " + what)


# ===================================================================== quants

# Relative RMS error bound on N(0,1) data, and the max |err| in a block as a fraction of the
# block's max |x|, worked out from each format (a = block max |x|):
#   Q4_0 / Q5_0: step a/8, a/16, and the +a side clamps one step: a/8, a/16
#   Q4_1 / Q5_1: half a step of range/15, range/31 (range <= 2a): a/15, a/31
#   Q8_0 / Q8_K: half a step, a/254, + a/2048 (f16 d);  Q6_K: a/32 clamp + a/256 from the 8-bit sub-scales
#   Q4_K / Q5_K: a/15, a/31 + 6-bit scale (<= 31 d/2) and min (dmin/2) rounding
#   Q3_K: a/4 clamp + a/64;  Q2_K: a/3 + a/15 + a/30
# plus a little for the f16 rounding of the scales.  A packing bug gives errors of order a.
BOUNDS = {
    Q.F32: (0, 0), Q.F16: (3e-4, 1e-3), Q.BF16: (2.5e-3, 4e-3),
    Q.Q8_0: (0.008, 0.0045), Q.Q8_1: (0.008, 0.0045), Q.Q8_K: (0.01, 0.0045),
    Q.Q6_K: (0.025, 0.037), Q.Q5_0: (0.05, 0.0650), Q.Q5_1: (0.045, 0.034), Q.Q5_K: (0.045, 0.06),
    Q.Q4_0: (0.1, 0.1270), Q.Q4_1: (0.09, 0.068), Q.Q4_K: (0.09, 0.095),
    Q.Q3_K: (0.18, 0.27), Q.Q2_K: (0.36, 0.45),
}


@test
def quant_error_bounds():
    rng = np.random.default_rng(7)
    x = rng.standard_normal(256 * 512).astype(np.float32)
    x[:256] *= 100.0                                  # a block of large values
    x[256:512] = np.abs(x[256:512]) + 3.0             # an all-positive block away from zero
    x[512:768] = 0.0                                  # an all-zero block
    x[768:1024] = -np.abs(x[768:1024])                # all negative
    x[1024:1280] = 0.0
    x[1024 + 77] = 5.0                                # a lone outlier
    for t in Q.TYPES:
        name, blck, nbytes = Q.BLOCK[t]
        b = Q.quantize(x, t)
        check(b.dtype == np.uint8 and b.size == x.size // blck * nbytes, "%s: encoded size" % name)
        y = Q.dequantize(b, t)
        check(y.dtype == np.float32 and y.shape == x.shape, "%s: decoded shape" % name)
        check(np.all(y[512:768] == 0), "%s: zero block not exactly zero" % name)
        e = y - x
        rel = np.sqrt(np.mean(e[1280:] ** 2) / np.mean(x[1280:] ** 2))
        rb, mb = BOUNDS[t]
        check(rel <= rb, "%s: relative rms error %.5f > %.5f" % (name, rel, rb))
        bs = max(blck, 32)
        amax = np.abs(x).reshape(-1, bs).max(axis=1)
        emax = np.abs(e).reshape(-1, bs).max(axis=1)
        worst = np.max(emax / np.where(amax > 0, amax, 1))
        check(worst <= mb, "%s: block max error %.4f of block max > %.4f" % (name, worst, mb))
        if t in (Q.F32, Q.F16, Q.BF16, Q.Q4_0, Q.Q5_0, Q.Q8_0):   # symmetric formats: idempotent
            check(np.array_equal(Q.quantize(y, t), b), "%s: requantising dequantised data is not stable" % name)
        print("  %-5s rel-rms %.5f  block-max %.4f" % (name, rel, worst))


@test
def quant_reference_rules():
    """The 32-element quantisers follow the documented reference rules exactly."""
    # Q4_0: max = signed value with the largest |x|, d = max / -8, q = min(15, trunc(x/d + 8.5))
    x = np.float32([-3.0, 1.0, 2.9, 0.4] + [0.0] * 28)
    b = Q.quantize(x, Q.Q4_0)
    d = np.float32(-3.0) / np.float32(-8)
    check(np.frombuffer(b[:2].tobytes(), "<f2")[0] == np.float16(d), "Q4_0 d")
    idd = np.float32(1) / d
    q = [min(15, int(np.float32(v) * idd + np.float32(8.5))) for v in x]
    want = bytes((q[j] | (q[j + 16] << 4)) for j in range(16))
    check(b[2:].tobytes() == want, "Q4_0 quants")
    # ties on |max| are resolved by first occurrence: +2 before -2 gives d = 2/-8 < 0
    b = Q.quantize(np.float32([2.0, -2.0] + [0.0] * 30), Q.Q4_0)
    check(np.frombuffer(b[:2].tobytes(), "<f2")[0] == np.float16(-0.25), "Q4_0 tie: first max wins")
    b = Q.quantize(np.float32([-2.0, 2.0] + [0.0] * 30), Q.Q4_0)
    check(np.frombuffer(b[:2].tobytes(), "<f2")[0] == np.float16(0.25), "Q4_0 tie (negative first)")
    # Q8_0: roundf, halves away from zero
    x = np.float32([127.0, 0.5, -0.5, 1.5, -2.5] + [0.0] * 27)
    b = Q.quantize(x, Q.Q8_0)
    check(list(b[2:7].view(np.int8)) == [127, 1, -1, 2, -3], "Q8_0 roundf: %s" % list(b[2:7].view(np.int8)))
    # Q4_1: d = (max - min)/15, m = min, q = trunc((x - min)/d + 0.5)
    x = np.float32(np.linspace(-1, 2, 32))
    b = Q.quantize(x, Q.Q4_1)
    dd, mm = np.frombuffer(b[:4].tobytes(), "<f2")
    check(dd == np.float16(np.float32(3.0) / np.float32(15)) and mm == np.float16(-1.0), "Q4_1 d/m")
    # BF16: round to nearest even, NaN stays NaN and quiet
    u = np.uint32([0x3F808000, 0x3F818000, 0x7F800001, 0xFFFFFFFF]).view(np.float32)
    bb = Q.quantize(u, Q.BF16).view("<u2")
    check(list(bb[:2]) == [0x3F80, 0x3F82], "BF16 rounding %s" % [hex(v) for v in bb])
    check(all(v & 0x7FC0 == 0x7FC0 for v in bb[2:]), "BF16 NaN quiet %s" % [hex(v) for v in bb])


def _u16(b, o):
    return b[o] | (b[o + 1] << 8)


def _h(b, o):
    return np.float32(np.frombuffer(bytes(b[o:o + 2]), "<f2")[0])


def scalar_dequant(t, b):
    """One block, element by element, transliterated from the facts tables (2.1, 2.2)."""
    F = np.float32
    y = [F(0)] * Q.BLOCK[t][1]
    if t == Q.Q4_0:
        d = _h(b, 0)
        for j in range(16):
            y[j] = F((b[2 + j] & 0xF) - 8) * d
            y[j + 16] = F((b[2 + j] >> 4) - 8) * d
    elif t == Q.Q4_1:
        d, m = _h(b, 0), _h(b, 2)
        for j in range(16):
            y[j] = F(b[4 + j] & 0xF) * d + m
            y[j + 16] = F(b[4 + j] >> 4) * d + m
    elif t in (Q.Q5_0, Q.Q5_1):
        d = _h(b, 0)
        m = _h(b, 2) if t == Q.Q5_1 else None
        o = 2 if t == Q.Q5_0 else 4
        qh = struct.unpack("<I", bytes(b[o:o + 4]))[0]
        qs = b[o + 4:o + 20]
        for j in range(16):
            q0 = (qs[j] & 0xF) | (((qh >> j) & 1) << 4)
            q1 = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)
            if m is None:
                y[j], y[j + 16] = F(q0 - 16) * d, F(q1 - 16) * d
            else:
                y[j], y[j + 16] = F(q0) * d + m, F(q1) * d + m
    elif t == Q.Q8_0:
        d = _h(b, 0)
        for i in range(32):
            y[i] = F(np.int8(b[2 + i] if b[2 + i] < 128 else b[2 + i] - 256)) * d
    elif t == Q.Q2_K:
        sc, qs, d, dmin = b[0:16], b[16:80], _h(b, 80), _h(b, 82)
        for h in range(2):
            for j in range(4):
                for l in range(32):
                    s = sc[8 * h + 2 * j + (1 if l >= 16 else 0)]
                    q = (qs[32 * h + l] >> (2 * j)) & 3
                    dl = d * F(s & 0xF)
                    ml = dmin * F(s >> 4)
                    y[128 * h + 32 * j + l] = dl * F(q) - ml
    elif t == Q.Q3_K:
        hm, qs, scales, d = b[0:32], b[32:96], b[96:108], _h(b, 108)
        sv = []
        for j in range(16):
            low4 = scales[j] & 0xF if j < 8 else scales[j - 8] >> 4
            high2 = (scales[8 + j % 4] >> (2 * (j // 4))) & 3
            sv.append((low4 | (high2 << 4)) - 32)
        for h in range(2):
            for j in range(4):
                for l in range(32):
                    s = sv[8 * h + 2 * j + (1 if l >= 16 else 0)]
                    q2 = (qs[32 * h + l] >> (2 * j)) & 3
                    hbit = (hm[l] >> (4 * h + j)) & 1
                    dl = d * F(s)
                    y[128 * h + 32 * j + l] = dl * F(q2 - (0 if hbit else 4))
    elif t in (Q.Q4_K, Q.Q5_K):
        d, dmin, q = _h(b, 0), _h(b, 2), b[4:16]
        qh = b[16:48] if t == Q.Q5_K else None
        qs = b[48:176] if t == Q.Q5_K else b[16:144]

        def scale_min(j):
            if j < 4:
                return q[j] & 63, q[j + 4] & 63
            return (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)
        for c in range(4):
            s1, m1 = scale_min(2 * c)
            s2, m2 = scale_min(2 * c + 1)
            for l in range(32):
                v1 = qs[32 * c + l] & 0xF
                v2 = qs[32 * c + l] >> 4
                if qh is not None:
                    v1 += 16 if qh[l] & (1 << (2 * c)) else 0
                    v2 += 16 if qh[l] & (1 << (2 * c + 1)) else 0
                y[64 * c + l] = (d * F(s1)) * F(v1) - dmin * F(m1)
                y[64 * c + 32 + l] = (d * F(s2)) * F(v2) - dmin * F(m2)
    elif t == Q.Q6_K:
        d = _h(b, 208)
        for h in range(2):
            ql, qh = b[64 * h:64 * h + 64], b[128 + 32 * h:128 + 32 * h + 32]
            sc = [F(v if v < 128 else v - 256) for v in b[192 + 8 * h:200 + 8 * h]]
            for l in range(32):
                i = l // 16
                q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32
                q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32
                q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                y[128 * h + l] = d * sc[i] * F(q1)
                y[128 * h + l + 32] = d * sc[i + 2] * F(q2)
                y[128 * h + l + 64] = d * sc[i + 4] * F(q3)
                y[128 * h + l + 96] = d * sc[i + 6] * F(q4)
    else:
        raise ValueError(t)
    return np.array(y, dtype=np.float32)


F16_FIELDS = {Q.Q4_0: (0,), Q.Q4_1: (0, 2), Q.Q5_0: (0,), Q.Q5_1: (0, 2), Q.Q8_0: (0,),
              Q.Q2_K: (80, 82), Q.Q3_K: (108,), Q.Q4_K: (0, 2), Q.Q5_K: (0, 2), Q.Q6_K: (208,)}


@test
def dequant_matches_layout():
    """Random bytes (sane f16 scales) decoded by quants.dequantize == the per-element scalar
    transliteration, bit for bit; also on real quantiser output."""
    rng = np.random.default_rng(3)
    for t, fields in F16_FIELDS.items():
        name, blck, nbytes = Q.BLOCK[t]
        nb = 6
        raw = rng.integers(0, 256, size=(nb, nbytes), dtype=np.uint8)
        for o in fields:
            raw[:, o:o + 2] = rng.uniform(-2, 2, nb).astype("<f2").view(np.uint8).reshape(nb, 2)
        x = rng.standard_normal(blck * 2).astype(np.float32)
        raw = np.concatenate([raw, Q.quantize(x, t).reshape(-1, nbytes)])
        vec = Q.dequantize(raw.reshape(-1), t)
        for i in range(raw.shape[0]):
            ref = scalar_dequant(t, list(raw[i]))
            got = vec[i * blck:(i + 1) * blck]
            if not np.array_equal(ref.view(np.uint32), got.view(np.uint32)):
                k = int(np.nonzero(ref.view(np.uint32) != got.view(np.uint32))[0][0])
                raise AssertionError("%s block %d elem %d: vectorised %r, layout %r" % (name, i, k, got[k], ref[k]))


@test
def dequant_hand_blocks():
    """Blocks whose values are worked out by hand from the layout tables."""
    # Q8_0: d = 0.5, qs = -3 .. 28
    b = struct.pack("<e", 0.5) + bytes((v & 0xFF) for v in range(-3, 29))
    check(np.array_equal(Q.dequantize(b, Q.Q8_0), np.arange(-3, 29, dtype=np.float32) * 0.5), "Q8_0")
    # Q5_0: d = 1, qs all 0x00, qh = bit 0 and bit 16 set -> elem 0 and elem 16 are 16-16 = 0,
    # every other element -16
    b = struct.pack("<e", 1.0) + struct.pack("<I", (1 << 0) | (1 << 16)) + bytes(16)
    want = np.full(32, -16.0, np.float32)
    want[0] = want[16] = 0.0
    check(np.array_equal(Q.dequantize(b, Q.Q5_0), want), "Q5_0 qh bit order")
    # Q4_1: d = 2, m = -1, qs[j] = j | (15 - j) << 4
    b = struct.pack("<ee", 2.0, -1.0) + bytes((j | ((15 - j) << 4)) for j in range(16))
    want = np.float32([2 * j - 1 for j in range(16)] + [2 * (15 - j) - 1 for j in range(16)])
    check(np.array_equal(Q.dequantize(b, Q.Q4_1), want), "Q4_1")
    # Q6_K: d = 1, every scale 1 except scale 5 = -2, ql/qh chosen so q = 0 (stored 32) except
    # ql[0] low nibble 1 -> elem 0 = 1-32+32.. ; set all stored q to 32: ql nibble 0, qh 2 bits = 2
    ql = bytearray(128)
    qh = bytearray([0b10101010] * 64)
    ql[0] = 0x01          # elem 0: (1 | 2<<4) - 32 = 1;  elem 64 (high nibble of ql[0]): 0
    ql[32 + 3] = 0x50     # elem 96+3 (high nibble of ql[35]): (5 | 2<<4) - 32 = 5, scale is 0+6 -> sc[6]
    sc = bytearray([1] * 16)
    sc[6] = (-2) & 0xFF
    b = bytes(ql) + bytes(qh) + bytes(sc) + struct.pack("<e", 1.0)
    y = Q.dequantize(b, Q.Q6_K)
    want = np.zeros(256, np.float32)
    want[0] = 1.0
    want[99] = -10.0
    check(np.array_equal(y, want), "Q6_K hand block: nonzero at %s" % np.nonzero(y)[0])
    # Q4_K: d = 1, dmin = 0.5; sub-block 5 (j >= 4 path) has scale 0x23 = 35 and min 0x11 = 17
    sc = bytearray(12)
    sc[9] = (0x23 & 0xF) | ((0x11 & 0xF) << 4)    # q[j+4] for j = 5
    sc[1] |= (0x23 >> 4) << 6                     # q[j-4] high bits -> scale bits 4-5
    sc[5] |= (0x11 >> 4) << 6                     # q[j] high bits -> min bits 4-5
    qs = bytearray(128)
    qs[64 + 7] = 0x30                             # chunk 2, l = 7, high nibble -> elem 64*2+32+7
    b = struct.pack("<ee", 1.0, 0.5) + bytes(sc) + bytes(qs)
    y = Q.dequantize(b, Q.Q4_K)
    want = np.zeros(256, np.float32)
    # sub-blocks 0 and 4 have scale 0 and min (q[4] & 63 = bits of sc[5] low 6 = 0x40 & 63 = 0)...
    want[160:192] = -0.5 * 17
    want[167] = 35 * 3 - 0.5 * 17
    check(np.array_equal(y, want), "Q4_K hand block: %s" % y[150:200])


# ===================================================================== make_model

@test
def make_model_types():
    cfg = dict(n_embd=2048, n_ff=5504, n_vocab=32256, n_layer=24, n_head=16, n_head_kv=16, type="Q4_K_M")
    plan = {n: t for n, ne, t, _, _ in make_model.tensor_plan(cfg)}
    check(plan["output.weight"] == Q.Q6_K and plan["token_embd.weight"] == Q.Q4_K, "Q4_K_M output/embd")
    check(plan["blk.0.attn_norm.weight"] == Q.F32, "norm F32")
    more = [i for i in range(24) if make_model.use_more_bits(i, 24)]
    check(more == [0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23], "use_more_bits(24): %s" % more)
    for i in range(24):
        fd = plan["blk.%d.ffn_down.weight" % i]
        av = plan["blk.%d.attn_v.weight" % i]
        check(fd == (Q.Q8_0 if i in more else Q.Q5_0), "1.3B ffn_down layer %d fallback" % i)
        check(av == (Q.Q6_K if i in more else Q.Q4_K), "attn_v layer %d" % i)
    cfg.update(type="Q5_K_M")
    plan = {n: t for n, ne, t, _, _ in make_model.tensor_plan(cfg)}
    check(plan["blk.3.ffn_down.weight"] == Q.Q5_1 and plan["blk.3.ffn_up.weight"] == Q.Q5_K, "Q5_K_M fallback")
    four = dict(n_embd=256, n_ff=512, n_vocab=300, n_layer=4, n_head=2, n_head_kv=2, type="Q4_K_M")
    plan = {n: t for n, ne, t, _, _ in make_model.tensor_plan(four)}
    check([plan["blk.%d.attn_v.weight" % i] for i in range(4)] == [Q.Q4_K, Q.Q4_K, Q.Q6_K, Q.Q6_K], "4-layer attn_v")
    for ft, out in (("Q8_0", Q.Q8_0), ("Q4_0", Q.Q6_K), ("F16", Q.F16), ("Q2_K", Q.Q6_K)):
        four["type"] = ft
        plan = {n: t for n, ne, t, _, _ in make_model.tensor_plan(four)}
        check(plan["output.weight"] == out, "%s output type" % ft)
    four.update(type="Q4_0", pure=True)
    plan = {n: t for n, ne, t, _, _ in make_model.tensor_plan(four)}
    check(plan["output.weight"] == Q.Q4_0, "--pure output")


@test
def make_model_files():
    p = os.path.join(TMP, "m.gguf")
    make_model.make(p, n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=96, n_vocab=300,
                    type="Q8_0", seed=5, rope_scale=4.0, rope_base=100000.0, tied=True)
    kv, t = gguf.read_gguf(p)
    check("output.weight" not in t and kv["llama.rope.scaling.type"] == "linear", "tied / rope keys")
    check(kv["llama.rope.scaling.factor"] == 4.0 and kv.types["llama.rope.scaling.factor"] == 6, "factor f32")
    check(kv["general.file_type"] == 7 and kv["llama.attention.head_count_kv"] == 2, "file_type / kv heads")
    check(t["blk.1.attn_k.weight"][1] == (64, 32) and t["token_embd.weight"][0] == Q.Q8_0, "shapes/types")
    hp = R.read_hparams(kv, t)
    check(hp["freq_scale"] == 0.25 and hp["rope_base"] == 100000.0 and hp["tied"], "reference hparams")
    toks, merges = kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.merges"]
    ts = set(toks)
    check(len(toks) == 300 and len(ts) == 300, "synthetic vocab size/unique")
    check(all(a in ts and b in ts and a + b in ts for a, b in (m.split(" ") for m in merges)), "merges valid")
    check(toks[kv["tokenizer.ggml.bos_token_id"]] == make_model.BOS_TEXT, "BOS text")
    p2 = os.path.join(TMP, "m2.gguf")
    make_model.make(p2, n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=96, n_vocab=300,
                    type="Q8_0", seed=5, rope_scale=4.0, rope_base=100000.0, tied=True)
    check(open(p, "rb").read() == open(p2, "rb").read(), "same seed, different file")
    make_model.make(p2, n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=96, n_vocab=300,
                    type="Q8_0", seed=6, rope_scale=4.0, old_keys=True)
    kv2, t2 = gguf.read_gguf(p2)
    check(bytes(t2["blk.0.attn_q.weight"][2]) != bytes(t["blk.0.attn_q.weight"][2]), "seed ignored")
    check("llama.rope.scale_linear" in kv2 and "llama.rope.scaling.factor" not in kv2
          and "tokenizer.ggml.pre" not in kv2, "--old-keys")
    check(R.read_hparams(kv2, t2)["freq_scale"] == 0.25, "old key read by the reference")
    # the command line (tests/engine/test_model.c spawns it)
    p4 = os.path.join(TMP, "cli.gguf")
    rc = make_model.main([p4, "--preset", "tiny", "--type", "Q4_K_M", "--n-layer", "1", "--n-ff", "320",
                          "--tensor-type", "blk.0.attn_q.weight=Q8_0", "--seed", "3", "-q"])
    kv4, t4 = gguf.read_gguf(p4)
    check(rc == 0 and kv4["general.file_type"] == 15 and kv4["llama.block_count"] == 1, "CLI metadata")
    check(t4["blk.0.attn_q.weight"][0] == Q.Q8_0 and t4["blk.0.ffn_down.weight"][0] == Q.Q8_0
          and t4["blk.0.ffn_up.weight"][0] == Q.Q4_K, "CLI types (override, ne0 % 256 fallback)")
    voc = os.path.join(VOCAB, "ggml-vocab-deepseek-coder.gguf")
    if os.path.exists(voc):
        make_model.make(p2, n_embd=32, n_layer=1, n_head=2, n_ff=64, type="Q8_0", vocab=voc)
        kv3, t3 = gguf.read_gguf(p2)
        vkv, _ = gguf.read_gguf(voc)
        for k in vkv:
            if k.startswith("tokenizer."):
                check(kv3[k] == vkv[k] and kv3.types[k] == vkv.types[k], "vocab key %s not copied exactly" % k)
        check(t3["token_embd.weight"][1] == (32, 32256), "n_vocab from the vocab file")


# ===================================================================== reference

def _tiny(path, **kw):
    args = dict(n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=96, n_vocab=300, type="F32", seed=11)
    args.update(kw)
    make_model.make(path, **args)
    return R.load(path)


@test
def reference_sanity():
    m = _tiny(os.path.join(TMP, "r.gguf"))
    rng = np.random.default_rng(0)
    toks = rng.integers(0, 300, 24)
    a = R.forward(m, toks)
    check(a.shape == (24, 300) and a.dtype == np.float32 and np.all(np.isfinite(a)), "shape/finite")
    rms = np.sqrt(np.mean(a.astype(np.float64) ** 2))
    check(0.1 < rms < 100 and np.std(a, axis=1).min() > 0.05, "logit scale rms %.3g" % rms)
    b = R.forward(m, toks, f64=True)
    check(np.abs(a - b).max() / rms < 1e-4, "f32 vs f64 %.3g" % (np.abs(a - b).max() / rms))
    # causal: changing later tokens changes nothing before them (exact: same rows, same math)
    for i in (0, 5, 17):
        t2 = toks.copy()
        t2[i + 1:] = rng.integers(0, 300, 24 - i - 1)
        c = R.forward(m, t2, f64=True)
        check(np.array_equal(c[:i + 1], b[:i + 1]), "logits at <= %d depend on later tokens" % i)
        check(not np.allclose(c[i + 1:], b[i + 1:]), "later tokens have no effect")
    # teacher forcing == growing prefixes
    for n in (1, 7):
        check(np.allclose(R.forward(m, toks[:n], f64=True), b[:n], rtol=0, atol=1e-12), "prefix %d" % n)
    # position-shift invariance: RoPE makes attention depend on relative positions only
    s = R.forward(m, toks, f64=True, pos0=1000)
    check(np.abs(s - b).max() / rms < 1e-9, "shift by 1000 changes logits by %.3g" % (np.abs(s - b).max() / rms))
    e = R.forward(m, toks, f64=True, positions=np.arange(24) + 1000)
    check(np.array_equal(e, s), "explicit positions differ from pos0")
    g = R.forward(m, toks, f64=True, positions=np.r_[np.arange(12), np.arange(12) + 40])
    check(np.array_equal(g[:12], b[:12]) and np.abs(g[12:] - b[12:]).max() > 1e-6, "position gap")
    # kv_f16 is a small, nonzero perturbation
    k = R.forward(m, toks, kv_f16=True, f64=True)
    dk = np.abs(k - b).max() / rms
    check(0 < dk < 2e-2, "kv f16 perturbation %.3g" % dk)


@test
def reference_rope():
    rng = np.random.default_rng(2)
    hd, n = 16, 5
    x = rng.standard_normal((n, 3, hd))
    cos, sin = R.rope_tables(n, 7, hd, 10000.0, 0.25, np.float64)
    y = R.rope(x, cos, sin)
    for p in range(n):
        for h in range(3):
            for i in range(hd // 2):
                th = 0.25 * (7 + p) * 10000.0 ** (-2.0 * i / hd)
                a, b2 = x[p, h, 2 * i], x[p, h, 2 * i + 1]
                check(abs(y[p, h, 2 * i] - (a * np.cos(th) - b2 * np.sin(th))) < 1e-12 and
                      abs(y[p, h, 2 * i + 1] - (a * np.sin(th) + b2 * np.cos(th))) < 1e-12,
                      "adjacent-pair rotation at p=%d i=%d" % (p, i))
    # q.k after RoPE depends only on the position difference
    q, k = rng.standard_normal(hd), rng.standard_normal(hd)

    def rot(v, p):
        c, s = R.rope_tables(1, p, hd, 100000.0, 1.0, np.float64)
        return R.rope(v.reshape(1, 1, hd), c, s).reshape(hd)
    d0 = rot(q, 9) @ rot(k, 4)
    for shift in (1, 100, 3000):
        check(abs(rot(q, 9 + shift) @ rot(k, 4 + shift) - d0) < 1e-9, "relative-position property")
    check(abs(rot(q, 10) @ rot(k, 4) - d0) > 1e-6, "rotation has no effect")


@test
def reference_gqa_and_tied():
    """GQA maps query head j to kv head j // (n_head/n_head_kv): a GQA file equals the MHA file
    whose k/v heads are duplicated that way.  Tied output equals output.weight = token_embd."""
    p = os.path.join(TMP, "g.gguf")
    m = _tiny(p, n_head=4, n_head_kv=2)
    kv, ts = gguf.read_gguf(p)
    hd = 16
    p2 = os.path.join(TMP, "g_mha.gguf")
    w = gguf.GGUFWriter(p2)
    for k in kv:
        if k == "llama.attention.head_count_kv":
            w.add(k, 4)
        else:
            w.add(k, kv[k], kv.types[k])
    for name in kv.tensor_order:
        t, ne, raw = ts[name]
        if name.endswith(("attn_k.weight", "attn_v.weight")):
            a = Q.dequantize(raw, t).reshape(2, hd, 64)            # (kv head, hd, n_embd)
            a = np.repeat(a, 2, axis=0).reshape(4 * hd, 64)         # kv head j//2 for head j
            w.add_tensor(name, a, t)
        else:
            w.add_tensor(name, bytes(raw), t, shape=ne)
    w.write()
    toks = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
    a = R.forward(m, toks, f64=True)
    b = R.forward(R.load(p2), toks, f64=True)
    check(np.abs(a - b).max() < 1e-9, "GQA != duplicated-head MHA (%.3g)" % np.abs(a - b).max())
    p3 = os.path.join(TMP, "t.gguf")
    mt = _tiny(p3, tied=True)
    kv3, ts3 = gguf.read_gguf(p3)
    w = gguf.GGUFWriter(os.path.join(TMP, "t_untied.gguf"))
    for k in kv3:
        w.add(k, kv3[k], kv3.types[k])
    for name in kv3.tensor_order:
        t, ne, raw = ts3[name]
        w.add_tensor(name, bytes(raw), t, shape=ne)
    t, ne, raw = ts3["token_embd.weight"]
    w.add_tensor("output.weight", bytes(raw), t, shape=ne)
    w.write()
    c = R.forward(mt, toks, f64=True)
    d = R.forward(R.load(os.path.join(TMP, "t_untied.gguf")), toks, f64=True)
    check(mt.hp["tied"] and np.array_equal(c, d), "tied output")


@test
def reference_quantised_and_cli():
    p = os.path.join(TMP, "q.gguf")
    m = _tiny(p, n_embd=256, n_ff=512, n_head=4, n_head_kv=1, type="Q4_K_M")
    check(m.tensors["output.weight"][0] == Q.Q6_K, "Q4_K_M output")
    toks = [7, 8, 9, 10, 11]
    a = R.forward(m, toks)
    check(np.all(np.isfinite(a)), "finite")
    out = os.path.join(TMP, "l.bin")
    rc = R.main([p, "--tokens", "7,8,9,10,11", "--all-logits", "--out", out, "--print-top", "0"])
    got = np.fromfile(out, "<f4").reshape(5, -1)
    check(rc == 0 and np.array_equal(got, a), "CLI .bin output")
    rc = R.main([p, "--tokens", "7,8,9,10,11", "--out", out + ".npy", "--print-top", "0"])
    check(rc == 0 and np.array_equal(np.load(out + ".npy"), a[-1]), "CLI .npy output")
    # --act-q8: blocks of 32 (Q8_0 weights) or 256 (K-quants) become rint(x*127/amax)*amax/127
    x = np.zeros((2, 256), np.float32)
    x[0, :4] = [127.0, 0.5, -1.5, 2.5]          # amax 127: q = rint(x) with halves to even
    x[1, 40] = -3.0                               # second block of 32 of row 1: amax 3
    x[1, 41] = 1.0
    y = R.act_q8(x, 32)
    check(list(y[0, :4]) == [127.0, 0.0, -2.0, 2.0] and np.all(y[0, 32:] == 0), "act_q8 rounding %s" % y[0, :4])
    d = np.float32(3.0) / np.float32(127)
    check(y[1, 40] == -3.0 and y[1, 41] == np.float32(np.rint(np.float32(1.0) * (np.float32(127) / np.float32(3)))) * d,
          "act_q8 block scale")
    check(np.array_equal(R.act_q8(x, 256)[1, 41], np.float32(np.rint(127 / 3.0 * 1.0)) * d), "256-blocks")
    aq = R.forward(m, toks, act_q8=True, f64=True)
    da = np.abs(aq - R.forward(m, toks, f64=True)).max() / np.sqrt(np.mean(a.astype(np.float64) ** 2))
    check(0 < da < 0.3, "act_q8 perturbation %.3g" % da)
    mf = R.load(os.path.join(TMP, "r.gguf"))   # F32 weights: act_q8 changes nothing
    check(np.array_equal(R.forward(mf, toks, act_q8=True), R.forward(mf, toks)), "act_q8 on F32 weights")
    # perplexity: llama.cpp's windows (second half scored, first token -> BOS) by hand
    long = np.random.default_rng(4).integers(0, 300, 70)
    ppl, run = R.perplexity(mf, long, 16)
    nll, cnt = 0.0, 0
    bos = mf.kv["tokenizer.ggml.bos_token_id"]
    for c in range(4):
        ch = [bos] + list(long[16 * c + 1:16 * c + 16])
        lg = R.forward(mf, ch).astype(np.float64)
        for i in range(8, 15):
            row = lg[i]
            nll += np.log(np.sum(np.exp(row - row.max()))) + row.max() - row[ch[i + 1]]
            cnt += 1
    check(len(run) == 4 and abs(ppl - np.exp(nll / cnt)) < 1e-9 * ppl, "perplexity %r vs %r" % (ppl, np.exp(nll / cnt)))
    # a hostile token id is an error, not a crash
    try:
        R.forward(m, [1, 300])
        raise AssertionError("token out of range accepted")
    except R.RefError:
        pass


def main():
    t0 = time.time()
    for fn in tests:
        t1 = time.time()
        try:
            fn()
            print("ok   %-28s %.2fs" % (fn.__name__, time.time() - t1))
        except Exception:
            failures.append(fn.__name__)
            print("FAIL %s" % fn.__name__)
            traceback.print_exc()
    print("%d/%d passed in %.1fs" % (len(tests) - len(failures), len(tests), time.time() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
