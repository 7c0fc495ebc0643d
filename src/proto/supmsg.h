/* Supervisor actions (an extension of the protocol: docs/protocol.md, "Supervisor
 * actions"): the four requests a Supervisor client sends to an interaction server,
 * RequestForceNotReady, RequestForceLogout, RequestRevokeInteraction and RequestReassign,
 * and EventSupervisorAction, which tells the agent's desktop who did what. Encoders
 * append open messages to a cc_buf and allocate nothing else; decoders borrow their
 * strings from the decoded message. No I/O. */
#ifndef PROTO_SUPMSG_H
#define PROTO_SUPMSG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/msg.h"

/* X(enum suffix, request name, action name): the supervisor actions. */
#define PROTO_SUP_ACTION_MAP(X)                                                                    \
    X(FORCE_NOT_READY, "RequestForceNotReady", "ForceNotReady")                                    \
    X(FORCE_LOGOUT, "RequestForceLogout", "ForceLogout")                                           \
    X(REVOKE, "RequestRevokeInteraction", "RevokeInteraction")                                     \
    X(REASSIGN, "RequestReassign", "Reassign")

/** A supervisor action. */
enum proto_sup_action {
#define PROTO_SUP_ACTION_ENUM(sym, req, name) PROTO_SUP_##sym,
    PROTO_SUP_ACTION_MAP(PROTO_SUP_ACTION_ENUM)
#undef PROTO_SUP_ACTION_ENUM
        PROTO_SUP_ACTION_COUNT
};

/** The action a request name asks for, or -1 when it is none of the four. */
int proto_sup_request_action(const char *name);

/** The action's name as EventSupervisorAction and the audit log write it; NULL outside
 * the enum. */
const char *proto_sup_action_name(int action);

/** The action of an action name, or -1. */
int proto_sup_action_of_name(const char *name);

/**
 * A reason as the actions carry it: for ForceNotReady the media's not-ready reason
 * {code, description} (both optional inside, as in RequestNotReadyForMedia); for the
 * other actions free text.
 */
typedef struct proto_sup_reason {
    bool present;
    int64_t code;     /* ForceNotReady: 0..2147483647 (0 when not given); else 0 */
    const char *text; /* the description, or the free text; NULL when none */
} proto_sup_reason;

/** One of the four requests. Fields an action does not take are NULL. */
typedef struct proto_sup_request {
    enum proto_sup_action action;
    const char *tenant;         /* optional: the agent's (or the interaction's) tenant */
    const char *agent_id;       /* ForceNotReady, ForceLogout, Reassign: required */
    const char *media;          /* ForceNotReady: required, a media name */
    const char *interaction_id; /* RevokeInteraction, Reassign: required */
    proto_sup_reason reason;    /* optional */
} proto_sup_request;

/** Appends the open request (without referenceId). */
void proto_sup_enc_request(cc_buf *b, const proto_sup_request *r);

/**
 * Decodes one of the four requests, the action taken from the message name: tenant
 * (identifier, optional), agentId (identifier), media (a media name), interactionId
 * (identifier) as the action needs them, and reason (optional; an object for
 * ForceNotReady, a string of at most PROTO_TEXT_MAX bytes otherwise). Returns 0,
 * CC_E_NOT_FOUND when the message is none of them, or CC_E_INVALID_ATTRIBUTE with
 * msg->desc naming the field.
 */
int proto_sup_decode_request(proto_msg *msg, proto_sup_request *out);

/** RequestAgentInteractions: a supervisor asks what an agent holds (to pick one to take
 * back or reassign). agentId required, tenant optional. */
typedef struct proto_sup_query {
    const char *tenant; /* NULL when absent */
    const char *agent_id;
} proto_sup_query;

/** Appends an open RequestAgentInteractions (without referenceId). */
void proto_sup_enc_query(cc_buf *b, const proto_sup_query *q);

/** Decodes a RequestAgentInteractions: 0, CC_E_NOT_FOUND when the message is another,
 * or CC_E_INVALID_ATTRIBUTE with msg->desc naming the field. */
int proto_sup_decode_query(proto_msg *msg, proto_sup_query *out);

/** Most interactions one answer lists (an agent's capacity is far below it). */
#define PROTO_SUP_HELD_MAX 256

/** One interaction an agent holds, as the answer lists it. */
typedef struct proto_sup_held {
    const char *interaction_id;
    const char *media;
    const char *queue;
    const char *state; /* "Invited", "Handling" or "AfterWork" */
} proto_sup_held;

/** Appends ,"tenant":T,"agentId":A,"interactions":[ to an open EventAck. */
void proto_sup_enc_held_begin(cc_buf *ack, const char *tenant, const char *agent_id);
/** Appends one interaction (first: no comma before it). */
void proto_sup_enc_held_row(cc_buf *ack, bool first, const proto_sup_held *h);
/** Closes the list. */
void proto_sup_enc_held_end(cc_buf *ack);

/**
 * Decodes the answer to RequestAgentInteractions: tenant, agentId, and interactions (at
 * most cap, and at most PROTO_SUP_HELD_MAX, each {interactionId, media, queue, state}
 * with a state of the three above) into rows, their count into *n. Returns 0 or
 * CC_E_INVALID_ATTRIBUTE with msg->desc.
 */
int proto_sup_decode_held(proto_msg *msg, const char **tenant, const char **agent_id,
                          proto_sup_held *rows, size_t cap, size_t *n);

/** EventSupervisorAction: sent to the agent's desktop when a supervisor acts on it. */
typedef struct proto_sup_event {
    enum proto_sup_action action;
    const char *supervisor;     /* the supervisor's clientName */
    const char *tenant;         /* the agent's tenant */
    const char *agent_id;       /* the agent acted on */
    const char *media;          /* ForceNotReady; NULL otherwise */
    const char *interaction_id; /* RevokeInteraction, Reassign; NULL otherwise */
    proto_sup_reason reason;
} proto_sup_event;

/** Appends an open EventSupervisorAction. */
void proto_sup_enc_event(cc_buf *b, const proto_sup_event *e);

/**
 * Decodes an EventSupervisorAction: action (one of the four names), supervisor, tenant
 * and agentId (identifiers), media and interactionId as the action has them, reason
 * (optional, shaped as in the request). Returns 0, CC_E_NOT_FOUND when the message is
 * another, or CC_E_INVALID_ATTRIBUTE with msg->desc.
 */
int proto_sup_decode_event(proto_msg *msg, proto_sup_event *out);

#endif
