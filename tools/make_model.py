#!/usr/bin/python3
"""Write a random-weight llama-architecture GGUF (DeepSeek shapes or any shape, any type mix).

    make_model.py OUT.gguf [--preset tiny|coder-1.3b|coder-6.7b|coder-33b|llm-7b|llm-67b]
        [--n-embd N --n-layer N --n-head N --n-head-kv N --n-ff N --n-vocab N --ctx N]
        [--type F32|F16|BF16|Q4_0|Q4_1|Q5_0|Q5_1|Q8_0|Q2_K|Q3_K_S|Q3_K_M|Q3_K_L|Q4_K_S|Q4_K_M|
                Q5_K_S|Q5_K_M|Q6_K] [--pure] [--tensor-type NAME=TYPE ...]
        [--vocab VOCAB.gguf] [--rope-base B] [--rope-scale FACTOR] [--old-keys] [--tied]
        [--seed S] [--eps E] [--init-scale S] [--normal] [--name NAME]

Type mix (--type = llama ftype), as llama.cpp's llama_tensor_get_type picks it (facts 2.3):
  * 1-D tensors (norms) are F32; every 2-D weight gets the ftype's default type, except
  * output.weight: Q6_K for every quantised ftype other than Q8_0 (F16/BF16/F32 keep theirs);
  * Q4_K_M / Q5_K_M: attn_v and ffn_down become Q6_K in layers where
    use_more_bits(i, n) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2;
  * a K-quant chosen for a tensor whose ne0 is not a multiple of 256 falls back:
    Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> IQ4_NL in llama.cpp, which seekd does
    not read, so Q4_0 here (a warning says so); then F16 if ne0 is still not a multiple of the
    block size.
  Not modelled (llama.cpp mixes more for them): Q2_K, Q3_K_*, Q4_K_S, Q5_K_S get the default
  type everywhere but output.  --pure: every 2-D weight gets the default type, output too.
  --tensor-type NAME=TYPE forces one tensor (exact name) to a ggml type.

Weights: uniform random with std = init_scale / sqrt(ne0) (ne0 = fan-in, so every projection
keeps unit-variance activations and logits have std ~ init_scale), norm weights 1 + U(+-0.2).
--normal draws Gaussian weights instead (5x slower to generate).  Each tensor has its own
seeded stream (seed, tensor name), so a tensor's values do not depend on the other tensors.
Tensors are generated, quantised and written a chunk at a time (about 1M elements), so memory
stays small whatever the model size.

Metadata: general.architecture/name/file_type/quantization_version, llama.* hyperparameters,
rope (llama.rope.freq_base; llama.rope.scaling.type=linear + .factor when --rope-scale != 1, or
with --old-keys the 2023 key llama.rope.scale_linear and no tokenizer.ggml.pre), and the
tokenizer: all tokenizer.* keys of --vocab (types kept), else a synthetic byte-level BPE vocab
(256 byte tokens in GPT-2 byte-to-unicode order, generated merges, then BOS, EOS and the three
DeepSeek FIM tokens as the last five ids).

Importable: make(path, preset="tiny", **overrides) -> config dict; FTYPES; tensor_plan(cfg).
  overrides use the option names with underscores (type="Q4_K_M", n_layer=3, tied=True,
  rope_scale=4.0, vocab=PATH, tensor_types={"blk.0.attn_q.weight": "Q4_0"}, ...).

Cost (one core, measured on the shared 2-core box): coder-1.3b Q4_0 or Q4_K_M ~17-20 s CPU
(0.78 / 0.87 GB); llm-7b Q4_0 78 s CPU, 125 s wall under load (4.0 GB); peak RSS ~90 MB.
"""
import argparse
import os
import sys
import time
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402
import quants as Q  # noqa: E402

PRESETS = {
    # n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, ctx, rope base, rope scale factor
    "tiny": dict(n_embd=256, n_layer=2, n_head=4, n_head_kv=2, n_ff=768, n_vocab=512, ctx=4096,
                 rope_base=10000.0, rope_scale=1.0),
    "coder-1.3b": dict(n_embd=2048, n_layer=24, n_head=16, n_head_kv=16, n_ff=5504, n_vocab=32256,
                       ctx=16384, rope_base=100000.0, rope_scale=4.0),
    "coder-6.7b": dict(n_embd=4096, n_layer=32, n_head=32, n_head_kv=32, n_ff=11008, n_vocab=32256,
                       ctx=16384, rope_base=100000.0, rope_scale=4.0),
    "coder-33b": dict(n_embd=7168, n_layer=62, n_head=56, n_head_kv=8, n_ff=19200, n_vocab=32256,
                      ctx=16384, rope_base=100000.0, rope_scale=4.0),
    "llm-7b": dict(n_embd=4096, n_layer=30, n_head=32, n_head_kv=32, n_ff=11008, n_vocab=102400,
                   ctx=4096, rope_base=10000.0, rope_scale=1.0),
    "llm-67b": dict(n_embd=8192, n_layer=95, n_head=64, n_head_kv=8, n_ff=22016, n_vocab=102400,
                    ctx=4096, rope_base=10000.0, rope_scale=1.0),
}

# llama ftype name -> (general.file_type id, default ggml type)
FTYPES = {
    "F32": (0, Q.F32), "F16": (1, Q.F16), "Q4_0": (2, Q.Q4_0), "Q4_1": (3, Q.Q4_1),
    "Q8_0": (7, Q.Q8_0), "Q5_0": (8, Q.Q5_0), "Q5_1": (9, Q.Q5_1), "Q2_K": (10, Q.Q2_K),
    "Q3_K_S": (11, Q.Q3_K), "Q3_K_M": (12, Q.Q3_K), "Q3_K_L": (13, Q.Q3_K),
    "Q4_K_S": (14, Q.Q4_K), "Q4_K_M": (15, Q.Q4_K), "Q5_K_S": (16, Q.Q5_K),
    "Q5_K_M": (17, Q.Q5_K), "Q6_K": (18, Q.Q6_K), "BF16": (32, Q.BF16),
}
_FLOAT_TYPES = (Q.F32, Q.F16, Q.BF16)

BOS_TEXT = "<｜begin▁of▁sentence｜>"
EOS_TEXT = "<｜end▁of▁sentence｜>"
FIM_TEXTS = ("<｜fim▁hole｜>", "<｜fim▁begin｜>", "<｜fim▁end｜>")

CHUNK = 1 << 20   # elements generated/quantised at a time


def use_more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def pick_type(name, ftype, ne, layer, n_layer, pure=False, warn=None):
    """ggml type of tensor `name` with ggml shape ne in a file of llama ftype `ftype`."""
    if len(ne) < 2 or not name.endswith("weight"):
        return Q.F32
    _, t = FTYPES[ftype]
    if t in _FLOAT_TYPES:
        return t
    if not pure:
        if name == "output.weight":
            if ftype != "Q8_0":
                t = Q.Q6_K
        elif ftype in ("Q4_K_M", "Q5_K_M") and layer is not None and \
                (name.endswith("attn_v.weight") or name.endswith("ffn_down.weight")):
            if use_more_bits(layer, n_layer):
                t = Q.Q6_K
    if t in (Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K) and ne[0] % 256:
        fb = {Q.Q4_K: Q.Q5_0, Q.Q5_K: Q.Q5_1, Q.Q6_K: Q.Q8_0}.get(t)
        if fb is None:
            fb = Q.Q4_0
            if warn:
                warn("%s: ne0=%d: llama.cpp would use IQ4_NL here; writing Q4_0" % (name, ne[0]))
        t = fb
    if ne[0] % Q.BLOCK[t][1]:
        t = Q.F16
    return t


def tensor_plan(cfg, warn=None):
    """[(name, ne, ggml type, layer or None, kind)] in file order."""
    E, F, V = cfg["n_embd"], cfg["n_ff"], cfg["n_vocab"]
    hd = E // cfg["n_head"]
    kvd = hd * cfg["n_head_kv"]
    L = cfg["n_layer"]
    plan = [("token_embd.weight", (E, V), None, "embd")]
    for i in range(L):
        p = "blk.%d." % i
        plan += [
            (p + "attn_norm.weight", (E,), i, "norm"),
            (p + "attn_q.weight", (E, E), i, "w"),
            (p + "attn_k.weight", (E, kvd), i, "w"),
            (p + "attn_v.weight", (E, kvd), i, "w"),
            (p + "attn_output.weight", (E, E), i, "w"),
            (p + "ffn_norm.weight", (E,), i, "norm"),
            (p + "ffn_gate.weight", (E, F), i, "w"),
            (p + "ffn_up.weight", (E, F), i, "w"),
            (p + "ffn_down.weight", (F, E), i, "w"),
        ]
    plan.append(("output_norm.weight", (E,), None, "norm"))
    if not cfg.get("tied"):
        plan.append(("output.weight", (E, V), None, "w"))
    out = []
    overrides = cfg.get("tensor_types") or {}
    for name, ne, layer, kind in plan:
        if name in overrides:
            t = overrides[name]
        else:
            t = pick_type(name, cfg["type"], ne, layer, L, cfg.get("pure", False), warn)
        out.append((name, ne, t, layer, kind))
    return out


def _bytes_to_unicode():
    """GPT-2's byte -> printable character map, in its order (printable bytes first)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def synthetic_vocab(n_vocab):
    """tokens, token types, merges, bos id, eos id for a byte-level BPE vocab of n_vocab tokens."""
    specials = [BOS_TEXT, EOS_TEXT] + list(FIM_TEXTS)
    n_normal = n_vocab - len(specials)
    if n_normal < 256:
        raise SystemExit("a synthetic vocab needs at least %d tokens" % (256 + len(specials)))
    base = _bytes_to_unicode()
    tokens = list(base)
    have = set(tokens)
    merges = []
    # frequent characters first so the merged tokens look like text: space (Ġ), newline (Ċ),
    # lower-case letters, then everything else
    order = ["Ġ", "Ċ", "ĉ"] + list("etaoinsrhldcumfpgwybvkxjqz_(){}.,:;=") + base
    seen = set()
    pref = [c for c in order if not (c in seen or seen.add(c))]
    level = pref
    while len(tokens) < n_normal:
        nxt = []
        for a in level:
            for b in pref:
                t = a + b
                if t in have:
                    continue
                tokens.append(t)
                have.add(t)
                merges.append(a + " " + b)
                nxt.append(t)
                if len(tokens) == n_normal:
                    break
            if len(tokens) == n_normal:
                break
        level = nxt
    types = [1] * n_normal + [3, 3, 4, 4, 4]
    return tokens + specials, types, merges, n_normal, n_normal + 1


def _config(preset, args):
    cfg = dict(PRESETS[preset]) if preset else {}
    for k in ("n_embd", "n_layer", "n_head", "n_head_kv", "n_ff", "n_vocab", "ctx",
              "rope_base", "rope_scale"):
        v = args.get(k)
        if v is not None:
            cfg[k] = v
    if "n_head_kv" not in cfg and "n_head" in cfg:
        cfg["n_head_kv"] = cfg["n_head"]
    cfg.setdefault("ctx", 4096)
    cfg.setdefault("rope_base", 10000.0)
    cfg.setdefault("rope_scale", 1.0)
    for k in ("n_embd", "n_layer", "n_head", "n_ff"):
        if k not in cfg:
            raise SystemExit("missing --%s (or a --preset)" % k.replace("_", "-"))
    cfg["type"] = (args.get("type") or "F32").upper()
    if cfg["type"] not in FTYPES:
        raise SystemExit("unknown --type %s (one of %s)" % (cfg["type"], " ".join(FTYPES)))
    for k in ("tied", "pure", "old_keys", "normal"):
        cfg[k] = bool(args.get(k))
    cfg["seed"] = int(args.get("seed") or 0)
    cfg["eps"] = float(args.get("eps") if args.get("eps") is not None else 1e-6)
    cfg["init_scale"] = float(args.get("init_scale") if args.get("init_scale") is not None else 1.0)
    cfg["vocab"] = args.get("vocab")
    cfg["name"] = args.get("name") or "seekd-random-%s" % (preset or "custom")
    cfg["tensor_types"] = args.get("tensor_types") or {}
    E, H, HKV = cfg["n_embd"], cfg["n_head"], cfg["n_head_kv"]
    if E % H or H % HKV or (E // H) % 2:
        raise SystemExit("n_embd must divide into n_head heads of even size, n_head by n_head_kv")
    return cfg


def _stream(name, ne, t, kind, cfg):
    """Callable for GGUFWriter.add_tensor: yields the tensor's data a chunk of rows at a time."""
    def gen():
        ss = np.random.SeedSequence([cfg["seed"] & 0xFFFFFFFF, zlib.crc32(name.encode())])
        rng = np.random.Generator(np.random.PCG64(ss))
        ne0 = ne[0]
        rows = 1
        for d in ne[1:]:
            rows *= d
        if kind == "norm":
            yield (np.float32(1) + (rng.random(ne0, dtype=np.float32) - np.float32(0.5)) * np.float32(0.4)).astype(np.float32)
            return
        std = cfg["init_scale"] / np.sqrt(ne0)
        half_width = np.float32(std * np.sqrt(3.0))
        step = max(1, CHUNK // ne0)
        for r0 in range(0, rows, step):
            r = min(step, rows - r0)
            if cfg["normal"]:
                a = rng.standard_normal((r, ne0), dtype=np.float32)
                a *= np.float32(std)
            else:
                a = rng.random((r, ne0), dtype=np.float32)
                a -= np.float32(0.5)
                a *= np.float32(2) * half_width
            yield Q.quantize(a, t)
    return gen


def write_model(path, cfg, log=None):
    """Write the GGUF described by cfg (see _config).  Returns the tensor plan."""
    warn = (lambda m: print("warning: " + m, file=sys.stderr)) if log else None
    vocab_kv = None
    if cfg["vocab"]:
        vkv, _ = gguf.read_gguf(cfg["vocab"])
        toks = vkv.get("tokenizer.ggml.tokens")
        if not toks:
            raise SystemExit("%s has no tokenizer.ggml.tokens" % cfg["vocab"])
        cfg["n_vocab"] = len(toks)
        vocab_kv = vkv
    elif "n_vocab" not in cfg:
        raise SystemExit("missing --n-vocab (or --vocab / --preset)")
    E, H = cfg["n_embd"], cfg["n_head"]
    hd = E // H
    ftype_id, default_t = FTYPES[cfg["type"]]
    plan = tensor_plan(cfg, warn)

    w = gguf.GGUFWriter(path)
    w.add("general.architecture", "llama")
    w.add("general.name", cfg["name"])
    w.add("general.file_type", ftype_id)
    if default_t not in _FLOAT_TYPES:
        w.add("general.quantization_version", 2)
    w.add("llama.context_length", cfg["ctx"])
    w.add("llama.embedding_length", E)
    w.add("llama.block_count", cfg["n_layer"])
    w.add("llama.feed_forward_length", cfg["n_ff"])
    w.add("llama.attention.head_count", H)
    w.add("llama.attention.head_count_kv", cfg["n_head_kv"])
    w.add("llama.attention.layer_norm_rms_epsilon", cfg["eps"], gguf.GGUF_TYPE_FLOAT32)
    w.add("llama.rope.dimension_count", hd)
    w.add("llama.rope.freq_base", float(cfg["rope_base"]), gguf.GGUF_TYPE_FLOAT32)
    scale = float(cfg["rope_scale"])
    if scale not in (0.0, 1.0):
        if cfg["old_keys"]:
            w.add("llama.rope.scale_linear", scale, gguf.GGUF_TYPE_FLOAT32)
        else:
            w.add("llama.rope.scaling.type", "linear")
            w.add("llama.rope.scaling.factor", scale, gguf.GGUF_TYPE_FLOAT32)
    w.add("llama.vocab_size", cfg["n_vocab"])
    if vocab_kv is not None:
        for k in vocab_kv:
            if not k.startswith("tokenizer."):
                continue
            if cfg["old_keys"] and k == "tokenizer.ggml.pre":
                continue
            w.add(k, vocab_kv[k], vocab_kv.types[k])
    else:
        tokens, types, merges, bos, eos = synthetic_vocab(cfg["n_vocab"])
        w.add("tokenizer.ggml.model", "gpt2")
        if not cfg["old_keys"]:
            w.add("tokenizer.ggml.pre", "deepseek-coder")
        w.add("tokenizer.ggml.tokens", tokens)
        w.add("tokenizer.ggml.token_type", types, ("array", gguf.GGUF_TYPE_INT32))
        w.add("tokenizer.ggml.merges", merges)
        w.add("tokenizer.ggml.bos_token_id", bos)
        w.add("tokenizer.ggml.eos_token_id", eos)
        w.add("tokenizer.ggml.padding_token_id", eos)
        w.add("tokenizer.ggml.add_bos_token", True)
        w.add("tokenizer.ggml.add_eos_token", False)
    for name, ne, t, layer, kind in plan:
        w.add_tensor(name, _stream(name, ne, t, kind, cfg), t, shape=ne)
    w.write()
    return plan


def make(path, preset="tiny", **overrides):
    """Library entry: make(path, preset='tiny', type='Q4_0', n_layer=3, seed=1, ...) -> cfg."""
    args = dict(overrides)
    if "tensor_types" in args:
        args["tensor_types"] = {k: (gguf.GGML_TYPE_BY_NAME[v] if isinstance(v, str) else v)
                                for k, v in args["tensor_types"].items()}
    cfg = _config(preset, args)
    cfg["plan"] = write_model(path, cfg)
    return cfg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--preset", choices=sorted(PRESETS))
    for k in ("n-embd", "n-layer", "n-head", "n-head-kv", "n-ff", "n-vocab", "ctx"):
        ap.add_argument("--" + k, type=int)
    ap.add_argument("--type", default="F32")
    ap.add_argument("--pure", action="store_true")
    ap.add_argument("--tensor-type", action="append", default=[], metavar="NAME=TYPE")
    ap.add_argument("--vocab")
    ap.add_argument("--rope-base", type=float)
    ap.add_argument("--rope-scale", type=float, help="linear scaling factor (freq_scale = 1/factor)")
    ap.add_argument("--old-keys", action="store_true")
    ap.add_argument("--tied", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eps", type=float)
    ap.add_argument("--init-scale", type=float)
    ap.add_argument("--normal", action="store_true")
    ap.add_argument("--name")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    args = vars(a)
    tt = {}
    for s in a.tensor_type:
        n, _, ty = s.partition("=")
        if ty.upper() not in gguf.GGML_TYPE_BY_NAME:
            ap.error("bad --tensor-type %s" % s)
        tt[n] = gguf.GGML_TYPE_BY_NAME[ty.upper()]
    args["tensor_types"] = tt
    if not a.preset and a.n_embd is None:
        ap.error("give --preset or the shape (--n-embd ...)")
    cfg = _config(a.preset, args)
    t0 = time.time()
    plan = write_model(a.out, cfg, log=not a.quiet)
    dt = time.time() - t0
    if not a.quiet:
        n_par = sum(int(np.prod(ne)) for _, ne, _, _, _ in plan)
        counts = {}
        for _, _, t, _, _ in plan:
            counts[Q.BLOCK[t][0]] = counts.get(Q.BLOCK[t][0], 0) + 1
        print("%s: %s %s, %.3fB params, %d tensors (%s), %.1f MB, %.1f s"
              % (a.out, a.preset or "custom", cfg["type"], n_par / 1e9, len(plan),
                 " ".join("%s:%d" % kv for kv in sorted(counts.items())),
                 os.path.getsize(a.out) / 1e6, dt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
