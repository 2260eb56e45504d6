/* conn.c — one client connection: reading into its buffer, feeding the parser, handing
 * complete requests to the router in order, writing responses (held back until the turn's
 * fdatasync when the request wrote), keep-alive, and closing after a fatal request. */
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
    conn *c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->fd = fd;
    c->id = ++s->next_conn_id;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    buf_init(&c->in);
    buf_init(&c->out);
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

static ssize_t conn_recv(conn *c, void *p, size_t n)
{
#ifdef CHATD_TLS
    if (c->tls) return tls_read(c->tls, p, n);
#endif
    return read(c->fd, p, n);
}

static ssize_t conn_send(conn *c, const void *p, size_t n)
{
#ifdef CHATD_TLS
    if (c->tls) return tls_write(c->tls, p, n);
#endif
    return write(c->fd, p, n);
}

int conn_on_readable(server *s, conn *c)
{
    if (c->in.len == 0) c->req_ms = s->now_ms;
    do {   /* a TLS session may hold decrypted bytes the socket no longer signals */
        buf_reserve(&c->in, READ_CHUNK);
        ssize_t n = conn_recv(c, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
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
        ssize_t n = conn_send(c, c->out.data + c->out_sent, c->out_ready - c->out_sent);
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
        if (c->close_after) return -1;
    }
    return 0;
}

/* Output queued: whatever its tier, the connection must now be polled for writing. */
void conn_ready(conn *c)
{
    if (!c->wait_commit) c->out_ready = c->out.len;
    conn_wake(c->srv, c);
}

void conn_release(conn *c)
{
    c->wait_commit = 0;
    c->out_ready = c->out.len;
    conn_wake(c->srv, c);
}

/* Append p[0..len) to out[*n] (room bytes, kept NUL-terminated) with '"', '\\', control and
 * non-ASCII bytes escaped, so a logged line can neither be forged nor broken; an escape that
 * does not fit is left out whole. */
static void put_esc(char *out, size_t *n, size_t room, const char *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        char e[4] = { '\\', (char)ch };
        size_t k = 1;
        if (ch == '"' || ch == '\\') k = 2;
        else if (ch < 0x20 || ch >= 0x7f) e[1] = 'x', e[2] = hex[ch >> 4], e[3] = hex[ch & 15], k = 4;
        else e[0] = (char)ch;
        if (*n + k >= room) break;
        memcpy(out + *n, e, k);
        out[*n += k] = 0;
    }
}

/* Is q[0..n) a query parameter name that decodes to "token", in any case? */
static int token_name(const char *q, size_t n)
{
    char d[16];
    long k = n < sizeof d ? http_pct_decode(q, n, d, 1) : -1;
    return k == 5 && strncasecmp(d, "token", 5) == 0;
}

/* "METHOD target" for the access log, escaped, with the value of every query parameter
 * whose name decodes to "token" (split at '&' and ';') logged as REDACTED. */
static void log_line(req_info *ri, const http_req *r)
{
    size_t n = 0, room = sizeof ri->line;
    const char *t = r->target, *end = t + r->target_len, *q = memchr(t, '?', r->target_len);
    ri->line[0] = 0;
    put_esc(ri->line, &n, room, r->method_str, r->method_len);
    put_esc(ri->line, &n, room, " ", 1);
    put_esc(ri->line, &n, room, t, (size_t)((q ? q + 1 : end) - t));
    for (const char *p = q ? q + 1 : end; p < end;) {
        const char *e = p, *eq;
        while (e < end && *e != '&' && *e != ';') e++;
        for (eq = p; eq < e && *eq != '='; eq++) {}
        int secret = eq < e && token_name(p, (size_t)(eq - p));
        put_esc(ri->line, &n, room, p, (size_t)((secret ? eq + 1 : e) - p));
        if (secret) put_esc(ri->line, &n, room, "REDACTED", 8);
        put_esc(ri->line, &n, room, e, e < end);   /* the separator */
        p = e + (e < end);
    }
}

static int cors_allowed(const server *s, const char *o, size_t n)
{
    for (int i = 0; i < s->cfg.ncors; i++)
        if (strcmp(s->cfg.cors[i], "*") == 0 ||
            (strlen(s->cfg.cors[i]) == n && memcmp(s->cfg.cors[i], o, n) == 0))
            return 1;
    return 0;
}

static void req_info_set(server *s, conn *c, const http_req *r)
{
    req_info *ri = &c->ri;
    ri->head = r->method == HM_HEAD;
    ri->keep_alive = r->keep_alive;
    ri->http10 = r->version_minor == 0;
    ri->start_ms = s->now_ms;
    ri->origin[0] = 0;
    const http_header *o = http_header_get(r, "Origin");
    if (o && s->cfg.ncors && o->value_len < sizeof ri->origin && cors_allowed(s, o->value, o->value_len))
        snprintf(ri->origin, sizeof ri->origin, "%.*s", (int)o->value_len, o->value);
    log_line(ri, r);
}

const char *server_date(server *s)
{
    int64_t sec = s->now_ms / 1000;
    if (sec != s->date_s) { http_date(sec, s->date); s->date_s = sec; }
    return s->date;
}

static void put_cors(server *s, conn *c)
{
    if (!c->ri.origin[0]) return;
    int star = s->cfg.ncors == 1 && strcmp(s->cfg.cors[0], "*") == 0;
    buf_printf(&c->out, "Access-Control-Allow-Origin: %s\r\n%s"
               "Access-Control-Expose-Headers: Retry-After, Allow\r\n",
               star ? "*" : c->ri.origin, star ? "" : "Vary: Origin\r\n");
}

/* Status line and headers; len < 0: a stream (no Content-Length, no Connection header). */
static void put_head(server *s, conn *c, int status, const char *ctype, long long len, const char *extra)
{
    buf_t *o = &c->out;   /* no printf: this runs for every response */
    buf_puts(o, "HTTP/1.1 ");
    buf_putu(o, (uint64_t)status);
    buf_putc(o, ' ');
    buf_puts(o, http_reason(status));
    buf_puts(o, "\r\nDate: ");
    buf_puts(o, server_date(s));
    if (ctype) { buf_puts(o, "\r\nContent-Type: "); buf_puts(o, ctype); }
    if (len >= 0 && status != 204) { buf_puts(o, "\r\nContent-Length: "); buf_putu(o, (uint64_t)len); }
    buf_puts(o, "\r\n");
    if (extra) buf_puts(o, extra);
    put_cors(s, c);
    if (len < 0) {
    } else if (!c->ri.keep_alive || c->close_after || s->stopping) {
        buf_puts(o, "Connection: close\r\n");
        c->close_after = 1;
    } else if (c->ri.http10) {
        buf_puts(o, "Connection: keep-alive\r\n");
    }
    buf_puts(o, "\r\n");
}

static void log_request(server *s, conn *c, int status, size_t len)
{
    s->m.req_by_class[status / 100 % 6]++;
    /* buffered: one write(2) per loop turn, not one per request */
    buf_t *b = &s->log;
    buf_puts(b, c->addr);
    buf_puts(b, " \"");
    buf_puts(b, c->ri.line);
    buf_puts(b, "\" ");
    buf_putu(b, (uint64_t)status);
    buf_putc(b, ' ');
    buf_putu(b, len);
    buf_putc(b, ' ');
    buf_putu(b, (uint64_t)(s->now_ms > c->ri.start_ms ? s->now_ms - c->ri.start_ms : 0));
    buf_puts(b, "ms\n");
}

/* A JSON body ends with a newline (so `curl` output does not run into the prompt). */
void respond(server *s, conn *c, int status, const char *ctype, const char *body, size_t len,
             const char *extra)
{
    size_t nl = ctype && !strcmp(ctype, "application/json") && (len == 0 || body[len - 1] != '\n');
    put_head(s, c, status, ctype, (long long)(len + nl), extra);
    if (!c->ri.head && status != 204) {
        buf_append(&c->out, body, len);
        if (nl) buf_putc(&c->out, '\n');
    }
    conn_ready(c);
    log_request(s, c, status, len + nl);
}

void respond_stream_head(server *s, conn *c, int status, const char *ctype, const char *extra)
{
    put_head(s, c, status, ctype, -1, extra);
    conn_ready(c);
    log_request(s, c, status, 0);
}

void respond_json(server *s, conn *c, int status, const buf_t *body)
{
    respond(s, c, status, "application/json", body->data, body->len, NULL);
}

void respond_error(server *s, conn *c, int status, const char *code, const char *message)
{
    respond_error_x(s, c, status, code, message, NULL);
}

void respond_error_x(server *s, conn *c, int status, const char *code, const char *message,
                     const char *extra)
{
    buf_t *b = &s->scratch;
    buf_reset(b);
    view_error(b, 0, code, message);
    respond(s, c, status, "application/json", b->data, b->len, extra);
}

int respond_no(server *s, conn *c, const policy_no *no)
{
    if (no) respond_error(s, c, no->status, no->code, no->message);
    return no != NULL;
}

void respond_empty(server *s, conn *c, int status, const char *extra)
{
    respond(s, c, status, NULL, "", 0, extra);
}

/* An HTTP-level rejection: answer and close, so nothing after it is ever processed. */
static void reject(server *s, conn *c, int status)
{
    static const struct { int status; const char *code, *msg; } why[] = {
        { 400, "bad_request", "malformed HTTP request" },
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
    c->ri.start_ms = s->now_ms;
    if (!c->ri.line[0]) snprintf(c->ri.line, sizeof c->ri.line, "-");
    c->close_after = 1;
    respond_error(s, c, status, why[i].code, why[i].msg);
}

/* Parse and run requests from the input buffer, in order, until one is incomplete, the
 * connection must wait (password hashing), or it is closing. */
void conn_process(server *s, conn *c)
{
    if (c->kind != KIND_HTTP) { stream_input(s, c); return; }
    while (c->kind == KIND_HTTP && c->state == CONN_HTTP && !c->close_after && c->out.len - c->out_sent < CONN_OUT_HIGH) {
        if (c->in.len == 0) return;
        long n = http_parse(&c->hp, c->in.data, c->in.len);
        if (n < 0) {
            c->ri.line[0] = 0;
            reject(s, c, (int)-n);
            return;
        }
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
    if (c->kind != KIND_HTTP) stream_input(s, c);   /* bytes after an upgrade are frames */
}

void conn_timeout(server *s, conn *c)
{
    c->ri.keep_alive = 0;
    c->ri.head = 0;
    c->ri.start_ms = c->req_ms;
    snprintf(c->ri.line, sizeof c->ri.line, "-");
    c->close_after = 1;
    c->in.len = 0;
    respond_error(s, c, 408, "request_timeout", "the request did not arrive in time");
}

int conn_wants_read(const conn *c)
{
    return !c->close_after && c->in.len < IN_HIGH && c->out.len - c->out_sent < CONN_OUT_HIGH;
}
