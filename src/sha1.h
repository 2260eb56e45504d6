/* sha1.h — SHA-1 (FIPS 180-4), used only for the WebSocket handshake (RFC 6455). */
#ifndef CHATD_SHA1_H
#define CHATD_SHA1_H
#include <stddef.h>
#include <stdint.h>
void sha1(const void *p, size_t n, uint8_t out[20]);
#endif
