/* Registration and liveness (protocol section 3): RequestRegisterClient, the fields of
 * the EventAck that answers it, and RequestPing. Encoders append to a cc_buf and
 * allocate nothing else; decoders borrow their strings from the decoded message. No I/O. */
#ifndef PROTO_REGMSG_H
#define PROTO_REGMSG_H

#include <stdint.h>

#include "common/buf.h"
#include "proto/msg.h"

/** RequestRegisterClient. */
typedef struct proto_reg_register {
    const char *client_name; /* optional (NULL leaves it out; decoder: absent) */
    const char *client_type; /* "AgentApplication", "MediaServer", "ReportingEngine", … */
    const char *token;       /* optional; absent is the empty token */
} proto_reg_register;

/** Appends an open RequestRegisterClient; ref > 0 is written as its referenceId (the
 * registration is sent before the client's request machinery runs). */
void proto_reg_enc_register(cc_buf *b, int64_t ref, const proto_reg_register *r);

/**
 * Decodes a RequestRegisterClient: clientType (text) required, clientName (identifier)
 * and token (text) optional. Whether the type is known and the token right is the
 * receiver's business. Returns 0 or CC_E_INVALID_ATTRIBUTE with msg->desc.
 */
int proto_reg_decode_register(proto_msg *msg, proto_reg_register *out);

/** The fields of the EventAck that answers a registration. */
typedef struct proto_reg_ack {
    int64_t proxy_client_id;  /* the session's number on the server */
    const char *server_name;  /* NULL when absent */
    int64_t protocol_version; /* 0 when absent */
    int64_t idle_timeout_s;   /* seconds of silence before the server closes; 0: absent */
} proto_reg_ack;

/** Appends proxyClientId, serverName, protocolVersion and idleTimeout to an open EventAck. */
void proto_reg_enc_ack(cc_buf *ack, const proto_reg_ack *a);

/**
 * Decodes those fields of an EventAck, all optional: integers >= 0 and a serverName of at
 * most PROTO_ID_MAX bytes. Returns 0 or CC_E_INVALID_ATTRIBUTE with msg->desc.
 */
int proto_reg_decode_ack(proto_msg *msg, proto_reg_ack *out);

/** Appends an open RequestPing with referenceId ref (it has no other field). */
void proto_reg_enc_ping(cc_buf *b, int64_t ref);
/** Encodes an open RequestPing without referenceId, for cc_client_request (which adds
 * one): the statserver's resend paces itself by its answers. */
void proto_reg_enc_ping_open(cc_buf *b);

#endif
