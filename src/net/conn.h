/* Connections: one interface for a framed, line-oriented peer over TCP, with a bounded
 * output queue. Messages go out "open" (see proto/jw.h): the connection appends the
 * per-connection tail (",\"seq\":N}\n" on the server side, "}\n" on the client side), so
 * one encoded event is shared, unchanged, by every connection that sends it.
 *
 * Writes are gathered per loop turn: a send only queues, and a check handle flushes every
 * dirty connection once per turn with one uv_write of all its buffers. */
#ifndef NET_CONN_H
#define NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"

typedef struct cc_net cc_net;
typedef struct cc_conn cc_conn;

/** Why a connection closed, as given to on_close and logged. */
enum cc_close_reason {
    CC_CLOSE_PEER,      /* the peer closed or reset it */
    CC_CLOSE_LOCAL,     /* this side decided to close (protocol error, shutdown) */
    CC_CLOSE_SLOW,      /* output queue over its hard limit */
    CC_CLOSE_IDLE,      /* nothing received within the idle timeout */
    CC_CLOSE_TOO_LARGE, /* an inbound line over the maximum */
    CC_CLOSE_CONNECT,   /* an outbound connect failed */
};

/** The name of a close reason, for logs. */
const char *cc_close_reason_name(enum cc_close_reason r);

/** What a connection's owner is told. */
typedef struct cc_conn_ops {
    /** One inbound line. Return 0 to go on, PROTO_FRAME_PAUSE after cc_conn_pause. The
     * callback may close the connection; no more lines are delivered then. */
    int (*on_line)(cc_conn *c, const char *line, size_t len);
    /** An outbound connect finished: status 0, or a libuv error (the connection is then
     * closed with CC_CLOSE_CONNECT right after). May be NULL for accepted connections. */
    void (*on_connect)(cc_conn *c, int status);
    /** The line was over the maximum; called before the connection closes, so the owner
     * can queue its error (it is flushed before the socket closes). May be NULL. */
    void (*on_too_large)(cc_conn *c);
    /** The connection is closing; called once. The cc_conn is freed after it returns,
     * once libuv has closed the socket: the owner must drop its pointer here. */
    void (*on_close)(cc_conn *c, enum cc_close_reason reason);
} cc_conn_ops;

/** Counters over all connections of a cc_net. */
typedef struct cc_net_stats {
    uint64_t accepted;
    uint64_t closed_slow;
    uint64_t closed_idle;
    uint64_t closed_too_large;
    uint64_t bytes_in;
    uint64_t bytes_out;
} cc_net_stats;

/** Per-loop networking context: the flush handle, the idle timer and the counters. */
struct cc_net {
    uv_loop_t *loop;
    uv_check_t flush_check;
    uv_idle_t kick; /* active while connections are dirty: poll must not block then */
    uv_timer_t idle_timer;
    cc_conn *dirty; /* connections with queued output not yet flushed */
    cc_conn *all;   /* every open connection, for idle checks */
    cc_net_stats stats;
    bool closing;
};

/** Initialises a networking context on loop. */
void cc_net_init(cc_net *net, uv_loop_t *loop);
/** Closes the context's own handles (connections must be closed first). */
void cc_net_close(cc_net *net);

/** Limits and settings of one connection. */
typedef struct cc_conn_limits {
    size_t max_line;         /* inbound line maximum (default 65,536) */
    size_t out_hard;         /* queued output bytes over which the peer is cut (default 8 MiB) */
    unsigned idle_timeout_s; /* 0: none */
    bool server_side;        /* append "seq" to outbound messages */
} cc_conn_limits;

/** The defaults above. */
cc_conn_limits cc_conn_default_limits(void);

/**
 * Accepts a pending connection on server and starts reading. Returns 0 and *out, or a
 * libuv error (nothing to free then).
 */
int cc_conn_accept(cc_net *net, uv_stream_t *server, const cc_conn_ops *ops,
                   const cc_conn_limits *limits, void *user, cc_conn **out);

/**
 * Starts an outbound TCP connection to addr (host:port; host an IPv4/IPv6 literal or
 * "localhost"). ops->on_connect reports the result. Returns 0 and *out, or a negative
 * libuv error for a bad address.
 */
int cc_conn_connect(cc_net *net, const char *addr, const cc_conn_ops *ops,
                    const cc_conn_limits *limits, void *user, cc_conn **out);

/** The owner's pointer given at accept or connect. */
void *cc_conn_user(const cc_conn *c);
/** Replaces the owner's pointer. */
void cc_conn_set_user(cc_conn *c, void *user);
/** A small number unique per process, for logs. */
uint64_t cc_conn_id(const cc_conn *c);
/** The peer as "host:port" (empty before connect). */
const char *cc_conn_peer(const cc_conn *c);
/** True once cc_conn_close was called or the peer went away. */
bool cc_conn_is_closing(const cc_conn *c);
/** Bytes queued and not yet written. */
size_t cc_conn_queued(const cc_conn *c);
/** Changes the idle timeout (seconds, 0 = none). */
void cc_conn_set_idle_timeout(cc_conn *c, unsigned seconds);
/** Changes the output hard limit (bytes). */
void cc_conn_set_out_limit(cc_conn *c, size_t bytes);

/**
 * Queues an open message: body (shared, one reference taken), then extra (may be NULL;
 * more fields such as ",\"version\":42"; with the tail it must fit in 87 bytes, which an
 * assert checks), then the tail. A connection over its output
 * limit is closed with CC_CLOSE_SLOW. Ignored on a closing connection.
 */
void cc_conn_send_open(cc_conn *c, cc_sbuf *body, const char *extra);
/** Convenience: copies an open message from b (not shared) and queues it. */
void cc_conn_send_buf(cc_conn *c, const cc_buf *b);
/** Queues bytes exactly as given (no tail), shared. */
void cc_conn_send_raw(cc_conn *c, cc_sbuf *bytes);

/** Stops delivering lines until cc_conn_resume (the line callback returns
 * PROTO_FRAME_PAUSE right after calling this). */
void cc_conn_pause(cc_conn *c);
/** Delivers held lines again, at once: lines already buffered are handled inside this
 * call, so a caller must not rely on its own state after it returns. */
void cc_conn_resume(cc_conn *c);

/** Closes the connection after flushing what is queued (best effort). */
void cc_conn_close(cc_conn *c, enum cc_close_reason reason);

/** The longest frame header a transport may put before an outbound message. */
#define CC_CONN_HEAD_MAX 16u

/**
 * A layer between the socket and the owner's lines: HTTP before a WebSocket upgrade, and
 * WebSocket framing after it. With a transport set, inbound bytes go to feed instead of
 * the line framer, and every outbound open message gets the transport's frame header and
 * loses the newline of its tail; the shared body is still queued unchanged. Without one
 * (every TCP connection) nothing of this runs.
 */
typedef struct cc_conn_transport {
    /** Inbound bytes. The transport hands each complete message to cc_conn_deliver. */
    void (*feed)(cc_conn *c, void *ctx, const char *data, size_t len);
    /** Input was resumed after cc_conn_pause: deliver what the transport holds. May be
     * NULL. */
    void (*resume)(cc_conn *c, void *ctx);
    /** Writes the frame header of an outbound message of len bytes into head (at most
     * CC_CONN_HEAD_MAX bytes) and returns its length. NULL: messages go out as lines. */
    size_t (*head)(void *ctx, size_t len, char *head);
    /** The connection is about to close for reason (not called when the peer went away
     * or the output queue overflowed): the transport may queue a last frame with
     * cc_conn_send_wire. Called at most once. May be NULL. */
    void (*closing)(cc_conn *c, void *ctx, enum cc_close_reason reason);
    /** Frees ctx once the connection is freed. May be NULL. */
    void (*free_ctx)(void *ctx);
} cc_conn_transport;

/** Sets (or, with t NULL, removes) the connection's transport. A replaced transport's
 * context is not freed: its owner does that. */
void cc_conn_set_transport(cc_conn *c, const cc_conn_transport *t, void *ctx);

/** Hands one message from the transport to the owner's on_line. Returns what on_line
 * returned, or CC_E_CLOSED when the connection is closing (deliver nothing more). */
int cc_conn_deliver(cc_conn *c, const char *msg, size_t len);

/** Queues bytes of the transport itself (a handshake answer, a pong, a close frame)
 * exactly as given, shared. Unlike the other sends it still queues while the connection
 * is closing, so that a last frame goes out before the socket closes. */
void cc_conn_send_wire(cc_conn *c, cc_sbuf *bytes);

/**
 * Gives an open connection a new owner: ops, limits (NULL keeps the current ones) and
 * user pointer. The socket, the transport and the counters stay. A connection that
 * arrived as HTTP and was upgraded to WebSocket is handed to a session this way.
 */
void cc_conn_adopt(cc_conn *c, const cc_conn_ops *ops, const cc_conn_limits *limits, void *user);

/**
 * Makes the connection's close a lingering one: once everything queued is written it
 * sends its end of the stream and discards input until the peer's end (at most 2 s)
 * before closing the socket, so that the peer reads a last answer (an HTTP error, a
 * WebSocket close frame) instead of a reset caused by input it was still sending.
 */
void cc_conn_linger(cc_conn *c);

/** The networking context of a connection. */
cc_net *cc_conn_net(const cc_conn *c);

/** The connection's inbound message maximum (its max_line). */
size_t cc_conn_max_line(const cc_conn *c);

/** The seq the next server-side message will carry. */
uint64_t cc_conn_next_seq(const cc_conn *c);

#endif
