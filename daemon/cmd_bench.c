/*
 * `seekd bench --model F [--threads N] [-p 512] [-n 128] [--reps R]`: prompt processing and
 * decode speed, the cost of one pass over k+1 = 1..17 tokens relative to a single-token step
 * (what speculative verification costs), and decode as a fraction of the memory read bandwidth
 * measured in the same run.  Each repetition runs bandwidth probe, prompt, decode and the
 * k-token passes one after the other, so host drift hits all of them alike; medians are
 * reported.  The bench refuses to time while the machine is busy (1-minute load average above
 * --max-load, default 0.75 x cores, after waiting up to --wait seconds).
 */
#include "base.h"
#include "daemon/commands.h"
#include "engine/engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: seekd bench --model F [--threads N] [-p 512] [-n 128] [--reps 5] "
                "[--kmax 17]\n"
                "         [--max-load L] [--wait S] [--ctx N]\n"
                "  Prints prompt (pp) and decode (tg) tokens/s, the k-token pass ratio, and "
                "decode\n  as a percentage of the read bandwidth measured in the same run "
                "(medians).\n");
}

static double now_s(void) { return (double)sk_real_now_ns() / 1e9; }

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double loadavg1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* ---- read bandwidth probe ------------------------------------------------------------------
 * Every pool thread sums its slice of a buffer much larger than the caches with 8 independent
 * 64-bit accumulators (the compiler vectorises it); bytes / wall time of the whole pass. */
struct bw_job {
    const uint64_t *buf;
    size_t n; /* words */
    uint64_t sink[64];
};

static void bw_task(void *arg, int ith, int nth)
{
    struct bw_job *j = arg;
    size_t per = (j->n / (size_t)nth) & ~(size_t)63, b = per * (size_t)ith;
    const uint64_t *p = j->buf + b;
    uint64_t a[8] = {0};
    for (size_t i = 0; i < per; i += 8)
        for (int k = 0; k < 8; k++)
            a[k] += p[i + (size_t)k];
    uint64_t s = 0;
    for (int k = 0; k < 8; k++)
        s ^= a[k];
    j->sink[ith & 63] = s;
}

static double bw_probe(struct eng_pool *pool, struct bw_job *j)
{
    double t0 = now_s();
    eng_pool_run(pool, bw_task, j);
    double dt = now_s() - t0;
    return (double)(j->n * 8) / dt;
}

/* Bytes a decode step reads from the weights: every matrix except token_embd (one row of it is
 * read), unless the output is tied to it. */
static double weight_bytes(const struct eng_gguf *g, size_t *file_bytes)
{
    double tot = 0;
    int n = eng_gguf_n_tensors(g), has_out = 0;
    struct eng_tensor t;
    for (int i = 0; i < n; i++)
        if (eng_gguf_tensor_at(g, i, &t) == 0 && !strcmp(t.name, "output.weight"))
            has_out = 1;
    *file_bytes = 0;
    for (int i = 0; i < n; i++) {
        if (eng_gguf_tensor_at(g, i, &t))
            continue;
        *file_bytes += t.nbytes;
        if (!strcmp(t.name, "token_embd.weight") && has_out)
            continue;
        tot += (double)t.nbytes;
    }
    return tot;
}

int cmd_bench(int argc, char **argv)
{
    const char *model = NULL;
    long n_pp = 512, n_tg = 128, reps = 5, kmax = 17, wait_s = 120, v;
    double max_load = -1;
    struct eng_model_params mp;
    eng_model_params_default(&mp);
    if (dmn__spec_wanted(argc, argv)) /* --draft / --lookup: daemon/cmd_spec.c */
        return cmd_spec_bench(argc, argv);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "seekd: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        const char *val = argv[++i];
        if (!strcmp(a, "--model") || !strcmp(a, "-m"))
            model = val;
        else if (!strcmp(a, "-p") && !dmn__parse_int(val, 1, 8192, &v))
            n_pp = v;
        else if (!strcmp(a, "-n") && !dmn__parse_int(val, 1, 8192, &v))
            n_tg = v;
        else if (!strcmp(a, "--reps") && !dmn__parse_int(val, 1, 1000, &v))
            reps = v;
        else if (!strcmp(a, "--kmax") && !dmn__parse_int(val, 1, 64, &v))
            kmax = v;
        else if (!strcmp(a, "--wait") && !dmn__parse_int(val, 0, 86400, &v))
            wait_s = v;
        else if (!strcmp(a, "--threads") && !dmn__parse_int(val, 1, 256, &v))
            mp.n_threads = (int)v;
        else if (!strcmp(a, "--ctx") && !dmn__parse_int(val, 64, 65536, &v))
            mp.n_ctx = (int)v;
        else if (!strcmp(a, "--max-load")) {
            char *end;
            max_load = strtod(val, &end);
            if (end == val || *end || max_load < 0) {
                fprintf(stderr, "seekd: bad --max-load %s\n", val);
                return 2;
            }
        } else {
            fprintf(stderr, "seekd: bad option or value: %s %s\n", a, val);
            usage(stderr);
            return 2;
        }
    }
    if (!model) {
        usage(stderr);
        return 2;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    if (max_load < 0)
        max_load = 0.75 * (double)ncpu;
    int need_ctx = (int)SK_MAX(n_pp, n_tg + 1);
    need_ctx = SK_MAX(need_ctx, 256 + (int)kmax);
    if (mp.n_ctx < need_ctx)
        mp.n_ctx = need_ctx;
    mp.n_batch = (int)SK_MAX(n_pp, 256 + kmax);
    mp.n_outputs = 1;

    struct dmn__model dm;
    double t_load = now_s();
    if (dmn__model_open(&dm, model, &mp, 0))
        return 1;
    t_load = now_s() - t_load;
    int ret = 1, nv = eng_model_n_vocab(dm.model), nth = eng_model_n_threads(dm.model);
    size_t file_bytes;
    double wbytes = weight_bytes(dm.gguf, &file_bytes);
    const struct eng_hparams *hp = eng_model_hparams(dm.model);
    struct eng_pool *pool = NULL;
    struct bw_job bw = {0};
    int32_t *toks = sk_malloc((size_t)SK_MAX(n_pp, 256 + kmax) * sizeof *toks);
    double *s_pp = sk_calloc((size_t)reps, sizeof(double));
    double *s_tg = sk_calloc((size_t)reps, sizeof(double));
    double *s_bw = sk_calloc((size_t)reps, sizeof(double));
    double *s_k = sk_calloc((size_t)(reps * kmax), sizeof(double));
    struct eng_rng rng;
    eng_rng_seed(&rng, 1);
    for (long i = 0; i < SK_MAX(n_pp, 256 + kmax); i++)
        toks[i] = (int32_t)(eng_rng_next(&rng) % (uint64_t)nv);
    if (eng_pool_new(nth, &pool)) {
        fprintf(stderr, "seekd: thread pool failed\n");
        goto out;
    }
    bw.n = (size_t)(512u << 20) / 8; /* 512 MiB */
    uint64_t *bwbuf = sk_malloc(bw.n * 8);
    for (size_t i = 0; i < bw.n; i++)
        bwbuf[i] = i * 0x9e3779b97f4a7c15ull;
    bw.buf = bwbuf;

    printf("model: %s\n  %u layers, n_embd %u, heads %u/%u, n_ff %u, vocab %u, file %.1f MB, "
           "weights read per token %.1f MB, load %.2f s\n",
           model, hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv, hp->n_ff, hp->n_vocab,
           (double)file_bytes / 1e6, wbytes / 1e6, t_load);
    printf("threads %d, kernels %s, KV F16, n_ctx %d, reps %ld\n", nth, eng_kernels_isa(),
           eng_model_n_ctx(dm.model), reps);

    /* refuse to time a busy machine */
    double la = loadavg1();
    for (long w = 0; la > max_load && w < wait_s; w += 5) {
        if (w == 0)
            fprintf(stderr, "seekd: load average %.2f > %.2f, waiting up to %ld s\n", la,
                    max_load, wait_s);
        sleep(5);
        la = loadavg1();
    }
    if (la > max_load) {
        fprintf(stderr, "seekd: the machine is busy (load average %.2f > %.2f): not timing\n", la,
                max_load);
        ret = 3;
        goto out;
    }

    /* warm-up: page the weights in, spin up the pool */
    eng_kv_clear(dm.model);
    if (eng_model_eval(dm.model, toks, (int)SK_MIN(n_pp, 32), ENG_LOGITS_LAST))
        goto evalfail;
    bw_probe(pool, &bw);

    for (long r = 0; r < reps; r++) {
        s_bw[r] = bw_probe(pool, &bw);
        /* prompt: n_pp tokens in one call from an empty cache */
        eng_kv_clear(dm.model);
        double t0 = now_s();
        if (eng_model_eval(dm.model, toks, (int)n_pp, ENG_LOGITS_LAST))
            goto evalfail;
        s_pp[r] = (double)n_pp / (now_s() - t0);
        /* decode: n_tg single-token steps from an empty cache (as llama-bench tg) */
        eng_kv_clear(dm.model);
        t0 = now_s();
        for (long i = 0; i < n_tg; i++)
            if (eng_model_eval(dm.model, toks + i, 1, ENG_LOGITS_LAST))
                goto evalfail;
        s_tg[r] = (double)n_tg / (now_s() - t0);
        /* k-token passes at position 256 */
        eng_kv_clear(dm.model);
        if (eng_model_eval(dm.model, toks, 256, ENG_LOGITS_NONE))
            goto evalfail;
        for (long k = 1; k <= kmax; k++) {
            /* best of 3 per rep: one pass is short and the median over reps follows */
            double best = 1e9;
            for (int i = 0; i < 3; i++) {
                t0 = now_s();
                if (eng_model_eval(dm.model, toks + 256, (int)k, ENG_LOGITS_LAST))
                    goto evalfail;
                double dt = now_s() - t0;
                best = dt < best ? dt : best;
                eng_kv_truncate(dm.model, 256);
            }
            s_k[r * kmax + (k - 1)] = best;
        }
    }
    double bw_med = median(s_bw, (int)reps), pp = median(s_pp, (int)reps);
    double tg = median(s_tg, (int)reps);
    printf("read bandwidth: %.1f GB/s (median of %ld)\n", bw_med / 1e9, reps);
    printf("pp%ld: %.2f tok/s\n", n_pp, pp);
    printf("tg%ld: %.2f tok/s  (%.1f ms/token; weights %.2f GB/s = %.1f%% of measured bandwidth)\n",
           n_tg, tg, 1e3 / tg, wbytes * tg / 1e9, 100.0 * wbytes * tg / bw_med);
    double *col = sk_malloc((size_t)reps * sizeof(double));
    double t1 = 0;
    printf("k-token pass at position 256 (time of one pass over k+1 tokens / one-token pass):\n");
    for (long k = 1; k <= kmax; k++) {
        for (long r = 0; r < reps; r++)
            col[r] = s_k[r * kmax + (k - 1)];
        double m = median(col, (int)reps);
        if (k == 1)
            t1 = m;
        printf("  k+1=%2ld  %8.2f ms  ratio %.2f\n", k, m * 1e3, m / t1);
    }
    sk_free(col);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS: %.1f MiB without the 512 MiB bandwidth buffer (%.1f MiB with it)\n",
           (double)ru.ru_maxrss / 1024.0 - 512.0, (double)ru.ru_maxrss / 1024.0);
    ret = 0;
    goto out;
evalfail:
    fprintf(stderr, "seekd: eval failed\n");
out:
    sk_free((void *)bw.buf);
    eng_pool_delete(pool);
    sk_free(toks);
    sk_free(s_pp);
    sk_free(s_tg);
    sk_free(s_bw);
    sk_free(s_k);
    dmn__model_close(&dm);
    return ret;
}
