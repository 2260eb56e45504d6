/* buf.h — the one growable byte buffer everybody uses.
 * A buf_t owns its memory; whoever holds the struct frees it with buf_free().
 * Allocation failure aborts: there is no sane recovery inside the loop. */
#ifndef CHATD_BUF_H
#define CHATD_BUF_H
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    char *data;   /* NUL-terminated when cap > 0 (data[len] == 0) */
    size_t len;
    size_t cap;
} buf_t;

void buf_init(buf_t *b);
void buf_free(buf_t *b);
void buf_reserve(buf_t *b, size_t extra);       /* room for len+extra+1 bytes */
void buf_append(buf_t *b, const void *p, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_putc(buf_t *b, char c);
void buf_putu(buf_t *b, uint64_t v);            /* decimal */
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_consume(buf_t *b, size_t n);           /* drop n bytes from the front */
buf_t *buf_reset(buf_t *b);                     /* len = 0, memory kept; b */
void buf_release(buf_t *b, size_t keep);        /* len = 0; free memory if cap > keep */

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrndup(const char *s, size_t n);
/* Append (x, y) to two arrays that grow together (n used of cap). */
void push2(uint64_t **a, uint64_t **b, size_t *n, size_t *cap, uint64_t x, uint64_t y);

#endif
