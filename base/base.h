/*
 * base: the few things every seekd module shares: the one allocation wrapper (with live-byte
 * counters that tests read, and failure injection), logging, and a monotonic clock that tests
 * can replace.  No module below daemon/ allocates through anything else.
 *
 * Thread safety: the allocator and logger may be called from any thread.  The clock hook and the
 * failure-injection setting are meant to be changed only while no other thread runs (tests).
 */
#ifndef SEEKD_BASE_H
#define SEEKD_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define SK_VERSION "0.1.0"

#if defined(__GNUC__)
#define SK_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SK_UNUSED __attribute__((unused))
#else
#define SK_PRINTF(f, a)
#define SK_UNUSED
#endif

#define SK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SK_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- allocation ----------------------------------------------------------------------------
 * sk_malloc/sk_calloc/sk_realloc never return NULL for a non-zero size in normal operation: on
 * exhaustion they print the size and abort.  Only while failure injection is on
 * (sk_alloc_fail_after) do they return NULL, so code that can recover checks for NULL and tests
 * drive those paths.  Memory from these functions must be released with sk_free, never free(). */
void *sk_malloc(size_t size);
void *sk_calloc(size_t n, size_t size);
void *sk_realloc(void *p, size_t size);
void sk_free(void *p);
char *sk_strdup(const char *s);
char *sk_strndup(const char *s, size_t n);

/* Counters over all threads: bytes currently allocated and number of live blocks. */
size_t sk_alloc_live_bytes(void);
size_t sk_alloc_live_blocks(void);
size_t sk_alloc_peak_bytes(void);
/* Failure injection: after `n` more successful allocations every allocation returns NULL, until
 * called again with n < 0 (off). */
void sk_alloc_fail_after(long n);

/* ---- logging -------------------------------------------------------------------------------
 * Messages at or above the level go to the log stream (stderr by default). */
enum sk_log_level { SK_LOG_DEBUG, SK_LOG_INFO, SK_LOG_WARN, SK_LOG_ERROR, SK_LOG_OFF };
void sk_log_set_level(enum sk_log_level level);
enum sk_log_level sk_log_get_level(void);
/* Returns 0 or -errno.  The file is opened for append and created 0600.  NULL means stderr. */
int sk_log_set_file(const char *path);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 for anything else. */
int sk_log_level_parse(const char *s);
void sk_log(enum sk_log_level level, const char *fmt, ...) SK_PRINTF(2, 3);
void sk_logv(enum sk_log_level level, const char *fmt, va_list ap);
#define SK_DEBUG(...) sk_log(SK_LOG_DEBUG, __VA_ARGS__)
#define SK_INFO(...) sk_log(SK_LOG_INFO, __VA_ARGS__)
#define SK_WARN(...) sk_log(SK_LOG_WARN, __VA_ARGS__)
#define SK_ERROR(...) sk_log(SK_LOG_ERROR, __VA_ARGS__)

/* ---- time ----------------------------------------------------------------------------------
 * Monotonic milliseconds / nanoseconds.  Everything that makes a decision on time (debounce,
 * deadlines, cache ages) reads sk_now_ms(), so tests install a fake clock with sk_clock_set. */
typedef uint64_t (*sk_clock_fn)(void *ud);   /* returns nanoseconds */
void sk_clock_set(sk_clock_fn fn, void *ud); /* NULL restores the real clock */
uint64_t sk_now_ns(void);
uint64_t sk_now_ms(void);
uint64_t sk_real_now_ns(void); /* always the real monotonic clock: for benchmarks only */

/* ---- small helpers -------------------------------------------------------------------------*/
/* Reads a whole file into a NUL-terminated sk_malloc buffer.  Returns 0 or -errno; *len excludes
 * the NUL.  Files above max_size give -EFBIG. */
int sk_read_file(const char *path, size_t max_size, char **out, size_t *len);
/* FNV-1a 64-bit and a 64-bit mix for hashing keys. */
uint64_t sk_hash64(const void *data, size_t len, uint64_t seed);

#endif
