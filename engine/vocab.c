/*
 * DeepSeek vocabularies (byte-level BPE, tokenizer.ggml.model = "gpt2"), loaded from GGUF
 * metadata the way llama.cpp's llama_vocab::impl::load does (llama-cpp-facts.md 3.1, 3.5,
 * 3.6): token texts and types, merge ranks, special ids from keys (BPE defaults BOS = EOS = 11),
 * FIM and EOT tokens found by text and forced to CONTROL, the EOG set, add-BOS, and the
 * pre-tokenizer (resolved from the vocab when the 2023 files lack tokenizer.ggml.pre).  Also
 * the detokenizer: pieces are computed once at load (llama.cpp's token-to-piece cache).
 *
 * Workload: loaded once per model (32k or 102k tokens, ~100k merges: a few tens of ms); the
 * result is read-only and shared by all threads.
 */
#include "base.h"
#include "engine/engine.h"
#include "engine/unicode.h"
#include "engine/vocab_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

SK_PRINTF(3, 4) static int vfail(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return ENG_EFORMAT;
}

/* ---- string interning --------------------------------------------------------------------- */

static uint32_t arena_add(struct eng_vocab *v, const char *s, size_t len)
{
    if (v->arena_len + len + 1 > v->arena_cap) {
        v->arena_cap = (v->arena_len + len + 1) * 2;
        v->arena = sk_realloc(v->arena, v->arena_cap);
    }
    uint32_t off = (uint32_t)v->arena_len;
    memcpy(v->arena + off, s, len);
    v->arena[off + len] = 0;
    v->arena_len += len + 1;
    return off;
}

static uint32_t str_hash(const char *s, size_t len) { return (uint32_t)sk_hash64(s, len, 0x5eed); }

/* Slot of s in the intern table: where it is, or the empty slot where it would go.  Each slot
 * keeps the string's full hash, so most probes never touch the string itself. */
static uint32_t str_slot(const struct eng_vocab *v, const char *s, size_t len, uint32_t h)
{
    uint32_t i = h & v->str_hash_mask;
    for (;;) {
        int32_t sid = v->str_hash[i];
        if (sid < 0)
            return i;
        if (v->str_hkey[i] == h && v->strs[sid].len == len &&
            !memcmp(v->arena + v->strs[sid].off, s, len))
            return i;
        i = (i + 1) & v->str_hash_mask;
    }
}

int32_t eng__vocab_sid(const struct eng_vocab *v, const char *s, size_t len)
{
    return v->str_hash[str_slot(v, s, len, str_hash(s, len))];
}

static void str_rehash(struct eng_vocab *v, uint32_t cap)
{
    sk_free(v->str_hash);
    sk_free(v->str_hkey);
    v->str_hash = sk_malloc(cap * sizeof *v->str_hash);
    v->str_hkey = sk_malloc(cap * sizeof *v->str_hkey);
    memset(v->str_hash, 0xff, cap * sizeof *v->str_hash);
    v->str_hash_mask = cap - 1;
    for (int32_t sid = 0; sid < v->n_strs; sid++) {
        uint32_t h = str_hash(v->arena + v->strs[sid].off, v->strs[sid].len);
        uint32_t i = h & v->str_hash_mask;
        while (v->str_hash[i] >= 0)
            i = (i + 1) & v->str_hash_mask;
        v->str_hash[i] = sid;
        v->str_hkey[i] = h;
    }
}

static int32_t intern(struct eng_vocab *v, const char *s, size_t len)
{
    uint32_t h = str_hash(s, len), slot = str_slot(v, s, len, h);
    if (v->str_hash[slot] >= 0)
        return v->str_hash[slot];
    if (v->n_strs == v->cap_strs) {
        v->cap_strs = v->cap_strs ? v->cap_strs * 2 : 1024;
        v->strs = sk_realloc(v->strs, (size_t)v->cap_strs * sizeof *v->strs);
        v->sid_tok = sk_realloc(v->sid_tok, (size_t)v->cap_strs * sizeof *v->sid_tok);
    }
    int32_t sid = v->n_strs++;
    v->strs[sid] = (struct vstr){arena_add(v, s, len), (uint32_t)len};
    v->sid_tok[sid] = -1;
    v->str_hash[slot] = sid;
    v->str_hkey[slot] = h;
    if ((uint32_t)v->n_strs * 2 > v->str_hash_mask)
        str_rehash(v, (v->str_hash_mask + 1) * 2);
    return sid;
}

/* ---- merges ------------------------------------------------------------------------------- */

static uint32_t pair_hash(int32_t l, int32_t r)
{
    uint64_t k = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (uint32_t)k;
}

static void merge_insert(struct eng_vocab *v, int32_t l, int32_t r, int32_t rank, int32_t res)
{
    uint32_t i = pair_hash(l, r) & v->merge_mask;
    while (v->merges[i].rank >= 0) {
        if (v->merges[i].l == l && v->merges[i].r == r)
            return; /* llama.cpp's emplace keeps the first (lowest) rank */
        i = (i + 1) & v->merge_mask;
    }
    v->merges[i] = (struct merge_ent){l, r, rank, res};
}

/* ---- detection tables (llama_vocab::impl::load) ------------------------------------------- */

static const char *const eot_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                        "<|endoftext|>", "<EOT>",
                                        ("<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>")};
static const char *const fim_pre_texts[] = {"<|fim_prefix|>", "<fim-prefix>",
                                            ("<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>"),
                                            "<PRE>"};
static const char *const fim_suf_texts[] = {"<|fim_suffix|>", "<fim-suffix>",
                                            ("<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>"),
                                            "<SUF>"};
static const char *const fim_mid_texts[] = {"<|fim_middle|>", "<fim-middle>",
                                            ("<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>"),
                                            "<MID>"};
static const char *const fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<PAD>"};
static const char *const fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                            "<REPO>"};
static const char *const fim_sep_texts[] = {"<|file_sep|>", "<fim-sep>", "<SEP>"};
static const char *const eog_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                        "<|endoftext|>", "<|eom_id|>", "<EOT>"};
#define BOS_TEXT "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

static int32_t token_by_text(const struct eng_vocab *v, const char *s)
{
    int32_t sid = eng__vocab_sid(v, s, strlen(s));
    return sid < 0 ? -1 : v->sid_tok[sid];
}

static void force_control(struct eng_vocab *v, int32_t id)
{
    if (v->type[id] != ENG_TOKEN_CONTROL) {
        SK_DEBUG("vocab: control-looking token %" PRId32 " '%s' was not control-type; "
                 "treating it as control", id, eng__vstr(v, v->tok[id]));
        v->type[id] = ENG_TOKEN_CONTROL;
    }
}

/* Finds the first text of the list that is a token; forces it to CONTROL. */
static void detect(struct eng_vocab *v, int32_t *id, const char *const *texts, size_t n)
{
    if (*id >= 0)
        return;
    for (size_t i = 0; i < n; i++) {
        int32_t t = token_by_text(v, texts[i]);
        if (t >= 0) {
            *id = t;
            force_control(v, t);
            return;
        }
    }
}

static void eog_add(struct eng_vocab *v, int32_t id)
{
    if (id < 0)
        return;
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id)
            return;
    v->eog = sk_realloc(v->eog, (size_t)(v->n_eog + 1) * sizeof *v->eog);
    int i = v->n_eog++;
    while (i > 0 && v->eog[i - 1] > id) {
        v->eog[i] = v->eog[i - 1];
        i--;
    }
    v->eog[i] = id;
}

/* NORMAL token text (byte-level) -> bytes, as llama_decode_text: a code point outside the byte
 * map becomes "[UNK_BYTE_0x<hex of its UTF-8>" + the whole token text + "]". */
static uint32_t decode_piece(struct eng_vocab *v, const char *text, size_t len, uint32_t *plen)
{
    char small[512];
    char *buf = small;
    size_t cap = sizeof small, n = 0;
    for (size_t i = 0; i < len;) {
        size_t adv;
        uint32_t cp = eng__utf8_decode((const uint8_t *)text + i, len - i, &adv);
        i += adv;
        int b = eng__cp_to_byte(cp);
        uint8_t u[4];
        size_t ul = eng__utf8_encode(cp, u);
        size_t need = b >= 0 ? 1 : 12 + 2 * ul + len + 1;
        if (n + need > cap) {
            size_t ncap = (n + need) * 2;
            char *nb = sk_malloc(ncap);
            memcpy(nb, buf, n);
            if (buf != small)
                sk_free(buf);
            buf = nb;
            cap = ncap;
        }
        if (b >= 0) {
            buf[n++] = (char)b;
        } else {
            memcpy(buf + n, "[UNK_BYTE_0x", 12);
            n += 12;
            for (size_t k = 0; k < ul; k++) {
                static const char hex[] = "0123456789abcdef";
                buf[n++] = hex[u[k] >> 4];
                buf[n++] = hex[u[k] & 15];
            }
            memcpy(buf + n, text, len);
            n += len;
            buf[n++] = ']';
        }
    }
    uint32_t off = arena_add(v, buf, n);
    if (buf != small)
        sk_free(buf);
    *plen = (uint32_t)n;
    return off;
}

static int read_id(const struct eng_gguf *g, const char *key, struct eng_vocab *v, int32_t *id)
{
    uint64_t u;
    int rc = eng_gguf_get_uint(g, key, &u);
    if (rc == ENG_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (u >= (uint64_t)v->n_tokens)
        SK_WARN("vocab: bad special token: '%s' = %" PRIu64 ", using default id %" PRId32, key, u,
                *id);
    else
        *id = (int32_t)u;
    return 0;
}

int eng_vocab_load(const struct eng_gguf *g, struct eng_vocab **out, char *errbuf,
                   size_t errlen)
{
    struct eng_vocab *v = sk_calloc(1, sizeof *v);
    struct eng_gguf_arr toks, types, merges;
    const char *s;
    size_t len;
    int rc;
    *out = NULL;
    if (errbuf && errlen)
        errbuf[0] = 0;

    if ((rc = eng_gguf_get_str(g, "tokenizer.ggml.model", &s, NULL))) {
        rc = vfail(errbuf, errlen, "tokenizer.ggml.model is missing or not a string");
        goto fail;
    }
    if (strcmp(s, "gpt2")) {
        snprintf(errbuf, errlen, "tokenizer model '%.64s' is not supported (only gpt2 BPE)", s);
        rc = ENG_EUNSUPPORTED;
        goto fail;
    }
    if (eng_gguf_get_arr(g, "tokenizer.ggml.tokens", &toks) || toks.type != ENG_GGUF_STRING ||
        toks.n == 0 || toks.n > INT32_MAX / 2) {
        rc = vfail(errbuf, errlen, "tokenizer.ggml.tokens is missing or not a string array");
        goto fail;
    }
    v->n_tokens = (int32_t)toks.n;
    v->tok = sk_calloc((size_t)v->n_tokens, sizeof *v->tok);
    v->piece = sk_calloc((size_t)v->n_tokens, sizeof *v->piece);
    v->type = sk_malloc((size_t)v->n_tokens);
    memset(v->type, ENG_TOKEN_NORMAL, (size_t)v->n_tokens);
    /* Size the intern table for tokens + merge results up front (rehashing 200k strings
     * repeatedly is most of the load time otherwise). */
    {
        struct eng_gguf_arr m;
        uint64_t want = toks.n + 256;
        if (!eng_gguf_get_arr(g, "tokenizer.ggml.merges", &m) && m.n < INT32_MAX / 4)
            want += m.n;
        uint32_t cap = 1024;
        while (cap < want * 2 + 2 && cap < (1u << 30))
            cap <<= 1;
        str_rehash(v, cap);
        v->cap_strs = (int32_t)SK_MIN(want, (uint64_t)INT32_MAX / 4);
        v->strs = sk_malloc((size_t)v->cap_strs * sizeof *v->strs);
        v->sid_tok = sk_malloc((size_t)v->cap_strs * sizeof *v->sid_tok);
    }

    int have_types = eng_gguf_get_arr(g, "tokenizer.ggml.token_type", &types) == 0;
    if (have_types && (types.n != toks.n || types.type == ENG_GGUF_STRING)) {
        rc = vfail(errbuf, errlen, "tokenizer.ggml.token_type has %" PRIu64 " entries for %"
                   PRId32 " tokens", types.n, v->n_tokens);
        goto fail;
    }
    for (int32_t i = 0; i < v->n_tokens; i++) {
        char tmp[32];
        eng_gguf_arr_str(&toks, (uint64_t)i, &s, &len);
        if (len == 0) { /* llama.cpp renames empty tokens */
            len = (size_t)snprintf(tmp, sizeof tmp, "[EMPTY_%" PRId32 "]", i);
            s = tmp;
        }
        if (len > UINT32_MAX / 4) {
            rc = vfail(errbuf, errlen, "token %" PRId32 " is too long", i);
            goto fail;
        }
        int32_t sid = intern(v, s, len);
        v->tok[i] = v->strs[sid];
        v->sid_tok[sid] = i; /* token_to_id[text] = i: the last duplicate wins */
        if (have_types) {
            int64_t t;
            if (eng_gguf_arr_int(&types, (uint64_t)i, &t)) {
                rc = vfail(errbuf, errlen, "tokenizer.ggml.token_type is not an integer array");
                goto fail;
            }
            v->type[i] = t >= 0 && t <= ENG_TOKEN_BYTE ? (uint8_t)t : ENG_TOKEN_UNDEFINED;
        }
    }
    for (int b = 0; b < 256; b++) {
        uint8_t u[4];
        size_t ul = eng__utf8_encode(eng__byte_to_cp((uint8_t)b), u);
        v->byte_sid[b] = intern(v, (const char *)u, ul);
    }

    if (eng_gguf_get_arr(g, "tokenizer.ggml.merges", &merges) ||
        merges.type != ENG_GGUF_STRING || merges.n > INT32_MAX / 4) {
        rc = vfail(errbuf, errlen, "tokenizer.ggml.merges is missing or not a string array");
        goto fail;
    }
    uint32_t mcap = 16;
    while (mcap < merges.n * 2 + 2)
        mcap <<= 1;
    v->merges = sk_malloc(mcap * sizeof *v->merges);
    memset(v->merges, 0xff, mcap * sizeof *v->merges);
    v->merge_mask = mcap - 1;
    {
        char *cat = NULL;
        size_t cat_cap = 0;
        for (uint64_t i = 0; i < merges.n; i++) {
            eng_gguf_arr_str(&merges, i, &s, &len);
            const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
            if (!sp)
                continue; /* llama.cpp would add ("", ""), which can never match */
            size_t ll = (size_t)(sp - s), rl = len - ll - 1;
            int32_t l = intern(v, s, ll), r = intern(v, sp + 1, rl);
            if (ll + rl > cat_cap) {
                cat_cap = (ll + rl) * 2;
                sk_free(cat);
                cat = sk_malloc(cat_cap);
            }
            memcpy(cat, s, ll);
            memcpy(cat + ll, sp + 1, rl);
            int32_t res = intern(v, cat, ll + rl);
            merge_insert(v, l, r, (int32_t)i, res);
        }
        sk_free(cat);
    }

    /* Special ids.  BPE defaults: BOS = EOS = 11, the rest none. */
    v->bos = v->eos = 11 < v->n_tokens ? 11 : -1;
    v->eot = v->eom = v->pad = v->unk = -1;
    v->fim_pre = v->fim_suf = v->fim_mid = v->fim_pad = v->fim_rep = v->fim_sep = -1;
    int32_t sep = -1, mask = -1;
    static const char *const keys[] = {
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
        "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
        "tokenizer.ggml.padding_token_id", "tokenizer.ggml.mask_token_id",
        "tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id",
        "tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.fim_pad_token_id",
        "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id",
        "tokenizer.ggml.prefix_token_id", "tokenizer.ggml.suffix_token_id",
        "tokenizer.ggml.middle_token_id"};
    int32_t *dst[] = {&v->bos, &v->eos, &v->eot, &v->eom, &v->unk, &sep, &v->pad, &mask,
                      &v->fim_pre, &v->fim_suf, &v->fim_mid, &v->fim_pad, &v->fim_rep,
                      &v->fim_sep, &v->fim_pre, &v->fim_suf, &v->fim_mid};
    for (size_t i = 0; i < SK_ARRAY_LEN(keys); i++) {
        if ((rc = read_id(g, keys[i], v, dst[i]))) {
            rc = vfail(errbuf, errlen, "%s is not an unsigned integer", keys[i]);
            goto fail;
        }
    }
    int b;
    if (!eng_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b))
        v->add_bos = b;
    if (!eng_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b))
        v->add_eos = b;

    /* Pre-tokenizer. */
    rc = eng_gguf_get_str(g, "tokenizer.ggml.pre", &s, NULL);
    if (rc == 0) {
        if (!strcmp(s, "deepseek-coder"))
            v->pre = ENG_PRETOK_DEEPSEEK_CODER;
        else if (!strcmp(s, "deepseek-llm"))
            v->pre = ENG_PRETOK_DEEPSEEK_LLM;
        else {
            snprintf(errbuf, errlen, "unknown pre-tokenizer type '%.64s' (seekd supports "
                                     "deepseek-coder and deepseek-llm)", s);
            rc = ENG_EUNSUPPORTED;
            goto fail;
        }
    } else if (rc == ENG_ENOTFOUND) {
        int32_t fim = v->n_tokens > 32016 ? 32016 : -1;
        const char *fim_text =
            "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>";
        if (v->n_tokens == 102400 && v->bos >= 0 &&
            !strcmp(eng__vstr(v, v->tok[v->bos]), BOS_TEXT)) {
            v->pre = ENG_PRETOK_DEEPSEEK_LLM;
        } else if (v->n_tokens == 32256 && fim >= 0 &&
                   !strcmp(eng__vstr(v, v->tok[fim]), fim_text)) {
            v->pre = ENG_PRETOK_DEEPSEEK_CODER;
        } else {
            snprintf(errbuf, errlen, "tokenizer.ggml.pre is missing and the vocabulary (%" PRId32
                                     " tokens) is not a DeepSeek one", v->n_tokens);
            rc = ENG_EUNSUPPORTED;
            goto fail;
        }
        v->pre_guessed = 1;
        SK_WARN("vocab: tokenizer.ggml.pre is missing; recognised a DeepSeek %s vocabulary "
                "and using the '%s' pre-tokenizer", v->pre == ENG_PRETOK_DEEPSEEK_LLM ? "LLM"
                                                                                     : "Coder",
                eng_vocab_pretok_name(v));
    } else {
        rc = vfail(errbuf, errlen, "tokenizer.ggml.pre is not a string");
        goto fail;
    }

    /* Tokens found by their text (forced to CONTROL), then the EOG set. */
    detect(v, &v->eot, eot_texts, SK_ARRAY_LEN(eot_texts));
    static const char *const eom_texts[] = {"<|eom_id|>"};
    detect(v, &v->eom, eom_texts, 1);
    detect(v, &v->fim_pre, fim_pre_texts, SK_ARRAY_LEN(fim_pre_texts));
    detect(v, &v->fim_suf, fim_suf_texts, SK_ARRAY_LEN(fim_suf_texts));
    detect(v, &v->fim_mid, fim_mid_texts, SK_ARRAY_LEN(fim_mid_texts));
    detect(v, &v->fim_pad, fim_pad_texts, SK_ARRAY_LEN(fim_pad_texts));
    detect(v, &v->fim_rep, fim_rep_texts, SK_ARRAY_LEN(fim_rep_texts));
    detect(v, &v->fim_sep, fim_sep_texts, SK_ARRAY_LEN(fim_sep_texts));
    eog_add(v, v->fim_pad);
    eog_add(v, v->fim_rep);
    eog_add(v, v->fim_sep);
    for (size_t i = 0; i < SK_ARRAY_LEN(eog_texts); i++) {
        int32_t t = token_by_text(v, eog_texts[i]);
        if (t >= 0) {
            eog_add(v, t);
            force_control(v, t);
        }
    }
    eog_add(v, v->eos);
    eog_add(v, v->eot);
    eog_add(v, v->eom);
    v->nl = token_by_text(v, "\xc4\x8a"); /* byte-level "\n" */

    /* Pieces (special = true form; CONTROL/UNKNOWN are suppressed at lookup otherwise). */
    for (int32_t i = 0; i < v->n_tokens; i++) {
        const char *t = eng__vstr(v, v->tok[i]);
        switch (v->type[i]) {
        case ENG_TOKEN_NORMAL:
            v->piece[i].off = decode_piece(v, t, v->tok[i].len, &v->piece[i].len);
            break;
        case ENG_TOKEN_USER_DEFINED:
        case ENG_TOKEN_CONTROL:
            v->piece[i] = v->tok[i];
            break;
        default:
            v->piece[i] = (struct vstr){0, 0};
        }
    }
    eng__special_build(v);
    *out = v;
    return 0;
fail:
    eng_vocab_free(v);
    return rc;
}

void eng_vocab_free(struct eng_vocab *v)
{
    if (!v)
        return;
    eng__special_free(v);
    sk_free(v->arena);
    sk_free(v->tok);
    sk_free(v->piece);
    sk_free(v->type);
    sk_free(v->strs);
    sk_free(v->str_hash);
    sk_free(v->str_hkey);
    sk_free(v->sid_tok);
    sk_free(v->merges);
    sk_free(v->eog);
    sk_free(v);
}

/* ---- accessors ---------------------------------------------------------------------------- */

int32_t eng_vocab_n_tokens(const struct eng_vocab *v) { return v->n_tokens; }
enum eng_pretok eng_vocab_pretok(const struct eng_vocab *v) { return v->pre; }
const char *eng_vocab_pretok_name(const struct eng_vocab *v)
{
    return v->pre == ENG_PRETOK_DEEPSEEK_LLM ? "deepseek-llm" : "deepseek-coder";
}
int eng_vocab_pretok_guessed(const struct eng_vocab *v) { return v->pre_guessed; }
int32_t eng_vocab_bos(const struct eng_vocab *v) { return v->bos; }
int32_t eng_vocab_eos(const struct eng_vocab *v) { return v->eos; }
int32_t eng_vocab_eot(const struct eng_vocab *v) { return v->eot; }
int32_t eng_vocab_pad(const struct eng_vocab *v) { return v->pad; }
int32_t eng_vocab_fim_pre(const struct eng_vocab *v) { return v->fim_pre; }
int32_t eng_vocab_fim_suf(const struct eng_vocab *v) { return v->fim_suf; }
int32_t eng_vocab_fim_mid(const struct eng_vocab *v) { return v->fim_mid; }
int32_t eng_vocab_nl(const struct eng_vocab *v) { return v->nl; }
int eng_vocab_add_bos(const struct eng_vocab *v) { return v->add_bos; }

int eng_vocab_is_eog(const struct eng_vocab *v, int32_t id)
{
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id)
            return 1;
    return 0;
}

int eng_vocab_eog_ids(const struct eng_vocab *v, int32_t *ids, int cap)
{
    for (int i = 0; i < v->n_eog && i < cap; i++)
        ids[i] = v->eog[i];
    return v->n_eog;
}

const char *eng_vocab_text(const struct eng_vocab *v, int32_t id, size_t *len)
{
    if (id < 0 || id >= v->n_tokens)
        return NULL;
    if (len)
        *len = v->tok[id].len;
    return eng__vstr(v, v->tok[id]);
}

enum eng_token_type eng_vocab_type(const struct eng_vocab *v, int32_t id)
{
    return id < 0 || id >= v->n_tokens ? ENG_TOKEN_UNDEFINED : (enum eng_token_type)v->type[id];
}

int32_t eng_vocab_find(const struct eng_vocab *v, const char *text, size_t len)
{
    int32_t sid = eng__vocab_sid(v, text, len);
    return sid < 0 ? -1 : v->sid_tok[sid];
}

/* ---- detokenization ----------------------------------------------------------------------- */

const char *eng_token_piece_ref(const struct eng_vocab *v, int32_t id, int special, size_t *len)
{
    if (id < 0 || id >= v->n_tokens)
        return NULL;
    int t = v->type[id];
    if (!special && (t == ENG_TOKEN_CONTROL || t == ENG_TOKEN_UNKNOWN)) {
        *len = 0;
        return "";
    }
    *len = v->piece[id].len;
    return v->piece[id].len ? eng__vstr(v, v->piece[id]) : "";
}

int eng_token_piece(const struct eng_vocab *v, int32_t id, int special, char *buf, size_t cap)
{
    size_t len;
    const char *p = eng_token_piece_ref(v, id, special, &len);
    if (!p)
        return ENG_EINVAL;
    if (len > INT32_MAX)
        return ENG_EINVAL;
    memcpy(buf, p, SK_MIN(len, cap));
    return (int)len;
}

int eng_detokenize(const struct eng_vocab *v, const int32_t *ids, int n, int special, char *out,
                   size_t cap)
{
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *p = eng_token_piece_ref(v, ids[i], special, &len);
        if (!p)
            return ENG_EINVAL;
        if (total < cap)
            memcpy(out + total, p, SK_MIN(len, cap - total));
        total += len;
        if (total > INT32_MAX)
            return ENG_EINVAL;
    }
    return (int)total;
}

void eng_detok_init(struct eng_detok *d) { memset(d, 0, sizeof *d); }

/* Number of bytes at the end of buf[0..n) that form an incomplete but so far valid UTF-8
 * sequence (0..3). */
static int incomplete_tail(const uint8_t *buf, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        uint8_t c = buf[n - k];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation: look further back */
        size_t want = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        return want > k ? (int)k : 0;
    }
    return 0;
}

int eng_detok_push(struct eng_detok *d, const struct eng_vocab *v, int32_t id, int special,
                   char *out, size_t cap)
{
    size_t len;
    const char *p = eng_token_piece_ref(v, id, special, &len);
    if (!p)
        return ENG_EINVAL;
    size_t total = (size_t)d->n_held + len;
    if (total > cap)
        return total > INT32_MAX ? ENG_EINVAL : (int)total;
    memcpy(out, d->held, (size_t)d->n_held);
    memcpy(out + d->n_held, p, len);
    int keep = incomplete_tail((const uint8_t *)out, total);
    memcpy(d->held, out + total - (size_t)keep, (size_t)keep);
    d->n_held = keep;
    return (int)(total - (size_t)keep);
}

int eng_detok_flush(struct eng_detok *d, char *out, size_t cap)
{
    int n = d->n_held;
    if ((size_t)n > cap)
        return n;
    memcpy(out, d->held, (size_t)n);
    d->n_held = 0;
    return n;
}
