/*
 * seekd's command-line entry: dispatches `seekd SUBCOMMAND ...` to the commands in daemon/.
 * Each command is `int cmd_NAME(int argc, char **argv)` (argv[0] is the subcommand) declared in
 * daemon/commands.h and returns the process exit code.
 */
#include "base.h"
#include "daemon/commands.h"

#include <stdio.h>
#include <string.h>

static const struct command {
    const char *name, *summary;
    int (*fn)(int argc, char **argv);
} commands[] = {
    SEEKD_COMMANDS
};

static void usage(FILE *fp)
{
    fprintf(fp, "seekd %s: a local code-completion language server for DeepSeek GGUF models\n\n"
                "usage: seekd COMMAND [OPTIONS]\n\ncommands:\n", SK_VERSION);
    for (size_t i = 0; i < SK_ARRAY_LEN(commands); i++)
        fprintf(fp, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\n  seekd COMMAND --help   options of one command\n"
                "  seekd --version        print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("seekd %s\n", SK_VERSION);
        return 0;
    }
    for (size_t i = 0; i < SK_ARRAY_LEN(commands); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "seekd: unknown command '%s' (see seekd --help)\n", argv[1]);
    return 2;
}
