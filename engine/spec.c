/*
 * Speculative decoding: a cheap drafter (a small model of the same tokenizer family, or an
 * n-gram match in the text so far) proposes k tokens, the target checks them in one batched
 * pass and keeps the longest acceptable prefix plus one token of its own.  Also the KV reuse
 * across requests: a new prompt keeps the longest cached prefix in both models (and, when
 * asked, later chunks moved into place by re-rotating their keys).
 *
 * Workload: one session per completion stream; eng_spec_next runs once per verification
 * (every few tokens), eng_spec_prompt once per request (every keystroke).  Buffers are sized
 * at eng_spec_new (history = target context, k_max+1 batch, k_max draft distributions for
 * sampling mode); the generation loop allocates nothing.
 *
 * State invariant between calls: hist[0..n_hist) are the committed tokens; the target's KV
 * holds hist[0..n_hist-1) (the last committed token is evaluated at the head of the next
 * verification batch); the draft's KV holds some prefix of hist (synchronised lazily: it
 * keeps its longest common prefix and evaluates the rest when it next drafts).  Every step
 * re-establishes this by truncation to the common prefix, so an error or cancellation in the
 * middle of a call leaves a session the next call can continue.
 */
#include "base.h"
#include "engine/engine.h"
#include "engine/model_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { SRC_MODEL = 0, SRC_LOOKUP = 1 };
enum { DONE_NO = 0, DONE_STOP = 1, DONE_CTX = 2 };

struct eng_spec {
    struct eng_model *tgt, *dft; /* not owned */
    struct eng_spec_params prm;
    int Vt, Vd;
    int greedy;
    int k_cap;                    /* max k the buffers and the target's batch allow */

    int32_t *hist;                /* [hist_cap] committed tokens, then room for drafts */
    int n_hist, hist_cap;
    int32_t *batch;               /* [k_cap + 1] */
    int32_t *draft;               /* [k_cap] */
    uint8_t *src;                 /* [k_cap] SRC_* of each draft token */
    float *q;                     /* sampling: [k_cap][Vd] draft distributions */
    float *p;                     /* sampling: [Vt] target distribution / residual */
    struct eng_sampler *smp_t, *smp_d;
    struct eng_rng rng;

    struct eng_spec_adapt ad[2];  /* per source */
    int draft_off;                /* the draft cannot evaluate this request's tokens */
    int32_t *stops;
    int n_stops;
    int done;

    /* measured costs (measure_costs): EMA of ns per target pass of n tokens, per draft step */
    double t_tgt[ENG_SPEC_KMAX + 2];
    double t_dft;

    struct eng_spec_stats st;
};

/* ---- compatibility ------------------------------------------------------------------------ */

static const char *meta_str(const struct eng_gguf *g, const char *key)
{
    const char *s = NULL;
    return eng_gguf_get_str(g, key, &s, NULL) == 0 ? s : "";
}

static int64_t meta_int(const struct eng_gguf *g, const char *key, int64_t dflt)
{
    int64_t v;
    return eng_gguf_get_int(g, key, &v) == 0 ? v : dflt;
}

/* Copies up to 40 bytes of s as a C-escaped string. */
static void esc(char *out, size_t cap, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && i < 40 && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, cap - o, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    if (len > 40 && o + 4 < cap)
        o += (size_t)snprintf(out + o, cap - o, "...");
    out[o < cap ? o : cap - 1] = 0;
}

int eng_spec_compatible(const struct eng_gguf *t, const struct eng_gguf *d, char *why,
                        size_t whylen)
{
    char dummy[8];
    if (!why || !whylen) {
        why = dummy;
        whylen = sizeof dummy;
    }
    why[0] = 0;
    static const char *const skeys[] = {"tokenizer.ggml.model", "tokenizer.ggml.pre"};
    for (size_t i = 0; i < SK_ARRAY_LEN(skeys); i++) {
        const char *a = meta_str(t, skeys[i]), *b = meta_str(d, skeys[i]);
        if (strcmp(a, b)) {
            snprintf(why, whylen, "%s differs: target \"%s\", draft \"%s\"", skeys[i], a, b);
            return ENG_EINCOMPATIBLE;
        }
    }
    struct eng_gguf_arr ta, da;
    int rt = eng_gguf_get_arr(t, "tokenizer.ggml.tokens", &ta);
    int rd = eng_gguf_get_arr(d, "tokenizer.ggml.tokens", &da);
    if (rt || rd || ta.type != ENG_GGUF_STRING || da.type != ENG_GGUF_STRING) {
        snprintf(why, whylen, "tokenizer.ggml.tokens missing or not strings in the %s",
                 rt || ta.type != ENG_GGUF_STRING ? "target" : "draft");
        return ENG_EINCOMPATIBLE;
    }
    uint64_t diff = ta.n > da.n ? ta.n - da.n : da.n - ta.n;
    if (diff > 128) {
        snprintf(why, whylen,
                 "vocabulary sizes differ by more than 128: target %llu, draft %llu",
                 (unsigned long long)ta.n, (unsigned long long)da.n);
        return ENG_EINCOMPATIBLE;
    }
    static const struct { const char *key; int64_t dflt; } ikeys[] = {
        {"tokenizer.ggml.bos_token_id", -1},
        {"tokenizer.ggml.eos_token_id", -1},
        {"tokenizer.ggml.add_bos_token", -1},
        {"tokenizer.ggml.add_eos_token", -1},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(ikeys); i++) {
        int64_t a = meta_int(t, ikeys[i].key, ikeys[i].dflt);
        int64_t b = meta_int(d, ikeys[i].key, ikeys[i].dflt);
        if (a != b) {
            snprintf(why, whylen, "%s differs: target %lld, draft %lld (-1 = absent)",
                     ikeys[i].key, (long long)a, (long long)b);
            return ENG_EINCOMPATIBLE;
        }
    }
    uint64_t n = ta.n < da.n ? ta.n : da.n;
    for (uint64_t id = 5; id < n; id++) {
        const char *a, *b;
        size_t al, bl;
        if (eng_gguf_arr_str(&ta, id, &a, &al) || eng_gguf_arr_str(&da, id, &b, &bl)) {
            snprintf(why, whylen, "token %llu unreadable", (unsigned long long)id);
            return ENG_EINCOMPATIBLE;
        }
        if (al != bl || memcmp(a, b, al)) {
            char ea[200], eb[200];
            esc(ea, sizeof ea, a, al);
            esc(eb, sizeof eb, b, bl);
            snprintf(why, whylen, "token %llu text differs: target \"%s\", draft \"%s\"",
                     (unsigned long long)id, ea, eb);
            return ENG_EINCOMPATIBLE;
        }
    }
    return 0;
}

/* ---- params and lifetime -------------------------------------------------------------------- */

void eng_spec_params_default(struct eng_spec_params *p)
{
    memset(p, 0, sizeof *p);
    p->n_draft_max = 16;
    p->n_draft_min = 0;
    p->p_min = 0.75f;
    p->adaptive = 1;
    p->lookup = 0;
    p->ngram_min = 2;
    p->ngram_max = 4;
    eng_sampler_params_default(&p->sampling);
}

void eng_spec_free(struct eng_spec *s)
{
    if (!s)
        return;
    sk_free(s->hist);
    sk_free(s->batch);
    sk_free(s->draft);
    sk_free(s->src);
    sk_free(s->q);
    sk_free(s->p);
    sk_free(s->stops);
    eng_sampler_free(s->smp_t);
    eng_sampler_free(s->smp_d);
    sk_free(s);
}

static void adapt_setup(struct eng_spec *s)
{
    float c = 0.0f;
    if (s->dft) {
        double ft = (double)eng_gguf_file_size(s->tgt->gguf);
        double fd = (double)eng_gguf_file_size(s->dft->gguf);
        c = ft > 0 ? (float)(fd / ft) : 1.0f;
    }
    const float *v = s->prm.v[1] > 0 ? s->prm.v : NULL;
    eng_spec_adapt_init(&s->ad[SRC_MODEL], s->k_cap, c, v);
    eng_spec_adapt_init(&s->ad[SRC_LOOKUP], s->k_cap, 0.0f, v);
}

int eng_spec_new(struct eng_model *target, struct eng_model *draft,
                 const struct eng_spec_params *p, struct eng_spec **out, char *err,
                 size_t errlen)
{
    int rc = -ENOMEM;
    *out = NULL;
    if (err && errlen)
        err[0] = 0;
    if (!target || !p || p->n_draft_max < 1 || p->n_draft_max > ENG_SPEC_KMAX ||
        p->n_draft_min < 0 || !(p->p_min >= 0.0f && p->p_min <= 1.0f) ||
        (p->lookup && (p->ngram_min < 1 || p->ngram_max < p->ngram_min)) ||
        p->reuse_chunk < 0) {
        if (err)
            snprintf(err, errlen, "bad speculative parameters");
        return ENG_EINVAL;
    }
    int k_cap = SK_MIN(p->n_draft_max,
                       SK_MIN(target->prm.n_batch, target->prm.n_outputs) - 1);
    if (k_cap < 1 && (draft || p->lookup)) {
        if (err)
            snprintf(err, errlen, "the target needs n_batch and n_outputs >= 2 to verify");
        return ENG_EINVAL;
    }
    k_cap = SK_MAX(k_cap, 0);
    if (draft) {
        rc = eng_spec_compatible(target->gguf, draft->gguf, err, errlen);
        if (rc)
            return rc;
        rc = -ENOMEM;
    }
    struct eng_spec *s = sk_calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->tgt = target;
    s->dft = draft;
    s->prm = *p;
    s->Vt = eng_model_n_vocab(target);
    s->Vd = draft ? eng_model_n_vocab(draft) : 0;
    s->greedy = !(p->sampling.temp > 0.0f);
    s->k_cap = k_cap;
    s->hist_cap = eng_model_n_ctx(target) + ENG_SPEC_KMAX + 2;
    s->hist = sk_malloc((size_t)s->hist_cap * sizeof *s->hist);
    s->batch = sk_malloc((size_t)(k_cap + 1) * sizeof *s->batch);
    s->draft = sk_malloc((size_t)(k_cap + 1) * sizeof *s->draft);
    s->src = sk_malloc((size_t)(k_cap + 1));
    if (!s->hist || !s->batch || !s->draft || !s->src)
        goto fail;
    rc = eng_sampler_new(&s->smp_t, s->Vt, &p->sampling);
    if (rc)
        goto fail;
    if (!s->greedy) {
        rc = -ENOMEM;
        s->p = sk_malloc((size_t)s->Vt * sizeof *s->p);
        if (!s->p)
            goto fail;
        if (draft) {
            s->q = sk_malloc((size_t)SK_MAX(k_cap, 1) * (size_t)s->Vd * sizeof *s->q);
            if (!s->q)
                goto fail;
            rc = eng_sampler_new(&s->smp_d, s->Vd, &p->sampling);
            if (rc)
                goto fail;
        }
    }
    eng_rng_seed(&s->rng, p->sampling.seed);
    adapt_setup(s);
    *out = s;
    return 0;
fail:
    if (err && errlen && !err[0])
        snprintf(err, errlen, "%s", eng_strerror(rc));
    eng_spec_free(s);
    return rc;
}

int eng_spec_set_stops(struct eng_spec *s, const int32_t *ids, int n)
{
    if (n < 0 || (n > 0 && !ids))
        return ENG_EINVAL;
    int32_t *c = NULL;
    if (n > 0) {
        c = sk_malloc((size_t)n * sizeof *c);
        if (!c)
            return -ENOMEM;
        memcpy(c, ids, (size_t)n * sizeof *c);
    }
    sk_free(s->stops);
    s->stops = c;
    s->n_stops = n;
    return 0;
}

static int is_stop(const struct eng_spec *s, int32_t t)
{
    for (int i = 0; i < s->n_stops; i++)
        if (s->stops[i] == t)
            return 1;
    return 0;
}

void eng_spec_get_stats(const struct eng_spec *s, struct eng_spec_stats *st) { *st = s->st; }

void eng_spec_reset_stats(struct eng_spec *s)
{
    struct eng_spec_stats keep = s->st;
    memset(&s->st, 0, sizeof s->st);
    s->st.prompt_reused = keep.prompt_reused;
    s->st.prompt_shifted = keep.prompt_shifted;
    s->st.prompt_evaluated = keep.prompt_evaluated;
    s->st.draft_prompt_reused = keep.draft_prompt_reused;
    s->st.draft_prompt_evaluated = keep.draft_prompt_evaluated;
}

const int32_t *eng_spec_tokens(const struct eng_spec *s, int *n)
{
    if (n)
        *n = s->n_hist;
    return s->hist;
}

/* ---- KV synchronisation ---------------------------------------------------------------------- */

static double now_s(void) { return (double)sk_now_ns() * 1e-9; }

static void ema(double *slot, double v) { *slot = *slot > 0 ? 0.8 * *slot + 0.2 * v : v; }

/* Timed eval for the cost model. */
static int eval_t(struct eng_spec *s, struct eng_model *m, const int32_t *t, int n,
                  enum eng_logits mode)
{
    double t0 = now_s();
    int rc = eng_model_eval(m, t, n, mode);
    double dt = now_s() - t0;
    if (m == s->tgt) {
        s->st.t_verify_s += dt;
        if (!rc && n <= ENG_SPEC_KMAX + 1)
            ema(&s->t_tgt[n], dt);
    } else {
        s->st.t_draft_s += dt;
        s->st.n_draft_evals++;
        if (!rc && n == 1)
            ema(&s->t_dft, dt);
    }
    return rc;
}

/* Makes m's KV hold exactly toks[0..upto): keeps the common prefix (at most upto - need_logits
 * cells, so the last token is evaluated when logits are wanted), evaluates the rest in chunks
 * of n_batch, logits for the last token when need_logits.  *evaluated (may be NULL) counts
 * the tokens evaluated. */
static int kv_sync(struct eng_spec *s, struct eng_model *m, const int32_t *toks, int upto,
                   int need_logits, int *evaluated)
{
    int keep = eng_kv_common_prefix(m, toks, upto);
    if (need_logits && keep > upto - 1)
        keep = upto - 1;
    if (keep < eng_kv_len(m))
        eng_kv_truncate(m, keep);
    int nb = m->prm.n_batch;
    for (int i = keep; i < upto;) {
        int c = SK_MIN(upto - i, nb);
        int last = i + c == upto;
        int rc = eval_t(s, m, toks + i, c, last && need_logits ? ENG_LOGITS_LAST : ENG_LOGITS_NONE);
        if (rc)
            return rc;
        if (evaluated)
            *evaluated += c;
        i += c;
    }
    return 0;
}

/* Shifted-chunk reuse after an exact prefix of `cp` cells (llama.cpp's --cache-reuse walk):
 * wherever at least min_chunk cached tokens after the prefix reappear in toks[cp..n) right
 * where the reused part ends, their cells are moved down to that position with re-rotated
 * keys; cached tokens that match nothing are skipped.  Returns the new reused length; adds
 * the moved cells to *shifted.  Approximate: moved cells were computed after other text. */
static int chunk_reuse(struct eng_model *m, const int32_t *toks, int n, int cp, int min_chunk,
                       int *shifted)
{
    int len = eng_kv_len(m), hc = cp, hp = cp;
    const int32_t *ct = eng_kv_tokens(m);
    while (hc < len && hp < n) {
        int L = 0;
        while (hc + L < len && hp + L < n && ct[hc + L] == toks[hp + L])
            L++;
        if (L >= min_chunk) {
            if (eng_kv_shift(m, hc, hp, L))
                break;
            /* eng_kv_shift ends the cache after the moved chunk; the cells above it are
             * untouched, and the walk still needs them */
            m->kv.len = len;
            *shifted += L;
            hp += L;
            hc += L;
        } else {
            hc++;
        }
    }
    m->kv.len = hp;
    return hp;
}

/* Moves cells [src, src+n) to [dst, dst+n) in either direction, re-rotating every key by the
 * RoPE angle of dst - src; V rows and tokens are copied.  The cache length is not changed.
 * Cells are visited in the order that never overwrites a source cell not yet read. */
static void kv_move(struct eng_model *m, int src, int dst, int n)
{
    struct eng__kv *kv = &m->kv;
    float *tmp = m->q; /* scratch row: Dq >= Dkv floats, unused between evals */
    for (int l = 0; l < m->n_layer; l++) {
        for (int i = 0; i < n; i++) {
            int c = dst > src ? n - 1 - i : i;
            const void *krow = eng__kv_k(kv, l, src + c);
            if (kv->type == ENG_TYPE_F32)
                memcpy(tmp, krow, (size_t)m->Dkv * sizeof *tmp);
            else
                eng_fp16_to_fp32_row(krow, tmp, m->Dkv);
            for (int h = 0; h < m->n_head_kv; h++)
                eng_rope_rerotate(m, tmp + (size_t)h * (size_t)m->hd, src + c, dst + c);
            eng__kv_store(kv, eng__kv_k(kv, l, dst + c), tmp, m->Dkv);
            memmove(eng__kv_v(kv, l, dst + c), eng__kv_v(kv, l, src + c), kv->row_bytes);
        }
    }
    memmove(kv->tokens + dst, kv->tokens + src, (size_t)n * sizeof *kv->tokens);
}

/* Tail-chunk reuse, the case of an edit inside a prompt whose later part is unchanged (typing
 * at the cursor of a FIM prompt: the suffix moves by the size of the edit): the longest run
 * toks[e-L..e) (e = n) found in the cache after the exact prefix is moved to its new place,
 * and only the tokens between the prefix and it are evaluated.  Returns 1 when applied. */
static int tail_reuse(struct eng_spec *s, struct eng_model *m, const int32_t *toks, int n, int cp,
                      int min_chunk, int *shifted, int *evaluated, int *rc)
{
    int len = eng_kv_len(m), best_L = 0, best_src = 0;
    const int32_t *ct = eng_kv_tokens(m);
    *rc = 0;
    if (n - cp < min_chunk)
        return 0;
    const int32_t *pat = toks + n - min_chunk;
    for (int j = cp; j + min_chunk <= len; j++) {
        if (ct[j] != pat[0] || memcmp(ct + j, pat, (size_t)min_chunk * sizeof *pat))
            continue;
        /* extend backwards: the chunk may not reach into the exact prefix on either side */
        int L = min_chunk;
        while (j + min_chunk - L - 1 >= cp && n - L - 1 >= cp &&
               ct[j + min_chunk - L - 1] == toks[n - L - 1])
            L++;
        if (L > best_L) {
            best_L = L;
            best_src = j + min_chunk - L;
        }
    }
    if (best_L < min_chunk)
        return 0;
    int dst = n - best_L;
    kv_move(m, best_src, dst, best_L);
    /* the gap between the prefix and the moved chunk: evaluated exactly (its attention reads
     * only cells below it, all of them exact) */
    m->kv.len = cp;
    for (int i = cp; i < dst;) {
        int c = SK_MIN(dst - i, m->prm.n_batch);
        *rc = eval_t(s, m, toks + i, c, ENG_LOGITS_NONE);
        if (*rc) {
            m->kv.len = i;
            return 1;
        }
        *evaluated += c;
        i += c;
    }
    m->kv.len = n;
    *shifted += best_L;
    return 1;
}

static int prompt_model(struct eng_spec *s, struct eng_model *m, const int32_t *toks, int n,
                        int *reused, int *shifted, int *evaluated)
{
    int upto = n - 1, cp = eng_kv_common_prefix(m, toks, upto);
    *reused = cp;
    *evaluated = 0;
    if (s->prm.reuse_chunk > 0 && cp < upto && cp < eng_kv_len(m)) {
        int sh = 0, rc;
        if (tail_reuse(s, m, toks, upto, cp, s->prm.reuse_chunk, &sh, evaluated, &rc)) {
            if (shifted)
                *shifted = sh;
            if (rc)
                return rc;
        } else {
            chunk_reuse(m, toks, upto, cp, s->prm.reuse_chunk, &sh);
            if (shifted)
                *shifted = sh;
        }
    } else if (cp < eng_kv_len(m)) {
        eng_kv_truncate(m, cp);
    }
    return kv_sync(s, m, toks, upto, 0, evaluated);
}

int eng_spec_prompt(struct eng_spec *s, const int32_t *toks, int n)
{
    if (!toks || n < 1 || n > eng_model_n_ctx(s->tgt))
        return n > 0 && toks ? ENG_ECONTEXT : ENG_EINVAL;
    s->draft_off = 0;
    for (int i = 0; i < n; i++) {
        if (toks[i] < 0 || toks[i] >= s->Vt)
            return ENG_EINVAL;
        if (s->dft && toks[i] >= s->Vd)
            s->draft_off = 1;
    }
    memcpy(s->hist, toks, (size_t)n * sizeof *toks);
    s->n_hist = n;
    s->done = DONE_NO;
    s->st.prompt_shifted = 0;
    int rc = prompt_model(s, s->tgt, toks, n, &s->st.prompt_reused, &s->st.prompt_shifted,
                          &s->st.prompt_evaluated);
    s->st.prompt_evaluated += 1; /* the last prompt token, evaluated by the first pass */
    if (rc)
        return rc;
    s->st.draft_prompt_reused = s->st.draft_prompt_evaluated = 0;
    if (s->dft && !s->draft_off && n <= eng_model_n_ctx(s->dft)) {
        int sh = 0;
        rc = prompt_model(s, s->dft, toks, n, &s->st.draft_prompt_reused, &sh,
                          &s->st.draft_prompt_evaluated);
        s->st.draft_prompt_reused += sh;
    }
    return rc;
}

/* ---- drafting --------------------------------------------------------------------------------- */

/* Greedy top-1 of logits[n] (lowest id on ties, as eng_sample_greedy) and its probability
 * renormalised over the top 10 (llama.cpp's draft sampler: top_k 10, then the first). */
static int32_t top1_conf(const float *l, int n, float *conf)
{
    float top[10];
    int nt = 0;
    int32_t best = 0;
    for (int i = 0; i < n; i++) {
        float v = l[i];
        if (nt < 10) {
            int j = nt++;
            while (j > 0 && top[j - 1] < v) {
                top[j] = top[j - 1];
                j--;
            }
            top[j] = v;
        } else if (v > top[9]) {
            int j = 9;
            while (j > 0 && top[j - 1] < v) {
                top[j] = top[j - 1];
                j--;
            }
            top[j] = v;
        }
        if (v > l[best])
            best = i;
    }
    double sum = 0;
    for (int j = 0; j < nt; j++)
        sum += exp((double)top[j] - (double)top[0]);
    *conf = (float)(1.0 / sum);
    return best;
}

/* Model draft of up to k tokens after the committed tokens into s->draft[0..): returns the
 * count (0 when the draft cannot run). */
static int draft_model(struct eng_spec *s, int k, int *rc_out)
{
    struct eng_model *d = s->dft;
    int H = s->n_hist;
    *rc_out = 0;
    if (!d || s->draft_off || k <= 0 || H + k - 1 > eng_model_n_ctx(d))
        return 0;
    int rc = kv_sync(s, d, s->hist, H, 1, NULL);
    if (rc) {
        *rc_out = rc;
        return 0;
    }
    int j = 0;
    while (j < k) {
        const float *l = eng_model_logits(d, 0);
        int32_t x;
        float conf;
        if (s->greedy) {
            x = top1_conf(l, s->Vd, &conf);
        } else {
            float *q = s->q + (size_t)j * (size_t)s->Vd;
            eng_sampler_probs(s->smp_d, l, q);
            x = eng_sample_probs(&s->rng, q, s->Vd);
            conf = q[x];
        }
        if (x >= s->Vt)
            break; /* a token the target does not have: cannot be verified */
        s->draft[j] = x;
        s->src[j] = SRC_MODEL;
        j++;
        if (conf < s->prm.p_min || j == k)
            break;
        rc = eval_t(s, d, &x, 1, ENG_LOGITS_LAST);
        if (rc) {
            *rc_out = rc;
            break;
        }
    }
    return j;
}

/* ---- verification -------------------------------------------------------------------------- */

/* Sampling-mode acceptance of draft token x at row i's distribution p (already in s->p). */
static int accept_sampled(struct eng_spec *s, int i, int32_t x)
{
    double qx = 1.0;
    const float *q = NULL;
    if (s->src[i] == SRC_MODEL) {
        q = s->q + (size_t)i * (size_t)s->Vd;
        qx = q[x];
    }
    double u = eng_rng_uniform(&s->rng);
    if (u * qx < (double)s->p[x]) /* u < p/q without dividing */
        return 1;
    /* residual max(0, p - q), q a point mass for n-gram drafts */
    if (q) {
        int nq = SK_MIN(s->Vd, s->Vt);
        for (int y = 0; y < nq; y++)
            s->p[y] = s->p[y] > q[y] ? s->p[y] - q[y] : 0.0f;
    } else {
        s->p[x] = 0.0f;
    }
    return 0;
}

int eng_spec_next(struct eng_spec *s, int32_t *out, int cap)
{
    if (!s || !out || cap < 1 || s->n_hist < 1)
        return ENG_EINVAL;
    if (s->done)
        return 0;
    struct eng_model *t = s->tgt;
    int H = s->n_hist, n_ctx = eng_model_n_ctx(t), rc;
    if (H > n_ctx) {
        s->done = DONE_CTX;
        return 0;
    }
    rc = kv_sync(s, t, s->hist, H - 1, 0, NULL);
    if (rc)
        return rc;

    /* how many drafts: the budget, the context and the buffers bound it */
    int room = SK_MIN(SK_MIN(cap - 1, n_ctx - H), s->k_cap);
    int km = 0, kl = 0;
    if (room > 0 && s->dft && !s->draft_off)
        km = s->prm.adaptive ? eng_spec_adapt_k(&s->ad[SRC_MODEL]) : s->prm.n_draft_max;
    if (room > 0 && s->prm.lookup)
        kl = s->prm.adaptive ? eng_spec_adapt_k(&s->ad[SRC_LOOKUP]) : s->prm.n_draft_max;
    km = SK_MIN(km, room);
    int nd = 0, n_model = 0;
    if (km > 0) {
        nd = n_model = draft_model(s, km, &rc);
        if (rc)
            return rc;
    }
    if (s->prm.lookup && nd < room && kl > 0) {
        /* the n-gram search runs over committed tokens + the model draft */
        memcpy(s->hist + H, s->draft, (size_t)nd * sizeof *s->draft);
        int want = SK_MIN(room - nd, kl);
        int nl = eng_lookup_draft(s->hist, H + nd, s->prm.ngram_min, s->prm.ngram_max,
                                  s->draft + nd, want);
        for (int i = 0; i < nl; i++)
            s->src[nd + i] = SRC_LOOKUP;
        nd += nl;
    }
    if (nd < s->prm.n_draft_min)
        nd = n_model = 0;
    s->st.last_k = nd;

    /* one target pass over the last committed token and the drafts */
    s->batch[0] = s->hist[H - 1];
    memcpy(s->batch + 1, s->draft, (size_t)nd * sizeof *s->draft);
    rc = eval_t(s, t, s->batch, nd + 1, nd ? ENG_LOGITS_ALL : ENG_LOGITS_LAST);
    if (rc)
        return rc;
    s->st.n_verify++;
    s->st.n_target_tokens += nd + 1;

    int m = 0; /* accepted drafts */
    int32_t next;
    for (;;) {
        const float *row = eng_model_logits(t, m);
        if (s->greedy) {
            next = eng_sample_greedy(row, s->Vt);
            if (m < nd && next == s->draft[m]) {
                m++;
                continue;
            }
            break;
        }
        eng_sampler_probs(s->smp_t, row, s->p);
        if (m < nd && accept_sampled(s, m, s->draft[m])) {
            m++;
            continue;
        }
        /* s->p is the target distribution (bonus) or the residual (rejection) */
        double tot = 0;
        for (int y = 0; y < s->Vt; y++)
            tot += (double)s->p[y];
        if (!(tot > 0))
            eng_sampler_probs(s->smp_t, row, s->p); /* p == q up to rounding */
        next = eng_sample_probs(&s->rng, s->p, s->Vt);
        break;
    }

    /* statistics and the adaptive controller, per source */
    int acc_model = SK_MIN(m, n_model), n_look = nd - n_model;
    s->st.n_drafted[SRC_MODEL] += n_model;
    s->st.n_accepted[SRC_MODEL] += acc_model;
    eng_spec_adapt_observe(&s->ad[SRC_MODEL], n_model, acc_model);
    if (n_look > 0 && m >= n_model) { /* the n-gram part was judged */
        s->st.n_drafted[SRC_LOOKUP] += n_look;
        s->st.n_accepted[SRC_LOOKUP] += m - n_model;
        eng_spec_adapt_observe(&s->ad[SRC_LOOKUP], n_look, m - n_model);
    }
    if (s->prm.measure_costs && s->t_tgt[1] > 0) {
        for (int n = 2; n <= ENG_SPEC_KMAX + 1; n++)
            if (s->t_tgt[n] > 0)
                s->ad[0].v[n - 1] = s->ad[1].v[n - 1] = (float)(s->t_tgt[n] / s->t_tgt[1]);
        if (s->t_dft > 0)
            s->ad[SRC_MODEL].c = (float)(s->t_dft / s->t_tgt[1]);
    }

    /* emit drafts[0..m) then next, up to the first stop token */
    int n_out = 0;
    for (int i = 0; i <= m; i++) {
        int32_t tok = i < m ? s->draft[i] : next;
        if (is_stop(s, tok)) {
            s->done = DONE_STOP;
            break;
        }
        out[n_out++] = tok;
    }
    memcpy(s->hist + H, out, (size_t)n_out * sizeof *out);
    s->n_hist = H + n_out;
    s->st.n_emitted += n_out;

    /* rollback: the target keeps the committed tokens but the last; the draft its common
     * prefix with them (accepted cells stay, nothing is recomputed) */
    int keep_t = SK_MIN(eng_kv_len(t), s->n_hist - 1);
    eng_kv_truncate(t, keep_t);
    if (s->dft) {
        int keep_d = eng_kv_common_prefix(s->dft, s->hist, s->n_hist);
        eng_kv_truncate(s->dft, keep_d);
    }
    return n_out;
}
