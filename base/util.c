/*
 * Logging, the replaceable monotonic clock, and small file/hash helpers shared by all modules.
 * Logging takes a mutex per line so that lines from the inference thread and the loop thread
 * never interleave.
 */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static enum sk_log_level log_level = SK_LOG_WARN;
static FILE *log_fp; /* NULL = stderr */

void sk_log_set_level(enum sk_log_level level) { log_level = level; }
enum sk_log_level sk_log_get_level(void) { return log_level; }

int sk_log_level_parse(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (size_t i = 0; i < SK_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

int sk_log_set_file(const char *path)
{
    FILE *fp = NULL;
    if (path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
            return -errno;
        fp = fdopen(fd, "a");
        if (!fp) {
            int e = errno;
            close(fd);
            return -e;
        }
        setvbuf(fp, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&log_mu);
    if (log_fp)
        fclose(log_fp);
    log_fp = fp;
    pthread_mutex_unlock(&log_mu);
    return 0;
}

void sk_logv(enum sk_log_level level, const char *fmt, va_list ap)
{
    static const char *tags[] = {"debug", "info", "warn", "error"};
    if (level < log_level || level >= SK_LOG_OFF)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    pthread_mutex_lock(&log_mu);
    FILE *fp = log_fp ? log_fp : stderr;
    fprintf(fp, "%02d:%02d:%02d.%03ld seekd %s: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, tags[level]);
    vfprintf(fp, fmt, ap);
    fputc('\n', fp);
    pthread_mutex_unlock(&log_mu);
}

void sk_log(enum sk_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sk_logv(level, fmt, ap);
    va_end(ap);
}

static sk_clock_fn clock_fn;
static void *clock_ud;

void sk_clock_set(sk_clock_fn fn, void *ud)
{
    clock_fn = fn;
    clock_ud = ud;
}

uint64_t sk_real_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t sk_now_ns(void) { return clock_fn ? clock_fn(clock_ud) : sk_real_now_ns(); }
uint64_t sk_now_ms(void) { return sk_now_ns() / 1000000u; }

int sk_read_file(const char *path, size_t max_size, char **out, size_t *len)
{
    int rc = 0;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > max_size) {
        rc = -EFBIG;
        goto out;
    }
    size_t n = (size_t)st.st_size, got = 0;
    buf = sk_malloc(n + 1);
    if (!buf) {
        rc = -ENOMEM;
        goto out;
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    buf[got] = 0;
    *out = buf;
    *len = got;
    buf = NULL;
out:
    sk_free(buf);
    close(fd);
    return rc;
}

uint64_t sk_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}
