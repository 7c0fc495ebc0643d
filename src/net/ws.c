#include "net/ws.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "proto/frame.h"

struct cc_ws {
    wslay_event_context_ptr ctx;
    const cc_ws_ops *ops;
    void *user;
    cc_buf in;        /* input not yet taken by wslay */
    size_t in_off;    /* bytes of in already taken */
    cc_buf held;      /* messages received while paused: size_t length, then the bytes */
    size_t held_off;  /* bytes of held already delivered */
    uint16_t pending; /* a close decided during wslay_event_recv, written right after */
    uint16_t code;    /* the code of the close frame written; 0 = none yet */
    bool paused;
    bool stopped;     /* the owner refused a message: deliver nothing more */
    bool in_recv;     /* inside wslay_event_recv, whose callbacks must not send */
    size_t frames;    /* frames of the data message being received */
    size_t frags_mem; /* what wslay holds for them, estimated */
};

/* What wslay allocates per received frame besides its payload (a chunk header and
 * malloc's own). */
#define FRAME_OVERHEAD 48u

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    cc_ws *ws = user;
    size_t avail = ws->in.len - ws->in_off;
    /* While paused, wslay must not take more input: what it takes it may turn into
     * messages, and those would have to be held without bound. */
    if (ws->paused || ws->stopped || avail == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = avail < len ? avail : len;
    memcpy(buf, ws->in.data + ws->in_off, n);
    ws->in_off += n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    (void)flags;
    cc_ws *ws = user;
    /* wslay answers a malformed frame header (a fragmented or oversized control frame,
     * a length with its top bit set) with a close frame without a code; the protocol
     * says 1002 for every such frame. A peer's own codeless close is answered as is. */
    if (len == 2 && data[0] == 0x88 && data[1] == 0 && !wslay_event_get_close_received(ctx)) {
        static const char protocol_error[] = {(char)0x88, 2, 0x03, (char)0xEA};
        ws->code = CC_WS_PROTOCOL_ERROR;
        ws->ops->on_write(ws->user, protocol_error, sizeof protocol_error);
        return (ssize_t)len;
    }
    ws->ops->on_write(ws->user, (const char *)data, len);
    return (ssize_t)len;
}

/* A close decided inside wslay's callbacks: stop reading now, write it once they return. */
static void close_later(cc_ws *ws, uint16_t code)
{
    if (!ws->pending)
        ws->pending = code;
    wslay_event_shutdown_read(ws->ctx);
}

static void deliver(cc_ws *ws, const char *msg, size_t len)
{
    int rc = ws->ops->on_message(ws->user, msg, len);
    if (rc == PROTO_FRAME_PAUSE) {
        ws->paused = true;
    } else if (rc < 0) {
        ws->stopped = true;
        wslay_event_shutdown_read(ws->ctx);
    }
}

static void frame_start_cb(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
    (void)ctx;
    cc_ws *ws = user;
    /* Refused at its first frame, before wslay buffers it. */
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        close_later(ws, CC_WS_UNSUPPORTED_DATA);
        return;
    }
    if (arg->opcode & 0x8)
        return; /* control frames are not part of a message */
    if (arg->opcode != WSLAY_CONTINUATION_FRAME) {
        ws->frames = 0;
        ws->frags_mem = 0;
    }
    ws->frames++;
    ws->frags_mem += (size_t)arg->payload_length + FRAME_OVERHEAD;
    if (ws->frames > CC_WS_FRAGMENTS_MAX)
        close_later(ws, CC_WS_POLICY);
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user)
{
    (void)ctx;
    cc_ws *ws = user;
    if (!(arg->opcode & 0x8)) {
        ws->frames = 0;
        ws->frags_mem = 0;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME || ws->pending || ws->stopped)
        return;
    const char *msg = arg->msg ? (const char *)arg->msg : "";
    if (ws->paused) {
        size_t len = arg->msg_length;
        cc_buf_append(&ws->held, &len, sizeof len);
        cc_buf_append(&ws->held, msg, len);
        return;
    }
    deliver(ws, msg, arg->msg_length);
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .on_frame_recv_start_callback = frame_start_cb,
    .on_msg_recv_callback = msg_cb,
};

cc_ws *cc_ws_new(const cc_ws_ops *ops, void *user, size_t max_message)
{
    cc_ws *ws = xcalloc(1, sizeof *ws);
    ws->ops = ops;
    ws->user = user;
    cc_buf_init(&ws->in);
    cc_buf_init(&ws->held);
    if (wslay_event_context_server_init(&ws->ctx, &callbacks, ws) != 0) {
        LOG_ERROR("event=oom what=wslay_context");
        abort();
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, max_message);
    return ws;
}

void cc_ws_set_max_message(cc_ws *ws, size_t max_message)
{
    wslay_event_config_set_max_recv_msg_length(ws->ctx, max_message);
}

size_t cc_ws_mem(const cc_ws *ws)
{
    return ws->in.cap + ws->held.cap + ws->frags_mem;
}

void cc_ws_free(cc_ws *ws)
{
    if (!ws)
        return;
    wslay_event_context_free(ws->ctx);
    cc_buf_free(&ws->in);
    cc_buf_free(&ws->held);
    free(ws);
}

static void write_close(cc_ws *ws, uint16_t code)
{
    if (!ws->code && !wslay_event_get_close_sent(ws->ctx)) {
        static const char reason_too_big[] = "message too large";
        static const char reason_fragments[] = "too many fragments";
        const char *reason = code == CC_WS_TOO_BIG  ? reason_too_big
                             : code == CC_WS_POLICY ? reason_fragments
                                                    : NULL;
        (void)wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason,
                                      reason ? strlen(reason) : 0);
    }
    (void)wslay_event_send(ws->ctx);
    if (wslay_event_get_close_sent(ws->ctx) && !ws->code)
        ws->code = wslay_event_get_status_code_sent(ws->ctx);
}

/* Lets wslay take the input it is allowed to, then writes what it queued (pongs, the
 * answer to a close, a close of our own). */
static int run(cc_ws *ws)
{
    if (ws->code)
        return CC_E_CLOSED;
    ws->in_recv = true;
    int rc = wslay_event_recv(ws->ctx);
    ws->in_recv = false;
    if (ws->in_off == ws->in.len) {
        cc_buf_reset(&ws->in);
        ws->in_off = 0;
    }
    if (rc != 0 && !ws->pending && !wslay_event_get_close_sent(ws->ctx))
        ws->pending = CC_WS_INTERNAL;
    if (ws->pending)
        write_close(ws, ws->pending);
    else
        (void)wslay_event_send(ws->ctx);
    if (wslay_event_get_close_sent(ws->ctx)) {
        if (!ws->code)
            ws->code = wslay_event_get_status_code_sent(ws->ctx);
        return CC_E_CLOSED;
    }
    return 0;
}

int cc_ws_feed(cc_ws *ws, const char *data, size_t len)
{
    if (ws->code)
        return CC_E_CLOSED;
    if (ws->in_off && ws->in_off == ws->in.len) {
        cc_buf_reset(&ws->in);
        ws->in_off = 0;
    }
    cc_buf_append(&ws->in, data, len);
    if (ws->paused || ws->stopped)
        return 0;
    return run(ws);
}

int cc_ws_resume(cc_ws *ws)
{
    if (ws->code)
        return CC_E_CLOSED;
    ws->paused = false;
    while (!ws->paused && !ws->stopped && ws->held_off < ws->held.len) {
        size_t len;
        assert(ws->held.len - ws->held_off >= sizeof len);
        memcpy(&len, ws->held.data + ws->held_off, sizeof len);
        const char *msg = ws->held.data + ws->held_off + sizeof len;
        ws->held_off += sizeof len + len;
        deliver(ws, msg, len);
    }
    if (ws->held_off == ws->held.len) {
        cc_buf_reset(&ws->held);
        ws->held_off = 0;
    }
    if (ws->paused || ws->stopped)
        return ws->code ? CC_E_CLOSED : 0;
    return run(ws);
}

bool cc_ws_paused(const cc_ws *ws)
{
    return ws->paused;
}

void cc_ws_close(cc_ws *ws, uint16_t code)
{
    if (ws->code)
        return;
    if (ws->in_recv) {
        close_later(ws, code);
        return;
    }
    write_close(ws, code);
}

uint16_t cc_ws_close_code(const cc_ws *ws)
{
    return ws->code;
}

bool cc_ws_close_received(const cc_ws *ws)
{
    return wslay_event_get_close_received(ws->ctx) != 0;
}

size_t cc_ws_text_header(size_t len, char out[CC_WS_HEADER_MAX])
{
    unsigned char *o = (unsigned char *)out;
    o[0] = 0x81; /* FIN, text */
    if (len < 126) {
        o[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        o[1] = 126;
        o[2] = (unsigned char)(len >> 8);
        o[3] = (unsigned char)len;
        return 4;
    }
    o[1] = 127;
    for (int i = 0; i < 8; i++)
        o[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}
