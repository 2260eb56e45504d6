/* sha256.c — SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104), PBKDF2-HMAC-SHA256
 * (RFC 8018) and a constant-time compare. Bytes are loaded and stored one at a time,
 * so the code is independent of host endianness and alignment. */
#include "sha256.h"
#include <string.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

/* One 64-byte block into the chaining state h. */
static void compress(uint32_t h[8], const uint8_t *blk)
{
    uint32_t w[64], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
               (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
    for (int i = 16; i < 64; i++)
        w[i] = w[i - 16] + (ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3)) +
               w[i - 7] + (ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10));
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

/* The digest bytes of state iv advanced by one block; out may be blk. */
static void digest(const uint32_t iv[8], const uint8_t *blk, uint8_t out[32])
{
    uint32_t h[8];
    memcpy(h, iv, sizeof h);
    compress(h, blk);
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 4; k++) out[4 * i + k] = (uint8_t)(h[i] >> (24 - 8 * k));
}

void sha256_init(sha256_ctx *c)
{
    *c = (sha256_ctx){ .h = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                              0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 } };
}

void sha256_update(sha256_ctx *c, const void *p, size_t n)
{
    c->nbytes += n;
    for (size_t i = 0; i < n; i++) {
        c->block[c->used++] = ((const uint8_t *)p)[i];
        if (c->used == 64) compress(c->h, c->block);
        c->used %= 64;
    }
}

void sha256_final(sha256_ctx *c, uint8_t out[32])
{
    static const uint8_t pad[64] = { 0x80 };
    uint64_t bits = c->nbytes * 8;
    sha256_update(c, pad, (c->used < 56 ? 56 : 120) - c->used);   /* 0x80, zeros up to 56 */
    for (int i = 0; i < 8; i++) c->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    digest(c->h, c->block, out);
    memset(c, 0, sizeof *c);   /* don't leave key-derived state lying around */
}

void sha256(const void *p, size_t n, uint8_t out[32])
{
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, p, n);
    sha256_final(&c, out);
}

/* HMAC key schedule: in and out absorb key^ipad and key^opad, once per key. */
static void hmac_setup(sha256_ctx *in, sha256_ctx *out, const void *key, size_t keylen)
{
    uint8_t pad[64] = { 0 };
    if (keylen > 64) sha256(key, keylen, pad);   /* RFC 2104: long keys are hashed first */
    else if (keylen > 0) memcpy(pad, key, keylen);
    for (int i = 0; i < 64; i++) pad[i] ^= 0x36;
    sha256_init(in);
    sha256_update(in, pad, 64);
    for (int i = 0; i < 64; i++) pad[i] ^= 0x36 ^ 0x5c;
    sha256_init(out);
    sha256_update(out, pad, 64);
}

void hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[32])
{
    sha256_ctx in, outer;
    hmac_setup(&in, &outer, key, keylen);
    sha256_update(&in, msg, n);
    sha256_final(&in, out);
    sha256_update(&outer, out, 32);
    sha256_final(&outer, out);
}

void pbkdf2_sha256(const void *pw, size_t pwlen, const void *salt, size_t saltlen,
                   uint32_t iterations, uint8_t *out, size_t outlen)
{
    /* The keyed contexts have absorbed one block each, and blk keeps a 32-byte hash padded
     * as a second block (0x80, bit length 768): each half of Uj = HMAC(P, Uj-1) is then one
     * compression, with no padding or buffering work. That keeps 100k iterations fast. */
    sha256_ctx in, outer;
    uint8_t blk[64] = { [32] = 0x80, [62] = 0x03 };
    hmac_setup(&in, &outer, pw, pwlen);
    for (size_t off = 0; off < outlen; off += 32) {
        uint8_t t[32] = { 0 }, ctr[4];
        sha256_ctx c = in;
        for (int i = 0; i < 4; i++) ctr[i] = (uint8_t)((off / 32 + 1) >> (24 - 8 * i));
        sha256_update(&c, salt, saltlen);
        sha256_update(&c, ctr, 4);
        sha256_final(&c, blk);                  /* inner hash of U1 = HMAC(P, S || i) */
        for (uint32_t j = 0; j < iterations || j == 0; j++) {
            if (j > 0) digest(in.h, blk, blk);  /* inner hash of Uj, from Uj-1 */
            digest(outer.h, blk, blk);          /* Uj */
            for (int b = 0; b < 32; b++) t[b] ^= blk[b];
        }
        memcpy(out + off, t, outlen - off < 32 ? outlen - off : 32);
    }
}

int ct_equal(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;   /* volatile: keep the compiler from short-cutting */
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++) d |= x[i] ^ y[i];
    return d == 0;
}
