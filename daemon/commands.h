/*
 * The subcommands of the seekd binary.  To add one: declare it here and add a line to
 * SEEKD_COMMANDS (name, one-line summary, function).  Each returns the process exit code.
 */
#ifndef SEEKD_DAEMON_COMMANDS_H
#define SEEKD_DAEMON_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

int cmd_version(int argc, char **argv);
int cmd_lsp(int argc, char **argv); /* daemon/lsp_loop.c */
/* GGUF inspection and the tokenizer (daemon/cmd_info.c, daemon/cmd_tokenize.c) */
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_cache(int argc, char **argv); /* daemon/cmd_cache.c */
/* engine commands (daemon/cmd_generate.c, cmd_perplexity.c, cmd_bench.c) */
int cmd_generate(int argc, char **argv);
int cmd_eval_logits(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_complete(int argc, char **argv); /* daemon/cmd_complete.c */
/* Shared by the engine commands: a GGUF, its tokenizer (optional) and the model, opened
 * together and closed together (errors are printed to stderr). */
struct dmn__model {
    struct eng_gguf *gguf;
    struct eng_vocab *vocab;
    struct eng_model *model;
};
struct eng_model_params;
int dmn__model_open(struct dmn__model *dm, const char *path, const struct eng_model_params *p,
                    int need_vocab);
void dmn__model_close(struct dmn__model *dm);
int dmn__parse_ids(const char *s, int32_t **out); /* count, or -1; *out sk_free'd by caller */
int dmn__parse_int(const char *s, long lo, long hi, long *out);
/* Speculative decoding (daemon/cmd_spec.c): generate / bench route here when the arguments
 * ask for a draft model or n-gram lookup (--draft, --draft-max, --lookup). */
int dmn__spec_wanted(int argc, char **argv);
int cmd_spec_generate(int argc, char **argv);
int cmd_spec_bench(int argc, char **argv);
/* Shared by the timing benchmarks (daemon/cmd_bench.c; seekd bench and the bench/ programs).
 * Output goes to stdout, so the conditions of a run travel with its figures.
 * dmn__bench_quiet_begin waits up to wait_s seconds until the 1-minute load average is at most
 * max_load (< 0: 0.75 x cores) and, over a 2-second window while we sleep, other processes use
 * under 0.15 cores (from /proc/stat); SEEKD_BENCH_WAIT overrides wait_s.  Returns 0 to go
 * ahead, or -EBUSY (message printed) unless force or the environment's SEEKD_BENCH_FORCE=1
 * says to time anyway, which prints a loud warning and sets q->busy.  dmn__bench_quiet_end prints the other processes' CPU use and
 * the stolen time during the timing and returns 1 (with a warning) if the run was not quiet. */
struct dmn__quiet {
    const char *who;
    double load0, others0, busy_t0, steal_t0, self_t0, t0;
    int busy;
};
int dmn__bench_quiet_begin(struct dmn__quiet *q, const char *who, double max_load, long wait_s,
                           int force);
int dmn__bench_quiet_end(struct dmn__quiet *q);
int dmn__bench_forced(void); /* SEEKD_BENCH_FORCE set and not "0" */
double dmn__loadavg1(void);
double dmn__peak_rss_mib(void); /* this process's peak RSS so far */
/* Read bandwidth: a buffer of `bytes` (every page written), read by n_threads threads of its
 * own pool, each its contiguous share, with the widest vector loads the CPU has.  dmn__bw_run
 * returns bytes/s, the best of `passes` passes.  dmn__bench_bw_bytes: SEEKD_BENCH_BW_MB MiB,
 * default 1024 (far beyond the last-level cache). */
struct dmn__bw;
int dmn__bw_new(size_t bytes, int n_threads, struct dmn__bw **out); /* 0 or -errno */
double dmn__bw_run(struct dmn__bw *bw, int passes);
size_t dmn__bw_size(const struct dmn__bw *bw);
const char *dmn__bw_isa(const struct dmn__bw *bw);
void dmn__bw_free(struct dmn__bw *bw);
size_t dmn__bench_bw_bytes(void);

#define SEEKD_COMMANDS                                                                            \
    {"version", "print the version", cmd_version},                                                \
    {"lsp", "run the language server on stdio", cmd_lsp},                                        \
    {"info", "describe a GGUF file: hyperparameters, tokenizer, tensors", cmd_info},             \
    {"tokenize", "tokenize stdin with a model's tokenizer", cmd_tokenize},                       \
    {"detokenize", "token ids on stdin back to text", cmd_detokenize},                           \
    {"cache", "completion cache and local usage statistics (stats, clear)", cmd_cache},         \
    {"generate", "generate a continuation with a model", cmd_generate},                          \
    {"eval-logits", "(testing) teacher-forced logits of token ids", cmd_eval_logits},            \
    {"perplexity", "perplexity of a text file (llama.cpp method)", cmd_perplexity},              \
    {"bench", "prompt / decode speed and memory-bandwidth use of a model", cmd_bench},         \
    {"complete", "complete a file at LINE COL once (the server's pipeline)", cmd_complete},

#endif
