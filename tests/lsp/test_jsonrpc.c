/* JSON-RPC: classification and validation of bodies (every error code with the id it must
 * carry), builders (exact output), allocation failures, typed readers. */
#include "base.h"
#include "lsp/lsp.h"
#include "tests/test.h"

#include <errno.h>

static const struct jcase {
    const char *body;
    int kind;     /* LSP_MSG_* when valid, else 0 */
    int code;     /* error code when invalid */
    const char *id; /* printed id: of the message when valid, of the error response when not */
    const char *method;
} jcases[] = {
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}", LSP_MSG_REQUEST, 0, "1", "initialize"},
    {"{\"jsonrpc\":\"2.0\",\"id\":\"a-7\",\"method\":\"m\"}", LSP_MSG_REQUEST, 0, "\"a-7\"", "m"},
    {"  {\"method\":\"m\",\"params\":[1,2],\"id\":-3,\"jsonrpc\":\"2.0\"}\r\n ", LSP_MSG_REQUEST, 0, "-3", "m"},
    {"\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"bom\"}", LSP_MSG_REQUEST, 0, "0", "bom"},
    {"{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}", LSP_MSG_NOTIFICATION, 0, NULL, "initialized"},
    {"{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}", LSP_MSG_NOTIFICATION, 0, NULL, "exit"},
    {"{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":null}", LSP_MSG_RESPONSE, 0, "5", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"x\":[]}}", LSP_MSG_RESPONSE, 0, "5", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"p\"}}", LSP_MSG_RESPONSE, 0, "null", NULL},
    /* parse errors: id always null */
    {"", 0, LSP_PARSE_ERROR, "null", NULL},
    {"   ", 0, LSP_PARSE_ERROR, "null", NULL},
    {"{", 0, LSP_PARSE_ERROR, "null", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"", 0, LSP_PARSE_ERROR, "null", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"}x", 0, LSP_PARSE_ERROR, "null", NULL},
    {"{\"jsonrpc\":\"2.0\",\"method\":\"a\"} {\"jsonrpc\":\"2.0\",\"method\":\"b\"}", 0, LSP_PARSE_ERROR, "null", NULL},
    {"nul", 0, LSP_PARSE_ERROR, "null", NULL},
    {"{'jsonrpc':'2.0'}", 0, LSP_PARSE_ERROR, "null", NULL},
    {"{\"a\":\"\\ud800\"}", 0, LSP_PARSE_ERROR, "null", NULL},
    /* not an object / batches */
    {"[]", 0, LSP_INVALID_REQUEST, "null", NULL},
    {"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\"}]", 0, LSP_INVALID_REQUEST, "null", NULL},
    {"42", 0, LSP_INVALID_REQUEST, "null", NULL},
    {"\"s\"", 0, LSP_INVALID_REQUEST, "null", NULL},
    {"null", 0, LSP_INVALID_REQUEST, "null", NULL},
    /* invalid requests that still carry a usable id */
    {"{\"id\":7,\"method\":\"m\"}", 0, LSP_INVALID_REQUEST, "7", NULL},
    {"{\"jsonrpc\":\"1.0\",\"id\":7,\"method\":\"m\"}", 0, LSP_INVALID_REQUEST, "7", NULL},
    {"{\"jsonrpc\":2,\"id\":\"q\",\"method\":\"m\"}", 0, LSP_INVALID_REQUEST, "\"q\"", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":12}", 0, LSP_INVALID_REQUEST, "7", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"m\",\"params\":\"x\"}", 0, LSP_INVALID_REQUEST, "7", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"m\",\"params\":3}", 0, LSP_INVALID_REQUEST, "7", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":7}", 0, LSP_INVALID_REQUEST, "7", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":1,\"error\":{\"code\":1,\"message\":\"m\"}}", 0, LSP_INVALID_REQUEST, "7", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":\"x\",\"message\":\"m\"}}", 0, LSP_INVALID_REQUEST, "7", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":1.5,\"message\":\"m\"}}", 0, LSP_INVALID_REQUEST, "7", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":1}}", 0, LSP_INVALID_REQUEST, "7", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":[]}", 0, LSP_INVALID_REQUEST, "7", NULL},
    /* bad ids are never echoed */
    {"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"m\"}", 0, LSP_INVALID_REQUEST, "null", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"m\"}", 0, LSP_INVALID_REQUEST, "null", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"m\"}", 0, LSP_INVALID_REQUEST, "null", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":1e400,\"method\":\"m\"}", 0, LSP_INVALID_REQUEST, "null", NULL},
    {"{\"jsonrpc\":\"2.0\",\"id\":[1],\"result\":1}", 0, LSP_INVALID_REQUEST, "null", NULL},
    {"{\"jsonrpc\":\"2.0\"}", 0, LSP_INVALID_REQUEST, "null", NULL},
};

static char *print_id(const cJSON *id)
{
    if (!id)
        return sk_strdup("null");
    return cJSON_PrintUnformatted(id);
}

TEST(lsp_jsonrpc_table)
{
    for (size_t i = 0; i < SK_ARRAY_LEN(jcases); i++) {
        const struct jcase *c = &jcases[i];
        lsp_msg m;
        lsp_msg_error e;
        size_t live = sk_alloc_live_bytes();
        int rc = lsp_msg_parse(c->body, strlen(c->body), &m, &e);
        if (c->kind) {
            ASSERT_MSG(rc == 0, "case %zu (%s): rc %d code %d %s", i, c->body, rc, e.code, e.message);
            ASSERT_EQ(m.kind, c->kind);
            if (c->method)
                ASSERT_STR_EQ(m.method, c->method);
            else
                ASSERT(m.method == NULL);
            if (c->id) {
                char *s = print_id(m.id);
                ASSERT_STR_EQ(s, c->id);
                sk_free(s);
            } else
                ASSERT(m.id == NULL);
            if (m.kind == LSP_MSG_RESPONSE)
                ASSERT((m.result == NULL) != (m.error == NULL));
            lsp_msg_free(&m);
        } else {
            ASSERT_MSG(rc < 0, "case %zu (%s) parsed", i, c->body);
            ASSERT_MSG(e.code == c->code, "case %zu (%s): code %d want %d", i, c->body, e.code, c->code);
            ASSERT(e.message && *e.message);
            char *s = print_id(e.id);
            ASSERT_MSG(!strcmp(s, c->id), "case %zu (%s): id %s want %s", i, c->body, s, c->id);
            sk_free(s);
            lsp_msg_error_free(&e);
        }
        ASSERT_EQ(sk_alloc_live_bytes(), live);
    }
}

TEST(lsp_jsonrpc_deep_nesting)
{
    /* Far deeper than cJSON's nesting limit: a parse error, not a stack overflow. */
    size_t depth = 100000;
    char *s = malloc(depth * 2 + 64);
    size_t n = 0;
    n += (size_t)sprintf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":");
    for (size_t i = 0; i < depth; i++)
        s[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        s[n++] = ']';
    s[n++] = '}';
    lsp_msg m;
    lsp_msg_error e;
    ASSERT(lsp_msg_parse(s, n, &m, &e) < 0);
    ASSERT_EQ(e.code, LSP_PARSE_ERROR);
    lsp_msg_error_free(&e);
    free(s);
}

/* The body is taken by length: bytes after it (a next message in the reader buffer) are
 * never looked at. */
TEST(lsp_jsonrpc_length_bounded)
{
    const char *two = "{\"jsonrpc\":\"2.0\",\"method\":\"a\"}{\"junk\"";
    size_t first = strlen("{\"jsonrpc\":\"2.0\",\"method\":\"a\"}");
    lsp_msg m;
    lsp_msg_error e;
    ASSERT_EQ(lsp_msg_parse(two, first, &m, &e), 0);
    ASSERT_STR_EQ(m.method, "a");
    lsp_msg_free(&m);
    ASSERT(lsp_msg_parse(two, first - 1, &m, &e) < 0);
    ASSERT_EQ(e.code, LSP_PARSE_ERROR);
    lsp_msg_error_free(&e);
}

TEST(lsp_jsonrpc_has_nul)
{
    static const struct {
        const char *text; /* the JSON string literal's contents */
        int nul;
    } t[] = {
        {"abc", 0},
        {"a\\u0000b", 1},
        {"a\\\\u0000b", 0},     /* an escaped backslash, then plain text */
        {"a\\\\\\u0000b", 1},   /* escaped backslash, then the escape */
        {"\\u00000", 1},
        {"\\u0001", 0},
        {"\\\\", 0},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(t); i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"t\":\"%s\"}}", t[i].text);
        lsp_msg m;
        lsp_msg_error e;
        ASSERT_MSG(lsp_msg_parse(body, strlen(body), &m, &e) == 0, "%s", body);
        ASSERT_MSG(m.has_nul == t[i].nul, "%s: has_nul %d", body, m.has_nul);
        lsp_msg_free(&m);
    }
    char raw[] = "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"t\":\"a?b\"}}";
    *strchr(raw, '?') = 0;
    lsp_msg m;
    lsp_msg_error e;
    ASSERT_EQ(lsp_msg_parse(raw, sizeof raw - 1, &m, &e), 0);
    ASSERT_EQ(m.has_nul, 1);
    lsp_msg_free(&m);
}

static void expect_print(cJSON *j, const char *want)
{
    ASSERT(j);
    size_t n;
    char *s = lsp_print(j, &n);
    ASSERT_STR_EQ(s, want);
    ASSERT_EQ(n, strlen(want));
    cJSON_free(s);
    cJSON_Delete(j);
}

TEST(lsp_jsonrpc_builders)
{
    cJSON *n7 = cJSON_CreateNumber(7), *sa = cJSON_CreateString("a\"b");
    expect_print(lsp_response_new(n7, NULL), "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":null}");
    expect_print(lsp_response_new(sa, cJSON_CreateArray()), "{\"jsonrpc\":\"2.0\",\"id\":\"a\\\"b\",\"result\":[]}");
    expect_print(lsp_error_new(NULL, LSP_PARSE_ERROR, "Parse error", NULL),
                 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}");
    expect_print(lsp_error_new(n7, LSP_REQUEST_CANCELLED, "cancelled", cJSON_CreateTrue()),
                 "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32800,\"message\":\"cancelled\",\"data\":true}}");
    expect_print(lsp_notification_new("window/logMessage", NULL), "{\"jsonrpc\":\"2.0\",\"method\":\"window/logMessage\"}");
    expect_print(lsp_request_new(n7, "m", cJSON_CreateObject()), "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"m\",\"params\":{}}");
    /* A non-ASCII string goes out raw (UTF-8), control characters escaped. */
    expect_print(lsp_notification_new("m", cJSON_CreateString("\xf0\x9f\x98\x80\n")),
                 "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":\"\xf0\x9f\x98\x80\\n\"}");
    cJSON *n7b = cJSON_CreateNumber(7), *s7 = cJSON_CreateString("7"), *sab = cJSON_CreateString("a\"b");
    ASSERT(lsp_id_equal(n7, n7b));
    ASSERT(!lsp_id_equal(n7, s7));
    ASSERT(lsp_id_equal(sa, sab));
    ASSERT(!lsp_id_equal(sa, s7));
    ASSERT(!lsp_id_equal(NULL, n7));
    cJSON_Delete(n7);
    cJSON_Delete(n7b);
    cJSON_Delete(s7);
    cJSON_Delete(sa);
    cJSON_Delete(sab);
}

/* Every allocation in parse and build may fail: the result is NULL / an error, never a crash,
 * and nothing leaks. */
TEST(lsp_jsonrpc_alloc_failures)
{
    const char *body = "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"textDocument/didOpen\",\"params\":{\"a\":[1,2,{\"b\":\"c\"}]}}";
    const char *bad = "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":3}";
    int ok_seen = 0;
    for (long k = 0; k < 60; k++) {
        size_t live = sk_alloc_live_bytes();
        lsp_msg m;
        lsp_msg_error e;
        sk_alloc_fail_after(k);
        int rc = lsp_msg_parse(body, strlen(body), &m, &e);
        sk_alloc_fail_after(-1);
        if (rc == 0) {
            ok_seen = 1;
            ASSERT_STR_EQ(m.method, "textDocument/didOpen");
            lsp_msg_free(&m);
        } else
            lsp_msg_error_free(&e);
        sk_alloc_fail_after(k);
        rc = lsp_msg_parse(bad, strlen(bad), &m, &e);
        sk_alloc_fail_after(-1);
        ASSERT(rc < 0);
        lsp_msg_error_free(&e);

        cJSON *id = cJSON_CreateString("id");
        sk_alloc_fail_after(k);
        cJSON *r = lsp_response_new(id, cJSON_CreateObject());
        cJSON *er = lsp_error_new(id, 1, "m", cJSON_CreateString("d"));
        cJSON *nt = lsp_notification_new("n", cJSON_CreateArray());
        cJSON *rq = lsp_request_new(id, "n", cJSON_CreateArray());
        char *p = r ? lsp_print(r, NULL) : NULL;
        sk_alloc_fail_after(-1);
        cJSON_free(p);
        cJSON_Delete(r);
        cJSON_Delete(er);
        cJSON_Delete(nt);
        cJSON_Delete(rq);
        cJSON_Delete(id);
        ASSERT_EQ(sk_alloc_live_bytes(), live);
    }
    ASSERT(ok_seen);
}

TEST(lsp_jsonrpc_typed_readers)
{
    static const struct {
        const char *json;
        int ok;
        uint32_t line, ch;
    } pos[] = {
        {"{\"line\":1,\"character\":2}", 1, 1, 2},
        {"{\"character\":0,\"line\":0}", 1, 0, 0},
        {"{\"line\":2147483647,\"character\":2147483647}", 1, 2147483647u, 2147483647u},
        {"{\"line\":2147483648,\"character\":0}", 0, 0, 0},
        {"{\"line\":-1,\"character\":0}", 0, 0, 0},
        {"{\"line\":1.5,\"character\":0}", 0, 0, 0},
        {"{\"line\":\"1\",\"character\":0}", 0, 0, 0},
        {"{\"line\":1e300,\"character\":0}", 0, 0, 0},
        {"{\"line\":1}", 0, 0, 0},
        {"{\"line\":null,\"character\":0}", 0, 0, 0},
        {"[1,2]", 0, 0, 0},
        {"null", 0, 0, 0},
        {"{\"line\":3.0,\"character\":4e0}", 1, 3, 4},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(pos); i++) {
        cJSON *j = cJSON_Parse(pos[i].json);
        lsp_position p = {99, 99};
        int rc = lsp_get_position(j, &p);
        ASSERT_MSG((rc == 0) == pos[i].ok, "%s: rc %d", pos[i].json, rc);
        if (pos[i].ok) {
            ASSERT_EQ(p.line, pos[i].line);
            ASSERT_EQ(p.character, pos[i].ch);
        }
        cJSON_Delete(j);
    }
    ASSERT_EQ(lsp_get_position(NULL, &(lsp_position){0, 0}), LSP_EINVAL);

    cJSON *r = cJSON_Parse("{\"start\":{\"line\":1,\"character\":2},\"end\":{\"line\":3,\"character\":4}}");
    lsp_range rg;
    ASSERT_EQ(lsp_get_range(r, &rg), 0);
    ASSERT_EQ(rg.start.line, 1);
    ASSERT_EQ(rg.start.character, 2);
    ASSERT_EQ(rg.end.line, 3);
    ASSERT_EQ(rg.end.character, 4);
    cJSON_Delete(r);
    r = cJSON_Parse("{\"start\":{\"line\":1,\"character\":2}}");
    ASSERT_EQ(lsp_get_range(r, &rg), LSP_EINVAL);
    cJSON_Delete(r);

    static const struct {
        const char *json;
        const char *uri;
    } td[] = {
        {"{\"textDocument\":{\"uri\":\"file:///a.c\",\"version\":1}}", "file:///a.c"},
        {"{\"textDocument\":{\"uri\":\"\"}}", NULL},
        {"{\"textDocument\":{\"uri\":5}}", NULL},
        {"{\"textDocument\":\"file:///a.c\"}", NULL},
        {"{\"uri\":\"file:///a.c\"}", NULL},
        {"[]", NULL},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(td); i++) {
        cJSON *j = cJSON_Parse(td[i].json);
        const char *u = NULL;
        int rc = lsp_get_text_document(j, &u);
        if (td[i].uri) {
            ASSERT_EQ(rc, 0);
            ASSERT_STR_EQ(u, td[i].uri);
        } else
            ASSERT_EQ(rc, LSP_EINVAL);
        cJSON_Delete(j);
    }
    int64_t v;
    cJSON *o = cJSON_Parse("{\"v\":-5,\"s\":\"x\"}");
    ASSERT_EQ(lsp_get_int(o, "v", -10, 10, &v), 0);
    ASSERT_EQ(v, -5);
    ASSERT_EQ(lsp_get_int(o, "v", 0, 10, &v), LSP_EINVAL);
    ASSERT_EQ(lsp_get_int(o, "s", 0, 10, &v), LSP_EINVAL);
    const char *s;
    ASSERT_EQ(lsp_get_string(o, "s", &s), 0);
    ASSERT_STR_EQ(s, "x");
    ASSERT_EQ(lsp_get_string(o, "v", &s), LSP_EINVAL);
    ASSERT_EQ(lsp_get_string(o, "zz", &s), LSP_EINVAL);
    cJSON_Delete(o);
    ASSERT_STR_EQ(lsp_strerror(LSP_ETOOBIG), "message body larger than the limit");
    ASSERT_STR_EQ(lsp_strerror(-ENOMEM), "out of memory");
}
