/*
 * The matmul driver: y = W x for one weight (rows in the mmapped file) and 1..N activation rows.
 * Workload: decode (1 token: memory-bound, one pass over W), speculative verification and typed
 * chunks (2..32 tokens: should cost little more than one pass), prompt chunks (hundreds).
 *
 * Activations are quantised once into the caller's scratch (kind chosen by the weight type),
 * then the rows of W are split over the pool's threads in contiguous ranges.  Each thread walks
 * tiles of TILE_R rows; for every group of up to ENG__NT_MAX (17) tokens it calls the type's dot
 * kernel once per row, which loads the weight row once for all the tokens of the group.  The
 * kernel's per-token arithmetic does not depend on the group size (quant.h), and the split only
 * decides who computes an element, never how: the result is bit-identical for every batch size
 * and thread count.
 */
#include "base.h"
#include "engine/quant.h"

#include <errno.h>

#define TILE_R 16

static size_t scratch_row(int64_t cols)
{
    int64_t n = (cols + ENG__QK_K - 1) / ENG__QK_K * ENG__QK_K;
    size_t m = 0;
    for (int k = ENG__ACT_F32; k <= ENG__ACT_Q8_K; k++) {
        size_t r = eng__act_row_size((enum eng__act)k, n);
        if (r > m)
            m = r;
    }
    return m;
}

int eng_mm_scratch_init(struct eng_mm_scratch *s, int64_t max_cols, int max_tokens)
{
    memset(s, 0, sizeof *s);
    if (max_cols < 1 || max_tokens < 1 || max_cols > ((int64_t)1 << 30) || max_tokens > (1 << 20))
        return ENG_EINVAL;
    size_t size = scratch_row(max_cols) * (size_t)max_tokens;
    s->mem = sk_malloc(size + 64);
    if (!s->mem)
        return -ENOMEM;
    s->buf = (void *)(((uintptr_t)s->mem + 63) & ~(uintptr_t)63);
    s->size = size;
    s->max_cols = max_cols;
    s->max_tokens = max_tokens;
    return 0;
}

void eng_mm_scratch_free(struct eng_mm_scratch *s)
{
    if (!s)
        return;
    sk_free(s->mem);
    memset(s, 0, sizeof *s);
}

struct mm_job {
    eng__dot_fn dot;
    const char *w;     /* row r at w + r * wrow */
    size_t wrow;       /* bytes per weight row */
    int64_t rows, cols;
    const char *act;   /* token t at act + t * astride */
    size_t astride;
    int n_tokens;
    float *y;
    size_t ldy;
};

static void mm_worker(void *arg, int ith, int nth)
{
    const struct mm_job *j = arg;
    /* Contiguous row ranges, tile-aligned so threads never share a tile. */
    int64_t tiles = (j->rows + TILE_R - 1) / TILE_R;
    int64_t r0 = tiles * ith / nth * TILE_R, r1 = tiles * (ith + 1) / nth * TILE_R;
    if (r1 > j->rows)
        r1 = j->rows;
    float out[ENG__NT_MAX];
    for (int64_t rt = r0; rt < r1; rt += TILE_R) {
        int64_t re = rt + TILE_R < r1 ? rt + TILE_R : r1;
        for (int t0 = 0; t0 < j->n_tokens; t0 += ENG__NT_MAX) {
            int nt = j->n_tokens - t0 < ENG__NT_MAX ? j->n_tokens - t0 : ENG__NT_MAX;
            const char *a = j->act + (size_t)t0 * j->astride;
            for (int64_t r = rt; r < re; r++) {
                j->dot(j->cols, j->w + (size_t)r * j->wrow, a, j->astride, nt, out);
                for (int t = 0; t < nt; t++)
                    j->y[(size_t)(t0 + t) * j->ldy + (size_t)r] = out[t];
            }
        }
    }
}

int eng__matmul_k(const struct eng__kern *k, struct eng_pool *pool, const struct eng_tensor *w,
                  const float *x, size_t ldx, int n_tokens, float *y, size_t ldy,
                  struct eng_mm_scratch *s)
{
    if ((int)w->type < 0 || w->type >= ENG_TYPE__COUNT || !k->t[w->type].dot)
        return ENG_EUNSUPPORTED;
    const struct eng__type_kern *tk = &k->t[w->type];
    int64_t cols = w->ne[0], rows = w->n_dims >= 2 ? w->ne[1] : 1;
    size_t wrow = eng_type_row_size((int)w->type, cols);
    if (cols < 1 || rows < 1 || wrow == 0 || !w->data)
        return ENG_ESHAPE;
    if (w->nbytes && w->nbytes < wrow * (size_t)rows)
        return ENG_ESHAPE;
    if (n_tokens < 1 || ldx < (size_t)cols || ldy < (size_t)rows || !x || !y)
        return ENG_EINVAL;
    struct mm_job j = {tk->dot, w->data, wrow, rows, cols, NULL, 0, n_tokens, y, ldy};
    {
        size_t arow = eng__act_row_size(tk->act, cols);
        if (!s || !s->buf || arow == 0 || cols > s->max_cols || n_tokens > s->max_tokens ||
            arow * (size_t)n_tokens > s->size)
            return ENG_EINVAL;
        for (int t = 0; t < n_tokens; t++)
            k->quant_act[tk->act](x + (size_t)t * ldx, (char *)s->buf + (size_t)t * arow, cols);
        j.act = s->buf;
        j.astride = arow;
    }
    eng_pool_run(pool, mm_worker, &j);
    return 0;
}

int eng_matmul(struct eng_pool *pool, const struct eng_tensor *w, const float *x, size_t ldx,
               int n_tokens, float *y, size_t ldy, struct eng_mm_scratch *s)
{
    return eng__matmul_k(eng__kern(), pool, w, x, ldx, n_tokens, y, ldy, s);
}
