/* Media names interned into small integers. A daemon has at most CC_MEDIA_MAX media, so
 * an agent's readiness is a 64-bit mask and its counts a small array, and a capacity rule
 * evaluates over arrays rather than strings. */
#ifndef CC_MEDIA_H
#define CC_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CC_MEDIA_MAX 64
#define CC_MEDIA_NAME_MAX 32

typedef uint64_t cc_media_mask;

/** A table of interned media names; ids are 0..count-1 in order of first intern. */
typedef struct cc_media_table {
    int count;
    char names[CC_MEDIA_MAX][CC_MEDIA_NAME_MAX + 1];
} cc_media_table;

/** True when name matches [a-z][a-z0-9_-]{0,31}. */
bool cc_media_name_valid(const char *name, size_t len);

/** Initialises an empty table. */
void cc_media_init(cc_media_table *t);

/** The id of name, or CC_E_NOT_FOUND. */
int cc_media_find(const cc_media_table *t, const char *name, size_t len);

/** The id of name, adding it when new: CC_E_INVALID_ATTRIBUTE for an invalid name,
 * CC_E_LIMIT_EXCEEDED when the table is full. */
int cc_media_intern(cc_media_table *t, const char *name, size_t len);

/** The name of an id. */
const char *cc_media_name(const cc_media_table *t, int id);

#endif
