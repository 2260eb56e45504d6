/* crypto.h — SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104), PBKDF2-HMAC-SHA256 (RFC 8018),
 * a constant-time comparison for secrets, SHA-1 (only for the WebSocket handshake, RFC 6455),
 * and base64 (RFC 4648 §4, padded) / base64url (§5, unpadded). */
#ifndef CHATD_CRYPTO_H
#define CHATD_CRYPTO_H
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

void sha1(const void *p, size_t n, uint8_t out[20]);

#define BASE64_ENC_LEN(n) ((((n) + 2) / 3) * 4)
/* Writes the encoding plus a NUL into out (room: BASE64_ENC_LEN(n)+1); returns its length. */
size_t base64_encode(const uint8_t *in, size_t n, char *out);
size_t base64url_encode(const uint8_t *in, size_t n, char *out);   /* no '=' padding */
/* Decode; returns decoded length, or -1 on any invalid character/length. out needs
 * room for n*3/4 bytes. base64url_decode accepts unpadded input only. */
long base64_decode(const char *in, size_t n, uint8_t *out);
long base64url_decode(const char *in, size_t n, uint8_t *out);
#endif
