/*
 * Tokenizer and GGUF-open benchmark (issue 3 targets: >= 10 MB/s tokenizing source code per
 * DeepSeek vocab; < 50 ms to open and validate a 1 GB GGUF).
 *   1. ~1 MB of source text (this repository's C files, repeated) tokenized with each vocab
 *      in ../shared/vocab (parse_special off, as completion prompts are built); best of 5.
 *   2. A 1 GB llama-shaped GGUF (the coder vocab's metadata plus 17 layers of Q8_0 weights,
 *      data left sparse) generated in /tmp, opened and validated (best of 5), deleted after.
 *      Vocab loading and hparams are timed separately: they are per-model-load costs too.
 * Times are thread CPU time (best of 5), so other load on the machine does not count.
 * Prints figures only.
 */
#include "base.h"
#include "daemon/commands.h"
#include "engine/engine.h"
#include "tests/engine/gguf_writer.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <time.h>

/* CPU time of this thread: the machine is shared, so wall time would measure the neighbours. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Concatenates the .c files under `dirs` (sorted) until `want` bytes. */
static char *source_text(size_t want, size_t *len)
{
    static const char *const dirs[] = {"engine", "base", "daemon", "lsp", "context", "cache"};
    char *paths[512];
    int np = 0;
    for (size_t d = 0; d < SK_ARRAY_LEN(dirs); d++) {
        DIR *dp = opendir(dirs[d]);
        struct dirent *e;
        while (dp && (e = readdir(dp)) && np < 512) {
            size_t l = strlen(e->d_name);
            if (l > 2 && !strcmp(e->d_name + l - 2, ".c")) {
                char p[600];
                snprintf(p, sizeof p, "%s/%s", dirs[d], e->d_name);
                paths[np++] = sk_strdup(p);
            }
        }
        if (dp)
            closedir(dp);
    }
    qsort(paths, (size_t)np, sizeof *paths, cmp_str);
    char *out = sk_malloc(want + 1);
    size_t n = 0;
    for (int round = 0; n < want && np > 0 && round < 100; round++)
        for (int i = 0; i < np && n < want; i++) {
            char *s;
            size_t l;
            if (sk_read_file(paths[i], 1 << 24, &s, &l))
                continue;
            size_t take = SK_MIN(l, want - n);
            /* Cut on a character boundary. */
            while (take < l && take > 0 && ((uint8_t)s[take] & 0xC0) == 0x80)
                take--;
            memcpy(out + n, s, take);
            n += take;
            sk_free(s);
        }
    for (int i = 0; i < np; i++)
        sk_free(paths[i]);
    out[n] = 0;
    *len = n;
    return out;
}

static void bench_tokenizer(const char *vocab_rel, const char *text, size_t len)
{
    char path[600], err[512];
    snprintf(path, sizeof path, "../shared/%s", vocab_rel);
    struct eng_gguf *g;
    if (eng_gguf_open(path, err, sizeof err, &g)) {
        printf("tokenizer %-28s skipped (%s)\n", vocab_rel, err);
        return;
    }
    double t0 = now_ms();
    struct eng_vocab *v;
    if (eng_vocab_load(g, &v, err, sizeof err)) {
        printf("tokenizer %-28s load failed: %s\n", vocab_rel, err);
        eng_gguf_close(g);
        return;
    }
    double load = now_ms() - t0;
    int32_t *ids = sk_malloc(len * sizeof *ids);
    double best = 1e30;
    int n = 0;
    for (int rep = 0; rep < 5; rep++) {
        t0 = now_ms();
        n = eng_tokenize(v, text, len, 0, 0, ids, (int)len);
        double dt = now_ms() - t0;
        if (dt < best)
            best = dt;
    }
    printf("tokenizer %-36s %7.2f MB/s  (%zu bytes -> %d tokens, %.2f bytes/token, %.1f ms; "
           "vocab load %.1f ms)\n",
           strrchr(vocab_rel, '/') + 1, (double)len / 1e6 / (best / 1e3), len, n,
           (double)len / n, best, load);
    sk_free(ids);
    eng_vocab_free(v);
    eng_gguf_close(g);
}

static void bench_open(void)
{
    char err[512];
    struct eng_gguf *vg;
    const char *vp = "../shared/vocab/ggml-vocab-deepseek-coder.gguf";
    int have_vocab = eng_gguf_open(vp, err, sizeof err, &vg) == 0;
    struct gw w = {0};
    enum { NL = 17, E = 2048, FF = 5504, V = 32256 };
    static const char *const names[] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                        "ffn_gate", "ffn_up", "ffn_down"};
    int n_t = 2 + NL * 9 + 1;
    int n_kv = have_vocab ? gw_copy_kvs(&w, vg, "llama.block_count", 1) : 0;
    gw_header(&w, 3, (uint64_t)n_t, (uint64_t)n_kv + 1);
    if (have_vocab)
        gw_copy_kvs(&w, vg, "llama.block_count", 0);
    gw_kv_u32(&w, "llama.block_count", NL);
    uint64_t off = 0;
    int64_t ne[2];
#define T(name, n0, n1, type)                                                                     \
    do {                                                                                          \
        ne[0] = (n0);                                                                             \
        ne[1] = (n1);                                                                             \
        gw_tensor(&w, name, (n1) > 1 ? 2 : 1, ne, type, off);                                     \
        uint64_t sz = eng_type_row_size(type, n0) * (uint64_t)(n1);                               \
        off += (sz + 31) / 32 * 32;                                                               \
    } while (0)
    T("token_embd.weight", E, V, ENG_TYPE_Q8_0);
    for (int l = 0; l < NL; l++) {
        char nm[64];
        for (int k = 0; k < 7; k++) {
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, names[k]);
            int ff = k >= 4;
            int64_t n0 = k == 6 ? FF : E, n1 = k == 6 ? E : ff ? FF : E;
            T(nm, n0, n1, ENG_TYPE_Q8_0);
        }
        snprintf(nm, sizeof nm, "blk.%d.attn_norm.weight", l);
        T(nm, E, 1, ENG_TYPE_F32);
        snprintf(nm, sizeof nm, "blk.%d.ffn_norm.weight", l);
        T(nm, E, 1, ENG_TYPE_F32);
    }
    T("output_norm.weight", E, 1, ENG_TYPE_F32);
    T("output.weight", E, V, ENG_TYPE_Q8_0);
    gw_pad(&w, 32);
    char path[256];
    snprintf(path, sizeof path, "/tmp/seekd-bench-%d.gguf", (int)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(w.p, 1, w.n, fp) != w.n || ftruncate(fileno(fp), (off_t)(w.n + off))) {
        printf("open 1 GB GGUF: cannot write %s\n", path);
        if (fp)
            fclose(fp);
        gw_free(&w);
        return;
    }
    fclose(fp);
    double best = 1e30, vbest = 1e30, wbest = 1e30;
    uint64_t size = 0;
    int nt = 0;
    for (int rep = 0; rep < 5; rep++) {
        double w0 = (double)sk_real_now_ns() / 1e6;
        double t0 = now_ms();
        struct eng_gguf *g;
        if (eng_gguf_open(path, err, sizeof err, &g)) {
            printf("open 1 GB GGUF: failed: %s\n", err);
            break;
        }
        double dt = now_ms() - t0, wdt = (double)sk_real_now_ns() / 1e6 - w0;
        best = dt < best ? dt : best;
        wbest = wdt < wbest ? wdt : wbest;
        size = eng_gguf_file_size(g);
        nt = eng_gguf_n_tensors(g);
        t0 = now_ms();
        struct eng_hparams hp;
        struct eng_vocab *v = NULL;
        eng_hparams_load(g, &hp, err, sizeof err);
        if (have_vocab)
            eng_vocab_load(g, &v, err, sizeof err);
        dt = now_ms() - t0;
        vbest = dt < vbest ? dt : vbest;
        eng_vocab_free(v);
        eng_gguf_close(g);
    }
    printf("open+validate %.2f GB GGUF (%d tensors, %d metadata keys incl. the coder vocab): "
           "%.2f ms CPU, %.2f ms wall; hparams + vocab load: %.1f ms CPU\n",
           (double)size / 1e9, nt, n_kv + 1, best, wbest, vbest);
    remove(path);
    gw_free(&w);
    if (have_vocab)
        eng_gguf_close(vg);
}

int main(void)
{
    struct dmn__quiet quiet;
    if (dmn__bench_quiet_begin(&quiet, "bench_tok", -1, 120, 0))
        return 3;
    size_t len;
    char *text = source_text(1 << 20, &len);
    if (len < 4096) {
        printf("tokenizer: not enough source text found (run from the repository root)\n");
    } else {
        bench_tokenizer("vocab/ggml-vocab-deepseek-coder.gguf", text, len);
        bench_tokenizer("vocab/ggml-vocab-deepseek-llm.gguf", text, len);
    }
    sk_free(text);
    bench_open();
    dmn__bench_quiet_end(&quiet);
    return 0;
}
