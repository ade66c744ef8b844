/* context/ documents: language detection, edit application, line index, incremental parses
 * compared with fresh ones after random edits, parse bounds, memory. */
#include "../test.h"

#include "base.h"
#include "context/context.h"
#include "samples.h"

#include <errno.h>

/* ---- helpers ------------------------------------------------------------------------------- */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* The reference model of a document: a plain buffer. */
struct ref {
    char *p;
    size_t len;
};

static void ref_replace(struct ref *r, size_t s, size_t e, const char *t, size_t n)
{
    if (e > r->len)
        e = r->len;
    if (s > e)
        s = e;
    char *np = malloc(r->len - (e - s) + n + 1);
    memcpy(np, r->p, s);
    memcpy(np + s, t, n);
    memcpy(np + s + n, r->p + e, r->len - e);
    r->len = r->len - (e - s) + n;
    free(r->p);
    r->p = np;
}

static void expect_text(const ctx_doc *d, const char *want, size_t n)
{
    size_t len;
    const char *t = ctx_doc_text(d, &len);
    ASSERT_EQ(len, n);
    ASSERT_EQ(ctx_doc_len(d), n);
    ASSERT_MEM_EQ(t, want, n);
    ASSERT_EQ(t[len], 0);
}

static void expect_check(const ctx_doc *d, enum ctx_check mode, const char *what)
{
    char err[1024];
    int rc = ctx_doc_check(d, mode, err, sizeof err);
    ASSERT_MSG(rc == 0, "%s: check %d: %s", what, rc, err);
}

/* ---- languages ----------------------------------------------------------------------------- */
TEST(ctx_lang_detection)
{
    static const struct {
        const char *id;
        enum ctx_lang lang;
    } ids[] = {
        {"c", CTX_LANG_C},
        {"cpp", CTX_LANG_CPP},
        {"python", CTX_LANG_PYTHON},
        {"javascript", CTX_LANG_JAVASCRIPT},
        {"javascriptreact", CTX_LANG_JAVASCRIPT},
        {"typescript", CTX_LANG_TYPESCRIPT},
        {"typescriptreact", CTX_LANG_TSX},
        {"go", CTX_LANG_GO},
        {"rust", CTX_LANG_RUST},
        {"java", CTX_LANG_JAVA},
        {"shellscript", CTX_LANG_BASH},
        {"sh", CTX_LANG_BASH},
        {"bash", CTX_LANG_BASH},
        {"json", CTX_LANG_JSON},
        {"jsonc", CTX_LANG_JSON},
        {"Python", CTX_LANG_NONE}, /* ids are case-sensitive */
        {"", CTX_LANG_NONE},
        {"plaintext", CTX_LANG_NONE},
        {"c ", CTX_LANG_NONE},
        {NULL, CTX_LANG_NONE},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(ids); i++)
        ASSERT_MSG(ctx_lang_from_id(ids[i].id) == ids[i].lang, "id %s", ids[i].id);

    static const struct {
        const char *path;
        enum ctx_lang lang;
    } paths[] = {
        {"a.c", CTX_LANG_C},
        {"/x/y/a.h", CTX_LANG_C},
        {"A.CPP", CTX_LANG_CPP},
        {"a.hpp", CTX_LANG_CPP},
        {"file:///home/u/p/main.py", CTX_LANG_PYTHON},
        {"file:///home/u/p/main.py?x=1#frag", CTX_LANG_PYTHON},
        {"file:///home/u/p.ts/main", CTX_LANG_NONE}, /* the extension of a folder does not count */
        {"x.tsx", CTX_LANG_TSX},
        {"x.d.ts", CTX_LANG_TYPESCRIPT},
        {"x.mjs", CTX_LANG_JAVASCRIPT},
        {"x.jsx", CTX_LANG_JAVASCRIPT},
        {"go.mod", CTX_LANG_NONE},
        {"main.go", CTX_LANG_GO},
        {"lib.rs", CTX_LANG_RUST},
        {"Main.java", CTX_LANG_JAVA},
        {"run.sh", CTX_LANG_BASH},
        {"/home/u/.bashrc", CTX_LANG_BASH},
        {"package.json", CTX_LANG_JSON},
        {"C:\\src\\a.rs", CTX_LANG_RUST},
        {".gitignore", CTX_LANG_NONE},
        {"Makefile", CTX_LANG_NONE},
        {"a.", CTX_LANG_NONE},
        {"", CTX_LANG_NONE},
        {"/", CTX_LANG_NONE},
        {"file://", CTX_LANG_NONE},
        {NULL, CTX_LANG_NONE},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(paths); i++)
        ASSERT_MSG(ctx_lang_from_path(paths[i].path) == paths[i].lang, "path %s",
                   paths[i].path ? paths[i].path : "(null)");

    /* Names round-trip through the id table for every language. */
    for (int l = CTX_LANG_C; l < CTX_LANG__COUNT; l++)
        ASSERT_EQ(ctx_lang_from_id(ctx_lang_name((enum ctx_lang)l)), l);
    ASSERT_STR_EQ(ctx_lang_name(CTX_LANG_NONE), "plaintext");
    ASSERT_STR_EQ(ctx_lang_name((enum ctx_lang)999), "plaintext");
}

/* ---- edit application ---------------------------------------------------------------------- */
struct line_want {
    size_t start, len;
};

TEST(ctx_doc_edit_table)
{
    static const struct {
        const char *name, *before;
        size_t start, end;
        const char *ins;
        int rc;
        const char *after;
        uint32_t lines;
    } cases[] = {
        {"insert middle", "abc", 1, 1, "X", 0, "aXbc", 1},
        {"insert at end", "abc", 3, 3, "\n", 0, "abc\n", 2},
        {"end clamped", "abc", 1, 99, "", 0, "a", 1},
        {"start and end clamped", "abc", 50, 99, "Z", 0, "abcZ", 1},
        {"start > end", "abc", 2, 1, "Z", -EINVAL, "abc", 1},
        {"start > end past end", "abc", 99, 50, "Z", -EINVAL, "abc", 1},
        {"delete all", "a\nb\r\nc\rd", 0, 99, "", 0, "", 1},
        {"noop", "a\nb", 1, 1, "", 0, "a\nb", 2},
        {"join CR LF", "a\rb\nc", 2, 3, "", 0, "a\r\nc", 2},
        {"split CR LF", "a\r\nb", 2, 2, "x", 0, "a\rx\nb", 3},
        {"insert LF after CR", "a\rb", 2, 2, "\n", 0, "a\r\nb", 2},
        {"insert CR before LF", "a\nb", 1, 1, "\r", 0, "a\r\nb", 2},
        {"delete LF of CRLF", "a\r\nb", 2, 3, "", 0, "a\rb", 2},
        {"delete CR of CRLF", "a\r\nb", 1, 2, "", 0, "a\nb", 2},
        {"lone CR at end", "ab", 2, 2, "\r", 0, "ab\r", 2},
        {"multibyte", "h\xc3\xa9llo", 1, 3, "\xe2\x82\xac\n", 0, "h\xe2\x82\xac\nllo", 2},
        {"split multibyte", "\xc3\xa9", 1, 1, "x", 0, "\xc3x\xa9", 1},
        {"many lines", "x", 0, 1, "1\n2\r\n3\r4\n", 0, "1\n2\r\n3\r4\n", 5},
        {"replace lines", "1\n2\n3\n4\n", 2, 6, "a\rb", 0, "1\na\rb4\n", 4},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
        for (int lang = CTX_LANG_NONE; lang <= CTX_LANG_C; lang++) {
            ctx_doc *d;
            ASSERT_EQ(ctx_doc_new("file:///t.c", (enum ctx_lang)lang, cases[i].before,
                                  strlen(cases[i].before), 1, &d),
                      0);
            int rc = ctx_doc_replace(d, cases[i].start, cases[i].end, cases[i].ins,
                                     strlen(cases[i].ins));
            ASSERT_MSG(rc == cases[i].rc, "%s: rc %d", cases[i].name, rc);
            expect_text(d, cases[i].after, strlen(cases[i].after));
            ASSERT_MSG(ctx_doc_line_count(d) == cases[i].lines, "%s: %u lines", cases[i].name,
                       ctx_doc_line_count(d));
            ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
            expect_check(d, CTX_CHECK_FRESH_IF_VALID, cases[i].name);
            ctx_doc_delete(d);
        }
    }
}

TEST(ctx_doc_lines)
{
    const char *t = "ab\r\n\rc\n\xc3\xa9\r";
    ctx_doc *d;
    ASSERT_EQ(ctx_doc_new(NULL, CTX_LANG_NONE, t, strlen(t), 7, &d), 0);
    ASSERT_STR_EQ(ctx_doc_uri(d), "");
    ASSERT_EQ(ctx_doc_version(d), 7);
    ctx_doc_set_version(d, 9);
    ASSERT_EQ(ctx_doc_version(d), 9);
    ASSERT_EQ(ctx_doc_lang(d), CTX_LANG_NONE);
    ASSERT_EQ(ctx_doc_parsed(d), 1);
    ASSERT(ctx_doc_sexp(d) == NULL);
    static const struct line_want want[] = {{0, 2}, {4, 0}, {5, 1}, {7, 2}, {10, 0}};
    ASSERT_EQ(ctx_doc_line_count(d), SK_ARRAY_LEN(want));
    for (uint32_t i = 0; i < SK_ARRAY_LEN(want); i++) {
        size_t s, n;
        ASSERT_EQ(ctx_doc_line(d, i, &s, &n), 0);
        ASSERT_EQ(s, want[i].start);
        ASSERT_EQ(n, want[i].len);
    }
    ASSERT_EQ(ctx_doc_line(d, 5, NULL, NULL), -EINVAL);
    ASSERT_EQ(ctx_doc_line(d, UINT32_MAX, NULL, NULL), -EINVAL);
    /* Offsets inside a terminator belong to the line it ends. */
    static const struct {
        size_t off;
        uint32_t line;
        size_t col;
    } of[] = {{0, 0, 0}, {2, 0, 2}, {3, 0, 3}, {4, 1, 0}, {5, 2, 0}, {9, 3, 2}, {10, 4, 0}};
    for (size_t i = 0; i < SK_ARRAY_LEN(of); i++) {
        uint32_t line;
        size_t col;
        ASSERT_EQ(ctx_doc_line_of(d, of[i].off, &line, &col), 0);
        ASSERT_EQ(line, of[i].line);
        ASSERT_EQ(col, of[i].col);
    }
    ASSERT_EQ(ctx_doc_line_of(d, 11, NULL, NULL), -EINVAL);
    /* Windows across the gap. */
    ASSERT_EQ(ctx_doc_replace(d, 5, 5, "XY", 2), 0);
    ASSERT_MEM_EQ(ctx_doc_bytes(d, 4, 9), "\rXYc\n", 5);
    ASSERT_MEM_EQ(ctx_doc_bytes(d, 0, 3), "ab\r", 3);
    ASSERT_EQ(ctx_doc_replace(d, 1, 1, "Q", 1), 0);
    ASSERT_MEM_EQ(ctx_doc_bytes(d, 0, 99), "aQb\r\n\rXYc\n\xc3\xa9\r", 13);
    ASSERT_MEM_EQ(ctx_doc_bytes(d, 99, 5), "", 0);
    expect_check(d, CTX_CHECK_FRESH_IF_VALID, "lines");
    ctx_doc_delete(d);
}

TEST(ctx_doc_bad_args)
{
    ctx_doc *d = (ctx_doc *)1;
    ASSERT_EQ(ctx_doc_new("u", CTX_LANG_C, NULL, 3, 1, &d), -EINVAL);
    ASSERT(d == NULL);
    ASSERT_EQ(ctx_doc_new("u", (enum ctx_lang)77, "x", 1, 1, &d), -EINVAL);
    ASSERT_EQ(ctx_doc_new("u", CTX_LANG_C, "x", CTX_DOC_MAX_BYTES + 1, 1, &d), -EFBIG);
    ASSERT_EQ(ctx_doc_new("u", CTX_LANG_C, NULL, 0, 1, &d), 0);
    ASSERT_EQ(ctx_doc_replace(d, 0, 0, NULL, 1), -EINVAL);
    ASSERT_EQ(ctx_doc_replace(d, 0, 0, "x", CTX_DOC_MAX_BYTES + 1), -EFBIG);
    ASSERT_EQ(ctx_doc_set_text(d, NULL, 2), -EINVAL);
    ASSERT_EQ(ctx_doc_set_text(d, "x", CTX_DOC_MAX_BYTES + 1), -EFBIG);
    expect_text(d, "", 0);
    ASSERT_EQ(ctx_doc_line_count(d), 1);
    ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
    char *s = ctx_doc_sexp(d);
    ASSERT_STR_EQ(s, "(translation_unit)");
    sk_free(s);
    ctx_doc_delete(d);
    ctx_doc_delete(NULL);
    ASSERT(ctx_sexp_fresh(CTX_LANG_NONE, "x", 1) == NULL);
}

/* Random edits on text made of line-terminator-heavy pieces; the line index, the lone-CR count and
 * the text are checked against a rebuild after every edit. */
TEST(ctx_doc_line_index_random)
{
    static const char *pieces[] = {"\n", "\r", "\r\n", "a", "bc", "\xc3\xa9", "\n\n", "\r\r", "xyz\n"};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    struct ref r = {malloc(1), 0};
    ctx_doc *d;
    ASSERT_EQ(ctx_doc_new("x", CTX_LANG_NONE, "", 0, 0, &d), 0);
    for (int step = 0; step < 20000; step++) {
        size_t len = r.len;
        size_t s = len ? rng_next(&seed) % (len + 1) : 0;
        /* Local edits mostly (as typing), sometimes a jump, sometimes a long delete. */
        size_t e = s + rng_next(&seed) % 3;
        if (rng_next(&seed) % 50 == 0)
            e = s + rng_next(&seed) % 200;
        char ins[64];
        size_t n = 0;
        int np = (int)(rng_next(&seed) % 4);
        for (int i = 0; i < np; i++) {
            const char *p = pieces[rng_next(&seed) % SK_ARRAY_LEN(pieces)];
            memcpy(ins + n, p, strlen(p));
            n += strlen(p);
        }
        ASSERT_EQ(ctx_doc_replace(d, s, e, ins, n), 0);
        ref_replace(&r, s, e, ins, n);
        if (step % 7 == 0 || r.len < 8) {
            expect_text(d, r.p, r.len);
            expect_check(d, CTX_CHECK_FRESH_IF_VALID, "line index");
        }
    }
    expect_check(d, CTX_CHECK_FRESH_IF_VALID, "line index");
    ctx_doc_delete(d);
    free(r.p);
}

/* ---- incremental vs fresh parses ----------------------------------------------------------- */
struct undo {
    size_t start, ins_len, del_len;
    char *del; /* the removed bytes */
};

/* Undoes the logged edits newest first, then the document must be the sample again and its tree
 * exactly a fresh parse (tree-sitter's own test of incremental parsing). */
static void undo_all(ctx_doc *d, struct ref *r, struct undo *log, int *nlog,
                     const struct ctx_sample *smp, const char *fresh_sexp)
{
    for (int i = *nlog - 1; i >= 0; i--) {
        ASSERT_EQ(ctx_doc_replace(d, log[i].start, log[i].start + log[i].ins_len, log[i].del,
                                  log[i].del_len),
                  0);
        ref_replace(r, log[i].start, log[i].start + log[i].ins_len, log[i].del, log[i].del_len);
        free(log[i].del);
        if (i % 3 == 0) /* reparse part way too, so undo runs on intermediate trees */
            ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
    }
    *nlog = 0;
    expect_text(d, smp->text, strlen(smp->text));
    ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
    expect_check(d, CTX_CHECK_FRESH, "after undo");
    char *a = ctx_doc_sexp(d);
    ASSERT_STR_EQ(a, fresh_sexp);
    sk_free(a);
}

static void random_edits(const struct ctx_sample *smp, uint64_t seed, int steps, int hostile)
{
    struct ref r = {malloc(strlen(smp->text) + 1), strlen(smp->text)};
    memcpy(r.p, smp->text, r.len);
    ctx_doc *d;
    ASSERT_EQ(ctx_doc_new("file:///x", smp->lang, r.p, r.len, 1, &d), 0);
    ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
    expect_check(d, CTX_CHECK_FRESH, "initial");
    char *fresh_sexp = ctx_sexp_fresh(smp->lang, smp->text, strlen(smp->text));
    ASSERT(fresh_sexp && !strstr(fresh_sexp, "ERROR") && !strstr(fresh_sexp, "MISSING"));
    size_t ntok = 0;
    while (smp->tokens[ntok])
        ntok++;
    enum { ROUND = 25 };
    struct undo log[ROUND];
    int nlog = 0;
    for (int step = 0; step < steps; step++) {
        size_t s = r.len ? rng_next(&seed) % (r.len + 1) : 0;
        size_t e = s;
        unsigned kind = (unsigned)(rng_next(&seed) % 10);
        char ins[256];
        size_t n = 0;
        if (kind < 3) { /* typing one character */
            const char *tok = smp->tokens[rng_next(&seed) % ntok];
            ins[n++] = tok[0];
        } else if (kind < 5) { /* backspace */
            e = s + 1;
        } else if (kind < 7) { /* paste a snippet */
            const char *tok = smp->tokens[rng_next(&seed) % ntok];
            n = strlen(tok);
            memcpy(ins, tok, n);
            e = s + rng_next(&seed) % 4;
        } else if (kind < 8) { /* a piece of the document itself, elsewhere */
            size_t a = r.len ? rng_next(&seed) % r.len : 0;
            size_t want = rng_next(&seed) % 60; /* SK_MIN evaluates twice */
            n = SK_MIN(r.len - a, want);
            memcpy(ins, r.p + a, n);
        } else if (kind < 9) { /* multibyte, possibly cut */
            static const char *mb[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xe2", "\x80"};
            const char *m = mb[rng_next(&seed) % SK_ARRAY_LEN(mb)];
            n = strlen(m);
            memcpy(ins, m, n);
        } else if (hostile) { /* NUL, CR, invalid bytes, long deletes */
            static const char hb[] = {0, '\r', '\n', (char)0xff, (char)0xc0, '\\', '"'};
            ins[n++] = hb[rng_next(&seed) % sizeof hb];
            if (rng_next(&seed) % 4 == 0)
                e = s + rng_next(&seed) % 100;
        }
        if (e > r.len)
            e = r.len;
        log[nlog].start = s;
        log[nlog].ins_len = n;
        log[nlog].del_len = e - s;
        log[nlog].del = malloc(e - s + 1);
        memcpy(log[nlog].del, r.p + s, e - s);
        nlog++;
        ASSERT_EQ(ctx_doc_replace(d, s, e, ins, n), 0);
        ref_replace(&r, s, e, ins, n);
        ASSERT_EQ(ctx_doc_parsed(d), n == 0 && e == s); /* only a real change needs a parse */
        /* The edited tree, before the reparse, already has the new text's positions. */
        expect_check(d, CTX_CHECK_CONSISTENT, "edited tree");
        ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
        ASSERT_EQ(ctx_doc_parsed(d), 1);
        char err[1024];
        int rc = ctx_doc_check(d, CTX_CHECK_FRESH_IF_VALID, err, sizeof err);
        if (rc != 0) {
            fprintf(stderr, "lang %s step %d edit [%zu,%zu) +%zu bytes\n", ctx_lang_name(smp->lang),
                    step, s, e, n);
            fwrite(r.p, 1, r.len, stderr);
            ASSERT_MSG(0, "check %d: %s", rc, err);
        }
        if (nlog == ROUND)
            undo_all(d, &r, log, &nlog, smp, fresh_sexp);
    }
    undo_all(d, &r, log, &nlog, smp, fresh_sexp);
    sk_free(fresh_sexp);
    ctx_doc_delete(d);
    free(r.p);
}

TEST(ctx_doc_random_edits)
{
    for (size_t i = 0; i < SK_ARRAY_LEN(ctx_samples); i++)
        random_edits(&ctx_samples[i], 0x1234567 + i, 300, 0);
}

TEST(ctx_doc_random_edits_hostile)
{
    for (size_t i = 0; i < SK_ARRAY_LEN(ctx_samples); i++)
        random_edits(&ctx_samples[i], 0xabcdef + i * 31, 300, 1);
}

/* The text's two halves around the gap meet inside multibyte characters: the parse must read
 * them as a fresh parse of the contiguous text does. */
TEST(ctx_doc_gap_inside_utf8)
{
    static const struct {
        enum ctx_lang lang;
        const char *text;
    } cases[] = {
        {CTX_LANG_PYTHON, "x = '\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80'\n\xcf\x80 = 1\n"},
        {CTX_LANG_JAVASCRIPT, "let \xcf\x80\xc3\xa9 = '\xf0\x9f\x98\x80\xe2\x82\xac';\n"},
        {CTX_LANG_RUST, "fn f() { let s = \"\xe2\x82\xac\xf0\x9f\x98\x80\"; }\n"},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
        const char *t = cases[i].text;
        size_t n = strlen(t);
        ctx_doc *d;
        ASSERT_EQ(ctx_doc_new("u", cases[i].lang, t, n, 1, &d), 0);
        char *want = ctx_sexp_fresh(cases[i].lang, t, n);
        ASSERT(!strstr(want, "ERROR"));
        for (size_t s = 0; s < n; s++) {
            /* Rewrite one byte with itself: the gap ends up right after it. */
            ASSERT_EQ(ctx_doc_replace(d, s, s + 1, t + s, 1), 0);
            ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
            expect_check(d, CTX_CHECK_FRESH, "gap in UTF-8");
        }
        sk_free(want);
        ctx_doc_delete(d);
    }
}

TEST(ctx_doc_delete_everything_and_back)
{
    for (size_t i = 0; i < SK_ARRAY_LEN(ctx_samples); i++) {
        const struct ctx_sample *smp = &ctx_samples[i];
        size_t n = strlen(smp->text);
        ctx_doc *d;
        ASSERT_EQ(ctx_doc_new("u", smp->lang, smp->text, n, 1, &d), 0);
        char *before = ctx_doc_sexp(d);
        ASSERT(before != NULL);
        ASSERT_EQ(ctx_doc_replace(d, 0, SIZE_MAX, "", 0), 0);
        ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
        expect_check(d, CTX_CHECK_FRESH_IF_VALID, "emptied");
        ASSERT_EQ(ctx_doc_line_count(d), 1);
        ASSERT_EQ(ctx_doc_set_text(d, smp->text, n), 0);
        ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
        char *after = ctx_doc_sexp(d);
        ASSERT_STR_EQ(after, before);
        expect_check(d, CTX_CHECK_FRESH, "restored");
        sk_free(before);
        sk_free(after);
        ctx_doc_delete(d);
    }
}

/* Full sync: each new text is diffed into one edit; the result must be what a fresh parse
 * gives, whatever the overlap between the old and the new text. */
TEST(ctx_doc_set_text_diff)
{
    static const char *texts[] = {
        "int a;\n", "int ab;\n", "int b;\n", "", "int b;\n", "int a; int a;\n", "int a;\n",
        "x", "int a;\r\nint b;\r\n", "int a;\nint b;\n", "int a;\rint b;\r",
    };
    ctx_doc *d;
    ASSERT_EQ(ctx_doc_new("u", CTX_LANG_C, "", 0, 1, &d), 0);
    for (size_t i = 0; i < SK_ARRAY_LEN(texts); i++) {
        ASSERT_EQ(ctx_doc_set_text(d, texts[i], strlen(texts[i])), 0);
        expect_text(d, texts[i], strlen(texts[i]));
        ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
        expect_check(d, CTX_CHECK_FRESH_IF_VALID, texts[i]);
    }
    ctx_doc_delete(d);
}

/* ctx_doc_last_edit: where the last edit put its bytes; for a full-text replacement, the chunk
 * between the common prefix and suffix. */
TEST(ctx_doc_last_edit)
{
    ctx_doc *d;
    size_t a, b;
    const char *t0 = "def f():\n    return 1\n\n\ndef g():\n    return 2\n";
    ASSERT_EQ(ctx_doc_new("u", CTX_LANG_PYTHON, t0, strlen(t0), 1, &d), 0);
    ASSERT_EQ(ctx_doc_last_edit(d, &a, &b), -ENOENT);
    /* full sync: "return 2" -> "return 2 + x" */
    const char *t1 = "def f():\n    return 1\n\n\ndef g():\n    return 2 + x\n";
    ASSERT_EQ(ctx_doc_set_text(d, t1, strlen(t1)), 0);
    ASSERT_EQ(ctx_doc_last_edit(d, &a, &b), 0);
    ASSERT_EQ(a, strlen("def f():\n    return 1\n\n\ndef g():\n    return 2"));
    ASSERT_EQ(b, a + strlen(" + x"));
    /* the same text again changes nothing: the last edit stays */
    ASSERT_EQ(ctx_doc_set_text(d, t1, strlen(t1)), 0);
    size_t a2, b2;
    ASSERT_EQ(ctx_doc_last_edit(d, &a2, &b2), 0);
    ASSERT_EQ(a2, a);
    ASSERT_EQ(b2, b);
    /* a deletion in the first function: an empty range where the bytes were */
    const char *t2 = "def f():\n    return\n\n\ndef g():\n    return 2 + x\n";
    ASSERT_EQ(ctx_doc_set_text(d, t2, strlen(t2)), 0);
    ASSERT_EQ(ctx_doc_last_edit(d, &a, &b), 0);
    ASSERT_EQ(a, strlen("def f():\n    return"));
    ASSERT_EQ(b, a);
    /* a ranged replace */
    ASSERT_EQ(ctx_doc_replace(d, 0, 3, "async def", 9), 0);
    ASSERT_EQ(ctx_doc_last_edit(d, &a, &b), 0);
    ASSERT_EQ(a, 0);
    ASSERT_EQ(b, 9);
    ctx_doc_delete(d);
}

/* A single line of 256 KiB, edited in its middle. */
TEST(ctx_doc_huge_line)
{
    size_t n = 1 << 18;
    char *t = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        t[i] = "int a=1;"[i % 8];
    t[n] = 0;
    ctx_doc *d;
    ASSERT_EQ(ctx_doc_new("u", CTX_LANG_C, t, n, 1, &d), 0);
    ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
    ASSERT_EQ(ctx_doc_line_count(d), 1);
    uint64_t seed = 42;
    for (int i = 0; i < 20; i++) {
        size_t s = rng_next(&seed) % n;
        ASSERT_EQ(ctx_doc_replace(d, s, s + 1, i % 10 == 0 ? "\n" : ";", 1), 0);
        t[s] = i % 10 == 0 ? '\n' : ';';
        ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
    }
    expect_text(d, t, n);
    expect_check(d, CTX_CHECK_FRESH_IF_VALID, "huge line");
    ctx_doc_delete(d);
    free(t);
}

/* ---- parse bounds -------------------------------------------------------------------------- */
static char *gen_c(size_t lines, size_t *len)
{
    size_t cap = lines * 48 + 64, n = 0;
    char *t = malloc(cap);
    for (size_t i = 0; i < lines; i++)
        n += (size_t)snprintf(t + n, cap - n, "int f%zu(int x) { return x * %zu + 1; }\n", i, i);
    *len = n;
    return t;
}

TEST(ctx_doc_parse_timeout)
{
    size_t n;
    char *t = gen_c(30000, &n); /* about 1.2 MB: far beyond a 1 ms budget on any machine */
    ctx_doc *d;
    ASSERT_EQ(ctx_doc_new("u", CTX_LANG_C, "", 0, 1, &d), 0);
    ASSERT_EQ(ctx_doc_set_text(d, t, n), 0);
    ASSERT_EQ(ctx_doc_parse(d, 1000, NULL), -ETIMEDOUT);
    ASSERT_EQ(ctx_doc_parsed(d), 0);
    /* The previous (empty) tree is kept. */
    char *s = ctx_doc_sexp(d);
    ASSERT_STR_EQ(s, "(translation_unit)");
    sk_free(s);
    /* Resumed in bounded steps, it finishes. */
    int rc, steps = 0;
    while ((rc = ctx_doc_parse(d, 20000, NULL)) == -ETIMEDOUT)
        steps++;
    ASSERT_EQ(rc, 0);
    ASSERT_GT(steps, 0);
    expect_check(d, CTX_CHECK_FRESH, "resumed");

    /* Cancelled: the flag stops it; an edit in between makes the next call start over. */
    ASSERT_EQ(ctx_doc_replace(d, 0, 0, "int z;\n", 7), 0);
    volatile size_t flag = 1;
    ASSERT_EQ(ctx_doc_parse(d, 0, &flag), -ECANCELED);
    ASSERT_EQ(ctx_doc_replace(d, 3, 4, "q", 1), 0);
    flag = 0;
    ASSERT_EQ(ctx_doc_parse(d, 0, &flag), 0);
    expect_check(d, CTX_CHECK_FRESH_IF_VALID, "after cancel");

    /* Timed out, edited, then parsed without a limit. */
    ASSERT_EQ(ctx_doc_set_text(d, "", 0), 0);
    ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
    ASSERT_EQ(ctx_doc_set_text(d, t, n), 0);
    ASSERT_EQ(ctx_doc_parse(d, 1000, NULL), -ETIMEDOUT);
    ASSERT_EQ(ctx_doc_replace(d, n / 2, n / 2, "{", 1), 0);
    ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
    expect_check(d, CTX_CHECK_FRESH_IF_VALID, "after timeout and edit");
    ctx_doc_delete(d);
    free(t);
}

/* ---- memory -------------------------------------------------------------------------------- */
TEST(ctx_doc_memory_returns_to_baseline)
{
    /* Warm up once: the first tree-sitter call installs the allocator hook. */
    char *w = ctx_sexp_fresh(CTX_LANG_C, "int a;", 6);
    sk_free(w);
    size_t base_bytes = sk_alloc_live_bytes(), base_blocks = sk_alloc_live_blocks();
    for (size_t i = 0; i < SK_ARRAY_LEN(ctx_samples); i++) {
        const struct ctx_sample *smp = &ctx_samples[i];
        ctx_doc *d;
        ASSERT_EQ(ctx_doc_new("u", smp->lang, smp->text, strlen(smp->text), 1, &d), 0);
        ASSERT_GT(sk_alloc_live_bytes(), base_bytes + strlen(smp->text));
        for (int k = 0; k < 20; k++) {
            ASSERT_EQ(ctx_doc_replace(d, (size_t)k * 3, (size_t)k * 3 + 1, "{\n", 2), 0);
            ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
        }
        char *s = ctx_doc_sexp(d);
        sk_free(s);
        /* A parse stopped half way holds parser state: it must be released too.  (tree-sitter
         * looks at the flag every hundred or so steps: give it a text long enough.) */
        volatile size_t flag = 1;
        size_t n;
        char *t = gen_c(2000, &n);
        ASSERT_EQ(ctx_doc_replace(d, 0, 0, t, n), 0);
        free(t);
        ASSERT_EQ(ctx_doc_parse(d, 0, &flag), -ECANCELED);
        ctx_doc_delete(d);
        ASSERT_EQ(sk_alloc_live_bytes(), base_bytes);
        ASSERT_EQ(sk_alloc_live_blocks(), base_blocks);
    }
}

TEST(ctx_doc_alloc_failures)
{
    char *w = ctx_sexp_fresh(CTX_LANG_C, "int a;", 6);
    sk_free(w);
    size_t base = sk_alloc_live_bytes();
    /* Creation (no tree-sitter for NONE): every failure point gives -ENOMEM and leaks nothing. */
    int ok = 0;
    for (long n = 0; n < 20 && !ok; n++) {
        ctx_doc *d;
        sk_alloc_fail_after(n);
        int rc = ctx_doc_new("u", CTX_LANG_NONE, "a\nb\n", 4, 1, &d);
        sk_alloc_fail_after(-1);
        if (rc == 0) {
            ok = 1;
            ctx_doc_delete(d);
        } else {
            ASSERT_EQ(rc, -ENOMEM);
        }
        ASSERT_EQ(sk_alloc_live_bytes(), base);
    }
    ASSERT(ok);
    /* An edit that needs memory fails whole, on a parsed document too (our allocations come
     * before tree-sitter's). */
    for (int lang = CTX_LANG_NONE; lang <= CTX_LANG_C; lang++) {
        ctx_doc *d;
        ASSERT_EQ(ctx_doc_new("u", (enum ctx_lang)lang, "int a;\n", 7, 1, &d), 0);
        size_t big = 100000;
        char *ins = malloc(big);
        memset(ins, '\n', big);
        sk_alloc_fail_after(0);
        ASSERT_EQ(ctx_doc_replace(d, 3, 4, ins, big), -ENOMEM);
        sk_alloc_fail_after(-1);
        expect_text(d, "int a;\n", 7);
        ASSERT_EQ(ctx_doc_parsed(d), 1);
        expect_check(d, CTX_CHECK_FRESH_IF_VALID, "after failed edit");
        ASSERT_EQ(ctx_doc_replace(d, 3, 4, ins, big), 0);
        ASSERT_EQ(ctx_doc_line_count(d), big + 2);
        ASSERT_EQ(ctx_doc_parse(d, 0, NULL), 0);
        expect_check(d, CTX_CHECK_FRESH_IF_VALID, "after edit");
        free(ins);
        ctx_doc_delete(d);
    }
}
