/*
 * Fuzz target for the LSP path without I/O: bytes -> framing (lsp_reader) -> JSON-RPC
 * (lsp_msg_parse) -> session dispatch -> documents (didOpen/didChange edits, reparses, the debug
 * requests).  Input layout:
 *   byte 0   bit 0: prepend initialize + initialized (so inputs reach documents at once);
 *            bit 1: prepend a didOpen of file:///f.c holding a small C program;
 *            bits 2-7: chunk size - 1 for feeding the rest (1..64 bytes per feed call)
 *   rest     the client's byte stream
 * Checked after every chunk: each message the server sends is valid JSON-RPC (an object with
 * jsonrpc "2.0" and either a method or an id), and every document changed since its last check
 * passes ctx_doc_check FRESH_IF_VALID (line index and tree positions agree with the text, so
 * every edit reached the tree right; the tree equals a fresh parse when that has no error).
 * At the end the session is closed and nothing it allocated is left.
 */
#include "base.h"
#include "daemon/session.h"
#include "lsp/lsp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_out(void *ud, const char *json, size_t len)
{
    (void)ud;
    lsp_msg m;
    lsp_msg_error e;
    if (lsp_msg_parse(json, len, &m, &e) < 0) {
        fprintf(stderr, "server sent an invalid message (%s): %.*s\n", e.message, (int)len, json);
        abort();
    }
    if (m.kind == LSP_MSG_REQUEST) {
        fprintf(stderr, "server sent a request: %.*s\n", (int)len, json);
        abort();
    }
    lsp_msg_free(&m);
}

static void feed_str(dmn_session *s, const char *body)
{
    size_t n;
    char *f = lsp_frame_encode(body, strlen(body), &n);
    dmn_session_feed(s, f, n);
    sk_free(f);
}

static void check_docs(dmn_session *s)
{
    char err[1024];
    if (dmn__session_check(s, CTX_CHECK_FRESH_IF_VALID, err, sizeof err)) {
        fprintf(stderr, "document check failed: %s\n", err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once) {
        sk_log_set_level(getenv("FUZZ_LSP_LOG") ? SK_LOG_DEBUG : SK_LOG_OFF);
        once = 1;
    }
    if (size < 1)
        return 0;
    size_t live = sk_alloc_live_bytes();
    dmn_session_opts o = {.send = check_out, .parse_timeout_us = 20000, .max_body = 1 << 16};
    dmn_session *s;
    if (dmn_session_new(&o, &s))
        abort();
    if (data[0] & 1) {
        feed_str(s, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"capabilities\":"
                    "{\"general\":{\"positionEncodings\":[\"utf-16\"]}}}}");
        feed_str(s, "{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}");
    }
    if (data[0] & 2)
        feed_str(s, "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{\"textDocument\":"
                    "{\"uri\":\"file:///f.c\",\"languageId\":\"c\",\"version\":1,\"text\":"
                    "\"int main(void) {\\r\\n  char *s = \\\"\\u00e9\\ud83d\\ude00\\\";\\n  return 0;\\r}\\n\"}}}");
    size_t chunk = (size_t)(data[0] >> 2) + 1;
    for (size_t off = 1; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        dmn_session_feed(s, data + off, n);
        for (int i = 0; i < 8 && dmn_session_poll(s); i++)
            ;
        check_docs(s);
        if (dmn_session_exited(s, NULL))
            break;
    }
    while (dmn_session_poll(s))
        ;
    check_docs(s);
    dmn_session_eof(s);
    dmn_session_delete(s);
    if (sk_alloc_live_bytes() != live) {
        fprintf(stderr, "leak: %zu bytes\n", sk_alloc_live_bytes() - live);
        abort();
    }
    return 0;
}
