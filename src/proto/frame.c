#include "proto/frame.h"

#include <string.h>

#include "common/err.h"

void proto_framer_init(proto_framer *f, size_t max_line)
{
    cc_buf_init(&f->partial);
    f->max_line = max_line;
}

void proto_framer_free(proto_framer *f)
{
    cc_buf_free(&f->partial);
}

static int emit(const char *line, size_t len, size_t max, proto_line_cb cb, void *ctx)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len > max)
        return CC_E_MESSAGE_TOO_LARGE;
    return cb(ctx, line, len);
}

int proto_framer_feed(proto_framer *f, const char *data, size_t len, proto_line_cb cb, void *ctx,
                      size_t *consumed)
{
    const char *start = data;
    *consumed = 0;
    /* "+1" lets a line of exactly max bytes wait for its '\r' before the check. */
    size_t hard = f->max_line + 1;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        if (!nl) {
            if (f->partial.len + len > hard)
                return CC_E_MESSAGE_TOO_LARGE;
            cc_buf_append(&f->partial, data, len);
            *consumed = (size_t)(data - start) + len;
            return 0;
        }
        size_t part = (size_t)(nl - data);
        int rc;
        if (f->partial.len) {
            if (f->partial.len + part > hard)
                return CC_E_MESSAGE_TOO_LARGE;
            cc_buf_append(&f->partial, data, part);
            /* The callback may feed nothing back, but it may free the framer's owner, so
             * the line is moved out of the framer before it runs. */
            cc_buf line = f->partial;
            cc_buf_init(&f->partial);
            rc = emit(line.data, line.len, f->max_line, cb, ctx);
            cc_buf_free(&line);
        } else {
            rc = emit(data, part, f->max_line, cb, ctx);
        }
        data = nl + 1;
        len -= part + 1;
        *consumed = (size_t)(data - start);
        if (rc)
            return rc;
    }
    return 0;
}
