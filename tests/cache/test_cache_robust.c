/* Robustness tests of cache/: file modes, corrupt and truncated databases, newer schemas, a
 * read-only directory, a full disk, a busy lock, allocation failures, SIGKILL in the middle of
 * writes, and concurrent writers in several processes. */
#include "base.h"
#include "cache/cache.h"
#include "cache/cache_int.h"
#include "tests/test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", test_tmpdir(), name);
}

static struct cache_key key_n(char *buf, size_t n, int i)
{
    snprintf(buf, n, "int f%d(void) {\n    return ", i);
    struct cache_key k = {.model = "m", .tmpl = "t", .settings = "s", .prefix = buf,
                          .prefix_len = strlen(buf), .suffix = ";\n}\n", .suffix_len = 4};
    return k;
}

static int put_n(struct cache *c, int i)
{
    char p[64], v[64];
    struct cache_key k = key_n(p, sizeof p, i);
    snprintf(v, sizeof v, "%d * 2 + %d", i, i % 7);
    struct cache_entry e = {.text = v, .text_len = strlen(v), .tokens = 3};
    return cache_put(c, &k, &e);
}

/* 1 if entry i is present with its value, 0 if absent; fails on a wrong value. */
static int check_n(struct cache *c, int i)
{
    char p[64], v[64];
    struct cache_key k = key_n(p, sizeof p, i);
    snprintf(v, sizeof v, "%d * 2 + %d", i, i % 7);
    struct cache_entry e;
    int rc = cache_get(c, &k, &e);
    ASSERT_MSG(rc >= 0, "get %d: %s", i, cache_strerror(rc));
    if (rc == 1)
        ASSERT_STR_EQ(e.text, v);
    cache_entry_free(&e);
    return rc;
}

static int count_corrupt_files(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".corrupt-") && !strstr(e->d_name, "-wal") && !strstr(e->d_name, "-shm"))
            n++;
    if (d)
        closedir(d);
    return n;
}

TEST(cache_file_modes_are_private)
{
    umask(0); /* our modes must not depend on the umask */
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/x/seekd", test_tmpdir());
    snprintf(path, sizeof path, "%s/cache.db", dir);
    struct cache *c = NULL;
    ASSERT_EQ(cache_open(path, NULL, &c), 0);
    ASSERT_EQ(put_n(c, 1), 0); /* the WAL exists once something is written */
    struct stat st;
    ASSERT_EQ(stat(dir, &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0700);
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0600);
    const char *side[] = {"-wal", "-shm"};
    for (int i = 0; i < 2; i++) {
        char p[800];
        snprintf(p, sizeof p, "%s%s", path, side[i]);
        ASSERT_MSG(stat(p, &st) == 0, "%s missing: WAL mode not on?", p);
        ASSERT_EQ(st.st_mode & 0777, 0600);
    }
    cache_close(c);
    /* The default location's folder is made private even if it already existed. */
    char xdg[600], def[700];
    snprintf(xdg, sizeof xdg, "%s/xdg", test_tmpdir());
    snprintf(def, sizeof def, "%s/seekd", xdg);
    ASSERT_EQ(mkdir(xdg, 0755), 0);
    ASSERT_EQ(mkdir(def, 0755), 0);
    setenv("XDG_CACHE_HOME", xdg, 1);
    ASSERT_EQ(cache_open(NULL, NULL, &c), 0);
    cache_close(c);
    ASSERT_EQ(stat(def, &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0700);
    snprintf(def, sizeof def, "%s/seekd/cache.db", xdg);
    ASSERT_EQ(stat(def, &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0600);
    ASSERT_EQ(stat(xdg, &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0755); /* not ours to change */
    /* A pre-existing file with loose permissions is tightened. */
    chmod(path, 0644);
    ASSERT_EQ(cache_open(path, NULL, &c), 0);
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(st.st_mode & 0777, 0600);
    cache_close(c);
}

TEST(cache_garbage_file_is_moved_aside_and_rebuilt)
{
    static const struct {
        const char *name;
        size_t len;
        int fill; /* byte value, or -1 for pseudo-random */
    } cases[] = {
        {"text", 5000, 'x'}, {"random", 70000, -1}, {"tiny", 3, 'q'},
        {"sqlite-magic-then-garbage", 4096, -2},
    };
    for (size_t ci = 0; ci < SK_ARRAY_LEN(cases); ci++) {
        char dir[700], path[800];
        snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), cases[ci].name);
        ASSERT_EQ(mkdir(dir, 0700), 0);
        snprintf(path, sizeof path, "%s/cache.db", dir);
        unsigned char *buf = malloc(cases[ci].len);
        uint32_t x = 12345;
        for (size_t i = 0; i < cases[ci].len; i++) {
            x = x * 1103515245 + 12345;
            buf[i] = cases[ci].fill >= 0 ? (unsigned char)cases[ci].fill : (unsigned char)(x >> 16);
        }
        if (cases[ci].fill == -2)
            memcpy(buf, "SQLite format 3", 16);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ASSERT(fd >= 0);
        ASSERT_EQ(write(fd, buf, cases[ci].len), (ssize_t)cases[ci].len);
        close(fd);
        free(buf);
        struct cache *c = NULL;
        int rc = cache_open(path, NULL, &c);
        ASSERT_MSG(rc == 0, "%s: %s", cases[ci].name, cache_strerror(rc));
        ASSERT_EQ(count_corrupt_files(dir), 1);
        ASSERT_EQ(check_n(c, 1), 0);
        ASSERT_EQ(put_n(c, 1), 0);
        ASSERT_EQ(check_n(c, 1), 1);
        ASSERT_EQ(cache__check(c), 0);
        cache_close(c);
    }
}

TEST(cache_truncated_file_is_rebuilt)
{
    char path[700];
    tmp_path(path, sizeof path, "cache.db");
    struct cache *c = NULL;
    ASSERT_EQ(cache_open(path, NULL, &c), 0);
    for (int i = 0; i < 2000; i++)
        ASSERT_EQ(put_n(c, i), 0);
    cache_close(c); /* the last close checkpoints the WAL into the file */
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_GT(st.st_size, 40000);
    off_t cuts[] = {st.st_size / 2, 4096 + 100, 50};
    for (size_t i = 0; i < SK_ARRAY_LEN(cuts); i++) {
        if (i) {
            /* Rebuild a full file for the next cut. */
            ASSERT_EQ(cache_open(path, NULL, &c), 0);
            for (int j = 0; j < 2000; j++)
                ASSERT_EQ(put_n(c, j), 0);
            cache_close(c);
        }
        ASSERT_EQ(truncate(path, cuts[i]), 0);
        int rc = cache_open(path, NULL, &c);
        ASSERT_MSG(rc == 0, "cut at %lld: %s", (long long)cuts[i], cache_strerror(rc));
        ASSERT_EQ(count_corrupt_files(test_tmpdir()), (int)i + 1);
        ASSERT_EQ(cache__check(c), 0);
        struct cache_stats s;
        ASSERT_EQ(cache_stats(c, &s), 0);
        ASSERT_EQ(s.entries, 0);
        ASSERT_EQ(put_n(c, 5), 0);
        ASSERT_EQ(check_n(c, 5), 1);
        cache_close(c);
    }
}

TEST(cache_newer_schema_is_left_alone)
{
    char path[700];
    tmp_path(path, sizeof path, "cache.db");
    struct cache *c = NULL;
    ASSERT_EQ(cache_open(path, NULL, &c), 0);
    ASSERT_EQ(put_n(c, 1), 0);
    ASSERT_EQ(cache__exec(c, "PRAGMA user_version = 99"), 0);
    cache_close(c);
    ASSERT_EQ(cache_open(path, NULL, &c), CACHE_E_SCHEMA);
    ASSERT(c == NULL);
    ASSERT_EQ(count_corrupt_files(test_tmpdir()), 0);
    /* An older (here: unknown 0 with a foreign table) schema is rebuilt. */
    char p2[700];
    tmp_path(p2, sizeof p2, "old.db");
    ASSERT_EQ(cache_open(p2, NULL, &c), 0);
    ASSERT_EQ(cache__exec(c, "DROP TABLE entries; CREATE TABLE entries(x); PRAGMA user_version = 0"), 0);
    cache_close(c);
    ASSERT_EQ(cache_open(p2, NULL, &c), 0);
    ASSERT_EQ(put_n(c, 2), 0);
    ASSERT_EQ(check_n(c, 2), 1);
    ASSERT_EQ(cache__check(c), 0);
    cache_close(c);
}

/* As root, permission bits do not stop writes: the read-only cases run in a child that drops
 * to uid/gid 65534, in a directory of its own under /tmp (the runner's temporary folder is
 * private to root).  Not root: in-process, under test_tmpdir(). */
static char ro_root[600];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void run_unprivileged(void (*body)(void))
{
    if (geteuid() != 0) {
        snprintf(ro_root, sizeof ro_root, "%s", test_tmpdir());
        body();
        return;
    }
    snprintf(ro_root, sizeof ro_root, "/tmp/seekd-cache-ro-XXXXXX");
    ASSERT(mkdtemp(ro_root) != NULL);
    ASSERT_EQ(chown(ro_root, 65534, 65534), 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) {
            fprintf(stderr, "cannot drop privileges: %s\n", strerror(errno));
            _exit(3);
        }
        body();
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    nftw(ro_root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}

static void readonly_body(void)
{
    char dir[700], path[800];
    snprintf(dir, sizeof dir, "%s/ro", ro_root);
    ASSERT_EQ(mkdir(dir, 0700), 0);
    /* The test must be able to fail: confirm the permission bits bind this process. */
    /* An existing database that is read-only, in a read-only directory. */
    snprintf(path, sizeof path, "%s/old.db", dir);
    struct cache *c = NULL;
    ASSERT_EQ(cache_open(path, NULL, &c), 0);
    ASSERT_EQ(put_n(c, 1), 0);
    cache_close(c);
    ASSERT_EQ(chmod(path, 0400), 0);
    ASSERT_EQ(chmod(dir, 0500), 0);
    char probe[800];
    snprintf(probe, sizeof probe, "%s/probe", dir);
    ASSERT_MSG(open(probe, O_WRONLY | O_CREAT, 0600) < 0, "directory is writable: test is void");
    int rc = cache_open(path, NULL, &c);
    ASSERT_MSG(rc == CACHE_E_READONLY, "existing read-only db: %s", cache_strerror(rc));
    ASSERT(c == NULL);
    /* The existing file is untouched (not treated as corrupt). */
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    /* A new database in a read-only directory, and one below it. */
    snprintf(path, sizeof path, "%s/new.db", dir);
    ASSERT_EQ(cache_open(path, NULL, &c), CACHE_E_READONLY);
    snprintf(path, sizeof path, "%s/sub/new.db", dir);
    ASSERT_EQ(cache_open(path, NULL, &c), CACHE_E_READONLY);
    ASSERT(c == NULL);
    /* The daemon carries on with the NULL cache. */
    ASSERT_EQ(put_n(c, 1), CACHE_E_DISABLED);
    char p[64];
    struct cache_key k = key_n(p, sizeof p, 1);
    struct cache_entry e;
    ASSERT_EQ(cache_get_typed(c, &k, &e, NULL), CACHE_E_DISABLED);
    cache_close(c);
    chmod(dir, 0700);
}

TEST(cache_read_only_directory_disables_cache)
{
    run_unprivileged(readonly_body);
}

TEST(cache_disk_full_returns_error_and_keeps_serving)
{
    char path[700];
    tmp_path(path, sizeof path, "cache.db");
    struct cache_opts o = {.max_bytes = 1ull << 30};
    struct cache *c = NULL;
    ASSERT_EQ(cache_open(path, &o, &c), 0);
    ASSERT_EQ(put_n(c, 0), 0);
    ASSERT_GT(cache__set_page_limit(c, 40), 0);
    char big[8000];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = 0;
    int rc = 0, i;
    for (i = 1; i < 1000 && rc == 0; i++) {
        char p[64];
        struct cache_key k = key_n(p, sizeof p, i);
        struct cache_entry e = {.text = big, .text_len = strlen(big)};
        rc = cache_put(c, &k, &e);
    }
    ASSERT_EQ(rc, CACHE_E_FULL);
    ASSERT_GT(i, 3);
    /* Reads still work, the failed write left nothing half-done. */
    ASSERT_EQ(check_n(c, 0), 1);
    ASSERT_EQ(cache__check(c), 0);
    struct cache_stats st;
    ASSERT_EQ(cache_stats(c, &st), 0);
    ASSERT_EQ(st.entries, (uint64_t)i - 1);
    /* Space comes back: writes work again. */
    ASSERT_GT(cache__set_page_limit(c, 100000), 40);
    ASSERT_EQ(put_n(c, 5000), 0);
    ASSERT_EQ(check_n(c, 5000), 1);
    cache_close(c);
}

TEST(cache_busy_lock_fails_writes_not_reads)
{
    char path[700];
    tmp_path(path, sizeof path, "cache.db");
    struct cache_opts o = {.busy_timeout_ms = 50};
    struct cache *a = NULL, *b = NULL;
    ASSERT_EQ(cache_open(path, &o, &a), 0);
    ASSERT_EQ(cache_open(path, &o, &b), 0);
    ASSERT_EQ(put_n(a, 1), 0);
    ASSERT_EQ(cache__exec(a, "BEGIN IMMEDIATE"), 0); /* a holds the write lock */
    ASSERT_EQ(put_n(b, 2), CACHE_E_BUSY);
    ASSERT_EQ(check_n(b, 1), 1); /* WAL readers are not blocked */
    struct cache_event ev = {.kind = CACHE_EV_SHOWN};
    ASSERT_EQ(cache_stats_record(b, &ev), CACHE_E_BUSY);
    ASSERT_EQ(cache__exec(a, "COMMIT"), 0);
    ASSERT_EQ(put_n(b, 2), 0);
    ASSERT_EQ(check_n(a, 2), 1);
    /* b's pending hit counts survived the failed writes. */
    struct cache_stats st;
    ASSERT_EQ(cache_stats(a, &st), 0);
    ASSERT_EQ(st.hits, 2); /* b's hit on 1 and a's on 2 */
    cache_close(a);
    cache_close(b);
}

TEST_T(cache_allocation_failures_never_crash_or_leak, 300)
{
    char path[700];
    tmp_path(path, sizeof path, "cache.db");
    /* Warm-up: SQLite's one-time global state is allocated here, outside the measurement. */
    struct cache *c = NULL;
    ASSERT_EQ(cache_open(path, NULL, &c), 0);
    ASSERT_EQ(put_n(c, 1), 0);
    cache_close(c);
    size_t base = sk_alloc_live_bytes();
    int completed = 0;
    for (long n = 0; n < 5000 && !completed; n += n < 400 ? 1 : 7) {
        sk_alloc_fail_after(n);
        c = NULL;
        int rc = cache_open(path, NULL, &c);
        int ok = rc == 0;
        if (rc == 0) {
            rc = put_n(c, 2);
            ok &= rc == 0;
            char p[64];
            struct cache_key k = key_n(p, sizeof p, 1);
            struct cache_entry e;
            size_t off;
            rc = cache_get_typed(c, &k, &e, &off);
            ok &= rc == 1;
            ASSERT(rc == 1 || rc == 0 || rc < 0);
            if (rc == 1)
                ASSERT_STR_EQ(e.text, "1 * 2 + 1");
            cache_entry_free(&e);
            struct cache_event ev = {.kind = CACHE_EV_SHOWN, .language = "c"};
            ok &= cache_stats_record(c, &ev) == 0;
            char id[CACHE_ID_HEX_LEN + 1];
            ok &= cache_model_identity(c, path, id) == 0;
            cache_close(c);
        } else {
            ASSERT(c == NULL);
        }
        sk_alloc_fail_after(-1);
        ASSERT_MSG(sk_alloc_live_bytes() == base, "leak after failing at %ld: %zu bytes", n,
                   sk_alloc_live_bytes() - base);
        completed = ok;
    }
    ASSERT(completed);
    /* Running out of memory is never mistaken for corruption: the file was never moved. */
    ASSERT_EQ(count_corrupt_files(test_tmpdir()), 0);
    /* And the file is still a good cache. */
    ASSERT_EQ(cache_open(path, NULL, &c), 0);
    ASSERT_EQ(check_n(c, 1), 1);
    ASSERT_EQ(cache__check(c), 0);
    cache_close(c);
}

/* Child: writes entries in a loop and reports each committed index through the pipe. */
static void writer_loop(const char *path, int fd, int first)
{
    struct cache *c = NULL;
    if (cache_open(path, NULL, &c) != 0)
        _exit(2);
    for (int i = first;; i++) {
        if (put_n(c, i) != 0)
            _exit(3);
        if (write(fd, &i, sizeof i) != sizeof i)
            _exit(4);
    }
}

TEST_T(cache_sigkill_during_writes_keeps_committed_entries, 120)
{
    char path[700];
    tmp_path(path, sizeof path, "cache.db");
    for (int round = 0; round < 3; round++) {
        int p[2];
        ASSERT_EQ(pipe(p), 0);
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            writer_loop(path, p[1], round * 100000);
        }
        close(p[1]);
        /* Let it commit a varying number of entries, then kill it mid-stream. */
        int want = 200 + round * 350, got = 0, last = -1, idx;
        int *seen = malloc(sizeof(int) * 200000);
        while (got < want && read(p[0], &idx, sizeof idx) == sizeof idx)
            seen[got++] = last = idx;
        ASSERT_EQ(kill(pid, SIGKILL), 0);
        /* Entries reported after we stopped counting were committed too. */
        while (read(p[0], &idx, sizeof idx) == sizeof idx)
            seen[got++] = last = idx;
        close(p[0]);
        int st;
        waitpid(pid, &st, 0);
        ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        struct cache *c = NULL;
        ASSERT_EQ(cache_open(path, NULL, &c), 0);
        ASSERT_EQ(count_corrupt_files(test_tmpdir()), 0);
        for (int i = 0; i < got; i++)
            ASSERT_MSG(check_n(c, seen[i]) == 1, "round %d: committed entry %d lost", round, seen[i]);
        ASSERT_EQ(cache__check(c), 0);
        struct cache_stats s;
        ASSERT_EQ(cache_stats(c, &s), 0);
        ASSERT_GE(s.entries, (uint64_t)got);
        (void)last;
        free(seen);
        cache_close(c);
    }
}

TEST_T(cache_concurrent_writers_share_the_file, 180)
{
    char path[700];
    tmp_path(path, sizeof path, "cache.db");
    enum { PROCS = 4, EACH = 150 };
    pid_t pids[PROCS];
    for (int w = 0; w < PROCS; w++) {
        pids[w] = fork();
        ASSERT(pids[w] >= 0);
        if (pids[w] == 0) {
            struct cache_opts o = {.busy_timeout_ms = 10000};
            struct cache *c = NULL;
            if (cache_open(path, &o, &c) != 0)
                _exit(2);
            for (int i = 0; i < EACH; i++) {
                int rc = put_n(c, w * 1000 + i);
                if (rc) {
                    fprintf(stderr, "writer %d put %d: %s\n", w, i, cache_strerror(rc));
                    _exit(3);
                }
                /* Read someone else's entries too (hits or misses, never errors). */
                if (check_n(c, ((w + 1) % PROCS) * 1000 + i / 2) < 0)
                    _exit(4);
                if (i % 25 == 0) {
                    struct cache_event ev = {.kind = CACHE_EV_SHOWN, .language = "c"};
                    if (cache_stats_record(c, &ev) != 0)
                        _exit(5);
                }
            }
            cache_close(c);
            _exit(0);
        }
    }
    for (int w = 0; w < PROCS; w++) {
        int st;
        waitpid(pids[w], &st, 0);
        ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d status %d", w, st);
    }
    struct cache *c = NULL;
    ASSERT_EQ(cache_open(path, NULL, &c), 0);
    for (int w = 0; w < PROCS; w++)
        for (int i = 0; i < EACH; i++)
            ASSERT_EQ(check_n(c, w * 1000 + i), 1);
    ASSERT_EQ(cache__check(c), 0);
    struct cache_stats s;
    ASSERT_EQ(cache_stats(c, &s), 0);
    ASSERT_EQ(s.entries, PROCS * EACH);
    /* Every lookup of every process was counted once (+ ours above). */
    ASSERT_EQ(s.hits + s.misses, PROCS * EACH + PROCS * EACH);
    struct cache_stats_summary sum;
    ASSERT_EQ(cache_stats_summary(c, &sum), 0);
    ASSERT_EQ(sum.shown, PROCS * (EACH / 25));
    cache_close(c);
}

/* The threading contract: one connection per thread, any number of threads on one file. */
struct thr_arg {
    const char *path;
    int id, failures;
};

static void *thread_body(void *p)
{
    struct thr_arg *a = p;
    struct cache_opts o = {.busy_timeout_ms = 10000};
    struct cache *c = NULL;
    if (cache_open(a->path, &o, &c) != 0) {
        a->failures++;
        return NULL;
    }
    for (int i = 0; i < 150; i++) {
        if (put_n(c, a->id * 1000 + i) != 0)
            a->failures++;
        char pre[64];
        struct cache_key k = key_n(pre, sizeof pre, ((a->id + 1) % 3) * 1000 + i);
        struct cache_entry e;
        if (cache_get_typed(c, &k, &e, NULL) < 0)
            a->failures++;
        cache_entry_free(&e);
    }
    cache_close(c);
    return NULL;
}

TEST_T(cache_threads_each_with_own_connection, 120)
{
    char path[700];
    tmp_path(path, sizeof path, "cache.db");
    pthread_t t[3];
    struct thr_arg args[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (struct thr_arg){path, i, 0};
        ASSERT_EQ(pthread_create(&t[i], NULL, thread_body, &args[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        ASSERT_EQ(args[i].failures, 0);
    }
    struct cache *c = NULL;
    ASSERT_EQ(cache_open(path, NULL, &c), 0);
    for (int w = 0; w < 3; w++)
        for (int i = 0; i < 150; i++)
            ASSERT_EQ(check_n(c, w * 1000 + i), 1);
    ASSERT_EQ(cache__check(c), 0);
    cache_close(c);
}

TEST(cache_corruption_while_open_disables_then_rebuilds)
{
    char path[700];
    tmp_path(path, sizeof path, "cache.db");
    struct cache *c = NULL;
    ASSERT_EQ(cache_open(path, NULL, &c), 0);
    for (int i = 0; i < 3000; i++)
        ASSERT_EQ(put_n(c, i), 0);
    cache_close(c);
    ASSERT_EQ(cache_open(path, NULL, &c), 0);
    /* Scribble over every page but the first, behind the open connection's back. */
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    int fd = open(path, O_WRONLY);
    ASSERT(fd >= 0);
    char junk[4096];
    memset(junk, 0xA5, sizeof junk);
    for (off_t off = 4096; off < st.st_size; off += 4096)
        ASSERT_EQ(pwrite(fd, junk, sizeof junk, off), (ssize_t)sizeof junk);
    close(fd);
    /* Drop the pages open's quick_check left in the connection's cache, so reads go to disk. */
    ASSERT_EQ(cache__exec(c, "PRAGMA cache_size = 0; PRAGMA shrink_memory"), 0);
    int corrupt = 0;
    for (int i = 0; i < 3000; i += 7) {
        char p[64];
        struct cache_key k = key_n(p, sizeof p, i);
        struct cache_entry e;
        int rc = cache_get_typed(c, &k, &e, NULL);
        ASSERT_MSG(rc == 0 || rc == 1 || rc == CACHE_E_CORRUPT, "rc %d", rc);
        if (rc == 1) {
            char v[64];
            snprintf(v, sizeof v, "%d * 2 + %d", i, i % 7);
            ASSERT_STR_EQ(e.text, v); /* never a wrong value */
        }
        cache_entry_free(&e);
        corrupt |= rc == CACHE_E_CORRUPT;
    }
    ASSERT(corrupt);
    /* Once seen, the connection refuses quickly instead of reading garbage. */
    ASSERT_EQ(put_n(c, 1), CACHE_E_CORRUPT);
    struct cache_stats s;
    ASSERT_EQ(cache_stats(c, &s), CACHE_E_CORRUPT);
    cache_close(c);
    /* The next open moves the file aside and starts over. */
    ASSERT_EQ(cache_open(path, NULL, &c), 0);
    ASSERT_EQ(count_corrupt_files(test_tmpdir()), 1);
    ASSERT_EQ(put_n(c, 1), 0);
    ASSERT_EQ(check_n(c, 1), 1);
    cache_close(c);
}

/* SIGKILL while every put also evicts (a full cache): the file stays consistent and the newest
 * committed entries are there. */
TEST_T(cache_sigkill_during_evicting_writes, 120)
{
    char path[700];
    tmp_path(path, sizeof path, "cache.db");
    enum { LIMIT = 50 };
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        struct cache_opts o = {.max_entries = LIMIT};
        struct cache *c = NULL;
        if (cache_open(path, &o, &c) != 0)
            _exit(2);
        for (int i = 0;; i++) {
            if (put_n(c, i) != 0)
                _exit(3);
            if (write(p[1], &i, sizeof i) != sizeof i)
                _exit(4);
        }
    }
    close(p[1]);
    int got = 0, last = -1, idx;
    while (got < 700 && read(p[0], &idx, sizeof idx) == sizeof idx)
        got++, last = idx;
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    while (read(p[0], &idx, sizeof idx) == sizeof idx)
        got++, last = idx;
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    ASSERT(WIFSIGNALED(st));
    struct cache_opts o = {.max_entries = LIMIT};
    struct cache *c = NULL;
    ASSERT_EQ(cache_open(path, &o, &c), 0);
    ASSERT_EQ(count_corrupt_files(test_tmpdir()), 0);
    ASSERT_EQ(cache__check(c), 0);
    struct cache_stats s;
    ASSERT_EQ(cache_stats(c, &s), 0);
    ASSERT_EQ(s.entries, LIMIT);
    ASSERT_GE(s.evictions, (uint64_t)(last + 1 - LIMIT));
    /* At most one more put than reported can have committed: the newest LIMIT - 1 reported
     * entries must all be present, and the oldest long gone. */
    for (int i = last - (LIMIT - 2); i <= last; i++)
        ASSERT_MSG(check_n(c, i) == 1, "entry %d lost", i);
    ASSERT_EQ(check_n(c, 0), 0);
    cache_close(c);
}
