/* WebSocket framing (RFC 6455), server side, through wslay, with no I/O: bytes from the
 * peer in, text messages and bytes to write out. Policy of the protocol (protocol.md
 * section 9): client frames must be masked (else close 1002), a binary message closes
 * with 1003, a message over the maximum, in one frame or fragmented, closes with 1009,
 * pings are answered with pongs, and a close from the peer is answered and ends the
 * stream.
 *
 * Outbound text messages do not go through wslay: a server frame is unmasked, so the
 * caller writes cc_ws_text_header and then the message bytes themselves, which lets one
 * encoded event be shared by every connection that sends it. */
#ifndef NET_WS_H
#define NET_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The longest header of a server frame (2 + 8 length bytes, no mask). */
#define CC_WS_HEADER_MAX 10u

/** Close codes used here (RFC 6455 section 7.4.1). */
enum cc_ws_code {
    CC_WS_NORMAL = 1000,
    CC_WS_GOING_AWAY = 1001,
    CC_WS_PROTOCOL_ERROR = 1002,
    CC_WS_UNSUPPORTED_DATA = 1003,
    CC_WS_INVALID_DATA = 1007,
    CC_WS_POLICY = 1008,
    CC_WS_TOO_BIG = 1009,
    CC_WS_INTERNAL = 1011,
};

typedef struct cc_ws cc_ws;

/** What the owner of a WebSocket stream is told. */
typedef struct cc_ws_ops {
    /** One complete text message (not NUL-terminated). Return 0 to go on, or
     * PROTO_FRAME_PAUSE to hold further messages until cc_ws_resume. */
    int (*on_message)(void *user, const char *msg, size_t len);
    /** Bytes to send to the peer as they are (pongs and close frames). */
    void (*on_write)(void *user, const char *data, size_t len);
} cc_ws_ops;

/** A new server-side stream whose messages may be at most max_message bytes. */
cc_ws *cc_ws_new(const cc_ws_ops *ops, void *user, size_t max_message);
/** The most frames one message may arrive in; one more closes with 1008. Browsers send
 * a message in one frame; each fragment costs wslay a block of its own, so one-byte
 * fragments would otherwise hold some forty bytes per byte of message. */
#define CC_WS_FRAGMENTS_MAX 64u

/** Changes the message maximum (a message already being received keeps the old one
 * if wslay took its length already). */
void cc_ws_set_max_message(cc_ws *ws, size_t max_message);

/** The bytes the stream holds: unread input, held messages and the fragments of the
 * message being received (with their per-block overhead). */
size_t cc_ws_mem(const cc_ws *ws);

/** Frees the stream. */
void cc_ws_free(cc_ws *ws);

/**
 * Feeds bytes from the peer: delivers the messages they complete, answers pings, and
 * writes a close frame when the stream must end. Returns 0 while the stream is open, or
 * CC_E_CLOSED once a close frame was written (the caller then closes the connection
 * after flushing; cc_ws_close_code says why). Input after that is ignored.
 */
int cc_ws_feed(cc_ws *ws, const char *data, size_t len);

/** Delivers messages held since on_message paused, then the input behind them. Returns
 * as cc_ws_feed. */
int cc_ws_resume(cc_ws *ws);

/** True while message delivery is paused. */
bool cc_ws_paused(const cc_ws *ws);

/** Writes a close frame with code (once; later calls do nothing). */
void cc_ws_close(cc_ws *ws, uint16_t code);

/** The code of the close frame written (0 when none yet). */
uint16_t cc_ws_close_code(const cc_ws *ws);

/** True when the peer sent a close frame (the close was its choice). */
bool cc_ws_close_received(const cc_ws *ws);

/** Writes the header of an unmasked, final text frame of len payload bytes into out;
 * returns its length (2, 4 or 10). */
size_t cc_ws_text_header(size_t len, char out[CC_WS_HEADER_MAX]);

#endif
