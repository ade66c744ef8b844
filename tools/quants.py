#!/usr/bin/python3
"""Vectorised numpy quantisers and dequantisers for the ggml block formats seekd reads.

Written from the block layouts in ../shared/docs/llama-cpp-facts.md sections 2.1-2.2 (not
ported from ggml).  Types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K,
Q5_K, Q6_K (plus Q8_1 and Q8_K, the activation formats, for kernel tests).

API:
    quantize(x, ggml_type) -> np.uint8 array of the encoded blocks (x: float array whose size
                              is a multiple of the block size; it is flattened row-major)
    dequantize(raw, ggml_type, n=None) -> float32 array (raw: bytes/memoryview/uint8 array;
                              n elements, default: all blocks in raw)
    TYPES: ggml ids handled here.
CLI: quants.py dequant FILE.gguf TENSOR OUT.f32 | quants.py quant TYPE IN.f32 OUT.bin

Dequantisation is the specification the C engine's `_ref` kernels must reproduce bit for bit.
Every step is an IEEE float32 operation evaluated left to right, with no fused multiply-add
(C11 in ISO mode does not contract), f16 scales widened exactly to f32 and integer quants
converted exactly to f32:
    F16   f16 -> f32                 BF16  bits << 16
    Q4_0  (q - 8) * d                Q4_1  q * d + m
    Q5_0  (q - 16) * d               Q5_1  q * d + m
    Q8_0  q * d
    Q2_K  dl = d * (sc & 15);  ml = dmin * (sc >> 4);  y = dl * q - ml
    Q3_K  dl = d * (s - 32);   y = dl * (q - 4)       (q = 3-bit value 0..7)
    Q4_K  dl = d * sc;  ml = dmin * m;  y = dl * q - ml
    Q5_K  same as Q4_K with q = 0..31
    Q6_K  y = (d * sc) * (q - 32)    (sc: int8)
    Q8_K  q * d (d is f32)           Q8_1  q * d

Quantisers: Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q8_1/Q8_K mirror ggml's reference quantisers as the facts
file documents them (so files come out identical).  The K-quants use plain round-to-nearest
per block (ggml's reference searches for better scales; its files differ from ours, but every
file we write is a valid file of that type).  Scales are rounded to f16 before the quants are
computed from them.
"""
import numpy as np

F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 = 0, 1, 2, 3, 6, 7, 8, 9
Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, BF16 = 10, 11, 12, 13, 14, 15, 30

# id -> (name, elements per block, bytes per block); same table as gguf.py
BLOCK = {
    F32: ("F32", 1, 4), F16: ("F16", 1, 2), BF16: ("BF16", 1, 2),
    Q4_0: ("Q4_0", 32, 18), Q4_1: ("Q4_1", 32, 20), Q5_0: ("Q5_0", 32, 22),
    Q5_1: ("Q5_1", 32, 24), Q8_0: ("Q8_0", 32, 34), Q8_1: ("Q8_1", 32, 36),
    Q2_K: ("Q2_K", 256, 84), Q3_K: ("Q3_K", 256, 110), Q4_K: ("Q4_K", 256, 144),
    Q5_K: ("Q5_K", 256, 176), Q6_K: ("Q6_K", 256, 210), Q8_K: ("Q8_K", 256, 292),
}
TYPES = tuple(BLOCK)
BY_NAME = {v[0]: k for k, v in BLOCK.items()}

_f32 = np.float32


def _h(a):
    """f32 array -> f16 (round to nearest even, as F16C / ggml do)."""
    return np.asarray(a, dtype=np.float32).astype(np.float16)


def _hf(a):
    """f32 -> f16 -> f32: the value a reader will see."""
    return _h(a).astype(np.float32)


def _u16(col):
    """uint8 (nb, 2) columns -> uint16 little-endian (nb,)"""
    return np.ascontiguousarray(col).view("<u2").reshape(-1)


def _f16col(col):
    return np.ascontiguousarray(col).view("<f2").reshape(-1).astype(np.float32)


def _put_f16(blocks, off, vals):
    blocks[:, off:off + 2] = _h(vals).view(np.uint8).reshape(-1, 2)


def _nearest(v):
    """ggml's nearest_int: round half to even."""
    return np.rint(v)


def _roundf(v):
    """C roundf of float32 values: half away from zero.  v + copysign(0.5, v) is exact in
    float64 for every float32 v, so truncating it rounds exactly as roundf does."""
    v = v.astype(np.float64)
    return np.trunc(v + np.copysign(0.5, v))


def _rreduce(x, op):
    """op-reduce each row of a 2-D array by halving (much faster than axis=1 reductions over
    short rows in numpy); same result as op.reduce(x, axis=1) for max/min."""
    while x.shape[1] > 1 and x.shape[1] % 2 == 0:
        h = x.shape[1] // 2
        x = op(x[:, :h], x[:, h:])
    return op.reduce(x, axis=1) if x.shape[1] > 1 else x[:, 0]


def _rmax(x):
    return _rreduce(x, np.maximum)


def _rmin(x):
    return _rreduce(x, np.minimum)


def _signed_absmax(xb):
    """Per row, the value with the largest |x| (first one on ties), as ggml's loops pick it."""
    mx = _rmax(xb)
    mn = _rmin(xb)
    out = np.where(-mn > mx, mn, mx)
    tie = (-mn == mx) & (mx != 0)
    if tie.any():
        rows = np.nonzero(tie)[0]
        sub = xb[rows]
        first_max = np.argmax(sub == mx[rows, None], axis=1)
        first_min = np.argmax(sub == mn[rows, None], axis=1)
        out[rows] = np.where(first_min < first_max, mn[rows], mx[rows])
    # ggml starts from max = +0.0 and only replaces it by a value of larger |x|: a block of
    # zeros (or -0.0s) yields +0.0
    return np.where(out == 0, _f32(0), out)


def _inv(d):
    with np.errstate(divide="ignore"):
        return np.where(d != 0, _f32(1) / np.where(d != 0, d, _f32(1)), _f32(0)).astype(np.float32)


def _blocks(x, blck):
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if x.size % blck:
        raise ValueError("%d elements is not a multiple of the block size %d" % (x.size, blck))
    return x.reshape(-1, blck)


# ---------------------------------------------------------------- 32-element formats

def _q_sym(xb, nlev):
    """Q4_0 (nlev 16) / Q5_0 (nlev 32): d = max / -(nlev/2), q = min(nlev-1, trunc(x/d + nlev/2 + .5))."""
    half = nlev // 2
    mx = _signed_absmax(xb)
    d = (mx / _f32(-half)).astype(np.float32)
    idd = _inv(d)
    v = xb * idd[:, None] + _f32(half + 0.5)
    q = np.minimum(np.trunc(v), nlev - 1).astype(np.uint8)
    return d, q


def _q_asym(xb, nlev, clamp):
    mn = _rmin(xb)
    mx = _rmax(xb)
    d = ((mx - mn) / _f32(nlev - 1)).astype(np.float32)
    idd = _inv(d)
    v = (xb - mn[:, None]) * idd[:, None] + _f32(0.5)
    q = np.trunc(v)
    if clamp:
        q = np.minimum(q, nlev - 1)
    q = np.clip(q, 0, nlev - 1).astype(np.uint8)
    return d, mn, q


def _pack_nibbles(q):
    """q (nb, 32) 0..15 -> qs (nb, 16): low nibble elem j, high nibble elem j+16."""
    return (q[:, :16] & 0xF) | ((q[:, 16:] & 0xF) << 4)


def _pack_qh(q):
    """bit 4 of each of the 32 quants -> u32 (bit j for elem j) as (nb, 4) bytes."""
    bits = ((q >> 4) & 1).astype(np.uint32)
    qh = (bits << np.arange(32, dtype=np.uint32)).sum(axis=1, dtype=np.uint32)
    return qh.astype("<u4").view(np.uint8).reshape(-1, 4)


def _quant_q4_0(x):
    xb = _blocks(x, 32)
    d, q = _q_sym(xb, 16)
    out = np.empty((xb.shape[0], 18), np.uint8)
    _put_f16(out, 0, d)
    out[:, 2:] = _pack_nibbles(q)
    return out


def _quant_q5_0(x):
    xb = _blocks(x, 32)
    d, q = _q_sym(xb, 32)
    out = np.empty((xb.shape[0], 22), np.uint8)
    _put_f16(out, 0, d)
    out[:, 2:6] = _pack_qh(q)
    out[:, 6:] = _pack_nibbles(q)
    return out


def _quant_q4_1(x):
    xb = _blocks(x, 32)
    d, m, q = _q_asym(xb, 16, True)
    out = np.empty((xb.shape[0], 20), np.uint8)
    _put_f16(out, 0, d)
    _put_f16(out, 2, m)
    out[:, 4:] = _pack_nibbles(q)
    return out


def _quant_q5_1(x):
    xb = _blocks(x, 32)
    d, m, q = _q_asym(xb, 32, False)
    out = np.empty((xb.shape[0], 24), np.uint8)
    _put_f16(out, 0, d)
    _put_f16(out, 2, m)
    out[:, 4:8] = _pack_qh(q)
    out[:, 8:] = _pack_nibbles(q)
    return out


def _q8(xb):
    amax = _rmax(np.abs(xb))
    d = (amax / _f32(127)).astype(np.float32)
    idd = _inv(d)
    q = _roundf(xb * idd[:, None]).astype(np.int8)
    return d, q


def _quant_q8_0(x):
    xb = _blocks(x, 32)
    d, q = _q8(xb)
    out = np.empty((xb.shape[0], 34), np.uint8)
    _put_f16(out, 0, d)
    out[:, 2:] = q.view(np.uint8)
    return out


def _quant_q8_1(x):
    xb = _blocks(x, 32)
    d, q = _q8(xb)
    s = q.astype(np.int32).sum(axis=1).astype(np.float32) * d
    out = np.empty((xb.shape[0], 36), np.uint8)
    _put_f16(out, 0, d)
    _put_f16(out, 2, s)
    out[:, 4:] = q.view(np.uint8)
    return out


def _unpack_nibbles(qs):
    return np.concatenate([qs & 0xF, qs >> 4], axis=1)


def _unpack_qh(col4):
    qh = np.ascontiguousarray(col4).view("<u4").reshape(-1, 1)
    return (((qh >> np.arange(32, dtype=np.uint32)) & 1) << 4).astype(np.uint8)


def _deq_q4_0(b):
    d = _f16col(b[:, 0:2])
    q = _unpack_nibbles(b[:, 2:18]).astype(np.int32) - 8
    return q.astype(np.float32) * d[:, None]


def _deq_q4_1(b):
    d = _f16col(b[:, 0:2])
    m = _f16col(b[:, 2:4])
    q = _unpack_nibbles(b[:, 4:20]).astype(np.float32)
    return q * d[:, None] + m[:, None]


def _deq_q5_0(b):
    d = _f16col(b[:, 0:2])
    q = (_unpack_nibbles(b[:, 6:22]) | _unpack_qh(b[:, 2:6])).astype(np.int32) - 16
    return q.astype(np.float32) * d[:, None]


def _deq_q5_1(b):
    d = _f16col(b[:, 0:2])
    m = _f16col(b[:, 2:4])
    q = (_unpack_nibbles(b[:, 8:24]) | _unpack_qh(b[:, 4:8])).astype(np.float32)
    return q * d[:, None] + m[:, None]


def _deq_q8_0(b):
    d = _f16col(b[:, 0:2])
    return b[:, 2:34].view(np.int8).astype(np.float32) * d[:, None]


def _deq_q8_1(b):
    d = _f16col(b[:, 0:2])
    return b[:, 4:36].view(np.int8).astype(np.float32) * d[:, None]


# ---------------------------------------------------------------- K-quants (256 per block)

def _sub_minmax(xs, nmax):
    """Per sub-block (rows of xs (nb, nsub, n)): scale and min for q*scale - min with q in 0..nmax.
    min is clamped to <= 0 (so the stored min is >= 0)."""
    nb, nsub, n = xs.shape
    lo = np.minimum(_rmin(xs.reshape(-1, n)), _f32(0)).reshape(nb, nsub)
    hi = _rmax(xs.reshape(-1, n)).reshape(nb, nsub)
    scale = ((hi - lo) / _f32(nmax)).astype(np.float32)
    return scale, (-lo).astype(np.float32)


def _super_scale(vals, nmax):
    """Non-negative per-sub-block values (nb, nsub) -> f16 super scale d (rounded) and ints 0..nmax."""
    vmax = vals.max(axis=1)
    d = _hf(vmax / _f32(nmax))
    idd = _inv(d)
    ints = np.clip(_nearest(vals * idd[:, None]), 0, nmax)
    return d, ints


def _kq_asym(x, nsub, nmax, smax):
    """Shared RTN quantiser for Q2_K (nsub 16, q 0..3, 4-bit scales), Q4_K/Q5_K (nsub 8, 6-bit).
    Returns d, dmin (f16-rounded f32), sc, m (ints), L (nb, 256) quant ints."""
    xb = _blocks(x, 256)
    nb = xb.shape[0]
    xs = xb.reshape(nb, nsub, 256 // nsub)
    scale, mins = _sub_minmax(xs, nmax)
    d, sc = _super_scale(scale, smax)
    dmin, m = _super_scale(mins, smax)
    dl = d[:, None] * sc.astype(np.float32)
    ml = dmin[:, None] * m.astype(np.float32)
    idl = _inv(dl.reshape(-1)).reshape(nb, nsub)
    L = np.clip(_nearest((xs + ml[:, :, None]) * idl[:, :, None]), 0, nmax)
    return d, dmin, sc.astype(np.uint8), m.astype(np.uint8), L.reshape(nb, 256).astype(np.uint8)


def _kq_sym(x, nsub, qlo, qhi, slo, shi):
    """RTN quantiser with signed sub-block scales (Q3_K: q -4..3, scale -32..31; Q6_K: q -32..31,
    scale -128..127 stored as int8, clamp 127).  Returns d (f16-rounded), scale ints, quant ints."""
    xb = _blocks(x, 256)
    nb = xb.shape[0]
    n = 256 // nsub
    xs = xb.reshape(nb, nsub, n)
    amax = _signed_absmax(xs.reshape(nb * nsub, n)).reshape(nb, nsub)
    scale = (amax / _f32(qlo)).astype(np.float32)           # largest |x| maps to qlo (< 0)
    smaxv = _signed_absmax(scale)
    iscale = _inv(smaxv) * _f32(slo)                        # largest |scale| maps to slo
    sc = np.clip(_nearest(iscale[:, None] * scale), slo, shi)
    d = _hf(_inv(iscale))
    dl = d[:, None] * sc.astype(np.float32)
    idl = _inv(dl.reshape(-1)).reshape(nb, nsub)
    L = np.clip(_nearest(xs * idl[:, :, None]), qlo, qhi)
    return d, sc.astype(np.int32), L.reshape(nb, 256).astype(np.int32)


def _pack_2bit(L):
    """L (nb, 256) 0..3 -> qs (nb, 64): elem 128h + 32j + l sits in qs[32h + l] bits 2j."""
    nb = L.shape[0]
    Lr = L.reshape(nb, 2, 4, 32).astype(np.uint8)
    qs = (Lr[:, :, 0] | (Lr[:, :, 1] << 2) | (Lr[:, :, 2] << 4) | (Lr[:, :, 3] << 6))
    return qs.reshape(nb, 64)


def _unpack_2bit(qs):
    nb = qs.shape[0]
    q = (qs.reshape(nb, 2, 1, 32) >> (2 * np.arange(4, dtype=np.uint8)).reshape(1, 1, 4, 1)) & 3
    return q.reshape(nb, 256)


def _quant_q2_k(x):
    d, dmin, sc, m, L = _kq_asym(x, 16, 3, 15)
    out = np.empty((L.shape[0], 84), np.uint8)
    out[:, 0:16] = sc | (m << 4)
    out[:, 16:80] = _pack_2bit(L)
    _put_f16(out, 80, d)
    _put_f16(out, 82, dmin)
    return out


def _deq_q2_k(b):
    nb = b.shape[0]
    sc = b[:, 0:16]
    d = _f16col(b[:, 80:82])
    dmin = _f16col(b[:, 82:84])
    dl = d[:, None] * (sc & 0xF).astype(np.float32)         # (nb, 16)
    ml = dmin[:, None] * (sc >> 4).astype(np.float32)
    q = _unpack_2bit(b[:, 16:80]).astype(np.float32).reshape(nb, 16, 16)
    return (dl[:, :, None] * q - ml[:, :, None]).reshape(nb, 256)


def _quant_q3_k(x):
    d, s, L = _kq_sym(x, 16, -4, 3, -32, 31)
    nb = L.shape[0]
    Lu = (L + 4).astype(np.uint8)                            # 0..7
    out = np.zeros((nb, 110), np.uint8)
    # hmask[l] bit (4h + j) = bit 2 of elem 128h + 32j + l
    hb = (Lu >> 2).reshape(nb, 2, 4, 32).astype(np.uint8)
    shifts = np.arange(8, dtype=np.uint8).reshape(1, 2, 4, 1)
    out[:, 0:32] = (hb << shifts).sum(axis=(1, 2), dtype=np.uint8)
    out[:, 32:96] = _pack_2bit(Lu & 3)
    S = (s + 32).astype(np.uint8)                            # 0..63
    out[:, 96:104] = (S[:, 0:8] & 0xF) | ((S[:, 8:16] & 0xF) << 4)
    hi2 = ((S >> 4) & 3).reshape(nb, 4, 4)                   # [j // 4, j % 4]
    out[:, 104:108] = (hi2[:, 0] | (hi2[:, 1] << 2) | (hi2[:, 2] << 4) | (hi2[:, 3] << 6))
    _put_f16(out, 108, d)
    return out


def _q3_k_scales(sb):
    """scales[12] -> 16 signed scales (ints, already minus 32)."""
    low = np.concatenate([sb[:, 0:8] & 0xF, sb[:, 0:8] >> 4], axis=1)   # j, j+8
    j = np.arange(16)
    high = (sb[:, 8 + j % 4] >> (2 * (j // 4)).astype(np.uint8)) & 3
    return (low | (high << 4)).astype(np.int32) - 32


def _deq_q3_k(b):
    nb = b.shape[0]
    d = _f16col(b[:, 108:110])
    s = _q3_k_scales(b[:, 96:108])
    dl = d[:, None] * s.astype(np.float32)                   # (nb, 16)
    q2 = _unpack_2bit(b[:, 32:96]).reshape(nb, 2, 4, 32)
    hm = b[:, 0:32].reshape(nb, 1, 1, 32)
    hbit = (hm >> np.arange(8, dtype=np.uint8).reshape(1, 2, 4, 1)) & 1
    q = (q2.astype(np.int32) - np.where(hbit != 0, 0, 4)).astype(np.float32).reshape(nb, 16, 16)
    return (dl[:, :, None] * q).reshape(nb, 256)


def _pack_k_scales(sc, m):
    """8 six-bit scales and mins -> scales[12] (Q4_K/Q5_K)."""
    nb = sc.shape[0]
    out = np.zeros((nb, 12), np.uint8)
    out[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = m[:, 0:4] | ((m[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 0xF) | ((m[:, 4:8] & 0xF) << 4)
    return out


def _unpack_k_scales(q):
    sc = np.empty((q.shape[0], 8), np.uint8)
    m = np.empty((q.shape[0], 8), np.uint8)
    sc[:, 0:4] = q[:, 0:4] & 63
    m[:, 0:4] = q[:, 4:8] & 63
    sc[:, 4:8] = (q[:, 8:12] & 0xF) | ((q[:, 0:4] >> 6) << 4)
    m[:, 4:8] = (q[:, 8:12] >> 4) | ((q[:, 4:8] >> 6) << 4)
    return sc, m


def _pack_k_nibbles(L):
    """L (nb, 256) low 4 bits -> qs (nb, 128): chunk c: qs[32c+l] = elem 64c+l | elem 64c+32+l << 4."""
    nb = L.shape[0]
    Lr = (L & 0xF).reshape(nb, 4, 2, 32)
    return (Lr[:, :, 0] | (Lr[:, :, 1] << 4)).reshape(nb, 128)


def _unpack_k_nibbles(qs):
    nb = qs.shape[0]
    q = qs.reshape(nb, 4, 1, 32)
    return np.concatenate([q & 0xF, q >> 4], axis=2).reshape(nb, 256)


def _quant_q4_k(x):
    d, dmin, sc, m, L = _kq_asym(x, 8, 15, 63)
    out = np.empty((L.shape[0], 144), np.uint8)
    _put_f16(out, 0, d)
    _put_f16(out, 2, dmin)
    out[:, 4:16] = _pack_k_scales(sc, m)
    out[:, 16:144] = _pack_k_nibbles(L)
    return out


def _quant_q5_k(x):
    d, dmin, sc, m, L = _kq_asym(x, 8, 31, 63)
    nb = L.shape[0]
    out = np.empty((nb, 176), np.uint8)
    _put_f16(out, 0, d)
    _put_f16(out, 2, dmin)
    out[:, 4:16] = _pack_k_scales(sc, m)
    hb = (L >> 4).reshape(nb, 8, 32)                          # elem 32s + l -> qh[l] bit s
    out[:, 16:48] = (hb << np.arange(8, dtype=np.uint8).reshape(1, 8, 1)).sum(axis=1, dtype=np.uint8)
    out[:, 48:176] = _pack_k_nibbles(L)
    return out


def _deq_k_asym(b, qs_off, qh_off):
    nb = b.shape[0]
    d = _f16col(b[:, 0:2])
    dmin = _f16col(b[:, 2:4])
    sc, m = _unpack_k_scales(b[:, 4:16])
    dl = d[:, None] * sc.astype(np.float32)                  # (nb, 8)
    ml = dmin[:, None] * m.astype(np.float32)
    q = _unpack_k_nibbles(b[:, qs_off:qs_off + 128]).reshape(nb, 8, 32)
    if qh_off is not None:
        qh = b[:, qh_off:qh_off + 32].reshape(nb, 1, 32)
        q = q | (((qh >> np.arange(8, dtype=np.uint8).reshape(1, 8, 1)) & 1) << 4)
    return (dl[:, :, None] * q.astype(np.float32) - ml[:, :, None]).reshape(nb, 256)


def _deq_q4_k(b):
    return _deq_k_asym(b, 16, None)


def _deq_q5_k(b):
    return _deq_k_asym(b, 48, 16)


def _quant_q6_k(x):
    d, sc, L = _kq_sym(x, 16, -32, 31, -128, 127)
    nb = L.shape[0]
    Lu = (L + 32).astype(np.uint8).reshape(nb, 2, 4, 32)      # [h, k, l]: elem 128h + 32k + l
    out = np.empty((nb, 210), np.uint8)
    lo = Lu & 0xF
    ql = np.concatenate([lo[:, :, 0] | (lo[:, :, 2] << 4), lo[:, :, 1] | (lo[:, :, 3] << 4)], axis=2)
    out[:, 0:128] = ql.reshape(nb, 128)
    hi = Lu >> 4
    out[:, 128:192] = (hi[:, :, 0] | (hi[:, :, 1] << 2) | (hi[:, :, 2] << 4) | (hi[:, :, 3] << 6)).reshape(nb, 64)
    out[:, 192:208] = sc.astype(np.int8).view(np.uint8)
    _put_f16(out, 208, d)
    return out


def _deq_q6_k(b):
    nb = b.shape[0]
    ql = b[:, 0:128].reshape(nb, 2, 2, 32)                     # [h, half of 64, l]
    qh = b[:, 128:192].reshape(nb, 2, 1, 32)
    sc = b[:, 192:208].view(np.int8).astype(np.float32)        # (nb, 16)
    d = _f16col(b[:, 208:210])
    lo = np.stack([ql[:, :, 0] & 0xF, ql[:, :, 1] & 0xF, ql[:, :, 0] >> 4, ql[:, :, 1] >> 4], axis=2)
    hi = (qh >> (2 * np.arange(4, dtype=np.uint8)).reshape(1, 1, 4, 1)) & 3
    q = ((lo | (hi << 4)).astype(np.int32) - 32).astype(np.float32).reshape(nb, 16, 16)
    dl = d[:, None] * sc
    return (dl[:, :, None] * q).reshape(nb, 256)


def _quant_q8_k(x):
    xb = _blocks(x, 256)
    nb = xb.shape[0]
    mx = _signed_absmax(xb)
    with np.errstate(divide="ignore"):
        iscale = np.where(mx != 0, _f32(-127) / np.where(mx != 0, mx, _f32(1)), _f32(0)).astype(np.float32)
    q = np.minimum(_nearest(xb * iscale[:, None]), 127).astype(np.int8)
    d = _inv(iscale)
    out = np.empty((nb, 292), np.uint8)
    out[:, 0:4] = d.astype("<f4").view(np.uint8).reshape(nb, 4)
    out[:, 4:260] = q.view(np.uint8)
    bs = q.astype(np.int16).reshape(nb, 16, 16).sum(axis=2, dtype=np.int16)
    out[:, 260:292] = bs.astype("<i2").view(np.uint8).reshape(nb, 32)
    return out


def _deq_q8_k(b):
    d = np.ascontiguousarray(b[:, 0:4]).view("<f4").reshape(-1)
    return b[:, 4:260].view(np.int8).astype(np.float32) * d[:, None]


# ---------------------------------------------------------------- float formats

def bf16_from_f32(x):
    """f32 -> bf16 bits (uint16): round to nearest even; NaN forced quiet."""
    u = np.asarray(x, dtype=np.float32).reshape(-1).view(np.uint32)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = ((u + (0x7FFF + ((u >> 16) & 1))) >> 16).astype(np.uint16)
    r = np.where(nan, ((u >> 16) | 64).astype(np.uint16), r)
    return r.astype("<u2")


_QUANT = {
    Q4_0: _quant_q4_0, Q4_1: _quant_q4_1, Q5_0: _quant_q5_0, Q5_1: _quant_q5_1,
    Q8_0: _quant_q8_0, Q8_1: _quant_q8_1, Q2_K: _quant_q2_k, Q3_K: _quant_q3_k,
    Q4_K: _quant_q4_k, Q5_K: _quant_q5_k, Q6_K: _quant_q6_k, Q8_K: _quant_q8_k,
}
_DEQ = {
    Q4_0: _deq_q4_0, Q4_1: _deq_q4_1, Q5_0: _deq_q5_0, Q5_1: _deq_q5_1, Q8_0: _deq_q8_0,
    Q8_1: _deq_q8_1, Q2_K: _deq_q2_k, Q3_K: _deq_q3_k, Q4_K: _deq_q4_k, Q5_K: _deq_q5_k,
    Q6_K: _deq_q6_k, Q8_K: _deq_q8_k,
}


def _type_id(t):
    if isinstance(t, str):
        return BY_NAME[t.upper()]
    if t not in BLOCK:
        raise ValueError("unsupported ggml type %r" % (t,))
    return t


def quantize(x, t):
    """Encode float data as ggml type t; returns a flat np.uint8 array (blocks back to back)."""
    t = _type_id(t)
    if t == F32:
        return np.ascontiguousarray(np.asarray(x, dtype="<f4").reshape(-1)).view(np.uint8)
    if t == F16:
        return np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(-1).astype("<f2")).view(np.uint8)
    if t == BF16:
        return bf16_from_f32(x).view(np.uint8)
    return _QUANT[t](x).reshape(-1)


def dequantize(raw, t, n=None):
    """Decode n elements (default: all) of ggml type t from raw bytes into a float32 array."""
    t = _type_id(t)
    _, blck, nbytes = BLOCK[t]
    buf = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) else raw.reshape(-1).view(np.uint8)
    if n is None:
        n = buf.size // nbytes * blck
    if n % blck:
        raise ValueError("%d elements is not a multiple of the block size %d" % (n, blck))
    need = n // blck * nbytes
    if buf.size < need:
        raise ValueError("%d bytes given, %d elements of %s need %d" % (buf.size, n, BLOCK[t][0], need))
    buf = buf[:need]
    if t == F32:
        return buf.view("<f4").astype(np.float32)
    if t == F16:
        return buf.view("<f2").astype(np.float32)
    if t == BF16:
        return (buf.view("<u2").astype(np.uint32) << 16).view(np.float32)
    return _DEQ[t](buf.reshape(-1, nbytes)).astype(np.float32, copy=False).reshape(-1)


def dequantize_rows(raw, t, ne0, rows):
    """Dequantise selected rows (indices) of a 2-D tensor with row length ne0."""
    t = _type_id(t)
    rs = ne0 // BLOCK[t][1] * BLOCK[t][2]
    buf = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) else raw.view(np.uint8)
    rows = np.asarray(rows, dtype=np.int64)
    sel = buf[: buf.size // rs * rs].reshape(-1, rs)[rows]
    return dequantize(sel.reshape(-1), t, ne0 * len(rows)).reshape(len(rows), ne0)


def _main(argv):
    """quants.py dequant FILE.gguf TENSOR OUT.f32  |  quants.py quant TYPE IN.f32 OUT.bin
    Raw little-endian float32 in/out, for checking C kernels against this module."""
    import sys
    if len(argv) == 5 and argv[1] == "dequant":
        import gguf
        _, tensors = gguf.read_gguf(argv[2])
        if argv[3] not in tensors:
            print("no tensor %s" % argv[3], file=sys.stderr)
            return 1
        t, ne, raw = tensors[argv[3]]
        n = 1
        for d in ne:
            n *= d
        dequantize(raw, t, n).astype("<f4").tofile(argv[4])
        return 0
    if len(argv) == 5 and argv[1] == "quant":
        x = np.fromfile(argv[3], dtype="<f4")
        quantize(x, argv[2]).tofile(argv[4])
        return 0
    print(_main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    import os
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(_main(sys.argv))
