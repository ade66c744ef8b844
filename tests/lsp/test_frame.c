/* Framing: table-driven streams fed whole, one byte at a time and in random chunks; each must
 * produce exactly the expected bodies and errors in order.  Hostile cases: garbage, missing and
 * bad Content-Length, oversized bodies (skipped by declared length), endless headers. */
#include "base.h"

#include <errno.h>
#include "lsp/lsp.h"
#include "tests/test.h"

struct sbuf {
    char *p;
    size_t n, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static const char *ename(int rc)
{
    switch (rc) {
    case LSP_EHEADER: return "!HDR";
    case LSP_ENOLENGTH: return "!NOLEN";
    case LSP_EHEADERSIZE: return "!HSIZE";
    case LSP_ETOOBIG: return "!BIG";
    default: return "!OTHER";
    }
}

static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

/* Feeds stream in chunks (mode 0: whole, 1: bytes, 2: random 1..17, 3: random 1..4096) and
 * returns the events: "[body]" per message, "!ERR" per error. */
static char *run(const char *s, size_t n, size_t limit, int mode)
{
    lsp_reader r;
    lsp_reader_init(&r, limit);
    struct sbuf ev = {0};
    sb_str(&ev, "");
    size_t off = 0;
    while (off < n) {
        size_t c = mode == 0 ? n : mode == 1 ? 1 : mode == 2 ? 1 + rnd() % 17 : 1 + rnd() % 4096;
        if (c > n - off)
            c = n - off;
        ASSERT_EQ(lsp_reader_feed(&r, s + off, c), 0);
        off += c;
        for (;;) {
            const char *body;
            size_t len;
            int rc = lsp_reader_next(&r, &body, &len);
            if (rc == 0)
                break;
            if (rc == 1) {
                sb_str(&ev, "[");
                sb_add(&ev, body, len);
                sb_str(&ev, "]");
            } else
                sb_str(&ev, ename(rc));
        }
    }
    lsp_reader_free(&r);
    return ev.p;
}

static const struct fcase {
    const char *name, *in, *want;
    size_t limit;
} fcases[] = {
    {"one", "Content-Length: 2\r\n\r\n{}", "[{}]", 0},
    {"two in one", "Content-Length: 2\r\n\r\n{}Content-Length: 3\r\n\r\n[1]", "[{}][[1]]", 0},
    {"lower case", "content-length: 2\r\n\r\n{}", "[{}]", 0},
    {"upper case no space", "CONTENT-LENGTH:2\r\n\r\n{}", "[{}]", 0},
    {"mixed case blanks", "cOnTeNt-LeNgTh: \t 4 \t\r\n\r\nabcd", "[abcd]", 0},
    {"content-type after",
     "Content-Length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}",
     "[{}]", 0},
    {"content-type before", "Content-Type: x\r\nContent-Length: 2\r\n\r\n{}", "[{}]", 0},
    {"bare LF", "Content-Length: 2\n\n{}Content-Length: 1\n\nx", "[{}][x]", 0},
    {"stray CRLF between", "\r\n\r\nContent-Length: 1\r\n\r\na\r\n\nContent-Length: 1\r\n\r\nb",
     "[a][b]", 0},
    {"zero length", "Content-Length: 0\r\n\r\nContent-Length: 1\r\n\r\nz", "[][z]", 0},
    {"body holds header text", "Content-Length: 23\r\n\r\nContent-Length: 9\r\n\r\nab", 
     "[Content-Length: 9\r\n\r\nab]", 0},
    {"same length twice", "Content-Length: 1\r\ncontent-length: 1\r\n\r\nq", "[q]", 0},
    {"garbage before", "hello world\r\nContent-Length: 2\r\n\r\n{}", "!HDR[{}]", 0},
    {"garbage line inside", "Content-Length: 2\r\nbad line\r\n\r\n{}\r\nContent-Length: 1\r\n\r\nk",
     "!HDR[k]", 0},
    {"no colon", "Content-Length 2\r\n\r\n{}\nContent-Length: 1\r\n\r\nk", "!HDR[k]", 0},
    {"space before colon", "Content-Length : 2\r\n\r\n{}\nContent-Length: 1\r\n\r\nk",
     "!HDR[k]", 0},
    {"missing length", "Content-Type: x\r\n\r\nContent-Length: 1\r\n\r\nk", "!NOLEN[k]", 0},
    {"letters in length", "Content-Length: 1x\r\n\r\nContent-Length: 1\r\n\r\nk", "!HDR[k]", 0},
    {"negative length", "Content-Length: -1\r\n\r\nContent-Length: 1\r\n\r\nk", "!HDR[k]", 0},
    {"empty length", "Content-Length:\r\n\r\nContent-Length: 1\r\n\r\nk", "!HDR[k]", 0},
    {"overflowing length", "Content-Length: 99999999999999999999999\r\n\r\nContent-Length: 1\r\n\r\nk",
     "!HDR[k]", 0},
    /* The resync rule restarts at the next line that starts with Content-Length, even inside
     * the bad block: here the second header line starts a message of its own. */
    {"conflicting lengths", "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab\nContent-Length: 1\r\n\r\nk",
     "!HDR[ab][k]", 0},
    {"oversize skipped", "Content-Length: 20\r\n\r\n01234567890123456789Content-Length: 2\r\n\r\n{}",
     "!BIG[{}]", 16},
    {"oversize hides a header", "Content-Length: 24\r\n\r\n\nContent-Length: 1\r\n\r\nX.Content-Length: 1\r\n\r\nY",
     "!BIG[Y]", 16},
    {"at the limit", "Content-Length: 16\r\n\r\n0123456789abcdef", "[0123456789abcdef]", 16},
    {"garbage then oversize then ok",
     "zz\nContent-Length: 17\r\n\r\n0123456789abcdefgContent-Length: 1\r\n\r\nk", "!HDR!BIG[k]", 16},
    {"resync needs line start", "xx\r\nfoo Content-Length: 1\r\n\r\na\nContent-Length: 1\r\n\r\nb",
     "!HDR[b]", 0},
    {"nul bytes in body", "Content-Length: 3\r\n\r\na\0b", "[a\0b]", 0},
    {"truncated stream", "Content-Length: 10\r\n\r\nabc", "", 0},
    {"truncated header", "Content-Len", "", 0},
};

TEST(lsp_frame_table)
{
    for (size_t i = 0; i < SK_ARRAY_LEN(fcases); i++) {
        const struct fcase *c = &fcases[i];
        /* The inputs contain NULs in one case: take the length from the literal's table. */
        size_t n = strlen(c->in);
        if (!strcmp(c->name, "nul bytes in body"))
            n = sizeof("Content-Length: 3\r\n\r\na\0b") - 1;
        size_t want_n = !strcmp(c->name, "nul bytes in body") ? 5 : strlen(c->want);
        for (int mode = 0; mode < 4; mode++) {
            rng_state = 1234 + i;
            size_t live = sk_alloc_live_bytes();
            char *got = run(c->in, n, c->limit, mode);
            ASSERT_EQ(sk_alloc_live_bytes(), live);
            if (memcmp(got, c->want, want_n) != 0 || got[want_n] != 0)
                TEST_FAIL_("case '%s' mode %d:\n  got:  %s\n  want: %s", c->name, mode, got,
                           c->want);
            free(got);
        }
    }
}

TEST(lsp_frame_header_too_long)
{
    struct sbuf s = {0};
    sb_str(&s, "X-Junk: ");
    for (int i = 0; i < LSP_MAX_HEADER + 100; i++)
        sb_str(&s, "a");
    sb_str(&s, "\r\nContent-Length: 2\r\n\r\n{}");
    for (int mode = 0; mode < 4; mode++) {
        char *got = run(s.p, s.n, 0, mode);
        ASSERT_STR_EQ(got, "!HSIZE[{}]");
        free(got);
    }
    /* A long but legal header block (under the limit) is fine. */
    s.n = 0;
    sb_str(&s, "X-Junk: ");
    for (int i = 0; i < LSP_MAX_HEADER - 100; i++)
        sb_str(&s, "a");
    sb_str(&s, "\r\nContent-Length: 2\r\n\r\n{}");
    for (int mode = 0; mode < 4; mode++) {
        char *got = run(s.p, s.n, 0, mode);
        ASSERT_STR_EQ(got, "[{}]");
        free(got);
    }
    free(s.p);
}

/* A huge oversized body fed in chunks is discarded without being buffered. */
TEST(lsp_frame_oversize_not_buffered)
{
    lsp_reader r;
    lsp_reader_init(&r, 1024);
    const char *hdr = "Content-Length: 10000000\r\n\r\n";
    ASSERT_EQ(lsp_reader_feed(&r, hdr, strlen(hdr)), 0);
    const char *body;
    size_t len;
    ASSERT_EQ(lsp_reader_next(&r, &body, &len), LSP_ETOOBIG);
    ASSERT_EQ(lsp_reader_next(&r, &body, &len), 0);
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    size_t left = 10000000;
    while (left) {
        size_t c = left < sizeof chunk ? left : sizeof chunk;
        ASSERT_EQ(lsp_reader_feed(&r, chunk, c), 0);
        ASSERT_EQ(lsp_reader_next(&r, &body, &len), 0);
        left -= c;
        ASSERT_LE(r.cap, 65536 * 2); /* never grew to hold the body */
    }
    const char *ok = "Content-Length: 2\r\n\r\n{}";
    ASSERT_EQ(lsp_reader_feed(&r, ok, strlen(ok)), 0);
    ASSERT_EQ(lsp_reader_next(&r, &body, &len), 1);
    ASSERT_EQ(len, 2);
    ASSERT_MEM_EQ(body, "{}", 2);
    lsp_reader_free(&r);
}

/* Random garbage (never containing "content-length", ending in a newline) between valid
 * messages: every valid message comes out, in order, whatever the chunking. */
TEST(lsp_frame_garbage_resync)
{
    for (int trial = 0; trial < 200; trial++) {
        rng_state = 99 + (uint64_t)trial;
        struct sbuf s = {0}, want = {0};
        sb_str(&want, "");
        int nmsg = 1 + (int)(rnd() % 6);
        for (int m = 0; m < nmsg; m++) {
            if (rnd() % 2) {
                int g = 1 + (int)(rnd() % 40);
                for (int k = 0; k < g; k++) {
                    static const char alpha[] = "abCdeLnt-: \t\r\n{}\"\\0123456789\x01\xff";
                    char ch = alpha[rnd() % (sizeof alpha - 1)];
                    sb_add(&s, &ch, 1);
                }
                sb_str(&s, "\n");
            }
            char body[64], hdr[64];
            int bl = snprintf(body, sizeof body, "{\"m\":%d,\"t\":%d}", m, trial);
            snprintf(hdr, sizeof hdr, "%s: %d\r\n\r\n", rnd() % 2 ? "Content-Length" : "content-length", bl);
            sb_str(&s, hdr);
            sb_str(&s, body);
            sb_str(&want, "[");
            sb_str(&want, body);
            sb_str(&want, "]");
        }
        for (int mode = 0; mode < 4; mode++) {
            char *got = run(s.p, s.n, 0, mode);
            /* drop error markers: garbage may or may not form an error */
            struct sbuf clean = {0};
            sb_str(&clean, "");
            for (char *p = got; *p;) {
                if (*p == '!') { /* an error marker: '!' and upper-case letters */
                    p++;
                    while (*p >= 'A' && *p <= 'Z')
                        p++;
                } else
                    sb_add(&clean, p++, 1);
            }
            if (strcmp(clean.p, want.p))
                TEST_FAIL_("trial %d mode %d:\n  got:  %s\n  want: %s", trial, mode, got, want.p);
            free(clean.p);
            free(got);
        }
        free(s.p);
        free(want.p);
    }
}

TEST(lsp_frame_encode_roundtrip)
{
    char hdr[LSP_FRAME_HEADER_MAX];
    ASSERT_EQ(lsp_frame_header(hdr, 0), strlen("Content-Length: 0\r\n\r\n"));
    ASSERT_STR_EQ(hdr, "Content-Length: 0\r\n\r\n");
    lsp_frame_header(hdr, 123456789);
    ASSERT_STR_EQ(hdr, "Content-Length: 123456789\r\n\r\n");
    const char *bodies[] = {"{}", "", "{\"a\":\"\xf0\x9f\x98\x80\"}", "x\r\n\r\nContent-Length: 5"};
    lsp_reader r;
    lsp_reader_init(&r, 0);
    for (size_t i = 0; i < SK_ARRAY_LEN(bodies); i++) {
        size_t n;
        char *f = lsp_frame_encode(bodies[i], strlen(bodies[i]), &n);
        ASSERT(f);
        ASSERT_EQ(lsp_reader_feed(&r, f, n), 0);
        sk_free(f);
    }
    for (size_t i = 0; i < SK_ARRAY_LEN(bodies); i++) {
        const char *b;
        size_t n;
        ASSERT_EQ(lsp_reader_next(&r, &b, &n), 1);
        ASSERT_EQ(n, strlen(bodies[i]));
        ASSERT_MEM_EQ(b, bodies[i], n);
    }
    const char *b;
    size_t n;
    ASSERT_EQ(lsp_reader_next(&r, &b, &n), 0);
    lsp_reader_free(&r);
}

TEST(lsp_frame_feed_oom)
{
    lsp_reader r;
    lsp_reader_init(&r, 0);
    sk_alloc_fail_after(0);
    ASSERT_EQ(lsp_reader_feed(&r, "Content-Length: 2\r\n\r\n{}", 23), -ENOMEM);
    sk_alloc_fail_after(-1);
    const char *b;
    size_t n;
    ASSERT_EQ(lsp_reader_next(&r, &b, &n), 0); /* nothing was taken */
    ASSERT_EQ(lsp_reader_feed(&r, "Content-Length: 2\r\n\r\n{}", 23), 0);
    ASSERT_EQ(lsp_reader_next(&r, &b, &n), 1);
    lsp_reader_free(&r);
}
