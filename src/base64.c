/* base64.c — base64 (RFC 4648 §4, padded) and base64url (§5, unpadded). Decoding is
 * strict: bad characters, misplaced or missing padding, impossible lengths and
 * non-zero leftover bits are all rejected, so every accepted string is canonical. */
#include "base64.h"
#include <string.h>

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
