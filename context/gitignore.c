/*
 * .gitignore matching for the workspace walk (contract in xfile_int.h).
 *
 * Workload: a few dozen rules per workspace, checked once per file and folder the walker meets
 * (thousands per walk) and once per watched-file update.  Rules are kept as given and matched
 * with a small recursive glob; no compilation is worth it at that rate.
 */
#include "base.h"
#include "xfile_int.h"

#include <errno.h>
#include <string.h>

struct gi_rule {
    char *pat;       /* without '!', leading '/' and trailing '/' */
    char *base;      /* folder of the .gitignore ("" = root) */
    size_t base_len;
    unsigned neg : 1, dir_only : 1, anchored : 1;
};

struct ctx__gi {
    struct gi_rule *r;
    size_t n, cap;
};

struct ctx__gi *ctx__gi_new(void)
{
    return sk_calloc(1, sizeof(struct ctx__gi));
}

void ctx__gi_free(struct ctx__gi *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++) {
        sk_free(g->r[i].pat);
        sk_free(g->r[i].base);
    }
    sk_free(g->r);
    sk_free(g);
}

/* '[...]' at p (p[0] == '['): sets *end past the class and returns whether c is in it; returns
 * -1 when the class is not closed (then '[' is a literal). */
static int class_match(const char *p, char c, const char **end)
{
    const char *q = p + 1;
    int neg = 0, hit = 0;
    if (*q == '!' || *q == '^') {
        neg = 1;
        q++;
    }
    int first = 1;
    while (*q && (*q != ']' || first)) {
        char lo = *q, hi;
        if (lo == '\\' && q[1])
            lo = *++q;
        q++;
        hi = lo;
        if (q[0] == '-' && q[1] && q[1] != ']') {
            hi = q[1];
            q += 2;
        }
        if (c >= lo && c <= hi)
            hit = 1;
        first = 0;
    }
    if (*q != ']')
        return -1;
    *end = q + 1;
    return c != '/' && (hit ^ neg);
}

static int glob_at(const char *start, const char *p, const char *s, int depth)
{
    if (depth > 64)
        return 0; /* hostile patterns: bounded recursion */
    while (*p) {
        if (p[0] == '*' && p[1] == '*' && (p == start || p[-1] == '/') &&
            (p[2] == '/' || p[2] == 0)) {
            if (p[2] == 0)
                return 1; /* trailing "**": everything below */
            const char *q = p + 3;
            for (const char *t = s;;) {
                if (glob_at(start, q, t, depth + 1))
                    return 1;
                t = strchr(t, '/');
                if (!t)
                    return 0;
                t++;
            }
        }
        switch (*p) {
        case '*':
            while (*p == '*')
                p++;
            for (const char *t = s;; t++) {
                if (glob_at(start, p, t, depth + 1))
                    return 1;
                if (!*t || *t == '/')
                    return 0;
            }
        case '?':
            if (!*s || *s == '/')
                return 0;
            p++, s++;
            continue;
        case '[': {
            const char *e;
            int m = *s ? class_match(p, *s, &e) : 0;
            if (m == -1 || !*s) {
                if (*s != '[')
                    return 0;
                p++, s++;
                continue;
            }
            if (!m)
                return 0;
            p = e, s++;
            continue;
        }
        case '\\':
            if (p[1])
                p++;
            /* fall through */
        default:
            if (*p != *s)
                return 0;
            p++, s++;
        }
    }
    return *s == 0;
}

int ctx__glob(const char *pat, const char *s)
{
    return glob_at(pat, pat, s, 0);
}

static int add_rule(struct ctx__gi *g, const char *base, const char *line, size_t n)
{
    /* trailing spaces unless escaped */
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t') && !(n > 1 && line[n - 2] == '\\'))
        n--;
    if (n == 0 || line[0] == '#')
        return 0;
    struct gi_rule r = {0};
    if (line[0] == '!') {
        r.neg = 1;
        line++, n--;
    } else if (line[0] == '\\' && n > 1 && (line[1] == '#' || line[1] == '!')) {
        line++, n--;
    }
    if (n > 0 && line[n - 1] == '/') {
        r.dir_only = 1;
        n--;
    }
    if (n > 0 && line[0] == '/') {
        r.anchored = 1;
        line++, n--;
    }
    if (n == 0)
        return 0;
    if (memchr(line, '/', n))
        r.anchored = 1;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        struct gi_rule *v = sk_realloc(g->r, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        g->r = v;
        g->cap = cap;
    }
    r.pat = sk_strndup(line, n);
    r.base = sk_strdup(base);
    if (!r.pat || !r.base) {
        sk_free(r.pat);
        sk_free(r.base);
        return -ENOMEM;
    }
    r.base_len = strlen(base);
    g->r[g->n++] = r;
    return 0;
}

int ctx__gi_add(struct ctx__gi *g, const char *base, const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && text[e] != '\n')
            e++;
        size_t n = e - i;
        if (n > 0 && text[i + n - 1] == '\r')
            n--;
        /* a NUL inside a line ends it (the rule is a C string) */
        const char *z = memchr(text + i, 0, n);
        if (z)
            n = (size_t)(z - (text + i));
        int rc = add_rule(g, base ? base : "", text + i, n);
        if (rc)
            return rc;
        i = e + 1;
    }
    return 0;
}

int ctx__gi_ignored(const struct ctx__gi *g, const char *path, int is_dir)
{
    int ignored = 0;
    if (!g)
        return 0;
    for (size_t i = 0; i < g->n; i++) {
        const struct gi_rule *r = &g->r[i];
        const char *sub = path;
        if (r->base_len) {
            if (strncmp(path, r->base, r->base_len) || path[r->base_len] != '/')
                continue;
            sub = path + r->base_len + 1;
        }
        if (r->dir_only && !is_dir)
            continue;
        if (r->neg == !ignored)
            continue; /* cannot change the outcome */
        const char *subject = sub;
        if (!r->anchored) {
            const char *sl = strrchr(sub, '/');
            subject = sl ? sl + 1 : sub;
        }
        if (ctx__glob(r->pat, subject))
            ignored = !r->neg;
    }
    return ignored;
}
