/*
 * Fuzz target for context/ documents.  The input drives a sequence of edits on one document:
 *   byte 0: language (mod CTX_LANG__COUNT) and, in the high bits, which sample text to start
 *           from (tests/context/samples.h) or an empty document;
 *   then operations, each an opcode byte followed by its operands:
 *     0 insert   pos:u16 n:u8 bytes[n]        1 delete  pos:u16 n:u8
 *     2 replace  pos:u16 del:u8 n:u8 bytes[n] 3 set_text (full sync) of the model text with
 *                                               bytes[n] spliced in at pos: pos:u16 n:u8 bytes
 *     4 parse with a cancellation flag already set (0 or -ECANCELED, then the tree must still
 *       have consistent positions)           5 parse, then check positions (CTX_CHECK_CONSISTENT)
 *     6 reads: line i, line_of, bytes of a range, all compared with the model
 *     7 undo the last edit
 *   Positions are taken modulo the current length + 1 (so they hit the text) except with the
 *   top bit of the opcode set, when the raw value is used (past the end: clamping paths).
 * The text is compared with a plain-buffer model after every operation; every 8 operations and
 * at the end the document is parsed and compared with a fresh parse when that has no syntax
 * error; at the end all edits are undone, and when the start text parses without error the tree
 * must then equal a fresh parse exactly.  Live allocator bytes must return to the baseline.
 */
#include "base.h"
#include "context/context.h"
#include "../context/samples.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TEXT 65536
#define MAX_OPS 300
#define MAX_UNDO 64

struct undo {
    size_t start, ins_len, del_len;
    char *del;
};

struct model {
    char *p;
    size_t len;
};

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_docs: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void model_replace(struct model *m, size_t s, size_t e, const char *t, size_t n)
{
    if (e > m->len)
        e = m->len;
    if (s > e)
        s = e;
    char *np = malloc(m->len - (e - s) + n + 1);
    memcpy(np, m->p, s);
    if (n)
        memcpy(np + s, t, n);
    memcpy(np + s + n, m->p + e, m->len - e);
    m->len = m->len - (e - s) + n;
    free(m->p);
    m->p = np;
}

static void same_text(const ctx_doc *d, const struct model *m)
{
    size_t len;
    const char *t = ctx_doc_text(d, &len);
    if (len != m->len || memcmp(t, m->p, len) != 0 || t[len] != 0)
        die("text differs from the model", NULL);
}

static void check(const ctx_doc *d, enum ctx_check mode)
{
    char err[512];
    int rc = ctx_doc_check(d, mode, err, sizeof err);
    if (rc != 0 && rc != -EAGAIN)
        die("check failed", err);
}

struct reader {
    const uint8_t *p;
    size_t n;
};

static unsigned get8(struct reader *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static unsigned get16(struct reader *r) { return get8(r) | get8(r) << 8; }

static const char *getbytes(struct reader *r, size_t *n)
{
    if (*n > r->n)
        *n = r->n;
    const char *p = (const char *)r->p;
    r->p += *n;
    r->n -= *n;
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct reader rd = {data, size};
    unsigned head = get8(&rd);
    enum ctx_lang lang = (enum ctx_lang)(head % CTX_LANG__COUNT);
    unsigned which = head / CTX_LANG__COUNT;
    const char *start = "";
    if (which < SK_ARRAY_LEN(ctx_samples))
        start = ctx_samples[which].text;
    /* The first document makes tree-sitter install its allocator hook; measure after that. */
    static int warmed;
    if (!warmed) {
        char *w = ctx_sexp_fresh(CTX_LANG_C, "int a;", 6);
        sk_free(w);
        warmed = 1;
    }
    size_t base = sk_alloc_live_bytes();

    struct model m = {malloc(strlen(start) + 1), strlen(start)};
    memcpy(m.p, start, m.len);
    ctx_doc *d;
    if (ctx_doc_new("file:///fuzz", lang, m.p, m.len, 1, &d) != 0)
        die("ctx_doc_new failed", NULL);
    if (ctx_doc_parse(d, 0, NULL) != 0)
        die("first parse failed", NULL);
    char *start_sexp = ctx_doc_sexp(d);
    int start_valid = !ctx_doc_has_error(d);
    struct undo log[MAX_UNDO];
    int nlog = 0, ops = 0;

    while (rd.n && ops++ < MAX_OPS) {
        unsigned op = get8(&rd);
        int raw = op & 0x80;
        size_t pos = get16(&rd);
        if (!raw)
            pos %= m.len + 1;
        size_t s = pos, e = pos, n = 0;
        const char *ins = "";
        switch (op & 7) {
        case 0:
            n = get8(&rd);
            ins = getbytes(&rd, &n);
            break;
        case 1:
            e = s + get8(&rd);
            break;
        case 2:
            e = s + get8(&rd);
            n = get8(&rd);
            ins = getbytes(&rd, &n);
            break;
        case 3: {
            n = get8(&rd);
            ins = getbytes(&rd, &n);
            if (m.len + n > MAX_TEXT)
                break;
            struct model nm = {malloc(m.len + 1), m.len};
            memcpy(nm.p, m.p, m.len);
            model_replace(&nm, s, s, ins, n);
            if (ctx_doc_set_text(d, nm.p, nm.len) != 0)
                die("set_text failed", NULL);
            free(m.p);
            m = nm;
            /* A full sync is not undoable here: forget the log. */
            for (int i = 0; i < nlog; i++)
                free(log[i].del);
            nlog = 0;
            start_valid = 0;
            same_text(d, &m);
            continue;
        }
        case 4: {
            volatile size_t flag = 1;
            int rc = ctx_doc_parse(d, 0, &flag);
            if (rc != 0 && rc != -ECANCELED)
                die("cancelled parse returned something else", NULL);
            check(d, CTX_CHECK_CONSISTENT);
            continue;
        }
        case 5:
            if (ctx_doc_parse(d, 0, NULL) != 0)
                die("parse failed", NULL);
            check(d, CTX_CHECK_CONSISTENT);
            continue;
        case 6: {
            uint32_t i = (uint32_t)(pos % (ctx_doc_line_count(d) + 1));
            size_t ls, ll;
            int rc = ctx_doc_line(d, i, &ls, &ll);
            if ((rc == 0) != (i < ctx_doc_line_count(d)) || (rc == 0 && ls + ll > m.len))
                die("ctx_doc_line", NULL);
            uint32_t line;
            size_t col;
            size_t off = pos % (m.len + 2);
            rc = ctx_doc_line_of(d, off, &line, &col);
            if ((rc == 0) != (off <= m.len))
                die("ctx_doc_line_of range", NULL);
            if (rc == 0) {
                size_t s2;
                if (ctx_doc_line(d, line, &s2, NULL) != 0 || s2 + col != off)
                    die("ctx_doc_line_of", NULL);
            }
            size_t a = get16(&rd), b = get16(&rd);
            const char *w = ctx_doc_bytes(d, a, b);
            size_t ca = a < m.len ? a : m.len, cb = b < m.len ? b : m.len;
            if (ca < cb && memcmp(w, m.p + ca, cb - ca) != 0)
                die("ctx_doc_bytes", NULL);
            continue;
        }
        case 7:
            if (!nlog)
                continue;
            nlog--;
            s = log[nlog].start;
            e = s + log[nlog].ins_len;
            if (ctx_doc_replace(d, s, e, log[nlog].del, log[nlog].del_len) != 0)
                die("undo failed", NULL);
            model_replace(&m, s, e, log[nlog].del, log[nlog].del_len);
            free(log[nlog].del);
            same_text(d, &m);
            continue;
        }
        if (m.len + n > MAX_TEXT)
            continue;
        size_t cs = s < m.len ? s : m.len, ce = e < m.len ? e : m.len;
        if (nlog == MAX_UNDO) { /* keep the newest edits */
            free(log[0].del);
            memmove(log, log + 1, sizeof log[0] * (MAX_UNDO - 1));
            nlog--;
            start_valid = 0;
        }
        int rc = ctx_doc_replace(d, s, e, ins, n);
        if (rc != 0)
            die("replace failed", NULL);
        log[nlog].start = cs;
        log[nlog].ins_len = n;
        log[nlog].del_len = ce - cs;
        log[nlog].del = malloc(ce - cs + 1);
        memcpy(log[nlog].del, m.p + cs, ce - cs);
        nlog++;
        model_replace(&m, s, e, ins, n);
        same_text(d, &m);
        check(d, CTX_CHECK_CONSISTENT); /* the edited tree, before any reparse */
        if (ops % 8 == 0) {
            if (ctx_doc_parse(d, 0, NULL) != 0)
                die("parse failed", NULL);
            check(d, CTX_CHECK_FRESH_IF_VALID);
        }
    }
    if (ctx_doc_parse(d, 0, NULL) != 0)
        die("final parse failed", NULL);
    check(d, CTX_CHECK_FRESH_IF_VALID);
    /* Undo everything: back to the start text, and to its tree when it was valid. */
    while (nlog > 0) {
        nlog--;
        size_t s = log[nlog].start, e = s + log[nlog].ins_len;
        if (ctx_doc_replace(d, s, e, log[nlog].del, log[nlog].del_len) != 0)
            die("undo failed", NULL);
        model_replace(&m, s, e, log[nlog].del, log[nlog].del_len);
        free(log[nlog].del);
        if (nlog % 4 == 0 && ctx_doc_parse(d, 0, NULL) != 0)
            die("parse failed", NULL);
    }
    same_text(d, &m);
    if (ctx_doc_parse(d, 0, NULL) != 0)
        die("parse failed", NULL);
    if (start_valid) {
        if (m.len != strlen(start) || memcmp(m.p, start, m.len) != 0)
            die("undo did not restore the start text", NULL);
        check(d, CTX_CHECK_FRESH);
        char *now = ctx_doc_sexp(d);
        if ((now == NULL) != (start_sexp == NULL) || (now && strcmp(now, start_sexp) != 0))
            die("tree after undo differs from the start tree", NULL);
        sk_free(now);
    }
    sk_free(start_sexp);
    ctx_doc_delete(d);
    free(m.p);
    if (sk_alloc_live_bytes() != base)
        die("live bytes did not return to the baseline", NULL);
    return 0;
}
