/*
 * AVX2 (+F16C) twins of the attention kernels in forward.c.  Bit-exact with the _ref versions:
 * lanes 0-7 and 8-15 of the 16 lane accumulators live in two registers, plain multiply then
 * add, the same final reduction; the tail uses the same lanes in scalar code.
 */
#include "engine/model_int.h"
#include "engine/quant.h"

#include <immintrin.h>
#include <math.h>

float eng__attn_dot_f16_avx2(const float *q, const uint16_t *k, int hd)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= hd; i += 16) {
        __m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i)));
        __m256 k1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i + 8)));
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(q + i), k0));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(q + i + 8), k1));
    }
    float a[16];
    _mm256_storeu_ps(a, a0);
    _mm256_storeu_ps(a + 8, a1);
    for (; i < hd; i++)
        a[i & 15] += q[i] * eng__f16_to_f32(k[i]);
    return eng__reduce16(a);
}

float eng__attn_dot_f32_avx2(const float *q, const float *k, int hd)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= hd; i += 16) {
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i)));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(k + i + 8)));
    }
    float a[16];
    _mm256_storeu_ps(a, a0);
    _mm256_storeu_ps(a + 8, a1);
    for (; i < hd; i++)
        a[i & 15] += q[i] * k[i];
    return eng__reduce16(a);
}

void eng__attn_axpy_f16_avx2(float *out, float p, const uint16_t *v, int hd)
{
    __m256 pp = _mm256_set1_ps(p);
    int i = 0;
    for (; i + 8 <= hd; i += 8) {
        __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + i)));
        _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(out + i), _mm256_mul_ps(pp, vv)));
    }
    for (; i < hd; i++)
        out[i] += p * eng__f16_to_f32(v[i]);
}

void eng__attn_axpy_f32_avx2(float *out, float p, const float *v, int hd)
{
    __m256 pp = _mm256_set1_ps(p);
    int i = 0;
    for (; i + 8 <= hd; i += 8)
        _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(out + i),
                                                _mm256_mul_ps(pp, _mm256_loadu_ps(v + i))));
    for (; i < hd; i++)
        out[i] += p * v[i];
}

void eng__attn_scores_f16_avx2(const float *q, const uint16_t *k, size_t stride, int n, int hd,
                               float scale, float *out)
{
    for (int j = 0; j < n; j++)
        out[j] = eng__attn_dot_f16_avx2(q, k + (size_t)j * stride, hd) * scale;
}

void eng__attn_scores_f32_avx2(const float *q, const float *k, size_t stride, int n, int hd,
                               float scale, float *out)
{
    for (int j = 0; j < n; j++)
        out[j] = eng__attn_dot_f32_avx2(q, k + (size_t)j * stride, hd) * scale;
}

static inline __m256 exp_neg8(__m256 x)
{
    __m256 ok = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_GE_OQ);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(-2.12194440e-4f)));
    __m256 z = _mm256_mul_ps(r, r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_mul_ps(p, z);
    p = _mm256_add_ps(p, r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), ok);
}

float eng__attn_softmax_avx2(float *s, int n)
{
    float mx = -INFINITY;
    for (int j = 0; j < n; j++)
        mx = s[j] > mx ? s[j] : mx;
    __m256 m = _mm256_set1_ps(mx), a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 e0 = exp_neg8(_mm256_sub_ps(_mm256_loadu_ps(s + j), m));
        __m256 e1 = exp_neg8(_mm256_sub_ps(_mm256_loadu_ps(s + j + 8), m));
        _mm256_storeu_ps(s + j, e0);
        _mm256_storeu_ps(s + j + 8, e1);
        a0 = _mm256_add_ps(a0, e0);
        a1 = _mm256_add_ps(a1, e1);
    }
    float a[16];
    _mm256_storeu_ps(a, a0);
    _mm256_storeu_ps(a + 8, a1);
    for (; j < n; j++) {
        s[j] = eng__exp_neg(s[j] - mx);
        a[j & 15] += s[j];
    }
    return eng__reduce16(a);
}

void eng__attn_wsum_f16_avx2(float *out, const float *p, const uint16_t *v, size_t stride, int n,
                             int hd)
{
    int i = 0;
    for (; i + 32 <= hd; i += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int j = 0; j < n; j++) {
            const uint16_t *vr = v + (size_t)j * stride + i;
            __m256 pp = _mm256_set1_ps(p[j]);
#define VH(o) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vr + (o))))
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(pp, VH(0)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(pp, VH(8)));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(pp, VH(16)));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(pp, VH(24)));
#undef VH
        }
        _mm256_storeu_ps(out + i, a0);
        _mm256_storeu_ps(out + i + 8, a1);
        _mm256_storeu_ps(out + i + 16, a2);
        _mm256_storeu_ps(out + i + 24, a3);
    }
    if (i < hd) {
        for (int e = i; e < hd; e++)
            out[e] = 0.0f;
        for (int j = 0; j < n; j++)
            eng__attn_axpy_f16_avx2(out + i, p[j], v + (size_t)j * stride + i, hd - i);
    }
}

void eng__attn_wsum_f32_avx2(float *out, const float *p, const float *v, size_t stride, int n,
                             int hd)
{
    int i = 0;
    for (; i + 32 <= hd; i += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int j = 0; j < n; j++) {
            const float *vr = v + (size_t)j * stride + i;
            __m256 pp = _mm256_set1_ps(p[j]);
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(pp, _mm256_loadu_ps(vr)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(pp, _mm256_loadu_ps(vr + 8)));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(pp, _mm256_loadu_ps(vr + 16)));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(pp, _mm256_loadu_ps(vr + 24)));
        }
        _mm256_storeu_ps(out + i, a0);
        _mm256_storeu_ps(out + i + 8, a1);
        _mm256_storeu_ps(out + i + 16, a2);
        _mm256_storeu_ps(out + i + 24, a3);
    }
    if (i < hd) {
        for (int e = i; e < hd; e++)
            out[e] = 0.0f;
        for (int j = 0; j < n; j++)
            eng__attn_axpy_f32_avx2(out + i, p[j], v + (size_t)j * stride + i, hd - i);
    }
}

static inline __m256 exp_any8(__m256 x)
{
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(-2.12194440e-4f)));
    __m256 z = _mm256_mul_ps(r, r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_mul_ps(p, z);
    p = _mm256_add_ps(p, r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

void eng__swiglu_avx2(float *g, const float *u, size_t n)
{
    size_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 e = exp_any8(_mm256_sub_ps(zero, x));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)),
                                              _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + eng__exp_any(-g[i])) * u[i];
}

void eng__attn_scores4_f16_avx2(const float *q, size_t qstride, int nq, const uint16_t *k,
                                size_t stride, int n, int hd, float scale, float *out,
                                size_t ostride)
{
    for (int i = 0; i < nq; i++)
        eng__attn_scores_f16_avx2(q + (size_t)i * qstride, k, stride, n, hd, scale,
                                  out + (size_t)i * ostride);
}

void eng__attn_wsum4_f16_avx2(float *out, size_t ostride, int nq, const float *p,
                              size_t pstride, const uint16_t *v, size_t stride, int n, int hd)
{
    for (int i = 0; i < nq; i++)
        eng__attn_wsum_f16_avx2(out + (size_t)i * ostride, p + (size_t)i * pstride, v, stride,
                                n, hd);
}
