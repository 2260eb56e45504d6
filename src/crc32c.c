/* crc32c.c — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every
 * log record. Slicing-by-8: eight bytes per step through eight 256-entry tables, several
 * times faster than one byte per step, which matters when replay checksums the whole log. */
#include "store.h"

/* T[0][b] is the CRC of the byte b; T[k][b] that of b followed by k zero bytes. */
static uint32_t T[8][256];

/* Filled before main, so the tables never change once anything (any thread) reads them. */
__attribute__((constructor)) static void crc32c_tables(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int i = 0; i < 8; i++) c = (c >> 1) ^ (0x82F63B78u & -(c & 1));
        T[0][b] = c;
    }
    for (int k = 1; k < 8; k++)
        for (int b = 0; b < 256; b++) T[k][b] = (T[k - 1][b] >> 8) ^ T[0][T[k - 1][b] & 0xff];
}

uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    /* The pre- and post-inversion live here, so a result can be fed back in as crc. */
    crc = ~crc;
    for (; n >= 8; n -= 8, b += 8) {
        /* Byte loads, not a 32-bit read: endian- and alignment-clean. */
        uint32_t x = crc ^ (b[0] | b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
        crc = T[7][x & 0xff] ^ T[6][(x >> 8) & 0xff] ^ T[5][(x >> 16) & 0xff] ^ T[4][x >> 24] ^
              T[3][b[4]] ^ T[2][b[5]] ^ T[1][b[6]] ^ T[0][b[7]];
    }
    while (n--) crc = T[0][(crc ^ *b++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
