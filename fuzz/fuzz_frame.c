/* libFuzzer target for the line framer alone: the same bytes fed at once and in pieces
 * (sizes taken from the input) must give the same lines and the same outcome, no line may
 * be over the maximum or contain a '\n' (only one '\r' before it is removed, so "a\r\r\n"
 * is the line "a\r"), and pausing after every line and feeding the
 * rest again must also give the same lines. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "proto/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_LINE = 64 };

typedef struct seen {
    cc_buf all; /* every line, each followed by a '\n' */
    size_t lines;
    bool pause;
} seen;

static int on_line(void *ctx, const char *line, size_t len)
{
    seen *s = ctx;
    assert(len <= MAX_LINE);
    assert(memchr(line, '\n', len) == NULL);
    cc_buf_append(&s->all, line, len);
    cc_buf_putc(&s->all, '\n');
    s->lines++;
    return s->pause ? PROTO_FRAME_PAUSE : 0;
}

/* Feeds data in pieces whose sizes come from steps (0 = all at once). Returns the
 * outcome; with pausing on, unconsumed bytes are fed again as a caller would. */
static int run(const uint8_t *data, size_t size, const uint8_t *steps, size_t nsteps, seen *s)
{
    proto_framer f;
    proto_framer_init(&f, MAX_LINE);
    size_t off = 0, k = 0;
    int rc = 0;
    while (off < size && rc != CC_E_MESSAGE_TOO_LARGE) {
        size_t n = size - off;
        if (nsteps) {
            size_t step = (size_t)steps[k++ % nsteps] + 1;
            if (step < n)
                n = step;
        }
        size_t used = 0;
        rc = proto_framer_feed(&f, (const char *)data + off, n, on_line, s, &used);
        assert(used <= n);
        if (rc == PROTO_FRAME_PAUSE) {
            /* A pause stops right after a line, which always consumes at least its '\n'. */
            assert(used > 0);
            rc = 0;
        } else if (rc == 0) {
            assert(used == n);
        }
        off += used;
    }
    proto_framer_free(&f);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first 4 bytes choose the piece sizes; the rest is the stream. */
    size_t nsteps = size < 4 ? size : 4;
    const uint8_t *steps = data;
    data += nsteps;
    size -= nsteps;

    seen a = {.pause = false}, b = {.pause = false}, c = {.pause = true};
    cc_buf_init(&a.all);
    cc_buf_init(&b.all);
    cc_buf_init(&c.all);
    int ra = run(data, size, NULL, 0, &a);
    int rb = run(data, size, steps, nsteps, &b);
    int rc = run(data, size, steps, nsteps, &c);
    assert(ra == 0 || ra == CC_E_MESSAGE_TOO_LARGE);
    /* Over-long input may be noticed before its line end arrives, so lines delivered
     * before the error must agree; without an error everything must. */
    if (ra == 0) {
        assert(rb == 0 && rc == 0);
        assert(a.lines == b.lines && a.lines == c.lines);
        assert(a.all.len == b.all.len && a.all.len == c.all.len);
        assert(a.all.len == 0 || (memcmp(a.all.data, b.all.data, a.all.len) == 0 &&
                                  memcmp(a.all.data, c.all.data, a.all.len) == 0));
    } else {
        assert(rb == CC_E_MESSAGE_TOO_LARGE && rc == CC_E_MESSAGE_TOO_LARGE);
        assert(a.lines == b.lines && b.lines == c.lines);
    }
    cc_buf_free(&a.all);
    cc_buf_free(&b.all);
    cc_buf_free(&c.all);
    return 0;
}
