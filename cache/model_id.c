/*
 * cache/model_id.c: the identity of a model file, for cache keys.
 *
 * identity = SHA-256 of: "seekd-model-id-1", the file size (8 bytes LE), every byte from the
 * start of the file to the end of the GGUF tensor-info table (header, metadata, tensor names,
 * shapes, types and offsets; at most 64 MiB), then 16 samples of 4 KiB taken at fixed fractions
 * of the tensor data region (i/15 of the way through, i = 0..15).  Metadata covers tokenizer and
 * hyper-parameter changes, tensor types cover requantisation, data samples cover fine-tunes that
 * change nothing else.  The GGUF walk is a bounded skim written for this purpose (no engine
 * dependency): every count and length is checked against the file size before use.  Files that
 * are not GGUF v2/v3 (or fail the skim) use their first 1 MiB as the "header" and the whole file
 * as the data region.
 *
 * Reading a few MiB of vocabulary costs tens of milliseconds, so the result is remembered in the
 * models table by (path, device, inode, size, mtime in ns).
 */
#include "cache/cache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_MAX (64ull << 20)
#define FALLBACK_HEADER (1ull << 20)
#define N_SAMPLES 16
#define SAMPLE_BYTES 4096

/* Sequential reader over pread that hashes every byte it consumes. */
struct reader {
    int fd;
    uint64_t file_size, pos; /* pos = bytes consumed */
    uint8_t buf[1 << 16];
    uint64_t buf_off; /* file offset of buf[0] */
    size_t buf_len;
    struct cache__sha256 *sha;
    int err; /* sticky: -errno or CACHE_E_FORMAT */
};

/* Consumes n bytes into out (may be NULL: skip), hashing them.  Fails past HEADER_MAX or EOF. */
static int rd(struct reader *r, void *out, uint64_t n)
{
    if (r->err)
        return r->err;
    if (n > r->file_size - r->pos || r->pos + n > HEADER_MAX)
        return r->err = CACHE_E_FORMAT;
    uint8_t *o = out;
    while (n) {
        if (r->pos < r->buf_off || r->pos >= r->buf_off + r->buf_len) {
            ssize_t got;
            do
                got = pread(r->fd, r->buf, sizeof r->buf, (off_t)r->pos);
            while (got < 0 && errno == EINTR);
            if (got <= 0)
                return r->err = got < 0 ? -errno : CACHE_E_FORMAT;
            r->buf_off = r->pos;
            r->buf_len = (size_t)got;
        }
        size_t at = (size_t)(r->pos - r->buf_off);
        size_t take = (size_t)SK_MIN((uint64_t)(r->buf_len - at), n);
        cache__sha256_update(r->sha, r->buf + at, take);
        if (o) {
            memcpy(o, r->buf + at, take);
            o += take;
        }
        r->pos += take;
        n -= take;
    }
    return 0;
}

static uint64_t rd_u64(struct reader *r)
{
    uint8_t b[8] = {0};
    rd(r, b, 8);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static uint32_t rd_u32(struct reader *r)
{
    uint8_t b[4] = {0};
    rd(r, b, 4);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Size in bytes of a scalar GGUF value type, 0 for string/array/unknown. */
static uint64_t scalar_size(uint32_t t)
{
    static const uint8_t sz[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < 13 ? sz[t] : 0;
}

/* Skims a GGUF v2/v3 header; returns 0 and the data region, or an error (caller falls back). */
static int skim_gguf(struct reader *r, uint64_t *data_off)
{
    uint8_t magic[4];
    if (rd(r, magic, 4) || memcmp(magic, "GGUF", 4) != 0)
        return CACHE_E_FORMAT;
    uint32_t version = rd_u32(r);
    if (version != 2 && version != 3)
        return CACHE_E_FORMAT;
    uint64_t n_tensors = rd_u64(r), n_kv = rd_u64(r);
    /* Each kv needs >= 12 bytes, each tensor info >= 24: bounds the loops by the file size. */
    if (r->err || n_kv > r->file_size / 12 || n_tensors > r->file_size / 24)
        return CACHE_E_FORMAT;
    uint64_t alignment = 32;
    for (uint64_t i = 0; i < n_kv && !r->err; i++) {
        uint64_t klen = rd_u64(r);
        char kname[32] = {0};
        if (klen < sizeof kname)
            rd(r, kname, klen);
        else
            rd(r, NULL, klen);
        uint32_t t = rd_u32(r);
        if (t == 8) {
            rd(r, NULL, rd_u64(r));
        } else if (t == 9) {
            uint32_t et = rd_u32(r);
            uint64_t n = rd_u64(r);
            if (et == 8) {
                for (uint64_t j = 0; j < n && !r->err; j++)
                    rd(r, NULL, rd_u64(r));
            } else if (scalar_size(et) && n <= r->file_size / scalar_size(et)) {
                rd(r, NULL, n * scalar_size(et));
            } else {
                return CACHE_E_FORMAT; /* nested arrays or unknown types: not a model we load */
            }
        } else if (scalar_size(t)) {
            uint8_t v[8] = {0};
            rd(r, v, scalar_size(t));
            if (!strcmp(kname, "general.alignment") && t == 4)
                alignment = (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 |
                            (uint32_t)v[3] << 24;
        } else {
            return CACHE_E_FORMAT;
        }
    }
    for (uint64_t i = 0; i < n_tensors && !r->err; i++) {
        rd(r, NULL, rd_u64(r)); /* name */
        uint32_t n_dims = rd_u32(r);
        if (n_dims > 8)
            return CACHE_E_FORMAT;
        rd(r, NULL, 8ull * n_dims + 4 + 8); /* dims, type, offset */
    }
    if (r->err)
        return r->err;
    if (alignment == 0 || alignment > 1u << 20 || (alignment & (alignment - 1)))
        alignment = 32;
    uint64_t off = (r->pos + alignment - 1) / alignment * alignment;
    *data_off = SK_MIN(off, r->file_size);
    return 0;
}

static int compute_identity(int fd, uint64_t size, uint8_t out[32])
{
    int rc = 0;
    struct cache__sha256 sha, hdr;
    struct reader *r = sk_calloc(1, sizeof *r);
    uint8_t *sample = sk_malloc(SAMPLE_BYTES);
    if (!r || !sample) {
        rc = CACHE_E_NOMEM;
        goto out;
    }
    cache__sha256_init(&sha);
    cache__sha256_update(&sha, "seekd-model-id-1", 16);
    uint8_t sz[8];
    for (int i = 0; i < 8; i++)
        sz[i] = (uint8_t)(size >> (8 * i));
    cache__sha256_update(&sha, sz, 8);

    /* First try the GGUF skim, hashing into a copy; on failure hash the fallback header. */
    hdr = sha;
    r->fd = fd;
    r->file_size = size;
    r->sha = &hdr;
    r->buf_off = UINT64_MAX;
    uint64_t data_off = 0;
    if (skim_gguf(r, &data_off) == 0) {
        if (data_off > r->pos)
            rd(r, NULL, data_off - r->pos); /* alignment padding */
        if (r->err && r->err != CACHE_E_FORMAT) {
            rc = r->err;
            goto out;
        }
        sha = hdr;
    } else {
        if (r->err && r->err != CACHE_E_FORMAT) {
            rc = r->err;
            goto out;
        }
        r->err = 0;
        r->pos = 0;
        r->sha = &sha;
        rc = rd(r, NULL, SK_MIN(size, FALLBACK_HEADER));
        if (rc)
            goto out;
        data_off = 0;
    }
    uint64_t data_len = size - data_off;
    uint64_t take = SK_MIN(data_len, (uint64_t)SAMPLE_BYTES);
    for (int i = 0; i < N_SAMPLES && take; i++) {
        uint64_t at = data_off + (data_len - take) * (uint64_t)i / (N_SAMPLES - 1);
        size_t got = 0;
        while (got < take) {
            ssize_t g = pread(fd, sample + got, (size_t)take - got, (off_t)(at + got));
            if (g < 0 && errno == EINTR)
                continue;
            if (g <= 0) {
                rc = g < 0 ? -errno : CACHE_E_FORMAT; /* file shrank under us */
                goto out;
            }
            got += (size_t)g;
        }
        cache__sha256_update(&sha, sample, (size_t)take);
    }
    cache__sha256_final(&sha, out);
out:
    sk_free(sample);
    sk_free(r);
    return rc;
}

int cache_model_identity(struct cache *c, const char *path, char out_hex[CACHE_ID_HEX_LEN + 1])
{
    out_hex[0] = 0;
    int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        goto out;
    }
    if (st.st_size <= 0) {
        rc = CACHE_E_FORMAT;
        goto out;
    }
    int64_t mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    int use_db = c && cache__enter(c) == 0;
    if (use_db) {
        sqlite3_stmt *q = cache__stmt(c, ST_MODEL_GET);
        if (q) {
            sqlite3_bind_text(q, 1, path, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 2, (int64_t)st.st_dev);
            sqlite3_bind_int64(q, 3, (int64_t)st.st_ino);
            sqlite3_bind_int64(q, 4, (int64_t)st.st_size);
            sqlite3_bind_int64(q, 5, mtime_ns);
            if (sqlite3_step(q) == SQLITE_ROW) {
                const unsigned char *id = sqlite3_column_text(q, 0);
                if (id && strlen((const char *)id) == CACHE_ID_HEX_LEN) {
                    memcpy(out_hex, id, CACHE_ID_HEX_LEN + 1);
                    sqlite3_reset(q);
                    goto out;
                }
            }
            sqlite3_reset(q);
        }
    }
    uint8_t bin[32];
    rc = compute_identity(fd, (uint64_t)st.st_size, bin);
    if (rc)
        goto out;
    cache__hex(bin, 32, out_hex);
    if (use_db && cache__begin(c) == 0) {
        sqlite3_stmt *q = cache__stmt(c, ST_MODEL_PUT);
        int ok = 0;
        if (q) {
            sqlite3_bind_text(q, 1, path, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 2, (int64_t)st.st_dev);
            sqlite3_bind_int64(q, 3, (int64_t)st.st_ino);
            sqlite3_bind_int64(q, 4, (int64_t)st.st_size);
            sqlite3_bind_int64(q, 5, mtime_ns);
            sqlite3_bind_text(q, 6, out_hex, CACHE_ID_HEX_LEN, SQLITE_STATIC);
            sqlite3_bind_int64(q, 7, cache__wall_ms());
            ok = sqlite3_step(q) == SQLITE_DONE;
            sqlite3_reset(q);
        }
        /* Remembering is an optimisation: a failure to store is not an error. */
        if (ok)
            cache__commit(c);
        else
            cache__rollback(c);
    }
out:
    close(fd);
    return rc;
}
