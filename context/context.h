/*
 * context: the documents the editor has open, their incremental tree-sitter parses, and (later)
 * the FIM prompt builder, cross-file context and post-processing of completions.
 * Only this module includes tree-sitter.  It works in bytes (UTF-8); converting LSP positions
 * (UTF-16 code units by default) to byte offsets is the caller's job with lsp/.
 *
 * Threads: a ctx_doc belongs to the loop thread.  Hand other threads copies of the bytes they
 * need (ctx_doc_bytes); trees never leave context/ (replaced trees are freed on context/'s own
 * deleter thread, see ctx_flush).
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

/* Largest document (tree-sitter works in uint32 offsets; we keep a margin). */
#define CTX_DOC_MAX_BYTES ((size_t)1 << 31)

/* Creates a document holding a copy of text[0..len).  lang NONE keeps no tree.  The document is
 * parsed on creation, for at most 200 ms: a bigger file is left unparsed (ctx_doc_parsed 0) for
 * ctx_doc_parse to finish.  uri may be NULL (stored as "").  Returns 0, -ENOMEM, -EINVAL (bad
 * lang, NULL text with len > 0) or -EFBIG (len > CTX_DOC_MAX_BYTES); *out is freed with
 * ctx_doc_delete.  Text is bytes: invalid UTF-8 and NUL bytes are kept as they are (tree-sitter
 * lexes a NUL like any other unexpected character; only ctx_doc_text's terminator is special). */
int ctx_doc_new(const char *uri, enum ctx_lang lang, const char *text, size_t len,
                int64_t version, ctx_doc **out);
/* Frees the document and everything it holds, including replaced trees still queued for the
 * background deleter (it waits for them: see ctx_flush). */
void ctx_doc_delete(ctx_doc *doc);
/* A parse replaces the document's tree; the old one is freed on a background thread (freeing a
 * tree the parse could not reuse takes up to ~20 ms).  ctx_flush waits until every queued tree is
 * freed (tests reading live bytes, shutdown).  Any thread. */
void ctx_flush(void);

const char *ctx_doc_uri(const ctx_doc *doc);
enum ctx_lang ctx_doc_lang(const ctx_doc *doc);
int64_t ctx_doc_version(const ctx_doc *doc);
void ctx_doc_set_version(ctx_doc *doc, int64_t version);
/* The text (NUL-terminated; the pointer is valid until the next edit or ctx_doc_bytes call on
 * this document).  Costs a memmove of the bytes after the last edit point (the text is kept in a
 * gap buffer), so callers needing a window use ctx_doc_bytes instead.  len may be NULL. */
const char *ctx_doc_text(const ctx_doc *doc, size_t *len);
/* Length of the text in bytes. */
size_t ctx_doc_len(const ctx_doc *doc);
/* Bytes [start, end) as one contiguous run (not NUL-terminated), offsets clamped to the text.
 * Valid until the next edit, ctx_doc_text or ctx_doc_bytes call on this document.  Cost: at most
 * a memmove of the shorter part of the range when the last edit point lies inside it. */
const char *ctx_doc_bytes(const ctx_doc *doc, size_t start, size_t end);

/* Lines are split at \n, \r\n and lone \r, as LSP counts them.  line_count >= 1.  For line i
 * (0-based) *start is the byte offset of its first byte and *len its length without the line
 * terminator.  Returns -EINVAL when i is out of range. */
uint32_t ctx_doc_line_count(const ctx_doc *doc);
int ctx_doc_line(const ctx_doc *doc, uint32_t i, size_t *start, size_t *len);
/* The line holding byte offset (0 <= offset <= length) and the offset's byte column in it.  An
 * offset inside a line terminator belongs to the line it ends.  -EINVAL past the end. */
int ctx_doc_line_of(const ctx_doc *doc, size_t offset, uint32_t *line, size_t *col);

/* Replaces bytes [start, end) with text[0..len) and records the edit in the tree (ts_tree_edit)
 * so the next parse is incremental.  Offsets past the end are clamped; start > end is -EINVAL,
 * and so is NULL text with len > 0; a result above CTX_DOC_MAX_BYTES is -EFBIG; -ENOMEM.  On
 * error nothing changed.  text must not point into the document's own buffer.  Cost: O(len +
 * removed bytes + distance from the previous edit), plus a memmove of the line index tail when
 * the number of lines changes.
 * Does not reparse: call ctx_doc_parse (the daemon does after each didChange notification). */
int ctx_doc_replace(ctx_doc *doc, size_t start, size_t end, const char *text, size_t len);
/* Full-text replacement (full sync).  Diffed against the current text (common prefix and
 * suffix), so the tree sees one edit and the next parse stays incremental.  Errors as above. */
int ctx_doc_set_text(ctx_doc *doc, const char *text, size_t len);
/* Where the last ctx_doc_replace / ctx_doc_set_text changed the text: bytes [*start, *end) of
 * the current text hold what it inserted (start == end for a deletion).  For ctx_doc_set_text
 * that is the changed chunk between the common prefix and suffix of the old and new text, so a
 * full-sync client's edit can be located.  An edit that changed nothing does not count.
 * Returns 0, or -ENOENT when the text was never edited since ctx_doc_new. */
int ctx_doc_last_edit(const ctx_doc *doc, size_t *start, size_t *end);

/* Reparses if the text changed since the last parse, reusing the old tree.  The parse stops
 * after timeout_us microseconds (0 = no limit) or when *cancel becomes non-zero (cancel may be
 * NULL; another thread may set it); then it returns -ETIMEDOUT / -ECANCELED and keeps the
 * previous tree (edited, so its positions follow the text, but ctx_doc_parsed stays 0).  The
 * parser keeps its partial work: the next call resumes it when the text has not changed since,
 * and resets the parser and starts over when it has.  So a file too big for one budget still
 * gets parsed by repeated bounded calls between keystrokes.  Returns 0 at once for lang NONE
 * and when already parsed.
 * Cost with tree-sitter 0.20.7 (bench/bench_docs.c): an edit that keeps the text valid costs
 * about one re-shift and re-reduce per sibling of the repetitions on the path to the edit
 * (repetition nodes are never reused whole), ~0.1-0.4 ms on 5-10k-line files; an edit entering
 * or leaving a syntax error runs error recovery, which can re-lex the rest of the block or file
 * (ms to tens of ms; in Python an unclosed bracket or a bad indent reaches the end of the file).
 * tree-sitter looks at the clock and the flag only between parse actions, so a single slow
 * action can overshoot the budget by several ms. */
int ctx_doc_parse(ctx_doc *doc, uint64_t timeout_us, const volatile size_t *cancel);
/* 1 when the current tree matches the current text (always 1 for lang NONE). */
int ctx_doc_parsed(const ctx_doc *doc);
/* 1 when the current tree has a syntax error (an ERROR or MISSING node), else 0 (also without a
 * tree). */
int ctx_doc_has_error(const ctx_doc *doc);

/* Self-check for tests, fuzzers and the seekd/syntaxTree debug request.  Every mode rebuilds the
 * line index and the lone-CR count from the text and compares, and walks the tree checking that
 * each node's row/column points are the ones its byte offsets have in the current text (so the
 * edits given to ts_tree_edit were right) and that children lie in order inside their parent.
 * The FRESH modes also parse the text from scratch and compare the trees node by node (kind,
 * byte range, points, missing and error flags).
 * Incremental and fresh trees agree on valid text.  After edits that leave syntax errors they may
 * legitimately differ: tree-sitter's error recovery depends on the previous tree.  Hence
 * FRESH_IF_VALID (compare only when the fresh parse has no error) for random edits, and FRESH
 * for texts known to be valid (tree-sitter's own test: random edits, undo them, compare).
 * CONSISTENT also accepts a document edited since its last parse and then checks the edited tree
 * (what ts_tree_edit made of the edits: its positions must follow the new text already).
 * Returns 0 when all holds, -EAGAIN when the document is not parsed (FRESH modes), -EILSEQ on a difference
 * (described in err[0..errlen), err may be NULL), -ENOMEM.  O(document). */
enum ctx_check {
    CTX_CHECK_CONSISTENT,     /* line index and tree positions */
    CTX_CHECK_FRESH_IF_VALID, /* ... and equal to a fresh parse when that has no error */
    CTX_CHECK_FRESH,          /* ... and equal to a fresh parse */
};
int ctx_doc_check(const ctx_doc *doc, enum ctx_check mode, char *err, size_t errlen);

/* The tree as an s-expression (tree-sitter's ts_node_string form), sk_malloc'd: caller frees
 * with sk_free.  NULL when the document has no tree. */
char *ctx_doc_sexp(const ctx_doc *doc);
/* Parses text from scratch with the language's parser and returns its s-expression (for tests
 * and the seekd/syntaxTree check); caller frees with sk_free. */
char *ctx_sexp_fresh(enum ctx_lang lang, const char *text, size_t len);

/* ==== completion post-processing ============================================================
 * What the model wrote between prefix and suffix is cleaned before it is shown:
 *  - mode: single-line when the cursor's line continues after the cursor with code (only closing
 *    brackets, quotes, ';' and ',' do not count) or the cursor is inside a comment or string;
 *    multi-line when the line before the cursor is blank or ends with a block opener ('{', '('
 *    or '[' with nothing after the cursor on the line, ':' in Python, '=>' in JS/TS).
 *    Single-line keeps the first line only.
 *  - multi-line stops: at the end of the block enclosing the cursor (found by parsing prefix +
 *    completion + suffix with tree-sitter), at a line indented less than the block, and where the
 *    completion starts repeating the suffix's next line.
 *  - overlap: an end of the completion equal to the start of the suffix is removed (the text
 *    appears once), unless that would unpair brackets opened inside the completion.
 *  - brackets: closers for brackets the prefix opened and the suffix already closes are not
 *    kept twice (single-line: the inline item may instead replace those suffix bytes, see
 *    suffix_replace); brackets the completion opened and left open are closed at its end, except
 *    the ones the suffix closes.
 *  - syntax guard (last step, CTX_POST_SYNTAX): a window (from a top-level line at most 2 KB
 *    before the cursor to about 1 KB after it) is parsed with and without the result; the error
 *    cost counts ERROR and MISSING nodes from the start of the statement enclosing the cursor (or
 *    the cursor's line) on, plus the tokens at or after the cursor that sit inside an ERROR node
 *    (junk typed onto a half-written statement joins its ERROR node without adding one), plus
 *    identifiers at or after the cursor spelled like a reserved word ("return if not in x":
 *    grammars accept keywords as identifiers where the keyword is not expected), plus one when
 *    the suggestion puts text on the cursor's line after an ERROR node ending at the cursor
 *    without joining it ("def" + "    x = 1": recovered as two statements on one line).  Not
 *    applied when the cursor is in a string or comment the suggestion does not leave (a
 *    docstring being typed is an unterminated string: its words would count as junk).  A
 *    result that raises the cost is cut to its longest prefix ending at a token boundary (end of
 *    a word, after a punctuation byte; trailing blanks dropped) that does not, trying at most 24
 *    cuts from the end, or dropped (empty text); suffix_replace is then 0.  Candidates are
 *    reparsed incrementally from the parse without the result: about 0.4 ms of CPU per
 *    suggestion on a 3 KB Python window, about 0.75 ms when it cuts or drops (2 cores, load ~10).
 * prefix and suffix are windows around the cursor (the prompt's windows: the parse costs about
 * their size); nothing is kept.  Strings and comments are skipped when counting brackets. */
enum ctx_post_mode {
    CTX_POST_SINGLE_LINE = 1,
    CTX_POST_MULTI_LINE = 2,
};
/* What ctx_postprocess changed (bits of ctx_post_result.applied). */
enum {
    CTX_POST_CUT_LINE = 1 << 0,    /* single-line: cut at the first newline */
    CTX_POST_CUT_BLOCK = 1 << 1,   /* cut at the end of the enclosing block (tree-sitter) */
    CTX_POST_CUT_INDENT = 1 << 2,  /* cut at a line leaving the block's indentation */
    CTX_POST_CUT_REPEAT = 1 << 3,  /* cut where the suffix starts being repeated */
    CTX_POST_OVERLAP = 1 << 4,     /* removed an overlap with the suffix */
    CTX_POST_DUP_CLOSER = 1 << 5,  /* dropped closers the suffix already has */
    CTX_POST_BALANCED = 1 << 6,    /* appended closers */
    CTX_POST_REPLACE = 1 << 7,     /* suffix_replace > 0 */
    CTX_POST_SYNTAX = 1 << 8,      /* syntax guard cut the text (or dropped it: len 0) */
    CTX_POST_BLANK = 1 << 9,       /* (emptied_by only) multi-line: the text was all blanks */
};
/* When a single-line completion C[0..N) is a next-line suggestion (the rest of the cursor's
 * line, SUFFIX up to its first newline, is blank and C starts with a newline), the length of
 * that leading newline (1, or 2 for "\r\n"); else 0.  Such a completion keeps that newline and
 * ends at the end of the following line. */
size_t ctx_post_next_line(const char *suffix, size_t slen, const char *c, size_t n);

/* Short name of one CTX_POST_* bit ("cutLine", "syntax", ...), "" for 0 or an unknown bit. */
const char *ctx_post_step_name(unsigned bit);
struct ctx_post_result {
    char *text;            /* sk_malloc'd, NUL-terminated, may be empty; free with sk_free */
    size_t len;
    size_t suffix_replace; /* bytes at the start of the suffix (same line) the text replaces */
    enum ctx_post_mode mode;
    unsigned applied;      /* CTX_POST_* bits */
    unsigned emptied_by;   /* the one CTX_POST_* step that left nothing of a non-empty
                            * completion; 0 when the text is not empty or the input was */
};
/* The mode for a cursor between prefix and suffix. */
enum ctx_post_mode ctx_post_mode_at(enum ctx_lang lang, const char *prefix, size_t prefix_len,
                                    const char *suffix, size_t suffix_len);
/* Post-processes completion[0..completion_len).  Returns 0 (out filled; out->text owned by the
 * caller), -EINVAL (NULL pointer with a non-zero length) or -ENOMEM (out untouched).  Any
 * language works (NONE skips the parse-based steps). */
int ctx_postprocess(enum ctx_lang lang, const char *prefix, size_t prefix_len, const char *suffix,
                    size_t suffix_len, const char *completion, size_t completion_len,
                    struct ctx_post_result *out);

/* ==== FIM prompt (context/fim.c; owner h-pipe) ==============================================
 * DeepSeek Coder fill-in-the-middle prompts in PSM order, sentinels inserted by token id (never
 * parsed from text, so file text can never forge one):
 *
 *     BOS FIM_BEGIN [extra] [header] prefix FIM_HOLE suffix FIM_END      -> model writes the middle
 *
 * extra   cross-file context (the hook for the symbol index / recent-edits ring): snippets each
 *         headed by their file path as a comment in their language (DeepSeek Coder's
 *         repository-level format), given as text and tokenized as is, in a stable order so the
 *         KV cache keeps them from keystroke to keystroke;
 * header  the current file's path as a comment ("// src/a.c\n", "# app/main.py\n"); none for
 *         JSON, plain text or an empty path;
 * prefix  the end of the text before the cursor, cut at a line start so its tokens fit
 *         prefix_tokens (a cursor line longer than the budget is cut at a token boundary);
 * suffix  the start of the text after the cursor, whole lines while they fit suffix_tokens.
 * A vocabulary without the three FIM tokens (DeepSeek LLM) gets the prefix-only form
 * BOS [extra] [header] prefix.  BOS is left out when the vocabulary has none.
 * Budgets are exact counts of the model's own tokenizer; the tokens of the assembled prompt are
 * exactly the tokens of each part tokenized alone.
 * Threads: reentrant (the vocab is immutable).  Cost: about twice the tokenization of the text
 * that ends up in the prompt. */
struct eng_vocab;
#define CTX_FIM_TEMPLATE "deepseek-fim-1" /* prompt layout version, part of cache keys */
struct ctx_fim_opts {
    const struct eng_vocab *vocab;
    enum ctx_lang lang;        /* comment syntax of the header */
    const char *path;          /* path shown in the header (workspace-relative); NULL = none */
    const char *extra;         /* cross-file snippets, already formatted; may be NULL */
    size_t extra_len;
    const char *prefix;        /* text before the cursor (any window ending at the cursor) */
    size_t prefix_len;
    const char *suffix;        /* text after the cursor (any window starting at the cursor) */
    size_t suffix_len;
    int prefix_tokens;         /* budget; 0 = 1024 */
    int suffix_tokens;         /* budget; 0 = 256, negative = no suffix tokens */
    /* Sticky window (when use_hint): the previous prompt's prefix_start expressed as an offset
     * in this prefix.  When the text from there (a line start) still fits, the window keeps
     * that start, so the prompt's tokens before the cursor stay a prefix of the last prompt's
     * and the KV cache is reused; when it no longer fits the window is re-cut to 3/4 of the
     * budget, leaving room for the next lines typed. */
    size_t prefix_hint;
    int use_hint;
    int prefix_only;           /* 1: prefix-only form even with FIM tokens */
};
struct ctx_fim_prompt {
    int32_t *tokens;           /* [n_tokens], sk_malloc'd (ctx_fim_free) */
    int n_tokens;
    int fim;                   /* 1: FIM form; 0: prefix-only */
    size_t prefix_start;       /* the window is prefix[prefix_start .. prefix_len) */
    size_t suffix_end;         /* ... and suffix[0 .. suffix_end) (0 in prefix-only form) */
    char *header;              /* the header text ("" when none), sk_malloc'd */
    /* where each part's tokens start in tokens[], and how many there are */
    int extra_pos, n_extra, header_pos, n_header, prefix_pos, n_prefix, suffix_pos, n_suffix;
};
/* Builds the prompt.  Returns 0 (out filled; free with ctx_fim_free), -EINVAL (NULL vocab or
 * NULL text with a length, or a tokenizer failure), -EFBIG, -ENOMEM (out zeroed). */
int ctx_fim_build(const struct ctx_fim_opts *o, struct ctx_fim_prompt *out);
void ctx_fim_free(struct ctx_fim_prompt *p);
/* The prompt as text with the sentinels written as their token texts ("<｜fim▁hole｜>"), for
 * `seekd complete --show-prompt`; sk_malloc'd, NULL on failure. */
char *ctx_fim_render(const struct ctx_fim_prompt *p, const struct eng_vocab *v);
/* The line comment opener of a language ("// ", "# "), NULL when it has none. */
const char *ctx_fim_comment_prefix(enum ctx_lang lang);
/* Writes the header for path into buf (NUL-terminated) and returns its length (0 = no header:
 * no comment syntax, empty path, or a path holding a line break), or -ENAMETOOLONG. */
int ctx_fim_header(enum ctx_lang lang, const char *path, char *buf, size_t cap);

/* ==== cross-file context (context/index.c, ring.c, xfile.c, gitignore.c; owner h-xfile) ====
 * What goes in ctx_fim_opts.extra: definitions of identifiers used near the cursor and of the
 * modules the file imports, found in a workspace symbol index, plus a ring of recently edited
 * chunks of other files.  Each snippet is headed by its file path as a comment in that file's
 * language (DeepSeek Coder's repository-level format); snippets of one file share one header.
 */

/* -- the workspace symbol index --------------------------------------------------------------
 * One worker thread (started by ctx_index_new) walks the root, honouring .gitignore files (the
 * common subset, see context/xfile_int.h), skipping .git/ and vendor/build folders
 * (node_modules, vendor, build, dist, target, out, __pycache__, .venv, venv, .tox, .cache,
 * .idea, .vscode, bower_components), symlinks, files over max_file_bytes and every file past
 * max_files, and indexes the definitions (functions, methods, prototypes, classes, structs,
 * types, top-level constants, macros) of files in a language with a grammar (by extension),
 * extracted with tree-sitter.  Later updates go through the same worker, coalesced by path.
 *
 * Threads: every function here may be called from any thread.  Parsing and file reading happen
 * on the worker only; the index is shared under one mutex that the worker holds just to swap a
 * finished file record in (microseconds) and that lookups (ctx_xfile_build) hold while copying
 * out the few snippets they need.  The loop thread calls the update functions, which only copy
 * their arguments into the queue.
 * Paths: absolute paths or file:// URIs; files under the root are shown root-relative. */
typedef struct ctx_index ctx_index;
struct ctx_index_opts {
    const char *root;          /* workspace root folder; NULL or "" = no walk (updates only) */
    size_t max_file_bytes;     /* 0 = 1 MiB */
    int max_files;             /* indexed files, 0 = 5000 */
};
/* Starts the index (the walk runs in the background).  0, -ENOMEM, -EINVAL (root not a folder),
 * or -errno from pthread_create.  Free with ctx_index_delete. */
int ctx_index_new(const struct ctx_index_opts *o, ctx_index **out);
/* Stops the worker (the walk is abandoned between files), joins it and frees everything. */
void ctx_index_delete(ctx_index *ix);
/* (Re)indexes one file.  text != NULL: the editor's text of an open document (didOpen,
 * didChange; indexed even when .gitignore excludes it, since the user edits it); text NULL: read
 * it from disk (didSave, didClose, didChangeWatchedFiles created/changed), subject to the
 * ignore rules and the size cap.  Both count against max_files (a new file past it is left
 * out).  The worker re-extracts the whole file (~1-3 ms per 1,000 lines of its CPU), so the
 * daemon may throttle didChange updates (coalescing only merges those still queued).  Queued: returns 0 or -ENOMEM (-EINVAL for a NULL path, -EFBIG for a
 * text over max_file_bytes, which removes the file from the index instead). */
int ctx_index_update_file(ctx_index *ix, const char *path, const char *text, size_t len);
/* Drops a file (didChangeWatchedFiles deleted).  Queued: 0 or -ENOMEM. */
int ctx_index_remove(ctx_index *ix, const char *path);
/* Waits until the walk and every queued update are done (tests, benchmarks, `seekd complete`).
 * timeout_ms 0 = no limit.  0 or -ETIMEDOUT. */
int ctx_index_wait(ctx_index *ix, int timeout_ms);
struct ctx_index_stats {
    int files;                 /* files in the index */
    int defs;                  /* definitions */
    int skipped_big, skipped_count, ignored; /* files left out by size / count cap / rules */
    int walking;               /* 1 while the initial walk runs */
    double walk_ms;            /* duration of the initial walk (real clock), 0 while it runs */
    double walk_cpu_ms;        /* the worker's CPU time for it */
};
void ctx_index_stats(ctx_index *ix, struct ctx_index_stats *st);

/* -- the ring of recently edited chunks ------------------------------------------------------
 * CTX_RING_SLOTS chunks of at most CTX_RING_MAX_LINES lines / CTX_RING_MAX_BYTES bytes.  A new
 * chunk of a path replaces in place a chunk of the same path sharing half its lines or more
 * (so typing in one place refreshes one slot), else it takes the oldest slot.  Any thread
 * (one mutex). */
typedef struct ctx_ring ctx_ring;
#define CTX_RING_SLOTS 16
#define CTX_RING_MAX_LINES 64
#define CTX_RING_MAX_BYTES 4096
int ctx_ring_new(ctx_ring **out); /* 0 or -ENOMEM */
void ctx_ring_delete(ctx_ring *r);
/* Notes text[0..len) around an edit of path (absolute path, file:// URI or root-relative path;
 * shown root-relative, and left out while path is the current document).  Longer text keeps
 * its middle lines.
 * 0, -EINVAL, -ENOMEM. */
int ctx_ring_note_edit(ctx_ring *r, const char *path, enum ctx_lang lang, const char *text,
                       size_t len);
int ctx_ring_count(ctx_ring *r);

/* -- snippet selection -----------------------------------------------------------------------
 * Identifiers near the cursor (the last near_lines lines of the prefix and the first
 * near_lines/2 of the suffix, parsed with tree-sitter; the identifier being typed at the cursor
 * is left out) are looked up in the index: their definitions (at most 2 per name, preferring
 * imported files, then the same folder) become snippets; imported / included modules (Python
 * import/from, JS/TS import/require, C/C++ #include "x", Go, Rust use/mod, Java import) resolved
 * to indexed files add an outline (first line of each top-level definition); ring chunks of
 * other files come last in priority.  Definitions of the current file that appear in the prefix
 * or suffix window are never included.  Snippets are chosen by priority while their tokens
 * (eng_tokenize with the model's vocab) fit budget_tokens, deduplicated, then written in a
 * stable order: by path, then by offset (ring chunks of a path after its definitions), so the
 * same choice gives the same bytes from keystroke to keystroke and the KV prefix is reused. */
struct ctx_xfile_opts {
    const struct eng_vocab *vocab;   /* required */
    ctx_index *index;                /* may be NULL */
    ctx_ring *ring;                  /* may be NULL */
    enum ctx_lang lang;              /* the current document */
    const char *path;                /* its path or URI (excluded from the context) */
    const char *prefix;              /* window ending at the cursor */
    size_t prefix_len;
    const char *suffix;              /* window starting at the cursor */
    size_t suffix_len;
    int budget_tokens;               /* 0 = 512; negative = none (empty result) */
    int near_lines;                  /* 0 = 40 */
};
struct ctx_xfile_result {
    char *text;                      /* sk_malloc'd, NUL-terminated ("" when nothing fits) */
    size_t len;
    int n_tokens;                    /* tokens of text (<= budget) */
    int n_snippets, n_files;         /* snippets written, distinct file headers */
    int n_candidates;                /* snippets considered */
};
/* Builds the cross-file text.  Returns 0 (out filled; free with ctx_xfile_free), -EINVAL (no
 * vocab, NULL text with a length, tokenizer failure), -ENOMEM (out zeroed).  Reentrant. */
int ctx_xfile_build(const struct ctx_xfile_opts *o, struct ctx_xfile_result *out);
void ctx_xfile_free(struct ctx_xfile_result *r);

#endif
