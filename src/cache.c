/* cache.c — a bounded copy of the log's tail in memory (--cache-mb), so reading a recent
 * message body (the 50 of a conversation a client opens) is a memcpy, not a pread.
 * Why the tail, by file offset: the log is append-only, so the bytes at an offset of one file
 * never change; an edit or a delete appends a new record and the index points elsewhere, so no
 * copy can go stale and nothing needs invalidating. Only a different file (compaction's
 * adopt) or the end moving back (never after a successful write) restarts it. Memory is the
 * ring's cap whatever the log's size; reads outside [lo, hi) fall back to pread. */
#include "cache.h"
#include "buf.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cache_free(tail_cache *c) { free(c->ring); *c = (tail_cache){ 0 }; }

void cache_put(tail_cache *c, uint64_t off, const void *p, size_t n)
{
    if (!c->cap) return;
    if (off != c->hi) c->lo = off;   /* not contiguous (not expected): start over from here */
    const uint8_t *src = p;
    if (n > c->cap) { src += n - c->cap; off += n - c->cap; n = c->cap; }
    size_t at = (size_t)(off % c->cap), first = n < c->cap - at ? n : c->cap - at;
    memcpy(c->ring + at, src, first);
    memcpy(c->ring, src + first, n - first);
    c->hi = off + n;
    if (c->hi - c->lo > c->cap) c->lo = c->hi - c->cap;
}

int cache_get(const tail_cache *c, uint64_t off, void *dst, size_t n)
{
    if (!c->cap || off < c->lo || off > c->hi || n > c->hi - off) return -1;
    size_t at = (size_t)(off % c->cap), first = n < c->cap - at ? n : c->cap - at;
    memcpy(dst, c->ring + at, first);
    memcpy((uint8_t *)dst + first, c->ring, n - first);
    return 0;
}

void cache_load(tail_cache *c, size_t cap, int fd, uint64_t size)
{
    if (cap != c->cap) {
        cache_free(c);
        c->ring = cap ? xmalloc(cap) : NULL;   /* untouched pages cost no memory until used */
        c->cap = cap;
    }
    c->lo = c->hi = size;
    uint64_t from = size > cap ? size - cap : 0;
    for (uint64_t off = from; cap && off < size;) {   /* up to the ring's end, then from its start */
        size_t at = (size_t)(off % cap), want = size - off < cap - at ? (size_t)(size - off) : cap - at;
        ssize_t got = pread(fd, c->ring + at, want, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return;   /* hold nothing: every read goes to pread */
        off += (uint64_t)got;
    }
    c->lo = from;
}
