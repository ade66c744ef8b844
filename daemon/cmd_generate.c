/*
 * `seekd generate`: load a model, evaluate a prompt (text or ids) and print the continuation
 * (or its token ids).  `seekd eval-logits`: teacher-forced logits of a fixed token sequence,
 * written as raw little-endian float32 [n_tokens][n_vocab] (tests compare them with
 * tools/reference.py and across batch sizes).  Also the model-opening helper the other engine
 * commands share (dmn__model_open).
 */
#include "base.h"
#include "daemon/commands.h"
#include "engine/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int dmn__model_open(struct dmn__model *dm, const char *path, const struct eng_model_params *p,
                    int need_vocab)
{
    char err[512] = "";
    memset(dm, 0, sizeof *dm);
    int rc = eng_gguf_open(path, err, sizeof err, &dm->gguf);
    if (rc) {
        fprintf(stderr, "seekd: %s: %s\n", path, err[0] ? err : eng_strerror(rc));
        return rc;
    }
    if (need_vocab) {
        rc = eng_vocab_load(dm->gguf, &dm->vocab, err, sizeof err);
        if (rc) {
            fprintf(stderr, "seekd: %s: tokenizer: %s\n", path, err[0] ? err : eng_strerror(rc));
            goto fail;
        }
    }
    rc = eng_model_load(dm->gguf, p, &dm->model, err, sizeof err);
    if (rc) {
        fprintf(stderr, "seekd: %s: %s\n", path, err[0] ? err : eng_strerror(rc));
        goto fail;
    }
    return 0;
fail:
    dmn__model_close(dm);
    return rc;
}

void dmn__model_close(struct dmn__model *dm)
{
    eng_model_free(dm->model);
    eng_vocab_free(dm->vocab);
    eng_gguf_close(dm->gguf);
    memset(dm, 0, sizeof *dm);
}

/* Parses "1,2,3" or "1 2 3" into a fresh sk_malloc array; returns the count or -1. */
int dmn__parse_ids(const char *s, int32_t **out)
{
    int cap = 16, n = 0;
    int32_t *ids = sk_malloc((size_t)cap * sizeof *ids);
    while (*s) {
        while (*s == ',' || *s == ' ' || *s == '\n' || *s == '\t')
            s++;
        if (!*s)
            break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX) {
            sk_free(ids);
            return -1;
        }
        if (n == cap) {
            cap *= 2;
            ids = sk_realloc(ids, (size_t)cap * sizeof *ids);
        }
        ids[n++] = (int32_t)v;
        s = end;
    }
    *out = ids;
    return n;
}

int dmn__parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno)
        return -1;
    *out = (float)v;
    return 0;
}

static void gen_usage(FILE *fp)
{
    fprintf(fp, "usage: seekd generate --model F (--prompt TEXT | --prompt-file F | --prompt-ids "
                "1,2,3) [-n N]\n"
                "         [--temp T] [--top-k K] [--top-p P] [--min-p P] [--seed S] "
                "[--threads N] [--ctx N] [--ids]\n"
                "  Prints the continuation of the prompt (or with --ids its token ids).\n"
                "  Greedy by default (--temp 0); stops at an end-of-generation token or after N "
                "tokens (default 64).\n"
                "  Speculative decoding: --draft D, --draft-max K, --lookup (see seekd generate "
                "--draft x --help).\n");
}

#define NEED_ARG()                                                                                \
    do {                                                                                          \
        if (i + 1 >= argc) {                                                                      \
            fprintf(stderr, "seekd: %s needs a value\n", a);                                     \
            goto usage;                                                                           \
        }                                                                                         \
    } while (0)

int cmd_generate(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *prompt_file = NULL, *prompt_ids = NULL;
    long n_predict = 64, v;
    int print_ids = 0, ret = 1;
    struct eng_model_params mp;
    struct eng_sampler_params sp;
    eng_model_params_default(&mp);
    eng_sampler_params_default(&sp);
    if (dmn__spec_wanted(argc, argv)) /* --draft / --draft-max / --lookup: daemon/cmd_spec.c */
        return cmd_spec_generate(argc, argv);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            gen_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--ids")) {
            print_ids = 1;
            continue;
        }
        NEED_ARG();
        const char *val = argv[++i];
        if (!strcmp(a, "--model") || !strcmp(a, "-m"))
            model = val;
        else if (!strcmp(a, "--prompt") || !strcmp(a, "-p"))
            prompt = val;
        else if (!strcmp(a, "--prompt-file") || !strcmp(a, "-f"))
            prompt_file = val;
        else if (!strcmp(a, "--prompt-ids"))
            prompt_ids = val;
        else if (!strcmp(a, "-n") && !dmn__parse_int(val, 0, 1 << 20, &v))
            n_predict = v;
        else if (!strcmp(a, "--temp") && !parse_float(val, &sp.temp))
            ;
        else if (!strcmp(a, "--top-k") && !dmn__parse_int(val, 0, 1 << 24, &v))
            sp.top_k = (int)v;
        else if (!strcmp(a, "--top-p") && !parse_float(val, &sp.top_p))
            ;
        else if (!strcmp(a, "--min-p") && !parse_float(val, &sp.min_p))
            ;
        else if (!strcmp(a, "--seed") && !dmn__parse_int(val, 0, LONG_MAX, &v))
            sp.seed = (uint64_t)v;
        else if (!strcmp(a, "--threads") && !dmn__parse_int(val, 1, 256, &v))
            mp.n_threads = (int)v;
        else if (!strcmp(a, "--ctx") && !dmn__parse_int(val, 1, 65536, &v))
            mp.n_ctx = (int)v;
        else {
            fprintf(stderr, "seekd: bad option or value: %s %s\n", a, val);
            goto usage;
        }
    }
    if (!model || (!!prompt + !!prompt_file + !!prompt_ids) != 1) {
        fprintf(stderr, "seekd: generate needs --model and exactly one prompt option\n");
        goto usage;
    }

    struct dmn__model dm;
    if (dmn__model_open(&dm, model, &mp, 1))
        return 1;
    char *text = NULL;
    size_t text_len = 0;
    int32_t *ids = NULL, *eog = NULL;
    struct eng_sampler *smp = NULL;
    int n = 0, rc;
    if (prompt_ids) {
        n = dmn__parse_ids(prompt_ids, &ids);
        if (n < 1) {
            fprintf(stderr, "seekd: --prompt-ids: expected a list of token ids\n");
            goto out;
        }
    } else {
        if (prompt_file) {
            rc = sk_read_file(prompt_file, 64u << 20, &text, &text_len);
            if (rc) {
                fprintf(stderr, "seekd: %s: %s\n", prompt_file, eng_strerror(rc));
                goto out;
            }
        }
        const char *t = prompt ? prompt : text;
        size_t tl = prompt ? strlen(prompt) : text_len;
        int cap = (int)SK_MIN(tl + 8, (size_t)1 << 26);
        ids = sk_malloc((size_t)cap * sizeof *ids);
        n = eng_tokenize(dm.vocab, t, tl, 1, 1, ids, cap);
        if (n < 0 || n > cap) {
            fprintf(stderr, "seekd: tokenizing the prompt failed: %s\n", eng_strerror(n));
            goto out;
        }
    }
    if (n < 1) {
        fprintf(stderr, "seekd: empty prompt\n");
        goto out;
    }
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= eng_model_n_vocab(dm.model)) {
            fprintf(stderr, "seekd: token id %d out of range\n", (int)ids[i]);
            goto out;
        }
    if (n + n_predict > eng_model_n_ctx(dm.model))
        n_predict = SK_MAX(0, eng_model_n_ctx(dm.model) - n);
    rc = eng_sampler_new(&smp, eng_model_n_vocab(dm.model), &sp);
    if (rc) {
        fprintf(stderr, "seekd: bad sampling parameters\n");
        goto out;
    }
    eog = sk_malloc(64 * sizeof *eog);
    int n_eog = eng_vocab_eog_ids(dm.vocab, eog, 64);
    eng_sampler_set_stops(smp, eog, SK_MIN(n_eog, 64));

    uint64_t t0 = sk_real_now_ns();
    rc = eng_model_prompt(dm.model, ids, n, NULL);
    uint64_t t1 = sk_real_now_ns();
    long n_gen = 0;
    if (rc) {
        fprintf(stderr, "seekd: evaluating the prompt: %s\n", eng_strerror(rc));
        goto out;
    }
    struct eng_detok dt;
    eng_detok_init(&dt);
    char buf[1024];
    for (long i = 0; i < n_predict; i++) {
        int32_t tok = eng_sampler_sample(smp, eng_model_logits(dm.model, 0));
        if (eng_sampler_is_stop(smp, tok))
            break;
        n_gen++;
        if (print_ids) {
            printf(i ? " %d" : "%d", (int)tok);
        } else {
            int k = eng_detok_push(&dt, dm.vocab, tok, 0, buf, sizeof buf);
            if (k > 0 && k <= (int)sizeof buf)
                fwrite(buf, 1, (size_t)k, stdout);
        }
        fflush(stdout);
        if (i + 1 == n_predict)
            break;
        rc = eng_model_eval(dm.model, &tok, 1, ENG_LOGITS_LAST);
        if (rc) {
            fprintf(stderr, "\nseekd: decode: %s\n", eng_strerror(rc));
            goto out;
        }
    }
    if (!print_ids) {
        int k = eng_detok_flush(&dt, buf, sizeof buf);
        if (k > 0)
            fwrite(buf, 1, (size_t)k, stdout);
    }
    printf("\n");
    fflush(stdout);
    uint64_t t2 = sk_real_now_ns();
    fprintf(stderr, "seekd: prompt %d tokens in %.1f ms (%.1f tok/s), generated %ld tokens in %.1f ms"
                    " (%.1f tok/s)\n",
            n, (double)(t1 - t0) / 1e6, n * 1e9 / (double)SK_MAX(t1 - t0, 1),
            n_gen, (double)(t2 - t1) / 1e6, (double)n_gen * 1e9 / (double)SK_MAX(t2 - t1, 1));
    ret = 0;
out:
    eng_sampler_free(smp);
    sk_free(eog);
    sk_free(ids);
    sk_free(text);
    dmn__model_close(&dm);
    return ret;
usage:
    gen_usage(stderr);
    return 2;
}

/* ---- eval-logits -------------------------------------------------------------------------- */

static void el_usage(FILE *fp)
{
    fprintf(fp, "usage: seekd eval-logits --model F --tokens 1,2,3 --out FILE [--batch B] "
                "[--kv f16|f32] [--threads N] [--ctx N] [--truncate-at K]\n"
                "  Teacher forcing: evaluates the tokens in calls of B tokens (default 1) and "
                "writes\n  every position's logits as float32 [n][n_vocab] to FILE (mode 0600).\n"
                "  --truncate-at K: first evaluate all tokens, roll the cache back to K, then "
                "evaluate\n  tokens K.. again (the logits of the second pass are written).\n");
}

int cmd_eval_logits(int argc, char **argv)
{
    const char *model = NULL, *toks = NULL, *outp = NULL;
    long batch = 1, v, trunc = -1;
    struct eng_model_params mp;
    eng_model_params_default(&mp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            el_usage(stdout);
            return 0;
        }
        NEED_ARG();
        const char *val = argv[++i];
        if (!strcmp(a, "--model"))
            model = val;
        else if (!strcmp(a, "--tokens"))
            toks = val;
        else if (!strcmp(a, "--out"))
            outp = val;
        else if (!strcmp(a, "--batch") && !dmn__parse_int(val, 1, 8192, &v))
            batch = v;
        else if (!strcmp(a, "--threads") && !dmn__parse_int(val, 1, 256, &v))
            mp.n_threads = (int)v;
        else if (!strcmp(a, "--ctx") && !dmn__parse_int(val, 1, 65536, &v))
            mp.n_ctx = (int)v;
        else if (!strcmp(a, "--truncate-at") && !dmn__parse_int(val, 0, 1 << 20, &v))
            trunc = v;
        else if (!strcmp(a, "--kv") && (!strcmp(val, "f16") || !strcmp(val, "f32")))
            mp.kv_type = val[1] == '1' ? ENG_TYPE_F16 : ENG_TYPE_F32;
        else {
            fprintf(stderr, "seekd: bad option or value: %s %s\n", a, val);
            goto usage;
        }
    }
    if (!model || !toks || !outp)
        goto usage;
    int32_t *ids = NULL;
    int n = dmn__parse_ids(toks, &ids);
    if (n < 1) {
        fprintf(stderr, "seekd: --tokens: expected a list of token ids\n");
        sk_free(ids);
        return 2;
    }
    if (trunc > n)
        trunc = n;
    mp.n_batch = (int)batch;
    mp.n_outputs = (int)batch;
    struct dmn__model dm;
    int ret = 1, fd = -1, rc = 0;
    if (dmn__model_open(&dm, model, &mp, 0)) {
        sk_free(ids);
        return 1;
    }
    int nv = eng_model_n_vocab(dm.model);
    fd = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "seekd: %s: %s\n", outp, strerror(errno));
        goto out;
    }
    int start = 0;
    if (trunc >= 0) {
        for (int i = 0; i < n && !rc; i += (int)batch)
            rc = eng_model_eval(dm.model, ids + i, (int)SK_MIN(batch, n - i), ENG_LOGITS_NONE);
        if (!rc)
            rc = eng_kv_truncate(dm.model, (int)trunc);
        start = (int)trunc;
    }
    for (int i = start; i < n && !rc; i += (int)batch) {
        int c = (int)SK_MIN(batch, n - i);
        rc = eng_model_eval(dm.model, ids + i, c, ENG_LOGITS_ALL);
        for (int r = 0; r < c && !rc; r++) {
            const char *p = (const char *)eng_model_logits(dm.model, r);
            size_t left = (size_t)nv * sizeof(float);
            while (left) {
                ssize_t w = write(fd, p, left);
                if (w < 0) {
                    if (errno == EINTR)
                        continue;
                    fprintf(stderr, "seekd: %s: %s\n", outp, strerror(errno));
                    goto out;
                }
                p += w;
                left -= (size_t)w;
            }
        }
    }
    if (rc) {
        fprintf(stderr, "seekd: eval: %s\n", eng_strerror(rc));
        goto out;
    }
    ret = 0;
out:
    if (fd >= 0 && close(fd) && !ret) {
        fprintf(stderr, "seekd: %s: %s\n", outp, strerror(errno));
        ret = 1;
    }
    sk_free(ids);
    dmn__model_close(&dm);
    return ret;
usage:
    el_usage(stderr);
    return 2;
}
