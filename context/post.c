/*
 * Completion post-processing (see context.h): decides single- or multi-line from the cursor's
 * surroundings, cuts a raw model completion where it leaves the block, repeats the suffix or
 * overlaps it, and pairs up brackets.  Workload: one call per completion candidate, on prompt
 * windows of a few KB; one tree-sitter parse of prefix + completion + suffix and one of prefix +
 * suffix per call, plus linear scans.
 */
#include "ctx_int.h"

#include "base.h"

#include <errno.h>
#include <string.h>

/* ---- a growable byte string ---------------------------------------------------------------- */
struct str {
    char *p;
    size_t len, cap;
    int oom;
};

static void str_put(struct str *s, const char *t, size_t n)
{
    if (s->oom)
        return;
    if (s->len + n + 1 > s->cap) {
        size_t cap = (s->len + n + 1) * 2;
        char *np = sk_realloc(s->p, cap);
        if (!np) {
            s->oom = 1;
            return;
        }
        s->p = np;
        s->cap = cap;
    }
    memcpy(s->p + s->len, t, n);
    s->len += n;
    s->p[s->len] = 0;
}

/* ---- bracket scanning that skips strings and comments -------------------------------------- */
static int c_like(enum ctx_lang lang)
{
    return lang != CTX_LANG_PYTHON && lang != CTX_LANG_BASH && lang != CTX_LANG_JSON &&
           lang != CTX_LANG_NONE;
}

static char closer_of(char o) { return o == '(' ? ')' : o == '[' ? ']' : '}'; }
static int is_opener(char c) { return c == '(' || c == '[' || c == '{'; }
static int is_closer(char c) { return c == ')' || c == ']' || c == '}'; }

#define MAX_DEPTH 256

struct brackets {
    char open[MAX_DEPTH];    /* unclosed openers, innermost last */
    size_t open_pos[MAX_DEPTH];
    int n;
    /* Closers with no opener in the scanned text (they close something before it). */
    size_t extra_pos[MAX_DEPTH];
    char extra[MAX_DEPTH];
    int n_extra;
    int in_string, in_comment; /* state at the end */
};

/* Scans t[0..n) for brackets outside strings and comments. */
static void scan_brackets(enum ctx_lang lang, const char *t, size_t n, struct brackets *b)
{
    memset(b, 0, sizeof *b);
    int line_comment = 0, block_comment = 0;
    char quote = 0;
    int triple = 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (line_comment) {
            if (c == '\n')
                line_comment = 0;
            continue;
        }
        if (block_comment) {
            if (c == '*' && i + 1 < n && t[i + 1] == '/') {
                block_comment = 0;
                i++;
            }
            continue;
        }
        if (quote) {
            if (c == '\\' && quote != '`') {
                i++;
            } else if (triple) {
                if (c == quote && i + 2 < n && t[i + 1] == quote && t[i + 2] == quote) {
                    quote = 0;
                    i += 2;
                }
            } else if (c == quote) {
                quote = 0;
            } else if (c == '\n' && quote != '`') {
                quote = 0; /* unterminated: stop at the line end */
            }
            continue;
        }
        if (c_like(lang) && c == '/' && i + 1 < n && (t[i + 1] == '/' || t[i + 1] == '*')) {
            if (t[i + 1] == '/')
                line_comment = 1;
            else
                block_comment = 1;
            i++;
            continue;
        }
        if ((lang == CTX_LANG_PYTHON || lang == CTX_LANG_BASH) && c == '#') {
            line_comment = 1;
            continue;
        }
        if (c == '"' || (c == '\'' && lang != CTX_LANG_JSON) ||
            (c == '`' && (lang == CTX_LANG_JAVASCRIPT || lang == CTX_LANG_TYPESCRIPT ||
                          lang == CTX_LANG_TSX || lang == CTX_LANG_GO || lang == CTX_LANG_BASH))) {
            /* Rust lifetimes ('a) are not char literals: a quote that does not close within
             * the next two or three bytes is not a string. */
            if (c == '\'' && lang == CTX_LANG_RUST &&
                !(i + 2 < n && t[i + 2] == '\'') && !(i + 3 < n && t[i + 1] == '\\' && t[i + 3] == '\''))
                continue;
            quote = c;
            triple = lang == CTX_LANG_PYTHON && i + 2 < n && t[i + 1] == c && t[i + 2] == c;
            if (triple)
                i += 2;
            continue;
        }
        if (is_opener(c)) {
            if (b->n < MAX_DEPTH) {
                b->open_pos[b->n] = i;
                b->open[b->n++] = c;
            }
        } else if (is_closer(c)) {
            if (b->n > 0) {
                b->n--;
            } else if (b->n_extra < MAX_DEPTH) {
                b->extra_pos[b->n_extra] = i;
                b->extra[b->n_extra++] = c;
            }
        }
    }
    b->in_string = quote != 0;
    b->in_comment = line_comment || block_comment;
}

/* ---- lines ----------------------------------------------------------------------------------- */
static size_t line_start_before(const char *t, size_t at)
{
    while (at > 0 && t[at - 1] != '\n')
        at--;
    return at;
}

static size_t indent_width(const char *t, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n && (t[i] == ' ' || t[i] == '\t'); i++)
        w += t[i] == '\t' ? 4 : 1;
    return w;
}

static size_t skip_ws(const char *t, size_t n, size_t i)
{
    while (i < n && (t[i] == ' ' || t[i] == '\t'))
        i++;
    return i;
}

static int blank(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (t[i] != ' ' && t[i] != '\t' && t[i] != '\r' && t[i] != '\n')
            return 0;
    return 1;
}

/* t[a..b) without surrounding blanks, compared with u[c..d) likewise. */
static int trimmed_equal(const char *t, size_t a, size_t b, const char *u, size_t c, size_t d)
{
    while (a < b && (t[a] == ' ' || t[a] == '\t'))
        a++;
    while (b > a && (t[b - 1] == ' ' || t[b - 1] == '\t' || t[b - 1] == '\r'))
        b--;
    while (c < d && (u[c] == ' ' || u[c] == '\t'))
        c++;
    while (d > c && (u[d - 1] == ' ' || u[d - 1] == '\t' || u[d - 1] == '\r'))
        d--;
    return b - a == d - c && memcmp(t + a, u + c, b - a) == 0;
}

/* ---- tree-sitter helpers ------------------------------------------------------------------- */
static int block_like(const char *type)
{
    static const char *names[] = {"compound_statement", "declaration_list",
                                  "field_declaration_list", "enumerator_list", "initializer_list",
                                  "statement_block", "class_body", "interface_body", "enum_body",
                                  "object", "array", "literal_value", "match_block", "do_group",
                                  "switch_body", "object_type", "block", "body"};
    for (size_t i = 0; i < SK_ARRAY_LEN(names); i++)
        if (strcmp(type, names[i]) == 0)
            return 1;
    size_t n = strlen(type);
    return (n > 6 && strcmp(type + n - 6, "_block") == 0) ||
           (n > 5 && strcmp(type + n - 5, "_body") == 0);
}

/* Parses a ++ b ++ c; NULL for NONE. */
static TSTree *parse3(enum ctx_lang lang, const char *a, size_t an, const char *b, size_t bn,
                      const char *c, size_t cn, struct str *buf)
{
    if (lang == CTX_LANG_NONE)
        return NULL;
    buf->len = 0;
    str_put(buf, a, an);
    str_put(buf, b, bn);
    str_put(buf, c, cn);
    if (buf->oom || buf->len > UINT32_MAX - 1)
        return NULL;
    return ctx__parse_fresh(lang, buf->p ? buf->p : "", buf->len);
}

/* ---- mode ---------------------------------------------------------------------------------- */
static int in_comment_or_string(enum ctx_lang lang, const char *prefix, size_t plen,
                                const char *suffix, size_t slen)
{
    struct str buf = {0};
    TSTree *tree = parse3(lang, prefix, plen, "", 0, suffix, slen, &buf);
    int r = 0;
    if (tree && plen > 0) {
        TSNode n = ts_node_descendant_for_byte_range(ts_tree_root_node(tree), (uint32_t)plen - 1,
                                                     (uint32_t)plen);
        for (; !ts_node_is_null(n); n = ts_node_parent(n)) {
            const char *type = ts_node_type(n);
            if ((strstr(type, "comment") || strstr(type, "string")) &&
                ts_node_start_byte(n) < plen && ts_node_end_byte(n) > plen) {
                r = 1;
                break;
            }
        }
    } else if (!tree) {
        /* Without a grammar, the bracket scanner knows about quotes and comments. */
        struct brackets b;
        scan_brackets(lang, prefix, plen, &b);
        r = b.in_string || b.in_comment;
    }
    if (tree)
        ts_tree_delete(tree);
    sk_free(buf.p);
    return r;
}

size_t ctx_post_next_line(const char *suffix, size_t slen, const char *c, size_t n)
{
    if (!suffix)
        slen = 0;
    for (size_t i = 0; i < slen && suffix[i] != '\n'; i++)
        if (suffix[i] != ' ' && suffix[i] != '\t' && suffix[i] != '\r')
            return 0;
    if (!c || n == 0)
        return 0;
    return c[0] == '\n' ? 1 : n > 1 && c[0] == '\r' && c[1] == '\n' ? 2 : 0;
}

enum ctx_post_mode ctx_post_mode_at(enum ctx_lang lang, const char *prefix, size_t plen,
                                    const char *suffix, size_t slen)
{
    if (!prefix)
        plen = 0;
    if (!suffix)
        slen = 0;
    /* The rest of the line after the cursor: real code there means a middle-of-line insert. */
    for (size_t i = 0; i < slen && suffix[i] != '\n'; i++)
        if (!strchr(")]}\"'`;, \t\r", suffix[i]))
            return CTX_POST_SINGLE_LINE;
    if (in_comment_or_string(lang, prefix, plen, suffix, slen))
        return CTX_POST_SINGLE_LINE;
    size_t ls = line_start_before(prefix, plen);
    size_t e = plen;
    while (e > ls && (prefix[e - 1] == ' ' || prefix[e - 1] == '\t'))
        e--;
    if (e == ls)
        return CTX_POST_MULTI_LINE; /* blank line so far */
    char last = prefix[e - 1];
    /* After '(' or '[' with the pair auto-closed on the line, the user is typing arguments. */
    int line_rest_blank = 1;
    for (size_t i = 0; i < slen && suffix[i] != '\n'; i++)
        if (suffix[i] != ' ' && suffix[i] != '\t' && suffix[i] != '\r')
            line_rest_blank = 0;
    if (last == '{' || ((last == '(' || last == '[') && line_rest_blank) ||
        (lang == CTX_LANG_PYTHON && last == ':'))
        return CTX_POST_MULTI_LINE;
    if ((lang == CTX_LANG_JAVASCRIPT || lang == CTX_LANG_TYPESCRIPT || lang == CTX_LANG_TSX) &&
        e - ls >= 2 && prefix[e - 2] == '=' && last == '>')
        return CTX_POST_MULTI_LINE;
    return CTX_POST_SINGLE_LINE;
}

/* ---- the steps ------------------------------------------------------------------------------- */
/* Number of closers at the start of the suffix's bracket structure that close something before
 * it (opened in the prefix or the completion). */
static int suffix_outer_closers(enum ctx_lang lang, const char *suffix, size_t slen)
{
    struct brackets b;
    scan_brackets(lang, suffix, slen, &b);
    return b.n_extra;
}

/* Multi-line: cut before the first line that leaves the block by indentation.  A line of
 * closers at a smaller indentation is kept (and ends the completion) when it closes prefix
 * brackets that the suffix does not close. */
static size_t cut_indent(enum ctx_lang lang, const char *prefix, size_t plen, const char *c,
                         size_t n, int suffix_short, int *applied)
{
    size_t ls = line_start_before(prefix, plen);
    size_t lp_end = skip_ws(prefix, plen, ls);
    int line_blank = lp_end == plen;
    size_t base = indent_width(prefix + ls, plen - ls);
    if (line_blank) {
        /* The completion's first line starts at the cursor: its own leading blanks add. */
        base += indent_width(c, n);
    }
    int opened = !line_blank; /* the cursor line ends with an opener: a new block */
    (void)lang;
    size_t i = 0;
    while (i < n && c[i] != '\n')
        i++;
    while (i < n) {
        size_t s = i + 1, e = s;
        while (e < n && c[e] != '\n')
            e++;
        if (!blank(c + s, e - s)) {
            size_t w = indent_width(c + s, e - s);
            size_t f = skip_ws(c, e, s);
            int closer_line = is_closer(c[f]);
            if (opened ? w <= base : w < base) {
                if (opened && w == base && closer_line)
                    return e; /* closes the block the cursor line opened: keep, stop after */
                if (!opened && closer_line && suffix_short)
                    return e;
                *applied |= CTX_POST_CUT_INDENT;
                return i; /* before the newline that starts this line */
            }
        }
        i = e;
    }
    return n;
}

/* Multi-line: cut before the line where the completion starts repeating the suffix. */
static size_t cut_repeat(const char *prefix, size_t plen, const char *c, size_t n,
                         const char *suffix, size_t slen, int *applied)
{
    /* The suffix's first non-blank line, skipping the rest of the cursor's line. */
    size_t a = 0;
    while (a < slen && suffix[a] != '\n')
        a++;
    size_t s1 = a, e1 = a;
    while (s1 < slen) {
        s1++;
        e1 = s1;
        while (e1 < slen && suffix[e1] != '\n')
            e1++;
        if (!blank(suffix + s1, e1 - s1))
            break;
        s1 = e1;
    }
    if (s1 >= slen)
        return n;
    size_t ls = line_start_before(prefix, plen);
    int first_counts = skip_ws(prefix, plen, ls) == plen; /* line 0 is a whole line */
    size_t i = 0;
    for (int line = 0; i <= n; line++) {
        size_t s = line == 0 ? 0 : i + 1, e = s;
        if (line > 0 && i >= n)
            break;
        while (e < n && c[e] != '\n')
            e++;
        if ((line > 0 || first_counts) && !blank(c + s, e - s) &&
            trimmed_equal(c, s, e, suffix, s1, e1)) {
            /* A short line ("}", "end") repeats by chance: then the next lines must match too. */
            size_t tl = e1 - s1;
            int sure = tl - (skip_ws(suffix, e1, s1) - s1) >= 4 || e >= n;
            if (!sure && e < n) {
                size_t s2 = e + 1, e2 = s2;
                while (e2 < n && c[e2] != '\n')
                    e2++;
                size_t t2 = e1 < slen ? e1 + 1 : e1, u2 = t2;
                while (u2 < slen && suffix[u2] != '\n')
                    u2++;
                sure = trimmed_equal(c, s2, e2, suffix, t2, u2) && !blank(c + s2, e2 - s2);
            }
            if (sure) {
                *applied |= CTX_POST_CUT_REPEAT;
                return line == 0 ? 0 : i;
            }
        }
        if (e >= n)
            break;
        i = e;
    }
    return n;
}

/* Multi-line: cut at the end of the block enclosing the cursor when the completion closes it and
 * goes on.  Keeps the closer unless the suffix starts with the same one. */
static size_t cut_block(enum ctx_lang lang, const char *prefix, size_t plen, const char *c,
                        size_t n, const char *suffix, size_t slen, int *applied)
{
    struct str buf = {0};
    TSTree *tree = parse3(lang, prefix, plen, c, n, suffix, slen, &buf);
    size_t cut = n;
    if (!tree) {
        sk_free(buf.p);
        return n;
    }
    TSNode node = ts_node_descendant_for_byte_range(ts_tree_root_node(tree), (uint32_t)plen,
                                                    (uint32_t)plen);
    for (; !ts_node_is_null(node); node = ts_node_parent(node)) {
        /* A block starting at the cursor encloses it too (Python's block starts at its first
         * statement). */
        if (ts_node_start_byte(node) <= plen && block_like(ts_node_type(node)))
            break;
    }
    if (!ts_node_is_null(node)) {
        size_t end = ts_node_end_byte(node);
        if (end > plen && end < plen + n && !blank(c + (end - plen), n - (end - plen))) {
            cut = end - plen;
            *applied |= CTX_POST_CUT_BLOCK;
            /* The block's closer is in the completion; the suffix has its own? */
            size_t f = 0;
            while (f < slen && (suffix[f] == ' ' || suffix[f] == '\t' || suffix[f] == '\r' ||
                                suffix[f] == '\n'))
                f++;
            if (cut > 0 && is_closer(c[cut - 1]) && f < slen && suffix[f] == c[cut - 1]) {
                cut--;
                size_t k = cut;
                while (k > 0 && (c[k - 1] == ' ' || c[k - 1] == '\t'))
                    k--;
                if (k == 0 || c[k - 1] == '\n')
                    cut = k > 0 ? k - 1 : 0; /* the closer had its own line: drop the line */
                *applied |= CTX_POST_DUP_CLOSER;
            }
        }
    }
    ts_tree_delete(tree);
    sk_free(buf.p);
    return cut;
}

/* Removes the longest end of c equal to the start of the suffix, unless that end holds a closer
 * paired inside c. */
static size_t cut_overlap(enum ctx_lang lang, const char *c, size_t n, const char *suffix,
                          size_t slen, int *applied)
{
    size_t max = n < slen ? n : slen;
    for (size_t k = max; k > 0; k--) {
        if (memcmp(c + n - k, suffix, k) != 0)
            continue;
        if (blank(suffix, k))
            continue; /* whitespace overlaps are left to the trim */
        /* Brackets in the kept part must not lose their partners. */
        struct brackets whole, kept;
        scan_brackets(lang, c, n, &whole);
        scan_brackets(lang, c, n - k, &kept);
        int paired_in_tail = 0;
        for (size_t i = n - k; i < n; i++)
            if (is_closer(c[i]))
                paired_in_tail++;
        /* Closers in the tail that were extra in the whole completion are the suffix's. */
        int extra_in_tail = 0;
        for (int j = 0; j < whole.n_extra; j++)
            if (whole.extra_pos[j] >= n - k)
                extra_in_tail++;
        if (paired_in_tail != extra_in_tail)
            continue;
        *applied |= CTX_POST_OVERLAP;
        return n - k;
    }
    return n;
}

/* ---- syntax guard ---------------------------------------------------------------------------- */
/* Bytes after the insertion that the error count looks at: far enough for a broken statement to
 * show, near enough that unrelated trouble in the rest of the window does not count. */
#define GUARD_AFTER 1024
/* Cut points tried at most (each is one parse of the window). */
#define GUARD_MAX_TRIES 24
/* The guard parses a window of the prompt's windows: from a top-level line at most this far
 * before the cursor, to the first line end GUARD_AFTER bytes into the suffix. */
#define GUARD_BEFORE 2048

/* Start of the guard's window in prefix: the nearest line start at or before the cursor's line
 * whose line begins at column 0 with a word byte, '@', '#' or '/' (a top-level statement,
 * declaration, decorator, directive or comment: a parse can start there), within GUARD_BEFORE
 * bytes; else the earliest line start within GUARD_BEFORE. */
static size_t guard_window_start(const char *prefix, size_t plen)
{
    size_t floor = plen > GUARD_BEFORE ? plen - GUARD_BEFORE : 0;
    size_t ls = line_start_before(prefix, plen), earliest = ls;
    for (;;) {
        if (ls < floor)
            break;
        earliest = ls;
        char ch = ls < plen ? prefix[ls] : ' ';
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == '@' ||
            ch == '#' || ch == '/')
            return ls;
        if (ls == 0)
            break;
        ls = line_start_before(prefix, ls - 1);
    }
    return earliest;
}

/* Length of the suffix the guard parses: up to the first line end GUARD_AFTER bytes in. */
static size_t guard_suffix_len(const char *suffix, size_t slen)
{
    if (slen <= GUARD_AFTER)
        return slen;
    size_t e = GUARD_AFTER;
    while (e < slen && suffix[e] != '\n')
        e++;
    return e;
}

/* Reserved words that tree-sitter grammars accept as identifiers where the keyword itself is
 * not expected (keyword extraction makes them contextual): "return if not in x" parses in
 * tree-sitter-python as `return (if) not in x`, a comparison with an identifier named "if".
 * Only words no program can use as a plain identifier are listed (no contextual keywords such
 * as Python's match/type or JavaScript's of/get/async). */
static int reserved_word(enum ctx_lang lang, const char *w, size_t n)
{
    static const char *const py[] = {
        "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
        "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in",
        "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
        "with", "yield", "None", "True", "False", NULL};
    static const char *const js[] = {
        "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete",
        "do", "else", "export", "extends", "finally", "for", "function", "if", "import", "in",
        "instanceof", "new", "return", "super", "switch", "this", "throw", "try", "typeof",
        "var", "void", "while", "with", NULL};
    static const char *const c[] = {
        "break", "case", "continue", "default", "do", "else", "for", "goto", "if", "return",
        "sizeof", "switch", "while", NULL};
    static const char *const go[] = {
        "break", "case", "chan", "const", "continue", "default", "defer", "else", "fallthrough",
        "for", "func", "go", "goto", "if", "import", "interface", "map", "package", "range",
        "return", "select", "struct", "switch", "type", "var", NULL};
    static const char *const rust[] = {
        "as", "break", "const", "continue", "else", "enum", "fn", "for", "if", "impl", "in",
        "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static",
        "struct", "trait", "type", "unsafe", "use", "where", "while", NULL};
    static const char *const java[] = {
        "break", "case", "catch", "class", "continue", "default", "do", "else", "extends",
        "finally", "for", "if", "implements", "import", "instanceof", "interface", "new",
        "package", "return", "switch", "throw", "throws", "try", "while", NULL};
    const char *const *list;
    switch (lang) {
    case CTX_LANG_PYTHON: list = py; break;
    case CTX_LANG_JAVASCRIPT:
    case CTX_LANG_TYPESCRIPT:
    case CTX_LANG_TSX: list = js; break;
    case CTX_LANG_C:
    case CTX_LANG_CPP: list = c; break;
    case CTX_LANG_GO: list = go; break;
    case CTX_LANG_RUST: list = rust; break;
    case CTX_LANG_JAVA: list = java; break;
    default: return 0;
    }
    for (; *list; list++)
        if (strlen(*list) == n && memcmp(*list, w, n) == 0)
            return 1;
    return 0;
}

/* A reserved word read as an identifier makes no valid program, whatever else the suggestion
 * repairs: it outweighs any count of ERROR nodes ("return side *" + " if not in range(s)"
 * removes the half-typed expression's ERROR node and adds only the identifier "if"). */
#define RESERVED_COST 1000

/* What count_errors looks at: the parsed text, its language, the byte range [lo, hi) and the
 * insertion point ins (the cursor). */
struct err_scope {
    const char *text;
    size_t len;
    enum ctx_lang lang;
    uint32_t lo, hi, ins;
    uint32_t line_lo; /* start of the cursor's line */
    int on_line;      /* the inserted text puts something other than blanks on that line */
};

/* The error cost of the tree under node within [lo, hi): one per ERROR or MISSING node, plus one
 * per token inside an ERROR node that starts at or after ins (the cursor), plus one per
 * identifier ending at or after ins whose text is a reserved word (reserved_word; RESERVED_COST
 * each).  The tokens
 * matter because while typing the cursor's statement is usually broken already: junk appended
 * to it lands in the same ERROR node without adding a node ("def most_exp" + "    if not in
 * x:"), while a completion that repairs it leaves no token in one ("def most_exp" +
 * "ensive(a):"). */
static int count_errors(TSNode node, const struct err_scope *sc, int in_error)
{
    int n = 0;
    uint32_t sb = ts_node_start_byte(node), eb = ts_node_end_byte(node);
    if (eb < sc->lo || sb > sc->hi)
        return 0;
    if (ts_node_is_missing(node))
        return 1;
    uint32_t k = ts_node_child_count(node);
    if (in_error && k == 0 && sb >= sc->ins)
        return 1;
    if (k == 0 && eb >= sc->ins && eb <= sc->len && eb - sb <= 16 &&
        strcmp(ts_node_type(node), "identifier") == 0 &&
        reserved_word(sc->lang, sc->text + sb, eb - sb))
        return RESERVED_COST;
    /* error-free subtrees are skipped unless they reach the insertion (reserved words) */
    if (!ts_node_has_error(node) && !in_error && eb < sc->ins)
        return 0;
    if (strcmp(ts_node_type(node), "ERROR") == 0) {
        n++;
        in_error = 1;
        if (k == 0 && sb >= sc->ins)
            n++;
        /* A broken statement ending at the cursor on its line, and the suggestion put text
         * after it on that line without joining it: code of its own glued to a broken
         * statement ("def" + "    x = 1"), which tree-sitter recovers as a separate node. */
        if (sc->on_line && sb < sc->ins && eb <= sc->ins && eb >= sc->line_lo)
            n++;
    }
    TSTreeCursor cur = ts_tree_cursor_new(node);
    if (ts_tree_cursor_goto_first_child(&cur)) {
        do
            n += count_errors(ts_tree_cursor_current_node(&cur), sc, in_error);
        while (ts_tree_cursor_goto_next_sibling(&cur));
    }
    ts_tree_cursor_delete(&cur);
    return n;
}

/* Where the error region starts: the start of the statement enclosing the cursor (a node whose
 * parent is block-like or the root), or of the cursor's line when that is earlier; at most 4 KB
 * before the cursor. */
static uint32_t region_start(TSTree *tree, const char *prefix, size_t plen)
{
    size_t lo = line_start_before(prefix, plen);
    TSNode root = ts_tree_root_node(tree);
    TSNode n = ts_node_descendant_for_byte_range(root, (uint32_t)(plen ? plen - 1 : 0),
                                                 (uint32_t)plen);
    for (; !ts_node_is_null(n); n = ts_node_parent(n)) {
        TSNode up = ts_node_parent(n);
        if (ts_node_is_null(up) || ts_node_eq(up, root) || block_like(ts_node_type(up))) {
            if (ts_node_start_byte(n) < lo)
                lo = ts_node_start_byte(n);
            break;
        }
    }
    if (plen > 4096 && lo < plen - 4096)
        lo = plen - 4096;
    return (uint32_t)lo;
}

/* The row/column reached after t[0..n) from p. */
static TSPoint point_after(TSPoint p, const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '\n') {
            p.row++;
            p.column = 0;
        } else {
            p.column++;
        }
    }
    return p;
}

/* One guard evaluation: the window without the suggestion parsed once, then each candidate
 * reparsed incrementally from it (tree-sitter reuses the subtrees before the insertion). */
struct guard {
    enum ctx_lang lang;
    TSParser *parser;
    TSTree *base;
    const char *prefix, *suffix;
    size_t plen, slen, rep;
    TSPoint at; /* the cursor's point */
    uint32_t lo;
    struct str buf;
};

/* 1 when t[0..n) has a non-blank byte before its first line end. */
static int first_line_nonblank(const char *t, size_t n)
{
    for (size_t i = 0; i < n && t[i] != '\n'; i++)
        if (t[i] != ' ' && t[i] != '\t' && t[i] != '\r')
            return 1;
    return 0;
}

/* Errors in prefix + t[0..tn) + suffix[rep..) from g->lo to the end (the suffix is already cut
 * to about GUARD_AFTER bytes); -1 when it cannot parse (no memory). */
static int guard_errors(struct guard *g, const char *t, size_t tn)
{
    g->buf.len = 0;
    str_put(&g->buf, g->prefix, g->plen);
    str_put(&g->buf, t, tn);
    str_put(&g->buf, g->suffix + g->rep, g->slen - g->rep);
    if (g->buf.oom || !g->buf.p || g->buf.len > UINT32_MAX - 1)
        return -1;
    TSTree *old = ts_tree_copy(g->base);
    if (!old)
        return -1;
    TSInputEdit ed = {
        .start_byte = (uint32_t)g->plen,
        .old_end_byte = (uint32_t)(g->plen + g->rep),
        .new_end_byte = (uint32_t)(g->plen + tn),
        .start_point = g->at,
        .old_end_point = point_after(g->at, g->suffix, g->rep),
        .new_end_point = point_after(g->at, t, tn),
    };
    ts_tree_edit(old, &ed);
    TSTree *tree = ts_parser_parse_string(g->parser, old, g->buf.p, (uint32_t)g->buf.len);
    ts_tree_delete(old);
    if (!tree)
        return -1;
    struct err_scope sc = {g->buf.p, g->buf.len, g->lang, g->lo, UINT32_MAX, (uint32_t)g->plen,
                           (uint32_t)line_start_before(g->prefix, g->plen),
                           first_line_nonblank(t, tn)};
    int n = count_errors(ts_tree_root_node(tree), &sc, 0);
    ts_tree_delete(tree);
    return n;
}

static int word_byte(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || (unsigned char)ch >= 0x80;
}

static int space_byte(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

/* 1 when prefix[0..plen) ends inside a string or comment (the bracket scanner's view) and
 * prefix + t[0..tn) still does. */
static int in_prose(enum ctx_lang lang, const char *prefix, size_t plen, const char *t, size_t tn)
{
    struct brackets b;
    scan_brackets(lang, prefix, plen, &b);
    if (!b.in_string && !b.in_comment)
        return 0;
    struct str both = {0};
    str_put(&both, prefix, plen);
    str_put(&both, t, tn);
    int r = 0;
    if (!both.oom && both.p) {
        scan_brackets(lang, both.p, both.len, &b);
        r = b.in_string || b.in_comment;
    }
    sk_free(both.p);
    return r;
}

/* The syntax guard (CTX_POST_SYNTAX): t[0..*tn) is what would be inserted in place of
 * suffix[0..*replace).  When the window around the cursor has more syntax errors with it than
 * without it, t is cut to the longest prefix ending at a token boundary (end of a word, after a
 * punctuation byte, before blanks; trailing blanks dropped) that has no more errors than without
 * it, or to nothing; *replace becomes 0 then.  Returns 0, or -ENOMEM (nothing changed). */
static int syntax_guard(enum ctx_lang lang, const char *prefix, size_t plen, const char *suffix,
                        size_t slen, const char *t, size_t *tn, size_t *replace, int *applied)
{
    if (lang == CTX_LANG_NONE || *tn == 0)
        return 0;
    /* Everything below works on the guard's window; suffix + *replace stays inside it (replace
     * never passes the cursor's line). */
    size_t ws = guard_window_start(prefix, plen);
    /* Inside a string or comment that the suggestion does not leave, it is prose: there is
     * nothing to parse (a docstring being typed is an unterminated string, an ERROR node that
     * any word would otherwise join). */
    if (in_prose(lang, prefix + ws, plen - ws, t, *tn))
        return 0;
    struct guard g = {.lang = lang, .prefix = prefix + ws, .plen = plen - ws, .suffix = suffix};
    g.slen = guard_suffix_len(suffix, slen);
    g.rep = *replace < g.slen ? *replace : g.slen;
    g.at = point_after((TSPoint){0, 0}, g.prefix, g.plen);
    int rc = 0;
    g.parser = ctx__parser_new(lang);
    if (!g.parser)
        goto out;
    str_put(&g.buf, g.prefix, g.plen);
    str_put(&g.buf, g.suffix, g.slen);
    if (g.buf.oom || !g.buf.p || g.buf.len > UINT32_MAX - 1) {
        rc = g.buf.oom ? -ENOMEM : 0;
        goto out;
    }
    g.base = ts_parser_parse_string(g.parser, NULL, g.buf.p, (uint32_t)g.buf.len);
    if (!g.base)
        goto out;
    g.lo = region_start(g.base, g.prefix, g.plen);
    struct err_scope sc = {g.buf.p, g.buf.len, lang, g.lo, UINT32_MAX, (uint32_t)g.plen,
                           (uint32_t)line_start_before(g.prefix, g.plen), 0};
    int base = count_errors(ts_tree_root_node(g.base), &sc, 0);
    int e = guard_errors(&g, t, *tn);
    if (e < 0) {
        rc = g.buf.oom ? -ENOMEM : 0;
        goto out;
    }
    if (e <= base)
        goto out;
    /* Longest good prefix: candidates from the end down; they insert without replacing. */
    g.rep = 0;
    size_t keep = 0, last = *tn;
    int tries = 0;
    for (size_t i = *tn - 1; i > 0 && tries < GUARD_MAX_TRIES; i--) {
        char a = t[i - 1], b = t[i];
        int boundary = word_byte(a) != word_byte(b) || space_byte(a) != space_byte(b) ||
                       (!word_byte(a) && !space_byte(a));
        if (!boundary)
            continue;
        size_t k = i;
        while (k > 0 && space_byte(t[k - 1]))
            k--;
        if (k == 0 || k >= last)
            continue;
        last = k;
        tries++;
        e = guard_errors(&g, t, k);
        if (e < 0) {
            rc = g.buf.oom ? -ENOMEM : 0;
            goto out;
        }
        if (e <= base) {
            keep = k;
            break;
        }
    }
    *tn = keep;
    *replace = 0;
    *applied |= CTX_POST_SYNTAX;
out:
    if (g.base)
        ts_tree_delete(g.base);
    if (g.parser)
        ts_parser_delete(g.parser);
    sk_free(g.buf.p);
    return rc;
}

const char *ctx_post_step_name(unsigned bit)
{
    switch (bit) {
    case CTX_POST_CUT_LINE: return "cutLine";
    case CTX_POST_CUT_BLOCK: return "cutBlock";
    case CTX_POST_CUT_INDENT: return "cutIndent";
    case CTX_POST_CUT_REPEAT: return "cutRepeat";
    case CTX_POST_OVERLAP: return "overlap";
    case CTX_POST_DUP_CLOSER: return "dupCloser";
    case CTX_POST_BALANCED: return "balanced";
    case CTX_POST_REPLACE: return "replace";
    case CTX_POST_SYNTAX: return "syntax";
    case CTX_POST_BLANK: return "blank";
    default: return "";
    }
}

int ctx_postprocess(enum ctx_lang lang, const char *prefix, size_t plen, const char *suffix,
                    size_t slen, const char *completion, size_t clen,
                    struct ctx_post_result *out)
{
    if ((!prefix && plen) || (!suffix && slen) || (!completion && clen) || !out ||
        (unsigned)lang >= CTX_LANG__COUNT)
        return -EINVAL;
    if (!prefix)
        prefix = "";
    if (!suffix)
        suffix = "";
    if (!completion)
        completion = "";
    int applied = 0;
    size_t replace = 0;
    enum ctx_post_mode mode = ctx_post_mode_at(lang, prefix, plen, suffix, slen);
    const char *c = completion;
    size_t n = clen;

    struct brackets pb;
    scan_brackets(lang, prefix, plen, &pb);
    int outer = suffix_outer_closers(lang, suffix, slen);

    /* The step that left nothing of a non-empty completion (out->emptied_by). */
    unsigned emptied = 0;
#define EMPTIED(bit)                                                                       \
    do {                                                                                   \
        if (!emptied && n == 0 && clen > 0)                                                \
            emptied = (bit);                                                               \
    } while (0)
    if (mode == CTX_POST_SINGLE_LINE) {
        /* At the end of a line (nothing but blanks after the cursor on it), a completion that
         * starts with a newline is a suggestion for the next line, as Copilot shows one: keep
         * that newline and cut at the end of the next line. */
        size_t i = ctx_post_next_line(suffix, slen, c, n);
        while (i < n && c[i] != '\n')
            i++;
        if (i < n) {
            n = i;
            applied |= CTX_POST_CUT_LINE;
        }
        while (n > 0 && c[n - 1] == '\r')
            n--;
        EMPTIED(CTX_POST_CUT_LINE);
    } else {
        n = cut_repeat(prefix, plen, c, n, suffix, slen, &applied);
        EMPTIED(CTX_POST_CUT_REPEAT);
        n = cut_indent(lang, prefix, plen, c, n, outer < pb.n, &applied);
        EMPTIED(CTX_POST_CUT_INDENT);
        n = cut_block(lang, prefix, plen, c, n, suffix, slen, &applied);
        EMPTIED(CTX_POST_CUT_BLOCK);
    }
    n = cut_overlap(lang, c, n, suffix, slen, &applied);
    EMPTIED(CTX_POST_OVERLAP);

    /* Closers of prefix brackets that the suffix closes too. */
    struct brackets cb;
    scan_brackets(lang, c, n, &cb);
    if (cb.n_extra > 0 && outer >= pb.n && pb.n > 0) {
        size_t first = cb.extra_pos[0];
        size_t eol = 0;
        while (eol < slen && suffix[eol] != '\n')
            eol++;
        /* Single-line: when the rest of the suffix's line is only closers and punctuation that
         * the completion's tail spells out, the item replaces it instead of dropping ours. */
        size_t si = 0, ci = first;
        while (ci < n && si < eol) {
            if (suffix[si] == ' ' || suffix[si] == '\t' || suffix[si] == '\r') {
                si++;
                continue;
            }
            if (c[ci] == suffix[si])
                si++;
            ci++;
        }
        int only_closers = 1;
        for (size_t k = 0; k < eol; k++)
            if (!strchr(")]}\"'`;, \t\r", suffix[k]))
                only_closers = 0;
        if (mode == CTX_POST_SINGLE_LINE && si == eol && eol > 0 && only_closers) {
            replace = eol;
            while (replace > 0 && suffix[replace - 1] == '\r')
                replace--;
            applied |= CTX_POST_REPLACE;
        } else {
            n = first;
            if (mode == CTX_POST_MULTI_LINE) {
                size_t k = n;
                while (k > 0 && (c[k - 1] == ' ' || c[k - 1] == '\t'))
                    k--;
                if (k > 0 && c[k - 1] == '\n')
                    n = k - 1;
            }
            applied |= CTX_POST_DUP_CLOSER;
            scan_brackets(lang, c, n, &cb);
            EMPTIED(CTX_POST_DUP_CLOSER);
        }
    }

    struct str o = {0};
    if (mode == CTX_POST_MULTI_LINE) {
        while (n > 0 && (c[n - 1] == ' ' || c[n - 1] == '\t' || c[n - 1] == '\n' ||
                         c[n - 1] == '\r'))
            n--;
        EMPTIED(CTX_POST_BLANK);
    }
#undef EMPTIED
    str_put(&o, c, n);
    /* Close what the completion opened (multi-line, or single-line when the model stopped on
     * its own within the line), less what the suffix's spare closers close. */
    int ended_inside_line = mode == CTX_POST_SINGLE_LINE && !(applied & CTX_POST_CUT_LINE);
    if ((mode == CTX_POST_MULTI_LINE || ended_inside_line) && cb.n > 0 && !cb.in_string &&
        !cb.in_comment) {
        int spare = outer - (pb.n - cb.n_extra);
        if (spare < 0)
            spare = 0;
        int need = cb.n - spare;
        for (int j = cb.n - 1; j >= cb.n - need && j >= 0; j--) {
            char cl = closer_of(cb.open[j]);
            if (cb.open[j] == '{' && mode == CTX_POST_MULTI_LINE) {
                /* On its own line, at the indentation of the opener's line (cursor line for the
                 * completion's first line). */
                size_t ls = line_start_before(c, cb.open_pos[j]);
                const char *lt = c + ls;
                size_t ll = cb.open_pos[j] - ls;
                if (ls == 0) {
                    size_t pls = line_start_before(prefix, plen);
                    lt = prefix + pls;
                    ll = plen - pls;
                }
                size_t wl = skip_ws(lt, ll, 0);
                str_put(&o, "\n", 1);
                str_put(&o, lt, wl);
            }
            str_put(&o, &cl, 1);
            applied |= CTX_POST_BALANCED;
        }
    }
    if (!o.p && !o.oom)
        str_put(&o, "", 0);
    if (!o.oom) {
        size_t tn = o.len;
        if (syntax_guard(lang, prefix, plen, suffix, slen, o.p, &tn, &replace, &applied))
            o.oom = 1;
        if (!emptied && tn == 0 && o.len > 0)
            emptied = CTX_POST_SYNTAX;
        o.len = tn;
        o.p[tn] = 0;
    }
    if (o.oom) {
        sk_free(o.p);
        return -ENOMEM;
    }
    out->text = o.p;
    out->len = o.len;
    out->suffix_replace = replace;
    out->mode = mode;
    out->applied = (unsigned)applied;
    out->emptied_by = emptied;
    return 0;
}
