/* fuzz_ws.c — libFuzzer harness for the WebSocket frame reader (src/ws.h).
 * Input: [max_msg][chunking][client byte stream...]. The stream is read twice: all bytes
 * at once, and arriving in chunks of 1..32 bytes; each ws_read gets an exactly sized copy
 * of the bytes not yet consumed. Both runs must log the same events, and every event's
 * data must lie in the frame just consumed or in the reader's message buffer. The close
 * frame encoder and the accept key get the stream (up to a NUL) as reason / key. */
#include "json.h"
#include "ws.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", \
    __FILE__, __LINE__, #c); abort(); } } while (0)

static int inside(const uint8_t *p, size_t n, const void *base, size_t len)
{
    return base && p >= (const uint8_t *)base && p + n <= (const uint8_t *)base + len;
}

static void record(buf_t *log, long rc, const ws_event *e, const ws_reader *r, const uint8_t *b)
{
    buf_printf(log, "%ld %d %d %zu:", rc, e->type, e->close_code, e->len);
    if (rc <= 0) { CHECK(rc == 0 || rc == -1002 || rc == -1007 || rc == -1009); return; }
    CHECK(e->len == 0 || inside(e->data, e->len, b, (size_t)rc) ||
          inside(e->data, e->len, r->msg.data, r->msg.len));
    if (e->type == WS_TEXT || e->type == WS_BIN) CHECK(e->len <= r->max_msg);
    if (e->type >= WS_CLOSE) CHECK(e->len <= 125);
    if (e->type == WS_TEXT) CHECK(utf8_valid((const char *)e->data, e->len));
    if (e->type == WS_CLOSE) CHECK(e->close_code >= 1000 && e->close_code < 5000);
    if (e->len) buf_append(log, e->data, e->len);
}

/* Read s[0..n); chunk 0: all at once. Logs each consumed frame and the final result. */
static void run(const uint8_t *s, size_t n, size_t max_msg, unsigned chunk, buf_t *log)
{
    ws_reader r;
    ws_reader_init(&r, max_msg);
    uint32_t rnd = chunk;
    size_t off = 0, have = 0;
    for (long rc = 0; rc >= 0;) {
        if (rc == 0) {
            if (have == n) break;
            rnd = rnd * 1103515245u + 12345u;
            have += chunk ? 1 + (rnd >> 16) % (chunk % 32 + 1) : n;
            if (have > n) have = n;
        }
        size_t w = have - off;
        uint8_t *b = xmalloc(w);
        memcpy(b, s + off, w);
        ws_event ev;
        rc = ws_read(&r, b, w, &ev);
        if (rc == 0) CHECK(memcmp(b, s + off, w) == 0 && ev.type == 0);   /* untouched */
        if (rc != 0 || have == n) record(log, rc, &ev, &r, b);
        free(b);
        if (rc > 0) off += (size_t)rc;
    }
    ws_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t max_msg = (size_t)(data[0] & 0x7F) * (data[0] & 0x80 ? 16 : 1);   /* 0..2032 */
    buf_t whole, chunked;
    buf_init(&whole), buf_init(&chunked);
    run(data + 2, size - 2, max_msg, 0, &whole);
    run(data + 2, size - 2, max_msg, 32 + data[1], &chunked);   /* data[1] % 32 == 0: 1 byte */
    CHECK(whole.len == chunked.len && (!whole.len || !memcmp(whole.data, chunked.data, whole.len)));
    /* the encoders: a close reason is cut to fit 125 bytes, never inside a UTF-8 character */
    char *reason = xstrndup((const char *)data + 2, size - 2), key[29];
    size_t rlen = strlen(reason);
    buf_reset(&whole);
    ws_close_frame(&whole, 1000 + data[1], reason);
    const uint8_t *f = (const uint8_t *)whole.data;
    CHECK(f[0] == 0x88 && f[1] == whole.len - 2 && f[1] >= 2 && f[1] <= 125 && f[1] - 2 <= rlen);
    CHECK(!utf8_valid(reason, rlen) || utf8_valid(whole.data + 4, whole.len - 4));
    ws_accept_key(reason, rlen, key);
    CHECK(strlen(key) == 28);
    free(reason);
    buf_free(&whole), buf_free(&chunked);
    return 0;
}
