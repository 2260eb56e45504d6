/* map.c — open-addressing (linear probing) hash map, FNV-1a hashed, tombstone deletes.
 * Grows at 70% load counting tombstones, so probes stay short after many deletes. */
#include "map.h"
#include "buf.h"
#include <stdlib.h>
#include <string.h>

static char map_tomb;
#define MAP_TOMB (&map_tomb)

static uint32_t map_hash(const void *key, size_t n)
{
    const unsigned char *p = key;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

void map_init(map *m) { memset(m, 0, sizeof *m); }

void map_free(map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != MAP_TOMB) free(m->slots[i].key);
    free(m->slots);
    map_init(m);
}

static map_slot *map_find(const map *m, const void *key, size_t n, uint32_t h)
{
    if (!m->cap) return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        map_slot *s = &m->slots[i];
        if (!s->key) return NULL;
        if (s->key != MAP_TOMB && s->hash == h && s->keylen == n && memcmp(s->key, key, n) == 0)
            return s;
    }
}

static void map_grow(map *m)
{
    map_slot *old = m->slots;
    size_t oldcap = m->cap;
    m->cap = oldcap ? (m->live * 2 >= oldcap ? oldcap * 2 : oldcap) : 16;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    m->used = m->live;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].key || old[i].key == MAP_TOMB) continue;
        size_t j = old[i].hash & (m->cap - 1);
        while (m->slots[j].key) j = (j + 1) & (m->cap - 1);
        m->slots[j] = old[i];
    }
    free(old);
}

uint64_t *map_get(const map *m, const void *key, size_t n)
{
    map_slot *s = map_find(m, key, n, map_hash(key, n));
    return s ? &s->val : NULL;
}

void map_put(map *m, const void *key, size_t n, uint64_t val)
{
    uint32_t h = map_hash(key, n);
    map_slot *s = map_find(m, key, n, h);
    if (s) { s->val = val; return; }
    if ((m->used + 1) * 10 >= m->cap * 7) map_grow(m);
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key && m->slots[i].key != MAP_TOMB) i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].key) m->used++;
    m->slots[i] = (map_slot){ xstrndup(key, n), (uint32_t)n, h, val };
    m->live++;
}

int map_del(map *m, const void *key, size_t n)
{
    map_slot *s = map_find(m, key, n, map_hash(key, n));
    if (!s) return 0;
    free(s->key);
    s->key = MAP_TOMB;
    m->live--;
    return 1;
}

map_slot *map_next(const map *m, size_t *i)
{
    while (*i < m->cap) {
        map_slot *s = &m->slots[(*i)++];
        if (s->key && s->key != MAP_TOMB) return s;
    }
    return NULL;
}
