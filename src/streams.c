/* streams.c — the two event streams' connections: the SSE and WebSocket handshakes
 * (token from the header or ?token=, replay point from Last-Event-ID or ?last_event_id=),
 * WebSocket frames from clients (ping, close, typing), and the typing relay. */
#include "server.h"
#include "crypto.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- typing, sent by WebSocket clients and relayed to the other members ---- */

static void ws_error(server *s, conn *c, const char *code, const char *message)
{
    view_error(buf_reset(&s->ev.frame), 1, code, message);
    ws_frame(&c->out, WS_TEXT, s->ev.frame.data, s->ev.frame.len);
}

/* At most one relayed typing per TYPING_EVERY_MS per user and conversation. The map holds
 * (user, conversation) -> when it was last relayed; entries older than that are swept out
 * at most once per TYPING_EVERY_MS, so it only holds who typed lately. */
static int typing_allowed(server *s, uint32_t uid, uint32_t cid)
{
    uint8_t k[8];
    put_le32(k, uid);
    put_le32(k + 4, cid);
    if (s->now_ms - s->typing_swept_ms >= TYPING_EVERY_MS) {
        map_slot *e;
        for (size_t i = 0; (e = map_next(&s->typing, &i));)
            if (s->now_ms - (int64_t)e->val >= TYPING_EVERY_MS) map_del(&s->typing, e->key, e->keylen);
        s->typing_swept_ms = s->now_ms;
    }
    uint64_t *last = map_get(&s->typing, k, sizeof k);
    if (last && s->now_ms - (int64_t)*last < TYPING_EVERY_MS) return 0;
    map_put(&s->typing, k, sizeof k, (uint64_t)s->now_ms);
    return 1;
}

static void typing(server *s, conn *from, const jval *o)
{
    int64_t cid;
    conv *cv;
    if (json_int(json_get(o, "conversation_id"), &cid) < 0 || !(cv = policy_conv(&s->db, cid, from->uid))) {
        ws_error(s, from, "not_found", "no such conversation");
        return;
    }
    if (!typing_allowed(s, from->uid, (uint32_t)cid)) return;   /* dropped: no error either */
    buf_t *b = buf_reset(&s->ev.frame);
    buf_printf(b, "{\"type\":\"typing\",\"conversation_id\":%lld,\"user_id\":%u}", (long long)cid, from->uid);
    for (size_t i = 0; i < s->nconns; i++) {
        conn *c = s->conns[i];
        if (!is_stream(c) || c->replay_off || c->uid == from->uid || !conv_has_member(cv, c->uid)) continue;
        stream_send(s, c, 0, "typing", b);
        check_backlog(s, c);
    }
}

static void ws_message(server *s, conn *c, const ws_event *ev)
{
    jdoc doc;
    const jval *t;
    if (ev->type != WS_TEXT || json_parse(&doc, (const char *)ev->data, ev->len, JSON_MAX_DEPTH) < 0) {
        ws_error(s, c, "invalid_json", "messages must be JSON text");
        return;
    }
    if (doc.root->type == J_OBJ && get_str(doc.root, "type", &t) == 1 && strcmp(t->str, "typing") == 0)
        typing(s, c, doc.root);
    else
        ws_error(s, c, "unknown_type", "unknown message type");
    json_free(&doc);
}

/* Frames from a WebSocket client; anything sent on an SSE stream is ignored. */
static void stream_input(server *s, conn *c)
{
    size_t used = 0;
    while (c->kind == KIND_WS && !c->close_after) {
        ws_event ev;
        long n = ws_read(&c->wsr, (uint8_t *)c->in.data + used, c->in.len - used, &ev);
        if (n == 0) break;
        if (n < 0) {
            int code = (int)-n;
            ws_close_frame(&c->out, code, code == 1009 ? "message too big"
                                          : code == 1007 ? "invalid UTF-8" : "protocol error");
            conn_close(c);
            break;
        }
        used += (size_t)n;
        if (ev.type == WS_PING) ws_frame(&c->out, WS_PONG, ev.data, ev.len);
        else if (ev.type == WS_CLOSE) {
            ws_close_frame(&c->out, ev.close_code == 1005 ? 1000 : ev.close_code, "");
            conn_close(c);
        } else if (ev.type == WS_TEXT || ev.type == WS_BIN) ws_message(s, c, &ev);
    }
    buf_consume(&c->in, c->kind == KIND_WS ? used : c->in.len);
    conn_ready(c);
}

/* The stream's user from "Authorization: Bearer" or ?token=; 0 after answering 401. */
static int stream_auth(server *s, conn *c, http_req *r)
{
    char q[64];
    long n = http_query_get(r->query, r->query_len, "token", q, sizeof q);
    if (http_header_get(r, "Authorization") || n < 0)
        return auth_user(s, c, r, &c->uid, c->tok) != NULL;
    return token_user(s, c, q, (size_t)n, &c->uid, c->tok) != NULL;
}

/* Last-Event-ID (SSE header) or ?last_event_id=: 1 set, 0 none, -1 malformed (answered). */
static int last_event_id(server *s, conn *c, http_req *r, uint64_t *out)
{
    char v[24];
    const http_header *h = c->kind == KIND_SSE ? http_header_get(r, "Last-Event-ID") : NULL;
    long n = http_query_get(r->query, r->query_len, "last_event_id", v, sizeof v);
    if (h && h->value_len < sizeof v) { memcpy(v, h->value, h->value_len); n = (long)h->value_len; }
    else if (h) n = -2;
    if (n == -1) return 0;
    if (n < 0 || http_uint(v, (size_t)n, 1, 19, out) < 0) {
        respond_error(s, c, 400, "validation_failed", "last_event_id: a non-negative integer");
        return -1;
    }
    return 1;
}

/* --max-streams-per-user: 1 when the user of c may open one more stream, else 0 after
 * answering 429 too_many_streams. */
static int stream_room(server *s, conn *c)
{
    int max = s->cfg.max_streams_per_user;
    if (!max || s->db.users[c->uid - 1].streams < (uint32_t)max) return 1;
    respond_error(s, c, 429, "too_many_streams", "this user has too many open event streams");
    return 0;
}

static void stream_closed(server *s, conn *c)
{
    s->nstreams--;
    presence_stream(s, c->uid, 0);
}

/* After the handshake: replay from the given id, or say "resync" when history that old
 * is gone (compacted away), or go live at once. */
static void stream_start(server *s, conn *c, int has_last, uint64_t last)
{
    c->beat_ms = s->now_ms;
    c->on_input = stream_input;
    c->on_close = stream_closed;
    s->nstreams++;
    presence_stream(s, c->uid, 1);
    if (!has_last || last >= s->st.last_seq) return;
    if (last + 1 < s->ev.history_from) {
        stream_resync(s, c);
        return;
    }
    c->replay_off = replay_start(&s->ev, last);
    c->replay_after = last;
}

static void api_events(server *s, conn *c, http_req *r, int64_t id)
{
    uint64_t last = 0;
    c->kind = KIND_SSE;
    int has = stream_auth(s, c, r) ? last_event_id(s, c, r, &last) : -1;
    if (has >= 0 && r->method != HM_HEAD && !stream_room(s, c)) has = -1;
    if (has < 0 || r->method == HM_HEAD) {
        if (has >= 0) respond(s, c, 200, "text/event-stream", "", 0, NULL);
        c->kind = KIND_HTTP;
        return;
    }
    respond_stream_head(s, c, 200, "text/event-stream",
                        "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
    buf_puts(&c->out, "retry: 3000\n\n");
    stream_start(s, c, has, last);
}

/* Does a header named `name` (every line of it) list `token` as one of its comma-separated
 * elements, ignoring ASCII case and the whitespace around elements? A substring is no match:
 * "Connection: notupgrade" does not ask for an upgrade. */
static int header_has(const http_req *r, const char *name, const char *token)
{
    const char *it;
    size_t n;
    for (size_t i = 0; i < r->nheaders; i++) {
        const http_header *h = &r->headers[i];
        if (h->name_len != strlen(name) || strncasecmp(h->name, name, h->name_len) != 0) continue;
        for (const char *p = h->value; http_list_next(&p, h->value + h->value_len, &it, &n);)
            if (n == strlen(token) && strncasecmp(it, token, n) == 0) return 1;
    }
    return 0;
}

static void api_ws(server *s, conn *c, http_req *r, int64_t id)
{
    const http_header *key = http_header_get(r, "Sec-WebSocket-Key");
    const http_header *ver = http_header_get(r, "Sec-WebSocket-Version");
    uint8_t raw[24];
    if (r->version_minor == 0) {   /* RFC 6455 §4.1: the upgrade is an HTTP/1.1 mechanism */
        respond_error(s, c, 400, "bad_request", "a WebSocket handshake needs HTTP/1.1");
        return;
    }
    if (!header_has(r, "Upgrade", "websocket") || !header_has(r, "Connection", "upgrade") ||
        !ver || ver->value_len != 2 || memcmp(ver->value, "13", 2) != 0) {
        respond_error_x(s, c, 426, "upgrade_required", "a WebSocket version 13 upgrade is required",
                        "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
        return;
    }
    if (!key || key->value_len != 24 || base64_decode(key->value, 24, raw) != 16) {
        respond_error(s, c, 400, "bad_request", "bad Sec-WebSocket-Key");
        return;
    }
    uint64_t last = 0;
    c->kind = KIND_WS;
    int has = stream_auth(s, c, r) ? last_event_id(s, c, r, &last) : -1;
    if (has < 0 || !stream_room(s, c)) { c->kind = KIND_HTTP; return; }
    char accept[29], extra[128];
    ws_accept_key(key->value, key->value_len, accept);
    snprintf(extra, sizeof extra,
             "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n", accept);
    respond_stream_head(s, c, 101, NULL, extra);
    ws_reader_init(&c->wsr, s->cfg.ws_max_msg);
    stream_start(s, c, has, last);
}

const route_def stream_routes[] = {
    { "/api/events", .get = api_events },
    { "/api/ws", .get = api_ws },
    { 0 },
};
