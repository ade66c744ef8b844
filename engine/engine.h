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

/* ==== kernels, thread pool, forward pass, KV cache, sampling (issue 5) ==================== */

/* ==== speculative decoding (issue 6) ====================================================== */

#endif
