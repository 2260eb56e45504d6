/* crypto.c — SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104), PBKDF2-HMAC-SHA256 (RFC 8018),
 * a constant-time compare, SHA-1 for the WebSocket accept key, and strict base64. Bytes are
 * loaded and stored one at a time, so the code is independent of host endianness and
 * alignment. */
#include "crypto.h"
#include <string.h>

typedef void compress_fn(uint32_t *h, const uint8_t *blk);

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The first n state words, big-endian, as the digest bytes. */
static void put_words(uint8_t *out, const uint32_t *h, int n)
{
    for (int i = 0; i < 4 * n; i++) out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

/* ---- the Merkle-Damgård framing SHA-1 and SHA-256 share: 64-byte blocks, then 0x80,
 * zeros and the 64-bit big-endian bit length. SHA-1 uses 5 of the context's 8 words. ---- */

static void md_update(sha256_ctx *c, compress_fn *compress, const void *p, size_t n)
{
    c->nbytes += n;
    for (size_t i = 0; i < n; i++) {
        c->block[c->used++] = ((const uint8_t *)p)[i];
        if (c->used == 64) compress(c->h, c->block);
        c->used %= 64;
    }
}

static void md_final(sha256_ctx *c, compress_fn *compress, uint8_t *out, int words)
{
    static const uint8_t pad[64] = { 0x80 };
    uint64_t bits = c->nbytes * 8;
    md_update(c, compress, pad, (c->used < 56 ? 56 : 120) - c->used);   /* 0x80, zeros to 56 */
    for (int i = 0; i < 8; i++) c->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    compress(c->h, c->block);
    put_words(out, c->h, words);
    memset(c, 0, sizeof *c);   /* don't leave key-derived state lying around */
}

/* ---- SHA-256 ---- */

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

static void sha256_compress(uint32_t *h, const uint8_t *blk)
{
    uint32_t w[64], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 16; i++) w[i] = be32(blk + 4 * i);
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
    sha256_compress(h, blk);
    put_words(out, h, 8);
}

void sha256_init(sha256_ctx *c)
{
    *c = (sha256_ctx){ .h = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                              0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 } };
}

void sha256_update(sha256_ctx *c, const void *p, size_t n) { md_update(c, sha256_compress, p, n); }
void sha256_final(sha256_ctx *c, uint8_t out[32]) { md_final(c, sha256_compress, out, 8); }

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

/* ---- SHA-1 ---- */

static void sha1_compress(uint32_t *h, const uint8_t *blk)
{
    static const uint32_t K1[4] = { 0x5a827999, 0x6ed9eba1, 0x8f1bbcdc, 0xca62c1d6 };
    uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 16; i++) w[i] = be32(blk + 4 * i);
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (int i = 0; i < 80; i++) {
        uint32_t f = i < 20 ? (b & c) | (~b & d)                      /* choose */
                   : i >= 40 && i < 60 ? (b & c) | (b & d) | (c & d)  /* majority */
                   : b ^ c ^ d;                                       /* parity */
        uint32_t t = rol(a, 5) + f + e + K1[i / 20] + w[i];
        e = d; d = c; c = rol(b, 30); b = a; a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

void sha1(const void *p, size_t n, uint8_t out[20])
{
    sha256_ctx c = { .h = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 } };
    md_update(&c, sha1_compress, p, n);
    md_final(&c, sha1_compress, out, 5);
}

/* ---- base64: decoding is strict (bad characters, misplaced or missing padding, impossible
 * lengths and non-zero leftover bits are all rejected), so every accepted string is canonical. */

static const char STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Each group of up to 3 bytes becomes one more character than it has bytes, then '='
 * up to 4 when padding. */
static size_t encode(const uint8_t *in, size_t n, char *out, const char *abc, int pad)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        size_t len = n - i < 3 ? n - i : 3;
        uint32_t v = 0;
        for (size_t j = 0; j < 3; j++) v = v << 8 | (j < len ? in[i + j] : 0);
        for (size_t j = 0; j <= len; j++) out[o++] = abc[(v >> (18 - 6 * j)) & 63];
        for (size_t j = len; pad && j < 3; j++) out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

size_t base64_encode(const uint8_t *in, size_t n, char *out) { return encode(in, n, out, STD, 1); }
size_t base64url_encode(const uint8_t *in, size_t n, char *out) { return encode(in, n, out, URL, 0); }

/* Decode n unpadded characters. A final group of 2 or 3 characters carries 1 or 2
 * bytes; its unused low bits must be zero. */
static long decode(const char *in, size_t n, uint8_t *out, const char *abc)
{
    size_t o = 0;
    if (n % 4 == 1) return -1;
    for (size_t i = 0; i < n; i += 4) {
        size_t len = n - i < 4 ? n - i : 4;
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            const char *d = j < len ? memchr(abc, in[i + j], 64) : abc;   /* past the end: 0 */
            if (!d) return -1;
            v = v << 6 | (uint32_t)(d - abc);
        }
        if (v & (0xffffffu >> 8 * (len - 1))) return -1;
        for (size_t j = 0; j + 1 < len; j++) out[o++] = (uint8_t)(v >> (16 - 8 * j));
    }
    return (long)o;
}

long base64_decode(const char *in, size_t n, uint8_t *out)
{
    if (n % 4 != 0) return -1;
    /* Up to two '=' and only at the very end; decode() rejects any '=' elsewhere. */
    for (int k = 0; k < 2 && n > 0 && in[n - 1] == '='; k++) n--;
    return decode(in, n, out, STD);
}

long base64url_decode(const char *in, size_t n, uint8_t *out) { return decode(in, n, out, URL); }
