/*
 * Hyperparameters of a llama-architecture GGUF (DeepSeek LLM and Coder), read with llama.cpp's
 * keys, defaults and checks (llama-cpp-facts.md 1.4): head_count_kv defaults to head_count,
 * head dims to n_embd / n_head, n_rot must equal the head dim, rope scaling type defaults to
 * linear and its factor comes from rope.scaling.factor or the 2023 key rope.scale_linear.
 * Runs once per model load.
 */
#include "base.h"
#include "engine/engine.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_LAYERS 512 /* LLAMA_MAX_LAYERS */

SK_PRINTF(3, 4) static int hp_fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return ENG_EFORMAT;
}

/* A u32 hyperparameter "<arch>.<name>".  Also accepts the per-layer array form if it is
 * uniform (llama.cpp's get_key_or_arr; seekd's forward pass needs one value).  rc 1 = absent. */
static int get_u32(const struct eng_gguf *g, const char *arch, const char *name, uint32_t *out,
                   uint32_t n_layer, char *errbuf, size_t errlen)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    int idx = eng_gguf_find_key(g, key);
    if (idx < 0)
        return 1;
    if (eng_gguf_kv_type(g, idx) == ENG_GGUF_ARRAY) {
        struct eng_gguf_arr a;
        int64_t v0 = 0, v;
        eng_gguf_get_arr(g, key, &a);
        if (a.n == 0 || (n_layer && a.n != n_layer))
            return hp_fail(errbuf, errlen, "%s: array of %" PRIu64 " values for %" PRIu32
                           " layers", key, a.n, n_layer);
        for (uint64_t i = 0; i < a.n; i++) {
            if (eng_gguf_arr_int(&a, i, &v) || v < 0 || v > UINT32_MAX)
                return hp_fail(errbuf, errlen, "%s: element %" PRIu64 " is not a u32", key, i);
            if (i == 0)
                v0 = v;
            else if (v != v0) {
                snprintf(errbuf, errlen, "%s: per-layer values differ (not supported)", key);
                return ENG_EUNSUPPORTED;
            }
        }
        *out = (uint32_t)v0;
        return 0;
    }
    uint64_t v;
    if (eng_gguf_get_uint(g, key, &v) || v > UINT32_MAX)
        return hp_fail(errbuf, errlen, "%s has type %s, expected an unsigned integer", key,
                       eng_gguf_vtype_name(eng_gguf_kv_type(g, idx)));
    *out = (uint32_t)v;
    return 0;
}

static int get_f32(const struct eng_gguf *g, const char *arch, const char *name, float *out,
                   char *errbuf, size_t errlen)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    int rc = eng_gguf_get_f32(g, key, out);
    if (rc == ENG_ENOTFOUND)
        return 1;
    if (rc)
        return hp_fail(errbuf, errlen, "%s has type %s, expected f32", key,
                       eng_gguf_vtype_name(eng_gguf_kv_type(g, eng_gguf_find_key(g, key))));
    return 0;
}

int eng_hparams_load(const struct eng_gguf *g, struct eng_hparams *hp, char *errbuf,
                     size_t errlen)
{
    const char *arch;
    int rc;
    memset(hp, 0, sizeof *hp);
    if (errbuf && errlen)
        errbuf[0] = 0;
    if (eng_gguf_get_str(g, "general.architecture", &arch, NULL))
        return hp_fail(errbuf, errlen, "general.architecture is missing or not a string");
    if (strcmp(arch, "llama")) {
        snprintf(errbuf, errlen, "architecture '%.64s' is not supported (only llama)", arch);
        return ENG_EUNSUPPORTED;
    }
    snprintf(hp->arch, sizeof hp->arch, "%s", arch);

    static const struct { const char *name; size_t off; } required[] = {
        {"context_length", offsetof(struct eng_hparams, n_ctx_train)},
        {"embedding_length", offsetof(struct eng_hparams, n_embd)},
        {"block_count", offsetof(struct eng_hparams, n_layer)},
    };
    for (size_t i = 0; i < SK_ARRAY_LEN(required); i++) {
        rc = get_u32(g, arch, required[i].name, (uint32_t *)((char *)hp + required[i].off), 0,
                     errbuf, errlen);
        if (rc == 1)
            return hp_fail(errbuf, errlen, "%s.%s is missing", arch, required[i].name);
        if (rc)
            return rc;
    }
    if (hp->n_layer == 0 || hp->n_layer > MAX_LAYERS)
        return hp_fail(errbuf, errlen, "block_count %" PRIu32 " out of range (1..%d)",
                       hp->n_layer, MAX_LAYERS);
    if (hp->n_embd == 0)
        return hp_fail(errbuf, errlen, "embedding_length is 0");
    if ((rc = get_u32(g, arch, "feed_forward_length", &hp->n_ff, hp->n_layer, errbuf, errlen)))
        return rc == 1 ? hp_fail(errbuf, errlen, "%s.feed_forward_length is missing", arch) : rc;
    if ((rc = get_u32(g, arch, "attention.head_count", &hp->n_head, hp->n_layer, errbuf,
                      errlen)))
        return rc == 1 ? hp_fail(errbuf, errlen, "%s.attention.head_count is missing", arch)
                       : rc;
    if (hp->n_head == 0 || hp->n_embd % hp->n_head)
        return hp_fail(errbuf, errlen, "head_count %" PRIu32 " does not divide n_embd %" PRIu32,
                       hp->n_head, hp->n_embd);
    hp->n_head_kv = hp->n_head;
    if ((rc = get_u32(g, arch, "attention.head_count_kv", &hp->n_head_kv, hp->n_layer, errbuf,
                      errlen)) < 0)
        return rc;
    if (hp->n_head_kv == 0 || hp->n_head % hp->n_head_kv)
        return hp_fail(errbuf, errlen, "head_count_kv %" PRIu32 " does not divide head_count %"
                       PRIu32, hp->n_head_kv, hp->n_head);
    hp->head_dim = hp->head_dim_v = hp->n_embd / hp->n_head;
    if ((rc = get_u32(g, arch, "attention.key_length", &hp->head_dim, 0, errbuf, errlen)) < 0)
        return rc;
    if ((rc = get_u32(g, arch, "attention.value_length", &hp->head_dim_v, 0, errbuf, errlen)) < 0)
        return rc;
    if (hp->head_dim == 0 || hp->head_dim_v == 0)
        return hp_fail(errbuf, errlen, "head dimension is 0");
    hp->n_rot = hp->head_dim;
    if ((rc = get_u32(g, arch, "rope.dimension_count", &hp->n_rot, 0, errbuf, errlen)) < 0)
        return rc;
    if (hp->n_rot != hp->head_dim)
        return hp_fail(errbuf, errlen, "invalid n_rot: %" PRIu32 ", expected %" PRIu32,
                       hp->n_rot, hp->head_dim);
    if ((rc = get_f32(g, arch, "attention.layer_norm_rms_epsilon", &hp->rms_eps, errbuf,
                      errlen)))
        return rc == 1 ? hp_fail(errbuf, errlen, "%s.attention.layer_norm_rms_epsilon is missing",
                                 arch)
                       : rc;
    if (!(hp->rms_eps > 0.0f && hp->rms_eps < 1.0f))
        return hp_fail(errbuf, errlen, "rms epsilon %g out of range", (double)hp->rms_eps);
    hp->rope_freq_base = 10000.0f;
    if ((rc = get_f32(g, arch, "rope.freq_base", &hp->rope_freq_base, errbuf, errlen)) < 0)
        return rc;
    if (!(hp->rope_freq_base > 0.0f))
        return hp_fail(errbuf, errlen, "rope.freq_base %g is not positive",
                       (double)hp->rope_freq_base);

    char key[128];
    const char *st = "linear";
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    rc = eng_gguf_get_str(g, key, &st, NULL);
    if (rc && rc != ENG_ENOTFOUND)
        return hp_fail(errbuf, errlen, "%s is not a string", key);
    static const char *const scaling[] = {"none", "linear", "yarn", "longrope"};
    hp->rope_scaling_type = (enum eng_rope_scaling)-1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(st, scaling[i]))
            hp->rope_scaling_type = (enum eng_rope_scaling)i;
    if ((int)hp->rope_scaling_type < 0)
        return hp_fail(errbuf, errlen, "unknown rope scaling type '%.32s'", st);
    if ((rc = get_f32(g, arch, "rope.scaling.factor", &hp->rope_scaling_factor, errbuf,
                      errlen)) < 0)
        return rc;
    if (rc == 1 &&
        (rc = get_f32(g, arch, "rope.scale_linear", &hp->rope_scaling_factor, errbuf, errlen)) < 0)
        return rc;
    if (hp->rope_scaling_factor < 0.0f || hp->rope_scaling_factor != hp->rope_scaling_factor)
        return hp_fail(errbuf, errlen, "rope scaling factor %g is invalid",
                       (double)hp->rope_scaling_factor);
    hp->rope_freq_scale = hp->rope_scaling_factor == 0.0f ? 1.0f : 1.0f / hp->rope_scaling_factor;
    if (hp->rope_scaling_type == ENG_ROPE_SCALING_NONE)
        hp->rope_freq_scale = 1.0f; /* llama.cpp never scales when the type is none */

    struct eng_gguf_arr toks;
    if (!eng_gguf_get_arr(g, "tokenizer.ggml.tokens", &toks)) {
        if (toks.n > INT32_MAX)
            return hp_fail(errbuf, errlen, "too many tokens");
        hp->n_vocab = (uint32_t)toks.n;
    } else {
        get_u32(g, arch, "vocab_size", &hp->n_vocab, 0, errbuf, errlen);
    }
    struct eng_tensor t;
    hp->tied_output = eng_gguf_tensor(g, "output.weight", &t) != 0;
    int64_t ft;
    hp->file_type = eng_gguf_get_int(g, "general.file_type", &ft) == 0 && ft >= 0 &&
                            ft <= INT32_MAX
                        ? (int)ft
                        : -1;
    if (errbuf && errlen)
        errbuf[0] = 0;
    return 0;
}

const char *eng_ftype_name(int ftype)
{
    switch (ftype) {
    case 0: return "F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 7: return "Q8_0";
    case 8: return "Q5_0";
    case 9: return "Q5_1";
    case 10: return "Q2_K";
    case 11: return "Q3_K_S";
    case 12: return "Q3_K_M";
    case 13: return "Q3_K_L";
    case 14: return "Q4_K_S";
    case 15: return "Q4_K_M";
    case 16: return "Q5_K_S";
    case 17: return "Q5_K_M";
    case 18: return "Q6_K";
    case 32: return "BF16";
    case 1024: return "GUESSED";
    default: return "unknown";
    }
}
