/*
 * cache/entries.c: completion entries: key hashing, exact and typed-ahead lookups, inserts with
 * LRU eviction.
 *
 * Key hash.  ctx = SHA-256("seekd-key-1", then each of model, template, settings, snippets,
 * suffix as an 8-byte little-endian length and the bytes); key = SHA-256(ctx || prefix).  The
 * prefix comes last so that the hashes of every cut of the current prefix (dropping its last
 * 0..64 bytes) come from one streaming pass: the state after ctx and the prefix minus its tail
 * is copied and finished once per cut.
 *
 * Typed-ahead.  An entry stored at prefix P with completion C is served at prefix P' = P + t when
 * C starts with t and is longer than t: its key is the hash of P' cut |t| bytes earlier, so one
 * query `key IN (65 hashes)` finds every candidate through the primary key.  Candidates are
 * checked byte for byte against the typed tail (a hash match alone says only that P matches),
 * and the one with the shortest tail wins.  Cuts inside a UTF-8 sequence are skipped.
 *
 * Hits are answered by a read; the LRU touch and the hit counter wait in memory for the next
 * write transaction (see cache__begin) or cache_flush, so a lookup never writes, never waits
 * for another process's lock and never pays for a WAL checkpoint.  Up to CACHE_PENDING_TOUCH
 * touches are kept; older ones are dropped (the entry just keeps its previous LRU position).
 */
#include "cache/cache_int.h"

#include <string.h>

static void absorb_lp(struct cache__sha256 *s, const char *p, size_t n)
{
    uint8_t len[8];
    uint64_t v = p ? n : 0;
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(v >> (8 * i));
    cache__sha256_update(s, len, 8);
    if (p && n)
        cache__sha256_update(s, p, n);
}

static void ctx_digest(const struct cache_key *k, uint8_t out[32])
{
    struct cache__sha256 s;
    cache__sha256_init(&s);
    cache__sha256_update(&s, "seekd-key-1", 11);
    absorb_lp(&s, k->model, k->model ? strlen(k->model) : 0);
    absorb_lp(&s, k->tmpl, k->tmpl ? strlen(k->tmpl) : 0);
    absorb_lp(&s, k->settings, k->settings ? strlen(k->settings) : 0);
    absorb_lp(&s, k->snippets, k->snippets_len);
    absorb_lp(&s, k->suffix, k->suffix_len);
    cache__sha256_final(&s, out);
}

static void key_hash(const struct cache_key *k, uint8_t out[32])
{
    uint8_t ctx[32];
    ctx_digest(k, ctx);
    struct cache__sha256 s;
    cache__sha256_init(&s);
    cache__sha256_update(&s, ctx, 32);
    if (k->prefix && k->prefix_len)
        cache__sha256_update(&s, k->prefix, k->prefix_len);
    cache__sha256_final(&s, out);
}

static int usable(struct cache *c) { return cache__enter(c); }

void cache_entry_free(struct cache_entry *e)
{
    if (!e)
        return;
    sk_free(e->text);
    memset(e, 0, sizeof *e);
}

/* Fills e from a row whose columns start at col (completion, tokens, compute_ms, created_ms,
 * used_ms, accepted), skipping the first skip bytes of the completion. */
static int fill_entry(sqlite3_stmt *st, int col, size_t skip, struct cache_entry *e)
{
    const void *blob = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    if (skip > n)
        return CACHE_E_CORRUPT;
    e->text = sk_malloc(n - skip + 1);
    if (!e->text)
        return CACHE_E_NOMEM;
    if (n > skip)
        memcpy(e->text, (const char *)blob + skip, n - skip);
    e->text[n - skip] = 0;
    e->text_len = n - skip;
    e->tokens = (uint32_t)sqlite3_column_int64(st, col + 1);
    e->compute_ms = (uint32_t)sqlite3_column_int64(st, col + 2);
    e->created_ms = sqlite3_column_int64(st, col + 3);
    e->last_used_ms = sqlite3_column_int64(st, col + 4);
    e->accepted = sqlite3_column_int(st, col + 5) != 0;
    return 0;
}

/* Remembers a hit: counters and LRU touch are written with the next transaction. */
static void note_hit(struct cache *c, const uint8_t key[32], int typed)
{
    c->pend_hits++;
    c->pend_typed += typed != 0;
    size_t i;
    for (i = 0; i < c->n_touch; i++)
        if (!memcmp(c->pend_touch[i], key, 32))
            break;
    if (i < c->n_touch) {
        /* Already pending: move it to the end so the touch order follows use order. */
        memmove(c->pend_touch[i], c->pend_touch[i + 1], (c->n_touch - i - 1) * 32);
        c->n_touch--;
    }
    if (c->n_touch == CACHE_PENDING_TOUCH) /* full: forget the oldest touch, never write here */
        memmove(c->pend_touch[0], c->pend_touch[1], --c->n_touch * 32);
    memcpy(c->pend_touch[c->n_touch++], key, 32);
}

int cache_flush(struct cache *c)
{
    int rc = usable(c);
    if (rc)
        return rc;
    if (!c->pend_hits && !c->pend_misses && !c->n_touch)
        return 0;
    rc = cache__begin(c);
    return rc ? rc : cache__commit(c);
}

int cache_get(struct cache *c, const struct cache_key *key, struct cache_entry *entry)
{
    memset(entry, 0, sizeof *entry);
    int rc = usable(c);
    if (rc)
        return rc;
    uint8_t k[32];
    key_hash(key, k);
    sqlite3_stmt *st = cache__stmt(c, ST_GET);
    if (!st)
        return CACHE_E_SQLITE;
    sqlite3_bind_blob(st, 1, k, 32, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        rc = fill_entry(st, 0, 0, entry);
        if (!rc && entry->text_len == 0) {
            cache_entry_free(entry);
            s = SQLITE_DONE; /* only a damaged row can be empty: treat as a miss */
        }
    } else if (s != SQLITE_DONE) {
        rc = cache__err(c, s, "get");
    }
    sqlite3_reset(st);
    if (rc)
        return rc;
    if (s == SQLITE_ROW) {
        note_hit(c, k, 0);
        return 1;
    }
    c->pend_misses++;
    return 0;
}

int cache_get_typed(struct cache *c, const struct cache_key *key, struct cache_entry *entry,
                    size_t *offset)
{
    memset(entry, 0, sizeof *entry);
    if (offset)
        *offset = 0;
    int rc = usable(c);
    if (rc)
        return rc;
    /* keys[j] = hash of the prefix without its last j bytes, j = 0..m. */
    uint8_t keys[CACHE_TYPED_MAX + 1][32], ctx[32];
    const char *p = key->prefix ? key->prefix : "";
    size_t len = key->prefix ? key->prefix_len : 0, m = SK_MIN(len, (size_t)CACHE_TYPED_MAX);
    ctx_digest(key, ctx);
    struct cache__sha256 run, fin;
    cache__sha256_init(&run);
    cache__sha256_update(&run, ctx, 32);
    cache__sha256_update(&run, p, len - m);
    for (size_t j = m + 1; j-- > 0;) {
        fin = run;
        cache__sha256_final(&fin, keys[j]);
        if (j)
            cache__sha256_update(&run, p + len - j, 1);
    }
    sqlite3_stmt *st = cache__stmt(c, ST_TYPED);
    if (!st)
        return CACHE_E_SQLITE;
    for (size_t j = 0; j <= m; j++) {
        unsigned char b = j ? (unsigned char)p[len - j] : 0;
        if (j && (b & 0xc0) == 0x80)
            continue; /* would split a UTF-8 sequence: leave the parameter NULL */
        sqlite3_bind_blob(st, (int)j + 1, keys[j], 32, SQLITE_STATIC);
    }
    size_t best = SIZE_MAX;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const void *kb = sqlite3_column_blob(st, 0);
        if (sqlite3_column_bytes(st, 0) != 32)
            continue;
        size_t j;
        for (j = 0; j <= m; j++)
            if (!memcmp(kb, keys[j], 32))
                break;
        if (j > m || j >= best)
            continue;
        const char *text = sqlite3_column_blob(st, 1);
        size_t n = (size_t)sqlite3_column_bytes(st, 1);
        if (n <= j || (j && memcmp(text, p + len - j, j) != 0))
            continue; /* typed text diverged from this completion, or consumed all of it */
        if (((unsigned char)text[j] & 0xc0) == 0x80)
            continue; /* the cursor is inside a UTF-8 character of the completion */
        cache_entry_free(entry);
        rc = fill_entry(st, 1, j, entry);
        if (rc)
            break;
        best = j;
        if (j == 0)
            break;
    }
    if (!rc && s != SQLITE_ROW && s != SQLITE_DONE)
        rc = cache__err(c, s, "get_typed");
    sqlite3_reset(st);
    if (rc) {
        cache_entry_free(entry);
        return rc;
    }
    if (best == SIZE_MAX) {
        c->pend_misses++;
        return 0;
    }
    if (offset)
        *offset = best;
    note_hit(c, keys[best], best != 0);
    return 1;
}

/* Deletes up to n least recently used entries older than seq; returns how many or negative. */
static int64_t evict(struct cache *c, int64_t n, int64_t seq)
{
    sqlite3_stmt *st = cache__stmt(c, ST_EVICT_OLDEST);
    if (!st)
        return CACHE_E_SQLITE;
    sqlite3_bind_int64(st, 1, n);
    sqlite3_bind_int64(st, 2, seq);
    int s = sqlite3_step(st);
    int64_t done = sqlite3_changes64(c->db);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return cache__err(c, s, "evict");
    int rc = cache__counter_add(c, "evictions", done);
    return rc ? rc : done;
}

int cache_put(struct cache *c, const struct cache_key *key, const struct cache_entry *entry)
{
    int rc = usable(c);
    if (rc)
        return rc;
    size_t n = entry->text ? entry->text_len : 0;
    uint64_t size = (uint64_t)n + CACHE_ENTRY_OVERHEAD;
    if (n == 0 || n > CACHE_MAX_TEXT || size > c->opts.max_bytes / 4)
        return CACHE_E_TOOBIG;
    uint8_t k[32];
    key_hash(key, k);
    rc = cache__begin(c);
    if (rc)
        return rc;
    sqlite3_stmt *st = cache__stmt(c, ST_NEXT_SEQ);
    if (!st) {
        rc = CACHE_E_SQLITE;
        goto fail;
    }
    int s = sqlite3_step(st);
    int64_t seq = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (s != SQLITE_ROW) {
        rc = cache__err(c, s, "seq");
        goto fail;
    }
    st = cache__stmt(c, ST_UPSERT);
    if (!st) {
        rc = CACHE_E_SQLITE;
        goto fail;
    }
    sqlite3_bind_blob(st, 1, k, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, entry->text, (int)n, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, entry->tokens);
    sqlite3_bind_int64(st, 4, entry->compute_ms);
    sqlite3_bind_int64(st, 5, cache__wall_ms());
    sqlite3_bind_int(st, 6, entry->accepted != 0);
    sqlite3_bind_int64(st, 7, seq);
    sqlite3_bind_int64(st, 8, (int64_t)size);
    s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        rc = cache__err(c, s, "put");
        goto fail;
    }
    /* Evict the least recently used entries (never the one just written) until within limits. */
    for (;;) {
        int64_t entries, bytes;
        rc = cache__counter_get(c, "entries", &entries);
        if (!rc)
            rc = cache__counter_get(c, "bytes", &bytes);
        if (rc)
            goto fail;
        int64_t over = entries - (int64_t)c->opts.max_entries;
        if (over <= 0 && bytes <= (int64_t)c->opts.max_bytes)
            break;
        int64_t got = evict(c, over > 0 ? over : 1, seq);
        if (got < 0) {
            rc = (int)got;
            goto fail;
        }
        if (got == 0)
            break; /* only the new entry is left */
    }
    return cache__commit(c);
fail:
    cache__rollback(c);
    return rc;
}

int cache_set_accepted(struct cache *c, const struct cache_key *key, int accepted)
{
    int rc = usable(c);
    if (rc)
        return rc;
    uint8_t k[32];
    key_hash(key, k);
    rc = cache__begin(c);
    if (rc)
        return rc;
    sqlite3_stmt *st = cache__stmt(c, ST_SET_ACCEPTED);
    if (!st) {
        cache__rollback(c);
        return CACHE_E_SQLITE;
    }
    sqlite3_bind_blob(st, 1, k, 32, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, accepted != 0);
    int s = sqlite3_step(st);
    int changed = sqlite3_changes(c->db);
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        rc = cache__err(c, s, "set_accepted");
        cache__rollback(c);
        return rc;
    }
    rc = cache__commit(c);
    return rc ? rc : changed ? 0 : 1;
}
