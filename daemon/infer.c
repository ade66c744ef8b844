/*
 * The inference thread (contract in pipeline.h).  One pthread owns the completion model, the
 * explain model, their KV caches and a cache/ connection; the loop thread hands it jobs and
 * collects finished ones.  Not uv_queue_work: libuv's 4 pool threads also serve file I/O.
 *
 * A completion job goes through, cheapest first:
 *   1. typing through: the user typed the first characters of the suggestion we last returned
 *      for this document (same text before and after, suffix unchanged): the rest of it,
 *      without building a prompt or touching the model;
 *   2. the prompt (context/fim.c) with a sticky prefix window, so the tokens before the cursor
 *      stay a prefix of the previous prompt's; blanks right before the cursor are left out of
 *      it (whitespace healing) and taken off the model's text when it writes them again;
 *   3. the SQLite cache, exact or typed-ahead;
 *   4. the debounce: wait until due_ms unless cancelled or superseded meanwhile;
 *   5. the model: prompt evaluated from the longest prefix still in the KV cache, in chunks,
 *      then greedy decoding token by token; cancellation and the deadline are checked between
 *      chunks and tokens (and the engine checks the abort flag between layers); past the
 *      deadline the best partial line is returned; stop rules: end-of-generation token, newline
 *      in single-line mode, max tokens; then ctx_postprocess.  Extra candidates (invoked
 *      trigger) are sampled from the same prompt (KV rolled back, no prompt work).
 *
 * Workload: a job per keystroke that survives the debounce; most are superseded before or
 * during decoding, so every loop checks for that first.
 */
#include "base.h"
#include "daemon/pipeline.h"
#include "engine/engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVAL_CHUNK 128
#define EXPLAIN_MAX_TOKENS 512
#define EXPLAIN_PROGRESS_EVERY 8

const char *dmn_source_name(enum dmn_source s)
{
    switch (s) {
    case DMN_SRC_MODEL: return "model";
    case DMN_SRC_CACHE: return "cache";
    case DMN_SRC_CACHE_TYPED: return "cacheTyped";
    case DMN_SRC_TYPED_THROUGH: return "typedThrough";
    default: return "none";
    }
}

const char *dmn_stop_name(enum dmn_stop s)
{
    switch (s) {
    case DMN_STOP_EOS: return "eos";
    case DMN_STOP_NEWLINE: return "newline";
    case DMN_STOP_MAX_TOKENS: return "maxTokens";
    case DMN_STOP_DEADLINE: return "deadline";
    case DMN_STOP_CONTROL: return "control";
    case DMN_STOP_CONTEXT: return "contextFull";
    default: return "";
    }
}

/* ---- debounce ------------------------------------------------------------------------------ */

void dmn_typing_keystroke(struct dmn_typing *t, uint64_t now_ms)
{
    if (t->last_ms && now_ms >= t->last_ms) {
        double d = (double)(now_ms - t->last_ms);
        if (d < 1500.0)
            t->avg_ms = t->avg_ms > 0 ? 0.7 * t->avg_ms + 0.3 * d : d;
    }
    t->last_ms = now_ms;
}

int dmn_typing_debounce_ms(const struct dmn_typing *t, int min_ms, int max_ms)
{
    if (t->avg_ms <= 0)
        return min_ms;
    double d = 1.5 * t->avg_ms;
    if (d < min_ms)
        return min_ms;
    if (d > max_ms)
        return max_ms;
    return (int)d;
}

/* ---- jobs ---------------------------------------------------------------------------------- */

struct dmn_job *dmn_job_new(enum dmn_job_kind kind)
{
    struct dmn_job *j = sk_calloc(1, sizeof *j);
    if (j)
        j->kind = kind;
    return j;
}

void dmn_job_free(struct dmn_job *j)
{
    if (!j)
        return;
    sk_free(j->uri);
    sk_free(j->path);
    sk_free(j->prefix);
    sk_free(j->suffix);
    for (int i = 0; i < DMN_MAX_CANDIDATES; i++)
        sk_free(j->items[i]);
    sk_free(j->prompt_text);
    sk_free(j->raw);
    sk_free(j->markdown);
    sk_free(j->progress);
    sk_free(j->message);
    sk_free(j->token);
    if (j->kind == DMN_JOB_CONFIG)
        dmn_config_free(&j->cfg);
    sk_free(j);
}

/* ---- the worker ---------------------------------------------------------------------------- */

struct loaded {
    char *path;
    struct eng_gguf *g;
    struct eng_vocab *v;
    struct eng_model *m;
    char id[CACHE_ID_HEX_LEN + 1];
};

/* What the last completion answered, for typing through and the sticky prefix window. */
struct last {
    char *uri;
    size_t cursor;       /* document offset of the cursor */
    char *prefix;        /* the prefix window then, ending at cursor */
    size_t prefix_len;
    char *suffix;
    size_t suffix_len;
    char *text;          /* the suggestion returned (item 0) */
    size_t text_len;
    size_t suffix_replace;
    size_t window_start; /* document offset where the prompt's prefix window started */
    int valid;
};

struct dmn_infer {
    struct dmn_infer_opts o;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct dmn_job *q_head, *q_tail;
    struct dmn_job *d_head, *d_tail;
    struct dmn_job *running;
    int stop;
    /* worker-owned */
    struct dmn_config cfg;
    int have_cfg;
    struct loaded comp, expl, draft;
    struct eng_spec *spec; /* over comp (+ draft when loaded); NULL = plain decoding */
    struct cache *cache;
    struct last last;
    _Atomic uint64_t n_requests, n_cache_hits, n_typed, last_latency;
};

static void loaded_free(struct loaded *l)
{
    eng_model_free(l->m);
    eng_vocab_free(l->v);
    eng_gguf_close(l->g);
    sk_free(l->path);
    memset(l, 0, sizeof *l);
}

/* Weight bytes under which a model runs on one thread unless threads is set explicitly. */
#define DMN_SMALL_MODEL_BYTES (64ull << 20)

static int loaded_open(struct loaded *l, const char *path, const struct dmn_config *cfg,
                       char *err, size_t errlen)
{
    char e[512] = "";
    memset(l, 0, sizeof *l);
    int rc = eng_gguf_open(path, e, sizeof e, &l->g);
    if (!rc)
        rc = eng_vocab_load(l->g, &l->v, e, sizeof e);
    if (!rc) {
        struct eng_model_params mp;
        eng_model_params_default(&mp);
        mp.n_threads = cfg->threads;
        /* "All CPUs" (0) for a small model is one thread: splitting matrices this small costs
         * more in pool wake-ups than it gains, and far more on a busy machine. */
        uint64_t fsz = eng_gguf_file_size(l->g), doff = eng_gguf_data_offset(l->g);
        uint64_t wbytes = fsz > doff ? fsz - doff : 0;
        if (mp.n_threads <= 0 && wbytes < DMN_SMALL_MODEL_BYTES)
            mp.n_threads = 1;
        mp.n_ctx = cfg->context_size; /* 0: the model's own, at most 4096 */
        rc = eng_model_load(l->g, &mp, &l->m, e, sizeof e);
    }
    if (rc) {
        snprintf(err, errlen, "cannot load model %s: %s", path, e[0] ? e : eng_strerror(rc));
        loaded_free(l);
        return rc;
    }
    l->path = sk_strdup(path);
    if (cache_model_identity(NULL, path, l->id))
        snprintf(l->id, sizeof l->id, "%016llx",
                 (unsigned long long)sk_hash64(path, strlen(path), 7));
    return 0;
}

static void deliver(struct dmn_infer *w, struct dmn_job *j)
{
    pthread_mutex_lock(&w->mu);
    j->next = NULL;
    if (w->d_tail)
        w->d_tail->next = j;
    else
        w->d_head = j;
    w->d_tail = j;
    pthread_mutex_unlock(&w->mu);
    if (w->o.notify)
        w->o.notify(w->o.notify_ud);
}

static int stopped(struct dmn_job *j)
{
    if (atomic_load_explicit(&j->abort, memory_order_relaxed))
        return 1;
    if (j->cancelled && __atomic_load_n(j->cancelled, __ATOMIC_RELAXED)) {
        atomic_store_explicit(&j->abort, 1, memory_order_relaxed);
        return 1;
    }
    return 0;
}

/* ---- configuration ------------------------------------------------------------------------- */

static void last_clear(struct last *l);

static void do_config(struct dmn_infer *w, struct dmn_job *j)
{
    char err[1024] = "";
    const struct dmn_config *c = &j->cfg;
    int same_threads = w->have_cfg && w->cfg.threads == c->threads &&
                       w->cfg.context_size == c->context_size;
    /* completion model */
    if (!c->model[0]) {
        eng_spec_free(w->spec);
        w->spec = NULL;
        loaded_free(&w->comp);
    } else if (!w->comp.m || strcmp(w->comp.path, c->model) || !same_threads) {
        struct loaded nl;
        eng_spec_free(w->spec); /* the session refers to the old model */
        w->spec = NULL;
        loaded_free(&w->comp); /* free first: two models may not fit in memory */
        last_clear(&w->last);
        if (loaded_open(&nl, c->model, c, err, sizeof err) == 0)
            w->comp = nl;
    }
    /* draft model and the speculative session (greedy, so the output is the target's own) */
    int want_draft = w->comp.m && c->draft[0];
    if (w->spec && (!want_draft || !w->draft.m || strcmp(w->draft.path, c->draft) ||
                    !w->comp.m)) {
        eng_spec_free(w->spec);
        w->spec = NULL;
    }
    if (!want_draft || (w->draft.m && strcmp(w->draft.path, c->draft)) || !same_threads)
        loaded_free(&w->draft);
    if (want_draft && !w->draft.m) {
        char derr[1024];
        struct loaded nl;
        if (loaded_open(&nl, c->draft, c, derr, sizeof derr) == 0)
            w->draft = nl;
        else
            SK_WARN("draft model not used: %s", derr);
    }
    if (w->comp.m && w->draft.m && !w->spec) {
        struct eng_spec_params sp;
        eng_spec_params_default(&sp);
        char serr[512] = "";
        if (eng_spec_new(w->comp.m, w->draft.m, &sp, &w->spec, serr, sizeof serr)) {
            SK_WARN("draft model %s not used with %s: %s", c->draft, c->model, serr);
            w->spec = NULL;
            loaded_free(&w->draft);
        }
    }
    /* explain model */
    char err2[1024] = "";
    if (!c->explain_model[0]) {
        loaded_free(&w->expl);
    } else if (!w->expl.m || strcmp(w->expl.path, c->explain_model) || !same_threads) {
        struct loaded nl;
        loaded_free(&w->expl);
        if (loaded_open(&nl, c->explain_model, c, err2, sizeof err2) == 0)
            w->expl = nl;
    }
    /* cache */
    int reopen = !w->have_cfg || w->cfg.cache_enable != c->cache_enable ||
                 w->cfg.cache_max_bytes != c->cache_max_bytes ||
                 strcmp(w->cfg.cache_path, c->cache_path);
    if (reopen) {
        cache_close(w->cache);
        w->cache = NULL;
        if (c->cache_enable) {
            struct cache_opts co = {.max_bytes = c->cache_max_bytes};
            int rc = cache_open(c->cache_path[0] ? c->cache_path : NULL, &co, &w->cache);
            if (rc)
                SK_WARN("completion cache off: %s", cache_strerror(rc));
        }
    }
    if (w->have_cfg)
        dmn_config_free(&w->cfg);
    dmn_config_copy(&w->cfg, c);
    w->have_cfg = 1;
    j->model_ok = w->comp.m != NULL;
    if (err[0] || err2[0]) {
        char msg[2100];
        snprintf(msg, sizeof msg, "seekd: %s%s%s", err, err[0] && err2[0] ? "; " : "", err2);
        j->message = sk_strdup(msg);
        j->rc = -EINVAL;
    }
}

/* ---- completion ---------------------------------------------------------------------------- */

static void last_clear(struct last *l)
{
    sk_free(l->uri);
    sk_free(l->prefix);
    sk_free(l->suffix);
    sk_free(l->text);
    memset(l, 0, sizeof *l);
}

static void last_set(struct dmn_infer *w, const struct dmn_job *j, size_t window_start)
{
    struct last *l = &w->last;
    last_clear(l);
    if (j->n_items < 1 || !j->items[0] || !j->items[0][0])
        return;
    l->uri = sk_strdup(j->uri);
    l->prefix = sk_malloc(j->prefix_len + 1);
    l->suffix = sk_malloc(j->suffix_len + 1);
    l->text = sk_strdup(j->items[0]);
    if (!l->uri || !l->prefix || !l->suffix || !l->text) {
        last_clear(l);
        return;
    }
    memcpy(l->prefix, j->prefix, j->prefix_len);
    memcpy(l->suffix, j->suffix, j->suffix_len);
    l->prefix_len = j->prefix_len;
    l->suffix_len = j->suffix_len;
    l->text_len = strlen(l->text);
    l->cursor = j->prefix_doc_off + j->prefix_len;
    l->suffix_replace = j->suffix_replace[0];
    l->window_start = window_start;
    l->valid = 1;
}

/* Typing through: returns 1 and fills the job when the new position is the old one plus a
 * non-empty, strict beginning of the last suggestion, with the text around unchanged. */
static int typed_through(struct dmn_infer *w, struct dmn_job *j)
{
    struct last *l = &w->last;
    if (!l->valid || strcmp(l->uri, j->uri))
        return 0;
    size_t cur = j->prefix_doc_off + j->prefix_len;
    if (cur <= l->cursor || cur - l->cursor >= l->text_len)
        return 0;
    size_t typed = cur - l->cursor;
    if (j->prefix_len < typed)
        return 0;
    /* the typed bytes are the suggestion's first bytes */
    if (memcmp(j->prefix + j->prefix_len - typed, l->text, typed))
        return 0;
    /* the text before the old cursor is unchanged where both windows see it */
    size_t old_start = l->cursor - l->prefix_len, new_start = j->prefix_doc_off;
    size_t from = old_start > new_start ? old_start : new_start;
    if (from < l->cursor &&
        memcmp(j->prefix + (from - new_start), l->prefix + (from - old_start), l->cursor - from))
        return 0;
    /* and so is the text after the cursor */
    size_t n = SK_MIN(j->suffix_len, l->suffix_len);
    if (memcmp(j->suffix, l->suffix, n) || (j->suffix_len != l->suffix_len && n < 4096))
        return 0;
    const char *rest = l->text + typed;
    /* a single-line suggestion does not continue past its line: typing its newline ends it */
    j->items[0] = sk_strdup(rest);
    if (!j->items[0])
        return 0;
    j->n_items = 1;
    j->suffix_replace[0] = l->suffix_replace;
    j->info.source = DMN_SRC_TYPED_THROUGH;
    /* keep the state: the user may keep typing through */
    char *keep = sk_strdup(rest);
    if (keep) {
        size_t ws = l->window_start;
        sk_free(l->text);
        l->text = keep;
        l->text_len = strlen(keep);
        sk_free(l->prefix);
        l->prefix = sk_malloc(j->prefix_len + 1);
        if (l->prefix)
            memcpy(l->prefix, j->prefix, j->prefix_len);
        l->prefix_len = l->prefix ? j->prefix_len : 0;
        l->cursor = cur;
        l->window_start = ws;
        if (!l->prefix)
            last_clear(l);
    }
    return 1;
}

/* Growable text. */
struct buf {
    char *s;
    size_t n, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = sk_realloc(b->s, cap);
        if (!p)
            return -ENOMEM;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return 0;
}

static int push_token(struct buf *b, struct eng_detok *d, const struct eng_vocab *v, int32_t t)
{
    char piece[512];
    int n = eng_detok_push(d, v, t, 0, piece, sizeof piece);
    if (n < 0 || n > (int)sizeof piece)
        return 0; /* a piece that long does not occur in our vocabularies: skip it */
    return buf_add(b, piece, (size_t)n);
}

/* Evaluates toks[0..n) reusing the KV prefix.  Returns 0, -ECANCELED, -ETIMEDOUT (deadline) or
 * an engine error.  *reused = cells kept. */
static int eval_prompt(struct eng_model *m, struct dmn_job *j, const int32_t *toks, int n,
                       int *reused)
{
    int keep = eng_kv_common_prefix(m, toks, n);
    if (keep >= n)
        keep = n - 1;
    eng_kv_truncate(m, keep);
    *reused = keep;
    for (int i = keep; i < n;) {
        if (stopped(j))
            return -ECANCELED;
        if (sk_now_ms() >= j->deadline_ms)
            return -ETIMEDOUT;
        int c = SK_MIN(EVAL_CHUNK, n - i);
        int rc = eng_model_eval(m, toks + i, c, i + c == n ? ENG_LOGITS_LAST : ENG_LOGITS_NONE);
        if (rc == ENG_ECANCELLED)
            return -ECANCELED;
        if (rc)
            return rc;
        i += c;
    }
    return 0;
}

/* Decodes from the current logits: greedy when s is NULL.  Fills *out; returns 0,
 * -ECANCELED or an engine error; *deadline set when the deadline stopped it, *stop to why
 * decoding ended. */
/* A single-line generation is done at its first newline, or at its second when it is a
 * next-line suggestion (the cursor at the end of its line and the text starting with a newline). */
static int line_done(const struct dmn_job *j, const struct buf *out)
{
    size_t from = ctx_post_next_line(j->suffix, j->suffix_len, out->s, out->n);
    return from < out->n && memchr(out->s + from, '\n', out->n - from) != NULL;
}

static int decode(struct dmn_infer *w, struct dmn_job *j, struct eng_sampler *s, int single,
                  struct buf *out, int *n_gen, int *deadline, enum dmn_stop *stop)
{
    struct eng_model *m = w->comp.m;
    const struct eng_vocab *v = w->comp.v;
    struct eng_detok d;
    eng_detok_init(&d);
    int nv = eng_model_n_vocab(m);
    int k;
    *stop = DMN_STOP_MAX_TOKENS;
    for (k = 0; k < w->cfg.max_tokens; k++) {
        if (stopped(j))
            return -ECANCELED;
        if (sk_now_ms() >= j->deadline_ms) {
            *deadline = 1;
            *stop = DMN_STOP_DEADLINE;
            break;
        }
        const float *lg = eng_model_logits(m, 0);
        if (!lg) {
            *stop = DMN_STOP_CONTEXT;
            break;
        }
        int32_t t = s ? eng_sampler_sample(s, lg) : eng_sample_greedy(lg, nv);
        if (t < 0 || eng_vocab_is_eog(v, t)) {
            *stop = DMN_STOP_EOS;
            break;
        }
        if (eng_vocab_type(v, t) == ENG_TOKEN_CONTROL) {
            *stop = DMN_STOP_CONTROL; /* a FIM sentinel or BOS in the middle: the model is lost */
            break;
        }
        (*n_gen)++;
        if (push_token(out, &d, v, t))
            return -ENOMEM;
        if (single && line_done(j, out)) {
            *stop = DMN_STOP_NEWLINE;
            break;
        }
        if (eng_kv_len(m) + 1 > eng_model_n_ctx(m)) {
            *stop = DMN_STOP_CONTEXT;
            break;
        }
        int rc = eng_model_eval(m, &t, 1, ENG_LOGITS_LAST);
        if (rc == ENG_ECANCELLED)
            return -ECANCELED;
        if (rc)
            return rc;
    }
    char held[8];
    int h = eng_detok_flush(&d, held, sizeof held);
    if (h > 0)
        buf_add(out, held, (size_t)h);
    /* Stopped by the budget in multi-line mode: the last line is most likely cut short, so
     * only whole lines are kept, as for the deadline. */
    int cut = *deadline || (!single && k >= w->cfg.max_tokens);
    if (cut && out->n) {
        /* the best partial line: complete lines when there are some, else what we have */
        char *nl = NULL;
        for (size_t i = out->n; i > 0; i--)
            if (out->s[i - 1] == '\n') {
                nl = out->s + i - 1;
                break;
            }
        if (nl && nl != out->s) {
            out->n = (size_t)(nl - out->s);
            out->s[out->n] = 0;
        }
    }
    return 0;
}

/* Cuts text at its first invalid UTF-8 sequence: the suggestion goes into JSON, and a random or
 * confused model can emit byte tokens that never form a character. */
static void utf8_cut(char *s, size_t *n)
{
    size_t i = 0;
    while (i < *n) {
        uint32_t cp;
        size_t k = lsp_utf8_next((const unsigned char *)s + i, *n - i, &cp);
        if (k == 1 && (unsigned char)s[i] >= 0x80)
            break;
        i += k;
    }
    *n = i;
    s[i] = 0;
}

/* Replaces the bytes of invalid UTF-8 sequences with '?' (explain streams what it has). */
static void utf8_fix(char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = lsp_utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (k == 1 && (unsigned char)s[i] >= 0x80)
            s[i] = '?';
        i += k;
    }
}

/* Greedy decoding through the speculative session: the prompt is already in the target's KV
 * (eval_prompt, which checks the deadline between chunks); eng_spec_prompt then reuses it and
 * brings the draft up to date.  Output token for token equal to plain greedy decoding. */
static int decode_spec(struct dmn_infer *w, struct dmn_job *j, const int32_t *toks, int n,
                       int single, struct buf *out, int *n_gen, int *deadline,
                       enum dmn_stop *stop)
{
    const struct eng_vocab *v = w->comp.v;
    eng_model_set_cancel(w->draft.m, &j->abort);
    int rc = eng_spec_prompt(w->spec, toks, n);
    if (rc) {
        eng_model_set_cancel(w->draft.m, NULL);
        return rc == ENG_ECANCELLED ? -ECANCELED : rc;
    }
    int32_t eog[16];
    int ne = eng_vocab_eog_ids(v, eog, 16);
    eng_spec_set_stops(w->spec, eog, SK_MIN(ne, 16));
    struct eng_spec_stats st0;
    eng_spec_get_stats(w->spec, &st0);
    struct eng_detok d;
    eng_detok_init(&d);
    int done = 0, hit_budget = 0;
    while (!done) {
        if (stopped(j)) {
            rc = -ECANCELED;
            break;
        }
        if (sk_now_ms() >= j->deadline_ms) {
            *deadline = 1;
            *stop = DMN_STOP_DEADLINE;
            break;
        }
        int left = w->cfg.max_tokens - *n_gen;
        if (left <= 0) {
            hit_budget = 1;
            *stop = DMN_STOP_MAX_TOKENS;
            break;
        }
        int32_t buf[ENG_SPEC_KMAX + 2];
        int k = eng_spec_next(w->spec, buf, SK_MIN(left, (int)SK_ARRAY_LEN(buf)));
        if (k == ENG_ECANCELLED) {
            rc = -ECANCELED;
            break;
        }
        if (k <= 0) {
            rc = k < 0 ? k : 0;
            if (k == 0) { /* a stop token, or the context is full */
                int nt = 0;
                eng_spec_tokens(w->spec, &nt);
                *stop = nt + 1 >= eng_model_n_ctx(w->comp.m) ? DMN_STOP_CONTEXT : DMN_STOP_EOS;
            }
            break;
        }
        for (int i = 0; i < k && !done; i++) {
            if (eng_vocab_type(v, buf[i]) == ENG_TOKEN_CONTROL) {
                *stop = DMN_STOP_CONTROL;
                done = 1;
                break;
            }
            (*n_gen)++;
            if (push_token(out, &d, v, buf[i])) {
                rc = -ENOMEM;
                done = 1;
                break;
            }
            if (single && line_done(j, out)) {
                *stop = DMN_STOP_NEWLINE;
                done = 1;
            }
        }
    }
    eng_model_set_cancel(w->draft.m, NULL);
    struct eng_spec_stats st;
    eng_spec_get_stats(w->spec, &st);
    j->info.spec_drafted = (int)(st.n_drafted[0] + st.n_drafted[1] - st0.n_drafted[0] -
                                 st0.n_drafted[1]);
    j->info.spec_accepted = (int)(st.n_accepted[0] + st.n_accepted[1] - st0.n_accepted[0] -
                                  st0.n_accepted[1]);
    if (rc)
        return rc;
    char held[8];
    int h = eng_detok_flush(&d, held, sizeof held);
    if (h > 0)
        buf_add(out, held, (size_t)h);
    if ((*deadline || (!single && hit_budget)) && out->n) {
        for (size_t i = out->n; i > 1; i--)
            if (out->s[i - 1] == '\n') {
                out->n = i - 1;
                out->s[out->n] = 0;
                break;
            }
    }
    return 0;
}

static void settings_str(const struct dmn_infer *w, int mode, char *buf, size_t cap)
{
    snprintf(buf, cap, "t=0;h=1;n=%d;pt=%d;st=%d;m=%d", w->cfg.max_tokens, w->cfg.prefix_tokens,
             w->cfg.suffix_tokens, mode);
}

static void do_complete(struct dmn_infer *w, struct dmn_job *j)
{
    uint64_t t0 = sk_now_ns();
    atomic_fetch_add(&w->n_requests, 1);
    struct ctx_fim_prompt p = {0};
    struct ctx_xfile_result xr = {0};
    struct buf out = {0};
    struct eng_sampler *smp = NULL;
    if (stopped(j)) {
        j->rc = -ECANCELED;
        goto done;
    }
    if (typed_through(w, j)) {
        atomic_fetch_add(&w->n_typed, 1);
        goto done;
    }
    if (!w->comp.m) {
        j->rc = -ENOENT;
        goto done;
    }
    struct eng_model *m = w->comp.m;
    const struct eng_vocab *v = w->comp.v;
    enum ctx_post_mode mode =
        ctx_post_mode_at(j->lang, j->prefix, j->prefix_len, j->suffix, j->suffix_len);
    j->info.mode = mode;
    /* budgets fit the context with room for the generation */
    int room = eng_model_n_ctx(m) - w->cfg.max_tokens - 64;
    int pb = w->cfg.prefix_tokens, sb = w->cfg.suffix_tokens;
    /* cross-file snippets take at most a quarter of that room */
    int xb = (j->xindex || j->xring) ? w->cfg.context_tokens : 0;
    if (xb > room / 4)
        xb = room / 4;
    if (xb > 0)
        room -= xb;
    if (room < 32)
        room = 32;
    if (pb + sb > room) {
        pb = (int)((int64_t)room * pb / (pb + sb));
        sb = room - pb;
        if (pb < 1)
            pb = 1;
    }
    /* Whitespace healing: the indentation of a line blank up to the cursor ("def f():\n    |")
     * stays out of the prompt, which then ends at the line start like the whole-line middles
     * the models were trained on.  Byte-level BPE attaches blanks to the word after them
     * ("    if" is "   " + " if"), so a prompt ending in them ends on a token split the model
     * rarely saw, and small models answer with the indentation again ("        if").  The
     * model writes it itself; it is removed from its text below when it does.  Blanks after
     * code on the line ("return |") stay: without constraining the first token to start with
     * them, a model seeing "return" ends the line. */
    size_t heal = 0;
    while (heal < j->prefix_len && (j->prefix[j->prefix_len - 1 - heal] == ' ' ||
                                    j->prefix[j->prefix_len - 1 - heal] == '\t'))
        heal++;
    if (heal == j->prefix_len ||
        (heal < j->prefix_len && j->prefix[j->prefix_len - 1 - heal] != '\n'))
        heal = 0; /* only blanks (no line start), or code before them on the line */
    struct ctx_fim_opts fo = {.vocab = v, .lang = j->lang, .path = j->path, .prefix = j->prefix,
                              .prefix_len = j->prefix_len - heal, .suffix = j->suffix,
                              .suffix_len = j->suffix_len, .prefix_tokens = pb,
                              .suffix_tokens = sb ? sb : -1};
    if (w->last.uri && !strcmp(w->last.uri, j->uri) && w->last.window_start >= j->prefix_doc_off &&
        w->last.window_start <= j->prefix_doc_off + j->prefix_len) {
        fo.use_hint = 1;
        fo.prefix_hint = w->last.window_start - j->prefix_doc_off;
        if (fo.prefix_hint > fo.prefix_len)
            fo.use_hint = 0;
    }
    uint64_t tp = sk_real_now_ns();
    int rc;
    if (xb > 0) {
        const char *xpath = j->uri && j->uri[0] ? j->uri : j->path;
        struct ctx_xfile_opts xo = {.vocab = v, .index = j->xindex, .ring = j->xring,
                                    .lang = j->lang, .path = xpath, .prefix = j->prefix,
                                    .prefix_len = j->prefix_len, .suffix = j->suffix,
                                    .suffix_len = j->suffix_len, .budget_tokens = xb};
        rc = ctx_xfile_build(&xo, &xr);
        if (rc) /* completion still works without the snippets */
            SK_WARN("complete: cross-file context: %s", strerror(-rc));
        fo.extra = xr.text;
        fo.extra_len = xr.len;
    }
    rc = ctx_fim_build(&fo, &p);
    j->info.prompt_ms = (double)(sk_real_now_ns() - tp) / 1e6;
    if (rc) {
        j->rc = rc;
        goto done;
    }
    j->info.prompt_tokens = p.n_tokens;
    if (j->show_prompt) {
        j->prompt_text = ctx_fim_render(&p, v);
        j->prompt_n_tokens = p.n_tokens;
    }
    size_t window_start = j->prefix_doc_off + p.prefix_start;
    /* the cache */
    char settings[96];
    settings_str(w, mode, settings, sizeof settings);
    struct cache_key key = {w->comp.id, CTX_FIM_TEMPLATE, settings, xr.text, xr.len,
                            j->prefix + p.prefix_start, j->prefix_len - p.prefix_start,
                            j->suffix, p.suffix_end};
    struct cache_entry ce;
    size_t off = 0;
    if (w->cache && cache_get_typed(w->cache, &key, &ce, &off) == 1) {
        j->items[0] = ce.text;
        ce.text = NULL;
        cache_entry_free(&ce);
        j->n_items = 1;
        j->info.source = off ? DMN_SRC_CACHE_TYPED : DMN_SRC_CACHE;
        atomic_fetch_add(&w->n_cache_hits, 1);
        last_set(w, j, window_start);
        goto done;
    }
    /* the debounce */
    while (sk_now_ms() < j->due_ms) {
        if (stopped(j)) {
            j->rc = -ECANCELED;
            goto done;
        }
        pthread_mutex_lock(&w->mu);
        int stop = w->stop;
        if (!stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 2 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        pthread_mutex_unlock(&w->mu);
        if (stop) {
            j->rc = -ECANCELED;
            goto done;
        }
    }
    /* the model */
    eng_model_set_cancel(m, &j->abort);
    int reused = 0;
    rc = eval_prompt(m, j, p.tokens, p.n_tokens, &reused);
    j->info.kv_reused = reused;
    j->info.evaluated = p.n_tokens - reused;
    if (rc == -ETIMEDOUT) {
        j->info.deadline_hit = 1;
        j->info.stop = DMN_STOP_DEADLINE;
        j->n_items = 0;
        goto done_model;
    }
    if (rc) {
        j->rc = rc == -ECANCELED ? -ECANCELED : -EIO;
        goto done_model;
    }
    int nv = eng_model_n_vocab(m);
    int ncand = j->n_candidates > 1 ? SK_MIN(j->n_candidates, DMN_MAX_CANDIDATES) : 1;
    int single = mode == CTX_POST_SINGLE_LINE;
    for (int c = 0; c < ncand; c++) {
        if (c > 0) {
            if (sk_now_ms() >= j->deadline_ms)
                break;
            /* back to the end of the prompt (its last token evaluated again for its logits) */
            if (eng_kv_len(m) < p.n_tokens - 1 || eng_kv_truncate(m, p.n_tokens - 1) ||
                eng_model_eval(m, p.tokens + p.n_tokens - 1, 1, ENG_LOGITS_LAST))
                break;
            struct eng_sampler_params sp;
            eng_sampler_params_default(&sp);
            sp.temp = 0.8f;
            sp.seed = (uint64_t)c;
            eng_sampler_free(smp);
            smp = NULL;
            if (eng_sampler_new(&smp, nv, &sp))
                break;
            int32_t t = eng_sampler_sample(smp, eng_model_logits(m, 0));
            if (t < 0 || eng_vocab_is_eog(v, t) || eng_vocab_type(v, t) == ENG_TOKEN_CONTROL)
                continue;
            out.n = 0;
            struct eng_detok d;
            eng_detok_init(&d);
            push_token(&out, &d, v, t);
            if (eng_model_eval(m, &t, 1, ENG_LOGITS_LAST))
                break;
        } else {
            out.n = 0;
        }
        int n_gen = 0, dl = 0;
        enum dmn_stop stop = DMN_STOP_NONE;
        if (c == 0 && w->spec)
            rc = decode_spec(w, j, p.tokens, p.n_tokens, single, &out, &n_gen, &dl, &stop);
        else
            rc = decode(w, j, c ? smp : NULL, single, &out, &n_gen, &dl, &stop);
        if (c == 0)
            j->info.stop = stop;
        j->info.generated += n_gen;
        if (rc) {
            if (c == 0) {
                j->rc = rc == -ECANCELED ? -ECANCELED : -EIO;
                goto done_model;
            }
            break;
        }
        if (dl)
            j->info.deadline_hit = 1;
        if (out.s)
            utf8_cut(out.s, &out.n);
        size_t raw_n = out.n;
        if (c == 0) {
            size_t rn = SK_MIN(out.n, (size_t)1024);
            j->raw = sk_malloc(rn + 1);
            if (j->raw) {
                memcpy(j->raw, out.s ? out.s : "", rn);
                j->raw[rn] = 0;
                utf8_cut(j->raw, &rn);
            }
        }
        /* the healed blanks, as far as the model wrote them again: the user typed them */
        size_t same = 0;
        while (same < heal && same < out.n &&
               out.s[same] == j->prefix[j->prefix_len - heal + same])
            same++;
        if (same) {
            memmove(out.s, out.s + same, out.n - same + 1);
            out.n -= same;
        }
        struct ctx_post_result pr;
        if (ctx_postprocess(j->lang, j->prefix, j->prefix_len, j->suffix, j->suffix_len,
                            out.s ? out.s : "", out.n, &pr))
            continue;
        if (c == 0) {
            j->info.raw_len = (int)raw_n;
            j->info.healed = (int)heal;
            j->info.post_applied = pr.applied;
            j->info.post_emptied_by = pr.emptied_by;
        }
        int dup = pr.len == 0;
        for (int k = 0; k < j->n_items && !dup; k++)
            dup = !strcmp(j->items[k], pr.text);
        if (dup) {
            sk_free(pr.text);
        } else {
            j->suffix_replace[j->n_items] = pr.suffix_replace;
            j->items[j->n_items++] = pr.text;
        }
        if (dl)
            break;
    }
    j->info.source = DMN_SRC_MODEL;
    if (j->n_items > 0) {
        if (w->cache && !j->info.deadline_hit) {
            struct cache_entry e = {.text = j->items[0], .text_len = strlen(j->items[0]),
                                    .tokens = (uint32_t)j->info.generated,
                                    .compute_ms = (uint32_t)((sk_now_ns() - t0) / 1000000)};
            cache_put(w->cache, &key, &e);
        }
        last_set(w, j, window_start);
    } else {
        /* nothing shown: keep the window for KV reuse, forget the suggestion */
        last_clear(&w->last);
        w->last.uri = sk_strdup(j->uri);
        w->last.window_start = window_start;
    }
done_model:
    eng_model_set_cancel(m, NULL);
done:
    if (!j->info.source && j->n_items)
        j->info.source = DMN_SRC_MODEL;
    j->info.latency_ms = (double)(sk_now_ms() - j->arrival_ms);
    atomic_store(&w->last_latency, (uint64_t)j->info.latency_ms);
    eng_sampler_free(smp);
    sk_free(out.s);
    ctx_fim_free(&p);
    ctx_xfile_free(&xr);
}

/* ---- explain ------------------------------------------------------------------------------- */

static void progress(struct dmn_infer *w, struct dmn_job *j, const char *md)
{
    struct dmn_job *pj = dmn_job_new(DMN_JOB_EXPLAIN);
    if (!pj)
        return;
    pj->owner = j->owner;
    pj->is_progress = 1;
    pj->progress = sk_strdup(md);
    pj->token = j->token ? sk_strdup(j->token) : NULL;
    deliver(w, pj);
}

static void do_explain(struct dmn_infer *w, struct dmn_job *j)
{
    if (!w->expl.m) {
        j->rc = -ENOENT;
        j->message = sk_strdup(
            "No explain model is configured.  Set a DeepSeek chat or instruct GGUF (for example "
            "deepseek-coder-1.3b-instruct.Q4_K_M.gguf) as models.explain: in VS Code the setting "
            "seekd.models.explain, in other editors initializationOptions {\"models\": "
            "{\"explain\": \"/path/model.gguf\"}}, or the same object in "
            "~/.config/seekd/config.json.");
        return;
    }
    struct eng_model *m = w->expl.m;
    const struct eng_vocab *v = w->expl.v;
    char *msg = dmn_explain_message(j->lang_id, j->prefix, j->prefix_len);
    int32_t *toks = NULL;
    struct buf out = {0};
    int n = msg ? dmn_chat_prompt(v, dmn_chat_style_of(v), msg, strlen(msg), &toks) : -ENOMEM;
    sk_free(msg);
    if (n <= 0) {
        j->rc = n < 0 ? n : -EINVAL;
        return;
    }
    int nctx = eng_model_n_ctx(m);
    if (n > nctx - 32) {
        j->rc = -E2BIG;
        j->message = sk_strdup("The selection is too long for the explain model's context.");
        sk_free(toks);
        return;
    }
    eng_model_set_cancel(m, &j->abort);
    j->deadline_ms = UINT64_MAX;
    int reused;
    int rc = eval_prompt(m, j, toks, n, &reused);
    struct eng_detok d;
    eng_detok_init(&d);
    int nv = eng_model_n_vocab(m);
    for (int k = 0; !rc && k < EXPLAIN_MAX_TOKENS; k++) {
        if (stopped(j)) {
            rc = -ECANCELED;
            break;
        }
        int32_t t = eng_sample_greedy(eng_model_logits(m, 0), nv);
        if (eng_vocab_is_eog(v, t) || eng_kv_len(m) + 1 >= nctx)
            break;
        if (push_token(&out, &d, v, t)) {
            rc = -ENOMEM;
            break;
        }
        if (k % EXPLAIN_PROGRESS_EVERY == EXPLAIN_PROGRESS_EVERY - 1 && out.s) {
            utf8_fix(out.s, out.n);
            progress(w, j, out.s);
        }
        rc = eng_model_eval(m, &t, 1, ENG_LOGITS_LAST);
        if (rc == ENG_ECANCELLED)
            rc = -ECANCELED;
    }
    eng_model_set_cancel(m, NULL);
    j->rc = rc == -ECANCELED ? -ECANCELED : rc ? -EIO : 0;
    if (out.s) {
        char held[8];
        int h = eng_detok_flush(&d, held, sizeof held);
        if (h > 0)
            buf_add(&out, held, (size_t)h);
        utf8_fix(out.s, out.n);
    }
    j->markdown = out.s ? out.s : sk_strdup("");
    sk_free(toks);
}

/* ---- thread -------------------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    struct dmn_infer *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->stop && !w->q_head)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        struct dmn_job *j = w->q_head;
        w->q_head = j->next;
        if (!w->q_head)
            w->q_tail = NULL;
        w->running = j;
        pthread_mutex_unlock(&w->mu);
        switch (j->kind) {
        case DMN_JOB_COMPLETE:
            do_complete(w, j);
            break;
        case DMN_JOB_EXPLAIN:
            do_explain(w, j);
            break;
        case DMN_JOB_STAT:
            cache_stats_record(w->cache, &j->ev);
            break;
        case DMN_JOB_CONFIG:
            do_config(w, j);
            break;
        }
        pthread_mutex_lock(&w->mu);
        w->running = NULL;
        pthread_mutex_unlock(&w->mu);
        deliver(w, j);
    }
    return NULL;
}

int dmn_infer_new(const struct dmn_infer_opts *o, struct dmn_infer **out)
{
    struct dmn_infer *w = sk_calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->o = *o;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int rc = pthread_create(&w->th, NULL, worker_main, w);
    if (rc) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        sk_free(w);
        return -rc;
    }
    *out = w;
    return 0;
}

void dmn_infer_delete(struct dmn_infer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    if (w->running)
        atomic_store(&w->running->abort, 1);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    for (struct dmn_job *j = w->q_head, *n; j; j = n) {
        n = j->next;
        dmn_job_free(j);
    }
    for (struct dmn_job *j = w->d_head, *n; j; j = n) {
        n = j->next;
        dmn_job_free(j);
    }
    eng_spec_free(w->spec);
    loaded_free(&w->draft);
    loaded_free(&w->comp);
    loaded_free(&w->expl);
    cache_close(w->cache);
    last_clear(&w->last);
    if (w->have_cfg)
        dmn_config_free(&w->cfg);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    sk_free(w);
}

void dmn_infer_submit(struct dmn_infer *w, struct dmn_job *j)
{
    struct dmn_job *dropped = NULL, **dt = &dropped;
    pthread_mutex_lock(&w->mu);
    if (j->kind == DMN_JOB_COMPLETE) {
        /* newest per document wins: queued older ones come back cancelled */
        struct dmn_job **pp = &w->q_head, *prev = NULL;
        while (*pp) {
            struct dmn_job *q = *pp;
            if (q->kind == DMN_JOB_COMPLETE && !strcmp(q->uri, j->uri)) {
                *pp = q->next;
                q->rc = -ECANCELED;
                q->next = NULL;
                *dt = q;
                dt = &q->next;
                continue;
            }
            prev = q;
            pp = &q->next;
        }
        w->q_tail = prev;
        if (w->running && w->running->kind == DMN_JOB_COMPLETE && w->running->uri &&
            !strcmp(w->running->uri, j->uri))
            atomic_store(&w->running->abort, 1);
    }
    j->next = NULL;
    if (w->q_tail)
        w->q_tail->next = j;
    else
        w->q_head = j;
    w->q_tail = j;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (struct dmn_job *q = dropped, *n; q; q = n) {
        n = q->next;
        deliver(w, q);
    }
}

struct dmn_job *dmn_infer_take(struct dmn_infer *w)
{
    pthread_mutex_lock(&w->mu);
    struct dmn_job *j = w->d_head;
    w->d_head = w->d_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    return j;
}

void dmn_infer_abort_owner(struct dmn_infer *w, const void *owner)
{
    pthread_mutex_lock(&w->mu);
    if (w->running && w->running->owner == owner)
        atomic_store(&w->running->abort, 1);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void dmn_infer_counters(struct dmn_infer *w, struct dmn_infer_counters *out)
{
    out->requests = atomic_load(&w->n_requests);
    out->cache_hits = atomic_load(&w->n_cache_hits);
    out->typed_through = atomic_load(&w->n_typed);
    out->last_latency_ms = atomic_load(&w->last_latency);
}

int dmn_infer_idle(struct dmn_infer *w)
{
    pthread_mutex_lock(&w->mu);
    int idle = !w->q_head && !w->running;
    pthread_mutex_unlock(&w->mu);
    return idle;
}

/* ---- one-shot ------------------------------------------------------------------------------ */

struct sync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready;
};

static void sync_notify(void *ud)
{
    struct sync *s = ud;
    pthread_mutex_lock(&s->mu);
    s->ready = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Waits for the next finished job that is `want` (progress snapshots are dropped). */
static struct dmn_job *wait_for(struct dmn_infer *w, struct sync *s, struct dmn_job *want)
{
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->ready)
            pthread_cond_wait(&s->cv, &s->mu);
        s->ready = 0;
        pthread_mutex_unlock(&s->mu);
        struct dmn_job *got = NULL;
        for (struct dmn_job *j = dmn_infer_take(w), *n; j; j = n) {
            n = j->next;
            if (j == want)
                got = j;
            else
                dmn_job_free(j);
        }
        if (got)
            return got;
    }
}

int dmn_complete_once(const struct dmn_config *cfg, struct dmn_job *j, char *err, size_t errlen)
{
    struct sync s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct dmn_infer_opts o = {sync_notify, &s};
    struct dmn_infer *w;
    int rc = dmn_infer_new(&o, &w);
    if (rc)
        return rc;
    struct dmn_job *cj = dmn_job_new(DMN_JOB_CONFIG);
    if (!cj || dmn_config_copy(&cj->cfg, cfg)) {
        sk_free(cj);
        dmn_infer_delete(w);
        return -ENOMEM;
    }
    dmn_infer_submit(w, cj);
    cj = wait_for(w, &s, cj);
    int ok = cj->model_ok;
    if (!ok)
        snprintf(err, errlen, "%s", cj->message ? cj->message : "no completion model configured");
    dmn_job_free(cj);
    if (!ok) {
        dmn_infer_delete(w);
        return -ENOENT;
    }
    dmn_infer_submit(w, j);
    wait_for(w, &s, j);
    dmn_infer_delete(w);
    return j->rc;
}
