/*
 * engine: everything that turns a GGUF file and tokens into logits and text.  GGUF loading
 * (mmap), the DeepSeek tokenizers, quantised kernels, the transformer forward pass, KV cache,
 * sampling and speculative decoding.  Knows nothing of LSP, JSON or editors.
 *
 * Errors: functions that can fail return int, 0 = OK, negative = error: -errno for OS errors or
 * a negative enum eng_err; eng_strerror() names either.  Functions that fail with a reason that
 * needs detail (a broken GGUF) also fill an error buffer given by the caller.
 *
 * This header is shared by several areas of the engine; each owns its section below.
 */
#ifndef SEEKD_ENGINE_H
#define SEEKD_ENGINE_H

#include <stddef.h>
#include <stdint.h>

/* ---- errors ------------------------------------------------------------------------------- */
enum eng_err {
    ENG_OK = 0,
    ENG_EFORMAT = -1000, /* malformed file */
    ENG_EUNSUPPORTED = -1001,
    ENG_ENOTFOUND = -1002,
    ENG_ESHAPE = -1003,
    ENG_ECANCELLED = -1004,
    ENG_EINCOMPATIBLE = -1005,
    ENG_ECONTEXT = -1006, /* context (KV) full */
    ENG_EINVAL = -1007,
};
const char *eng_strerror(int err);

/* ---- tensor types (values are ggml's, as stored in GGUF) ----------------------------------- */
enum eng_type {
    ENG_TYPE_F32 = 0,
    ENG_TYPE_F16 = 1,
    ENG_TYPE_Q4_0 = 2,
    ENG_TYPE_Q4_1 = 3,
    ENG_TYPE_Q5_0 = 6,
    ENG_TYPE_Q5_1 = 7,
    ENG_TYPE_Q8_0 = 8,
    ENG_TYPE_Q8_1 = 9,
    ENG_TYPE_Q2_K = 10,
    ENG_TYPE_Q3_K = 11,
    ENG_TYPE_Q4_K = 12,
    ENG_TYPE_Q5_K = 13,
    ENG_TYPE_Q6_K = 14,
    ENG_TYPE_Q8_K = 15,
    ENG_TYPE_BF16 = 30,
    ENG_TYPE__COUNT = 40
};

struct eng_type_info {
    const char *name;   /* "Q4_K" */
    uint32_t blck;      /* elements per block */
    uint32_t bytes;     /* bytes per block */
    int in_files;       /* may appear as a weight in a GGUF file (Q8_1/Q8_K may not) */
};
/* NULL for ids that are unknown or not supported by seekd (IQ*, TQ*). */
const struct eng_type_info *eng_type_info(int type);
/* Bytes of a row of n elements, or 0 if n is not a multiple of the block size. */
size_t eng_type_row_size(int type, int64_t n);

/* A weight as seen by the kernels: points into the mmapped file (read-only). ne[0] is the
 * contiguous dimension (a {n_embd, n_vocab} weight has n_vocab rows of n_embd elements). */
struct eng_tensor {
    const char *name;
    enum eng_type type;
    int n_dims;
    int64_t ne[4];
    size_t nbytes;
    const void *data;
};

/* ==== GGUF loader and tokenizer (issue 3) ================================================= */

/* ---- GGUF files (engine/gguf.c) ----------------------------------------------------------
 * A GGUF model mmapped read-only.  eng_gguf_open validates the whole header (every length,
 * count, type and tensor offset against the file size) and never touches tensor data, so
 * opening a multi-GB file costs only the metadata parse.  A gguf-split model ("X-00001-of-
 * 00003.gguf", keys split.no/split.count) is opened through any of its shards and presents the
 * tensors of all shards as one model; metadata comes from the first shard.
 * All pointers returned by accessors point into the mapping or into the handle and stay valid
 * until eng_gguf_close.  A handle is immutable after open: any thread may read it. */
struct eng_gguf;

enum eng_gguf_vtype { /* metadata value types, ids as stored in the file */
    ENG_GGUF_U8 = 0, ENG_GGUF_I8 = 1, ENG_GGUF_U16 = 2, ENG_GGUF_I16 = 3, ENG_GGUF_U32 = 4,
    ENG_GGUF_I32 = 5, ENG_GGUF_F32 = 6, ENG_GGUF_BOOL = 7, ENG_GGUF_STRING = 8,
    ENG_GGUF_ARRAY = 9, ENG_GGUF_U64 = 10, ENG_GGUF_I64 = 11, ENG_GGUF_F64 = 12,
};

/* Opens and validates `path`.  On failure returns -errno or ENG_EFORMAT / ENG_EUNSUPPORTED and
 * writes "FILE: offset N: reason" into errbuf (may be NULL); -ENOMEM only under the allocator's
 * failure injection.  *out is owned by the caller: release with eng_gguf_close (NULL is fine). */
int eng_gguf_open(const char *path, char *errbuf, size_t errlen, struct eng_gguf **out);
void eng_gguf_close(struct eng_gguf *g);

uint32_t eng_gguf_version(const struct eng_gguf *g);
uint32_t eng_gguf_alignment(const struct eng_gguf *g);
int eng_gguf_n_files(const struct eng_gguf *g);            /* 1, or the split count */
uint64_t eng_gguf_file_size(const struct eng_gguf *g);     /* sum over shards */
uint64_t eng_gguf_data_offset(const struct eng_gguf *g);   /* of the first shard */

/* Metadata.  Keys are looked up by exact name (hash).  Index-based access is for listing. */
int eng_gguf_n_kv(const struct eng_gguf *g);
int eng_gguf_find_key(const struct eng_gguf *g, const char *key); /* index, or -1 */
const char *eng_gguf_key(const struct eng_gguf *g, int idx);      /* NUL-terminated */
enum eng_gguf_vtype eng_gguf_kv_type(const struct eng_gguf *g, int idx);
const char *eng_gguf_vtype_name(int vtype);
/* Typed getters by key.  Return 0, ENG_ENOTFOUND (key absent, *out untouched) or ENG_EFORMAT
 * (key present with a type that does not convert).  get_int accepts every integer type and
 * bool, get_uint every integer type with a non-negative value, get_f32 F32 and F64. */
int eng_gguf_get_int(const struct eng_gguf *g, const char *key, int64_t *out);
int eng_gguf_get_uint(const struct eng_gguf *g, const char *key, uint64_t *out);
int eng_gguf_get_f32(const struct eng_gguf *g, const char *key, float *out);
int eng_gguf_get_bool(const struct eng_gguf *g, const char *key, int *out);
/* A string value: NUL-terminated copy owned by the handle (embedded NULs are possible; *len is
 * the true length, len may be NULL). */
int eng_gguf_get_str(const struct eng_gguf *g, const char *key, const char **s, size_t *len);

/* Arrays (never nested).  Elements are read through the accessors below, which bounds-check i
 * and convert: arr_int for integer/bool elements, arr_f for F32/F64, arr_str for strings
 * (pointer into the mapping, NOT NUL-terminated). */
struct eng_gguf_arr {
    const struct eng_gguf *g;
    enum eng_gguf_vtype type; /* element type */
    uint64_t n;
    const uint8_t *data;      /* first element in the mapping */
    const uint64_t *str_off;  /* STRING arrays: offset of each string's length field from data */
};
int eng_gguf_get_arr(const struct eng_gguf *g, const char *key, struct eng_gguf_arr *out);
int eng_gguf_arr_int(const struct eng_gguf_arr *a, uint64_t i, int64_t *out);
int eng_gguf_arr_f(const struct eng_gguf_arr *a, uint64_t i, double *out);
int eng_gguf_arr_str(const struct eng_gguf_arr *a, uint64_t i, const char **s, size_t *len);

/* Tensors.  Names are unique over all shards.  data points into the read-only mapping; it is
 * not touched (so not paged in) until the caller reads it. */
int eng_gguf_n_tensors(const struct eng_gguf *g);
int eng_gguf_tensor_at(const struct eng_gguf *g, int idx, struct eng_tensor *out);
int eng_gguf_tensor(const struct eng_gguf *g, const char *name, struct eng_tensor *out);
/* Lookup plus shape check: ne0..ne3 are the expected dims (trailing dims of 1 may be given as
 * 1 or omitted by passing n_dims).  ENG_ENOTFOUND or ENG_ESHAPE with the reason in errbuf. */
int eng_gguf_tensor_shaped(const struct eng_gguf *g, const char *name, int n_dims,
                           const int64_t ne[4], struct eng_tensor *out, char *errbuf,
                           size_t errlen);

/* ---- hyperparameters for general.architecture = "llama" (engine/gguf_hparams.c) -------- */
enum eng_rope_scaling { ENG_ROPE_SCALING_NONE = 0, ENG_ROPE_SCALING_LINEAR = 1,
                        ENG_ROPE_SCALING_YARN = 2, ENG_ROPE_SCALING_LONGROPE = 3 };
struct eng_hparams {
    char arch[32];            /* "llama" */
    uint32_t n_ctx_train;     /* llama.context_length */
    uint32_t n_embd;          /* llama.embedding_length */
    uint32_t n_layer;         /* llama.block_count */
    uint32_t n_ff;            /* llama.feed_forward_length (array form: must be uniform) */
    uint32_t n_head;          /* llama.attention.head_count */
    uint32_t n_head_kv;       /* ...head_count_kv, default n_head */
    uint32_t head_dim;        /* ...key_length, default n_embd / n_head */
    uint32_t head_dim_v;      /* ...value_length, default n_embd / n_head */
    uint32_t n_rot;           /* llama.rope.dimension_count, default head_dim; must equal it */
    uint32_t n_vocab;         /* length of tokenizer.ggml.tokens (else llama.vocab_size) */
    float rope_freq_base;     /* default 10000 */
    enum eng_rope_scaling rope_scaling_type; /* llama.rope.scaling.type, default linear */
    float rope_scaling_factor;/* rope.scaling.factor, else the old rope.scale_linear, else 0 */
    float rope_freq_scale;    /* what RoPE uses: 1/factor (1 when factor is 0 or type none) */
    float rms_eps;            /* llama.attention.layer_norm_rms_epsilon (required) */
    int tied_output;          /* 1 when output.weight is absent (token_embd.weight reused) */
    int file_type;            /* general.file_type (llama_ftype), -1 when absent */
};
/* Reads and checks the hyperparameters.  ENG_EUNSUPPORTED for another architecture,
 * ENG_EFORMAT for a missing required key or an inconsistent value, reason in errbuf. */
int eng_hparams_load(const struct eng_gguf *g, struct eng_hparams *hp, char *errbuf,
                     size_t errlen);
const char *eng_ftype_name(int ftype); /* "Q4_K_M", or "unknown" */

/* ---- vocabulary and tokenizer (engine/vocab.c, engine/tokenizer.c) ----------------------
 * Byte-level BPE with the DeepSeek pre-tokenizers, matching llama.cpp token for token.  A
 * vocab is immutable after load: eng_tokenize and the piece functions may run concurrently on
 * any threads (each call allocates its own scratch). */
struct eng_vocab;

enum eng_token_type { /* llama_token_type, as stored in tokenizer.ggml.token_type */
    ENG_TOKEN_UNDEFINED = 0, ENG_TOKEN_NORMAL = 1, ENG_TOKEN_UNKNOWN = 2, ENG_TOKEN_CONTROL = 3,
    ENG_TOKEN_USER_DEFINED = 4, ENG_TOKEN_UNUSED = 5, ENG_TOKEN_BYTE = 6,
};
enum eng_pretok { ENG_PRETOK_DEEPSEEK_CODER = 1, ENG_PRETOK_DEEPSEEK_LLM = 2 };

/* Loads the tokenizer from the metadata (the gguf handle may be closed afterwards: the vocab
 * copies what it needs).  A missing tokenizer.ggml.pre is resolved from the vocab (size and
 * special-token texts) with a warning; an unknown pre or model is ENG_EUNSUPPORTED.
 * *out owned by the caller, release with eng_vocab_free.  Load takes ~8 ms (coder) / ~40 ms
 * (llm) of CPU.  Not hardened against the allocator's failure injection (load time only). */
int eng_vocab_load(const struct eng_gguf *g, struct eng_vocab **out, char *errbuf,
                   size_t errlen);
void eng_vocab_free(struct eng_vocab *v);

int32_t eng_vocab_n_tokens(const struct eng_vocab *v);
enum eng_pretok eng_vocab_pretok(const struct eng_vocab *v);
const char *eng_vocab_pretok_name(const struct eng_vocab *v); /* "deepseek-coder" */
int eng_vocab_pretok_guessed(const struct eng_vocab *v); /* 1 when the pre key was missing */
/* Special ids, -1 when the vocab has none.  FIM tokens come from the fim_*_token_id keys (or
 * their deprecated prefix/suffix/middle aliases) or are found by text and forced to CONTROL. */
int32_t eng_vocab_bos(const struct eng_vocab *v);
int32_t eng_vocab_eos(const struct eng_vocab *v);
int32_t eng_vocab_eot(const struct eng_vocab *v);
int32_t eng_vocab_pad(const struct eng_vocab *v);
int32_t eng_vocab_fim_pre(const struct eng_vocab *v);
int32_t eng_vocab_fim_suf(const struct eng_vocab *v);
int32_t eng_vocab_fim_mid(const struct eng_vocab *v);
int32_t eng_vocab_nl(const struct eng_vocab *v);  /* the token of "\n" */
int eng_vocab_add_bos(const struct eng_vocab *v); /* tokenizer.ggml.add_bos_token */
int eng_vocab_is_eog(const struct eng_vocab *v, int32_t id);
/* The EOG ids in increasing order; returns their count (writes at most cap). */
int eng_vocab_eog_ids(const struct eng_vocab *v, int32_t *ids, int cap);
/* Stored token text (byte-level form for NORMAL tokens), NULL for a bad id. */
const char *eng_vocab_text(const struct eng_vocab *v, int32_t id, size_t *len);
enum eng_token_type eng_vocab_type(const struct eng_vocab *v, int32_t id); /* after forcing */
int32_t eng_vocab_find(const struct eng_vocab *v, const char *text, size_t len); /* or -1 */

/* Tokenizes len bytes of text.  add_bos: prepend BOS when the vocab says add_bos_token.
 * parse_special: CONTROL tokens written in the text become their ids (USER_DEFINED ones always
 * do, as in llama.cpp).  Invalid UTF-8 bytes are tokenized as U+FFFD.  Writes at most cap ids
 * and returns the total count (call again with a bigger buffer when it exceeds cap), or a
 * negative error (ENG_EINVAL; -ENOMEM only under the allocator's failure injection).
 * Throughput ~30 MB/s of source code per core (bench/bench_tok.c). */
int eng_tokenize(const struct eng_vocab *v, const char *text, size_t len, int add_bos,
                 int parse_special, int32_t *ids, int cap);

/* The pre-tokenizer alone (debugging and conformance checks): splits text (no special-token
 * handling) into the segments BPE would see and writes each segment's length in code points
 * (invalid UTF-8 bytes count as one U+FFFD each).  Same return convention as eng_tokenize. */
int eng_pretokenize(const struct eng_vocab *v, const char *text, size_t len, int32_t *seg_cps,
                    int cap);

/* The bytes of one token as llama.cpp's token_to_piece: NORMAL tokens decoded from byte-level
 * form, USER_DEFINED verbatim, CONTROL verbatim only when special, others empty.  Returns the
 * piece length and copies min(length, cap) bytes (no NUL); negative for a bad id. */
int eng_token_piece(const struct eng_vocab *v, int32_t id, int special, char *buf, size_t cap);
/* The same piece without copying; NULL for a bad id. */
const char *eng_token_piece_ref(const struct eng_vocab *v, int32_t id, int special, size_t *len);

/* Streaming detokenizer: feed tokens one by one; the bytes of an incomplete UTF-8 sequence at
 * the end are held back until the next token completes them (or flush).  Invalid sequences are
 * passed through unchanged.  Caller-owned struct, no allocation: zero it (or _init) to start. */
struct eng_detok {
    uint8_t held[4];
    int n_held;
};
void eng_detok_init(struct eng_detok *d);
/* Appends the complete bytes (at most cap; returns the count, or the needed count when > cap,
 * in which case nothing is consumed: call again with room for 4 + piece length). */
int eng_detok_push(struct eng_detok *d, const struct eng_vocab *v, int32_t id, int special,
                   char *out, size_t cap);
int eng_detok_flush(struct eng_detok *d, char *out, size_t cap); /* held bytes, cap >= 4 */
/* Whole-sequence detokenization: concatenated pieces; same return convention as eng_tokenize. */
int eng_detokenize(const struct eng_vocab *v, const int32_t *ids, int n, int special,
                   char *out, size_t cap);


/* ==== kernels, thread pool, forward pass, KV cache, sampling (issue 5) ==================== */

/* ---- kernels (engine/quant.c, kernels.c, matmul.c, pool.c, arch/x86/) ---------------------
 * Weight types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K
 * (dequantise/quantise also Q8_1, Q8_K).  SIMD variants (AVX2, AVX-512+VNNI) are chosen from
 * CPUID at first use and are bit-exact twins of the plain-C reference: every result is the same
 * on every x86 CPU, for every thread count and every batch size.
 * Conversions: exact; fp32->fp16 and fp32->bf16 round to nearest even. */
float eng_fp16_to_fp32(uint16_t h);
uint16_t eng_fp32_to_fp16(float f);
float eng_bf16_to_fp32(uint16_t h);
uint16_t eng_fp32_to_bf16(float f);
/* Rows of n values (F16C/AVX-512 where available; same bits as the scalar functions). */
void eng_fp16_to_fp32_row(const uint16_t *src, float *dst, int64_t n);
void eng_fp32_to_fp16_row(const float *src, uint16_t *dst, int64_t n);
/* One row of n elements of `type` <-> f32.  dequantize is bit-exact per the documented block
 * layouts (float ops in the order listed at the top of engine/quant.c); quantize is our own
 * round-to-nearest per block.  Return 0, ENG_EUNSUPPORTED (unknown type) or ENG_ESHAPE (n not a
 * multiple of the block size).  dst holds eng_type_row_size(type, n) bytes (quantize). */
int eng_dequantize_row(enum eng_type type, const void *src, float *dst, int64_t n);
int eng_quantize_row(enum eng_type type, const float *src, void *dst, int64_t n);
/* "avx512", "avx2" or "ref": the kernel level in use (env SEEKD_ISA=ref|avx2 caps it). */
const char *eng_kernels_isa(void);

/* Thread pool for matrix work: n threads including the caller (n <= 0: one per online CPU).
 * Workers spin for a short while after each job, then sleep on a condition variable.
 * eng_pool_new also sets OpenBLAS's thread count to 1 so BLAS never oversubscribes the pool.
 * eng_pool_run runs fn(arg, ith, nth) once for each ith = 0..nth-1, on whichever pool thread
 * (the caller included) claims it first, so a descheduled worker never holds a job up, and
 * returns when all have returned; it allocates nothing.  One caller at a time per pool.
 * Returns 0 or -ENOMEM / -errno (pthread_create); *out is freed with eng_pool_delete. */
struct eng_pool;
typedef void (*eng_pool_fn)(void *arg, int ith, int nth);
int eng_pool_new(int n_threads, struct eng_pool **out);
void eng_pool_delete(struct eng_pool *pool);
int eng_pool_threads(const struct eng_pool *pool);
void eng_pool_run(struct eng_pool *pool, eng_pool_fn fn, void *arg);

/* Matmul: y[t * ldy + r] = sum_i W[r][i] * x[t * ldx + i] for r < w->ne[1] (rows of ne[0]
 * elements, rows contiguous), t < n_tokens.  Activations are quantised to 8 bits for the quant
 * types (Q8_0 per 32 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, per-256 Q8_K for the K-quants)
 * and stay f32 for F32/F16/BF16 weights.
 * Guarantee: each y element depends only on its weight row and its own x row: bit-identical
 * for every n_tokens (1 alone or inside any batch), every thread count and every ISA level.
 * Batches are computed up to 8 tokens per weight load, so a 9-token pass reads W twice from
 * memory instead of 9 times.
 * scratch: made once by eng_mm_scratch_init for the largest ne[0] and batch the caller will
 * use; eng_matmul allocates nothing.  pool may be NULL (runs on the caller).  Returns 0,
 * ENG_EUNSUPPORTED (type), ENG_ESHAPE (ne[0] not a multiple of the block, or w->data NULL),
 * ENG_EINVAL (scratch too small, n_tokens < 1, ldx < ne[0] or ldy < ne[1]). */
struct eng_mm_scratch {
    void *mem;       /* sk_malloc'd, owned */
    void *buf;       /* 64-byte aligned inside mem */
    size_t size;     /* usable bytes at buf */
    int64_t max_cols;
    int max_tokens;
};
int eng_mm_scratch_init(struct eng_mm_scratch *s, int64_t max_cols, int max_tokens);
void eng_mm_scratch_free(struct eng_mm_scratch *s);
int eng_matmul(struct eng_pool *pool, const struct eng_tensor *w, const float *x, size_t ldx,
               int n_tokens, float *y, size_t ldy, struct eng_mm_scratch *scratch);

/* ---- model / KV / sampling (engine/model.c, forward.c, kv.c, sample.c) --------------------
 * A llama-architecture transformer over an opened GGUF.  Weights stay in the read-only mapping
 * (no dequantised copies); activations, logits and the KV cache are allocated once by
 * eng_model_load for the configured context, and eng_model_eval allocates nothing.
 * A model is used by one thread at a time (its own thread pool does the parallel work); the
 * cancel flag may be set from any thread.
 *
 * NUMERICS GUARANTEE (batch invariance).  For a given model file and KV type, the logits of a
 * token and the K/V it writes depend only on the token sequence up to and including it: never
 * on how the tokens were split into eval calls (1 token, 2..32 for speculative verification,
 * or a prompt chunk of any size up to n_batch), on n_threads, on which other tokens share the
 * call, or on a rollback (eng_kv_truncate) or prefix reuse that happened before.  Every matmul
 * row, norm, RoPE, attention and SwiGLU of a token is computed with the same operations in the
 * same order whatever the batch; threads only decide who computes a piece.  The SIMD kernels
 * (AVX2, AVX-512) are bit-exact twins of the plain-C reference, so the bits are also the same
 * on every x86 CPU (given the same libm: the RoPE table uses cos/sin/pow in double).  There is
 * no separate large-batch path: the guarantee holds for every chunk size up to n_batch.  If a
 * faster path (BLAS, big int8 GEMM) is ever added it will only take calls of more than 32
 * tokens and this comment will say what it changes.  Tested: tests/engine/test_model.c
 * (logits and every KV entry, 1 vs 2..33, all weight types, F16 and F32 KV, 1 vs 2 threads). */
struct eng_model;
struct eng_model_params {
    int n_ctx;      /* KV cells (max positions); 0 = min(n_ctx_train, 4096); at most 65536 */
    int kv_type;    /* ENG_TYPE_F16 or ENG_TYPE_F32 (use the params_default value: 0 is F32) */
    int n_threads;  /* 0 = number of online CPUs */
    int n_batch;    /* max tokens per eng_model_eval call; 0 = 512 */
    int n_outputs;  /* max rows of logits per call (ENG_LOGITS_ALL needs n <= this); 0 = 64 */
};
/* Defaults: n_ctx 0, kv_type ENG_TYPE_F16, n_threads 0, n_batch 512, n_outputs 64. */
void eng_model_params_default(struct eng_model_params *p);
/* Loads the model from an opened GGUF: reads and checks the hyperparameters, looks up every
 * llama tensor by name with its shape (output.weight absent = tied to token_embd), checks every
 * weight type has kernels, allocates the KV cache and scratch.  `g` must stay open until
 * eng_model_free.  Errors: ENG_EUNSUPPORTED / ENG_EFORMAT / ENG_ENOTFOUND / ENG_ESHAPE with the
 * reason in errbuf, ENG_EINVAL for bad params, -ENOMEM.  *out owned by the caller. */
int eng_model_load(const struct eng_gguf *g, const struct eng_model_params *p,
                   struct eng_model **out, char *errbuf, size_t errlen);
void eng_model_free(struct eng_model *m); /* NULL is fine */
const struct eng_hparams *eng_model_hparams(const struct eng_model *m);
int eng_model_n_vocab(const struct eng_model *m);
int eng_model_n_ctx(const struct eng_model *m);
int eng_model_n_threads(const struct eng_model *m);
size_t eng_model_scratch_bytes(const struct eng_model *m); /* KV + activations + logits */

enum eng_logits { ENG_LOGITS_NONE = 0, ENG_LOGITS_LAST = 1, ENG_LOGITS_ALL = 2 };
/* Evaluates n tokens (1 <= n <= n_batch) at positions kv_len .. kv_len+n-1, appending their K/V
 * to the cache.  Logits: NONE, LAST (row 0 = the last token) or ALL (row i = token i, needs
 * n <= n_outputs).  Returns 0, ENG_ECONTEXT when kv_len + n > n_ctx, ENG_EINVAL for a bad
 * token id / n / mode, ENG_ECANCELLED when the cancel flag was seen (checked before every
 * layer; the cache is then left exactly as before the call).  On any error the cache and the
 * previous logits are unchanged in content that matters (kv_len, cached tokens). */
int eng_model_eval(struct eng_model *m, const int32_t *tokens, int n, enum eng_logits mode);
/* Row i of the logits of the last successful eval ([n_vocab] floats), NULL if out of range.
 * Valid until the next eval. */
const float *eng_model_logits(const struct eng_model *m, int i);
int eng_model_n_logits(const struct eng_model *m);
/* The cancel flag (NULL = none) is read with relaxed atomics; it is not owned. */
void eng_model_set_cancel(struct eng_model *m, const _Atomic int *flag);

/* KV cache.  Cell i holds position i; positions are contiguous from 0.  The tokens that made
 * each cell are recorded, so a new prompt can find the cached prefix it shares. */
int eng_kv_len(const struct eng_model *m);                 /* = next position */
const int32_t *eng_kv_tokens(const struct eng_model *m);   /* [eng_kv_len], owned by m */
void eng_kv_clear(struct eng_model *m);
/* Rollback: keeps the first n cells (0 <= n <= len); the state is then exactly as if only those
 * n tokens had ever been evaluated (bit-identical later logits). ENG_EINVAL otherwise. */
int eng_kv_truncate(struct eng_model *m, int n);
/* Length of the longest common prefix of the cached tokens and toks[0..n). */
int eng_kv_common_prefix(const struct eng_model *m, const int32_t *toks, int n);
/* Prompt with prefix reuse: truncates the cache to the common prefix (at most n-1 tokens, so
 * there is always a token to produce logits), evaluates the rest in chunks of n_batch with
 * logits for the last token only.  *reused (may be NULL) = cells kept.  Errors as eval; on
 * error the cache holds the reused prefix plus whatever chunks completed. */
int eng_model_prompt(struct eng_model *m, const int32_t *toks, int n, int *reused);
/* Key re-rotation (issue 6 chunk reuse): moves n cells starting at position `src` to start at
 * `dst` (dst <= src, src + n <= len), rotating every cached key by the RoPE angle of (dst-src)
 * and copying V and tokens; the cache length becomes dst + n.  The moved keys approximate (to
 * F16 rounding) keys computed at the new positions; the values are what they were. */
int eng_kv_shift(struct eng_model *m, int src, int dst, int n);
/* The rotation itself on one f32 head vector x[head_dim]: from position p to q. */
void eng_rope_rerotate(const struct eng_model *m, float *x, int p, int q);
/* Copies the cached K or V of (layer, cell) as f32 into out[n_head_kv * head_dim] (tests). */
int eng_kv_read(const struct eng_model *m, int layer, int cell, int which_v, float *out);

/* Seeded RNG: xoshiro256** seeded through splitmix64 (same sequence on every machine). */
struct eng_rng { uint64_t s[4]; };
void eng_rng_seed(struct eng_rng *r, uint64_t seed);
uint64_t eng_rng_next(struct eng_rng *r);
double eng_rng_uniform(struct eng_rng *r); /* [0, 1), 53 bits */

/* Sampling over one row of logits.  Order: divide by temp, softmax, top-k, top-p (smallest
 * prefix of the sorted candidates with cumulative p >= top_p), min-p (keep p >= min_p * p_max),
 * renormalise, draw with the sampler's RNG.  temp <= 0 is greedy: argmax, lowest id on ties.
 * top_k 0 = off, top_p 1 = off, min_p 0 = off. */
struct eng_sampler_params {
    float temp, top_p, min_p;
    int top_k;
    uint64_t seed;
};
void eng_sampler_params_default(struct eng_sampler_params *p); /* greedy, 40, 0.95, 0.05, 0 */
struct eng_sampler;
int eng_sampler_new(struct eng_sampler **out, int n_vocab, const struct eng_sampler_params *p);
void eng_sampler_free(struct eng_sampler *s);
int32_t eng_sampler_sample(struct eng_sampler *s, const float *logits);
/* The distribution eng_sampler_sample draws from, as probs[n_vocab] (zero outside the kept
 * set; one-hot for greedy).  Returns the number of kept tokens.  For rejection sampling. */
int eng_sampler_probs(struct eng_sampler *s, const float *logits, float *probs);
struct eng_rng *eng_sampler_rng(struct eng_sampler *s);
/* Stop-token set (copied). */
int eng_sampler_set_stops(struct eng_sampler *s, const int32_t *ids, int n);
int eng_sampler_is_stop(const struct eng_sampler *s, int32_t tok);
int32_t eng_sample_greedy(const float *logits, int n_vocab);
/* Draws from an unnormalised non-negative distribution probs[n_vocab]. */
int32_t eng_sample_probs(struct eng_rng *r, const float *probs, int n_vocab);

/* ==== speculative decoding (issue 6) ====================================================== */

/* ---- pairing (engine/spec.c) ---------------------------------------------------------------
 * A draft model can serve a target when their tokenizers agree, checked on the GGUF metadata
 * in this order (llama.cpp's rules, common_speculative_are_compatible): tokenizer.ggml.model,
 * tokenizer.ggml.pre, vocabulary sizes within 128, BOS and EOS ids, add_bos / add_eos flags,
 * and the text of every token from id 5 to the smaller vocabulary's end.  Returns 0, or
 * ENG_EINCOMPATIBLE with the first difference named in why ("token 1234 text differs: target
 * \"foo\", draft \"bar\""). */
int eng_spec_compatible(const struct eng_gguf *target, const struct eng_gguf *draft, char *why,
                        size_t whylen);

/* ---- adaptive draft length (engine/spec_adapt.c) -------------------------------------------
 * Chooses k, the number of tokens to draft, from the acceptance observed so far and a cost
 * model: c = one draft step / one target decode step (0 for n-gram lookup), v[k] = one target
 * pass over k+1 tokens / one target decode step (v[0] = 1).  With a per-token acceptance alpha
 * a verification yields (1 - alpha^(k+1)) / (1 - alpha) tokens (Leviathan et al.) for a cost
 * of k*c + v[k]; eng_spec_adapt_k returns the k in 0..k_max with the best ratio.  alpha is
 * estimated from exponentially decayed counts (accepted drafts over judged drafts: a draft
 * cut short by a rejection counts its accepted tokens and one failure) with a weak prior of
 * 0.5.  When the best k is 0 (drafting does not pay), every 8th call still proposes k = 1 so
 * the estimate can recover.  Caller-owned struct, no allocation; used by the session and by
 * bench_spec's simulation. */
#define ENG_SPEC_KMAX 32
struct eng_spec_adapt {
    double acc, fail;   /* decayed counts */
    double decay;       /* per observation, default 0.9 */
    int k_max;
    int n_calls;
    float c;
    float v[ENG_SPEC_KMAX + 1];
};
/* v NULL: the default v[k] = 1 + 0.125 k.  k_max is clipped to 1..ENG_SPEC_KMAX. */
void eng_spec_adapt_init(struct eng_spec_adapt *a, int k_max, float c, const float *v);
void eng_spec_adapt_observe(struct eng_spec_adapt *a, int drafted, int accepted);
double eng_spec_adapt_alpha(const struct eng_spec_adapt *a);
/* Expected tokens per target-step of cost for (alpha, k): the quantity k maximises. */
double eng_spec_adapt_rate(const struct eng_spec_adapt *a, double alpha, int k);
int eng_spec_adapt_k(struct eng_spec_adapt *a);

/* ---- n-gram (prompt lookup) drafting (engine/lookup.c) --------------------------------------
 * Finds the most recent earlier occurrence of the last n tokens of hist[0..n_hist) (n from
 * ngram_max down to ngram_min, longest first) and copies up to k tokens that followed it into
 * out.  Returns the count (0: no match).  O(n_hist * n) per call, no allocation. */
int eng_lookup_draft(const int32_t *hist, int n_hist, int ngram_min, int ngram_max,
                     int32_t *out, int k);

/* ---- the speculative session (engine/spec.c) -----------------------------------------------
 * One generation stream over a target model and optionally a draft model (both loaded by the
 * caller, who keeps them alive and does not use them elsewhere while the session exists).
 * A session remembers the committed tokens (prompt + accepted output); the target's KV holds
 * all of them but the last, which is evaluated at the head of the next verification batch.
 *
 * Each eng_spec_next call drafts up to k tokens (model draft: greedy top-1 of the draft,
 * stopping after the first token whose probability renormalised over the draft's top 10 is
 * below p_min, that token kept; then, with lookup on, extended by an n-gram match over the
 * committed tokens and the draft), verifies them with ONE target pass over 1+k tokens and
 * returns the accepted prefix plus one target token (1..k+1 tokens).
 *   greedy (sampling.temp <= 0): the longest prefix the target's argmax agrees with, then the
 *     target's argmax.  Given batch-invariant logits (engine NUMERICS GUARANTEE) the output is
 *     token for token the output of target-only greedy decoding.
 *   sampling: the draft samples from its own filtered distribution q (an n-gram draft is a
 *     point mass); each draft x is accepted with probability min(1, p(x)/q(x)), p the target's
 *     filtered distribution (same temp/top-k/top-p/min-p); at the first rejection a token is
 *     drawn from max(0, p - q) renormalised and the call ends.  The output distribution is
 *     exactly the target's.  One RNG, seeded by sampling.seed.
 * Rejected tokens are removed from both caches by truncation (no recomputation).
 *
 * The caller stops between calls (stop tokens, deadlines, budgets: pass the remaining budget
 * as cap and k is clipped so that nothing is drafted beyond it).  Cancellation: the models'
 * cancel flags; a cancelled call returns ENG_ECANCELLED and the session stays consistent (the
 * next call resumes).  Not thread-safe: one thread drives a session. */
struct eng_spec;
struct eng_spec_params {
    int n_draft_max;    /* k cap (1..ENG_SPEC_KMAX); default 16 */
    int n_draft_min;    /* drafts shorter than this are not verified (plain step); default 0 */
    float p_min;        /* draft confidence threshold; default 0.75 */
    int adaptive;       /* 1 (default): k from eng_spec_adapt; 0: always n_draft_max */
    int lookup;         /* 1: n-gram drafting (alone without a draft model, else extending it) */
    int ngram_min, ngram_max; /* default 2..4 */
    int measure_costs;  /* 1: learn c and v[k] from timed passes (sk_now_ns); 0 (default):
                         * c = draft/target file-size ratio, v as given below */
    float v[ENG_SPEC_KMAX + 1]; /* cost model; all zero = eng_spec_adapt's default */
    int reuse_chunk;    /* shifted-chunk KV reuse: minimum chunk length, 0 = off (default).
                         * First the tail: the longest run ending the new prompt (but its last
                         * token) found in the cache after the exact prefix is moved (up or
                         * down) to its new place and only the tokens between are evaluated
                         * (an edit at a FIM cursor costs ~2 tokens instead of the suffix);
                         * else llama.cpp's --cache-reuse walk (chunks moving down).  Moved
                         * cells were computed after other text: an approximation whose
                         * agreement bench_spec measures; exact reuse is unaffected. */
    struct eng_sampler_params sampling; /* default greedy */
};
void eng_spec_params_default(struct eng_spec_params *p);

struct eng_spec_stats {
    int64_t n_verify;          /* target passes (verification or plain steps) */
    int64_t n_target_tokens;   /* tokens in those passes */
    int64_t n_draft_evals;     /* draft model eval calls */
    int64_t n_drafted[2], n_accepted[2]; /* [0] model drafts, [1] n-gram drafts */
    int64_t n_emitted;         /* tokens returned by eng_spec_next */
    int last_k;                /* k chosen by the last call */
    /* the last eng_spec_prompt: target cells reused exactly, reused by chunk shift, and
     * evaluated (including the prompt's last token, evaluated by the first verification) */
    int prompt_reused, prompt_shifted, prompt_evaluated;
    int draft_prompt_reused, draft_prompt_evaluated;
    double t_draft_s, t_verify_s; /* wall time in drafting and in target passes */
};

/* target must be loaded with n_outputs >= 2 (k <= n_outputs - 1 and n_batch - 1); draft may
 * be NULL (n-gram or plain decoding).  Checks eng_spec_compatible when a draft is given
 * (ENG_EINCOMPATIBLE, reason in err).  ENG_EINVAL for bad params, -ENOMEM.  *out owned by the
 * caller, released with eng_spec_free (which leaves the models and their caches alone). */
int eng_spec_new(struct eng_model *target, struct eng_model *draft,
                 const struct eng_spec_params *p, struct eng_spec **out, char *err,
                 size_t errlen);
void eng_spec_free(struct eng_spec *s);
/* Tokens that end generation (copied).  A stop token is never returned. */
int eng_spec_set_stops(struct eng_spec *s, const int32_t *ids, int n);
/* Starts a request: toks[0..n) (1 <= n <= target n_ctx) become the committed tokens.  Both
 * caches keep their longest cached prefix of toks[0..n-1) (exactly as if evaluated afresh;
 * with reuse_chunk > 0 also later chunks moved to their new positions by key re-rotation, an
 * approximation) and evaluate the rest.  Resets the stop state and the RNG's position is kept.
 * Returns 0 or an eval error (ENG_EINVAL for a token out of range, ENG_ECANCELLED ...). */
int eng_spec_prompt(struct eng_spec *s, const int32_t *toks, int n);
/* Generates: writes 1..min(cap, k+1) tokens to out and returns the count; 0 when generation
 * has ended (a stop token came, which is not returned, or the target context is full);
 * negative on error (ENG_EINVAL: no prompt or cap < 1; eval errors). */
int eng_spec_next(struct eng_spec *s, int32_t *out, int cap);
void eng_spec_get_stats(const struct eng_spec *s, struct eng_spec_stats *st);
void eng_spec_reset_stats(struct eng_spec *s);
/* The committed tokens (prompt + accepted output) and their count. */
const int32_t *eng_spec_tokens(const struct eng_spec *s, int *n);


#endif
