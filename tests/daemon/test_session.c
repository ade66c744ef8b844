/* The LSP session without I/O: lifecycle and exit codes, encoding negotiation, every error code
 * of dispatch, edit application (utf-16 and utf-8, astral characters, CRLF and lone CR,
 * clamping, several changes per notification) checked through seekd/syntaxTree against a fresh
 * parse, cancellation and superseding, memory, and allocation failures. */
#include "base.h"
#include "daemon/session.h"
#include "tests/test.h"

#include <errno.h>
#include <stdarg.h>

/* ---- harness ------------------------------------------------------------------------------ */

#define MAXOUT 256
static struct out {
    char *msg[MAXOUT];
    size_t n, next;
} out;

static void capture(void *ud, const char *json, size_t len)
{
    (void)ud;
    ASSERT(out.n < MAXOUT);
    char *c = malloc(len + 1);
    memcpy(c, json, len);
    c[len] = 0;
    out.msg[out.n++] = c;
}

static void out_reset(void)
{
    for (size_t i = 0; i < out.n; i++)
        free(out.msg[i]);
    out.n = out.next = 0;
}

static size_t out_left(void) { return out.n - out.next; }

/* The next message sent, parsed (caller deletes). */
static cJSON *take(void)
{
    ASSERT_MSG(out.next < out.n, "expected another message from the server");
    cJSON *j = cJSON_Parse(out.msg[out.next]);
    ASSERT_MSG(j, "server sent invalid JSON: %s", out.msg[out.next]);
    out.next++;
    return j;
}

static dmn_session *sess_new_opts(dmn_session_opts o)
{
    out_reset();
    o.send = capture;
    dmn_session *s;
    ASSERT_EQ(dmn_session_new(&o, &s), 0);
    return s;
}
static dmn_session *sess_new(void) { return sess_new_opts((dmn_session_opts){0}); }

/* Frames a printf-formatted body and feeds it (in two pieces, to exercise framing too). */
static void sendf(dmn_session *s, const char *fmt, ...) SK_PRINTF(2, 3);
static void sendf(dmn_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *body;
    ASSERT(vasprintf(&body, fmt, ap) >= 0);
    va_end(ap);
    size_t n;
    char *f = lsp_frame_encode(body, strlen(body), &n);
    ASSERT_EQ(dmn_session_feed(s, f, n / 2), 0);
    ASSERT_EQ(dmn_session_feed(s, f + n / 2, n - n / 2), 0);
    sk_free(f);
    free(body);
}

/* Expects the next message to be a response to id with an error code (0 = a result). */
static cJSON *expect_response(int id, int code)
{
    cJSON *j = take();
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(j, "id");
    if (id < 0)
        ASSERT_MSG(cJSON_IsNull(jid), "want id null: %s", out.msg[out.next - 1]);
    else
        ASSERT_MSG(cJSON_IsNumber(jid) && jid->valueint == id, "want id %d: %s", id,
                   out.msg[out.next - 1]);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (code) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(err, "code");
        ASSERT_MSG(cJSON_IsNumber(c) && c->valueint == code, "want error %d: %s", code,
                   out.msg[out.next - 1]);
        ASSERT(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(err, "message")));
    } else {
        ASSERT_MSG(!err && cJSON_GetObjectItemCaseSensitive(j, "result"), "want a result: %s",
                   out.msg[out.next - 1]);
    }
    return j;
}
static void expect_code(int id, int code) { cJSON_Delete(expect_response(id, code)); }

static void init(dmn_session *s, const char *encodings)
{
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"processId\":null,"
             "\"capabilities\":{\"general\":{\"positionEncodings\":%s}}}}",
          encodings ? encodings : "null");
    expect_code(1, 0);
    sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}");
    ASSERT_EQ(out_left(), 0);
}

/* JSON string literal of raw text (cJSON does the escaping). */
static char *jstr(const char *text)
{
    cJSON *j = cJSON_CreateString(text);
    char *p = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char *r = strdup(p);
    cJSON_free(p);
    return r;
}

static void open_doc(dmn_session *s, const char *uri, const char *lang, const char *text)
{
    char *t = jstr(text);
    sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{\"textDocument\":"
             "{\"uri\":\"%s\",\"languageId\":\"%s\",\"version\":1,\"text\":%s}}}",
          uri, lang, t);
    free(t);
}

static int next_id = 100;

/* seekd/syntaxTree: returns the result object (caller deletes), or NULL when the server
 * answered with an error (the document is not open). */
static cJSON *syntax_tree(dmn_session *s, const char *uri)
{
    int id = next_id++;
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"seekd/syntaxTree\",\"params\":"
             "{\"textDocument\":{\"uri\":\"%s\"}}}", id, uri);
    cJSON *j = take();
    ASSERT_EQ(cJSON_GetObjectItemCaseSensitive(j, "id")->valueint, id);
    cJSON *res = cJSON_DetachItemFromObjectCaseSensitive(j, "result");
    cJSON_Delete(j);
    return res;
}

static char *fresh_sexp(dmn_session *s, const char *lang, const char *text)
{
    int id = next_id++;
    char *t = jstr(text);
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"seekd/parse\",\"params\":"
             "{\"languageId\":\"%s\",\"text\":%s}}", id, lang, t);
    free(t);
    cJSON *j = take();
    const cJSON *sx = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "result"), "sexp");
    ASSERT_MSG(cJSON_IsString(sx), "seekd/parse: %s", out.msg[out.next - 1]);
    char *r = strdup(sx->valuestring);
    cJSON_Delete(j);
    return r;
}

/* The document's text and tree equal want and a fresh parse of want. */
static void expect_doc(dmn_session *s, const char *uri, const char *lang, const char *want,
                       const char *what)
{
    cJSON *r = syntax_tree(s, uri);
    ASSERT_MSG(r, "%s: document not open", what);
    const char *text = cJSON_GetObjectItemCaseSensitive(r, "text")->valuestring;
    if (strcmp(text, want))
        TEST_FAIL_("%s:\n  text: \"%s\"\n  want: \"%s\"", what, text, want);
    char *fresh = fresh_sexp(s, lang, want);
    const cJSON *sx = cJSON_GetObjectItemCaseSensitive(r, "sexp");
    ASSERT_MSG(cJSON_IsString(sx), "%s: no tree", what);
    if (strcmp(sx->valuestring, fresh))
        TEST_FAIL_("%s: incremental tree differs\n  incremental: %s\n  fresh:       %s", what,
                   sx->valuestring, fresh);
    free(fresh);
    cJSON_Delete(r);
}

static const char *str_at(const cJSON *j, const char *path)
{
    /* dotted path of object members */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = j;
    for (char *tok = strtok(buf, "."); tok; tok = strtok(NULL, "."))
        cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

static const cJSON *at(const cJSON *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = j;
    for (char *tok = strtok(buf, "."); tok; tok = strtok(NULL, "."))
        cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
    return cur;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

TEST(dmn_session_lifecycle)
{
    dmn_session *s = sess_new();
    /* before initialize: requests -32002, notifications dropped */
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"textDocument/completion\",\"params\":{}}");
    expect_code(5, LSP_SERVER_NOT_INITIALIZED);
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"shutdown\"}");
    expect_code(6, LSP_SERVER_NOT_INITIALIZED);
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"no/such\"}");
    expect_code(7, LSP_SERVER_NOT_INITIALIZED);
    open_doc(s, "file:///early.c", "c", "int x;");
    ASSERT_EQ(out_left(), 0);
    /* initialize: bad params, then good */
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"initialize\"}");
    expect_code(8, LSP_INVALID_PARAMS);
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"initialize\",\"params\":{\"capabilities\":{}}}");
    cJSON *r = expect_response(9, 0);
    ASSERT_STR_EQ(str_at(r, "result.capabilities.positionEncoding"), "utf-16");
    ASSERT_EQ(at(r, "result.capabilities.textDocumentSync.change")->valueint, 2);
    ASSERT(cJSON_IsTrue(at(r, "result.capabilities.textDocumentSync.openClose")));
    ASSERT(cJSON_IsObject(at(r, "result.capabilities.textDocumentSync.save")));
    ASSERT(cJSON_IsObject(at(r, "result.capabilities.inlineCompletionProvider")));
    ASSERT(cJSON_IsObject(at(r, "result.capabilities.completionProvider")));
    ASSERT(cJSON_IsTrue(at(r, "result.capabilities.codeActionProvider")));
    const cJSON *cmds = at(r, "result.capabilities.executeCommandProvider.commands");
    ASSERT_EQ(cJSON_GetArraySize(cmds), 1);
    ASSERT_STR_EQ(cJSON_GetArrayItem(cmds, 0)->valuestring, "seekd.explain");
    ASSERT_STR_EQ(str_at(r, "result.serverInfo.name"), "seekd");
    cJSON_Delete(r);
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"initialize\",\"params\":{}}");
    expect_code(10, LSP_INVALID_REQUEST);
    /* the document sent before initialize was dropped */
    ASSERT(syntax_tree(s, "file:///early.c") == NULL);
    /* shutdown, then requests are invalid, notifications dropped */
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"shutdown\"}");
    cJSON *sd = expect_response(11, 0);
    ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(sd, "result")));
    cJSON_Delete(sd);
    ASSERT(dmn_session_shutting_down(s));
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"seekd/parse\",\"params\":{}}");
    expect_code(12, LSP_INVALID_REQUEST);
    open_doc(s, "file:///late.c", "c", "int y;");
    ASSERT_EQ(out_left(), 0);
    int code = -1;
    ASSERT(!dmn_session_exited(s, &code));
    sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}");
    ASSERT(dmn_session_exited(s, &code));
    ASSERT_EQ(code, 0);
    /* input after exit is ignored */
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"shutdown\"}");
    ASSERT_EQ(out_left(), 0);
    dmn_session_delete(s);
    out_reset();
}

TEST(dmn_session_exit_codes)
{
    static const struct {
        const char *name;
        int init, shutdown, how; /* how: 0 exit notification, 1 end of input */
        int code;
    } t[] = {
        {"exit before initialize", 0, 0, 0, 1},
        {"exit without shutdown", 1, 0, 0, 1},
        {"exit after shutdown", 1, 1, 0, 0},
        {"eof without shutdown", 1, 0, 1, 1},
        {"eof after shutdown", 1, 1, 1, 0},
        {"eof before initialize", 0, 0, 1, 1},
        {"shutdown refused before initialize", 0, 1, 0, 1},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(t); i++) {
        dmn_session *s = sess_new();
        if (t[i].init)
            init(s, NULL);
        if (t[i].shutdown) {
            sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"shutdown\"}");
            expect_code(2, t[i].init ? 0 : LSP_SERVER_NOT_INITIALIZED);
        }
        if (t[i].how == 0)
            sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}");
        else
            dmn_session_eof(s);
        int code = -1;
        ASSERT_MSG(dmn_session_exited(s, &code), "%s", t[i].name);
        ASSERT_MSG(code == t[i].code, "%s: code %d want %d", t[i].name, code, t[i].code);
        dmn_session_delete(s);
    }
    out_reset();
}

TEST(dmn_session_encoding_negotiation)
{
    static const struct {
        const char *offer, *want;
    } t[] = {
        {NULL, "utf-16"},
        {"[]", "utf-16"},
        {"[\"utf-16\"]", "utf-16"},
        {"[\"utf-8\"]", "utf-8"},
        {"[\"utf-32\",\"utf-16\",\"utf-8\"]", "utf-8"},
        {"[\"utf-32\"]", "utf-16"},
        {"[1,null,{},\"UTF-8\"]", "utf-16"},
        {"\"utf-8\"", "utf-16"},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(t); i++) {
        dmn_session *s = sess_new();
        sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                 "\"capabilities\":{\"general\":{\"positionEncodings\":%s}}}}",
              t[i].offer ? t[i].offer : "null");
        cJSON *r = expect_response(1, 0);
        ASSERT_STR_EQ(str_at(r, "result.capabilities.positionEncoding"), t[i].want);
        ASSERT_STR_EQ(lsp_enc_name(dmn_session_encoding(s)), t[i].want);
        cJSON_Delete(r);
        dmn_session_delete(s);
    }
    out_reset();
}

/* ---- dispatch errors ---------------------------------------------------------------------- */

TEST(dmn_session_error_codes)
{
    static const struct {
        const char *body;
        int id, code; /* id -1: null; code -1: no answer at all; 0: a result */
    } t[] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":20,\"method\":\"no/such/method\"}", 20, LSP_METHOD_NOT_FOUND},
        {"{\"jsonrpc\":\"2.0\",\"id\":21,\"method\":\"$/unknownRequest\"}", 21, LSP_METHOD_NOT_FOUND},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"no/such/notification\"}", 0, -1},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"$/setTrace\",\"params\":{\"value\":\"off\"}}", 0, -1},
        {"{\"jsonrpc\":\"2.0\",\"id\":77,\"result\":null}", 0, -1},
        {"{\"jsonrpc\":\"2.0\",\"id\":1", -1, LSP_PARSE_ERROR},
        {"not json", -1, LSP_PARSE_ERROR},
        {"[{\"jsonrpc\":\"2.0\",\"id\":22,\"method\":\"shutdown\"}]", -1, LSP_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":23,\"method\":7}", 23, LSP_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":24,\"method\":\"shutdown\",\"params\":\"x\"}", 24, LSP_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"method\":5}", -1, LSP_INVALID_REQUEST},
        {"{\"jsonrpc\":\"2.0\",\"id\":25,\"method\":\"textDocument/completion\",\"params\":{}}", 25, LSP_INVALID_PARAMS},
        {"{\"jsonrpc\":\"2.0\",\"id\":26,\"method\":\"textDocument/inlineCompletion\",\"params\":"
         "{\"textDocument\":{\"uri\":\"file:///a\"},\"position\":{\"line\":-1,\"character\":0}}}", 26, LSP_INVALID_PARAMS},
        {"{\"jsonrpc\":\"2.0\",\"id\":27,\"method\":\"textDocument/completion\",\"params\":[1]}", 27, LSP_INVALID_PARAMS},
        {"{\"jsonrpc\":\"2.0\",\"id\":28,\"method\":\"textDocument/codeAction\",\"params\":"
         "{\"textDocument\":{\"uri\":\"file:///a\"}}}", 28, LSP_INVALID_PARAMS},
        {"{\"jsonrpc\":\"2.0\",\"id\":29,\"method\":\"textDocument/codeAction\",\"params\":"
         "{\"textDocument\":{\"uri\":\"file:///a\"},\"range\":{\"start\":{\"line\":0,\"character\":0},"
         "\"end\":{\"line\":0,\"character\":0}},\"context\":{\"diagnostics\":[]}}}", 29, 0},
        {"{\"jsonrpc\":\"2.0\",\"id\":30,\"method\":\"workspace/executeCommand\",\"params\":{}}", 30, LSP_INVALID_PARAMS},
        {"{\"jsonrpc\":\"2.0\",\"id\":31,\"method\":\"workspace/executeCommand\",\"params\":{\"command\":\"rm\"}}", 31, LSP_INVALID_PARAMS},
        {"{\"jsonrpc\":\"2.0\",\"id\":32,\"method\":\"workspace/executeCommand\",\"params\":{\"command\":\"seekd.explain\"}}", 32, LSP_REQUEST_FAILED},
        {"{\"jsonrpc\":\"2.0\",\"id\":33,\"method\":\"seekd/parse\",\"params\":{\"languageId\":\"cobol\",\"text\":\"\"}}", 33, LSP_INVALID_PARAMS},
        {"{\"jsonrpc\":\"2.0\",\"id\":34,\"method\":\"seekd/parse\",\"params\":{\"languageId\":\"c\"}}", 34, LSP_INVALID_PARAMS},
        {"{\"jsonrpc\":\"2.0\",\"id\":35,\"method\":\"seekd/parse\",\"params\":{\"languageId\":\"c\",\"text\":\"a\\u0000b\"}}", 35, LSP_INVALID_PARAMS},
        {"{\"jsonrpc\":\"2.0\",\"id\":36,\"method\":\"seekd/syntaxTree\",\"params\":{\"textDocument\":{\"uri\":\"file:///nope\"}}}", 36, LSP_INVALID_PARAMS},
        {"{\"jsonrpc\":\"2.0\",\"id\":37,\"method\":\"seekd/syntaxTree\",\"params\":{}}", 37, LSP_INVALID_PARAMS},
        {"{\"jsonrpc\":\"2.0\",\"id\":38,\"method\":\"seekd/parse\",\"params\":{\"languageId\":\"c\",\"text\":\"int x;\"}}", 38, 0},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":999}}", 0, -1},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{}}", 0, -1},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{}}", 0, -1},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{\"textDocument\":{}}}", 0, -1},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didClose\",\"params\":{\"textDocument\":{\"uri\":\"file:///x\"}}}", 0, -1},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didSave\",\"params\":{\"textDocument\":{\"uri\":\"file:///x\"}}}", 0, -1},
    };
    dmn_session *s = sess_new();
    init(s, NULL);
    for (size_t i = 0; i < SK_ARRAY_LEN(t); i++) {
        size_t before = out.n;
        size_t n;
        char *f = lsp_frame_encode(t[i].body, strlen(t[i].body), &n);
        ASSERT_EQ(dmn_session_feed(s, f, n), 0);
        sk_free(f);
        dmn_session_poll(s);
        if (t[i].code == -1) {
            ASSERT_MSG(out.n == before, "case %zu (%s): unexpected answer %s", i, t[i].body,
                       out.msg[before]);
            continue;
        }
        ASSERT_MSG(out.n == before + 1, "case %zu (%s): %zu answers", i, t[i].body, out.n - before);
        expect_code(t[i].id, t[i].code);
    }
    dmn_session_delete(s);
    out_reset();
}

/* ---- documents and edits ------------------------------------------------------------------ */

struct change {
    int l0, c0, l1, c1; /* l0 < 0: full text */
    const char *text;
};
static const struct ecase {
    const char *name, *enc; /* enc: offered encodings */
    const char *lang, *initial;
    struct change ch[4];
    const char *want;
} ecases[] = {
    {"insert at start", NULL, "c", "int x;\n", {{0, 0, 0, 0, "/*a*/"}}, "/*a*/int x;\n"},
    {"insert at end of line", NULL, "c", "int x;\n", {{0, 6, 0, 6, " int y;"}}, "int x; int y;\n"},
    {"insert at end of text", NULL, "c", "int x;\n", {{1, 0, 1, 0, "long z;"}}, "int x;\nlong z;"},
    {"replace across lines", NULL, "c", "int a;\nint b;\nint c;\n", {{0, 4, 2, 3, "q; char"}},
     "int q; char c;\n"},
    {"delete everything", NULL, "python", "x = 1\ny = 2\n", {{0, 0, 2, 0, ""}}, ""},
    {"several changes in order", NULL, "c", "int a;\n",
     {{0, 4, 0, 5, "bb"}, {0, 7, 0, 7, " int c;"}, {1, 0, 1, 0, "int d;"}},
     "int bb; int c;\nint d;"},
    {"full then incremental", NULL, "python", "old\n",
     {{-1, 0, 0, 0, "def f():\n    pass\n"}, {1, 4, 1, 8, "return 1"}},
     "def f():\n    return 1\n"},
    /* "a😀b": 😀 is utf-16 characters 1..2, utf-8 bytes 1..4 */
    {"astral utf-16", NULL, "javascript", "s=\"a\xf0\x9f\x98\x80" "b\";", {{0, 4, 0, 6, "X"}}, "s=\"aXb\";"},
    {"astral utf-8", "[\"utf-8\"]", "javascript", "s=\"a\xf0\x9f\x98\x80" "b\";", {{0, 4, 0, 8, "X"}}, "s=\"aXb\";"},
    {"inside a surrogate pair snaps back", NULL, "javascript", "s=\"a\xf0\x9f\x98\x80" "b\";",
     {{0, 5, 0, 5, "Z"}}, "s=\"aZ\xf0\x9f\x98\x80" "b\";"},
    {"after astral utf-16", NULL, "javascript", "s=\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\";x=1;",
     {{0, 9, 0, 10, "y"}}, "s=\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\";y=1;"},
    {"BMP multibyte utf-16", NULL, "python", "s = '\xc3\xa9\xe2\x82\xac'\n", {{0, 6, 0, 7, "$"}},
     "s = '\xc3\xa9$'\n"},
    {"insert astral", NULL, "python", "s = ''\n", {{0, 5, 0, 5, "\xf0\x9f\x8e\x89"}, {0, 7, 0, 7, "!"}},
     "s = '\xf0\x9f\x8e\x89!'\n"},
    {"CRLF: line 1 starts after \\r\\n", NULL, "c", "int a;\r\nint b;\r\n", {{1, 4, 1, 5, "c"}},
     "int a;\r\nint c;\r\n"},
    {"CRLF: past line end clamps before \\r", NULL, "c", "int a;\r\nint b;\r\n", {{0, 99, 0, 99, "//"}},
     "int a;//\r\nint b;\r\n"},
    {"CRLF: join lines", NULL, "c", "int a;\r\nint b;\r\n", {{0, 6, 1, 0, " "}}, "int a; int b;\r\n"},
    {"lone CR is a line break", NULL, "c", "int a;\rint b;\r", {{1, 4, 1, 5, "z"}}, "int a;\rint z;\r"},
    {"past line end clamps", NULL, "python", "x = 1\ny = 2\n", {{0, 1000, 0, 1000, " + 1"}},
     "x = 1 + 1\ny = 2\n"},
    {"line past the end means end of text", NULL, "python", "x = 1\n", {{50, 3, 60, 0, "y = 2\n"}},
     "x = 1\ny = 2\n"},
    {"start after end is swapped", NULL, "c", "int abc;\n", {{0, 7, 0, 4, "x"}}, "int x;\n"},
    {"rust", NULL, "rust", "fn main() {}\n", {{0, 11, 0, 11, " let x = 1; "}}, "fn main() { let x = 1; }\n"},
    {"go", NULL, "go", "package main\n", {{1, 0, 1, 0, "func f() {}\n"}}, "package main\nfunc f() {}\n"},
};

TEST(dmn_session_edits)
{
    for (size_t i = 0; i < SK_ARRAY_LEN(ecases); i++) {
        const struct ecase *c = &ecases[i];
        dmn_session *s = sess_new();
        init(s, c->enc);
        open_doc(s, "file:///t/doc", c->lang, c->initial);
        expect_doc(s, "file:///t/doc", c->lang, c->initial, c->name);
        /* all changes in one notification */
        char body[4096];
        int n = snprintf(body, sizeof body,
                         "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{"
                         "\"textDocument\":{\"uri\":\"file:///t/doc\",\"version\":%d},"
                         "\"contentChanges\":[", 7);
        for (int k = 0; k < 4 && c->ch[k].text; k++) {
            const struct change *ch = &c->ch[k];
            char *t = jstr(ch->text);
            if (ch->l0 < 0)
                n += snprintf(body + n, sizeof body - (size_t)n, "%s{\"text\":%s}", k ? "," : "", t);
            else
                n += snprintf(body + n, sizeof body - (size_t)n,
                              "%s{\"range\":{\"start\":{\"line\":%d,\"character\":%d},\"end\":"
                              "{\"line\":%d,\"character\":%d}},\"text\":%s}",
                              k ? "," : "", ch->l0, ch->c0, ch->l1, ch->c1, t);
            free(t);
        }
        snprintf(body + n, sizeof body - (size_t)n, "]}}");
        sendf(s, "%s", body);
        ASSERT_EQ(out_left(), 0);
        expect_doc(s, "file:///t/doc", c->lang, c->want, c->name);
        cJSON *r = syntax_tree(s, "file:///t/doc");
        ASSERT_EQ(cJSON_GetObjectItemCaseSensitive(r, "version")->valueint, 7);
        cJSON_Delete(r);
        dmn_session_delete(s);
    }
    out_reset();
}

/* Changes that cannot be applied exactly drop the document instead of keeping wrong text. */
TEST(dmn_session_bad_changes_drop_the_document)
{
    static const char *bad[] = {
        "[{\"range\":{\"start\":{\"line\":0,\"character\":0}},\"text\":\"x\"}]", /* no end */
        "[{\"range\":{\"start\":{\"line\":0,\"character\":0},\"end\":{\"line\":0,\"character\":1}}}]", /* no text */
        "[{\"text\":\"ok\"},{\"text\":5}]", /* second change bad: the first is not applied either */
        "{\"text\":\"x\"}",                /* not an array */
        "[{\"text\":\"a\\u0000b\"}]",       /* NUL */
        "[{\"range\":{\"start\":{\"line\":0,\"character\":-4},\"end\":{\"line\":0,\"character\":1}},\"text\":\"\"}]",
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(bad); i++) {
        dmn_session *s = sess_new();
        init(s, NULL);
        open_doc(s, "file:///d.c", "c", "int x;\n");
        open_doc(s, "file:///other.c", "c", "int y;\n");
        sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{"
                 "\"textDocument\":{\"uri\":\"file:///d.c\",\"version\":2},\"contentChanges\":%s}}",
              bad[i]);
        ASSERT_EQ(out_left(), 0);
        ASSERT_MSG(syntax_tree(s, "file:///d.c") == NULL, "case %zu kept the document", i);
        expect_doc(s, "file:///other.c", "c", "int y;\n", "untouched document");
        dmn_session_delete(s);
    }
    /* didOpen with a NUL: not tracked */
    dmn_session *s = sess_new();
    init(s, NULL);
    open_doc(s, "file:///n.c", "c", "int x;\n");
    sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{\"textDocument\":"
             "{\"uri\":\"file:///n.c\",\"languageId\":\"c\",\"version\":3,\"text\":\"a\\u0000\"}}}");
    ASSERT(syntax_tree(s, "file:///n.c") == NULL);
    dmn_session_delete(s);
    out_reset();
}

TEST(dmn_session_documents_lifecycle)
{
    dmn_session *s = sess_new();
    init(s, NULL);
    open_doc(s, "file:///a.py", "python", "x = 1\n");
    open_doc(s, "file:///b.unknownlang", "plaintext", "hello\n");
    open_doc(s, "file:///c.rs", "no-such-language-id", "fn f() {}\n"); /* by extension */
    cJSON *r = syntax_tree(s, "file:///b.unknownlang");
    ASSERT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "sexp")));
    ASSERT_STR_EQ(str_at(r, "text"), "hello\n");
    cJSON_Delete(r);
    r = syntax_tree(s, "file:///c.rs");
    ASSERT_STR_EQ(str_at(r, "languageId"), "rust");
    cJSON_Delete(r);
    /* re-open replaces */
    open_doc(s, "file:///a.py", "python", "y = 2\n");
    expect_doc(s, "file:///a.py", "python", "y = 2\n", "reopened");
    /* versions: an old version is still applied */
    sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{\"textDocument\":"
             "{\"uri\":\"file:///a.py\",\"version\":0},\"contentChanges\":[{\"text\":\"z = 3\\n\"}]}}");
    expect_doc(s, "file:///a.py", "python", "z = 3\n", "old version applied");
    r = syntax_tree(s, "file:///a.py");
    ASSERT_EQ(cJSON_GetObjectItemCaseSensitive(r, "version")->valueint, 0);
    cJSON_Delete(r);
    ASSERT(dmn_session_doc(s, "file:///a.py") != NULL);
    sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didSave\",\"params\":{\"textDocument\":{\"uri\":\"file:///a.py\"}}}");
    sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didClose\",\"params\":{\"textDocument\":{\"uri\":\"file:///a.py\"}}}");
    ASSERT(dmn_session_doc(s, "file:///a.py") == NULL);
    ASSERT(syntax_tree(s, "file:///a.py") == NULL);
    ASSERT(dmn_session_doc(s, "file:///c.rs") != NULL);
    ASSERT_EQ(out_left(), 0);
    dmn_session_delete(s);
    out_reset();
}

/* A parse budget far below what the file needs: didChange returns at once, dmn_session_poll
 * keeps reporting work until the resumed parse completes, and the tree then equals a fresh
 * parse. */
TEST(dmn_session_parse_is_bounded)
{
    size_t cap = 1 << 20, n = 0;
    char *text = malloc(cap);
    for (int i = 0; n + 200 < cap; i++)
        n += (size_t)snprintf(text + n, cap - n, "int f%d(int a, int b) { return a * %d + b; }\n", i, i);
    dmn_session *s = sess_new_opts((dmn_session_opts){.parse_timeout_us = 2000});
    init(s, NULL);
    open_doc(s, "file:///big.c", "c", text);
    sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{\"textDocument\":"
             "{\"uri\":\"file:///big.c\",\"version\":2},\"contentChanges\":[{\"range\":{\"start\":"
             "{\"line\":0,\"character\":0},\"end\":{\"line\":0,\"character\":0}},\"text\":\"int {\"}]}}");
    int polls = 0;
    while (dmn_session_poll(s))
        polls++;
    ASSERT_GT(polls, 0);
    ASSERT(ctx_doc_parsed(dmn_session_doc(s, "file:///big.c")));
    ASSERT_EQ(out_left(), 0);
    dmn_session_delete(s);
    free(text);
    out_reset();
}

/* ---- requests: cancellation and superseding ----------------------------------------------- */

static void complete(dmn_session *s, int id, const char *method, const char *uri)
{
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":{\"textDocument\":"
             "{\"uri\":\"%s\"},\"position\":{\"line\":0,\"character\":1}}}", id, method, uri);
}
#define INLINE "textDocument/inlineCompletion"
#define COMPL "textDocument/completion"

TEST(dmn_session_cancellation)
{
    dmn_session *s = sess_new();
    init(s, NULL);
    open_doc(s, "file:///a.c", "c", "int a;\n");
    open_doc(s, "file:///b.c", "c", "int b;\n");
    /* two inline requests for a.c: the first is superseded at once */
    complete(s, 40, INLINE, "file:///a.c");
    ASSERT_EQ(out_left(), 0);
    complete(s, 41, INLINE, "file:///a.c");
    expect_code(40, LSP_REQUEST_CANCELLED);
    /* other method, other document: independent */
    complete(s, 42, COMPL, "file:///a.c");
    complete(s, 43, INLINE, "file:///b.c");
    ASSERT_EQ(out_left(), 0);
    ASSERT_EQ(dmn_session_pending(s), 3);
    /* $/cancelRequest of a queued request: answered -32800 at once; unknown ids: nothing */
    sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":43}}");
    expect_code(43, LSP_REQUEST_CANCELLED);
    sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":43}}");
    sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":\"43\"}}");
    ASSERT_EQ(out_left(), 0);
    /* a reused id of a pending request is refused */
    complete(s, 42, COMPL, "file:///b.c");
    expect_code(42, LSP_INVALID_REQUEST);
    /* poll answers the survivors with empty lists, in arrival order */
    ASSERT_EQ(dmn_session_poll(s), 0);
    cJSON *r = expect_response(41, 0);
    ASSERT_EQ(cJSON_GetArraySize(at(r, "result.items")), 0);
    ASSERT(at(r, "result.isIncomplete") == NULL);
    cJSON_Delete(r);
    r = expect_response(42, 0);
    ASSERT_EQ(cJSON_GetArraySize(at(r, "result.items")), 0);
    ASSERT(cJSON_IsFalse(at(r, "result.isIncomplete")));
    cJSON_Delete(r);
    ASSERT_EQ(out_left(), 0);
    ASSERT_EQ(dmn_session_pending(s), 0);
    /* string ids */
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":\"" INLINE "\",\"params\":{\"textDocument\":"
             "{\"uri\":\"file:///a.c\"},\"position\":{\"line\":0,\"character\":0}}}");
    sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":\"s1\"}}");
    r = take();
    ASSERT_STR_EQ(str_at(r, "id"), "s1");
    ASSERT_EQ(at(r, "error.code")->valueint, LSP_REQUEST_CANCELLED);
    cJSON_Delete(r);
    /* didClose cancels that document's requests */
    complete(s, 50, INLINE, "file:///b.c");
    complete(s, 51, INLINE, "file:///a.c");
    sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didClose\",\"params\":{\"textDocument\":{\"uri\":\"file:///b.c\"}}}");
    expect_code(50, LSP_REQUEST_CANCELLED);
    ASSERT_EQ(out_left(), 0);
    /* shutdown cancels what is still queued, then answers */
    complete(s, 52, COMPL, "file:///a.c");
    sendf(s, "{\"jsonrpc\":\"2.0\",\"id\":53,\"method\":\"shutdown\"}");
    expect_code(51, LSP_REQUEST_CANCELLED);
    expect_code(52, LSP_REQUEST_CANCELLED);
    expect_code(53, 0);
    ASSERT_EQ(dmn_session_pending(s), 0);
    dmn_session_delete(s);
    out_reset();
}

/* A start callback that takes requests, as the completion pipeline will. */
static dmn_req *taken[8];
static int ntaken;
static int take_all(void *ud, dmn_session *s, dmn_req *q)
{
    (void)ud, (void)s;
    taken[ntaken++] = q;
    return 0;
}

TEST(dmn_session_running_requests)
{
    ntaken = 0;
    dmn_session *s = sess_new_opts((dmn_session_opts){.start = take_all});
    init(s, NULL);
    complete(s, 60, INLINE, "file:///a.c");
    complete(s, 61, COMPL, "file:///a.c");
    ASSERT_EQ(dmn_session_poll(s), 0);
    ASSERT_EQ(ntaken, 2);
    ASSERT(taken[0]->running && taken[1]->running);
    ASSERT_EQ(out_left(), 0);
    /* cancelling a running request only flags it: the worker's answer becomes -32800 */
    sendf(s, "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":60}}");
    ASSERT_EQ(out_left(), 0);
    ASSERT(taken[0]->cancelled);
    ASSERT(!taken[1]->cancelled);
    /* a newer request supersedes a running one the same way */
    complete(s, 62, COMPL, "file:///a.c");
    ASSERT(taken[1]->cancelled);
    ASSERT_EQ(out_left(), 0);
    dmn_session_reply(s, taken[0], cJSON_CreateString("late"));
    expect_code(60, LSP_REQUEST_CANCELLED);
    dmn_session_reply_error(s, taken[1], LSP_INTERNAL_ERROR, "boom");
    expect_code(61, LSP_REQUEST_CANCELLED);
    ASSERT_EQ(dmn_session_poll(s), 0);
    ASSERT_EQ(ntaken, 3);
    cJSON *items = cJSON_CreateObject();
    cJSON_AddItemToObject(items, "items", cJSON_CreateArray());
    dmn_session_reply(s, taken[2], items);
    cJSON *r = expect_response(62, 0);
    ASSERT(cJSON_IsArray(at(r, "result.items")));
    cJSON_Delete(r);
    ASSERT_EQ(dmn_session_pending(s), 0);
    dmn_session_delete(s);
    out_reset();
}

/* ---- memory ------------------------------------------------------------------------------- */

/* A whole session.  lang "python" or "plaintext" (tree-sitter aborts when its allocations fail,
 * so the failure-injection run keeps to documents without a parser). */
static void script(dmn_session *s, const char *lang)
{
    const char *bodies[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"capabilities\":{\"general\":{\"positionEncodings\":[\"utf-16\"]}}}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{\"textDocument\":{\"uri\":\"file:///m.%EXT%\",\"languageId\":\"%LANG%\",\"version\":1,\"text\":\"def f(x):\\n    return x\\n\"}}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{\"textDocument\":{\"uri\":\"file:///m.%EXT%\",\"version\":2},\"contentChanges\":[{\"range\":{\"start\":{\"line\":1,\"character\":11},\"end\":{\"line\":1,\"character\":12}},\"text\":\"x + \\ud83d\\ude00\"}]}}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"textDocument/inlineCompletion\",\"params\":{\"textDocument\":{\"uri\":\"file:///m.%EXT%\"},\"position\":{\"line\":1,\"character\":3}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"textDocument/inlineCompletion\",\"params\":{\"textDocument\":{\"uri\":\"file:///m.%EXT%\"},\"position\":{\"line\":1,\"character\":4}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"seekd/syntaxTree\",\"params\":{\"textDocument\":{\"uri\":\"file:///m.%EXT%\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"seekd/parse\",\"params\":{\"languageId\":\"%LANG%\",\"text\":\"x = 1\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"no/such\"}",
        "garbage",
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"textDocument/completion\",\"params\":{\"textDocument\":{\"uri\":\"file:///m.%EXT%\"},\"position\":{\"line\":0,\"character\":0}}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":7}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didClose\",\"params\":{\"textDocument\":{\"uri\":\"file:///m.%EXT%\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"shutdown\"}",
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(bodies); i++) {
        char body[1024];
        /* substitute %LANG% and %EXT% */
        const char *src = bodies[i];
        size_t o = 0;
        while (*src && o + 32 < sizeof body) {
            if (!strncmp(src, "%LANG%", 6)) {
                o += (size_t)snprintf(body + o, sizeof body - o, "%s", lang);
                src += 6;
            } else if (!strncmp(src, "%EXT%", 5)) {
                o += (size_t)snprintf(body + o, sizeof body - o, "%s", strcmp(lang, "python") ? "txt" : "py");
                src += 5;
            } else
                body[o++] = *src++;
        }
        body[o] = 0;
        size_t n;
        char *f = lsp_frame_encode(body, strlen(body), &n);
        if (f) {
            dmn_session_feed(s, f, n);
            sk_free(f);
        }
        dmn_session_poll(s);
    }
}

TEST(dmn_session_memory_returns_to_baseline)
{
    size_t live = sk_alloc_live_bytes();
    dmn_session *s = sess_new();
    script(s, "python");
    ASSERT_EQ(out.n, 9); /* 1,4,5,6,garbage,2(cancelled),3,7(cancelled),8 */
    dmn_session_delete(s);
    ASSERT_EQ(sk_alloc_live_bytes(), live);
    out_reset();
}

TEST(dmn_session_alloc_failures)
{
    /* The clean run's output, to know when k is large enough that nothing failed. */
    dmn_session *s0 = sess_new();
    script(s0, "plaintext");
    dmn_session_delete(s0);
    size_t clean_n = out.n;
    char *clean[MAXOUT];
    for (size_t i = 0; i < out.n; i++)
        clean[i] = strdup(out.msg[i]);
    out_reset();
    ASSERT_EQ(clean_n, 9);
    long k;
    for (k = 0; k < 5000; k++) {
        size_t live = sk_alloc_live_bytes();
        dmn_session_opts o = {.send = capture};
        dmn_session *s;
        sk_alloc_fail_after(k);
        if (dmn_session_new(&o, &s) == 0) {
            script(s, "plaintext");
            dmn_session_delete(s);
        }
        sk_alloc_fail_after(-1);
        ASSERT_MSG(sk_alloc_live_bytes() == live, "leak after failing allocation %ld: %zu bytes", k,
                   sk_alloc_live_bytes() - live);
        int same = out.n == clean_n;
        for (size_t i = 0; same && i < out.n; i++)
            same = !strcmp(out.msg[i], clean[i]);
        out_reset();
        if (same)
            break;
    }
    ASSERT_LT(k, 5000);
    ASSERT_GT(k, 50);
    for (size_t i = 0; i < clean_n; i++)
        free(clean[i]);
}

/* The same byte stream cut anywhere gives the same answers: the whole stream at once, one byte
 * at a time, and random chunks, each followed by a single poll at the end. */
TEST(dmn_session_chunking_invariant)
{
    static const char *bodies[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"capabilities\":{}}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{\"textDocument\":{\"uri\":\"file:///c.c\",\"languageId\":\"c\",\"version\":1,\"text\":\"int main(void) {\\r\\n  return 0;\\n}\\n\"}}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{\"textDocument\":{\"uri\":\"file:///c.c\",\"version\":2},\"contentChanges\":[{\"range\":{\"start\":{\"line\":1,\"character\":9},\"end\":{\"line\":1,\"character\":10}},\"text\":\"'\\u00e9' + \\ud83d\\ude00\"}]}}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"textDocument/inlineCompletion\",\"params\":{\"textDocument\":{\"uri\":\"file:///c.c\"},\"position\":{\"line\":1,\"character\":3}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"textDocument/inlineCompletion\",\"params\":{\"textDocument\":{\"uri\":\"file:///c.c\"},\"position\":{\"line\":1,\"character\":4}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"seekd/syntaxTree\",\"params\":{\"textDocument\":{\"uri\":\"file:///c.c\"}}}",
        "not json at all",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"textDocument/completion\",\"params\":{\"textDocument\":{\"uri\":\"file:///c.c\"},\"position\":{\"line\":0,\"character\":0}}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"$/cancelRequest\",\"params\":{\"id\":5}}",
        "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"textDocument/completion\",\"params\":{\"textDocument\":{\"uri\":\"file:///c.c\"},\"position\":{\"line\":0,\"character\":1}}}",
    };
    size_t total = 0;
    char *stream = NULL;
    for (size_t i = 0; i < SK_ARRAY_LEN(bodies); i++) {
        size_t n;
        char *f = lsp_frame_encode(bodies[i], strlen(bodies[i]), &n);
        stream = realloc(stream, total + n + 2);
        memcpy(stream + total, f, n);
        total += n;
        if (i % 3 == 0) /* stray line ends between some messages */
            stream[total++] = '\n';
        sk_free(f);
    }
    char *want[MAXOUT];
    size_t nwant = 0;
    uint64_t seed = 5;
    for (int mode = 0; mode < 3; mode++) {
        dmn_session *s = sess_new();
        for (size_t off = 0; off < total;) {
            size_t c = total - off;
            if (mode == 1)
                c = 1;
            else if (mode == 2) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                c = SK_MIN(c, 1 + (size_t)(seed >> 33) % 40);
            }
            ASSERT_EQ(dmn_session_feed(s, stream + off, c), 0);
            off += c;
        }
        while (dmn_session_poll(s))
            ;
        if (mode == 0) {
            ASSERT_EQ(out.n, 7); /* 1, 2 superseded, 4, parse error, 5 cancelled, 3, 6 */
            for (size_t i = 0; i < out.n; i++)
                want[i] = strdup(out.msg[i]);
            nwant = out.n;
        } else {
            ASSERT_EQ(out.n, nwant);
            for (size_t i = 0; i < nwant; i++)
                ASSERT_STR_EQ(out.msg[i], want[i]);
        }
        dmn_session_delete(s);
        out_reset();
    }
    for (size_t i = 0; i < nwant; i++)
        free(want[i]);
    free(stream);
}

/* dmn_doc_position and dmn_doc_offset are inverse on code point boundaries outside line
 * terminators, in every encoding; other offsets map to the boundary before them. */
TEST(dmn_doc_position_roundtrip)
{
    const char *text = "a\xc3\xa9\xf0\x9f\x98\x80z\r\n\r\nx\ry\n\xe2\x82\xac\xff" "b\r";
    size_t n = strlen(text);
    ctx_doc *d;
    ASSERT_EQ(ctx_doc_new("file:///p.txt", CTX_LANG_NONE, text, n, 1, &d), 0);
    for (int e = 0; e < 3; e++) {
        enum lsp_enc enc = (enum lsp_enc)e;
        for (size_t off = 0; off <= n + 2; off++) {
            lsp_position p = dmn_doc_position(d, off, enc);
            size_t back = dmn_doc_offset(d, p, enc);
            size_t o = off > n ? n : off;
            /* the expected boundary: back up over continuation bytes of a valid sequence and
             * out of a line terminator */
            size_t want = o;
            if (o < n && o > 0) {
                if (text[o] == '\n' && text[o - 1] == '\r')
                    want = o - 1;
                else if (o >= 1 && (unsigned char)text[o] >= 0x80 && (unsigned char)text[o] < 0xc0 &&
                         (unsigned char)text[o] != 0xff) {
                    size_t k = o;
                    while (k > 0 && ((unsigned char)text[k] & 0xc0) == 0x80)
                        k--;
                    want = k;
                }
            }
            ASSERT_MSG(back == want, "%s: offset %zu -> (%u,%u) -> %zu, want %zu", lsp_enc_name(enc),
                       off, p.line, p.character, back, want);
        }
    }
    /* spot values in utf-16: line 0 is "aé😀z" */
    lsp_position p = dmn_doc_position(d, 7, LSP_ENC_UTF16); /* the z */
    ASSERT_EQ(p.line, 0);
    ASSERT_EQ(p.character, 4);
    p = dmn_doc_position(d, 9, LSP_ENC_UTF16); /* inside the first \r\n */
    ASSERT_EQ(p.line, 0);
    ASSERT_EQ(p.character, 5);
    p = dmn_doc_position(d, n, LSP_ENC_UTF16); /* after the final lone \r: an empty last line */
    ASSERT_EQ(p.line, 5);
    ASSERT_EQ(p.character, 0);
    p = dmn_doc_position(d, n - 2, LSP_ENC_UTF16); /* the b after an invalid byte: "€", 0xff */
    ASSERT_EQ(p.line, 4);
    ASSERT_EQ(p.character, 2);
    ctx_doc_delete(d);
}
