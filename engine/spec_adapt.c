/*
 * Adaptive draft length for speculative decoding.  The expected number of tokens a
 * verification yields with k drafts and per-token acceptance alpha is (1 - alpha^(k+1)) /
 * (1 - alpha) (Leviathan et al.), and it costs k draft steps plus one target pass over k+1
 * tokens; we pick the k with the best tokens per unit of cost, alpha being estimated from the
 * session's own outcomes.  Pure arithmetic over a caller-owned struct (see engine.h).
 */
#include "engine/engine.h"

#include <math.h>
#include <string.h>

void eng_spec_adapt_init(struct eng_spec_adapt *a, int k_max, float c, const float *v)
{
    memset(a, 0, sizeof *a);
    a->decay = 0.9;
    a->k_max = k_max < 1 ? 1 : k_max > ENG_SPEC_KMAX ? ENG_SPEC_KMAX : k_max;
    a->c = c < 0 ? 0 : c;
    for (int k = 0; k <= ENG_SPEC_KMAX; k++)
        a->v[k] = v && v[k] > 0 ? v[k] : 1.0f + 0.125f * (float)k;
    a->v[0] = 1.0f;
}

void eng_spec_adapt_observe(struct eng_spec_adapt *a, int drafted, int accepted)
{
    if (drafted <= 0)
        return;
    if (accepted > drafted)
        accepted = drafted;
    if (accepted < 0)
        accepted = 0;
    a->acc = a->acc * a->decay + accepted;
    a->fail = a->fail * a->decay + (accepted < drafted ? 1 : 0);
}

double eng_spec_adapt_alpha(const struct eng_spec_adapt *a)
{
    /* prior: one success and one failure (alpha 0.5) */
    return (a->acc + 1.0) / (a->acc + a->fail + 2.0);
}

double eng_spec_adapt_rate(const struct eng_spec_adapt *a, double alpha, int k)
{
    if (k < 0 || k > ENG_SPEC_KMAX)
        return 0;
    double tok = alpha >= 1.0 ? (double)(k + 1) : (1.0 - pow(alpha, k + 1)) / (1.0 - alpha);
    return tok / ((double)k * (double)a->c + (double)a->v[k]);
}

int eng_spec_adapt_k(struct eng_spec_adapt *a)
{
    double alpha = eng_spec_adapt_alpha(a), best = eng_spec_adapt_rate(a, alpha, 0);
    int bk = 0;
    for (int k = 1; k <= a->k_max; k++) {
        double r = eng_spec_adapt_rate(a, alpha, k);
        if (r > best * (1.0 + 1e-9)) {
            best = r;
            bk = k;
        }
    }
    a->n_calls++;
    if (bk == 0 && a->n_calls % 8 == 0)
        bk = 1; /* probe so that a recovering acceptance is noticed */
    return bk;
}
