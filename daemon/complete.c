/*
 * The completion pipeline's LSP layer (contract in pipeline.h): sits between the libuv loop and
 * the session (daemon/session.c), so the session stays the owner of documents and of the
 * completion request registry while this file adds what the pipeline needs:
 *
 *   textDocument/inlineCompletion, textDocument/completion
 *        taken from the session's registry (dmn_start_fn), turned into a job with copies of the
 *        text windows around the cursor and handed to the inference thread; answered from the
 *        thread's result (uv_async_send wakes the loop).  inlineCompletion items carry
 *        insertText, a one-line range (the cursor, extended over the suffix bytes the
 *        suggestion replaces), the seekd.accepted command and, in `data.seekd`, where the
 *        answer came from (model / cache / cacheTyped / typedThrough), KV reuse and latency.
 *        Invoked triggers (triggerKind 1) get up to 3 candidates.
 *   initialize                 initializationOptions = settings; the response gets seekd.accepted
 *                              added to executeCommandProvider.
 *   workspace/didChangeConfiguration {settings: {seekd: {...}}}: applied without restart.
 *   textDocument/didChange     keystroke times for the adaptive debounce, then the session.
 *   cross-file context         initialize starts the workspace symbol index (root from rootUri,
 *                              rootPath or the first workspaceFolder; without one it indexes the
 *                              open documents only) and the recent-edits ring.  After the
 *                              session took them: didOpen indexes the editor's text, didChange
 *                              at most every XFILE_UPDATE_MS per document (a pending one is
 *                              flushed before a completion job) and notes +-XFILE_RING_LINES
 *                              lines around the last ranged change in the ring; didSave,
 *                              didClose and didChangeWatchedFiles created/changed reindex from
 *                              disk, deleted drops the file.  Jobs borrow both (freed in
 *                              dmn_pipe_stop after the worker is joined).
 *   textDocument/didShowCompletion, textDocument/didPartiallyAcceptCompletion,
 *   workspace/executeCommand seekd.accepted, seekd/didDismissCompletion {item}
 *                              local statistics (cache/): shown, accepted, partially
 *                              accepted, and dismissed = shown, then superseded by another
 *                              shown suggestion (not its typing-through rest) without being
 *                              accepted, or named by seekd/didDismissCompletion.
 *   textDocument/codeAction    "Explain this code" on a non-empty selection.
 *   workspace/executeCommand seekd.explain {textDocument, range} (+ workDoneToken): streamed
 *                              $/progress reports with the Markdown so far, result {markdown}.
 *   seekd/lastCompletion [{id}] the data of the last answered completion, or of the one that
 *                              answered request id (the last 64 are kept; tests, the demo):
 *                              source, KV reuse, latency, the model's raw text, how decoding
 *                              stopped, the post-processing steps and, for an empty answer,
 *                              emptyReason ("eos", "deadline", "post:syntax", ...).
 *   seekd/status               the status object; also sent as a notification on changes.
 *   Model (re)loads report $/progress when the client supports window/workDoneProgress, and
 *   errors go to window/showMessage; the server keeps running without a model.
 */
#include "base.h"
#include "daemon/pipeline.h"
#include "daemon/session.h"
#include "engine/engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#define MAX_TRACKED_DOCS 64
#define XFILE_UPDATE_MS 500 /* didChange reindexes a document at most this often */
#define XFILE_RING_LINES 20 /* lines noted in the ring on each side of an edit */
#define RECENT_INFOS 64     /* answered completions seekd/lastCompletion remembers */

struct inflight {
    dmn_req *q;          /* completion: the session's request (NULL for explain) */
    cJSON *id;           /* explain: our own request id */
    struct dmn_job *j;
    lsp_position pos;
    int inline_kind;     /* inlineCompletion (1) or completion (0) */
    struct inflight *next;
};

struct typing_ent {
    uint64_t h;
    struct dmn_typing t;
    uint64_t ix_ms; /* last index update of the document (sk_now_ms) */
    int ix_dirty;   /* a didChange not sent to the index yet */
};

struct dmn_pipe {
    uv_loop_t *loop;
    uv_async_t async;
    int async_open, stopped;
    dmn_session *s;
    dmn_send_fn send;
    void *send_ud;
    lsp_reader rd;
    struct dmn_infer *w;
    struct dmn_config cfg;
    cJSON *init_id;
    int client_progress;
    char *root; /* workspace root path (from rootUri / rootPath), or NULL */
    ctx_index *ix; /* workspace symbol index (NULL before initialize or on failure) */
    ctx_ring *ring; /* recently edited chunks */
    struct inflight *inflight;
    struct typing_ent typing[MAX_TRACKED_DOCS];
    size_t n_typing;
    const char *state; /* "loading", "ready", "error" */
    char *state_msg;
    char *load_token;
    int loads;
    uint64_t next_id, req_id;
    /* the data of the last RECENT_INFOS answered completions (seekd/lastCompletion), a ring:
     * recent[n_recent % RECENT_INFOS] is the next slot */
    cJSON *recent[RECENT_INFOS];
    unsigned n_recent;
    /* the seekd.accepted arguments of the suggestion the editor last said it shows
     * (didShowCompletion) and that was neither accepted nor dismissed since, or NULL */
    cJSON *shown;
};

/* ---- output -------------------------------------------------------------------------------- */

static void psend(struct dmn_pipe *p, cJSON *msg)
{
    if (!msg)
        return;
    size_t n;
    char *json = lsp_print(msg, &n);
    cJSON_Delete(msg);
    if (json && p->send)
        p->send(p->send_ud, json, n);
    cJSON_free(json);
}

static void notify(struct dmn_pipe *p, const char *method, cJSON *params)
{
    psend(p, lsp_notification_new(method, params));
}

static void show_message(struct dmn_pipe *p, int type, const char *text)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "type", type);
    cJSON_AddStringToObject(m, "message", text);
    notify(p, "window/showMessage", m);
}

static cJSON *status_obj(struct dmn_pipe *p)
{
    struct dmn_infer_counters c;
    dmn_infer_counters(p->w, &c);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "state", p->state);
    cJSON_AddNumberToObject(o, "progress", strcmp(p->state, "loading") ? 100 : 0);
    cJSON_AddStringToObject(o, "message", p->state_msg ? p->state_msg : "");
    cJSON_AddNumberToObject(o, "lastLatencyMs", (double)c.last_latency_ms);
    cJSON_AddNumberToObject(o, "cacheHits", (double)c.cache_hits);
    cJSON_AddNumberToObject(o, "typedThrough", (double)c.typed_through);
    cJSON_AddNumberToObject(o, "requests", (double)c.requests);
    return o;
}

static void send_status(struct dmn_pipe *p)
{
    if (p->w)
        notify(p, "seekd/status", status_obj(p));
}

static void progress_send(struct dmn_pipe *p, const char *token_json, const char *kind,
                          const char *title, const char *message)
{
    cJSON *tok = cJSON_Parse(token_json);
    if (!tok)
        return;
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "kind", kind);
    if (title)
        cJSON_AddStringToObject(v, "title", title);
    if (message)
        cJSON_AddStringToObject(v, "message", message);
    if (!strcmp(kind, "begin"))
        cJSON_AddTrueToObject(v, "cancellable");
    cJSON *pr = cJSON_CreateObject();
    cJSON_AddItemToObject(pr, "token", tok);
    cJSON_AddItemToObject(pr, "value", v);
    notify(p, "$/progress", pr);
}

/* ---- configuration ------------------------------------------------------------------------- */

static void set_state(struct dmn_pipe *p, const char *state, const char *msg)
{
    p->state = state;
    sk_free(p->state_msg);
    p->state_msg = msg ? sk_strdup(msg) : NULL;
    send_status(p);
}

/* Sends the current configuration to the worker (models reload in the background). */
static void apply_config(struct dmn_pipe *p)
{
    struct dmn_job *j = dmn_job_new(DMN_JOB_CONFIG);
    if (!j || dmn_config_copy(&j->cfg, &p->cfg)) {
        sk_free(j);
        return;
    }
    set_state(p, "loading", p->cfg.model[0] ? p->cfg.model : "no completion model configured");
    if (p->client_progress) {
        char tok[64];
        snprintf(tok, sizeof tok, "\"seekd-load-%d\"", ++p->loads);
        sk_free(p->load_token);
        p->load_token = sk_strdup(tok);
        cJSON *params = cJSON_CreateObject();
        cJSON_AddItemToObject(params, "token", cJSON_Parse(tok));
        cJSON *id = cJSON_CreateNumber((double)(++p->req_id + 1000000));
        psend(p, lsp_request_new(id, "window/workDoneProgress/create", params));
        cJSON_Delete(id);
        progress_send(p, tok, "begin", "seekd: loading models", p->cfg.model);
    }
    dmn_infer_submit(p->w, j);
}

static void settings_changed(struct dmn_pipe *p, const cJSON *settings, const char *where)
{
    char err[512];
    struct dmn_config c;
    if (dmn_config_copy(&c, &p->cfg))
        return;
    int nbad = dmn_config_apply_json(&c, settings, err, sizeof err);
    if (nbad) {
        char m[700];
        snprintf(m, sizeof m, "seekd: %s: %s", where, err);
        show_message(p, 2, m);
    }
    dmn_config_free(&p->cfg);
    p->cfg = c;
    apply_config(p);
}

/* ---- completion ---------------------------------------------------------------------------- */

static struct typing_ent *ent_for(struct dmn_pipe *p, const char *uri)
{
    uint64_t h = sk_hash64(uri, strlen(uri), 3);
    for (size_t i = 0; i < p->n_typing; i++)
        if (p->typing[i].h == h)
            return &p->typing[i];
    size_t i = p->n_typing < MAX_TRACKED_DOCS ? p->n_typing++ : (size_t)(h % MAX_TRACKED_DOCS);
    memset(&p->typing[i], 0, sizeof p->typing[i]);
    p->typing[i].h = h;
    return &p->typing[i];
}

static struct dmn_typing *typing_for(struct dmn_pipe *p, const char *uri)
{
    return &ent_for(p, uri)->t;
}

/* ---- cross-file context -------------------------------------------------------------------- */

/* Sends the document's text to the index: now when force or XFILE_UPDATE_MS passed since the
 * last update, else it is marked pending.  Invalidates ctx_doc_bytes pointers of doc. */
static void xfile_sync(struct dmn_pipe *p, const char *uri, ctx_doc *doc, int force)
{
    if (!p->ix)
        return;
    struct typing_ent *e = ent_for(p, uri);
    uint64_t now = sk_now_ms();
    if (!force && e->ix_ms && now - e->ix_ms < XFILE_UPDATE_MS) {
        e->ix_dirty = 1;
        return;
    }
    size_t n;
    const char *t = ctx_doc_text(doc, &n);
    int rc = ctx_index_update_file(p->ix, uri, t, n);
    if (rc && rc != -EFBIG)
        SK_WARN("index: %s: %s", uri, strerror(-rc));
    e->ix_ms = now ? now : 1;
    e->ix_dirty = 0;
}

/* Lines first..last of doc and XFILE_RING_LINES on each side go to the ring (which keeps the
 * middle of a longer chunk). */
static void xfile_ring(struct dmn_pipe *p, const char *uri, ctx_doc *doc, uint32_t first,
                       uint32_t last)
{
    uint32_t nl = ctx_doc_line_count(doc);
    if (!p->ring || first >= nl)
        return;
    if (last < first)
        last = first;
    uint32_t lo = first > XFILE_RING_LINES ? first - XFILE_RING_LINES : 0;
    uint32_t hi = last < nl - 1 - SK_MIN(nl - 1, (uint32_t)XFILE_RING_LINES)
                      ? last + XFILE_RING_LINES
                      : nl - 1;
    size_t s0, l0, s1, l1;
    if (ctx_doc_line(doc, lo, &s0, &l0) || ctx_doc_line(doc, hi, &s1, &l1))
        return;
    const char *t = ctx_doc_bytes(doc, s0, s1 + l1);
    ctx_ring_note_edit(p->ring, uri, ctx_doc_lang(doc), t, s1 + l1 - s0);
}

/* Called for notifications after the session handled them (its documents are up to date). */
static void xfile_note(struct dmn_pipe *p, const lsp_msg *m)
{
    if (!p->ix || m->kind != LSP_MSG_NOTIFICATION || p->stopped)
        return;
    const char *meth = m->method, *uri;
    if (!strcmp(meth, "workspace/didChangeWatchedFiles")) {
        const cJSON *ch = cJSON_GetObjectItemCaseSensitive(m->params, "changes"), *c;
        if (!cJSON_IsArray(ch))
            return;
        cJSON_ArrayForEach(c, ch) {
            int64_t type;
            if (lsp_get_string(c, "uri", &uri) || lsp_get_int(c, "type", 1, 3, &type))
                continue;
            if (type == 3)
                ctx_index_remove(p->ix, uri);
            else
                ctx_index_update_file(p->ix, uri, NULL, 0);
        }
        return;
    }
    if (strncmp(meth, "textDocument/did", 16) || lsp_get_text_document(m->params, &uri))
        return;
    meth += 16;
    if (!strcmp(meth, "Save") || !strcmp(meth, "Close")) {
        ctx_index_update_file(p->ix, uri, NULL, 0);
        return;
    }
    int open = !strcmp(meth, "Open");
    if (!open && strcmp(meth, "Change"))
        return;
    ctx_doc *doc = dmn_session_doc(p->s, uri);
    if (!doc)
        return;
    xfile_sync(p, uri, doc, open);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(m->params, "contentChanges");
    int n = cJSON_IsArray(ch) ? cJSON_GetArraySize(ch) : 0;
    if (open || n == 0)
        return;
    lsp_range r;
    const cJSON *last = cJSON_GetArrayItem(ch, n - 1);
    if (!lsp_get_range(cJSON_GetObjectItemCaseSensitive(last, "range"), &r)) {
        xfile_ring(p, uri, doc, r.start.line, r.start.line);
        return;
    }
    /* full sync (no range): the document diffed old and new text (ctx_doc_set_text); the
     * changed chunk is its last edit */
    size_t a, b;
    uint32_t la, lb;
    size_t col;
    if (!ctx_doc_last_edit(doc, &a, &b) && !ctx_doc_line_of(doc, a, &la, &col) &&
        !ctx_doc_line_of(doc, b, &lb, &col))
        xfile_ring(p, uri, doc, la, lb);
}

/* Starts the index (once per connection: jobs borrow it) and the ring. */
static void xfile_start(struct dmn_pipe *p)
{
    if (!p->ring && ctx_ring_new(&p->ring))
        p->ring = NULL;
    if (p->ix)
        return;
    int rc = ctx_index_new(&(struct ctx_index_opts){.root = p->root}, &p->ix);
    if (rc && p->root) {
        SK_WARN("index: root %s: %s; indexing open documents only", p->root, strerror(-rc));
        rc = ctx_index_new(&(struct ctx_index_opts){.root = NULL}, &p->ix);
    }
    if (rc) {
        SK_WARN("index: %s", strerror(-rc));
        p->ix = NULL;
    }
}

static char *uri_to_path(struct dmn_pipe *p, const char *uri)
{
    char buf[4096];
    const char *path = uri;
    if (!lsp_uri_to_path(uri, buf, sizeof buf))
        path = buf;
    if (p->root) {
        size_t rl = strlen(p->root);
        if (!strncmp(path, p->root, rl) && path[rl] == '/')
            path += rl + 1;
    }
    return sk_strdup(path);
}

static int start_cb(void *ud, dmn_session *s, dmn_req *q)
{
    struct dmn_pipe *p = ud;
    if (p->stopped || !p->cfg.enable || strcmp(p->state, "ready") || !q->uri)
        return -1;
    ctx_doc *doc = dmn_session_doc(s, q->uri);
    lsp_position pos;
    if (!doc || lsp_get_position(cJSON_GetObjectItemCaseSensitive(q->params, "position"), &pos))
        return -1;
    enum ctx_lang lang = ctx_doc_lang(doc);
    if (!dmn_config_lang_on(&p->cfg, lang))
        return -1;
    if (p->ix && ent_for(p, q->uri)->ix_dirty)
        xfile_sync(p, q->uri, doc, 1); /* before any ctx_doc_bytes pointer is taken */
    size_t off = dmn_doc_offset(doc, pos, dmn_session_encoding(s));
    size_t len = ctx_doc_len(doc);
    size_t pw = (size_t)p->cfg.prefix_tokens * 12 + 256, sw = (size_t)p->cfg.suffix_tokens * 12 + 256;
    size_t a = off > pw ? off - pw : 0, b = off + sw < len ? off + sw : len;
    struct dmn_job *j = dmn_job_new(DMN_JOB_COMPLETE);
    struct inflight *f = sk_calloc(1, sizeof *f);
    if (!j || !f)
        goto fail;
    j->prefix = sk_malloc(off - a + 1);
    j->suffix = sk_malloc(b - off + 1);
    j->uri = sk_strdup(q->uri);
    j->path = uri_to_path(p, q->uri);
    if (!j->prefix || !j->suffix || !j->uri || !j->path)
        goto fail;
    memcpy(j->prefix, ctx_doc_bytes(doc, a, off), off - a);
    j->prefix_len = off - a;
    j->prefix[j->prefix_len] = 0;
    memcpy(j->suffix, ctx_doc_bytes(doc, off, b), b - off);
    j->suffix_len = b - off;
    j->suffix[j->suffix_len] = 0;
    j->prefix_doc_off = a;
    j->lang = lang;
    j->lang_id = ctx_lang_name(lang);
    j->owner = q;
    j->cancelled = &q->cancelled;
    j->xindex = p->ix;
    j->xring = p->ring;
    int is_inline = !strcmp(q->method, "textDocument/inlineCompletion");
    int64_t tk = 2;
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(q->params, "context");
    if (ctx)
        lsp_get_int(ctx, "triggerKind", 0, 10, &tk);
    int invoked = is_inline && tk == 1; /* inline: 1 Invoked, 2 Automatic */
    uint64_t now = sk_now_ms();
    int deb = invoked ? 0
                      : dmn_typing_debounce_ms(typing_for(p, q->uri), p->cfg.debounce_min_ms,
                                               p->cfg.debounce_max_ms);
    j->arrival_ms = now;
    j->due_ms = now + (uint64_t)deb;
    j->deadline_ms = now + (uint64_t)p->cfg.deadline_ms;
    j->info.debounce_ms = deb;
    j->n_candidates = invoked ? DMN_MAX_CANDIDATES : 1;
    f->q = q;
    f->j = j;
    f->pos = pos;
    f->inline_kind = is_inline;
    f->next = p->inflight;
    p->inflight = f;
    dmn_infer_submit(p->w, j);
    return 0;
fail:
    dmn_job_free(j);
    sk_free(f);
    return -1;
}

static cJSON *info_json(const struct dmn_job *j, uint64_t id)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "source", dmn_source_name(j->info.source));
    cJSON_AddBoolToObject(o, "fromCache", j->info.source == DMN_SRC_CACHE ||
                                              j->info.source == DMN_SRC_CACHE_TYPED);
    cJSON_AddBoolToObject(o, "typedThrough", j->info.source == DMN_SRC_TYPED_THROUGH);
    cJSON_AddNumberToObject(o, "kvReused", j->info.kv_reused);
    cJSON_AddNumberToObject(o, "promptTokens", j->info.prompt_tokens);
    cJSON_AddNumberToObject(o, "evaluated", j->info.evaluated);
    cJSON_AddNumberToObject(o, "generated", j->info.generated);
    cJSON_AddNumberToObject(o, "specDrafted", j->info.spec_drafted);
    cJSON_AddNumberToObject(o, "specAccepted", j->info.spec_accepted);
    cJSON_AddBoolToObject(o, "deadline", j->info.deadline_hit);
    cJSON_AddNumberToObject(o, "debounceMs", j->info.debounce_ms);
    cJSON_AddNumberToObject(o, "latencyMs", j->info.latency_ms);
    cJSON_AddNumberToObject(o, "promptMs", j->info.prompt_ms);
    cJSON_AddStringToObject(o, "mode", j->info.mode == CTX_POST_MULTI_LINE ? "multi" : "single");
    cJSON_AddStringToObject(o, "language", j->lang_id ? j->lang_id : "");
    if (j->info.stop) {
        cJSON_AddStringToObject(o, "stop", dmn_stop_name(j->info.stop));
        cJSON_AddNumberToObject(o, "rawLength", j->info.raw_len);
        cJSON_AddNumberToObject(o, "healed", j->info.healed);
        cJSON *post = cJSON_AddArrayToObject(o, "post");
        for (unsigned b = 1; b && b <= CTX_POST_SYNTAX; b <<= 1)
            if (j->info.post_applied & b)
                cJSON_AddItemToArray(post, cJSON_CreateString(ctx_post_step_name(b)));
    }
    return o;
}

/* Why a model answer has no item: "eos" (the model's first token ended the answer), another
 * stop with nothing generated ("deadline", "control", ...), or "post:<step>" (post-processing
 * step, ctx_post_step_name, that removed everything).  NULL when there is an item or no model
 * answer (cache, typing through, error). */
static const char *empty_reason(const struct dmn_job *j, char *buf, size_t cap)
{
    if (j->n_items > 0 || j->rc ||
        (j->info.source != DMN_SRC_MODEL && !j->info.deadline_hit))
        return NULL;
    if (j->info.deadline_hit && j->info.raw_len == 0)
        return "deadline";
    if (j->info.raw_len == 0)
        return j->info.stop ? dmn_stop_name(j->info.stop) : "none";
    if (j->info.post_emptied_by) {
        snprintf(buf, cap, "post:%s", ctx_post_step_name(j->info.post_emptied_by));
        return buf;
    }
    return "post";
}

static cJSON *range_json(lsp_position a, lsp_position b)
{
    cJSON *r = cJSON_CreateObject(), *s = cJSON_AddObjectToObject(r, "start"),
          *e = cJSON_AddObjectToObject(r, "end");
    cJSON_AddNumberToObject(s, "line", a.line);
    cJSON_AddNumberToObject(s, "character", a.character);
    cJSON_AddNumberToObject(e, "line", b.line);
    cJSON_AddNumberToObject(e, "character", b.character);
    return r;
}

static void answer_completion(struct dmn_pipe *p, struct inflight *f)
{
    struct dmn_job *j = f->j;
    uint64_t id = ++p->next_id;
    if (j->rc == -ECANCELED) {
        dmn_session_reply(p->s, f->q, NULL); /* -32800 when cancelled, else null */
        return;
    }
    cJSON *info = info_json(j, id);
    cJSON *res = cJSON_CreateObject();
    if (!f->inline_kind)
        cJSON_AddBoolToObject(res, "isIncomplete", 1);
    cJSON *items = cJSON_AddArrayToObject(res, "items");
    enum lsp_enc enc = dmn_session_encoding(p->s);
    for (int i = 0; i < j->n_items; i++) {
        size_t rep = j->suffix_replace[i];
        if (rep > j->suffix_len)
            rep = j->suffix_len;
        lsp_position end = f->pos;
        end.character += lsp_line_units(j->suffix, rep, enc);
        cJSON *it = cJSON_CreateObject();
        cJSON *cmd = cJSON_CreateObject();
        cJSON_AddStringToObject(cmd, "title", "seekd: accepted");
        cJSON_AddStringToObject(cmd, "command", "seekd.accepted");
        cJSON *args = cJSON_AddArrayToObject(cmd, "arguments");
        cJSON *arg = cJSON_CreateObject();
        cJSON_AddNumberToObject(arg, "id", (double)id);
        cJSON_AddStringToObject(arg, "language", j->lang_id ? j->lang_id : "");
        cJSON_AddNumberToObject(arg, "length", (double)strlen(j->items[i]));
        cJSON_AddBoolToObject(arg, "fromCache", j->info.source == DMN_SRC_CACHE ||
                                                    j->info.source == DMN_SRC_CACHE_TYPED);
        if (j->info.source == DMN_SRC_TYPED_THROUGH)
            cJSON_AddBoolToObject(arg, "typedThrough", 1);
        cJSON_AddItemToArray(args, arg);
        if (f->inline_kind) {
            cJSON_AddStringToObject(it, "insertText", j->items[i]);
            cJSON_AddItemToObject(it, "range", range_json(f->pos, end));
        } else {
            char label[128];
            size_t l = strcspn(j->items[i], "\n");
            snprintf(label, sizeof label, "%.*s", (int)SK_MIN(l, (size_t)100), j->items[i]);
            cJSON_AddStringToObject(it, "label", label[0] ? label : "(seekd)");
            cJSON_AddNumberToObject(it, "kind", 1);
            cJSON_AddStringToObject(it, "detail", "seekd");
            cJSON *te = cJSON_AddObjectToObject(it, "textEdit");
            cJSON_AddItemToObject(te, "range", range_json(f->pos, end));
            cJSON_AddStringToObject(te, "newText", j->items[i]);
            cJSON_AddStringToObject(it, "filterText", j->items[i]);
        }
        cJSON_AddItemToObject(it, "command", cmd);
        cJSON *data = cJSON_AddObjectToObject(it, "data");
        cJSON_AddItemToObject(data, "seekd", cJSON_Duplicate(info, 1));
        cJSON_AddItemToArray(items, it);
    }
    cJSON *last = cJSON_Duplicate(info, 1);
    if (last) {
        cJSON_AddNumberToObject(last, "items", j->n_items);
        cJSON_AddStringToObject(last, "text", j->n_items ? j->items[0] : "");
        char why[64];
        const char *er = empty_reason(j, why, sizeof why);
        if (er)
            cJSON_AddStringToObject(last, "emptyReason", er);
        if (j->raw)
            cJSON_AddStringToObject(last, "raw", j->raw);
        if (f->q->id)
            cJSON_AddItemToObject(last, "requestId", cJSON_Duplicate(f->q->id, 1));
        if (j->rc && j->rc != -ENOENT)
            cJSON_AddNumberToObject(last, "error", j->rc);
    }
    if (last) {
        cJSON **slot = &p->recent[p->n_recent++ % RECENT_INFOS];
        cJSON_Delete(*slot);
        *slot = last;
    }
    cJSON_Delete(info);
    dmn_session_reply(p->s, f->q, res);
    send_status(p);
}

/* ---- explain ------------------------------------------------------------------------------- */

static void reply_to(struct dmn_pipe *p, const cJSON *id, cJSON *result)
{
    psend(p, lsp_response_new(id, result));
}

static void reply_err(struct dmn_pipe *p, const cJSON *id, int code, const char *msg)
{
    psend(p, lsp_error_new(id, code, msg, NULL));
}

static void explain_start(struct dmn_pipe *p, const lsp_msg *m, const cJSON *arg)
{
    const char *uri;
    lsp_range r;
    if (!cJSON_IsObject(arg) || lsp_get_text_document(arg, &uri) ||
        lsp_get_range(cJSON_GetObjectItemCaseSensitive(arg, "range"), &r)) {
        reply_err(p, m->id, LSP_INVALID_PARAMS,
                  "seekd.explain: expected arguments [{textDocument: {uri}, range}]");
        return;
    }
    ctx_doc *doc = dmn_session_doc(p->s, uri);
    if (!doc) {
        reply_err(p, m->id, LSP_INVALID_PARAMS, "seekd.explain: document not open");
        return;
    }
    enum lsp_enc enc = dmn_session_encoding(p->s);
    size_t a = dmn_doc_offset(doc, r.start, enc), b = dmn_doc_offset(doc, r.end, enc);
    if (a > b) {
        size_t t = a;
        a = b;
        b = t;
    }
    if (a == b) { /* no selection: the cursor's line */
        uint32_t line;
        size_t col, ls, ll;
        if (!ctx_doc_line_of(doc, a, &line, &col) && !ctx_doc_line(doc, line, &ls, &ll)) {
            a = ls;
            b = ls + ll;
        }
    }
    if (b - a > 64 * 1024)
        b = a + 64 * 1024;
    struct dmn_job *j = dmn_job_new(DMN_JOB_EXPLAIN);
    struct inflight *f = sk_calloc(1, sizeof *f);
    if (!j || !f || !(j->prefix = sk_malloc(b - a + 1)) || !(f->id = cJSON_Duplicate(m->id, 1))) {
        dmn_job_free(j);
        if (f)
            cJSON_Delete(f->id);
        sk_free(f);
        reply_err(p, m->id, LSP_INTERNAL_ERROR, "out of memory");
        return;
    }
    memcpy(j->prefix, ctx_doc_bytes(doc, a, b), b - a);
    j->prefix_len = b - a;
    j->prefix[j->prefix_len] = 0;
    j->lang = ctx_doc_lang(doc);
    j->lang_id = ctx_lang_name(j->lang);
    j->owner = f;
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(m->params, "workDoneToken");
    if (cJSON_IsString(tok) || cJSON_IsNumber(tok)) {
        j->token = cJSON_PrintUnformatted(tok);
        if (j->token)
            progress_send(p, j->token, "begin", "seekd: explaining", NULL);
    }
    f->j = j;
    f->next = p->inflight;
    p->inflight = f;
    dmn_infer_submit(p->w, j);
}

static void answer_explain(struct dmn_pipe *p, struct inflight *f)
{
    struct dmn_job *j = f->j;
    if (j->token)
        progress_send(p, j->token, "end", NULL, NULL);
    if (j->rc == -ECANCELED) {
        reply_err(p, f->id, LSP_REQUEST_CANCELLED, "Request cancelled");
    } else if (j->rc) {
        const char *msg = j->message ? j->message : "seekd.explain failed";
        show_message(p, j->rc == -ENOENT ? 2 : 1, msg);
        reply_err(p, f->id, LSP_REQUEST_FAILED, msg);
    } else {
        cJSON *res = cJSON_CreateObject();
        cJSON_AddStringToObject(res, "markdown", j->markdown ? j->markdown : "");
        reply_to(p, f->id, res);
    }
    cJSON_Delete(f->id);
}

/* ---- results from the worker --------------------------------------------------------------- */

static struct inflight *inflight_take(struct dmn_pipe *p, const struct dmn_job *j)
{
    for (struct inflight **pp = &p->inflight; *pp; pp = &(*pp)->next)
        if ((*pp)->j == j) {
            struct inflight *f = *pp;
            *pp = f->next;
            return f;
        }
    return NULL;
}

static void on_results(struct dmn_pipe *p)
{
    for (struct dmn_job *j = dmn_infer_take(p->w), *n; j; j = n) {
        n = j->next;
        if (j->kind == DMN_JOB_EXPLAIN && j->is_progress) {
            if (j->token && j->progress)
                progress_send(p, j->token, "report", NULL, j->progress);
        } else if (j->kind == DMN_JOB_COMPLETE || j->kind == DMN_JOB_EXPLAIN) {
            struct inflight *f = inflight_take(p, j);
            if (f && j->kind == DMN_JOB_COMPLETE)
                answer_completion(p, f);
            else if (f)
                answer_explain(p, f);
            sk_free(f);
        } else if (j->kind == DMN_JOB_CONFIG) {
            if (p->load_token) {
                progress_send(p, p->load_token, "end", NULL, j->model_ok ? "ready" : "failed");
                sk_free(p->load_token);
                p->load_token = NULL;
            }
            if (j->message)
                show_message(p, 1, j->message);
            if (j->model_ok)
                set_state(p, "ready", j->message ? j->message : p->cfg.model);
            else
                set_state(p, "error",
                          j->message ? j->message : "no completion model is configured");
        }
        dmn_job_free(j);
    }
}

static void on_async(uv_async_t *a)
{
    struct dmn_pipe *p = a->data;
    if (!p->stopped)
        on_results(p);
}

static void worker_notify(void *ud)
{
    struct dmn_pipe *p = ud;
    uv_async_send(&p->async);
}

/* ---- messages ------------------------------------------------------------------------------ */

static void record(struct dmn_pipe *p, enum cache_event_kind kind, const cJSON *arg,
                   uint32_t accepted)
{
    struct dmn_job *j = dmn_job_new(DMN_JOB_STAT);
    if (!j)
        return;
    const char *lang = NULL;
    int64_t len = 0;
    lsp_get_string(arg, "language", &lang);
    lsp_get_int(arg, "length", 0, 1 << 30, &len);
    const cJSON *fc = cJSON_GetObjectItemCaseSensitive(arg, "fromCache");
    /* the language string must outlive this call: map it to the static name */
    j->ev.kind = kind;
    j->ev.language = lang ? ctx_lang_name(ctx_lang_from_id(lang)) : NULL;
    j->ev.shown_len = (uint32_t)len;
    j->ev.accepted_len = kind == CACHE_EV_ACCEPTED ? (uint32_t)len : accepted;
    j->ev.from_cache = cJSON_IsTrue(fc);
    struct dmn_infer_counters c;
    dmn_infer_counters(p->w, &c);
    j->ev.latency_ms = (uint32_t)c.last_latency_ms;
    dmn_infer_submit(p->w, j);
}

/* The seekd.accepted arguments of an item (item.command.arguments[0]), or NULL. */
static const cJSON *item_arg(const cJSON *params)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(params, "item");
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(item, "command");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(cmd, "arguments");
    return cJSON_IsArray(args) ? cJSON_GetArrayItem(args, 0) : NULL;
}

/* The answer id in seekd.accepted arguments, or -1. */
static int64_t arg_id(const cJSON *arg)
{
    int64_t id;
    return arg && !lsp_get_int(arg, "id", 0, INT64_MAX / 2, &id) ? id : -1;
}

/* Shown / accepted / dismissed bookkeeping.  Editors report what they show
 * (textDocument/didShowCompletion) and what is accepted, not what is ignored, so a shown
 * suggestion counts as dismissed when the editor shows another one (a different answer id)
 * before accepting it, fully or partly, or when seekd/didDismissCompletion {item} names it.
 * Typing through does not dismiss: its answer (typedThrough in the arguments) is the rest of
 * the same suggestion and takes its place. */
static void shown_event(struct dmn_pipe *p, enum cache_event_kind kind, const cJSON *arg,
                        uint32_t accepted)
{
    int64_t id = arg_id(arg), cur = arg_id(p->shown);
    int same = p->shown && id >= 0 && id == cur;
    switch (kind) {
    case CACHE_EV_SHOWN:
        if (same)
            return; /* shown again (redrawn): counted once */
        if (p->shown &&
            !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(arg, "typedThrough")))
            record(p, CACHE_EV_DISMISSED, p->shown, 0);
        cJSON_Delete(p->shown);
        p->shown = id >= 0 ? cJSON_Duplicate(arg, 1) : NULL;
        record(p, CACHE_EV_SHOWN, arg, 0);
        return;
    case CACHE_EV_DISMISSED:
        if (!same)
            return; /* not the pending one: already settled (or never shown) */
        record(p, CACHE_EV_DISMISSED, arg, 0);
        break;
    default:
        record(p, kind, arg, accepted);
        if (!same)
            return;
        break;
    }
    cJSON_Delete(p->shown);
    p->shown = NULL;
}

static void check_cancels(struct dmn_pipe *p)
{
    for (struct inflight *f = p->inflight; f; f = f->next)
        if (f->q && __atomic_load_n(&f->q->cancelled, __ATOMIC_RELAXED))
            atomic_store(&f->j->abort, 1);
}

/* Returns 1 when the message was fully handled here. */
static int intercept(struct dmn_pipe *p, const lsp_msg *m, const char *body, size_t len)
{
    if (m->kind == LSP_MSG_RESPONSE)
        return 1; /* answers to our window/workDoneProgress/create */
    const char *meth = m->method;
    if (m->kind == LSP_MSG_REQUEST && !strcmp(meth, "initialize")) {
        cJSON_Delete(p->init_id);
        p->init_id = cJSON_Duplicate(m->id, 1);
        dmn_session_handle(p->s, body, len); /* the session answers (patched in send_hook) */
        if (!cJSON_IsObject(m->params))
            return 1;
        const cJSON *caps = cJSON_GetObjectItemCaseSensitive(m->params, "capabilities");
        const cJSON *win = cJSON_GetObjectItemCaseSensitive(caps, "window");
        p->client_progress =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(win, "workDoneProgress"));
        /* the root: rootUri, else rootPath, else the first workspace folder (URIs
         * percent-decoded: "file:///a%20b" is the folder "/a b") */
        const char *root = NULL, *s;
        char rbuf[4096];
        if (!lsp_get_string(m->params, "rootUri", &s) && !lsp_uri_to_path(s, rbuf, sizeof rbuf))
            root = rbuf;
        else if (!lsp_get_string(m->params, "rootPath", &s))
            root = s;
        if (!root || !*root) { /* else the first workspace folder */
            const cJSON *wf = cJSON_GetObjectItemCaseSensitive(m->params, "workspaceFolders");
            const cJSON *f0 = cJSON_IsArray(wf) ? cJSON_GetArrayItem(wf, 0) : NULL;
            root = NULL;
            if (f0 && !lsp_get_string(f0, "uri", &s) && !lsp_uri_to_path(s, rbuf, sizeof rbuf))
                root = rbuf;
        }
        sk_free(p->root);
        p->root = root && *root ? sk_strdup(root) : NULL;
        xfile_start(p);
        const cJSON *io = cJSON_GetObjectItemCaseSensitive(m->params, "initializationOptions");
        if (io) {
            char err[512];
            if (dmn_config_apply_json(&p->cfg, io, err, sizeof err)) {
                char msg[700];
                snprintf(msg, sizeof msg, "seekd: initializationOptions: %s", err);
                show_message(p, 2, msg);
            }
        }
        apply_config(p);
        return 1;
    }
    if (m->kind == LSP_MSG_NOTIFICATION && !strcmp(meth, "workspace/didChangeConfiguration")) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(m->params, "settings");
        const cJSON *sd = cJSON_GetObjectItemCaseSensitive(st, "seekd");
        settings_changed(p, sd ? sd : st, "settings");
        return 1;
    }
    if (m->kind == LSP_MSG_NOTIFICATION && !strcmp(meth, "textDocument/didChange")) {
        const char *uri;
        if (!lsp_get_text_document(m->params, &uri))
            dmn_typing_keystroke(typing_for(p, uri), sk_now_ms());
        return 0;
    }
    if (m->kind == LSP_MSG_NOTIFICATION && !strcmp(meth, "textDocument/didShowCompletion")) {
        shown_event(p, CACHE_EV_SHOWN, item_arg(m->params), 0);
        return 1;
    }
    if (m->kind == LSP_MSG_NOTIFICATION &&
        !strcmp(meth, "textDocument/didPartiallyAcceptCompletion")) {
        int64_t n = 0;
        lsp_get_int(m->params, "acceptedLength", 0, 1 << 30, &n);
        shown_event(p, CACHE_EV_PARTIAL, item_arg(m->params), (uint32_t)n);
        return 1;
    }
    if (m->kind == LSP_MSG_NOTIFICATION && !strcmp(meth, "seekd/didDismissCompletion")) {
        shown_event(p, CACHE_EV_DISMISSED, item_arg(m->params), 0);
        return 1;
    }
    if (m->kind == LSP_MSG_NOTIFICATION && !strcmp(meth, "$/cancelRequest")) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(m->params, "id");
        for (struct inflight *f = p->inflight; f; f = f->next)
            if (f->id && lsp_id_equal(f->id, id))
                atomic_store(&f->j->abort, 1);
        return 0; /* the session cancels its own requests */
    }
    if (m->kind != LSP_MSG_REQUEST || dmn_session_shutting_down(p->s))
        return 0;
    if (!strcmp(meth, "workspace/executeCommand")) {
        const char *cmd;
        if (lsp_get_string(m->params, "command", &cmd))
            return 0;
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(m->params, "arguments");
        const cJSON *arg0 = cJSON_IsArray(args) ? cJSON_GetArrayItem(args, 0) : NULL;
        if (!strcmp(cmd, "seekd.accepted")) {
            shown_event(p, CACHE_EV_ACCEPTED, arg0, 0);
            reply_to(p, m->id, NULL);
            return 1;
        }
        if (!strcmp(cmd, "seekd.explain")) {
            explain_start(p, m, arg0);
            return 1;
        }
        return 0;
    }
    if (!strcmp(meth, "textDocument/codeAction")) {
        const char *uri;
        lsp_range r;
        if (lsp_get_text_document(m->params, &uri) ||
            lsp_get_range(cJSON_GetObjectItemCaseSensitive(m->params, "range"), &r))
            return 0; /* the session reports the error */
        cJSON *res = cJSON_CreateArray();
        if (r.start.line != r.end.line || r.start.character != r.end.character) {
            cJSON *act = cJSON_CreateObject();
            cJSON_AddStringToObject(act, "title", "Explain this code");
            cJSON_AddStringToObject(act, "kind", "");
            cJSON *cmd = cJSON_AddObjectToObject(act, "command");
            cJSON_AddStringToObject(cmd, "title", "Explain this code");
            cJSON_AddStringToObject(cmd, "command", "seekd.explain");
            cJSON *args = cJSON_AddArrayToObject(cmd, "arguments");
            cJSON *a = cJSON_CreateObject();
            cJSON *td = cJSON_AddObjectToObject(a, "textDocument");
            cJSON_AddStringToObject(td, "uri", uri);
            cJSON_AddItemToObject(a, "range", range_json(r.start, r.end));
            cJSON_AddItemToArray(args, a);
            cJSON_AddItemToArray(res, act);
        }
        reply_to(p, m->id, res);
        return 1;
    }
    if (!strcmp(meth, "seekd/lastCompletion")) {
        /* {id}: the answer to that completion request, if still remembered; else the last */
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(m->params, "id");
        const cJSON *found = NULL;
        unsigned n = SK_MIN(p->n_recent, (unsigned)RECENT_INFOS);
        for (unsigned i = 0; i < n && !found; i++) {
            const cJSON *r = p->recent[(p->n_recent - 1 - i) % RECENT_INFOS];
            if (!want || lsp_id_equal(cJSON_GetObjectItemCaseSensitive(r, "requestId"), want))
                found = r;
        }
        reply_to(p, m->id, found ? cJSON_Duplicate(found, 1) : NULL);
        return 1;
    }
    if (!strcmp(meth, "seekd/status") && p->w) {
        reply_to(p, m->id, status_obj(p));
        return 1;
    }
    return 0;
}

/* The session's output passes here: the initialize response gets our capabilities. */
static void send_hook(void *ud, const char *json, size_t len)
{
    struct dmn_pipe *p = ud;
    if (p->init_id) {
        cJSON *msg = cJSON_ParseWithLength(json, len);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
        cJSON *res = cJSON_GetObjectItemCaseSensitive(msg, "result");
        if (id && lsp_id_equal(id, p->init_id) && cJSON_IsObject(res)) {
            cJSON_Delete(p->init_id);
            p->init_id = NULL;
            cJSON *caps = cJSON_GetObjectItemCaseSensitive(res, "capabilities");
            cJSON *ex = cJSON_GetObjectItemCaseSensitive(caps, "executeCommandProvider");
            cJSON *cmds = cJSON_GetObjectItemCaseSensitive(ex, "commands");
            if (cJSON_IsArray(cmds))
                cJSON_AddItemToArray(cmds, cJSON_CreateString("seekd.accepted"));
            psend(p, msg);
            return;
        }
        cJSON_Delete(msg);
    }
    p->send(p->send_ud, json, len);
}

/* ---- lifetime ------------------------------------------------------------------------------ */

int dmn_pipe_new(void *uv_loop, struct dmn_session_opts *o, struct dmn_pipe **out)
{
    struct dmn_pipe *p = sk_calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->loop = uv_loop;
    p->send = o->send;
    p->send_ud = o->send_ud;
    p->state = "loading";
    lsp_reader_init(&p->rd, o->max_body);
    dmn_config_defaults(&p->cfg);
    char err[600];
    int rc = dmn_config_load_file(&p->cfg, err, sizeof err);
    if (rc < 0)
        SK_WARN("config: %s", err);
    if (p->loop) {
        if (uv_async_init(p->loop, &p->async, on_async) == 0) {
            p->async.data = p;
            p->async_open = 1;
        }
    }
    struct dmn_infer_opts io = {worker_notify, p};
    if (!p->async_open || dmn_infer_new(&io, &p->w)) {
        if (p->async_open)
            uv_close((uv_handle_t *)&p->async, NULL);
        dmn_config_free(&p->cfg);
        lsp_reader_free(&p->rd);
        sk_free(p);
        return -ENOMEM;
    }
    o->send = send_hook;
    o->send_ud = p;
    o->start = start_cb;
    o->start_ud = p;
    *out = p;
    return 0;
}

void dmn_pipe_set_session(struct dmn_pipe *p, dmn_session *s) { p->s = s; }

int dmn_pipe_feed(struct dmn_pipe *p, const void *data, size_t n)
{
    int rc = lsp_reader_feed(&p->rd, data, n);
    if (rc)
        return rc;
    for (;;) {
        const char *body;
        size_t len;
        rc = lsp_reader_next(&p->rd, &body, &len);
        if (rc == 0)
            break;
        if (rc < 0) {
            SK_ERROR("lsp: framing: %s", lsp_strerror(rc));
            continue;
        }
        lsp_msg m;
        lsp_msg_error err;
        int handled = 0, parsed = 0;
        if (!p->stopped && lsp_msg_parse(body, len, &m, &err) == 0) {
            parsed = 1;
            handled = intercept(p, &m, body, len);
        } else if (!p->stopped) {
            lsp_msg_error_free(&err);
        }
        if (!handled)
            dmn_session_handle(p->s, body, len);
        if (parsed) {
            if (!handled)
                xfile_note(p, &m);
            lsp_msg_free(&m);
        }
        check_cancels(p);
        if (dmn_session_exited(p->s, NULL))
            break;
    }
    return 0;
}

static void on_closed(uv_handle_t *h) { (void)h; }

void dmn_pipe_stop(struct dmn_pipe *p)
{
    if (!p || p->stopped)
        return;
    p->stopped = 1;
    dmn_infer_delete(p->w); /* aborts the running job; its request dies with the session */
    p->w = NULL;
    ctx_index_delete(p->ix); /* no job borrows them any more */
    p->ix = NULL;
    ctx_ring_delete(p->ring);
    p->ring = NULL;
    if (p->async_open)
        uv_close((uv_handle_t *)&p->async, on_closed);
    p->async_open = 0;
}

void dmn_pipe_delete(struct dmn_pipe *p)
{
    if (!p)
        return;
    dmn_pipe_stop(p);
    for (struct inflight *f = p->inflight, *n; f; f = n) {
        n = f->next;
        cJSON_Delete(f->id);
        sk_free(f);
    }
    cJSON_Delete(p->init_id);
    for (unsigned i = 0; i < RECENT_INFOS; i++)
        cJSON_Delete(p->recent[i]);
    cJSON_Delete(p->shown);
    sk_free(p->root);
    sk_free(p->state_msg);
    sk_free(p->load_token);
    dmn_config_free(&p->cfg);
    lsp_reader_free(&p->rd);
    sk_free(p);
}
