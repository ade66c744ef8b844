/*
 * The subcommands of the seekd binary.  To add one: declare it here and add a line to
 * SEEKD_COMMANDS (name, one-line summary, function).  Each returns the process exit code.
 */
#ifndef SEEKD_DAEMON_COMMANDS_H
#define SEEKD_DAEMON_COMMANDS_H

int cmd_version(int argc, char **argv);
int cmd_cache(int argc, char **argv); /* daemon/cmd_cache.c */

#define SEEKD_COMMANDS                                                                            \
    {"version", "print the version", cmd_version},                                                \
    {"cache", "completion cache and local usage statistics (stats, clear)", cmd_cache},

#endif
