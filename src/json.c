/* json.c — owns the strict RFC 8259 decoder (iterative, depth-bounded, arena-backed
 * tree), the JSON string encoder, and UTF-8 validation per RFC 3629. */
#include "json.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena: a chain of blocks, so a document is freed in one walk, never per node ---- */

typedef struct ablk {
    struct ablk *next;
    size_t used, cap;
    max_align_t data[];     /* max_align_t so block starts suit any node */
} ablk;

#define ABLK_MIN 16384

/* align is a power of two. A request that does not fit opens a fresh block; the tail of
 * the old one is abandoned, which wastes at most ABLK_MIN per block (bounded, linear). */
static void *aalloc(ablk **head, size_t n, size_t align)
{
    ablk *b = *head;
    size_t off = b ? (b->used + align - 1) & ~(align - 1) : 0;
    if (!b || off > b->cap || n > b->cap - off) {
        size_t cap = n > ABLK_MIN ? n : ABLK_MIN;
        b = xmalloc(sizeof *b + cap);
        b->next = *head;
        b->cap = cap;
        *head = b;
        off = 0;
    }
    b->used = off + n;
    return (char *)b->data + off;
}

static void arena_free(ablk *b)
{
    for (ablk *next; b; b = next) {
        next = b->next;
        free(b);
    }
}

/* ---- UTF-8 ---- */

/* Length of the sequence at p (n > 0 bytes available), with the RFC 3629 §4 bounds on
 * the second byte ruling out overlongs, surrogates and > U+10FFFF. When invalid, *ok = 0
 * and the result is the maximal valid prefix (>= 1): the encoder turns that prefix into
 * one U+FFFD, the replacement practice the Unicode standard recommends. */
static size_t utf8_seq(const unsigned char *p, size_t n, int *ok)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t len = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    *ok = 0;
    if (!len) return 1;             /* stray continuation, C0/C1 overlong lead, F5..FF */
    if (c == 0xE0) lo = 0xA0;       /* overlong 3-byte form */
    if (c == 0xED) hi = 0x9F;       /* UTF-16 surrogates D800..DFFF */
    if (c == 0xF0) lo = 0x90;       /* overlong 4-byte form */
    if (c == 0xF4) hi = 0x8F;       /* beyond U+10FFFF */
    for (size_t i = 1; i < len; i++) {
        if (i >= n || p[i] < lo || p[i] > hi) return i;
        lo = 0x80, hi = 0xBF;   /* only the second byte has tighter bounds */
    }
    *ok = 1;
    return len;
}

int utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    int ok = 1;
    for (size_t i = 0; i < n && ok; ) i += utf8_seq(u + i, n - i, &ok);
    return ok;
}

static size_t put_utf8(char *o, unsigned cp)
{
    static const unsigned char lead[] = { 0, 0, 0xC0, 0xE0, 0xF0 };
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (size_t i = n - 1; i > 0; i--, cp >>= 6) o[i] = (char)(0x80 | (cp & 0x3F));
    o[0] = (char)(lead[n] | cp);
    return n;
}

/* ---- decoder ---- */

typedef struct { jval *node, *last; } frame;   /* an open array/object */

typedef struct {
    const unsigned char *s;
    size_t n, i;
    ablk *arena;
    jval *root;
    frame *stack;           /* explicit stack: nesting costs heap, never C stack */
    size_t depth, cap, max;
} parser;

static int peek(const parser *p) { return p->i < p->n ? p->s[p->i] : -1; }

static int eat(parser *p, int c)
{
    if (peek(p) != c) return 0;
    p->i++;
    return 1;
}

static void skip_ws(parser *p)
{
    while (eat(p, ' ') || eat(p, '\t') || eat(p, '\n') || eat(p, '\r')) {}
}

static jval *new_node(parser *p, jtype t)
{
    jval *v = aalloc(&p->arena, sizeof *v, _Alignof(jval));
    *v = (jval){ .type = t };
    return v;
}

static int literal(parser *p, const char *word, size_t len)
{
    if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0) return -1;
    p->i += len;
    return 0;
}

static int digits(parser *p)
{
    size_t start = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    return p->i > start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? — the text is kept, not converted, so
 * 1e400 or 100-digit integers are valid JSON; json_int decides what fits. */
static int parse_num(parser *p, jval *v)
{
    size_t start = p->i;
    eat(p, '-');
    if (!eat(p, '0') && !digits(p)) return -1;     /* a leading 0 stands alone */
    if (eat(p, '.') && !digits(p)) return -1;
    if (eat(p, 'e') || eat(p, 'E')) {
        if (!eat(p, '+')) eat(p, '-');
        if (!digits(p)) return -1;
    }
    v->len = p->i - start;
    char *t = aalloc(&p->arena, v->len + 1, 1);
    memcpy(t, p->s + start, v->len);
    t[v->len] = 0;
    v->str = t;
    return 0;
}

static int hex4(const unsigned char *s, size_t k, size_t end, unsigned *out)
{
    unsigned v = 0;
    if (end - k < 4) return -1;
    for (size_t j = k; j < k + 4; j++) {
        unsigned c = s[j], lc = c | 0x20;
        if (c >= '0' && c <= '9') v = v << 4 | (c - '0');
        else if (lc >= 'a' && lc <= 'f') v = v << 4 | (lc - 'a' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* \uXXXX with s[*k] just past the 'u'. Surrogates only count as a high+low pair (RFC 8259
 * §7); a lone one would have no valid UTF-8 form, so it is an error, not garbage. */
static int unicode_escape(const unsigned char *s, size_t *k, size_t end, char **o)
{
    unsigned cp, lo;
    if (hex4(s, *k, end, &cp)) return -1;
    *k += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return -1;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - *k < 6 || s[*k] != '\\' || s[*k + 1] != 'u' ||
            hex4(s, *k + 2, end, &lo) || lo < 0xDC00 || lo > 0xDFFF)
            return -1;
        *k += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    *o += put_utf8(*o, cp);
    return 0;
}

/* The escape whose backslash is at s[*k]; the scan guarantees s[*k + 1] < end. */
static int escape(const unsigned char *s, size_t *k, size_t end, char **o)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    unsigned char c = s[*k + 1];
    *k += 2;
    const char *hit = c ? strchr(from, c) : NULL;
    if (c == 'u') return unicode_escape(s, k, end, o);
    if (!hit) return -1;
    *(*o)++ = to[hit - from];
    return 0;
}

/* Two linear passes: find the closing quote (so the output size is bounded by the raw
 * length, as no escape decodes longer than it is written), then decode into the arena.
 * Raw bytes >= 0x80 were already checked by the whole-input utf8_valid. */
static int parse_string(parser *p, const char **str, size_t *len)
{
    const unsigned char *s = p->s;
    size_t start = ++p->i, end = start;
    while (end < p->n && s[end] != '"') {
        if (s[end] < 0x20) return -1;
        end += s[end] == '\\' ? 2 : 1;
    }
    if (end >= p->n) return -1;
    char *out = aalloc(&p->arena, end - start + 1, 1), *o = out;
    for (size_t k = start; k < end; ) {
        if (s[k] != '\\') *o++ = (char)s[k++];
        else if (escape(s, &k, end, &o)) return -1;
    }
    *o = 0;
    *str = out;
    *len = (size_t)(o - out);
    p->i = end + 1;
    return 0;
}

/* Link v under the innermost open container (or make it the root); a container is then
 * opened itself, which is where max_depth is enforced. */
static int attach(parser *p, jval *v, const char *key, size_t keylen)
{
    if (p->depth) {
        frame *f = &p->stack[p->depth - 1];
        if (f->last) f->last->next = v;
        else f->node->child = v;
        f->last = v;
        f->node->len++;
        v->key = key;
        v->keylen = keylen;
    } else {
        p->root = v;
    }
    if (v->type != J_ARR && v->type != J_OBJ) return 0;
    if (p->depth >= p->max) return -1;
    if (p->depth == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->stack = xrealloc(p->stack, p->cap * sizeof *p->stack);
    }
    p->stack[p->depth++] = (frame){ v, NULL };
    return 0;
}

static int parse_value(parser *p, const char *key, size_t keylen)
{
    int c = peek(p), rc = 0;
    jval *v;
    switch (c) {
    case '[': case '{': v = new_node(p, c == '[' ? J_ARR : J_OBJ); p->i++; break;
    case '"': v = new_node(p, J_STR); rc = parse_string(p, &v->str, &v->len); break;
    case 't': v = new_node(p, J_TRUE); rc = literal(p, "true", 4); break;
    case 'f': v = new_node(p, J_FALSE); rc = literal(p, "false", 5); break;
    case 'n': v = new_node(p, J_NULL); rc = literal(p, "null", 4); break;
    default:
        if (c != '-' && (c < '0' || c > '9')) return -1;
        v = new_node(p, J_NUM);
        rc = parse_num(p, v);
    }
    return rc ? -1 : attach(p, v, key, keylen);
}

static int closer(const parser *p)
{
    return p->stack[p->depth - 1].node->type == J_ARR ? ']' : '}';
}

static int member_key(parser *p, const char **key, size_t *keylen)
{
    if (peek(p) != '"' || parse_string(p, key, keylen)) return -1;
    skip_ws(p);
    if (!eat(p, ':')) return -1;
    skip_ws(p);
    return 0;
}

/* After a complete value: close finished containers. 1 = another item follows (a ','
 * was taken), 0 = the document ended cleanly, -1 = anything else. */
static int after_value(parser *p)
{
    for (;;) {
        skip_ws(p);
        if (!p->depth) return p->i == p->n ? 0 : -1;
        if (eat(p, ',')) return 1;
        if (!eat(p, closer(p))) return -1;
        p->depth--;
    }
}

/* One loop instead of recursion. Trailing commas fail naturally: after ',' a value (or
 * key) is required, and ']' / '}' is neither. */
static int parse_doc(parser *p)
{
    for (;;) {
        const char *key = NULL;
        size_t keylen = 0, depth = p->depth;
        skip_ws(p);
        if (depth && p->stack[depth - 1].node->type == J_OBJ && member_key(p, &key, &keylen))
            return -1;
        if (parse_value(p, key, keylen)) return -1;
        if (p->depth > depth) {            /* just opened: may close right away */
            skip_ws(p);
            if (!eat(p, closer(p))) continue;
            p->depth--;
        }
        int r = after_value(p);
        if (r <= 0) return r;
    }
}

int json_parse(jdoc *d, const char *s, size_t n, int max_depth)
{
    parser p = { .s = (const unsigned char *)s, .n = n,
                 .max = max_depth > 0 ? (size_t)max_depth : 0 };
    d->root = NULL;
    d->arena = NULL;
    /* Checking all bytes first makes "invalid UTF-8 anywhere" one rule; outside strings
     * only ASCII can be valid anyway, so the string decoder may copy raw bytes as is. */
    int rc = utf8_valid(s, n) ? parse_doc(&p) : -1;
    free(p.stack);
    if (rc) {
        arena_free(p.arena);
        return -1;
    }
    d->root = p.root;
    d->arena = p.arena;
    return 0;
}

void json_free(jdoc *d)
{
    if (!d) return;
    arena_free(d->arena);
    d->arena = NULL;
    d->root = NULL;
}

/* ---- accessors ---- */

const jval *json_get(const jval *obj, const char *key)
{
    const jval *hit = NULL;
    if (!obj || obj->type != J_OBJ || !key) return NULL;
    size_t n = strlen(key);
    for (const jval *m = obj->child; m; m = m->next)   /* no early exit: last one wins */
        if (m->keylen == n && memcmp(m->key, key, n) == 0) hit = m;
    return hit;
}

int json_int(const jval *v, int64_t *out)
{
    if (!v || v->type != J_NUM || !v->len) return -1;
    const char *s = v->str, *e = s + v->len;
    int neg = *s == '-';
    /* Accumulate the magnitude unsigned: INT64_MIN's magnitude does not fit int64_t. */
    uint64_t acc = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (neg) s++;
    if (s == e) return -1;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9') return -1;          /* '.', 'e', 'E': not an integer */
        unsigned d = (unsigned)(*s - '0');
        if (acc > (limit - d) / 10) return -1;
        acc = acc * 10 + d;
    }
    *out = neg ? (acc ? -(int64_t)(acc - 1) - 1 : 0) : (int64_t)acc;
    return 0;
}

/* ---- encoder ---- */

/* Short escapes where JSON has them, \u00XX for the other control bytes and DEL. */
static void put_escape(buf_t *b, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    static const char from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";
    const char *hit = c ? strchr(from, c) : NULL;
    char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
    if (hit) e[1] = to[hit - from];
    buf_append(b, e, hit ? 2 : 6);
}

/* Bytes that go out verbatim; DEL is escaped too, as some terminals act on it. */
static int plain(unsigned char c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; }

void json_str(buf_t *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    buf_reserve(b, n + 2);
    buf_putc(b, '"');
    while (i < n) {
        size_t start = i, k;
        int ok;
        while (i < n && plain(u[i])) i++;          /* copy runs, not single bytes */
        buf_append(b, s + start, i - start);
        if (i == n) break;
        if (u[i] < 0x80) {
            put_escape(b, u[i++]);
        } else {
            k = utf8_seq(u + i, n - i, &ok);
            buf_append(b, ok ? s + i : "\xEF\xBF\xBD", ok ? k : 3);
            i += k;
        }
    }
    buf_putc(b, '"');
}

void json_cstr(buf_t *b, const char *s) { json_str(b, s, strlen(s)); }
