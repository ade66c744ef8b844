/*
 * `seekd bench --model F [--threads N] [-p 512] [-n 128] [--reps R]`: prompt processing and
 * decode speed, the cost of one pass over k+1 = 1..17 tokens relative to a single-token step
 * (what speculative verification costs), decode as a fraction of the memory read bandwidth
 * measured in the same run, and peak RSS.  Each repetition runs bandwidth probe, prompt,
 * decode and the k-token passes one after the other, so host drift hits all of them alike;
 * medians are reported, and a last `summary:` line carries them for bench/bench_model.c.
 * The bench refuses to time while the machine is busy (1-minute load average above
 * --max-load, default 0.75 x cores, or other processes using CPU; waits up to --wait seconds);
 * --force or SEEKD_BENCH_FORCE=1 times anyway and marks the output NOT VALID.
 * Also the helpers every timing benchmark shares (quiet-machine check, bandwidth probe), at
 * the end of this file.
 */
#include "base.h"
#include "daemon/commands.h"
#include "engine/engine.h"

#include <errno.h>
#include <immintrin.h>
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
                "         [--max-load L] [--wait S] [--force] [--ctx N]\n"
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
    int force = 0;
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
        if (!strcmp(a, "--force")) {
            force = 1;
            continue;
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
    struct dmn__bw *bw = NULL;
    struct dmn__quiet q;
    int32_t *toks = sk_malloc((size_t)SK_MAX(n_pp, 256 + kmax) * sizeof *toks);
    double *s_pp = sk_calloc((size_t)reps, sizeof(double));
    double *s_tg = sk_calloc((size_t)reps, sizeof(double));
    double *s_bw = sk_calloc((size_t)reps, sizeof(double));
    double *s_k = sk_calloc((size_t)(reps * kmax), sizeof(double));
    struct eng_rng rng;
    eng_rng_seed(&rng, 1);
    for (long i = 0; i < SK_MAX(n_pp, 256 + kmax); i++)
        toks[i] = (int32_t)(eng_rng_next(&rng) % (uint64_t)nv);

    printf("model: %s\n  %u layers, n_embd %u, heads %u/%u, n_ff %u, vocab %u, file %.1f MB, "
           "weights read per token %.1f MB, load %.2f s\n",
           model, hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv, hp->n_ff, hp->n_vocab,
           (double)file_bytes / 1e6, wbytes / 1e6, t_load);
    printf("threads %d, kernels %s, KV F16, n_ctx %d, reps %ld\n", nth, eng_kernels_isa(),
           eng_model_n_ctx(dm.model), reps);
    fflush(stdout);

    /* refuse to time a busy machine (before the bandwidth buffer: it would count as ours) */
    if (dmn__bench_quiet_begin(&q, "seekd bench", max_load, wait_s, force)) {
        ret = 3;
        goto out;
    }
    double rss_model = dmn__peak_rss_mib();
    int rc = dmn__bw_new(dmn__bench_bw_bytes(), nth, &bw);
    if (rc) {
        fprintf(stderr, "seekd: bandwidth buffer: %s\n", eng_strerror(rc));
        goto out;
    }
    printf("read bandwidth probe: %zu MiB buffer, %d threads, %s loads, best of 3 passes per "
           "repetition\n", dmn__bw_size(bw) >> 20, nth, dmn__bw_isa(bw));

    /* warm-up: page the weights in, spin up the pool */
    eng_kv_clear(dm.model);
    if (eng_model_eval(dm.model, toks, (int)SK_MIN(n_pp, 32), ENG_LOGITS_LAST))
        goto evalfail;
    dmn__bw_run(bw, 1);

    /* each repetition: bandwidth, prompt, decode, k-token passes, so drift hits all alike */
    for (long r = 0; r < reps; r++) {
        s_bw[r] = dmn__bw_run(bw, 3);
        /* prompt: n_pp tokens in one call from an empty cache (as llama-bench pp) */
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
    int not_quiet = dmn__bench_quiet_end(&q);
    double bw_lo = s_bw[0], bw_hi = s_bw[0];
    for (long r = 1; r < reps; r++) {
        bw_lo = SK_MIN(bw_lo, s_bw[r]);
        bw_hi = SK_MAX(bw_hi, s_bw[r]);
    }
    double bw_med = median(s_bw, (int)reps), pp = median(s_pp, (int)reps);
    double tg = median(s_tg, (int)reps);
    printf("read bandwidth: %.1f GB/s (median of %ld, range %.1f-%.1f)\n", bw_med / 1e9, reps,
           bw_lo / 1e9, bw_hi / 1e9);
    printf("pp%ld: %.2f tok/s\n", n_pp, pp);
    printf("tg%ld: %.2f tok/s  (%.1f ms/token; weights %.2f GB/s = %.1f%% of measured bandwidth)\n",
           n_tg, tg, 1e3 / tg, wbytes * tg / 1e9, 100.0 * wbytes * tg / bw_med);
    double *col = sk_malloc((size_t)reps * sizeof(double));
    double t1 = 0, k9 = 0;
    printf("k-token pass at position 256 (time of one pass over k+1 tokens / one-token pass):\n");
    for (long k = 1; k <= kmax; k++) {
        for (long r = 0; r < reps; r++)
            col[r] = s_k[r * kmax + (k - 1)];
        double m = median(col, (int)reps);
        if (k == 1)
            t1 = m;
        if (k == 9)
            k9 = m / t1;
        printf("  k+1=%2ld  %8.2f ms  ratio %.2f\n", k, m * 1e3, m / t1);
    }
    sk_free(col);
    if (kmax >= 9)
        printf("pass over 9 tokens / one-token pass: %.2f (target <= 2; llama.cpp 5.0 on the "
               "1.3B Q4_0)\n", k9);
    /* peak RSS of the model work: measured before the bandwidth buffer existed for the load
     * and warm-up, and with the buffer subtracted after (it stays resident: no swap use) */
    double rss = SK_MAX(rss_model, dmn__peak_rss_mib() - (double)(dmn__bw_size(bw) >> 20));
    printf("peak RSS: %.1f MiB (the %zu MiB bandwidth buffer excluded)\n", rss,
           dmn__bw_size(bw) >> 20);
    printf("summary: model=%s pp_n=%ld pp=%.3f tg_n=%ld tg=%.3f bw_gbs=%.3f wbytes=%.0f "
           "tg_bw_pct=%.2f k9=%.3f rss_mib=%.1f valid=%d\n",
           model, n_pp, pp, n_tg, tg, bw_med / 1e9, wbytes, 100.0 * wbytes * tg / bw_med,
           kmax >= 9 ? k9 : 0.0, rss, !not_quiet);
    ret = 0;
    goto out;
evalfail:
    fprintf(stderr, "seekd: eval failed\n");
out:
    dmn__bw_free(bw);
    sk_free(toks);
    sk_free(s_pp);
    sk_free(s_tg);
    sk_free(s_bw);
    sk_free(s_k);
    dmn__model_close(&dm);
    return ret;
}

/* ==== shared by every timing benchmark (seekd bench, seekd bench --draft, bench programs) =====
 * See daemon/commands.h for the contracts. */

/* Machine-wide CPU time from /proc/stat in seconds: busy (user, nice, system, irq, softirq)
 * and stolen by the hypervisor.  Returns 0 or -1. */
static int machine_cpu(double *busy, double *steal)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 8)
        return -1;
    double hz = (double)sysconf(_SC_CLK_TCK);
    *busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
    *steal = (double)v[7] / hz;
    return 0;
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

double dmn__loadavg1(void)
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

int dmn__bench_forced(void)
{
    const char *e = getenv("SEEKD_BENCH_FORCE");
    return e && *e && strcmp(e, "0");
}

#define OTHERS_MAX 0.15 /* cores other processes may use while we time */

int dmn__bench_quiet_begin(struct dmn__quiet *q, const char *who, double max_load, long wait_s,
                           int force)
{
    memset(q, 0, sizeof *q);
    q->who = who;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (max_load < 0)
        max_load = 0.75 * (double)(ncpu > 0 ? ncpu : 1);
    force |= dmn__bench_forced();
    const char *we = getenv("SEEKD_BENCH_WAIT");
    if (we && *we)
        wait_s = atol(we);
    double t_end = now_s() + (double)wait_s, load, others;
    for (int first = 1;; first = 0) {
        /* other processes' CPU use while we sleep for 2 s */
        double b0, s0, b1, s1, c0 = self_cpu(), t0 = now_s();
        others = -1;
        if (machine_cpu(&b0, &s0) == 0) {
            usleep(2000000);
            if (machine_cpu(&b1, &s1) == 0)
                others = ((b1 - b0) - (self_cpu() - c0)) / (now_s() - t0);
        } else {
            usleep(2000000);
        }
        load = dmn__loadavg1();
        if (load <= max_load && others < OTHERS_MAX)
            break;
        if (force || now_s() >= t_end) /* forced: no point in waiting */
            break;
        if (first)
            printf("%s: waiting up to %ld s for a quiet machine (load average %.2f, limit %.2f; "
                   "other processes using %.2f cores, limit %.2f)\n",
                   who, wait_s, load, max_load, others, OTHERS_MAX);
        fflush(stdout);
        usleep(3000000);
    }
    q->load0 = load;
    q->others0 = others;
    int busy = load > max_load || others >= OTHERS_MAX;
    if (busy && !force) {
        printf("%s: the machine is busy (load average %.2f > %.2f or other processes using "
               "%.2f cores >= %.2f): NOT TIMING.  Run it on a quiet machine; SEEKD_BENCH_FORCE=1 "
               "(or --force) times anyway, for development only.\n",
               who, load, max_load, others, OTHERS_MAX);
        fflush(stdout);
        return -EBUSY;
    }
    q->busy = busy;
    if (busy)
        printf("%s: ******** WARNING: BUSY MACHINE (load average %.2f, other processes using "
               "%.2f cores): timing anyway because it was forced; THESE FIGURES ARE NOT VALID "
               "********\n", who, load, others);
    else
        printf("%s: machine quiet (load average %.2f, other processes %.2f cores over 2 s)\n",
               who, load, others);
    fflush(stdout);
    machine_cpu(&q->busy_t0, &q->steal_t0);
    q->self_t0 = self_cpu();
    q->t0 = now_s();
    return 0;
}

int dmn__bench_quiet_end(struct dmn__quiet *q)
{
    double b, s, dt = now_s() - q->t0;
    double others = -1, steal = -1;
    if (dt > 0 && machine_cpu(&b, &s) == 0) {
        others = ((b - q->busy_t0) - (self_cpu() - q->self_t0)) / dt;
        steal = (s - q->steal_t0) / dt;
    }
    int bad = q->busy || others >= OTHERS_MAX || steal >= OTHERS_MAX;
    printf("%s: during the %.0f s of timing other processes used %.2f cores, the hypervisor "
           "stole %.2f cores; load average %.2f at the end (this run included)%s\n",
           q->who, dt, others, steal, dmn__loadavg1(),
           bad ? "\n  ******** WARNING: THE MACHINE WAS NOT QUIET: THESE FIGURES ARE NOT VALID "
                 "********" : "");
    fflush(stdout);
    return bad;
}

/* ---- read bandwidth ----------------------------------------------------------------------
 * Every thread sums its contiguous share of a buffer far larger than the last-level cache with
 * the widest loads the CPU has (4 independent accumulators, 256 bytes per iteration) and
 * stores the reduction where the compiler must assume it is read. */
struct dmn__bw {
    struct eng_pool *pool;
    uint8_t *mem;       /* allocation */
    const uint8_t *buf; /* 64-byte aligned, size bytes, every page written */
    size_t size;
    int level;          /* 2 avx512, 1 avx2, 0 sse2 */
    uint64_t sink[64 * 8];
};

__attribute__((target("avx512f"))) static uint64_t bw_sum_avx512(const uint8_t *p, size_t n)
{
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 256) {
        a0 = _mm512_add_epi64(a0, _mm512_load_si512((const void *)(p + i)));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512((const void *)(p + i + 64)));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512((const void *)(p + i + 128)));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512((const void *)(p + i + 192)));
    }
    a0 = _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3));
    uint64_t lane[8], x = 0; /* xor, not _mm512_reduce_add_epi64: its sum is signed */
    _mm512_storeu_si512((void *)lane, a0);
    for (int i = 0; i < 8; i++)
        x ^= lane[i];
    return x;
}

__attribute__((target("avx2"))) static uint64_t bw_sum_avx2(const uint8_t *p, size_t n)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 256) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i + 128)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 160)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 192)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 224)));
    }
    a0 = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
    return (uint64_t)_mm256_extract_epi64(a0, 0) ^ (uint64_t)_mm256_extract_epi64(a0, 1) ^
           (uint64_t)_mm256_extract_epi64(a0, 2) ^ (uint64_t)_mm256_extract_epi64(a0, 3);
}

static uint64_t bw_sum_sse2(const uint8_t *p, size_t n)
{
    __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 64) {
        a0 = _mm_add_epi64(a0, _mm_load_si128((const __m128i *)(p + i)));
        a1 = _mm_add_epi64(a1, _mm_load_si128((const __m128i *)(p + i + 16)));
        a2 = _mm_add_epi64(a2, _mm_load_si128((const __m128i *)(p + i + 32)));
        a3 = _mm_add_epi64(a3, _mm_load_si128((const __m128i *)(p + i + 48)));
    }
    a0 = _mm_xor_si128(_mm_xor_si128(a0, a1), _mm_xor_si128(a2, a3));
    return (uint64_t)_mm_cvtsi128_si64(a0) ^ (uint64_t)_mm_cvtsi128_si64(_mm_srli_si128(a0, 8));
}

static void bw_task(void *arg, int ith, int nth)
{
    struct dmn__bw *bw = arg;
    size_t per = bw->size / (size_t)nth & ~(size_t)255;
    const uint8_t *p = bw->buf + per * (size_t)ith;
    uint64_t s = bw->level == 2 ? bw_sum_avx512(p, per) :
                 bw->level == 1 ? bw_sum_avx2(p, per) : bw_sum_sse2(p, per);
    bw->sink[(ith & 63) * 8] = s; /* one cache line per thread; read back in dmn__bw_run */
}

int dmn__bw_new(size_t bytes, int n_threads, struct dmn__bw **out)
{
    *out = NULL;
    struct dmn__bw *bw = sk_calloc(1, sizeof *bw);
    if (!bw)
        return -ENOMEM;
    int rc = eng_pool_new(n_threads, &bw->pool);
    if (rc) {
        sk_free(bw);
        return rc;
    }
    bw->size = bytes & ~(size_t)((256 * 64) - 1);
    bw->mem = sk_malloc(bw->size + 64);
    if (!bw->mem) {
        dmn__bw_free(bw);
        return -ENOMEM;
    }
    bw->buf = (const uint8_t *)(((uintptr_t)bw->mem + 63) & ~(uintptr_t)63);
    /* write every byte: untouched pages would all map the one zero page (and stay in cache) */
    for (size_t i = 0; i < bw->size; i += 8) {
        uint64_t v = i * 0x9e3779b97f4a7c15ull;
        memcpy((uint8_t *)bw->buf + i, &v, 8);
    }
    __builtin_cpu_init();
    bw->level = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
    *out = bw;
    return 0;
}

double dmn__bw_run(struct dmn__bw *bw, int passes)
{
    double best = 0;
    uint64_t x = 0;
    usleep(3000); /* let the model pool's workers stop spinning and park */
    for (int i = 0; i < passes; i++) {
        double t0 = now_s();
        eng_pool_run(bw->pool, bw_task, bw);
        double r = (double)bw->size / (now_s() - t0);
        best = r > best ? r : best;
        for (int t = 0; t < 64; t++)
            x ^= bw->sink[t * 8];
    }
    bw->sink[0] = x;
    return best;
}

size_t dmn__bw_size(const struct dmn__bw *bw) { return bw->size; }

const char *dmn__bw_isa(const struct dmn__bw *bw)
{
    return bw->level == 2 ? "avx512" : bw->level == 1 ? "avx2" : "sse2";
}

void dmn__bw_free(struct dmn__bw *bw)
{
    if (!bw)
        return;
    eng_pool_delete(bw->pool);
    sk_free(bw->mem);
    sk_free(bw);
}

size_t dmn__bench_bw_bytes(void)
{
    const char *e = getenv("SEEKD_BENCH_BW_MB");
    long mb = e ? atol(e) : 1024;
    if (mb < 64)
        mb = 64;
    return (size_t)mb << 20;
}

double dmn__peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}
