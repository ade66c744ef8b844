/*
 * Content-Length framing: the reader that turns a byte stream cut at arbitrary points into
 * message bodies, and the writer's header.  The contract (tolerances, errors, the resync rule)
 * is in lsp.h.
 *
 * The reader keeps one growing buffer; bytes before `pos` are consumed and dropped on the next
 * feed.  A header block is re-parsed from the start on each call until its body is complete:
 * headers are at most LSP_MAX_HEADER bytes and a body arrives in few chunks, so that is cheaper
 * than keeping parser state across calls.
 */
#include "lsp/lsp.h"

#include "base.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char clen_name[] = "content-length";
#define CLEN_LEN (sizeof clen_name - 1)

const char *lsp_strerror(int err)
{
    switch (err) {
    case 0: return "ok";
    case LSP_EHEADER: return "malformed message header";
    case LSP_ENOLENGTH: return "message header without Content-Length";
    case LSP_EHEADERSIZE: return "message header too long";
    case LSP_ETOOBIG: return "message body larger than the limit";
    case LSP_EINVAL: return "invalid value";
    case -ENOMEM: return "out of memory";
    default: return err < 0 && err > -4096 ? strerror(-err) : "unknown error";
    }
}

void lsp_reader_init(lsp_reader *r, size_t max_body)
{
    memset(r, 0, sizeof *r);
    r->max_body = max_body ? max_body : LSP_MAX_BODY_DEFAULT;
}

void lsp_reader_free(lsp_reader *r)
{
    sk_free(r->buf);
    memset(r, 0, sizeof *r);
}

int lsp_reader_feed(lsp_reader *r, const void *data, size_t n)
{
    const char *p = data;
    /* Drop what was consumed (this invalidates bodies returned earlier, as documented). */
    if (r->pos) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    /* An oversized body being skipped never enters the buffer. */
    if (r->skip && r->len == 0) {
        size_t d = r->skip < n ? (size_t)r->skip : n;
        p += d;
        n -= d;
        r->skip -= d;
    }
    if (n == 0)
        return 0;
    if (n > SIZE_MAX - r->len)
        return -ENOMEM;
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n)
            cap = cap > SIZE_MAX / 2 ? r->len + n : cap * 2;
        char *nb = sk_realloc(r->buf, cap);
        if (!nb)
            return -ENOMEM;
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    return 0;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Case-insensitive match of the first n bytes of s against clen_name. */
static int clen_prefix(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != clen_name[i])
            return 0;
    return 1;
}

/* Resync: drop bytes until a line that starts with "Content-Length".  Returns 1 when found
 * (pos at it), 0 when more bytes are needed. */
static int resync(lsp_reader *r)
{
    for (size_t i = r->pos; i < r->len; i++) {
        int at_line = i == r->pos ? r->line_start : r->buf[i - 1] == '\n';
        if (!at_line)
            continue;
        size_t avail = r->len - i;
        if (avail >= CLEN_LEN) {
            if (clen_prefix(r->buf + i, CLEN_LEN)) {
                r->pos = i;
                r->resync = 0;
                return 1;
            }
        } else if (clen_prefix(r->buf + i, avail)) {
            /* A possible start cut by the chunk boundary: keep it. */
            r->pos = i;
            r->line_start = 1;
            return 0;
        }
    }
    if (r->len > r->pos)
        r->line_start = r->buf[r->len - 1] == '\n';
    r->pos = r->len;
    return 0;
}

/* Parses a Content-Length value: blanks, digits, blanks.  Returns 0 or LSP_EHEADER. */
static int parse_length(const char *v, size_t n, uint64_t *out)
{
    size_t i = 0;
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    size_t digits = 0;
    uint64_t x = 0;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++, digits++) {
        if (x > (UINT64_MAX - 9) / 10)
            return LSP_EHEADER;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    if (!digits || i != n)
        return LSP_EHEADER;
    *out = x;
    return 0;
}

/* A header error: report it and resync past the first byte of the bad block. */
static int header_error(lsp_reader *r, int err)
{
    r->pos++;
    r->resync = 1;
    r->line_start = 0;
    return err;
}

int lsp_reader_next(lsp_reader *r, const char **body, size_t *len)
{
    for (;;) {
        if (r->skip) {
            size_t avail = r->len - r->pos;
            size_t d = r->skip < avail ? (size_t)r->skip : avail;
            r->pos += d;
            r->skip -= d;
            if (r->skip)
                return 0;
        }
        if (r->resync && !resync(r))
            return 0;
        /* Stray line ends between messages are harmless. */
        while (r->pos < r->len && (r->buf[r->pos] == '\r' || r->buf[r->pos] == '\n'))
            r->pos++;
        if (r->pos == r->len)
            return 0;

        /* Header block: lines up to an empty one. */
        size_t p = r->pos, end = r->len;
        size_t limit = r->pos + LSP_MAX_HEADER < end ? r->pos + LSP_MAX_HEADER : end;
        int have_len = 0;
        uint64_t clen = 0;
        for (;;) {
            const char *nl = memchr(r->buf + p, '\n', limit - p);
            if (!nl) {
                if (limit - r->pos >= LSP_MAX_HEADER)
                    return header_error(r, LSP_EHEADERSIZE);
                return 0; /* the block is not complete yet */
            }
            size_t ll = (size_t)(nl - (r->buf + p));
            const char *line = r->buf + p;
            p += ll + 1;
            if (ll && line[ll - 1] == '\r')
                ll--;
            if (ll == 0)
                break; /* end of the block */
            size_t k = 0;
            while (k < ll && is_tchar((unsigned char)line[k]))
                k++;
            if (k == 0 || k == ll || line[k] != ':')
                return header_error(r, LSP_EHEADER);
            if (k == CLEN_LEN && clen_prefix(line, CLEN_LEN)) {
                uint64_t v;
                if (parse_length(line + k + 1, ll - k - 1, &v) || (have_len && v != clen))
                    return header_error(r, LSP_EHEADER);
                clen = v;
                have_len = 1;
            }
        }
        if (!have_len)
            return header_error(r, LSP_ENOLENGTH);
        if (clen > r->max_body) {
            r->pos = p;
            r->skip = clen;
            return LSP_ETOOBIG;
        }
        if (r->len - p < clen)
            return 0;
        *body = r->buf + p;
        *len = (size_t)clen;
        r->pos = p + (size_t)clen;
        return 1;
    }
}

size_t lsp_frame_header(char *hdr, size_t body_len)
{
    int n = snprintf(hdr, LSP_FRAME_HEADER_MAX, "Content-Length: %zu\r\n\r\n", body_len);
    return n > 0 ? (size_t)n : 0;
}

char *lsp_frame_encode(const char *body, size_t len, size_t *out_len)
{
    char hdr[LSP_FRAME_HEADER_MAX];
    size_t h = lsp_frame_header(hdr, len);
    if (len > SIZE_MAX - h - 1)
        return NULL;
    char *out = sk_malloc(h + len + 1);
    if (!out)
        return NULL;
    memcpy(out, hdr, h);
    if (len)
        memcpy(out + h, body, len);
    out[h + len] = '\0';
    *out_len = h + len;
    return out;
}
