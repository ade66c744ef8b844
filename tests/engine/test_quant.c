/* Quantised block layouts: sizes, fp16/bf16 conversions, dequantisation of hand-built blocks
 * (expected values worked out by hand from the layouts in llama-cpp-facts.md section 2),
 * quantise -> dequantise error bounds per type, and rejection of bad row lengths. */
#include "base.h"
#include "engine/quant.h"
#include "tests/test.h"

#include <math.h>

TEST(quant_block_sizes_match_type_table)
{
    static const struct { int type; size_t size; } t[] = {
        {ENG_TYPE_Q4_0, sizeof(struct eng__block_q4_0)}, {ENG_TYPE_Q4_1, sizeof(struct eng__block_q4_1)},
        {ENG_TYPE_Q5_0, sizeof(struct eng__block_q5_0)}, {ENG_TYPE_Q5_1, sizeof(struct eng__block_q5_1)},
        {ENG_TYPE_Q8_0, sizeof(struct eng__block_q8_0)}, {ENG_TYPE_Q8_1, sizeof(struct eng__block_q8_1)},
        {ENG_TYPE_Q2_K, sizeof(struct eng__block_q2_K)}, {ENG_TYPE_Q3_K, sizeof(struct eng__block_q3_K)},
        {ENG_TYPE_Q4_K, sizeof(struct eng__block_q4_K)}, {ENG_TYPE_Q5_K, sizeof(struct eng__block_q5_K)},
        {ENG_TYPE_Q6_K, sizeof(struct eng__block_q6_K)}, {ENG_TYPE_Q8_K, sizeof(struct eng__block_q8_K)},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(t); i++)
        ASSERT_EQ(eng_type_info(t[i].type)->bytes, t[i].size);
}

TEST(quant_fp16_conversions_exact)
{
    ASSERT_EQ(eng_fp32_to_fp16(1.0f), 0x3c00);
    ASSERT_EQ(eng_fp32_to_fp16(65504.0f), 0x7bff);
    ASSERT_EQ(eng_fp32_to_fp16(65520.0f), 0x7c00); /* tie rounds to even = inf */
    ASSERT_EQ(eng_fp32_to_fp16(65519.0f), 0x7bff);
    ASSERT_EQ(eng_fp32_to_fp16(ldexpf(1, -24)), 0x0001);
    ASSERT_EQ(eng_fp32_to_fp16(ldexpf(1, -25)), 0x0000); /* tie to even */
    ASSERT_EQ(eng_fp32_to_fp16(ldexpf(3, -26)), 0x0001);
    ASSERT_EQ(eng_fp32_to_fp16(-ldexpf(3, -25)), 0x8002); /* 1.5 ulp tie -> 2 */
    ASSERT_EQ(eng_fp32_to_fp16(1.0f + ldexpf(1, -11)), 0x3c00); /* tie to even */
    ASSERT_EQ(eng_fp32_to_fp16(1.0f + ldexpf(3, -11)), 0x3c02);
    ASSERT_EQ(eng_fp32_to_fp16(-0.0f), 0x8000);
    ASSERT(eng_fp16_to_fp32(0x0001) == ldexpf(1, -24));
    ASSERT(eng_fp16_to_fp32(0x03ff) == ldexpf(1023, -24));
    ASSERT(eng_fp16_to_fp32(0xc000) == -2.0f);
    ASSERT(isinf(eng_fp16_to_fp32(0x7c00)));
    ASSERT(isnan(eng_fp16_to_fp32(0x7e01)));
    /* every f16 survives f16 -> f32 -> f16, and agrees with the compiler's _Float16 */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = eng_fp16_to_fp32((uint16_t)h);
        _Float16 c;
        memcpy(&c, &h, 2);
        if (isnan(f))
            continue;
        ASSERT_MSG(f == (float)c, "h=%04x", h);
        ASSERT_EQ(eng_fp32_to_fp16(f), h);
    }
    /* random f32 -> f16 agrees with the compiler's rounding (round to nearest even) */
    uint32_t s = 12345;
    for (int i = 0; i < 200000; i++) {
        s = s * 1664525u + 1013904223u;
        uint32_t u = (s & 0x8fffffffu) | ((s & 1) ? 0x30000000u : 0x38000000u);
        float f = eng__f32_from_bits(u);
        _Float16 c = (_Float16)f;
        uint16_t cb;
        memcpy(&cb, &c, 2);
        ASSERT_MSG(eng_fp32_to_fp16(f) == cb, "f=%a", (double)f);
    }
}

TEST(quant_bf16_conversions_exact)
{
    ASSERT_EQ(eng_fp32_to_bf16(eng__f32_from_bits(0x3f808000u)), 0x3f80); /* tie, even */
    ASSERT_EQ(eng_fp32_to_bf16(eng__f32_from_bits(0x3f818000u)), 0x3f82); /* tie, odd -> up */
    ASSERT_EQ(eng_fp32_to_bf16(eng__f32_from_bits(0x3f808001u)), 0x3f81);
    ASSERT_EQ(eng_fp32_to_bf16(eng__f32_from_bits(0x7f800001u)) & 0x7fc0, 0x7fc0); /* quiet NaN */
    ASSERT(eng_bf16_to_fp32(0x4049) == 3.140625f);
}

static float deq(int type, const void *blk, int i)
{
    float out[256];
    ASSERT_EQ(eng_dequantize_row(type, blk, out, eng_type_info(type)->blck), 0);
    return out[i];
}
#define ASSERT_DEQ(type, blk, i, want) ASSERT_MSG(deq(type, blk, i) == (want), "elem %d = %g", i, (double)deq(type, blk, i))

TEST(quant_dequant_hand_blocks)
{
    struct eng__block_q4_0 q40 = {.d = 0x3800}; /* 0.5 */
    q40.qs[0] = 0x3A;
    q40.qs[15] = 0xF0;
    ASSERT_DEQ(ENG_TYPE_Q4_0, &q40, 0, 1.0f);
    ASSERT_DEQ(ENG_TYPE_Q4_0, &q40, 16, -2.5f);
    ASSERT_DEQ(ENG_TYPE_Q4_0, &q40, 15, -4.0f);
    ASSERT_DEQ(ENG_TYPE_Q4_0, &q40, 31, 3.5f);
    ASSERT_DEQ(ENG_TYPE_Q4_0, &q40, 7, -4.0f);

    struct eng__block_q4_1 q41 = {.d = 0x3c00, .m = 0xbc00};
    q41.qs[1] = 0x52;
    ASSERT_DEQ(ENG_TYPE_Q4_1, &q41, 1, 1.0f);
    ASSERT_DEQ(ENG_TYPE_Q4_1, &q41, 17, 4.0f);
    ASSERT_DEQ(ENG_TYPE_Q4_1, &q41, 2, -1.0f);

    struct eng__block_q5_0 q50 = {.d = 0x4000, .qh = {0x01, 0x00, 0x02, 0x00}};
    q50.qs[0] = 0x21;
    q50.qs[1] = 0x43;
    ASSERT_DEQ(ENG_TYPE_Q5_0, &q50, 0, 2.0f);
    ASSERT_DEQ(ENG_TYPE_Q5_0, &q50, 16, -28.0f);
    ASSERT_DEQ(ENG_TYPE_Q5_0, &q50, 1, -26.0f);
    ASSERT_DEQ(ENG_TYPE_Q5_0, &q50, 17, 8.0f);

    struct eng__block_q5_1 q51 = {.d = 0x3800, .m = 0x4000, .qh = {0, 0, 0, 0x80}};
    q51.qs[15] = 0xF1;
    ASSERT_DEQ(ENG_TYPE_Q5_1, &q51, 15, 2.5f);
    ASSERT_DEQ(ENG_TYPE_Q5_1, &q51, 31, 17.5f);

    struct eng__block_q8_0 q80 = {.d = 0x3400};
    q80.qs[5] = -7;
    q80.qs[31] = 127;
    ASSERT_DEQ(ENG_TYPE_Q8_0, &q80, 5, -1.75f);
    ASSERT_DEQ(ENG_TYPE_Q8_0, &q80, 31, 31.75f);

    struct eng__block_q8_1 q81 = {.d = 0x3c00, .s = 0x7bff};
    q81.qs[2] = 9;
    ASSERT_DEQ(ENG_TYPE_Q8_1, &q81, 2, 9.0f);

    struct eng__block_q2_K q2 = {.d = 0x3c00, .dmin = 0x3800};
    q2.scales[0] = 0x21;
    q2.scales[1] = 0x13;
    q2.scales[10] = 0x05;
    q2.qs[0] = 0xE4;
    q2.qs[16] = 0x03;
    q2.qs[32] = 0x08;
    ASSERT_DEQ(ENG_TYPE_Q2_K, &q2, 0, -1.0f);
    ASSERT_DEQ(ENG_TYPE_Q2_K, &q2, 16, 8.5f);
    ASSERT_DEQ(ENG_TYPE_Q2_K, &q2, 160, 10.0f);
    ASSERT_DEQ(ENG_TYPE_Q2_K, &q2, 96, 0.0f); /* qs[0] >> 6 = 3, scales[6] = 0 */

    struct eng__block_q3_K q3 = {.d = 0x3c00};
    q3.scales[0] = 0x03;
    q3.scales[8] = 0x02;
    q3.scales[1] = 0xB0;
    q3.scales[9] = 0x10;
    q3.qs[0] = 0x02;
    q3.hmask[0] = 0x01;
    q3.qs[48] = 0x01;
    ASSERT_DEQ(ENG_TYPE_Q3_K, &q3, 0, 6.0f);
    ASSERT_DEQ(ENG_TYPE_Q3_K, &q3, 144, 15.0f);
    ASSERT_DEQ(ENG_TYPE_Q3_K, &q3, 1, 3.0f * -4.0f); /* q2 0, no hbit: -4 */

    struct eng__block_q4_K q4 = {.d = 0x3c00, .dmin = 0x3800};
    q4.scales[0] = 2;
    q4.scales[4] = 4;
    q4.scales[1] = 0x40;
    q4.scales[5] = 0x80;
    q4.scales[9] = 0x13;
    q4.qs[0] = 0x07;
    q4.qs[69] = 0xA0;
    ASSERT_DEQ(ENG_TYPE_Q4_K, &q4, 0, 12.0f);
    ASSERT_DEQ(ENG_TYPE_Q4_K, &q4, 165, 173.5f);
    ASSERT_DEQ(ENG_TYPE_Q4_K, &q4, 32, 0.0f); /* sub-block 1: sc 0, m 0 */

    struct eng__block_q5_K q5 = {.d = 0x3c00, .dmin = 0x3800};
    memcpy(q5.scales, q4.scales, 12);
    q5.qs[0] = 0x07;
    q5.qs[69] = 0xA0;
    q5.qh[5] = 0x20;
    ASSERT_DEQ(ENG_TYPE_Q5_K, &q5, 0, 12.0f);
    ASSERT_DEQ(ENG_TYPE_Q5_K, &q5, 165, 477.5f);

    struct eng__block_q6_K q6 = {.d = 0x3800};
    q6.scales[0] = 2;
    q6.scales[13] = -3;
    q6.ql[0] = 0x05;
    q6.qh[0] = 0x02;
    q6.ql[80] = 0x30;
    ASSERT_DEQ(ENG_TYPE_Q6_K, &q6, 0, 5.0f);
    ASSERT_DEQ(ENG_TYPE_Q6_K, &q6, 208, 43.5f);

    struct eng__block_q8_K q8k = {.d = 0.25f};
    q8k.qs[100] = -3;
    ASSERT_DEQ(ENG_TYPE_Q8_K, &q8k, 100, -0.75f);

    uint16_t f16 = 0x4248, bf16 = 0x4049;
    ASSERT_DEQ(ENG_TYPE_F16, &f16, 0, 3.140625f);
    ASSERT_DEQ(ENG_TYPE_BF16, &bf16, 0, 3.140625f);
}

/* Deterministic pseudo-normal data (sum of uniforms), with a few outliers like real weights. */
static void fill(float *x, int64_t n, uint32_t seed)
{
    uint32_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        float v = 0;
        for (int k = 0; k < 4; k++) {
            s = s * 1664525u + 1013904223u;
            v += (float)(s >> 8) / 16777216.0f - 0.5f;
        }
        x[i] = v * (i % 97 == 0 ? 4.0f : 1.0f);
    }
}

/* quantise -> dequantise: rms error relative to rms of the data, per type.  The bounds are ~1.3x
 * what our round-to-nearest quantisers measure; a layout bug gives errors near 1. */
TEST(quant_roundtrip_error_bounds)
{
    static const struct { int type; double max_rel; } t[] = {
        {ENG_TYPE_F32, 0}, {ENG_TYPE_F16, 3e-4}, {ENG_TYPE_BF16, 2.5e-3},
        {ENG_TYPE_Q8_0, 0.009}, {ENG_TYPE_Q8_1, 0.009}, {ENG_TYPE_Q8_K, 0.014},
        {ENG_TYPE_Q5_0, 0.065}, {ENG_TYPE_Q5_1, 0.052}, {ENG_TYPE_Q4_0, 0.13}, {ENG_TYPE_Q4_1, 0.11},
        {ENG_TYPE_Q6_K, 0.028}, {ENG_TYPE_Q5_K, 0.053}, {ENG_TYPE_Q4_K, 0.11},
        {ENG_TYPE_Q3_K, 0.23}, {ENG_TYPE_Q2_K, 0.44},
    };
    enum { N = 4096 };
    static float x[N], y[N];
    static uint8_t buf[N * 4];
    fill(x, N, 7);
    for (size_t i = 0; i < SK_ARRAY_LEN(t); i++) {
        memset(buf, 0xA5, sizeof buf);
        ASSERT_EQ(eng_quantize_row(t[i].type, x, buf, N), 0);
        ASSERT_EQ(eng_dequantize_row(t[i].type, buf, y, N), 0);
        double e = 0, r = 0;
        for (int j = 0; j < N; j++) {
            e += (double)(x[j] - y[j]) * (double)(x[j] - y[j]);
            r += (double)x[j] * (double)x[j];
        }
        double rel = sqrt(e / r);
        if (getenv("SEEKD_TEST_VERBOSE"))
            fprintf(stderr, "%s rel rms err %.5f\n", eng_type_info(t[i].type)->name, rel);
        ASSERT_MSG(rel <= t[i].max_rel, "%s: %.5f > %.5f", eng_type_info(t[i].type)->name, rel,
                   t[i].max_rel);
        /* quantising twice gives the same bytes (deterministic) */
        static uint8_t buf2[N * 4];
        memset(buf2, 0x5A, sizeof buf2);
        ASSERT_EQ(eng_quantize_row(t[i].type, x, buf2, N), 0);
        ASSERT_MEM_EQ(buf, buf2, eng_type_row_size(t[i].type, N));
    }
}

TEST(quant_zero_and_constant_blocks)
{
    static const int types[] = {ENG_TYPE_Q4_0, ENG_TYPE_Q4_1, ENG_TYPE_Q5_0, ENG_TYPE_Q5_1,
                                ENG_TYPE_Q8_0, ENG_TYPE_Q2_K, ENG_TYPE_Q3_K, ENG_TYPE_Q4_K,
                                ENG_TYPE_Q5_K, ENG_TYPE_Q6_K, ENG_TYPE_Q8_K};
    float x[256], y[256];
    uint8_t buf[512];
    for (size_t i = 0; i < SK_ARRAY_LEN(types); i++) {
        for (int j = 0; j < 256; j++)
            x[j] = 0;
        ASSERT_EQ(eng_quantize_row(types[i], x, buf, 256), 0);
        ASSERT_EQ(eng_dequantize_row(types[i], buf, y, 256), 0);
        for (int j = 0; j < 256; j++)
            ASSERT_MSG(y[j] == 0.0f, "%s elem %d = %g", eng_type_info(types[i])->name, j, (double)y[j]);
    }
}

TEST(quant_rejects_bad_lengths_and_types)
{
    float x[64] = {0};
    uint8_t buf[512];
    ASSERT_EQ(eng_quantize_row(ENG_TYPE_Q4_0, x, buf, 33), ENG_ESHAPE);
    ASSERT_EQ(eng_dequantize_row(ENG_TYPE_Q4_K, buf, x, 32), ENG_ESHAPE);
    ASSERT_EQ(eng_dequantize_row(ENG_TYPE_Q8_0, buf, x, -32), ENG_ESHAPE);
    ASSERT_EQ(eng_dequantize_row((enum eng_type)4, buf, x, 32), ENG_EUNSUPPORTED);
    ASSERT_EQ(eng_dequantize_row((enum eng_type)99, buf, x, 32), ENG_EUNSUPPORTED);
    ASSERT_EQ(eng_quantize_row((enum eng_type)-1, x, buf, 32), ENG_EUNSUPPORTED);
    ASSERT_EQ(eng_dequantize_row(ENG_TYPE_F16, buf, x, 3), 0); /* any n for float types */
}
