/*
 * libFuzzer target for the GGUF loader: the input is a GGUF file (written to a memfd so the
 * real mmap path runs).  Everything that opens is then read through every accessor, the llama
 * hyperparameters and the tokenizer (which, when it loads, tokenizes and detokenizes a fixed
 * text), so metadata that passes validation is exercised as well.
 */
#include "base.h"
#include "engine/engine.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void exercise_vocab(const struct eng_gguf *g)
{
    struct eng_vocab *v;
    char err[256];
    if (eng_vocab_load(g, &v, err, sizeof err))
        return;
    static const char text[] = "int main() { return 0x1F; } // \xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\x80";
    int32_t ids[256];
    int n = eng_tokenize(v, text, sizeof text - 1, 1, 1, ids, 256);
    char out[4096];
    if (n > 0 && n <= 256) {
        eng_detokenize(v, ids, n, 1, out, sizeof out);
        struct eng_detok d;
        eng_detok_init(&d);
        for (int i = 0; i < n; i++)
            eng_detok_push(&d, v, ids[i], 0, out, sizeof out);
        eng_detok_flush(&d, out, sizeof out);
    }
    for (int32_t i = 0; i < eng_vocab_n_tokens(v) && i < 512; i++) {
        size_t len;
        eng_vocab_text(v, i, &len);
        eng_token_piece_ref(v, i, i & 1, &len);
    }
    eng_vocab_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        sk_log_set_level(SK_LOG_OFF);
        quiet = 1;
    }
    int fd = memfd_create("fuzz.gguf", 0);
    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64], err[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct eng_gguf *g;
    if (eng_gguf_open(path, err, sizeof err, &g) == 0) {
        for (int i = 0; i < eng_gguf_n_kv(g); i++) {
            const char *k = eng_gguf_key(g, i);
            int64_t iv;
            uint64_t uv;
            float f;
            int b;
            const char *s;
            size_t len;
            eng_gguf_get_int(g, k, &iv);
            eng_gguf_get_uint(g, k, &uv);
            eng_gguf_get_f32(g, k, &f);
            eng_gguf_get_bool(g, k, &b);
            if (!eng_gguf_get_str(g, k, &s, &len) && len)
                (void)s[len - 1];
            struct eng_gguf_arr a;
            if (!eng_gguf_get_arr(g, k, &a)) {
                for (uint64_t j = 0; j < a.n && j < 64; j++) {
                    double d;
                    eng_gguf_arr_int(&a, j, &iv);
                    eng_gguf_arr_f(&a, j, &d);
                    if (!eng_gguf_arr_str(&a, j, &s, &len) && len)
                        (void)s[len - 1];
                }
                if (a.n) {
                    const char *s2;
                    eng_gguf_arr_str(&a, a.n - 1, &s2, &len);
                }
            }
        }
        volatile uint8_t sink = 0;
        for (int i = 0; i < eng_gguf_n_tensors(g); i++) {
            struct eng_tensor t;
            eng_gguf_tensor_at(g, i, &t);
            if (t.nbytes) /* first and last byte of every tensor must be mapped */
                sink ^= ((const uint8_t *)t.data)[0] ^ ((const uint8_t *)t.data)[t.nbytes - 1];
            struct eng_tensor t2;
            eng_gguf_tensor(g, t.name, &t2);
        }
        (void)sink;
        struct eng_hparams hp;
        eng_hparams_load(g, &hp, err, sizeof err);
        exercise_vocab(g);
        eng_gguf_close(g);
    }
    close(fd);
    return 0;
}
