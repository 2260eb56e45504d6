/* map.h — open-addressing hash map from byte-string keys to uint64 values.
 * The map owns a copy of every key; an all-zero map is empty. Used for token hashes,
 * idempotency keys, login throttles and direct conversations. */
#ifndef CHATD_MAP_H
#define CHATD_MAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct map_slot {
    char *key;         /* NULL: empty; MAP_TOMB: deleted */
    uint32_t keylen;
    uint32_t hash;
    uint64_t val;
} map_slot;

typedef struct map {
    map_slot *slots;
    size_t cap;        /* power of two */
    size_t used;       /* live + tombstones */
    size_t live;
} map;

void map_init(map *m);
void map_free(map *m);
uint64_t *map_get(const map *m, const void *key, size_t n);   /* NULL if absent */
void map_put(map *m, const void *key, size_t n, uint64_t val); /* insert or overwrite */
int map_del(map *m, const void *key, size_t n);               /* 1 if it was there */
/* Iterate: i from 0; returns the next live slot at or after *i and advances *i, or NULL. */
map_slot *map_next(const map *m, size_t *i);
#endif
