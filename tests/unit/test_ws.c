/* test_ws.c — RFC 6455 vectors and edge cases for the WebSocket codec (src/ws.c). */
#include "ws.h"
#include "t.h"
#include <stdlib.h>

#define K 0x37, 0xfa, 0x21, 0x3d   /* the masking key of the RFC §5.7 examples */
static const uint8_t KEY[4] = { K };

/* Build a masked client frame: first byte b0, payload p[0..n) masked with KEY. */
static size_t client_frame(uint8_t *out, int b0, const void *p, size_t n)
{
    size_t h = 2;
    out[0] = (uint8_t)b0;
    if (n < 126) {
        out[1] = (uint8_t)(0x80 | n);
    } else if (n <= 0xFFFF) {
        out[1] = 0x80 | 126; out[2] = (uint8_t)(n >> 8); out[3] = (uint8_t)n; h = 4;
    } else {
        out[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
        h = 10;
    }
    memcpy(out + h, KEY, 4);
    for (size_t i = 0; i < n; i++) out[h + 4 + i] = ((const uint8_t *)p)[i] ^ KEY[i & 3];
    return h + 4 + n;
}

/* Feed one complete frame; expect it fully consumed with no error. */
static long read_one(ws_reader *r, uint8_t *f, size_t n, ws_event *ev)
{
    long rc = ws_read(r, f, n, ev);
    CHECK_EQ_INT(rc, (long)n);
    return rc;
}

/* A frame whose reading fails: returns the (negative) code. */
static long read_err(const uint8_t *frame, size_t n)
{
    ws_reader r;
    ws_event ev;
    uint8_t b[64];
    memcpy(b, frame, n);
    ws_reader_init(&r, 1 << 20);
    long rc = ws_read(&r, b, n, &ev);
    ws_reader_free(&r);
    return rc;
}

static void test_accept_key(void)
{
    char out[29];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    ws_accept_key(key, strlen(key), out);
    CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_rfc_examples(void)
{
    buf_t b;
    buf_init(&b);
    ws_frame(&b, WS_TEXT, "Hello", 5);
    const uint8_t hello[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
    CHECK_EQ_INT(b.len, sizeof hello);
    CHECK_MEM(b.data, hello, sizeof hello);
    buf_reset(&b);
    ws_frame(&b, WS_PONG, "Hello", 5);
    const uint8_t pong[] = { 0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
    CHECK_EQ_INT(b.len, sizeof pong);
    CHECK_MEM(b.data, pong, sizeof pong);
    buf_free(&b);

    ws_reader r;
    ws_event ev;
    ws_reader_init(&r, 1000);
    uint8_t m[] = { 0x81, 0x85, K, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
    read_one(&r, m, sizeof m, &ev);
    CHECK_EQ_INT(ev.type, WS_TEXT);
    CHECK_EQ_INT(ev.len, 5);
    CHECK_MEM(ev.data, "Hello", 5);
    CHECK(ev.data == m + 6);                  /* unfragmented: no copy */

    uint8_t f1[] = { 0x01, 0x83, K, 0x7f, 0x9f, 0x4d };
    uint8_t f2[] = { 0x80, 0x82, K, 0x5b, 0x95 };
    read_one(&r, f1, sizeof f1, &ev);
    CHECK_EQ_INT(ev.type, 0);
    read_one(&r, f2, sizeof f2, &ev);
    CHECK_EQ_INT(ev.type, WS_TEXT);
    CHECK_EQ_INT(ev.len, 5);
    CHECK_MEM(ev.data, "Hello", 5);

    uint8_t ping[] = { 0x89, 0x85, K, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
    read_one(&r, ping, sizeof ping, &ev);
    CHECK_EQ_INT(ev.type, WS_PING);
    CHECK_EQ_INT(ev.len, 5);
    CHECK_MEM(ev.data, "Hello", 5);
    ws_reader_free(&r);
}

/* Encode n bytes as binary: check the exact header, then read it back masked. */
static void roundtrip(size_t n, const uint8_t *hdr, size_t hl)
{
    uint8_t *p = malloc(n), *f = malloc(n + 14);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 7 + 3);
    buf_t b;
    buf_init(&b);
    ws_frame(&b, WS_BIN, p, n);
    CHECK_EQ_INT(b.len, hl + n);
    CHECK_MEM(b.data, hdr, hl);
    CHECK_MEM(b.data + hl, p, n);
    buf_free(&b);

    size_t fl = client_frame(f, 0x82, p, n);
    CHECK_EQ_INT(fl, hl + 4 + n);
    CHECK_EQ_INT(f[1], hdr[1] | 0x80);
    CHECK_MEM(f + 2, hdr + 2, hl - 2);
    ws_reader r;
    ws_event ev;
    ws_reader_init(&r, 65536);
    CHECK_EQ_INT(ws_read(&r, f, fl - 1, &ev), 0);   /* one byte short */
    read_one(&r, f, fl, &ev);
    CHECK_EQ_INT(ev.type, WS_BIN);
    CHECK_EQ_INT(ev.len, n);
    CHECK(ev.len == n && memcmp(ev.data, p, n) == 0);
    ws_reader_free(&r);
    free(p);
    free(f);
}

static void test_lengths(void)
{
    roundtrip(0, (const uint8_t[]){ 0x82, 0x00 }, 2);
    roundtrip(125, (const uint8_t[]){ 0x82, 0x7D }, 2);
    roundtrip(126, (const uint8_t[]){ 0x82, 0x7E, 0x00, 0x7E }, 4);
    roundtrip(256, (const uint8_t[]){ 0x82, 0x7E, 0x01, 0x00 }, 4);
    roundtrip(65535, (const uint8_t[]){ 0x82, 0x7E, 0xFF, 0xFF }, 4);
    roundtrip(65536, (const uint8_t[]){ 0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00 }, 10);
}

static void test_opcodes(void)
{
    const int ops[] = { WS_CONT, WS_TEXT, WS_BIN, WS_CLOSE, WS_PING, WS_PONG };
    const uint8_t first[] = { 0x80, 0x81, 0x82, 0x88, 0x89, 0x8A };
    for (int i = 0; i < 6; i++) {
        buf_t b;
        buf_init(&b);
        ws_frame(&b, ops[i], "ab", 2);
        CHECK_EQ_INT((uint8_t)b.data[0], first[i]);
        CHECK_EQ_INT((uint8_t)b.data[1], 0x02);
        buf_free(&b);
    }
    /* decode each: BIN (fragmented, exercising CONT), TEXT, PING, PONG, CLOSE */
    ws_reader r;
    ws_event ev;
    uint8_t f[32];
    ws_reader_init(&r, 100);
    read_one(&r, f, client_frame(f, 0x02, "\x00\xff", 2), &ev);
    CHECK_EQ_INT(ev.type, 0);
    CHECK_EQ_INT(r.in_msg, 1);
    read_one(&r, f, client_frame(f, 0x80, "\x01", 1), &ev);
    CHECK_EQ_INT(ev.type, WS_BIN);
    CHECK(ev.len == 3 && memcmp(ev.data, "\x00\xff\x01", 3) == 0);
    CHECK_EQ_INT(r.in_msg, 0);
    read_one(&r, f, client_frame(f, 0x81, "hi", 2), &ev);
    CHECK_EQ_INT(ev.type, WS_TEXT);
    read_one(&r, f, client_frame(f, 0x89, "p", 1), &ev);
    CHECK_EQ_INT(ev.type, WS_PING);
    read_one(&r, f, client_frame(f, 0x8A, "q", 1), &ev);
    CHECK_EQ_INT(ev.type, WS_PONG);
    CHECK(ev.len == 1 && ev.data[0] == 'q');
    read_one(&r, f, client_frame(f, 0x88, "\x03\xe8", 2), &ev);
    CHECK_EQ_INT(ev.type, WS_CLOSE);
    CHECK_EQ_INT(ev.close_code, 1000);
    ws_reader_free(&r);
}

static void test_masking(void)
{
    /* key 01 02 03 04 over masked bytes 01 02 03 04 05 -> 00 00 00 00 04 */
    uint8_t f[] = { 0x82, 0x85, 0x01, 0x02, 0x03, 0x04, 0x01, 0x02, 0x03, 0x04, 0x05 };
    ws_reader r;
    ws_event ev;
    ws_reader_init(&r, 100);
    read_one(&r, f, sizeof f, &ev);
    CHECK_EQ_INT(ev.len, 5);
    CHECK_MEM(ev.data, "\x00\x00\x00\x00\x04", 5);
    ws_reader_free(&r);
}

static void test_byte_by_byte(void)
{
    uint8_t f[] = { 0x81, 0x85, K, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
    const uint8_t orig[] = { 0x81, 0x85, K, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
    ws_reader r;
    ws_event ev;
    ws_reader_init(&r, 1000);
    for (size_t n = 0; n < sizeof f; n++) {
        CHECK_EQ_INT(ws_read(&r, f, n, &ev), 0);
        CHECK_EQ_INT(ev.type, 0);
    }
    CHECK_MEM(f, orig, sizeof f);             /* nothing unmasked until complete */
    CHECK_EQ_INT(ws_read(&r, f, sizeof f, &ev), 11);
    CHECK_EQ_INT(ev.type, WS_TEXT);
    CHECK_MEM(ev.data, "Hello", 5);
    /* 16-bit length form, byte by byte */
    uint8_t big[200 + 8];
    uint8_t pay[200];
    memset(pay, 'x', sizeof pay);
    size_t bl = client_frame(big, 0x81, pay, sizeof pay);
    for (size_t n = 0; n < bl; n++) CHECK_EQ_INT(ws_read(&r, big, n, &ev), 0);
    CHECK_EQ_INT(ws_read(&r, big, bl, &ev), 208);
    CHECK(ev.len == 200 && memcmp(ev.data, pay, 200) == 0);
    ws_reader_free(&r);
}

static void test_two_frames_in_buffer(void)
{
    uint8_t b[32];
    size_t n1 = client_frame(b, 0x81, "one", 3);
    size_t n2 = client_frame(b + n1, 0x82, "two!", 4);
    ws_reader r;
    ws_event ev;
    ws_reader_init(&r, 100);
    CHECK_EQ_INT(ws_read(&r, b, n1 + n2, &ev), 9);
    CHECK(ev.type == WS_TEXT && ev.len == 3 && memcmp(ev.data, "one", 3) == 0);
    CHECK_EQ_INT(ws_read(&r, b + n1, n2, &ev), 10);
    CHECK(ev.type == WS_BIN && ev.len == 4 && memcmp(ev.data, "two!", 4) == 0);
    ws_reader_free(&r);
}

static void test_fragmentation(void)
{
    uint8_t b[64];
    size_t n = 0, l[4];
    n += l[0] = client_frame(b + n, 0x01, "Hel", 3);
    n += l[1] = client_frame(b + n, 0x89, "hb", 2);
    n += l[2] = client_frame(b + n, 0x00, "lo", 2);
    n += l[3] = client_frame(b + n, 0x80, "!", 1);
    ws_reader r;
    ws_event ev;
    ws_reader_init(&r, 100);
    uint8_t *p = b;
    long rc = ws_read(&r, p, n, &ev);
    CHECK_EQ_INT(rc, l[0]);
    CHECK_EQ_INT(ev.type, 0);
    p += l[0]; n -= l[0];
    rc = ws_read(&r, p, n, &ev);
    CHECK_EQ_INT(rc, l[1]);
    CHECK(ev.type == WS_PING && ev.len == 2 && memcmp(ev.data, "hb", 2) == 0);
    p += l[1]; n -= l[1];
    rc = ws_read(&r, p, n, &ev);
    CHECK_EQ_INT(rc, l[2]);
    CHECK_EQ_INT(ev.type, 0);
    p += l[2]; n -= l[2];
    rc = ws_read(&r, p, n, &ev);
    CHECK_EQ_INT(rc, l[3]);
    CHECK_EQ_INT(ev.type, WS_TEXT);
    CHECK(ev.len == 6 && memcmp(ev.data, "Hello!", 6) == 0);
    CHECK(ev.data == (const uint8_t *)r.msg.data);   /* assembled copy */
    /* a new message after it works, and a close may interleave fragments too */
    read_one(&r, b, client_frame(b, 0x02, "a", 1), &ev);
    read_one(&r, b, client_frame(b, 0x88, "", 0), &ev);
    CHECK(ev.type == WS_CLOSE && ev.close_code == 1005);
    read_one(&r, b, client_frame(b, 0x80, "b", 1), &ev);
    CHECK(ev.type == WS_BIN && ev.len == 2 && memcmp(ev.data, "ab", 2) == 0);
    ws_reader_free(&r);
}

static void test_protocol_errors(void)
{
    uint8_t f[64];
    static const uint8_t unmasked[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
    CHECK_EQ_INT(read_err(unmasked, sizeof unmasked), -1002);
    CHECK_EQ_INT(read_err(unmasked, 2), -1002);          /* known from the header */
    CHECK_EQ_INT(read_err(f, client_frame(f, 0xC1, "a", 1)), -1002);   /* RSV1 */
    CHECK_EQ_INT(read_err(f, client_frame(f, 0xA1, "a", 1)), -1002);   /* RSV2 */
    CHECK_EQ_INT(read_err(f, client_frame(f, 0x91, "a", 1)), -1002);   /* RSV3 */
    for (int op = 3; op <= 0xF; op++) {
        if (op >= 8 && op <= 10) continue;
        CHECK_EQ_INT(read_err(f, client_frame(f, 0x80 | op, "a", 1)), -1002);
    }
    /* control frames: > 125 bytes, or not FIN */
    static const uint8_t ping126[] = { 0x89, 0xFE, 0x00, 0x7E };
    CHECK_EQ_INT(read_err(ping126, sizeof ping126), -1002);
    CHECK_EQ_INT(read_err(f, client_frame(f, 0x09, "a", 1)), -1002);
    CHECK_EQ_INT(read_err(f, client_frame(f, 0x08, "", 0)), -1002);
    CHECK_EQ_INT(read_err(f, client_frame(f, 0x0A, "", 0)), -1002);
    /* continuation with no message in progress */
    CHECK_EQ_INT(read_err(f, client_frame(f, 0x80, "a", 1)), -1002);
    CHECK_EQ_INT(read_err(f, client_frame(f, 0x00, "a", 1)), -1002);
    /* 64-bit length with the top bit set; non-minimal 16- and 64-bit forms */
    static const uint8_t top[] = { 0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0x01, K };
    CHECK_EQ_INT(read_err(top, sizeof top), -1002);
    static const uint8_t nm16[] = { 0x82, 0xFE, 0x00, 0x7D, K };
    CHECK_EQ_INT(read_err(nm16, sizeof nm16), -1002);
    static const uint8_t nm64[] = { 0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, K };
    CHECK_EQ_INT(read_err(nm64, sizeof nm64), -1002);

    /* a new data frame while a fragmented message is in progress */
    ws_reader r;
    ws_event ev;
    ws_reader_init(&r, 100);
    read_one(&r, f, client_frame(f, 0x01, "a", 1), &ev);
    CHECK_EQ_INT(ws_read(&r, f, client_frame(f, 0x81, "b", 1), &ev), -1002);
    CHECK_EQ_INT(ws_read(&r, f, client_frame(f, 0x02, "b", 1), &ev), -1002);
    ws_reader_free(&r);
}

static void test_too_big(void)
{
    ws_reader r;
    ws_event ev;
    uint8_t *f = malloc(1100);
    uint8_t pay[1001];
    memset(pay, 'z', sizeof pay);
    ws_reader_init(&r, 1000);
    /* exactly max_msg is fine */
    read_one(&r, f, client_frame(f, 0x82, pay, 1000), &ev);
    CHECK_EQ_INT(ev.len, 1000);
    /* one more: rejected as soon as the 4 header bytes are in, before key or payload */
    static const uint8_t h16[] = { 0x82, 0xFE, 0x03, 0xE9 };
    memcpy(f, h16, sizeof h16);
    CHECK_EQ_INT(ws_read(&r, f, 3, &ev), 0);
    CHECK_EQ_INT(ws_read(&r, f, 4, &ev), -1009);
    static const uint8_t h64[] = { 0x81, 0xFF, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00 };
    memcpy(f, h64, sizeof h64);
    CHECK_EQ_INT(ws_read(&r, f, sizeof h64, &ev), -1009);   /* 4 GiB announced */
    /* the sum of fragments: 600 + 400 fits, 600 + 401 does not */
    read_one(&r, f, client_frame(f, 0x02, pay, 600), &ev);
    CHECK_EQ_INT(ws_read(&r, f, client_frame(f, 0x80, pay, 401), &ev), -1009);
    CHECK_EQ_INT(ws_read(&r, f, 4, &ev), -1009);            /* header alone suffices */
    read_one(&r, f, client_frame(f, 0x80, pay, 400), &ev);
    CHECK_EQ_INT(ev.type, WS_BIN);
    CHECK_EQ_INT(ev.len, 1000);
    ws_reader_free(&r);
    free(f);
}

static void test_utf8(void)
{
    static const uint8_t bad[] = { 0x81, 0x82, K, 0xf4, 0xd2 };   /* c3 28 */
    CHECK_EQ_INT(read_err(bad, sizeof bad), -1007);
    uint8_t f[32];
    CHECK_EQ_INT(read_err(f, client_frame(f, 0x82, "\xc3\x28", 2)), 4 + 2 + 2);   /* binary: any bytes */
    CHECK_EQ_INT(read_err(f, client_frame(f, 0x81, "\xed\xa0\x80", 3)), -1007);   /* surrogate */
    CHECK_EQ_INT(read_err(f, client_frame(f, 0x81, "\xc0\xaf", 2)), -1007);       /* overlong */

    /* é (c3 a9) split across fragments: each alone invalid, the message valid */
    ws_reader r;
    ws_event ev;
    ws_reader_init(&r, 100);
    uint8_t f1[] = { 0x01, 0x82, K, 0x56, 0x39 };   /* "a" c3 */
    uint8_t f2[] = { 0x80, 0x82, K, 0x9e, 0x98 };   /* a9 "b" */
    read_one(&r, f1, sizeof f1, &ev);
    CHECK_EQ_INT(ev.type, 0);
    read_one(&r, f2, sizeof f2, &ev);
    CHECK_EQ_INT(ev.type, WS_TEXT);
    CHECK(ev.len == 4 && memcmp(ev.data, "a\xc3\xa9" "b", 4) == 0);
    /* a message left incomplete at the end is invalid */
    read_one(&r, f, client_frame(f, 0x01, "a", 1), &ev);
    CHECK_EQ_INT(ws_read(&r, f, client_frame(f, 0x80, "\xc3", 1), &ev), -1007);
    ws_reader_free(&r);
}

static void test_close_read(void)
{
    ws_reader r;
    ws_event ev;
    ws_reader_init(&r, 100);
    uint8_t empty[] = { 0x88, 0x80, K };
    read_one(&r, empty, sizeof empty, &ev);
    CHECK_EQ_INT(ev.type, WS_CLOSE);
    CHECK_EQ_INT(ev.close_code, 1005);
    CHECK_EQ_INT(ev.len, 0);
    uint8_t bye[] = { 0x88, 0x85, K, 0x34, 0x12, 0x43, 0x44, 0x52 };   /* 1000 "bye" */
    read_one(&r, bye, sizeof bye, &ev);
    CHECK_EQ_INT(ev.type, WS_CLOSE);
    CHECK_EQ_INT(ev.close_code, 1000);
    CHECK(ev.len == 3 && memcmp(ev.data, "bye", 3) == 0);
    uint8_t c3000[] = { 0x88, 0x82, K, 0x3c, 0x42 };                  /* 3000 */
    read_one(&r, c3000, sizeof c3000, &ev);
    CHECK_EQ_INT(ev.close_code, 3000);
    ws_reader_free(&r);

    static const uint8_t len1[] = { 0x88, 0x81, K, 0x34 };
    CHECK_EQ_INT(read_err(len1, sizeof len1), -1002);
    static const uint8_t c1005[] = { 0x88, 0x82, K, 0x34, 0x17 };
    CHECK_EQ_INT(read_err(c1005, sizeof c1005), -1002);
    static const uint8_t c999[] = { 0x88, 0x82, K, 0x34, 0x1d };
    CHECK_EQ_INT(read_err(c999, sizeof c999), -1002);
    static const uint8_t badreason[] = { 0x88, 0x83, K, 0x34, 0x12, 0xde };   /* 1000 ff */
    CHECK_EQ_INT(read_err(badreason, sizeof badreason), -1007);

    static const int ok[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999 };
    static const int no[] = { 0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 2000, 2999, 5000, 65535 };
    uint8_t f[16];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint8_t p[2] = { (uint8_t)(ok[i] >> 8), (uint8_t)ok[i] };
        CHECK_EQ_INT(read_err(f, client_frame(f, 0x88, p, 2)), 8);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        uint8_t p[2] = { (uint8_t)(no[i] >> 8), (uint8_t)no[i] };
        CHECK_EQ_INT(read_err(f, client_frame(f, 0x88, p, 2)), -1002);
    }
}

static void test_close_write(void)
{
    buf_t b;
    buf_init(&b);
    ws_close_frame(&b, 1000, "bye");
    const uint8_t bye[] = { 0x88, 0x05, 0x03, 0xe8, 0x62, 0x79, 0x65 };
    CHECK_EQ_INT(b.len, sizeof bye);
    CHECK_MEM(b.data, bye, sizeof bye);
    buf_reset(&b);
    ws_close_frame(&b, 1009, NULL);
    const uint8_t big[] = { 0x88, 0x02, 0x03, 0xf1 };
    CHECK_EQ_INT(b.len, sizeof big);
    CHECK_MEM(b.data, big, sizeof big);
    buf_reset(&b);
    char reason[201];
    memset(reason, 'r', 200);
    reason[200] = 0;
    ws_close_frame(&b, 1002, reason);
    const uint8_t trunc[] = { 0x88, 0x7D, 0x03, 0xea, 'r' };
    CHECK_EQ_INT(b.len, 127);
    CHECK_MEM(b.data, trunc, sizeof trunc);
    CHECK_EQ_INT((uint8_t)b.data[126], 'r');
    buf_reset(&b);
    /* 122 'r' then é: cutting at 123 bytes would split é, so it is dropped whole */
    memcpy(reason + 122, "\xc3\xa9", 3);
    ws_close_frame(&b, 1000, reason);
    CHECK_EQ_INT(b.len, 2 + 2 + 122);
    CHECK_EQ_INT((uint8_t)b.data[1], 124);
    CHECK_EQ_INT((uint8_t)b.data[b.len - 1], 'r');
    buf_free(&b);
}

int main(void)
{
    test_accept_key();
    test_rfc_examples();
    test_lengths();
    test_opcodes();
    test_masking();
    test_byte_by_byte();
    test_two_frames_in_buffer();
    test_fragmentation();
    test_protocol_errors();
    test_too_big();
    test_utf8();
    test_close_read();
    test_close_write();
    return t_report("ws");
}
