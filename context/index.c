/*
 * The workspace symbol index (contract in context.h, "cross-file context").
 *
 * Workload: a walk of up to max_files source files at startup (a 100-file workspace takes tens
 * of ms, 5,000 files a few seconds of one core, all on the worker thread), then a re-extraction
 * per didChange / didSave / watched-file event (one file each, coalesced by path while queued),
 * and a few dozen name lookups per completion request from the inference thread.
 *
 * Structure: one record per file (display path, definitions, their text in one string block),
 * immutable once built; two chained hash tables (files by path, definitions by name) whose chain
 * links live inside the records.  The worker builds a record with no lock held, then takes the
 * mutex to unlink the old record and link the new one.  Lookups hold the mutex while they copy
 * the definitions they return.
 */
#include "base.h"
#include "xfile_int.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define FILE_BUCKETS 8192u
#define SYM_BUCKETS 65536u
#define MAX_DEPTH 48

struct sym {
    uint64_t h;
    struct frec *f;
    uint32_t i;
    struct sym *next;
};

struct frec {
    char *path;          /* display path */
    uint64_t h;
    enum ctx_lang lang;
    struct ctx__def *defs;
    uint32_t n_defs;
    char *strings;
    struct sym *syms;    /* [n_defs] */
    struct frec *next;
};

enum op_kind { OP_TEXT, OP_DISK, OP_REMOVE };
struct op {
    enum op_kind kind;
    char *path;          /* display path */
    char *text;
    size_t len;
    struct op *next;
};

struct ctx_index {
    char *root;          /* absolute, no trailing slash ("" = none) */
    size_t root_len;
    size_t max_bytes;
    int max_files;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv, idle_cv;
    int stop, busy, walking;
    struct op *q, *q_tail;
    /* shared under mu */
    struct frec *files[FILE_BUCKETS];
    struct sym *syms[SYM_BUCKETS];
    int n_files, n_defs;
    int skipped_big, skipped_count, ignored;
    double walk_ms, walk_cpu_ms;
    /* worker only */
    struct ctx__gi *gi;
};

static uint64_t hash_str(const char *s, size_t n)
{
    return sk_hash64(s, n, 0x9e3779b97f4a7c15ull);
}

static void frec_free(struct frec *f)
{
    if (!f)
        return;
    sk_free(f->path);
    sk_free(f->defs);
    sk_free(f->strings);
    sk_free(f->syms);
    sk_free(f);
}

/* Under mu. */
static struct frec **file_slot(ctx_index *ix, const char *path, uint64_t h)
{
    struct frec **p = &ix->files[h % FILE_BUCKETS];
    while (*p && ((*p)->h != h || strcmp((*p)->path, path)))
        p = &(*p)->next;
    return p;
}

/* Under mu: unlinks f's definitions and f itself (which the caller frees). */
static void unlink_file(ctx_index *ix, struct frec **slot)
{
    struct frec *f = *slot;
    for (uint32_t i = 0; i < f->n_defs; i++) {
        struct sym **p = &ix->syms[f->syms[i].h % SYM_BUCKETS];
        while (*p && *p != &f->syms[i])
            p = &(*p)->next;
        if (*p)
            *p = f->syms[i].next;
    }
    *slot = f->next;
    ix->n_files--;
    ix->n_defs -= (int)f->n_defs;
}

/* Under mu. */
static void link_file(ctx_index *ix, struct frec *f)
{
    struct frec **slot = file_slot(ix, f->path, f->h);
    f->next = NULL;
    *slot = f;
    for (uint32_t i = 0; i < f->n_defs; i++) {
        struct sym *s = &f->syms[i];
        struct sym **b = &ix->syms[s->h % SYM_BUCKETS];
        s->next = *b;
        *b = s;
    }
    ix->n_files++;
    ix->n_defs += (int)f->n_defs;
}

/* Builds a record (no lock held).  NULL + *rc on failure; a file without a grammar gets an
 * empty record (it still resolves imports). */
static struct frec *frec_build(const char *path, const char *text, size_t len, int *rc)
{
    struct frec *f = sk_calloc(1, sizeof *f);
    *rc = -ENOMEM;
    if (!f || !(f->path = sk_strdup(path)))
        goto fail;
    f->h = hash_str(path, strlen(path));
    f->lang = ctx_lang_from_path(path);
    size_t sl;
    *rc = ctx__extract_defs(f->lang, text, len, &f->defs, &f->n_defs, &f->strings, &sl);
    if (*rc == -EINVAL) { /* no grammar */
        *rc = 0;
        return f;
    }
    if (*rc)
        goto fail;
    *rc = -ENOMEM;
    if (f->n_defs && !(f->syms = sk_calloc(f->n_defs, sizeof *f->syms)))
        goto fail;
    for (uint32_t i = 0; i < f->n_defs; i++) {
        f->syms[i].h = hash_str(f->strings + f->defs[i].name_off, f->defs[i].name_len);
        f->syms[i].f = f;
        f->syms[i].i = i;
    }
    *rc = 0;
    return f;
fail:
    frec_free(f);
    return NULL;
}

/* Replaces (f != NULL) or removes the record of path.  Takes mu. */
static void publish(ctx_index *ix, const char *path, struct frec *f)
{
    struct frec *old = NULL;
    pthread_mutex_lock(&ix->mu);
    struct frec **slot = file_slot(ix, path, hash_str(path, strlen(path)));
    if (*slot) {
        old = *slot;
        unlink_file(ix, slot);
    }
    if (f) {
        if (!old && ix->n_files >= ix->max_files) {
            ix->skipped_count++;
            old = f;
        } else {
            link_file(ix, f);
        }
    }
    pthread_mutex_unlock(&ix->mu);
    frec_free(old);
}

static int abs_path(const ctx_index *ix, const char *display, char *buf, size_t cap)
{
    int n = display[0] == '/' || !ix->root_len ? snprintf(buf, cap, "%s", display)
                                               : snprintf(buf, cap, "%s/%s", ix->root, display);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Reads and indexes one file from disk (worker). */
static void index_disk(ctx_index *ix, const char *display)
{
    char ap[4096];
    if (abs_path(ix, display, ap, sizeof ap))
        return;
    struct stat st;
    if (lstat(ap, &st) || !S_ISREG(st.st_mode)) {
        publish(ix, display, NULL);
        return;
    }
    if ((size_t)st.st_size > ix->max_bytes) {
        pthread_mutex_lock(&ix->mu);
        ix->skipped_big++;
        pthread_mutex_unlock(&ix->mu);
        publish(ix, display, NULL);
        return;
    }
    char *text = NULL;
    size_t len = 0;
    if (sk_read_file(ap, ix->max_bytes, &text, &len)) {
        publish(ix, display, NULL);
        return;
    }
    int rc;
    struct frec *f = frec_build(display, text, len, &rc);
    sk_free(text);
    if (f)
        publish(ix, display, f);
}

static int skip_dir_name(const char *n)
{
    static const char *const names[] = {
        ".git", ".hg", ".svn", "node_modules", "vendor", "build", "dist", "target", "out",
        "__pycache__", ".venv", "venv", ".tox", ".cache", ".idea", ".vscode", "bower_components",
        ".mypy_cache", ".pytest_cache", ".next", ".gradle",
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(names); i++)
        if (!strcmp(n, names[i]))
            return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void drain_queue(ctx_index *ix);

static int stopping(ctx_index *ix)
{
    pthread_mutex_lock(&ix->mu);
    int s = ix->stop;
    pthread_mutex_unlock(&ix->mu);
    return s;
}

/* Walks folder rel ("" = root), sorted by name so the file cap keeps the same files. */
static void walk_dir(ctx_index *ix, const char *rel, int depth)
{
    if (depth > MAX_DEPTH || stopping(ix))
        return;
    char dp[4096];
    if (abs_path(ix, *rel ? rel : ".", dp, sizeof dp))
        return;
    if (!*rel)
        snprintf(dp, sizeof dp, "%s", ix->root);
    /* this folder's .gitignore first */
    char gp[4200];
    snprintf(gp, sizeof gp, "%s/.gitignore", dp);
    char *gt = NULL;
    size_t gl = 0;
    if (!sk_read_file(gp, 1 << 20, &gt, &gl)) {
        ctx__gi_add(ix->gi, rel, gt, gl);
        sk_free(gt);
    }
    DIR *d = opendir(dp);
    if (!d)
        return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **v = sk_realloc(names, nc * sizeof *v);
            if (!v)
                break;
            names = v;
            cap = nc;
        }
        if (!(names[n] = sk_strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char rp[4096], ap[4200];
        int l = *rel ? snprintf(rp, sizeof rp, "%s/%s", rel, names[i])
                     : snprintf(rp, sizeof rp, "%s", names[i]);
        if (l < 0 || (size_t)l >= sizeof rp || stopping(ix))
            continue;
        snprintf(ap, sizeof ap, "%s/%s", ix->root, rp);
        struct stat st;
        if (lstat(ap, &st))
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (skip_dir_name(names[i]) || ctx__gi_ignored(ix->gi, rp, 1))
                continue;
            walk_dir(ix, rp, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            if (ctx_lang_from_path(names[i]) == CTX_LANG_NONE ||
                ctx_lang_from_path(names[i]) == CTX_LANG_JSON)
                continue;
            if (ctx__gi_ignored(ix->gi, rp, 0)) {
                pthread_mutex_lock(&ix->mu);
                ix->ignored++;
                pthread_mutex_unlock(&ix->mu);
                continue;
            }
            pthread_mutex_lock(&ix->mu);
            int full = ix->n_files >= ix->max_files;
            if (full)
                ix->skipped_count++;
            pthread_mutex_unlock(&ix->mu);
            if (!full)
                index_disk(ix, rp);
            drain_queue(ix); /* the editor's updates come before the rest of the walk */
        }
    }
    for (size_t i = 0; i < n; i++)
        sk_free(names[i]);
    sk_free(names);
}

static void op_free(struct op *o)
{
    if (!o)
        return;
    sk_free(o->path);
    sk_free(o->text);
    sk_free(o);
}

/* Runs every queued op (worker). */
static void drain_queue(ctx_index *ix)
{
    for (;;) {
        pthread_mutex_lock(&ix->mu);
        struct op *o = ix->stop ? NULL : ix->q;
        if (o) {
            ix->q = o->next;
            if (!ix->q)
                ix->q_tail = NULL;
        }
        pthread_mutex_unlock(&ix->mu);
        if (!o)
            return;
        if (o->kind == OP_REMOVE) {
            publish(ix, o->path, NULL);
        } else if (o->kind == OP_TEXT) {
            int rc;
            struct frec *f = frec_build(o->path, o->text, o->len, &rc);
            if (f)
                publish(ix, o->path, f);
        } else {
            const char *b = strrchr(o->path, '/');
            if (o->path[0] != '/' && ctx__gi_ignored(ix->gi, o->path, 0))
                publish(ix, o->path, NULL);
            else if (ctx_lang_from_path(b ? b + 1 : o->path) != CTX_LANG_NONE)
                index_disk(ix, o->path);
        }
        op_free(o);
    }
}

static void *worker(void *arg)
{
    ctx_index *ix = arg;
    if (ix->root_len) {
        uint64_t t0 = sk_real_now_ns();
        struct timespec c0, c1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
        walk_dir(ix, "", 0);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        pthread_mutex_lock(&ix->mu);
        ix->walk_ms = (double)(sk_real_now_ns() - t0) / 1e6;
        ix->walk_cpu_ms = (double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6;
        pthread_mutex_unlock(&ix->mu);
    }
    pthread_mutex_lock(&ix->mu);
    ix->walking = 0;
    pthread_mutex_unlock(&ix->mu);
    for (;;) {
        drain_queue(ix);
        pthread_mutex_lock(&ix->mu);
        if (!ix->q && !ix->stop) {
            ix->busy = 0;
            pthread_cond_broadcast(&ix->idle_cv);
            pthread_cond_wait(&ix->cv, &ix->mu);
        }
        int stop = ix->stop;
        pthread_mutex_unlock(&ix->mu);
        if (stop)
            break;
    }
    return NULL;
}

int ctx__index_display_path(const ctx_index *ix, const char *p, char *buf, size_t cap)
{
    if (!p || !cap)
        return -EINVAL;
    size_t o = 0;
    if (!strncmp(p, "file://", 7)) {
        p += 7;
        if (*p != '/') { /* file://host/path: skip the host */
            const char *s = strchr(p, '/');
            p = s ? s : "";
        }
        /* percent-decoding */
        for (; *p && o + 1 < cap; p++) {
            int hi, lo;
            if (p[0] == '%' && p[1] && p[2] &&
                (hi = (p[1] >= '0' && p[1] <= '9') ? p[1] - '0'
                      : ((p[1] | 32) >= 'a' && (p[1] | 32) <= 'f') ? (p[1] | 32) - 'a' + 10 : -1) >= 0 &&
                (lo = (p[2] >= '0' && p[2] <= '9') ? p[2] - '0'
                      : ((p[2] | 32) >= 'a' && (p[2] | 32) <= 'f') ? (p[2] | 32) - 'a' + 10 : -1) >= 0) {
                buf[o++] = (char)(hi * 16 + lo);
                p += 2;
            } else {
                buf[o++] = *p;
            }
        }
        if (*p)
            return -ENAMETOOLONG;
        buf[o] = 0;
    } else {
        size_t n = strlen(p);
        if (n + 1 > cap)
            return -ENAMETOOLONG;
        memcpy(buf, p, n + 1);
    }
    if (ix && ix->root_len && !strncmp(buf, ix->root, ix->root_len) && buf[ix->root_len] == '/')
        memmove(buf, buf + ix->root_len + 1, strlen(buf + ix->root_len + 1) + 1);
    while (buf[0] == '.' && buf[1] == '/')
        memmove(buf, buf + 2, strlen(buf + 2) + 1);
    return buf[0] ? 0 : -EINVAL;
}

int ctx_index_new(const struct ctx_index_opts *o, ctx_index **out)
{
    *out = NULL;
    ctx_index *ix = sk_calloc(1, sizeof *ix);
    if (!ix)
        return -ENOMEM;
    int rc = -ENOMEM;
    const char *root = o && o->root ? o->root : "";
    char rb[4096] = "";
    if (*root) {
        if (ctx__index_display_path(NULL, root, rb, sizeof rb)) {
            rc = -EINVAL;
            goto fail_nomu;
        }
        size_t l = strlen(rb);
        while (l > 1 && rb[l - 1] == '/')
            rb[--l] = 0;
        struct stat st;
        if (stat(rb, &st) || !S_ISDIR(st.st_mode)) {
            rc = -EINVAL;
            goto fail_nomu;
        }
    }
    if (!(ix->root = sk_strdup(rb)) || !(ix->gi = ctx__gi_new()))
        goto fail_nomu;
    ix->root_len = strlen(rb);
    ix->max_bytes = o && o->max_file_bytes ? o->max_file_bytes : (size_t)1 << 20;
    ix->max_files = o && o->max_files > 0 ? o->max_files : 5000;
    ix->walking = ix->root_len > 0;
    ix->busy = 1;
    pthread_mutex_init(&ix->mu, NULL);
    pthread_cond_init(&ix->cv, NULL);
    pthread_cond_init(&ix->idle_cv, NULL);
    if ((rc = pthread_create(&ix->th, NULL, worker, ix))) {
        rc = -rc;
        pthread_mutex_destroy(&ix->mu);
        pthread_cond_destroy(&ix->cv);
        pthread_cond_destroy(&ix->idle_cv);
        goto fail_nomu;
    }
    *out = ix;
    return 0;
fail_nomu:
    ctx__gi_free(ix->gi);
    sk_free(ix->root);
    sk_free(ix);
    return rc;
}

void ctx_index_delete(ctx_index *ix)
{
    if (!ix)
        return;
    pthread_mutex_lock(&ix->mu);
    ix->stop = 1;
    pthread_cond_broadcast(&ix->cv);
    pthread_mutex_unlock(&ix->mu);
    pthread_join(ix->th, NULL);
    while (ix->q) {
        struct op *o = ix->q;
        ix->q = o->next;
        op_free(o);
    }
    for (size_t b = 0; b < FILE_BUCKETS; b++)
        while (ix->files[b]) {
            struct frec *f = ix->files[b];
            ix->files[b] = f->next;
            frec_free(f);
        }
    ctx__gi_free(ix->gi);
    pthread_mutex_destroy(&ix->mu);
    pthread_cond_destroy(&ix->cv);
    pthread_cond_destroy(&ix->idle_cv);
    sk_free(ix->root);
    sk_free(ix);
}

static int enqueue(ctx_index *ix, enum op_kind kind, const char *path, const char *text,
                   size_t len)
{
    char dp[4096];
    if (!ix || !path || (kind == OP_TEXT && !text && len))
        return -EINVAL;
    if (ctx__index_display_path(ix, path, dp, sizeof dp))
        return -EINVAL;
    if (kind == OP_TEXT && len > ix->max_bytes)
        kind = OP_REMOVE;
    struct op *o = sk_calloc(1, sizeof *o);
    if (!o || !(o->path = sk_strdup(dp)) ||
        (kind == OP_TEXT && !(o->text = sk_malloc(len + 1)))) {
        op_free(o);
        return -ENOMEM;
    }
    o->kind = kind;
    if (kind == OP_TEXT) {
        if (len)
            memcpy(o->text, text, len);
        o->text[len] = 0;
        o->len = len;
    }
    pthread_mutex_lock(&ix->mu);
    /* coalesce: a queued op of the same path is superseded */
    struct op **p = &ix->q;
    ix->q_tail = NULL;
    while (*p) {
        if (!strcmp((*p)->path, o->path)) {
            struct op *dead = *p;
            *p = dead->next;
            op_free(dead);
            continue;
        }
        ix->q_tail = *p;
        p = &(*p)->next;
    }
    *p = o;
    ix->q_tail = o;
    ix->busy = 1;
    pthread_cond_broadcast(&ix->cv);
    pthread_mutex_unlock(&ix->mu);
    return len > ix->max_bytes ? -EFBIG : 0;
}

int ctx_index_update_file(ctx_index *ix, const char *path, const char *text, size_t len)
{
    return enqueue(ix, text ? OP_TEXT : OP_DISK, path, text, len);
}

int ctx_index_remove(ctx_index *ix, const char *path)
{
    return enqueue(ix, OP_REMOVE, path, NULL, 0);
}

int ctx_index_wait(ctx_index *ix, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&ix->mu);
    while ((ix->busy || ix->walking || ix->q) && !ix->stop && !rc)
        rc = timeout_ms ? pthread_cond_timedwait(&ix->idle_cv, &ix->mu, &ts)
                        : pthread_cond_wait(&ix->idle_cv, &ix->mu);
    pthread_mutex_unlock(&ix->mu);
    return rc ? -ETIMEDOUT : 0;
}

void ctx_index_stats(ctx_index *ix, struct ctx_index_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!ix)
        return;
    pthread_mutex_lock(&ix->mu);
    st->files = ix->n_files;
    st->defs = ix->n_defs;
    st->skipped_big = ix->skipped_big;
    st->skipped_count = ix->skipped_count;
    st->ignored = ix->ignored;
    st->walking = ix->walking;
    st->walk_ms = ix->walk_ms;
    st->walk_cpu_ms = ix->walk_cpu_ms;
    pthread_mutex_unlock(&ix->mu);
}

void ctx__hit_clear(struct ctx__hit *h)
{
    sk_free(h->path);
    sk_free(h->text);
    memset(h, 0, sizeof *h);
}

static int hit_fill(struct ctx__hit *h, const struct frec *f, uint32_t i)
{
    const struct ctx__def *d = &f->defs[i];
    h->path = sk_strdup(f->path);
    h->text = sk_strndup(f->strings + d->text_off, d->text_len);
    if (!h->path || !h->text) {
        ctx__hit_clear(h);
        return -ENOMEM;
    }
    h->lang = f->lang;
    h->text_len = d->text_len;
    h->start = d->start;
    h->line = d->line;
    h->kind = d->kind;
    h->top = d->top;
    return 0;
}

int ctx__index_lookup(ctx_index *ix, const char *name, size_t len, struct ctx__hit *out, int max)
{
    if (!ix || !len || max <= 0)
        return 0;
    uint64_t h = hash_str(name, len);
    int n = 0, rc = 0;
    pthread_mutex_lock(&ix->mu);
    for (struct sym *s = ix->syms[h % SYM_BUCKETS]; s && n < max; s = s->next) {
        const struct ctx__def *d = &s->f->defs[s->i];
        if (s->h != h || d->name_len != len || memcmp(s->f->strings + d->name_off, name, len))
            continue;
        if ((rc = hit_fill(&out[n], s->f, s->i)))
            break;
        n++;
    }
    pthread_mutex_unlock(&ix->mu);
    if (rc) {
        for (int i = 0; i < n; i++)
            ctx__hit_clear(&out[i]);
        return rc;
    }
    return n;
}

int ctx__index_file_defs(ctx_index *ix, const char *rel, struct ctx__hit *out, int max)
{
    if (!ix || max <= 0)
        return 0;
    int n = 0, rc = 0;
    pthread_mutex_lock(&ix->mu);
    struct frec *f = *file_slot(ix, rel, hash_str(rel, strlen(rel)));
    for (uint32_t i = 0; f && i < f->n_defs && n < max; i++) {
        if (!f->defs[i].top)
            continue;
        if ((rc = hit_fill(&out[n], f, i)))
            break;
        n++;
    }
    pthread_mutex_unlock(&ix->mu);
    if (rc) {
        for (int i = 0; i < n; i++)
            ctx__hit_clear(&out[i]);
        return rc;
    }
    return n;
}

int ctx__index_resolve(ctx_index *ix, const char *const *cands, int n_cands,
                       const char *const *suffixes, int n_suffixes, char *buf, size_t cap)
{
    if (!ix)
        return -ENOENT;
    int rc = -ENOENT;
    pthread_mutex_lock(&ix->mu);
    for (int i = 0; i < n_cands && rc; i++)
        if (*file_slot(ix, cands[i], hash_str(cands[i], strlen(cands[i]))) &&
            strlen(cands[i]) < cap) {
            strcpy(buf, cands[i]);
            rc = 0;
        }
    for (int k = 0; k < n_suffixes && rc; k++) {
        /* the shortest, then smallest, path ending with "/" suffix (or equal to it) */
        const char *best = NULL;
        size_t sl = strlen(suffixes[k]);
        for (size_t b = 0; b < FILE_BUCKETS; b++)
            for (struct frec *f = ix->files[b]; f; f = f->next) {
                size_t pl = strlen(f->path);
                if (pl < sl || strcmp(f->path + pl - sl, suffixes[k]) ||
                    (pl > sl && f->path[pl - sl - 1] != '/'))
                    continue;
                if (!best || pl < strlen(best) || (pl == strlen(best) && strcmp(f->path, best) < 0))
                    best = f->path;
            }
        if (best && strlen(best) < cap) {
            strcpy(buf, best);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&ix->mu);
    return rc;
}
