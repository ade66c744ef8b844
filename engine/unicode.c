/*
 * UTF-8 decoding/encoding with llama.cpp's exact leniency, and the GPT-2 byte-to-unicode map
 * (llama-cpp-facts.md 3.2 step 1 and 3.3).  Called per code point by the tokenizer, so these
 * are small and branch-light.
 */
#include "engine/unicode.h"

uint32_t eng__utf8_decode(const uint8_t *s, size_t n, size_t *adv)
{
    uint8_t c = s[0];
    *adv = 1;
    if (c < 0x80)
        return c;
    if (!(c & 0x40)) /* stray continuation byte */
        return 0xFFFD;
    if (!(c & 0x20)) {
        if (n < 2 || (s[1] & 0xC0) != 0x80)
            return 0xFFFD;
        *adv = 2;
        return ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (!(c & 0x10)) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0xFFFD;
        *adv = 3;
        return ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    if (!(c & 0x08)) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0xFFFD;
        uint32_t cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
                      ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        /* llama.cpp decodes up to 0x1FFFFF and then throws when re-encoding; seekd treats a
         * code point beyond U+10FFFF as an invalid byte instead. */
        if (cp > 0x10FFFF)
            return 0xFFFD;
        *adv = 4;
        return cp;
    }
    return 0xFFFD;
}

size_t eng__utf8_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Bytes 0x21..0x7E, 0xA1..0xAC and 0xAE..0xFF map to themselves; the other 68, in increasing
 * order, to U+0100, U+0101, ... */
static int printable(unsigned b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

uint32_t eng__byte_to_cp(uint8_t b)
{
    if (printable(b))
        return b;
    if (b <= 0x20)
        return 0x100 + b;              /* 33 bytes: U+0100..U+0120 */
    if (b <= 0xA0)
        return 0x100 + 33 + (b - 0x7F); /* 34 bytes: U+0121..U+0142 */
    return 0x100 + 67;                  /* 0xAD */
}

int eng__cp_to_byte(uint32_t cp)
{
    if (cp < 0x100)
        return printable(cp) ? (int)cp : -1;
    if (cp < 0x100 + 33)
        return (int)(cp - 0x100);
    if (cp < 0x100 + 67)
        return (int)(cp - 0x100 - 33 + 0x7F);
    return cp == 0x100 + 67 ? 0xAD : -1;
}
