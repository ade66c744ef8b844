/*
 * The LSP session: everything the server does with one editor connection, as pure logic.  Bytes
 * (or framed bodies) go in; responses and notifications come out through a callback.  No libuv:
 * daemon/lsp_loop.c wires a session to stdio, and tests and the fuzzer drive it directly.
 *
 * What it handles:
 *   lifecycle   initialize (capabilities, position encoding negotiation), initialized,
 *               shutdown, exit; requests before initialize get -32002, requests after shutdown
 *               -32600; notifications before initialize are dropped, except exit.
 *   documents   didOpen / didChange (full and incremental, several changes applied in order,
 *               versions tracked) / didSave / didClose, kept as ctx_doc and reparsed after each
 *               didChange for at most parse_timeout_us (a parse cut short resumes from
 *               dmn_session_poll, so the loop never stalls on a huge file).
 *   requests    textDocument/completion and textDocument/inlineCompletion are queued in a
 *               registry and answered from dmn_session_poll, so a burst read in one go is
 *               settled before any work starts.  $/cancelRequest and a newer request of the same
 *               method for the same document cancel a queued or running request: it is answered
 *               with -32800 RequestCancelled.
 *   debug       seekd/syntaxTree {textDocument} -> {text, version, languageId, sexp, check} of
 *               the document's current tree (parsed to completion first; check is null when
 *               ctx_doc_check finds the line index and tree positions consistent with the text,
 *               else the difference), and seekd/parse
 *               {languageId, text} -> {sexp} of a fresh parse, so tests compare incremental
 *               and fresh parses.
 *
 * Thread: a session belongs to one thread (the loop thread).  A completion worker on another
 * thread may only read dmn_req.cancelled; its result comes back to the loop thread, which calls
 * dmn_session_reply.
 */
#ifndef SEEKD_DAEMON_SESSION_H
#define SEEKD_DAEMON_SESSION_H

#include "context/context.h"
#include "lsp/lsp.h"

#include <stddef.h>
#include <stdint.h>

typedef struct dmn_session dmn_session;

/* One outgoing message body (compact JSON, not framed, not NUL-terminated for the callee's
 * purposes); the pointer is valid during the call only. */
typedef void (*dmn_send_fn)(void *ud, const char *json, size_t len);

/* A request waiting for its answer.  Owned by the session's registry; valid until answered. */
typedef struct dmn_req {
    cJSON *id;           /* duplicate of the request's id */
    char *method;
    char *uri;           /* the document it is about, or NULL */
    cJSON *params;       /* duplicate of the params (NULL when absent) */
    uint64_t seq;        /* arrival order */
    volatile size_t cancelled; /* non-zero once cancelled: workers poll it between steps (the
                                * same flag type ctx_doc_parse takes) */
    int running;         /* handed to a worker, which will answer through dmn_session_reply */
    struct dmn_req *prev, *next;
} dmn_req;

/* Starts work on a queued request.  Returns 0 when it took the request (the session marks it
 * running; the taker answers later, on the loop thread, with dmn_session_reply), or a negative
 * value to let the session answer with an empty result.  NULL (the default for now): no completion model is configured,
 * and every completion request is answered with an empty list. */
typedef int (*dmn_start_fn)(void *ud, dmn_session *s, dmn_req *q);

typedef struct dmn_session_opts {
    dmn_send_fn send;
    void *send_ud;
    dmn_start_fn start; /* may be NULL */
    void *start_ud;
    uint64_t parse_timeout_us; /* per reparse slice; 0 means 50 ms */
    size_t max_body;           /* framing limit; 0 means LSP_MAX_BODY_DEFAULT */
} dmn_session_opts;

/* Returns 0 or -ENOMEM; the session is freed with dmn_session_delete (which answers nothing:
 * requests still queued are dropped). */
int dmn_session_new(const dmn_session_opts *opts, dmn_session **out);
void dmn_session_delete(dmn_session *s);

/* Feeds raw bytes from the client (any chunking): every complete message is handled before it
 * returns.  Framing errors are logged and skipped (lsp.h).  Returns 0 or -ENOMEM.  After exit,
 * input is ignored. */
int dmn_session_feed(dmn_session *s, const void *data, size_t n);
/* Handles one message body (already unframed). */
void dmn_session_handle(dmn_session *s, const char *body, size_t len);
/* Runs deferred work: answers queued requests (or starts them), continues cut-short parses.
 * Returns 1 while work remains (call again soon), 0 when idle. */
int dmn_session_poll(dmn_session *s);

/* 1 once the exit notification arrived (or the client went away: dmn_session_eof), with the
 * process exit code in *code: 0 after shutdown, 1 otherwise. */
int dmn_session_exited(const dmn_session *s, int *code);
/* The input stream ended: the same as exit. */
void dmn_session_eof(dmn_session *s);
/* 1 after a shutdown request. */
int dmn_session_shutting_down(const dmn_session *s);

/* Answers a request taken by a start callback: with result (taken; NULL means null), or with
 * -32800 when it was cancelled meanwhile (result is then deleted).  Frees q. */
void dmn_session_reply(dmn_session *s, dmn_req *q, cJSON *result);
/* The same with an error. */
void dmn_session_reply_error(dmn_session *s, dmn_req *q, int code, const char *message);

/* The open document for uri, or NULL. */
ctx_doc *dmn_session_doc(dmn_session *s, const char *uri);
/* The negotiated position encoding (utf-16 until initialize chose another). */
enum lsp_enc dmn_session_encoding(const dmn_session *s);
/* Byte offset of an LSP position in doc: characters past the end of a line mean its end, lines
 * past the last line mean the end of the text. */
size_t dmn_doc_offset(const ctx_doc *doc, lsp_position pos, enum lsp_enc enc);
/* The LSP position of byte offset off (clamped to the text).  An offset inside a line
 * terminator means the end of that line; one inside a code point, the code point's start. */
lsp_position dmn_doc_position(const ctx_doc *doc, size_t off, enum lsp_enc enc);
/* Number of requests in the registry (queued or running). */
size_t dmn_session_pending(const dmn_session *s);
/* For tests and the fuzzer: runs ctx_doc_check on every open document changed (or not fully
 * parsed) since it last passed, with `mode` (CTX_CHECK_CONSISTENT for a document whose parse is
 * still pending).  Returns 0, or the first failure with its description in err[0..n). */
int dmn__session_check(dmn_session *s, enum ctx_check mode, char *err, size_t n);

#endif
