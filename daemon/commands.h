/*
 * The subcommands of the seekd binary.  To add one: declare it here and add a line to
 * SEEKD_COMMANDS (name, one-line summary, function).  Each returns the process exit code.
 */
#ifndef SEEKD_DAEMON_COMMANDS_H
#define SEEKD_DAEMON_COMMANDS_H

int cmd_version(int argc, char **argv);
/* GGUF inspection and the tokenizer (daemon/cmd_info.c, daemon/cmd_tokenize.c) */
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_cache(int argc, char **argv); /* daemon/cmd_cache.c */

#define SEEKD_COMMANDS                                                                            \
    {"version", "print the version", cmd_version},                                                \
    {"info", "describe a GGUF file: hyperparameters, tokenizer, tensors", cmd_info},             \
    {"tokenize", "tokenize stdin with a model's tokenizer", cmd_tokenize},                       \
    {"detokenize", "token ids on stdin back to text", cmd_detokenize},                           \
    {"cache", "completion cache and local usage statistics (stats, clear)", cmd_cache},

#endif
