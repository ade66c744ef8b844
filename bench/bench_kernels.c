/*
 * bench_kernels: matmul speed per weight type on a DeepSeek-Coder-1.3B-shaped stack of weights,
 * next to the machine's memory read bandwidth measured in the same run.
 *
 * The weights are "layers" of seven matrices with 2048 columns (q, k, v, o: 2048 rows; gate,
 * up, down: 5504 rows; down is stored transposed-shaped so every type's block divides 2048),
 * repeated until the stack is at least SEEKD_BENCH_MB (default 512) MB, well past the L2 and
 * the part of the shared L3 a tenant gets.  A "pass" multiplies every matrix by k activation
 * rows through eng_matmul on the pool, as a decode step does.
 *
 * Prints, per type: the 1-token pass time, GB/s of weights read, that as % of the streaming
 * read bandwidth (2 threads, median of the bandwidth runs interleaved with the type's runs),
 * and the ratio of a k-token pass to a 1-token pass for k = 1..17.  Medians of repeated runs.
 * Then the same kernels with the weight in L2 on one thread (CPU time): the compute ceiling.
 * Env: SEEKD_BENCH_TYPES=Q4_0,Q8_0,... (default: every type with SIMD kernels),
 *      SEEKD_BENCH_MB, SEEKD_BENCH_THREADS (default 2), SEEKD_BENCH_REPS (default 5).
 * The bench refuses to time a busy machine (dmn__bench_quiet_begin: load average, other
 * processes' CPU use; SEEKD_BENCH_FORCE=1 overrides and marks the output NOT VALID).
 */
#include "base.h"
#include "daemon/commands.h"
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COLS 2048
static const int64_t layer_rows[7] = {2048, 2048, 2048, 2048, 5504, 5504, 5504};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- weights ------------------------------------------------------------------------------- */
struct stack {
    enum eng_type type;
    uint8_t *mem;
    size_t row_bytes, bytes;
    int layers;
};

static int stack_make(struct stack *s, enum eng_type type, size_t target)
{
    memset(s, 0, sizeof *s);
    s->type = type;
    s->row_bytes = eng_type_row_size(type, COLS);
    int64_t rows_layer = 0;
    for (int i = 0; i < 7; i++)
        rows_layer += layer_rows[i];
    size_t layer_bytes = s->row_bytes * (size_t)rows_layer;
    s->layers = (int)((target + layer_bytes - 1) / layer_bytes);
    if (s->layers < 2)
        s->layers = 2;
    s->bytes = layer_bytes * (size_t)s->layers;
    s->mem = sk_malloc(s->bytes);
    if (!s->mem)
        return -1;
    /* 64 distinct quantised rows of pseudo-normal values, tiled over the whole stack */
    float x[COLS];
    uint32_t r = 1;
    enum { DISTINCT = 64 };
    for (int i = 0; i < DISTINCT; i++) {
        for (int c = 0; c < COLS; c++) {
            float v = 0;
            for (int k = 0; k < 3; k++) {
                r = r * 1664525u + 1013904223u;
                v += (float)(r >> 8) / 16777216.0f - 0.5f;
            }
            x[c] = v * 0.05f;
        }
        if (eng_quantize_row(type, x, s->mem + s->row_bytes * (size_t)i, COLS) != 0)
            return -1;
    }
    for (size_t off = s->row_bytes * DISTINCT; off < s->bytes; off += s->row_bytes)
        memcpy(s->mem + off, s->mem + off % (s->row_bytes * DISTINCT), s->row_bytes);
    return 0;
}

static double pass_once(struct eng_pool *pool, const struct stack *s, const float *x, int k, float *y,
                        struct eng_mm_scratch *sc)
{
    double t0 = now_s();
    const uint8_t *p = s->mem;
    for (int l = 0; l < s->layers; l++)
        for (int i = 0; i < 7; i++) {
            struct eng_tensor t = {.name = "w", .type = s->type, .n_dims = 2,
                                   .ne = {COLS, layer_rows[i], 1, 1},
                                   .nbytes = s->row_bytes * (size_t)layer_rows[i], .data = p};
            if (eng_matmul(pool, &t, x, COLS, k, y, (size_t)layer_rows[i], sc) != 0) {
                fprintf(stderr, "eng_matmul failed\n");
                exit(1);
            }
            p += t.nbytes;
        }
    return now_s() - t0;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Kernel throughput with the weight in L2 (128 rows x 2048): bytes of weight per second of this
 * thread's CPU time, best of several runs, for 1 token, and the cost of k tokens relative to 1.
 * CPU time is what other tenants of the machine disturb least; decode is memory-bound when this
 * exceeds half the 2-thread read bandwidth. */
static void l2_figures(const struct stack *s, const float *x, float *y, struct eng_mm_scratch *sc)
{
    struct eng_tensor t = {.name = "w", .type = s->type, .n_dims = 2, .ne = {COLS, 128, 1, 1},
                           .nbytes = s->row_bytes * 128, .data = s->mem};
    static const int ks[] = {1, 2, 4, 8, 9, 16};
    double base = 0;
    printf("      L2-resident, 1 thread:");
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        double best = 1e9;
        for (int rep = 0; rep < 7; rep++) {
            double t0 = cpu_s();
            for (int it = 0; it < 20; it++)
                eng_matmul(NULL, &t, x, COLS, ks[i], y, 128, sc);
            double dt = (cpu_s() - t0) / 20;
            if (dt < best)
                best = dt;
        }
        if (ks[i] == 1) {
            base = best;
            printf(" %.1f GB/s of weights |", (double)t.nbytes / best / 1e9);
        } else {
            printf(" k%d %.2f", ks[i], best / base);
        }
    }
    printf("\n");
}

static int type_selected(const char *list, const char *name)
{
    if (!list)
        return 1;
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
            return 1;
    return 0;
}

int main(void)
{
    const char *types_env = getenv("SEEKD_BENCH_TYPES");
    size_t target = (size_t)(getenv("SEEKD_BENCH_MB") ? atoi(getenv("SEEKD_BENCH_MB")) : 512) << 20;
    int threads = getenv("SEEKD_BENCH_THREADS") ? atoi(getenv("SEEKD_BENCH_THREADS")) : 2;
    int reps = getenv("SEEKD_BENCH_REPS") ? atoi(getenv("SEEKD_BENCH_REPS")) : 5;
    if (reps < 1 || reps > 99)
        reps = 5;
    static const enum eng_type all[] = {ENG_TYPE_Q4_0, ENG_TYPE_Q8_0, ENG_TYPE_Q4_K, ENG_TYPE_Q6_K,
                                        ENG_TYPE_Q5_K, ENG_TYPE_Q5_0, ENG_TYPE_Q5_1, ENG_TYPE_Q4_1,
                                        ENG_TYPE_Q3_K, ENG_TYPE_Q2_K, ENG_TYPE_F16, ENG_TYPE_BF16,
                                        ENG_TYPE_F32};

    struct dmn__quiet q;
    if (dmn__bench_quiet_begin(&q, "bench_kernels", -1, 120, 0))
        return 3;
    struct eng_pool *pool;
    if (eng_pool_new(threads, &pool) != 0)
        return 1;
    printf("bench_kernels: kernels %s, %d threads\n", eng_kernels_isa(), eng_pool_threads(pool));
    struct dmn__bw *bj;
    if (dmn__bw_new(dmn__bench_bw_bytes(), threads, &bj) != 0)
        return 1;
    double bw_all[256];
    int n_bw = 0;
    for (int i = 0; i < 3; i++)
        bw_all[n_bw++] = dmn__bw_run(bj, 3) / 1e9;

    float *x = sk_malloc(sizeof(float) * COLS * 17);
    float *y = sk_malloc(sizeof(float) * 5504 * 17);
    for (int i = 0; i < COLS * 17; i++)
        x[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    struct eng_mm_scratch sc;
    if (eng_mm_scratch_init(&sc, COLS, 17) != 0)
        return 1;

    printf("%-5s %7s %9s %7s %6s | k-token pass / 1-token pass, k = 2..17\n", "type", "MB",
           "1-tok ms", "GB/s", "%bw");
    for (size_t ti = 0; ti < sizeof all / sizeof all[0]; ti++) {
        enum eng_type type = all[ti];
        const char *name = eng_type_info((int)type)->name;
        if (!type_selected(types_env, name))
            continue;
        if (!types_env && (type == ENG_TYPE_Q2_K || type == ENG_TYPE_Q3_K))
            continue; /* reference kernels only: minutes per pass */
        struct stack s;
        if (stack_make(&s, type, target) != 0) {
            printf("%-5s cannot build weights\n", name);
            continue;
        }
        pass_once(pool, &s, x, 1, y, &sc); /* warm-up: page faults, caches */
        double t1[99], bw[99];
        for (int r = 0; r < reps; r++) { /* alternate: bandwidth, 1-token pass */
            bw[r] = dmn__bw_run(bj, 3) / 1e9;
            if (n_bw < 256)
                bw_all[n_bw++] = bw[r];
            t1[r] = pass_once(pool, &s, x, 1, y, &sc);
        }
        double m1 = median(t1, reps), mbw = median(bw, reps);
        double gbs = (double)s.bytes / m1 / 1e9;
        printf("%-5s %7.0f %9.2f %7.1f %5.0f%% |", name, (double)s.bytes / 1048576.0, m1 * 1e3,
               gbs, 100.0 * gbs / mbw);
        for (int k = 2; k <= 17; k++) {
            double tk[99];
            int rk = k == 9 ? reps : (reps + 1) / 2;
            for (int r = 0; r < rk; r++)
                tk[r] = pass_once(pool, &s, x, k, y, &sc);
            printf(" %.2f", median(tk, rk) / m1);
            fflush(stdout);
        }
        printf("\n");
        l2_figures(&s, x, y, &sc);
        sk_free(s.mem);
    }
    double mb = median(bw_all, n_bw);
    printf("memory read bandwidth (%d threads, %zu MiB, %s loads, best of 3 passes, median of "
           "%d): %.1f GB/s\n", threads, dmn__bw_size(bj) >> 20, dmn__bw_isa(bj), n_bw, mb);
    dmn__bench_quiet_end(&q);
    eng_mm_scratch_free(&sc);
    sk_free(x);
    sk_free(y);
    dmn__bw_free(bj);
    eng_pool_delete(pool);
    return 0;
}
