/*
 * bench_spec: the figures of speculative decoding (issue 6).
 *   A. costs: c = draft decode step / target decode step, V(k) = target pass over k+1 tokens /
 *      target decode step, k = 1..16 (medians of alternating repetitions, position 256);
 *   B. draft = target (acceptance 1.0): measured speculative rate / plain rate against the
 *      ceiling (k+1) / (k + V(k));
 *   C. projected speedups at the best k from c, V(k) and alpha for 1.3B->6.7B, 1.3B->33B and
 *      7B->67B (c of the unmeasured pairs from weight bytes; V of the memory-bound targets
 *      from the 7B stand-in when given, else from the measured target);
 *   D. the adaptive-k controller in a simulated run with those costs vs the best-k projection;
 *   E. n-gram (prompt lookup) drafting against plain decoding on the target (greedy; outputs
 *      checked identical), on a prompt that repeats its own lines;
 *   F. KV reuse per keystroke: a ~2000-token FIM prompt (this file's own source, DeepSeek
 *      Coder tokenizer) with one-character edits at the cursor: tokens reused / evaluated;
 *      and the agreement of greedy completions with shifted-chunk reuse on vs off;
 *   G. (SEEKD_SPEC_TEXT) acceptance and speed of model / n-gram / both drafts on real text.
 * Models (env): SEEKD_SPEC_DRAFT, SEEKD_SPEC_TARGET (default: a tiny pair generated into
 * build/bench-models), SEEKD_SPEC_STANDIN (optional, e.g. llm-7b Q4_0), SEEKD_SPEC_ALPHA
 * (default "0.6 0.7 0.8"), SEEKD_SPEC_REPS (default 5), SEEKD_SPEC_PARTS (default "ABCDEF"),
 * SEEKD_SPEC_GEN (tokens per run in B, default 64), SEEKD_SPEC_BK=1 (B: only k = 4 and 8),
 * SEEKD_SPEC_FIM (part F prompt tokens, default 2000), SEEKD_SPEC_AGREE=0 (skip part F's
 * agreement runs, three full prompt evaluations per trial),
 * SEEKD_SPEC_TEXT (a text file for part G: acceptance of the pair on real code, meaningful
 * only for trained models such as models/seekd-demo-*).
 * Tiny models fit in cache and are compute-bound: their costs misstate real shapes.
 * Prints figures only; refuses nothing, but reports the load average so busy runs show.
 */
#include "base.h"
#include "engine/engine.h"

#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define KM 16

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

struct mdl {
    const char *path;
    struct eng_gguf *g;
    struct eng_model *m;
    double wbytes; /* bytes of weights read per decode step */
};

static int mdl_open(struct mdl *d, const char *path, int n_ctx)
{
    char err[512] = "";
    memset(d, 0, sizeof *d);
    d->path = path;
    if (eng_gguf_open(path, err, sizeof err, &d->g)) {
        fprintf(stderr, "bench_spec: %s: %s\n", path, err);
        return -1;
    }
    struct eng_model_params p;
    eng_model_params_default(&p);
    p.n_ctx = n_ctx;
    p.n_batch = 512;
    p.n_outputs = 33;
    if (eng_model_load(d->g, &p, &d->m, err, sizeof err)) {
        fprintf(stderr, "bench_spec: %s: %s\n", path, err);
        eng_gguf_close(d->g);
        return -1;
    }
    int n = eng_gguf_n_tensors(d->g);
    struct eng_tensor t;
    for (int i = 0; i < n; i++)
        if (!eng_gguf_tensor_at(d->g, i, &t) && strcmp(t.name, "token_embd.weight"))
            d->wbytes += (double)t.nbytes;
    return 0;
}

static void mdl_close(struct mdl *d)
{
    eng_model_free(d->m);
    eng_gguf_close(d->g);
    memset(d, 0, sizeof *d);
}

static void rand_tokens(int32_t *t, int n, int nv, uint64_t seed)
{
    struct eng_rng r;
    eng_rng_seed(&r, seed);
    for (int i = 0; i < n; i++)
        t[i] = (int32_t)(eng_rng_next(&r) % (uint64_t)nv);
}

/* ---- A. costs -------------------------------------------------------------------------------- */

/* t[0] = one decode step, t[k] = pass over k+1 tokens, at position 256; medians of reps. */
static void pass_times(struct eng_model *m, int reps, double *t)
{
    int nv = eng_model_n_vocab(m);
    int32_t toks[256 + KM + 1];
    rand_tokens(toks, 256 + KM + 1, nv, 7);
    eng_kv_clear(m);
    eng_model_eval(m, toks, 256, ENG_LOGITS_NONE);
    double *s = calloc((size_t)reps * (KM + 1), sizeof *s);
    eng_model_eval(m, toks + 256, 1, ENG_LOGITS_LAST); /* warm */
    eng_kv_truncate(m, 256);
    for (int r = 0; r < reps; r++)
        for (int k = 0; k <= KM; k++) {
            double best = 1e9;
            for (int i = 0; i < 2; i++) {
                double t0 = now_s();
                eng_model_eval(m, toks + 256, k + 1, k ? ENG_LOGITS_ALL : ENG_LOGITS_LAST);
                double dt = now_s() - t0;
                best = dt < best ? dt : best;
                eng_kv_truncate(m, 256);
            }
            s[r * (KM + 1) + k] = best;
        }
    double col[256];
    for (int k = 0; k <= KM; k++) {
        for (int r = 0; r < reps; r++)
            col[r] = s[r * (KM + 1) + k];
        t[k] = median(col, reps);
    }
    free(s);
}

/* ---- B/E. timed generation ----------------------------------------------------------------- */

/* Plain greedy decoding of n tokens after prompt (target alone); returns tokens/s. */
static double plain_rate(struct eng_model *m, const int32_t *prompt, int np, int n, int32_t *out)
{
    eng_kv_clear(m);
    eng_model_prompt(m, prompt, np, NULL);
    int nv = eng_model_n_vocab(m);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        out[i] = eng_sample_greedy(eng_model_logits(m, 0), nv);
        if (i + 1 < n)
            eng_model_eval(m, &out[i], 1, ENG_LOGITS_LAST);
    }
    return n / (now_s() - t0);
}

/* Speculative decoding of n tokens; returns tokens/s (prompt excluded: the prompt is
 * evaluated first, its last token by the first pass, as the plain run's prompt call does). */
static double spec_rate(struct eng_model *t, struct eng_model *d, const struct eng_spec_params *sp,
                        const int32_t *prompt, int np, int n, int32_t *out,
                        struct eng_spec_stats *st)
{
    struct eng_spec *s;
    char err[300];
    eng_kv_clear(t);
    if (d)
        eng_kv_clear(d);
    if (eng_spec_new(t, d, sp, &s, err, sizeof err)) {
        fprintf(stderr, "bench_spec: %s\n", err);
        return 0;
    }
    eng_spec_prompt(s, prompt, np);
    /* the plain run's prompt call also produces the first logits: evaluate the prompt's last
     * token outside the timing too, by timing from the second call on and adding back the
     * first call's token count */
    int k = eng_spec_next(s, out, n);
    double t0 = now_s();
    int first = k;
    while (k < n) {
        int r = eng_spec_next(s, out + k, n - k);
        if (r <= 0)
            break;
        k += r;
    }
    double dt = now_s() - t0;
    eng_spec_get_stats(s, st);
    eng_spec_free(s);
    return (k - first) / dt;
}

/* ---- D. adaptive-k simulation --------------------------------------------------------------- */

/* Tokens per unit of target-step cost of a simulated run: each drafted token is accepted
 * with probability alpha (i.i.d.), k from the controller (adaptive) or fixed. */
static double simulate(double alpha, float c, const float *v, int fixed_k, int n_tokens,
                       uint64_t seed)
{
    struct eng_spec_adapt a;
    eng_spec_adapt_init(&a, KM, c, v);
    struct eng_rng r;
    eng_rng_seed(&r, seed);
    double cost = 0;
    int made = 0;
    while (made < n_tokens) {
        int k = fixed_k >= 0 ? fixed_k : eng_spec_adapt_k(&a);
        int m = 0;
        while (m < k && eng_rng_uniform(&r) < alpha)
            m++;
        cost += k * (double)c + (double)v[k];
        made += m + 1;
        eng_spec_adapt_observe(&a, k, m);
    }
    return made / cost;
}

/* ---- main ------------------------------------------------------------------------------------ */

static int run_cmd(const char **argv)
{
    pid_t pid;
    if (posix_spawn(&pid, argv[0], NULL, NULL, (char *const *)argv, environ))
        return -1;
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *ensure_tiny(const char *name, const char *layers, const char *seed)
{
    static char buf[2][256];
    static int slot;
    char *p = buf[slot++ & 1];
    snprintf(p, 256, "build/bench-models/%s.gguf", name);
    struct stat sb;
    if (stat(p, &sb) == 0)
        return p;
    mkdir("build/bench-models", 0700);
    const char *argv[] = {"/usr/bin/python3", "tools/make_model.py", p, "-q", "--preset",
                          "tiny", "--type", "Q4_0", "--n-layer", layers, "--seed", seed,
                          "--vocab", "../shared/vocab/ggml-vocab-deepseek-coder.gguf", NULL};
    if (run_cmd(argv)) {
        fprintf(stderr, "bench_spec: make_model %s failed\n", name);
        return NULL;
    }
    return p;
}

static void print_costs(const char *name, const double *t)
{
    printf("  %s: decode step %.2f ms; V(k) =", name, t[0] * 1e3);
    for (int k = 1; k <= KM; k++)
        printf(" %.2f", t[k] / t[0]);
    printf("\n");
}

static double best_projection(double alpha, float c, const float *v, int *bk)
{
    struct eng_spec_adapt a;
    eng_spec_adapt_init(&a, KM, c, v);
    double best = 0;
    for (int k = 0; k <= KM; k++) {
        double r = eng_spec_adapt_rate(&a, alpha, k);
        if (r > best) {
            best = r;
            *bk = k;
        }
    }
    return best;
}

/* Bytes of a Q4_0 llama model of the given shape (4.5 bits per weight, Q6_K output). */
static double q4_bytes(double E, double L, double F, double V, double Hkv_frac)
{
    double per_layer = E * E * (2 + 2 * Hkv_frac) + 3 * E * F;
    return (L * per_layer) * 4.5 / 8 + E * V * 6.5625 / 8;
}

static char *read_text(const char *path, size_t *len)
{
    char *s = NULL;
    if (sk_read_file(path, 1 << 22, &s, len))
        return NULL;
    return s;
}

/* BOS <fim_begin> prefix <fim_hole> suffix <fim_end> (DeepSeek Coder PSM) into out (8192). */
static int fim_tokens(const struct eng_vocab *voc, const char *pre, size_t pl, const char *suf,
                      size_t sl, int32_t *out)
{
    int n = 0;
    out[n++] = eng_vocab_bos(voc);
    out[n++] = eng_vocab_fim_pre(voc);
    n += eng_tokenize(voc, pre, pl, 0, 0, out + n, 6000);
    out[n++] = eng_vocab_fim_suf(voc);
    n += eng_tokenize(voc, suf, sl, 0, 0, out + n, 8180 - n);
    out[n++] = eng_vocab_fim_mid(voc);
    return n;
}

/* ---- G. acceptance on real text ------------------------------------------------------------- */

/* Windows of the text (tokenized with the target's vocabulary): prompt = BOS + P tokens,
 * G greedy tokens with the draft model, with n-gram lookup, and with both; acceptance, tokens
 * per pass and speed against plain decoding (outputs checked identical). */
static void part_g(struct mdl *T, struct mdl *D, const char *path, int reps)
{
    char err[300];
    struct eng_vocab *voc = NULL;
    size_t len;
    char *text = read_text(path, &len);
    if (!text || eng_vocab_load(T->g, &voc, err, sizeof err)) {
        printf("\nG. skipped (no text or no vocabulary)\n");
        sk_free(text);
        return;
    }
    int cap = (int)len + 16;
    int32_t *toks = sk_malloc((size_t)cap * sizeof *toks);
    int n = eng_tokenize(voc, text, len, 0, 0, toks, cap);
    int P = SK_MIN(256, eng_model_n_ctx(T->m) - 160), G = 96;
    int W = SK_MIN(24, (n - G) / (P + G));
    printf("\nG. held-out text %s: %d tokens, %d windows of %d prompt + %d generated tokens, "
           "greedy\n", path, n, W, P, G);
    static const struct { const char *name; int draft, lookup; } modes[] = {
        {"draft model", 1, 0}, {"n-gram lookup", 0, 1}, {"draft + n-gram", 1, 1}};
    int32_t *prompt = sk_malloc((size_t)(P + 1) * sizeof *prompt);
    int32_t ref[128], got[128];
    for (size_t mi = 0; mi < SK_ARRAY_LEN(modes); mi++) {
        double tp = 0, tsp = 0;
        int64_t dr = 0, ac = 0, em = 0, nv = 0, same = 1;
        for (int w = 0; w < W; w++) {
            prompt[0] = eng_vocab_bos(voc);
            memcpy(prompt + 1, toks + (size_t)w * (size_t)(n - G - P) / (size_t)SK_MAX(W - 1, 1),
                   (size_t)P * sizeof *prompt);
            struct eng_spec_params sp;
            eng_spec_params_default(&sp);
            sp.lookup = modes[mi].lookup;
            struct eng_spec_stats st;
            double bp = 0, bs = 0;
            for (int r = 0; r < reps; r++) {
                double a = plain_rate(T->m, prompt, P + 1, G, ref);
                double b = spec_rate(T->m, modes[mi].draft ? D->m : NULL, &sp, prompt, P + 1, G,
                                     got, &st);
                bp += 1 / a;
                bs += 1 / b;
                same &= !memcmp(ref, got, (size_t)G * sizeof *got);
            }
            tp += bp / reps;
            tsp += bs / reps;
            dr += st.n_drafted[0] + st.n_drafted[1];
            ac += st.n_accepted[0] + st.n_accepted[1];
            em += st.n_emitted;
            nv += st.n_verify;
        }
        printf("  %-15s acceptance %.3f (%lld/%lld), %.2f tokens per target pass, speed "
               "%.2fx plain (time-weighted over windows); outputs identical: %s\n",
               modes[mi].name, (double)ac / (double)SK_MAX(dr, 1), (long long)ac, (long long)dr,
               (double)em / (double)SK_MAX(nv, 1), tp / tsp, same ? "yes" : "NO");
    }
    sk_free(prompt);
    sk_free(toks);
    sk_free(text);
    eng_vocab_free(voc);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *dpath = getenv("SEEKD_SPEC_DRAFT"), *tpath = getenv("SEEKD_SPEC_TARGET");
    const char *spath = getenv("SEEKD_SPEC_STANDIN"), *alphas = getenv("SEEKD_SPEC_ALPHA");
    const char *parts = getenv("SEEKD_SPEC_PARTS");
    int reps = getenv("SEEKD_SPEC_REPS") ? atoi(getenv("SEEKD_SPEC_REPS")) : 5;
    if (reps < 1 || reps > 200)
        reps = 5;
    if (!alphas)
        alphas = "0.6 0.7 0.8";
    if (!parts)
        parts = "ABCDEF";
    if (!dpath || !tpath) {
        dpath = ensure_tiny("spec-tiny-draft", "1", "1");
        tpath = ensure_tiny("spec-tiny-target", "4", "1");
        if (!dpath || !tpath)
            return 1;
        printf("bench_spec: tiny generated pair (compute-bound, cache-resident: costs are not "
               "those of real shapes; set SEEKD_SPEC_DRAFT/TARGET)\n");
    }
    printf("bench_spec: load average %.2f at start, kernels %s\n", loadavg1(), eng_kernels_isa());
    struct mdl D, T, T2, S;
    memset(&S, 0, sizeof S);
    if (mdl_open(&D, dpath, 4096) || mdl_open(&T, tpath, 4096))
        return 1;
    printf("draft %s (%.2f GB weights), target %s (%.2f GB weights)\n", dpath, D.wbytes / 1e9,
           tpath, T.wbytes / 1e9);

    double td[KM + 1], tt[KM + 1], ts[KM + 1];
    float vt[ENG_SPEC_KMAX + 1] = {0}, vs[ENG_SPEC_KMAX + 1] = {0}, vd[ENG_SPEC_KMAX + 1] = {0};
    float c = 0;
    int have_s = 0;
    if (strchr(parts, 'A') || strchr(parts, 'C') || strchr(parts, 'D') || strchr(parts, 'B')) {
        printf("\nA. costs (median of %d, best of 2 per rep, position 256):\n", reps);
        pass_times(D.m, reps, td);
        pass_times(T.m, reps, tt);
        print_costs("draft ", td);
        print_costs("target", tt);
        c = (float)(td[0] / tt[0]);
        printf("  c = draft step / target step = %.3f (weight-byte ratio %.3f)\n", (double)c,
               D.wbytes / T.wbytes);
        for (int k = 0; k <= KM; k++) {
            vt[k] = (float)(tt[k] / tt[0]);
            vd[k] = (float)(td[k] / td[0]);
        }
        for (int k = KM + 1; k <= ENG_SPEC_KMAX; k++)
            vt[k] = vd[k] = 1e9f; /* not measured: never chosen */
        if (spath && !mdl_open(&S, spath, 4096)) {
            pass_times(S.m, reps, ts);
            print_costs("stand-in", ts);
            for (int k = 0; k <= KM; k++)
                vs[k] = (float)(ts[k] / ts[0]);
            for (int k = KM + 1; k <= ENG_SPEC_KMAX; k++)
                vs[k] = 1e9f;
            have_s = 1;
        }
    }

    int np = 64, ngen = getenv("SEEKD_SPEC_GEN") ? atoi(getenv("SEEKD_SPEC_GEN")) : 64;
    ngen = ngen < 8 ? 8 : ngen > 256 ? 256 : ngen;
    int32_t prompt[512], ref[600], got[600];
    if (strchr(parts, 'B')) {
        printf("\nB. draft = target (the draft model file loaded twice), greedy, p_min 0, fixed "
               "k, %d tokens:\n", ngen);
        if (mdl_open(&T2, dpath, 4096))
            return 1;
        rand_tokens(prompt, np, eng_model_n_vocab(D.m), 3);
        double plain[64], spec[64];
        int ks[] = {1, 2, 4, 8};
        int k0 = getenv("SEEKD_SPEC_BK") ? 2 : 0; /* only k = 4, 8 */
        for (int ki = k0; ki < 4; ki++) {
            int k = ks[ki];
            struct eng_spec_params sp;
            eng_spec_params_default(&sp);
            sp.n_draft_max = k;
            sp.adaptive = 0;
            sp.p_min = 0;
            struct eng_spec_stats st;
            for (int r = 0; r < reps; r++) {
                plain[r] = plain_rate(D.m, prompt, np, ngen, ref);
                spec[r] = spec_rate(D.m, T2.m, &sp, prompt, np, ngen, got, &st);
            }
            double pr = median(plain, reps), sr = median(spec, reps);
            double ceil = (k + 1) / (k + (double)vd[k]);
            printf("  k=%d: plain %.2f tok/s, speculative %.2f tok/s = %.3fx; ceiling "
                   "(k+1)/(k+V(k)) = %.3fx; measured/ceiling %.1f%%; acceptance %.3f\n",
                   k, pr, sr, sr / pr, ceil, 100 * (sr / pr) / ceil,
                   (double)st.n_accepted[0] / (double)SK_MAX(1, st.n_drafted[0]));
        }
        mdl_close(&T2);
    }

    if (strchr(parts, 'C') || strchr(parts, 'D')) {
        /* unmeasured pairs: c from weight bytes at Q4_0, V from the stand-in (memory-bound) */
        double b13 = q4_bytes(2048, 24, 5504, 32256, 1), b33 = q4_bytes(7168, 62, 19200, 32256,
                                                                          8.0 / 56);
        double b7 = q4_bytes(4096, 30, 11008, 102400, 1), b67 = q4_bytes(8192, 95, 22016, 102400,
                                                                         8.0 / 64);
        struct {
            const char *name;
            float c;
            const float *v;
        } pairs[3] = {
            {"1.3B -> 6.7B (measured c, V)", c, vt},
            {"1.3B -> 33B (c by bytes, V of the stand-in or target)", (float)(b13 / b33),
             have_s ? vs : vt},
            {"7B -> 67B (c by bytes, V of the stand-in or target)", (float)(b7 / b67),
             have_s ? vs : vt},
        };
        printf("\nC. projected speedup at the best k = tokens per (k c + V(k)) target steps, "
               "E = (1 - a^(k+1)) / (1 - a)\nD. adaptive k in a simulated run (20000 tokens, "
               "i.i.d. acceptance a, same costs) as %% of that projection\n");
        char *al = sk_strdup(alphas), *save = NULL;
        for (int p = 0; p < 3; p++) {
            printf("  %s, c = %.3f:\n", pairs[p].name, (double)pairs[p].c);
            for (char *tok = strtok_r(al, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                double a = atof(tok);
                int bk = 0;
                double best = best_projection(a, pairs[p].c, pairs[p].v, &bk);
                double sim = simulate(a, pairs[p].c, pairs[p].v, -1, 20000, 5);
                double simbest = simulate(a, pairs[p].c, pairs[p].v, bk, 20000, 5);
                printf("    alpha %.2f: best k %2d -> %.2fx; adaptive (simulated) %.2fx = %.1f%% "
                       "of the projection (fixed best k simulated %.2fx)\n",
                       a, bk, best, sim, 100 * sim / best, simbest);
            }
            sk_free(al);
            al = sk_strdup(alphas);
            save = NULL;
        }
        sk_free(al);
    }

    if (strchr(parts, 'E')) {
        /* a prompt that repeats its own lines: 8 random "lines" of 12 tokens, then the same
         * lines again in another order, three times */
        int nv = eng_model_n_vocab(T.m), n = 0;
        int32_t lines[8][12];
        for (int l = 0; l < 8; l++)
            rand_tokens(lines[l], 12, nv, 100 + (uint64_t)l);
        for (int rep = 0; rep < 4; rep++)
            for (int l = 0; l < 8; l++) {
                memcpy(prompt + n, lines[(l * (rep + 1) + rep) % 8], sizeof lines[0]);
                n += 12;
            }
        int gen = 128;
        printf("\nE. n-gram drafting on the target, greedy, %d-token prompt repeating its lines, "
               "%d tokens, adaptive k:\n", n, gen);
        double plain[64], spec[64];
        struct eng_spec_params sp;
        eng_spec_params_default(&sp);
        sp.lookup = 1;
        for (int k = 0; k <= ENG_SPEC_KMAX; k++)
            sp.v[k] = k <= KM ? vt[k] : 1e9f;
        struct eng_spec_stats st;
        int same = 1;
        for (int r = 0; r < reps; r++) {
            plain[r] = plain_rate(T.m, prompt, n, gen, ref);
            spec[r] = spec_rate(T.m, NULL, &sp, prompt, n, gen, got, &st);
            same &= !memcmp(ref, got, (size_t)gen * sizeof *got);
        }
        double pr = median(plain, reps), sr = median(spec, reps);
        printf("  plain %.2f tok/s, n-gram speculative %.2f tok/s = %.2fx; acceptance %.3f "
               "(%lld/%lld), mean tokens per pass %.2f; outputs identical: %s\n",
               pr, sr, sr / pr, (double)st.n_accepted[1] / (double)SK_MAX(1, st.n_drafted[1]),
               (long long)st.n_accepted[1], (long long)st.n_drafted[1],
               (double)st.n_emitted / (double)SK_MAX(1, st.n_verify), same ? "yes" : "NO");
    }

    if (strchr(parts, 'F')) {
        char err[300];
        struct eng_vocab *voc = NULL;
        if (eng_vocab_load(T.g, &voc, err, sizeof err) || eng_vocab_fim_pre(voc) < 0) {
            printf("\nF. skipped: the target has no FIM tokenizer (%s)\n", err);
            goto done;
        }
        size_t len;
        char *src = read_text("bench/bench_spec.c", &len);
        if (!src)
            goto done;
        /* cursor inside a line ~3/4 down; prefix = text before, suffix = the next ~500
         * tokens' worth of text */
        size_t cur = len * 3 / 4;
        while (cur < len && src[cur] != '\n')
            cur++;
        cur -= 8;
        int32_t *toks = sk_malloc(8192 * sizeof *toks);
        char *buf = sk_malloc(len + 64);
        const char *typed = "fooBarBaz(count)";
        int ntyped = (int)strlen(typed);
        /* choose the prefix start so the prompt is ~F tokens (env SEEKD_SPEC_FIM, default
         * 2000) with a 3:1 prefix/suffix split */
        int fim_n = getenv("SEEKD_SPEC_FIM") ? atoi(getenv("SEEKD_SPEC_FIM")) : 2000;
        fim_n = fim_n < 64 ? 64 : fim_n > 6000 ? 6000 : fim_n;
        int npre = fim_n * 3 / 4, nsuf = fim_n - npre;
        size_t pstart = 0, send = len;
        {
            int n = eng_tokenize(voc, src, cur, 0, 0, toks, 8192);
            if (n > npre) {
                int drop = n - npre;
                pstart = (size_t)drop * cur / (size_t)n;
            }
            send = cur;
            while (send < len && eng_tokenize(voc, src + cur, send - cur, 0, 0, toks, 8192) < nsuf)
                send += 64;
            send = SK_MIN(send, len);
        }
        struct eng_spec *s;
        struct eng_spec_params sp;
        eng_spec_params_default(&sp);
        int32_t fpre = eng_vocab_fim_pre(voc), fsuf = eng_vocab_fim_suf(voc);
        int32_t fmid = eng_vocab_fim_mid(voc), bos = eng_vocab_bos(voc);
        for (int chunk = 0; chunk < 2; chunk++) {
            sp.reuse_chunk = chunk ? 64 : 0;
            if (eng_spec_new(T.m, NULL, &sp, &s, err, sizeof err))
                break;
            eng_kv_clear(T.m);
            long sum_eval = 0, max_eval = 0, sum_sh = 0, nks = 0;
            int total = 0;
            double t_eval = 0;
            /* type the identifier one char at a time, then delete it one char at a time */
            for (int step = 0; step <= 2 * ntyped; step++) {
                int nt = step <= ntyped ? step : 2 * ntyped - step;
                size_t o = 0;
                memcpy(buf, src + pstart, cur - pstart);
                o = cur - pstart;
                memcpy(buf + o, typed, (size_t)nt);
                o += (size_t)nt;
                int n = 0;
                toks[n++] = bos;
                toks[n++] = fpre;
                n += eng_tokenize(voc, buf, o, 0, 0, toks + n, 8000);
                toks[n++] = fsuf;
                n += eng_tokenize(voc, src + cur, send - cur, 0, 0, toks + n, 8000 - n);
                toks[n++] = fmid;
                double t0 = now_s();
                eng_spec_prompt(s, toks, n);
                t_eval += now_s() - t0;
                struct eng_spec_stats st;
                eng_spec_get_stats(s, &st);
                total = n;
                if (step > 0) {
                    sum_eval += st.prompt_evaluated;
                    sum_sh += st.prompt_shifted;
                    max_eval = SK_MAX(max_eval, st.prompt_evaluated);
                    nks++;
                }
            }
            printf("\nF. KV reuse per keystroke (%s): FIM prompt of %d tokens (prefix ~%d, "
                   "suffix ~%d), %ld one-character edits at the cursor:\n   evaluated per "
                   "keystroke: mean %.1f, max %ld tokens (%.1f%% of the prompt); shifted cells "
                   "per keystroke %.1f; prompt time per keystroke %.1f ms\n",
                   chunk ? "with shifted-chunk reuse, min chunk 64" : "exact prefix reuse",
                   total, npre, nsuf, nks, (double)sum_eval / (double)nks, max_eval,
                   100.0 * (double)sum_eval / (double)nks / total, (double)sum_sh / (double)nks,
                   1e3 * t_eval / (double)(nks + 1));
            eng_spec_free(s);
        }
        /* agreement of shifted-chunk reuse with exact evaluation: after an edit (one typed
         * character at the cursor, or one deleted prefix line), 16 greedy tokens from a cache
         * that held the previous prompt with reuse on, vs a fresh evaluation */
        int32_t *e = sk_malloc(8192 * sizeof *e);
        int n_kinds = getenv("SEEKD_SPEC_AGREE") && !atoi(getenv("SEEKD_SPEC_AGREE")) ? 0 : 2;
        for (int kind = 0; kind < n_kinds; kind++) {
            int agree_tok = 0, agree_all = 0, trials = 0, total_tok = 0;
            for (int trial = 0; trial < 4; trial++) {
                size_t a = cur, b = cur;
                int nt = 4 * trial;
                if (kind == 1) {
                    a = pstart + (cur - pstart) * (size_t)(trial + 1) / 6;
                    while (a < cur && src[a] != '\n')
                        a++;
                    b = a + 1;
                    while (b < cur && src[b] != '\n')
                        b++;
                    if (b >= cur)
                        continue;
                    nt = 0;
                }
                /* previous prompt: prefix + typed[0..nt) */
                memcpy(buf, src + pstart, cur - pstart);
                memcpy(buf + (cur - pstart), typed, (size_t)nt);
                int n0 = fim_tokens(voc, buf, cur - pstart + (size_t)nt, src + cur, send - cur,
                                    toks);
                /* edited prompt */
                size_t o = 0;
                if (kind == 0) {
                    memcpy(buf + (cur - pstart), typed, (size_t)nt + 1);
                    o = cur - pstart + (size_t)nt + 1;
                } else {
                    memcpy(buf, src + pstart, a - pstart);
                    memcpy(buf + (a - pstart), src + b, cur - b);
                    o = (a - pstart) + (cur - b);
                }
                int n1 = fim_tokens(voc, buf, o, src + cur, send - cur, e);
                int32_t out0[16], out1[16];
                for (int chunk = 0; chunk < 2; chunk++) {
                    sp.reuse_chunk = chunk ? 64 : 0;
                    eng_spec_new(T.m, NULL, &sp, &s, err, sizeof err);
                    eng_kv_clear(T.m);
                    if (chunk)
                        eng_spec_prompt(s, toks, n0);
                    eng_spec_prompt(s, e, n1);
                    int32_t *op = chunk ? out1 : out0;
                    int k = 0;
                    while (k < 16) {
                        int r = eng_spec_next(s, op + k, 16 - k);
                        if (r <= 0)
                            break;
                        k += r;
                    }
                    while (k < 16)
                        op[k++] = -1;
                    eng_spec_free(s);
                }
                trials++;
                int same = 0;
                while (same < 16 && out0[same] == out1[same])
                    same++;
                agree_tok += same;
                total_tok += 16;
                agree_all += same == 16;
            }
            if (trials)
                printf("   shifted-chunk reuse vs exact after %s (%d trials, 16 greedy tokens): "
                       "identical completions %d/%d, tokens before the first divergence "
                       "%.1f%%\n", kind ? "deleting one prefix line" : "typing one character",
                       trials, agree_all, trials, 100.0 * agree_tok / total_tok);
        }
        sk_free(e);
        sk_free(toks);
        sk_free(buf);
        sk_free(src);
    done:
        eng_vocab_free(voc);
    }
    if (strchr(parts, 'G') && getenv("SEEKD_SPEC_TEXT"))
        part_g(&T, &D, getenv("SEEKD_SPEC_TEXT"), reps);
    printf("\nbench_spec: load average %.2f at the end\n", loadavg1());
    mdl_close(&D);
    mdl_close(&T);
    if (have_s)
        mdl_close(&S);
    return 0;
}
