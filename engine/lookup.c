/*
 * N-gram (prompt lookup) drafting: propose the tokens that followed the most recent earlier
 * occurrence of the last few tokens.  Code repeats identifiers, calls and whole lines, so a
 * completion often copies text already in the prompt or in its own output; such a draft costs
 * nothing to make (c = 0) and only a verification pass to check.
 * Workload: one call per speculative step over the committed tokens (a few thousand, at most
 * the context), scanning backwards; no allocation.
 */
#include "engine/engine.h"

#include <string.h>

int eng_lookup_draft(const int32_t *hist, int n_hist, int ngram_min, int ngram_max,
                     int32_t *out, int k)
{
    if (!hist || !out || k <= 0 || ngram_min < 1 || ngram_max < ngram_min)
        return 0;
    for (int n = ngram_max; n >= ngram_min; n--) {
        if (n >= n_hist)
            continue;
        const int32_t *pat = hist + n_hist - n;
        /* i = start of a candidate occurrence; it must end before the pattern itself starts
         * so at least one continuation token exists */
        for (int i = n_hist - n - 1; i >= 0; i--) {
            if (hist[i + n - 1] != pat[n - 1] || memcmp(hist + i, pat, (size_t)n * sizeof *pat))
                continue;
            int avail = n_hist - (i + n);
            int c = avail < k ? avail : k;
            memcpy(out, hist + i + n, (size_t)c * sizeof *out);
            return c;
        }
    }
    return 0;
}
