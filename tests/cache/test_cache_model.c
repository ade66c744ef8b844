/* Tests of cache_model_identity (synthetic GGUF files we build here, hostile headers, the real
 * vocab files when ../shared is present, remembering by inode/size/mtime) and of the local usage
 * statistics (cache_stats_record / cache_stats_summary). */
#include "base.h"
#include "cache/cache.h"
#include "tests/test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct gbuf {
    unsigned char *p;
    size_t n, cap;
};

static void put(struct gbuf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        ASSERT(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void u32(struct gbuf *b, uint32_t v) { put(b, &v, 4); } /* little-endian host */
static void u64(struct gbuf *b, uint64_t v) { put(b, &v, 8); }
static void str(struct gbuf *b, const char *s)
{
    u64(b, strlen(s));
    put(b, s, strlen(s));
}

/* A GGUF v3 file: metadata (architecture, alignment, a token array, a big padding string so the
 * header passes 1 MiB), two F32/F16 tensors and their data.  Offsets of interest returned. */
struct gguf_info {
    size_t type_off;   /* offset of tensor "b"'s type field */
    size_t arch_off;   /* offset of the architecture string's bytes */
    size_t pad_off;    /* offset of the padding string's bytes */
    size_t data_off;   /* start of tensor data */
};

static struct gbuf make_gguf(struct gguf_info *info, uint32_t b_type)
{
    struct gbuf b = {0};
    put(&b, "GGUF", 4);
    u32(&b, 3);
    u64(&b, 2); /* tensors */
    u64(&b, 4); /* kv */
    str(&b, "general.architecture");
    u32(&b, 8);
    u64(&b, 5);
    info->arch_off = b.n;
    put(&b, "llama", 5);
    str(&b, "general.alignment");
    u32(&b, 4);
    u32(&b, 64);
    str(&b, "tokenizer.ggml.tokens");
    u32(&b, 9);
    u32(&b, 8);
    u64(&b, 3);
    str(&b, "<s>");
    str(&b, "a");
    str(&b, "bc");
    str(&b, "seekd.test.padding");
    u32(&b, 8);
    size_t padn = 1536 * 1024;
    u64(&b, padn);
    info->pad_off = b.n;
    char *pad = malloc(padn);
    for (size_t i = 0; i < padn; i++)
        pad[i] = (char)('a' + i % 23);
    put(&b, pad, padn);
    free(pad);
    str(&b, "a");
    u32(&b, 1);
    u64(&b, 4096);
    u32(&b, 0); /* F32 */
    u64(&b, 0);
    str(&b, "b");
    u32(&b, 2);
    u64(&b, 64);
    u64(&b, 64);
    info->type_off = b.n;
    u32(&b, b_type);
    u64(&b, 16384);
    while (b.n % 64)
        put(&b, "", 1);
    info->data_off = b.n;
    for (uint32_t i = 0; i < (16384 + 64 * 64 * 4) / 4; i++) {
        float f = (float)i * 0.25f;
        put(&b, &f, 4);
    }
    return b;
}

static void write_file(const char *path, const void *d, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, d, n), (ssize_t)n);
    close(fd);
}

static void ident(struct cache *c, const char *path, char out[CACHE_ID_HEX_LEN + 1])
{
    int rc = cache_model_identity(c, path, out);
    ASSERT_MSG(rc == 0, "%s: %s", path, cache_strerror(rc));
    ASSERT_EQ(strlen(out), CACHE_ID_HEX_LEN);
    for (int i = 0; i < CACHE_ID_HEX_LEN; i++)
        ASSERT(strchr("0123456789abcdef", out[i]));
}

/* A byte offset in [lo, hi) not covered by any of the 16 fallback samples of a file of size n,
 * so a change there is seen only if the GGUF header walk hashes it. */
static size_t unsampled(size_t n, size_t lo, size_t hi)
{
    for (size_t off = lo; off < hi; off += 997) {
        int hit = off < (1u << 20);
        for (int i = 0; i < 16 && !hit; i++) {
            size_t at = (n - 4096) * (size_t)i / 15;
            hit = off >= at && off < at + 4096;
        }
        if (!hit)
            return off;
    }
    TEST_FAIL_("no unsampled offset");
}

TEST(cache_model_identity_tracks_what_matters)
{
    char path[700], id0[65], id[65];
    snprintf(path, sizeof path, "%s/m.gguf", test_tmpdir());
    struct gguf_info gi;
    struct gbuf b = make_gguf(&gi, 1);
    write_file(path, b.p, b.n);
    ident(NULL, path, id0);
    ident(NULL, path, id);
    ASSERT_STR_EQ(id, id0); /* deterministic */

    struct {
        const char *what;
        size_t off;
        unsigned char val;
    } edits[] = {
        {"architecture metadata", gi.arch_off, 'X'},
        {"tensor type (requantised)", gi.type_off, 8},
        {"first tensor bytes (fine-tune)", gi.data_off + 1, 0x7f},
        {"last tensor bytes", b.n - 1, 0x11},
        {"metadata past 1 MiB", unsampled(b.n, gi.pad_off + (1u << 20) - gi.pad_off % (1u << 20), gi.pad_off + 1536 * 1024), '#'},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(edits); i++) {
        unsigned char old = b.p[edits[i].off];
        b.p[edits[i].off] = edits[i].val;
        write_file(path, b.p, b.n);
        ident(NULL, path, id);
        ASSERT_MSG(strcmp(id, id0) != 0, "editing %s must change the identity", edits[i].what);
        b.p[edits[i].off] = old;
    }
    /* A longer file (same header) differs; restoring gives the original back. */
    write_file(path, b.p, b.n);
    ident(NULL, path, id);
    ASSERT_STR_EQ(id, id0);
    free(b.p);
}

TEST(cache_model_identity_hostile_files)
{
    char path[700], id[65], id2[65];
    snprintf(path, sizeof path, "%s/h.gguf", test_tmpdir());
    struct gguf_info gi;
    struct gbuf good = make_gguf(&gi, 0);
    /* Headers that lie: each must give an identity (fallback) without crashing or reading past
     * the file, and the same identity twice. */
    struct {
        const char *what;
        size_t off;
        uint64_t val;
        int width;
    } lies[] = {
        {"n_kv huge", 16, UINT64_MAX, 8},
        {"n_tensors huge", 8, 1ull << 60, 8},
        {"key length huge", 24, UINT64_MAX - 3, 8},
        {"value type unknown", 24 + 8 + 20, 77, 4},
        {"string length huge", 24 + 8 + 20 + 4, 1ull << 62, 8},
        {"version 1", 4, 1, 4},
        {"version huge", 4, 0xffffffff, 4},
        {"tensor dims 9", gi.type_off - 16 - 4, 9, 4},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(lies); i++) {
        struct gbuf b = {0};
        put(&b, good.p, good.n);
        memcpy(b.p + lies[i].off, &lies[i].val, (size_t)lies[i].width);
        write_file(path, b.p, b.n);
        ident(NULL, path, id);
        ident(NULL, path, id2);
        ASSERT_STR_EQ(id, id2);
        free(b.p);
    }
    /* Truncated at every interesting length, including inside the header. */
    size_t cuts[] = {1, 3, 4, 7, 23, 24, 40, 100, gi.pad_off + 10, gi.data_off, gi.data_off + 5};
    for (size_t i = 0; i < SK_ARRAY_LEN(cuts); i++) {
        write_file(path, good.p, cuts[i]);
        ident(NULL, path, id);
    }
    free(good.p);
    /* Not GGUF at all, empty, a directory, missing. */
    write_file(path, "hello world", 11);
    ident(NULL, path, id);
    write_file(path, "", 0);
    ASSERT_EQ(cache_model_identity(NULL, path, id), CACHE_E_FORMAT);
    ASSERT_EQ(cache_model_identity(NULL, test_tmpdir(), id), -EINVAL);
    snprintf(path, sizeof path, "%s/missing.gguf", test_tmpdir());
    ASSERT_EQ(cache_model_identity(NULL, path, id), -ENOENT);
}

TEST(cache_model_identity_is_remembered_by_inode_size_mtime)
{
    char db[700], path[700], id0[65], id[65];
    snprintf(db, sizeof db, "%s/cache.db", test_tmpdir());
    snprintf(path, sizeof path, "%s/m.gguf", test_tmpdir());
    struct gguf_info gi;
    struct gbuf b = make_gguf(&gi, 0);
    write_file(path, b.p, b.n);
    struct cache *c = NULL;
    ASSERT_EQ(cache_open(db, NULL, &c), 0);
    ident(c, path, id0);
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    /* Change tensor data in place, same size, and put the old mtime back: the remembered
     * identity is returned (this is what makes it cheap), while a fresh computation differs. */
    b.p[gi.data_off + 2] ^= 0x55;
    int fd = open(path, O_WRONLY);
    ASSERT(fd >= 0);
    ASSERT_EQ(pwrite(fd, b.p + gi.data_off + 2, 1, (off_t)(gi.data_off + 2)), 1);
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    ASSERT_EQ(futimens(fd, ts), 0);
    close(fd);
    ident(c, path, id);
    ASSERT_STR_EQ(id, id0);
    char fresh[65];
    ident(NULL, path, fresh);
    ASSERT(strcmp(fresh, id0) != 0);
    /* A new mtime invalidates it; the memory survives reopening. */
    ts[1].tv_nsec = (ts[1].tv_nsec + 1) % 1000000000;
    ASSERT_EQ(utimensat(AT_FDCWD, path, ts, 0), 0);
    ident(c, path, id);
    ASSERT_STR_EQ(id, fresh);
    cache_close(c);
    ASSERT_EQ(cache_open(db, NULL, &c), 0);
    b.p[gi.data_off + 2] ^= 0x55; /* restore the bytes, keep the metadata */
    fd = open(path, O_WRONLY);
    ASSERT_EQ(pwrite(fd, b.p + gi.data_off + 2, 1, (off_t)(gi.data_off + 2)), 1);
    ASSERT_EQ(fstat(fd, &st), 0);
    ts[0] = st.st_atim;
    /* ts[1] is still the mtime whose identity was remembered above */
    ASSERT_EQ(futimens(fd, ts), 0);
    close(fd);
    ident(c, path, id);
    ASSERT_STR_EQ(id, fresh); /* remembered across connections */
    cache_close(c);
    free(b.p);
}

TEST(cache_model_identity_of_real_vocab_files)
{
    const char *a = test_shared_path("vocab/ggml-vocab-deepseek-coder.gguf");
    char pa[1024], ida[65], idb[65], id2[65];
    if (!a || access(a, R_OK) != 0)
        SKIP("../shared/vocab absent");
    snprintf(pa, sizeof pa, "%s", a);
    const char *b = test_shared_path("vocab/ggml-vocab-deepseek-llm.gguf");
    ident(NULL, pa, ida);
    ident(NULL, b, idb);
    ASSERT(strcmp(ida, idb) != 0);
    /* A copy with one token changed well inside the vocabulary, away from the samples. */
    char *data;
    size_t n;
    ASSERT_EQ(sk_read_file(b, 64u << 20, &data, &n), 0);
    char cp[700];
    snprintf(cp, sizeof cp, "%s/v.gguf", test_tmpdir());
    write_file(cp, data, n);
    ident(NULL, cp, id2);
    ASSERT_STR_EQ(id2, idb);
    size_t off = unsampled(n, n / 2, n - 8192);
    data[off] ^= 1;
    write_file(cp, data, n);
    ident(NULL, cp, id2);
    ASSERT(strcmp(id2, idb) != 0);
    sk_free(data);
}

TEST(cache_stats_events_summary)
{
    char db[700];
    snprintf(db, sizeof db, "%s/cache.db", test_tmpdir());
    struct cache *c = NULL;
    ASSERT_EQ(cache_open(db, NULL, &c), 0);
    struct cache_stats_summary s;
    ASSERT_EQ(cache_stats_summary(c, &s), 0);
    ASSERT_EQ(s.events, 0);
    ASSERT_EQ(s.latency_p50_ms, 0);
    ASSERT_NEAR(s.accept_rate, 0.0, 0.0);
    static const struct cache_event evs[] = {
        {CACHE_EV_SHOWN, "c", 40, 0, 100, 20, 15, 0},
        {CACHE_EV_SHOWN, "c", 10, 0, 300, 10, 5, 1},
        {CACHE_EV_SHOWN, "python", 30, 0, 200, 0, 0, 0},
        {CACHE_EV_SHOWN, "c", 12, 0, 50, 8, 8, 0},
        {CACHE_EV_SHOWN, NULL, 5, 0, 400, 0, 0, 0},
        {CACHE_EV_ACCEPTED, "c", 40, 0, 0, 0, 0, 0},   /* accepted_len defaults to shown */
        {CACHE_EV_PARTIAL, "python", 30, 7, 0, 0, 0, 0},
        {CACHE_EV_DISMISSED, "c", 10, 99, 0, 0, 0, 0}, /* accepted_len ignored */
        {CACHE_EV_DISMISSED, "", 5, 0, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(evs); i++)
        ASSERT_EQ(cache_stats_record(c, &evs[i]), 0);
    struct cache_event bad = {.kind = (enum cache_event_kind)9};
    ASSERT_EQ(cache_stats_record(c, &bad), -EINVAL);
    char longname[100];
    memset(longname, 'L', 99);
    longname[99] = 0;
    struct cache_event lng = {.kind = CACHE_EV_DISMISSED, .language = longname};
    ASSERT_EQ(cache_stats_record(c, &lng), 0);

    ASSERT_EQ(cache_stats_summary(c, &s), 0);
    ASSERT_EQ(s.events, 10);
    ASSERT_EQ(s.shown, 5);
    ASSERT_EQ(s.accepted, 1);
    ASSERT_EQ(s.partial, 1);
    ASSERT_EQ(s.dismissed, 3);
    ASSERT_EQ(s.shown_chars, 97);
    ASSERT_EQ(s.accepted_chars, 47);
    ASSERT_EQ(s.from_cache, 1);
    ASSERT_NEAR(s.accept_rate, 0.4, 1e-12);
    ASSERT_EQ(s.latency_p50_ms, 200); /* 50 100 200 300 400 */
    ASSERT_EQ(s.latency_p95_ms, 300); /* rank floor(0.95 * 4) = 3 */
    ASSERT_EQ(s.spec_drafted, 38);
    ASSERT_EQ(s.spec_accepted, 28);
    ASSERT_NEAR(s.spec_accept_rate, 28.0 / 38.0, 1e-12);
    ASSERT_EQ(s.n_langs, 4);
    ASSERT_STR_EQ(s.langs[0].language, "c");
    ASSERT_EQ(s.langs[0].shown, 3);
    ASSERT_EQ(s.langs[0].accepted, 1);
    ASSERT_EQ(s.langs[0].dismissed, 1);
    ASSERT_EQ(s.langs[0].accepted_chars, 40);
    /* Ties on shown (1 each) are ordered by name; the long name was cut to 31 bytes. */
    ASSERT_STR_EQ(s.langs[1].language, "python");
    ASSERT_EQ(s.langs[1].partial, 1);
    ASSERT_EQ(s.langs[1].accepted_chars, 7);
    ASSERT_STR_EQ(s.langs[2].language, "unknown");
    ASSERT_EQ(s.langs[2].shown, 1);
    ASSERT_EQ(s.langs[2].dismissed, 1);
    ASSERT_EQ(strlen(s.langs[3].language), 31);
    cache_close(c);
}

TEST(cache_stats_events_are_pruned)
{
    char db[700];
    snprintf(db, sizeof db, "%s/cache.db", test_tmpdir());
    struct cache_opts o = {.max_stat_events = 100};
    struct cache *c = NULL;
    ASSERT_EQ(cache_open(db, &o, &c), 0);
    for (int i = 0; i < 600; i++) {
        struct cache_event ev = {.kind = CACHE_EV_SHOWN, .language = "go", .latency_ms = (uint32_t)i};
        ASSERT_EQ(cache_stats_record(c, &ev), 0);
    }
    struct cache_stats_summary s;
    ASSERT_EQ(cache_stats_summary(c, &s), 0);
    /* Pruned every 256 inserts down to the newest 100: after 512, 100 + 88 remain. */
    ASSERT_EQ(s.events, 188);
    ASSERT_EQ(s.latency_p50_ms, 412 + 93);
    cache_close(c);
}
