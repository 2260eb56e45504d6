/* base64.h — base64 (RFC 4648 §4, padded) and base64url (§5, unpadded) encode/decode. */
#ifndef CHATD_BASE64_H
#define CHATD_BASE64_H
#include <stddef.h>
#include <stdint.h>
#define BASE64_ENC_LEN(n) ((((n) + 2) / 3) * 4)
/* Writes the encoding plus a NUL into out (room: BASE64_ENC_LEN(n)+1); returns its length. */
size_t base64_encode(const uint8_t *in, size_t n, char *out);
size_t base64url_encode(const uint8_t *in, size_t n, char *out);   /* no '=' padding */
/* Decode; returns decoded length, or -1 on any invalid character/length. out needs
 * room for n*3/4 bytes. base64url_decode accepts unpadded input only. */
long base64_decode(const char *in, size_t n, uint8_t *out);
long base64url_decode(const char *in, size_t n, uint8_t *out);
#endif
