/*
 * Test helper shared by the engine tests: writes a tiny random-weight GGUF with
 * tools/make_model.py into the test's temporary directory.  Header-only (static), included by
 * each test file that needs it.  Skips the test when /usr/bin/python3 is missing.
 */
#ifndef SEEKD_TESTS_ENGINE_MAKE_MODEL_H
#define SEEKD_TESTS_ENGINE_MAKE_MODEL_H

#include "tests/test.h"

#include <spawn.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Writes test_tmpdir()/NAME.gguf with make_model.py and the extra arguments (ending with NULL).
 * Returns the path, valid for the next 7 calls. */
static SK_UNUSED const char *make_model(const char *name, ...)
{
    static char path[8][600];
    static int slot;
    char *p = path[slot++ % 8];
    snprintf(p, 600, "%s/%s.gguf", test_tmpdir(), name);
    const char *argv[40] = {"/usr/bin/python3", "tools/make_model.py", p, "-q"};
    int n = 4;
    va_list ap;
    va_start(ap, name);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 38)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    if (access(argv[0], X_OK))
        SKIP("no /usr/bin/python3");
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], NULL, NULL, (char *const *)argv, environ);
    ASSERT_MSG(rc == 0, "spawn python3: %s", strerror(rc));
    int st;
    ASSERT(waitpid(pid, &st, 0) == pid);
    ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "make_model.py %s failed", name);
    return p;
}

#endif
