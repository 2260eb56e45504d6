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

static int is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Controls other than HTAB: never allowed in a field value, chunk extension or trailer. */
static int is_bad_ctl(char c) { return ((unsigned char)c < 0x20 && c != '\t') || c == 0x7f; }
static int is_ows(char c) { return c == ' ' || c == '\t'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

static int hexval(char c)
{
    if (is_digit(c)) return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

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
    http_parser_init(p, &lim);
    buf_reset(&body);
    p->chunked_body = body;
}

void http_parser_free(http_parser *p) { buf_free(&p->chunked_body); }

/* RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
 * We skip any number, bounded by max_head so a peer cannot stream CRLFs forever. */
static long skip_blank_lines(http_parser *p, const char *buf, size_t len)
{
    size_t i = p->head_start;
    for (; i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n'; i += 2)
        if (i + 2 > p->lim.max_head) return -431;
    p->head_start = i;
    if (i == len || (i + 1 == len && buf[i] == '\r')) return 0;   /* a lone CR: wait for its LF */
    if (buf[i] == '\r' || buf[i] == '\n') return -400;
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
        if (i > hs && (buf[i - 1] == '\r') != (c == '\n')) return -400;   /* bare CR or LF */
        if (c == '\n') {
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
    size_t mend = p->tstart ? p->tstart - 1 : p->line_start == hs ? i : hs;
    if (mend - hs > MAX_METHOD) return -400;
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

/* Origin-form, absolute-form ("http://" or "https://", any case) or "*" (OPTIONS only);
 * authority-form is for CONNECT, which a chat server does not proxy. */
static long parse_target(http_parser *p, const char *buf, size_t t, size_t n)
{
    const char *s = buf + t;
    size_t path = t, a = 0;
    if (n == 0) return -400;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || s[i] == '#')
            return -400;
    p->req.target_len = n;
    if (n == 1 && s[0] == '*') {
        if (p->req.method != HM_OPTIONS) return -400;
    } else if (s[0] != '/') {
        if (n >= 7 && ieq(s, 7, "http://")) a = 7;
        else if (n >= 8 && ieq(s, 8, "https://")) a = 8;
        else return -400;
        for (path = t + a; path < t + n && buf[path] != '/' && buf[path] != '?'; path++) {}
        if (path == t + a) return -400;   /* empty authority */
    }
    const char *q = memchr(buf + path, '?', t + n - path);
    size_t end = q ? (size_t)(q - buf) : t + n;
    int root = a && path == end;   /* absolute-form with an empty path: "/" */
    p->path_off = root ? 0 : path;
    p->req.path_len = root ? 1 : end - path;
    if (q) {
        p->query_off = end + 1;
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

/* method SP request-target SP HTTP-version, in buf[s..e); the scan found the spaces. */
static long parse_request_line(http_parser *p, const char *buf, size_t s, size_t e)
{
    size_t i = s, t = p->tstart, te = p->tend;
    while (i < e && is_tchar(buf[i])) i++;
    if (i == s || i - s > MAX_METHOD || i + 1 != t) return -400;
    p->req.method_len = i - s;
    p->req.method = method_code(buf + s, i - s);
    if (te - t > p->lim.max_target) return -414;
    if (te == e) return -400;
    long r = parse_target(p, buf, t, te - t);
    return r ? r : parse_version(p, buf + te + 1, e - te - 1);
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
    for (size_t i = 0; i < n; i++) {
        size_t s = i, e;
        while (i < n && v[i] != ',') i++;
        for (e = i; e > s && is_ows(v[e - 1]); e--) {}
        while (s < e && is_ows(v[s])) s++;
        h->close |= ieq(v + s, e - s, "close");
        h->keep |= ieq(v + s, e - s, "keep-alive");
    }
}

static long note_header(http_parser *p, head_info *h, const http_header *hd)
{
    const char *name = hd->name, *v = hd->value;
    size_t nlen = hd->name_len, vlen = hd->value_len;
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
    size_t i = s, v, ve = e;
    while (i < e && is_tchar(buf[i])) i++;
    if (i == s || i == e || buf[i] != ':') return -400;
    if (p->req.nheaders == HTTP_MAX_HEADERS) return -431;
    for (v = i + 1; v < ve && is_ows(buf[v]); v++) {}
    while (ve > v && is_ows(buf[ve - 1])) ve--;
    for (size_t k = v; k < ve; k++)
        if (is_bad_ctl(buf[k])) return -400;
    size_t n = p->req.nheaders++;
    p->name_off[n] = s;
    p->value_off[n] = v;
    p->req.headers[n] = (http_header){ buf + s, i - s, buf + v, ve - v };
    return note_header(p, h, &p->req.headers[n]);
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

/* Once the scan has found the whole head (every line ending in CRLF), parse and judge it. */
static long read_head(http_parser *p, const char *buf, size_t len)
{
    head_info h = { 0 };
    long end = scan_head(p, buf, len), r = 0;
    if (end <= 0) return end;
    for (size_t pos = p->head_start, eol; !r && pos < (size_t)end - 2; pos = eol + 2) {
        eol = (size_t)((const char *)memchr(buf + pos, '\r', (size_t)end - pos) - buf);
        if (pos == p->head_start) r = parse_request_line(p, buf, pos, eol);
        else r = parse_header(p, &h, buf, pos, eol);
    }
    if (!r) r = check_head(p, &h);
    if (r) return r;
    p->head_len = (size_t)end - p->head_start;
    p->head_done = 1;
    p->body_pos = (size_t)end;
    p->state = p->req.chunked ? ST_CSIZE : ST_BODY;
    return 0;
}

/* Framing bytes must be exactly `want`; then move on to state `next`. */
static long expect(http_parser *p, char c, char want, int next)
{
    if (c != want) return -400;
    p->state = next;
    return 0;
}

/* One byte of chunk framing (everything but chunk data): 0 or -status. */
static long chunk_byte(http_parser *p, char c)
{
    int d = hexval(c);
    /* Bound the size line (CRLF excluded) and the trailers (CRLFs included). */
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
        else if (is_bad_ctl(c)) return -400;
        return 0;
    case ST_CSIZE_LF:
        if (c != '\n') return -400;
        if (p->chunk_left > p->lim.max_body - p->chunked_body.len) return -413;
        p->line_len = 0;
        p->ndigits = 0;
        p->state = p->chunk_left ? ST_CDATA : ST_TRAILER;
        return 0;
    case ST_CDATA_CR: return expect(p, c, '\r', ST_CDATA_LF);
    case ST_CDATA_LF: return expect(p, c, '\n', ST_CSIZE);
    case ST_TRAILER: /* start of a trailer line (no obs-fold), or the final CRLF */
        if (is_ows(c) || (c != '\r' && is_bad_ctl(c))) return -400;
        p->state = c == '\r' ? ST_END_LF : ST_TLINE;
        return 0;
    case ST_TLINE_LF: return expect(p, c, '\n', ST_TRAILER);
    default:          return expect(p, c, '\n', ST_DONE);   /* ST_END_LF */
    }
}

/* Chunked body, resuming at body_pos: framing byte by byte, data copied in bulk. */
static long read_chunked(http_parser *p, const char *buf, size_t len)
{
    while (p->body_pos < len && p->state != ST_DONE) {
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
    }
    return 0;
}

/* Point req into this call's buf (offsets survive a moved buffer), at the body once complete. */
static void aim(http_parser *p, const char *buf)
{
    http_req *r = &p->req;
    r->method_str = buf + p->head_start;
    r->target = buf + p->tstart;
    r->path = p->path_off ? buf + p->path_off : "/";
    r->query = p->query_off ? buf + p->query_off : NULL;
    for (size_t i = 0; i < r->nheaders; i++) {
        r->headers[i].name = buf + p->name_off[i];
        r->headers[i].value = buf + p->value_off[i];
    }
    if (p->state != ST_DONE) return;
    if (r->chunked) r->body = p->chunked_body.data ? p->chunked_body.data : "";
    else r->body = buf + p->head_start + p->head_len;
    r->body_len = r->chunked ? p->chunked_body.len : (size_t)p->content_length;
}

long http_parse(http_parser *p, const char *buf, size_t len)
{
    long r = 0;
    if (p->state == ST_SKIP) r = skip_blank_lines(p, buf, len);
    if (!r && p->state == ST_HEAD) r = read_head(p, buf, len);
    if (!r && p->state == ST_BODY && len >= p->body_pos + p->content_length) {
        p->body_pos += (size_t)p->content_length;
        p->state = ST_DONE;
    }
    if (!r && p->state >= ST_CSIZE) r = read_chunked(p, buf, len);
    if (r < 0) return r;
    if (p->head_done) aim(p, buf);
    return p->state == ST_DONE ? (long)p->body_pos : 0;
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

/* Decode s[0..n) into out[0..cap): the length, or -1 on a bad %XX or when it (and its NUL)
 * does not fit. */
static long pct_decode(const char *s, size_t n, char *out, size_t cap, int plus_space)
{
    size_t i = 0, o = 0;
    while (i < n) {
        int c = pct_next(s, n, &i, plus_space);
        if (c < 0 || o + 1 >= cap) return -1;
        out[o++] = (char)c;
    }
    if (cap == 0) return -1;
    out[o] = 0;
    return (long)o;
}

long http_pct_decode(const char *s, size_t n, char *out, int plus_space)
{
    return pct_decode(s, n, out, n + 1, plus_space);
}

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
            if (!name[k] || (unsigned char)name[k] != c) same = 0;
            else k++;
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
        { 204, "No Content" }, { 400, "Bad Request" }, { 401, "Unauthorized" },
        { 403, "Forbidden" }, { 404, "Not Found" }, { 405, "Method Not Allowed" },
        { 408, "Request Timeout" }, { 409, "Conflict" }, { 413, "Content Too Large" },
        { 414, "URI Too Long" }, { 415, "Unsupported Media Type" }, { 426, "Upgrade Required" },
        { 429, "Too Many Requests" }, { 431, "Request Header Fields Too Large" },
        { 500, "Internal Server Error" }, { 501, "Not Implemented" },
        { 503, "Service Unavailable" }, { 505, "HTTP Version Not Supported" },
        { 507, "Insufficient Storage" },
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
