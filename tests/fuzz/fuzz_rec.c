/* fuzz_rec.c — libFuzzer harness for the record codec (src/rec.h). Input: [type][payload].
 * A payload that decodes must re-encode to exactly the bytes the decoder took (a prefix of the
 * payload: trailing bytes are allowed; a conversation record may lack its last fields, last,
 * owner and direct, 4 bytes each, a message create its reply_to_id (4), and a token add its issue time, 8
 * bytes, as old logs do: absent fields
 * re-encode as zeros), and those must decode to the same again; an unknown type must be refused
 * whatever the payload. */
#include "rec.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", \
    __FILE__, __LINE__, #c); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t type = data[0];
    size_t n = size - 1;
    uint8_t *p = malloc(n + 1);   /* its own allocation: a read past the payload is caught */
    memcpy(p, data + 1, n);
    rec_t r, again;
    int rc = rec_decode(&r, type, p, n);
    CHECK(rc == (rec_name(type) ? rc : -2) && rc >= -2 && rc <= 0);
    if (rc == 0) {
        buf_t b;
        buf_init(&b);
        rec_encode(&b, &r);
        int conv = type == REC_CONV_CREATE || type == REC_CONV_UPDATE || type == REC_CONV_DELETE;
        int mc = type == REC_MSG_CREATE;
        size_t opt = conv ? 12 : type == REC_TOKEN_ADD ? 8 : mc ? 4 : 0, unit = conv || mc ? 4 : 8;   /* optional */
        CHECK(b.len - opt <= n);
        size_t took = b.len - opt + (n < b.len ? n - (b.len - opt) : opt) / unit * unit;   /* fields present */
        CHECK(memcmp(b.data, p, took) == 0);
        for (size_t i = took; i < b.len; i++) CHECK(b.data[i] == 0);   /* absent fields re-encode as 0 */
        CHECK(rec_decode(&again, type, (const uint8_t *)b.data, b.len) == 0);
        CHECK(rec_decode(&again, type, (const uint8_t *)b.data, b.len - opt - 1) == -1);
        buf_free(&b);
    }
    free(p);
    return 0;
}
