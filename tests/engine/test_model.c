/*
 * Tests of the model, forward pass and KV cache on tiny random-weight models that
 * tools/make_model.py writes into the test's temporary directory: loading and shape checks,
 * batch invariance (one token at a time vs batches of 2..33, logits and KV bit-exact) for every
 * weight type, rollback and prefix reuse (later logits bit-identical to never having evaluated
 * the removed tokens), cancellation, key re-rotation, bad input.
 * Agreement with the numpy reference lives in tests/ext/engine_reference.py.
 */
#include "base.h"
#include "engine/engine.h"
#include "engine/model_int.h"
#include "engine/quant.h"
#include "tests/test.h"
#include "tests/engine/make_model.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

struct tm_ {
    struct eng_gguf *g;
    struct eng_model *m;
};

static struct tm_ open_model(const char *path, int kv_type, int n_ctx, int n_threads, int nb)
{
    struct tm_ t = {0};
    char err[256] = "";
    int rc = eng_gguf_open(path, err, sizeof err, &t.g);
    ASSERT_MSG(rc == 0, "open %s: %s", path, err);
    struct eng_model_params p;
    eng_model_params_default(&p);
    p.kv_type = kv_type;
    p.n_ctx = n_ctx;
    p.n_threads = n_threads;
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
}

static void make_tokens(int32_t *toks, int n, int nv, uint64_t seed)
{
    struct eng_rng r;
    eng_rng_seed(&r, seed);
    for (int i = 0; i < n; i++)
        toks[i] = (int32_t)(eng_rng_next(&r) % (uint64_t)nv);
}

/* Evaluates toks in calls of `b` tokens with all logits; copies logits into out[n][nv]. */
static void eval_all(struct eng_model *m, const int32_t *toks, int n, int b, float *out)
{
    int nv = eng_model_n_vocab(m);
    for (int i = 0; i < n; i += b) {
        int c = SK_MIN(b, n - i);
        int rc = eng_model_eval(m, toks + i, c, ENG_LOGITS_ALL);
        ASSERT_MSG(rc == 0, "eval: %s", eng_strerror(rc));
        ASSERT_EQ(eng_model_n_logits(m), c);
        for (int r = 0; r < c; r++)
            memcpy(out + (size_t)(i + r) * nv, eng_model_logits(m, r), (size_t)nv * sizeof(float));
    }
}

TEST(model_load_tiny_shapes_and_tied)
{
    const char *p = make_model("t", "--preset", "tiny", "--type", "F32", "--seed", "1", NULL);
    struct tm_ t = open_model(p, ENG_TYPE_F16, 128, 1, 16);
    const struct eng_hparams *hp = eng_model_hparams(t.m);
    ASSERT_EQ(hp->n_embd, 256);
    ASSERT_EQ(hp->n_head_kv, 2);
    ASSERT_EQ(eng_model_n_ctx(t.m), 128);
    ASSERT_EQ(eng_kv_len(t.m), 0);
    ASSERT(eng_model_scratch_bytes(t.m) > 0);
    close_model(&t);

    /* tied output: the model loads and the logits equal embd · norm(x) — checked through the
     * fact that tied and untied models of the same seed differ only in output.weight */
    const char *pt = make_model("tied", "--preset", "tiny", "--type", "F32", "--tied", NULL);
    t = open_model(pt, ENG_TYPE_F16, 64, 1, 8);
    int32_t tok = 7;
    ASSERT_EQ(eng_model_eval(t.m, &tok, 1, ENG_LOGITS_LAST), 0);
    const float *l = eng_model_logits(t.m, 0);
    float mx = 0;
    for (int i = 0; i < eng_model_n_vocab(t.m); i++) {
        ASSERT(isfinite(l[i]));
        mx = fmaxf(mx, fabsf(l[i]));
    }
    ASSERT(mx > 0);
    close_model(&t);
}

TEST(model_rejects_bad_files)
{
    char err[256];
    struct eng_gguf *g = NULL;
    struct eng_model *m = NULL;
    /* a model whose attn_k has the wrong number of rows for its header: make_model writes
     * head_count_kv 2, so declaring a K override of another type still loads; instead damage
     * the hyperparameters by loading with impossible params */
    const char *p = make_model("b", "--preset", "tiny", "--type", "Q8_0", NULL);
    ASSERT_EQ(eng_gguf_open(p, err, sizeof err, &g), 0);
    struct eng_model_params prm;
    eng_model_params_default(&prm);
    prm.n_ctx = 1 << 20;
    ASSERT_EQ(eng_model_load(g, &prm, &m, err, sizeof err), ENG_EINVAL);
    ASSERT(m == NULL);
    eng_model_params_default(&prm);
    prm.kv_type = ENG_TYPE_Q4_0;
    ASSERT_EQ(eng_model_load(g, &prm, &m, err, sizeof err), ENG_EINVAL);
    /* allocation failure anywhere in load is reported, nothing leaks */
    size_t live = sk_alloc_live_bytes();
    eng_model_params_default(&prm);
    prm.n_ctx = 64;
    prm.n_threads = 1;
    for (long k = 0; k < 40; k++) {
        sk_alloc_fail_after(k);
        int rc = eng_model_load(g, &prm, &m, err, sizeof err);
        sk_alloc_fail_after(-1);
        if (rc == 0) {
            eng_model_free(m);
            m = NULL;
            continue;
        }
        ASSERT_EQ(rc, -ENOMEM);
        ASSERT(m == NULL);
        ASSERT_EQ(sk_alloc_live_bytes(), live);
    }
    eng_gguf_close(g);
}

/* Batch invariance for one model file: logits and every KV entry of a 33-token sequence are
 * bit-identical whether the tokens are evaluated one at a time or in batches of b. */
/* Chunk patterns: each covers the 33 tokens with calls of the listed sizes (repeated). */
static const int pat_full[][12] = {{2}, {3}, {4}, {5}, {7}, {8}, {9}, {16}, {17}, {32, 1}, {33},
                                   {1, 2, 3, 4, 5, 6, 7, 5}};
static const int pat_short[][12] = {{32, 1}, {2, 3, 4, 5, 6, 7, 6}, {9, 8, 16}};

static void eval_pattern(struct eng_model *m, const int32_t *toks, int n, const int *pat,
                         float *out)
{
    int nv = eng_model_n_vocab(m), k = 0;
    for (int i = 0; i < n; k++) {
        int b = pat[k] ? pat[k] : pat[0];
        if (!pat[k])
            k = 0;
        int c = SK_MIN(b, n - i);
        int rc = eng_model_eval(m, toks + i, c, ENG_LOGITS_ALL);
        ASSERT_MSG(rc == 0, "eval: %s", eng_strerror(rc));
        for (int r = 0; r < c; r++)
            memcpy(out + (size_t)(i + r) * nv, eng_model_logits(m, r), (size_t)nv * sizeof(float));
        i += c;
    }
}

static void check_batch_invariance(const char *path, int kv_type, int full)
{
    enum { N = 33 };
    int npat = full ? (int)SK_ARRAY_LEN(pat_full) : (int)SK_ARRAY_LEN(pat_short);
    struct tm_ t1 = open_model(path, kv_type, 64, 1, 1);
    int nv = eng_model_n_vocab(t1.m);
    const struct eng_hparams *hp = eng_model_hparams(t1.m);
    int dkv = (int)(hp->n_head_kv * hp->head_dim), nl = (int)hp->n_layer;
    int32_t toks[N];
    make_tokens(toks, N, nv, 42);
    float *ref = sk_malloc((size_t)N * nv * sizeof(float));
    float *got = sk_malloc((size_t)N * nv * sizeof(float));
    float *ka = sk_malloc((size_t)dkv * sizeof(float)), *kb = sk_malloc((size_t)dkv * sizeof(float));
    eval_all(t1.m, toks, N, 1, ref);
    for (int i = 0; i < npat; i++) {
        const int *pat = full ? pat_full[i] : pat_short[i];
        /* 2 threads for the batched runs: threads must not matter either */
        struct tm_ tb = open_model(path, kv_type, 64, 2, 33);
        eval_pattern(tb.m, toks, N, pat, got);
        for (int r = 0; r < N; r++)
            ASSERT_MSG(!memcmp(ref + (size_t)r * nv, got + (size_t)r * nv, (size_t)nv * 4),
                       "%s: pattern %d (first call %d): logits of token %d differ", path, i,
                       pat[0], r);
        for (int l = 0; l < nl; l++)
            for (int c = 0; c < N; c++)
                for (int w = 0; w < 2; w++) {
                    ASSERT_EQ(eng_kv_read(t1.m, l, c, w, ka), 0);
                    ASSERT_EQ(eng_kv_read(tb.m, l, c, w, kb), 0);
                    ASSERT_MSG(!memcmp(ka, kb, (size_t)dkv * 4), "%s: pattern %d: %s l%d c%d",
                               path, i, w ? "V" : "K", l, c);
                }
        close_model(&tb);
    }
    sk_free(ref);
    sk_free(got);
    sk_free(ka);
    sk_free(kb);
    close_model(&t1);
}

TEST_T(model_batch_invariance_all_types, 300)
{
    static const char *types[] = {"F32",  "F16",  "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                  "Q8_0", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"};
    for (size_t i = 0; i < SK_ARRAY_LEN(types); i++) {
        char name[32];
        snprintf(name, sizeof name, "bi_%s", types[i]);
        /* --pure so every weight really has the type (Q6_K output otherwise) */
        const char *p = make_model(name, "--preset", "tiny", "--type", types[i], "--pure",
                                   "--n-layer", "1", "--seed", "3", NULL);
        /* every chunk size 1..33 for three types, three mixed patterns for the rest */
        check_batch_invariance(p, i % 2 ? ENG_TYPE_F32 : ENG_TYPE_F16, i % 5 == 0);
        unlink(p);
    }
}

TEST(model_batch_invariance_mixed_mha)
{
    /* Q4_K_M mixing (Q6_K output, Q6_K attn_v/ffn_down) and MHA */
    const char *p = make_model("mix", "--preset", "tiny", "--type", "Q4_K_M", "--n-head-kv", "4",
                               NULL);
    check_batch_invariance(p, ENG_TYPE_F16, 0);
}

TEST(model_rollback_and_prefix_reuse_are_exact)
{
    enum { N = 24, K = 10 };
    const char *p = make_model("rb", "--preset", "tiny", "--type", "Q4_0", NULL);
    struct tm_ a = open_model(p, ENG_TYPE_F16, 64, 2, 32);
    struct tm_ b = open_model(p, ENG_TYPE_F16, 64, 2, 32);
    int nv = eng_model_n_vocab(a.m);
    int32_t x[N], y[N];
    make_tokens(x, N, nv, 1);
    memcpy(y, x, sizeof x);
    make_tokens(y + K, N - K, nv, 2); /* same first K tokens, different tail */
    float *fa = sk_malloc((size_t)N * nv * 4), *fb = sk_malloc((size_t)N * nv * 4);

    /* a: fresh evaluation of y */
    eval_all(a.m, y, N, 5, fa);
    /* b: evaluate x, roll back to K, evaluate the tail of y */
    eval_all(b.m, x, N, 7, fb);
    ASSERT_EQ(eng_kv_truncate(b.m, K), 0);
    ASSERT_EQ(eng_kv_len(b.m), K);
    ASSERT_EQ(eng_kv_truncate(b.m, K + 1), ENG_EINVAL);
    eval_all(b.m, y + K, N - K, 3, fb + (size_t)K * nv);
    ASSERT_MEM_EQ(fa + (size_t)K * nv, fb + (size_t)K * nv, (size_t)(N - K) * nv * 4);
    ASSERT_MEM_EQ(eng_kv_tokens(a.m), eng_kv_tokens(b.m), N * sizeof(int32_t));

    /* prefix reuse: b holds y; prompting with x reuses K cells and gives x's last logits */
    ASSERT_EQ(eng_kv_common_prefix(b.m, x, N), K);
    int reused = -1;
    ASSERT_EQ(eng_model_prompt(b.m, x, N, &reused), 0);
    ASSERT_EQ(reused, K);
    eng_kv_clear(a.m);
    ASSERT_EQ(eng_model_prompt(a.m, x, N, &reused), 0);
    ASSERT_EQ(reused, 0);
    ASSERT_MEM_EQ(eng_model_logits(a.m, 0), eng_model_logits(b.m, 0), (size_t)nv * 4);
    /* the whole prompt cached: one token is re-evaluated for its logits */
    ASSERT_EQ(eng_model_prompt(b.m, x, N, &reused), 0);
    ASSERT_EQ(reused, N - 1);
    ASSERT_MEM_EQ(eng_model_logits(a.m, 0), eng_model_logits(b.m, 0), (size_t)nv * 4);
    sk_free(fa);
    sk_free(fb);
    close_model(&a);
    close_model(&b);
}

TEST(model_cancel_and_errors_leave_state)
{
    const char *p = make_model("c", "--preset", "tiny", "--type", "Q8_0", NULL);
    struct tm_ t = open_model(p, ENG_TYPE_F16, 16, 1, 8);
    int nv = eng_model_n_vocab(t.m);
    int32_t toks[12];
    make_tokens(toks, 12, nv, 5);
    /* eval allocates nothing: with every allocation failing it still works */
    sk_alloc_fail_after(0);
    ASSERT_EQ(eng_model_eval(t.m, toks, 5, ENG_LOGITS_ALL), 0);
    ASSERT_EQ(eng_model_eval(t.m, toks, 1, ENG_LOGITS_LAST), 0);
    ASSERT_EQ(eng_kv_truncate(t.m, 0), 0);
    sk_alloc_fail_after(-1);
    _Atomic int flag = 1;
    eng_model_set_cancel(t.m, &flag);
    ASSERT_EQ(eng_model_eval(t.m, toks, 4, ENG_LOGITS_ALL), ENG_ECANCELLED);
    ASSERT_EQ(eng_kv_len(t.m), 0);
    flag = 0;
    ASSERT_EQ(eng_model_eval(t.m, toks, 4, ENG_LOGITS_LAST), 0);
    ASSERT_EQ(eng_kv_len(t.m), 4);
    int32_t bad = nv;
    ASSERT_EQ(eng_model_eval(t.m, &bad, 1, ENG_LOGITS_LAST), ENG_EINVAL);
    bad = -1;
    ASSERT_EQ(eng_model_eval(t.m, &bad, 1, ENG_LOGITS_LAST), ENG_EINVAL);
    ASSERT_EQ(eng_model_eval(t.m, toks, 0, ENG_LOGITS_LAST), ENG_EINVAL);
    ASSERT_EQ(eng_model_eval(t.m, toks, 9, ENG_LOGITS_LAST), ENG_EINVAL); /* > n_batch */
    ASSERT_EQ(eng_model_eval(t.m, toks, 8, ENG_LOGITS_LAST), 0);
    ASSERT_EQ(eng_model_eval(t.m, toks, 5, ENG_LOGITS_LAST), ENG_ECONTEXT); /* 12 + 5 > 16 */
    ASSERT_EQ(eng_kv_len(t.m), 12);
    ASSERT(eng_model_logits(t.m, 1) == NULL);
    ASSERT(eng_model_logits(t.m, 0) != NULL);
    /* after the errors the state equals a fresh run of the same 12 tokens */
    float *l1 = sk_malloc((size_t)nv * 4);
    memcpy(l1, eng_model_logits(t.m, 0), (size_t)nv * 4);
    struct tm_ f = open_model(p, ENG_TYPE_F16, 16, 1, 8);
    int32_t all[12];
    memcpy(all, toks, 4 * sizeof(int32_t));
    memcpy(all + 4, toks, 8 * sizeof(int32_t));
    ASSERT_EQ(eng_model_eval(f.m, all, 6, ENG_LOGITS_NONE), 0);
    ASSERT_EQ(eng_model_eval(f.m, all + 6, 6, ENG_LOGITS_LAST), 0);
    ASSERT_MEM_EQ(l1, eng_model_logits(f.m, 0), (size_t)nv * 4);
    sk_free(l1);
    close_model(&f);
    close_model(&t);
}

TEST(model_key_rerotation_matches_fresh_keys)
{
    /* Layer 0's pre-RoPE key depends only on the token, so the key of token T cached at
     * position p and re-rotated to q must equal the key of T computed at q. */
    const char *p = make_model("rot", "--preset", "tiny", "--type", "F32", "--rope-scale", "4",
                               NULL);
    struct tm_ a = open_model(p, ENG_TYPE_F32, 64, 1, 32);
    struct tm_ b = open_model(p, ENG_TYPE_F32, 64, 1, 32);
    int nv = eng_model_n_vocab(a.m);
    int dkv = (int)(eng_model_hparams(a.m)->n_head_kv * eng_model_hparams(a.m)->head_dim);
    int32_t s[20];
    make_tokens(s, 20, nv, 9);
    ASSERT_EQ(eng_model_eval(a.m, s, 20, ENG_LOGITS_NONE), 0);
    /* move cells 12..19 to 3..10 */
    ASSERT_EQ(eng_kv_shift(a.m, 12, 3, 8), 0);
    ASSERT_EQ(eng_kv_len(a.m), 11);
    ASSERT_EQ(eng_kv_shift(a.m, 2, 5, 1), ENG_EINVAL); /* dst > src */
    int32_t f[11];
    memcpy(f, s, 3 * sizeof(int32_t));
    memcpy(f + 3, s + 12, 8 * sizeof(int32_t));
    ASSERT_MEM_EQ(eng_kv_tokens(a.m), f, sizeof f);
    ASSERT_EQ(eng_model_eval(b.m, f, 11, ENG_LOGITS_NONE), 0);
    float *ka = sk_malloc((size_t)dkv * 4), *kb = sk_malloc((size_t)dkv * 4);
    double maxd = 0, maxv = 0;
    for (int c = 3; c < 11; c++) {
        ASSERT_EQ(eng_kv_read(a.m, 0, c, 0, ka), 0);
        ASSERT_EQ(eng_kv_read(b.m, 0, c, 0, kb), 0);
        for (int i = 0; i < dkv; i++) {
            maxd = fmax(maxd, fabs((double)ka[i] - (double)kb[i]));
            maxv = fmax(maxv, fabs((double)kb[i]));
        }
        ASSERT_EQ(eng_kv_read(a.m, 0, c, 1, ka), 0);
        ASSERT_EQ(eng_kv_read(b.m, 0, c, 1, kb), 0);
        ASSERT_MEM_EQ(ka, kb, (size_t)dkv * 4); /* V does not move */
    }
    ASSERT_MSG(maxd <= 1e-5 * maxv, "rotated keys differ by %g (max |k| %g)", maxd, maxv);
    /* the helper on one vector: p -> q -> p is the identity within rounding */
    float v[64], w[64];
    for (int i = 0; i < 64; i++)
        v[i] = w[i] = (float)sin(i * 0.7);
    eng_rope_rerotate(a.m, w, 5, 40);
    eng_rope_rerotate(a.m, w, 40, 5);
    for (int i = 0; i < 64; i++)
        ASSERT_NEAR(v[i], w[i], 1e-5);
    sk_free(ka);
    sk_free(kb);
    close_model(&a);
    close_model(&b);
}

TEST(model_attention_kernels_are_bit_exact_twins)
{
    struct eng__attn_kern ref, var[2];
    eng__attn_kern_get(&ref, 0);
    eng__attn_kern_get(&var[0], 1);
    eng__attn_kern_get(&var[1], 2);
    ASSERT_STR_EQ(ref.isa, "ref");
    static const int hds[] = {1, 7, 15, 16, 17, 31, 64, 100, 128, 130};
    struct eng_rng r;
    eng_rng_seed(&r, 11);
    float q[160], kf[160], o1[160], o2[160];
    uint16_t kh[160];
    for (size_t h = 0; h < SK_ARRAY_LEN(hds); h++) {
        int hd = hds[h];
        for (int rep = 0; rep < 20; rep++) {
            for (int i = 0; i < hd; i++) {
                q[i] = (float)(eng_rng_uniform(&r) * 4 - 2);
                kf[i] = (float)(eng_rng_uniform(&r) * 4 - 2);
                kh[i] = eng_fp32_to_fp16(kf[i]);
                o1[i] = o2[i] = (float)eng_rng_uniform(&r);
            }
            float p = (float)eng_rng_uniform(&r);
            for (int v = 0; v < 2; v++) {
                float a = ref.dot_f16(q, kh, hd), b = var[v].dot_f16(q, kh, hd);
                ASSERT_MSG(!memcmp(&a, &b, 4), "%s dot_f16 hd %d: %.9g vs %.9g", var[v].isa, hd, (double)a,
                           (double)b);
                a = ref.dot_f32(q, kf, hd), b = var[v].dot_f32(q, kf, hd);
                ASSERT_MSG(!memcmp(&a, &b, 4), "%s dot_f32 hd %d", var[v].isa, hd);
                memcpy(o2, o1, sizeof o1);
                float o3[160];
                memcpy(o3, o1, sizeof o1);
                ref.axpy_f16(o2, p, kh, hd);
                var[v].axpy_f16(o3, p, kh, hd);
                ASSERT_MSG(!memcmp(o2, o3, (size_t)hd * 4), "%s axpy_f16 hd %d", var[v].isa, hd);
                memcpy(o2, o1, sizeof o1);
                memcpy(o3, o1, sizeof o1);
                ref.axpy_f32(o2, p, kf, hd);
                var[v].axpy_f32(o3, p, kf, hd);
                ASSERT_MSG(!memcmp(o2, o3, (size_t)hd * 4), "%s axpy_f32 hd %d", var[v].isa, hd);
            }
        }
    }
    /* scores over n keys with a row stride, and softmax, for n across the 4- and 16-wide
     * blocks and their tails */
    enum { NK = 70, HD = 128, STRIDE = 136 };
    float *kf2 = sk_malloc(NK * STRIDE * 4), *s1 = sk_malloc(NK * 4), *s2 = sk_malloc(NK * 4);
    uint16_t *kh2 = sk_malloc(NK * STRIDE * 2);
    for (int i = 0; i < NK * STRIDE; i++) {
        kf2[i] = (float)(eng_rng_uniform(&r) * 2 - 1);
        kh2[i] = eng_fp32_to_fp16(kf2[i]);
    }
    for (int i = 0; i < HD; i++)
        q[i] = (float)(eng_rng_uniform(&r) * 8 - 4);
    static const int ns[] = {1, 3, 4, 5, 15, 16, 17, 33, 64, 70};
    for (size_t a = 0; a < SK_ARRAY_LEN(ns); a++)
        for (int hd = 64; hd <= HD; hd += 60) {
            for (int v = 0; v < 2; v++) {
                ref.scores_f16(q, kh2, STRIDE, ns[a], hd, 0.125f, s1);
                var[v].scores_f16(q, kh2, STRIDE, ns[a], hd, 0.125f, s2);
                ASSERT_MSG(!memcmp(s1, s2, (size_t)ns[a] * 4), "%s scores_f16 n %d hd %d",
                           var[v].isa, ns[a], hd);
                float z1 = ref.softmax(s1, ns[a]), z2 = var[v].softmax(s2, ns[a]);
                ASSERT_MSG(!memcmp(s1, s2, (size_t)ns[a] * 4) && !memcmp(&z1, &z2, 4),
                           "%s softmax n %d", var[v].isa, ns[a]);
                ref.scores_f32(q, kf2, STRIDE, ns[a], hd, 0.125f, s1);
                var[v].scores_f32(q, kf2, STRIDE, ns[a], hd, 0.125f, s2);
                ASSERT_MSG(!memcmp(s1, s2, (size_t)ns[a] * 4), "%s scores_f32 n %d hd %d",
                           var[v].isa, ns[a], hd);
            }
            /* and the scores are the dot products they claim to be */
            for (int j = 0; j < ns[a]; j++)
                ASSERT(s1[j] == ref.dot_f32(q, kf2 + (size_t)j * STRIDE, hd) * 0.125f);
        }
    /* weighted sums of value rows (p from a softmax) and SwiGLU */
    for (size_t a = 0; a < SK_ARRAY_LEN(ns); a++)
        for (int hd = 16; hd <= HD; hd += 56) { /* 16, 72 (tail), 128 */
            float o[2][HD];
            for (int j = 0; j < ns[a]; j++)
                s1[j] = (float)eng_rng_uniform(&r);
            for (int v = 0; v < 2; v++) {
                ref.wsum_f16(o[0], s1, kh2, STRIDE, ns[a], hd);
                var[v].wsum_f16(o[1], s1, kh2, STRIDE, ns[a], hd);
                ASSERT_MSG(!memcmp(o[0], o[1], (size_t)hd * 4), "%s wsum_f16 n %d hd %d",
                           var[v].isa, ns[a], hd);
                ref.wsum_f32(o[0], s1, kf2, STRIDE, ns[a], hd);
                var[v].wsum_f32(o[1], s1, kf2, STRIDE, ns[a], hd);
                ASSERT_MSG(!memcmp(o[0], o[1], (size_t)hd * 4), "%s wsum_f32 n %d hd %d",
                           var[v].isa, ns[a], hd);
            }
        }
    /* four queries at once: every pair equals the single-query kernels' result */
    {
        enum { NQ = 4, QS = 136 };
        float *qq = sk_malloc(NQ * QS * 4), *o4 = sk_malloc(NQ * NK * 4), *s1q = sk_malloc(NK * 4);
        float *w4 = sk_malloc(NQ * QS * 4), w1[HD], *pp = sk_malloc(NQ * NK * 4);
        for (int i = 0; i < NQ * QS; i++)
            qq[i] = (float)(eng_rng_uniform(&r) * 4 - 2);
        for (int i = 0; i < NQ * NK; i++)
            pp[i] = (float)eng_rng_uniform(&r);
        struct eng__attn_kern *all[3] = {&ref, &var[0], &var[1]};
        for (int nq = 1; nq <= NQ; nq++)
            for (int hd = 32; hd <= HD; hd += 96) /* 32, 128 */
                for (int v = 0; v < 3; v++) {
                    all[v]->scores4_f16(qq, QS, nq, kh2, STRIDE, NK, hd, 0.3f, o4, NK);
                    all[v]->wsum4_f16(w4, QS, nq, pp, NK, kh2, STRIDE, NK, hd);
                    for (int i = 0; i < nq; i++) {
                        ref.scores_f16(qq + i * QS, kh2, STRIDE, NK, hd, 0.3f, s1q);
                        ASSERT_MSG(!memcmp(s1q, o4 + i * NK, NK * 4), "%s scores4 nq %d hd %d q %d",
                                   all[v]->isa, nq, hd, i);
                        ref.wsum_f16(w1, pp + i * NK, kh2, STRIDE, NK, hd);
                        ASSERT_MSG(!memcmp(w1, w4 + i * QS, (size_t)hd * 4),
                                   "%s wsum4 nq %d hd %d q %d", all[v]->isa, nq, hd, i);
                    }
                }
        sk_free(qq);
        sk_free(o4);
        sk_free(s1q);
        sk_free(w4);
        sk_free(pp);
    }
    {
        enum { NS = 203 };
        float g0[NS], g1[NS], g2[NS], u[NS];
        for (int i = 0; i < NS; i++) {
            g0[i] = (float)(eng_rng_uniform(&r) * 40 - 20);
            u[i] = (float)(eng_rng_uniform(&r) * 2 - 1);
        }
        g0[0] = 0.0f, g0[1] = -200.0f, g0[2] = 200.0f, g0[3] = -0.0f;
        memcpy(g1, g0, sizeof g0);
        ref.swiglu(g1, u, NS);
        for (int i = 0; i < NS; i++) { /* silu(x) * u within a few ulp of the libm value */
            double x = g0[i], want = x / (1.0 + exp(-x)) * (double)u[i];
            ASSERT_MSG(fabs((double)g1[i] - want) <= 1e-6 * fabs(want) + 1e-30, "swiglu(%g)", x);
        }
        for (int v = 0; v < 2; v++) {
            memcpy(g2, g0, sizeof g0);
            var[v].swiglu(g2, u, NS);
            ASSERT_MSG(!memcmp(g1, g2, sizeof g1), "%s swiglu", var[v].isa);
        }
    }
    sk_free(kf2);
    sk_free(kh2);
    sk_free(s1);
    sk_free(s2);
    /* eng__exp_neg: within 2 ulp of exp over the softmax range, 0 below -87 */
    for (float x = -90.0f; x <= 0.0f; x += 0.0137f) {
        double e = exp((double)x), g = (double)eng__exp_neg(x);
        if (x < -87.0f)
            ASSERT(g == 0.0);
        else
            ASSERT_MSG(fabs(g - e) <= 2.5 * e * 0x1p-23, "exp(%g): %.9g vs %.9g", (double)x, g, e);
    }
    ASSERT(eng__exp_neg(0.0f) == 1.0f);
    /* the test is meaningful only where the SIMD levels exist */
    if (!eng__kern()->has_avx2)
        SKIP("no AVX2 on this CPU: only the reference variant ran");
}
