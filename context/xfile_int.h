/*
 * context/ internals of the cross-file context: .gitignore matching (gitignore.c), definition
 * extraction with tree-sitter (index_extract.c), the index's lookups used by the snippet
 * selector (index.c), and the ring's snapshot (ring.c).  Only context/ and its tests include it.
 */
#ifndef SEEKD_XFILE_INT_H
#define SEEKD_XFILE_INT_H

#include "context.h"

#include <stddef.h>
#include <stdint.h>

/* ==== .gitignore =========================================================================== *
 * The common subset of gitignore(5): blank lines and '#' comments, "\#" / "\!" escapes,
 * trailing spaces trimmed, '!' negation, a trailing '/' = directories only, a '/' at the start
 * or in the middle = anchored to the .gitignore's directory (else the pattern matches the base
 * name at any depth below it), globs '*', '?', '[a-z]' / '[!x]', and '**' as a whole path
 * component ("**" "/x", "a/" "**", "a/" "**" "/b").  Rules are checked in order, the last match
 * wins; a rule from a nested .gitignore applies only below its directory.  As in git, a path
 * inside an excluded directory cannot be re-included (the walker never enters the directory). */
struct ctx__gi;
struct ctx__gi *ctx__gi_new(void); /* NULL on ENOMEM; free with ctx__gi_free */
void ctx__gi_free(struct ctx__gi *g);
/* Adds the rules of one .gitignore whose directory is base ("" = root, else "a/b" without a
 * trailing slash), text[0..len).  0 or -ENOMEM (rules added so far stay). */
int ctx__gi_add(struct ctx__gi *g, const char *base, const char *text, size_t len);
/* 1 when the root-relative path ("a/b.c", no leading slash) is ignored, else 0. */
int ctx__gi_ignored(const struct ctx__gi *g, const char *path, int is_dir);
/* fnmatch-like glob on whole strings: '*' and '?' do not match '/', '**' components do. */
int ctx__glob(const char *pat, const char *s);

/* ==== definitions ========================================================================== */
enum ctx__def_kind {
    CTX_DEF_FUNC = 1, CTX_DEF_METHOD, CTX_DEF_PROTO, CTX_DEF_TYPE, CTX_DEF_CLASS, CTX_DEF_CONST,
    CTX_DEF_MACRO, CTX_DEF_MODULE,
};
struct ctx__def {
    uint32_t name_off, name_len;  /* in the file record's string block */
    uint32_t text_off, text_len;  /* the snippet: whole definition up to the line cap */
    uint32_t start;               /* byte offset of the definition's line start in the file */
    uint32_t line;                /* 0-based */
    uint8_t kind;                 /* ctx__def_kind */
    uint8_t top;                  /* 1 at file level (not inside a class/impl/namespace) */
};
/* Caps for one file. */
#define CTX__MAX_DEFS_PER_FILE 4000
#define CTX__DEF_MAX_LINES 24
/* Extracts the definitions of text[0..len) in lang: *defs (sk_malloc'd, n entries) and *strings
 * (sk_malloc'd block their offsets point into).  0, -ENOMEM, -EINVAL (no grammar). */
int ctx__extract_defs(enum ctx_lang lang, const char *text, size_t len, struct ctx__def **defs,
                      uint32_t *n, char **strings, size_t *strings_len);

/* ==== lookups for the selector (index.c; take the index lock briefly) ====================== */
struct ctx__hit {
    char *path;          /* display path (root-relative or absolute), sk_malloc'd */
    enum ctx_lang lang;
    char *text;          /* sk_malloc'd */
    size_t text_len;
    uint32_t start, line;
    uint8_t kind, top;
};
void ctx__hit_clear(struct ctx__hit *h);
/* Definitions named name[0..len) (at most max), copied out.  Returns the count or -ENOMEM. */
int ctx__index_lookup(ctx_index *ix, const char *name, size_t len, struct ctx__hit *out, int max);
/* Top-level definitions of the file at display path rel (at most max, in file order), or 0 when
 * the file is not indexed. */
int ctx__index_file_defs(ctx_index *ix, const char *rel, struct ctx__hit *out, int max);
/* Resolves an import: writes into buf the display path of the first indexed file among cands
 * (exact paths) or, failing that, whose path ends with "/" + a suffix in suffixes; 0 when found,
 * -ENOENT.  Either list may be empty (n = 0). */
int ctx__index_resolve(ctx_index *ix, const char *const *cands, int n_cands,
                       const char *const *suffixes, int n_suffixes, char *buf, size_t cap);
/* The display path for a path or file:// URI (root-relative when under the root). */
int ctx__index_display_path(const ctx_index *ix, const char *path_or_uri, char *buf, size_t cap);

/* ==== ring snapshot ======================================================================== */
struct ctx__chunk {
    char *path;          /* display path as given */
    enum ctx_lang lang;
    char *text;
    size_t len;
    uint64_t seq;        /* slot creation order (stable while the chunk is refreshed in place) */
};
/* Copies the chunks (oldest first) except those of exclude_path (may be NULL).  Returns the
 * count (<= max) or -ENOMEM.  Free each with ctx__chunk_clear. */
int ctx__ring_snapshot(ctx_ring *r, const char *exclude_path, struct ctx__chunk *out, int max);
void ctx__chunk_clear(struct ctx__chunk *c);

#endif
