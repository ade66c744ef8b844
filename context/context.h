/*
 * context: the documents the editor has open, their incremental tree-sitter parses, and (later)
 * the FIM prompt builder, cross-file context and post-processing of completions.
 * Only this module includes tree-sitter.  It works in bytes (UTF-8); converting LSP positions
 * (UTF-16 code units by default) to byte offsets is the caller's job with lsp/.
 *
 * Threads: a ctx_doc belongs to the loop thread.  Hand other threads copies (ctx_doc_snapshot).
 * Errors: 0 or a negative errno-style code.
 */
#ifndef SEEKD_CONTEXT_H
#define SEEKD_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

/* ==== languages ============================================================================ */
enum ctx_lang {
    CTX_LANG_NONE = 0, /* plain text: no parser */
    CTX_LANG_C,
    CTX_LANG_CPP,
    CTX_LANG_PYTHON,
    CTX_LANG_JAVASCRIPT,
    CTX_LANG_TYPESCRIPT,
    CTX_LANG_TSX,
    CTX_LANG_GO,
    CTX_LANG_RUST,
    CTX_LANG_JAVA,
    CTX_LANG_BASH,
    CTX_LANG_JSON,
    CTX_LANG__COUNT
};
/* From an LSP languageId ("python", "typescriptreact", "shellscript", ...); NONE if unknown. */
enum ctx_lang ctx_lang_from_id(const char *language_id);
/* From a path or URI by its extension ("x.py", "file:///a/b.tsx"); NONE if unknown. */
enum ctx_lang ctx_lang_from_path(const char *path);
const char *ctx_lang_name(enum ctx_lang lang); /* "python"; "plaintext" for NONE */

/* ==== documents ============================================================================ */
typedef struct ctx_doc ctx_doc;

/* Creates a document holding a copy of text[0..len).  lang NONE keeps no tree.  The document is
 * parsed on creation.  Returns 0 or -ENOMEM; *out is freed with ctx_doc_delete. */
int ctx_doc_new(const char *uri, enum ctx_lang lang, const char *text, size_t len,
                int64_t version, ctx_doc **out);
void ctx_doc_delete(ctx_doc *doc);

const char *ctx_doc_uri(const ctx_doc *doc);
enum ctx_lang ctx_doc_lang(const ctx_doc *doc);
int64_t ctx_doc_version(const ctx_doc *doc);
void ctx_doc_set_version(ctx_doc *doc, int64_t version);
/* The text (NUL-terminated; the pointer is valid until the next edit). */
const char *ctx_doc_text(const ctx_doc *doc, size_t *len);

/* Lines are split at \n, \r\n and lone \r, as LSP counts them.  line_count >= 1.  For line i
 * (0-based) *start is the byte offset of its first byte and *len its length without the line
 * terminator.  Returns -EINVAL when i is out of range. */
uint32_t ctx_doc_line_count(const ctx_doc *doc);
int ctx_doc_line(const ctx_doc *doc, uint32_t i, size_t *start, size_t *len);

/* Replaces bytes [start, end) with text[0..len) and records the edit in the tree (ts_tree_edit)
 * so the next parse is incremental.  Offsets past the end are clamped; start > end is -EINVAL.
 * Does not reparse: call ctx_doc_parse (the daemon does after each didChange notification). */
int ctx_doc_replace(ctx_doc *doc, size_t start, size_t end, const char *text, size_t len);
/* Full-text replacement (full sync). */
int ctx_doc_set_text(ctx_doc *doc, const char *text, size_t len);

/* Reparses if the text changed since the last parse, reusing the old tree.  The parse stops
 * after timeout_us microseconds (0 = no limit) or when *cancel becomes non-zero; then it returns
 * -ETIMEDOUT / -ECANCELED, keeps the previous tree (edited) and a later call starts over. */
int ctx_doc_parse(ctx_doc *doc, uint64_t timeout_us, const volatile size_t *cancel);
/* 1 when the current tree matches the current text. */
int ctx_doc_parsed(const ctx_doc *doc);

/* The tree as an s-expression (tree-sitter's ts_node_string form), sk_malloc'd: caller frees
 * with sk_free.  NULL when the document has no tree. */
char *ctx_doc_sexp(const ctx_doc *doc);
/* Parses text from scratch with the language's parser and returns its s-expression (for tests
 * and the seekd/syntaxTree check); caller frees with sk_free. */
char *ctx_sexp_fresh(enum ctx_lang lang, const char *text, size_t len);

#endif
