/* Tests of `seekd cache stats|clear` (daemon/cmd_cache.c), called in-process with stdout
 * captured to a file. */
#include "base.h"
#include "cache/cache.h"
#include "daemon/commands.h"
#include "tests/test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs cmd_cache with the given arguments; returns its exit code and stdout (static buffer). */
static int run(const char **args, int n, const char **out)
{
    static char buf[8192];
    char path[700];
    snprintf(path, sizeof path, "%s/stdout.txt", test_tmpdir());
    fflush(stdout);
    int saved = dup(1), fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ASSERT(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    char *argv[16];
    argv[0] = "cache";
    for (int i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    int rc = cmd_cache(n + 1, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    buf[got > 0 ? got : 0] = 0;
    *out = buf;
    return rc;
}

static void fill(const char *db)
{
    struct cache *c = NULL;
    ASSERT_EQ(cache_open(db, NULL, &c), 0);
    for (int i = 0; i < 3; i++) {
        char p[16];
        snprintf(p, sizeof p, "p%d", i);
        struct cache_key k = {.prefix = p, .prefix_len = strlen(p)};
        struct cache_entry e = {.text = "abc", .text_len = 3};
        ASSERT_EQ(cache_put(c, &k, &e), 0);
        struct cache_entry g;
        ASSERT_EQ(cache_get(c, &k, &g), 1);
        cache_entry_free(&g);
    }
    struct cache_key miss = {.prefix = "zz", .prefix_len = 2};
    struct cache_entry g;
    ASSERT_EQ(cache_get(c, &miss, &g), 0);
    struct cache_event ev = {.kind = CACHE_EV_SHOWN, .language = "we\"ird", .shown_len = 3,
                             .latency_ms = 42, .spec_drafted = 4, .spec_accepted = 3};
    ASSERT_EQ(cache_stats_record(c, &ev), 0);
    ev.kind = CACHE_EV_ACCEPTED;
    ASSERT_EQ(cache_stats_record(c, &ev), 0);
    cache_close(c);
}

TEST(cache_cli_stats_and_clear)
{
    char db[700];
    snprintf(db, sizeof db, "%s/c.db", test_tmpdir());
    fill(db);
    const char *out;
    const char *a1[] = {"stats", "--json", "--db", db};
    ASSERT_EQ(run(a1, 4, &out), 0);
    ASSERT_MSG(strstr(out, "\"entries\":3,"), "%s", out);
    ASSERT_MSG(strstr(out, "\"hits\":3,\"typed_hits\":0,\"misses\":1,\"hit_rate\":0.7500"), "%s", out);
    ASSERT_MSG(strstr(out, "\"shown\":1,\"accepted\":1,"), "%s", out);
    ASSERT_MSG(strstr(out, "\"latency_p50_ms\":42,"), "%s", out);
    ASSERT_MSG(strstr(out, "\"spec_accept_rate\":0.7500"), "%s", out);
    ASSERT_MSG(strstr(out, "{\"language\":\"we\\\"ird\",\"shown\":1,"), "%s", out);
    ASSERT_EQ(out[strlen(out) - 2], '}');

    const char *a2[] = {"stats", "--db", db};
    ASSERT_EQ(run(a2, 3, &out), 0);
    ASSERT_MSG(strstr(out, "entries:      3 (limit 50000)"), "%s", out);
    ASSERT_MSG(strstr(out, "hit rate 75.0%"), "%s", out);
    ASSERT_MSG(strstr(out, "1 shown (0 from the cache), 1 accepted"), "%s", out);

    const char *a3[] = {"clear", "--db", db};
    ASSERT_EQ(run(a3, 3, &out), 0);
    ASSERT_MSG(strstr(out, "cleared 3 entries from"), "%s", out);
    ASSERT_EQ(run(a1, 4, &out), 0);
    ASSERT_MSG(strstr(out, "\"entries\":0,"), "%s", out);
    ASSERT_MSG(strstr(out, "\"hits\":0,"), "%s", out);
    ASSERT_MSG(strstr(out, "\"shown\":1,"), "%s", out); /* statistics kept */
    const char *a4[] = {"clear", "--events", "--db", db};
    ASSERT_EQ(run(a4, 4, &out), 0);
    ASSERT_EQ(run(a1, 4, &out), 0);
    ASSERT_MSG(strstr(out, "\"events\":0,"), "%s", out);
}

TEST(cache_cli_usage_errors)
{
    const char *out;
    const char *bad1[] = {"frobnicate"};
    ASSERT_EQ(run(bad1, 1, &out), 2);
    const char *bad2[] = {"stats", "--events"};
    ASSERT_EQ(run(bad2, 2, &out), 2);
    const char *bad3[] = {"clear", "--db"};
    ASSERT_EQ(run(bad3, 2, &out), 2);
    ASSERT_EQ(run(NULL, 0, &out), 2);
    const char *help[] = {"--help"};
    ASSERT_EQ(run(help, 1, &out), 0);
    ASSERT(strstr(out, "seekd cache stats"));
    /* An unopenable location is exit code 1 with a message, not a crash. */
    const char *ro[] = {"stats", "--db", "/proc/seekd-no/such.db"};
    ASSERT_EQ(run(ro, 3, &out), 1);
    /* Default location from XDG_CACHE_HOME. */
    char xdg[700];
    snprintf(xdg, sizeof xdg, "%s/xdg", test_tmpdir());
    setenv("XDG_CACHE_HOME", xdg, 1);
    const char *def[] = {"stats", "--json"};
    ASSERT_EQ(run(def, 2, &out), 0);
    char want[800];
    snprintf(want, sizeof want, "{\"path\":\"%s/seekd/cache.db\"", xdg);
    ASSERT_MSG(strncmp(out, want, strlen(want)) == 0, "%s", out);
}
