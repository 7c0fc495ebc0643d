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
#include "net/tls.h"

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
    CC_CLOSE_TIMEOUT,   /* a deadline passed (registration, an HTTP header block) */
    CC_CLOSE_MEMORY,    /* the process was over max-memory and this was a big consumer */
    CC_CLOSE_TLS,       /* TLS failed (handshake, certificate) or the peer spoke plaintext */
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
    /** The connection's deadline (cc_conn_set_deadline) passed; called before it closes
     * with CC_CLOSE_TIMEOUT, so the owner can queue a last answer. May be NULL. */
    void (*on_deadline)(cc_conn *c);
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
    uint64_t closed_timeout; /* deadlines passed */
    uint64_t closed_memory;  /* cut as a biggest consumer over max-memory */
    uint64_t idle_spared;    /* idle by the clock, but input was waiting in the socket */
    uint64_t bytes_in;       /* as read from the sockets (ciphertext on TLS connections) */
    uint64_t bytes_out;      /* as written to the sockets */
    uint64_t tls_handshakes; /* TLS handshakes completed */
    uint64_t tls_failed;     /* TLS connections closed for a failed handshake or record */
    uint64_t tls_plaintext;  /* plaintext clients refused on a TLS port */
} cc_net_stats;

/** Per-loop networking context: the flush handle, the idle timer and the counters. */
struct cc_net {
    uv_loop_t *loop;
    uv_check_t flush_check;
    uv_idle_t kick; /* active while connections are dirty: poll must not block then */
    uv_timer_t idle_timer;
    cc_conn *dirty;  /* connections with queued output not yet flushed */
    cc_conn *all;    /* every open connection, for idle checks */
    size_t nall;     /* how many are in all */
    cc_conn *sweep;  /* the next connection the idle sweep looks at; NULL: a round ends */
    size_t sweep_in; /* input memory summed by the sweep's round so far */
    cc_net_stats stats;
    /* Memory accounting (see cc_net_mem_used): output of open connections, kept up to
     * date on every change; output of every connection including closing ones; input
     * and transport buffers as of the last sweep; memory other modules declared. */
    size_t mem_out_live;
    size_t mem_out_all;
    size_t mem_in;
    size_t mem_extra;
    size_t mem_max;      /* max-memory: 0 = no cap */
    bool trim_due;       /* a big connection was freed: give memory back to the system */
    uint64_t trimmed_us; /* monotonic time of the last malloc_trim */
    bool cut_futile;     /* over max-memory with nobody big enough to cut: sends do not look
                            again before the next sweep */
    bool closing;
};

/** Initialises a networking context on loop. */
void cc_net_init(cc_net *net, uv_loop_t *loop);
/** Closes the context's own handles (connections must be closed first). */
void cc_net_close(cc_net *net);

/**
 * Sets the process-wide memory cap (max-memory, bytes; 0 = none). Past it the biggest
 * consumers among the connections (those holding more than CC_NET_CUT_MIN) are closed
 * with CC_CLOSE_MEMORY, biggest first, until the accounted total is under the cap again.
 */
void cc_net_set_max_memory(cc_net *net, size_t bytes);

/** Connections holding less than this are never cut for max-memory: cutting idle
 * desktops frees nothing worth their users' trouble. */
#define CC_NET_CUT_MIN ((size_t)65536)

/**
 * The memory the process accounts for, in bytes: every connection's output queue as
 * allocated (payloads, queue entries, shared-buffer headers, write vectors), its held
 * input and transport buffers (as of the last sweep, at most 250 ms old), and what
 * other modules declared with cc_net_mem_declare.
 */
size_t cc_net_mem_used(const cc_net *net);

/**
 * True when a max-memory cap is set and cc_net_mem_used is over it. The ixnserver asks
 * this before taking a new submit (answering 12 when it is true); the connections
 * themselves are cut here.
 */
bool cc_net_over_memory(const cc_net *net);

/** Adds (delta > 0) or removes (delta < 0) memory another module holds, such as
 * interactions, to the process total that max-memory compares. */
void cc_net_mem_declare(cc_net *net, long long delta);

/** An output queue limit (Valkey's client-output-buffer-limit): a peer whose queue holds
 * more than hard bytes is cut at once, and one holding more than soft bytes for soft_s
 * seconds on end is cut too. Bytes are accounted as allocated (see cc_net_mem_used). */
typedef struct cc_out_limit {
    size_t hard;     /* 0: keep the default */
    size_t soft;     /* 0: no soft limit */
    unsigned soft_s; /* seconds over soft before the cut */
} cc_out_limit;

/**
 * Parses an output limit as written in a configuration file: "HARD" or
 * "HARD SOFT SECONDS", bytes with an optional k, m or g suffix (powers of 1024). HARD
 * must be in min..max, SOFT in 0..HARD and SECONDS in 0..86400. Returns true and *out,
 * or false for anything else.
 */
bool cc_out_limit_parse(const char *v, size_t min, size_t max, cc_out_limit *out);

/** Limits and settings of one connection. */
typedef struct cc_conn_limits {
    size_t max_line;         /* inbound line maximum (default 65,536) */
    size_t out_hard;         /* accounted output bytes over which the peer is cut (8 MiB) */
    size_t out_soft;         /* accounted output bytes ... */
    unsigned out_soft_s;     /* ... held this long (seconds) cut the peer too; 0: none */
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
/** Changes the output limits (hard, soft and its seconds); a hard of 0 keeps the
 * current one. */
void cc_conn_set_out_limits(cc_conn *c, const cc_out_limit *l);
/** Changes the inbound line (or, through a transport, message) maximum. */
void cc_conn_set_max_line(cc_conn *c, size_t max_line);
/**
 * Sets a deadline seconds from now (0 removes it): unlike the idle timeout it is not
 * moved by input. When it passes, ops->on_deadline runs and the connection closes with
 * CC_CLOSE_TIMEOUT (unless input is still waiting in the socket, which is read first).
 */
void cc_conn_set_deadline(cc_conn *c, unsigned seconds);
/** True while a deadline is set. */
bool cc_conn_has_deadline(const cc_conn *c);
/** The memory the connection accounts for (see cc_net_mem_used), in bytes. */
size_t cc_conn_mem(const cc_conn *c);
/** The output queue as allocated: what the out limits compare (see cc_out_limit). */
size_t cc_conn_out_mem(const cc_conn *c);
/** True when the connection came through a transport (HTTP, WebSocket). */
bool cc_conn_has_transport(const cc_conn *c);
/** The peer's host without its port ("127.0.0.1", "::1"), into buf. */
const char *cc_conn_peer_host(const cc_conn *c, char *buf, size_t len);

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
    /** The connection is about to close for reason (not called when the peer went away,
     * the output queue overflowed or max-memory cut it): the transport may queue a last
     * frame with
     * cc_conn_send_wire. Called at most once. May be NULL. */
    void (*closing)(cc_conn *c, void *ctx, enum cc_close_reason reason);
    /** Frees ctx once the connection is freed. May be NULL. */
    void (*free_ctx)(void *ctx);
    /** The inbound message maximum changed (cc_conn_set_max_line, cc_conn_adopt). May
     * be NULL. */
    void (*set_max)(void *ctx, size_t max);
    /** The bytes the transport holds for this connection, for the accounting. May be
     * NULL. */
    size_t (*mem)(void *ctx);
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

/**
 * Runs the connection over TLS with a new engine on t: right after cc_conn_accept
 * (server side) or cc_conn_connect (client side, host as in tls_conn_new), before any
 * byte moved. Lines and transports above see plaintext; what is queued before the
 * handshake completes is sent after it. A server connection whose first input is not
 * TLS is logged and closed with CC_CLOSE_TLS, after plain_reply (a static string, or
 * NULL) is sent in clear.
 */
void cc_conn_start_tls(cc_conn *c, tls_ctx *t, const char *host, const char *plain_reply);

/** True when the connection runs over TLS. */
bool cc_conn_is_tls(const cc_conn *c);

/** The networking context of a connection. */
cc_net *cc_conn_net(const cc_conn *c);

/** The connection's inbound message maximum (its max_line). */
size_t cc_conn_max_line(const cc_conn *c);

/** The seq the next server-side message will carry. */
uint64_t cc_conn_next_seq(const cc_conn *c);

#endif
