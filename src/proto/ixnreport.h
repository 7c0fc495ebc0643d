/* Interaction reporting (the statistics contract, section 1; docs/statistics.md
 * "Interaction reporting"): the requests a reporting engine sends to start and stop it
 * (RequestStartInteractionReporting, RequestStopInteractionReporting), the step events the
 * interaction server sends (EventInteractionReported) and the end of their snapshot
 * (EventInteractionSnapshotDone). Encoders append open messages to a cc_buf and allocate
 * nothing else; decoders borrow their strings from the decoded message. No I/O. */
#ifndef PROTO_IXNREPORT_H
#define PROTO_IXNREPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/ixnstate.h"
#include "proto/msg.h"

/** RequestStartInteractionReporting: the steps of the tenants listed, or of all. */
typedef struct proto_ixr_start {
    bool all;                   /* no "tenants": every tenant */
    const char *const *tenants; /* encoder: the tenants when not all */
    size_t ntenants;            /* their number (decoder: the number listed) */
    json_t *list;               /* decoder: the checked array, owned by the message */
} proto_ixr_start;

/** Appends an open RequestStartInteractionReporting (without referenceId). */
void proto_ixr_enc_start(cc_buf *b, const proto_ixr_start *s);

/** Decodes a RequestStartInteractionReporting: "tenants", when present, must be an array
 * of identifiers. Returns 0 or CC_E_INVALID_ATTRIBUTE with msg->desc; tenants is set to
 * NULL, proto_ixr_tenant gives the names. */
int proto_ixr_decode_start(proto_msg *msg, proto_ixr_start *out);

/** Tenant i (< ntenants) of a decoded start. */
const char *proto_ixr_tenant(const proto_ixr_start *s, size_t i);

/** Appends an open RequestStopInteractionReporting (it has no fields). */
void proto_ixr_enc_stop(cc_buf *b);

/* X(enum suffix, wire name, the state after the step; -1: any but Ended). */
#define PROTO_IXR_CAUSE_MAP(X)                                                                     \
    X(SNAPSHOT, "Snapshot", -1)                                                                    \
    X(QUEUED, "Queued", CC_IXN_QUEUED)                                                             \
    X(INVITED, "Invited", CC_IXN_INVITED)                                                          \
    X(ACCEPTED, "Accepted", CC_IXN_HANDLING)                                                       \
    X(REJECTED, "Rejected", CC_IXN_QUEUED)                                                         \
    X(REVOKED, "Revoked", CC_IXN_QUEUED)                                                           \
    X(AFTER_WORK, "AfterWork", CC_IXN_AFTER_WORK)                                                  \
    X(ENDED, "Ended", CC_IXN_ENDED)

/** The step an EventInteractionReported reports. */
enum proto_ixr_cause {
#define PROTO_IXR_CAUSE_ENUM(sym, wire, st) PROTO_IXR_##sym,
    PROTO_IXR_CAUSE_MAP(PROTO_IXR_CAUSE_ENUM)
#undef PROTO_IXR_CAUSE_ENUM
};

/** Why: "reason" of a Revoked step, "endReason" of an Ended one; NONE for the others. */
enum proto_ixr_reason {
    PROTO_IXR_REASON_NONE,
    PROTO_IXR_REASON_TIMEOUT,    /* Revoked: the invitation timed out */
    PROTO_IXR_REASON_LOGGED_OUT, /* Revoked: the agent holding it logged out */
    PROTO_IXR_REASON_DONE,       /* Ended: by the agent (after-work included) */
    PROTO_IXR_REASON_STOPPED,    /* Ended: by the media server */
};

/** The wire name of a cause; NULL outside the enum. */
const char *proto_ixr_cause_name(int cause);

/** The wire name of a reason; NULL for NONE and outside the enum. */
const char *proto_ixr_reason_name(int reason);

/** EventInteractionReported: one step of one interaction, or its state in a snapshot.
 * Times are Unix milliseconds. */
typedef struct proto_ixr_event {
    enum proto_ixr_cause cause;
    const char *server_name; /* the sending server; NULL leaves it out (decoder: absent) */
    const char *interaction_id;
    const char *tenant;
    const char *media; /* a media name */
    const char *queue; /* the queue it is in now, or (Ended) the one it was in */
    /* Queued by a transfer (RequestPlaceInQueue): the queue it left; NULL otherwise. */
    const char *from_queue;
    const char *agent_id;    /* the agent involved in the step, or holding it; NULL: none */
    enum cc_ixn_state state; /* after the step */
    int64_t priority;        /* 0..1000, the base priority (aging not included) */
    int64_t submitted_at;    /* when it was submitted */
    int64_t queued_at;       /* when it entered its current queue: starts the visit */
    int64_t at;              /* when this step happened (Snapshot: its last step) */
    enum proto_ixr_reason reason;
} proto_ixr_event;

/** Appends an open EventInteractionReported. */
void proto_ixr_enc_event(cc_buf *b, const proto_ixr_event *e);

/**
 * Decodes an EventInteractionReported: cause, interactionId, tenant, media (a valid media
 * name), queue, state, priority (0..1000), submittedAt, queuedAt and at (integers >= 0)
 * are required; serverName, agentId and fromQueue optional; reason is required on Revoked
 * (Timeout, LoggedOut) and endReason on Ended (Done, Stopped), and read on no other cause.
 * state must be the one the cause leads to (a Snapshot's any but Ended). Returns 0,
 * CC_E_NOT_FOUND when the message is another, or CC_E_INVALID_ATTRIBUTE with msg->desc.
 */
int proto_ixr_decode_event(proto_msg *msg, proto_ixr_event *out);

/** EventInteractionSnapshotDone: the snapshot held count events. */
typedef struct proto_ixr_snapshot_done {
    const char *server_name; /* NULL leaves it out (decoder: absent) */
    int64_t count;           /* >= 0 */
} proto_ixr_snapshot_done;

/** Appends an open EventInteractionSnapshotDone. */
void proto_ixr_enc_snapshot_done(cc_buf *b, const proto_ixr_snapshot_done *d);

/** Decodes an EventInteractionSnapshotDone: count (an integer >= 0) required, serverName
 * optional. Returns 0, CC_E_NOT_FOUND when the message is another, or
 * CC_E_INVALID_ATTRIBUTE with msg->desc. */
int proto_ixr_decode_snapshot_done(proto_msg *msg, proto_ixr_snapshot_done *out);

#endif
