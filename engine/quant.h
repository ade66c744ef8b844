/*
 * Internal to engine/: quantised block layouts, scalar conversions, and the kernel table.
 *
 * Block structs follow the documented GGUF layouts (llama-cpp-facts.md section 2) byte for byte;
 * every one carries a static_assert on its size.  Weights are read straight from the mmapped
 * file, so the structs have no padding and every field is read with its natural (2-byte or
 * smaller) alignment; only Q8_K (an activation type, never in files) has an f32 field.
 *
 * Kernels come in variants that differ by suffix: _ref (plain C, the definition), _avx2 and
 * _avx512 (engine/arch/x86/).  The table eng__kern() holds the variant chosen from CPUID at
 * first use.  See the ACCUMULATION ORDER note below: the SIMD dot products are bit-exact
 * twins of _ref, not approximations of it.
 */
#ifndef SEEKD_ENGINE_QUANT_H
#define SEEKD_ENGINE_QUANT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/engine.h"

#define ENG__QK 32   /* elements per block of the 32-element types */
#define ENG__QK_K 256 /* elements per K-quant super-block */

typedef uint16_t eng__f16; /* IEEE binary16 bits */
typedef uint16_t eng__bf16; /* top 16 bits of an IEEE binary32 */

struct eng__block_q4_0 { eng__f16 d; uint8_t qs[16]; };
struct eng__block_q4_1 { eng__f16 d, m; uint8_t qs[16]; };
struct eng__block_q5_0 { eng__f16 d; uint8_t qh[4]; uint8_t qs[16]; };
struct eng__block_q5_1 { eng__f16 d, m; uint8_t qh[4]; uint8_t qs[16]; };
struct eng__block_q8_0 { eng__f16 d; int8_t qs[32]; };
struct eng__block_q8_1 { eng__f16 d, s; int8_t qs[32]; };
struct eng__block_q2_K { uint8_t scales[16]; uint8_t qs[64]; eng__f16 d, dmin; };
struct eng__block_q3_K { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; eng__f16 d; };
struct eng__block_q4_K { eng__f16 d, dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct eng__block_q5_K { eng__f16 d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct eng__block_q6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; eng__f16 d; };
struct eng__block_q8_K { float d; int8_t qs[256]; int16_t bsums[16]; };

static_assert(sizeof(struct eng__block_q4_0) == 18, "Q4_0 block");
static_assert(sizeof(struct eng__block_q4_1) == 20, "Q4_1 block");
static_assert(sizeof(struct eng__block_q5_0) == 22, "Q5_0 block");
static_assert(sizeof(struct eng__block_q5_1) == 24, "Q5_1 block");
static_assert(sizeof(struct eng__block_q8_0) == 34, "Q8_0 block");
static_assert(sizeof(struct eng__block_q8_1) == 36, "Q8_1 block");
static_assert(sizeof(struct eng__block_q2_K) == 84, "Q2_K block");
static_assert(sizeof(struct eng__block_q3_K) == 110, "Q3_K block");
static_assert(sizeof(struct eng__block_q4_K) == 144, "Q4_K block");
static_assert(sizeof(struct eng__block_q5_K) == 176, "Q5_K block");
static_assert(sizeof(struct eng__block_q6_K) == 210, "Q6_K block");
static_assert(sizeof(struct eng__block_q8_K) == 292, "Q8_K block");

/* ---- scalar conversions (exact; the F16C/AVX-512 paths give the same bits) ---------------- */
static inline float eng__f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t eng__bits_from_f32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* binary16 -> binary32, exact for every input (subnormals, inf, NaN payload kept). */
static inline float eng__f16_to_f32(eng__f16 h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f)
        return eng__f32_from_bits(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0)
            return eng__f32_from_bits(sign);
        /* subnormal: normalise */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400));
        return eng__f32_from_bits(sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13));
    }
    return eng__f32_from_bits(sign | ((exp + 127 - 15) << 23) | (man << 13));
}

/* binary32 -> binary16, round to nearest even (what vcvtps2ph with imm 0 does); NaN stays NaN. */
eng__f16 eng__f32_to_f16(float f);

static inline float eng__bf16_to_f32(eng__bf16 h) { return eng__f32_from_bits((uint32_t)h << 16); }
/* Round to nearest even; NaN is forced quiet (llama-cpp-facts.md 2.2, last paragraph). */
static inline eng__bf16 eng__f32_to_bf16(float f)
{
    uint32_t u = eng__bits_from_f32(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (eng__bf16)((u >> 16) | 64);
    return (eng__bf16)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

/* ---- activation rows ---------------------------------------------------------------------
 * The dot products read activations quantised into our own row layout (never stored in files,
 * so it is chosen for the kernels).  A row of n elements (n a multiple of the kind's block):
 *   int8   qs[N]        at offset 0, N = n rounded up to 512 (zero padded).  Kinds Q8_0/Q8_1
 *                       store each group of 16 blocks (512 bytes) "transposed": 8 registers of
 *                       64 bytes, register 4 * (i / 16) + (i % 16) / 4, 4-byte lane
 *                       eng__lane16(b), byte i % 4 holds element i of block b
 *                       (eng__act_qpos).  One VNNI dot of a register against the matching
 *                       weight register adds 4 elements of each of 16 blocks into that block's
 *                       own lane, so 8 dots give the 16 exact block sums with no folding.
 *                       Kind Q8_K keeps element order.
 *   float  d[NB]        at offset align64(N): per-block scale (NB = blocks rounded up to 16,
 *                       zero padded; block b at eng__act_bslot(b)) for Q8_0/Q8_1; for Q8_K
 *                       one per 256 (n/256 entries, in order)
 *   int32  isum[NB]     after d, Q8_0/Q8_1: sum of the block's qs
 *   float  s[NB]        after isum, Q8_1: d * isum
 *   int16  bsums[n/16]  after d, Q8_K: sum of each group of 16 qs
 * The row size is rounded up to 64 bytes so consecutive rows stay 64-byte aligned.  Kind F32
 * rows are plain float[n] (row size rounded up to 64 bytes, plus 64 so that rows never sit
 * a multiple of 4 KB apart: 8 such rows read together would compete for the same L1 sets).
 * Quantisation (all kinds): amax = max|x| over the block, d = amax / 127,
 * q = rint(x * (127 / amax)) (round half to even), q = 0 when amax == 0. */
enum eng__act {
    ENG__ACT_F32 = 0,
    ENG__ACT_Q8_0, /* for Q4_0, Q5_0, Q8_0 weights */
    ENG__ACT_Q8_1, /* for Q4_1, Q5_1 weights */
    ENG__ACT_Q8_K, /* for the K-quants */
};
static inline size_t eng__align64(size_t n) { return (n + 63) & ~(size_t)63; }
/* Bytes of one activation row of n elements; 0 if n does not fit the kind's block. */
size_t eng__act_row_size(enum eng__act kind, int64_t n);
static inline int64_t eng__act_nb16(int64_t n) { return (n / ENG__QK + 15) / 16 * 16; }
/* Lane of block b within its group of 16: the 4x4 transpose 4 * (j % 4) + j / 4 (j = b % 16).
 * The per-block activation arrays (d, isum, s) of kinds Q8_0/Q8_1 are stored in this order too. */
static inline int eng__lane16(int64_t b) { int j = (int)(b % 16); return 4 * (j % 4) + j / 4; }
static inline size_t eng__act_qpos(int64_t b, int i)
{
    return (size_t)(b / 16) * 512 + (size_t)(4 * (i / 16) + (i % 16) / 4) * 64 +
           (size_t)eng__lane16(b) * 4 + (size_t)(i % 4);
}
static inline size_t eng__act_qbytes(int64_t n) { return (size_t)(n + 511) / 512 * 512; }
static inline int64_t eng__act_bslot(int64_t b) { return b / 16 * 16 + eng__lane16(b); }
static inline const float *eng__act_d(const void *row, int64_t n)
{
    return (const float *)((const char *)row + eng__act_qbytes(n));
}
static inline const int32_t *eng__act_isum(const void *row, int64_t n) /* Q8_0/Q8_1 */
{
    return (const int32_t *)(eng__act_d(row, n) + eng__act_nb16(n));
}
static inline const float *eng__act_s(const void *row, int64_t n) /* Q8_1 */
{
    return (const float *)(eng__act_isum(row, n) + eng__act_nb16(n));
}
static inline const int16_t *eng__act_bsums(const void *row, int64_t n) /* Q8_K */
{
    return (const int16_t *)(eng__act_d(row, n) + n / ENG__QK_K);
}

/* ---- kernel signatures --------------------------------------------------------------------
 * dot:  out[t] = sum_i W[i] * X_t[i] for t < nt, where W is one weight row of n elements and
 *       X_t the activation row at act + t * act_stride (bytes).  1 <= nt <= ENG__NT_MAX.
 *       n is a multiple of the type's block (callers check).  The weight is loaded once for
 *       all nt tokens; each token's result is computed with the same operations in the same
 *       order whatever nt is, so batching never changes a bit.
 * ACCUMULATION ORDER (the definition the SIMD twins reproduce exactly):
 *   32-element types: block b gives the exact integer L_b = sum of q_w * q_x over its 32
 *     elements (q_w the signed integer weight value; the unsigned level for Q4_1/Q5_1).
 *     Sixteen float accumulators, block b in lane j = eng__lane16(b): acc[j] = fma((float)L_b,
 *     d_w * d_x, acc[j]); Q4_1/Q5_1 also accm[j] = fma(m_w, s_x, accm[j]).  The result is the fixed tree
 *     reduce16(acc): r_k = acc[k] + acc[k+8], then k + 4, k + 2, k + 1 halvings; (+ reduce16(accm)).
 *   K-quants: per super-block 16 exact int32 lane sums I_i: element e goes to lane (e % 64) / 4,
 *     weighted by its sub-block scale; acc[i] = fma((float)I_i, d_w * d_x, acc[i]).  Types with
 *     a min add 8 lanes M_i = m(2i) bsum(2i) + m(2i+1) bsum(2i+1) over the 16-element bsums
 *     (m(g) = min of the sub-block holding group g): accm[i] = fma((float)M_i, -(dmin_w * d_x),
 *     accm[i]).  Result: reduce16(acc) (+ reduce8(accm): k + 4, k + 2, k + 1 halvings).
 *   F32/F16/BF16 (f32 activations): acc[i % 16] = fma(w_i, x_i, acc[i % 16]), same tree.
 * quant_act: quantises one f32 row of n elements into the activation layout above.
 * dequantize/quantize: one row of n elements of the weight type (n a multiple of the block). */
#define ENG__NT_MAX 17 /* a speculative pass (16 drafts + 1) is one call */
typedef void (*eng__dot_fn)(int64_t n, const void *w, const void *act, size_t act_stride, int nt,
                            float *out);
typedef void (*eng__quant_act_fn)(const float *x, void *act, int64_t n);
typedef void (*eng__row_fn)(const void *src, float *dst, int64_t n);
typedef void (*eng__qrow_fn)(const float *src, void *dst, int64_t n);

struct eng__type_kern {
    eng__row_fn dequantize;  /* _ref (bit-exact per the layout) */
    eng__qrow_fn quantize;   /* _ref round-to-nearest quantiser (NULL for none) */
    enum eng__act act;       /* activation kind the dot product reads */
    eng__dot_fn dot;         /* chosen variant */
    eng__dot_fn dot_ref;     /* plain C twin */
    const char *dot_isa;     /* "ref", "avx2", "avx512" */
};

struct eng__kern {
    struct eng__type_kern t[ENG_TYPE__COUNT];
    eng__quant_act_fn quant_act[4];     /* chosen variants, by enum eng__act */
    eng__quant_act_fn quant_act_ref[4];
    void (*f16_to_f32_row)(const uint16_t *src, float *dst, int64_t n);
    void (*f32_to_f16_row)(const float *src, uint16_t *dst, int64_t n);
    /* y[i] = fma(a, x[i], y[i]) over an f16 row (attention: P . V with an f16 V cache).  For
     * q . k over an f16 K row use t[ENG_TYPE_F16].dot with the f32 query as the activation row
     * (act = q, act_stride = bytes between queries, nt queries at once). */
    void (*f16_axpy)(int64_t n, float a, const uint16_t *x, float *y);
    int has_avx2, has_avx512; /* avx512 = F+BW+VL+VNNI usable (OS saves zmm state) */
};

/* The table for this CPU (selected once, thread-safe).  Never NULL. */
const struct eng__kern *eng__kern(void);
/* Tests: build the table for a given ISA level (0 ref, 1 avx2, 2 avx512), clipped to what the
 * CPU has.  Returns the level actually used. */
int eng__kern_build(struct eng__kern *k, int level);
/* eng_matmul with an explicit kernel table (tests compare ISA levels). */
int eng__matmul_k(const struct eng__kern *k, struct eng_pool *pool, const struct eng_tensor *w,
                  const float *x, size_t ldx, int n_tokens, float *y, size_t ldy,
                  struct eng_mm_scratch *s);
/* CPU features, filled once from CPUID/XGETBV. */
struct eng__cpu {
    int avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16, avxvnni;
};
const struct eng__cpu *eng__cpu(void);

/* ---- _ref kernels (engine/quant.c, engine/kernels.c) --------------------------------------- */
#define ENG__FOR_QTYPES(X)                                                                        \
    X(q4_0) X(q4_1) X(q5_0) X(q5_1) X(q8_0) X(q8_1) X(q2_K) X(q3_K) X(q4_K) X(q5_K) X(q6_K) X(q8_K)
#define ENG__DECL_ROW(t)                                                                          \
    void eng__dequantize_row_##t##_ref(const void *src, float *dst, int64_t n);                   \
    void eng__quantize_row_##t##_ref(const float *src, void *dst, int64_t n);
ENG__FOR_QTYPES(ENG__DECL_ROW)
ENG__DECL_ROW(f32)
ENG__DECL_ROW(f16)
ENG__DECL_ROW(bf16)
#undef ENG__DECL_ROW

#define ENG__DECL_DOT(t, isa)                                                                     \
    void eng__dot_##t##_##isa(int64_t n, const void *w, const void *act, size_t act_stride,       \
                              int nt, float *out);
#define ENG__FOR_DOT_TYPES(X, isa)                                                                \
    X(q4_0, isa) X(q4_1, isa) X(q5_0, isa) X(q5_1, isa) X(q8_0, isa) X(q2_K, isa) X(q3_K, isa)    \
    X(q4_K, isa) X(q5_K, isa) X(q6_K, isa) X(f32, isa) X(f16, isa) X(bf16, isa)
ENG__FOR_DOT_TYPES(ENG__DECL_DOT, ref)

void eng__quant_act_q8_0_ref(const float *x, void *act, int64_t n);
void eng__quant_act_q8_1_ref(const float *x, void *act, int64_t n);
void eng__quant_act_q8_K_ref(const float *x, void *act, int64_t n);
void eng__quant_act_f32_ref(const float *x, void *act, int64_t n);

/* Shared by _ref and the SIMD twins: the fixed final reduction of 16 accumulators. */
static inline float eng__reduce16(const float a[16])
{
    float r[8];
    for (int k = 0; k < 8; k++)
        r[k] = a[k] + a[k + 8];
    for (int k = 0; k < 4; k++)
        r[k] = r[k] + r[k + 4];
    for (int k = 0; k < 2; k++)
        r[k] = r[k] + r[k + 2];
    return r[0] + r[1];
}

static inline float eng__reduce8(const float a[8])
{
    float r[4];
    for (int k = 0; k < 4; k++)
        r[k] = a[k] + a[k + 4];
    for (int k = 0; k < 2; k++)
        r[k] = r[k] + r[k + 2];
    return r[0] + r[1];
}

/* K-quant scale unpacking (Q4_K/Q5_K 12-byte scales, Q3_K 12-byte signed scales). */
static inline void eng__k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}
static inline int eng__k3_scale(int j, const uint8_t *s)
{
    int low4 = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
    int high2 = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low4 | (high2 << 4)) - 32;
}

#endif
