#include "common/buf.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

void cc_buf_init(cc_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void cc_buf_free(cc_buf *b)
{
    free(b->data);
    cc_buf_init(b);
}

void cc_buf_reset(cc_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void cc_buf_reserve(cc_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void cc_buf_append(cc_buf *b, const void *p, size_t n)
{
    cc_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cc_buf_puts(cc_buf *b, const char *s)
{
    cc_buf_append(b, s, strlen(s));
}

void cc_buf_putc(cc_buf *b, char c)
{
    cc_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void cc_buf_printf(cc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    assert(n >= 0);
    if ((size_t)n < sizeof small) {
        cc_buf_append(b, small, (size_t)n);
        return;
    }
    cc_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cc_buf_consume(cc_buf *b, size_t n)
{
    assert(n <= b->len);
    /* Nothing to move also covers a buffer that was never allocated (memmove with a NULL
     * pointer is undefined even for zero bytes). */
    if (n == 0)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    if (b->data)
        b->data[b->len] = '\0';
}

/* Freed blocks of the size last mapped, kept for the next ones: a connection that gets a
 * burst every loop turn would otherwise map and unmap a block each turn. Per thread, as
 * each loop has its own connections; at most BLOCK_CACHE blocks stay resident. */
#define BLOCK_CACHE 8
static _Thread_local cc_sbuf *block_cache[BLOCK_CACHE];
static _Thread_local size_t block_cache_n, block_cache_len;

cc_sbuf *cc_sbuf_new(const void *p, size_t n)
{
    cc_sbuf *s = xmalloc(sizeof *s + n + 1);
    s->refs = 1;
    s->spare = 0;
    s->map_len = 0;
    s->len = n;
    if (n)
        memcpy(s->data, p, n);
    s->data[n] = '\0';
    return s;
}

cc_sbuf *cc_sbuf_ref(cc_sbuf *s)
{
    assert(s->refs > 0);
    s->refs++;
    return s;
}

void cc_sbuf_unref(cc_sbuf *s)
{
    if (!s)
        return;
    assert(s->refs > 0);
    if (--s->refs > 0)
        return;
    if (!s->map_len)
        free(s);
    else if (block_cache_n < BLOCK_CACHE && s->map_len == block_cache_len)
        block_cache[block_cache_n++] = s;
    else
        xunmap(s, s->map_len);
}

cc_sbuf *cc_sbuf_block(size_t map_len)
{
    assert(map_len > sizeof(cc_sbuf) && map_len - sizeof(cc_sbuf) <= UINT32_MAX);
    cc_sbuf *s;
    if (block_cache_n && map_len == block_cache_len) {
        s = block_cache[--block_cache_n];
    } else {
        s = xmap(map_len);
        if (!block_cache_n)
            block_cache_len = map_len;
    }
    s->refs = 1;
    s->len = 0;
    s->map_len = map_len;
    s->spare = (uint32_t)(map_len - sizeof *s);
    return s;
}

void cc_sbuf_block_append(cc_sbuf *s, const void *p, size_t n)
{
    assert(s->map_len && s->refs == 1 && n <= s->spare);
    memcpy(s->data + s->len, p, n);
    s->len += n;
    s->spare -= (uint32_t)n;
}
