/*
 * AVX-512 (F/BW/VL/DQ) + VNNI twins of the reference dot products and activation quantisers.
 * Bit-exact with _ref (quant.h, ACCUMULATION ORDER): the integer lane sums are exact however
 * they are formed, and the float operations are the reference's, lane for lane.
 *
 * Workload: one weight row against 1..8 activation rows per call.  Everything that depends only
 * on the weight (nibble unpacking, scales, bias corrections) is done once per block and shared
 * by the tokens.  Per token, 512 weights of a 32-element type cost 8 VNNI dots (the weights are
 * transposed once per group into the activation's layout, so no folding), a correction, a
 * convert, a scale multiply and an FMA; 256 weights
 * of a K-quant cost 4 VNNI byte dots, 4 VNNI word dots (sub-block scales), a convert and an FMA
 * (plus 4 for the mins).
 *
 * VNNI multiplies u8 x s8.  Unsigned weight levels (Q4_0/Q5_0 before their offset, Q4_1, Q5_1,
 * Q2_K, Q4_K, Q5_K) go in as u8 and the offset times the activation sum is subtracted per block;
 * Q8_0 weights are shifted by +128 the same way.  Signed levels (Q3_K, Q6_K) are multiplied by
 * the activation biased by +128: sum (x+128) w = sum x w + 128 sum w, and the weight-only term
 * starts the accumulator at -128 sum w.
 */
#include "engine/arch/x86/x86.h"

#include <immintrin.h>
#include <math.h>
#include <pthread.h>

#define AI static inline __attribute__((always_inline))

/* F16C scalar conversion: the same value as eng__f16_to_f32, in two instructions. */
AI float f16c(eng__f16 h) { return _cvtsh_ss(h); }

/* eng__reduce16, lane for lane. */
AI float red16(__m512 a)
{
    __m256 r8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m128 r4 = _mm_add_ps(_mm256_castps256_ps128(r8), _mm256_extractf128_ps(r8, 1));
    __m128 r2 = _mm_add_ps(r4, _mm_movehl_ps(r4, r4));
    __m128 r1 = _mm_add_ss(r2, _mm_movehdup_ps(r2));
    return _mm_cvtss_f32(r1);
}

AI int hsum_epi32_256(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}
AI int hsum_epi32(__m512i v)
{
    return hsum_epi32_256(_mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)));
}

/* ---- 32-element types ----------------------------------------------------------------------
 * Blocks go in groups of 16 (one float lane each).  Per group, two 64-byte loads and one word
 * permute per quad of 4 blocks pick out the quad's quants (a 16-byte lane per block) and its
 * header words (d, m, qh); a 4x4 dword transpose (6 permutes) then gives the activation's
 * transposed layout (quant.h): register 4h + c, lane of block j = its elements 16h + 4c...
 * Per token the 8 VNNI dots land every block's exact sum in its own lane; one convert, one
 * scale multiply and one FMA serve 16 blocks.  Q4_0/Q5_0 use the unsigned levels and subtract
 * offset * sum(x) per block; Q8_0 adds 128 to the weights and subtracts 128 * sum(x). */
enum k32 { K_Q4_0, K_Q5_0, K_Q8_0, K_Q4_1, K_Q5_1 };

struct k32_info {
    int bsize, qs_off, qh_off, shift; /* shift: log2 of the offset subtracted, 0 = none */
};
AI struct k32_info k32_info(const enum k32 kind)
{
    switch (kind) {
    case K_Q4_0: return (struct k32_info){18, 2, 0, 3};
    case K_Q5_0: return (struct k32_info){22, 6, 2, 4};
    case K_Q8_0: return (struct k32_info){34, 2, 0, 7};
    case K_Q4_1: return (struct k32_info){20, 4, 0, 0};
    default: return (struct k32_info){24, 8, 4, 0};
    }
}

/* Word-index tables (vpermt2w) that pull a quad of 4 blocks out of two 64-byte loads, and
 * dword tables (vpermt2d) for the 4x4 transpose that turns 4 quads into the activation's
 * group layout.  Filled once by eng__kern_install_avx512. */
#define PF_AHEAD 2048 /* bytes of weights prefetched ahead */

struct k32_tab {
    uint16_t qlo[32], qhi[32]; /* quad qs (Q8_0: elements 0..15 / 16..31) */
    uint16_t hdr[32];          /* dword 4k: d | m << 16 of block k; dword 4k + 1: qh */
    int boff;                  /* byte offset of the second load within the quad */
};
static struct k32_tab k32_tabs[5];
static int32_t tr1[2][16], tr2[2][16]; /* transpose level 1 (c 0..1 / 2..3), level 2 (c even/odd) */

static void k32_tables(void)
{
    for (int kind = 0; kind < 5; kind++) {
        const struct k32_info in = k32_info((enum k32)kind);
        struct k32_tab *t = &k32_tabs[kind];
        int q8 = kind == K_Q8_0, bw = in.bsize / 2;
        t->boff = q8 ? 64 : 4 * in.bsize - 64;
        for (int o = 0; o < 32; o++) {
            int r = o / 8, j = o % 8;
            int s = bw * r + in.qs_off / 2 + j;
            t->qlo[o] = (uint16_t)(q8 ? s : s < 32 ? s : 32 + s - t->boff / 2);
            t->qhi[o] = (uint16_t)(q8 ? s + 8 - 4 : 0); /* Q8_0: loads at 8 and 72 */
            int k = o / 8, w = o % 8, hs;
            if (w < 2)
                hs = bw * k + w;
            else if (w < 4 && in.qh_off)
                hs = bw * k + in.qh_off / 2 + w - 2;
            else
                hs = bw * k;
            t->hdr[o] = (uint16_t)(q8 || hs < 32 ? hs : 32 + hs - t->boff / 2);
        }
    }
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int cc = 0; cc < 2; cc++)
                for (int q = 0; q < 2; q++) {
                    tr1[h][4 * k + 2 * cc + q] = 16 * q + 4 * k + 2 * h + cc;
                    tr2[cc][4 * k + q] = 4 * k + 2 * cc + q;
                    tr2[cc][4 * k + 2 + q] = 16 + 4 * k + 2 * cc + q;
                }
}

/* Four quad registers (128-bit lane k of Q[q] = 16 bytes of block 4q + k, dword c = bytes
 * 4c..4c+3) -> T[c]: lane 4k + q = dword c of block 4q + k (the eng__lane16 order). nc = 2 or 4
 * dwords wanted. */
AI void transpose4(const __m512i Q[4], __m512i *T, const int nc)
{
    const __m512i i1a = _mm512_loadu_si512((const void *)tr1[0]), i1b = _mm512_loadu_si512((const void *)tr1[1]);
    const __m512i i2a = _mm512_loadu_si512((const void *)tr2[0]), i2b = _mm512_loadu_si512((const void *)tr2[1]);
    __m512i a01 = _mm512_permutex2var_epi32(Q[0], i1a, Q[1]), a23 = _mm512_permutex2var_epi32(Q[2], i1a, Q[3]);
    T[0] = _mm512_permutex2var_epi32(a01, i2a, a23);
    T[1] = _mm512_permutex2var_epi32(a01, i2b, a23);
    if (nc == 4) {
        __m512i b01 = _mm512_permutex2var_epi32(Q[0], i1b, Q[1]), b23 = _mm512_permutex2var_epi32(Q[2], i1b, Q[3]);
        T[2] = _mm512_permutex2var_epi32(b01, i2a, b23);
        T[3] = _mm512_permutex2var_epi32(b01, i2b, b23);
    }
}

/* One full group of 16 blocks at wg: W[4h + c] = u8 levels of elements 16h + 4c.. of each
 * block in its lane (the activation's register layout); dm = lane: d | m << 16. */
AI void unpack_group(const enum k32 kind, const uint8_t *wg, __m512i W[8], __m512i *dm)
{
    const struct k32_info in = k32_info(kind);
    const struct k32_tab *tb = &k32_tabs[kind];
    const __m512i iqlo = _mm512_loadu_si512((const void *)tb->qlo), ihdr = _mm512_loadu_si512((const void *)tb->hdr);
    __m512i Qlo[4], Qhi[4], H[4], hv[2];
#pragma GCC unroll 8
    for (int q = 0; q < 4; q++) {
        const uint8_t *p = wg + 4 * q * in.bsize;
        __m512i a = _mm512_loadu_si512((const void *)p), b = _mm512_loadu_si512((const void *)(p + tb->boff));
        Qlo[q] = _mm512_permutex2var_epi16(a, iqlo, b);
        H[q] = _mm512_permutex2var_epi16(a, ihdr, b);
        if (kind == K_Q8_0)
            Qhi[q] = _mm512_permutex2var_epi16(_mm512_loadu_si512((const void *)(p + 8)),
                                               _mm512_loadu_si512((const void *)tb->qhi),
                                               _mm512_loadu_si512((const void *)(p + 72)));
    }
    transpose4(H, hv, 2);
    *dm = hv[0];
    if (kind == K_Q8_0) {
        const __m512i c80 = _mm512_set1_epi8((char)0x80);
        transpose4(Qlo, W, 4);
        transpose4(Qhi, W + 4, 4);
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++)
            W[r] = _mm512_xor_si512(W[r], c80);
        return;
    }
    __m512i R[4];
    transpose4(Qlo, R, 4);
    const __m512i m0f = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 8
    for (int c = 0; c < 4; c++) {
        W[c] = _mm512_and_si512(R[c], m0f);
        W[4 + c] = _mm512_and_si512(_mm512_srli_epi16(R[c], 4), m0f);
    }
    if (kind == K_Q5_0 || kind == K_Q5_1) {
        /* bit 16h + 4c + i of the block's qh -> 0x10 in byte i of its lane of W[4h + c]: byte
         * (16h + 4c) / 8 of the qh word broadcast over the lane, then one bit per byte tested */
        const __m512i b4 = _mm512_set1_epi8(0x10);
        const __m512i base = _mm512_set_epi32(0x0c0c0c0c, 0x08080808, 0x04040404, 0, 0x0c0c0c0c, 0x08080808,
                                              0x04040404, 0, 0x0c0c0c0c, 0x08080808, 0x04040404, 0,
                                              0x0c0c0c0c, 0x08080808, 0x04040404, 0);
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            __m512i t = _mm512_shuffle_epi8(hv[1], _mm512_add_epi8(base, _mm512_set1_epi8((char)(r / 2))));
            __m512i bits = _mm512_set1_epi32(r % 2 ? (int)0x80402010u : 0x08040201);
            W[r] = _mm512_mask_mov_epi8(W[r], _mm512_test_epi8_mask(t, bits), _mm512_or_si512(W[r], b4));
        }
    }
}

AI void dot32(const enum k32 kind, int64_t n, const void *w, const void *act, size_t st, const int NT,
              float *out)
{
    const struct k32_info in = k32_info(kind);
    const int has_min = kind == K_Q4_1 || kind == K_Q5_1;
    const int64_t nb = n / ENG__QK;
    const int8_t *xq[ENG__NT_MAX];
    const float *xd[ENG__NT_MAX], *xs[ENG__NT_MAX];
    const int32_t *xi[ENG__NT_MAX];
    __m512 acc[ENG__NT_MAX], accm[ENG__NT_MAX];
    for (int t = 0; t < NT; t++) {
        const char *a = (const char *)act + (size_t)t * st;
        xq[t] = (const int8_t *)a;
        xd[t] = eng__act_d(a, n);
        xi[t] = eng__act_isum(a, n);
        xs[t] = eng__act_s(a, n);
        acc[t] = accm[t] = _mm512_setzero_ps();
    }
    for (int64_t g = 0; g < nb; g += 16) {
        const uint8_t *wg = (const uint8_t *)w + g * in.bsize;
        int nv = nb - g < 16 ? (int)(nb - g) : 16;
        __mmask16 vm = 0xFFFF;
        uint8_t tail[16 * 34];
        if (nv < 16) { /* a partial group: zero blocks after the last (level 0, d 0) */
            vm = 0;
            for (int j = 0; j < nv; j++)
                vm |= (__mmask16)(1u << eng__lane16(j));
            memset(tail, 0, sizeof tail);
            memcpy(tail, wg, (size_t)nv * (size_t)in.bsize);
            wg = tail;
        }
        /* the hardware prefetcher alone leaves one core well short of the bus: ask for the
         * weights a few groups ahead (past the row end is the next row; prefetches never fault) */
        for (int l = 0; l < 16 * in.bsize; l += 64)
            _mm_prefetch((const char *)wg + PF_AHEAD + l, _MM_HINT_T0);
        __m512i W[8], dm;
        unpack_group(kind, wg, W, &dm);
        __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dm));
        __m512 mw = has_min ? _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dm, 16))) : dw;
#pragma GCC unroll 17
        for (int t = 0; t < NT; t++) {
            const int8_t *x = xq[t] + g * 32;
            __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int r = 0; r < 8; r += 2) {
                s0 = _mm512_dpbusd_epi32(s0, W[r], _mm512_loadu_si512((const void *)(x + 64 * r)));
                s1 = _mm512_dpbusd_epi32(s1, W[r + 1], _mm512_loadu_si512((const void *)(x + 64 * r + 64)));
            }
            __m512i sum = _mm512_add_epi32(s0, s1);
            if (in.shift)
                sum = _mm512_sub_epi32(sum, _mm512_slli_epi32(_mm512_loadu_si512((const void *)(xi[t] + g)), in.shift));
            __m512 s = _mm512_mul_ps(dw, _mm512_loadu_ps(xd[t] + g));
            acc[t] = _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(sum), s, acc[t], vm);
            if (has_min)
                accm[t] = _mm512_mask3_fmadd_ps(mw, _mm512_loadu_ps(xs[t] + g), accm[t], vm);
        }
    }
    for (int t = 0; t < NT; t++) {
        out[t] = red16(acc[t]);
        if (has_min)
            out[t] += red16(accm[t]);
    }
}


#define DOT32(name, kind)                                                                         \
    static void dot_##name(int64_t n, const void *w, const void *act, size_t st, int nt, float *out) \
    {                                                                                             \
        for (; nt > ENG__NT_MAX; nt -= ENG__NT_MAX, act = (const char *)act + ENG__NT_MAX * st,   \
                                 out += ENG__NT_MAX)                                              \
            dot32(kind, n, w, act, st, ENG__NT_MAX, out);                                         \
        NT_SWITCH(DOT32_CALL_##name)                                                              \
    }
#define DOT32_CALL_q4_0(N) dot32(K_Q4_0, n, w, act, st, N, out)
#define DOT32_CALL_q5_0(N) dot32(K_Q5_0, n, w, act, st, N, out)
#define DOT32_CALL_q8_0(N) dot32(K_Q8_0, n, w, act, st, N, out)
#define DOT32_CALL_q4_1(N) dot32(K_Q4_1, n, w, act, st, N, out)
#define DOT32_CALL_q5_1(N) dot32(K_Q5_1, n, w, act, st, N, out)
DOT32(q4_0, K_Q4_0)
DOT32(q5_0, K_Q5_0)
DOT32(q8_0, K_Q8_0)
DOT32(q4_1, K_Q4_1)
DOT32(q5_1, K_Q5_1)

/* ---- K-quants ------------------------------------------------------------------------------ */
enum kk { K_Q4_K, K_Q5_K, K_Q6_K, K_Q2_K, K_Q3_K };

/* One super-block's weights as 4 x 64 bytes in element order, the scale vectors (lane i of
 * vector c holds the scale of the sub-block of the 4 elements of lane i), the min pairs for
 * the bsums (Q4_K/Q5_K) and the bias correction (Q6_K: 128 * sum_j sc_j sum w_j). */
struct ksb {
    __m512i q[4], sc[4];
    __m256i mexp;
    __m512i corr; /* per lane: -128 * sum sc * w (biased-activation correction) */
    float d, dmin;
};

/* The 12-byte Q4_K/Q5_K scales as 8 six-bit scales and 8 mins, one per byte (eng__k4_scale_min
 * on 32-bit words). */
AI void k4_scales(const uint8_t *q, uint64_t *sc, uint64_t *m)
{
    uint32_t u0, u1, u2;
    memcpy(&u0, q, 4);
    memcpy(&u1, q + 4, 4);
    memcpy(&u2, q + 8, 4);
    uint32_t sc_lo = u0 & 0x3f3f3f3fu, m_lo = u1 & 0x3f3f3f3fu;
    uint32_t sc_hi = (u2 & 0x0f0f0f0fu) | ((u0 >> 2) & 0x30303030u);
    uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 2) & 0x30303030u);
    *sc = (uint64_t)sc_hi << 32 | sc_lo;
    *m = (uint64_t)m_hi << 32 | m_lo;
}
/* Lane i of vector c holds elements 64c + 4i..: sub-block 2c + i/8 (32-element sub-blocks) or
 * 4c + i/4 (16-element sub-blocks). */
static const int32_t k4_idx[4][16] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5}, {6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7}};
static const int32_t k16_idx[4][16] = {
    {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}, {4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7},
    {8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11},
    {12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15}};

AI void unpack_k(const enum kk kind, const void *w, int64_t b, struct ksb *k)
{
    if (kind == K_Q4_K || kind == K_Q5_K) {
        const uint8_t *qs, *scales;
        eng__f16 d, dmin;
        __m256i qhv = _mm256_setzero_si256();
        if (kind == K_Q4_K) {
            const struct eng__block_q4_K *x = (const struct eng__block_q4_K *)w + b;
            qs = x->qs;
            scales = x->scales;
            d = x->d;
            dmin = x->dmin;
        } else {
            const struct eng__block_q5_K *x = (const struct eng__block_q5_K *)w + b;
            qs = x->qs;
            scales = x->scales;
            d = x->d;
            dmin = x->dmin;
            qhv = _mm256_loadu_si256((const __m256i *)x->qh);
        }
        const __m512i m0f = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1);
            z = _mm512_and_si512(z, m0f);
            if (kind == K_Q5_K) {
                __m512i h = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_srli_epi16(qhv, 2 * c)),
                                               _mm256_srli_epi16(qhv, 2 * c + 1), 1);
                h = _mm512_slli_epi16(_mm512_and_si512(h, _mm512_set1_epi8(1)), 4);
                z = _mm512_or_si512(z, h);
            }
            k->q[c] = z;
        }
        uint64_t sc8, m8;
        k4_scales(scales, &sc8, &m8);
        __m512i s8 = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc8));
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            k->sc[c] = _mm512_permutexvar_epi32(_mm512_loadu_si512((const void *)k4_idx[c]), s8);
        __m128i m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)m8));
        k->mexp = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
        k->d = f16c(d);
        k->dmin = f16c(dmin);
        k->corr = _mm512_setzero_si512();
    } else if (kind == K_Q2_K || kind == K_Q3_K) {
        /* element 128h + 32j + l: 2 low bits at qs[32h + l] >> 2j; Q3_K's third bit at
         * hmask[l] >> (4h + j).  Vector c holds elements 64c.., i.e. h = c/2, j = 2(c%2) + 0/1. */
        const uint8_t *qs;
        __m256i hm = _mm256_setzero_si256();
        int32_t sc[16];
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
        const __m512i m3 = _mm512_set1_epi8(3);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            int h = c / 2, j0 = 2 * (c % 2);
            __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
            __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_srli_epi16(v, 2 * j0)),
                                           _mm256_srli_epi16(v, 2 * j0 + 2), 1);
            z = _mm512_and_si512(z, m3);
            if (kind == K_Q3_K) {
                __m512i hb = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_srli_epi16(hm, 4 * h + j0)),
                                                _mm256_srli_epi16(hm, 4 * h + j0 + 1), 1);
                hb = _mm512_slli_epi16(_mm512_and_si512(hb, _mm512_set1_epi8(1)), 2);
                z = _mm512_sub_epi8(_mm512_add_epi8(z, hb), _mm512_set1_epi8(4));
            }
            k->q[c] = z;
        }
        __m512i s16 = _mm512_loadu_si512((const void *)sc);
        __m512i cacc = _mm512_setzero_si512();
        const __m512i ones = _mm512_set1_epi8(1);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m512i sfull = _mm512_permutexvar_epi32(_mm512_loadu_si512((const void *)k16_idx[c]), s16);
            k->sc[c] = _mm512_and_si512(sfull, _mm512_set1_epi32(0xFFFF));
            if (kind == K_Q3_K) /* lane sums of w fit 16 bits: vpdpwssd multiplies exactly */
                cacc = _mm512_dpwssd_epi32(cacc, _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, k->q[c]), k->sc[c]);
        }
        k->corr = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(cacc, 7));
    } else {
        const struct eng__block_q6_K *x = (const struct eng__block_q6_K *)w + b;
        const __m512i m0f = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(3);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512i a = _mm512_loadu_si512((const void *)(x->ql + 64 * h));
            __m256i qv = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
            __m512i h0 = _mm512_inserti64x4(_mm512_castsi256_si512(qv), _mm256_srli_epi16(qv, 2), 1);
            __m512i h1 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_srli_epi16(qv, 4)),
                                            _mm256_srli_epi16(qv, 6), 1);
            __m512i z0 = _mm512_or_si512(_mm512_and_si512(a, m0f),
                                         _mm512_slli_epi16(_mm512_and_si512(h0, m3), 4));
            __m512i z1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(a, 4), m0f),
                                         _mm512_slli_epi16(_mm512_and_si512(h1, m3), 4));
            k->q[2 * h] = _mm512_sub_epi8(z0, _mm512_set1_epi8(32));
            k->q[2 * h + 1] = _mm512_sub_epi8(z1, _mm512_set1_epi8(32));
        }
        __m512i s16 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)x->scales));
        __m512i cacc = _mm512_setzero_si512();
        const __m512i ones = _mm512_set1_epi8(1);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m512i sfull = _mm512_permutexvar_epi32(_mm512_loadu_si512((const void *)k16_idx[c]), s16);
            /* vpdpwssd multiplies 16-bit halves: keep the scale in the low half, zero above, so
             * the high half of each lane sum (its sign extension) contributes nothing */
            k->sc[c] = _mm512_and_si512(sfull, _mm512_set1_epi32(0xFFFF));
            cacc = _mm512_dpwssd_epi32(cacc, _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, k->q[c]), k->sc[c]);
        }
        k->corr = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(cacc, 7));
        k->d = f16c(x->d);
        k->dmin = 0;
    }
}

AI __m256 red8_256(__m256 a)
{
    __m128 r4 = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 r2 = _mm_add_ps(r4, _mm_movehl_ps(r4, r4));
    return _mm256_castps128_ps256(_mm_add_ss(r2, _mm_movehdup_ps(r2)));
}

AI void dotK(const enum kk kind, int64_t n, const void *w, const void *act, size_t st, const int NT,
             float *out)
{
    const int has_min = kind == K_Q4_K || kind == K_Q5_K || kind == K_Q2_K;
    const int biased = kind == K_Q6_K || kind == K_Q3_K;
    const int64_t nb = n / ENG__QK_K;
    const int8_t *xq[ENG__NT_MAX];
    const float *xd[ENG__NT_MAX];
    const int16_t *xb[ENG__NT_MAX];
    __m512 acc[ENG__NT_MAX];
    __m256 accm[ENG__NT_MAX];
    for (int t = 0; t < NT; t++) {
        const char *a = (const char *)act + (size_t)t * st;
        xq[t] = (const int8_t *)a;
        xd[t] = eng__act_d(a, n);
        xb[t] = eng__act_bsums(a, n);
        acc[t] = _mm512_setzero_ps();
        accm[t] = _mm256_setzero_ps();
    }
    const __m512i c80 = _mm512_set1_epi8((char)0x80);
    for (int64_t b = 0; b < nb; b++) {
        struct ksb k;
        {
            const int bs = kind == K_Q4_K ? 144 : kind == K_Q5_K ? 176 : kind == K_Q6_K ? 210 : kind == K_Q2_K ? 84 : 110;
            for (int l = 0; l < bs; l += 64)
                _mm_prefetch((const char *)w + b * bs + PF_AHEAD + l, _MM_HINT_T0);
        }
        unpack_k(kind, w, b, &k);
        __m512 vd = _mm512_set1_ps(k.d);
        __m256 vdmin = _mm256_set1_ps(k.dmin);
#pragma GCC unroll 17
        for (int t = 0; t < NT; t++) {
            const int8_t *x = xq[t] + b * ENG__QK_K;
            /* two exact integer chains (c even / odd) halve the dependency latency */
            __m512i ia[2] = {k.corr, _mm512_setzero_si512()};
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                __m512i xv = _mm512_loadu_si512((const void *)(x + 64 * c));
                __m512i l = biased ? _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(xv, c80), k.q[c])
                                   : _mm512_dpbusd_epi32(_mm512_setzero_si512(), k.q[c], xv);
                ia[c & 1] = _mm512_dpwssd_epi32(ia[c & 1], l, k.sc[c]);
            }
            float xdb = xd[t][b];
            __m512 dd = _mm512_mul_ps(vd, _mm512_set1_ps(xdb));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(ia[0], ia[1])), dd, acc[t]);
            if (has_min) {
                /* fnmadd(M, dmin * xd, acc) == fma(M, -(dmin * xd), acc): negation is exact */
                __m256i bs = _mm256_loadu_si256((const __m256i *)(xb[t] + 16 * b));
                __m256 md = _mm256_mul_ps(vdmin, _mm256_set1_ps(xdb));
                accm[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bs, k.mexp)), md, accm[t]);
            }
        }
    }
    for (int t = 0; t < NT; t++) {
        out[t] = red16(acc[t]);
        if (has_min)
            out[t] += _mm256_cvtss_f32(red8_256(accm[t]));
    }
}

#define DOTK(name, kind)                                                                          \
    static void dot_##name(int64_t n, const void *w, const void *act, size_t st, int nt, float *out) \
    {                                                                                             \
        for (; nt > ENG__NT_MAX; nt -= ENG__NT_MAX, act = (const char *)act + ENG__NT_MAX * st,   \
                                 out += ENG__NT_MAX)                                              \
            dotK(kind, n, w, act, st, ENG__NT_MAX, out);                                          \
        NT_SWITCH(DOTK_CALL_##name)                                                               \
    }
#define DOTK_CALL_q4_K(N) dotK(K_Q4_K, n, w, act, st, N, out)
#define DOTK_CALL_q5_K(N) dotK(K_Q5_K, n, w, act, st, N, out)
#define DOTK_CALL_q6_K(N) dotK(K_Q6_K, n, w, act, st, N, out)
DOTK(q4_K, K_Q4_K)
DOTK(q5_K, K_Q5_K)
DOTK(q6_K, K_Q6_K)
#define DOTK_CALL_q2_K(N) dotK(K_Q2_K, n, w, act, st, N, out)
#define DOTK_CALL_q3_K(N) dotK(K_Q3_K, n, w, act, st, N, out)
DOTK(q2_K, K_Q2_K)
DOTK(q3_K, K_Q3_K)

/* ---- float weights ------------------------------------------------------------------------- */
enum kf { K_F32, K_F16, K_BF16 };

AI __m512 loadw(const enum kf kind, const void *w, int64_t i, __mmask16 m, const int masked)
{
    switch (kind) {
    case K_F32:
        return masked ? _mm512_maskz_loadu_ps(m, (const float *)w + i) : _mm512_loadu_ps((const float *)w + i);
    case K_F16: {
        __m256i h = masked ? _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i)
                           : _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i));
        return _mm512_cvtph_ps(h);
    }
    default: {
        __m256i h = masked ? _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i)
                           : _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i));
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    }
}

AI void dotF(const enum kf kind, int64_t n, const void *w, const void *act, size_t st, const int NT,
             float *out)
{
    const float *x[ENG__NT_MAX];
    __m512 acc[ENG__NT_MAX];
    for (int t = 0; t < NT; t++) {
        x[t] = (const float *)((const char *)act + (size_t)t * st);
        acc[t] = _mm512_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 wv = loadw(kind, w, i, 0, 0);
#pragma GCC unroll 17
        for (int t = 0; t < NT; t++)
            acc[t] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x[t] + i), acc[t]);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 wv = loadw(kind, w, i, m, 1);
        for (int t = 0; t < NT; t++)
            acc[t] = _mm512_mask3_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x[t] + i), acc[t], m);
    }
    for (int t = 0; t < NT; t++)
        out[t] = red16(acc[t]);
}

#define DOTF(name, kind)                                                                          \
    static void dot_##name(int64_t n, const void *w, const void *act, size_t st, int nt, float *out) \
    {                                                                                             \
        for (; nt > ENG__NT_MAX; nt -= ENG__NT_MAX, act = (const char *)act + ENG__NT_MAX * st,   \
                                 out += ENG__NT_MAX)                                              \
            dotF(kind, n, w, act, st, ENG__NT_MAX, out);                                          \
        NT_SWITCH(DOTF_CALL_##name)                                                               \
    }
#define DOTF_CALL_f32(N) dotF(K_F32, n, w, act, st, N, out)
#define DOTF_CALL_f16(N) dotF(K_F16, n, w, act, st, N, out)
#define DOTF_CALL_bf16(N) dotF(K_BF16, n, w, act, st, N, out)
DOTF(f32, K_F32)
DOTF(f16, K_F16)
DOTF(bf16, K_BF16)

/* ---- activation quantisers ----------------------------------------------------------------- */
/* k values (multiple of 16) at x: amax, then q = rint(x * 127/amax) stored as int8; returns d and
 * the int32 lane sums of q in *sum (16 lanes). */
AI float act_block(const float *x, int8_t *qs, int k, __m512i *sum, int16_t *bsums)
{
    __m512 mx = _mm512_setzero_ps();
    for (int j = 0; j < k; j += 16)
        mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
    float amax = _mm512_reduce_max_ps(mx);
    float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
    __m512 vid = _mm512_set1_ps(id);
    __m512i s = _mm512_setzero_si512();
    for (int j = 0; j < k; j += 16) {
        __m512 v = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(x + j), vid),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512i q = _mm512_cvtps_epi32(v);
        _mm_storeu_si128((__m128i *)(qs + j), _mm512_cvtsepi32_epi8(q));
        if (bsums)
            bsums[j / 16] = (int16_t)hsum_epi32(q);
        s = _mm512_add_epi32(s, q);
    }
    *sum = s;
    return d;
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
        int8_t q[ENG__QK];
        __m512i s;
        int64_t k = eng__act_bslot(b);
        d[k] = act_block(x + b * ENG__QK, q, ENG__QK, &s, NULL);
        for (int i = 0; i < ENG__QK; i += 4)
            memcpy(qs + eng__act_qpos(b, i), q + i, 4);
        is[k] = hsum_epi32(s);
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
        __m512i s;
        d[b] = act_block(x + b * ENG__QK_K, qs + b * ENG__QK_K, ENG__QK_K, &s, bs + 16 * b);
    }
}

static void f16_to_f32_row(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    for (; i < n; i++)
        dst[i] = f16c(src[i]);
}
static void f32_to_f16_row(const float *src, uint16_t *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = eng__f32_to_f16(src[i]);
}

static void f16_axpy(int64_t n, float a, const uint16_t *x, float *y)
{
    __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))),
                                                _mm512_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] = fmaf(a, f16c(x[i]), y[i]);
}

void eng__kern_install_avx512(struct eng__kern *k)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, k32_tables);
#define SET(id, fn)                                                                               \
    do {                                                                                          \
        k->t[id].dot = fn;                                                                        \
        k->t[id].dot_isa = "avx512";                                                              \
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
