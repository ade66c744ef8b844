/*
 * The LSP session (contract in session.h): lifecycle, dispatch, documents, the request registry
 * and the debug requests.  Pure logic on lsp/ and context/; no I/O besides the send callback.
 *
 * Workload: a keystroke produces a didChange and, a few milliseconds later, one or two
 * completion requests; bursts of them arrive in one read when the loop was busy.  So the session
 * applies every message of a read first (edits, cancellations, superseding requests) and only
 * then reparses once and starts the surviving requests, from dmn_session_poll.
 *
 * Protocol decisions (where the spec leaves room):
 *   - An invalid didChange (bad range, missing text), a change that cannot be applied, or a text
 *     holding a NUL character (cJSON strings stop at NUL) makes the document unknown: we drop it
 *     and log an error rather than keep text that differs from the editor's.  Requests on it are
 *     answered as for an unopened document.
 *   - A range with start after end is applied as if swapped; a line past the last line means the
 *     end of the text (characters past a line's end mean the line's end, as the spec says).
 *   - A didChange whose version is not above the current one is applied (the edits are what the
 *     editor has) and logged.
 *   - initialize twice: -32600.  Requests queued at shutdown are answered -32800.
 */
#include "daemon/session.h"

#include "base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_PARSE_TIMEOUT_US 50000u

enum st { ST_NEW, ST_RUNNING, ST_SHUTDOWN, ST_EXITED };

struct doc_entry {
    uint64_t hash;
    ctx_doc *doc;
    int unparsed; /* the text changed and the tree has not caught up yet */
    int checked;  /* dmn__session_check passed and nothing changed since */
};

struct dmn_session {
    dmn_session_opts o;
    lsp_reader rd;
    enum st st;
    int exit_code;
    int initialized; /* the initialized notification arrived */
    enum lsp_enc enc;
    struct doc_entry *docs;
    size_t ndocs, capdocs;
    dmn_req *head, *tail;
    size_t nreq;
    uint64_t seq;
    int told_no_model;
};

/* ---- output ------------------------------------------------------------------------------- */

static void send_msg(dmn_session *s, cJSON *msg)
{
    if (!msg) {
        SK_ERROR("lsp: out of memory building a message");
        return;
    }
    size_t n;
    char *json = lsp_print(msg, &n);
    cJSON_Delete(msg);
    if (!json) {
        SK_ERROR("lsp: out of memory printing a message");
        return;
    }
    if (s->o.send)
        s->o.send(s->o.send_ud, json, n);
    cJSON_free(json);
}

static void reply(dmn_session *s, const cJSON *id, cJSON *result)
{
    send_msg(s, lsp_response_new(id, result));
}

static void reply_err(dmn_session *s, const cJSON *id, int code, const char *fmt, ...)
    SK_PRINTF(4, 5);
static void reply_err(dmn_session *s, const cJSON *id, int code, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    SK_DEBUG("lsp: error %d: %s", code, buf);
    send_msg(s, lsp_error_new(id, code, buf, NULL));
}

/* cJSON_AddItemToObject leaves the item to the caller when it fails (allocation of the key). */
static void add_item(cJSON *obj, const char *key, cJSON *item)
{
    if (!cJSON_AddItemToObject(obj, key, item))
        cJSON_Delete(item);
}

/* ---- documents ---------------------------------------------------------------------------- */

static uint64_t uri_hash(const char *uri) { return sk_hash64(uri, strlen(uri), 0); }

static struct doc_entry *doc_find(dmn_session *s, const char *uri)
{
    uint64_t h = uri_hash(uri);
    for (size_t i = 0; i < s->ndocs; i++)
        if (s->docs[i].hash == h && !strcmp(ctx_doc_uri(s->docs[i].doc), uri))
            return &s->docs[i];
    return NULL;
}

ctx_doc *dmn_session_doc(dmn_session *s, const char *uri)
{
    struct doc_entry *e = doc_find(s, uri);
    return e ? e->doc : NULL;
}

static void doc_remove(dmn_session *s, struct doc_entry *e)
{
    ctx_doc_delete(e->doc);
    *e = s->docs[--s->ndocs];
}

static int doc_add(dmn_session *s, ctx_doc *doc, int unparsed)
{
    if (s->ndocs == s->capdocs) {
        size_t cap = s->capdocs ? s->capdocs * 2 : 16;
        struct doc_entry *d = sk_realloc(s->docs, cap * sizeof *d);
        if (!d)
            return -ENOMEM;
        s->docs = d;
        s->capdocs = cap;
    }
    s->docs[s->ndocs++] = (struct doc_entry){uri_hash(ctx_doc_uri(doc)), doc, unparsed, 0};
    return 0;
}

size_t dmn_doc_offset(const ctx_doc *doc, lsp_position pos, enum lsp_enc enc)
{
    size_t start, len;
    if (pos.line >= ctx_doc_line_count(doc) || ctx_doc_line(doc, pos.line, &start, &len))
        return ctx_doc_len(doc);
    const char *line = ctx_doc_bytes(doc, start, start + len);
    return start + lsp_char_to_byte(line, len, pos.character, enc);
}

lsp_position dmn_doc_position(const ctx_doc *doc, size_t off, enum lsp_enc enc)
{
    lsp_position pos = {0, 0};
    size_t n = ctx_doc_len(doc), col, start, len;
    if (off > n)
        off = n;
    if (ctx_doc_line_of(doc, off, &pos.line, &col) || ctx_doc_line(doc, pos.line, &start, &len))
        return pos;
    if (col > len)
        col = len; /* inside the terminator */
    pos.character = lsp_byte_to_char(ctx_doc_bytes(doc, start, start + len), len, col, enc);
    return pos;
}

/* One bounded parse slice.  Returns 1 when the document still needs parsing. */
static int parse_slice(dmn_session *s, struct doc_entry *e)
{
    int rc = ctx_doc_parse(e->doc, s->o.parse_timeout_us, NULL);
    if (rc == -ETIMEDOUT || rc == -ECANCELED) {
        SK_DEBUG("lsp: parse of %s cut short after %llu us; continuing later",
                 ctx_doc_uri(e->doc), (unsigned long long)s->o.parse_timeout_us);
        e->unparsed = 1;
        return 1;
    }
    if (rc)
        SK_WARN("lsp: parse of %s failed: %s", ctx_doc_uri(e->doc), strerror(-rc));
    e->unparsed = 0;
    return 0;
}

/* ---- request registry --------------------------------------------------------------------- */

static void req_free(dmn_req *q)
{
    cJSON_Delete(q->id);
    cJSON_Delete(q->params);
    sk_free(q->method);
    sk_free(q->uri);
    sk_free(q);
}

static void req_unlink(dmn_session *s, dmn_req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        s->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        s->tail = q->prev;
    s->nreq--;
}

static dmn_req *req_add(dmn_session *s, const lsp_msg *m, const char *uri)
{
    dmn_req *q = sk_calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->id = cJSON_Duplicate(m->id, 1);
    q->method = sk_strdup(m->method);
    q->uri = uri ? sk_strdup(uri) : NULL;
    q->params = m->params ? cJSON_Duplicate(m->params, 1) : NULL;
    if (!q->id || !q->method || (uri && !q->uri) || (m->params && !q->params)) {
        req_free(q);
        return NULL;
    }
    q->seq = ++s->seq;
    q->prev = s->tail;
    if (s->tail)
        s->tail->next = q;
    else
        s->head = q;
    s->tail = q;
    s->nreq++;
    return q;
}

static dmn_req *req_find(dmn_session *s, const cJSON *id)
{
    for (dmn_req *q = s->head; q; q = q->next)
        if (lsp_id_equal(q->id, id))
            return q;
    return NULL;
}

size_t dmn_session_pending(const dmn_session *s) { return s->nreq; }

void dmn_session_reply(dmn_session *s, dmn_req *q, cJSON *result)
{
    if (__atomic_load_n(&q->cancelled, __ATOMIC_RELAXED)) {
        cJSON_Delete(result);
        send_msg(s, lsp_error_new(q->id, LSP_REQUEST_CANCELLED, "Request cancelled", NULL));
    } else {
        reply(s, q->id, result);
    }
    req_unlink(s, q);
    req_free(q);
}

void dmn_session_reply_error(dmn_session *s, dmn_req *q, int code, const char *message)
{
    if (__atomic_load_n(&q->cancelled, __ATOMIC_RELAXED))
        code = LSP_REQUEST_CANCELLED, message = "Request cancelled";
    send_msg(s, lsp_error_new(q->id, code, message, NULL));
    req_unlink(s, q);
    req_free(q);
}

/* Cancels q: a queued request is answered -32800 now; a running one is flagged and its worker
 * answers (dmn_session_reply turns the answer into -32800). */
static void req_cancel(dmn_session *s, dmn_req *q, const char *why)
{
    if (q->cancelled)
        return;
    __atomic_store_n(&q->cancelled, 1, __ATOMIC_RELAXED);
    SK_DEBUG("lsp: %s request %s cancelled (%s)", q->method, q->running ? "running" : "queued",
             why);
    if (!q->running)
        dmn_session_reply(s, q, NULL);
}

/* The answer when no model takes a completion request.  Until the completion pipeline is
 * configured (a later issue), this is all a completion request gets: an honest empty list. */
static cJSON *empty_result(const char *method)
{
    cJSON *r = cJSON_CreateObject();
    if (r && !strcmp(method, "textDocument/completion"))
        cJSON_AddFalseToObject(r, "isIncomplete");
    if (r)
        add_item(r, "items", cJSON_CreateArray());
    return r;
}

/* ---- lifecycle requests ------------------------------------------------------------------- */

static void h_initialize(dmn_session *s, const lsp_msg *m)
{
    if (s->st != ST_NEW) {
        reply_err(s, m->id, LSP_INVALID_REQUEST, "initialize may be sent only once");
        return;
    }
    if (!cJSON_IsObject(m->params)) {
        reply_err(s, m->id, LSP_INVALID_PARAMS, "initialize: params must be an object");
        return;
    }
    /* Position encoding: utf-8 when the client offers it (no conversion at all on our side),
     * else the mandatory utf-16. */
    enum lsp_enc enc = LSP_ENC_UTF16;
    const cJSON *caps = cJSON_GetObjectItemCaseSensitive(m->params, "capabilities");
    const cJSON *general = cJSON_GetObjectItemCaseSensitive(caps, "general");
    const cJSON *encs = cJSON_GetObjectItemCaseSensitive(general, "positionEncodings");
    const cJSON *e, *list = cJSON_IsArray(encs) ? encs : NULL;
    cJSON_ArrayForEach(e, list)
    {
        if (cJSON_IsString(e) && !strcmp(e->valuestring, "utf-8"))
            enc = LSP_ENC_UTF8;
    }

    cJSON *res = cJSON_CreateObject();
    cJSON *c = cJSON_AddObjectToObject(res, "capabilities");
    cJSON_AddStringToObject(c, "positionEncoding", lsp_enc_name(enc));
    cJSON *sync = cJSON_AddObjectToObject(c, "textDocumentSync");
    cJSON_AddTrueToObject(sync, "openClose");
    cJSON_AddNumberToObject(sync, "change", 2); /* incremental */
    cJSON *save = cJSON_AddObjectToObject(sync, "save");
    cJSON_AddFalseToObject(save, "includeText");
    cJSON *comp = cJSON_AddObjectToObject(c, "completionProvider");
    cJSON_AddFalseToObject(comp, "resolveProvider");
    cJSON_AddObjectToObject(c, "inlineCompletionProvider");
    cJSON *exec = cJSON_AddObjectToObject(c, "executeCommandProvider");
    cJSON *cmds = cJSON_AddArrayToObject(exec, "commands");
    cJSON_AddItemToArray(cmds, cJSON_CreateString("seekd.explain"));
    cJSON_AddTrueToObject(c, "codeActionProvider");
    cJSON *info = cJSON_AddObjectToObject(res, "serverInfo");
    cJSON_AddStringToObject(info, "name", "seekd");
    cJSON_AddStringToObject(info, "version", SK_VERSION);
    if (!res || !c || !sync || !save || !comp || !exec || !cmds || !info) {
        cJSON_Delete(res);
        reply_err(s, m->id, LSP_INTERNAL_ERROR, "out of memory");
        return;
    }
    s->enc = enc;
    s->st = ST_RUNNING;
    SK_INFO("lsp: initialized (position encoding %s)", lsp_enc_name(enc));
    reply(s, m->id, res);
}

static void h_shutdown(dmn_session *s, const lsp_msg *m)
{
    s->st = ST_SHUTDOWN;
    for (dmn_req *q = s->head, *next; q; q = next) {
        next = q->next;
        req_cancel(s, q, "shutdown");
    }
    SK_INFO("lsp: shutdown");
    reply(s, m->id, NULL);
}

/* ---- feature requests --------------------------------------------------------------------- */

static void h_complete(dmn_session *s, const lsp_msg *m)
{
    const char *uri;
    lsp_position pos;
    if (lsp_get_text_document(m->params, &uri) ||
        lsp_get_position(cJSON_GetObjectItemCaseSensitive(m->params, "position"), &pos)) {
        reply_err(s, m->id, LSP_INVALID_PARAMS, "%s: expected {textDocument: {uri}, position}",
                  m->method);
        return;
    }
    if (req_find(s, m->id)) {
        reply_err(s, m->id, LSP_INVALID_REQUEST, "%s: id already in use by a pending request",
                  m->method);
        return;
    }
    dmn_req *q = req_add(s, m, uri);
    if (!q) {
        reply_err(s, m->id, LSP_INTERNAL_ERROR, "out of memory");
        return;
    }
    /* A newer request of the same kind for the same document supersedes the older ones. */
    for (dmn_req *o = s->head, *next; o; o = next) {
        next = o->next;
        if (o != q && o->uri && !strcmp(o->method, q->method) && !strcmp(o->uri, uri))
            req_cancel(s, o, "superseded");
    }
}

static void h_code_action(dmn_session *s, const lsp_msg *m)
{
    const char *uri;
    lsp_range r;
    if (lsp_get_text_document(m->params, &uri) ||
        lsp_get_range(cJSON_GetObjectItemCaseSensitive(m->params, "range"), &r)) {
        reply_err(s, m->id, LSP_INVALID_PARAMS, "codeAction: expected {textDocument, range}");
        return;
    }
    /* No code actions exist yet (they come with the explain feature). */
    reply(s, m->id, cJSON_CreateArray());
}

static void h_execute_command(dmn_session *s, const lsp_msg *m)
{
    const char *cmd;
    if (lsp_get_string(m->params, "command", &cmd)) {
        reply_err(s, m->id, LSP_INVALID_PARAMS, "executeCommand: expected {command}");
        return;
    }
    if (strcmp(cmd, "seekd.explain") != 0) {
        reply_err(s, m->id, LSP_INVALID_PARAMS, "unknown command '%.100s'", cmd);
        return;
    }
    reply_err(s, m->id, LSP_REQUEST_FAILED, "seekd.explain needs a model; none is configured");
}

static void h_syntax_tree(dmn_session *s, const lsp_msg *m)
{
    const char *uri;
    if (lsp_get_text_document(m->params, &uri)) {
        reply_err(s, m->id, LSP_INVALID_PARAMS, "seekd/syntaxTree: expected {textDocument: {uri}}");
        return;
    }
    struct doc_entry *e = doc_find(s, uri);
    if (!e) {
        reply_err(s, m->id, LSP_INVALID_PARAMS, "document not open: %.200s", uri);
        return;
    }
    /* A debug request: finish the parse whatever it costs, so the tree matches the text. */
    int rc = ctx_doc_parse(e->doc, 0, NULL);
    if (rc) {
        reply_err(s, m->id, LSP_INTERNAL_ERROR, "parse failed: %s", strerror(-rc));
        return;
    }
    e->unparsed = 0;
    size_t len;
    const char *text = ctx_doc_text(e->doc, &len);
    char *sexp = ctx_doc_sexp(e->doc);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "text", text);
    cJSON_AddNumberToObject(res, "version", (double)ctx_doc_version(e->doc));
    cJSON_AddStringToObject(res, "languageId", ctx_lang_name(ctx_doc_lang(e->doc)));
    add_item(res, "sexp", sexp ? cJSON_CreateString(sexp) : cJSON_CreateNull());
    sk_free(sexp);
    /* The document's self-check: line index and every node's points agree with the text, i.e.
     * the edits given to the tree were right, even where error recovery makes the incremental
     * tree differ from a fresh one.  null when all holds, else what differs. */
    char why[512];
    rc = ctx_doc_check(e->doc, CTX_CHECK_CONSISTENT, why, sizeof why);
    add_item(res, "check", rc ? cJSON_CreateString(rc == -EILSEQ ? why : strerror(-rc))
                              : cJSON_CreateNull());
    reply(s, m->id, res);
}

static void h_parse(dmn_session *s, const lsp_msg *m)
{
    const char *lang_id, *text;
    if (lsp_get_string(m->params, "languageId", &lang_id) ||
        lsp_get_string(m->params, "text", &text)) {
        reply_err(s, m->id, LSP_INVALID_PARAMS, "seekd/parse: expected {languageId, text}");
        return;
    }
    enum ctx_lang lang = ctx_lang_from_id(lang_id);
    if (lang == CTX_LANG_NONE) {
        reply_err(s, m->id, LSP_INVALID_PARAMS, "seekd/parse: no parser for '%.100s'", lang_id);
        return;
    }
    if (m->has_nul) {
        reply_err(s, m->id, LSP_INVALID_PARAMS, "seekd/parse: text with NUL characters");
        return;
    }
    char *sexp = ctx_sexp_fresh(lang, text, strlen(text));
    cJSON *res = cJSON_CreateObject();
    add_item(res, "sexp", sexp ? cJSON_CreateString(sexp) : cJSON_CreateNull());
    sk_free(sexp);
    reply(s, m->id, res);
}

/* ---- notifications ------------------------------------------------------------------------ */

static void n_initialized(dmn_session *s, const lsp_msg *m)
{
    (void)m;
    s->initialized = 1;
}

static void n_cancel(dmn_session *s, const lsp_msg *m)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(m->params, "id");
    if (!cJSON_IsString(id) && !cJSON_IsNumber(id)) {
        SK_WARN("lsp: $/cancelRequest without a valid id");
        return;
    }
    dmn_req *q = req_find(s, id);
    if (q) /* otherwise already answered: nothing to do */
        req_cancel(s, q, "$/cancelRequest");
}

/* Drops a document we can no longer keep in step with the editor, and its queued requests. */
static void doc_drop(dmn_session *s, struct doc_entry *e, const char *why)
{
    SK_ERROR("lsp: dropping %s: %s", ctx_doc_uri(e->doc), why);
    doc_remove(s, e);
}

static void cancel_for_uri(dmn_session *s, const char *uri)
{
    for (dmn_req *q = s->head, *next; q; q = next) {
        next = q->next;
        if (q->uri && !strcmp(q->uri, uri))
            req_cancel(s, q, "document closed");
    }
}

static void n_did_open(dmn_session *s, const lsp_msg *m)
{
    const cJSON *td = cJSON_GetObjectItemCaseSensitive(m->params, "textDocument");
    const char *uri, *lang_id, *text;
    int64_t version;
    if (lsp_get_string(td, "uri", &uri) || !*uri || lsp_get_string(td, "languageId", &lang_id) ||
        lsp_get_int(td, "version", INT64_MIN / 2, INT64_MAX / 2, &version) ||
        lsp_get_string(td, "text", &text)) {
        SK_WARN("lsp: didOpen: expected textDocument {uri, languageId, version, text}");
        return;
    }
    struct doc_entry *old = doc_find(s, uri);
    if (old) {
        SK_WARN("lsp: didOpen of %s, which is already open: replacing it", uri);
        doc_remove(s, old);
    }
    if (m->has_nul) {
        SK_ERROR("lsp: didOpen of %s: the text holds a NUL character, which cannot be kept "
                 "exactly; the document is not tracked", uri);
        return;
    }
    enum ctx_lang lang = ctx_lang_from_id(lang_id);
    if (lang == CTX_LANG_NONE)
        lang = ctx_lang_from_path(uri);
    ctx_doc *doc;
    int rc = ctx_doc_new(uri, lang, text, strlen(text), version, &doc);
    if (rc) {
        SK_ERROR("lsp: didOpen of %s: %s", uri, strerror(-rc));
        return;
    }
    if (doc_add(s, doc, !ctx_doc_parsed(doc))) {
        SK_ERROR("lsp: didOpen of %s: out of memory", uri);
        ctx_doc_delete(doc);
        return;
    }
    SK_DEBUG("lsp: opened %s (%s, version %lld, %zu bytes)", uri, ctx_lang_name(lang),
             (long long)version, strlen(text));
}

static void n_did_change(dmn_session *s, const lsp_msg *m)
{
    const cJSON *td = cJSON_GetObjectItemCaseSensitive(m->params, "textDocument");
    const cJSON *changes = cJSON_GetObjectItemCaseSensitive(m->params, "contentChanges");
    const char *uri;
    if (lsp_get_string(td, "uri", &uri)) {
        SK_WARN("lsp: didChange without textDocument.uri");
        return;
    }
    struct doc_entry *e = doc_find(s, uri);
    if (!e) {
        SK_WARN("lsp: didChange of %s, which is not open", uri);
        return;
    }
    /* Validate everything before touching the text: all changes or none. */
    const cJSON *c, *list = cJSON_IsArray(changes) ? changes : NULL;
    int bad = !list;
    cJSON_ArrayForEach(c, list)
    {
        lsp_range r;
        const char *t;
        const cJSON *range = cJSON_GetObjectItemCaseSensitive(c, "range");
        if (lsp_get_string(c, "text", &t) || (range && lsp_get_range(range, &r)))
            bad = 1;
    }
    if (bad) {
        doc_drop(s, e, "didChange with malformed contentChanges");
        return;
    }
    if (m->has_nul) {
        doc_drop(s, e, "didChange text holds a NUL character");
        return;
    }
    int64_t version;
    if (lsp_get_int(td, "version", INT64_MIN / 2, INT64_MAX / 2, &version)) {
        SK_WARN("lsp: didChange of %s without a version", uri);
        version = ctx_doc_version(e->doc);
    } else if (version <= ctx_doc_version(e->doc)) {
        SK_WARN("lsp: didChange of %s: version %lld after %lld", uri, (long long)version,
                (long long)ctx_doc_version(e->doc));
    }
    cJSON_ArrayForEach(c, changes)
    {
        const char *t = cJSON_GetObjectItemCaseSensitive(c, "text")->valuestring;
        const cJSON *range = cJSON_GetObjectItemCaseSensitive(c, "range");
        int rc;
        if (range) {
            lsp_range r;
            lsp_get_range(range, &r);
            size_t a = dmn_doc_offset(e->doc, r.start, s->enc);
            size_t b = dmn_doc_offset(e->doc, r.end, s->enc);
            rc = ctx_doc_replace(e->doc, a < b ? a : b, a < b ? b : a, t, strlen(t));
        } else {
            rc = ctx_doc_set_text(e->doc, t, strlen(t));
        }
        if (rc) {
            char why[128];
            snprintf(why, sizeof why, "a change could not be applied: %s", strerror(-rc));
            doc_drop(s, e, why);
            return;
        }
    }
    ctx_doc_set_version(e->doc, version);
    e->checked = 0;
    e->unparsed = 1; /* parsed once the whole read is handled (dmn_session_feed / poll) */
}

static void n_did_save(dmn_session *s, const lsp_msg *m)
{
    const char *uri;
    if (lsp_get_text_document(m->params, &uri))
        SK_WARN("lsp: didSave without textDocument.uri");
    else if (!doc_find(s, uri))
        SK_WARN("lsp: didSave of %s, which is not open", uri);
    else
        SK_DEBUG("lsp: saved %s", uri);
}

static void n_did_close(dmn_session *s, const lsp_msg *m)
{
    const char *uri;
    if (lsp_get_text_document(m->params, &uri)) {
        SK_WARN("lsp: didClose without textDocument.uri");
        return;
    }
    cancel_for_uri(s, uri);
    struct doc_entry *e = doc_find(s, uri);
    if (!e) {
        SK_WARN("lsp: didClose of %s, which is not open", uri);
        return;
    }
    doc_remove(s, e);
    SK_DEBUG("lsp: closed %s", uri);
}

/* ---- dispatch ----------------------------------------------------------------------------- */

typedef void (*handler_fn)(dmn_session *s, const lsp_msg *m);
static const struct handler {
    const char *method;
    handler_fn fn;
} requests[] = {
    {"initialize", h_initialize},
    {"shutdown", h_shutdown},
    {"textDocument/completion", h_complete},
    {"textDocument/inlineCompletion", h_complete},
    {"textDocument/codeAction", h_code_action},
    {"workspace/executeCommand", h_execute_command},
    {"seekd/syntaxTree", h_syntax_tree},
    {"seekd/parse", h_parse},
}, notifications[] = {
    {"initialized", n_initialized},
    {"$/cancelRequest", n_cancel},
    {"textDocument/didOpen", n_did_open},
    {"textDocument/didChange", n_did_change},
    {"textDocument/didSave", n_did_save},
    {"textDocument/didClose", n_did_close},
};

static handler_fn lookup(const struct handler *t, size_t n, const char *method)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].method, method))
            return t[i].fn;
    return NULL;
}

static void handle_request(dmn_session *s, const lsp_msg *m)
{
    handler_fn fn = lookup(requests, SK_ARRAY_LEN(requests), m->method);
    if (s->st == ST_NEW && fn != h_initialize) {
        reply_err(s, m->id, LSP_SERVER_NOT_INITIALIZED, "server not initialized");
        return;
    }
    if (s->st == ST_SHUTDOWN) {
        reply_err(s, m->id, LSP_INVALID_REQUEST, "server is shutting down");
        return;
    }
    if (!fn) {
        reply_err(s, m->id, LSP_METHOD_NOT_FOUND, "method not found: %.200s", m->method);
        return;
    }
    fn(s, m);
}

static void handle_notification(dmn_session *s, const lsp_msg *m)
{
    if (!strcmp(m->method, "exit")) {
        s->exit_code = s->st == ST_SHUTDOWN ? 0 : 1;
        s->st = ST_EXITED;
        SK_INFO("lsp: exit (code %d)", s->exit_code);
        return;
    }
    if (s->st != ST_RUNNING) {
        SK_DEBUG("lsp: %s dropped (%s)", m->method,
                 s->st == ST_NEW ? "not initialized" : "shutting down");
        return;
    }
    handler_fn fn = lookup(notifications, SK_ARRAY_LEN(notifications), m->method);
    if (fn)
        fn(s, m);
    else
        SK_DEBUG("lsp: notification %s ignored", m->method);
}

void dmn_session_handle(dmn_session *s, const char *body, size_t len)
{
    if (s->st == ST_EXITED)
        return;
    lsp_msg m;
    lsp_msg_error err;
    if (lsp_msg_parse(body, len, &m, &err) < 0) {
        SK_WARN("lsp: bad message (%d %s)", err.code, err.message);
        send_msg(s, lsp_error_new(err.id, err.code == -ENOMEM ? LSP_INTERNAL_ERROR : err.code,
                                  err.message, NULL));
        lsp_msg_error_free(&err);
        return;
    }
    switch (m.kind) {
    case LSP_MSG_REQUEST:
        SK_DEBUG("lsp: <- request %s", m.method);
        handle_request(s, &m);
        break;
    case LSP_MSG_NOTIFICATION:
        SK_DEBUG("lsp: <- notification %s", m.method);
        handle_notification(s, &m);
        break;
    case LSP_MSG_RESPONSE:
        SK_DEBUG("lsp: response from the client ignored (we send no requests)");
        break;
    }
    lsp_msg_free(&m);
}

/* ---- driving ------------------------------------------------------------------------------ */

static int parse_pending(dmn_session *s)
{
    int more = 0;
    for (size_t i = 0; i < s->ndocs; i++)
        if (s->docs[i].unparsed)
            more |= parse_slice(s, &s->docs[i]);
    return more;
}

int dmn_session_feed(dmn_session *s, const void *data, size_t n)
{
    if (s->st == ST_EXITED)
        return 0;
    int rc = lsp_reader_feed(&s->rd, data, n);
    if (rc)
        return rc;
    for (;;) {
        const char *body;
        size_t len;
        rc = lsp_reader_next(&s->rd, &body, &len);
        if (rc == 0)
            break;
        if (rc < 0) {
            SK_ERROR("lsp: framing: %s", lsp_strerror(rc));
            continue;
        }
        dmn_session_handle(s, body, len);
        if (s->st == ST_EXITED)
            return 0;
    }
    parse_pending(s);
    return 0;
}

int dmn_session_poll(dmn_session *s)
{
    if (s->st == ST_EXITED)
        return 0;
    int more = parse_pending(s);
    for (dmn_req *q = s->head, *next; q; q = next) {
        next = q->next;
        if (q->running)
            continue;
        if (s->o.start) {
            q->running = 1;
            if (s->o.start(s->o.start_ud, s, q) == 0)
                continue; /* the taker answers; q may already be gone */
            q->running = 0;
        }
        if (!s->told_no_model) {
            SK_INFO("lsp: no completion model is configured: completion requests get empty "
                    "results");
            s->told_no_model = 1;
        }
        dmn_session_reply(s, q, empty_result(q->method));
    }
    return more;
}

int dmn_session_new(const dmn_session_opts *opts, dmn_session **out)
{
    dmn_session *s = sk_calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->o = *opts;
    if (!s->o.parse_timeout_us)
        s->o.parse_timeout_us = DEFAULT_PARSE_TIMEOUT_US;
    lsp_reader_init(&s->rd, s->o.max_body);
    s->st = ST_NEW;
    s->enc = LSP_ENC_UTF16;
    *out = s;
    return 0;
}

void dmn_session_delete(dmn_session *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ndocs; i++)
        ctx_doc_delete(s->docs[i].doc);
    sk_free(s->docs);
    for (dmn_req *q = s->head, *next; q; q = next) {
        next = q->next;
        req_free(q);
    }
    lsp_reader_free(&s->rd);
    sk_free(s);
}

int dmn_session_exited(const dmn_session *s, int *code)
{
    if (s->st != ST_EXITED)
        return 0;
    if (code)
        *code = s->exit_code;
    return 1;
}

void dmn_session_eof(dmn_session *s)
{
    if (s->st == ST_EXITED)
        return;
    s->exit_code = s->st == ST_SHUTDOWN ? 0 : 1;
    s->st = ST_EXITED;
    SK_INFO("lsp: input closed (exit code %d)", s->exit_code);
}

int dmn_session_shutting_down(const dmn_session *s) { return s->st == ST_SHUTDOWN; }

enum lsp_enc dmn_session_encoding(const dmn_session *s) { return s->enc; }

int dmn__session_check(dmn_session *s, enum ctx_check mode, char *err, size_t n)
{
    for (size_t i = 0; i < s->ndocs; i++) {
        char why[512];
        if (s->docs[i].checked && !s->docs[i].unparsed)
            continue;
        int rc = ctx_doc_check(s->docs[i].doc, s->docs[i].unparsed ? CTX_CHECK_CONSISTENT : mode,
                               why, sizeof why);
        s->docs[i].checked = rc == 0 && !s->docs[i].unparsed;
        if (rc) {
            snprintf(err, n, "%s: %s", ctx_doc_uri(s->docs[i].doc),
                     rc == -EILSEQ ? why : strerror(-rc));
            return rc;
        }
    }
    return 0;
}
