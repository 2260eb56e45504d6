/* json.c — owns the strict RFC 8259 decoder (iterative, depth-bounded, arena-backed
 * tree), the JSON string encoder, and UTF-8 validation per RFC 3629. */
#include "json.h"
#include <ctype.h>
#include <errno.h>
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
        *b = (ablk){ .next = *head, .cap = cap };
        *head = b;
        off = 0;
    }
    b->used = off + n;
    return (char *)b->data + off;
}

/* Length of the sequence at p (n > 0 bytes available); RFC 3629 §4's second-byte bounds
 * rule out overlongs, surrogates and > U+10FFFF. If invalid, *ok = 0 and this is the
 * maximal valid prefix (>= 1), which the encoder turns into one U+FFFD as Unicode advises. */
static size_t utf8_seq(const unsigned char *p, size_t n, int *ok)
{
    unsigned c = p[0];
    size_t len = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;   /* overlong 3/4-byte forms */
    unsigned hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;   /* surrogates, > U+10FFFF */
    size_t i = 1;
    for (; i < len && i < n && p[i] >= lo && p[i] <= hi; i++)
        lo = 0x80, hi = 0xBF;   /* only the second byte has tighter bounds */
    *ok = len > 0 && i == len;  /* len 0: stray continuation, C0/C1 or F5..FF */
    return i;
}

int utf8_valid(const char *s, size_t n)
{
    int ok = 1;
    for (size_t i = 0; i < n && ok; ) i += utf8_seq((const unsigned char *)s + i, n - i, &ok);
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

/* JSON's short escapes: the letter after the backslash, and the byte it stands for. */
static const char esc_letter[] = "\"\\/bfnrt", esc_byte[] = "\"\\/\b\f\n\r\t";

/* ---- decoder ---- */

/* An open array/object is its parent's last item, so its next field (else NULL) holds
 * the parent until it closes: the tree is its own parse stack; nesting costs no C stack. */
typedef struct {
    const unsigned char *s;
    size_t n, i;
    ablk *arena;
    jval *root, *open;      /* open: innermost open container, NULL at the top level */
    jval **tail;            /* where the next item gets linked */
    size_t depth, max;
} parser;

static int peek(const parser *p) { return p->i < p->n ? p->s[p->i] : -1; }

static int eat(parser *p, int c) { if (peek(p) != c) return 0; p->i++; return 1; }

/* Like peek and eat, but past any whitespace first: for the bytes between tokens. */
static int next(parser *p)
{
    while (eat(p, ' ') || eat(p, '\t') || eat(p, '\n') || eat(p, '\r')) {}
    return peek(p);
}

static int token(parser *p, int c) { return next(p) == c && eat(p, c); }

static int literal(parser *p, jval *v, const char *word, jtype t)
{
    size_t len = strlen(word);
    if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0) return -1;
    p->i += len;
    v->type = t;
    return 0;
}

static int digits(parser *p)
{
    size_t start = p->i;
    while (peek(p) >= '0' && peek(p) <= '9') p->i++;
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
    char *t = aalloc(&p->arena, p->i - start + 1, 1);
    v->type = J_NUM;
    v->len = p->i - start;
    v->str = memcpy(t, p->s + start, v->len);
    t[v->len] = 0;
    return 0;
}

/* The code unit of a \uXXXX at s[0..avail), or -1 if there is none. */
static long uescape(const unsigned char *s, size_t avail)
{
    long v = 0;
    if (avail < 6 || s[0] != '\\' || s[1] != 'u') return -1;
    for (int j = 2; j < 6; j++) {
        if (!isxdigit(s[j])) return -1;
        v = v << 4 | (isdigit(s[j]) ? s[j] - '0' : (s[j] | 0x20) - 'a' + 10);
    }
    return v;
}

/* Two passes: find the closing quote (so the output fits in the raw length, as no escape
 * decodes longer than it is written, and every backslash before end has its next byte
 * before end too), then decode. Raw bytes >= 0x80 passed the whole-input utf8_valid. */
static int parse_string(parser *p, const char **str, size_t *len)
{
    const unsigned char *s = p->s;
    size_t k = ++p->i, end = k;
    while (end < p->n && s[end] != '"') {
        if (s[end] < 0x20) return -1;
        end += s[end] == '\\' ? 2 : 1;
    }
    if (end >= p->n) return -1;
    char *out = aalloc(&p->arena, end - k + 1, 1), *o = out;
    while (k < end) {
        const char *hit = s[k] == '\\' && s[k + 1] ? strchr(esc_letter, s[k + 1]) : NULL;
        long cp, lo;
        if (s[k] != '\\') {
            *o++ = (char)s[k++];
        } else if (hit) {
            *o++ = esc_byte[hit - esc_letter];
            k += 2;
        } else if ((cp = uescape(s + k, end - k)) >= 0) {
            k += 6;
            /* Surrogates only count as a high+low pair (RFC 8259 §7); a lone one would
             * have no valid UTF-8 form, so it is an error, not garbage. */
            if (cp >= 0xD800 && cp <= 0xDBFF &&
                (lo = uescape(s + k, end - k)) >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                k += 6;
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) return -1;
            o += put_utf8(o, (unsigned)cp);
        } else {
            return -1;
        }
    }
    *o = 0;
    *str = out;
    *len = (size_t)(o - out);
    p->i = end + 1;
    return 0;
}

/* The value at p->i into v. A non-empty array or object is left open (its items come
 * next), which is where max_depth is enforced. */
static int parse_value(parser *p, jval *v)
{
    int c = next(p);
    switch (c) {
    case '"':
        v->type = J_STR;
        return parse_string(p, &v->str, &v->len);
    case 't': return literal(p, v, "true", J_TRUE);
    case 'f': return literal(p, v, "false", J_FALSE);
    case 'n': return literal(p, v, "null", J_NULL);
    case '[':
    case '{':
        v->type = c == '[' ? J_ARR : J_OBJ;
        p->i++;
        if (p->depth >= p->max) return -1;
        if (token(p, c == '[' ? ']' : '}')) return 0;
        v->next = p->open;
        p->open = v;
        p->tail = &v->child;
        p->depth++;
        return 0;
    default:
        return parse_num(p, v);
    }
}

/* One loop instead of recursion: each turn links one item (after its key, in an object)
 * under the innermost open container, then takes a ',' or closes what ends there. Trailing
 * commas fail naturally: after ',' a value (or key) is required, and ']' / '}' is neither. */
static int parse_doc(parser *p)
{
    for (;;) {
        jval *v = aalloc(&p->arena, sizeof *v, _Alignof(jval));
        *v = (jval){ .type = J_NULL };
        if (p->open && p->open->type == J_OBJ &&
            (next(p) != '"' || parse_string(p, &v->key, &v->keylen) || !token(p, ':')))
            return -1;
        if (p->open) p->open->len++;
        *p->tail = v;
        p->tail = &v->next;
        if (parse_value(p, v)) return -1;
        if (p->open == v) continue;
        while (p->open && !token(p, ',')) {
            jval *c = p->open;
            if (!token(p, c->type == J_ARR ? ']' : '}')) return -1;
            p->open = c->next;
            c->next = NULL;
            p->tail = &c->next;
            p->depth--;
        }
        if (!p->open) return next(p) == -1 ? 0 : -1;
    }
}

int json_parse(jdoc *d, const char *s, size_t n, int max_depth)
{
    parser p = { .s = (const unsigned char *)s, .n = n, .tail = &p.root,
                 .max = max_depth > 0 ? (size_t)max_depth : 0 };
    /* Checking all bytes first makes "invalid UTF-8 anywhere" one rule; outside strings
     * only ASCII can be valid anyway, so the string decoder may copy raw bytes as is. */
    int rc = utf8_valid(s, n) ? parse_doc(&p) : -1;
    *d = (jdoc){ p.root, p.arena };
    if (rc) json_free(d);
    return rc;
}

void json_free(jdoc *d)
{
    if (!d) return;
    for (ablk *b = d->arena, *next; b; b = next) { next = b->next; free(b); }
    *d = (jdoc){ NULL, NULL };
}

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
    char *end;
    /* Digits and '-' only: this keeps out what strtoll would also take (space, '+'). */
    if (!v || v->type != J_NUM || !v->len || strspn(v->str, "-0123456789") != v->len) return -1;
    errno = 0;
    long long x = strtoll(v->str, &end, 10);
    if (errno || end != v->str + v->len) return -1;
    *out = x;
    return 0;
}

/* ---- encoder ---- */

/* Printable ASCII (but '"' and '\\') and valid UTF-8 go out verbatim, in runs. Other ASCII
 * gets a short escape where JSON has one ('/' is verbatim, so never "\/"), else \u00XX:
 * DEL too, as some terminals act on it. Invalid UTF-8 becomes U+FFFD. */
void json_str(buf_t *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t start = 0;
    buf_reserve(b, n + 2);
    buf_putc(b, '"');
    for (size_t i = 0, k; i < n; i += k) {
        int ok = u[i] >= 0x20 && u[i] < 0x7F && u[i] != '"' && u[i] != '\\';
        k = u[i] < 0x80 ? 1 : utf8_seq(u + i, n - i, &ok);
        if (!ok) {
            const char *hit = u[i] ? strchr(esc_byte, u[i]) : NULL;
            buf_append(b, s + start, i - start);
            if (u[i] >= 0x80) buf_append(b, "\xEF\xBF\xBD", 3);
            else if (hit) buf_append(b, (char[]){ '\\', esc_letter[hit - esc_byte] }, 2);
            else buf_printf(b, "\\u%04x", u[i]);
            start = i + k;
        }
    }
    buf_append(b, s + start, n - start);
    buf_putc(b, '"');
}

void json_cstr(buf_t *b, const char *s) { json_str(b, s, strlen(s)); }
