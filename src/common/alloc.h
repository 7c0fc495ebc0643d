/* Allocation wrappers: every allocation in the project goes through these, and an
 * allocation failure aborts the process with a log line, so callers never check for
 * NULL. */
#ifndef CC_ALLOC_H
#define CC_ALLOC_H

#include <stddef.h>

/** malloc that aborts on failure; never returns NULL (size 0 gives a valid pointer). */
void *xmalloc(size_t size);
/** calloc that aborts on failure or on n * size overflow. */
void *xcalloc(size_t n, size_t size);
/** realloc that aborts on failure. */
void *xrealloc(void *ptr, size_t size);
/** strdup that aborts on failure. */
char *xstrdup(const char *s);
/** Copies at most n bytes of s into a new NUL-terminated string. */
char *xstrndup(const char *s, size_t n);
/** size bytes (a multiple of the page size, > 0) in pages of their own, outside
 * malloc's heap, zero-filled; aborts on failure. Memory that a peer can make the process
 * hold for a while goes there: xunmap gives it back to the system at once, where freed
 * heap memory would stay resident between the allocations that outlive it. */
void *xmap(size_t size);
/** Gives back what xmap(size) returned. */
void xunmap(void *p, size_t size);

#endif
