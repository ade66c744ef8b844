/*
 * Reference dot products (weight row x quantised activation rows), activation quantisers, the
 * kernel table chosen from CPUID, and the public row conversion entry points.
 *
 * The _ref functions here are the definition of every result the engine computes from weights:
 * the SIMD twins in engine/arch/x86/ reproduce them bit for bit (same exact integer partial sums,
 * same float operations in the same order; see ACCUMULATION ORDER in quant.h).  They are plain
 * C and slow (fmaf may be a libm call); they run in tests and on CPUs without AVX2.
 */
#include "engine/quant.h"
#include "engine/arch/x86/x86.h"

#include <math.h>
#include <pthread.h>

/* ---- activation rows ----------------------------------------------------------------------- */
size_t eng__act_row_size(enum eng__act kind, int64_t n)
{
    if (n <= 0)
        return 0;
    size_t qs = eng__act_qbytes(n), nb16 = (size_t)eng__act_nb16(n);
    switch (kind) {
    case ENG__ACT_F32: /* + 64: rows of 4 KB multiples would alias in L1 sets */
        return eng__align64((size_t)n * 4) + 64;
    case ENG__ACT_Q8_0: return n % ENG__QK ? 0 : eng__align64(qs + nb16 * 8);
    case ENG__ACT_Q8_1: return n % ENG__QK ? 0 : eng__align64(qs + nb16 * 12);
    case ENG__ACT_Q8_K:
        return n % ENG__QK_K ? 0 : eng__align64(qs + (size_t)(n / ENG__QK_K) * 4 + (size_t)(n / 16) * 2);
    }
    return 0;
}

/* One block of k values: d = amax/127, q = rint(x * 127/amax); returns d and the sum of q. */
static float act_block(const float *x, int8_t *qs, int k, int *sum)
{
    float amax = 0;
    for (int j = 0; j < k; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int s = 0;
    for (int j = 0; j < k; j++) {
        float r = rintf(x[j] * id);
        int q = r >= -127.0f && r <= 127.0f ? (int)r : 0; /* NaN/inf input: 0 (unspecified) */
        qs[j] = (int8_t)q;
        s += q;
    }
    *sum = s;
    return d;
}

static void quant_act_32(const float *x, void *act, int64_t n, int has_s)
{
    int8_t *qs = act;
    float *d = (float *)eng__act_d(act, n);
    int32_t *is = (int32_t *)eng__act_isum(act, n);
    float *sm = (float *)eng__act_s(act, n);
    int64_t nb = n / ENG__QK, nb16 = eng__act_nb16(n);
    memset(qs, 0, eng__act_qbytes(n));
    for (int64_t b = 0; b < nb16; b++) {
        int64_t k = eng__act_bslot(b);
        if (b >= nb) {
            d[k] = 0;
            is[k] = 0;
            if (has_s)
                sm[k] = 0;
            continue;
        }
        int8_t q[ENG__QK];
        int s;
        d[k] = act_block(x + b * ENG__QK, q, ENG__QK, &s);
        for (int i = 0; i < ENG__QK; i++)
            qs[eng__act_qpos(b, i)] = q[i];
        is[k] = s;
        if (has_s)
            sm[k] = d[k] * (float)s;
    }
}
void eng__quant_act_q8_0_ref(const float *x, void *act, int64_t n) { quant_act_32(x, act, n, 0); }
void eng__quant_act_q8_1_ref(const float *x, void *act, int64_t n) { quant_act_32(x, act, n, 1); }
void eng__quant_act_q8_K_ref(const float *x, void *act, int64_t n)
{
    int8_t *qs = act;
    float *d = (float *)eng__act_d(act, n);
    int16_t *bs = (int16_t *)eng__act_bsums(act, n);
    for (int64_t b = 0; b < n / ENG__QK_K; b++) {
        int s;
        d[b] = act_block(x + b * ENG__QK_K, qs + b * ENG__QK_K, ENG__QK_K, &s);
        for (int g = 0; g < 16; g++) {
            int t = 0;
            for (int j = 0; j < 16; j++)
                t += qs[b * ENG__QK_K + 16 * g + j];
            bs[b * 16 + g] = (int16_t)t;
        }
    }
}
void eng__quant_act_f32_ref(const float *x, void *act, int64_t n)
{
    memcpy(act, x, (size_t)n * 4);
}

/* ---- 32-element types ---------------------------------------------------------------------- */
/* Unpacks block b of a weight row to integer values q[32] (signed value, or the unsigned level
 * for the types with a min), its scale and (Q4_1/Q5_1) its min. */
typedef void (*unpack32_fn)(const void *w, int64_t b, int q[32], float *d, float *m);

static void unpack_q4_0(const void *w, int64_t b, int q[32], float *d, float *m)
{
    const struct eng__block_q4_0 *x = (const struct eng__block_q4_0 *)w + b;
    for (int j = 0; j < 16; j++) {
        q[j] = (x->qs[j] & 0xF) - 8;
        q[j + 16] = (x->qs[j] >> 4) - 8;
    }
    *d = eng__f16_to_f32(x->d);
    *m = 0;
}
static void unpack_q4_1(const void *w, int64_t b, int q[32], float *d, float *m)
{
    const struct eng__block_q4_1 *x = (const struct eng__block_q4_1 *)w + b;
    for (int j = 0; j < 16; j++) {
        q[j] = x->qs[j] & 0xF;
        q[j + 16] = x->qs[j] >> 4;
    }
    *d = eng__f16_to_f32(x->d);
    *m = eng__f16_to_f32(x->m);
}
static void q5_bits(const uint8_t qh4[4], const uint8_t qs[16], int q[32])
{
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
        q[j + 16] = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
    }
}
static void unpack_q5_0(const void *w, int64_t b, int q[32], float *d, float *m)
{
    const struct eng__block_q5_0 *x = (const struct eng__block_q5_0 *)w + b;
    q5_bits(x->qh, x->qs, q);
    for (int j = 0; j < 32; j++)
        q[j] -= 16;
    *d = eng__f16_to_f32(x->d);
    *m = 0;
}
static void unpack_q5_1(const void *w, int64_t b, int q[32], float *d, float *m)
{
    const struct eng__block_q5_1 *x = (const struct eng__block_q5_1 *)w + b;
    q5_bits(x->qh, x->qs, q);
    *d = eng__f16_to_f32(x->d);
    *m = eng__f16_to_f32(x->m);
}
static void unpack_q8_0(const void *w, int64_t b, int q[32], float *d, float *m)
{
    const struct eng__block_q8_0 *x = (const struct eng__block_q8_0 *)w + b;
    for (int j = 0; j < 32; j++)
        q[j] = x->qs[j];
    *d = eng__f16_to_f32(x->d);
    *m = 0;
}

static void dot32_ref(int64_t n, const void *w, const void *act, size_t stride, int nt, float *out,
                      unpack32_fn unpack, int has_min)
{
    for (int t = 0; t < nt; t++) {
        const void *a = (const char *)act + (size_t)t * stride;
        const int8_t *xq = a;
        const float *xd = eng__act_d(a, n), *xs = eng__act_s(a, n);
        float acc[16] = {0}, accm[16] = {0};
        for (int64_t b = 0; b < n / ENG__QK; b++) {
            int q[32];
            float d, m;
            unpack(w, b, q, &d, &m);
            int32_t l = 0;
            for (int i = 0; i < 32; i++)
                l += q[i] * xq[eng__act_qpos(b, i)];
            int j = eng__lane16(b);
            int64_t k = eng__act_bslot(b);
            acc[j] = fmaf((float)l, d * xd[k], acc[j]);
            if (has_min)
                accm[j] = fmaf(m, xs[k], accm[j]);
        }
        out[t] = eng__reduce16(acc);
        if (has_min)
            out[t] += eng__reduce16(accm);
    }
}

#define DOT32(t, has_min)                                                                         \
    void eng__dot_##t##_ref(int64_t n, const void *w, const void *act, size_t act_stride, int nt, \
                            float *out)                                                           \
    {                                                                                             \
        dot32_ref(n, w, act, act_stride, nt, out, unpack_##t, has_min);                           \
    }
DOT32(q4_0, 0)
DOT32(q4_1, 1)
DOT32(q5_0, 0)
DOT32(q5_1, 1)
DOT32(q8_0, 0)

/* ---- K-quants ------------------------------------------------------------------------------ */
/* Unpacks super-block b to integer levels q[256] (signed for Q3_K/Q6_K), the per-sub-block scale
 * sc[] and min mn[] (16-element sub-blocks: 16 entries; 32-element: 8), d and dmin. */
struct kblock {
    int q[256];
    int sc[16], mn[16];
    int sub;     /* elements per sub-block: 16 or 32 */
    float d, dmin;
    int has_min;
};
typedef void (*unpackK_fn)(const void *w, int64_t b, struct kblock *k);

static void unpack_q2_K(const void *w, int64_t b, struct kblock *k)
{
    const struct eng__block_q2_K *x = (const struct eng__block_q2_K *)w + b;
    for (int e = 0; e < 256; e++)
        k->q[e] = (x->qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    for (int j = 0; j < 16; j++) {
        k->sc[j] = x->scales[j] & 0xF;
        k->mn[j] = x->scales[j] >> 4;
    }
    k->sub = 16;
    k->d = eng__f16_to_f32(x->d);
    k->dmin = eng__f16_to_f32(x->dmin);
    k->has_min = 1;
}
static void unpack_q3_K(const void *w, int64_t b, struct kblock *k)
{
    const struct eng__block_q3_K *x = (const struct eng__block_q3_K *)w + b;
    for (int e = 0; e < 256; e++) {
        int h = e / 128, j = (e % 128) / 32, l = e % 32;
        int q2 = (x->qs[32 * h + l] >> (2 * j)) & 3;
        k->q[e] = q2 - (((x->hmask[l] >> (4 * h + j)) & 1) ? 0 : 4);
    }
    for (int j = 0; j < 16; j++)
        k->sc[j] = eng__k3_scale(j, x->scales);
    k->sub = 16;
    k->d = eng__f16_to_f32(x->d);
    k->dmin = 0;
    k->has_min = 0;
}
static void unpack_q4_K(const void *w, int64_t b, struct kblock *k)
{
    const struct eng__block_q4_K *x = (const struct eng__block_q4_K *)w + b;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            k->q[64 * c + l] = x->qs[32 * c + l] & 0xF;
            k->q[64 * c + 32 + l] = x->qs[32 * c + l] >> 4;
        }
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        eng__k4_scale_min(j, x->scales, &sc, &m);
        k->sc[j] = sc;
        k->mn[j] = m;
    }
    k->sub = 32;
    k->d = eng__f16_to_f32(x->d);
    k->dmin = eng__f16_to_f32(x->dmin);
    k->has_min = 1;
}
static void unpack_q5_K(const void *w, int64_t b, struct kblock *k)
{
    const struct eng__block_q5_K *x = (const struct eng__block_q5_K *)w + b;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            k->q[64 * c + l] = (x->qs[32 * c + l] & 0xF) | ((x->qh[l] >> (2 * c)) & 1) << 4;
            k->q[64 * c + 32 + l] = (x->qs[32 * c + l] >> 4) | ((x->qh[l] >> (2 * c + 1)) & 1) << 4;
        }
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        eng__k4_scale_min(j, x->scales, &sc, &m);
        k->sc[j] = sc;
        k->mn[j] = m;
    }
    k->sub = 32;
    k->d = eng__f16_to_f32(x->d);
    k->dmin = eng__f16_to_f32(x->dmin);
    k->has_min = 1;
}
static void unpack_q6_K(const void *w, int64_t b, struct kblock *k)
{
    const struct eng__block_q6_K *x = (const struct eng__block_q6_K *)w + b;
    for (int e = 0; e < 256; e++) {
        int h = e / 128, r = e % 128, g = r / 32, l = r % 32;
        int lo = (x->ql[64 * h + l + (g & 1) * 32] >> ((g >> 1) * 4)) & 0xF;
        int hi = (x->qh[32 * h + l] >> (2 * g)) & 3;
        k->q[e] = (lo | (hi << 4)) - 32;
    }
    for (int j = 0; j < 16; j++)
        k->sc[j] = x->scales[j];
    k->sub = 16;
    k->d = eng__f16_to_f32(x->d);
    k->dmin = 0;
    k->has_min = 0;
}

static void dotK_ref(int64_t n, const void *w, const void *act, size_t stride, int nt, float *out,
                     unpackK_fn unpack)
{
    for (int t = 0; t < nt; t++) {
        const void *a = (const char *)act + (size_t)t * stride;
        const int8_t *xq = a;
        const float *xd = eng__act_d(a, n);
        const int16_t *bs = eng__act_bsums(a, n);
        float acc[16] = {0}, accm[8] = {0};
        int has_min = 0;
        for (int64_t b = 0; b < n / ENG__QK_K; b++) {
            struct kblock k;
            unpack(w, b, &k);
            has_min = k.has_min;
            /* I lanes: element e goes to lane (e % 64) / 4, weighted by its sub-block scale */
            int32_t I[16] = {0};
            for (int e = 0; e < 256; e++)
                I[(e % 64) / 4] += k.sc[e / k.sub] * k.q[e] * xq[b * ENG__QK_K + e];
            float dd = k.d * xd[b];
            for (int i = 0; i < 16; i++)
                acc[i] = fmaf((float)I[i], dd, acc[i]);
            if (k.has_min) {
                /* M lanes: pairs of 16-element bsums; lane i = m(2i) bs(2i) + m(2i+1) bs(2i+1),
                 * where m(g) is the min of the sub-block holding bsum group g */
                float md = -(k.dmin * xd[b]);
                for (int i = 0; i < 8; i++) {
                    int g0 = 2 * i, g1 = 2 * i + 1;
                    int32_t M = k.mn[g0 * 16 / k.sub] * bs[b * 16 + g0] + k.mn[g1 * 16 / k.sub] * bs[b * 16 + g1];
                    accm[i] = fmaf((float)M, md, accm[i]);
                }
            }
        }
        out[t] = eng__reduce16(acc);
        if (has_min)
            out[t] += eng__reduce8(accm);
    }
}

#define DOTK(t)                                                                                   \
    void eng__dot_##t##_ref(int64_t n, const void *w, const void *act, size_t act_stride, int nt, \
                            float *out)                                                           \
    {                                                                                             \
        dotK_ref(n, w, act, act_stride, nt, out, unpack_##t);                                     \
    }
DOTK(q2_K)
DOTK(q3_K)
DOTK(q4_K)
DOTK(q5_K)
DOTK(q6_K)

/* ---- float types --------------------------------------------------------------------------- */
static float wf32(const void *w, int64_t i) { float f; memcpy(&f, (const char *)w + 4 * i, 4); return f; }
static float wf16(const void *w, int64_t i)
{
    eng__f16 h;
    memcpy(&h, (const char *)w + 2 * i, 2);
    return eng__f16_to_f32(h);
}
static float wbf16(const void *w, int64_t i)
{
    eng__bf16 h;
    memcpy(&h, (const char *)w + 2 * i, 2);
    return eng__bf16_to_f32(h);
}
static void dotF_ref(int64_t n, const void *w, const void *act, size_t stride, int nt, float *out,
                     float (*get)(const void *, int64_t))
{
    for (int t = 0; t < nt; t++) {
        const float *x = (const float *)((const char *)act + (size_t)t * stride);
        float acc[16] = {0};
        for (int64_t i = 0; i < n; i++)
            acc[i % 16] = fmaf(get(w, i), x[i], acc[i % 16]);
        out[t] = eng__reduce16(acc);
    }
}
void eng__dot_f32_ref(int64_t n, const void *w, const void *act, size_t act_stride, int nt, float *out)
{
    dotF_ref(n, w, act, act_stride, nt, out, wf32);
}
void eng__dot_f16_ref(int64_t n, const void *w, const void *act, size_t act_stride, int nt, float *out)
{
    dotF_ref(n, w, act, act_stride, nt, out, wf16);
}
void eng__dot_bf16_ref(int64_t n, const void *w, const void *act, size_t act_stride, int nt, float *out)
{
    dotF_ref(n, w, act, act_stride, nt, out, wbf16);
}

static void f16_to_f32_row_ref(const uint16_t *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = eng__f16_to_f32(src[i]);
}
static void f32_to_f16_row_ref(const float *src, uint16_t *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = eng__f32_to_f16(src[i]);
}

static void f16_axpy_ref(int64_t n, float a, const uint16_t *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = fmaf(a, eng__f16_to_f32(x[i]), y[i]);
}

/* ---- the kernel table ---------------------------------------------------------------------- */
#define T(id, name, a)                                                                            \
    k->t[id] = (struct eng__type_kern){eng__dequantize_row_##name##_ref,                          \
                                       eng__quantize_row_##name##_ref, a, eng__dot_##name##_ref,  \
                                       eng__dot_##name##_ref, "ref"}
#define TQ(id, name)                                                                              \
    k->t[id] = (struct eng__type_kern){eng__dequantize_row_##name##_ref,                          \
                                       eng__quantize_row_##name##_ref, ENG__ACT_F32, NULL, NULL,  \
                                       NULL}

int eng__kern_build(struct eng__kern *k, int level)
{
    const struct eng__cpu *c = eng__cpu();
    memset(k, 0, sizeof *k);
    k->has_avx2 = c->avx2 && c->fma && c->f16c;
    k->has_avx512 = k->has_avx2 && c->avx512f && c->avx512bw && c->avx512vl && c->avx512vnni;
    if (level >= 2 && !k->has_avx512)
        level = 1;
    if (level >= 1 && !k->has_avx2)
        level = 0;
    T(ENG_TYPE_F32, f32, ENG__ACT_F32);
    T(ENG_TYPE_F16, f16, ENG__ACT_F32);
    T(ENG_TYPE_BF16, bf16, ENG__ACT_F32);
    T(ENG_TYPE_Q4_0, q4_0, ENG__ACT_Q8_0);
    T(ENG_TYPE_Q4_1, q4_1, ENG__ACT_Q8_1);
    T(ENG_TYPE_Q5_0, q5_0, ENG__ACT_Q8_0);
    T(ENG_TYPE_Q5_1, q5_1, ENG__ACT_Q8_1);
    T(ENG_TYPE_Q8_0, q8_0, ENG__ACT_Q8_0);
    T(ENG_TYPE_Q2_K, q2_K, ENG__ACT_Q8_K);
    T(ENG_TYPE_Q3_K, q3_K, ENG__ACT_Q8_K);
    T(ENG_TYPE_Q4_K, q4_K, ENG__ACT_Q8_K);
    T(ENG_TYPE_Q5_K, q5_K, ENG__ACT_Q8_K);
    T(ENG_TYPE_Q6_K, q6_K, ENG__ACT_Q8_K);
    TQ(ENG_TYPE_Q8_1, q8_1);
    TQ(ENG_TYPE_Q8_K, q8_K);
    k->quant_act_ref[ENG__ACT_F32] = eng__quant_act_f32_ref;
    k->quant_act_ref[ENG__ACT_Q8_0] = eng__quant_act_q8_0_ref;
    k->quant_act_ref[ENG__ACT_Q8_1] = eng__quant_act_q8_1_ref;
    k->quant_act_ref[ENG__ACT_Q8_K] = eng__quant_act_q8_K_ref;
    memcpy(k->quant_act, k->quant_act_ref, sizeof k->quant_act);
    k->f16_to_f32_row = f16_to_f32_row_ref;
    k->f32_to_f16_row = f32_to_f16_row_ref;
    k->f16_axpy = f16_axpy_ref;
    if (level >= 1)
        eng__kern_install_avx2(k);
    if (level >= 2)
        eng__kern_install_avx512(k);
    return level;
}

static struct eng__kern g_kern;
static pthread_once_t g_kern_once = PTHREAD_ONCE_INIT;
static void kern_init(void) { eng__kern_build(&g_kern, 2); }

const struct eng__kern *eng__kern(void)
{
    pthread_once(&g_kern_once, kern_init);
    return &g_kern;
}

/* ---- public entry points ------------------------------------------------------------------- */
float eng_fp16_to_fp32(uint16_t h) { return eng__f16_to_f32(h); }
uint16_t eng_fp32_to_fp16(float f) { return eng__f32_to_f16(f); }
float eng_bf16_to_fp32(uint16_t h) { return eng__bf16_to_f32(h); }
uint16_t eng_fp32_to_bf16(float f) { return eng__f32_to_bf16(f); }

int eng_dequantize_row(enum eng_type type, const void *src, float *dst, int64_t n)
{
    const struct eng_type_info *ti = eng_type_info((int)type);
    if (!ti || !eng__kern()->t[type].dequantize)
        return ENG_EUNSUPPORTED;
    if (n < 0 || n % ti->blck)
        return ENG_ESHAPE;
    eng__kern()->t[type].dequantize(src, dst, n);
    return 0;
}

int eng_quantize_row(enum eng_type type, const float *src, void *dst, int64_t n)
{
    const struct eng_type_info *ti = eng_type_info((int)type);
    if (!ti || !eng__kern()->t[type].quantize)
        return ENG_EUNSUPPORTED;
    if (n < 0 || n % ti->blck)
        return ENG_ESHAPE;
    eng__kern()->t[type].quantize(src, dst, n);
    return 0;
}

void eng_fp16_to_fp32_row(const uint16_t *src, float *dst, int64_t n)
{
    eng__kern()->f16_to_f32_row(src, dst, n);
}
void eng_fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n)
{
    eng__kern()->f32_to_f16_row(src, dst, n);
}

const char *eng_kernels_isa(void)
{
    const struct eng__kern *k = eng__kern();
    return k->t[ENG_TYPE_Q4_0].dot_isa;
}
