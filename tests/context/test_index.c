/*
 * Workspace index: .gitignore matching table, definition extraction per language on fixtures
 * written here, the walk (ignore rules, vendor folders, size and count caps), updates on change
 * and delete, and the allocator's live bytes back at their baseline after teardown.
 */
#include "base.h"
#include "context/context.h"
#include "context/xfile_int.h"
#include "tests/test.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

TEST(gitignore_table)
{
    struct ctx__gi *g = ctx__gi_new();
    ASSERT(g);
    const char *root = "# comment\n*.log\n!keep.log\nbuild/\n/top.c\ndocs/*.md\n**/gen/**\n"
                       "a/**/z.c\n\\#lit\n[abc]x.py\nsp\\ \n";
    ASSERT_EQ(ctx__gi_add(g, "", root, strlen(root)), 0);
    const char *sub = "*.tmp\n/only_here.c\n!../x\n";
    ASSERT_EQ(ctx__gi_add(g, "pkg", sub, strlen(sub)), 0);
    static const struct { const char *path; int dir, want; } cases[] = {
        {"x.log", 0, 1}, {"d/e/x.log", 0, 1}, {"keep.log", 0, 0}, {"d/keep.log", 0, 0},
        {"build", 1, 1}, {"src/build", 1, 1}, {"build", 0, 0}, {"top.c", 0, 1},
        {"src/top.c", 0, 0}, {"docs/a.md", 0, 1}, {"docs/x/a.md", 0, 0}, {"x/docs/a.md", 0, 0},
        {"p/gen/q.c", 0, 1}, {"gen/q.c", 0, 1}, {"a/z.c", 0, 1}, {"a/b/c/z.c", 0, 1},
        {"b/a/z.c", 0, 0}, {"#lit", 0, 1}, {"ax.py", 0, 1}, {"dx.py", 0, 0}, {"sp ", 0, 1},
        {"pkg/a.tmp", 0, 1}, {"a.tmp", 0, 0}, {"pkg/only_here.c", 0, 1},
        {"only_here.c", 0, 0}, {"pkg/sub/only_here.c", 0, 0}, {"main.c", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ASSERT_MSG(ctx__gi_ignored(g, cases[i].path, cases[i].dir) == cases[i].want, "%s",
                   cases[i].path);
    /* hostile patterns: unclosed class, deep stars, NUL bytes */
    const char hostile[] = "[abc\n*****************************************a\nx\0y\n";
    ASSERT_EQ(ctx__gi_add(g, "", hostile, sizeof hostile - 1), 0);
    ASSERT_EQ(ctx__gi_ignored(g, "[abc", 0), 1);
    ASSERT_EQ(ctx__gi_ignored(g, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 0), 0);
    ASSERT_EQ(ctx__gi_ignored(g, "x", 0), 1);
    ctx__gi_free(g);
    ASSERT_EQ(ctx__glob("a*b?c", "aXXbYc"), 1);
    ASSERT_EQ(ctx__glob("a*c", "a/c"), 0);
    ASSERT_EQ(ctx__glob("[!a-c]z", "dz"), 1);
    ASSERT_EQ(ctx__glob("[!a-c]z", "bz"), 0);
}

/* "name:kind:top" for every definition, joined by spaces. */
static void defs_str(enum ctx_lang lang, const char *src, char *buf, size_t cap)
{
    struct ctx__def *d;
    uint32_t n;
    char *s;
    size_t sl;
    ASSERT_EQ(ctx__extract_defs(lang, src, strlen(src), &d, &n, &s, &sl), 0);
    size_t o = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s:%d:%d", i ? " " : "", s + d[i].name_off,
                              d[i].kind, d[i].top);
    sk_free(d);
    sk_free(s);
}

TEST(extract_per_language)
{
    static const struct { enum ctx_lang lang; const char *src, *want; } cases[] = {
        {CTX_LANG_C,
         "#include \"a.h\"\n#define MAXN 10\nstruct point { int x, y; };\nstruct fwd;\n"
         "typedef struct { int a; } pair_t;\nstatic const int LIMIT = 3;\nint area(int w, int h);\n"
         "#ifndef X\nint *mk(void);\n#endif\nint area(int w, int h)\n{\n    int local = w;\n    return local * h;\n}\n",
         "MAXN:7:1 point:4:1 pair_t:4:1 LIMIT:6:1 area:3:1 mk:3:1 area:1:1"},
        {CTX_LANG_CPP,
         "namespace geo {\nclass Shape {\npublic:\n  virtual double area() const;\n  int n() { return 1; }\n  int field;\n};\n"
         "double Shape::area() const { return 0; }\n}\ntemplate <class T> T ident(T x) { return x; }\nusing U = int;\n",
         "Shape:5:1 area:2:0 n:2:0 area:1:1 ident:1:1 U:4:1"},
        {CTX_LANG_PYTHON,
         "import os\nRATE = 0.5\nclass Model:\n    size = 3\n    def fit(self, x):\n        y = x\n        return y\n"
         "@cache\ndef load(path):\n    def inner():\n        pass\n    return inner\nif True:\n    hidden = 1\n",
         "RATE:6:1 Model:5:1 fit:2:0 load:1:1"},
        {CTX_LANG_JAVASCRIPT,
         "import x from './x.js';\nexport function add(a, b) { const t = a; return t + b; }\n"
         "const MAX = 5, inc = (v) => v + 1;\nclass Counter {\n  tick() { let q = 1; }\n}\nfoo(() => { const z = 1; });\n",
         "add:1:1 MAX:6:1 inc:6:1 Counter:5:1 tick:2:0"},
        {CTX_LANG_TYPESCRIPT,
         "export interface Opts { n: number }\nexport type Id = string;\nenum Color { Red }\n"
         "export class Store {\n  get(k: string): number { return 1; }\n}\ndeclare function ext(a: number): void;\n",
         "Opts:4:1 Id:4:1 Color:4:1 Store:5:1 get:2:0 ext:3:1"},
        {CTX_LANG_TSX,
         "export const App = () => <div/>;\nfunction Row(p: {n: number}) { return <b>{p.n}</b>; }\n",
         "App:6:1 Row:1:1"},
        {CTX_LANG_GO,
         "package m\nconst Pi = 3.14\ntype Point struct { X int }\nvar (\n  a = 1\n)\n"
         "func (p Point) Norm() int { v := 1; return v }\nfunc New() Point { return Point{} }\n",
         "Pi:6:1 Point:4:1 a:6:1 Norm:2:1 New:1:1"},
        {CTX_LANG_RUST,
         "const N: usize = 4;\npub struct Buf { n: usize }\nimpl Buf {\n    pub fn len(&self) -> usize { let k = 1; k }\n}\n"
         "trait Read { fn read(&mut self) -> u8; }\nmod inner { pub fn deep() {} }\nfn main() {}\n",
         "N:6:1 Buf:4:1 len:2:0 Read:5:1 read:3:0 deep:1:1 main:1:1"},
        {CTX_LANG_JAVA,
         "package a.b;\nimport java.util.List;\npublic class Box {\n  static final int CAP = 4;\n"
         "  public Box() {}\n  int size() { int s = 0; return s; }\n  interface Inner { void go(); }\n}\n",
         "Box:5:1 CAP:6:0 Box:2:0 size:2:0 Inner:5:0 go:2:0"},
    };
    char got[2048];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        defs_str(cases[i].lang, cases[i].src, got, sizeof got);
        ASSERT_MSG(!strcmp(got, cases[i].want), "%s:\n  got:  %s\n  want: %s",
                   ctx_lang_name(cases[i].lang), got, cases[i].want);
    }
}

TEST(extract_text_and_caps)
{
    /* a long function is cut at the line cap with a comment line */
    char src[8192];
    size_t o = (size_t)snprintf(src, sizeof src, "int long_fn(void)\n{\n");
    for (int i = 0; i < 60; i++)
        o += (size_t)snprintf(src + o, sizeof src - o, "    x%d();\n", i);
    snprintf(src + o, sizeof src - o, "}\n");
    struct ctx__def *d;
    uint32_t n;
    char *s;
    size_t sl;
    ASSERT_EQ(ctx__extract_defs(CTX_LANG_C, src, strlen(src), &d, &n, &s, &sl), 0);
    ASSERT_EQ(n, 1);
    const char *t = s + d[0].text_off;
    int lines = 0;
    for (uint32_t i = 0; i < d[0].text_len; i++)
        lines += t[i] == '\n';
    ASSERT_EQ(lines, CTX__DEF_MAX_LINES + 1);
    ASSERT(strstr(t, "// ...\n"));
    ASSERT(!strncmp(t, "int long_fn(void)\n", 18));
    sk_free(d);
    sk_free(s);
    /* hostile text: garbage and NUL bytes parse without a crash */
    const char junk[] = "}}}{{(\0def class ((( struct {";
    for (int l = CTX_LANG_C; l <= CTX_LANG_JAVA; l++) {
        ASSERT_EQ(ctx__extract_defs((enum ctx_lang)l, junk, sizeof junk - 1, &d, &n, &s, &sl), 0);
        sk_free(d);
        sk_free(s);
    }
    ASSERT_EQ(ctx__extract_defs(CTX_LANG_JSON, "{}", 2, &d, &n, &s, &sl), -EINVAL);
}

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

static int lookup_count(ctx_index *ix, const char *name, char *path_out)
{
    struct ctx__hit h[4];
    int n = ctx__index_lookup(ix, name, strlen(name), h, 4);
    ASSERT(n >= 0);
    if (path_out)
        strcpy(path_out, n ? h[0].path : "");
    for (int i = 0; i < n; i++)
        ctx__hit_clear(&h[i]);
    return n;
}

TEST(index_walk_rules_caps_updates)
{
    size_t base = sk_alloc_live_bytes();
    const char *root = test_tmpdir();
    put_file(root, ".gitignore", "secret/\n*.gen.c\n");
    put_file(root, "src/a.c", "int alpha(void) { return 1; }\n");
    put_file(root, "src/b.gen.c", "int generated(void) { return 1; }\n");
    put_file(root, "secret/s.c", "int hidden(void) { return 1; }\n");
    put_file(root, "node_modules/m.js", "function vendored() {}\n");
    put_file(root, "lib/.gitignore", "local.py\n");
    put_file(root, "lib/local.py", "def nope(): pass\n");
    put_file(root, "lib/util.py", "def helper(x):\n    return x\n");
    put_file(root, "notes.txt", "alpha\n");
    char big[3000];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = 0;
    memcpy(big, "int bigone;", 11);
    put_file(root, "big.c", big);
    ctx_index *ix;
    struct ctx_index_opts o = {.root = root, .max_file_bytes = 2048};
    ASSERT_EQ(ctx_index_new(&o, &ix), 0);
    ASSERT_EQ(ctx_index_wait(ix, 20000), 0);
    struct ctx_index_stats st;
    ctx_index_stats(ix, &st);
    ASSERT_EQ(st.files, 2); /* src/a.c, lib/util.py */
    ASSERT_EQ(st.skipped_big, 1);
    ASSERT_EQ(st.ignored, 2); /* b.gen.c, lib/local.py; secret/ is never entered */
    ASSERT_EQ(st.walking, 0);
    char p[256];
    ASSERT_EQ(lookup_count(ix, "alpha", p), 1);
    ASSERT_STR_EQ(p, "src/a.c");
    ASSERT_EQ(lookup_count(ix, "hidden", NULL), 0);
    ASSERT_EQ(lookup_count(ix, "vendored", NULL), 0);
    ASSERT_EQ(lookup_count(ix, "generated", NULL), 0);
    ASSERT_EQ(lookup_count(ix, "nope", NULL), 0);
    /* didChange of an open document (absolute path and URI forms) */
    char abs[4096];
    snprintf(abs, sizeof abs, "file://%s/src/a.c", root);
    const char *t2 = "int alpha2(void) { return 2; }\nint beta(int);\n";
    ASSERT_EQ(ctx_index_update_file(ix, abs, t2, strlen(t2)), 0);
    ASSERT_EQ(ctx_index_wait(ix, 20000), 0);
    ASSERT_EQ(lookup_count(ix, "alpha", NULL), 0);
    ASSERT_EQ(lookup_count(ix, "alpha2", NULL), 1);
    ASSERT_EQ(lookup_count(ix, "beta", NULL), 1);
    /* didSave: back to the disk text */
    snprintf(abs, sizeof abs, "%s/src/a.c", root);
    ASSERT_EQ(ctx_index_update_file(ix, abs, NULL, 0), 0);
    ASSERT_EQ(ctx_index_wait(ix, 20000), 0);
    ASSERT_EQ(lookup_count(ix, "alpha", NULL), 1);
    ASSERT_EQ(lookup_count(ix, "beta", NULL), 0);
    /* a watched file created, then an ignored one, then deleted */
    put_file(root, "src/new.c", "int fresh(void) { return 0; }\n");
    snprintf(abs, sizeof abs, "%s/src/new.c", root);
    ASSERT_EQ(ctx_index_update_file(ix, abs, NULL, 0), 0);
    put_file(root, "src/x.gen.c", "int gen2(void) { return 0; }\n");
    snprintf(abs, sizeof abs, "%s/src/x.gen.c", root);
    ASSERT_EQ(ctx_index_update_file(ix, abs, NULL, 0), 0);
    ASSERT_EQ(ctx_index_wait(ix, 20000), 0);
    ASSERT_EQ(lookup_count(ix, "fresh", NULL), 1);
    ASSERT_EQ(lookup_count(ix, "gen2", NULL), 0);
    snprintf(abs, sizeof abs, "%s/src/new.c", root);
    ASSERT_EQ(ctx_index_remove(ix, abs), 0);
    ASSERT_EQ(ctx_index_wait(ix, 20000), 0);
    ASSERT_EQ(lookup_count(ix, "fresh", NULL), 0);
    ctx_index_stats(ix, &st);
    ASSERT_EQ(st.files, 2);
    /* an oversized open document leaves the index */
    ASSERT_EQ(ctx_index_update_file(ix, "lib/util.py", big, strlen(big)), -EFBIG);
    ASSERT_EQ(ctx_index_wait(ix, 20000), 0);
    ASSERT_EQ(lookup_count(ix, "helper", NULL), 0);
    ASSERT_EQ(ctx_index_update_file(ix, NULL, NULL, 0), -EINVAL);
    ctx_index_delete(ix);
    /* the file-count cap keeps the first files by name */
    o.max_files = 1;
    ASSERT_EQ(ctx_index_new(&o, &ix), 0);
    ASSERT_EQ(ctx_index_wait(ix, 20000), 0);
    ctx_index_stats(ix, &st);
    ASSERT_EQ(st.files, 1);
    ASSERT_EQ(st.skipped_count, 2); /* src/a.c and src/new.c (still on disk) */
    ASSERT_EQ(lookup_count(ix, "helper", NULL), 1); /* lib/ sorts before src/ */
    ctx_index_delete(ix);
    struct ctx_index_opts bad = {.root = "/nonexistent/seekd"};
    ASSERT_EQ(ctx_index_new(&bad, &ix), -EINVAL);
    ctx_flush();
    ASSERT_EQ(sk_alloc_live_bytes(), base);
}
