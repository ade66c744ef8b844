/*
 * Open documents: text, line index and an incrementally maintained tree-sitter tree.
 *
 * Workload: documents from a few bytes to a few MB, edited one keystroke at a time (didChange),
 * each edit followed by a reparse; the whole text is read only when a prompt is built.  So an
 * edit must cost O(size of the edit + distance from the previous edit), not O(document):
 *
 *  - The text lives in a gap buffer.  An edit moves the gap to the edit (memmove of the bytes in
 *    between, nothing when typing) and fills it.  tree-sitter reads the two halves through a
 *    TSInput callback, so parsing never closes the gap.  ctx_doc_text moves the gap to the end
 *    (one memmove of the bytes after it) to hand out a contiguous, NUL-terminated string.
 *
 *  - The line index is an array of line-start offsets with a lazy shift: entries from pend_idx
 *    on are stored without the last edits' length change, which is kept in pend_delta.  An edit
 *    on the same line as the previous one touches no entry; an edit elsewhere settles only the
 *    entries between the two.  A line count change costs one memmove of the array tail.
 *
 *  - tree-sitter counts rows at '\n' only, LSP lines also end at a lone '\r'.  While the text has
 *    no lone CR (counted incrementally) both agree and edit points come from the line index;
 *    otherwise the start point is found by scanning the text before the edit (rare files).
 *
 * Offsets are uint32 inside (tree-sitter's own limit); documents are capped at CTX_DOC_MAX_BYTES.
 */
#include "ctx_int.h"

#include "base.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Bounds the parse inside ctx_doc_new so opening a huge file cannot stall the caller; a document
 * not parsed by then is left for ctx_doc_parse. */
#define NEW_PARSE_TIMEOUT_US 200000u
#define MIN_GAP 64u

struct ctx_doc {
    char *uri;
    enum ctx_lang lang;
    int64_t version;

    /* Text: buf[0, gap_start) ++ buf[gap_end, cap).  The gap is never empty, so the text can
     * always be closed into a NUL-terminated string. */
    char *buf;
    size_t cap, gap_start, gap_end;

    /* Line starts: the true start of line i is ls[i] (+ pend_delta when i >= pend_idx), in
     * uint32 arithmetic modulo 2^32. */
    uint32_t *ls;
    uint32_t nl, ls_cap, pend_idx, pend_delta;
    size_t lone_cr; /* positions p with text[p] == '\r' and text[p+1] != '\n' */

    TSParser *parser; /* NULL for CTX_LANG_NONE */
    TSTree *tree;     /* NULL until the first successful parse */
    int parsed;       /* tree matches the text */
    int paused;       /* the parser holds a parse stopped by timeout or cancellation */
    int paused_stale; /* ... and the text changed since, so it must start over */

    char scratch[64]; /* parse input across the gap */

    /* The last edit's bytes in the current text: [edit_start, edit_end) (ctx_doc_last_edit) */
    size_t edit_start, edit_end;
    int has_edit;
};

/* ---- text ---------------------------------------------------------------------------------- */
static size_t gap_len(const ctx_doc *d) { return d->gap_end - d->gap_start; }
static size_t text_len(const ctx_doc *d) { return d->cap - gap_len(d); }

static unsigned char byte_at(const ctx_doc *d, size_t p)
{
    assert(p < text_len(d));
    return (unsigned char)(p < d->gap_start ? d->buf[p] : d->buf[p + gap_len(d)]);
}

/* byte_at, with 0 at and past the end (a line start at the very end needs text[len]). */
static unsigned char byte_or0(const ctx_doc *d, size_t p)
{
    return p < text_len(d) ? byte_at(d, p) : 0;
}

static void move_gap(ctx_doc *d, size_t p)
{
    if (p < d->gap_start) {
        size_t n = d->gap_start - p;
        memmove(d->buf + d->gap_end - n, d->buf + p, n);
        d->gap_start = p;
        d->gap_end -= n;
    } else if (p > d->gap_start) {
        size_t n = p - d->gap_start;
        memmove(d->buf + d->gap_start, d->buf + d->gap_end, n);
        d->gap_start += n;
        d->gap_end += n;
    }
}

/* Makes the gap at least `need` bytes.  Returns 0 or -ENOMEM (text unchanged). */
static int reserve_gap(ctx_doc *d, size_t need)
{
    if (gap_len(d) >= need)
        return 0;
    size_t len = text_len(d), tail = d->cap - d->gap_end;
    size_t cap = d->cap * 2;
    if (cap < len + need + MIN_GAP)
        cap = len + need + MIN_GAP;
    char *nb = sk_realloc(d->buf, cap);
    if (!nb)
        return -ENOMEM;
    memmove(nb + cap - tail, nb + d->gap_end, tail);
    d->buf = nb;
    d->gap_end = cap - tail;
    d->cap = cap;
    return 0;
}

/* After large deletions: gives memory back when the buffer is mostly gap. */
static void maybe_shrink(ctx_doc *d)
{
    size_t len = text_len(d);
    if (d->cap <= 65536 || d->cap / 4 <= len)
        return;
    size_t cap = len * 2 + MIN_GAP;
    move_gap(d, len);
    char *nb = sk_realloc(d->buf, cap);
    if (!nb) /* only under failure injection: keep the larger buffer */
        return;
    d->buf = nb;
    d->cap = cap;
    d->gap_end = cap;
}

static size_t count_lone_cr(const ctx_doc *d, size_t a, size_t b)
{
    size_t n = 0;
    for (size_t p = a; p < b; p++)
        if (byte_at(d, p) == '\r' && byte_or0(d, p + 1) != '\n')
            n++;
    return n;
}

/* ---- line index ---------------------------------------------------------------------------- */
static uint32_t ls_get(const ctx_doc *d, uint32_t i)
{
    return i >= d->pend_idx ? d->ls[i] + d->pend_delta : d->ls[i];
}

/* First index whose line start is >= x (nl when none). */
static uint32_t ls_lower(const ctx_doc *d, uint32_t x)
{
    uint32_t lo = 0, hi = d->nl;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ls_get(d, mid) < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First index whose line start is > x (nl when none). */
static uint32_t ls_upper(const ctx_doc *d, uint32_t x)
{
    uint32_t lo = 0, hi = d->nl;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ls_get(d, mid) <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int is_line_start(unsigned char prev, unsigned char cur)
{
    return prev == '\n' || (prev == '\r' && cur != '\n');
}

static int ls_reserve(ctx_doc *d, size_t n)
{
    if (n <= d->ls_cap)
        return 0;
    size_t cap = (size_t)d->ls_cap * 2;
    if (cap < n)
        cap = n;
    if (cap < 16)
        cap = 16;
    if (cap > UINT32_MAX)
        return -EFBIG;
    uint32_t *nls = sk_realloc(d->ls, cap * sizeof *nls);
    if (!nls)
        return -ENOMEM;
    d->ls = nls;
    d->ls_cap = (uint32_t)cap;
    return 0;
}

/* Builds the whole index from the text (creation only). */
static int ls_build(ctx_doc *d, const char *t, size_t len)
{
    size_t n = 1;
    for (size_t p = 1; p <= len; p++)
        if (is_line_start((unsigned char)t[p - 1], p < len ? (unsigned char)t[p] : 0))
            n++;
    int rc = ls_reserve(d, n);
    if (rc)
        return rc;
    d->ls[0] = 0;
    d->nl = 1;
    for (size_t p = 1; p <= len; p++)
        if (is_line_start((unsigned char)t[p - 1], p < len ? (unsigned char)t[p] : 0))
            d->ls[d->nl++] = (uint32_t)p;
    d->pend_idx = d->nl;
    d->pend_delta = 0;
    return 0;
}

/* ---- tree-sitter points -------------------------------------------------------------------- */
static TSPoint point_advance(TSPoint pt, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n') {
            pt.row++;
            pt.column = 0;
        } else {
            pt.column++;
        }
    }
    return pt;
}

static TSPoint point_advance_doc(const ctx_doc *d, TSPoint pt, size_t a, size_t b)
{
    if (a < d->gap_start) {
        size_t e = b < d->gap_start ? b : d->gap_start;
        pt = point_advance(pt, d->buf + a, e - a);
        a = e;
    }
    if (a < b)
        pt = point_advance(pt, d->buf + a + gap_len(d), b - a);
    return pt;
}

/* tree-sitter's point (row counted at '\n', column in bytes) of offset p. */
static TSPoint point_at(const ctx_doc *d, size_t p)
{
    if (d->lone_cr == 0) {
        uint32_t row = ls_upper(d, (uint32_t)p) - 1;
        return (TSPoint){row, (uint32_t)(p - ls_get(d, row))};
    }
    return point_advance_doc(d, (TSPoint){0, 0}, 0, p);
}

/* ---- parse input --------------------------------------------------------------------------- */
static const char *read_input(void *payload, uint32_t byte, TSPoint pos, uint32_t *n)
{
    (void)pos;
    ctx_doc *d = payload;
    size_t len = text_len(d);
    if (byte >= len) {
        *n = 0;
        return "";
    }
    if (byte < d->gap_start) {
        size_t rem = d->gap_start - byte;
        /* tree-sitter retries a UTF-8 sequence cut at a chunk's end by reading again at the
         * sequence's start, so hand out a copy across the gap when the half ends within 4 bytes;
         * otherwise it would lex a decode error the fresh parse does not see. */
        if (rem < 4 && d->gap_end < d->cap) {
            size_t m = len - byte;
            if (m > sizeof d->scratch)
                m = sizeof d->scratch;
            memcpy(d->scratch, d->buf + byte, rem);
            memcpy(d->scratch + rem, d->buf + d->gap_end, m - rem);
            *n = (uint32_t)m;
            return d->scratch;
        }
        *n = (uint32_t)rem;
        return d->buf + byte;
    }
    *n = (uint32_t)(len - byte);
    return d->buf + byte + gap_len(d);
}

/* ---- public -------------------------------------------------------------------------------- */
int ctx_doc_new(const char *uri, enum ctx_lang lang, const char *text, size_t len,
                int64_t version, ctx_doc **out)
{
    int rc = -ENOMEM;
    *out = NULL;
    if ((unsigned)lang >= CTX_LANG__COUNT || (len && !text))
        return -EINVAL;
    if (len > CTX_DOC_MAX_BYTES)
        return -EFBIG;
    ctx_doc *d = sk_calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->lang = lang;
    d->version = version;
    d->uri = sk_strdup(uri ? uri : "");
    if (!d->uri)
        goto fail;
    d->cap = len + MIN_GAP;
    d->buf = sk_malloc(d->cap);
    if (!d->buf)
        goto fail;
    if (len)
        memcpy(d->buf, text, len);
    d->gap_start = len;
    d->gap_end = d->cap;
    rc = ls_build(d, text ? text : "", len);
    if (rc)
        goto fail;
    d->lone_cr = count_lone_cr(d, 0, len);
    /* tree-sitter last: it cannot fail softly (see ctx__ts_init). */
    d->parser = ctx__parser_new(lang);
    if (!d->parser)
        d->lang = CTX_LANG_NONE;
    d->parsed = d->parser == NULL;
    ctx_doc_parse(d, NEW_PARSE_TIMEOUT_US, NULL);
    *out = d;
    return 0;
fail:
    ctx_doc_delete(d);
    return rc;
}

void ctx_doc_delete(ctx_doc *doc)
{
    if (!doc)
        return;
    if (doc->tree)
        ts_tree_delete(doc->tree);
    if (doc->parser)
        ts_parser_delete(doc->parser);
    sk_free(doc->ls);
    sk_free(doc->buf);
    sk_free(doc->uri);
    sk_free(doc);
    /* Trees this document replaced may still be queued for the deleter: when this returns,
     * everything the document held is freed (tests compare live bytes right after). */
    ctx_flush();
}

const char *ctx_doc_uri(const ctx_doc *doc) { return doc->uri; }
enum ctx_lang ctx_doc_lang(const ctx_doc *doc) { return doc->lang; }
int64_t ctx_doc_version(const ctx_doc *doc) { return doc->version; }
void ctx_doc_set_version(ctx_doc *doc, int64_t version) { doc->version = version; }
size_t ctx_doc_len(const ctx_doc *doc) { return text_len(doc); }

const char *ctx_doc_text(const ctx_doc *doc, size_t *len)
{
    /* Logically const: only the gap moves. */
    ctx_doc *d = (ctx_doc *)doc;
    size_t n = text_len(d);
    move_gap(d, n);
    d->buf[n] = 0;
    if (len)
        *len = n;
    return d->buf;
}

const char *ctx_doc_bytes(const ctx_doc *doc, size_t start, size_t end)
{
    ctx_doc *d = (ctx_doc *)doc;
    size_t n = text_len(d);
    if (end > n)
        end = n;
    if (start > end)
        start = end;
    /* Move the gap out of [start, end) by the shorter way. */
    if (d->gap_start > start && d->gap_start < end) {
        if (d->gap_start - start <= end - d->gap_start)
            move_gap(d, start);
        else
            move_gap(d, end);
    }
    return start < d->gap_start ? d->buf + start : d->buf + start + gap_len(d);
}

uint32_t ctx_doc_line_count(const ctx_doc *doc) { return doc->nl; }

int ctx_doc_line(const ctx_doc *doc, uint32_t i, size_t *start, size_t *len)
{
    if (i >= doc->nl)
        return -EINVAL;
    size_t s = ls_get(doc, i), e;
    if (i + 1 < doc->nl) {
        e = ls_get(doc, i + 1) - 1; /* the terminator's last byte */
        if (e > s && byte_at(doc, e) == '\n' && byte_at(doc, e - 1) == '\r')
            e--;
    } else {
        e = text_len(doc);
    }
    if (start)
        *start = s;
    if (len)
        *len = e - s;
    return 0;
}

int ctx_doc_line_of(const ctx_doc *doc, size_t offset, uint32_t *line, size_t *col)
{
    size_t n = text_len(doc);
    if (offset > n)
        return -EINVAL;
    uint32_t i = ls_upper(doc, (uint32_t)offset) - 1;
    if (line)
        *line = i;
    if (col)
        *col = offset - ls_get(doc, i);
    return 0;
}

int ctx_doc_replace(ctx_doc *doc, size_t start, size_t end, const char *text, size_t len)
{
    ctx_doc *d = doc;
    if (start > end || (len && !text))
        return -EINVAL;
    size_t old_len = text_len(d);
    if (end > old_len)
        end = old_len;
    if (start > end)
        start = end;
    size_t del = end - start;
    if (del == 0 && len == 0)
        return 0;
    size_t new_len = old_len - del + len;
    if (new_len > CTX_DOC_MAX_BYTES)
        return -EFBIG;

    /* Which line starts go and which come: old starts in [max(start,1), end] depend on bytes
     * that change; so do new starts in [max(start,1), start+len].  Count the new ones on a
     * virtual view of the new text so every allocation happens before anything changes. */
    size_t lo = start ? start : 1;
    uint32_t i0 = ls_lower(d, (uint32_t)lo);
    uint32_t i1 = ls_upper(d, (uint32_t)end);
    if (i1 < i0)
        i1 = i0;
    size_t k = 0;
    {
        unsigned char prev = start ? byte_at(d, start - 1) : 0;
        for (size_t j = 0; j < len; j++) {
            unsigned char cur = (unsigned char)text[j];
            if (start + j >= 1 && is_line_start(prev, cur))
                k++;
            prev = cur;
        }
        if (start + len >= 1 && is_line_start(prev, byte_or0(d, end)))
            k++;
    }
    int rc = ls_reserve(d, (size_t)d->nl - (i1 - i0) + k);
    if (rc)
        return rc;
    rc = reserve_gap(d, len + 1);
    if (rc)
        return rc;

    /* The edit for tree-sitter, from the old text. */
    TSInputEdit edit = {0};
    if (d->tree) {
        edit.start_byte = (uint32_t)start;
        edit.old_end_byte = (uint32_t)end;
        edit.new_end_byte = (uint32_t)(start + len);
        edit.start_point = point_at(d, start);
        edit.old_end_point = point_advance_doc(d, edit.start_point, start, end);
        edit.new_end_point = point_advance(edit.start_point, text, len);
    }
    size_t cr_from = start ? start - 1 : 0;
    size_t lone_before = count_lone_cr(d, cr_from, end);

    /* The text. */
    move_gap(d, start);
    d->gap_end += del;
    if (len)
        memcpy(d->buf + d->gap_start, text, len);
    d->gap_start += len;
    d->lone_cr = d->lone_cr - lone_before + count_lone_cr(d, cr_from, start + len);

    /* The line index: settle the lazy shift so entries before i0 are exact and entries from i1
     * on carry one common pending delta, then splice. */
    uint32_t delta = (uint32_t)len - (uint32_t)del;
    if (d->pend_delta == 0) {
        d->pend_idx = i1;
    } else if (d->pend_idx < i0) {
        for (uint32_t i = d->pend_idx; i < i0; i++)
            d->ls[i] += d->pend_delta;
    } else if (d->pend_idx > i1) {
        for (uint32_t i = i1; i < d->pend_idx && i < d->nl; i++)
            d->ls[i] -= d->pend_delta;
    }
    if (k != i1 - i0)
        memmove(d->ls + i0 + k, d->ls + i1, (size_t)(d->nl - i1) * sizeof *d->ls);
    d->nl = (uint32_t)(d->nl - (i1 - i0) + k);
    uint32_t w = i0;
    for (size_t p = lo; p <= start + len; p++)
        if (is_line_start(byte_at(d, p - 1), byte_or0(d, p)))
            d->ls[w++] = (uint32_t)p;
    assert(w == i0 + k);
    d->pend_idx = w;
    d->pend_delta += delta;
    if (d->pend_idx >= d->nl)
        d->pend_delta = 0;

    if (d->tree)
        ts_tree_edit(d->tree, &edit);
    if (d->parser) {
        d->parsed = 0;
        if (d->paused)
            d->paused_stale = 1;
    }
    if (del > len)
        maybe_shrink(d);
    d->edit_start = start;
    d->edit_end = start + len;
    d->has_edit = 1;
    return 0;
}

int ctx_doc_last_edit(const ctx_doc *doc, size_t *start, size_t *end)
{
    if (!doc->has_edit)
        return -ENOENT;
    size_t n = text_len(doc);
    *start = doc->edit_start < n ? doc->edit_start : n;
    *end = doc->edit_end < n ? doc->edit_end : n;
    return 0;
}

int ctx_doc_set_text(ctx_doc *doc, const char *text, size_t len)
{
    if (len && !text)
        return -EINVAL;
    if (len > CTX_DOC_MAX_BYTES)
        return -EFBIG;
    /* Full sync sends the whole text on every keystroke: diff it against ours so the change is
     * one small edit and the reparse stays incremental. */
    size_t old_len;
    const char *old = ctx_doc_text(doc, &old_len);
    size_t pre = 0, max = old_len < len ? old_len : len;
    while (pre < max && old[pre] == text[pre])
        pre++;
    size_t suf = 0;
    while (suf < max - pre && old[old_len - 1 - suf] == text[len - 1 - suf])
        suf++;
    return ctx_doc_replace(doc, pre, old_len - suf, text ? text + pre : NULL, len - pre - suf);
}

int ctx_doc_parse(ctx_doc *doc, uint64_t timeout_us, const volatile size_t *cancel)
{
    if (!doc->parser || doc->parsed)
        return 0;
    if (doc->paused && doc->paused_stale) {
        ts_parser_reset(doc->parser);
        doc->paused = doc->paused_stale = 0;
    }
    ts_parser_set_timeout_micros(doc->parser, timeout_us);
    /* tree-sitter reads the flag with an atomic load; it never writes it. */
    ts_parser_set_cancellation_flag(doc->parser, (const size_t *)cancel);
    TSInput input = {doc, read_input, TSInputEncodingUTF8};
    TSTree *tree = ts_parser_parse(doc->parser, doc->tree, input);
    ts_parser_set_cancellation_flag(doc->parser, NULL);
    if (!tree) {
        doc->paused = 1;
        return cancel && *cancel ? -ECANCELED : -ETIMEDOUT;
    }
    /* The replaced tree can take milliseconds to free: not on this thread. */
    ctx__tree_release(doc->tree);
    doc->tree = tree;
    doc->parsed = 1;
    doc->paused = doc->paused_stale = 0;
    return 0;
}

int ctx_doc_parsed(const ctx_doc *doc) { return doc->parsed; }

int ctx_doc_has_error(const ctx_doc *doc)
{
    return doc->tree && ts_node_has_error(ts_tree_root_node(doc->tree));
}

char *ctx_doc_sexp(const ctx_doc *doc)
{
    if (!doc->tree)
        return NULL;
    /* ts_node_string allocates through the hook: the caller's sk_free matches. */
    return ts_node_string(ts_tree_root_node(doc->tree));
}

/* ---- self-check ---------------------------------------------------------------------------- */
static int check_fail(char *err, size_t errlen, const char *fmt, ...) SK_PRINTF(3, 4);
static int check_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EILSEQ;
}

static int same_point(TSPoint a, TSPoint b) { return a.row == b.row && a.column == b.column; }

static int compare_trees(const TSLanguage *lang, TSNode a, TSNode b, char *err, size_t errlen)
{
    TSTreeCursor ca = ts_tree_cursor_new(a), cb = ts_tree_cursor_new(b);
    int rc = 0;
    for (;;) {
        TSNode x = ts_tree_cursor_current_node(&ca), y = ts_tree_cursor_current_node(&cb);
        if (ts_node_symbol(x) != ts_node_symbol(y) || ts_node_is_missing(x) != ts_node_is_missing(y) ||
            ts_node_has_error(x) != ts_node_has_error(y) ||
            ts_node_start_byte(x) != ts_node_start_byte(y) ||
            ts_node_end_byte(x) != ts_node_end_byte(y) ||
            !same_point(ts_node_start_point(x), ts_node_start_point(y)) ||
            !same_point(ts_node_end_point(x), ts_node_end_point(y)) ||
            ts_node_child_count(x) != ts_node_child_count(y)) {
            rc = check_fail(err, errlen,
                            "tree differs: incremental %s [%u,%u) (%u:%u)-(%u:%u) %u children%s, "
                            "fresh %s [%u,%u) (%u:%u)-(%u:%u) %u children%s",
                            ts_language_symbol_name(lang, ts_node_symbol(x)), ts_node_start_byte(x),
                            ts_node_end_byte(x), ts_node_start_point(x).row,
                            ts_node_start_point(x).column, ts_node_end_point(x).row,
                            ts_node_end_point(x).column, ts_node_child_count(x),
                            ts_node_is_missing(x) ? " missing" : "",
                            ts_language_symbol_name(lang, ts_node_symbol(y)), ts_node_start_byte(y),
                            ts_node_end_byte(y), ts_node_start_point(y).row,
                            ts_node_start_point(y).column, ts_node_end_point(y).row,
                            ts_node_end_point(y).column, ts_node_child_count(y),
                            ts_node_is_missing(y) ? " missing" : "");
            break;
        }
        /* Pre-order walk of both trees in step (they have the same shape so far). */
        if (ts_tree_cursor_goto_first_child(&ca)) {
            ts_tree_cursor_goto_first_child(&cb);
            continue;
        }
        int done = 0;
        while (!ts_tree_cursor_goto_next_sibling(&ca)) {
            ts_tree_cursor_goto_parent(&cb);
            if (!ts_tree_cursor_goto_parent(&ca)) {
                done = 1;
                break;
            }
        }
        if (done)
            break;
        ts_tree_cursor_goto_next_sibling(&cb);
    }
    ts_tree_cursor_delete(&ca);
    ts_tree_cursor_delete(&cb);
    return rc;
}

/* Checks that every node's points are those of its byte offsets (rows at '\n', byte columns) and
 * that children are ordered and nested.  nls[0..nnl) are the offsets of the text's '\n's. */
static TSPoint point_of(const uint32_t *nls, size_t nnl, uint32_t b)
{
    size_t lo = 0, hi = nnl; /* count of '\n' before b */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nls[mid] < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (TSPoint){(uint32_t)lo, lo ? b - nls[lo - 1] - 1 : b};
}

static int check_positions(const TSLanguage *lang, TSNode root, const char *t, size_t len,
                           char *err, size_t errlen)
{
    size_t nnl = 0;
    for (size_t p = 0; p < len; p++)
        nnl += t[p] == '\n';
    uint32_t *nls = sk_malloc((nnl ? nnl : 1) * sizeof *nls);
    if (!nls)
        return -ENOMEM;
    nnl = 0;
    for (size_t p = 0; p < len; p++)
        if (t[p] == '\n')
            nls[nnl++] = (uint32_t)p;
    int rc = 0;
    if (ts_node_end_byte(root) > len)
        rc = check_fail(err, errlen, "root ends at %u, text has %zu bytes", ts_node_end_byte(root),
                        len);
    TSTreeCursor c = ts_tree_cursor_new(root);
    while (rc == 0) {
        TSNode x = ts_tree_cursor_current_node(&c);
        uint32_t sb = ts_node_start_byte(x), eb = ts_node_end_byte(x);
        TSPoint sp = point_of(nls, nnl, sb), ep = point_of(nls, nnl, eb);
        if (sb > eb || eb > len || !same_point(sp, ts_node_start_point(x)) ||
            !same_point(ep, ts_node_end_point(x))) {
            rc = check_fail(err, errlen,
                            "%s [%u,%u) has points (%u:%u)-(%u:%u), the text says (%u:%u)-(%u:%u)",
                            ts_language_symbol_name(lang, ts_node_symbol(x)), sb, eb,
                            ts_node_start_point(x).row, ts_node_start_point(x).column,
                            ts_node_end_point(x).row, ts_node_end_point(x).column, sp.row,
                            sp.column, ep.row, ep.column);
            break;
        }
        if (ts_tree_cursor_goto_first_child(&c)) {
            /* Children in order, inside the parent (a second cursor keeps this O(n)). */
            TSTreeCursor k = ts_tree_cursor_copy(&c);
            uint32_t prev_end = sb, i = 0;
            do {
                TSNode ch = ts_tree_cursor_current_node(&k);
                if (ts_node_start_byte(ch) < prev_end || ts_node_end_byte(ch) > eb)
                    rc = check_fail(err, errlen, "child %u of %s [%u,%u) spans [%u,%u)", i,
                                    ts_language_symbol_name(lang, ts_node_symbol(x)), sb, eb,
                                    ts_node_start_byte(ch), ts_node_end_byte(ch));
                prev_end = ts_node_end_byte(ch);
                i++;
            } while (rc == 0 && ts_tree_cursor_goto_next_sibling(&k));
            ts_tree_cursor_delete(&k);
            continue;
        }
        int done = 0;
        while (!ts_tree_cursor_goto_next_sibling(&c))
            if (!ts_tree_cursor_goto_parent(&c)) {
                done = 1;
                break;
            }
        if (done)
            break;
    }
    ts_tree_cursor_delete(&c);
    sk_free(nls);
    return rc;
}

int ctx_doc_check(const ctx_doc *doc, enum ctx_check mode, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (!doc->parsed && mode != CTX_CHECK_CONSISTENT)
        return -EAGAIN;
    size_t len;
    const char *t = ctx_doc_text(doc, &len);
    /* Line index. */
    uint32_t i = 0;
    for (size_t p = 0; p <= len; p++) {
        if (p > 0 && !is_line_start((unsigned char)t[p - 1], p < len ? (unsigned char)t[p] : 0))
            continue;
        if (i >= doc->nl)
            return check_fail(err, errlen, "line index has %u lines, text has more", doc->nl);
        if (ls_get(doc, i) != p)
            return check_fail(err, errlen, "line %u starts at %u, text says %zu", i,
                              ls_get(doc, i), p);
        i++;
    }
    if (i != doc->nl)
        return check_fail(err, errlen, "line index has %u lines, text has %u", doc->nl, i);
    size_t lone = 0;
    for (size_t p = 0; p < len; p++)
        if (t[p] == '\r' && (p + 1 == len || t[p + 1] != '\n'))
            lone++;
    if (lone != doc->lone_cr)
        return check_fail(err, errlen, "lone CR count %zu, text has %zu", doc->lone_cr, lone);
    if (!doc->parser || (!doc->tree && !doc->parsed))
        return 0;
    if (!doc->tree)
        return check_fail(err, errlen, "parsed but no tree");
    const TSLanguage *lang = ctx__ts_language(doc->lang);
    int rc = check_positions(lang, ts_tree_root_node(doc->tree), t, len, err, errlen);
    if (rc || mode == CTX_CHECK_CONSISTENT)
        return rc;
    TSTree *fresh = ctx__parse_fresh(doc->lang, t, len);
    if (!fresh)
        return -ENOMEM;
    if (mode == CTX_CHECK_FRESH || !ts_node_has_error(ts_tree_root_node(fresh)))
        rc = compare_trees(lang, ts_tree_root_node(doc->tree), ts_tree_root_node(fresh), err,
                           errlen);
    ts_tree_delete(fresh);
    return rc;
}
