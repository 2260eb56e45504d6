/* test_router.c — the router's decisions (src/router.c), linked with the layers below only:
 * the resources' tables are this file's own, with handlers that record their calls. 404 for no
 * route or no id, 405 with Allow, HEAD as GET, OPTIONS with Allow or the CORS preflight (403 for
 * another origin), ":id" anywhere in a path, percent-decoding, the browser client as the
 * fallback, and --write-rate counting only metered writes. */
#include "server.h"
#include "crypto.h"
#include "t.h"

static const char *called;   /* the last handler run, and its id */
static int64_t called_id;
static int web_calls;

static void h_get(server *s, conn *c, http_req *r, int64_t id) { called = "get", called_id = id; }
static void h_post(server *s, conn *c, http_req *r, int64_t id) { called = "post", called_id = id; }
static void h_put(server *s, conn *c, http_req *r, int64_t id) { called = "put", called_id = id; }
static void h_del(server *s, conn *c, http_req *r, int64_t id) { called = "del", called_id = id; }
static void h_read(server *s, conn *c, http_req *r, int64_t id) { called = "read", called_id = id; }
static void h_open(server *s, conn *c, http_req *r, int64_t id) { called = "open", called_id = id; }

const route_def users_routes[] = {
    { "/api/users/open", .post = h_open, .unmetered = 1 },
    { "/api/users", .get = h_get },
    { "/api/users/:id", .get = h_get, .put = h_put, .del = h_del },
    { 0 },
};
const route_def conv_routes[] = {
    { "/api/things", .get = h_get, .post = h_post },
    { "/api/things/:id/read", .post = h_read },
    { 0 },
};
const route_def msg_routes[] = { { 0 } }, stream_routes[] = { { 0 } }, ops_routes[] = { { 0 } };

int web_route(server *s, conn *c, http_req *r, const char *path, size_t n)
{
    web_calls++;
    if (n != 8 || memcmp(path, "/app.css", 8) != 0) return 0;
    respond(s, c, 200, "text/css", "x", 1, NULL);
    return 1;
}

static server srv;
static conn cn, *conns[1] = { &cn };

/* Route one request (head text, "\r\n\r\n" added); what went out is in cn.out. */
static void run(const char *head)
{
    char raw[1024];
    http_parser p;
    snprintf(raw, sizeof raw, "%s\r\nHost: t\r\n\r\n", head);
    http_parser_init(&p, NULL);
    CHECK(http_parse(&p, raw, strlen(raw)) > 0);
    called = NULL;
    called_id = -99;
    buf_reset(&cn.out);
    req_info_set(&srv, &cn, &p.req);
    route(&srv, &cn, &p.req);
    http_parser_free(&p);
}

static int status_is(int st)
{
    char want[16];
    snprintf(want, sizeof want, "HTTP/1.1 %d ", st);
    return cn.out.data && strncmp(cn.out.data, want, strlen(want)) == 0;
}

static int has(const char *text) { return cn.out.data && strstr(cn.out.data, text) != NULL; }

int main(void)
{
    srv.conns = conns;
    srv.nconns = srv.nhot = 1;
    cn.srv = &srv;
    cn.addr[0] = '-';
    db_init(&srv.db);

    run("GET /nowhere HTTP/1.1");
    CHECK(status_is(404));
    CHECK(has("\"not_found\""));
    CHECK(called == NULL);
    CHECK_EQ_INT(web_calls, 1);   /* asked first, and it knew nothing of the path */
    run("GET /app.css HTTP/1.1");
    CHECK(status_is(200));
    CHECK_EQ_INT(web_calls, 2);
    run("GET /api/users HTTP/1.1");   /* a route: the fallback is not asked */
    CHECK_EQ_INT(web_calls, 2);
    CHECK_STR(called, "get");
    CHECK_EQ_INT(called_id, 0);

    /* ids: a positive decimal without sign or leading zeros, percent-decoded first */
    run("GET /api/users/7 HTTP/1.1");
    CHECK_STR(called, "get");
    CHECK_EQ_INT(called_id, 7);
    run("HEAD /api/users/7 HTTP/1.1");
    CHECK_STR(called, "get");
    run("PUT /api/users/12 HTTP/1.1");
    CHECK_STR(called, "put");
    CHECK_EQ_INT(called_id, 12);
    run("DELETE /api/users/%33 HTTP/1.1");
    CHECK_STR(called, "del");
    CHECK_EQ_INT(called_id, 3);
    const char *bad_ids[] = { "0", "007", "-1", "x", "1x", "99999999999999999999", "7/", "7/x" };
    for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
        char h[96];
        snprintf(h, sizeof h, "GET /api/users/%s HTTP/1.1", bad_ids[i]);
        run(h);
        CHECK(status_is(404));
        CHECK(called == NULL);
    }
    run("GET /api/users/ HTTP/1.1");
    CHECK(status_is(404));

    /* 405: the route exists, the method does not; Allow names what does */
    run("POST /api/users/7 HTTP/1.1");
    CHECK(status_is(405));
    CHECK(has("\"method_not_allowed\""));
    CHECK(has("Allow: GET, HEAD, PUT, DELETE, OPTIONS\r\n"));
    CHECK(called == NULL);
    run("PATCH /api/things HTTP/1.1");
    CHECK(status_is(405));
    CHECK(has("Allow: GET, HEAD, POST, OPTIONS\r\n"));
    run("GET /api/users/open HTTP/1.1");   /* a fixed path before the ":id" one */
    CHECK(status_is(405));
    CHECK(has("Allow: POST, OPTIONS\r\n"));
    run("POST /api/users/x HTTP/1.1");   /* 405 is decided before the id */
    CHECK(status_is(405));

    /* ":id" inside a path */
    run("POST /api/things/5/read HTTP/1.1");
    CHECK_STR(called, "read");
    CHECK_EQ_INT(called_id, 5);
    run("POST /api/things/5/reads HTTP/1.1");
    CHECK(status_is(404));
    run("POST /api/things//read HTTP/1.1");
    CHECK(status_is(404));
    run("POST /api/things/1/2/read HTTP/1.1");
    CHECK(status_is(404));
    run("GET /api/things/5/read HTTP/1.1");
    CHECK(status_is(405));
    CHECK(has("Allow: POST, OPTIONS\r\n"));

    /* OPTIONS: Allow only, no handler; without CORS an Origin changes nothing */
    run("OPTIONS /api/users/7 HTTP/1.1");
    CHECK(status_is(204));
    CHECK(has("Allow: GET, HEAD, PUT, DELETE, OPTIONS\r\n"));
    CHECK(!has("Access-Control-Allow-Methods"));
    CHECK(called == NULL);
    run("OPTIONS /api/users HTTP/1.1\r\nOrigin: https://a.example");
    CHECK(status_is(204));
    CHECK(!has("Access-Control"));
    run("OPTIONS /nowhere HTTP/1.1");
    CHECK(status_is(404));

    /* CORS on: the preflight of an allowed origin; another origin is refused */
    srv.cfg.cors[0] = "https://a.example";
    srv.cfg.ncors = 1;
    run("OPTIONS /api/things HTTP/1.1\r\nOrigin: https://a.example");
    CHECK(status_is(204));
    CHECK(has("Access-Control-Allow-Methods: GET, HEAD, POST, PUT, DELETE, OPTIONS\r\n"));
    CHECK(has("Access-Control-Allow-Origin: https://a.example\r\n"));
    CHECK(has("Allow: GET, HEAD, POST, OPTIONS\r\n"));
    run("OPTIONS /api/things HTTP/1.1\r\nOrigin: https://b.example");
    CHECK(status_is(403));
    CHECK(!has("Access-Control-Allow-Methods"));
    run("OPTIONS /api/things HTTP/1.1");   /* no Origin: not a preflight */
    CHECK(status_is(204));
    CHECK(!has("Access-Control-Allow-Methods"));
    run("GET /api/users HTTP/1.1\r\nOrigin: https://a.example");
    CHECK_STR(called, "get");
    srv.cfg.ncors = 0;

    /* --write-rate 1: a user's sixth quick write is 429 (bursts of 5); reads and unmetered
     * routes pass; without a valid token the handler runs (and answers 401 itself) */
    rec_t u = { .type = REC_USER_CREATE, .user_create = { 1, 0, rec_cstr("ann") } };
    uint8_t hash[32];
    char text[TOKEN_CHARS + 1], head[256];
    buf_t enc;
    buf_init(&enc);
    rec_encode(&enc, &u);
    CHECK_EQ_INT(db_apply(&srv.db, 1, REC_USER_CREATE, (const uint8_t *)enc.data, (uint32_t)enc.len, 100), 0);
    token_new(text, hash);
    map_put(&srv.db.tokens, hash, sizeof hash, 1);
    srv.cfg.write_rate = 1;
    srv.now_ms = 1000000;
    snprintf(head, sizeof head, "POST /api/things HTTP/1.1\r\nAuthorization: Bearer %s", text);
    for (int i = 0; i < 5; i++) {
        run(head);
        CHECK_STR(called, "post");
    }
    run(head);
    CHECK(status_is(429));
    CHECK(has("\"rate_limited\""));
    CHECK(has("Retry-After: 1\r\n"));
    CHECK(called == NULL);
    snprintf(head, sizeof head, "GET /api/things HTTP/1.1\r\nAuthorization: Bearer %s", text);
    run(head);
    CHECK_STR(called, "get");
    snprintf(head, sizeof head, "POST /api/users/open HTTP/1.1\r\nAuthorization: Bearer %s", text);
    run(head);
    CHECK_STR(called, "open");
    run("POST /api/things HTTP/1.1");
    CHECK_STR(called, "post");
    srv.now_ms += 1000;   /* a second later: one more */
    snprintf(head, sizeof head, "POST /api/things HTTP/1.1\r\nAuthorization: Bearer %s", text);
    run(head);
    CHECK_STR(called, "post");
    run(head);
    CHECK(status_is(429));

    buf_free(&enc);
    buf_free(&cn.out);
    buf_free(&srv.scratch);
    buf_free(&srv.log);
    map_free(&srv.write_tat);
    db_free(&srv.db);
    return t_report("test_router");
}
