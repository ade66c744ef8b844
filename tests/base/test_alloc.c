/* Tests of base/: allocator counters and failure injection, the replaceable clock, hashing. */
#include "base.h"
#include "tests/test.h"

TEST(alloc_counts_live_bytes)
{
    size_t b0 = sk_alloc_live_bytes(), n0 = sk_alloc_live_blocks();
    char *p = sk_malloc(100);
    ASSERT_EQ(sk_alloc_live_bytes(), b0 + 100);
    p = sk_realloc(p, 300);
    ASSERT_EQ(sk_alloc_live_bytes(), b0 + 300);
    ASSERT_EQ(sk_alloc_live_blocks(), n0 + 1);
    char *s = sk_strdup("hello");
    ASSERT_STR_EQ(s, "hello");
    sk_free(s);
    sk_free(p);
    ASSERT_EQ(sk_alloc_live_bytes(), b0);
    ASSERT_EQ(sk_alloc_live_blocks(), n0);
}

TEST(alloc_failure_injection)
{
    sk_alloc_fail_after(2);
    void *a = sk_malloc(8), *b = sk_malloc(8), *c = sk_malloc(8);
    ASSERT(a && b);
    ASSERT(c == NULL);
    ASSERT(sk_calloc(2, 4) == NULL);
    sk_alloc_fail_after(-1);
    void *d = sk_malloc(8);
    ASSERT(d != NULL);
    sk_free(a);
    sk_free(b);
    sk_free(d);
}

static uint64_t fake_clock(void *ud) { return *(uint64_t *)ud; }

TEST(clock_is_replaceable)
{
    uint64_t t = 5000000000ull;
    sk_clock_set(fake_clock, &t);
    ASSERT_EQ(sk_now_ms(), 5000);
    t += 1500000;
    ASSERT_EQ(sk_now_ms(), 5001);
    sk_clock_set(NULL, NULL);
    ASSERT(sk_now_ns() != t);
}

TEST(hash_differs_by_seed_and_data)
{
    ASSERT_NE(sk_hash64("abc", 3, 0), sk_hash64("abd", 3, 0));
    ASSERT_NE(sk_hash64("abc", 3, 0), sk_hash64("abc", 3, 1));
    ASSERT_EQ(sk_hash64("abc", 3, 7), sk_hash64("abc", 3, 7));
}
