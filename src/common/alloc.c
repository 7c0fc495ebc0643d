#include "common/alloc.h"

#include <assert.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void die_oom(size_t size)
{
    fprintf(stderr, "level=fatal event=out_of_memory size=%zu\n", size);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        die_oom(size);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die_oom(n * size);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        die_oom(size);
    return p;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *xmap(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die_oom(size);
    return p;
}

void xunmap(void *p, size_t size)
{
    int rc = munmap(p, size);
    assert(rc == 0);
    (void)rc;
}

/* Linux 6.1; older headers lack it, and older kernels refuse it (nothing is lost then). */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* The size of a transparent huge page on x86-64 and arm64 with 4 KiB pages. */
#define HUGE_PAGE (2u << 20)
#define HEAP_STEP (16 * HUGE_PAGE)

static struct {
    bool on;
    uintptr_t lo;     /* where the heap begins (start_brk): marking starts there */
    uintptr_t marked; /* the heap's end at the last marking */
} huge;

/* Whether the system gives transparent huge pages to a region marked MADV_HUGEPAGE. */
static bool thp_allowed(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f)
        return false;
    char line[128] = "";
    bool ok = fgets(line, sizeof line, f) && !strstr(line, "[never]");
    fclose(f);
    return ok;
}

/* Where the heap begins (start_brk, field 47 of /proc/self/stat), so that what was
 * allocated before the start is marked too; the heap's current end when unknown. */
static uintptr_t heap_start(void)
{
    uintptr_t end = (uintptr_t)sbrk(0);
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return end;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* The command name (field 2) may hold spaces and parentheses: fields 3 on follow
     * the last ')'. */
    char *p = strrchr(buf, ')');
    unsigned long long v = 0;
    for (int field = 2; p && field < 47; field++) {
        p = strchr(p + 1, ' ');
        if (p && field == 46)
            v = strtoull(p + 1, NULL, 10);
    }
    return v && v <= end ? (uintptr_t)v : end;
}

bool cc_heap_huge_pages_start(void)
{
    const char *env = getenv("CC_HUGE_PAGES");
    if ((env && strcmp(env, "0") == 0) || !thp_allowed())
        return false;
    /* Each growth of the heap is a mapping of its own (the kernel does not merge anonymous
     * mappings that were written before), and a huge page must lie whole in one, at a
     * 2 MiB boundary: the heap grows by HEAP_STEP at least, so that nearly all of each
     * growth is whole huge pages, and is trimmed only past twice that. Untouched, the
     * step costs address space only. Blocks under one huge page come from the heap rather
     * than from mappings of their own. */
    if (!mallopt(M_TOP_PAD, HEAP_STEP) || !mallopt(M_TRIM_THRESHOLD, 2 * HEAP_STEP) ||
        !mallopt(M_MMAP_THRESHOLD, HUGE_PAGE))
        return false;
    /* A heap that does not move (another allocator, as under a sanitizer) is never marked:
     * refresh only compares. */
    huge.lo = heap_start();
    huge.marked = huge.lo;
    huge.on = true;
    cc_heap_huge_pages_refresh();
    return true;
}

void cc_heap_huge_pages_refresh(void)
{
    if (!huge.on)
        return;
    uintptr_t end = (uintptr_t)sbrk(0);
    if (end == huge.marked)
        return;
    /* After a trim the next growth is marked again; the kernel merges the marked parts. */
    if (end > huge.marked && end > huge.lo) {
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        uintptr_t from = huge.lo & ~(page - 1);
        madvise((void *)from, end - from, MADV_HUGEPAGE);
        /* malloc wrote into the growth before this mark, so its first pages are small
         * ones: the whole huge pages of the growth are made huge now (a copy of up to
         * 2 MiB each, once, on the caller's thread: at a heap growth, that is during a
         * login burst or a start, not in steady traffic), instead of whenever the
         * kernel's background scan comes. */
        uintptr_t lo = (huge.marked > from ? huge.marked : from) & ~(uintptr_t)(HUGE_PAGE - 1);
        uintptr_t hi = end & ~(uintptr_t)(HUGE_PAGE - 1);
        if (lo < from)
            lo = (from + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
        if (hi > lo)
            madvise((void *)lo, hi - lo, MADV_COLLAPSE);
    }
    huge.marked = end;
}
