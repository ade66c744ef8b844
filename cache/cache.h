/*
 * cache: the persistent completion cache and local usage statistics, in one SQLite database
 * (default $XDG_CACHE_HOME/seekd/cache.db, else ~/.cache/seekd/cache.db).
 *
 * Workload: one lookup per keystroke that reaches the completion pipeline (must answer in well
 * under 2 ms), one insert per generated completion, one statistics row per client notification
 * (shown / accepted / dismissed).  Thousands to tens of thousands of entries, bounded by a size
 * limit with least-recently-used eviction.  Nothing in this module touches the network.
 *
 * Keys.  An entry is keyed by: the model identity (cache_model_identity: a SHA-256 of the GGUF
 * header, tensor table and tensor data samples), the prompt template version, the generation
 * settings string, and the prompt's text parts (context snippets, prefix, suffix), all hashed
 * together with SHA-256.  The texts themselves are not stored, only the completion.
 *
 * Typed-ahead.  cache_get_typed also finds an entry computed at an earlier cursor position when
 * the user has since typed the first characters of its completion (prefix_then + completion
 * starts with prefix_now, same suffix and other parts), and serves the rest.  The lookup is one
 * indexed query for the hashes of the current prefix cut at each of the last CACHE_TYPED_MAX
 * bytes, never a scan.
 *
 * Errors.  Functions that can fail return int: 0 (or a documented positive value) on success,
 * -errno for OS errors, or a negative enum cache_error value.  A NULL cache is a disabled cache:
 * every function accepts it and returns CACHE_E_DISABLED (lookups count as misses, cache_close
 * and cache_entry_free do nothing), so the daemon keeps working when the cache cannot be opened
 * (read-only directory, full disk, newer schema) without special cases.
 *
 * Robustness.  A corrupt or unreadable database file is renamed to <path>.corrupt-<unix time>
 * and rebuilt, with a warning in the log.  Writes are transactions in WAL mode with
 * synchronous=NORMAL: a process killed at any point leaves every committed entry readable.
 * Several processes may share one file; writers wait for each other up to the busy timeout.
 * Files are created 0600 (the -wal and -shm files inherit that mode), the directory 0700.
 *
 * Threads.  A struct cache is one SQLite connection and must be used by one thread at a time.
 * Each thread that needs the cache opens its own (cache_open on the same path); connections in
 * one or many processes share the data safely.
 *
 * Memory.  SQLite allocates through sk_malloc (installed once on the first cache_open), so the
 * allocator's live-byte counters and failure injection cover the cache.
 *
 * Typical use (the completion pipeline, on the thread that owns this connection):
 *
 *     struct cache *c = NULL;
 *     cache_open(NULL, &opts, &c);                 // on failure c stays NULL: cache off
 *     cache_model_identity(c, model_path, model_id);
 *     struct cache_key k = {model_id, "deepseek-fim-1", settings, snip, snip_len,
 *                           prefix, prefix_len, suffix, suffix_len};
 *     struct cache_entry e; size_t typed;
 *     if (cache_get_typed(c, &k, &e, &typed) == 1) { show e.text; cache_entry_free(&e); }
 *     else { generate; cache_put(c, &k, &(struct cache_entry){text, len, tokens, ms}); }
 *     cache_stats_record(c, &(struct cache_event){CACHE_EV_SHOWN, "c", len, 0, latency});
 *     ... when idle: cache_flush(c); at exit: cache_close(c);
 */
#ifndef SEEKD_CACHE_H
#define SEEKD_CACHE_H

#include <stddef.h>
#include <stdint.h>

enum cache_error {
    CACHE_E_DISABLED = -2001, /* NULL cache: the cache is off */
    CACHE_E_SQLITE = -2002,   /* any other SQLite failure (logged) */
    CACHE_E_CORRUPT = -2003,  /* database corrupt and could not be rebuilt */
    CACHE_E_FULL = -2004,     /* disk (or configured page limit) full */
    CACHE_E_READONLY = -2005, /* database or its directory is read-only */
    CACHE_E_BUSY = -2006,     /* another process held the lock past the busy timeout */
    CACHE_E_SCHEMA = -2007,   /* file written by a newer seekd with an unknown schema */
    CACHE_E_NOMEM = -2008,    /* allocation failed (only under failure injection) */
    CACHE_E_TOOBIG = -2009,   /* value larger than the limits allow */
    CACHE_E_FORMAT = -2010,   /* model identity: file too short to identify */
};
/* A static string for any return value of this module (including -errno). */
const char *cache_strerror(int err);

struct cache;

struct cache_opts {
    uint64_t max_bytes;       /* size limit of the stored values; 0 = 64 MiB */
    uint64_t max_entries;     /* 0 = 50000 */
    int busy_timeout_ms;      /* 0 = 2000 */
    uint64_t max_stat_events; /* statistics rows kept (oldest pruned); 0 = 100000 */
};

/* Writes the default database path ($XDG_CACHE_HOME/seekd/cache.db when XDG_CACHE_HOME is an
 * absolute path, else $HOME/.cache/seekd/cache.db) into buf.  Returns 0, -ENOENT when neither
 * variable is usable, or -ENAMETOOLONG. */
int cache_default_path(char *buf, size_t size);

/* Opens (creating if needed) the database at path; NULL path = cache_default_path.  Missing
 * parent directories are created 0700.  opts may be NULL (defaults).  On success *out is a new
 * connection, freed with cache_close.  On failure *out is NULL and the return value says why;
 * the caller may carry on with the NULL (disabled) cache.  A corrupt file is moved aside and
 * rebuilt (success, with a warning). */
int cache_open(const char *path, const struct cache_opts *opts, struct cache **out);
/* Flushes pending hit/miss counters and closes.  NULL is fine. */
void cache_close(struct cache *c);

/* ---- completion entries ------------------------------------------------------------------ */

/* The parts of a key.  Strings may be NULL (= empty).  Lengths are in bytes; the texts are only
 * hashed, never stored, and are not retained after the call. */
struct cache_key {
    const char *model;    /* identity hex from cache_model_identity, or any model tag */
    const char *tmpl;     /* prompt template version, e.g. "deepseek-fim-1" */
    const char *settings; /* generation settings, e.g. "t=0;n=128;ml=1" */
    const char *snippets; /* the cross-file context as placed in the prompt (or a digest of it) */
    size_t snippets_len;
    const char *prefix; /* text before the cursor as placed in the prompt */
    size_t prefix_len;
    const char *suffix; /* text after the cursor as placed in the prompt */
    size_t suffix_len;
};

/* A cached value.  On lookup, text is a NUL-terminated sk_malloc copy owned by the caller
 * (release with cache_entry_free).  Times are wall-clock Unix milliseconds. */
struct cache_entry {
    char *text;
    size_t text_len;     /* bytes, excluding the NUL */
    uint32_t tokens;     /* tokens generated */
    uint32_t compute_ms; /* time it took to compute */
    int64_t created_ms;
    int64_t last_used_ms;
    int accepted; /* 1 if the user accepted it (cache_set_accepted) */
};

/* Largest completion stored (bytes), and how far typed-ahead lookups look back (bytes). */
#define CACHE_MAX_TEXT (64 * 1024)
#define CACHE_TYPED_MAX 64

/* Exact lookup.  Returns 1 on a hit (*entry filled, entry becomes most recently used), 0 on a
 * miss, negative on error (entry zeroed).  Counts a hit or a miss. */
int cache_get(struct cache *c, const struct cache_key *key, struct cache_entry *entry);
/* Exact or typed-ahead lookup: the one a completion request should use (it counts one hit or
 * miss, so don't also call cache_get).  On a hit returns 1, *offset = how many bytes of the
 * stored completion the user has already typed (0 for an exact hit), and entry->text holds the
 * rest of the completion (never empty).  0 on a miss, negative on error.  offset may be NULL. */
int cache_get_typed(struct cache *c, const struct cache_key *key, struct cache_entry *entry,
                    size_t *offset);
/* Stores (or replaces) the value for key: entry->text/text_len, tokens, compute_ms, accepted
 * (the times are set here).  Evicts least recently used entries to stay within the limits.
 * Returns 0, CACHE_E_TOOBIG (empty or longer than CACHE_MAX_TEXT or a quarter of max_bytes),
 * CACHE_E_FULL, CACHE_E_READONLY, CACHE_E_BUSY, ... */
int cache_put(struct cache *c, const struct cache_key *key, const struct cache_entry *entry);
/* Marks the entry for key accepted (1) or not (0).  Returns 0, or 1 when there is no such
 * entry, or negative. */
int cache_set_accepted(struct cache *c, const struct cache_key *key, int accepted);
/* Lookups only read: the hit/miss counters and the LRU touches of hits are kept in memory and
 * written with the connection's next write (put, set_accepted, stats_record, ...), by
 * cache_stats, on close, or by this call, which the daemon makes when idle.  Returns 0 or
 * negative (the pending data is kept for the next attempt). */
int cache_flush(struct cache *c);
/* Frees entry->text and zeroes the entry.  NULL-safe. */
void cache_entry_free(struct cache_entry *entry);

struct cache_stats {
    uint64_t entries;
    uint64_t bytes;      /* stored value bytes (what max_bytes limits) */
    uint64_t file_bytes; /* database pages in use, bytes */
    uint64_t hits, typed_hits, misses; /* typed_hits are included in hits */
    uint64_t evictions;
    double hit_rate; /* hits / (hits + misses), 0 when no lookups */
    uint64_t max_bytes, max_entries;
};
/* Entry counters of this database (all processes, since the last cache_clear). */
int cache_stats(struct cache *c, struct cache_stats *out);
/* Deletes every entry and resets the entry counters; statistics events (cache_stats_record)
 * are kept unless also_events is non-zero.  Remembered model identities are kept. */
int cache_clear(struct cache *c, int also_events);

/* ---- model identity ---------------------------------------------------------------------- */

#define CACHE_ID_HEX_LEN 64
/* Identity of a model file: SHA-256 over its size, the GGUF header, metadata and tensor-info
 * region (up to 64 MiB), and 16 samples of 4 KiB of tensor data at fixed fractions of the data
 * region, read with pread.  A file that does not parse as GGUF is identified by its first 1 MiB
 * and the same samples of the whole file.  Fine-tunes and requantisations get different values.
 * With a cache, the result is remembered by (path, device, inode, size, mtime ns) and reused
 * while those match; c may be NULL (computed each time).  out_hex receives 64 hex digits and a
 * NUL.  Returns 0, -errno, or CACHE_E_FORMAT (empty file). */
int cache_model_identity(struct cache *c, const char *path, char out_hex[CACHE_ID_HEX_LEN + 1]);

/* ---- local statistics -------------------------------------------------------------------- */

enum cache_event_kind {
    CACHE_EV_SHOWN = 0,     /* a suggestion was shown (latency_ms = keystroke to display) */
    CACHE_EV_ACCEPTED = 1,  /* fully accepted (accepted_len = its length) */
    CACHE_EV_PARTIAL = 2,   /* partially accepted (accepted_len = accepted characters) */
    CACHE_EV_DISMISSED = 3, /* rejected / typed over */
    CACHE_EV_COUNT_
};

struct cache_event {
    enum cache_event_kind kind;
    const char *language; /* LSP languageId; NULL = "unknown"; truncated to 31 bytes */
    uint32_t shown_len;   /* characters of the suggestion */
    uint32_t accepted_len;
    uint32_t latency_ms;
    uint32_t spec_drafted;  /* speculative decoding: draft tokens proposed ... */
    uint32_t spec_accepted; /* ... and accepted by the target model */
    int from_cache;         /* served from this cache (including typed-ahead) */
};
/* Appends one event (local only).  Returns 0 or negative. */
int cache_stats_record(struct cache *c, const struct cache_event *ev);

#define CACHE_STATS_MAX_LANGS 16
struct cache_stats_lang {
    char language[32];
    uint64_t shown, accepted, partial, dismissed;
    uint64_t accepted_chars;
};
struct cache_stats_summary {
    uint64_t events;
    uint64_t shown, accepted, partial, dismissed;
    uint64_t shown_chars, accepted_chars; /* over shown / (partially) accepted events */
    uint64_t from_cache;                  /* shown events served from the cache */
    double accept_rate;                   /* (accepted + partial) / shown, 0 if none shown */
    uint32_t latency_p50_ms, latency_p95_ms; /* over shown events */
    uint64_t spec_drafted, spec_accepted;
    double spec_accept_rate; /* spec_accepted / spec_drafted */
    size_t n_langs;          /* most-shown languages first */
    struct cache_stats_lang langs[CACHE_STATS_MAX_LANGS];
};
/* Summarises the kept events.  Returns 0 or negative (out zeroed). */
int cache_stats_summary(struct cache *c, struct cache_stats_summary *out);

#endif
