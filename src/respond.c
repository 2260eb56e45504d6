/* respond.c — what goes out on a connection, below every handler: the response head (status,
 * Date, CORS, keep-alive), JSON and error bodies, the access log line, and output gating (a
 * response waits for the turn's fdatasync once a write is pending; queued output wakes the
 * connection). conn.c reads and parses; this file only writes. */
#include "server.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define JSON "application/json"

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void conn_swap(server *s, size_t i, size_t j)
{
    conn *c = s->conns[i];
    s->conns[i] = s->conns[j];
    s->conns[i]->slot = i;
    s->conns[j] = c;
    c->slot = j;
}

/* The array is split: conns[0..nhot) are polled and swept every turn, the cold rest only
 * every POLL_COLD_MS(s). Anything that gives a connection work (an event on its socket,
 * queued output) wakes it, so only connections with nothing to do are ever cold. */
void conn_wake(server *s, conn *c) { if (c->slot >= s->nhot) conn_swap(s, c->slot, s->nhot++); }

/* Output queued: the connection must now be polled for writing, whatever its tier; while a write
 * waits for the turn's fdatasync, after it (loop.c): the output may reveal that write. */
void conn_ready(conn *c)
{
    if (!(c->wait_commit |= c->srv->commit_pending)) c->out_ready = c->out.len;
    conn_wake(c->srv, c);
}

/* The one way to end a connection from inside: its queued output (held for the fsync like any
 * other) goes first. */
void conn_close(conn *c) { c->close_after = 1; conn_ready(c); }

void conn_release(conn *c) { c->wait_commit = 0; conn_ready(c); }

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

void req_info_set(server *s, conn *c, const http_req *r)
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
    size_t nl = ctype && !strcmp(ctype, JSON) && (len == 0 || body[len - 1] != '\n');
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

void respond_json(server *s, conn *c, int st, const buf_t *b) { respond(s, c, st, JSON, b->data, b->len, 0); }
void respond_empty(server *s, conn *c, int st, const char *extra) { respond(s, c, st, NULL, "", 0, extra); }

void respond_error(server *s, conn *c, int status, const char *code, const char *message)
{
    respond_error_x(s, c, status, code, message, NULL);
}

void respond_error_x(server *s, conn *c, int status, const char *code, const char *message,
                     const char *extra)
{
    buf_t *b = buf_reset(&s->scratch);
    view_error(b, 0, code, message);
    respond(s, c, status, JSON, b->data, b->len, extra);
}

int respond_no(server *s, conn *c, const policy_no *no)
{
    if (no) respond_error(s, c, no->status, no->code, no->message);
    return no != NULL;
}

