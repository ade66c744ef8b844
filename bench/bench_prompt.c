/*
 * bench_prompt: prompt-building time per completion request on a generated 100-file workspace
 * (issue 8's target: <= 5 ms per request), and the index build time.
 *
 * The workspace (in a temporary folder, removed at the end) has 40 C files with headers, 30
 * Python modules and 30 TypeScript modules, each with ~20 definitions calling into others and
 * importing / including their neighbours.  Requests put the cursor at random line ends (fixed
 * seed) of a current file of each language and time, per request:
 *   xfile   ctx_xfile_build (identifiers near the cursor, imports, index lookups, budget 512),
 *   fim     ctx_fim_build with that text as extra (prefix 1024, suffix 256 tokens),
 * and print p50 / p95 / max in ms, the cross-file tokens and snippets per request, and how often
 * the cross-file text stays the same bytes when one more character is typed at the cursor.
 * Needs ../shared/vocab/ggml-vocab-deepseek-coder.gguf.  Usage: bench_prompt [requests, 300]
 */
#include "base.h"
#include "daemon/commands.h"
#include "context/context.h"
#include "engine/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) SK_PRINTF(2, 3);
static void put(struct buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            abort();
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
}

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void write_file(const char *root, const char *rel, const struct buf *b)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    char *s = strrchr(p, '/');
    *s = 0;
    mkdir(p, 0700);
    *s = '/';
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, b->p, b->len) != (ssize_t)b->len) {
        perror(p);
        exit(1);
    }
    close(fd);
}

static void gen_c(int i, struct buf *h, struct buf *c)
{
    h->len = c->len = 0;
    put(h, "#ifndef MOD%d_H\n#define MOD%d_H\n\nstruct rec%d {\n    int id;\n    double w;\n};\n\n", i, i, i);
    put(h, "#define MOD%d_CAP %d\n\n", i, 16 + i);
    put(c, "#include \"mod%d.h\"\n#include \"mod%d.h\"\n#include <stdio.h>\n\n", i, (i + 1) % 40);
    for (int k = 0; k < 20; k++) {
        put(h, "int m%d_op%d(struct rec%d *r, int n);\n", i, k, i);
        put(c, "int m%d_op%d(struct rec%d *r, int n)\n{\n    int acc = 0;\n"
               "    for (int j = 0; j < n; j++)\n        acc += r[j].id * %d;\n"
               "    if (acc > MOD%d_CAP)\n        acc = m%d_op%d(r, n / 2);\n    return acc;\n}\n\n",
            i, k, i, k + 1, i, (i + 1) % 40, k);
    }
    put(h, "\n#endif\n");
}

static void gen_py(struct buf *b, int i)
{
    b->len = 0;
    put(b, "import math\nfrom pkg.mod%d import Helper%d, helper%d_fn0\n\nLIMIT%d = %d\n\n", (i + 1) % 30,
        (i + 1) % 30, (i + 1) % 30, i, i * 3);
    put(b, "class Helper%d:\n    def __init__(self, n):\n        self.n = n\n\n"
           "    def scale(self, x):\n        return x * self.n\n\n", i);
    for (int k = 0; k < 18; k++)
        put(b, "def helper%d_fn%d(items, factor=%d):\n    out = []\n    for it in items:\n"
               "        out.append(Helper%d(factor).scale(it) + LIMIT%d)\n    return out\n\n",
            i, k, k, (i + 1) % 30, i);
}

static void gen_ts(struct buf *b, int i)
{
    b->len = 0;
    put(b, "import { Store%d, util%d_fn0 } from './mod%d';\n\nexport interface Opts%d {\n  size: number;\n"
           "  name: string;\n}\n\nexport class Store%d {\n  private items: number[] = [];\n"
           "  add(v: number): void {\n    this.items.push(v);\n  }\n}\n\n",
        (i + 1) % 30, (i + 1) % 30, (i + 1) % 30, i, i);
    for (int k = 0; k < 18; k++)
        put(b, "export function util%d_fn%d(o: Opts%d, s: Store%d): number {\n"
               "  const base = o.size * %d;\n  s.add(base);\n  return base + util%d_fn0(o as any, s as any);\n}\n\n",
            i, k, i, i, k, (i + 1) % 30);
}

/* CPU time of this thread: the machine is shared, so wall time alone would measure the load. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void rm_tree(const char *root)
{
    char p[4200];
    static const char *const dirs[] = {"csrc", "pkg", "web"};
    for (int d = 0; d < 3; d++) {
        for (int i = 0; i < 40; i++) {
            static const char *const fmt[][2] = {{"csrc/mod%d.c", "csrc/mod%d.h"},
                                                 {"pkg/mod%d.py", "pkg/mod%d.py"},
                                                 {"web/mod%d.ts", "web/mod%d.ts"}};
            for (int k = 0; k < 2; k++) {
                char rel[64];
                snprintf(rel, sizeof rel, fmt[d][k], i);
                snprintf(p, sizeof p, "%s/%s", root, rel);
                unlink(p);
            }
        }
        snprintf(p, sizeof p, "%s/%s", root, dirs[d]);
        rmdir(p);
    }
    rmdir(root);
}

int main(int argc, char **argv)
{
    struct dmn__quiet quiet;
    if (dmn__bench_quiet_begin(&quiet, "bench_prompt", -1, 120, 0))
        return 3;
    int n_req = argc > 1 ? atoi(argv[1]) : 300;
    if (n_req < 1)
        n_req = 300;
    const char *vp = "../shared/vocab/ggml-vocab-deepseek-coder.gguf";
    if (access(vp, R_OK)) {
        printf("bench_prompt: %s absent, skipped\n", vp);
        return 0;
    }
    char err[256];
    struct eng_gguf *g;
    struct eng_vocab *v;
    if (eng_gguf_open(vp, err, sizeof err, &g) || eng_vocab_load(g, &v, err, sizeof err)) {
        fprintf(stderr, "vocab: %s\n", err);
        return 1;
    }
    char root[] = "/tmp/seekd-bench-prompt-XXXXXX";
    if (!mkdtemp(root))
        return 1;
    struct buf a = {0}, b = {0};
    static struct buf docs[3];
    for (int i = 0; i < 40; i++) {
        char r1[64], r2[64];
        gen_c(i, &a, &b);
        snprintf(r1, sizeof r1, "csrc/mod%d.h", i);
        snprintf(r2, sizeof r2, "csrc/mod%d.c", i);
        write_file(root, r1, &a);
        write_file(root, r2, &b);
        if (i == 7) {
            docs[0].len = 0;
            put(&docs[0], "%.*s", (int)b.len, b.p);
        }
    }
    for (int i = 0; i < 30; i++) {
        char r[64];
        gen_py(&a, i);
        snprintf(r, sizeof r, "pkg/mod%d.py", i);
        write_file(root, r, &a);
        if (i == 7) {
            docs[1].len = 0;
            put(&docs[1], "%.*s", (int)a.len, a.p);
        }
        gen_ts(&a, i);
        snprintf(r, sizeof r, "web/mod%d.ts", i);
        write_file(root, r, &a);
        if (i == 7) {
            docs[2].len = 0;
            put(&docs[2], "%.*s", (int)a.len, a.p);
        }
    }
    /* the index: walk + extraction of 140 files (40 headers are on top of the 100 sources) */
    size_t live0 = sk_alloc_live_bytes();
    uint64_t t0 = sk_real_now_ns();
    ctx_index *ix;
    struct ctx_index_opts io = {.root = root};
    if (ctx_index_new(&io, &ix) || ctx_index_wait(ix, 0))
        return 1;
    double build_ms = (double)(sk_real_now_ns() - t0) / 1e6;
    struct ctx_index_stats st;
    ctx_index_stats(ix, &st);
    printf("index: %d files, %d definitions, built in %.1f ms wall (worker CPU %.1f ms)\n",
           st.files, st.defs, build_ms, st.walk_cpu_ms);
    size_t src_bytes = 0;
    for (int i = 0; i < 3; i++)
        src_bytes += docs[i].len;
    printf("index: %.2f MiB held (the sources are ~%.2f MiB)\n",
           (double)(sk_alloc_live_bytes() - live0) / (1 << 20), (double)src_bytes * 140 / 3 / (1 << 20));
    /* one didChange re-extraction of a current file */
    t0 = sk_real_now_ns();
    ctx_index_update_file(ix, "csrc/mod7.c", docs[0].p, docs[0].len);
    ctx_index_wait(ix, 0);
    printf("index: update of one 220-line file %.2f ms\n", (double)(sk_real_now_ns() - t0) / 1e6);
    ctx_ring *ring;
    ctx_ring_new(&ring);
    for (int i = 0; i < 8; i++) {
        char p[64];
        snprintf(p, sizeof p, "pkg/mod%d.py", 10 + i);
        ctx_ring_note_edit(ring, p, CTX_LANG_PYTHON, docs[1].p + 200 * i, 600);
    }
    static const struct { enum ctx_lang lang; const char *path; } cur[3] = {
        {CTX_LANG_C, "csrc/mod7.c"}, {CTX_LANG_PYTHON, "pkg/mod7.py"}, {CTX_LANG_TYPESCRIPT, "web/mod7.ts"},
    };
    double *tx = malloc(sizeof(double) * (size_t)n_req), *tf = malloc(sizeof(double) * (size_t)n_req),
           *tt = malloc(sizeof(double) * (size_t)n_req), *tc = malloc(sizeof(double) * (size_t)n_req);
    long tok_sum = 0, snip_sum = 0, same = 0, pairs = 0;
    for (int r = 0; r < n_req; r++) {
        const struct buf *d = &docs[r % 3];
        /* a random line end, then the same cursor one character later (typing) */
        size_t off = rnd((uint32_t)d->len);
        while (off < d->len && d->p[off] != '\n')
            off++;
        char *prev = NULL;
        for (int step = 0; step < 2; step++) {
            size_t pa = off > 12288 ? off - 12288 : 0, sb = off + 3072 < d->len ? off + 3072 : d->len;
            /* step 1: the user typed "x" at the cursor */
            static char scratch[16384];
            memcpy(scratch, d->p + pa, off - pa);
            size_t plen = off - pa;
            if (step)
                scratch[plen++] = 'x';
            struct ctx_xfile_opts xo = {.vocab = v, .index = ix, .ring = ring, .lang = cur[r % 3].lang,
                                        .path = cur[r % 3].path, .prefix = scratch,
                                        .prefix_len = plen, .suffix = d->p + off,
                                        .suffix_len = sb - off, .budget_tokens = 512};
            struct ctx_xfile_result xr;
            uint64_t a0 = sk_real_now_ns(), c0 = cpu_ns();
            if (ctx_xfile_build(&xo, &xr))
                return 1;
            uint64_t a1 = sk_real_now_ns();
            struct ctx_fim_opts fo = {.vocab = v, .lang = cur[r % 3].lang, .path = cur[r % 3].path,
                                      .extra = xr.text, .extra_len = xr.len, .prefix = scratch,
                                      .prefix_len = plen, .suffix = d->p + off,
                                      .suffix_len = sb - off, .prefix_tokens = 1024,
                                      .suffix_tokens = 256};
            struct ctx_fim_prompt p;
            if (ctx_fim_build(&fo, &p))
                return 1;
            uint64_t a2 = sk_real_now_ns(), c2 = cpu_ns();
            ctx_fim_free(&p);
            if (step == 0) {
                tx[r] = (double)(a1 - a0) / 1e6;
                tf[r] = (double)(a2 - a1) / 1e6;
                tt[r] = (double)(a2 - a0) / 1e6;
                tc[r] = (double)(c2 - c0) / 1e6;
                tok_sum += xr.n_tokens;
                snip_sum += xr.n_snippets;
                prev = xr.text;
                xr.text = NULL;
            } else {
                pairs++;
                same += prev && !strcmp(prev, xr.text);
                sk_free(prev);
            }
            ctx_xfile_free(&xr);
        }
    }
    qsort(tx, (size_t)n_req, sizeof *tx, cmp_d);
    qsort(tf, (size_t)n_req, sizeof *tf, cmp_d);
    qsort(tt, (size_t)n_req, sizeof *tt, cmp_d);
    qsort(tc, (size_t)n_req, sizeof *tc, cmp_d);
    int p50 = n_req / 2, p95 = n_req * 95 / 100;
    printf("prompt per request (%d requests, c/python/ts): p50 %.3f ms, p95 %.3f ms, max %.3f ms "
           "(target <= 5 ms); CPU time p50 %.3f ms, p95 %.3f ms\n", n_req, tt[p50], tt[p95],
           tt[n_req - 1], tc[p50], tc[p95]);
    printf("  cross-file selection: p50 %.3f ms, p95 %.3f ms; fim build: p50 %.3f ms, p95 %.3f ms\n",
           tx[p50], tx[p95], tf[p50], tf[p95]);
    printf("  cross-file text: %.1f tokens, %.1f snippets per request (budget 512); same bytes after "
           "typing one character: %ld/%ld\n", (double)tok_sum / n_req, (double)snip_sum / n_req,
           same, pairs);
    free(tx);
    free(tf);
    free(tt);
    free(tc);
    free(a.p);
    free(b.p);
    for (int i = 0; i < 3; i++)
        free(docs[i].p);
    ctx_ring_delete(ring);
    ctx_index_delete(ix);
    eng_vocab_free(v);
    eng_gguf_close(g);
    rm_tree(root);
    dmn__bench_quiet_end(&quiet);
    return 0;
}
