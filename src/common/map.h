/* A hash map from byte-string keys to pointers (open addressing, linear probing).
 * Keys are copied in; values are the caller's. Used for agents by (tenant, agent id),
 * interactions by id, and every other name lookup. */
#ifndef CC_MAP_H
#define CC_MAP_H

#include <stddef.h>

typedef struct cc_map_slot {
    char *key; /* NULL = empty; CC_MAP_TOMBSTONE = deleted */
    size_t keylen;
    size_t hash;
    void *value;
} cc_map_slot;

typedef struct cc_map {
    cc_map_slot *slots;
    size_t cap; /* power of two */
    size_t count;
    size_t used; /* live + tombstones */
} cc_map;

/** Initialises an empty map. */
void cc_map_init(cc_map *m);
/** Frees the map's storage and keys (not the values). */
void cc_map_free(cc_map *m);
/** The value for key, or NULL. */
void *cc_map_get(const cc_map *m, const char *key, size_t keylen);
/** Sets key to value, replacing any old value; returns the old value or NULL. */
void *cc_map_put(cc_map *m, const char *key, size_t keylen, void *value);
/** Removes key; returns its value or NULL when absent. */
void *cc_map_del(cc_map *m, const char *key, size_t keylen);
/** Convenience forms for NUL-terminated keys. */
void *cc_map_gets(const cc_map *m, const char *key);
void *cc_map_puts(cc_map *m, const char *key, void *value);
void *cc_map_dels(cc_map *m, const char *key);

/** Iteration: start with *pos = 0; returns the next live slot or NULL at the end. The
 * map must not be modified during iteration except by cc_map_del of the returned key. */
cc_map_slot *cc_map_next(const cc_map *m, size_t *pos);

#endif
