/* Dot products, activation quantisers and the matmul driver.
 * Named tolerances:
 *   TOL_SIMD_VS_REF = 0: every SIMD variant must reproduce its _ref bit for bit (same exact
 *     integer partial sums, same float ops in the same order, quant.h ACCUMULATION ORDER).
 *   TOL_REF_VS_EXACT = 2e-6 relative to sum|w_i x_i|: the _ref dot against a double-precision
 *     dot of the dequantised weight and the dequantised activation (only float rounding of the
 *     per-block scale products and the accumulation separates them).
 *   Batch and thread-count invariance: bit-exact. */
#include "base.h"
#include "engine/quant.h"
#include "tests/test.h"

#include <math.h>

#define TOL_SIMD_VS_REF 0.0
#define TOL_REF_VS_EXACT 2e-6

static const int dot_types[] = {ENG_TYPE_F32,  ENG_TYPE_F16,  ENG_TYPE_BF16, ENG_TYPE_Q4_0,
                                ENG_TYPE_Q4_1, ENG_TYPE_Q5_0, ENG_TYPE_Q5_1, ENG_TYPE_Q8_0,
                                ENG_TYPE_Q2_K, ENG_TYPE_Q3_K, ENG_TYPE_Q4_K, ENG_TYPE_Q5_K,
                                ENG_TYPE_Q6_K};

static void fill(float *x, int64_t n, uint32_t seed, float scale)
{
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        float v = 0;
        for (int k = 0; k < 3; k++) {
            s = s * 1664525u + 1013904223u;
            v += (float)(s >> 8) / 16777216.0f - 0.5f;
        }
        x[i] = v * scale * (i % 61 == 0 ? 5.0f : 1.0f);
    }
}

static void *xalloc(size_t n)
{
    void *p = sk_malloc(n + 64);
    ASSERT(p);
    return p;
}

/* Quantised weight matrix rows x cols of `type` from random data. */
static uint8_t *make_weight(int type, int64_t rows, int64_t cols, uint32_t seed)
{
    size_t rb = eng_type_row_size(type, cols);
    uint8_t *w = xalloc(rb * (size_t)rows);
    float *tmp = xalloc((size_t)cols * 4);
    for (int64_t r = 0; r < rows; r++) {
        fill(tmp, cols, seed + (uint32_t)r, 1.0f);
        ASSERT_EQ(eng_quantize_row(type, tmp, w + rb * (size_t)r, cols), 0);
    }
    sk_free(tmp);
    return w;
}

/* Activation row t dequantised (what the kernel multiplies by). */
static void act_values(enum eng__act kind, const void *a, int64_t n, double *out)
{
    if (kind == ENG__ACT_F32) {
        for (int64_t i = 0; i < n; i++)
            out[i] = ((const float *)a)[i];
        return;
    }
    int blk = kind == ENG__ACT_Q8_K ? ENG__QK_K : ENG__QK;
    const int8_t *q = a;
    const float *d = eng__act_d(a, n);
    for (int64_t i = 0; i < n; i++) {
        size_t pos = kind == ENG__ACT_Q8_K ? (size_t)i : eng__act_qpos(i / ENG__QK, (int)(i % ENG__QK));
        int64_t db = kind == ENG__ACT_Q8_K ? i / blk : eng__act_bslot(i / blk);
        out[i] = (double)q[pos] * (double)d[db];
    }
}

static int64_t cols_for(int type, int variant)
{
    int64_t blck = eng_type_info(type)->blck;
    if (blck == 1)
        return variant ? 517 : 512; /* float types take any n: tails */
    if (blck == 32)
        return variant ? 32 * 37 : 32 * 16; /* partial group of 16 and partial quad */
    return variant ? 256 * 3 : 256 * 2;
}

TEST(kern_ref_dot_matches_dequantised_dot)
{
    const struct eng__kern *K = eng__kern();
    for (size_t ti = 0; ti < SK_ARRAY_LEN(dot_types); ti++)
        for (int v = 0; v < 2; v++) {
            int type = dot_types[ti];
            int64_t n = cols_for(type, v);
            const struct eng__type_kern *tk = &K->t[type];
            uint8_t *w = make_weight(type, 1, n, 11 + (uint32_t)ti);
            size_t ar = eng__act_row_size(tk->act, n);
            uint8_t *act = xalloc(ar * 3);
            float *x = xalloc((size_t)n * 4);
            float *wd = xalloc((size_t)n * 4);
            double *xa = xalloc((size_t)n * 8);
            ASSERT_EQ(eng_dequantize_row(type, w, wd, n), 0);
            for (int t = 0; t < 3; t++) {
                fill(x, n, 100 + (uint32_t)t, t == 2 ? 1e-3f : 2.0f);
                K->quant_act_ref[tk->act](x, act + ar * (size_t)t, n);
            }
            float out[3];
            tk->dot_ref(n, w, act, ar, 3, out);
            for (int t = 0; t < 3; t++) {
                act_values(tk->act, act + ar * (size_t)t, n, xa);
                double exact = 0, mag = 0;
                for (int64_t i = 0; i < n; i++) {
                    exact += (double)wd[i] * xa[i];
                    mag += fabs((double)wd[i] * xa[i]);
                }
                ASSERT_MSG(fabs((double)out[t] - exact) <= TOL_REF_VS_EXACT * mag,
                           "%s n=%lld t=%d: %.9g vs %.9g (mag %.3g)", eng_type_info(type)->name,
                           (long long)n, t, (double)out[t], exact, mag);
            }
            sk_free(w);
            sk_free(act);
            sk_free(x);
            sk_free(wd);
            sk_free(xa);
        }
}

TEST(kern_act_quantisers_reconstruct)
{
    const struct eng__kern *K = eng__kern();
    enum { N = 1024 };
    static float x[N];
    static double xv[N];
    fill(x, N, 5, 3.0f);
    x[3] = 0; /* an all-zero block below */
    for (int i = 64; i < 96; i++)
        x[i] = 0;
    for (int kind = ENG__ACT_Q8_0; kind <= ENG__ACT_Q8_K; kind++) {
        size_t ar = eng__act_row_size((enum eng__act)kind, N);
        uint8_t *a = xalloc(ar);
        K->quant_act_ref[kind](x, a, N);
        act_values((enum eng__act)kind, a, N, xv);
        int blk = kind == ENG__ACT_Q8_K ? ENG__QK_K : ENG__QK;
        const float *d = eng__act_d(a, N);
        for (int i = 0; i < N; i++) {
            int64_t db = kind == ENG__ACT_Q8_K ? i / blk : eng__act_bslot(i / blk);
            ASSERT_MSG(fabs(xv[i] - (double)x[i]) <= 0.5001 * (double)d[db], "kind %d i %d", kind, i);
        }
        const int8_t *q = (const int8_t *)a;
        if (kind != ENG__ACT_Q8_K)
            for (int b = 0; b < N / 32; b++) {
                int s = 0;
                for (int j = 0; j < 32; j++)
                    s += q[eng__act_qpos(b, j)];
                int64_t k = eng__act_bslot(b);
                ASSERT_EQ(eng__act_isum(a, N)[k], s);
                if (kind == ENG__ACT_Q8_1)
                    ASSERT(eng__act_s(a, N)[k] == d[k] * (float)s);
            }
        if (kind == ENG__ACT_Q8_K)
            for (int g = 0; g < N / 16; g++) {
                int s = 0;
                for (int j = 0; j < 16; j++)
                    s += q[16 * g + j];
                ASSERT_EQ(eng__act_bsums(a, N)[g], s);
            }
        sk_free(a);
    }
}

/* Every ISA level this CPU has, against the reference, bit for bit. */
TEST(kern_simd_variants_bit_exact_vs_ref)
{
    static struct eng__kern ref, lv[2];
    eng__kern_build(&ref, 0);
    int got[2] = {eng__kern_build(&lv[0], 1), eng__kern_build(&lv[1], 2)};
    for (int L = 0; L < 2; L++) {
        if (got[L] != L + 1)
            continue; /* CPU lacks this level */
        const struct eng__kern *K = &lv[L];
        /* activation quantisers */
        for (int kind = ENG__ACT_F32; kind <= ENG__ACT_Q8_K; kind++)
            for (int v = 0; v < 2; v++) {
                int64_t n = v ? 256 * 5 : 256;
                size_t ar = eng__act_row_size((enum eng__act)kind, n);
                uint8_t *a = xalloc(ar), *b = xalloc(ar);
                float *x = xalloc((size_t)n * 4);
                fill(x, n, 77 + (uint32_t)v, v ? 100.0f : 0.01f);
                memset(a, 0, ar);
                memset(b, 0, ar);
                ref.quant_act_ref[kind](x, a, n);
                K->quant_act[kind](x, b, n);
                ASSERT_MSG(memcmp(a, b, ar) == 0, "level %d act kind %d n %lld", L + 1, kind, (long long)n);
                sk_free(a);
                sk_free(b);
                sk_free(x);
            }
        /* dot products, every nt */
        for (size_t ti = 0; ti < SK_ARRAY_LEN(dot_types); ti++)
            for (int v = 0; v < 2; v++) {
                int type = dot_types[ti];
                int64_t n = cols_for(type, v);
                const struct eng__type_kern *tk = &K->t[type];
                uint8_t *w = make_weight(type, 1, n, 21 + (uint32_t)ti);
                size_t ar = eng__act_row_size(tk->act, n);
                uint8_t *act = xalloc(ar * ENG__NT_MAX);
                float *x = xalloc((size_t)n * 4);
                for (int t = 0; t < ENG__NT_MAX; t++) {
                    fill(x, n, 300 + (uint32_t)t, (float)(t + 1));
                    ref.quant_act_ref[tk->act](x, act + ar * (size_t)t, n);
                }
                float want[ENG__NT_MAX], out[ENG__NT_MAX];
                tk->dot_ref(n, w, act, ar, ENG__NT_MAX, want);
                for (int nt = 1; nt <= ENG__NT_MAX; nt++) {
                    tk->dot(n, w, act, ar, nt, out);
                    for (int t = 0; t < nt; t++)
                        ASSERT_MSG(fabs((double)out[t] - (double)want[t]) <= TOL_SIMD_VS_REF &&
                                       memcmp(&out[t], &want[t], 4) == 0,
                                   "%s (%s) n=%lld nt=%d t=%d: %.9g vs ref %.9g",
                                   eng_type_info(type)->name, tk->dot_isa, (long long)n, nt, t,
                                   (double)out[t], (double)want[t]);
                }
                sk_free(w);
                sk_free(act);
                sk_free(x);
            }
        /* f16 row conversions */
        uint16_t h[37], h2[37];
        float f[37], f2[37];
        fill(f, 37, 9, 1000.0f);
        f[5] = 1e-7f; /* subnormal in f16 */
        ref.f32_to_f16_row(f, h, 37);
        K->f32_to_f16_row(f, h2, 37);
        ASSERT_MEM_EQ(h, h2, sizeof h);
        ref.f16_to_f32_row(h, f, 37);
        K->f16_to_f32_row(h, f2, 37);
        ASSERT_MEM_EQ(f, f2, sizeof f);
        /* f16 axpy */
        float y1[37], y2[37];
        fill(y1, 37, 10, 3.0f);
        memcpy(y2, y1, sizeof y1);
        ref.f16_axpy(37, 0.3f, h, y1);
        K->f16_axpy(37, 0.3f, h, y2);
        ASSERT_MEM_EQ(y1, y2, sizeof y1);
        float y3[37];
        fill(y3, 37, 10, 3.0f);
        for (int i = 0; i < 37; i++) /* the definition: one fused multiply-add per element */
            ASSERT(y1[i] == fmaf(0.3f, eng_fp16_to_fp32(h[i]), y3[i]));
    }
}

/* y for n tokens computed one token at a time must equal every batched evaluation. */
static void check_batch_invariance(const struct eng__kern *K, struct eng_pool *pool, int type,
                                   int64_t rows, int64_t cols, int max_tokens)
{
    uint8_t *w = make_weight(type, rows, cols, 1000 + (uint32_t)type);
    struct eng_tensor t = {.name = "w", .type = type, .n_dims = 2, .ne = {cols, rows, 1, 1},
                           .nbytes = eng_type_row_size(type, cols) * (size_t)rows, .data = w};
    float *x = xalloc((size_t)(cols * max_tokens) * 4);
    float *one = xalloc((size_t)(rows * max_tokens) * 4);
    float *y = xalloc((size_t)(rows * max_tokens) * 4);
    fill(x, cols * max_tokens, 4242, 1.5f);
    struct eng_mm_scratch s;
    ASSERT_EQ(eng_mm_scratch_init(&s, cols, max_tokens), 0);
    for (int tk = 0; tk < max_tokens; tk++)
        ASSERT_EQ(eng__matmul_k(K, pool, &t, x + cols * tk, (size_t)cols, 1, one + rows * tk,
                                (size_t)rows, &s), 0);
    for (int k = 2; k <= max_tokens; k++) {
        int off = (k * 7) % (max_tokens - k + 1); /* batches start at various tokens */
        memset(y, 0xff, (size_t)(rows * k) * 4);
        ASSERT_EQ(eng__matmul_k(K, pool, &t, x + cols * off, (size_t)cols, k, y, (size_t)rows, &s), 0);
        for (int64_t i = 0; i < rows * k; i++)
            ASSERT_MSG(memcmp(&y[i], &one[rows * off + i], 4) == 0,
                       "%s batch %d token %lld row %lld: %.9g vs alone %.9g",
                       eng_type_info(type)->name, k, (long long)(i / rows), (long long)(i % rows),
                       (double)y[i], (double)one[rows * off + i]);
    }
    eng_mm_scratch_free(&s);
    sk_free(w);
    sk_free(x);
    sk_free(one);
    sk_free(y);
}

TEST_T(kern_matmul_batch_invariance_every_type, 300)
{
    struct eng_pool *pool;
    ASSERT_EQ(eng_pool_new(2, &pool), 0);
    for (size_t ti = 0; ti < SK_ARRAY_LEN(dot_types); ti++)
        check_batch_invariance(eng__kern(), pool, dot_types[ti], 37, cols_for(dot_types[ti], 1), 32);
    eng_pool_delete(pool);
}

TEST_T(kern_matmul_thread_count_and_isa_invariance, 300)
{
    static struct eng__kern ks[3];
    for (int L = 0; L < 3; L++)
        eng__kern_build(&ks[L], L);
    struct eng_pool *pools[3];
    for (int p = 0; p < 3; p++)
        ASSERT_EQ(eng_pool_new(p + 1, &pools[p]), 0);
    enum { ROWS = 53, TOK = 9 };
    for (size_t ti = 0; ti < SK_ARRAY_LEN(dot_types); ti++) {
        int type = dot_types[ti];
        int64_t cols = cols_for(type, 0);
        uint8_t *w = make_weight(type, ROWS, cols, 77);
        struct eng_tensor t = {.name = "w", .type = type, .n_dims = 2, .ne = {cols, ROWS, 1, 1},
                               .nbytes = eng_type_row_size(type, cols) * ROWS, .data = w};
        float *x = xalloc((size_t)cols * TOK * 4);
        fill(x, cols * TOK, 99, 1.0f);
        static float y0[ROWS * TOK], y1[ROWS * TOK];
        struct eng_mm_scratch s;
        ASSERT_EQ(eng_mm_scratch_init(&s, cols, TOK), 0);
        ASSERT_EQ(eng__matmul_k(&ks[0], NULL, &t, x, (size_t)cols, TOK, y0, ROWS, &s), 0);
        for (int L = 0; L < 3; L++)
            for (int p = 0; p < 3; p++) {
                memset(y1, 0, sizeof y1);
                ASSERT_EQ(eng__matmul_k(&ks[L], pools[p], &t, x, (size_t)cols, TOK, y1, ROWS, &s), 0);
                ASSERT_MSG(memcmp(y0, y1, sizeof y0) == 0, "%s level %d threads %d",
                           eng_type_info(type)->name, L, p + 1);
            }
        /* and the public entry point with its own table */
        ASSERT_EQ(eng_matmul(pools[1], &t, x, (size_t)cols, TOK, y1, ROWS, &s), 0);
        ASSERT_MEM_EQ(y0, y1, sizeof y0);
        eng_mm_scratch_free(&s);
        sk_free(w);
        sk_free(x);
    }
    for (int p = 0; p < 3; p++)
        eng_pool_delete(pools[p]);
}

TEST(kern_matmul_rejects_hostile_shapes)
{
    static uint8_t w[64 * 1024];
    float x[2048] = {0}, y[64];
    struct eng_mm_scratch s;
    ASSERT_EQ(eng_mm_scratch_init(&s, 512, 2), 0);
    struct eng_tensor t = {.name = "w", .type = ENG_TYPE_Q4_0, .n_dims = 2, .ne = {100, 4, 1, 1},
                           .data = w};
    ASSERT_EQ(eng_matmul(NULL, &t, x, 100, 1, y, 4, &s), ENG_ESHAPE); /* 100 % 32 */
    t.type = ENG_TYPE_Q4_K;
    t.ne[0] = 288;
    ASSERT_EQ(eng_matmul(NULL, &t, x, 288, 1, y, 4, &s), ENG_ESHAPE); /* 288 % 256 */
    t.ne[0] = 256;
    t.nbytes = 100; /* smaller than 4 rows */
    ASSERT_EQ(eng_matmul(NULL, &t, x, 256, 1, y, 4, &s), ENG_ESHAPE);
    t.nbytes = 0;
    ASSERT_EQ(eng_matmul(NULL, &t, x, 256, 3, y, 4, &s), ENG_EINVAL); /* scratch for 2 tokens */
    ASSERT_EQ(eng_matmul(NULL, &t, x, 256, 0, y, 4, &s), ENG_EINVAL);
    ASSERT_EQ(eng_matmul(NULL, &t, x, 255, 1, y, 4, &s), ENG_EINVAL);  /* ldx < ne[0] */
    ASSERT_EQ(eng_matmul(NULL, &t, x, 256, 1, y, 3, &s), ENG_EINVAL);  /* ldy < rows */
    t.ne[0] = 1024;
    ASSERT_EQ(eng_matmul(NULL, &t, x, 1024, 1, y, 4, &s), ENG_EINVAL); /* cols > scratch */
    t.type = ENG_TYPE_Q8_K; /* activation type, no kernel */
    ASSERT_EQ(eng_matmul(NULL, &t, x, 256, 1, y, 4, &s), ENG_EUNSUPPORTED);
    t.type = (enum eng_type)4;
    ASSERT_EQ(eng_matmul(NULL, &t, x, 256, 1, y, 4, &s), ENG_EUNSUPPORTED);
    t.type = ENG_TYPE_Q4_0;
    t.ne[0] = 64;
    t.data = NULL;
    ASSERT_EQ(eng_matmul(NULL, &t, x, 64, 1, y, 4, &s), ENG_ESHAPE);
    eng_mm_scratch_free(&s);
    ASSERT_EQ(eng_mm_scratch_init(&s, 0, 1), ENG_EINVAL);
}

TEST(kern_matmul_matches_dequantised_reference)
{
    /* y from the driver against a double-precision product of dequantised W and the dequantised
     * activations, for a shape with a partial row tile. */
    for (size_t ti = 0; ti < SK_ARRAY_LEN(dot_types); ti++) {
        int type = dot_types[ti];
        int64_t cols = cols_for(type, 0), rows = 19;
        const struct eng__type_kern *tk = &eng__kern()->t[type];
        uint8_t *w = make_weight(type, rows, cols, 5);
        struct eng_tensor t = {.name = "w", .type = type, .n_dims = 2, .ne = {cols, rows, 1, 1},
                               .data = w};
        float *x = xalloc((size_t)cols * 4), *wd = xalloc((size_t)cols * 4);
        double *xa = xalloc((size_t)cols * 8);
        uint8_t *a = xalloc(eng__act_row_size(tk->act, cols));
        float y[19];
        fill(x, cols, 3, 1.0f);
        struct eng_mm_scratch s;
        ASSERT_EQ(eng_mm_scratch_init(&s, cols, 1), 0);
        ASSERT_EQ(eng_matmul(NULL, &t, x, (size_t)cols, 1, y, 19, &s), 0);
        eng__kern()->quant_act_ref[tk->act](x, a, cols);
        act_values(tk->act, a, cols, xa);
        for (int64_t r = 0; r < rows; r++) {
            ASSERT_EQ(eng_dequantize_row(type, w + eng_type_row_size(type, cols) * (size_t)r, wd, cols), 0);
            double e = 0, mag = 0;
            for (int64_t i = 0; i < cols; i++) {
                e += (double)wd[i] * xa[i];
                mag += fabs((double)wd[i] * xa[i]);
            }
            ASSERT_MSG(fabs((double)y[r] - e) <= TOL_REF_VS_EXACT * mag, "%s row %lld: %.9g vs %.9g",
                       eng_type_info(type)->name, (long long)r, (double)y[r], e);
        }
        eng_mm_scratch_free(&s);
        sk_free(w);
        sk_free(x);
        sk_free(wd);
        sk_free(xa);
        sk_free(a);
    }
}
