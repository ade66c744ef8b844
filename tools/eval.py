#!/usr/bin/python3
"""Evaluate seekd's demo models on the held-out split; print reference logits.

  eval.py ppl MODEL...             held-out perplexity, llama.cpp perplexity-tool style
  eval.py fim DRAFT TARGET         single-line FIM exact match (500 tasks) + greedy agreement
  eval.py midloss MODEL...         only the middle loss on the 500 FIM tasks (cheap, no decoding)
  eval.py l2r MODEL...             the same 500 lines written left to right (no suffix, no FIM)
  eval.py prefix MODEL...          what the FIM prompt's prefix is worth as the suffix grows
  eval.py logits MODEL IDS...      reference logits (one line per position, n_vocab floats)
  eval.py all DRAFT TARGET --json OUT   everything, figures as JSON (for models/README.md)

MODEL is a .gguf written by tools/export.py (weights dequantized to f32 and run by the torch
model of tools/train.py) or a training checkpoint (.pt/.ckpt). One torch thread; fixed seeds.

Perplexity: held-out files are tokenized exactly as training plain documents are (line-aligned
documents of <= 1200 chars, BOS doc EOS, no FIM), concatenated, and cut into chunks of n_ctx =
512; as llama.cpp's perplexity tool does, each chunk's first token is replaced by BOS and only the
second half is scored (positions 256..510 predict 257..511). Also reported: mean token-level
loss over all positions of every chunk (plain next-token loss, in nats).

FIM: 500 tasks drawn with a fixed seed from the non-blank lines (<= 120 chars) of held-out
files. Middle = that one whole line without its '\\n'; prefix = up to 800 chars of whole lines
before it (ending in '\\n'), suffix = '\\n' + up to 400 chars of lines after it; at most 300
prefix and 128 suffix tokens kept (nearest the hole). Prompt = BOS fim_begin prefix fim_hole
suffix fim_end; greedy decoding up to 64 tokens, stopping at EOS or at the first token that contains a newline. Exact match: the generated text up to
EOS equals the middle (strict); "first line" also accepts a generation whose text up to its
first '\\n' equals the middle (what a single-line stop rule would show); "stripped" compares that
first line and the middle with surrounding whitespace removed, as bigcode-evaluation-harness scores
SantaCoder's single-line FIM task (g.strip() == reference.strip()). Baseline: the line
before the hole, repeated. Middle loss: the mean loss (nats per token) of the true middle and
its EOS, teacher-forced after the prompt (a graded view of the same tasks). Left to right (l2r):
the same lines as plain continuations (prompt BOS + the same <= 300 prefix tokens, stop at the
first newline), stripped exact match and content loss, to show what the FIM prompt adds or costs.
Prefix use (prefix): the same content loss through FIM prompts whose suffix is cut to 0, 8, 32
and 128 tokens, with the usual prefix and with none; the difference is what the prefix is worth
to the model when that much suffix stands between it and the middle.

Agreement: on 200 held-out prompts (BOS + 256 tokens of a held-out document at a seeded
position) the target decodes 32 tokens greedily; agreement = fraction of those positions where
the draft's greedy token (given the same prefix) equals the target's. Also on the FIM prompts
(the target's generated middle up to and including its EOS or first newline token). For greedy speculative decoding with draft
length k, tokens per target pass = mean over blocks of (leading agreements, max k) + 1.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
import corpus  # noqa: E402
import train  # noqa: E402

CORPUS = os.path.join(HERE, "work", "corpus")
PREFIX_TOKENS = 300   # FIM tasks: prompt tokens kept from the prefix (nearest the hole) ...
SUFFIX_TOKENS = 128   # ... and from the suffix


def load(path):
    if path.endswith(".gguf"):
        import export
        m, tok, _ = export.load_gguf_model(path)
        return m, tok
    m, ck = train.load_model(path)
    return m, bpe.Tokenizer.load(ck["tokenizer"])


class Cache:
    """KV cache for incremental greedy decoding with the train.Llama modules."""

    def __init__(self, model):
        self.m = model
        self.k = [None] * len(model.blocks)
        self.v = [None] * len(model.blocks)
        self.pos = 0

    @torch.no_grad()
    def feed(self, ids):
        """Append ids; return logits of every fed position (T, n_vocab)."""
        m = self.m
        x = m.tok_embd(torch.tensor([ids]))
        T = len(ids)
        p0 = self.pos
        cos, sin = m.cos[p0:p0 + T], m.sin[p0:p0 + T]
        for li, b in enumerate(m.blocks):
            n = b.attn_norm(x)
            q = b.wq(n).view(1, T, b.nh, b.hd).transpose(1, 2)
            k = b.wk(n).view(1, T, b.nkv, b.hd).transpose(1, 2)
            v = b.wv(n).view(1, T, b.nkv, b.hd).transpose(1, 2)
            q = rope_at(q, cos, sin)
            k = rope_at(k, cos, sin)
            if self.k[li] is not None:
                k = torch.cat([self.k[li], k], 2)
                v = torch.cat([self.v[li], v], 2)
            self.k[li], self.v[li] = k, v
            g = b.nh // b.nkv
            kk = k.repeat_interleave(g, 1) if g > 1 else k
            vv = v.repeat_interleave(g, 1) if g > 1 else v
            att = (q @ kk.transpose(-1, -2)) * (1.0 / math.sqrt(b.hd))
            S = kk.shape[2]
            mask = torch.ones(T, S, dtype=torch.bool).triu(S - T + 1)
            att = att.masked_fill(mask, float("-inf")).softmax(-1)
            y = (att @ vv).transpose(1, 2).reshape(1, T, b.nh * b.hd)
            h = x + b.wo(y)
            n = b.ffn_norm(h)
            x = h + b.w_down(F.silu(b.w_gate(n)) * b.w_up(n))
        self.pos += T
        return m.output(m.norm(x))[0]


def rope_at(x, cos, sin):
    B, H, T, hd = x.shape
    xr = x.view(B, H, T, hd // 2, 2)
    x0, x1 = xr[..., 0], xr[..., 1]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), -1).view(B, H, T, hd)


def greedy(model, prompt, n, stop=()):
    """Greedy decode up to n tokens; stops after emitting a token in `stop`."""
    c = Cache(model)
    lg = c.feed(prompt)[-1]
    out = []
    for _ in range(min(n, model.c["n_ctx"] - len(prompt))):
        t = int(lg.argmax())
        out.append(t)
        if t in stop:
            break
        lg = c.feed([t])[-1]
    return out


# ---------------------------------------------------------------- perplexity

def heldout_stream(tok):
    ids = []
    for _, text in corpus.iter_split(CORPUS, "heldout"):
        for d in train.split_docs(text):
            ids += [tok.bos] + tok.encode(d) + [tok.eos]
    return ids


@torch.no_grad()
def perplexity(model, tok, ids, n_ctx=512, batch=8):
    n_chunk = len(ids) // n_ctx
    first = n_ctx // 2
    nll_half = cnt_half = nll_all = cnt_all = 0.0
    chunks = []
    for ci in range(n_chunk):
        ch = list(ids[ci * n_ctx:(ci + 1) * n_ctx])
        ch[0] = tok.bos
        chunks.append(ch)
    for i in range(0, n_chunk, batch):
        x = torch.tensor(chunks[i:i + batch])
        lp = F.log_softmax(model(x).double(), -1)
        tgt = x[:, 1:]
        nll = -lp[:, :-1].gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
        nll_half += float(nll[:, first:].sum())
        cnt_half += nll[:, first:].numel()
        nll_all += float(nll.sum())
        cnt_all += nll.numel()
    return {"ppl": math.exp(nll_half / cnt_half), "scored_tokens": int(cnt_half), "chunks": n_chunk,
            "token_loss": nll_all / cnt_all, "token_ppl": math.exp(nll_all / cnt_all)}


# ---------------------------------------------------------------- FIM tasks

def fim_tasks(n=500, seed=7):
    cands = []
    files = list(corpus.iter_split(CORPUS, "heldout"))
    for fi, (_, text) in enumerate(files):
        lines = text.split("\n")
        for li, ln in enumerate(lines):
            if ln.strip() and len(ln) <= 120 and li > 0:
                cands.append((fi, li))
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(cands), size=n, replace=False)
    tasks = []
    for k in sorted(pick):
        fi, li = cands[k]
        lines = files[fi][1].split("\n")
        pre_lines, n_pre = [], 0
        for ln in reversed(lines[:li]):
            if n_pre + len(ln) + 1 > 800 and pre_lines:
                break
            pre_lines.insert(0, ln)
            n_pre += len(ln) + 1
        suf_lines, n_suf = [], 0
        for ln in lines[li + 1:]:
            if n_suf + len(ln) + 1 > 400 and suf_lines:
                break
            suf_lines.append(ln)
            n_suf += len(ln) + 1
        pre = "\n".join(pre_lines) + "\n"
        suf = "\n" + "\n".join(suf_lines) if li + 1 < len(lines) else ""
        tasks.append({"prefix": pre, "middle": lines[li], "suffix": suf, "prev": lines[li - 1]})
    return tasks


def fim_prompt(tok, t, n_pre=PREFIX_TOKENS, n_suf=SUFFIX_TOKENS):
    p = tok.encode(t["prefix"])[-n_pre:] if n_pre else []
    s = tok.encode(t["suffix"])[:n_suf] if n_suf else []
    return [tok.bos, tok.fim_begin] + p + [tok.fim_hole] + s + [tok.fim_end]


def line_stop(tok):
    """Token ids that end a single-line answer: EOS and every token containing a newline."""
    return {tok.eos} | {i for i, t in enumerate(tok.tokens)
                        if tok.types[i] == bpe.TOKEN_NORMAL and bpe.BYTE_ENC[10] in t}


def spec_tokens_per_pass(agree, k):
    """agree: list of bools along the target's greedy path; tokens produced per target pass."""
    passes = produced = 0
    i = 0
    while i < len(agree):
        run = 0
        while run < k and i + run < len(agree) and agree[i + run]:
            run += 1
        step = min(run + 1, len(agree) - i)
        produced += step
        passes += 1
        i += step
    return produced, passes


@torch.no_grad()
def fim_and_agreement(draft, target, tok, n_tasks=500, n_agree=200, shard=0, n_shards=1):
    """Raw counts for tasks[shard::n_shards] and plain prompts j % n_shards == shard."""
    tasks = fim_tasks(n_tasks)
    # generation stops at EOS or at the first token containing a newline: after a newline the
    # single-line answer is decided for both metrics (strict needs EOS before any newline)
    stop = line_stop(tok)
    res = {"tasks": 0, "strict": {"draft": 0, "target": 0, "repeat_previous_line": 0},
           "mid_nll": {"draft": 0.0, "target": 0.0}, "mid_tokens": 0,
           "first_line": {"draft": 0, "target": 0}, "agree_fim": [], "agree_plain": [], "examples": [],
           "gens": []}
    for ti, t in enumerate(tasks):
        if ti % n_shards != shard:
            continue
        res["tasks"] += 1
        prompt = fim_prompt(tok, t)
        mid = tok.encode(t["middle"]) + [tok.eos]
        res["mid_tokens"] += len(mid)
        outs = {}
        for name, m in (("draft", draft), ("target", target)):
            res["mid_nll"][name] += middle_nll(m, prompt, mid)
            g = greedy(m, prompt, 64, stop=stop)
            text = tok.decode([x for x in g if x != tok.eos])
            outs[name] = (g, text)
            if g and g[-1] == tok.eos and text == t["middle"]:
                res["strict"][name] += 1
            if text.split("\n")[0] == t["middle"]:
                res["first_line"][name] += 1
        res["strict"]["repeat_previous_line"] += t["prev"] == t["middle"]
        res["gens"].append([t["middle"], t["prev"], outs["draft"][1], outs["target"][1]])
        # draft agreement along the target's FIM generation (teacher-forced)
        g = outs["target"][0]
        dl = Cache(draft).feed(prompt + g[:-1])[len(prompt) - 1:]
        res["agree_fim"].append([int(dl[i].argmax()) == g[i] for i in range(len(g))])
        if len(res["examples"]) < 8:
            res["examples"].append({"prefix_tail": t["prefix"][-60:], "middle": t["middle"],
                                    "draft": outs["draft"][1], "target": outs["target"][1]})
        if res["tasks"] % 25 == 0:
            print(f"shard {shard}: fim {res['tasks']} strict {res['strict']}", file=sys.stderr, flush=True)
    # plain-continuation prompts
    docs = []
    for _, text in corpus.iter_split(CORPUS, "heldout"):
        for d in train.split_docs(text):
            ids = tok.encode(d)
            if len(ids) >= 256 + 32:
                docs.append(ids)
    rng = np.random.default_rng(11)
    for j in range(n_agree):
        ids = docs[int(rng.integers(len(docs)))]
        o = int(rng.integers(0, len(ids) - 256 - 32 + 1))
        if j % n_shards != shard:
            continue
        prompt = [tok.bos] + ids[o:o + 256]
        g = greedy(target, prompt, 32)
        dl = Cache(draft).feed(prompt + g[:-1])[len(prompt) - 1:]
        res["agree_plain"].append([int(dl[i].argmax()) == g[i] for i in range(len(g))])
    return res


@torch.no_grad()
def token_nll(model, prompt, mid):
    """Loss (nats) of each token of `mid` teacher-forced after `prompt`."""
    lp = F.log_softmax(Cache(model).feed(prompt + mid[:-1])[len(prompt) - 1:].double(), -1)
    return -lp.gather(-1, torch.tensor(mid).unsqueeze(-1)).squeeze(-1)


def content_nll(model, prompt, body):
    """Summed loss (nats) of a line's own tokens after `prompt`, without the token that ends it
    (a newline left to right, EOS as a FIM middle), so the two prompts compare like for like."""
    return float(token_nll(model, prompt, body).sum())


def middle_nll(model, prompt, mid):
    """Summed loss (nats) of the tokens `mid` teacher-forced after `prompt`."""
    return float(token_nll(model, prompt, mid).sum())


def middle_loss(model, tok, n_tasks=500):
    """Mean loss (nats/token) of the true middle and its EOS over the FIM tasks."""
    nll = n = 0.0
    for t in fim_tasks(n_tasks):
        mid = tok.encode(t["middle"]) + [tok.eos]
        nll += middle_nll(model, fim_prompt(tok, t), mid)
        n += len(mid)
    return nll / n


@torch.no_grad()
def left_to_right(model, tok, n_tasks=500):
    """Stripped exact match and mean content loss (nats/token, end token excluded) of the FIM
    tasks' lines, written as plain continuations of the prefix and as FIM middles."""
    stop = line_stop(tok)
    r = {"tasks": 0, "l2r_exact_match_stripped": 0, "content_tokens": 0,
         "l2r_content_loss": 0.0, "fim_content_loss": 0.0}
    for t in fim_tasks(n_tasks):
        body = tok.encode(t["middle"])
        prompt = [tok.bos] + tok.encode(t["prefix"])[-PREFIX_TOKENS:]
        g = greedy(model, prompt, 64, stop=stop)
        text = tok.decode([x for x in g if x != tok.eos])
        r["tasks"] += 1
        r["l2r_exact_match_stripped"] += text.split("\n")[0].strip() == t["middle"].strip()
        r["content_tokens"] += len(body)
        r["l2r_content_loss"] += content_nll(model, prompt, body)
        r["fim_content_loss"] += content_nll(model, fim_prompt(tok, t), body)
    for k in ("l2r_content_loss", "fim_content_loss"):
        r[k] /= max(1, r["content_tokens"])
    return r


@torch.no_grad()
def prefix_use(model, tok, n_tasks=500, suffix_budgets=(0, 8, 32, 128)):
    """How much the FIM prompt's prefix is worth as the suffix between it and the middle grows:
    mean content loss (nats/token, end token excluded) of the tasks' lines with the usual prefix
    (<= 300 tokens) and with none, for suffixes cut to each budget (tokens nearest the hole)."""
    tasks = fim_tasks(n_tasks)
    r = {"tasks": len(tasks), "content_tokens": 0}
    for s in suffix_budgets:
        r[f"suffix{s}"] = {"with_prefix": 0.0, "no_prefix": 0.0}
    for t in tasks:
        body = tok.encode(t["middle"])
        r["content_tokens"] += len(body)
        for s in suffix_budgets:
            for key, n_pre in (("with_prefix", PREFIX_TOKENS), ("no_prefix", 0)):
                r[f"suffix{s}"][key] += content_nll(model, fim_prompt(tok, t, n_pre, s), body)
    for s in suffix_budgets:
        d = r[f"suffix{s}"]
        for key in ("with_prefix", "no_prefix"):
            d[key] /= max(1, r["content_tokens"])
        d["prefix_worth"] = d["no_prefix"] - d["with_prefix"]
    return r


def summarize(parts):
    """Merge shard results into the reported figures."""
    n = sum(p["tasks"] for p in parts)
    out = {"tasks": n, "exact_match_strict": {}, "exact_match_first_line": {}}
    for k in ("draft", "target", "repeat_previous_line"):
        out["exact_match_strict"][k] = sum(p["strict"][k] for p in parts) / n
    for k in ("draft", "target"):
        out["exact_match_first_line"][k] = sum(p["first_line"][k] for p in parts) / n
    # the graded view of the same tasks: mean loss (nats/token) of the true middle and its EOS
    n_mid = sum(p["mid_tokens"] for p in parts)
    out["middle_loss"] = {k: sum(p["mid_nll"][k] for p in parts) / n_mid for k in ("draft", "target")}
    out["middle_tokens"] = n_mid
    for label in ("plain", "fim"):
        ag = [row for p in parts for row in p["agree_" + label]]
        flat = [a for row in ag for a in row]
        d = {"prompts": len(ag), "positions": len(flat), "agreement": sum(flat) / max(1, len(flat))}
        for k in (4, 8):
            prod = passes = 0
            for row in ag:
                a, b = spec_tokens_per_pass(row, k)
                prod += a
                passes += b
            d[f"tokens_per_target_pass_k{k}"] = prod / max(1, passes)
        out["agreement_" + label] = d
    # per first generated line (the baseline's line is the previous one): a graded view, difflib
    # similarity with the true line; and the scoring of SantaCoder's single-line FIM task in
    # bigcode-evaluation-harness, exact match with surrounding whitespace stripped (an editor has
    # usually typed or auto-indented the line's indentation already)
    import difflib
    gens = [g for p in parts for g in p["gens"]]
    sim = {"draft": 0.0, "target": 0.0, "repeat_previous_line": 0.0}
    em = dict.fromkeys(sim, 0)
    for mid, prev, dr, tg in gens:
        for k, line in (("draft", dr.split("\n")[0]), ("target", tg.split("\n")[0]),
                        ("repeat_previous_line", prev)):
            sim[k] += difflib.SequenceMatcher(None, mid, line).ratio()
            em[k] += line.strip() == mid.strip()
    out["line_similarity"] = {k: v / max(1, len(gens)) for k, v in sim.items()}
    out["exact_match_stripped"] = {k: v / max(1, len(gens)) for k, v in em.items()}
    out["examples"] = [e for p in parts for e in p["examples"]][:8]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["ppl", "fim", "midloss", "l2r", "prefix", "logits", "all", "merge"])
    ap.add_argument("args", nargs="+")
    ap.add_argument("--json")
    ap.add_argument("--last", action="store_true", help="logits: only the last position")
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--agree", type=int, default=200)
    ap.add_argument("--shard", default="0/1", help="fim: run part K of N (K/N); merge the JSONs with 'merge'")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    out = {}
    if a.mode == "logits":
        m, tok = load(a.args[0])
        ids = [int(x) for x in " ".join(a.args[1:]).replace(",", " ").split()]
        if not ids or any(i < 0 or i >= len(tok.tokens) for i in ids) or len(ids) > m.c["n_ctx"]:
            sys.exit("eval: token ids must be 1..n_ctx ids in [0, n_vocab)")
        with torch.no_grad():
            lg = m(torch.tensor([ids]))[0]
        rows = lg[-1:] if a.last else lg
        for r in rows:
            print(" ".join("%.6f" % v for v in r.tolist()))
        return
    if a.mode in ("ppl", "all"):
        paths = a.args
        ids = None
        for p in paths:
            m, tok = load(p)
            if ids is None:
                ids = heldout_stream(tok)
            r = perplexity(m, tok, ids)
            r["params"] = train.n_params(m)
            out["ppl:" + os.path.basename(p)] = r
            print(os.path.basename(p), json.dumps(r), flush=True)
    if a.mode == "midloss":
        for p in a.args:
            m, tok = load(p)
            out["midloss:" + os.path.basename(p)] = r = middle_loss(m, tok, a.tasks)
            print(p, "middle loss %.4f nats/token" % r, flush=True)
    if a.mode == "l2r":
        for p in a.args:
            m, tok = load(p)
            out["l2r:" + os.path.basename(p)] = r = left_to_right(m, tok, a.tasks)
            print(p, json.dumps(r), flush=True)
    if a.mode == "prefix":
        for p in a.args:
            m, tok = load(p)
            out["prefix:" + os.path.basename(p)] = r = prefix_use(m, tok, a.tasks)
            print(p, json.dumps(r), flush=True)
    if a.mode == "merge":
        parts = []
        for p in a.args:
            with open(p) as f:
                parts.append(json.load(f)["fim_raw"])
        out["fim"] = summarize(parts)
        print(json.dumps(out["fim"], indent=1, ensure_ascii=False))
    if a.mode in ("fim", "all"):
        d, tok = load(a.args[0])
        t, _ = load(a.args[1])
        k, n = (int(x) for x in a.shard.split("/"))
        raw = fim_and_agreement(d, t, tok, a.tasks, a.agree, k, n)
        out["fim_raw"] = raw
        out["fim"] = summarize([raw])
        print(json.dumps(out["fim"], indent=1, ensure_ascii=False))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
