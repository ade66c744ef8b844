/* cache/ internal: the connection struct, prepared statements, and helpers shared by the files
 * of this module.  Only cache/ (and tests/cache, for the test hooks at the end) include it. */
#ifndef SEEKD_CACHE_INT_H
#define SEEKD_CACHE_INT_H

#include "base.h"
#include "cache/cache.h"
#include "cache/sha256.h"

#include <sqlite3.h>

#define CACHE_SCHEMA_VERSION 1
/* Bytes charged per entry on top of the completion text (key, metadata, index). */
#define CACHE_ENTRY_OVERHEAD 96
/* Hits remembered in memory before their LRU touch is written (see cache__flush). */
#define CACHE_PENDING_TOUCH 32

enum cache__stmt_id {
    ST_GET,
    ST_TYPED,
    ST_UPSERT,
    ST_TOUCH,
    ST_NEXT_SEQ,
    ST_COUNTER_ADD,
    ST_COUNTER_GET,
    ST_EVICT_OLDEST,
    ST_SET_ACCEPTED,
    ST_MODEL_GET,
    ST_MODEL_PUT,
    ST_EVENT_ADD,
    ST_EVENT_PRUNE,
    ST_BEGIN_WRITE,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_COUNT_
};

struct cache {
    sqlite3 *db;
    char *path;
    struct cache_opts opts;
    sqlite3_stmt *st[ST_COUNT_];
    /* Lookups not yet written to the counters table, and keys hit since the last write: both
     * are flushed at the start of the next write transaction, on cache_stats and on close, so a
     * hit costs one read. */
    uint64_t pend_hits, pend_typed, pend_misses;
    uint8_t pend_touch[CACHE_PENDING_TOUCH][32];
    size_t n_touch;
    uint64_t n_events; /* events recorded by this connection (pruning cadence) */
    int broken;        /* corruption seen after open: every call fails fast */
};

/* Maps a SQLite result code (and the connection's errno for I/O errors) to our errors. */
int cache__err(struct cache *c, int rc, const char *what);
/* The prepared statement id (prepared on first use), reset and with bindings cleared; NULL on
 * failure (logged). */
sqlite3_stmt *cache__stmt(struct cache *c, enum cache__stmt_id id);
/* Entry check of every public function: CACHE_E_DISABLED for NULL, CACHE_E_CORRUPT after
 * corruption, and a transaction left open by an earlier failure is rolled back first. */
int cache__enter(struct cache *c);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK, through statements prepared at open so that ending a
 * transaction does not need memory.  begin also writes the pending counters and touches. */
int cache__begin(struct cache *c);
int cache__commit(struct cache *c);
void cache__rollback(struct cache *c);
/* A read transaction (one snapshot for several queries) and its end. */
int cache__begin_read(struct cache *c);
void cache__end_read(struct cache *c);
/* Adds delta to a counter (inside a transaction). */
int cache__counter_add(struct cache *c, const char *name, int64_t delta);
int cache__counter_get(struct cache *c, const char *name, int64_t *out);
/* Wall-clock Unix milliseconds. */
int64_t cache__wall_ms(void);

/* ---- test hooks ---- */
/* Caps the database at n pages (PRAGMA max_page_count): writes beyond it fail like a full
 * disk.  Returns the new limit or negative. */
long cache__set_page_limit(struct cache *c, long pages);
/* Verifies the entries/bytes counters against the table and runs PRAGMA quick_check.
 * Returns 0 when consistent, CACHE_E_CORRUPT otherwise. */
int cache__check(struct cache *c);
/* Non-zero: connections opened afterwards use synchronous=OFF (no fsync at all).  For fuzzing
 * speed only; never set in the daemon. */
extern int cache__test_nosync;
/* Raw SQL (tests only). */
int cache__exec(struct cache *c, const char *sql);

#endif
