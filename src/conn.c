/* conn.c — one client connection: reading into its buffer, feeding the parser, handing
 * complete requests to the router in order, writing responses (held back until the turn's
 * fdatasync while a write is pending), keep-alive, and closing after a fatal request. */
#include "server.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 16384
#define IN_HIGH (256 * 1024)     /* unparsed input we hold before we stop reading */

conn *conn_new(server *s, int fd, const char *addr)
{
    conn *c = xcalloc(1, sizeof *c);   /* in and out: zeroed, empty */
    c->srv = s;
    c->fd = fd;
    c->id = ++s->next_conn_id;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    http_parser_init(&c->hp, &s->cfg.http);
    c->last_ms = s->now_ms;
    return c;
}

void conn_free(conn *c)
{
#ifdef CHATD_TLS
    tls_conn_free(c->tls);
#endif
    close(c->fd);
    buf_free(&c->in);
    buf_free(&c->out);
    http_parser_free(&c->hp);
    if (c->kind == KIND_WS) ws_reader_free(&c->wsr);
    free(c);
}

/* read() (out 0) or write(), through the TLS session when there is one. */
static ssize_t conn_io(conn *c, char *p, size_t n, int out)
{
#ifdef CHATD_TLS
    if (c->tls) return out ? tls_write(c->tls, p, n) : tls_read(c->tls, p, n);
#endif
    return out ? write(c->fd, p, n) : read(c->fd, p, n);
}

int conn_on_readable(server *s, conn *c)
{
    if (c->in.len == 0) c->req_ms = s->now_ms;
    do {   /* a TLS session may hold decrypted bytes the socket no longer signals */
        buf_reserve(&c->in, READ_CHUNK);
        ssize_t n = conn_io(c, c->in.data + c->in.len, c->in.cap - c->in.len - 1, 0);
        if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
        if (n == 0) return -1;   /* peer closed: anything unanswered is abandoned with it */
        c->in.len += (size_t)n;
        c->in.data[c->in.len] = 0;
    } while (c->tls && tls_pending(c->tls) && c->in.len < IN_HIGH);
    c->last_ms = s->now_ms;
    conn_process(s, c);
    return 0;
}

int conn_flush(server *s, conn *c)
{
    while (c->out_sent < c->out_ready) {
        ssize_t n = conn_io(c, c->out.data + c->out_sent, c->out_ready - c->out_sent, 1);
        if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
        c->out_sent += (size_t)n;
        c->last_ms = s->now_ms;
    }
    if (c->out_sent == c->out.len && c->kind == KIND_HTTP && c->state == CONN_HTTP && !c->in.len &&
        s->now_ms - c->last_ms >= 1000) {   /* idle a second: keep nothing large until used */
        buf_free(&c->in);
        buf_free(&c->out);
        http_parser_idle(&c->hp);
    }
    if (c->out_sent == c->out.len) {   /* all written: start the buffer over */
        buf_release(&c->out, 64 * 1024);
        c->out_sent = c->out_ready = 0;
        if (c->close_after && !c->wait_commit) return -1;   /* a close may tell of a write too */
    }
    return 0;
}

/* An HTTP-level rejection (or a timeout): answer and close, so nothing after it is ever processed. */
static void reject(server *s, conn *c, int status, int64_t start_ms)
{
    static const struct { int status; const char *code, *msg; } why[] = {
        { 400, "bad_request", "malformed HTTP request" },
        { 408, "request_timeout", "the request did not arrive in time" },
        { 413, "payload_too_large", "request body too large" },
        { 414, "uri_too_long", "request target too long" },
        { 431, "headers_too_large", "request headers too large" },
        { 505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are supported" },
    };
    size_t i = 0;
    while (i < sizeof why / sizeof *why - 1 && why[i].status != status) i++;
    if (why[i].status != status) i = 0, status = 400;
    c->ri.keep_alive = 0;
    c->ri.head = 0;
    c->ri.start_ms = start_ms;
    if (!c->ri.line[0]) snprintf(c->ri.line, sizeof c->ri.line, "-");
    c->close_after = 1;
    respond_error(s, c, status, why[i].code, why[i].msg);
}

/* Parse and run requests from the input buffer, in order, until one is incomplete, the
 * connection must wait (password hashing), or it is closing. */
void conn_process(server *s, conn *c)
{
    if (c->on_input) { c->on_input(s, c); return; }
    while (c->kind == KIND_HTTP && c->state == CONN_HTTP && !c->close_after && c->in.len &&
           c->out.len - c->out_sent < CONN_OUT_HIGH) {
        long n = http_parse(&c->hp, c->in.data, c->in.len);
        if (n < 0) { c->ri.line[0] = 0; reject(s, c, (int)-n, s->now_ms); return; }
        if (n == 0) {
            if (c->hp.head_done && c->hp.req.expect_continue && !c->sent_continue) {
                buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
                conn_ready(c);
                c->sent_continue = 1;
            }
            return;
        }
        req_info_set(s, c, &c->hp.req);
        route(s, c, &c->hp.req);
        buf_consume(&c->in, (size_t)n);
        c->req_ms = s->now_ms;
        http_parser_reset(&c->hp);
        c->sent_continue = 0;
    }
    if (c->on_input) c->on_input(s, c);   /* bytes after an upgrade are frames */
}

void conn_timeout(server *s, conn *c) { c->in.len = 0; c->ri.line[0] = 0; reject(s, c, 408, c->req_ms); }

int conn_wants_read(const conn *c)
{
    return !c->close_after && c->in.len < IN_HIGH && c->out.len - c->out_sent < CONN_OUT_HIGH;
}
