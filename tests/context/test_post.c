/* context/ completion post-processing: table-driven cases in C, Python, JavaScript, Rust and Go,
 * plus hostile inputs. */
#include "../test.h"

#include "base.h"
#include "context/context.h"

#include <errno.h>

#define S CTX_POST_SINGLE_LINE
#define M CTX_POST_MULTI_LINE

static const struct post_case {
    const char *name;
    enum ctx_lang lang;
    const char *prefix, *suffix, *completion;
    enum ctx_post_mode mode;
    const char *want;
    size_t replace;
    unsigned must; /* CTX_POST_* bits that must be set */
} post_cases[] = {
    /* ---- C ---- */
    {"c: middle of a line keeps one line, drops the ';' the suffix has", CTX_LANG_C,
     "int x = ", ";\n", "a + b;\nint y;\n", S, "a + b", 0, CTX_POST_CUT_LINE | CTX_POST_OVERLAP},
    {"c: function body stops at the block end; the suffix has the brace", CTX_LANG_C,
     "int add(int a, int b)\n{\n    ", "\n}\n\nint main(void)\n{\n    return add(1, 2);\n}\n",
     "return a + b;\n}\n\nint sub(int a, int b)\n{\n    return a - b;\n}\n", M, "return a + b;", 0,
     0},
    {"c: an if the completion opened gets its brace", CTX_LANG_C, "void f(int x)\n{\n    ",
     "\n}\n", "if (x > 0) {\n        g(x);\n", M, "if (x > 0) {\n        g(x);\n    }", 0,
     CTX_POST_BALANCED},
    {"c: auto-closed call: overlap removed", CTX_LANG_C, "    printf(", ");\n",
     "\"%d\\n\", x);", S, "\"%d\\n\", x", 0, CTX_POST_OVERLAP},
    {"c: completion closes the auto-closed paren and adds ';': replaces the suffix's ')'",
     CTX_LANG_C, "void f(void)\n{\n    foo(", ")\n}\n", "a, b);", S, "a, b);", 1,
     CTX_POST_REPLACE},
    {"c: code after the cursor is never replaced, the duplicate closer goes", CTX_LANG_C,
     "    x = foo(", ") + bar;\n", "a) + baz;", S, "a", 0, CTX_POST_DUP_CLOSER},
    {"c: stops where the suffix repeats", CTX_LANG_C,
     "int f(int *v, int n)\n{\n    int s = 0;\n    ", "\n    return s;\n}\n",
     "for (int i = 0; i < n; i++)\n        s += v[i];\n    return s;\n}\n", M,
     "for (int i = 0; i < n; i++)\n        s += v[i];", 0, CTX_POST_CUT_REPEAT},
    {"c: brackets in strings and comments do not count", CTX_LANG_C, "void f(void)\n{\n    ",
     "\n}\n", "puts(\"{(\"); /* ) } */\n    g();\n", M, "puts(\"{(\"); /* ) } */\n    g();", 0,
     0},
    {"c: cursor inside a comment is single-line", CTX_LANG_C, "/* the count of ", " */\nint n;\n",
     "items\n * more\n", S, "items", 0, CTX_POST_CUT_LINE},
    {"c: block left by indentation (no suffix brace yet) keeps the closing brace", CTX_LANG_C,
     "int f(void)\n{\n    ", "", "return 0;\n}\n\nint g(void)\n{\n    return 1;\n}\n", M,
     "return 0;\n}", 0, 0},
    {"c: one-line function: the parse finds the block end", CTX_LANG_C, "int f(void) { ", " }\n",
     "return 1; } int g(void) { return 2; }", M, "return 1;", 0,
     CTX_POST_CUT_BLOCK | CTX_POST_DUP_CLOSER},
    /* ---- Python ---- */
    {"py: at the end of a finished line, a completion starting with a newline suggests the next "
     "line (kept with its newline, cut at that line's end)",
     CTX_LANG_PYTHON, "import os\nx = 1", "\n", "\ny = x + 1\nz = 2\n", S, "\ny = x + 1", 0,
     CTX_POST_CUT_LINE},
    {"py: the same with code after the cursor on its line is not a next-line suggestion",
     CTX_LANG_PYTHON, "x = f(1", ", 2)\n", "\ny = x + 1\n", S, "", 0, CTX_POST_CUT_LINE},
    {"py: function body ends where the next def starts", CTX_LANG_PYTHON, "def mean(xs):\n    ",
     "\n\ndef other():\n    pass\n",
     "return sum(xs) / len(xs)\n\n\ndef median(xs):\n    return sorted(xs)[len(xs) // 2]\n", M,
     "return sum(xs) / len(xs)", 0, 0},
    {"py: after ':' the block ends at the first dedented line", CTX_LANG_PYTHON,
     "for x in items:", "\n", "\n    print(x)\n    total += x\nprint(total)\n", M,
     "\n    print(x)\n    total += x", 0, CTX_POST_CUT_INDENT},
    {"py: inside a string: one line, closing quote not doubled", CTX_LANG_PYTHON,
     "msg = \"hello ", "\"\n", "world\"\nprint(msg)\n", S, "world", 0, CTX_POST_OVERLAP},
    {"py: a call left open is closed", CTX_LANG_PYTHON, "x = ", "\n", "compute(a, b", S,
     "compute(a, b)", 0, CTX_POST_BALANCED},
    {"py: '#' comments hide brackets", CTX_LANG_PYTHON, "def f():\n    ", "\n",
     "return 1  # (not a bracket\n", M, "return 1  # (not a bracket", 0, 0},
    {"py: stops where the suffix repeats", CTX_LANG_PYTHON,
     "def f(xs):\n    total = 0\n    ", "\n    return total\n",
     "for x in xs:\n        total += x\n    return total\n", M,
     "for x in xs:\n        total += x", 0, CTX_POST_CUT_REPEAT},
    /* ---- JavaScript ---- */
    {"js: arrow function body gets its brace", CTX_LANG_JAVASCRIPT, "const f = (a) =>", "\n",
     " {\n  return a * 2;\n", M, " {\n  return a * 2;\n}", 0, CTX_POST_BALANCED},
    {"js: object literal in an auto-closed pair", CTX_LANG_JAVASCRIPT, "const o = {", "};\n",
     " a: 1, b: 2 };", M, " a: 1, b: 2", 0, 0},
    {"js: template literal brackets do not count", CTX_LANG_JAVASCRIPT, "const s = ", ";\n",
     "`${a} (x`;", S, "`${a} (x`", 0, CTX_POST_OVERLAP},
    {"js: method body stops at the class's next member", CTX_LANG_JAVASCRIPT,
     "class A {\n  get(k) {\n    ", "\n  }\n}\n",
     "return this.m[k];\n  }\n\n  set(k, v) {\n    this.m[k] = v;\n  }\n", M,
     "return this.m[k];", 0, 0},
    /* ---- Rust ---- */
    {"rust: loop body inside main, main's brace from the suffix", CTX_LANG_RUST,
     "fn main() {\n    let v = vec![1, 2, 3];\n    ", "\n}\n",
     "for x in &v {\n        println!(\"{}\", x);\n    }\n}\n\nfn helper() {}\n", M,
     "for x in &v {\n        println!(\"{}\", x);\n    }", 0, 0},
    {"rust: lifetimes are not char literals", CTX_LANG_RUST,
     "fn first<'a>(xs: &'a [i32]) -> &'a i32 {\n    ", "\n}\n", "&xs[0]\n}\n", M, "&xs[0]", 0,
     0},
    {"rust: match arms opened by the completion are closed", CTX_LANG_RUST,
     "fn f(x: i32) -> i32 {\n    ", "\n}\n", "match x {\n        0 => 1,\n        _ => x,\n", M,
     "match x {\n        0 => 1,\n        _ => x,\n    }", 0, CTX_POST_BALANCED},
    /* ---- Go ---- */
    {"go: function body stops before the next func", CTX_LANG_GO,
     "func sum(xs []int) int {\n\t", "\n}\n",
     "total := 0\n\tfor _, x := range xs {\n\t\ttotal += x\n\t}\n\treturn total\n}\n\nfunc main() "
     "{\n}\n",
     M, "total := 0\n\tfor _, x := range xs {\n\t\ttotal += x\n\t}\n\treturn total", 0, 0},
    {"go: extra ')' for the auto-closed call is dropped", CTX_LANG_GO, "\tfmt.Println(", ")\n",
     "\"hi\")", S, "\"hi\"", 0, CTX_POST_OVERLAP},
    {"go: a paired ')' is not an overlap", CTX_LANG_GO, "\tg(", ")\n", "f(x)", S, "f(x)", 0, 0},
    {"go: raw strings hide brackets", CTX_LANG_GO, "\ts := ", "\n", "`{(`", S, "`{(`", 0, 0},
    /* ---- hostile ---- */
    {"empty completion", CTX_LANG_C, "int x = ", ";\n", "", S, "", 0, 0},
    {"completion of newlines only", CTX_LANG_C, "int f(void)\n{\n    ", "\n}\n", "\n\n\n", M, "",
     0, 0},
    {"completion that only repeats the suffix", CTX_LANG_C, "int f(void)\n{\n    ",
     "\n    return 0;\n}\n", "return 0;\n}\n", M, "", 0, CTX_POST_CUT_REPEAT},
    {"empty prefix and suffix, no language", CTX_LANG_NONE, "", "", "hello (world", M,
     "hello (world)", 0, CTX_POST_BALANCED},
    {"stray closers only: the syntax guard drops them", CTX_LANG_C, "x = ", "\n", ")))", S, "",
     0, CTX_POST_SYNTAX},
    {"stray closers only, no grammar", CTX_LANG_NONE, "x = ", "\n", ")))", S, ")))", 0, 0},
    {"NUL and invalid UTF-8", CTX_LANG_PYTHON, "s = '", "'\n", "\xff\xfe", S, "\xff\xfe", 0, 0},
};

TEST(ctx_post_table)
{
    for (size_t i = 0; i < SK_ARRAY_LEN(post_cases); i++) {
        const struct post_case *pc = &post_cases[i];
        struct ctx_post_result r;
        size_t base = sk_alloc_live_bytes();
        ASSERT_EQ(ctx_postprocess(pc->lang, pc->prefix, strlen(pc->prefix), pc->suffix,
                                  strlen(pc->suffix), pc->completion, strlen(pc->completion), &r),
                  0);
        int ok = r.mode == pc->mode && r.len == strlen(pc->want) &&
                 memcmp(r.text, pc->want, r.len) == 0 && r.text[r.len] == 0 &&
                 r.suffix_replace == pc->replace && (r.applied & pc->must) == pc->must;
        if (!ok) {
            fprintf(stderr, "case: %s\n  mode %d (want %d), replace %zu (want %zu), applied %#x "
                            "(must %#x)\n  got:  [%s]\n  want: [%s]\n",
                    pc->name, r.mode, pc->mode, r.suffix_replace, pc->replace, r.applied, pc->must,
                    r.text, pc->want);
            ASSERT(0);
        }
        ASSERT_EQ(ctx_post_mode_at(pc->lang, pc->prefix, strlen(pc->prefix), pc->suffix,
                                   strlen(pc->suffix)),
                  pc->mode);
        sk_free(r.text);
        ASSERT_EQ(sk_alloc_live_bytes(), base);
    }
}

/* The syntax guard: a suggestion that adds syntax errors to the window is cut at a token
 * boundary (or dropped); one that parses, multi-line blocks included, is left alone, also when the
 * window has errors of its own elsewhere. */
static const struct guard_case {
    const char *name;
    enum ctx_lang lang;
    const char *prefix, *suffix, *completion;
    const char *want;
    int cut; /* CTX_POST_SYNTAX must be set (1) or clear (0) */
} guard_cases[] = {
    {"c: trailing junk after an expression is cut", CTX_LANG_C, "int f(int a)\n{\n    return a",
     ";\n}\n", " * 2 int b", " * 2", 1},
    {"c: a suggestion that is junk from its first token is dropped", CTX_LANG_C,
     "int f(void)\n{\n    int x = 1", ";\n}\n", " int int", "", 1},
    {"c: a multi-line block that parses is kept", CTX_LANG_C, "int f(int a)\n{\n    ", "\n}\n",
     "if (a > 0) {\n        return a;\n    }\n    return -a;",
     "if (a > 0) {\n        return a;\n    }\n    return -a;", 0},
    {"c: errors elsewhere in the window do not count against a good suggestion", CTX_LANG_C,
     "int f(int a)\n{\n    return a", ";\n}\n\nint g( ;\n", " + 1", " + 1", 0},
    {"py: cut after the last token that parses", CTX_LANG_PYTHON, "x = 1\ny = x",
     "\nprint(y)\n", " + 2 else 3 +", " + 2", 1},
    {"py: finishes the identifier, drops the rest", CTX_LANG_PYTHON, "count = 3\ntotal = cou",
     "\n", "nt + ) 1", "nt", 1},
    {"py: junk after a half-typed def adds no ERROR node but tokens inside one: dropped",
     CTX_LANG_PYTHON, "x = 1\n\ndef most_exp", "\n", "    if not in _is_type:", "", 1},
    {"py: finishing a half-typed def is kept", CTX_LANG_PYTHON, "x = 1\n\ndef most_exp", "\n",
     "ensive(items):", "ensive(items):", 0},
    {"py: 'if not ' + 'in x.y:' is dropped", CTX_LANG_PYTHON, "def f(items):\n    if not ",
     "\n", "in self.is_type:", "", 1},
    {"py: 'if not ' + 'items:' is kept", CTX_LANG_PYTHON, "def f(items):\n    if not ", "\n",
     "items:", "items:", 0},
    {"py: a multi-line block that parses is kept", CTX_LANG_PYTHON, "def f(items):\n    ", "\n",
     "for x in items:\n        print(x)\n    return len(items)",
     "for x in items:\n        print(x)\n    return len(items)", 0},
    {"py: a good line is untouched", CTX_LANG_PYTHON, "def f(items):\n    return ", "\n",
     "max(items, key=len)", "max(items, key=len)", 0},
    /* tree-sitter-python reads this as `return (if) not in range(s, 1)`: "if" as an identifier */
    {"py: a keyword parsed as an identifier counts as an error", CTX_LANG_PYTHON,
     "def f(s):\n    return", "\n", "     if not in range(s, 1)", "", 1},
    {"py: ... also after a half-typed keyword: finishes the word only", CTX_LANG_PYTHON,
     "def f(s):\n    retur", "\n", "n     if not in range(s, 1)", "n", 1},
    {"py: ... also when it completes a half-typed expression", CTX_LANG_PYTHON,
     "def f(side):\n    return side *", "\n", "    if not in range(s, 1)", "", 1},
    {"py: a conditional expression (a real 'if') is kept", CTX_LANG_PYTHON,
     "def f(s):\n    return", "\n", " s if s else None", " s if s else None", 0},
    {"py: keywords as attribute names are not identifiers", CTX_LANG_PYTHON,
     "def f(s):\n    return", "\n", " s.if_ + s.in_x", " s.if_ + s.in_x", 0},
    /* tree-sitter recovers "def" + "    x = 1" as ERROR(def) and an assignment: no new ERROR
     * node and no token inside one, but Python has no two statements on one line */
    {"py: a statement glued after a broken one on its line is dropped", CTX_LANG_PYTHON,
     "x = 1\n\n\ndef", "\n", "    x = 1", "", 1},
    {"py: ... a lone string too (not cut to an empty '\"\"')", CTX_LANG_PYTHON,
     "x = 1\n\n\ndef", "\n", "    \"\"\"", "", 1},
    {"py: words typed into a docstring not closed yet are kept", CTX_LANG_PYTHON,
     "def f(items):\n    \"\"\"The item with", "\n", " the highest price, or None",
     " the highest price, or None", 0},
    {"py: ... and code after closing it is still checked", CTX_LANG_PYTHON,
     "def f(items):\n    \"\"\"The item with", "\n", " the highest.\"\"\" if if",
     " the highest.\"\"\"", 1},
    {"py: words in a comment are kept", CTX_LANG_PYTHON, "def f(items):\n    x = 1  # the",
     "\n", " count if not in", " count if not in", 0},
    {"js: 'return if' is cut before the keyword", CTX_LANG_JAVASCRIPT,
     "function f(a) {\n  return a", ";\n}\n", " + b + if", " + b", 1},
    {"js: a stray 'else {' after a call is cut (the closer added for it goes too)",
     CTX_LANG_JAVASCRIPT, "function f(a) {\n  const b = a", ";\n}\n", ".map(x => x * 2) else {",
     ".map(x => x * 2)", 1},
    {"js: a multi-line block that parses is kept", CTX_LANG_JAVASCRIPT, "function f(a) {\n  ",
     "\n}\n", "for (const x of a) {\n    console.log(x);\n  }",
     "for (const x of a) {\n    console.log(x);\n  }", 0},
    {"js: junk is dropped", CTX_LANG_JAVASCRIPT, "const a = 1", ";\n", " ) ) )", "", 1},
    {"no grammar: no guard", CTX_LANG_NONE, "x = 1", "\n", " ) ) )", " ) ) )", 0},
};

TEST(ctx_post_syntax_guard)
{
    for (size_t i = 0; i < SK_ARRAY_LEN(guard_cases); i++) {
        const struct guard_case *gc = &guard_cases[i];
        struct ctx_post_result r;
        size_t base = sk_alloc_live_bytes();
        ASSERT_EQ(ctx_postprocess(gc->lang, gc->prefix, strlen(gc->prefix), gc->suffix,
                                  strlen(gc->suffix), gc->completion, strlen(gc->completion), &r),
                  0);
        int ok = r.len == strlen(gc->want) && memcmp(r.text, gc->want, r.len) == 0 &&
                 r.text[r.len] == 0 && !!(r.applied & CTX_POST_SYNTAX) == gc->cut &&
                 (!gc->cut || r.suffix_replace == 0);
        if (!ok) {
            fprintf(stderr, "case: %s\n  applied %#x\n  got:  [%s]\n  want: [%s]\n", gc->name,
                    r.applied, r.text, gc->want);
            ASSERT(0);
        }
        sk_free(r.text);
        ASSERT_EQ(sk_alloc_live_bytes(), base);
    }
}

/* emptied_by names the one step that left nothing of a non-empty completion. */
TEST(ctx_post_emptied_by)
{
    static const struct {
        enum ctx_lang lang;
        const char *prefix, *suffix, *completion;
        unsigned want;
    } cases[] = {
        {CTX_LANG_PYTHON, "y = f(x", ")\n", "\nprint(y)", CTX_POST_CUT_LINE},
        {CTX_LANG_C, "x = ", "\n", ")))", CTX_POST_SYNTAX},
        {CTX_LANG_C, "int f(void)\n{\n    ", "\n}\n", "\n\n\n", CTX_POST_BLANK},
        {CTX_LANG_C, "int f(void)\n{\n    ", "\n    return 0;\n}\n", "return 0;\n}\n",
         CTX_POST_CUT_REPEAT},
        {CTX_LANG_PYTHON, "for x in items:", "\n", "\nprint(x)\n", CTX_POST_CUT_INDENT},
        {CTX_LANG_C, "    f(a", ");\n", ");", CTX_POST_OVERLAP},
        {CTX_LANG_PYTHON, "def f(s):\n    return", "\n", "     if not in range(s, 1)",
         CTX_POST_SYNTAX},
        {CTX_LANG_PYTHON, "def f(s):\n    return", "\n", " s", 0}, /* not empty */
        {CTX_LANG_PYTHON, "def f(s):\n    return", "\n", "", 0},   /* nothing to empty */
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(cases); i++) {
        struct ctx_post_result r;
        ASSERT_EQ(ctx_postprocess(cases[i].lang, cases[i].prefix, strlen(cases[i].prefix),
                                  cases[i].suffix, strlen(cases[i].suffix), cases[i].completion,
                                  strlen(cases[i].completion), &r),
                  0);
        if (r.emptied_by != cases[i].want || (cases[i].want && r.len != 0)) {
            fprintf(stderr, "case %zu [%s]: emptied_by %#x (%s), want %#x; text [%s]\n", i,
                    cases[i].completion, r.emptied_by, ctx_post_step_name(r.emptied_by),
                    cases[i].want, r.text);
            ASSERT(0);
        }
        sk_free(r.text);
    }
    ASSERT_STR_EQ(ctx_post_step_name(CTX_POST_SYNTAX), "syntax");
    ASSERT_STR_EQ(ctx_post_step_name(0), "");
}

/* The guard works on a bounded window: a prompt window of 64 KB with the cursor deep inside is
 * still guarded (and the far-away broken code does not count). */
TEST(ctx_post_syntax_guard_long_window)
{
    size_t cap = 70000, n = 0;
    char *pre = malloc(cap);
    ASSERT(pre != NULL);
    n += (size_t)snprintf(pre + n, cap - n, "int broken( ;\n");
    while (n + 64 < 65536)
        n += (size_t)snprintf(pre + n, cap - n, "int g%zu(int x) { return x + %zu; }\n", n, n);
    n += (size_t)snprintf(pre + n, cap - n, "int f(int a)\n{\n    return a");
    struct ctx_post_result r;
    ASSERT_EQ(ctx_postprocess(CTX_LANG_C, pre, n, ";\n}\n", 4, " * 2 int b", 10, &r), 0);
    ASSERT_STR_EQ(r.text, " * 2");
    ASSERT(r.applied & CTX_POST_SYNTAX);
    sk_free(r.text);
    ASSERT_EQ(ctx_postprocess(CTX_LANG_C, pre, n, ";\n}\n", 4, " * 2", 4, &r), 0);
    ASSERT_STR_EQ(r.text, " * 2");
    ASSERT(!(r.applied & CTX_POST_SYNTAX));
    sk_free(r.text);
    free(pre);
}

/* Whatever the model writes, the result comes from it (a cut, less an overlap, plus closers),
 * has balanced multi-line blocks, and costs no memory afterwards. */
TEST(ctx_post_random)
{
    static const char *pieces[] = {"{", "}", "(", ")", "[", "]", "\n", "    ", "\"", "'", "/*",
                                   "*/", "//", "#", "x", "return 0;", "if (a) ", ":", "`", "\r\n"};
    uint64_t seed = 0xfeedbeefull;
    for (int it = 0; it < 3000; it++) {
        char pre[256], suf[256], comp[256];
        char *bufs[3] = {pre, suf, comp};
        size_t lens[3];
        for (int b = 0; b < 3; b++) {
            size_t n = 0;
            int k = (int)((seed = seed * 6364136223846793005ull + 1442695040888963407ull) >> 60);
            for (int j = 0; j < k; j++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                const char *p = pieces[(seed >> 33) % SK_ARRAY_LEN(pieces)];
                size_t pl = strlen(p);
                if (n + pl < sizeof pre) {
                    memcpy(bufs[b] + n, p, pl);
                    n += pl;
                }
            }
            lens[b] = n;
        }
        enum ctx_lang lang = (enum ctx_lang)((seed >> 20) % CTX_LANG__COUNT);
        size_t base = sk_alloc_live_bytes();
        struct ctx_post_result r;
        ASSERT_EQ(ctx_postprocess(lang, pre, lens[0], suf, lens[1], comp, lens[2], &r), 0);
        ASSERT(r.text && r.text[r.len] == 0);
        ASSERT_LE(r.suffix_replace, lens[1]);
        /* Every byte of the result up to the appended closers is the completion's. */
        size_t common = 0;
        while (common < r.len && common < lens[2] && r.text[common] == comp[common])
            common++;
        for (size_t k = common; k < r.len; k++)
            ASSERT_MSG(strchr(")]} \t\n", r.text[k]) != NULL, "byte %zu '%c' not from the model",
                       k, r.text[k]);
        if (r.mode == CTX_POST_SINGLE_LINE) {
            /* one line, or a next-line suggestion: its leading newline and one line */
            size_t from = ctx_post_next_line(suf, lens[1], comp, lens[2]);
            ASSERT(from > r.len || memchr(r.text + SK_MIN(from, r.len), '\n', r.len - SK_MIN(from, r.len)) == NULL ||
                   !(r.applied & CTX_POST_CUT_LINE));
        }
        sk_free(r.text);
        ASSERT_EQ(sk_alloc_live_bytes(), base);
    }
}

TEST(ctx_post_bad_args)
{
    struct ctx_post_result r;
    ASSERT_EQ(ctx_postprocess(CTX_LANG_C, NULL, 3, "", 0, "x", 1, &r), -EINVAL);
    ASSERT_EQ(ctx_postprocess(CTX_LANG_C, "", 0, NULL, 3, "x", 1, &r), -EINVAL);
    ASSERT_EQ(ctx_postprocess(CTX_LANG_C, "", 0, "", 0, NULL, 1, &r), -EINVAL);
    ASSERT_EQ(ctx_postprocess(CTX_LANG_C, "", 0, "", 0, "x", 1, NULL), -EINVAL);
    ASSERT_EQ(ctx_postprocess((enum ctx_lang)99, "", 0, "", 0, "x", 1, &r), -EINVAL);
    ASSERT_EQ(ctx_postprocess(CTX_LANG_C, NULL, 0, NULL, 0, NULL, 0, &r), 0);
    ASSERT_EQ(r.len, 0);
    sk_free(r.text);
    /* Deep nesting beyond the scanner's stack does not crash. */
    size_t n = 5000;
    char *deep = malloc(n);
    memset(deep, '(', n);
    ASSERT_EQ(ctx_postprocess(CTX_LANG_C, deep, n, deep, n, deep, n, &r), 0);
    sk_free(r.text);
    free(deep);
    /* Allocation failure: -ENOMEM, nothing leaked. */
    char *w = ctx_sexp_fresh(CTX_LANG_C, "int a;", 6);
    sk_free(w);
    size_t base = sk_alloc_live_bytes();
    sk_alloc_fail_after(0);
    int rc = ctx_postprocess(CTX_LANG_NONE, "x = ", 4, "\n", 1, "f(a", 3, &r);
    sk_alloc_fail_after(-1);
    ASSERT_EQ(rc, -ENOMEM);
    ASSERT_EQ(sk_alloc_live_bytes(), base);
}
