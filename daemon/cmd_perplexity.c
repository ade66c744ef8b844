/*
 * `seekd perplexity --model F --file TEXT [--ctx N]`: perplexity as llama.cpp's perplexity tool
 * computes it (llama-cpp-facts.md "7. Perplexity"): the whole text tokenized once with BOS (when
 * the vocab adds one) and parse_special off; non-overlapping chunks of n_ctx tokens, each
 * evaluated from an empty cache with its first token replaced by BOS; the logits at positions
 * n_ctx/2 .. n_ctx-2 score the next tokens, -log softmax in double; PPL = exp(mean nll).
 */
#include "base.h"
#include "daemon/commands.h"
#include "engine/engine.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: seekd perplexity --model F --file TEXT [--ctx N] [--threads N]\n"
                "  Perplexity over non-overlapping windows of N tokens (default 512), second half "
                "of each scored.\n");
}

/* -log softmax(logits)[tok], in double. */
static double nll(const float *logits, int nv, int32_t tok)
{
    float mx = logits[0];
    for (int i = 1; i < nv; i++)
        if (logits[i] > mx)
            mx = logits[i];
    double sum = 0.0;
    for (int i = 0; i < nv; i++)
        sum += exp((double)logits[i] - (double)mx);
    return -((double)logits[tok] - (double)mx - log(sum));
}

int cmd_perplexity(int argc, char **argv)
{
    const char *model = NULL, *file = NULL;
    long n_ctx = 512, v;
    struct eng_model_params mp;
    eng_model_params_default(&mp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "seekd: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        const char *val = argv[++i];
        if (!strcmp(a, "--model") || !strcmp(a, "-m"))
            model = val;
        else if (!strcmp(a, "--file") || !strcmp(a, "-f"))
            file = val;
        else if (!strcmp(a, "--ctx") && !dmn__parse_int(val, 4, 65536, &v))
            n_ctx = v;
        else if (!strcmp(a, "--threads") && !dmn__parse_int(val, 1, 256, &v))
            mp.n_threads = (int)v;
        else {
            fprintf(stderr, "seekd: bad option or value: %s %s\n", a, val);
            usage(stderr);
            return 2;
        }
    }
    if (!model || !file) {
        usage(stderr);
        return 2;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = sk_read_file(file, 256u << 20, &text, &len);
    if (rc) {
        fprintf(stderr, "seekd: %s: %s\n", file, eng_strerror(rc));
        return 1;
    }
    mp.n_ctx = (int)n_ctx;
    mp.n_batch = (int)SK_MIN(n_ctx, 512);
    mp.n_outputs = (int)SK_MIN(n_ctx, 512); /* all logits of a whole chunk call */
    struct dmn__model dm;
    if (dmn__model_open(&dm, model, &mp, 1)) {
        sk_free(text);
        return 1;
    }
    int ret = 1;
    int32_t *ids = NULL;
    int cap = (int)SK_MIN(len + 8, (size_t)1 << 27);
    ids = sk_malloc((size_t)cap * sizeof *ids);
    int n = eng_tokenize(dm.vocab, text, len, 1, 0, ids, cap);
    if (n < 0 || n > cap) {
        fprintf(stderr, "seekd: tokenizing %s failed: %s\n", file, eng_strerror(n));
        goto out;
    }
    if (n < 2 * n_ctx) {
        fprintf(stderr, "seekd: %s has %d tokens; at least 2 * ctx = %ld are needed\n", file, n,
                2 * n_ctx);
        goto out;
    }
    int add_bos = eng_vocab_add_bos(dm.vocab), bos = eng_vocab_bos(dm.vocab);
    int nv = eng_model_n_vocab(dm.model), n_chunk = n / (int)n_ctx, first = (int)n_ctx / 2;
    int nb = mp.n_outputs;
    double total = 0.0, total2 = 0.0;
    long count = 0;
    uint64_t t0 = sk_real_now_ns();
    for (int c = 0; c < n_chunk; c++) {
        int32_t *chunk = ids + (size_t)c * (size_t)n_ctx;
        int32_t saved = chunk[0];
        if (add_bos && bos >= 0)
            chunk[0] = bos;
        eng_kv_clear(dm.model);
        double cn = 0.0;
        for (int i = 0; i < n_ctx && !rc; i += nb) {
            int cnt = (int)SK_MIN(nb, n_ctx - i);
            /* rows before `first` need no logits */
            int want = i + cnt > first;
            rc = eng_model_eval(dm.model, chunk + i, cnt, want ? ENG_LOGITS_ALL : ENG_LOGITS_NONE);
            for (int r = 0; want && !rc && r < cnt; r++) {
                int p = i + r;
                if (p < first || p > n_ctx - 2)
                    continue;
                double e = nll(eng_model_logits(dm.model, r), nv, chunk[p + 1]);
                cn += e;
                total2 += e * e;
                count++;
            }
        }
        chunk[0] = saved;
        if (rc) {
            fprintf(stderr, "seekd: eval: %s\n", eng_strerror(rc));
            goto out;
        }
        total += cn;
        fprintf(stderr, "[%d]%.4f ", c + 1, exp(total / (double)count));
    }
    double secs = (double)(sk_real_now_ns() - t0) / 1e9;
    fprintf(stderr, "\n%d chunks of %ld tokens in %.2f s\n", n_chunk, n_ctx, secs);
    /* the error estimate llama.cpp prints: sd of the nll over scored tokens, times PPL */
    double mean = total / (double)count, var = total2 / (double)count - mean * mean;
    double ppl = exp(mean), err = var > 0.0 && count > 1 ? sqrt(var / (double)(count - 1)) : 0.0;
    printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, err * ppl);
    ret = 0;
out:
    sk_free(ids);
    sk_free(text);
    dmn__model_close(&dm);
    return ret;
}
