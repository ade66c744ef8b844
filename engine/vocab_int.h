/*
 * Internal layout of struct eng_vocab, shared by engine/vocab.c (loading, special tokens,
 * detokenization) and engine/tokenizer.c (pre-tokenizer, BPE, special-token partition).
 *
 * Strings are interned: every token text, both sides of every merge and every merge result get
 * a string id (sid).  BPE then works on sids: a merge is a hash lookup of the pair
 * (sid_left, sid_right) giving (rank, sid_result), and the final token of a symbol is
 * sid_tok[sid].  The 256 initial symbols are the GPT-2 byte characters (byte_sid).
 */
#ifndef SEEKD_ENGINE_VOCAB_INT_H
#define SEEKD_ENGINE_VOCAB_INT_H

#include "engine/engine.h"

#include <stdint.h>

struct vstr { /* a string in vocab->arena */
    uint32_t off, len;
};

struct merge_ent { /* open-addressing entry; rank < 0 = empty */
    int32_t l, r, rank, res;
};

/* Special tokens that match inside text, for one parse_special setting. */
struct special_set {
    int32_t *by_prio;    /* token ids, longest text first (ties: lower id first) */
    int32_t n;
    int32_t *hash;       /* text -> priority index (first in priority order), -1 empty */
    uint32_t hash_mask;
    uint8_t first[256];  /* first byte can start a special token */
    uint32_t *lens[256]; /* distinct text lengths of the tokens starting with that byte */
    uint16_t n_lens[256];
    uint8_t second[8192]; /* bitmap over (first byte << 8 | second byte), tokens of 2+ bytes */
};

struct eng_vocab {
    int32_t n_tokens;
    char *arena; /* all interned strings and pieces */
    size_t arena_len, arena_cap;
    struct vstr *tok;     /* [n_tokens] stored text */
    struct vstr *piece;   /* [n_tokens] detokenized bytes (special=true form) */
    uint8_t *type;        /* [n_tokens] enum eng_token_type after forcing */
    /* interning */
    struct vstr *strs;
    int32_t n_strs, cap_strs;
    int32_t *str_hash;    /* slot -> sid, -1 = empty */
    uint32_t *str_hkey;   /* slot -> full hash of its string */
    uint32_t str_hash_mask;
    int32_t *sid_tok;     /* [n_strs] token id with that text (last wins), -1 */
    int32_t byte_sid[256];
    /* merges */
    struct merge_ent *merges;
    uint32_t merge_mask;
    /* special tokens: [0] parse_special off (USER_DEFINED), [1] on (+CONTROL, UNKNOWN) */
    struct special_set sp[2];
    /* ids, -1 = none */
    int32_t bos, eos, eot, eom, pad, unk, nl;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    int add_bos, add_eos;
    int32_t *eog;
    int n_eog;
    enum eng_pretok pre;
    int pre_guessed;
};

/* Interned string lookup: sid or -1. */
int32_t eng__vocab_sid(const struct eng_vocab *v, const char *s, size_t len);
static inline const char *eng__vstr(const struct eng_vocab *v, struct vstr s)
{
    return v->arena + s.off;
}

/* Builds the special-token sets (vocab.c calls it after token types are final). */
void eng__special_build(struct eng_vocab *v);
void eng__special_free(struct eng_vocab *v);

#endif
