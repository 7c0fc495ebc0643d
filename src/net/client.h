/* Client side of the protocol: one outbound connection that registers, numbers its
 * requests, pings at a third of the server's idle timeout, checks the server's seq for
 * gaps, and (optionally) reconnects with exponential backoff. Used by the statserver's
 * links to interaction servers, the terminal desktop, the simulators and benchmarks. */
#ifndef NET_CLIENT_H
#define NET_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "net/conn.h"
#include "net/tls.h"
#include "proto/msg.h"

typedef struct cc_client cc_client;

/** What the owner is told. Any callback may be NULL. */
typedef struct cc_client_ops {
    /** Registration acknowledged; ack is the EventAck (serverName, idleTimeout, ...). */
    void (*on_registered)(cc_client *c, proto_msg *ack);
    /** Every later message from the server (acks, errors, events), parsed, with its
     * raw line. Ping acks are consumed by the client and not passed on. */
    void (*on_message)(cc_client *c, proto_msg *msg, const char *line, size_t len);
    /** The link is down (connect failed, closed, registration refused, seq gap). With
     * reconnect on, a new attempt is already scheduled. */
    void (*on_down)(cc_client *c, const char *why);
} cc_client_ops;

/** Settings of a client. Strings are copied. */
typedef struct cc_client_config {
    const char *address;     /* HOST:PORT, or HOST:PORT,HOST:PORT...: an owner and its
                              * standbys, tried in turn after a lost link */
    const char *client_type; /* "ReportingEngine", "AgentApplication", ... */
    const char *client_name;
    const char *token;
    bool reconnect;          /* retry after backoff when the link is down */
    unsigned backoff_min_ms; /* default 100 */
    unsigned backoff_max_ms; /* default 5000 */
    size_t max_line;         /* default 65,536 */
    size_t out_limit;        /* default 8 MiB */
    /* TLS with this client context (borrowed: it must outlive the client), or NULL for
     * plaintext. The server's certificate must carry the address's host. */
    tls_ctx *tls;
} cc_client_config;

/** A new client (not yet connecting). */
cc_client *cc_client_new(cc_net *net, const cc_client_config *cfg, const cc_client_ops *ops,
                         void *user);
/** Starts connecting (now). */
void cc_client_start(cc_client *c);
/** Closes the link and frees the client once the socket is closed; no callbacks after. */
void cc_client_free(cc_client *c);
/** Drops the link now (as if lost); with reconnect on, it comes back after backoff. */
void cc_client_drop(cc_client *c, const char *why);

/** True between the registration ack and the link going down. */
bool cc_client_is_up(const cc_client *c);
/** The owner's pointer. */
void *cc_client_user(const cc_client *c);
/** The address connected to, or tried next. */
const char *cc_client_address(const cc_client *c);
/** The server's name from the registration ack ("" before). */
const char *cc_client_server_name(const cc_client *c);

/**
 * Sends an open request (e.g. from jw_open_message plus fields): appends a fresh
 * referenceId and returns it, or 0 when the link is not up (nothing sent).
 */
int64_t cc_client_request(cc_client *c, const cc_buf *open_msg);
/** Sends an open message with no referenceId (a status, say); body is shared. Returns
 * false when the link is not up. */
bool cc_client_send(cc_client *c, cc_sbuf *body, const char *extra);
/** Bytes queued on the link and not yet written. */
size_t cc_client_queued(const cc_client *c);

#endif
