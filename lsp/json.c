/*
 * JSON-RPC 2.0 on cJSON: classifying and validating message bodies, building responses,
 * errors and notifications, and typed readers for the few LSP structures every handler needs.
 * The rules are in lsp.h.  Bodies are copied into a NUL-terminated buffer before cJSON sees
 * them, so the parser can never read past a body that sits in the middle of a reader buffer.
 */
#include "lsp/lsp.h"

#include "base.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static void *hook_malloc(size_t n) { return sk_malloc(n); }
static void hook_free(void *p) { sk_free(p); }

void lsp_json_init(void)
{
    cJSON_Hooks hooks = {hook_malloc, hook_free};
    cJSON_InitHooks(&hooks);
}

/* Before main: every cJSON object in the process then comes from the sk_ allocator. */
__attribute__((constructor)) static void json_init_early(void) { lsp_json_init(); }

/* ---- parsing ------------------------------------------------------------------------------ */

static int valid_id(const cJSON *id)
{
    return cJSON_IsString(id) || (cJSON_IsNumber(id) && isfinite(id->valuedouble));
}

/* 1 when the body holds a NUL: a raw 0 byte or a \u0000 escape (an odd run of backslashes). */
static int body_has_nul(const char *s, size_t n)
{
    if (memchr(s, 0, n))
        return 1;
    for (size_t i = 0; i + 6 <= n; i++) {
        if (s[i] != '\\')
            continue;
        size_t run = 1;
        while (i + run < n && s[i + run] == '\\')
            run++;
        size_t last = i + run - 1; /* the escape's backslash when run is odd */
        if ((run & 1) && last + 6 <= n && (s[last + 1] == 'u' || s[last + 1] == 'U') &&
            !memcmp(s + last + 2, "0000", 4))
            return 1;
        i = last;
    }
    return 0;
}

static int fail(lsp_msg_error *err, int code, const char *message, const cJSON *id)
{
    err->code = code;
    err->message = message;
    err->id = id && valid_id(id) ? cJSON_Duplicate(id, 1) : NULL;
    return code == -ENOMEM ? -ENOMEM : -1;
}

int lsp_msg_parse(const char *body, size_t len, lsp_msg *msg, lsp_msg_error *err)
{
    memset(msg, 0, sizeof *msg);
    memset(err, 0, sizeof *err);
    char *copy = sk_malloc(len + 1);
    if (!copy)
        return fail(err, -ENOMEM, "out of memory", NULL);
    memcpy(copy, body, len);
    copy[len] = '\0';

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 0);
    int rc = 0;
    if (!root) {
        rc = fail(err, LSP_PARSE_ERROR, "Parse error: the body is not valid JSON", NULL);
        goto out;
    }
    for (const char *p = end; p && p < copy + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            rc = fail(err, LSP_PARSE_ERROR, "Parse error: bytes after the JSON value", NULL);
            goto out;
        }
    }
    if (cJSON_IsArray(root)) {
        rc = fail(err, LSP_INVALID_REQUEST, "Invalid Request: batches are not supported", NULL);
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        rc = fail(err, LSP_INVALID_REQUEST, "Invalid Request: not an object", NULL);
        goto out;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    const cJSON *jsonrpc = cJSON_GetObjectItemCaseSensitive(root, "jsonrpc");
    if (!cJSON_IsString(jsonrpc) || strcmp(jsonrpc->valuestring, "2.0") != 0) {
        rc = fail(err, LSP_INVALID_REQUEST, "Invalid Request: jsonrpc must be \"2.0\"", id);
        goto out;
    }
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
    if (method) {
        if (id && !valid_id(id)) {
            rc = fail(err, LSP_INVALID_REQUEST, "Invalid Request: id must be a string or number",
                      NULL);
            goto out;
        }
        if (!cJSON_IsString(method)) {
            rc = fail(err, LSP_INVALID_REQUEST, "Invalid Request: method must be a string", id);
            goto out;
        }
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params");
        if (params && !cJSON_IsObject(params) && !cJSON_IsArray(params)) {
            rc = fail(err, LSP_INVALID_REQUEST,
                      "Invalid Request: params must be an object or an array", id);
            goto out;
        }
        msg->kind = id ? LSP_MSG_REQUEST : LSP_MSG_NOTIFICATION;
        msg->id = id;
        msg->method = method->valuestring;
        msg->params = params;
    } else {
        const cJSON *result = cJSON_GetObjectItemCaseSensitive(root, "result");
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(root, "error");
        if (!id || (!valid_id(id) && !cJSON_IsNull(id)) || !result == !error) {
            rc = fail(err, LSP_INVALID_REQUEST,
                      "Invalid Request: neither a request nor a response", id);
            goto out;
        }
        if (error) {
            const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
            const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
            int64_t c;
            if (!cJSON_IsObject(error) || lsp_number_int(code, INT32_MIN, INT32_MAX, &c) ||
                !cJSON_IsString(message)) {
                rc = fail(err, LSP_INVALID_REQUEST, "Invalid Request: malformed error object",
                          id);
                goto out;
            }
        }
        msg->kind = LSP_MSG_RESPONSE;
        msg->id = id;
        msg->result = result;
        msg->error = error;
    }
    msg->root = root;
    msg->has_nul = body_has_nul(body, len);
    root = NULL;
out:
    cJSON_Delete(root);
    sk_free(copy);
    return rc;
}

void lsp_msg_free(lsp_msg *msg)
{
    cJSON_Delete(msg->root);
    memset(msg, 0, sizeof *msg);
}

void lsp_msg_error_free(lsp_msg_error *err)
{
    cJSON_Delete(err->id);
    memset(err, 0, sizeof *err);
}

/* ---- building ----------------------------------------------------------------------------- */

/* Adds v to obj under k; v belongs to obj afterwards, or is deleted on failure. */
static int add(cJSON *obj, const char *k, cJSON *v)
{
    if (!v)
        return -1;
    if (!cJSON_AddItemToObject(obj, k, v)) {
        cJSON_Delete(v);
        return -1;
    }
    return 0;
}

static cJSON *envelope(const cJSON *id, int with_id)
{
    cJSON *m = cJSON_CreateObject();
    if (!m)
        return NULL;
    if (add(m, "jsonrpc", cJSON_CreateString("2.0")) ||
        (with_id && add(m, "id", id ? cJSON_Duplicate(id, 1) : cJSON_CreateNull()))) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

cJSON *lsp_response_new(const cJSON *id, cJSON *result)
{
    cJSON *m = envelope(id, 1);
    if (!result)
        result = cJSON_CreateNull();
    if (!m || !result)
        goto fail;
    cJSON *r = result;
    result = NULL;
    if (add(m, "result", r))
        goto fail;
    return m;
fail:
    cJSON_Delete(result);
    cJSON_Delete(m);
    return NULL;
}

cJSON *lsp_error_new(const cJSON *id, int code, const char *message, cJSON *data)
{
    cJSON *m = envelope(id, 1);
    cJSON *e = cJSON_CreateObject();
    if (!m || !e || add(e, "code", cJSON_CreateNumber(code)) ||
        add(e, "message", cJSON_CreateString(message ? message : "")))
        goto fail;
    if (data) {
        cJSON *d = data;
        data = NULL;
        if (add(e, "data", d))
            goto fail;
    }
    cJSON *err = e;
    e = NULL;
    if (add(m, "error", err))
        goto fail;
    return m;
fail:
    cJSON_Delete(data);
    cJSON_Delete(e);
    cJSON_Delete(m);
    return NULL;
}

/* A request (with_id) or notification carrying method and params (taken). */
static cJSON *call_new(const cJSON *id, int with_id, const char *method, cJSON *params)
{
    cJSON *m = envelope(id, with_id);
    if (!m || add(m, "method", cJSON_CreateString(method)))
        goto fail;
    if (params) {
        cJSON *p = params;
        params = NULL;
        if (add(m, "params", p))
            goto fail;
    }
    return m;
fail:
    cJSON_Delete(params);
    cJSON_Delete(m);
    return NULL;
}

cJSON *lsp_notification_new(const char *method, cJSON *params)
{
    return call_new(NULL, 0, method, params);
}

cJSON *lsp_request_new(const cJSON *id, const char *method, cJSON *params)
{
    return call_new(id, 1, method, params);
}

char *lsp_print(const cJSON *item, size_t *len)
{
    char *s = cJSON_PrintUnformatted(item);
    if (s && len)
        *len = strlen(s);
    return s;
}

int lsp_id_equal(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return 0;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a) && cJSON_IsString(b))
        return strcmp(a->valuestring, b->valuestring) == 0;
    return 0;
}

/* ---- typed readers ------------------------------------------------------------------------ */

int lsp_number_int(const cJSON *item, int64_t min, int64_t max, int64_t *out)
{
    if (!cJSON_IsNumber(item))
        return LSP_EINVAL;
    double d = item->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max)
        return LSP_EINVAL;
    int64_t v = (int64_t)d;
    if (v < min || v > max) /* (double)max may round up */
        return LSP_EINVAL;
    *out = v;
    return 0;
}

int lsp_get_int(const cJSON *obj, const char *key, int64_t min, int64_t max, int64_t *out)
{
    if (!cJSON_IsObject(obj))
        return LSP_EINVAL;
    return lsp_number_int(cJSON_GetObjectItemCaseSensitive(obj, key), min, max, out);
}

int lsp_get_string(const cJSON *obj, const char *key, const char **out)
{
    if (!cJSON_IsObject(obj))
        return LSP_EINVAL;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(s) || !s->valuestring)
        return LSP_EINVAL;
    *out = s->valuestring;
    return 0;
}

int lsp_get_position(const cJSON *obj, lsp_position *out)
{
    int64_t line, ch;
    if (lsp_get_int(obj, "line", 0, INT32_MAX, &line) ||
        lsp_get_int(obj, "character", 0, INT32_MAX, &ch))
        return LSP_EINVAL;
    out->line = (uint32_t)line;
    out->character = (uint32_t)ch;
    return 0;
}

int lsp_get_range(const cJSON *obj, lsp_range *out)
{
    if (!cJSON_IsObject(obj) ||
        lsp_get_position(cJSON_GetObjectItemCaseSensitive(obj, "start"), &out->start) ||
        lsp_get_position(cJSON_GetObjectItemCaseSensitive(obj, "end"), &out->end))
        return LSP_EINVAL;
    return 0;
}

int lsp_get_text_document(const cJSON *params, const char **uri)
{
    const char *u;
    if (!cJSON_IsObject(params) ||
        lsp_get_string(cJSON_GetObjectItemCaseSensitive(params, "textDocument"), "uri", &u) ||
        !*u)
        return LSP_EINVAL;
    *uri = u;
    return 0;
}
