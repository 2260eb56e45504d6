/* sha256.h — SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104) and PBKDF2-HMAC-SHA256
 * (RFC 8018), plus a constant-time comparison for secrets. */
#ifndef CHATD_SHA256_H
#define CHATD_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t nbytes;
    uint8_t block[64];
    size_t used;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *p, size_t n);
void sha256_final(sha256_ctx *c, uint8_t out[32]);
void sha256(const void *p, size_t n, uint8_t out[32]);

void hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[32]);
void pbkdf2_sha256(const void *pw, size_t pwlen, const void *salt, size_t saltlen,
                   uint32_t iterations, uint8_t *out, size_t outlen);

/* 1 if equal; time depends only on n. */
int ct_equal(const void *a, const void *b, size_t n);
#endif
