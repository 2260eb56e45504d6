/* fuzz_http.c — libFuzzer harness for the incremental HTTP parser (src/http.h).
 * Input: [split][limits][bytes...]. The first request is parsed in one call, and in two: a
 * prefix (own allocation, freed before the next call, as if the buffer moved) then all;
 * both must give the same result. Pipelined requests follow; the query helpers run on each. */
#include "http.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", \
    __FILE__, __LINE__, #c); abort(); } } while (0)

static const char *lo, *hi;   /* where the field being checked must lie */

static void field(buf_t *s, const char *p, size_t n)
{
    CHECK(n == 0 || (p >= lo && p + n <= hi));
    buf_printf(s, "%zu:", n);
    buf_append(s, p, n);
}

/* Everything a caller may read after this call, serialized; every pointer checked. */
static void summary(buf_t *s, long r, const http_parser *p, const char *b, size_t len)
{
    const http_req *q = &p->req;
    buf_reset(s);
    buf_printf(s, "%ld %d|", r, p->head_done);
    if (r < 0 || !p->head_done) return;
    CHECK((size_t)r <= len);
    lo = b, hi = b + (r ? (size_t)r : len);
    field(s, q->method_str, q->method_len);
    field(s, q->target, q->target_len);
    if (q->path_len == 1 && q->path[0] == '/') buf_putc(s, '/');   /* may be a literal "/" */
    else field(s, q->path, q->path_len);
    if (q->query) field(s, q->query, q->query_len);
    CHECK(q->query || !q->query_len);
    for (size_t i = 0; i < q->nheaders; i++) {
        field(s, q->headers[i].name, q->headers[i].name_len);
        field(s, q->headers[i].value, q->headers[i].value_len);
    }
    buf_printf(s, "%d %d %d %d %d %d|", q->method, q->version_minor, q->keep_alive,
               q->expect_continue, q->chunked, http_header_get(q, "host") != NULL);
    if (!r) return;
    CHECK(q->body_len <= p->lim.max_body);
    if (q->chunked && q->body_len) lo = p->chunked_body.data, hi = lo + p->chunked_body.len;
    field(s, q->body, q->body_len);
}

static void helpers(const http_req *q, size_t cap)
{
    static const char *const names[] = { "a", "limit", "before", "" };
    char *out = malloc(q->path_len + 1);
    long n = http_pct_decode(q->path, q->path_len, out, 0);
    CHECK(n >= -1 && n <= (long)q->path_len && (n < 0 || out[n] == 0));
    free(out);
    if (!q->query) return;
    out = malloc(q->query_len + 1);
    n = http_pct_decode(q->query, q->query_len, out, 1);
    CHECK(n >= -1 && n <= (long)q->query_len);
    free(out);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        out = malloc(cap);   /* exact size: ASan catches a write past cap */
        n = http_query_get(q->query, q->query_len, names[i], out, cap);
        CHECK(n >= -2 && (n < 0 || ((size_t)n < cap && out[n] == 0)));
        free(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t T[] = { 0, 16, 64, 300 }, H[] = { 0, 64, 200, 1024 }, B[] = { 0, 1, 10, 100 };
    if (size < 2) return 0;
    http_limits lim = { T[data[1] & 3], H[data[1] >> 2 & 3], B[data[1] >> 4 & 3] };  /* 0: default */
    size_t len = size - 2, k = data[0] & 0x80 ? (data[0] & 0x7F) * (len + 1) / 128 : data[0];
    if (k > len) k = len;
    char *all = xmalloc(len), *part = xmalloc(k);
    memcpy(all, data + 2, len);
    memcpy(part, data + 2, k);
    http_parser a, b;
    buf_t sa, sb;
    buf_init(&sa), buf_init(&sb);
    http_parser_init(&a, &lim), http_parser_init(&b, &lim);
    long ra = http_parse(&a, all, len), rb = http_parse(&b, part, k);
    int early = rb != 0;
    summary(&sa, ra, &a, all, len);
    if (!early) {
        free(part), part = NULL;
        rb = http_parse(&b, all, len);
    }
    summary(&sb, rb, &b, part ? part : all, part ? k : len);
    if (early && rb < 0) {   /* rejected on a prefix: rejected on the whole too */
        CHECK(ra < 0);
    } else {   /* complete on the prefix: a call with more bytes must change nothing */
        CHECK((!early || http_parse(&b, all, len) == rb) && sa.len == sb.len &&
              memcmp(sa.data, sb.data, sa.len) == 0);
    }
    for (size_t off = 0, n = 0; ra > 0 && n < 64; n++) {   /* the rest, pipelined */
        helpers(&a.req, data[0] % 8);
        off += (size_t)ra;
        http_parser_reset(&a);
        ra = http_parse(&a, all + off, len - off);
        summary(&sa, ra, &a, all + off, len - off);
    }
    char date[30];
    int64_t t = 0;
    memcpy(&t, data, size < 8 ? size : 8);
    http_date(t, date);
    CHECK(strlen(date) == 29 && !strcmp(date + 25, " GMT") && strlen(http_reason((int)(t % 1000))));
    http_parser_free(&a), http_parser_free(&b);
    buf_free(&sa), buf_free(&sb);
    free(all), free(part);
    return 0;
}
