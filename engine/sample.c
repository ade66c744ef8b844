/*
 * Token sampling: greedy, temperature, top-k, top-p, min-p over one row of logits, with our own
 * seeded RNG (xoshiro256** seeded through splitmix64) so a seed reproduces a run on any machine.
 * Workload: one call per generated token over n_vocab (32K-102K) logits; the candidate buffer is
 * allocated once in eng_sampler_new, sampling allocates nothing.
 *
 * Order of the filters (documented in engine.h): logits / temp -> softmax -> top-k -> top-p ->
 * min-p -> renormalise -> draw.  temp <= 0 is greedy (argmax, lowest id on ties).
 */
#include "base.h"
#include "engine/engine.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- RNG ------------------------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void eng_rng_seed(struct eng_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t eng_rng_next(struct eng_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double eng_rng_uniform(struct eng_rng *r) { return (double)(eng_rng_next(r) >> 11) * 0x1.0p-53; }

/* ---- sampler -------------------------------------------------------------------------------- */

struct cand {
    int32_t id;
    float p; /* logit, then probability */
};

struct eng_sampler {
    struct eng_sampler_params prm;
    int n_vocab;
    struct eng_rng rng;
    struct cand *cand; /* [n_vocab] */
    int32_t *stops;
    int n_stops;
};

void eng_sampler_params_default(struct eng_sampler_params *p)
{
    memset(p, 0, sizeof *p);
    p->temp = 0.0f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->seed = 0;
}

int eng_sampler_new(struct eng_sampler **out, int n_vocab, const struct eng_sampler_params *prm)
{
    *out = NULL;
    if (n_vocab <= 0 || !prm)
        return ENG_EINVAL;
    if (!(prm->temp >= 0.0f) || prm->top_k < 0 || !(prm->top_p > 0.0f && prm->top_p <= 1.0f) ||
        !(prm->min_p >= 0.0f && prm->min_p < 1.0f))
        return ENG_EINVAL;
    struct eng_sampler *s = sk_calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->cand = sk_malloc((size_t)n_vocab * sizeof *s->cand);
    if (!s->cand) {
        sk_free(s);
        return -ENOMEM;
    }
    s->prm = *prm;
    s->n_vocab = n_vocab;
    eng_rng_seed(&s->rng, prm->seed);
    *out = s;
    return 0;
}

void eng_sampler_free(struct eng_sampler *s)
{
    if (!s)
        return;
    sk_free(s->cand);
    sk_free(s->stops);
    sk_free(s);
}

struct eng_rng *eng_sampler_rng(struct eng_sampler *s) { return &s->rng; }

int eng_sampler_set_stops(struct eng_sampler *s, const int32_t *ids, int n)
{
    if (n < 0 || (n > 0 && !ids))
        return ENG_EINVAL;
    int32_t *copy = NULL;
    if (n > 0) {
        copy = sk_malloc((size_t)n * sizeof *copy);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, ids, (size_t)n * sizeof *copy);
    }
    sk_free(s->stops);
    s->stops = copy;
    s->n_stops = n;
    return 0;
}

int eng_sampler_is_stop(const struct eng_sampler *s, int32_t tok)
{
    for (int i = 0; i < s->n_stops; i++)
        if (s->stops[i] == tok)
            return 1;
    return 0;
}

int32_t eng_sample_greedy(const float *logits, int n_vocab)
{
    int32_t best = 0;
    float bv = logits[0];
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > bv) { /* strict: the lowest id wins ties; NaN never wins */
            bv = logits[i];
            best = i;
        }
    return best;
}

/* Descending by p, ties by ascending id: a total order, so qsort's instability cannot change
 * results. */
static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->p > y->p)
        return -1;
    if (x->p < y->p)
        return 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Sift-down for a min-heap on (p asc, id desc), i.e. the root is the worst candidate. */
static int worse(const struct cand *a, const struct cand *b)
{
    return a->p < b->p || (a->p == b->p && a->id > b->id);
}

static void sift_down(struct cand *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m]))
            m = l;
        if (r < n && worse(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        struct cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Fills s->cand[0..n) with the kept candidates, sorted, with probabilities summing to 1.
 * Returns n (>= 1). */
static int filter(struct eng_sampler *s, const float *logits)
{
    const struct eng_sampler_params *p = &s->prm;
    int nv = s->n_vocab, n;
    float inv_t = 1.0f / p->temp;
    if (p->top_k > 0 && p->top_k < nv) {
        int k = p->top_k;
        for (int i = 0; i < k; i++)
            s->cand[i] = (struct cand){i, logits[i] * inv_t};
        for (int i = k / 2 - 1; i >= 0; i--)
            sift_down(s->cand, k, i);
        for (int i = k; i < nv; i++) {
            struct cand c = {i, logits[i] * inv_t};
            if (worse(&s->cand[0], &c)) {
                s->cand[0] = c;
                sift_down(s->cand, k, 0);
            }
        }
        n = k;
    } else {
        for (int i = 0; i < nv; i++)
            s->cand[i] = (struct cand){i, logits[i] * inv_t};
        n = nv;
    }
    qsort(s->cand, (size_t)n, sizeof *s->cand, cand_cmp);
    /* softmax over the kept candidates (top-k already cut, which does not change the relative
     * probabilities of the rest) */
    float mx = s->cand[0].p;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        s->cand[i].p = expf(s->cand[i].p - mx);
        sum += (double)s->cand[i].p;
    }
    for (int i = 0; i < n; i++)
        s->cand[i].p = (float)((double)s->cand[i].p / sum);
    if (p->top_p < 1.0f) {
        double c = 0.0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            c += (double)s->cand[i].p;
            if (c >= (double)p->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (p->min_p > 0.0f) {
        float lim = s->cand[0].p * p->min_p;
        int keep = 1;
        while (keep < n && s->cand[keep].p >= lim)
            keep++;
        n = keep;
    }
    sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)s->cand[i].p;
    for (int i = 0; i < n; i++)
        s->cand[i].p = (float)((double)s->cand[i].p / sum);
    return n;
}

int eng_sampler_probs(struct eng_sampler *s, const float *logits, float *probs)
{
    memset(probs, 0, (size_t)s->n_vocab * sizeof *probs);
    if (s->prm.temp <= 0.0f) {
        probs[eng_sample_greedy(logits, s->n_vocab)] = 1.0f;
        return 1;
    }
    int n = filter(s, logits);
    for (int i = 0; i < n; i++)
        probs[s->cand[i].id] = s->cand[i].p;
    return n;
}

int32_t eng_sampler_sample(struct eng_sampler *s, const float *logits)
{
    if (s->prm.temp <= 0.0f)
        return eng_sample_greedy(logits, s->n_vocab);
    int n = filter(s, logits);
    double u = eng_rng_uniform(&s->rng), c = 0.0;
    for (int i = 0; i < n; i++) {
        c += (double)s->cand[i].p;
        if (u < c)
            return s->cand[i].id;
    }
    return s->cand[n - 1].id; /* rounding left u above the total */
}

int32_t eng_sample_probs(struct eng_rng *r, const float *probs, int n_vocab)
{
    double total = 0.0;
    for (int i = 0; i < n_vocab; i++)
        total += probs[i] > 0.0f ? (double)probs[i] : 0.0;
    if (!(total > 0.0))
        return eng_sample_greedy(probs, n_vocab);
    double u = eng_rng_uniform(r) * total, c = 0.0;
    int32_t last = 0;
    for (int i = 0; i < n_vocab; i++) {
        if (!(probs[i] > 0.0f))
            continue;
        c += (double)probs[i];
        last = i;
        if (u < c)
            return i;
    }
    return last;
}
