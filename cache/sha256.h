/* cache/ internal: SHA-256 with a copyable streaming state, and hex encoding. */
#ifndef SEEKD_CACHE_SHA256_H
#define SEEKD_CACHE_SHA256_H

#include "base.h"

struct cache__sha256 {
    uint32_t h[8];
    uint64_t len;  /* bytes absorbed */
    uint8_t buf[64];
    size_t fill;   /* bytes pending in buf */
};

void cache__sha256_init(struct cache__sha256 *s);
void cache__sha256_update(struct cache__sha256 *s, const void *data, size_t n);
void cache__sha256_final(struct cache__sha256 *s, uint8_t out[32]);
void cache__sha256(const void *data, size_t n, uint8_t out[32]);
/* Writes 2n lowercase hex digits and a NUL. */
void cache__hex(const uint8_t *bin, size_t n, char *out);

#endif
