#!/usr/bin/python3
"""Train seekd's demo draft/target pair (llama architecture as GGUF expects it), CPU, 2 threads.

Model (exactly what a llama-arch GGUF reader computes, so export needs no Q/K permutation):
  x = token_embd[ids]
  per layer:  h = x + attn_output(attn(rmsnorm(x) * attn_norm))
              x = h + ffn_down(silu(ffn_gate(n)) * ffn_up(n)),  n = rmsnorm(h) * ffn_norm
  logits = output(rmsnorm(x) * output_norm)          (untied output matrix)
  rmsnorm(v) = v / sqrt(mean(v^2) + 1e-6)
  attention: causal, scale 1/sqrt(head_dim), GQA (query head h uses kv head h // (n_head/n_head_kv)),
  RoPE on q and k in the GGUF NORM convention: adjacent pairs (x[2i], x[2i+1]) rotated by
  theta = pos * 10000^(-2i/head_dim)  (freq base 10000, n_rot = head_dim, no scaling):
  x0' = x0 cos - x1 sin, x1' = x0 sin + x1 cos.
Torch Linear weights are (out, in) row-major, i.e. ggml ne = [in, out]: written as they are.

Data: training files are cut into line-aligned documents of at most DOC_CHARS characters; each
document is FIM-transformed with probability 0.5 in PSM order
  BOS fim_begin prefix fim_hole suffix fim_end middle EOS     (else BOS text EOS)
where LINE_CUTS of the FIM cuts take 1-3 whole lines as the middle (prefix ends with '\\n', suffix
starts with the line's '\\n'), the shape of seekd's line completions, and the rest are two uniform
character positions (as in DeepSeek Coder / SantaCoder). Prefix, suffix and middle are tokenized
separately (as a server tokenizes input_prefix/input_suffix). The loss weights a FIM middle's
tokens and its EOS by MID_WEIGHT (a config's "mid_weight" overrides it). A config's "stream"
(fim_rate, line_cuts, suffix_lines) builds a stream with other FIM cuts, in a file of its own
(pilots). Documents are packed into one stream (STREAM_PASSES passes over the files, each with
its own cuts); each step samples windows of n_ctx+1 tokens at offsets drawn from a generator
seeded by (seed, step), so a resumed run sees exactly the same batches.
Optimiser: AdamW (0.9, 0.95), weight decay 0.1 on matrices, linear warm-up then cosine to 10%,
grad clip 1.0. Checkpoints (model + optimiser + step) every --ckpt-secs to tools/work/.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
import corpus  # noqa: E402

DOC_CHARS = 1200
FIM_RATE = 0.5        # as DeepSeek Coder: half the documents FIM-transformed, PSM order
LINE_CUTS = 0.6       # of the FIM cuts, the share taking whole lines as the middle (v2: 0.5)
MID_WEIGHT = 3        # loss weight of a FIM middle's tokens and its EOS (v2: 1; config "mid_weight")
STREAM_PASSES = 3     # passes over the training files in the stream, each with its own FIM cuts

CONFIGS = {
    # Version 3 (trained, not shipped: see models/README.md). Sized for the compute these CPUs give
    # (bf16 autocast on AMX, 2 threads; 111 minutes for both, measured): the draft sees 11.9M
    # tokens, the target (3.4x the parameters, GQA 8:2) 18.0M.
    "draft": dict(n_embd=128, n_layer=4, n_head=4, n_head_kv=4, n_ff=352, n_ctx=512,
                  lr=2e-3, batch=8, steps=2900, warmup=100, seed=1, threads=2, amp="bf16"),
    "target": dict(n_embd=256, n_layer=6, n_head=8, n_head_kv=2, n_ff=688, n_ctx=512,
                   lr=1.5e-3, batch=8, steps=4400, warmup=150, seed=3, threads=2, amp="bf16",
                   horizon_before=[301, 5200]),   # planned 5200 steps; shortened at step 301
}
# Version 4 (trained, not shipped: see models/README.md): the version-2 files continued for 1000
# steps on the version-3 stream with FIM middles weighted 5, because the FIM mode lagged plain
# left-to-right continuation by 0.3 nats/token; "init" names the file by commit (git show), so
# the stage starts from the same bytes whatever models/ holds. 2 threads: 1987 s + 752 s here.
CONFIGS["draft-s2"] = dict(CONFIGS["draft"], init="c57090c:models/seekd-demo-draft.Q8_0.gguf", mid_weight=5,
                           lr=5e-4, steps=1000, warmup=30, seed=21)
CONFIGS["target-s2"] = dict(CONFIGS["target"], init="c57090c:models/seekd-demo-target.Q8_0.gguf", mid_weight=5,
                            lr=4e-4, steps=1000, warmup=30, seed=23)
del CONFIGS["target-s2"]["horizon_before"]
ROPE_BASE = 10000.0
RMS_EPS = 1e-6


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPS) * self.weight


def rope_tables(n_ctx, hd, base=ROPE_BASE):
    inv = base ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(n_ctx, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """x (B, H, T, hd); adjacent-pair (GGUF NORM) rotation."""
    B, H, T, hd = x.shape
    xr = x.view(B, H, T, hd // 2, 2)
    x0, x1 = xr[..., 0], xr[..., 1]
    c, s = cos[:T], sin[:T]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).view(B, H, T, hd)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, hd = c["n_embd"], c["n_embd"] // c["n_head"]
        self.nh, self.nkv, self.hd = c["n_head"], c["n_head_kv"], hd
        self.attn_norm = RMSNorm(d)
        self.wq = nn.Linear(d, c["n_head"] * hd, bias=False)
        self.wk = nn.Linear(d, c["n_head_kv"] * hd, bias=False)
        self.wv = nn.Linear(d, c["n_head_kv"] * hd, bias=False)
        self.wo = nn.Linear(c["n_head"] * hd, d, bias=False)
        self.ffn_norm = RMSNorm(d)
        self.w_gate = nn.Linear(d, c["n_ff"], bias=False)
        self.w_up = nn.Linear(d, c["n_ff"], bias=False)
        self.w_down = nn.Linear(c["n_ff"], d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        n = self.attn_norm(x)
        q = self.wq(n).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.wk(n).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.wv(n).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        g = self.nh // self.nkv
        if g > 1:
            k = k.repeat_interleave(g, dim=1)
            v = v.repeat_interleave(g, dim=1)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.hd))
        att = att.masked_fill(mask[:T, :T], float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, self.nh * self.hd)
        h = x + self.wo(y)
        n = self.ffn_norm(h)
        return h + self.w_down(F.silu(self.w_gate(n)) * self.w_up(n))


class Llama(nn.Module):
    def __init__(self, c, n_vocab):
        super().__init__()
        self.c = c
        self.tok_embd = nn.Embedding(n_vocab, c["n_embd"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["n_layer"]))
        self.norm = RMSNorm(c["n_embd"])
        self.output = nn.Linear(c["n_embd"], n_vocab, bias=False)
        cos, sin = rope_tables(c["n_ctx"], c["n_embd"] // c["n_head"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.register_buffer("mask", torch.triu(torch.ones(c["n_ctx"], c["n_ctx"], dtype=torch.bool), 1),
                             persistent=False)
        std = 0.02
        for name, p in self.named_parameters():
            if p.dim() == 2:
                s = std / math.sqrt(2 * c["n_layer"]) if name.endswith(("wo.weight", "w_down.weight")) else std
                nn.init.normal_(p, 0.0, s)

    def forward(self, ids):
        x = self.tok_embd(ids)
        for b in self.blocks:
            x = b(x, self.cos, self.sin, self.mask)
        return self.output(self.norm(x))


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------- data

def split_docs(text, max_chars=DOC_CHARS):
    """Cut a file into line-aligned pieces of at most max_chars (a longer single line stays whole)."""
    lines = text.splitlines(keepends=True)
    docs, cur, n = [], [], 0
    for ln in lines:
        if cur and n + len(ln) > max_chars:
            docs.append("".join(cur))
            cur, n = [], 0
        cur.append(ln)
        n += len(ln)
    if cur:
        docs.append("".join(cur))
    return [d for d in docs if d.strip()]


def fim_cut(doc, rng, line_cuts=LINE_CUTS, suffix_lines=None):
    """Return (prefix, middle, suffix) for a FIM sample. LINE_CUTS of them take 1-3 whole lines
    (1 line in 60%) starting at a non-blank line as the middle, the shape of an editor's line
    completion (prefix ends with '\\n', suffix starts with the last middle line's '\\n'; a blank
    middle would teach the model to answer nothing); the rest are two uniform character cuts
    (DeepSeek Coder's and SantaCoder's document-level FIM)."""
    if rng.random() >= line_cuts:
        a, b = sorted(rng.integers(0, len(doc) + 1, size=2))
        return doc[:a], doc[a:b], doc[b:]
    lines = doc.split("\n")
    starts = [k for k, ln in enumerate(lines) if ln.strip()] or [0]
    i = starts[int(rng.integers(0, len(starts)))]
    r = rng.random()
    j = min(len(lines), i + (1 if r < 0.6 else 2 if r < 0.8 else 3))
    pre = "\n".join(lines[:i]) + ("\n" if i else "")
    mid = "\n".join(lines[i:j])
    rest = lines[j:]
    if suffix_lines is not None:   # a pilot's option: keep 0..suffix_lines lines, uniformly
        rest = rest[:int(rng.integers(0, suffix_lines + 1))]
    suf = ("\n" if rest else "") + "\n".join(rest)
    return pre, mid, suf


def encode_doc(tok, doc, rng, opts=None):
    """(ids, middle mask) of one document: the mask is 1 on a FIM middle's tokens and its EOS."""
    opts = opts or {}
    if rng.random() < opts.get("fim_rate", FIM_RATE):
        pre, mid, suf = fim_cut(doc, rng, opts.get("line_cuts", LINE_CUTS), opts.get("suffix_lines"))
        head = [tok.bos, tok.fim_begin] + tok.encode(pre) + [tok.fim_hole] + tok.encode(suf) + [tok.fim_end]
        tail = tok.encode(mid) + [tok.eos]
        return head + tail, [0] * len(head) + [1] * len(tail)
    ids = [tok.bos] + tok.encode(doc) + [tok.eos]
    return ids, [0] * len(ids)


def _encode_file(args):
    tok_path, text, seed, opts = args
    tok = _encode_file.tok.get(tok_path) or _encode_file.tok.setdefault(tok_path, bpe.Tokenizer.load(tok_path))
    rng = np.random.default_rng(seed)
    ids, mid = [], []
    for d in split_docs(text):
        a, b = encode_doc(tok, d, rng, opts)
        ids += a
        mid += b
    return np.array(ids, dtype=np.uint16), np.array(mid, dtype=np.uint8)


_encode_file.tok = {}


def build_stream(tok_path, corpus_dir, split, seed, passes, opts=None, procs=2):
    """The training files, `passes` times over, each pass with its own FIM cuts (seeded by
    (seed, pass, file index)), so a later epoch does not repeat the first one's samples."""
    import multiprocessing
    files = [text for _, text in corpus.iter_split(corpus_dir, split)]
    jobs = [(tok_path, text, [seed, p, i], opts) for p in range(passes) for i, text in enumerate(files)]
    with multiprocessing.Pool(procs) as pool:
        parts = pool.map(_encode_file, jobs, chunksize=16)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_stream(work, tok_path, corpus_dir, opts=None):
    """The packed token stream and its FIM-middle mask (built once, shared by both models).
    opts (a config's "stream": fim_rate, line_cuts, suffix_lines) changes the FIM cuts, for pilots;
    each set of options has its own file."""
    name = "train_stream3m" + "".join(f"_{k}{v}" for k, v in sorted((opts or {}).items()))
    path = os.path.join(work, name + ".npz")
    if not os.path.exists(path):
        t0 = time.time()
        ids, mid = build_stream(tok_path, corpus_dir, "train", seed=5678, passes=STREAM_PASSES, opts=opts)
        np.savez(path + ".tmp.npz", ids=ids, mid=mid)
        os.replace(path + ".tmp.npz", path)
        print(f"stream: {len(ids)} tokens in {time.time() - t0:.0f}s", flush=True)
    z = np.load(path)
    return z["ids"], z["mid"]


def batch_at(stream, mid, step, seed, batch, n_ctx, mid_weight):
    rng = np.random.default_rng([seed, step])
    offs = rng.integers(0, len(stream) - n_ctx - 1, size=batch)
    x = torch.from_numpy(np.stack([stream[o:o + n_ctx + 1] for o in offs]).astype(np.int64))
    m = torch.from_numpy(np.stack([mid[o + 1:o + n_ctx + 1] for o in offs]).astype(np.float32))
    return x[:, :-1], x[:, 1:], 1.0 + (mid_weight - 1.0) * m


# ---------------------------------------------------------------- training

def lr_at(c, step):
    """Linear warm-up, then cosine from lr to lr/10 over the horizon c["steps"]. A run whose horizon
    was shortened while training records ("horizon_before": [S, H]): steps < S used horizon H."""
    if step < c["warmup"]:
        return c["lr"] * (step + 1) / c["warmup"]
    horizon = c["steps"]
    if "horizon_before" in c and step < c["horizon_before"][0]:
        horizon = c["horizon_before"][1]
    p = (step - c["warmup"]) / max(1, horizon - c["warmup"])
    return c["lr"] * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def make_opt(model, c):
    dec = [p for p in model.parameters() if p.dim() == 2]
    nodec = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": dec, "weight_decay": 0.1}, {"params": nodec, "weight_decay": 0.0}],
                             lr=c["lr"], betas=(0.9, 0.95), eps=1e-8)


def load_model(path):
    ck = torch.load(path, map_location="cpu")
    m = Llama(ck["config"], ck["n_vocab"])
    m.load_state_dict(ck["model"])
    m.eval()
    return m, ck


def train(name, work, tok_path, corpus_dir, ckpt_secs, bench=0, override=None, stop_after=0):
    c = dict(CONFIGS[name])
    c.update(override or {})
    torch.set_num_threads(c.get("threads", 1))
    tok = bpe.Tokenizer.load(tok_path)
    n_vocab = len(tok.tokens)
    stream, mid = load_stream(work, tok_path, corpus_dir, c.get("stream"))
    torch.manual_seed(c["seed"])
    model = Llama(c, n_vocab)
    if c.get("init"):   # stage 2: start from a committed model file (weights as written, Q8_0 dequantized)
        import export
        import subprocess
        path = os.path.join(work, c["init"].replace(":", "_").replace("/", "_"))
        if not os.path.exists(path):
            blob = subprocess.run(["git", "-C", os.path.dirname(HERE), "show", c["init"]],
                                  check=True, capture_output=True).stdout
            with open(path + ".tmp", "wb") as f:
                f.write(blob)
            os.replace(path + ".tmp", path)
        src, _, _ = export.load_gguf_model(path)
        if any(src.c[k] != c[k] for k in src.c):
            sys.exit(f"{name}: {c['init']} has shape {src.c}, config wants {c}")
        model.load_state_dict(src.state_dict())
    opt = make_opt(model, c)
    ck_path = os.path.join(work, f"{name}.ckpt")
    step, elapsed = 0, 0.0
    if os.path.exists(ck_path) and not bench:
        ck = torch.load(ck_path, map_location="cpu")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
        print(f"{name}: resumed at step {step}", flush=True)
    print(f"{name}: {n_params(model)} params, config {json.dumps(c)}", flush=True)

    def save(final=False):
        ck = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed,
              "config": c, "n_vocab": n_vocab, "tokenizer": os.path.abspath(tok_path)}
        torch.save(ck, ck_path + ".tmp")
        os.replace(ck_path + ".tmp", ck_path)
        if final:
            torch.save({k: v for k, v in ck.items() if k != "opt"}, os.path.join(work, f"{name}.final.pt"))

    model.train()
    last_ck = time.time()
    t_start = time.time()
    losses = []
    total = bench or c["steps"]
    while step < total:
        t0 = time.time()
        for g in opt.param_groups:
            g["lr"] = lr_at(c, step)
        x, y, w = batch_at(stream, mid, step, c["seed"], c["batch"], c["n_ctx"], c.get("mid_weight", MID_WEIGHT))
        if c.get("amp") == "bf16":   # bf16 matmuls (AMX/AVX-512 BF16), fp32 master weights and loss
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(x)
            logits = logits.float()
        else:
            logits = model(x)
        nll = F.cross_entropy(logits.view(-1, n_vocab), y.reshape(-1), reduction="none")
        loss = (nll * w.reshape(-1)).sum() / w.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        elapsed += time.time() - t0
        losses.append(loss.item())
        if step % 20 == 0 or bench:
            tps = c["batch"] * c["n_ctx"] * step / max(elapsed, 1e-9) if not bench else \
                c["batch"] * c["n_ctx"] / (time.time() - t0)
            print(f"{name} step {step}/{total} loss {np.mean(losses[-20:]):.4f} lr {lr_at(c, step):.2e} "
                  f"tok/s {tps:.0f} elapsed {elapsed:.0f}s", flush=True)
        if not bench and time.time() - last_ck > ckpt_secs:
            save()
            last_ck = time.time()
        if stop_after and step >= stop_after:   # simulated interruption (resume test)
            save()
            print(f"{name}: stopped at step {step}", flush=True)
            return
    if not bench:
        save(final=True)
        print(f"{name}: done, {step} steps, {elapsed:.0f}s training time "
              f"({time.time() - t_start:.0f}s this run)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+", choices=sorted(CONFIGS))
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--tok", default=os.path.join(HERE, "work", "tokenizer.json"))
    ap.add_argument("--corpus", default=os.path.join(HERE, "work", "corpus"))
    ap.add_argument("--ckpt-secs", type=float, default=180)
    ap.add_argument("--bench", type=int, default=0, help="time N steps, no checkpoint")
    ap.add_argument("--override", default="{}", help="JSON config overrides (tests)")
    ap.add_argument("--stop-after", type=int, default=0, help="checkpoint and exit at this step (tests)")
    a = ap.parse_args()
    for m in a.models:
        train(m, a.work, a.tok, a.corpus, a.ckpt_secs, a.bench, json.loads(a.override), a.stop_after)


if __name__ == "__main__":
    main()
