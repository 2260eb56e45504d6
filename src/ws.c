/* ws.c — WebSocket (RFC 6455) framing: the handshake accept key, server frame encoding,
 * and the client frame reader that validates frames (§5), reassembles fragmented
 * messages and checks close payloads (§5.5.1, §7.4). Knows nothing about sockets. */
#include "ws.h"
#include "crypto.h"
#include "json.h"
#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define MSG_KEEP 65536   /* reassembly memory kept between messages; more is freed */

void ws_accept_key(const char *key, size_t n, char out[29])
{
    buf_t b;
    buf_init(&b);
    buf_append(&b, key, n);
    buf_puts(&b, WS_GUID);
    uint8_t digest[20];
    sha1(b.data, b.len, digest);
    base64_encode(digest, sizeof digest, out);
    buf_free(&b);
}

void ws_frame(buf_t *out, int opcode, const void *payload, size_t n)
{
    /* length in 7 bits, or 126 + 16 bits, or 127 + 64 bits, big-endian */
    size_t hl = n < 126 ? 2 : n <= 0xFFFF ? 4 : 10;
    uint8_t h[10] = { (uint8_t)(0x80 | (opcode & 0x0F)), (uint8_t)(hl == 2 ? n : hl == 4 ? 126 : 127) };
    for (size_t i = 2; i < hl; i++) h[i] = (uint8_t)((uint64_t)n >> (8 * (hl - 1 - i)));
    buf_reserve(out, hl + n);
    buf_append(out, h, hl);
    buf_append(out, payload, n);
}

void ws_close_frame(buf_t *out, int code, const char *reason)
{
    uint8_t p[125] = { (uint8_t)(code >> 8), (uint8_t)code };
    size_t n = reason ? strlen(reason) : 0;
    if (n > sizeof p - 2) {
        n = sizeof p - 2;
        /* don't cut a multi-byte character in half: the peer would fail us with 1007 */
        while (n > 0 && ((uint8_t)reason[n] & 0xC0) == 0x80) n--;
    }
    if (n) memcpy(p + 2, reason, n);
    ws_frame(out, WS_CLOSE, p, n + 2);
}

void ws_reader_init(ws_reader *r, size_t max) { *r = (ws_reader){ .max_msg = max }; buf_init(&r->msg); }

void ws_reader_free(ws_reader *r) { buf_free(&r->msg); }

typedef struct frame_hdr {
    int fin, op;
    uint64_t len;   /* payload length */
    size_t hdr;     /* header size including the 4-byte masking key */
} frame_hdr;

static int opcode_known(int op) { return op <= WS_BIN || (op >= WS_CLOSE && op <= WS_PONG); }

/* Parse the frame header in b[0..n): 1 when its length is known (h filled), 0 when more
 * bytes are needed, -code when it is malformed. Errors are reported as early as the
 * bytes allow, so a bad peer is dropped without waiting for more input. */
static long parse_header(const uint8_t *b, size_t n, frame_hdr *h)
{
    if (n < 2) return 0;
    h->fin = b[0] >> 7;
    h->op = b[0] & 0x0F;
    if (b[0] & 0x70) return -1002;            /* RSV1-3: no extension was negotiated */
    if (!opcode_known(h->op)) return -1002;
    if (!(b[1] & 0x80)) return -1002;         /* client frames MUST be masked (§5.1) */
    h->len = b[1] & 0x7F;
    h->hdr = 2;
    if (h->op >= 8 && (!h->fin || h->len > 125)) return -1002;   /* §5.5 */
    if (h->len >= 126) {   /* 16- or 64-bit length, which MUST be the minimal form */
        size_t k = h->len == 126 ? 2 : 8;
        uint64_t min = h->len == 126 ? 126 : 0x10000;
        if (n < 2 + k) return 0;
        h->len = 0;
        for (size_t i = 0; i < k; i++) h->len = h->len << 8 | b[2 + i];
        h->hdr += k;
        if (h->len >> 63 || h->len < min) return -1002;
    }
    h->hdr += 4;
    return 1;
}

/* Fragment ordering (§5.4) and the size cap, checked before the payload arrives. */
static long check_sequence(const ws_reader *r, const frame_hdr *h)
{
    if (h->op >= 8) return 0;                 /* control frames may come between fragments */
    if ((h->op == WS_CONT) != r->in_msg) return -1002;   /* a continuation iff one is open */
    size_t have = h->op == WS_CONT ? r->msg.len : 0;   /* never above max_msg */
    if (h->len > (uint64_t)(r->max_msg - have)) return -1009;
    return 0;
}

static int close_code_valid(int c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
}

/* A complete message: text must be valid UTF-8 as a whole (a character may straddle
 * fragments, so fragments are not checked one by one). */
static long on_message(int op, const uint8_t *p, size_t len, ws_event *ev)
{
    if (op == WS_TEXT && !utf8_valid((const char *)p, len)) return -1007;
    ev->type = op;
    ev->data = p;
    ev->len = len;
    return 0;
}

static long on_control(int op, const uint8_t *p, size_t len, ws_event *ev)
{
    on_message(op, p, len, ev);
    if (op != WS_CLOSE) return 0;
    if (len == 0) { ev->close_code = 1005; return 0; }
    if (len == 1) return -1002;
    int code = p[0] << 8 | p[1];
    if (!close_code_valid(code)) return -1002;
    if (!utf8_valid((const char *)p + 2, len - 2)) return -1007;
    ev->close_code = code;
    ev->data = p + 2;
    ev->len = len - 2;
    return 0;
}

static long on_data(ws_reader *r, const frame_hdr *h, const uint8_t *p, size_t len, ws_event *ev)
{
    if (h->fin && h->op != WS_CONT) return on_message(h->op, p, len, ev);   /* no copy */
    if (h->op != WS_CONT) {
        r->in_msg = 1;
        r->msg_opcode = h->op;
        buf_reset(&r->msg);
        buf_reserve(&r->msg, len);            /* so msg.data is never NULL */
    }
    buf_append(&r->msg, p, len);
    if (!h->fin) return 0;
    r->in_msg = 0;
    return on_message(r->msg_opcode, (const uint8_t *)r->msg.data, r->msg.len, ev);
}

long ws_read(ws_reader *r, uint8_t *buf, size_t n, ws_event *ev)
{
    memset(ev, 0, sizeof *ev);
    /* the last assembled message was only promised until this call: drop a big buffer */
    if (!r->in_msg) buf_release(&r->msg, MSG_KEEP);
    frame_hdr h;
    long rc = parse_header(buf, n, &h);
    if (rc <= 0) return rc;
    rc = check_sequence(r, &h);
    if (rc < 0) return rc;
    if (n < h.hdr || n - h.hdr < h.len) return 0;
    size_t len = (size_t)h.len;
    uint8_t *p = buf + h.hdr;
    const uint8_t *key = p - 4;
    for (size_t i = 0; i < len; i++) p[i] ^= key[i & 3];
    rc = h.op >= 8 ? on_control(h.op, p, len, ev) : on_data(r, &h, p, len, ev);
    if (rc < 0) { memset(ev, 0, sizeof *ev); return rc; }
    return (long)(h.hdr + len);
}
