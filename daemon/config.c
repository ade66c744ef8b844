/*
 * Configuration of the completion pipeline (contract in pipeline.h): defaults with the bundled
 * models, the config file, and JSON settings from the editor.  Small and called rarely (startup
 * and each didChangeConfiguration).
 */
#include "base.h"
#include "daemon/pipeline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEMO_TARGET "seekd-demo-target.Q8_0.gguf"
#define DEMO_DRAFT "seekd-demo-draft.Q8_0.gguf"

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int dmn_config_models_dir(char *buf, size_t cap)
{
    const char *env = getenv("SEEKD_MODELS_DIR");
    if (env && *env && is_dir(env)) {
        snprintf(buf, cap, "%s", env);
        return 0;
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -ENOENT;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -ENOENT;
    *slash = 0; /* exe = directory of the binary */
    char cand[4200];
    /* build tree: build/<variant>/seekd -> ../../models */
    snprintf(cand, sizeof cand, "%s/../../models", exe);
    if (is_dir(cand)) {
        char *r = realpath(cand, NULL);
        snprintf(buf, cap, "%s", r ? r : cand);
        free(r);
        return 0;
    }
    /* installed: <prefix>/bin/seekd -> <prefix>/share/seekd/models */
    snprintf(cand, sizeof cand, "%s/../share/seekd/models", exe);
    if (is_dir(cand)) {
        char *r = realpath(cand, NULL);
        snprintf(buf, cap, "%s", r ? r : cand);
        free(r);
        return 0;
    }
    return -ENOENT;
}

static void set_str(char **dst, const char *v)
{
    char *n = sk_strdup(v ? v : "");
    if (!n)
        return;
    sk_free(*dst);
    *dst = n;
}

void dmn_config_defaults(struct dmn_config *c)
{
    memset(c, 0, sizeof *c);
    char dir[4096], p[4200];
    if (dmn_config_models_dir(dir, sizeof dir) == 0) {
        snprintf(p, sizeof p, "%s/%s", dir, DEMO_TARGET);
        set_str(&c->model, p);
        snprintf(p, sizeof p, "%s/%s", dir, DEMO_DRAFT);
        set_str(&c->draft, p);
    } else {
        set_str(&c->model, "");
        set_str(&c->draft, "");
    }
    set_str(&c->explain_model, "");
    set_str(&c->explain_draft, "");
    set_str(&c->cache_path, "");
    c->prefix_tokens = 1024;
    c->suffix_tokens = 256;
    c->max_tokens = 64;
    c->context_tokens = 512;
    c->cache_enable = 1;
    c->cache_max_bytes = (uint64_t)64 << 20;
    c->enable = 1;
    for (int i = 0; i < CTX_LANG__COUNT; i++)
        c->lang_enabled[i] = 1;
    c->deadline_ms = 2000;
    c->debounce_min_ms = 20;
    c->debounce_max_ms = 250;
}

void dmn_config_free(struct dmn_config *c)
{
    if (!c)
        return;
    sk_free(c->model);
    sk_free(c->draft);
    sk_free(c->explain_model);
    sk_free(c->explain_draft);
    sk_free(c->cache_path);
    memset(c, 0, sizeof *c);
}

int dmn_config_copy(struct dmn_config *dst, const struct dmn_config *src)
{
    *dst = *src;
    dst->model = sk_strdup(src->model ? src->model : "");
    dst->draft = sk_strdup(src->draft ? src->draft : "");
    dst->explain_model = sk_strdup(src->explain_model ? src->explain_model : "");
    dst->explain_draft = sk_strdup(src->explain_draft ? src->explain_draft : "");
    dst->cache_path = sk_strdup(src->cache_path ? src->cache_path : "");
    if (!dst->model || !dst->draft || !dst->explain_model || !dst->explain_draft ||
        !dst->cache_path) {
        dmn_config_free(dst);
        return -ENOMEM;
    }
    return 0;
}

int dmn_config_lang_on(const struct dmn_config *c, enum ctx_lang lang)
{
    if (!c->enable)
        return 0;
    if ((int)lang < 0 || lang >= CTX_LANG__COUNT)
        return 0;
    return c->lang_enabled[lang] != 0;
}

struct errs {
    char *buf;
    size_t cap;
    int n;
};

static void bad(struct errs *e, const char *fmt, ...) SK_PRINTF(2, 3);
static void bad(struct errs *e, const char *fmt, ...)
{
    e->n++;
    if (!e->buf || !e->cap)
        return;
    size_t used = strlen(e->buf);
    if (used + 4 >= e->cap)
        return;
    if (used)
        used += (size_t)snprintf(e->buf + used, e->cap - used, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->buf + used, e->cap - used, fmt, ap);
    va_end(ap);
}

static void get_str(struct errs *e, const cJSON *o, const char *key, char **dst)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it))
        return;
    if (!cJSON_IsString(it) || strlen(it->valuestring) > 4000) {
        bad(e, "%s must be a string (a path)", key);
        return;
    }
    set_str(dst, it->valuestring);
}

static void get_int(struct errs *e, const cJSON *o, const char *key, int lo, int hi, int *dst)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it))
        return;
    int64_t v;
    if (lsp_number_int(it, lo, hi, &v)) {
        bad(e, "%s must be an integer in %d..%d", key, lo, hi);
        return;
    }
    *dst = (int)v;
}

static void get_bool(struct errs *e, const cJSON *o, const char *key, int *dst)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it))
        return;
    if (!cJSON_IsBool(it)) {
        bad(e, "%s must be true or false", key);
        return;
    }
    *dst = cJSON_IsTrue(it);
}

int dmn_config_apply_json(struct dmn_config *c, const cJSON *obj, char *err, size_t errlen)
{
    struct errs e = {err, errlen, 0};
    if (err && errlen)
        err[0] = 0;
    if (!obj || cJSON_IsNull(obj))
        return 0;
    if (!cJSON_IsObject(obj)) {
        bad(&e, "settings must be an object");
        return e.n;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "models");
    if (m && !cJSON_IsObject(m))
        bad(&e, "models must be an object");
    else if (m) {
        get_str(&e, m, "completion", &c->model);
        get_str(&e, m, "completionDraft", &c->draft);
        get_str(&e, m, "explain", &c->explain_model);
        get_str(&e, m, "explainDraft", &c->explain_draft);
    }
    get_int(&e, obj, "threads", 0, 256, &c->threads);
    get_int(&e, obj, "contextSize", 0, 65536, &c->context_size);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(obj, "budgets");
    if (b && !cJSON_IsObject(b))
        bad(&e, "budgets must be an object");
    else if (b) {
        get_int(&e, b, "prefixTokens", 1, 16384, &c->prefix_tokens);
        get_int(&e, b, "suffixTokens", 0, 16384, &c->suffix_tokens);
        get_int(&e, b, "maxTokens", 1, 4096, &c->max_tokens);
        get_int(&e, b, "contextTokens", 0, 8192, &c->context_tokens);
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(obj, "cache");
    if (k && !cJSON_IsObject(k))
        bad(&e, "cache must be an object");
    else if (k) {
        get_bool(&e, k, "enable", &c->cache_enable);
        const cJSON *mb = cJSON_GetObjectItemCaseSensitive(k, "maxBytes");
        int64_t v;
        if (mb && !cJSON_IsNull(mb)) {
            if (lsp_number_int(mb, 1 << 16, (int64_t)1 << 40, &v))
                bad(&e, "cache.maxBytes must be an integer in 65536..2^40");
            else
                c->cache_max_bytes = (uint64_t)v;
        }
        get_str(&e, k, "path", &c->cache_path);
    }
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(obj, "languages");
    if (l && !cJSON_IsObject(l))
        bad(&e, "languages must be an object");
    else if (l) {
        const cJSON *it;
        cJSON_ArrayForEach(it, l)
        {
            enum ctx_lang lang = ctx_lang_from_id(it->string);
            if (!strcmp(it->string, "plaintext"))
                lang = CTX_LANG_NONE;
            else if (lang == CTX_LANG_NONE) {
                bad(&e, "languages: unknown language '%.40s'", it->string);
                continue;
            }
            if (!cJSON_IsBool(it)) {
                bad(&e, "languages.%.40s must be true or false", it->string);
                continue;
            }
            c->lang_enabled[lang] = (signed char)cJSON_IsTrue(it);
        }
    }
    get_bool(&e, obj, "enable", &c->enable);
    get_int(&e, obj, "deadlineMs", 50, 600000, &c->deadline_ms);
    return e.n;
}

int dmn_config_load_file(struct dmn_config *c, char *err, size_t errlen)
{
    char path[4096];
    const char *x = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");
    if (x && x[0] == '/')
        snprintf(path, sizeof path, "%s/seekd/config.json", x);
    else if (h && *h)
        snprintf(path, sizeof path, "%s/.config/seekd/config.json", h);
    else
        return 1;
    char *text;
    size_t len;
    int rc = sk_read_file(path, 1 << 20, &text, &len);
    if (rc == -ENOENT)
        return 1;
    if (rc) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    cJSON *j = cJSON_ParseWithLength(text, len);
    sk_free(text);
    if (!j) {
        snprintf(err, errlen, "%s: not valid JSON", path);
        return -EINVAL;
    }
    char e2[512];
    int nbad = dmn_config_apply_json(c, j, e2, sizeof e2);
    cJSON_Delete(j);
    if (nbad) {
        snprintf(err, errlen, "%s: %s", path, e2);
        return -EINVAL;
    }
    return 0;
}
