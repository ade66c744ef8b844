/*
 * context/ internals shared by its files: the tree-sitter language table and the allocator hook.
 * Nothing outside context/ includes this header (it pulls in tree-sitter).
 */
#ifndef SEEKD_CTX_INT_H
#define SEEKD_CTX_INT_H

#include "context.h"

#include <tree_sitter/api.h>

/* Routes tree-sitter's allocations through sk_malloc & co. (once per process, thread-safe).
 * Every context/ entry point that creates a tree-sitter object calls it first, so no tree-sitter
 * block is ever allocated by libc and freed by sk_free or the other way round.  tree-sitter cannot
 * recover from a failed allocation: when failure injection makes sk_malloc return NULL inside
 * tree-sitter the hook aborts, as tree-sitter's own default allocator does.  Our own allocations
 * therefore come before any tree-sitter call in each function, so tests can inject failures. */
void ctx__ts_init(void);

/* The grammar of a language; NULL for CTX_LANG_NONE or an out-of-range value. */
const TSLanguage *ctx__ts_language(enum ctx_lang lang);

/* A parser for lang with no timeout (NULL for NONE); delete with ts_parser_delete. */
TSParser *ctx__parser_new(enum ctx_lang lang);

/* Parses text[0..len) from scratch with no limit; NULL for NONE or len > UINT32_MAX. */
TSTree *ctx__parse_fresh(enum ctx_lang lang, const char *text, size_t len);

/* Deletes a tree on the background deleter thread (synchronously when that cannot start or
 * under allocation failure).  Any thread.  ctx_flush waits for it. */
void ctx__tree_release(TSTree *tree);

#endif
