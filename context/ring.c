/*
 * The ring of recently edited chunks (contract in context.h).  Workload: one note per didChange
 * from the loop thread (a few KiB copied), one snapshot per completion request from the
 * inference thread.  A mutex guards the slots.
 */
#include "base.h"
#include "xfile_int.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

struct ctx_ring {
    pthread_mutex_t mu;
    struct ctx__chunk slot[CTX_RING_SLOTS];
    uint64_t seq;
};

int ctx_ring_new(ctx_ring **out)
{
    *out = sk_calloc(1, sizeof **out);
    if (!*out)
        return -ENOMEM;
    pthread_mutex_init(&(*out)->mu, NULL);
    return 0;
}

void ctx__chunk_clear(struct ctx__chunk *c)
{
    sk_free(c->path);
    sk_free(c->text);
    memset(c, 0, sizeof *c);
}

void ctx_ring_delete(ctx_ring *r)
{
    if (!r)
        return;
    for (int i = 0; i < CTX_RING_SLOTS; i++)
        ctx__chunk_clear(&r->slot[i]);
    pthread_mutex_destroy(&r->mu);
    sk_free(r);
}

/* Fraction (in 1/100) of a's non-blank lines that also appear in b. */
static int shared_lines(const char *a, size_t al, const char *b, size_t bl)
{
    int total = 0, hit = 0;
    for (size_t i = 0; i < al;) {
        const char *nl = memchr(a + i, '\n', al - i);
        size_t e = nl ? (size_t)(nl - a) : al;
        size_t s = i;
        while (s < e && (a[s] == ' ' || a[s] == '\t'))
            s++;
        if (e > s) {
            total++;
            if (memmem(b, bl, a + s, e - s))
                hit++;
        }
        i = e + 1;
    }
    return total ? hit * 100 / total : 0;
}

int ctx_ring_note_edit(ctx_ring *r, const char *path, enum ctx_lang lang, const char *text,
                       size_t len)
{
    if (!r || !path || (!text && len))
        return -EINVAL;
    /* keep the middle CTX_RING_MAX_LINES lines, whole lines, at most CTX_RING_MAX_BYTES */
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    size_t s = 0, e = len;
    while (lines > CTX_RING_MAX_LINES || e - s > CTX_RING_MAX_BYTES) {
        /* drop a line at the end, then at the start */
        const char *nl = e > s + 1 ? memrchr(text + s, '\n', e - s - 1) : NULL;
        if (lines % 2 == 0 && nl) {
            e = (size_t)(nl - text) + 1;
        } else {
            const char *f = memchr(text + s, '\n', e - s);
            if (!f)
                break;
            s = (size_t)(f - text) + 1;
        }
        if (lines == 0)
            break;
        lines--;
    }
    if (e - s > CTX_RING_MAX_BYTES)
        e = s + CTX_RING_MAX_BYTES;
    size_t n = e - s;
    while (n && (text[s] == '\n' || text[s] == '\r'))
        s++, n--;
    if (n == 0)
        return 0;
    char *t = sk_malloc(n + 2);
    char *p = sk_strdup(path);
    if (!t || !p) {
        sk_free(t);
        sk_free(p);
        return -ENOMEM;
    }
    memcpy(t, text + s, n);
    if (t[n - 1] != '\n')
        t[n++] = '\n';
    t[n] = 0;
    pthread_mutex_lock(&r->mu);
    int pick = -1, oldest = 0;
    for (int i = 0; i < CTX_RING_SLOTS; i++) {
        struct ctx__chunk *c = &r->slot[i];
        if (!c->text) {
            if (pick < 0)
                pick = i;
            continue;
        }
        if (!strcmp(c->path, path) &&
            (shared_lines(t, n, c->text, c->len) >= 50 || shared_lines(c->text, c->len, t, n) >= 50)) {
            pick = i; /* refresh in place */
            break;
        }
        if (r->slot[oldest].text && c->seq < r->slot[oldest].seq)
            oldest = i;
    }
    if (pick < 0)
        pick = oldest;
    struct ctx__chunk *c = &r->slot[pick];
    uint64_t seq = c->text && !strcmp(c->path, path) ? c->seq : ++r->seq;
    ctx__chunk_clear(c);
    c->path = p;
    c->text = t;
    c->len = n;
    c->lang = lang;
    c->seq = seq;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

int ctx_ring_count(ctx_ring *r)
{
    int n = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < CTX_RING_SLOTS; i++)
        n += r->slot[i].text != NULL;
    pthread_mutex_unlock(&r->mu);
    return n;
}

int ctx__ring_snapshot(ctx_ring *r, const char *exclude_path, struct ctx__chunk *out, int max)
{
    int n = 0, rc = 0;
    if (!r)
        return 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < CTX_RING_SLOTS && n < max; i++) {
        const struct ctx__chunk *c = &r->slot[i];
        if (!c->text || (exclude_path && !strcmp(c->path, exclude_path)))
            continue;
        out[n] = *c;
        out[n].path = sk_strdup(c->path);
        out[n].text = sk_strndup(c->text, c->len);
        if (!out[n].path || !out[n].text) {
            ctx__chunk_clear(&out[n]);
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    pthread_mutex_unlock(&r->mu);
    if (rc) {
        for (int i = 0; i < n; i++)
            ctx__chunk_clear(&out[i]);
        return rc;
    }
    return n;
}
