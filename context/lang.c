/*
 * Languages: LSP languageIds and file extensions mapped to the grammars compiled into
 * build/grammars/libgrammars.a, and the hook that routes tree-sitter's allocations through
 * base/'s allocator so the live-byte counters see trees and parsers too.
 */
#include "ctx_int.h"

#include "base.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const TSLanguage *tree_sitter_c(void);
const TSLanguage *tree_sitter_cpp(void);
const TSLanguage *tree_sitter_python(void);
const TSLanguage *tree_sitter_javascript(void);
const TSLanguage *tree_sitter_typescript(void);
const TSLanguage *tree_sitter_tsx(void);
const TSLanguage *tree_sitter_go(void);
const TSLanguage *tree_sitter_rust(void);
const TSLanguage *tree_sitter_java(void);
const TSLanguage *tree_sitter_bash(void);
const TSLanguage *tree_sitter_json(void);

static const struct {
    const char *name;
    const TSLanguage *(*grammar)(void);
} langs[CTX_LANG__COUNT] = {
    [CTX_LANG_NONE] = {"plaintext", NULL},
    [CTX_LANG_C] = {"c", tree_sitter_c},
    [CTX_LANG_CPP] = {"cpp", tree_sitter_cpp},
    [CTX_LANG_PYTHON] = {"python", tree_sitter_python},
    [CTX_LANG_JAVASCRIPT] = {"javascript", tree_sitter_javascript},
    [CTX_LANG_TYPESCRIPT] = {"typescript", tree_sitter_typescript},
    [CTX_LANG_TSX] = {"typescriptreact", tree_sitter_tsx},
    [CTX_LANG_GO] = {"go", tree_sitter_go},
    [CTX_LANG_RUST] = {"rust", tree_sitter_rust},
    [CTX_LANG_JAVA] = {"java", tree_sitter_java},
    [CTX_LANG_BASH] = {"shellscript", tree_sitter_bash},
    [CTX_LANG_JSON] = {"json", tree_sitter_json},
};

/* LSP languageIds (VS Code's identifiers plus the names Neovim's filetypes give). */
static const struct {
    const char *id;
    enum ctx_lang lang;
} ids[] = {
    {"c", CTX_LANG_C},
    {"cpp", CTX_LANG_CPP},
    {"cuda-cpp", CTX_LANG_CPP},
    {"python", CTX_LANG_PYTHON},
    {"javascript", CTX_LANG_JAVASCRIPT},
    {"javascriptreact", CTX_LANG_JAVASCRIPT}, /* the JavaScript grammar parses JSX */
    {"typescript", CTX_LANG_TYPESCRIPT},
    {"typescriptreact", CTX_LANG_TSX},
    {"go", CTX_LANG_GO},
    {"rust", CTX_LANG_RUST},
    {"java", CTX_LANG_JAVA},
    {"shellscript", CTX_LANG_BASH},
    {"sh", CTX_LANG_BASH},
    {"bash", CTX_LANG_BASH},
    {"json", CTX_LANG_JSON},
    {"jsonc", CTX_LANG_JSON},
};

/* Extensions, compared case-insensitively.  ".h" goes to C: a header outside a C++ project is
 * C, and the languageId (which comes first) settles the C++ case. */
static const struct {
    const char *ext;
    enum ctx_lang lang;
} exts[] = {
    {"c", CTX_LANG_C},      {"h", CTX_LANG_C},           {"cc", CTX_LANG_CPP},
    {"cpp", CTX_LANG_CPP},  {"cxx", CTX_LANG_CPP},       {"c++", CTX_LANG_CPP},
    {"hh", CTX_LANG_CPP},   {"hpp", CTX_LANG_CPP},       {"hxx", CTX_LANG_CPP},
    {"h++", CTX_LANG_CPP},  {"ipp", CTX_LANG_CPP},       {"inl", CTX_LANG_CPP},
    {"tpp", CTX_LANG_CPP},  {"cu", CTX_LANG_CPP},        {"cuh", CTX_LANG_CPP},
    {"py", CTX_LANG_PYTHON}, {"pyi", CTX_LANG_PYTHON},    {"pyw", CTX_LANG_PYTHON},
    {"js", CTX_LANG_JAVASCRIPT}, {"mjs", CTX_LANG_JAVASCRIPT}, {"cjs", CTX_LANG_JAVASCRIPT},
    {"jsx", CTX_LANG_JAVASCRIPT}, {"ts", CTX_LANG_TYPESCRIPT}, {"mts", CTX_LANG_TYPESCRIPT},
    {"cts", CTX_LANG_TYPESCRIPT}, {"tsx", CTX_LANG_TSX},  {"go", CTX_LANG_GO},
    {"rs", CTX_LANG_RUST},  {"java", CTX_LANG_JAVA},     {"sh", CTX_LANG_BASH},
    {"bash", CTX_LANG_BASH}, {"zsh", CTX_LANG_BASH},     {"ksh", CTX_LANG_BASH},
    {"json", CTX_LANG_JSON}, {"jsonc", CTX_LANG_JSON},
};

/* Whole file names without a telling extension. */
static const struct {
    const char *name;
    enum ctx_lang lang;
} names[] = {
    {".bashrc", CTX_LANG_BASH},       {".bash_profile", CTX_LANG_BASH},
    {".bash_aliases", CTX_LANG_BASH}, {".profile", CTX_LANG_BASH},
    {".zshrc", CTX_LANG_BASH},        {"PKGBUILD", CTX_LANG_BASH},
};

enum ctx_lang ctx_lang_from_id(const char *language_id)
{
    if (!language_id)
        return CTX_LANG_NONE;
    for (size_t i = 0; i < SK_ARRAY_LEN(ids); i++)
        if (strcmp(ids[i].id, language_id) == 0)
            return ids[i].lang;
    return CTX_LANG_NONE;
}

enum ctx_lang ctx_lang_from_path(const char *path)
{
    if (!path)
        return CTX_LANG_NONE;
    /* A URI's query and fragment are not part of the name. */
    size_t end = strlen(path);
    if (strncmp(path, "file:", 5) == 0 || strstr(path, "://")) {
        size_t q = strcspn(path, "?#");
        end = q;
    }
    size_t base = end;
    while (base > 0 && path[base - 1] != '/' && path[base - 1] != '\\')
        base--;
    size_t name_len = end - base;
    if (name_len == 0)
        return CTX_LANG_NONE;
    const char *name = path + base;
    for (size_t i = 0; i < SK_ARRAY_LEN(names); i++)
        if (strlen(names[i].name) == name_len && memcmp(names[i].name, name, name_len) == 0)
            return names[i].lang;
    size_t dot = name_len;
    while (dot > 0 && name[dot - 1] != '.')
        dot--;
    if (dot <= 1) /* no dot, or only a leading one (".gitignore") */
        return CTX_LANG_NONE;
    const char *ext = name + dot;
    size_t ext_len = name_len - dot;
    for (size_t i = 0; i < SK_ARRAY_LEN(exts); i++)
        if (strlen(exts[i].ext) == ext_len && strncasecmp(exts[i].ext, ext, ext_len) == 0)
            return exts[i].lang;
    return CTX_LANG_NONE;
}

const char *ctx_lang_name(enum ctx_lang lang)
{
    if ((unsigned)lang >= CTX_LANG__COUNT)
        return "plaintext";
    return langs[lang].name;
}

const TSLanguage *ctx__ts_language(enum ctx_lang lang)
{
    if ((unsigned)lang >= CTX_LANG__COUNT || !langs[lang].grammar)
        return NULL;
    return langs[lang].grammar();
}

/* ---- allocator hook ---------------------------------------------------------------------- */
static void ts_oom(size_t size)
{
    fprintf(stderr, "seekd: tree-sitter allocation of %zu bytes failed (failure injection?)\n",
            size);
    abort();
}

static void *ts_hook_malloc(size_t size)
{
    void *p = sk_malloc(size ? size : 1);
    if (!p)
        ts_oom(size);
    return p;
}

static void *ts_hook_calloc(size_t n, size_t size)
{
    void *p = sk_calloc(n ? n : 1, size ? size : 1);
    if (!p)
        ts_oom(n * size);
    return p;
}

static void *ts_hook_realloc(void *ptr, size_t size)
{
    void *p = sk_realloc(ptr, size ? size : 1);
    if (!p)
        ts_oom(size);
    return p;
}

static void install_hooks(void)
{
    ts_set_allocator(ts_hook_malloc, ts_hook_calloc, ts_hook_realloc, sk_free);
}

void ctx__ts_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_hooks);
}

TSParser *ctx__parser_new(enum ctx_lang lang)
{
    const TSLanguage *language = ctx__ts_language(lang);
    if (!language)
        return NULL;
    ctx__ts_init();
    TSParser *parser = ts_parser_new();
    if (!ts_parser_set_language(parser, language)) {
        /* Only an ABI mismatch between libtree-sitter and the grammar gets here. */
        SK_ERROR("context: grammar %s has ABI %u, the runtime accepts %u..%u", ctx_lang_name(lang),
                 ts_language_version(language), TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION,
                 TREE_SITTER_LANGUAGE_VERSION);
        ts_parser_delete(parser);
        return NULL;
    }
    return parser;
}

TSTree *ctx__parse_fresh(enum ctx_lang lang, const char *text, size_t len)
{
    if (len > UINT32_MAX - 1)
        return NULL;
    TSParser *parser = ctx__parser_new(lang);
    if (!parser)
        return NULL;
    TSTree *tree = ts_parser_parse_string(parser, NULL, text ? text : "", (uint32_t)len);
    ts_parser_delete(parser);
    return tree;
}

/* ---- background tree deletion ---------------------------------------------------------------
 * Freeing a tree whose nodes the new parse did not reuse (after error recovery, tens of
 * thousands of nodes) takes up to ~20 ms: too long for the loop thread after every keystroke.
 * Replaced trees go to one deleter thread instead.  Safe because tree-sitter's reference counts
 * are atomic: the old tree shares nodes with the new one, and a node whose count the deleter
 * decremented without reaching zero is never touched by it again. */
struct reap {
    TSTree *tree;
    struct reap *next;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t work, idle;
    struct reap *head;
    int busy, started, failed;
} reaper = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
            NULL, 0, 0, 0};

static void *reaper_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&reaper.mu);
    for (;;) {
        while (!reaper.head)
            pthread_cond_wait(&reaper.work, &reaper.mu);
        struct reap *list = reaper.head;
        reaper.head = NULL;
        reaper.busy = 1;
        pthread_mutex_unlock(&reaper.mu);
        while (list) {
            struct reap *next = list->next;
            ts_tree_delete(list->tree);
            sk_free(list);
            list = next;
        }
        pthread_mutex_lock(&reaper.mu);
        reaper.busy = 0;
        if (!reaper.head)
            pthread_cond_broadcast(&reaper.idle);
    }
    return NULL;
}

/* libtree-sitter is not built with ThreadSanitizer, so TSan sees the deleter free nodes that the
 * loop thread read before its atomic reference-count release, but not the release itself: a
 * false report.  TSan builds delete on the calling thread. */
#if defined(__SANITIZE_THREAD__)
#define SYNC_DELETE 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SYNC_DELETE 1
#endif
#endif
#ifndef SYNC_DELETE
#define SYNC_DELETE 0
#endif

void ctx__tree_release(TSTree *tree)
{
    if (!tree)
        return;
    if (SYNC_DELETE) {
        ts_tree_delete(tree);
        return;
    }
    struct reap *r = sk_malloc(sizeof *r);
    pthread_mutex_lock(&reaper.mu);
    if (r && !reaper.started && !reaper.failed) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, reaper_main, NULL) == 0)
            reaper.started = 1;
        else
            reaper.failed = 1;
        pthread_attr_destroy(&attr);
    }
    if (!r || !reaper.started) {
        /* No memory for the queue entry or no thread: delete here. */
        pthread_mutex_unlock(&reaper.mu);
        sk_free(r);
        ts_tree_delete(tree);
        return;
    }
    r->tree = tree;
    r->next = reaper.head;
    reaper.head = r;
    pthread_cond_signal(&reaper.work);
    pthread_mutex_unlock(&reaper.mu);
}

void ctx_flush(void)
{
    pthread_mutex_lock(&reaper.mu);
    while (reaper.head || reaper.busy)
        pthread_cond_wait(&reaper.idle, &reaper.mu);
    pthread_mutex_unlock(&reaper.mu);
}

char *ctx_sexp_fresh(enum ctx_lang lang, const char *text, size_t len)
{
    TSTree *tree = ctx__parse_fresh(lang, text, len);
    if (!tree)
        return NULL;
    /* With the hook installed ts_node_string's buffer comes from sk_malloc. */
    char *s = ts_node_string(ts_tree_root_node(tree));
    ts_tree_delete(tree);
    return s;
}
