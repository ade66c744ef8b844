/*
 * The one allocation wrapper.  Every block carries a 16-byte header with its size so that the
 * live-byte counters are exact; tests compare them before and after a workload to find leaks in
 * request paths (the allocator's own counters, not RSS).  Cost: two relaxed atomics per call.
 */
#include "base.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR 16

static atomic_size_t live_bytes, live_blocks, peak_bytes;
static atomic_long fail_after = -1;

static int should_fail(void)
{
    long n = atomic_load_explicit(&fail_after, memory_order_relaxed);
    if (n < 0)
        return 0;
    if (n == 0)
        return 1;
    atomic_fetch_sub_explicit(&fail_after, 1, memory_order_relaxed);
    return 0;
}

static void oom(size_t size)
{
    fprintf(stderr, "seekd: out of memory allocating %zu bytes\n", size);
    abort();
}

static void account(size_t add, size_t sub)
{
    size_t now = atomic_fetch_add_explicit(&live_bytes, add, memory_order_relaxed) + add;
    atomic_fetch_sub_explicit(&live_bytes, sub, memory_order_relaxed);
    now -= sub;
    size_t peak = atomic_load_explicit(&peak_bytes, memory_order_relaxed);
    while (now > peak &&
           !atomic_compare_exchange_weak_explicit(&peak_bytes, &peak, now, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

void *sk_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    if (size > SIZE_MAX - HDR)
        oom(size);
    unsigned char *p = malloc(size + HDR);
    if (!p)
        oom(size);
    memcpy(p, &size, sizeof size);
    account(size, 0);
    atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
    return p + HDR;
}

void *sk_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        oom(SIZE_MAX);
    void *p = sk_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *sk_realloc(void *ptr, size_t size)
{
    if (!ptr)
        return sk_malloc(size);
    if (should_fail())
        return NULL;
    if (size > SIZE_MAX - HDR)
        oom(size);
    unsigned char *base = (unsigned char *)ptr - HDR;
    size_t old;
    memcpy(&old, base, sizeof old);
    unsigned char *p = realloc(base, size + HDR);
    if (!p)
        oom(size);
    memcpy(p, &size, sizeof size);
    account(size, old);
    return p + HDR;
}

void sk_free(void *ptr)
{
    if (!ptr)
        return;
    unsigned char *base = (unsigned char *)ptr - HDR;
    size_t old;
    memcpy(&old, base, sizeof old);
    atomic_fetch_sub_explicit(&live_bytes, old, memory_order_relaxed);
    atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed);
    free(base);
}

char *sk_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = sk_malloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    d[len] = 0;
    return d;
}

char *sk_strdup(const char *s) { return sk_strndup(s, SIZE_MAX); }

size_t sk_alloc_live_bytes(void) { return atomic_load(&live_bytes); }
size_t sk_alloc_live_blocks(void) { return atomic_load(&live_blocks); }
size_t sk_alloc_peak_bytes(void) { return atomic_load(&peak_bytes); }
void sk_alloc_fail_after(long n) { atomic_store(&fail_after, n < 0 ? -1 : n); }
