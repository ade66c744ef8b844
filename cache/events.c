/*
 * cache/events.c: local usage statistics (suggestions shown, accepted, partially accepted,
 * dismissed; latency; speculative-decoding acceptance; per language) in the events table of the
 * cache database.  One row per client notification; the oldest rows beyond max_stat_events are
 * pruned every 256 inserts.  Nothing here is sent anywhere: `seekd cache stats` reads it.
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int cache_stats_record(struct cache *c, const struct cache_event *ev)
{
    int rc = cache__enter(c);
    if (rc)
        return rc;
    if ((unsigned)ev->kind >= CACHE_EV_COUNT_)
        return -EINVAL;
    char lang[32];
    const char *l = ev->language && ev->language[0] ? ev->language : "unknown";
    size_t n = strnlen(l, sizeof lang - 1);
    memcpy(lang, l, n);
    lang[n] = 0;
    uint32_t acc = ev->accepted_len;
    if (ev->kind == CACHE_EV_ACCEPTED && acc == 0)
        acc = ev->shown_len;
    if (ev->kind == CACHE_EV_SHOWN || ev->kind == CACHE_EV_DISMISSED)
        acc = 0;
    rc = cache__begin(c);
    if (rc)
        return rc;
    sqlite3_stmt *st = cache__stmt(c, ST_EVENT_ADD);
    if (!st) {
        cache__rollback(c);
        return CACHE_E_SQLITE;
    }
    sqlite3_bind_int64(st, 1, cache__wall_ms());
    sqlite3_bind_int(st, 2, (int)ev->kind);
    sqlite3_bind_text(st, 3, lang, (int)n, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, ev->shown_len);
    sqlite3_bind_int64(st, 5, acc);
    sqlite3_bind_int64(st, 6, ev->latency_ms);
    sqlite3_bind_int64(st, 7, ev->spec_drafted);
    sqlite3_bind_int64(st, 8, SK_MIN(ev->spec_accepted, ev->spec_drafted));
    sqlite3_bind_int(st, 9, ev->from_cache != 0);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        rc = cache__err(c, s, "record");
        cache__rollback(c);
        return rc;
    }
    if (++c->n_events % 256 == 0) {
        st = cache__stmt(c, ST_EVENT_PRUNE);
        if (st) {
            sqlite3_bind_int64(st, 1, (int64_t)c->opts.max_stat_events);
            s = sqlite3_step(st);
            sqlite3_reset(st);
            if (s != SQLITE_DONE) {
                rc = cache__err(c, s, "prune");
                cache__rollback(c);
                return rc;
            }
        }
    }
    return cache__commit(c);
}

/* The latency at quantile q (0..1) of shown events, by rank: element floor(q * (n - 1)). */
static int latency_at(struct cache *c, uint64_t n, double q, uint32_t *out)
{
    *out = 0;
    if (!n)
        return 0;
    sqlite3_stmt *st = NULL;
    int s = sqlite3_prepare_v2(c->db, "SELECT latency_ms FROM events WHERE kind = 0 "
                                      "ORDER BY latency_ms LIMIT 1 OFFSET ?1",
                               -1, &st, NULL);
    if (s == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (int64_t)(q * (double)(n - 1)));
        s = sqlite3_step(st);
        if (s == SQLITE_ROW)
            *out = (uint32_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return s == SQLITE_ROW || s == SQLITE_DONE ? 0 : cache__err(c, s, "latency");
}

int cache_stats_summary(struct cache *c, struct cache_stats_summary *out)
{
    memset(out, 0, sizeof *out);
    int s, rc = cache__enter(c);
    if (!rc)
        rc = cache__begin_read(c);
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    s = sqlite3_prepare_v2(c->db,
                           "SELECT kind, count(*), sum(shown_len), sum(accepted_len), "
                           "sum(from_cache), sum(spec_drafted), sum(spec_accepted) "
                           "FROM events GROUP BY kind",
                           -1, &st, NULL);
    if (s != SQLITE_OK) {
        sqlite3_finalize(st);
        st = NULL;
    }
    while (st && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int kind = sqlite3_column_int(st, 0);
        uint64_t cnt = (uint64_t)sqlite3_column_int64(st, 1);
        out->events += cnt;
        out->spec_drafted += (uint64_t)sqlite3_column_int64(st, 5);
        out->spec_accepted += (uint64_t)sqlite3_column_int64(st, 6);
        if (kind == CACHE_EV_SHOWN) {
            out->shown = cnt;
            out->shown_chars = (uint64_t)sqlite3_column_int64(st, 2);
            out->from_cache = (uint64_t)sqlite3_column_int64(st, 4);
        } else if (kind == CACHE_EV_ACCEPTED || kind == CACHE_EV_PARTIAL) {
            *(kind == CACHE_EV_ACCEPTED ? &out->accepted : &out->partial) = cnt;
            out->accepted_chars += (uint64_t)sqlite3_column_int64(st, 3);
        } else if (kind == CACHE_EV_DISMISSED) {
            out->dismissed = cnt;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (s != SQLITE_DONE) {
        rc = cache__err(c, s, "summary");
        goto out;
    }
    rc = latency_at(c, out->shown, 0.5, &out->latency_p50_ms);
    if (!rc)
        rc = latency_at(c, out->shown, 0.95, &out->latency_p95_ms);
    if (rc)
        goto out;
    s = sqlite3_prepare_v2(c->db,
                           "SELECT language, sum(kind = 0), sum(kind = 1), sum(kind = 2), "
                           "sum(kind = 3), sum(CASE WHEN kind IN (1, 2) THEN accepted_len END) "
                           "FROM events GROUP BY language ORDER BY 2 DESC, language LIMIT ?1",
                           -1, &st, NULL);
    if (s != SQLITE_OK) {
        sqlite3_finalize(st);
        st = NULL;
    } else {
        sqlite3_bind_int(st, 1, CACHE_STATS_MAX_LANGS);
    }
    while (st && out->n_langs < CACHE_STATS_MAX_LANGS && (s = sqlite3_step(st)) == SQLITE_ROW) {
        struct cache_stats_lang *L = &out->langs[out->n_langs++];
        const char *name = (const char *)sqlite3_column_text(st, 0);
        snprintf(L->language, sizeof L->language, "%s", name ? name : "");
        L->shown = (uint64_t)sqlite3_column_int64(st, 1);
        L->accepted = (uint64_t)sqlite3_column_int64(st, 2);
        L->partial = (uint64_t)sqlite3_column_int64(st, 3);
        L->dismissed = (uint64_t)sqlite3_column_int64(st, 4);
        L->accepted_chars = (uint64_t)sqlite3_column_int64(st, 5);
    }
    sqlite3_finalize(st);
    if (s != SQLITE_DONE && s != SQLITE_ROW) {
        rc = cache__err(c, s, "summary");
        goto out;
    }
    out->accept_rate = out->shown ? (double)(out->accepted + out->partial) / (double)out->shown : 0.0;
    out->spec_accept_rate =
        out->spec_drafted ? (double)out->spec_accepted / (double)out->spec_drafted : 0.0;
out:
    cache__end_read(c);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}
