/*
 * AVX2 + FMA + F16C twins of the reference dot products and activation quantisers (kernels.c),
 * for x86 CPUs without AVX-512 VNNI.  Every function reproduces its _ref bit for bit: the
 * integer lane sums are exact whatever instructions form them (here maddubs + madd, with the
 * sign trick |w| x sign(x, w) for signed weights, which keeps every 16-bit pair sum in range),
 * and the float operations run in the order quant.h defines.  The 16 float accumulators of the
 * definition are two 8-lane registers holding lanes 0..7 and 8..15.
 */
#include "engine/arch/x86/x86.h"

#include <immintrin.h>
#include <math.h>

#define AI static inline __attribute__((always_inline))

/* F16C scalar conversion: the same value as eng__f16_to_f32, in two instructions. */
AI float f16c(eng__f16 h) { return _cvtsh_ss(h); }

/* eng__reduce16 of [lo | hi], lane for lane. */
AI float red16(__m256 lo, __m256 hi)
{
    __m256 r8 = _mm256_add_ps(lo, hi);
    __m128 r4 = _mm_add_ps(_mm256_castps256_ps128(r8), _mm256_extractf128_ps(r8, 1));
    __m128 r2 = _mm_add_ps(r4, _mm_movehl_ps(r4, r4));
    __m128 r1 = _mm_add_ss(r2, _mm_movehdup_ps(r2));
    return _mm_cvtss_f32(r1);
}
AI int hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}
AI uint32_t qh32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* 32 bits -> 32 bytes, 0x10 where the bit is set (bit i -> byte i). */
AI __m256i bits_to_0x10(uint32_t m)
{
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303ll, 0x0202020202020202ll,
                                           0x0101010101010101ll, 0x0000000000000000ll);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)m), shuf);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* ---- 32-element types ---------------------------------------------------------------------- */
enum k32 { K_Q4_0, K_Q5_0, K_Q8_0, K_Q4_1, K_Q5_1 };

AI __m256i nib(const uint8_t *q)
{
    __m128i a = _mm_loadu_si128((const __m128i *)q);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(a, 4), a), _mm256_set1_epi8(0x0F));
}

AI __m256i unpack32(const enum k32 kind, const void *w, int64_t b, float *d, float *m)
{
    __m256i q;
    switch (kind) {
    case K_Q4_0: {
        const struct eng__block_q4_0 *x = (const struct eng__block_q4_0 *)w + b;
        q = _mm256_sub_epi8(nib(x->qs), _mm256_set1_epi8(8));
        *d = f16c(x->d);
        break;
    }
    case K_Q5_0: {
        const struct eng__block_q5_0 *x = (const struct eng__block_q5_0 *)w + b;
        q = _mm256_or_si256(nib(x->qs), bits_to_0x10(qh32(x->qh)));
        q = _mm256_sub_epi8(q, _mm256_set1_epi8(16));
        *d = f16c(x->d);
        break;
    }
    case K_Q8_0: {
        const struct eng__block_q8_0 *x = (const struct eng__block_q8_0 *)w + b;
        q = _mm256_loadu_si256((const __m256i *)x->qs);
        *d = f16c(x->d);
        break;
    }
    case K_Q4_1: {
        const struct eng__block_q4_1 *x = (const struct eng__block_q4_1 *)w + b;
        q = nib(x->qs);
        *d = f16c(x->d);
        *m = f16c(x->m);
        break;
    }
    default: {
        const struct eng__block_q5_1 *x = (const struct eng__block_q5_1 *)w + b;
        q = _mm256_or_si256(nib(x->qs), bits_to_0x10(qh32(x->qh)));
        *d = f16c(x->d);
        *m = f16c(x->m);
        break;
    }
    }
    return q;
}

/* 8x8 transpose of dwords: r[j] dword i <- r[i] dword j. */
AI void tr8(__m256i r[8])
{
    __m256i t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int j = 0; j < 4; j++) {
        r[j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x20);
        r[4 + j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x31);
    }
}

/* Blocks in groups of 16, block j of a group in lane eng__lane16(j) = 4(j%4) + j/4 (its own
 * inverse).  The weights of a group are transposed to the activation's layout (quant.h): for
 * lane half h, register R holds in dword i the elements 16(R/4) + 4(R%4).. of the block of lane
 * 8h + i, so each token needs 8 multiply-adds per half and no horizontal folding.  Lanes of
 * blocks past the end get 0 * 0 added, which leaves an accumulator bit-identical (it starts at
 * +0, and round-to-nearest never makes -0 out of a sum that is not all -0). */
AI void dot32(const enum k32 kind, int64_t n, const void *w, const void *act, size_t st, const int NT,
              float *out)
{
    const int has_min = kind == K_Q4_1 || kind == K_Q5_1;
    const int64_t nb = n / ENG__QK;
    const int8_t *xq[ENG__NT_MAX];
    const float *xd[ENG__NT_MAX], *xs[ENG__NT_MAX];
    __m256 acc[ENG__NT_MAX][2], accm[ENG__NT_MAX][2];
    for (int t = 0; t < NT; t++) {
        const char *a = (const char *)act + (size_t)t * st;
        xq[t] = (const int8_t *)a;
        xd[t] = eng__act_d(a, n);
        xs[t] = eng__act_s(a, n);
        acc[t][0] = acc[t][1] = accm[t][0] = accm[t][1] = _mm256_setzero_ps();
    }
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t g = 0; g < nb; g += 16) {
        int nv = nb - g < 16 ? (int)(nb - g) : 16;
        __m256i q[16], aq[16];
        float d[16] = {0}, m[16] = {0};
        for (int l = 0; l < 16; l++) {
            int r = eng__lane16(l);
            q[l] = r < nv ? unpack32(kind, w, g + r, &d[l], &m[l]) : _mm256_setzero_si256();
        }
        tr8(q);
        tr8(q + 8);
        for (int r = 0; r < 16; r++)
            aq[r] = has_min ? q[r] : _mm256_sign_epi8(q[r], q[r]);
        __m256 dw[2] = {_mm256_loadu_ps(d), _mm256_loadu_ps(d + 8)};
        __m256 mw[2] = {_mm256_loadu_ps(m), _mm256_loadu_ps(m + 8)};
#pragma GCC unroll 17
        for (int t = 0; t < NT; t++) {
            const int8_t *x = xq[t] + g * 32;
            for (int h = 0; h < 2; h++) {
                __m256i lane = _mm256_setzero_si256();
                for (int r = 0; r < 8; r++) {
                    __m256i xv = _mm256_loadu_si256((const __m256i *)(x + 64 * r + 32 * h));
                    __m256i p = has_min ? _mm256_maddubs_epi16(q[8 * h + r], xv)
                                        : _mm256_maddubs_epi16(aq[8 * h + r], _mm256_sign_epi8(xv, q[8 * h + r]));
                    lane = _mm256_add_epi32(lane, _mm256_madd_epi16(p, ones));
                }
                __m256 s = _mm256_mul_ps(dw[h], _mm256_loadu_ps(xd[t] + g + 8 * h));
                acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lane), s, acc[t][h]);
                if (has_min)
                    accm[t][h] = _mm256_fmadd_ps(mw[h], _mm256_loadu_ps(xs[t] + g + 8 * h), accm[t][h]);
            }
        }
    }
    for (int t = 0; t < NT; t++) {
        out[t] = red16(acc[t][0], acc[t][1]);
        if (has_min)
            out[t] += red16(accm[t][0], accm[t][1]);
    }
}

#define DOT(name, fn, kind)                                                                       \
    static void dot_##name(int64_t n, const void *w, const void *act, size_t st, int nt, float *out) \
    {                                                                                             \
        for (; nt > ENG__NT_MAX; nt -= ENG__NT_MAX, act = (const char *)act + ENG__NT_MAX * st,   \
                                 out += ENG__NT_MAX)                                              \
            fn(kind, n, w, act, st, ENG__NT_MAX, out);                                            \
        NT_SWITCH(CALL_##name)                                                                    \
    }
#define CALL_q4_0(N) dot32(K_Q4_0, n, w, act, st, N, out)
#define CALL_q5_0(N) dot32(K_Q5_0, n, w, act, st, N, out)
#define CALL_q8_0(N) dot32(K_Q8_0, n, w, act, st, N, out)
#define CALL_q4_1(N) dot32(K_Q4_1, n, w, act, st, N, out)
#define CALL_q5_1(N) dot32(K_Q5_1, n, w, act, st, N, out)
DOT(q4_0, dot32, K_Q4_0)
DOT(q5_0, dot32, K_Q5_0)
DOT(q8_0, dot32, K_Q8_0)
DOT(q4_1, dot32, K_Q4_1)
DOT(q5_1, dot32, K_Q5_1)

/* ---- K-quants ------------------------------------------------------------------------------ */
enum kk { K_Q4_K, K_Q5_K, K_Q6_K, K_Q2_K, K_Q3_K };

/* A super-block as 8 x 32 bytes in element order and, per 32 bytes, a 16-bit scale vector for
 * madd (Q4_K/Q5_K: one sub-block per 32 bytes; Q6_K: two 16-element sub-blocks). */
struct ksb {
    __m256i q[8], sc[8];
    __m256i mexp;
    float d, dmin;
};

AI void unpack_k(const enum kk kind, const void *w, int64_t b, struct ksb *k)
{
    const __m256i m0f = _mm256_set1_epi8(0x0F);
    if (kind == K_Q4_K || kind == K_Q5_K) {
        const uint8_t *qs, *scales;
        eng__f16 d, dmin;
        __m256i qhv = _mm256_setzero_si256();
        if (kind == K_Q4_K) {
            const struct eng__block_q4_K *x = (const struct eng__block_q4_K *)w + b;
            qs = x->qs, scales = x->scales, d = x->d, dmin = x->dmin;
        } else {
            const struct eng__block_q5_K *x = (const struct eng__block_q5_K *)w + b;
            qs = x->qs, scales = x->scales, d = x->d, dmin = x->dmin;
            qhv = _mm256_loadu_si256((const __m256i *)x->qh);
        }
        for (int c = 0; c < 4; c++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m256i lo = _mm256_and_si256(v, m0f), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m0f);
            if (kind == K_Q5_K) {
                const __m256i one = _mm256_set1_epi8(1);
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qhv, 2 * c), one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qhv, 2 * c + 1), one), 4));
            }
            k->q[2 * c] = lo;
            k->q[2 * c + 1] = hi;
        }
        uint16_t mn[16];
        for (int j = 0; j < 8; j++) {
            uint8_t s, m;
            eng__k4_scale_min(j, scales, &s, &m);
            k->sc[j] = _mm256_set1_epi16((short)s);
            mn[2 * j] = mn[2 * j + 1] = m;
        }
        k->mexp = _mm256_loadu_si256((const __m256i *)mn);
        k->d = f16c(d);
        k->dmin = f16c(dmin);
    } else if (kind == K_Q2_K || kind == K_Q3_K) {
        /* element 128h + 32j + l: 2 low bits at qs[32h + l] >> 2j; Q3_K's third bit at
         * hmask[l] >> (4h + j).  Register c holds elements 32c.. (h = c/4, j = c%4). */
        const uint8_t *qs;
        __m256i hm = _mm256_setzero_si256();
        int sc[16];
        if (kind == K_Q2_K) {
            const struct eng__block_q2_K *x = (const struct eng__block_q2_K *)w + b;
            qs = x->qs;
            uint16_t mn[16];
            for (int j = 0; j < 16; j++) {
                sc[j] = x->scales[j] & 0xF;
                mn[j] = x->scales[j] >> 4;
            }
            k->mexp = _mm256_loadu_si256((const __m256i *)mn);
            k->d = f16c(x->d);
            k->dmin = f16c(x->dmin);
        } else {
            const struct eng__block_q3_K *x = (const struct eng__block_q3_K *)w + b;
            qs = x->qs;
            hm = _mm256_loadu_si256((const __m256i *)x->hmask);
            for (int j = 0; j < 16; j++)
                sc[j] = eng__k3_scale(j, x->scales);
            k->d = f16c(x->d);
            k->dmin = 0;
        }
        const __m256i m3 = _mm256_set1_epi8(3);
        for (int c = 0; c < 8; c++) {
            int h = c / 4, j = c % 4;
            __m256i z = _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)(qs + 32 * h)), 2 * j), m3);
            if (kind == K_Q3_K) {
                __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j), _mm256_set1_epi8(1));
                z = _mm256_sub_epi8(_mm256_add_epi8(z, _mm256_slli_epi16(hb, 2)), _mm256_set1_epi8(4));
            }
            k->q[c] = z;
            k->sc[c] = _mm256_set_m128i(_mm_set1_epi16((short)sc[2 * c + 1]), _mm_set1_epi16((short)sc[2 * c]));
        }
    } else {
        const struct eng__block_q6_K *x = (const struct eng__block_q6_K *)w + b;
        const __m256i m3 = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
        for (int h = 0; h < 2; h++) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
            __m256i a2 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
            __m256i qv = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
            __m256i g[4];
            g[0] = _mm256_or_si256(_mm256_and_si256(a, m0f), _mm256_slli_epi16(_mm256_and_si256(qv, m3), 4));
            g[1] = _mm256_or_si256(_mm256_and_si256(a2, m0f),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qv, 2), m3), 4));
            g[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m0f),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qv, 4), m3), 4));
            g[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a2, 4), m0f),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qv, 6), m3), 4));
            for (int i = 0; i < 4; i++) {
                k->q[4 * h + i] = _mm256_sub_epi8(g[i], off);
                int j = 8 * h + 2 * i; /* sub-blocks j (first 16 bytes), j + 1 */
                k->sc[4 * h + i] = _mm256_set_m128i(_mm_set1_epi16(x->scales[j + 1]), _mm_set1_epi16(x->scales[j]));
            }
        }
        k->d = f16c(x->d);
        k->dmin = 0;
    }
}

AI void dotK(const enum kk kind, int64_t n, const void *w, const void *act, size_t st, const int NT,
             float *out)
{
    const int has_min = kind != K_Q6_K && kind != K_Q3_K;
    const int64_t nb = n / ENG__QK_K;
    const int8_t *xq[ENG__NT_MAX];
    const float *xd[ENG__NT_MAX];
    const int16_t *xb[ENG__NT_MAX];
    __m256 lo[ENG__NT_MAX], hi[ENG__NT_MAX], accm[ENG__NT_MAX];
    for (int t = 0; t < NT; t++) {
        const char *a = (const char *)act + (size_t)t * st;
        xq[t] = (const int8_t *)a;
        xd[t] = eng__act_d(a, n);
        xb[t] = eng__act_bsums(a, n);
        lo[t] = hi[t] = accm[t] = _mm256_setzero_ps();
    }
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < nb; b++) {
        struct ksb k;
        unpack_k(kind, w, b, &k);
        __m256i aq[8];
        const int sgn = kind == K_Q6_K || kind == K_Q3_K; /* signed levels: sign trick */
        if (sgn)
            for (int c = 0; c < 8; c++)
                aq[c] = _mm256_sign_epi8(k.q[c], k.q[c]);
        __m256 vd = _mm256_set1_ps(k.d), vdmin = _mm256_set1_ps(k.dmin);
        for (int t = 0; t < NT; t++) {
            const int8_t *x = xq[t] + b * ENG__QK_K;
            /* lanes (e % 64) / 4: even 32-groups fill lanes 0..7, odd ones 8..15 */
            __m256i ia[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
            for (int c = 0; c < 8; c++) {
                __m256i xv = _mm256_loadu_si256((const __m256i *)(x + 32 * c));
                __m256i p = sgn ? _mm256_maddubs_epi16(aq[c], _mm256_sign_epi8(xv, k.q[c]))
                                : _mm256_maddubs_epi16(k.q[c], xv);
                ia[c & 1] = _mm256_add_epi32(ia[c & 1], _mm256_madd_epi16(p, k.sc[c]));
            }
            __m256 dd = _mm256_mul_ps(vd, _mm256_set1_ps(xd[t][b]));
            lo[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ia[0]), dd, lo[t]);
            hi[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ia[1]), dd, hi[t]);
            if (has_min) {
                __m256i bs = _mm256_loadu_si256((const __m256i *)(xb[t] + 16 * b));
                __m256 md = _mm256_xor_ps(_mm256_mul_ps(vdmin, _mm256_set1_ps(xd[t][b])), sign);
                accm[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bs, k.mexp)), md, accm[t]);
            }
        }
    }
    for (int t = 0; t < NT; t++) {
        out[t] = red16(lo[t], hi[t]);
        if (has_min) {
            __m128 r4 = _mm_add_ps(_mm256_castps256_ps128(accm[t]), _mm256_extractf128_ps(accm[t], 1));
            __m128 r2 = _mm_add_ps(r4, _mm_movehl_ps(r4, r4));
            out[t] += _mm_cvtss_f32(_mm_add_ss(r2, _mm_movehdup_ps(r2)));
        }
    }
}
#define CALL_q4_K(N) dotK(K_Q4_K, n, w, act, st, N, out)
#define CALL_q5_K(N) dotK(K_Q5_K, n, w, act, st, N, out)
#define CALL_q6_K(N) dotK(K_Q6_K, n, w, act, st, N, out)
#define CALL_q2_K(N) dotK(K_Q2_K, n, w, act, st, N, out)
#define CALL_q3_K(N) dotK(K_Q3_K, n, w, act, st, N, out)
DOT(q4_K, dotK, K_Q4_K)
DOT(q5_K, dotK, K_Q5_K)
DOT(q6_K, dotK, K_Q6_K)
DOT(q2_K, dotK, K_Q2_K)
DOT(q3_K, dotK, K_Q3_K)

/* ---- float weights ------------------------------------------------------------------------- */
enum kf { K_F32, K_F16, K_BF16 };

AI __m256 loadw(const enum kf kind, const void *w, int64_t i)
{
    switch (kind) {
    case K_F32: return _mm256_loadu_ps((const float *)w + i);
    case K_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    default:
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i))), 16));
    }
}
AI float wscalar(const enum kf kind, const void *w, int64_t i)
{
    uint16_t h;
    switch (kind) {
    case K_F32: { float f; memcpy(&f, (const float *)w + i, 4); return f; }
    case K_F16: memcpy(&h, (const uint16_t *)w + i, 2); return f16c(h);
    default: memcpy(&h, (const uint16_t *)w + i, 2); return eng__bf16_to_f32(h);
    }
}

AI void dotF(const enum kf kind, int64_t n, const void *w, const void *act, size_t st, const int NT,
             float *out)
{
    const float *x[ENG__NT_MAX];
    __m256 lo[ENG__NT_MAX], hi[ENG__NT_MAX];
    for (int t = 0; t < NT; t++) {
        x[t] = (const float *)((const char *)act + (size_t)t * st);
        lo[t] = hi[t] = _mm256_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = loadw(kind, w, i), w1 = loadw(kind, w, i + 8);
#pragma GCC unroll 17
        for (int t = 0; t < NT; t++) {
            lo[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[t] + i), lo[t]);
            hi[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x[t] + i + 8), hi[t]);
        }
    }
    for (int t = 0; t < NT; t++) {
        if (i < n) { /* tail: lanes i % 16, scalar fma, then the same reduction */
            float a[16];
            _mm256_storeu_ps(a, lo[t]);
            _mm256_storeu_ps(a + 8, hi[t]);
            for (int64_t j = i; j < n; j++)
                a[j % 16] = fmaf(wscalar(kind, w, j), x[t][j], a[j % 16]);
            out[t] = eng__reduce16(a);
        } else {
            out[t] = red16(lo[t], hi[t]);
        }
    }
}
#define CALL_f32(N) dotF(K_F32, n, w, act, st, N, out)
#define CALL_f16(N) dotF(K_F16, n, w, act, st, N, out)
#define CALL_bf16(N) dotF(K_BF16, n, w, act, st, N, out)
DOT(f32, dotF, K_F32)
DOT(f16, dotF, K_F16)
DOT(bf16, dotF, K_BF16)

/* ---- activation quantisers ----------------------------------------------------------------- */
/* 32 values -> int8 (rint(x * id)), plus the int32 lane sums of the two halves of 16. */
AI void q32(const float *x, float id, int8_t *qs, __m256i *s16a, __m256i *s16b)
{
    __m256 vid = _mm256_set1_ps(id);
    __m256i i[4];
    for (int j = 0; j < 4; j++)
        i[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * j), vid),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)qs, p);
    *s16a = _mm256_add_epi32(i[0], i[1]);
    *s16b = _mm256_add_epi32(i[2], i[3]);
}
AI float amax_of(const float *x, int k)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < k; j += 8)
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
    __m128 r = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    r = _mm_max_ps(r, _mm_movehl_ps(r, r));
    r = _mm_max_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

static void quant_act_q8(const float *x, void *act, int64_t n, int has_s)
{
    int8_t *qs = act;
    float *d = (float *)eng__act_d(act, n), *sm = (float *)eng__act_s(act, n);
    int32_t *is = (int32_t *)eng__act_isum(act, n);
    int64_t nb = n / ENG__QK, nb16 = eng__act_nb16(n);
    if (nb % 16) /* zero the unused part of the last group */
        memset(qs + nb / 16 * 512, 0, 512);
    for (int64_t b = 0; b < nb; b++) {
        float amax = amax_of(x + b * ENG__QK, ENG__QK);
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int8_t q[ENG__QK];
        __m256i sa, sb;
        q32(x + b * ENG__QK, id, q, &sa, &sb);
        for (int i = 0; i < ENG__QK; i += 4)
            memcpy(qs + eng__act_qpos(b, i), q + i, 4);
        int64_t k = eng__act_bslot(b);
        d[k] = amax / 127.0f;
        is[k] = hsum_epi32(_mm256_add_epi32(sa, sb));
        if (has_s)
            sm[k] = d[k] * (float)is[k];
    }
    for (int64_t b = nb; b < nb16; b++) {
        int64_t k = eng__act_bslot(b);
        d[k] = 0;
        is[k] = 0;
        if (has_s)
            sm[k] = 0;
    }
}
static void quant_act_q8_0(const float *x, void *act, int64_t n) { quant_act_q8(x, act, n, 0); }
static void quant_act_q8_1(const float *x, void *act, int64_t n) { quant_act_q8(x, act, n, 1); }
static void quant_act_q8_K(const float *x, void *act, int64_t n)
{
    int8_t *qs = act;
    float *d = (float *)eng__act_d(act, n);
    int16_t *bs = (int16_t *)eng__act_bsums(act, n);
    for (int64_t b = 0; b < n / ENG__QK_K; b++) {
        const float *xb = x + b * ENG__QK_K;
        float amax = amax_of(xb, ENG__QK_K);
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        d[b] = amax / 127.0f;
        for (int g = 0; g < 8; g++) {
            __m256i sa, sb;
            q32(xb + 32 * g, id, qs + b * ENG__QK_K + 32 * g, &sa, &sb);
            bs[16 * b + 2 * g] = (int16_t)hsum_epi32(sa);
            bs[16 * b + 2 * g + 1] = (int16_t)hsum_epi32(sb);
        }
    }
}

static void f16_to_f32_row(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        dst[i] = f16c(src[i]);
}
static void f32_to_f16_row(const float *src, uint16_t *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = eng__f32_to_f16(src[i]);
}

static void f16_axpy(int64_t n, float a, const uint16_t *x, float *y)
{
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))),
                                                _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] = fmaf(a, f16c(x[i]), y[i]);
}

void eng__kern_install_avx2(struct eng__kern *k)
{
#define SET(id, fn)                                                                               \
    do {                                                                                          \
        k->t[id].dot = fn;                                                                        \
        k->t[id].dot_isa = "avx2";                                                                \
    } while (0)
    SET(ENG_TYPE_Q4_0, dot_q4_0);
    SET(ENG_TYPE_Q5_0, dot_q5_0);
    SET(ENG_TYPE_Q8_0, dot_q8_0);
    SET(ENG_TYPE_Q4_1, dot_q4_1);
    SET(ENG_TYPE_Q5_1, dot_q5_1);
    SET(ENG_TYPE_Q4_K, dot_q4_K);
    SET(ENG_TYPE_Q5_K, dot_q5_K);
    SET(ENG_TYPE_Q6_K, dot_q6_K);
    SET(ENG_TYPE_Q2_K, dot_q2_K);
    SET(ENG_TYPE_Q3_K, dot_q3_K);
    SET(ENG_TYPE_F32, dot_f32);
    SET(ENG_TYPE_F16, dot_f16);
    SET(ENG_TYPE_BF16, dot_bf16);
#undef SET
    k->quant_act[ENG__ACT_Q8_0] = quant_act_q8_0;
    k->quant_act[ENG__ACT_Q8_1] = quant_act_q8_1;
    k->quant_act[ENG__ACT_Q8_K] = quant_act_q8_K;
    k->f16_to_f32_row = f16_to_f32_row;
    k->f32_to_f16_row = f32_to_f16_row;
    k->f16_axpy = f16_axpy;
}
