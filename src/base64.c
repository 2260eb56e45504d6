/* base64.c — base64 (RFC 4648 §4, padded) and base64url (§5, unpadded). Decoding is
 * strict: bad characters, misplaced or missing padding, impossible lengths and
 * non-zero leftover bits are all rejected, so every accepted string is canonical. */
#include "base64.h"

static const char STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t encode(const uint8_t *in, size_t n, char *out, const char *abc, int pad)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        if (i + 1 < n) out[o++] = abc[(v >> 6) & 63];
        else if (pad) out[o++] = '=';
        if (i + 2 < n) out[o++] = abc[v & 63];
        else if (pad) out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

size_t base64_encode(const uint8_t *in, size_t n, char *out) { return encode(in, n, out, STD, 1); }
size_t base64url_encode(const uint8_t *in, size_t n, char *out) { return encode(in, n, out, URL, 0); }

/* Value of one character, or -1. Range checks rather than a 256-entry table. */
static int value(char c, int url)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
}

/* Decode n unpadded characters. A final group of 2 or 3 characters carries 1 or 2
 * bytes; its unused low bits must be zero. */
static long decode(const char *in, size_t n, uint8_t *out, int url)
{
    size_t o = 0;
    if (n % 4 == 1) return -1;
    for (size_t i = 0; i < n; i += 4) {
        size_t len = n - i < 4 ? n - i : 4;
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = j < len ? value(in[i + j], url) : 0;
            if (d < 0) return -1;
            v = v << 6 | (uint32_t)d;
        }
        if ((len == 2 && (v & 0xffff)) || (len == 3 && (v & 0xff))) return -1;
        out[o++] = (uint8_t)(v >> 16);
        if (len > 2) out[o++] = (uint8_t)(v >> 8);
        if (len > 3) out[o++] = (uint8_t)v;
    }
    return (long)o;
}

long base64_decode(const char *in, size_t n, uint8_t *out)
{
    if (n % 4 != 0) return -1;
    /* Up to two '=' and only at the very end; decode() rejects any '=' elsewhere. */
    if (n > 0 && in[n - 1] == '=') n--;
    if (n > 0 && in[n - 1] == '=') n--;
    return decode(in, n, out, 0);
}

long base64url_decode(const char *in, size_t n, uint8_t *out) { return decode(in, n, out, 1); }
