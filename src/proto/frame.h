/* Line framing: splits a byte stream into messages ended by '\n' ("\r\n" accepted), with
 * a maximum line length. No I/O: bytes in, lines out. */
#ifndef PROTO_FRAME_H
#define PROTO_FRAME_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/** The default maximum line length in bytes, without the line end. */
#define PROTO_LINE_MAX_DEFAULT 65536u

/** Called for each complete line (without its line end, not NUL-terminated in general).
 * Return 0 to go on; PROTO_FRAME_PAUSE to stop after this line (the rest of the input
 * is left unconsumed for a later feed); any negative code to stop with that error. */
typedef int (*proto_line_cb)(void *ctx, const char *line, size_t len);

/** Returned by a line callback to stop feeding after the current line. */
#define PROTO_FRAME_PAUSE 1

/** Splitter state for one stream. */
typedef struct proto_framer {
    cc_buf partial; /* the start of a line whose end has not arrived */
    size_t max_line;
} proto_framer;

/** Initialises a framer with a maximum line length. */
void proto_framer_init(proto_framer *f, size_t max_line);
/** Frees the framer's storage. */
void proto_framer_free(proto_framer *f);
/**
 * Feeds bytes. Calls cb for each line completed by them, in order. *consumed receives
 * how many bytes were taken (all of them unless the callback paused or failed).
 * Returns 0, PROTO_FRAME_PAUSE, the callback's negative return, or
 * CC_E_MESSAGE_TOO_LARGE as soon as a line is longer than the maximum (the stream is
 * then unusable: the caller closes it).
 */
int proto_framer_feed(proto_framer *f, const char *data, size_t len, proto_line_cb cb, void *ctx,
                      size_t *consumed);

#endif
