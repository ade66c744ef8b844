#!/usr/bin/python3
"""Export a trained demo model (tools/train.py checkpoint) to a llama-architecture GGUF.

  export.py CKPT OUT.gguf --name NAME [--type Q8_0|F32]

Writes general.* / llama.* / tokenizer.* metadata (the DeepSeek Coder layout: gpt2 byte-level BPE,
pre = deepseek-coder, FIM tokens found by their text like the real DeepSeek files, no
fim_*_token_id keys) and the tensors. Weights go in unchanged: the training code applies RoPE in
the GGUF adjacent-pair (NORM) convention, so attn_q/attn_k need no permutation; torch Linear
(out, in) row-major is ggml ne = [in, out]. 2-D weights get --type (all of them, token_embd and
output too, as llama.cpp's Q8_0 file type does), except that a Q8_0 file writes a matrix whose rows are
not a whole number of 32-element blocks (ffn_down when n_ff = 688) as F16, the fallback llama.cpp's
quantizer takes for such tensors; 1-D norm weights stay F32.
Uses tools/gguf.py's GGUFWriter (h-tools) and tools/quants.py.
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
import gguf  # noqa: E402
import train  # noqa: E402

FILE_TYPE = {"F32": 0, "Q8_0": 7}   # llama_ftype: ALL_F32, MOSTLY_Q8_0


def tensor_map(model):
    """(gguf name, torch tensor) in file order."""
    out = [("token_embd.weight", model.tok_embd.weight)]
    for i, b in enumerate(model.blocks):
        p = f"blk.{i}."
        out += [(p + "attn_norm.weight", b.attn_norm.weight), (p + "attn_q.weight", b.wq.weight),
                (p + "attn_k.weight", b.wk.weight), (p + "attn_v.weight", b.wv.weight),
                (p + "attn_output.weight", b.wo.weight), (p + "ffn_norm.weight", b.ffn_norm.weight),
                (p + "ffn_gate.weight", b.w_gate.weight), (p + "ffn_up.weight", b.w_up.weight),
                (p + "ffn_down.weight", b.w_down.weight)]
    out += [("output_norm.weight", model.norm.weight), ("output.weight", model.output.weight)]
    return out


def export(ckpt, out, name, qtype, description):
    model, ck = train.load_model(ckpt)
    c = ck["config"]
    tok = bpe.Tokenizer.load(ck["tokenizer"])
    hd = c["n_embd"] // c["n_head"]
    w = gguf.GGUFWriter(out, alignment=32)
    w.add("general.architecture", "llama")
    w.add("general.name", name)
    w.add("general.description", description)
    w.add("general.file_type", FILE_TYPE[qtype], gguf.GGUF_TYPE_UINT32)
    w.add("general.quantization_version", 2, gguf.GGUF_TYPE_UINT32)
    w.add("llama.context_length", c["n_ctx"], gguf.GGUF_TYPE_UINT32)
    w.add("llama.embedding_length", c["n_embd"], gguf.GGUF_TYPE_UINT32)
    w.add("llama.block_count", c["n_layer"], gguf.GGUF_TYPE_UINT32)
    w.add("llama.feed_forward_length", c["n_ff"], gguf.GGUF_TYPE_UINT32)
    w.add("llama.attention.head_count", c["n_head"], gguf.GGUF_TYPE_UINT32)
    w.add("llama.attention.head_count_kv", c["n_head_kv"], gguf.GGUF_TYPE_UINT32)
    w.add("llama.attention.layer_norm_rms_epsilon", train.RMS_EPS, gguf.GGUF_TYPE_FLOAT32)
    w.add("llama.rope.dimension_count", hd, gguf.GGUF_TYPE_UINT32)
    w.add("llama.rope.freq_base", train.ROPE_BASE, gguf.GGUF_TYPE_FLOAT32)
    w.add("llama.rope.scaling.type", "none")
    w.add("llama.vocab_size", len(tok.tokens), gguf.GGUF_TYPE_UINT32)
    w.add("tokenizer.ggml.model", "gpt2")
    w.add("tokenizer.ggml.pre", "deepseek-coder")
    w.add("tokenizer.ggml.tokens", tok.tokens, ("array", gguf.GGUF_TYPE_STRING))
    w.add("tokenizer.ggml.token_type", tok.types, ("array", gguf.GGUF_TYPE_INT32))
    w.add("tokenizer.ggml.merges", tok.merges, ("array", gguf.GGUF_TYPE_STRING))
    w.add("tokenizer.ggml.bos_token_id", tok.bos, gguf.GGUF_TYPE_UINT32)
    w.add("tokenizer.ggml.eos_token_id", tok.eos, gguf.GGUF_TYPE_UINT32)
    w.add("tokenizer.ggml.padding_token_id", tok.eos, gguf.GGUF_TYPE_UINT32)
    w.add("tokenizer.ggml.add_bos_token", True, gguf.GGUF_TYPE_BOOL)
    w.add("tokenizer.ggml.add_eos_token", False, gguf.GGUF_TYPE_BOOL)
    qt = gguf.GGML_TYPE_BY_NAME[qtype]
    for tname, t in tensor_map(model):
        a = t.detach().numpy().astype(np.float32)
        t_ = qt if a.ndim == 2 else gguf.GGML_TYPE_F32
        if a.ndim == 2 and qtype == "Q8_0" and a.shape[1] % 32:
            t_ = gguf.GGML_TYPE_F16   # rows not a whole number of blocks: F16, as llama.cpp's quantizer falls back
        w.add_tensor(tname, a, t_)
    w.write()


def load_gguf_model(path):
    """Build a torch Llama from a GGUF written by export() (weights dequantized to f32)."""
    import quants
    kv, tensors = gguf.read_gguf(path)
    c = dict(n_embd=kv["llama.embedding_length"], n_layer=kv["llama.block_count"],
             n_head=kv["llama.attention.head_count"], n_head_kv=kv["llama.attention.head_count_kv"],
             n_ff=kv["llama.feed_forward_length"], n_ctx=kv["llama.context_length"])
    assert abs(kv["llama.rope.freq_base"] - train.ROPE_BASE) < 1e-3
    assert abs(kv["llama.attention.layer_norm_rms_epsilon"] - train.RMS_EPS) < 1e-9
    n_vocab = len(kv["tokenizer.ggml.tokens"])
    model = train.Llama(c, n_vocab)
    with torch.no_grad():
        for tname, t in tensor_map(model):
            gt, ne, raw = tensors[tname]
            a = quants.dequantize(raw, gt, int(np.prod(ne))).reshape(tuple(reversed(ne)))
            t.copy_(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).view_as(t))
    model.eval()
    tok = bpe.Tokenizer(list(kv["tokenizer.ggml.tokens"]), list(kv["tokenizer.ggml.merges"]),
                        list(kv["tokenizer.ggml.token_type"]))
    return model, tok, kv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("out")
    ap.add_argument("--name", required=True)
    ap.add_argument("--type", default="Q8_0", choices=sorted(FILE_TYPE))
    ap.add_argument("--description", default="seekd demo model: tiny DeepSeek-Coder-format FIM model "
                    "trained by seekd's tools on permissively licensed code (see models/README.md)")
    a = ap.parse_args()
    export(a.ckpt, a.out, a.name, a.type, a.description)
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes)")


if __name__ == "__main__":
    main()
