/* Tests of cache/: key parts, exact and typed-ahead lookups (with hostile cases), LRU eviction,
 * counters, clear, size limits, the disabled (NULL) cache, SHA-256 vectors. */
#include "base.h"
#include "cache/cache.h"
#include "cache/cache_int.h"
#include "tests/test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct cache *open_tmp(const char *name, const struct cache_opts *o)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    struct cache *c = NULL;
    int rc = cache_open(path, o, &c);
    ASSERT_MSG(rc == 0, "cache_open: %s", cache_strerror(rc));
    ASSERT(c != NULL);
    return c;
}

static struct cache_key mk(const char *prefix, const char *suffix)
{
    struct cache_key k = {.model = "m1", .tmpl = "fim-1", .settings = "t=0;n=64",
                          .snippets = "// a.c\nint a;\n", .snippets_len = 14,
                          .prefix = prefix, .prefix_len = strlen(prefix),
                          .suffix = suffix, .suffix_len = strlen(suffix)};
    return k;
}

static int put_text(struct cache *c, const struct cache_key *k, const char *text)
{
    struct cache_entry e = {.text = (char *)text, .text_len = strlen(text), .tokens = 7,
                            .compute_ms = 123};
    return cache_put(c, k, &e);
}

/* Returns the served text (static buffer) or NULL on a miss. */
static const char *typed(struct cache *c, const struct cache_key *k, size_t *off)
{
    static char buf[4096];
    struct cache_entry e;
    int rc = cache_get_typed(c, k, &e, off);
    ASSERT_MSG(rc >= 0, "get_typed: %s", cache_strerror(rc));
    if (rc == 0) {
        ASSERT(e.text == NULL);
        return NULL;
    }
    ASSERT(e.text_len > 0 && e.text_len < sizeof buf);
    ASSERT_EQ(strlen(e.text), e.text_len);
    memcpy(buf, e.text, e.text_len + 1);
    cache_entry_free(&e);
    return buf;
}

TEST(cache_sha256_vectors)
{
    uint8_t d[32];
    char hex[65];
    cache__sha256("abc", 3, d);
    cache__hex(d, 32, hex);
    ASSERT_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cache__sha256("", 0, d);
    cache__hex(d, 32, hex);
    ASSERT_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    cache__sha256(m, strlen(m), d);
    cache__hex(d, 32, hex);
    ASSERT_STR_EQ(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* Streaming in odd pieces equals one shot; a million 'a's is the standard long vector. */
    static char big[1000000];
    memset(big, 'a', sizeof big);
    struct cache__sha256 s;
    cache__sha256_init(&s);
    for (size_t at = 0, step = 1; at < sizeof big; at += step, step = step * 7 % 1009 + 1)
        cache__sha256_update(&s, big + at, SK_MIN(step, sizeof big - at));
    cache__sha256_final(&s, d);
    cache__hex(d, 32, hex);
    ASSERT_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(cache_exact_hit_and_every_key_part_misses)
{
    struct cache *c = open_tmp("c.db", NULL);
    struct cache_key k = mk("int main(void) {\n    ", "\n}\n");
    ASSERT_EQ(put_text(c, &k, "return 0;"), 0);
    struct cache_entry e;
    ASSERT_EQ(cache_get(c, &k, &e), 1);
    ASSERT_STR_EQ(e.text, "return 0;");
    ASSERT_EQ(e.text_len, 9);
    ASSERT_EQ(e.tokens, 7);
    ASSERT_EQ(e.compute_ms, 123);
    ASSERT_EQ(e.accepted, 0);
    ASSERT(e.created_ms > 1600000000000ll);
    cache_entry_free(&e);
    ASSERT(e.text == NULL);

    /* Each key part on its own must change the key. */
    struct variant {
        const char *what;
        struct cache_key k;
    } v[9];
    for (int i = 0; i < 9; i++)
        v[i].k = k;
    v[0].what = "model", v[0].k.model = "m2";
    v[1].what = "template", v[1].k.tmpl = "fim-2";
    v[2].what = "settings", v[2].k.settings = "t=0;n=65";
    v[3].what = "snippets", v[3].k.snippets_len = 13;
    v[4].what = "prefix", v[4].k.prefix_len -= 1;
    v[5].what = "suffix", v[5].k.suffix = "\n}\n\n", v[5].k.suffix_len = 4;
    v[6].what = "null model", v[6].k.model = NULL;
    /* Moving a byte between fields must not collide (length-prefixed hashing). */
    v[7].what = "boundary", v[7].k.tmpl = "fim-1t", v[7].k.settings = "=0;n=64";
    v[8].what = "snippets into prefix", v[8].k.snippets_len = 0;
    for (int i = 0; i < 9; i++) {
        int rc = cache_get(c, &v[i].k, &e);
        ASSERT_MSG(rc == 0, "%s: expected a miss, got %d", v[i].what, rc);
        ASSERT(e.text == NULL);
    }
    struct cache_stats st;
    ASSERT_EQ(cache_stats(c, &st), 0);
    ASSERT_EQ(st.entries, 1);
    ASSERT_EQ(st.hits, 1);
    ASSERT_EQ(st.misses, 9);
    ASSERT_NEAR(st.hit_rate, 0.1, 1e-9);
    ASSERT_EQ(st.bytes, 9 + CACHE_ENTRY_OVERHEAD);
    ASSERT(st.file_bytes > 0);

    /* Replacing a value keeps one entry and updates the bytes. */
    ASSERT_EQ(put_text(c, &k, "return 1 + 1;"), 0);
    ASSERT_EQ(cache_get(c, &k, &e), 1);
    ASSERT_STR_EQ(e.text, "return 1 + 1;");
    cache_entry_free(&e);
    ASSERT_EQ(cache_stats(c, &st), 0);
    ASSERT_EQ(st.entries, 1);
    ASSERT_EQ(st.bytes, 13 + CACHE_ENTRY_OVERHEAD);
    ASSERT_EQ(cache__check(c), 0);

    ASSERT_EQ(cache_set_accepted(c, &k, 1), 0);
    ASSERT_EQ(cache_get(c, &k, &e), 1);
    ASSERT_EQ(e.accepted, 1);
    cache_entry_free(&e);
    ASSERT_EQ(cache_set_accepted(c, &v[0].k, 1), 1); /* no such entry */
    cache_close(c);

    /* Entries and counters persist across connections. */
    c = open_tmp("c.db", NULL);
    ASSERT_EQ(cache_get(c, &k, &e), 1);
    cache_entry_free(&e);
    ASSERT_EQ(cache_stats(c, &st), 0);
    ASSERT_EQ(st.hits, 4);
    ASSERT_EQ(st.misses, 9);
    cache_close(c);
}

TEST(cache_rejects_bad_values)
{
    struct cache_opts o = {.max_bytes = 4096};
    struct cache *c = open_tmp("c.db", &o);
    struct cache_key k = mk("x", "");
    struct cache_entry e = {.text = "", .text_len = 0};
    ASSERT_EQ(cache_put(c, &k, &e), CACHE_E_TOOBIG);
    e.text = NULL;
    ASSERT_EQ(cache_put(c, &k, &e), CACHE_E_TOOBIG);
    static char big[2000];
    memset(big, 'x', sizeof big - 1);
    ASSERT_EQ(put_text(c, &k, big), CACHE_E_TOOBIG); /* > max_bytes / 4 */
    ASSERT_EQ(put_text(c, &k, "ok"), 0);
    /* Binary bytes, including NUL, round-trip. */
    struct cache_key k2 = mk("y", "");
    e.text = "a\0b\xff";
    e.text_len = 4;
    ASSERT_EQ(cache_put(c, &k2, &e), 0);
    struct cache_entry g;
    ASSERT_EQ(cache_get(c, &k2, &g), 1);
    ASSERT_EQ(g.text_len, 4);
    ASSERT_MEM_EQ(g.text, "a\0b\xff", 4);
    cache_entry_free(&g);
    cache_close(c);
}

TEST(cache_typed_ahead)
{
    struct cache *c = open_tmp("c.db", NULL);
    const char *P = "static int sum(const int *v, int n)\n{\n    int s = 0;\n    ";
    const char *S = "\n    return s;\n}\n";
    const char *C = "for (int i = 0; i < n; i++)\n        s += v[i];";
    struct cache_key k = mk(P, S);
    ASSERT_EQ(put_text(c, &k, C), 0);
    char now[512];
    size_t off = 99;

    /* Exact: offset 0, the whole completion. */
    ASSERT_STR_EQ(typed(c, &k, &off), C);
    ASSERT_EQ(off, 0);

    /* The user typed "for (i": the rest is served. */
    snprintf(now, sizeof now, "%sfor (i", P);
    struct cache_key kn = mk(now, S);
    ASSERT_STR_EQ(typed(c, &kn, &off), C + 6);
    ASSERT_EQ(off, 6);

    /* Typed text diverging from the completion: a miss, at any position. */
    const char *diverge[] = {"x", "fo ", "for (int j", "for (int i = 0; i < n; i--"};
    for (size_t i = 0; i < SK_ARRAY_LEN(diverge); i++) {
        snprintf(now, sizeof now, "%s%s", P, diverge[i]);
        kn = mk(now, S);
        ASSERT_MSG(typed(c, &kn, &off) == NULL, "diverging '%s' must miss", diverge[i]);
    }
    /* Same typed text, different suffix (or other key part): a miss. */
    snprintf(now, sizeof now, "%sfor (i", P);
    kn = mk(now, "\n}\n");
    ASSERT(typed(c, &kn, &off) == NULL);
    kn = mk(now, S);
    kn.settings = "t=0.2";
    ASSERT(typed(c, &kn, &off) == NULL);
    /* Text deleted before the cursor (prefix shorter than the stored one): a miss. */
    kn = mk(P, S);
    kn.prefix_len -= 2;
    ASSERT(typed(c, &kn, &off) == NULL);
    /* The whole completion typed: nothing left to serve, a miss. */
    snprintf(now, sizeof now, "%s%s", P, C);
    kn = mk(now, S);
    ASSERT(typed(c, &kn, &off) == NULL);
    /* One byte short of the whole completion: serves the last byte. */
    now[strlen(now) - 1] = 0;
    kn = mk(now, S);
    ASSERT_STR_EQ(typed(c, &kn, &off), ";");
    ASSERT_EQ(off, strlen(C) - 1);
    /* The plain exact lookup does not do typed-ahead. */
    struct cache_entry e;
    snprintf(now, sizeof now, "%sfor (i", P);
    kn = mk(now, S);
    ASSERT_EQ(cache_get(c, &kn, &e), 0);

    struct cache_stats st;
    ASSERT_EQ(cache_stats(c, &st), 0);
    ASSERT_EQ(st.hits, 3);
    ASSERT_EQ(st.typed_hits, 2);
    ASSERT_EQ(st.misses, 9);
    cache_close(c);
}

TEST(cache_typed_ahead_bounds_and_choice)
{
    struct cache *c = open_tmp("c.db", NULL);
    char C[200], now[400];
    for (int i = 0; i < 199; i++)
        C[i] = (char)('a' + i % 26);
    C[199] = 0;
    /* An empty stored prefix works too (start of file). */
    struct cache_key k = mk("", "");
    ASSERT_EQ(put_text(c, &k, C), 0);
    size_t off;
    for (size_t t = 0; t <= 70; t++) {
        memcpy(now, C, t);
        now[t] = 0;
        struct cache_key kn = mk(now, "");
        const char *got = typed(c, &kn, &off);
        if (t <= CACHE_TYPED_MAX) {
            ASSERT_MSG(got && off == t && strcmp(got, C + t) == 0, "typed %zu", t);
        } else {
            ASSERT_MSG(got == NULL, "typed %zu is beyond the bound", t);
        }
    }

    /* Two candidates: the entry computed closest to the cursor wins. */
    struct cache_key a = mk("x = ", ";"), b = mk("x = fo", ";");
    ASSERT_EQ(put_text(c, &a, "foo(1)"), 0);
    ASSERT_EQ(put_text(c, &b, "rmat(2)"), 0);
    struct cache_key kn = mk("x = for", ";");
    ASSERT_STR_EQ(typed(c, &kn, &off), "mat(2)");
    ASSERT_EQ(off, 1);
    kn = mk("x = foo", ";");
    ASSERT_STR_EQ(typed(c, &kn, &off), "(1)");
    ASSERT_EQ(off, 3);

    /* UTF-8: a cut inside a multi-byte character is never served. */
    struct cache_key u = mk("s = \"", "\"");
    ASSERT_EQ(put_text(c, &u, "\xc3\xa9t\xc3\xa9"), 0); /* "été" */
    kn = mk("s = \"\xc3", "\"");
    ASSERT(typed(c, &kn, &off) == NULL);
    kn = mk("s = \"\xc3\xa9", "\"");
    ASSERT_STR_EQ(typed(c, &kn, &off), "t\xc3\xa9");
    ASSERT_EQ(off, 2);
    cache_close(c);
}

static int has(struct cache *c, const char *prefix)
{
    struct cache_key k = mk(prefix, "");
    struct cache_entry e;
    int rc = cache_get(c, &k, &e);
    ASSERT(rc >= 0);
    cache_entry_free(&e);
    return rc;
}

TEST(cache_lru_eviction_by_entries)
{
    struct cache_opts o = {.max_entries = 3};
    struct cache *c = open_tmp("c.db", &o);
    const char *names[] = {"A", "B", "C", "D", "E"};
    for (int i = 0; i < 3; i++) {
        struct cache_key k = mk(names[i], "");
        ASSERT_EQ(put_text(c, &k, names[i]), 0);
    }
    ASSERT_EQ(has(c, "A"), 1); /* A becomes the most recently used */
    struct cache_key k = mk("D", "");
    ASSERT_EQ(put_text(c, &k, "D"), 0); /* evicts B, the least recently used */
    ASSERT_EQ(has(c, "B"), 0);
    ASSERT_EQ(has(c, "C"), 1);
    ASSERT_EQ(has(c, "A"), 1);
    ASSERT_EQ(has(c, "D"), 1);
    /* Use order now C, A, D: E evicts C. */
    k = mk("E", "");
    ASSERT_EQ(put_text(c, &k, "E"), 0);
    ASSERT_EQ(has(c, "C"), 0);
    ASSERT_EQ(has(c, "A"), 1);
    ASSERT_EQ(has(c, "D"), 1);
    ASSERT_EQ(has(c, "E"), 1);
    struct cache_stats st;
    ASSERT_EQ(cache_stats(c, &st), 0);
    ASSERT_EQ(st.entries, 3);
    ASSERT_EQ(st.evictions, 2);
    ASSERT_EQ(cache__check(c), 0);
    cache_close(c);

    /* The LRU order is in the database: another connection sees the same order. */
    c = open_tmp("c.db", &o);
    ASSERT_EQ(has(c, "A"), 1); /* order D, E, A */
    cache_close(c);
    c = open_tmp("c.db", &o);
    k = mk("F", "");
    ASSERT_EQ(put_text(c, &k, "F"), 0);
    ASSERT_EQ(has(c, "D"), 0);
    ASSERT_EQ(has(c, "A"), 1);
    cache_close(c);
}

TEST(cache_lru_eviction_by_bytes)
{
    struct cache_opts o = {.max_bytes = 4 * (100 + CACHE_ENTRY_OVERHEAD)};
    struct cache *c = open_tmp("c.db", &o);
    char text[101], name[16];
    memset(text, 'z', 100);
    text[100] = 0;
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "k%d", i);
        struct cache_key k = mk(name, "");
        ASSERT_EQ(put_text(c, &k, text), 0);
        struct cache_stats st;
        ASSERT_EQ(cache_stats(c, &st), 0);
        ASSERT_LE(st.bytes, o.max_bytes);
        ASSERT_EQ(st.entries, (uint64_t)SK_MIN(i + 1, 4));
    }
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "k%d", i);
        ASSERT_EQ(has(c, name), i >= 6);
    }
    ASSERT_EQ(cache__check(c), 0);
    cache_close(c);
}

TEST(cache_clear_resets_entries_and_counters)
{
    struct cache *c = open_tmp("c.db", NULL);
    for (int i = 0; i < 20; i++) {
        char p[16];
        snprintf(p, sizeof p, "p%d", i);
        struct cache_key k = mk(p, "");
        ASSERT_EQ(put_text(c, &k, "value"), 0);
    }
    ASSERT_EQ(has(c, "p3"), 1);
    ASSERT_EQ(has(c, "zz"), 0);
    struct cache_event ev = {.kind = CACHE_EV_SHOWN, .language = "c", .shown_len = 5};
    ASSERT_EQ(cache_stats_record(c, &ev), 0);
    ASSERT_EQ(cache_clear(c, 0), 0);
    struct cache_stats st;
    ASSERT_EQ(cache_stats(c, &st), 0);
    ASSERT_EQ(st.entries, 0);
    ASSERT_EQ(st.bytes, 0);
    ASSERT_EQ(st.hits, 0);
    ASSERT_EQ(st.misses, 0);
    ASSERT_EQ(has(c, "p3"), 0);
    struct cache_stats_summary sum;
    ASSERT_EQ(cache_stats_summary(c, &sum), 0);
    ASSERT_EQ(sum.shown, 1); /* events kept */
    ASSERT_EQ(cache_clear(c, 1), 0);
    ASSERT_EQ(cache_stats_summary(c, &sum), 0);
    ASSERT_EQ(sum.events, 0);
    /* Still usable afterwards. */
    struct cache_key k = mk("after", "");
    ASSERT_EQ(put_text(c, &k, "v"), 0);
    ASSERT_EQ(has(c, "after"), 1);
    ASSERT_EQ(cache__check(c), 0);
    cache_close(c);
}

TEST(cache_null_is_disabled_everywhere)
{
    struct cache_key k = mk("a", "b");
    struct cache_entry e = {.text = "x", .text_len = 1};
    struct cache_entry g;
    size_t off = 5;
    ASSERT_EQ(cache_get(NULL, &k, &g), CACHE_E_DISABLED);
    ASSERT(g.text == NULL);
    ASSERT_EQ(cache_get_typed(NULL, &k, &g, &off), CACHE_E_DISABLED);
    ASSERT_EQ(off, 0);
    ASSERT_EQ(cache_put(NULL, &k, &e), CACHE_E_DISABLED);
    ASSERT_EQ(cache_set_accepted(NULL, &k, 1), CACHE_E_DISABLED);
    struct cache_stats st;
    ASSERT_EQ(cache_stats(NULL, &st), CACHE_E_DISABLED);
    ASSERT_EQ(st.entries, 0);
    ASSERT_EQ(cache_clear(NULL, 1), CACHE_E_DISABLED);
    struct cache_event ev = {.kind = CACHE_EV_SHOWN};
    ASSERT_EQ(cache_stats_record(NULL, &ev), CACHE_E_DISABLED);
    struct cache_stats_summary sum;
    ASSERT_EQ(cache_stats_summary(NULL, &sum), CACHE_E_DISABLED);
    cache_close(NULL);
    cache_entry_free(NULL);
    ASSERT_STR_EQ(cache_strerror(CACHE_E_DISABLED), "cache disabled");
    ASSERT_STR_EQ(cache_strerror(-2), strerror(2));
}

TEST(cache_default_path_follows_xdg)
{
    char buf[256];
    setenv("XDG_CACHE_HOME", "/x/cachehome", 1);
    setenv("HOME", "/home/u", 1);
    ASSERT_EQ(cache_default_path(buf, sizeof buf), 0);
    ASSERT_STR_EQ(buf, "/x/cachehome/seekd/cache.db");
    setenv("XDG_CACHE_HOME", "relative/ignored", 1);
    ASSERT_EQ(cache_default_path(buf, sizeof buf), 0);
    ASSERT_STR_EQ(buf, "/home/u/.cache/seekd/cache.db");
    unsetenv("XDG_CACHE_HOME");
    ASSERT_EQ(cache_default_path(buf, sizeof buf), 0);
    ASSERT_STR_EQ(buf, "/home/u/.cache/seekd/cache.db");
    ASSERT_EQ(cache_default_path(buf, 10), -ENAMETOOLONG);
    unsetenv("HOME");
    ASSERT_EQ(cache_default_path(buf, sizeof buf), -ENOENT);
}
