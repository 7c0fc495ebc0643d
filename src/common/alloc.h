/* Allocation wrappers: every allocation in the project goes through these, and an
 * allocation failure aborts the process with a log line, so callers never check for
 * NULL. */
#ifndef CC_ALLOC_H
#define CC_ALLOC_H

#include <stdbool.h>
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

/**
 * Asks for transparent huge pages under malloc's main heap (the loop thread's), as the
 * glibc tunable glibc.malloc.hugetlb=1 would: the heap grows in steps of 32 MiB and is
 * marked MADV_HUGEPAGE, now and at each cc_heap_huge_pages_refresh after it grew, which
 * also makes the whole huge pages of the growth huge at once (MADV_COLLAPSE). Why: on
 * virtual machines whose host samples memory accesses (DAMON and the like), each sampled
 * 4 KiB page costs the process a fault on its next touch, and at 10,000 agents those came
 * as stalls of 3 to 15 ms twice a second; a 2 MiB page is one such page for 512
 * (docs/bench.md, "Statistics (issue 11)"). Off when the environment has CC_HUGE_PAGES=0,
 * when the system does not allow it (transparent_hugepage "never") and where malloc is not
 * the system's (sanitizers). Returns whether it is on.
 */
bool cc_heap_huge_pages_start(void);

/** Marks the heap's growth since the last call (a comparison when it did not grow). */
void cc_heap_huge_pages_refresh(void);

#endif
