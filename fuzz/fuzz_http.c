/* libFuzzer target for the HTTP request parser and the WebSocket framing. The first byte
 * chooses the part:
 * - HTTP (even): the request is parsed whole and at every shorter length; a shorter
 *   prefix is never complete where the whole is, an accepted request lies inside the
 *   input with every slice inside it, and a refusal names a 4xx/505 status. An accepted
 *   request then goes through the header lookups and the upgrade check.
 * - WebSocket (odd): the bytes are fed to a server stream in pieces whose sizes come from
 *   the second byte; messages never exceed the maximum, and once a close frame is
 *   written the stream stays closed with a code from the protocol's list. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/err.h"
#include "net/http.h"
#include "net/ws.h"
#include "proto/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { WS_MAX = 256 };

static void check_http(const char *p, size_t n)
{
    cc_http_req r;
    int rc = cc_http_parse(p, n, &r);
    assert(rc == 0 || rc == CC_HTTP_MORE || rc == CC_E_PARSE);
    if (rc == CC_E_PARSE) {
        assert(r.status == 400 || r.status == 431 || r.status == 505);
        assert(r.why != NULL);
        return;
    }
    if (rc == CC_HTTP_MORE) {
        assert(n < CC_HTTP_HEAD_MAX);
        return;
    }
    assert(r.head_len >= 4 && r.head_len <= n && r.head_len <= CC_HTTP_HEAD_MAX);
    assert(memcmp(p + r.head_len - 4, "\r\n\r\n", 4) == 0);
    assert(r.path.p >= p && r.path.p + r.path.len <= p + r.head_len && r.path.p[0] == '/');
    assert(r.header_count <= CC_HTTP_HEADERS_MAX);
    for (size_t i = 0; i < r.header_count; i++) {
        const cc_http_header *h = &r.headers[i];
        assert(h->name.len > 0 && h->name.p >= p && h->name.p + h->name.len <= p + r.head_len);
        assert(h->value.p + h->value.len <= p + r.head_len);
    }
    /* A prefix that ends before the header block cannot be a whole request. */
    if (r.head_len > 1) {
        cc_http_req shorter;
        assert(cc_http_parse(p, r.head_len - 1, &shorter) != 0);
    }
    (void)cc_http_get(&r, "Host");
    (void)cc_http_has_token(&r, "Connection", "upgrade");
    char accept[CC_HTTP_WS_ACCEPT_LEN + 1];
    const char *why = NULL;
    int st = cc_http_ws_check(&r, accept, &why);
    assert(st == 0 || st == 400 || st == 426);
    if (st == 0)
        assert(strlen(accept) == CC_HTTP_WS_ACCEPT_LEN);
    else
        assert(why != NULL);
}

typedef struct ws_seen {
    size_t messages;
    size_t written;
} ws_seen;

static int on_message(void *user, const char *msg, size_t len)
{
    ws_seen *s = user;
    (void)msg;
    assert(len <= WS_MAX);
    s->messages++;
    /* Pausing every third message exercises the held queue. */
    return s->messages % 3 == 0 ? PROTO_FRAME_PAUSE : 0;
}

static void on_write(void *user, const char *data, size_t len)
{
    ws_seen *s = user;
    assert(len > 0 && data != NULL);
    s->written += len;
}

static const cc_ws_ops ws_ops = {.on_message = on_message, .on_write = on_write};

static void check_ws(const uint8_t *p, size_t n, size_t step)
{
    ws_seen s = {0, 0};
    cc_ws *ws = cc_ws_new(&ws_ops, &s, WS_MAX);
    size_t off = 0;
    int rc = 0;
    while (off < n && rc == 0) {
        size_t k = n - off < step ? n - off : step;
        rc = cc_ws_feed(ws, (const char *)p + off, k);
        off += k;
        while (rc == 0 && cc_ws_paused(ws))
            rc = cc_ws_resume(ws);
    }
    if (rc == CC_E_CLOSED) {
        uint16_t code = cc_ws_close_code(ws);
        assert(code != 0);
        assert(cc_ws_feed(ws, "x", 1) == CC_E_CLOSED);
    } else {
        assert(rc == 0);
        cc_ws_close(ws, 1000);
        assert(cc_ws_close_code(ws) != 0);
    }
    cc_ws_free(ws);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    if ((data[0] & 1) == 0)
        check_http((const char *)data + 1, size - 1);
    else
        check_ws(data + 2, size - 2, (size_t)data[1] + 1);
    return 0;
}
