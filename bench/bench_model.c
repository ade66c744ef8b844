/*
 * bench_model: the forward pass end to end through `seekd bench` on random-weight models made
 * by tools/make_model.py (kept in build/bench-models/ so later runs skip the generation).
 * Prints, per model: prompt (pp) and decode (tg) tokens/s, decode as a share of the read
 * bandwidth measured in the same run, the k-token pass ratio for k+1 = 1..17, peak RSS.
 *
 * Models: env SEEKD_BENCH_MODELS, space-separated PRESET:TYPE (default
 * "tiny:Q4_0 coder-1.3b:Q4_0 coder-1.3b:Q8_0 coder-1.3b:Q4_K_M"); SEEKD_BENCH_REPS (default 5);
 * SEEKD_BENCH_ARGS: extra `seekd bench` options, space-separated (e.g. "--max-load 4 --wait 0";
 * by default seekd bench waits up to 120 s for a 1-minute load average below 0.75 x cores and
 * otherwise refuses to time).
 * The seekd binary comes from SEEKD_BIN (make bench sets it).
 */
#include "base.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

static int run(char *const argv[])
{
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
    if (rc) {
        fprintf(stderr, "bench_model: spawn %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void)
{
    const char *seekd = getenv("SEEKD_BIN");
    if (!seekd) {
        fprintf(stderr, "bench_model: SEEKD_BIN is not set (run through make bench)\n");
        return 1;
    }
    const char *list = getenv("SEEKD_BENCH_MODELS");
    if (!list)
        list = "tiny:Q4_0 coder-1.3b:Q4_0 coder-1.3b:Q8_0 coder-1.3b:Q4_K_M";
    const char *reps = getenv("SEEKD_BENCH_REPS");
    if (!reps)
        reps = "5";
    mkdir("build/bench-models", 0700);
    char *copy = sk_strdup(list), *save = NULL;
    if (!copy)
        return 1;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *colon = strchr(tok, ':');
        if (!colon) {
            fprintf(stderr, "bench_model: bad entry %s (want PRESET:TYPE)\n", tok);
            continue;
        }
        *colon = 0;
        const char *preset = tok, *type = colon + 1;
        char path[512];
        snprintf(path, sizeof path, "build/bench-models/%s-%s.gguf", preset, type);
        struct stat st;
        if (stat(path, &st) != 0) {
            printf("== generating %s (tools/make_model.py)\n", path);
            fflush(stdout);
            char *mk[] = {"/usr/bin/python3", "tools/make_model.py", path, "--preset",
                          (char *)preset, "--type", (char *)type, "--seed", "1", NULL};
            if (run(mk) != 0) {
                fprintf(stderr, "bench_model: generating %s failed\n", path);
                continue;
            }
        }
        int tiny = !strcmp(preset, "tiny");
        printf("== %s %s\n", preset, type);
        fflush(stdout);
        char *b[48] = {(char *)seekd, "bench", "--model", path, "--threads", "2", "-p",
                       tiny ? "128" : "512", "-n", tiny ? "64" : "128", "--reps", (char *)reps};
        int nb = 12;
        char *extra = getenv("SEEKD_BENCH_ARGS") ? sk_strdup(getenv("SEEKD_BENCH_ARGS")) : NULL;
        char *sv2 = NULL;
        for (char *e = extra ? strtok_r(extra, " ", &sv2) : NULL; e && nb < 46;
             e = strtok_r(NULL, " ", &sv2))
            b[nb++] = e;
        b[nb] = NULL;
        int rc = run(b);
        sk_free(extra);
        if (rc)
            printf("(seekd bench exited with %d)\n", rc);
        fflush(stdout);
    }
    sk_free(copy);
    return 0;
}
