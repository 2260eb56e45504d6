/* router.c — method + path to handler (404, 405 with Allow, OPTIONS and CORS preflight),
 * the per-user write rate, and the ops endpoints (/healthz, /metrics). */
#include "server.h"
#include "crypto.h"
#include "web.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { M_GET = 1, M_POST = 2, M_PUT = 4, M_DELETE = 8 };

/* The route bit of each request method: 0 for those no route takes (OPTIONS is apart). */
static const int method_bit[HM_PATCH + 1] = { [HM_GET] = M_GET, [HM_HEAD] = M_GET, [HM_POST] = M_POST,
                                              [HM_PUT] = M_PUT, [HM_DELETE] = M_DELETE };

typedef void (*plain_fn)(server *, conn *, http_req *);
typedef void (*id_fn)(server *, conn *, http_req *, int64_t);

typedef struct route_def {
    const char *path;      /* a '*' stands for an id; the methods are those with a handler */
    plain_fn get, post;
    id_fn get_id, post_id, put_id, del_id;
} route_def;

static const route_def routes[] = {
    { "/api/users/register", NULL, api_register, NULL, NULL, NULL, NULL },
    { "/api/users/login", NULL, api_login, NULL, NULL, NULL, NULL },
    { "/api/users/logout", NULL, api_logout, NULL, NULL, NULL, NULL },
    { "/api/users", api_user_list, NULL, NULL, NULL, NULL, NULL },
    { "/api/users/*", NULL, NULL, api_user_get, NULL, api_user_put, api_user_delete },
    { "/api/conversations", api_conv_list, api_conv_create, NULL, NULL, NULL, NULL },
    { "/api/conversations/*", NULL, NULL, api_conv_get, NULL, api_conv_put, api_conv_delete },
    { "/api/conversations/*/read", NULL, NULL, NULL, api_conv_read, NULL, NULL },
    { "/api/conversations/*/reads", NULL, NULL, api_conv_reads, NULL, NULL, NULL },
    { "/api/messages", api_msg_list, api_msg_create, NULL, NULL, NULL, NULL },
    { "/api/messages/*", NULL, NULL, api_msg_get, NULL, api_msg_put, api_msg_delete },
    { "/api/events", api_events, NULL, NULL, NULL, NULL, NULL },
    { "/api/ws", api_ws, NULL, NULL, NULL, NULL, NULL },
    { "/healthz", api_healthz, NULL, NULL, NULL, NULL, NULL },
    { "/metrics", api_metrics, NULL, NULL, NULL, NULL, NULL },
};

/* The route of a path; *id: 0 without one, -1 when the id part is no id. */
static const route_def *match(const char *path, size_t n, int64_t *id)
{
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        const route_def *rd = &routes[i];
        const char *star = strchr(rd->path, '*');
        size_t pl = star ? (size_t)(star - rd->path) : strlen(rd->path), rest = star ? strlen(star + 1) : 0;
        if (!star && n == pl && memcmp(path, rd->path, n) == 0) { *id = 0; return rd; }
        if (!star || n <= pl + rest || memcmp(path, rd->path, pl) || memcmp(path + n - rest, star + 1, rest))
            continue;
        if (memchr(path + pl, '/', n - pl - rest)) continue;
        *id = parse_id(path + pl, n - pl - rest);
        return rd;
    }
    return NULL;
}

/* OPTIONS: a CORS preflight when it carries Origin and CORS is on; else just Allow. */
static void options(server *s, conn *c, http_req *r, const char *allow)
{
    if (!s->cfg.ncors || !http_header_get(r, "Origin")) { respond_empty(s, c, 204, allow); return; }
    if (!c->ri.origin[0]) { respond_error(s, c, 403, "forbidden", "origin not allowed"); return; }
    char h[512];
    snprintf(h, sizeof h, "%sAccess-Control-Allow-Methods: GET, HEAD, POST, PUT, DELETE, OPTIONS\r\n"
             "Access-Control-Allow-Headers: Authorization, Content-Type, Idempotency-Key, Last-Event-ID\r\n"
             "Access-Control-Max-Age: 600\r\n", allow);
    respond_empty(s, c, 204, h);
}

static int over_write_rate(server *s, conn *c, http_req *r);

void route(server *s, conn *c, http_req *r)
{
    char path[HTTP_MAX_TARGET + 1];
    long pn = r->path_len <= HTTP_MAX_TARGET ? http_pct_decode(r->path, r->path_len, path, 0) : -1;
    int64_t id = 0;
    const route_def *rd = pn < 0 ? NULL : match(path, (size_t)pn, &id);
    if (!rd && pn >= 0 && web_route(s, c, r, path, (size_t)pn)) return;   /* the browser client */
    if (!rd) { respond_error(s, c, 404, "not_found", "no such resource"); return; }
    char allow[96];
    int ms = (rd->get || rd->get_id ? M_GET : 0) | (rd->post || rd->post_id ? M_POST : 0) |
             (rd->put_id ? M_PUT : 0) | (rd->del_id ? M_DELETE : 0);
    snprintf(allow, sizeof allow, "Allow: %s%s%s%sOPTIONS\r\n", ms & M_GET ? "GET, HEAD, " : "",
             ms & M_POST ? "POST, " : "", ms & M_PUT ? "PUT, " : "", ms & M_DELETE ? "DELETE, " : "");
    if (r->method == HM_OPTIONS) { options(s, c, r, allow); return; }
    int m = method_bit[r->method];
    if (!(ms & m)) {
        respond_error_x(s, c, 405, "method_not_allowed", "method not allowed on this resource", allow);
        return;
    }
    if (id < 0) { respond_error(s, c, 404, "not_found", "no such resource"); return; }
    if (m != M_GET && s->cfg.write_rate && rd->post != api_register && rd->post != api_login &&
        over_write_rate(s, c, r))
        return;
    if (!id) { (m == M_GET ? rd->get : rd->post)(s, c, r); return; }
    (m == M_GET ? rd->get_id : m == M_PUT ? rd->put_id : m == M_POST ? rd->post_id : rd->del_id)(s, c, r, id);
}

/* --write-rate N: each user's writes pass a token bucket of N a second with bursts of 5N,
 * kept as one number per user (GCRA's "theoretical arrival time", in microseconds). Over it:
 * 429 rate_limited with Retry-After, and 1. Without a valid token the handler answers 401. */
static int over_write_rate(server *s, conn *c, http_req *r)
{
    uint32_t uid;
    if (!bearer_user(s, c, r, &uid, NULL, 0)) return 0;
    uint8_t k[4];
    put_le32(k, uid);
    int64_t now = s->now_ms * 1000, every = 1000000 / s->cfg.write_rate;
    int64_t burst = every * (5 * (int64_t)s->cfg.write_rate - 1);
    uint64_t *v = map_get(&s->write_tat, k, sizeof k);
    int64_t tat = v && (int64_t)*v > now ? (int64_t)*v : now;
    if (tat - now > burst) {
        char h[48];
        snprintf(h, sizeof h, "Retry-After: %lld\r\n", (long long)((tat - now - burst + 999999) / 1000000));
        respond_error_x(s, c, 429, "rate_limited", "too many writes; try again later", h);
        return 1;
    }
    if (v) *v = (uint64_t)(tat + every);
    else map_put(&s->write_tat, k, sizeof k, (uint64_t)(tat + every));
    return 0;
}

void api_healthz(server *s, conn *c, http_req *r)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    respond(s, c, 200, "application/json", ok, sizeof ok - 1, NULL);
}

void api_metrics(server *s, conn *c, http_req *r)
{
    const struct { const char *name, *type; unsigned long long v; } m[] = {
        { "open_connections", "gauge", s->nconns },
        { "connections_accepted_total", "counter", s->m.conns_accepted },
        { "connections_rejected_total", "counter", s->m.conns_rejected },
        { "store_bytes", "gauge", s->st.size },
        { "store_records", "gauge", s->st.nrecords },
        { "store_write_errors_total", "counter", s->m.writes_failed },
        { "fsyncs_total", "counter", s->m.fsyncs },
        { "compactions_total", "counter", s->m.compactions },
        { "password_hashes_total", "counter", s->m.hashes },
        { "hash_jobs_dropped_total", "counter", s->m.hash_dropped },
        { "hash_busy_total", "counter", s->m.hash_busy },
        { "users", "gauge", s->db.live_users },
        { "conversations", "gauge", s->db.live_convs },
        { "messages", "gauge", s->db.live_msgs },
    };
    buf_t *b = &s->scratch;
    buf_reset(b);
    buf_puts(b, "# TYPE chatd_http_requests_total counter\n");
    for (int k = 1; k <= 5; k++)
        buf_printf(b, "chatd_http_requests_total{status=\"%dxx\"} %llu\n", k,
                   (unsigned long long)s->m.req_by_class[k]);
    for (size_t i = 0; i < sizeof m / sizeof *m; i++)
        buf_printf(b, "# TYPE chatd_%s %s\nchatd_%s %llu\n", m[i].name, m[i].type, m[i].name, m[i].v);
    respond(s, c, 200, "text/plain; version=0.0.4", b->data, b->len, NULL);
}
