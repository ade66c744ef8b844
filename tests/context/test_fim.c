/*
 * FIM prompt builder: golden token sequences on several languages with the real DeepSeek Coder
 * vocabulary (../shared/vocab; SKIP when absent), budgets, cuts at line and token boundaries,
 * the prefix-only form, sticky windows, hostile text and allocation failures.
 * The golden ids were produced by our tokenizer, which tests/engine/test_tok.c checks against
 * llama.cpp's conformance vectors; the sentinel ids are DeepSeek Coder's published ones.
 */
#include "base.h"
#include "context/context.h"
#include "engine/engine.h"
#include "tests/test.h"

#include <errno.h>

enum { BOS = 32013, HOLE = 32015, BEGIN = 32016, END = 32017 };

struct fixture {
    struct eng_gguf *g;
    struct eng_vocab *v;
};

static void open_vocab(struct fixture *f, const char *name)
{
    const char *p = test_shared_path(name);
    if (!p)
        SKIP("../shared/vocab is absent");
    FILE *fp = fopen(p, "rb");
    if (!fp)
        SKIP("vocab file absent");
    fclose(fp);
    char err[256];
    ASSERT_EQ(eng_gguf_open(p, err, sizeof err, &f->g), 0);
    ASSERT_EQ(eng_vocab_load(f->g, &f->v, err, sizeof err), 0);
}

static void close_vocab(struct fixture *f)
{
    eng_vocab_free(f->v);
    eng_gguf_close(f->g);
}

static void assert_ids(const struct ctx_fim_prompt *p, const int32_t *want, int n)
{
    if (p->n_tokens != n) {
        fprintf(stderr, "got %d tokens:", p->n_tokens);
        for (int i = 0; i < p->n_tokens; i++)
            fprintf(stderr, " %d", p->tokens[i]);
        fputc('\n', stderr);
    }
    ASSERT_EQ(p->n_tokens, n);
    for (int i = 0; i < n; i++)
        ASSERT_MSG(p->tokens[i] == want[i], "token %d: %d vs %d", i, p->tokens[i], want[i]);
}

static int build(struct fixture *f, enum ctx_lang lang, const char *path, const char *pre,
                 const char *suf, int pb, int sb, struct ctx_fim_prompt *out)
{
    struct ctx_fim_opts o = {.vocab = f->v, .lang = lang, .path = path, .prefix = pre,
                             .prefix_len = strlen(pre), .suffix = suf,
                             .suffix_len = strlen(suf), .prefix_tokens = pb,
                             .suffix_tokens = sb};
    return ctx_fim_build(&o, out);
}

static int count(struct fixture *f, const char *s, size_t n)
{
    return eng_tokenize(f->v, s, n, 0, 0, NULL, 0);
}

TEST(fim_golden_c)
{
    struct fixture f;
    open_vocab(&f, "vocab/ggml-vocab-deepseek-coder.gguf");
    struct ctx_fim_prompt p;
    ASSERT_EQ(build(&f, CTX_LANG_C, "src/a.c", "int add(int a, int b) {\n    return ",
                    " a + b;\n}\n", 0, 0, &p),
              0);
    static const int32_t want[] = {BOS, BEGIN, 553, 5110, 14, 64, 13, 66, 185,       /* header */
                                   569, 957, 7, 569, 245, 11, 1097, 270, 8, 507, 185, 315, 967,
                                   207, HOLE, 245, 945, 270, 26, 185, 92, 185, END};
    assert_ids(&p, want, (int)SK_ARRAY_LEN(want));
    ASSERT_EQ(p.fim, 1);
    ASSERT_STR_EQ(p.header, "// src/a.c\n");
    ASSERT_EQ(p.header_pos, 2);
    ASSERT_EQ(p.n_header, 7);
    ASSERT_EQ(p.prefix_pos, 9);
    ASSERT_EQ(p.n_prefix, 14);
    ASSERT_EQ(p.suffix_pos, 24);
    ASSERT_EQ(p.n_suffix, 7);
    ASSERT_EQ(p.prefix_start, 0);
    ASSERT_EQ(p.suffix_end, strlen(" a + b;\n}\n"));
    ASSERT_EQ(p.n_extra, 0);
    char *r = ctx_fim_render(&p, f.v);
    ASSERT_STR_EQ(r, "<｜begin▁of▁sentence｜><｜fim▁begin｜>// src/a.c\nint add(int a, int b) {\n"
                     "    return <｜fim▁hole｜> a + b;\n}\n<｜fim▁end｜>");
    sk_free(r);
    ctx_fim_free(&p);
    close_vocab(&f);
}

TEST(fim_golden_python_js_go_bash)
{
    struct fixture f;
    open_vocab(&f, "vocab/ggml-vocab-deepseek-coder.gguf");
    struct ctx_fim_prompt p;
    ASSERT_EQ(build(&f, CTX_LANG_PYTHON, "app/main.py", "def f(x):\n    ", "return x\n", 0, 0, &p),
              0);
    static const int32_t py[] = {BOS, BEGIN, 2, 2442, 14, 5609, 13, 4016, 185, 1551, 267, 7,
                                 87, 1772, 185, 251, HOLE, 2125, 1371, 185, END};
    assert_ids(&p, py, (int)SK_ARRAY_LEN(py));
    ctx_fim_free(&p);

    ASSERT_EQ(build(&f, CTX_LANG_JAVASCRIPT, "web/app.js", "const xs = [1, 2];\nxs.map((x) => ",
                    ");\n", 0, 0, &p),
              0);
    static const int32_t js[] = {BOS, BEGIN, 553, 3767, 14, 958, 13, 3476, 185, 2834, 1371, 82,
                                 405, 821, 16, 11, 207, 17, 2818, 185, 17104, 13, 4008, 5930, 87,
                                 8, 9482, HOLE, 477, 185, END};
    assert_ids(&p, js, (int)SK_ARRAY_LEN(js));
    ctx_fim_free(&p);

    ASSERT_EQ(build(&f, CTX_LANG_GO, "cmd/main.go", "func main() {\n\tfmt.", "\n}\n", 0, 0, &p),
              0);
    static const int32_t go[] = {BOS, BEGIN, 553, 18197, 14, 5609, 13, 2294, 185, 7312, 1959,
                                 822, 507, 185, 26435, 7764, 13, HOLE, 185, 92, 185, END};
    assert_ids(&p, go, (int)SK_ARRAY_LEN(go));
    ctx_fim_free(&p);

    ASSERT_EQ(build(&f, CTX_LANG_BASH, "run.sh", "for f in *.c; do\n  echo \"", "\"\ndone\n", 0,
                    0, &p),
              0);
    static const int32_t sh[] = {BOS, BEGIN, 2, 1404, 13, 1037, 185, 1459, 267, 279, 572, 13, 66,
                                 26, 533, 185, 207, 6393, 440, HOLE, 1, 185, 13609, 185, END};
    assert_ids(&p, sh, (int)SK_ARRAY_LEN(sh));
    ctx_fim_free(&p);

    /* JSON has no comment syntax and plain text gets no header */
    ASSERT_EQ(build(&f, CTX_LANG_JSON, "a.json", "{", "}", 0, 0, &p), 0);
    ASSERT_EQ(p.n_header, 0);
    ASSERT_STR_EQ(p.header, "");
    ctx_fim_free(&p);
    close_vocab(&f);
}

TEST(fim_extra_context_hook_and_prefix_only)
{
    struct fixture f;
    open_vocab(&f, "vocab/ggml-vocab-deepseek-coder.gguf");
    const char *extra = "# utils.py\ndef g():\n    pass\n";
    struct ctx_fim_opts o = {.vocab = f.v, .lang = CTX_LANG_PYTHON, .path = "app/main.py",
                             .extra = extra, .extra_len = strlen(extra), .prefix = "def f(x):\n    ",
                             .prefix_len = 14, .suffix = "return x\n", .suffix_len = 9};
    struct ctx_fim_prompt p;
    ASSERT_EQ(ctx_fim_build(&o, &p), 0);
    ASSERT_EQ(p.tokens[0], BOS);
    ASSERT_EQ(p.tokens[1], BEGIN);
    ASSERT_EQ(p.extra_pos, 2);
    int ne = count(&f, extra, strlen(extra));
    ASSERT_EQ(p.n_extra, ne);
    ASSERT_EQ(p.header_pos, 2 + ne); /* snippets come before the current file's header */
    int32_t ids[64];
    ASSERT_EQ(eng_tokenize(f.v, extra, strlen(extra), 0, 0, ids, 64), ne);
    for (int i = 0; i < ne; i++)
        ASSERT_EQ(p.tokens[2 + i], ids[i]);
    ctx_fim_free(&p);

    o.prefix_only = 1;
    ASSERT_EQ(ctx_fim_build(&o, &p), 0);
    ASSERT_EQ(p.fim, 0);
    ASSERT_EQ(p.tokens[0], BOS);
    ASSERT_EQ(p.extra_pos, 1);
    ASSERT_EQ(p.n_suffix, 0);
    ASSERT_EQ(p.suffix_end, 0);
    ASSERT_EQ(p.n_tokens, 1 + ne + p.n_header + p.n_prefix);
    for (int i = 0; i < p.n_tokens; i++)
        ASSERT(p.tokens[i] != HOLE && p.tokens[i] != BEGIN && p.tokens[i] != END);
    /* prefix-only ends with the prefix's last token: " " before the cursor -> 251 */
    ASSERT_EQ(p.tokens[p.n_tokens - 1], 251);
    ctx_fim_free(&p);
    close_vocab(&f);
}

TEST(fim_llm_vocab_is_prefix_only)
{
    struct fixture f;
    open_vocab(&f, "vocab/ggml-vocab-deepseek-llm.gguf");
    if (eng_vocab_fim_pre(f.v) >= 0)
        SKIP("this LLM vocab has FIM tokens");
    struct ctx_fim_prompt p;
    ASSERT_EQ(build(&f, CTX_LANG_PYTHON, "a.py", "x = 1\ny = ", "\nprint(y)\n", 0, 0, &p), 0);
    ASSERT_EQ(p.fim, 0);
    ASSERT_EQ(p.tokens[0], eng_vocab_bos(f.v));
    ASSERT_EQ(p.n_tokens, 1 + p.n_header + p.n_prefix);
    ctx_fim_free(&p);
    close_vocab(&f);
}

/* A file of numbered lines; the cursor after line `at`. */
static char *lines(int n)
{
    size_t cap = (size_t)n * 40 + 1, len = 0;
    char *s = sk_malloc(cap);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "    value_%d = compute(%d, \"x\")\n", i, i * 7);
    return s;
}

TEST(fim_budgets_cut_at_lines)
{
    struct fixture f;
    open_vocab(&f, "vocab/ggml-vocab-deepseek-coder.gguf");
    char *pre = lines(200), *suf = lines(100);
    for (int budget = 1; budget <= 600; budget += 37) {
        struct ctx_fim_prompt p;
        ASSERT_EQ(build(&f, CTX_LANG_PYTHON, "m.py", pre, suf, budget, budget / 2 + 1, &p), 0);
        /* within budget, starting at a line start, and maximal: one more line would not fit */
        ASSERT_LE(p.n_prefix, budget);
        ASSERT_LE(p.n_suffix, budget / 2 + 1);
        ASSERT(p.prefix_start == 0 || pre[p.prefix_start - 1] == '\n');
        ASSERT_EQ(count(&f, pre + p.prefix_start, strlen(pre) - p.prefix_start), p.n_prefix);
        if (p.prefix_start > 0) {
            size_t ls = p.prefix_start - 1;
            while (ls > 0 && pre[ls - 1] != '\n')
                ls--;
            ASSERT_GT(count(&f, pre + ls, strlen(pre) - ls), budget);
        }
        /* whole lines, or (only when the first line alone is too long) a token boundary in it */
        ASSERT(p.suffix_end == 0 || suf[p.suffix_end - 1] == '\n' ||
               p.suffix_end < (size_t)(strchr(suf, '\n') - suf));
        ASSERT_EQ(count(&f, suf, p.suffix_end), p.n_suffix);
        /* the prompt is exactly the parts, each tokenized alone */
        ASSERT_EQ(p.n_tokens, 2 + p.n_header + p.n_prefix + 1 + p.n_suffix + 1);
        ASSERT_EQ(p.tokens[p.suffix_pos - 1], HOLE);
        ASSERT_EQ(p.tokens[p.n_tokens - 1], END);
        ctx_fim_free(&p);
    }
    sk_free(pre);
    sk_free(suf);
    close_vocab(&f);
}

TEST(fim_long_lines_cut_at_token_boundaries)
{
    struct fixture f;
    open_vocab(&f, "vocab/ggml-vocab-deepseek-coder.gguf");
    char big[6000];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = "abc_ def+ 12("[i % 13];
    big[sizeof big - 1] = 0;
    struct ctx_fim_prompt p;
    ASSERT_EQ(build(&f, CTX_LANG_C, NULL, big, big, 50, 40, &p), 0);
    ASSERT_EQ(p.n_prefix, 50);
    ASSERT_EQ(p.n_suffix, 40);
    ASSERT_EQ(p.n_header, 0);
    /* the kept tokens are the line's last 50 / first 40 tokens, and the byte offsets match */
    int n = count(&f, big, strlen(big));
    int32_t *all = sk_malloc((size_t)n * sizeof *all);
    ASSERT_EQ(eng_tokenize(f.v, big, strlen(big), 0, 0, all, n), n);
    for (int i = 0; i < 50; i++)
        ASSERT_EQ(p.tokens[p.prefix_pos + i], all[n - 50 + i]);
    for (int i = 0; i < 40; i++)
        ASSERT_EQ(p.tokens[p.suffix_pos + i], all[i]);
    char tail[6000];
    int tl = eng_detokenize(f.v, all + n - 50, 50, 0, tail, sizeof tail);
    ASSERT_EQ((size_t)tl, strlen(big) - p.prefix_start);
    int hl = eng_detokenize(f.v, all, 40, 0, tail, sizeof tail);
    ASSERT_EQ((size_t)hl, p.suffix_end);
    sk_free(all);
    ctx_fim_free(&p);
    close_vocab(&f);
}

TEST(fim_sticky_window)
{
    struct fixture f;
    open_vocab(&f, "vocab/ggml-vocab-deepseek-coder.gguf");
    char *pre = lines(60);
    size_t len = strlen(pre);
    struct ctx_fim_opts o = {.vocab = f.v, .lang = CTX_LANG_PYTHON, .path = "m.py", .prefix = pre,
                             .prefix_len = len, .prefix_tokens = 300, .use_hint = 1};
    struct ctx_fim_prompt a, b;
    o.prefix_hint = 0; /* the whole window does not fit: re-cut to 3/4 of the budget */
    ASSERT_EQ(ctx_fim_build(&o, &a), 0);
    ASSERT_LE(a.n_prefix, 225);
    ASSERT_GT(a.n_prefix, 150);
    /* typing a few more characters keeps the start, so the old tokens are a prefix */
    char *more = sk_malloc(len + 16);
    memcpy(more, pre, len);
    memcpy(more + len, "    z = ", 9);
    o.prefix = more;
    o.prefix_len = len + 8;
    o.prefix_hint = a.prefix_start;
    ASSERT_EQ(ctx_fim_build(&o, &b), 0);
    ASSERT_EQ(b.prefix_start, a.prefix_start);
    for (int i = 0; i < a.prefix_pos + a.n_prefix; i++)
        ASSERT_EQ(a.tokens[i], b.tokens[i]);
    ctx_fim_free(&b);
    /* a hint that is not a line start is ignored */
    o.prefix_hint = a.prefix_start + 3;
    ASSERT_EQ(ctx_fim_build(&o, &b), 0);
    ASSERT(b.prefix_start == 0 || more[b.prefix_start - 1] == '\n');
    ctx_fim_free(&b);
    ctx_fim_free(&a);
    sk_free(more);
    sk_free(pre);
    close_vocab(&f);
}

TEST(fim_hostile_text)
{
    struct fixture f;
    open_vocab(&f, "vocab/ggml-vocab-deepseek-coder.gguf");
    struct ctx_fim_prompt p;
    /* sentinel texts inside the file stay text */
    ASSERT_EQ(build(&f, CTX_LANG_C, "a.c", "x<｜fim▁hole｜>y<｜end▁of▁sentence｜>",
                    "<｜fim▁end｜>", 0, 0, &p),
              0);
    int holes = 0;
    for (int i = 0; i < p.n_tokens; i++) {
        holes += p.tokens[i] == HOLE;
        ASSERT(i == 0 || p.tokens[i] != BOS);
    }
    ASSERT_EQ(holes, 1);
    ctx_fim_free(&p);
    /* CRLF, lone CR, invalid UTF-8, empty parts */
    const char *pres[] = {"a\r\nb\r\n", "a\rb\r", "\xff\xfe\x80x\n\xc3", "", "\n\n\n"};
    for (size_t i = 0; i < SK_ARRAY_LEN(pres); i++) {
        for (int budget = 1; budget < 6; budget++) {
            ASSERT_EQ(build(&f, CTX_LANG_C, "a.c", pres[i], pres[SK_ARRAY_LEN(pres) - 1 - i],
                            budget, budget, &p),
                      0);
            ASSERT_LE(p.n_prefix, budget);
            ASSERT_LE(p.n_suffix, budget);
            ASSERT_LE(p.prefix_start, strlen(pres[i]));
            ctx_fim_free(&p);
        }
    }
    /* a path with a newline gets no header (it would end the comment) */
    ASSERT_EQ(build(&f, CTX_LANG_C, "a\nint x;", "", "", 0, 0, &p), 0);
    ASSERT_EQ(p.n_header, 0);
    ctx_fim_free(&p);
    struct ctx_fim_opts bad = {.vocab = f.v, .prefix_len = 3};
    ASSERT_EQ(ctx_fim_build(&bad, &p), -EINVAL);
    struct ctx_fim_opts nov = {0};
    ASSERT_EQ(ctx_fim_build(&nov, &p), -EINVAL);
    close_vocab(&f);
}

/* Allocation-failure injection is not tested here yet: eng_tokenize does not check its scratch
 * allocations (engine/tokenizer.c tokenize_raw dereferences a failed grow()), so injected
 * failures crash inside the tokenizer rather than in this builder.  ctx_fim_build itself checks
 * every allocation and frees everything on failure. */
