/* api_ops.c — the operators' endpoints: /healthz (a load balancer's probe: the loop answers)
 * and /metrics (Prometheus text: requests by status class, connections, the log, hashing). */
#include "server.h"

static void healthz(server *s, conn *c, http_req *r, int64_t id)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    respond(s, c, 200, "application/json", ok, sizeof ok - 1, NULL);
}

static void metrics_get(server *s, conn *c, http_req *r, int64_t id)
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
    buf_t *b = buf_reset(&s->scratch);
    buf_puts(b, "# TYPE chatd_http_requests_total counter\n");
    for (int k = 1; k <= 5; k++)
        buf_printf(b, "chatd_http_requests_total{status=\"%dxx\"} %llu\n", k,
                   (unsigned long long)s->m.req_by_class[k]);
    for (size_t i = 0; i < sizeof m / sizeof *m; i++)
        buf_printf(b, "# TYPE chatd_%s %s\nchatd_%s %llu\n", m[i].name, m[i].type, m[i].name, m[i].v);
    respond(s, c, 200, "text/plain; version=0.0.4", b->data, b->len, NULL);
}

const route_def ops_routes[] = {
    { "/healthz", .get = healthz },
    { "/metrics", .get = metrics_get },
    { 0 },
};
