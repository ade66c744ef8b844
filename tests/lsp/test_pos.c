/* Positions: utf-16 / utf-8 / utf-32 characters <-> byte offsets.  Tables over astral
 * characters (surrogate pairs), positions inside code points, clamping past the line end and
 * invalid UTF-8; then a randomised check against a line built from known code points. */
#include "base.h"
#include "lsp/lsp.h"
#include "tests/test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* "a€😀b": a@0, €@1..3, 😀@4..7, b@8, len 9 */
#define L1 "a\xe2\x82\xac\xf0\x9f\x98\x80" "b"

static const struct pcase {
    const char *line;
    size_t len;
    enum lsp_enc enc;
    uint32_t ch;
    size_t byte;
} c2b[] = {
    {L1, 9, LSP_ENC_UTF16, 0, 0},
    {L1, 9, LSP_ENC_UTF16, 1, 1},
    {L1, 9, LSP_ENC_UTF16, 2, 4},
    {L1, 9, LSP_ENC_UTF16, 3, 4}, /* between the surrogates: start of the code point */
    {L1, 9, LSP_ENC_UTF16, 4, 8},
    {L1, 9, LSP_ENC_UTF16, 5, 9},
    {L1, 9, LSP_ENC_UTF16, 6, 9}, /* past the end: clamped */
    {L1, 9, LSP_ENC_UTF16, 2147483647u, 9},
    {L1, 9, LSP_ENC_UTF8, 0, 0},
    {L1, 9, LSP_ENC_UTF8, 1, 1},
    {L1, 9, LSP_ENC_UTF8, 2, 1}, /* inside € */
    {L1, 9, LSP_ENC_UTF8, 3, 1},
    {L1, 9, LSP_ENC_UTF8, 4, 4},
    {L1, 9, LSP_ENC_UTF8, 7, 4},
    {L1, 9, LSP_ENC_UTF8, 8, 8},
    {L1, 9, LSP_ENC_UTF8, 9, 9},
    {L1, 9, LSP_ENC_UTF8, 10, 9},
    {L1, 9, LSP_ENC_UTF32, 2, 4},
    {L1, 9, LSP_ENC_UTF32, 3, 8},
    {L1, 9, LSP_ENC_UTF32, 4, 9},
    {L1, 9, LSP_ENC_UTF32, 5, 9},
    {"", 0, LSP_ENC_UTF16, 0, 0},
    {"", 0, LSP_ENC_UTF16, 7, 0},
    {"", 0, LSP_ENC_UTF8, 7, 0},
    /* invalid: a, FF, b, E2 82 (truncated €), c -- each bad byte one unit */
    {"a\xff" "b\xe2\x82" "c", 6, LSP_ENC_UTF16, 1, 1},
    {"a\xff" "b\xe2\x82" "c", 6, LSP_ENC_UTF16, 2, 2},
    {"a\xff" "b\xe2\x82" "c", 6, LSP_ENC_UTF16, 3, 3},
    {"a\xff" "b\xe2\x82" "c", 6, LSP_ENC_UTF16, 4, 4},
    {"a\xff" "b\xe2\x82" "c", 6, LSP_ENC_UTF16, 5, 5},
    {"a\xff" "b\xe2\x82" "c", 6, LSP_ENC_UTF16, 6, 6},
    {"a\xff" "b\xe2\x82" "c", 6, LSP_ENC_UTF8, 4, 4}, /* 82 stands alone */
    {"\xc0\x80x", 3, LSP_ENC_UTF16, 1, 1},           /* overlong NUL: two bad bytes */
    {"\xc0\x80x", 3, LSP_ENC_UTF16, 2, 2},
    {"\xed\xa0\x80x", 4, LSP_ENC_UTF16, 3, 3},       /* encoded surrogate: three bad bytes */
    {"\xed\xa0\x80x", 4, LSP_ENC_UTF32, 3, 3},
    {"\xf4\x90\x80\x80x", 5, LSP_ENC_UTF16, 4, 4},   /* above U+10FFFF */
    {"\xf4\x8f\xbf\xbfx", 5, LSP_ENC_UTF16, 2, 4},   /* U+10FFFF: valid, a surrogate pair */
    {"\xf0\x9f\x98", 3, LSP_ENC_UTF16, 2, 2},        /* truncated at the end */
    {"\xf0\x9f\x98", 3, LSP_ENC_UTF16, 3, 3},
    {"\xe0\x9f\x80", 3, LSP_ENC_UTF16, 1, 1},        /* overlong 3-byte */
    {"\xef\xbf\xbd!", 4, LSP_ENC_UTF16, 1, 3},       /* U+FFFD itself: one BMP unit */
    {"\x80\x80\x80\x80\x80", 5, LSP_ENC_UTF8, 3, 3}, /* continuation bytes only */
    {"\x80\x80\x80\x80\x80", 5, LSP_ENC_UTF16, 3, 3},
};

static const struct bcase {
    const char *line;
    size_t len;
    enum lsp_enc enc;
    size_t byte;
    uint32_t ch;
} b2c[] = {
    {L1, 9, LSP_ENC_UTF16, 0, 0},
    {L1, 9, LSP_ENC_UTF16, 1, 1},
    {L1, 9, LSP_ENC_UTF16, 2, 1},
    {L1, 9, LSP_ENC_UTF16, 3, 1},
    {L1, 9, LSP_ENC_UTF16, 4, 2},
    {L1, 9, LSP_ENC_UTF16, 6, 2},
    {L1, 9, LSP_ENC_UTF16, 8, 4},
    {L1, 9, LSP_ENC_UTF16, 9, 5},
    {L1, 9, LSP_ENC_UTF16, 1000, 5},
    {L1, 9, LSP_ENC_UTF8, 2, 1},
    {L1, 9, LSP_ENC_UTF8, 5, 4},
    {L1, 9, LSP_ENC_UTF8, 8, 8},
    {L1, 9, LSP_ENC_UTF8, 50, 9},
    {L1, 9, LSP_ENC_UTF32, 5, 2},
    {L1, 9, LSP_ENC_UTF32, 8, 3},
    {L1, 9, LSP_ENC_UTF32, 9, 4},
    {"a\xff" "b\xe2\x82" "c", 6, LSP_ENC_UTF16, 6, 6},
    {"a\xff" "b\xe2\x82" "c", 6, LSP_ENC_UTF16, 4, 4},
    {"\xf0\x9f\x98", 3, LSP_ENC_UTF16, 3, 3},
};

/* Runs each conversion on an exact-size heap copy, so a read past the line is caught by ASan. */
TEST(lsp_pos_tables)
{
    for (size_t i = 0; i < SK_ARRAY_LEN(c2b); i++) {
        char *l = malloc(c2b[i].len ? c2b[i].len : 1);
        memcpy(l, c2b[i].line, c2b[i].len);
        size_t got = lsp_char_to_byte(l, c2b[i].len, c2b[i].ch, c2b[i].enc);
        ASSERT_MSG(got == c2b[i].byte, "c2b case %zu: char %u (%s) -> byte %zu, want %zu", i,
                   c2b[i].ch, lsp_enc_name(c2b[i].enc), got, c2b[i].byte);
        free(l);
    }
    for (size_t i = 0; i < SK_ARRAY_LEN(b2c); i++) {
        char *l = malloc(b2c[i].len);
        memcpy(l, b2c[i].line, b2c[i].len);
        uint32_t got = lsp_byte_to_char(l, b2c[i].len, b2c[i].byte, b2c[i].enc);
        ASSERT_MSG(got == b2c[i].ch, "b2c case %zu: byte %zu (%s) -> char %u, want %u", i,
                   b2c[i].byte, lsp_enc_name(b2c[i].enc), got, b2c[i].ch);
        free(l);
    }
    ASSERT_EQ(lsp_line_units(L1, 9, LSP_ENC_UTF16), 5);
    ASSERT_EQ(lsp_line_units(L1, 9, LSP_ENC_UTF8), 9);
    ASSERT_EQ(lsp_line_units(L1, 9, LSP_ENC_UTF32), 4);
}

TEST(lsp_pos_encoding_names)
{
    enum lsp_enc e;
    ASSERT_EQ(lsp_enc_parse("utf-8", &e), 0);
    ASSERT_EQ(e, LSP_ENC_UTF8);
    ASSERT_EQ(lsp_enc_parse("utf-16", &e), 0);
    ASSERT_EQ(e, LSP_ENC_UTF16);
    ASSERT_EQ(lsp_enc_parse("utf-32", &e), 0);
    ASSERT_EQ(e, LSP_ENC_UTF32);
    ASSERT_EQ(lsp_enc_parse("UTF-8", &e), LSP_EINVAL);
    ASSERT_EQ(lsp_enc_parse("utf8", &e), LSP_EINVAL);
    ASSERT_EQ(lsp_enc_parse(NULL, &e), LSP_EINVAL);
    ASSERT_STR_EQ(lsp_enc_name(LSP_ENC_UTF8), "utf-8");
    ASSERT_STR_EQ(lsp_enc_name(LSP_ENC_UTF16), "utf-16");
    ASSERT_STR_EQ(lsp_enc_name(LSP_ENC_UTF32), "utf-32");
}

TEST(lsp_pos_decoder)
{
    static const struct {
        const char *s;
        size_t n, len;
        uint32_t cp;
    } t[] = {
        {"A", 1, 1, 0x41},
        {"\xc2\x80", 2, 2, 0x80},
        {"\xdf\xbf", 2, 2, 0x7ff},
        {"\xe0\xa0\x80", 3, 3, 0x800},
        {"\xed\x9f\xbf", 3, 3, 0xd7ff},
        {"\xee\x80\x80", 3, 3, 0xe000},
        {"\xf0\x90\x80\x80", 4, 4, 0x10000},
        {"\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff},
        {"\xc1\xbf", 2, 1, 0xfffd},
        {"\xe0\x80\x80", 3, 1, 0xfffd},
        {"\xed\xa0\x80", 3, 1, 0xfffd},
        {"\xf0\x80\x80\x80", 4, 1, 0xfffd},
        {"\xf4\x90\x80\x80", 4, 1, 0xfffd},
        {"\xf5\x80\x80\x80", 4, 1, 0xfffd},
        {"\xe2\x82", 2, 1, 0xfffd},
        {"\xe2\x82\x41", 3, 1, 0xfffd},
        {"\xbf", 1, 1, 0xfffd},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(t); i++) {
        uint32_t cp;
        size_t l = lsp_utf8_next((const unsigned char *)t[i].s, t[i].n, &cp);
        ASSERT_MSG(l == t[i].len && cp == t[i].cp, "case %zu: len %zu cp %x", i, l, cp);
    }
}

static uint64_t rs = 7;
static uint32_t rnd(void)
{
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rs >> 33);
}

/* Builds lines from tokens with known widths (valid code points of every length, and invalid
 * byte runs whose every byte is one unit) and checks every conversion against them. */
TEST(lsp_pos_random_lines)
{
    for (int trial = 0; trial < 2000; trial++) {
        unsigned char line[256];
        size_t off[80];    /* byte offset of token k */
        uint32_t u16[80], u32[80];
        size_t n = 0, k = 0;
        uint32_t a16 = 0, a32 = 0;
        int ntok = (int)(rnd() % 40);
        for (int t = 0; t < ntok; t++) {
            off[k] = n;
            u16[k] = a16;
            u32[k] = a32;
            int kind = (int)(rnd() % 6);
            if (kind == 0) {
                line[n++] = (unsigned char)(0x20 + rnd() % 0x5f);
                a16++, a32++;
            } else if (kind == 1) {
                uint32_t cp = 0x80 + rnd() % (0x800 - 0x80);
                line[n++] = (unsigned char)(0xc0 | cp >> 6);
                line[n++] = (unsigned char)(0x80 | (cp & 0x3f));
                a16++, a32++;
            } else if (kind == 2) {
                uint32_t cp;
                do
                    cp = 0x800 + rnd() % (0x10000 - 0x800);
                while (cp >= 0xd800 && cp < 0xe000);
                line[n++] = (unsigned char)(0xe0 | cp >> 12);
                line[n++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                line[n++] = (unsigned char)(0x80 | (cp & 0x3f));
                a16++, a32++;
            } else if (kind == 3) {
                uint32_t cp = 0x10000 + rnd() % (0x110000 - 0x10000);
                line[n++] = (unsigned char)(0xf0 | cp >> 18);
                line[n++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
                line[n++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                line[n++] = (unsigned char)(0x80 | (cp & 0x3f));
                a16 += 2, a32++;
            } else {
                /* one invalid byte: a stray continuation, or a lead byte followed by ASCII */
                static const unsigned char bad[] = {0x80, 0xbf, 0xc0, 0xc1, 0xf5, 0xff, 0xe2, 0xf0};
                unsigned char b = bad[rnd() % sizeof bad];
                /* a lead byte must not be completed by the next token: follow it with ASCII */
                line[n++] = b;
                a16++, a32++;
                if (b >= 0xc0) {
                    k++;
                    off[k] = n;
                    u16[k] = a16;
                    u32[k] = a32;
                    line[n++] = 'z';
                    a16++, a32++;
                }
            }
            k++;
        }
        off[k] = n, u16[k] = a16, u32[k] = a32;
        unsigned char *l = malloc(n ? n : 1);
        memcpy(l, line, n);
        const char *s = (const char *)l;
        ASSERT_EQ(lsp_line_units(s, n, LSP_ENC_UTF16), a16);
        ASSERT_EQ(lsp_line_units(s, n, LSP_ENC_UTF32), a32);
        for (size_t t = 0; t <= k; t++) {
            ASSERT_EQ(lsp_char_to_byte(s, n, u16[t], LSP_ENC_UTF16), off[t]);
            ASSERT_EQ(lsp_char_to_byte(s, n, u32[t], LSP_ENC_UTF32), off[t]);
            ASSERT_EQ(lsp_char_to_byte(s, n, (uint32_t)off[t], LSP_ENC_UTF8), off[t]);
            ASSERT_EQ(lsp_byte_to_char(s, n, off[t], LSP_ENC_UTF16), u16[t]);
            ASSERT_EQ(lsp_byte_to_char(s, n, off[t], LSP_ENC_UTF32), u32[t]);
            ASSERT_EQ(lsp_byte_to_char(s, n, off[t], LSP_ENC_UTF8), off[t]);
            if (t < k) {
                /* every byte inside token t maps back to token t's start */
                for (size_t b = off[t]; b < off[t + 1]; b++) {
                    ASSERT_EQ(lsp_byte_to_char(s, n, b, LSP_ENC_UTF16), u16[t]);
                    ASSERT_EQ(lsp_char_to_byte(s, n, (uint32_t)b, LSP_ENC_UTF8), off[t]);
                }
                for (uint32_t c = u16[t]; c < u16[t + 1]; c++)
                    ASSERT_EQ(lsp_char_to_byte(s, n, c, LSP_ENC_UTF16), off[t]);
            }
        }
        ASSERT_EQ(lsp_char_to_byte(s, n, a16 + 1 + rnd() % 100, LSP_ENC_UTF16), n);
        free(l);
    }
}

/* File URIs become local paths with their percent escapes decoded. */
TEST(lsp_uri_to_path)
{
    static const struct {
        const char *uri, *path;
        int rc;
    } cases[] = {
        {"file:///a%20b/c.py", "/a b/c.py", 0},
        {"file:///home/u/x.c", "/home/u/x.c", 0},
        {"file://localhost/srv/a%2Fb", "/srv/a/b", 0},
        {"file:///caf%C3%A9/%e2%82%ac.py", "/caf\xc3\xa9/\xe2\x82\xac.py", 0},
        {"file:///a%25b?q=1#frag", "/a%b", 0},
        {"file:///bad%2", NULL, -EINVAL},
        {"file:///bad%zz", NULL, -EINVAL},
        {"file:///nul%00", NULL, -EINVAL},
        {"untitled:Untitled-1", NULL, -EINVAL},
        {"file://hostonly", NULL, -EINVAL},
    };
    char buf[64];
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
        memset(buf, 'x', sizeof buf);
        int rc = lsp_uri_to_path(cases[i].uri, buf, sizeof buf);
        if (rc != cases[i].rc || (cases[i].path && strcmp(buf, cases[i].path))) {
            fprintf(stderr, "%s: rc %d, path [%s]\n", cases[i].uri, rc, rc ? "" : buf);
            ASSERT(0);
        }
    }
    /* exactly fitting and one byte short */
    ASSERT_EQ(lsp_uri_to_path("file:///abc", buf, 5), 0);
    ASSERT_STR_EQ(buf, "/abc");
    ASSERT_EQ(lsp_uri_to_path("file:///abc", buf, 4), -ENAMETOOLONG);
    ASSERT_EQ(lsp_uri_to_path(NULL, buf, sizeof buf), -EINVAL);
}
