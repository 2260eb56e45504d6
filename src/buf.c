/* buf.c — growable byte buffer and the allocation wrappers that abort on OOM. */
#include "buf.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *oom_check(void *p) { if (!p) { fputs("chatd: out of memory\n", stderr); abort(); } return p; }

/* Zero-size requests ask for 1 byte, so NULL always means out of memory. */
void *xmalloc(size_t n) { return oom_check(malloc(n ? n : 1)); }
void *xcalloc(size_t n, size_t size) { return oom_check(calloc(n ? n : 1, size ? size : 1)); }
void *xrealloc(void *p, size_t n) { return oom_check(realloc(p, n ? n : 1)); }

void push2(uint64_t **a, uint64_t **b, size_t *n, size_t *cap, uint64_t x, uint64_t y)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *a = xrealloc(*a, *cap * sizeof **a);
        *b = xrealloc(*b, *cap * sizeof **b);
    }
    (*a)[*n] = x;
    (*b)[(*n)++] = y;
}

char *xstrndup(const char *s, size_t n) { char *p = xmalloc(n + 1); memcpy(p, s, n); p[n] = 0; return p; }

void buf_init(buf_t *b) { b->data = NULL; b->len = b->cap = 0; }

void buf_free(buf_t *b) { free(b->data); buf_init(b); }

void buf_reserve(buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void buf_append(buf_t *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void buf_puts(buf_t *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_putc(buf_t *b, char c) { buf_append(b, &c, 1); }

/* Decimal, without printf: response heads and log lines are written on every request. */
void buf_putu(buf_t *b, uint64_t v)
{
    char t[20];
    size_t i = sizeof t;
    do t[--i] = (char)('0' + v % 10); while ((v /= 10));
    buf_append(b, t + i, sizeof t - i);
}

void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { buf_append(b, tmp, (size_t)n); return; }
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

buf_t *buf_reset(buf_t *b) { b->len = 0; if (b->data) b->data[0] = 0; return b; }

void buf_consume(buf_t *b, size_t n)
{
    if (n >= b->len) { buf_reset(b); return; }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = 0;
}

void buf_release(buf_t *b, size_t keep) { if (b->cap > keep) buf_free(b); else buf_reset(b); }
