/*
 * The llama forward pass: n tokens in, K/V appended to the cache, logits out.
 * Workload: decode (n = 1, memory-bound on the weights), speculative verification and typed
 * text (n = 2..33), prompt chunks (n up to n_batch = 512).
 *
 * Per layer, for the whole batch: RMSNorm -> Q,K,V matmuls -> RoPE -> store K,V in the cache ->
 * causal attention of every (token, head) over cells 0..pos -> output matmul + residual ->
 * RMSNorm -> gate/up matmuls -> SiLU(gate) * up -> down matmul + residual.  Then the final
 * norm and the output matmul for the rows whose logits are wanted.
 *
 * Batch invariance (the contract in engine.h): the matmul driver computes every output row of
 * every token with the same operations whatever the batch; norms, RoPE and SwiGLU are
 * elementwise per token; attention of a (token, head) is one task with a fixed order over the
 * cells, and the cells it reads were written by the same per-token computations.  Threads only
 * decide who computes a task, never how.
 */
#include "base.h"
#include "engine/model_int.h"
#include "engine/quant.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* ---- elementwise pieces --------------------------------------------------------------------- */

void eng__rmsnorm(float *y, const float *x, const float *w, int n, float eps)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    float mean = (float)(sum / n);
    float scale = 1.0f / sqrtf(mean + eps);
    for (int i = 0; i < n; i++)
        y[i] = (x[i] * scale) * w[i];
}

void eng__rope_apply(const struct eng_model *m, float *x, int p)
{
    const float *cs = m->rope_cs + (size_t)p * (size_t)m->hd;
    for (int i = 0; i < m->hd / 2; i++) {
        float c = cs[2 * i], s = cs[2 * i + 1];
        float x0 = x[2 * i], x1 = x[2 * i + 1];
        x[2 * i] = x0 * c - x1 * s;
        x[2 * i + 1] = x0 * s + x1 * c;
    }
}


/* ---- attention kernels -----------------------------------------------------------------------
 * q·k over hd elements with 16 lane accumulators (lane = i % 16, plain mul then add, never
 * fused: -std=c11 keeps GCC from contracting) and the fixed reduction tree eng__reduce16, so the
 * SIMD twins with 16-float registers give the same bits. */
float eng__attn_dot_f16_ref(const float *q, const uint16_t *k, int hd)
{
    float acc[16] = {0};
    for (int i = 0; i < hd; i++)
        acc[i & 15] += q[i] * eng__f16_to_f32(k[i]);
    return eng__reduce16(acc);
}

float eng__attn_dot_f32_ref(const float *q, const float *k, int hd)
{
    float acc[16] = {0};
    for (int i = 0; i < hd; i++)
        acc[i & 15] += q[i] * k[i];
    return eng__reduce16(acc);
}

void eng__attn_scores_f16_ref(const float *q, const uint16_t *k, size_t stride, int n, int hd,
                              float scale, float *out)
{
    for (int j = 0; j < n; j++)
        out[j] = eng__attn_dot_f16_ref(q, k + (size_t)j * stride, hd) * scale;
}

void eng__attn_scores_f32_ref(const float *q, const float *k, size_t stride, int n, int hd,
                              float scale, float *out)
{
    for (int j = 0; j < n; j++)
        out[j] = eng__attn_dot_f32_ref(q, k + (size_t)j * stride, hd) * scale;
}

float eng__attn_softmax_ref(float *s, int n)
{
    float mx = -INFINITY;
    for (int j = 0; j < n; j++)
        mx = s[j] > mx ? s[j] : mx;
    float acc[16] = {0};
    for (int j = 0; j < n; j++) {
        s[j] = eng__exp_neg(s[j] - mx);
        acc[j & 15] += s[j];
    }
    return eng__reduce16(acc);
}

void eng__attn_axpy_f16_ref(float *out, float p, const uint16_t *v, int hd)
{
    for (int i = 0; i < hd; i++)
        out[i] += p * eng__f16_to_f32(v[i]);
}

void eng__attn_axpy_f32_ref(float *out, float p, const float *v, int hd)
{
    for (int i = 0; i < hd; i++)
        out[i] += p * v[i];
}

void eng__attn_wsum_f16_ref(float *out, const float *p, const uint16_t *v, size_t stride, int n,
                            int hd)
{
    for (int i = 0; i < hd; i++)
        out[i] = 0.0f;
    for (int j = 0; j < n; j++)
        eng__attn_axpy_f16_ref(out, p[j], v + (size_t)j * stride, hd);
}

void eng__attn_wsum_f32_ref(float *out, const float *p, const float *v, size_t stride, int n,
                            int hd)
{
    for (int i = 0; i < hd; i++)
        out[i] = 0.0f;
    for (int j = 0; j < n; j++)
        eng__attn_axpy_f32_ref(out, p[j], v + (size_t)j * stride, hd);
}

void eng__swiglu_ref(float *g, const float *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] = g[i] / (1.0f + eng__exp_any(-g[i])) * u[i];
}

void eng__attn_scores4_f16_ref(const float *q, size_t qstride, int nq, const uint16_t *k,
                               size_t stride, int n, int hd, float scale, float *out,
                               size_t ostride)
{
    for (int i = 0; i < nq; i++)
        eng__attn_scores_f16_ref(q + (size_t)i * qstride, k, stride, n, hd, scale,
                                 out + (size_t)i * ostride);
}

void eng__attn_wsum4_f16_ref(float *out, size_t ostride, int nq, const float *p, size_t pstride,
                             const uint16_t *v, size_t stride, int n, int hd)
{
    for (int i = 0; i < nq; i++)
        eng__attn_wsum_f16_ref(out + (size_t)i * ostride, p + (size_t)i * pstride, v, stride, n,
                               hd);
}

void eng__attn_kern_get(struct eng__attn_kern *ak, int level)
{
    const struct eng__kern *K = eng__kern();
    if (level >= 2 && K->has_avx512)
        *ak = (struct eng__attn_kern){eng__attn_dot_f16_avx512,    eng__attn_dot_f32_avx512,
                                      eng__attn_scores_f16_avx512, eng__attn_scores_f32_avx512,
                                      eng__attn_softmax_avx512,    eng__attn_axpy_f16_avx512,
                                      eng__attn_axpy_f32_avx512,
                                      eng__attn_wsum_f16_avx512, eng__attn_wsum_f32_avx512,
                                      eng__swiglu_avx512, eng__attn_scores4_f16_avx512,
                                      eng__attn_wsum4_f16_avx512, "avx512"};
    else if (level >= 1 && K->has_avx2)
        *ak = (struct eng__attn_kern){eng__attn_dot_f16_avx2,    eng__attn_dot_f32_avx2,
                                      eng__attn_scores_f16_avx2, eng__attn_scores_f32_avx2,
                                      eng__attn_softmax_avx2,    eng__attn_axpy_f16_avx2,
                                      eng__attn_axpy_f32_avx2,
                                      eng__attn_wsum_f16_avx2, eng__attn_wsum_f32_avx2,
                                      eng__swiglu_avx2, eng__attn_scores4_f16_avx2,
                                      eng__attn_wsum4_f16_avx2, "avx2"};
    else
        *ak = (struct eng__attn_kern){eng__attn_dot_f16_ref,    eng__attn_dot_f32_ref,
                                      eng__attn_scores_f16_ref, eng__attn_scores_f32_ref,
                                      eng__attn_softmax_ref,    eng__attn_axpy_f16_ref,
                                      eng__attn_axpy_f32_ref,
                                      eng__attn_wsum_f16_ref, eng__attn_wsum_f32_ref,
                                      eng__swiglu_ref, eng__attn_scores4_f16_ref,
                                      eng__attn_wsum4_f16_ref, "ref"};
}

/* Attention of one (token t, head h) of layer l: att[t][h] = softmax(q·K^T * scale) V over
 * cells 0..pos.  `sc` is a scratch of at least pos+1 floats. */
static void attend_one(const struct eng_model *m, int l, int t, int h, int pos, float *sc)
{
    const struct eng__kv *kv = &m->kv;
    int hd = m->hd, hk = h / (m->n_head / m->n_head_kv);
    const float *q = m->q + (size_t)t * (size_t)m->Dq + (size_t)h * (size_t)hd;
    size_t koff = (size_t)hk * (size_t)hd * (kv->type == ENG_TYPE_F16 ? 2 : 4);
    const struct eng__attn_kern *ak = &m->ak;
    int f16 = kv->type == ENG_TYPE_F16;
    /* keys of head hk in cells 0..pos: one row of Dkv elements per cell */
    size_t stride = (size_t)m->Dkv;
    const void *k0 = (const char *)eng__kv_k(kv, l, 0) + koff;
    if (f16)
        ak->scores_f16(q, k0, stride, pos + 1, hd, m->kq_scale, sc);
    else
        ak->scores_f32(q, k0, stride, pos + 1, hd, m->kq_scale, sc);
    float inv = 1.0f / ak->softmax(sc, pos + 1);
    for (int j = 0; j <= pos; j++)
        sc[j] = sc[j] * inv;
    float *out = m->att + (size_t)t * (size_t)m->Dq + (size_t)h * (size_t)hd;
    const void *v0 = (const char *)eng__kv_v(kv, l, 0) + koff;
    if (f16)
        ak->wsum_f16(out, sc, v0, stride, pos + 1, hd);
    else
        ak->wsum_f32(out, sc, v0, stride, pos + 1, hd);
}

/* Attention of nq (2..4) consecutive tokens t0.. of head h with an F16 cache, sharing the loads
 * of the keys and values they all see (cells 0..p0+t0); each token's scores, softmax and
 * weighted sum are the exact operations attend_one would run.  `sc` holds 4 rows of n_ctx. */
static void attend_block(const struct eng_model *m, int l, int t0, int nq, int h, int p0,
                         float *sc)
{
    const struct eng__kv *kv = &m->kv;
    const struct eng__attn_kern *ak = &m->ak;
    int hd = m->hd, hk = h / (m->n_head / m->n_head_kv), common = p0 + t0 + 1;
    size_t stride = (size_t)m->Dkv, ss = (size_t)kv->n_ctx, dq = (size_t)m->Dq;
    const uint16_t *k0 = (const uint16_t *)eng__kv_k(kv, l, 0) + (size_t)hk * (size_t)hd;
    const uint16_t *v0 = (const uint16_t *)eng__kv_v(kv, l, 0) + (size_t)hk * (size_t)hd;
    const float *q = m->q + (size_t)t0 * dq + (size_t)h * (size_t)hd;
    float *out = m->att + (size_t)t0 * dq + (size_t)h * (size_t)hd;
    ak->scores4_f16(q, dq, nq, k0, stride, common, hd, m->kq_scale, sc, ss);
    for (int i = 1; i < nq; i++) /* the cells only the later tokens see */
        ak->scores_f16(q + (size_t)i * dq, k0 + (size_t)common * stride, stride, i, hd,
                       m->kq_scale, sc + (size_t)i * ss + (size_t)common);
    for (int i = 0; i < nq; i++) {
        float *si = sc + (size_t)i * ss;
        float inv = 1.0f / ak->softmax(si, common + i);
        for (int j = 0; j < common + i; j++)
            si[j] = si[j] * inv;
    }
    ak->wsum4_f16(out, dq, nq, sc, ss, v0, stride, common, hd);
    for (int i = 1; i < nq; i++)
        for (int j = common; j < common + i; j++)
            ak->axpy_f16(out + (size_t)i * dq, sc[(size_t)i * ss + (size_t)j],
                         v0 + (size_t)j * stride, hd);
}

/* ---- parallel helpers ----------------------------------------------------------------------- */

struct attn_job {
    struct eng_model *m;
    int l, n, p0;
};

static void attn_task(void *arg, int ith, int nth)
{
    struct attn_job *j = arg;
    struct eng_model *m = j->m;
    float *sc = m->scores + (size_t)ith * 4 * (size_t)m->kv.n_ctx;
    int tasks = j->n * m->n_head;
    /* Head-major contiguous ranges: a thread runs the tokens of one head one after the other,
     * so that head's cached keys and values stay in its caches.  The work of a task does not
     * depend on who runs it. */
    int k0 = (int)((int64_t)tasks * ith / nth), k1 = (int)((int64_t)tasks * (ith + 1) / nth);
    for (int k = k0; k < k1;) {
        int h = k / j->n, t = k % j->n;
        int nq = SK_MIN(4, SK_MIN(j->n - t, k1 - k));
        if (nq > 1 && m->kv.type == ENG_TYPE_F16) {
            attend_block(m, j->l, t, nq, h, j->p0, sc);
            k += nq;
        } else {
            attend_one(m, j->l, t, h, j->p0 + t, sc);
            k++;
        }
    }
}

/* Elementwise work of a batch split over the pool: RMSNorm of rows (one token per task unit)
 * or SwiGLU of a flat range cut at multiples of 16.  Each element is computed the same way
 * whoever computes it. */
struct ew_job {
    struct eng_model *m;
    int kind; /* 0 rmsnorm rows, 1 swiglu */
    float *y;
    const float *x, *w;
    int n; /* rows (rmsnorm) */
    size_t len; /* elements (swiglu) */
};

static void ew_task(void *arg, int ith, int nth)
{
    struct ew_job *j = arg;
    struct eng_model *m = j->m;
    if (j->kind == 0) {
        for (int t = ith; t < j->n; t += nth)
            eng__rmsnorm(j->y + (size_t)t * (size_t)m->E, j->x + (size_t)t * (size_t)m->E, j->w,
                         m->E, m->rms_eps);
    } else {
        size_t blocks = (j->len + 15) / 16;
        size_t b0 = blocks * (size_t)ith / (size_t)nth * 16, b1 = blocks * (size_t)(ith + 1) / (size_t)nth * 16;
        if (b1 > j->len)
            b1 = j->len;
        if (b0 < b1)
            m->ak.swiglu(j->y + b0, j->x + b0, b1 - b0);
    }
}

static void norm_rows(struct eng_model *m, float *y, const float *x, const float *w, int n)
{
    if (n == 1) {
        eng__rmsnorm(y, x, w, m->E, m->rms_eps);
        return;
    }
    struct ew_job j = {m, 0, y, x, w, n, 0};
    eng_pool_run(m->pool, ew_task, &j);
}

/* y[n][W->ne[1]] = x[n][W->ne[0]] · W^T, batch-invariant (the kernel driver).  Shapes and
 * types were checked at load and the scratch sized for the widest input, so it cannot fail. */
static void mm(struct eng_model *m, const struct eng_tensor *W, const float *x, int n, float *y)
{
    int rc = eng_matmul(m->pool, W, x, (size_t)W->ne[0], n, y, (size_t)W->ne[1], &m->mm);
    (void)rc;
    assert(rc == 0);
}

static int cancelled(const struct eng_model *m)
{
    return m->cancel && atomic_load_explicit(m->cancel, memory_order_relaxed);
}

/* ---- the pass ------------------------------------------------------------------------------- */

int eng_model_eval(struct eng_model *m, const int32_t *tokens, int n, enum eng_logits mode)
{
    const int E = m->E, Dq = m->Dq, Dkv = m->Dkv, F = m->F, hd = m->hd;
    int p0 = m->kv.len;
    if (n < 1 || n > m->prm.n_batch || !tokens)
        return ENG_EINVAL;
    if (mode != ENG_LOGITS_NONE && mode != ENG_LOGITS_LAST && mode != ENG_LOGITS_ALL)
        return ENG_EINVAL;
    if (mode == ENG_LOGITS_ALL && n > m->prm.n_outputs)
        return ENG_EINVAL;
    for (int t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= m->V)
            return ENG_EINVAL;
    if (n > m->kv.n_ctx - p0)
        return ENG_ECONTEXT;
    if (cancelled(m))
        return ENG_ECANCELLED;

    /* embeddings: dequantise the token's row of token_embd */
    const struct eng__kern *K = eng__kern();
    size_t erow = eng_type_row_size(m->tok_embd.type, E);
    for (int t = 0; t < n; t++)
        K->t[m->tok_embd.type].dequantize((const char *)m->tok_embd.data + (size_t)tokens[t] * erow,
                                          m->x + (size_t)t * E, E);

    for (int l = 0; l < m->n_layer; l++) {
        const struct eng__layer *L = &m->layers[l];
        if (cancelled(m))
            return ENG_ECANCELLED;
        norm_rows(m, m->xn, m->x, L->attn_norm.data, n);
        mm(m, &L->wq, m->xn, n, m->q);
        mm(m, &L->wk, m->xn, n, m->k);
        mm(m, &L->wv, m->xn, n, m->v);
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < m->n_head; h++)
                eng__rope_apply(m, m->q + (size_t)t * Dq + (size_t)h * hd, p0 + t);
            for (int h = 0; h < m->n_head_kv; h++)
                eng__rope_apply(m, m->k + (size_t)t * Dkv + (size_t)h * hd, p0 + t);
            eng__kv_store(&m->kv, eng__kv_k(&m->kv, l, p0 + t), m->k + (size_t)t * Dkv, Dkv);
            eng__kv_store(&m->kv, eng__kv_v(&m->kv, l, p0 + t), m->v + (size_t)t * Dkv, Dkv);
        }
        struct attn_job job = {m, l, n, p0};
        /* small attention (decode at a short context): a pool dispatch costs more than it */
        if ((int64_t)n * m->n_head * (p0 + n) * hd < (1 << 16))
            attn_task(&job, 0, 1);
        else
            eng_pool_run(m->pool, attn_task, &job);
        mm(m, &L->wo, m->att, n, m->xn);
        for (size_t i = 0; i < (size_t)n * E; i++)
            m->x[i] += m->xn[i];

        norm_rows(m, m->xn, m->x, L->ffn_norm.data, n);
        mm(m, &L->w_gate, m->xn, n, m->gate);
        mm(m, &L->w_up, m->xn, n, m->up);
        if ((size_t)n * (size_t)F <= 16384) { /* decode: cheaper than a pool dispatch */
            m->ak.swiglu(m->gate, m->up, (size_t)n * (size_t)F);
        } else {
            struct ew_job sw = {m, 1, m->gate, m->up, NULL, 0, (size_t)n * (size_t)F};
            eng_pool_run(m->pool, ew_task, &sw);
        }
        mm(m, &L->w_down, m->gate, n, m->xn);
        for (size_t i = 0; i < (size_t)n * E; i++)
            m->x[i] += m->xn[i];
    }

    /* commit the cells: from here on the call cannot fail */
    for (int t = 0; t < n; t++)
        m->kv.tokens[p0 + t] = tokens[t];
    m->kv.len = p0 + n;

    m->n_logits = 0;
    if (mode == ENG_LOGITS_NONE)
        return 0;
    int first = mode == ENG_LOGITS_LAST ? n - 1 : 0, rows = n - first;
    for (int r = 0; r < rows; r++)
        eng__rmsnorm(m->xn + (size_t)r * E, m->x + (size_t)(first + r) * E, m->out_norm.data, E,
                     m->rms_eps);
    mm(m, &m->output, m->xn, rows, m->logits);
    m->n_logits = rows;
    return 0;
}

const float *eng_model_logits(const struct eng_model *m, int i)
{
    if (i < 0 || i >= m->n_logits)
        return NULL;
    return m->logits + (size_t)i * (size_t)m->V;
}

int eng_model_n_logits(const struct eng_model *m) { return m->n_logits; }

int eng_model_prompt(struct eng_model *m, const int32_t *toks, int n, int *reused)
{
    if (n < 1 || !toks)
        return ENG_EINVAL;
    int keep = eng_kv_common_prefix(m, toks, n);
    if (keep > n - 1)
        keep = n - 1;
    m->kv.len = keep;
    if (reused)
        *reused = keep;
    for (int i = keep; i < n;) {
        int c = SK_MIN(n - i, m->prm.n_batch);
        int rc = eng_model_eval(m, toks + i, c, i + c == n ? ENG_LOGITS_LAST : ENG_LOGITS_NONE);
        if (rc)
            return rc;
        i += c;
    }
    return 0;
}
