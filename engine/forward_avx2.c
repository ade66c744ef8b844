/*
 * AVX2 (+F16C) twins of the attention kernels in forward.c.  Bit-exact with the _ref versions:
 * lanes 0-7 and 8-15 of the 16 lane accumulators live in two registers, plain multiply then
 * add, the same final reduction; the tail uses the same lanes in scalar code.
 */
#include "engine/model_int.h"
#include "engine/quant.h"

#include <immintrin.h>

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
