/* The interaction messages of protocol section 7: what a desktop hears about the
 * interactions offered to it (EventInvite, EventRevoked, EventPartyRemoved,
 * EventInteractionEnded), the requests on interactions that desktops and media servers
 * send (RequestAccept … RequestPlaceInQueue, RequestSubmit, RequestQueueStatus,
 * RequestExplainRouting), and the fields the interaction server adds to their EventAck
 * (interactionId and duplicate, afterWorkSec, queues, the explanation). Encoders append
 * to a cc_buf and allocate nothing else; decoders borrow their strings from the decoded
 * message. No I/O. */
#ifndef PROTO_IXNMSG_H
#define PROTO_IXNMSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/ixnstate.h"
#include "proto/msg.h"

/** EventInvite: an interaction offered to the agent (it counts as Invited at once). */
typedef struct proto_ixn_invite {
    const char *interaction_id;
    const char *tenant; /* encoder: NULL leaves it out; decoder: NULL when absent */
    const char *media;  /* a media name */
    const char *queue;
    /* Encoder: the user data as the compact text of a JSON object (the interaction
     * server keeps it that way), written as it is; NULL leaves userData out. */
    const char *user_data;
    /* Decoder: the userData object, owned by the message; NULL when absent or null. */
    json_t *user_data_obj;
    int64_t timeout_sec; /* 0..INT32_MAX; -1: left out (decoder: absent) */
} proto_ixn_invite;

/** Appends an open EventInvite with the fields of inv (user_data_obj is not used). */
void proto_ixn_enc_invite(cc_buf *b, const proto_ixn_invite *inv);

/**
 * Decodes an EventInvite: interactionId, media (a valid media name) and queue are
 * required, tenant, userData (an object) and timeoutSec optional. user_data is set to
 * NULL. Returns 0 or CC_E_INVALID_ATTRIBUTE with msg->desc naming the field.
 */
int proto_ixn_decode_invite(proto_msg *msg, proto_ixn_invite *out);

/**
 * Appends the compact text of a decoded invite's user data to out (nothing when it has
 * none): the text an encoder takes back, so a forwarded invite carries the same object.
 */
void proto_ixn_user_data_text(const proto_ixn_invite *inv, cc_buf *out);

/** One field of a user data object that a program builds (media simulators, benchmarks). */
typedef struct proto_ixn_ud_field {
    const char *key;
    const char *str; /* the string value; NULL: the value is num */
    int64_t num;
} proto_ixn_ud_field;

/** Appends a JSON object of n fields as compact text: a user_data for the encoders. */
void proto_ixn_enc_user_data(cc_buf *b, const proto_ixn_ud_field *f, size_t n);

/** The integer field key of a user data object: 0 and *out, or CC_E_NOT_FOUND when obj is
 * NULL or has no integer of that name. */
int proto_ixn_user_data_int(const json_t *obj, const char *key, int64_t *out);

/* X(enum suffix, message name): the events that take an interaction from the agent. */
#define PROTO_IXN_EVENT_MAP(X)                                                                     \
    X(REVOKED, "EventRevoked")                                                                     \
    X(PARTY_REMOVED, "EventPartyRemoved")                                                          \
    X(ENDED, "EventInteractionEnded")

/** Which event took the interaction away. */
enum proto_ixn_event_kind {
#define PROTO_IXN_EVENT_ENUM(sym, name) PROTO_IXN_##sym,
    PROTO_IXN_EVENT_MAP(PROTO_IXN_EVENT_ENUM)
#undef PROTO_IXN_EVENT_ENUM
};

/** EventRevoked, EventPartyRemoved or EventInteractionEnded. */
typedef struct proto_ixn_event {
    enum proto_ixn_event_kind kind;
    const char *interaction_id;
    const char *reason; /* "Timeout", "Stopped", …; NULL leaves it out (decoder: absent) */
} proto_ixn_event;

/** The kind of an event name, or -1 when the name is not one of these events. */
int proto_ixn_event_kind(const char *name);

/** Appends the open event ev->kind names. */
void proto_ixn_enc_event(cc_buf *b, const proto_ixn_event *ev);

/**
 * Decodes one of these events, the kind taken from the message name: 0, CC_E_NOT_FOUND
 * when the message is none of them, or CC_E_INVALID_ATTRIBUTE with msg->desc.
 */
int proto_ixn_decode_event(proto_msg *msg, proto_ixn_event *out);

/* X(enum suffix, message name): the requests on one interaction. */
#define PROTO_IXN_REQ_MAP(X)                                                                       \
    X(ACCEPT, "RequestAccept")                                                                     \
    X(REJECT, "RequestReject")                                                                     \
    X(STOP, "RequestStopProcessing")                                                               \
    X(COMPLETE, "RequestCompleteAfterWork")                                                        \
    X(PLACE, "RequestPlaceInQueue")

/** Which request on an interaction. */
enum proto_ixn_req_kind {
#define PROTO_IXN_REQ_ENUM(sym, name) PROTO_IXN_REQ_##sym,
    PROTO_IXN_REQ_MAP(PROTO_IXN_REQ_ENUM)
#undef PROTO_IXN_REQ_ENUM
};

/** A request on one interaction (from the agent; RequestStopProcessing also from a media
 * server, with a reason). */
typedef struct proto_ixn_req {
    enum proto_ixn_req_kind kind;
    const char *interaction_id;
    const char *reason; /* reject and stop: optional (NULL); ignored for the others */
    const char *queue;  /* place: required; ignored for the others */
} proto_ixn_req;

/** The kind of a request name, or -1 when the name is not one of these requests. */
int proto_ixn_req_kind(const char *name);

/** Appends the open request (without referenceId: the client adds it). */
void proto_ixn_enc_req(cc_buf *b, const proto_ixn_req *r);

/**
 * Decodes a request of the given kind (the receiver knows it from the message name):
 * interactionId always, reason (text) for reject and stop, queue for place. Returns 0 or
 * CC_E_INVALID_ATTRIBUTE with msg->desc.
 */
int proto_ixn_decode_req(proto_msg *msg, enum proto_ixn_req_kind kind, proto_ixn_req *out);

/** RequestSubmit (media server): a new interaction into a queue. */
typedef struct proto_ixn_submit {
    const char *tenant;
    const char *media; /* as sent: the receiver looks the name up */
    const char *queue;
    const char *user_data;   /* encoder: compact JSON object text, NULL leaves it out */
    json_t *user_data_obj;   /* decoder: the object owned by the message, or NULL */
    const char *external_id; /* optional (NULL) */
    bool has_priority;       /* false: left out (the queue's default applies) */
    int64_t priority;        /* PROTO_PRIORITY_MIN..PROTO_PRIORITY_MAX when has_priority */
} proto_ixn_submit;

/** The range of an interaction's priority (routing.md section 3). */
#define PROTO_PRIORITY_MIN 0
#define PROTO_PRIORITY_MAX 1000

/** Appends an open RequestSubmit (without referenceId); priority only when has_priority. */
void proto_ixn_enc_submit(cc_buf *b, const proto_ixn_submit *s);

/** Decodes a RequestSubmit: 0 or CC_E_INVALID_ATTRIBUTE with msg->desc (naming priority
 * when it is not an integer in 0..1000). user_data is set to NULL
 * (proto_ixn_submit_user_data_text gives the text). */
int proto_ixn_decode_submit(proto_msg *msg, proto_ixn_submit *out);

/** Appends the compact text of a decoded submit's user data (nothing when absent). */
void proto_ixn_submit_user_data_text(const proto_ixn_submit *s, cc_buf *out);

/** The answer to RequestSubmit: the fields of its EventAck. */
typedef struct proto_ixn_submitted {
    const char *interaction_id;
    bool duplicate; /* an earlier submit with the same externalId made it */
} proto_ixn_submitted;

/** Appends interactionId (and duplicate when set) to an open EventAck. */
void proto_ixn_enc_submitted(cc_buf *ack, const proto_ixn_submitted *s);

/** Decodes those fields of an EventAck: 0 or CC_E_INVALID_ATTRIBUTE with msg->desc. */
int proto_ixn_decode_submitted(proto_msg *msg, proto_ixn_submitted *out);

/** Appends afterWorkSec to the open EventAck of an agent's RequestStopProcessing. */
void proto_ixn_enc_stopped(cc_buf *ack, int64_t after_work_sec);

/**
 * Decodes afterWorkSec from the EventAck of RequestStopProcessing: 0 and the seconds of
 * after-work (0 when absent: the interaction ended), or CC_E_INVALID_ATTRIBUTE with
 * msg->desc when it is not an integer in 0..INT32_MAX (*after_work_sec is then 0).
 */
int proto_ixn_decode_stopped(proto_msg *msg, int64_t *after_work_sec);

/** Appends an open RequestQueueStatus (it has no fields). */
void proto_ixn_enc_queue_status(cc_buf *b);

/** One queue in the answer to RequestQueueStatus. */
typedef struct proto_ixn_queue_row {
    const char *tenant;
    const char *queue;
    const char *media;
    int64_t waiting;
    int64_t invited;
    int64_t handling;
    int64_t after_work; /* -1: left out (decoder: absent) */
    int64_t oldest_ms;  /* oldestWaitMs; -1: left out (decoder: absent) */
} proto_ixn_queue_row;

/** Appends the start of the "queues" array to an open EventAck. */
void proto_ixn_enc_queues_begin(cc_buf *ack);
/** Appends one row to the "queues" array begun by proto_ixn_enc_queues_begin. */
void proto_ixn_enc_queue_row(cc_buf *ack, const proto_ixn_queue_row *row);
/** Appends the end of the "queues" array. */
void proto_ixn_enc_queues_end(cc_buf *ack);

/**
 * Checks the "queues" of an EventAck: 0 and *count rows, or CC_E_INVALID_ATTRIBUTE with
 * msg->desc when it is missing or not an array.
 */
int proto_ixn_decode_queues(proto_msg *msg, size_t *count);

/**
 * Decodes row i (< the count) of a checked "queues": tenant, queue and media (identifiers)
 * and waiting, invited and handling (integers >= 0) are required; afterWork and
 * oldestWaitMs optional (integers >= 0). Returns 0 or CC_E_INVALID_ATTRIBUTE with
 * msg->desc; a bad row does not spoil the others.
 */
int proto_ixn_decode_queue_row(proto_msg *msg, size_t i, proto_ixn_queue_row *out);

/** RequestExplainRouting: why an interaction is where it is, and who could get it. */
typedef struct proto_ixn_explain_req {
    const char *interaction_id;
} proto_ixn_explain_req;

/** Appends an open RequestExplainRouting (without referenceId). */
void proto_ixn_enc_explain_req(cc_buf *b, const proto_ixn_explain_req *r);

/** Decodes a RequestExplainRouting: interactionId is required. Returns 0 or
 * CC_E_INVALID_ATTRIBUTE with msg->desc. */
int proto_ixn_decode_explain_req(proto_msg *msg, proto_ixn_explain_req *out);

/* X(enum suffix, wire name): why an agent that matches the current step was not offered
 * the interaction, in the order the interaction server checks them. */
#define PROTO_EXPLAIN_WHY_MAP(X)                                                                   \
    X(NOT_LOGGED_IN, "NotLoggedIn")                                                                \
    X(MEDIA_NOT_ADDED, "MediaNotAdded")                                                            \
    X(NOT_READY, "NotReady")                                                                       \
    X(DND, "DoNotDisturb")                                                                         \
    X(NO_STATUS, "NoStatus")                                                                       \
    X(NO_CAPACITY, "NoCapacity")                                                                   \
    X(VERSION_IN_FLIGHT, "VersionInFlight")                                                        \
    X(RESERVATION_PENDING, "ReservationPending")                                                   \
    X(RESERVATION_REFUSED, "ReservationRefused")                                                   \
    X(BUSY, "Busy")                                                                                \
    X(ELIGIBLE, "Eligible")

/** Why a matching agent was not offered the interaction. */
enum proto_explain_why {
#define PROTO_EXPLAIN_WHY_ENUM(sym, name) PROTO_EXPLAIN_##sym,
    PROTO_EXPLAIN_WHY_MAP(PROTO_EXPLAIN_WHY_ENUM)
#undef PROTO_EXPLAIN_WHY_ENUM
};

/** The wire name of a why ("NotReady"); "Unknown" for a value outside the enum. */
const char *proto_explain_why_name(int why);

/** The why of a wire name, or -1 when the name is not one. */
int proto_explain_why_parse(const char *name);

/** Most agents an explain answer lists. */
#define PROTO_EXPLAIN_AGENTS_MAX 10
/** Most steps a target has (the configuration's limit). */
#define PROTO_EXPLAIN_STEPS_MAX 16
/** Longest expression text an explain answer carries, in bytes: a step's canonical text
 * can be longer than the target as written (blanks around operators). */
#define PROTO_EXPLAIN_EXPRESSION_MAX 8192

/** One agent of an explain answer: matching the current step, not offered it. */
typedef struct proto_explain_agent {
    const char *agent_id;
    enum proto_explain_why why;
} proto_explain_agent;

/** The answer to RequestExplainRouting: the fields of its EventAck. */
typedef struct proto_ixn_explain {
    const char *interaction_id;
    const char *tenant;
    const char *media; /* a media name */
    const char *queue;
    enum cc_ixn_state state;    /* any state, CC_IXN_QUEUED .. CC_IXN_ENDED */
    int64_t priority;           /* 0..1000 */
    int64_t effective_priority; /* priority plus aging, >= 0 */
    int64_t waited_sec;         /* whole seconds in its current queue, >= 0 */
    int64_t step;               /* 1-based, 1..steps */
    int64_t steps;              /* 1..PROTO_EXPLAIN_STEPS_MAX */
    const char *expression;     /* the current step's expression */
    int64_t next_step_sec;      /* seconds until the next step; -1: left out (last step) */
    int64_t matching;           /* agents of the tenant matching the current step, >= 0 */
    const char *agent_id;       /* the agent holding it; NULL: left out */
    size_t nagents;             /* 0..PROTO_EXPLAIN_AGENTS_MAX */
    proto_explain_agent agents[PROTO_EXPLAIN_AGENTS_MAX];
} proto_ixn_explain;

/** Appends the fields of e to an open EventAck, in the order of routing.md's list;
 * "agents" always (an empty array when nagents is 0). */
void proto_ixn_enc_explain(cc_buf *ack, const proto_ixn_explain *e);

/**
 * Decodes those fields of an EventAck: interactionId, tenant, queue (identifiers), media
 * (a media name), state (a state name), priority (0..1000), effectivePriority, waitedSec,
 * matching (integers >= 0), step and steps (1 <= step <= steps <= 16) and expression
 * (text of at most PROTO_EXPLAIN_EXPRESSION_MAX bytes) are required; nextStepSec (an
 * integer >= 0), agentId and agents (an array of at most PROTO_EXPLAIN_AGENTS_MAX
 * {agentId, why} with why a known name) are optional. Returns 0 or
 * CC_E_INVALID_ATTRIBUTE with msg->desc naming the field.
 */
int proto_ixn_decode_explain(proto_msg *msg, proto_ixn_explain *out);

#endif
