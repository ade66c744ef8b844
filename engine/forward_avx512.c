/*
 * AVX-512 twins of the attention kernels in forward.c (chosen at run time when the kernel
 * table's level is avx512).  Bit-exact with the _ref versions: 16 lanes, lane = i % 16, plain
 * multiply then add (never fused), the same final reduction tree; the tail uses the same lanes
 * in scalar code.
 */
#include "engine/model_int.h"
#include "engine/quant.h"

#include <immintrin.h>
#include <math.h>

float eng__attn_dot_f16_avx512(const float *q, const uint16_t *k, int hd)
{
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= hd; i += 16) {
        __m512 kv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k + i)));
        acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_loadu_ps(q + i), kv));
    }
    float a[16];
    _mm512_storeu_ps(a, acc);
    for (; i < hd; i++)
        a[i & 15] += q[i] * eng__f16_to_f32(k[i]);
    return eng__reduce16(a);
}

float eng__attn_dot_f32_avx512(const float *q, const float *k, int hd)
{
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= hd; i += 16)
        acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(k + i)));
    float a[16];
    _mm512_storeu_ps(a, acc);
    for (; i < hd; i++)
        a[i & 15] += q[i] * k[i];
    return eng__reduce16(a);
}

void eng__attn_axpy_f16_avx512(float *out, float p, const uint16_t *v, int hd)
{
    __m512 pp = _mm512_set1_ps(p);
    int i = 0;
    for (; i + 16 <= hd; i += 16) {
        __m512 vv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(v + i)));
        _mm512_storeu_ps(out + i, _mm512_add_ps(_mm512_loadu_ps(out + i), _mm512_mul_ps(pp, vv)));
    }
    for (; i < hd; i++)
        out[i] += p * eng__f16_to_f32(v[i]);
}

void eng__attn_axpy_f32_avx512(float *out, float p, const float *v, int hd)
{
    __m512 pp = _mm512_set1_ps(p);
    int i = 0;
    for (; i + 16 <= hd; i += 16)
        _mm512_storeu_ps(out + i, _mm512_add_ps(_mm512_loadu_ps(out + i),
                                                _mm512_mul_ps(pp, _mm512_loadu_ps(v + i))));
    for (; i < hd; i++)
        out[i] += p * v[i];
}

/* eng__reduce16 on a register: the same tree (k + 8, k + 4, k + 2, k + 1). */
static inline float reduce16(__m512 a)
{
    __m256 r8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m128 r4 = _mm_add_ps(_mm256_castps256_ps128(r8), _mm256_extractf128_ps(r8, 1));
    __m128 r2 = _mm_add_ps(r4, _mm_movehl_ps(r4, r4));
    return _mm_cvtss_f32(_mm_add_ss(r2, _mm_shuffle_ps(r2, r2, 1)));
}

/* Four keys at a time (independent accumulators hide the add latency); each key's
 * arithmetic is exactly dot_*_avx512's. */
void eng__attn_scores_f16_avx512(const float *q, const uint16_t *k, size_t stride, int n, int hd,
                                 float scale, float *out)
{
    int j = 0;
    if (hd % 16 == 0) {
        for (; j + 4 <= n; j += 4) {
            const uint16_t *k0 = k + (size_t)j * stride;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int i = 0; i < hd; i += 16) {
                __m512 qv = _mm512_loadu_ps(q + i);
#define KH(r) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k0 + (r) * stride + i)))
                a0 = _mm512_add_ps(a0, _mm512_mul_ps(qv, KH(0)));
                a1 = _mm512_add_ps(a1, _mm512_mul_ps(qv, KH(1)));
                a2 = _mm512_add_ps(a2, _mm512_mul_ps(qv, KH(2)));
                a3 = _mm512_add_ps(a3, _mm512_mul_ps(qv, KH(3)));
#undef KH
            }
            out[j] = reduce16(a0) * scale;
            out[j + 1] = reduce16(a1) * scale;
            out[j + 2] = reduce16(a2) * scale;
            out[j + 3] = reduce16(a3) * scale;
        }
    }
    for (; j < n; j++)
        out[j] = eng__attn_dot_f16_avx512(q, k + (size_t)j * stride, hd) * scale;
}

void eng__attn_scores_f32_avx512(const float *q, const float *k, size_t stride, int n, int hd,
                                 float scale, float *out)
{
    int j = 0;
    if (hd % 16 == 0) {
        for (; j + 4 <= n; j += 4) {
            const float *k0 = k + (size_t)j * stride;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int i = 0; i < hd; i += 16) {
                __m512 qv = _mm512_loadu_ps(q + i);
                a0 = _mm512_add_ps(a0, _mm512_mul_ps(qv, _mm512_loadu_ps(k0 + i)));
                a1 = _mm512_add_ps(a1, _mm512_mul_ps(qv, _mm512_loadu_ps(k0 + stride + i)));
                a2 = _mm512_add_ps(a2, _mm512_mul_ps(qv, _mm512_loadu_ps(k0 + 2 * stride + i)));
                a3 = _mm512_add_ps(a3, _mm512_mul_ps(qv, _mm512_loadu_ps(k0 + 3 * stride + i)));
            }
            out[j] = reduce16(a0) * scale;
            out[j + 1] = reduce16(a1) * scale;
            out[j + 2] = reduce16(a2) * scale;
            out[j + 3] = reduce16(a3) * scale;
        }
    }
    for (; j < n; j++)
        out[j] = eng__attn_dot_f32_avx512(q, k + (size_t)j * stride, hd) * scale;
}

/* eng__exp_neg on 16 lanes, step for step. */
static inline __m512 exp_neg16(__m512 x)
{
    __mmask16 ok = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_GE_OQ);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(-2.12194440e-4f)));
    __m512 z = _mm512_mul_ps(r, r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_mul_ps(p, z);
    p = _mm512_add_ps(p, r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps(ok, p, _mm512_castsi512_ps(e));
}

float eng__attn_softmax_avx512(float *s, int n)
{
    float mx = -INFINITY;
    for (int j = 0; j < n; j++)
        mx = s[j] > mx ? s[j] : mx;
    __m512 m = _mm512_set1_ps(mx), acc = _mm512_setzero_ps();
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 e = exp_neg16(_mm512_sub_ps(_mm512_loadu_ps(s + j), m));
        _mm512_storeu_ps(s + j, e);
        acc = _mm512_add_ps(acc, e);
    }
    float a[16];
    _mm512_storeu_ps(a, acc);
    for (; j < n; j++) {
        s[j] = eng__exp_neg(s[j] - mx);
        a[j & 15] += s[j];
    }
    return eng__reduce16(a);
}

/* The output stays in registers, 64 floats (4 registers) at a time, over all n values; per
 * element the same sequence of multiply-then-add as the reference. */
void eng__attn_wsum_f16_avx512(float *out, const float *p, const uint16_t *v, size_t stride,
                               int n, int hd)
{
    int i = 0;
    for (; i + 64 <= hd; i += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int j = 0; j < n; j++) {
            const uint16_t *vr = v + (size_t)j * stride + i;
            __m512 pp = _mm512_set1_ps(p[j]);
#define VH(o) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vr + (o))))
            a0 = _mm512_add_ps(a0, _mm512_mul_ps(pp, VH(0)));
            a1 = _mm512_add_ps(a1, _mm512_mul_ps(pp, VH(16)));
            a2 = _mm512_add_ps(a2, _mm512_mul_ps(pp, VH(32)));
            a3 = _mm512_add_ps(a3, _mm512_mul_ps(pp, VH(48)));
#undef VH
        }
        _mm512_storeu_ps(out + i, a0);
        _mm512_storeu_ps(out + i + 16, a1);
        _mm512_storeu_ps(out + i + 32, a2);
        _mm512_storeu_ps(out + i + 48, a3);
    }
    if (i < hd) {
        for (int e = i; e < hd; e++)
            out[e] = 0.0f;
        for (int j = 0; j < n; j++)
            eng__attn_axpy_f16_avx512(out + i, p[j], v + (size_t)j * stride + i, hd - i);
    }
}

void eng__attn_wsum_f32_avx512(float *out, const float *p, const float *v, size_t stride, int n,
                               int hd)
{
    int i = 0;
    for (; i + 64 <= hd; i += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int j = 0; j < n; j++) {
            const float *vr = v + (size_t)j * stride + i;
            __m512 pp = _mm512_set1_ps(p[j]);
            a0 = _mm512_add_ps(a0, _mm512_mul_ps(pp, _mm512_loadu_ps(vr)));
            a1 = _mm512_add_ps(a1, _mm512_mul_ps(pp, _mm512_loadu_ps(vr + 16)));
            a2 = _mm512_add_ps(a2, _mm512_mul_ps(pp, _mm512_loadu_ps(vr + 32)));
            a3 = _mm512_add_ps(a3, _mm512_mul_ps(pp, _mm512_loadu_ps(vr + 48)));
        }
        _mm512_storeu_ps(out + i, a0);
        _mm512_storeu_ps(out + i + 16, a1);
        _mm512_storeu_ps(out + i + 32, a2);
        _mm512_storeu_ps(out + i + 48, a3);
    }
    if (i < hd) {
        for (int e = i; e < hd; e++)
            out[e] = 0.0f;
        for (int j = 0; j < n; j++)
            eng__attn_axpy_f32_avx512(out + i, p[j], v + (size_t)j * stride + i, hd - i);
    }
}

static inline __m512 exp_any16(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    x = _mm512_min_ps(x, _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(-2.12194440e-4f)));
    __m512 z = _mm512_mul_ps(r, r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_mul_ps(p, z);
    p = _mm512_add_ps(p, r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

void eng__swiglu_avx512(float *g, const float *u, size_t n)
{
    size_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(g + i);
        __m512 e = exp_any16(_mm512_sub_ps(zero, x));
        _mm512_storeu_ps(g + i, _mm512_mul_ps(_mm512_div_ps(x, _mm512_add_ps(one, e)),
                                              _mm512_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + eng__exp_any(-g[i])) * u[i];
}

/* Up to four queries against each key: the key chunk is loaded and converted once for all of
 * them; every (query, key) pair still runs the exact operations of dot_f16_avx512. */
void eng__attn_scores4_f16_avx512(const float *q, size_t qstride, int nq, const uint16_t *k,
                                  size_t stride, int n, int hd, float scale, float *out,
                                  size_t ostride)
{
    if (nq != 4 || hd % 16 || hd > 256) {
        for (int i = 0; i < nq; i++)
            eng__attn_scores_f16_avx512(q + (size_t)i * qstride, k, stride, n, hd, scale,
                                        out + (size_t)i * ostride);
        return;
    }
    const float *q0 = q, *q1 = q + qstride, *q2 = q + 2 * qstride, *q3 = q + 3 * qstride;
    for (int j = 0; j < n; j++) {
        const uint16_t *kr = k + (size_t)j * stride;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < hd; i += 16) {
            __m512 kv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kr + i)));
            a0 = _mm512_add_ps(a0, _mm512_mul_ps(_mm512_loadu_ps(q0 + i), kv));
            a1 = _mm512_add_ps(a1, _mm512_mul_ps(_mm512_loadu_ps(q1 + i), kv));
            a2 = _mm512_add_ps(a2, _mm512_mul_ps(_mm512_loadu_ps(q2 + i), kv));
            a3 = _mm512_add_ps(a3, _mm512_mul_ps(_mm512_loadu_ps(q3 + i), kv));
        }
        out[j] = reduce16(a0) * scale;
        out[ostride + (size_t)j] = reduce16(a1) * scale;
        out[2 * ostride + (size_t)j] = reduce16(a2) * scale;
        out[3 * ostride + (size_t)j] = reduce16(a3) * scale;
    }
}

/* Up to four weighted sums over the same value rows, 32 output floats per query at a time (8
 * accumulators): each value chunk is converted once for all queries. */
void eng__attn_wsum4_f16_avx512(float *out, size_t ostride, int nq, const float *p, size_t pstride,
                                const uint16_t *v, size_t stride, int n, int hd)
{
    if (nq != 4 || hd % 32) {
        for (int i = 0; i < nq; i++)
            eng__attn_wsum_f16_avx512(out + (size_t)i * ostride, p + (size_t)i * pstride, v,
                                      stride, n, hd);
        return;
    }
    for (int c = 0; c < hd; c += 32) {
        __m512 a[4][2];
        for (int i = 0; i < 4; i++)
            a[i][0] = a[i][1] = _mm512_setzero_ps();
        for (int j = 0; j < n; j++) {
            const uint16_t *vr = v + (size_t)j * stride + c;
            __m512 v0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)vr));
            __m512 v1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vr + 16)));
            for (int i = 0; i < 4; i++) {
                __m512 pp = _mm512_set1_ps(p[(size_t)i * pstride + (size_t)j]);
                a[i][0] = _mm512_add_ps(a[i][0], _mm512_mul_ps(pp, v0));
                a[i][1] = _mm512_add_ps(a[i][1], _mm512_mul_ps(pp, v1));
            }
        }
        for (int i = 0; i < 4; i++) {
            _mm512_storeu_ps(out + (size_t)i * ostride + c, a[i][0]);
            _mm512_storeu_ps(out + (size_t)i * ostride + c + 16, a[i][1]);
        }
    }
}
