/* test_http.c — the request parser (fields, incremental feeding, pipelining, bodies,
 * limits, smuggling rejections) and the helpers (percent-decoding, query, reason, date). */
#include "http.h"
#include "t.h"
#include <stdlib.h>

#define L(s) s, sizeof(s) - 1   /* a literal and its length */

/* Parse s[0..n) in one call with a fresh parser; the parser stays live for inspection. */
static long parse1(http_parser *p, const http_limits *lim, const char *s, size_t n)
{
    http_parser_init(p, lim);
    return http_parse(p, s, n);
}

/* Result of parsing a whole request in one call, parser discarded. */
static long status_of(const http_limits *lim, const char *s, size_t n)
{
    http_parser p;
    long r = parse1(&p, lim, s, n);
    http_parser_free(&p);
    return r;
}

/* Pass prefix s[0..k) in a fresh heap copy, as a server whose read buffer moved would:
 * the parser must not keep pointers into the previous copy (ASan would catch it). */
static long feed(http_parser *p, const char *s, size_t k, char **copy)
{
    free(*copy);
    *copy = malloc(k + 1);
    memcpy(*copy, s, k);
    return http_parse(p, *copy, k);
}

static int mem_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Same request, as seen through two different buffers. */
static int same_req(const http_req *a, const http_req *b)
{
    if (a->method != b->method || a->version_minor != b->version_minor ||
        a->nheaders != b->nheaders || a->keep_alive != b->keep_alive ||
        a->expect_continue != b->expect_continue || a->chunked != b->chunked ||
        (a->query == NULL) != (b->query == NULL))
        return 0;
    if (!mem_eq(a->method_str, a->method_len, b->method_str, b->method_len) ||
        !mem_eq(a->target, a->target_len, b->target, b->target_len) ||
        !mem_eq(a->path, a->path_len, b->path, b->path_len) ||
        (a->query && !mem_eq(a->query, a->query_len, b->query, b->query_len)) ||
        !mem_eq(a->body, a->body_len, b->body, b->body_len))
        return 0;
    for (size_t i = 0; i < a->nheaders; i++)
        if (!mem_eq(a->headers[i].name, a->headers[i].name_len,
                    b->headers[i].name, b->headers[i].name_len) ||
            !mem_eq(a->headers[i].value, a->headers[i].value_len,
                    b->headers[i].value, b->headers[i].value_len))
            return 0;
    return 1;
}

static const char *const good[] = {
    "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent:  t/1 \t\r\n\r\n",
    "\r\n\r\nPOST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    ("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5;a=b\r\nhello\r\nA;x;y=\"z\"\r\n0123456789\r\n0;last\r\nX-Sum: 1\r\nY: 2\r\n\r\n"),
    "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET HTTP://Example.com:8080?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "GET / HTTP/1.0\r\n\r\n",
    "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    "BREW /pot HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n",
};

static void test_simple_get(void)
{
    http_parser p;
    const char *s = good[0];
    long r = parse1(&p, NULL, s, strlen(s));
    const http_req *q = &p.req;
    CHECK_EQ_INT(r, 68);
    CHECK_EQ_INT(p.head_done, 1);
    CHECK_EQ_INT(p.head_len, 68);
    CHECK_EQ_INT(q->method, HM_GET);
    CHECK(mem_eq(q->method_str, q->method_len, L("GET")));
    CHECK(mem_eq(q->target, q->target_len, L("/a/b?x=1&y=2")));
    CHECK(mem_eq(q->path, q->path_len, L("/a/b")));
    CHECK(q->query && mem_eq(q->query, q->query_len, L("x=1&y=2")));
    CHECK_EQ_INT(q->version_minor, 1);
    CHECK_EQ_INT(q->nheaders, 2);
    CHECK(mem_eq(q->headers[0].name, q->headers[0].name_len, L("Host")));
    CHECK(mem_eq(q->headers[0].value, q->headers[0].value_len, L("example.com")));
    CHECK(mem_eq(q->headers[1].name, q->headers[1].name_len, L("User-Agent")));
    CHECK(mem_eq(q->headers[1].value, q->headers[1].value_len, L("t/1")));
    const http_header *h = http_header_get(q, "user-AGENT");
    CHECK(h == &q->headers[1]);
    CHECK(http_header_get(q, "HOST") == &q->headers[0]);
    CHECK(http_header_get(q, "Hos") == NULL);
    CHECK(http_header_get(q, "Accept") == NULL);
    CHECK_EQ_INT(q->body_len, 0);
    CHECK_EQ_INT(q->keep_alive, 1);
    CHECK_EQ_INT(q->expect_continue, 0);
    CHECK_EQ_INT(q->chunked, 0);
    http_parser_free(&p);
}

static void test_fields(void)
{
    http_parser p;
    long r;
    r = parse1(&p, NULL, L("DELETE /m/1 HTTP/1.1\r\nhost:h\r\nX-Empty:   \r\n\r\n"));
    CHECK_EQ_INT(r, 45);
    CHECK_EQ_INT(p.req.method, HM_DELETE);
    CHECK(p.req.query == NULL);
    CHECK_EQ_INT(p.req.query_len, 0);
    CHECK(mem_eq(p.req.headers[0].value, p.req.headers[0].value_len, L("h")));
    CHECK_EQ_INT(p.req.headers[1].value_len, 0);
    http_parser_free(&p);
    r = parse1(&p, NULL, L("PATCH /x? HTTP/1.1\r\nHost: h\r\n\r\n"));
    CHECK_EQ_INT(r, 31);
    CHECK_EQ_INT(p.req.method, HM_PATCH);
    CHECK(p.req.query != NULL);
    CHECK_EQ_INT(p.req.query_len, 0);
    CHECK(mem_eq(p.req.path, p.req.path_len, L("/x")));
    http_parser_free(&p);
    /* Methods are case-sensitive: "get" is some other method. */
    r = parse1(&p, NULL, L("get / HTTP/1.1\r\nHost: h\r\n\r\n"));
    CHECK_EQ_INT(r, 27);
    CHECK_EQ_INT(p.req.method, HM_OTHER);
    CHECK(mem_eq(p.req.method_str, p.req.method_len, L("get")));
    http_parser_free(&p);
    r = parse1(&p, NULL, L("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"));
    CHECK_EQ_INT(p.req.method, HM_HEAD);
    http_parser_free(&p);
    r = parse1(&p, NULL, L("POST / HTTP/1.1\r\nHost: h\r\n\r\n"));
    CHECK_EQ_INT(p.req.method, HM_POST);
    http_parser_free(&p);
    /* HTTP/1.9 is served as 1.1. */
    r = parse1(&p, NULL, L("GET / HTTP/1.9\r\nHost: h\r\n\r\n"));
    CHECK_EQ_INT(r, 27);
    CHECK_EQ_INT(p.req.version_minor, 1);
    http_parser_free(&p);
}

/* Every good request, fed as prefix k then whole, and fed growing by one byte. */
static void test_split(void)
{
    for (size_t g = 0; g < sizeof good / sizeof good[0]; g++) {
        const char *s = good[g];
        size_t n = strlen(s);
        http_parser ref;
        long want = parse1(&ref, NULL, s, n);
        CHECK_EQ_INT(want, (long)n);
        for (size_t k = 0; k < n; k++) {
            http_parser p;
            char *copy = NULL;
            http_parser_init(&p, NULL);
            CHECK_EQ_INT(feed(&p, s, k, &copy), 0);
            CHECK_EQ_INT(feed(&p, s, n, &copy), want);
            CHECK(same_req(&p.req, &ref.req));
            free(copy);
            http_parser_free(&p);
        }
        http_parser p;
        char *copy = NULL;
        int early = 0;
        http_parser_init(&p, NULL);
        for (size_t k = 1; k < n; k++)
            early += feed(&p, s, k, &copy) != 0;
        CHECK_EQ_INT(early, 0);
        CHECK_EQ_INT(feed(&p, s, n, &copy), want);
        CHECK(same_req(&p.req, &ref.req));
        CHECK_EQ_INT(p.scanned <= n, 1);
        free(copy);
        http_parser_free(&p);
        http_parser_free(&ref);
    }
}

/* The head scan resumes where it stopped instead of starting over. */
static void test_resume(void)
{
    http_parser p;
    http_parser_init(&p, NULL);
    CHECK_EQ_INT(http_parse(&p, L("GET / HTTP/1.1\r\nHost: h\r\n")), 0);
    CHECK_EQ_INT(p.scanned, 25);
    CHECK_EQ_INT(http_parse(&p, L("GET / HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n")), 33);
    http_parser_free(&p);
}

static void test_pipeline(void)
{
    static const char s[] =
        "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
        "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
        "\r\nPOST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
        "GET /4 HTTP/1.1\r\nHost: h\r\n\r\n";
    static const size_t want[] = { 28, 51, 71, 28 };
    static const char *const paths[] = { "/1", "/2", "/3", "/4" };
    static const char *const bodies[] = { "", "abc", "hi", "" };
    http_parser p;
    size_t off = 0, n = sizeof s - 1;
    http_parser_init(&p, NULL);
    for (int i = 0; i < 4; i++) {
        long r = http_parse(&p, s + off, n - off);
        CHECK_EQ_INT(r, (long)want[i]);
        CHECK(mem_eq(p.req.path, p.req.path_len, paths[i], 2));
        CHECK(mem_eq(p.req.body, p.req.body_len, bodies[i], strlen(bodies[i])));
        off += (size_t)(r > 0 ? r : 0);
        http_parser_reset(&p);
    }
    CHECK_EQ_INT(off, n);
    CHECK_EQ_INT(http_parse(&p, s + off, 0), 0);
    http_parser_free(&p);
}

static void test_bodies(void)
{
    http_parser p;
    long r = parse1(&p, NULL, L("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET"));
    CHECK_EQ_INT(r, 53);
    CHECK(mem_eq(p.req.body, p.req.body_len, L("hello")));
    CHECK_EQ_INT(p.req.chunked, 0);
    CHECK_EQ_INT(p.content_length, 5);
    http_parser_free(&p);
    r = parse1(&p, NULL, L("\r\n\r\nPUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"));
    CHECK_EQ_INT(r, 53);
    CHECK_EQ_INT(p.head_len, 47);
    CHECK(mem_eq(p.req.method_str, p.req.method_len, L("PUT")));
    CHECK(mem_eq(p.req.body, p.req.body_len, L("hi")));
    http_parser_free(&p);

    /* Repeated identical Content-Length is tolerated (RFC 9110 §8.6). */
    r = parse1(&p, NULL, L("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
                           "Content-Length: 2\r\n\r\nok"));
    CHECK_EQ_INT(r, 68);
    CHECK(mem_eq(p.req.body, p.req.body_len, L("ok")));
    http_parser_free(&p);

    const char *c = good[2];
    r = parse1(&p, NULL, c, strlen(c));
    CHECK_EQ_INT(r, 120);
    CHECK_EQ_INT(p.req.chunked, 1);
    CHECK(mem_eq(p.req.body, p.req.body_len, L("hello0123456789")));
    CHECK(p.req.body == p.chunked_body.data);
    http_parser_free(&p);

    /* Empty chunked body; uppercase hex; chunked is case-insensitive. */
    r = parse1(&p, NULL, L("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  ChunKed \r\n\r\n"
                           "0\r\n\r\n"));
    CHECK_EQ_INT(r, 63);
    CHECK_EQ_INT(p.req.body_len, 0);
    CHECK(p.req.body != NULL);
    http_parser_free(&p);
    r = parse1(&p, NULL, L("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "0000000B\r\nhello world\r\n0\r\n\r\n"));
    CHECK_EQ_INT(r, 84);
    CHECK(mem_eq(p.req.body, p.req.body_len, L("hello world")));
    http_parser_free(&p);
}

static void test_forms(void)
{
    http_parser p;
    const char *s = good[4];
    long r = parse1(&p, NULL, s, strlen(s));
    CHECK_EQ_INT(r, 63);
    CHECK(mem_eq(p.req.target, p.req.target_len, L("HTTP://Example.com:8080?q=1")));
    CHECK(mem_eq(p.req.path, p.req.path_len, L("/")));
    CHECK(p.req.query && mem_eq(p.req.query, p.req.query_len, L("q=1")));
    http_parser_free(&p);
    r = parse1(&p, NULL, L("GET https://h/a/b?c HTTP/1.1\r\nHost: h\r\n\r\n"));
    CHECK_EQ_INT(r, 41);
    CHECK(mem_eq(p.req.path, p.req.path_len, L("/a/b")));
    CHECK(p.req.query && mem_eq(p.req.query, p.req.query_len, L("c")));
    http_parser_free(&p);
    r = parse1(&p, NULL, L("GET http://h HTTP/1.1\r\nHost: h\r\n\r\n"));
    CHECK_EQ_INT(r, 34);
    CHECK(mem_eq(p.req.path, p.req.path_len, L("/")));
    CHECK(p.req.query == NULL);
    http_parser_free(&p);
    s = good[3];
    r = parse1(&p, NULL, s, strlen(s));
    CHECK_EQ_INT(r, 31);
    CHECK_EQ_INT(p.req.method, HM_OPTIONS);
    CHECK(mem_eq(p.req.path, p.req.path_len, L("*")));
    http_parser_free(&p);
    CHECK_EQ_INT(status_of(NULL, L("GET * HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ_INT(status_of(NULL, L("GET http:// HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ_INT(status_of(NULL, L("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ_INT(status_of(NULL, L("GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ_INT(status_of(NULL, L("GET /a#f HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ_INT(status_of(NULL, L("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ_INT(status_of(NULL, L("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
    CHECK_EQ_INT(status_of(NULL, L("GET  / HTTP/1.1\r\nHost: h\r\n\r\n")), -400);
}

static void test_connection(void)
{
    http_parser p;
    parse1(&p, NULL, L("GET / HTTP/1.0\r\n\r\n"));
    CHECK_EQ_INT(p.req.version_minor, 0);
    CHECK_EQ_INT(p.req.keep_alive, 0);
    http_parser_free(&p);
    parse1(&p, NULL, L("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    CHECK_EQ_INT(p.req.keep_alive, 1);
    http_parser_free(&p);
    parse1(&p, NULL, L("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    CHECK_EQ_INT(p.req.keep_alive, 0);
    http_parser_free(&p);
    parse1(&p, NULL, L("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade , CLOSE\r\n\r\n"));
    CHECK_EQ_INT(p.req.keep_alive, 0);
    http_parser_free(&p);
    parse1(&p, NULL, L("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n"));
    CHECK_EQ_INT(p.req.keep_alive, 1);
    http_parser_free(&p);
    const char *s = good[7];
    parse1(&p, NULL, s, strlen(s));
    CHECK_EQ_INT(p.req.method, HM_OTHER);
    CHECK(mem_eq(p.req.method_str, p.req.method_len, L("BREW")));
    CHECK_EQ_INT(p.req.keep_alive, 0);
    http_parser_free(&p);
}

static void test_expect(void)
{
    const char *s = good[6];
    size_t n = strlen(s), head = n - 3;
    http_parser p;
    http_parser_init(&p, NULL);
    CHECK_EQ_INT(http_parse(&p, s, head - 1), 0);
    CHECK_EQ_INT(p.head_done, 0);
    CHECK_EQ_INT(http_parse(&p, s, head), 0);
    CHECK_EQ_INT(p.head_done, 1);
    CHECK_EQ_INT(p.head_len, 69);
    CHECK_EQ_INT(p.req.expect_continue, 1);
    CHECK_EQ_INT(p.req.method, HM_PUT);
    CHECK(mem_eq(p.req.path, p.req.path_len, L("/x")));
    CHECK(http_header_get(&p.req, "content-length") != NULL);
    CHECK_EQ_INT(http_parse(&p, s, n - 1), 0);
    CHECK_EQ_INT(http_parse(&p, s, n), 72);
    CHECK(mem_eq(p.req.body, p.req.body_len, L("abc")));
    http_parser_free(&p);
    /* A 1.0 client cannot wait for 100 Continue: the expectation is ignored. */
    parse1(&p, NULL, L("GET / HTTP/1.0\r\nExpect: 100-Continue\r\n\r\n"));
    CHECK_EQ_INT(p.req.expect_continue, 0);
    http_parser_free(&p);
}

/* A request whose head is exactly n bytes: a filler header pads it out. */
static char *head_of(size_t n, const char *body)
{
    static const char pre[] = "GET / HTTP/1.1\r\nHost: x\r\nX: ";
    size_t fixed = sizeof pre - 1 + 4, bl = strlen(body);
    char *s = malloc(n + bl + 1);
    memcpy(s, pre, sizeof pre - 1);
    memset(s + sizeof pre - 1, 'a', n - fixed);
    memcpy(s + n - 4, "\r\n\r\n", 4);
    memcpy(s + n, body, bl + 1);
    return s;
}

static void test_limits(void)
{
    http_limits lim = { 16, 64, 10 };
    char *s;
    /* Target: 16 ok, 17 too long, and known to be so before the line ends. */
    CHECK_EQ_INT(status_of(&lim, L("GET /aaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n")), 42);
    CHECK_EQ_INT(status_of(&lim, L("GET /aaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n")), -414);
    CHECK_EQ_INT(status_of(&lim, L("GET /aaaaaaaaaaaaaaaa")), -414);
    CHECK_EQ_INT(status_of(&lim, L("GET /aaaaaaaaaaaaaaa")), 0);
    /* Head: 64 bytes ok; 65 is refused as soon as 64 bytes came without the blank line. */
    s = head_of(64, "");
    CHECK_EQ_INT(strlen(s), 64);
    CHECK_EQ_INT(status_of(&lim, s, 64), 64);
    CHECK_EQ_INT(status_of(&lim, s, 63), 0);
    free(s);
    s = head_of(65, "");
    CHECK_EQ_INT(status_of(&lim, s, 65), -431);
    CHECK_EQ_INT(status_of(&lim, s, 64), -431);
    CHECK_EQ_INT(status_of(&lim, s, 63), 0);
    free(s);
    /* Leading empty lines are bounded too. */
    CHECK_EQ_INT(status_of(&lim, L("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
                                   "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
                                   "\r\n\r\n\r\n\r\n\r\n")), -431);
    CHECK_EQ_INT(status_of(&lim, L("\r\n\r\n\r\n")), 0);
    /* The defaults. */
    s = head_of(HTTP_MAX_HEAD, "");
    CHECK_EQ_INT(status_of(NULL, s, HTTP_MAX_HEAD), 16384);
    free(s);
    s = head_of(HTTP_MAX_HEAD + 1, "");
    CHECK_EQ_INT(status_of(NULL, s, HTTP_MAX_HEAD + 1), -431);
    free(s);
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "GET /");
    for (int i = 1; i < HTTP_MAX_TARGET; i++) buf_putc(&b, 'a');
    buf_puts(&b, " HTTP/1.1\r\nHost: h\r\n\r\n");
    CHECK_EQ_INT(status_of(NULL, b.data, b.len), 8218);
    buf_reset(&b);
    buf_puts(&b, "GET /");
    for (int i = 0; i < HTTP_MAX_TARGET; i++) buf_putc(&b, 'a');
    CHECK_EQ_INT(status_of(NULL, b.data, b.len), -414);

    /* Header count: 100 lines ok, 101 refused. */
    buf_reset(&b);
    buf_puts(&b, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 1; i < HTTP_MAX_HEADERS; i++) buf_printf(&b, "X-%d: v\r\n", i % 10);
    buf_puts(&b, "\r\n");
    http_parser p;
    CHECK_EQ_INT(parse1(&p, NULL, b.data, b.len), 819);
    CHECK_EQ_INT(p.req.nheaders, 100);
    http_parser_free(&p);
    b.len -= 2;
    buf_puts(&b, "X-9: v\r\n\r\n");
    CHECK_EQ_INT(status_of(NULL, b.data, b.len), -431);
    buf_free(&b);

    /* Content-Length: 10 ok; 11 refused with the head alone, before any body. */
    CHECK_EQ_INT(status_of(&lim, L("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"
                                   "0123456789")), 57);
    CHECK_EQ_INT(status_of(&lim, L("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n")),
                 -413);
    /* Chunked total: 10 ok, 11 refused once the size line that crosses it ends. */
    CHECK_EQ_INT(status_of(&lim, L("PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                   "\r\n4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n")), 80);
    CHECK_EQ_INT(status_of(&lim, L("PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                   "\r\n4\r\n0123\r\n7\r\n")), -413);
    /* Chunk-size line: 1024 bytes ok, 1025 refused. */
    buf_init(&b);
    buf_puts(&b, "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;");
    for (int i = 0; i < 1022; i++) buf_putc(&b, 'e');
    buf_puts(&b, "\r\nx\r\n0\r\n\r\n");
    CHECK_EQ_INT(status_of(NULL, b.data, b.len), 1089);
    buf_reset(&b);
    buf_puts(&b, "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;");
    for (int i = 0; i < 1023; i++) buf_putc(&b, 'e');
    CHECK_EQ_INT(status_of(NULL, b.data, b.len), -400);
    buf_free(&b);
}

/* Each must be refused with that status, whole and fed one byte at a time. */
#define BAD(s, st) { s, sizeof(s) - 1, st }   /* the length counts embedded NULs */
static const struct { const char *req; size_t len; long status; } bad[] = {
    BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,5\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: chunked\r\n\r\n", -400),
    BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", -400),
    BAD("GET / HTTP/1.1\r\nHost : h\r\n\r\n", -400),
    BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A\t: 1\r\n\r\n", -400),
    BAD("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  folded\r\n\r\n", -400),
    BAD("GET / HTTP/1.1\r\n Host: h\r\n\r\n", -400),
    BAD("GET / HTTP/1.1\nHost: h\r\n\r\n", -400),
    BAD("GET / HTTP/1.1\r\nHost: h\n\r\n", -400),
    BAD("GET / HTTP/1.1\r\nHost: h\r\n\n", -400),
    BAD("GET / HTTP/1.1\r\nHost: h\rX: 1\r\n\r\n", -400),
    BAD("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", -400),
    BAD("\r\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", -400),
    BAD("GET / HTTP/1.1\r\n\r\n", -400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -400),
    BAD("GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", -400),
    BAD("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", -400),
    BAD("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", -400),
    BAD("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", -400),
    BAD("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", -400),
    BAD("GET / HTTP/1.1\r\nHost: h\r\nX(y): 1\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n000000001\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\n0\r\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r0", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;a\0\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\n x\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\n\r\n", -400),
    BAD("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\rX", -400),
    BAD("GET / HTTP/2.0\r\nHost: h\r\n\r\n", -505),
    BAD("GET / HTTP/3.0\r\n\r\n", -505),
    BAD("GET / HTTP/0.9\r\n\r\n", -505),
    BAD("GET / HTTP/1.10\r\nHost: h\r\n\r\n", -400),
    BAD("GET / HTTP/1\r\nHost: h\r\n\r\n", -400),
    BAD("GET / http/1.1\r\nHost: h\r\n\r\n", -400),
    BAD("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", -400),
    BAD("GET /\r\nHost: h\r\n\r\n", -400),
    BAD("GET\r\nHost: h\r\n\r\n", -400),
    BAD("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", -400),
    BAD("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG / HTTP/1.1\r\nHost: h\r\n\r\n", -400),
};

/* Bare CR/LF is refused as soon as it is seen, not when the head ends. */
static void test_bare_early(void)
{
    CHECK_EQ_INT(status_of(NULL, L("GET / HTTP/1.1\r\nHo\rst")), -400);
    CHECK_EQ_INT(status_of(NULL, L("GET / HTTP/1.1\r\nHost: h\r\r")), -400);
    CHECK_EQ_INT(status_of(NULL, L("GET / HTTP/1.1\nHost")), -400);
    CHECK_EQ_INT(status_of(NULL, L("GET / HTTP/1.1\r\nHost: h\r")), 0);
}

/* Fuzz findings: a bad request line is refused as soon as it is known to be bad, whether
 * its bytes come one at a time or all at once. */
static void test_early_consistent(void)
{
    static const char long_method[] = "MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM / HTTP/1.1\r\nHost: x\r\n";
    CHECK_EQ_INT(status_of(NULL, L(long_method)), -400);
    CHECK_EQ_INT(status_of(NULL, long_method, 33), -400);
    CHECK_EQ_INT(status_of(NULL, L("GARBAGE\r\n")), -400);
    CHECK_EQ_INT(status_of(NULL, L("GARBAGE\r\nHost: x\r\n")), -400);
    http_parser p;
    char *copy = NULL;
    long r = 0;
    http_parser_init(&p, NULL);
    size_t k;
    for (k = 1; k <= sizeof long_method - 1 && r == 0; k++) r = feed(&p, long_method, k, &copy);
    CHECK_EQ_INT(r, -400);
    CHECK_EQ_INT(k - 1, 33);   /* refused at the 33rd byte, not at the end of the head */
    free(copy);
    http_parser_free(&p);
}

static void test_bad(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *s = bad[i].req;
        size_t n = bad[i].len;
        long whole = status_of(NULL, s, n);
        if (whole != bad[i].status)
            fprintf(stderr, "bad[%zu]: got %ld\n", i, whole);
        CHECK_EQ_INT(whole, bad[i].status);
        http_parser p;
        char *copy = NULL;
        long r = 0;
        http_parser_init(&p, NULL);
        for (size_t k = 1; k <= n && r == 0; k++) r = feed(&p, s, k, &copy);
        CHECK_EQ_INT(r, bad[i].status);
        free(copy);
        http_parser_free(&p);
    }
}

static void test_pct(void)
{
    char out[32];
    CHECK_EQ_INT(http_pct_decode(L("a%20b"), out, 0), 3);
    CHECK_STR(out, "a b");
    CHECK_EQ_INT(http_pct_decode(L("a+b%2fc%2F"), out, 0), 6);
    CHECK_STR(out, "a+b/c/");
    CHECK_EQ_INT(http_pct_decode(L("a+b"), out, 1), 3);
    CHECK_STR(out, "a b");
    CHECK_EQ_INT(http_pct_decode(L("%41%42"), out, 0), 2);
    CHECK_STR(out, "AB");
    CHECK_EQ_INT(http_pct_decode(L(""), out, 0), 0);
    CHECK_STR(out, "");
    CHECK_EQ_INT(http_pct_decode(L("x%00y"), out, 0), 3);
    CHECK(memcmp(out, "x\0y", 4) == 0);
    CHECK_EQ_INT(http_pct_decode(L("%4"), out, 0), -1);
    CHECK_EQ_INT(http_pct_decode(L("%zz"), out, 0), -1);
    CHECK_EQ_INT(http_pct_decode(L("ab%"), out, 0), -1);
    CHECK_EQ_INT(http_pct_decode(L("%g1"), out, 0), -1);
    CHECK_EQ_INT(http_pct_decode(L("%1g"), out, 0), -1);
}

static void test_query(void)
{
    static const char q[] = "a=1&b=hello%20world&c&d=&x%20y=3&a=2&e=x+y%2B&f=%zz";
    size_t n = sizeof q - 1;
    char out[16];
    CHECK_EQ_INT(http_query_get(q, n, "a", out, sizeof out), 1);
    CHECK_STR(out, "1");
    CHECK_EQ_INT(http_query_get(q, n, "b", out, sizeof out), 11);
    CHECK_STR(out, "hello world");
    CHECK_EQ_INT(http_query_get(q, n, "c", out, sizeof out), 0);
    CHECK_STR(out, "");
    CHECK_EQ_INT(http_query_get(q, n, "d", out, sizeof out), 0);
    CHECK_STR(out, "");
    CHECK_EQ_INT(http_query_get(q, n, "x y", out, sizeof out), 1);
    CHECK_STR(out, "3");
    CHECK_EQ_INT(http_query_get(q, n, "e", out, sizeof out), 4);
    CHECK_STR(out, "x y+");
    CHECK_EQ_INT(http_query_get(q, n, "f", out, sizeof out), -2);
    CHECK_EQ_INT(http_query_get(q, n, "zz", out, sizeof out), -1);
    CHECK_EQ_INT(http_query_get(q, n, "hello", out, sizeof out), -1);
    CHECK_EQ_INT(http_query_get(q, n, "", out, sizeof out), -1);
    CHECK_EQ_INT(http_query_get(q, n, "b", out, 12), 11);
    CHECK_EQ_INT(http_query_get(q, n, "b", out, 11), -2);
    CHECK_EQ_INT(http_query_get(L("k=%41%42%43"), "k", out, 4), 3);
    CHECK_STR(out, "ABC");
    CHECK_EQ_INT(http_query_get(NULL, 0, "a", out, sizeof out), -1);
    CHECK_EQ_INT(http_query_get(L("a=1&&b=2"), "b", out, sizeof out), 1);
    CHECK_STR(out, "2");
    CHECK_EQ_INT(http_query_get(L("a=b=c"), "a", out, sizeof out), 3);
    CHECK_STR(out, "b=c");
}

static void test_reason_date(void)
{
    CHECK_STR(http_reason(200), "OK");
    CHECK_STR(http_reason(101), "Switching Protocols");
    CHECK_STR(http_reason(404), "Not Found");
    CHECK_STR(http_reason(413), "Content Too Large");
    CHECK_STR(http_reason(431), "Request Header Fields Too Large");
    CHECK_STR(http_reason(505), "HTTP Version Not Supported");
    CHECK_STR(http_reason(507), "Insufficient Storage");
    CHECK_STR(http_reason(299), "Unknown");
    static const int must[] = { 100, 101, 200, 201, 204, 400, 401, 403, 404, 405, 409, 413,
                                414, 415, 426, 429, 431, 500, 501, 503, 505, 507 };
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        CHECK(strcmp(http_reason(must[i]), "Unknown") != 0);
    char d[30];
    http_date(784111777, d);
    CHECK_STR(d, "Sun, 06 Nov 1994 08:49:37 GMT");
    http_date(0, d);
    CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 GMT");
    http_date(951782400, d);
    CHECK_STR(d, "Tue, 29 Feb 2000 00:00:00 GMT");
}

static void test_uint(void)
{
    uint64_t v = 7;
    CHECK(http_uint("42", 2, 0, 18, &v) == 0 && v == 42);
    CHECK(http_uint("0", 1, 1, 19, &v) == 0 && v == 0);
    CHECK(http_uint("007", 3, 1, 19, &v) == 0 && v == 7);
    CHECK(http_uint("07", 2, 0, 18, &v) == -1);          /* ids have one spelling */
    CHECK(http_uint("0", 1, 0, 18, &v) == -1);
    CHECK(http_uint("", 0, 1, 19, &v) == -1);
    CHECK(http_uint("+1", 2, 1, 19, &v) == -1 && http_uint("-1", 2, 1, 19, &v) == -1);
    CHECK(http_uint("1 ", 2, 1, 19, &v) == -1 && http_uint("1a", 2, 1, 19, &v) == -1);
    CHECK(http_uint("999999999999999999", 18, 0, 18, &v) == 0 && v == 999999999999999999ull);
    CHECK(http_uint("1000000000000000000", 19, 0, 18, &v) == -1);   /* too many digits */
    CHECK(http_uint("9999999999999999999", 19, 1, 19, &v) == 0 && v == 9999999999999999999ull);
    CHECK(http_uint("10000000000000000000", 20, 1, 25, &v) == -1);  /* never past 19: no overflow */
}

int main(void)
{
    test_uint();
    test_simple_get();
    test_fields();
    test_split();
    test_resume();
    test_pipeline();
    test_bodies();
    test_forms();
    test_connection();
    test_expect();
    test_limits();
    test_bad();
    test_bare_early();
    test_early_consistent();
    test_pct();
    test_query();
    test_reason_date();
    return t_report("http");
}
