/* sha1.c — one-shot SHA-1 (FIPS 180-4), needed only for the WebSocket accept key.
 * Bytes are loaded and stored explicitly, so it is endian- and alignment-clean. */
#include "sha1.h"
#include <string.h>

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void compress(uint32_t h[5], const uint8_t *blk)
{
    static const uint32_t K[4] = { 0x5a827999, 0x6ed9eba1, 0x8f1bbcdc, 0xca62c1d6 };
    uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16
             | (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (int i = 0; i < 80; i++) {
        uint32_t f = i < 20 ? (b & c) | (~b & d)                      /* choose */
                   : i >= 40 && i < 60 ? (b & c) | (b & d) | (c & d)  /* majority */
                   : b ^ c ^ d;                                       /* parity */
        uint32_t t = rol(a, 5) + f + e + K[i / 20] + w[i];
        e = d; d = c; c = rol(b, 30); b = a; a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

void sha1(const void *p, size_t n, uint8_t out[20])
{
    uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
    const uint8_t *in = p;
    uint64_t bits = (uint64_t)n * 8;
    uint8_t tail[128] = { 0 };   /* last partial block + padding: one or two blocks */
    size_t rest = n % 64, tlen = rest < 56 ? 64 : 128;

    for (size_t off = 0; off + 64 <= n; off += 64) compress(h, in + off);
    if (rest) memcpy(tail, in + n - rest, rest);
    tail[rest] = 0x80;
    for (int i = 0; i < 8; i++) tail[tlen - 1 - i] = (uint8_t)(bits >> 8 * i);
    for (size_t off = 0; off < tlen; off += 64) compress(h, tail + off);
    for (int i = 0; i < 20; i++) out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}
