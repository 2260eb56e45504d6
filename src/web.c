/* web.c — serves the browser chat client: the files of src/web/, which scripts/webgen.sh
 * compiles into build/web/web_assets.c at build time (so the binary needs nothing on disk).
 * It owns the static-file rules: "/" is index.html, "/NAME" the other files; gzip when the
 * client accepts it (compressed at build time: no library at run time); a strong ETag per
 * representation and If-None-Match -> 304; Cache-Control: no-cache, so an upgraded binary is
 * picked up at the next load; and the security headers: a Content-Security-Policy allowing
 * nothing but this server (the client has no inline script or style), nosniff, no referrer.
 * No token is needed: the files hold no data, the client signs in through the API. */
#include "server.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct web_asset {
    const char *path, *ctype, *etag;   /* etag without quotes; "-gz" is added for gzip */
    const unsigned char *raw;
    size_t raw_len;
    const unsigned char *gz;           /* NULL when not compressed */
    size_t gz_len;
} web_asset;

#include "../build/web/web_assets.c"

#define WEB_ALLOW "Allow: GET, HEAD, OPTIONS\r\n"
#define WEB_SECURITY                                                                                   \
    "Content-Security-Policy: default-src 'self'; base-uri 'none'; form-action 'self'; "              \
    "frame-ancestors 'none'\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"

static const web_asset *find(const char *path, size_t n)
{
    for (size_t i = 0; i < sizeof web_assets / sizeof *web_assets; i++)
        if (strlen(web_assets[i].path) == n && memcmp(web_assets[i].path, path, n) == 0)
            return &web_assets[i];
    return NULL;
}

/* Accept-Encoding names gzip (or x-gzip) with a q-value above zero. */
static int accepts_gzip(const http_header *h)
{
    const char *p = h ? h->value : NULL, *end = h ? h->value + h->value_len : NULL, *it;
    size_t n;
    while (p && http_list_next(&p, end, &it, &n)) {
        size_t name = 0;
        while (name < n && it[name] != ';' && it[name] != ' ' && it[name] != '\t') name++;
        int gzip = (name == 4 && strncasecmp(it, "gzip", 4) == 0) ||
                   (name == 6 && strncasecmp(it, "x-gzip", 6) == 0);
        if (!gzip) continue;
        const char *q = it + name, *qend = it + n;
        while (q + 1 < qend && !((q[0] == 'q' || q[0] == 'Q') && q[1] == '=')) q++;
        if (q + 1 >= qend) return 1;   /* no q: 1 */
        for (q += 2; q < qend; q++)    /* "0", "0.", "0.000": zero; any other digit: above */
            if (*q >= '1' && *q <= '9') return 1;
        return 0;
    }
    return 0;
}

/* If-None-Match holds "*" or this ETag (weak comparison: a W/ prefix is ignored). */
static int etag_matches(const http_header *h, const char *etag)
{
    const char *p = h->value, *end = h->value + h->value_len, *it;
    size_t n, len = strlen(etag);
    while (http_list_next(&p, end, &it, &n)) {
        if (n == 1 && it[0] == '*') return 1;
        if (n > 2 && it[0] == 'W' && it[1] == '/') { it += 2; n -= 2; }
        if (n == len && memcmp(it, etag, n) == 0) return 1;
    }
    return 0;
}

int web_route(server *s, conn *c, http_req *r, const char *path, size_t n)
{
    const web_asset *a = find(path, n);
    if (!a) return 0;
    if (r->method == HM_OPTIONS) { respond_empty(s, c, 204, WEB_ALLOW); return 1; }
    if (r->method != HM_GET && r->method != HM_HEAD) {
        respond_error_x(s, c, 405, "method_not_allowed", "method not allowed on this resource", WEB_ALLOW);
        return 1;
    }
    int gz = a->gz && accepts_gzip(http_header_get(r, "Accept-Encoding"));
    const char *body = (const char *)(gz ? a->gz : a->raw);
    size_t len = gz ? a->gz_len : a->raw_len;
    char etag[48], h[512];
    snprintf(etag, sizeof etag, "\"%s%s\"", a->etag, gz ? "-gz" : "");
    const http_header *inm = http_header_get(r, "If-None-Match");
    int fresh = inm && etag_matches(inm, etag);   /* 304: no body, no representation headers */
    snprintf(h, sizeof h, "ETag: %s\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\n%s" WEB_SECURITY,
             etag, gz && !fresh ? "Content-Encoding: gzip\r\n" : "");
    if (fresh) c->ri.head = 1;   /* Content-Length stays the 200's, as RFC 9110 allows */
    respond(s, c, fresh ? 304 : 200, fresh ? NULL : a->ctype, body, len, h);
    return 1;
}
