/*
 * cache/db.c: opening the cache database (directory and file modes, WAL, busy timeout,
 * schema versions, corruption recovery), the prepared-statement table, transactions, and the
 * cache-wide operations (stats, clear).  Entry lookups live in entries.c, model identities in
 * model_id.c, usage statistics in events.c.
 *
 * Open sequence: create missing directories 0700; create the file 0600 ourselves (SQLite gives
 * the -wal and -shm files the mode of the database file); open; switch to WAL; quick_check;
 * create or migrate the schema inside BEGIN IMMEDIATE so that two processes opening a fresh file
 * at once agree.  "File is not a database", corruption and short reads move the file aside and
 * start over once.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- SQLite allocates through sk_malloc ---------------------------------------------------
 * An 8-byte size prefix answers xSize; sk_malloc blocks are 16-aligned, so ours are 8-aligned
 * as SQLite requires. */
static void *sq_malloc(int n)
{
    if (n <= 0)
        return NULL;
    uint64_t *p = sk_malloc((size_t)n + 8);
    if (!p)
        return NULL;
    p[0] = (uint64_t)n;
    return p + 1;
}
static void sq_free(void *p)
{
    if (p)
        sk_free((uint64_t *)p - 1);
}
static void *sq_realloc(void *p, int n)
{
    if (!p)
        return sq_malloc(n);
    if (n <= 0)
        return NULL;
    uint64_t *q = sk_realloc((uint64_t *)p - 1, (size_t)n + 8);
    if (!q)
        return NULL;
    q[0] = (uint64_t)n;
    return q + 1;
}
static int sq_size(void *p) { return p ? (int)((uint64_t *)p)[-1] : 0; }
static int sq_roundup(int n) { return n > INT_MAX - 8 ? n : (n + 7) & ~7; }
static int sq_init(void *ud)
{
    (void)ud;
    return SQLITE_OK;
}
static void sq_shutdown(void *ud) { (void)ud; }

static void sq_log(void *ud, int rc, const char *msg)
{
    (void)ud;
    SK_DEBUG("sqlite (%d): %s", rc, msg);
}

static char typed_sql[64 + 6 * (CACHE_TYPED_MAX + 1) + 200];
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_rc;

static void global_init(void)
{
    static const sqlite3_mem_methods mm = {sq_malloc, sq_free,     sq_realloc, sq_size,
                                           sq_roundup, sq_init, sq_shutdown, NULL};
    /* These fail with SQLITE_MISUSE if SQLite was already initialised by someone else; then it
     * keeps its own allocator, which is harmless. */
    sqlite3_config(SQLITE_CONFIG_MALLOC, &mm);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_config(SQLITE_CONFIG_LOG, sq_log, NULL);
    global_rc = sqlite3_initialize();
    /* The typed-ahead query: key IN (?1, ..., ?CACHE_TYPED_MAX+1). */
    size_t n = (size_t)snprintf(typed_sql, sizeof typed_sql,
                                "SELECT key, completion, tokens, compute_ms, created_ms, "
                                "used_ms, accepted FROM entries WHERE key IN (");
    for (int i = 1; i <= CACHE_TYPED_MAX + 1; i++)
        n += (size_t)snprintf(typed_sql + n, sizeof typed_sql - n, "%s?%d", i > 1 ? "," : "", i);
    snprintf(typed_sql + n, sizeof typed_sql - n, ")");
}

/* ---- errors ------------------------------------------------------------------------------- */

const char *cache_strerror(int err)
{
    switch (err) {
    case 0: return "ok";
    case CACHE_E_DISABLED: return "cache disabled";
    case CACHE_E_SQLITE: return "database error";
    case CACHE_E_CORRUPT: return "database corrupt";
    case CACHE_E_FULL: return "disk full";
    case CACHE_E_READONLY: return "database is read-only";
    case CACHE_E_BUSY: return "database busy (locked by another process)";
    case CACHE_E_SCHEMA: return "database written by a newer seekd";
    case CACHE_E_NOMEM: return "out of memory";
    case CACHE_E_TOOBIG: return "value too large for the cache";
    case CACHE_E_FORMAT: return "file too short to identify";
    default: break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}

int cache__err(struct cache *c, int rc, const char *what)
{
    int e;
    switch (rc & 0xff) {
    case SQLITE_OK: case SQLITE_ROW: case SQLITE_DONE: return 0;
    case SQLITE_FULL: e = CACHE_E_FULL; break;
    case SQLITE_READONLY: e = CACHE_E_READONLY; break;
    case SQLITE_BUSY: case SQLITE_LOCKED: e = CACHE_E_BUSY; break;
    case SQLITE_CORRUPT: case SQLITE_NOTADB: e = CACHE_E_CORRUPT; break;
    case SQLITE_NOMEM: e = CACHE_E_NOMEM; break;
    case SQLITE_TOOBIG: e = CACHE_E_TOOBIG; break;
    case SQLITE_PERM: case SQLITE_AUTH: e = CACHE_E_READONLY; break;
    case SQLITE_CANTOPEN: case SQLITE_IOERR: {
        int se = c && c->db ? sqlite3_system_errno(c->db) : 0;
        if (rc == SQLITE_IOERR_SHORT_READ)
            e = CACHE_E_CORRUPT;
        else if (se == ENOSPC || se == EDQUOT)
            e = CACHE_E_FULL;
        else if (se == EROFS || se == EACCES || se == EPERM)
            e = CACHE_E_READONLY;
        else
            e = se > 0 ? -se : CACHE_E_SQLITE;
        break;
    }
    default: e = CACHE_E_SQLITE; break;
    }
    if (e == CACHE_E_CORRUPT && c && c->db) {
        if (!c->broken)
            SK_WARN("cache: %s: database %s is corrupt; caching disabled until restart", what,
                    c->path);
        c->broken = 1;
    } else if (e != CACHE_E_NOMEM) {
        SK_DEBUG("cache: %s: %s (%s)", what, cache_strerror(e),
                 c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    }
    return e;
}

int64_t cache__wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- statements --------------------------------------------------------------------------- */

static const char *stmt_sql(enum cache__stmt_id id)
{
    switch (id) {
    case ST_GET:
        return "SELECT completion, tokens, compute_ms, created_ms, used_ms, accepted "
               "FROM entries WHERE key = ?1";
    case ST_TYPED: return typed_sql;
    case ST_UPSERT:
        return "INSERT INTO entries(key, completion, tokens, compute_ms, created_ms, used_ms, "
               "accepted, seq, size) VALUES(?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8) "
               "ON CONFLICT(key) DO UPDATE SET completion = excluded.completion, "
               "tokens = excluded.tokens, compute_ms = excluded.compute_ms, "
               "created_ms = excluded.created_ms, used_ms = excluded.used_ms, "
               "accepted = excluded.accepted, seq = excluded.seq, size = excluded.size";
    case ST_TOUCH: return "UPDATE entries SET seq = ?2, used_ms = ?3 WHERE key = ?1";
    case ST_NEXT_SEQ:
        return "UPDATE counters SET value = value + 1 WHERE name = 'seq' RETURNING value";
    case ST_COUNTER_ADD: return "UPDATE counters SET value = value + ?2 WHERE name = ?1";
    case ST_COUNTER_GET: return "SELECT value FROM counters WHERE name = ?1";
    case ST_EVICT_OLDEST:
        return "DELETE FROM entries WHERE key IN "
               "(SELECT key FROM entries WHERE seq < ?2 ORDER BY seq LIMIT ?1)";
    case ST_SET_ACCEPTED: return "UPDATE entries SET accepted = ?2 WHERE key = ?1";
    case ST_MODEL_GET:
        return "SELECT identity FROM models WHERE path = ?1 AND dev = ?2 AND ino = ?3 "
               "AND size = ?4 AND mtime_ns = ?5";
    case ST_MODEL_PUT:
        return "INSERT OR REPLACE INTO models(path, dev, ino, size, mtime_ns, identity, "
               "computed_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    case ST_EVENT_ADD:
        return "INSERT INTO events(time_ms, kind, language, shown_len, accepted_len, latency_ms, "
               "spec_drafted, spec_accepted, from_cache) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)";
    case ST_EVENT_PRUNE:
        return "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?1";
    case ST_BEGIN_WRITE: return "BEGIN IMMEDIATE";
    case ST_BEGIN_READ: return "BEGIN";
    case ST_COMMIT: return "COMMIT";
    case ST_ROLLBACK: return "ROLLBACK";
    case ST_COUNT_: break;
    }
    return NULL;
}

sqlite3_stmt *cache__stmt(struct cache *c, enum cache__stmt_id id)
{
    if (!c->st[id]) {
        int rc = sqlite3_prepare_v3(c->db, stmt_sql(id), -1, SQLITE_PREPARE_PERSISTENT,
                                    &c->st[id], NULL);
        if (rc != SQLITE_OK) {
            cache__err(c, rc, "prepare");
            sqlite3_finalize(c->st[id]);
            c->st[id] = NULL;
            return NULL;
        }
    }
    sqlite3_reset(c->st[id]);
    sqlite3_clear_bindings(c->st[id]);
    return c->st[id];
}

/* Runs a statement to completion, ignoring rows. */
static int step_done(struct cache *c, sqlite3_stmt *st, const char *what)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : cache__err(c, rc, what);
}

int cache__exec(struct cache *c, const char *sql)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : cache__err(c, rc, sql);
}

int cache__counter_add(struct cache *c, const char *name, int64_t delta)
{
    if (!delta)
        return 0;
    sqlite3_stmt *st = cache__stmt(c, ST_COUNTER_ADD);
    if (!st)
        return CACHE_E_SQLITE;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, delta);
    return step_done(c, st, "counter");
}

int cache__counter_get(struct cache *c, const char *name, int64_t *out)
{
    *out = 0;
    sqlite3_stmt *st = cache__stmt(c, ST_COUNTER_GET);
    if (!st)
        return CACHE_E_SQLITE;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : cache__err(c, rc, "counter");
}

/* Writes what lookups left in memory: hit/miss counts and LRU touches.  Inside a transaction. */
static int flush_pending(struct cache *c)
{
    int rc = cache__counter_add(c, "hits", (int64_t)c->pend_hits);
    if (!rc)
        rc = cache__counter_add(c, "typed_hits", (int64_t)c->pend_typed);
    if (!rc)
        rc = cache__counter_add(c, "misses", (int64_t)c->pend_misses);
    int64_t now = cache__wall_ms();
    for (size_t i = 0; !rc && i < c->n_touch; i++) {
        sqlite3_stmt *st = cache__stmt(c, ST_NEXT_SEQ);
        if (!st)
            return CACHE_E_SQLITE;
        int s = sqlite3_step(st);
        int64_t seq = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (s != SQLITE_ROW)
            return cache__err(c, s, "seq");
        st = cache__stmt(c, ST_TOUCH);
        if (!st)
            return CACHE_E_SQLITE;
        sqlite3_bind_blob(st, 1, c->pend_touch[i], 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, seq);
        sqlite3_bind_int64(st, 3, now);
        rc = step_done(c, st, "touch");
    }
    return rc;
}

/* Runs one of the transaction-control statements; falls back to sqlite3_exec if it could not
 * be prepared. */
static int txn_stmt(struct cache *c, enum cache__stmt_id id)
{
    sqlite3_stmt *st = cache__stmt(c, id);
    if (!st)
        return sqlite3_exec(c->db, stmt_sql(id), NULL, NULL, NULL);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int cache__begin(struct cache *c)
{
    int rc = txn_stmt(c, ST_BEGIN_WRITE);
    if (rc != SQLITE_OK)
        return cache__err(c, rc, "begin");
    rc = flush_pending(c);
    if (rc)
        cache__rollback(c);
    return rc;
}

int cache__commit(struct cache *c)
{
    int rc = txn_stmt(c, ST_COMMIT);
    if (rc != SQLITE_OK) {
        rc = cache__err(c, rc, "commit");
        cache__rollback(c);
        return rc;
    }
    c->pend_hits = c->pend_typed = c->pend_misses = 0;
    c->n_touch = 0;
    return 0;
}

void cache__rollback(struct cache *c)
{
    if (!sqlite3_get_autocommit(c->db))
        txn_stmt(c, ST_ROLLBACK);
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

int cache__begin_read(struct cache *c)
{
    int rc = txn_stmt(c, ST_BEGIN_READ);
    return rc == SQLITE_OK ? 0 : cache__err(c, rc, "begin read");
}

void cache__end_read(struct cache *c)
{
    if (!sqlite3_get_autocommit(c->db) && txn_stmt(c, ST_COMMIT) != SQLITE_OK)
        cache__rollback(c);
}

int cache__enter(struct cache *c)
{
    if (!c)
        return CACHE_E_DISABLED;
    if (c->broken)
        return CACHE_E_CORRUPT;
    if (!sqlite3_get_autocommit(c->db)) {
        cache__rollback(c);
        if (!sqlite3_get_autocommit(c->db))
            return CACHE_E_NOMEM;
    }
    return 0;
}

/* ---- schema ------------------------------------------------------------------------------- */

static const char schema_v1[] =
    "CREATE TABLE entries("
    "  key BLOB PRIMARY KEY NOT NULL,"  /* SHA-256 of the key parts (32 bytes) */
    "  completion BLOB NOT NULL,"
    "  tokens INTEGER NOT NULL DEFAULT 0,"
    "  compute_ms INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL,"
    "  used_ms INTEGER NOT NULL,"
    "  accepted INTEGER NOT NULL DEFAULT 0,"
    "  seq INTEGER NOT NULL,"           /* LRU order: larger = more recently used */
    "  size INTEGER NOT NULL"           /* bytes charged against max_bytes */
    ") WITHOUT ROWID;"
    "CREATE INDEX entries_seq ON entries(seq);"
    "CREATE TABLE counters(name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO counters VALUES ('entries', 0), ('bytes', 0), ('hits', 0), ('typed_hits', 0),"
    "  ('misses', 0), ('evictions', 0), ('seq', 0);"
    "CREATE TRIGGER entries_ins AFTER INSERT ON entries BEGIN"
    "  UPDATE counters SET value = value + 1 WHERE name = 'entries';"
    "  UPDATE counters SET value = value + NEW.size WHERE name = 'bytes';"
    "END;"
    "CREATE TRIGGER entries_del AFTER DELETE ON entries BEGIN"
    "  UPDATE counters SET value = value - 1 WHERE name = 'entries';"
    "  UPDATE counters SET value = value - OLD.size WHERE name = 'bytes';"
    "END;"
    "CREATE TRIGGER entries_upd AFTER UPDATE OF size ON entries BEGIN"
    "  UPDATE counters SET value = value - OLD.size + NEW.size WHERE name = 'bytes';"
    "END;"
    "CREATE TABLE models(path TEXT PRIMARY KEY NOT NULL, dev INTEGER NOT NULL,"
    "  ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    "  identity TEXT NOT NULL, computed_ms INTEGER NOT NULL);"
    "CREATE TABLE events(id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, kind INTEGER NOT NULL,"
    "  language TEXT NOT NULL, shown_len INTEGER NOT NULL, accepted_len INTEGER NOT NULL,"
    "  latency_ms INTEGER NOT NULL, spec_drafted INTEGER NOT NULL,"
    "  spec_accepted INTEGER NOT NULL, from_cache INTEGER NOT NULL);"
    "PRAGMA user_version = 1;";

static int user_version(struct cache *c, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        *out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
        rc = rc == SQLITE_ROW ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : cache__err(c, rc, "user_version");
}

/* Drops every object of ours (older schema without a migration path, or a half-made file). */
static int drop_all(struct cache *c)
{
    return cache__exec(c, "DROP TRIGGER IF EXISTS entries_ins; DROP TRIGGER IF EXISTS entries_del;"
                          "DROP TRIGGER IF EXISTS entries_upd; DROP TABLE IF EXISTS entries;"
                          "DROP TABLE IF EXISTS counters; DROP TABLE IF EXISTS models;"
                          "DROP TABLE IF EXISTS events");
}

/* Creates or migrates the schema.  Version 0 is a new (or foreign, table-less) file. */
static int ensure_schema(struct cache *c)
{
    int v = 0;
    int rc = user_version(c, &v);
    if (rc)
        return rc;
    if (v == CACHE_SCHEMA_VERSION)
        return 0;
    if (v > CACHE_SCHEMA_VERSION) {
        SK_WARN("cache: %s has schema version %d, newer than this seekd (%d); cache disabled",
                c->path, v, CACHE_SCHEMA_VERSION);
        return CACHE_E_SCHEMA;
    }
    rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return cache__err(c, rc, "begin schema");
    rc = user_version(c, &v); /* another process may have won the race */
    if (!rc && v != CACHE_SCHEMA_VERSION) {
        if (v > CACHE_SCHEMA_VERSION) {
            rc = CACHE_E_SCHEMA;
        } else {
            /* No migrations exist yet: versions 0 and older rebuild (this is a cache). */
            if (v)
                SK_WARN("cache: rebuilding %s (schema %d -> %d)", c->path, v,
                        CACHE_SCHEMA_VERSION);
            rc = drop_all(c);
            if (!rc)
                rc = cache__exec(c, schema_v1);
        }
    }
    if (!rc) {
        int e = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
        rc = e == SQLITE_OK ? 0 : cache__err(c, e, "commit schema");
    }
    if (rc)
        cache__rollback(c);
    return rc;
}

/* A file claiming our version must hold exactly our objects and every statement must compile;
 * anything else (a foreign or hand-edited database) is treated as corrupt and rebuilt. */
static int verify_schema(struct cache *c)
{
    static const char want[] = "table:counters,table:entries,trigger:entries_del,"
                               "trigger:entries_ins,index:entries_seq,trigger:entries_upd,"
                               "table:events,table:models";
    sqlite3_stmt *q = NULL;
    int ok = 0, src = sqlite3_prepare_v2(c->db,
                                         "SELECT group_concat(type || ':' || name, ',') FROM "
                                         "(SELECT type, name FROM sqlite_schema WHERE name NOT "
                                         "LIKE 'sqlite_%' ORDER BY name, type)",
                                         -1, &q, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(q)) == SQLITE_ROW) {
        const char *got = (const char *)sqlite3_column_text(q, 0);
        ok = got && strcmp(got, want) == 0;
        src = SQLITE_OK;
    }
    sqlite3_finalize(q);
    if (src != SQLITE_OK)
        return cache__err(c, src, "schema");
    for (int i = 0; ok && i < ST_COUNT_; i++)
        ok = cache__stmt(c, (enum cache__stmt_id)i) != NULL;
    if (ok) {
        static const char *names[] = {"entries", "bytes", "hits", "typed_hits", "misses",
                                      "evictions", "seq"};
        for (size_t i = 0; ok && i < SK_ARRAY_LEN(names); i++) {
            sqlite3_stmt *st = cache__stmt(c, ST_COUNTER_GET);
            sqlite3_bind_text(st, 1, names[i], -1, SQLITE_STATIC);
            src = sqlite3_step(st);
            ok = src == SQLITE_ROW;
            sqlite3_reset(st);
        }
    }
    /* Running out of memory (or a busy lock) is not evidence of a foreign file. */
    int ec = sqlite3_errcode(c->db) & 0xff;
    if (!ok && (ec == SQLITE_NOMEM || ec == SQLITE_BUSY || ec == SQLITE_LOCKED || ec == SQLITE_IOERR))
        return cache__err(c, sqlite3_errcode(c->db), "schema");
    if (!ok) {
        SK_WARN("cache: %s does not hold the expected tables", c->path);
        c->broken = 0;
        return CACHE_E_CORRUPT;
    }
    return 0;
}

/* ---- open / close ------------------------------------------------------------------------- */

int cache_default_path(char *buf, size_t size)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, size, "%s/seekd/cache.db", xdg);
    else if (home && home[0] == '/')
        n = snprintf(buf, size, "%s/.cache/seekd/cache.db", home);
    else
        return -ENOENT;
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* mkdir -p of the directory part of path; directories we create are 0700. */
static int make_parent_dirs(const char *path)
{
    char dir[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof dir)
        return -ENAMETOOLONG;
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    for (char *p = dir + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char save = *p;
            *p = 0;
            if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                return errno == EROFS || errno == EACCES ? CACHE_E_READONLY : -errno;
            *p = save;
            if (!save)
                break;
        }
    }
    return 0;
}

static void close_db(struct cache *c)
{
    for (int i = 0; i < ST_COUNT_; i++) {
        sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
    if (c->db)
        sqlite3_close_v2(c->db);
    c->db = NULL;
}

/* One attempt at opening c->path; CACHE_E_CORRUPT means "move aside and retry". */
static int open_db(struct cache *c)
{
    int rc = 0, fd = open(c->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        int e = errno;
        return e == EACCES || e == EROFS || e == EPERM ? CACHE_E_READONLY : -e;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    if (fstat(fd, &st) == 0 && (st.st_mode & 077) && st.st_uid == geteuid())
        fchmod(fd, 0600);
    close(fd);

    int src = sqlite3_open_v2(c->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = c->db ? cache__err(c, src, "open") : CACHE_E_NOMEM;
        goto out;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, c->opts.busy_timeout_ms);
    if (sqlite3_db_readonly(c->db, "main") == 1) {
        rc = CACHE_E_READONLY;
        goto out;
    }
    /* journal_mode is the first statement that reads the file: garbage shows up here. */
    sqlite3_stmt *q = NULL;
    src = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &q, NULL);
    if (src == SQLITE_OK) {
        src = sqlite3_step(q);
        if (src == SQLITE_ROW) {
            const char *m = (const char *)sqlite3_column_text(q, 0);
            if (!m || strcmp(m, "wal") != 0)
                SK_WARN("cache: %s: could not switch to WAL (mode %s)", c->path, m ? m : "?");
            src = SQLITE_OK;
        }
    }
    sqlite3_finalize(q);
    if (src != SQLITE_OK) {
        rc = cache__err(c, src, "journal_mode");
        goto out;
    }
    rc = cache__exec(c, cache__test_nosync ? "PRAGMA synchronous = OFF"
                                           : "PRAGMA synchronous = NORMAL");
    if (rc)
        goto out;
    /* quick_check reads every page once: a truncated or scribbled file fails here rather than
     * in the middle of serving. */
    q = NULL;
    src = sqlite3_prepare_v2(c->db, "PRAGMA quick_check(1)", -1, &q, NULL);
    if (src == SQLITE_OK) {
        src = sqlite3_step(q);
        if (src == SQLITE_ROW) {
            const char *m = (const char *)sqlite3_column_text(q, 0);
            src = m && strcmp(m, "ok") == 0      ? SQLITE_OK
                  : m && strcasestr(m, "out of memory") ? SQLITE_NOMEM
                                                        : SQLITE_CORRUPT;
        }
    }
    sqlite3_finalize(q);
    if (src != SQLITE_OK) {
        rc = cache__err(c, src, "quick_check");
        goto out;
    }
    rc = ensure_schema(c);
    if (!rc)
        rc = verify_schema(c);
    if (rc)
        goto out;
    /* Belt and braces for the side files (they inherit 0600 from the database file). */
    char side[PATH_MAX];
    snprintf(side, sizeof side, "%s-wal", c->path);
    chmod(side, 0600);
    snprintf(side, sizeof side, "%s-shm", c->path);
    chmod(side, 0600);
out:
    if (rc) {
        c->broken = 0;
        close_db(c);
    }
    return rc;
}

/* Renames path (and its -wal/-shm) to path.corrupt-<unix time>[-n]. */
static int move_aside(const char *path)
{
    char dst[PATH_MAX], side[PATH_MAX + 8], dside[PATH_MAX + 8];
    long t = (long)time(NULL);
    struct stat st;
    for (int i = 0; i < 100; i++) {
        int n = i ? snprintf(dst, sizeof dst, "%s.corrupt-%ld-%d", path, t, i)
                  : snprintf(dst, sizeof dst, "%s.corrupt-%ld", path, t);
        if (n < 0 || (size_t)n >= sizeof dst)
            return -ENAMETOOLONG;
        if (lstat(dst, &st) != 0)
            break;
    }
    if (rename(path, dst) != 0)
        return -errno;
    static const char *sfx[] = {"-wal", "-shm"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(side, sizeof side, "%s%s", path, sfx[i]);
        snprintf(dside, sizeof dside, "%s%s", dst, sfx[i]);
        if (rename(side, dside) != 0 && errno != ENOENT)
            unlink(side);
    }
    SK_WARN("cache: %s was corrupt or unreadable; moved to %s and rebuilt", path, dst);
    return 0;
}

int cache_open(const char *path, const struct cache_opts *opts, struct cache **out)
{
    int rc;
    char defpath[PATH_MAX];
    struct cache *c = NULL;
    *out = NULL;
    pthread_once(&global_once, global_init);
    if (global_rc != SQLITE_OK)
        return CACHE_E_NOMEM;
    if (!path) {
        rc = cache_default_path(defpath, sizeof defpath);
        if (rc)
            return rc;
        path = defpath;
    }
    c = sk_calloc(1, sizeof *c);
    if (!c)
        return CACHE_E_NOMEM;
    c->path = sk_strdup(path);
    if (!c->path) {
        rc = CACHE_E_NOMEM;
        goto fail;
    }
    if (opts)
        c->opts = *opts;
    if (!c->opts.max_bytes)
        c->opts.max_bytes = 64ull << 20;
    if (!c->opts.max_entries)
        c->opts.max_entries = 50000;
    if (c->opts.busy_timeout_ms <= 0)
        c->opts.busy_timeout_ms = 2000;
    if (!c->opts.max_stat_events)
        c->opts.max_stat_events = 100000;
    rc = make_parent_dirs(path);
    if (rc)
        goto fail;
    if (path == defpath) {
        /* Our own folder (…/seekd): keep it private even if something else created it.  A
         * caller-chosen path's folder is the caller's business. */
        char *slash = strrchr(defpath, '/');
        struct stat st;
        *slash = 0;
        if (stat(defpath, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 077))
            chmod(defpath, 0700);
        *slash = '/';
    }
    /* Setting up a fresh file (the switch to WAL, the schema) can meet another connection doing
     * the same, and SQLite may answer BUSY there without calling the busy handler: retry the
     * whole open, within the same busy timeout. */
    rc = open_db(c);
    for (int waited = 0; rc == CACHE_E_BUSY && waited < c->opts.busy_timeout_ms; waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        rc = open_db(c);
    }
    if (rc == CACHE_E_CORRUPT) {
        rc = move_aside(path);
        if (!rc)
            rc = open_db(c);
    }
    if (rc)
        goto fail;
    *out = c;
    return 0;
fail:
    if (rc != CACHE_E_NOMEM)
        SK_WARN("cache: cannot open %s: %s; continuing without a cache", path,
                cache_strerror(rc));
    sk_free(c->path);
    sk_free(c);
    return rc;
}

void cache_close(struct cache *c)
{
    if (!c)
        return;
    if (c->db && !c->broken && (c->pend_hits || c->pend_misses || c->n_touch)) {
        if (cache__begin(c) == 0)
            cache__commit(c);
    }
    close_db(c);
    sk_free(c->path);
    sk_free(c);
}

/* ---- cache-wide operations ---------------------------------------------------------------- */

int cache_stats(struct cache *c, struct cache_stats *out)
{
    memset(out, 0, sizeof *out);
    int rc = cache__enter(c);
    if (rc)
        return rc;
    out->max_bytes = c->opts.max_bytes;
    out->max_entries = c->opts.max_entries;
    /* Write what this connection has pending so the figures include it; if the database is
     * busy or read-only, add the pending counts by hand instead. */
    int64_t pend_h = 0, pend_t = 0, pend_m = 0;
    if (c->pend_hits || c->pend_misses || c->n_touch) {
        if (cache__begin(c) != 0 || cache__commit(c) != 0) {
            pend_h = (int64_t)c->pend_hits;
            pend_t = (int64_t)c->pend_typed;
            pend_m = (int64_t)c->pend_misses;
        }
    }
    rc = cache__begin_read(c); /* one consistent snapshot */
    if (rc)
        return rc;
    int64_t v[6];
    static const char *names[] = {"entries", "bytes", "hits", "typed_hits", "misses", "evictions"};
    int err = 0;
    for (int i = 0; i < 6 && !err; i++)
        err = cache__counter_get(c, names[i], &v[i]);
    sqlite3_stmt *q = NULL;
    if (!err && sqlite3_prepare_v2(c->db, "SELECT (SELECT page_count FROM pragma_page_count) - "
                                          "(SELECT freelist_count FROM pragma_freelist_count), "
                                          "(SELECT page_size FROM pragma_page_size)",
                                   -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        out->file_bytes = (uint64_t)sqlite3_column_int64(q, 0) * (uint64_t)sqlite3_column_int64(q, 1);
    sqlite3_finalize(q);
    cache__end_read(c);
    if (err) {
        memset(out, 0, sizeof *out);
        return err;
    }
    out->entries = (uint64_t)SK_MAX(v[0], 0);
    out->bytes = (uint64_t)SK_MAX(v[1], 0);
    out->hits = (uint64_t)SK_MAX(v[2] + pend_h, 0);
    out->typed_hits = (uint64_t)SK_MAX(v[3] + pend_t, 0);
    out->misses = (uint64_t)SK_MAX(v[4] + pend_m, 0);
    out->evictions = (uint64_t)SK_MAX(v[5], 0);
    uint64_t look = out->hits + out->misses;
    out->hit_rate = look ? (double)out->hits / (double)look : 0.0;
    return 0;
}

int cache_clear(struct cache *c, int also_events)
{
    int rc = cache__enter(c);
    if (rc)
        return rc;
    rc = cache__begin(c);
    if (rc)
        return rc;
    rc = cache__exec(c, "DELETE FROM entries;"
                        "UPDATE counters SET value = 0 WHERE name <> 'seq'");
    if (!rc && also_events)
        rc = cache__exec(c, "DELETE FROM events");
    if (rc) {
        cache__rollback(c);
        return rc;
    }
    rc = cache__commit(c);
    c->pend_hits = c->pend_typed = c->pend_misses = 0;
    c->n_touch = 0;
    if (!rc) {
        /* Give the space back; failure (another reader active) is harmless. */
        sqlite3_exec(c->db, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM", NULL, NULL, NULL);
    }
    return rc;
}

/* ---- test hooks --------------------------------------------------------------------------- */

int cache__test_nosync;

long cache__set_page_limit(struct cache *c, long pages)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %ld", pages);
    sqlite3_stmt *q = NULL;
    long r = CACHE_E_SQLITE;
    if (sqlite3_prepare_v2(c->db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        r = (long)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return r;
}

int cache__check(struct cache *c)
{
    sqlite3_stmt *q = NULL;
    int ok = 0;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT (SELECT count(*) FROM entries) = "
                           "  (SELECT value FROM counters WHERE name = 'entries') AND "
                           "(SELECT coalesce(sum(size), 0) FROM entries) = "
                           "  (SELECT value FROM counters WHERE name = 'bytes') AND "
                           "(SELECT quick_check FROM pragma_quick_check) = 'ok'",
                           -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        ok = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return ok ? 0 : CACHE_E_CORRUPT;
}
