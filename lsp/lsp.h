/*
 * lsp: the Language Server Protocol's wire format, with no sockets and no event loop, so tests
 * and fuzzers drive it directly with bytes.  Three parts:
 *
 *   framing    bytes <-> message bodies ("Content-Length: N\r\n\r\n" + N bytes of JSON);
 *   JSON-RPC   a body <-> a classified, validated message (request / notification / response)
 *              on cJSON, and builders for results, errors and notifications;
 *   positions  LSP {line, character} in utf-16 (the default), utf-8 or utf-32 code units
 *              <-> byte offsets within a line of UTF-8 text, and typed readers for Position,
 *              Range and TextDocumentIdentifier.
 *
 * Workload: one editor connection, messages from a few bytes (cancel) to a few MiB (didOpen of
 * a large file), arriving in arbitrary chunks.  Everything here is plain data: a reader or a
 * message belongs to one thread at a time.
 *
 * Errors: functions that can fail return 0 (or a count) and a negative value on failure: -errno
 * for system errors (-ENOMEM), otherwise an enum lsp_err value.  lsp_strerror names them.
 *
 * cJSON: lsp_json_init() installs the sk_ allocator into cJSON (cJSON_InitHooks).  It runs
 * automatically before main (a constructor in lsp/json.c) and is idempotent; every cJSON object
 * in the process must come from after that point, because cJSON frees with whichever allocator
 * is installed.  Print results of cJSON are freed with cJSON_free (== sk_free here).
 */
#ifndef SEEKD_LSP_H
#define SEEKD_LSP_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* ==== errors ================================================================================ */
enum lsp_err {
    LSP_EHEADER = -2001,   /* a header line that is not "Name: value", or a bad Content-Length */
    LSP_ENOLENGTH = -2002, /* a header block without a Content-Length header */
    LSP_EHEADERSIZE = -2003, /* a header block longer than LSP_MAX_HEADER bytes */
    LSP_ETOOBIG = -2004,   /* a body longer than the reader's limit: skipped */
    LSP_EINVAL = -2005,    /* a JSON value of the wrong type or out of range */
};
const char *lsp_strerror(int err);

/* ==== framing ===============================================================================
 * A message is a header block followed by a body:
 *
 *     Content-Length: 52\r\n
 *     Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n
 *     \r\n
 *     {"jsonrpc":"2.0","id":1,"method":"shutdown"}...
 *
 * The reader accepts header names in any case, ignores headers other than Content-Length,
 * accepts "\n" as well as "\r\n" line ends, and skips stray CR/LF bytes between messages.
 * Content-Length is decimal digits with optional blanks around them; it must be present once
 * (repeats must agree).
 *
 * Errors never stop the reader, and it never loses sync with a well-formed stream:
 *   - A body longer than max_body: lsp_reader_next returns LSP_ETOOBIG once, then discards
 *     exactly Content-Length bytes as they arrive (without buffering them) and continues with
 *     the next message.  The declared length is trusted because it is what keeps us in step.
 *   - A bad header block (garbage line, bad or missing Content-Length, or no blank line within
 *     LSP_MAX_HEADER bytes): lsp_reader_next returns the error once and the reader RESYNCS: it
 *     drops bytes up to the next line that starts with "Content-Length" (any case) and parses
 *     a header block from there.  No line of a JSON body can start with the bare word: raw
 *     newlines occur only between tokens, and a token is punctuation, a number, a literal or a
 *     quoted string; so such a line can only begin a header block.  (A bad block's own later
 *     lines count too: "X\r\nContent-Length: 2\r\n\r\n{}" recovers the message after X.)
 * Memory: the reader buffers at most one header block plus one body (<= max_body) plus the
 * unparsed tail of the last chunk fed.
 */
#define LSP_MAX_BODY_DEFAULT ((size_t)64 << 20) /* 64 MiB */
#define LSP_MAX_HEADER 8192

typedef struct lsp_reader {
    char *buf;          /* sk_malloc'd; bytes [pos, len) are unparsed */
    size_t len, cap, pos;
    size_t max_body;
    uint64_t skip;      /* bytes of an oversized body still to discard */
    int resync;         /* 1 while looking for the next "Content-Length" line */
    int line_start;     /* resync: 1 when the byte before buf[pos] ended a line */
} lsp_reader;

/* max_body 0 means LSP_MAX_BODY_DEFAULT.  Allocates nothing. */
void lsp_reader_init(lsp_reader *r, size_t max_body);
void lsp_reader_free(lsp_reader *r);
/* Appends a chunk (copied).  Returns 0 or -ENOMEM (then the chunk is not taken). */
int lsp_reader_feed(lsp_reader *r, const void *data, size_t n);
/* Takes the next complete message: returns 1 and sets *body and *len (pointing into the reader,
 * valid until the next lsp_reader_feed; not NUL-terminated), 0 when more bytes are needed, or a
 * negative lsp_err for a framing error (reported once; the reader has already recovered, so
 * call again).  Loop until it returns 0. */
int lsp_reader_next(lsp_reader *r, const char **body, size_t *len);

/* Writes "Content-Length: N\r\n\r\n" into hdr (at least LSP_FRAME_HEADER_MAX bytes) and
 * returns its length.  The body follows it unchanged. */
#define LSP_FRAME_HEADER_MAX 48
size_t lsp_frame_header(char *hdr, size_t body_len);
/* Header + body in one sk_malloc'd buffer (caller frees with sk_free).  NULL on allocation
 * failure. */
char *lsp_frame_encode(const char *body, size_t len, size_t *out_len);

/* ==== JSON-RPC 2.0 ==========================================================================
 * LSP uses JSON-RPC 2.0 without batches.  Error codes: */
enum lsp_code {
    LSP_PARSE_ERROR = -32700,
    LSP_INVALID_REQUEST = -32600,
    LSP_METHOD_NOT_FOUND = -32601,
    LSP_INVALID_PARAMS = -32602,
    LSP_INTERNAL_ERROR = -32603,
    LSP_SERVER_NOT_INITIALIZED = -32002,
    LSP_UNKNOWN_ERROR_CODE = -32001,
    LSP_REQUEST_FAILED = -32803,
    LSP_SERVER_CANCELLED = -32802,
    LSP_CONTENT_MODIFIED = -32801,
    LSP_REQUEST_CANCELLED = -32800,
};

enum lsp_msg_kind { LSP_MSG_REQUEST = 1, LSP_MSG_NOTIFICATION, LSP_MSG_RESPONSE };

/* A parsed message.  root owns everything; the other pointers point into it. */
typedef struct lsp_msg {
    enum lsp_msg_kind kind;
    cJSON *root;
    const cJSON *id;     /* request, response: a string or number (a response's may be null) */
    const char *method;  /* request, notification */
    const cJSON *params; /* request, notification: an object or array, or NULL when absent */
    const cJSON *result; /* response: exactly one of result / error is set */
    const cJSON *error;
    int has_nul;         /* the body holds a NUL character (raw or \u0000): cJSON strings are
                          * NUL-terminated, so a string value containing one is cut short */
} lsp_msg;

/* Why a body is not a valid message: the error response to send (code and message), and the id
 * to send it with (a duplicate owned by the struct; NULL means null).  JSON-RPC answers an
 * invalid message even when it looks like a notification, with id null. */
typedef struct lsp_msg_error {
    int code;
    const char *message; /* static string */
    cJSON *id;
} lsp_msg_error;

/* Parses and validates one body.  Valid: an object with "jsonrpc": "2.0" and
 *   - "method" (string) and "id" (string or number): a request;
 *   - "method" and no "id": a notification;
 *   - "id" (string, number or null) and exactly one of "result" / "error" (an object with an
 *     integer "code" and a string "message"): a response;
 * and, when present, "params" an object or array.  Trailing bytes other than whitespace make a
 * parse error.  Arrays (batches) are rejected with -32600: LSP has no batches.
 * Returns 0 and fills *msg (free with lsp_msg_free), or a negative value and fills *err (free
 * with lsp_msg_error_free): code LSP_PARSE_ERROR, LSP_INVALID_REQUEST, or -ENOMEM. */
int lsp_msg_parse(const char *body, size_t len, lsp_msg *msg, lsp_msg_error *err);
void lsp_msg_free(lsp_msg *msg);
void lsp_msg_error_free(lsp_msg_error *err);

/* Builders.  Each returns a new message object (cJSON_Delete it, or print it with lsp_print),
 * or NULL on allocation failure.  id is duplicated (NULL means null).  result, data and params
 * are TAKEN (also on failure); result NULL means null. */
cJSON *lsp_response_new(const cJSON *id, cJSON *result);
cJSON *lsp_error_new(const cJSON *id, int code, const char *message, cJSON *data);
cJSON *lsp_notification_new(const char *method, cJSON *params);
cJSON *lsp_request_new(const cJSON *id, const char *method, cJSON *params);
/* Compact JSON, cJSON-allocated (free with cJSON_free); NULL on allocation failure. */
char *lsp_print(const cJSON *item, size_t *len);
/* 1 when two ids are the same JSON-RPC id (same type and value). */
int lsp_id_equal(const cJSON *a, const cJSON *b);

void lsp_json_init(void);

/* ==== positions =============================================================================
 * LSP addresses text as {line, character}; character counts code units of the negotiated
 * encoding.  These functions convert within one line (without its terminator) of UTF-8 text.
 *
 * Invalid UTF-8: a byte that does not start a well-formed sequence (stray continuation byte,
 * overlong form, surrogate, > U+10FFFF, truncated sequence) counts as one code point of one
 * unit in every encoding (as if it were U+FFFD read byte by byte).  Nothing reads outside
 * line[0..len).
 * Clamping: a character past the end of the line means the end of the line (the spec's rule).
 * A character that falls inside a code point (the second half of a surrogate pair, a byte
 * inside a multi-byte sequence under utf-8) means the start of that code point. */
enum lsp_enc { LSP_ENC_UTF16 = 0, LSP_ENC_UTF8, LSP_ENC_UTF32 };
const char *lsp_enc_name(enum lsp_enc enc); /* "utf-16", "utf-8", "utf-32" */
/* Returns 0 and sets *out, or LSP_EINVAL for an unknown name. */
int lsp_enc_parse(const char *name, enum lsp_enc *out);

/* Byte offset (0..len) of the code point at `character` units. */
size_t lsp_char_to_byte(const char *line, size_t len, uint32_t character, enum lsp_enc enc);
/* Units before byte offset `byte` (clamped to len; a byte inside a sequence counts from the
 * start of its code point). */
uint32_t lsp_byte_to_char(const char *line, size_t len, size_t byte, enum lsp_enc enc);
/* Units in the whole line. */
uint32_t lsp_line_units(const char *line, size_t len, enum lsp_enc enc);
/* Length in bytes of the code point starting at s[0] (1..4) and its value in *cp (U+FFFD with
 * length 1 for invalid input).  n >= 1. */
size_t lsp_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* ==== typed readers ========================================================================
 * Each returns 0 or LSP_EINVAL (missing member, wrong type, out of range).  LSP integers
 * (line, character, version) must be integral numbers; lines and characters in 0..2^31-1. */
typedef struct lsp_position {
    uint32_t line, character;
} lsp_position;
typedef struct lsp_range {
    lsp_position start, end;
} lsp_range;

int lsp_get_position(const cJSON *obj, lsp_position *out); /* {line, character} */
int lsp_get_range(const cJSON *obj, lsp_range *out);       /* {start, end} */
/* params.textDocument.uri (a non-empty string; the pointer points into params). */
int lsp_get_text_document(const cJSON *params, const char **uri);
/* A member string (pointer into obj). */
int lsp_get_string(const cJSON *obj, const char *key, const char **out);
/* A member integer in [min, max]. */
int lsp_get_int(const cJSON *obj, const char *key, int64_t min, int64_t max, int64_t *out);
/* A JSON number that is an integer in [min, max]. */
int lsp_number_int(const cJSON *item, int64_t min, int64_t max, int64_t *out);

/* The local path of a file URI (RFC 8089): "file:///a%20b/c.py" -> "/a b/c.py".  Percent
 * escapes are decoded (bytes, so UTF-8 names come out as UTF-8), a host part
 * ("file://localhost/x") is dropped, a query or fragment ends the path.  Returns 0 with the
 * NUL-terminated path in buf[0..cap), -EINVAL for a URI that is not file:, a bad or %00
 * escape, or -ENAMETOOLONG. */
int lsp_uri_to_path(const char *uri, char *buf, size_t cap);

#endif
