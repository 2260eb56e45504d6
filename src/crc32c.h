/* crc32c.h — CRC-32C (Castagnoli, reflected poly 0x82F63B78), the log records' checksum. */
#ifndef CHATD_CRC32C_H
#define CHATD_CRC32C_H
#include <stddef.h>
#include <stdint.h>
/* crc32c(0, p, n) checksums p; pass a previous result as crc to continue over more data. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);
#endif
