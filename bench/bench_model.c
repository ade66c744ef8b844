/*
 * bench_model: the forward pass end to end through `seekd bench` on random-weight models of
 * DeepSeek shapes made by tools/make_model.py (kept in build/bench-models/; `make bench-models`
 * makes them all, and this program makes any that is missing, before it times anything).
 * Prints, per model, what `seekd bench` prints (prompt (pp) and decode (tg) tokens/s, decode as
 * a share of the read bandwidth measured in the same run, alternating, medians; the k-token
 * pass ratio for k+1 = 1..17; peak RSS), then one table of those figures next to llama.cpp's
 * (issue 5: llama-bench at build 4748, 2 threads, same machine class, about 31 GB/s).
 *
 * Models: env SEEKD_BENCH_MODELS, space-separated PRESET:TYPE (default
 * "coder-1.3b:Q4_0 coder-1.3b:Q8_0 coder-1.3b:Q4_K_M llm-7b:Q4_0"); llm-* presets run pp128 /
 * tg32 as llama.cpp's 7B row and k+1 up to 9 (bench_spec measures the 7B's V(k) to 16), the
 * others pp512 / tg128 and k+1 up to 17.  SEEKD_BENCH_REPS (default 5);
 * SEEKD_BENCH_ARGS: extra `seekd bench` options, space-separated (e.g. "--kmax 9").
 * seekd bench refuses to time a busy machine (SEEKD_BENCH_FORCE=1 overrides, for development,
 * and marks the figures NOT VALID).  The seekd binary comes from SEEKD_BIN (make bench sets it).
 * Exit status: 0, or 3 if some model was not timed (busy machine) or failed.
 */
#include "base.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* llama.cpp's figures from issue 5 (tokens/s) */
static const struct {
    const char *preset, *type;
    double pp, tg_lo, tg_hi;
} llama[] = {
    {"coder-1.3b", "Q4_0", 73, 35.5, 35.5},
    {"coder-1.3b", "Q8_0", 74, 21.2, 21.2},
    {"coder-1.3b", "Q4_K_M", 53, 25.5, 25.5},
    {"llm-7b", "Q4_0", 17.6, 6.5, 8.6},
};
#define LLAMA_BW 31e9 /* bytes/s, llama.cpp's machine, two threads */

struct result {
    char name[64];
    int ok, valid;
    long pp_n, tg_n;
    double pp, tg, bw, wbytes, tg_pct, k9, rss;
};

static int wait_child(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) != pid)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run(char *const argv[])
{
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
    if (rc) {
        fprintf(stderr, "bench_model: spawn %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    return wait_child(pid);
}

/* Runs argv with its stdout through a pipe: every line is echoed, the `summary:` line parsed. */
static int run_capture(char *const argv[], struct result *res)
{
    int fd[2];
    if (pipe(fd))
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (rc) {
        close(fd[0]);
        fprintf(stderr, "bench_model: spawn %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    FILE *f = fdopen(fd[0], "r");
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
        fputs(line, stdout);
        fflush(stdout);
        const char *p = strstr(line, "summary: ");
        if (p) {
            p = strstr(p, " pp_n=");
            if (p && sscanf(p, " pp_n=%ld pp=%lf tg_n=%ld tg=%lf bw_gbs=%lf wbytes=%lf "
                               "tg_bw_pct=%lf k9=%lf rss_mib=%lf valid=%d",
                            &res->pp_n, &res->pp, &res->tg_n, &res->tg, &res->bw, &res->wbytes,
                            &res->tg_pct, &res->k9, &res->rss, &res->valid) == 10)
                res->ok = 1;
        }
    }
    if (f)
        fclose(f);
    else
        close(fd[0]);
    return wait_child(pid);
}

static void table(const struct result *r, int n)
{
    printf("\n== seekd next to llama.cpp (build 4748, llama-bench, 2 threads, same machine class; "
           "its read bandwidth about %.0f GB/s).\n", LLAMA_BW / 1e9);
    printf("   decode %%bw = decode tokens/s x weight bytes read per token / read bandwidth "
           "(seekd: measured in the same run; llama.cpp: 31 GB/s).\n");
    printf("   targets: prompt >= 1.0x (aim 1.5x); decode %%bw >= 0.95x llama.cpp's (Q4_K_M: aim "
           "1.3x); 9-token pass <= 2x a one-token step (llama.cpp 5.0x)\n");
    printf("%-18s | %-6s %8s %7s %5s | %-6s %7s %9s %10s | %6s %11s %10s | %6s | %8s | %s\n",
           "model", "prompt", "seekd", "llama", "x", "decode", "seekd", "llama", "x", "%bw",
           "llama %bw", "x", "9/1", "peak RSS", "valid");
    for (int i = 0; i < n; i++) {
        const struct result *x = &r[i];
        if (!x->ok) {
            printf("%-18s | not timed (see above)\n", x->name);
            continue;
        }
        double lpp = 0, llo = 0, lhi = 0;
        for (size_t j = 0; j < SK_ARRAY_LEN(llama); j++) {
            char nm[64];
            snprintf(nm, sizeof nm, "%s %s", llama[j].preset, llama[j].type);
            if (!strcmp(nm, x->name)) {
                lpp = llama[j].pp;
                llo = llama[j].tg_lo;
                lhi = llama[j].tg_hi;
            }
        }
        char pp_l[16] = "-", pp_x[16] = "-", tg_l[24] = "-", tg_x[24] = "-", bw_l[24] = "-",
             bw_x[24] = "-";
        double pct_lo = 100.0 * llo * x->wbytes / LLAMA_BW;
        double pct_hi = 100.0 * lhi * x->wbytes / LLAMA_BW;
        if (lpp > 0) {
            snprintf(pp_l, sizeof pp_l, "%.1f", lpp);
            snprintf(pp_x, sizeof pp_x, "%.2f", x->pp / lpp);
            if (llo == lhi) {
                snprintf(tg_l, sizeof tg_l, "%.1f", llo);
                snprintf(tg_x, sizeof tg_x, "%.2f", x->tg / llo);
                snprintf(bw_l, sizeof bw_l, "%.1f%%", pct_lo);
                snprintf(bw_x, sizeof bw_x, "%.2f", x->tg_pct / pct_lo);
            } else {
                snprintf(tg_l, sizeof tg_l, "%.1f-%.1f", llo, lhi);
                snprintf(tg_x, sizeof tg_x, "%.2f-%.2f", x->tg / lhi, x->tg / llo);
                snprintf(bw_l, sizeof bw_l, "%.0f-%.0f%%", pct_lo, pct_hi);
                snprintf(bw_x, sizeof bw_x, "%.2f-%.2f", x->tg_pct / pct_hi, x->tg_pct / pct_lo);
            }
        }
        char ppn[16], tgn[16], k9[16] = "-";
        snprintf(ppn, sizeof ppn, "pp%ld", x->pp_n);
        snprintf(tgn, sizeof tgn, "tg%ld", x->tg_n);
        if (x->k9 > 0)
            snprintf(k9, sizeof k9, "%.2f", x->k9);
        printf("%-18s | %-6s %8.1f %7s %5s | %-6s %7.2f %9s %10s | %5.1f%% %11s %10s | %6s | "
               "%4.0f MiB | %s\n",
               x->name, ppn, x->pp, pp_l, pp_x, tgn, x->tg, tg_l, tg_x, x->tg_pct, bw_l, bw_x,
               k9, x->rss, x->valid ? "yes" : "NO (busy machine)");
    }
    printf("   read bandwidth measured in each run:");
    for (int i = 0; i < n; i++)
        if (r[i].ok)
            printf(" %s %.1f GB/s;", r[i].name, r[i].bw);
    printf("\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *seekd = getenv("SEEKD_BIN");
    if (!seekd) {
        fprintf(stderr, "bench_model: SEEKD_BIN is not set (run through make bench)\n");
        return 1;
    }
    const char *list = getenv("SEEKD_BENCH_MODELS");
    if (!list)
        list = "coder-1.3b:Q4_0 coder-1.3b:Q8_0 coder-1.3b:Q4_K_M llm-7b:Q4_0";
    const char *reps = getenv("SEEKD_BENCH_REPS");
    if (!reps)
        reps = "5";
    mkdir("build/bench-models", 0700);
    struct result res[32];
    int n = 0, status = 0;
    char paths[32][512];
    char *copy = sk_strdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok && n < 32; tok = strtok_r(NULL, " ", &save)) {
        char *colon = strchr(tok, ':');
        if (!colon) {
            fprintf(stderr, "bench_model: bad entry %s (want PRESET:TYPE)\n", tok);
            continue;
        }
        *colon = 0;
        memset(&res[n], 0, sizeof res[n]);
        snprintf(res[n].name, sizeof res[n].name, "%.31s %.31s", tok, colon + 1);
        snprintf(paths[n], sizeof paths[n], "build/bench-models/%.200s-%.200s.gguf", tok,
                 colon + 1);
        n++;
    }
    /* first make every missing model, so no generation runs next to a timing */
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0)
            continue;
        char preset[64], tmp[600];
        snprintf(preset, sizeof preset, "%.63s", res[i].name);
        char *type = strchr(preset, ' ');
        *type++ = 0;
        snprintf(tmp, sizeof tmp, "%.511s.tmp", paths[i]);
        printf("== generating %s (tools/make_model.py; 20 s to 2 min per model)\n", paths[i]);
        char *mk[] = {"/usr/bin/python3", "tools/make_model.py", tmp, "--preset", preset,
                      "--type", type, "--seed", "1", NULL};
        if (run(mk) != 0 || rename(tmp, paths[i])) {
            fprintf(stderr, "bench_model: generating %s failed\n", paths[i]);
            unlink(tmp);
        }
    }
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            status = 3;
            continue;
        }
        int llm = !strncmp(res[i].name, "llm-", 4), tiny = !strncmp(res[i].name, "tiny", 4);
        printf("\n== %s\n", res[i].name);
        char *b[48] = {(char *)seekd, "bench", "--model", paths[i], "--threads", "2", "-p",
                       tiny ? "128" : llm ? "128" : "512", "-n", tiny ? "64" : llm ? "32" : "128",
                       "--reps", (char *)reps, "--kmax", llm ? "9" : "17"};
        int nb = 14;
        char *extra = getenv("SEEKD_BENCH_ARGS") ? sk_strdup(getenv("SEEKD_BENCH_ARGS")) : NULL;
        char *sv2 = NULL;
        for (char *e = extra ? strtok_r(extra, " ", &sv2) : NULL; e && nb < 46;
             e = strtok_r(NULL, " ", &sv2))
            b[nb++] = e;
        b[nb] = NULL;
        int rc = run_capture(b, &res[i]);
        sk_free(extra);
        if (rc) {
            printf("(seekd bench exited with %d%s)\n", rc, rc == 3 ? ": busy machine" : "");
            status = 3;
        }
    }
    table(res, n);
    sk_free(copy);
    return status;
}
