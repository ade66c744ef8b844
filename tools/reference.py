#!/usr/bin/python3
"""Reference forward pass for llama-architecture GGUFs: the numerical specification that the C
engine is tested against (numpy only).

    reference.py MODEL.gguf (--tokens 1,2,3 | --tokens-file F) [--all-logits]
                 [--out FILE.npy|FILE.txt|FILE.bin] [--print-top K] [--kv-f16] [--f64]
                 [--pos0 P | --positions P1,P2,...] [--act-q8]
    reference.py MODEL.gguf --tokens-file F --perplexity N_CTX [--kv-f16] [--act-q8] [--f64]

Teacher forcing: all given tokens are evaluated in one pass with a causal mask, which is the
same computation as feeding them one at a time through a KV cache.  Logits of the last token
are written (every token with --all-logits): .npy (numpy), .txt (one row per token, %.9g) or
anything else as raw little-endian float32, rows of n_vocab.  --print-top K prints the K best
tokens per row as "row I: id:logit ..." (I = token index; default when there is no --out:
top 5 of each written row).

Importable:
    model = load(path)                      hyperparameters in model.hp, weights dequantised
                                            lazily (cached when the model is small)
    logits = forward(model, tokens, kv_f16=False, f64=False, pos0=0, positions=None,
                     act_q8=False)
                                            -> (n_tokens, n_vocab); positions (one per token)
                                            replaces pos0.. for context-shift / gap checks

What is computed (facts sections 1.4, 1.5, 4; ggml's CPU arithmetic where it matters):
    x = dequantised rows of token_embd for the tokens
    per layer:  h = rmsnorm(x) * attn_norm
                q = h Wq, k = h Wk, v = h Wv       (W: {n_in, n_out} -> y = x @ W_rows.T)
                q, k: RoPE NORM mode, adjacent pairs (x[2i], x[2i+1]) of each head rotated by
                      theta = freq_scale * p * freq_base^(-2i/n_rot), p = pos0 + index;
                      x0' = x0 cos - x1 sin, x1' = x0 sin + x1 cos
                kv_f16: k (after RoPE) and v rounded to float16, as an F16 KV cache stores them
                head j attends with kv head j // (n_head / n_head_kv) (GQA; MHA when equal):
                      softmax(q k^T / sqrt(head_dim) + causal mask) v
                x = x + attn Wo
                h = rmsnorm(x) * ffn_norm
                x = x + (silu(h Wgate) * (h Wup)) Wdown,   silu(g) = g / (1 + exp(-g))
    logits = (rmsnorm(x) * output_norm) Wout   (Wout = token_embd when output.weight is absent)
    rmsnorm(x) = x * (1 / sqrt(mean + eps)), mean = float(sum_f64(float(x*x)) / n_embd): the
    squares are float32, summed in float64, as ggml does.
    Precision: float32 activations and matmuls (numpy/BLAS accumulation order) by default;
    --f64 does everything in float64 (weights still the exact float32 dequantised values).
    --act-q8 emulates seekd's 8-bit activations (engine/kernels.c act_block): the input rows of
    every matmul with a quantised weight are cut into blocks (32 values for Q4_0/Q4_1/Q5_0/Q5_1/
    Q8_0 weights, 256 for the K-quants), and each block becomes q*d with amax = max|x|,
    d = amax/127, q = rint(x * (127/amax)) (float32, round half to even; 0 when amax = 0).
    F32/F16/BF16 weights take float32 activations as they are.  With it, the C engine and
    this reference differ only by summation order.
    freq_scale = 1 / llama.rope.scaling.factor (fallback llama.rope.scale_linear; 0 or missing
    = 1; forced to 1 when llama.rope.scaling.type is "none"; yarn/longrope are refused).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402
import quants as Q  # noqa: E402


class RefError(Exception):
    pass


def _scalar_or_uniform(kv, key, n_layer, default=None):
    if key not in kv:
        if default is None:
            raise RefError("missing %s" % key)
        return default
    v = kv[key]
    if isinstance(v, list):
        if len(v) != n_layer or len(set(v)) != 1:
            raise RefError("%s: per-layer values that differ are not supported" % key)
        v = v[0]
    return v


def read_hparams(kv, tensors):
    arch = kv.get("general.architecture")
    if arch != "llama":
        raise RefError("general.architecture is %r, not 'llama'" % (arch,))
    p = "llama."
    n_layer = int(kv[p + "block_count"])
    E = int(kv[p + "embedding_length"])
    H = int(_scalar_or_uniform(kv, p + "attention.head_count", n_layer))
    HKV = int(_scalar_or_uniform(kv, p + "attention.head_count_kv", n_layer, H))
    F = int(_scalar_or_uniform(kv, p + "feed_forward_length", n_layer))
    if H <= 0 or E % H or HKV <= 0 or H % HKV:
        raise RefError("bad head counts n_embd=%d n_head=%d n_head_kv=%d" % (E, H, HKV))
    hd = E // H
    for key in ("attention.key_length", "attention.value_length"):
        if p + key in kv and int(kv[p + key]) != hd:
            raise RefError("%s != n_embd/n_head is not supported" % key)
    n_rot = int(kv.get(p + "rope.dimension_count", hd))
    if n_rot != hd:
        raise RefError("invalid n_rot %d (must equal head dim %d)" % (n_rot, hd))
    if p + "attention.layer_norm_rms_epsilon" not in kv:
        raise RefError("missing llama.attention.layer_norm_rms_epsilon")
    eps = float(np.float32(kv[p + "attention.layer_norm_rms_epsilon"]))
    base = float(np.float32(kv.get(p + "rope.freq_base", 10000.0)))
    stype = kv.get(p + "rope.scaling.type", "linear")
    if stype not in ("none", "linear"):
        raise RefError("rope scaling type %r not supported" % stype)
    factor = kv.get(p + "rope.scaling.factor", kv.get(p + "rope.scale_linear", 0.0))
    factor = float(np.float32(factor))
    freq_scale = 1.0 if (stype == "none" or factor == 0.0) else float(np.float32(1.0) / np.float32(factor))
    if "token_embd.weight" not in tensors:
        raise RefError("missing token_embd.weight")
    n_vocab = tensors["token_embd.weight"][1][1]
    return dict(n_layer=n_layer, n_embd=E, n_head=H, n_head_kv=HKV, head_dim=hd, n_ff=F,
                n_vocab=n_vocab, n_rot=n_rot, eps=eps, rope_base=base, freq_scale=freq_scale,
                tied="output.weight" not in tensors)


class Model:
    def __init__(self, path, cache=None):
        self.path = path
        self.kv, self.tensors = gguf.read_gguf(path)
        self.hp = read_hparams(self.kv, self.tensors)
        hp = self.hp
        E, F, V, hd = hp["n_embd"], hp["n_ff"], hp["n_vocab"], hp["head_dim"]
        kvd = hd * hp["n_head_kv"]
        want = {"token_embd.weight": (E, V), "output_norm.weight": (E,)}
        if not hp["tied"]:
            want["output.weight"] = (E, V)
        for i in range(hp["n_layer"]):
            b = "blk.%d." % i
            want.update({b + "attn_norm.weight": (E,), b + "attn_q.weight": (E, E),
                         b + "attn_k.weight": (E, kvd), b + "attn_v.weight": (E, kvd),
                         b + "attn_output.weight": (E, E), b + "ffn_norm.weight": (E,),
                         b + "ffn_gate.weight": (E, F), b + "ffn_up.weight": (E, F),
                         b + "ffn_down.weight": (F, E)})
        for name, ne in want.items():
            if name not in self.tensors:
                raise RefError("missing tensor %s" % name)
            t, have, _ = self.tensors[name]
            have = tuple(have[:len(ne)]) if all(d == 1 for d in have[len(ne):]) else have
            if tuple(have) != ne:
                raise RefError("tensor %s has shape %r, expected %r" % (name, have, ne))
            if t not in Q.BLOCK or t in (Q.Q8_1, Q.Q8_K):
                raise RefError("tensor %s: type %s not supported" % (name, gguf.type_name(t)))
        total = sum(int(np.prod(ne)) for ne in want.values())
        self.cache = (total * 4 <= (1 << 30)) if cache is None else cache
        self._w = {}

    def weight(self, name):
        """Dequantised weight as float32 (ne1, ne0) rows (1-D tensors: (ne0,))."""
        if name in self._w:
            return self._w[name]
        t, ne, raw = self.tensors[name]
        n = int(np.prod(ne))
        if len(ne) == 1:
            a = Q.dequantize(raw, t, n)
        else:
            # a few rows at a time: the vectorised decoders make several temporaries of their
            # input's size, which for a 7B's output matrix would be gigabytes
            rows = n // ne[0]
            a = np.empty((rows, ne[0]), np.float32)
            rs = len(raw) // rows
            step = max(1, (1 << 22) // ne[0])
            for r0 in range(0, rows, step):
                r1 = min(rows, r0 + step)
                a[r0:r1] = Q.dequantize(raw[r0 * rs:r1 * rs], t, (r1 - r0) * ne[0]).reshape(r1 - r0, ne[0])
        if self.cache:
            self._w[name] = a
        return a

    def embed(self, tokens):
        t, ne, raw = self.tensors["token_embd.weight"]
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.size and (tokens.min() < 0 or tokens.max() >= ne[1]):
            raise RefError("token id out of range [0, %d)" % ne[1])
        if "token_embd.weight" in self._w:
            return self._w["token_embd.weight"][tokens]
        return Q.dequantize_rows(raw, t, ne[0], tokens)


def load(path, cache=None):
    return Model(path, cache)


def rmsnorm(x, w, eps, f64=False):
    if f64:
        ss = np.sum(x * x, axis=-1, keepdims=True)
        return x * (1.0 / np.sqrt(ss / x.shape[-1] + eps)) * w
    ss = np.sum((x * x).astype(np.float64), axis=-1, keepdims=True)
    mean = (ss / x.shape[-1]).astype(np.float32)
    scale = np.float32(1) / np.sqrt(mean + np.float32(eps))
    return (x * scale) * w


def rope_tables(n_pos, pos0, n_rot, base, freq_scale, dtype, positions=None):
    """cos, sin of shape (n_pos, n_rot/2) for positions pos0.. (or the given positions)."""
    i = np.arange(n_rot // 2, dtype=np.float64)
    if positions is None:
        p = np.arange(pos0, pos0 + n_pos, dtype=np.float64)
    else:
        p = np.asarray(positions, dtype=np.float64).reshape(-1)
    theta = freq_scale * p[:, None] * np.power(float(base), -2.0 * i / n_rot)[None, :]
    return np.cos(theta).astype(dtype), np.sin(theta).astype(dtype)


def rope(x, cos, sin):
    """x (n, heads, hd): rotate adjacent pairs (x[2i], x[2i+1]) of every head."""
    x0 = x[..., 0::2]
    x1 = x[..., 1::2]
    c = cos[:, None, :]
    s = sin[:, None, :]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


_ACT_BLOCK = {Q.Q4_0: 32, Q.Q4_1: 32, Q.Q5_0: 32, Q.Q5_1: 32, Q.Q8_0: 32,
              Q.Q2_K: 256, Q.Q3_K: 256, Q.Q4_K: 256, Q.Q5_K: 256, Q.Q6_K: 256}


def quantize_act(x, blk):
    """seekd's activation quantisation, quantised and dequantised again (float32 result)."""
    x32 = np.asarray(x, dtype=np.float32)
    xb = x32.reshape(x32.shape[0], -1, blk)
    amax = np.abs(xb).max(axis=-1, keepdims=True)
    d = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        idd = np.where(amax != 0, np.float32(127) / np.where(amax != 0, amax, np.float32(1)), np.float32(0))
    q = np.rint(xb * idd.astype(np.float32))
    return (q * d).astype(np.float32).reshape(x32.shape)


act_q8 = quantize_act   # the name the self-test uses


def forward(model, tokens, kv_f16=False, f64=False, pos0=0, positions=None, act_q8=False):
    """Logits (n_tokens, n_vocab) for teacher-forced tokens at positions pos0, pos0+1, ...
    (or at `positions`, one per token; attention stays causal in token order)."""
    hp = model.hp
    dt = np.float64 if f64 else np.float32
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
    n = tokens.size
    if n == 0:
        return np.zeros((0, hp["n_vocab"]), dt)
    E, H, HKV, hd = hp["n_embd"], hp["n_head"], hp["n_head_kv"], hp["head_dim"]
    grp = H // HKV
    eps = hp["eps"]

    def W(name):
        return model.weight(name).astype(dt, copy=False)

    def mm(x, name):
        t = model.tensors[name][0]
        if act_q8 and t in _ACT_BLOCK:
            x = quantize_act(x, _ACT_BLOCK[t]).astype(dt)
        return x @ W(name).T

    x = model.embed(tokens).astype(dt)
    if positions is not None and len(positions) != n:
        raise RefError("%d positions for %d tokens" % (len(positions), n))
    cos, sin = rope_tables(n, pos0, hp["n_rot"], hp["rope_base"], hp["freq_scale"], dt, positions)
    scale = dt(1.0 / np.sqrt(hd))
    mask = np.triu(np.full((n, n), -np.inf, dtype=dt), k=1)
    for i in range(hp["n_layer"]):
        b = "blk.%d." % i
        h = rmsnorm(x, W(b + "attn_norm.weight"), eps, f64)
        q = mm(h, b + "attn_q.weight").reshape(n, H, hd)
        k = mm(h, b + "attn_k.weight").reshape(n, HKV, hd)
        v = mm(h, b + "attn_v.weight").reshape(n, HKV, hd)
        q = rope(q, cos, sin)
        k = rope(k, cos, sin)
        if kv_f16:
            # f32 -> f16 as the C engine stores them (no double rounding from float64)
            k = k.astype(np.float32).astype(np.float16).astype(dt)
            v = v.astype(np.float32).astype(np.float16).astype(dt)
        qh = q.transpose(1, 0, 2)                             # (H, n, hd)
        kh = np.repeat(k.transpose(1, 0, 2), grp, axis=0)      # head j uses kv head j // grp
        vh = np.repeat(v.transpose(1, 0, 2), grp, axis=0)
        s = (qh @ kh.transpose(0, 2, 1)) * scale + mask       # (H, n, n)
        s = s - s.max(axis=-1, keepdims=True)
        e = np.exp(s)
        p = e / e.sum(axis=-1, keepdims=True)
        att = (p @ vh).transpose(1, 0, 2).reshape(n, E)
        x = x + mm(att, b + "attn_output.weight")
        h = rmsnorm(x, W(b + "ffn_norm.weight"), eps, f64)
        g = mm(h, b + "ffn_gate.weight")
        u = mm(h, b + "ffn_up.weight")
        act = (g / (dt(1) + np.exp(-g))) * u
        x = x + mm(act, b + "ffn_down.weight")
    h = rmsnorm(x, W("output_norm.weight"), eps, f64)
    return mm(h, "token_embd.weight" if hp["tied"] else "output.weight")


def perplexity(model, tokens, n_ctx, **kw):
    """llama.cpp's perplexity (facts section 7) over already-tokenized ids (BOS included as
    the tokenizer would add it).  Chunks of n_ctx tokens, each evaluated from an empty cache at
    positions 0..n_ctx-1 with its first token replaced by BOS when tokenizer.ggml.add_bos_token
    is true (the default); logits at first = n_ctx/2 .. n_ctx-2 score the next token, nll summed
    in float64.  Returns (ppl, [running ppl after each chunk]).  kw go to forward()."""
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
    if n_ctx < 4 or tokens.size < 2 * n_ctx:
        raise RefError("perplexity needs at least 2*n_ctx = %d tokens (have %d)" % (2 * n_ctx, tokens.size))
    add_bos = bool(model.kv.get("tokenizer.ggml.add_bos_token", True))
    bos = model.kv.get("tokenizer.ggml.bos_token_id")
    if add_bos and bos is None:
        raise RefError("add_bos_token is set but tokenizer.ggml.bos_token_id is missing")
    first = n_ctx // 2
    nll, count, running = 0.0, 0, []
    for c in range(tokens.size // n_ctx):
        chunk = tokens[c * n_ctx:(c + 1) * n_ctx].copy()
        if add_bos:
            chunk[0] = bos
        lg = forward(model, chunk, **kw).astype(np.float64)
        rows = lg[first:n_ctx - 1]
        mx = rows.max(axis=1, keepdims=True)
        lse = mx[:, 0] + np.log(np.exp(rows - mx).sum(axis=1))
        nll += float(np.sum(lse - rows[np.arange(rows.shape[0]), chunk[first + 1:n_ctx]]))
        count += rows.shape[0]
        running.append(float(np.exp(nll / count)))
    return running[-1], running


def _parse_tokens(s):
    return [int(t) for t in s.replace(",", " ").split()]


def main(argv=None):
    ap = argparse.ArgumentParser(description="numpy reference forward pass for llama GGUFs")
    ap.add_argument("model")
    ap.add_argument("--tokens", help="comma-separated token ids")
    ap.add_argument("--tokens-file", help="file of token ids (commas or whitespace)")
    ap.add_argument("--all-logits", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--print-top", type=int)
    ap.add_argument("--kv-f16", action="store_true")
    ap.add_argument("--f64", action="store_true")
    ap.add_argument("--act-q8", action="store_true", help="emulate seekd's 8-bit activations")
    ap.add_argument("--perplexity", type=int, metavar="N_CTX",
                    help="print llama.cpp-style perplexity of the tokens with windows of N_CTX")
    ap.add_argument("--pos0", type=int, default=0)
    ap.add_argument("--positions", help="comma-separated position per token (instead of --pos0)")
    a = ap.parse_args(argv)
    if a.tokens is not None:
        tokens = _parse_tokens(a.tokens)
    elif a.tokens_file:
        with open(a.tokens_file) as f:
            tokens = _parse_tokens(f.read())
    else:
        ap.error("give --tokens or --tokens-file")
    if not tokens:
        ap.error("no tokens")
    try:
        model = load(a.model)
        if a.perplexity:
            ppl, running = perplexity(model, tokens, a.perplexity, kv_f16=a.kv_f16, f64=a.f64,
                                      act_q8=a.act_q8)
            print(" ".join("[%d]%.4f" % (i + 1, v) for i, v in enumerate(running)))
            print("PPL = %.6f" % ppl)
            return 0
        positions = _parse_tokens(a.positions) if a.positions else None
        logits = forward(model, tokens, kv_f16=a.kv_f16, f64=a.f64, pos0=a.pos0, positions=positions,
                         act_q8=a.act_q8)
    except (RefError, gguf.GGUFError) as e:
        print("reference.py: %s" % e, file=sys.stderr)
        return 1
    rows = logits if a.all_logits else logits[-1:]
    if a.out:
        if a.out.endswith(".npy"):
            np.save(a.out, rows if a.all_logits else rows[0])
        elif a.out.endswith(".txt"):
            np.savetxt(a.out, rows, fmt="%.9g")
        else:
            rows.astype("<f4").tofile(a.out)
    k = a.print_top if a.print_top is not None else (0 if a.out else 5)
    if k > 0:
        first = len(tokens) - len(rows)
        for r, row in enumerate(rows):
            top = np.argsort(-row, kind="stable")[:k]
            print("row %d: " % (first + r) + " ".join("%d:%.6f" % (t, row[t]) for t in top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
