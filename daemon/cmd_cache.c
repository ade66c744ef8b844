/*
 * `seekd cache stats [--json] [--db PATH]` and `seekd cache clear [--events] [--db PATH]`: show
 * or reset the completion cache and the local usage statistics kept beside it.  Everything
 * shown comes from the local database; nothing is sent anywhere.
 */
#include "base.h"
#include "cache/cache.h"
#include "daemon/commands.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: seekd cache stats [--json] [--db PATH]\n"
                "       seekd cache clear [--events] [--db PATH]\n\n"
                "  stats     entries, size, hit rate, and completion statistics (shown,\n"
                "            accepted, latency, speculative acceptance, per language)\n"
                "  clear     delete every cached completion (--events: also the statistics)\n"
                "  --db PATH database file (default $XDG_CACHE_HOME/seekd/cache.db)\n");
}

static void json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(fp, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(fp, "\\u%04x", *p);
        else
            fputc(*p, fp);
    }
    fputc('"', fp);
}

static void human_bytes(char *buf, size_t n, uint64_t b)
{
    if (b < 1024)
        snprintf(buf, n, "%llu B", (unsigned long long)b);
    else if (b < 1024 * 1024)
        snprintf(buf, n, "%.1f KiB", (double)b / 1024.0);
    else
        snprintf(buf, n, "%.1f MiB", (double)b / (1024.0 * 1024.0));
}

static void print_json(const char *path, const struct cache_stats *st,
                       const struct cache_stats_summary *s)
{
    FILE *o = stdout;
    fprintf(o, "{\"path\":");
    json_str(o, path);
    fprintf(o,
            ",\"entries\":%llu,\"bytes\":%llu,\"file_bytes\":%llu,\"max_entries\":%llu,"
            "\"max_bytes\":%llu,\"hits\":%llu,\"typed_hits\":%llu,\"misses\":%llu,"
            "\"hit_rate\":%.4f,\"evictions\":%llu,",
            (unsigned long long)st->entries, (unsigned long long)st->bytes,
            (unsigned long long)st->file_bytes, (unsigned long long)st->max_entries,
            (unsigned long long)st->max_bytes, (unsigned long long)st->hits,
            (unsigned long long)st->typed_hits, (unsigned long long)st->misses, st->hit_rate,
            (unsigned long long)st->evictions);
    fprintf(o,
            "\"completions\":{\"events\":%llu,\"shown\":%llu,\"accepted\":%llu,\"partial\":%llu,"
            "\"dismissed\":%llu,\"shown_chars\":%llu,\"accepted_chars\":%llu,"
            "\"from_cache\":%llu,\"accept_rate\":%.4f,\"latency_p50_ms\":%u,"
            "\"latency_p95_ms\":%u,\"spec_drafted\":%llu,\"spec_accepted\":%llu,"
            "\"spec_accept_rate\":%.4f,\"languages\":[",
            (unsigned long long)s->events, (unsigned long long)s->shown,
            (unsigned long long)s->accepted, (unsigned long long)s->partial,
            (unsigned long long)s->dismissed, (unsigned long long)s->shown_chars,
            (unsigned long long)s->accepted_chars, (unsigned long long)s->from_cache,
            s->accept_rate, s->latency_p50_ms, s->latency_p95_ms,
            (unsigned long long)s->spec_drafted, (unsigned long long)s->spec_accepted,
            s->spec_accept_rate);
    for (size_t i = 0; i < s->n_langs; i++) {
        const struct cache_stats_lang *L = &s->langs[i];
        fprintf(o, "%s{\"language\":", i ? "," : "");
        json_str(o, L->language);
        fprintf(o, ",\"shown\":%llu,\"accepted\":%llu,\"partial\":%llu,\"dismissed\":%llu,"
                   "\"accepted_chars\":%llu}",
                (unsigned long long)L->shown, (unsigned long long)L->accepted,
                (unsigned long long)L->partial, (unsigned long long)L->dismissed,
                (unsigned long long)L->accepted_chars);
    }
    fprintf(o, "]}}\n");
}

static void print_human(const char *path, const struct cache_stats *st,
                        const struct cache_stats_summary *s)
{
    char b1[32], b2[32], b3[32];
    human_bytes(b1, sizeof b1, st->bytes);
    human_bytes(b2, sizeof b2, st->max_bytes);
    human_bytes(b3, sizeof b3, st->file_bytes);
    printf("cache:        %s\n", path);
    printf("entries:      %llu (limit %llu)\n", (unsigned long long)st->entries,
           (unsigned long long)st->max_entries);
    printf("size:         %s of completions (limit %s), database %s\n", b1, b2, b3);
    printf("lookups:      %llu hits (%llu typed-ahead), %llu misses, hit rate %.1f%%\n",
           (unsigned long long)st->hits, (unsigned long long)st->typed_hits,
           (unsigned long long)st->misses, st->hit_rate * 100.0);
    printf("evictions:    %llu\n", (unsigned long long)st->evictions);
    printf("suggestions:  %llu shown (%llu from the cache), %llu accepted, %llu partially "
           "accepted, %llu dismissed; acceptance %.1f%%\n",
           (unsigned long long)s->shown, (unsigned long long)s->from_cache,
           (unsigned long long)s->accepted, (unsigned long long)s->partial,
           (unsigned long long)s->dismissed, s->accept_rate * 100.0);
    printf("characters:   %llu shown, %llu accepted\n", (unsigned long long)s->shown_chars,
           (unsigned long long)s->accepted_chars);
    printf("latency:      p50 %u ms, p95 %u ms (keystroke to suggestion)\n", s->latency_p50_ms,
           s->latency_p95_ms);
    printf("speculative:  %llu draft tokens, %llu accepted (%.1f%%)\n",
           (unsigned long long)s->spec_drafted, (unsigned long long)s->spec_accepted,
           s->spec_accept_rate * 100.0);
    for (size_t i = 0; i < s->n_langs; i++) {
        const struct cache_stats_lang *L = &s->langs[i];
        printf("%-13s %s: %llu shown, %llu accepted, %llu partial, %llu dismissed, %llu chars "
               "accepted\n",
               i ? "" : "languages:", L->language, (unsigned long long)L->shown,
               (unsigned long long)L->accepted, (unsigned long long)L->partial,
               (unsigned long long)L->dismissed, (unsigned long long)L->accepted_chars);
    }
}

int cmd_cache(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL, *db = NULL;
    int json = 0, events = 0;
    if (!sub || !strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        usage(sub ? stdout : stderr);
        return sub ? 0 : 2;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json") && !strcmp(sub, "stats")) {
            json = 1;
        } else if (!strcmp(argv[i], "--events") && !strcmp(sub, "clear")) {
            events = 1;
        } else if (!strcmp(argv[i], "--db") && i + 1 < argc) {
            db = argv[++i];
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "seekd cache: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (strcmp(sub, "stats") != 0 && strcmp(sub, "clear") != 0) {
        fprintf(stderr, "seekd cache: unknown subcommand '%s'\n", sub);
        usage(stderr);
        return 2;
    }
    char path[4096];
    if (!db) {
        int rc = cache_default_path(path, sizeof path);
        if (rc) {
            fprintf(stderr, "seekd cache: no cache location (set XDG_CACHE_HOME or HOME)\n");
            return 1;
        }
    } else {
        snprintf(path, sizeof path, "%s", db);
    }
    struct cache *c = NULL;
    int rc = cache_open(path, NULL, &c);
    if (rc) {
        fprintf(stderr, "seekd cache: cannot open %s: %s\n", path, cache_strerror(rc));
        return 1;
    }
    int ret = 0;
    if (!strcmp(sub, "clear")) {
        struct cache_stats st;
        cache_stats(c, &st);
        rc = cache_clear(c, events);
        if (rc) {
            fprintf(stderr, "seekd cache: clear failed: %s\n", cache_strerror(rc));
            ret = 1;
        } else {
            printf("cleared %llu entries%s from %s\n", (unsigned long long)st.entries,
                   events ? " and the statistics" : "", path);
        }
    } else {
        struct cache_stats st;
        struct cache_stats_summary sum;
        rc = cache_stats(c, &st);
        if (!rc)
            rc = cache_stats_summary(c, &sum);
        if (rc) {
            fprintf(stderr, "seekd cache: cannot read statistics: %s\n", cache_strerror(rc));
            ret = 1;
        } else if (json) {
            print_json(path, &st, &sum);
        } else {
            print_human(path, &st, &sum);
        }
    }
    cache_close(c);
    return ret;
}
