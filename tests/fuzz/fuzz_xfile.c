/*
 * libFuzzer target for the cross-file context's parsers: .gitignore rules and glob matching,
 * definition extraction per language, and snippet selection (import scanning, identifier
 * lookups, budgets) against a small in-memory index, with the real DeepSeek Coder vocab
 * (../shared/vocab; without it the selection part does nothing).  Byte 0 picks the part, byte 1
 * the language (% 9) and budget (/ 9).  Checks beyond "no crash": definitions lie in order inside the text
 * and within the line cap, and the selection stays within its budget.  A violation aborts.
 */
#include "base.h"
#include "context/context.h"
#include "context/xfile_int.h"
#include "engine/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct eng_vocab *vocab;
static ctx_index *ix;
static int loaded;

static void load(void)
{
    sk_log_set_level(SK_LOG_OFF);
    struct eng_gguf *g;
    char err[256];
    if (!eng_gguf_open("../shared/vocab/ggml-vocab-deepseek-coder.gguf", err, sizeof err, &g)) {
        eng_vocab_load(g, &vocab, err, sizeof err);
        eng_gguf_close(g);
    }
    struct ctx_index_opts o = {0};
    if (ctx_index_new(&o, &ix) == 0) {
        static const char *const files[][2] = {
            {"lib/util.py", "def load(p):\n    return p\nclass Box:\n    def get(self):\n        return 1\n"},
            {"src/a.h", "struct s { int x; };\nint f(struct s *p);\n#define N 3\n"},
            {"src/a.c", "#include \"a.h\"\nint f(struct s *p) { return p->x; }\n"},
            {"web/m.ts", "export function g(a: number) { return a; }\nexport const K = 1;\n"},
            {"src/lib.rs", "pub mod x;\npub fn h() -> u8 { 0 }\n"},
            {"a/b/C.java", "package a.b;\npublic class C { int m() { return 0; } }\n"},
        };
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
            ctx_index_update_file(ix, files[i][0], files[i][1], strlen(files[i][1]));
        ctx_index_wait(ix, 0);
    }
    loaded = 1;
}

static void fuzz_gitignore(const char *s, size_t n)
{
    /* rules, then "\n\n", then one path per line ('/' at the end = a folder) */
    const char *sep = memmem(s, n, "\n\n", 2);
    size_t rl = sep ? (size_t)(sep - s) : n;
    struct ctx__gi *g = ctx__gi_new();
    if (!g)
        return;
    ctx__gi_add(g, "", s, rl);
    ctx__gi_add(g, "sub", s, rl);
    for (size_t i = sep ? rl + 2 : n; i < n;) {
        const char *e = memchr(s + i, '\n', n - i);
        size_t l = e ? (size_t)(e - (s + i)) : n - i;
        char path[512];
        if (l > 0 && l < sizeof path && !memchr(s + i, 0, l)) {
            memcpy(path, s + i, l);
            path[l] = 0;
            int dir = path[l - 1] == '/';
            if (dir)
                path[l - 1] = 0;
            int a = ctx__gi_ignored(g, path, dir), b = ctx__gi_ignored(g, path, dir);
            if (a != b || (a != 0 && a != 1))
                abort();
            (void)ctx__glob(path, path);
        }
        i += l + 1;
    }
    ctx__gi_free(g);
}

static void fuzz_extract(enum ctx_lang lang, const char *s, size_t n)
{
    struct ctx__def *d;
    uint32_t nd;
    char *str;
    size_t sl;
    if (ctx__extract_defs(lang, s, n, &d, &nd, &str, &sl))
        return;
    uint32_t prev = 0;
    for (uint32_t i = 0; i < nd; i++) {
        if (d[i].start > n || d[i].start < prev || d[i].name_off + d[i].name_len > sl ||
            d[i].text_off + d[i].text_len > sl || !d[i].text_len || !d[i].name_len)
            abort();
        int lines = 0;
        for (uint32_t k = 0; k < d[i].text_len; k++)
            lines += str[d[i].text_off + k] == '\n';
        if (lines > CTX__DEF_MAX_LINES + 1)
            abort();
        prev = d[i].start;
    }
    sk_free(d);
    sk_free(str);
}

static void fuzz_select(enum ctx_lang lang, int budget, const char *s, size_t n)
{
    if (!vocab)
        return;
    const char *bar = memchr(s, '|', n);
    size_t pl = bar ? (size_t)(bar - s) : n;
    static const char *const paths[] = {"src/main.c", "src/main.cc", "main.py", "web/app.js",
                                        "web/app.ts", "web/app.tsx", "main.go", "src/main.rs",
                                        "a/b/D.java"};
    struct ctx_xfile_opts o = {.vocab = vocab, .index = ix, .lang = lang,
                               .path = paths[lang - CTX_LANG_C], .prefix = s, .prefix_len = pl,
                               .suffix = bar ? bar + 1 : NULL, .suffix_len = bar ? n - pl - 1 : 0,
                               .budget_tokens = budget};
    struct ctx_xfile_result r;
    if (ctx_xfile_build(&o, &r))
        return;
    if (r.n_tokens > budget || !r.text || strlen(r.text) != r.len)
        abort();
    ctx_xfile_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loaded)
        load();
    if (size < 2)
        return 0;
    const char *s = (const char *)data + 2;
    size_t n = size - 2;
    enum ctx_lang lang = (enum ctx_lang)(CTX_LANG_C + data[1] % 9);
    switch (data[0] % 3) {
    case 0: fuzz_gitignore(s, n); break;
    case 1: fuzz_extract(lang, s, n); break;
    default: fuzz_select(lang, 32 + (data[1] / 9) * 16, s, n); break;
    }
    return 0;
}
