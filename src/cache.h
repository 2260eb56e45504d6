/* cache.h — the tail of the log kept in memory (--cache-mb): see cache.c. */
#ifndef CHATD_CACHE_H
#define CHATD_CACHE_H
#include <stddef.h>
#include <stdint.h>

typedef struct tail_cache {
    uint8_t *ring;             /* owned, cap bytes; byte at file offset o is ring[o % cap] */
    size_t cap;                /* 0: no cache */
    uint64_t lo, hi;           /* the file range held, [lo, hi); hi is the end of the log */
} tail_cache;

/* (Re)start on a file of size bytes: drop what is held, read its last cap bytes from fd. */
void cache_load(tail_cache *c, size_t cap, int fd, uint64_t size);
void cache_put(tail_cache *c, uint64_t off, const void *p, size_t n);   /* bytes appended at off */
int cache_get(const tail_cache *c, uint64_t off, void *dst, size_t n);  /* 0: copied; -1: not held */
void cache_free(tail_cache *c);
#endif
