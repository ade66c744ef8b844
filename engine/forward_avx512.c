/*
 * AVX-512 twins of the attention kernels in forward.c (chosen at run time when the kernel
 * table's level is avx512).  Bit-exact with the _ref versions: 16 lanes, lane = i % 16, plain
 * multiply then add (never fused), the same final reduction tree; the tail uses the same lanes
 * in scalar code.
 */
#include "engine/model_int.h"
#include "engine/quant.h"

#include <immintrin.h>

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
