/*
 * Cross-file snippet selection: goldens on Python, C and TypeScript workspaces written here,
 * the same bytes from keystroke to keystroke, the token budget (exact, with the real DeepSeek
 * Coder vocabulary from ../shared/vocab; SKIP when absent), current-file exclusion, imports,
 * the ring, and live bytes back at their baseline.
 */
#include "base.h"
#include "context/context.h"
#include "context/xfile_int.h"
#include "engine/engine.h"
#include "tests/test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
    struct eng_gguf *g;
    struct eng_vocab *v;
    ctx_index *ix;
    ctx_ring *ring;
    const char *root;
};

static void put_file(const char *root, const char *rel, const char *text)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    for (char *q = p + strlen(root) + 1; (q = strchr(q, '/')); q++) {
        *q = 0;
        mkdir(p, 0700);
        *q = '/';
    }
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
}

static void fx_open(struct fx *f, const char *const *files)
{
    const char *p = test_shared_path("vocab/ggml-vocab-deepseek-coder.gguf");
    if (!p || access(p, R_OK))
        SKIP("../shared/vocab is absent");
    char err[256];
    ASSERT_EQ(eng_gguf_open(p, err, sizeof err, &f->g), 0);
    ASSERT_EQ(eng_vocab_load(f->g, &f->v, err, sizeof err), 0);
    f->root = test_tmpdir();
    for (int i = 0; files[i]; i += 2)
        put_file(f->root, files[i], files[i + 1]);
    struct ctx_index_opts o = {.root = f->root};
    ASSERT_EQ(ctx_index_new(&o, &f->ix), 0);
    ASSERT_EQ(ctx_index_wait(f->ix, 20000), 0);
    ASSERT_EQ(ctx_ring_new(&f->ring), 0);
}

static void fx_close(struct fx *f)
{
    ctx_ring_delete(f->ring);
    ctx_index_delete(f->ix);
    eng_vocab_free(f->v);
    eng_gguf_close(f->g);
}

/* Builds for a document whose text is doc with the cursor at the '|' marker. */
static void build(struct fx *f, enum ctx_lang lang, const char *path, const char *doc, int budget,
                  struct ctx_xfile_result *r)
{
    const char *bar = strchr(doc, '|');
    ASSERT(bar);
    struct ctx_xfile_opts o = {.vocab = f->v, .index = f->ix, .ring = f->ring, .lang = lang,
                               .path = path, .prefix = doc, .prefix_len = (size_t)(bar - doc),
                               .suffix = bar + 1, .suffix_len = strlen(bar + 1),
                               .budget_tokens = budget};
    ASSERT_EQ(ctx_xfile_build(&o, r), 0);
    ASSERT(r->text);
    int lim = budget > 0 ? budget : budget < 0 ? 0 : 512;
    ASSERT_LE(r->n_tokens, lim);
    ASSERT_EQ(eng_tokenize(f->v, r->text, r->len, 0, 0, NULL, 0), r->n_tokens);
}

static const char *const py_files[] = {
    "utils.py",
    "import json\n\nDEFAULT_PATH = 'data.json'\n\ndef load_data(path):\n    with open(path) as f:\n"
    "        return json.load(f)\n\ndef evaluate_predictions(pred, gold):\n"
    "    return sum(p == g for p, g in zip(pred, gold)) / len(gold)\n",
    "model.py",
    "class Model:\n    def __init__(self, n):\n        self.n = n\n\n    def predict(self, rows):\n"
    "        return [0] * len(rows)\n",
    "other/model.py",
    "class Model:\n    pass\n",
    "main.py",
    "from utils import load_data\nfrom model import Model\n\ndef main():\n    pass\n",
    NULL,
};

static const char *py_doc =
    "from utils import load_data, evaluate_predictions\nfrom model import Model\n\n"
    "def main():\n    rows = load_data('x.json')\n    m = Model(3)\n    pred = m.predict(rows)\n"
    "    print(evaluate_predictions(pred, |))\n\nmain()\n";

TEST(xfile_python_golden)
{
    size_t base = sk_alloc_live_bytes();
    struct fx f = {0};
    fx_open(&f, py_files);
    struct ctx_xfile_result r;
    char cur[4096];
    snprintf(cur, sizeof cur, "file://%s/main.py", f.root);
    build(&f, CTX_LANG_PYTHON, cur, py_doc, 0, &r);
    /* definitions of the names near the cursor, one header per file, files by path; the
     * imported model.py wins over other/model.py; predict() is inside the class snippet; the
     * outline of utils.py adds only what the definitions do not show */
    ASSERT_STR_EQ(r.text,
                  "# model.py\n"
                  "class Model:\n    def __init__(self, n):\n        self.n = n\n\n"
                  "    def predict(self, rows):\n        return [0] * len(rows)\n"
                  "# utils.py\n"
                  "def load_data(path):\n    with open(path) as f:\n        return json.load(f)\n"
                  "\n"
                  "def evaluate_predictions(pred, gold):\n"
                  "    return sum(p == g for p, g in zip(pred, gold)) / len(gold)\n"
                  "\n"
                  "DEFAULT_PATH = 'data.json'\n");
    ASSERT_EQ(r.n_files, 2);
    ctx_xfile_free(&r);
    fx_close(&f);
    ctx_flush();
    ASSERT_EQ(sk_alloc_live_bytes(), base);
}

/* Typing a word at the cursor: the word being typed is left out, so the text stays the same
 * bytes until a finished identifier changes the set. */
TEST(xfile_stable_across_keystrokes)
{
    struct fx f = {0};
    fx_open(&f, py_files);
    const char *steps[] = {
        "from utils import load_data, evaluate_predictions\nfrom model import Model\n\n"
        "def main():\n    rows = load_data('x.json')\n    m = Model(3)\n    p|\n",
        "from utils import load_data, evaluate_predictions\nfrom model import Model\n\n"
        "def main():\n    rows = load_data('x.json')\n    m = Model(3)\n    pr|\n",
        "from utils import load_data, evaluate_predictions\nfrom model import Model\n\n"
        "def main():\n    rows = load_data('x.json')\n    m = Model(3)\n    pred|\n",
        "from utils import load_data, evaluate_predictions\nfrom model import Model\n\n"
        "def main():\n    rows = load_data('x.json')\n    m = Model(3)\n    pred = m.|\n",
    };
    struct ctx_xfile_result first, r;
    build(&f, CTX_LANG_PYTHON, "main.py", steps[0], 0, &first);
    ASSERT(first.len > 0);
    for (int i = 1; i < 4; i++) {
        build(&f, CTX_LANG_PYTHON, "main.py", steps[i], 0, &r);
        ASSERT_MSG(r.len == first.len && !memcmp(r.text, first.text, r.len), "step %d:\n%s\nvs\n%s",
                   i, r.text, first.text);
        ctx_xfile_free(&r);
    }
    /* and the same call twice gives the same bytes */
    build(&f, CTX_LANG_PYTHON, "main.py", steps[0], 0, &r);
    ASSERT_STR_EQ(r.text, first.text);
    ctx_xfile_free(&r);
    ctx_xfile_free(&first);
    fx_close(&f);
}

/* Tight budgets keep the nearest names' definitions and never exceed the budget; the text is
 * still in path order. */
TEST(xfile_budget)
{
    struct fx f = {0};
    fx_open(&f, py_files);
    struct ctx_xfile_result r;
    for (int b = 8; b <= 256; b += 8) {
        build(&f, CTX_LANG_PYTHON, "main.py", py_doc, b, &r);
        ASSERT_LE(r.n_tokens, b);
        if (r.len) {
            ASSERT(r.text[0] == '#');
            const char *m = strstr(r.text, "# model.py"), *u = strstr(r.text, "# utils.py");
            if (m && u)
                ASSERT(m < u);
        }
        if (b == 48) /* the nearest name at the cursor: evaluate_predictions */
            ASSERT(strstr(r.text, "def evaluate_predictions(pred, gold):"));
        ctx_xfile_free(&r);
    }
    build(&f, CTX_LANG_PYTHON, "main.py", py_doc, -1, &r);
    ASSERT_STR_EQ(r.text, "");
    ctx_xfile_free(&r);
    fx_close(&f);
}

/* The current file's definitions shown in the window are left out; ones far away are kept. */
TEST(xfile_current_file_excluded)
{
    static const char *const files[] = {
        "app.py", "def far_away(x):\n    return x * 2\n\ndef near(y):\n    return y\n", NULL,
    };
    struct fx f = {0};
    fx_open(&f, files);
    struct ctx_xfile_result r;
    build(&f, CTX_LANG_PYTHON, "app.py",
          "def near(y):\n    return y\n\ndef use():\n    a = near(1)\n    b = far_away(a)\n    |\n", 0, &r);
    ASSERT_STR_EQ(r.text, "# app.py\ndef far_away(x):\n    return x * 2\n");
    ctx_xfile_free(&r);
    fx_close(&f);
}

/* C: #include "x.h" resolved next to the file adds its outline; identifiers pull bodies. */
TEST(xfile_c_include_and_ts_import)
{
    static const char *const files[] = {
        "src/vec.h",
        "#ifndef VEC_H\n#define VEC_H\nstruct vec { float x, y; };\n"
        "float vec_dot(struct vec a, struct vec b);\nfloat vec_len(struct vec a);\n#endif\n",
        "src/vec.c",
        "#include \"vec.h\"\nfloat vec_dot(struct vec a, struct vec b)\n{\n    return a.x * b.x + a.y * b.y;\n}\n",
        "web/lib/math.ts",
        "export function clamp(v: number, lo: number, hi: number): number {\n  return Math.min(hi, Math.max(lo, v));\n}\n"
        "export const TAU = 6.28;\n",
        NULL,
    };
    struct fx f = {0};
    fx_open(&f, files);
    struct ctx_xfile_result r;
    build(&f, CTX_LANG_C, "src/main.c",
          "#include <stdio.h>\n#include \"vec.h\"\n\nint main(void)\n{\n    struct vec a = {1, 2};\n"
          "    printf(\"%f\\n\", vec_dot(a, a));\n    |\n}\n", 0, &r);
    /* the included header's prototype wins over the body in vec.c (one definition per name
     * unless the choice is ambiguous); the outline adds vec_len, not the include guard */
    ASSERT_STR_EQ(r.text,
                  "// src/vec.h\nstruct vec { float x, y; };\n\nfloat vec_dot(struct vec a, struct vec b);\n"
                  "\nfloat vec_len(struct vec a);\n");
    ctx_xfile_free(&r);
    build(&f, CTX_LANG_TYPESCRIPT, "web/app.ts",
          "import { clamp } from './lib/math';\n\nconst w = clamp(3, 0, 1);\n|\n", 0, &r);
    ASSERT_STR_EQ(r.text,
                  "// web/lib/math.ts\nexport function clamp(v: number, lo: number, hi: number): number {\n"
                  "  return Math.min(hi, Math.max(lo, v));\n}\n\nexport const TAU = 6.28;\n");
    ctx_xfile_free(&r);
    fx_close(&f);
}

TEST(xfile_ring)
{
    static const char *const files[] = {"a.py", "X = 1\n", NULL};
    struct fx f = {0};
    fx_open(&f, files);
    const char *e1 = "def helper_one():\n    return 1\n";
    ASSERT_EQ(ctx_ring_note_edit(f.ring, "lib/h.py", CTX_LANG_PYTHON, e1, strlen(e1)), 0);
    const char *e2 = "def helper_one():\n    return 2\n"; /* same place, refreshed in place */
    ASSERT_EQ(ctx_ring_note_edit(f.ring, "lib/h.py", CTX_LANG_PYTHON, e2, strlen(e2)), 0);
    ASSERT_EQ(ctx_ring_count(f.ring), 1);
    const char *e3 = "int cur_edit;\n";
    ASSERT_EQ(ctx_ring_note_edit(f.ring, "main.py", CTX_LANG_PYTHON, e3, strlen(e3)), 0);
    char uri[4200];
    snprintf(uri, sizeof uri, "file://%s/main.py", f.root); /* the current file, as a URI */
    ASSERT_EQ(ctx_ring_note_edit(f.ring, uri, CTX_LANG_PYTHON, "zz = 1\n", 7), 0);
    const char *e4 = "int other(void);\n";
    ASSERT_EQ(ctx_ring_note_edit(f.ring, "c/o.c", CTX_LANG_C, e4, strlen(e4)), 0);
    ASSERT_EQ(ctx_ring_count(f.ring), 4);
    struct ctx_xfile_result r;
    build(&f, CTX_LANG_PYTHON, "main.py", "print(1)\n|\n", 0, &r);
    /* the current file's chunk is left out; path order; C comment for the C file */
    ASSERT_STR_EQ(r.text, "// c/o.c\nint other(void);\n# lib/h.py\ndef helper_one():\n    return 2\n");
    ctx_xfile_free(&r);
    /* the ring keeps CTX_RING_SLOTS chunks; long text keeps at most CTX_RING_MAX_LINES lines */
    char big[16384];
    size_t o = 0;
    for (int i = 0; i < 200; i++)
        o += (size_t)snprintf(big + o, sizeof big - o, "line_%d = %d\n", i, i);
    for (int i = 0; i < 40; i++) {
        char p[32];
        snprintf(p, sizeof p, "f%d.py", i);
        ASSERT_EQ(ctx_ring_note_edit(f.ring, p, CTX_LANG_PYTHON, big, o), 0);
    }
    ASSERT_EQ(ctx_ring_count(f.ring), CTX_RING_SLOTS);
    struct ctx__chunk ch[CTX_RING_SLOTS];
    int n = ctx__ring_snapshot(f.ring, NULL, ch, CTX_RING_SLOTS);
    ASSERT_EQ(n, CTX_RING_SLOTS);
    for (int i = 0; i < n; i++) {
        int lines = 0;
        for (size_t k = 0; k < ch[i].len; k++)
            lines += ch[i].text[k] == '\n';
        ASSERT_LE(lines, CTX_RING_MAX_LINES);
        ASSERT_LE(ch[i].len, CTX_RING_MAX_BYTES + 1);
        ctx__chunk_clear(&ch[i]);
    }
    ASSERT_EQ(ctx_ring_note_edit(f.ring, NULL, CTX_LANG_C, "x", 1), -EINVAL);
    fx_close(&f);
}

/* Hostile input: NUL bytes, unbalanced text, no index, no grammar, empty windows. */
TEST(xfile_hostile)
{
    static const char *const files[] = {"a.c", "int f(void) { return 0; }\n", NULL};
    struct fx f = {0};
    fx_open(&f, files);
    const char junk[] = "#include \"\n#include \"../../../../../../x\"\nfrom ....... import\n"
                        "import '\nf(\0\0((((";
    for (int lang = CTX_LANG_NONE; lang < CTX_LANG__COUNT; lang++) {
        struct ctx_xfile_opts o = {.vocab = f.v, .index = f.ix, .ring = f.ring,
                                   .lang = (enum ctx_lang)lang, .path = "a.c", .prefix = junk,
                                   .prefix_len = sizeof junk - 1};
        struct ctx_xfile_result r;
        ASSERT_EQ(ctx_xfile_build(&o, &r), 0);
        ASSERT_LE(r.n_tokens, 512);
        ctx_xfile_free(&r);
        o.index = NULL;
        o.ring = NULL;
        ASSERT_EQ(ctx_xfile_build(&o, &r), 0);
        ctx_xfile_free(&r);
    }
    struct ctx_xfile_opts bad = {.vocab = NULL};
    struct ctx_xfile_result r;
    ASSERT_EQ(ctx_xfile_build(&bad, &r), -EINVAL);
    bad.vocab = f.v;
    bad.prefix_len = 3;
    ASSERT_EQ(ctx_xfile_build(&bad, &r), -EINVAL);
    fx_close(&f);
}

/* Lookups on one thread while the worker swaps records in: every result is one of the two
 * versions of the file, whole (run under ASan/TSan to see the locking). */
struct race {
    struct fx *f;
    _Atomic int stop;
    _Atomic int runs; /* read by the writer: it does not stop the reader before one lookup */
    int bad;
};

static void *race_reader(void *arg)
{
    struct race *r = arg;
    while (!r->stop) {
        struct ctx_xfile_result x;
        struct ctx_xfile_opts o = {.vocab = r->f->v, .index = r->f->ix, .lang = CTX_LANG_PYTHON,
                                   .path = "main.py", .prefix = "v = shared_fn(1)\n",
                                   .prefix_len = 17};
        if (ctx_xfile_build(&o, &x)) {
            r->bad++;
            break;
        }
        if (x.len && strcmp(x.text, "# lib.py\ndef shared_fn(a):\n    return a + 1\n") &&
            strcmp(x.text, "# lib.py\ndef shared_fn(a):\n    return a + 2\n"))
            r->bad++;
        r->runs++;
        ctx_xfile_free(&x);
    }
    return NULL;
}

TEST(xfile_lookups_during_updates)
{
    static const char *const files[] = {"lib.py", "def shared_fn(a):\n    return a + 1\n", NULL};
    struct fx f = {0};
    fx_open(&f, files);
    struct race r = {.f = &f};
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, race_reader, &r), 0);
    for (int i = 0; i < 300; i++) {
        const char *t = i % 2 ? "def shared_fn(a):\n    return a + 1\n"
                              : "def shared_fn(a):\n    return a + 2\n";
        ASSERT_EQ(ctx_index_update_file(f.ix, "lib.py", t, strlen(t)), 0);
        if (i % 50 == 0)
            ASSERT_EQ(ctx_index_wait(f.ix, 20000), 0);
    }
    ASSERT_EQ(ctx_index_wait(f.ix, 20000), 0);
    /* on a loaded machine the reader may not have run yet: give it up to 20 s for one lookup */
    for (int k = 0; k < 20000 && r.runs == 0; k++)
        usleep(1000);
    r.stop = 1;
    pthread_join(th, NULL);
    ASSERT_EQ(r.bad, 0);
    ASSERT_GT(r.runs, 0);
    fx_close(&f);
}

/* A name defined in many files, none imported or next to the current one, is skipped; the
 * same name with one definition nearby is kept. */
TEST(xfile_ambiguous_names)
{
    static const char *const files[] = {
        "a/x.py", "def run():\n    return 1\n", "b/x.py", "def run():\n    return 2\n",
        "c/x.py", "def run():\n    return 3\n", "d/x.py", "def run():\n    return 4\n",
        "e/x.py", "def run():\n    return 5\n", "f/only.py", "def unique_fn():\n    return 6\n",
        NULL,
    };
    struct fx f = {0};
    fx_open(&f, files);
    struct ctx_xfile_result r;
    build(&f, CTX_LANG_PYTHON, "main.py", "run()\nunique_fn()\n|\n", 0, &r);
    ASSERT_STR_EQ(r.text, "# f/only.py\ndef unique_fn():\n    return 6\n");
    ctx_xfile_free(&r);
    build(&f, CTX_LANG_PYTHON, "c/main.py", "run()\n|\n", 0, &r);
    ASSERT_STR_EQ(r.text, "# c/x.py\ndef run():\n    return 3\n");
    ctx_xfile_free(&r);
    fx_close(&f);
}
