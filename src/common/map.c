#include "common/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

static char tombstone_mark;
#define CC_MAP_TOMBSTONE (&tombstone_mark)

static size_t map_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 29));
}

void cc_map_init(cc_map *m)
{
    memset(m, 0, sizeof *m);
}

void cc_map_free(cc_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != CC_MAP_TOMBSTONE)
            free(m->slots[i].key);
    free(m->slots);
    cc_map_init(m);
}

static cc_map_slot *map_find(const cc_map *m, const char *key, size_t len, size_t h)
{
    if (!m->cap)
        return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        cc_map_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != CC_MAP_TOMBSTONE && s->hash == h && s->keylen == len &&
            memcmp(s->key, key, len) == 0)
            return s;
    }
}

static void map_grow(cc_map *m)
{
    cc_map_slot *old = m->slots;
    size_t oldcap = m->cap;
    m->cap = oldcap ? oldcap * 2 : 16;
    if (m->count * 4 < oldcap) /* mostly tombstones: rehash at the same size */
        m->cap = oldcap;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    m->used = m->count;
    for (size_t i = 0; i < oldcap; i++) {
        cc_map_slot *s = &old[i];
        if (!s->key || s->key == CC_MAP_TOMBSTONE)
            continue;
        size_t j = s->hash & (m->cap - 1);
        while (m->slots[j].key)
            j = (j + 1) & (m->cap - 1);
        m->slots[j] = *s;
    }
    free(old);
}

void *cc_map_get(const cc_map *m, const char *key, size_t keylen)
{
    cc_map_slot *s = map_find(m, key, keylen, map_hash(key, keylen));
    return s ? s->value : NULL;
}

void *cc_map_put(cc_map *m, const char *key, size_t keylen, void *value)
{
    size_t h = map_hash(key, keylen);
    cc_map_slot *s = map_find(m, key, keylen, h);
    if (s) {
        void *old = s->value;
        s->value = value;
        return old;
    }
    if ((m->used + 1) * 4 > m->cap * 3)
        map_grow(m);
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key && m->slots[i].key != CC_MAP_TOMBSTONE)
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].key)
        m->used++;
    m->slots[i].key = xmalloc(keylen + 1);
    memcpy(m->slots[i].key, key, keylen);
    m->slots[i].key[keylen] = '\0';
    m->slots[i].keylen = keylen;
    m->slots[i].hash = h;
    m->slots[i].value = value;
    m->count++;
    return NULL;
}

void *cc_map_del(cc_map *m, const char *key, size_t keylen)
{
    cc_map_slot *s = map_find(m, key, keylen, map_hash(key, keylen));
    if (!s)
        return NULL;
    void *old = s->value;
    free(s->key);
    s->key = CC_MAP_TOMBSTONE;
    s->value = NULL;
    m->count--;
    return old;
}

void *cc_map_gets(const cc_map *m, const char *key)
{
    return cc_map_get(m, key, strlen(key));
}

void *cc_map_puts(cc_map *m, const char *key, void *value)
{
    return cc_map_put(m, key, strlen(key), value);
}

void *cc_map_dels(cc_map *m, const char *key)
{
    return cc_map_del(m, key, strlen(key));
}

cc_map_slot *cc_map_next(const cc_map *m, size_t *pos)
{
    while (*pos < m->cap) {
        cc_map_slot *s = &m->slots[(*pos)++];
        if (s->key && s->key != CC_MAP_TOMBSTONE)
            return s;
    }
    return NULL;
}
