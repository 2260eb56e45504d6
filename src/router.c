/* router.c — method + path to handler: the resources' route tables (server.h), 404, 405 with
 * Allow, OPTIONS and the CORS preflight, and the per-user write rate before any write. */
#include "server.h"
#include <stdio.h>
#include <string.h>

/* Every resource's routes (each defined at the end of its file); a new resource adds its table here. */
extern const route_def users_routes[], conv_routes[], msg_routes[], stream_routes[], ops_routes[];
static const route_def *const tables[] = { users_routes, conv_routes, msg_routes, stream_routes, ops_routes };

/* Does path[0..n) match pat ("/api/users", or "/api/users/:id" with ":id" once, anywhere)?
 * *id: the id (0 when pat has none, -1 when it is no id). */
static int matches(const char *pat, const char *path, size_t n, int64_t *id)
{
    const char *v = strstr(pat, ":id");
    size_t pl = v ? (size_t)(v - pat) : strlen(pat), sl = v ? strlen(v + 3) : 0;
    *id = 0;
    if (!v) return n == pl && memcmp(path, pat, n) == 0;
    if (n <= pl + sl || memcmp(path, pat, pl) || memcmp(path + n - sl, v + 3, sl)) return 0;
    if (memchr(path + pl, '/', n - pl - sl)) return 0;
    *id = parse_id(path + pl, n - pl - sl);
    return 1;
}

static const route_def *match(const char *path, size_t n, int64_t *id)
{
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
        for (const route_def *rd = tables[t]; rd->path; rd++)
            if (matches(rd->path, path, n, id)) return rd;
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

void route(server *s, conn *c, http_req *r)
{
    char path[HTTP_MAX_TARGET + 1];
    long pn = r->path_len <= HTTP_MAX_TARGET ? http_pct_decode(r->path, r->path_len, path, 0) : -1;
    int64_t id = 0;
    const route_def *rd = pn < 0 ? NULL : match(path, (size_t)pn, &id);
    if (!rd && pn >= 0 && web_route(s, c, r, path, (size_t)pn)) return;   /* the browser client */
    if (!rd) { respond_error(s, c, 404, "not_found", "no such resource"); return; }
    char allow[96];
    snprintf(allow, sizeof allow, "Allow: %s%s%s%sOPTIONS\r\n", rd->get ? "GET, HEAD, " : "",
             rd->post ? "POST, " : "", rd->put ? "PUT, " : "", rd->del ? "DELETE, " : "");
    if (r->method == HM_OPTIONS) { options(s, c, r, allow); return; }
    int m = r->method, read = m == HM_GET || m == HM_HEAD;
    route_fn fn = read ? rd->get : m == HM_POST ? rd->post : m == HM_PUT ? rd->put
                : m == HM_DELETE ? rd->del : NULL;
    if (!fn) {
        respond_error_x(s, c, 405, "method_not_allowed", "method not allowed on this resource", allow);
        return;
    }
    if (id < 0) { respond_error(s, c, 404, "not_found", "no such resource"); return; }
    if (!read && s->cfg.write_rate && !rd->unmetered && over_write_rate(s, c, r)) return;
    fn(s, c, r, id);
}
