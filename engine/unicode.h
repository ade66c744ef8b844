/*
 * Internal Unicode helpers for the tokenizer: llama.cpp-compatible UTF-8 decoding (lenient: any
 * structurally valid sequence up to U+10FFFF is accepted, overlong forms and surrogates
 * included; every other byte becomes U+FFFD on its own), encoding, the collapsed general
 * category class used by the pre-tokenizers, and the non-ASCII whitespace set.
 */
#ifndef SEEKD_ENGINE_UNICODE_H
#define SEEKD_ENGINE_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum {
    ENG__UCAT_OTHER = 0, /* separators that are not whitespace, controls, unassigned */
    ENG__UCAT_N = 1,
    ENG__UCAT_L = 2,
    ENG__UCAT_P = 3,
    ENG__UCAT_M = 4,
    ENG__UCAT_S = 5,
};

/* Generated tables (build/gen/unicode_data.c). */
extern const uint16_t eng__ucat_stage1[0x110000 >> 8];
extern const uint8_t eng__ucat_stage2[][256];

/* Collapsed class of a code point (by Unicode general category; ASCII included). */
static inline int eng__ucat(uint32_t cp)
{
    if (cp >= 0x110000)
        return ENG__UCAT_OTHER;
    return eng__ucat_stage2[eng__ucat_stage1[cp >> 8]][cp & 0xff];
}

/* Non-ASCII White_Space code points (U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029,
 * U+202F, U+205F, U+3000). */
static inline int eng__is_uspace(uint32_t cp)
{
    if (cp < 0x85)
        return 0;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Decodes one code point at s[0..n) (n >= 1) the way llama.cpp's unicode_cpts_from_utf8 does;
 * *adv receives the bytes consumed.  Invalid input gives U+FFFD with *adv = 1. */
uint32_t eng__utf8_decode(const uint8_t *s, size_t n, size_t *adv);
/* Encodes cp (<= 0x10FFFF) into out; returns the byte count (1..4). */
size_t eng__utf8_encode(uint32_t cp, uint8_t out[4]);
/* Length of the UTF-8 sequence a lead byte announces (1 for continuation/invalid bytes),
 * as llama.cpp's unicode_len_utf8. */
static inline size_t eng__utf8_len(uint8_t c)
{
    static const uint8_t lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[c >> 4];
}

/* GPT-2 byte-level map: byte -> code point, and the inverse (-1 if cp is not in the map). */
uint32_t eng__byte_to_cp(uint8_t b);
int eng__cp_to_byte(uint32_t cp);

#endif
