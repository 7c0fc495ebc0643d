/* Byte buffers. cc_buf is a growable buffer owned by one user; cc_sbuf is an immutable,
 * reference-counted buffer that one encoded event is written into once and then shared
 * by every connection that sends it. */
#ifndef CC_BUF_H
#define CC_BUF_H

#include <stddef.h>
#include <stdint.h>

/** A growable byte buffer; data is always NUL-terminated for convenience. */
typedef struct cc_buf {
    char *data;
    size_t len;
    size_t cap;
} cc_buf;

/** Initialises an empty buffer (no allocation until the first append). */
void cc_buf_init(cc_buf *b);
/** Frees the storage; the buffer may be reused after cc_buf_init. */
void cc_buf_free(cc_buf *b);
/** Empties the buffer and keeps its storage. */
void cc_buf_reset(cc_buf *b);
/** Makes room for at least extra more bytes (plus the NUL). */
void cc_buf_reserve(cc_buf *b, size_t extra);
/** Appends n bytes. */
void cc_buf_append(cc_buf *b, const void *p, size_t n);
/** Appends a NUL-terminated string. */
void cc_buf_puts(cc_buf *b, const char *s);
/** Appends one byte. */
void cc_buf_putc(cc_buf *b, char c);
/** Appends printf-formatted text. */
void cc_buf_printf(cc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Removes the first n bytes (n <= len). */
void cc_buf_consume(cc_buf *b, size_t n);

/** An immutable shared buffer: write once, then reference from many output queues.
 * A *block* (cc_sbuf_block) is the exception: its one owner appends to it until it is
 * full, and only then shares it. */
typedef struct cc_sbuf {
    unsigned refs;
    uint32_t spare; /* room left after data[len]: only a block has any */
    size_t len;
    size_t map_len; /* a block: the size of its mapping (xmap); 0 for the others */
    char data[];
} cc_sbuf;

/** A new shared buffer holding a copy of n bytes, with one reference. */
cc_sbuf *cc_sbuf_new(const void *p, size_t n);
/** Takes one more reference and returns s. */
cc_sbuf *cc_sbuf_ref(cc_sbuf *s);
/** Drops one reference; the last one frees it. NULL is ignored. */
void cc_sbuf_unref(cc_sbuf *s);
/** A new empty block of map_len bytes in all, header included (a multiple of the page
 * size), in pages of its own (xmap), with one reference: its room is its spare. The
 * thread keeps a few freed blocks of one size for the next calls; the others go back
 * to the system when their last reference is dropped. */
cc_sbuf *cc_sbuf_block(size_t map_len);
/** Appends n bytes to a block that has the room and that nobody else references yet. */
void cc_sbuf_block_append(cc_sbuf *s, const void *p, size_t n);

#endif
