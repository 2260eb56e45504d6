/* http.h — incremental HTTP/1.1 request parser (RFC 9112) and small HTTP helpers.
 * The parser never allocates for the head: it points into the caller's buffer. Only a
 * chunked body is decoded into the parser's own buffer. Limits are explicit. */
#ifndef CHATD_HTTP_H
#define CHATD_HTTP_H
#include "buf.h"
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_TARGET   8192    /* request-target bytes; over it: 414 */
#define HTTP_MAX_HEAD     16384   /* request line + headers + final CRLF; over it: 431 */
#define HTTP_MAX_BODY     65536   /* decoded body bytes; over it: 413 */
#define HTTP_MAX_HEADERS  100     /* header lines; over it: 431 */

enum { HM_OTHER, HM_GET, HM_HEAD, HM_POST, HM_PUT, HM_DELETE, HM_OPTIONS, HM_PATCH };

typedef struct http_limits { size_t max_target, max_head, max_body; } http_limits;

typedef struct http_header {
    const char *name;  size_t name_len;
    const char *value; size_t value_len;   /* leading/trailing OWS removed */
} http_header;

typedef struct http_req {
    int method;                            /* HM_* */
    const char *method_str; size_t method_len;
    const char *target; size_t target_len; /* exactly as sent */
    const char *path;   size_t path_len;   /* origin-form path ("/..."); from an absolute-form
                                              target the part after the authority ("/" if empty);
                                              "*" for OPTIONS *; not percent-decoded */
    const char *query;  size_t query_len;  /* after '?', NULL/0 if none */
    int version_minor;                     /* 0 or 1 (HTTP/1.x with x > 1 is treated as 1) */
    const char *body; size_t body_len;     /* decoded body; body_len 0 when none */
    int keep_alive;        /* 1.1 unless "Connection: close"; 1.0 only with "keep-alive" */
    int expect_continue;   /* "Expect: 100-continue" present */
    int chunked;           /* Transfer-Encoding: chunked */
    size_t nheaders;
    http_header *headers;  /* owned by the parser: HTTP_MAX_HEADERS, allocated at the first header,
                              given back by http_parser_idle; last: see http_parser_reset() */
} http_req;

typedef struct http_parser {
    http_limits lim;
    buf_t chunked_body;    /* owned: decoded chunked body */
    /* From here up to req.headers: cleared for each request. Private but for head_len,
     * head_done, content_length and req. Offsets count from buf[0], never pointers, since
     * buf may move between calls: req's pointers are re-aimed from them after every call. */
    int state, cr;         /* cr: chunked, a CR awaits its LF */
    size_t scanned;        /* bytes parsed (in the head: searched for CRLFCRLF) */
    size_t head_len;       /* bytes of request line + headers + blank line, once known */
    int head_done;         /* 1 once the head is complete and valid (see expect_continue) */
    uint64_t content_length;
    size_t head_start;     /* first byte after the skipped leading CRLFs */
    size_t line_start, tstart, tend;   /* head scan: this line; the target's bounds (0: not yet) */
    size_t path_off, query_off;   /* 0: path "/" (absolute-form, empty path); no query */
    uint64_t chunk_left;   /* body bytes due: the Content-Length, or the current chunk's */
    size_t line_len;       /* chunked: bytes of the chunk-size line, or of the trailers */
    http_req req;
    size_t *name_off;      /* req.headers' names (same block); a value follows ':' and OWS */
} http_parser;

void http_parser_init(http_parser *p, const http_limits *lim);  /* lim NULL: defaults */
void http_parser_reset(http_parser *p);   /* ready for the next request; memory kept */
void http_parser_free(http_parser *p);
void http_parser_idle(http_parser *p);    /* between requests: free the header arrays, body buffer */

/* Feed the bytes received so far for the current request: buf[0..len) starts at the first
 * byte of this request (the caller may move the buffer between calls, append to it, but
 * never change bytes already passed). Returns:
 *   0   incomplete; once p->head_done is 1 the head is valid and p->req's head fields
 *       (method, path, headers, expect_continue...) point into buf (until buf moves);
 *   >0  a complete request of that many bytes (head + body + chunk framing/trailers);
 *       p->req is filled, pointing into buf (or p->chunked_body for a chunked body);
 *   <0  -status: the request is rejected (-400, -413, -414, -431, -505); the caller
 *       answers and closes the connection.
 * Empty lines (CRLF) before a request line are skipped and counted as consumed. */
long http_parse(http_parser *p, const char *buf, size_t len);

/* Case-insensitive header lookup; the first match, or NULL. */
const http_header *http_header_get(const http_req *r, const char *name);
/* The next element of a comma-separated list in [*p, end), spaces trimmed, into item, n; 0 at the end. */
int http_list_next(const char **p, const char *end, const char **item, size_t *n);

/* Percent-decode s[0..n) into out (room for n+1 bytes, NUL-terminated); when plus_space,
 * '+' becomes ' ' (query strings). Returns the decoded length or -1 on a bad %XX. */
long http_pct_decode(const char *s, size_t n, char *out, int plus_space);

/* Find parameter `name` in an application/x-www-form-urlencoded query string; its decoded
 * value goes to out (cap bytes incl. NUL). Returns the value length, -1 when absent,
 * -2 when malformed or longer than cap-1. */
long http_query_get(const char *q, size_t qlen, const char *name, char *out, size_t cap);
/* The one decimal parser of ids, counts and event ids: 1..maxdig (at most 19) digits and nothing
 * else (no sign, no space); a leading zero only when zero_ok. 0 and *out set, or -1. */
int http_uint(const char *s, size_t n, int zero_ok, size_t maxdig, uint64_t *out);

/* "OK", "Not Found", ... for any status the server sends; "Unknown" otherwise. */
const char *http_reason(int status);

/* IMF-fixdate for t (seconds since the epoch) into out[30]: "Sun, 06 Nov 1994 08:49:37 GMT". */
void http_date(int64_t t, char out[30]);
#endif
