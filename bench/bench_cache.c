/*
 * bench_cache: latency of the completion cache, end to end through the public API (key hashing
 * included), on a database in a fresh temporary folder holding N entries with realistic prompt
 * parts (6 KiB prefix, 1.5 KiB suffix, 2 KiB snippets, ~120-byte completions).
 * Prints p50/p99 in microseconds for: put, exact hit, typed-ahead hit, miss; and the model
 * identity time (computed vs remembered).  Target: hit <= 2 ms end to end.
 *
 * Usage: bench_cache [N]   (default 5000)
 */
#include "base.h"
#include "daemon/commands.h"
#include "cache/cache.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Wall time and this thread's CPU time of each operation: on a loaded machine the wall p99
 * shows preemption by other processes, the CPU p99 shows our own cost. */
static void report(const char *what, uint64_t *ns, uint64_t *cpu, size_t n)
{
    qsort(ns, n, sizeof *ns, cmp_u64);
    qsort(cpu, n, sizeof *cpu, cmp_u64);
    printf("  %-27s n=%-5zu wall p50 %7.1f us p99 %8.1f us | cpu p50 %7.1f us p99 %7.1f us\n",
           what, n, (double)ns[n / 2] / 1e3, (double)ns[n * 99 / 100] / 1e3,
           (double)cpu[n / 2] / 1e3, (double)cpu[n * 99 / 100] / 1e3);
}

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* Fills buf with n bytes of code-like text that depends on seed. */
static void code_text(char *buf, size_t n, unsigned seed)
{
    static const char *words[] = {"int ", "return ", "x", "y", " = ", "+ ", "(", ")", ";\n    ",
                                  "if ", "{\n", "}\n", "for ", "buf", "[i]", "len", "->", "0"};
    size_t at = 0;
    uint32_t s = seed * 2654435761u + 1;
    while (at < n) {
        s = s * 1103515245 + 12345;
        const char *w = words[(s >> 16) % SK_ARRAY_LEN(words)];
        size_t l = SK_MIN(strlen(w), n - at);
        memcpy(buf + at, w, l);
        at += l;
    }
    buf[n] = 0;
}

int main(int argc, char **argv)
{
    struct dmn__quiet quiet;
    if (dmn__bench_quiet_begin(&quiet, "bench_cache", -1, 120, 0))
        return 3;
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 5000;
    if (n < 10)
        n = 10;
    char dir[] = "/tmp/seekd-bench-cache-XXXXXX", path[64];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/cache.db", dir);
    struct cache *c = NULL;
    int rc = cache_open(path, NULL, &c);
    if (rc) {
        fprintf(stderr, "cache_open: %s\n", cache_strerror(rc));
        return 1;
    }
    enum { PRE = 6144, SUF = 1536, SNIP = 2048, COMP = 120 };
    char *pre = malloc(PRE + 64), *suf = malloc(SUF + 1), *snip = malloc(SNIP + 1);
    char comp[COMP + 1];
    code_text(snip, SNIP, 7);
    uint64_t *t = calloc(n, sizeof *t), *tc = calloc(n, sizeof *tc);
    printf("bench_cache: %zu entries, prefix %d B, suffix %d B, snippets %d B, completion %d B\n",
           n, PRE, SUF, SNIP, COMP);

    for (size_t i = 0; i < n; i++) {
        code_text(pre, PRE, (unsigned)i);
        code_text(suf, SUF, (unsigned)(i ^ 0x5555));
        code_text(comp, COMP, (unsigned)(i + 1000003));
        struct cache_key k = {.model = "0f3c", .tmpl = "deepseek-fim-1", .settings = "t=0;n=128",
                              .snippets = snip, .snippets_len = SNIP, .prefix = pre,
                              .prefix_len = PRE, .suffix = suf, .suffix_len = SUF};
        struct cache_entry e = {.text = comp, .text_len = COMP, .tokens = 40, .compute_ms = 300};
        uint64_t t0 = sk_real_now_ns(), c0 = cpu_ns();
        rc = cache_put(c, &k, &e);
        tc[i] = cpu_ns() - c0;
        t[i] = sk_real_now_ns() - t0;
        if (rc) {
            fprintf(stderr, "put: %s\n", cache_strerror(rc));
            return 1;
        }
    }
    report("put", t, tc, n);

    size_t m = SK_MIN(n, (size_t)2000);
    const char *names[] = {"hit (exact, get_typed)", "hit (typed 10 chars ahead)", "miss"};
    for (int kind = 0; kind < 3; kind++) {
        size_t hits = 0;
        for (size_t j = 0; j < m; j++) {
            size_t i = (j * 7919) % n;
            code_text(pre, PRE, (unsigned)i);
            code_text(suf, SUF, (unsigned)(i ^ 0x5555));
            size_t plen = PRE;
            if (kind == 1) {
                code_text(comp, COMP, (unsigned)(i + 1000003));
                memcpy(pre + PRE, comp, 10);
                plen += 10;
            } else if (kind == 2) {
                pre[PRE / 2] ^= 1;
            }
            struct cache_key k = {.model = "0f3c", .tmpl = "deepseek-fim-1",
                                  .settings = "t=0;n=128", .snippets = snip, .snippets_len = SNIP,
                                  .prefix = pre, .prefix_len = plen, .suffix = suf,
                                  .suffix_len = SUF};
            struct cache_entry e;
            size_t off;
            uint64_t t0 = sk_real_now_ns(), c0 = cpu_ns();
            rc = cache_get_typed(c, &k, &e, &off);
            tc[j] = cpu_ns() - c0;
            t[j] = sk_real_now_ns() - t0;
            hits += rc == 1;
            cache_entry_free(&e);
        }
        report(names[kind], t, tc, m);
        if (hits != (kind == 2 ? 0 : m))
            printf("  (unexpected: %zu hits of %zu)\n", hits, m);
    }

    /* Model identity: a real vocab GGUF when ../shared is present, else a synthetic file. */
    const char *model = "../shared/vocab/ggml-vocab-deepseek-llm.gguf";
    if (access(model, R_OK) == 0) {
        char id[CACHE_ID_HEX_LEN + 1];
        uint64_t t0 = sk_real_now_ns();
        cache_model_identity(NULL, model, id);
        uint64_t t1 = sk_real_now_ns();
        cache_model_identity(c, model, id); /* computes and remembers */
        uint64_t t2 = sk_real_now_ns();
        cache_model_identity(c, model, id);
        uint64_t t3 = sk_real_now_ns();
        printf("  model identity (%s, 3.9 MB): computed %.2f ms, remembered %.1f us\n", id,
               (double)(t1 - t0) / 1e6, (double)(t3 - t2) / 1e3);
    }
    struct cache_stats st;
    cache_stats(c, &st);
    printf("  database: %llu entries, %.1f MiB of pages\n", (unsigned long long)st.entries,
           (double)st.file_bytes / (1024.0 * 1024.0));
    cache_close(c);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(pre);
    free(suf);
    free(snip);
    free(t);
    free(tc);
    dmn__bench_quiet_end(&quiet);
    return 0;
}
