/*
 * A small GGUF writer for tests, fuzz seeds and benchmarks: builds a file in memory field by
 * field, so tests can produce valid files and also any malformation (wrong counts, types,
 * offsets).  Header-only; every function is static.  Not part of seekd itself.
 */
#ifndef SEEKD_TESTS_GGUF_WRITER_H
#define SEEKD_TESTS_GGUF_WRITER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_FN static __attribute__((unused))

struct gw {
    uint8_t *p;
    size_t n, cap;
};

GW_FN void gw_raw(struct gw *w, const void *d, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->p = realloc(w->p, w->cap);
        if (!w->p)
            abort();
    }
    if (n)
        memcpy(w->p + w->n, d, n);
    w->n += n;
}
GW_FN void gw_u8(struct gw *w, uint8_t v) { gw_raw(w, &v, 1); }
GW_FN void gw_u32(struct gw *w, uint32_t v) { gw_raw(w, &v, 4); }
GW_FN void gw_u64(struct gw *w, uint64_t v) { gw_raw(w, &v, 8); }
GW_FN void gw_f32(struct gw *w, float v) { gw_raw(w, &v, 4); }
GW_FN void gw_str(struct gw *w, const char *s)
{
    gw_u64(w, strlen(s));
    gw_raw(w, s, strlen(s));
}
GW_FN void gw_header(struct gw *w, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    gw_raw(w, "GGUF", 4);
    gw_u32(w, version);
    gw_u64(w, n_tensors);
    gw_u64(w, n_kv);
}
/* Key-value helpers (type ids as in GGUF). */
GW_FN void gw_kv_u32(struct gw *w, const char *k, uint32_t v)
{
    gw_str(w, k);
    gw_u32(w, 4);
    gw_u32(w, v);
}
GW_FN void gw_kv_u16(struct gw *w, const char *k, uint16_t v)
{
    gw_str(w, k);
    gw_u32(w, 2);
    gw_raw(w, &v, 2);
}
GW_FN void gw_kv_i32(struct gw *w, const char *k, int32_t v)
{
    gw_str(w, k);
    gw_u32(w, 5);
    gw_raw(w, &v, 4);
}
GW_FN void gw_kv_f32(struct gw *w, const char *k, float v)
{
    gw_str(w, k);
    gw_u32(w, 6);
    gw_f32(w, v);
}
GW_FN void gw_kv_bool(struct gw *w, const char *k, int v)
{
    gw_str(w, k);
    gw_u32(w, 7);
    gw_u8(w, (uint8_t)v);
}
GW_FN void gw_kv_str(struct gw *w, const char *k, const char *v)
{
    gw_str(w, k);
    gw_u32(w, 8);
    gw_str(w, v);
}
GW_FN void gw_kv_arr_str(struct gw *w, const char *k, const char *const *v, size_t n)
{
    gw_str(w, k);
    gw_u32(w, 9);
    gw_u32(w, 8);
    gw_u64(w, n);
    for (size_t i = 0; i < n; i++)
        gw_str(w, v[i]);
}
GW_FN void gw_kv_arr_i32(struct gw *w, const char *k, const int32_t *v, size_t n)
{
    gw_str(w, k);
    gw_u32(w, 9);
    gw_u32(w, 5);
    gw_u64(w, n);
    gw_raw(w, v, n * 4);
}
GW_FN void gw_tensor(struct gw *w, const char *name, uint32_t n_dims, const int64_t *ne,
                      uint32_t type, uint64_t offset)
{
    gw_str(w, name);
    gw_u32(w, n_dims);
    for (uint32_t i = 0; i < n_dims; i++)
        gw_u64(w, (uint64_t)ne[i]);
    gw_u32(w, type);
    gw_u64(w, offset);
}
GW_FN void gw_pad(struct gw *w, size_t align)
{
    while (w->n % align)
        gw_u8(w, 0);
}
GW_FN int gw_write(const struct gw *w, const char *path)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t ok = w->n ? fwrite(w->p, 1, w->n, fp) : 0;
    fclose(fp);
    return ok == w->n ? 0 : -1;
}
GW_FN void gw_free(struct gw *w)
{
    free(w->p);
    *w = (struct gw){0};
}

/* Copies every metadata pair of an open GGUF into w (types seekd's vocab files use: string,
 * u32, i32, f32, bool, and arrays of string/i32/f32), skipping the key `skip` (may be NULL).
 * Returns the number copied, or -1 for a type it does not handle.  Needs engine/engine.h. */
#ifdef SEEKD_ENGINE_H
GW_FN int gw_copy_kvs(struct gw *w, const struct eng_gguf *g, const char *skip, int count_only)
{
    int n = 0;
    for (int i = 0; i < eng_gguf_n_kv(g); i++) {
        const char *k = eng_gguf_key(g, i);
        if (skip && !strcmp(k, skip))
            continue;
        n++;
        if (count_only)
            continue;
        int t = eng_gguf_kv_type(g, i);
        int64_t iv;
        float fv;
        const char *s;
        size_t len;
        if (t == ENG_GGUF_STRING) {
            eng_gguf_get_str(g, k, &s, &len);
            gw_str(w, k);
            gw_u32(w, 8);
            gw_u64(w, len);
            gw_raw(w, s, len);
        } else if (t == ENG_GGUF_U32 || t == ENG_GGUF_I32) {
            eng_gguf_get_int(g, k, &iv);
            gw_str(w, k);
            gw_u32(w, (uint32_t)t);
            gw_u32(w, (uint32_t)iv);
        } else if (t == ENG_GGUF_BOOL) {
            eng_gguf_get_int(g, k, &iv);
            gw_kv_bool(w, k, (int)iv);
        } else if (t == ENG_GGUF_F32) {
            eng_gguf_get_f32(g, k, &fv);
            gw_kv_f32(w, k, fv);
        } else if (t == ENG_GGUF_ARRAY) {
            struct eng_gguf_arr a;
            eng_gguf_get_arr(g, k, &a);
            gw_str(w, k);
            gw_u32(w, 9);
            gw_u32(w, a.type);
            gw_u64(w, a.n);
            for (uint64_t j = 0; j < a.n; j++) {
                double d;
                if (a.type == ENG_GGUF_STRING) {
                    eng_gguf_arr_str(&a, j, &s, &len);
                    gw_u64(w, len);
                    gw_raw(w, s, len);
                } else if (a.type == ENG_GGUF_I32) {
                    eng_gguf_arr_int(&a, j, &iv);
                    gw_u32(w, (uint32_t)iv);
                } else if (a.type == ENG_GGUF_F32) {
                    eng_gguf_arr_f(&a, j, &d);
                    gw_f32(w, (float)d);
                } else {
                    return -1;
                }
            }
        } else {
            return -1;
        }
    }
    return n;
}
#endif

#endif
