/* http.c — owns HTTP/1.1 request parsing (RFC 9112) and the small helpers around it:
 * header lookup, percent-decoding, query lookup, reason phrases, IMF-fixdate.
 * The parser is incremental and strict: anything ambiguous enough to allow request
 * smuggling (CL+TE, odd lengths, bare LF, obs-fold...) is rejected, never guessed. */
#include "http.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Parser states. The body can stop at any byte and resume there on the next call: ST_DATA
 * counts chunk_left down (a chunk, or the whole Content-Length body), the states after it
 * are the chunked framing: size line, extensions, CRLF after the data, trailer lines. */
enum { ST_HEAD, ST_DATA, ST_CSIZE, ST_CEXT, ST_CDATA_END, ST_TRAILER, ST_TLINE, ST_DONE };

#define MAX_METHOD     32
#define MAX_CHUNK_LINE 1024

/* What the header lines say about framing and the connection, gathered before judging. */
typedef struct head_info { int hosts, te, has_cl, close, keep; uint64_t cl; } head_info;

/* Byte classes for span(). A token: visible ASCII but the delimiters (RFC 9110 §5.6.2).
 * Field values, chunk extensions and trailers: no controls but HTAB. A request-target:
 * visible ASCII and no fragment. */
static int is_tchar(char c) { return c > ' ' && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c); }
static int is_fchar(char c) { return ((unsigned char)c >= ' ' || c == '\t') && c != 0x7f; }
static int is_tgchar(char c) { return c > ' ' && c < 0x7f && c != '#'; }
static int is_ows(char c) { return c == ' ' || c == '\t'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

/* The end of the run of class `in` bytes in buf[i..e). */
static size_t span(const char *buf, size_t i, size_t e, int (*in)(char))
{
    while (i < e && in(buf[i])) i++;
    return i;
}

static int hexval(char c)
{
    c = lower(c);
    return is_digit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* ASCII case-insensitive (locale-free): does s[0..n) equal the C string lit? */
static int ieq(const char *s, size_t n, const char *lit)
{
    size_t i = 0;
    while (i < n && lit[i] && lower(s[i]) == lower(lit[i])) i++;
    return i == n && !lit[i];
}

void http_parser_init(http_parser *p, const http_limits *lim)
{
    memset(p, 0, sizeof *p);
    if (lim) p->lim = *lim;
    if (!p->lim.max_target) p->lim.max_target = HTTP_MAX_TARGET;
    if (!p->lim.max_head) p->lim.max_head = HTTP_MAX_HEAD;
    if (!p->lim.max_body) p->lim.max_body = HTTP_MAX_BODY;
    buf_init(&p->chunked_body);
}

/* Once per request on a keep-alive connection, so it clears only what it must: not the
 * header arrays (most of the struct), which are never read past req.nheaders. */
void http_parser_reset(http_parser *p)
{
    size_t from = offsetof(http_parser, state), to = offsetof(http_parser, req.headers);
    memset((char *)p + from, 0, to - from);
    buf_reset(&p->chunked_body);
}

void http_parser_idle(http_parser *p)
{
    free(p->req.headers);
    p->req.headers = NULL;
    buf_free(&p->chunked_body);
}

void http_parser_free(http_parser *p) { http_parser_idle(p); }

/* Look for the blank line ending the head, resuming at p->scanned so a head that trickles
 * in byte by byte is scanned once. On the way, skip empty lines before the request line,
 * reject bare CR/LF and catch oversized methods, targets and heads early. Returns the
 * offset just past the head, 0, or -status. */
static long scan_head(http_parser *p, const char *buf, size_t len)
{
    size_t hs = p->head_start, i;
    for (i = p->scanned; i < len && i - hs < p->lim.max_head; i++) {
        char c = buf[i];
        if (i > hs && (buf[i - 1] == '\r') != (c == '\n')) return -400;   /* bare CR or LF */
        if (c == '\n' && i - 1 == hs) {
            /* RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the
             * request line. Any number, but bounded so a peer cannot send CRLFs forever. */
            if (i + 1 > p->lim.max_head) return -431;
            hs = p->head_start = p->line_start = i + 1;
        } else if (c == '\n') {
            if (i - 1 == p->line_start) return (long)(i + 1);
            if (p->line_start == hs && !p->tstart) return -400;   /* a request line with no spaces */
            if (p->line_start == hs && !p->tend) p->tend = i - 1;
            p->line_start = i + 1;
        } else if (c == ' ' && p->line_start == hs) {   /* the request line's spaces */
            if (!p->tstart) p->tstart = i + 1;
            else if (!p->tend) p->tend = i;
        }
    }
    p->scanned = i;
    if (p->tstart && (p->tend ? p->tend : i) - p->tstart > p->lim.max_target) return -414;
    /* a method too long is refused the same whether its bytes came one by one or at once */
    if ((p->tstart ? p->tstart - 1 : i) - hs > MAX_METHOD) return -400;
    return i - hs == p->lim.max_head ? -431 : 0;   /* max_head bytes and no end: too long */
}

/* method SP request-target SP HTTP-version, in buf[s..e); the scan found the spaces.
 * The target is origin-form, absolute-form ("http://" or "https://", any case) or "*"
 * (OPTIONS only); authority-form is for CONNECT, which a chat server does not proxy. */
static long parse_request_line(http_parser *p, const char *buf, size_t s, size_t e)
{
    /* Methods are case-sensitive (RFC 9110 §9.1): "get" is some other method. */
    static const char *const methods[] = { [HM_GET] = "GET", [HM_HEAD] = "HEAD",
        [HM_POST] = "POST", [HM_PUT] = "PUT", [HM_DELETE] = "DELETE",
        [HM_OPTIONS] = "OPTIONS", [HM_PATCH] = "PATCH" };
    http_req *r = &p->req;
    size_t m = span(buf, s, e, is_tchar), t = p->tstart, te = p->tend, n = te - t, a = 0, path = t, q;
    const char *v = buf + te + 1;   /* the version */
    if (m == s || m - s > MAX_METHOD || m + 1 != t) return -400;
    r->method_len = m - s;
    for (r->method = HM_PATCH; r->method > HM_OTHER; r->method--)
        if (strlen(methods[r->method]) == m - s && !memcmp(buf + s, methods[r->method], m - s)) break;
    if (n > p->lim.max_target) return -414;
    if (te == e || n == 0 || span(buf, t, te, is_tgchar) != te) return -400;
    r->target_len = n;
    int star = n == 1 && buf[t] == '*';
    if (star && r->method != HM_OPTIONS) return -400;
    if (!star && buf[t] != '/') {   /* absolute-form */
        a = n >= 7 && ieq(buf + t, 7, "http://") ? 7 : n >= 8 && ieq(buf + t, 8, "https://") ? 8 : 0;
        for (path = t + a; path < te && buf[path] != '/' && buf[path] != '?'; path++) {}
        if (!a || path == t + a) return -400;   /* another scheme, or no authority */
    }
    for (q = path; q < te && buf[q] != '?'; q++) {}
    p->path_off = a && path == q ? 0 : path;   /* absolute-form with an empty path: "/" */
    r->path_len = p->path_off ? q - path : 1;
    p->query_off = q < te ? q + 1 : 0;
    r->query_len = q < te ? te - q - 1 : 0;
    /* "HTTP/" DIGIT "." DIGIT exactly; a well-formed other major version gets 505. */
    if (e - te != 9 || memcmp(v, "HTTP/", 5) || !is_digit(v[5]) || v[6] != '.' || !is_digit(v[7]))
        return -400;
    r->version_minor = v[7] != '0';
    return v[5] == '1' ? 0 : -505;
}

int http_list_next(const char **p, const char *end, const char **item, size_t *n)
{
    while (*p < end && (**p == ',' || is_ows(**p))) (*p)++;
    if (*p >= end) return 0;
    const char *e = memchr(*p, ',', (size_t)(end - *p));
    *item = *p;
    *p = e = e ? e : end;
    while (e > *item && is_ows(e[-1])) e--;
    *n = (size_t)(e - *item);
    return 1;
}

/* Connection: a comma-separated list of tokens; we only care about two of them. */
static void note_connection(head_info *h, const char *v, size_t n)
{
    const char *it, *end = v + n;
    for (const char *p = v; http_list_next(&p, end, &it, &n);) {
        h->close |= ieq(it, n, "close");
        h->keep |= ieq(it, n, "keep-alive");
    }
}

/* What one header line says about framing and the connection. */
static long note_header(http_parser *p, head_info *h, const http_header *hd)
{
    const char *v = hd->value;
    size_t vlen = hd->value_len, i = 0;
    uint64_t cl = 0;
    if (ieq(hd->name, hd->name_len, "host")) h->hosts++;
    if (ieq(hd->name, hd->name_len, "connection")) note_connection(h, v, vlen);
    /* RFC 9110 §10.1.1: a 1.0 client cannot wait for 100, so ignore it there. */
    if (ieq(hd->name, hd->name_len, "expect") && ieq(v, vlen, "100-continue"))
        p->req.expect_continue = p->req.version_minor == 1;
    if (ieq(hd->name, hd->name_len, "transfer-encoding")) {
        /* Only a lone "chunked": any other coding would leave the length unknown to us. */
        if (!ieq(v, vlen, "chunked")) return -400;
        h->te++;
    }
    if (!ieq(hd->name, hd->name_len, "content-length")) return 0;
    /* 1*DIGIT and nothing else: a sign, a space or a list could be read differently by a
     * proxy in front of us, which is how requests get smuggled. */
    for (; i < vlen && is_digit(v[i]) && cl <= (UINT64_MAX - 9) / 10; i++)
        cl = cl * 10 + (uint64_t)(v[i] - '0');
    if (!vlen || i < vlen || (h->has_cl && cl != h->cl)) return -400;
    h->has_cl = 1;
    h->cl = cl;
    return 0;
}

/* field-name ":" OWS field-value OWS, in buf[s..e). A leading SP/HTAB (obs-fold) or a
 * space before the colon fails the token scan. */
static long parse_header(http_parser *p, head_info *h, const char *buf, size_t s, size_t e)
{
    size_t i = span(buf, s, e, is_tchar), v;
    if (i == s || i == e || buf[i] != ':') return -400;
    if (p->req.nheaders == HTTP_MAX_HEADERS) return -431;
    for (v = span(buf, i + 1, e, is_ows); e > v && is_ows(buf[e - 1]); e--) {}
    if (span(buf, v, e, is_fchar) != e) return -400;
    if (!p->req.headers) {   /* idle connections hold no header arrays */
        p->req.headers = xmalloc(HTTP_MAX_HEADERS * (sizeof *p->req.headers + sizeof *p->name_off));
        p->name_off = (size_t *)(p->req.headers + HTTP_MAX_HEADERS);
    }
    size_t n = p->req.nheaders++;
    p->name_off[n] = s;
    p->req.headers[n] = (http_header){ buf + s, i - s, buf + v, e - v };
    return note_header(p, h, &p->req.headers[n]);
}

/* Once the scan has found the whole head (every line ending in CRLF), parse it, then judge
 * the framing as a whole. */
static long read_head(http_parser *p, const char *buf, size_t len)
{
    http_req *r = &p->req;
    head_info h = { 0 };
    long end = scan_head(p, buf, len), e = 0;
    if (end <= 0) return end;
    for (size_t pos = p->head_start, eol; !e && pos < (size_t)end - 2; pos = eol + 2) {
        eol = (size_t)((const char *)memchr(buf + pos, '\r', (size_t)end - pos) - buf);
        if (pos == p->head_start) e = parse_request_line(p, buf, pos, eol);
        else e = parse_header(p, &h, buf, pos, eol);
    }
    if (e) return e;
    if (h.hosts > 1 || (r->version_minor == 1 && h.hosts == 0)) return -400;
    if (h.te && (h.has_cl || h.te > 1 || r->version_minor == 0)) return -400;
    if (h.has_cl && h.cl > p->lim.max_body) return -413;
    r->keep_alive = r->version_minor ? !h.close : (h.keep && !h.close);
    r->chunked = h.te > 0;
    p->content_length = p->chunk_left = h.has_cl ? h.cl : 0;
    p->head_len = (size_t)end - p->head_start;
    p->head_done = 1;
    p->scanned = (size_t)end;
    p->state = r->chunked ? ST_CSIZE : p->chunk_left ? ST_DATA : ST_DONE;
    return 0;
}

/* The LF after a CR: the end of a chunk-size line, of the CRLF after chunk data, of a
 * trailer line, or of the empty line ending the body. */
static long end_line(http_parser *p)
{
    p->cr = 0;
    if (p->state != ST_CEXT) {
        p->state = p->state == ST_CDATA_END ? ST_CSIZE : p->state == ST_TLINE ? ST_TRAILER : ST_DONE;
        return 0;
    }
    if (p->chunk_left > p->lim.max_body - p->chunked_body.len) return -413;
    p->line_len = 0;
    p->state = p->chunk_left ? ST_DATA : ST_TRAILER;
    return 0;
}

/* One byte of chunk framing (everything but chunk data): 0 or -status. */
static long chunk_byte(http_parser *p, char c)
{
    /* Bound the trailers (CRLFs included) and the size line (CRLF excluded). */
    if (p->state >= ST_TRAILER && ++p->line_len > p->lim.max_head) return -431;
    if (p->cr) return c == '\n' ? end_line(p) : -400;   /* a CR always ends a line */
    p->cr = c == '\r';
    if (p->state == ST_CSIZE && hexval(c) >= 0) {   /* 1-8 hex digits: no sign, "0x" or overflow */
        p->chunk_left = p->chunk_left * 16 + (uint64_t)hexval(c);
        return ++p->line_len > 8 ? -400 : 0;
    }
    if (p->state == ST_CSIZE && (!p->line_len || (c != ';' && !p->cr))) return -400;
    if (p->state <= ST_CEXT && !p->cr && ++p->line_len > MAX_CHUNK_LINE) return -400;
    if (p->state == ST_CSIZE) p->state = ST_CEXT;
    if (p->state == ST_CDATA_END) return p->cr ? 0 : -400;
    if (p->state == ST_TRAILER && is_ows(c)) return -400;   /* obs-fold */
    if (p->state == ST_TRAILER && !p->cr) p->state = ST_TLINE;
    return p->cr || is_fchar(c) ? 0 : -400;   /* extensions, trailers: ignored, on their line */
}

/* The body, resuming at scanned: data in bulk (copied when chunked), framing byte by byte. */
static long read_body(http_parser *p, const char *buf, size_t len)
{
    long e = 0;
    while (!e && p->scanned < len && p->state != ST_DONE) {
        if (p->state != ST_DATA) { e = chunk_byte(p, buf[p->scanned++]); continue; }
        size_t n = len - p->scanned < p->chunk_left ? len - p->scanned : (size_t)p->chunk_left;
        if (p->req.chunked) buf_append(&p->chunked_body, buf + p->scanned, n);
        p->scanned += n;
        p->chunk_left -= n;
        if (!p->chunk_left) p->state = p->req.chunked ? ST_CDATA_END : ST_DONE;
    }
    return e;
}

long http_parse(http_parser *p, const char *buf, size_t len)
{
    http_req *r = &p->req;
    long e = p->state == ST_HEAD ? read_head(p, buf, len) : 0;
    if (!e && p->state != ST_HEAD) e = read_body(p, buf, len);
    if (e < 0 || !p->head_done) return e;
    /* Point req into this call's buf (offsets survive a moved buffer), at the body once complete. */
    r->method_str = buf + p->head_start;
    r->target = buf + p->tstart;
    r->path = p->path_off ? buf + p->path_off : "/";
    r->query = p->query_off ? buf + p->query_off : NULL;
    for (size_t i = 0; i < r->nheaders; i++) {
        http_header *h = &r->headers[i];
        h->name = buf + p->name_off[i];   /* the value: past ':' and OWS */
        for (h->value = h->name + h->name_len + 1; is_ows(*h->value); h->value++) {}
    }
    if (p->state != ST_DONE) return 0;
    if (r->chunked) r->body = p->chunked_body.data ? p->chunked_body.data : "";
    else r->body = buf + p->head_start + p->head_len;
    r->body_len = r->chunked ? p->chunked_body.len : (size_t)p->content_length;
    return (long)p->scanned;
}

const http_header *http_header_get(const http_req *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (ieq(r->headers[i].name, r->headers[i].name_len, name)) return &r->headers[i];
    return NULL;
}

/* Decode the byte at s[*i], advancing *i past it: the byte, or -1 on a bad %XX. */
static int pct_next(const char *s, size_t n, size_t *i, int plus_space)
{
    char c = s[(*i)++];
    if (c != '%') return c == '+' && plus_space ? ' ' : (unsigned char)c;
    if (n - *i < 2 || hexval(s[*i]) < 0 || hexval(s[*i + 1]) < 0) return -1;
    *i += 2;
    return hexval(s[*i - 2]) * 16 + hexval(s[*i - 1]);
}

/* Decode s[0..n) into out[0..cap): the length, or -1 on a bad %XX or when it (and its NUL)
 * does not fit. */
static long pct_decode(const char *s, size_t n, char *out, size_t cap, int plus_space)
{
    size_t i = 0, o = 0;
    if (cap == 0) return -1;
    while (i < n) {
        int c = pct_next(s, n, &i, plus_space);
        if (c < 0 || o + 1 >= cap) return -1;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return (long)o;
}

long http_pct_decode(const char *s, size_t n, char *o, int plus) { return pct_decode(s, n, o, n + 1, plus); }

long http_query_get(const char *q, size_t qlen, const char *name, char *out, size_t cap)
{
    for (size_t i = 0; q && i < qlen; i++) {
        size_t s = i, eq, k = 0;
        int same = 1;
        while (i < qlen && q[i] != '&') i++;
        for (eq = s; eq < i && q[eq] != '='; eq++) {}
        for (size_t j = s; j < eq;) {   /* does the key decode to name? */
            int c = pct_next(q, eq, &j, 1);
            if (c < 0) return -2;
            same = same && name[k] && (unsigned char)name[k++] == c;
        }
        if (same && !name[k]) {
            size_t v = eq < i ? eq + 1 : i;
            long n = pct_decode(q + v, i - v, out, cap, 1);
            return n < 0 ? -2 : n;
        }
    }
    return -1;
}

const char *http_reason(int status)
{
    static const struct { int code; const char *text; } reasons[] = {
        { 100, "Continue" }, { 101, "Switching Protocols" }, { 200, "OK" }, { 201, "Created" },
        { 204, "No Content" }, { 304, "Not Modified" }, { 400, "Bad Request" }, { 401, "Unauthorized" },
        { 403, "Forbidden" },
        { 404, "Not Found" }, { 405, "Method Not Allowed" }, { 408, "Request Timeout" },
        { 409, "Conflict" }, { 413, "Content Too Large" }, { 414, "URI Too Long" },
        { 415, "Unsupported Media Type" }, { 426, "Upgrade Required" }, { 429, "Too Many Requests" },
        { 431, "Request Header Fields Too Large" }, { 500, "Internal Server Error" },
        { 501, "Not Implemented" }, { 503, "Service Unavailable" },
        { 505, "HTTP Version Not Supported" }, { 507, "Insufficient Storage" },
    };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].code == status) return reasons[i].text;
    return "Unknown";
}

void http_date(int64_t t, char out[30])
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) memset(&tm, 0, sizeof tm);   /* unrepresentable: year 1900 */
    /* Names by hand: strftime's %a/%b follow the locale, HTTP wants English. The % keep
     * every field in range so the text always fits in 30 bytes. */
    snprintf(out, 30, "%.3s, %02u %.3s %04u %02u:%02u:%02u GMT", days + 3 * (tm.tm_wday % 7),
             (unsigned)tm.tm_mday % 100, months + 3 * (tm.tm_mon % 12),
             (unsigned)(tm.tm_year + 1900) % 10000, (unsigned)tm.tm_hour % 100,
             (unsigned)tm.tm_min % 100, (unsigned)tm.tm_sec % 100);
}

int http_uint(const char *s, size_t n, int zero_ok, size_t maxdig, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > maxdig || n > 19 || (s[0] == '0' && !zero_ok)) return -1;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) return -1;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *out = x;
    return 0;
}
