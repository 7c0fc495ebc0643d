/* Server sessions: the part of the protocol every daemon shares. A session is one
 * accepted connection speaking docs/protocol.md: registration with a token per client
 * type, liveness (RequestPing, idle timeout), the order of checks, and exactly one
 * EventAck or EventError per request, in request order. Daemons plug in a table of
 * handlers for the rest. */
#ifndef NET_SESSION_H
#define NET_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/conf.h"
#include "net/conn.h"
#include "net/tls.h"
#include "proto/msg.h"

/** Client types, one bit each, so a handler can name the types it allows. */
enum cc_client_type {
    CC_CLIENT_NONE = 0,
    CC_CLIENT_AGENT = 1 << 0,      /* AgentApplication */
    CC_CLIENT_MEDIA = 1 << 1,      /* MediaServer */
    CC_CLIENT_REPORTING = 1 << 2,  /* ReportingEngine */
    CC_CLIENT_STAT = 1 << 3,       /* StatClient */
    CC_CLIENT_SUPERVISOR = 1 << 4, /* Supervisor (an extension: docs/protocol.md) */
};

/** Client classes, each with its own output limits: the client types over TCP, and
 * every session over WebSocket (the web desktop and the wallboard) as "web". */
enum cc_client_class {
    CC_CLASS_DESKTOP,   /* AgentApplication over TCP */
    CC_CLASS_MEDIA,     /* MediaServer */
    CC_CLASS_REPORTING, /* ReportingEngine */
    CC_CLASS_STAT,      /* StatClient over TCP */
    CC_CLASS_WEB,       /* any client type over WebSocket */
    CC_CLASS_COUNT,
};

/** The name of a client class, as in the configuration keys out-limit-NAME. */
const char *cc_client_class_name(enum cc_client_class k);

/** The longest line (or WebSocket message) taken before registration: a
 * RequestRegisterClient with the longest token and name fits with room to spare. */
#define CC_SESSION_REGISTER_LINE_MAX 4096u

/** The default of max-secret-checks: the most [clients] secrets being checked at once
 * per server. One more registration gets EventError 12 and is closed (its client retries
 * with backoff), so that strangers sending registrations cannot fill the thread pool the
 * agents' password checks share. */
#define CC_SESSION_SECRET_CHECKS_MAX 32

/** The wire name of a client type. */
const char *cc_client_type_name(enum cc_client_type t);

typedef struct cc_session cc_session;
typedef struct cc_server cc_server;
struct cc_creds;
struct cc_tenant_set;

/** Returned by a handler that answers later with cc_session_finish. */
#define CC_SESSION_DEFERRED 1
/** Returned by a handler that already sent its answer with cc_session_ack_now. */
#define CC_SESSION_ANSWERED 2

/**
 * A handler for one message name. It checks its fields (code 3), then the client type
 * with cc_session_allow (code 5), then its own state, in the order of the protocol.
 * Return 0 to have the session send the EventAck built in cc_session_ack_buf, a
 * negative CC_E_ code to have it send EventError with msg->desc (or the code's name),
 * or CC_SESSION_DEFERRED after pausing (see cc_session_defer).
 * For events (names not starting with "Request") the return value is ignored except
 * that CC_E_NOT_AUTHORIZED with a referenceId is answered.
 */
typedef int (*cc_handler_fn)(cc_session *s, proto_msg *msg);

/** One entry of a daemon's handler table. */
typedef struct cc_handler {
    const char *name;
    cc_handler_fn fn;
} cc_handler;

/** What a daemon configures once. */
struct cc_server {
    cc_net *net;
    const char *server_name;
    /* token per client type; NULL = type not accepted here, "" = no token required */
    const char *token_agent;
    const char *token_media;
    const char *token_reporting;
    const char *token_stat;
    /* [clients] (net/creds.h): a clientName listed there registers with its secret, as
     * its type, and may touch its tenants only; NULL = tokens only */
    const struct cc_creds *creds;
    unsigned idle_timeout_s;
    size_t max_line;
    size_t out_limit_default;   /* bytes queued before a peer is cut */
    size_t out_limit_reporting; /* larger: reporting engines receive whole snapshots */
    /* Output limits per client class, applied at registration; an entry with hard 0
     * keeps out_limit_default (out_limit_reporting for reporting engines). */
    cc_out_limit out_limits[CC_CLASS_COUNT];
    /* Seconds a connection has to register (0: no deadline); until then its lines (or
     * WebSocket messages) are at most CC_SESSION_REGISTER_LINE_MAX bytes. */
    unsigned register_timeout_s;
    /* Sessions open at once over TCP and WebSocket, registered or not (0: no limit).
     * One more is answered EventError 12 and closed (over WebSocket: HTTP 503). A
     * daemon that counts connections itself leaves it 0. */
    unsigned max_connections;
    /* TLS on the TCP port with this context, or NULL for plaintext. */
    tls_ctx *tls;
    const cc_handler *handlers;
    size_t handler_count;
    /** A client registered (may be NULL). */
    void (*on_register)(cc_session *s);
    /** The session is ending; the daemon drops what points to it (may be NULL). */
    void (*on_close)(cc_session *s);
    void *user;
    /* counters */
    uint64_t sessions_open;
    uint64_t errors_sent;
    uint64_t events_dropped;
    uint64_t conns;             /* sessions open (counted against max_connections) */
    uint64_t conns_refused;     /* refused for max_connections */
    unsigned secret_checks;     /* [clients] secrets being checked on the thread pool */
    unsigned max_secret_checks; /* max-secret-checks (0: CC_SESSION_SECRET_CHECKS_MAX) */
};

/** True when the server may take one more session under max_connections; counts a
 * refusal otherwise. */
bool cc_server_has_room(cc_server *srv);

/** The [server] keys of connection limits that both daemons read (docs/operations.md,
 * "Connections and memory"). */
typedef struct cc_server_conf {
    cc_out_limit out_class[CC_CLASS_COUNT]; /* out-limit-CLASS (hard 0: not given) */
    unsigned register_timeout_s;            /* register-timeout (10) */
    size_t max_memory;                      /* max-memory (1 GiB; 0: none) */
    unsigned http_header_timeout_s;         /* http-header-timeout (10) */
    unsigned http_max_connections;          /* http-max-connections (4096) */
    unsigned http_max_per_address;          /* http-max-per-address (256) */
    /* metrics-token ("": none, /metrics answers loopback peers only) */
    char metrics_token[PROTO_TEXT_MAX + 1];
    unsigned max_secret_checks; /* max-secret-checks (32) */
} cc_server_conf;

/** The defaults above. */
void cc_server_conf_defaults(cc_server_conf *k);

/**
 * Handles one [server] key of cc_server_conf, with errors reported through c. classes
 * is a mask (1 << CC_CLASS_x) of the out-limit-CLASS keys this daemon serves. Returns
 * true when key was one of them, false to let the daemon handle it.
 */
bool cc_server_conf_key(cc_conf *c, const char *key, const char *v, cc_server_conf *k,
                        unsigned classes);

/**
 * Hands the limits to a server: each class's out-limit-CLASS, or base where the class
 * key was not given, and the registration deadline.
 */
void cc_server_conf_apply(const cc_server_conf *k, const cc_out_limit *base, cc_server *srv);

/** Accepts a pending connection on a listening handle whose data is the cc_server. */
void cc_server_on_connection(uv_stream_t *listener, int status);

/** Starts a session on a connection that is already open (a WebSocket upgraded from an
 * HTTP request): from now on it speaks the protocol like an accepted TCP client. */
void cc_server_adopt(cc_server *srv, cc_conn *c);

/** The server a session belongs to. */
cc_server *cc_session_server(const cc_session *s);
/** The session's connection (valid until on_close returns). */
cc_conn *cc_session_conn(const cc_session *s);
/** The registered client type (CC_CLIENT_NONE before registration). */
enum cc_client_type cc_session_type(const cc_session *s);
/** The clientName given at registration. */
const char *cc_session_name(const cc_session *s);
/** The daemon's per-session pointer. */
void *cc_session_user(const cc_session *s);
/** Sets the daemon's per-session pointer. */
void cc_session_set_user(cc_session *s, void *user);
/** A number unique per process (the proxyClientId of the registration ack). */
uint64_t cc_session_id(const cc_session *s);

/** The tenants the session's client may touch: its [clients] entry's, or NULL (all
 * tenants) for a client that registered with a [tokens] token. */
const struct cc_tenant_set *cc_session_tenants(const cc_session *s);

/** True when the session's client may touch tenant. */
bool cc_session_tenant_ok(const cc_session *s, const char *tenant);

/** Checks that the session's client may touch tenant: 0, or CC_E_NOT_AUTHORIZED with
 * msg->desc naming the tenant. */
int cc_session_tenant_check(cc_session *s, proto_msg *msg, const char *tenant);

/** Checks that the session's type is in mask: 0, or CC_E_NOT_AUTHORIZED with desc. */
int cc_session_allow(cc_session *s, proto_msg *msg, unsigned mask);

/** The EventAck being built for the current request: append fields with jw_kv_*. */
cc_buf *cc_session_ack_buf(cc_session *s);

/** The raw inbound line of the message being handled (without its newline; a trailing
 * '\r' may remain). Valid only during the handler call. */
const char *cc_session_line(const cc_session *s, size_t *len);

/** Sends the EventAck built in cc_session_ack_buf at once, so that the handler can send
 * the events that follow it (a snapshot after its ack); the handler then returns
 * CC_SESSION_ANSWERED. */
void cc_session_ack_now(cc_session *s);

/** Pauses the session's input so that the current request can be answered later; the
 * handler then returns CC_SESSION_DEFERRED. */
void cc_session_defer(cc_session *s);
/** Answers the deferred request (err 0: the ack buffer; else EventError with desc) and
 * resumes input. */
void cc_session_finish(cc_session *s, int err, const char *desc);

/** Sends an open message (shared body) with "seq"; extra fields may be NULL. */
void cc_session_send(cc_session *s, cc_sbuf *body, const char *extra);
/** Sends an EventError; ref 0 = none. */
void cc_session_send_error(cc_session *s, int64_t ref, int err, const char *desc);
/** Closes the session after what is queued. */
void cc_session_close(cc_session *s);

#endif
