/*
 * Cross-file snippet selection (contract in context.h, "cross-file context").
 *
 * Workload: one call per completion request on the inference thread: a tree-sitter parse of
 * ~60 lines around the cursor, a line scan of the prefix window for imports, a few dozen index
 * lookups, and tokenizing the candidate snippets once (a few KiB) to fit the budget.  Well
 * under a millisecond on a 100-file workspace (bench/bench_prompt.c).
 *
 * Priority decides what fits; it never decides the order of the text.  The text is sorted by
 * path and offset so that an unchanged choice gives identical bytes at the start of the prompt.
 */
#include "base.h"
#include "ctx_int.h"
#include "engine/engine.h"
#include "xfile_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BUDGET 512
#define DEFAULT_NEAR_LINES 40
#define MAX_IDENTS 48
#define MAX_IMPORTS 8
#define HITS_PER_NAME 8
#define KEEP_PER_NAME 2
#define AMBIGUOUS_HITS 5
#define OUTLINE_DEFS 24
#define MAX_CANDS 192

enum cand_group { G_DEF = 0, G_OUTLINE = 1, G_RING = 2 };

struct cand {
    char *path;
    enum ctx_lang lang;
    char *text;
    size_t len;
    uint32_t start;
    int group;
    int prio;       /* lower = chosen first */
    int chosen;
};

struct ident {
    const char *s;
    uint32_t len;
    uint32_t dist;
};

struct sel {
    const struct ctx_xfile_opts *o;
    char cur[4096];  /* display path of the current document */
    char dir[4096];  /* its folder ("" = root) */
    struct ident id[MAX_IDENTS];
    int n_id;
    char imports[MAX_IMPORTS][512];
    int n_imports;
    struct cand c[MAX_CANDS];
    int n;
};

static int is_ident_type(const char *t)
{
    size_t n = strlen(t);
    return n >= 10 && !strcmp(t + n - 10, "identifier");
}

static void collect_idents(struct sel *s, const char *w, TSNode n, uint32_t cursor, int depth)
{
    if (depth > 200)
        return;
    uint32_t nc = ts_node_child_count(n);
    if (nc == 0) {
        if (!ts_node_is_named(n) || !is_ident_type(ts_node_type(n)))
            return;
        uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
        if (b <= a + 1 || b - a > 128 || (a <= cursor && cursor <= b))
            return; /* one-letter names say little; the word being typed flickers */
        uint32_t d = a > cursor ? a - cursor : cursor - b;
        for (int i = 0; i < s->n_id; i++)
            if (s->id[i].len == b - a && !memcmp(s->id[i].s, w + a, b - a)) {
                if (d < s->id[i].dist)
                    s->id[i].dist = d;
                return;
            }
        if (s->n_id < MAX_IDENTS) {
            s->id[s->n_id++] = (struct ident){w + a, b - a, d};
        } else { /* replace the farthest */
            int far = 0;
            for (int i = 1; i < s->n_id; i++)
                if (s->id[i].dist > s->id[far].dist)
                    far = i;
            if (s->id[far].dist > d)
                s->id[far] = (struct ident){w + a, b - a, d};
        }
        return;
    }
    for (uint32_t i = 0; i < nc; i++)
        collect_idents(s, w, ts_node_child(n, i), cursor, depth + 1);
}

static int cmp_ident(const void *a, const void *b)
{
    const struct ident *x = a, *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, m);
    return c ? c : (int)x->len - (int)y->len;
}

/* Identifiers of the window around the cursor; the window buffer is returned (caller frees). */
static char *near_idents(struct sel *s)
{
    const struct ctx_xfile_opts *o = s->o;
    if (!ctx__ts_language(o->lang))
        return NULL;
    int nl = o->near_lines > 0 ? o->near_lines : DEFAULT_NEAR_LINES;
    size_t a = o->prefix_len;
    for (int k = 0; a > 0; a--)
        if (o->prefix[a - 1] == '\n' && ++k > nl)
            break;
    size_t b = 0;
    for (int k = 0; b < o->suffix_len; b++)
        if (o->suffix[b] == '\n' && ++k >= nl / 2 + 1)
            break;
    size_t pl = o->prefix_len - a;
    char *w = sk_malloc(pl + b + 1);
    if (!w)
        return NULL;
    if (pl)
        memcpy(w, o->prefix + a, pl);
    if (b)
        memcpy(w + pl, o->suffix, b);
    w[pl + b] = 0;
    TSTree *t = ctx__parse_fresh(o->lang, w, pl + b);
    if (t) {
        collect_idents(s, w, ts_tree_root_node(t), (uint32_t)pl, 0);
        ts_tree_delete(t);
    }
    qsort(s->id, (size_t)s->n_id, sizeof s->id[0], cmp_ident);
    return w;
}

/* dir + "/" + rel with "." and ".." resolved into buf; -1 when it climbs above the root. */
static int join_norm(const char *dir, const char *rel, char *buf, size_t cap)
{
    char tmp[1024];
    int n = *dir ? snprintf(tmp, sizeof tmp, "%s/%s", dir, rel) : snprintf(tmp, sizeof tmp, "%s", rel);
    if (n < 0 || (size_t)n >= sizeof tmp || cap < 2)
        return -1;
    size_t o = 0;
    const char *p = tmp;
    int absolute = tmp[0] == '/';
    if (absolute)
        buf[o++] = '/';
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0)
            break;
        if (l == 1 && p[0] == '.') {
        } else if (l == 2 && p[0] == '.' && p[1] == '.') {
            if (o <= (size_t)absolute)
                return -1;
            while (o > (size_t)absolute && buf[o - 1] != '/')
                o--;
            if (o > (size_t)absolute)
                o--;
        } else {
            if (o > (size_t)absolute)
                buf[o++] = '/';
            if (o + l + 1 >= cap)
                return -1;
            memcpy(buf + o, p, l);
            o += l;
        }
        p += l;
    }
    buf[o] = 0;
    return o ? 0 : -1;
}

static void add_import(struct sel *s, const char *const *cands, int nc, const char *const *suf,
                       int ns)
{
    if (s->n_imports >= MAX_IMPORTS)
        return;
    char buf[512];
    if (ctx__index_resolve(s->o->index, cands, nc, suf, ns, buf, sizeof buf))
        return;
    if (!strcmp(buf, s->cur))
        return;
    for (int i = 0; i < s->n_imports; i++)
        if (!strcmp(s->imports[i], buf))
            return;
    strcpy(s->imports[s->n_imports++], buf);
}

/* Copies the quoted string starting at or after p (up to e) into out; 0 when found. */
static int quoted(const char *p, const char *e, char *out, size_t cap)
{
    while (p < e && *p != '"' && *p != '\'' && *p != '`')
        p++;
    if (p >= e)
        return -1;
    char q = *p++;
    const char *z = memchr(p, q, (size_t)(e - p));
    if (!z || (size_t)(z - p) >= cap || z == p)
        return -1;
    memcpy(out, p, (size_t)(z - p));
    out[z - p] = 0;
    return 0;
}

static void import_line(struct sel *s, const char *l, const char *e)
{
    enum ctx_lang lang = s->o->lang;
    char m[256], a[5][300];
    const char *cand[5], *suf[2];
    while (l < e && (*l == ' ' || *l == '\t'))
        l++;
    size_t n = (size_t)(e - l);
    if (lang == CTX_LANG_C || lang == CTX_LANG_CPP) {
        if (n < 10 || strncmp(l, "#include", 8))
            return;
        const char *q = l + 8;
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        if (q >= e || *q != '"' || quoted(q, e, m, sizeof m))
            return; /* <system> headers are not in the workspace */
        int k = 0;
        if (!join_norm(s->dir, m, a[k], sizeof a[k]))
            cand[k] = a[k], k++;
        if (!join_norm("", m, a[k], sizeof a[k]))
            cand[k] = a[k], k++;
        suf[0] = m;
        add_import(s, cand, k, suf, 1);
    } else if (lang == CTX_LANG_PYTHON) {
        const char *p;
        if (n > 5 && !strncmp(l, "from ", 5))
            p = l + 5;
        else if (n > 7 && !strncmp(l, "import ", 7))
            p = l + 7;
        else
            return;
        while (p < e && *p == ' ')
            p++;
        int dots = 0;
        while (p < e && *p == '.')
            dots++, p++;
        size_t k = 0;
        while (p < e && k + 1 < sizeof m && (*p == '_' || *p == '.' || ((*p | 32) >= 'a' && (*p | 32) <= 'z') ||
                                             (*p >= '0' && *p <= '9')))
            m[k++] = *p == '.' ? '/' : *p, p++;
        m[k] = 0;
        if (!k)
            return;
        char base[4096] = "";
        if (dots) {
            snprintf(base, sizeof base, "%s", s->dir);
            for (int d = 1; d < dots; d++) {
                char *sl = strrchr(base, '/');
                if (sl)
                    *sl = 0;
                else
                    base[0] = 0;
            }
        }
        char r1[300], r2[300];
        snprintf(r1, sizeof r1, "%s.py", m);
        snprintf(r2, sizeof r2, "%s/__init__.py", m);
        int c = 0;
        if (!join_norm(base, r1, a[c], sizeof a[c]))
            cand[c] = a[c], c++;
        if (!join_norm(base, r2, a[c], sizeof a[c]))
            cand[c] = a[c], c++;
        suf[0] = r1;
        suf[1] = r2;
        add_import(s, cand, c, suf, dots ? 0 : 2);
    } else if (lang == CTX_LANG_JAVASCRIPT || lang == CTX_LANG_TYPESCRIPT || lang == CTX_LANG_TSX) {
        const char *f = NULL;
        if ((f = memmem(l, n, "from ", 5)) || (f = memmem(l, n, "require(", 8)) ||
            (n > 7 && !strncmp(l, "import ", 7) && (f = l + 6))) {
            if (quoted(f, e, m, sizeof m) || m[0] != '.')
                return;
            static const char *const ext[] = {"", ".ts", ".tsx", ".js", ".jsx"};
            static const char *const ext2[] = {".mjs", "/index.ts", "/index.tsx", "/index.js", ".d.ts"};
            for (int round = 0; round < 2; round++) {
                int c = 0;
                for (int i = 0; i < 5; i++) {
                    char r[300];
                    snprintf(r, sizeof r, "%s%s", m, round ? ext2[i] : ext[i]);
                    if (!join_norm(s->dir, r, a[c], sizeof a[c]))
                        cand[c] = a[c], c++;
                }
                int before = s->n_imports;
                add_import(s, cand, c, suf, 0);
                if (s->n_imports > before)
                    break;
            }
        }
    } else if (lang == CTX_LANG_RUST) {
        const char *p;
        if (n > 4 && !strncmp(l, "mod ", 4) && memchr(l, ';', n)) {
            p = l + 4;
            size_t k = 0;
            while (p < e && *p != ';' && *p != ' ' && k + 1 < sizeof m)
                m[k++] = *p++;
            m[k] = 0;
            char r1[300], r2[300];
            snprintf(r1, sizeof r1, "%s.rs", m);
            snprintf(r2, sizeof r2, "%s/mod.rs", m);
            int c = 0;
            if (!join_norm(s->dir, r1, a[c], sizeof a[c]))
                cand[c] = a[c], c++;
            if (!join_norm(s->dir, r2, a[c], sizeof a[c]))
                cand[c] = a[c], c++;
            add_import(s, cand, c, suf, 0);
        } else if (n > 11 && !strncmp(l, "use crate::", 11)) {
            p = l + 11;
            size_t k = 0;
            while (p < e && k + 1 < sizeof m && (*p == '_' || *p == ':' || ((*p | 32) >= 'a' && (*p | 32) <= 'z') || (*p >= '0' && *p <= '9'))) {
                if (*p == ':') {
                    if (k && m[k - 1] != '/')
                        m[k++] = '/';
                } else {
                    m[k++] = *p;
                }
                p++;
            }
            while (k && m[k - 1] == '/')
                k--;
            m[k] = 0;
            /* the longest module path that is a file: a/b/c -> src/a/b/c.rs, src/a/b.rs, ... */
            for (int tries = 0; k && tries < 4; tries++) {
                char r1[300], r2[300];
                snprintf(r1, sizeof r1, "src/%s.rs", m);
                snprintf(r2, sizeof r2, "src/%s/mod.rs", m);
                cand[0] = r1;
                cand[1] = r2;
                suf[0] = r1 + 4;
                int before = s->n_imports;
                add_import(s, cand, 2, suf, 1);
                if (s->n_imports > before)
                    break;
                char *sl = strrchr(m, '/');
                if (!sl)
                    break;
                *sl = 0;
            }
        }
    } else if (lang == CTX_LANG_JAVA) {
        if (n < 8 || strncmp(l, "import ", 7) || !strncmp(l, "import static", 13))
            return;
        const char *p = l + 7;
        size_t k = 0;
        while (p < e && *p != ';' && k + 6 < sizeof m) {
            m[k++] = *p == '.' ? '/' : *p;
            p++;
        }
        if (!k || m[k - 1] == '*')
            return;
        memcpy(m + k, ".java", 6);
        suf[0] = m;
        add_import(s, cand, 0, suf, 1);
    }
}

static void scan_imports(struct sel *s)
{
    if (!s->o->index)
        return;
    const char *p = s->o->prefix, *end = p + s->o->prefix_len;
    while (p < end && s->n_imports < MAX_IMPORTS) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            break; /* the cursor's line is still being typed */
        if (e - p < 300)
            import_line(s, p, e);
        p = e + 1;
    }
}

static int push(struct sel *s, const char *path, enum ctx_lang lang, char *text, size_t len,
                uint32_t start, int group, int prio)
{
    if (s->n >= MAX_CANDS) {
        sk_free(text);
        return 0;
    }
    for (int i = 0; i < s->n; i++)
        if (s->c[i].len == len && !strcmp(s->c[i].path, path) && !memcmp(s->c[i].text, text, len)) {
            sk_free(text);
            if (prio < s->c[i].prio)
                s->c[i].prio = prio;
            return 0;
        }
    char *p = sk_strdup(path);
    if (!p) {
        sk_free(text);
        return -ENOMEM;
    }
    s->c[s->n++] = (struct cand){p, lang, text, len, start, group, prio, 0};
    return 0;
}

/* 1 when a definition's first line appears in the prefix or suffix window (the model sees it
 * already). */
static int in_window(const struct sel *s, const char *text, size_t len)
{
    const char *nl = memchr(text, '\n', len);
    size_t l = nl ? (size_t)(nl - text) : len;
    while (l && (text[0] == ' ' || text[0] == '\t'))
        text++, l--;
    if (l < 4)
        return 1;
    return (s->o->prefix_len && memmem(s->o->prefix, s->o->prefix_len, text, l)) ||
           (s->o->suffix_len && memmem(s->o->suffix, s->o->suffix_len, text, l));
}

static int is_imported(const struct sel *s, const char *path)
{
    for (int i = 0; i < s->n_imports; i++)
        if (!strcmp(s->imports[i], path))
            return 1;
    return 0;
}

static int same_dir(const struct sel *s, const char *path)
{
    const char *sl = strrchr(path, '/');
    size_t dl = sl ? (size_t)(sl - path) : 0;
    return dl == strlen(s->dir) && !strncmp(path, s->dir, dl);
}

static int gather(struct sel *s)
{
    int rc = 0;
    struct ctx__hit h[OUTLINE_DEFS > HITS_PER_NAME ? OUTLINE_DEFS : HITS_PER_NAME];
    /* definitions of identifiers near the cursor */
    for (int i = 0; i < s->n_id && s->o->index; i++) {
        int n = ctx__index_lookup(s->o->index, s->id[i].s, s->id[i].len, h, HITS_PER_NAME);
        if (n < 0)
            return n;
        /* rank: imported files, then the same folder, then by path */
        int rank[HITS_PER_NAME];
        for (int k = 0; k < n; k++)
            rank[k] = is_imported(s, h[k].path) ? 0 : same_dir(s, h[k].path) ? 1 : 2;
        /* a common name defined all over the workspace (get, run, init) and nowhere near this
         * file says little: skip it */
        int near = 0;
        for (int k = 0; k < n; k++)
            near |= rank[k] < 2;
        int kept = (n >= AMBIGUOUS_HITS && !near) ? KEEP_PER_NAME : 0, first_rank = 0;
        while (kept < KEEP_PER_NAME && !rc) {
            int best = -1;
            for (int k = 0; k < n; k++)
                if (h[k].text && (best < 0 || rank[k] < rank[best] ||
                                  (rank[k] == rank[best] && strcmp(h[k].path, h[best].path) < 0)))
                    best = k;
            if (best < 0 || (kept && rank[best] > first_rank))
                break; /* a second definition only when the choice is ambiguous */
            struct ctx__hit *b = &h[best];
            if (!kept)
                first_rank = rank[best];
            if (!strcmp(b->path, s->cur) && in_window(s, b->text, b->text_len)) {
                sk_free(b->text); /* the model sees it already */
            } else {
                rc = push(s, b->path, b->lang, b->text, b->text_len, b->start, G_DEF,
                          i * 4 + kept);
                kept++;
            }
            b->text = NULL;
        }
        for (int k = 0; k < n; k++)
            ctx__hit_clear(&h[k]);
        if (rc)
            return rc;
    }
    /* outlines of imported files: the first line of each top-level definition */
    for (int i = 0; i < s->n_imports; i++) {
        int n = ctx__index_file_defs(s->o->index, s->imports[i], h, OUTLINE_DEFS);
        if (n < 0)
            return n;
        size_t tot = 0;
        for (int k = 0; k < n; k++)
            tot += h[k].text_len + 1;
        char *t = n ? sk_malloc(tot + 1) : NULL;
        size_t o = 0;
        if (t)
            for (int k = 0; k < n; k++) {
                const char *nl = memchr(h[k].text, '\n', h[k].text_len);
                size_t l = nl ? (size_t)(nl - h[k].text) + 1 : h[k].text_len;
                memcpy(t + o, h[k].text, l);
                o += l;
            }
        enum ctx_lang lang = n ? h[0].lang : CTX_LANG_NONE;
        for (int k = 0; k < n; k++)
            ctx__hit_clear(&h[k]);
        if (n && !t)
            return -ENOMEM;
        if (t) {
            t[o] = 0;
            if ((rc = push(s, s->imports[i], lang, t, o, 0, G_OUTLINE, 1000 + i)))
                return rc;
        }
    }
    /* recently edited chunks of other files, newest first */
    struct ctx__chunk ch[CTX_RING_SLOTS];
    int n = ctx__ring_snapshot(s->o->ring, s->cur, ch, CTX_RING_SLOTS);
    if (n < 0)
        return n;
    for (int k = 0; k < n; k++) {
        /* the ring may hold URIs or absolute paths: compare and show display paths */
        char dp[4096];
        if (ctx__index_display_path(s->o->index, ch[k].path, dp, sizeof dp) ||
            !strcmp(dp, s->cur) || (s->o->path && !strcmp(ch[k].path, s->o->path))) {
            ctx__chunk_clear(&ch[k]);
            continue;
        }
        if (!rc)
            rc = push(s, dp, ch[k].lang, ch[k].text, ch[k].len, (uint32_t)ch[k].seq,
                      G_RING, 2000 - (int)(ch[k].seq % 1000));
        ch[k].text = NULL;
        ctx__chunk_clear(&ch[k]);
    }
    return rc;
}

/* 1 when c's text lies inside a chosen snippet of the same file. */
static int contained(const struct sel *s, const struct cand *c)
{
    for (int k = 0; k < s->n; k++)
        if (s->c[k].chosen && s->c[k].group != G_OUTLINE && !strcmp(s->c[k].path, c->path) &&
            memmem(s->c[k].text, s->c[k].len, c->text, c->len))
            return 1;
    return 0;
}

/* Appends the lines of an outline that no chosen snippet of its file shows already. */
static size_t outline_lines(const struct sel *s, const struct cand *c, char *t)
{
    size_t o = 0;
    for (size_t i = 0; i < c->len;) {
        const char *nl = memchr(c->text + i, '\n', c->len - i);
        size_t e = nl ? (size_t)(nl - c->text) + 1 : c->len;
        int shown = 0;
        for (int k = 0; k < s->n && !shown; k++)
            shown = s->c[k].chosen && s->c[k].group == G_DEF && !strcmp(s->c[k].path, c->path) &&
                    memmem(s->c[k].text, s->c[k].len, c->text + i, e - i);
        if (!shown) {
            memcpy(t + o, c->text + i, e - i);
            o += e - i;
        }
        i = e;
    }
    return o;
}

static int cmp_prio(const void *a, const void *b)
{
    const struct cand *x = *(struct cand *const *)a, *y = *(struct cand *const *)b;
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    int c = strcmp(x->path, y->path);
    return c ? c : (x->start > y->start) - (x->start < y->start);
}

static int cmp_stable(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (c)
        return c;
    if (x->group != y->group)
        return x->group - y->group;
    if (x->start != y->start)
        return (x->start > y->start) - (x->start < y->start);
    size_t m = x->len < y->len ? x->len : y->len;
    c = memcmp(x->text, y->text, m);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int count_tokens(const struct eng_vocab *v, const char *t, size_t n)
{
    if (!n)
        return 0;
    int k = eng_tokenize(v, t, n, 0, 0, NULL, 0);
    return k < 0 ? (k == -ENOMEM ? -ENOMEM : -EINVAL) : k;
}

/* Writes the chosen candidates (s->c sorted stably) into out; returns the length or -ENOMEM. */
static int64_t assemble(struct sel *s, char **out, int *n_snip, int *n_files)
{
    size_t cap = 1;
    for (int i = 0; i < s->n; i++)
        if (s->c[i].chosen)
            cap += s->c[i].len + strlen(s->c[i].path) + 16;
    char *t = sk_malloc(cap);
    if (!t)
        return -ENOMEM;
    size_t o = 0;
    const char *last = NULL;
    *n_snip = *n_files = 0;
    for (int i = 0; i < s->n; i++) {
        const struct cand *c = &s->c[i];
        if (!c->chosen)
            continue;
        size_t mark = o;
        const char *prev_last = last;
        int new_file = !last || strcmp(last, c->path);
        if (new_file) {
            enum ctx_lang hl = ctx_fim_comment_prefix(c->lang) ? c->lang : s->o->lang;
            int h = ctx_fim_header(hl, c->path, t + o, cap - o);
            if (h > 0) {
                o += (size_t)h;
                (*n_files)++;
            }
            last = c->path;
        } else {
            t[o++] = '\n'; /* a blank line between snippets of one file */
        }
        if (c->group == G_OUTLINE) {
            size_t l = outline_lines(s, c, t + o);
            if (l == 0) { /* everything shown already: undo the header or separator */
                o = mark;
                if (new_file) {
                    (*n_files)--;
                    last = prev_last;
                }
                continue;
            }
            o += l;
        } else {
            memcpy(t + o, c->text, c->len);
            o += c->len;
        }
        (*n_snip)++;
    }
    t[o] = 0;
    *out = t;
    return (int64_t)o;
}

int ctx_xfile_build(const struct ctx_xfile_opts *o, struct ctx_xfile_result *out)
{
    memset(out, 0, sizeof *out);
    if (!o || !o->vocab || (!o->prefix && o->prefix_len) || (!o->suffix && o->suffix_len))
        return -EINVAL;
    struct sel *s = sk_calloc(1, sizeof *s);
    char *w = NULL;
    int rc = -ENOMEM;
    if (!s)
        return -ENOMEM;
    s->o = o;
    int budget = o->budget_tokens ? o->budget_tokens : DEFAULT_BUDGET;
    if (budget < 0)
        goto empty;
    if (o->path && ctx__index_display_path(o->index, o->path, s->cur, sizeof s->cur))
        s->cur[0] = 0;
    snprintf(s->dir, sizeof s->dir, "%s", s->cur);
    char *sl = strrchr(s->dir, '/');
    if (sl)
        *sl = 0;
    else
        s->dir[0] = 0;
    ctx__ts_init();
    w = near_idents(s);
    if (!w && ctx__ts_language(o->lang))
        goto fail;
    scan_imports(s);
    if ((rc = gather(s)))
        goto fail;
    out->n_candidates = s->n;
    /* choose by priority while the tokens fit (headers counted once per file) */
    struct cand **order = sk_malloc((size_t)(s->n ? s->n : 1) * sizeof *order);
    if (!order) {
        rc = -ENOMEM;
        goto fail;
    }
    for (int i = 0; i < s->n; i++)
        order[i] = &s->c[i];
    qsort(order, (size_t)s->n, sizeof *order, cmp_prio);
    int used = 0;
    for (int i = 0; i < s->n && budget - used >= 8; i++) {
        struct cand *c = order[i];
        if (contained(s, c))
            continue;
        int cost = count_tokens(o->vocab, c->text, c->len) + 1;
        int header_new = 1;
        for (int k = 0; k < s->n; k++)
            if (s->c[k].chosen && !strcmp(s->c[k].path, c->path))
                header_new = 0;
        if (header_new) {
            char hb[4200];
            enum ctx_lang hl = ctx_fim_comment_prefix(c->lang) ? c->lang : o->lang;
            int h = ctx_fim_header(hl, c->path, hb, sizeof hb);
            cost += h > 0 ? count_tokens(o->vocab, hb, (size_t)h) : 0;
        }
        if (cost < 0) {
            rc = cost;
            sk_free(order);
            goto fail;
        }
        if (used + cost > budget)
            continue;
        used += cost;
        c->chosen = 1;
        /* chosen snippets inside this one are now redundant */
        for (int k = 0; k < s->n; k++)
            if (s->c[k].chosen && &s->c[k] != c && s->c[k].group == G_DEF &&
                c->group != G_OUTLINE && !strcmp(s->c[k].path, c->path) &&
                memmem(c->text, c->len, s->c[k].text, s->c[k].len))
                s->c[k].chosen = 0;
    }
    /* stable order, then the exact count; drop the least wanted while over budget (vocabularies
     * whose tokens can merge across the joins) */
    for (int i = 0; i < s->n; i++)
        order[i]->prio = i; /* rank after the priority sort */
    qsort(s->c, (size_t)s->n, sizeof s->c[0], cmp_stable);
    sk_free(order);
    for (;;) {
        char *t;
        int64_t len = assemble(s, &t, &out->n_snippets, &out->n_files);
        if (len < 0) {
            rc = (int)len;
            goto fail;
        }
        int n = count_tokens(o->vocab, t, (size_t)len);
        if (n < 0) {
            sk_free(t);
            rc = n;
            goto fail;
        }
        if (n <= budget) {
            out->text = t;
            out->len = (size_t)len;
            out->n_tokens = n;
            break;
        }
        sk_free(t);
        int worst = -1;
        for (int i = 0; i < s->n; i++)
            if (s->c[i].chosen && (worst < 0 || s->c[i].prio > s->c[worst].prio))
                worst = i;
        s->c[worst].chosen = 0;
    }
    rc = 0;
    goto done;
empty:
    out->text = sk_strdup("");
    rc = out->text ? 0 : -ENOMEM;
    goto done;
fail:
    ctx_xfile_free(out);
done:
    if (s)
        for (int i = 0; i < s->n; i++) {
            sk_free(s->c[i].path);
            sk_free(s->c[i].text);
        }
    sk_free(w);
    sk_free(s);
    return rc;
}

void ctx_xfile_free(struct ctx_xfile_result *r)
{
    if (!r)
        return;
    sk_free(r->text);
    memset(r, 0, sizeof *r);
}
