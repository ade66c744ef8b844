/*
 * GGUF reader (llama-cpp-facts.md section 1): mmaps a model read-only, validates the header,
 * metadata and tensor infos against the file size, and offers typed metadata access and tensor
 * lookup by name.  Workload: opened once per model at start-up; files are up to ~70 GB (67B
 * models, possibly gguf-split into shards), with ~200k metadata strings (the vocab) and a few
 * hundred to a few thousand tensors.  Tensor data is never read here, so the cost of open is the
 * metadata parse only (a few ms for the DeepSeek vocabs).
 *
 * Every read goes through struct rd, which checks the remaining length first; a failure records
 * the byte offset and the reason.  Nothing is trusted before it is checked: counts are compared
 * with the bytes left (each element needs at least its minimal encoding), string lengths and
 * array sizes with the bytes left, tensor dims for overflow, tensor offsets with llama.cpp's
 * rule (exactly consecutive, each padded to the alignment) and each tensor's bytes with the
 * file size.
 */
#include "base.h"
#include "engine/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 64 /* tensor names must be shorter (GGML_MAX_NAME) */
#define GGUF_DEFAULT_ALIGN 32
#define GGUF_MAX_SPLITS 999

struct gguf_kv {
    char *key;               /* NUL-terminated copy */
    enum eng_gguf_vtype type;
    enum eng_gguf_vtype etype; /* arrays: element type */
    uint64_t n;              /* arrays: element count */
    const uint8_t *data;     /* scalar value / first array element, in the mapping */
    char *str;               /* STRING values: NUL-terminated copy */
    uint64_t str_len;
    uint64_t *str_off;       /* STRING arrays: offset of each element from data */
};

struct gguf_tensor {
    char name[GGUF_MAX_NAME];
    int type, n_dims, file;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t offset, nbytes; /* offset relative to the file's data section */
};

struct gguf_file {
    const uint8_t *map;
    uint64_t size, data_offset;
};

struct eng_gguf {
    uint32_t version, alignment;
    struct gguf_file *files;
    int n_files;
    struct gguf_kv *kv;
    int n_kv;
    struct gguf_tensor *tensors;
    int n_tensors, cap_tensors;
    int32_t *kv_hash, *t_hash; /* open addressing, -1 = empty */
    uint32_t kv_hash_mask, t_hash_mask;
};

static const uint8_t vtype_size[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const vtype_names[13] = {"u8",  "i8",   "u16",    "i16",   "u32",
                                            "i32", "f32",  "bool",   "string", "array",
                                            "u64", "i64",  "f64"};

const char *eng_gguf_vtype_name(int vtype)
{
    return vtype >= 0 && vtype < 13 ? vtype_names[vtype] : "?";
}

/* ---- bounded reader ------------------------------------------------------------------------ */

struct rd {
    const uint8_t *p;
    uint64_t pos, size;
    char *err;
    size_t errlen;
    const char *path;
};

SK_PRINTF(3, 4) static int fail_at(struct rd *r, uint64_t off, const char *fmt, ...)
{
    if (r->err && r->errlen) {
        int n = snprintf(r->err, r->errlen, "%s: offset %" PRIu64 ": ", r->path, off);
        if (n >= 0 && (size_t)n < r->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return ENG_EFORMAT;
}

static int rd_need(struct rd *r, uint64_t n, const char *what)
{
    if (n > r->size - r->pos)
        return fail_at(r, r->pos, "truncated: %s needs %" PRIu64 " bytes, %" PRIu64 " left", what,
                       n, r->size - r->pos);
    return 0;
}

static int rd_bytes(struct rd *r, void *dst, uint64_t n, const char *what)
{
    int rc = rd_need(r, n, what);
    if (rc)
        return rc;
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

static int rd_u32(struct rd *r, uint32_t *v, const char *what) { return rd_bytes(r, v, 4, what); }
static int rd_u64(struct rd *r, uint64_t *v, const char *what) { return rd_bytes(r, v, 8, what); }

/* A GGUF string: u64 length, bytes.  Returns the start of the bytes in the mapping. */
static int rd_str(struct rd *r, const uint8_t **s, uint64_t *len, const char *what)
{
    uint64_t at = r->pos;
    int rc = rd_u64(r, len, what);
    if (rc)
        return rc;
    if (*len > r->size - r->pos)
        return fail_at(r, at, "%s length %" PRIu64 " exceeds the %" PRIu64 " bytes left", what,
                       *len, r->size - r->pos);
    *s = r->p + r->pos;
    r->pos += *len;
    return 0;
}

static int is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* ---- hash index over names ---------------------------------------------------------------- */

static uint32_t hash_name(const char *s, size_t n) { return (uint32_t)sk_hash64(s, n, 0x6767); }

static int32_t *hash_new(uint32_t count, uint32_t *mask)
{
    uint32_t cap = 16;
    while (cap < count * 2u + 2u)
        cap <<= 1;
    int32_t *h = sk_malloc(cap * sizeof *h);
    if (!h) /* only under allocation-failure injection */
        return NULL;
    memset(h, 0xff, cap * sizeof *h);
    *mask = cap - 1;
    return h;
}

static const char *kv_name(const struct eng_gguf *g, int32_t i) { return g->kv[i].key; }
static const char *t_name(const struct eng_gguf *g, int32_t i) { return g->tensors[i].name; }

/* Inserts index idx (name fetched by get); returns the index already present with that name,
 * or -1 when inserted. */
static int32_t hash_insert(const struct eng_gguf *g, int32_t *h, uint32_t mask,
                           const char *(*get)(const struct eng_gguf *, int32_t), int32_t idx)
{
    const char *name = get(g, idx);
    uint32_t i = hash_name(name, strlen(name)) & mask;
    while (h[i] >= 0) {
        if (!strcmp(get(g, h[i]), name))
            return h[i];
        i = (i + 1) & mask;
    }
    h[i] = idx;
    return -1;
}

static int32_t hash_find(const struct eng_gguf *g, const int32_t *h, uint32_t mask,
                         const char *(*get)(const struct eng_gguf *, int32_t), const char *name)
{
    if (!h)
        return -1;
    uint32_t i = hash_name(name, strlen(name)) & mask;
    while (h[i] >= 0) {
        if (!strcmp(get(g, h[i]), name))
            return h[i];
        i = (i + 1) & mask;
    }
    return -1;
}

/* ---- parsing ------------------------------------------------------------------------------ */

/* Parses one metadata value of type `type` at r->pos into kv (arrays included). */
static int parse_value(struct rd *r, struct gguf_kv *kv, uint32_t type)
{
    uint64_t at = r->pos;
    int rc;
    kv->type = (enum eng_gguf_vtype)type;
    if (type == ENG_GGUF_STRING) {
        const uint8_t *s;
        if ((rc = rd_str(r, &s, &kv->str_len, "string value")))
            return rc;
        kv->data = s;
        kv->str = sk_malloc(kv->str_len + 1);
        if (!kv->str)
            return -ENOMEM;
        memcpy(kv->str, s, kv->str_len);
        kv->str[kv->str_len] = 0;
        return 0;
    }
    if (type != ENG_GGUF_ARRAY) {
        kv->data = r->p + r->pos;
        if ((rc = rd_need(r, vtype_size[type], "value")))
            return rc;
        r->pos += vtype_size[type];
        return 0;
    }
    uint32_t et;
    uint64_t n;
    if ((rc = rd_u32(r, &et, "array element type")))
        return rc;
    if (et > ENG_GGUF_F64)
        return fail_at(r, at, "array element type %" PRIu32 " is not a GGUF type", et);
    if (et == ENG_GGUF_ARRAY)
        return fail_at(r, at, "nested arrays are not allowed");
    if ((rc = rd_u64(r, &n, "array count")))
        return rc;
    kv->etype = (enum eng_gguf_vtype)et;
    kv->n = n;
    kv->data = r->p + r->pos;
    uint64_t left = r->size - r->pos;
    if (et != ENG_GGUF_STRING) {
        if (n > left / vtype_size[et])
            return fail_at(r, at, "array of %" PRIu64 " %s exceeds the %" PRIu64 " bytes left", n,
                           vtype_names[et], left);
        r->pos += n * vtype_size[et];
        return 0;
    }
    if (n > left / 8)
        return fail_at(r, at, "array of %" PRIu64 " strings exceeds the %" PRIu64 " bytes left",
                       n, left);
    kv->str_off = sk_malloc((n ? n : 1) * sizeof *kv->str_off);
    if (!kv->str_off)
        return -ENOMEM;
    uint64_t base = r->pos;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *s;
        uint64_t len;
        kv->str_off[i] = r->pos - base;
        if ((rc = rd_str(r, &s, &len, "array string")))
            return rc;
    }
    return 0;
}

static int parse_file(struct eng_gguf *g, int fi, struct rd *r, int first, int64_t *n_kv_out)
{
    uint8_t magic[4];
    uint32_t version;
    uint64_t n_tensors, n_kv;
    int rc;
    if ((rc = rd_bytes(r, magic, 4, "magic")))
        return rc;
    if (memcmp(magic, "GGUF", 4))
        return fail_at(r, 0, "not a GGUF file (magic %02x %02x %02x %02x)", magic[0], magic[1],
                       magic[2], magic[3]);
    if ((rc = rd_u32(r, &version, "version")))
        return rc;
    if (version == 1)
        return fail_at(r, 4, "GGUF version 1 is not supported (v2 and v3 are)");
    if (version != 2 && version != 3) {
        fail_at(r, 4, "unsupported GGUF version %" PRIu32 "%s", version,
                (version & 0xffff) == 0 ? " (big-endian file?)" : "");
        return ENG_EUNSUPPORTED;
    }
    if (first)
        g->version = version;
    if ((rc = rd_u64(r, &n_tensors, "tensor count")))
        return rc;
    /* A tensor info takes at least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset). */
    if ((int64_t)n_tensors < 0 || n_tensors > (r->size - r->pos) / 24)
        return fail_at(r, 8, "tensor count %" PRId64 " impossible for a %" PRIu64 "-byte file",
                       (int64_t)n_tensors, r->size);
    if ((rc = rd_u64(r, &n_kv, "metadata count")))
        return rc;
    /* A key-value pair takes at least 8 (key length) + 4 (type) + 1 (smallest value). */
    if ((int64_t)n_kv < 0 || n_kv > (r->size - r->pos) / 13)
        return fail_at(r, 16, "metadata count %" PRId64 " impossible for a %" PRIu64 "-byte file",
                       (int64_t)n_kv, r->size);
    *n_kv_out = (int64_t)n_kv;

    /* Metadata.  Shards after the first keep only what they need for the split checks. */
    struct gguf_kv *kvs = sk_calloc(n_kv ? n_kv : 1, sizeof *kvs);
    if (!kvs)
        return -ENOMEM;
    uint32_t mask;
    int32_t *h = NULL;
    int nk = 0;
    uint32_t alignment = GGUF_DEFAULT_ALIGN;
    struct eng_gguf tmp = {.kv = kvs};
    h = hash_new((uint32_t)n_kv, &mask);
    if (!h) {
        rc = -ENOMEM;
        goto fail;
    }
    for (uint64_t i = 0; i < n_kv; i++) {
        uint64_t at = r->pos, klen;
        const uint8_t *ks;
        uint32_t type;
        if ((rc = rd_str(r, &ks, &klen, "key")))
            goto fail;
        if ((rc = rd_u32(r, &type, "value type")))
            goto fail;
        if (type > ENG_GGUF_F64) {
            rc = fail_at(r, r->pos - 4, "key '%.*s': value type %" PRIu32 " is not a GGUF type",
                         (int)SK_MIN(klen, 200), (const char *)ks, type);
            goto fail;
        }
        struct gguf_kv *kv = &kvs[nk++];
        kv->key = sk_malloc(klen + 1);
        if (!kv->key) {
            rc = -ENOMEM;
            goto fail;
        }
        memcpy(kv->key, ks, klen);
        kv->key[klen] = 0;
        if (strlen(kv->key) != klen) {
            rc = fail_at(r, at, "key contains a NUL byte");
            goto fail;
        }
        if ((rc = parse_value(r, kv, type))) {
            /* Prefix the key name to the reason for context. */
            if (r->err && r->errlen) {
                char tail[512];
                snprintf(tail, sizeof tail, "%s", r->err);
                snprintf(r->err, r->errlen, "%s (key '%.200s')", tail, kv->key);
            }
            goto fail;
        }
        tmp.n_kv = nk;
        if (hash_insert(&tmp, h, mask, kv_name, nk - 1) >= 0) {
            rc = fail_at(r, at, "duplicate key '%.200s'", kv->key);
            goto fail;
        }
        if (!strcmp(kv->key, "general.alignment")) {
            if (type != ENG_GGUF_U32) {
                rc = fail_at(r, at, "general.alignment has type %s, expected u32",
                             vtype_names[type]);
                goto fail;
            }
            memcpy(&alignment, kv->data, 4);
            if (alignment == 0 || (alignment & (alignment - 1))) {
                rc = fail_at(r, at, "alignment %" PRIu32 " is not a power of 2", alignment);
                goto fail;
            }
        }
    }
    if (first) {
        g->kv = kvs;
        g->n_kv = nk;
        g->kv_hash = h;
        g->kv_hash_mask = mask;
        g->alignment = alignment;
        kvs = NULL;
        h = NULL;
    }

    /* Tensor infos. */
    if (g->n_tensors + n_tensors > (uint64_t)INT32_MAX / 2) {
        rc = fail_at(r, 8, "too many tensors");
        goto fail;
    }
    if (g->n_tensors + (int)n_tensors > g->cap_tensors) {
        size_t want = (size_t)(g->n_tensors + (int)n_tensors + 1);
        struct gguf_tensor *nt = sk_realloc(g->tensors, want * sizeof *g->tensors);
        if (!nt) {
            rc = -ENOMEM;
            goto fail;
        }
        g->tensors = nt;
        g->cap_tensors = g->n_tensors + (int)n_tensors;
    }
    int t0 = g->n_tensors;
    for (uint64_t i = 0; i < n_tensors; i++) {
        uint64_t at = r->pos, nlen, off;
        const uint8_t *ns;
        uint32_t n_dims, type;
        struct gguf_tensor *t = &g->tensors[g->n_tensors];
        memset(t, 0, sizeof *t);
        if ((rc = rd_str(r, &ns, &nlen, "tensor name")))
            goto fail;
        if (nlen >= GGUF_MAX_NAME) {
            rc = fail_at(r, at, "tensor name of %" PRIu64 " bytes is too long (max %d)", nlen,
                         GGUF_MAX_NAME - 1);
            goto fail;
        }
        memcpy(t->name, ns, nlen);
        if (strlen(t->name) != nlen) {
            rc = fail_at(r, at, "tensor name contains a NUL byte");
            goto fail;
        }
        if ((rc = rd_u32(r, &n_dims, "tensor n_dims")))
            goto fail;
        if (n_dims > GGUF_MAX_DIMS) {
            rc = fail_at(r, r->pos - 4, "tensor '%s' has %" PRIu32 " dims (max %d)", t->name,
                         n_dims, GGUF_MAX_DIMS);
            goto fail;
        }
        t->n_dims = (int)n_dims;
        for (int d = 0; d < GGUF_MAX_DIMS; d++)
            t->ne[d] = 1;
        for (uint32_t d = 0; d < n_dims; d++) {
            uint64_t v;
            if ((rc = rd_u64(r, &v, "tensor dim")))
                goto fail;
            if ((int64_t)v < 0) {
                rc = fail_at(r, r->pos - 8, "tensor '%s' dim %" PRIu32 " is negative", t->name,
                             d);
                goto fail;
            }
            t->ne[d] = (int64_t)v;
        }
        /* The element count must fit in int64 (ggml checks the same products). */
        if ((t->ne[1] && t->ne[0] > INT64_MAX / t->ne[1]) ||
            (t->ne[2] && t->ne[0] * t->ne[1] > INT64_MAX / t->ne[2]) ||
            (t->ne[3] && t->ne[0] * t->ne[1] * t->ne[2] > INT64_MAX / t->ne[3])) {
            rc = fail_at(r, at, "tensor '%s': number of elements overflows", t->name);
            goto fail;
        }
        if ((rc = rd_u32(r, &type, "tensor type")))
            goto fail;
        const struct eng_type_info *ti = eng_type_info((int)type);
        if (!ti || !ti->in_files) {
            fail_at(r, r->pos - 4, "tensor '%s' has %s tensor type %" PRIu32, t->name,
                    ti ? "non-storage" : "unknown or unsupported", type);
            rc = ti ? ENG_EFORMAT : ENG_EUNSUPPORTED;
            goto fail;
        }
        t->type = (int)type;
        if (t->ne[0] % ti->blck) {
            rc = fail_at(r, at, "tensor '%s': ne[0] = %" PRId64 " is not a multiple of the %s "
                                "block size %" PRIu32, t->name, t->ne[0], ti->name, ti->blck);
            goto fail;
        }
        /* Row bytes times rows; rows * row bytes must fit in 63 bits. */
        if ((uint64_t)(t->ne[0] / ti->blck) > (uint64_t)INT64_MAX / ti->bytes) {
            rc = fail_at(r, at, "tensor '%s': row size overflows", t->name);
            goto fail;
        }
        uint64_t row = (uint64_t)(t->ne[0] / ti->blck) * ti->bytes;
        uint64_t rows = (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
        if (rows && row > (uint64_t)INT64_MAX / rows) {
            rc = fail_at(r, at, "tensor '%s': size overflows", t->name);
            goto fail;
        }
        t->nbytes = row * rows;
        if ((rc = rd_u64(r, &off, "tensor offset")))
            goto fail;
        t->offset = off;
        t->file = fi;
        g->n_tensors++;
    }

    /* Data section: after the infos, padded to the alignment. */
    uint64_t align = first ? g->alignment : alignment;
    uint64_t data = r->pos + (align - r->pos % align) % align;
    g->files[fi].data_offset = data;
    uint64_t expect = 0;
    for (int i = t0; i < g->n_tensors; i++) {
        struct gguf_tensor *t = &g->tensors[i];
        if (t->offset != expect) {
            rc = fail_at(r, data, "tensor '%s' has offset %" PRIu64 ", expected %" PRIu64
                                  " (tensors must be consecutive, padded to %" PRIu64 ")",
                         t->name, t->offset, expect, align);
            goto fail;
        }
        uint64_t end = data + t->offset;
        if (end < data || t->nbytes > r->size || end > r->size - t->nbytes) {
            rc = fail_at(r, end, "tensor '%s' data (%" PRIu64 " bytes) is not within the file "
                                 "(%" PRIu64 " bytes)", t->name, t->nbytes, r->size);
            goto fail;
        }
        uint64_t padded = t->nbytes + (align - t->nbytes % align) % align;
        expect += padded;
    }
    rc = 0;
fail:
    if (kvs) {
        for (uint64_t i = 0; i < n_kv; i++) {
            sk_free(kvs[i].key);
            sk_free(kvs[i].str);
            sk_free(kvs[i].str_off);
        }
        sk_free(kvs);
    }
    sk_free(h);
    return rc;
}

/* Shard kvs are not kept; the split keys are re-read from the raw file by this helper, which
 * only runs on files that already passed parse_file. */
static int shard_key_u64(const uint8_t *p, uint64_t size, const char *key, uint64_t *out)
{
    struct rd r = {.p = p, .size = size, .pos = 16};
    uint64_t n_kv;
    if (rd_u64(&r, &n_kv, ""))
        return -1;
    for (uint64_t i = 0; i < n_kv; i++) {
        const uint8_t *ks;
        uint64_t klen;
        uint32_t type;
        struct gguf_kv kv = {0};
        if (rd_str(&r, &ks, &klen, "") || rd_u32(&r, &type, "") || type > ENG_GGUF_F64)
            return -1;
        int rc = parse_value(&r, &kv, type);
        sk_free(kv.str);
        sk_free(kv.str_off);
        if (rc)
            return -1;
        if (klen == strlen(key) && !memcmp(ks, key, klen)) {
            if (type == ENG_GGUF_ARRAY || type == ENG_GGUF_STRING || type == ENG_GGUF_F32 ||
                type == ENG_GGUF_F64)
                return -1;
            uint64_t v = 0;
            memcpy(&v, kv.data, vtype_size[type]);
            *out = v;
            return 0;
        }
    }
    return 1;
}

static int map_file(const char *path, struct gguf_file *f, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = ENG_EFORMAT;
        if (err && errlen)
            snprintf(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    f->size = (uint64_t)st.st_size;
    if (f->size == 0) {
        f->map = NULL;
        goto out;
    }
    void *m = mmap(NULL, f->size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        rc = -errno;
        goto out;
    }
    f->map = m;
out:
    if (rc < 0 && rc > -4096 && err && errlen && !err[0])
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
    close(fd);
    return rc;
}

/* "dir/name-00002-of-00005.gguf" -> prefix "dir/name", no = 2, count = 5.  0 if it matches. */
static int split_name(const char *path, size_t *prefix_len, int *no, int *count)
{
    size_t n = strlen(path);
    const char *suf = "-00000-of-00000.gguf";
    size_t sl = strlen(suf);
    if (n < sl)
        return -1;
    const char *s = path + n - sl;
    for (size_t i = 0; i < sl; i++) {
        if (suf[i] == '0' ? (s[i] < '0' || s[i] > '9') : s[i] != suf[i])
            return -1;
    }
    *no = atoi(s + 1);
    *count = atoi(s + 10);
    *prefix_len = n - sl;
    return 0;
}

int eng_gguf_open(const char *path, char *errbuf, size_t errlen, struct eng_gguf **out)
{
    struct eng_gguf *g = sk_calloc(1, sizeof *g);
    int rc;
    char *shard_path = NULL;
    *out = NULL;
    if (!g)
        return -ENOMEM;
    if (errbuf && errlen)
        errbuf[0] = 0;
    if (!is_little_endian()) {
        rc = ENG_EUNSUPPORTED;
        goto fail;
    }
    g->files = sk_calloc(1, sizeof *g->files);
    if (!g->files) {
        rc = -ENOMEM;
        goto fail;
    }
    g->n_files = 1;
    if ((rc = map_file(path, &g->files[0], errbuf, errlen)))
        goto fail;
    struct rd r = {.p = g->files[0].map, .size = g->files[0].size, .err = errbuf,
                   .errlen = errlen, .path = path};
    int64_t nkv;
    if ((rc = parse_file(g, 0, &r, 1, &nkv)))
        goto fail;

    /* gguf-split: the first shard's metadata names the count; the others are found by name. */
    int64_t split_count = 1, split_no = 0;
    if (eng_gguf_find_key(g, "split.count") >= 0) {
        if (eng_gguf_get_int(g, "split.count", &split_count) || split_count < 1 ||
            split_count > GGUF_MAX_SPLITS) {
            rc = fail_at(&r, 0, "bad split.count");
            goto fail;
        }
        if (eng_gguf_get_int(g, "split.no", &split_no) || split_no < 0 ||
            split_no >= split_count) {
            rc = fail_at(&r, 0, "bad or missing split.no");
            goto fail;
        }
    }
    if (split_count > 1) {
        size_t plen;
        int fno, fcount;
        if (split_name(path, &plen, &fno, &fcount) || fcount != split_count ||
            fno != split_no + 1) {
            rc = fail_at(&r, 0, "split %" PRId64 " of %" PRId64 ", but the file name does not "
                                "end in -%05d-of-%05d.gguf", split_no + 1, split_count,
                         (int)split_no + 1, (int)split_count);
            goto fail;
        }
        if (split_no != 0) {
            /* Opened through a later shard: start again from the first one. */
            char *first = sk_malloc(plen + 32);
            if (!first) {
                rc = -ENOMEM;
                goto fail;
            }
            snprintf(first, plen + 32, "%.*s-%05d-of-%05d.gguf", (int)plen, path, 1,
                     (int)split_count);
            eng_gguf_close(g);
            g = NULL;
            rc = eng_gguf_open(first, errbuf, errlen, out);
            sk_free(first);
            return rc;
        }
        struct gguf_file *nf = sk_realloc(g->files, (size_t)split_count * sizeof *g->files);
        shard_path = sk_malloc(plen + 32);
        if (nf)
            g->files = nf;
        if (!nf || !shard_path) {
            rc = -ENOMEM;
            goto fail;
        }
        memset(g->files + 1, 0, (size_t)(split_count - 1) * sizeof *g->files);
        for (int i = 1; i < split_count; i++) {
            snprintf(shard_path, plen + 32, "%.*s-%05d-of-%05d.gguf", (int)plen, path, i + 1,
                     (int)split_count);
            g->n_files = i + 1;
            if ((rc = map_file(shard_path, &g->files[i], errbuf, errlen)))
                goto fail;
            struct rd rs = {.p = g->files[i].map, .size = g->files[i].size, .err = errbuf,
                            .errlen = errlen, .path = shard_path};
            if ((rc = parse_file(g, i, &rs, 0, &nkv)))
                goto fail;
            uint64_t sno, scount;
            if (shard_key_u64(g->files[i].map, g->files[i].size, "split.no", &sno) ||
                shard_key_u64(g->files[i].map, g->files[i].size, "split.count", &scount) ||
                sno != (uint64_t)i || scount != (uint64_t)split_count) {
                rc = fail_at(&rs, 0, "shard %d of %" PRId64 " has missing or mismatched "
                                     "split.no/split.count", i + 1, split_count);
                goto fail;
            }
        }
        int64_t want;
        if (!eng_gguf_get_int(g, "split.tensors.count", &want) && want != g->n_tensors) {
            rc = fail_at(&r, 0, "split.tensors.count is %" PRId64 " but the shards hold %d "
                                "tensors", want, g->n_tensors);
            goto fail;
        }
    }

    /* Tensor names must be unique over all shards. */
    g->t_hash = hash_new((uint32_t)g->n_tensors, &g->t_hash_mask);
    if (!g->t_hash) {
        rc = -ENOMEM;
        goto fail;
    }
    for (int i = 0; i < g->n_tensors; i++) {
        if (hash_insert(g, g->t_hash, g->t_hash_mask, t_name, i) >= 0) {
            rc = fail_at(&r, 0, "duplicate tensor name '%s'", g->tensors[i].name);
            goto fail;
        }
    }
    sk_free(shard_path);
    *out = g;
    return 0;
fail:
    if (rc < 0 && rc > -4096 && errbuf && errlen && !errbuf[0])
        snprintf(errbuf, errlen, "%s: %s", path, strerror(-rc));
    else if (rc == ENG_EUNSUPPORTED && errbuf && errlen && !errbuf[0])
        snprintf(errbuf, errlen, "%s: only little-endian hosts are supported", path);
    sk_free(shard_path);
    eng_gguf_close(g);
    return rc;
}

void eng_gguf_close(struct eng_gguf *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_kv; i++) {
        sk_free(g->kv[i].key);
        sk_free(g->kv[i].str);
        sk_free(g->kv[i].str_off);
    }
    sk_free(g->kv);
    for (int i = 0; i < g->n_files; i++)
        if (g->files[i].map)
            munmap((void *)g->files[i].map, g->files[i].size);
    sk_free(g->files);
    sk_free(g->tensors);
    sk_free(g->kv_hash);
    sk_free(g->t_hash);
    sk_free(g);
}

/* ---- accessors ---------------------------------------------------------------------------- */

uint32_t eng_gguf_version(const struct eng_gguf *g) { return g->version; }
uint32_t eng_gguf_alignment(const struct eng_gguf *g) { return g->alignment; }
int eng_gguf_n_files(const struct eng_gguf *g) { return g->n_files; }
uint64_t eng_gguf_data_offset(const struct eng_gguf *g) { return g->files[0].data_offset; }
uint64_t eng_gguf_file_size(const struct eng_gguf *g)
{
    uint64_t s = 0;
    for (int i = 0; i < g->n_files; i++)
        s += g->files[i].size;
    return s;
}

int eng_gguf_n_kv(const struct eng_gguf *g) { return g->n_kv; }
int eng_gguf_find_key(const struct eng_gguf *g, const char *key)
{
    return hash_find(g, g->kv_hash, g->kv_hash_mask, kv_name, key);
}
const char *eng_gguf_key(const struct eng_gguf *g, int idx)
{
    return idx >= 0 && idx < g->n_kv ? g->kv[idx].key : NULL;
}
enum eng_gguf_vtype eng_gguf_kv_type(const struct eng_gguf *g, int idx)
{
    return idx >= 0 && idx < g->n_kv ? g->kv[idx].type : (enum eng_gguf_vtype)-1;
}

/* Integer value of a scalar of integer/bool type at p (unaligned).  -1 for other types. */
static int read_int(enum eng_gguf_vtype t, const uint8_t *p, int64_t *v, int *is_unsigned_big)
{
    *is_unsigned_big = 0;
    switch (t) {
    case ENG_GGUF_U8: case ENG_GGUF_BOOL: *v = p[0]; return 0;
    case ENG_GGUF_I8: *v = (int8_t)p[0]; return 0;
    case ENG_GGUF_U16: { uint16_t x; memcpy(&x, p, 2); *v = x; return 0; }
    case ENG_GGUF_I16: { int16_t x; memcpy(&x, p, 2); *v = x; return 0; }
    case ENG_GGUF_U32: { uint32_t x; memcpy(&x, p, 4); *v = x; return 0; }
    case ENG_GGUF_I32: { int32_t x; memcpy(&x, p, 4); *v = x; return 0; }
    case ENG_GGUF_I64: { int64_t x; memcpy(&x, p, 8); *v = x; return 0; }
    case ENG_GGUF_U64: {
        uint64_t x;
        memcpy(&x, p, 8);
        *v = (int64_t)x;
        *is_unsigned_big = x > (uint64_t)INT64_MAX;
        return 0;
    }
    default: return -1;
    }
}

static const struct gguf_kv *kv_get(const struct eng_gguf *g, const char *key)
{
    int i = eng_gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

int eng_gguf_get_int(const struct eng_gguf *g, const char *key, int64_t *out)
{
    const struct gguf_kv *kv = kv_get(g, key);
    int64_t v;
    int big;
    if (!kv)
        return ENG_ENOTFOUND;
    if (read_int(kv->type, kv->data, &v, &big) || big)
        return ENG_EFORMAT;
    *out = v;
    return 0;
}

int eng_gguf_get_uint(const struct eng_gguf *g, const char *key, uint64_t *out)
{
    const struct gguf_kv *kv = kv_get(g, key);
    int64_t v;
    int big;
    if (!kv)
        return ENG_ENOTFOUND;
    if (kv->type == ENG_GGUF_BOOL || read_int(kv->type, kv->data, &v, &big) || (v < 0 && !big))
        return ENG_EFORMAT;
    *out = (uint64_t)v;
    return 0;
}

int eng_gguf_get_f32(const struct eng_gguf *g, const char *key, float *out)
{
    const struct gguf_kv *kv = kv_get(g, key);
    if (!kv)
        return ENG_ENOTFOUND;
    if (kv->type == ENG_GGUF_F32) {
        memcpy(out, kv->data, 4);
        return 0;
    }
    if (kv->type == ENG_GGUF_F64) {
        double d;
        memcpy(&d, kv->data, 8);
        *out = (float)d;
        return 0;
    }
    return ENG_EFORMAT;
}

int eng_gguf_get_bool(const struct eng_gguf *g, const char *key, int *out)
{
    const struct gguf_kv *kv = kv_get(g, key);
    if (!kv)
        return ENG_ENOTFOUND;
    if (kv->type != ENG_GGUF_BOOL)
        return ENG_EFORMAT;
    *out = kv->data[0] != 0;
    return 0;
}

int eng_gguf_get_str(const struct eng_gguf *g, const char *key, const char **s, size_t *len)
{
    const struct gguf_kv *kv = kv_get(g, key);
    if (!kv)
        return ENG_ENOTFOUND;
    if (kv->type != ENG_GGUF_STRING)
        return ENG_EFORMAT;
    *s = kv->str;
    if (len)
        *len = kv->str_len;
    return 0;
}

int eng_gguf_get_arr(const struct eng_gguf *g, const char *key, struct eng_gguf_arr *out)
{
    const struct gguf_kv *kv = kv_get(g, key);
    if (!kv)
        return ENG_ENOTFOUND;
    if (kv->type != ENG_GGUF_ARRAY)
        return ENG_EFORMAT;
    *out = (struct eng_gguf_arr){g, kv->etype, kv->n, kv->data, kv->str_off};
    return 0;
}

int eng_gguf_arr_int(const struct eng_gguf_arr *a, uint64_t i, int64_t *out)
{
    int big;
    if (i >= a->n || a->type == ENG_GGUF_STRING)
        return ENG_EINVAL;
    if (read_int(a->type, a->data + i * vtype_size[a->type], out, &big) || big)
        return ENG_EFORMAT;
    return 0;
}

int eng_gguf_arr_f(const struct eng_gguf_arr *a, uint64_t i, double *out)
{
    if (i >= a->n)
        return ENG_EINVAL;
    if (a->type == ENG_GGUF_F32) {
        float f;
        memcpy(&f, a->data + i * 4, 4);
        *out = (double)f;
        return 0;
    }
    if (a->type == ENG_GGUF_F64) {
        memcpy(out, a->data + i * 8, 8);
        return 0;
    }
    return ENG_EFORMAT;
}

int eng_gguf_arr_str(const struct eng_gguf_arr *a, uint64_t i, const char **s, size_t *len)
{
    if (i >= a->n)
        return ENG_EINVAL;
    if (a->type != ENG_GGUF_STRING)
        return ENG_EFORMAT;
    uint64_t l;
    const uint8_t *p = a->data + a->str_off[i];
    memcpy(&l, p, 8);
    *s = (const char *)p + 8;
    *len = (size_t)l;
    return 0;
}

int eng_gguf_n_tensors(const struct eng_gguf *g) { return g->n_tensors; }

int eng_gguf_tensor_at(const struct eng_gguf *g, int idx, struct eng_tensor *out)
{
    if (idx < 0 || idx >= g->n_tensors)
        return ENG_EINVAL;
    const struct gguf_tensor *t = &g->tensors[idx];
    const struct gguf_file *f = &g->files[t->file];
    out->name = t->name;
    out->type = (enum eng_type)t->type;
    out->n_dims = t->n_dims;
    memcpy(out->ne, t->ne, sizeof out->ne);
    out->nbytes = (size_t)t->nbytes;
    out->data = f->map ? f->map + f->data_offset + t->offset : NULL;
    return 0;
}

int eng_gguf_tensor(const struct eng_gguf *g, const char *name, struct eng_tensor *out)
{
    int32_t i = hash_find(g, g->t_hash, g->t_hash_mask, t_name, name);
    if (i < 0)
        return ENG_ENOTFOUND;
    return eng_gguf_tensor_at(g, i, out);
}

int eng_gguf_tensor_shaped(const struct eng_gguf *g, const char *name, int n_dims,
                           const int64_t ne[4], struct eng_tensor *out, char *errbuf,
                           size_t errlen)
{
    struct eng_tensor t;
    if (eng_gguf_tensor(g, name, &t)) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "tensor '%s' not found", name);
        return ENG_ENOTFOUND;
    }
    int ok = n_dims >= 1 && n_dims <= 4;
    for (int d = 0; ok && d < 4; d++)
        ok = t.ne[d] == (d < n_dims ? ne[d] : 1);
    if (!ok) {
        if (errbuf && errlen) {
            char want[96] = "", have[96] = "";
            for (int d = 0; d < 4 && d < SK_MAX(n_dims, 1); d++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%" PRId64,
                         d ? ", " : "", ne[d]);
            for (int d = 0; d < t.n_dims || d == 0; d++)
                snprintf(have + strlen(have), sizeof have - strlen(have), "%s%" PRId64,
                         d ? ", " : "", t.ne[d]);
            snprintf(errbuf, errlen, "tensor '%s' has shape {%s}, expected {%s}", name, have,
                     want);
        }
        return ENG_ESHAPE;
    }
    *out = t;
    return 0;
}
