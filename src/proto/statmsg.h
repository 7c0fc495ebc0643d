/* The messages of the statserver's own port (protocol section 8, clientType StatClient)
 * that carry fields of their own: RequestSubscribeAgentStatus with its tenant filter,
 * RequestServerList and the server list in its EventAck. Statuses themselves are
 * proto/msg's. Encoders append to a cc_buf and allocate nothing else; decoders borrow
 * from the decoded message. No I/O. */
#ifndef PROTO_STATMSG_H
#define PROTO_STATMSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/msg.h"

/** RequestSubscribeAgentStatus: every status of the tenants listed, or of all. */
typedef struct proto_stat_subscribe {
    bool all;                   /* no "tenants": every tenant */
    const char *const *tenants; /* encoder: the tenants when not all */
    size_t ntenants;            /* their number (decoder: the number listed) */
    json_t *list;               /* decoder: the checked array, owned by the message */
} proto_stat_subscribe;

/** Appends an open RequestSubscribeAgentStatus (without referenceId). */
void proto_stat_enc_subscribe(cc_buf *b, const proto_stat_subscribe *s);

/**
 * Decodes a RequestSubscribeAgentStatus: "tenants", when present, must be an array of
 * identifiers. Returns 0 or CC_E_INVALID_ATTRIBUTE with msg->desc. tenants is set to
 * NULL; proto_stat_tenant gives the names.
 */
int proto_stat_decode_subscribe(proto_msg *msg, proto_stat_subscribe *out);

/** Tenant i (< ntenants) of a decoded subscription. */
const char *proto_stat_tenant(const proto_stat_subscribe *s, size_t i);

/** Appends an open RequestServerList (it has no fields). */
void proto_stat_enc_server_list(cc_buf *b);

/** One interaction server in the answer to RequestServerList. */
typedef struct proto_stat_server {
    const char *name;
    const char *address; /* HOST:PORT as configured */
    bool connected;
    int64_t agents; /* agents known on that server, >= 0 */
} proto_stat_server;

/** Appends the start of the "servers" array to an open EventAck. */
void proto_stat_enc_servers_begin(cc_buf *ack);
/** Appends one row to the "servers" array. */
void proto_stat_enc_server_row(cc_buf *ack, const proto_stat_server *row);
/** Appends the end of the "servers" array. */
void proto_stat_enc_servers_end(cc_buf *ack);

/** Checks the "servers" of an EventAck: 0 and *count rows, or CC_E_INVALID_ATTRIBUTE
 * with msg->desc when it is missing or not an array. */
int proto_stat_decode_servers(proto_msg *msg, size_t *count);

/**
 * Decodes row i (< the count) of a checked "servers": name (text of at most PROTO_ID_MAX
 * bytes), address (at most PROTO_TEXT_MAX), connected (a flag) and agents (an integer
 * >= 0), all required.
 * Returns 0 or CC_E_INVALID_ATTRIBUTE with msg->desc; a bad row does not spoil the others.
 */
int proto_stat_decode_server_row(proto_msg *msg, size_t i, proto_stat_server *out);

#endif
