/*
 * Positions: LSP character offsets (utf-16 / utf-8 / utf-32 code units) <-> byte offsets within
 * one line of UTF-8 text.  Every conversion walks the line from its start, so it costs O(line
 * length); lines are short in source code, and a 1 MiB minified line still converts in about a
 * millisecond.  The decoder follows the Unicode well-formed table (Table 3-7): anything else is
 * one invalid byte, one unit wide in every encoding.
 */
#include "lsp/lsp.h"

#include <errno.h>
#include <string.h>

const char *lsp_enc_name(enum lsp_enc enc)
{
    switch (enc) {
    case LSP_ENC_UTF8: return "utf-8";
    case LSP_ENC_UTF32: return "utf-32";
    case LSP_ENC_UTF16:
    default: return "utf-16";
    }
}

int lsp_enc_parse(const char *name, enum lsp_enc *out)
{
    if (!name)
        return LSP_EINVAL;
    if (!strcmp(name, "utf-16"))
        *out = LSP_ENC_UTF16;
    else if (!strcmp(name, "utf-8"))
        *out = LSP_ENC_UTF8;
    else if (!strcmp(name, "utf-32"))
        *out = LSP_ENC_UTF32;
    else
        return LSP_EINVAL;
    return 0;
}

static int cont(unsigned char c) { return (c & 0xC0) == 0x80; }

size_t lsp_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t l;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        l = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        l = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlongs */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        l = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* <= U+10FFFF */
    } else
        goto bad;
    if (n < l || s[1] < lo || s[1] > hi)
        goto bad;
    for (size_t i = 2; i < l; i++)
        if (!cont(s[i]))
            goto bad;
    uint32_t v = c & (0xFF >> (l + 1));
    for (size_t i = 1; i < l; i++)
        v = (v << 6) | (s[i] & 0x3F);
    *cp = v;
    return l;
bad:
    *cp = 0xFFFD;
    return 1;
}

static uint32_t units(uint32_t cp, size_t bytes, enum lsp_enc enc)
{
    switch (enc) {
    case LSP_ENC_UTF8: return (uint32_t)bytes;
    case LSP_ENC_UTF32: return 1;
    case LSP_ENC_UTF16:
    default: return cp >= 0x10000 ? 2 : 1;
    }
}

/* The start of the code point that holds byte b (b < len). */
static size_t cp_start(const unsigned char *s, size_t len, size_t b)
{
    if (!cont(s[b]))
        return b;
    /* A continuation byte belongs to the nearest lead byte within 3 bytes before it when that
     * lead starts a well-formed sequence reaching b; otherwise it stands alone.  Any byte that
     * is not a continuation byte starts a code point in a forward walk. */
    for (size_t k = 1; k <= 3 && k <= b; k++) {
        if (cont(s[b - k]))
            continue;
        uint32_t cp;
        size_t l = lsp_utf8_next(s + b - k, len - (b - k), &cp);
        return l > k ? b - k : b;
    }
    return b;
}

size_t lsp_char_to_byte(const char *line, size_t len, uint32_t character, enum lsp_enc enc)
{
    const unsigned char *s = (const unsigned char *)line;
    if (enc == LSP_ENC_UTF8)
        return character >= len ? len : cp_start(s, len, character);
    size_t off = 0;
    uint32_t u = 0;
    while (off < len) {
        uint32_t cp;
        size_t l = lsp_utf8_next(s + off, len - off, &cp);
        uint32_t w = units(cp, l, enc);
        if (u + w > character)
            break; /* character is at or inside this code point */
        u += w;
        off += l;
    }
    return off;
}

uint32_t lsp_byte_to_char(const char *line, size_t len, size_t byte, enum lsp_enc enc)
{
    const unsigned char *s = (const unsigned char *)line;
    if (byte > len)
        byte = len;
    if (enc == LSP_ENC_UTF8)
        return (uint32_t)(byte == len ? len : cp_start(s, len, byte));
    size_t off = 0;
    uint32_t u = 0;
    while (off < byte) {
        uint32_t cp;
        size_t l = lsp_utf8_next(s + off, len - off, &cp);
        if (off + l > byte)
            break; /* byte is inside this code point */
        u += units(cp, l, enc);
        off += l;
    }
    return u;
}

uint32_t lsp_line_units(const char *line, size_t len, enum lsp_enc enc)
{
    return lsp_byte_to_char(line, len, len, enc);
}

/* ---- file URIs -------------------------------------------------------------------------------- */

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 32);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int lsp_uri_to_path(const char *uri, char *buf, size_t cap)
{
    if (!uri || !buf || !cap || strncmp(uri, "file://", 7))
        return -EINVAL;
    const char *p = uri + 7;
    if (*p != '/') { /* file://host/path: the host is dropped (a local path on this machine) */
        p = strchr(p, '/');
        if (!p)
            return -EINVAL;
    }
    size_t o = 0;
    for (; *p && *p != '?' && *p != '#'; p++) {
        char c = *p;
        if (c == '%') {
            int hi = p[1] ? hex_val(p[1]) : -1, lo = hi >= 0 && p[2] ? hex_val(p[2]) : -1;
            if (hi < 0 || lo < 0)
                return -EINVAL;
            c = (char)(hi * 16 + lo);
            if (c == 0)
                return -EINVAL;
            p += 2;
        }
        if (o + 1 >= cap)
            return -ENAMETOOLONG;
        buf[o++] = c;
    }
    buf[o] = 0;
    return 0;
}
