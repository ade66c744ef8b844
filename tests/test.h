/*
 * seekd's test framework.  A test is a function registered with TEST(name); the runner
 * (tests/runner.c) runs each one in its own forked process with a timeout, so a crash or hang
 * fails that test only.  Assertions print file:line and the values, then exit(1).
 * SKIP("why") ends a test as skipped (exit code 77): used only when something outside the
 * project, such as ../shared/vocab, is absent; a skipped test never counts as passed.
 *
 * Tests run with the repository root as the working directory.
 */
#ifndef SEEKD_TEST_H
#define SEEKD_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);
void test__register(const char *name, const char *file, test_fn fn, int timeout_s);

/* Path of a file in ../shared (NULL when ../shared is absent).  Returns a static buffer. */
const char *test_shared_path(const char *rel);
/* A fresh temporary directory for this test (removed by the runner afterwards). */
const char *test_tmpdir(void);

#define TEST_T(name, timeout_s)                                                                   \
    static void test_##name(void);                                                                \
    __attribute__((constructor)) static void test_reg_##name(void)                                \
    {                                                                                             \
        test__register(#name, __FILE__, test_##name, timeout_s);                                  \
    }                                                                                             \
    static void test_##name(void)
#define TEST(name) TEST_T(name, 120)

#define TEST_FAIL_(...)                                                                           \
    do {                                                                                          \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                           \
        fprintf(stderr, __VA_ARGS__);                                                             \
        fputc('\n', stderr);                                                                      \
        exit(1);                                                                                  \
    } while (0)

#define ASSERT(c)                                                                                 \
    do {                                                                                          \
        if (!(c))                                                                                 \
            TEST_FAIL_("assertion failed: %s", #c);                                               \
    } while (0)
#define ASSERT_MSG(c, ...)                                                                        \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "%s:%d: assertion failed: %s: ", __FILE__, __LINE__, #c);             \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fputc('\n', stderr);                                                                  \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)
#define ASSERT_CMP_(a, op, b)                                                                     \
    do {                                                                                          \
        long long a_ = (long long)(a), b_ = (long long)(b);                                       \
        if (!(a_ op b_))                                                                          \
            TEST_FAIL_("%s %s %s (%lld vs %lld)", #a, #op, #b, a_, b_);                           \
    } while (0)
#define ASSERT_EQ(a, b) ASSERT_CMP_(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_CMP_(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_CMP_(a, <, b)
#define ASSERT_LE(a, b) ASSERT_CMP_(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_CMP_(a, >, b)
#define ASSERT_GE(a, b) ASSERT_CMP_(a, >=, b)
#define ASSERT_STR_EQ(a, b)                                                                       \
    do {                                                                                          \
        const char *a_ = (a), *b_ = (b);                                                          \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                    \
            TEST_FAIL_("%s == %s\n  got:  \"%s\"\n  want: \"%s\"", #a, #b, a_ ? a_ : "(null)",    \
                       b_ ? b_ : "(null)");                                                       \
    } while (0)
#define ASSERT_MEM_EQ(a, b, n)                                                                    \
    do {                                                                                          \
        if (memcmp((a), (b), (n)) != 0)                                                           \
            TEST_FAIL_("memory differs: %s vs %s (%zu bytes)", #a, #b, (size_t)(n));              \
    } while (0)
#define ASSERT_NEAR(a, b, tol)                                                                    \
    do {                                                                                          \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);                            \
        if (!(a_ - b_ <= t_ && b_ - a_ <= t_))                                                    \
            TEST_FAIL_("%s ~ %s (%.9g vs %.9g, tol %.3g)", #a, #b, a_, b_, t_);                   \
    } while (0)
#define SKIP(...)                                                                                 \
    do {                                                                                          \
        fprintf(stderr, "skipped: ");                                                             \
        fprintf(stderr, __VA_ARGS__);                                                             \
        fputc('\n', stderr);                                                                      \
        exit(77);                                                                                 \
    } while (0)

#endif
