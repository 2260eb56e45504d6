/* ws.h — WebSocket (RFC 6455) frame codec and message assembler. A pure library: no
 * sockets. The connection code feeds received bytes to ws_read and sends what
 * ws_frame / ws_close_frame append. Server side only: frames we write are unmasked,
 * frames we read must be masked. No extensions (RSV bits must be 0). */
#ifndef CHATD_WS_H
#define CHATD_WS_H
#include <stddef.h>
#include <stdint.h>
#include "buf.h"

enum { WS_CONT = 0, WS_TEXT = 1, WS_BIN = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

/* Sec-WebSocket-Accept for the client's Sec-WebSocket-Key key[0..n):
 * base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")); out is NUL-terminated. */
void ws_accept_key(const char *key, size_t n, char out[29]);

/* Append one unmasked frame with FIN set, using the shortest length form (7/16/64-bit). */
void ws_frame(buf_t *out, int opcode, const void *payload, size_t n);

/* Append a close frame carrying code (big-endian) and reason (NULL = none). The reason is
 * cut to 123 bytes so the payload stays <= 125, at a UTF-8 character boundary. */
void ws_close_frame(buf_t *out, int code, const char *reason);

/* Reassembles fragmented messages. Owns msg; in_msg is 1 while a fragmented message is
 * in progress (its opcode in msg_opcode); max_msg caps a message's total payload. */
typedef struct ws_reader {
    buf_t msg;
    int msg_opcode, in_msg;
    size_t max_msg;
} ws_reader;

typedef struct ws_event {
    int type;             /* 0: nothing to act on (a non-final fragment was consumed), else
                             WS_TEXT / WS_BIN / WS_CLOSE / WS_PING / WS_PONG */
    const uint8_t *data;  /* unmasked payload: the whole message for TEXT/BIN, the payload
                             for PING/PONG, the reason (after the code) for CLOSE. Valid
                             until the next ws_read call (points into buf or r->msg). */
    size_t len;
    int close_code;       /* WS_CLOSE: the code in the payload, 1005 when it is empty */
} ws_event;

void ws_reader_init(ws_reader *r, size_t max_msg);
void ws_reader_free(ws_reader *r);

/* Consume at most one frame from buf[0..n). buf is mutable: the payload is unmasked in
 * place, so a frame must not be fed again after it was consumed. Returns:
 *   > 0  bytes consumed; ev filled (ev->type may be 0 for a non-final fragment);
 *   0    the frame is incomplete: call again with more bytes (nothing is changed);
 *   < 0  -code: fail the connection with close code 1002 (protocol error), 1007 (invalid
 *        UTF-8 in a text message or close reason) or 1009 (message bigger than max_msg).
 * An oversized frame is reported as soon as its length field has arrived. */
long ws_read(ws_reader *r, uint8_t *buf, size_t n, ws_event *ev);

#endif
