/*
 * The KV cache of a model: one linear run of cells per layer, cell i = position i, with the
 * token of every cell recorded.  Truncation (rollback), prefix matching and the key shift used
 * by chunk reuse are O(cells touched); nothing here allocates after eng__kv_init.
 *
 * Rollback is exact by construction: eval writes cells len..len+n-1 and attention of a token
 * at position p reads cells 0..p only, so cells at or beyond len are never read before being
 * rewritten, and truncating to n leaves exactly the state of having evaluated n tokens.
 */
#include "base.h"
#include "engine/model_int.h"
#include "engine/quant.h"

#include <errno.h>
#include <math.h>
#include <string.h>

int eng__kv_init(struct eng__kv *kv, int type, int n_layer, int n_ctx, int Dkv)
{
    memset(kv, 0, sizeof *kv);
    if (type != ENG_TYPE_F16 && type != ENG_TYPE_F32)
        return ENG_EINVAL;
    kv->type = type;
    kv->n_ctx = n_ctx;
    kv->row_bytes = (size_t)Dkv * (type == ENG_TYPE_F16 ? 2 : 4);
    size_t bytes = kv->row_bytes * (size_t)n_ctx * (size_t)n_layer;
    /* Not cleared: cells at or beyond len are never read (see the rollback note above), and a
     * 16K-token cache of a large model is gigabytes that the OS then maps in only as the
     * context fills up (sk_calloc would touch every page at load). */
    kv->k = sk_malloc(bytes);
    kv->v = sk_malloc(bytes);
    kv->tokens = sk_calloc((size_t)n_ctx, sizeof *kv->tokens);
    if (!kv->k || !kv->v || !kv->tokens) {
        eng__kv_free(kv);
        return -ENOMEM;
    }
    return 0;
}

void eng__kv_free(struct eng__kv *kv)
{
    sk_free(kv->k);
    sk_free(kv->v);
    sk_free(kv->tokens);
    memset(kv, 0, sizeof *kv);
}

void eng__kv_store(const struct eng__kv *kv, void *row, const float *src, int n)
{
    if (kv->type == ENG_TYPE_F32) {
        memcpy(row, src, (size_t)n * sizeof(float));
        return;
    }
    eng_fp32_to_fp16_row(src, row, n);
}

static void kv_load(const struct eng__kv *kv, const void *row, float *dst, int n)
{
    if (kv->type == ENG_TYPE_F32) {
        memcpy(dst, row, (size_t)n * sizeof(float));
        return;
    }
    eng_fp16_to_fp32_row(row, dst, n);
}

int eng_kv_len(const struct eng_model *m) { return m->kv.len; }

const int32_t *eng_kv_tokens(const struct eng_model *m) { return m->kv.tokens; }

void eng_kv_clear(struct eng_model *m) { m->kv.len = 0; }

int eng_kv_truncate(struct eng_model *m, int n)
{
    if (n < 0 || n > m->kv.len)
        return ENG_EINVAL;
    m->kv.len = n;
    return 0;
}

int eng_kv_common_prefix(const struct eng_model *m, const int32_t *toks, int n)
{
    int lim = SK_MIN(n, m->kv.len), i = 0;
    while (i < lim && m->kv.tokens[i] == toks[i])
        i++;
    return i;
}

int eng_kv_read(const struct eng_model *m, int layer, int cell, int which_v, float *out)
{
    if (layer < 0 || layer >= m->n_layer || cell < 0 || cell >= m->kv.len)
        return ENG_EINVAL;
    const void *row = which_v ? eng__kv_v(&m->kv, layer, cell) : eng__kv_k(&m->kv, layer, cell);
    kv_load(&m->kv, row, out, m->Dkv);
    return 0;
}

/* Rotation by the angle of a signed position delta d: the table holds cos/sin of positions
 * 0..C-1, and the rotation by -d is the transpose of the rotation by d. */
static void rotate_delta(const struct eng_model *m, float *x, int d)
{
    int ad = d < 0 ? -d : d;
    const float *cs = m->rope_cs + (size_t)ad * (size_t)m->hd;
    float sgn = d < 0 ? -1.0f : 1.0f;
    for (int i = 0; i < m->hd / 2; i++) {
        float c = cs[2 * i], s = sgn * cs[2 * i + 1];
        float x0 = x[2 * i], x1 = x[2 * i + 1];
        x[2 * i] = x0 * c - x1 * s;
        x[2 * i + 1] = x0 * s + x1 * c;
    }
}

void eng_rope_rerotate(const struct eng_model *m, float *x, int p, int q)
{
    int d = q - p;
    if (d == 0)
        return;
    if (d >= m->kv.n_ctx || -d >= m->kv.n_ctx) {
        /* beyond the table: compute the angles directly (same formula as the table) */
        double base = m->hp.rope_freq_base, fs = m->hp.rope_freq_scale;
        for (int i = 0; i < m->hd / 2; i++) {
            double th = fs * (double)d * pow(base, -2.0 * i / m->hd);
            float c = (float)cos(th), s = (float)sin(th);
            float x0 = x[2 * i], x1 = x[2 * i + 1];
            x[2 * i] = x0 * c - x1 * s;
            x[2 * i + 1] = x0 * s + x1 * c;
        }
        return;
    }
    rotate_delta(m, x, d);
}

int eng_kv_shift(struct eng_model *m, int src, int dst, int n)
{
    struct eng__kv *kv = &m->kv;
    if (n < 0 || dst < 0 || src < dst || src > kv->len || n > kv->len - src)
        return ENG_EINVAL;
    if (src == dst || n == 0) {
        kv->len = dst + n;
        return 0;
    }
    /* the scratch row: the first token's q buffer is big enough (Dq >= Dkv) */
    float *tmp = m->q;
    for (int l = 0; l < m->n_layer; l++) {
        for (int c = 0; c < n; c++) {
            kv_load(kv, eng__kv_k(kv, l, src + c), tmp, m->Dkv);
            for (int h = 0; h < m->n_head_kv; h++)
                rotate_delta(m, tmp + (size_t)h * (size_t)m->hd, dst - src);
            eng__kv_store(kv, eng__kv_k(kv, l, dst + c), tmp, m->Dkv);
            memmove(eng__kv_v(kv, l, dst + c), eng__kv_v(kv, l, src + c), kv->row_bytes);
        }
    }
    memmove(kv->tokens + dst, kv->tokens + src, (size_t)n * sizeof *kv->tokens);
    kv->len = dst + n;
    return 0;
}
