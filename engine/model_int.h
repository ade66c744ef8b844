/*
 * Internal to engine/: the llama-architecture model (weights pointing into the mmapped GGUF),
 * its KV cache and the scratch buffers of the forward pass.  Everything here is allocated once
 * by eng_model_load; eng_model_eval allocates nothing.
 *
 * Buffer shapes use nb = params.n_batch (max tokens per eval), no = params.n_outputs (max rows
 * of logits per eval), E = n_embd, Dq = n_head * head_dim, Dkv = n_head_kv * head_dim,
 * F = n_ff, V = n_vocab, C = n_ctx (KV cells).
 */
#ifndef SEEKD_ENGINE_MODEL_INT_H
#define SEEKD_ENGINE_MODEL_INT_H

#include <stdatomic.h>
#include <string.h>

#include "engine/engine.h"

struct eng__layer {
    struct eng_tensor attn_norm, ffn_norm;      /* F32 [E] */
    struct eng_tensor wq, wk, wv, wo;           /* {E,Dq} {E,Dkv} {E,Dkv} {Dq,E} */
    struct eng_tensor w_gate, w_up, w_down;     /* {E,F} {E,F} {F,E} */
};

/* The KV cache: one linear run of cells per layer, cell i holds position i (the cache never
 * wraps; a shift moves cells down and re-rotates their keys so the invariant holds).
 * K and V rows are Dkv elements of `type` (F16 or F32), layer-major:
 *   k[layer][cell][Dkv], v[layer][cell][Dkv]. */
struct eng__kv {
    int type;          /* ENG_TYPE_F16 or ENG_TYPE_F32 */
    int n_ctx;         /* cells */
    int len;           /* valid cells = next position */
    size_t row_bytes;  /* Dkv * element size */
    void *k, *v;
    int32_t *tokens;   /* [C] the token that produced each valid cell */
};

/* Attention kernels (forward.c _ref, forward_avx2.c, forward_avx512.c; bit-exact twins):
 * dot = q·k over hd elements with 16 lanes (lane i % 16, multiply then add, eng__reduce16);
 * scores: out[j] = dot(q, k_j) * scale for n keys at k + j * stride (elements);
 * softmax: s[j] = eng__exp(s[j] - max s) in place, returns the sum taken in 16 lanes
 * (lane j % 16, eng__reduce16);  axpy: out[i] += p * v[i]. */
struct eng__attn_kern {
    float (*dot_f16)(const float *q, const uint16_t *k, int hd);
    float (*dot_f32)(const float *q, const float *k, int hd);
    void (*scores_f16)(const float *q, const uint16_t *k, size_t stride, int n, int hd,
                       float scale, float *out);
    void (*scores_f32)(const float *q, const float *k, size_t stride, int n, int hd,
                       float scale, float *out);
    float (*softmax)(float *s, int n);
    void (*axpy_f16)(float *out, float p, const uint16_t *v, int hd);
    void (*axpy_f32)(float *out, float p, const float *v, int hd);
    /* out[i] = sum over j < n, in order, of (p[j] * v_j[i]), v_j at v + j * stride */
    void (*wsum_f16)(float *out, const float *p, const uint16_t *v, size_t stride, int n, int hd);
    void (*wsum_f32)(float *out, const float *p, const float *v, size_t stride, int n, int hd);
    /* g[i] = silu(g[i]) * u[i], silu(x) = x / (1 + eng__exp_any(-x)) */
    void (*swiglu)(float *g, const float *u, size_t n);
    /* Several queries (nq <= 4) against the same keys/values, each pair computed exactly as by
     * scores_* / wsum_*: q_i at q + i * qstride, out_i at out + i * ostride. */
    void (*scores4_f16)(const float *q, size_t qstride, int nq, const uint16_t *k, size_t stride,
                        int n, int hd, float scale, float *out, size_t ostride);
    void (*wsum4_f16)(float *out, size_t ostride, int nq, const float *p, size_t pstride,
                      const uint16_t *v, size_t stride, int n, int hd);
    const char *isa;
};
#define ENG__DECL_ATTN(isa)                                                                       \
    float eng__attn_dot_f16_##isa(const float *q, const uint16_t *k, int hd);                     \
    float eng__attn_dot_f32_##isa(const float *q, const float *k, int hd);                        \
    void eng__attn_scores_f16_##isa(const float *q, const uint16_t *k, size_t stride, int n,      \
                                    int hd, float scale, float *out);                             \
    void eng__attn_scores_f32_##isa(const float *q, const float *k, size_t stride, int n,         \
                                    int hd, float scale, float *out);                             \
    float eng__attn_softmax_##isa(float *s, int n);                                               \
    void eng__attn_axpy_f16_##isa(float *out, float p, const uint16_t *v, int hd);                \
    void eng__attn_axpy_f32_##isa(float *out, float p, const float *v, int hd);                   \
    void eng__attn_wsum_f16_##isa(float *out, const float *p, const uint16_t *v, size_t stride,   \
                                  int n, int hd);                                                 \
    void eng__attn_wsum_f32_##isa(float *out, const float *p, const float *v, size_t stride,      \
                                  int n, int hd);                                                 \
    void eng__swiglu_##isa(float *g, const float *u, size_t n);                                   \
    void eng__attn_scores4_f16_##isa(const float *q, size_t qstride, int nq, const uint16_t *k,   \
                                     size_t stride, int n, int hd, float scale, float *out,       \
                                     size_t ostride);                                             \
    void eng__attn_wsum4_f16_##isa(float *out, size_t ostride, int nq, const float *p,            \
                                   size_t pstride, const uint16_t *v, size_t stride, int n, int hd);
ENG__DECL_ATTN(ref)
ENG__DECL_ATTN(avx2)
ENG__DECL_ATTN(avx512)
/* exp(x) for any x: x is clamped to [-87, 88] first (so the result is finite and not
 * subnormal-flushed in a way the twins could disagree on), then as eng__exp_neg. */
static inline float eng__exp_any(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float n = __builtin_rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z;
    p = p + r;
    p = p + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, 4);
    return p * s;
}

/* exp(x) for x <= 0 (softmax inputs): Cephes-style range reduction and degree-6 polynomial,
 * every step a separate multiply or add so the SIMD twins give the same bits; about 1 ulp;
 * 0 below -87.  NaN is not expected (callers pass finite scores). */
static inline float eng__exp_neg(float x)
{
    if (!(x >= -87.0f))
        return 0.0f;
    float n = __builtin_rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z;
    p = p + r;
    p = p + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, 4);
    return p * s;
}

/* The variant for a level (0 ref, 1 avx2, 2 avx512), clipped to the kernel table's level. */
void eng__attn_kern_get(struct eng__attn_kern *ak, int level);

struct eng_model {
    struct eng_hparams hp;
    struct eng_model_params prm;
    const struct eng_gguf *gguf; /* not owned */
    struct eng_tensor tok_embd, out_norm, output;
    struct eng__layer *layers; /* [n_layer] */
    int E, Dq, Dkv, hd, F, V, n_head, n_head_kv, n_layer;
    float rms_eps, kq_scale;

    struct eng__kv kv;
    float *rope_cs; /* [C][hd/2][2] cos, sin of position p for pair i */

    struct eng_pool *pool; /* owned */
    struct eng__attn_kern ak;

    /* scratch (see the header comment for shapes) */
    float *x, *xn;      /* [nb][E] residual stream, normed input */
    float *q, *k, *v;   /* [nb][Dq], [nb][Dkv], [nb][Dkv] */
    float *att;         /* [nb][Dq] attention output per head, concatenated */
    float *gate, *up;   /* [nb][F] */
    float *scores;      /* [n_threads][4][C] attention probabilities of up to 4 (token, head) */
    float *logits;      /* [no][V] */
    int n_logits;       /* rows valid in logits after the last eval */
    struct eng_mm_scratch mm; /* quantised activation rows for the matmul driver */

    const atomic_int *cancel; /* not owned; nonzero = stop */
};

/* ---- KV internals (engine/kv.c) ------------------------------------------------------------ */
int eng__kv_init(struct eng__kv *kv, int type, int n_layer, int n_ctx, int Dkv);
void eng__kv_free(struct eng__kv *kv);
/* Row pointers: K or V of `layer` at cell `cell`. */
static inline void *eng__kv_k(const struct eng__kv *kv, int layer, int cell)
{
    return (char *)kv->k + ((size_t)layer * (size_t)kv->n_ctx + (size_t)cell) * kv->row_bytes;
}
static inline void *eng__kv_v(const struct eng__kv *kv, int layer, int cell)
{
    return (char *)kv->v + ((size_t)layer * (size_t)kv->n_ctx + (size_t)cell) * kv->row_bytes;
}
/* Stores n f32 values into a cache row (rounding to F16 when the cache is F16). */
void eng__kv_store(const struct eng__kv *kv, void *row, const float *src, int n);

/* ---- forward internals (engine/forward.c) --------------------------------------------------- */
/* Rotates one head vector x[hd] in place by the angles of position p (table rows). */
void eng__rope_apply(const struct eng_model *m, float *x, int p);
/* RMSNorm of one row: y = (x * 1/sqrt(mean(x^2) + eps)) * w, sum of squares in double. */
void eng__rmsnorm(float *y, const float *x, const float *w, int n, float eps);

#endif
