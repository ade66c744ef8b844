#!/usr/bin/python3
"""C forward pass vs the numpy reference (tools/reference.py), teacher-forced.

For tiny random-weight models (made by tools/make_model.py in a temporary folder),
`seekd eval-logits` and reference.forward() get the same tokens and every position's logits
are compared.  Error = max|diff| / rms(reference logits) over all positions.  The reference runs
in float64 (weights are the exact dequantised float32 values), the best oracle for both.

Bounds (the contract the engine documents):
  * F32/F16/BF16 weights (f32 activations), F32 KV: <= 1e-4, and the top token agrees
    wherever the reference's top-two gap > 1e-3.
  * The same with an F16 KV cache (the reference rounds K and V to fp16 the same way):
    <= 1e-3.  Rounding to fp16 is itself a quantisation: a K or V element whose f32 value
    sits within ~1e-7 of an fp16 rounding boundary may round the other way in C and in the
    reference, an error of 2^-11 of that element, hence the looser bound.
  * Quantised weights, tight check: a float model with ONE quantised matmul (a different
    tensor per type, so q, k, v, o, gate, up, down and output all get covered) against the
    reference's --act-q8 emulation of our 8-bit activations (Q8_0/Q8_1 per 32, Q8_K per 256):
    at least half of the positions (in practice all but the few after a rounding flip, see
    below) within the float bound above, every position within the whole-file bound, and the
    same top-token rule on the clean positions.  A wrong scale, nibble order or offset in any
    dot product would put every position far outside 1e-4.
  * Quantised weights, whole files (llama.cpp's ftype mixing, every matmul quantised): chained
    8-bit activations make C and any reference part ways as soon as one activation that sits
    on a rounding boundary rounds the other way (a 1e-7 difference flips a step of
    amax/127), so the bound is the cost of 8-bit activations themselves, against the float
    reference.  Derivation: per block, d = amax/127 and the rounding error is uniform in
    +-d/2, rms d/sqrt(12); amax is ~3 sigma over 32 values (~4 over 256), so each matmul
    output carries ~0.7-0.9% rms relative error; ~15 chained matmuls in 2 layers give ~3% rms,
    and the max over 20k logits sits ~4.5 sigma out: rms(diff)/rms <= Q8_RMS_BOUND (0.05) and
    max|diff|/rms <= Q8_BOUND (0.25).  Top token must agree where the gap exceeds
    2 * Q8_BOUND * rms (a gap the error cannot close).  Measured on the tiny preset: max
    0.08-0.14, rms 0.018-0.029.
Also covered: GQA and MHA, rope scaling factor 4 (base 1e5) and none, batched (2..32) and
one-at-a-time evaluation, and a context past 4K (a small model with 4400 cells).
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.getcwd()
sys.path.insert(0, os.path.join(ROOT, "tools"))
import make_model  # noqa: E402
import reference  # noqa: E402

SEEKD = os.environ.get("SEEKD_BIN", os.path.join(ROOT, "build", "seekd"))
F_BOUND = 1e-4
F16KV_BOUND = 1e-3
Q8_BOUND = 0.25
Q8_RMS_BOUND = 0.05

failures = []


def run_c(path, tokens, batch, kv, out, ctx=None):
    cmd = [SEEKD, "eval-logits", "--model", path, "--tokens", ",".join(map(str, tokens)),
           "--out", out, "--batch", str(batch), "--kv", kv, "--threads", "2"]
    if ctx:
        cmd += ["--ctx", str(ctx)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("seekd eval-logits failed: %s" % r.stderr.strip())
    return np.fromfile(out, dtype="<f4")


def compare(label, c, ref, tight, loose=None, rms_bound=None, min_clean=1.0, gap_clean=True):
    """Per position p: err_p = max|diff_p| / rms(ref).  Positions with err_p <= tight are clean;
    at least min_clean of them must be clean, every position within loose (default tight),
    rms(diff)/rms within rms_bound when given.  Top token: must agree on clean positions where
    the reference's top-two gap > 1e-3 (unless gap_clean is false: whole quantised files),
    and everywhere where the gap > 2 * loose * rms."""
    loose = tight if loose is None else loose
    c = c.reshape(ref.shape).astype(np.float64)
    rms = float(np.sqrt(np.mean(ref ** 2)))
    errp = np.max(np.abs(c - ref), axis=1) / rms
    err = float(errp.max())
    err_rms = float(np.sqrt(np.mean((c - ref) ** 2))) / rms
    clean = errp <= tight
    srt = np.sort(ref, axis=1)
    gap = srt[:, -1] - srt[:, -2]
    decided = (clean & (gap > 1e-3) & gap_clean) | (gap > 2 * loose * rms)
    agree = np.argmax(c, axis=1) == np.argmax(ref, axis=1)
    bad_top = int(np.sum(decided & ~agree))
    ok = (err <= loose and bad_top == 0 and np.mean(clean) >= min_clean and
          (rms_bound is None or err_rms <= rms_bound))
    extra = "" if rms_bound is None else ", rms %.1e (<= %.0e)" % (err_rms, rms_bound)
    print("%-4s %-46s max %.1e (<= %.0e)%s, clean %d/%d (<= %.0e), top-1 disagree %d/%d" %
          ("ok" if ok else "FAIL", label, err, loose, extra, int(clean.sum()), len(clean), tight,
           bad_top, int(np.sum(decided))))
    if not ok:
        failures.append(label)
    return err


def tokens_for(nv, n, seed):
    return [int(t) for t in np.random.default_rng(seed).integers(0, nv, n)]


def case(tmp, name, mm_args, n_tok=40, batch=1, kv="f32", mode="float", ctx=None, seed=0):
    """mode: float (1e-4 vs f64 reference), actq (1e-4 vs act-q8 emulation), mixed (the
    8-bit activation bound vs the float reference)."""
    path = os.path.join(tmp, name + ".gguf")
    make_model.make(path, **mm_args)
    model = reference.load(path)
    tokens = tokens_for(model.hp["n_vocab"], n_tok, seed)
    c = run_c(path, tokens, batch, kv, os.path.join(tmp, name + ".bin"), ctx)
    kv16 = kv == "f16"
    tight = F16KV_BOUND if kv16 else F_BOUND
    label = "%s (kv %s, batch %d)" % (name, kv, batch)
    if mode == "actq":
        ref = reference.forward(model, tokens, kv_f16=kv16, act_q8=True, f64=True)
        compare(label + " vs act-q8", c, ref, tight, Q8_BOUND, min_clean=0.5)
    elif mode == "mixed":
        ref = reference.forward(model, tokens, kv_f16=kv16, f64=True)
        compare(label, c, ref, Q8_BOUND, rms_bound=Q8_RMS_BOUND, gap_clean=False)
    else:
        ref = reference.forward(model, tokens, kv_f16=kv16, f64=True)
        compare(label, c, ref, tight)
    os.unlink(path)


QTYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]
ONE_TENSOR = ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight",
              "blk.0.attn_output.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight",
              "blk.0.ffn_down.weight", "output.weight", "blk.1.ffn_down.weight",
              "blk.1.attn_k.weight"]
FTYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"]


def main():
    if not os.access(SEEKD, os.X_OK):
        print("no seekd binary at %s" % SEEKD)
        return 1
    tmp = tempfile.mkdtemp(prefix="seekd-ref-")
    try:
        tiny = dict(preset="tiny", seed=5)
        # float weights: the 1e-4 contract
        case(tmp, "F32", dict(tiny, type="F32"), kv="f32")
        case(tmp, "F32-batch7", dict(tiny, type="F32"), kv="f32", batch=7)
        case(tmp, "F32-kvf16", dict(tiny, type="F32"), kv="f16", batch=5)
        case(tmp, "F16", dict(tiny, type="F16"), kv="f32")
        case(tmp, "BF16", dict(tiny, type="BF16"), kv="f16", batch=3)
        # shapes and rope
        case(tmp, "F32-MHA", dict(tiny, type="F32", n_head_kv=4), kv="f32", batch=4)
        case(tmp, "F32-GQA4", dict(tiny, type="F32", n_head=8, n_head_kv=2), kv="f32", batch=9)
        case(tmp, "F32-rope-linear4-base1e5",
             dict(tiny, type="F32", rope_scale=4.0, rope_base=100000.0), kv="f32", batch=6)
        # every quantised type, one tensor at a time (tight)
        for i, qt in enumerate(QTYPES):
            case(tmp, "%s-in-%s" % (qt, ONE_TENSOR[i]),
                 dict(tiny, type="F32", tensor_types={ONE_TENSOR[i]: qt}),
                 kv="f16" if i % 2 else "f32", batch=[1, 8, 3, 17][i % 4], mode="actq")
        # whole files with llama.cpp's type mixing (Q6_K output etc.)
        for i, ft in enumerate(FTYPES):
            case(tmp, ft, dict(tiny, type=ft), kv="f16" if i % 2 else "f32",
                 batch=[1, 8, 3, 17][i % 4], mode="mixed")
        case(tmp, "Q4_0-pure-MHA", dict(tiny, type="Q4_0", pure=True, n_head_kv=4), kv="f16",
             batch=32, mode="mixed")
        # past 4K: a narrow model with a 4400-cell context, evaluated in chunks of 64
        long_cfg = dict(preset="tiny", seed=9, type="F32", n_embd=64, n_layer=1, n_head=2,
                        n_head_kv=1, n_ff=128, n_vocab=512, ctx=4400)
        case(tmp, "F32-ctx4300", long_cfg, n_tok=4300, batch=64, kv="f32", ctx=4400)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("failed: " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
