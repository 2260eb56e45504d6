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

static uint32_t load32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void store32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* One 64-byte block into the chaining state h. */
static void compress(uint32_t h[8], const uint8_t *blk)
{
    uint32_t w[64], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 16; i++) w[i] = load32(blk + 4 * i);
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

void sha256_init(sha256_ctx *c)
{
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(c->h, iv, sizeof iv);
    c->nbytes = 0;
    c->used = 0;
}

void sha256_update(sha256_ctx *c, const void *p, size_t n)
{
    const uint8_t *in = p;
    c->nbytes += n;
    while (n > 0) {
        size_t take = 64 - c->used < n ? 64 - c->used : n;
        memcpy(c->block + c->used, in, take);
        c->used += take;
        if (c->used == 64) { compress(c->h, c->block); c->used = 0; }
        in += take;
        n -= take;
    }
}

void sha256_final(sha256_ctx *c, uint8_t out[32])
{
    uint64_t bits = c->nbytes * 8;
    c->block[c->used++] = 0x80;
    if (c->used > 56) {   /* no room for the length: pad out this block first */
        memset(c->block + c->used, 0, 64 - c->used);
        compress(c->h, c->block);
        c->used = 0;
    }
    memset(c->block + c->used, 0, 56 - c->used);
    store32(c->block + 56, (uint32_t)(bits >> 32));
    store32(c->block + 60, (uint32_t)bits);
    compress(c->h, c->block);
    for (int i = 0; i < 8; i++) store32(out + 4 * i, c->h[i]);
    memset(c, 0, sizeof *c);   /* don't leave key-derived state lying around */
}

void sha256(const void *p, size_t n, uint8_t out[32])
{
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, p, n);
    sha256_final(&c, out);
}

/* HMAC key schedule: contexts that have already absorbed key^ipad and key^opad. */
typedef struct { sha256_ctx in, out; } hmac_keyed;

static void hmac_setup(hmac_keyed *k, const void *key, size_t keylen)
{
    uint8_t kb[64] = { 0 }, ipad[64], opad[64];
    if (keylen > 64) sha256(key, keylen, kb);   /* RFC 2104: long keys are hashed first */
    else if (keylen > 0) memcpy(kb, key, keylen);
    for (int i = 0; i < 64; i++) { ipad[i] = kb[i] ^ 0x36; opad[i] = kb[i] ^ 0x5c; }
    sha256_init(&k->in);
    sha256_update(&k->in, ipad, 64);
    sha256_init(&k->out);
    sha256_update(&k->out, opad, 64);
}

/* out = H(key^opad || H(key^ipad || inner)), where `inner` already holds the message. */
static void hmac_finish(const hmac_keyed *k, sha256_ctx *inner, uint8_t out[32])
{
    sha256_ctx o = k->out;
    sha256_final(inner, out);
    sha256_update(&o, out, 32);
    sha256_final(&o, out);
}

void hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[32])
{
    hmac_keyed k;
    hmac_setup(&k, key, keylen);
    sha256_update(&k.in, msg, n);
    hmac_finish(&k, &k.in, out);
}

/* Half of Uj = HMAC(P, Uj-1). The keyed context has absorbed exactly one block (its
 * buffer is empty), and blk holds a 32-byte U already padded as the second
 * block after a 64-byte pad block, so one compression from the keyed state does it
 * and the digest goes straight back into blk[0..31], keeping the padding. */
static void hmac_half(const sha256_ctx *keyed, uint8_t blk[64])
{
    uint32_t h[8];
    memcpy(h, keyed->h, sizeof h);
    compress(h, blk);
    for (int i = 0; i < 8; i++) store32(blk + 4 * i, h[i]);
}

void pbkdf2_sha256(const void *pw, size_t pwlen, const void *salt, size_t saltlen,
                   uint32_t iterations, uint8_t *out, size_t outlen)
{
    /* The key is absorbed once per call, and the inner loop costs two compressions
     * per iteration with no padding or buffering work: that is what keeps 100k
     * iterations in the tens of milliseconds. */
    hmac_keyed k;
    uint8_t blk[64] = { 0 }, t[32], ctr[4];
    hmac_setup(&k, pw, pwlen);
    blk[32] = 0x80;   /* padding for a 32-byte message after one 64-byte block: */
    blk[62] = 0x03;   /* bit length (64 + 32) * 8 = 768 = 0x0300 */
    for (uint32_t i = 1; outlen > 0; i++) {
        sha256_ctx c = k.in;
        size_t take = outlen < 32 ? outlen : 32;
        store32(ctr, i);
        sha256_update(&c, salt, saltlen);
        sha256_update(&c, ctr, 4);
        hmac_finish(&k, &c, blk);   /* U1 lands in blk[0..31] */
        memcpy(t, blk, 32);
        for (uint32_t j = 1; j < iterations; j++) {
            hmac_half(&k.in, blk);
            hmac_half(&k.out, blk);
            for (int b = 0; b < 32; b++) t[b] ^= blk[b];
        }
        memcpy(out, t, take);
        out += take;
        outlen -= take;
    }
}

int ct_equal(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;   /* volatile: keep the compiler from short-cutting */
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++) d |= x[i] ^ y[i];
    return d == 0;
}
