/*
 * The subcommands of the seekd binary.  To add one: declare it here and add a line to
 * SEEKD_COMMANDS (name, one-line summary, function).  Each returns the process exit code.
 */
#ifndef SEEKD_DAEMON_COMMANDS_H
#define SEEKD_DAEMON_COMMANDS_H

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
