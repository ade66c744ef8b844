/*
 * bench_spec: the figures of speculative decoding (issue 6), on random-weight models of real
 * shapes made by tools/make_model.py (build/bench-models/, made here when missing, before any
 * timing; `make bench-models` makes them all): draft = DeepSeek Coder 1.3B Q4_0, target =
 * Coder 6.7B Q4_0, stand-in for the memory-bound 67B = LLM 7B Q4_0.
 *   A. costs: c = draft decode step / target decode step, V(k) = target pass over k+1 tokens /
 *      target decode step, k = 1..16 (medians of repetitions, best of 2 each, position 256),
 *      for the 1.3B, the 6.7B and the 7B stand-in;
 *   G. the bundled trained demo pair (models/) on held-out code (SEEKD_SPEC_TEXT, default
 *      tools/make_model.py: seekd's own code, which the demo models never saw): acceptance
 *      alpha, tokens per target pass and measured speedup for model, n-gram and both drafts;
 *   B. draft = target (the 1.3B loaded twice, acceptance 1.0): measured speculative rate /
 *      plain rate against the ceiling (k+1) / (k + V(k)) (target: at least 90%);
 *   C. projected speedups at the best k from c, V(k) and alpha for 1.3B->6.7B, 1.3B->33B and
 *      7B->67B (c of the unmeasured pairs from weight bytes; V of the memory-bound targets
 *      from the 7B stand-in), for the alpha measured in G and for 0.6 / 0.7 / 0.8;
 *   D. the adaptive-k controller in a simulated run with those costs vs the best-k projection
 *      (target: at least 85%);
 *   E. n-gram (prompt lookup) drafting on the 1.3B shape on an editing workload (a source
 *      file that repeats its own identifiers as the prompt; greedy, outputs checked
 *      identical): acceptance and measured speedup over plain decoding (target > 1.3x), and
 *      the speedup the 1.3B's V(k) gives at the n-gram acceptance measured in G;
 *   F. KV reuse per keystroke on the 1.3B: a ~2000-token FIM prompt (this file's source) with
 *      one-character edits at the cursor: tokens reused / evaluated per keystroke; with
 *      SEEKD_SPEC_AGREE=1 also the agreement of greedy completions with shifted-chunk reuse.
 * Env: SEEKD_SPEC_DRAFT, SEEKD_SPEC_TARGET, SEEKD_SPEC_STANDIN (model files; SEEKD_SPEC_TINY=1
 * uses a tiny generated pair instead, for quick functional runs: compute-bound and
 * cache-resident, their costs misstate real shapes), SEEKD_SPEC_ALPHA (extra alphas, default
 * "0.6 0.7 0.8"), SEEKD_SPEC_REPS (default 5), SEEKD_SPEC_PARTS (default "AGBCDEF"),
 * SEEKD_SPEC_GEN (tokens per run in B, default 64), SEEKD_SPEC_BK=1 (B: only k = 4 and 8),
 * SEEKD_SPEC_FIM (part F prompt tokens, default 2000), SEEKD_SPEC_TEXT.
 * Refuses to time a busy machine (SEEKD_BENCH_FORCE=1 overrides and marks it NOT VALID).
 */
#include "base.h"
#include "daemon/commands.h"
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

/* build/bench-models/PRESET-Q4_0.gguf, made with tools/make_model.py when missing */
static const char *ensure_preset(const char *preset, char *p, size_t cap)
{
    snprintf(p, cap, "build/bench-models/%s-Q4_0.gguf", preset);
    struct stat sb;
    if (stat(p, &sb) == 0)
        return p;
    mkdir("build/bench-models", 0700);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    printf("bench_spec: generating %s (tools/make_model.py, up to 2 min)\n", p);
    const char *argv[] = {"/usr/bin/python3", "tools/make_model.py", tmp, "--preset", preset,
                          "--type", "Q4_0", "--seed", "1", NULL};
    if (run_cmd(argv) || rename(tmp, p)) {
        fprintf(stderr, "bench_spec: make_model %s failed\n", p);
        unlink(tmp);
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

/* The bundled trained pair on windows of a held-out text: prompt = BOS + P tokens, G greedy
 * tokens with the draft model, with n-gram lookup, and with both; acceptance, tokens per pass
 * and speed against plain decoding (outputs checked identical).  Returns the model drafts'
 * acceptance (alpha) or -1; *alpha_ngram gets the n-gram drafts' acceptance. */
static double part_g(const char *path, int reps, double *alpha_ngram)
{
    const char *tp = "models/seekd-demo-target.Q8_0.gguf";
    const char *dp = "models/seekd-demo-draft.Q8_0.gguf";
    char err[300];
    struct eng_vocab *voc = NULL;
    struct mdl T, D;
    double alpha = -1;
    *alpha_ngram = -1;
    size_t len;
    char *text = read_text(path, &len);
    if (!text || access(tp, R_OK) || access(dp, R_OK)) {
        printf("\nG. skipped (no %s, or no bundled demo pair in models/)\n", path);
        sk_free(text);
        return -1;
    }
    if (mdl_open(&D, dp, 512)) {
        sk_free(text);
        return -1;
    }
    if (mdl_open(&T, tp, 512)) {
        mdl_close(&D);
        sk_free(text);
        return -1;
    }
    if (eng_vocab_load(T.g, &voc, err, sizeof err)) {
        printf("\nG. skipped (no vocabulary: %s)\n", err);
        goto out;
    }
    int cap = (int)len + 16;
    int32_t *toks = sk_malloc((size_t)cap * sizeof *toks);
    int n = eng_tokenize(voc, text, len, 0, 0, toks, cap);
    int P = SK_MIN(256, eng_model_n_ctx(T.m) - 160), G = 96;
    int W = SK_MIN(24, (n - G) / (P + G));
    printf("\nG. bundled demo pair (%s -> %s) on held-out code %s: %d tokens, %d windows of %d "
           "prompt + %d generated tokens, greedy, adaptive k:\n", dp, tp, path, n, W, P, G);
    static const struct { const char *name; int draft, lookup; } modes[] = {
        {"draft model", 1, 0}, {"n-gram lookup", 0, 1}, {"draft + n-gram", 1, 1}};
    int32_t *prompt = sk_malloc((size_t)(P + 1) * sizeof *prompt);
    int32_t ref[128], got[128];
    for (size_t mi = 0; mi < SK_ARRAY_LEN(modes) && W > 0; mi++) {
        double tp_s = 0, tsp = 0;
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
                double a = plain_rate(T.m, prompt, P + 1, G, ref);
                double b = spec_rate(T.m, modes[mi].draft ? D.m : NULL, &sp, prompt, P + 1, G,
                                     got, &st);
                bp += 1 / a;
                bs += 1 / b;
                same &= !memcmp(ref, got, (size_t)G * sizeof *got);
            }
            tp_s += bp / reps;
            tsp += bs / reps;
            dr += st.n_drafted[0] + st.n_drafted[1];
            ac += st.n_accepted[0] + st.n_accepted[1];
            em += st.n_emitted;
            nv += st.n_verify;
        }
        double acc = (double)ac / (double)SK_MAX(dr, 1);
        if (mi == 0)
            alpha = acc;
        if (mi == 1)
            *alpha_ngram = acc;
        printf("  %-15s acceptance %.3f (%lld/%lld), mean tokens per target pass %.2f (accepted "
               "drafts %.2f), speed %.2fx plain (time-weighted over windows); outputs identical: "
               "%s\n",
               modes[mi].name, acc, (long long)ac, (long long)dr,
               (double)em / (double)SK_MAX(nv, 1), (double)ac / (double)SK_MAX(nv, 1),
               tp_s / tsp, same ? "yes" : "NO");
    }
    printf("  (the demo models are tiny and compute-bound: their speedup says little about real "
           "shapes; alpha feeds C and D)\n");
    sk_free(prompt);
    sk_free(toks);
out:
    sk_free(text);
    eng_vocab_free(voc);
    mdl_close(&T);
    mdl_close(&D);
    return alpha;
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
        parts = "AGBCDEF";
    char pd[512], pt[512], ps[512];
    if (getenv("SEEKD_SPEC_TINY") && atoi(getenv("SEEKD_SPEC_TINY"))) {
        dpath = ensure_tiny("spec-tiny-draft", "1", "1");
        tpath = ensure_tiny("spec-tiny-target", "4", "1");
        spath = NULL;
        if (!dpath || !tpath)
            return 1;
        printf("bench_spec: tiny generated pair (compute-bound, cache-resident: costs are not "
               "those of real shapes; FOR FUNCTIONAL RUNS ONLY)\n");
    } else {
        /* every model first: no generation next to a timing */
        if (!dpath && !(dpath = ensure_preset("coder-1.3b", pd, sizeof pd)))
            return 1;
        if (!tpath && !(tpath = ensure_preset("coder-6.7b", pt, sizeof pt)))
            return 1;
        if (!spath && !(spath = ensure_preset("llm-7b", ps, sizeof ps)))
            return 1;
    }
    if (spath && !*spath)
        spath = NULL; /* SEEKD_SPEC_STANDIN="": none */
    printf("bench_spec: kernels %s\n", eng_kernels_isa());
    struct dmn__quiet q;
    if (dmn__bench_quiet_begin(&q, "bench_spec", -1, 120, 0))
        return 3;
    struct mdl D, T, T2, S;
    memset(&S, 0, sizeof S);
    /* the draft also serves part F (a ~2000-token prompt); the others need 256 + 17 cells */
    if (mdl_open(&D, dpath, 4096) || mdl_open(&T, tpath, 512))
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
        printf("  V(8) = %.2f for the target (target <= 2; llama.cpp 5.0 on the 1.3B)\n",
               tt[8] / tt[0]);
        for (int k = 0; k <= KM; k++) {
            vt[k] = (float)(tt[k] / tt[0]);
            vd[k] = (float)(td[k] / td[0]);
        }
        for (int k = KM + 1; k <= ENG_SPEC_KMAX; k++)
            vt[k] = vd[k] = 1e9f; /* not measured: never chosen */
        if (spath && !mdl_open(&S, spath, 512)) {
            pass_times(S.m, reps, ts);
            print_costs("stand-in", ts);
            printf("  c = draft step / stand-in step = %.3f (weight-byte ratio %.3f); V(8) = %.2f "
                   "for the stand-in\n", td[0] / ts[0], D.wbytes / S.wbytes, ts[8] / ts[0]);
            for (int k = 0; k <= KM; k++)
                vs[k] = (float)(ts[k] / ts[0]);
            for (int k = KM + 1; k <= ENG_SPEC_KMAX; k++)
                vs[k] = 1e9f;
            have_s = 1;
            mdl_close(&S);
        }
    }

    double alpha_m = -1, alpha_ng = -1;
    if (strchr(parts, 'G'))
        alpha_m = part_g(getenv("SEEKD_SPEC_TEXT") ? getenv("SEEKD_SPEC_TEXT") :
                         "tools/make_model.py", SK_MIN(reps, 2), &alpha_ng); /* 22 windows */

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
            {have_s ? "1.3B -> 33B (c by weight bytes, V of the 7B stand-in)" :
                      "1.3B -> 33B (c by weight bytes, V of the target: no stand-in)",
             (float)(b13 / b33), have_s ? vs : vt},
            {have_s ? "7B -> 67B (c by weight bytes, V of the 7B stand-in)" :
                      "7B -> 67B (c by weight bytes, V of the target: no stand-in)",
             (float)(b7 / b67), have_s ? vs : vt},
        };
        printf("\nC. projected speedup at the best k = tokens per (k c + V(k)) target steps, "
               "E = (1 - a^(k+1)) / (1 - a)\nD. adaptive k in a simulated run (20000 tokens, "
               "i.i.d. acceptance a, same costs) as %% of that projection\n");
        char alist[256];
        if (alpha_m > 0 && alpha_m < 1)
            snprintf(alist, sizeof alist, "%.3f %s", alpha_m, alphas);
        else
            snprintf(alist, sizeof alist, "%s", alphas);
        if (alpha_m > 0)
            printf("  (alpha %.3f: measured on the demo pair in G; the others for orientation)\n",
                   alpha_m);
        char *al = sk_strdup(alist), *save = NULL;
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
            al = sk_strdup(alist);
            save = NULL;
        }
        sk_free(al);
    }

    if (strchr(parts, 'E')) {
        /* editing workload: the prompt is a source file that repeats its own identifiers (the
         * last ~1000 tokens of tools/make_model.py, tokenized with the 1.3B's vocabulary), the
         * 1.3B continues it greedily; n-gram drafts come from the prompt and the output */
        char err[300];
        struct eng_vocab *voc = NULL;
        size_t len;
        char *src = read_text("tools/make_model.py", &len);
        int32_t *all = src ? sk_malloc((len + 16) * sizeof *all) : NULL;
        int n_all = 0;
        if (src && !eng_vocab_load(D.g, &voc, err, sizeof err))
            n_all = eng_tokenize(voc, src, len, 0, 0, all, (int)len + 16);
        int n = SK_MIN(n_all, 1000), gen = 128;
        if (n < 64) {
            printf("\nE. skipped (no prompt text or vocabulary)\n");
        } else {
            int32_t *ep = sk_malloc((size_t)(n + 1) * sizeof *ep);
            ep[0] = eng_vocab_bos(voc);
            memcpy(ep + 1, all + n_all - n, (size_t)n * sizeof *ep);
            printf("\nE. n-gram drafting on the draft's shape (%s), greedy, adaptive k, editing "
                   "workload: %d-token prompt (a source file repeating its identifiers), %d "
                   "tokens:\n", dpath, n + 1, gen);
            double plain[64], spec[64];
            struct eng_spec_params sp;
            eng_spec_params_default(&sp);
            sp.lookup = 1;
            for (int k = 0; k <= ENG_SPEC_KMAX; k++)
                sp.v[k] = k <= KM ? vd[k] : 1e9f;
            struct eng_spec_stats st;
            int same = 1;
            for (int r = 0; r < reps; r++) {
                plain[r] = plain_rate(D.m, ep, n + 1, gen, ref);
                spec[r] = spec_rate(D.m, NULL, &sp, ep, n + 1, gen, got, &st);
                same &= !memcmp(ref, got, (size_t)gen * sizeof *got);
            }
            double pr = median(plain, reps), sr = median(spec, reps);
            printf("  plain %.2f tok/s, n-gram speculative %.2f tok/s = %.2fx (target > 1.3x); "
                   "acceptance %.3f (%lld/%lld), mean tokens per pass %.2f; outputs identical: "
                   "%s\n",
                   pr, sr, sr / pr, (double)st.n_accepted[1] / (double)SK_MAX(1, st.n_drafted[1]),
                   (long long)st.n_accepted[1], (long long)st.n_drafted[1],
                   (double)st.n_emitted / (double)SK_MAX(1, st.n_verify), same ? "yes" : "NO");
            printf("  (random weights: what the 1.3B continues with, and so the acceptance, is "
                   "a property of its random weights, whose greedy output falls into loops)\n");
            if (alpha_ng > 0 && alpha_ng < 1) {
                int bk = 0;
                double best = best_projection(alpha_ng, 0.0f, vd, &bk);
                printf("  with the n-gram acceptance of the trained demo pair on held-out code "
                       "(G, %.3f) and this shape's V(k): best k %d -> %.2fx projected\n",
                       alpha_ng, bk, best);
            }
            sk_free(ep);
        }
        eng_vocab_free(voc);
        sk_free(all);
        sk_free(src);
    }

    if (strchr(parts, 'F')) {
        char err[300];
        struct eng_vocab *voc = NULL;
        if (eng_vocab_load(D.g, &voc, err, sizeof err) || eng_vocab_fim_pre(voc) < 0) {
            printf("\nF. skipped: the draft has no FIM tokenizer (%s)\n", err);
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
        const char *typed = "fooBar(x)";
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
            if (eng_spec_new(D.m, NULL, &sp, &s, err, sizeof err))
                break;
            eng_kv_clear(D.m);
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
            printf("\nF. KV reuse per keystroke on %s (%s): FIM prompt of %d tokens (prefix ~%d, "
                   "suffix ~%d), %ld one-character edits at the cursor:\n   evaluated per "
                   "keystroke: mean %.1f, max %ld tokens (%.1f%% of the prompt); shifted cells "
                   "per keystroke %.1f; prompt time per keystroke %.1f ms\n",
                   dpath, chunk ? "with shifted-chunk reuse, min chunk 64" : "exact prefix reuse",
                   total, npre, nsuf, nks, (double)sum_eval / (double)nks, max_eval,
                   100.0 * (double)sum_eval / (double)nks / total, (double)sum_sh / (double)nks,
                   1e3 * t_eval / (double)(nks + 1));
            eng_spec_free(s);
        }
        /* agreement of shifted-chunk reuse with exact evaluation: after an edit (one typed
         * character at the cursor, or one deleted prefix line), 16 greedy tokens from a cache
         * that held the previous prompt with reuse on, vs a fresh evaluation */
        int32_t *e = sk_malloc(8192 * sizeof *e);
        int n_kinds = getenv("SEEKD_SPEC_AGREE") && atoi(getenv("SEEKD_SPEC_AGREE")) ? 2 : 0;
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
                    eng_spec_new(D.m, NULL, &sp, &s, err, sizeof err);
                    eng_kv_clear(D.m);
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
    printf("\n");
    dmn__bench_quiet_end(&q);
    mdl_close(&D);
    mdl_close(&T);
    return 0;
}
