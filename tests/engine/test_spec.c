/*
 * Tests of speculative decoding (engine/spec.c, lookup.c, spec_adapt.c) on tiny random-weight
 * models written by tools/make_model.py: greedy speculative output identical to target-only
 * greedy decoding (model drafts, n-gram drafts, both; several prompts, budgets smaller than k,
 * stop tokens inside a draft, near-tie logits), the sampling-mode output distribution
 * (chi-square against the target's exact distribution), draft = target accepting everything,
 * pairing refusals naming the difference, rollback and prefix reuse leaving the KV exactly as
 * a fresh evaluation, shifted-chunk reuse, n-gram lookup and the adaptive-k controller.
 */
#include "base.h"
#include "engine/engine.h"
#include "tests/engine/gguf_writer.h"
#include "tests/test.h"
#include "tests/engine/make_model.h"

#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

struct tm_ {
    struct eng_gguf *g;
    struct eng_model *m;
};

static struct tm_ open_model(const char *path, int n_ctx, int nb)
{
    struct tm_ t = {0};
    char err[256] = "";
    int rc = eng_gguf_open(path, err, sizeof err, &t.g);
    ASSERT_MSG(rc == 0, "open %s: %s", path, err);
    struct eng_model_params p;
    eng_model_params_default(&p);
    p.n_ctx = n_ctx;
    p.n_threads = 1;
    p.n_batch = nb;
    p.n_outputs = nb;
    rc = eng_model_load(t.g, &p, &t.m, err, sizeof err);
    ASSERT_MSG(rc == 0, "load %s: %d %s", path, rc, err);
    return t;
}

static void close_model(struct tm_ *t)
{
    eng_model_free(t->m);
    eng_gguf_close(t->g);
    memset(t, 0, sizeof *t);
}

static void make_tokens(int32_t *toks, int n, int nv, uint64_t seed)
{
    struct eng_rng r;
    eng_rng_seed(&r, seed);
    for (int i = 0; i < n; i++)
        toks[i] = (int32_t)(eng_rng_next(&r) % (uint64_t)nv);
}

/* Target-only greedy decoding, one token per eval: the reference.  Returns the count
 * (stops at a stop token, which is not included, or after n_predict tokens). */
static int greedy_ref(struct eng_model *m, const int32_t *prompt, int n, int n_predict,
                      const int32_t *stops, int n_stops, int32_t *out)
{
    eng_kv_clear(m);
    ASSERT_EQ(eng_model_prompt(m, prompt, n, NULL), 0);
    int k = 0;
    while (k < n_predict) {
        int32_t t = eng_sample_greedy(eng_model_logits(m, 0), eng_model_n_vocab(m));
        int stop = 0;
        for (int i = 0; i < n_stops; i++)
            stop |= stops[i] == t;
        if (stop)
            break;
        out[k++] = t;
        if (k == n_predict || eng_kv_len(m) >= eng_model_n_ctx(m))
            break;
        ASSERT_EQ(eng_model_eval(m, &t, 1, ENG_LOGITS_LAST), 0);
    }
    return k;
}

/* Speculative decoding of up to n_predict tokens, passing the remaining budget as cap. */
static int spec_run(struct eng_spec *s, const int32_t *prompt, int n, int n_predict,
                    int32_t *out)
{
    ASSERT_EQ(eng_spec_prompt(s, prompt, n), 0);
    int k = 0;
    while (k < n_predict) {
        int r = eng_spec_next(s, out + k, n_predict - k);
        ASSERT_MSG(r >= 0, "eng_spec_next: %s", eng_strerror(r));
        ASSERT(r <= n_predict - k);
        if (r == 0)
            break;
        k += r;
    }
    return k;
}

/* A prompt that repeats itself (so n-gram drafting finds matches): a random head, then
 * copies of a random "line". */
static int make_prompt(int32_t *p, int nv, uint64_t seed, int kind)
{
    int n = 0;
    make_tokens(p, 12, nv, seed);
    n = 12;
    if (kind == 1) {
        for (int r = 0; r < 4; r++)
            for (int i = 0; i < 7; i++)
                p[n++] = p[2 + i];
    } else if (kind == 2) {
        p[0] = p[1];
        n = 2;
    }
    return n;
}

struct variant {
    const char *name;
    int with_draft, lookup, k, adaptive;
    float p_min;
};

static void check_greedy_identical(const char *tpath, const char *dpath, int n_predict)
{
    struct tm_ ref = open_model(tpath, 512, 40);
    struct tm_ tgt = open_model(tpath, 512, 40);
    struct tm_ dft = open_model(dpath, 512, 40);
    int nv = eng_model_n_vocab(tgt.m);
    static const struct variant vs[] = {
        {"model k4", 1, 0, 4, 0, 0.0f},      {"model k16 adaptive", 1, 0, 16, 1, 0.75f},
        {"model k1", 1, 0, 1, 0, 0.0f},      {"lookup k8", 0, 1, 8, 0, 0.0f},
        {"lookup adaptive", 0, 1, 16, 1, 0.0f}, {"both k12", 1, 1, 12, 0, 0.3f},
        {"plain", 0, 0, 4, 0, 0.0f},
    };
    int32_t prompt[64], want[256], got[256];
    int64_t drafted = 0, accepted = 0;
    for (int kind = 0; kind < 3; kind++) {
        int n = make_prompt(prompt, nv, 100 + (uint64_t)kind, kind);
        int nw = greedy_ref(ref.m, prompt, n, n_predict, NULL, 0, want);
        ASSERT_EQ(nw, n_predict);
        for (size_t v = 0; v < SK_ARRAY_LEN(vs); v++) {
            struct eng_spec_params sp;
            eng_spec_params_default(&sp);
            sp.n_draft_max = vs[v].k;
            sp.adaptive = vs[v].adaptive;
            sp.lookup = vs[v].lookup;
            sp.ngram_min = 1;
            sp.p_min = vs[v].p_min;
            struct eng_spec *s = NULL;
            char err[256];
            ASSERT_EQ(eng_spec_new(tgt.m, vs[v].with_draft ? dft.m : NULL, &sp, &s, err,
                                   sizeof err), 0);
            /* budgets: the whole run, and a budget smaller than k (3 tokens) */
            int ng = spec_run(s, prompt, n, n_predict, got);
            ASSERT_MSG(ng == nw, "%s prompt %d: %d tokens, want %d", vs[v].name, kind, ng, nw);
            for (int i = 0; i < nw; i++)
                ASSERT_MSG(got[i] == want[i], "%s prompt %d: token %d differs (%d vs %d)",
                           vs[v].name, kind, i, got[i], want[i]);
            ng = spec_run(s, prompt, n, 3, got);
            ASSERT_EQ(ng, 3);
            ASSERT(!memcmp(got, want, 3 * sizeof *got));
            /* a stop token inside a draft: the output ends just before its first occurrence */
            int at = nw / 2 + 1;
            int32_t stop = want[at];
            int first = 0;
            while (want[first] != stop)
                first++;
            eng_spec_set_stops(s, &stop, 1);
            ng = spec_run(s, prompt, n, n_predict, got);
            ASSERT_EQ(ng, first);
            ASSERT(!memcmp(got, want, (size_t)first * sizeof *got));
            ASSERT_EQ(eng_spec_next(s, got, 4), 0); /* stays finished */
            eng_spec_set_stops(s, NULL, 0);
            struct eng_spec_stats st;
            eng_spec_get_stats(s, &st);
            drafted += st.n_drafted[0] + st.n_drafted[1];
            accepted += st.n_accepted[0] + st.n_accepted[1];
            eng_spec_free(s);
        }
    }
    /* the runs above must have exercised both acceptance and rejection */
    ASSERT(drafted > 0);
    ASSERT(accepted > 0);
    ASSERT(accepted < drafted);
    close_model(&ref);
    close_model(&tgt);
    close_model(&dft);
}

TEST_T(spec_greedy_identical_to_target, 300)
{
    const char *t = make_model("tgt", "--preset", "tiny", "--type", "Q8_0", "--seed", "1", NULL);
    const char *d = make_model("dft", "--preset", "tiny", "--type", "Q4_0", "--n-layer", "1",
                               "--seed", "1", NULL);
    check_greedy_identical(t, d, 40);
}

TEST_T(spec_greedy_identical_near_ties, 300)
{
    /* init scale 0.02: logits within ~1e-2 of each other, many near ties */
    const char *t = make_model("tgtn", "--preset", "tiny", "--type", "Q4_0", "--seed", "5",
                               "--init-scale", "0.02", NULL);
    const char *d = make_model("dftn", "--preset", "tiny", "--type", "Q4_0", "--seed", "5",
                               "--init-scale", "0.02", "--n-layer", "1", NULL);
    check_greedy_identical(t, d, 32);
}

TEST(spec_draft_equals_target_accepts_everything)
{
    const char *t = make_model("same", "--preset", "tiny", "--type", "Q4_0", "--seed", "3", NULL);
    struct tm_ a = open_model(t, 512, 40), b = open_model(t, 512, 40);
    struct eng_spec_params sp;
    eng_spec_params_default(&sp);
    sp.n_draft_max = 8;
    sp.adaptive = 0;
    sp.p_min = 0.0f;
    struct eng_spec *s;
    ASSERT_EQ(eng_spec_new(a.m, b.m, &sp, &s, NULL, 0), 0);
    int32_t prompt[16], out[128];
    make_tokens(prompt, 16, eng_model_n_vocab(a.m), 9);
    ASSERT_EQ(spec_run(s, prompt, 16, 90, out), 90);
    struct eng_spec_stats st;
    eng_spec_get_stats(s, &st);
    ASSERT(st.n_drafted[0] >= 70);
    ASSERT_EQ(st.n_accepted[0], st.n_drafted[0]);
    ASSERT_EQ(st.n_verify, 10); /* 9 tokens per pass */
    eng_spec_free(s);
    close_model(&a);
    close_model(&b);
}

/* ---- pairing -------------------------------------------------------------------------------- */

struct vocab_desc {
    const char *model, *pre;
    int n_tok, bos, eos, add_bos, add_eos;
    int bad_id; /* token whose text is changed, or -1 */
};

static void write_vocab(const char *path, const struct vocab_desc *d)
{
    struct gw w = {0};
    gw_header(&w, 3, 0, 7);
    gw_kv_str(&w, "tokenizer.ggml.model", d->model);
    gw_kv_str(&w, "tokenizer.ggml.pre", d->pre);
    const char **toks = calloc((size_t)d->n_tok, sizeof *toks);
    char (*buf)[16] = calloc((size_t)d->n_tok, 16);
    for (int i = 0; i < d->n_tok; i++) {
        snprintf(buf[i], 16, i == d->bad_id ? "x%d\n" : "t%d", i);
        toks[i] = buf[i];
    }
    gw_kv_arr_str(&w, "tokenizer.ggml.tokens", toks, (size_t)d->n_tok);
    gw_kv_u32(&w, "tokenizer.ggml.bos_token_id", (uint32_t)d->bos);
    gw_kv_u32(&w, "tokenizer.ggml.eos_token_id", (uint32_t)d->eos);
    gw_kv_bool(&w, "tokenizer.ggml.add_bos_token", d->add_bos);
    gw_kv_bool(&w, "tokenizer.ggml.add_eos_token", d->add_eos);
    gw_pad(&w, 32);
    ASSERT_EQ(gw_write(&w, path), 0);
    gw_free(&w);
    free(toks);
    free(buf);
}

TEST(spec_pairing_names_first_difference)
{
    static const struct vocab_desc base = {"gpt2", "deepseek-coder", 300, 290, 291, 1, 0, -1};
    static const struct {
        const char *what;
        struct vocab_desc d;
        const char *msg;
    } cases[] = {
        {"same", {"gpt2", "deepseek-coder", 300, 290, 291, 1, 0, -1}, NULL},
        {"size within 128", {"gpt2", "deepseek-coder", 420, 290, 291, 1, 0, -1}, NULL},
        {"ids 0..4 ignored", {"gpt2", "deepseek-coder", 300, 290, 291, 1, 0, 3}, NULL},
        {"model", {"llama", "deepseek-coder", 300, 290, 291, 1, 0, -1}, "tokenizer.ggml.model"},
        {"pre", {"gpt2", "deepseek-llm", 300, 290, 291, 1, 0, -1}, "tokenizer.ggml.pre differs: "
                                                                   "target \"deepseek-coder\""},
        {"size", {"gpt2", "deepseek-coder", 429, 290, 291, 1, 0, -1}, "vocabulary sizes"},
        {"bos", {"gpt2", "deepseek-coder", 300, 1, 291, 1, 0, -1}, "bos_token_id"},
        {"eos", {"gpt2", "deepseek-coder", 300, 290, 2, 1, 0, -1}, "eos_token_id"},
        {"add_bos", {"gpt2", "deepseek-coder", 300, 290, 291, 0, 0, -1}, "add_bos_token"},
        {"add_eos", {"gpt2", "deepseek-coder", 300, 290, 291, 1, 1, -1}, "add_eos_token"},
        {"text", {"gpt2", "deepseek-coder", 300, 290, 291, 1, 0, 77},
         "token 77 text differs: target \"t77\", draft \"x77\\x0a\""},
        {"first of two", {"llama", "deepseek-llm", 300, 290, 291, 1, 0, 9}, "ggml.model"},
    };
    char tp[600], dp[600], why[300];
    snprintf(tp, sizeof tp, "%s/t.gguf", test_tmpdir());
    snprintf(dp, sizeof dp, "%s/d.gguf", test_tmpdir());
    write_vocab(tp, &base);
    struct eng_gguf *gt, *gd;
    char err[256];
    ASSERT_EQ(eng_gguf_open(tp, err, sizeof err, &gt), 0);
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
        write_vocab(dp, &cases[i].d);
        ASSERT_MSG(eng_gguf_open(dp, err, sizeof err, &gd) == 0, "%s", err);
        int rc = eng_spec_compatible(gt, gd, why, sizeof why);
        if (!cases[i].msg) {
            ASSERT_MSG(rc == 0, "%s: refused: %s", cases[i].what, why);
        } else {
            ASSERT_EQ(rc, ENG_EINCOMPATIBLE);
            ASSERT_MSG(strstr(why, cases[i].msg), "%s: message \"%s\"", cases[i].what, why);
        }
        eng_gguf_close(gd);
    }
    eng_gguf_close(gt);

    /* a real pair of models with different synthetic vocabularies is refused by eng_spec_new */
    const char *a = make_model("va", "--preset", "tiny", "--type", "Q8_0", NULL);
    const char *b = make_model("vb", "--preset", "tiny", "--type", "Q8_0", "--n-vocab", "600",
                               NULL);
    struct tm_ ma = open_model(a, 64, 8), mb = open_model(b, 64, 8);
    struct eng_spec_params sp;
    eng_spec_params_default(&sp);
    struct eng_spec *s = NULL;
    ASSERT_EQ(eng_spec_new(ma.m, mb.m, &sp, &s, why, sizeof why), ENG_EINCOMPATIBLE);
    ASSERT(s == NULL);
    ASSERT_MSG(strstr(why, "bos_token_id"), "%s", why);
    close_model(&ma);
    close_model(&mb);
}

/* ---- rollback and reuse --------------------------------------------------------------------- */

/* The logits the target gives for the token after the session's committed tokens, computed
 * on the session's cache; and on a fresh model that evaluates the committed tokens in one
 * go.  They must be bit-identical. */
static void check_kv_matches_fresh(struct eng_model *m, struct eng_model *fresh,
                                   const int32_t *hist, int H)
{
    int nv = eng_model_n_vocab(m);
    ASSERT_EQ(eng_kv_len(m), H - 1);
    ASSERT(!memcmp(eng_kv_tokens(m), hist, (size_t)(H - 1) * sizeof *hist));
    ASSERT_EQ(eng_model_eval(m, hist + H - 1, 1, ENG_LOGITS_LAST), 0);
    eng_kv_clear(fresh);
    for (int i = 0; i < H; i += 32)
        ASSERT_EQ(eng_model_eval(fresh, hist + i, SK_MIN(32, H - i), ENG_LOGITS_LAST), 0);
    ASSERT(!memcmp(eng_model_logits(m, 0), eng_model_logits(fresh, 0), (size_t)nv * 4));
    ASSERT_EQ(eng_kv_truncate(m, H - 1), 0);
}

TEST_T(spec_rollback_and_prefix_reuse_exact, 200)
{
    const char *t = make_model("rb", "--preset", "tiny", "--type", "Q4_0", "--seed", "11", NULL);
    const char *d = make_model("rbd", "--preset", "tiny", "--type", "Q8_0", "--seed", "12",
                               "--n-layer", "1", NULL);
    struct tm_ tg = open_model(t, 512, 40), df = open_model(d, 512, 40);
    struct tm_ fr = open_model(t, 512, 40), frd = open_model(d, 512, 40);
    struct eng_spec_params sp;
    eng_spec_params_default(&sp);
    sp.n_draft_max = 6;
    sp.adaptive = 0;
    sp.p_min = 0.0f;
    struct eng_spec *s;
    ASSERT_EQ(eng_spec_new(tg.m, df.m, &sp, &s, NULL, 0), 0);
    int nv = eng_model_n_vocab(tg.m);
    int32_t prompt[200], out[64];
    make_tokens(prompt, 200, nv, 21);
    ASSERT_EQ(eng_spec_prompt(s, prompt, 150), 0);
    struct eng_spec_stats st;
    eng_spec_get_stats(s, &st);
    ASSERT_EQ(st.prompt_reused, 0);
    ASSERT_EQ(st.prompt_evaluated, 150);
    int rejected_seen = 0;
    for (int it = 0; it < 8; it++) {
        int r = eng_spec_next(s, out, 64);
        ASSERT(r >= 1);
        eng_spec_get_stats(s, &st);
        rejected_seen |= st.n_accepted[0] < st.n_drafted[0];
        int H;
        const int32_t *h = eng_spec_tokens(s, &H);
        check_kv_matches_fresh(tg.m, fr.m, h, H);
    }
    ASSERT(rejected_seen); /* rollback after rejected drafts was exercised */
    /* the draft's cache after its own rollback: a prefix of the committed tokens, and its
     * logits equal a fresh evaluation */
    int H;
    const int32_t *h = eng_spec_tokens(s, &H);
    int dl = eng_kv_len(df.m);
    ASSERT(dl <= H);
    ASSERT(!memcmp(eng_kv_tokens(df.m), h, (size_t)dl * sizeof *h));
    if (dl > 1) {
        ASSERT_EQ(eng_kv_truncate(df.m, dl - 1), 0);
        check_kv_matches_fresh(df.m, frd.m, h, dl);
    }

    /* a new request sharing 120 tokens with the old prompt: 120 cells reused, the rest
     * evaluated, and the state equals a fresh evaluation */
    int32_t p2[180];
    memcpy(p2, prompt, 120 * sizeof *p2);
    make_tokens(p2 + 120, 60, nv, 22);
    ASSERT_EQ(eng_spec_prompt(s, p2, 180), 0);
    eng_spec_get_stats(s, &st);
    ASSERT_EQ(st.prompt_reused, 120);
    ASSERT_EQ(st.prompt_shifted, 0);
    ASSERT_EQ(st.prompt_evaluated, 60);
    ASSERT(st.draft_prompt_reused >= 100);
    check_kv_matches_fresh(tg.m, fr.m, p2, 180);
    /* the same prompt again: everything but the last token reused */
    ASSERT_EQ(eng_spec_prompt(s, p2, 180), 0);
    eng_spec_get_stats(s, &st);
    ASSERT_EQ(st.prompt_reused, 179);
    ASSERT_EQ(st.prompt_evaluated, 1);
    /* bad input */
    int32_t bad = nv;
    ASSERT_EQ(eng_spec_prompt(s, &bad, 1), ENG_EINVAL);
    ASSERT_EQ(eng_spec_prompt(s, p2, 0), ENG_EINVAL);
    ASSERT_EQ(eng_spec_next(s, out, 0), ENG_EINVAL);
    eng_spec_free(s);
    close_model(&tg);
    close_model(&df);
    close_model(&fr);
    close_model(&frd);
}

TEST(spec_chunk_reuse_rerotates_keys)
{
    /* F32 KV so the comparison measures the rotation, not F16 rounding */
    const char *t = make_model("cr", "--preset", "tiny", "--type", "F32", "--seed", "31", NULL);
    char err[256];
    struct eng_gguf *g;
    ASSERT_EQ(eng_gguf_open(t, err, sizeof err, &g), 0);
    struct eng_model_params p;
    eng_model_params_default(&p);
    p.n_ctx = 256;
    p.n_threads = 1;
    p.kv_type = ENG_TYPE_F32;
    struct eng_model *m, *fresh;
    ASSERT_EQ(eng_model_load(g, &p, &m, err, sizeof err), 0);
    ASSERT_EQ(eng_model_load(g, &p, &fresh, err, sizeof err), 0);
    int nv = eng_model_n_vocab(m), Dkv = 2 * 64;
    int32_t a[120], b[120];
    make_tokens(a, 120, nv, 41);
    /* b = a with tokens 30..39 deleted (the chunk 40..119 moves down by 10) */
    memcpy(b, a, 30 * sizeof *b);
    memcpy(b + 30, a + 40, 80 * sizeof *b);
    struct eng_spec_params sp;
    eng_spec_params_default(&sp);
    sp.reuse_chunk = 16;
    struct eng_spec *s;
    ASSERT_EQ(eng_spec_new(m, NULL, &sp, &s, NULL, 0), 0);
    ASSERT_EQ(eng_spec_prompt(s, a, 120), 0);
    ASSERT_EQ(eng_spec_prompt(s, b, 110), 0);
    struct eng_spec_stats st;
    eng_spec_get_stats(s, &st);
    ASSERT_EQ(st.prompt_reused, 30);
    ASSERT_EQ(st.prompt_shifted, 79); /* b[30..109) minus the pending last token */
    ASSERT_EQ(st.prompt_evaluated, 1);
    ASSERT_EQ(eng_kv_len(m), 109);
    ASSERT(!memcmp(eng_kv_tokens(m), b, 109 * sizeof *b));
    /* layer 0 keys depend only on (token, position): the moved keys must equal keys computed
     * at the new positions, to rounding */
    eng_kv_clear(fresh);
    ASSERT_EQ(eng_model_eval(fresh, b, 109, ENG_LOGITS_NONE), 0);
    float k1[128], k2[128], v1[128], v2[128];
    double maxd = 0, maxv = 0;
    for (int c = 30; c < 109; c++) {
        ASSERT_EQ(eng_kv_read(m, 0, c, 0, k1), 0);
        ASSERT_EQ(eng_kv_read(fresh, 0, c, 0, k2), 0);
        ASSERT_EQ(eng_kv_read(m, 0, c, 1, v1), 0);
        ASSERT_EQ(eng_kv_read(fresh, 0, c, 1, v2), 0);
        for (int i = 0; i < Dkv; i++) {
            maxd = fmax(maxd, fabs((double)k1[i] - (double)k2[i]) / (1e-3 + fabs((double)k2[i])));
            maxv = fmax(maxv, fabs((double)v1[i] - (double)v2[i]));
        }
    }
    ASSERT_MSG(maxd < 1e-3, "re-rotated key relative error %g", maxd);
    ASSERT(maxv == 0.0); /* layer-0 values do not depend on position */
    /* an insertion (typing at a cursor): c = a[0..30) + 5 new tokens + a[30..100); the chunk
     * moves up by 5 and only the 5 new tokens are evaluated */
    int32_t cc[105];
    memcpy(cc, a, 30 * sizeof *cc);
    make_tokens(cc + 30, 5, nv, 42);
    memcpy(cc + 35, a + 30, 70 * sizeof *cc);
    ASSERT_EQ(eng_spec_prompt(s, a, 120), 0);
    ASSERT_EQ(eng_spec_prompt(s, cc, 105), 0);
    eng_spec_get_stats(s, &st);
    ASSERT_EQ(st.prompt_reused, 30);
    ASSERT_EQ(st.prompt_shifted, 69);
    ASSERT_EQ(st.prompt_evaluated, 6);
    ASSERT(!memcmp(eng_kv_tokens(m), cc, 104 * sizeof *cc));
    eng_kv_clear(fresh);
    ASSERT_EQ(eng_model_eval(fresh, cc, 104, ENG_LOGITS_NONE), 0);
    maxd = 0;
    for (int c = 0; c < 104; c++) {
        ASSERT_EQ(eng_kv_read(m, 0, c, 0, k1), 0);
        ASSERT_EQ(eng_kv_read(fresh, 0, c, 0, k2), 0);
        for (int i = 0; i < Dkv; i++)
            maxd = fmax(maxd, fabs((double)k1[i] - (double)k2[i]) / (1e-3 + fabs((double)k2[i])));
        /* the exact prefix and the evaluated gap are bit-identical */
        if (c < 35)
            ASSERT(!memcmp(k1, k2, sizeof k1));
    }
    ASSERT_MSG(maxd < 1e-3, "moved-up key relative error %g", maxd);
    /* with reuse off the same edit reuses only the exact prefix */
    eng_spec_free(s);
    sp.reuse_chunk = 0;
    ASSERT_EQ(eng_spec_new(m, NULL, &sp, &s, NULL, 0), 0);
    ASSERT_EQ(eng_spec_prompt(s, a, 120), 0);
    ASSERT_EQ(eng_spec_prompt(s, b, 110), 0);
    eng_spec_get_stats(s, &st);
    ASSERT_EQ(st.prompt_reused, 30);
    ASSERT_EQ(st.prompt_shifted, 0);
    ASSERT_EQ(st.prompt_evaluated, 80);
    eng_spec_free(s);
    eng_model_free(m);
    eng_model_free(fresh);
    eng_gguf_close(g);
}

/* ---- sampling mode -------------------------------------------------------------------------- */

/* Upper critical value of chi-square with df degrees of freedom at significance 0.001
 * (Wilson-Hilferty, z = 3.0902). */
static double chi2_crit_001(int df)
{
    double h = 2.0 / (9.0 * df);
    double c = 1.0 - h + 3.0902 * sqrt(h);
    return df * c * c * c;
}

/* Chi-square statistic of counts[nv] (N draws) against probabilities p[nv], bins with
 * expected count < 5 merged into one; *df gets the degrees of freedom. */
static double chi2(const int *counts, const float *p, int nv, int N, int *df)
{
    double stat = 0, rest_e = 0, rest_o = 0;
    int bins = 0;
    for (int i = 0; i < nv; i++) {
        double e = (double)p[i] * N;
        if (e >= 5) {
            stat += (counts[i] - e) * (counts[i] - e) / e;
            bins++;
        } else {
            rest_e += e;
            rest_o += counts[i];
        }
    }
    if (rest_e > 0) {
        stat += (rest_o - rest_e) * (rest_o - rest_e) / rest_e;
        bins++;
    }
    *df = bins - 1;
    return stat;
}

TEST_T(spec_sampling_matches_target_distribution, 900)
{
    /* small init scale: the target's first-token distribution is spread over many tokens */
    const char *t = make_model("st", "--preset", "tiny", "--type", "Q8_0", "--seed", "51",
                               "--init-scale", "0.6", NULL);
    const char *d = make_model("sd", "--preset", "tiny", "--type", "Q8_0", "--seed", "52",
                               "--init-scale", "0.6", "--n-layer", "1", NULL);
    struct tm_ tg = open_model(t, 128, 8), df = open_model(d, 128, 8);
    int nv = eng_model_n_vocab(tg.m);
    int32_t prompt[10];
    make_tokens(prompt, 10, nv, 53);
    prompt[9] = prompt[4]; /* so the n-gram run proposes prompt[5] */
    struct eng_sampler_params smp = {.temp = 1.0f, .top_p = 1.0f, .min_p = 0.0f, .top_k = 24};
    /* the exact target distributions of the first token, and of the second given the first
     * is the target's most likely token */
    float *p1 = calloc((size_t)nv, sizeof *p1), *q1 = calloc((size_t)nv, sizeof *q1);
    struct eng_sampler *es;
    ASSERT_EQ(eng_sampler_new(&es, nv, &smp), 0);
    ASSERT_EQ(eng_model_prompt(tg.m, prompt, 10, NULL), 0);
    eng_sampler_probs(es, eng_model_logits(tg.m, 0), p1);
    ASSERT_EQ(eng_model_prompt(df.m, prompt, 10, NULL), 0);
    eng_sampler_probs(es, eng_model_logits(df.m, 0), q1);
    double tv = 0;
    for (int i = 0; i < nv; i++)
        tv += fabs((double)p1[i] - (double)q1[i]) / 2;
    ASSERT_MSG(tv > 0.2, "draft too close to the target for a meaningful test (TV %g)", tv);
    eng_sampler_free(es);

    const int N = 3000;
    int *cnt = calloc((size_t)nv, sizeof *cnt), *cnt_d = calloc((size_t)nv, sizeof *cnt_d);
    int64_t drafted = 0, accepted = 0;
    for (int lookup = 0; lookup < 2; lookup++) {
        memset(cnt, 0, (size_t)nv * sizeof *cnt);
        for (int r = 0; r < N; r++) {
            struct eng_spec_params sp;
            eng_spec_params_default(&sp);
            sp.sampling = smp;
            sp.sampling.seed = 1000003u * (uint64_t)r + 7u + (uint64_t)lookup;
            sp.n_draft_max = 3;
            sp.adaptive = 0;
            sp.p_min = 0.0f;
            sp.lookup = lookup;
            sp.ngram_min = 1;
            struct eng_spec *s;
            ASSERT_EQ(eng_spec_new(tg.m, lookup ? NULL : df.m, &sp, &s, NULL, 0), 0);
            int32_t out[8];
            ASSERT_EQ(eng_spec_prompt(s, prompt, 10), 0);
            ASSERT(eng_spec_next(s, out, 8) >= 1);
            cnt[out[0]]++;
            struct eng_spec_stats st;
            eng_spec_get_stats(s, &st);
            drafted += st.n_drafted[0] + st.n_drafted[1];
            accepted += st.n_accepted[0] + st.n_accepted[1];
            eng_spec_free(s);
        }
        int dfree;
        double x = chi2(cnt, p1, nv, N, &dfree);
        double crit = chi2_crit_001(dfree);
        fprintf(stderr, "sampling (%s): chi2 %.1f, df %d, critical %.1f at 0.001\n", lookup ? "n-gram" :
                "model draft", x, dfree, crit);
        ASSERT_MSG(x < crit, "chi2 %.1f >= %.1f (df %d): not the target distribution", x, crit,
                   dfree);
    }
    ASSERT(accepted > 0 && accepted < drafted);
    /* negative control: the draft's own distribution fails the same test */
    struct eng_rng rng;
    eng_rng_seed(&rng, 99);
    for (int r = 0; r < N; r++)
        cnt_d[eng_sample_probs(&rng, q1, nv)]++;
    int dfree;
    double x = chi2(cnt_d, p1, nv, N, &dfree);
    ASSERT_MSG(x > chi2_crit_001(dfree), "control passed: chi2 %.1f", x);
    free(cnt);
    free(cnt_d);
    free(p1);
    free(q1);
    close_model(&tg);
    close_model(&df);
}

/* ---- lookup and the adaptive controller ------------------------------------------------------ */

TEST(spec_lookup_draft_table)
{
    static const struct {
        int32_t hist[16];
        int n, nmin, nmax, k;
        int32_t want[8];
        int nw;
    } cases[] = {
        {{1, 2, 3, 4, 5, 1, 2}, 7, 1, 3, 4, {3, 4, 5, 1}, 4},       /* bigram match */
        {{1, 2, 3, 9, 2, 3, 7, 1, 2, 3}, 10, 1, 3, 2, {9, 2}, 2},    /* longest n first */
        {{5, 6, 5, 7, 5}, 5, 1, 1, 3, {7, 5}, 2},                     /* most recent, tail cut */
        {{1, 2, 3, 4}, 4, 1, 3, 4, {0}, 0},                           /* no match */
        {{4, 4, 4, 4}, 4, 2, 3, 5, {4}, 1},                           /* overlapping */
        {{1, 2}, 2, 3, 3, 4, {0}, 0},                                  /* too short */
        {{1, 2, 1}, 3, 1, 2, 0, {0}, 0},                               /* k = 0 */
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
        int32_t out[8] = {0};
        int n = eng_lookup_draft(cases[i].hist, cases[i].n, cases[i].nmin, cases[i].nmax, out,
                                 cases[i].k);
        ASSERT_MSG(n == cases[i].nw, "case %zu: %d tokens, want %d", i, n, cases[i].nw);
        ASSERT(!memcmp(out, cases[i].want, (size_t)n * sizeof *out));
    }
    int32_t h[3] = {1, 1, 1}, o[2];
    ASSERT_EQ(eng_lookup_draft(h, 3, 0, 2, o, 2), 0);
    ASSERT_EQ(eng_lookup_draft(NULL, 3, 1, 2, o, 2), 0);
}

TEST(spec_adapt_k_follows_acceptance)
{
    struct eng_spec_adapt a;
    float v[ENG_SPEC_KMAX + 1];
    for (int k = 0; k <= ENG_SPEC_KMAX; k++)
        v[k] = 1.0f + 0.1f * (float)k;
    eng_spec_adapt_init(&a, 16, 0.1f, v);
    /* high acceptance: long drafts */
    for (int i = 0; i < 50; i++)
        eng_spec_adapt_observe(&a, 8, 8);
    ASSERT(eng_spec_adapt_alpha(&a) > 0.95);
    int khi = eng_spec_adapt_k(&a);
    ASSERT(khi >= 10);
    /* the chosen k is the argmax of the rate */
    double al = eng_spec_adapt_alpha(&a);
    for (int k = 0; k <= 16; k++)
        ASSERT(eng_spec_adapt_rate(&a, al, k) <= eng_spec_adapt_rate(&a, al, khi) + 1e-12);
    /* acceptance collapses: k drops to 0 (plain decoding) with a probe every 8th call */
    for (int i = 0; i < 60; i++)
        eng_spec_adapt_observe(&a, 4, 0);
    ASSERT(eng_spec_adapt_alpha(&a) < 0.1);
    int zeros = 0, ones = 0;
    for (int i = 0; i < 16; i++) {
        int k = eng_spec_adapt_k(&a);
        zeros += k == 0;
        ones += k == 1;
    }
    ASSERT_EQ(zeros, 14);
    ASSERT_EQ(ones, 2);
    /* moderate acceptance: medium k */
    for (int i = 0; i < 60; i++)
        eng_spec_adapt_observe(&a, 4, i % 4 == 3 ? 4 : i % 4);
    int km = eng_spec_adapt_k(&a);
    ASSERT(km >= 1 && km < khi);
    /* rate formula: alpha 0.7, k 4, c 0.1, v 1.4 -> (1-0.7^5)/0.3 / 1.8 */
    ASSERT_NEAR(eng_spec_adapt_rate(&a, 0.7, 4), (1 - pow(0.7, 5)) / 0.3 / 1.8, 1e-6);
}
