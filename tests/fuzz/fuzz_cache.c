/*
 * Fuzz target for cache/.  The first input byte picks a mode:
 *   even: the rest is a database file (bit 1: with SQLite's magic header stamped on, to get past
 *         the first check; bit 2: the second half is written as the -wal file).  cache_open must
 *         either succeed with a consistent database (garbage is moved aside and rebuilt) or fail
 *         with an error; a put and get must then work.  Never a crash.
 *   odd:  the rest is a sequence of operations (put, get, typed get, set_accepted, record event,
 *         stats, clear, reopen, flush, allocation failure for one operation) on a fresh database
 *         with a small entry limit, checked against a model of what each key last held: a hit
 *         must return the last value put for that key (or, after an operation that failed under
 *         injected allocation failure, the value before it), at the typed offset.
 * Each input uses a fresh file in a per-process temporary folder.
 */
#include "base.h"
#include "cache/cache.h"
#include "cache/cache_int.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], path[128];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}
static void cleanup(void)
{
    if (dir[0])
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void fresh_dir(void)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/seekd-fuzz-cache-XXXXXX");
        if (!mkdtemp(dir))
            abort();
        snprintf(path, sizeof path, "%s/cache.db", dir);
        atexit(cleanup);
        sk_log_set_level(getenv("FUZZ_CACHE_LOG") ? SK_LOG_DEBUG : SK_LOG_OFF);
        cache__test_nosync = 1; /* crash safety is tested in tests/cache, not here */
    }
    /* Empty the folder (the db, its side files, moved-aside copies). */
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    if (mkdir(dir, 0700) != 0)
        abort();
}

static void write_file(const char *p, const uint8_t *d, size_t n)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        abort();
    if (n && write(fd, d, n) != (ssize_t)n)
        abort();
    close(fd);
}

static void must(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_cache: invariant broken: %s\n", what);
        abort();
    }
}

static void garbage_db(const uint8_t *d, size_t n, int flags)
{
    size_t db_n = flags & 4 ? n / 2 : n;
    uint8_t *buf = malloc(db_n + 16);
    memcpy(buf, d, db_n);
    if (flags & 2 && db_n >= 16)
        memcpy(buf, "SQLite format 3", 16);
    write_file(path, buf, db_n);
    free(buf);
    if (flags & 4) {
        char wal[160];
        snprintf(wal, sizeof wal, "%s-wal", path);
        write_file(wal, d + db_n, n - db_n);
    }
    struct cache *c = NULL;
    int rc = cache_open(path, NULL, &c);
    if (rc) {
        must(c == NULL, "failed open returns NULL");
        must(rc != CACHE_E_CORRUPT, "corrupt files are rebuilt, not refused");
        return;
    }
    must(cache__check(c) == 0, "opened database is consistent");
    struct cache_key k = {.prefix = "p", .prefix_len = 1};
    struct cache_entry e = {.text = "v", .text_len = 1}, g;
    must(cache_put(c, &k, &e) == 0, "put after open");
    must(cache_get(c, &k, &g) == 1 && g.text_len == 1 && g.text[0] == 'v', "get after put");
    cache_entry_free(&g);
    struct cache_stats st;
    must(cache_stats(c, &st) == 0, "stats");
    struct cache_stats_summary sum;
    must(cache_stats_summary(c, &sum) == 0, "summary");
    cache_close(c);
}

#define NKEYS 12
#define MAXV 80

struct model {
    char val[NKEYS][MAXV + 1], alt[NKEYS][MAXV + 1]; /* "" = absent */
};

static void key_for(int k, char *prefix, struct cache_key *key)
{
    snprintf(prefix, 8, "pre%02d", k); /* all the same length: none is a prefix of another */
    *key = (struct cache_key){.model = "m", .tmpl = "t", .settings = k % 3 ? "a" : "b",
                              .prefix = prefix, .prefix_len = 5, .suffix = ")",
                              .suffix_len = 1};
}

static int matches(const struct model *m, int k, const char *text, size_t len, size_t off)
{
    for (int i = 0; i < 2; i++) {
        const char *v = i ? m->alt[k] : m->val[k];
        size_t vl = strlen(v);
        if (vl && off < vl && vl - off == len && memcmp(v + off, text, len) == 0)
            return 1;
    }
    return 0;
}

static void op_sequence(const uint8_t *d, size_t n)
{
    struct cache_opts o = {.max_entries = 6, .max_bytes = 4096, .busy_timeout_ms = 100};
    struct cache *c = NULL;
    if (cache_open(path, &o, &c) != 0)
        abort();
    struct model *m = calloc(1, sizeof *m);
    size_t i = 0;
    int inject = -1;
    while (i + 2 <= n) {
        uint8_t op = d[i++] % 11, arg = d[i++];
        int k = arg % NKEYS, rc;
        char prefix[8], now[8 + MAXV];
        struct cache_key key;
        key_for(k, prefix, &key);
        if (inject >= 0)
            sk_alloc_fail_after(inject);
        switch (op) {
        case 0: case 1: { /* put: value from the following bytes */
            char v[MAXV + 1];
            size_t len = 1 + (size_t)(arg >> 4) * 5;
            for (size_t j = 0; j < len; j++)
                v[j] = (char)('a' + (i + j < n ? d[i + j] : j) % 5);
            v[len] = 0;
            struct cache_entry e = {.text = v, .text_len = len, .tokens = arg};
            rc = cache_put(c, &key, &e);
            if (rc == 0) {
                snprintf(m->val[k], sizeof m->val[k], "%s", v);
                m->alt[k][0] = 0;
            } else {
                if (!(inject >= 0 || rc == CACHE_E_TOOBIG))
                    fprintf(stderr, "put rc %d (%s)\n", rc, cache_strerror(rc));
                must(inject >= 0 || rc == CACHE_E_TOOBIG, "put fails only under injection");
                /* Unknown whether it landed: accept either. */
                snprintf(m->alt[k], sizeof m->alt[k], "%s", v);
            }
            if (rc == 0 && inject < 0) {
                struct cache_entry g;
                must(cache_get(c, &key, &g) == 1, "a value just put is never evicted");
                must(matches(m, k, g.text, g.text_len, 0), "value just put");
                cache_entry_free(&g);
            }
            break;
        }
        case 2: { /* exact get */
            struct cache_entry g;
            rc = cache_get(c, &key, &g);
            must(rc == 0 || rc == 1 || inject >= 0, "get errors only under injection");
            if (rc == 1)
                must(matches(m, k, g.text, g.text_len, 0), "exact hit returns the last value");
            cache_entry_free(&g);
            break;
        }
        case 3: case 4: { /* typed get: type t bytes of the value, maybe diverging */
            const char *v = m->val[k][0] ? m->val[k] : "abc";
            size_t t = SK_MIN((size_t)(arg >> 4), strlen(v));
            memcpy(now, prefix, 5);
            memcpy(now + 5, v, t);
            if (op == 4 && t)
                now[5 + t - 1] = 'z'; /* values only use a..e: diverges */
            key.prefix = now;
            key.prefix_len = 5 + t;
            struct cache_entry g;
            size_t off = 99;
            rc = cache_get_typed(c, &key, &g, &off);
            must(rc == 0 || rc == 1 || inject >= 0, "typed errors only under injection");
            if (rc == 1) {
                must(op == 3 || t == 0, "diverged text never hits");
                must(off == t, "offset is what was typed");
                must(g.text_len > 0, "never an empty rest");
                must(matches(m, k, g.text, g.text_len, off), "typed hit returns the rest");
            }
            cache_entry_free(&g);
            break;
        }
        case 5:
            rc = cache_set_accepted(c, &key, arg & 1);
            must(rc <= 1, "set_accepted");
            break;
        case 6: {
            struct cache_event ev = {.kind = (enum cache_event_kind)(arg % 5),
                                     .language = arg & 8 ? "c" : NULL, .shown_len = arg,
                                     .accepted_len = arg / 2, .latency_ms = arg * 3u,
                                     .spec_drafted = arg, .spec_accepted = arg / 3u};
            rc = cache_stats_record(c, &ev);
            must(rc <= 0, "record");
            break;
        }
        case 7: {
            struct cache_stats st;
            struct cache_stats_summary sum;
            if (cache_stats(c, &st) == 0) {
                must(st.entries <= o.max_entries, "entry limit");
                must(st.bytes <= o.max_bytes, "byte limit");
                must(st.typed_hits <= st.hits, "typed hits are hits");
            }
            if (cache_stats_summary(c, &sum) == 0)
                must(sum.shown + sum.accepted + sum.partial + sum.dismissed == sum.events,
                     "events add up");
            break;
        }
        case 8:
            if (arg < 16) {
                rc = cache_clear(c, arg & 1);
                if (rc == 0)
                    memset(m, 0, sizeof *m);
                /* A failed clear either cleared everything or nothing: misses are always
                 * acceptable, so the model stays as it is. */
            } else {
                cache_flush(c);
            }
            break;
        case 9:
            sk_alloc_fail_after(-1);
            cache_close(c);
            c = NULL;
            if (inject >= 0)
                sk_alloc_fail_after(inject);
            rc = cache_open(path, &o, &c);
            sk_alloc_fail_after(-1);
            if (rc != 0) {
                must(inject >= 0, "reopen fails only under injection");
                if (cache_open(path, &o, &c) != 0)
                    abort();
            }
            break;
        case 10: /* the next operation runs with allocation failing after arg allocations */
            inject = arg;
            continue;
        }
        sk_alloc_fail_after(-1);
        if (inject >= 0 && c->broken)
            abort(); /* allocation failures must never look like corruption */
        inject = -1;
    }
    sk_alloc_fail_after(-1);
    must(cache__check(c) == 0, "counters match the table");
    cache_close(c);
    free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fresh_dir();
    if (data[0] & 1)
        op_sequence(data + 1, size - 1);
    else
        garbage_db(data + 1, size - 1, data[0]);
    return 0;
}
