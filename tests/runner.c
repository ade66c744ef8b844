/*
 * Test runner.  Runs every registered C test, and every executable file in the --ext folders
 * (scripts: node, python, shell), each in its own process with a timeout, at most -j at a time.
 * Exit status 0 = pass, 77 = skipped, anything else (or a signal, or the timeout) = fail.
 * A failing test's output is printed; a passing one's is not.  Ends with the line
 * "N passed, N failed, N skipped" and exits non-zero when anything failed.
 *
 * Usage: seekd-test [-j N] [-v] [--list] [--ext DIR]... [SUBSTRING...]
 */

#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct test {
    const char *name, *file;
    test_fn fn;
    char *ext_path; /* external test script, or NULL */
    int timeout_s;
};

static struct test *tests;
static size_t n_tests, cap_tests;
static char tmpdir_buf[512];

void test__register(const char *name, const char *file, test_fn fn, int timeout_s)
{
    if (n_tests == cap_tests) {
        cap_tests = cap_tests ? cap_tests * 2 : 64;
        tests = realloc(tests, cap_tests * sizeof *tests);
        if (!tests)
            abort();
    }
    tests[n_tests++] = (struct test){name, file, fn, NULL, timeout_s};
}

const char *test_shared_path(const char *rel)
{
    static char buf[1024];
    const char *root = getenv("SEEKD_SHARED");
    if (!root)
        root = "../shared";
    struct stat st;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    snprintf(buf, sizeof buf, "%s/%s", root, rel);
    return buf;
}

const char *test_tmpdir(void) { return tmpdir_buf; }

struct running {
    pid_t pid;
    size_t idx;
    int out_fd;
    char out_path[512];
    struct timespec start;
};

static int matches(const struct test *t, int argc, char **argv, int first)
{
    if (first >= argc)
        return 1;
    for (int i = first; i < argc; i++)
        if (strstr(t->name, argv[i]) || strstr(t->file, argv[i]))
            return 1;
    return 0;
}

static void add_ext_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    while ((e = readdir(d))) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            !(st.st_mode & S_IXUSR))
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(path);
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (size_t i = 0; i < n; i++) {
        const char *base = strrchr(names[i], '/') + 1;
        test__register(base, names[i], NULL, 900);
        tests[n_tests - 1].ext_path = names[i];
    }
    free(names);
}

static void rm_rf(const char *path)
{
    pid_t p = fork();
    if (p == 0) {
        execlp("rm", "rm", "-rf", path, (char *)NULL);
        _exit(127);
    }
    if (p > 0)
        waitpid(p, NULL, 0);
}

static double elapsed(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

int main(int argc, char **argv)
{
    int jobs = 1, verbose = 0, list = 0, first = 1;
    while (first < argc && argv[first][0] == '-') {
        if (!strcmp(argv[first], "-j") && first + 1 < argc) {
            jobs = atoi(argv[first + 1]);
            first += 2;
        } else if (!strcmp(argv[first], "--ext") && first + 1 < argc) {
            add_ext_dir(argv[first + 1]);
            first += 2;
        } else if (!strcmp(argv[first], "-v")) {
            verbose = 1;
            first++;
        } else if (!strcmp(argv[first], "--list")) {
            list = 1;
            first++;
        } else {
            fprintf(stderr, "usage: %s [-j N] [-v] [--list] [--ext DIR]... [SUBSTRING...]\n",
                    argv[0]);
            return 2;
        }
    }
    if (jobs < 1)
        jobs = 1;
    if (list) {
        for (size_t i = 0; i < n_tests; i++)
            if (matches(&tests[i], argc, argv, first))
                printf("%s\t%s\n", tests[i].name, tests[i].file);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    char root[128];
    snprintf(root, sizeof root, "/tmp/seekd-test.%d", (int)getpid());
    mkdir(root, 0700);

    struct running *run = calloc((size_t)jobs, sizeof *run);
    size_t next = 0, passed = 0, failed = 0, skipped = 0, active = 0;
    char **failures = calloc(n_tests + 1, sizeof *failures);
    size_t n_fail = 0;
    for (;;) {
        while ((int)active < jobs && next < n_tests) {
            size_t i = next++;
            if (!matches(&tests[i], argc, argv, first))
                continue;
            int slot = 0;
            while (run[slot].pid)
                slot++;
            struct running *r = &run[slot];
            snprintf(r->out_path, sizeof r->out_path, "%s/%zu.out", root, i);
            char dir[512];
            snprintf(dir, sizeof dir, "%s/%zu.d", root, i);
            mkdir(dir, 0700);
            r->out_fd = open(r->out_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
            r->idx = i;
            clock_gettime(CLOCK_MONOTONIC, &r->start);
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) {
                setpgid(0, 0);
                dup2(r->out_fd, 1);
                dup2(r->out_fd, 2);
                snprintf(tmpdir_buf, sizeof tmpdir_buf, "%s", dir);
                setenv("SEEKD_TEST_TMPDIR", dir, 1);
                alarm((unsigned)tests[i].timeout_s);
                if (tests[i].ext_path) {
                    execl(tests[i].ext_path, tests[i].ext_path, (char *)NULL);
                    perror("exec");
                    _exit(127);
                }
                tests[i].fn();
                exit(0); /* not _exit: LeakSanitizer checks the test at exit */
            }
            r->pid = pid;
            active++;
        }
        if (active == 0)
            break;
        int status;
        pid_t pid = wait(&status);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        int slot = -1;
        for (int s = 0; s < jobs; s++)
            if (run[s].pid == pid)
                slot = s;
        if (slot < 0)
            continue;
        struct running *r = &run[slot];
        kill(-pid, SIGKILL); /* anything the test left running */
        const struct test *t = &tests[r->idx];
        double secs = elapsed(&r->start);
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        const char *verdict;
        if (code == 0) {
            verdict = "ok  ";
            passed++;
        } else if (code == 77) {
            verdict = "skip";
            skipped++;
        } else {
            verdict = "FAIL";
            failed++;
            failures[n_fail++] = strdup(t->name);
        }
        char why[64] = "";
        if (WIFSIGNALED(status))
            snprintf(why, sizeof why, " (signal %d%s)", WTERMSIG(status),
                     WTERMSIG(status) == SIGALRM ? ", timeout" : "");
        else if (code != 0 && code != 77)
            snprintf(why, sizeof why, " (exit %d)", code);
        printf("%s %-48s %7.2fs%s\n", verdict, t->name, secs, why);
        if (code != 0 || verbose) {
            lseek(r->out_fd, 0, SEEK_SET);
            char buf[4096];
            ssize_t n;
            size_t total = 0;
            while ((n = read(r->out_fd, buf, sizeof buf)) > 0 && total < 64 * 1024) {
                for (ssize_t k = 0; k < n; k++) {
                    if (k == 0 || buf[k - 1] == '\n')
                        fputs("     | ", stdout);
                    putchar(buf[k]);
                }
                total += (size_t)n;
            }
            if (total && buf[0])
                putchar('\n');
        }
        close(r->out_fd);
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%zu.d", root, r->idx);
        rm_rf(dir);
        unlink(r->out_path);
        r->pid = 0;
        active--;
    }
    rm_rf(root);
    for (size_t i = 0; i < n_fail; i++) {
        printf("failed: %s\n", failures[i]);
        free(failures[i]);
    }
    free(failures);
    free(run);
    for (size_t i = 0; i < n_tests; i++)
        free(tests[i].ext_path);
    free(tests);
    printf("%zu passed, %zu failed, %zu skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
