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
    uint8_t h[10];
    size_t hl = 2;
    h[0] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (n < 126) {
        h[1] = (uint8_t)n;
    } else if (n <= 0xFFFF) {
        h[1] = 126;
        h[2] = (uint8_t)(n >> 8);
        h[3] = (uint8_t)n;
        hl = 4;
    } else {
        uint64_t v = n;
        h[1] = 127;
        for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)(v >> (56 - 8 * i));
        hl = 10;
    }
    buf_reserve(out, hl + n);
    buf_append(out, h, hl);
    buf_append(out, payload, n);
}

void ws_close_frame(buf_t *out, int code, const char *reason)
{
    uint8_t p[125];
    size_t n = reason ? strlen(reason) : 0;
    if (n > sizeof p - 2) {
        n = sizeof p - 2;
        /* don't cut a multi-byte character in half: the peer would fail us with 1007 */
        while (n > 0 && ((uint8_t)reason[n] & 0xC0) == 0x80) n--;
    }
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (n) memcpy(p + 2, reason, n);
    ws_frame(out, WS_CLOSE, p, n + 2);
}

void ws_reader_init(ws_reader *r, size_t max_msg)
{
    buf_init(&r->msg);
    r->msg_opcode = 0;
    r->in_msg = 0;
    r->max_msg = max_msg;
}

void ws_reader_free(ws_reader *r) { buf_free(&r->msg); }

typedef struct frame_hdr {
    int fin, op;
    uint64_t len;   /* payload length */
    size_t hdr;     /* header size including the 4-byte masking key */
} frame_hdr;

static uint64_t read_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

static int opcode_known(int op)
{
    return op == WS_CONT || op == WS_TEXT || op == WS_BIN ||
           op == WS_CLOSE || op == WS_PING || op == WS_PONG;
}

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
    if (h->len == 126) {
        if (n < 4) return 0;
        h->len = read_be(b + 2, 2);
        h->hdr = 4;
        if (h->len < 126) return -1002;       /* the minimal length form MUST be used */
    } else if (h->len == 127) {
        if (n < 10) return 0;
        h->len = read_be(b + 2, 8);
        h->hdr = 10;
        if (h->len >> 63 || h->len <= 0xFFFF) return -1002;
    }
    h->hdr += 4;
    return 1;
}

/* Fragment ordering (§5.4) and the size cap, checked before the payload arrives. */
static long check_sequence(const ws_reader *r, const frame_hdr *h)
{
    if (h->op >= 8) return 0;                 /* control frames may come between fragments */
    if (h->op == WS_CONT && !r->in_msg) return -1002;
    if (h->op != WS_CONT && r->in_msg) return -1002;
    size_t have = h->op == WS_CONT ? r->msg.len : 0;   /* never above max_msg */
    if (h->len > (uint64_t)(r->max_msg - have)) return -1009;
    return 0;
}

static int close_code_valid(int c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
}

static long on_control(int op, const uint8_t *p, size_t len, ws_event *ev)
{
    ev->type = op;
    ev->data = p;
    ev->len = len;
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
