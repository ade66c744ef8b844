/*
 * The completion pipeline (daemon-internal): configuration, the inference thread, and the LSP
 * layer that feeds it.
 *
 *   config    dmn_config: models, threads, budgets, cache, per-language switches, deadline;
 *             merged from defaults < $XDG_CONFIG_HOME/seekd/config.json < initializationOptions
 *             < workspace/didChangeConfiguration (daemon/config.c).
 *   infer     one pthread owning the models, the KV cache and a cache/ connection.  Jobs
 *             (completion, explain, stats event, model load) go in with dmn_infer_submit; the
 *             thread reports back through a notify callback (uv_async_send in the server, a
 *             condition variable in tests) and the owner collects finished jobs with
 *             dmn_infer_take (daemon/infer.c).
 *   pipe      the LSP layer between the libuv loop and the h-lsp session: handles the methods
 *             of the pipeline (configuration, stats notifications, explain, debug requests),
 *             passes everything else to the session, and answers the session's queued
 *             completion requests from the inference thread (daemon/complete.c).
 *
 * Threads: dmn_config and dmn_pipe belong to the loop thread; a dmn_job belongs to whoever holds
 * it (the loop thread until submitted, the worker until it is finished, then the loop again).
 * The only shared fields are `abort` (set by the loop, read by the worker) and the request's
 * cancelled flag (set by the session on the loop thread, read by the worker).
 * Time: every decision on time reads sk_now_ms (tests inject the clock).
 */
#ifndef SEEKD_DAEMON_PIPELINE_H
#define SEEKD_DAEMON_PIPELINE_H

#include "cache/cache.h"
#include "context/context.h"
#include "lsp/lsp.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ==== configuration (daemon/config.c) ===================================================== */
struct dmn_config {
    char *model, *draft;                 /* completion target / draft GGUF ("" = none) */
    char *explain_model, *explain_draft; /* chat model for explain ("" = none) */
    int threads;                         /* 0 = all online CPUs (1 under 64 MB of weights) */
    int context_size;                    /* KV cells; 0 = model default (<= 4096) */
    int prefix_tokens, suffix_tokens, max_tokens;
    int context_tokens;                  /* cross-file snippets budget; 0 = none */
    int cache_enable;
    uint64_t cache_max_bytes;
    char *cache_path; /* "" = cache_default_path */
    int enable;
    signed char lang_enabled[CTX_LANG__COUNT]; /* 1 on, 0 off */
    int deadline_ms;                           /* per request, from arrival */
    int debounce_min_ms, debounce_max_ms;
};
/* Defaults: the bundled demo pair found next to the binary (dmn_config_models_dir), 1024/256/64
 * tokens (prefix/suffix/max), 512 cross-file context tokens, cache on (64 MiB), every language on, deadline 2000 ms, debounce 20..250 ms. */
void dmn_config_defaults(struct dmn_config *c);
void dmn_config_free(struct dmn_config *c);
int dmn_config_copy(struct dmn_config *dst, const struct dmn_config *src);
/* Merges a settings object ({models: {completion, completionDraft, explain, explainDraft},
 * threads, contextSize, budgets: {prefixTokens, suffixTokens, maxTokens,
 * contextTokens}, cache: {enable,
 * maxBytes, path}, languages: {id: bool}, enable, deadlineMs}) into c.  Unknown keys are
 * ignored; a value of the wrong type or out of range is skipped and described in err (the
 * others still apply).  Returns the number of bad values (0 = all good). */
int dmn_config_apply_json(struct dmn_config *c, const cJSON *obj, char *err, size_t errlen);
/* Merges $XDG_CONFIG_HOME/seekd/config.json (or ~/.config/...) when it exists.  Returns 0,
 * 1 when absent, or negative (unreadable / not JSON; described in err). */
int dmn_config_load_file(struct dmn_config *c, char *err, size_t errlen);
/* Folder of the bundled models: <exe dir>/../../models (build/release/seekd) or
 * <prefix>/share/seekd/models (installed as <prefix>/bin/seekd).  0 or -ENOENT. */
int dmn_config_models_dir(char *buf, size_t cap);
/* 1 when completions are on for lang. */
int dmn_config_lang_on(const struct dmn_config *c, enum ctx_lang lang);

/* ==== jobs and the inference thread (daemon/infer.c) ====================================== */
enum dmn_job_kind {
    DMN_JOB_COMPLETE = 1,
    DMN_JOB_EXPLAIN,
    DMN_JOB_STAT,   /* a cache_event to record */
    DMN_JOB_CONFIG, /* new configuration: (re)load models, reopen the cache */
};
enum dmn_source {
    DMN_SRC_NONE = 0, DMN_SRC_MODEL, DMN_SRC_CACHE, DMN_SRC_CACHE_TYPED, DMN_SRC_TYPED_THROUGH,
};
const char *dmn_source_name(enum dmn_source s); /* "model", "cache", "cacheTyped", "typedThrough" */

/* Why decoding of the first candidate ended. */
enum dmn_stop {
    DMN_STOP_NONE = 0, /* no decoding (cache, typing through, cancelled before) */
    DMN_STOP_EOS,      /* the model's end-of-generation token */
    DMN_STOP_NEWLINE,  /* single-line mode: the line ended */
    DMN_STOP_MAX_TOKENS,
    DMN_STOP_DEADLINE,
    DMN_STOP_CONTROL,  /* a FIM sentinel or BOS: the model is lost */
    DMN_STOP_CONTEXT,  /* the context is full */
};
const char *dmn_stop_name(enum dmn_stop s); /* "eos", "newline", "maxTokens", ... "" for NONE */

#define DMN_MAX_CANDIDATES 3
struct dmn_completion_info {
    enum dmn_source source;
    int kv_reused;       /* prompt tokens kept in the KV cache from the previous request */
    int prompt_tokens;   /* prompt length */
    int evaluated;       /* prompt tokens evaluated for this request */
    int generated;       /* tokens generated */
    int deadline_hit;    /* stopped by the deadline: best partial line returned */
    int debounce_ms;     /* the debounce this request waited */
    int spec_drafted, spec_accepted; /* speculative decoding: draft tokens proposed / kept */
    double latency_ms;   /* arrival to result */
    double prompt_ms;    /* building the prompt */
    enum ctx_post_mode mode;
    /* the first candidate, for telling why an answer is empty: how decoding stopped, the
     * model's text length before post-processing, and what ctx_postprocess did to it */
    enum dmn_stop stop;
    int raw_len;
    int healed;          /* blanks before the cursor left out of the prompt (whitespace
                          * healing) and removed from the model's text where it repeated them */
    unsigned post_applied, post_emptied_by; /* ctx_post_result.applied / .emptied_by */
};
struct dmn_job {
    enum dmn_job_kind kind;
    void *owner;                       /* the loop's context (the dmn_req); not touched here */
    const volatile size_t *cancelled;  /* the request's flag (NULL = none) */
    _Atomic int abort;                 /* set by the loop: stop now (also the engine's flag) */
    uint64_t arrival_ms, due_ms, deadline_ms;
    /* completion / explain input */
    char *uri, *path;
    enum ctx_lang lang;
    const char *lang_id;                /* static string for statistics */
    char *prefix; size_t prefix_len;    /* window ending at the cursor */
    size_t prefix_doc_off;              /* document offset of prefix[0] */
    char *suffix; size_t suffix_len;    /* window starting at the cursor */
    int n_candidates;
    int show_prompt;                    /* keep the rendered prompt (seekd complete) */
    /* cross-file context sources, borrowed (NULL = none): the owner keeps them alive until the
     * job is finished (both are thread-safe for the worker's lookups) */
    ctx_index *xindex;
    ctx_ring *xring;
    /* completion output */
    int rc;                             /* 0, -ECANCELED, or an error */
    int n_items;
    char *items[DMN_MAX_CANDIDATES];
    size_t suffix_replace[DMN_MAX_CANDIDATES];
    struct dmn_completion_info info;
    char *prompt_text; int prompt_n_tokens;
    char *raw;                          /* the first candidate's model text before
                                         * post-processing (at most 1 KB), or NULL */
    /* explain: the selection in `prefix`; output markdown (and progress snapshots) */
    char *markdown;
    char *progress;                     /* set while streaming: the markdown so far */
    int is_progress;                    /* this delivery is a progress snapshot (the job runs on) */
    char *message;                      /* error for the user (showMessage), or NULL */
    char *token;                        /* explain: the workDoneToken as JSON text, or NULL */
    /* stats */
    struct cache_event ev;
    /* config (DMN_JOB_CONFIG): the new settings; results: state and message */
    struct dmn_config cfg;
    int model_ok;                       /* completion model loaded */
    struct dmn_job *next;
};
/* New zeroed job (sk_calloc); dmn_job_free frees every owned field.  NULL on ENOMEM. */
struct dmn_job *dmn_job_new(enum dmn_job_kind kind);
void dmn_job_free(struct dmn_job *j);

struct dmn_infer;
typedef void (*dmn_notify_fn)(void *ud); /* called on the worker thread: results are ready */
struct dmn_infer_opts {
    dmn_notify_fn notify;
    void *notify_ud;
};
/* Starts the thread (no model yet: submit a DMN_JOB_CONFIG).  0 or -errno. */
int dmn_infer_new(const struct dmn_infer_opts *o, struct dmn_infer **out);
/* Aborts the running job, drops queued ones, joins the thread, frees everything (also jobs not
 * taken yet). */
void dmn_infer_delete(struct dmn_infer *w);
/* Queues a job (taken).  A completion job supersedes queued completion jobs of the same uri:
 * they come back finished with rc -ECANCELED. */
void dmn_infer_submit(struct dmn_infer *w, struct dmn_job *j);
/* Takes the finished jobs (and explain progress snapshots, is_progress = 1, which the caller
 * frees after use; the real job comes later), oldest first, as a linked list, or NULL. */
struct dmn_job *dmn_infer_take(struct dmn_infer *w);
/* Aborts the job running for `owner`, if any. */
void dmn_infer_abort_owner(struct dmn_infer *w, const void *owner);
/* Counters for seekd/status (read from any thread). */
struct dmn_infer_counters {
    uint64_t requests, cache_hits, typed_through;
    uint64_t last_latency_ms;
};
void dmn_infer_counters(struct dmn_infer *w, struct dmn_infer_counters *out);
/* 1 while the worker has nothing queued or running (tests). */
int dmn_infer_idle(struct dmn_infer *w);

/* Adaptive debounce: per document, the inter-keystroke interval (exponential average of the
 * intervals below 1.5 s) times 1.5, clamped to [min_ms, max_ms].  No history: min_ms. */
struct dmn_typing {
    uint64_t last_ms;
    double avg_ms; /* 0 = none yet */
};
void dmn_typing_keystroke(struct dmn_typing *t, uint64_t now_ms);
int dmn_typing_debounce_ms(const struct dmn_typing *t, int min_ms, int max_ms);

/* Chat prompts for explain (daemon/explain.c).  style from the vocabulary: the Coder instruct
 * template when it has <|EOT|>, else the DeepSeek LLM chat template. */
enum dmn_chat_style { DMN_CHAT_CODER_INSTRUCT = 1, DMN_CHAT_LLM };
struct eng_vocab;
enum dmn_chat_style dmn_chat_style_of(const struct eng_vocab *v);
/* Tokens of a one-turn prompt asking for `user`, ending with the generation prompt.  *out is
 * sk_malloc'd (caller frees); returns the count or negative. */
int dmn_chat_prompt(const struct eng_vocab *v, enum dmn_chat_style style, const char *user,
                    size_t user_len, int32_t **out);
/* The user message for explaining code[0..len) in language lang_id; sk_malloc'd. */
char *dmn_explain_message(const char *lang_id, const char *code, size_t len);

/* ==== the LSP layer (daemon/complete.c) ==================================================== */
struct dmn_pipe;
struct dmn_session;
typedef struct dmn_session dmn_session;
struct dmn_session_opts;
/* Creates the pipeline for one connection and rewrites *o (send, start) so the session it is
 * then given (dmn_pipe_set_session) routes through it.  loop is a uv_loop_t* (void here so
 * this header stays free of uv.h).  Starts the inference thread and loads the configuration
 * file.  0 or -errno. */
int dmn_pipe_new(void *uv_loop, struct dmn_session_opts *o, struct dmn_pipe **out);
void dmn_pipe_set_session(struct dmn_pipe *p, dmn_session *s);
/* Raw client bytes: replaces dmn_session_feed. */
int dmn_pipe_feed(struct dmn_pipe *p, const void *data, size_t n);
/* Stops the worker and closes the libuv handles (the loop can then finish). */
void dmn_pipe_stop(struct dmn_pipe *p);
/* Frees it (after the loop finished). */
void dmn_pipe_delete(struct dmn_pipe *p);

/* ==== the one-shot pipeline (daemon/cmd_complete.c, tests, bench) ========================= */
/* Runs a completion job synchronously on a private worker: used by `seekd complete`. */
int dmn_complete_once(const struct dmn_config *cfg, struct dmn_job *j, char *err, size_t errlen);

#endif
