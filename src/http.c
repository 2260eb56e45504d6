/* http.c — owns HTTP/1.1 request parsing (RFC 9112) and the small helpers around it:
 * header lookup, percent-decoding, query lookup, reason phrases, IMF-fixdate.
 * The parser is incremental and strict: anything ambiguous enough to allow request
 * smuggling (CL+TE, odd lengths, bare LF, obs-fold...) is rejected, never guessed. */
#include "http.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Parser states. The chunked decoder has one state per framing element so that it can
 * stop at any byte and resume there on the next call. */
enum { ST_SKIP, ST_HEAD, ST_BODY, ST_CSIZE, ST_CEXT, ST_CSIZE_LF, ST_CDATA, ST_CDATA_CR,
       ST_CDATA_LF, ST_TRAILER, ST_TLINE, ST_TLINE_LF, ST_END_LF, ST_DONE };

#define MAX_METHOD     32
#define MAX_CHUNK_LINE 1024

/* What the header lines say about framing and the connection, gathered before judging. */
typedef struct head_info {
    int hosts, te, has_cl, close, keep;
    uint64_t cl;
} head_info;

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }
static int is_ows(char c) { return c == ' ' || c == '\t'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

/* ASCII case-insensitive (locale-free): does s[0..n) equal the C string lit? */
static int ieq(const char *s, size_t n, const char *lit)
{
    if (strlen(lit) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != lower(lit[i])) return 0;
    return 1;
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

void http_parser_reset(http_parser *p)
{
    http_limits lim = p->lim;
    buf_t body = p->chunked_body;
    memset(p, 0, sizeof *p);
    p->lim = lim;
    p->chunked_body = body;
    buf_reset(&p->chunked_body);
}

void http_parser_free(http_parser *p) { buf_free(&p->chunked_body); }

/* RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
 * We skip any number, bounded by max_head so a peer cannot stream CRLFs forever. */
static long skip_blank_lines(http_parser *p, const char *buf, size_t len)
{
    size_t i = p->head_start;
    while (i + 1 < len && buf[i] == '\r') {
        if (buf[i + 1] != '\n') return -400;
        i += 2;
        if (i > p->lim.max_head) return -431;
    }
    p->head_start = i;
    if (i == len || buf[i] == '\r') return 0;   /* a lone CR: wait for its LF */
    if (buf[i] == '\n') return -400;
    p->state = ST_HEAD;
    p->scanned = p->line_start = i;
    return 0;
}

/* Look for the blank line ending the head, resuming at p->scanned so a head that trickles
 * in byte by byte is scanned once. On the way, reject bare CR/LF and catch oversized
 * methods, targets and heads early. Returns the offset just past the head, 0, or -status. */
static long scan_head(http_parser *p, const char *buf, size_t len)
{
    size_t hs = p->head_start, end = len, i;
    if (end - hs > p->lim.max_head) end = hs + p->lim.max_head;
    for (i = p->scanned; i < end; i++) {
        char c = buf[i];
        if (i > hs && buf[i - 1] == '\r' && c != '\n') return -400;
        if (c == '\n') {
            if (i == hs || buf[i - 1] != '\r') return -400;
            if (i - 1 == p->line_start) return (long)(i + 1);
            if (p->line_start == hs && p->tstart && !p->tend) p->tend = i - 1;
            p->line_start = i + 1;
        } else if (c == ' ' && p->line_start == hs) {   /* the request line's spaces */
            if (!p->tstart) p->tstart = i + 1;
            else if (!p->tend) p->tend = i;
        }
    }
    p->scanned = i;
    if (p->tstart && (p->tend ? p->tend : i) - p->tstart > p->lim.max_target) return -414;
    if (!p->tstart && p->line_start == hs && i - hs > MAX_METHOD) return -400;
    return i - hs == p->lim.max_head ? -431 : 0;   /* max_head bytes and no end: too long */
}

/* Methods are case-sensitive (RFC 9110 §9.1): "get" is some other method. */
static int method_code(const char *m, size_t n)
{
    static const char *const names[] = { [HM_GET] = "GET", [HM_HEAD] = "HEAD",
        [HM_POST] = "POST", [HM_PUT] = "PUT", [HM_DELETE] = "DELETE",
        [HM_OPTIONS] = "OPTIONS", [HM_PATCH] = "PATCH" };
    for (int i = HM_GET; i <= HM_PATCH; i++)
        if (strlen(names[i]) == n && memcmp(m, names[i], n) == 0) return i;
    return HM_OTHER;
}

/* "http://" or "https://" (any case): the scheme's length, else 0. */
static size_t scheme_len(const char *s, size_t n)
{
    if (n >= 7 && ieq(s, 7, "http://")) return 7;
    if (n >= 8 && ieq(s, 8, "https://")) return 8;
    return 0;
}

/* Origin-form, absolute-form or "*" (OPTIONS only); authority-form is for CONNECT, which a
 * chat server does not proxy. */
static long parse_target(http_parser *p, const char *buf, size_t t, size_t n)
{
    const char *s = buf + t;
    size_t path = t;
    if (n == 0) return -400;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || s[i] == '#')
            return -400;
    p->target_off = t;
    p->req.target_len = n;
    if (n == 1 && s[0] == '*') {
        if (p->req.method != HM_OPTIONS) return -400;
    } else if (s[0] != '/') {
        size_t a = scheme_len(s, n), i = a;
        if (!a) return -400;
        while (i < n && s[i] != '/' && s[i] != '?') i++;
        if (i == a) return -400;   /* empty authority */
        path = t + i;
        p->path_root = (i == n || s[i] == '?');
    }
    const char *q = memchr(buf + path, '?', t + n - path);
    p->path_off = path;
    p->req.path_len = p->path_root ? 1 : (q ? (size_t)(q - buf) : t + n) - path;
    if (q) {
        p->query_off = (size_t)(q - buf) + 1;
        p->req.query_len = t + n - p->query_off;
    }
    return 0;
}

/* "HTTP/" DIGIT "." DIGIT exactly; a well-formed other major version gets 505. */
static long parse_version(http_parser *p, const char *v, size_t n)
{
    if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || !is_digit(v[5]) || v[6] != '.' ||
        !is_digit(v[7]))
        return -400;
    if (v[5] != '1') return -505;
    p->req.version_minor = v[7] == '0' ? 0 : 1;
    return 0;
}

/* method SP request-target SP HTTP-version, in buf[s..e). */
static long parse_request_line(http_parser *p, const char *buf, size_t s, size_t e)
{
    size_t i = s;
    while (i < e && is_tchar((unsigned char)buf[i])) i++;
    if (i == s || i - s > MAX_METHOD || i == e || buf[i] != ' ') return -400;
    p->req.method_len = i - s;
    p->req.method = method_code(buf + s, i - s);
    size_t t = ++i;
    while (i < e && buf[i] != ' ') i++;
    if (i - t > p->lim.max_target) return -414;
    if (i == e) return -400;
    long r = parse_target(p, buf, t, i - t);
    return r ? r : parse_version(p, buf + i + 1, e - i - 1);
}

/* 1*DIGIT and nothing else: a sign, a space or a list could be read differently by a
 * proxy in front of us, which is how requests get smuggled. */
static int parse_length(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0) return -1;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]) || v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Connection: a comma-separated list of tokens; we only care about two of them. */
static void note_connection(head_info *h, const char *v, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t s = i, e;
        while (i < n && v[i] != ',') i++;
        for (e = i; e > s && is_ows(v[e - 1]); e--) {}
        while (s < e && is_ows(v[s])) s++;
        if (ieq(v + s, e - s, "close")) h->close = 1;
        if (ieq(v + s, e - s, "keep-alive")) h->keep = 1;
        i++;
    }
}

static long note_header(http_parser *p, head_info *h, const char *name, size_t nlen,
                        const char *v, size_t vlen)
{
    uint64_t cl;
    if (ieq(name, nlen, "host")) {
        h->hosts++;
    } else if (ieq(name, nlen, "content-length")) {
        if (parse_length(v, vlen, &cl) || (h->has_cl && cl != h->cl)) return -400;
        h->has_cl = 1;
        h->cl = cl;
    } else if (ieq(name, nlen, "transfer-encoding")) {
        /* Only a lone "chunked": any other coding would leave the length unknown to us. */
        if (!ieq(v, vlen, "chunked")) return -400;
        h->te++;
    } else if (ieq(name, nlen, "connection")) {
        note_connection(h, v, vlen);
    } else if (ieq(name, nlen, "expect")) {
        /* RFC 9110 §10.1.1: a 1.0 client cannot wait for 100, so ignore it there. */
        if (ieq(v, vlen, "100-continue") && p->req.version_minor == 1)
            p->req.expect_continue = 1;
    }
    return 0;
}

/* field-name ":" OWS field-value OWS, in buf[s..e). A leading SP/HTAB (obs-fold) or a
 * space before the colon fails the token scan. */
static long parse_header(http_parser *p, head_info *h, const char *buf, size_t s, size_t e)
{
    size_t i = s;
    while (i < e && is_tchar((unsigned char)buf[i])) i++;
    if (i == s || i == e || buf[i] != ':') return -400;
    if (p->req.nheaders == HTTP_MAX_HEADERS) return -431;
    size_t v = i + 1, ve = e;
    while (v < ve && is_ows(buf[v])) v++;
    while (ve > v && is_ows(buf[ve - 1])) ve--;
    for (size_t k = v; k < ve; k++)
        if (is_ctl((unsigned char)buf[k]) && buf[k] != '\t') return -400;
    http_header *hd = &p->req.headers[p->req.nheaders];
    p->name_off[p->req.nheaders] = s;
    p->value_off[p->req.nheaders] = v;
    p->req.nheaders++;
    hd->name_len = i - s;
    hd->value_len = ve - v;
    return note_header(p, h, buf + s, i - s, buf + v, ve - v);
}

/* Judge the framing as a whole once every header line has been seen. */
static long check_head(http_parser *p, const head_info *h)
{
    http_req *r = &p->req;
    if (h->hosts > 1 || (r->version_minor == 1 && h->hosts == 0)) return -400;
    if (h->te && (h->has_cl || h->te > 1 || r->version_minor == 0)) return -400;
    if (h->has_cl && h->cl > p->lim.max_body) return -413;
    r->keep_alive = r->version_minor ? !h->close : (h->keep && !h->close);
    r->chunked = h->te > 0;
    p->content_length = h->has_cl ? h->cl : 0;
    return 0;
}

/* buf[head_start..end) is a whole head whose lines all end in CRLF (scan_head saw to it). */
static long parse_head(http_parser *p, const char *buf, size_t end)
{
    head_info h = { 0 };
    size_t pos = p->head_start;
    size_t eol = (size_t)((const char *)memchr(buf + pos, '\r', end - pos) - buf);
    long r = parse_request_line(p, buf, pos, eol);
    for (pos = eol + 2; !r && pos < end - 2; pos = eol + 2) {
        eol = (size_t)((const char *)memchr(buf + pos, '\r', end - pos) - buf);
        r = parse_header(p, &h, buf, pos, eol);
    }
    return r ? r : check_head(p, &h);
}

static long read_head(http_parser *p, const char *buf, size_t len)
{
    long end = scan_head(p, buf, len);
    if (end <= 0) return end;
    long r = parse_head(p, buf, (size_t)end);
    if (r) return r;
    p->head_len = (size_t)end - p->head_start;
    p->head_done = 1;
    p->body_pos = (size_t)end;
    p->state = p->req.chunked ? ST_CSIZE : ST_BODY;
    return 0;
}

/* Content-Length body, or none: complete once all of it is there. */
static long read_body(http_parser *p, size_t len)
{
    size_t end = p->head_start + p->head_len + (size_t)p->content_length;
    if (len < end) return 0;
    p->req.body_len = (size_t)p->content_length;
    p->body_pos = end;
    p->state = ST_DONE;
    return (long)end;
}

/* Framing bytes must be exactly `want`; then move on to state `next`. */
static long expect(http_parser *p, char c, char want, int next)
{
    if (c != want) return -400;
    p->state = next;
    return 0;
}

/* One byte of chunk framing (everything but chunk data). Returns 0 to go on, 1 when the
 * message is complete, or -status. */
static long chunk_byte(http_parser *p, char c)
{
    int d = hexval(c);
    /* Bound the size line (incl. extensions) and the trailers; states are ordered. */
    if (p->state <= ST_CEXT && c != '\r' && ++p->line_len > MAX_CHUNK_LINE) return -400;
    if (p->state >= ST_TRAILER && ++p->line_len > p->lim.max_head) return -431;
    switch (p->state) {
    case ST_CSIZE:   /* 1-8 hex digits: no sign, no spaces, no "0x", no overflow */
        if (d >= 0 && ++p->ndigits > 8) return -400;
        if (d >= 0) { p->chunk_left = p->chunk_left * 16 + (uint64_t)d; return 0; }
        if (p->ndigits == 0) return -400;
        if (c == ';') { p->state = ST_CEXT; return 0; }
        return expect(p, c, '\r', ST_CSIZE_LF);
    case ST_CEXT:    /* extensions and trailer fields are ignored but must stay on their line */
    case ST_TLINE:
        if (c == '\r') p->state++;   /* to ST_CSIZE_LF or ST_TLINE_LF */
        else if (is_ctl((unsigned char)c) && c != '\t') return -400;
        return 0;
    case ST_CSIZE_LF:
        if (c != '\n') return -400;
        if (p->chunk_left > p->lim.max_body - p->chunked_body.len) return -413;
        p->line_len = 0;
        p->state = p->chunk_left ? ST_CDATA : ST_TRAILER;
        return 0;
    case ST_CDATA_CR: return expect(p, c, '\r', ST_CDATA_LF);
    case ST_CDATA_LF:
        p->ndigits = 0;
        p->line_len = 0;
        return expect(p, c, '\n', ST_CSIZE);
    case ST_TRAILER: /* start of a trailer line, or the final CRLF */
        if (c == ' ' || (c != '\r' && is_ctl((unsigned char)c))) return -400;   /* obs-fold */
        p->state = c == '\r' ? ST_END_LF : ST_TLINE;
        return 0;
    case ST_TLINE_LF: return expect(p, c, '\n', ST_TRAILER);
    default:         /* ST_END_LF */
        return c == '\n' ? 1 : -400;
    }
}

/* Chunked body, resuming at body_pos: framing byte by byte, data copied in bulk. */
static long read_chunked(http_parser *p, const char *buf, size_t len)
{
    while (p->body_pos < len) {
        if (p->state == ST_CDATA) {
            size_t n = len - p->body_pos;
            if (n > p->chunk_left) n = (size_t)p->chunk_left;
            buf_append(&p->chunked_body, buf + p->body_pos, n);
            p->body_pos += n;
            p->chunk_left -= n;
            if (!p->chunk_left) p->state = ST_CDATA_CR;
            continue;
        }
        long r = chunk_byte(p, buf[p->body_pos++]);
        if (r < 0) return r;
        if (r == 1) {
            p->state = ST_DONE;
            p->req.body_len = p->chunked_body.len;
            return (long)p->body_pos;
        }
    }
    return 0;
}

/* Point req into this call's buf; the offsets stay valid however the buffer moved. */
static void aim(http_parser *p, const char *buf)
{
    http_req *r = &p->req;
    r->method_str = buf + p->head_start;
    r->target = buf + p->target_off;
    r->path = p->path_root ? "/" : buf + p->path_off;
    r->query = p->query_off ? buf + p->query_off : NULL;
    for (size_t i = 0; i < r->nheaders; i++) {
        r->headers[i].name = buf + p->name_off[i];
        r->headers[i].value = buf + p->value_off[i];
    }
    if (p->state != ST_DONE) return;
    if (r->chunked) r->body = p->chunked_body.data ? p->chunked_body.data : "";
    else r->body = buf + p->head_start + p->head_len;
}

long http_parse(http_parser *p, const char *buf, size_t len)
{
    long r = 0;
    if (p->state == ST_DONE) {
        r = (long)p->body_pos;
    } else {
        if (p->state == ST_SKIP) r = skip_blank_lines(p, buf, len);
        if (!r && p->state == ST_HEAD) r = read_head(p, buf, len);
        if (!r && p->state == ST_BODY) r = read_body(p, len);
        else if (!r && p->state >= ST_CSIZE) r = read_chunked(p, buf, len);
    }
    if (r >= 0 && p->head_done) aim(p, buf);
    return r;
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
    if (c == '+' && plus_space) return ' ';
    if (c != '%') return (unsigned char)c;
    if (n - *i < 2) return -1;
    int hi = hexval(s[*i]), lo = hexval(s[*i + 1]);
    if (hi < 0 || lo < 0) return -1;
    *i += 2;
    return hi * 16 + lo;
}

long http_pct_decode(const char *s, size_t n, char *out, int plus_space)
{
    size_t i = 0, o = 0;
    while (i < n) {
        int c = pct_next(s, n, &i, plus_space);
        if (c < 0) return -1;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return (long)o;
}

/* Does the encoded key s[0..n) decode to name? 1 yes, 0 no, -1 malformed. */
static int key_is(const char *s, size_t n, const char *name)
{
    size_t i = 0, k = 0;
    int same = 1;
    while (i < n) {
        int c = pct_next(s, n, &i, 1);
        if (c < 0) return -1;
        if (!name[k] || (unsigned char)name[k] != c) same = 0;
        else k++;
    }
    return same && !name[k];
}

long http_query_get(const char *q, size_t qlen, const char *name, char *out, size_t cap)
{
    size_t i = 0;
    while (q && i < qlen) {
        size_t s = i, eq, o = 0, e;
        while (i < qlen && q[i] != '&') i++;
        e = i++;
        for (eq = s; eq < e && q[eq] != '='; eq++) {}
        int m = key_is(q + s, eq - s, name);
        if (m < 0) return -2;
        if (!m) continue;
        for (size_t k = eq < e ? eq + 1 : e; k < e;) {
            int c = pct_next(q, e, &k, 1);
            if (c < 0 || o + 1 >= cap) return -2;
            out[o++] = (char)c;
        }
        if (cap == 0) return -2;
        out[o] = 0;
        return (long)o;
    }
    return -1;
}

const char *http_reason(int status)
{
    static const struct { int code; const char *text; } reasons[] = {
        { 100, "Continue" }, { 101, "Switching Protocols" }, { 200, "OK" }, { 201, "Created" },
        { 204, "No Content" }, { 301, "Moved Permanently" }, { 304, "Not Modified" },
        { 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
        { 404, "Not Found" }, { 405, "Method Not Allowed" }, { 408, "Request Timeout" },
        { 409, "Conflict" }, { 411, "Length Required" }, { 413, "Content Too Large" },
        { 414, "URI Too Long" }, { 415, "Unsupported Media Type" }, { 417, "Expectation Failed" },
        { 426, "Upgrade Required" }, { 429, "Too Many Requests" },
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
