/*
 * Speculative decoding from the command line: `seekd generate` with --draft D, --draft-max K or
 * --lookup, and `seekd bench --model T --draft D` (or --lookup), both routed here by
 * cmd_generate / cmd_bench.  generate prints the continuation like plain generate, then on
 * stderr the acceptance rate, mean tokens per target pass and tokens/s (with --compare also
 * the target-only rate, the speedup and whether the outputs are identical).  bench runs both
 * on the same prompt, alternating, and reports medians.
 */
#include "base.h"
#include "daemon/commands.h"
#include "engine/engine.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int dmn__spec_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--draft") || !strcmp(argv[i], "--lookup") ||
            !strcmp(argv[i], "--draft-max"))
            return 1;
    return 0;
}

static double now_s(void) { return (double)sk_real_now_ns() / 1e9; }

static int parse_f(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno)
        return -1;
    *out = (float)v;
    return 0;
}

static void usage(FILE *fp, int bench)
{
    if (bench)
        fprintf(fp, "usage: seekd bench --model T (--draft D | --lookup) [--draft-max K] "
                    "[--p-min P] [-p PROMPT_TOKENS | --prompt-file F]\n"
                    "         [-n N] [--reps R] [--threads N] [--ctx N] [--max-load L] [--wait S] "
                    "[--force]\n"
                    "  Greedy decoding of N tokens with and without speculation on the same "
                    "prompt (medians):\n  acceptance, mean tokens per target pass, tokens/s, "
                    "speedup.\n");
    else
        fprintf(fp, "usage: seekd generate --model T [--draft D] [--lookup] [--draft-max K] "
                    "[--draft-min K] [--p-min P]\n"
                    "         [--ngram-min N] [--ngram-max N] [--no-adapt] [--chunk-reuse N] "
                    "[--compare]\n"
                    "         (--prompt TEXT | --prompt-file F | --prompt-ids 1,2,3) [-n N] "
                    "[--temp T] [--top-k K]\n"
                    "         [--top-p P] [--min-p P] [--seed S] [--threads N] [--ctx N] "
                    "[--ids]\n"
                    "  Speculative generation: prints the continuation, then statistics on "
                    "stderr.\n");
}

struct opts {
    const char *model, *draft, *prompt, *prompt_file, *prompt_ids;
    long n_predict, n_prompt, reps;
    int print_ids, compare, force;
    long wait_s;
    double max_load;
    struct eng_model_params mp;
    struct eng_spec_params sp;
};

static int parse(int argc, char **argv, struct opts *o, int bench)
{
    long v;
    memset(o, 0, sizeof *o);
    o->n_predict = bench ? 128 : 64;
    o->n_prompt = 256;
    o->reps = 3;
    o->max_load = -1;
    o->wait_s = 120;
    eng_model_params_default(&o->mp);
    eng_spec_params_default(&o->sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout, bench);
            return 1;
        }
        if (!strcmp(a, "--ids")) {
            o->print_ids = 1;
            continue;
        }
        if (!strcmp(a, "--lookup")) {
            o->sp.lookup = 1;
            continue;
        }
        if (!strcmp(a, "--no-adapt")) {
            o->sp.adaptive = 0;
            continue;
        }
        if (bench && !strcmp(a, "--force")) {
            o->force = 1;
            continue;
        }
        if (!strcmp(a, "--compare")) {
            o->compare = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "seekd: %s needs a value\n", a);
            return -1;
        }
        const char *val = argv[++i];
        if (!strcmp(a, "--model") || !strcmp(a, "-m"))
            o->model = val;
        else if (!strcmp(a, "--draft") || !strcmp(a, "-md"))
            o->draft = val;
        else if (!strcmp(a, "--prompt") || (!bench && !strcmp(a, "-p")))
            o->prompt = val;
        else if (!strcmp(a, "--prompt-file") || !strcmp(a, "-f"))
            o->prompt_file = val;
        else if (!strcmp(a, "--prompt-ids"))
            o->prompt_ids = val;
        else if (bench && !strcmp(a, "-p") && !dmn__parse_int(val, 1, 8192, &v))
            o->n_prompt = v;
        else if (!strcmp(a, "-n") && !dmn__parse_int(val, 0, 1 << 20, &v))
            o->n_predict = v;
        else if (bench && !strcmp(a, "--wait") && !dmn__parse_int(val, 0, 86400, &v))
            o->wait_s = v;
        else if (!strcmp(a, "--reps") && !dmn__parse_int(val, 1, 100, &v))
            o->reps = v;
        else if (!strcmp(a, "--draft-max") && !dmn__parse_int(val, 1, ENG_SPEC_KMAX, &v))
            o->sp.n_draft_max = (int)v;
        else if (!strcmp(a, "--draft-min") && !dmn__parse_int(val, 0, ENG_SPEC_KMAX, &v))
            o->sp.n_draft_min = (int)v;
        else if (!strcmp(a, "--ngram-min") && !dmn__parse_int(val, 1, 64, &v))
            o->sp.ngram_min = (int)v;
        else if (!strcmp(a, "--ngram-max") && !dmn__parse_int(val, 1, 64, &v))
            o->sp.ngram_max = (int)v;
        else if (!strcmp(a, "--chunk-reuse") && !dmn__parse_int(val, 0, 1 << 20, &v))
            o->sp.reuse_chunk = (int)v;
        else if (!strcmp(a, "--p-min") && !parse_f(val, &o->sp.p_min))
            ;
        else if (!strcmp(a, "--temp") && !parse_f(val, &o->sp.sampling.temp))
            ;
        else if (!strcmp(a, "--top-k") && !dmn__parse_int(val, 0, 1 << 24, &v))
            o->sp.sampling.top_k = (int)v;
        else if (!strcmp(a, "--top-p") && !parse_f(val, &o->sp.sampling.top_p))
            ;
        else if (!strcmp(a, "--min-p") && !parse_f(val, &o->sp.sampling.min_p))
            ;
        else if (!strcmp(a, "--seed") && !dmn__parse_int(val, 0, LONG_MAX, &v))
            o->sp.sampling.seed = (uint64_t)v;
        else if (!strcmp(a, "--threads") && !dmn__parse_int(val, 1, 256, &v))
            o->mp.n_threads = (int)v;
        else if (!strcmp(a, "--ctx") && !dmn__parse_int(val, 1, 65536, &v))
            o->mp.n_ctx = (int)v;
        else if (!strcmp(a, "--max-load")) {
            char *end;
            o->max_load = strtod(val, &end);
            if (end == val || *end || o->max_load < 0) {
                fprintf(stderr, "seekd: bad --max-load %s\n", val);
                return -1;
            }
        } else {
            fprintf(stderr, "seekd: bad option or value: %s %s\n", a, val);
            return -1;
        }
    }
    if (!o->model) {
        fprintf(stderr, "seekd: --model is required\n");
        return -1;
    }
    if (o->sp.ngram_max < o->sp.ngram_min)
        o->sp.ngram_max = o->sp.ngram_min;
    o->mp.n_outputs = SK_MAX(o->mp.n_outputs, o->sp.n_draft_max + 1);
    return 0;
}

/* The prompt's token ids (sk_malloc'd into *ids): text, file, id list or (bench without a
 * prompt) n_random random ids.  Returns the count or -1 (message printed). */
static int get_prompt(const struct opts *o, const struct eng_vocab *voc, int nv, long n_random,
                      int32_t **ids)
{
    *ids = NULL;
    int n;
    if (o->prompt_ids) {
        n = dmn__parse_ids(o->prompt_ids, ids);
    } else if (o->prompt || o->prompt_file) {
        char *text = NULL;
        size_t tl = 0;
        if (o->prompt_file) {
            int rc = sk_read_file(o->prompt_file, 64u << 20, &text, &tl);
            if (rc) {
                fprintf(stderr, "seekd: %s: %s\n", o->prompt_file, eng_strerror(rc));
                return -1;
            }
        }
        const char *t = o->prompt ? o->prompt : text;
        tl = o->prompt ? strlen(o->prompt) : tl;
        int cap = (int)SK_MIN(tl + 8, (size_t)1 << 26);
        *ids = sk_malloc((size_t)cap * sizeof **ids);
        n = eng_tokenize(voc, t, tl, 1, 1, *ids, cap);
        sk_free(text);
        if (n > cap)
            n = -1;
    } else if (n_random > 0) {
        struct eng_rng r;
        eng_rng_seed(&r, 1);
        *ids = sk_malloc((size_t)n_random * sizeof **ids);
        for (long i = 0; i < n_random; i++)
            (*ids)[i] = (int32_t)(eng_rng_next(&r) % (uint64_t)nv);
        n = (int)n_random;
    } else {
        fprintf(stderr, "seekd: a prompt option is required\n");
        return -1;
    }
    if (n < 1) {
        fprintf(stderr, "seekd: empty or bad prompt\n");
        return -1;
    }
    for (int i = 0; i < n; i++)
        if ((*ids)[i] < 0 || (*ids)[i] >= nv) {
            fprintf(stderr, "seekd: token id %d out of range\n", (int)(*ids)[i]);
            return -1;
        }
    return n;
}

/* Target-only generation of up to n tokens (stops at a stop token); returns the count and the
 * decode time (first token excluded, as in the speculative run). */
static int plain_gen(struct eng_model *m, struct eng_sampler *smp, const int32_t *ids, int n,
                     long n_predict, int32_t *out, double *secs)
{
    eng_kv_clear(m);
    if (eng_model_prompt(m, ids, n, NULL))
        return -1;
    double t0 = now_s();
    int k = 0;
    while (k < n_predict) {
        int32_t t = eng_sampler_sample(smp, eng_model_logits(m, 0));
        if (eng_sampler_is_stop(smp, t))
            break;
        out[k++] = t;
        if (k == 1)
            t0 = now_s();
        if (k == n_predict || eng_kv_len(m) >= eng_model_n_ctx(m) ||
            eng_model_eval(m, &t, 1, ENG_LOGITS_LAST))
            break;
    }
    *secs = now_s() - t0;
    return k;
}

/* Speculative generation of up to n tokens; same timing convention. */
static int spec_gen(struct eng_spec *s, const int32_t *ids, int n, long n_predict, int32_t *out,
                    double *secs, int *first)
{
    int rc = eng_spec_prompt(s, ids, n);
    if (rc) {
        fprintf(stderr, "seekd: prompt: %s\n", eng_strerror(rc));
        return -1;
    }
    eng_spec_reset_stats(s);
    double t0 = now_s();
    int k = 0;
    *first = 0;
    while (k < n_predict) {
        int r = eng_spec_next(s, out + k, (int)SK_MIN(n_predict - k, INT_MAX));
        if (r < 0) {
            fprintf(stderr, "seekd: speculative step: %s\n", eng_strerror(r));
            return -1;
        }
        if (r == 0)
            break;
        if (k == 0) {
            *first = r;
            t0 = now_s();
        }
        k += r;
    }
    *secs = now_s() - t0;
    return k;
}

static void print_stats(const struct eng_spec_stats *st, int n_tok, int first, double secs)
{
    int64_t d = st->n_drafted[0] + st->n_drafted[1], a = st->n_accepted[0] + st->n_accepted[1];
    fprintf(stderr,
            "speculative: acceptance %.3f (model %lld/%lld, n-gram %lld/%lld), %.2f tokens per "
            "target pass (%lld passes), %d tokens, %.2f tok/s\n",
            d ? (double)a / (double)d : 0.0, (long long)st->n_accepted[0],
            (long long)st->n_drafted[0], (long long)st->n_accepted[1],
            (long long)st->n_drafted[1],
            (double)st->n_emitted / (double)SK_MAX(1, st->n_verify), (long long)st->n_verify,
            n_tok, secs > 0 ? (n_tok - first) / secs : 0.0);
    fprintf(stderr, "prompt: %d reused, %d shifted, %d evaluated (target); draft %d reused, %d "
                    "evaluated\n",
            st->prompt_reused, st->prompt_shifted, st->prompt_evaluated, st->draft_prompt_reused,
            st->draft_prompt_evaluated);
}

struct pair {
    struct dmn__model t, d;
    int has_d;
    struct eng_spec *s;
    struct eng_sampler *smp;
    int32_t eog[64];
    int n_eog;
};

static int pair_open(struct pair *p, struct opts *o)
{
    memset(p, 0, sizeof *p);
    if (dmn__model_open(&p->t, o->model, &o->mp, 1))
        return -1;
    if (o->draft) {
        struct eng_model_params dp = o->mp;
        if (dmn__model_open(&p->d, o->draft, &dp, 0))
            return -1;
        p->has_d = 1;
    }
    char err[512] = "";
    int rc = eng_spec_new(p->t.model, p->has_d ? p->d.model : NULL, &o->sp, &p->s, err,
                          sizeof err);
    if (rc) {
        fprintf(stderr, "seekd: %s: %s\n", rc == ENG_EINCOMPATIBLE ? "draft refused" :
                "speculative session", err[0] ? err : eng_strerror(rc));
        return -1;
    }
    if (eng_sampler_new(&p->smp, eng_model_n_vocab(p->t.model), &o->sp.sampling)) {
        fprintf(stderr, "seekd: bad sampling parameters\n");
        return -1;
    }
    p->n_eog = SK_MIN(eng_vocab_eog_ids(p->t.vocab, p->eog, 64), 64);
    eng_spec_set_stops(p->s, p->eog, p->n_eog);
    eng_sampler_set_stops(p->smp, p->eog, p->n_eog);
    return 0;
}

static void pair_close(struct pair *p)
{
    eng_spec_free(p->s);
    eng_sampler_free(p->smp);
    if (p->has_d)
        dmn__model_close(&p->d);
    dmn__model_close(&p->t);
}

int cmd_spec_generate(int argc, char **argv)
{
    struct opts o;
    int r = parse(argc, argv, &o, 0);
    if (r)
        return r > 0 ? 0 : (usage(stderr, 0), 2);
    struct pair p;
    int ret = 1;
    int32_t *ids = NULL, *out = NULL, *ref = NULL;
    if (pair_open(&p, &o))
        goto out;
    int n = get_prompt(&o, p.t.vocab, eng_model_n_vocab(p.t.model), 0, &ids);
    if (n < 0)
        goto out;
    out = sk_malloc((size_t)(o.n_predict + 1) * sizeof *out);
    double secs;
    int first;
    int k = spec_gen(p.s, ids, n, o.n_predict, out, &secs, &first);
    if (k < 0)
        goto out;
    struct eng_detok dt;
    eng_detok_init(&dt);
    char buf[1024];
    for (int i = 0; i < k; i++) {
        if (o.print_ids) {
            printf(i ? " %d" : "%d", (int)out[i]);
        } else {
            int w = eng_detok_push(&dt, p.t.vocab, out[i], 0, buf, sizeof buf);
            if (w > 0 && w <= (int)sizeof buf)
                fwrite(buf, 1, (size_t)w, stdout);
        }
    }
    if (!o.print_ids) {
        int w = eng_detok_flush(&dt, buf, sizeof buf);
        if (w > 0)
            fwrite(buf, 1, (size_t)w, stdout);
    }
    printf("\n");
    fflush(stdout);
    struct eng_spec_stats st;
    eng_spec_get_stats(p.s, &st);
    print_stats(&st, k, first, secs);
    if (o.compare) {
        ref = sk_malloc((size_t)(o.n_predict + 1) * sizeof *ref);
        double ps;
        int kp = plain_gen(p.t.model, p.smp, ids, n, o.n_predict, ref, &ps);
        double rs = secs > 0 ? (k - first) / secs : 0, rp = ps > 0 ? (kp - 1) / ps : 0;
        fprintf(stderr, "target alone: %d tokens, %.2f tok/s; speedup %.2fx; outputs %s\n", kp,
                rp, rp > 0 ? rs / rp : 0.0,
                kp == k && !memcmp(ref, out, (size_t)k * sizeof *out) ? "identical" :
                (o.sp.sampling.temp > 0 ? "differ (sampling)" : "DIFFER"));
    }
    ret = 0;
out:
    sk_free(ids);
    sk_free(out);
    sk_free(ref);
    pair_close(&p);
    return ret;
}

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

int cmd_spec_bench(int argc, char **argv)
{
    struct opts o;
    int r = parse(argc, argv, &o, 1);
    if (r)
        return r > 0 ? 0 : (usage(stderr, 1), 2);
    if (!o.draft && !o.sp.lookup) {
        usage(stderr, 1);
        return 2;
    }
    o.sp.sampling.temp = 0; /* greedy: outputs must agree */
    struct pair p;
    int ret = 1;
    int32_t *ids = NULL, *out = NULL, *ref = NULL;
    double sp_rate[100], pl_rate[100];
    if (pair_open(&p, &o))
        goto out;
    /* no stops in the bench: both runs produce exactly n tokens */
    eng_spec_set_stops(p.s, NULL, 0);
    eng_sampler_set_stops(p.smp, NULL, 0);
    int n = get_prompt(&o, p.t.vocab, eng_model_n_vocab(p.t.model), o.n_prompt, &ids);
    if (n < 0)
        goto out;
    if (n + o.n_predict + ENG_SPEC_KMAX + 2 > eng_model_n_ctx(p.t.model)) {
        fprintf(stderr, "seekd: prompt + n exceeds the context (%d): use --ctx\n",
                eng_model_n_ctx(p.t.model));
        goto out;
    }
    struct dmn__quiet q;
    if (dmn__bench_quiet_begin(&q, "seekd bench", o.max_load, o.wait_s, o.force)) {
        ret = 3;
        goto out;
    }
    out = sk_malloc((size_t)(o.n_predict + 1) * sizeof *out);
    ref = sk_malloc((size_t)(o.n_predict + 1) * sizeof *ref);
    struct eng_spec_stats st;
    int same = 1, k = 0, kp = 0;
    for (long rep = 0; rep < o.reps; rep++) {
        double ps, ss;
        int first;
        kp = plain_gen(p.t.model, p.smp, ids, n, o.n_predict, ref, &ps);
        k = spec_gen(p.s, ids, n, o.n_predict, out, &ss, &first);
        if (kp < 0 || k < 0)
            goto out;
        pl_rate[rep] = (kp - 1) / ps;
        sp_rate[rep] = (k - first) / ss;
        same &= kp == k && !memcmp(ref, out, (size_t)k * sizeof *out);
        eng_spec_get_stats(p.s, &st);
    }
    int not_quiet = dmn__bench_quiet_end(&q);
    double pr = median(pl_rate, (int)o.reps), sr = median(sp_rate, (int)o.reps);
    int64_t d = st.n_drafted[0] + st.n_drafted[1], a = st.n_accepted[0] + st.n_accepted[1];
    printf("target %s, draft %s%s, prompt %d tokens, %ld tokens generated, greedy, reps %ld\n",
           o.model, o.draft ? o.draft : "none", o.sp.lookup ? " + n-gram lookup" : "", n,
           o.n_predict, o.reps);
    printf("acceptance rate %.3f (%lld/%lld; model %lld/%lld, n-gram %lld/%lld)\n",
           d ? (double)a / (double)d : 0.0, (long long)a, (long long)d,
           (long long)st.n_accepted[0], (long long)st.n_drafted[0], (long long)st.n_accepted[1],
           (long long)st.n_drafted[1]);
    printf("mean tokens per target pass %.2f (mean accepted drafts %.2f), last k %d\n",
           (double)st.n_emitted / (double)SK_MAX(1, st.n_verify),
           (double)a / (double)SK_MAX(1, st.n_verify), st.last_k);
    printf("tokens/s: plain %.2f, speculative %.2f, speedup %.2fx (medians); outputs %s%s\n",
           pr, sr, sr / pr, same ? "identical" : "DIFFER",
           not_quiet ? "  ** NOT VALID: busy machine **" : "");
    ret = same ? 0 : 1;
out:
    sk_free(ids);
    sk_free(out);
    sk_free(ref);
    pair_close(&p);
    return ret;
}
