/*
 * Reference (plain C) conversions, dequantisers and round-to-nearest quantisers for every tensor
 * type seekd reads.  Dequantisation is the definition the rest of the engine and the Python
 * reference (tools/) must agree with bit for bit; the float operations are written out in the
 * order they are evaluated (the build uses -std=c11, so no FMA contraction happens here):
 *   Q4_0 (q-8)*d   Q4_1 q*d+m   Q5_0 (q-16)*d   Q5_1 q*d+m   Q8_0/Q8_1 q*d   Q8_K q*d (f32 d)
 *   Q2_K (d*sc)*q - (dmin*m)    Q3_K (d*s)*q3   Q4_K/Q5_K (d*sc)*q - (dmin*m)   Q6_K (d*sc)*q
 * The quantisers are ours (the tools' GGUF writer and the tests use them); they round to nearest
 * per block and do not try to reproduce llama-quantize's search.  Workload: tools and tests, and
 * dequantising rows of the token embedding during decode (one row per token).
 */
#include "engine/quant.h"

#include <math.h>

eng__f16 eng__f32_to_f16(float f)
{
    uint32_t u = eng__bits_from_f32(f);
    uint32_t sign = (u >> 16) & 0x8000;
    u &= 0x7fffffffu;
    if (u > 0x7f800000u) /* NaN: quiet, payload truncated (as vcvtps2ph) */
        return (eng__f16)(sign | 0x7e00 | ((u >> 13) & 0x3ff));
    if (u >= 0x477ff000u) /* >= 65520 rounds to infinity */
        return (eng__f16)(sign | 0x7c00);
    if (u < 0x38800000u) { /* below 2^-14: f16 subnormal or zero */
        if (u <= 0x33000000u) /* <= 2^-25: ties to even give 0 */
            return (eng__f16)sign;
        uint32_t e = u >> 23, m = (u & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1)))
            r++;
        return (eng__f16)(sign | r);
    }
    uint32_t r = (((u >> 23) - 127 + 15) << 10) | ((u & 0x7fffff) >> 13);
    uint32_t rem = u & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
        r++;
    return (eng__f16)(sign | r);
}

static int nearest(float x) { return (int)lrintf(x); }
static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
#define F16(x) eng__f16_to_f32(x)

/* ---- F32, F16, BF16 ---------------------------------------------------------------------- */
void eng__dequantize_row_f32_ref(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * 4);
}
void eng__quantize_row_f32_ref(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * 4);
}
void eng__dequantize_row_f16_ref(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        eng__f16 h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = eng__f16_to_f32(h);
    }
}
void eng__quantize_row_f16_ref(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        eng__f16 h = eng__f32_to_f16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}
void eng__dequantize_row_bf16_ref(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) {
        eng__bf16 h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = eng__bf16_to_f32(h);
    }
}
void eng__quantize_row_bf16_ref(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        eng__bf16 h = eng__f32_to_bf16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

/* ---- helpers over one block of k elements -------------------------------------------------- */
static float signed_absmax(const float *x, int k) /* the value with the largest |x| */
{
    float amax = 0, max = 0;
    for (int i = 0; i < k; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    return max;
}
static void min_max(const float *x, int k, float *mn, float *mx)
{
    *mn = x[0];
    *mx = x[0];
    for (int i = 1; i < k; i++) {
        if (x[i] < *mn)
            *mn = x[i];
        if (x[i] > *mx)
            *mx = x[i];
    }
}

/* ---- 32-element types ---------------------------------------------------------------------- */
void eng__dequantize_row_q4_0_ref(const void *src, float *dst, int64_t n)
{
    const struct eng__block_q4_0 *b = src;
    for (int64_t i = 0; i < n / ENG__QK; i++, dst += ENG__QK) {
        float d = F16(b[i].d);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)((b[i].qs[j] & 0xF) - 8) * d;
            dst[j + 16] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}
void eng__quantize_row_q4_0_ref(const float *src, void *dst, int64_t n)
{
    struct eng__block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / ENG__QK; i++, src += ENG__QK) {
        float d = signed_absmax(src, 32) / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = eng__f32_to_f16(d);
        for (int j = 0; j < 16; j++) {
            int q0 = clampi((int)(src[j] * id + 8.5f), 0, 15);
            int q1 = clampi((int)(src[j + 16] * id + 8.5f), 0, 15);
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void eng__dequantize_row_q4_1_ref(const void *src, float *dst, int64_t n)
{
    const struct eng__block_q4_1 *b = src;
    for (int64_t i = 0; i < n / ENG__QK; i++, dst += ENG__QK) {
        float d = F16(b[i].d), m = F16(b[i].m);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)(b[i].qs[j] & 0xF) * d + m;
            dst[j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}
void eng__quantize_row_q4_1_ref(const float *src, void *dst, int64_t n)
{
    struct eng__block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / ENG__QK; i++, src += ENG__QK) {
        float mn, mx;
        min_max(src, 32, &mn, &mx);
        float d = (mx - mn) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = eng__f32_to_f16(d);
        b[i].m = eng__f32_to_f16(mn);
        for (int j = 0; j < 16; j++) {
            int q0 = clampi((int)((src[j] - mn) * id + 0.5f), 0, 15);
            int q1 = clampi((int)((src[j + 16] - mn) * id + 0.5f), 0, 15);
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void q5_unpack(const uint8_t qh4[4], const uint8_t qs[16], int q[32])
{
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
        q[j + 16] = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
    }
}
static void q5_pack(const int q[32], uint8_t qh4[4], uint8_t qs[16])
{
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
        qh |= (uint32_t)((q[j] >> 4) & 1) << j;
        qh |= (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
    }
    memcpy(qh4, &qh, 4);
}

void eng__dequantize_row_q5_0_ref(const void *src, float *dst, int64_t n)
{
    const struct eng__block_q5_0 *b = src;
    for (int64_t i = 0; i < n / ENG__QK; i++, dst += ENG__QK) {
        float d = F16(b[i].d);
        int q[32];
        q5_unpack(b[i].qh, b[i].qs, q);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)(q[j] - 16) * d;
    }
}
void eng__quantize_row_q5_0_ref(const float *src, void *dst, int64_t n)
{
    struct eng__block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / ENG__QK; i++, src += ENG__QK) {
        float d = signed_absmax(src, 32) / -16.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = eng__f32_to_f16(d);
        int q[32];
        for (int j = 0; j < 32; j++)
            q[j] = clampi((int)(src[j] * id + 16.5f), 0, 31);
        q5_pack(q, b[i].qh, b[i].qs);
    }
}

void eng__dequantize_row_q5_1_ref(const void *src, float *dst, int64_t n)
{
    const struct eng__block_q5_1 *b = src;
    for (int64_t i = 0; i < n / ENG__QK; i++, dst += ENG__QK) {
        float d = F16(b[i].d), m = F16(b[i].m);
        int q[32];
        q5_unpack(b[i].qh, b[i].qs, q);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)q[j] * d + m;
    }
}
void eng__quantize_row_q5_1_ref(const float *src, void *dst, int64_t n)
{
    struct eng__block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / ENG__QK; i++, src += ENG__QK) {
        float mn, mx;
        min_max(src, 32, &mn, &mx);
        float d = (mx - mn) / 31.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = eng__f32_to_f16(d);
        b[i].m = eng__f32_to_f16(mn);
        int q[32];
        for (int j = 0; j < 32; j++)
            q[j] = clampi((int)((src[j] - mn) * id + 0.5f), 0, 31);
        q5_pack(q, b[i].qh, b[i].qs);
    }
}

void eng__dequantize_row_q8_0_ref(const void *src, float *dst, int64_t n)
{
    const struct eng__block_q8_0 *b = src;
    for (int64_t i = 0; i < n / ENG__QK; i++, dst += ENG__QK) {
        float d = F16(b[i].d);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)b[i].qs[j] * d;
    }
}
static float q8_block(const float *x, int8_t *qs, int k, int *sum)
{
    float amax = 0;
    for (int j = 0; j < k; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    int s = 0;
    for (int j = 0; j < k; j++) {
        qs[j] = (int8_t)clampi((int)roundf(x[j] * id), -127, 127);
        s += qs[j];
    }
    *sum = s;
    return d;
}
void eng__quantize_row_q8_0_ref(const float *src, void *dst, int64_t n)
{
    struct eng__block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / ENG__QK; i++, src += ENG__QK) {
        int s;
        b[i].d = eng__f32_to_f16(q8_block(src, b[i].qs, 32, &s));
    }
}
void eng__dequantize_row_q8_1_ref(const void *src, float *dst, int64_t n)
{
    const struct eng__block_q8_1 *b = src;
    for (int64_t i = 0; i < n / ENG__QK; i++, dst += ENG__QK) {
        float d = F16(b[i].d);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)b[i].qs[j] * d;
    }
}
void eng__quantize_row_q8_1_ref(const float *src, void *dst, int64_t n)
{
    struct eng__block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / ENG__QK; i++, src += ENG__QK) {
        int s;
        float d = q8_block(src, b[i].qs, 32, &s);
        b[i].d = eng__f32_to_f16(d);
        b[i].s = eng__f32_to_f16(d * (float)s);
    }
}

/* ---- K-quants ------------------------------------------------------------------------------ */
void eng__dequantize_row_q2_K_ref(const void *src, float *dst, int64_t n)
{
    const struct eng__block_q2_K *b = src;
    for (int64_t i = 0; i < n / ENG__QK_K; i++, dst += ENG__QK_K) {
        float d = F16(b[i].d), dmin = F16(b[i].dmin);
        for (int e = 0; e < 256; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            uint8_t sc = b[i].scales[e / 16];
            int q = (b[i].qs[32 * h + l] >> (2 * j)) & 3;
            float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
            dst[e] = dl * (float)q - ml;
        }
    }
}
void eng__quantize_row_q2_K_ref(const float *src, void *dst, int64_t n)
{
    struct eng__block_q2_K *b = dst;
    for (int64_t i = 0; i < n / ENG__QK_K; i++, src += ENG__QK_K) {
        float scale[16], minv[16], maxs = 0, maxm = 0;
        for (int j = 0; j < 16; j++) {
            float mn, mx;
            min_max(src + 16 * j, 16, &mn, &mx);
            if (mn > 0)
                mn = 0;
            scale[j] = (mx - mn) / 3.0f;
            minv[j] = -mn;
            maxs = fmaxf(maxs, scale[j]);
            maxm = fmaxf(maxm, minv[j]);
        }
        float d = maxs / 15.0f, dmin = maxm / 15.0f;
        b[i].d = eng__f32_to_f16(d);
        b[i].dmin = eng__f32_to_f16(dmin);
        float dq = F16(b[i].d), dmq = F16(b[i].dmin);
        memset(b[i].qs, 0, sizeof b[i].qs);
        for (int j = 0; j < 16; j++) {
            int sc = dq > 0 ? clampi(nearest(scale[j] / dq), 0, 15) : 0;
            int m = dmq > 0 ? clampi(nearest(minv[j] / dmq), 0, 15) : 0;
            b[i].scales[j] = (uint8_t)(sc | (m << 4));
            float dl = dq * (float)sc, ml = dmq * (float)m;
            for (int t = 0; t < 16; t++) {
                int e = 16 * j + t, h = e / 128, jj = (e % 128) / 32, l = e % 32;
                int q = dl > 0 ? clampi(nearest((src[e] + ml) / dl), 0, 3) : 0;
                b[i].qs[32 * h + l] |= (uint8_t)(q << (2 * jj));
            }
        }
    }
}

void eng__dequantize_row_q3_K_ref(const void *src, float *dst, int64_t n)
{
    const struct eng__block_q3_K *b = src;
    for (int64_t i = 0; i < n / ENG__QK_K; i++, dst += ENG__QK_K) {
        float d = F16(b[i].d);
        for (int e = 0; e < 256; e++) {
            int h = e / 128, j = (e % 128) / 32, l = e % 32;
            int q2 = (b[i].qs[32 * h + l] >> (2 * j)) & 3;
            int hb = (b[i].hmask[l] >> (4 * h + j)) & 1;
            float dl = d * (float)eng__k3_scale(e / 16, b[i].scales);
            dst[e] = dl * (float)(q2 - (hb ? 0 : 4));
        }
    }
}
void eng__quantize_row_q3_K_ref(const float *src, void *dst, int64_t n)
{
    struct eng__block_q3_K *b = dst;
    for (int64_t i = 0; i < n / ENG__QK_K; i++, src += ENG__QK_K) {
        float s[16], maxs = 0;
        for (int j = 0; j < 16; j++) {
            s[j] = signed_absmax(src + 16 * j, 16) / -4.0f;
            maxs = fmaxf(maxs, fabsf(s[j]));
        }
        b[i].d = eng__f32_to_f16(maxs / 31.0f);
        float dq = F16(b[i].d);
        memset(b[i].qs, 0, sizeof b[i].qs);
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        memset(b[i].scales, 0, sizeof b[i].scales);
        for (int j = 0; j < 16; j++) {
            int sc = dq > 0 ? clampi(nearest(s[j] / dq), -32, 31) : 0;
            int u = sc + 32;
            if (j < 8)
                b[i].scales[j] |= (uint8_t)(u & 0xF);
            else
                b[i].scales[j - 8] |= (uint8_t)((u & 0xF) << 4);
            b[i].scales[8 + j % 4] |= (uint8_t)((u >> 4) << (2 * (j / 4)));
            float dl = dq * (float)sc;
            for (int t = 0; t < 16; t++) {
                int e = 16 * j + t, h = e / 128, jj = (e % 128) / 32, l = e % 32;
                int q = dl != 0 ? clampi(nearest(src[e] / dl), -4, 3) : 0;
                int qq = q + 4;
                b[i].qs[32 * h + l] |= (uint8_t)((qq & 3) << (2 * jj));
                b[i].hmask[l] |= (uint8_t)((qq >> 2) << (4 * h + jj));
            }
        }
    }
}

/* Q4_K and Q5_K share the 12-byte 6-bit scale/min packing and the sub-block walk. */
static void k4_pack_scales(const int sc[8], const int m[8], uint8_t q[12])
{
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        q[j + 4] = (uint8_t)(m[j] | ((m[j + 4] >> 4) << 6));
        q[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
    }
}
/* Quantises one super-block to levels 0..qmax with 6-bit scales and mins; q[256] out. */
static void k4_quant(const float *x, int qmax, eng__f16 *d16, eng__f16 *dmin16, uint8_t scales[12],
                     int q[256])
{
    float scale[8], minv[8], maxs = 0, maxm = 0;
    for (int j = 0; j < 8; j++) {
        float mn, mx;
        min_max(x + 32 * j, 32, &mn, &mx);
        if (mn > 0)
            mn = 0;
        scale[j] = (mx - mn) / (float)qmax;
        minv[j] = -mn;
        maxs = fmaxf(maxs, scale[j]);
        maxm = fmaxf(maxm, minv[j]);
    }
    *d16 = eng__f32_to_f16(maxs / 63.0f);
    *dmin16 = eng__f32_to_f16(maxm / 63.0f);
    float dq = F16(*d16), dmq = F16(*dmin16);
    int sc[8], m[8];
    for (int j = 0; j < 8; j++) {
        sc[j] = dq > 0 ? clampi(nearest(scale[j] / dq), 0, 63) : 0;
        m[j] = dmq > 0 ? clampi(nearest(minv[j] / dmq), 0, 63) : 0;
        float dl = dq * (float)sc[j], ml = dmq * (float)m[j];
        for (int t = 0; t < 32; t++)
            q[32 * j + t] = dl > 0 ? clampi(nearest((x[32 * j + t] + ml) / dl), 0, qmax) : 0;
    }
    k4_pack_scales(sc, m, scales);
}

void eng__dequantize_row_q4_K_ref(const void *src, float *dst, int64_t n)
{
    const struct eng__block_q4_K *b = src;
    for (int64_t i = 0; i < n / ENG__QK_K; i++, dst += ENG__QK_K) {
        float d = F16(b[i].d), dmin = F16(b[i].dmin);
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, m0, sc1, m1;
            eng__k4_scale_min(2 * c, b[i].scales, &sc0, &m0);
            eng__k4_scale_min(2 * c + 1, b[i].scales, &sc1, &m1);
            float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
            float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
            for (int l = 0; l < 32; l++) {
                dst[64 * c + l] = d0 * (float)(b[i].qs[32 * c + l] & 0xF) - mm0;
                dst[64 * c + 32 + l] = d1 * (float)(b[i].qs[32 * c + l] >> 4) - mm1;
            }
        }
    }
}
void eng__quantize_row_q4_K_ref(const float *src, void *dst, int64_t n)
{
    struct eng__block_q4_K *b = dst;
    for (int64_t i = 0; i < n / ENG__QK_K; i++, src += ENG__QK_K) {
        int q[256];
        k4_quant(src, 15, &b[i].d, &b[i].dmin, b[i].scales, q);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
}

void eng__dequantize_row_q5_K_ref(const void *src, float *dst, int64_t n)
{
    const struct eng__block_q5_K *b = src;
    for (int64_t i = 0; i < n / ENG__QK_K; i++, dst += ENG__QK_K) {
        float d = F16(b[i].d), dmin = F16(b[i].dmin);
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, m0, sc1, m1;
            eng__k4_scale_min(2 * c, b[i].scales, &sc0, &m0);
            eng__k4_scale_min(2 * c + 1, b[i].scales, &sc1, &m1);
            float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
            float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
            for (int l = 0; l < 32; l++) {
                int lo = (b[i].qs[32 * c + l] & 0xF) | ((b[i].qh[l] >> (2 * c)) & 1) << 4;
                int hi = (b[i].qs[32 * c + l] >> 4) | ((b[i].qh[l] >> (2 * c + 1)) & 1) << 4;
                dst[64 * c + l] = d0 * (float)lo - mm0;
                dst[64 * c + 32 + l] = d1 * (float)hi - mm1;
            }
        }
    }
}
void eng__quantize_row_q5_K_ref(const float *src, void *dst, int64_t n)
{
    struct eng__block_q5_K *b = dst;
    for (int64_t i = 0; i < n / ENG__QK_K; i++, src += ENG__QK_K) {
        int q[256];
        k4_quant(src, 31, &b[i].d, &b[i].dmin, b[i].scales, q);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
                b[i].qs[32 * c + l] = (uint8_t)((lo & 0xF) | ((hi & 0xF) << 4));
                b[i].qh[l] |= (uint8_t)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
            }
    }
}

/* Q6_K: element e of the super-block, as (ql index, ql shift, qh index, qh shift); its
 * sub-block (scale index) is e / 16. */
static void q6_pos(int e, int *qli, int *qls, int *qhi, int *qhs)
{
    int h = e / 128, r = e % 128, g = r / 32, l = r % 32;
    *qli = 64 * h + l + (g & 1) * 32;
    *qls = (g >> 1) * 4;
    *qhi = 32 * h + l;
    *qhs = 2 * g;
}
void eng__dequantize_row_q6_K_ref(const void *src, float *dst, int64_t n)
{
    const struct eng__block_q6_K *b = src;
    for (int64_t i = 0; i < n / ENG__QK_K; i++, dst += ENG__QK_K) {
        float d = F16(b[i].d);
        for (int e = 0; e < 256; e++) {
            int qli, qls, qhi, qhs;
            q6_pos(e, &qli, &qls, &qhi, &qhs);
            int q = (((b[i].ql[qli] >> qls) & 0xF) | (((b[i].qh[qhi] >> qhs) & 3) << 4)) - 32;
            dst[e] = d * (float)b[i].scales[e / 16] * (float)q;
        }
    }
}
void eng__quantize_row_q6_K_ref(const float *src, void *dst, int64_t n)
{
    struct eng__block_q6_K *b = dst;
    for (int64_t i = 0; i < n / ENG__QK_K; i++, src += ENG__QK_K) {
        float s[16], maxs = 0;
        for (int j = 0; j < 16; j++) {
            s[j] = signed_absmax(src + 16 * j, 16) / -32.0f;
            maxs = fmaxf(maxs, fabsf(s[j]));
        }
        b[i].d = eng__f32_to_f16(maxs / 127.0f);
        float dq = F16(b[i].d);
        memset(b[i].ql, 0, sizeof b[i].ql);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int j = 0; j < 16; j++) {
            int sc = dq > 0 ? clampi(nearest(s[j] / dq), -128, 127) : 0;
            b[i].scales[j] = (int8_t)sc;
            float dl = dq * (float)sc;
            for (int t = 0; t < 16; t++) {
                int e = 16 * j + t, qli, qls, qhi, qhs;
                int q = (dl != 0 ? clampi(nearest(src[e] / dl), -32, 31) : 0) + 32;
                q6_pos(e, &qli, &qls, &qhi, &qhs);
                b[i].ql[qli] |= (uint8_t)((q & 0xF) << qls);
                b[i].qh[qhi] |= (uint8_t)((q >> 4) << qhs);
            }
        }
    }
}

void eng__dequantize_row_q8_K_ref(const void *src, float *dst, int64_t n)
{
    const struct eng__block_q8_K *b = src;
    for (int64_t i = 0; i < n / ENG__QK_K; i++, dst += ENG__QK_K)
        for (int j = 0; j < 256; j++)
            dst[j] = b[i].d * (float)b[i].qs[j];
}
void eng__quantize_row_q8_K_ref(const float *src, void *dst, int64_t n)
{
    struct eng__block_q8_K *b = dst;
    for (int64_t i = 0; i < n / ENG__QK_K; i++, src += ENG__QK_K) {
        float max = signed_absmax(src, 256);
        memset(b[i].bsums, 0, sizeof b[i].bsums);
        if (max == 0.0f) {
            b[i].d = 0;
            memset(b[i].qs, 0, sizeof b[i].qs);
            continue;
        }
        float iscale = -127.0f / max;
        for (int j = 0; j < 256; j++) {
            int q = clampi(nearest(iscale * src[j]), -128, 127);
            b[i].qs[j] = (int8_t)q;
            b[i].bsums[j / 16] = (int16_t)(b[i].bsums[j / 16] + q);
        }
        b[i].d = 1.0f / iscale;
    }
}
