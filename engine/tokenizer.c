/*
 * Text -> token ids for the DeepSeek vocabularies, with llama.cpp's semantics
 * (llama-cpp-facts.md 3.2-3.5):
 *   1. special tokens written in the text are cut out first (longest text first; USER_DEFINED
 *      always, CONTROL/UNKNOWN only with parse_special);
 *   2. each remaining raw fragment is decoded to code points (invalid bytes -> U+FFFD) and split
 *      by the pre-tokenizer's regex list: each regex runs inside every current segment, and its
 *      matches and the gaps between them all become segments;
 *   3. each segment (re-encoded as UTF-8) goes through byte-level BPE with merge ranks.
 *
 * The regexes are hand-written matchers over per-code-point class bits.  Classes follow
 * llama.cpp's engine choice: a regex with \p{..} sees the "collapsed" text (ASCII by the fixed
 * table of k_ucat_map, non-ASCII by Unicode general category, non-ASCII whitespace as \s); a
 * regex without \p{..} sees code points, with non-ASCII whitespace replaced by U+000B (so e.g.
 * U+3000 is \s and in no bracket range).
 *
 * Workload: completion prompts (a few KB to a few hundred KB of source) on every request; must
 * sustain >= 10 MB/s.  Everything is O(n) apart from BPE, which is O(m log m) per segment with a
 * heap.  Scratch is allocated per call, so calls on one vocab may run concurrently.
 */
#include "base.h"
#include "engine/engine.h"
#include "engine/unicode.h"
#include "engine/vocab_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- code point classes ------------------------------------------------------------------- */

enum {
    F_WS = 1,     /* \s: ASCII \t \n \v \f \r space, and non-ASCII White_Space */
    F_CRLF = 2,   /* [\r\n] */
    F_L = 4,      /* collapsed \p{L} */
    F_P = 8,      /* collapsed \p{P} */
    F_N = 16,     /* collapsed \p{N} */
    F_CJK = 32,   /* [一-龥ࠀ-一가-퟿] (U+0800..U+9FA5, U+AC00..U+D7FF) */
    F_LLM_L = 64, /* deepseek-llm letter bracket */
    F_LLM_P = 128 /* deepseek-llm punctuation bracket */
};

static const uint8_t ascii_flags[128] = {
    0,   0,   0,   0,   0,   0,   0,   0,   0,   1,   3,   1,   1,   3,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    1,   136, 136, 136, 128, 136, 136, 136, 136, 136, 136, 128, 136, 136, 136, 136,
    16,  16,  16,  16,  16,  16,  16,  16,  16,  16,  136, 136, 128, 128, 128, 136,
    136, 196, 196, 196, 196, 196, 196, 196, 196, 196, 196, 196, 196, 196, 196, 196,
    196, 196, 196, 196, 196, 196, 196, 196, 196, 196, 196, 136, 136, 136, 128, 136,
    128, 196, 196, 196, 196, 196, 196, 196, 196, 196, 196, 196, 196, 196, 196, 196,
    196, 196, 196, 196, 196, 196, 196, 196, 196, 196, 196, 136, 128, 136, 128, 0,
};

/* Non-ASCII members of the deepseek-llm letter bracket (regex [1]), sorted. */
static const uint32_t llm_letters[][2] = {
    {0x00B5, 0x00B5}, {0x00C0, 0x00D6}, {0x00D8, 0x00F6}, {0x00F8, 0x01BA}, {0x01BC, 0x01BF},
    {0x01C4, 0x0293}, {0x0295, 0x02AF}, {0x0370, 0x0373}, {0x0376, 0x0377}, {0x037B, 0x037D},
    {0x037F, 0x037F}, {0x0386, 0x0386}, {0x0388, 0x038A}, {0x038C, 0x038C}, {0x038E, 0x03A1},
    {0x03A3, 0x03F5}, {0x03F7, 0x0481}, {0x048A, 0x052F}, {0x0531, 0x0556}, {0x10A0, 0x10C5},
    {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B},
    {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45},
    {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D},
    {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4},
    {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4},
    {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115},
    {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D},
    {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149}, {0x214E, 0x214E},
    {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3},
    {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E},
    {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A},
    {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2},
    {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

static int in_llm_letters(uint32_t cp)
{
    size_t lo = 0, hi = SK_ARRAY_LEN(llm_letters);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < llm_letters[mid][0])
            hi = mid;
        else if (cp > llm_letters[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

static uint8_t cp_flags(uint32_t cp)
{
    if (cp < 128)
        return ascii_flags[cp];
    if (eng__is_uspace(cp))
        return F_WS; /* collapsed to \v for both engines: in no other class */
    uint8_t f = 0;
    switch (eng__ucat(cp)) {
    case ENG__UCAT_L: f |= F_L; break;
    case ENG__UCAT_P: f |= F_P; break;
    case ENG__UCAT_N: f |= F_N; break;
    default: break;
    }
    if ((cp >= 0x0800 && cp <= 0x9FA5) || (cp >= 0xAC00 && cp <= 0xD7FF))
        f |= F_CJK;
    if (cp >= 0xB5 && in_llm_letters(cp))
        f |= F_LLM_L;
    if ((cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF5E) ||
        (cp >= 0x2018 && cp <= 0x201F) || (cp >= 0x3001 && cp <= 0x3002))
        f |= F_LLM_P;
    return f;
}

/* ---- the regex lists ---------------------------------------------------------------------- */

enum rx_kind {
    RX_ONE,      /* exactly one code point of the class */
    RX_RUN,      /* class+ */
    RX_WS_RUN,   /* \s?class+ */
    RX_TRAIL_WS, /* \s+$ ($ = end of the segment) */
};
struct rx {
    enum rx_kind kind;
    uint8_t cls;
};

static const struct rx rx_coder[] = {
    {RX_ONE, F_CRLF}, {RX_WS_RUN, F_L}, {RX_WS_RUN, F_P}, {RX_RUN, F_CJK}, {RX_ONE, F_N},
};
static const struct rx rx_llm[] = {
    {RX_ONE, F_CRLF}, {RX_WS_RUN, F_LLM_L}, {RX_WS_RUN, F_LLM_P},
    {RX_TRAIL_WS, F_WS}, {RX_RUN, F_CJK}, {RX_RUN, F_N},
};

/* Runs one regex inside every segment (ends in seg[0..nseg), code point indices) and writes
 * the new segment ends to out: for each leftmost match, the gap before it (if any) and the
 * match; then the trailing gap.  Returns the new count (at most 2 per match + 1 per segment,
 * never more than the number of code points). */
static size_t rx_pass(const struct rx *rx, const uint8_t *fl, const size_t *seg, size_t nseg,
                      size_t *out)
{
    const uint8_t c = rx->cls;
    size_t n = 0, start = 0;
    for (size_t k = 0; k < nseg; k++) {
        const size_t end = seg[k];
        size_t i = start, gap = start;
        switch (rx->kind) {
        case RX_ONE:
            for (; i < end; i++)
                if (fl[i] & c) {
                    if (i > gap)
                        out[n++] = i;
                    out[n++] = gap = i + 1;
                }
            break;
        case RX_RUN:
            while (i < end) {
                if (!(fl[i] & c)) {
                    i++;
                    continue;
                }
                if (i > gap)
                    out[n++] = i;
                while (++i < end && (fl[i] & c))
                    ;
                out[n++] = gap = i;
            }
            break;
        case RX_WS_RUN:
            /* \s and the class are disjoint for every list, so at most one alternative
             * starts at i: the optional \s followed by the class, or the class itself. */
            while (i < end) {
                size_t ms = i;
                if (fl[i] & c) {
                } else if ((fl[i] & F_WS) && i + 1 < end && (fl[i + 1] & c)) {
                    i++;
                } else {
                    i++;
                    continue;
                }
                if (ms > gap)
                    out[n++] = ms;
                while (++i < end && (fl[i] & c))
                    ;
                out[n++] = gap = i;
            }
            break;
        case RX_TRAIL_WS:
            i = end;
            while (i > start && (fl[i - 1] & F_WS))
                i--;
            if (i < end) {
                if (i > start)
                    out[n++] = i;
                gap = end;
                out[n++] = end;
            }
            break;
        }
        if (gap < end)
            out[n++] = end;
        start = end;
    }
    return n;
}

/* ---- scratch ------------------------------------------------------------------------------ */

struct sym {
    int32_t sid, prev, next;
    uint32_t start, len;
};
struct pair {
    int32_t rank, left, right, res;
    uint32_t llen, rlen;
};

struct scratch {
    const struct eng_vocab *v;
    int32_t *ids;
    int cap;
    size_t count;
    int split_only; /* eng_pretokenize: emit segment lengths instead of tokens */
    int oom;        /* an allocation failed: finish quickly, return -ENOMEM */
    /* per code point of the current fragment */
    uint8_t *fl;
    uint32_t *uoff; /* byte offset of each code point in ubuf (n + 1 entries) */
    uint8_t *ubuf;
    size_t fl_cap, uoff_cap, ub_cap;
    size_t *seg, *seg2; /* segment end indices */
    size_t seg_cap, seg2_cap;
    struct sym *syms;
    struct pair *heap;
    size_t sym_cap, heap_cap, n_heap;
    /* BPE output of the current word */
    int32_t *wids;
    size_t n_wids, wids_cap;
    /* Word cache for this call: segment bytes -> ids.  Source code repeats its words, so most
     * segments skip BPE.  Open addressing on a 64-bit hash (0 = empty), bytes compared. */
    struct wc_ent *wc;
    uint32_t wc_mask, wc_n;
    uint8_t *wc_bytes;
    size_t wc_bytes_len, wc_bytes_cap;
    int32_t *wc_ids;
    size_t wc_ids_len, wc_ids_cap;
};

struct wc_ent {
    uint64_t h;
    uint32_t woff, wlen, ioff, n;
};

#define WC_MAX_WORD 64      /* longer segments are not cached */
#define WC_MAX_ENTRIES (1u << 20)

/* Grows p to hold `need` elements.  On failure (only under the allocator's failure injection)
 * returns p unchanged with *cap unchanged and sets *oom: callers check it before writing, and
 * the call ends with -ENOMEM. */
static void *grow_(void *p, size_t *cap, size_t need, size_t elem, int *oom)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *np = sk_realloc(p, n * elem);
    if (!np) {
        *oom = 1;
        return p;
    }
    *cap = n;
    return np;
}
#define grow(p, cap, need, elem) grow_(p, cap, need, elem, &s->oom)

static void wemit(struct scratch *s, int32_t id)
{
    s->wids = grow(s->wids, &s->wids_cap, s->n_wids + 1, sizeof *s->wids);
    if (s->oom)
        return;
    s->wids[s->n_wids++] = id;
}

static void emit(struct scratch *s, int32_t id)
{
    if (s->count < (size_t)s->cap)
        s->ids[s->count] = id;
    s->count++;
}

/* ---- BPE ---------------------------------------------------------------------------------- */

static const struct merge_ent *merge_find(const struct eng_vocab *v, int32_t l, int32_t r)
{
    uint64_t k = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    uint32_t i = (uint32_t)k & v->merge_mask;
    for (;;) {
        const struct merge_ent *e = &v->merges[i];
        if (e->rank < 0)
            return NULL;
        if (e->l == l && e->r == r)
            return e;
        i = (i + 1) & v->merge_mask;
    }
}

static int pair_less(const struct pair *a, const struct pair *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(struct scratch *s, struct pair p)
{
    s->heap = grow(s->heap, &s->heap_cap, s->n_heap + 1, sizeof *s->heap);
    if (s->oom)
        return;
    size_t i = s->n_heap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_less(&p, &s->heap[up]))
            break;
        s->heap[i] = s->heap[up];
        i = up;
    }
    s->heap[i] = p;
}

static struct pair heap_pop(struct scratch *s)
{
    struct pair top = s->heap[0], last = s->heap[--s->n_heap];
    size_t i = 0, n = s->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && pair_less(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!pair_less(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n)
        s->heap[i] = last;
    return top;
}

static void add_pair(struct scratch *s, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return;
    const struct merge_ent *m = merge_find(s->v, s->syms[left].sid, s->syms[right].sid);
    if (!m)
        return;
    heap_push(s, (struct pair){m->rank, left, right, m->res, s->syms[left].len,
                               s->syms[right].len});
}

/* Emits the token of a final symbol; without one, llama.cpp looks up each byte of the symbol's
 * byte-level text as a one-byte token and drops the bytes that have none. */
static void emit_symbol(struct scratch *s, const uint8_t *w, const struct sym *sy)
{
    const struct eng_vocab *v = s->v;
    int32_t id = v->sid_tok[sy->sid];
    if (id >= 0) {
        wemit(s, id);
        return;
    }
    for (uint32_t k = 0; k < sy->len; k++) {
        const struct vstr bs = v->strs[v->byte_sid[w[sy->start + k]]];
        for (uint32_t j = 0; j < bs.len; j++) {
            int32_t one = eng_vocab_find(v, v->arena + bs.off + j, 1);
            if (one >= 0)
                wemit(s, one);
        }
    }
}

static void bpe_word(struct scratch *s, const uint8_t *w, size_t m)
{
    const struct eng_vocab *v = s->v;
    if (m == 1) {
        struct sym one = {v->byte_sid[w[0]], -1, -1, 0, 1};
        emit_symbol(s, w, &one);
        return;
    }
    s->syms = grow(s->syms, &s->sym_cap, m, sizeof *s->syms);
    if (s->oom)
        return;
    for (size_t i = 0; i < m; i++)
        s->syms[i] = (struct sym){v->byte_sid[w[i]], (int32_t)i - 1,
                                  i + 1 < m ? (int32_t)i + 1 : -1, (uint32_t)i, 1};
    s->n_heap = 0;
    for (size_t i = 1; i < m; i++)
        add_pair(s, (int32_t)i - 1, (int32_t)i);
    while (s->n_heap) {
        struct pair p = heap_pop(s);
        struct sym *l = &s->syms[p.left], *r = &s->syms[p.right];
        /* Stale when either side changed since the pair was queued (symbols only grow). */
        if (l->len == 0 || r->len == 0 || l->len != p.llen || r->len != p.rlen)
            continue;
        l->len += r->len;
        l->sid = p.res;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            s->syms[r->next].prev = p.left;
        add_pair(s, l->prev, p.left);
        add_pair(s, p.left, l->next);
    }
    for (int32_t i = 0; i >= 0; i = s->syms[i].next)
        emit_symbol(s, w, &s->syms[i]);
}

static void wc_insert(struct scratch *s, uint64_t h, const uint8_t *w, size_t m)
{
    if (s->wc_n >= WC_MAX_ENTRIES)
        return;
    if (!s->wc || (s->wc_n + 1) * 2 > s->wc_mask + 1) {
        uint32_t cap = s->wc ? (s->wc_mask + 1) * 2 : 4096;
        struct wc_ent *nt = sk_calloc(cap, sizeof *nt);
        if (!nt) {
            s->oom = 1;
            return;
        }
        for (uint32_t i = 0; s->wc && i <= s->wc_mask; i++) {
            if (!s->wc[i].h)
                continue;
            uint32_t j = (uint32_t)s->wc[i].h & (cap - 1);
            while (nt[j].h)
                j = (j + 1) & (cap - 1);
            nt[j] = s->wc[i];
        }
        sk_free(s->wc);
        s->wc = nt;
        s->wc_mask = cap - 1;
    }
    uint32_t j = (uint32_t)h & s->wc_mask;
    while (s->wc[j].h)
        j = (j + 1) & s->wc_mask;
    s->wc_bytes = grow(s->wc_bytes, &s->wc_bytes_cap, s->wc_bytes_len + m, 1);
    s->wc_ids = grow(s->wc_ids, &s->wc_ids_cap, s->wc_ids_len + s->n_wids, sizeof *s->wc_ids);
    if (s->oom)
        return;
    s->wc[j] = (struct wc_ent){h, (uint32_t)s->wc_bytes_len, (uint32_t)m,
                               (uint32_t)s->wc_ids_len, (uint32_t)s->n_wids};
    memcpy(s->wc_bytes + s->wc_bytes_len, w, m);
    s->wc_bytes_len += m;
    if (s->n_wids) /* a word can yield no token when its bytes have none (odd vocabs) */
        memcpy(s->wc_ids + s->wc_ids_len, s->wids, s->n_wids * sizeof *s->wids);
    s->wc_ids_len += s->n_wids;
    s->wc_n++;
}

/* One pre-tokenized segment: from the cache, or through BPE (then cached). */
static void word(struct scratch *s, const uint8_t *w, size_t m)
{
    uint64_t h = 0;
    if (m <= WC_MAX_WORD) {
        h = sk_hash64(w, m, 0x77) | 1;
        if (s->wc) {
            for (uint32_t j = (uint32_t)h & s->wc_mask; s->wc[j].h; j = (j + 1) & s->wc_mask) {
                const struct wc_ent *e = &s->wc[j];
                if (e->h == h && e->wlen == m && !memcmp(s->wc_bytes + e->woff, w, m)) {
                    for (uint32_t i = 0; i < e->n; i++)
                        emit(s, s->wc_ids[e->ioff + i]);
                    return;
                }
            }
        }
    }
    s->n_wids = 0;
    bpe_word(s, w, m);
    for (size_t i = 0; i < s->n_wids; i++)
        emit(s, s->wids[i]);
    if (h)
        wc_insert(s, h, w, m);
}

/* ---- pre-tokenizer ------------------------------------------------------------------------ */

static void tokenize_raw(struct scratch *s, const uint8_t *text, size_t len)
{
    const struct eng_vocab *v = s->v;
    /* Decode; re-encode only if something was invalid (llama.cpp re-encodes code points). */
    s->fl = grow(s->fl, &s->fl_cap, len + 1, 1);
    s->uoff = grow(s->uoff, &s->uoff_cap, len + 1, sizeof *s->uoff);
    if (s->oom)
        return;
    const uint8_t *u = text;
    size_t n = 0, i = 0;
    int reencode = 0;
    uint8_t all_fl = 0;
    while (i < len) {
        uint8_t c = text[i];
        if (c < 0x80) {
            all_fl |= s->fl[n] = ascii_flags[c];
            s->uoff[n++] = (uint32_t)i++;
            continue;
        }
        size_t adv;
        uint32_t cp = eng__utf8_decode(text + i, len - i, &adv);
        if (adv == 1) /* an invalid byte: becomes U+FFFD */
            reencode = 1;
        /* Overlong forms also re-encode differently. */
        if (!reencode && adv > 1) {
            uint8_t tmp[4];
            if (eng__utf8_encode(cp, tmp) != adv)
                reencode = 1;
        }
        all_fl |= s->fl[n] = cp_flags(cp);
        s->uoff[n++] = (uint32_t)i;
        i += adv;
    }
    s->uoff[n] = (uint32_t)len;
    if (reencode) {
        s->ubuf = grow(s->ubuf, &s->ub_cap, len * 3 + 4, 1);
        if (s->oom)
            return;
        size_t k = 0;
        i = 0;
        for (size_t j = 0; j < n; j++) {
            size_t adv;
            uint32_t cp = eng__utf8_decode(text + i, len - i, &adv);
            i += adv;
            s->uoff[j] = (uint32_t)k;
            k += eng__utf8_encode(cp, s->ubuf + k);
        }
        s->uoff[n] = (uint32_t)k;
        u = s->ubuf;
    }

    /* Segments: end indices in code points, starting with one segment. */
    const struct rx *list = v->pre == ENG_PRETOK_DEEPSEEK_LLM ? rx_llm : rx_coder;
    size_t nrx = v->pre == ENG_PRETOK_DEEPSEEK_LLM ? SK_ARRAY_LEN(rx_llm) : SK_ARRAY_LEN(rx_coder);
    s->seg = grow(s->seg, &s->seg_cap, n + 1, sizeof *s->seg);
    s->seg2 = grow(s->seg2, &s->seg2_cap, n + 1, sizeof *s->seg2);
    if (s->oom)
        return;
    size_t nseg = 0;
    if (n)
        s->seg[nseg++] = n;
    for (size_t r = 0; r < nrx; r++) {
        /* A class that occurs nowhere in the fragment cannot split anything. */
        if (!(all_fl & list[r].cls))
            continue;
        size_t nout = rx_pass(&list[r], s->fl, s->seg, nseg, s->seg2);
        size_t *t = s->seg, tc = s->seg_cap;
        s->seg = s->seg2;
        s->seg_cap = s->seg2_cap;
        s->seg2 = t;
        s->seg2_cap = tc;
        nseg = nout;
    }
    size_t start = 0;
    for (size_t k = 0; k < nseg; k++) {
        size_t b0 = s->uoff[start], b1 = s->uoff[s->seg[k]];
        if (s->split_only)
            emit(s, (int32_t)(s->seg[k] - start));
        else
            word(s, u + b0, b1 - b0);
        start = s->seg[k];
    }
}

/* ---- special tokens ----------------------------------------------------------------------- */

static int cmp_prio(const void *a, const void *b, void *arg)
{
    const struct eng_vocab *v = arg;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = v->tok[x].len, ly = v->tok[y].len;
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

static uint32_t sp_hash(const char *s, size_t len) { return (uint32_t)sk_hash64(s, len, 0x59ec); }

static int32_t sp_lookup(const struct eng_vocab *v, const struct special_set *ss, const char *s,
                         size_t len)
{
    uint32_t i = sp_hash(s, len) & ss->hash_mask;
    for (;;) {
        int32_t k = ss->hash[i];
        if (k < 0)
            return -1;
        const struct vstr t = v->tok[ss->by_prio[k]];
        if (t.len == len && !memcmp(v->arena + t.off, s, len))
            return k;
        i = (i + 1) & ss->hash_mask;
    }
}

void eng__special_build(struct eng_vocab *v)
{
    for (int set = 0; set < 2; set++) {
        struct special_set *ss = &v->sp[set];
        memset(ss, 0, sizeof *ss);
        ss->by_prio = sk_malloc((size_t)v->n_tokens * sizeof *ss->by_prio);
        for (int32_t id = 0; id < v->n_tokens; id++) {
            int t = v->type[id];
            if (t == ENG_TOKEN_USER_DEFINED ||
                (set == 1 && (t == ENG_TOKEN_CONTROL || t == ENG_TOKEN_UNKNOWN)))
                ss->by_prio[ss->n++] = id;
        }
        /* llama.cpp's std::sort leaves ties in unspecified order; ours breaks them by id. */
        qsort_r(ss->by_prio, (size_t)ss->n, sizeof *ss->by_prio, cmp_prio, v);
        uint32_t cap = 16;
        while (cap < (uint32_t)ss->n * 2 + 2)
            cap <<= 1;
        ss->hash = sk_malloc(cap * sizeof *ss->hash);
        memset(ss->hash, 0xff, cap * sizeof *ss->hash);
        ss->hash_mask = cap - 1;
        for (int32_t k = 0; k < ss->n; k++) {
            const struct vstr t = v->tok[ss->by_prio[k]];
            const char *s = v->arena + t.off;
            if (t.len == 0 || sp_lookup(v, ss, s, t.len) >= 0)
                continue; /* same text earlier in priority order: that one always wins */
            uint32_t i = sp_hash(s, t.len) & ss->hash_mask;
            while (ss->hash[i] >= 0)
                i = (i + 1) & ss->hash_mask;
            ss->hash[i] = k;
            uint8_t c0 = (uint8_t)s[0];
            ss->first[c0] = 1;
            if (t.len >= 2) {
                unsigned bit = ((unsigned)c0 << 8) | (uint8_t)s[1];
                ss->second[bit >> 3] |= (uint8_t)(1u << (bit & 7));
            }
            uint16_t j;
            for (j = 0; j < ss->n_lens[c0] && ss->lens[c0][j] != t.len; j++)
                ;
            if (j == ss->n_lens[c0]) {
                ss->lens[c0] = sk_realloc(ss->lens[c0], (j + 1u) * sizeof *ss->lens[c0]);
                ss->lens[c0][ss->n_lens[c0]++] = t.len;
            }
        }
    }
}

void eng__special_free(struct eng_vocab *v)
{
    for (int set = 0; set < 2; set++) {
        sk_free(v->sp[set].by_prio);
        sk_free(v->sp[set].hash);
        for (int c = 0; c < 256; c++)
            sk_free(v->sp[set].lens[c]);
    }
}

struct occ {
    uint32_t pos;
    int32_t prio;
};

static int cmp_pos(const void *a, const void *b)
{
    const struct occ *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int cmp_occ(const void *a, const void *b)
{
    const struct occ *x = a, *y = b;
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int tokenize(const struct eng_vocab *v, const char *text, size_t len, int add_bos,
                    int parse_special, int32_t *ids, int cap, int split_only);

int eng_tokenize(const struct eng_vocab *v, const char *text, size_t len, int add_bos,
                 int parse_special, int32_t *ids, int cap)
{
    return tokenize(v, text, len, add_bos, parse_special, ids, cap, 0);
}

int eng_pretokenize(const struct eng_vocab *v, const char *text, size_t len, int32_t *seg_cps,
                    int cap)
{
    return tokenize(v, text, len, 0, 0, seg_cps, cap, 1);
}

static int tokenize(const struct eng_vocab *v, const char *text, size_t len, int add_bos,
                    int parse_special, int32_t *ids, int cap, int split_only)
{
    if (!v || (len && !text) || cap < 0 || (cap && !ids) || len > UINT32_MAX / 4)
        return ENG_EINVAL;
    struct scratch s = {.v = v, .ids = ids, .cap = cap, .split_only = split_only};
    const uint8_t *t = (const uint8_t *)text;
    const struct special_set *ss = &v->sp[parse_special ? 1 : 0];
    struct occ *occ = NULL;
    size_t n_occ = 0, occ_cap = 0;
    uint8_t *claimed = NULL;
    int rc;

    if (add_bos && v->add_bos && v->bos >= 0)
        emit(&s, v->bos);

    /* 1. Every occurrence of every special token in the text. */
    for (size_t p = 0; p < len && !split_only; p++) { /* split_only: no special tokens */
        uint8_t c = t[p];
        if (!ss->first[c])
            continue;
        int two = 0;
        if (p + 1 < len) {
            unsigned bit = ((unsigned)c << 8) | t[p + 1];
            two = (ss->second[bit >> 3] >> (bit & 7)) & 1;
        }
        for (uint16_t j = 0; j < ss->n_lens[c]; j++) {
            uint32_t l = ss->lens[c][j];
            if (l > len - p || (l >= 2 && !two))
                continue;
            int32_t k = sp_lookup(v, ss, text + p, l);
            if (k >= 0) {
                occ = grow_(occ, &occ_cap, n_occ + 1, sizeof *occ, &s.oom);
                if (s.oom)
                    goto out;
                occ[n_occ++] = (struct occ){(uint32_t)p, k};
            }
        }
    }
    /* 2. llama.cpp's partition: tokens in priority order, each taking its leftmost
     * non-overlapping occurrences that lie inside still-raw text. */
    size_t n_taken = 0;
    if (n_occ) {
        qsort(occ, n_occ, sizeof *occ, cmp_occ);
        claimed = sk_calloc(len, 1);
        if (!claimed) {
            s.oom = 1;
            goto out;
        }
        for (size_t i = 0; i < n_occ; i++) {
            uint32_t l = v->tok[ss->by_prio[occ[i].prio]].len, p = occ[i].pos;
            if (claimed[p] || claimed[p + l - 1] || memchr(claimed + p, 1, l))
                continue;
            memset(claimed + p, 1, l);
            occ[n_taken++] = occ[i];
        }
        /* Order the taken ones by position (prio no longer matters). */
        for (size_t i = 0; i < n_taken; i++)
            occ[i].prio = ss->by_prio[occ[i].prio]; /* now a token id */
        qsort(occ, n_taken, sizeof *occ, cmp_pos); /* taken ones never overlap */
    }
    /* 3. Raw fragments through the pre-tokenizer and BPE, special tokens as their ids. */
    size_t pos = 0;
    for (size_t i = 0; i <= n_taken; i++) {
        size_t end = i < n_taken ? occ[i].pos : len;
        if (end > pos)
            tokenize_raw(&s, t + pos, end - pos);
        if (i < n_taken) {
            emit(&s, occ[i].prio);
            pos = end + v->tok[occ[i].prio].len;
        }
    }
    if (add_bos && v->add_eos && v->eos >= 0)
        emit(&s, v->eos);
out:
    rc = s.oom ? -ENOMEM : s.count > INT32_MAX ? ENG_EINVAL : (int)s.count;
    sk_free(occ);
    sk_free(claimed);
    sk_free(s.fl);
    sk_free(s.uoff);
    sk_free(s.ubuf);
    sk_free(s.seg);
    sk_free(s.seg2);
    sk_free(s.syms);
    sk_free(s.heap);
    sk_free(s.wids);
    sk_free(s.wc);
    sk_free(s.wc_bytes);
    sk_free(s.wc_ids);
    return rc;
}
