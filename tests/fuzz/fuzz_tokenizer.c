/*
 * libFuzzer target for the tokenizer, on the real DeepSeek vocabs (../shared/vocab, loaded
 * once; without them the target does nothing).  Byte 0 picks the vocab and the flags, the rest
 * is the text.  Checks, beyond "no crash": the count call and the filling call agree, every id
 * is in range, and for valid UTF-8 without special parsing detokenize(tokenize(x)) == x, also
 * through the streaming detokenizer.  A violation aborts (= a kept crash input).
 */
#include "base.h"
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct eng_vocab *vocabs[2];
static int loaded;

static void load(void)
{
    static const char *const files[2] = {"../shared/vocab/ggml-vocab-deepseek-coder.gguf",
                                         "../shared/vocab/ggml-vocab-deepseek-llm.gguf"};
    sk_log_set_level(SK_LOG_OFF);
    for (int i = 0; i < 2; i++) {
        struct eng_gguf *g;
        char err[256];
        if (eng_gguf_open(files[i], err, sizeof err, &g))
            continue;
        eng_vocab_load(g, &vocabs[i], err, sizeof err);
        eng_gguf_close(g);
    }
    loaded = 1;
}

/* Strict UTF-8 validity (no overlongs, surrogates or > U+10FFFF). */
static int valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!k || i + k > n)
            return 0;
        uint32_t cp = k == 1 ? c : (uint32_t)(c & (0x7F >> k));
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loaded)
        load();
    if (size < 1)
        return 0;
    struct eng_vocab *v = vocabs[data[0] & 1];
    if (!v)
        return 0;
    int add_bos = (data[0] >> 1) & 1, special = (data[0] >> 2) & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    /* Usually enough: an invalid byte (U+FFFD, 3 bytes) gives at most 3 tokens. */
    int cap = (int)(3 * len + 4);
    int32_t *ids = malloc(sizeof *ids * (size_t)cap);
    int n = eng_tokenize(v, text, len, add_bos, special, ids, cap);
    if (n > cap) {
        ids = realloc(ids, sizeof *ids * (size_t)n);
        if (eng_tokenize(v, text, len, add_bos, special, ids, n) != n)
            abort();
    }
    if (n < 0)
        abort();
    /* The counting call (no buffer) agrees; checked on part of the inputs to keep speed. */
    if ((data[0] & 0xF0) == 0 && eng_tokenize(v, text, len, add_bos, special, NULL, 0) != n)
        abort();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= eng_vocab_n_tokens(v))
            abort();
    if (!special && valid_utf8(data + 1, len)) {
        size_t bcap = len + 64;
        char *back = malloc(bcap), *stream = malloc(bcap + 8);
        int bl = eng_detokenize(v, ids, n, 0, back, bcap);
        if (bl != (int)len || memcmp(back, text, len))
            abort();
        struct eng_detok d;
        eng_detok_init(&d);
        size_t got = 0;
        for (int i = 0; i < n; i++) {
            int k = eng_detok_push(&d, v, ids[i], 0, stream + got, bcap + 8 - got);
            if (k < 0 || (size_t)k > bcap + 8 - got)
                abort();
            got += (size_t)k;
        }
        got += (size_t)eng_detok_flush(&d, stream + got, bcap + 8 - got);
        if (got != len || memcmp(stream, text, len))
            abort();
        free(back);
        free(stream);
    }
    free(ids);
    return 0;
}
