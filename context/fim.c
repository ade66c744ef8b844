/*
 * The fill-in-the-middle prompt builder (contract in context.h, "FIM prompt").
 *
 * Workload: one call per completion request (a keystroke that survived the debounce), on the
 * inference thread, with windows of a few KiB around the cursor.  Cost is tokenizing the text
 * that ends up in the prompt about twice (once line by line to choose the window, once whole to
 * get the exact ids), well under a millisecond for the default budgets.
 *
 * Why line-by-line counting is exact for DeepSeek Coder: its pre-tokenizer splits every CR and
 * LF into a pre-token of its own before anything else, and BPE never merges across pre-tokens,
 * so the tokens of "a\nb\n" are the tokens of "a\n" followed by those of "b\n".  For other
 * pre-tokenizers (DeepSeek LLM) the whole window is tokenized again and lines are dropped until
 * it fits, so budgets hold for every vocabulary.
 */
#include "base.h"
#include "context.h"
#include "engine/engine.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define DEFAULT_PREFIX_TOKENS 1024
#define DEFAULT_SUFFIX_TOKENS 256

const char *ctx_fim_comment_prefix(enum ctx_lang lang)
{
    switch (lang) {
    case CTX_LANG_C:
    case CTX_LANG_CPP:
    case CTX_LANG_JAVASCRIPT:
    case CTX_LANG_TYPESCRIPT:
    case CTX_LANG_TSX:
    case CTX_LANG_GO:
    case CTX_LANG_RUST:
    case CTX_LANG_JAVA:
        return "// ";
    case CTX_LANG_PYTHON:
    case CTX_LANG_BASH:
        return "# ";
    default:
        return NULL; /* JSON has no comments; plain text gets no header */
    }
}

/* Growable token list. */
struct toks {
    int32_t *v;
    int n, cap;
};

static int toks_reserve(struct toks *t, int extra)
{
    if (t->n + extra <= t->cap)
        return 0;
    int cap = t->cap ? t->cap : 256;
    while (cap < t->n + extra)
        cap *= 2;
    int32_t *v = sk_realloc(t->v, (size_t)cap * sizeof *v);
    if (!v)
        return -ENOMEM;
    t->v = v;
    t->cap = cap;
    return 0;
}

static int toks_push(struct toks *t, int32_t id)
{
    if (toks_reserve(t, 1))
        return -ENOMEM;
    t->v[t->n++] = id;
    return 0;
}

/* Appends the tokens of text[0..len) (no BOS, no special parsing: file text never becomes a
 * control token). */
static int toks_text(struct toks *t, const struct eng_vocab *v, const char *text, size_t len)
{
    if (len == 0)
        return 0;
    if (len > INT32_MAX / 2)
        return -EFBIG;
    for (;;) {
        int room = t->cap - t->n;
        int n = eng_tokenize(v, text, len, 0, 0, t->v ? t->v + t->n : NULL, room);
        if (n < 0)
            return n == -ENOMEM ? -ENOMEM : -EINVAL;
        if (n <= room) {
            t->n += n;
            return 0;
        }
        if (toks_reserve(t, n))
            return -ENOMEM;
    }
}

/* Token count of text[0..len); scratch is reused between calls. */
static int count_tokens(struct toks *scratch, const struct eng_vocab *v, const char *text,
                        size_t len)
{
    scratch->n = 0;
    int rc = toks_text(scratch, v, text, len);
    return rc ? rc : scratch->n;
}

/* Start of the line holding byte i-1 (i.e. the line that ends at or after i). */
static size_t line_start_before(const char *s, size_t i)
{
    while (i > 0 && s[i - 1] != '\n' && s[i - 1] != '\r')
        i--;
    return i;
}

/* Chooses where the prefix window starts: the earliest line start such that the tokens of
 * prefix[start..len) fit in budget.  When even the cursor's own line does not fit, the window
 * starts at a token boundary inside it (*cut_tokens receives how many of that line's tokens are
 * dropped).  Returns the start offset, or a negative error. */
static int64_t choose_prefix_start(struct toks *scratch, const struct eng_vocab *v,
                                   const char *p, size_t len, int budget, int *cut_tokens)
{
    *cut_tokens = 0;
    size_t start = len;
    int used = 0;
    while (start > 0) {
        /* the line ending at start: [ls, start) (it includes its terminator unless it is the
         * cursor's partial line) */
        size_t end = start;
        size_t ls = start;
        /* step over the terminator of the previous line first */
        if (ls > 0 && p[ls - 1] == '\n')
            ls--;
        if (ls > 0 && p[ls - 1] == '\r')
            ls--;
        ls = line_start_before(p, ls);
        int n = count_tokens(scratch, v, p + ls, end - ls);
        if (n < 0)
            return n;
        if (used + n > budget) {
            if (start == len && len > 0 && p[len - 1] != '\n' && p[len - 1] != '\r') {
                /* the cursor's line alone is too long: keep its last tokens */
                *cut_tokens = n - budget;
                return (int64_t)ls;
            }
            break;
        }
        used += n;
        start = ls;
    }
    return (int64_t)start;
}

/* Chooses where the suffix window ends: whole lines from the cursor (the cursor line's rest
 * first) while they fit; a first line longer than the budget is cut at a token boundary
 * (*cut_tokens = tokens kept of it, else 0). */
static int64_t choose_suffix_end(struct toks *scratch, const struct eng_vocab *v, const char *s,
                                 size_t len, int budget, int *keep_tokens)
{
    *keep_tokens = 0;
    size_t end = 0;
    int used = 0;
    while (end < len) {
        size_t e = end;
        while (e < len && s[e] != '\n' && s[e] != '\r')
            e++;
        if (e < len && s[e] == '\r')
            e++;
        if (e < len && s[e] == '\n')
            e++;
        int n = count_tokens(scratch, v, s + end, e - end);
        if (n < 0)
            return n;
        if (used + n > budget) {
            if (end == 0)
                *keep_tokens = budget;
            break;
        }
        used += n;
        end = e;
    }
    return (int64_t)end;
}

/* Bytes covered by the first k tokens of toks (their decoded pieces). */
static size_t token_bytes(const struct eng_vocab *v, const int32_t *ids, int k)
{
    size_t b = 0;
    for (int i = 0; i < k; i++) {
        size_t l = 0;
        if (eng_token_piece_ref(v, ids[i], 0, &l))
            b += l;
    }
    return b;
}

int ctx_fim_header(enum ctx_lang lang, const char *path, char *buf, size_t cap)
{
    const char *c = ctx_fim_comment_prefix(lang);
    if (!c || !path || !*path) {
        if (cap)
            buf[0] = 0;
        return 0;
    }
    /* A path with a line break would end the comment early: such a header is left out. */
    if (strpbrk(path, "\r\n"))
        return (cap ? (buf[0] = 0) : 0), 0;
    size_t need = strlen(c) + strlen(path) + 1;
    if (need + 1 > cap)
        return -ENAMETOOLONG;
    memcpy(buf, c, strlen(c));
    memcpy(buf + strlen(c), path, strlen(path));
    buf[need - 1] = '\n';
    buf[need] = 0;
    return (int)need;
}

int ctx_fim_build(const struct ctx_fim_opts *o, struct ctx_fim_prompt *out)
{
    memset(out, 0, sizeof *out);
    if (!o || !o->vocab || (!o->prefix && o->prefix_len) || (!o->suffix && o->suffix_len) ||
        (!o->extra && o->extra_len))
        return -EINVAL;
    const struct eng_vocab *v = o->vocab;
    int pre_budget = o->prefix_tokens > 0 ? o->prefix_tokens : DEFAULT_PREFIX_TOKENS;
    int suf_budget = o->suffix_tokens > 0 ? o->suffix_tokens
                     : o->suffix_tokens < 0 ? 0
                                            : DEFAULT_SUFFIX_TOKENS;
    int32_t bos = eng_vocab_bos(v), fpre = eng_vocab_fim_pre(v), fsuf = eng_vocab_fim_suf(v),
            fmid = eng_vocab_fim_mid(v);
    int fim = !o->prefix_only && fpre >= 0 && fsuf >= 0 && fmid >= 0;
    struct toks t = {0}, scratch = {0}, win = {0};
    char header[1024];
    int rc, hl = ctx_fim_header(o->lang, o->path, header, sizeof header);
    if (hl < 0)
        hl = 0; /* an absurdly long path: no header rather than no prompt */

    /* ---- prefix window ---- */
    size_t plen = o->prefix_len;
    int64_t pstart = -1;
    int cut = 0;
    if (o->use_hint && o->prefix_hint <= plen && (o->prefix_hint == 0 || o->prefix[o->prefix_hint - 1] == '\n' ||
                                   o->prefix[o->prefix_hint - 1] == '\r')) {
        /* sticky start from the previous keystroke: keeps the KV prefix valid */
        if ((rc = count_tokens(&scratch, v, o->prefix + o->prefix_hint, plen - o->prefix_hint)) <
            0)
            goto fail;
        if (rc <= pre_budget)
            pstart = (int64_t)o->prefix_hint;
    }
    if (pstart < 0) {
        int b = pre_budget;
        if (o->use_hint)
            b = pre_budget - pre_budget / 4; /* leave room to grow before the next re-cut */
        pstart = choose_prefix_start(&scratch, v, o->prefix, plen, b, &cut);
        if (pstart < 0) {
            rc = (int)pstart;
            goto fail;
        }
    }
    /* exact ids of the window; other pre-tokenizers may need lines dropped */
    for (;;) {
        win.n = 0;
        if ((rc = toks_text(&win, v, o->prefix + pstart, plen - (size_t)pstart)))
            goto fail;
        if (cut > 0) {
            if (cut > win.n)
                cut = win.n;
            pstart += (int64_t)token_bytes(v, win.v, cut);
            memmove(win.v, win.v + cut, (size_t)(win.n - cut) * sizeof *win.v);
            win.n -= cut;
            cut = 0;
        }
        if (win.n <= pre_budget)
            break;
        /* drop the first line of the window (or, in one line, the excess tokens) */
        size_t e = (size_t)pstart;
        while (e < plen && o->prefix[e] != '\n')
            e++;
        if (e < plen) {
            pstart = (int64_t)e + 1;
        } else {
            cut = win.n - pre_budget;
        }
    }
    out->prefix_start = (size_t)pstart;

    /* ---- assemble ---- */
    if (bos >= 0 && (rc = toks_push(&t, bos)))
        goto fail;
    if (fim && (rc = toks_push(&t, fpre)))
        goto fail;
    /* Cross-file context hook: snippets, each headed by its path comment, go here, before the
     * current file's header, in a stable order so the KV cache keeps them across keystrokes. */
    out->extra_pos = t.n;
    if ((rc = toks_text(&t, v, o->extra, o->extra_len)))
        goto fail;
    out->n_extra = t.n - out->extra_pos;
    out->header_pos = t.n;
    if ((rc = toks_text(&t, v, header, (size_t)hl)))
        goto fail;
    out->n_header = t.n - out->header_pos;
    out->prefix_pos = t.n;
    if ((rc = toks_reserve(&t, win.n)))
        goto fail;
    if (win.n)
        memcpy(t.v + t.n, win.v, (size_t)win.n * sizeof *win.v);
    t.n += win.n;
    out->n_prefix = win.n;

    if (fim) {
        if ((rc = toks_push(&t, fsuf)))
            goto fail;
        int keep = 0;
        int64_t send = choose_suffix_end(&scratch, v, o->suffix, o->suffix_len, suf_budget, &keep);
        if (send < 0) {
            rc = (int)send;
            goto fail;
        }
        for (;;) {
            win.n = 0;
            if (keep > 0) {
                /* the cursor line's rest alone is too long: first `keep` tokens */
                size_t e = 0;
                while (e < o->suffix_len && o->suffix[e] != '\n' && o->suffix[e] != '\r')
                    e++;
                if ((rc = toks_text(&win, v, o->suffix, e)))
                    goto fail;
                if (win.n > keep)
                    win.n = keep;
                send = (int64_t)token_bytes(v, win.v, win.n);
                break;
            }
            if ((rc = toks_text(&win, v, o->suffix, (size_t)send)))
                goto fail;
            if (win.n <= suf_budget)
                break;
            /* drop the last line of the window */
            size_t e = (size_t)send;
            if (e > 0)
                e--;
            while (e > 0 && o->suffix[e - 1] != '\n')
                e--;
            if (e == 0)
                keep = suf_budget;
            send = (int64_t)e;
        }
        out->suffix_pos = t.n;
        if ((rc = toks_reserve(&t, win.n)))
            goto fail;
        if (win.n)
            memcpy(t.v + t.n, win.v, (size_t)win.n * sizeof *win.v);
        t.n += win.n;
        out->n_suffix = win.n;
        out->suffix_end = (size_t)send;
        if ((rc = toks_push(&t, fmid)))
            goto fail;
    } else {
        out->suffix_pos = t.n;
    }
    out->fim = fim;
    out->tokens = t.v;
    out->n_tokens = t.n;
    out->header = sk_strndup(header, (size_t)hl);
    if (!out->header) {
        rc = -ENOMEM;
        goto fail;
    }
    sk_free(scratch.v);
    sk_free(win.v);
    return 0;
fail:
    sk_free(t.v);
    sk_free(scratch.v);
    sk_free(win.v);
    memset(out, 0, sizeof *out);
    return rc < 0 ? rc : -EINVAL;
}

void ctx_fim_free(struct ctx_fim_prompt *p)
{
    if (!p)
        return;
    sk_free(p->tokens);
    sk_free(p->header);
    memset(p, 0, sizeof *p);
}

char *ctx_fim_render(const struct ctx_fim_prompt *p, const struct eng_vocab *v)
{
    int n = eng_detokenize(v, p->tokens, p->n_tokens, 1, NULL, 0);
    if (n < 0)
        return NULL;
    char *s = sk_malloc((size_t)n + 1);
    if (!s)
        return NULL;
    int m = eng_detokenize(v, p->tokens, p->n_tokens, 1, s, (size_t)n);
    if (m < 0 || m > n) {
        sk_free(s);
        return NULL;
    }
    s[m] = 0;
    return s;
}
